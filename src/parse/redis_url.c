/* REDIS_URL parsing; see redis_url.h. */
#include "parse/redis_url.h"

#include <string.h>

/* %-decode s[0..n) into out (cap incl. NUL); false when malformed, holding a
 * NUL, or too long. */
static bool rurl_pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3)
                return false;
            int hi = hex_value((unsigned char)s[i + 1]), lo = hex_value((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/* host[:port] or [v6][:port] in s[0..n). */
static bool rurl_hostport(const char *s, size_t n, struct redis_url *u)
{
    const char *h = s, *colon;
    size_t hl;
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb)
            return false;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1 < s + n ? rb + 1 : NULL;
        if (colon && *colon != ':')
            return false;
    } else {
        colon = memchr(s, ':', n);
        hl = colon ? (size_t)(colon - s) : n;
    }
    if (hl == 0 || hl >= sizeof u->host)
        return false;
    for (size_t i = 0; i < hl; i++)
        if ((unsigned char)h[i] <= ' ' || h[i] == '@' || h[i] == '/' || h[i] == '%' || h[i] == 0x7f)
            return false;
    memcpy(u->host, h, hl);
    u->host[hl] = '\0';
    u->port = REDIS_URL_DEFAULT_PORT;
    if (colon) {
        uint64_t port;
        if (!dec_value(colon + 1, (size_t)(s + n - colon - 1), 65535, &port) || port == 0)
            return false;
        u->port = (uint16_t)port;
    }
    return true;
}

/* [[user]:password@] in s[0..n): the last '@' ends it. Returns the bytes
 * taken (0 when there is no '@'), or -1. */
static ssize_t rurl_userinfo(const char *s, size_t n, struct redis_url *u)
{
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '@')
            at = s + i;
    if (!at)
        return 0;
    size_t un = (size_t)(at - s);
    const char *colon = memchr(s, ':', un);
    bool ok = colon ? rurl_pct_decode(s, (size_t)(colon - s), u->user, sizeof u->user) &&
                          rurl_pct_decode(colon + 1, (size_t)(at - colon - 1), u->password, sizeof u->password)
                    : rurl_pct_decode(s, un, u->password, sizeof u->password);
    return ok ? (ssize_t)(un + 1) : -1;
}

int redis_url_parse(const char *s, size_t n, struct redis_url *u)
{
    memset(u, 0, sizeof *u);
    size_t skip;
    if (n >= 8 && memcmp(s, "redis://", 8) == 0) {
        skip = 8;
    } else if (n >= 9 && memcmp(s, "rediss://", 9) == 0) {
        u->tls = true;
        skip = 9;
    } else {
        return RURL_E_SCHEME;
    }
    s += skip;
    n -= skip;
    size_t auth = 0; /* the authority: up to the first '/', '?' or '#' */
    while (auth < n && s[auth] != '/' && s[auth] != '?' && s[auth] != '#')
        auth++;
    if (auth < n && s[auth] != '/')
        return RURL_E_QUERY;
    ssize_t ui = rurl_userinfo(s, auth, u);
    if (ui < 0)
        return RURL_E_USERINFO;
    if (!rurl_hostport(s + ui, auth - (size_t)ui, u))
        return RURL_E_HOST;
    if (n - auth > 1) { /* "/db"; a lone "/" is database 0 */
        uint64_t db;
        if (!dec_value(s + auth + 1, n - auth - 1, REDIS_URL_DB_MAX, &db))
            return RURL_E_DB;
        u->db = (uint32_t)db;
    }
    return RURL_OK;
}

const char *redis_url_strerror(int err)
{
    switch (err) {
    case RURL_OK: return "ok";
    case RURL_E_SCHEME: return "must start with redis:// or rediss://";
    case RURL_E_QUERY: return "query strings and fragments are not supported";
    case RURL_E_USERINFO: return "malformed or overlong user or password (not shown)";
    case RURL_E_HOST: return "malformed host or port";
    case RURL_E_DB: return "the database after '/' must be a number";
    default: return "unknown error";
    }
}
