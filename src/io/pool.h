/* A bounded pool of equal-sized buffers. Buffers are allocated on first use
 * and at most `limit` exist at once, so memory is bounded by configuration;
 * up to `keep` released buffers stay cached to avoid allocator churn, the rest
 * go back to the system (pages first) so an idle server shrinks. deps: none. */
#ifndef POOL_H
#define POOL_H
#include "parse/base.h"

struct pool {
    size_t size;    /* bytes per buffer */
    uint32_t limit; /* buffers that may exist at once */
    uint32_t keep;  /* released buffers kept cached */
    uint32_t in_use;
    uint32_t cached;
    uint32_t high_water;
    void **cache; /* keep slots */
};

int pool_init(struct pool *p, size_t size, uint32_t limit, uint32_t keep);
/* NULL when limit buffers are in use (or the system refuses memory). */
void *pool_take(struct pool *p);
void pool_give(struct pool *p, void *buf);
void pool_free(struct pool *p);

/* Gives the whole pages inside [p, p + n) back to the kernel; they read as
 * zeros if touched again. For a block about to be freed: the allocator keeps
 * freed blocks resident for reuse, so blocks that many connections filled at
 * once (send rings, reply audio, uploads) would otherwise hold the burst's
 * high-water mark for good. The allocator's own bytes around the block are
 * never touched (whole pages inside it only). */
void pool_release_pages(void *p, size_t n);
/* free(p), its whole pages given back first (malloc_usable_size): for blocks
 * of several pages that a burst allocates by the hundred (TLS record
 * buffers, upstream connections and requests). */
void pool_free_big(void *p);
#endif
