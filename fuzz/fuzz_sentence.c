// deps: src/parse/sentence.c src/parse/utf8.c
/* libFuzzer harness for sentence_next. Byte 0 picks final and min_len,
 * byte 1 max_len (0 = unlimited); the rest is the text. Invariants:
 *   - result <= len, and <= max(max_len, 4) when max_len is set;
 *   - progress: final with len > 0, or len > max_len, gives result > 0;
 *   - the result is on a UTF-8 boundary: for text that is valid UTF-8 (or
 *     valid with an incomplete last sequence) the prefix is complete valid
 *     UTF-8 unless it is the whole final text;
 *   - deterministic; sentence_next on the returned prefix with final gives
 *     it back whole or a shorter prefix (never more);
 *   - draining with final=true terminates and covers the text exactly.
 * Text is copied to an exact-size heap buffer so ASan sees any over-read. */
#include "parse/sentence.h"
#include "parse/utf8.h"

#include <stdlib.h>
#include <string.h>

static size_t fz_next(const uint8_t *p, size_t n, bool final, size_t min_len, size_t max_len)
{
    char *c = malloc(n ? n : 1);
    if (!c)
        abort();
    memcpy(c, p, n);
    size_t r = sentence_next(c, n, final, min_len, max_len);
    free(c);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool final = data[0] & 1;
    size_t min_len = (size_t)(data[0] >> 1) * 2;
    size_t max_len = data[1];
    const uint8_t *t = data + 2;
    size_t n = size - 2;
    size_t limit = max_len == 0 ? (size_t)-1 : max_len < 4 ? 4 : max_len;

    size_t r = fz_next(t, n, final, min_len, max_len);
    if (r > n || r > limit)
        abort();
    if (fz_next(t, n, final, min_len, max_len) != r)
        abort();
    if ((final && n > 0 && r == 0) || (n > limit && r == 0))
        abort();
    struct utf8_state st = {0};
    int whole = utf8_feed(&st, t, n);
    if (whole != UTF8_INVALID && r > 0 && !(final && r == n)) {
        if (!utf8_valid(t, r))
            abort();
    }
    if (r > 0 && fz_next(t, r, true, min_len, max_len) > r)
        abort();

    /* drain */
    size_t off = 0, rounds = 0;
    while (off < n) {
        size_t k = fz_next(t + off, n - off, true, min_len, max_len);
        if (k == 0 || k > n - off || k > limit)
            abort();
        off += k;
        if (++rounds > n)
            abort();
    }
    return 0;
}
