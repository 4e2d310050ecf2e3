// deps: src/parse/cfgval.c
/* libFuzzer harness for cfgval. The input is split at '\n' into fields; each
 * field (as an exact-size NUL-terminated heap copy) goes through every
 * parser, and through cfgval_url again behind "http://" and "https://" so
 * that the fuzzer reaches the authority and path code at once. Invariants:
 *   - numbers: a limited range answers exactly like the full range followed
 *     by a range check; an accepted value prints back as the input (no
 *     leading zeros, so the decimal form is unique);
 *   - bool/enum agree with a plain table lookup;
 *   - host agrees with glibc inet_pton (plus "localhost");
 *   - url: host non-empty, port >= 1, prefix "" or "/..." without trailing
 *     '/', no '@' '?' '#' ' ' anywhere; serialising the result and parsing
 *     it again gives the same struct;
 *   - a NULL string is a syntax error for every parser. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* inet_pton, strcasecmp, strnlen */
#endif
#include "parse/cfgval.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const uint64_t fz_bounds[] = {0, 1, 2, 59, 60, 1000, 1024, 65535, 1u << 20,
                                     UINT64_MAX / 1000, UINT64_MAX - 1, UINT64_MAX};

/* The full-range answer, then the [min, max] one, must be consistent. */
static void fz_check_range(int full, uint64_t v, int lim, uint64_t lv, uint64_t min, uint64_t max)
{
    if (full == CFGVAL_E_SYNTAX && lim != CFGVAL_E_SYNTAX)
        abort();
    if (full == CFGVAL_E_RANGE && lim != CFGVAL_E_RANGE)
        abort();
    if (full == CFGVAL_OK) {
        bool in = v >= min && v <= max;
        if (lim != (in ? CFGVAL_OK : CFGVAL_E_RANGE) || (in && lv != v))
            abort();
    }
}

/* s must be the decimal form of v / mult followed by unit. */
static void fz_check_printback(const char *s, uint64_t v, uint64_t mult, const char *unit)
{
    char buf[64];
    if (v % mult != 0)
        abort();
    snprintf(buf, sizeof buf, "%llu%s", (unsigned long long)(v / mult), unit);
    if (strcmp(buf, s) != 0)
        abort();
}

static uint64_t fz_size_mult(char c)
{
    switch (c) {
    case 'k':
    case 'K':
        return 1024;
    case 'm':
    case 'M':
        return 1024 * 1024;
    case 'g':
    case 'G':
        return 1024 * 1024 * 1024;
    default:
        return 1;
    }
}

static void fz_uint(const char *s, uint64_t min, uint64_t max)
{
    for (int sfx = 0; sfx < 2; sfx++) {
        uint64_t v = 7, lv = 7;
        int full = cfgval_uint(s, 0, UINT64_MAX, sfx, &v);
        int lim = cfgval_uint(s, min, max, sfx, &lv);
        fz_check_range(full, v, lim, lv, min, max);
        if (full != CFGVAL_OK)
            continue;
        size_t n = strlen(s);
        uint64_t mult = fz_size_mult(s[n - 1]);
        if (mult > 1 && !sfx)
            abort();
        char unit[2] = {mult > 1 ? s[n - 1] : '\0', '\0'};
        fz_check_printback(s, v, mult, unit);
    }
}

static void fz_duration(const char *s, uint64_t min, uint64_t max)
{
    uint64_t v = 7, lv = 7;
    int full = cfgval_duration_ms(s, 0, UINT64_MAX, &v);
    int lim = cfgval_duration_ms(s, min, max, &lv);
    fz_check_range(full, v, lim, lv, min, max);
    if (full != CFGVAL_OK)
        return;
    size_t n = strlen(s);
    if (n >= 2 && strcmp(s + n - 2, "ms") == 0)
        fz_check_printback(s, v, 1, "ms");
    else if (s[n - 1] == 's')
        fz_check_printback(s, v, 1000, "s");
    else if (s[n - 1] == 'm')
        fz_check_printback(s, v, 60000, "m");
    else if (s[n - 1] == 'h')
        fz_check_printback(s, v, 3600000, "h");
    else
        fz_check_printback(s, v, 1000, "");
}

static void fz_words(const char *s)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    int want = -1;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            want = 1;
        if (strcasecmp(s, no[i]) == 0)
            want = 0;
    }
    bool b = false;
    int rc = cfgval_bool(s, &b);
    if ((rc == CFGVAL_OK) != (want >= 0) || (rc != CFGVAL_OK && rc != CFGVAL_E_SYNTAX))
        abort();
    if (rc == CFGVAL_OK && b != (want == 1))
        abort();

    static const char *const words[] = {"debug", "info", "", "warn", "info"};
    unsigned idx = 99;
    rc = cfgval_enum(s, words, 5, &idx);
    int found = -1;
    for (int i = 4; i >= 0; i--)
        if (strcmp(s, words[i]) == 0)
            found = i;
    if ((rc == CFGVAL_OK) != (found >= 0) || (found >= 0 && idx != (unsigned)found))
        abort();
}

/* glibc inet_pton is the reference for address literals. */
static void fz_host(const char *s)
{
    unsigned char addr[16];
    bool want = strcmp(s, "localhost") == 0 || inet_pton(AF_INET, s, addr) == 1 ||
                inet_pton(AF_INET6, s, addr) == 1;
    int rc = cfgval_host(s);
    if ((rc == CFGVAL_OK) != want) {
        fprintf(stderr, "host mismatch on '%s': cfgval %d inet_pton %d\n", s, rc, want);
        abort();
    }
}

static void fz_url_shape(const char *s, const struct cfgval_url *u)
{
    size_t hl = strnlen(u->host, sizeof u->host), pl = strnlen(u->prefix, sizeof u->prefix);
    if (hl == 0 || hl >= sizeof u->host || pl >= sizeof u->prefix || u->port == 0)
        abort();
    if (pl > 0 && (u->prefix[0] != '/' || u->prefix[pl - 1] == '/'))
        abort();
    if (strpbrk(s, "@?# \t\r\n\\") != NULL)
        abort();
    if (u->https != (strncmp(s, "https://", 8) == 0))
        abort();
    if (u->host_ipv6 && cfgval_host(u->host) != CFGVAL_OK)
        abort();
    if (!u->host_ipv6 && strchr(u->host, ':') != NULL)
        abort();
}

/* Serialise, parse again, compare field by field. */
static void fz_url_roundtrip(const struct cfgval_url *u)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s://%s%s%s:%u%s", u->https ? "https" : "http",
             u->host_ipv6 ? "[" : "", u->host, u->host_ipv6 ? "]" : "", (unsigned)u->port,
             u->prefix);
    struct cfgval_url again;
    if (cfgval_url(buf, &again) != CFGVAL_OK)
        abort();
    if (again.https != u->https || again.host_ipv6 != u->host_ipv6 || again.port != u->port ||
        strcmp(again.host, u->host) != 0 || strcmp(again.prefix, u->prefix) != 0)
        abort();
}

static void fz_url(const char *s)
{
    struct cfgval_url u;
    memset(&u, 0xa5, sizeof u);
    int rc = cfgval_url(s, &u);
    if (rc != CFGVAL_OK && rc != CFGVAL_E_SYNTAX && rc != CFGVAL_E_RANGE)
        abort();
    if (rc != CFGVAL_OK)
        return;
    fz_url_shape(s, &u);
    fz_url_roundtrip(&u);
}

static void fz_url_prefixed(const char *scheme, const char *s, size_t n)
{
    size_t k = strlen(scheme);
    char *buf = malloc(k + n + 1);
    if (!buf)
        abort();
    memcpy(buf, scheme, k);
    memcpy(buf + k, s, n + 1);
    fz_url(buf);
    free(buf);
}

static void fz_field(const uint8_t *p, size_t n, uint64_t min, uint64_t max)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    size_t len = strlen(s); /* an embedded NUL ends the C string early */
    fz_uint(s, min, max);
    fz_duration(s, min, max);
    fz_words(s);
    fz_host(s);
    fz_url(s);
    fz_url_prefixed("http://", s, len);
    fz_url_prefixed("https://", s, len);
    free(s);
}

/* The contract edges: no string is a syntax error, never a crash. */
static void fz_edges(void)
{
    uint64_t v;
    bool b;
    unsigned k;
    struct cfgval_url u;
    static const char *const words[] = {"a"};
    if (cfgval_uint(NULL, 0, 1, false, &v) != CFGVAL_E_SYNTAX ||
        cfgval_duration_ms(NULL, 0, 1, &v) != CFGVAL_E_SYNTAX || cfgval_bool(NULL, &b) != CFGVAL_E_SYNTAX ||
        cfgval_enum(NULL, words, 1, &k) != CFGVAL_E_SYNTAX || cfgval_host(NULL) != CFGVAL_E_SYNTAX ||
        cfgval_url(NULL, &u) != CFGVAL_E_SYNTAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_edges();
    /* Range bounds come from the first byte, which is also field data. */
    uint64_t a = fz_bounds[size ? data[0] % ARRAY_LEN(fz_bounds) : 0];
    uint64_t b = fz_bounds[size ? (data[0] / 16) % ARRAY_LEN(fz_bounds) : 0];
    uint64_t min = a < b ? a : b, max = a < b ? b : a;
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            fz_field(data + start, i - start, min, max);
            start = i + 1;
        }
    }
    return 0;
}
