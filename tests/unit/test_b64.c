// deps: src/parse/b64.c
// libs: mbedtls
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
    return T_DONE();
}
