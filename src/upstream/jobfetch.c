/* deps: parse/addrclass.c parse/html_text.c parse/http_resp.c parse/url.c io/loop.c io/log.c
 * io/clock.c io/rand.c upstream/resolver.c upstream/tls.c, mbedTLS (through tls.c)
 *
 * Why not upstream.c: that client serves one fixed origin (host, port and TLS
 * session are per client), retries, pools connections and sends the API key;
 * a posting fetch needs a new origin per URL and per redirect, no retries, no
 * pool, no credentials, an address check between resolution and connect(),
 * and redirects. So this module drives its own small state machine over the
 * same parts: resolver.c (helper thread), http_resp.c (the strict response
 * parser, which gained Location) and tls.c (the shared TLS client and CA
 * chain), whose address filter carries the SSRF rule below.
 *
 * SSRF: the host must be on the allowlist; every resolved address must be
 * public (addrclass.c), and connect() only ever receives an address that was
 * classified in this function's caller chain from the same resolver answer:
 * no second lookup happens between the check and the connect, so DNS
 * rebinding cannot slip another address in. getpeername() is checked again
 * after the connect as a second line. Redirect targets go through every rule
 * again. The only escape is JOB_URL_TEST_ALLOW_ADDRESSES (tests; off). */
#include "upstream/jobfetch.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "parse/addrclass.h"
#include "parse/html_text.h"
#include "parse/http_resp.h"
#include "parse/url.h"
#include "io/log.h"
#include "io/metrics.h"
#include "upstream/resolver.h"
#include "upstream/tls.h"

#define JF_RBUF 16384
#define JF_HOSTS_MAX 64
#define JF_ALLOW_MAX 16
#define JF_MSG_MAX 160

enum jf_state { JF_RESOLVING, JF_CONNECTING, JF_HANDSHAKE, JF_SENDING, JF_READING, JF_DONE };

/* Every way a fetch can end badly: a stable code for programs, a sentence for
 * people (never an address we resolved: that would map the private network). */
enum jf_why {
    JF_DISABLED, JF_INVALID, JF_NOT_HTTPS, JF_NOT_ALLOWED, JF_BLOCKED, JF_BUSY, JF_DNS, JF_FETCH,
    JF_TLS, JF_TIMEOUT, JF_TOO_LARGE, JF_HTTP_STATUS, JF_CONTENT_TYPE, JF_REDIRECTS,
    JF_BAD_REDIRECT, JF_EMPTY, JF_ENCODING, JF_INTERNAL,
};

static const struct {
    const char *code, *msg, *redirect_msg;
} jf_errors[] = {
    [JF_DISABLED] = {"JOB_URL_DISABLED", "Fetching job postings by URL is turned off on this server; paste the job description as text instead.", NULL},
    [JF_INVALID] = {"JOB_URL_INVALID", "The job posting URL is not a valid absolute https URL.", NULL},
    [JF_NOT_HTTPS] = {"JOB_URL_NOT_HTTPS", "Only https job posting URLs are fetched.", "The job board redirected to a non-https URL, which is not followed."},
    [JF_NOT_ALLOWED] = {"JOB_URL_NOT_ALLOWED", "The job posting URL's host is not on this server's list of allowed job boards.", "The job board redirected to a host that is not on this server's list of allowed job boards."},
    [JF_BLOCKED] = {"JOB_URL_BLOCKED_ADDRESS", "The job posting's host resolves to a private, loopback, link-local or otherwise non-public address, which is never fetched.", "The job board redirected to a host with a private, loopback, link-local or otherwise non-public address, which is never fetched."},
    [JF_BUSY] = {"JOB_URL_BUSY", "Too many job postings are being fetched right now; try again shortly.", NULL},
    [JF_DNS] = {"JOB_URL_DNS_FAILED", "The job posting's host name could not be resolved.", NULL},
    [JF_FETCH] = {"JOB_URL_FETCH_FAILED", "The job posting could not be downloaded (connection failed or the answer was malformed).", NULL},
    [JF_TLS] = {"JOB_URL_TLS_FAILED", "The job board's TLS certificate could not be verified, so nothing was fetched.", NULL},
    [JF_TIMEOUT] = {"JOB_URL_TIMEOUT", "The job board took too long to answer.", NULL},
    [JF_TOO_LARGE] = {"JOB_URL_TOO_LARGE", "The job posting page is larger than this server accepts.", NULL},
    [JF_HTTP_STATUS] = {"JOB_URL_HTTP_STATUS", "The job board did not return the page (HTTP error).", NULL},
    [JF_CONTENT_TYPE] = {"JOB_URL_BAD_CONTENT_TYPE", "The job posting URL does not point to an HTML or plain-text page.", NULL},
    [JF_REDIRECTS] = {"JOB_URL_TOO_MANY_REDIRECTS", "The job board redirected too many times.", NULL},
    [JF_BAD_REDIRECT] = {"JOB_URL_BAD_REDIRECT", "The job board sent a redirect without a usable target URL.", NULL},
    [JF_EMPTY] = {"JOB_URL_EMPTY", "The job posting page contains no text.", NULL},
    [JF_ENCODING] = {"JOB_URL_BAD_ENCODING", "The job board sent the page compressed although it was asked not to.", NULL},
    [JF_INTERNAL] = {"JOB_URL_INTERNAL", "The server could not fetch the job posting (internal error).", NULL},
};

struct jf_addr {
    int family;
    uint8_t b[16];
};

struct jobfetch_client {
    struct loop *loop;
    bool enabled;
    char *hostbuf;
    const char *hosts[JF_HOSTS_MAX];
    uint16_t ports[JF_HOSTS_MAX]; /* 443 unless the entry named one */
    size_t nhosts;
    struct jf_addr allow[JF_ALLOW_MAX];
    size_t nallow;
    uint64_t max_bytes, timeout_ms;
    size_t max_text;
    uint32_t max_inflight, inflight;
    struct resolver *res;
    struct tls_client *tls; /* no ALPN, no resumption: a new origin each time */
    struct jobfetch *list, *graveyard;
    struct jobfetch **tickv;
};

struct jobfetch {
    struct jobfetch_client *c;
    struct jobfetch *prev, *next;
    enum jf_state st;
    jobfetch_cb cb;
    void *ctx;
    struct url url;
    unsigned redirects;
    uint64_t t_start, deadline;
    struct resolver_query q;
    struct tls_conn t;
    bool dead, cancelled;
    char req[URL_TARGET_MAX + URL_HOST_MAX + 256];
    size_t req_len, sent;
    struct httpr_parser hp;
    uint64_t body_bytes;
    int status;
    char *text;
    struct html_text ht;
    char msg[JF_MSG_MAX];
    uint8_t rbuf[JF_RBUF];
};

/* ---- rules ------------------------------------------------------------------ */

/* Host and port: a job board is fetched on 443 unless its entry names a
 * port, so an allowlisted name cannot be used to reach its other services
 * (and a redirect cannot either). */
static bool jf_host_allowed(const struct jobfetch_client *c, const char *host, uint16_t port)
{
    for (size_t i = 0; i < c->nhosts; i++)
        if (strcmp(c->hosts[i], host) == 0 && c->ports[i] == port) /* both lowercase canonical */
            return true;
    return false;
}

static bool jf_test_allowed(const struct jobfetch_client *c, int family, const uint8_t *b)
{
    for (size_t i = 0; i < c->nallow; i++)
        if (c->allow[i].family == family && memcmp(c->allow[i].b, b, family == AF_INET ? 4 : 16) == 0)
            return true;
    return false;
}

/* The one gate every address passes before connect(). */
static enum addr_class jf_sockaddr_class(const struct jobfetch_client *c, const struct sockaddr *sa,
                                         socklen_t len)
{
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in) &&
        jf_test_allowed(c, AF_INET, (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr))
        return ADDR_PUBLIC;
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6) &&
        jf_test_allowed(c, AF_INET6, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr))
        return ADDR_PUBLIC;
    return addr_class_sockaddr(sa, len);
}

/* The filter tls.c applies before connect() and on getpeername() after it. */
static bool jf_addr_public(void *ctx, const struct sockaddr *sa, socklen_t len)
{
    return jf_sockaddr_class(ctx, sa, len) == ADDR_PUBLIC;
}

static enum addr_class jf_literal_class(const struct jobfetch_client *c, const struct url *u)
{
    int fam = u->kind == URL_HOST_IPV4 ? AF_INET : AF_INET6;
    if (jf_test_allowed(c, fam, u->ip))
        return ADDR_PUBLIC;
    return fam == AF_INET ? addr_class_v4(u->ip) : addr_class_v6(u->ip);
}

/* Every rule that needs no network: scheme, allowlist, literal address. */
static int jf_check_url(const struct jobfetch_client *c, int url_rc, const struct url *u)
{
    if (url_rc == URL_E_SCHEME || (url_rc == URL_OK && !u->https))
        return JF_NOT_HTTPS;
    if (url_rc != URL_OK)
        return JF_INVALID;
    if (!jf_host_allowed(c, u->host, u->port))
        return JF_NOT_ALLOWED;
    if (u->kind != URL_HOST_NAME && jf_literal_class(c, u) != ADDR_PUBLIC)
        return JF_BLOCKED;
    return -1;
}

/* ---- lifetime ------------------------------------------------------------------ */

static void jf_list_del(struct jobfetch **head, struct jobfetch *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        *head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
}

static void jf_list_add(struct jobfetch **head, struct jobfetch *f)
{
    f->prev = NULL;
    f->next = *head;
    if (*head)
        (*head)->prev = f;
    *head = f;
}

static void jf_free(struct jobfetch *f)
{
    free(f->text);
    free(f);
}

static void jf_free_all(struct jobfetch *f)
{
    while (f) {
        struct jobfetch *next = f->next;
        jf_free(f);
        f = next;
    }
}

/* Ends the fetch: socket closed, moved to the graveyard (freed by the next
 * tick, so the text stays valid through the callback and pointers on the
 * stack stay good), one log line, the callback unless cancelled.
 * why < 0 is success. */
static void jf_finish(struct jobfetch *f, int why, const char *detail)
{
    struct jobfetch_client *c = f->c;
    if (f->dead)
        return;
    resolver_cancel(c->res, &f->q);
    tls_conn_close(&f->t);
    f->dead = true;
    f->st = JF_DONE;
    jf_list_del(&c->list, f);
    jf_list_add(&c->graveyard, f);
    c->inflight--;
    metrics_inc(M_UP_REQUESTS, ME_JOB_FETCH, metrics_class_of(f->status, f->cancelled));
    metrics_observe(M_UP_DURATION, ME_JOB_FETCH, MPH_TOTAL, (double)(c->loop->now_ms - f->t_start) / 1e3);
    const char *code = why >= 0 ? jf_errors[why].code : NULL;
    const char *msg = NULL;
    if (why >= 0) {
        msg = f->redirects && jf_errors[why].redirect_msg ? jf_errors[why].redirect_msg : jf_errors[why].msg;
        if (why == JF_HTTP_STATUS) {
            snprintf(f->msg, sizeof f->msg, "The job board answered HTTP %d instead of the page.", f->status);
            msg = f->msg;
        }
    }
    log_event(why >= 0 ? LOG_WARN : LOG_INFO, 0, "jobfetch",
              "host=%s status=%d redirects=%u body_bytes=%llu text_bytes=%zu ms=%llu result=%s%s%s%s%s",
              f->url.host, f->status, f->redirects, (unsigned long long)f->body_bytes,
              why < 0 ? f->ht.len : (size_t)0, (unsigned long long)(c->loop->now_ms - f->t_start),
              code ? code : "ok", f->cancelled ? " cancelled" : "", detail ? " detail=\"" : "",
              detail ? detail : "", detail ? "\"" : "");
    if (f->cancelled)
        return;
    if (why >= 0)
        f->cb(f->ctx, code, msg, NULL, 0);
    else
        f->cb(f->ctx, NULL, NULL, f->text, f->ht.len);
}

/* ---- network stages --------------------------------------------------------------- */

static void jf_io(void *ctx, short revents);
static void jf_hop_begin(struct jobfetch *f);

/* tls.c must wait for the socket: arm the direction it names. */
static bool jf_tls_wait(struct jobfetch *f, ssize_t ret)
{
    if (ret != TLS_WANT_READ && ret != TLS_WANT_WRITE)
        return false;
    tls_conn_events(&f->t, ret == TLS_WANT_READ ? POLLIN : POLLOUT);
    return true;
}

static void jf_tls_start(struct jobfetch *f);

/* What tls_connect_start/tls_connect_event said about the connection. */
static void jf_connect_result(struct jobfetch *f, enum tls_connect res)
{
    char d[JF_MSG_MAX];
    switch (res) {
    case TLS_CONNECTING:
        f->st = JF_CONNECTING;
        return;
    case TLS_CONNECTED:
        f->st = JF_CONNECTING;
        jf_tls_start(f);
        return;
    case TLS_BLOCKED_ADDRESS:
        jf_finish(f, JF_BLOCKED, "address check before connect");
        return;
    case TLS_BLOCKED_PEER: /* second line of defence: the kernel's idea of the peer */
        jf_finish(f, JF_BLOCKED, "peer address check after connect");
        return;
    case TLS_LOOP_FULL:
        jf_finish(f, JF_BUSY, "event loop full");
        return;
    default:
        tls_error_text(&f->t, d, sizeof d);
        jf_finish(f, JF_FETCH, d);
        return;
    }
}

static void jf_on_resolved(void *ctx, struct resolver_query *q)
{
    struct jobfetch *f = ctx;
    if (f->dead || f->st != JF_RESOLVING)
        return;
    if (q->err) {
        jf_finish(f, JF_DNS, gai_strerror(q->err));
        return;
    }
    /* Any non-public answer refuses the host: a name that mixes public and
     * private addresses is an attack or a misconfiguration, either way not ours. */
    for (int i = 0; i < q->naddrs; i++) {
        enum addr_class k = jf_sockaddr_class(f->c, (struct sockaddr *)&q->addrs[i].ss, q->addrs[i].len);
        if (k != ADDR_PUBLIC) {
            char a[INET6_ADDRSTRLEN] = "?", d[JF_MSG_MAX];
            const struct sockaddr *sa = (struct sockaddr *)&q->addrs[i].ss;
            if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, a, sizeof a);
            else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, a, sizeof a);
            snprintf(d, sizeof d, "resolved to %s (%s)", a, addr_class_name(k));
            jf_finish(f, JF_BLOCKED, d);
            return;
        }
    }
    /* The same answer, address by address, goes to connect(): each is checked
     * again right before it (jf_addr_public), and the peer after it. */
    jf_connect_result(f, tls_connect_start(&f->t, q->addrs, q->naddrs, f->url.port, jf_addr_public,
                                           f->c, NULL));
}

static void jf_build_request(struct jobfetch *f)
{
    const struct url *u = &f->url;
    bool v6 = u->kind == URL_HOST_IPV6;
    char port[8] = "";
    if (u->port != 443)
        snprintf(port, sizeof port, ":%u", u->port);
    int n = snprintf(f->req, sizeof f->req,
                     "GET %s HTTP/1.1\r\nHost: %s%s%s%s\r\nUser-Agent: interview-jobfetch/0.1\r\n"
                     "Accept: text/html, text/plain;q=0.9\r\nAccept-Encoding: identity\r\n"
                     "Connection: close\r\n\r\n",
                     u->target, v6 ? "[" : "", u->host, v6 ? "]" : "", port);
    f->req_len = n > 0 && (size_t)n < sizeof f->req ? (size_t)n : 0; /* sizes make it fit */
    f->sent = 0;
}

static void jf_tls_start(struct jobfetch *f)
{
    if (tls_start(&f->t, f->c->tls, f->url.host) != 0) {
        char d[JF_MSG_MAX];
        tls_error_text(&f->t, d, sizeof d);
        jf_finish(f, JF_INTERNAL, d);
        return;
    }
    f->st = JF_HANDSHAKE;
    jf_build_request(f);
    jf_io(f, 0);
}

/* A 3xx with a Location: the target passes every rule again, then a new hop. */
static void jf_redirect(struct jobfetch *f)
{
    if (f->redirects >= JOBFETCH_MAX_REDIRECTS) {
        jf_finish(f, JF_REDIRECTS, NULL);
        return;
    }
    if (f->hp.location_long || !f->hp.location[0]) {
        jf_finish(f, JF_BAD_REDIRECT, "missing, repeated or overlong Location");
        return;
    }
    struct url next;
    int rc = url_resolve(&f->url, f->hp.location, strlen(f->hp.location), &next);
    f->redirects++;
    int why = jf_check_url(f->c, rc, &next);
    if (why >= 0) {
        char d[JF_MSG_MAX];
        snprintf(d, sizeof d, "redirect to host %.80s refused", rc == URL_OK ? next.host : "?");
        jf_finish(f, why == JF_INVALID ? JF_BAD_REDIRECT : why, d);
        return;
    }
    tls_conn_close(&f->t);
    f->url = next;
    jf_hop_begin(f);
}

/* "text/html; charset=..." -> html_text flags, or -1 when not a type we read. */
static int jf_text_flags(const char *ct)
{
    size_t tl = strcspn(ct, ";");
    while (tl > 0 && (ct[tl - 1] == ' ' || ct[tl - 1] == '\t'))
        tl--;
    bool html = tl == 9 && strncasecmp(ct, "text/html", 9) == 0;
    bool plain = tl == 10 && strncasecmp(ct, "text/plain", 10) == 0;
    if (!html && !plain)
        return -1;
    int flags = plain ? HTML_TEXT_PLAIN : 0;
    const char *cs = strcasestr(ct + tl, "charset=");
    if (cs) {
        cs += 8;
        if (*cs == '"')
            cs++;
        /* WHATWG Encoding maps all of these labels to windows-1252. */
        if (strncasecmp(cs, "iso-8859-1", 10) == 0 || strncasecmp(cs, "latin1", 6) == 0 ||
            strncasecmp(cs, "windows-1252", 12) == 0 || strncasecmp(cs, "us-ascii", 8) == 0)
            flags |= HTML_TEXT_LATIN1;
    }
    return flags;
}

/* true = go on with the body; false = the fetch ended or moved to a redirect */
static bool jf_on_head(struct jobfetch *f)
{
    struct jobfetch_client *c = f->c;
    int s = f->hp.status;
    f->status = s;
    if (s == 301 || s == 302 || s == 303 || s == 307 || s == 308) {
        jf_redirect(f);
        return false;
    }
    int why = -1, flags = jf_text_flags(f->hp.content_type);
    if (s < 200 || s > 299)
        why = JF_HTTP_STATUS;
    else if (flags < 0)
        why = JF_CONTENT_TYPE;
    else if (f->hp.content_encoded)
        why = JF_ENCODING;
    else if (f->hp.content_length >= 0 && (uint64_t)f->hp.content_length > c->max_bytes)
        why = JF_TOO_LARGE;
    else if (!(f->text = malloc(c->max_text + 1)))
        why = JF_INTERNAL;
    if (why >= 0) {
        jf_finish(f, why, why == JF_CONTENT_TYPE && f->hp.content_type[0] ? f->hp.content_type : NULL);
        return false;
    }
    html_text_init(&f->ht, f->text, c->max_text + 1, (unsigned)flags);
    return true;
}

static void jf_complete(struct jobfetch *f)
{
    html_text_finish(&f->ht);
    if (f->ht.len == 0)
        jf_finish(f, JF_EMPTY, NULL);
    else
        jf_finish(f, -1, f->ht.truncated ? "text truncated" : NULL);
}

/* Feed n plaintext bytes to the response parser. false = the fetch ended or moved on. */
static bool jf_parse(struct jobfetch *f, const uint8_t *p, size_t n)
{
    size_t used = 0;
    for (;;) {
        struct httpr_event ev = {0};
        ssize_t r = httpr_feed(&f->hp, p + used, n - used, &ev);
        if (r < 0) {
            char d[64];
            snprintf(d, sizeof d, "malformed response (%d)", (int)r);
            jf_finish(f, JF_FETCH, d);
            return false;
        }
        used += (size_t)r;
        if (ev.kind == HTTPR_EV_HEAD && !jf_on_head(f))
            return false;
        if (ev.kind == HTTPR_EV_BODY) {
            f->body_bytes += ev.len;
            if (f->body_bytes > f->c->max_bytes) {
                jf_finish(f, JF_TOO_LARGE, "body over the cap");
                return false;
            }
            html_text_feed(&f->ht, ev.data, ev.len);
        }
        if (ev.kind == HTTPR_EV_DONE) {
            jf_complete(f);
            return false;
        }
        if (ev.kind == HTTPR_EV_NONE)
            return true;
    }
}

static void jf_read(struct jobfetch *f)
{
    for (;;) {
        ssize_t n = tls_read(&f->t, f->rbuf, sizeof f->rbuf);
        if (n > 0) {
            if (!jf_parse(f, f->rbuf, (size_t)n))
                return;
            continue;
        }
        if (jf_tls_wait(f, n))
            return;
        bool reset = n < 0 && f->t.fail == TLS_F_RESET;
        if (n == 0 || reset || f->t.fail == TLS_F_EOF) {
            /* Framed by close: the end of the stream ends the body. Many
             * servers close without close_notify (TLS_F_EOF); for a posting's
             * text that is acceptable. A reset never ends a body. */
            if (httpr_eof(&f->hp) == HTTPR_EV_DONE && f->text && !reset)
                jf_complete(f);
            else
                jf_finish(f, JF_FETCH, "connection closed mid-response");
            return;
        }
        char d[JF_MSG_MAX];
        tls_error_text(&f->t, d, sizeof d);
        jf_finish(f, JF_FETCH, d);
        return;
    }
}

static void jf_handshake(struct jobfetch *f)
{
    int ret = tls_handshake(&f->t);
    if (jf_tls_wait(f, ret))
        return;
    if (ret != 0) {
        char d[JF_MSG_MAX];
        tls_error_text(&f->t, d, sizeof d);
        jf_finish(f, JF_TLS, d);
        return;
    }
    f->st = JF_SENDING;
    jf_io(f, 0);
}

static void jf_send(struct jobfetch *f)
{
    while (f->sent < f->req_len) {
        struct iovec iov = {.iov_base = f->req + f->sent, .iov_len = f->req_len - f->sent};
        ssize_t w = tls_writev(&f->t, &iov, 1);
        if (jf_tls_wait(f, w))
            return;
        if (w < 0) {
            char d[JF_MSG_MAX];
            tls_error_text(&f->t, d, sizeof d);
            jf_finish(f, JF_FETCH, d);
            return;
        }
        f->sent += (size_t)w;
    }
    f->st = JF_READING;
    memset(&f->hp, 0, sizeof f->hp);
    tls_conn_events(&f->t, POLLIN);
    jf_read(f); /* an early answer may already sit inside mbedTLS */
}

static void jf_io(void *ctx, short revents)
{
    struct jobfetch *f = ctx;
    if (f->dead)
        return;
    switch (f->st) {
    case JF_CONNECTING: {
        enum tls_connect res = tls_connect_event(&f->t, revents);
        if (res != TLS_CONNECTING) /* on TLS_CONNECTING: still waiting, or on to the next address */
            jf_connect_result(f, res);
        return;
    }
    case JF_HANDSHAKE:
        jf_handshake(f);
        return;
    case JF_SENDING:
        jf_send(f);
        return;
    case JF_READING:
        jf_read(f);
        return;
    default:
        tls_conn_events(&f->t, 0);
        return;
    }
}

static void jf_hop_begin(struct jobfetch *f)
{
    f->st = JF_RESOLVING;
    f->status = 0;
    f->body_bytes = 0;
    if (resolver_lookup(f->c->res, &f->q, f->url.host, jf_on_resolved, f) != 0)
        jf_finish(f, JF_INTERNAL, "host name too long for the resolver");
}

/* ---- public API ----------------------------------------------------------------- */

/* "a.com, B.org:8443" -> canonical lowercase hosts and their ports (443
 * when none is named); false on a malformed entry. */
static bool jf_parse_hosts(struct jobfetch_client *c, const char *list, char *err, size_t errlen)
{
    size_t n = strlen(list);
    c->hostbuf = malloc(n * 2 + 64);
    if (!c->hostbuf) {
        snprintf(err, errlen, "jobfetch: out of memory");
        return false;
    }
    char *w = c->hostbuf;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t k = strcspn(p, ",");
        size_t e = k;
        while (e > 0 && p[e - 1] == ' ')
            e--;
        char tmp[URL_HOST_MAX + 16];
        struct url u;
        int rc = e < URL_HOST_MAX + 3 ? snprintf(tmp, sizeof tmp, "https://%.*s/", (int)e, p) : -1;
        if (rc < 0 || url_parse(tmp, strlen(tmp), &u) != URL_OK || strcmp(u.target, "/") != 0 ||
            c->nhosts >= JF_HOSTS_MAX) {
            snprintf(err, errlen, "JOB_URL_ALLOWED_HOSTS: \"%.*s\" is not a host name or IP literal with an "
                     "optional port (no scheme or path), or more than %d entries", (int)(e > 80 ? 80 : e), p,
                     JF_HOSTS_MAX);
            return false;
        }
        size_t hl = strlen(u.host);
        memcpy(w, u.host, hl + 1);
        c->ports[c->nhosts] = u.port; /* 443 when none was named */
        c->hosts[c->nhosts++] = w;
        w += hl + 1;
        p += k;
    }
    return true;
}

static bool jf_parse_allow(struct jobfetch_client *c, const char *list, char *err, size_t errlen)
{
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t k = strcspn(p, ", ");
        char tmp[64];
        struct jf_addr a = {0};
        bool ok = k < sizeof tmp && c->nallow < JF_ALLOW_MAX;
        if (ok) {
            memcpy(tmp, p, k);
            tmp[k] = '\0';
            if (inet_pton(AF_INET, tmp, a.b) == 1)
                a.family = AF_INET;
            else if (inet_pton(AF_INET6, tmp, a.b) == 1)
                a.family = AF_INET6;
            else
                ok = false;
        }
        if (!ok) {
            snprintf(err, errlen, "JOB_URL_TEST_ALLOW_ADDRESSES: \"%.*s\" is not an IP address "
                     "(or more than %d)", (int)(k > 60 ? 60 : k), p, JF_ALLOW_MAX);
            return false;
        }
        c->allow[c->nallow++] = a;
        p += k;
    }
    return true;
}

/* The process CA source (tls_ca_use: the same one upstream.c uses), parsed
 * now so a bad one stops the start, and this module's TLS configuration. */
static bool jf_tls_setup(struct jobfetch_client *c, const struct jobfetch_config *cfg, char *err, size_t errlen)
{
    char m[200];
    if (tls_ca_use(cfg->ca_file, cfg->ca_pem, cfg->ca_pem_len, m, sizeof m) != 0 ||
        tls_ca_load(m, sizeof m) != 0 || !(c->tls = tls_client_create(NULL, false, m, sizeof m))) {
        snprintf(err, errlen, "jobfetch: TLS/CA setup: %s", m);
        return false;
    }
    return true;
}

struct jobfetch_client *jobfetch_create(struct loop *loop, const struct jobfetch_config *cfg,
                                        char *err, size_t errlen)
{
    struct jobfetch_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "jobfetch: out of memory");
        return NULL;
    }
    c->loop = loop;
    c->max_bytes = cfg->max_bytes;
    c->timeout_ms = cfg->timeout_ms;
    c->max_text = cfg->max_text ? cfg->max_text : JOBFETCH_TEXT_MAX;
    c->max_inflight = cfg->max_inflight && cfg->max_inflight < JOBFETCH_MAX_INFLIGHT ? cfg->max_inflight
                                                                                     : JOBFETCH_MAX_INFLIGHT;
    if (!jf_parse_hosts(c, cfg->allowed_hosts ? cfg->allowed_hosts : "", err, errlen) ||
        !jf_parse_allow(c, cfg->test_allow_addresses, err, errlen))
        goto fail;
    c->enabled = c->nhosts > 0;
    if (!c->enabled)
        return c; /* off: no TLS contexts, no resolver thread */
    log_event(LOG_INFO, 0, "jobfetch", "enabled for %zu host(s), max_bytes=%llu timeout_ms=%llu",
              c->nhosts, (unsigned long long)c->max_bytes, (unsigned long long)c->timeout_ms);
    if (c->nallow)
        log_event(LOG_WARN, 0, "jobfetch", "JOB_URL_TEST_ALLOW_ADDRESSES is set: %zu address(es) "
                  "treated as public. Test setting, never for production.", c->nallow);
    c->tickv = calloc(c->max_inflight, sizeof *c->tickv);
    if (!c->tickv || !jf_tls_setup(c, cfg, err, errlen))
        goto fail;
    c->res = resolver_create(loop, 0, err, errlen);
    if (!c->res)
        goto fail;
    return c;
fail:
    jobfetch_destroy(c);
    return NULL;
}

bool jobfetch_enabled(const struct jobfetch_client *jc)
{
    return jc && jc->enabled;
}

struct jobfetch *jobfetch_start(struct jobfetch_client *jc, const char *url, jobfetch_cb cb,
                                void *ctx, const char **code, const char **message)
{
    int why = -1;
    struct url u;
    if (!jobfetch_enabled(jc)) {
        why = JF_DISABLED;
    } else {
        size_t n = url ? strnlen(url, URL_MAX + 1) : 0;
        why = jf_check_url(jc, url ? url_parse(url, n, &u) : URL_E_SYNTAX, &u);
        if (why < 0 && jc->inflight >= jc->max_inflight)
            why = JF_BUSY;
    }
    struct jobfetch *f = why < 0 ? calloc(1, sizeof *f) : NULL;
    if (why < 0 && !f)
        why = JF_INTERNAL;
    if (why >= 0) {
        *code = jf_errors[why].code;
        *message = jf_errors[why].msg;
        log_event(LOG_INFO, 0, "jobfetch", "refused result=%s", *code);
        return NULL;
    }
    f->c = jc;
    f->cb = cb;
    f->ctx = ctx;
    f->url = u;
    tls_conn_init(&f->t, jc->loop, jf_io, f);
    f->t_start = jc->loop->now_ms;
    f->deadline = jc->timeout_ms ? f->t_start + jc->timeout_ms : UINT64_MAX;
    jf_list_add(&jc->list, f);
    jc->inflight++;
    f->st = JF_RESOLVING;
    if (resolver_lookup(jc->res, &f->q, f->url.host, jf_on_resolved, f) != 0) {
        /* Cannot happen (hosts are <= 253 bytes), and no callback may run here. */
        jf_list_del(&jc->list, f);
        jc->inflight--;
        jf_free(f);
        *code = jf_errors[JF_INTERNAL].code;
        *message = jf_errors[JF_INTERNAL].msg;
        return NULL;
    }
    *code = NULL;
    *message = NULL;
    return f;
}

void jobfetch_cancel(struct jobfetch *f)
{
    if (!f || f->dead)
        return;
    f->cancelled = true;
    jf_finish(f, JF_INTERNAL, "cancelled");
}

void jobfetch_tick(struct jobfetch_client *jc)
{
    if (!jc || !jc->enabled)
        return;
    uint64_t now = jc->loop->now_ms;
    uint32_t n = 0;
    for (struct jobfetch *f = jc->list; f && n < jc->max_inflight; f = f->next)
        jc->tickv[n++] = f;
    for (uint32_t i = 0; i < n; i++) {
        struct jobfetch *f = jc->tickv[i];
        if (!f->dead && now >= f->deadline) {
            static const char *const st[] = {"resolve", "connect", "tls handshake", "send", "read", "done"};
            jf_finish(f, JF_TIMEOUT, st[f->st]);
        }
    }
    jf_free_all(jc->graveyard);
    jc->graveyard = NULL;
}

void jobfetch_destroy(struct jobfetch_client *jc)
{
    if (!jc)
        return;
    while (jc->list) {
        jc->list->cancelled = true;
        jf_finish(jc->list, JF_INTERNAL, "shutdown");
    }
    jf_free_all(jc->graveyard);
    jc->graveyard = NULL;
    resolver_destroy(jc->res);
    tls_client_destroy(jc->tls); /* after its connections */
    free(jc->tickv);
    free(jc->hostbuf);
    free(jc);
}
