/* Fetching a job posting for the coach (seed 003), safe against SSRF: only
 * https, only hosts named in JOB_URL_ALLOWED_HOSTS (empty = fetching off),
 * only public addresses (no loopback, private, link-local, CGNAT, multicast,
 * unspecified or cloud-metadata ranges, v4 or v6, incl. v4-mapped), checked
 * on the address actually connected to; redirects followed only when their
 * target passes the same rules, at most JOBFETCH_MAX_REDIRECTS; size and time
 * capped; the HTML reduced to plain UTF-8 text.
 *
 * The caller (the coach) knows no socket; this module knows no dialect.
 * deps: parse/addrclass.c parse/html_text.c parse/http_resp.c parse/url.c
 * io/loop.c io/log.c io/clock.c io/rand.c upstream/resolver.c upstream/tls.c, mbedTLS */
#ifndef JOBFETCH_H
#define JOBFETCH_H
#include "parse/base.h"
#include "io/loop.h"

#define JOBFETCH_MAX_REDIRECTS 3

struct jobfetch_config {
    const char *allowed_hosts;  /* comma-separated host names; "" = fetching off */
    uint64_t max_bytes;         /* body cap before HTML reduction */
    uint64_t timeout_ms;        /* whole fetch incl. redirects */
    /* The process's CA source (tls_ca_use in tls.h), named here when not named
     * yet: the file when set, else the PEM buffer; NULL/NULL = the one named
     * already. A different source than the process's is refused. */
    const char *ca_file;
    const unsigned char *ca_pem; size_t ca_pem_len;
    /* JOB_URL_TEST_ALLOW_ADDRESSES: comma-separated IP literals treated as
     * public (tests run a job board on 127.0.0.2). NULL/"" = none: the default. */
    const char *test_allow_addresses;
    size_t max_text;       /* text handed to the callback, bytes; 0 = JOBFETCH_TEXT_MAX */
    uint32_t max_inflight; /* fetches at once; 0 = JOBFETCH_MAX_INFLIGHT */
};

#define JOBFETCH_TEXT_MAX (64 * 1024)
#define JOBFETCH_MAX_INFLIGHT 16 /* also the loop slots to reserve (+1 for the resolver) */

struct jobfetch_client;
struct jobfetch;

/* Exactly once per started fetch unless cancelled; never from inside
 * jobfetch_start() or jobfetch_cancel(). On success code == NULL and text/len
 * hold the posting as plain UTF-8 text (valid only during the call). On
 * failure code is a stable error code (e.g. "JOB_URL_NOT_ALLOWED",
 * "JOB_URL_BLOCKED_ADDRESS", "JOB_URL_FETCH_FAILED", ...: list them all in the
 * README) and message one sentence saying why, fit to show the client
 * (never containing secrets); text is NULL. */
typedef void (*jobfetch_cb)(void *ctx, const char *code, const char *message,
                            const char *text, size_t len);

struct jobfetch_client *jobfetch_create(struct loop *loop, const struct jobfetch_config *cfg,
                                        char *err, size_t errlen);
/* true when JOB_URL_ALLOWED_HOSTS is non-empty */
bool jobfetch_enabled(const struct jobfetch_client *jc);
/* Start a fetch. Returns NULL when refused at once (fetching off, bad URL,
 * not https, host not allowed, too many fetches in flight): then *code and
 * *message are set and cb is never called. */
struct jobfetch *jobfetch_start(struct jobfetch_client *jc, const char *url, jobfetch_cb cb,
                                void *ctx, const char **code, const char **message);
/* Abandon a fetch: no callback afterwards, its memory and socket freed.
 * The handle is invalid once its callback has returned: do not cancel it then. */
void jobfetch_cancel(struct jobfetch *f);
/* Call every loop tick (deadlines). */
void jobfetch_tick(struct jobfetch_client *jc);
void jobfetch_destroy(struct jobfetch_client *jc);
#endif
