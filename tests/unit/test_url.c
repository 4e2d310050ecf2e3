// deps: src/parse/url.c
#include "t.h"
#include "parse/url.h"

static struct url U;

static int p(const char *s)
{
    return url_parse(s, strlen(s), &U);
}

static bool ok(const char *s, bool https, const char *host, unsigned port, const char *target)
{
    int rc = p(s);
    bool good = rc == URL_OK && U.https == https && strcmp(U.host, host) == 0 && U.port == port &&
                strcmp(U.target, target) == 0;
    if (!good)
        fprintf(stderr, "FAIL %s: rc=%d host=%s port=%u target=%s\n", s, rc, U.host, U.port, U.target);
    return good;
}

static void bad(const char *s, int want)
{
    int rc = p(s);
    if (rc != want)
        fprintf(stderr, "FAIL %s: want %d, got %d\n", s, want, rc);
    CHECK(rc == want);
}

static void test_good(void)
{
    CHECK(ok("https://jobs.example.com/p/1?x=y#frag", true, "jobs.example.com", 443, "/p/1?x=y"));
    CHECK(!U.port_explicit && U.kind == URL_HOST_NAME);
    CHECK(ok("HTTPS://Jobs.Example.COM", true, "jobs.example.com", 443, "/"));
    CHECK(ok("http://a.com", false, "a.com", 80, "/"));
    CHECK(ok("https://a.com:8443/x", true, "a.com", 8443, "/x"));
    CHECK(U.port_explicit);
    CHECK(ok("https://a.com:1", true, "a.com", 1, "/"));
    CHECK(ok("https://a.com:65535", true, "a.com", 65535, "/"));
    CHECK(ok("https://a.com?x=1", true, "a.com", 443, "/?x=1"));
    CHECK(ok("https://a.com#top", true, "a.com", 443, "/"));
    CHECK(ok("https://a.com/a%20b/%C3%A9?q=%2F&r=a:b@c!$'()*+,;=", true, "a.com", 443,
             "/a%20b/%C3%A9?q=%2F&r=a:b@c!$'()*+,;="));
    CHECK(ok("https://a.com/@evil.com", true, "a.com", 443, "/@evil.com"));
    CHECK(ok("https://xn--bcher-kva.example/", true, "xn--bcher-kva.example", 443, "/"));
    CHECK(ok("https://a-b.c0m.example/", true, "a-b.c0m.example", 443, "/"));
    CHECK(ok("https://123.example.com/", true, "123.example.com", 443, "/"));
    CHECK(ok("https://1.2.3.4/", true, "1.2.3.4", 443, "/"));
    CHECK(U.kind == URL_HOST_IPV4 && U.ip[0] == 1 && U.ip[3] == 4);
    CHECK(ok("https://255.255.255.255:443/", true, "255.255.255.255", 443, "/"));
    CHECK(ok("https://[::1]/", true, "::1", 443, "/"));
    CHECK(U.kind == URL_HOST_IPV6 && U.ip[15] == 1);
    CHECK(ok("https://[0:0:0:0:0:0:0:1]:8443", true, "::1", 8443, "/"));
    CHECK(ok("https://[::FFFF:127.0.0.1]/", true, "::ffff:127.0.0.1", 443, "/"));
    CHECK(ok("https://[2001:DB8:0:0:1::1]/", true, "2001:db8::1:0:0:1", 443, "/"));
    char label[80], name[300];
    memset(label, 'a', 63);
    label[63] = '\0';
    snprintf(name, sizeof name, "https://%s.%s.%s.b.com/", label, label, label);
    CHECK(p(name) == URL_OK);
}

static void test_bad(void)
{
    bad("", URL_E_SYNTAX);
    bad("jobs.example.com/p", URL_E_SYNTAX);
    bad("//jobs.example.com/p", URL_E_SYNTAX);
    bad("https:/a.com", URL_E_SYNTAX);
    bad("https:a.com", URL_E_SYNTAX);
    bad("1https://a.com", URL_E_SYNTAX);
    bad("ftp://a.com/", URL_E_SCHEME);
    bad("file:///etc/passwd", URL_E_SCHEME);
    bad("javascript:alert(1)", URL_E_SCHEME);
    bad("gopher://127.0.0.1:6379/_", URL_E_SCHEME);
    bad("httpsx://a.com", URL_E_SCHEME);
    bad("https://", URL_E_HOST);
    bad("https:///x", URL_E_HOST);
    bad("https://user@a.com/", URL_E_USERINFO);
    bad("https://user:pw@a.com/", URL_E_USERINFO);
    bad("https://a.com@evil.com/", URL_E_USERINFO);
    bad("https://@a.com/", URL_E_USERINFO);
    bad("https://a.com\\@evil.com/", URL_E_CHAR);
    bad("https://a.com\\evil", URL_E_CHAR);
    bad("https://a.com/a b", URL_E_CHAR);
    bad("https://a.com/\t", URL_E_CHAR);
    bad("https://a.com/\x7f", URL_E_CHAR);
    bad("https://b\xc3\xbc" "cher.example/", URL_E_CHAR);
    bad(" https://a.com/", URL_E_CHAR);
    CHECK(url_parse("https://a.com/\0x", 16, &U) == URL_E_CHAR);
    /* IPv4 in anything but a dotted quad */
    const char *v4[] = {"127.1", "0x7f.0.0.1", "0177.0.0.1", "2130706433", "1.2.3.256", "1.2.3.4.5",
                        "1.2.3", "01.2.3.4", "1.2.3.04", "0x7f000001", "a.b.0x10", "example.123",
                        "1.2.3.4.", "0"};
    for (size_t i = 0; i < ARRAY_LEN(v4); i++) {
        char s[64];
        snprintf(s, sizeof s, "https://%s/", v4[i]);
        bad(s, URL_E_HOST);
    }
    const char *hosts[] = {"-a.com", "a-.com", "a..com", "a.com.", ".a.com", "a_b.com", "a!.com",
                           "[::1", "[::1]x", "[]", "[fe80::1%25eth0]", "[::1%eth0]", "[1.2.3.4]",
                           "[::g]", "[:::1]", "::1", "a.com:80:80", "[12345::]"};
    for (size_t i = 0; i < ARRAY_LEN(hosts); i++) {
        char s[64];
        snprintf(s, sizeof s, "https://%s/", hosts[i]);
        bad(s, strchr(hosts[i], ':') && hosts[i][0] != '[' && strcmp(hosts[i], "::1") != 0 &&
                       strcmp(hosts[i], "a.com:80:80") != 0 ? URL_E_PORT : URL_E_HOST);
    }
    char label[80], name[400];
    memset(label, 'a', 64);
    label[64] = '\0';
    snprintf(name, sizeof name, "https://%s.com/", label);
    bad(name, URL_E_HOST);
    memset(label, 'a', 63);
    label[63] = '\0';
    snprintf(name, sizeof name, "https://%s.%s.%s.%s.com/", label, label, label, label);
    bad(name, URL_E_TOO_LONG);
    const char *ports[] = {"0", "65536", "08443", "", "abc", "-1", "+443", "123456", "44 3"};
    for (size_t i = 0; i < ARRAY_LEN(ports); i++) {
        char s[64];
        snprintf(s, sizeof s, "https://a.com:%s/", ports[i]);
        bad(s, strchr(ports[i], ' ') ? URL_E_CHAR : URL_E_PORT);
    }
    bad("https://[::1]:0/", URL_E_PORT);
    bad("https://a.com/%zz", URL_E_PATH);
    bad("https://a.com/%4", URL_E_PATH);
    bad("https://a.com/%", URL_E_PATH);
    bad("https://a.com/%4#x", URL_E_PATH);
    bad("https://a.com/<x>", URL_E_PATH);
    bad("https://a.com/x\"", URL_E_PATH);
    bad("https://a.com/?q=[1]", URL_E_PATH);
    bad("https://a.com/{x}", URL_E_PATH);
    bad("https://a.com/#a#b", URL_E_PATH);
    bad("https://a.com/`", URL_E_PATH);
    static char big[URL_MAX + 10];
    memcpy(big, "https://a.com/", 14);
    memset(big + 14, 'x', URL_MAX - 14 + 1);
    CHECK(url_parse(big, URL_MAX + 1, &U) == URL_E_TOO_LONG);
    CHECK(url_parse(big, URL_MAX, &U) == URL_OK && strlen(U.target) == URL_MAX - 13);
    for (int e = 0; e >= -9; e--)
        CHECK(url_strerror(e)[0] != '\0');
}

static bool res(const char *base, const char *ref, const char *want)
{
    struct url b, o;
    if (p(base) != URL_OK)
        return false;
    b = U;
    int rc = url_resolve(&b, ref, strlen(ref), &o);
    char out[URL_MAX + 300];
    bool good = rc == URL_OK && url_format(&o, out, sizeof out) && strcmp(out, want) == 0;
    if (!good)
        fprintf(stderr, "FAIL resolve %s + %s: rc=%d got %s\n", base, ref, rc, rc == URL_OK ? out : "-");
    return good;
}

static void test_resolve(void)
{
    const char *B = "https://a.com:8443/dir/page?q=1#f";
    CHECK(res(B, "/x", "https://a.com:8443/x"));
    CHECK(res(B, "x?y", "https://a.com:8443/dir/x?y"));
    CHECK(res(B, "?z", "https://a.com:8443/dir/page?z"));
    CHECK(res(B, "#g", "https://a.com:8443/dir/page?q=1"));
    CHECK(res(B, "", "https://a.com:8443/dir/page?q=1"));
    CHECK(res(B, "//b.com/y", "https://b.com/y"));
    CHECK(res(B, "https://C.com", "https://c.com/"));
    CHECK(res(B, "../up", "https://a.com:8443/dir/../up"));
    CHECK(res("https://[::1]:9/a", "b", "https://[::1]:9/b"));
    CHECK(res("https://a.com", "b", "https://a.com/b"));
    struct url b, o;
    p("https://a.com/");
    b = U;
    CHECK(url_resolve(&b, "http://b.com/", 13, &o) == URL_OK && !o.https);
    CHECK(url_resolve(&b, "file:///etc/passwd", 18, &o) == URL_E_SCHEME);
    CHECK(url_resolve(&b, "//user@b.com/", 13, &o) == URL_E_USERINFO);
    CHECK(url_resolve(&b, "/a b", 4, &o) == URL_E_CHAR);
    CHECK(url_resolve(&b, "//127.1/", 8, &o) == URL_E_HOST);
    /* a colon after a slash is a path, not a scheme */
    CHECK(url_resolve(&b, "/x:y", 4, &o) == URL_OK && strcmp(o.target, "/x:y") == 0);
    static char big[URL_MAX + 10];
    memset(big, 'x', sizeof big);
    CHECK(url_resolve(&b, big, URL_MAX + 1, &o) == URL_E_TOO_LONG);
    CHECK(url_resolve(&b, big, URL_MAX, &o) == URL_E_TOO_LONG); /* base + ref over the target cap */
    char small[8];
    CHECK(!url_format(&b, small, sizeof small));
}

int main(void)
{
    test_good();
    test_bad();
    test_resolve();
    return T_DONE();
}
