/* RESP (the Redis serialization protocol): a pure reply parser and a command
 * encoder. RESP2 replies (+simple -error :integer $bulk *array, null bulk and
 * null array) and the RESP3 types a server may send (_null #bool ,double
 * (bignum !blob-error =verbatim %map ~set >push |attribute is refused).
 *
 * resp_parse() is picohttpparser style: it is given the whole buffer received
 * so far and either returns the length of one complete reply, or
 * RESP_INCOMPLETE (call again with more bytes), or a negative error. Nothing is
 * kept between calls and nothing is allocated: the reply is laid out in the
 * caller's array of value slots in pre-order (an aggregate's children follow
 * it; v->size says how many slots the whole subtree takes, so the next sibling
 * is at v + v->size). Strings point into the caller's buffer.
 * deps: none */
#ifndef RESP_H
#define RESP_H
#include "parse/base.h"

/* Nesting deeper than this is refused: the replies we ask for are at most two
 * levels deep (SCAN: [cursor, [keys]]); the cap bounds the parser's stack. */
#define RESP_DEPTH_MAX 8
/* Longest bulk string accepted (Redis's own proto-max-bulk-len default is
 * 512 MB; ours are session blobs well under this). */
#define RESP_BULK_MAX (16u * 1024u * 1024u)
/* Longest line (+simple, -error, numbers) accepted before its CRLF. */
#define RESP_LINE_MAX 65536u

enum resp_result {
    RESP_INCOMPLETE = 0, /* need more bytes */
    RESP_ERROR = -1,     /* not RESP, or over a limit above: the stream is unusable */
    RESP_TOO_MANY = -2,  /* well-formed so far but needs more value slots than given */
};

enum resp_type {
    RESP_SIMPLE = '+',
    RESP_ERR = '-',      /* also RESP3 blob error '!' */
    RESP_INT = ':',
    RESP_BULK = '$',     /* also RESP3 verbatim '=' (str has the "txt:" prefix removed) */
    RESP_ARRAY = '*',    /* also RESP3 set '~' */
    RESP_NIL = '_',      /* null bulk $-1, null array *-1, RESP3 _ */
    RESP_BOOL = '#',     /* integer 0 / 1 */
    RESP_DOUBLE = ',',   /* str holds the text */
    RESP_BIGNUM = '(',   /* str holds the digits */
    RESP_MAP = '%',      /* count = 2 * pairs: key, value, key, value ... */
    RESP_PUSH = '>',     /* out-of-band (RESP3 pub/sub message) */
};

struct resp_value {
    uint8_t type;      /* enum resp_type */
    const char *str;   /* SIMPLE ERR BULK DOUBLE BIGNUM: the bytes (not NUL-terminated) */
    size_t len;
    int64_t integer;   /* INT, BOOL */
    uint32_t count;    /* aggregates: direct children */
    uint32_t size;     /* slots this value and its subtree take (1 for scalars) */
};

/* Parse one reply from buf[0..len) into v[0..nv). Returns bytes consumed
 * (> 0), or an enum resp_result. On success *nused (when not NULL) is the
 * number of slots filled (v[0].size). */
ssize_t resp_parse(const char *buf, size_t len, struct resp_value *v, size_t nv, size_t *nused);

/* The k-th direct child of aggregate v (k < v->count), or NULL. */
const struct resp_value *resp_child(const struct resp_value *v, uint32_t k);

/* true when v is a SIMPLE or BULK string equal to s[0..n). */
bool resp_is(const struct resp_value *v, const char *s, size_t n);

/* Bytes the command argv[0..argc) takes as an array of bulk strings. */
size_t resp_command_len(int argc, const char *const *argv, const size_t *lens);
/* Encode the command into out[0..cap): bytes written, or 0 when it does not
 * fit (nothing written then) or argc < 1. */
size_t resp_encode_command(char *out, size_t cap, int argc, const char *const *argv, const size_t *lens);
#endif
