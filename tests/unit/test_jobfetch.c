// deps: src/upstream/jobfetch.c src/upstream/tls.c src/io/rand.c src/io/loop.c src/upstream/resolver.c src/parse/http_resp.c src/parse/url.c src/parse/addrclass.c src/parse/html_text.c src/io/log.c src/io/clock.c src/io/pool.c src/io/metrics.c
// libs: mbedtls cjson
/* Integration test of the job-posting fetch against tests/jobboard.py (real
 * HTTPS, throwaway CA, listening on 127.0.0.2), driven by the real event loop.
 *
 * Name resolution: this file defines getaddrinfo()/freeaddrinfo(), which the
 * linker prefers over libc's for resolver.c, so test names resolve to chosen
 * addresses without touching /etc/hosts or the network:
 *   jobs.test, board.test, wrong.test -> 127.0.0.2 (the board)
 *   localhost -> 127.0.0.1, ::1      private.test -> 10.0.0.7
 *   meta.test -> 169.254.169.254     mixed.test -> 127.0.0.2 and 192.168.1.5
 *   mapped.test -> ::ffff:127.0.0.1  rebind.test -> 127.0.0.2 and 10.0.0.7 in turn
 *   nxdomain.test and anything else -> EAI_NONAME
 *   numeric hosts -> themselves. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "io/clock.h"
#include "upstream/jobfetch.h"
#include "io/log.h"
#include "io/loop.h"
#include "t.h"

/* ---- fake resolver ------------------------------------------------------------ */

static int fake_add(struct addrinfo **head, const char *ip)
{
    struct addrinfo *ai = calloc(1, sizeof *ai + sizeof(struct sockaddr_in6));
    if (!ai)
        return -1;
    ai->ai_addr = (struct sockaddr *)(ai + 1);
    ai->ai_socktype = SOCK_STREAM;
    struct sockaddr_in *s4 = (struct sockaddr_in *)ai->ai_addr;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ai->ai_addr;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        ai->ai_family = s4->sin_family = AF_INET;
        ai->ai_addrlen = sizeof *s4;
    } else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        ai->ai_family = s6->sin6_family = AF_INET6;
        ai->ai_addrlen = sizeof *s6;
    } else {
        free(ai);
        return -1;
    }
    struct addrinfo **pp = head;
    while (*pp)
        pp = &(*pp)->ai_next;
    *pp = ai;
    return 0;
}

void freeaddrinfo(struct addrinfo *res)
{
    while (res) {
        struct addrinfo *n = res->ai_next;
        free(res);
        res = n;
    }
}

int getaddrinfo(const char *restrict node, const char *restrict service,
                const struct addrinfo *restrict hints, struct addrinfo **restrict res)
{
    (void)service;
    (void)hints;
    static const struct { const char *name, *a, *b; } map[] = {
        {"jobs.test", "127.0.0.2", NULL},    {"board.test", "127.0.0.2", NULL},
        {"wrong.test", "127.0.0.2", NULL},   {"localhost", "127.0.0.1", "::1"},
        {"private.test", "10.0.0.7", NULL},  {"meta.test", "169.254.169.254", NULL},
        {"mixed.test", "127.0.0.2", "192.168.1.5"}, {"mapped.test", "::ffff:127.0.0.1", NULL},
    };
    *res = NULL;
    if (fake_add(res, node) == 0)
        return 0;
    if (strcmp(node, "rebind.test") == 0) { /* a rebinding name: public, private, public, ... */
        static _Atomic unsigned calls;
        fake_add(res, ++calls % 2 ? "127.0.0.2" : "10.0.0.7");
        return 0;
    }
    for (size_t i = 0; i < ARRAY_LEN(map); i++) {
        if (strcmp(map[i].name, node) != 0)
            continue;
        fake_add(res, map[i].a);
        if (map[i].b)
            fake_add(res, map[i].b);
        return 0;
    }
    return EAI_NONAME;
}

/* ---- harness ------------------------------------------------------------------- */

static struct loop L;
static struct jobfetch_client *cur;
static uint64_t guard_until;

struct result {
    int calls;
    char code[64];
    char msg[300];
    char *text;
    size_t len;
};

static void on_done(void *ctx, const char *code, const char *message, const char *text, size_t len)
{
    struct result *r = ctx;
    r->calls++;
    snprintf(r->code, sizeof r->code, "%s", code ? code : "OK");
    snprintf(r->msg, sizeof r->msg, "%s", message ? message : "");
    if (text) {
        r->text = malloc(len + 1);
        memcpy(r->text, text, len);
        r->text[len] = '\0';
        r->len = len;
    }
    L.stop = true;
}

static void on_tick(void *ctx)
{
    (void)ctx;
    if (cur)
        jobfetch_tick(cur);
    if (L.now_ms >= guard_until)
        L.stop = true;
}

static void run_for(uint64_t ms)
{
    L.now_ms = clock_mono_ms();
    guard_until = L.now_ms + ms;
    L.stop = false;
    loop_run(&L);
}

/* One fetch to its end (or a 15 s guard). */
static struct result fetch(struct jobfetch_client *jc, const char *url)
{
    struct result r = {0};
    const char *code = NULL, *msg = NULL;
    cur = jc;
    L.now_ms = clock_mono_ms();
    struct jobfetch *f = jobfetch_start(jc, url, on_done, &r, &code, &msg);
    if (!f) {
        snprintf(r.code, sizeof r.code, "%s", code ? code : "(null)");
        snprintf(r.msg, sizeof r.msg, "%s", msg ? msg : "");
        r.calls = -1; /* refused at once */
        return r;
    }
    run_for(15000);
    if (r.calls == 0) {
        snprintf(r.code, sizeof r.code, "NO_CALLBACK");
        jobfetch_cancel(f);
    }
    run_for(0); /* one tick: graveyard freed */
    return r;
}

static int board_port, untrusted_port;
static char ca_path[512];

static void expect(struct jobfetch_client *jc, const char *url, const char *code)
{
    struct result r = fetch(jc, url);
    bool ok = strcmp(r.code, code) == 0 && r.msg[0] && strlen(r.msg) > 20;
    if (!ok)
        fprintf(stderr, "FAIL %s: want %s, got %s (%s)\n", url, code, r.code, r.msg);
    else
        printf("ok   %-70s %s\n", url, code);
    CHECK(ok);
    free(r.text);
}

static char *u(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *u(const char *fmt, ...)
{
    static char buf[8][1024];
    static int i;
    char *b = buf[i++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, 1024, fmt, ap);
    va_end(ap);
    return b;
}

static pid_t start_board(char *dir)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* no orphaned board if this test dies */
        dup2(p[1], 1);
        close(p[0]);
        const char *py = getenv("JOBBOARD_PY") ? getenv("JOBBOARD_PY") : "tests/jobboard.py";
        execl("/usr/bin/python3", "python3", py, "--cert-dir", dir, "--host", "127.0.0.2", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char line[1024];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t k = read(p[0], line + n, 1);
        if (k <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(p[0]);
    cJSON *j = cJSON_Parse(line);
    if (!j) {
        fprintf(stderr, "FAIL jobboard did not start: \"%s\"\n", line);
        return -1;
    }
    board_port = cJSON_GetObjectItem(j, "port")->valueint;
    untrusted_port = cJSON_GetObjectItem(j, "untrusted_port")->valueint;
    snprintf(ca_path, sizeof ca_path, "%s", cJSON_GetObjectItem(j, "ca")->valuestring);
    cJSON_Delete(j);
    return pid;
}

static const char *const HOSTS[] = {"jobs.test", "board.test", "wrong.test", "localhost", "private.test",
                                    "meta.test", "mixed.test", "mapped.test", "rebind.test", "nxdomain.test",
                                    "127.0.0.1", "[::1]", "10.0.0.1", "192.168.1.1", "169.254.169.254",
                                    "127.0.0.2", "[::ffff:7f00:1]"};
static char ALLOWED[2048]; /* each of HOSTS on 443 and on the board's port (the port rule), and two more */

static void allowed_init(void)
{
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_LEN(HOSTS); i++)
        n += (size_t)snprintf(ALLOWED + n, sizeof ALLOWED - n, "%s%s,%s:%d", i ? "," : "", HOSTS[i], HOSTS[i],
                              board_port);
    /* the self-signed port and a closed one, for the TLS and connect failures */
    snprintf(ALLOWED + n, sizeof ALLOWED - n, ",jobs.test:%d,127.0.0.2:1", untrusted_port);
}

static struct jobfetch_client *client(const char *allowed, const char *test_allow, uint64_t timeout_ms,
                                      uint32_t max_inflight)
{
    struct jobfetch_config cfg = {.allowed_hosts = allowed, .max_bytes = 512 * 1024,
                                  .timeout_ms = timeout_ms, .ca_file = ca_path,
                                  .test_allow_addresses = test_allow, .max_inflight = max_inflight};
    char err[256] = "";
    struct jobfetch_client *jc = jobfetch_create(&L, &cfg, err, sizeof err);
    if (!jc)
        fprintf(stderr, "FAIL jobfetch_create: %s\n", err);
    CHECK(jc != NULL);
    return jc;
}

static void test_posting(struct jobfetch_client *jc)
{
    struct result r = fetch(jc, u("https://jobs.test:%d/posting", board_port));
    CHECK(strcmp(r.code, "OK") == 0);
    if (!r.text) {
        fprintf(stderr, "FAIL posting: %s %s\n", r.code, r.msg);
        return;
    }
    const char *want[] = {"Senior Backend Engineer", "Acme Corp — Berlin & Remote • Full‑time",
                          "design and operate our payments platform (R&D team, café on site, 🚀 growth).",
                          "- 5+ years with Go or C++\n- PostgreSQL <3 and Kafka", "Salary €90k–110k",
                          "© 2026 Acme Corp"};
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        bool ok = strstr(r.text, want[i]) != NULL;
        if (!ok)
            fprintf(stderr, "FAIL posting text lacks \"%s\"\n", want[i]);
        CHECK(ok);
    }
    const char *never[] = {"tracking", "secret-style", "comment-not-in-text", "json-ld-not-in-text",
                           "noscript-not-in-text", "Careers", "&amp;", "  ", "\n\n\n"};
    for (size_t i = 0; i < ARRAY_LEN(never); i++) {
        bool ok = strstr(r.text, never[i]) == NULL;
        if (!ok)
            fprintf(stderr, "FAIL posting text contains \"%s\"\n", never[i]);
        CHECK(ok);
    }
    CHECK(r.len > 0 && r.text[0] != ' ' && r.text[0] != '\n' && r.text[r.len - 1] != '\n');
    printf("ok   posting reduced to %zu bytes of text:\n----\n%s\n----\n", r.len, r.text);
    free(r.text);
}

static void test_text_ok(struct jobfetch_client *jc, const char *url, const char *want)
{
    struct result r = fetch(jc, url);
    bool ok = strcmp(r.code, "OK") == 0 && r.text && strstr(r.text, want);
    if (!ok)
        fprintf(stderr, "FAIL %s: %s %s text=\"%s\"\n", url, r.code, r.msg, r.text ? r.text : "");
    else
        printf("ok   %-70s OK\n", url);
    CHECK(ok);
    free(r.text);
}

static void test_cancel(struct jobfetch_client *jc)
{
    struct result r = {0};
    const char *code, *msg;
    cur = jc;
    L.now_ms = clock_mono_ms();
    struct jobfetch *f = jobfetch_start(jc, u("https://jobs.test:%d/slow", board_port), on_done, &r, &code, &msg);
    CHECK(f != NULL);
    jobfetch_cancel(f); /* while resolving */
    run_for(300);
    f = jobfetch_start(jc, u("https://jobs.test:%d/slow", board_port), on_done, &r, &code, &msg);
    CHECK(f != NULL);
    run_for(800); /* connected and reading by now */
    jobfetch_cancel(f);
    run_for(300);
    CHECK(r.calls == 0);
    printf("ok   cancel while resolving and while reading: no callback\n");
}

static void test_concurrent(struct jobfetch_client *jc)
{
    struct result r[3] = {{0}};
    const char *paths[] = {"/posting", "/plain", "/chain/2"};
    const char *code, *msg;
    cur = jc;
    L.now_ms = clock_mono_ms();
    for (int i = 0; i < 3; i++)
        CHECK(jobfetch_start(jc, u("https://jobs.test:%d%s", board_port, paths[i]), on_done, &r[i], &code, &msg));
    for (int k = 0; k < 20 && (r[0].calls + r[1].calls + r[2].calls) < 3; k++)
        run_for(15000);
    for (int i = 0; i < 3; i++) {
        CHECK(r[i].calls == 1 && strcmp(r[i].code, "OK") == 0);
        free(r[i].text);
    }
    run_for(0);
    printf("ok   three fetches at once\n");
}

static void test_busy(void)
{
    struct jobfetch_client *jc = client(ALLOWED, "127.0.0.2", 2000, 1);
    if (!jc)
        return;
    struct result a = {0}, b = {0};
    const char *code = NULL, *msg = NULL;
    cur = jc;
    struct jobfetch *f = jobfetch_start(jc, u("https://jobs.test:%d/posting", board_port), on_done, &a, &code, &msg);
    CHECK(f != NULL);
    CHECK(jobfetch_start(jc, u("https://jobs.test:%d/posting", board_port), on_done, &b, &code, &msg) == NULL);
    CHECK(code && strcmp(code, "JOB_URL_BUSY") == 0);
    run_for(15000);
    CHECK(a.calls == 1 && strcmp(a.code, "OK") == 0);
    free(a.text);
    printf("ok   second fetch over max_inflight=1 refused JOB_URL_BUSY\n");
    jobfetch_destroy(jc);
}

static void test_config(void)
{
    char err[256];
    struct jobfetch_config bad[] = {
        {.allowed_hosts = "https://jobs.test", .max_bytes = 1, .timeout_ms = 1, .ca_file = ca_path},
        {.allowed_hosts = "jobs.test:0", .max_bytes = 1, .timeout_ms = 1, .ca_file = ca_path},
        {.allowed_hosts = "jobs.test:99999", .max_bytes = 1, .timeout_ms = 1, .ca_file = ca_path},
        {.allowed_hosts = "jobs.test/x", .max_bytes = 1, .timeout_ms = 1, .ca_file = ca_path},
        {.allowed_hosts = "user@jobs.test", .max_bytes = 1, .timeout_ms = 1, .ca_file = ca_path},
        {.allowed_hosts = "jobs.test", .max_bytes = 1, .timeout_ms = 1, .ca_file = ca_path,
         .test_allow_addresses = "127.0.0.2,nope"},
        {.allowed_hosts = "jobs.test", .max_bytes = 1, .timeout_ms = 1, .ca_file = "/nonexistent/ca.pem"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct jobfetch_client *jc = jobfetch_create(&L, &bad[i], err, sizeof err);
        CHECK(jc == NULL && err[0]);
        jobfetch_destroy(jc);
    }
    struct jobfetch_config off = {.allowed_hosts = " , ", .max_bytes = 1, .timeout_ms = 1};
    struct jobfetch_client *jc = jobfetch_create(&L, &off, err, sizeof err);
    CHECK(jc != NULL && !jobfetch_enabled(jc));
    expect(jc, u("https://jobs.test:%d/posting", board_port), "JOB_URL_DISABLED");
    jobfetch_destroy(jc);
    char upper_hosts[64];
    snprintf(upper_hosts, sizeof upper_hosts, "JOBS.Test:%d", board_port);
    struct jobfetch_config upper = {.allowed_hosts = upper_hosts, .max_bytes = 512 * 1024, .timeout_ms = 5000,
                                    .ca_file = ca_path, .test_allow_addresses = "127.0.0.2"};
    jc = jobfetch_create(&L, &upper, err, sizeof err);
    CHECK(jc && jobfetch_enabled(jc));
    if (jc) {
        test_text_ok(jc, u("https://Jobs.TEST:%d/posting", board_port), "Senior Backend Engineer");
        /* the port rule: an allowlisted host on another port, directly or by redirect */
        expect(jc, u("https://jobs.test:%d/posting", untrusted_port), "JOB_URL_NOT_ALLOWED");
        expect(jc, "https://jobs.test/posting", "JOB_URL_NOT_ALLOWED");
        expect(jc, u("https://jobs.test:%d/redirect?to=https://jobs.test:%d/posting", board_port, untrusted_port),
               "JOB_URL_NOT_ALLOWED");
    }
    jobfetch_destroy(jc);
    printf("ok   configuration refusals, case-insensitive host match\n");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_setup(LOG_TEXT, getenv("JOBFETCH_TEST_LOG") ? LOG_DEBUG : LOG_ERROR);
    char dir[] = "/tmp/jobfetch-test-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    pid_t board = start_board(dir);
    if (board <= 0) {
        CHECK(false);
        return T_DONE();
    }
    uint64_t t0 = clock_mono_ms();
    loop_init(&L, 64, 50, on_tick, NULL);
    allowed_init();
    struct jobfetch_client *jc = client(ALLOWED, "127.0.0.2", 2000, 0);
    struct jobfetch_client *strict = client(ALLOWED, NULL, 2000, 0);
    if (!jc || !strict)
        return T_DONE();
    int P = board_port;

    test_posting(jc);
    test_text_ok(jc, u("https://127.0.0.2:%d/posting", P), "Senior Backend Engineer"); /* IP SAN */
    test_text_ok(jc, u("https://board.test:%d/plain", P), "Staff Data Engineer\n\nAcme Corp, Remote.\nRequirements:\n- Python\n- Spark");
    test_text_ok(jc, u("https://jobs.test:%d/latin1", P), "Café job");
    test_text_ok(jc, u("https://jobs.test:%d/until-close", P), "Framed by close: Site Reliability Engineer");
    test_text_ok(jc, u("https://jobs.test:%d/redirect?to=/posting", P), "Senior Backend Engineer");
    test_text_ok(jc, u("https://jobs.test:%d/redirect?status=308&to=https://board.test:%d/plain", P, P), "Spark");
    test_text_ok(jc, u("https://jobs.test:%d/redirect?status=301&to=chain/0", P), "Acme");
    test_text_ok(jc, u("https://jobs.test:%d/chain/3", P), "Acme"); /* exactly JOBFETCH_MAX_REDIRECTS */
    test_text_ok(jc, u("https://jobs.test:%d/posting#apply", P), "Acme");

    /* loopback, private, link-local, metadata: refused even though on the allowlist */
    expect(jc, u("https://127.0.0.1:%d/posting", P), "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, u("https://[::1]:%d/posting", P), "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, u("https://[::ffff:127.0.0.1]:%d/posting", P), "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, u("https://localhost:%d/posting", P), "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, "https://10.0.0.1/posting", "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, "https://192.168.1.1/", "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, "https://169.254.169.254/latest/meta-data/", "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, u("https://private.test:%d/posting", P), "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, "https://meta.test/latest/meta-data/", "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, u("https://mixed.test:%d/posting", P), "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, u("https://mapped.test:%d/posting", P), "JOB_URL_BLOCKED_ADDRESS");
    /* DNS rebinding: every hop resolves once and connects to what it checked;
     * the redirect's new lookup answers 10.0.0.7 and is refused */
    expect(jc, u("https://rebind.test:%d/redirect?to=/posting", P), "JOB_URL_BLOCKED_ADDRESS");
    test_text_ok(jc, u("https://rebind.test:%d/posting", P), "Acme");
    /* the board itself without the test escape: 127.0.0.2 is loopback */
    expect(strict, u("https://jobs.test:%d/posting", P), "JOB_URL_BLOCKED_ADDRESS");
    expect(strict, u("https://127.0.0.2:%d/posting", P), "JOB_URL_BLOCKED_ADDRESS");

    /* redirects to places the first URL could not go */
    expect(jc, u("https://jobs.test:%d/redirect?to=https://127.0.0.1:%d/posting", P, P), "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, u("https://jobs.test:%d/redirect?to=https://localhost:%d/posting", P, P), "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, u("https://jobs.test:%d/redirect?status=307&to=https://%%5B::1%%5D:%d/", P, P), "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, u("https://jobs.test:%d/redirect?to=https://private.test:%d/", P, P), "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, u("https://jobs.test:%d/redirect?to=https://169.254.169.254/latest/meta-data/", P), "JOB_URL_BLOCKED_ADDRESS");
    expect(jc, u("https://jobs.test:%d/redirect?to=https://evil.test/", P), "JOB_URL_NOT_ALLOWED");
    expect(jc, u("https://jobs.test:%d/redirect?to=http://jobs.test:%d/posting", P, P), "JOB_URL_NOT_HTTPS");
    expect(jc, u("https://jobs.test:%d/redirect?to=file:///etc/passwd", P), "JOB_URL_NOT_HTTPS");
    expect(jc, u("https://jobs.test:%d/redirect?to=https://jobs.test@evil.test/", P), "JOB_URL_BAD_REDIRECT");
    expect(jc, u("https://jobs.test:%d/no-location", P), "JOB_URL_BAD_REDIRECT");
    expect(jc, u("https://jobs.test:%d/chain/4", P), "JOB_URL_TOO_MANY_REDIRECTS");

    /* scheme, list, URL form */
    expect(jc, u("http://jobs.test:%d/posting", P), "JOB_URL_NOT_HTTPS");
    expect(jc, "ftp://jobs.test/posting", "JOB_URL_NOT_HTTPS");
    expect(jc, "file:///etc/passwd", "JOB_URL_NOT_HTTPS");
    expect(jc, "https://evil.test/posting", "JOB_URL_NOT_ALLOWED");
    expect(jc, "https://jobs.test.evil.test/posting", "JOB_URL_NOT_ALLOWED");
    expect(jc, "https://8.8.8.8/", "JOB_URL_NOT_ALLOWED");
    expect(jc, "https://jobs.test@evil.test/", "JOB_URL_INVALID");
    expect(jc, "https://127.1/", "JOB_URL_INVALID");
    expect(jc, "https://0x7f000001/", "JOB_URL_INVALID");
    expect(jc, "https://jobs.test/a b", "JOB_URL_INVALID");
    expect(jc, "jobs.test/posting", "JOB_URL_INVALID");
    expect(jc, "", "JOB_URL_INVALID");

    /* caps, content, TLS, errors */
    expect(jc, u("https://jobs.test:%d/huge", P), "JOB_URL_TOO_LARGE");
    expect(jc, u("https://jobs.test:%d/huge-chunked", P), "JOB_URL_TOO_LARGE");
    expect(jc, u("https://jobs.test:%d/slow", P), "JOB_URL_TIMEOUT");
    expect(jc, u("https://jobs.test:%d/slow-head", P), "JOB_URL_TIMEOUT");
    expect(jc, u("https://jobs.test:%d/json", P), "JOB_URL_BAD_CONTENT_TYPE");
    expect(jc, u("https://jobs.test:%d/pdf", P), "JOB_URL_BAD_CONTENT_TYPE");
    expect(jc, u("https://jobs.test:%d/empty", P), "JOB_URL_EMPTY");
    expect(jc, u("https://jobs.test:%d/gzip", P), "JOB_URL_BAD_ENCODING");
    expect(jc, u("https://jobs.test:%d/missing", P), "JOB_URL_HTTP_STATUS");
    expect(jc, u("https://wrong.test:%d/posting", P), "JOB_URL_TLS_FAILED");
    expect(jc, u("https://jobs.test:%d/posting", untrusted_port), "JOB_URL_TLS_FAILED");
    expect(jc, "https://nxdomain.test/posting", "JOB_URL_DNS_FAILED");
    expect(jc, "https://127.0.0.2:1/posting", "JOB_URL_FETCH_FAILED");

    test_cancel(jc);
    test_concurrent(jc);
    test_busy();
    test_config();

    jobfetch_destroy(jc);
    jobfetch_destroy(strict);
    cur = NULL;
    loop_free(&L);
    kill(board, SIGTERM);
    waitpid(board, NULL, 0);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("measure test_jobfetch %llu ms\n", (unsigned long long)(clock_mono_ms() - t0));
    return T_DONE();
}
