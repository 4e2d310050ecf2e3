/* The state several instances share, as the layers below interview.c see it:
 * a message bus (publish/subscribe) and a few key operations. interview.c
 * fills it in over the Redis client (upstream/redis.c) when REDIS_URL is set;
 * without it no bus is wired and everything stays local. Dialects and guard.c
 * reach Redis only through this, so they include no upstream header.
 *
 * Every operation may refuse (false: Redis down, or its queue full): the
 * caller then goes on with local state. Nothing blocks; answers come later
 * from the loop. Channel and key names are given without the REDIS_PREFIX,
 * which the implementation adds. deps: none (interface only) */
#ifndef BUS_H
#define BUS_H
#include "parse/base.h"

#define BUS_INSTANCE_LEN 16 /* hex characters of an instance id */

typedef void (*bus_message_fn)(void *ud, const char *msg, size_t len);
typedef void (*bus_state_fn)(void *ud, bool up);
/* The counter's value after the increment, or -1 when no answer came. */
typedef void (*bus_count_fn)(void *ud, int64_t value);
/* A GET's value (valid only during the call), or NULL when the key is
 * missing or no answer came (Redis down, timeout). */
typedef void (*bus_value_fn)(void *ud, const char *val, size_t len);

struct shared_bus {
    void *ctx;
    /* this process's id (random, hex), for messages that must not come back to it */
    char instance[BUS_INSTANCE_LEN + 1];
    bool (*up)(void *ctx);
    bool (*publish)(void *ctx, const char *channel, const char *msg, size_t len);
    /* every message on channel, this instance's own included; for the process's lifetime */
    bool (*subscribe)(void *ctx, const char *channel, bus_message_fn fn, void *ud);
    /* hear Redis come and go (at most a few listeners) */
    bool (*on_state)(void *ctx, bus_state_fn fn, void *ud);
    /* SET key val PX ttl_ms (fire and forget) */
    bool (*set)(void *ctx, const char *key, const char *val, size_t len, uint64_t ttl_ms);
    /* GET key; cb called exactly once, later, from the loop (unless forgotten) */
    bool (*get)(void *ctx, const char *key, bus_value_fn cb, void *ud);
    /* DEL key (fire and forget) */
    bool (*del)(void *ctx, const char *key);
    /* INCRBY key by, PEXPIRE key ttl_ms when it was created; cb (may be NULL) with the value */
    bool (*incr)(void *ctx, const char *key, int64_t by, uint64_t ttl_ms, bus_count_fn cb, void *ud);
    /* this instance's share of a count kept by several (the WebSockets of an
     * address): value for ttl_ms (0 = none); cb (may be NULL) with the sum of
     * the other instances' live shares. Shares carry a wall-clock expiry, so
     * a crashed instance's share lapses after ttl_ms */
    bool (*gauge)(void *ctx, const char *key, uint32_t value, uint64_t ttl_ms, bus_count_fn cb, void *ud);
    /* drop the pending callbacks of ud (before freeing it) */
    void (*forget)(void *ctx, void *ud);
};
#endif
