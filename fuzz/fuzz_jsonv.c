// deps: src/parse/jsonv.c src/parse/utf8.c
/* libFuzzer harness for jsonv_validate. No reference parser is available, so
 * the input is checked against invariants that any correct validator obeys:
 *   - result is a known code, err_off <= n, runs are deterministic;
 *   - a valid document is valid UTF-8 with no raw control bytes outside
 *     whitespace, and its bracket depth D is exactly the smallest max_depth
 *     that accepts it;
 *   - wrapping a valid document ([doc], {"k":doc}, [doc,doc], whitespace)
 *     keeps it valid at D+1, and {"k":doc,"\u006b":doc} is a duplicate key;
 *   - a proper prefix of a valid container, string or literal is invalid;
 *   - a lone number agrees with strtod (C locale) on finiteness;
 *   - a valid string re-encoded with a different mix of escapes and raw
 *     UTF-8 is a duplicate key of the original, and not after a change;
 *   - appending a re-spelt copy of one of a valid object's own keys to it
 *     is a duplicate key (too many keys if the object already has 64).
 * Input is copied to an exact-size heap buffer so ASan sees any over-read. */
#include "parse/jsonv.h"
#include "parse/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_LIMIT JSONV_MAX_DEPTH_LIMIT

static int fz_validate(const uint8_t *p, size_t n, unsigned depth)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    memcpy(copy, p, n);
    size_t off = (size_t)-1;
    int rc = jsonv_validate(copy, n, depth, &off);
    if (rc > 0 || rc < JSONV_E_TOO_MANY_KEYS)
        abort();
    if (rc != JSONV_OK && off > n)
        abort();
    if (rc == JSONV_OK && off != (size_t)-1)
        abort();
    free(copy);
    return rc;
}

/* Concatenation of up to three parts in an exact-size buffer, validated. */
static int fz_wrapped(const char *pre, const uint8_t *p, size_t n, const char *mid,
                      const char *post, bool twice, unsigned depth)
{
    size_t a = strlen(pre), m = strlen(mid), b = strlen(post);
    size_t total = a + n + (twice ? m + n : 0) + b;
    uint8_t *buf = malloc(total);
    if (!buf)
        abort();
    size_t k = 0;
    memcpy(buf + k, pre, a), k += a;
    memcpy(buf + k, p, n), k += n;
    if (twice) {
        memcpy(buf + k, mid, m), k += m;
        memcpy(buf + k, p, n), k += n;
    }
    memcpy(buf + k, post, b);
    int rc = fz_validate(buf, total, depth);
    free(buf);
    return rc;
}

static bool fz_is_ws(uint8_t b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

/* Bracket depth of a valid document (strings skipped). */
static unsigned fz_depth(const uint8_t *p, size_t n)
{
    unsigned d = 0, max = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (in_str) {
            if (p[i] == '\\')
                i++;
            else if (p[i] == '"')
                in_str = false;
        } else if (p[i] == '"') {
            in_str = true;
        } else if (p[i] == '[' || p[i] == '{') {
            if (++d > max)
                max = d;
        } else if (p[i] == ']' || p[i] == '}') {
            d--;
        }
    }
    return max;
}

static void fz_check_valid_bytes(const uint8_t *p, size_t n)
{
    if (!utf8_valid(p, n))
        abort();
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 && !fz_is_ws(p[i]))
            abort();
}

static void fz_check_depth_and_wraps(const uint8_t *p, size_t n)
{
    unsigned d = fz_depth(p, n);
    if (d > FZ_LIMIT || fz_validate(p, n, d) != JSONV_OK)
        abort();
    if (d > 0 && fz_validate(p, n, d - 1) != JSONV_E_DEPTH)
        abort();
    if (fz_wrapped(" \t\r\n", p, n, "", "\n\r\t ", false, d) != JSONV_OK)
        abort();
    if (d == FZ_LIMIT) {
        if (fz_wrapped("[", p, n, "", "]", false, FZ_LIMIT) != JSONV_E_DEPTH)
            abort();
        return;
    }
    if (fz_wrapped("[", p, n, "", "]", false, d + 1) != JSONV_OK ||
        fz_wrapped("{\"k\":", p, n, "", "}", false, d + 1) != JSONV_OK ||
        fz_wrapped("[", p, n, ",", "]", true, d + 1) != JSONV_OK ||
        fz_wrapped("{\"k\":", p, n, ",\"\\u006b\":", "}", true, d + 1) != JSONV_E_DUP_KEY)
        abort();
}

/* Cutting a container, string or literal short must never leave it valid. */
static void fz_check_prefixes(const uint8_t *p, size_t n)
{
    size_t s = 0, e = n;
    while (s < n && fz_is_ws(p[s]))
        s++;
    while (e > s && fz_is_ws(p[e - 1]))
        e--;
    if (s == e || strchr("[{\"tfn", p[s]) == NULL)
        return;
    size_t cuts[] = {s + 1, s + (e - s) / 2, e - 1};
    for (size_t i = 0; i < 3; i++)
        if (cuts[i] > s && cuts[i] < e && fz_validate(p, cuts[i], FZ_LIMIT) == JSONV_OK)
            abort();
}

/* A lone number: the validator's verdict matches strtod's on the original
 * text (the harness runs in the C locale). A refused number may be followed
 * by garbage, so only the part strtod consumes is judged then. */
static void fz_check_number(const uint8_t *p, size_t n, int rc)
{
    size_t s = 0, e;
    while (s < n && fz_is_ws(p[s]))
        s++;
    if (s == n || !(p[s] == '-' || (p[s] >= '0' && p[s] <= '9')))
        return;
    if (rc != JSONV_OK && rc != JSONV_E_NUMBER)
        return;
    for (e = s; e < n && strchr("0123456789+-.eE", p[e]) && p[e]; e++)
        ;
    char buf[JSONV_MAX_NUMBER_LEN + 1];
    size_t len = e - s;
    if (len > JSONV_MAX_NUMBER_LEN) {
        if (rc == JSONV_OK)
            abort();
        return; /* too long, or a long tail after the refused number */
    }
    memcpy(buf, p + s, len);
    buf[len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    bool finite = d - d == 0;
    if (rc == JSONV_OK && (end != buf + len || !finite))
        abort();
    if (rc == JSONV_E_NUMBER && (end == buf || finite))
        abort();
}

/* ---- key re-encoding ---------------------------------------------------- */

static uint32_t fz_hex4(const uint8_t *p)
{
    uint32_t u = 0;
    for (int k = 0; k < 4; k++) {
        uint8_t c = p[k];
        u = u * 16 + (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return u;
}

/* Independent decoder for a valid string document starting at p[0] == '"':
 * code points into cps, returns their count. */
static size_t fz_decode(const uint8_t *p, uint32_t *cps)
{
    size_t i = 1, n = 0;
    static const char esc_from[] = "\"\\/bfnrt", esc_to[] = "\"\\/\b\f\n\r\t";
    while (p[i] != '"') {
        uint32_t c = p[i];
        if (c == '\\' && p[i + 1] == 'u') {
            c = fz_hex4(p + i + 2);
            i += 6;
            if (c >= 0xD800 && c <= 0xDBFF) {
                c = 0x10000 + ((c - 0xD800) << 10) + (fz_hex4(p + i + 2) - 0xDC00);
                i += 6;
            }
        } else if (c == '\\') {
            c = (uint8_t)esc_to[strchr(esc_from, p[i + 1]) - esc_from];
            i += 2;
        } else if (c < 0x80) {
            i++;
        } else {
            int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
            c &= 0x3Fu >> extra;
            for (int k = 0; k < extra; k++)
                c = (c << 6) | (p[++i] & 0x3Fu);
            i++;
        }
        cps[n++] = c;
    }
    return n;
}

static size_t fz_put_u(char *out, uint32_t u)
{
    return (size_t)sprintf(out, "\\u%04X", (unsigned)u);
}

/* One code point, as an escape when use_escape (or when it must be). */
static size_t fz_encode_cp(char *out, uint32_t c, bool use_escape)
{
    if (c == '"' || c == '\\' || c < 0x20)
        use_escape = true;
    if (use_escape) {
        if (c < 0x10000)
            return fz_put_u(out, c);
        size_t k = fz_put_u(out, 0xD800 + ((c - 0x10000) >> 10));
        return k + fz_put_u(out + k, 0xDC00 + ((c - 0x10000) & 0x3FF));
    }
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* cps re-spelt as a string literal into out (room for 12 per code point +
 * 2); salt varies which code points are escaped. With change, the last code
 * point is replaced by a different one. */
static size_t fz_respell(const uint32_t *cps, size_t ncp, size_t salt, bool change, char *out)
{
    size_t k = 0;
    out[k++] = '"';
    for (size_t i = 0; i < ncp; i++) {
        uint32_t c = cps[i];
        if (change && i + 1 == ncp)
            c = c == 'x' ? 'y' : 'x';
        k += fz_encode_cp(out + k, c, ((i * 7 + salt + c) & 3) == 0);
    }
    out[k++] = '"';
    return k;
}

/* {<orig>:0,<re-spelt, optionally changed>:1} */
static int fz_key_pair(const uint8_t *p, size_t n, const uint32_t *cps, size_t ncp, bool change)
{
    char *buf = malloc(n + ncp * 12 + 16);
    if (!buf)
        abort();
    size_t k = 0;
    buf[k++] = '{';
    memcpy(buf + k, p, n), k += n;
    memcpy(buf + k, ":0,", 3), k += 3;
    k += fz_respell(cps, ncp, n, change, buf + k);
    memcpy(buf + k, ":1}", 3), k += 3;
    int rc = fz_validate((const uint8_t *)buf, k, 1);
    free(buf);
    return rc;
}

static void fz_check_key_encoding(const uint8_t *p, size_t n)
{
    if (n < 2 || p[0] != '"' || p[n - 1] != '"')
        return; /* only bare string documents */
    uint32_t *cps = malloc(n * sizeof *cps);
    if (!cps)
        abort();
    size_t ncp = fz_decode(p, cps);
    if (fz_key_pair(p, n, cps, ncp, false) != JSONV_E_DUP_KEY)
        abort();
    if (ncp > 0 && fz_key_pair(p, n, cps, ncp, true) != JSONV_OK)
        abort();
    free(cps);
}

/* Offsets of the keys of a valid top-level object: strings at depth 1 that
 * follow '{' or ','. Returns their count; *close is the final '}'. */
static size_t fz_top_keys(const uint8_t *p, size_t n, size_t *keys, size_t *close)
{
    size_t count = 0;
    unsigned d = 0;
    uint8_t last = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (fz_is_ws(b))
            continue;
        if (b == '"') {
            if (d == 1 && (last == '{' || last == ','))
                keys[count++] = i;
            for (i++; p[i] != '"'; i++)
                if (p[i] == '\\')
                    i++;
        } else if (b == '{' || b == '[') {
            d++;
        } else if (b == '}' || b == ']') {
            if (--d == 0)
                *close = i;
        }
        last = b;
    }
    return count;
}

/* Appending a re-spelt copy of one of a valid object's keys must be caught
 * (as too many keys when the object is already full): exercises the sorted
 * key table with whatever order the fuzzer chose. */
static void fz_check_respelt_member(const uint8_t *p, size_t n)
{
    size_t keys[JSONV_MAX_KEYS], close = 0;
    size_t s = 0;
    while (s < n && fz_is_ws(p[s]))
        s++;
    if (s == n || p[s] != '{')
        return;
    size_t count = fz_top_keys(p, n, keys, &close);
    if (count == 0)
        return;
    size_t key = keys[n % count];
    uint32_t *cps = malloc(n * sizeof *cps);
    char *buf = malloc(n + n * 12 + 8);
    if (!cps || !buf)
        abort();
    size_t ncp = fz_decode(p + key, cps);
    size_t k = close;
    memcpy(buf, p, k);
    buf[k++] = ',';
    k += fz_respell(cps, ncp, n + count, false, buf + k);
    memcpy(buf + k, ":0", 2), k += 2;
    memcpy(buf + k, p + close, n - close), k += n - close;
    int want = count < JSONV_MAX_KEYS ? JSONV_E_DUP_KEY : JSONV_E_TOO_MANY_KEYS;
    if (fz_validate((const uint8_t *)buf, k, FZ_LIMIT) != want)
        abort();
    free(buf);
    free(cps);
}

/* The contract edge: a code that is not one of ours still has a message. */
static void fz_edges(void)
{
    if (strcmp(jsonv_strerror(12345), "unknown JSON validation error") != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_edges();
    size_t off1 = 0, off2 = 0;
    int rc = fz_validate(data, size, FZ_LIMIT);
    if (rc != JSONV_OK) {
        /* determinism, including the offset */
        jsonv_validate(data, size, FZ_LIMIT, &off1);
        jsonv_validate(data, size, FZ_LIMIT, &off2);
        if (off1 != off2 || jsonv_validate(data, size, FZ_LIMIT, NULL) != rc)
            abort();
    }
    if (jsonv_strerror(rc) == NULL)
        abort();
    fz_check_number(data, size, rc);
    if (rc != JSONV_OK)
        return 0;
    fz_check_valid_bytes(data, size);
    fz_check_depth_and_wraps(data, size);
    fz_check_prefixes(data, size);
    fz_check_key_encoding(data, size);
    fz_check_respelt_member(data, size);
    return 0;
}
