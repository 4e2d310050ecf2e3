// deps: src/upstream/upstream.c src/upstream/tls.c src/upstream/resolver.c src/parse/http_resp.c src/io/loop.c src/io/log.c src/io/clock.c src/io/rand.c src/io/pool.c src/io/metrics.c
// libs: mbedtls cjson
/* Drives the real loop against a local Python HTTPS/HTTP server (loopback
 * only; CA and certificates made with the openssl CLI in a temp dir). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/clock.h"
#include "io/log.h"
#include "io/loop.h"
#include "t.h"
#include "upstream/upstream.h"

static const char tu_server_py[] =
    "import socket, ssl, sys, subprocess, threading, time, os\n"
    "d = sys.argv[1]\n"
    "def sh(*a): subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']\n"
    "sh('openssl', 'req', '-x509', *EC, '-keyout', d+'/ca.key', '-out', d+'/ca.pem', '-days', '2',\n"
    "   '-subj', '/CN=interview test CA', '-addext', 'basicConstraints=critical,CA:TRUE',\n"
    "   '-addext', 'keyUsage=critical,keyCertSign,cRLSign')\n"
    "def leaf(name, san):\n"
    "    sh('openssl', 'req', *EC, '-keyout', f'{d}/{name}.key', '-out', f'{d}/{name}.csr', '-subj', '/CN='+san)\n"
    "    open(f'{d}/{name}.ext', 'w').write(f'subjectAltName=DNS:{san}\\nbasicConstraints=CA:FALSE\\n'\n"
    "        'keyUsage=critical,digitalSignature\\nextendedKeyUsage=serverAuth\\n')\n"
    "    sh('openssl', 'x509', '-req', '-in', f'{d}/{name}.csr', '-CA', d+'/ca.pem', '-CAkey', d+'/ca.key',\n"
    "       '-CAcreateserial', '-out', f'{d}/{name}.pem', '-days', '2', '-extfile', f'{d}/{name}.ext')\n"
    "leaf('good', 'localhost'); leaf('bad', 'wrong.example')\n"
    "counts = {}; lock = threading.Lock()\n"
    "def handle(sock, ctx):\n"
    "    try:\n"
    "        if ctx: sock = ctx.wrap_socket(sock, server_side=True)\n"
    "        f = sock.makefile('rb'); onconn = 0\n"
    "        while True:\n"
    "            line = f.readline()\n"
    "            if not line: return\n"
    "            method, path, _ = line.decode().split(' ', 2)\n"
    "            h = {}\n"
    "            while True:\n"
    "                l = f.readline()\n"
    "                if l in (b'\\r\\n', b''): break\n"
    "                k, v = l.decode().split(':', 1); h[k.strip().lower()] = v.strip()\n"
    "            body = f.read(int(h.get('content-length', '0'))); onconn += 1\n"
    "            with lock:\n"
    "                counts[path] = counts.get(path, 0) + 1; n = counts[path]\n"
    "            def send(st, b, extra=''):\n"
    "                sock.sendall(f'HTTP/1.1 {st} X\\r\\nContent-Type: application/json\\r\\n'\n"
    "                    f'Content-Length: {len(b)}\\r\\nx-request-id: req-{n}\\r\\n{extra}\\r\\n'.encode() + b)\n"
    "            p = path.rsplit('/', 1)[-1]\n"
    "            if p == 'json':\n"
    "                send(200, ('{\"method\":\"%s\",\"path\":\"%s\",\"auth\":\"%s\",\"host\":\"%s\",\"ct\":\"%s\",\"accept\":\"%s\",\"ua\":\"%s\",\"body\":\"%s\"}' % (\n"
    "                    method, path, h.get('authorization', ''), h.get('host', ''), h.get('content-type', ''),\n"
    "                    h.get('accept', ''), h.get('user-agent', ''), body.decode())).encode())\n"
    "            elif p == 'chunked':\n"
    "                sock.sendall(b'HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\nContent-Type: text/plain\\r\\n\\r\\n')\n"
    "                for part in (b'hello, ', b'chunked', b' world'):\n"
    "                    sock.sendall(b'%x\\r\\n%s\\r\\n' % (len(part), part)); time.sleep(0.02)\n"
    "                sock.sendall(b'0\\r\\n\\r\\n')\n"
    "            elif p == 'big':\n"
    "                send(200, bytes(i % 251 for i in range(300000)))\n"
    "            elif p == 'r429':\n"
    "                if n == 1: send(429, b'{\"error\":{\"message\":\"slow down\"}}', 'Retry-After: 0.1\\r\\n')\n"
    "                else: send(200, b'after429')\n"
    "            elif p == 'r500':\n"
    "                if n <= 2: send(500, b'{\"error\":{\"message\":\"boom\"}}')\n"
    "                else: send(200, b'after500')\n"
    "            elif p == 'e400':\n"
    "                send(400, b'{\"error\":{\"message\":\"bad thing\",\"type\":\"invalid_request_error\"}}')\n"
    "            elif p == 'noretry':\n"
    "                send(503, b'{}', 'x-should-retry: false\\r\\n')\n"
    "            elif p == 'closeafter':\n"
    "                send(200, b'bye'); time.sleep(0.05); return\n"
    "            elif p == 'drop2':\n"
    "                if onconn > 1: return\n"
    "                send(200, b'fresh')\n"
    "            elif p == 'hang':\n"
    "                while sock.recv(1): pass\n"
    "                return\n"
    "            else: send(404, b'{}')\n"
    "    except Exception:\n"
    "        pass\n"
    "    finally:\n"
    "        try: sock.close()\n"
    "        except Exception: pass\n"
    "def serve(ctx):\n"
    "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "    s.bind(('127.0.0.1', 0)); s.listen(64)\n"
    "    def run():\n"
    "        while True:\n"
    "            c, _ = s.accept()\n"
    "            threading.Thread(target=handle, args=(c, ctx), daemon=True).start()\n"
    "    threading.Thread(target=run, daemon=True).start()\n"
    "    return s.getsockname()[1]\n"
    "def tls(name):\n"
    "    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(f'{d}/{name}.pem', f'{d}/{name}.key'); return c\n"
    "print(serve(tls('good')), serve(tls('bad')), serve(None), flush=True)\n"
    "sys.stdin.read()\n"
    "os._exit(0)\n";

/* ---- harness ----------------------------------------------------------- */

struct tu_res {
    int done, err, status, heads;
    char msg[256], ctype[128], rid[128], errbody[256];
    char *body;
    size_t blen;
    size_t take_max; /* 0 = take all */
    int pauses;
    bool cancel_in_body;
    struct up_req *req;
};

static struct loop tu_loop;
static struct up_client *tu_client;
static int tu_pending;
static uint64_t tu_deadline;
static struct tu_res *tu_paused[16];
static int tu_npaused;

static void tu_tick(void *ctx)
{
    (void)ctx;
    if (tu_client)
        up_tick(tu_client);
    int n = tu_npaused;
    tu_npaused = 0;
    for (int i = 0; i < n; i++)
        up_resume(tu_paused[i]->req);
    if (tu_pending <= 0 || tu_loop.now_ms > tu_deadline)
        tu_loop.stop = true;
}

static void tu_on_head(void *ctx, const struct up_head *h)
{
    struct tu_res *t = ctx;
    t->heads++;
    t->status = h->status;
    snprintf(t->ctype, sizeof t->ctype, "%s", h->content_type);
    snprintf(t->rid, sizeof t->rid, "%s", h->request_id);
}

static size_t tu_on_body(void *ctx, const uint8_t *p, size_t n)
{
    struct tu_res *t = ctx;
    if (t->cancel_in_body) {
        up_cancel(t->req);
        tu_pending--;
        return 0;
    }
    size_t take = t->take_max && n > t->take_max ? t->take_max : n;
    t->body = realloc(t->body, t->blen + take + 1);
    memcpy(t->body + t->blen, p, take);
    t->blen += take;
    t->body[t->blen] = 0;
    if (take < n) {
        t->pauses++;
        if (tu_npaused < 16)
            tu_paused[tu_npaused++] = t;
    }
    return take;
}

static void tu_on_done(void *ctx, int err, int status, const char *msg)
{
    struct tu_res *t = ctx;
    t->done++;
    t->err = err;
    t->status = status;
    snprintf(t->msg, sizeof t->msg, "%s", msg);
    if (err == UP_E_HTTP_STATUS && t->req) {
        size_t n;
        const char *b = up_error_body(t->req, &n);
        snprintf(t->errbody, sizeof t->errbody, "%.*s", (int)n, b);
    }
    tu_pending--;
}

static const struct up_callbacks tu_cb = {tu_on_head, tu_on_body, tu_on_done};

static void tu_run(int pending, uint64_t max_ms)
{
    tu_pending = pending;
    tu_loop.stop = false;
    tu_deadline = clock_mono_ms() + max_ms;
    loop_run(&tu_loop);
}

static struct up_req *tu_start(struct tu_res *t, const char *method, const char *path,
                               const struct iovec *body, int parts)
{
    struct up_request_spec sp = {.method = method, .path = path, .content_type = "application/json",
                                 .accept = "application/json", .body = body, .body_parts = parts};
    t->req = up_start(tu_client, &sp, &tu_cb, t);
    return t->req;
}

/* one request, run to completion */
static void tu_one(struct tu_res *t, const char *path, uint64_t max_ms)
{
    memset(t, 0, sizeof *t);
    CHECK(tu_start(t, "POST", path, NULL, 0) != NULL);
    tu_run(1, max_ms);
    CHECK(t->done == 1);
}

static void tu_reset(struct tu_res *t)
{
    free(t->body);
    memset(t, 0, sizeof *t);
}

static struct up_config tu_cfg(bool https, uint16_t port, const char *ca)
{
    struct up_config c = {.https = https, .port = port, .api_key = "sk-test-SECRET-123",
                          .ca_file = ca, .max_inflight = 8, .pool_size = 4, .max_retries = 2,
                          .connect_timeout_ms = 3000, .tls_timeout_ms = 3000,
                          .first_byte_timeout_ms = 3000, .idle_timeout_ms = 3000,
                          .total_timeout_ms = 15000, .dns_cache_ms = 60000};
    snprintf(c.host, sizeof c.host, "localhost");
    snprintf(c.prefix, sizeof c.prefix, "/v1");
    return c;
}

static struct up_client *tu_new(const struct up_config *cfg)
{
    char err[256] = "";
    struct up_client *c = up_create(&tu_loop, cfg, err, sizeof err);
    if (!c)
        fprintf(stderr, "up_create: %s\n", err);
    CHECK(c != NULL);
    tu_client = c;
    return c;
}

static void tu_free(void)
{
    up_destroy(tu_client);
    tu_client = NULL;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/tu_upstream.XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    char script[512], ca[512], logpath[512];
    snprintf(script, sizeof script, "%s/srv.py", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(logpath, sizeof logpath, "%s/log.txt", dir);
    FILE *f = fopen(script, "w");
    fputs(tu_server_py, f);
    fclose(f);

    int out[2], in[2];
    if (pipe(out) || pipe(in))
        return 2;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/usr/bin/python3", "python3", script, dir, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    FILE *pf = fdopen(out[0], "r");
    unsigned good = 0, bad = 0, plain = 0;
    if (!pf || fscanf(pf, "%u %u %u", &good, &bad, &plain) != 3) {
        fprintf(stderr, "server did not start\n");
        return 2;
    }

    /* Log lines go to a file we inspect at the end (the key must never appear). */
    fflush(stderr);
    int saved_err = dup(2);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(logfd, 2);
    log_setup(LOG_TEXT, LOG_DEBUG);
    loop_init(&tu_loop, 64, 10, tu_tick, NULL);

    struct tu_res t = {0}, t2 = {0}, t3 = {0};
    struct up_stats st;

    /* 1. HTTPS: Content-Length JSON, request head as documented. */
    struct up_config cfg = tu_cfg(true, (uint16_t)good, ca);
    tu_new(&cfg);
    struct iovec body[2] = {{(void *)"abc", 3}, {(void *)"defg", 4}};
    CHECK(tu_start(&t, "POST", "/json", body, 2) != NULL);
    tu_run(1, 5000);
    CHECK(t.done == 1 && t.err == UP_OK && t.status == 200 && t.heads == 1);
    CHECK(strcmp(t.ctype, "application/json") == 0);
    CHECK(strcmp(t.rid, "req-1") == 0);
    CHECK(t.body && strstr(t.body, "\"path\":\"/v1/json\""));
    CHECK(t.body && strstr(t.body, "\"auth\":\"Bearer sk-test-SECRET-123\""));
    char hosthdr[64];
    snprintf(hosthdr, sizeof hosthdr, "\"host\":\"localhost:%u\"", good);
    CHECK(t.body && strstr(t.body, hosthdr));
    CHECK(t.body && strstr(t.body, "\"ua\":\"interview/0.1\""));
    CHECK(t.body && strstr(t.body, "\"accept\":\"application/json\""));
    CHECK(t.body && strstr(t.body, "\"body\":\"abcdefg\""));
    up_get_stats(tu_client, &st);
    CHECK(st.tls_handshakes == 1 && st.reused == 0 && st.pooled == 1);

    /* 2. keep-alive reuse: same TLS connection. */
    tu_reset(&t);
    tu_one(&t, "/json", 5000);
    CHECK(t.err == UP_OK && t.status == 200);
    up_get_stats(tu_client, &st);
    CHECK(st.reused == 1 && st.tls_handshakes == 1 && st.dns_cache_hits == 0);

    /* 3. chunked body */
    tu_reset(&t);
    tu_one(&t, "/chunked", 5000);
    CHECK(t.err == UP_OK && t.status == 200 && t.body && strcmp(t.body, "hello, chunked world") == 0);

    /* 4. backpressure: 300000 bytes taken at most 5000 per call, resumed from the tick */
    tu_reset(&t);
    t.take_max = 5000;
    CHECK(tu_start(&t, "GET", "/big", NULL, 0) != NULL);
    tu_run(1, 20000);
    CHECK(t.done == 1 && t.err == UP_OK && t.blen == 300000 && t.pauses > 10);
    bool same = t.blen == 300000;
    for (size_t i = 0; same && i < t.blen; i++)
        same = (unsigned char)t.body[i] == i % 251;
    CHECK(same);

    /* 5. 429 + Retry-After: 0.1 -> one retry, then 200 */
    up_get_stats(tu_client, &st);
    uint64_t r0 = st.retries, t0 = clock_mono_ms();
    tu_reset(&t);
    tu_one(&t, "/r429", 5000);
    CHECK(t.err == UP_OK && t.status == 200 && t.heads == 1 && t.body && strcmp(t.body, "after429") == 0);
    up_get_stats(tu_client, &st);
    CHECK(st.retries == r0 + 1);
    CHECK(clock_mono_ms() - t0 >= 100);

    /* 6. 500 twice, then 200 (two retries with backoff) */
    tu_reset(&t);
    tu_one(&t, "/r500", 8000);
    CHECK(t.err == UP_OK && t.status == 200 && t.body && strcmp(t.body, "after500") == 0);
    up_get_stats(tu_client, &st);
    CHECK(st.retries == r0 + 3);

    /* 7. 400: not retried, the raw error body handed over */
    tu_reset(&t);
    tu_one(&t, "/e400", 5000);
    CHECK(t.err == UP_E_HTTP_STATUS && t.status == 400 && strcmp(t.msg, "HTTP 400") == 0 && t.heads == 0);
    CHECK(strstr(t.errbody, "{\"error\":{\"message\":\"bad thing\"") == t.errbody);
    /* x-should-retry: false overrides 503 */
    tu_reset(&t);
    tu_one(&t, "/noretry", 5000);
    CHECK(t.err == UP_E_HTTP_STATUS && t.status == 503);
    up_get_stats(tu_client, &st);
    CHECK(st.retries == r0 + 3);

    /* 8. concurrency: three at once */
    tu_reset(&t);
    CHECK(tu_start(&t, "POST", "/json", NULL, 0) && tu_start(&t2, "POST", "/chunked", NULL, 0) &&
          tu_start(&t3, "POST", "/json", NULL, 0));
    tu_run(3, 5000);
    CHECK(t.err == UP_OK && t2.err == UP_OK && t3.err == UP_OK && t.done + t2.done + t3.done == 3);
    CHECK(t2.body && strcmp(t2.body, "hello, chunked world") == 0);

    /* 9. invalid spec */
    struct up_request_spec badsp = {.method = "POST", .path = "/x\r\nEvil: 1"};
    CHECK(up_start(tu_client, &badsp, &tu_cb, &t) == NULL);

    /* 10. cancel: right away, and from inside on_body */
    tu_reset(&t);
    tu_reset(&t2);
    tu_reset(&t3);
    CHECK(tu_start(&t, "POST", "/hang", NULL, 0) != NULL);
    up_cancel(t.req);
    t2.cancel_in_body = true;
    CHECK(tu_start(&t2, "GET", "/big", NULL, 0) != NULL);
    tu_run(1, 5000);
    CHECK(t.done == 0 && t2.done == 0);
    up_get_stats(tu_client, &st);
    CHECK(st.inflight == 0);

    /* 11. server closes an idle pooled connection: it leaves the pool */
    tu_reset(&t);
    tu_one(&t, "/closeafter", 5000);
    CHECK(t.err == UP_OK);
    up_get_stats(tu_client, &st);
    uint32_t pooled_before = st.pooled;
    tu_run(1, 400); /* just spin the loop */
    up_get_stats(tu_client, &st);
    CHECK(pooled_before >= 1 && st.pooled == pooled_before - 1);

    /* 12a. stale keep-alive: the server drops a reused connection without an
     * answer; retried at once on a fresh connection, not counted as a retry */
    tu_reset(&t);
    tu_one(&t, "/json", 5000); /* leaves one connection in the pool */
    up_get_stats(tu_client, &st);
    r0 = st.retries;
    uint64_t reused0 = st.reused, hs0 = st.tls_handshakes;
    CHECK(st.pooled >= 1);
    tu_reset(&t);
    tu_one(&t, "/drop2", 5000);
    CHECK(t.err == UP_OK && t.body && strcmp(t.body, "fresh") == 0);
    up_get_stats(tu_client, &st);
    CHECK(st.retries == r0 && st.reused == reused0 + 1 && st.tls_handshakes == hs0 + 1);
    tu_free();

    /* 12. first-byte timeout, retried once, then UP_E_TIMEOUT */
    cfg = tu_cfg(true, (uint16_t)good, ca);
    cfg.first_byte_timeout_ms = 300;
    cfg.max_retries = 1;
    tu_new(&cfg);
    tu_reset(&t);
    t0 = clock_mono_ms();
    tu_one(&t, "/hang", 8000);
    CHECK(t.err == UP_E_TIMEOUT && t.heads == 0);
    up_get_stats(tu_client, &st);
    CHECK(st.retries == 1);
    CHECK(clock_mono_ms() - t0 >= 600);
    tu_free();

    /* 13. wrong host name in the certificate: UP_E_CONNECT, not retried */
    cfg = tu_cfg(true, (uint16_t)bad, ca);
    tu_new(&cfg);
    tu_reset(&t);
    tu_one(&t, "/json", 5000);
    CHECK(t.err == UP_E_CONNECT && t.heads == 0 && strstr(t.msg, "certificate") != NULL);
    up_get_stats(tu_client, &st);
    CHECK(st.retries == 0 && st.tls_handshakes == 0);
    tu_free();

    /* 14. plain http */
    cfg = tu_cfg(false, (uint16_t)plain, NULL);
    tu_new(&cfg);
    tu_reset(&t);
    tu_one(&t, "/json", 5000);
    CHECK(t.err == UP_OK && t.status == 200);
    snprintf(hosthdr, sizeof hosthdr, "\"host\":\"localhost:%u\"", plain);
    CHECK(t.body && strstr(t.body, hosthdr));
    tu_reset(&t);
    tu_one(&t, "/json", 5000);
    up_get_stats(tu_client, &st);
    CHECK(t.err == UP_OK && st.reused == 1 && st.tls_handshakes == 0 && st.connects >= 1);
    tu_free();

    /* 15. connection refused: retried max_retries times, then UP_E_CONNECT */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    bind(ls, (struct sockaddr *)&sa, sizeof sa);
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    close(ls); /* nothing listens on this port now */
    cfg = tu_cfg(false, ntohs(sa.sin_port), NULL);
    cfg.max_retries = 1;
    tu_new(&cfg);
    tu_reset(&t);
    tu_one(&t, "/json", 5000);
    up_get_stats(tu_client, &st);
    CHECK(t.err == UP_E_CONNECT && st.retries == 1);
    tu_free();

    tu_reset(&t);
    tu_reset(&t2);
    tu_reset(&t3);
    loop_free(&tu_loop);

    /* logs: one line per request, never the key */
    fflush(stderr);
    dup2(saved_err, 2);
    close(logfd);
    FILE *lf = fopen(logpath, "r");
    static char logbuf[1 << 20];
    size_t ln = lf ? fread(logbuf, 1, sizeof logbuf - 1, lf) : 0;
    logbuf[ln] = 0;
    if (lf)
        fclose(lf);
    CHECK(strstr(logbuf, "upstream") != NULL);
    CHECK(strstr(logbuf, "SECRET") == NULL);
    CHECK(strstr(logbuf, "request_id=req-1") != NULL);
    if (t_fail || getenv("TU_VERBOSE"))
        fputs(logbuf, stderr);

    close(in[1]); /* server exits on stdin EOF */
    fclose(pf);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return T_DONE();
}
