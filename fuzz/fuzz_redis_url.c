// deps: src/parse/redis_url.c
/* libFuzzer harness for redis_url.c. Invariants:
 *   - every result is one of enum redis_url_error, each with its own text;
 *   - an accepted URL has a non-empty host without NUL, space, '@', '/', '%',
 *     '?' or '#', a port >= 1 and a database <= REDIS_URL_DB_MAX, and every
 *     string NUL-terminated inside its array;
 *   - written back (user and password %-encoded, an IPv6 host bracketed) it
 *     parses to the identical struct: nothing is read two ways. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/redis_url.h"

static size_t fz_pct(char *out, const char *s)
{
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            out[o++] = (char)c;
        else
            o += (size_t)sprintf(out + o, "%%%02X", c);
    }
    return o;
}

static void fz_check(const struct redis_url *u)
{
    if (memchr(u->host, 0, sizeof u->host) == NULL || memchr(u->user, 0, sizeof u->user) == NULL ||
        memchr(u->password, 0, sizeof u->password) == NULL)
        abort();
    size_t hl = strlen(u->host);
    if (hl == 0 || u->port == 0 || u->db > REDIS_URL_DB_MAX)
        abort();
    for (size_t i = 0; i < hl; i++)
        if ((unsigned char)u->host[i] <= ' ' || strchr("@/%?#", u->host[i]))
            abort();
    /* rebuilt: 3 bytes per encoded byte, the host, and room for the rest */
    static char buf[3 * (sizeof u->user + sizeof u->password) + sizeof u->host + 64];
    size_t o = (size_t)sprintf(buf, "%s://", u->tls ? "rediss" : "redis");
    if (u->user[0] || u->password[0]) {
        o += fz_pct(buf + o, u->user);
        buf[o++] = ':';
        o += fz_pct(buf + o, u->password);
        buf[o++] = '@';
    }
    bool bracket = u->host[0] == '[' || strchr(u->host, ':');
    o += (size_t)sprintf(buf + o, bracket ? "[%s]:%u/%u" : "%s:%u/%u", u->host, u->port, u->db);
    static struct redis_url again;
    if (redis_url_parse(buf, o, &again) != RURL_OK || memcmp(&again, u, sizeof again) != 0)
        abort();
}

/* The contract edge: a code that is not one of ours still has a message. */
static void fz_edges(void)
{
    if (strcmp(redis_url_strerror(12345), "unknown error") != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_edges();
    char *s = malloc(size ? size : 1); /* exact size: ASan sees any read past it */
    if (!s)
        return 0;
    memcpy(s, data, size);
    static struct redis_url u;
    int rc = redis_url_parse(s, size, &u);
    if (rc < RURL_E_DB || rc > RURL_OK)
        abort();
    if (strcmp(redis_url_strerror(rc), "unknown error") == 0)
        abort();
    if (rc == RURL_OK)
        fz_check(&u);
    free(s);
    return 0;
}
