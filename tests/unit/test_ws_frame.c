// deps: src/parse/ws_frame.c src/parse/utf8.c
#include "t.h"
#include "parse/ws_frame.h"

#include <stdint.h>
#include <stdlib.h>

#define BIG (70 * 1024)
#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static const uint8_t M0[4] = {0x37, 0xfa, 0x21, 0x3d}; /* RFC 6455 5.7 key */
static const uint8_t M1[4] = {0xa5, 0x01, 0xff, 0x5c};

/* ---- stream building ---------------------------------------------------- */

struct stream {
    uint8_t b[4 * BIG];
    size_t n;
};

/* Append one masked client frame; b0 is the raw first byte so tests can set
 * RSV bits and reserved opcodes. */
static void put(struct stream *s, uint8_t b0, const void *pl, size_t len, const uint8_t m[4])
{
    size_t h = wsf_header_masked(s->b + s->n, WSF_CONT, false, len, m);
    s->b[s->n] = b0;
    s->n += h;
    if (len)
        memcpy(s->b + s->n, pl, len);
    wsf_mask(s->b + s->n, len, m, 0);
    s->n += len;
}

static void put_raw(struct stream *s, const uint8_t *p, size_t n)
{
    memcpy(s->b + s->n, p, n);
    s->n += n;
}

/* ---- running the parser and normalising its output ---------------------- */

/* Everything a chunking must not change: completed messages with their
 * start hints, controls and the error. Bytes of a message
 * cut off by an error go to cur, which chunkings may deliver to different
 * extents (a valid prefix may be handed out before the bad chunk). */
struct run {
    uint8_t log[3 * BIG];
    size_t loglen;
    uint8_t cur[2 * BIG];
    size_t curlen;
    bool in_msg;
    int cur_op;
    uint64_t hint;
    ssize_t err;
    size_t err_end; /* stream offset just past the chunk that failed */
    int bad;        /* invariant violations */
    int events, data_events, ctrl_events;
    struct wsf_parser p;
};

static uint8_t work[4 * BIG];

static void logw(struct run *r, const void *p, size_t n)
{
    if (r->loglen + n > sizeof r->log) {
        r->bad++;
        return;
    }
    memcpy(r->log + r->loglen, p, n);
    r->loglen += n;
}

static void on_data(struct run *r, const struct wsf_event *ev)
{
    if (ev->msg_start) {
        r->bad += r->in_msg;
        r->in_msg = true;
        r->cur_op = ev->opcode;
        r->curlen = 0;
        r->hint = ev->msg_len_hint;
    }
    r->bad += !r->in_msg || (int)ev->opcode != r->cur_op;
    r->bad += ev->opcode != WSF_TEXT && ev->opcode != WSF_BINARY;
    if (r->curlen + ev->len > sizeof r->cur) {
        r->bad++;
        return;
    }
    if (ev->len)
        memcpy(r->cur + r->curlen, ev->data, ev->len);
    r->curlen += ev->len;
    if (ev->msg_end) {
        uint8_t op = (uint8_t)ev->opcode;
        logw(r, "M", 1);
        logw(r, &r->hint, sizeof r->hint);
        logw(r, &op, 1);
        logw(r, &r->curlen, sizeof r->curlen);
        logw(r, r->cur, r->curlen);
        r->in_msg = false;
        r->curlen = 0;
    }
}

static void on_event(struct run *r, const struct wsf_event *ev, const uint8_t *chunk, ssize_t k)
{
    r->events++;
    if (ev->kind == WSF_EV_DATA) {
        r->data_events++;
        /* data must lie inside the bytes this call consumed */
        r->bad += ev->data < chunk || ev->data + ev->len > chunk + k;
        on_data(r, ev);
    } else if (ev->kind == WSF_EV_CONTROL) {
        uint8_t op = (uint8_t)ev->opcode;
        r->ctrl_events++;
        r->bad += ev->len > 125;
        logw(r, "C", 1);
        logw(r, &op, 1);
        logw(r, &ev->close_code, sizeof ev->close_code);
        logw(r, &ev->len, sizeof ev->len);
        logw(r, ev->data, ev->len);
    }
}

enum { WHOLE, BYTES, RANDOM };

static size_t next_chunk(int mode, uint32_t *seed, size_t left)
{
    if (mode == WHOLE)
        return left;
    if (mode == BYTES)
        return 1;
    *seed = *seed * 1103515245u + 12345u;
    size_t c = (*seed >> 16) % ((*seed >> 8) % 4 == 0 ? 300 : 9) + 1;
    return c < left ? c : left;
}

static void run(struct run *r, uint64_t max, const uint8_t *src, size_t n, int mode,
                uint32_t seed)
{
    memset(r, 0, sizeof *r);
    r->p.max_message = max;
    memcpy(work, src, n);
    size_t off = 0;
    while (off < n) {
        size_t chunk = next_chunk(mode, &seed, n - off);
        for (size_t c = 0; c < chunk;) {
            struct wsf_event ev;
            ssize_t k = wsf_feed(&r->p, work + off + c, chunk - c, &ev);
            if (k < 0) {
                r->err = k;
                r->err_end = off + chunk;
                r->bad += ev.kind != WSF_EV_NONE;
                return;
            }
            r->bad += k == 0 || (size_t)k > chunk - c;
            if (k <= 0)
                return;
            on_event(r, &ev, work + off + c, k);
            c += (size_t)k;
        }
        off += chunk;
    }
}

static bool same(const struct run *a, const struct run *b)
{
    size_t m = a->curlen < b->curlen ? a->curlen : b->curlen;
    return a->err == b->err && a->loglen == b->loglen && !memcmp(a->log, b->log, a->loglen) &&
           !memcmp(a->cur, b->cur, m) && a->bad == 0 && b->bad == 0 &&
           (a->err || a->curlen == b->curlen);
}

static struct run ra, rb;

/* Whole-buffer, byte-at-a-time and several random splittings must agree. */
static void agree(const struct stream *s, uint64_t max)
{
    run(&ra, max, s->b, s->n, WHOLE, 0);
    run(&rb, max, s->b, s->n, BYTES, 0);
    CHECK(same(&ra, &rb));
    if (!same(&ra, &rb))
        fprintf(stderr, "  err %zd/%zd log %zu/%zu cur %zu/%zu bad %d/%d\n", ra.err, rb.err,
                ra.loglen, rb.loglen, ra.curlen, rb.curlen, ra.bad, rb.bad);
    int ok = 1;
    for (uint32_t seed = 1; seed <= 20; seed++) {
        run(&rb, max, s->b, s->n, RANDOM, seed);
        ok &= same(&ra, &rb);
    }
    CHECK(ok);
}

/* Result of feeding s whole; the error (or 0) is returned. */
static ssize_t whole(const struct stream *s, uint64_t max)
{
    run(&ra, max, s->b, s->n, WHOLE, 0);
    CHECK(ra.bad == 0);
    return ra.err;
}

/* Byte-at-a-time: the error must be reported on exactly byte index at. */
static void fails_at(const struct stream *s, uint64_t max, ssize_t err, size_t at)
{
    run(&rb, max, s->b, s->n, BYTES, 0);
    CHECK(rb.err == err);
    CHECK(rb.err_end == at + 1);
    if (rb.err != err || rb.err_end != at + 1)
        fprintf(stderr, "  got err %zd at %zu, want %zd at %zu\n", rb.err, rb.err_end - 1, err, at);
    CHECK(whole(s, max) == err);
    agree(s, max);
}

/* ---- RFC 6455 section 5.7 examples -------------------------------------- */

static void test_rfc_examples(void)
{
    struct wsf_parser p = {.max_message = 1 << 20};
    struct wsf_event ev;
    uint8_t unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    CHECK(wsf_feed(&p, unmasked, sizeof unmasked, &ev) == WSF_E_UNMASKED);
    CHECK(ev.kind == WSF_EV_NONE);

    uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    p = (struct wsf_parser){.max_message = 1 << 20};
    CHECK(wsf_feed(&p, hello, sizeof hello, &ev) == (ssize_t)sizeof hello);
    CHECK(ev.kind == WSF_EV_DATA && ev.opcode == WSF_TEXT && ev.msg_start && ev.msg_end);
    CHECK(ev.len == 5 && !memcmp(ev.data, "Hello", 5) && ev.data == hello + 6);
    CHECK(ev.msg_len_hint == 5);

    /* fragmented "Hel" + "lo", masked as a client must */
    struct stream s = {.n = 0};
    put(&s, 0x01, "Hel", 3, M0);
    put(&s, 0x80, "lo", 2, M1);
    agree(&s, 5); /* before the direct feeds below unmask s in place */
    p = (struct wsf_parser){.max_message = 1 << 20};
    ssize_t k = wsf_feed(&p, s.b, s.n, &ev);
    CHECK(k == 9 && ev.kind == WSF_EV_DATA && ev.msg_start && !ev.msg_end && ev.msg_len_hint == 3);
    CHECK(ev.len == 3 && !memcmp(ev.data, "Hel", 3) && ev.opcode == WSF_TEXT);
    CHECK(wsf_feed(&p, s.b + k, s.n - (size_t)k, &ev) == 8);
    CHECK(ev.kind == WSF_EV_DATA && !ev.msg_start && ev.msg_end && ev.opcode == WSF_TEXT);
    CHECK(ev.len == 2 && !memcmp(ev.data, "lo", 2));

    /* masked pong "Hello" */
    uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    p = (struct wsf_parser){.max_message = 0};
    CHECK(wsf_feed(&p, pong, sizeof pong, &ev) == (ssize_t)sizeof pong);
    CHECK(ev.kind == WSF_EV_CONTROL && ev.opcode == WSF_PONG && ev.len == 5);
    CHECK(!memcmp(ev.data, "Hello", 5) && ev.data == p.ctrl && ev.close_code == 0);
    uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    p = (struct wsf_parser){.max_message = 0};
    CHECK(wsf_feed(&p, ping, sizeof ping, &ev) == WSF_E_UNMASKED);

    /* 256 bytes and 64 KiB binary: the RFC's server headers, then masked */
    uint8_t h[14];
    const uint8_t h256[] = {0x82, 0x7E, 0x01, 0x00};
    const uint8_t h64k[] = {0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
    CHECK(wsf_header(h, WSF_BINARY, true, 256) == 4 && !memcmp(h, h256, 4));
    CHECK(wsf_header(h, WSF_BINARY, true, 65536) == 10 && !memcmp(h, h64k, 10));
    static uint8_t pl[65536];
    for (size_t i = 0; i < sizeof pl; i++)
        pl[i] = (uint8_t)(i * 7 + (i >> 8));
    static struct stream big;
    big.n = 0;
    put(&big, 0x82, pl, 256, M0);
    CHECK(big.b[1] == 0xFE && big.b[2] == 0x01 && big.b[3] == 0x00);
    put(&big, 0x82, pl, 65536, M1);
    CHECK(big.b[264 + 1] == 0xFF && big.b[264 + 7] == 0x01 && big.b[264 + 9] == 0x00);
    run(&ra, 65536, big.b, big.n, WHOLE, 0);
    CHECK(ra.err == 0 && ra.data_events == 2 && ra.bad == 0);
    /* log: M hint op len data, twice */
    size_t rec = 1 + 8 + 1 + sizeof(size_t);
    CHECK(ra.loglen == 2 * rec + 256 + 65536);
    CHECK(!memcmp(ra.log + rec, pl, 256) && !memcmp(ra.log + 2 * rec + 256, pl, 65536));
    agree(&big, 65536);
    CHECK(whole(&big, 65535) == WSF_E_TOO_BIG);
    fails_at(&big, 65535, WSF_E_TOO_BIG, 264 + 9);
}

/* ---- encoders ----------------------------------------------------------- */

static void test_encoders(void)
{
    uint8_t h[14];
    CHECK(wsf_header(h, WSF_TEXT, true, 0) == 2 && h[0] == 0x81 && h[1] == 0);
    CHECK(wsf_header(h, WSF_TEXT, false, 125) == 2 && h[0] == 0x01 && h[1] == 125);
    CHECK(wsf_header(h, WSF_CONT, true, 126) == 4 && h[0] == 0x80 && h[1] == 126 && h[2] == 0 &&
          h[3] == 126);
    CHECK(wsf_header(h, WSF_BINARY, true, 65535) == 4 && h[2] == 0xFF && h[3] == 0xFF);
    CHECK(wsf_header(h, WSF_CLOSE, true, 2) == 2 && h[0] == 0x88 && h[1] == 2);
    CHECK(wsf_header(h, WSF_PONG, true, 5) == 2 && h[0] == 0x8A);
    CHECK(wsf_header(h, WSF_BINARY, true, UINT64_C(0x7FFFFFFFFFFFFFFF)) == 10 && h[1] == 127 &&
          h[2] == 0x7F && h[9] == 0xFF);
    CHECK(wsf_header(h, WSF_BINARY, true, UINT64_C(0x0102030405060708)) == 10 && h[2] == 1 &&
          h[5] == 4 && h[9] == 8);
    CHECK(wsf_header_masked(h, WSF_TEXT, true, 5, M0) == 6 && h[1] == 0x85 && !memcmp(h + 2, M0, 4));
    CHECK(wsf_header_masked(h, WSF_TEXT, true, 300, M0) == 8 && h[1] == 0xFE && h[2] == 1 &&
          h[3] == 44 && !memcmp(h + 4, M0, 4));
    CHECK(wsf_header_masked(h, WSF_TEXT, true, 70000, M0) == 14 && h[1] == 0xFF &&
          !memcmp(h + 10, M0, 4));

    /* wsf_mask at every offset and length matches the byte-wise definition */
    uint8_t a[40], b[40];
    int ok = 1;
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n <= sizeof a; n++) {
            for (size_t i = 0; i < n; i++)
                a[i] = b[i] = (uint8_t)(i * 31 + off);
            wsf_mask(a, n, M1, off);
            for (size_t i = 0; i < n; i++)
                ok &= a[i] == (b[i] ^ M1[(off + i) % 4]);
        }
    CHECK(ok);
}

/* ---- rejections, each at the byte that decides it ----------------------- */

static void test_rejections(void)
{
    struct stream s;
    const uint64_t max = 1 << 20;
    for (uint8_t rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
        s.n = 0;
        put(&s, (uint8_t)(0x81 | rsv), "x", 1, M0);
        fails_at(&s, max, WSF_E_RSV, 0);
    }
    const uint8_t reserved[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < ARRAY_LEN(reserved); i++) {
        s.n = 0;
        put(&s, (uint8_t)(0x80 | reserved[i]), "", 0, M0);
        fails_at(&s, max, WSF_E_OPCODE, 0);
    }
    s.n = 0;
    put_raw(&s, S("\x82\x01\x00"));
    fails_at(&s, max, WSF_E_UNMASKED, 1);
    /* control frames: too long (any 16/64-bit form too) and fragmented */
    s.n = 0;
    put_raw(&s, S("\x89\xFE\x00\x05"));
    fails_at(&s, max, WSF_E_CTRL_TOO_LONG, 1);
    static uint8_t junk[200];
    s.n = 0;
    put(&s, 0x8A, junk, 126, M0);
    fails_at(&s, max, WSF_E_CTRL_TOO_LONG, 1);
    s.n = 0;
    put(&s, 0x88, junk, 125, M0); /* 125 is fine for length, but code 0 is not */
    fails_at(&s, max, WSF_E_CLOSE_PAYLOAD, 6 + 124);
    s.n = 0;
    put(&s, 0x89, junk, 125, M0);
    CHECK(whole(&s, max) == 0 && ra.ctrl_events == 1);
    for (uint8_t op = 8; op <= 10; op++) {
        s.n = 0;
        put(&s, op, "", 0, M0);
        fails_at(&s, max, WSF_E_CTRL_FRAGMENTED, 0);
    }
    /* 64-bit length with the MSB set: refused at the first length byte */
    s.n = 0;
    put_raw(&s, S("\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00"));
    fails_at(&s, UINT64_MAX, WSF_E_LEN64, 2);
    s.n = 0;
    put_raw(&s, S("\x82\xFF\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x00\x00\x00\x00"));
    fails_at(&s, UINT64_C(0x7FFFFFFFFFFFFFFE), WSF_E_TOO_BIG, 9);
    s.n = 0;
    put_raw(&s, S("\x82\xFF\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x00\x00\x00\x00zz"));
    CHECK(whole(&s, UINT64_MAX) == 0 && ra.data_events == 1 && ra.in_msg && ra.curlen == 2);
    /* sequencing */
    s.n = 0;
    put(&s, 0x80, "x", 1, M0);
    fails_at(&s, max, WSF_E_UNEXPECTED_CONT, 0);
    s.n = 0;
    put(&s, 0x81, "ab", 2, M0);
    put(&s, 0x00, "x", 1, M0);
    fails_at(&s, max, WSF_E_UNEXPECTED_CONT, 8);
    s.n = 0;
    put(&s, 0x01, "ab", 2, M0);
    put(&s, 0x82, "x", 1, M0);
    fails_at(&s, max, WSF_E_EXPECTED_CONT, 8);
    s.n = 0;
    put(&s, 0x02, "ab", 2, M0);
    put(&s, 0x89, "p", 1, M0);
    put(&s, 0x01, "x", 1, M0);
    fails_at(&s, max, WSF_E_EXPECTED_CONT, 15);
}

static void test_errors_sticky(void)
{
    struct wsf_parser p = {.max_message = 100};
    struct wsf_event ev;
    uint8_t b[] = {0xC1, 0x80, 0, 0, 0, 0};
    CHECK(wsf_feed(&p, b, sizeof b, &ev) == WSF_E_RSV);
    uint8_t good[] = {0x81, 0x80, 0, 0, 0, 0};
    CHECK(wsf_feed(&p, good, sizeof good, &ev) == WSF_E_RSV && ev.kind == WSF_EV_NONE);
    CHECK(wsf_feed(&p, good, 0, &ev) == WSF_E_RSV);
    struct wsf_parser q = {.max_message = 100};
    CHECK(wsf_feed(&q, good, 0, &ev) == 0 && ev.kind == WSF_EV_NONE);
}

static void test_close_codes(void)
{
    CHECK(wsf_close_code(WSF_E_TOO_BIG) == 1009);
    CHECK(wsf_close_code(WSF_E_UTF8) == 1007);
    CHECK(wsf_close_code(WSF_E_CLOSE_UTF8) == 1007);
    const int p1002[] = {WSF_E_RSV, WSF_E_OPCODE, WSF_E_UNMASKED, WSF_E_CTRL_TOO_LONG,
                         WSF_E_CTRL_FRAGMENTED, WSF_E_LEN64, WSF_E_UNEXPECTED_CONT,
                         WSF_E_EXPECTED_CONT, WSF_E_CLOSE_PAYLOAD};
    for (size_t i = 0; i < ARRAY_LEN(p1002); i++)
        CHECK(wsf_close_code(p1002[i]) == 1002);

    int table_ok = 1;
    for (uint32_t c = 0; c <= 0xFFFF; c++) {
        bool want = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
                    (c >= 3000 && c <= 4999);
        table_ok &= wsf_close_code_valid((uint16_t)c) == want;
    }
    CHECK(table_ok);

    const uint16_t good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                             3000, 3999, 4000, 4999};
    const uint16_t bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
    struct stream s;
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        uint8_t pl[] = {(uint8_t)(good[i] >> 8), (uint8_t)good[i], 'o', 'k'};
        s.n = 0;
        put(&s, 0x88, pl, sizeof pl, M1);
        CHECK(whole(&s, 0) == 0 && ra.ctrl_events == 1);
        struct wsf_parser p = {0};
        struct wsf_event ev;
        CHECK(wsf_feed(&p, s.b, s.n, &ev) == (ssize_t)s.n);
        CHECK(ev.kind == WSF_EV_CONTROL && ev.opcode == WSF_CLOSE && ev.close_code == good[i]);
        CHECK(ev.len == 4 && !memcmp(ev.data, pl, 4));
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        uint8_t pl[] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        s.n = 0;
        put(&s, 0x88, pl, sizeof pl, M1);
        fails_at(&s, 0, WSF_E_CLOSE_PAYLOAD, 7);
    }
    /* empty close -> 1005; one byte -> protocol error */
    s.n = 0;
    put(&s, 0x88, "", 0, M0);
    struct wsf_parser p = {0};
    struct wsf_event ev;
    CHECK(wsf_feed(&p, s.b, s.n, &ev) == 6);
    CHECK(ev.kind == WSF_EV_CONTROL && ev.opcode == WSF_CLOSE && ev.close_code == 1005 &&
          ev.len == 0);
    s.n = 0;
    put(&s, 0x88, "\x03", 1, M0);
    fails_at(&s, 0, WSF_E_CLOSE_PAYLOAD, 6);
    /* reason: valid, invalid, truncated sequence */
    s.n = 0;
    put(&s, 0x88, "\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 13, M0);
    CHECK(whole(&s, 0) == 0 && ra.ctrl_events == 1);
    s.n = 0;
    put(&s, 0x88, "\x03\xe8\xed\xa0\x80", 5, M0);
    fails_at(&s, 0, WSF_E_CLOSE_UTF8, 10);
    s.n = 0;
    put(&s, 0x88, "\x03\xe8\xce", 3, M0);
    fails_at(&s, 0, WSF_E_CLOSE_UTF8, 8);
}

/* ---- data messages ------------------------------------------------------ */

static void test_empty_frames(void)
{
    struct stream s = {.n = 0};
    put(&s, 0x81, "", 0, M0);
    struct wsf_parser p = {0};
    struct wsf_event ev;
    CHECK(wsf_feed(&p, s.b, s.n, &ev) == 6);
    CHECK(ev.kind == WSF_EV_DATA && ev.opcode == WSF_TEXT && ev.msg_start && ev.msg_end &&
          ev.len == 0 && ev.msg_len_hint == 0 && ev.data == s.b + 6);
    /* empty first and last fragments around a ping */
    s.n = 0;
    put(&s, 0x02, "", 0, M0);
    put(&s, 0x89, "", 0, M0);
    put(&s, 0x00, "ab", 2, M1);
    put(&s, 0x80, "", 0, M1);
    agree(&s, 2);
    fails_at(&s, 1, WSF_E_TOO_BIG, 13);
    p = (struct wsf_parser){.max_message = 2};
    size_t off = 0;
    ssize_t k = wsf_feed(&p, s.b, s.n, &ev);
    CHECK(k == 6 && ev.kind == WSF_EV_DATA && ev.msg_start && !ev.msg_end && ev.len == 0 &&
          ev.opcode == WSF_BINARY);
    off += (size_t)k;
    k = wsf_feed(&p, s.b + off, s.n - off, &ev);
    CHECK(k == 6 && ev.kind == WSF_EV_CONTROL && ev.opcode == WSF_PING && ev.len == 0);
    off += (size_t)k;
    k = wsf_feed(&p, s.b + off, s.n - off, &ev);
    CHECK(k == 8 && ev.kind == WSF_EV_DATA && !ev.msg_start && !ev.msg_end && ev.len == 2 &&
          !memcmp(ev.data, "ab", 2) && ev.opcode == WSF_BINARY);
    off += (size_t)k;
    k = wsf_feed(&p, s.b + off, s.n - off, &ev);
    CHECK(k == 6 && ev.kind == WSF_EV_DATA && !ev.msg_start && ev.msg_end && ev.len == 0);
    CHECK(off + 6 == s.n && p.msg_opcode == 0 && p.msg_total == 0);
    /* a header split from its payload yields NONE, then the data */
    s.n = 0;
    put(&s, 0x81, "hi", 2, M0);
    p = (struct wsf_parser){.max_message = 2};
    CHECK(wsf_feed(&p, s.b, 6, &ev) == 6 && ev.kind == WSF_EV_NONE);
    CHECK(wsf_feed(&p, s.b + 6, 1, &ev) == 1 && ev.kind == WSF_EV_DATA && ev.msg_start &&
          ev.msg_len_hint == 2 && !ev.msg_end && ev.data[0] == 'h');
    CHECK(wsf_feed(&p, s.b + 7, 1, &ev) == 1 && ev.kind == WSF_EV_DATA && !ev.msg_start &&
          ev.msg_end && ev.data[0] == 'i');
}

static void test_fragmented_with_controls(void)
{
    struct stream s = {.n = 0};
    put(&s, 0x01, "Hel", 3, M0);
    put(&s, 0x89, "ping!", 5, M1);
    put(&s, 0x00, "lo, ", 4, M1);
    put(&s, 0x8A, "", 0, M0);
    put(&s, 0x80, "world", 5, M0);
    put(&s, 0x82, "\x00\xff", 2, M1);
    put(&s, 0x88, "\x03\xe8" "bye", 5, M0);
    agree(&s, 12);
    run(&ra, 12, s.b, s.n, WHOLE, 0);
    CHECK(ra.data_events == 4 && ra.ctrl_events == 3);
    /* the message is 12 bytes; the limit counts fragments, not controls */
    fails_at(&s, 11, WSF_E_TOO_BIG, 9 + 11 + 10 + 6 + 1);
    struct wsf_parser p = {.max_message = 12};
    struct wsf_event ev;
    const int kinds[] = {WSF_EV_DATA, WSF_EV_CONTROL, WSF_EV_DATA, WSF_EV_CONTROL, WSF_EV_DATA,
                         WSF_EV_DATA, WSF_EV_CONTROL};
    size_t off = 0;
    int ok = 1;
    for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
        ssize_t k = wsf_feed(&p, s.b + off, s.n - off, &ev);
        ok &= k > 0 && (int)ev.kind == kinds[i];
        off += k > 0 ? (size_t)k : 0;
    }
    CHECK(ok && off == s.n);
    CHECK(ev.opcode == WSF_CLOSE && ev.close_code == 1000 && ev.len == 5);
    /* the counter restarts with each message */
    struct stream t = {.n = 0};
    for (int i = 0; i < 5; i++) {
        put(&t, 0x02, "abc", 3, M0);
        put(&t, 0x80, "de", 2, M1);
    }
    CHECK(whole(&t, 5) == 0 && ra.data_events == 10);
    agree(&t, 5);
}

/* Autobahn 6.x sent as fragmented text: the error comes on the exact byte. */
static void test_text_utf8(void)
{
    const char *kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    struct stream s = {.n = 0};
    put(&s, 0x01, kosme, 11, M0);
    put(&s, 0x00, "\xf4\x90\x80\x80", 4, M1);
    put(&s, 0x80, "edited", 6, M0);
    fails_at(&s, 100, WSF_E_UTF8, 17 + 6 + 1); /* 6.4.1: at 90 */
    s.n = 0;
    put(&s, 0x01, kosme, 11, M0);
    put(&s, 0x00, "\xf4", 1, M1);
    put(&s, 0x00, "\x90\x80\x80", 3, M1);
    put(&s, 0x80, "edited", 6, M0);
    fails_at(&s, 100, WSF_E_UTF8, 17 + 7 + 6); /* 6.4.2: fragment boundary */
    s.n = 0;
    put(&s, 0x81, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64", 16, M1);
    fails_at(&s, 100, WSF_E_UTF8, 6 + 12); /* 6.3 */
    /* each Autobahn 6.6 prefix as a whole text frame */
    const int boundary[] = {1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1};
    for (size_t i = 1; i <= 11; i++) {
        s.n = 0;
        put(&s, 0x81, kosme, i, M0);
        if (boundary[i])
            CHECK(whole(&s, 100) == 0 && ra.loglen > 0);
        else
            fails_at(&s, 100, WSF_E_UTF8, 6 + i - 1);
    }
    /* a code point split over fragments is fine; unfinished at FIN is not */
    s.n = 0;
    put(&s, 0x01, "\xe2", 1, M0);
    put(&s, 0x89, "", 0, M0);
    put(&s, 0x00, "\x82", 1, M1);
    put(&s, 0x80, "\xac", 1, M0);
    CHECK(whole(&s, 100) == 0 && ra.loglen > 0);
    agree(&s, 100);
    s.n = 0;
    put(&s, 0x01, "a\xe2\x82", 3, M0);
    put(&s, 0x80, "", 0, M1);
    fails_at(&s, 100, WSF_E_UTF8, 9 + 5);
    /* binary messages are never UTF-8 checked */
    s.n = 0;
    put(&s, 0x82, "\xff\xfe\xed\xa0\x80", 5, M0);
    CHECK(whole(&s, 100) == 0 && ra.data_events == 1);
    /* after a text message ends, a new one starts from a clean state */
    s.n = 0;
    put(&s, 0x81, "ok", 2, M0);
    put(&s, 0x81, "\xce\xba", 2, M0);
    CHECK(whole(&s, 100) == 0 && ra.data_events == 2);
}

/* A long mixed stream over all length forms, split every way. */
static void test_mixed_stream(void)
{
    static struct stream s;
    static uint8_t pl[70000];
    uint32_t seed = 99;
    for (size_t i = 0; i < sizeof pl; i++) {
        seed = seed * 1103515245u + 12345u;
        pl[i] = (uint8_t)(0x20 + (seed >> 16) % 95);
    }
    s.n = 0;
    put(&s, 0x81, pl, 125, M0);
    put(&s, 0x82, pl, 126, M1);
    put(&s, 0x01, pl, 65535, M0);
    put(&s, 0x89, pl, 125, M1);
    put(&s, 0x00, pl, 0, M1);
    put(&s, 0x80, pl, 3, M0);
    put(&s, 0x82, pl, 65536, M1);
    size_t at70k = s.n;
    put(&s, 0x82, pl, 70000, M0);
    put(&s, 0x81, "\xf0\x9f\x98\x80", 4, M1);
    put(&s, 0x8A, pl, 7, M0);
    put(&s, 0x88, "\x0f\xa0", 2, M1);
    run(&ra, 70000, s.b, s.n, WHOLE, 0);
    CHECK(ra.err == 0 && ra.bad == 0 && !ra.in_msg && ra.ctrl_events == 3);
    CHECK(ra.data_events == 8);
    agree(&s, 70000);
    fails_at(&s, 69999, WSF_E_TOO_BIG, at70k + 9);
}

/* The whole-frame hint the connection uses to keep frames in its ring. */
static void test_data_frame_size(void)
{
    uint8_t h[16];
    uint64_t size = 0;
    size_t hl = wsf_header_masked(h, WSF_TEXT, true, 5, M0);
    CHECK(wsf_data_frame_size(h, hl, &size) == 1 && size == hl + 5);
    CHECK(wsf_data_frame_size(h, 1, &size) == 0); /* length not here yet */
    CHECK(wsf_data_frame_size(h, 0, &size) == 0);
    hl = wsf_header_masked(h, WSF_BINARY, false, 6000, M0);
    CHECK(hl == 8 && wsf_data_frame_size(h, 3, &size) == 0);
    CHECK(wsf_data_frame_size(h, 4, &size) == 1 && size == 8 + 6000); /* known before the mask */
    hl = wsf_header_masked(h, WSF_CONT, true, 70000, M0);
    CHECK(hl == 14 && wsf_data_frame_size(h, 9, &size) == 0);
    CHECK(wsf_data_frame_size(h, 10, &size) == 1 && size == 14 + 70000);
    h[2] |= 0x80; /* 64-bit length with the MSB set: the parser's to refuse */
    CHECK(wsf_data_frame_size(h, 3, &size) == -1);
    hl = wsf_header_masked(h, WSF_PING, true, 0, M0);
    CHECK(wsf_data_frame_size(h, hl, &size) == -1); /* control frames are not held back */
    hl = wsf_header_masked(h, WSF_TEXT, true, 5, M0);
    h[0] |= 0x40; /* RSV1 */
    CHECK(wsf_data_frame_size(h, hl, &size) == -1);
    h[0] = 0x81;
    h[1] &= 0x7f; /* unmasked */
    CHECK(wsf_data_frame_size(h, hl, &size) == -1);
    h[0] = 0x83; /* reserved opcode */
    CHECK(wsf_data_frame_size(h, 1, &size) == -1);

    struct wsf_parser p = {.max_message = 100};
    struct wsf_event ev;
    uint8_t f[16];
    hl = wsf_header_masked(f, WSF_TEXT, true, 2, M0);
    memcpy(f + hl, "hi", 2);
    wsf_mask(f + hl, 2, M0, 0);
    CHECK(wsf_between_frames(&p));
    CHECK(wsf_feed(&p, f, 3, &ev) == 3 && !wsf_between_frames(&p));
    size_t done = 3;
    while (done < hl + 2) {
        ssize_t r = wsf_feed(&p, f + done, hl + 2 - done, &ev);
        CHECK(r > 0);
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    CHECK(wsf_between_frames(&p));
}

int main(void)
{
    test_data_frame_size();
    test_rfc_examples();
    test_encoders();
    test_rejections();
    test_errors_sticky();
    test_close_codes();
    test_empty_frames();
    test_fragmented_with_controls();
    test_text_utf8();
    test_mixed_stream();
    return T_DONE();
}
