// deps: src/parse/cfgval.c
#include "parse/cfgval.h"
#include "t.h"

#include <locale.h>

static const uint64_t U64MAX = UINT64_MAX;

/* cfgval_uint result, with *out checked to stay untouched on error. */
static int u(const char *s, uint64_t min, uint64_t max, bool sfx, uint64_t *v)
{
    uint64_t got = 0xdeadbeef;
    int rc = cfgval_uint(s, min, max, sfx, &got);
    if (rc != CFGVAL_OK && got != 0xdeadbeef)
        return 99;
    if (v)
        *v = got;
    return rc;
}

static bool u_is(const char *s, bool sfx, uint64_t want)
{
    uint64_t v;
    return u(s, 0, U64MAX, sfx, &v) == CFGVAL_OK && v == want;
}

static void test_uint(void)
{
    CHECK(u_is("0", false, 0));
    CHECK(u_is("5", false, 5));
    CHECK(u_is("1234567890", false, 1234567890));
    CHECK(u_is("18446744073709551615", false, U64MAX));
    CHECK(u("18446744073709551616", 0, U64MAX, false, NULL) == CFGVAL_E_RANGE);
    CHECK(u("99999999999999999999999999", 0, U64MAX, false, NULL) == CFGVAL_E_RANGE);
    const char *bad[] = {"", " 5", "5 ", "+5", "-5", "0x10", "5kk", "05", "00", "5.0", "1e3",
                         "5\n", "\t5", "٣", "5_000", "5,000", "k", "0x", "five", "5k"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK(u(bad[i], 0, U64MAX, false, NULL) == CFGVAL_E_SYNTAX);
    CHECK(u(NULL, 0, U64MAX, false, NULL) == CFGVAL_E_SYNTAX);
    /* syntax errors win over overflow */
    CHECK(u("99999999999999999999999x", 0, U64MAX, false, NULL) == CFGVAL_E_SYNTAX);
    /* range */
    CHECK(u("10", 10, 20, false, NULL) == CFGVAL_OK);
    CHECK(u("20", 10, 20, false, NULL) == CFGVAL_OK);
    CHECK(u("9", 10, 20, false, NULL) == CFGVAL_E_RANGE);
    CHECK(u("21", 10, 20, false, NULL) == CFGVAL_E_RANGE);
    CHECK(u("0", 1, 20, false, NULL) == CFGVAL_E_RANGE);
    CHECK(u("5", 7, 3, false, NULL) == CFGVAL_E_RANGE); /* empty range */
}

static void test_uint_suffix(void)
{
    CHECK(u_is("5", true, 5));
    CHECK(u_is("1k", true, 1024));
    CHECK(u_is("1K", true, 1024));
    CHECK(u_is("3m", true, 3ull << 20));
    CHECK(u_is("3M", true, 3ull << 20));
    CHECK(u_is("2g", true, 2ull << 30));
    CHECK(u_is("2G", true, 2ull << 30));
    CHECK(u_is("0k", true, 0));
    CHECK(u_is("17179869183G", true, 17179869183ull << 30));
    CHECK(u("17179869184G", 0, U64MAX, true, NULL) == CFGVAL_E_RANGE);
    CHECK(u("18014398509481984k", 0, U64MAX, true, NULL) == CFGVAL_E_RANGE);
    CHECK(u("18014398509481983k", 0, U64MAX, true, NULL) == CFGVAL_OK);
    const char *bad[] = {"5kk", "5 k", "k5", "5kb", "5KB", "5KiB", "5t", "5T", "5b", "-1k",
                         "+1k", "5k ", " 5k", "05k", "1.5k", "5mm", "5k\n", ""};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK(u(bad[i], 0, U64MAX, true, NULL) == CFGVAL_E_SYNTAX);
    CHECK(u("2k", 0, 2047, true, NULL) == CFGVAL_E_RANGE);
    CHECK(u("2k", 2048, 2048, true, NULL) == CFGVAL_OK);
}

static int dur(const char *s, uint64_t *v)
{
    uint64_t got = 0xdeadbeef;
    int rc = cfgval_duration_ms(s, 0, U64MAX, &got);
    if (rc != CFGVAL_OK && got != 0xdeadbeef)
        return 99;
    *v = got;
    return rc;
}

static bool dur_is(const char *s, uint64_t ms)
{
    uint64_t v;
    return dur(s, &v) == CFGVAL_OK && v == ms;
}

static void test_duration(void)
{
    uint64_t v;
    CHECK(dur_is("30s", 30000));
    CHECK(dur_is("500ms", 500));
    CHECK(dur_is("2m", 120000));
    CHECK(dur_is("1h", 3600000));
    CHECK(dur_is("30", 30000));
    CHECK(dur_is("0", 0));
    CHECK(dur_is("0ms", 0));
    CHECK(dur_is("18446744073709551615ms", U64MAX));
    CHECK(dur_is("18446744073709551s", 18446744073709551000ull));
    CHECK(dur("18446744073709552s", &v) == CFGVAL_E_RANGE);
    CHECK(dur("18446744073709552", &v) == CFGVAL_E_RANGE);
    CHECK(dur("5124095576031h", &v) == CFGVAL_E_RANGE);
    CHECK(dur("5124095576030h", &v) == CFGVAL_OK && v == 5124095576030ull * 3600000);
    CHECK(dur("307445734561826m", &v) == CFGVAL_E_RANGE);
    CHECK(dur("307445734561825m", &v) == CFGVAL_OK && v == 307445734561825ull * 60000);
    CHECK(dur("18446744073709551616ms", &v) == CFGVAL_E_RANGE);
    const char *bad[] = {"", "s", "ms", " 30s", "30s ", "30 s", "+30s", "-1s", "1.5s", "30S",
                         "30MS", "30sec", "5min", "1d", "1hm", "30ss", "030", "0x1s", "1m30s",
                         "1H", "30us", "30ns"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK(dur(bad[i], &v) == CFGVAL_E_SYNTAX);
    CHECK(cfgval_duration_ms(NULL, 0, 10, &v) == CFGVAL_E_SYNTAX);
    CHECK(cfgval_duration_ms("1s", 1000, 1000, &v) == CFGVAL_OK && v == 1000);
    CHECK(cfgval_duration_ms("999ms", 1000, 2000, &v) == CFGVAL_E_RANGE);
    CHECK(cfgval_duration_ms("3s", 1000, 2000, &v) == CFGVAL_E_RANGE);
}

static void test_bool(void)
{
    const char *yes[] = {"1", "true", "TRUE", "True", "tRuE", "yes", "YES", "on", "On"};
    const char *no[] = {"0", "false", "FALSE", "no", "No", "off", "OFF"};
    const char *bad[] = {"", "2", "t", "f", "y", "n", "tru", "truee", " true", "true ", "01",
                         "of", "offf", "enable", "-1", "yes\n"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        bool b = false;
        CHECK(cfgval_bool(yes[i], &b) == CFGVAL_OK && b);
    }
    for (size_t i = 0; i < ARRAY_LEN(no); i++) {
        bool b = true;
        CHECK(cfgval_bool(no[i], &b) == CFGVAL_OK && !b);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        bool b = true;
        CHECK(cfgval_bool(bad[i], &b) == CFGVAL_E_SYNTAX && b);
    }
    bool b;
    CHECK(cfgval_bool(NULL, &b) == CFGVAL_E_SYNTAX);
}

static void test_enum(void)
{
    static const char *const words[] = {"debug", "info", "warn", "error"};
    unsigned idx = 99;
    CHECK(cfgval_enum("debug", words, 4, &idx) == CFGVAL_OK && idx == 0);
    CHECK(cfgval_enum("error", words, 4, &idx) == CFGVAL_OK && idx == 3);
    idx = 99;
    CHECK(cfgval_enum("Error", words, 4, &idx) == CFGVAL_E_SYNTAX && idx == 99);
    CHECK(cfgval_enum("", words, 4, &idx) == CFGVAL_E_SYNTAX);
    CHECK(cfgval_enum("warn ", words, 4, &idx) == CFGVAL_E_SYNTAX);
    CHECK(cfgval_enum("inf", words, 4, &idx) == CFGVAL_E_SYNTAX);
    CHECK(cfgval_enum("error", words, 3, &idx) == CFGVAL_E_SYNTAX);
    CHECK(cfgval_enum("debug", NULL, 0, &idx) == CFGVAL_E_SYNTAX);
    CHECK(cfgval_enum(NULL, words, 4, &idx) == CFGVAL_E_SYNTAX);
    static const char *const dup[] = {"a", "b", "a"};
    CHECK(cfgval_enum("a", dup, 3, &idx) == CFGVAL_OK && idx == 0);
}

static void test_host(void)
{
    const char *good[] = {"0.0.0.0", "127.0.0.1", "255.255.255.255", "10.0.0.10", "1.2.3.4",
                          "localhost", "::", "::1", "1::", "fe80::1", "2001:db8::8:800:200c:417a",
                          "2001:DB8:0:0:8:800:200C:417A", "1:2:3:4:5:6:7:8", "1::2:3:4:5:6:7",
                          "::ffff:192.0.2.1", "::192.0.2.1", "1:2:3:4:5:6:1.2.3.4",
                          "0000:0000:0000:0000:0000:0000:0000:0001", "1:2:3:4:5:6:7::",
                          "::2:3:4:5:6:7:8", "a::b", "1:2::3:4"};
    const char *bad[] = {
        "", " 127.0.0.1", "127.0.0.1 ", "127.0.0", "127.0.0.1.1", "127.0.0.01", "01.2.3.4",
        "256.0.0.1", "1000.0.0.1", "1.2.3.1000", "1.2.3.256", "1.2.3.-1", "1..3.4", ".1.2.3", "1.2.3.",
        "127.1", "0x7f.0.0.1",
        "2130706433", "1.2.3.4x", "1.2.3.0004", "LOCALHOST", "localhost.", "example.com", ":",
        ":::", "1:::2", "1::2::3", ":1", "1:", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8", "12345::", "g::", "::1%eth0", "fe80::1%25", "[::1]",
        "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "::1.2.3.4:5", "::01.2.3.4", "::256.1.1.1",
        "1:2:3:4:5:6:7", "1.2.3.4::", "::1.2.3.4.5", "::ffff:1.2.3.04", "1:2:3:4:5:6:7:8 "};
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        int rc = cfgval_host(good[i]);
        if (rc != CFGVAL_OK)
            fprintf(stderr, "  host %s refused\n", good[i]);
        CHECK(rc == CFGVAL_OK);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        int rc = cfgval_host(bad[i]);
        if (rc != CFGVAL_E_SYNTAX)
            fprintf(stderr, "  host %s accepted\n", bad[i]);
        CHECK(rc == CFGVAL_E_SYNTAX);
    }
    CHECK(cfgval_host(NULL) == CFGVAL_E_SYNTAX);
}

/* Parses s; on success compares https, host, port, prefix. */
static bool url_is(const char *s, bool https, const char *host, unsigned port, const char *prefix)
{
    struct cfgval_url url;
    int rc = cfgval_url(s, &url);
    bool ok = rc == CFGVAL_OK && url.https == https && strcmp(url.host, host) == 0 &&
              url.port == port && strcmp(url.prefix, prefix) == 0;
    if (!ok)
        fprintf(stderr, "  url %s: rc %d host '%s' port %u prefix '%s'\n", s, rc,
                rc ? "" : url.host, rc ? 0 : url.port, rc ? "" : url.prefix);
    return ok;
}

static int url_rc(const char *s)
{
    struct cfgval_url url;
    memset(&url, 0x5a, sizeof url);
    int rc = cfgval_url(s, &url);
    if (rc != CFGVAL_OK) {
        const unsigned char *b = (const unsigned char *)&url;
        for (size_t i = 0; i < sizeof url; i++)
            if (b[i] != 0x5a)
                return 99; /* out written on error */
    }
    return rc;
}

static void test_url_good(void)
{
    CHECK(url_is("http://example.com", false, "example.com", 80, ""));
    CHECK(url_is("https://example.com", true, "example.com", 443, ""));
    CHECK(url_is("https://api.openai.com/v1", true, "api.openai.com", 443, "/v1"));
    CHECK(url_is("https://api.openai.com/v1/", true, "api.openai.com", 443, "/v1"));
    CHECK(url_is("http://localhost:8080", false, "localhost", 8080, ""));
    CHECK(url_is("http://localhost:8080/", false, "localhost", 8080, ""));
    CHECK(url_is("http://127.0.0.1:1/a/b/c", false, "127.0.0.1", 1, "/a/b/c"));
    CHECK(url_is("http://h:65535", false, "h", 65535, ""));
    CHECK(url_is("https://h:80", true, "h", 80, ""));
    CHECK(url_is("http://[::1]", false, "::1", 80, ""));
    CHECK(url_is("https://[2001:db8::1]:8443/x", true, "2001:db8::1", 8443, "/x"));
    CHECK(url_is("http://[::ffff:1.2.3.4]:9/", false, "::ffff:1.2.3.4", 9, ""));
    CHECK(url_is("http://My-Host.Example.COM", false, "My-Host.Example.COM", 80, ""));
    CHECK(url_is("http://a1.b2-c.d", false, "a1.b2-c.d", 80, ""));
    CHECK(url_is("http://123abc.com", false, "123abc.com", 80, ""));
    CHECK(url_is("http://xn--bcher-kva.example", false, "xn--bcher-kva.example", 80, ""));
    CHECK(url_is("http://h/v1/a%20b", false, "h", 80, "/v1/a%20b"));
    CHECK(url_is("http://h/-._~!$&'()*+,;=:", false, "h", 80, "/-._~!$&'()*+,;=:"));
    CHECK(url_is("http://h/.well-known/...x", false, "h", 80, "/.well-known/...x"));
    CHECK(url_is("http://h/a..", false, "h", 80, "/a.."));
    struct cfgval_url url;
    CHECK(cfgval_url("http://[::1]:1", &url) == CFGVAL_OK && url.host_ipv6);
    CHECK(cfgval_url("http://1.2.3.4", &url) == CFGVAL_OK && !url.host_ipv6);
}

static void test_url_host_limits(void)
{
    char s[600], label[64];
    memset(label, 'a', 63);
    label[63] = '\0';
    snprintf(s, sizeof s, "http://%s.com", label);
    CHECK(url_rc(s) == CFGVAL_OK);
    snprintf(s, sizeof s, "http://%sa.com", label);
    CHECK(url_rc(s) == CFGVAL_E_SYNTAX);
    /* 253 characters: 3 x 63 + '.' separators + 61 */
    snprintf(s, sizeof s, "http://%s.%s.%s.%.61s", label, label, label, label);
    CHECK(strlen(s) - 7 == 253 && url_rc(s) == CFGVAL_OK);
    snprintf(s, sizeof s, "http://%s.%s.%s.%.62s", label, label, label, label);
    CHECK(url_rc(s) == CFGVAL_E_SYNTAX);
    strcpy(s, "http://h:8/");
    memset(s + 11, 'p', 510);
    s[521] = '\0';
    CHECK(url_rc(s) == CFGVAL_OK); /* prefix "/ppp..." of 511 chars */
    s[521] = 'p';
    s[522] = '\0';
    CHECK(url_rc(s) == CFGVAL_E_RANGE);
    s[522] = '/'; /* trailing slash dropped before the length check */
    s[523] = '\0';
    CHECK(url_rc(s) == CFGVAL_E_RANGE);
    s[521] = '/';
    s[522] = '\0';
    CHECK(url_rc(s) == CFGVAL_OK);
}

static void test_url_bad(void)
{
    const char *syntax[] = {
        "", "example.com", "ftp://h", "HTTP://h", "Http://h", "http:/h", "http:h",
        "http//h", "https:://h", " http://h", "http://h ", "http://", "https://", "http:///v1",
        "http://:80", "http://h:", "http://h:+80", "http://h:-1", "http://h:08", "http://h:8a",
        "http://h:80:81", "http://user@h", "http://user:pw@h", "http://h/a@b", "http://h?x=1",
        "http://h/?x", "http://h/v1?x", "http://h#f", "http://h/v1#f", "http://h /v1",
        "http://h/a b", "http://h/a\tb", "http://-h", "http://h-", "http://a.-b.c",
        "http://a..b", "http://.a", "http://a.", "http://h_x", "http://h%41", "http://127.1",
        "http://1.2.3.256", "http://0x7f.0.0.1", "http://2130706433", "http://01.2.3.4",
        "http://1.2.3.4.5", "http://[::1", "http://::1", "http://[::1]x", "http://[::1]:",
        "http://[]", "http://[1.2.3.4]", "http://[::1%25eth0]", "http://[v1.fe]",
        "http://[::1]]", "http://h//", "http://h//v1", "http://h/v1//x", "http://h/v1//",
        "http://h/.", "http://h/..", "http://h/./x", "http://h/a/../b", "http://h/a/..",
        "http://h/a/../", "http://h/%", "http://h/%4", "http://h/%4g", "http://h/%zz",
        "http://h/\"", "http://h/<", "http://h/\\", "http://h/a|b", "http://h/\x80",
        "http://h\xc3\xa9.com", "http://h/[x]", "http://h/{x}", "http://h/^", "http://h/`",
        "http://[::1]@h", "http://h@[::1]", "http://h\\@evil",
    };
    for (size_t i = 0; i < ARRAY_LEN(syntax); i++) {
        int rc = url_rc(syntax[i]);
        if (rc != CFGVAL_E_SYNTAX)
            fprintf(stderr, "  url %s: rc %d\n", syntax[i], rc);
        CHECK(rc == CFGVAL_E_SYNTAX);
    }
    const char *range[] = {"http://h:0", "http://h:65536", "http://h:99999",
                           "http://h:99999999999999999999999", "http://[::1]:70000"};
    for (size_t i = 0; i < ARRAY_LEN(range); i++)
        CHECK(url_rc(range[i]) == CFGVAL_E_RANGE);
    CHECK(cfgval_url(NULL, &(struct cfgval_url){0}) == CFGVAL_E_SYNTAX);
}

int main(void)
{
    /* digits and case folding must not depend on the locale */
    setlocale(LC_ALL, "");
    test_uint();
    test_uint_suffix();
    test_duration();
    test_bool();
    test_enum();
    test_host();
    test_url_good();
    test_url_host_limits();
    test_url_bad();
    return T_DONE();
}
