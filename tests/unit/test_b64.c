// deps: src/parse/b64.c
#include "parse/b64.h"
#include "t.h"

static ssize_t dec(const char *s, uint8_t *out, size_t cap) { return b64_decode(s, strlen(s), out, cap); }

int main(void)
{
    uint8_t o[64];
    /* RFC 4648 section 10 vectors */
    CHECK(dec("", o, sizeof o) == 0);
    CHECK(dec("Zg==", o, sizeof o) == 1 && o[0] == 'f');
    CHECK(dec("Zm8=", o, sizeof o) == 2 && memcmp(o, "fo", 2) == 0);
    CHECK(dec("Zm9v", o, sizeof o) == 3 && memcmp(o, "foo", 3) == 0);
    CHECK(dec("Zm9vYmFy", o, sizeof o) == 6 && memcmp(o, "foobar", 6) == 0);
    CHECK(dec("dGhlIHNhbXBsZSBub25jZQ==", o, sizeof o) == 16);
    /* strictness */
    CHECK(dec("Zg", o, sizeof o) == B64_E_BAD);          /* missing padding */
    CHECK(dec("Zm9v\n", o, sizeof o) == B64_E_BAD);      /* whitespace */
    CHECK(dec("Zm 9v", o, sizeof o) == B64_E_BAD);
    CHECK(dec("Z=9v", o, sizeof o) == B64_E_BAD);        /* '=' inside */
    CHECK(dec("Zg=v", o, sizeof o) == B64_E_BAD);
    CHECK(dec("Zm9v-_==", o, sizeof o) == B64_E_BAD);    /* URL alphabet */
    CHECK(dec("====", o, sizeof o) == B64_E_BAD);
    CHECK(dec("Zm9vYmFy", o, 5) == B64_E_TOO_BIG);
    CHECK(dec("CC/=", o, sizeof o) == B64_E_BAD);        /* unused bits set: not canonical */
    CHECK(dec("Zh==", o, sizeof o) == B64_E_BAD);
    CHECK(dec("CC8=", o, sizeof o) == 2);
    CHECK(b64_decoded_max(8) >= 6);

    /* encoding: RFC 4648 section 10 vectors, standard and URL-safe unpadded */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char e[64];
    for (size_t i = 0; i < ARRAY_LEN(plain); i++) {
        size_t n = strlen(plain[i]);
        CHECK(b64_encode((const uint8_t *)plain[i], n, e, sizeof e) == (ssize_t)strlen(std[i]));
        CHECK(strcmp(e, std[i]) == 0 && b64_encoded_len(n) == strlen(std[i]));
        CHECK(b64url_encode((const uint8_t *)plain[i], n, e, sizeof e) == (ssize_t)strlen(url[i]));
        CHECK(strcmp(e, url[i]) == 0 && b64url_encoded_len(n) == strlen(url[i]));
    }
    /* the alphabets differ in the last two characters only */
    const uint8_t hi[3] = {0xFB, 0xFF, 0xBF};
    CHECK(b64_encode(hi, 3, e, sizeof e) == 4 && strcmp(e, "+/+/") == 0);
    CHECK(b64url_encode(hi, 3, e, sizeof e) == 4 && strcmp(e, "-_-_") == 0);
    /* capacity includes the NUL */
    CHECK(b64_encode((const uint8_t *)"foo", 3, e, 4) == B64_E_TOO_BIG);
    CHECK(b64_encode((const uint8_t *)"foo", 3, e, 5) == 4);
    CHECK(b64url_encode((const uint8_t *)"fo", 2, e, 3) == B64_E_TOO_BIG);
    CHECK(b64url_encode((const uint8_t *)"fo", 2, e, 4) == 3);
    /* 15 bytes (a Socket.IO id) -> 20 characters either way, no padding */
    uint8_t raw[15];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(i * 37 + 250);
    CHECK(b64url_encode(raw, sizeof raw, e, 21) == 20 && b64_encode(raw, sizeof raw, e, 21) == 20);
    /* round trip over every byte value */
    uint8_t all[256], back[256];
    char big[400];
    for (size_t i = 0; i < sizeof all; i++)
        all[i] = (uint8_t)i;
    for (size_t n = 0; n <= sizeof all; n += 17) {
        ssize_t k = b64_encode(all, n, big, sizeof big);
        CHECK(k >= 0 && b64_decode(big, (size_t)k, back, sizeof back) == (ssize_t)n);
        CHECK(memcmp(all, back, n) == 0);
    }
    return T_DONE();
}
