/* deps: access.c ratelimit.c route.c log.c rand.c */
#include "io/guard.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "parse/access.h"
#include "io/bus.h"
#include "io/log.h"
#include "parse/ratelimit.h"
#include "parse/route.h"
#include "io/rand.h"
#include "io/server.h"

/* X-Forwarded-For header lines kept: every line the request parser may hold,
 * so the proxy's own line (the last) is always among them; the walk itself is
 * capped by ACCESS_XFF_HOPS_MAX entries from the right. */
#define GUARD_XFF_FIELDS HTTPQ_MAX_HEADERS
#define GUARD_RETRY_AFTER "Retry-After: 10\r\n"
/* Per-address table: entries per connection slot, so addresses that only
 * keep a budget (AI turns, failed credentials, sessions) fit beside the
 * connected ones; an address without connections or sessions is the one
 * evicted when its neighbourhood is full (it loses its budgets). */
#define GUARD_PEERS_PER_CONN 2
#define GUARD_PROBE 16             /* entries looked at per address: bounded work per lookup */
#define GUARD_AUTH_WINDOW_MS 60000 /* AUTH_FAILURES_PER_MINUTE's minute, from the first failure */
/* Shared counters (several instances): one Redis key per address, limit and
 * wall-clock minute (instances agree on it), kept two minutes so a late
 * instance still finds the current one. */
#define GUARD_SHARED_TTL_MS 120000
/* WebSockets per address across instances: each instance's share lives this
 * long unless refreshed; the whole table is walked for refreshes once per
 * GUARD_WS_REFRESH_MS (a slice per tick), and the others' total Redis last
 * returned is believed for GUARD_WS_TTL_MS. */
#define GUARD_WS_TTL_MS 60000
#define GUARD_WS_REFRESH_MS 20000
#define GUARD_TICK_MS 250 /* the server tick guard_tick runs on */

/* What the server keeps per client address (IPv6: per /64, the smallest
 * block one subscriber gets, so rotating addresses inside it gains nothing). */
struct guard_peer {
    struct access_addr key;
    bool used;
    uint32_t conns;    /* TCP connections counted at accept */
    uint32_t sessions; /* coach sessions (COACH_MAX_SESSIONS_PER_IP) */
    uint64_t seen_ms;
    struct rl_bucket turns; /* AI_TURNS_PER_MINUTE_PER_IP */
    uint64_t auth_since_ms; /* first failure of the current minute */
    uint32_t auth_fails;
    /* across instances (guard_set_bus): the counts Redis last returned for
     * shared_minute, this instance's own increments included */
    uint32_t gen; /* bumped when the entry is given to another address: late answers are dropped */
    uint64_t shared_minute;
    uint32_t shared[2]; /* enum guard_counter */
    uint32_t ws;        /* WebSockets of the address here, counted for the others (with a bus) */
    uint32_t ws_others; /* theirs, as Redis last said at ws_others_ms */
    uint64_t ws_others_ms;
};

enum guard_counter { GUARD_C_TURNS, GUARD_C_AUTH, GUARD_C_WS };

/* The bus to Redis (NULL: this instance counts alone) and the one server. */
static struct {
    const struct shared_bus *bus;
    struct server *srv;
    uint32_t refresh_cursor; /* guard_tick's place in the peer table */
} guard_g;

static uint64_t guard_seed; /* keys the hash: an attacker cannot aim addresses at one neighbourhood */

int guard_init(struct server *s)
{
    uint64_t want = (s->cfg.max_connections + SERVER_REFUSE_SLOTS) * GUARD_PEERS_PER_CONN;
    uint32_t n = 64;
    while (n < want && n < (1u << 30))
        n <<= 1;
    s->peers = calloc(n, sizeof *s->peers);
    s->npeers = n;
    if (rand_bytes(&guard_seed, sizeof guard_seed) != 0)
        guard_seed = (uint64_t)(uintptr_t)s->peers ^ 0x9e3779b97f4a7c15ull; /* still not the attacker's choice */
    return s->peers ? 0 : -1;
}

static void guard_key(const struct access_addr *a, struct access_addr *k)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    *k = *a;
    if (memcmp(a->b, mapped, sizeof mapped) != 0)
        memset(k->b + 8, 0, 8); /* IPv6: the /64 */
}

/* splitmix64's finalizer: every input bit reaches every output bit, so
 * addresses that differ only in their last octets spread over the table. */
static uint64_t guard_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t guard_hash(const struct access_addr *k)
{
    uint64_t h = guard_seed, w;
    for (int i = 0; i < 2; i++) {
        memcpy(&w, k->b + 8 * i, 8);
        h = guard_mix(h ^ w);
    }
    return (uint32_t)h;
}

/* The entry of a's address; created (or an idle neighbour evicted) when
 * create; NULL when absent, or when every neighbour is busy. */
static struct guard_peer *guard_find(struct server *s, const struct access_addr *a, bool create)
{
    struct access_addr k;
    guard_key(a, &k);
    uint32_t mask = s->npeers - 1, h = guard_hash(&k);
    uint64_t now = s->loop.now_ms;
    struct guard_peer *empty = NULL, *victim = NULL;
    for (uint32_t i = 0; i < GUARD_PROBE; i++) {
        struct guard_peer *p = &s->peers[(h + i) & mask];
        if (p->used && memcmp(&p->key, &k, sizeof k) == 0) {
            p->seen_ms = now;
            return p;
        }
        if (!p->used && !empty)
            empty = p;
        else if (p->used && !p->conns && !p->sessions && !p->ws && (!victim || p->seen_ms < victim->seen_ms))
            victim = p;
    }
    struct guard_peer *p = empty ? empty : victim;
    if (!create || !p)
        return NULL;
    *p = (struct guard_peer){.key = k, .used = true, .seen_ms = now, .gen = p->gen + 1};
    return p;
}

/* ---- counts shared between instances ---- */

void guard_set_bus(struct server *s, const struct shared_bus *bus)
{
    guard_g.srv = s;
    guard_g.bus = bus;
}

static uint64_t guard_minute(void) { return (uint64_t)time(NULL) / 60; }

/* The count of `which` for p's address this minute across instances (0
 * when unknown: Redis down or not asked yet). */
static uint32_t guard_shared(const struct guard_peer *p, enum guard_counter which)
{
    return p && p->shared_minute == guard_minute() ? p->shared[which] : 0;
}

/* The callback data of a Redis answer about entry p: its slot, its
 * generation and the counter, packed (no allocation per increment). */
static void *guard_ud(const struct server *s, const struct guard_peer *p, enum guard_counter which)
{
    uint64_t u = ((uint64_t)(p - s->peers) << 34) | ((uint64_t)which << 32) | p->gen;
    return (void *)(uintptr_t)u;
}

/* The entry an answer is about, or NULL when it went to another address since. */
static struct guard_peer *guard_unpack(void *ud, enum guard_counter *which)
{
    uint64_t u = (uint64_t)(uintptr_t)ud;
    uint32_t slot = (uint32_t)(u >> 34), gen = (uint32_t)u;
    *which = (enum guard_counter)((u >> 32) & 3);
    struct server *s = guard_g.srv;
    if (!s || slot >= s->npeers)
        return NULL;
    struct guard_peer *p = &s->peers[slot];
    return p->used && p->gen == gen ? p : NULL;
}

/* Redis's answer to an increment. */
static void guard_shared_counted(void *ud, int64_t value)
{
    enum guard_counter which;
    struct guard_peer *p = guard_unpack(ud, &which);
    if (value < 0 || !p || which > GUARD_C_AUTH)
        return;
    uint64_t minute = guard_minute();
    if (p->shared_minute != minute) {
        p->shared_minute = minute;
        p->shared[0] = p->shared[1] = 0;
    }
    if ((uint64_t)value > p->shared[which])
        p->shared[which] = value > UINT32_MAX ? UINT32_MAX : (uint32_t)value;
}

/* One more of `which` for p's address, counted in Redis; the total comes
 * back later (guard_shared_counted). Redis down: nothing, local counts rule. */
static void guard_shared_add(struct server *s, struct guard_peer *p, enum guard_counter which)
{
    const struct shared_bus *bus = guard_g.bus;
    if (!bus || !p || sizeof(uintptr_t) < 8 || !bus->up(bus->ctx))
        return;
    /* the address (IPv6: its /64) as 32 hex digits: fixed width, no ':' */
    char addr[2 * sizeof p->key.b + 1], key[128];
    for (size_t i = 0; i < sizeof p->key.b; i++)
        snprintf(addr + 2 * i, 3, "%02x", p->key.b[i]);
    snprintf(key, sizeof key, "limit:%s:%s:%llu", which == GUARD_C_TURNS ? "ai" : "auth", addr,
             (unsigned long long)guard_minute());
    (void)bus->incr(bus->ctx, key, 1, GUARD_SHARED_TTL_MS, guard_shared_counted, guard_ud(s, p, which));
}

/* The other instances' WebSockets from p's address, when recently heard. */
static uint32_t guard_ws_others(const struct server *s, const struct guard_peer *p)
{
    return p && p->ws_others_ms && s->loop.now_ms - p->ws_others_ms < GUARD_WS_TTL_MS ? p->ws_others : 0;
}

static void guard_ws_counted(void *ud, int64_t value)
{
    enum guard_counter which;
    struct guard_peer *p = guard_unpack(ud, &which);
    if (value < 0 || !p || which != GUARD_C_WS)
        return;
    p->ws_others = value > UINT32_MAX ? UINT32_MAX : (uint32_t)value;
    p->ws_others_ms = guard_g.srv->loop.now_ms ? guard_g.srv->loop.now_ms : 1;
}

/* This instance's WebSocket count for p's address, to Redis; the others'
 * total comes back. */
static void guard_ws_publish(struct server *s, struct guard_peer *p)
{
    const struct shared_bus *bus = guard_g.bus;
    if (!bus || sizeof(uintptr_t) < 8 || !bus->up(bus->ctx))
        return;
    char addr[2 * sizeof p->key.b + 1], key[96];
    for (size_t i = 0; i < sizeof p->key.b; i++)
        snprintf(addr + 2 * i, 3, "%02x", p->key.b[i]);
    snprintf(key, sizeof key, "limit:ws:%s", addr);
    (void)bus->gauge(bus->ctx, key, p->ws, GUARD_WS_TTL_MS, guard_ws_counted, guard_ud(s, p, GUARD_C_WS));
}

void guard_tick(void *ctx)
{
    struct server *s = ctx;
    if (!guard_g.bus || !s->npeers)
        return;
    /* a slice per tick: the whole table once per GUARD_WS_REFRESH_MS */
    uint32_t slice = s->npeers / (GUARD_WS_REFRESH_MS / GUARD_TICK_MS) + 1;
    for (uint32_t i = 0; i < slice; i++) {
        struct guard_peer *p = &s->peers[guard_g.refresh_cursor];
        guard_g.refresh_cursor = (guard_g.refresh_cursor + 1) % s->npeers;
        if (p->used && p->ws)
            guard_ws_publish(s, p);
    }
}

bool guard_accept(struct server *s, struct conn *c, const char **why)
{
    const struct server_config *cfg = &s->cfg;
    if (access_cidr_match(cfg->trusted, cfg->ntrusted, &c->guard.addr))
        return true; /* a proxy: its clients are told apart by X-Forwarded-For on upgrade */
    struct guard_peer *p = guard_find(s, &c->guard.addr, true);
    if (p && p->conns < cfg->max_connections_per_ip) {
        p->conns++;
        c->guard.peer = (uint32_t)(p - s->peers) + 1;
        return true;
    }
    log_event(LOG_WARN, c->id, "per_ip_limit", "peer=%s connections=%u max=%llu", c->peer, p ? p->conns : 0u,
              (unsigned long long)cfg->max_connections_per_ip);
    *why = p ? "too many connections from this address (MAX_CONNECTIONS_PER_IP)" : "too many client addresses";
    return false;
}

void guard_on_close(struct server *s, struct conn *c)
{
    if (c->guard.ws_peer) {
        struct guard_peer *p = &s->peers[c->guard.ws_peer - 1];
        if (p->ws)
            p->ws--;
        guard_ws_publish(s, p);
        c->guard.ws_peer = 0;
    }
    if (c->guard.peer) {
        struct guard_peer *p = &s->peers[c->guard.peer - 1];
        p->conns--;
        p->seen_ms = s->loop.now_ms;
        c->guard.peer = 0;
    }
}

uint32_t guard_session_take(struct server *s, struct conn *c, uint64_t max)
{
    struct guard_peer *p = guard_find(s, &c->guard.addr, true);
    if (!p || p->sessions >= max)
        return 0;
    p->sessions++;
    return (uint32_t)(p - s->peers) + 1;
}

void guard_session_give(struct server *s, uint32_t ticket)
{
    if (ticket && ticket <= s->npeers && s->peers[ticket - 1].sessions) {
        s->peers[ticket - 1].sessions--;
        s->peers[ticket - 1].seen_ms = s->loop.now_ms;
    }
}

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

/* How many credentials the request carries: Authorization bearer headers,
 * ?token= parameters and bearer.* subprotocol offers. Each would be one more
 * guess per request. */
static size_t guard_credentials(const struct httpq_request *req)
{
    size_t n = 0;
    struct slice cred, entry;
    for (size_t i = 0; i < req->num_headers; i++) {
        const struct httpq_header *h = &req->headers[i];
        if (GUARD_HEADER_IS(h, "Authorization") && access_bearer(h->value, &cred))
            n++;
        if (!GUARD_HEADER_IS(h, "Sec-WebSocket-Protocol"))
            continue;
        struct slice rest = h->value;
        while (access_subproto_bearer(rest, &entry, &cred)) {
            n++;
            const char *end = entry.p + entry.n;
            rest = (struct slice){end, (size_t)(rest.p + rest.n - end)};
        }
    }
    for (size_t i = 0; req->query.p && i < req->query.n;) {
        size_t j = i;
        while (j < req->query.n && req->query.p[j] != '&')
            j++;
        if (j - i >= 5 && memcmp(req->query.p + i, "token", 5) == 0 && (j - i == 5 || req->query.p[i + 5] == '='))
            n++;
        i = j + 1;
    }
    return n;
}

/* AUTH_FAILURES_PER_MINUTE: true while the address may still try. */
static bool guard_auth_budget(struct server *s, struct guard_peer *p, char *retry, size_t cap)
{
    uint64_t now = s->loop.now_ms, max = s->cfg.auth_failures_per_minute;
    if (p && max && guard_shared(p, GUARD_C_AUTH) >= max) { /* other instances saw them */
        snprintf(retry, cap, "Retry-After: %llu\r\n", (unsigned long long)(60 - (uint64_t)time(NULL) % 60));
        return false;
    }
    if (!p || !max || p->auth_fails < max)
        return true;
    if (now - p->auth_since_ms >= GUARD_AUTH_WINDOW_MS) {
        p->auth_fails = 0;
        return true;
    }
    uint64_t left = (p->auth_since_ms + GUARD_AUTH_WINDOW_MS - now + 999) / 1000;
    snprintf(retry, cap, "Retry-After: %llu\r\n", (unsigned long long)left);
    return false;
}

static int guard_auth(struct server *s, struct conn *c, const struct httpq_request *req, struct slice *offer,
                      const char **why, const char **extra)
{
    static char retry[48]; /* the loop thread's: used before the next request is read */
    bool seen;
    offer->n = 0;
    if (!s->cfg.auth_token[0])
        return 0;
    if (guard_credentials(req) > 1) {
        log_event(LOG_WARN, c->id, "auth_refused", "peer=%s more than one credential", c->peer);
        *why = "more than one credential: send exactly one of Authorization, ?token=, bearer.<token>";
        return 400;
    }
    struct guard_peer *p = guard_find(s, &c->guard.addr, true);
    if (!guard_auth_budget(s, p, retry, sizeof retry)) {
        log_event(LOG_WARN, c->id, "auth_throttled", "peer=%s failures=%u shared=%u max=%llu", c->peer,
                  p->auth_fails, guard_shared(p, GUARD_C_AUTH), (unsigned long long)s->cfg.auth_failures_per_minute);
        *why = "too many failed credentials from this address (AUTH_FAILURES_PER_MINUTE)";
        *extra = retry;
        return 429;
    }
    if (guard_token_ok(s, req, offer, &seen))
        return 0;
    if (p && seen && p->auth_fails++ == 0) /* a wrong credential is a guess; none is not */
        p->auth_since_ms = s->loop.now_ms;
    if (p && seen)
        guard_shared_add(s, p, GUARD_C_AUTH);
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
    struct access_addr k, ok;
    guard_key(a, &k);
    for (uint32_t i = 0; i < s->conns_used; i++) {
        const struct conn *o = &s->conns[i];
        if (!o->srv || !o->counted_ws)
            continue;
        guard_key(&o->guard.addr, &ok);
        n += memcmp(ok.b, k.b, 16) == 0;
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
    struct guard_peer *p = guard_g.bus ? guard_find(s, &c->guard.addr, true) : NULL;
    uint32_t others = guard_ws_others(s, p); /* on other instances */
    if (have + others >= s->cfg.max_websockets_per_ip) {
        log_event(LOG_WARN, c->id, "per_ip_limit", "peer=%s websockets=%u others=%u max=%llu", c->peer, have,
                  others, (unsigned long long)s->cfg.max_websockets_per_ip);
        if (others && have < s->cfg.max_websockets_per_ip)
            guard_ws_publish(s, p); /* refused for the others' count: have it fresh for the next try */
        *why = "too many WebSocket connections from this address";
        *extra = GUARD_RETRY_AFTER;
        return 429;
    }
    if (p) {
        p->ws++;
        c->guard.ws_peer = (uint32_t)(p - s->peers) + 1;
        guard_ws_publish(s, p);
    }
    return 0;
}

int guard_http(struct server *s, struct conn *c, const struct httpq_request *req, bool origin_listed,
               const char **why, const char **extra)
{
    struct slice unused;
    *extra = NULL;
    guard_resolve_client(s, c, req);
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
    uint64_t ip_rate = cfg->ai_turns_per_minute_per_ip;
    struct guard_peer *p = ip_rate ? guard_find(s, &c->guard.addr, true) : NULL;
    /* across instances: the minute's count Redis last returned */
    if ((p && guard_shared(p, GUARD_C_TURNS) >= ip_rate) ||
        (p && !rl_take(&p->turns, ip_rate, 60000, ip_rate, 1, s->loop.now_ms))) {
        snprintf(what, cap, "over %llu AI requests per minute from this address (AI_TURNS_PER_MINUTE_PER_IP)",
                 (unsigned long long)ip_rate);
        return false;
    }
    guard_shared_add(s, p, GUARD_C_TURNS);
    if (rl_take(&c->guard.turns, cfg->ai_turns_per_minute, 60000, cfg->ai_turns_per_minute, 1, s->loop.now_ms))
        return true;
    snprintf(what, cap, "over %llu AI requests per minute (AI_TURNS_PER_MINUTE)",
             (unsigned long long)cfg->ai_turns_per_minute);
    return false;
}

#undef GUARD_HEADER_IS
#undef GUARD_XFF_FIELDS
#undef GUARD_RETRY_AFTER
#undef GUARD_PEERS_PER_CONN
#undef GUARD_PROBE
#undef GUARD_AUTH_WINDOW_MS
#undef GUARD_SHARED_TTL_MS
#undef GUARD_WS_TTL_MS
#undef GUARD_WS_REFRESH_MS
#undef GUARD_TICK_MS
