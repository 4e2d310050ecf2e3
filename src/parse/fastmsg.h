/* One-pass recogniser for the two hot client messages on /ws/{client_id}:
 *   {"type":"ping"}                                  (optional "timestamp")
 *   {"type":"audio_chunk","data":[int, ...]}         (optional "timestamp")
 * It decodes the samples into the caller's buffer and sums their squares in
 * the same pass (for the RMS amplitude), with no allocation and no cJSON.
 *
 * It is a fast path, not a second judge: it says yes only to a strict subset
 * of what the general path (jsonv_validate + cJSON + the dialect) accepts and
 * answers identically, and FASTMSG_OTHER to everything else, which the caller
 * then hands to the general path for the full checks and error messages. The
 * subset: one object, keys among "type", "data", "timestamp" each at most
 * once, string values of printable ASCII without escapes, data an array of
 * at most `cap` JSON integers (no fraction or exponent) in -32768..65535,
 * 32768..65535 read as the same 16 bits in two's complement (seed 001
 * browsers send Uint16 values), JSON whitespace anywhere JSON allows it.
 * The depth is 2: callers whose configured JSON depth is below 2 must not
 * use it. Works on a whole message (the WebSocket layer delivers them whole).
 * Pure: no I/O, no heap, no globals. deps: none */
#ifndef FASTMSG_H
#define FASTMSG_H
#include "parse/base.h"

enum fastmsg_kind {
    FASTMSG_OTHER = 0, /* not in the subset: use the general path */
    FASTMSG_PING = 1,  /* type "ping", no data */
    FASTMSG_AUDIO = 2, /* type "audio_chunk" with a data array */
};

struct fastmsg {
    enum fastmsg_kind kind;
    size_t nsamples;  /* FASTMSG_AUDIO: samples written to the caller's buffer */
    uint64_t sumsq;   /* FASTMSG_AUDIO: sum of the squared int16 samples (exact) */
};

/* Classify p[0..n); for FASTMSG_AUDIO the samples go to samples[0..cap).
 * Returns m->kind. samples may be NULL when cap is 0. */
enum fastmsg_kind fastmsg_parse(const uint8_t *p, size_t n, int16_t *samples, size_t cap,
                                struct fastmsg *m);
#endif
