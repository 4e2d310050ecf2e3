/* The server: its settings, the shared pools, the connection table, the
 * route table and the tick hooks that interview.c registers, and the run
 * loop (server.c). What a connection is lives in conn.h.
 * deps: conn.c loop.c pool.c ring.c log.c clock.c guard.c */
#ifndef SERVER_H
#define SERVER_H
#include "parse/access.h"
#include "parse/base.h"
#include "io/conn.h"
#include "io/loop.h"
#include "io/pool.h"

/* The settings of this layer (interview.c fills them from the environment
 * and flags; README "Configuration" says what each means). */
struct server_config {
    char host[64];
    uint16_t port;
    uint64_t max_connections;
    uint64_t max_header_size;  /* whole request head, bytes */
    uint64_t max_headers;      /* header lines */
    uint64_t max_message_size; /* one WebSocket message, bytes */
    uint64_t rx_buffer_size;   /* per-client receive ring, bytes */
    uint64_t tx_buffer_size;   /* per-client send ring, bytes */
    uint64_t message_buffers;  /* shared assembly buffers of max_message_size */
    uint64_t json_max_depth;   /* nesting accepted in a JSON message (the dialects validate) */
    uint64_t handshake_timeout_ms;
    uint64_t idle_timeout_ms; /* 0 = off */
    uint64_t ping_interval_ms;
    uint64_t pong_timeout_ms;
    uint64_t send_timeout_ms;
    uint64_t close_timeout_ms;
    uint64_t shutdown_timeout_ms;
    char allowed_origins[2048]; /* comma-separated, for CORS and the upgrade Origin rule */
    char allowed_hosts[2048];   /* comma-separated Host names besides IP literals and localhost (DNS rebinding) */
    /* access control and limits against abuse (guard.c) */
    char auth_token[ACCESS_TOKEN_MAX + 1]; /* never logged; empty = no token required */
    struct access_cidr trusted[ACCESS_CIDR_MAX]; /* TRUSTED_PROXIES, parsed */
    size_t ntrusted;
    uint64_t ws_messages_per_sec, ws_messages_burst, ws_bytes_per_sec, ws_bytes_burst;
    uint64_t ai_turns_per_minute, rate_limit_strikes, max_websockets_per_ip;
    uint64_t max_connections_per_ip;       /* TCP connections per address (IPv6: per /64), at accept */
    uint64_t ai_turns_per_minute_per_ip;   /* AI requests per address per minute, across its connections */
    uint64_t auth_failures_per_minute;     /* failed credentials per address before 429 */
    uint32_t extra_slots; /* loop slots for outgoing connections (upstream, job fetch, resolver pipes) */
};

#define SERVER_REFUSE_SLOTS 64 /* extra slots beyond max_connections, to say 503 politely */
#define SERVER_MAX_TICKS 8     /* tick hooks: one per module that keeps time */

typedef void (*server_tick_fn)(void *ctx);

struct server {
    struct server_config cfg;
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
    const struct conn_route *routes; /* registered by interview.c */
    size_t nroutes;
    struct guard_peer *peers; /* guard.c: per-address state, GUARD_PEERS_PER_CONN x connections */
    uint32_t npeers;          /* a power of two */
    struct { server_tick_fn fn; void *ctx; } ticks[SERVER_MAX_TICKS];
    size_t nticks;
    bool shutting_down;
    uint64_t shutdown_deadline_ms;
    uint8_t scratch[4096]; /* discard buffer for lingering reads */
};

int server_init(struct server *s);
/* Called on every loop tick (SERVER_TICK_MS) after the connection sweep;
 * -1 when all SERVER_MAX_TICKS hooks are taken. */
int server_add_tick(struct server *s, server_tick_fn fn, void *ctx);
int server_run(struct server *s);
void server_request_stop(struct server *s);
#endif
