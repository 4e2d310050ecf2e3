// deps: src/io/conn.c src/io/server.c src/io/guard.c src/io/loop.c src/io/ring.c src/io/pool.c src/io/log.c src/io/clock.c src/parse/http_req.c src/parse/route.c src/parse/ws_frame.c src/parse/utf8.c src/parse/access.c src/parse/ratelimit.c src/io/rand.c src/io/metrics.c
// libs: mbedtls
/* The connection layer on its own, with a stub dialect and no other layer
 * linked: the route table (page, JSON endpoint, WebSocket, rendered page with
 * its token and its cap on pages held at once), the handlers
 * called through it (open, text, binary, close, refused), the AI-turn budget
 * and the message rate limit answered through the refused handler. The
 * server runs its real loop in a thread; this thread is a plain TCP client. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "io/log.h"
#include "io/server.h"
#include "t.h"

#define BIG_MSG (16u << 20) /* more than both socket buffers hold: still streaming when the peer closes */

static struct {
    int opens, texts, binaries, closes, refused, refused_null, dropped, shutdowns;
    char last_refusal[256];
} stub;

static void stub_open(struct server *s, struct conn *c) { stub.opens++; conn_send_text(s, c, "hello", 5); }

static bool drop_binary(const struct conn_msg *m, void *ctx)
{
    (void)ctx;
    return m->opcode == WSF_BINARY;
}

/* "q": a large message streams, three wait behind it, the binary one is
 * withdrawn (conn_drop_queued): the client gets big, k1, k2. */
static void stub_queue(struct server *s, struct conn *c)
{
    static const size_t big = 200000; /* over the 64 KiB send ring: it streams */
    char *text = malloc(big);
    if (!text)
        abort();
    memset(text, 'a', big);
    CHECK(conn_send_text_owned(s, c, text, big));
    CHECK(conn_send_text_queued(s, c, "k1", 2));
    CHECK(conn_send_binary_queued(s, c, "dropme", 6));
    CHECK(conn_send_text_queued(s, c, "k2", 2));
    stub.dropped = (int)conn_drop_queued(c, drop_binary, NULL);
}

static void stub_text(struct server *s, struct conn *c, const uint8_t *p, size_t n)
{
    char out[64];
    stub.texts++;
    if (n == 1 && p[0] == 'q') {
        stub_queue(s, c);
        return;
    }
    if (n == 3 && memcmp(p, "big", 3) == 0) { /* a streamed message, then our close queued behind it */
        char *m = malloc(BIG_MSG);
        memset(m, 'b', BIG_MSG);
        conn_send_text(s, c, m, BIG_MSG);
        free(m);
        conn_close_ws(s, c, 1000, "bye");
        return;
    }
    if (n == 2 && memcmp(p, "ai", 2) == 0) {
        if (conn_take_ai_turn(s, c))
            conn_send_text(s, c, "turn", 4);
        return;
    }
    int k = snprintf(out, sizeof out, "echo:%.*s", (int)(n < 40 ? n : 40), (const char *)p);
    conn_send_text(s, c, out, (size_t)k);
}

static void stub_binary(struct server *s, struct conn *c, const uint8_t *p, size_t n)
{
    (void)p, (void)n;
    stub.binaries++;
    conn_send_binary(s, c, "\x01\x02", 2);
}

static void stub_close(struct server *s, struct conn *c) { (void)s, (void)c, stub.closes++; }
/* A dialect finishing a reply at SIGTERM: it does not close; conn.c does, before the drain ends. */
static void stub_shutdown(struct server *s, struct conn *c) { (void)s, (void)c, stub.shutdowns++; }

static void stub_refused(struct server *s, struct conn *c, bool binary, const uint8_t *p, size_t n,
                         const char *message)
{
    (void)binary, (void)n;
    stub.refused++;
    stub.refused_null += p == NULL;
    snprintf(stub.last_refusal, sizeof stub.last_refusal, "%s", message);
    conn_send_text_queued(s, c, "refused", 7);
}

static const struct conn_handlers stub_handlers = {
    .open = stub_open, .text = stub_text, .binary = stub_binary, .close = stub_close, .refused = stub_refused,
    .shutdown = stub_shutdown,
};

static int stub_api(struct server *s, const char *id, char *out, size_t cap)
{
    (void)s;
    snprintf(out, cap, "{\"id\":\"%s\"}", id);
    return strcmp(id, "known") == 0 ? 200 : 404;
}

static uint16_t srv_port;

#define RENDER_BYTES (16u << 20) /* more than the socket buffers hold: the page stays with the connection */
#define RENDER_TOKEN "stub-token-0123456789"

static char *stub_render(size_t *len)
{
    char *p = malloc(RENDER_BYTES);
    if (p)
        memset(p, 'm', RENDER_BYTES);
    *len = RENDER_BYTES;
    return p;
}

/* GET /metrics with the token, not read: the connection holds its page. */
static int render_request(const char *token)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(srv_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        abort();
    char req[256];
    int k = snprintf(req, sizeof req, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s\r\n",
                     token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
    CHECK(write(fd, req, (size_t)k) == k);
    return fd;
}

static const unsigned char page[] = "<p>page</p>";
static const size_t page_len = sizeof page - 1;

static const struct conn_route routes[] = {
    {.route = ROUTE_INDEX, .name = "page", .page = page, .page_len = &page_len},
    {.route = ROUTE_STREAM_STATUS, .name = "api", .api_method = "GET", .api = stub_api},
    {.route = ROUTE_WS_CLIENT, .name = "stub", .ws = &stub_handlers},
    {.route = ROUTE_METRICS, .name = "metrics", .render = stub_render, .render_ctype = "text/plain",
     .render_token = RENDER_TOKEN},
};

static struct server srv;

static void *run_server(void *arg)
{
    (void)arg;
    server_run(&srv);
    return NULL;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(srv.cfg.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        abort();
    return fd;
}

/* Reads until the peer closes or the buffer holds want (a substring). */
static size_t read_until(int fd, char *buf, size_t cap, const char *want)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (want && memmem(buf, n, want, strlen(want)))
            break;
    }
    buf[n] = '\0';
    return n;
}

static void http_get(const char *path, char *buf, size_t cap)
{
    int fd = dial();
    char req[256];
    int k = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    CHECK(write(fd, req, (size_t)k) == k);
    read_until(fd, buf, cap, NULL);
    close(fd);
}

/* A masked client frame. */
static void send_frame(int fd, int opcode, const char *p, size_t n)
{
    uint8_t f[256] = {(uint8_t)(0x80 | opcode), (uint8_t)(0x80 | n), 1, 2, 3, 4};
    for (size_t i = 0; i < n; i++)
        f[6 + i] = (uint8_t)(p[i] ^ f[2 + i % 4]);
    CHECK(write(fd, f, 6 + n) == (ssize_t)(6 + n));
}

int main(void)
{
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(t, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(t, (struct sockaddr *)&a, &al) != 0)
        abort();
    close(t);
    srv.cfg = (struct server_config){
        .host = "127.0.0.1", .port = ntohs(a.sin_port), .max_connections = 16, .max_header_size = 8192,
        .max_headers = 50, .max_message_size = 65536, .rx_buffer_size = 16384, .tx_buffer_size = 65536,
        .message_buffers = 4, .json_max_depth = 16, .handshake_timeout_ms = 5000, .ping_interval_ms = 30000,
        .pong_timeout_ms = 20000, .send_timeout_ms = 30000, .close_timeout_ms = 1000,
        .shutdown_timeout_ms = 1000, .ws_messages_per_sec = 1, .ws_messages_burst = 5,
        .ws_bytes_per_sec = 1 << 20, .ws_bytes_burst = 1 << 22, .ai_turns_per_minute = 1,
        .rate_limit_strikes = 10, .max_websockets_per_ip = 8, .max_connections_per_ip = 16,
    };
    log_setup(LOG_TEXT, LOG_ERROR);
    srv.routes = routes;
    srv.nroutes = ARRAY_LEN(routes);
    CHECK(server_init(&srv) == 0);
    srv_port = srv.cfg.port;
    pthread_t th;
    pthread_create(&th, NULL, run_server, NULL);

    char buf[4096];
    http_get("/health", buf, sizeof buf);
    CHECK(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "\"healthy\""));

    /* A rendered page (route->render): its token, and at most 4 held at once. */
    int rf[5];
    rf[0] = render_request(NULL);
    read_until(rf[0], buf, sizeof buf, "\r\n\r\n");
    CHECK(strstr(buf, "HTTP/1.1 401 ") && strstr(buf, "WWW-Authenticate: Bearer"));
    close(rf[0]);
    rf[0] = render_request("wrong-token-0123456789");
    read_until(rf[0], buf, sizeof buf, "\r\n\r\n");
    CHECK(strstr(buf, "HTTP/1.1 401 ") != NULL);
    close(rf[0]);
    for (int i = 0; i < 5; i++) {
        rf[i] = render_request(RENDER_TOKEN);
        usleep(100000); /* the loop thread renders it */
    }
    read_until(rf[4], buf, sizeof buf, "\r\n\r\n");
    CHECK(strstr(buf, "HTTP/1.1 503 ") && strstr(buf, "Retry-After: 1"));
    read_until(rf[0], buf, 64, NULL);
    CHECK(strncmp(buf, "HTTP/1.1 200 OK", 15) == 0);
    for (int i = 0; i < 5; i++)
        close(rf[i]);
    usleep(300000); /* the server sees them gone and frees their pages */
    rf[0] = render_request(RENDER_TOKEN);
    size_t got = 0;
    for (ssize_t r; (r = read(rf[0], buf, sizeof buf)) > 0;) {
        got += (size_t)r;
        if (got > RENDER_BYTES) { /* the head and the whole body */
            usleep(100000);
            break;
        }
    }
    CHECK(got > RENDER_BYTES);
    close(rf[0]);
    http_get("/", buf, sizeof buf);
    CHECK(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "<p>page</p>") && strstr(buf, "text/html"));
    http_get("/api/stream/status/known", buf, sizeof buf);
    CHECK(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "{\"id\":\"known\"}"));
    http_get("/api/stream/status/other", buf, sizeof buf);
    CHECK(strstr(buf, "HTTP/1.1 404 Not Found") != NULL);
    http_get("/api/stream/ws/x", buf, sizeof buf); /* a route nobody registered */
    CHECK(strstr(buf, "HTTP/1.1 404 Not Found") != NULL);
    http_get("/ws/bad!id", buf, sizeof buf);
    CHECK(strstr(buf, "HTTP/1.1 400 Bad Request") != NULL);

    int fd = dial();
    static const char up[] = "GET /ws/abc HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n";
    CHECK(write(fd, up, sizeof up - 1) == (ssize_t)(sizeof up - 1));
    read_until(fd, buf, sizeof buf, "hello");
    CHECK(strstr(buf, "101 Switching Protocols") && strstr(buf, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    CHECK(strstr(buf, "hello") != NULL); /* open handler */
    send_frame(fd, 1, "abc", 3);
    read_until(fd, buf, sizeof buf, "echo:abc");
    CHECK(strstr(buf, "echo:abc") != NULL); /* text handler */
    send_frame(fd, 2, "\x09", 1);
    size_t n = read_until(fd, buf, sizeof buf, "\x01\x02");
    CHECK(n == 4 && (uint8_t)buf[0] == 0x82); /* binary handler */
    send_frame(fd, 1, "ai", 2);
    read_until(fd, buf, sizeof buf, "turn");
    CHECK(strstr(buf, "turn") != NULL);
    send_frame(fd, 1, "ai", 2); /* over AI_TURNS_PER_MINUTE = 1 */
    read_until(fd, buf, sizeof buf, "refused");
    CHECK(strstr(buf, "refused") != NULL);
    CHECK(stub.refused_null == 1 && strstr(stub.last_refusal, "AI_TURNS_PER_MINUTE"));
    send_frame(fd, 1, "x", 1); /* the fifth message: the burst is spent */
    send_frame(fd, 1, "y", 1); /* over WS_MESSAGES_PER_SEC */
    read_until(fd, buf, sizeof buf, "refused");
    CHECK(stub.refused >= 2 && strstr(stub.last_refusal, "WS_MESSAGES_PER_SEC"));
    send_frame(fd, 8, "\x03\xe8", 2); /* close 1000 */
    n = read_until(fd, buf, sizeof buf, NULL);
    CHECK(n >= 4 && (uint8_t)buf[n - 4] == 0x88 && buf[n - 2] == 0x03 && (uint8_t)buf[n - 1] == 0xe8);
    close(fd);

    /* conn_drop_queued: the withdrawn message never reaches the socket. */
    fd = dial();
    CHECK(write(fd, up, sizeof up - 1) == (ssize_t)(sizeof up - 1));
    read_until(fd, buf, sizeof buf, "hello");
    send_frame(fd, 1, "q", 1);
    static char qbuf[262144];
    size_t qn = read_until(fd, qbuf, sizeof qbuf, "k2");
    CHECK(stub.dropped == 1);
    CHECK(qn > 200000 && memmem(qbuf, qn, "k1", 2) && memmem(qbuf, qn, "k2", 2));
    CHECK(memmem(qbuf, qn, "dropme", 6) == NULL);
    CHECK((char *)memmem(qbuf, qn, "k1", 2) < (char *)memmem(qbuf, qn, "k2", 2));
    close(fd);
    /* The peer's close arrives while ours waits behind a streamed message:
     * the whole message, then our close, then the end of the connection. */
    fd = dial();
    CHECK(write(fd, up, sizeof up - 1) == (ssize_t)(sizeof up - 1));
    read_until(fd, buf, sizeof buf, "hello");
    send_frame(fd, 1, "big", 3);
    usleep(200 * 1000);
    send_frame(fd, 8, "\x03\xe9", 2); /* close 1001 */
    size_t total = 0;
    uint8_t tail[8] = {0};
    for (;;) {
        static char chunk[1 << 14];
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            memmove(tail, tail + 1, sizeof tail - 1);
            tail[sizeof tail - 1] = (uint8_t)chunk[i];
        }
        total += (size_t)r;
        usleep(2000); /* a slow reader: our send ring stays full to the end */
    }
    /* 10-byte header + message + close frame (2 + code + "bye") */
    CHECK(total == 10 + BIG_MSG + 2 + 2 + 3);
    CHECK(tail[0] == 'b' && tail[1] == 0x88 && tail[2] == 5 && tail[3] == 0x03 && tail[4] == 0xe8 &&
          memcmp(tail + 5, "bye", 3) == 0);
    close(fd);

    /* SIGTERM with a WebSocket open whose dialect has a shutdown handler:
     * the handler is called, the connection stays open, and conn.c closes it
     * with 1001 half the 1 s drain before its end (the margin for drains
     * under 2 s); the peer's answer ends the loop. */
    fd = dial();
    CHECK(write(fd, up, sizeof up - 1) == (ssize_t)(sizeof up - 1));
    read_until(fd, buf, sizeof buf, "hello");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(getpid(), SIGTERM); /* the self-pipe stops the loop */
    n = read_until(fd, buf, sizeof buf, "\x03\xe9");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(stub.shutdowns == 1);
    CHECK(n >= 4 && (uint8_t)buf[0] == 0x88 && buf[2] == 0x03 && (uint8_t)buf[3] == 0xe9); /* close 1001 */
    CHECK(ms >= 200 && ms < 900);
    send_frame(fd, 8, "\x03\xe9", 2);
    pthread_join(th, NULL);
    close(fd);
    CHECK(stub.opens == 4 && stub.closes == 4 && stub.binaries == 1);
    CHECK(stub.texts == 6); /* abc, ai, ai, x (y was refused before it), q, big */
    return T_DONE();
}
