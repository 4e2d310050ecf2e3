/* Strict, incremental HTTP/1.1 request-head parser (RFC 9110/9112).
 *
 * The caller appends arriving bytes to one buffer and calls httpq_parse() with
 * the whole buffer each time; the parser remembers how far it has scanned, so
 * feeding one byte at a time costs O(total), and it fails as soon as a byte
 * that can never be valid appears (NUL, bare CR/LF, control characters), so a
 * garbage request is refused before the head is complete. Once CRLF CRLF is
 * seen the head is parsed fully into *req, whose slices point into buf.
 *
 * Strict: method is a token; target is origin-form ("/...") or "*" (OPTIONS
 * only); version is exactly HTTP/1.0 or HTTP/1.1 (other HTTP/x.y -> 505); header
 * names are tokens with no whitespace before ':'; no obs-fold; no NUL or
 * control bytes except HTAB in values; Host required for 1.1 and not
 * duplicated; Content-Length must be digits and duplicates must agree;
 * Transfer-Encoding together with Content-Length is refused; duplicated
 * Sec-WebSocket-Key / Sec-WebSocket-Version are refused.
 * No I/O, no allocation. deps: none. */
#ifndef HTTP_REQ_H
#define HTTP_REQ_H
#include "parse/base.h"

#define HTTPQ_MAX_HEADERS 64 /* hard ceiling; the configured limit may be lower */

enum httpq_error {
    HTTPQ_E_BAD = -1,              /* malformed -> 400 */
    HTTPQ_E_HEAD_TOO_LARGE = -2,   /* head exceeds max_head -> 431 */
    HTTPQ_E_TOO_MANY_HEADERS = -3, /* more than max_headers -> 431 */
    HTTPQ_E_URI_TOO_LONG = -4,     /* request line exceeds max_target -> 414 */
    HTTPQ_E_VERSION = -5,          /* HTTP/x.y other than 1.0/1.1 -> 505 */
    HTTPQ_E_NOT_IMPLEMENTED = -6,  /* Transfer-Encoding we do not support -> 501 */
};

struct httpq_header {
    struct slice name, value; /* value without surrounding OWS */
};

struct httpq_request {
    struct slice method, target, path, query; /* path: target up to '?'; query: after '?', may be empty */
    int minor_version;                        /* 0 or 1 */
    struct httpq_header headers[HTTPQ_MAX_HEADERS];
    size_t num_headers;
    /* Derived from the headers (each looked up case-insensitively). */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool keep_alive;        /* 1.1 without "close", or 1.0 with "keep-alive" */
    bool conn_upgrade;      /* Connection token list contains "upgrade" */
    bool upgrade_websocket; /* Upgrade token list contains "websocket" */
    /* .p == NULL when absent. Duplicate Host, Origin, Sec-WebSocket-Key and
     * Sec-WebSocket-Version are refused (400); Sec-WebSocket-Protocol may
     * repeat and ws_protocol is the first (see httpq_headers_have_token). */
    struct slice host, origin, ws_key, ws_version, ws_protocol;
};

/* Defaults used when a limit below is left 0. */
#define HTTPQ_DEFAULT_MAX_HEAD 8192
#define HTTPQ_DEFAULT_MAX_TARGET 4096

struct httpq_parser {
    /* configuration (0 selects the default; max_headers is capped at
     * HTTPQ_MAX_HEADERS) */
    size_t max_head;    /* whole head including CRLFCRLF, e.g. 8192 */
    size_t max_target;  /* request line length without CRLF, e.g. 4096 */
    size_t max_headers; /* <= HTTPQ_MAX_HEADERS */
    /* state (zero-initialise, or httpq_reset() between requests) */
    size_t scanned;       /* bytes of buf already checked */
    uint8_t line_state;   /* enum httpq_scan_state (private, in http_req.c) */
    size_t header_lines;  /* header lines begun so far */
};

/* buf[0..len) is everything received for this request so far. Returns the head
 * length (> 0, bytes up to and including the blank line) when complete and
 * fills *req; 0 when more bytes are needed; or a negative enum httpq_error.
 * Results are sticky: calling again after a result > 0 or < 0 (with the same
 * buffer, possibly longer) returns the same result; bytes after the head
 * (a pipelined request, a body) are never looked at. A request starting with
 * an empty line is refused (no RFC 9112 2.2 leniency). */
int httpq_parse(struct httpq_parser *st, const char *buf, size_t len, struct httpq_request *req);
void httpq_reset(struct httpq_parser *st);

/* HTTP status for a negative httpq_parse() result. */
int httpq_status(int err);

/* Case-insensitive search of a comma-separated token list ("keep-alive, Upgrade"). */
bool httpq_token_list_has(struct slice list, const char *token);

/* First header named name (case-insensitive), or NULL. */
const struct httpq_header *httpq_header_get(const struct httpq_request *req, const char *name);

/* Does any header named name carry token in its comma-separated list? Treats
 * repeated fields as one combined list (RFC 9110 5.3), e.g. for
 * Sec-WebSocket-Protocol, of which req->ws_protocol holds only the first. */
bool httpq_headers_have_token(const struct httpq_request *req, const char *name, const char *token);
#endif
