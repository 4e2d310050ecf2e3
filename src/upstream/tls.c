/* deps: io/loop.c io/rand.c, mbedTLS */
#include "upstream/tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/platform.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "io/pool.h"
#include "io/metrics.h"
#include "io/rand.h"

#define TLS_WRITE_MAX 16384 /* plaintext per mbedtls_ssl_write(): one record */
#define TLS_CA_ERR_MAX 320

struct tls_client {
    bool resume, have_session;
    mbedtls_ssl_config conf;
    mbedtls_ssl_session session; /* the last one, offered again (resume) */
};

struct tls_session {
    struct tls_client *tc;
    mbedtls_ssl_context ssl;
};

/* The process's CA chain: named once, parsed once, shared by every client. */
static struct {
    bool named, loaded, crt_init, psa_init;
    char *path;                 /* SSL_CERT_FILE, or NULL: the PEM buffer */
    const unsigned char *pem;
    size_t pem_len;
    mbedtls_x509_crt ca;
    char err[TLS_CA_ERR_MAX]; /* why the last parse failed */
} tls_g;

/* ---- CA chain --------------------------------------------------------------- */

static void tls_crt_reset(void)
{
    if (tls_g.crt_init)
        mbedtls_x509_crt_free(&tls_g.ca);
    mbedtls_x509_crt_init(&tls_g.ca);
    tls_g.crt_init = true;
    tls_g.loaded = false;
}

int tls_ca_use(const char *path, const unsigned char *pem, size_t pem_len, char *err, size_t errlen)
{
    bool file = path && path[0];
    if (!file && !(pem && pem_len))
        return 0;
    if (tls_g.named) {
        bool same = file ? tls_g.path && strcmp(tls_g.path, path) == 0
                         : !tls_g.path && tls_g.pem == pem && tls_g.pem_len == pem_len;
        if (same)
            return 0;
        if (tls_g.loaded || !tls_g.err[0]) {
            snprintf(err, errlen, "another CA source (%s) is in use: one per process",
                     tls_g.path ? tls_g.path : "the embedded bundle");
            return -1;
        }
        free(tls_g.path); /* the first source failed to parse: take this one */
        tls_g.path = NULL;
    }
    if (file && !(tls_g.path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    tls_g.pem = file ? NULL : pem;
    tls_g.pem_len = file ? 0 : pem_len;
    tls_g.named = true;
    tls_g.err[0] = '\0';
    tls_crt_reset();
    return 0;
}

bool tls_ca_named(void)
{
    return tls_g.named;
}

static void tls_mbed_text(char *out, size_t cap, const char *what, int ret)
{
    char e[128];
    mbedtls_strerror(ret, e, sizeof e);
    snprintf(out, cap, "%s: %s (-0x%04x)", what, e, (unsigned)-ret);
}

int tls_ca_load(char *err, size_t errlen)
{
    if (tls_g.loaded)
        return 0;
    if (!tls_g.named) {
        snprintf(err, errlen, "no CA certificates");
        return -1;
    }
    tls_crt_reset();
    int ret = tls_g.path ? mbedtls_x509_crt_parse_file(&tls_g.ca, tls_g.path)
                         : mbedtls_x509_crt_parse(&tls_g.ca, tls_g.pem, tls_g.pem_len);
    if (ret < 0 && tls_g.path) {
        char m[160];
        tls_mbed_text(m, sizeof m, "parse", ret);
        snprintf(tls_g.err, sizeof tls_g.err, "CA file %s: %s", tls_g.path, m);
    } else if (ret < 0) {
        tls_mbed_text(tls_g.err, sizeof tls_g.err, "embedded CA bundle", ret);
    } else if (tls_g.ca.version == 0) { /* nothing parsed */
        snprintf(tls_g.err, sizeof tls_g.err, "no usable CA certificate");
    } else {
        tls_g.loaded = true;
        return 0;
    }
    snprintf(err, errlen, "%s", tls_g.err);
    return -1;
}

void tls_free(void)
{
    if (tls_g.crt_init)
        mbedtls_x509_crt_free(&tls_g.ca);
    free(tls_g.path);
    if (tls_g.psa_init)
        mbedtls_psa_crypto_free();
    memset(&tls_g, 0, sizeof tls_g);
}

/* ---- configurations ---------------------------------------------------------- */

struct tls_client *tls_client_create(const char **alpn, bool resume, char *err, size_t errlen)
{
    if (!tls_g.psa_init) { /* TLS 1.3 and the X.509 code run on PSA crypto */
        mbedtls_platform_set_calloc_free(calloc, pool_free_big); /* record buffers leave no resident heap */
        psa_status_t ps = psa_crypto_init();
        if (ps != PSA_SUCCESS) {
            snprintf(err, errlen, "psa_crypto_init failed (%d)", (int)ps);
            return NULL;
        }
        tls_g.psa_init = true;
    }
    unsigned char probe;
    if (rand_bytes(&probe, 1) != 0) { /* seed now: a broken entropy source stops the start */
        snprintf(err, errlen, "random generator: seeding failed");
        return NULL;
    }
    struct tls_client *tc = calloc(1, sizeof *tc);
    if (!tc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!tls_g.crt_init)
        tls_crt_reset(); /* the chain the configuration points to; filled by tls_ca_load */
    tc->resume = resume;
    mbedtls_ssl_config_init(&tc->conf);
    mbedtls_ssl_session_init(&tc->session);
    int ret = mbedtls_ssl_config_defaults(&tc->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret == 0 && alpn) /* mbedTLS keeps the pointer: the list outlives the configuration */
        ret = mbedtls_ssl_conf_alpn_protocols(&tc->conf, alpn);
    if (ret != 0) {
        tls_mbed_text(err, errlen, "ssl config", ret);
        tls_client_destroy(tc);
        return NULL;
    }
    mbedtls_ssl_conf_authmode(&tc->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&tc->conf, &tls_g.ca, NULL);
    mbedtls_ssl_conf_rng(&tc->conf, rand_mbedtls, NULL);
    mbedtls_ssl_conf_min_tls_version(&tc->conf, MBEDTLS_SSL_VERSION_TLS1_2);
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
    if (resume) {
        mbedtls_ssl_conf_session_tickets(&tc->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
        mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
            &tc->conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
#endif
    }
#endif
    return tc;
}

void tls_client_destroy(struct tls_client *tc)
{
    if (!tc)
        return;
    mbedtls_ssl_session_free(&tc->session);
    mbedtls_ssl_config_free(&tc->conf);
    free(tc);
}

/* ---- connections --------------------------------------------------------------- */

static void tls_set_fail(struct tls_conn *k, enum tls_fail fail, int err, const char *what)
{
    k->fail = fail;
    k->err = err;
    k->what = what;
}

void tls_conn_init(struct tls_conn *k, struct loop *loop, loop_fn fn, void *ctx)
{
    memset(k, 0, sizeof *k);
    k->fd = k->slot = -1;
    k->loop = loop;
    k->fn = fn;
    k->ctx = ctx;
}

void tls_conn_close(struct tls_conn *k)
{
    tls_conn_unwatch(k);
    if (k->s) {
        mbedtls_ssl_free(&k->s->ssl);
        free(k->s);
        k->s = NULL;
    }
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
}

void tls_conn_events(struct tls_conn *k, short events)
{
    if (k->slot >= 0)
        loop_set_events(k->loop, k->slot, events);
}

int tls_conn_watch(struct tls_conn *k, short events)
{
    if (k->slot >= 0) {
        loop_set_events(k->loop, k->slot, events);
        return 0;
    }
    return loop_add(k->loop, k->fd, events, k->fn, k->ctx, &k->slot);
}

void tls_conn_unwatch(struct tls_conn *k)
{
    if (k->slot >= 0)
        loop_del(k->loop, k->slot);
    k->slot = -1;
}

/* TCP is up: the kernel's idea of the peer must pass the filter too. */
static enum tls_connect tls_connected(struct tls_conn *k)
{
    if (k->filter) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        if (getpeername(k->fd, (struct sockaddr *)&peer, &pl) != 0 ||
            !k->filter(k->filter_ctx, (struct sockaddr *)&peer, pl)) {
            tls_conn_close(k);
            tls_set_fail(k, TLS_F_OTHER, 0, "peer address check after connect");
            return TLS_BLOCKED_PEER;
        }
    }
    return TLS_CONNECTED;
}

/* Connect to addrs[addr_i], moving on to the next address on an immediate failure. */
static enum tls_connect tls_connect_next(struct tls_conn *k)
{
    int last = k->err;
    for (; k->addr_i < k->naddrs; k->addr_i++) {
        struct resolver_addr a = k->addrs[k->addr_i];
        int fam = a.ss.ss_family;
        if (fam == AF_INET)
            ((struct sockaddr_in *)&a.ss)->sin_port = htons(k->port);
        else if (fam == AF_INET6)
            ((struct sockaddr_in6 *)&a.ss)->sin6_port = htons(k->port);
        else
            continue;
        /* The address handed to connect() is the one checked, right here. */
        if (k->filter && !k->filter(k->filter_ctx, (struct sockaddr *)&a.ss, a.len)) {
            tls_set_fail(k, TLS_F_OTHER, 0, "address check before connect");
            return TLS_BLOCKED_ADDRESS;
        }
        int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (k->connects)
            (*k->connects)++;
        int rc = connect(fd, (struct sockaddr *)&a.ss, a.len);
        if (rc != 0 && errno != EINPROGRESS && errno != EINTR) {
            last = errno;
            close(fd);
            continue;
        }
        k->fd = fd;
        if (loop_add(k->loop, fd, POLLOUT, k->fn, k->ctx, &k->slot) != 0) {
            tls_conn_close(k);
            tls_set_fail(k, TLS_F_OTHER, 0, "connect: event loop full");
            return TLS_LOOP_FULL;
        }
        return rc == 0 ? tls_connected(k) : TLS_CONNECTING;
    }
    tls_set_fail(k, TLS_F_OTHER, last, last ? "connect" : "connect: no usable address");
    return TLS_CONNECT_FAILED;
}

enum tls_connect tls_connect_start(struct tls_conn *k, const struct resolver_addr *addrs, int n,
                                   uint16_t port, tls_addr_filter filter, void *filter_ctx,
                                   uint64_t *connects)
{
    tls_conn_close(k);
    k->addrs = addrs;
    k->naddrs = n;
    k->addr_i = 0;
    k->port = port;
    k->filter = filter;
    k->filter_ctx = filter_ctx;
    k->connects = connects;
    tls_set_fail(k, TLS_F_NONE, 0, NULL);
    return tls_connect_next(k);
}

enum tls_connect tls_connect_event(struct tls_conn *k, short revents)
{
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
        err = errno;
    if (err == 0 && !(revents & (POLLOUT | POLLERR | POLLHUP)))
        return TLS_CONNECTING;
    if (err == 0 && (revents & POLLOUT))
        return tls_connected(k);
    /* This address failed: close it and try the next one. */
    tls_conn_close(k);
    k->err = err ? err : ECONNREFUSED;
    k->addr_i++;
    return tls_connect_next(k);
}

/* ---- TLS ------------------------------------------------------------------------- */

static int tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    const struct tls_conn *k = ctx;
    for (;;) {
        ssize_t n = send(k->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return MBEDTLS_ERR_SSL_WANT_WRITE;
        return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_SEND_FAILED;
    }
}

static int tls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    const struct tls_conn *k = ctx;
    for (;;) {
        ssize_t n = recv(k->fd, buf, len, 0);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return MBEDTLS_ERR_SSL_WANT_READ;
        return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
    }
}

/* Keep the session for the next handshake of this client (resume only). */
static void tls_save_session(struct tls_conn *k)
{
    struct tls_client *tc = k->s->tc;
    if (!tc->resume)
        return;
    mbedtls_ssl_session s;
    mbedtls_ssl_session_init(&s);
    if (mbedtls_ssl_get_session(&k->s->ssl, &s) == 0) {
        if (tc->have_session)
            mbedtls_ssl_session_free(&tc->session);
        tc->session = s;
        tc->have_session = true;
    } else {
        mbedtls_ssl_session_free(&s);
    }
}

/* An mbedTLS result that is not data: TLS_WANT_*, or TLS_ERROR with the cause kept. */
static int tls_result(struct tls_conn *k, int ret, const char *what)
{
    if (ret == MBEDTLS_ERR_SSL_WANT_READ)
        return TLS_WANT_READ;
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
        return TLS_WANT_WRITE;
    enum tls_fail f = ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ? TLS_F_CERT
                      : ret == MBEDTLS_ERR_SSL_CONN_EOF          ? TLS_F_EOF
                      : ret == MBEDTLS_ERR_NET_CONN_RESET        ? TLS_F_RESET
                                                                 : TLS_F_OTHER;
    tls_set_fail(k, f, ret, what);
    if (f == TLS_F_CERT)
        k->verify = mbedtls_ssl_get_verify_result(&k->s->ssl);
    return TLS_ERROR;
}

int tls_start(struct tls_conn *k, struct tls_client *tc, const char *host)
{
    char m[8];
    if (tls_ca_load(m, sizeof m) != 0) { /* the whole text stays in tls_g.err */
        tls_set_fail(k, TLS_F_SETUP, 0, tls_g.err);
        return TLS_ERROR;
    }
    k->s = calloc(1, sizeof *k->s);
    if (!k->s) {
        tls_set_fail(k, TLS_F_SETUP, MBEDTLS_ERR_SSL_ALLOC_FAILED, "tls setup");
        return TLS_ERROR;
    }
    k->s->tc = tc;
    mbedtls_ssl_init(&k->s->ssl);
    int ret = mbedtls_ssl_setup(&k->s->ssl, &tc->conf);
    if (ret == 0)
        ret = mbedtls_ssl_set_hostname(&k->s->ssl, host);
    if (ret == 0 && tc->have_session)
        (void)mbedtls_ssl_set_session(&k->s->ssl, &tc->session); /* resumption is best effort */
    if (ret != 0) {
        tls_set_fail(k, TLS_F_SETUP, ret, "tls setup");
        return TLS_ERROR;
    }
    mbedtls_ssl_set_bio(&k->s->ssl, k, tls_bio_send, tls_bio_recv, NULL);
    return 0;
}

int tls_handshake(struct tls_conn *k)
{
    int ret = mbedtls_ssl_handshake(&k->s->ssl);
    if (ret != 0) {
        int r = tls_result(k, ret, "tls handshake");
        if (r == TLS_ERROR)
            metrics_inc(M_TLS_HANDSHAKES, MO_FAILED, 0);
        return r;
    }
    metrics_inc(M_TLS_HANDSHAKES, MO_OK, 0);
    /* TLS 1.3 sessions arrive later, as tickets (see tls_read). */
    if (mbedtls_ssl_get_version_number(&k->s->ssl) == MBEDTLS_SSL_VERSION_TLS1_2)
        tls_save_session(k);
    return 0;
}

static ssize_t tls_plain_read(struct tls_conn *k, void *buf, size_t cap)
{
    for (;;) {
        ssize_t n = recv(k->fd, buf, cap, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return TLS_WANT_READ;
        tls_set_fail(k, errno == ECONNRESET ? TLS_F_RESET : TLS_F_OTHER, errno, "read");
        return TLS_ERROR;
    }
}

ssize_t tls_read(struct tls_conn *k, void *buf, size_t cap)
{
    if (!k->s)
        return tls_plain_read(k, buf, cap);
    for (;;) {
        int ret = mbedtls_ssl_read(&k->s->ssl, buf, cap);
        if (ret > 0)
            return ret;
        if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
            return 0;
        if (ret != MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
            return tls_result(k, ret, "tls read");
        tls_save_session(k);
    }
}

static ssize_t tls_plain_writev(struct tls_conn *k, const struct iovec *iov, int n)
{
    struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    for (;;) {
        ssize_t w = sendmsg(k->fd, &mh, MSG_NOSIGNAL);
        if (w >= 0)
            return w;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return TLS_WANT_WRITE;
        tls_set_fail(k, errno == ECONNRESET || errno == EPIPE ? TLS_F_RESET : TLS_F_OTHER, errno, "send");
        return TLS_ERROR;
    }
}

ssize_t tls_writev(struct tls_conn *k, const struct iovec *iov, int n)
{
    if (!k->s)
        return tls_plain_writev(k, iov, n);
    int i = 0;
    while (i < n && iov[i].iov_len == 0)
        i++;
    if (i == n)
        return 0;
    size_t len = iov[i].iov_len < TLS_WRITE_MAX ? iov[i].iov_len : TLS_WRITE_MAX;
    for (;;) {
        int ret = mbedtls_ssl_write(&k->s->ssl, iov[i].iov_base, len);
        if (ret >= 0)
            return ret;
        if (ret != MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
            return tls_result(k, ret, "tls write");
        tls_save_session(k);
    }
}

bool tls_pending(const struct tls_conn *k)
{
    return k->s && mbedtls_ssl_check_pending(&k->s->ssl);
}

void tls_error_text(const struct tls_conn *k, char *out, size_t cap)
{
    if (k->fail == TLS_F_CERT) {
        /* mbedTLS lists one problem per line: made one line, ';'-separated. */
        char info[160];
        int n = mbedtls_x509_crt_verify_info(info, sizeof info, "", k->verify);
        for (int i = 0; i < n; i++)
            if (info[i] == '\n')
                info[i] = i == n - 1 ? '\0' : ';';
        snprintf(out, cap, "tls: certificate verification failed: %s", n > 0 ? info : "?");
    } else if (!k->what) {
        snprintf(out, cap, "no error");
    } else if (k->err < 0) {
        tls_mbed_text(out, cap, k->what, k->err);
    } else if (k->err > 0) {
        snprintf(out, cap, "%s: %s", k->what, strerror(k->err));
    } else {
        snprintf(out, cap, "%s", k->what);
    }
}
