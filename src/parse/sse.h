/* Incremental Server-Sent Events parser (WHATWG HTML "event stream"), as the
 * OpenAI SDKs decode streamed chat completions: lines end in CRLF, LF or CR;
 * "data:" lines are joined with "\n"; one leading space after the colon is
 * dropped; lines starting with ':' are comments; "event:" sets the event name;
 * "id:" and "retry:" are accepted and ignored; a blank line dispatches the
 * event (an event with no data line is not dispatched). The event's data is
 * collected in a buffer the caller provides; an event larger than it is an
 * error, never truncated. No I/O, no allocation. deps: none. */
#ifndef SSE_H
#define SSE_H
#include "parse/base.h"

/* Longest event name kept. OpenAI's Responses API names run to ~40 bytes
 * ("response.function_call_arguments.delta"); a longer one is an error. */
#define SSE_EVENT_MAX 63

enum sse_error {
    SSE_E_TOO_BIG = -1, /* event data longer than the buffer, or name over SSE_EVENT_MAX */
    SSE_E_BAD = -2,     /* NUL byte in the stream */
};

struct sse_event {
    bool ready;        /* an event was dispatched by this call */
    const char *event; /* "message" unless an event: line said otherwise */
    const char *data;  /* NUL-terminated, inside the caller's buffer */
    size_t len;
};

struct sse_parser {
    /* set before the first feed */
    char *buf;   /* event data buffer, caller-owned */
    size_t cap;  /* its size; data may use cap - 1 bytes */
    /* private state (zero-initialise after setting buf/cap, or sse_reset()) */
    size_t len;
    bool has_data;
    bool last_cr;     /* previous byte was CR: a following LF is the same line end */
    uint8_t field_state;
    char field[8];    /* field name being read ("data", "event", ...) */
    uint8_t field_len;
    bool skip_space;  /* the one optional space after ':' not yet seen */
    char event[SSE_EVENT_MAX + 1];
    uint8_t event_len;
    int8_t err;       /* the error a dead parser repeats */
};

/* Consume from in[0..n). Returns bytes consumed (>= 0), stopping right after
 * a dispatched event (ev->ready), or a negative enum sse_error (the parser is
 * then dead and repeats it). Fewer than n consumed only with ev->ready, so
 * the caller loops until n is used up. The event's data and name stay valid
 * until the next call. Data of an event not ended by a blank line before the
 * stream ends is never dispatched (as in browsers and the SDKs). */
ssize_t sse_feed(struct sse_parser *p, const uint8_t *in, size_t n, struct sse_event *ev);
/* Back to the start of a stream; keeps buf and cap. */
void sse_reset(struct sse_parser *p);
#endif
