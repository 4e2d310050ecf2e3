/* Strict parsers for configuration values, see cfgval.h. deps: none
 *
 * Everything is hand-written over plain char comparisons: strtoull and
 * friends skip leading spaces, accept signs and "0x", and depend on the
 * locale. The address parsers are our own rather than inet_pton so that the
 * accepted set is the same under glibc and musl, needs no POSIX feature
 * macro, and works on the unterminated substrings of a URL. */
#include "parse/cfgval.h"

#include <string.h>

static bool cfgval_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool cfgval_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool cfgval_is_hex(char c)
{
    return cfgval_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* ASCII-only lower-casing: tolower() follows the locale. */
static char cfgval_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool cfgval_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (cfgval_lower(*a) != cfgval_lower(*b))
            return false;
    return *a == *b;
}

/* ---- numbers ------------------------------------------------------------ */

/* Decimal digits s[0..n): at least one, no leading zero ("010" might be
 * meant as octal, so it is refused rather than guessed). On overflow it
 * stops accumulating and sets *overflow instead of failing, so that a syntax error later in the
 * string wins over a range error. Returns the digits consumed, 0 if none or
 * a leading zero. */
static size_t cfgval_digits(const char *s, size_t n, uint64_t *v, bool *overflow)
{
    size_t i = 0;
    *v = 0;
    *overflow = false;
    while (i < n && cfgval_is_digit(s[i])) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (*v > (UINT64_MAX - d) / 10)
            *overflow = true;
        else
            *v = *v * 10 + d;
        i++;
    }
    if (i > 1 && s[0] == '0')
        return 0;
    return i;
}

/* Size suffix -> multiplier, 0 if not one. */
static uint64_t cfgval_size_mult(const char *suffix)
{
    static const struct {
        const char *s;
        uint64_t mult;
    } tab[] = {
        {"", 1},
        {"k", 1024},
        {"K", 1024},
        {"m", 1024 * 1024},
        {"M", 1024 * 1024},
        {"g", 1024 * 1024 * 1024},
        {"G", 1024 * 1024 * 1024},
    };
    for (size_t i = 0; i < ARRAY_LEN(tab); i++)
        if (strcmp(suffix, tab[i].s) == 0)
            return tab[i].mult;
    return 0;
}

/* Duration unit -> milliseconds, 0 if not one. Bare digits are seconds. */
static uint64_t cfgval_duration_mult(const char *unit)
{
    static const struct {
        const char *s;
        uint64_t ms;
    } tab[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000},
    };
    for (size_t i = 0; i < ARRAY_LEN(tab); i++)
        if (strcmp(unit, tab[i].s) == 0)
            return tab[i].ms;
    return 0;
}

/* Shared by cfgval_uint and cfgval_duration_ms: digits, then a suffix that
 * mult_of() must recognise. */
static int cfgval_scaled(const char *s, uint64_t (*mult_of)(const char *), uint64_t min,
                         uint64_t max, uint64_t *out)
{
    if (s == NULL)
        return CFGVAL_E_SYNTAX;
    uint64_t v;
    bool overflow;
    size_t nd = cfgval_digits(s, strlen(s), &v, &overflow);
    if (nd == 0)
        return CFGVAL_E_SYNTAX;
    uint64_t mult = mult_of(s + nd);
    if (mult == 0)
        return CFGVAL_E_SYNTAX;
    if (overflow || v > UINT64_MAX / mult)
        return CFGVAL_E_RANGE;
    v *= mult;
    if (v < min || v > max)
        return CFGVAL_E_RANGE;
    *out = v;
    return CFGVAL_OK;
}

static uint64_t cfgval_plain_mult(const char *suffix)
{
    return suffix[0] == '\0';
}

int cfgval_uint(const char *s, uint64_t min, uint64_t max, bool allow_size_suffix, uint64_t *out)
{
    return cfgval_scaled(s, allow_size_suffix ? cfgval_size_mult : cfgval_plain_mult, min, max,
                         out);
}

int cfgval_duration_ms(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out)
{
    return cfgval_scaled(s, cfgval_duration_mult, min_ms, max_ms, out);
}

/* ---- words -------------------------------------------------------------- */

int cfgval_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    if (s == NULL)
        return CFGVAL_E_SYNTAX;
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (cfgval_ieq(s, yes[i])) {
            *out = true;
            return CFGVAL_OK;
        }
        if (cfgval_ieq(s, no[i])) {
            *out = false;
            return CFGVAL_OK;
        }
    }
    return CFGVAL_E_SYNTAX;
}

int cfgval_enum(const char *s, const char *const *words, size_t nwords, unsigned *out)
{
    if (s == NULL)
        return CFGVAL_E_SYNTAX;
    for (size_t i = 0; i < nwords; i++) {
        if (words[i] != NULL && strcmp(s, words[i]) == 0) {
            *out = (unsigned)i;
            return CFGVAL_OK;
        }
    }
    return CFGVAL_E_SYNTAX;
}

/* Index of the first c in s[0..n), or n. Bounded, unlike strcspn, so it
 * works on the substrings the URL parser hands around. */
static size_t cfgval_find(const char *s, size_t n, char c)
{
    size_t i = 0;
    while (i < n && s[i] != c)
        i++;
    return i;
}

/* ---- IP literals -------------------------------------------------------- */

/* A dotted quad spanning s[0..n): base.h's strict reader (no leading zeros,
 * which inet_aton would read as octal). */
static bool cfgval_ipv4(const char *s, size_t n)
{
    uint8_t ip[4];
    return ipv4_dotted(s, n, ip);
}

/* One IPv6 piece s[0..n) (no ':' in it): an h16, or an IPv4 dotted quad
 * when it contains a '.'. Adds its 16-bit groups to *groups; *ipv4 set for
 * the dotted quad, which the caller must see end the address. */
static bool cfgval_ipv6_piece(const char *s, size_t n, unsigned *groups, bool *ipv4)
{
    if (cfgval_find(s, n, '.') < n) {
        *ipv4 = true;
        *groups += 2;
        return cfgval_ipv4(s, n);
    }
    for (size_t k = 0; k < n; k++)
        if (!cfgval_is_hex(s[k]))
            return false;
    *groups += 1;
    return n >= 1 && n <= 4;
}

/* RFC 4291 section 2.2 text forms, what inet_pton(AF_INET6) accepts: eight
 * 16-bit groups, at most one "::" standing for one or more zero groups,
 * optionally an IPv4 dotted quad as the last two. No zone ("%eth0"). */
static bool cfgval_ipv6(const char *s, size_t n)
{
    unsigned groups = 0;
    bool elided = false, ipv4 = false;
    size_t i = 0;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        elided = true;
        i = 2;
    }
    while (i < n) {
        if (groups >= 8)
            return false;
        size_t len = cfgval_find(s + i, n - i, ':');
        if (!cfgval_ipv6_piece(s + i, len, &groups, &ipv4) || (ipv4 && i + len != n))
            return false;
        i += len;
        if (i == n)
            break;
        i++; /* ':' */
        if (i < n && s[i] == ':') {
            if (elided)
                return false;
            elided = true;
            i++;
        } else if (i == n) {
            return false; /* a single trailing ':' */
        }
    }
    return elided ? groups <= 7 : groups == 8;
}

int cfgval_host(const char *s)
{
    if (s == NULL)
        return CFGVAL_E_SYNTAX;
    size_t n = strlen(s);
    if (strcmp(s, "localhost") == 0 || cfgval_ipv4(s, n) || cfgval_ipv6(s, n))
        return CFGVAL_OK;
    return CFGVAL_E_SYNTAX;
}

/* ---- URL ---------------------------------------------------------------- */

/* RFC 1035/1123 host name: dot-separated labels of 1..63 letters, digits
 * and '-', not starting or ending with '-', 253 characters at most. A name
 * whose last label starts with a digit must be a valid dotted quad: no TLD
 * does, and resolvers would read "127.1" or "0x7f.1" as an address. */
static bool cfgval_dns_name(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!cfgval_is_alpha(s[i]) && !cfgval_is_digit(s[i]) && s[i] != '-')
                return false;
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-')
            return false;
        if (i == n && cfgval_is_digit(s[start]))
            return cfgval_ipv4(s, n);
        start = i + 1;
    }
    return true;
}

/* Copies s[0..n) into a host or prefix buffer; false if it does not fit. */
static bool cfgval_copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

/* ":port" is optional; a present one is 1..65535, digits only. */
static int cfgval_url_port(const char *s, size_t n, struct cfgval_url *u)
{
    u->port = u->https ? 443 : 80;
    if (n == 0)
        return CFGVAL_OK;
    if (s[0] != ':')
        return CFGVAL_E_SYNTAX;
    uint64_t v;
    bool overflow;
    size_t nd = cfgval_digits(s + 1, n - 1, &v, &overflow);
    if (nd == 0 || nd != n - 1)
        return CFGVAL_E_SYNTAX;
    if (overflow || v == 0 || v > 65535)
        return CFGVAL_E_RANGE;
    u->port = (uint16_t)v;
    return CFGVAL_OK;
}

/* authority = host [":" port], s[0..n), no userinfo. */
static int cfgval_url_authority(const char *s, size_t n, struct cfgval_url *u)
{
    size_t hn;
    if (n > 0 && s[0] == '[') {
        size_t close = cfgval_find(s, n, ']');
        if (close == n)
            return CFGVAL_E_SYNTAX;
        size_t in = close - 1;
        if (!cfgval_ipv6(s + 1, in) || !cfgval_copy(u->host, sizeof u->host, s + 1, in))
            return CFGVAL_E_SYNTAX;
        u->host_ipv6 = true;
        hn = in + 2;
    } else {
        hn = cfgval_find(s, n, ':');
        if (!cfgval_dns_name(s, hn) || !cfgval_copy(u->host, sizeof u->host, s, hn))
            return CFGVAL_E_SYNTAX;
    }
    return cfgval_url_port(s + hn, n - hn, u);
}

/* pchar of RFC 3986 minus '@' (nothing in an upstream prefix needs it, and
 * it invites confusion with userinfo), plus '/'. "%XX" handled by caller. */
static bool cfgval_path_char(char c)
{
    return cfgval_is_alpha(c) || cfgval_is_digit(c) || (c != '\0' && strchr("-._~!$&'()*+,;=:/", c));
}

/* True for a "." or ".." segment s[0..n). */
static bool cfgval_dot_segment(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

/* Characters of the path are checked here; segments in cfgval_url_path. */
static bool cfgval_path_chars_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n || !cfgval_is_hex(s[i + 1]) || !cfgval_is_hex(s[i + 2]))
                return false;
            i += 2;
        } else if (!cfgval_path_char(s[i])) {
            return false;
        }
    }
    return true;
}

/* The path prefix s (rest of the URL, "" or starting with '/'). Empty and
 * dot segments are refused so that the prefix means what it looks like; a
 * single trailing '/' is dropped. */
static int cfgval_url_path(const char *s, struct cfgval_url *u)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '/')
        n--;
    if (!cfgval_path_chars_ok(s, n))
        return CFGVAL_E_SYNTAX;
    for (size_t i = 0; i < n;) { /* s[i] == '/' starts each segment */
        size_t len = cfgval_find(s + i + 1, n - i - 1, '/');
        if (len == 0 || cfgval_dot_segment(s + i + 1, len))
            return CFGVAL_E_SYNTAX;
        i += 1 + len;
    }
    if (!cfgval_copy(u->prefix, sizeof u->prefix, s, n))
        return CFGVAL_E_RANGE;
    return CFGVAL_OK;
}

int cfgval_url(const char *s, struct cfgval_url *out)
{
    struct cfgval_url u;
    memset(&u, 0, sizeof u);
    if (s == NULL)
        return CFGVAL_E_SYNTAX;
    if (strncmp(s, "https://", 8) == 0) {
        u.https = true;
        s += 8;
    } else if (strncmp(s, "http://", 7) == 0) {
        s += 7;
    } else {
        return CFGVAL_E_SYNTAX;
    }
    size_t an = strcspn(s, "/");
    int rc = cfgval_url_authority(s, an, &u);
    if (rc == CFGVAL_OK)
        rc = cfgval_url_path(s + an, &u);
    if (rc == CFGVAL_OK)
        *out = u;
    return rc;
}
