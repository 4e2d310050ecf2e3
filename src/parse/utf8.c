/* UTF-8 validation as an explicit range DFA (RFC 3629 section 4, Unicode
 * Table 3-7). Each non-boundary state names the range the next byte must fall
 * in; that is what makes the validator fail fast: E0 80, ED A0, F0 80 and
 * F4 90 are refused at their second byte instead of after a decoded code
 * point is range-checked. */
#include "parse/utf8.h"

#include <string.h>

enum utf8_dfa_state {
    UTF8_S_ACCEPT = 0, /* must stay 0: a zeroed utf8_state is at a boundary */
    UTF8_S_TAIL1,      /* one more 80..BF */
    UTF8_S_TAIL2,      /* two more 80..BF */
    UTF8_S_TAIL3,      /* three more 80..BF */
    UTF8_S_E0,         /* A0..BF then TAIL1: excludes overlong 3-byte forms */
    UTF8_S_ED,         /* 80..9F then TAIL1: excludes surrogates D800..DFFF */
    UTF8_S_F0,         /* 90..BF then TAIL2: excludes overlong 4-byte forms */
    UTF8_S_F4,         /* 80..8F then TAIL2: excludes > U+10FFFF */
    UTF8_S_REJECT,     /* sticky */
};

struct utf8_range {
    uint8_t lo, hi, next;
};

/* Indexed by state; only the non-boundary states are ever looked up. */
static const struct utf8_range utf8_cont[] = {
    [UTF8_S_TAIL1] = {0x80, 0xBF, UTF8_S_ACCEPT},
    [UTF8_S_TAIL2] = {0x80, 0xBF, UTF8_S_TAIL1},
    [UTF8_S_TAIL3] = {0x80, 0xBF, UTF8_S_TAIL2},
    [UTF8_S_E0] = {0xA0, 0xBF, UTF8_S_TAIL1},
    [UTF8_S_ED] = {0x80, 0x9F, UTF8_S_TAIL1},
    [UTF8_S_F0] = {0x90, 0xBF, UTF8_S_TAIL2},
    [UTF8_S_F4] = {0x80, 0x8F, UTF8_S_TAIL2},
};

/* C0 and C1 could only start overlong 2-byte forms, F5..FF only code points
 * above U+10FFFF, so they are refused as lead bytes. */
static uint8_t utf8_lead(uint8_t b)
{
    if (b < 0x80)
        return UTF8_S_ACCEPT;
    if (b < 0xC2)
        return UTF8_S_REJECT;
    if (b < 0xE0)
        return UTF8_S_TAIL1;
    if (b == 0xE0)
        return UTF8_S_E0;
    if (b == 0xED)
        return UTF8_S_ED;
    if (b < 0xF0)
        return UTF8_S_TAIL2;
    if (b == 0xF0)
        return UTF8_S_F0;
    if (b < 0xF4)
        return UTF8_S_TAIL3;
    if (b == 0xF4)
        return UTF8_S_F4;
    return UTF8_S_REJECT;
}

static uint8_t utf8_step(uint8_t s, uint8_t b)
{
    if (s == UTF8_S_ACCEPT)
        return utf8_lead(b);
    if (b < utf8_cont[s].lo || b > utf8_cont[s].hi)
        return UTF8_S_REJECT;
    return utf8_cont[s].next;
}

/* Text payloads are mostly ASCII; skipping 8 bytes per test at a boundary
 * keeps validation off the profile. memcpy keeps the load aligned-agnostic. */
static size_t utf8_ascii_run(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        if (w & UINT64_C(0x8080808080808080))
            break;
        i += 8;
    }
    return i;
}

int utf8_feed(struct utf8_state *st, const uint8_t *p, size_t n)
{
    uint8_t s = (uint8_t)st->state;
    if (st->state >= UTF8_S_REJECT)
        return UTF8_INVALID;
    for (size_t i = 0; i < n; i++) {
        if (s == UTF8_S_ACCEPT) {
            i += utf8_ascii_run(p + i, n - i);
            if (i == n)
                break;
        }
        s = utf8_step(s, p[i]);
        if (s == UTF8_S_REJECT) {
            st->state = s;
            return UTF8_INVALID;
        }
    }
    st->state = s;
    return s == UTF8_S_ACCEPT ? UTF8_OK : UTF8_PARTIAL;
}

bool utf8_valid(const uint8_t *p, size_t n)
{
    struct utf8_state st = {0};
    return utf8_feed(&st, p, n) == UTF8_OK;
}
