/* One client connection: a request head is read into the receive ring and
 * answered (plain HTTP, keep-alive) or upgraded; then WebSocket frames are
 * parsed straight out of the ring and whole messages go to the dialect, through
 * the handlers of the route the connection was upgraded on (conn.h).
 *
 * Memory: an idle connection holds no buffer. The receive ring, the send ring
 * and a message assembly buffer are borrowed from bounded pools only while
 * bytes are in flight and given back as soon as they drain.
 *
 * Backpressure: before one more frame is parsed, the send ring must have room
 * for the largest answer a frame can cause (CONN_REPLY_RESERVE). When it has
 * not, the connection stops reading (the kernel's buffers then push back on
 * the client) and resumes when the ring drains; a ring that makes no progress
 * for send_timeout is closed with a logged reason.
 * deps: http_req.c route.c ws_frame.c utf8.c ring.c pool.c loop.c log.c clock.c guard.c, mbedTLS sha1/base64 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>

#include "io/clock.h"
#include "io/guard.h"
#include "io/log.h"
#include "io/metrics.h"
#include "io/server.h"

#define CONN_REPLY_RESERVE 1024 /* worst-case bytes one frame's answer can need */
#define CONN_LINGER_MS 2000     /* how long to discard input after a final response */
#define CONN_ACCEPT_BURST 64    /* accepts per readiness event, so reads are not starved */
#define CONN_HTTP_OUT_MAX 2048  /* a complete HTTP response we generate */
#define CONN_INLINE_BODY 1024   /* larger bodies are static and streamed */
#define CONN_QUEUE_MAX 64       /* events waiting behind a full send ring, per client */
#define CONN_RENDERS_MAX 4      /* rendered pages (/metrics, ~60 KiB each) being sent at once: */
                                /* a scraper needs one; many clients that do not read cost no more */

static uint32_t conn_renders; /* rendered pages held by connections (the loop thread's) */

static const char conn_ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static void conn_destroy(struct conn *c, const char *why);
static bool conn_process(struct conn *c);
static void conn_update_events(struct conn *c);
static void conn_send_close_frame(struct conn *c, uint16_t code, const char *reason);
static void conn_big_pump(struct conn *c);
static bool conn_big_next(struct conn *c);
bool conn_send_text_owned(struct server *s, struct conn *c, char *json, size_t n);

static uint64_t conn_now(const struct conn *c) { return c->srv->loop.now_ms; }

static bool conn_has_output(const struct conn *c)
{
    return (c->tx.buf && ring_len(&c->tx)) || c->big || c->queued;
}

/* ---- buffers -------------------------------------------------------- */

static bool conn_take_ring(struct pool *p, struct ring *r)
{
    if (r->buf)
        return true;
    uint8_t *b = pool_take(p);
    if (!b)
        return false;
    ring_init(r, b, (uint32_t)p->size);
    return true;
}

static void conn_give_ring(struct pool *p, struct ring *r)
{
    if (r->buf && r->len == 0) {
        pool_give(p, r->buf);
        r->buf = NULL;
    }
}

static void conn_give_msg(struct conn *c)
{
    if (c->msg) {
        pool_give(&c->srv->msg_pool, c->msg);
        c->msg = NULL;
        c->msg_len = 0;
    }
}

/* ---- sending -------------------------------------------------------- */

static size_t conn_raw_room(const struct conn *c, const struct server *s)
{
    return c->tx.buf ? ring_space(&c->tx) : (size_t)s->cfg.tx_buffer_size;
}

size_t conn_send_room(const struct conn *c, const struct server *s)
{
    return c->big || c->queued ? 0 : conn_raw_room(c, s); /* a large message owns the ring */
}

void conn_want_drain(struct conn *c) { c->want_drain = true; }

/* Queue iov parts in order: written directly while nothing is queued, the
 * rest into the send ring. All or nothing: false if they do not fit. */
static bool conn_send_iov(struct conn *c, struct iovec *iov, int iovcnt)
{
    struct server *s = c->srv;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total > conn_raw_room(c, s))
        return false;
    size_t done = 0;
    if (!c->batching && (!c->tx.buf || ring_len(&c->tx) == 0)) {
        ssize_t w = writev(c->fd, iov, iovcnt);
        if (w > 0)
            done = (size_t)w;
    }
    if (done == total)
        return true;
    if (!conn_take_ring(&s->tx_pool, &c->tx)) {
        log_event(LOG_ERROR, c->id, "send_buffer_unavailable", "pool exhausted");
        c->close_after_flush = true;
        return false;
    }
    for (int i = 0; i < iovcnt; i++) {
        size_t len = iov[i].iov_len;
        if (done >= len) {
            done -= len;
            continue;
        }
        ring_write(&c->tx, (const uint8_t *)iov[i].iov_base + done, (uint32_t)(len - done));
        done = 0;
    }
    if (!c->tx_stall_ms)
        c->tx_stall_ms = conn_now(c);
    if (!c->batching) /* a batch is flushed, and its events set, when its event ends */
        conn_update_events(c); /* sends start outside this connection's own event too */
    return true;
}

/* A data message of n bytes left for the client (metrics by dialect). */
static void conn_count_out(const struct conn *c, size_t n)
{
    unsigned d = c->metric_route >= MR_CLIENT ? c->metric_route - MR_CLIENT : MD_COUNT;
    metrics_inc(M_WS_MESSAGES_OUT, d, 0);
    metrics_add(M_WS_BYTES_OUT, d, 0, n);
}

static bool conn_send_frame(struct conn *c, enum wsf_opcode op, const void *p, size_t n)
{
    uint8_t hdr[10];
    size_t hl = wsf_header(hdr, op, true, n);
    struct iovec iov[2] = {{hdr, hl}, {(void *)p, n}};
    bool ok = conn_send_iov(c, iov, n ? 2 : 1);
    if (ok && (op == WSF_TEXT || op == WSF_BINARY))
        conn_count_out(c, n);
    return ok;
}

bool conn_send_text(struct server *s, struct conn *c, const char *json, size_t n)
{
    if (c->state != CONN_WS || c->big || c->queued)
        return false; /* nothing follows our close frame; nothing cuts into a message */
    if (n + 10 > s->cfg.tx_buffer_size) { /* never fits the ring: stream a copy */
        char *copy = malloc(n);
        if (!copy)
            return false;
        memcpy(copy, json, n);
        return conn_send_text_owned(s, c, copy, n);
    }
    if (n > conn_send_room(c, s))
        return false;
    return conn_send_frame(c, WSF_TEXT, json, n);
}

/* Move as much of the large message (then the queued ones) as fits; when
 * all are out, send a close frame that waited for them. */
static void conn_big_pump(struct conn *c)
{
    struct server *s = c->srv;
    for (;;) {
        if (!c->big && (!c->queued || !conn_big_next(c)))
            break;
        size_t room = conn_raw_room(c, s), left = c->big_len - c->big_off;
        size_t k = left < room ? left : room;
        struct iovec iov = {(void *)(c->big + c->big_off), k};
        if (k == 0 || !conn_send_iov(c, &iov, 1))
            break;
        c->big_off += k;
        if (c->big_off == c->big_len) {
            if (c->big_owned)
                free((void *)c->big);
            conn_renders -= c->big_render;
            c->big_render = false;
            c->big = NULL;
        }
    }
    if (!c->big && !c->queued && c->pending_close) {
        uint16_t code = c->pending_close;
        c->pending_close = 0;
        conn_send_close_frame(c, code, c->pending_reason);
        if (c->state == CONN_WS_CLOSING && !c->close_after_flush)
            c->deadline_ms = conn_now(c) + s->cfg.close_timeout_ms;
    }
}

/* Start the next queued message: its frame header, then its body as big. */
static bool conn_big_next(struct conn *c)
{
    struct conn_msg *m = c->queued;
    uint8_t hdr[10];
    size_t hl = wsf_header(hdr, (enum wsf_opcode)m->opcode, true, m->len);
    struct iovec iov = {hdr, hl};
    if (!conn_send_iov(c, &iov, 1))
        return false;
    c->queued = m->next;
    c->nqueued--;
    conn_count_out(c, m->len);
    c->big = m->text;
    c->big_owned = true;
    c->big_len = m->len;
    c->big_off = 0;
    free(m);
    return true;
}

static bool conn_enqueue(struct server *s, struct conn *c, uint8_t opcode, const void *p, size_t n);

bool conn_send_text_queued(struct server *s, struct conn *c, const char *json, size_t n)
{
    if (c->state != CONN_WS)
        return false;
    if (conn_send_text(s, c, json, n))
        return true;
    return conn_enqueue(s, c, WSF_TEXT, json, n);
}

bool conn_send_binary_queued(struct server *s, struct conn *c, const void *p, size_t n)
{
    if (c->state != CONN_WS)
        return false;
    if (!c->big && !c->queued && n + 10 <= conn_send_room(c, s))
        return conn_send_frame(c, WSF_BINARY, p, n);
    return conn_enqueue(s, c, WSF_BINARY, p, n);
}

static bool conn_enqueue(struct server *s, struct conn *c, uint8_t opcode, const void *p, size_t n)
{
    if (c->nqueued >= CONN_QUEUE_MAX) {
        log_event(LOG_WARN, c->id, "send_queue_full", "closing with 1013");
        conn_close_ws(s, c, WS_CLOSE_TRY_AGAIN, "client not reading");
        return false;
    }
    struct conn_msg *m = malloc(sizeof *m);
    char *copy = malloc(n ? n : 1);
    if (!m || !copy) {
        free(m);
        free(copy);
        return false;
    }
    memcpy(copy, p, n);
    *m = (struct conn_msg){.text = copy, .len = n, .opcode = opcode};
    struct conn_msg **tail = &c->queued;
    while (*tail)
        tail = &(*tail)->next;
    *tail = m;
    c->nqueued++;
    conn_big_pump(c);
    conn_update_events(c);
    return true;
}

size_t conn_drop_queued(struct conn *c, bool (*drop)(const struct conn_msg *m, void *ctx), void *ctx)
{
    size_t dropped = 0;
    for (struct conn_msg **pm = &c->queued; *pm;) {
        struct conn_msg *m = *pm;
        if (!drop(m, ctx)) {
            pm = &m->next;
            continue;
        }
        *pm = m->next;
        free(m->text);
        free(m);
        c->nqueued--;
        dropped++;
    }
    if (dropped)
        conn_update_events(c);
    return dropped;
}

bool conn_send_text_owned(struct server *s, struct conn *c, char *json, size_t n)
{
    uint8_t hdr[10];
    size_t hl = wsf_header(hdr, WSF_TEXT, true, n);
    struct iovec iov = {hdr, hl};
    if (c->state != CONN_WS || c->big || c->queued || !conn_send_iov(c, &iov, 1)) {
        free(json);
        return false;
    }
    (void)s;
    conn_count_out(c, n);
    c->big = json;
    c->big_owned = true;
    c->big_len = n;
    c->big_off = 0;
    conn_big_pump(c);
    conn_update_events(c);
    return true;
}

bool conn_send_binary(struct server *s, struct conn *c, const void *p, size_t n)
{
    if (c->state != CONN_WS || n > conn_send_room(c, s))
        return false;
    return conn_send_frame(c, WSF_BINARY, p, n);
}

static void conn_send_close_frame(struct conn *c, uint16_t code, const char *reason)
{
    if (c->big || c->queued) { /* frames cannot interleave with a message: close after it */
        c->pending_close = code;
        c->pending_reason = reason;
        return;
    }
    uint8_t payload[125];
    size_t n = 0;
    if (code != WS_CLOSE_NO_STATUS) { /* "no code": echo an empty close */
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > sizeof payload - 2)
            rl = sizeof payload - 2;
        payload[0] = (uint8_t)(code >> 8);
        payload[1] = (uint8_t)code;
        if (rl)
            memcpy(payload + 2, reason, rl);
        n = 2 + rl;
    }
    if (conn_send_frame(c, WSF_CLOSE, payload, n))
        metrics_inc(M_WS_CLOSE_SENT, metrics_close_code(code), 0);
}

/* Start the closing handshake: after our close frame nothing else is sent,
 * incoming data is discarded, and the peer has close_timeout to answer. */
void conn_close_ws(struct server *s, struct conn *c, uint16_t code, const char *reason)
{
    if (c->state != CONN_WS)
        return;
    log_event(LOG_INFO, c->id, "ws_close_sent", "code=%u reason=%s", code, reason ? reason : "");
    conn_send_close_frame(c, code, reason);
    c->state = CONN_WS_CLOSING;
    /* The peer's time to answer starts when our close is out: behind a
     * streamed message, SEND_TIMEOUT guards the wait (conn_big_pump). */
    c->deadline_ms = c->pending_close ? 0 : conn_now(c) + s->cfg.close_timeout_ms;
    conn_give_msg(c);
    conn_update_events(c);
}

/* Protocol violation: close frame with the code, then drop the connection
 * once it is flushed (RFC 6455 7.1.7 "Fail the WebSocket Connection"). */
static void conn_fail_ws(struct conn *c, uint16_t code, const char *reason)
{
    log_event(LOG_WARN, c->id, "ws_protocol_error", "code=%u reason=%s", code, reason);
    if (c->state == CONN_WS)
        conn_send_close_frame(c, code, reason);
    c->state = CONN_WS_CLOSING;
    c->close_after_flush = true;
    conn_give_msg(c);
}

/* ---- HTTP responses ------------------------------------------------- */

static const char *conn_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* The request being answered: what the route handlers need, and the CORS
 * header lines its Origin earned (empty when none). */
struct conn_request {
    const struct httpq_request *req;
    const struct route_match *m;
    bool keep; /* keep-alive after the answer */
    char cors[512];
};

/* Send a response head and body. extra: additional header lines, each ending
 * in CRLF; cors likewise ("" outside a request). A body over CONN_INLINE_BODY
 * bytes must be static: it is streamed from where it lies through the send
 * ring. keep_alive false closes the connection once the response is out. */
static void conn_http_respond_n(struct conn *c, const char *cors, int status, const char *extra,
                                const char *ctype, const char *body, size_t blen, bool send_body,
                                bool keep_alive)
{
    char out[CONN_HTTP_OUT_MAX];
    bool inline_body = send_body && body && blen <= CONN_INLINE_BODY;
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\nServer: interview\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\nConnection: %s\r\n%s%s\r\n%.*s",
                     status, conn_reason(status), ctype, blen, keep_alive ? "keep-alive" : "close",
                     cors, extra ? extra : "", inline_body ? (int)blen : 0, inline_body ? body : "");
    if (n < 0 || (size_t)n >= sizeof out)
        n = snprintf(out, sizeof out, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                      "Connection: close\r\n\r\n"),
        keep_alive = false;
    struct iovec iov = {out, (size_t)n};
    if (!conn_send_iov(c, &iov, 1))
        keep_alive = false;
    else if (send_body && body && !inline_body) {
        c->big = body;
        c->big_owned = false;
        c->big_len = blen;
        c->big_off = 0;
        conn_big_pump(c);
    }
    if (!keep_alive)
        c->close_after_flush = true;
}

static void conn_http_respond(struct conn *c, const char *cors, int status, const char *extra,
                              const char *ctype, const char *body, bool send_body, bool keep_alive)
{
    conn_http_respond_n(c, cors, status, extra, ctype, body, body ? strlen(body) : 0, send_body, keep_alive);
}

/* An error answer ({"error","status"}); the connection closes after it. */
static void conn_http_error(struct conn *c, const char *cors, int status, const char *message,
                            const char *extra)
{
    char body[256];
    snprintf(body, sizeof body, "{\"error\":\"%s\",\"status\":%d}", message, status);
    log_event(LOG_INFO, c->id, "http_error", "status=%d %s", status, message);
    /* 401, 403 and 429 are guard.c's, counted there with their reason; 404 is no refusal. */
    if (status == 503)
        metrics_inc(M_CONN_REFUSED, c->srv->shutting_down ? MRS_SHUTTING_DOWN : MRS_MAX_CONNECTIONS, 0);
    else if (status >= 400 && status != 401 && status != 403 && status != 404 && status != 429)
        metrics_inc(M_CONN_REFUSED, MRS_BAD_REQUEST, 0);
    conn_http_respond(c, cors, status, extra, "application/json", body, true, false);
}

/* ---- HTTP requests and the upgrade ---------------------------------- */

static bool conn_ws_accept_key(struct slice key, char out[32])
{
    unsigned char raw[32], digest[20], cat[64 + sizeof conn_ws_guid];
    size_t rawlen = 0, olen = 0;
    /* RFC 6455 4.2.1: the key is the base64 of exactly 16 bytes. */
    if (key.n != 24 ||
        mbedtls_base64_decode(raw, sizeof raw, &rawlen, (const unsigned char *)key.p, key.n) != 0 ||
        rawlen != 16)
        return false;
    memcpy(cat, key.p, key.n);
    memcpy(cat + key.n, conn_ws_guid, sizeof conn_ws_guid - 1);
    if (mbedtls_sha1(cat, key.n + sizeof conn_ws_guid - 1, digest) != 0)
        return false;
    return mbedtls_base64_encode((unsigned char *)out, 32, &olen, digest, sizeof digest) == 0;
}

static bool conn_method_is(const struct httpq_request *req, const char *m)
{
    return slice_eq(req->method, m, strlen(m));
}

static void conn_health(struct conn *c, const struct conn_request *rq)
{
    char body[160], ts[CLOCK_ISO_LEN];
    if (!conn_method_is(rq->req, "GET") && !conn_method_is(rq->req, "HEAD")) {
        conn_http_error(c, rq->cors, 405, "method not allowed", "Allow: GET, HEAD\r\n");
        return;
    }
    snprintf(body, sizeof body,
             "{\"status\":\"healthy\",\"timestamp\":\"%s\",\"active_connections\":%u}",
             clock_iso8601(ts), c->srv->ws_active);
    conn_http_respond(c, rq->cors, 200, NULL, "application/json", body, !conn_method_is(rq->req, "HEAD"),
                      rq->keep);
}

static bool conn_origin_allowed(const struct server *s, struct slice origin);

/* The RFC 6455 opening handshake on route r. Returns true when the
 * connection became a WebSocket. */
static bool conn_upgrade(struct conn *c, const struct conn_request *rq, const struct conn_route *r)
{
    struct server *s = c->srv;
    const struct httpq_request *req = rq->req;
    if (!conn_method_is(req, "GET")) {
        conn_http_error(c, rq->cors, 405, "method not allowed", "Allow: GET\r\n");
        return false;
    }
    if (!req->upgrade_websocket) {
        conn_http_error(c, rq->cors, 426, "WebSocket upgrade required",
                        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
        return false;
    }
    if (!req->conn_upgrade || req->minor_version != 1 || req->content_length > 0 || req->chunked) {
        conn_http_error(c, rq->cors, 400, "invalid WebSocket handshake", NULL);
        return false;
    }
    if (!req->ws_version.p || !slice_eq(req->ws_version, "13", 2)) {
        conn_http_error(c, rq->cors, 426, "unsupported WebSocket version", "Sec-WebSocket-Version: 13\r\n");
        return false;
    }
    char accept[32];
    if (!req->ws_key.p || !conn_ws_accept_key(req->ws_key, accept)) {
        conn_http_error(c, rq->cors, 400, "invalid Sec-WebSocket-Key", NULL);
        return false;
    }
    if (s->shutting_down) {
        conn_http_error(c, rq->cors, 503, "server shutting down", NULL);
        return false;
    }
    struct slice proto; /* the client's own "bearer.<t>" offer, echoed as RFC 6455 4.2.2 requires */
    const char *why, *extra;
    int refuse = guard_upgrade(s, c, req, conn_origin_allowed(s, req->origin), &proto, &why, &extra);
    if (refuse) {
        conn_http_error(c, rq->cors, refuse, why, extra);
        return false;
    }
    char out[256 + ACCESS_TOKEN_MAX];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%.*s%s\r\n",
                     accept, proto.n ? "Sec-WebSocket-Protocol: " : "", (int)proto.n,
                     proto.n ? proto.p : "", proto.n ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof out) /* cannot happen: the token is capped; never send a cut head */
        return false;
    struct iovec iov = {out, (size_t)n};
    if (!conn_send_iov(c, &iov, 1))
        return false;
    c->state = CONN_WS;
    c->h = r->ws;
    memcpy(c->client_id, rq->m->id, sizeof c->client_id);
    c->p.wsf = (struct wsf_parser){.max_message = s->cfg.max_message_size};
    c->deadline_ms = 0;
    c->last_msg_ms = conn_now(c);
    c->counted_ws = true;
    s->ws_active++;
    log_event(LOG_INFO, c->id, "ws_open", "route=%s id=%s peer=%s", r->name, c->client_id, c->peer);
    c->h->open(s, c);
    return true;
}

/* Is origin one of ALLOWED_ORIGINS (comma-separated, exact match)? */
static bool conn_origin_allowed(const struct server *s, struct slice origin)
{
    const char *p = s->cfg.allowed_origins;
    while (origin.p && *p) {
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ')
            n--;
        if (n == origin.n && memcmp(p, origin.p, n) == 0)
            return true;
        p += strcspn(p, ",");
        p += strspn(p, ", ");
    }
    return false;
}

static void conn_set_cors(struct conn *c, struct conn_request *rq)
{
    const struct httpq_request *req = rq->req;
    rq->cors[0] = '\0';
    if (req->origin.p && req->origin.n < 256 && conn_origin_allowed(c->srv, req->origin))
        snprintf(rq->cors, sizeof rq->cors,
                 "Access-Control-Allow-Origin: %.*s\r\nAccess-Control-Allow-Credentials: true\r\n"
                 "Vary: Origin\r\n",
                 (int)req->origin.n, req->origin.p);
}

static const char conn_page_headers[] =
    "Content-Security-Policy: default-src 'self' 'unsafe-inline' blob: data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'\r\n"
    "Referrer-Policy: no-referrer\r\n";

static void conn_page(struct conn *c, const struct conn_request *rq, const struct conn_route *r)
{
    if (!conn_method_is(rq->req, "GET") && !conn_method_is(rq->req, "HEAD")) {
        conn_http_error(c, rq->cors, 405, "method not allowed", "Allow: GET, HEAD\r\n");
        return;
    }
    conn_http_respond_n(c, rq->cors, 200, conn_page_headers, "text/html; charset=utf-8",
                        (const char *)r->page, *r->page_len, !conn_method_is(rq->req, "HEAD"), rq->keep);
}

/* A JSON endpoint on an id (route->api), with CORS pre-flight. */
static void conn_api(struct conn *c, const struct conn_request *rq, const struct conn_route *r)
{
    const struct httpq_request *req = rq->req;
    bool get = strcmp(r->api_method, "GET") == 0; /* HEAD goes with GET */
    if (conn_method_is(req, "OPTIONS")) {
        if (!rq->cors[0]) {
            conn_http_error(c, rq->cors, 403, "origin not allowed", NULL);
            return;
        }
        char extra[256];
        snprintf(extra, sizeof extra,
                 "Access-Control-Allow-Methods: %s, OPTIONS\r\nAccess-Control-Allow-Headers: "
                 "Content-Type, Authorization\r\nAccess-Control-Max-Age: 600\r\n",
                 r->api_method);
        conn_http_respond(c, rq->cors, 204, extra, "text/plain", NULL, false, rq->keep);
        return;
    }
    const char *why, *extra;
    int refuse = guard_http(c->srv, c, req, conn_origin_allowed(c->srv, req->origin), &why, &extra);
    if (refuse) {
        conn_http_error(c, rq->cors, refuse, why, extra);
        return;
    }
    if (!conn_method_is(req, r->api_method) && !(get && conn_method_is(req, "HEAD"))) {
        char allow[64];
        snprintf(allow, sizeof allow, "Allow: %s%s, OPTIONS\r\n", r->api_method, get ? ", HEAD" : "");
        conn_http_error(c, rq->cors, 405, "method not allowed", allow);
        return;
    }
    char body[512];
    int st = r->api(c->srv, rq->m->id, body, sizeof body);
    conn_http_respond(c, rq->cors, st, NULL, "application/json", body, !conn_method_is(req, "HEAD"), rq->keep);
}

/* A WebSocket route: the dialect's own pre-upgrade check, then the upgrade. */
static void conn_ws_route(struct conn *c, const struct conn_request *rq, const struct conn_route *r)
{
    const char *body = r->pre_upgrade ? r->pre_upgrade(rq->req->query.p, rq->req->query.n) : NULL;
    if (body) {
        log_event(LOG_INFO, c->id, "http_error", "status=400 %s %s", r->name, body);
        metrics_inc(M_CONN_REFUSED, MRS_BAD_REQUEST, 0);
        conn_http_respond(c, rq->cors, 400, NULL, "application/json", body, true, false);
        return;
    }
    conn_upgrade(c, rq, r);
}

/* A page rendered per request (route->render: /metrics), behind its own
 * bearer token when one is set. */
static void conn_render(struct conn *c, const struct conn_request *rq, const struct conn_route *r)
{
    const struct httpq_request *req = rq->req;
    if (!conn_method_is(req, "GET") && !conn_method_is(req, "HEAD")) {
        conn_http_error(c, rq->cors, 405, "method not allowed", "Allow: GET, HEAD\r\n");
        return;
    }
    const char *why = NULL, *extra = NULL;
    int st = guard_page(c->srv, c, req, r->render_token, &why, &extra);
    if (st) {
        conn_http_error(c, rq->cors, st, why, extra);
        return;
    }
    if (conn_renders >= CONN_RENDERS_MAX) { /* not a refusal of the client: no refused_total reason */
        log_event(LOG_WARN, c->id, "render_busy", "%s: %u pages being sent", r->name, conn_renders);
        conn_http_respond(c, rq->cors, 503, "Retry-After: 1\r\n", "application/json",
                          "{\"error\":\"busy: other pages are being sent\",\"status\":503}", true, false);
        return;
    }
    size_t len = 0;
    char *body = r->render(&len);
    if (!body) {
        conn_http_error(c, rq->cors, 503, "out of memory", "Retry-After: 1\r\n");
        return;
    }
    bool head = conn_method_is(req, "HEAD");
    conn_http_respond_n(c, rq->cors, 200, NULL, r->render_ctype, body, len, !head, rq->keep);
    if (c->big == body) { /* streamed: freed once sent (or with the connection) */
        c->big_owned = c->big_render = true;
        conn_renders++;
    } else
        free(body); /* inline, not sent, or refused */
}

static const struct conn_route *conn_find_route(const struct server *s, enum route_id id)
{
    for (size_t i = 0; i < s->nroutes; i++)
        if (s->routes[i].route == id)
            return &s->routes[i];
    return NULL;
}

static void conn_route(struct conn *c, const struct httpq_request *req)
{
    struct route_match m;
    struct conn_request rq = {.req = req, .m = &m,
                              .keep = req->keep_alive && req->content_length <= 0 && !req->chunked &&
                                      !c->srv->shutting_down};
    conn_set_cors(c, &rq);
    enum route_id id = route_match(req->path.p, req->path.n, &m);
    const struct conn_route *r = conn_find_route(c->srv, id);
    c->metric_route = id == ROUTE_HEALTH ? MR_HEALTH : !r ? MR_NONE : r->render ? MR_METRICS
                    : r->page ? MR_PAGE : r->api ? MR_API : id == ROUTE_WS_CLIENT ? MR_CLIENT
                    : id == ROUTE_WS_STREAM ? MR_STREAM : id == ROUTE_SIO ? MR_SOCKET_IO : MR_NONE;
    if (id == ROUTE_HEALTH)
        conn_health(c, &rq);
    else if (r && r->page)
        conn_page(c, &rq, r);
    else if (r && r->api)
        conn_api(c, &rq, r);
    else if (r && r->ws)
        conn_ws_route(c, &rq, r);
    else if (r && r->render)
        conn_render(c, &rq, r);
    else if (id == ROUTE_BAD_ID)
        conn_http_error(c, rq.cors, 400, "invalid id: 1-64 characters of A-Z a-z 0-9 _ -", NULL);
    else if (id == ROUTE_BAD_PATH)
        conn_http_error(c, rq.cors, 400, "invalid path", NULL);
    else
        conn_http_error(c, rq.cors, 404, "not found", NULL);
}

static bool conn_process_http(struct conn *c)
{
    struct server *s = c->srv;
    while (c->state == CONN_HTTP && ring_len(&c->rx) && !c->close_after_flush) {
        if (conn_send_room(c, s) < CONN_HTTP_OUT_MAX) {
            c->paused = true; /* answer later; pipelined requests wait */
            return true;
        }
        ring_linearize(&c->rx);
        struct httpq_request req;
        int r = httpq_parse(&c->p.http, (const char *)c->rx.buf, ring_len(&c->rx), &req);
        if (r == 0) {
            if (ring_space(&c->rx) == 0)
                conn_http_error(c, "", 431, "request head too large", NULL);
            return true;
        }
        if (r < 0) {
            conn_http_error(c, "", httpq_status(r), "malformed request", NULL);
            return true;
        }
        /* The path only: the query may carry ?token= */
        log_event(LOG_DEBUG, c->id, "http_request", "%.*s %.*s%s", (int)req.method.n, req.method.p,
                  (int)req.path.n, req.path.p, req.query.n ? "?(query not logged)" : "");
        conn_route(c, &req); /* req points into rx: consume only afterwards */
        ring_consume(&c->rx, (uint32_t)r);
        httpq_reset(&c->p.http);
        if (c->state == CONN_HTTP)
            c->deadline_ms = conn_now(c) + s->cfg.handshake_timeout_ms;
    }
    return true;
}

/* ---- WebSocket ------------------------------------------------------ */

/* A refused message: the dialect answers it in its own shape, or, for a
 * client refused too often, the connection closes with 1008. */
static bool conn_refuse(struct server *s, struct conn *c, const char *what, bool binary, const uint8_t *p,
                        size_t n)
{
    if (c->state != CONN_WS)
        return false;
    if (!guard_strike(s, c, what)) {
        conn_close_ws(s, c, WS_CLOSE_POLICY, "rate limit exceeded repeatedly");
        return false;
    }
    char msg[200];
    snprintf(msg, sizeof msg, "rate limit exceeded: %s; this message was not processed", what);
    c->h->refused(s, c, binary, p, n, msg);
    return false;
}

bool conn_take_ai_turn(struct server *s, struct conn *c)
{
    char what[96];
    return guard_ai_turn(s, c, what, sizeof what) || conn_refuse(s, c, what, false, NULL, 0);
}

uint32_t conn_take_session(struct server *s, struct conn *c, uint64_t max)
{
    return guard_session_take(s, c, max);
}

void conn_give_session(struct server *s, uint32_t ticket) { guard_session_give(s, ticket); }

static void conn_deliver(struct conn *c, uint8_t opcode, const uint8_t *p, size_t n)
{
    struct server *s = c->srv;
    char what[96];
    c->last_msg_ms = conn_now(c);
    unsigned d = c->metric_route >= MR_CLIENT ? c->metric_route - MR_CLIENT : MD_COUNT;
    metrics_inc(M_WS_MESSAGES_IN, d, 0);
    metrics_add(M_WS_BYTES_IN, d, 0, n);
    if (!guard_message(s, c, n, what, sizeof what)) {
        conn_refuse(s, c, what, opcode != WSF_TEXT, p, n);
        return;
    }
    if (opcode == WSF_TEXT)
        c->h->text(s, c, p, n);
    else
        c->h->binary(s, c, p, n);
}

/* Returns false when the connection must stop processing. */
static bool conn_ws_data(struct conn *c, const struct wsf_event *ev)
{
    if (c->state != CONN_WS)
        return true; /* after our close frame, data is discarded (RFC 6455 1.4) */
    if (ev->msg_start && ev->msg_end && !c->msg) {
        conn_deliver(c, ev->opcode, ev->data, ev->len); /* zero-copy: whole message in view */
        return true;
    }
    if (ev->msg_start) {
        c->msg = pool_take(&c->srv->msg_pool);
        c->msg_len = 0;
        c->msg_opcode = (uint8_t)ev->opcode;
        if (!c->msg) {
            log_event(LOG_WARN, c->id, "message_buffers_exhausted", "limit=%u",
                      c->srv->msg_pool.limit);
            conn_close_ws(c->srv, c, WS_CLOSE_TRY_AGAIN, "server busy, try again later");
            return false;
        }
    }
    if (!c->msg)
        return true;
    /* The parser already refused messages above max_message_size. */
    memcpy(c->msg + c->msg_len, ev->data, ev->len);
    c->msg_len += ev->len;
    if (ev->msg_end) {
        conn_deliver(c, c->msg_opcode, c->msg, c->msg_len);
        conn_give_msg(c);
    }
    return true;
}

static bool conn_ws_control(struct conn *c, const struct wsf_event *ev)
{
    switch (ev->opcode) {
    case WSF_PING:
        if (c->state == CONN_WS)
            conn_send_frame(c, WSF_PONG, ev->data, ev->len);
        return true;
    case WSF_PONG:
        c->ping_out = false;
        return true;
    case WSF_CLOSE:
        log_event(LOG_INFO, c->id, "ws_close_received", "code=%u", ev->close_code);
        if (c->state == CONN_WS) {
            conn_send_close_frame(c, ev->close_code, NULL); /* echo the code */
            c->state = CONN_WS_CLOSING;
            c->close_after_flush = true;
            conn_give_msg(c);
            return false;
        }
        if (c->pending_close || conn_has_output(c)) {
            /* Ours still waits behind a streamed message, or is not out yet:
             * send the rest and our close, then drop the connection. */
            c->close_after_flush = true;
            return false;
        }
        conn_destroy(c, "close handshake complete");
        return false;
    default:
        return true;
    }
}

/* A data frame that fits the receive ring is left there until it is whole
 * (and made contiguous), so it reaches the app in place: the shared message
 * buffers are then needed only for fragmented or larger messages, and a
 * thousand clients streaming audio never compete for them. Returns false to
 * wait for more bytes. Everything else goes to the parser at once, so bad
 * headers are still refused on the byte that decides them. */
static bool conn_frame_in_view(struct conn *c)
{
    if (c->msg || !wsf_between_frames(&c->p.wsf))
        return true;
    uint8_t *p;
    uint32_t have = ring_len(&c->rx), span = ring_read_span(&c->rx, &p);
    if (span < have && span < 14) { /* a header split by the ring's end */
        ring_linearize(&c->rx);
        span = ring_read_span(&c->rx, &p);
    }
    uint64_t need = 0;
    int k = wsf_data_frame_size(p, span, &need);
    if (k == 0)
        return span < 14 && span == have; /* its length is on its way */
    if (k < 0 || need > c->rx.cap || need > c->srv->cfg.max_message_size)
        return true; /* the parser decides (and may refuse) at once */
    if (have < need) {
        if ((uint64_t)c->rx.head + need > c->rx.cap)
            ring_linearize(&c->rx); /* now, while the part to move is small */
        return false;
    }
    if (span < need)
        ring_linearize(&c->rx);
    return true;
}

/* Returns false if the connection was destroyed. */
static bool conn_process_ws(struct conn *c)
{
    struct server *s = c->srv;
    while (ring_len(&c->rx) && !c->close_after_flush) {
        if (conn_send_room(c, s) < CONN_REPLY_RESERVE) {
            c->paused = true;
            return true;
        }
        if (!conn_frame_in_view(c))
            return true; /* the rest of the frame is on its way */
        uint8_t *p;
        uint32_t n = ring_read_span(&c->rx, &p);
        struct wsf_event ev;
        ssize_t r = wsf_feed(&c->p.wsf, p, n, &ev);
        if (r < 0) {
            ring_consume(&c->rx, ring_len(&c->rx));
            conn_fail_ws(c, wsf_close_code((int)r), "protocol error");
            return true;
        }
        ring_consume(&c->rx, (uint32_t)r);
        if (ev.kind == WSF_EV_DATA && !conn_ws_data(c, &ev))
            return true;
        if (ev.kind == WSF_EV_CONTROL) {
            bool was_closing = c->state == CONN_WS_CLOSING && ev.opcode == WSF_CLOSE && !c->pending_close &&
                               !conn_has_output(c);
            if (!conn_ws_control(c, &ev))
                return !was_closing;
        }
    }
    return true;
}

static bool conn_process(struct conn *c)
{
    bool alive = true;
    if (c->state == CONN_HTTP)
        alive = conn_process_http(c);
    if (alive && (c->state == CONN_WS || c->state == CONN_WS_CLOSING))
        alive = conn_process_ws(c);
    if (alive)
        conn_give_ring(&c->srv->rx_pool, &c->rx);
    return alive;
}

/* ---- socket events -------------------------------------------------- */

static void conn_update_events(struct conn *c)
{
    short ev = 0;
    if (!c->paused)
        ev |= POLLIN;
    if (conn_has_output(c))
        ev |= POLLOUT;
    loop_set_events(&c->srv->loop, c->slot, ev);
}

static void conn_enter_linger(struct conn *c)
{
    /* Shutting the write side first and reading to EOF keeps the peer's
     * pending bytes from turning our final response into a reset. */
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_LINGER;
    c->close_after_flush = false;
    c->paused = false;
    c->deadline_ms = conn_now(c) + CONN_LINGER_MS;
    c->rx.len = 0;
    conn_give_ring(&c->srv->rx_pool, &c->rx);
}

/* Returns false if the connection was destroyed. */
static bool conn_flush(struct conn *c)
{
    struct server *s = c->srv;
    while (c->tx.buf && ring_len(&c->tx)) {
        uint8_t *p;
        uint32_t n = ring_read_span(&c->tx, &p);
        ssize_t w = write(c->fd, p, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_destroy(c, "write failed");
            return false;
        }
        ring_consume(&c->tx, (uint32_t)w);
        c->tx_stall_ms = conn_now(c);
    }
    if (c->big || c->queued)
        conn_big_pump(c);
    if (c->tx.buf && ring_len(&c->tx) == 0) {
        conn_give_ring(&s->tx_pool, &c->tx);
        c->tx_stall_ms = 0;
    }
    if (c->want_drain && conn_send_room(c, s) >= s->cfg.tx_buffer_size / 2) {
        c->want_drain = false;
        if (c->h && c->h->drain)
            c->h->drain(s, c);
    }
    if (c->close_after_flush && !conn_has_output(c)) {
        conn_enter_linger(c);
        return true;
    }
    if (c->paused && conn_send_room(c, s) >= CONN_HTTP_OUT_MAX) {
        c->paused = false;
        return conn_process(c);
    }
    return true;
}

static bool conn_read_linger(struct conn *c)
{
    ssize_t r = read(c->fd, c->srv->scratch, sizeof c->srv->scratch);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        conn_destroy(c, "closed after final response");
        return false;
    }
    return true;
}

static bool conn_read(struct conn *c)
{
    struct server *s = c->srv;
    if (c->state == CONN_LINGER)
        return conn_read_linger(c);
    if (!conn_take_ring(&s->rx_pool, &c->rx)) {
        conn_destroy(c, "receive buffer unavailable");
        return false;
    }
    uint8_t *p;
    uint32_t span = ring_write_span(&c->rx, &p);
    if (span == 0) {
        c->paused = true; /* a full ring that could not be processed */
        return true;
    }
    ssize_t r = read(c->fd, p, span);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return true;
        conn_destroy(c, "read failed");
        return false;
    }
    if (r == 0) {
        conn_destroy(c, c->state == CONN_WS ? "peer closed without close frame (1006)"
                                            : "peer closed");
        return false;
    }
    ring_commit(&c->rx, (uint32_t)r);
    c->last_rx_ms = conn_now(c);
    c->ping_out = false; /* any traffic proves the peer is alive */
    return conn_process(c);
}

static void conn_on_event(void *ctx, short revents)
{
    struct conn *c = ctx;
    if (revents & POLLNVAL) {
        conn_destroy(c, "invalid descriptor");
        return;
    }
    if ((revents & POLLOUT) && !conn_flush(c))
        return;
    if ((revents & (POLLHUP | POLLERR)) && c->paused) {
        conn_destroy(c, "peer gone while paused"); /* poll cannot mask HUP: do not spin */
        return;
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && !c->paused) {
        /* Ten pings in one read get their ten pongs in one write, not ten. */
        c->batching = true;
        if (!conn_read(c))
            return;
        c->batching = false;
        if (conn_has_output(c) && !conn_flush(c))
            return;
    }
    if (c->close_after_flush && !conn_has_output(c) && c->state != CONN_LINGER)
        conn_enter_linger(c);
    conn_update_events(c);
}

/* ---- lifecycle ------------------------------------------------------ */

static void conn_destroy(struct conn *c, const char *why)
{
    struct server *s = c->srv;
    log_event(LOG_INFO, c->id, "close", "%s%s%s", why, c->client_id[0] ? " id=" : "", c->client_id);
    if (c->counted_ws) {
        c->h->close(s, c);
        s->ws_active--;
    }
    guard_on_close(s, c);
    loop_del(&s->loop, c->slot);
    close(c->fd);
    c->rx.len = c->tx.len = 0;
    conn_give_ring(&s->rx_pool, &c->rx);
    conn_give_ring(&s->tx_pool, &c->tx);
    conn_give_msg(c);
    if (c->big_owned)
        free((void *)c->big);
    conn_renders -= c->big_render;
    while (c->queued) {
        struct conn_msg *m = c->queued;
        c->queued = m->next;
        free(m->text);
        free(m);
    }
    uint32_t idx = (uint32_t)(c - s->conns);
    if (c->refused)
        s->refusing--;
    else
        s->active--;
    *c = (struct conn){0}; /* srv == NULL marks a free entry */
    s->free_list[s->free_top++] = idx;
}

static void conn_format_peer(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    snprintf(out, cap, "%s:%u", host, port);
}

static void conn_refuse_full(struct server *s, int fd)
{
    static const char resp[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Content-Length: 50\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        "{\"error\":\"too many connections\",\"status\":503}\n\n\n";
    ssize_t w = write(fd, resp, sizeof resp - 1); /* best effort: never blocks */
    (void)w;
    shutdown(fd, SHUT_WR);
    close(fd);
    metrics_inc(M_CONN_REFUSED, MRS_MAX_CONNECTIONS, 0);
    log_event(LOG_WARN, 0, "connection_refused", "max_connections=%llu reached",
              (unsigned long long)s->cfg.max_connections);
}

static void conn_accept_one(struct server *s, int fd, const struct sockaddr_storage *ss)
{
    bool over = s->shutting_down || s->active >= s->cfg.max_connections;
    if (s->free_top == 0 || (over && s->refusing >= SERVER_REFUSE_SLOTS)) {
        conn_refuse_full(s, fd);
        return;
    }
    uint32_t idx = s->free_list[--s->free_top];
    struct conn *c = &s->conns[idx];
    *c = (struct conn){.srv = s, .fd = fd, .slot = -1, .id = ++s->next_id, .state = CONN_HTTP};
    if (idx + 1 > s->conns_used)
        s->conns_used = idx + 1;
    c->p.http = (struct httpq_parser){.max_head = s->cfg.max_header_size,
                                      .max_target = s->cfg.max_header_size,
                                      .max_headers = s->cfg.max_headers};
    c->deadline_ms = s->loop.now_ms + s->cfg.handshake_timeout_ms;
    c->last_rx_ms = s->loop.now_ms;
    conn_format_peer(ss, c->peer, sizeof c->peer);
    guard_on_accept(c, ss);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->refused = over;
    if (over)
        s->refusing++;
    else
        s->active++;
    if (loop_add(&s->loop, fd, POLLIN, conn_on_event, c, &c->slot) != 0) {
        conn_destroy(c, "event loop full");
        return;
    }
    log_event(LOG_DEBUG, c->id, "accept", "peer=%s", c->peer);
    if (!over)
        metrics_inc(M_CONN_ACCEPTED, 0, 0);
    const char *why;
    if (!over && !guard_accept(s, c, &why)) {
        conn_http_error(c, "", 429, why, "Retry-After: 10\r\n");
        conn_update_events(c);
        return;
    }
    if (over) {
        /* A spare slot lets the 503 go out through the normal path, lingering
         * so the client reads it instead of a reset. */
        conn_http_error(c, "", 503, s->shutting_down ? "server shutting down" : "too many connections",
                        "Retry-After: 1\r\n");
        conn_update_events(c);
    }
}

void conn_on_listen(void *ctx, short revents)
{
    struct server *s = ctx;
    (void)revents;
    for (int i = 0; i < CONN_ACCEPT_BURST; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_accept_one(s, fd, &ss);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE) {
            /* Out of descriptors: free the spare, accept and refuse, so the
             * pending connection does not keep poll() spinning. */
            if (s->spare_fd >= 0) {
                close(s->spare_fd);
                int x = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (x >= 0)
                    conn_refuse_full(s, x);
                s->spare_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            }
            log_event(LOG_WARN, 0, "accept_failed", "out of file descriptors");
        }
        return;
    }
}

/* Called every loop tick: deadlines, heartbeats, stalled senders. */
/* A dialect that let a reply finish after SIGTERM (its shutdown handler)
 * still closes with 1001: this long before the drain ends, whatever is
 * open gets the close, so the peers' answers and the dialects' last saves
 * (their close handlers) fit before the loop stops. Half the drain when it
 * is shorter than two of these. */
#define CONN_SHUTDOWN_MARGIN_MS 1000

static bool conn_shutdown_due(const struct server *s, uint64_t now)
{
    uint64_t margin = s->cfg.shutdown_timeout_ms < 2 * CONN_SHUTDOWN_MARGIN_MS ? s->cfg.shutdown_timeout_ms / 2
                                                                                : CONN_SHUTDOWN_MARGIN_MS;
    return s->shutting_down && now + margin >= s->shutdown_deadline_ms;
}

void conn_sweep(struct server *s)
{
    uint64_t now = s->loop.now_ms;
    const struct server_config *cfg = &s->cfg;
    for (uint32_t i = 0; i < s->conns_used; i++) {
        struct conn *c = &s->conns[i];
        if (!c->srv)
            continue;
        if (c->tx_stall_ms && now - c->tx_stall_ms >= cfg->send_timeout_ms) {
            conn_destroy(c, "send stalled: client not reading");
            continue;
        }
        switch (c->state) {
        case CONN_HTTP:
            if (conn_has_output(c)) /* a response is draining: SEND_TIMEOUT guards it */
                c->deadline_ms = now + cfg->handshake_timeout_ms;
            else if (c->deadline_ms && now >= c->deadline_ms) {
                if (c->rx.buf && ring_len(&c->rx)) {
                    conn_http_error(c, "", 408, "request head not received in time", NULL);
                    conn_update_events(c);
                } else {
                    conn_destroy(c, "handshake timeout");
                }
            }
            break;
        case CONN_WS:
            if (conn_shutdown_due(s, now)) {
                conn_close_ws(s, c, WS_CLOSE_GOING_AWAY, "server shutting down");
            } else if (cfg->idle_timeout_ms && now - c->last_msg_ms >= cfg->idle_timeout_ms) {
                conn_close_ws(s, c, WS_CLOSE_GOING_AWAY, "idle timeout");
            } else if (c->ping_out && now - c->ping_sent_ms >= cfg->pong_timeout_ms) {
                conn_close_ws(s, c, WS_CLOSE_INTERNAL, "keepalive ping timeout");
            } else if (!c->ping_out && now - c->last_rx_ms >= cfg->ping_interval_ms &&
                       conn_send_room(c, s) >= CONN_REPLY_RESERVE) {
                uint8_t payload[8];
                for (int b = 0; b < 8; b++)
                    payload[b] = (uint8_t)(now >> (8 * b));
                conn_send_frame(c, WSF_PING, payload, sizeof payload);
                c->ping_out = true;
                c->ping_sent_ms = now;
                conn_update_events(c);
            }
            break;
        case CONN_WS_CLOSING:
        case CONN_LINGER:
            if (c->deadline_ms && now >= c->deadline_ms)
                conn_destroy(c, c->state == CONN_LINGER ? "linger done" : "close timeout");
            break;
        }
    }
}

/* Graceful stop: every WebSocket gets close 1001; idle HTTP connections go. */
void conn_shutdown_all(struct server *s)
{
    for (uint32_t i = 0; i < s->conns_used; i++) {
        struct conn *c = &s->conns[i];
        if (!c->srv)
            continue;
        if (c->state == CONN_WS && c->h && c->h->shutdown)
            c->h->shutdown(s, c);
        else if (c->state == CONN_WS)
            conn_close_ws(s, c, WS_CLOSE_GOING_AWAY, "server shutting down");
        else if (c->state == CONN_HTTP && !(c->rx.buf && ring_len(&c->rx)) &&
                 !(c->tx.buf && ring_len(&c->tx)))
            conn_destroy(c, "server shutting down");
    }
}

void conn_collect_metrics(void *srv)
{
    static const uint8_t state[] = {[CONN_HTTP] = MS_HTTP, [CONN_WS] = MS_WEBSOCKET,
                                    [CONN_WS_CLOSING] = MS_CLOSING, [CONN_LINGER] = MS_LINGER};
    struct server *s = srv;
    for (unsigned r = 0; r < MR_COUNT; r++)
        for (unsigned k = 0; k < MS_COUNT; k++)
            metrics_set(M_CONNECTIONS, r, k, 0);
    for (uint32_t i = 0; i < s->conns_used; i++) {
        const struct conn *c = &s->conns[i];
        if (c->srv)
            metrics_set(M_CONNECTIONS, c->metric_route, state[c->state],
                        metrics_get(M_CONNECTIONS, c->metric_route, state[c->state]) + 1);
    }
}

#undef CONN_REPLY_RESERVE
#undef CONN_LINGER_MS
#undef CONN_ACCEPT_BURST
#undef CONN_HTTP_OUT_MAX
#undef CONN_INLINE_BODY
#undef CONN_QUEUE_MAX
#undef CONN_RENDERS_MAX
#undef CONN_SHUTDOWN_MARGIN_MS
