// deps: src/parse/ws_frame.c src/parse/utf8.c
/* Three-way differential fuzzer for wsf_feed: one-shot feeding, feeding in
 * input-driven chunks (each in its own exact-size allocation so ASan sees any
 * read past a chunk), and a whole-buffer reference parser written straight
 * from RFC 6455 section 5.2. All three must agree on the completed messages,
 * the control frames and the error; event invariants are asserted on the way.
 *
 * Input layout: stream bytes, then two option bytes:
 *   last      low 4 bits pick max_message, high bits the chunking style;
 *   last - 1  seeds the chunk-size generator. */
#include "parse/ws_frame.h"

#include <stdlib.h>
#include <string.h>

#define FZ_CHECK(c)                                                            \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

struct fz_log {
    uint8_t *b; /* M/C records of completed messages and controls */
    size_t n, cap;
    uint8_t *cur; /* bytes of the message still open (or cut by an error) */
    size_t curn;
    bool in_msg;
    int op;
    uint64_t hint;
    ssize_t err;
};

static void fz_put(struct fz_log *l, const void *p, size_t n)
{
    FZ_CHECK(l->n + n <= l->cap);
    if (n)
        memcpy(l->b + l->n, p, n);
    l->n += n;
}

static void fz_msg_begin(struct fz_log *l, int op, uint64_t hint)
{
    FZ_CHECK(!l->in_msg);
    l->in_msg = true;
    l->op = op;
    l->hint = hint;
    l->curn = 0;
}

static void fz_msg_bytes(struct fz_log *l, const uint8_t *p, size_t n)
{
    FZ_CHECK(l->in_msg);
    if (n)
        memcpy(l->cur + l->curn, p, n);
    l->curn += n;
}

/* A completed message also gets checked against the limits it passed. */
static void fz_msg_end(struct fz_log *l, uint64_t max)
{
    uint8_t op = (uint8_t)l->op;
    FZ_CHECK(l->curn <= max);
    if (op == WSF_TEXT)
        FZ_CHECK(utf8_valid(l->cur, l->curn));
    fz_put(l, "M", 1);
    fz_put(l, &op, 1);
    fz_put(l, &l->hint, sizeof l->hint);
    fz_put(l, &l->curn, sizeof l->curn);
    fz_put(l, l->cur, l->curn);
    l->in_msg = false;
    l->curn = 0;
}

static void fz_control(struct fz_log *l, int op, uint16_t code, const uint8_t *p, size_t n)
{
    uint8_t o = (uint8_t)op;
    FZ_CHECK(n <= 125);
    fz_put(l, "C", 1);
    fz_put(l, &o, 1);
    fz_put(l, &code, sizeof code);
    fz_put(l, &n, sizeof n);
    fz_put(l, p, n);
}

/* ---- the parser under test ---------------------------------------------- */

static void fz_event(struct fz_log *l, const struct wsf_event *ev, const uint8_t *in, size_t k,
                     uint64_t max)
{
    if (ev->kind == WSF_EV_CONTROL) {
        FZ_CHECK(ev->opcode == WSF_CLOSE || ev->opcode == WSF_PING || ev->opcode == WSF_PONG);
        if (ev->opcode == WSF_CLOSE)
            FZ_CHECK(ev->len == 0 ? ev->close_code == 1005 : wsf_close_code_valid(ev->close_code));
        fz_control(l, ev->opcode, ev->close_code, ev->data, ev->len);
        return;
    }
    if (ev->kind != WSF_EV_DATA)
        return;
    FZ_CHECK(ev->opcode == WSF_TEXT || ev->opcode == WSF_BINARY);
    FZ_CHECK(ev->data >= in && ev->data + ev->len <= in + k);
    if (ev->msg_start)
        fz_msg_begin(l, ev->opcode, ev->msg_len_hint);
    FZ_CHECK((int)ev->opcode == l->op);
    fz_msg_bytes(l, ev->data, ev->len);
    if (ev->msg_end)
        fz_msg_end(l, max);
}

/* Feed buf[0..n) (owned, writable) to p; false once the parser fails. */
static bool fz_feed(struct wsf_parser *p, struct fz_log *l, uint8_t *buf, size_t n)
{
    size_t off = 0;
    while (off < n) {
        struct wsf_event ev;
        ssize_t k = wsf_feed(p, buf + off, n - off, &ev);
        if (k < 0) {
            FZ_CHECK(ev.kind == WSF_EV_NONE);
            FZ_CHECK(wsf_feed(p, buf, n, &ev) == k); /* errors are sticky */
            l->err = k;
            return false;
        }
        FZ_CHECK(k > 0 && (size_t)k <= n - off);
        fz_event(l, &ev, buf + off, (size_t)k, p->max_message);
        off += (size_t)k;
    }
    return true;
}

static void fz_one_shot(struct fz_log *l, const uint8_t *s, size_t n, uint64_t max)
{
    struct wsf_parser p = {.max_message = max};
    uint8_t *buf = malloc(n ? n : 1);
    FZ_CHECK(buf);
    memcpy(buf, s, n);
    fz_feed(&p, l, buf, n);
    free(buf);
}

static size_t fz_chunk(uint32_t *seed, unsigned style, size_t left)
{
    static const size_t cap[] = {1, 8, 64, 4096};
    *seed = *seed * 1103515245u + 12345u;
    size_t c = (*seed >> 8) % cap[style & 3] + 1;
    return c < left ? c : left;
}

static void fz_chunked(struct fz_log *l, const uint8_t *s, size_t n, uint64_t max,
                       uint32_t seed, unsigned style)
{
    struct wsf_parser p = {.max_message = max};
    for (size_t off = 0; off < n;) {
        size_t c = fz_chunk(&seed, style, n - off);
        uint8_t *buf = malloc(c);
        FZ_CHECK(buf);
        memcpy(buf, s + off, c);
        bool ok = fz_feed(&p, l, buf, c);
        free(buf);
        if (!ok)
            return;
        off += c;
    }
}

/* ---- reference: whole buffer, frame at a time, straight from the RFC ---- */

static uint64_t fz_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Checks decidable from the first two header bytes; have = bytes present. */
static int fz_ref_head(const uint8_t *h, size_t have, int msg_op)
{
    unsigned op = h[0] & 15u;
    bool ctrl = op >= 8;
    if (h[0] & 0x70)
        return WSF_E_RSV;
    if (!(op <= 2 || (op >= 8 && op <= 10)))
        return WSF_E_OPCODE;
    if (ctrl && !(h[0] & 0x80))
        return WSF_E_CTRL_FRAGMENTED;
    if (!ctrl && op == 0 && !msg_op)
        return WSF_E_UNEXPECTED_CONT;
    if (!ctrl && op != 0 && msg_op)
        return WSF_E_EXPECTED_CONT;
    if (have < 2)
        return 0;
    if (!(h[1] & 0x80))
        return WSF_E_UNMASKED;
    if (ctrl && (h[1] & 0x7F) > 125)
        return WSF_E_CTRL_TOO_LONG;
    if ((h[1] & 0x7F) == 127 && have > 2 && (h[2] & 0x80))
        return WSF_E_LEN64;
    return 0;
}

static int fz_ref_close(const uint8_t *pl, size_t len, uint16_t *code)
{
    *code = 1005;
    if (len == 0)
        return 0;
    if (len == 1)
        return WSF_E_CLOSE_PAYLOAD;
    *code = (uint16_t)(pl[0] << 8 | pl[1]);
    bool ok = (*code >= 1000 && *code <= 1003) || (*code >= 1007 && *code <= 1014) ||
              (*code >= 3000 && *code <= 4999);
    if (!ok)
        return WSF_E_CLOSE_PAYLOAD;
    return utf8_valid(pl + 2, len - 2) ? 0 : WSF_E_CLOSE_UTF8;
}

static void fz_unmask(uint8_t *d, const uint8_t *s, size_t n, const uint8_t *mask)
{
    for (size_t i = 0; i < n; i++)
        d[i] = s[i] ^ mask[i % 4];
}

/* One frame at s[0..n); returns bytes used, 0 if incomplete, or an error. */
static ssize_t fz_ref_frame(struct fz_log *l, const uint8_t *s, size_t n, uint64_t max,
                            uint64_t *total, struct utf8_state *u)
{
    int e = fz_ref_head(s, n < 3 ? n : 3, l->in_msg ? l->op : 0);
    unsigned op = s[0] & 15u, len7 = n > 1 ? s[1] & 0x7Fu : 0;
    size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0, hl = 2 + ext + 4;
    if (e || n < 2 + ext)
        return e;
    uint64_t len = ext ? fz_be(s + 2, ext) : len7;
    if (op < 8 && len > max - (op == 0 ? *total : 0))
        return WSF_E_TOO_BIG;
    if (n < hl)
        return 0;
    size_t avail = n - hl < len ? n - hl : (size_t)len;
    if (op >= 8) {
        uint8_t pl[125];
        uint16_t code = 0;
        if (avail < len)
            return 0;
        fz_unmask(pl, s + hl, avail, s + hl - 4);
        if (op == WSF_CLOSE && (e = fz_ref_close(pl, avail, &code)) != 0)
            return e;
        fz_control(l, (int)op, code, pl, avail);
        return (ssize_t)(hl + avail);
    }
    if (op != 0) {
        fz_msg_begin(l, (int)op, len);
        *total = 0;
        *u = (struct utf8_state){0};
    }
    *total += len;
    uint8_t *d = l->cur + l->curn;
    fz_unmask(d, s + hl, avail, s + hl - 4);
    bool end = (s[0] & 0x80) && avail == len;
    int r = l->op == WSF_TEXT ? utf8_feed(u, d, avail) : UTF8_OK;
    if (r == UTF8_INVALID || (end && r != UTF8_OK))
        return WSF_E_UTF8;
    l->curn += avail;
    if (avail < len)
        return 0;
    if (end)
        fz_msg_end(l, max);
    return (ssize_t)(hl + avail);
}

static void fz_reference(struct fz_log *l, const uint8_t *s, size_t n, uint64_t max)
{
    uint64_t total = 0;
    struct utf8_state u = {0};
    size_t off = 0;
    while (off < n) {
        ssize_t r = fz_ref_frame(l, s + off, n - off, max, &total, &u);
        if (r < 0)
            l->err = r;
        if (r <= 0)
            return;
        off += (size_t)r;
    }
}

/* ---- driver ------------------------------------------------------------- */

static const uint64_t fz_max[16] = {
    0, 1, 2, 3, 5, 16, 125, 126, 127, 200, 65535, 65536, 1 << 20, UINT32_MAX,
    UINT64_C(0x7FFFFFFFFFFFFFFF), UINT64_MAX,
};

static void fz_log_init(struct fz_log *l, size_t n)
{
    /* each record costs at most 19 bytes beyond its payload, and every
     * record needs a header of at least 6 input bytes */
    l->cap = 4 * n + 64;
    l->b = malloc(l->cap);
    l->cur = malloc(n + 1);
    FZ_CHECK(l->b && l->cur);
}

static void fz_log_free(struct fz_log *l)
{
    free(l->b);
    free(l->cur);
}

static bool fz_same(const struct fz_log *a, const struct fz_log *b)
{
    size_t m = a->curn < b->curn ? a->curn : b->curn;
    if (a->err != b->err || a->n != b->n || memcmp(a->b, b->b, a->n) || memcmp(a->cur, b->cur, m))
        return false;
    /* without an error every payload byte present was delivered by both */
    return a->err || a->curn == b->curn;
}

/* The encoders and the frame-size probe: a header written for a length taken
 * from the input measures back exactly (masked data frames), control and
 * unmasked frames are never taken for whole data frames (a header prefix is
 * "need more" until its length bytes are in), a fresh parser is between
 * frames and one header byte later is not, and every parse error maps to a
 * close code a peer may receive. */
static void fz_encoders(const uint8_t *d, size_t n)
{
    static const enum wsf_opcode ops[] = {WSF_CONT, WSF_TEXT, WSF_BINARY, WSF_CLOSE, WSF_PING, WSF_PONG};
    static const uint8_t mask[4] = {1, 2, 3, 4};
    uint64_t len = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        len = len << 8 | d[i];
    len &= (uint64_t)INT64_MAX; /* RFC 6455: the top bit of a 64-bit length is 0 */
    enum wsf_opcode op = ops[(n > 8 ? d[8] : 0) % 6];
    uint8_t h[14], u[10];
    size_t hl = wsf_header_masked(h, op, true, len, mask), ul = wsf_header(u, op, true, len);
    if (hl != ul + 4 || (ul != 2 && ul != 4 && ul != 10))
        abort();
    uint64_t sz = 0;
    int k = wsf_data_frame_size(h, hl, &sz);
    bool data = op == WSF_CONT || op == WSF_TEXT || op == WSF_BINARY;
    if (data ? (k != 1 || sz != hl + len) : k != -1)
        abort();
    if (wsf_data_frame_size(u, ul, &sz) == 1)
        abort();
    for (size_t j = 0; data && j < hl; j++) { /* a header prefix: "need more" until the length is in */
        uint64_t pre = 0;
        int r = wsf_data_frame_size(h, j, &pre);
        if (j < ul ? r != 0 : (r != 1 || pre != sz)) /* ul: 2 + the length bytes */
            abort();
    }
    if (data && hl == 14) { /* the top bit of a 64-bit length set: never a frame */
        h[2] |= 0x80;
        if (wsf_data_frame_size(h, 3, &sz) != -1)
            abort();
    }
    struct wsf_parser p = {.max_message = 1};
    struct wsf_event ev;
    uint8_t fin_text = 0x81;
    if (!wsf_between_frames(&p) || wsf_feed(&p, &fin_text, 1, &ev) != 1 || wsf_between_frames(&p))
        abort(); /* one header byte in: inside a frame */
    for (int e = WSF_E_CLOSE_UTF8; e <= WSF_E_RSV; e++) {
        uint16_t c = wsf_close_code(e);
        if ((c != 1002 && c != 1007 && c != 1009) || !wsf_close_code_valid(c))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_encoders(data, size);
    if (size < 2)
        return 0;
    size_t n = size - 2;
    uint8_t opt = data[size - 1];
    uint64_t max = fz_max[opt & 15];
    struct fz_log one = {0}, chunked = {0}, ref = {0};
    fz_log_init(&one, n);
    fz_log_init(&chunked, n);
    fz_log_init(&ref, n);
    fz_one_shot(&one, data, n, max);
    fz_chunked(&chunked, data, n, max, data[size - 2], opt >> 4);
    fz_reference(&ref, data, n, max);
    FZ_CHECK(fz_same(&one, &chunked));
    FZ_CHECK(fz_same(&one, &ref));
    fz_log_free(&one);
    fz_log_free(&chunked);
    fz_log_free(&ref);
    return 0;
}

#undef FZ_CHECK
