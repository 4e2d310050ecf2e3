// deps: src/parse/addrclass.c
#include <arpa/inet.h>
#include <netinet/in.h>

#include "parse/addrclass.h"
#include "t.h"

static enum addr_class cls(const char *s)
{
    uint8_t b[16];
    if (inet_pton(AF_INET, s, b) == 1)
        return addr_class_v4(b);
    if (inet_pton(AF_INET6, s, b) == 1)
        return addr_class_v6(b);
    return (enum addr_class)-1;
}

static void is(const char *s, enum addr_class want)
{
    enum addr_class got = cls(s);
    if (got != want)
        fprintf(stderr, "FAIL %s: want %s, got %s\n", s, addr_class_name(want), addr_class_name(got));
    CHECK(got == want);
}

int main(void)
{
    /* IPv4 */
    is("0.0.0.0", ADDR_UNSPECIFIED);
    is("0.1.2.3", ADDR_THIS_NETWORK);
    is("10.0.0.1", ADDR_PRIVATE);
    is("10.255.255.255", ADDR_PRIVATE);
    is("172.16.0.1", ADDR_PRIVATE);
    is("172.31.255.255", ADDR_PRIVATE);
    is("172.15.255.255", ADDR_PUBLIC);
    is("172.32.0.0", ADDR_PUBLIC);
    is("192.168.0.1", ADDR_PRIVATE);
    is("100.64.0.1", ADDR_CGNAT);
    is("100.127.255.255", ADDR_CGNAT);
    is("100.100.100.200", ADDR_CGNAT); /* Alibaba metadata */
    is("100.128.0.0", ADDR_PUBLIC);
    is("127.0.0.1", ADDR_LOOPBACK);
    is("127.0.0.2", ADDR_LOOPBACK);
    is("127.255.255.254", ADDR_LOOPBACK);
    is("169.254.169.254", ADDR_METADATA);
    is("168.63.129.16", ADDR_METADATA);
    is("169.254.0.1", ADDR_LINK_LOCAL);
    is("192.0.0.1", ADDR_RESERVED);
    is("192.0.0.192", ADDR_RESERVED);
    is("192.0.2.1", ADDR_DOCUMENTATION);
    is("198.51.100.7", ADDR_DOCUMENTATION);
    is("203.0.113.9", ADDR_DOCUMENTATION);
    is("192.88.99.1", ADDR_RESERVED);
    is("198.18.0.1", ADDR_BENCHMARK);
    is("198.19.255.255", ADDR_BENCHMARK);
    is("198.20.0.0", ADDR_PUBLIC);
    is("224.0.0.1", ADDR_MULTICAST);
    is("239.255.255.255", ADDR_MULTICAST);
    is("240.0.0.1", ADDR_RESERVED);
    is("255.255.255.254", ADDR_RESERVED);
    is("255.255.255.255", ADDR_BROADCAST);
    is("8.8.8.8", ADDR_PUBLIC);
    is("1.1.1.1", ADDR_PUBLIC);
    is("93.184.215.14", ADDR_PUBLIC);
    is("223.255.255.255", ADDR_PUBLIC);
    /* IPv6 */
    is("::", ADDR_UNSPECIFIED);
    is("::1", ADDR_LOOPBACK);
    is("::ffff:127.0.0.1", ADDR_LOOPBACK);
    is("::ffff:10.1.2.3", ADDR_PRIVATE);
    is("::ffff:169.254.169.254", ADDR_METADATA);
    is("::ffff:8.8.8.8", ADDR_PUBLIC);
    is("::127.0.0.1", ADDR_LOOPBACK);       /* compatible, deprecated */
    is("::8.8.8.8", ADDR_TUNNEL);
    is("::2", ADDR_THIS_NETWORK);           /* compatible form of 0.0.0.2 */
    is("64:ff9b::127.0.0.1", ADDR_LOOPBACK); /* NAT64 */
    is("64:ff9b::a9fe:a9fe", ADDR_METADATA);
    is("64:ff9b::8.8.8.8", ADDR_PUBLIC);
    is("64:ff9b:1::1", ADDR_PRIVATE);
    is("fc00::1", ADDR_UNIQUE_LOCAL);
    is("fd00:ec2::254", ADDR_UNIQUE_LOCAL);  /* AWS metadata over IPv6 */
    is("fdff:ffff::1", ADDR_UNIQUE_LOCAL);
    is("fec0::1", ADDR_UNIQUE_LOCAL);
    is("fe80::1", ADDR_LINK_LOCAL);
    is("febf::1", ADDR_LINK_LOCAL);
    is("ff02::1", ADDR_MULTICAST);
    is("ff0e::1", ADDR_MULTICAST);
    is("100::1", ADDR_RESERVED);
    is("2001:db8::1", ADDR_DOCUMENTATION);
    is("3fff::1", ADDR_DOCUMENTATION);
    is("3fff:fff::1", ADDR_DOCUMENTATION);
    is("3fff:1000::1", ADDR_PUBLIC);
    is("2002:7f00:1::1", ADDR_LOOPBACK);     /* 6to4 of 127.0.0.1 */
    is("2002:0a00:0001::1", ADDR_PRIVATE);
    is("2002:0808:0808::1", ADDR_TUNNEL);
    is("2001:0:4136:e378:8000:63bf:80ff:fffe", ADDR_LOOPBACK); /* Teredo, client ~ = 127.0.0.1 */
    is("2001:0:4136:e378:8000:63bf:f7f7:f7f7", ADDR_TUNNEL);   /* client 8.8.8.8 */
    is("2001:2::1", ADDR_RESERVED);          /* benchmarking, inside 2001::/23 */
    is("2001:1ff::1", ADDR_RESERVED);
    is("2001:200::1", ADDR_PUBLIC);
    is("2001:4860:4860::8888", ADDR_PUBLIC);
    is("2606:4700:4700::1111", ADDR_PUBLIC);
    is("2a00:1450:4001::1", ADDR_PUBLIC);
    is("4000::1", ADDR_RESERVED);            /* outside 2000::/3 */
    is("1234::1", ADDR_RESERVED);
    is("::ffff:0:127.0.0.1", ADDR_RESERVED); /* SIIT translated form, not global */
    /* sockaddr front door */
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
    CHECK(addr_class_sockaddr((struct sockaddr *)&s4, sizeof s4) == ADDR_LOOPBACK);
    CHECK(addr_class_sockaddr((struct sockaddr *)&s4, sizeof s4 - 1) == ADDR_RESERVED);
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2606:4700:4700::1111", &s6.sin6_addr);
    CHECK(addr_class_sockaddr((struct sockaddr *)&s6, sizeof s6) == ADDR_PUBLIC);
    struct sockaddr un = {.sa_family = AF_UNIX};
    CHECK(addr_class_sockaddr(&un, sizeof un) == ADDR_RESERVED);
    CHECK(strcmp(addr_class_name(ADDR_METADATA), "metadata") == 0);
    CHECK(strcmp(addr_class_name((enum addr_class)99), "reserved") == 0);
    /* exhaustive over the first octet: only the documented /8s are special */
    for (unsigned a = 0; a < 256; a++) {
        uint8_t b[4] = {(uint8_t)a, 77, 77, 77};
        enum addr_class c = addr_class_v4(b);
        bool special = a == 0 || a == 10 || a == 127 || a >= 224;
        CHECK((c != ADDR_PUBLIC) == special || a == 100 || a == 169 || a == 172 || a == 192 ||
              a == 198 || a == 203);
    }
    return T_DONE();
}
