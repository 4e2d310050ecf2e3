/* RFC 6455 section 5 receive parser and header encoders.
 *
 * The header is consumed one byte at a time and every rule is checked on the
 * byte that decides it, so a bad frame is refused as early as possible and the
 * verdict does not depend on how the stream was split into reads. Payload is
 * handed out in place, never copied, except control payloads, which must be
 * seen whole (close validation, ping echo) and are small. */
#include "parse/ws_frame.h"

#include <string.h>

enum wsf_state {
    WSF_S_HDR = 0,  /* must stay 0: a zeroed parser waits for a header */
    WSF_S_PAYLOAD,  /* streaming a data frame's payload to the caller */
    WSF_S_CTRL,     /* collecting a control payload into p->ctrl */
    WSF_S_FAILED,   /* an error was returned; p->err repeats it */
};

#define WSF_FIN 0x80u
#define WSF_RSV 0x70u
#define WSF_OP 0x0Fu
#define WSF_MASKED 0x80u
#define WSF_LEN7 0x7Fu
#define WSF_LEN16 126u
#define WSF_LEN64 127u
#define WSF_CTRL_MAX 125u
#define WSF_IS_CTRL(op) (((op) & 0x08u) != 0)
/* SSIZE_MAX is POSIX-only under -std=c17; ssize_t is size_t's signed twin. */
#define WSF_FEED_MAX ((size_t)-1 >> 1)

static bool wsf_opcode_known(unsigned op)
{
    return op == WSF_CONT || op == WSF_TEXT || op == WSF_BINARY || op == WSF_CLOSE ||
           op == WSF_PING || op == WSF_PONG;
}

/* Extended length bytes after the two fixed header bytes. */
static unsigned wsf_ext_len(unsigned len7)
{
    return len7 == WSF_LEN16 ? 2 : len7 == WSF_LEN64 ? 8 : 0;
}

/* Byte 0 decides RSV, opcode, control fragmentation and message sequencing. */
static int wsf_check_b0(struct wsf_parser *p, uint8_t b)
{
    unsigned op = b & WSF_OP;
    if (b & WSF_RSV)
        return WSF_E_RSV;
    if (!wsf_opcode_known(op))
        return WSF_E_OPCODE;
    p->opcode = (uint8_t)op;
    p->fin = (b & WSF_FIN) != 0;
    if (WSF_IS_CTRL(op))
        return p->fin ? 0 : WSF_E_CTRL_FRAGMENTED;
    if (op == WSF_CONT)
        return p->msg_opcode ? 0 : WSF_E_UNEXPECTED_CONT;
    return p->msg_opcode ? WSF_E_EXPECTED_CONT : 0;
}

static int wsf_check_b1(struct wsf_parser *p, uint8_t b)
{
    unsigned len7 = b & WSF_LEN7;
    if (!(b & WSF_MASKED))
        return WSF_E_UNMASKED;
    if (WSF_IS_CTRL(p->opcode) && len7 > WSF_CTRL_MAX)
        return WSF_E_CTRL_TOO_LONG;
    p->hdr_need = (uint8_t)(2 + wsf_ext_len(len7) + 4);
    return 0;
}

/* Runs once the length is known, before the mask and any payload, so an
 * oversized message costs the peer nothing but its header. */
static int wsf_check_len(struct wsf_parser *p)
{
    unsigned len7 = p->hdr[1] & WSF_LEN7;
    uint64_t len = len7;
    if (len7 >= WSF_LEN16) {
        len = 0;
        for (unsigned i = 0; i < wsf_ext_len(len7); i++)
            len = len << 8 | p->hdr[2 + i];
    }
    p->remaining = len;
    if (WSF_IS_CTRL(p->opcode))
        return 0;
    /* msg_total <= max_message always holds, so the subtraction is safe. */
    if (len > p->max_message - p->msg_total)
        return WSF_E_TOO_BIG;
    p->msg_total += len;
    return 0;
}

static int wsf_hdr_byte(struct wsf_parser *p, uint8_t b)
{
    unsigned len7;
    p->hdr[p->hdr_have++] = b;
    if (p->hdr_have == 1)
        return wsf_check_b0(p, b);
    len7 = p->hdr[1] & WSF_LEN7;
    if (p->hdr_have == 2) {
        int r = wsf_check_b1(p, b);
        if (r < 0)
            return r;
    }
    if (p->hdr_have == 3 && len7 == WSF_LEN64 && (b & 0x80))
        return WSF_E_LEN64;
    if (p->hdr_have == 2 + wsf_ext_len(len7))
        return wsf_check_len(p);
    return 0;
}

/* Unmask, validate and report the next k payload bytes of the data frame. */
static int wsf_data(struct wsf_parser *p, uint8_t *d, size_t k, struct wsf_event *ev)
{
    bool start = p->opcode != WSF_CONT && !p->frame_started;
    uint64_t frame_len = p->remaining;
    wsf_mask(d, k, p->mask, p->mask_pos);
    p->mask_pos = (uint8_t)((p->mask_pos + k) & 3);
    p->remaining -= k;
    bool end = p->fin && p->remaining == 0;
    if (p->msg_opcode == WSF_TEXT) {
        int u = utf8_feed(&p->utf8, d, k);
        if (u == UTF8_INVALID || (end && u != UTF8_OK))
            return WSF_E_UTF8;
    }
    *ev = (struct wsf_event){
        .kind = WSF_EV_DATA,
        .opcode = (enum wsf_opcode)p->msg_opcode,
        .msg_start = start,
        .msg_end = end,
        .msg_len_hint = start ? frame_len : 0,
        .data = d,
        .len = k,
    };
    p->frame_started = true;
    if (p->remaining == 0)
        p->state = WSF_S_HDR;
    if (end) {
        p->msg_opcode = 0;
        p->msg_total = 0;
    }
    return 0;
}

static int wsf_close_check(const struct wsf_parser *p, uint16_t *code)
{
    *code = 1005; /* RFC 6455 7.1.5: no status code present */
    if (p->ctrl_len == 0)
        return 0;
    if (p->ctrl_len == 1)
        return WSF_E_CLOSE_PAYLOAD;
    *code = (uint16_t)(p->ctrl[0] << 8 | p->ctrl[1]);
    if (!wsf_close_code_valid(*code))
        return WSF_E_CLOSE_PAYLOAD;
    return utf8_valid(p->ctrl + 2, p->ctrl_len - 2u) ? 0 : WSF_E_CLOSE_UTF8;
}

static int wsf_ctrl_done(struct wsf_parser *p, struct wsf_event *ev)
{
    uint16_t code = 0;
    if (p->opcode == WSF_CLOSE) {
        int r = wsf_close_check(p, &code);
        if (r < 0)
            return r;
    }
    *ev = (struct wsf_event){
        .kind = WSF_EV_CONTROL,
        .opcode = (enum wsf_opcode)p->opcode,
        .data = p->ctrl,
        .len = p->ctrl_len,
        .close_code = code,
    };
    p->state = WSF_S_HDR;
    return 0;
}

/* Header complete: set up the payload phase. Empty frames complete here, as
 * no payload byte will ever arrive to trigger their event. */
static int wsf_frame_begin(struct wsf_parser *p, uint8_t *after, struct wsf_event *ev)
{
    memcpy(p->mask, p->hdr + p->hdr_have - 4, 4);
    p->hdr_have = 0;
    p->mask_pos = 0;
    p->ctrl_len = 0;
    p->frame_started = false;
    if (WSF_IS_CTRL(p->opcode)) {
        p->state = WSF_S_CTRL;
        return p->remaining ? 0 : wsf_ctrl_done(p, ev);
    }
    if (p->opcode != WSF_CONT) {
        p->msg_opcode = p->opcode;
        p->utf8 = (struct utf8_state){0};
    }
    p->state = WSF_S_PAYLOAD;
    return p->remaining ? 0 : wsf_data(p, after, 0, ev);
}

bool wsf_between_frames(const struct wsf_parser *p)
{
    return p->state == WSF_S_HDR && p->hdr_have == 0;
}

int wsf_data_frame_size(const uint8_t *in, size_t n, uint64_t *size)
{
    if (n == 0)
        return 0;
    unsigned op = in[0] & WSF_OP;
    if ((in[0] & WSF_RSV) || (op != WSF_TEXT && op != WSF_BINARY && op != WSF_CONT))
        return -1;
    if (n < 2)
        return 0;
    if (!(in[1] & WSF_MASKED))
        return -1;
    unsigned len7 = in[1] & WSF_LEN7, ext = wsf_ext_len(len7);
    if (len7 == WSF_LEN64 && n > 2 && (in[2] & 0x80))
        return -1;
    if (n < 2 + ext)
        return 0;
    uint64_t len = len7;
    if (ext) {
        len = 0;
        for (unsigned i = 0; i < ext; i++)
            len = len << 8 | in[2 + i];
    }
    *size = 2 + ext + 4 + len; /* len < 2^63: no wrap */
    return 1;
}

static ssize_t wsf_step_hdr(struct wsf_parser *p, uint8_t *in, size_t n, struct wsf_event *ev)
{
    size_t i = 0;
    while (i < n) {
        int r = wsf_hdr_byte(p, in[i++]);
        if (r < 0)
            return r;
        if (p->hdr_have >= 2 && p->hdr_have == p->hdr_need) {
            r = wsf_frame_begin(p, in + i, ev);
            return r < 0 ? r : (ssize_t)i;
        }
    }
    return (ssize_t)i;
}

static ssize_t wsf_step_payload(struct wsf_parser *p, uint8_t *in, size_t n,
                                struct wsf_event *ev)
{
    size_t k = p->remaining < n ? (size_t)p->remaining : n;
    int r = wsf_data(p, in, k, ev);
    return r < 0 ? r : (ssize_t)k;
}

static ssize_t wsf_step_ctrl(struct wsf_parser *p, const uint8_t *in, size_t n,
                             struct wsf_event *ev)
{
    size_t k = p->remaining < n ? (size_t)p->remaining : n;
    memcpy(p->ctrl + p->ctrl_len, in, k);
    wsf_mask(p->ctrl + p->ctrl_len, k, p->mask, p->mask_pos);
    p->ctrl_len = (uint8_t)(p->ctrl_len + k);
    p->mask_pos = (uint8_t)((p->mask_pos + k) & 3);
    p->remaining -= k;
    if (p->remaining)
        return (ssize_t)k;
    int r = wsf_ctrl_done(p, ev);
    return r < 0 ? r : (ssize_t)k;
}

static ssize_t wsf_step(struct wsf_parser *p, uint8_t *in, size_t n, struct wsf_event *ev)
{
    switch (p->state) {
    case WSF_S_HDR:
        return wsf_step_hdr(p, in, n, ev);
    case WSF_S_PAYLOAD:
        return wsf_step_payload(p, in, n, ev);
    case WSF_S_CTRL:
        return wsf_step_ctrl(p, in, n, ev);
    default: /* WSF_S_FAILED is caught by wsf_feed; this is a corrupt state */
        return p->err < 0 ? p->err : WSF_E_OPCODE;
    }
}

ssize_t wsf_feed(struct wsf_parser *p, uint8_t *in, size_t n, struct wsf_event *ev)
{
    size_t used = 0;
    *ev = (struct wsf_event){.kind = WSF_EV_NONE};
    if (p->state == WSF_S_FAILED)
        return p->err;
    if (n > WSF_FEED_MAX)
        n = WSF_FEED_MAX;
    while (used < n && ev->kind == WSF_EV_NONE) {
        ssize_t r = wsf_step(p, in + used, n - used, ev);
        if (r < 0) {
            *ev = (struct wsf_event){.kind = WSF_EV_NONE};
            p->state = WSF_S_FAILED;
            p->err = (int8_t)r;
            return r;
        }
        used += (size_t)r;
    }
    return (ssize_t)used;
}

uint16_t wsf_close_code(int err)
{
    switch (err) {
    case WSF_E_TOO_BIG:
        return WS_CLOSE_TOO_BIG;
    case WSF_E_UTF8:
    case WSF_E_CLOSE_UTF8:
        return WS_CLOSE_INVALID_DATA;
    default:
        return WS_CLOSE_PROTOCOL;
    }
}

/* 1004-1006 and 1015 are reserved for local reporting and must never be on
 * the wire; 1016-2999 are unassigned protocol codes; 3000-4999 belong to
 * libraries and applications. */
bool wsf_close_code_valid(uint16_t code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

/* Length field in the shortest form; returns the bytes written after out[0]. */
static size_t wsf_put_len(uint8_t *out, uint8_t mask_bit, uint64_t len)
{
    if (len < WSF_LEN16) {
        out[1] = (uint8_t)(mask_bit | len);
        return 1;
    }
    unsigned ext = len <= 0xFFFF ? 2 : 8;
    out[1] = (uint8_t)(mask_bit | (ext == 2 ? WSF_LEN16 : WSF_LEN64));
    for (unsigned i = 0; i < ext; i++)
        out[2 + i] = (uint8_t)(len >> (8 * (ext - 1 - i)));
    return 1 + ext;
}

size_t wsf_header(uint8_t *out, enum wsf_opcode op, bool fin, uint64_t len)
{
    out[0] = (uint8_t)((fin ? WSF_FIN : 0) | ((unsigned)op & WSF_OP));
    return 1 + wsf_put_len(out, 0, len);
}

size_t wsf_header_masked(uint8_t *out, enum wsf_opcode op, bool fin, uint64_t len,
                         const uint8_t mask[4])
{
    out[0] = (uint8_t)((fin ? WSF_FIN : 0) | ((unsigned)op & WSF_OP));
    size_t n = 1 + wsf_put_len(out, WSF_MASKED, len);
    memcpy(out + n, mask, 4);
    return n + 4;
}

/* XOR eight bytes at a time with the mask rotated to the stream offset;
 * memcpy keeps the wide loads free of alignment and aliasing UB. */
void wsf_mask(uint8_t *p, size_t n, const uint8_t mask[4], size_t offset)
{
    uint8_t m[8];
    uint64_t mw, w;
    size_t i = 0;
    for (unsigned j = 0; j < 8; j++)
        m[j] = mask[(offset + j) & 3];
    memcpy(&mw, m, sizeof mw);
    for (; n - i >= 8; i += 8) {
        memcpy(&w, p + i, sizeof w);
        w ^= mw;
        memcpy(p + i, &w, sizeof w);
    }
    for (; i < n; i++)
        p[i] ^= m[i & 7];
}

#undef WSF_FIN
#undef WSF_RSV
#undef WSF_OP
#undef WSF_MASKED
#undef WSF_LEN7
#undef WSF_LEN16
#undef WSF_LEN64
#undef WSF_CTRL_MAX
#undef WSF_IS_CTRL
#undef WSF_FEED_MAX
