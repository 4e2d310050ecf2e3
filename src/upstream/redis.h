/* Our Redis client, on the server's loop: non-blocking connect (resolver.c,
 * tls.c: redis:// plain TCP, rediss:// TLS verified against the process's CA
 * chain, i.e. SSL_CERT_FILE or the built-in bundle), AUTH [user] password,
 * SELECT db, then commands pipelined on one connection with a FIFO of
 * pending callbacks, and a second connection for pub/sub.
 *
 * Contract for callers (sessions, the seed 004 bus, the address limits):
 *   - redis_command() either refuses at once (-1: Redis is down, or the
 *     fixed queue / write buffer is full: backpressure) and never calls back,
 *     or returns 0 and calls back exactly once, later, from the loop (never
 *     inside redis_command), with a reply or a failure: REDIS_DOWN (the
 *     connection was lost) or REDIS_TIMEOUT (no reply within REDIS_TIMEOUT;
 *     the connection is then dropped and rebuilt, since a RESP stream cannot
 *     skip a reply). An error reply (-ERR ...) is a reply (status REDIS_OK,
 *     type RESP_ERR).
 *   - redis_forget(r, ud) before freeing ud: its pending callbacks are
 *     dropped (never called).
 *   - subscriptions live on the pub/sub connection and are renewed after
 *     every reconnect; messages may be lost while it is down.
 *   - state listeners hear up/down transitions of the command connection.
 *   - reconnects back off exponentially (REDIS_BACKOFF_MIN_MS doubling to
 *     REDIS_BACKOFF_MAX_MS, +-25 % jitter); one log line per outage (down with
 *     the reason, up with its length); failures counted in struct redis_stats.
 * Timers are a timerfd in the loop (precise to the millisecond, unlike the
 * 250 ms server tick). The password is never logged.
 * deps: parse/resp.c io/loop.c io/log.c io/clock.c io/rand.c upstream/resolver.c
 * upstream/tls.c, mbedTLS */
#ifndef REDIS_H
#define REDIS_H
#include "parse/base.h"
#include "parse/redis_url.h"
#include "parse/resp.h"
#include "io/loop.h"

/* Commands in flight at once (per client). Past this redis_command refuses:
 * Redis at 200 ms timeout and ~100k ops/s never needs more; a full queue means
 * it is slow, and callers fall back to local state. */
#define REDIS_QUEUE_MAX 4096
#define REDIS_ARGS_MAX 32    /* arguments of one command */
#define REDIS_SUBS_MAX 32    /* channels subscribed */
#define REDIS_CHANNEL_MAX 256
#define REDIS_LISTENERS_MAX 8 /* redis_on_state listeners */
/* Loop slots one client takes: its two connections, its timer, its resolver's pipe. */
#define REDIS_LOOP_SLOTS 4

enum redis_status {
    REDIS_OK = 0,
    REDIS_DOWN = -1,    /* the connection was lost (or the client destroyed) before the reply */
    REDIS_TIMEOUT = -2, /* no reply within the timeout */
};

/* A parsed REDIS_URL. */
struct redis_config {
    struct redis_url url; /* from REDIS_URL; url.password is never logged */
    uint64_t timeout_ms;  /* per command; REDIS_TIMEOUT, default 200 */
    char prefix[64];      /* key/channel prefix, REDIS_PREFIX, default "interview:" */
};

struct redis;

/* reply: the parsed reply (reply->size slots), valid only during the call;
 * NULL when status != REDIS_OK. */
typedef void (*redis_reply_fn)(void *ud, int status, const struct resp_value *reply);
/* A message on a subscribed channel (channel is the full name, prefix included). */
typedef void (*redis_message_fn)(void *ud, const char *channel, size_t chlen, const char *msg, size_t len);
typedef void (*redis_state_fn)(void *ud, bool up);

/* Create the client and start connecting (both connections). NULL + err on
 * setup failure (not on an unreachable server: that is just "down"). */
struct redis *redis_new(struct loop *loop, const struct redis_config *cfg, char *err, size_t errlen);
/* Sends or queues argv[0..argc) (lens NULL: NUL-terminated strings). 0: cb
 * will be called exactly once (cb may be NULL: fire and forget); -1: refused
 * (down, argc outside 1..REDIS_ARGS_MAX, queue or write buffer full), no call. */
int redis_command(struct redis *r, int argc, const char *const *argv, const size_t *lens,
                  redis_reply_fn cb, void *ud);
/* Drop every pending callback whose ud is ud (their replies are read and discarded). */
void redis_forget(struct redis *r, void *ud);
/* Subscribe to channel (full name) for the client's lifetime. 0, or -1 when
 * REDIS_SUBS_MAX channels are taken or the name is too long. */
int redis_subscribe(struct redis *r, const char *channel, redis_message_fn fn, void *ud);
/* Hear up/down transitions of the command connection. 0, or -1 (full). */
int redis_on_state(struct redis *r, redis_state_fn fn, void *ud);
/* true when commands are accepted now */
bool redis_is_up(const struct redis *r);
/* The configured key prefix ("interview:"). */
const char *redis_prefix(const struct redis *r);

/* Plain counters (the metrics endpoint reads these). */
struct redis_stats {
    uint64_t commands;        /* accepted by redis_command */
    uint64_t replies;         /* delivered with REDIS_OK */
    uint64_t refused;         /* redis_command returned -1 */
    uint64_t failed_down;     /* called back with REDIS_DOWN */
    uint64_t failed_timeout;  /* called back with REDIS_TIMEOUT */
    uint64_t connects;        /* connection attempts (both connections) */
    uint64_t outages;         /* up -> down transitions */
    uint64_t messages;        /* pub/sub messages delivered */
    uint32_t pending;         /* commands waiting for a reply now */
    bool up, sub_up;
};
void redis_get_stats(const struct redis *r, struct redis_stats *st);
/* Close both connections; pending callbacks are called with REDIS_DOWN
 * first (from inside redis_destroy). */
void redis_destroy(struct redis *r);
#endif
