/* RFC 6455 receive-side parser (server role) and frame header encoder.
 *
 * wsf_feed() is a push parser: it takes whatever bytes arrived, keeps at most a
 * frame header and one control payload (<= 125 B) in its state, unmasks data
 * payload in place, and reports one event per call. It enforces every
 * receive-side rule of RFC 6455: client frames masked, RSV bits zero, known
 * opcodes, control frames <= 125 B and FIN set, minimal-length-agnostic 16/64
 * bit lengths with the 64-bit MSB clear, continuation only inside a fragmented
 * message and a new data frame only outside one, message size <= max_message
 * (checked on the declared length, before payload arrives), UTF-8 of text
 * messages validated fail-fast across fragments, close payload validation.
 * No I/O, no allocation. deps: utf8.c */
#ifndef WS_FRAME_H
#define WS_FRAME_H
#include "parse/base.h"
#include "parse/utf8.h"

enum wsf_opcode {
    WSF_CONT = 0x0,
    WSF_TEXT = 0x1,
    WSF_BINARY = 0x2,
    WSF_CLOSE = 0x8,
    WSF_PING = 0x9,
    WSF_PONG = 0xA,
};

/* WebSocket close codes (RFC 6455 7.4.1), named where we send them; 4000 is
 * ours, from the private range. */
enum ws_close {
    WS_CLOSE_NORMAL = 1000,       /* done: end_interview, disconnect by request, Engine.IO close */
    WS_CLOSE_GOING_AWAY = 1001,   /* idle timeout, server shutting down */
    WS_CLOSE_PROTOCOL = 1002,     /* a frame broke RFC 6455 */
    WS_CLOSE_NO_STATUS = 1005,    /* never sent: the peer's close had no code (we echo an empty close) */
    WS_CLOSE_INVALID_DATA = 1007, /* invalid UTF-8 */
    WS_CLOSE_POLICY = 1008,       /* rate limits, Socket.IO parse errors, no CONNECT in time */
    WS_CLOSE_TOO_BIG = 1009,      /* message over MAX_MESSAGE_SIZE */
    WS_CLOSE_INTERNAL = 1011,     /* ping timeout, out of memory */
    WS_CLOSE_TRY_AGAIN = 1013,    /* buffers exhausted, client not reading */
    WS_CLOSE_REPLACED = 4000,     /* a newer connection took over this session id */
};

enum wsf_error {
    WSF_E_RSV = -1,            /* RSV1-3 set (no extension negotiated) -> 1002 */
    WSF_E_OPCODE = -2,         /* reserved opcode -> 1002 */
    WSF_E_UNMASKED = -3,       /* client frame without mask -> 1002 */
    WSF_E_CTRL_TOO_LONG = -4,  /* control payload > 125 -> 1002 */
    WSF_E_CTRL_FRAGMENTED = -5,/* control frame with FIN clear -> 1002 */
    WSF_E_LEN64 = -6,          /* 64-bit length with MSB set -> 1002 */
    WSF_E_UNEXPECTED_CONT = -7,/* continuation with no message open -> 1002 */
    WSF_E_EXPECTED_CONT = -8,  /* new data frame while a message is open -> 1002 */
    WSF_E_TOO_BIG = -9,        /* message would exceed max_message -> 1009 */
    WSF_E_UTF8 = -10,          /* invalid UTF-8 in a text message -> 1007 */
    WSF_E_CLOSE_PAYLOAD = -11, /* close payload of 1 byte or bad code -> 1002 */
    WSF_E_CLOSE_UTF8 = -12,    /* close reason not UTF-8 -> 1007 */
};

enum wsf_event_kind {
    WSF_EV_NONE = 0, /* consumed bytes, nothing complete yet */
    WSF_EV_DATA,     /* a piece of a text/binary message's payload */
    WSF_EV_CONTROL,  /* a complete ping, pong or close frame */
};

struct wsf_event {
    enum wsf_event_kind kind;
    enum wsf_opcode opcode; /* DATA: WSF_TEXT/WSF_BINARY of the message; CONTROL: its opcode */
    bool msg_start;         /* DATA: first bytes of a message (may have len 0) */
    bool msg_end;           /* DATA: last bytes of the message (FIN frame fully read) */
    uint64_t msg_len_hint;  /* DATA at msg_start: payload length of this first frame */
    const uint8_t *data;    /* DATA: unmasked bytes inside the caller's input; CONTROL: inside the parser */
    size_t len;             /* CONTROL: whole payload, close code included */
    uint16_t close_code;    /* CONTROL close: code sent by peer, 1005 if none */
};

struct wsf_parser {
    /* configuration, set before the first feed */
    uint64_t max_message;
    /* state (zero-initialise) */
    uint8_t state;
    uint8_t hdr[14];
    uint8_t hdr_have;
    uint8_t hdr_need;
    uint8_t opcode;         /* of the current frame */
    uint8_t fin;
    uint8_t msg_opcode;     /* 0 = no message open (between frames: none fragmented) */
    uint8_t mask[4];
    uint8_t mask_pos;
    uint8_t ctrl_len;
    bool frame_started;     /* first DATA event of this frame sent */
    uint64_t remaining;     /* payload bytes of this frame still to come */
    uint64_t msg_total;     /* payload bytes of the open message so far */
    struct utf8_state utf8;
    int8_t err;             /* the wsf_error once failed; repeated by later feeds */
    uint8_t ctrl[125];
};

/* Consume up to n bytes of in (which is unmasked in place). Returns the number
 * of bytes consumed (>= 0; 0 only when n == 0) and sets *ev, or a negative
 * enum wsf_error. After an error the parser must not be fed again (if it is,
 * it returns the same error and consumes nothing). Callers loop until all
 * input is consumed, handling each event as it comes. max_message == 0 allows
 * only empty messages. */
ssize_t wsf_feed(struct wsf_parser *p, uint8_t *in, size_t n, struct wsf_event *ev);

/* True when p holds no part of a frame (the next byte starts a header). */
bool wsf_between_frames(const struct wsf_parser *p);

/* For callers that want a whole data frame in view: the frame starting at
 * in[0] (n bytes present). Returns 1 with *size = header + payload bytes once
 * the length is known, 0 while the bytes so far fit a masked data frame but
 * its length is still to come, -1 for anything else (control frame, RSV, no
 * mask, LEN64 with the MSB set). Validates nothing wsf_feed would not. */
int wsf_data_frame_size(const uint8_t *in, size_t n, uint64_t *size);

/* WebSocket close code to send for a wsf_error (1002, 1007 or 1009). */
uint16_t wsf_close_code(int err);

/* Is code acceptable in a received close frame (RFC 6455 7.4)? */
bool wsf_close_code_valid(uint16_t code);

/* Write an unmasked (server) frame header for a payload of len bytes into out
 * (>= 10 bytes). Returns the header length (2, 4 or 10). */
size_t wsf_header(uint8_t *out, enum wsf_opcode op, bool fin, uint64_t len);

/* Write a masked (client) frame header into out (>= 14 bytes); the caller
 * masks the payload with wsf_mask(). Used by tests, fuzz seeds and the bench
 * client. Returns the header length (6, 8 or 14). */
size_t wsf_header_masked(uint8_t *out, enum wsf_opcode op, bool fin, uint64_t len,
                         const uint8_t mask[4]);
void wsf_mask(uint8_t *p, size_t n, const uint8_t mask[4], size_t offset);
#endif
