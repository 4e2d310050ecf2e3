/* The Redis client: see redis.h. Two connections share one state machine
 * (struct redis_conn): the command connection (pipelined, FIFO of pending
 * callbacks) and the pub/sub connection (SUBSCRIBE, then messages). */
#include "upstream/redis.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "io/clock.h"
#include "io/log.h"
#include "io/rand.h"
#include "upstream/resolver.h"
#include "upstream/tls.h"

/* The largest reply read: session blobs (history of one interview, tens of
 * KiB) are the biggest values stored; a reply past this drops the connection
 * (a RESP stream cannot skip it). */
#define REDIS_RBUF_CAP (1024u * 1024u)
/* Commands not yet written: the same bound for the values written. */
#define REDIS_WBUF_CAP (1024u * 1024u)
/* The pub/sub connection carries chat broadcasts (seed 004 caps what it
 * publishes at half of this) and session events. */
#define REDIS_SUB_BUF_CAP (1024u * 1024u)
/* Value slots of one parsed reply (SCAN pages, MGET of a few hundred keys). */
#define REDIS_VALUES_MAX 1024
/* Reconnect backoff: quick first retry (a restart), capped so a returning
 * Redis is found within seconds. */
#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 5000
/* Connect + TLS + AUTH/SELECT/PING must finish within this (a SIGSTOP'd
 * server accepts TCP and then says nothing). */
#define REDIS_CONNECT_TIMEOUT_MS 2000
/* The pub/sub connection is silent when no one chats: a PING this often
 * finds a dead one (its answer is due within the command timeout). */
#define REDIS_SUB_PING_MS 5000
/* Resolved addresses are reused this long (a Redis address rarely moves). */
#define REDIS_DNS_CACHE_MS 60000

enum redis_conn_state {
    RS_WAIT,       /* down, reconnect at retry_at */
    RS_RESOLVING,
    RS_CONNECTING,
    RS_TLS,        /* TLS handshake */
    RS_HELLO,      /* AUTH / SELECT / PING sent, their replies awaited */
    RS_READY,
};

struct redis_conn {
    struct redis *r;
    bool is_sub;
    enum redis_conn_state st;
    struct tls_conn t;
    struct resolver_query q;
    char *rbuf, *wbuf;
    size_t rlen, wlen, woff, cap;
    uint32_t hello_left;  /* handshake replies still due */
    uint64_t deadline;    /* connect/handshake or sub PING deadline, 0 none */
    uint64_t retry_at;    /* RS_WAIT: when to connect again */
    uint64_t backoff_ms;
    uint64_t next_ping;   /* sub: when to PING next */
    uint64_t down_since;  /* 0: up (or never up yet and not logged) */
    bool logged_down;
    bool ever_up;
};

struct redis_pending {
    redis_reply_fn cb;
    void *ud;
    uint64_t deadline;
};

struct redis_sub {
    char channel[REDIS_CHANNEL_MAX];
    size_t len;
    redis_message_fn fn;
    void *ud;
};

struct redis {
    struct loop *loop;
    struct redis_config cfg;
    struct resolver *res;
    struct tls_client *tls;
    struct redis_conn cmd, sub;
    struct redis_pending *pend; /* ring of REDIS_QUEUE_MAX */
    uint32_t head, count;
    struct redis_sub subs[REDIS_SUBS_MAX];
    uint32_t nsubs;
    struct { redis_state_fn fn; void *ud; } listeners[REDIS_LISTENERS_MAX];
    uint32_t nlisteners;
    struct resp_value vals[REDIS_VALUES_MAX];
    int tfd, tslot;
    uint64_t armed_at; /* the timerfd's expiry, 0 = disarmed */
    struct redis_stats st;
};

/* Deadlines are read from the clock, not the loop's once-per-pass now_ms: a
 * command queued late in a long pass would otherwise time out early. */
static uint64_t redis_now(const struct redis *r)
{
    (void)r;
    return clock_mono_ms();
}

/* ---- timers ------------------------------------------------------------------------ */

static uint64_t redis_min_nz(uint64_t a, uint64_t b) { return !a ? b : !b ? a : a < b ? a : b; }

static uint64_t redis_conn_due(const struct redis_conn *c)
{
    if (c->st == RS_WAIT)
        return c->retry_at;
    uint64_t t = c->deadline;
    if (c->is_sub && c->st == RS_READY)
        t = redis_min_nz(t, c->next_ping);
    return t;
}

/* Arm the timerfd for the earliest due time, unless it fires earlier already
 * (a spurious wake-up costs less than a syscall per command). */
static void redis_rearm(struct redis *r)
{
    uint64_t due = redis_min_nz(redis_conn_due(&r->cmd), redis_conn_due(&r->sub));
    if (r->count)
        due = redis_min_nz(due, r->pend[r->head].deadline);
    if (!due || (r->armed_at && r->armed_at <= due))
        return;
    uint64_t now = clock_mono_ms();
    uint64_t in = due > now ? due - now : 1;
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(in / 1000), .tv_nsec = (long)(in % 1000) * 1000000L}};
    if (timerfd_settime(r->tfd, 0, &its, NULL) == 0)
        r->armed_at = due;
}

/* ---- connection life ------------------------------------------------------------------ */

static void redis_io(void *ctx, short revents);
static void redis_conn_start(struct redis_conn *c);

static const char *redis_conn_name(const struct redis_conn *c) { return c->is_sub ? "pubsub" : "commands"; }

static void redis_notify(struct redis *r, bool up)
{
    for (uint32_t i = 0; i < r->nlisteners; i++)
        r->listeners[i].fn(r->listeners[i].ud, up);
}

/* Fail every pending command with status (the callbacks may queue nothing:
 * the connection is not ready). */
static void redis_fail_pending(struct redis *r, int status)
{
    while (r->count) {
        struct redis_pending p = r->pend[r->head];
        r->head = (r->head + 1) % REDIS_QUEUE_MAX;
        r->count--;
        if (status == REDIS_TIMEOUT)
            r->st.failed_timeout++;
        else
            r->st.failed_down++;
        if (p.cb)
            p.cb(p.ud, status, NULL);
    }
}

/* The connection is unusable: close it, fail what waits on it, log the
 * outage once, and schedule the reconnect with backoff and jitter. */
static void redis_conn_fail(struct redis_conn *c, int status, const char *why)
{
    struct redis *r = c->r;
    bool was_ready = c->st == RS_READY;
    resolver_cancel(r->res, &c->q);
    tls_conn_close(&c->t);
    c->st = RS_WAIT;
    c->rlen = c->wlen = c->woff = 0;
    c->hello_left = 0;
    c->deadline = 0;
    uint64_t now = redis_now(r);
    if (!c->logged_down) {
        c->logged_down = true;
        c->down_since = now;
        log_event(LOG_WARN, 0, "redis_down", "conn=%s host=%s port=%u reason=\"%s\"", redis_conn_name(c),
                  r->cfg.url.host, r->cfg.url.port, why);
    }
    uint32_t jit = 0;
    (void)rand_bytes(&jit, sizeof jit);
    /* +-25 %: instances restarted together do not reconnect in step */
    uint64_t wait = c->backoff_ms * 3 / 4 + (uint64_t)jit % (c->backoff_ms / 2 + 1);
    c->retry_at = now + wait;
    c->backoff_ms = c->backoff_ms * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS : c->backoff_ms * 2;
    if (!c->is_sub) {
        if (was_ready) {
            r->st.outages++;
            redis_notify(r, false);
        }
        redis_fail_pending(r, status);
    }
    redis_rearm(r);
}

static void redis_conn_ready(struct redis_conn *c)
{
    struct redis *r = c->r;
    c->st = RS_READY;
    c->deadline = 0;
    c->backoff_ms = REDIS_BACKOFF_MIN_MS;
    if (c->logged_down || !c->ever_up) { /* the first connect, and the end of each outage */
        log_event(LOG_INFO, 0, "redis_up", "conn=%s host=%s port=%u down_ms=%llu", redis_conn_name(c),
                  r->cfg.url.host, r->cfg.url.port,
                  c->logged_down ? (unsigned long long)(redis_now(r) - c->down_since) : 0ull);
        c->logged_down = false;
        c->ever_up = true;
    }
    if (c->is_sub)
        c->next_ping = redis_now(r) + REDIS_SUB_PING_MS;
    else
        redis_notify(r, true);
    redis_rearm(r);
}

/* Append one encoded command to the write buffer; false when it does not fit. */
static bool redis_conn_append(struct redis_conn *c, int argc, const char *const *argv, const size_t *lens)
{
    size_t need = resp_command_len(argc, argv, lens);
    if (need == 0 || need > c->cap - (c->wlen - c->woff))
        return false;
    if (c->cap - c->wlen < need) {
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
    }
    c->wlen += resp_encode_command(c->wbuf + c->wlen, c->cap - c->wlen, argc, argv, lens);
    if (c->st >= RS_HELLO)
        tls_conn_events(&c->t, POLLIN | POLLOUT);
    return true;
}

static bool redis_conn_append_sub(struct redis_conn *c, const struct redis_sub *s)
{
    const char *argv[2] = {"SUBSCRIBE", s->channel};
    size_t lens[2] = {9, s->len};
    return redis_conn_append(c, 2, argv, lens);
}

/* Connected (and TLS done): queue AUTH, SELECT, PING (and SUBSCRIBEs). */
static void redis_conn_hello(struct redis_conn *c)
{
    struct redis *r = c->r;
    c->st = RS_HELLO;
    c->rlen = c->wlen = c->woff = 0;
    c->hello_left = 0;
    if (r->cfg.url.password[0]) {
        const char *a3[3] = {"AUTH", r->cfg.url.user, r->cfg.url.password};
        const char *a2[2] = {"AUTH", r->cfg.url.password};
        (void)(r->cfg.url.user[0] ? redis_conn_append(c, 3, a3, NULL) : redis_conn_append(c, 2, a2, NULL));
        c->hello_left++;
    }
    if (!c->is_sub && r->cfg.url.db) {
        char db[16];
        snprintf(db, sizeof db, "%u", r->cfg.url.db);
        const char *a[2] = {"SELECT", db};
        (void)redis_conn_append(c, 2, a, NULL);
        c->hello_left++;
    }
    const char *ping[1] = {"PING"};
    (void)redis_conn_append(c, 1, ping, NULL);
    c->hello_left++;
    for (uint32_t i = 0; c->is_sub && i < r->nsubs; i++)
        (void)redis_conn_append_sub(c, &r->subs[i]); /* fits: REDIS_SUBS_MAX * 300 < cap */
    tls_conn_events(&c->t, POLLIN | POLLOUT);
}

static void redis_connect_result(struct redis_conn *c, enum tls_connect res)
{
    char d[160];
    switch (res) {
    case TLS_CONNECTING:
        c->st = RS_CONNECTING;
        return;
    case TLS_CONNECTED:
        if (c->r->cfg.url.tls) {
            if (tls_start(&c->t, c->r->tls, c->r->cfg.url.host) != 0) {
                tls_error_text(&c->t, d, sizeof d);
                redis_conn_fail(c, REDIS_DOWN, d);
                return;
            }
            c->st = RS_TLS;
            redis_io(c, 0);
            return;
        }
        redis_conn_hello(c);
        return;
    case TLS_LOOP_FULL:
        redis_conn_fail(c, REDIS_DOWN, "event loop full");
        return;
    default:
        tls_error_text(&c->t, d, sizeof d);
        redis_conn_fail(c, REDIS_DOWN, d);
        return;
    }
}

static void redis_on_resolved(void *ctx, struct resolver_query *q)
{
    struct redis_conn *c = ctx;
    if (c->st != RS_RESOLVING)
        return;
    if (q->err) {
        redis_conn_fail(c, REDIS_DOWN, gai_strerror(q->err));
        return;
    }
    c->r->st.connects++;
    redis_connect_result(c, tls_connect_start(&c->t, q->addrs, q->naddrs, c->r->cfg.url.port, NULL, NULL, NULL));
}

static void redis_conn_start(struct redis_conn *c)
{
    c->st = RS_RESOLVING;
    c->deadline = redis_now(c->r) + REDIS_CONNECT_TIMEOUT_MS;
    if (resolver_lookup(c->r->res, &c->q, c->r->cfg.url.host, redis_on_resolved, c) != 0)
        redis_conn_fail(c, REDIS_DOWN, "host name too long");
    redis_rearm(c->r);
}

/* ---- replies ------------------------------------------------------------------------ */

/* A reply during the handshake: an error refuses the connection. */
static bool redis_hello_reply(struct redis_conn *c, const struct resp_value *v)
{
    if (v->type == RESP_ERR) {
        char d[160];
        /* Redis's own text ("WRONGPASS invalid username-password pair"): no secret */
        snprintf(d, sizeof d, "handshake refused: %.*s", (int)(v->len > 120 ? 120 : v->len), v->str);
        redis_conn_fail(c, REDIS_DOWN, d);
        return false;
    }
    if (--c->hello_left == 0)
        redis_conn_ready(c);
    return true;
}

static void redis_sub_reply(struct redis_conn *c, const struct resp_value *v)
{
    struct redis *r = c->r;
    const struct resp_value *kind = resp_child(v, 0);
    if (resp_is(kind, "message", 7) && v->count == 3) {
        const struct resp_value *ch = resp_child(v, 1), *msg = resp_child(v, 2);
        for (uint32_t i = 0; i < r->nsubs; i++)
            if (resp_is(ch, r->subs[i].channel, r->subs[i].len) && msg->type == RESP_BULK) {
                r->st.messages++;
                r->subs[i].fn(r->subs[i].ud, ch->str, ch->len, msg->str, msg->len);
            }
        return;
    }
    /* PING answers ["pong", ""] once subscribed, +PONG before any SUBSCRIBE */
    if (resp_is(kind, "pong", 4) || resp_is(v, "PONG", 4))
        c->deadline = 0;
    /* "subscribe" confirmations need nothing */
}

/* One complete reply. false when the connection was dropped. */
static bool redis_dispatch(struct redis_conn *c, const struct resp_value *v)
{
    struct redis *r = c->r;
    if (c->st == RS_HELLO && c->hello_left)
        return redis_hello_reply(c, v);
    if (c->is_sub) {
        redis_sub_reply(c, v);
        return true;
    }
    if (v->type == RESP_PUSH)
        return true; /* out-of-band (RESP3 only): not ours */
    if (!r->count) {
        redis_conn_fail(c, REDIS_DOWN, "reply with no command waiting");
        return false;
    }
    struct redis_pending p = r->pend[r->head];
    r->head = (r->head + 1) % REDIS_QUEUE_MAX;
    r->count--;
    r->st.replies++;
    if (p.cb)
        p.cb(p.ud, REDIS_OK, v);
    return c->st == RS_READY;
}

/* Parse and dispatch every complete reply in rbuf. false when dropped. */
static bool redis_parse_replies(struct redis_conn *c)
{
    size_t off = 0;
    while (off < c->rlen) {
        ssize_t n = resp_parse(c->rbuf + off, c->rlen - off, c->r->vals, REDIS_VALUES_MAX, NULL);
        if (n == RESP_INCOMPLETE)
            break;
        if (n < 0) {
            redis_conn_fail(c, REDIS_DOWN, n == RESP_TOO_MANY ? "reply with too many elements" : "malformed reply");
            return false;
        }
        off += (size_t)n;
        if (!redis_dispatch(c, c->r->vals))
            return false;
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
    if (c->rlen == c->cap) {
        redis_conn_fail(c, REDIS_DOWN, "reply larger than the read buffer");
        return false;
    }
    return true;
}

static bool redis_tls_wait(struct redis_conn *c, ssize_t ret, short also)
{
    if (ret != TLS_WANT_READ && ret != TLS_WANT_WRITE)
        return false;
    tls_conn_events(&c->t, (short)((ret == TLS_WANT_READ ? POLLIN : POLLOUT) | also));
    return true;
}

static bool redis_conn_read(struct redis_conn *c)
{
    for (;;) {
        ssize_t n = tls_read(&c->t, c->rbuf + c->rlen, c->cap - c->rlen);
        if (n > 0) {
            c->rlen += (size_t)n;
            if (!redis_parse_replies(c))
                return false;
            continue;
        }
        if (n == TLS_WANT_READ)
            return true;
        if (n == TLS_WANT_WRITE) {
            tls_conn_events(&c->t, POLLIN | POLLOUT);
            return true;
        }
        char d[160] = "closed by the server";
        if (n < 0)
            tls_error_text(&c->t, d, sizeof d);
        redis_conn_fail(c, REDIS_DOWN, d);
        return false;
    }
}

static bool redis_conn_write(struct redis_conn *c)
{
    while (c->woff < c->wlen) {
        struct iovec iov = {.iov_base = c->wbuf + c->woff, .iov_len = c->wlen - c->woff};
        ssize_t w = tls_writev(&c->t, &iov, 1);
        if (redis_tls_wait(c, w, POLLIN))
            return true;
        if (w < 0) {
            char d[160];
            tls_error_text(&c->t, d, sizeof d);
            redis_conn_fail(c, REDIS_DOWN, d);
            return false;
        }
        c->woff += (size_t)w;
    }
    c->woff = c->wlen = 0;
    tls_conn_events(&c->t, POLLIN);
    return true;
}

static void redis_io(void *ctx, short revents)
{
    struct redis_conn *c = ctx;
    switch (c->st) {
    case RS_CONNECTING: {
        enum tls_connect res = tls_connect_event(&c->t, revents);
        if (res != TLS_CONNECTING)
            redis_connect_result(c, res);
        return;
    }
    case RS_TLS: {
        int ret = tls_handshake(&c->t);
        if (redis_tls_wait(c, ret, 0))
            return;
        if (ret != 0) {
            char d[160];
            tls_error_text(&c->t, d, sizeof d);
            redis_conn_fail(c, REDIS_DOWN, d);
            return;
        }
        redis_conn_hello(c);
        return;
    }
    case RS_HELLO:
    case RS_READY:
        if (c->woff < c->wlen && !redis_conn_write(c))
            return;
        (void)redis_conn_read(c);
        return;
    default:
        tls_conn_events(&c->t, 0);
        return;
    }
}

/* ---- the timer ------------------------------------------------------------------------ */

static void redis_conn_timers(struct redis_conn *c, uint64_t now)
{
    struct redis *r = c->r;
    if (c->st == RS_WAIT) {
        if (c->retry_at && c->retry_at <= now)
            redis_conn_start(c);
        return;
    }
    if (c->deadline && c->deadline <= now) {
        redis_conn_fail(c, REDIS_TIMEOUT, c->st == RS_READY ? "no PING answer" : "connect timeout");
        return;
    }
    if (c->is_sub && c->st == RS_READY && c->next_ping <= now) {
        const char *ping[1] = {"PING"};
        if (redis_conn_append(c, 1, ping, NULL) && !c->deadline)
            c->deadline = now + r->cfg.timeout_ms;
        c->next_ping = now + REDIS_SUB_PING_MS;
    }
}

static void redis_timer(void *ctx, short revents)
{
    struct redis *r = ctx;
    (void)revents;
    uint64_t exp;
    if (read(r->tfd, &exp, sizeof exp) < 0 && errno != EAGAIN)
        return;
    r->armed_at = 0;
    uint64_t now = clock_mono_ms();
    if (r->count && r->pend[r->head].deadline <= now)
        redis_conn_fail(&r->cmd, REDIS_TIMEOUT, "command timeout");
    redis_conn_timers(&r->cmd, now);
    redis_conn_timers(&r->sub, now);
    redis_rearm(r);
}

/* ---- public API ------------------------------------------------------------------------ */

static bool redis_conn_init(struct redis *r, struct redis_conn *c, bool is_sub)
{
    c->r = r;
    c->is_sub = is_sub;
    c->cap = is_sub ? REDIS_SUB_BUF_CAP : (REDIS_RBUF_CAP > REDIS_WBUF_CAP ? REDIS_RBUF_CAP : REDIS_WBUF_CAP);
    c->rbuf = malloc(c->cap);
    c->wbuf = malloc(c->cap);
    c->backoff_ms = REDIS_BACKOFF_MIN_MS;
    c->st = RS_WAIT;
    tls_conn_init(&c->t, r->loop, redis_io, c);
    return c->rbuf && c->wbuf;
}

struct redis *redis_new(struct loop *loop, const struct redis_config *cfg, char *err, size_t errlen)
{
    struct redis *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "redis: out of memory");
        return NULL;
    }
    r->loop = loop;
    r->cfg = *cfg;
    if (!r->cfg.timeout_ms)
        r->cfg.timeout_ms = 200;
    r->tfd = -1;
    r->tslot = -1;
    r->pend = calloc(REDIS_QUEUE_MAX, sizeof *r->pend);
    bool ok = r->pend && redis_conn_init(r, &r->cmd, false) && redis_conn_init(r, &r->sub, true);
    if (!ok) {
        snprintf(err, errlen, "redis: out of memory");
        redis_destroy(r);
        return NULL;
    }
    char m[200] = "";
    if (cfg->url.tls && (tls_ca_load(m, sizeof m) != 0 || !(r->tls = tls_client_create(NULL, false, m, sizeof m)))) {
        snprintf(err, errlen, "redis: TLS setup: %s", m);
        redis_destroy(r);
        return NULL;
    }
    r->res = resolver_create(loop, REDIS_DNS_CACHE_MS, m, sizeof m);
    r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (!r->res || r->tfd < 0 || loop_add(loop, r->tfd, POLLIN, redis_timer, r, &r->tslot) != 0) {
        snprintf(err, errlen, "redis: setup: %s", r->res ? "timer" : m);
        redis_destroy(r);
        return NULL;
    }
    redis_conn_start(&r->cmd);
    redis_conn_start(&r->sub);
    return r;
}

int redis_command(struct redis *r, int argc, const char *const *argv, const size_t *lens, redis_reply_fn cb,
                  void *ud)
{
    if (r->cmd.st != RS_READY || argc < 1 || argc > REDIS_ARGS_MAX || r->count >= REDIS_QUEUE_MAX ||
        !redis_conn_append(&r->cmd, argc, argv, lens)) {
        r->st.refused++;
        return -1;
    }
    uint32_t tail = (r->head + r->count) % REDIS_QUEUE_MAX;
    r->pend[tail] = (struct redis_pending){cb, ud, redis_now(r) + r->cfg.timeout_ms};
    r->count++;
    r->st.commands++;
    if (r->count == 1)
        redis_rearm(r);
    return 0;
}

void redis_forget(struct redis *r, void *ud)
{
    for (uint32_t i = 0; i < r->count; i++) {
        struct redis_pending *p = &r->pend[(r->head + i) % REDIS_QUEUE_MAX];
        if (p->ud == ud)
            p->cb = NULL;
    }
}

int redis_subscribe(struct redis *r, const char *channel, redis_message_fn fn, void *ud)
{
    size_t n = strlen(channel);
    if (r->nsubs >= REDIS_SUBS_MAX || n == 0 || n >= REDIS_CHANNEL_MAX)
        return -1;
    struct redis_sub *s = &r->subs[r->nsubs++];
    memcpy(s->channel, channel, n + 1);
    s->len = n;
    s->fn = fn;
    s->ud = ud;
    if (r->sub.st == RS_HELLO || r->sub.st == RS_READY)
        (void)redis_conn_append_sub(&r->sub, s); /* else: sent when it connects */
    return 0;
}

int redis_on_state(struct redis *r, redis_state_fn fn, void *ud)
{
    if (r->nlisteners >= REDIS_LISTENERS_MAX)
        return -1;
    r->listeners[r->nlisteners].fn = fn;
    r->listeners[r->nlisteners].ud = ud;
    r->nlisteners++;
    return 0;
}

bool redis_is_up(const struct redis *r) { return r->cmd.st == RS_READY; }

const char *redis_prefix(const struct redis *r) { return r->cfg.prefix; }

void redis_get_stats(const struct redis *r, struct redis_stats *st)
{
    *st = r->st;
    st->pending = r->count;
    st->up = r->cmd.st == RS_READY;
    st->sub_up = r->sub.st == RS_READY;
}

static void redis_conn_free(struct redis *r, struct redis_conn *c)
{
    if (c->r) {
        if (r->res)
            resolver_cancel(r->res, &c->q);
        tls_conn_close(&c->t);
    }
    free(c->rbuf);
    free(c->wbuf);
}

void redis_destroy(struct redis *r)
{
    if (!r)
        return;
    r->nlisteners = 0;
    r->cmd.st = RS_WAIT; /* a callback below that asks again is refused */
    if (r->pend)
        redis_fail_pending(r, REDIS_DOWN);
    redis_conn_free(r, &r->cmd);
    redis_conn_free(r, &r->sub);
    if (r->tslot >= 0)
        loop_del(r->loop, r->tslot);
    if (r->tfd >= 0)
        close(r->tfd);
    if (r->res)
        resolver_destroy(r->res);
    if (r->tls)
        tls_client_destroy(r->tls);
    free(r->pend);
    memset(r->cfg.url.password, 0, sizeof r->cfg.url.password);
    free(r);
}
