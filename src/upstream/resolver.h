/* Non-blocking name resolution for the poll loop: one helper thread runs
 * getaddrinfo(AF_UNSPEC, SOCK_STREAM) for hosts posted by the loop thread
 * through a mutex-protected fixed queue; answers come back through a pipe
 * registered in the loop, so the loop thread never blocks. Answers are cached
 * per host for cache_ms (at most RESOLVER_CACHE_MAX hosts, oldest evicted).
 *
 * Callbacks never run inside resolver_lookup(): even a cache hit is reported
 * from the pipe callback on the next loop pass. A query is owned by the
 * caller (no allocation here) and must stay alive until its callback ran or
 * resolver_cancel() was called. deps: loop.c */
#ifndef RESOLVER_H
#define RESOLVER_H
#include <sys/socket.h>

#include "parse/base.h"
#include "io/loop.h"

#define RESOLVER_MAX_ADDRS 8
#define RESOLVER_CACHE_MAX 16
#define RESOLVER_QUEUE_MAX 16 /* distinct hosts being looked up at once */
#define RESOLVER_HOST_MAX 256

struct resolver_addr {
    struct sockaddr_storage ss; /* port 0: the caller sets it */
    socklen_t len;
};

struct resolver_query;
typedef void (*resolver_cb)(void *ctx, struct resolver_query *q);

struct resolver_query {
    /* results, valid inside the callback */
    int err;          /* 0, or an EAI_* code (gai_strerror()) */
    int naddrs;       /* in getaddrinfo order */
    bool from_cache;
    struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
    /* private */
    resolver_cb cb;
    void *ctx;
    char host[RESOLVER_HOST_MAX];
    struct resolver_query *next;
    bool linked, done;
};

struct resolver;

struct resolver *resolver_create(struct loop *loop, uint64_t cache_ms, char *err, size_t errlen);
/* Start a lookup; the callback runs later from the loop. Returns 0, or -1 when
 * the host name is too long (nothing is called back then). */
int resolver_lookup(struct resolver *r, struct resolver_query *q, const char *host,
                    resolver_cb cb, void *ctx);
/* Forget a query whose callback has not run yet (no-op otherwise). */
void resolver_cancel(struct resolver *r, struct resolver_query *q);
void resolver_stats(const struct resolver *r, uint64_t *lookups, uint64_t *cache_hits);
/* Joins the helper thread (waits for a getaddrinfo() in progress). */
void resolver_destroy(struct resolver *r);
#endif
