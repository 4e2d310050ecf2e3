/* MPEG Layer III frame scanner, see mp3.h. deps: none.
 *
 * Header layout (ISO 11172-3 / 13818-3, 32 bits, MSB first):
 *   AAAAAAAA AAABBCCD EEEEFFGH IIJJKLMM
 *   A sync (11 ones), B version (00 2.5, 01 reserved, 10 MPEG-2, 11 MPEG-1),
 *   C layer (01 = III), D protection (0 = 16-bit CRC follows), E bitrate
 *   index, F sample-rate index, G padding, H private, I channel mode
 *   (11 = mono), J mode extension, K copyright, L original, M emphasis.
 * The side info follows the header (and CRC); global_gain sits at a fixed
 * bit offset in each granule/channel block, so it can be read without
 * decoding anything. */
#include "parse/mp3.h"

/* kbps by bitrate index; 0 (free format) and 15 are refused before lookup. */
static const uint16_t mp3_kbps_v1[16] = {0,   32,  40,  48,  56,  64,  80,  96,
                                         112, 128, 160, 192, 224, 256, 320, 0};
static const uint16_t mp3_kbps_v2[16] = {0,  8,  16, 24,  32,  40,  48,  56,
                                         64, 80, 96, 112, 128, 144, 160, 0};
/* Hz by sample-rate index for MPEG-1; MPEG-2 halves it, MPEG-2.5 quarters. */
static const uint32_t mp3_rate_v1[3] = {44100, 48000, 32000};

#define MP3_VER_25 0u
#define MP3_VER_RESERVED 1u
#define MP3_VER_2 2u
#define MP3_VER_1 3u

/* Side info bit layout. MPEG-1: main_data_begin 9, private 5 (mono) or 3,
 * scfsi 4 per channel, then 2 granules x channels blocks of 59 bits.
 * MPEG-2/2.5: main_data_begin 8, private 1 (mono) or 2, then 1 granule x
 * channels blocks of 63 bits (scalefac_compress is 9 bits, no preflag). In
 * both, global_gain is bits 21..28 of a block (after part2_3_length 12 and
 * big_values 9). */
#define MP3_GAIN_OFFSET 21u

/* Read 8 bits starting at bit offset `bit` (MSB first) of p. The caller
 * guarantees p holds bit + 8 bits. */
static uint8_t mp3_bits8(const uint8_t *p, size_t bit)
{
    size_t byte = bit / 8;
    unsigned shift = (unsigned)(bit % 8);
    if (shift == 0)
        return p[byte];
    unsigned v = ((unsigned)p[byte] << 8) | p[byte + 1];
    return (uint8_t)(v >> (8 - shift));
}

/* Check the header bytes present so far: 0 when they can still start a
 * header, -1 when they cannot. Checks are byte by byte so that a stream cut
 * after the first byte or two is answered "need more" only if it could be. */
static int mp3_prefix_ok(const uint8_t *p, size_t n)
{
    if (n >= 1 && p[0] != 0xFF)
        return -1;
    if (n >= 2) {
        unsigned ver = (p[1] >> 3) & 3u, layer = (p[1] >> 1) & 3u;
        if ((p[1] & 0xE0) != 0xE0 || ver == MP3_VER_RESERVED || layer != 1u)
            return -1;
    }
    if (n >= 3) {
        unsigned br = p[2] >> 4, sr = (p[2] >> 2) & 3u;
        if (br == 0 || br == 15 || sr == 3)
            return -1;
    }
    if (n >= 4 && (p[3] & 3u) == 2u) /* emphasis 10 is reserved */
        return -1;
    return 0;
}

int mp3_frame_at(const uint8_t *p, size_t n, struct mp3_frame *f)
{
    if (mp3_prefix_ok(p, n < 4 ? n : 4) < 0)
        return -1;
    if (n < 4)
        return 0;
    unsigned ver = (p[1] >> 3) & 3u;
    bool crc = (p[1] & 1u) == 0;
    unsigned br = p[2] >> 4, sr = (p[2] >> 2) & 3u, pad = (p[2] >> 1) & 1u;
    unsigned channels = (p[3] >> 6) == 3u ? 1u : 2u;
    bool v1 = ver == MP3_VER_1;
    size_t side = v1 ? (channels == 1 ? 17u : 32u) : (channels == 1 ? 9u : 17u);
    size_t hdr = 4u + (crc ? 2u : 0u);
    if (n < hdr + side)
        return 0;

    uint32_t rate = mp3_rate_v1[sr] >> (v1 ? 0 : ver == MP3_VER_2 ? 1 : 2);
    uint32_t bps = (uint32_t)(v1 ? mp3_kbps_v1[br] : mp3_kbps_v2[br]) * 1000u;
    /* Bytes per frame = samples/8 * bitrate / rate: 1152/8 = 144, 576/8 = 72. */
    uint32_t len = (v1 ? 144u : 72u) * bps / rate + pad;

    /* Granule/channel blocks follow the fixed part of the side info. */
    const uint8_t *s = p + hdr;
    size_t base = v1 ? 9u + (channels == 1 ? 5u : 3u) + 4u * channels
                     : 8u + (channels == 1 ? 1u : 2u);
    size_t block = v1 ? 59u : 63u;
    size_t blocks = (v1 ? 2u : 1u) * channels;
    uint8_t gain = 0;
    for (size_t k = 0; k < blocks; k++) {
        uint8_t g = mp3_bits8(s, base + k * block + MP3_GAIN_OFFSET);
        if (g > gain)
            gain = g;
    }
    if (f) {
        f->len = len;
        f->sample_rate = rate;
        f->samples = v1 ? 1152u : 576u;
        f->channels = (uint8_t)channels;
        f->gain = gain;
    }
    return 1;
}

size_t mp3_skip_id3(const uint8_t *p, size_t n, size_t *need)
{
    static const uint8_t mp3_id3_magic[3] = {'I', 'D', '3'};
    if (need)
        *need = 0;
    /* Every byte present must fit the 10-byte header pattern. */
    for (size_t i = 0; i < n && i < 10; i++) {
        uint8_t b = p[i];
        bool ok;
        if (i < 3)
            ok = b == mp3_id3_magic[i];
        else if (i < 5)
            ok = b != 0xFF; /* major and revision versions */
        else if (i == 5)
            ok = true; /* flags */
        else
            ok = b < 0x80; /* syncsafe size: 7 bits per byte */
        if (!ok)
            return 0;
    }
    if (n < 10) {
        if (need)
            *need = 10;
        return 0;
    }
    size_t size = ((size_t)p[6] << 21) | ((size_t)p[7] << 14) | ((size_t)p[8] << 7) | p[9];
    bool footer = (p[5] & 0x10) != 0 && p[3] >= 4;
    return 10u + size + (footer ? 10u : 0u);
}

size_t mp3_complete(const uint8_t *p, size_t n, uint32_t *frames, uint32_t *max_gain)
{
    uint32_t count = 0, gmax = 0;
    size_t need = 0;
    size_t off = mp3_skip_id3(p, n, &need);
    if (need != 0 || off > n)
        off = 0; /* tag not complete yet: no whole unit */
    else {
        struct mp3_frame f;
        /* The length check is written as n - off so that it cannot wrap. */
        while (off < n && mp3_frame_at(p + off, n - off, &f) == 1 && f.len <= n - off) {
            off += f.len;
            count++;
            if (f.gain > gmax)
                gmax = f.gain;
        }
    }
    if (frames)
        *frames = count;
    if (max_gain)
        *max_gain = gmax;
    return off;
}

/* 2^(k/16) for k = 0..15, so r(g) = 2^((g-210)/16) is a table entry times an
 * exact power of two: deterministic across libms because none is used. */
static const double mp3_pow2_16th[16] = {
    1.0,
    1.0442737824274138,
    1.0905077326652577,
    1.1387886347566916,
    1.1892071150027210,
    1.2418578120734840,
    1.2968395546510096,
    1.3542555469368927,
    1.4142135623730951,
    1.4768261459394993,
    1.5422108254079407,
    1.6104903319492543,
    1.6817928305074290,
    1.7562521603732995,
    1.8340080864093424,
    1.9152065613971474,
};

#define MP3_GAIN_FLOOR 100
#define MP3_GAIN_UNITY 210

/* 2^((g - 210) / 16) for 100 <= g <= 210. */
static double mp3_ratio(int g)
{
    int e = g - MP3_GAIN_UNITY + 16 * 7; /* shifted to be >= 0: 100-210+112 = 2 */
    double v = mp3_pow2_16th[e % 16];
    for (int k = e / 16; k < 7; k++)
        v *= 0.5; /* exact */
    return v;
}

double mp3_gain_amplitude(uint8_t gain)
{
    if (gain <= MP3_GAIN_FLOOR)
        return 0.0;
    if (gain >= MP3_GAIN_UNITY)
        return 1.0;
    double floor_r = mp3_ratio(MP3_GAIN_FLOOR);
    return (mp3_ratio(gain) - floor_r) / (1.0 - floor_r);
}

#undef MP3_VER_25
#undef MP3_VER_RESERVED
#undef MP3_VER_2
#undef MP3_VER_1
#undef MP3_GAIN_OFFSET
#undef MP3_GAIN_FLOOR
#undef MP3_GAIN_UNITY
