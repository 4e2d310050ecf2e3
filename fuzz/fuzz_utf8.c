// deps: src/parse/utf8.c
/* Differential fuzzer: the DFA against a plain decode-then-range-check
 * oracle, whole-buffer against chunked feeding, and the fail-fast position
 * against the oracle's first byte that no completion can rescue. The last
 * input byte seeds the chunking and is not part of the text. */
#include "parse/utf8.h"

#include <stdlib.h>
#include <string.h>

#define FZ_CHECK(c)                                                            \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

/* Length of the longest prefix made of complete, valid code points,
 * decoded naively and range-checked afterwards. */
static size_t fz_ref_good(const uint8_t *p, size_t n)
{
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        size_t len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3
                   : (b & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || n - i < len)
            return i;
        uint32_t cp = len == 1 ? b : len == 2 ? b & 0x1Fu : len == 3 ? b & 0x0Fu : b & 0x07u;
        for (size_t j = 1; j < len; j++) {
            if ((p[i + j] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (p[i + j] & 0x3Fu);
        }
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

/* Can the k bytes at p start a valid code point? These tails complete every
 * well-started sequence, including E0/ED/F0/F4 with their narrow ranges. */
static int fz_ref_completable(const uint8_t *p, size_t k)
{
    static const char *tails[] = {"\x80", "\x80\x80", "\x80\x80\x80",
                                  "\xbf", "\xbf\xbf", "\xbf\xbf\xbf"};
    if (k > 3)
        return 0;
    for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
        uint8_t buf[8];
        size_t tl = strlen(tails[t]);
        memcpy(buf, p, k);
        memcpy(buf + k, tails[t], tl);
        if (fz_ref_good(buf, k + tl) == k + tl)
            return 1;
    }
    return 0;
}

/* Index of the first byte after which no completion exists, or n. */
static size_t fz_ref_fail(const uint8_t *p, size_t n)
{
    size_t b = fz_ref_good(p, n);
    for (size_t m = b + 1; m <= n; m++)
        if (!fz_ref_completable(p + b, m - b))
            return m - 1;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint32_t seed = data[size - 1];
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        return 0;
    memcpy(p, data, n);

    size_t fail = fz_ref_fail(p, n);
    int want = fail < n ? UTF8_INVALID : fz_ref_good(p, n) == n ? UTF8_OK : UTF8_PARTIAL;
    struct utf8_state whole = {0};
    FZ_CHECK(utf8_feed(&whole, p, n) == want);
    FZ_CHECK(utf8_valid(p, n) == (want == UTF8_OK));

    /* chunked: INVALID first appears in the chunk holding the failing byte */
    struct utf8_state st = {0};
    size_t off = 0;
    int r = UTF8_OK;
    while (off < n) {
        seed = seed * 1103515245u + 12345u;
        size_t c = seed % 2 ? 1 : (seed >> 16) % 64 + 1;
        if (c > n - off)
            c = n - off;
        uint8_t *chunk = malloc(c); /* exact size: over-reads trip ASan */
        if (!chunk)
            abort();
        memcpy(chunk, p + off, c);
        r = utf8_feed(&st, chunk, c);
        free(chunk);
        if (r == UTF8_INVALID) {
            FZ_CHECK(fail >= off && fail < off + c);
            break;
        }
        FZ_CHECK(fail >= off + c);
        off += c;
    }
    FZ_CHECK(r == want);
    if (r == UTF8_INVALID)
        FZ_CHECK(utf8_feed(&st, (const uint8_t *)"a", 1) == UTF8_INVALID);
    free(p);
    return 0;
}

#undef FZ_CHECK
