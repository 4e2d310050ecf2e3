/* deps: none */
#include "io/ring.h"

#include <string.h>

void ring_init(struct ring *r, uint8_t *buf, uint32_t cap)
{
    r->buf = buf;
    r->cap = cap;
    r->head = 0;
    r->len = 0;
}

uint32_t ring_read_span(const struct ring *r, uint8_t **p)
{
    *p = r->buf + r->head;
    uint32_t to_end = r->cap - r->head;
    return r->len < to_end ? r->len : to_end;
}

void ring_consume(struct ring *r, uint32_t n)
{
    if (n > r->len)
        n = r->len;
    r->len -= n;
    /* An empty ring restarts at 0 so the next write span is as long as possible. */
    r->head = r->len ? (uint32_t)(((uint64_t)r->head + n) % r->cap) : 0;
}

uint32_t ring_write_span(const struct ring *r, uint8_t **p)
{
    uint32_t tail = (uint32_t)(((uint64_t)r->head + r->len) % (r->cap ? r->cap : 1));
    *p = r->buf + tail;
    if (r->len == r->cap)
        return 0;
    return tail >= r->head ? r->cap - tail : r->head - tail;
}

void ring_commit(struct ring *r, uint32_t n)
{
    uint32_t space = r->cap - r->len;
    r->len += n < space ? n : space;
}

uint32_t ring_write(struct ring *r, const void *p, uint32_t n)
{
    const uint8_t *src = p;
    uint32_t done = 0;
    while (done < n) {
        uint8_t *dst;
        uint32_t span = ring_write_span(r, &dst);
        if (span == 0)
            break;
        uint32_t k = n - done < span ? n - done : span;
        memcpy(dst, src + done, k);
        ring_commit(r, k);
        done += k;
    }
    return done;
}

static void ring_reverse(uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n / 2; i++) {
        uint8_t t = p[i];
        p[i] = p[n - 1 - i];
        p[n - 1 - i] = t;
    }
}

void ring_linearize(struct ring *r)
{
    if (r->head == 0)
        return;
    uint32_t first = r->cap - r->head; /* stored bytes from head to the end */
    if (r->len <= first) { /* not wrapped: one move of the stored bytes */
        memmove(r->buf, r->buf + r->head, r->len);
        r->head = 0;
        return;
    }
    uint32_t second = r->len - first, gap = r->cap - r->len;
    if (first <= gap) { /* wrapped, but the head part fits the gap: two moves */
        memmove(r->buf + first, r->buf, second);
        memmove(r->buf, r->buf + r->head, first);
        r->head = 0;
        return;
    }
    /* Rotating the whole buffer left by head (three reversals) moves the
     * stored bytes, wrapped or not, to the front without a second buffer. */
    ring_reverse(r->buf, r->head);
    ring_reverse(r->buf + r->head, r->cap - r->head);
    ring_reverse(r->buf, r->cap);
    r->head = 0;
}
