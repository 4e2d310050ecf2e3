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

/* Encode in[0..n) as base64 (standard alphabet, '=' padding, no line
 * breaks) into out, NUL-terminated; *olen (may be NULL) gets the length
 * without the NUL. Returns 0, or -1 when cap < 4 * ceil(n / 3) + 1 (then
 * out holds "" if cap > 0). */
int b64_encode(const void *in, size_t n, char *out, size_t cap, size_t *olen);
#endif
