// deps: src/parse/http_req.c
/* httpq_parse fuzzer. The last input byte holds options (limits and chunk
 * sizes); the rest is the request bytes, copied into an exact-size heap block
 * so ASan catches any read past len. The input is parsed one-shot and again
 * fed in input-driven chunks; any difference aborts, as does any broken
 * invariant of a successful parse. */
#include "parse/http_req.h"

#include <stdlib.h>
#include <string.h>

static const size_t fz_heads[4] = {8192, 64, 200, 1024};
static const size_t fz_targets[4] = {4096, 12, 40, 0}; /* 0: default */
static const size_t fz_maxhdr[4] = {HTTPQ_MAX_HEADERS, 1, 3, 1000};
static const size_t fz_chunkmask[4] = {0, 3, 31, 255};

#define FZ_ASSERT(c)                                                                                                   \
    do {                                                                                                               \
        if (!(c))                                                                                                      \
            abort();                                                                                                   \
    } while (0)

static void fz_same_slice(struct slice a, const char *ab, struct slice b, const char *bb)
{
    FZ_ASSERT((a.p == NULL) == (b.p == NULL));
    FZ_ASSERT(a.p == NULL || (a.p - ab == b.p - bb && a.n == b.n));
}

static void fz_same_req(const struct httpq_request *a, const struct httpq_request *b, const char *buf)
{
    fz_same_slice(a->method, buf, b->method, buf);
    fz_same_slice(a->target, buf, b->target, buf);
    fz_same_slice(a->path, buf, b->path, buf);
    fz_same_slice(a->query, buf, b->query, buf);
    fz_same_slice(a->host, buf, b->host, buf);
    fz_same_slice(a->origin, buf, b->origin, buf);
    fz_same_slice(a->ws_key, buf, b->ws_key, buf);
    fz_same_slice(a->ws_version, buf, b->ws_version, buf);
    fz_same_slice(a->ws_protocol, buf, b->ws_protocol, buf);
    FZ_ASSERT(a->minor_version == b->minor_version && a->num_headers == b->num_headers);
    FZ_ASSERT(a->content_length == b->content_length && a->chunked == b->chunked);
    FZ_ASSERT(a->keep_alive == b->keep_alive && a->conn_upgrade == b->conn_upgrade);
    FZ_ASSERT(a->upgrade_websocket == b->upgrade_websocket);
    for (size_t i = 0; i < a->num_headers; i++) {
        fz_same_slice(a->headers[i].name, buf, b->headers[i].name, buf);
        fz_same_slice(a->headers[i].value, buf, b->headers[i].value, buf);
    }
}

static void fz_in_head(struct slice s, const char *buf, int rc)
{
    if (s.p != NULL)
        FZ_ASSERT(s.p >= buf && s.p + s.n <= buf + rc);
}

static bool fz_has_crlfcrlf(const char *p, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(p + i, "\r\n\r\n", 4) == 0)
            return true;
    return false;
}

/* What must hold for every accepted head. */
static void fz_check_ok(const struct httpq_request *r, const char *buf, int rc, size_t maxh)
{
    FZ_ASSERT(rc >= 16 && memcmp(buf + rc - 4, "\r\n\r\n", 4) == 0);
    FZ_ASSERT(!fz_has_crlfcrlf(buf, (size_t)rc - 1));
    FZ_ASSERT(r->minor_version == 0 || r->minor_version == 1);
    FZ_ASSERT(r->minor_version == 0 || r->host.p != NULL);
    FZ_ASSERT(r->num_headers <= maxh && r->num_headers <= HTTPQ_MAX_HEADERS);
    FZ_ASSERT(r->content_length >= -1 && r->content_length <= ((int64_t)1 << 53));
    FZ_ASSERT(!r->chunked || (r->content_length == -1 && r->minor_version == 1));
    FZ_ASSERT(r->method.n > 0 && r->target.n > 0 && r->path.n > 0);
    FZ_ASSERT(r->path.p[0] == '/' || (r->target.n == 1 && slice_eq(r->method, "OPTIONS", 7)));
    /* target == path [ "?" query ] */
    const char *tend = r->target.p + r->target.n;
    FZ_ASSERT(r->path.p == r->target.p && r->query.p + r->query.n == tend);
    FZ_ASSERT(r->path.n == r->target.n ? r->query.n == 0
                                       : (r->path.p[r->path.n] == '?' && r->query.p == r->path.p + r->path.n + 1));
    FZ_ASSERT(memchr(r->path.p, '?', r->path.n) == NULL);
    for (size_t i = 0; i < r->target.n; i++)
        FZ_ASSERT(r->target.p[i] > 0x20 && r->target.p[i] < 0x7F && r->target.p[i] != '#');
    fz_in_head(r->method, buf, rc);
    fz_in_head(r->target, buf, rc);
    for (size_t i = 0; i < r->num_headers; i++) {
        struct slice n = r->headers[i].name, v = r->headers[i].value;
        fz_in_head(n, buf, rc);
        fz_in_head(v, buf, rc);
        FZ_ASSERT(n.n > 0);
        FZ_ASSERT(v.n == 0 || (v.p[0] != ' ' && v.p[0] != '\t' && v.p[v.n - 1] != ' ' && v.p[v.n - 1] != '\t'));
        for (size_t j = 0; j < v.n; j++)
            FZ_ASSERT(v.p[j] != '\r' && v.p[j] != '\n' && v.p[j] != '\0');
        FZ_ASSERT(httpq_header_get(r, "x") == NULL || httpq_header_get(r, "X") != NULL);
        char name[64];
        if (n.n < sizeof name) { /* its own name finds a field of that name (maybe an earlier one) */
            memcpy(name, n.p, n.n);
            name[n.n] = '\0';
            const struct httpq_header *h = httpq_header_get(r, name);
            FZ_ASSERT(h != NULL && h <= &r->headers[i] && h->name.n == n.n);
        }
        (void)httpq_token_list_has(v, "upgrade");
        FZ_ASSERT(!httpq_token_list_has(v, "") && !httpq_token_list_has(v, NULL));
    }
    static const char list[] = "x , Upgrade \t,";
    FZ_ASSERT(httpq_token_list_has((struct slice){list, sizeof list - 1}, "upgrade"));
    bool close = httpq_headers_have_token(r, "connection", "close");
    bool ka = httpq_headers_have_token(r, "connection", "keep-alive");
    FZ_ASSERT(r->keep_alive == (r->minor_version == 1 ? !close : (ka && !close)));
    FZ_ASSERT(r->conn_upgrade == httpq_headers_have_token(r, "connection", "upgrade"));
    FZ_ASSERT(r->upgrade_websocket == httpq_headers_have_token(r, "upgrade", "websocket"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t opt = data[size - 1];
    size_t n = size - 1;
    char *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, n);

    struct httpq_parser cfg = {
        .max_head = fz_heads[opt & 3],
        .max_target = fz_targets[(opt >> 2) & 3],
        .max_headers = fz_maxhdr[(opt >> 4) & 3],
    };
    size_t mask = fz_chunkmask[(opt >> 6) & 3];
    size_t maxh = cfg.max_headers > HTTPQ_MAX_HEADERS ? HTTPQ_MAX_HEADERS : cfg.max_headers;

    static struct httpq_request one, inc;
    struct httpq_parser p1 = cfg;
    int rc1 = httpq_parse(&p1, buf, n, &one);

    /* Chunk lengths come from the bytes themselves, so the fuzzer explores
     * split points along with content. */
    struct httpq_parser p2 = cfg;
    int rc2 = 0;
    size_t len = 0;
    do {
        len += 1 + (len < n ? (size_t)(unsigned char)buf[len] & mask : 0);
        if (len > n)
            len = n;
        rc2 = httpq_parse(&p2, buf, len, &inc);
    } while (rc2 == 0 && len < n);

    FZ_ASSERT(rc1 == rc2);
    FZ_ASSERT(rc1 >= HTTPQ_E_NOT_IMPLEMENTED && rc1 <= (int)n);
    FZ_ASSERT(rc1 >= 0 || httpq_status(rc1) >= 400);
    if (rc1 > 0) {
        fz_same_req(&one, &inc, buf);
        fz_check_ok(&one, buf, rc1, maxh);
        FZ_ASSERT((size_t)rc1 <= (cfg.max_head ? cfg.max_head : HTTPQ_DEFAULT_MAX_HEAD));
    } else if (rc1 == 0) {
        FZ_ASSERT(!fz_has_crlfcrlf(buf, n));
    }
    /* results are sticky, and a reset parser reads the same bytes the same way */
    FZ_ASSERT(httpq_parse(&p1, buf, n, &inc) == rc1);
    httpq_reset(&p1);
    FZ_ASSERT(httpq_parse(&p1, buf, n, &inc) == rc1);
    free(buf);
    return 0;
}

#undef FZ_ASSERT
