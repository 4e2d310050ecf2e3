// deps: src/parse/route.c
/* Inputs are copied to the end of a page followed by a PROT_NONE page, so a
 * read past n faults instead of silently passing. */
#define _DEFAULT_SOURCE /* mmap MAP_ANONYMOUS under -std=c17 */
#include "parse/route.h"
#include "t.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static char *guard_map;
static size_t guard_pg;

static void guard_init(void)
{
    guard_pg = (size_t)sysconf(_SC_PAGESIZE);
    guard_map = mmap(NULL, 2 * guard_pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard_map == MAP_FAILED || mprotect(guard_map + guard_pg, guard_pg, PROT_NONE) != 0)
        abort();
}

/* s copied so that its last byte is the last readable byte. */
static const char *g(const char *s)
{
    size_t n = strlen(s);
    if (n > guard_pg)
        abort();
    char *p = guard_map + guard_pg - n;
    memcpy(p, s, n);
    return p;
}

static struct route_match M;

static enum route_id rm(const char *path)
{
    memset(&M, 'x', sizeof M); /* stale garbage must not leak through */
    return route_match(g(path), strlen(path), &M);
}

static bool id_is(const char *id)
{
    return strcmp(M.id, id) == 0;
}

static void test_routes(void)
{
    CHECK(rm("/health") == ROUTE_HEALTH && M.route == ROUTE_HEALTH && id_is(""));
    CHECK(rm("/%68ealth") == ROUTE_HEALTH);
    CHECK(rm("/Health") == ROUTE_NOT_FOUND);
    CHECK(rm("/health/") == ROUTE_NOT_FOUND);
    CHECK(rm("/health/x") == ROUTE_NOT_FOUND);
    CHECK(rm("//health") == ROUTE_NOT_FOUND);
    CHECK(rm("/healthz") == ROUTE_NOT_FOUND);
    CHECK(rm("/metrics") == ROUTE_METRICS && id_is(""));
    CHECK(rm("/metrics/") == ROUTE_NOT_FOUND && rm("/metrics/x") == ROUTE_NOT_FOUND);
    CHECK(rm("/") == ROUTE_INDEX);
    CHECK(rm("/interview") == ROUTE_INDEX);
    CHECK(rm("/interview/") == ROUTE_NOT_FOUND);
    CHECK(rm("/api/stream/test-page") == ROUTE_STREAM_TEST_PAGE);
    CHECK(rm("/api/stream/status/s-1") == ROUTE_STREAM_STATUS && id_is("s-1"));
    CHECK(rm("/api/stream/disconnect/s_2") == ROUTE_STREAM_DISCONNECT && id_is("s_2"));
    CHECK(rm("/api/stream/status/") == ROUTE_BAD_ID);
    CHECK(rm("/api/stream/status/a!b") == ROUTE_BAD_ID);
    CHECK(rm("/api/stream/status") == ROUTE_NOT_FOUND);
    CHECK(rm("/ws") == ROUTE_NOT_FOUND);
    CHECK(rm("/api/stream/ws") == ROUTE_NOT_FOUND);
    CHECK(rm("/api/stream/wss/a") == ROUTE_NOT_FOUND);

    CHECK(rm("/ws/abc") == ROUTE_WS_CLIENT && id_is("abc"));
    CHECK(rm("/ws/A-z_09") == ROUTE_WS_CLIENT && id_is("A-z_09"));
    CHECK(rm("/ws/%41bc") == ROUTE_WS_CLIENT && id_is("Abc"));
    CHECK(rm("/ws/%4a%4A") == ROUTE_WS_CLIENT && id_is("JJ"));
    CHECK(rm("/api/stream/ws/sess_01") == ROUTE_WS_STREAM && id_is("sess_01"));
    CHECK(rm("/api/%73tream/ws/s") == ROUTE_WS_STREAM && id_is("s"));
    CHECK(rm("/socket.io/") == ROUTE_SIO && rm("/socket.io") == ROUTE_SIO);
    CHECK(rm("/socket.io/x") == ROUTE_NOT_FOUND && rm("/socket.io//") == ROUTE_NOT_FOUND);

    CHECK(rm("/ws/abc/x") == ROUTE_NOT_FOUND && id_is(""));
    CHECK(rm("/ws/abc/") == ROUTE_NOT_FOUND);
    CHECK(rm("/api/stream/ws/a/b") == ROUTE_NOT_FOUND);
    CHECK(rm("/ws//") == ROUTE_NOT_FOUND);

    CHECK(rm("/ws/") == ROUTE_BAD_ID && id_is(""));
    CHECK(rm("/api/stream/ws/") == ROUTE_BAD_ID);
    CHECK(rm("/ws/a.b") == ROUTE_BAD_ID);
    CHECK(rm("/ws/a%20b") == ROUTE_BAD_ID);
    CHECK(rm("/ws/a%2Fb") == ROUTE_BAD_ID);
    CHECK(rm("/ws/a%2fb") == ROUTE_BAD_ID);
    CHECK(rm("/ws/%2F") == ROUTE_BAD_ID);
    CHECK(rm("/ws/a+b") == ROUTE_BAD_ID);
    CHECK(rm("/ws/caf%C3%A9") == ROUTE_BAD_ID);
    CHECK(rm("/ws/...") == ROUTE_BAD_ID);
    /* 64 is the longest id */
    CHECK(rm("/ws/0123456789012345678901234567890123456789012345678901234567890123") == ROUTE_WS_CLIENT &&
          strlen(M.id) == 64);
    CHECK(rm("/ws/01234567890123456789012345678901234567890123456789012345678901234") == ROUTE_BAD_ID);
    CHECK(rm("/ws/%301234567890123456789012345678901234567890123456789012345678901234") == ROUTE_BAD_ID);
    CHECK(rm("/api/stream/ws/0123456789012345678901234567890123456789012345678901234567890123xxxxxxxxxx") ==
          ROUTE_BAD_ID);

    CHECK(rm("/ws/%") == ROUTE_BAD_PATH);
    CHECK(rm("/ws/%4") == ROUTE_BAD_PATH);
    CHECK(rm("/ws/%zz") == ROUTE_BAD_PATH);
    CHECK(rm("/ws/%00") == ROUTE_BAD_PATH);
    CHECK(rm("/ws/.") == ROUTE_BAD_PATH);
    CHECK(rm("/ws/..") == ROUTE_BAD_PATH);
    CHECK(rm("/ws/%2e%2E") == ROUTE_BAD_PATH);
    CHECK(rm("/ws/%2e") == ROUTE_BAD_PATH);
    CHECK(rm("/../health") == ROUTE_BAD_PATH);
    CHECK(rm("/x/../health") == ROUTE_BAD_PATH);
    CHECK(rm("/health/.") == ROUTE_BAD_PATH);
    CHECK(rm("/nothing/here/%zz") == ROUTE_BAD_PATH);
    CHECK(rm("/ws/a b") == ROUTE_BAD_PATH);  /* raw bytes outside pchar */
    CHECK(rm("/ws/a\"b") == ROUTE_BAD_PATH);
    CHECK(rm("/ws/a?b") == ROUTE_BAD_PATH); /* query must be split off first */
    CHECK(rm("/ws/a#b") == ROUTE_BAD_PATH);
    CHECK(rm("/ws/\xc3\xa9") == ROUTE_BAD_PATH);
    CHECK(rm("*") == ROUTE_BAD_PATH);
    CHECK(rm("health") == ROUTE_BAD_PATH);
    CHECK(route_match("", 0, &M) == ROUTE_BAD_PATH);
}

static void test_decode(void)
{
    char out[16];
    CHECK(route_decode_path(g("/a%41%7e%7E"), 11, out, sizeof out) == 5 && memcmp(out, "/aA~~", 5) == 0);
    CHECK(route_decode_path(g("/a%2Fb"), 6, out, sizeof out) == 4 && memcmp(out, "/a/b", 4) == 0);
    CHECK(route_decode_path(g("/%ff"), 4, out, sizeof out) == 2 && (unsigned char)out[1] == 0xff);
    CHECK(route_decode_path(g("!$&'()*+,;=:@-._~"), 17, out, sizeof out) == -1); /* 17 > 16 */
    CHECK(route_decode_path(g("!$&'()*+,;=:@-._"), 16, out, sizeof out) == 16);
    CHECK(route_decode_path(g("%41%41"), 6, out, 2) == 2);
    CHECK(route_decode_path(g("%41%41"), 6, out, 1) == -1);
    CHECK(route_decode_path(g("%"), 1, out, sizeof out) == -1);
    CHECK(route_decode_path(g("%a"), 2, out, sizeof out) == -1);
    CHECK(route_decode_path(g("%ag"), 3, out, sizeof out) == -1);
    CHECK(route_decode_path(g("%00"), 3, out, sizeof out) == -1);
    CHECK(route_decode_path(g("a b"), 3, out, sizeof out) == -1);
    CHECK(route_decode_path(g("a?"), 2, out, sizeof out) == -1);
    CHECK(route_decode_path(g("a%"), 2, out, sizeof out) == -1);
    CHECK(route_decode_path("", 0, NULL, 0) == 0);
}

static void test_id(void)
{
    CHECK(route_id_valid("a", 1));
    CHECK(route_id_valid("Az09_-", 6));
    CHECK(!route_id_valid("", 0));
    CHECK(!route_id_valid("a.b", 3));
    CHECK(!route_id_valid("a/b", 3));
    CHECK(!route_id_valid("a\0b", 3));
    CHECK(route_id_valid("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 64));
    CHECK(!route_id_valid("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 65));
}

static char qout[32];

static ssize_t qg(const char *q, const char *key)
{
    memset(qout, 'x', sizeof qout);
    return route_query_get(g(q), strlen(q), key, qout, sizeof qout);
}

static void test_query(void)
{
    CHECK(qg("token=abc", "token") == 3 && strcmp(qout, "abc") == 0);
    CHECK(qg("a=1&token=x%20y+z&token=2", "token") == 5 && strcmp(qout, "x y z") == 0);
    CHECK(qg("a=1&b=2", "b") == 1 && strcmp(qout, "2") == 0);
    CHECK(qg("a=1&b=2", "c") == -1);
    CHECK(qg("", "a") == -1);
    CHECK(qg("a", "a") == 0 && strcmp(qout, "") == 0);
    CHECK(qg("a=", "a") == 0 && qout[0] == '\0');
    CHECK(qg("ab=1&a=2", "a") == 1 && strcmp(qout, "2") == 0);
    CHECK(qg("a=1", "ab") == -1);
    CHECK(qg("A=1", "a") == -1);
    CHECK(qg("%74oken=v", "token") == 1 && strcmp(qout, "v") == 0);
    CHECK(qg("my+key=v", "my key") == 1);
    CHECK(qg("my%20key=v", "my key") == 1);
    CHECK(qg("a=b=c", "a") == 3 && strcmp(qout, "b=c") == 0);
    CHECK(qg("&&a=1&&", "a") == 1);
    CHECK(qg("=1&a=2", "") == 1 && strcmp(qout, "1") == 0);
    CHECK(qg("a=%7B%7d|{}", "a") == 5 && strcmp(qout, "{}|{}") == 0); /* raw | { } as browsers send */
    CHECK(qg("a=%e2%82%ac", "a") == 3 && strcmp(qout, "\xe2\x82\xac") == 0);
    /* malformed anywhere -> -2, even in a pair that does not match */
    CHECK(qg("a=%zz", "a") == -2);
    CHECK(qg("a=1&b=%", "a") == -2);
    CHECK(qg("b%=1&a=1", "a") == -2);
    CHECK(qg("a=%00", "a") == -2);
    CHECK(qg("a=x y", "a") == -2);
    CHECK(qg("a=\x01", "a") == -2);
    CHECK(qg("a=\xc3\xa9", "a") == -2);
    /* out capacity includes the NUL */
    char small[4];
    CHECK(route_query_get(g("a=123"), 5, "a", small, 4) == 3 && strcmp(small, "123") == 0);
    CHECK(route_query_get(g("a=1234"), 6, "a", small, 4) == -2);
    CHECK(route_query_get(g("a="), 2, "a", small, 0) == -2);
    CHECK(route_query_get(g("a="), 2, "a", small, 1) == 0 && small[0] == '\0');
    CHECK(route_query_get(g("b=1"), 3, "a", NULL, 0) == -1);
}

int main(void)
{
    guard_init();
    test_routes();
    test_decode();
    test_id();
    test_query();
    return T_DONE();
}
