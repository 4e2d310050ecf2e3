/* The server: configuration, shared pools, the connection table, and the
 * per-connection state machine (conn.c). Dialects (app_*.c) see a connection
 * only through the conn_* send/close calls declared here; they never touch a
 * socket. deps: every parser, ring.c, pool.c, loop.c, log.c, clock.c */
#ifndef SERVER_H
#define SERVER_H
#include "parse/base.h"
#include "io/loop.h"
#include "io/pool.h"
#include "io/ring.h"
#include "parse/access.h"
#include "parse/http_req.h"
#include "parse/ratelimit.h"
#include "upstream/jobfetch.h"
#include "parse/route.h"
#include "pipeline/turn.h"
#include "upstream/upstream.h"
#include "parse/ws_frame.h"

struct config {
    char host[64];
    uint16_t port;
    char openai_api_key[256]; /* never logged, never echoed */
    char openai_base_url[1024];
    char ssl_cert_file[1024];
    uint64_t max_connections;
    uint64_t max_header_size;  /* whole request head, bytes */
    uint64_t max_headers;      /* header lines */
    uint64_t max_message_size; /* one WebSocket message, bytes */
    uint64_t rx_buffer_size;   /* per-client receive ring, bytes */
    uint64_t tx_buffer_size;   /* per-client send ring, bytes */
    uint64_t message_buffers;  /* shared assembly buffers of max_message_size */
    uint64_t json_max_depth;
    uint64_t handshake_timeout_ms;
    uint64_t idle_timeout_ms; /* 0 = off */
    uint64_t ping_interval_ms;
    uint64_t pong_timeout_ms;
    uint64_t send_timeout_ms;
    uint64_t close_timeout_ms;
    uint64_t shutdown_timeout_ms;
    char stt_model[64], stt_language[16], stt_prompt[512];
    char chat_model[64];
    double temperature;
    uint64_t max_tokens;
    char system_prompt_file[1024];
    char tts_model[64], tts_voice[64];
    unsigned tts_format; /* enum turn_format */
    uint64_t audio_chunk_bytes;
    uint64_t max_answer_seconds;
    uint64_t history_messages;
    uint64_t upstream_max_inflight, upstream_pool_size, upstream_max_retries;
    uint64_t upstream_connect_timeout_ms, upstream_tls_timeout_ms, upstream_first_byte_timeout_ms;
    uint64_t upstream_idle_timeout_ms, upstream_total_timeout_ms, dns_cache_ms;
    char allowed_origins[2048]; /* comma-separated, for CORS and the upgrade Origin rule */
    /* access control and limits against abuse (guard.c) */
    char auth_token[ACCESS_TOKEN_MAX + 1]; /* never logged; empty = no token required */
    char auth_token_file[1024], openai_api_key_file[1024];
    char trusted_proxies[2048];
    struct access_cidr trusted[ACCESS_CIDR_MAX]; /* parsed trusted_proxies */
    size_t ntrusted;
    uint64_t ws_messages_per_sec, ws_messages_burst, ws_bytes_per_sec, ws_bytes_burst;
    uint64_t ai_turns_per_minute, rate_limit_strikes, max_websockets_per_ip;
    /* job-posting fetch (seed 003 coach, jobfetch.c) */
    char job_url_allowed_hosts[2048];
    uint64_t job_url_max_bytes, job_url_timeout_ms;
    char job_url_test_allow_addresses[512]; /* test-only SSRF escape, "" = off */
    /* seed 003: Socket.IO and the coach (sio.c, coach.c) */
    uint64_t sio_ping_interval_ms, sio_ping_timeout_ms, sio_connect_timeout_ms;
    uint64_t sio_recovery_window_ms, sio_replay_events, sio_replay_bytes;
    uint64_t coach_max_sessions, coach_max_posting, coach_max_resume;
    uint64_t coach_max_audio_bytes, coach_max_answer_seconds;
    unsigned log_format; /* enum log_format */
    unsigned log_level;  /* enum log_level */
};

enum conn_state {
    CONN_HTTP,      /* reading a request head (first, or next on keep-alive) */
    CONN_WS,        /* WebSocket open */
    CONN_WS_CLOSING,/* we sent close; waiting for the peer's close */
    CONN_LINGER,    /* response sent, write side shut; discarding input until EOF */
};

/* A text message waiting for the send ring (see conn_send_text_queued). */
struct conn_msg {
    struct conn_msg *next;
    char *text;
    size_t len;
    uint8_t opcode; /* WSF_TEXT, or WSF_BINARY (conn_send_binary_queued) */
};

#define SERVER_REFUSE_SLOTS 64 /* extra slots beyond max_connections, to say 503 politely */

struct server;
struct ai;

struct conn {
    struct server *srv;
    int fd;
    int slot; /* loop slot index, -1 when not registered */
    uint64_t id;
    enum conn_state state;
    enum route_id route;
    bool paused;        /* not reading: send ring too full to answer more */
    bool close_after_flush;
    bool ping_out;      /* a server ping awaits its pong */
    bool counted_ws;    /* included in ws_active */
    bool refused;       /* in a spare slot only to be told 503 */
    bool want_drain;    /* the app waits for send room (app_on_drain) */
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
    size_t big_len, big_off;
    struct conn_msg *queued; /* messages waiting behind big, in order */
    uint8_t nqueued;
    uint16_t pending_close;    /* close frame waiting for the large message */
    const char *pending_reason; /* static string */
    uint8_t *msg;  /* borrowed assembly buffer, NULL when none */
    size_t msg_len;
    union { /* the HTTP parser is done before the WebSocket parser starts */
        struct httpq_parser http;
        struct wsf_parser wsf;
    } p;
    char client_id[ROUTE_ID_MAX + 1];
    char peer[56]; /* INET6_ADDRSTRLEN + ":65535"; the believed client after an upgrade */
    struct conn_guard {            /* guard.c: who the client is and what it has used */
        struct access_addr addr;   /* TCP peer, or the X-Forwarded-For client behind a trusted proxy */
        struct rl_bucket msgs, bytes, turns, strikes;
    } guard;
    void *app; /* dialect state */
};

struct server {
    struct config cfg;
    struct loop loop;
    int listen_fd;
    int listen_slot;
    int signal_fd;   /* read end of the self-pipe */
    int signal_slot;
    struct pool rx_pool, tx_pool, msg_pool;
    struct conn *conns; /* max_connections + SERVER_REFUSE_SLOTS entries; free ones have srv == NULL */
    uint32_t conns_used; /* high-water index + 1 of the table, for sweeps */
    uint32_t free_top;
    uint32_t *free_list;
    int spare_fd; /* closed to accept-and-refuse when out of descriptors */
    uint32_t active;    /* connections counted against max_connections */
    uint32_t refusing;  /* spare slots in use to send 503 */
    uint32_t ws_active; /* WebSocket connections */
    uint64_t next_id;
    struct up_client *up;   /* OpenAI client */
    struct ai *ai;          /* the AI calls for turns and dialects (temporary bridge) */
    struct jobfetch_client *jobs; /* job-posting fetch (never NULL once wired; may be disabled) */
    struct turn_config turn;
    bool shutting_down;
    uint64_t shutdown_deadline_ms;
    uint8_t scratch[4096]; /* discard buffer for lingering reads */
};

int server_init(struct server *s);
int server_run(struct server *s);
void server_request_stop(struct server *s);

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
/* Ask for app_on_drain() once the send ring has room again. */
void conn_want_drain(struct conn *c);
/* Start the closing handshake with code and a short reason. */
void conn_close_ws(struct server *s, struct conn *c, uint16_t code, const char *reason);
#endif
