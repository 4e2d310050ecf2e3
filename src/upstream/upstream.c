/* deps: loop.c http_resp.c log.c clock.c resolver.c, mbedTLS */
#include "upstream/upstream.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "parse/http_resp.h"
#include "io/log.h"
#include "upstream/resolver.h"

#define UP_RBUF 16384          /* one TLS record of plaintext */
#define UP_TLS_WRITE_MAX 16384 /* bytes per mbedtls_ssl_write() */
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

/* results of up_conn_read */
enum { UP_IO_WANT_READ = -1, UP_IO_WANT_WRITE = -2, UP_IO_ERROR = -3 };

struct up_conn {
    struct up_client *c;
    struct up_req *req; /* NULL while pooled */
    int fd, slot;
    bool tls; /* ssl initialised */
    uint64_t pooled_at;
    mbedtls_ssl_context ssl;
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
    int addr_i;
    struct up_conn *conn;
    struct httpr_parser hp;
    uint64_t t_start, total_deadline, deadline, backoff_until;
    uint32_t attempts, retries;
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
    struct resolver *res;
    bool tls_ready, drbg_ready;
    bool ca_pending; /* the CA bundle is parsed after start-up (up_ca_load) */
    char *ca_path;   /* copy of cfg.ca_file, which the caller need not keep */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_ssl_config conf;
    mbedtls_ssl_session session;
    bool have_session;
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
    if (k->slot >= 0)
        loop_del(k->c->loop, k->slot);
    if (k->tls)
        mbedtls_ssl_free(&k->ssl);
    if (k->fd >= 0)
        close(k->fd);
    free(k);
}

static int up_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct up_conn *k = ctx;
    for (;;) {
        ssize_t n = send(k->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return MBEDTLS_ERR_SSL_WANT_WRITE;
        if (errno == EPIPE || errno == ECONNRESET)
            return MBEDTLS_ERR_NET_CONN_RESET;
        return MBEDTLS_ERR_NET_SEND_FAILED;
    }
}

static int up_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct up_conn *k = ctx;
    for (;;) {
        ssize_t n = recv(k->fd, buf, len, 0);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return MBEDTLS_ERR_SSL_WANT_READ;
        if (errno == ECONNRESET)
            return MBEDTLS_ERR_NET_CONN_RESET;
        return MBEDTLS_ERR_NET_RECV_FAILED;
    }
}

static void up_save_session(struct up_client *c, struct up_conn *k)
{
    mbedtls_ssl_session s;
    mbedtls_ssl_session_init(&s);
    if (mbedtls_ssl_get_session(&k->ssl, &s) == 0) {
        if (c->have_session)
            mbedtls_ssl_session_free(&c->session);
        c->session = s;
        c->have_session = true;
    } else {
        mbedtls_ssl_session_free(&s);
    }
}

static void up_tls_msg(char *out, size_t cap, const char *what, int ret)
{
    char e[128];
    mbedtls_strerror(ret, e, sizeof e);
    snprintf(out, cap, "%s: %s (-0x%04x)", what, e, (unsigned)-ret);
}

/* Plaintext from the connection: > 0 bytes, 0 EOF, or UP_IO_*. */
static ssize_t up_conn_read(struct up_conn *k, uint8_t *buf, size_t cap, char *msg, size_t msgcap)
{
    if (k->tls) {
        for (;;) {
            int ret = mbedtls_ssl_read(&k->ssl, buf, cap);
            if (ret > 0)
                return ret;
            if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
                return 0;
            if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
                up_save_session(k->c, k);
                continue;
            }
            if (ret == MBEDTLS_ERR_SSL_WANT_READ)
                return UP_IO_WANT_READ;
            if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
                return UP_IO_WANT_WRITE;
            up_tls_msg(msg, msgcap, "tls read", ret);
            return UP_IO_ERROR;
        }
    }
    for (;;) {
        ssize_t n = recv(k->fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return UP_IO_WANT_READ;
        snprintf(msg, msgcap, "read: %s", strerror(errno));
        return UP_IO_ERROR;
    }
}

static void up_conn_events(struct up_conn *k, short ev)
{
    if (k->slot >= 0)
        loop_set_events(k->c->loop, k->slot, ev);
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
    if (k->tls && (revents & POLLIN)) {
        uint8_t b[64];
        for (;;) {
            int ret = mbedtls_ssl_read(&k->ssl, b, sizeof b);
            if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
                up_save_session(c, k);
                continue;
            }
            keep = ret == MBEDTLS_ERR_SSL_WANT_READ;
            break;
        }
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
    if (reusable && k->roff == k->rlen && (!k->tls || !mbedtls_ssl_check_pending(&k->ssl)) &&
        c->npool < c->cfg.pool_size) {
        if (k->slot < 0 && loop_add(c->loop, k->fd, POLLIN, up_conn_io, k, &k->slot) != 0) {
            up_conn_close(k);
            return;
        }
        k->roff = k->rlen = 0;
        k->pooled_at = c->loop->now_ms;
        up_conn_events(k, POLLIN);
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
    free(r);
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
        if (c->drbg_ready)
            mbedtls_ctr_drbg_random(&c->drbg, (unsigned char *)&rnd, sizeof rnd);
        else
            rnd = (uint32_t)(c->loop->now_ms * 2654435761u);
        d *= 1.0 - 0.25 * ((double)rnd / 4294967296.0);
        delay = (uint64_t)(d * 1000.0);
    }
    uint64_t now = c->loop->now_ms;
    if (now + delay >= r->total_deadline)
        return false;
    r->retries++;
    c->st.retries++;
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
    int ret = mbedtls_ssl_handshake(&k->ssl);
    if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
        up_conn_events(k, POLLIN);
        return;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
        up_conn_events(k, POLLOUT);
        return;
    }
    if (ret != 0) {
        char m[UP_MSG_MAX];
        if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
            /* A certificate problem does not go away by asking again. */
            char info[160];
            int n = mbedtls_x509_crt_verify_info(info, sizeof info, "",
                                                 mbedtls_ssl_get_verify_result(&k->ssl));
            for (int i = 0; i < n; i++)
                if (info[i] == '\n')
                    info[i] = i == n - 1 ? '\0' : ';';
            snprintf(m, sizeof m, "tls: certificate verification failed: %s", n > 0 ? info : "?");
            up_attempt_fail(r, UP_E_CONNECT, false, m);
        } else {
            up_tls_msg(m, sizeof m, "tls handshake", ret);
            up_attempt_fail(r, UP_E_CONNECT, true, m);
        }
        return;
    }
    c->st.tls_handshakes++;
    if (mbedtls_ssl_get_version_number(&k->ssl) == MBEDTLS_SSL_VERSION_TLS1_2)
        up_save_session(c, k);
    r->st = UP_S_SENDING;
    r->deadline = up_deadline(c->loop->now_ms, c->cfg.idle_timeout_ms);
    up_send(r);
}

/* The deferred CA parse (see up_client_new). 0, or -1 with err set. */
static int up_ca_load(struct up_client *c, char *err, size_t errlen)
{
    if (!c->ca_pending)
        return 0;
    c->ca_pending = false;
    int ret;
    if (c->ca_path) {
        ret = mbedtls_x509_crt_parse_file(&c->ca, c->ca_path);
        if (ret < 0) {
            char m[160];
            up_tls_msg(m, sizeof m, "parse", ret);
            snprintf(err, errlen, "CA file %s: %s", c->ca_path, m);
            return -1;
        }
    } else {
        ret = mbedtls_x509_crt_parse(&c->ca, c->cfg.ca_pem, c->cfg.ca_pem_len);
        if (ret < 0) {
            up_tls_msg(err, errlen, "embedded CA bundle", ret);
            return -1;
        }
    }
    if (c->ca.version == 0) { /* nothing parsed */
        snprintf(err, errlen, "no usable CA certificate");
        return -1;
    }
    return 0;
}

static void up_tls_start(struct up_req *r)
{
    struct up_client *c = r->c;
    struct up_conn *k = r->conn;
    char cm[UP_MSG_MAX];
    if (up_ca_load(c, cm, sizeof cm) != 0) {
        up_attempt_fail(r, UP_E_CONNECT, false, cm);
        return;
    }
    mbedtls_ssl_init(&k->ssl);
    k->tls = true;
    int ret = mbedtls_ssl_setup(&k->ssl, &c->conf);
    if (ret == 0)
        ret = mbedtls_ssl_set_hostname(&k->ssl, c->cfg.host);
    if (ret == 0 && c->have_session)
        (void)mbedtls_ssl_set_session(&k->ssl, &c->session); /* resumption is best effort */
    if (ret != 0) {
        char m[UP_MSG_MAX];
        up_tls_msg(m, sizeof m, "tls setup", ret);
        up_attempt_fail(r, UP_E_CONNECT, false, m);
        return;
    }
    mbedtls_ssl_set_bio(&k->ssl, k, up_bio_send, up_bio_recv, NULL);
    r->st = UP_S_TLS_HANDSHAKE;
    r->deadline = up_deadline(c->loop->now_ms, c->cfg.tls_timeout_ms);
    up_tls_step(r);
}

static void up_connected(struct up_req *r)
{
    struct up_client *c = r->c;
    if (c->cfg.https) {
        up_tls_start(r);
        return;
    }
    r->st = UP_S_SENDING;
    r->deadline = up_deadline(c->loop->now_ms, c->cfg.idle_timeout_ms);
    up_send(r);
}

/* Connect to addrs[addr_i], moving on to the next address on an immediate failure. */
static void up_connect_next(struct up_req *r)
{
    struct up_client *c = r->c;
    int last = 0;
    for (; r->addr_i < r->q.naddrs; r->addr_i++) {
        struct resolver_addr a = r->q.addrs[r->addr_i];
        int fam = a.ss.ss_family;
        if (fam == AF_INET)
            ((struct sockaddr_in *)&a.ss)->sin_port = htons(c->cfg.port);
        else if (fam == AF_INET6)
            ((struct sockaddr_in6 *)&a.ss)->sin6_port = htons(c->cfg.port);
        else
            continue;
        int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->st.connects++;
        int rc = connect(fd, (struct sockaddr *)&a.ss, a.len);
        if (rc != 0 && errno != EINPROGRESS && errno != EINTR) {
            last = errno;
            close(fd);
            continue;
        }
        struct up_conn *k = malloc(sizeof *k);
        if (!k) {
            close(fd);
            last = ENOMEM;
            break;
        }
        k->c = c;
        k->req = r;
        k->fd = fd;
        k->slot = -1;
        k->tls = false;
        k->pooled_at = 0;
        k->roff = k->rlen = 0;
        if (loop_add(c->loop, fd, POLLOUT, up_conn_io, k, &k->slot) != 0) {
            close(fd);
            free(k);
            up_attempt_fail(r, UP_E_CONNECT, false, "connect: event loop full");
            return;
        }
        r->conn = k;
        r->st = UP_S_CONNECTING;
        if (rc == 0)
            up_connected(r);
        return;
    }
    up_attempt_failf(r, UP_E_CONNECT, true, "connect %s:%u: %s", c->cfg.host, c->cfg.port,
                     last ? strerror(last) : "no usable address");
}

static void up_on_resolved(void *ctx, struct resolver_query *q)
{
    struct up_req *r = ctx;
    if (r->dead || r->st != UP_S_RESOLVING)
        return;
    if (q->err) {
        up_attempt_failf(r, UP_E_CONNECT, true, "dns %s: %s", r->c->cfg.host, gai_strerror(q->err));
        return;
    }
    r->addr_i = 0;
    up_connect_next(r);
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
        if (k->tls) {
            const uint8_t *p;
            size_t n;
            up_piece(r, r->sent, &p, &n);
            if (n > UP_TLS_WRITE_MAX)
                n = UP_TLS_WRITE_MAX;
            /* After WANT_* this is re-called with the same p and n: r->sent did not move. */
            int ret = mbedtls_ssl_write(&k->ssl, p, n);
            if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
                up_conn_events(k, POLLOUT);
                return;
            }
            if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
                up_conn_events(k, POLLIN);
                return;
            }
            if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
                up_save_session(c, k);
                continue;
            }
            if (ret < 0) {
                char m[UP_MSG_MAX];
                up_tls_msg(m, sizeof m, "tls write", ret);
                up_attempt_fail(r, UP_E_CONNECT, true, m);
                return;
            }
            r->sent += (size_t)ret;
        } else {
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
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
            ssize_t w = sendmsg(k->fd, &mh, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    up_conn_events(k, POLLOUT);
                    return;
                }
                up_attempt_failf(r, UP_E_CONNECT, true, "send: %s", strerror(errno));
                return;
            }
            r->sent += (size_t)w;
        }
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
    if (r->conn && r->conn->slot >= 0)
        loop_del(r->c->loop, r->conn->slot); /* no POLLHUP spin while paused */
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
        ssize_t n = up_conn_read(k, k->rbuf, sizeof k->rbuf, m, sizeof m);
        if (n > 0) {
            k->rlen = (size_t)n;
            r->got_byte = true;
            r->st = UP_S_READING;
            r->deadline = up_deadline(c->loop->now_ms, c->cfg.idle_timeout_ms);
            continue;
        }
        if (n == UP_IO_WANT_READ) {
            up_conn_events(k, POLLIN);
            return;
        }
        if (n == UP_IO_WANT_WRITE) {
            up_conn_events(k, POLLOUT);
            return;
        }
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
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
            err = errno;
        if (err == 0 && !(revents & (POLLOUT | POLLERR | POLLHUP)))
            return;
        if (err == 0 && (revents & POLLOUT)) {
            up_conn_events(k, POLLIN);
            up_connected(r);
            return;
        }
        /* This address failed: close it and try the next one. */
        up_conn_close(k);
        r->conn = NULL;
        r->addr_i++;
        if (r->addr_i < r->q.naddrs) {
            up_connect_next(r);
        } else {
            up_attempt_failf(r, UP_E_CONNECT, true, "connect %s:%u: %s", r->c->cfg.host,
                             r->c->cfg.port, strerror(err ? err : ECONNREFUSED));
        }
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
    c->cfg.ca_pem = NULL;
    c->cfg.ca_file = NULL;
    c->pool = calloc(c->cfg.pool_size ? c->cfg.pool_size : 1, sizeof *c->pool);
    c->tickv = calloc(c->cfg.max_inflight, sizeof *c->tickv);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_ssl_session_init(&c->session);
    c->tls_ready = true; /* contexts initialised: up_destroy frees them */
    if (!c->pool || !c->tickv || (cfg->api_key && cfg->api_key[0] && !c->api_key)) {
        snprintf(err, errlen, "upstream: out of memory");
        goto fail;
    }
    if (cfg->https) {
        psa_status_t ps = psa_crypto_init();
        if (ps != PSA_SUCCESS) {
            snprintf(err, errlen, "upstream: psa_crypto_init failed (%d)", (int)ps);
            goto fail;
        }
        int ret = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                        (const unsigned char *)"interview-upstream", 18);
        if (ret != 0) {
            up_tls_msg(err, errlen, "upstream: ctr_drbg_seed", ret);
            goto fail;
        }
        c->drbg_ready = true;
        if (!(cfg->ca_file && cfg->ca_file[0]) && !(cfg->ca_pem && cfg->ca_pem_len)) {
            snprintf(err, errlen, "upstream: no CA certificates");
            goto fail;
        }
        /* Parsing ~140 certificates took most of the start-up time (about
         * 10 ms before the first connection could be accepted): it now runs
         * on the first tick, or before the first handshake if that is
         * sooner. SSL_CERT_FILE is still validated when the configuration
         * is read, so a bad file still stops the start. */
        if (cfg->ca_file && cfg->ca_file[0] && !(c->ca_path = strdup(cfg->ca_file))) {
            snprintf(err, errlen, "upstream: out of memory");
            goto fail;
        }
        c->ca_pending = true;
        ret = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
                                          MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
        if (ret == 0)
            ret = mbedtls_ssl_conf_alpn_protocols(&c->conf, up_alpn);
        if (ret != 0) {
            up_tls_msg(err, errlen, "upstream: ssl config", ret);
            goto fail;
        }
        mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
        mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
        mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
        mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
        mbedtls_ssl_conf_session_tickets(&c->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
        mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
            &c->conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
#endif
#endif
    }
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
    r->body = spec->body;
    r->body_parts = spec->body_parts;
    for (int i = 0; i < r->body_parts; i++)
        r->body_total += r->body[i].iov_len;

    const struct up_config *cf = &c->cfg;
    size_t cap = 512 + ml + strlen(cf->prefix) + strlen(spec->path) + strlen(cf->host) +
                 (c->api_key ? strlen(c->api_key) : 0) +
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
        UP_PUT("Authorization: Bearer %s\r\n", c->api_key);
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
    if (k && k->slot < 0)
        (void)loop_add(r->c->loop, k->fd, POLLIN | POLLOUT, up_conn_io, k, &k->slot);
    else if (k)
        up_conn_events(k, POLLIN | POLLOUT);
}

void up_tick(struct up_client *c)
{
    uint64_t now = c->loop->now_ms;
    if (c->ca_pending) {
        char m[UP_MSG_MAX];
        if (up_ca_load(c, m, sizeof m) != 0)
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
            if (r->conn && r->conn->slot < 0 &&
                loop_add(c->loop, r->conn->fd, POLLIN, up_conn_io, r->conn, &r->conn->slot) != 0) {
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
    while (c->graveyard) {
        struct up_req *r = c->graveyard;
        up_list_del(&c->graveyard, r);
        up_req_free(r);
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
    free(c->ca_path);
    c->ca_path = NULL;
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
    if (c->tls_ready) {
        mbedtls_ssl_session_free(&c->session);
        mbedtls_ssl_config_free(&c->conf);
        mbedtls_x509_crt_free(&c->ca);
        mbedtls_ctr_drbg_free(&c->drbg);
        mbedtls_entropy_free(&c->entropy);
    }
    if (c->api_key) {
        memset(c->api_key, 0, strlen(c->api_key));
        free(c->api_key);
    }
    free(c->pool);
    free(c->tickv);
    free(c);
}
