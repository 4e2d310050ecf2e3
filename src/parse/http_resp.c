/* Incremental HTTP/1.1 response parser; see http_resp.h.
 *
 * One state machine over the byte stream. Every line (status, header,
 * chunk-size, trailer) is copied into p->line up to its CRLF and then parsed
 * whole: lines are short and bounded, and the copy lets a line straddle any
 * number of feeds without the caller keeping old bytes. Body bytes are never
 * copied: BODY events point into the caller's input.
 *
 * Strict, because the peer is a server we chose and a confused one is better
 * refused than guessed at: CRLF line ends only, no obs-fold, no control bytes
 * but HTAB in values, Content-Length digits only, Transfer-Encoding exactly
 * "chunked" and never together with Content-Length (RFC 9112 6.1, 6.3). */
#include "parse/http_resp.h"
#include "parse/http_grammar.h"

#include <stdint.h>

/* Largest count a call consumes: ssize_t's maximum (SIZE_MAX / 2 wherever
 * ssize_t is the signed size_t), spelled without POSIX's SSIZE_MAX. */
#define HTTPR_FEED_MAX (SIZE_MAX >> 1)

/* 2^62: largest Content-Length or chunk size taken. Far beyond any real
 * body, and it keeps every sum and shift in uint64_t away from overflow. */
#define HTTPR_SIZE_CAP ((uint64_t)1 << 62)

/* Retry delays saturate here (about 31 years): the caller clamps to its own
 * maximum anyway, this only keeps the arithmetic bounded. */
#define HTTPR_DELAY_CAP ((int64_t)1000000000000)

/* Where the parser stands. Zero must be the start state so that a
 * zero-initialised parser is ready to use. */
enum httpr_state {
    HTTPR_S_STATUS = 0, /* in the status line */
    HTTPR_S_HEADER,     /* in a header line or the blank line ending the head */
    HTTPR_S_BODY_LEN,   /* Content-Length body, p->remaining bytes left */
    HTTPR_S_BODY_CLOSE, /* body delimited by the connection closing */
    HTTPR_S_CHUNK_SIZE, /* in a chunk-size line */
    HTTPR_S_CHUNK_DATA, /* in chunk data, p->remaining bytes left */
    HTTPR_S_CHUNK_CR,   /* chunk data complete, its CR must follow */
    HTTPR_S_CHUNK_LF,   /* CR after chunk data seen, LF must follow */
    HTTPR_S_TRAILER,    /* in a trailer line or the blank line ending the message */
    HTTPR_S_COMPLETE,   /* message complete, DONE not reported yet */
    HTTPR_S_DONE,       /* DONE reported; sticky until httpr_reset() */
    HTTPR_S_DEAD,       /* an error was reported; p->err repeats it */
};

/* What finishing a line asks httpr_feed to report. */
enum httpr_step {
    HTTPR_STEP_NONE = 0,
    HTTPR_STEP_HEAD,
    HTTPR_STEP_DONE,
};

/* ---- character classes ---------------------------------------------------- */

/* field-value / reason-phrase / chunk-ext bytes: VCHAR, obs-text, SP, HTAB. */
static bool httpr_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool httpr_all_value_bytes(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!http_is_value_byte((unsigned char)p[i]))
            return false;
    return true;
}

/* Does the comma-separated list hold token (case-insensitive)? Empty
 * elements ("a, , b") are legal (RFC 9110 5.6.1) and match nothing. */
static bool httpr_list_has(struct slice list, const char *token)
{
    size_t pos = 0;
    while (pos < list.n) {
        size_t s = pos, e = pos;
        while (e < list.n && list.p[e] != ',')
            e++;
        pos = e + 1;
        while (s < e && http_is_ows((unsigned char)list.p[s]))
            s++;
        while (e > s && http_is_ows((unsigned char)list.p[e - 1]))
            e--;
        if (http_ieq((struct slice){list.p + s, e - s}, token))
            return true;
    }
    return false;
}

/* ---- field values ----------------------------------------------------------- */

/* 1*DIGIT up to HTTPR_SIZE_CAP; a list ("5, 5") or sign is malformed. */
static int httpr_parse_length(struct slice v, int64_t *out)
{
    uint64_t n;
    if (!dec_value(v.p, v.n, HTTPR_SIZE_CAP, &n))
        return HTTPR_E_BAD_LENGTH;
    *out = (int64_t)n;
    return 0;
}

/* A non-negative decimal "1*DIGIT [. *DIGIT]" or ". 1*DIGIT" (what Python's
 * float() reads in the SDKs, minus signs, exponents and inf/nan, which no
 * server sends), scaled by 10^places into milliseconds and rounded up: a
 * client must never retry earlier than the server asked. -1 when malformed. */
static int64_t httpr_parse_delay(struct slice v, unsigned places)
{
    int64_t ms = 0;
    size_t i = 0, digits = 0;
    for (; i < v.n && httpr_is_digit((unsigned char)v.p[i]); i++, digits++)
        if (ms < HTTPR_DELAY_CAP)
            ms = ms * 10 + (v.p[i] - '0');
    bool round_up = false;
    if (i < v.n && v.p[i] == '.') {
        for (i++; i < v.n && httpr_is_digit((unsigned char)v.p[i]); i++, digits++) {
            if (places > 0) {
                if (ms < HTTPR_DELAY_CAP)
                    ms = ms * 10 + (v.p[i] - '0');
                places--;
            } else if (v.p[i] != '0') {
                round_up = true;
            }
        }
    }
    if (digits == 0 || i != v.n)
        return -1;
    for (; places > 0; places--)
        if (ms < HTTPR_DELAY_CAP)
            ms *= 10;
    ms += round_up;
    return ms > HTTPR_DELAY_CAP ? HTTPR_DELAY_CAP : ms;
}

/* Copies v into dst[cap] as a C string, truncated to fit. */
static void httpr_copy(char *dst, size_t cap, struct slice v)
{
    size_t n = v.n < cap - 1 ? v.n : cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = v.p[i];
    dst[n] = '\0';
}

/* Keeps what the struct names; everything else is ignored. */
static int httpr_apply_header(struct httpr_parser *p, struct slice name, struct slice v)
{
    if (http_ieq(name, "content-length")) {
        int64_t n;
        int rc = httpr_parse_length(v, &n);
        if (rc < 0)
            return rc;
        /* Two different lengths: which one did a proxy on the way use? */
        if (p->content_length >= 0 && p->content_length != n)
            return HTTPR_E_BAD_LENGTH;
        p->content_length = n;
    } else if (http_ieq(name, "transfer-encoding")) {
        /* A second field extends the list ("gzip" + "chunked"), so the
         * result is never exactly "chunked". */
        p->te_chunked = !p->te_seen && http_ieq(v, "chunked");
        p->te_seen = true;
    } else if (http_ieq(name, "connection")) {
        p->conn_close |= httpr_list_has(v, "close");
        p->conn_keep_alive |= httpr_list_has(v, "keep-alive");
    } else if (http_ieq(name, "content-type")) {
        httpr_copy(p->content_type, sizeof p->content_type, v);
    } else if (http_ieq(name, "location")) {
        /* Two Location fields: which one would a proxy follow? Treat as unusable. */
        p->location_long = v.n > HTTPR_LOCATION_MAX || p->location_seen || p->location_long;
        p->location_seen = true;
        if (p->location_long)
            p->location[0] = '\0';
        else
            httpr_copy(p->location, sizeof p->location, v);
    } else if (http_ieq(name, "content-encoding")) {
        p->content_encoded |= !http_ieq(v, "identity");
    } else if (http_ieq(name, "x-request-id")) {
        httpr_copy(p->request_id, sizeof p->request_id, v);
    } else if (http_ieq(name, "retry-after-ms")) {
        /* The SDKs look at retry-after-ms first; it is the more precise one. */
        int64_t ms = httpr_parse_delay(v, 0);
        if (ms >= 0) {
            p->retry_after_ms = ms;
            p->ra_ms_seen = true;
        }
    } else if (http_ieq(name, "retry-after")) {
        /* An HTTP-date fails to parse and is ignored: it needs a clock and a
         * calendar, and OpenAI sends seconds. */
        int64_t ms = httpr_parse_delay(v, 3);
        if (ms >= 0 && !p->ra_ms_seen)
            p->retry_after_ms = ms;
    } else if (http_ieq(name, "x-should-retry")) {
        if (http_ieq(v, "true"))
            p->should_retry = 1;
        else if (http_ieq(v, "false"))
            p->should_retry = 0;
    }
    return 0;
}

/* ---- lines -------------------------------------------------------------------- */

/* "name:" OWS value OWS, checked; name and trimmed value out. SP/HTAB first
 * is obs-fold, refused like whitespace before ':' (RFC 9112 5.1, 5.2): both
 * are classic smuggling vectors. */
static int httpr_split_field(const char *l, size_t n, struct slice *name, struct slice *value)
{
    size_t c = 0;
    while (c < n && http_is_tchar((unsigned char)l[c]))
        c++;
    if (c == 0 || c == n || l[c] != ':')
        return HTTPR_E_BAD_HEADER;
    size_t s = c + 1, e = n;
    if (!httpr_all_value_bytes(l + s, e - s))
        return HTTPR_E_BAD_HEADER;
    while (s < e && http_is_ows((unsigned char)l[s]))
        s++;
    while (e > s && http_is_ows((unsigned char)l[e - 1]))
        e--;
    *name = (struct slice){l, c};
    *value = (struct slice){l + s, e - s};
    return 0;
}

/* Results start afresh with every status line, so a 1xx leaves nothing behind. */
static void httpr_clear_results(struct httpr_parser *p)
{
    p->content_length = -1;
    p->chunked = false;
    p->keep_alive = false;
    p->until_close = false;
    p->retry_after_ms = -1;
    p->should_retry = -1;
    p->content_type[0] = '\0';
    p->request_id[0] = '\0';
    p->location[0] = '\0';
    p->location_long = false;
    p->location_seen = false;
    p->content_encoded = false;
    p->nheaders = 0;
    p->te_seen = p->te_chunked = false;
    p->conn_close = p->conn_keep_alive = false;
    p->ra_ms_seen = false;
}

/* "HTTP/1." DIGIT SP 3DIGIT [SP reason-phrase]. The bare form without the SP
 * is not RFC 9112 but real servers send it, and it is unambiguous. */
static int httpr_status_line(struct httpr_parser *p)
{
    const char *l = p->line;
    size_t n = p->line_len;
    if (n < 12 || l[5] != '1' || l[6] != '.' || !httpr_is_digit((unsigned char)l[7]) || l[8] != ' ')
        return HTTPR_E_BAD_STATUS; /* "HTTP/" itself was checked byte by byte */
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (!httpr_is_digit((unsigned char)l[i]))
            return HTTPR_E_BAD_STATUS;
        status = status * 10 + (l[i] - '0');
    }
    if (n > 12 && (l[12] != ' ' || !httpr_all_value_bytes(l + 13, n - 13)))
        return HTTPR_E_BAD_STATUS;
    /* RFC 9110 15: codes outside 100..599 are invalid. 101 would switch the
     * connection to another protocol, which we never ask for. */
    if (status < 100 || status > 599 || status == 101)
        return HTTPR_E_BAD_STATUS;
    httpr_clear_results(p);
    p->status = status;
    p->minor_version = l[7] - '0';
    p->state = HTTPR_S_HEADER;
    return HTTPR_STEP_NONE;
}

/* The blank line after the headers: decide the framing (RFC 9112 6.3). */
static int httpr_end_head(struct httpr_parser *p)
{
    if (p->status < 200) {
        p->state = HTTPR_S_STATUS; /* interim response: the real one follows */
        return HTTPR_STEP_NONE;
    }
    bool chunked = false;
    if (p->te_seen) {
        if (p->content_length >= 0)
            return HTTPR_E_BAD_LENGTH; /* smuggling shape; refuse, don't guess */
        if (!p->te_chunked)
            return HTTPR_E_TE;
        chunked = true;
    }
    if (p->minor_version >= 1)
        p->keep_alive = !p->conn_close;
    else /* 1.0 closes unless asked; and TE there makes framing suspect (6.1) */
        p->keep_alive = p->conn_keep_alive && !p->conn_close && !chunked;
    if (p->head_request || p->status == 204 || p->status == 304) {
        p->state = HTTPR_S_COMPLETE; /* no body, whatever the headers say */
    } else if (chunked) {
        p->chunked = true;
        p->state = HTTPR_S_CHUNK_SIZE;
    } else if (p->content_length >= 0) {
        p->remaining = (uint64_t)p->content_length;
        p->state = p->remaining ? HTTPR_S_BODY_LEN : HTTPR_S_COMPLETE;
    } else {
        p->until_close = true;
        p->keep_alive = false;
        p->state = HTTPR_S_BODY_CLOSE;
    }
    return HTTPR_STEP_HEAD;
}

static int httpr_header_line(struct httpr_parser *p)
{
    if (p->line_len == 0)
        return httpr_end_head(p);
    if (p->nheaders >= HTTPR_HEADERS_MAX)
        return HTTPR_E_TOO_LONG;
    p->nheaders++;
    struct slice name, value;
    int rc = httpr_split_field(p->line, p->line_len, &name, &value);
    if (rc < 0)
        return rc;
    rc = httpr_apply_header(p, name, value);
    return rc < 0 ? rc : HTTPR_STEP_NONE;
}

/* chunk-size [BWS ";" chunk-ext] (RFC 9112 7.1); the extension is checked
 * for bytes only and ignored. Trailing BWS without ';' is tolerated: the
 * grammar's BWS before ';' makes it a harmless reading. */
static int httpr_chunk_size_line(struct httpr_parser *p)
{
    const char *l = p->line;
    size_t n = p->line_len, i = 0;
    uint64_t v = 0;
    for (; i < n; i++) {
        int d = hex_value((unsigned char)l[i]);
        if (d < 0)
            break;
        if (v > (HTTPR_SIZE_CAP - (uint64_t)d) / 16)
            return HTTPR_E_BAD_CHUNK;
        v = v * 16 + (uint64_t)d;
    }
    if (i == 0)
        return HTTPR_E_BAD_CHUNK;
    while (i < n && http_is_ows((unsigned char)l[i]))
        i++;
    if (i < n && (l[i] != ';' || !httpr_all_value_bytes(l + i, n - i)))
        return HTTPR_E_BAD_CHUNK;
    if (v == 0) {
        p->nheaders = 0; /* the trailer section has its own field budget */
        p->state = HTTPR_S_TRAILER;
    } else {
        p->remaining = v;
        p->state = HTTPR_S_CHUNK_DATA;
    }
    return HTTPR_STEP_NONE;
}

/* Trailer fields are checked like header fields and dropped: nothing we
 * keep may come from them (RFC 9110 6.5.1). */
static int httpr_trailer_line(struct httpr_parser *p)
{
    if (p->line_len == 0) {
        p->state = HTTPR_S_DONE;
        return HTTPR_STEP_DONE;
    }
    if (p->nheaders >= HTTPR_HEADERS_MAX)
        return HTTPR_E_TOO_LONG;
    p->nheaders++;
    struct slice name, value;
    int rc = httpr_split_field(p->line, p->line_len, &name, &value);
    return rc < 0 ? rc : HTTPR_STEP_NONE;
}

static int httpr_line_error(uint8_t state)
{
    switch (state) {
    case HTTPR_S_STATUS:
        return HTTPR_E_BAD_STATUS;
    case HTTPR_S_CHUNK_SIZE:
        return HTTPR_E_BAD_CHUNK;
    default:
        return HTTPR_E_BAD_HEADER;
    }
}

static int httpr_end_line(struct httpr_parser *p)
{
    int rc;
    switch (p->state) {
    case HTTPR_S_STATUS:
        rc = httpr_status_line(p);
        break;
    case HTTPR_S_HEADER:
        rc = httpr_header_line(p);
        break;
    case HTTPR_S_CHUNK_SIZE:
        rc = httpr_chunk_size_line(p);
        break;
    default: /* HTTPR_S_TRAILER */
        rc = httpr_trailer_line(p);
        break;
    }
    p->line_len = 0;
    return rc;
}

/* One byte of a line state. CR must be followed by LF and LF must follow a
 * CR: a bare one is how request/response splitting hides (RFC 9112 2.2). */
static int httpr_line_byte(struct httpr_parser *p, unsigned char c)
{
    if (p->line_cr) {
        p->line_cr = false;
        if (c != '\n')
            return httpr_line_error(p->state);
        return httpr_end_line(p);
    }
    if (c == '\r') {
        p->line_cr = true;
        return HTTPR_STEP_NONE;
    }
    if (c == '\n')
        return httpr_line_error(p->state);
    /* Something that is not HTTP at all (a TLS alert on a plain port, an
     * HTML error page) fails on its first byte, not after 4 KiB. */
    if (p->state == HTTPR_S_STATUS && p->line_len < 5 && c != (unsigned char)"HTTP/"[p->line_len])
        return HTTPR_E_BAD_STATUS;
    if (p->line_len >= HTTPR_LINE_MAX)
        return HTTPR_E_TOO_LONG;
    p->line[p->line_len++] = (char)c;
    return HTTPR_STEP_NONE;
}

/* The CRLF that must close every chunk's data. */
static int httpr_chunk_end_byte(struct httpr_parser *p, unsigned char c)
{
    if (p->state == HTTPR_S_CHUNK_CR) {
        if (c != '\r')
            return HTTPR_E_BAD_CHUNK;
        p->state = HTTPR_S_CHUNK_LF;
    } else {
        if (c != '\n')
            return HTTPR_E_BAD_CHUNK;
        p->state = HTTPR_S_CHUNK_SIZE;
    }
    return HTTPR_STEP_NONE;
}

static ssize_t httpr_die(struct httpr_parser *p, int err)
{
    p->state = HTTPR_S_DEAD;
    p->err = (int8_t)err;
    return err;
}

/* ---- public API ------------------------------------------------------------ */

ssize_t httpr_feed(struct httpr_parser *p, const uint8_t *in, size_t n, struct httpr_event *ev)
{
    *ev = (struct httpr_event){HTTPR_EV_NONE, NULL, 0};
    if (n > HTTPR_FEED_MAX)
        n = HTTPR_FEED_MAX; /* the count must fit the return type; the rest waits */
    size_t i = 0;
    for (;;) {
        switch (p->state) {
        case HTTPR_S_DEAD:
            return p->err;
        case HTTPR_S_COMPLETE:
            p->state = HTTPR_S_DONE;
            /* fall through */
        case HTTPR_S_DONE:
            ev->kind = HTTPR_EV_DONE;
            return (ssize_t)i;
        case HTTPR_S_BODY_LEN:
        case HTTPR_S_CHUNK_DATA:
        case HTTPR_S_BODY_CLOSE: {
            if (i == n)
                return (ssize_t)i;
            size_t take = n - i;
            if (p->state != HTTPR_S_BODY_CLOSE) {
                if (take > p->remaining)
                    take = (size_t)p->remaining;
                p->remaining -= take;
                if (p->remaining == 0)
                    p->state = p->state == HTTPR_S_BODY_LEN ? HTTPR_S_COMPLETE : HTTPR_S_CHUNK_CR;
            }
            *ev = (struct httpr_event){HTTPR_EV_BODY, in + i, take};
            return (ssize_t)(i + take);
        }
        default: {
            if (i == n)
                return (ssize_t)i;
            unsigned char c = in[i++];
            int rc = (p->state == HTTPR_S_CHUNK_CR || p->state == HTTPR_S_CHUNK_LF) ? httpr_chunk_end_byte(p, c)
                                                                                     : httpr_line_byte(p, c);
            if (rc < 0)
                return httpr_die(p, rc);
            if (rc == HTTPR_STEP_HEAD) {
                ev->kind = HTTPR_EV_HEAD;
                return (ssize_t)i;
            }
            if (rc == HTTPR_STEP_DONE) {
                ev->kind = HTTPR_EV_DONE;
                return (ssize_t)i;
            }
            break;
        }
        }
    }
}

int httpr_eof(struct httpr_parser *p)
{
    switch (p->state) {
    case HTTPR_S_DEAD:
        return p->err;
    case HTTPR_S_BODY_CLOSE:
    case HTTPR_S_COMPLETE:
    case HTTPR_S_DONE:
        p->state = HTTPR_S_DONE;
        return HTTPR_EV_DONE;
    default:
        return (int)httpr_die(p, HTTPR_E_TRUNCATED);
    }
}

void httpr_reset(struct httpr_parser *p)
{
    /* Field by field: head_request is the caller's setting, and the 4 KiB
     * line buffer needs no clearing (line_len says what is in it). */
    p->status = 0;
    p->minor_version = 0;
    httpr_clear_results(p);
    p->state = HTTPR_S_STATUS;
    p->line_len = 0;
    p->remaining = 0;
    p->err = 0;
    p->line_cr = false;
}

#undef HTTPR_SIZE_CAP
#undef HTTPR_DELAY_CAP
#undef HTTPR_FEED_MAX
