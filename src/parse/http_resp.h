/* Incremental HTTP/1.1 response parser (RFC 9112) for the upstream client:
 * status line, headers (only the ones we use are kept), and the body framed
 * by Content-Length, chunked transfer coding, or connection close. Push-style:
 * feed whatever arrived, get one event per call; body bytes are returned as
 * pointers into the caller's input (chunk framing removed, no copy).
 * 1xx interim responses are skipped (101 is refused: we never ask to switch).
 * Strict: CRLF line ends only, no obs-fold, no control bytes but HTAB in
 * values, status 100..599, Content-Length digits only (duplicates must agree,
 * at most 2^62), Transfer-Encoding exactly "chunked" and never with
 * Content-Length. A response with neither is framed by close (until_close).
 * No I/O, no allocation. deps: none. */
#ifndef HTTP_RESP_H
#define HTTP_RESP_H
#include "parse/base.h"

#define HTTPR_LINE_MAX 4096 /* longest status, header, chunk-size or trailer line (CRLF excluded) */
#define HTTPR_LOCATION_MAX 2048 /* longest Location value kept (redirects); longer sets location_long */
#define HTTPR_HEADERS_MAX 100 /* header lines per head; trailer lines, separately */

enum httpr_error {
    HTTPR_E_BAD_STATUS = -1,  /* malformed status line */
    HTTPR_E_BAD_HEADER = -2,  /* malformed header line (incl. obs-fold, NUL, bare CR) */
    HTTPR_E_TOO_LONG = -3,    /* a line over HTTPR_LINE_MAX or too many headers */
    HTTPR_E_BAD_LENGTH = -4,  /* bad/conflicting Content-Length, or with Transfer-Encoding */
    HTTPR_E_BAD_CHUNK = -5,   /* malformed chunk size line / missing CRLF after chunk data */
    HTTPR_E_TRUNCATED = -6,   /* httpr_eof() before the body was complete */
    HTTPR_E_TE = -7,          /* Transfer-Encoding other than chunked */
};

enum httpr_event_kind {
    HTTPR_EV_NONE = 0, /* consumed bytes, nothing to report */
    HTTPR_EV_HEAD,     /* status and headers complete: see p->status etc. */
    HTTPR_EV_BODY,     /* body bytes in ev->data/len */
    HTTPR_EV_DONE,     /* response complete; bytes after it belong to the next response */
};

struct httpr_event {
    enum httpr_event_kind kind;
    const uint8_t *data;
    size_t len;
};

struct httpr_parser {
    /* set before the first feed */
    bool head_request; /* response to HEAD: no body */
    /* results, valid from HTTPR_EV_HEAD on */
    int status;
    int minor_version;
    int64_t content_length; /* -1 when absent */
    bool chunked;
    bool keep_alive;        /* connection may be reused after DONE */
    bool until_close;       /* body ends when the connection closes */
    int64_t retry_after_ms; /* from retry-after-ms or Retry-After (seconds, may be fractional); -1 absent */
    int8_t should_retry;    /* x-should-retry: 1 true, 0 false, -1 absent */
    char content_type[128];
    char request_id[128];
    char location[HTTPR_LOCATION_MAX + 1]; /* "" when absent */
    bool location_long;     /* Location repeated or over HTTPR_LOCATION_MAX (location[] is then "") */
    bool content_encoded;   /* a Content-Encoding other than "identity" (e.g. gzip) */
    /* private state (zero-initialise; httpr_reset() between responses) */
    bool location_seen;     /* a Location field came, even an empty one (the next is a repeat) */
    uint8_t state;
    uint16_t nheaders;
    uint32_t line_len;
    uint64_t remaining; /* body or chunk bytes left */
    int8_t err;         /* the error a dead parser repeats */
    bool line_cr;       /* CR seen at the end of p->line; LF must follow */
    bool te_seen;       /* a Transfer-Encoding field was seen */
    bool te_chunked;    /* ... exactly one, and it says "chunked" */
    bool conn_close, conn_keep_alive; /* Connection tokens seen */
    bool ra_ms_seen;    /* retry-after-ms seen: it wins over Retry-After */
    char line[HTTPR_LINE_MAX];
};

/* Consume from in[0..n). Returns bytes consumed (>= 0) and *ev, or a negative
 * enum httpr_error (the parser is then dead and repeats it). Callers loop until n
 * is used up; after HTTPR_EV_DONE, stop and httpr_reset() before feeding the
 * next response.
 * Event rules:
 *  - HTTPR_EV_NONE is returned only when all n bytes were consumed and nothing
 *    is pending: it is the one "need more input" answer.
 *  - Any other event may come with fewer than n bytes consumed, and DONE may
 *    come with 0 consumed (right after the last BODY of a Content-Length body,
 *    or right after HEAD when there is no body). So loop until NONE or DONE,
 *    calling again even when n - used == 0:
 *        do { r = httpr_feed(p, in + used, n - used, &ev); ...; used += r; }
 *        while (ev.kind != HTTPR_EV_NONE && ev.kind != HTTPR_EV_DONE);
 *    A loop that stops when n is used up misses a DONE that needs no bytes.
 *  - BODY data points into in[] and is never empty; after DONE, feed keeps
 *    answering DONE with 0 consumed. */
ssize_t httpr_feed(struct httpr_parser *p, const uint8_t *in, size_t n, struct httpr_event *ev);
/* The peer closed. Returns HTTPR_EV_DONE if the response is complete (body
 * framed by close, or already done), else HTTPR_E_TRUNCATED (a parser already
 * dead repeats its own error instead). */
int httpr_eof(struct httpr_parser *p);
/* Ready for the next response; keeps head_request (set it again if needed). */
void httpr_reset(struct httpr_parser *p);
#endif
