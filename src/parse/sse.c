/* Incremental Server-Sent Events parser; see sse.h.
 *
 * Follows the WHATWG "interpreting an event stream" algorithm, but streams
 * each line through a small state machine instead of buffering it: the field
 * name is collected (it is short), and the value goes straight to where it
 * belongs (data buffer, event name, or nowhere). So a line may be split across
 * any number of feeds and only the event's data needs the caller's buffer. */
#include "parse/sse.h"

#include <stdint.h>

/* Largest count a call consumes: ssize_t's maximum (SIZE_MAX / 2 wherever
 * ssize_t is the signed size_t), spelled without POSIX's SSIZE_MAX. */
#define SSE_FEED_MAX (SIZE_MAX >> 1)

/* Where the current line stands. Zero must be the start state so that a
 * zero-initialised parser is ready to use. */
enum sse_field_state {
    SSE_F_LINE_START = 0, /* nothing of this line seen yet */
    SSE_F_NAME,           /* in the field name, kept in p->field */
    SSE_F_NAME_LONG,      /* in a field name longer than p->field: no field we know */
    SSE_F_DATA,           /* in a "data" value, appended to p->buf */
    SSE_F_EVENT,          /* in an "event" value, kept in p->event */
    SSE_F_IGNORE,         /* in a comment, or the value of a field we ignore */
};

static bool sse_field_is(const struct sse_parser *p, const char *lit, size_t n)
{
    return slice_eq((struct slice){p->field, p->field_len}, lit, n);
}

/* The field's value starts (after ':' or, for a line without ':', at the line
 * end with an empty value). Field names are case-sensitive per the spec. */
static int sse_begin_value(struct sse_parser *p)
{
    p->skip_space = true;
    if (p->field_state == SSE_F_NAME && sse_field_is(p, "data", 4)) {
        /* Lines of one event are joined by "\n": add it before every line
         * but the first rather than after each and stripping the last. */
        if (p->cap == 0)
            return SSE_E_TOO_BIG; /* not even room for the terminating NUL */
        if (p->has_data) {
            if (p->len >= p->cap - 1)
                return SSE_E_TOO_BIG;
            p->buf[p->len++] = '\n';
        }
        p->has_data = true;
        p->field_state = SSE_F_DATA;
    } else if (p->field_state == SSE_F_NAME && sse_field_is(p, "event", 5)) {
        p->event_len = 0; /* the last event: line wins */
        p->field_state = SSE_F_EVENT;
    } else {
        /* "id" and "retry" steer browser reconnection, which the caller does
         * not do; unknown fields are ignored by the spec. */
        p->field_state = SSE_F_IGNORE;
    }
    return 0;
}

/* One value byte. Only the first space after ':' is dropped. */
static int sse_value_byte(struct sse_parser *p, char c)
{
    if (p->skip_space) {
        p->skip_space = false;
        if (c == ' ')
            return 0;
    }
    if (p->field_state == SSE_F_DATA) {
        if (p->len >= p->cap - 1)
            return SSE_E_TOO_BIG;
        p->buf[p->len++] = c;
    } else if (p->field_state == SSE_F_EVENT) {
        /* An unknown event name is as good as a wrong one, but a truncated
         * known one would be worse: refuse rather than cut it. */
        if (p->event_len >= SSE_EVENT_MAX)
            return SSE_E_TOO_BIG;
        p->event[p->event_len++] = c;
    }
    return 0;
}

/* One byte that is not a line end. */
static int sse_line_byte(struct sse_parser *p, char c)
{
    switch (p->field_state) {
    case SSE_F_LINE_START:
        if (c == ':') {
            p->field_state = SSE_F_IGNORE; /* comment, e.g. ": keep-alive" */
            return 0;
        }
        p->field_len = 0;
        p->field_state = SSE_F_NAME;
        /* fall through */
    case SSE_F_NAME:
        if (c == ':')
            return sse_begin_value(p);
        if (p->field_len >= sizeof p->field) {
            p->field_state = SSE_F_NAME_LONG;
            return 0;
        }
        p->field[p->field_len++] = c;
        return 0;
    case SSE_F_NAME_LONG:
        if (c == ':')
            p->field_state = SSE_F_IGNORE;
        return 0;
    case SSE_F_IGNORE:
        return 0;
    default: /* SSE_F_DATA, SSE_F_EVENT */
        return sse_value_byte(p, c);
    }
}

/* A line ended. A blank line dispatches; a line that was only a field name
 * is that field with an empty value ("data" alone adds an empty line). */
static int sse_end_line(struct sse_parser *p, struct sse_event *ev)
{
    uint8_t st = p->field_state;
    int rc = st == SSE_F_NAME ? sse_begin_value(p) : 0;
    p->field_state = SSE_F_LINE_START;
    if (st != SSE_F_LINE_START)
        return rc;
    /* An event without data lines is dropped, its name with it (spec). */
    if (p->has_data) {
        p->buf[p->len] = '\0';
        p->event[p->event_len] = '\0';
        ev->ready = true;
        ev->event = p->event_len ? p->event : "message";
        ev->data = p->buf;
        ev->len = p->len;
    }
    p->len = 0;
    p->has_data = false;
    p->event_len = 0;
    return 0;
}

static ssize_t sse_die(struct sse_parser *p, int err)
{
    p->err = (int8_t)err;
    return err;
}

ssize_t sse_feed(struct sse_parser *p, const uint8_t *in, size_t n, struct sse_event *ev)
{
    *ev = (struct sse_event){false, NULL, NULL, 0};
    if (p->err)
        return p->err;
    if (n > SSE_FEED_MAX)
        n = SSE_FEED_MAX; /* the count must fit the return type; the rest waits */
    for (size_t i = 0; i < n; i++) {
        char c = (char)in[i];
        if (c == '\0')
            return sse_die(p, SSE_E_BAD);
        if (p->last_cr) {
            p->last_cr = false;
            if (c == '\n')
                continue; /* the LF of a CRLF whose CR already ended the line */
        }
        int rc;
        if (c == '\r' || c == '\n') {
            p->last_cr = c == '\r';
            rc = sse_end_line(p, ev);
        } else {
            rc = sse_line_byte(p, c);
        }
        if (rc < 0)
            return sse_die(p, rc);
        if (ev->ready)
            return (ssize_t)(i + 1);
    }
    return (ssize_t)n;
}

void sse_reset(struct sse_parser *p)
{
    p->len = 0;
    p->has_data = false;
    p->last_cr = false;
    p->field_state = SSE_F_LINE_START;
    p->field_len = 0;
    p->skip_space = false;
    p->event_len = 0;
    p->err = 0;
}

#undef SSE_FEED_MAX
