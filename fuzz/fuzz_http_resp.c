// deps: src/parse/http_resp.c
/* Differential fuzzer for httpr_feed: the input is parsed as a stream of
 * responses (httpr_reset() after each DONE, as on a keep-alive connection),
 * once fed whole and once in input-driven pieces, each piece in its own
 * exact-size allocation so ASan sees any read past it. Both runs must log the
 * same events (heads with every parsed field, DONE, error, httpr_eof()
 * answer) and the same concatenated body bytes; the event contract of
 * http_resp.h and the invariants of an accepted head are asserted on the way.
 *
 * Input layout: stream bytes, then one option byte:
 *   bit 0     head_request for the first response
 *   bits 1-2  piece-size mask (0: one byte at a time ... 255)
 *   bit 3     also feed an empty piece before every piece */
#include "parse/http_resp.h"

#include <stdlib.h>
#include <string.h>

#define FZ_CHECK(c)                                                            \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

#define FZ_MAX_RESPONSES 16

static const size_t fz_masks[4] = {0, 3, 31, 255};

struct fz_log {
    uint8_t *ev; /* event records */
    size_t evn, evcap;
    uint8_t *body; /* concatenated body bytes */
    size_t bodyn, bodycap;
    struct httpr_parser p;
    int responses;
    bool done;     /* the current response reported DONE */
    bool stopped;  /* error, or FZ_MAX_RESPONSES reached */
    uint64_t resp_body; /* body bytes of the current response */
};

static void fz_put(struct fz_log *l, const void *p, size_t n)
{
    FZ_CHECK(l->evn + n <= l->evcap);
    memcpy(l->ev + l->evn, p, n);
    l->evn += n;
}

static bool fz_cstr_ok(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* What must hold for every head the parser accepts. */
static void fz_head(struct fz_log *l)
{
    const struct httpr_parser *p = &l->p;
    FZ_CHECK(p->status >= 200 && p->status <= 599);
    FZ_CHECK(p->minor_version >= 0 && p->minor_version <= 9);
    FZ_CHECK(p->content_length >= -1 && p->content_length <= ((int64_t)1 << 62));
    FZ_CHECK(!p->chunked || p->content_length == -1);
    FZ_CHECK(!p->until_close || (!p->keep_alive && !p->chunked && p->content_length == -1));
    FZ_CHECK(p->retry_after_ms >= -1 && p->retry_after_ms <= 1000000000000);
    FZ_CHECK(p->should_retry >= -1 && p->should_retry <= 1);
    FZ_CHECK(fz_cstr_ok(p->content_type, sizeof p->content_type));
    FZ_CHECK(fz_cstr_ok(p->request_id, sizeof p->request_id));
    for (const char *s = p->content_type; *s; s++)
        FZ_CHECK(*s != '\r' && *s != '\n');
    /* Location: kept whole, or (long or repeated) flagged and empty */
    FZ_CHECK(fz_cstr_ok(p->location, sizeof p->location));
    FZ_CHECK(!p->location_long || (p->location[0] == '\0' && p->location_seen));
    FZ_CHECK(p->location_seen || p->location[0] == '\0');
    bool bodyless = p->head_request || p->status == 204 || p->status == 304;
    FZ_CHECK(!bodyless || (!p->chunked && !p->until_close));
    fz_put(l, "H", 1);
    fz_put(l, &p->status, sizeof p->status);
    fz_put(l, &p->minor_version, sizeof p->minor_version);
    fz_put(l, &p->content_length, sizeof p->content_length);
    uint8_t flags = (uint8_t)(p->chunked | p->keep_alive << 1 | p->until_close << 2 | p->location_long << 3 |
                              p->location_seen << 4);
    fz_put(l, &flags, 1);
    fz_put(l, &p->retry_after_ms, sizeof p->retry_after_ms);
    fz_put(l, &p->should_retry, sizeof p->should_retry);
    fz_put(l, p->content_type, strlen(p->content_type) + 1);
    fz_put(l, p->request_id, strlen(p->request_id) + 1);
    fz_put(l, p->location, strlen(p->location) + 1);
    l->resp_body = 0;
}

static void fz_done(struct fz_log *l)
{
    const struct httpr_parser *p = &l->p;
    bool bodyless = p->head_request || p->status == 204 || p->status == 304;
    if (bodyless)
        FZ_CHECK(l->resp_body == 0);
    else if (!p->chunked && !p->until_close)
        FZ_CHECK(l->resp_body == (uint64_t)p->content_length);
    fz_put(l, "D", 1);
    fz_put(l, &l->resp_body, sizeof l->resp_body);
    l->done = true;
}

/* Feeds one piece with the loop http_resp.h prescribes, starting the next
 * response after each DONE. */
static void fz_feed(struct fz_log *l, const uint8_t *in, size_t n)
{
    size_t used = 0;
    while (!l->stopped) {
        if (l->done) {
            bool head = l->p.head_request;
            httpr_reset(&l->p);
            FZ_CHECK(l->p.head_request == head);
            l->p.head_request = false; /* only the first response answers a HEAD */
            l->done = false;
            if (++l->responses >= FZ_MAX_RESPONSES) {
                l->stopped = true;
                return;
            }
        }
        struct httpr_event ev;
        ssize_t k = httpr_feed(&l->p, in + used, n - used, &ev);
        if (k < 0) {
            FZ_CHECK(k >= HTTPR_E_TE);
            FZ_CHECK(httpr_feed(&l->p, in, n, &ev) == k); /* errors are sticky */
            FZ_CHECK(httpr_eof(&l->p) == k);
            int e = (int)k;
            fz_put(l, "E", 1);
            fz_put(l, &e, sizeof e);
            l->stopped = true;
            return;
        }
        FZ_CHECK((size_t)k <= n - used);
        used += (size_t)k;
        switch (ev.kind) {
        case HTTPR_EV_NONE:
            FZ_CHECK(used == n); /* "need more" only when all was taken */
            return;
        case HTTPR_EV_HEAD:
            fz_head(l);
            break;
        case HTTPR_EV_BODY:
            FZ_CHECK(ev.len > 0 && ev.data == in + used - ev.len);
            FZ_CHECK(l->bodyn + ev.len <= l->bodycap);
            memcpy(l->body + l->bodyn, ev.data, ev.len);
            l->bodyn += ev.len;
            l->resp_body += ev.len;
            if (!l->p.chunked && !l->p.until_close)
                FZ_CHECK(l->resp_body <= (uint64_t)l->p.content_length);
            break;
        case HTTPR_EV_DONE:
            FZ_CHECK(!l->p.until_close); /* that one ends only at httpr_eof() */
            fz_done(l);
            /* DONE is sticky until reset */
            FZ_CHECK(httpr_feed(&l->p, in + used, n - used, &ev) == 0 && ev.kind == HTTPR_EV_DONE);
            break;
        }
    }
}

static void fz_finish(struct fz_log *l)
{
    if (l->stopped || l->done)
        return;
    int e = httpr_eof(&l->p);
    FZ_CHECK(e == HTTPR_EV_DONE || e == HTTPR_E_TRUNCATED);
    FZ_CHECK(httpr_eof(&l->p) == e);
    fz_put(l, "F", 1);
    fz_put(l, &e, sizeof e);
}

static bool fz_init(struct fz_log *l, size_t n, bool head)
{
    memset(l, 0, offsetof(struct fz_log, p));
    /* at most FZ_MAX_RESPONSES heads of < 320 bytes, plus small records */
    l->evcap = (FZ_MAX_RESPONSES + 2) * 320;
    l->ev = malloc(l->evcap);
    l->bodycap = n;
    l->body = malloc(n ? n : 1);
    httpr_reset(&l->p);
    l->p.head_request = head;
    l->responses = 0;
    l->done = l->stopped = false;
    l->resp_body = 0;
    return l->ev != NULL && l->body != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t opt = data[size - 1];
    size_t n = size - 1;
    bool head = opt & 1;
    size_t mask = fz_masks[(opt >> 1) & 3];
    bool empties = opt & 8;

    static struct fz_log one, inc;
    if (!fz_init(&one, n, head) || !fz_init(&inc, n, head))
        abort();

    uint8_t *whole = malloc(n ? n : 1);
    FZ_CHECK(whole != NULL);
    memcpy(whole, data, n);
    fz_feed(&one, whole, n);
    fz_finish(&one);
    free(whole);

    /* Piece lengths come from the bytes themselves, so the fuzzer explores
     * split points along with content. */
    size_t off = 0;
    while (off < n && !inc.stopped) {
        size_t len = 1 + ((size_t)data[off] & mask);
        if (len > n - off)
            len = n - off;
        if (empties) {
            uint8_t *none = malloc(1);
            FZ_CHECK(none != NULL);
            fz_feed(&inc, none, 0);
            free(none);
        }
        uint8_t *piece = malloc(len);
        FZ_CHECK(piece != NULL);
        memcpy(piece, data + off, len);
        fz_feed(&inc, piece, len);
        free(piece);
        off += len;
    }
    fz_finish(&inc);

    FZ_CHECK(one.evn == inc.evn && memcmp(one.ev, inc.ev, one.evn) == 0);
    FZ_CHECK(one.bodyn == inc.bodyn && memcmp(one.body, inc.body, one.bodyn) == 0);
    free(one.ev);
    free(one.body);
    free(inc.ev);
    free(inc.body);
    return 0;
}

#undef FZ_CHECK
#undef FZ_MAX_RESPONSES
