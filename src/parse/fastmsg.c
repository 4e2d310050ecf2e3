/* deps: none */
#include "parse/fastmsg.h"

#include <string.h>

struct fm {
    const uint8_t *p, *end;
};

static void fm_ws(struct fm *f)
{
    while (f->p < f->end && (*f->p == ' ' || *f->p == '\n' || *f->p == '\r' || *f->p == '\t'))
        f->p++;
}

static bool fm_byte(struct fm *f, uint8_t b)
{
    fm_ws(f);
    if (f->p == f->end || *f->p != b)
        return false;
    f->p++;
    return true;
}

/* A string of printable ASCII without escapes; *s, *len point inside p. */
static bool fm_string(struct fm *f, const uint8_t **s, size_t *len)
{
    if (!fm_byte(f, '"'))
        return false;
    const uint8_t *start = f->p;
    while (f->p < f->end && *f->p != '"') {
        if (*f->p < 0x20 || *f->p > 0x7E || *f->p == '\\')
            return false;
        f->p++;
    }
    if (f->p == f->end)
        return false;
    *s = start;
    *len = (size_t)(f->p - start);
    f->p++;
    return true;
}

static bool fm_is(const uint8_t *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

static inline __attribute__((always_inline)) bool fm_is_ws(uint8_t b)
{
    return b <= 0x20 && (b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09);
}

/* The array of samples: the hot loop of the audio path. The caller has
 * checked that the message ends with '}', which is neither a digit, a sign,
 * a separator nor whitespace, so every scan below stops there at the latest
 * and needs no bounds test of its own. Each sample is a JSON integer within
 * -32768..65535 (at most 5 digits, no leading zero); a fraction, exponent or
 * longer number goes to the general path, which judges it. */
static bool fm_samples(struct fm *f, int16_t *samples, size_t cap, struct fastmsg *m)
{
    if (!fm_byte(f, '['))
        return false;
    const uint8_t *q = f->p;
    size_t k = 0;
    uint64_t sum = 0;
    while (fm_is_ws(*q))
        q++;
    if (*q == ']') {
        f->p = q + 1;
        return true;
    }
    for (;;) {
        while (fm_is_ws(*q))
            q++;
        unsigned neg = *q == '-';
        q += neg;
        unsigned d0 = (unsigned)(*q - '0');
        if (d0 > 9)
            return false;
        q++;
        uint32_t v = d0;
        if (d0 != 0) {
            unsigned d;
            int digits = 1;
            while ((d = (unsigned)(*q - '0')) <= 9) {
                if (++digits > 5)
                    return false;
                v = v * 10 + d;
                q++;
            }
        }
        uint8_t next = *q;
        if (next == ',' || next == ']') {
            /* the common shape: digits then a separator */
        } else if ((unsigned)(next - '0') <= 9 || next == '.' || next == 'e' || next == 'E') {
            return false;
        }
        if (v > (neg ? 32768u : 65535u) || k == cap)
            return false;
        int32_t x = neg ? -(int32_t)v : (int32_t)v;
        int16_t smp = (int16_t)(x > 32767 ? x - 65536 : x);
        samples[k++] = smp;
        sum += (uint64_t)((int32_t)smp * smp);
        while (fm_is_ws(*q))
            q++;
        if (*q == ',') {
            q++;
            continue;
        }
        if (*q != ']')
            return false;
        break;
    }
    f->p = q + 1;
    m->nsamples = k;
    m->sumsq = sum;
    return true;
}

enum fastmsg_kind fastmsg_parse(const uint8_t *p, size_t n, int16_t *samples, size_t cap,
                                struct fastmsg *m)
{
    struct fm f = {p, p + n};
    enum { TYPE_NONE, TYPE_PING, TYPE_AUDIO } type = TYPE_NONE;
    bool seen_type = false, seen_data = false, seen_ts = false;
    *m = (struct fastmsg){0};
    while (n && fm_is_ws(p[n - 1]))
        n--;
    if (!n || p[n - 1] != '}' || !fm_byte(&f, '{'))
        return FASTMSG_OTHER; /* the closing brace is the array scan's sentinel */
    f.end = p + n;
    for (;;) {
        const uint8_t *k, *v;
        size_t kl, vl;
        if (!fm_string(&f, &k, &kl) || !fm_byte(&f, ':'))
            return FASTMSG_OTHER;
        if (fm_is(k, kl, "type") && !seen_type) {
            seen_type = true;
            if (!fm_string(&f, &v, &vl))
                return FASTMSG_OTHER;
            type = fm_is(v, vl, "ping") ? TYPE_PING : fm_is(v, vl, "audio_chunk") ? TYPE_AUDIO : TYPE_NONE;
            if (type == TYPE_NONE)
                return FASTMSG_OTHER;
        } else if (fm_is(k, kl, "timestamp") && !seen_ts) {
            seen_ts = true;
            if (!fm_string(&f, &v, &vl))
                return FASTMSG_OTHER;
        } else if (fm_is(k, kl, "data") && !seen_data) {
            seen_data = true;
            if (!fm_samples(&f, samples, cap, m))
                return FASTMSG_OTHER;
        } else {
            return FASTMSG_OTHER;
        }
        if (fm_byte(&f, '}'))
            break;
        if (f.p == f.end || *f.p != ',')
            return FASTMSG_OTHER;
        f.p++;
    }
    fm_ws(&f);
    if (f.p != f.end)
        return FASTMSG_OTHER;
    if (type == TYPE_PING && !seen_data)
        m->kind = FASTMSG_PING;
    else if (type == TYPE_AUDIO && seen_data)
        m->kind = FASTMSG_AUDIO;
    else
        *m = (struct fastmsg){0};
    return m->kind;
}
