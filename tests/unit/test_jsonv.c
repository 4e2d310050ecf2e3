// deps: src/parse/jsonv.c src/parse/utf8.c
/* JSONTestSuite-style y_/n_/i_ cases (inline; names follow the suite), our
 * protocol messages, and the rules jsonv adds on top of RFC 8259. */
#include "parse/jsonv.h"
#include "t.h"

#include <errno.h>

#define DEPTH JSONV_MAX_DEPTH_LIMIT

static int jv_n(const char *s, size_t n, unsigned depth, size_t *off)
{
    return jsonv_validate((const uint8_t *)s, n, depth, off);
}

static int jv(const char *s)
{
    return jv_n(s, strlen(s), DEPTH, NULL);
}

/* Error code and offset together. */
static bool jv_at(const char *s, int err, size_t off)
{
    size_t got = (size_t)-1;
    int rc = jv_n(s, strlen(s), DEPTH, &got);
    if (rc != err || got != off)
        fprintf(stderr, "  %s: rc %d off %zu, want %d off %zu\n", s, rc, got, err, off);
    return rc == err && got == off;
}

#define Y(s) CHECK(jv(s) == JSONV_OK)
#define N(s) CHECK(jv(s) == JSONV_E_SYNTAX)
#define E(s, e) CHECK(jv(s) == (e))

static void test_y_cases(void)
{
    Y("[[]   ]");
    Y("[\"\"]");
    Y("[]");
    Y("[false]");
    Y("[null, 1, \"1\", {}]");
    Y("[null]");
    Y("[1\n]");
    Y(" [1]");
    Y("[1,null,null,null,2]");
    Y("[2] ");
    Y("[123e65]");
    Y("[0e+1]");
    Y("[0e1]");
    Y("[ 4]");
    Y("[20e1]");
    Y("[-0]");
    Y("[-123]");
    Y("[-1]");
    Y("[1E22]");
    Y("[1E-2]");
    Y("[1E+2]");
    Y("[123e45]");
    Y("[123.456e78]");
    Y("[1e-2]");
    Y("[1e+2]");
    Y("[123]");
    Y("[123.456789]");
    Y("{\"asd\":\"sdf\", \"dfg\":\"fgh\"}");
    Y("{\"asd\":\"sdf\"}");
    Y("{}");
    Y("{\"\":0}");
    Y("{ \"min\": -1.0e+28, \"max\": 1.0e+28 }");
    Y("{\"a\":[]}");
    Y("{\"title\":\"\\u041f\\u043e\\u043b\\u0442\\u043e\\u0440\\u0430 \\u0417\\u0435\\u043c\\u043b\\u0435\\u043a\\u043e\\u043f\\u0430\" }");
    Y("{\n\"a\": \"b\"\n}");
    Y("[\"\\u0060\\u012a\\u12AB\"]");
    Y("[\"\\uD801\\udc37\"]");
    Y("[\"\\ud83d\\ude39\\ud83d\\udc8d\"]");
    Y("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]");
    Y("[\"\\\\u0000\"]"); /* escaped backslash, then text "u0000" */
    Y("[\"\\\"\"]");
    Y("[\"a/*b*/c/*d//e\"]");
    Y("[\"\\\\a\"]");
    Y("[\"\\\\n\"]");
    Y("[\"\\u0012\"]");
    Y("[\"\\uFFFF\"]");
    Y("[\"asd\"]");
    Y("[\"\\uDBFF\\uDFFF\"]");
    Y("[\"new\\u00A0line\"]");
    Y("[\"\xf4\x8f\xbf\xbf\"]");
    Y("[\"\xef\xbf\xbf\"]");
    Y("[\"\\u002c\"]");
    Y("[\"\xcf\x80\"]");
    Y("[\"\xf0\x9b\xbf\xbf\"]");
    Y("[\"asd \"]");
    Y("\" \"");
    Y("[\"\\uD834\\uDd1e\"]");
    Y("[\"\\u0821\"]");
    Y("[\"\\u0123\"]");
    Y("[\"\xe2\x80\xa8\"]");
    Y("[\"\xe2\x80\xa9\"]");
    Y("[\"\\u0061\\u30af\\u30EA\\u30b9\"]");
    Y("[\"\x7f\"]");
    Y("[\"\xe2\x8d\x82\xe3\x88\xb4\xe2\x8d\x82\"]");
    Y("[\"\\u005C\"]");
    Y("[\"\xe2\x82\xac\xf0\x9d\x84\x9e\"]");
    Y("[\"a\x7f" "a\"]");
    Y("false");
    Y("42");
    Y("-0.1");
    Y("null");
    Y("\"asd\"");
    Y("true");
    Y("\"\"");
    Y("[\"a\"]\n");
    Y("[true]");
    Y(" [] ");
    Y("\t\r\n 1 \t\r\n");
}

static void test_n_arrays_and_literals(void)
{
    N("[1 true]");
    N("[\"\": 1]");
    N("[\"\"],");
    N("[,1]");
    N("[1,,2]");
    N("[\"x\",,]");
    N("[\"x\"]]");
    N("[\"\",]");
    N("[\"x\"");
    N("[x");
    N("[3[4]]");
    N("[1:2]");
    N("[,]");
    N("[-]");
    N("[   , \"\"]");
    N("[\"a\",\n4\n,1,");
    N("[1,]");
    N("[1,,]");
    N("[\"\va\"\\f]");
    N("[*]");
    N("[\"\"");
    N("[1,");
    N("[1,\n1\n,1");
    N("[{}");
    N("[fals]");
    N("[nul]");
    N("[tru]");
    N("[True]");
    N("[<null>]");
    N("<.>");
    N("1]");
    N("[][]");
    N("]");
    N("[");
    N("");
    N(" ");
    N("{}}");
    N("{");
    N("{]");
    N("*");
    N("[1");
    N("[ false, nul");
    N("[ true, fals");
    N("[\f]");
    N("[\v]");
    N("[1]x");
    N("[1]]");
    N("2@");
    N("[\"a\"]\f");
    N("truex");
    N("nulll");
    N("[null,]");
    CHECK(jv_n("123\0", 4, DEPTH, NULL) == JSONV_E_SYNTAX);
    CHECK(jv_n("[\0]", 3, DEPTH, NULL) == JSONV_E_SYNTAX);
    CHECK(jv_n(NULL, 0, DEPTH, NULL) == JSONV_E_SYNTAX);
}

static void test_n_numbers(void)
{
    N("[++1234]");
    N("[+1]");
    N("[+Inf]");
    N("[-01]");
    N("[-1.0.]");
    N("[-2.]");
    N("[-NaN]");
    N("[.-1]");
    N("[.2e-3]");
    N("[0.1.2]");
    N("[0.3e+]");
    N("[0.3e]");
    N("[0.e1]");
    N("[0E+]");
    N("[0E]");
    N("[0e+]");
    N("[0e]");
    N("[1.0e+]");
    N("[1.0e-]");
    N("[1.0e]");
    N("[1 000.0]");
    N("[1eE2]");
    N("[2.e+3]");
    N("[2.e-3]");
    N("[2.e3]");
    N("[9.e+]");
    N("[Inf]");
    N("[NaN]");
    N("[\xef\xbc\x91]");
    N("[1+2]");
    N("[0x1]");
    N("[0x42]");
    N("[Infinity]");
    N("[0e+-1]");
    N("[-123.123foo]");
    N("[-Infinity]");
    N("[-foo]");
    N("[- 1]");
    N("[-012]");
    N("[-.123]");
    N("[-1x]");
    N("[1ea]");
    N("[1e\xe5]");
    N("[1.]");
    N("[.123]");
    N("[1.2a-3]");
    N("[1.8011670033376514H-308]");
    N("[012]");
    N("00");
    N("-");
    N("1e");
    N("1e+");
}

static void test_n_objects(void)
{
    N("[\"x\", truth]");
    N("{[: \"x\"}");
    N("{\"x\", null}");
    N("{\"x\"::\"b\"}");
    N("{\xf0\x9f\x87\xa8\xf0\x9f\x87\xad}");
    N("{\"a\":\"a\" 123}");
    N("{key: 'value'}");
    N("{\"a\" b}");
    N("{:\"b\"}");
    N("{\"a\" \"b\"}");
    N("{\"a\":");
    N("{\"a\"");
    N("{1:1}");
    N("{9999E9999:1}");
    N("{null:null,null:null}");
    N("{\"id\":0,,,,,}");
    N("{'a':0}");
    N("{\"id\":0,}");
    N("{\"a\":\"b\"}/**/");
    N("{\"a\":\"b\"}/**//");
    N("{\"a\":\"b\"}//");
    N("{\"a\":\"b\"}/");
    N("{\"a\":\"b\",,\"c\":\"d\"}");
    N("{a: \"b\"}");
    N("{\"a\":\"a");
    N("{ \"foo\" : \"bar\", \"a\" }");
    N("{\"a\":\"b\"}#");
    N("{\"x\": true,");
    N("{\"\":");
    N("{\"a\":/*comment*/\"b\"}");
    N("{\"a\": true} \"x\"");
    N("{\"a\":\"b\"}#{}");
    N("{\"a\":true]");
    N("[{\"a\":1}}");
}

static void test_n_strings(void)
{
    /* refused, but the unpaired surrogate is the first error on the way */
    E("[\"\\uD800\\\"]", JSONV_E_UTF8);
    N("[\"\\uD800\\u\"]");
    N("[\"\\uD800\\u1\"]");
    N("[\"\\uD800\\u1x\"]");
    N("[\xc3\xa9]");
    CHECK(jv_n("[\"\\\0\"]", 5, DEPTH, NULL) == JSONV_E_SYNTAX);
    N("[\"\\x00\"]");
    N("[\"\\\\\\\"]");
    N("[\"\\\t\"]");
    N("[\"\\\xf0\x9f\x8c\x80\"]");
    N("[\"\\\"]");
    N("[\"\\u00A\"]");
    N("[\"\\uD834\\uDd\"]");
    E("[\"\\uD800\\uD800\\x\"]", JSONV_E_UTF8);
    N("[\"\\a\"]");
    N("[\"\\uqqqq\"]");
    N("[\\u0020\"asd\"]");
    N("[\\n]");
    N("\"");
    N("['single quote']");
    N("abc");
    N("[\"\\");
    CHECK(jv_n("[\"a\0a\"]", 7, DEPTH, NULL) == JSONV_E_SYNTAX);
    N("[\"new\nline\"]");
    N("[\"\t\"]");
    N("[\"\x1f\"]");
    N("\"\\UA66D\"");
    N("\"\"x");
    N("[\"asd]");
    N("[\\u000A\"\"]");
    N("[\"\\u\xe5\"]");
}

static void test_n_utf8(void)
{
    E("[a\xe5]", JSONV_E_SYNTAX); /* outside a string: not JSON at all */
    E("[\xff]", JSONV_E_SYNTAX);
    E("\xef\xbb{}", JSONV_E_SYNTAX);
    E("\xef\xbb\xbf", JSONV_E_SYNTAX); /* BOM is not allowed either */
    E("\xef\xbb\xbf{}", JSONV_E_SYNTAX);
    E("\xe5", JSONV_E_SYNTAX);
    E("a\xc3\xa5", JSONV_E_SYNTAX);
    E("[\xe2\x81\xa0]", JSONV_E_SYNTAX);
    E("[\"\xe5\"]", JSONV_E_UTF8);
    E("[\"\xc0\xaf\"]", JSONV_E_UTF8);
    E("[\"\xe6\x97\xa5\xd1\x88\xfa\"]", JSONV_E_UTF8);
    E("[\"\xe0\xff\"]", JSONV_E_UTF8);
    E("[\"\xed\xa0\x80\"]", JSONV_E_UTF8); /* raw surrogate */
    E("[\"\xf4\x90\x80\x80\"]", JSONV_E_UTF8);
    E("[\"\xe0\x80\xaf\"]", JSONV_E_UTF8);
    E("[\"\xf8\x88\x80\x80\x80\"]", JSONV_E_UTF8);
    E("[\"\x80\"]", JSONV_E_UTF8);
    E("[\"\xc3\"]", JSONV_E_UTF8); /* cut short by the closing quote */
    E("[\"\xe2\x82\"]", JSONV_E_UTF8);
    E("[\"\xe2\x82\\n\"]", JSONV_E_UTF8);
    E("{\"\xff\":1}", JSONV_E_UTF8);
    CHECK(jv_at("[\"ab\xc3\x28\"]", JSONV_E_UTF8, 5));
    CHECK(jv_at("\"\xed\xa0\x80\"", JSONV_E_UTF8, 2));
    CHECK(jv_at("\"\xc3", JSONV_E_SYNTAX, 2)); /* truncated input */
}

static void test_surrogate_escapes(void)
{
    E("[\"\\uDFAA\"]", JSONV_E_UTF8);
    E("[\"\\uDADA\"]", JSONV_E_UTF8);
    E("[\"\\uD888\\u1234\"]", JSONV_E_UTF8);
    E("[\"\\uD800\\n\"]", JSONV_E_UTF8);
    E("[\"\\uDd1e\\uD834\"]", JSONV_E_UTF8);
    E("[\"\\uD800\\uD800\"]", JSONV_E_UTF8);
    E("[\"\\uD800\"]", JSONV_E_UTF8);
    E("[\"\\uD800x\"]", JSONV_E_UTF8);
    E("[\"\\uD800\\u0000\"]", JSONV_E_UTF8);
    E("{\"\\uDFAA\":0}", JSONV_E_UTF8);
    E("\"\\udbff\"", JSONV_E_UTF8);
    E("\"\\udc00\"", JSONV_E_UTF8);
    Y("\"\\ud800\\udc00\"");
    Y("\"\\uD7FF\\uE000\"");
    CHECK(jv_at("\"ab\\uD800\"", JSONV_E_UTF8, 3));
    CHECK(jv_at("\"ab\\uDC00\\uD800\"", JSONV_E_UTF8, 3));
    CHECK(jv_at("\"\\uD800\\uDC0", JSONV_E_SYNTAX, 12));
    CHECK(jv_at("\"\\uD800\\uDCxx\"", JSONV_E_SYNTAX, 11));
}

static void test_nul(void)
{
    E("[\"\\u0000\"]", JSONV_E_NUL);
    E("{\"type\":\"ping\\u0000x\"}", JSONV_E_NUL);
    E("{\"foo\\u0000bar\": 42}", JSONV_E_NUL);
    CHECK(jv_at("\"ping\\u0000x\"", JSONV_E_NUL, 5));
    Y("\"\\u0001\"");
    Y("\"\\\\u0000\"");
}

static void test_numbers_range(void)
{
    E("1e400", JSONV_E_NUMBER);
    E("-1e400", JSONV_E_NUMBER);
    E("[1.5e+9999]", JSONV_E_NUMBER);
    E("[-1.5e+9999]", JSONV_E_NUMBER);
    E("1e99999999999999999999999999", JSONV_E_NUMBER);
    E("1.7976931348623159e308", JSONV_E_NUMBER);
    E("-1.7976931348623159e308", JSONV_E_NUMBER);
    E("1000000000e300", JSONV_E_NUMBER);
    E("0.00000000000000000000000000000000000000000000000000000001e365", JSONV_E_NUMBER);
    Y("1.7976931348623157e308");
    Y("1.7976931348623158e308"); /* rounds down to DBL_MAX */
    Y("-1.7976931348623157e308");
    Y("0.0000001e315");
    Y("0.1e309");
    Y("1e-400");
    Y("-1e-400");
    Y("[123e-10000000]");
    Y("[123.456e-789]");
    Y("4.9e-324");
    Y("1e-99999999999999999999999");
    Y("0e99999999999");
    Y("-0e-99999");
    Y("0.0e400");
    Y("[-123123123123123123123123123123]");
    Y("[-237462374673276894279832749832423479823246327846]");
    Y("[100000000000000000000]");
    /* length: 64 characters allowed, 65 refused */
    Y("1234567890123456789012345678901234567890123456789012345678901234");
    Y("-123456789012345678901234567890123456789012345678901234567890123");
    Y("0.23456789012345678901234567890123456789012345678901234567890e-9");
    E("12345678901234567890123456789012345678901234567890123456789012345", JSONV_E_NUMBER);
    E("[-0.000000000000000000000000000000000000000000000000000000000000000000000000000001]",
      JSONV_E_NUMBER);
    CHECK(jv_at("[1, 2e999]", JSONV_E_NUMBER, 4));
    CHECK(jv_at("[1, 2e]", JSONV_E_SYNTAX, 6));
    CHECK(jv_at("[01]", JSONV_E_SYNTAX, 2));
    /* errno is not touched even when strtod overflows */
    errno = 1234;
    E("1e400", JSONV_E_NUMBER);
    CHECK(errno == 1234);
}

static void test_dup_keys(void)
{
    E("{\"a\":\"b\",\"a\":\"c\"}", JSONV_E_DUP_KEY);
    E("{\"a\":1,\"a\":1}", JSONV_E_DUP_KEY);
    E("{\"a\":1,\"\\u0061\":2}", JSONV_E_DUP_KEY);
    E("{\"\\u0061\":1,\"a\":2}", JSONV_E_DUP_KEY);
    E("{\"\\/\":1,\"/\":2}", JSONV_E_DUP_KEY);
    E("{\"\xc3\xa9\":1,\"\\u00e9\":2}", JSONV_E_DUP_KEY);
    E("{\"\xf0\x9f\x98\x80\":1,\"\\ud83d\\ude00\":2}", JSONV_E_DUP_KEY);
    E("{\"\\uD83D\\uDE00\":1,\"\\ud83d\\ude00\":2}", JSONV_E_DUP_KEY);
    E("{\"\":1,\"\":2}", JSONV_E_DUP_KEY);
    E("{\"\\b\":1,\"\\u0008\":2}", JSONV_E_DUP_KEY);
    E("{\"\\\"\":1,\"\\u0022\":2}", JSONV_E_DUP_KEY);
    E("{\"a\":{\"b\":1},\"a\":2}", JSONV_E_DUP_KEY);
    E("{\"a\":1,\"b\":2,\"c\":3,\"b\":4}", JSONV_E_DUP_KEY);
    E("[{\"x\":[{}],\"x\":0}]", JSONV_E_DUP_KEY);
    Y("{\"a\":1,\"ab\":2}");
    Y("{\"ab\":1,\"a\":2}");
    Y("{\"\\n\":1,\"\\\\n\":2}");
    Y("{\"A\":1,\"a\":2}");
    Y("{\"\xc3\xa9\":1,\"e\\u0301\":2}"); /* no Unicode normalisation */
    Y("{\"\\ud83d\\ude00\":1,\"\\ud83d\\ude01\":2}");
    Y("{\"a\":{\"a\":1},\"b\":{\"a\":1}}");
    Y("{\"a\":{\"b\":1},\"b\":2}");
    Y("{\"x\":[{\"a\":1},{\"a\":1}]}");
    Y("[{\"a\":1},{\"a\":1}]");
    CHECK(jv_at("{\"a\":1, \"\\u0061\":2}", JSONV_E_DUP_KEY, 8));
}

/* Key i as a literal: a shared non-ASCII prefix, then the digits of a
 * scrambled i; each character raw or \u-escaped depending on enc's bits, so
 * equal keys come in many spellings. */
static size_t put_key(char *buf, unsigned i, unsigned enc)
{
    char plain[16];
    size_t k = 0;
    unsigned v = (i * 37u) % 101u;
    buf[k++] = '"';
    k += (size_t)sprintf(buf + k, (enc & 1) ? "\\u00e9" : "\xc3\xa9");
    k += (size_t)sprintf(buf + k, (enc & 2) ? "\\u20AC" : "\xe2\x82\xac");
    sprintf(plain, "%u", v);
    for (size_t c = 0; plain[c]; c++, enc >>= 1)
        k += (size_t)sprintf(buf + k, (enc & 4) ? "\\u%04x" : "%c", plain[c]);
    buf[k++] = '"';
    return k;
}

/* Every key position against a re-spelt duplicate: checks that the sorted
 * key table finds a duplicate whatever the insertion order. */
static void test_dup_key_orders(void)
{
    char buf[8192];
    unsigned fails = 0;
    for (unsigned order = 0; order < 4; order++) {
        for (unsigned dup = 0; dup < JSONV_MAX_KEYS - 1; dup++) {
            size_t k = 0;
            buf[k++] = '{';
            for (unsigned n = 0; n < JSONV_MAX_KEYS - 1; n++) {
                /* identity, reversed, and two strides coprime to 63 */
                unsigned i = order == 0   ? n
                             : order == 1 ? JSONV_MAX_KEYS - 2 - n
                                          : (n * (order == 2 ? 5 : 11)) % 63;
                k += put_key(buf + k, i, n * 5 + order);
                k += (size_t)sprintf(buf + k, ":%u,", n);
            }
            size_t before_dup = k;
            k += put_key(buf + k, dup, dup * 3 + order + 1);
            k += (size_t)sprintf(buf + k, ":0}");
            size_t off = 0;
            if (jv_n(buf, k, DEPTH, &off) != JSONV_E_DUP_KEY || off != before_dup)
                fails++;
            /* the same object with a fresh key instead is valid */
            k = before_dup + put_key(buf + before_dup, 63, order);
            k += (size_t)sprintf(buf + k, ":0}");
            if (jv_n(buf, k, DEPTH, NULL) != JSONV_OK)
                fails++;
        }
    }
    CHECK(fails == 0);
    /* continuation bytes decide the order: U+20AC vs U+20AD, raw and escaped */
    E("{\"\xe2\x82\xac\":1,\"\xe2\x82\xad\":2,\"\xe2\x82\xac\":3}", JSONV_E_DUP_KEY);
    E("{\"\xe2\x82\xad\":1,\"\xe2\x82\xac\":2,\"\\u20ad\":3}", JSONV_E_DUP_KEY);
    E("{\"\\u20ac\":1,\"\xe2\x82\xad\":2,\"\xe2\x82\xac\":3}", JSONV_E_DUP_KEY);
    Y("{\"\xe2\x82\xac\":1,\"\xe2\x82\xad\":2,\"\xe2\x82\xae\":3}");
    E("{\"b\":1,\"a\":2,\"c\":3,\"a\":4}", JSONV_E_DUP_KEY);
    E("{\"c\":1,\"b\":2,\"a\":3,\"b\":4}", JSONV_E_DUP_KEY);
    E("{\"ab\":1,\"a\":2,\"abc\":3,\"\":4,\"a\\u0062\":5}", JSONV_E_DUP_KEY);
    E("{\"\\ud83d\\ude00\":1,\"\\uffff\":2,\"\xf0\x9f\x98\x80\":3}", JSONV_E_DUP_KEY);
    Y("{\"\\ud83d\\ude00\":1,\"\\uffff\":2,\"\xef\xbf\xbe\":3}");
}

/* {"k0":0,...,"k<n-1>":0} */
static size_t build_keys(char *buf, unsigned nkeys)
{
    size_t k = 0;
    buf[k++] = '{';
    for (unsigned i = 0; i < nkeys; i++)
        k += (size_t)sprintf(buf + k, "%s\"k%u\":0", i ? "," : "", i);
    buf[k++] = '}';
    buf[k] = '\0';
    return k;
}

static void test_too_many_keys(void)
{
    char buf[2048];
    build_keys(buf, JSONV_MAX_KEYS);
    Y(buf);
    build_keys(buf, JSONV_MAX_KEYS + 1);
    E(buf, JSONV_E_TOO_MANY_KEYS);
    /* the 65th key is refused even if it would also be a duplicate */
    size_t n = build_keys(buf, JSONV_MAX_KEYS);
    strcpy(buf + n - 1, ",\"k0\":0}");
    CHECK(jv_at(buf, JSONV_E_TOO_MANY_KEYS, n));
}

/* depth levels of {"k0".."k62", "z": <inner>} around a scalar: the largest
 * key stack the validator can ever hold (minus one key per level). */
static size_t build_key_tower(char *buf, unsigned depth, unsigned keys)
{
    size_t k = 0;
    for (unsigned d = 0; d < depth; d++) {
        buf[k++] = '{';
        for (unsigned i = 0; i < keys; i++)
            k += (size_t)sprintf(buf + k, "\"k%u\":%u,", i, d);
        k += (size_t)sprintf(buf + k, "\"z\":");
    }
    buf[k++] = '1';
    for (unsigned d = 0; d < depth; d++)
        buf[k++] = '}';
    buf[k] = '\0';
    return k;
}

static void test_key_stack(void)
{
    static char buf[DEPTH * (JSONV_MAX_KEYS * 12 + 8) + 8];
    build_key_tower(buf, DEPTH, JSONV_MAX_KEYS - 1);
    Y(buf);
    build_key_tower(buf, DEPTH, JSONV_MAX_KEYS);
    E(buf, JSONV_E_TOO_MANY_KEYS);
    /* a duplicate deep down is found, the same key one level up is not one */
    size_t n = build_key_tower(buf, 3, 2);
    Y(buf);
    memcpy(buf + n - 3, ",\"k1\":5}}}", 11);
    E(buf, JSONV_E_DUP_KEY);
}

/* depth brackets of kind o/c around "1". */
static size_t build_nest(char *buf, unsigned depth, char o, char c)
{
    size_t k = 0;
    for (unsigned i = 0; i < depth; i++)
        buf[k++] = o;
    buf[k++] = '1';
    for (unsigned i = 0; i < depth; i++)
        buf[k++] = c;
    buf[k] = '\0';
    return k;
}

static void test_depth(void)
{
    char buf[100010];
    size_t off;
    build_nest(buf, 5, '[', ']');
    CHECK(jv_n(buf, strlen(buf), 5, NULL) == JSONV_OK);
    CHECK(jv_n(buf, strlen(buf), 4, &off) == JSONV_E_DEPTH && off == 4);
    build_nest(buf, DEPTH, '[', ']');
    CHECK(jv_n(buf, strlen(buf), DEPTH, NULL) == JSONV_OK);
    CHECK(jv_n(buf, strlen(buf), 1000, NULL) == JSONV_OK);
    CHECK(jv_n(buf, strlen(buf), DEPTH - 1, NULL) == JSONV_E_DEPTH);
    build_nest(buf, DEPTH + 1, '[', ']');
    CHECK(jv_n(buf, strlen(buf), DEPTH, &off) == JSONV_E_DEPTH && off == DEPTH);
    CHECK(jv_n(buf, strlen(buf), 1000, NULL) == JSONV_E_DEPTH); /* clamped */
    CHECK(jv_n(buf, strlen(buf), (unsigned)-1, NULL) == JSONV_E_DEPTH);
    build_nest(buf, 50000, '[', ']');
    CHECK(jv_n(buf, strlen(buf), DEPTH, NULL) == JSONV_E_DEPTH);
    /* n_structure_open_array_object: [{"":[{"":... never closed */
    size_t k = 0;
    while (k + 5 < sizeof buf) {
        memcpy(buf + k, "[{\"\":", 5);
        k += 5;
    }
    CHECK(jv_n(buf, k, DEPTH, NULL) == JSONV_E_DEPTH);
    /* max_depth 0: scalars only */
    CHECK(jv_n("1", 1, 0, NULL) == JSONV_OK);
    CHECK(jv_n("\"x\"", 3, 0, NULL) == JSONV_OK);
    CHECK(jv_n("[]", 2, 0, NULL) == JSONV_E_DEPTH);
    CHECK(jv_n("{}", 2, 0, NULL) == JSONV_E_DEPTH);
    CHECK(jv_n("[]", 2, 1, NULL) == JSONV_OK);
    CHECK(jv_n("[[]]", 4, 1, NULL) == JSONV_E_DEPTH);
    CHECK(jv_n("{\"a\":{}}", 8, 1, &off) == JSONV_E_DEPTH && off == 5);
    CHECK(jv_n("[1,[2],[3,[4]]]", 15, 2, NULL) == JSONV_E_DEPTH);
    CHECK(jv_n("[1,[2],[3,[4]]]", 15, 3, NULL) == JSONV_OK);
    CHECK(jv_n("[[],[],[[]]]", 12, 3, NULL) == JSONV_OK);
}

static void test_protocol(void)
{
    Y("{\"type\":\"ping\"}");
    Y("{\"type\":\"pong\"}");
    Y("{\"type\":\"start_interview\"}");
    Y("{\"type\":\"end_interview\"}");
    Y("{\"type\":\"audio_chunk\",\"data\":[1,2,-3,32767,-32768,0]}");
    Y("{\"type\":\"audio_chunk\",\"data\":\"UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=\"}");
    Y("{\"type\":\"amplitude\",\"value\":0.25,\"isSpeaking\":true}");
    Y("{\"type\":\"tokens\",\"input_tokens\":14,\"input_token_details\":{\"text_tokens\":0,"
      "\"audio_tokens\":14},\"output_tokens\":45,\"total_tokens\":59}");
    Y("{\"type\":\"transcript.text.delta\",\"delta\":\" see\",\"logprobs\":[]}");
    Y("{\"type\":\"error\",\"message\":\"caf\xc3\xa9 \\u2014 \\\"quoted\\\"\"}");
    E("{\"type\":\"ping\",\"type\":\"audio_chunk\"}", JSONV_E_DUP_KEY);
    E("{\"type\":\"ping\\u0000x\"}", JSONV_E_NUL);
    E("{\"type\":\"audio_chunk\",\"data\":[1,2,-3,]}", JSONV_E_SYNTAX);
    E("{\"type\":\"audio_chunk\",\"data\":[1,2,NaN]}", JSONV_E_SYNTAX);
    E("{\"type\":\"audio_chunk\",\"data\":[1,2,1e999]}", JSONV_E_NUMBER);
    E("{\"type\":'ping'}", JSONV_E_SYNTAX);
    E("{\"type\":\"ping\"}\n{\"type\":\"ping\"}", JSONV_E_SYNTAX);
}

static void test_offsets(void)
{
    CHECK(jv_at("", JSONV_E_SYNTAX, 0));
    CHECK(jv_at("   ", JSONV_E_SYNTAX, 3));
    CHECK(jv_at("[1,2", JSONV_E_SYNTAX, 4));
    CHECK(jv_at("[1,2,]", JSONV_E_SYNTAX, 5));
    CHECK(jv_at("{\"a\":1,}", JSONV_E_SYNTAX, 7));
    CHECK(jv_at("[1] x", JSONV_E_SYNTAX, 4));
    CHECK(jv_at("tru", JSONV_E_SYNTAX, 3));
    CHECK(jv_at("trUe", JSONV_E_SYNTAX, 2));
    CHECK(jv_at("\"a\tb\"", JSONV_E_SYNTAX, 2));
    CHECK(jv_at("\"\\q\"", JSONV_E_SYNTAX, 2));
    CHECK(jv_at("\"\\u12g4\"", JSONV_E_SYNTAX, 5));
    CHECK(jv_at("{\"a\" 1}", JSONV_E_SYNTAX, 5));
    CHECK(jv_at("[}", JSONV_E_SYNTAX, 1));
    CHECK(jv_at("{\"a\":1]", JSONV_E_SYNTAX, 6));
    /* err_off untouched on success */
    size_t off = 77;
    CHECK(jv_n("[]", 2, 1, &off) == JSONV_OK && off == 77);
}

static void test_strerror(void)
{
    const int codes[] = {JSONV_OK, JSONV_E_SYNTAX, JSONV_E_DEPTH, JSONV_E_NUL, JSONV_E_UTF8,
                         JSONV_E_NUMBER, JSONV_E_DUP_KEY, JSONV_E_TOO_MANY_KEYS, -99, 5};
    for (size_t i = 0; i < ARRAY_LEN(codes); i++)
        CHECK(jsonv_strerror(codes[i]) != NULL && jsonv_strerror(codes[i])[0] != '\0');
    CHECK(strcmp(jsonv_strerror(JSONV_E_DEPTH), jsonv_strerror(JSONV_E_NUL)) != 0);
}

int main(void)
{
    test_y_cases();
    test_n_arrays_and_literals();
    test_n_numbers();
    test_n_objects();
    test_n_strings();
    test_n_utf8();
    test_surrogate_escapes();
    test_nul();
    test_numbers_range();
    test_dup_keys();
    test_dup_key_orders();
    test_too_many_keys();
    test_key_stack();
    test_depth();
    test_protocol();
    test_offsets();
    test_strerror();
    return T_DONE();
}
