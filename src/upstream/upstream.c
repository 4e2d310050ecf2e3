/* deps: parse/http_resp.c io/loop.c io/log.c io/clock.c io/rand.c upstream/resolver.c upstream/tls.c;
 * mbedTLS only through tls.c and rand.c */
#include "upstream/upstream.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "parse/http_resp.h"
#include "io/clock.h"
#include "io/log.h"
#include "io/pool.h"
#include "io/metrics.h"
#include "io/rand.h"
#include "upstream/resolver.h"
#include "upstream/tls.h"

#define UP_RBUF 16384          /* one TLS record of plaintext */
#define UP_ERRBODY_MAX 4096    /* non-2xx body kept for error.message */
#define UP_MSG_MAX 256
#define UP_POOL_IDLE_MS 20000  /* pooled connections older than this are closed */
#define UP_RETRY_AFTER_MAX_MS 60000
#define UP_IOV_MAX 16

enum up_state {
    UP_S_RESOLVING,
    UP_S_CONNECTING,
    UP_S_TLS_HANDSHAKE,
    UP_S_SENDING,
    UP_S_WAITING, /* request sent, no response byte yet */
    UP_S_READING,
    UP_S_BACKOFF, /* waiting for the next retry */
    UP_S_DONE,
};

static const char *const up_state_names[] = {"resolve", "connect", "tls handshake", "send",
                                             "first byte", "read", "backoff", "done"};

struct up_conn {
    struct up_client *c;
    struct up_req *req; /* NULL while pooled */
    uint64_t pooled_at;
    struct tls_conn t; /* socket, TLS state (t.s == NULL: plain http) */
    size_t roff, rlen;
    uint8_t rbuf[UP_RBUF];
};

struct up_req {
    struct up_client *c;
    struct up_req *prev, *next; /* inflight list, then graveyard */
    enum up_state st;
    struct up_callbacks cb;
    void *ctx;
    char method[16];
    char *path;
    uint64_t log_conn;
    char *head;
    size_t head_len, body_total, sent;
    const struct iovec *body;
    int body_parts;
    struct resolver_query q;
    struct up_conn *conn;
    struct httpr_parser hp;
    uint64_t t_start, total_deadline, deadline, backoff_until;
    uint32_t attempts, retries;
    uint8_t ep;                  /* enum metrics_endpoint */
    uint64_t start_us, phase_us; /* metrics: the request's start, the current phase's */
    int status;
    bool reused, any_reused, force_fresh, got_byte, head_delivered, err_mode;
    bool paused, kick, resume_flag, cancelled, dead;
    int in_cb;
    size_t pend_off, pend_len;
    size_t errlen;
    char errbody[UP_ERRBODY_MAX];
    int last_err;
    char msg[UP_MSG_MAX];
    char request_id[128];
};

struct up_client {
    struct loop *loop;
    struct up_config cfg;
    char *api_key;
    char *org_id, *project_id; /* NULL: header not sent */
    struct resolver *res;
    struct tls_client *tls; /* https only: ALPN http/1.1, session resumption */
    bool ca_pending;        /* the CA chain is parsed after start-up (up_tick) */
    struct up_conn **pool; /* LIFO: pool[npool-1] is the most recent */
    uint32_t npool;
    struct up_req *inflight, *graveyard;
    struct up_req **tickv;
    struct up_stats st;
};

static const char *up_alpn[] = {"http/1.1", NULL};

static uint64_t up_deadline(uint64_t now, uint64_t ms)
{
    return ms ? now + ms : UINT64_MAX;
}

/* ---- connections ------------------------------------------------------- */

static void up_conn_io(void *ctx, short revents);

static void up_conn_close(struct up_conn *k)
{
    if (!k)
        return;
    tls_conn_close(&k->t);
    pool_free_big(k); /* 16 KB read buffer */
}

static void up_conn_events(struct up_conn *k, short ev)
{
    tls_conn_events(&k->t, ev);
}

/* ---- pool -------------------------------------------------------------- */

static void up_pool_remove(struct up_client *c, struct up_conn *k)
{
    for (uint32_t i = 0; i < c->npool; i++) {
        if (c->pool[i] == k) {
            memmove(&c->pool[i], &c->pool[i + 1], (c->npool - i - 1) * sizeof c->pool[0]);
            c->npool--;
            return;
        }
    }
}

/* A pooled connection got an event: the server closed it, or (TLS 1.3) sent
 * a session ticket. Anything else is unexpected: close. */
static void up_pool_io(struct up_conn *k, short revents)
{
    struct up_client *c = k->c;
    bool keep = false;
    if (k->t.s && (revents & POLLIN)) {
        uint8_t b[64];
        keep = tls_read(&k->t, b, sizeof b) == TLS_WANT_READ; /* a ticket is taken inside */
        if (keep && (revents & (POLLERR | POLLHUP)))
            keep = false;
    }
    if (!keep) {
        up_pool_remove(c, k);
        up_conn_close(k);
    }
}

/* Detach k from r; keep it for reuse when allowed. */
static void up_release_conn(struct up_req *r, bool reusable)
{
    struct up_client *c = r->c;
    struct up_conn *k = r->conn;
    if (!k)
        return;
    r->conn = NULL;
    k->req = NULL;
    if (reusable && k->roff == k->rlen && !tls_pending(&k->t) && c->npool < c->cfg.pool_size) {
        if (tls_conn_watch(&k->t, POLLIN) != 0) {
            up_conn_close(k);
            return;
        }
        k->roff = k->rlen = 0;
        k->pooled_at = c->loop->now_ms;
        c->pool[c->npool++] = k;
        return;
    }
    up_conn_close(k);
}

/* ---- request lifetime -------------------------------------------------- */

static void up_list_del(struct up_req **head, struct up_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void up_list_add(struct up_req **head, struct up_req *r)
{
    r->prev = NULL;
    r->next = *head;
    if (*head)
        (*head)->prev = r;
    *head = r;
}

static void up_req_free(struct up_req *r)
{
    free(r->head);
    free(r->path);
    pool_free_big(r);
}

/* A phase of the current attempt ended (metrics); the next one starts now. */
static void up_phase(struct up_req *r, enum metrics_phase ph)
{
    uint64_t now = clock_mono_us();
    metrics_observe(M_UP_DURATION, r->ep, ph, (double)(now - r->phase_us) / 1e6);
    r->phase_us = now;
}

/* Ends the request: connection closed (pooled before, when reusable), the
 * request moved to the graveyard (freed by the next up_tick, so pointers on
 * the stack stay valid), one log line, then on_done unless cancelled. */
static void up_finish(struct up_req *r, int err, int status, const char *msg)
{
    struct up_client *c = r->c;
    if (r->dead)
        return;
    resolver_cancel(c->res, &r->q); /* no-op unless a lookup is pending */
    up_release_conn(r, false);
    r->dead = true;
    r->st = UP_S_DONE;
    up_list_del(&c->inflight, r);
    up_list_add(&c->graveyard, r);
    c->st.inflight--;
    metrics_inc(M_UP_REQUESTS, r->ep, metrics_class_of(status, r->cancelled));
    if (!r->cancelled)
        metrics_observe(M_UP_DURATION, r->ep, MPH_TOTAL, (double)(clock_mono_us() - r->start_us) / 1e6);
    uint64_t ms = c->loop->now_ms - r->t_start;
    bool quiet = err == UP_OK || r->cancelled;
    log_event(quiet ? LOG_INFO : LOG_WARN, r->log_conn, "upstream",
              "%s %s%s status=%d err=%d attempts=%u ms=%llu reused=%s request_id=%s%s%s%s%s",
              r->method, c->cfg.prefix, r->path, status, err, r->attempts,
              (unsigned long long)ms, r->any_reused ? "yes" : "no",
              r->request_id[0] ? r->request_id : "-", r->cancelled ? " cancelled" : "",
              quiet ? "" : " msg=\"", quiet ? "" : (msg ? msg : ""), quiet ? "" : "\"");
    if (!r->cancelled && r->cb.on_done)
        r->cb.on_done(r->ctx, err, status, msg ? msg : "");
}

static void up_attempt_begin(struct up_req *r);

static void up_fail_final(struct up_req *r, int err, int status, const char *msg)
{
    char m[UP_MSG_MAX];
    snprintf(m, sizeof m, "%s", msg);
    up_finish(r, err, status, m);
}

/* Schedule the next counted attempt. false when no retry is left or the
 * total deadline would pass first. */
static bool up_schedule_retry(struct up_req *r, int64_t retry_after_ms)
{
    struct up_client *c = r->c;
    if (r->retries >= c->cfg.max_retries || r->head_delivered)
        return false;
    uint64_t delay;
    if (retry_after_ms > 0 && retry_after_ms <= UP_RETRY_AFTER_MAX_MS) {
        delay = (uint64_t)retry_after_ms;
    } else {
        double d = 0.5;
        for (uint32_t i = 0; i < r->retries && d < 8.0; i++)
            d *= 2;
        if (d > 8.0)
            d = 8.0;
        uint32_t rnd = 0;
        if (rand_bytes(&rnd, sizeof rnd) != 0)
            rnd = (uint32_t)(c->loop->now_ms * 2654435761u);
        d *= 1.0 - 0.25 * ((double)rnd / 4294967296.0);
        delay = (uint64_t)(d * 1000.0);
    }
    uint64_t now = c->loop->now_ms;
    if (now + delay >= r->total_deadline)
        return false;
    r->retries++;
    c->st.retries++;
    metrics_inc(M_UP_RETRIES, r->ep, 0);
    r->st = UP_S_BACKOFF;
    r->backoff_until = now + delay;
    return true;
}

/* The current attempt failed. Retries when allowed (before the caller saw a
 * head), else reports err. A reused connection failing before any response
 * byte is a stale keep-alive: retried at once on a fresh one, not counted. */
static void up_attempt_fail(struct up_req *r, int err, bool retryable, const char *msg)
{
    bool stale = r->reused && !r->got_byte && err == UP_E_CONNECT;
    up_release_conn(r, false);
    if (r->head_delivered) {
        up_fail_final(r, err == UP_E_CONNECT ? UP_E_RESET : err, r->status, msg);
        return;
    }
    if (stale) {
        log_event(LOG_DEBUG, r->log_conn, "upstream_stale", "%s", msg);
        r->force_fresh = true;
        r->attempts--; /* up_attempt_begin counts it again */
        up_attempt_begin(r);
        return;
    }
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    if (retryable && up_schedule_retry(r, -1)) {
        log_event(LOG_DEBUG, r->log_conn, "upstream_retry", "%s", msg);
        return;
    }
    up_fail_final(r, err, 0, msg);
}

static void up_attempt_failf(struct up_req *r, int err, bool retryable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void up_attempt_failf(struct up_req *r, int err, bool retryable, const char *fmt, ...)
{
    char m[UP_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    up_attempt_fail(r, err, retryable, m);
}

/* ---- stages ------------------------------------------------------------- */

static void up_send(struct up_req *r);
static void up_read(struct up_req *r);

static void up_tls_step(struct up_req *r)
{
    struct up_client *c = r->c;
    struct up_conn *k = r->conn;
    int ret = tls_handshake(&k->t);
    if (ret == TLS_WANT_READ || ret == TLS_WANT_WRITE) {
        up_conn_events(k, ret == TLS_WANT_READ ? POLLIN : POLLOUT);
        return;
    }
    if (ret != 0) {
        char m[UP_MSG_MAX];
        tls_error_text(&k->t, m, sizeof m);
        /* A certificate problem does not go away by asking again. */
        up_attempt_fail(r, UP_E_CONNECT, k->t.fail != TLS_F_CERT, m);
        return;
    }
    c->st.tls_handshakes++;
    up_phase(r, MPH_TLS);
    r->st = UP_S_SENDING;
    r->deadline = up_deadline(c->loop->now_ms, c->cfg.idle_timeout_ms);
    up_send(r);
}

static void up_tls_start(struct up_req *r)
{
    struct up_client *c = r->c;
    struct up_conn *k = r->conn;
    if (tls_start(&k->t, c->tls, c->cfg.host) != 0) { /* CA chain or local setup */
        char m[UP_MSG_MAX];
        tls_error_text(&k->t, m, sizeof m);
        up_attempt_fail(r, UP_E_CONNECT, false, m);
        return;
    }
    r->st = UP_S_TLS_HANDSHAKE;
    r->deadline = up_deadline(c->loop->now_ms, c->cfg.tls_timeout_ms);
    up_tls_step(r);
}

static void up_connected(struct up_req *r)
{
    struct up_client *c = r->c;
    up_phase(r, MPH_CONNECT);
    if (c->cfg.https) {
        up_tls_start(r);
        return;
    }
    r->st = UP_S_SENDING;
    r->deadline = up_deadline(c->loop->now_ms, c->cfg.idle_timeout_ms);
    up_send(r);
}

/* What tls_connect_start/tls_connect_event said about r's connection. */
static void up_connect_result(struct up_req *r, enum tls_connect res)
{
    struct up_client *c = r->c;
    struct up_conn *k = r->conn;
    switch (res) {
    case TLS_CONNECTING:
        r->st = UP_S_CONNECTING;
        return;
    case TLS_CONNECTED:
        r->st = UP_S_CONNECTING;
        up_conn_events(k, POLLIN);
        up_connected(r);
        return;
    case TLS_LOOP_FULL:
        up_attempt_fail(r, UP_E_CONNECT, false, "connect: event loop full");
        return;
    default: /* every address failed (upstream has no address filter) */
        up_attempt_failf(r, UP_E_CONNECT, true, "connect %s:%u: %s", c->cfg.host, c->cfg.port,
                         k->t.err ? strerror(k->t.err) : "no usable address");
        return;
    }
}

static void up_on_resolved(void *ctx, struct resolver_query *q)
{
    struct up_req *r = ctx;
    struct up_client *c = r->c;
    if (r->dead || r->st != UP_S_RESOLVING)
        return;
    if (q->err) {
        up_attempt_failf(r, UP_E_CONNECT, true, "dns %s: %s", c->cfg.host, gai_strerror(q->err));
        return;
    }
    up_phase(r, MPH_DNS);
    struct up_conn *k = malloc(sizeof *k);
    if (!k) {
        up_attempt_failf(r, UP_E_CONNECT, true, "connect %s:%u: %s", c->cfg.host, c->cfg.port,
                         strerror(ENOMEM));
        return;
    }
    k->c = c;
    k->req = r;
    k->pooled_at = 0;
    k->roff = k->rlen = 0;
    tls_conn_init(&k->t, c->loop, up_conn_io, k);
    r->conn = k;
    up_connect_result(r, tls_connect_start(&k->t, q->addrs, q->naddrs, c->cfg.port, NULL, NULL,
                                           &c->st.connects));
}

/* Start an attempt: a pooled connection (LIFO) or resolve + connect. */
static void up_attempt_begin(struct up_req *r)
{
    struct up_client *c = r->c;
    uint64_t now = c->loop->now_ms;
    r->attempts++;
    r->got_byte = r->err_mode = r->reused = r->paused = r->kick = false;
    r->sent = r->errlen = r->pend_len = r->pend_off = 0;
    r->status = 0;
    memset(&r->hp, 0, sizeof r->hp);
    r->hp.head_request = strcmp(r->method, "HEAD") == 0;
    r->phase_us = clock_mono_us();
    metrics_inc(M_UP_POOL, !r->force_fresh && c->npool > 0 ? MP_HIT : MP_MISS, 0);
    if (!r->force_fresh && c->npool > 0) {
        struct up_conn *k = c->pool[--c->npool];
        k->req = r;
        r->conn = k;
        r->reused = r->any_reused = true;
        c->st.reused++;
        r->st = UP_S_SENDING;
        r->deadline = up_deadline(now, c->cfg.idle_timeout_ms);
        up_conn_events(k, POLLOUT); /* writable at once: the loop starts the send */
        return;
    }
    r->force_fresh = false;
    r->st = UP_S_RESOLVING;
    r->deadline = up_deadline(now, c->cfg.connect_timeout_ms);
    if (resolver_lookup(c->res, &r->q, c->cfg.host, up_on_resolved, r) != 0)
        up_attempt_fail(r, UP_E_CONNECT, false, "dns: host name too long");
}

/* The piece of head+body at r->sent. */
static void up_piece(const struct up_req *r, size_t off, const uint8_t **p, size_t *n)
{
    if (off < r->head_len) {
        *p = (const uint8_t *)r->head + off;
        *n = r->head_len - off;
        return;
    }
    off -= r->head_len;
    for (int i = 0; i < r->body_parts; i++) {
        if (off < r->body[i].iov_len) {
            *p = (const uint8_t *)r->body[i].iov_base + off;
            *n = r->body[i].iov_len - off;
            return;
        }
        off -= r->body[i].iov_len;
    }
    *p = NULL;
    *n = 0;
}

static void up_send(struct up_req *r)
{
    struct up_client *c = r->c;
    struct up_conn *k = r->conn;
    size_t total = r->head_len + r->body_total;
    while (r->sent < total) {
        struct iovec iov[UP_IOV_MAX];
        int niov = 0;
        size_t off = r->sent;
        while (niov < UP_IOV_MAX) {
            const uint8_t *p;
            size_t n;
            up_piece(r, off, &p, &n);
            if (n == 0)
                break;
            iov[niov].iov_base = (void *)p;
            iov[niov].iov_len = n;
            niov++;
            off += n;
        }
        /* After TLS_WANT_* this is re-called with the same pieces: r->sent did not move. */
        ssize_t w = tls_writev(&k->t, iov, niov);
        if (w == TLS_WANT_WRITE || w == TLS_WANT_READ) {
            up_conn_events(k, w == TLS_WANT_READ ? POLLIN : POLLOUT);
            return;
        }
        if (w < 0) {
            char m[UP_MSG_MAX];
            tls_error_text(&k->t, m, sizeof m);
            up_attempt_fail(r, UP_E_CONNECT, true, m);
            return;
        }
        r->sent += (size_t)w;
        r->deadline = up_deadline(c->loop->now_ms, c->cfg.idle_timeout_ms);
    }
    r->st = UP_S_WAITING;
    r->deadline = up_deadline(c->loop->now_ms, c->cfg.first_byte_timeout_ms);
    up_conn_events(k, POLLIN);
    up_read(r); /* an early answer may already be decrypted inside mbedTLS */
}

/* The body of the final non-2xx answer, for the caller to read the API's
 * error text in (this module knows no API error format). */
const char *up_error_body(const struct up_req *r, size_t *len)
{
    *len = r->errlen;
    return r->errbody;
}

static void up_pause(struct up_req *r)
{
    r->paused = true;
    if (r->conn)
        tls_conn_unwatch(&r->conn->t); /* no POLLHUP spin while paused */
}

/* Offer the pending body bytes. false when paused or the request ended. */
static bool up_deliver(struct up_req *r)
{
    while (r->pend_len) {
        r->resume_flag = false;
        r->in_cb++;
        size_t took = r->cb.on_body(r->ctx, r->conn->rbuf + r->pend_off, r->pend_len);
        r->in_cb--;
        if (r->cancelled) {
            up_finish(r, UP_E_CANCELLED, r->status, "cancelled");
            return false;
        }
        if (took > r->pend_len)
            took = r->pend_len;
        r->pend_off += took;
        r->pend_len -= took;
        if (r->pend_len && !r->resume_flag) {
            up_pause(r);
            return false;
        }
    }
    return true;
}

static void up_on_head(struct up_req *r)
{
    struct up_client *c = r->c;
    r->status = r->hp.status;
    snprintf(r->request_id, sizeof r->request_id, "%s", r->hp.request_id);
    if (r->status >= 200 && r->status < 300) {
        struct up_head h = {.status = r->status, .content_type = r->hp.content_type,
                            .request_id = r->hp.request_id};
        r->head_delivered = true;
        r->in_cb++;
        if (r->cb.on_head)
            r->cb.on_head(r->ctx, &h);
        r->in_cb--;
        if (r->cancelled)
            up_finish(r, UP_E_CANCELLED, r->status, "cancelled");
    } else {
        r->err_mode = true;
    }
    (void)c;
}

static void up_on_complete(struct up_req *r, bool eof)
{
    bool reusable = !eof && r->hp.keep_alive;
    if (!r->err_mode) {
        up_release_conn(r, reusable);
        up_finish(r, UP_OK, r->status, "ok");
        return;
    }
    char m[UP_MSG_MAX];
    snprintf(m, sizeof m, "HTTP %d", r->status);
    int s = r->status;
    bool retry = r->hp.should_retry == 1 ||
                 (r->hp.should_retry == -1 && (s == 408 || s == 409 || s == 429 || s >= 500));
    up_release_conn(r, reusable);
    snprintf(r->msg, sizeof r->msg, "%s", m);
    if (retry && up_schedule_retry(r, r->hp.retry_after_ms)) {
        log_event(LOG_DEBUG, r->log_conn, "upstream_retry", "status=%d", s);
        return;
    }
    up_finish(r, UP_E_HTTP_STATUS, s, m);
}

static void up_read(struct up_req *r)
{
    struct up_client *c = r->c;
    for (;;) {
        if (r->dead)
            return;
        struct up_conn *k = r->conn;
        if (!k) /* reading needs a connection; a request without one is not in a reading state */
            return;
        if (r->paused) {
            up_pause(r);
            return;
        }
        if (r->pend_len && !up_deliver(r))
            return;
        /* Feed until the parser wants more input: after an event it may have
         * one more to report (DONE) without consuming a byte. */
        for (;;) {
            struct httpr_event ev = {0};
            ssize_t n = httpr_feed(&r->hp, k->rbuf + k->roff, k->rlen - k->roff, &ev);
            if (n < 0) {
                up_attempt_failf(r, UP_E_PROTOCOL, false, "malformed response (%d)", (int)n);
                return;
            }
            k->roff += (size_t)n;
            if (ev.kind == HTTPR_EV_HEAD) {
                up_on_head(r);
                if (r->dead)
                    return;
            } else if (ev.kind == HTTPR_EV_BODY && ev.len) {
                if (!r->err_mode) {
                    r->pend_off = (size_t)(ev.data - k->rbuf);
                    r->pend_len = ev.len;
                    if (!up_deliver(r))
                        return;
                } else if (r->errlen < UP_ERRBODY_MAX) {
                    size_t m = ev.len < UP_ERRBODY_MAX - r->errlen ? ev.len : UP_ERRBODY_MAX - r->errlen;
                    memcpy(r->errbody + r->errlen, ev.data, m);
                    r->errlen += m;
                }
            } else if (ev.kind == HTTPR_EV_DONE) {
                up_on_complete(r, false);
                return;
            } else if (ev.kind == HTTPR_EV_NONE) {
                if (k->roff >= k->rlen)
                    break;
                if (n == 0) {
                    up_attempt_fail(r, UP_E_PROTOCOL, false, "response parser stalled");
                    return;
                }
            }
        }
        k->roff = k->rlen = 0;
        char m[UP_MSG_MAX];
        ssize_t n = tls_read(&k->t, k->rbuf, sizeof k->rbuf);
        if (n > 0) {
            k->rlen = (size_t)n;
            if (!r->got_byte)
                up_phase(r, MPH_FIRST_BYTE);
            r->got_byte = true;
            r->st = UP_S_READING;
            r->deadline = up_deadline(c->loop->now_ms, c->cfg.idle_timeout_ms);
            continue;
        }
        if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
            up_conn_events(k, n == TLS_WANT_READ ? POLLIN : POLLOUT);
            return;
        }
        if (n < 0)
            tls_error_text(&k->t, m, sizeof m);
        if (n == 0) {
            if (r->got_byte && httpr_eof(&r->hp) == HTTPR_EV_DONE) {
                up_on_complete(r, true);
                return;
            }
            snprintf(m, sizeof m, "%s", r->got_byte ? "connection closed mid-response"
                                                    : "connection closed before a response");
        }
        /* Lost before the caller saw a head: a connection failure, retried. */
        up_attempt_fail(r, r->head_delivered ? UP_E_RESET : UP_E_CONNECT, true, m);
        return;
    }
}

static void up_conn_io(void *ctx, short revents)
{
    struct up_conn *k = ctx;
    struct up_req *r = k->req;
    if (!r) {
        up_pool_io(k, revents);
        return;
    }
    switch (r->st) {
    case UP_S_CONNECTING: {
        enum tls_connect res = tls_connect_event(&k->t, revents);
        if (res != TLS_CONNECTING) /* on TLS_CONNECTING: still waiting, or on to the next address */
            up_connect_result(r, res);
        return;
    }
    case UP_S_TLS_HANDSHAKE:
        up_tls_step(r);
        return;
    case UP_S_SENDING:
        up_send(r);
        return;
    case UP_S_WAITING:
    case UP_S_READING:
        r->kick = false;
        up_read(r);
        return;
    default:
        up_conn_events(k, 0);
        return;
    }
}

/* ---- public API ---------------------------------------------------------- */

static bool up_clean(const char *s, bool allow_space)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 || ch == 0x7f || (!allow_space && ch == ' '))
            return false;
    }
    return true;
}

/* The process CA source (tls_ca_use: the same one jobfetch uses) and this
 * client's TLS configuration. 0, or -1 with err set. */
static int up_tls_setup(struct up_client *c, const struct up_config *cfg, char *err, size_t errlen)
{
    char m[UP_MSG_MAX];
    if (tls_ca_use(cfg->ca_file, cfg->ca_pem, cfg->ca_pem_len, m, sizeof m) != 0) {
        snprintf(err, errlen, "upstream: %s", m);
        return -1;
    }
    if (!tls_ca_named()) {
        snprintf(err, errlen, "upstream: no CA certificates");
        return -1;
    }
    c->tls = tls_client_create(up_alpn, true, m, sizeof m);
    if (!c->tls) {
        snprintf(err, errlen, "upstream: %s", m);
        return -1;
    }
    /* Parsing ~140 certificates took most of the start-up time (about 10 ms
     * before the first connection could be accepted): it runs on the first
     * tick, or before the first handshake if that is sooner. SSL_CERT_FILE is
     * still validated when the configuration is read, so a bad file still
     * stops the start. */
    c->ca_pending = true;
    return 0;
}

struct up_client *up_create(struct loop *loop, const struct up_config *cfg, char *err, size_t errlen)
{
    size_t hl = strnlen(cfg->host, sizeof cfg->host);
    if (hl == 0 || hl == sizeof cfg->host || cfg->port == 0 || !up_clean(cfg->host, false) ||
        strnlen(cfg->prefix, sizeof cfg->prefix) == sizeof cfg->prefix ||
        !up_clean(cfg->prefix, false)) {
        snprintf(err, errlen, "upstream: bad host, port or prefix");
        return NULL;
    }
    if (cfg->api_key && !up_clean(cfg->api_key, false)) {
        snprintf(err, errlen, "upstream: API key contains control characters or spaces");
        return NULL;
    }
    if ((cfg->org_id && !up_clean(cfg->org_id, false)) || (cfg->project_id && !up_clean(cfg->project_id, false))) {
        snprintf(err, errlen, "upstream: organization or project id contains control characters or spaces");
        return NULL;
    }
    struct up_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "upstream: out of memory");
        return NULL;
    }
    c->loop = loop;
    c->cfg = *cfg;
    if (c->cfg.max_inflight == 0)
        c->cfg.max_inflight = 1;
    c->api_key = cfg->api_key && cfg->api_key[0] ? strdup(cfg->api_key) : NULL;
    c->cfg.api_key = NULL;
    c->org_id = cfg->org_id && cfg->org_id[0] ? strdup(cfg->org_id) : NULL;
    c->project_id = cfg->project_id && cfg->project_id[0] ? strdup(cfg->project_id) : NULL;
    c->cfg.org_id = c->cfg.project_id = NULL;
    c->cfg.ca_pem = NULL;
    c->cfg.ca_file = NULL;
    c->pool = calloc(c->cfg.pool_size ? c->cfg.pool_size : 1, sizeof *c->pool);
    c->tickv = calloc(c->cfg.max_inflight, sizeof *c->tickv);
    if (!c->pool || !c->tickv || (cfg->api_key && cfg->api_key[0] && !c->api_key) ||
        (cfg->org_id && cfg->org_id[0] && !c->org_id) || (cfg->project_id && cfg->project_id[0] && !c->project_id)) {
        snprintf(err, errlen, "upstream: out of memory");
        goto fail;
    }
    if (cfg->https && up_tls_setup(c, cfg, err, errlen) != 0)
        goto fail;
    c->res = resolver_create(loop, cfg->dns_cache_ms, err, errlen);
    if (!c->res)
        goto fail;
    return c;
fail:
    up_destroy(c);
    return NULL;
}

struct up_req *up_start(struct up_client *c, const struct up_request_spec *spec,
                        const struct up_callbacks *cb, void *ctx)
{
    if (c->st.inflight >= c->cfg.max_inflight)
        return NULL;
    const char *method = spec->method ? spec->method : "GET";
    size_t ml = strlen(method);
    if (ml == 0 || ml >= sizeof ((struct up_req *)0)->method || !up_clean(method, false) ||
        !spec->path || spec->path[0] != '/' || !up_clean(spec->path, false) ||
        (spec->content_type && !up_clean(spec->content_type, true)) ||
        (spec->accept && !up_clean(spec->accept, true)) || spec->body_parts < 0 ||
        (spec->body_parts > 0 && !spec->body))
        return NULL;
    struct up_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->c = c;
    r->cb = *cb;
    r->ctx = ctx;
    memcpy(r->method, method, ml + 1);
    r->path = strdup(spec->path);
    r->log_conn = spec->log_conn;
    r->ep = (uint8_t)metrics_endpoint_of(spec->path);
    r->start_us = clock_mono_us();
    r->body = spec->body;
    r->body_parts = spec->body_parts;
    for (int i = 0; i < r->body_parts; i++)
        r->body_total += r->body[i].iov_len;

    const struct up_config *cf = &c->cfg;
    size_t cap = 512 + ml + strlen(cf->prefix) + strlen(spec->path) + strlen(cf->host) +
                 (c->api_key ? strlen(c->api_key) : 0) + (c->org_id ? strlen(c->org_id) : 0) +
                 (c->project_id ? strlen(c->project_id) : 0) +
                 (spec->content_type ? strlen(spec->content_type) : 0) +
                 (spec->accept ? strlen(spec->accept) : 0);
    r->head = malloc(cap);
    if (!r->path || !r->head) {
        up_req_free(r);
        return NULL;
    }
    size_t n = 0;
#define UP_PUT(...) n += (size_t)snprintf(r->head + n, cap - n, __VA_ARGS__)
    UP_PUT("%s %s%s HTTP/1.1\r\n", method, cf->prefix, spec->path);
    bool v6 = strchr(cf->host, ':') != NULL;
    bool defport = cf->port == (cf->https ? 443 : 80);
    UP_PUT("Host: %s%s%s", v6 ? "[" : "", cf->host, v6 ? "]" : "");
    if (!defport)
        UP_PUT(":%u", cf->port);
    UP_PUT("\r\n");
    if (c->api_key)
        UP_PUT(cf->key_header_api_key ? "api-key: %s\r\n" : "Authorization: Bearer %s\r\n", c->api_key);
    if (c->org_id)
        UP_PUT("OpenAI-Organization: %s\r\n", c->org_id);
    if (c->project_id)
        UP_PUT("OpenAI-Project: %s\r\n", c->project_id);
    if (spec->content_type)
        UP_PUT("Content-Type: %s\r\n", spec->content_type);
    if (r->body_parts > 0 || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
        UP_PUT("Content-Length: %zu\r\n", r->body_total);
    if (spec->accept)
        UP_PUT("Accept: %s\r\n", spec->accept);
    UP_PUT("User-Agent: interview/0.1\r\nConnection: keep-alive\r\n\r\n");
#undef UP_PUT
    r->head_len = n;

    uint64_t now = c->loop->now_ms;
    r->t_start = now;
    r->total_deadline = up_deadline(now, cf->total_timeout_ms);
    up_list_add(&c->inflight, r);
    c->st.inflight++;
    c->st.requests++;
    up_attempt_begin(r); /* no I/O and no callback here: pooled conn or a DNS query */
    return r;
}

void up_cancel(struct up_req *r)
{
    if (!r || r->dead)
        return;
    r->cancelled = true;
    if (r->in_cb)
        return; /* finished when the callback returns */
    up_finish(r, UP_E_CANCELLED, r->status, "cancelled");
}

void up_resume(struct up_req *r)
{
    if (!r || r->dead)
        return;
    if (r->in_cb) {
        r->resume_flag = true;
        return;
    }
    if (!r->paused)
        return;
    r->paused = false;
    r->kick = true;
    struct up_conn *k = r->conn;
    r->deadline = up_deadline(r->c->loop->now_ms, r->c->cfg.idle_timeout_ms);
    /* Re-register asking for POLLOUT too: the socket is writable, so the next
     * poll() returns at once and up_read() runs from the loop (bytes may be
     * waiting in our buffer or inside mbedTLS). up_tick() is the fallback. */
    if (k)
        (void)tls_conn_watch(&k->t, POLLIN | POLLOUT);
}

void up_tick(struct up_client *c)
{
    uint64_t now = c->loop->now_ms;
    if (c->ca_pending) {
        char m[UP_MSG_MAX];
        c->ca_pending = false;
        if (tls_ca_load(m, sizeof m) != 0)
            log_event(LOG_ERROR, 0, "upstream_ca", "%s", m);
    }
    uint32_t n = 0;
    for (struct up_req *r = c->inflight; r && n < c->cfg.max_inflight; r = r->next)
        c->tickv[n++] = r;
    for (uint32_t i = 0; i < n; i++) {
        struct up_req *r = c->tickv[i];
        if (r->dead)
            continue;
        if (now >= r->total_deadline) {
            char m[UP_MSG_MAX];
            snprintf(m, sizeof m, "total timeout (%llu ms) in %s%s%.200s",
                     (unsigned long long)c->cfg.total_timeout_ms, up_state_names[r->st],
                     r->msg[0] ? "; last error: " : "", r->msg);
            up_fail_final(r, UP_E_TIMEOUT, r->st == UP_S_BACKOFF ? 0 : r->status, m);
            continue;
        }
        if (r->st == UP_S_BACKOFF) {
            if (now >= r->backoff_until)
                up_attempt_begin(r);
            continue;
        }
        if (r->kick && !r->paused && (r->st == UP_S_WAITING || r->st == UP_S_READING)) {
            r->kick = false;
            if (r->conn && r->conn->t.slot < 0 && tls_conn_watch(&r->conn->t, POLLIN) != 0) {
                r->kick = true; /* try again next tick */
                continue;
            }
            up_read(r);
            continue;
        }
        if (!r->paused && now >= r->deadline) {
            up_attempt_failf(r, UP_E_TIMEOUT, true, "%s timeout", up_state_names[r->st]);
            continue;
        }
    }
    /* pool expiry (oldest first) */
    while (c->npool > 0 && now - c->pool[0]->pooled_at >= UP_POOL_IDLE_MS) {
        struct up_conn *k = c->pool[0];
        up_pool_remove(c, k);
        up_conn_close(k);
    }
    struct up_req *dead = c->graveyard; /* walked, not unlinked one by one */
    c->graveyard = NULL;
    while (dead) {
        struct up_req *next = dead->next;
        up_req_free(dead);
        dead = next;
    }
}

void up_get_stats(const struct up_client *c, struct up_stats *st)
{
    *st = c->st;
    st->pooled = c->npool;
    if (c->res) {
        uint64_t l, h;
        resolver_stats(c->res, &l, &h);
        st->dns_lookups = l;
        st->dns_cache_hits = h;
    }
}

void up_destroy(struct up_client *c)
{
    if (!c)
        return;
    while (c->inflight) {
        struct up_req *r = c->inflight;
        r->cancelled = true;
        up_finish(r, UP_E_CANCELLED, 0, "cancelled");
    }
    while (c->graveyard) {
        struct up_req *r = c->graveyard;
        /* The head has prev == NULL, so this advances c->graveyard; the
         * analyzer does not know that invariant and reports a use after free. */
        up_list_del(&c->graveyard, r); // NOLINT(clang-analyzer-unix.Malloc)
        up_req_free(r);
    }
    while (c->npool > 0)
        up_conn_close(c->pool[--c->npool]);
    resolver_destroy(c->res);
    tls_client_destroy(c->tls); /* after its connections */
    if (c->api_key) {
        memset(c->api_key, 0, strlen(c->api_key));
        free(c->api_key);
    }
    free(c->org_id);
    free(c->project_id);
    free(c->pool);
    free(c->tickv);
    free(c);
}
