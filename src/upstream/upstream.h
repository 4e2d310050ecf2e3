/* Our HTTPS/HTTP client for the OpenAI-compatible API, driven by the server's
 * poll() loop: non-blocking connect, TLS 1.2/1.3 handshake over mbedTLS with
 * chain and host-name verification, request write, response read. Names are
 * resolved by a helper thread that hands results back through a pipe (the
 * loop never blocks), with a bounded-time cache. Idle connections are kept in
 * a bounded keep-alive pool per origin so a second request reuses the TLS
 * session. Timeouts per stage, and retries like the official SDKs (408, 409,
 * 429, 5xx and connection failures; up to max_retries; exponential backoff
 * with jitter; Retry-After / retry-after-ms honoured up to 60 s) -- but only
 * before any body byte has been handed to the caller.
 *
 * The caller (the interview pipeline) knows nothing of sockets; this module
 * knows nothing of dialects. Sockets and TLS are tls.c's (shared with
 * jobfetch.c: one CA chain, one random generator per process).
 * deps: parse/http_resp.c io/loop.c io/log.c io/clock.c io/rand.c
 * upstream/resolver.c upstream/tls.c, mbedTLS, cJSON */
#ifndef UPSTREAM_H
#define UPSTREAM_H
#include <sys/uio.h>

#include "parse/base.h"
#include "io/loop.h"

enum up_error {
    UP_OK = 0,
    UP_E_HTTP_STATUS = -1, /* non-2xx final answer; status and message set */
    UP_E_CONNECT = -2,     /* DNS, TCP or TLS failure (incl. certificate) after retries */
    UP_E_TIMEOUT = -3,     /* a stage deadline passed after retries */
    UP_E_PROTOCOL = -4,    /* malformed HTTP response */
    UP_E_BUSY = -5,        /* too many requests in flight (not retried) */
    UP_E_CANCELLED = -6,   /* never reported: up_cancel() suppresses callbacks */
    UP_E_RESET = -7,       /* connection lost after the body started (not retried) */
};

struct up_config {
    bool https;
    char host[256];
    uint16_t port;
    char prefix[512];        /* e.g. "/v1", no trailing '/' */
    const char *api_key;     /* "Authorization: Bearer <key>" (or "api-key: <key>"); never logged */
    bool key_header_api_key; /* Azure OpenAI: the key in an "api-key" header */
    const char *org_id;      /* "OpenAI-Organization: <id>" when not NULL/"" */
    const char *project_id;  /* "OpenAI-Project: <id>" when not NULL/"" */
    /* https: the process's CA source (tls_ca_use in tls.h), named here when
     * not named yet: the file when set, else the PEM buffer (NUL-terminated);
     * NULL/NULL = the one named already. A different source is refused. */
    const char *ca_file;
    const unsigned char *ca_pem; size_t ca_pem_len;
    uint32_t max_inflight;   /* requests in flight overall */
    uint32_t pool_size;      /* idle keep-alive connections kept */
    uint32_t max_retries;    /* 2 like the SDKs */
    uint64_t connect_timeout_ms;  /* DNS + TCP connect */
    uint64_t tls_timeout_ms;      /* TLS handshake */
    uint64_t first_byte_timeout_ms; /* request fully sent -> first response byte */
    uint64_t idle_timeout_ms;     /* between response bytes */
    uint64_t total_timeout_ms;    /* whole request incl. retries */
    uint64_t dns_cache_ms;        /* how long a resolved address is reused */
};

struct up_head {
    int status;
    const char *content_type; /* "" when absent */
    const char *request_id;   /* x-request-id, "" when absent */
};

struct up_callbacks {
    /* Final 2xx head (after any retries). */
    void (*on_head)(void *ctx, const struct up_head *h);
    /* Body bytes (de-chunked) of a 2xx answer. Return how many were taken;
     * fewer than n pauses reading until up_resume() (backpressure). */
    size_t (*on_body)(void *ctx, const uint8_t *p, size_t n);
    /* Exactly once, unless cancelled. err = UP_OK or an enum up_error;
     * status = HTTP status or 0; message = short reason for a log or an
     * error event ("HTTP <status>" for UP_E_HTTP_STATUS: the API's own
     * text is in up_error_body()). Never contains the API key. */
    void (*on_done)(void *ctx, int err, int status, const char *message);
};

struct up_request_spec {
    const char *method;       /* "POST" */
    const char *path;         /* appended to prefix: "/audio/speech" */
    const char *content_type; /* of the body */
    const char *accept;       /* NULL = none */
    const struct iovec *body; /* caller keeps these alive until on_done/cancel */
    int body_parts;
    uint64_t log_conn;        /* conn id for the completion log line (0 = none) */
};

struct up_client; /* opaque */
struct up_req;    /* opaque */

/* Create the client (resolver thread, TLS config). NULL + message on failure. */
struct up_client *up_create(struct loop *loop, const struct up_config *cfg, char *err, size_t errlen);
/* Start a request. NULL when max_inflight is reached, or when the spec is
 * unusable (CR/LF/controls in method, path, content_type or accept; path not
 * starting with '/'); nothing is called back then. Callbacks never run inside
 * up_start(), up_cancel() or up_resume(): always later, from the loop.
 * on_head/on_body may call up_cancel()/up_resume() on their own request. */
struct up_req *up_start(struct up_client *c, const struct up_request_spec *spec,
                        const struct up_callbacks *cb, void *ctx);
/* Inside on_done with UP_E_HTTP_STATUS: the raw body of that answer (its
 * first 4096 bytes, not NUL-terminated; *len may be 0).
 * The caller parses it (it may quote a masked API key: mask before logging). */
const char *up_error_body(const struct up_req *r, size_t *len);
/* Abandon a request: no callback afterwards; its connection is closed (not pooled). */
void up_cancel(struct up_req *r);
/* Continue delivering body bytes after on_body took fewer than offered. */
void up_resume(struct up_req *r);
/* Call every loop tick: deadlines, backoff timers, pool expiry. */
void up_tick(struct up_client *c);
/* Counters for tests and logs. requests: started; retries: counted retries
 * (a stale pooled connection retried on a fresh one is not one); connects: TCP
 * connects started; tls_handshakes: completed; reused: attempts served by a
 * pooled connection; dns_lookups: resolver queries (cache hits included). */
struct up_stats {
    uint64_t requests, retries, connects, tls_handshakes, reused, dns_lookups, dns_cache_hits;
    uint32_t inflight, pooled;
};
void up_get_stats(const struct up_client *c, struct up_stats *st);
void up_destroy(struct up_client *c);
#endif
