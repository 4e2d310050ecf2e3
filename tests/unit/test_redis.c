// deps: src/upstream/redis.c src/parse/redis_url.c src/parse/resp.c src/upstream/tls.c src/upstream/resolver.c src/io/rand.c src/io/loop.c src/io/log.c src/io/clock.c src/io/metrics.c src/io/pool.c
// libs: mbedtls
/* The Redis client against Debian's real redis-server (7.0, TLS built in),
 * started here on loopback ports in a temp dir, driven by the real loop:
 * REDIS_URL parsing; AUTH with a password only and with an ACL user; a
 * refused password; SELECT; 200 pipelined commands answered in order;
 * pub/sub; a command timeout (DEBUG SLEEP) and a SIGSTOP'd server (failure
 * within the timeout, then recovery); reconnect after the server restarts,
 * with the subscription renewed; rediss:// with a throwaway CA (openssl). */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/clock.h"
#include "io/log.h"
#include "io/loop.h"
#include "upstream/redis.h"
#include "upstream/tls.h"
#include "t.h"

#define PORT 26379
#define TLS_PORT 26380
#define PASS "s3cret-pw"

static char dir[] = "/tmp/test_redis_XXXXXX";
static pid_t server_pid;
static struct loop L;

/* ---- the server ---------------------------------------------------------------- */

static pid_t start_server(void)
{
    char port[16], tls_port[16], cert[300], key[300], ca[300];
    snprintf(port, sizeof port, "%d", PORT);
    snprintf(tls_port, sizeof tls_port, "%d", TLS_PORT);
    snprintf(cert, sizeof cert, "%s/server.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    char conf[300];
    snprintf(conf, sizeof conf, "%s/redis.conf", dir);
    FILE *f = fopen(conf, "w");
    if (f) {
        fprintf(f, "port %s\nbind 127.0.0.1\ndir %s\nsave \"\"\nappendonly no\nrequirepass %s\n"
                   "user alice on >alice-pw ~* &* +@all\nenable-debug-command local\n"
                   "tls-port %s\ntls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients no\n",
                port, dir, PASS, tls_port, cert, key, ca);
        fclose(f);
    }
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execlp("redis-server", "redis-server", conf, (char *)NULL);
        _exit(127);
    }
    /* ready when the port answers */
    for (int i = 0; i < 100; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "redis-cli -p %d -a %s --no-auth-warning PING 2>/dev/null | grep -q PONG", PORT,
                 PASS);
        if (system(cmd) == 0)
            break;
        usleep(50000);
    }
    return pid;
}

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
}

/* ---- driving the loop ------------------------------------------------------------ */

static bool (*until_fn)(void);
static uint64_t until_deadline;

static void tick(void *ctx)
{
    (void)ctx;
    if ((until_fn && until_fn()) || L.now_ms >= until_deadline)
        L.stop = true;
}

/* Run the loop until cond() or ms pass; returns cond(). */
static bool run_until(bool (*cond)(void), uint64_t ms)
{
    until_fn = cond;
    until_deadline = clock_mono_ms() + ms;
    L.stop = false;
    loop_run(&L);
    return cond ? cond() : true;
}

/* ---- callbacks ------------------------------------------------------------------- */

#define MAXR 512
static struct rec {
    int status;
    uint8_t type;
    int64_t integer;
    char str[64];
    uint64_t at;
} recs[MAXR];
static int nrecs;

static void on_reply(void *ud, int status, const struct resp_value *v)
{
    (void)ud;
    struct rec *r = &recs[nrecs < MAXR ? nrecs++ : MAXR - 1];
    memset(r, 0, sizeof *r);
    r->status = status;
    r->at = clock_mono_ms();
    if (v) {
        r->type = v->type;
        r->integer = v->integer;
        if (v->str)
            snprintf(r->str, sizeof r->str, "%.*s", (int)v->len, v->str);
    }
}

static int ups, downs;
static void on_state(void *ud, bool up)
{
    (void)ud;
    if (up)
        ups++;
    else
        downs++;
}

static char msgs[16][64];
static int nmsgs;
static void on_message(void *ud, const char *ch, size_t chlen, const char *m, size_t n)
{
    (void)ud;
    (void)ch;
    (void)chlen;
    if (nmsgs < 16)
        snprintf(msgs[nmsgs++], 64, "%.*s", (int)n, m);
}

static struct redis *R;
static bool is_up(void) { return redis_is_up(R); }
static bool is_down(void) { return !redis_is_up(R); }
static int want_recs;
static bool have_recs(void) { return nrecs >= want_recs; }
static int want_msgs;
static bool have_msgs(void) { return nmsgs >= want_msgs; }
static bool sub_up(void)
{
    struct redis_stats st;
    redis_get_stats(R, &st);
    return st.sub_up && st.up;
}

static int cmd(struct redis *r, const char *a, const char *b, const char *c)
{
    const char *argv[3] = {a, b, c};
    return redis_command(r, c ? 3 : b ? 2 : 1, argv, NULL, on_reply, NULL);
}

static struct redis *client(const char *url)
{
    struct redis_config cfg = {.timeout_ms = 200};
    char err[200];
    snprintf(cfg.prefix, sizeof cfg.prefix, "interview:");
    int rc = redis_url_parse(url, strlen(url), &cfg.url);
    if (rc != RURL_OK) {
        fprintf(stderr, "url %s: %s\n", url, redis_url_strerror(rc));
        return NULL;
    }
    return redis_new(&L, &cfg, err, sizeof err);
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_basic(void)
{
    R = client("redis://:" PASS "@127.0.0.1:26379/2");
    CHECK(R != NULL);
    redis_on_state(R, on_state, NULL);
    CHECK(cmd(R, "PING", NULL, NULL) == -1); /* not up yet: refused, no callback */
    CHECK(run_until(is_up, 3000) && ups == 1);
    /* pipelining: 200 INCRs written before any reply */
    nrecs = 0;
    CHECK(cmd(R, "DEL", "ctr", NULL) == 0);
    for (int i = 0; i < 200; i++)
        CHECK(cmd(R, "INCR", "ctr", NULL) == 0);
    want_recs = 201;
    CHECK(run_until(have_recs, 3000));
    bool order = true;
    for (int i = 0; i < 200; i++)
        order = order && recs[1 + i].status == REDIS_OK && recs[1 + i].type == RESP_INT && recs[1 + i].integer == i + 1;
    CHECK(order);
    /* SELECT 2 took effect: the key is not in db 0 */
    nrecs = 0;
    struct redis *r0 = client("redis://:" PASS "@127.0.0.1:26379");
    struct redis *saved = R;
    R = r0;
    CHECK(run_until(is_up, 3000));
    R = saved;
    CHECK(cmd(r0, "GET", "ctr", NULL) == 0);
    want_recs = 1;
    CHECK(run_until(have_recs, 2000));
    CHECK(cmd(R, "GET", "ctr", NULL) == 0);
    want_recs = 2;
    CHECK(run_until(have_recs, 2000) && recs[0].type == RESP_NIL && recs[1].type == RESP_BULK &&
          strcmp(recs[1].str, "200") == 0);
    /* an error reply is a reply */
    nrecs = 0;
    CHECK(cmd(R, "NOSUCHCOMMAND", NULL, NULL) == 0);
    want_recs = 1;
    CHECK(run_until(have_recs, 2000) && recs[0].status == REDIS_OK && recs[0].type == RESP_ERR);
    /* pub/sub: a message published on r0 arrives once on R's subscription */
    CHECK(redis_subscribe(R, "interview:chat", on_message, NULL) == 0);
    CHECK(run_until(sub_up, 3000));
    run_until(NULL, 100); /* let SUBSCRIBE land */
    nrecs = 0;
    CHECK(cmd(r0, "PUBLISH", "interview:chat", "hello") == 0);
    want_msgs = 1;
    CHECK(run_until(have_msgs, 2000) && strcmp(msgs[0], "hello") == 0);
    run_until(NULL, 100);
    CHECK(nmsgs == 1 && recs[0].integer == 1); /* one subscriber */
    /* forget: the callback of a dropped ud is not called */
    nrecs = 0;
    const char *p[1] = {"PING"};
    int ud;
    CHECK(redis_command(R, 1, p, NULL, on_reply, &ud) == 0);
    redis_forget(R, &ud);
    run_until(NULL, 100);
    CHECK(nrecs == 0);
    redis_destroy(r0);
}

static void test_timeouts(void)
{
    /* DEBUG SLEEP holds the server: the command and the one behind it fail
     * with REDIS_TIMEOUT about 200 ms later; the client reconnects. */
    nrecs = 0;
    uint64_t t0 = clock_mono_ms();
    CHECK(cmd(R, "DEBUG", "SLEEP", "1") == 0 && cmd(R, "PING", NULL, NULL) == 0);
    want_recs = 2;
    CHECK(run_until(have_recs, 3000));
    uint64_t took = recs[0].at - t0;
    printf("DEBUG SLEEP 1: failed after %llu ms (timeout 200)\n", (unsigned long long)took);
    CHECK(recs[0].status == REDIS_TIMEOUT && recs[1].status == REDIS_TIMEOUT && took >= 190 && took < 400);
    CHECK(run_until(is_up, 4000)); /* back once the sleep ends */
    /* SIGSTOP: the same, and commands are refused while it reconnects */
    kill(server_pid, SIGSTOP);
    nrecs = 0;
    t0 = clock_mono_ms();
    CHECK(cmd(R, "PING", NULL, NULL) == 0);
    want_recs = 1;
    CHECK(run_until(have_recs, 2000) && recs[0].status == REDIS_TIMEOUT);
    printf("SIGSTOP: failed after %llu ms\n", (unsigned long long)(recs[0].at - t0));
    CHECK(recs[0].at - t0 < 400);
    CHECK(!redis_is_up(R) && cmd(R, "PING", NULL, NULL) == -1);
    run_until(NULL, 500);
    kill(server_pid, SIGCONT);
    t0 = clock_mono_ms();
    CHECK(run_until(is_up, 8000));
    printf("SIGCONT: up again after %llu ms\n", (unsigned long long)(clock_mono_ms() - t0));
}

static void test_restart(void)
{
    int downs0 = downs, ups0 = ups;
    nrecs = 0;
    CHECK(cmd(R, "DEBUG", "SLEEP", "0.1") == 0);
    stop_server(); /* the pending command fails with REDIS_DOWN */
    want_recs = 1;
    CHECK(run_until(have_recs, 2000) && recs[0].status == REDIS_DOWN);
    CHECK(run_until(is_down, 2000) && downs == downs0 + 1);
    CHECK(cmd(R, "PING", NULL, NULL) == -1);
    run_until(NULL, 1500); /* a few failed reconnects: logged once */
    server_pid = start_server();
    uint64_t t0 = clock_mono_ms();
    CHECK(run_until(sub_up, 8000) && ups == ups0 + 1);
    printf("restart: up again after %llu ms\n", (unsigned long long)(clock_mono_ms() - t0));
    run_until(NULL, 100);
    /* the subscription was renewed */
    nrecs = 0;
    nmsgs = 0;
    CHECK(cmd(R, "PUBLISH", "interview:chat", "again") == 0);
    want_msgs = 1;
    CHECK(run_until(have_msgs, 2000) && strcmp(msgs[0], "again") == 0);
    struct redis_stats st;
    redis_get_stats(R, &st);
    printf("stats: commands=%llu replies=%llu refused=%llu down=%llu timeout=%llu connects=%llu outages=%llu "
           "messages=%llu\n",
           (unsigned long long)st.commands, (unsigned long long)st.replies, (unsigned long long)st.refused,
           (unsigned long long)st.failed_down, (unsigned long long)st.failed_timeout,
           (unsigned long long)st.connects, (unsigned long long)st.outages, (unsigned long long)st.messages);
    CHECK(st.outages >= 2 && st.failed_timeout >= 3 && st.failed_down >= 1 && st.messages == 2);
    redis_destroy(R);
}

static void test_auth(void)
{
    /* an ACL user */
    R = client("redis://alice:alice-pw@127.0.0.1:26379");
    CHECK(run_until(is_up, 3000));
    nrecs = 0;
    CHECK(cmd(R, "ACL", "WHOAMI", NULL) == 0);
    want_recs = 1;
    CHECK(run_until(have_recs, 2000) && strcmp(recs[0].str, "alice") == 0);
    /* no subscription: the pub/sub connection's PING (every 5 s) gets +PONG,
     * which must count as an answer too */
    struct redis_stats st;
    redis_get_stats(R, &st);
    uint64_t connects = st.connects;
    run_until(NULL, 5600);
    redis_get_stats(R, &st);
    CHECK(st.sub_up && st.up && st.outages == 0 && st.connects == connects);
    redis_destroy(R);
    /* a wrong password: never up */
    R = client("redis://alice:wrong@127.0.0.1:26379");
    CHECK(!run_until(is_up, 700));
    redis_destroy(R);
    /* no password at all */
    R = client("redis://127.0.0.1:26379");
    CHECK(!run_until(is_up, 700));
    redis_destroy(R);
}

static void test_tls(void)
{
    R = client("rediss://:" PASS "@localhost:26380/1");
    CHECK(R != NULL);
    if (!R)
        return;
    CHECK(run_until(sub_up, 4000));
    nrecs = 0;
    CHECK(cmd(R, "SET", "k", "over tls") == 0 && cmd(R, "GET", "k", NULL) == 0);
    want_recs = 2;
    CHECK(run_until(have_recs, 2000) && strcmp(recs[1].str, "over tls") == 0);
    redis_destroy(R);
}

static int make_certs(void)
{
    char c[2048];
    snprintf(c, sizeof c,
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
             "-subj /CN=test-redis-ca >/dev/null 2>&1 && "
             "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost "
             ">/dev/null 2>&1 && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext && "
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
             "-extfile ext >/dev/null 2>&1",
             dir);
    return system(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_setup(LOG_TEXT, LOG_INFO);
    if (system("command -v redis-server >/dev/null") != 0) {
        fprintf(stderr, "FAIL: redis-server not installed (apt-get install -y redis-server)\n");
        t_fail++;
        return T_DONE();
    }
    CHECK(mkdtemp(dir) != NULL);
    CHECK(make_certs() == 0);
    char ca[300], err[200];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    CHECK(tls_ca_use(ca, NULL, 0, err, sizeof err) == 0);
    CHECK(loop_init(&L, 64, 10, tick, NULL) == 0);
    server_pid = start_server();
    test_basic();
    test_timeouts();
    test_restart();
    test_auth();
    test_tls();
    stop_server();
    loop_free(&L);
    tls_free();
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    (void)system(rm);
    return T_DONE();
}
