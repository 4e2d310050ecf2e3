/* deps: access.c ratelimit.c route.c log.c */
#include "io/guard.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "parse/access.h"
#include "io/log.h"
#include "parse/ratelimit.h"
#include "parse/route.h"
#include "io/server.h"

/* X-Forwarded-For header lines kept: every line the request parser may hold,
 * so the proxy's own line (the last) is always among them; the walk itself is
 * capped by ACCESS_XFF_HOPS_MAX entries from the right. */
#define GUARD_XFF_FIELDS HTTPQ_MAX_HEADERS
#define GUARD_RETRY_AFTER "Retry-After: 10\r\n"

/* Is h the header named lit (a string literal; names are case-insensitive)? */
#define GUARD_HEADER_IS(h, lit) ((h)->name.n == sizeof(lit) - 1 && strncasecmp((h)->name.p, (lit), sizeof(lit) - 1) == 0)

void guard_on_accept(struct conn *c, const struct sockaddr_storage *ss)
{
    struct access_addr *a = &c->guard.addr;
    memset(a, 0, sizeof *a);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const void *)ss;
        a->b[10] = a->b[11] = 0xff;
        memcpy(a->b + 12, &v4->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const void *)ss;
        memcpy(a->b, &v6->sin6_addr, 16);
    }
}

/* Behind a trusted proxy, the client is the right-most untrusted
 * X-Forwarded-For address; it replaces the peer for logs and per-IP limits. */
static void guard_resolve_client(struct server *s, struct conn *c, const struct httpq_request *req)
{
    if (!s->cfg.ntrusted)
        return;
    struct slice xff[GUARD_XFF_FIELDS];
    size_t n = 0;
    for (size_t i = 0; i < req->num_headers && n < GUARD_XFF_FIELDS; i++) {
        const struct httpq_header *h = &req->headers[i];
        if (GUARD_HEADER_IS(h, "X-Forwarded-For"))
            xff[n++] = h->value;
    }
    struct access_addr client;
    if (access_client_addr(s->cfg.trusted, s->cfg.ntrusted, &c->guard.addr, xff, n, &client) == 0)
        return;
    char text[INET6_ADDRSTRLEN + 8];
    access_addr_format(&client, text, sizeof text);
    log_event(LOG_INFO, c->id, "forwarded_client", "peer=%s via=%s", text, c->peer);
    c->guard.addr = client;
    snprintf(c->peer, sizeof c->peer, "%s", text);
}

static bool guard_token_matches(const struct server *s, struct slice got)
{
    const char *want = s->cfg.auth_token;
    return access_token_eq(want, strlen(want), got.p, got.n);
}

/* Any credential that matches admits; *offer is a bearer subprotocol the
 * client offered (to echo). *seen says whether any credential came at all. */
static bool guard_token_ok(const struct server *s, const struct httpq_request *req, struct slice *offer,
                           bool *seen)
{
    bool ok = false;
    struct slice cred;
    *seen = false;
    offer->n = 0;
    const struct httpq_header *auth = httpq_header_get(req, "Authorization");
    if (auth && access_bearer(auth->value, &cred)) {
        *seen = true;
        ok |= guard_token_matches(s, cred);
    }
    char q[ACCESS_TOKEN_MAX + 2];
    ssize_t qn = req->query.p ? route_query_get(req->query.p, req->query.n, "token", q, sizeof q) : -1;
    if (qn != -1) {
        *seen = true;
        ok |= qn >= 0 && guard_token_matches(s, (struct slice){q, (size_t)qn});
    }
    for (size_t i = 0; i < req->num_headers; i++) {
        const struct httpq_header *h = &req->headers[i];
        struct slice entry;
        if (GUARD_HEADER_IS(h, "Sec-WebSocket-Protocol") &&
            access_subproto_bearer(h->value, &entry, &cred)) {
            *seen = true;
            if (guard_token_matches(s, cred)) {
                ok = true;
                *offer = entry;
            }
        }
    }
    return ok;
}

static int guard_auth(struct server *s, struct conn *c, const struct httpq_request *req, struct slice *offer,
                      const char **why, const char **extra)
{
    bool seen;
    offer->n = 0;
    if (!s->cfg.auth_token[0] || guard_token_ok(s, req, offer, &seen))
        return 0;
    /* The token itself never reaches a log line. */
    log_event(LOG_WARN, c->id, "auth_refused", "peer=%s %s", c->peer,
              seen ? "wrong token" : "no token");
    *why = seen ? "invalid token" : "authentication required";
    *extra = "WWW-Authenticate: Bearer realm=\"interview\"\r\n";
    return 401;
}

static uint32_t guard_ws_from(const struct server *s, const struct access_addr *a)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->conns_used; i++) {
        const struct conn *o = &s->conns[i];
        if (o->srv && o->counted_ws && memcmp(o->guard.addr.b, a->b, 16) == 0)
            n++;
    }
    return n;
}

/* DNS rebinding: a page on attacker.test whose name was re-pointed at us is
 * "same-origin" with itself, so Origin == Host proves nothing unless Host is
 * a name we answer to (ALLOWED_HOSTS, an IP literal or localhost). A listed
 * Origin is trusted as such. No Host at all is no browser. */
static bool guard_host_ok(struct server *s, struct conn *c, const struct httpq_request *req, bool origin_listed,
                          const char **why)
{
    const char *list = s->cfg.allowed_hosts;
    if (origin_listed || !req->host.p || access_host_allowed(req->host, (struct slice){list, strlen(list)}))
        return true;
    log_event(LOG_WARN, c->id, "host_refused", "peer=%s host=%.*s (not in ALLOWED_HOSTS)", c->peer,
              (int)(req->host.n > 200 ? 200 : req->host.n), req->host.p);
    *why = "host not allowed: add it to ALLOWED_HOSTS";
    return false;
}

int guard_upgrade(struct server *s, struct conn *c, const struct httpq_request *req, bool origin_listed,
                  struct slice *echo, const char **why, const char **extra)
{
    *extra = NULL;
    echo->n = 0;
    guard_resolve_client(s, c, req);
    if (!guard_host_ok(s, c, req, origin_listed, why))
        return 403;
    if (req->origin.p && !origin_listed && !(req->host.p && access_same_origin(req->origin, req->host))) {
        /* A browser page from another site: cross-site WebSocket hijacking. */
        log_event(LOG_WARN, c->id, "origin_refused", "peer=%s origin=%.*s", c->peer,
                  (int)(req->origin.n > 200 ? 200 : req->origin.n), req->origin.p);
        *why = "origin not allowed";
        return 403;
    }
    int st = guard_auth(s, c, req, echo, why, extra);
    if (st)
        return st;
    uint32_t have = guard_ws_from(s, &c->guard.addr);
    if (have >= s->cfg.max_websockets_per_ip) {
        log_event(LOG_WARN, c->id, "per_ip_limit", "peer=%s websockets=%u max=%llu", c->peer, have,
                  (unsigned long long)s->cfg.max_websockets_per_ip);
        *why = "too many WebSocket connections from this address";
        *extra = GUARD_RETRY_AFTER;
        return 429;
    }
    return 0;
}

int guard_http(struct server *s, struct conn *c, const struct httpq_request *req, bool origin_listed,
               const char **why, const char **extra)
{
    struct slice unused;
    *extra = NULL;
    if (!guard_host_ok(s, c, req, origin_listed, why))
        return 403;
    return guard_auth(s, c, req, &unused, why, extra);
}

bool guard_strike(struct server *s, struct conn *c, const char *what)
{
    if (!rl_take(&c->guard.strikes, 1, 1000, s->cfg.rate_limit_strikes, 1, s->loop.now_ms)) {
        log_event(LOG_WARN, c->id, "rate_limit_close", "peer=%s %s, refused repeatedly", c->peer, what);
        return false;
    }
    log_event(LOG_INFO, c->id, "rate_limited", "peer=%s %s", c->peer, what);
    return true;
}

bool guard_message(struct server *s, struct conn *c, size_t n, char *what, size_t cap)
{
    const struct server_config *cfg = &s->cfg;
    uint64_t now = s->loop.now_ms;
    if (!rl_take(&c->guard.msgs, cfg->ws_messages_per_sec, 1000, cfg->ws_messages_burst, 1, now)) {
        snprintf(what, cap, "over %llu messages per second (WS_MESSAGES_PER_SEC)",
                 (unsigned long long)cfg->ws_messages_per_sec);
        return false;
    }
    if (!rl_take(&c->guard.bytes, cfg->ws_bytes_per_sec, 1000, cfg->ws_bytes_burst, n, now)) {
        snprintf(what, cap, "over %llu bytes per second (WS_BYTES_PER_SEC)",
                 (unsigned long long)cfg->ws_bytes_per_sec);
        return false;
    }
    return true;
}

bool guard_ai_turn(struct server *s, struct conn *c, char *what, size_t cap)
{
    const struct server_config *cfg = &s->cfg;
    if (rl_take(&c->guard.turns, cfg->ai_turns_per_minute, 60000, cfg->ai_turns_per_minute, 1, s->loop.now_ms))
        return true;
    snprintf(what, cap, "over %llu AI requests per minute (AI_TURNS_PER_MINUTE)",
             (unsigned long long)cfg->ai_turns_per_minute);
    return false;
}

#undef GUARD_HEADER_IS
#undef GUARD_XFF_FIELDS
#undef GUARD_RETRY_AFTER
