/* The saved interviews in Redis (REDIS_URL): session.c's remote backend over
 * the Redis client, so an interview saved by one instance is resumed on
 * another (README "Running more than one instance").
 *
 * Keys (REDIS_PREFIX in front): session:<id> = the blob (SET PX SESSION_TTL,
 * GETDEL on resume), owner:<id> = the instance holding the live connection.
 * A take publishes "<instance> <id>" on sessions:taken, so another instance
 * holding a live connection of id saves it and closes it with 4000; when the
 * blob is not there yet but another instance owned the id, the take asks
 * again for up to SESSION_REDIS_HANDOFF_MS. Redis down or slow: every call
 * is refused or times out (REDIS_TIMEOUT) and session.c's local store answers.
 * deps: session.c redis.c */
#ifndef SESSION_REDIS_H
#define SESSION_REDIS_H
#include "parse/base.h"

struct redis;

#define SESSION_REDIS_HANDOFF_MS 1500 /* the old owner's save reaches Redis (a pub/sub hop and a SET) */
#define SESSION_REDIS_RETRY_MS 100    /* between asks during a hand-off (the tick rounds up to 250 ms) */

/* Plug Redis in as session.c's remote; instance is this process's id. */
/* ttl_ms (SESSION_TTL) bounds the blobs and the owner keys. */
int session_redis_attach(struct redis *r, const char *instance, uint64_t ttl_ms);
/* Every tick: takes waiting for a hand-off ask again. */
void session_redis_tick(uint64_t now_ms);
void session_redis_detach(void);
#endif
