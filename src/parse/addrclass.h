/* Which IP addresses a server-side fetch may connect to (SSRF guard). Pure:
 * bytes in, class out. ADDR_PUBLIC is the only class a fetch may use.
 *
 * IPv4 (RFC 6890 special-purpose registry plus cloud endpoints):
 *   0.0.0.0/8 this-network (0.0.0.0 unspecified) · 10/8, 172.16/12, 192.168/16
 *   private · 100.64/10 CGNAT (also Alibaba's metadata 100.100.100.200) ·
 *   127/8 loopback · 169.254/16 link-local, 169.254.169.254 and 168.63.129.16
 *   (Azure WireServer) metadata · 192.0.0/24 IETF protocol assignments ·
 *   192.0.2/24, 198.51.100/24, 203.0.113/24 documentation · 192.88.99/24
 *   6to4 relay anycast (deprecated) · 198.18/15 benchmarking · 224/4
 *   multicast · 240/4 reserved · 255.255.255.255 broadcast.
 * IPv6: public only inside 2000::/3 global unicast, minus its special ranges:
 *   2001::/23 IETF protocol assignments (Teredo 2001::/32, benchmarking,
 *   ORCHID...), 2001:db8::/32 and 3fff::/20 documentation, 2002::/16 6to4 and
 *   Teredo (tunnels into arbitrary IPv4: refused, reported by their embedded
 *   IPv4 class when that one is not public). Outside 2000::/3: ::1 loopback,
 *   :: unspecified, fc00::/7 unique-local (incl. AWS's fd00:ec2::254),
 *   fe80::/10 link-local, fec0::/10 site-local, ff00::/8 multicast,
 *   ::ffff:0:0/96 mapped and 64:ff9b::/96 NAT64 classified by their IPv4,
 *   ::/96 compatible (deprecated) by its IPv4 and refused even when public,
 *   64:ff9b:1::/48 local NAT64 private, 100::/64 discard, everything else
 *   reserved. deps: none */
#ifndef ADDRCLASS_H
#define ADDRCLASS_H
#include <sys/socket.h>

#include "parse/base.h"

enum addr_class {
    ADDR_PUBLIC = 0,
    ADDR_UNSPECIFIED,   /* 0.0.0.0, :: */
    ADDR_THIS_NETWORK,  /* 0/8 */
    ADDR_LOOPBACK,      /* 127/8, ::1 */
    ADDR_PRIVATE,       /* RFC 1918, 64:ff9b:1::/48 */
    ADDR_CGNAT,         /* 100.64/10 */
    ADDR_LINK_LOCAL,    /* 169.254/16, fe80::/10 */
    ADDR_METADATA,      /* cloud instance metadata / platform endpoints */
    ADDR_UNIQUE_LOCAL,  /* fc00::/7, fec0::/10 */
    ADDR_DOCUMENTATION, /* TEST-NET-1/2/3, 2001:db8::/32, 3fff::/20 */
    ADDR_BENCHMARK,     /* 198.18/15 */
    ADDR_MULTICAST,     /* 224/4, ff00::/8 */
    ADDR_BROADCAST,     /* 255.255.255.255 */
    ADDR_TUNNEL,        /* 6to4, Teredo, IPv4-compatible IPv6 (embedded IPv4 public) */
    ADDR_RESERVED,      /* everything else that is not global unicast */
};

enum addr_class addr_class_v4(const uint8_t a[4]);
enum addr_class addr_class_v6(const uint8_t a[16]);
/* AF_INET / AF_INET6 socket address; anything else is ADDR_RESERVED. */
enum addr_class addr_class_sockaddr(const struct sockaddr *sa, socklen_t len);
const char *addr_class_name(enum addr_class c);
#endif
