/* Strict parser for the absolute http(s) URLs a client may hand us (the job
 * posting link) and for redirect targets resolved against them. Pure: no I/O,
 * no allocation, results in a caller-owned struct.
 *
 * Refused on purpose (each a parser-differential or SSRF trick):
 *   - any byte below 0x21, DEL, non-ASCII (an IDN must be given in its
 *     punycode "xn--" form), and the backslash (browsers read it as '/');
 *   - userinfo ("user@host"): the classic "https://allowed@evil" confusion;
 *   - IPv4 in any form but a strict dotted quad ("127.1", "0x7f.0.0.1",
 *     "017700000001", "2130706433", "1.2.3.04"): a name whose last label is
 *     a number or 0x-hex is taken as an IPv4 attempt and must be a quad;
 *   - IPv6 zone identifiers ("[fe80::1%25eth0]");
 *   - a trailing dot in a name, labels over 63 or names over 253 bytes,
 *     '_' and other characters outside [A-Za-z0-9-.];
 *   - ports with leading zeros, 0, or over 65535; an empty port;
 *   - path/query bytes outside RFC 3986 pchar / '/' / '?', and bad %XX.
 * Scheme and host come out lowercased; IPv6 in RFC 5952 text. The fragment
 * is checked and dropped (never sent). deps: none (libc inet_pton/ntop). */
#ifndef URL_H
#define URL_H
#include "parse/base.h"

#define URL_MAX 2048        /* whole URL, bytes */
#define URL_HOST_MAX 253    /* a DNS name; IPv6 text is shorter */
#define URL_TARGET_MAX 2048 /* path + query */

enum url_error {
    URL_OK = 0,
    URL_E_SYNTAX = -1,   /* not scheme://authority[/path][?query][#fragment] */
    URL_E_SCHEME = -2,   /* a scheme other than http/https */
    URL_E_USERINFO = -3, /* "user[:pass]@" in the authority */
    URL_E_HOST = -4,     /* empty/malformed host, non-quad IPv4, zone id */
    URL_E_PORT = -5,     /* malformed or out of range */
    URL_E_PATH = -6,     /* a byte not allowed in path/query/fragment, bad %XX */
    URL_E_TOO_LONG = -7, /* over URL_MAX, host over URL_HOST_MAX, target over URL_TARGET_MAX */
    URL_E_CHAR = -8,     /* control byte, space, DEL, non-ASCII or backslash */
};

enum url_host_kind { URL_HOST_NAME, URL_HOST_IPV4, URL_HOST_IPV6 };

struct url {
    bool https;
    enum url_host_kind kind;
    char host[URL_HOST_MAX + 1]; /* lowercase; IPv6 without brackets */
    uint8_t ip[16];              /* the literal's bytes (4 used for IPv4) */
    uint16_t port;               /* explicit, or 443 / 80 */
    bool port_explicit;
    char target[URL_TARGET_MAX + 1]; /* "/path?query", never empty */
};

/* Parse s[0..n) (no NUL needed; a NUL inside is URL_E_CHAR). *u is written
 * in every case but meaningful only on URL_OK. */
int url_parse(const char *s, size_t n, struct url *u);
/* Resolve a reference (e.g. a Location header) against base, RFC 3986 5.2
 * without dot-segment removal (the target server does that), then parse the
 * result with url_parse's rules. */
int url_resolve(const struct url *base, const char *ref, size_t n, struct url *out);
/* "https://host[:port]/target" (IPv6 bracketed) into out[cap]; false if it does not fit. */
bool url_format(const struct url *u, char *out, size_t cap);
const char *url_strerror(int err);
#endif
