/* deps: none */
#include "parse/b64.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63 for a standard-alphabet character, else -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Only the canonical spelling: no whitespace, '=' only at the end, and the
 * bits the padding leaves unused must be zero ("CC/=" is not "CC8="). */
static bool b64_strict(const char *in, size_t n)
{
    if (n % 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        /* '=' only as the last one or two characters */
        if (b64_value(c) < 0 && !(c == '=' && i >= n - 2 && (i == n - 1 || in[n - 1] == '=')))
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
    if (!b64_strict(in, n))
        return B64_E_BAD;
    size_t pad = n && in[n - 1] == '=' ? (in[n - 2] == '=' ? 2 : 1) : 0;
    size_t len = n / 4 * 3 - pad;
    if (len > cap)
        return B64_E_TOO_BIG;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) /* '=' counts as 0: its bits are dropped below */
            v = v << 6 | (uint32_t)(in[i + j] == '=' ? 0 : b64_value((unsigned char)in[i + j]));
        for (int s = 16; s >= 0 && o < len; s -= 8)
            out[o++] = (uint8_t)(v >> s);
    }
    return (ssize_t)len;
}

/* Groups of 3 bytes -> 4 characters; the tail padded with '=' when pad. */
static size_t b64_put(const uint8_t *in, size_t n, char *out, const char *abc, bool pad)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    if (i < n) {
        bool two = n - i == 2;
        uint32_t v = (uint32_t)in[i] << 16 | (two ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        if (two)
            out[o++] = abc[(v >> 6) & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

ssize_t b64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    if (n > SIZE_MAX / 2 || cap < b64_encoded_len(n) + 1)
        return B64_E_TOO_BIG;
    return (ssize_t)b64_put(in, n, out, b64_std, true);
}

ssize_t b64url_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    if (n > SIZE_MAX / 2 || cap < b64url_encoded_len(n) + 1)
        return B64_E_TOO_BIG;
    return (ssize_t)b64_put(in, n, out, b64_url, false);
}
