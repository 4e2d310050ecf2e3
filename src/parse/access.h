/* Access-control decisions over request bytes: bearer tokens (header,
 * query, WebSocket subprotocol), same-origin checks, the TRUSTED_PROXIES
 * address list and X-Forwarded-For. Pure: no I/O, no allocation; results in
 * caller structs. conn.c applies the decisions.
 * deps: none (inet_pton from libc). */
#ifndef ACCESS_H
#define ACCESS_H
#include "parse/base.h"

#define ACCESS_TOKEN_MIN 16  /* shorter tokens can be guessed: refused at start-up */
#define ACCESS_TOKEN_MAX 255
#define ACCESS_CIDR_MAX 64   /* entries in TRUSTED_PROXIES */
#define ACCESS_XFF_HOPS_MAX 32 /* X-Forwarded-For entries looked at, right to left */
#define ACCESS_SUBPROTO_PREFIX "bearer."

enum access_result {
    ACCESS_OK = 0,
    ACCESS_E_SYNTAX = -1, /* malformed list entry, address or prefix length */
    ACCESS_E_TOO_MANY = -2, /* more than the caller's capacity */
};

/* An IPv4 address is held as its IPv4-mapped IPv6 form (::ffff:a.b.c.d),
 * so one comparison covers v4 peers on a v4 or a dual-stack socket. */
struct access_addr {
    uint8_t b[16];
};

struct access_cidr {
    struct access_addr net; /* host bits cleared */
    uint8_t bits;           /* 0..128, in the IPv6 form (v4 /24 is 120) */
};

/* Is s[0..n) a token we accept for INTERVIEW_AUTH_TOKEN: ACCESS_TOKEN_MIN..MAX
 * characters of [A-Za-z0-9._~+-], the characters valid both in a Bearer
 * credential and in a Sec-WebSocket-Protocol token? */
bool access_token_valid(const char *s, size_t n);

/* Constant-time comparison: the time depends only on the lengths. */
bool access_token_eq(const char *want, size_t wn, const char *got, size_t gn);

/* "Bearer <credential>" (scheme case-insensitive, one or more spaces): the
 * credential, or false when the value is not a bearer credential. */
bool access_bearer(struct slice authorization, struct slice *cred);

/* Find the first entry "bearer.<t>" in a comma-separated Sec-WebSocket-Protocol
 * list; *entry is the whole entry (to echo), *cred the part after the prefix. */
bool access_subproto_bearer(struct slice list, struct slice *entry, struct slice *cred);

/* Is the Origin header (scheme "://" authority, scheme http or https) the
 * same origin as the Host header? Authorities compare case-insensitively and
 * a default port (80 for http, 443 for https) may be spelt or left out. */
bool access_same_origin(struct slice origin, struct slice host);

/* May a browser page reach us under this Host header (DNS rebinding)? True
 * when its host part is an IP literal ("192.0.2.1", "[::1]"), "localhost",
 * or a name in allowed (ALLOWED_HOSTS: comma-separated, case-insensitive,
 * spaces around entries ignored; "*" allows any name). A port is ignored. */
bool access_host_allowed(struct slice host, struct slice allowed);

/* Parse one IPv4 or IPv6 literal (no brackets, no port, no zone). */
int access_addr_parse(const char *s, size_t n, struct access_addr *out);

/* Parse a comma-separated list of addresses and CIDRs ("10.0.0.0/8, ::1,
 * fd00::/8"); spaces around entries allowed, empty entries refused, empty
 * list allowed. Host bits are cleared. Returns ACCESS_OK or an error; *n
 * entries are stored. */
int access_cidr_parse(const char *s, size_t len, struct access_cidr *out, size_t cap, size_t *n);

bool access_cidr_match(const struct access_cidr *list, size_t n, const struct access_addr *a);

/* The client address: when peer is a trusted proxy, the X-Forwarded-For
 * values (all fields, in order, each a comma-separated list) are read right
 * to left and the first address that is not a trusted proxy is the client;
 * when every entry is trusted, the left-most one. Entries are addresses,
 * optionally with a port ("192.0.2.1:80", "[2001:db8::1]:80"). An entry that
 * is not an address stops the walk: the last address believed (a trusted hop)
 * is used.
 * Returns the number of XFF entries believed (0 = the peer itself). */
int access_client_addr(const struct access_cidr *trusted, size_t ntrusted, const struct access_addr *peer,
                       const struct slice *xff, size_t nxff, struct access_addr *client);

/* Text form of an address (IPv4-mapped shown as dotted quad); cap >= 46. */
void access_addr_format(const struct access_addr *a, char *out, size_t cap);
#endif
