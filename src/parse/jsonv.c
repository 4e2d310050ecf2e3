/* Strict JSON validator, see jsonv.h. deps: utf8.c
 *
 * An explicit-stack state machine rather than recursive descent: the nesting
 * stack, the per-object key tables and the number buffer are all fixed-size,
 * so the worst-case stack use is known at compile time (about 33 KiB) and
 * does not grow with the input. Nothing is decoded or copied except numbers
 * (<= 64 bytes) and, lazily, keys while they are compared. */
#include "parse/jsonv.h"

#include "parse/utf8.h"

#include <errno.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(JSONV_MAX_DEPTH_LIMIT <= 255, "depth index must fit uint8_t");
_Static_assert(JSONV_MAX_KEYS <= 65535, "key count must fit uint16_t");

/* What the next token must be. */
enum jsonv_state {
    JSONV_ST_VALUE,       /* any value (document start, after '[', ',' or ':') */
    JSONV_ST_KEY,         /* a member name (after '{' or ',' in an object) */
    JSONV_ST_AFTER_VALUE, /* ',', a closing bracket, or end of document */
    JSONV_ST_DONE,        /* whole input consumed */
};

/* Sentinel returned by the key decoder at the closing quote; above U+10FFFF
 * so no decoded code point can equal it. */
#define JSONV_KEY_END 0x110000u

/* Exponent magnitudes are saturated here: with at most 64 mantissa digits,
 * anything this far out is inf or 0 whatever the digits are. */
#define JSONV_EXP_CLAMP 100000

struct jsonv_ctx {
    const uint8_t *p;
    size_t n;
    size_t i;       /* cursor */
    size_t err_off; /* where the error was found */
    unsigned max_depth;
    unsigned depth;     /* open containers */
    size_t live_keys;   /* used entries of keys[] (all open objects) */
    bool is_obj[JSONV_MAX_DEPTH_LIMIT];
    uint16_t nkeys[JSONV_MAX_DEPTH_LIMIT]; /* keys so far, per open object */
    /* Offsets of the opening quotes of the keys of every open object, inner
     * objects on top: an object's keys are the last nkeys[d] live entries,
     * and closing it pops them. Raw literals, compared decoded on demand. */
    size_t keys[JSONV_MAX_DEPTH_LIMIT * JSONV_MAX_KEYS];
};

static int jsonv_fail(struct jsonv_ctx *c, int err, size_t off)
{
    c->err_off = off;
    return err;
}

static bool jsonv_is_digit(uint8_t b)
{
    return b >= '0' && b <= '9';
}

/* RFC 8259 whitespace only: no VT, FF, NBSP or other Unicode spaces. */
static void jsonv_skip_ws(struct jsonv_ctx *c)
{
    while (c->i < c->n) {
        uint8_t b = c->p[c->i];
        if (b != ' ' && b != '\t' && b != '\n' && b != '\r')
            return;
        c->i++;
    }
}

/* ---- strings ------------------------------------------------------------ */

/* Four hex digits at pos -> *u. */
static int jsonv_hex4(struct jsonv_ctx *c, size_t pos, uint32_t *u)
{
    *u = 0;
    for (size_t k = 0; k < 4; k++) {
        if (pos + k >= c->n)
            return jsonv_fail(c, JSONV_E_SYNTAX, c->n);
        int h = hex_value(c->p[pos + k]);
        if (h < 0)
            return jsonv_fail(c, JSONV_E_SYNTAX, pos + k);
        *u = (*u << 4) | (uint32_t)h;
    }
    return JSONV_OK;
}

/* True if a \uDC00..\uDFFF escape starts at pos; syntax errors in it are
 * reported through the return code as usual. */
static int jsonv_low_surrogate_at(struct jsonv_ctx *c, size_t pos, bool *ok)
{
    uint32_t lo;
    *ok = false;
    if (pos + 1 >= c->n || c->p[pos] != '\\' || c->p[pos + 1] != 'u')
        return JSONV_OK;
    int rc = jsonv_hex4(c, pos + 2, &lo);
    if (rc == JSONV_OK)
        *ok = lo >= 0xDC00 && lo <= 0xDFFF;
    return rc;
}

/* c->i at the backslash of "\uXXXX". A high surrogate must be followed at
 * once by a low one; anything else would decode to no code point at all. */
static int jsonv_scan_u_escape(struct jsonv_ctx *c)
{
    size_t at = c->i;
    uint32_t u;
    int rc = jsonv_hex4(c, at + 2, &u);
    if (rc != JSONV_OK)
        return rc;
    c->i = at + 6;
    if (u == 0)
        return jsonv_fail(c, JSONV_E_NUL, at);
    if (u >= 0xDC00 && u <= 0xDFFF)
        return jsonv_fail(c, JSONV_E_UTF8, at);
    if (u < 0xD800 || u > 0xDBFF)
        return JSONV_OK;
    bool paired;
    rc = jsonv_low_surrogate_at(c, c->i, &paired);
    if (rc != JSONV_OK)
        return rc;
    if (!paired)
        return jsonv_fail(c, JSONV_E_UTF8, at);
    c->i += 6;
    return JSONV_OK;
}

/* c->i at a backslash inside a string. */
static int jsonv_scan_escape(struct jsonv_ctx *c)
{
    size_t at = c->i;
    if (at + 1 >= c->n)
        return jsonv_fail(c, JSONV_E_SYNTAX, c->n);
    switch (c->p[at + 1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        c->i = at + 2;
        return JSONV_OK;
    case 'u':
        return jsonv_scan_u_escape(c);
    default:
        return jsonv_fail(c, JSONV_E_SYNTAX, at + 1);
    }
}

/* c->i at the opening quote; on success c->i is just past the closing one.
 * Non-ASCII bytes go through the UTF-8 DFA one at a time so that the error
 * offset is the first byte that cannot be valid; an ASCII byte arriving in
 * the middle of a multi-byte sequence is that byte. */
static int jsonv_scan_string(struct jsonv_ctx *c)
{
    struct utf8_state u8 = {0};
    bool mid_sequence = false;
    c->i++;
    while (c->i < c->n) {
        uint8_t b = c->p[c->i];
        if (b >= 0x80) {
            int r = utf8_feed(&u8, &c->p[c->i], 1);
            if (r == UTF8_INVALID)
                return jsonv_fail(c, JSONV_E_UTF8, c->i);
            mid_sequence = r == UTF8_PARTIAL;
            c->i++;
            continue;
        }
        if (mid_sequence)
            return jsonv_fail(c, JSONV_E_UTF8, c->i);
        if (b == '"') {
            c->i++;
            return JSONV_OK;
        }
        if (b < 0x20)
            return jsonv_fail(c, JSONV_E_SYNTAX, c->i);
        if (b == '\\') {
            int rc = jsonv_scan_escape(c);
            if (rc != JSONV_OK)
                return rc;
            continue;
        }
        c->i++;
    }
    return jsonv_fail(c, JSONV_E_SYNTAX, c->n);
}

/* ---- duplicate keys ----------------------------------------------------- */

/* The four hex digits at p[0..4), already validated. */
static uint32_t jsonv_hex4_trusted(const uint8_t *p)
{
    uint32_t u = 0;
    for (int k = 0; k < 4; k++)
        u = (u << 4) | (uint32_t)hex_value(p[k]);
    return u;
}

static uint32_t jsonv_key_escape(const uint8_t *p, size_t *i)
{
    uint8_t e = p[*i + 1];
    *i += 2;
    switch (e) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        break;
    default: /* '"', '\\', '/' stand for themselves */
        return e;
    }
    uint32_t u = jsonv_hex4_trusted(&p[*i]);
    *i += 4;
    if (u < 0xD800 || u > 0xDBFF)
        return u;
    uint32_t lo = jsonv_hex4_trusted(&p[*i + 2]); /* paired: checked by scan */
    *i += 6;
    return 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
}

/* Next code point of a string literal that jsonv_scan_string accepted, so
 * no bounds or validity checks are needed: the closing quote is in the
 * buffer, escapes are complete and raw bytes are well-formed UTF-8. */
static uint32_t jsonv_key_next(const uint8_t *p, size_t *i)
{
    uint8_t b = p[*i];
    if (b == '"')
        return JSONV_KEY_END;
    if (b == '\\')
        return jsonv_key_escape(p, i);
    (*i)++;
    if (b < 0x80)
        return b;
    int extra = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : 1;
    uint32_t cp = b & (0x3Fu >> extra);
    for (int k = 0; k < extra; k++)
        cp = (cp << 6) | (p[(*i)++] & 0x3Fu);
    return cp;
}

/* Streaming three-way comparison of two validated literals (offsets of
 * their opening quotes) by decoded content, so "a" and "\u0061" compare
 * equal; the order is that of the code point sequences.
 * Runs of identical raw bytes (no escapes) are skipped without decoding.
 * Such a run can stop inside a multi-byte sequence only where both keys
 * hold different continuation bytes of sequences with the same lead byte;
 * UTF-8 byte order is code point order, so those bytes decide. Otherwise
 * both cursors are on a code point boundary and one code point each is
 * decoded. */
static int jsonv_key_cmp(const uint8_t *p, size_t a, size_t b)
{
    size_t i = a + 1, j = b + 1;
    for (;;) {
        while (p[i] == p[j] && p[i] != '\\' && p[i] != '"') {
            i++;
            j++;
        }
        if (p[i] >= 0x80 && p[i] < 0xC0)
            return p[i] < p[j] ? -1 : 1;
        uint32_t x = jsonv_key_next(p, &i);
        uint32_t y = jsonv_key_next(p, &j);
        if (x != y)
            return x < y ? -1 : 1;
        if (x == JSONV_KEY_END)
            return 0;
    }
}

/* c->i at the opening quote of a member name in the innermost object.
 * That object's keys are the top nkeys entries of keys[] (inner objects
 * have been closed and popped by now), kept sorted by decoded content: a
 * binary search needs at most 6 comparisons per key, so a message of long
 * keys sharing a prefix costs a few passes over its bytes rather than the
 * 32 a linear scan over 64 keys would (measured: 0.7 s for such a 1 MiB
 * message before, under 25 ms after). */
static int jsonv_scan_key(struct jsonv_ctx *c)
{
    size_t start = c->i;
    int rc = jsonv_scan_string(c);
    if (rc != JSONV_OK)
        return rc;
    unsigned top = c->depth - 1;
    if (c->nkeys[top] >= JSONV_MAX_KEYS)
        return jsonv_fail(c, JSONV_E_TOO_MANY_KEYS, start);
    size_t lo = c->live_keys - c->nkeys[top], hi = c->live_keys;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = jsonv_key_cmp(c->p, start, c->keys[mid]);
        if (cmp == 0)
            return jsonv_fail(c, JSONV_E_DUP_KEY, start);
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    memmove(&c->keys[lo + 1], &c->keys[lo], (c->live_keys - lo) * sizeof c->keys[0]);
    c->keys[lo] = start;
    c->live_keys++;
    c->nkeys[top]++;
    return JSONV_OK;
}

/* ---- numbers ------------------------------------------------------------ */

static size_t jsonv_skip_digits(const struct jsonv_ctx *c, size_t i)
{
    while (i < c->n && jsonv_is_digit(c->p[i]))
        i++;
    return i;
}

/* Grammar only: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
 * On success *end is just past the number. */
static int jsonv_number_grammar(struct jsonv_ctx *c, size_t *end)
{
    size_t i = c->i;
    if (c->p[i] == '-')
        i++;
    if (i < c->n && c->p[i] == '0')
        i++;
    else if (i < c->n && jsonv_is_digit(c->p[i]))
        i = jsonv_skip_digits(c, i);
    else
        return jsonv_fail(c, JSONV_E_SYNTAX, i);
    if (i < c->n && c->p[i] == '.') {
        if (++i >= c->n || !jsonv_is_digit(c->p[i]))
            return jsonv_fail(c, JSONV_E_SYNTAX, i);
        i = jsonv_skip_digits(c, i);
    }
    if (i < c->n && (c->p[i] == 'e' || c->p[i] == 'E')) {
        if (++i < c->n && (c->p[i] == '+' || c->p[i] == '-'))
            i++;
        if (i >= c->n || !jsonv_is_digit(c->p[i]))
            return jsonv_fail(c, JSONV_E_SYNTAX, i);
        i = jsonv_skip_digits(c, i);
    }
    *end = i;
    return JSONV_OK;
}

/* Writes v (<= JSONV_EXP_CLAMP + JSONV_MAX_NUMBER_LEN in magnitude) in
 * decimal at buf[k], returns the new length. */
static size_t jsonv_put_int(char *buf, size_t k, long v)
{
    char tmp[16];
    size_t t = 0;
    if (v < 0) {
        buf[k++] = '-';
        v = -v;
    }
    do {
        tmp[t++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (t > 0)
        buf[k++] = tmp[--t];
    return k;
}

/* The exponent of a grammatical number s[0..len) whose 'e' or 'E' is at
 * s[i], its magnitude clamped at JSONV_EXP_CLAMP. */
static long jsonv_exponent(const uint8_t *s, size_t len, size_t i)
{
    bool neg = s[++i] == '-';
    if (s[i] == '+' || s[i] == '-')
        i++;
    long e10 = 0;
    for (; i < len; i++)
        if (e10 < JSONV_EXP_CLAMP)
            e10 = e10 * 10 + (s[i] - '0');
    return neg ? -e10 : e10;
}

/* Rewrites a grammatical number s[0..len) as "-?DIGITSeEXP" with no decimal
 * point: strtod's radix character follows LC_NUMERIC, and a plain digit
 * string with an integer exponent means the same in every locale. The value
 * is unchanged (the point moves into the exponent), so finiteness is too. */
static size_t jsonv_number_rewrite(const uint8_t *s, size_t len, char *buf)
{
    size_t i = 0, k = 0;
    long frac = 0;
    bool in_frac = false;
    if (s[i] == '-')
        buf[k++] = (char)s[i++];
    for (; i < len && s[i] != 'e' && s[i] != 'E'; i++) {
        if (s[i] == '.') {
            in_frac = true;
            continue;
        }
        buf[k++] = (char)s[i];
        frac += in_frac;
    }
    long e10 = i < len ? jsonv_exponent(s, len, i) : 0;
    buf[k++] = 'e';
    k = jsonv_put_int(buf, k, e10 - frac);
    buf[k] = '\0';
    return k;
}

/* Upper bound on the decimal magnitude: |value| < 10^(integer digits +
 * exponent). Lets most numbers skip strtod, which dominates the cost of
 * number-heavy messages such as audio sample arrays. */
static long jsonv_number_magnitude(const uint8_t *s, size_t len)
{
    size_t i = s[0] == '-';
    long digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        digits++;
        i++;
    }
    while (i < len && s[i] != 'e' && s[i] != 'E')
        i++;
    return digits + (i < len ? jsonv_exponent(s, len, i) : 0);
}

/* Finite as a double? Underflow to 0 or a subnormal is fine; overflow to
 * +-inf is not. Below 10^308 (< DBL_MAX) no rounding can reach inf; only
 * near the top does strtod decide. errno is preserved so that validation
 * has no side effect. */
static bool jsonv_number_finite(const uint8_t *s, size_t len)
{
    if (jsonv_number_magnitude(s, len) <= DBL_MAX_10_EXP)
        return true;
    char buf[JSONV_MAX_NUMBER_LEN + 24];
    size_t k = jsonv_number_rewrite(s, len, buf);
    int saved = errno;
    char *end;
    double d = strtod(buf, &end);
    errno = saved;
    return end == buf + k && d <= DBL_MAX && d >= -DBL_MAX;
}

static int jsonv_scan_number(struct jsonv_ctx *c)
{
    size_t start = c->i, end;
    int rc = jsonv_number_grammar(c, &end);
    if (rc != JSONV_OK)
        return rc;
    if (end - start > JSONV_MAX_NUMBER_LEN || !jsonv_number_finite(c->p + start, end - start))
        return jsonv_fail(c, JSONV_E_NUMBER, start);
    c->i = end;
    return JSONV_OK;
}

/* ---- values and containers ---------------------------------------------- */

static int jsonv_scan_literal(struct jsonv_ctx *c, const char *lit, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        if (c->i + k >= c->n)
            return jsonv_fail(c, JSONV_E_SYNTAX, c->n);
        if (c->p[c->i + k] != (uint8_t)lit[k])
            return jsonv_fail(c, JSONV_E_SYNTAX, c->i + k);
    }
    c->i += len;
    return JSONV_OK;
}

/* c->i at '{' or '['. Empty containers are closed here so that the KEY and
 * VALUE states never have to accept a closing bracket (which is what makes
 * trailing commas fail). */
static int jsonv_open(struct jsonv_ctx *c, bool obj, enum jsonv_state *st)
{
    if (c->depth >= c->max_depth)
        return jsonv_fail(c, JSONV_E_DEPTH, c->i);
    c->is_obj[c->depth] = obj;
    c->nkeys[c->depth] = 0;
    c->depth++;
    c->i++;
    jsonv_skip_ws(c);
    if (c->i < c->n && c->p[c->i] == (obj ? '}' : ']')) {
        c->i++;
        c->depth--;
        *st = JSONV_ST_AFTER_VALUE;
    } else {
        *st = obj ? JSONV_ST_KEY : JSONV_ST_VALUE;
    }
    return JSONV_OK;
}

static void jsonv_close(struct jsonv_ctx *c)
{
    c->depth--;
    if (c->is_obj[c->depth])
        c->live_keys -= c->nkeys[c->depth];
    c->i++;
}

static int jsonv_step_value(struct jsonv_ctx *c, enum jsonv_state *st)
{
    if (c->i >= c->n)
        return jsonv_fail(c, JSONV_E_SYNTAX, c->n);
    uint8_t b = c->p[c->i];
    if (b == '{' || b == '[')
        return jsonv_open(c, b == '{', st);
    *st = JSONV_ST_AFTER_VALUE;
    if (b == '"')
        return jsonv_scan_string(c);
    if (b == '-' || jsonv_is_digit(b))
        return jsonv_scan_number(c);
    if (b == 't')
        return jsonv_scan_literal(c, "true", 4);
    if (b == 'f')
        return jsonv_scan_literal(c, "false", 5);
    if (b == 'n')
        return jsonv_scan_literal(c, "null", 4);
    return jsonv_fail(c, JSONV_E_SYNTAX, c->i);
}

/* Member name, whitespace, ':'; the value follows in JSONV_ST_VALUE. */
static int jsonv_step_key(struct jsonv_ctx *c, enum jsonv_state *st)
{
    if (c->i >= c->n)
        return jsonv_fail(c, JSONV_E_SYNTAX, c->n);
    if (c->p[c->i] != '"')
        return jsonv_fail(c, JSONV_E_SYNTAX, c->i);
    int rc = jsonv_scan_key(c);
    if (rc != JSONV_OK)
        return rc;
    jsonv_skip_ws(c);
    if (c->i >= c->n)
        return jsonv_fail(c, JSONV_E_SYNTAX, c->n);
    if (c->p[c->i] != ':')
        return jsonv_fail(c, JSONV_E_SYNTAX, c->i);
    c->i++;
    *st = JSONV_ST_VALUE;
    return JSONV_OK;
}

static int jsonv_step_after_value(struct jsonv_ctx *c, enum jsonv_state *st)
{
    if (c->depth == 0) {
        if (c->i != c->n)
            return jsonv_fail(c, JSONV_E_SYNTAX, c->i); /* trailing garbage */
        *st = JSONV_ST_DONE;
        return JSONV_OK;
    }
    if (c->i >= c->n)
        return jsonv_fail(c, JSONV_E_SYNTAX, c->n);
    bool obj = c->is_obj[c->depth - 1];
    uint8_t b = c->p[c->i];
    if (b == ',') {
        c->i++;
        *st = obj ? JSONV_ST_KEY : JSONV_ST_VALUE;
        return JSONV_OK;
    }
    if (b != (obj ? '}' : ']'))
        return jsonv_fail(c, JSONV_E_SYNTAX, c->i);
    jsonv_close(c);
    return JSONV_OK;
}

int jsonv_validate(const uint8_t *p, size_t n, unsigned max_depth, size_t *err_off)
{
    /* Only the scalar fields are initialised: keys[] is written before it
     * is read, and zeroing 32 KiB per message would be wasted work. */
    struct jsonv_ctx c;
    c.p = p;
    c.n = n;
    c.i = 0;
    c.err_off = 0;
    c.max_depth = max_depth < JSONV_MAX_DEPTH_LIMIT ? max_depth : JSONV_MAX_DEPTH_LIMIT;
    c.depth = 0;
    c.live_keys = 0;

    enum jsonv_state st = JSONV_ST_VALUE;
    int rc = JSONV_OK;
    while (rc == JSONV_OK && st != JSONV_ST_DONE) {
        jsonv_skip_ws(&c);
        switch (st) {
        case JSONV_ST_VALUE:
            rc = jsonv_step_value(&c, &st);
            break;
        case JSONV_ST_KEY:
            rc = jsonv_step_key(&c, &st);
            break;
        case JSONV_ST_AFTER_VALUE:
            rc = jsonv_step_after_value(&c, &st);
            break;
        case JSONV_ST_DONE:
            break;
        }
    }
    if (rc != JSONV_OK && err_off)
        *err_off = c.err_off;
    return rc;
}

const char *jsonv_strerror(int err)
{
    switch (err) {
    case JSONV_OK:
        return "valid JSON";
    case JSONV_E_SYNTAX:
        return "invalid JSON syntax";
    case JSONV_E_DEPTH:
        return "JSON nested too deeply";
    case JSONV_E_NUL:
        return "\\u0000 in a JSON string";
    case JSONV_E_UTF8:
        return "invalid UTF-8 or unpaired surrogate in a JSON string";
    case JSONV_E_NUMBER:
        return "JSON number too long or out of range";
    case JSONV_E_DUP_KEY:
        return "duplicate key in a JSON object";
    case JSONV_E_TOO_MANY_KEYS:
        return "too many keys in a JSON object";
    default:
        return "unknown JSON validation error";
    }
}

#undef JSONV_KEY_END
#undef JSONV_EXP_CLAMP
