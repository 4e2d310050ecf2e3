// deps: src/parse/redis_url.c
#include "parse/redis_url.h"
#include "t.h"

static int parse(const char *s, struct redis_url *u) { return redis_url_parse(s, strlen(s), u); }

int main(void)
{
    struct redis_url c;
    CHECK(parse("redis://:secret@10.0.0.5:6379/0", &c) == RURL_OK && !c.tls && strcmp(c.host, "10.0.0.5") == 0 &&
          c.port == 6379 && strcmp(c.password, "secret") == 0 && !c.user[0] && c.db == 0);
    CHECK(parse("rediss://bob:p%40ss@cache.local/3", &c) == RURL_OK && c.tls && strcmp(c.user, "bob") == 0 &&
          strcmp(c.password, "p@ss") == 0 && c.port == 6379 && c.db == 3);
    CHECK(parse("redis://[::1]:7000", &c) == RURL_OK && strcmp(c.host, "::1") == 0 && c.port == 7000 &&
          !c.password[0]);
    CHECK(parse("redis://u:a@b@h:1/", &c) == RURL_OK && strcmp(c.password, "a@b") == 0 && strcmp(c.host, "h") == 0 &&
          c.db == 0);
    CHECK(parse("redis://onlypass@h", &c) == RURL_OK && strcmp(c.password, "onlypass") == 0 && !c.user[0]);
    CHECK(parse("redis://h/1000000", &c) == RURL_OK && c.db == 1000000);
    /* each refusal with its code */
    CHECK(parse("http://h", &c) == RURL_E_SCHEME);
    CHECK(parse("redis:/h", &c) == RURL_E_SCHEME);
    CHECK(parse("redis://", &c) == RURL_E_HOST);
    CHECK(parse("redis://h:0", &c) == RURL_E_HOST);
    CHECK(parse("redis://h:70000", &c) == RURL_E_HOST);
    CHECK(parse("redis://h:", &c) == RURL_E_HOST);
    CHECK(parse("redis://[::1", &c) == RURL_E_HOST);
    CHECK(parse("redis://[::1]x", &c) == RURL_E_HOST);
    CHECK(parse("redis://h h", &c) == RURL_E_HOST);
    CHECK(parse("redis://h/x", &c) == RURL_E_DB);
    CHECK(parse("redis://h/1000001", &c) == RURL_E_DB);
    CHECK(parse("redis://h?db=1", &c) == RURL_E_QUERY);
    CHECK(parse("redis://h#x", &c) == RURL_E_QUERY);
    CHECK(parse("redis://:%zz@h", &c) == RURL_E_USERINFO);
    CHECK(parse("redis://:%00@h", &c) == RURL_E_USERINFO);
    CHECK(parse("redis://:%4@h", &c) == RURL_E_USERINFO);
    /* bytes, not a C string: a NUL inside is refused, not a cut */
    CHECK(redis_url_parse("redis://h\0x", 11, &c) == RURL_E_HOST);
    CHECK(redis_url_parse("redis://hostname", 10, &c) == RURL_OK && strcmp(c.host, "ho") == 0);
    /* the error text never quotes the URL (it may hold the password) */
    CHECK(parse("redis://:topsecret@h:x", &c) == RURL_E_HOST &&
          !strstr(redis_url_strerror(RURL_E_HOST), "topsecret"));
    for (int e = RURL_E_DB; e <= RURL_OK; e++)
        CHECK(strcmp(redis_url_strerror(e), "unknown error") != 0);
    return T_DONE();
}
