/* Parsers for configuration values (environment variables and flags) and for
 * the upstream base URL. Each is strict: the whole string must match, no
 * leading/trailing spaces, no signs where none make sense, overflow refused.
 * A NULL string is CFGVAL_E_SYNTAX; *out is written only on CFGVAL_OK.
 * Numbers: decimal digits only, no leading zeros ("010" could be meant as
 * octal; "0" itself is fine); a well-formed value that overflows uint64 is
 * CFGVAL_E_RANGE. Locale-independent. Pure; no allocation. deps: none. */
#ifndef CFGVAL_H
#define CFGVAL_H
#include "parse/base.h"

enum cfgval_error {
    CFGVAL_OK = 0,
    CFGVAL_E_SYNTAX = -1, /* not of the expected form */
    CFGVAL_E_RANGE = -2,  /* well-formed but outside [min, max] */
};

/* Unsigned decimal with optional suffix: size "k"/"K"=1024, "m"/"M"=1024^2,
 * "g"/"G"=1024^3 when allow_size_suffix; otherwise plain digits. */
int cfgval_uint(const char *s, uint64_t min, uint64_t max, bool allow_size_suffix, uint64_t *out);

/* Duration: digits with unit "ms", "s", "m", "h" (bare digits = seconds;
 * units lowercase only). Result in milliseconds, must lie in [min_ms, max_ms]. */
int cfgval_duration_ms(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *out);

/* Boolean: 1/0, true/false, yes/no, on/off (case-insensitive). */
int cfgval_bool(const char *s, bool *out);

/* One of a fixed list of words (case-sensitive); *out = index. */
int cfgval_enum(const char *s, const char *const *words, size_t nwords, unsigned *out);

/* Listen address: an IPv4 dotted quad, an IPv6 literal (no brackets), or
 * "localhost". Checked with inet_pton-equivalent strictness, no DNS: exactly
 * four octets 0..255 without leading zeros; RFC 4291 IPv6 text (one "::",
 * optional trailing dotted quad, no zone "%if"). */
int cfgval_host(const char *s);

/* http(s)://host[:port][/prefix] with no userinfo, query or fragment.
 * host is a DNS name (letters, digits, '-', '.'), an IPv4 literal or a
 * bracketed IPv6 literal. Trailing '/' of the prefix is dropped.
 * Scheme lowercase. DNS labels 1..63 chars, no leading/trailing '-', name
 * <= 253, no trailing dot; a name whose last label starts with a digit must
 * be a dotted quad ("127.1", "0x7f.1", "1.2.3.256" refused). Port 1..65535
 * (0 or too big: CFGVAL_E_RANGE). Prefix: RFC 3986 pchar and "%XX", minus
 * '@'; no empty ("//") or dot ("."/"..") segments. Prefix longer than 511:
 * CFGVAL_E_RANGE; every other refusal is CFGVAL_E_SYNTAX. */
struct cfgval_url {
    bool https;
    bool host_ipv6;     /* host was "[...]"; host[] holds it without brackets */
    char host[256];
    uint16_t port;      /* default 443 / 80 */
    char prefix[512];   /* "" or "/v1" style, no trailing '/' */
};
int cfgval_url(const char *s, struct cfgval_url *out);
#endif
