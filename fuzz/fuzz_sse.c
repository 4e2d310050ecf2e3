// deps: src/parse/sse.c
/* Three-way differential fuzzer for sse_feed: feeding the stream whole,
 * feeding it in input-driven pieces (each in its own exact-size allocation so
 * ASan sees any read past a piece), and a whole-buffer reference written
 * straight from the WHATWG "interpreting an event stream" steps (split into
 * lines first, then process each). All three must log the same dispatched
 * events and the same final error; event invariants are asserted on the way.
 *
 * Input layout: stream bytes, then one option byte:
 *   bits 0-1  data buffer size (4096, 1, 8, 64; 0 when bit 4 is set)
 *   bits 2-3  piece-size mask (0: one byte at a time ... 255)
 *   bit 4     buffer size 0 */
#include "parse/sse.h"

#include <stdlib.h>
#include <string.h>

#define FZ_CHECK(c)                                                            \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

static const size_t fz_caps[4] = {4096, 1, 8, 64};
static const size_t fz_masks[4] = {0, 3, 31, 255};

/* Event records "name \0 len data" and the final error. */
struct fz_log {
    uint8_t *b;
    size_t n, cap;
    int err;
};

static void fz_put(struct fz_log *l, const void *p, size_t n)
{
    FZ_CHECK(l->n + n <= l->cap);
    if (n)
        memcpy(l->b + l->n, p, n);
    l->n += n;
}

static void fz_event(struct fz_log *l, const char *name, size_t namelen, const char *data, size_t len)
{
    fz_put(l, name, namelen);
    fz_put(l, "", 1);
    fz_put(l, &len, sizeof len);
    fz_put(l, data, len);
}

static bool fz_init(struct fz_log *l, size_t n)
{
    /* fewer events than input bytes, each logging a name of <= SSE_EVENT_MAX,
     * a NUL, a length and data; all data together is shorter than the input */
    l->cap = (n + 1) * (sizeof(size_t) + SSE_EVENT_MAX + 2) + n;
    l->b = malloc(l->cap);
    l->n = 0;
    l->err = 0;
    return l->b != NULL;
}

/* ---- the parser under test ------------------------------------------------------ */

static void fz_feed(struct sse_parser *p, struct fz_log *l, const uint8_t *in, size_t n)
{
    size_t used = 0;
    while (used < n && l->err == 0) {
        struct sse_event ev;
        ssize_t k = sse_feed(p, in + used, n - used, &ev);
        if (k < 0) {
            FZ_CHECK(k == SSE_E_TOO_BIG || k == SSE_E_BAD);
            FZ_CHECK(!ev.ready);
            FZ_CHECK(sse_feed(p, in, n, &ev) == k); /* errors are sticky */
            l->err = (int)k;
            return;
        }
        FZ_CHECK((size_t)k <= n - used);
        FZ_CHECK(ev.ready ? k > 0 : (size_t)k == n - used); /* early stop only after an event */
        used += (size_t)k;
        if (!ev.ready)
            continue;
        size_t nl = strlen(ev.event);
        FZ_CHECK(nl > 0 && nl <= SSE_EVENT_MAX);
        FZ_CHECK(p->cap > 0 && ev.len < p->cap && ev.data == p->buf && ev.data[ev.len] == '\0');
        for (size_t i = 0; i < ev.len; i++)
            FZ_CHECK(ev.data[i] != '\0' && ev.data[i] != '\r');
        for (size_t i = 0; i < nl; i++)
            FZ_CHECK(ev.event[i] != '\r' && ev.event[i] != '\n');
        fz_event(l, ev.event, nl, ev.data, ev.len);
    }
}

/* ---- the reference ---------------------------------------------------------------- */

struct fz_ref {
    size_t cap;
    char *data; /* unbounded data buffer (input size) */
    size_t len;
    bool has_data;
    char name[SSE_EVENT_MAX + 1];
    size_t namelen;
};

static bool fz_is(const uint8_t *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* One line; "complete" is false for a line the stream ends inside, which can
 * still overflow a limit (the parser checks byte by byte) but dispatches
 * nothing, and whose field name is not final until a ':' is seen. */
static int fz_ref_line(struct fz_ref *r, struct fz_log *l, const uint8_t *s, size_t n, bool complete)
{
    if (n == 0) {
        if (!complete)
            return 0;
        if (r->has_data) {
            if (r->namelen)
                fz_event(l, r->name, r->namelen, r->data, r->len);
            else
                fz_event(l, "message", 7, r->data, r->len);
        }
        r->len = 0;
        r->has_data = false;
        r->namelen = 0;
        return 0;
    }
    if (s[0] == ':')
        return 0;
    const uint8_t *colon = memchr(s, ':', n);
    if (!complete && colon == NULL)
        return 0;
    size_t fl = colon ? (size_t)(colon - s) : n;
    const uint8_t *v = colon ? colon + 1 : s + n;
    size_t vl = colon ? n - fl - 1 : 0;
    if (vl > 0 && v[0] == ' ') {
        v++;
        vl--;
    }
    if (fz_is(s, fl, "data")) {
        if (r->cap == 0)
            return SSE_E_TOO_BIG;
        if (r->has_data) {
            if (r->len + 1 > r->cap - 1)
                return SSE_E_TOO_BIG;
            r->data[r->len++] = '\n';
        }
        r->has_data = true;
        if (r->len + vl > r->cap - 1)
            return SSE_E_TOO_BIG;
        memcpy(r->data + r->len, v, vl);
        r->len += vl;
    } else if (fz_is(s, fl, "event")) {
        if (vl > SSE_EVENT_MAX)
            return SSE_E_TOO_BIG;
        memcpy(r->name, v, vl);
        r->namelen = vl;
    }
    return 0;
}

static void fz_reference(struct fz_log *l, const uint8_t *s, size_t n, size_t cap)
{
    struct fz_ref r = {.cap = cap, .data = malloc(n + 1)};
    FZ_CHECK(r.data != NULL);
    const uint8_t *z = memchr(s, '\0', n);
    size_t end = z ? (size_t)(z - s) : n; /* everything from a NUL on is an error */
    size_t pos = 0;
    int rc = 0;
    while (pos < end && rc == 0) {
        size_t e = pos;
        while (e < end && s[e] != '\r' && s[e] != '\n')
            e++;
        bool complete = e < end;
        rc = fz_ref_line(&r, l, s + pos, e - pos, complete);
        if (!complete)
            break;
        pos = e + 1;
        if (s[e] == '\r' && pos < end && s[pos] == '\n')
            pos++;
    }
    l->err = rc ? rc : (z ? SSE_E_BAD : 0);
    free(r.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t opt = data[size - 1];
    size_t n = size - 1;
    size_t cap = (opt & 16) ? 0 : fz_caps[opt & 3];
    size_t mask = fz_masks[(opt >> 2) & 3];

    static struct fz_log one, inc, ref;
    if (!fz_init(&one, n) || !fz_init(&inc, n) || !fz_init(&ref, n))
        abort();
    char *buf = malloc(cap ? cap : 1);
    FZ_CHECK(buf != NULL);

    uint8_t *whole = malloc(n ? n : 1);
    FZ_CHECK(whole != NULL);
    memcpy(whole, data, n);
    struct sse_parser p1 = {.buf = cap ? buf : NULL, .cap = cap};
    fz_feed(&p1, &one, whole, n);
    free(whole);

    struct sse_parser p2 = {.buf = cap ? buf : NULL, .cap = cap};
    size_t off = 0;
    while (off < n && inc.err == 0) {
        size_t len = 1 + ((size_t)data[off] & mask);
        if (len > n - off)
            len = n - off;
        uint8_t *piece = malloc(len);
        FZ_CHECK(piece != NULL);
        memcpy(piece, data + off, len);
        fz_feed(&p2, &inc, piece, len);
        free(piece);
        off += len;
    }

    fz_reference(&ref, data, n, cap);

    FZ_CHECK(one.err == inc.err && one.err == ref.err);
    FZ_CHECK(one.n == inc.n && memcmp(one.b, inc.b, one.n) == 0);
    FZ_CHECK(one.n == ref.n && memcmp(one.b, ref.b, one.n) == 0);

    /* sse_reset revives the parser and keeps the buffer */
    sse_reset(&p1);
    FZ_CHECK(p1.cap == cap && p1.len == 0 && !p1.has_data);
    struct sse_event ev;
    if (cap >= 2)
        FZ_CHECK(sse_feed(&p1, (const uint8_t *)"data:x\n\n", 8, &ev) == 8 && ev.ready && ev.len == 1);

    free(buf);
    free(one.b);
    free(inc.b);
    free(ref.b);
    return 0;
}

#undef FZ_CHECK
