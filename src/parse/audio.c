/* PCM/WAV helpers, see audio.h. deps: none. */
#include "parse/audio.h"

#include <string.h>

static void audio_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void audio_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t audio_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t audio_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static bool audio_tag(const uint8_t *p, const char *tag)
{
    return p[0] == (uint8_t)tag[0] && p[1] == (uint8_t)tag[1] && p[2] == (uint8_t)tag[2] &&
           p[3] == (uint8_t)tag[3];
}

/* The 44-byte header for one sample format: WAVE_FORMAT_PCM (1) with 16-bit
 * samples, or WAVE_FORMAT_MULAW (7) with 8-bit G.711 bytes. */
static void audio_wav_header_fmt(uint8_t out[44], uint32_t sample_rate, uint16_t channels, uint32_t data_bytes,
                                 uint16_t format, uint16_t bytes_per_sample)
{
    /* Sizes are computed in 64 bits and saturated: a header for a stream of
     * unknown length uses 0xFFFFFFFF, which readers treat as "until EOF". */
    uint64_t riff = 36u + (uint64_t)data_bytes;
    uint64_t block = (uint64_t)bytes_per_sample * channels;
    uint64_t rate = (uint64_t)sample_rate * block;
    memcpy(out, "RIFF", 4);
    audio_put32(out + 4, riff > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)riff);
    memcpy(out + 8, "WAVEfmt ", 8);
    audio_put32(out + 16, 16);
    audio_put16(out + 20, format);
    audio_put16(out + 22, channels);
    audio_put32(out + 24, sample_rate);
    audio_put32(out + 28, rate > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)rate);
    audio_put16(out + 32, block > 0xFFFFu ? 0xFFFFu : (uint16_t)block);
    audio_put16(out + 34, (uint16_t)(8 * bytes_per_sample));
    memcpy(out + 36, "data", 4);
    audio_put32(out + 40, data_bytes);
}

void audio_wav_header(uint8_t out[44], uint32_t sample_rate, uint16_t channels, uint32_t data_bytes)
{
    audio_wav_header_fmt(out, sample_rate, channels, data_bytes, 1, 2);
}

void audio_wav_header_ulaw(uint8_t out[44], uint32_t sample_rate, uint16_t channels, uint32_t data_bytes)
{
    audio_wav_header_fmt(out, sample_rate, channels, data_bytes, 7, 1);
}

/* G.711 mu-law (ITU-T G.711, the Sun reference coder): bias 0x84, clip at
 * 32635, 3-bit segment and 4-bit step, all bits inverted. */
uint8_t audio_ulaw_encode(int16_t sample)
{
    int v = sample;
    uint8_t sign = 0;
    if (v < 0) {
        v = -v; /* -(-32768) fits in int */
        sign = 0x80;
    }
    if (v > 32635)
        v = 32635;
    v += 0x84;
    int seg = 7;
    for (int mask = 0x4000; !(v & mask) && seg > 0; mask >>= 1)
        seg--;
    return (uint8_t)~(sign | (seg << 4) | ((v >> (seg + 3)) & 0x0F));
}

int16_t audio_ulaw_decode(uint8_t byte)
{
    unsigned u = (uint8_t)~byte;
    int t = (int)((((u & 0x0Fu) << 3) + 0x84u) << ((u & 0x70u) >> 4));
    return (int16_t)((u & 0x80u) ? 0x84 - t : t - 0x84);
}

/* sqrt without libm (the unit tests and fuzzers link none). Newton's method
 * from a power of two above the root decreases monotonically towards it;
 * iterating in long double until it stops decreasing and rounding once gives
 * the root within one ulp (correctly rounded in all but ~0.03% of cases on
 * x86-64): ample for a level meter, and the same on every run. */
static double audio_sqrt(double x)
{
    if (!(x > 0))
        return 0;
    long double lx = x, y = 1;
    while (y * y < lx)
        y *= 2;
    for (int i = 0; i < 200; i++) {
        long double next = 0.5L * (y + lx / y);
        if (!(next < y))
            break;
        y = next;
    }
    return (double)y;
}

double audio_rms_amplitude(const int16_t *s, size_t n)
{
    if (n == 0)
        return 0;
    /* Exact integer sums in blocks of 2^31 samples (2^31 * 2^30 = 2^61 cannot
     * overflow), folded into a double only between blocks. */
    double total = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > ((size_t)1 << 31) ? i + ((size_t)1 << 31) : n;
        uint64_t acc = 0;
        for (; i < end; i++) {
            int32_t v = s[i];
            acc += (uint64_t)(v * v);
        }
        total += (double)acc;
    }
    double rms = audio_sqrt(total / (double)n) / 32768.0;
    return rms > 1.0 ? 1.0 : rms;
}

double audio_rms_from_sumsq(uint64_t sumsq, size_t n)
{
    if (n == 0)
        return 0;
    double rms = audio_sqrt((double)sumsq / (double)n) / 32768.0;
    return rms > 1.0 ? 1.0 : rms;
}

#define AUDIO_FMT_PCM 1u
#define AUDIO_FMT_EXTENSIBLE 0xFFFEu

/* Validate a "fmt " chunk body of len bytes into *w. */
static bool audio_fmt(const uint8_t *b, uint32_t len, struct audio_wav *w)
{
    if (len < 16)
        return false;
    uint16_t tag = audio_get16(b);
    uint16_t channels = audio_get16(b + 2);
    uint32_t rate = audio_get32(b + 4);
    uint16_t align = audio_get16(b + 12);
    uint16_t bits = audio_get16(b + 14);
    if (tag == AUDIO_FMT_EXTENSIBLE) {
        /* cbSize 22, valid bits, channel mask, then the sub-format GUID whose
         * first two bytes are the format tag. */
        if (len < 40 || audio_get16(b + 16) < 22 || audio_get16(b + 24) != AUDIO_FMT_PCM)
            return false;
    } else if (tag != AUDIO_FMT_PCM) {
        return false;
    }
    if (bits != 16 || channels < 1 || channels > 8 || rate < 1000 || rate > 384000 ||
        align != channels * 2u)
        return false;
    w->sample_rate = rate;
    w->channels = channels;
    w->bits = bits;
    return true;
}

int audio_wav_parse(const uint8_t *p, size_t n, struct audio_wav *w)
{
    static const char audio_riff[] = "RIFF", audio_wave[] = "WAVE";
    /* The fixed 12 bytes are checked as far as they are present, so junk is
     * refused at once instead of waiting for more. */
    for (size_t i = 0; i < n && i < 12; i++) {
        if (i < 4 && p[i] != (uint8_t)audio_riff[i])
            return -1;
        if (i >= 8 && p[i] != (uint8_t)audio_wave[i - 8])
            return -1;
    }
    struct audio_wav fmt = {0};
    bool have_fmt = false;
    size_t off = 12;
    for (;;) {
        if (off + 8 > AUDIO_WAV_MAX_HEADER)
            return -1;
        if (n < off + 8)
            return 0;
        const uint8_t *c = p + off;
        uint32_t len = audio_get32(c + 4);
        if (audio_tag(c, "data")) {
            if (!have_fmt)
                return -1;
            fmt.data_len = len == 0 ? AUDIO_WAV_STREAMING : len;
            if (w)
                *w = fmt;
            return (int)(off + 8);
        }
        /* Chunk bodies are padded to even length. Sizes are bounded first,
         * so off never wraps. */
        if (len > AUDIO_WAV_MAX_HEADER)
            return -1;
        size_t body = (size_t)len + (len & 1u);
        if (off + 8 + body > AUDIO_WAV_MAX_HEADER)
            return -1;
        if (audio_tag(c, "fmt ")) {
            if (n < off + 8 + len)
                return 0;
            if (have_fmt || !audio_fmt(c + 8, len, &fmt))
                return -1;
            have_fmt = true;
        }
        off += 8 + body;
    }
}

#undef AUDIO_FMT_PCM
#undef AUDIO_FMT_EXTENSIBLE

const char *audio_container(const uint8_t *p, size_t n, const char **ctype)
{
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WAVE", 4) == 0)
        return *ctype = "audio/wav", "wav";
    if (n >= 4 && memcmp(p, "\x1a\x45\xdf\xa3", 4) == 0)
        return *ctype = "audio/webm", "webm";
    if (n >= 4 && memcmp(p, "OggS", 4) == 0)
        return *ctype = "audio/ogg", "ogg";
    if ((n >= 3 && memcmp(p, "ID3", 3) == 0) || (n >= 2 && p[0] == 0xFF && (p[1] & 0xE0) == 0xE0))
        return *ctype = "audio/mpeg", "mp3";
    return NULL;
}
