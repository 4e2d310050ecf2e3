/* Incremental, fail-fast UTF-8 validator (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). State carries across calls so a
 * message split into fragments is checked as one byte stream, and the first
 * byte that can no longer start or continue a valid sequence is reported at
 * once (Autobahn 6.4.x "fail fast"). deps: none. */
#ifndef UTF8_H
#define UTF8_H
#include "parse/base.h"

struct utf8_state {
    uint32_t state; /* 0 = at a code point boundary */
};

enum {
    UTF8_OK = 0,       /* all input valid and ends on a code point boundary */
    UTF8_PARTIAL = 1,  /* valid so far, ends inside a multi-byte sequence */
    UTF8_INVALID = -1, /* input can never be valid UTF-8; state is poisoned */
};

/* Feed n bytes. Returns UTF8_OK, UTF8_PARTIAL or UTF8_INVALID. */
int utf8_feed(struct utf8_state *st, const uint8_t *p, size_t n);

/* Whole-buffer convenience: true if p[0..n) is complete valid UTF-8. */
bool utf8_valid(const uint8_t *p, size_t n);
#endif
