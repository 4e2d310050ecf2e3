/* Base64 (RFC 4648): strict decoding of client payloads (standard alphabet,
 * '=' padding, no whitespace, only the canonical spelling) into a caller
 * buffer, and encoding in the standard form or the URL-safe unpadded one
 * (ids that go into URLs and cookies). deps: none */
#ifndef B64_H
#define B64_H
#include "parse/base.h"

enum b64_error {
    B64_E_BAD = -1,     /* not strict base64 */
    B64_E_TOO_BIG = -2, /* decodes to more than cap bytes / encoding does not fit */
};

/* Upper bound of the decoded size of n characters. */
static inline size_t b64_decoded_max(size_t n) { return n / 4 * 3 + 3; }
/* Characters of the encoding of n bytes: padded standard, unpadded URL-safe. */
static inline size_t b64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }
static inline size_t b64url_encoded_len(size_t n) { return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0); }

/* Decode in[0..n) into out (capacity cap). Returns the decoded length or a
 * negative enum b64_error. An empty input decodes to 0 bytes. */
ssize_t b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);
/* Encode in[0..n) in the standard alphabet with '=' padding into out
 * (capacity cap), NUL-terminated. Returns the length without the NUL, or
 * B64_E_TOO_BIG when cap < b64_encoded_len(n) + 1. */
ssize_t b64_encode(const uint8_t *in, size_t n, char *out, size_t cap);
/* The same in the URL-safe alphabet ('-' and '_' for '+' and '/'), without
 * padding: b64url_encoded_len(n) characters. */
ssize_t b64url_encode(const uint8_t *in, size_t n, char *out, size_t cap);
#endif
