/* One client connection: HTTP/1.1 requests, then possibly a WebSocket.
 *
 * The contract with the layers above fits here:
 * - A route (struct conn_route) says what a path is: a page, a JSON endpoint
 *   on an id, or a WebSocket whose messages go to a dialect's handlers. The
 *   routes are registered by interview.c (server.routes); conn.c looks them
 *   up and calls through them, and knows no dialect by name.
 * - Handlers (struct conn_handlers) are called on the loop thread with a whole
 *   message; they answer through conn_send_* only and never touch a socket.
 *   Each call may queue at most CONN_REPLY_RESERVE (1 KiB) beyond what the
 *   send ring has room for; larger output goes through the queued sends.
 * - A dialect keeps its own state in c->app and its own list of its
 *   connections; it never walks the server's connection table.
 * deps: http_req.c route.c ws_frame.c ring.c pool.c loop.c log.c clock.c guard.c */
#ifndef CONN_H
#define CONN_H
#include "parse/access.h"
#include "parse/base.h"
#include "parse/http_req.h"
#include "parse/ratelimit.h"
#include "parse/route.h"
#include "parse/ws_frame.h"
#include "io/ring.h"

struct server;
struct conn;

/* A dialect: what happens on an upgraded connection. Every handler is
 * required but drain, which a dialect that never calls conn_want_drain()
 * leaves NULL, and shutdown. */
struct conn_handlers {
    void (*open)(struct server *s, struct conn *c);
    void (*text)(struct server *s, struct conn *c, const uint8_t *p, size_t n);
    void (*binary)(struct server *s, struct conn *c, const uint8_t *p, size_t n);
    /* The send ring drained after conn_want_drain(): produce more. */
    void (*drain)(struct server *s, struct conn *c);
    void (*close)(struct server *s, struct conn *c);
    /* A message the rate limits refused (p == NULL: an AI request refused
     * after parsing, see conn_take_ai_turn), to answer with RATE_LIMITED in
     * the dialect's own shape. The message was not processed. */
    void (*refused)(struct server *s, struct conn *c, bool binary, const uint8_t *p, size_t n,
                    const char *message);
    /* Optional: the server is stopping (SIGTERM). The dialect closes c with
     * 1001 when it is ready (a reply still being sent may finish first);
     * 1 s before SHUTDOWN_TIMEOUT ends (half of it when shorter than 2 s)
     * conn.c closes what is still open with 1001. NULL: 1001 at once. */
    void (*shutdown)(struct server *s, struct conn *c);
};

/* A JSON endpoint on an id (/api/stream/status/{id}): writes the body into
 * out and returns the HTTP status. */
typedef int (*conn_api_fn)(struct server *s, const char *id, char *out, size_t cap);

/* One entry of the route table: route_match() classifies a path, the entry
 * with that route says what to do. Exactly one of page, api, ws and render is set. */
struct conn_route {
    enum route_id route;
    const char *name; /* for log lines */
    /* A page: GET/HEAD, static bytes. */
    const unsigned char *page;
    const size_t *page_len;
    /* A JSON endpoint on an id: method ("GET", which admits HEAD too, or
     * "DELETE"), behind the bearer token, with CORS pre-flight. */
    const char *api_method;
    conn_api_fn api;
    /* A WebSocket endpoint. pre_upgrade may refuse before the RFC 6455
     * checks with a JSON body sent as 400 (Engine.IO's own errors); NULL
     * means no check. */
    const struct conn_handlers *ws;
    const char *(*pre_upgrade)(const char *query, size_t n);
    /* A text page rendered per request (/metrics): GET/HEAD; render returns
     * a malloc'd body that the connection frees once sent (NULL: 503). With
     * a non-empty render_token, "Authorization: Bearer <token>" is required:
     * 401 otherwise (compared in constant time, never logged). */
    char *(*render)(size_t *len);
    const char *render_ctype;
    const char *render_token;
};

/* The largest message a dialect sends to many clients at once (a chat
 * broadcast) or as one piece (reply audio): half a send ring less room for
 * the events around it, so a broadcast costs no memory beyond the rings. */
#define CONN_PIECE_MAX(tx_buffer_size) ((tx_buffer_size) / 2 - 512)

enum conn_state {
    CONN_HTTP,       /* reading a request head (first, or next on keep-alive) */
    CONN_WS,         /* WebSocket open */
    CONN_WS_CLOSING, /* we sent close; waiting for the peer's close */
    CONN_LINGER,     /* response sent, write side shut; discarding input until EOF */
};

/* A message waiting for the send ring (see conn_send_text_queued). */
struct conn_msg {
    struct conn_msg *next;
    char *text;
    size_t len;
    uint8_t opcode; /* WSF_TEXT, or WSF_BINARY (conn_send_binary_queued) */
};

struct conn {
    struct server *srv;
    int fd;
    int slot; /* loop slot index, -1 when not registered */
    uint64_t id;
    enum conn_state state;
    const struct conn_handlers *h; /* the dialect, once upgraded */
    bool paused;        /* not reading: send ring too full to answer more */
    bool close_after_flush;
    bool ping_out;      /* a server ping awaits its pong */
    bool counted_ws;    /* included in ws_active */
    bool refused;       /* in a spare slot only to be told 503 */
    bool want_drain;    /* the dialect waits for send room (h->drain) */
    bool batching;      /* in its own read event: replies gather in tx, one write at the end */
    uint8_t msg_opcode; /* opcode of the message being assembled in msg */
    uint64_t deadline_ms;   /* handshake / linger / close deadline, 0 = none */
    uint64_t last_rx_ms;    /* any bytes received */
    uint64_t last_msg_ms;   /* last data message received (idle timeout) */
    uint64_t ping_sent_ms;
    uint64_t tx_stall_ms;   /* when the send ring last made no progress, 0 = flowing */
    struct ring rx, tx;
    const char *big; /* one large body or message being streamed through tx */
    bool big_owned;  /* free(big) when done */
    bool big_render; /* big is a rendered page (route->render), counted against CONN_RENDERS_MAX */
    size_t big_len, big_off;
    struct conn_msg *queued; /* messages waiting behind big, in order */
    uint8_t nqueued;
    uint16_t pending_close;     /* close frame waiting for the large message */
    const char *pending_reason; /* static string */
    uint8_t *msg;  /* borrowed assembly buffer, NULL when none */
    size_t msg_len;
    union { /* the HTTP parser is done before the WebSocket parser starts */
        struct httpq_parser http;
        struct wsf_parser wsf;
    } p;
    uint8_t metric_route; /* enum metrics_route: the gauges' and counters' route/dialect label */
    char client_id[ROUTE_ID_MAX + 1];
    char peer[56]; /* INET6_ADDRSTRLEN + ":65535"; the believed client after an upgrade */
    struct conn_guard {            /* guard.c: who the client is and what it has used */
        struct access_addr addr;   /* TCP peer, or the X-Forwarded-For client behind a trusted proxy */
        struct rl_bucket msgs, bytes, turns, strikes;
        uint32_t peer;             /* entry in the per-address table counting this connection + 1; 0 none */
        uint32_t ws_peer;          /* entry counting this WebSocket for other instances + 1; 0 none */
    } guard;
    void *app; /* dialect state */
};

/* The listening socket is ready: accept what is pending. */
void conn_on_listen(void *ctx, short revents);
/* Every loop tick: deadlines, heartbeats, stalled senders. */
void conn_sweep(struct server *s);
/* Graceful stop: every WebSocket gets 1001; idle HTTP connections go. */
void conn_shutdown_all(struct server *s);
/* A metrics collector (metrics_add_collector, ctx = the server): open
 * connections by route and state. */
void conn_collect_metrics(void *srv);

/* Is the WebSocket open for sending (upgraded, no close frame sent)? */
static inline bool conn_is_open(const struct conn *c) { return c->state == CONN_WS; }

/* For dialects. Each returns false when the send ring lacks room (the caller
 * must not assume the bytes were sent) or the connection is closing. A text
 * message too large for the ring is copied and streamed (conn_send_text_owned). */
bool conn_send_text(struct server *s, struct conn *c, const char *json, size_t n);
bool conn_send_binary(struct server *s, struct conn *c, const void *p, size_t n);
/* Bytes a dialect may queue now without hitting backpressure. */
size_t conn_send_room(const struct conn *c, const struct server *s);
/* Send a text message of any size: the connection takes ownership of json
 * (malloc'd) and streams it through the send ring; until it is out, nothing
 * else is sent and reading pauses. */
bool conn_send_text_owned(struct server *s, struct conn *c, char *json, size_t n);
/* Like conn_send_text, but when the ring is full the message waits in a
 * short per-client queue (in order, streamed later) instead of failing; a
 * client with CONN_QUEUE_MAX messages waiting is closed with 1013. */
bool conn_send_text_queued(struct server *s, struct conn *c, const char *json, size_t n);
/* The same for a binary message (Socket.IO attachments must follow their
 * packet in order, whatever the ring holds). */
bool conn_send_binary_queued(struct server *s, struct conn *c, const void *p, size_t n);
/* Remove the queued messages (conn_send_*_queued) that have not started on
 * the socket and for which drop(m, ctx) is true; order of the rest is kept.
 * Bytes already in the send ring, and the message being streamed, stay
 * (they may be half written). Returns how many were dropped. For a dialect
 * that withdraws output nobody should get any more (barge-in: the reply
 * audio the candidate talked over). */
size_t conn_drop_queued(struct conn *c, bool (*drop)(const struct conn_msg *m, void *ctx), void *ctx);
/* Ask for h->drain once the send ring has room again. */
void conn_want_drain(struct conn *c);
/* Start the closing handshake with code (enum ws_close) and a short static reason. */
void conn_close_ws(struct server *s, struct conn *c, uint16_t code, const char *reason);
/* A message that starts an AI request (a turn, a transcription): true when
 * the per-connection AI budget allows it; false when it was refused (the
 * dialect's refused handler has answered, or the connection is closing). */
bool conn_take_ai_turn(struct server *s, struct conn *c);

/* A session that outlives its connection (the coach's): a ticket on the
 * client's address, 0 when the address already holds max sessions (the
 * caller refuses, or frees one of its own and asks again). Give it back with
 * conn_give_session() when the session ends. Tickets of the same address are
 * equal. */
uint32_t conn_take_session(struct server *s, struct conn *c, uint64_t max);
void conn_give_session(struct server *s, uint32_t ticket);
#endif
