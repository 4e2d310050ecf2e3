/* Access control and limits against abuse, applied to one connection: the
 * bearer token, the Origin rule and the per-IP cap on upgrades, the token on
 * the /api/stream/... HTTP endpoints, and the per-connection token buckets on
 * WebSocket messages and AI turns. Decisions come from the pure access.c and
 * ratelimit.c; this file only applies them. A refused message is answered
 * with an error RATE_LIMITED (never dropped silently); a client that keeps
 * being refused is closed with 1008. This file decides and logs; conn.c acts
 * (the dialect's refused handler, or the close).
 * deps: access.c ratelimit.c log.c */
#ifndef GUARD_H
#define GUARD_H
#include "parse/base.h"
#include "parse/http_req.h"

struct server;
struct conn;
struct sockaddr_storage;

struct shared_bus;
/* Count AI_TURNS_PER_MINUTE_PER_IP and AUTH_FAILURES_PER_MINUTE across
 * instances too (bus != NULL, wired by interview.c over Redis): each taken
 * turn and each failed credential increments a Redis key per address and
 * wall-clock minute; the total that comes back refuses the address here
 * once it reaches the limit, whichever instance counted it. The local
 * budgets stay and are the only ones while Redis is down. */
void guard_set_bus(struct server *s, const struct shared_bus *bus);
/* With a bus, MAX_WEBSOCKETS_PER_IP counts the address's WebSockets on the
 * other instances too: each instance keeps its share in Redis (refreshed by
 * this, every server tick, a slice of the table at a time) and refuses once
 * its own plus the others' last known reach the limit. */
void guard_tick(void *ctx);

/* The per-address table (server_init): GUARD_PEERS_PER_CONN entries per
 * connection slot, rounded up to a power of two; 0, or -1 out of memory. */
int guard_init(struct server *s);

/* The TCP peer as the client address until a trusted proxy says otherwise. */
void guard_on_accept(struct conn *c, const struct sockaddr_storage *ss);

/* MAX_CONNECTIONS_PER_IP at accept (a trusted proxy's connections are not
 * counted: its clients are, by X-Forwarded-For, on upgrade). true to serve;
 * false: refuse with 429 (*why says why, logged). */
bool guard_accept(struct server *s, struct conn *c, const char **why);
/* The connection is gone: its count on its address goes. */
void guard_on_close(struct server *s, struct conn *c);

/* A session counted on c's address against max: a ticket (slot + 1), 0 over
 * max or when the table has no room for the address. */
uint32_t guard_session_take(struct server *s, struct conn *c, uint64_t max);
void guard_session_give(struct server *s, uint32_t ticket);

/* An upgrade request that passed the RFC 6455 checks. Returns 0 to accept,
 * else the HTTP status to refuse with (*why: the error text; *extra: header
 * lines): 403 for a Host not in ALLOWED_HOSTS or a foreign Origin. *echo is
 * the Sec-WebSocket-Protocol value to select in the 101
 * (the client's own "bearer.<t>" offer), n == 0 for none. origin_listed: the
 * Origin is in ALLOWED_ORIGINS. */
int guard_upgrade(struct server *s, struct conn *c, const struct httpq_request *req, bool origin_listed,
                  struct slice *echo, const char **why, const char **extra);

/* The Host rule (ALLOWED_HOSTS), one credential at most (400), the
 * AUTH_FAILURES_PER_MINUTE budget of the address (429) and the bearer token for the /api/stream/...
 * HTTP endpoints: 0, 400, 401, 403 or 429. */
int guard_http(struct server *s, struct conn *c, const struct httpq_request *req, bool origin_listed,
               const char **why, const char **extra);

/* A whole WebSocket data message of n bytes: true to process it; false when
 * a per-connection bucket refused it, with what (a phrase naming the limit)
 * written to what[cap]. */
bool guard_message(struct server *s, struct conn *c, size_t n, char *what, size_t cap);

/* A message that starts an AI pipeline (a turn or a transcription): the same
 * against AI_TURNS_PER_MINUTE (the connection) and AI_TURNS_PER_MINUTE_PER_IP
 * (its address, which keeps its budget across reconnects). */
bool guard_ai_turn(struct server *s, struct conn *c, char *what, size_t cap);

/* A refusal counts as a strike (logged): true while the client may still be
 * told; false once it was refused more than RATE_LIMIT_STRIKES times faster
 * than one per second (the caller closes with 1008). */
bool guard_strike(struct server *s, struct conn *c, const char *what);
#endif
