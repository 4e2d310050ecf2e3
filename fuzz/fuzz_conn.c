// deps:
// libs: mbedtls cjson
/* A whole client connection through the server's real per-client input path,
 * in memory: the unity build (interview.c, main renamed) is included, the
 * server is initialised by server_init() as in production, and each input
 * becomes one connection on a socketpair that conn_accept_one() adopts like an
 * accepted TCP socket. The loop is stepped with a zero wait; the server's
 * output is read and discarded so its send ring drains like a fast client's.
 * No network, no upstream: OPENAI_API_KEY is unset, so AI requests fail fast
 * with CONFIG_ERROR (the dialects' error paths), which is deterministic.
 *
 * Input: byte 0 picks the prefix (0: none -- the input is the whole byte
 * stream, HTTP included; 1: upgrade on /ws/f (seeds 000-002); 2: upgrade on
 * /api/stream/ws/f (seed 004); 3: a keep-alive GET /health, then /ws/f;
 * with bit 6 set, 1 upgrades on /socket.io/ (seed 003)) and the write chunk
 * size (bits 2..5: 1 << k bytes). The rest is records
 * [op][len][len bytes], op & 7: 0 raw bytes, 1 text frame, 2 binary frame,
 * 3 text non-FIN, 4 continuation FIN, 5 continuation non-FIN, 6 ping,
 * 7 close; frames are masked by the harness (op bit 3 sends one unmasked,
 * op bit 4 a 16-bit length: [op][hi][lo]). Afterwards the client half-closes,
 * time jumps past every deadline (handshake, idle, ping/pong, close, send
 * timeouts) and the client vanishes; the connection must then be gone and
 * every pooled buffer returned, else the harness traps. */
#define main interview_main
#include "../interview.c"
#undef main

#include <sys/socket.h>

/* The generated tables build.sh links into the real binary. */
const unsigned char ca_bundle_pem[] = "";
const size_t ca_bundle_pem_len = 1;
const char ca_bundle_source[] = "none (fuzz)";
const unsigned char page_interview_html[] = "<!doctype html><title>i</title>";
const size_t page_interview_html_len = sizeof page_interview_html - 1;
const unsigned char page_stream_test_html[] = "<!doctype html><title>s</title>";
const size_t page_stream_test_html_len = sizeof page_stream_test_html - 1;

static struct program fz_prog;
#define fz_srv fz_prog.srv

static void fz_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    /* A free port for the (unused) listening socket server_init() opens. */
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (t < 0 || bind(t, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(t, (struct sockaddr *)&a, &al) != 0)
        abort();
    char port[8];
    snprintf(port, sizeof port, "%u", ntohs(a.sin_port));
    close(t);
    unsetenv("OPENAI_API_KEY");
    unsetenv("OPENAI_API_KEY_FILE");
    setenv("HOST", "127.0.0.1", 1);
    setenv("PORT", port, 1);
    setenv("MAX_CONNECTIONS", "8", 1);
    setenv("MAX_MESSAGE_SIZE", "64k", 1);
    setenv("MESSAGE_BUFFERS", "4", 1);
    setenv("TX_BUFFER_SIZE", "16k", 1);
    setenv("MAX_ANSWER_SECONDS", "2", 1);
    setenv("LOG_LEVEL", "error", 1);
    char arg0[] = "fuzz_conn";
    char *argv[] = {arg0, NULL};
    bool version = false;
    cfg_load(&fz_prog.cfg, 1, argv, &version);
    cfg_check(&fz_prog.cfg);
    log_setup((enum log_format)fz_prog.cfg.log_format, (enum log_level)fz_prog.cfg.log_level);
    /* server_init() takes SIGINT and SIGTERM for its graceful stop: libFuzzer's
     * own handlers go back, so Ctrl-C (or a campaign's SIGINT) still ends the
     * run with its final statistics. */
    struct sigaction fz_int, fz_term;
    sigaction(SIGINT, NULL, &fz_int);
    sigaction(SIGTERM, NULL, &fz_term);
    if (program_start(&fz_prog) != 0) /* the routes and dialects as in production */
        abort();
    sigaction(SIGINT, &fz_int, NULL);
    sigaction(SIGTERM, &fz_term, NULL);
}

/* One pass of loop_run() without blocking (time stays where the harness put it). */
static void fz_step(void)
{
    struct loop *l = &fz_srv.loop;
    struct epoll_event evs[LOOP_EVENTS_MAX];
    int r = epoll_wait(l->epfd, evs, LOOP_EVENTS_MAX, 0);
    for (int i = 0; i < r; i++) {
        uint32_t k = evs[i].data.u32;
        if (k < l->n && l->slots[k].fn)
            l->slots[k].fn(l->slots[k].ctx, loop_from_epoll(evs[i].events));
    }
    loop_reap(l);
}

static void fz_tick(uint64_t advance_ms)
{
    fz_srv.loop.now_ms += advance_ms;
    server_tick(&fz_srv);
    loop_reap(&fz_srv.loop);
}

static void fz_drain(int fd)
{
    uint8_t sink[65536];
    while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
        ;
}

/* The byte stream the client sends, built from the records. */
struct fz_out {
    uint8_t *p;
    size_t n, cap;
};

static void fz_put(struct fz_out *o, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (o->n + n > o->cap) {
        size_t cap = (o->n + n) * 2;
        uint8_t *q = realloc(o->p, cap);
        if (!q)
            abort();
        o->p = q;
        o->cap = cap;
    }
    memcpy(o->p + o->n, p, n);
    o->n += n;
}

static void fz_str(struct fz_out *o, const char *s) { fz_put(o, s, strlen(s)); }

static void fz_frame(struct fz_out *o, uint8_t b0, bool mask, const uint8_t *p, size_t n)
{
    uint8_t h[8];
    size_t hn = 0;
    h[hn++] = b0;
    if (n < 126) {
        h[hn++] = (uint8_t)((mask ? 0x80 : 0) | n);
    } else {
        h[hn++] = (uint8_t)((mask ? 0x80 : 0) | 126);
        h[hn++] = (uint8_t)(n >> 8);
        h[hn++] = (uint8_t)n;
    }
    fz_put(o, h, hn);
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    if (mask)
        fz_put(o, key, 4);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = mask ? (uint8_t)(p[i] ^ key[i & 3]) : p[i];
        fz_put(o, &b, 1);
    }
}

#define FZ_UPGRADE(path)                                                                          \
    "GET " path " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

static void fz_build(const uint8_t *d, size_t n, struct fz_out *o)
{
    switch (d[0] & 3) {
    case 1: /* bit 6: the Socket.IO route instead (seed 003) */
        fz_str(o, d[0] & 0x40 ? FZ_UPGRADE("/socket.io/?EIO=4&transport=websocket") : FZ_UPGRADE("/ws/f"));
        break;
    case 2: fz_str(o, FZ_UPGRADE("/api/stream/ws/f")); break;
    case 3: fz_str(o, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" FZ_UPGRADE("/ws/f")); break;
    default: break;
    }
    static const uint8_t b0s[8] = {0, 0x81, 0x82, 0x01, 0x80, 0x00, 0x89, 0x88};
    size_t i = 1;
    while (i + 2 <= n) {
        uint8_t op = d[i];
        size_t len = d[i + 1];
        i += 2;
        if ((op & 0x10) && i < n)
            len = len << 8 | d[i++];
        if (len > n - i)
            len = n - i;
        if ((op & 7) == 0 || (d[0] & 3) == 0)
            fz_put(o, d + i, len);
        else
            fz_frame(o, b0s[op & 7], !(op & 8), d + i, len);
        i += len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fz_init();
    struct fz_out o = {0};
    fz_build(data, size, &o);
    size_t chunk = (size_t)1 << ((data[0] >> 2) & 15);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fz_srv.loop.now_ms = clock_mono_ms();
    conn_accept_one(&fz_srv, sv[0], &ss);

    size_t off = 0;
    int idle = 0;
    while (off < o.n && idle < 64) {
        size_t k = o.n - off < chunk ? o.n - off : chunk;
        ssize_t w = send(sv[1], o.p + off, k, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            idle = 0;
        } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            break; /* the server closed its end */
        } else {
            idle++;
        }
        fz_step();
        fz_drain(sv[1]);
    }
    for (int r = 0; r < 8; r++) {
        fz_step();
        fz_drain(sv[1]);
    }
    shutdown(sv[1], SHUT_WR);
    for (int r = 0; r < 8; r++) {
        fz_step();
        fz_drain(sv[1]);
    }
    /* Every deadline passes: handshake, idle, ping then pong, close, send. */
    for (int r = 0; r < 6 && fz_srv.active; r++) {
        fz_tick(4000000);
        fz_step();
        fz_drain(sv[1]);
    }
    close(sv[1]);
    for (int r = 0; r < 16 && fz_srv.active; r++)
        fz_step();
    if (fz_srv.active || fz_srv.ws_active || fz_srv.rx_pool.in_use || fz_srv.tx_pool.in_use || fz_srv.msg_pool.in_use)
        __builtin_trap(); /* a connection or a buffer outlived its client */
    free(o.p);
    return 0;
}
