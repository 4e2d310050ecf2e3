/* Strict base64 decoding (RFC 4648 standard alphabet, '=' padding, no
 * whitespace) of client payloads into a caller buffer. The decoding itself
 * is mbedTLS's; this adds the strictness and a clear result.
 * deps: mbedTLS base64 */
#ifndef B64_H
#define B64_H
#include "parse/base.h"

enum b64_error {
    B64_E_BAD = -1,     /* not strict base64 */
    B64_E_TOO_BIG = -2, /* decodes to more than cap bytes */
};

/* Upper bound of the decoded size of n characters. */
static inline size_t b64_decoded_max(size_t n) { return n / 4 * 3 + 3; }

/* Decode in[0..n) into out (capacity cap). Returns the decoded length or a
 * negative enum b64_error. An empty input decodes to 0 bytes. */
ssize_t b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);
#endif
