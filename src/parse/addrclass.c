/* deps: none */
#include "parse/addrclass.h"

#include <netinet/in.h>
#include <string.h>

static uint32_t addr_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool addr_in4(uint32_t a, uint32_t net, unsigned bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (a & mask) == net;
}

enum addr_class addr_class_v4(const uint8_t b[4])
{
    uint32_t a = addr_be32(b);
    static const struct { uint32_t net; unsigned bits; enum addr_class c; } t[] = {
        {0x00000000u, 32, ADDR_UNSPECIFIED},   {0x00000000u, 8, ADDR_THIS_NETWORK},
        {0x0a000000u, 8, ADDR_PRIVATE},        {0x64400000u, 10, ADDR_CGNAT},
        {0x7f000000u, 8, ADDR_LOOPBACK},       {0xa9fea9feu, 32, ADDR_METADATA},
        {0xa83f8110u, 32, ADDR_METADATA},      {0xa9fe0000u, 16, ADDR_LINK_LOCAL},
        {0xac100000u, 12, ADDR_PRIVATE},       {0xc0000000u, 24, ADDR_RESERVED},
        {0xc0000200u, 24, ADDR_DOCUMENTATION}, {0xc0586300u, 24, ADDR_RESERVED},
        {0xc0a80000u, 16, ADDR_PRIVATE},       {0xc6120000u, 15, ADDR_BENCHMARK},
        {0xc6336400u, 24, ADDR_DOCUMENTATION}, {0xcb007100u, 24, ADDR_DOCUMENTATION},
        {0xe0000000u, 4, ADDR_MULTICAST},      {0xffffffffu, 32, ADDR_BROADCAST},
        {0xf0000000u, 4, ADDR_RESERVED},
    };
    for (size_t i = 0; i < ARRAY_LEN(t); i++)
        if (addr_in4(a, t[i].net, t[i].bits))
            return t[i].c;
    return ADDR_PUBLIC;
}

static bool addr_prefix(const uint8_t *a, const uint8_t *p, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, p, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (p[whole] & mask);
}

/* The class of an embedded IPv4 in a tunnel/compat form: its own when not
 * public, else ADDR_TUNNEL (we do not fetch through tunnels at all). */
static enum addr_class addr_embedded(const uint8_t *v4)
{
    enum addr_class c = addr_class_v4(v4);
    return c == ADDR_PUBLIC ? ADDR_TUNNEL : c;
}

enum addr_class addr_class_v6(const uint8_t a[16])
{
    static const uint8_t zero[16] = {0};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t nat64l[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
    static const uint8_t teredo[4] = {0x20, 0x01, 0, 0};
    static const uint8_t sixtofour[2] = {0x20, 0x02};
    static const uint8_t doc[4] = {0x20, 0x01, 0x0d, 0xb8};
    static const uint8_t doc2[3] = {0x3f, 0xff, 0};
    static const uint8_t ietf[3] = {0x20, 0x01, 0};
    static const uint8_t discard[8] = {0x01, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1))
        return a[15] ? ADDR_LOOPBACK : ADDR_UNSPECIFIED;
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return addr_class_v4(a + 12);
    if (memcmp(a, zero, 12) == 0)
        return addr_embedded(a + 12); /* ::a.b.c.d, deprecated */
    if (addr_prefix(a, nat64l, 48))
        return ADDR_PRIVATE;
    if (a[0] == 0xff)
        return ADDR_MULTICAST;
    if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0))
        return ADDR_UNIQUE_LOCAL;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return ADDR_LINK_LOCAL;
    if (addr_prefix(a, discard, 64))
        return ADDR_RESERVED;
    if ((a[0] & 0xe0) != 0x20)
        return ADDR_RESERVED; /* not global unicast */
    if (addr_prefix(a, doc, 32) || addr_prefix(a, doc2, 20))
        return ADDR_DOCUMENTATION;
    if (addr_prefix(a, sixtofour, 16))
        return addr_embedded(a + 2);
    if (addr_prefix(a, teredo, 32)) {
        uint8_t client[4] = {(uint8_t)~a[12], (uint8_t)~a[13], (uint8_t)~a[14], (uint8_t)~a[15]};
        return addr_embedded(client);
    }
    if (addr_prefix(a, ietf, 23))
        return ADDR_RESERVED;
    return ADDR_PUBLIC;
}

enum addr_class addr_class_sockaddr(const struct sockaddr *sa, socklen_t len)
{
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        uint8_t b[4];
        memcpy(b, &s4->sin_addr, 4);
        return addr_class_v4(b);
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        return addr_class_v6(s6->sin6_addr.s6_addr);
    }
    return ADDR_RESERVED;
}

const char *addr_class_name(enum addr_class c)
{
    static const char *const n[] = {"public", "unspecified", "this-network", "loopback", "private",
                                    "cgnat", "link-local", "metadata", "unique-local",
                                    "documentation", "benchmarking", "multicast", "broadcast",
                                    "tunnel", "reserved"};
    return (unsigned)c < ARRAY_LEN(n) ? n[c] : "reserved";
}
