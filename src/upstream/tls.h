/* The process's one outbound TCP/TLS client, shared by upstream.c (the pooled
 * API client) and jobfetch.c (the SSRF-safe posting fetch). Driven by the
 * caller's loop: nothing here blocks; every call returns at once saying what
 * to wait for.
 *   - connect: non-blocking, across the resolver's addresses in order (the
 *     next one when one fails), with an optional address filter called on
 *     every address before connect() and on getpeername() after it;
 *   - TLS 1.2/1.3 over mbedTLS with chain and host-name verification; the CA
 *     chain (embedded bundle or SSL_CERT_FILE) is parsed once per process on
 *     first use and shared by every client; randomness from io/rand.c;
 *   - read / writev / handshake results as enum tls_io; tls_error_text()
 *     says what went wrong (short, no secrets).
 * A connection may also stay plain TCP (http:// upstreams): read and writev
 * then go straight to the socket.
 * Loop thread only. deps: io/loop.c io/rand.c upstream/resolver.h, mbedTLS */
#ifndef TLS_H
#define TLS_H
#include <sys/socket.h>
#include <sys/uio.h>

#include "parse/base.h"
#include "io/loop.h"
#include "upstream/resolver.h"

/* Results of tls_handshake, tls_read and tls_writev below 0; >= 0 is a byte
 * count (tls_read: 0 = the peer ended the stream in order; tls_handshake: 0 =
 * done). After a WANT_* call again with the same arguments. */
enum tls_io {
    TLS_WANT_READ = -1,  /* wait for POLLIN */
    TLS_WANT_WRITE = -2, /* wait for POLLOUT */
    TLS_ERROR = -3,      /* the connection is unusable: tls_fail(), tls_error_text() */
};

/* Why the last call returned TLS_ERROR. */
enum tls_fail {
    TLS_F_NONE,
    TLS_F_SETUP, /* local TLS setup (memory, CA chain): asking again will not help */
    TLS_F_CERT,  /* the server's certificate chain or name was refused */
    TLS_F_EOF,   /* the peer closed the socket without a TLS close_notify */
    TLS_F_RESET, /* the peer reset the connection */
    TLS_F_OTHER, /* protocol error, alert, socket error */
};

/* Results of tls_connect_start / tls_connect_event. On every result but
 * TLS_CONNECTING and TLS_CONNECTED the socket is closed already. */
enum tls_connect {
    TLS_CONNECTING,      /* in progress: on the next event call tls_connect_event() */
    TLS_CONNECTED,       /* TCP is up (and the peer passed the filter) */
    TLS_CONNECT_FAILED,  /* every address failed; tls_error_text() has the last errno */
    TLS_BLOCKED_ADDRESS, /* the filter refused an address before connect() */
    TLS_BLOCKED_PEER,    /* the filter refused getpeername() after the connect */
    TLS_LOOP_FULL,       /* no loop slot for the socket */
};

/* true = this address may be connected to. sa carries the port. */
typedef bool (*tls_addr_filter)(void *ctx, const struct sockaddr *sa, socklen_t len);

struct tls_client;  /* a TLS configuration (ALPN, session resumption) */
struct tls_session; /* one connection's mbedTLS state */

/* One connection: embed it, tls_conn_init() it, tls_conn_close() it. The
 * fields are read-only outside tls.c except where noted. */
struct tls_conn {
    int fd;   /* -1: none */
    int slot; /* loop slot, -1: not registered */
    struct loop *loop;
    loop_fn fn; /* registered with the socket */
    void *ctx;
    struct tls_session *s; /* NULL: plain TCP (or TLS not started) */
    /* the connect in progress */
    const struct resolver_addr *addrs;
    int naddrs, addr_i;
    uint16_t port;
    tls_addr_filter filter;
    void *filter_ctx;
    uint64_t *connects; /* counts connect() calls when not NULL */
    /* the last failure */
    enum tls_fail fail;
    int err;          /* errno (> 0), an mbedTLS code (< 0), or 0: what is the whole story */
    const char *what; /* the call that failed: "connect", "tls read", ... */
    uint32_t verify;  /* mbedTLS verify flags of a TLS_F_CERT failure */
};

/* ---- the process's CA chain ---- */

/* Name the CA source: the file when path is non-empty, else the PEM buffer
 * (NUL included in pem_len; the caller keeps it alive). The first source
 * named is the process's; naming the same one again is a no-op, naming
 * another fails (0 / -1 with err set), unless the first one failed to parse.
 * Nothing is parsed here. */
int tls_ca_use(const char *path, const unsigned char *pem, size_t pem_len, char *err, size_t errlen);
/* true once a source is named */
bool tls_ca_named(void);
/* Parse the named source unless done already (0), or -1 with err set. A
 * failure is retried on the next call. */
int tls_ca_load(char *err, size_t errlen);
/* Frees the CA chain and mbedTLS's crypto state; call after every client is
 * destroyed, at exit. */
void tls_free(void);

/* ---- configurations ---- */

/* alpn: NULL-terminated protocol list or NULL (none offered), kept by
 * pointer: it must outlive the client (a static array). resume: offer
 * session tickets and resume the last session of this client on the next
 * handshake (meant for clients of one origin). NULL + err on failure. */
struct tls_client *tls_client_create(const char **alpn, bool resume, char *err, size_t errlen);
void tls_client_destroy(struct tls_client *tc);

/* ---- connections ---- */

void tls_conn_init(struct tls_conn *k, struct loop *loop, loop_fn fn, void *ctx);
/* Start connecting to addrs[0..n) in order, port set on each; each connect()
 * counted in *connects when not NULL. filter may be NULL. The socket is
 * registered for POLLOUT with the conn's callback. */
enum tls_connect tls_connect_start(struct tls_conn *k, const struct resolver_addr *addrs, int n,
                                   uint16_t port, tls_addr_filter filter, void *filter_ctx,
                                   uint64_t *connects);
/* An event on a connecting socket: still waiting, up, or on to the next address. */
enum tls_connect tls_connect_event(struct tls_conn *k, short revents);
/* Begin TLS on a connected socket, verifying host (the SNI as well). 0, or
 * TLS_ERROR (TLS_F_SETUP). The CA chain is loaded first if it was not. */
int tls_start(struct tls_conn *k, struct tls_client *tc, const char *host);
/* 0 when the handshake is done, else TLS_WANT_* / TLS_ERROR (TLS_F_CERT for
 * a refused certificate). */
int tls_handshake(struct tls_conn *k);
/* Plaintext: > 0 bytes, 0 end of stream, or TLS_WANT_* / TLS_ERROR. */
ssize_t tls_read(struct tls_conn *k, void *buf, size_t cap);
/* Send from iov[0..n): bytes taken (> 0), or TLS_WANT_* / TLS_ERROR. Over TLS
 * one record (at most 16 KiB of the first non-empty piece) per call. */
ssize_t tls_writev(struct tls_conn *k, const struct iovec *iov, int n);
/* true when decrypted bytes wait inside mbedTLS (no socket event will come). */
bool tls_pending(const struct tls_conn *k);
/* The last failure as one short line: "connect: Connection refused",
 * "tls handshake: SSL - ... (-0x7780)", "tls: certificate verification
 * failed: ...". */
void tls_error_text(const struct tls_conn *k, char *out, size_t cap);
/* Interest set of a registered socket (no-op when not registered). */
void tls_conn_events(struct tls_conn *k, short events);
/* Register the socket again after tls_conn_unwatch(): 0 or -1 (loop full). */
int tls_conn_watch(struct tls_conn *k, short events);
/* Leave the loop (e.g. while the reader is paused: no POLLHUP spin). */
void tls_conn_unwatch(struct tls_conn *k);
/* Close the socket and free the TLS state; k can connect again. */
void tls_conn_close(struct tls_conn *k);
#endif
