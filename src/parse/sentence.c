/* Incremental sentence splitter, see sentence.h. deps: none.
 *
 * One left-to-right pass over the text. Each boundary found is a candidate
 * end; candidates shorter than min_len are remembered and the scan goes on
 * (merging), a candidate past max_len stops the scan and the fallback cut
 * decides. Every position returned is either the end of the text, just after
 * an ASCII byte, or a code point start found by skipping continuation bytes,
 * so a UTF-8 sequence is never split. */
#include "parse/sentence.h"

#define SENTENCE_MIN_MAX_LEN 4 /* longest UTF-8 sequence: always room for one */

static bool sentence_is_ws(uint8_t b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f';
}

static bool sentence_is_cont(uint8_t b)
{
    return (b & 0xC0) == 0x80;
}

static bool sentence_is_alpha(uint8_t b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
}

static bool sentence_is_alnum(uint8_t b)
{
    return sentence_is_alpha(b) || (b >= '0' && b <= '9');
}

/* Does the UTF-8 sequence seq (NUL-terminated literal) start at t[i]? */
static size_t sentence_match(const uint8_t *t, size_t len, size_t i, const char *seq)
{
    size_t k = 0;
    for (; seq[k]; k++)
        if (i + k >= len || t[i + k] != (uint8_t)seq[k])
            return 0;
    return k;
}

/* Length of a terminator that wants whitespace after it, 0 if none at i. */
static size_t sentence_term(const uint8_t *t, size_t len, size_t i)
{
    if (t[i] == '.' || t[i] == '!' || t[i] == '?')
        return 1;
    return sentence_match(t, len, i, "\xE2\x80\xA6"); /* U+2026 … */
}

/* Length of a CJK full-width terminator (no whitespace wanted), 0 if none. */
static size_t sentence_cjk_term(const uint8_t *t, size_t len, size_t i)
{
    static const char *const sentence_cjk[] = {
        "\xE3\x80\x82", /* U+3002 。 */
        "\xEF\xBC\x81", /* U+FF01 ！ */
        "\xEF\xBC\x9F", /* U+FF1F ？ */
    };
    for (size_t k = 0; k < ARRAY_LEN(sentence_cjk); k++) {
        size_t m = sentence_match(t, len, i, sentence_cjk[k]);
        if (m)
            return m;
    }
    return 0;
}

/* Length of a closing quote or bracket at i, 0 if none. */
static size_t sentence_closer(const uint8_t *t, size_t len, size_t i)
{
    static const char *const sentence_closers[] = {
        "\xE2\x80\x9D", /* U+201D ” */
        "\xE2\x80\x99", /* U+2019 ’ */
        "\xC2\xBB",     /* U+00BB » */
        "\xE3\x80\x8D", /* U+300D 」 */
        "\xE3\x80\x8F", /* U+300F 』 */
        "\xEF\xBC\x89", /* U+FF09 ） */
    };
    uint8_t b = t[i];
    if (b == '"' || b == '\'' || b == ')' || b == ']' || b == '}')
        return 1;
    for (size_t k = 0; k < ARRAY_LEN(sentence_closers); k++) {
        size_t m = sentence_match(t, len, i, sentence_closers[k]);
        if (m)
            return m;
    }
    return 0;
}

static bool sentence_word_is(const uint8_t *w, size_t n, const char *lit)
{
    size_t k = 0;
    for (; k < n && lit[k]; k++) {
        uint8_t c = w[k];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c - 'A' + 'a');
        if (c != (uint8_t)lit[k])
            return false;
    }
    return k == n && lit[k] == '\0';
}

/* Is the '.' at t[dot] the end of an initial or a known abbreviation rather
 * than of a sentence? The word is the run of ASCII letters and dots before
 * it, which must start the text or follow a byte that is neither an ASCII
 * letter or digit nor part of a multi-byte character (so "xMr." and "éMr."
 * are not "Mr."). */
static bool sentence_abbrev(const uint8_t *t, size_t dot)
{
    static const char *const sentence_abbrevs[] = {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e",
    };
    size_t s = dot;
    while (s > 0 && (sentence_is_alpha(t[s - 1]) || t[s - 1] == '.'))
        s--;
    if (s > 0 && (sentence_is_alnum(t[s - 1]) || t[s - 1] >= 0x80))
        return false;
    const uint8_t *w = t + s;
    size_t n = dot - s;
    for (size_t k = 0; k < ARRAY_LEN(sentence_abbrevs); k++)
        if (sentence_word_is(w, n, sentence_abbrevs[k]))
            return true;
    /* Last dot-separated segment a single capital: "J", "U.S", "Ph.D";
     * the pronoun "I" alone ends sentences far more often than it is an
     * initial. */
    if (n == 0 || !(w[n - 1] >= 'A' && w[n - 1] <= 'Z'))
        return false;
    if (n == 1)
        return w[0] != 'I';
    return w[n - 2] == '.';
}

/* Cut used when no boundary fits within limit, which is below len (so the
 * byte at the cut exists and tells whether it starts a code point). */
static size_t sentence_cut(const uint8_t *t, size_t limit)
{
    /* After the last whitespace byte that follows some content. */
    size_t first_content = 0;
    while (first_content < limit && sentence_is_ws(t[first_content]))
        first_content++;
    for (size_t w = limit; w > first_content; w--)
        if (sentence_is_ws(t[w - 1]))
            return w;
    /* Else at limit moved back to a code point start. */
    size_t k = limit;
    while (k > 0 && sentence_is_cont(t[k]))
        k--;
    /* Only invalid UTF-8 (continuation bytes all the way back) can get here
     * with k == 0; progress matters more than the boundary then. */
    return k > 0 ? k : limit;
}

size_t sentence_next(const char *text, size_t len, bool final, size_t min_len, size_t max_len)
{
    if (len == 0)
        return 0;
    const uint8_t *t = (const uint8_t *)text;
    size_t limit = max_len == 0                      ? SIZE_MAX
                   : max_len < SENTENCE_MIN_MAX_LEN ? SENTENCE_MIN_MAX_LEN
                                                     : max_len;
    size_t last_ok = 0;   /* end of the last (short) candidate within limit */
    bool content = false; /* a non-whitespace byte seen */
    bool undecided = false;
    size_t i = 0;
    while (i < len) {
        uint8_t b = t[i];
        size_t j = i; /* end of the terminator run and closers */
        bool boundary = false;
        if (b == '\n') {
            j = i + 1;
            boundary = content;
        } else if (sentence_is_ws(b)) {
            i++;
            continue;
        } else if (sentence_term(t, len, i)) {
            bool lone_dot = b == '.';
            size_t m;
            while (j < len && (m = sentence_term(t, len, j)) != 0)
                j += m;
            lone_dot = lone_dot && j == i + 1;
            while (j < len && (m = sentence_closer(t, len, j)) != 0)
                j += m;
            if (j == len)
                boundary = final, undecided = !final;
            else
                boundary = sentence_is_ws(t[j]);
            if (boundary && lone_dot && sentence_abbrev(t, i))
                boundary = false;
        } else if (sentence_cjk_term(t, len, i)) {
            size_t m;
            while (j < len && (m = sentence_cjk_term(t, len, j)) != 0)
                j += m;
            while (j < len && (m = sentence_closer(t, len, j)) != 0)
                j += m;
            boundary = j < len || final;
            undecided = !boundary;
        } else {
            j = i + 1;
        }
        if (b != '\n')
            content = true;
        if (undecided)
            break;
        if (!boundary) {
            i = j;
            continue;
        }
        if (j > limit)
            break;
        size_t e = j;
        while (e < len && e < limit && sentence_is_ws(t[e]))
            e++;
        if (e >= min_len)
            return e;
        last_ok = e;
        i = e;
    }
    /* No boundary within limit. Without final, len == limit is not enough
     * to give up: a terminator in the last byte may still get its space. */
    if (len <= limit)
        return final ? len : 0;
    return last_ok ? last_ok : sentence_cut(t, limit); /* limit < len here */
}

#undef SENTENCE_MIN_MAX_LEN
