// deps: src/parse/b64.c
// libs: mbedtls
/* b64 fuzzer. Decoding: the result is an error or fits the capacity and
 * b64_decoded_max; an accepted input re-encodes to exactly the input, both by
 * b64_encode and by mbedTLS (an independent implementation), so strict means
 * canonical; a smaller capacity than the result gives B64_E_TOO_BIG.
 * Encoding: the input bytes encode (standard and URL-safe) to the announced
 * lengths, agree with mbedTLS, and decode back to the input. Inputs copied to
 * exact-size heap blocks. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#include "parse/b64.h"

static void fz_decode(const char *in, size_t size)
{
    size_t cap = b64_decoded_max(size);
    uint8_t *out = malloc(cap ? cap : 1);
    ssize_t r = b64_decode(in, size, out, cap);
    if (r >= 0) {
        if ((size_t)r > cap)
            abort();
        unsigned char *re = malloc(size + 1);
        size_t olen = 0;
        if (mbedtls_base64_encode(re, size + 1, &olen, out, (size_t)r) != 0 || olen != size ||
            memcmp(re, in, size) != 0)
            abort();
        if (b64_encode(out, (size_t)r, (char *)re, size + 1) != (ssize_t)size || memcmp(re, in, size) != 0)
            abort();
        free(re);
        if (r > 0 && b64_decode(in, size, out, (size_t)r - 1) != B64_E_TOO_BIG)
            abort();
    } else if (r != B64_E_BAD && r != B64_E_TOO_BIG) {
        abort();
    }
    free(out);
}

static void fz_encode(const uint8_t *in, size_t size)
{
    size_t n = b64_encoded_len(size), un = b64url_encoded_len(size);
    char *e = malloc(n + 1), *u = malloc(un + 1);
    unsigned char *m = malloc(n + 1);
    uint8_t *back = malloc(size ? size : 1);
    size_t olen = 0;
    if (b64_encode(in, size, e, n + 1) != (ssize_t)n || e[n] != '\0' ||
        mbedtls_base64_encode(m, n + 1, &olen, in, size) != 0 || olen != n || memcmp(m, e, n) != 0 ||
        b64_decode(e, n, back, size) != (ssize_t)size || memcmp(back, in, size) != 0)
        abort();
    if (b64url_encode(in, size, u, un + 1) != (ssize_t)un || u[un] != '\0' ||
        b64_encode(in, size, e, n) != B64_E_TOO_BIG || b64url_encode(in, size, u, un) != B64_E_TOO_BIG)
        abort();
    for (size_t i = 0; i < un; i++) /* the URL-safe form is the standard one, renamed and cut */
        if (u[i] != (m[i] == '+' ? '-' : m[i] == '/' ? '_' : (char)m[i]))
            abort();
    if (un != n && m[un] != '=')
        abort();
    free(back);
    free(m);
    free(u);
    free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    fz_decode(in, size);
    fz_encode((const uint8_t *)in, size);
    free(in);
    return 0;
}
