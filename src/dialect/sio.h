/* Seed 003's transport: Engine.IO v4 + Socket.IO v5 over WebSocket only, on
 * /socket.io/?EIO=4&transport=websocket. One Engine.IO connection per
 * WebSocket (open packet, server heartbeat, close on a missed pong); on it
 * one Socket.IO socket in the main namespace, which outlives its connection
 * for SIO_RECOVERY_WINDOW so a client that reconnects with {pid, offset}
 * (Socket.IO 4.6+ connection state recovery) gets the same socket back and
 * the events it missed, in order. Every server EVENT carries its offset as
 * the last argument, as socket.io does with recovery on.
 *
 * The coach (coach.c) sees a socket only through sio_emit(); this module
 * answers through conn_send_* only and never touches a socket.
 * deps: sio_packet.c jsonv.c route.c, cJSON, mbedTLS (ctr_drbg) */
#ifndef SIO_H
#define SIO_H
#include <cJSON.h>

#include "parse/base.h"
#include "io/conn.h"
#include "io/bus.h"

struct server;
struct conn;
struct sio_sock;

#define SIO_MAX_ATTACH 4 /* binary attachments accepted on one packet */

/* What runs on a Socket.IO socket (the coach, registered by interview.c):
 * sio.c calls it through these, never by name. */
struct sio_app {
    void *(*create)(struct server *s, struct sio_sock *k); /* per socket; NULL: out of memory */
    void (*destroy)(void *app);                             /* no sio_emit afterwards */
    bool (*event_known)(const char *name);
    bool (*event_starts_ai)(const char *name); /* counted by AI_TURNS_PER_MINUTE */
    /* args: the packet's array (args[0] is the name); the app may take
     * attachments (att[i] set to NULL); sio frees the rest. */
    void (*on_event)(void *app, const char *name, const cJSON *args, uint8_t **att, const size_t *att_len,
                     uint32_t natt);
    /* Recovery on another instance (sio_set_bus): the app's state as JSON
     * (NULL: out of memory), and that state put into a fresh app (false:
     * malformed, the app left as created). Work in flight is not carried. */
    cJSON *(*save)(void *app);
    bool (*restore)(void *app, const cJSON *state);
};

struct sio_config {
    const struct sio_app *app;
    uint64_t ping_interval_ms, ping_timeout_ms; /* SIO_PING_INTERVAL, SIO_PING_TIMEOUT */
    uint64_t connect_timeout_ms;                /* SIO_CONNECT_TIMEOUT */
    uint64_t recovery_window_ms;                /* SIO_RECOVERY_WINDOW, 0 = no recovery */
    uint64_t replay_events, replay_bytes;       /* SIO_REPLAY_EVENTS, SIO_REPLAY_BYTES */
    uint64_t max_sessions;                      /* COACH_MAX_SESSIONS */
    uint64_t max_sessions_per_ip;               /* COACH_MAX_SESSIONS_PER_IP */
    uint64_t max_attachment_bytes;              /* COACH_MAX_AUDIO_BYTES: all attachments of one packet */
};

extern const struct conn_handlers sio_handlers;

void sio_setup(const struct sio_config *cfg);

/* Sockets shared through Redis (interview.c, when REDIS_URL is set): a
 * dropped socket (recovery state, replay buffer, the app's save()) is kept
 * under "sio:{pid}" for SIO_RECOVERY_WINDOW, saved again when it changes
 * while dropped, so a recovery CONNECT on another instance restores it; the
 * instance that restores it tells the others (channel "sio:claim") to free
 * their copy. Without a bus, or with Redis down: local recovery only. */
void sio_set_bus(const struct shared_bus *bus);

/* The route's pre-upgrade check: NULL when the handshake query may upgrade,
 * else the Engine.IO JSON error body to send with 400 (e.g.
 * transport=polling: Transport unknown). */
const char *sio_handshake_error(const char *query, size_t n);

/* Every loop tick (ctx: the server): heartbeats, connect timeouts, expiry of
 * dropped sockets. */
void sio_tick(void *ctx);

/* For the coach. Emit EVENT [event, data] (data may be NULL; taken) to the
 * socket, or BINARY_EVENT when att != NULL (taken, malloc'd; data must hold
 * the one placeholder sio_placeholder(0)). The event gets the next offset
 * and joins the replay buffer; sent now if the socket is connected, on
 * recovery otherwise. False only when out of memory. */
bool sio_emit(struct sio_sock *k, const char *event, cJSON *data, uint8_t *att, size_t att_len);
/* {"_placeholder":true,"num":i} */
cJSON *sio_placeholder(int i);
/* Index of the attachment node stands for, or -1. */
int sio_attachment_index(const cJSON *node, uint32_t natt);
/* Connection id for log lines (0 while the socket is detached). */
uint64_t sio_log_id(const struct sio_sock *k);
struct server *sio_server(const struct sio_sock *k);
/* Socket counts for tests and logs. */
uint32_t sio_sockets(void);
#endif
