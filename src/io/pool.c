/* deps: none */
#include "io/pool.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define POOL_PAGE 4096 /* madvise granularity (x86-64 and arm64 base pages) */

void pool_release_pages(void *p, size_t n)
{
    uintptr_t a = ((uintptr_t)p + POOL_PAGE - 1) & ~(uintptr_t)(POOL_PAGE - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~(uintptr_t)(POOL_PAGE - 1);
    if (p && b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

void pool_free_big(void *p)
{
    if (p)
        pool_release_pages(p, malloc_usable_size(p));
    free(p);
}

int pool_init(struct pool *p, size_t size, uint32_t limit, uint32_t keep)
{
    *p = (struct pool){.size = size, .limit = limit, .keep = keep < limit ? keep : limit};
    if (p->keep) {
        p->cache = calloc(p->keep, sizeof(void *));
        if (!p->cache)
            return -1;
    }
    return 0;
}

void *pool_take(struct pool *p)
{
    if (p->in_use >= p->limit)
        return NULL;
    void *b = p->cached ? p->cache[--p->cached] : malloc(p->size);
    if (!b)
        return NULL;
    p->in_use++;
    if (p->in_use > p->high_water)
        p->high_water = p->in_use;
    return b;
}

void pool_give(struct pool *p, void *buf)
{
    if (!buf)
        return;
    p->in_use--;
    if (p->cached < p->keep) {
        p->cache[p->cached++] = buf;
    } else {
        pool_release_pages(buf, p->size);
        free(buf);
    }
}

void pool_free(struct pool *p)
{
    while (p->cached)
        free(p->cache[--p->cached]);
    free(p->cache);
    p->cache = NULL;
}
