/* deps: none; links mbedcrypto (base64) */
#include "parse/b64.h"

#include <string.h>

#include <mbedtls/base64.h>

static int b64_value(unsigned char c)
{
    const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(abc, c) : NULL;
    return p ? (int)(p - abc) : -1;
}

/* Only the canonical spelling: no whitespace, '=' only at the end, and the
 * bits the padding leaves unused must be zero ("CC/=" is not "CC8="). */
static bool b64_strict(const char *in, size_t n)
{
    if (n % 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/';
        /* '=' only as the last one or two characters */
        if (!alpha && !(c == '=' && i >= n - 2 && (i == n - 1 || in[n - 1] == '=')))
            return false;
    }
    if (n && in[n - 1] == '=') {
        bool two = in[n - 2] == '=';
        int last = b64_value((unsigned char)in[n - (two ? 3 : 2)]);
        if (last < 0 || (last & (two ? 0x0F : 0x03)))
            return false;
    }
    return true;
}

ssize_t b64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    size_t len = 0;
    if (!b64_strict(in, n))
        return B64_E_BAD;
    int r = mbedtls_base64_decode(out, cap, &len, (const unsigned char *)in, n);
    if (r == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL)
        return B64_E_TOO_BIG;
    return r == 0 ? (ssize_t)len : B64_E_BAD;
}
