// deps: src/parse/b64.c
// libs: mbedtls
/* b64_decode fuzzer. Invariants: the result is an error or fits the
 * capacity and b64_decoded_max; an accepted input re-encodes (mbedTLS) to
 * exactly the input, so strict means canonical; a smaller capacity than the
 * result gives B64_E_TOO_BIG. Input copied to an exact-size heap block. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#include "parse/b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1);
    memcpy(in, data, size);
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
        free(re);
        if (r > 0 && b64_decode(in, size, out, (size_t)r - 1) != B64_E_TOO_BIG)
            abort();
    } else if (r != B64_E_BAD && r != B64_E_TOO_BIG) {
        abort();
    }
    free(out);
    free(in);
    return 0;
}
