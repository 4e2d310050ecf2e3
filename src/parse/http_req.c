/* Strict incremental HTTP/1.1 request-head parser; see http_req.h.
 *
 * Two phases. The scanner (httpq_scan) walks each byte once, carrying a small
 * state machine across calls in struct httpq_parser; it enforces the lexical
 * grammar (token characters, allowed value bytes, CRLF pairing, no obs-fold)
 * and the size limits, so invalid input fails on the first offending byte.
 * When it meets the blank line, the head parser (httpq_parse_head) splits the
 * now lexically valid head into *req and applies the semantic rules that need
 * the whole head (Host, Content-Length, Transfer-Encoding, duplicates). */
#include "parse/http_req.h"
#include "parse/http_grammar.h"

#include <limits.h>

/* 2^53: the largest body length we accept; beyond it the integer stops being
 * exact in JavaScript/double-based peers, and no sane request needs more. */
#define HTTPQ_CL_MAX ((int64_t)1 << 53)

/* Where the scanner stands. Zero must be the start state so that a
 * zero-initialised parser is ready to use. */
enum httpq_scan_state {
    HTTPQ_S_METHOD = 0,     /* in the method token (request line start) */
    HTTPQ_S_TARGET_START,   /* after "METHOD SP": target must be non-empty */
    HTTPQ_S_TARGET,         /* in the request-target */
    HTTPQ_S_VERSION_START,  /* after "TARGET SP": version must be non-empty */
    HTTPQ_S_VERSION,        /* in the version */
    HTTPQ_S_REQLINE_CR,     /* request line's CR seen, LF must follow */
    HTTPQ_S_LINE_START,     /* first byte of a header line or the blank line */
    HTTPQ_S_NAME,           /* in a field name */
    HTTPQ_S_VALUE,          /* after ':', in the field value */
    HTTPQ_S_VALUE_CR,       /* field line's CR seen, LF must follow */
    HTTPQ_S_END_CR,         /* blank line's CR seen, LF ends the head */
    HTTPQ_S_DONE,           /* head complete; scanned == head length */
};

static size_t httpq_limit(size_t v, size_t dflt)
{
    return v ? v : dflt;
}

static size_t httpq_max_headers(const struct httpq_parser *st)
{
    if (st->max_headers == 0 || st->max_headers > HTTPQ_MAX_HEADERS)
        return HTTPQ_MAX_HEADERS;
    return st->max_headers;
}

/* ---- phase 1: byte scanner ------------------------------------------------ */

/* Request-line states. A target may not hold '#': fragments are never sent
 * on the wire (RFC 9112 3.2), so one here means a confused or hostile client. */
static int httpq_scan_reqline(uint8_t *state, unsigned char c)
{
    switch (*state) {
    case HTTPQ_S_METHOD:
        if (http_is_tchar(c))
            return 0;
        /* an empty method (SP at offset 0) is refused by httpq_scan_byte,
         * which knows the offset */
        if (c == ' ') {
            *state = HTTPQ_S_TARGET_START;
            return 0;
        }
        return HTTPQ_E_BAD;
    case HTTPQ_S_TARGET_START:
    case HTTPQ_S_TARGET:
        if (http_is_vchar(c) && c != '#') {
            *state = HTTPQ_S_TARGET;
            return 0;
        }
        if (c == ' ' && *state == HTTPQ_S_TARGET) {
            *state = HTTPQ_S_VERSION_START;
            return 0;
        }
        return HTTPQ_E_BAD;
    case HTTPQ_S_VERSION_START:
    case HTTPQ_S_VERSION:
        if (http_is_vchar(c)) {
            *state = HTTPQ_S_VERSION;
            return 0;
        }
        if (c == '\r' && *state == HTTPQ_S_VERSION) {
            *state = HTTPQ_S_REQLINE_CR;
            return 0;
        }
        return HTTPQ_E_BAD;
    default: /* HTTPQ_S_REQLINE_CR */
        if (c != '\n')
            return HTTPQ_E_BAD;
        *state = HTTPQ_S_LINE_START;
        return 0;
    }
}

/* First byte of a line after the request line. SP/HTAB here is obs-fold (or
 * whitespace before the first field), which RFC 9112 5.2 lets us refuse, and
 * we do: it is a classic request-smuggling vector. */
static int httpq_scan_line_start(struct httpq_parser *st, unsigned char c)
{
    if (c == '\r') {
        st->line_state = HTTPQ_S_END_CR;
        return 0;
    }
    if (!http_is_tchar(c))
        return HTTPQ_E_BAD;
    if (st->header_lines >= httpq_max_headers(st))
        return HTTPQ_E_TOO_MANY_HEADERS;
    st->header_lines++;
    st->line_state = HTTPQ_S_NAME;
    return 0;
}

/* Field-line states after the first byte. Whitespace between name and ':' is
 * refused (RFC 9112 5.1 MUST): it falls out of the tchar test. */
static int httpq_scan_field(uint8_t *state, unsigned char c)
{
    switch (*state) {
    case HTTPQ_S_NAME:
        if (http_is_tchar(c))
            return 0;
        if (c != ':')
            return HTTPQ_E_BAD;
        *state = HTTPQ_S_VALUE;
        return 0;
    case HTTPQ_S_VALUE:
        if (http_is_value_byte(c))
            return 0;
        if (c != '\r')
            return HTTPQ_E_BAD;
        *state = HTTPQ_S_VALUE_CR;
        return 0;
    case HTTPQ_S_VALUE_CR:
        if (c != '\n')
            return HTTPQ_E_BAD;
        *state = HTTPQ_S_LINE_START;
        return 0;
    default: /* HTTPQ_S_END_CR */
        if (c != '\n')
            return HTTPQ_E_BAD;
        *state = HTTPQ_S_DONE;
        return 0;
    }
}

static bool httpq_in_reqline(uint8_t state)
{
    return state < HTTPQ_S_REQLINE_CR;
}

/* One byte at offset i. The request line starts at offset 0, so i is also its
 * length so far; limits are checked before the byte is accepted so a head of
 * exactly max_head bytes (or a line of exactly max_target) still passes. */
static int httpq_scan_byte(struct httpq_parser *st, size_t i, unsigned char c)
{
    /* The line limit first: a request line that also exceeds the head limit
     * (max_target == max_head in the server) is still a 414, as documented. */
    if (httpq_in_reqline(st->line_state)) {
        if (i == 0 && c == ' ')
            return HTTPQ_E_BAD; /* empty method */
        if (c != '\r' && i >= httpq_limit(st->max_target, HTTPQ_DEFAULT_MAX_TARGET))
            return HTTPQ_E_URI_TOO_LONG;
    }
    if (i >= httpq_limit(st->max_head, HTTPQ_DEFAULT_MAX_HEAD))
        return HTTPQ_E_HEAD_TOO_LARGE;
    if (st->line_state <= HTTPQ_S_REQLINE_CR)
        return httpq_scan_reqline(&st->line_state, c);
    if (st->line_state == HTTPQ_S_LINE_START)
        return httpq_scan_line_start(st, c);
    return httpq_scan_field(&st->line_state, c);
}

/* Scans buf[st->scanned..len). On error st is left unchanged at the bad byte,
 * so a repeated call reports the same error. */
static int httpq_scan(struct httpq_parser *st, const char *buf, size_t len)
{
    while (st->scanned < len && st->line_state != HTTPQ_S_DONE) {
        int rc = httpq_scan_byte(st, st->scanned, (unsigned char)buf[st->scanned]);
        if (rc < 0)
            return rc;
        st->scanned++;
    }
    return 0;
}

/* ---- phase 2: head parser ------------------------------------------------- */

/* Index of the first c in p[from..end), or end. */
static size_t httpq_find(const char *p, size_t from, size_t end, char c)
{
    while (from < end && p[from] != c)
        from++;
    return from;
}

static struct slice httpq_sub(const char *p, size_t from, size_t to)
{
    return (struct slice){p + from, to - from};
}

/* "HTTP/1.1", "HTTP/1.0" or other HTTP/d.d (505); anything else is 400. */
static int httpq_parse_version(struct slice v, int *minor)
{
    if (v.n != 8 || !slice_eq((struct slice){v.p, 5}, "HTTP/", 5) || v.p[6] != '.')
        return HTTPQ_E_BAD;
    if (v.p[5] < '0' || v.p[5] > '9' || v.p[7] < '0' || v.p[7] > '9')
        return HTTPQ_E_BAD;
    if (v.p[5] != '1' || (v.p[7] != '0' && v.p[7] != '1'))
        return HTTPQ_E_VERSION;
    *minor = v.p[7] - '0';
    return 0;
}

/* origin-form, or "*" for OPTIONS (asterisk-form); absolute-form and
 * authority-form are refused: this server has no proxy or CONNECT role. */
static int httpq_parse_target(struct httpq_request *req)
{
    struct slice t = req->target;
    if (t.n == 1 && t.p[0] == '*') {
        if (!slice_eq(req->method, "OPTIONS", 7))
            return HTTPQ_E_BAD;
        req->path = t;
        req->query = (struct slice){t.p + 1, 0};
        return 0;
    }
    if (t.p[0] != '/')
        return HTTPQ_E_BAD;
    size_t q = httpq_find(t.p, 0, t.n, '?');
    req->path = httpq_sub(t.p, 0, q);
    req->query = q < t.n ? httpq_sub(t.p, q + 1, t.n) : (struct slice){t.p + t.n, 0};
    return 0;
}

/* The scanner guarantees "METHOD SP TARGET SP VERSION CRLF" with non-empty
 * parts, so splitting at the two spaces is enough. Returns the offset of the
 * first header line. */
static int httpq_parse_reqline(const char *buf, size_t head_len, struct httpq_request *req, size_t *next)
{
    size_t sp1 = httpq_find(buf, 0, head_len, ' ');
    size_t sp2 = httpq_find(buf, sp1 + 1, head_len, ' ');
    size_t cr = httpq_find(buf, sp2 + 1, head_len, '\r');
    req->method = httpq_sub(buf, 0, sp1);
    req->target = httpq_sub(buf, sp1 + 1, sp2);
    int rc = httpq_parse_version(httpq_sub(buf, sp2 + 1, cr), &req->minor_version);
    if (rc < 0)
        return rc;
    *next = cr + 2;
    return httpq_parse_target(req);
}

/* Splits the lexically valid field lines "name:value CRLF" into req->headers,
 * trimming OWS around the value. The scanner has already bounded the count. */
static void httpq_parse_fields(const char *buf, size_t pos, size_t head_len, struct httpq_request *req)
{
    req->num_headers = 0;
    while (pos + 2 < head_len && req->num_headers < HTTPQ_MAX_HEADERS) {
        size_t colon = httpq_find(buf, pos, head_len, ':');
        size_t cr = httpq_find(buf, colon, head_len, '\r');
        size_t vs = colon + 1, ve = cr;
        while (vs < ve && http_is_ows(buf[vs]))
            vs++;
        while (ve > vs && http_is_ows(buf[ve - 1]))
            ve--;
        struct httpq_header *h = &req->headers[req->num_headers++];
        h->name = httpq_sub(buf, pos, colon);
        h->value = httpq_sub(buf, vs, ve);
        pos = cr + 2;
    }
}

/* 1*DIGIT, at most 2^53. */
static int httpq_parse_cl(struct slice v, int64_t *out)
{
    uint64_t n;
    if (!dec_value(v.p, v.n, HTTPQ_CL_MAX, &n))
        return HTTPQ_E_BAD; /* also refuses "5, 5" lists */
    *out = (int64_t)n;
    return 0;
}

/* Duplicates of these are refused: each is a security decision point, and
 * two values leave it ambiguous which one a peer or proxy acted on. */
static int httpq_set_once(struct slice *dst, struct slice v)
{
    if (dst->p != NULL)
        return HTTPQ_E_BAD;
    *dst = v;
    return 0;
}

/* Tallies gathered over all header lines before the cross-header checks. */
struct httpq_facts {
    size_t te_count;
    struct slice te;
    bool conn_close, conn_keep_alive;
};

static int httpq_apply_cl(struct httpq_request *req, struct slice v)
{
    int64_t n;
    int rc = httpq_parse_cl(v, &n);
    if (rc < 0)
        return rc;
    if (req->content_length >= 0 && req->content_length != n)
        return HTTPQ_E_BAD;
    req->content_length = n;
    return 0;
}

static int httpq_apply_header(struct httpq_request *req, struct httpq_facts *f, const struct httpq_header *h)
{
    if (http_ieq(h->name, "host"))
        return httpq_set_once(&req->host, h->value);
    if (http_ieq(h->name, "content-length"))
        return httpq_apply_cl(req, h->value);
    if (http_ieq(h->name, "transfer-encoding")) {
        f->te_count++;
        f->te = h->value;
    } else if (http_ieq(h->name, "connection")) {
        f->conn_close |= httpq_token_list_has(h->value, "close");
        f->conn_keep_alive |= httpq_token_list_has(h->value, "keep-alive");
        req->conn_upgrade |= httpq_token_list_has(h->value, "upgrade");
    } else if (http_ieq(h->name, "upgrade")) {
        req->upgrade_websocket |= httpq_token_list_has(h->value, "websocket");
    } else if (http_ieq(h->name, "origin")) {
        return httpq_set_once(&req->origin, h->value);
    } else if (http_ieq(h->name, "sec-websocket-key")) {
        return httpq_set_once(&req->ws_key, h->value);
    } else if (http_ieq(h->name, "sec-websocket-version")) {
        return httpq_set_once(&req->ws_version, h->value);
    } else if (http_ieq(h->name, "sec-websocket-protocol") && req->ws_protocol.p == NULL) {
        req->ws_protocol = h->value; /* may legally repeat; first kept */
    }
    return 0;
}

/* RFC 9112 6.1/6.3: TE with CL is a smuggling attempt (400); TE in 1.0 cannot
 * be framed reliably (400); any coding but plain "chunked" we cannot decode
 * (501). Repeated TE fields form a list, which is never exactly "chunked". */
static int httpq_check_te(struct httpq_request *req, const struct httpq_facts *f)
{
    if (f->te_count == 0)
        return 0;
    if (req->content_length >= 0 || req->minor_version == 0)
        return HTTPQ_E_BAD;
    if (f->te_count != 1 || !http_ieq(f->te, "chunked"))
        return HTTPQ_E_NOT_IMPLEMENTED;
    req->chunked = true;
    return 0;
}

static void httpq_clear_derived(struct httpq_request *req)
{
    static const struct slice none = {NULL, 0};
    req->content_length = -1;
    req->chunked = false;
    req->keep_alive = false;
    req->conn_upgrade = false;
    req->upgrade_websocket = false;
    req->host = req->origin = req->ws_key = req->ws_version = req->ws_protocol = none;
}

static int httpq_derive(struct httpq_request *req)
{
    struct httpq_facts f = {0, {NULL, 0}, false, false};
    httpq_clear_derived(req);
    for (size_t i = 0; i < req->num_headers; i++) {
        int rc = httpq_apply_header(req, &f, &req->headers[i]);
        if (rc < 0)
            return rc;
    }
    /* RFC 9112 3.2: a 1.1 request without Host (or with two) gets 400. */
    if (req->minor_version == 1 && req->host.p == NULL)
        return HTTPQ_E_BAD;
    int rc = httpq_check_te(req, &f);
    if (rc < 0)
        return rc;
    req->keep_alive = req->minor_version == 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);
    return 0;
}

static int httpq_parse_head(const char *buf, size_t head_len, struct httpq_request *req)
{
    size_t pos;
    int rc = httpq_parse_reqline(buf, head_len, req, &pos);
    if (rc < 0)
        return rc;
    httpq_parse_fields(buf, pos, head_len, req);
    rc = httpq_derive(req);
    return rc < 0 ? rc : (int)head_len;
}

/* ---- public API ----------------------------------------------------------- */

int httpq_parse(struct httpq_parser *st, const char *buf, size_t len, struct httpq_request *req)
{
    /* A buffer that shrank breaks the caller contract; refuse rather than
     * trust stale offsets. */
    if (len < st->scanned)
        return HTTPQ_E_BAD;
    int rc = httpq_scan(st, buf, len);
    if (rc < 0)
        return rc;
    if (st->line_state != HTTPQ_S_DONE)
        return 0;
    /* head_len fits in int: the scanner capped it at max_head, which no sane
     * configuration sets anywhere near INT_MAX; refuse it if one does. */
    if (st->scanned > (size_t)INT_MAX)
        return HTTPQ_E_HEAD_TOO_LARGE;
    return httpq_parse_head(buf, st->scanned, req);
}

void httpq_reset(struct httpq_parser *st)
{
    st->scanned = 0;
    st->line_state = HTTPQ_S_METHOD;
    st->header_lines = 0;
}

int httpq_status(int err)
{
    switch (err) {
    case HTTPQ_E_HEAD_TOO_LARGE:
    case HTTPQ_E_TOO_MANY_HEADERS:
        return 431;
    case HTTPQ_E_URI_TOO_LONG:
        return 414;
    case HTTPQ_E_VERSION:
        return 505;
    case HTTPQ_E_NOT_IMPLEMENTED:
        return 501;
    default:
        return 400;
    }
}

/* Next list element of list starting at *pos, OWS-trimmed; empty elements
 * ("a, , b") are legal (RFC 9110 5.6.1) and come back with n == 0. */
static struct slice httpq_next_elem(struct slice list, size_t *pos)
{
    size_t s = *pos;
    size_t e = httpq_find(list.p, s, list.n, ',');
    *pos = e + 1;
    while (s < e && http_is_ows(list.p[s]))
        s++;
    while (e > s && http_is_ows(list.p[e - 1]))
        e--;
    return httpq_sub(list.p, s, e);
}

bool httpq_token_list_has(struct slice list, const char *token)
{
    if (token == NULL || token[0] == '\0')
        return false;
    size_t pos = 0;
    while (pos < list.n) {
        if (http_ieq(httpq_next_elem(list, &pos), token))
            return true;
    }
    return false;
}

const struct httpq_header *httpq_header_get(const struct httpq_request *req, const char *name)
{
    for (size_t i = 0; i < req->num_headers; i++) {
        if (http_ieq(req->headers[i].name, name))
            return &req->headers[i];
    }
    return NULL;
}

bool httpq_headers_have_token(const struct httpq_request *req, const char *name, const char *token)
{
    for (size_t i = 0; i < req->num_headers; i++) {
        if (http_ieq(req->headers[i].name, name) && httpq_token_list_has(req->headers[i].value, token))
            return true;
    }
    return false;
}

#undef HTTPQ_CL_MAX
