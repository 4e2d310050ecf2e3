// deps: src/parse/http_req.c
/* Every request goes through run(), which parses it three ways -- one shot
 * from a copy that ends right before a PROT_NONE page (so any read past len
 * faults), byte at a time, and one shot again on the same parser (results are
 * sticky) -- and checks the three agree before returning the result. */
#define _DEFAULT_SOURCE /* mmap MAP_ANONYMOUS under -std=c17 */
#include "parse/http_req.h"
#include "t.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static struct httpq_parser limits = {.max_head = 8192, .max_target = 4096, .max_headers = 64};
static struct httpq_request R; /* result of the last run() */

/* Copy of s placed so that its last byte is the last byte before a guard page. */
static char *guarded(const char *s, size_t n, void **map, size_t *maplen)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (n + pg - 1) / pg * pg;
    if (data == 0)
        data = pg;
    *maplen = data + pg;
    char *m = mmap(NULL, *maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        abort();
    if (mprotect(m + data, pg, PROT_NONE) != 0)
        abort();
    *map = m;
    char *p = m + data - n;
    memcpy(p, s, n);
    return p;
}

static bool same_slice(struct slice a, const char *abase, struct slice b, const char *bbase)
{
    if ((a.p == NULL) != (b.p == NULL))
        return false;
    return a.p == NULL || (a.p - abase == b.p - bbase && a.n == b.n);
}

static bool same_req(const struct httpq_request *a, const char *ab, const struct httpq_request *b, const char *bb)
{
    bool ok = same_slice(a->method, ab, b->method, bb) && same_slice(a->target, ab, b->target, bb) &&
              same_slice(a->path, ab, b->path, bb) && same_slice(a->query, ab, b->query, bb) &&
              a->minor_version == b->minor_version && a->num_headers == b->num_headers &&
              a->content_length == b->content_length && a->chunked == b->chunked &&
              a->keep_alive == b->keep_alive && a->conn_upgrade == b->conn_upgrade &&
              a->upgrade_websocket == b->upgrade_websocket && same_slice(a->host, ab, b->host, bb) &&
              same_slice(a->origin, ab, b->origin, bb) && same_slice(a->ws_key, ab, b->ws_key, bb) &&
              same_slice(a->ws_version, ab, b->ws_version, bb) &&
              same_slice(a->ws_protocol, ab, b->ws_protocol, bb);
    for (size_t i = 0; ok && i < a->num_headers; i++)
        ok = same_slice(a->headers[i].name, ab, b->headers[i].name, bb) &&
             same_slice(a->headers[i].value, ab, b->headers[i].value, bb);
    return ok;
}

/* Parses s[0..n) with lim; leaves the one-shot result in R, pointing into a
 * static copy of s. */
static int runl(const char *s, size_t n, struct httpq_parser lim)
{
    static char keep[20000];
    void *map;
    size_t maplen;
    char *g = guarded(s, n, &map, &maplen);

    struct httpq_parser one = lim;
    struct httpq_request r1;
    int rc1 = httpq_parse(&one, g, n, &r1);
    struct httpq_request r3;
    int rc3 = httpq_parse(&one, g, n, &r3);

    struct httpq_parser inc = lim;
    struct httpq_request r2;
    int rc2 = 0;
    for (size_t i = 0; i <= n; i++) {
        rc2 = httpq_parse(&inc, g, i, &r2);
        if (rc2 != 0)
            break;
    }
    CHECK(rc1 == rc2);
    CHECK(rc1 == rc3);
    if (rc1 > 0 && rc1 == rc2 && rc1 == rc3) {
        CHECK(same_req(&r1, g, &r2, g));
        CHECK(same_req(&r1, g, &r3, g));
    }
    /* Re-point R's slices into keep[] so they outlive the mapping. */
    if (n <= sizeof keep) {
        memcpy(keep, s, n);
        R = r1;
        if (rc1 > 0) {
            ptrdiff_t d = keep - g;
            struct slice *sl[] = {&R.method, &R.target, &R.path, &R.query, &R.host,
                                  &R.origin, &R.ws_key, &R.ws_version, &R.ws_protocol};
            for (size_t i = 0; i < ARRAY_LEN(sl); i++)
                if (sl[i]->p)
                    sl[i]->p += d;
            for (size_t i = 0; i < R.num_headers; i++) {
                R.headers[i].name.p += d;
                R.headers[i].value.p += d;
            }
        }
    }
    munmap(map, maplen);
    return rc1;
}

static int runs(const char *s, struct httpq_parser lim)
{
    return runl(s, strlen(s), lim);
}

static int run(const char *s)
{
    return runl(s, strlen(s), limits);
}

static bool sl_is(struct slice s, const char *lit)
{
    return s.p != NULL && slice_eq(s, lit, strlen(lit));
}

/* ---- real clients --------------------------------------------------------- */

static const char chromium[] =
    "GET /ws/client-42 HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://localhost:8080\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

static const char firefox[] =
    "GET /api/stream/ws/sess_01?token=abc%20d&x=1 HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n"
    "Accept: */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Origin: https://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    "DNT: 1\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-Fetch-Dest: empty\r\n"
    "Sec-Fetch-Mode: websocket\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "Upgrade: websocket\r\n"
    "\r\n";

static const char python_websockets[] =
    "GET /ws/py HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: 6Zx5gyB1p2KLTzLr6tu0cw==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "User-Agent: Python/3.12 websockets/12.0\r\n"
    "\r\n";

static const char curl_health[] =
    "GET /health HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "User-Agent: curl/8.5.0\r\n"
    "Accept: */*\r\n"
    "\r\n";

static void test_clients(void)
{
    CHECK(run(chromium) == (int)strlen(chromium));
    CHECK(sl_is(R.method, "GET") && sl_is(R.path, "/ws/client-42") && R.query.n == 0);
    CHECK(R.minor_version == 1 && R.num_headers == 12);
    CHECK(sl_is(R.host, "localhost:8080") && sl_is(R.origin, "http://localhost:8080"));
    CHECK(sl_is(R.ws_key, "dGhlIHNhbXBsZSBub25jZQ==") && sl_is(R.ws_version, "13"));
    CHECK(R.ws_protocol.p == NULL && R.content_length == -1 && !R.chunked);
    CHECK(R.conn_upgrade && R.upgrade_websocket && R.keep_alive);
    CHECK(sl_is(httpq_header_get(&R, "user-agent")->value,
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Safari/537.36"));

    CHECK(run(firefox) == (int)strlen(firefox));
    CHECK(sl_is(R.target, "/api/stream/ws/sess_01?token=abc%20d&x=1"));
    CHECK(sl_is(R.path, "/api/stream/ws/sess_01") && sl_is(R.query, "token=abc%20d&x=1"));
    CHECK(R.num_headers == 18 && sl_is(R.ws_protocol, "chat, superchat"));
    CHECK(R.conn_upgrade && R.upgrade_websocket && R.keep_alive);
    CHECK(sl_is(R.ws_key, "x3JJHMbDL1EzLkh9GBhXDw==") && sl_is(R.origin, "https://example.com"));
    CHECK(httpq_headers_have_token(&R, "sec-websocket-protocol", "superchat"));
    CHECK(!httpq_headers_have_token(&R, "sec-websocket-protocol", "super"));

    CHECK(run(python_websockets) == (int)strlen(python_websockets));
    CHECK(sl_is(R.path, "/ws/py") && R.origin.p == NULL && R.num_headers == 7);
    CHECK(R.conn_upgrade && R.upgrade_websocket && sl_is(R.ws_version, "13"));

    CHECK(run(curl_health) == (int)strlen(curl_health));
    CHECK(sl_is(R.path, "/health") && !R.conn_upgrade && !R.upgrade_websocket && R.keep_alive);
    CHECK(httpq_header_get(&R, "X-Nope") == NULL);
    CHECK(sl_is(httpq_header_get(&R, "ACCEPT")->value, "*/*"));
}

/* Every proper prefix of a valid head needs more input. */
static void test_prefixes(void)
{
    size_t n = strlen(chromium);
    for (size_t i = 0; i < n; i++) {
        struct httpq_parser p = limits;
        struct httpq_request r;
        if (httpq_parse(&p, chromium, i, &r) != 0) {
            CHECK(!"prefix not 0");
            return;
        }
    }
    CHECK(1);
}

/* ---- accepted edge cases -------------------------------------------------- */

static void test_accepts(void)
{
    CHECK(run("GET / HTTP/1.0\r\n\r\n") == 18);
    CHECK(R.minor_version == 0 && !R.keep_alive && R.host.p == NULL);
    CHECK(run("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0 && R.keep_alive);
    CHECK(run("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") > 0 && !R.keep_alive);
    CHECK(run("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: upgrade\r\n"
              "Upgrade: h2c\r\nUpgrade: WebSocket\r\n\r\n") > 0);
    CHECK(R.conn_upgrade && R.upgrade_websocket && R.keep_alive);
    CHECK(run("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrades\r\nUpgrade: websockets\r\n\r\n") > 0);
    CHECK(!R.conn_upgrade && !R.upgrade_websocket);
    CHECK(run("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") > 0 && sl_is(R.path, "*") && R.query.n == 0);
    CHECK(run("GET /a?b?c HTTP/1.1\r\nHost: a\r\n\r\n") > 0 && sl_is(R.path, "/a") && sl_is(R.query, "b?c"));
    CHECK(run("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n") > 0 && sl_is(R.path, "/a") && R.query.n == 0 &&
          R.query.p != NULL);
    CHECK(run("GET / HTTP/1.1\r\nHost:a\r\nX:  \t v a l \t \r\nY:\r\nZ: \t\r\n\r\n") > 0);
    CHECK(sl_is(R.host, "a") && sl_is(R.headers[1].value, "v a l") && R.headers[2].value.n == 0 &&
          R.headers[3].value.n == 0);
    CHECK(run("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\x80\xff\r\n\r\n") > 0); /* obs-text */
    CHECK(run("M-._~!#$%&'*+^`|9 / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~0aZ: v\r\n\r\n") > 0);
    CHECK(run("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n") > 0 && R.content_length == 0);
    CHECK(run("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\ncontent-length: 7\r\n\r\n") > 0 &&
          R.content_length == 7);
    /* 1*DIGIT: leading zeros of any length are read, not overflowed */
    CHECK(run("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000000000000007\r\n\r\n") > 0 &&
          R.content_length == 7);
    CHECK(run("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9007199254740992\r\n\r\n") > 0 &&
          R.content_length == 9007199254740992LL);
    CHECK(run("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n") > 0 && R.chunked &&
          R.content_length == -1);
    CHECK(run("GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n\r\n") > 0);
    CHECK(sl_is(R.ws_protocol, "a") && httpq_headers_have_token(&R, "Sec-WebSocket-Protocol", "b"));
    CHECK(run("GET / HTTP/1.1\r\nHost: \r\n\r\n") > 0 && R.host.p != NULL && R.host.n == 0);
}

/* ---- rejections ------------------------------------------------------------ */

#define BAD(s) CHECK(run(s) == HTTPQ_E_BAD)
/* The error must come before the head is complete (fail fast). */
#define BAD_EARLY(s) CHECK(run(s) == HTTPQ_E_BAD && strstr(s, "\r\n\r\n") == NULL)

static void test_lexical(void)
{
    /* NUL, bare CR, bare LF, control characters: refused at the byte. */
    CHECK(runl("GET /\0", 6, limits) == HTTPQ_E_BAD);
    CHECK(runl("GET / HTTP/1.1\r\nHost: a\0b", 25, limits) == HTTPQ_E_BAD);
    CHECK(runl("G\0", 2, limits) == HTTPQ_E_BAD);
    BAD_EARLY("GET / HTTP/1.1\rX");
    BAD_EARLY("GET / HTTP/1.1\r\nHost: a\rb");
    BAD_EARLY("GET / HTTP/1.1\r\nHost: a\r\n\rX");
    BAD_EARLY("GET / HTTP/1.1\n");
    BAD_EARLY("GET / HTTP/1.1\r\nHost: a\n");
    BAD_EARLY("GET / HTTP/1.1\r\nHost: a\r\n\n");
    BAD_EARLY("GET / HTTP/1.1\r\nX: a\x01");
    BAD_EARLY("GET / HTTP/1.1\r\nX: a\x7f");
    BAD_EARLY("GET / HTTP/1.1\r\nX: a\x1b[0m");
    BAD_EARLY("GET /\t HTTP/1.1");
    BAD_EARLY("GET\t/ HTTP/1.1");
    BAD_EARLY("\x16\x03\x01\x02\x00"); /* TLS ClientHello on the plain port */
    BAD_EARLY("\r\nGET / HTTP/1.1\r\n");  /* leading empty line */
    /* obs-fold and whitespace before the first field */
    BAD_EARLY("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c");
    BAD_EARLY("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc");
    BAD_EARLY("GET / HTTP/1.1\r\n Host: a");
    /* field names */
    BAD_EARLY("GET / HTTP/1.1\r\nHost : a");
    BAD_EARLY("GET / HTTP/1.1\r\nHost\t: a");
    BAD_EARLY("GET / HTTP/1.1\r\n: a");
    BAD_EARLY("GET / HTTP/1.1\r\nHo(st: a");
    BAD_EARLY("GET / HTTP/1.1\r\nHost a\r\n");
    BAD_EARLY("GET / HTTP/1.1\r\nX\xc3\xa9: a");
    /* request line shape */
    BAD_EARLY(" GET / HTTP/1.1");
    BAD_EARLY("GET  / HTTP/1.1");
    BAD_EARLY("GET /  HTTP/1.1");
    BAD_EARLY("GET / HTTP/1.1 \r\n");
    BAD_EARLY("GET /\r\n"); /* HTTP/0.9 */
    BAD_EARLY("GET / \r\n");
    BAD_EARLY("G(T / HTTP/1.1");
    BAD_EARLY("GET /caf\xc3\xa9 HTTP/1.1");
    BAD_EARLY("GET /a#frag HTTP/1.1");
}

static void test_semantic(void)
{
    /* target */
    BAD("GET * HTTP/1.1\r\nHost: a\r\n\r\n");
    BAD("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
    BAD("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n");
    BAD("GET ** HTTP/1.1\r\nHost: a\r\n\r\n");
    /* version */
    BAD("GET / http/1.1\r\nHost: a\r\n\r\n");
    BAD("GET / HTTP/1.10\r\nHost: a\r\n\r\n");
    BAD("GET / HTTP/1\r\nHost: a\r\n\r\n");
    BAD("GET / HTTP/a.1\r\nHost: a\r\n\r\n");
    BAD("GET / HTTP/1,1\r\nHost: a\r\n\r\n");
    BAD("GET / HTTPS/1.1\r\nHost: a\r\n\r\n");
    CHECK(run("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == HTTPQ_E_VERSION);
    CHECK(run("GET / HTTP/1.2\r\nHost: a\r\n\r\n") == HTTPQ_E_VERSION);
    CHECK(run("GET / HTTP/0.9\r\n\r\n") == HTTPQ_E_VERSION);
    CHECK(run("GET / HTTP/9.9\r\n\r\n") == HTTPQ_E_VERSION);
    /* Host */
    BAD("GET / HTTP/1.1\r\n\r\n");
    BAD("GET / HTTP/1.1\r\nX: a\r\n\r\n");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n");
    BAD("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
    /* Content-Length */
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 9007199254740993\r\n\r\n");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    /* Transfer-Encoding */
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
    BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(run("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n") == HTTPQ_E_NOT_IMPLEMENTED);
    CHECK(run("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") ==
          HTTPQ_E_NOT_IMPLEMENTED);
    CHECK(run("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") ==
          HTTPQ_E_NOT_IMPLEMENTED);
    CHECK(run("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n") ==
          HTTPQ_E_NOT_IMPLEMENTED);
    /* WebSocket duplicates */
    BAD("GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: a\r\nsec-websocket-key: a\r\n\r\n");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n\r\n");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nOrigin: http://a\r\nOrigin: http://b\r\n\r\n");
}

/* ---- limits --------------------------------------------------------------- */

static void test_limits(void)
{
    static char big[9000];
    struct httpq_parser lim = limits;

    /* 414: request line of exactly max_target passes; one more byte fails,
     * and it fails while the line is still arriving. */
    lim.max_target = 20;
    CHECK(runl("GET /0123456789abcd HTTP/1.1\r\nHost: a\r\n\r\n", 41, lim) == HTTPQ_E_URI_TOO_LONG);
    CHECK(runs("GET /0123456789abcde", lim) == 0); /* 20 so far */
    CHECK(runs("GET /0123456789abcdef", lim) == HTTPQ_E_URI_TOO_LONG);
    CHECK(runl("GET /0123 HTTP/1.1\r\nHost: a\r\n\r\n", 31, lim) == 31); /* line is 18 */
    CHECK(runl("GET /01234 HTTP/1.1\r\nHost: a\r\n\r\n", 32, lim) == 32);  /* 19 */
    CHECK(runl("GET /012345 HTTP/1.1\r\nHost: a\r\n\r\n", 33, lim) == 33); /* 20 */
    CHECK(runl("GET /0123456 HTTP/1.1\r\nHost: a\r\n\r\n", 34, lim) == HTTPQ_E_URI_TOO_LONG);
    /* the server sets max_target == max_head: a line over both is still 414, not 431 */
    lim.max_head = 20;
    CHECK(runs("GET /0123456789abcdef", lim) == HTTPQ_E_URI_TOO_LONG);
    lim.max_head = limits.max_head;

    /* 431 for size: a head of exactly max_head passes. */
    lim = limits;
    lim.max_head = 31;
    CHECK(runl("GET /0123 HTTP/1.1\r\nHost: a\r\n\r\n", 31, lim) == 31);
    lim.max_head = 30;
    CHECK(runl("GET /0123 HTTP/1.1\r\nHost: a\r\n\r\n", 31, lim) == HTTPQ_E_HEAD_TOO_LARGE);
    /* ... and while still arriving (no CRLFCRLF yet). */
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    CHECK(runl(big, sizeof big, limits) == HTTPQ_E_HEAD_TOO_LARGE);
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    CHECK(runl(big, sizeof big, limits) == HTTPQ_E_URI_TOO_LONG);

    /* 431 for count: exactly max_headers passes. */
    lim = limits;
    lim.max_headers = 3;
    CHECK(run("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n") > 0);
    CHECK(runs("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", lim) == 39);
    CHECK(runs("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC", lim) == HTTPQ_E_TOO_MANY_HEADERS);
    /* the hard ceiling applies even if configured higher */
    lim.max_headers = 1000;
    size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < HTTPQ_MAX_HEADERS - 1; i++)
        n += (size_t)sprintf(big + n, "X%d: y\r\n", i);
    CHECK(runl(big, n, lim) == 0);
    memcpy(big + n, "\r\n", 2);
    CHECK(runl(big, n + 2, lim) == (int)n + 2 && R.num_headers == HTTPQ_MAX_HEADERS);
    memcpy(big + n, "Z: y\r\n\r\n", 8);
    CHECK(runl(big, n + 8, lim) == HTTPQ_E_TOO_MANY_HEADERS);

    /* zero limits select the defaults */
    struct httpq_parser zero = {0};
    CHECK(runl(curl_health, strlen(curl_health), zero) == (int)strlen(curl_health));
}

/* ---- pipelining, stickiness, reset ---------------------------------------- */

static void test_pipeline(void)
{
    char buf[512];
    size_t a = strlen(curl_health), b = strlen(python_websockets);
    memcpy(buf, curl_health, a);
    memcpy(buf + a, python_websockets, b);
    struct httpq_parser p = limits;
    struct httpq_request r;
    CHECK(httpq_parse(&p, buf, a + b, &r) == (int)a);
    CHECK(sl_is(r.path, "/health"));
    CHECK(httpq_parse(&p, buf, a + b, &r) == (int)a); /* sticky */
    CHECK(httpq_parse(&p, buf, 3, &r) == HTTPQ_E_BAD); /* shrunk buffer */
    httpq_reset(&p);
    CHECK(p.max_head == 8192 && p.scanned == 0);
    CHECK(httpq_parse(&p, buf + a, b, &r) == (int)b);
    CHECK(sl_is(r.path, "/ws/py") && r.upgrade_websocket);
    /* garbage after the head is not the parser's business */
    memcpy(buf + a, "\0\0\0", 3);
    httpq_reset(&p);
    CHECK(httpq_parse(&p, buf, a + 3, &r) == (int)a);

    /* errors are sticky too, whatever arrives later */
    httpq_reset(&p);
    CHECK(httpq_parse(&p, "GET /\n", 6, &r) == HTTPQ_E_BAD);
    CHECK(httpq_parse(&p, "GET /\nxyz", 9, &r) == HTTPQ_E_BAD);
}

/* ---- helpers --------------------------------------------------------------- */

static bool tl(const char *list, const char *tok)
{
    return httpq_token_list_has((struct slice){list, strlen(list)}, tok);
}

static void test_helpers(void)
{
    CHECK(httpq_status(HTTPQ_E_BAD) == 400);
    CHECK(httpq_status(HTTPQ_E_HEAD_TOO_LARGE) == 431);
    CHECK(httpq_status(HTTPQ_E_TOO_MANY_HEADERS) == 431);
    CHECK(httpq_status(HTTPQ_E_URI_TOO_LONG) == 414);
    CHECK(httpq_status(HTTPQ_E_VERSION) == 505);
    CHECK(httpq_status(HTTPQ_E_NOT_IMPLEMENTED) == 501);
    CHECK(httpq_status(-99) == 400);

    CHECK(tl("keep-alive, Upgrade", "upgrade"));
    CHECK(tl("keep-alive, Upgrade", "Upgrade"));
    CHECK(tl("keep-alive, Upgrade", "KEEP-ALIVE"));
    CHECK(!tl("keep-alive, Upgrade", "upgrades"));
    CHECK(!tl("upgrades", "upgrade"));
    CHECK(!tl("upgrad", "upgrade"));
    CHECK(!tl("keep-alive", "alive"));
    CHECK(tl(" \tupgrade\t ", "upgrade"));
    CHECK(tl(",,, ,upgrade,", "upgrade"));
    CHECK(tl("a,upgrade", "upgrade"));
    CHECK(!tl("", "upgrade"));
    CHECK(!tl("a b", "a"));
    CHECK(!tl("a, b", ""));
    CHECK(!httpq_token_list_has((struct slice){NULL, 0}, "x"));
}

int main(void)
{
    test_clients();
    test_prefixes();
    test_accepts();
    test_lexical();
    test_semantic();
    test_limits();
    test_pipeline();
    test_helpers();
    return T_DONE();
}
