/* Shared conventions for every module in src/.
 *
 * Parsers are pure functions over bytes: no I/O, no heap allocation, state in a
 * caller-owned struct. Result convention (picohttpparser-like):
 *   > 0  bytes consumed / complete item
 *   = 0  need more input
 *   < 0  error; each module's enum of negative codes maps 1:1 to an HTTP status
 *        or a WebSocket close code through a status or close-code function.
 * Names: every symbol, static ones too, carries its module prefix, because the
 * release build is one translation unit (interview.c includes every src .c file). */
#ifndef BASE_H
#define BASE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A byte range inside a buffer the caller owns. */
struct slice {
    const char *p;
    size_t n;
};

#define SLICE_LIT(s) ((struct slice){(s), sizeof(s) - 1})

static inline bool slice_eq(struct slice a, const char *lit, size_t n)
{
    if (a.n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (a.p[i] != lit[i])
            return false;
    return true;
}

/* The value of one hex digit, or -1: the one decoder every %-escape, chunk
 * size and \u escape uses. */
static inline int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* s[0..n) read whole as an unsigned decimal: 1*DIGIT and nothing else, value
 * at most max (checked before each step, so any length of leading zeros is
 * read and nothing overflows). Whether leading zeros or 0 are allowed is the
 * caller's grammar. The one reader for ports, lengths, prefixes and counts. */
static inline bool dec_value(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (d > max || x > (max - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

/* Exactly a strict dotted quad over all of s[0..n): four decimal 0..255
 * without leading zeros (inet_aton would read "010" as octal 8, "1.2" as
 * 1.0.0.2). The one IPv4 text reader of URLs and configuration values. */
static inline bool ipv4_dotted(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
        size_t st = i;
        unsigned v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - st < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == st || v > 255 || (i - st > 1 && s[st] == '0'))
            return false;
        out[part] = (uint8_t)v;
    }
    return i == n;
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#endif
