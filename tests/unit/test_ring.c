// deps: src/io/ring.c src/io/pool.c
#include <stdlib.h>

#include "io/pool.h"
#include "io/ring.h"
#include "t.h"

/* The ring against a trivially correct model: a FIFO kept in a flat array. */
static void ring_model_test(uint32_t cap, unsigned seed)
{
    uint8_t *buf = malloc(cap), model[4096];
    uint32_t mlen = 0;
    uint8_t next = 0;
    struct ring r;
    ring_init(&r, buf, cap);
    srand(seed);
    int ok = 1;
    for (int step = 0; step < 20000; step++) {
        if (rand() % 2) {
            uint8_t tmp[64];
            uint32_t n = (uint32_t)(rand() % 64);
            for (uint32_t i = 0; i < n; i++)
                tmp[i] = next++;
            uint32_t w = ring_write(&r, tmp, n);
            uint32_t want = n < cap - mlen ? n : cap - mlen;
            ok &= w == want;
            memcpy(model + mlen, tmp, w);
            mlen += w;
            next = (uint8_t)(next - (n - w));
        } else {
            uint8_t *p;
            uint32_t span = ring_read_span(&r, &p);
            uint32_t n = span ? (uint32_t)rand() % (span + 1) : 0;
            ok &= memcmp(p, model, n) == 0;
            ring_consume(&r, n);
            memmove(model, model + n, mlen - n);
            mlen -= n;
        }
        ok &= ring_len(&r) == mlen && ring_space(&r) == cap - mlen;
        if (step % 97 == 0) {
            ring_linearize(&r);
            uint8_t *p;
            ok &= ring_read_span(&r, &p) == mlen && memcmp(p, model, mlen) == 0;
        }
    }
    CHECK(ok);
    free(buf);
}

/* ring_linearize at every head and length of small rings: wrapped or not,
 * head part fitting the gap or not, the bytes keep their order from buf[0]. */
static void ring_linearize_test(void)
{
    uint8_t b[13];
    int bad = 0;
    for (uint32_t cap = 1; cap <= sizeof b; cap++)
        for (uint32_t head = 0; head < cap; head++)
            for (uint32_t len = 0; len <= cap; len++) {
                struct ring r;
                ring_init(&r, b, cap);
                memset(b, 0xEE, sizeof b);
                for (uint32_t i = 0; i < len; i++)
                    b[(head + i) % cap] = (uint8_t)(i + 1);
                r.head = head;
                r.len = len;
                ring_linearize(&r);
                uint8_t *p;
                bad += r.head != 0 || r.len != len || (len && ring_read_span(&r, &p) != len);
                for (uint32_t i = 0; i < len; i++)
                    bad += b[i] != (uint8_t)(i + 1);
            }
    CHECK(bad == 0);
}

int main(void)
{
    ring_linearize_test();
    ring_model_test(1, 1);
    ring_model_test(7, 2);
    ring_model_test(64, 3);
    ring_model_test(1000, 4);

    struct ring r;
    uint8_t b[8], *p;
    ring_init(&r, b, 8);
    CHECK(ring_write(&r, "abcdefghij", 10) == 8);
    CHECK(ring_write_span(&r, &p) == 0); /* full: no space to read(2) into */
    ring_consume(&r, 6);
    CHECK(ring_write(&r, "XYZ", 3) == 3); /* wraps */
    CHECK(ring_read_span(&r, &p) == 2 && memcmp(p, "gh", 2) == 0);
    ring_linearize(&r);
    CHECK(ring_read_span(&r, &p) == 5 && memcmp(p, "ghXYZ", 5) == 0);
    ring_consume(&r, 5);
    CHECK(ring_len(&r) == 0 && ring_write_span(&r, &p) == 8); /* empty restarts at 0 */

    struct pool pl;
    CHECK(pool_init(&pl, 100, 2, 1) == 0);
    void *a = pool_take(&pl), *c = pool_take(&pl);
    CHECK(a && c && pool_take(&pl) == NULL); /* bounded */
    pool_give(&pl, a);
    CHECK(pl.in_use == 1 && pl.cached == 1);
    pool_give(&pl, c); /* beyond keep: returned to the system */
    CHECK(pl.in_use == 0 && pl.cached == 1 && pl.high_water == 2);
    void *d = pool_take(&pl);
    CHECK(d == a); /* the cached buffer is reused */
    pool_give(&pl, d);
    pool_free(&pl);
    return T_DONE();
}
