// deps: src/upstream/tls.c src/io/rand.c src/io/loop.c src/io/clock.c src/io/pool.c src/io/metrics.c
// libs: mbedtls
/* What tls.c and rand.c do without a TLS peer: the process CA source (named
 * once, parsed once, a failed source replaceable), the address filter around
 * connect() against listening sockets on loopback, the next address after a
 * refused one, plain-TCP read/writev, a handshake against a non-TLS peer, the
 * error texts; and rand_bytes refusing a second thread. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/clock.h"
#include "io/loop.h"
#include "io/rand.h"
#include "t.h"
#include "upstream/tls.h"

static struct loop L;
static uint64_t deadline;

static void on_tick(void *ctx)
{
    (void)ctx;
    if (L.now_ms >= deadline)
        L.stop = true;
}

/* ---- the address filter ---- */

struct probe {
    int calls;
    uint16_t ports[8];
    int refuse_at; /* call number (1-based) answered false; 0 = none */
};

static bool filter(void *ctx, const struct sockaddr *sa, socklen_t len)
{
    struct probe *p = ctx;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in) && p->calls < 8)
        p->ports[p->calls] = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    p->calls++;
    return p->calls != p->refuse_at;
}

struct conn_t {
    struct tls_conn t;
    enum tls_connect res;
};

static void on_conn(void *ctx, short revents)
{
    struct conn_t *c = ctx;
    if (c->res != TLS_CONNECTING) {
        tls_conn_events(&c->t, 0);
        return;
    }
    c->res = tls_connect_event(&c->t, revents);
    if (c->res != TLS_CONNECTING)
        L.stop = true;
}

static void run_for(uint64_t ms)
{
    L.stop = false;
    deadline = clock_mono_ms() + ms;
    loop_run(&L);
}

static struct resolver_addr v4(uint32_t host_order)
{
    struct resolver_addr a = {.len = sizeof(struct sockaddr_in)};
    struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(host_order);
    return a;
}

/* A listening socket on 127.0.0.1; its port in *port. */
static int listener(uint16_t *port)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 8) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    *port = ntohs(sa.sin_port);
    return ls;
}

static enum tls_connect connect_to(struct conn_t *c, const struct resolver_addr *a, int n, uint16_t port,
                                   struct probe *p, uint64_t *connects)
{
    tls_conn_init(&c->t, &L, on_conn, c);
    c->res = tls_connect_start(&c->t, a, n, port, p ? filter : NULL, p, connects);
    if (c->res == TLS_CONNECTING)
        run_for(3000);
    return c->res;
}

static void test_connect(void)
{
    uint16_t port = 0;
    int ls = listener(&port);
    CHECK(ls >= 0);
    char m[256];

    /* allowed: the filter sees the address before connect() and the peer after */
    struct probe p = {0};
    struct conn_t c;
    struct resolver_addr lo = v4(INADDR_LOOPBACK);
    uint64_t connects = 0;
    CHECK(connect_to(&c, &lo, 1, port, &p, &connects) == TLS_CONNECTED);
    CHECK(p.calls == 2 && p.ports[0] == port && p.ports[1] == port && connects == 1);
    CHECK(c.t.fd >= 0 && c.t.slot >= 0);

    /* plain TCP read/writev (no TLS started) */
    int srv = accept(ls, NULL, NULL);
    CHECK(srv >= 0);
    char buf[64];
    CHECK(tls_read(&c.t, buf, sizeof buf) == TLS_WANT_READ);
    struct iovec iov[3] = {{(void *)"he", 2}, {(void *)"", 0}, {(void *)"llo", 3}};
    CHECK(tls_writev(&c.t, iov, 3) == 5);
    CHECK(read(srv, buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK(write(srv, "abc", 3) == 3);
    close(srv);
    usleep(20000);
    CHECK(tls_read(&c.t, buf, sizeof buf) == 3 && memcmp(buf, "abc", 3) == 0);
    CHECK(tls_read(&c.t, buf, sizeof buf) == 0); /* orderly end */
    CHECK(!tls_pending(&c.t));
    tls_conn_close(&c.t);
    CHECK(c.t.fd < 0 && c.t.slot < 0);

    /* refused before connect(): no socket is made */
    p = (struct probe){.refuse_at = 1};
    connects = 0;
    CHECK(connect_to(&c, &lo, 1, port, &p, &connects) == TLS_BLOCKED_ADDRESS);
    CHECK(p.calls == 1 && connects == 0 && c.t.fd < 0);
    tls_error_text(&c.t, m, sizeof m);
    CHECK(strcmp(m, "address check before connect") == 0);

    /* the peer refused after the connect: closed */
    p = (struct probe){.refuse_at = 2};
    CHECK(connect_to(&c, &lo, 1, port, &p, NULL) == TLS_BLOCKED_PEER);
    CHECK(p.calls == 2 && c.t.fd < 0 && c.t.slot < 0);
    tls_error_text(&c.t, m, sizeof m);
    CHECK(strcmp(m, "peer address check after connect") == 0);
    srv = accept(ls, NULL, NULL); /* the kernel had completed it */
    if (srv >= 0)
        close(srv);

    /* the next address after a refused one (nothing listens on 127.0.0.2:port) */
    struct resolver_addr two[2] = {v4(0x7f000002), lo};
    p = (struct probe){0};
    connects = 0;
    CHECK(connect_to(&c, two, 2, port, &p, &connects) == TLS_CONNECTED);
    CHECK(connects == 2 && p.calls == 3 && c.t.addr_i == 1);
    tls_conn_close(&c.t);
    srv = accept(ls, NULL, NULL);
    CHECK(srv >= 0);

    /* a TLS handshake against a peer that answers in plain text */
    struct tls_client *tc = tls_client_create(NULL, false, m, sizeof m);
    CHECK(tc != NULL);
    CHECK(connect_to(&c, &lo, 1, port, NULL, NULL) == TLS_CONNECTED);
    int srv2 = accept(ls, NULL, NULL);
    CHECK(srv2 >= 0 && tls_start(&c.t, tc, "localhost") == 0);
    CHECK(write(srv2, "HTTP/1.1 400 Bad Request\r\n\r\n", 28) == 28);
    int ret = TLS_WANT_WRITE;
    for (int i = 0; i < 200 && (ret == TLS_WANT_READ || ret == TLS_WANT_WRITE); i++) {
        ret = tls_handshake(&c.t);
        if (ret == TLS_WANT_READ || ret == TLS_WANT_WRITE)
            usleep(5000);
    }
    CHECK(ret == TLS_ERROR && c.t.fail == TLS_F_OTHER);
    tls_error_text(&c.t, m, sizeof m);
    CHECK(strncmp(m, "tls handshake: ", 15) == 0 && strstr(m, "(-0x") != NULL);
    tls_conn_close(&c.t);
    close(srv2);
    tls_client_destroy(tc);

    /* every address refused: the errno of the last one */
    close(srv);
    close(ls);
    CHECK(connect_to(&c, &lo, 1, port, NULL, NULL) == TLS_CONNECT_FAILED);
    tls_error_text(&c.t, m, sizeof m);
    CHECK(strcmp(m, "connect: Connection refused") == 0 && c.t.err == ECONNREFUSED);
    /* nothing usable at all */
    struct resolver_addr unix_addr = {.len = sizeof(sa_family_t)};
    unix_addr.ss.ss_family = AF_UNIX;
    CHECK(connect_to(&c, &unix_addr, 1, port, NULL, NULL) == TLS_CONNECT_FAILED);
    tls_error_text(&c.t, m, sizeof m);
    CHECK(strcmp(m, "connect: no usable address") == 0);
    tls_conn_init(&c.t, &L, on_conn, &c);
    tls_error_text(&c.t, m, sizeof m);
    CHECK(strcmp(m, "no error") == 0);
}

/* ---- the CA source ---- */

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int rc = a && b ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, a)) > 0)
        rc = fwrite(buf, 1, n, b) == n ? 0 : -1;
    if (a)
        fclose(a);
    if (b && fclose(b) != 0)
        rc = -1;
    return rc;
}

static void test_ca(void)
{
    char err[512] = "";
    static const unsigned char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    CHECK(!tls_ca_named());
    CHECK(tls_ca_load(err, sizeof err) == -1 && strcmp(err, "no CA certificates") == 0);
    CHECK(tls_ca_use(NULL, NULL, 0, err, sizeof err) == 0 && !tls_ca_named()); /* nothing named */
    CHECK(tls_ca_use("", NULL, 0, err, sizeof err) == 0 && !tls_ca_named());

    /* a source that does not parse: the error says which, and another may replace it */
    CHECK(tls_ca_use(NULL, junk, sizeof junk, err, sizeof err) == 0 && tls_ca_named());
    CHECK(tls_ca_load(err, sizeof err) == -1 && strncmp(err, "embedded CA bundle: ", 20) == 0);
    CHECK(tls_ca_use("/nonexistent/ca.pem", NULL, 0, err, sizeof err) == 0);
    CHECK(tls_ca_load(err, sizeof err) == -1 && strncmp(err, "CA file /nonexistent/ca.pem: parse: ", 36) == 0);

    /* parsed once: the file may go away after the first load */
    char dir[] = "/tmp/test_tls.XXXXXX", path[600];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    CHECK(copy_file("/etc/ssl/certs/ca-certificates.crt", path) == 0);
    CHECK(tls_ca_use(path, NULL, 0, err, sizeof err) == 0);
    CHECK(tls_ca_load(err, sizeof err) == 0);
    unlink(path);
    rmdir(dir);
    CHECK(tls_ca_load(err, sizeof err) == 0);
    /* one source per process: the same again is fine, another is refused */
    CHECK(tls_ca_use(path, junk, sizeof junk, err, sizeof err) == 0);
    err[0] = '\0';
    CHECK(tls_ca_use(NULL, junk, sizeof junk, err, sizeof err) == -1 && strstr(err, "one per process"));
    CHECK(tls_ca_use("/etc/ssl/certs/ca-certificates.crt", NULL, 0, err, sizeof err) == -1);

    /* configurations share it; resumption on or off */
    static const char *alpn[] = {"http/1.1", NULL};
    struct tls_client *a = tls_client_create(alpn, true, err, sizeof err);
    struct tls_client *b = tls_client_create(NULL, false, err, sizeof err);
    CHECK(a && b);
    tls_client_destroy(a);
    tls_client_destroy(b);
    tls_client_destroy(NULL);
}

/* ---- rand ---- */

static void *other_thread(void *arg)
{
    uint8_t b[4];
    *(int *)arg = rand_bytes(b, sizeof b);
    return NULL;
}

static void test_rand(void)
{
    uint8_t a[2000], b[2000]; /* over MBEDTLS_CTR_DRBG_MAX_REQUEST: drawn in pieces */
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    CHECK(rand_bytes(a, sizeof a) == 0 && rand_bytes(b, sizeof b) == 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    size_t zeros = 0;
    for (size_t i = 1000; i < sizeof a; i++) /* the tail of a long request is filled too */
        zeros += a[i] == 0;
    CHECK(zeros < 40);
    CHECK(rand_bytes(a, 0) == 0);
    unsigned char c[16];
    CHECK(rand_mbedtls(NULL, c, sizeof c) == 0);
    int rc = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, other_thread, &rc) == 0 && pthread_join(th, NULL) == 0);
    CHECK(rc == -1); /* only the loop thread draws */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_rand();
    test_ca();
    loop_init(&L, 16, 10, on_tick, NULL);
    test_connect();
    loop_free(&L);
    tls_free();
    rand_free();
    return T_DONE();
}
