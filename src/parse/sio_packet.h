/* Engine.IO v4 / Socket.IO v5 packets as they travel over a WebSocket (no
 * polling framing: one Engine.IO packet per WebSocket message, binary
 * messages are raw attachment bytes without a type prefix).
 *
 * Text packet grammar (strict; what socket.io-parser 4.x emits):
 *   eio   = "0".."6" rest              (open close ping pong message upgrade noop)
 *   sio   = "4" type [attach "-"] [nsp ","] [id] [json]    (only in eio message)
 *   type  = "0".."6"  CONNECT DISCONNECT EVENT ACK CONNECT_ERROR BINARY_EVENT BINARY_ACK
 *   attach= 1..SIO_ATTACH_DIGITS digits, no leading zero, only for types 5/6
 *   nsp   = "/" then bytes up to ","; "/" alone is the main namespace and
 *           is written without the ","
 *   id    = 1..SIO_ID_DIGITS digits, no leading zero (ack id)
 *   json  = the rest; its first byte must fit the type: CONNECT "{" or none,
 *           DISCONNECT none, EVENT/BINARY_EVENT/ACK/BINARY_ACK "[",
 *           CONNECT_ERROR "{" or "\"".  (Full JSON validity and the
 *           placeholder check are the caller's: sio_placeholders_check.)
 * A BINARY_EVENT/BINARY_ACK announces N attachments: the next N WebSocket
 * messages must be binary; sio_rx tracks that (a text message before they
 * are all in, or a binary one when none is due, is an error).
 *
 * Pure: no I/O, no allocation (except sio_placeholders_check, which walks a
 * cJSON tree the caller owns). deps: none (placeholder check: cJSON) */
#ifndef SIO_PACKET_H
#define SIO_PACKET_H
#include "parse/base.h"

#define SIO_ATTACH_DIGITS 3  /* a count above 999 is refused before any limit */
#define SIO_ID_DIGITS 9      /* ack ids up to 999999999 */
#define SIO_NSP_MAX 128

enum sio_eio_type { EIO_OPEN = 0, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE, EIO_UPGRADE, EIO_NOOP };
enum sio_type {
    SIO_CONNECT = 0, SIO_DISCONNECT, SIO_EVENT, SIO_ACK, SIO_CONNECT_ERROR,
    SIO_BINARY_EVENT, SIO_BINARY_ACK,
};

enum sio_result {
    SIO_OK = 0,
    SIO_E_EMPTY = -1,        /* empty message */
    SIO_E_EIO_TYPE = -2,     /* first byte not an Engine.IO packet type */
    SIO_E_SIO_TYPE = -3,     /* Socket.IO type missing or unknown */
    SIO_E_ATTACH = -4,       /* attachment count malformed, zero, or over max */
    SIO_E_NSP = -5,          /* namespace unterminated, too long, or has control bytes */
    SIO_E_ID = -6,           /* ack id malformed or too long */
    SIO_E_PAYLOAD = -7,      /* payload missing/present/shaped wrongly for the type */
    SIO_E_UNEXPECTED_TEXT = -8,   /* text while attachments are due */
    SIO_E_UNEXPECTED_BINARY = -9, /* binary with no attachment due */
    SIO_E_ATTACH_SIZE = -10,      /* attachment bytes over the cap */
};

struct sio_packet {
    uint8_t eio;             /* enum sio_eio_type */
    int8_t type;             /* enum sio_type, -1 unless eio == EIO_MESSAGE */
    uint32_t attachments;    /* BINARY_* only */
    struct slice nsp;        /* "/" when absent */
    bool has_id;
    uint32_t id;
    struct slice data;       /* JSON text (may be empty); for non-message eio: the rest */
};

/* Parse one text WebSocket message. max_attach bounds the attachment count. */
int sio_parse(const uint8_t *p, size_t n, uint32_t max_attach, struct sio_packet *out);

/* Receive side sequencing of text packets and their binary attachments. */
enum sio_rx_state { SIO_RX_IDLE = 0, SIO_RX_ATTACH };
struct sio_rx {
    enum sio_rx_state state;
    uint32_t want, got;  /* attachments announced / received */
    uint64_t bytes, max_bytes; /* attachment bytes so far / cap for one packet */
    bool over;           /* the cap was passed: the packet's attachments are refused */
};
/* A text packet arrived and parsed as pkt: SIO_OK, or SIO_E_UNEXPECTED_TEXT.
 * Afterwards sio_rx_pending() tells whether attachments are due. */
int sio_rx_text(struct sio_rx *rx, const struct sio_packet *pkt);
/* A binary message of n bytes: SIO_OK (index in *idx; *last when it was the
 * final one) or SIO_E_UNEXPECTED_BINARY. Once the packet's attachments pass
 * max_bytes, this and every later one of the packet give SIO_E_ATTACH_SIZE
 * (with *idx and *last still set), so the caller can drop them all and
 * answer once the last has arrived, in step with the sender. */
int sio_rx_binary(struct sio_rx *rx, size_t n, uint32_t *idx, bool *last);
bool sio_rx_pending(const struct sio_rx *rx);

/* Head of an outgoing Socket.IO packet inside an Engine.IO message:
 * "4" type [N "-"] [nsp ","] [id]. nsp NULL or "/" = main namespace; id < 0
 * = none. Returns the length (NUL-terminated) or -1 if cap is too small. */
int sio_encode_head(char *out, size_t cap, enum sio_type type, uint32_t attachments,
                    const char *nsp, long long id);

const char *sio_strerror(int r);

/* Placeholder check of a BINARY_* payload (a cJSON tree): every object that
 * has "_placeholder" must be exactly {"_placeholder":true,"num":k} with k an
 * integer in 0..n-1, each k used once, and all n used. Returns true when so
 * (n == 0: no placeholder at all). Recursion bounded by the tree's depth,
 * which the caller validated (jsonv). */
struct cJSON;
bool sio_placeholders_check(const struct cJSON *root, uint32_t n);
#endif
