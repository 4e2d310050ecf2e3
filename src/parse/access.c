/* deps: none */
#include "parse/access.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static bool access_tchar(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '~' || ch == '+' || ch == '-';
}

bool access_token_valid(const char *s, size_t n)
{
    if (n < ACCESS_TOKEN_MIN || n > ACCESS_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!access_tchar((unsigned char)s[i]))
            return false;
    return true;
}

bool access_token_eq(const char *want, size_t wn, const char *got, size_t gn)
{
    /* Every byte of got is looked at against a byte of want, whatever
     * matches: no early exit tells an attacker how much was right. */
    unsigned diff = wn != gn;
    for (size_t i = 0; i < gn; i++)
        diff |= (unsigned)(unsigned char)got[i] ^ (unsigned char)(wn ? want[i % wn] : 0);
    return wn > 0 && diff == 0;
}

static bool access_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* cppcheck-suppress arrayIndexOutOfBounds ; every caller passes n <= strlen(b): cppcheck 2.10 pairs the
         * 9 of the "localhost" call with the 8-byte "bearer " literal when the unity build grows */
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

bool access_bearer(struct slice v, struct slice *cred)
{
    if (v.n < 8 || !access_ieq(v.p, "bearer ", 7))
        return false;
    size_t i = 7;
    while (i < v.n && v.p[i] == ' ')
        i++;
    if (i == v.n)
        return false;
    for (size_t j = i; j < v.n; j++)
        if (v.p[j] == ' ' || v.p[j] == '\t')
            return false;
    *cred = (struct slice){v.p + i, v.n - i};
    return true;
}

static struct slice access_trim(const char *p, size_t n)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (struct slice){p, n};
}

bool access_subproto_bearer(struct slice list, struct slice *entry, struct slice *cred)
{
    const size_t pl = sizeof ACCESS_SUBPROTO_PREFIX - 1;
    size_t i = 0;
    while (i <= list.n) {
        size_t j = i;
        while (j < list.n && list.p[j] != ',')
            j++;
        struct slice e = access_trim(list.p + i, j - i);
        if (e.n > pl && memcmp(e.p, ACCESS_SUBPROTO_PREFIX, pl) == 0) {
            *entry = e;
            *cred = (struct slice){e.p + pl, e.n - pl};
            return true;
        }
        i = j + 1;
    }
    return false;
}

/* Split "host[:port]" (host may be "[v6]"); port 0 when absent. false when
 * the port is not 1..65535 digits. */
static bool access_authority(struct slice a, struct slice *host, unsigned *port)
{
    size_t colon = a.n;
    if (a.n && a.p[0] == '[') {
        const char *rb = memchr(a.p, ']', a.n);
        if (!rb)
            return false;
        colon = (size_t)(rb - a.p) + 1;
        if (colon < a.n && a.p[colon] != ':')
            return false;
    } else {
        const char *c = memchr(a.p, ':', a.n);
        if (c)
            colon = (size_t)(c - a.p);
    }
    *host = (struct slice){a.p, colon};
    *port = 0;
    if (colon == a.n)
        return colon > 0;
    if (colon + 1 == a.n || a.n - colon - 1 > 5)
        return false;
    uint64_t v;
    if (!dec_value(a.p + colon + 1, a.n - colon - 1, 65535, &v))
        return false;
    *port = (unsigned)v;
    return colon > 0 && v >= 1;
}

bool access_same_origin(struct slice origin, struct slice host)
{
    unsigned dflt;
    size_t skip;
    if (origin.n > 7 && access_ieq(origin.p, "http://", 7))
        dflt = 80, skip = 7;
    else if (origin.n > 8 && access_ieq(origin.p, "https://", 8))
        dflt = 443, skip = 8;
    else
        return false; /* "null", file:, chrome-extension:, ... are never same-origin */
    struct slice oh, hh;
    unsigned op, hp;
    if (!access_authority((struct slice){origin.p + skip, origin.n - skip}, &oh, &op) ||
        !access_authority(host, &hh, &hp))
        return false;
    if (memchr(oh.p, '/', oh.n) || memchr(oh.p, '@', oh.n))
        return false;
    if (!op)
        op = dflt;
    if (!hp)
        hp = dflt;
    return op == hp && oh.n == hh.n && access_ieq(oh.p, hh.p, oh.n);
}

bool access_host_allowed(struct slice host, struct slice allowed)
{
    struct slice h;
    unsigned port;
    struct access_addr a;
    if (!access_authority(host, &h, &port))
        return false;
    if (h.p[0] == '[') /* only an IPv6 literal is written in brackets */
        return h.n > 2 && memchr(h.p, ':', h.n) && access_addr_parse(h.p + 1, h.n - 2, &a) == ACCESS_OK;
    if (access_addr_parse(h.p, h.n, &a) == ACCESS_OK || (h.n == 9 && access_ieq(h.p, "localhost", 9)))
        return true;
    for (size_t i = 0; allowed.n && i <= allowed.n;) {
        size_t j = i;
        while (j < allowed.n && allowed.p[j] != ',')
            j++;
        struct slice e = access_trim(allowed.p + i, j - i);
        if ((e.n == 1 && e.p[0] == '*') || (e.n == h.n && access_ieq(e.p, h.p, h.n)))
            return true;
        i = j + 1;
    }
    return false;
}

int access_addr_parse(const char *s, size_t n, struct access_addr *out)
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n))
        return ACCESS_E_SYNTAX;
    memcpy(buf, s, n);
    buf[n] = '\0';
    struct in_addr v4;
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        memset(out->b, 0, 10);
        out->b[10] = out->b[11] = 0xff;
        memcpy(out->b + 12, &v4, 4);
        return ACCESS_OK;
    }
    return inet_pton(AF_INET6, buf, out->b) == 1 ? ACCESS_OK : ACCESS_E_SYNTAX;
}

static bool access_is_v4(const struct access_addr *a)
{
    static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a->b, pre, 12) == 0;
}

static int access_cidr_one(struct slice e, struct access_cidr *out)
{
    const char *slash = memchr(e.p, '/', e.n);
    size_t an = slash ? (size_t)(slash - e.p) : e.n;
    if (access_addr_parse(e.p, an, &out->net) != ACCESS_OK)
        return ACCESS_E_SYNTAX;
    bool v4 = access_is_v4(&out->net) && !memchr(e.p, ':', an);
    unsigned max = v4 ? 32 : 128, bits = max;
    if (slash) {
        size_t dn = e.n - an - 1;
        if (dn == 0 || dn > 3)
            return ACCESS_E_SYNTAX;
        uint64_t b;
        if (!dec_value(e.p + an + 1, dn, max, &b))
            return ACCESS_E_SYNTAX;
        bits = (unsigned)b;
    }
    if (v4)
        bits += 96;
    out->bits = (uint8_t)bits;
    for (unsigned i = 0; i < 16; i++) { /* clear host bits */
        unsigned keep = bits > i * 8 ? (bits - i * 8 >= 8 ? 8 : bits - i * 8) : 0;
        out->net.b[i] &= (uint8_t)(0xff00u >> keep);
    }
    return ACCESS_OK;
}

int access_cidr_parse(const char *s, size_t len, struct access_cidr *out, size_t cap, size_t *n)
{
    *n = 0;
    if (access_trim(s, len).n == 0)
        return ACCESS_OK;
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        struct slice e = access_trim(s + i, j - i);
        if (e.n == 0)
            return ACCESS_E_SYNTAX;
        if (*n == cap)
            return ACCESS_E_TOO_MANY;
        if (access_cidr_one(e, &out[*n]) != ACCESS_OK)
            return ACCESS_E_SYNTAX;
        ++*n;
        i = j + 1;
    }
    return ACCESS_OK;
}

bool access_cidr_match(const struct access_cidr *list, size_t n, const struct access_addr *a)
{
    for (size_t k = 0; k < n; k++) {
        unsigned bits = list[k].bits, i = 0;
        for (; bits >= 8; i++, bits -= 8)
            if (a->b[i] != list[k].net.b[i])
                break;
        if (bits >= 8)
            continue;
        if (bits == 0 || ((a->b[i] ^ list[k].net.b[i]) & (uint8_t)(0xff00u >> bits)) == 0)
            return true;
    }
    return false;
}

/* The entry ending just before end in v (right-to-left scan); false at the start. */
static bool access_prev_entry(struct slice v, size_t *end, struct slice *e)
{
    if (*end == (size_t)-1)
        return false;
    size_t stop = *end, b = stop;
    while (b > 0 && v.p[b - 1] != ',')
        b--;
    *e = access_trim(v.p + b, stop - b);
    *end = b == 0 ? (size_t)-1 : b - 1;
    return true;
}

/* An X-Forwarded-For entry: an address, or one with a port as some proxies
 * write it ("192.0.2.1:4711", "[2001:db8::1]:4711", "[2001:db8::1]"). */
static int access_xff_entry(struct slice e, struct access_addr *a)
{
    if (access_addr_parse(e.p, e.n, a) == ACCESS_OK)
        return ACCESS_OK;
    const char *end = e.n ? memchr(e.p, e.p[0] == '[' ? ']' : ':', e.n) : NULL;
    if (!end)
        return ACCESS_E_SYNTAX;
    size_t rest = e.n - (size_t)(end - e.p) - (e.p[0] == '[');
    const char *port = end + (e.p[0] == '[');
    if (rest && (port[0] != ':' || rest < 2 || rest > 6))
        return ACCESS_E_SYNTAX;
    for (size_t i = 1; i < rest; i++)
        if (port[i] < '0' || port[i] > '9')
            return ACCESS_E_SYNTAX;
    if (e.p[0] == '[')
        return access_addr_parse(e.p + 1, (size_t)(end - e.p) - 1, a) == ACCESS_OK && memchr(e.p, ':', (size_t)(end - e.p))
                   ? ACCESS_OK
                   : ACCESS_E_SYNTAX;
    return access_addr_parse(e.p, (size_t)(end - e.p), a) == ACCESS_OK && memchr(e.p, '.', (size_t)(end - e.p))
               ? ACCESS_OK
               : ACCESS_E_SYNTAX;
}

int access_client_addr(const struct access_cidr *trusted, size_t ntrusted, const struct access_addr *peer,
                       const struct slice *xff, size_t nxff, struct access_addr *client)
{
    *client = *peer;
    if (!access_cidr_match(trusted, ntrusted, peer))
        return 0;
    int believed = 0;
    for (size_t f = nxff; f-- > 0;) {
        size_t end = xff[f].n;
        struct slice e;
        while (access_prev_entry(xff[f], &end, &e)) {
            struct access_addr a;
            if (believed >= ACCESS_XFF_HOPS_MAX || access_xff_entry(e, &a) != ACCESS_OK)
                return believed;
            *client = a;
            believed++;
            if (!access_cidr_match(trusted, ntrusted, &a))
                return believed;
        }
    }
    return believed;
}

void access_addr_format(const struct access_addr *a, char *out, size_t cap)
{
    if (access_is_v4(a))
        snprintf(out, cap, "%u.%u.%u.%u", a->b[12], a->b[13], a->b[14], a->b[15]);
    else if (!inet_ntop(AF_INET6, a->b, out, (socklen_t)cap) && cap)
        out[0] = '\0';
}
