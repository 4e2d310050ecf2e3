// deps: src/parse/utf8.c
#include "t.h"
#include "parse/utf8.h"

#include <stdint.h>
#include <stdlib.h>

/* Byte index at which a byte-at-a-time feed first reports INVALID, -1 if never;
 * *end gets the final result. Also checks that whole-buffer feeding agrees. */
static long fail_pos(const uint8_t *p, size_t n, int *end)
{
    struct utf8_state st = {0};
    long pos = -1;
    int r = UTF8_OK;
    for (size_t i = 0; i < n; i++) {
        r = utf8_feed(&st, p + i, 1);
        if (r == UTF8_INVALID && pos < 0)
            pos = (long)i;
    }
    struct utf8_state whole = {0};
    int w = utf8_feed(&whole, p, n);
    CHECK(w == r || (w == UTF8_INVALID && pos >= 0));
    if (end)
        *end = pos >= 0 ? UTF8_INVALID : r;
    return pos;
}

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static void ok(const uint8_t *p, size_t n)
{
    int end;
    CHECK(fail_pos(p, n, &end) == -1);
    CHECK(end == UTF8_OK);
    CHECK(utf8_valid(p, n));
}

static void partial(const uint8_t *p, size_t n)
{
    int end;
    CHECK(fail_pos(p, n, &end) == -1);
    CHECK(end == UTF8_PARTIAL);
    CHECK(!utf8_valid(p, n));
}

static void bad_at(const uint8_t *p, size_t n, long at)
{
    int end;
    long got = fail_pos(p, n, &end);
    if (got != at)
        fprintf(stderr, "  fail-fast position %ld, expected %ld\n", got, at);
    CHECK(got == at);
    CHECK(end == UTF8_INVALID);
    CHECK(!utf8_valid(p, n));
}

/* Autobahn TestSuite case group 6 (UTF-8 handling), by sequence. */
static void test_autobahn_6(void)
{
    /* 6.1, 6.2: empty and "κόσμε" */
    ok(S(""));
    ok(S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"));
    /* 6.3: κόσμε-edited with a surrogate: fails at A0 after ED */
    bad_at(S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"), 12);
    /* 6.4.1-6.4.4: above U+10FFFF, F4 90 refused at 90 */
    bad_at(S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64"), 12);
    /* 6.5: valid scripts */
    ok(S("\x48\x65\x6c\x6c\x6f\x2d\xc2\xb5\x40\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1\x2d"
         "\x55\x54\x46\x2d\x38\x21\x21"));
    /* 6.6: every prefix of κόσμε is valid or partial, never invalid */
    {
        const uint8_t k[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
        const int boundary[] = {1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1};
        for (size_t i = 0; i <= 11; i++) {
            if (boundary[i])
                ok(k, i);
            else
                partial(k, i);
        }
    }
    /* 6.7: first possible sequence of each length */
    ok(S("\x00"));
    ok(S("\xc2\x80"));
    ok(S("\xe0\xa0\x80"));
    ok(S("\xf0\x90\x80\x80"));
    /* 6.8: first possible 5 and 6 byte sequences */
    bad_at(S("\xf8\x88\x80\x80\x80"), 0);
    bad_at(S("\xfc\x84\x80\x80\x80\x80"), 0);
    /* 6.9: last possible sequence of each length */
    ok(S("\x7f"));
    ok(S("\xdf\xbf"));
    ok(S("\xef\xbf\xbf"));
    ok(S("\xf4\x8f\xbf\xbf"));
    /* 6.10: last possible 4 (beyond U+10FFFF), 5 and 6 byte sequences */
    bad_at(S("\xf7\xbf\xbf\xbf"), 0);
    bad_at(S("\xfb\xbf\xbf\xbf\xbf"), 0);
    bad_at(S("\xfd\xbf\xbf\xbf\xbf\xbf"), 0);
    /* 6.11: other boundary conditions */
    ok(S("\xed\x9f\xbf"));
    ok(S("\xee\x80\x80"));
    ok(S("\xef\xbf\xbd"));
    ok(S("\xf4\x8f\xbf\xbf"));
    bad_at(S("\xf4\x90\x80\x80"), 1);
    /* 6.12: unexpected continuation bytes */
    bad_at(S("\x80"), 0);
    bad_at(S("\xbf"), 0);
    bad_at(S("\x80\xbf"), 0);
    bad_at(S("\x80\xbf\x80\xbf"), 0);
    {
        uint8_t all[64];
        for (int i = 0; i < 64; i++)
            all[i] = (uint8_t)(0x80 + i);
        bad_at(all, sizeof all, 0);
    }
    /* 6.13: lonely start characters followed by a space */
    bad_at(S("\xc0\x20"), 0);
    bad_at(S("\xc1\x20"), 0);
    for (unsigned b = 0xc2; b <= 0xf4; b++) {
        uint8_t s[2] = {(uint8_t)b, 0x20};
        bad_at(s, 2, 1);
    }
    for (unsigned b = 0xf5; b <= 0xff; b++) {
        uint8_t s[2] = {(uint8_t)b, 0x20};
        bad_at(s, 2, 0);
    }
    /* 6.14: last continuation byte missing */
    bad_at(S("\xc0"), 0);
    bad_at(S("\xe0\x80"), 1);
    bad_at(S("\xf0\x80\x80"), 1);
    bad_at(S("\xf8\x80\x80\x80"), 0);
    bad_at(S("\xfc\x80\x80\x80\x80"), 0);
    partial(S("\xdf"));
    partial(S("\xef\xbf"));
    bad_at(S("\xf7\xbf\xbf"), 0);
    partial(S("\xf4\x8f\xbf"));
    /* 6.15: concatenation of the incomplete sequences */
    bad_at(S("\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80\xdf\xef\xbf"), 0);
    bad_at(S("\xdf\xef\xbf"), 1);
    /* 6.16: impossible bytes */
    bad_at(S("\xfe"), 0);
    bad_at(S("\xff"), 0);
    bad_at(S("\xfe\xfe\xff\xff"), 0);
    /* 6.17: overlong ASCII */
    bad_at(S("\xc0\xaf"), 0);
    bad_at(S("\xe0\x80\xaf"), 1);
    bad_at(S("\xf0\x80\x80\xaf"), 1);
    bad_at(S("\xf8\x80\x80\x80\xaf"), 0);
    bad_at(S("\xfc\x80\x80\x80\x80\xaf"), 0);
    /* 6.18: maximum overlong sequences */
    bad_at(S("\xc1\xbf"), 0);
    bad_at(S("\xe0\x9f\xbf"), 1);
    bad_at(S("\xf0\x8f\xbf\xbf"), 1);
    bad_at(S("\xf8\x87\xbf\xbf\xbf"), 0);
    bad_at(S("\xfc\x83\xbf\xbf\xbf\xbf"), 0);
    /* 6.19: overlong NUL */
    bad_at(S("\xc0\x80"), 0);
    bad_at(S("\xe0\x80\x80"), 1);
    bad_at(S("\xf0\x80\x80\x80"), 1);
    bad_at(S("\xf8\x80\x80\x80\x80"), 0);
    bad_at(S("\xfc\x80\x80\x80\x80\x80"), 0);
    /* 6.20: single UTF-16 surrogates */
    bad_at(S("\xed\xa0\x80"), 1);
    bad_at(S("\xed\xad\xbf"), 1);
    bad_at(S("\xed\xae\x80"), 1);
    bad_at(S("\xed\xaf\xbf"), 1);
    bad_at(S("\xed\xb0\x80"), 1);
    bad_at(S("\xed\xbe\x80"), 1);
    bad_at(S("\xed\xbf\xbf"), 1);
    /* 6.21: paired surrogates */
    bad_at(S("\xed\xa0\x80\xed\xb0\x80"), 1);
    bad_at(S("\xed\xaf\xbf\xed\xbf\xbf"), 1);
    /* 6.22: noncharacters are valid UTF-8 */
    ok(S("\xef\xbf\xbe"));
    ok(S("\xef\xbf\xbf"));
    ok(S("\xf0\x9f\xbf\xbe"));
    ok(S("\xf0\x9f\xbf\xbf"));
    ok(S("\xf3\xbf\xbf\xbe"));
    ok(S("\xf4\x8f\xbf\xbe"));
    ok(S("\xef\xb7\x90"));
    ok(S("\xef\xb7\xaf"));
    /* 6.23: replacement character */
    ok(S("\xef\xbf\xbd"));
}

/* The poisoned state must never recover, even on plain ASCII. */
static void test_sticky(void)
{
    struct utf8_state st = {0};
    CHECK(utf8_feed(&st, S("a\xff")) == UTF8_INVALID);
    CHECK(utf8_feed(&st, S("abc")) == UTF8_INVALID);
    CHECK(utf8_feed(&st, S("")) == UTF8_INVALID);
    struct utf8_state split = {0};
    CHECK(utf8_feed(&split, S("\xe2\x82")) == UTF8_PARTIAL);
    CHECK(utf8_feed(&split, S("")) == UTF8_PARTIAL);
    CHECK(utf8_feed(&split, S("\xac")) == UTF8_OK);
    CHECK(utf8_feed(&split, S("\xf0\x9f")) == UTF8_PARTIAL);
    CHECK(utf8_feed(&split, S("\x98")) == UTF8_PARTIAL);
    CHECK(utf8_feed(&split, S("\x80zz")) == UTF8_OK);
    CHECK(utf8_feed(&split, S("\xf0")) == UTF8_PARTIAL);
    CHECK(utf8_feed(&split, S("\x8f")) == UTF8_INVALID);
}

/* Straightforward decoder used as the oracle for exhaustive comparison. */
static int ref_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || i + len > n)
            return 0;
        uint32_t cp = len == 1 ? b : len == 2 ? b & 0x1Fu : len == 3 ? b & 0x0Fu : b & 0x07u;
        for (size_t j = 1; j < len; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + j] & 0x3Fu);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static void test_exhaustive(void)
{
    long mismatch = 0;
    uint8_t s[4];
    for (uint32_t v = 0; v < 0x1000000; v++) {
        s[0] = (uint8_t)(v >> 16), s[1] = (uint8_t)(v >> 8), s[2] = (uint8_t)v;
        for (size_t n = 1; n <= 3; n++)
            mismatch += utf8_valid(s, n) != ref_valid(s, n);
    }
    CHECK(mismatch == 0);
    /* 4-byte sequences: all lead bytes F0..F4 with every second byte, and
     * sampled tails, which is where the range rules live. */
    mismatch = 0;
    uint32_t seed = 1;
    for (unsigned a = 0xF0; a <= 0xF7; a++)
        for (unsigned b = 0; b < 256; b++)
            for (int k = 0; k < 256; k++) {
                seed = seed * 1103515245u + 12345u;
                s[0] = (uint8_t)a, s[1] = (uint8_t)b;
                s[2] = (uint8_t)(0x80 | (seed >> 16 & 0x7F));
                s[3] = (uint8_t)(k < 128 ? 0x80 | (seed >> 24 & 0x3F) : seed >> 8);
                mismatch += utf8_valid(s, 4) != ref_valid(s, 4);
            }
    CHECK(mismatch == 0);
}

/* The 8-byte ASCII skip must not change results at any alignment or length. */
static void test_ascii_fast_path(void)
{
    uint8_t buf[96];
    long mismatch = 0;
    uint32_t seed = 7;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = (size_t)(iter % 96);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 16;
            buf[i] = (uint8_t)(r % 16 == 0 ? 0x80 + (r >> 4) % 128 : 0x20 + (r >> 4) % 95);
        }
        if (n >= 4 && iter % 3 == 0) {
            size_t at = (seed >> 8) % (n - 3);
            buf[at] = 0xE2; /* a valid U+20AC at a random alignment */
            buf[at + 1] = 0x82;
            buf[at + 2] = 0xAC;
        }
        mismatch += utf8_valid(buf, n) != ref_valid(buf, n);
        struct utf8_state st = {0};
        int r = UTF8_OK;
        for (size_t i = 0; i < n && r != UTF8_INVALID; i++)
            r = utf8_feed(&st, buf + i, 1);
        mismatch += (r == UTF8_OK) != ref_valid(buf, n);
    }
    CHECK(mismatch == 0);
}

int main(void)
{
    test_autobahn_6();
    test_sticky();
    test_exhaustive();
    test_ascii_fast_path();
    return T_DONE();
}
