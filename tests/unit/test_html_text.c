// deps: src/parse/html_text.c src/parse/utf8.c
#include <stdlib.h>

#include "parse/html_text.h"
#include "t.h"
#include "parse/utf8.h"

static char OUT[8192];
static bool TRUNC;

/* Whole input at once, then in every split into two, then byte by byte: the
 * text must not depend on how the input was cut, and must be valid UTF-8. */
static const char *reduce_n(const char *in, size_t n, unsigned flags, size_t cap)
{
    static char a[8192], b[8192];
    struct html_text h;
    html_text_init(&h, a, cap, flags);
    html_text_feed(&h, (const uint8_t *)in, n);
    html_text_finish(&h);
    bool trunc = h.truncated;
    bool same = true;
    for (size_t cut = 0; cut <= n && same; cut += (n > 64 ? 7 : 1)) {
        html_text_init(&h, b, cap, flags);
        html_text_feed(&h, (const uint8_t *)in, cut);
        html_text_feed(&h, (const uint8_t *)in + cut, n - cut);
        html_text_finish(&h);
        same = strcmp(a, b) == 0 && h.truncated == trunc;
    }
    html_text_init(&h, b, cap, flags);
    for (size_t i = 0; i < n; i++)
        html_text_feed(&h, (const uint8_t *)in + i, 1);
    html_text_finish(&h);
    same = same && strcmp(a, b) == 0 && h.len == strlen(b);
    CHECK(same);
    CHECK(utf8_valid((const uint8_t *)a, strlen(a)));
    CHECK(strlen(a) < cap);
    memcpy(OUT, a, sizeof OUT);
    TRUNC = trunc;
    return OUT;
}

static bool is(const char *in, const char *want)
{
    const char *got = reduce_n(in, strlen(in), 0, sizeof OUT);
    bool ok = strcmp(got, want) == 0;
    if (!ok)
        fprintf(stderr, "FAIL \"%s\"\n  want \"%s\"\n  got  \"%s\"\n", in, want, got);
    return ok;
}

static void test_structure(void)
{
    CHECK(is("<p>Hello <b>world</b></p><p>Next</p>", "Hello world\n\nNext"));
    CHECK(is("  \n\t a   b \r\n c  ", "a b c"));
    CHECK(is("a<br>b<br/>c<BR />d", "a\nb\nc\nd"));
    CHECK(is("<div>a</div><div>b</div>", "a\nb"));
    CHECK(is("<ul><li>one</li><li>two</li></ul>after", "- one\n- two\n\nafter"));
    CHECK(is("<table><tr><td>k</td><td>v</td></tr><tr><th>x</th></tr></table>", "k v\nx"));
    CHECK(is("Sen<b>ior</b> <i>dev</i>", "Senior dev"));
    CHECK(is("<h1>T</h1><p></p><p></p><p>x</p>", "T\n\nx"));
    CHECK(is("<a href=\"/x?a=1&b=2\" title='p > q'>link</a>", "link"));
    CHECK(is("<a title=don't>x</a> y's", "x y's"));
    CHECK(is("<img alt=\"pic\">a<img src=x>b", "a b"));
    CHECK(is("a < b and c<3 <> d", "a < b and c<3 <> d"));
    CHECK(is("x</>y</ 3>z", "xyz"));
    CHECK(is("<P CLASS=x>Up</P>", "Up"));
    CHECK(is("<unknowntaglongerthansixteen>a</unknowntaglongerthansixteen>b", "ab"));
}

static void test_dropped(void)
{
    CHECK(is("a<script>var s = '</p>'; if (a<b) x();</script>b", "ab"));
    CHECK(is("a<script>x</scriptx>still</SCRIPT >b", "ab"));
    CHECK(is("a<script type=\"x\">x<</script>b", "ab"));
    CHECK(is("a<style>p{color:red}</style>b", "ab"));
    CHECK(is("<html><head><title>T</title><meta x></head><body>B</body></html>", "B"));
    CHECK(is("<head><title>T</title><body>unclosed head</body>", "unclosed head"));
    CHECK(is("<head><meta charset=utf-8><link rel=x><title>T</title><h1>No body tag</h1>x", "No body tag\n\nx"));
    CHECK(is("<head><noscript><p>n</p></noscript><script>s</script></head>y", "y"));
    CHECK(is("a<svg><svg><text>in</text></svg>still</svg>b", "ab"));
    CHECK(is("a<svg/>b", "ab"));
    CHECK(is("a<noscript>enable js</noscript>b<template><p>t</p></template>c", "abc"));
    CHECK(is("a<!-- c <p> -- x -->b", "ab"));
    CHECK(is("a<!---->b<!-->c<!--->d", "abcd"));
    CHECK(is("<!DOCTYPE html>a<?xml x?>b<![CDATA[c]]>d", "abd"));
    CHECK(is("a<script>never closed", "a"));
    CHECK(is("a<!-- never closed", "a"));
    CHECK(is("a<iframe src=x>fallback</iframe>b<select><option>o</option></select>c", "abc"));
}

static void test_refs(void)
{
    CHECK(is("&amp; &lt;p&gt; &quot;q&quot; &apos;", "& <p> \"q\" '"));
    CHECK(is("a&nbsp;&nbsp;b", "a b"));
    CHECK(is("&#65;&#x42;&#X43;&#0068;", "ABCD"));
    CHECK(is("&eacute;&mdash;&euro;&copy;&trade;&hellip;", "é—€©™…"));
    CHECK(is("&#x1F680;", "\xf0\x9f\x9a\x80"));
    CHECK(is("&#0;&#xD800;&#x110000;&#99999999999;", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
    CHECK(is("&#128;&#150;&#129;", "€–\xef\xbf\xbd"));
    CHECK(is("AT&T &unknown; &amp &copy", "AT&T &unknown; &amp &copy"));
    CHECK(is("&#65 x &#x41", "A x A"));
    CHECK(is("&#;&#x;", "&#;&#x;"));
    CHECK(is("&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;", "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;"));
    CHECK(is("a&shy;b&#x200B;c", "abc"));
    CHECK(is("&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>"));
    CHECK(is("x&", "x&"));
    CHECK(is("x&amp", "x&amp"));
    CHECK(is("<p title=\"&amp;\">t</p>", "t"));
}

static void test_bytes(void)
{
    CHECK(is("a\xff" "b", "a\xef\xbf\xbd" "b"));
    CHECK(is("\xe2\x82x", "\xef\xbf\xbdx"));
    CHECK(is("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"));
    CHECK(is("\xed\xa0\x80", "\xef\xbf\xbd"));
    CHECK(is("\xf4\x90\x80\x80", "\xef\xbf\xbd"));
    CHECK(is("\xe0\x80\x80", "\xef\xbf\xbd"));
    CHECK(is("end\xe2\x82", "end\xef\xbf\xbd"));
    CHECK(is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "café € 😀"));
    CHECK(is("a\x01\x02" "b\x7f" "c\xc2\x85" "d", "a b c d"));
    CHECK(is("\xef\xbb\xbfstart", "start"));
    const char *l1in = "<p>caf\xe9 \xa0 \x80</p>";
    const char *l1 = reduce_n(l1in, strlen(l1in), HTML_TEXT_LATIN1, sizeof OUT);
    CHECK(strcmp(l1, "café €") == 0);
    const char *w = "\x93quoted\x94 \x85 it\x92s \x81";
    CHECK(strcmp(reduce_n(w, strlen(w), HTML_TEXT_LATIN1, sizeof OUT), "“quoted” … it’s \xef\xbf\xbd") == 0);
    const char *plin = "Title\r\n\r\n\n  a  b\n<p>&amp;\n";
    const char *pl = reduce_n(plin, strlen(plin), HTML_TEXT_PLAIN, sizeof OUT);
    CHECK(strcmp(pl, "Title\n\na b\n<p>&amp;") == 0);
}

static void test_cap(void)
{
    const char *in = "<p>ab</p><p>\xc3\xa9\xc3\xa9</p>";
    CHECK(strcmp(reduce_n(in, strlen(in), 0, 3), "ab") == 0 && TRUNC);
    CHECK(strcmp(reduce_n(in, strlen(in), 0, 6), "ab") == 0 && TRUNC); /* "\n\né" needs 4 */
    CHECK(strcmp(reduce_n(in, strlen(in), 0, 7), "ab\n\n\xc3\xa9") == 0 && TRUNC);
    CHECK(strcmp(reduce_n(in, strlen(in), 0, 8), "ab\n\n\xc3\xa9") == 0 && TRUNC);
    CHECK(strcmp(reduce_n(in, strlen(in), 0, 9), "ab\n\n\xc3\xa9\xc3\xa9") == 0 && !TRUNC);
    CHECK(strcmp(reduce_n("x", 1, 0, 1), "") == 0 && TRUNC);
    CHECK(strcmp(reduce_n("<p> </p>", 8, 0, 1), "") == 0 && !TRUNC);
    struct html_text h;
    char z[1];
    html_text_init(&h, z, 0, 0);
    CHECK(h.truncated && html_text_feed(&h, (const uint8_t *)"abc", 3) == 3 && html_text_finish(&h) == 0);
    /* a large document: bounded output, feed consumes everything */
    size_t n = 200000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = "<p>word &amp; \xc3\xa9</p>"[i % 20];
    static char out[4096];
    html_text_init(&h, out, sizeof out, 0);
    CHECK(html_text_feed(&h, (const uint8_t *)big, n) == (ssize_t)n);
    html_text_finish(&h);
    CHECK(h.truncated && h.len < sizeof out && h.len > sizeof out - 8 && utf8_valid((uint8_t *)out, h.len));
    free(big);
}

int main(void)
{
    test_structure();
    test_dropped();
    test_refs();
    test_bytes();
    test_cap();
    return T_DONE();
}
