/* REDIS_URL: redis://[[user]:password@]host[:port][/db], or rediss:// for
 * TLS. Pure: no I/O, no allocation, results in a caller-owned struct.
 *
 * user and password may be %-encoded ("p%40ss" is "p@ss"); "redis://pw@host"
 * (no colon) is read as a password, as redis-cli and most clients do. The
 * last '@' ends the userinfo, so an unencoded '@' in a password still works.
 * Refused: query strings and fragments (no options are read from the URL),
 * a NUL anywhere (decoded or not), ports 0 or over 65535, a database that is
 * not a number up to 1,000,000. Nothing from the URL is ever quoted in an
 * error: it may hold the password. */
#ifndef REDIS_URL_H
#define REDIS_URL_H
#include "parse/base.h"

#define REDIS_URL_DEFAULT_PORT 6379
#define REDIS_URL_DB_MAX 1000000u /* far above any server's "databases" */

enum redis_url_error {
    RURL_OK = 0,
    RURL_E_SCHEME = -1,   /* not redis:// or rediss:// */
    RURL_E_QUERY = -2,    /* '?' or '#' after the authority */
    RURL_E_USERINFO = -3, /* bad %XX, a NUL, or user/password too long */
    RURL_E_HOST = -4,     /* empty, too long, a forbidden byte, bad [v6] or port */
    RURL_E_DB = -5,       /* the part after '/' is not a number in range */
};

struct redis_url {
    bool tls;           /* rediss:// */
    char host[256];     /* name or IP literal, IPv6 without brackets */
    uint16_t port;      /* REDIS_URL_DEFAULT_PORT unless given */
    char user[128];     /* "" = AUTH with the password only (the default user) */
    char password[512]; /* "" = no AUTH */
    uint32_t db;        /* SELECT when not 0 */
};

/* Parse s[0..n) (no NUL needed). *u is written in every case, meaningful only
 * on RURL_OK. */
int redis_url_parse(const char *s, size_t n, struct redis_url *u);
/* A fixed text for each result; never any part of the URL. */
const char *redis_url_strerror(int err);
#endif
