// deps: src/parse/access.c
#include "parse/access.h"

#include <stdio.h>
#include <string.h>

#include "t.h"

static struct slice S(const char *s) { return (struct slice){s, strlen(s)}; }

static bool addr_is(const struct access_addr *a, const char *text)
{
    char out[64];
    access_addr_format(a, out, sizeof out);
    return strcmp(out, text) == 0;
}

static void test_token(void)
{
    CHECK(access_token_valid("abcdefghijklmnop", 16));
    CHECK(!access_token_valid("abcdefghijklmno", 15));
    CHECK(access_token_valid("A-b.c_d~e+f0123456789", 21));
    CHECK(!access_token_valid("abcdefghijklmnop qr", 19));
    CHECK(!access_token_valid("abcdefghijklmnop,q", 18));
    CHECK(!access_token_valid("abcdefghijklmnop/q", 18));
    char big[300];
    memset(big, 'a', sizeof big);
    CHECK(access_token_valid(big, 255));
    CHECK(!access_token_valid(big, 256));
    CHECK(access_token_eq("secret-token-0123", 17, "secret-token-0123", 17));
    CHECK(!access_token_eq("secret-token-0123", 17, "secret-token-0124", 17));
    CHECK(!access_token_eq("secret-token-0123", 17, "secret-token-012", 16));
    CHECK(!access_token_eq("secret-token-0123", 17, "secret-token-01234", 18));
    CHECK(!access_token_eq("secret-token-0123", 17, "", 0));
    CHECK(!access_token_eq("", 0, "", 0)); /* no configured token never matches */
}

static void test_bearer(void)
{
    struct slice c;
    CHECK(access_bearer(S("Bearer abc"), &c) && c.n == 3 && memcmp(c.p, "abc", 3) == 0);
    CHECK(access_bearer(S("bearer   abc"), &c) && c.n == 3);
    CHECK(access_bearer(S("BEARER x"), &c) && c.n == 1);
    CHECK(!access_bearer(S("Bearer "), &c));
    CHECK(!access_bearer(S("Bearer"), &c));
    CHECK(!access_bearer(S("Basic abc"), &c));
    CHECK(!access_bearer(S("Bearer a b"), &c));
    CHECK(!access_bearer(S("Bearerabc"), &c));
    struct slice e;
    CHECK(access_subproto_bearer(S("bearer.tok"), &e, &c) && e.n == 10 && c.n == 3 &&
          memcmp(c.p, "tok", 3) == 0);
    CHECK(access_subproto_bearer(S("chat, bearer.tok ,x"), &e, &c) && e.n == 10 && c.n == 3);
    CHECK(!access_subproto_bearer(S("chat, bearer."), &e, &c));
    CHECK(!access_subproto_bearer(S("chat"), &e, &c));
    CHECK(!access_subproto_bearer(S(""), &e, &c));
    CHECK(!access_subproto_bearer(S("Bearer.tok"), &e, &c)); /* subprotocols are case-sensitive */
}

static void test_hosts(void)
{
    struct slice none = {"", 0}, list = S("interview.example.com, Other.Test");
    const char *open[] = {"127.0.0.1", "127.0.0.1:8000", "[::1]", "[::1]:8000", "localhost", "LocalHost:3000",
                          "192.0.2.1:80", "[2001:db8::1]:443"};
    for (size_t i = 0; i < sizeof open / sizeof *open; i++)
        CHECK(access_host_allowed(S(open[i]), none));
    const char *shut[] = {"rebind.attacker.test", "rebind.attacker.test:8000", "localhost.attacker.test",
                          "127.0.0.1.nip.io", "[127.0.0.1]", "[]", "", ":80", "127.0.0.1:0", "[::1]x",
                          "interview.example.com.evil", "1.2.3"};
    for (size_t i = 0; i < sizeof shut / sizeof *shut; i++) {
        CHECK(!access_host_allowed(S(shut[i]), none));
    }
    CHECK(access_host_allowed(S("interview.example.com:8443"), list));
    CHECK(access_host_allowed(S("other.test"), list));
    CHECK(!access_host_allowed(S("example.com"), list));
    CHECK(!access_host_allowed(S("interview.example.co"), list));
    CHECK(access_host_allowed(S("anything.test"), S("a.test, *")));
}

static void test_origin(void)
{
    CHECK(access_same_origin(S("http://example.com"), S("example.com")));
    CHECK(access_same_origin(S("http://Example.COM"), S("example.com")));
    CHECK(access_same_origin(S("http://example.com"), S("example.com:80")));
    CHECK(access_same_origin(S("https://example.com"), S("example.com:443")));
    CHECK(access_same_origin(S("https://example.com"), S("example.com")));
    CHECK(access_same_origin(S("http://127.0.0.1:8000"), S("127.0.0.1:8000")));
    CHECK(access_same_origin(S("http://[::1]:8000"), S("[::1]:8000")));
    CHECK(!access_same_origin(S("http://127.0.0.1:8001"), S("127.0.0.1:8000")));
    CHECK(!access_same_origin(S("http://evil.com"), S("example.com")));
    CHECK(!access_same_origin(S("https://example.com"), S("example.com:80")));
    CHECK(!access_same_origin(S("http://example.com.evil.com"), S("example.com")));
    CHECK(!access_same_origin(S("null"), S("example.com")));
    CHECK(!access_same_origin(S("ftp://example.com"), S("example.com")));
    CHECK(!access_same_origin(S("http://"), S("")));
    CHECK(!access_same_origin(S("http://a@example.com"), S("a@example.com")));
    CHECK(!access_same_origin(S("http://example.com/"), S("example.com/")));
    CHECK(!access_same_origin(S("http://example.com:0"), S("example.com:0")));
    CHECK(!access_same_origin(S("http://example.com:99999"), S("example.com:99999")));
    CHECK(!access_same_origin(S("http://example.com:"), S("example.com:")));
    CHECK(!access_same_origin(S("http://[::1"), S("[::1")));
}

static void test_cidr(void)
{
    struct access_cidr l[4];
    size_t n;
    struct access_addr a;
    CHECK(access_cidr_parse("", 0, l, 4, &n) == ACCESS_OK && n == 0);
    CHECK(access_cidr_parse("  ", 2, l, 4, &n) == ACCESS_OK && n == 0);
    const char *s = "10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1";
    CHECK(access_cidr_parse(s, strlen(s), l, 4, &n) == ACCESS_OK && n == 4);
    CHECK(access_addr_parse("10.200.3.4", 10, &a) == 0 && access_cidr_match(l, n, &a));
    CHECK(access_addr_parse("11.0.0.1", 8, &a) == 0 && !access_cidr_match(l, n, &a));
    CHECK(access_addr_parse("192.168.1.7", 11, &a) == 0 && access_cidr_match(l, n, &a));
    CHECK(access_addr_parse("192.168.1.8", 11, &a) == 0 && !access_cidr_match(l, n, &a));
    CHECK(access_addr_parse("fdab::1", 7, &a) == 0 && access_cidr_match(l, n, &a));
    CHECK(access_addr_parse("fe00::1", 7, &a) == 0 && !access_cidr_match(l, n, &a));
    CHECK(access_addr_parse("::1", 3, &a) == 0 && access_cidr_match(l, n, &a));
    CHECK(access_addr_parse("::ffff:10.1.1.1", 15, &a) == 0 && access_cidr_match(l, n, &a));
    CHECK(access_cidr_parse("10.1.2.3/20", 11, l, 4, &n) == 0 && n == 1 && l[0].bits == 116 &&
          addr_is(&l[0].net, "10.1.0.0"));
    CHECK(access_cidr_parse("0.0.0.0/0", 9, l, 4, &n) == 0 && access_addr_parse("1.2.3.4", 7, &a) == 0 &&
          access_cidr_match(l, n, &a));
    CHECK(access_cidr_parse("::/0", 4, l, 4, &n) == 0 && access_cidr_match(l, n, &a));
    CHECK(access_cidr_parse("10.0.0.0/33", 11, l, 4, &n) == ACCESS_E_SYNTAX);
    CHECK(access_cidr_parse("::/129", 6, l, 4, &n) == ACCESS_E_SYNTAX);
    CHECK(access_cidr_parse("10.0.0.0/", 9, l, 4, &n) == ACCESS_E_SYNTAX);
    CHECK(access_cidr_parse("10.0.0.0/8x", 11, l, 4, &n) == ACCESS_E_SYNTAX);
    CHECK(access_cidr_parse("10.0.0.0,,::1", 13, l, 4, &n) == ACCESS_E_SYNTAX);
    CHECK(access_cidr_parse("10.0.0.0,", 9, l, 4, &n) == ACCESS_E_SYNTAX);
    CHECK(access_cidr_parse("localhost", 9, l, 4, &n) == ACCESS_E_SYNTAX);
    CHECK(access_cidr_parse("1.1.1.1,2.2.2.2", 15, l, 1, &n) == ACCESS_E_TOO_MANY);
    CHECK(access_addr_parse("1.2.3", 5, &a) == ACCESS_E_SYNTAX);
    CHECK(access_addr_parse("1.2.3.4\0", 8, &a) == ACCESS_E_SYNTAX);
    CHECK(access_addr_parse("", 0, &a) == ACCESS_E_SYNTAX);
    CHECK(access_addr_parse("[::1]", 5, &a) == ACCESS_E_SYNTAX);
}

static void test_xff(void)
{
    struct access_cidr t[4];
    size_t nt;
    const char *tl = "127.0.0.1, 10.0.0.0/8";
    CHECK(access_cidr_parse(tl, strlen(tl), t, 4, &nt) == 0 && nt == 2);
    struct access_addr peer, untrusted, c;
    access_addr_parse("127.0.0.1", 9, &peer);
    access_addr_parse("203.0.113.9", 11, &untrusted);
    struct slice one[] = {S("198.51.100.1, 203.0.113.7, 10.1.1.1")};
    CHECK(access_client_addr(t, nt, &peer, one, 1, &c) == 2 && addr_is(&c, "203.0.113.7"));
    CHECK(access_client_addr(t, nt, &untrusted, one, 1, &c) == 0 && addr_is(&c, "203.0.113.9"));
    CHECK(access_client_addr(t, 0, &peer, one, 1, &c) == 0 && addr_is(&c, "127.0.0.1"));
    struct slice two[] = {S("198.51.100.1"), S("10.2.2.2")}; /* two fields form one list */
    CHECK(access_client_addr(t, nt, &peer, two, 2, &c) == 2 && addr_is(&c, "198.51.100.1"));
    struct slice all[] = {S("10.0.0.5, 10.0.0.6")};
    CHECK(access_client_addr(t, nt, &peer, all, 1, &c) == 2 && addr_is(&c, "10.0.0.5"));
    struct slice bad[] = {S("198.51.100.1, junk, 10.0.0.6")};
    CHECK(access_client_addr(t, nt, &peer, bad, 1, &c) == 1 && addr_is(&c, "10.0.0.6"));
    struct slice badfirst[] = {S("198.51.100.1, 1.2.3.4:x80")};
    CHECK(access_client_addr(t, nt, &peer, badfirst, 1, &c) == 0 && addr_is(&c, "127.0.0.1"));
    struct slice ports[] = {S("198.51.100.1:4711, 10.0.0.1:80")};
    CHECK(access_client_addr(t, nt, &peer, ports, 1, &c) == 2 && addr_is(&c, "198.51.100.1"));
    struct slice v6port[] = {S("[2001:db8::9]:4711")};
    CHECK(access_client_addr(t, nt, &peer, v6port, 1, &c) == 1 && addr_is(&c, "2001:db8::9"));
    struct slice v6br[] = {S("[2001:db8::9]")};
    CHECK(access_client_addr(t, nt, &peer, v6br, 1, &c) == 1 && addr_is(&c, "2001:db8::9"));
    const char *badports[] = {"1.2.3.4:", "1.2.3.4:1234567", "[2001:db8::9]x", "[2001:db8::9]:", "[1.2.3.4]:80",
                              "2001:db8::9:80x", "[2001:db8::9", ":80", "[]:80", "1.2.3.4:80:80"};
    for (size_t i = 0; i < sizeof badports / sizeof *badports; i++) {
        struct slice one_bad[] = {S(badports[i])};
        CHECK(access_client_addr(t, nt, &peer, one_bad, 1, &c) == 0 && addr_is(&c, "127.0.0.1"));
    }
    struct slice empty[] = {S("")};
    CHECK(access_client_addr(t, nt, &peer, empty, 1, &c) == 0 && addr_is(&c, "127.0.0.1"));
    CHECK(access_client_addr(t, nt, &peer, NULL, 0, &c) == 0 && addr_is(&c, "127.0.0.1"));
    struct slice v6[] = {S("2001:db8::7")};
    CHECK(access_client_addr(t, nt, &peer, v6, 1, &c) == 1 && addr_is(&c, "2001:db8::7"));
    /* Forged lines before the proxy's own (the last) choose nothing. */
    struct slice forged[9];
    for (int i = 0; i < 8; i++)
        forged[i] = S("198.51.100.66");
    forged[8] = S("203.0.113.44");
    CHECK(access_client_addr(t, nt, &peer, forged, 9, &c) == 1 && addr_is(&c, "203.0.113.44"));
    /* One line with many entries: only the right end is read; the work stops
     * after ACCESS_XFF_HOPS_MAX trusted hops (the last one believed). */
    char many[2048];
    size_t m = 0;
    for (int i = 0; i < 100; i++)
        m += (size_t)snprintf(many + m, sizeof many - m, "198.51.100.%d, ", i);
    m += (size_t)snprintf(many + m, sizeof many - m, "203.0.113.45");
    struct slice one_line[] = {{many, m}};
    CHECK(access_client_addr(t, nt, &peer, one_line, 1, &c) == 1 && addr_is(&c, "203.0.113.45"));
    m = 0;
    for (int i = 0; i < 40; i++)
        m += (size_t)snprintf(many + m, sizeof many - m, "%s10.0.0.%d", i ? "," : "", i + 1);
    struct slice hops[] = {{many, m}};
    CHECK(access_client_addr(t, nt, &peer, hops, 1, &c) == ACCESS_XFF_HOPS_MAX && addr_is(&c, "10.0.0.9"));
}

int main(void)
{
    test_token();
    test_bearer();
    test_origin();
    test_hosts();
    test_cidr();
    test_xff();
    return T_DONE();
}
