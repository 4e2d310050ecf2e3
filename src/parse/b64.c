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

int b64_encode(const void *in, size_t n, char *out, size_t cap, size_t *olen)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = in;
    bool huge = n / 3 >= SIZE_MAX / 4 - 1; /* 4 * ceil(n / 3) would overflow */
    size_t need = huge ? SIZE_MAX : (n / 3 + (n % 3 != 0)) * 4;
    if (olen)
        *olen = 0;
    if (cap == 0 || need > cap - 1) {
        if (cap)
            out[0] = '\0';
        return -1;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = '\0';
    if (olen)
        *olen = o;
    return 0;
}
