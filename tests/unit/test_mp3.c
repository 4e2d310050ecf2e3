// deps: src/parse/mp3.c
/* Layer III header table cases (ISO 11172-3 / 13818-3 bitrate and sample-rate
 * tables), refused reserved values, incremental "need more", global_gain
 * extraction from hand-placed side-info bits, ID3v2 skipping, and whole-frame
 * prefixes of a stream. */
#include "parse/mp3.h"
#include "t.h"

/* Frame header bytes: ver 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5. */
static void hdr(uint8_t *p, unsigned ver, unsigned br, unsigned sr, unsigned pad, bool mono,
                bool crc)
{
    p[0] = 0xFF;
    p[1] = (uint8_t)(0xE0 | (ver << 3) | (1u << 1) | (crc ? 0u : 1u));
    p[2] = (uint8_t)((br << 4) | (sr << 2) | (pad << 1));
    p[3] = mono ? 0xC0 : 0x00;
}

/* Write v (8 bits) at bit offset `bit`, MSB first. */
static void put8(uint8_t *p, size_t bit, uint8_t v)
{
    for (int k = 0; k < 8; k++) {
        size_t b = bit + (size_t)k;
        uint8_t m = (uint8_t)(0x80u >> (b % 8));
        if (v & (0x80u >> k))
            p[b / 8] |= m;
        else
            p[b / 8] &= (uint8_t)~m;
    }
}

static int at(const uint8_t *p, size_t n, struct mp3_frame *f)
{
    return mp3_frame_at(p, n, f);
}

static void test_table(void)
{
    uint8_t b[64] = {0};
    struct mp3_frame f;

    hdr(b, 3, 9, 0, 0, false, false); /* MPEG-1 128 kbps 44.1 kHz */
    CHECK(b[0] == 0xFF && b[1] == 0xFB && b[2] == 0x90 && b[3] == 0x00);
    CHECK(at(b, 64, &f) == 1);
    CHECK(f.len == 417 && f.sample_rate == 44100 && f.samples == 1152 && f.channels == 2);
    hdr(b, 3, 9, 0, 1, false, false);
    CHECK(at(b, 64, &f) == 1 && f.len == 418);

    hdr(b, 2, 8, 1, 0, true, false); /* MPEG-2 64 kbps 24 kHz */
    CHECK(b[1] == 0xF3 && b[2] == 0x84);
    CHECK(at(b, 64, &f) == 1);
    CHECK(f.len == 192 && f.sample_rate == 24000 && f.samples == 576 && f.channels == 1);
    hdr(b, 2, 8, 1, 1, true, false);
    CHECK(at(b, 64, &f) == 1 && f.len == 193);

    hdr(b, 0, 1, 2, 0, true, false); /* MPEG-2.5 8 kbps 8 kHz */
    CHECK(at(b, 64, &f) == 1 && f.len == 72 && f.sample_rate == 8000 && f.samples == 576);
    hdr(b, 0, 14, 1, 0, false, false); /* MPEG-2.5 160 kbps 12 kHz */
    CHECK(at(b, 64, &f) == 1 && f.len == 960 && f.sample_rate == 12000);
    hdr(b, 0, 5, 0, 0, false, false); /* MPEG-2.5 40 kbps 11.025 kHz: 261.2 */
    CHECK(at(b, 64, &f) == 1 && f.len == 261 && f.sample_rate == 11025);

    hdr(b, 3, 14, 1, 0, false, false); /* MPEG-1 320 kbps 48 kHz */
    CHECK(at(b, 64, &f) == 1 && f.len == 960 && f.sample_rate == 48000);
    hdr(b, 3, 14, 2, 1, false, false); /* largest frame */
    CHECK(at(b, 64, &f) == 1 && f.len == MP3_MAX_FRAME_LEN && f.sample_rate == 32000);
    hdr(b, 3, 1, 1, 0, false, false); /* MPEG-1 32 kbps 48 kHz */
    CHECK(at(b, 64, &f) == 1 && f.len == 96);
    hdr(b, 2, 1, 1, 0, false, false); /* smallest frame */
    CHECK(at(b, 64, &f) == 1 && f.len == MP3_MIN_FRAME_LEN && f.channels == 2);
    hdr(b, 2, 6, 0, 0, true, false); /* MPEG-2 48 kbps 22.05 kHz: 156.7 */
    CHECK(at(b, 64, &f) == 1 && f.len == 156 && f.sample_rate == 22050);
    hdr(b, 2, 14, 2, 0, true, false); /* MPEG-2 160 kbps 16 kHz */
    CHECK(at(b, 64, &f) == 1 && f.len == 720 && f.sample_rate == 16000);

    /* every legal combination: length formula bounds, side info fits */
    for (unsigned v = 0; v < 4; v++) {
        if (v == 1)
            continue;
        for (unsigned br = 1; br < 15; br++)
            for (unsigned sr = 0; sr < 3; sr++)
                for (unsigned pad = 0; pad < 2; pad++) {
                    hdr(b, v, br, sr, pad, false, true);
                    int rc = at(b, 64, &f);
                    CHECK(rc == 1);
                    if (rc == 1)
                        CHECK(f.len >= MP3_MIN_FRAME_LEN && f.len <= MP3_MAX_FRAME_LEN &&
                              f.len >= (v == 3 ? 38u : 23u));
                }
    }
    CHECK(at(b, 64, NULL) == 1);
}

static void test_refused(void)
{
    uint8_t b[64] = {0};
    hdr(b, 1, 9, 0, 0, false, false); /* reserved version */
    CHECK(at(b, 64, NULL) == -1);
    CHECK(at(b, 2, NULL) == -1);
    hdr(b, 3, 9, 0, 0, false, false);
    b[1] = (uint8_t)((b[1] & ~6u) | (2u << 1)); /* Layer II */
    CHECK(at(b, 64, NULL) == -1);
    b[1] = (uint8_t)((b[1] & ~6u) | (3u << 1)); /* Layer I */
    CHECK(at(b, 64, NULL) == -1);
    b[1] = (uint8_t)(b[1] & ~6u); /* layer 00 reserved */
    CHECK(at(b, 64, NULL) == -1);
    hdr(b, 3, 0, 0, 0, false, false); /* free format */
    CHECK(at(b, 64, NULL) == -1);
    CHECK(at(b, 3, NULL) == -1);
    hdr(b, 2, 15, 0, 0, false, false); /* bad bitrate */
    CHECK(at(b, 64, NULL) == -1);
    hdr(b, 3, 9, 3, 0, false, false); /* reserved sample rate */
    CHECK(at(b, 64, NULL) == -1);
    hdr(b, 3, 9, 0, 0, false, false);
    b[3] |= 2; /* reserved emphasis */
    CHECK(at(b, 64, NULL) == -1);
    CHECK(at(b, 4, NULL) == -1);
    b[3] = (uint8_t)((b[3] & ~3u) | 1u); /* 50/15 us emphasis is legal */
    CHECK(at(b, 64, NULL) == 1);
    b[0] = 0xFE; /* sync */
    CHECK(at(b, 64, NULL) == -1);
    CHECK(at(b, 1, NULL) == -1);
    hdr(b, 3, 9, 0, 0, false, false);
    b[1] = 0x1B; /* sync bits in the second byte */
    CHECK(at(b, 2, NULL) == -1);
    const uint8_t id3[] = "ID3";
    CHECK(at(id3, 3, NULL) == -1);
}

static void test_need_more(void)
{
    uint8_t b[64] = {0};
    hdr(b, 3, 9, 0, 0, false, false); /* 4 + 32 side info */
    for (size_t n = 0; n < 36; n++)
        CHECK(at(b, n, NULL) == 0);
    CHECK(at(b, 36, NULL) == 1);
    hdr(b, 3, 9, 0, 0, false, true); /* + CRC */
    CHECK(at(b, 37, NULL) == 0 && at(b, 38, NULL) == 1);
    hdr(b, 3, 9, 0, 0, true, false); /* mono: 17 */
    CHECK(at(b, 20, NULL) == 0 && at(b, 21, NULL) == 1);
    hdr(b, 2, 8, 1, 0, true, false); /* MPEG-2 mono: 9 */
    CHECK(at(b, 12, NULL) == 0 && at(b, 13, NULL) == 1);
    hdr(b, 0, 8, 1, 0, false, true); /* MPEG-2.5 stereo + CRC: 17 + 2 */
    CHECK(at(b, 22, NULL) == 0 && at(b, 23, NULL) == 1);
    CHECK(at(NULL, 0, NULL) == 0);
}

static void test_gain(void)
{
    uint8_t b[64];
    struct mp3_frame f;

    /* Hand-placed: MPEG-1 mono, no CRC. Side info starts at byte 4; the
     * granule 0 block starts at bit 9+5+4 = 18, its global_gain at bit 39,
     * i.e. the last bit of byte 4 and the top 7 bits of byte 5. */
    memset(b, 0, sizeof b);
    hdr(b, 3, 9, 0, 0, true, false);
    b[4 + 4] = 0x01;
    b[4 + 5] = 0xFE;
    CHECK(at(b, 64, &f) == 1 && f.gain == 0xFF);
    b[4 + 5] = 0x00; /* only the MSB: 128 */
    CHECK(at(b, 64, &f) == 1 && f.gain == 128);

    /* MPEG-1 stereo, CRC: base 9+3+8 = 20, blocks of 59, 4 blocks */
    memset(b, 0, sizeof b);
    hdr(b, 3, 9, 0, 0, false, true);
    static const uint8_t g1[4] = {150, 171, 9, 170};
    for (size_t k = 0; k < 4; k++)
        put8(b + 6, 20 + k * 59 + 21, g1[k]);
    CHECK(at(b, 64, &f) == 1 && f.gain == 171);
    put8(b + 6, 20 + 3 * 59 + 21, 200); /* last block (gr 1, ch 1) */
    CHECK(at(b, 64, &f) == 1 && f.gain == 200);

    /* MPEG-2 mono: base 8+1 = 9, one block */
    memset(b, 0xFF, sizeof b);
    hdr(b, 2, 8, 1, 0, true, false);
    put8(b + 4, 9 + 21, 137);
    CHECK(at(b, 64, &f) == 1 && f.gain == 137);

    /* MPEG-2.5 stereo: base 8+2 = 10, blocks of 63, 2 blocks */
    memset(b, 0, sizeof b);
    hdr(b, 0, 8, 1, 0, false, false);
    put8(b + 4, 10 + 21, 90);
    put8(b + 4, 10 + 63 + 21, 91);
    CHECK(at(b, 64, &f) == 1 && f.gain == 91);
    put8(b + 4, 10 + 63 + 21, 0);
    CHECK(at(b, 64, &f) == 1 && f.gain == 90);
}

static void test_id3(void)
{
    size_t need = 99;
    const uint8_t t1[] = {'I', 'D', '3', 4, 0, 0, 0, 0, 2, 1};
    CHECK(mp3_skip_id3(t1, 10, &need) == 10 + 257 && need == 0);
    const uint8_t t2[] = {'I', 'D', '3', 4, 0, 0x10, 0, 0, 0, 5}; /* footer */
    CHECK(mp3_skip_id3(t2, 10, &need) == 25 && need == 0);
    const uint8_t t3[] = {'I', 'D', '3', 3, 0, 0x10, 0, 0, 0, 5}; /* v2.3: no footer */
    CHECK(mp3_skip_id3(t3, 10, &need) == 15);
    const uint8_t t4[] = {'I', 'D', '3', 3, 0, 0, 0x7F, 0x7F, 0x7F, 0x7F}; /* max size */
    CHECK(mp3_skip_id3(t4, 10, NULL) == 10 + 0x0FFFFFFF);
    for (size_t n = 0; n < 10; n++) {
        need = 0;
        CHECK(mp3_skip_id3(t1, n, &need) == 0 && need == 10);
    }
    const uint8_t bad1[] = {'I', 'D', '3', 4, 0, 0, 0, 0x80, 0, 0};
    CHECK(mp3_skip_id3(bad1, 10, &need) == 0 && need == 0);
    CHECK(mp3_skip_id3(bad1, 8, &need) == 0 && need == 0);
    const uint8_t bad2[] = {'I', 'D', '3', 0xFF, 0, 0, 0, 0, 0, 0};
    CHECK(mp3_skip_id3(bad2, 10, &need) == 0 && need == 0);
    const uint8_t bad3[] = {'I', 'D', 'X'};
    CHECK(mp3_skip_id3(bad3, 3, &need) == 0 && need == 0);
    const uint8_t frame[] = {0xFF, 0xFB, 0x90, 0x00};
    CHECK(mp3_skip_id3(frame, 4, &need) == 0 && need == 0);
}

static uint8_t stream[4096];

static void test_complete(void)
{
    uint32_t frames = 99, gain = 99;
    memset(stream, 0, sizeof stream);
    /* ID3 (10 + 20) + 3 MPEG-2 64 kbps 24 kHz frames (192, 193, 192) */
    const uint8_t tag[] = {'I', 'D', '3', 4, 0, 0, 0, 0, 0, 20};
    memcpy(stream, tag, 10);
    size_t off = 30;
    static const uint8_t gains[3] = {120, 181, 7};
    for (unsigned k = 0; k < 3; k++) {
        hdr(stream + off, 2, 8, 1, k == 1, true, false);
        put8(stream + off + 4, 9 + 21, gains[k]);
        off += k == 1 ? 193 : 192;
    }
    CHECK(off == 30 + 577);
    CHECK(mp3_complete(stream, off, &frames, &gain) == off && frames == 3 && gain == 181);
    CHECK(mp3_complete(stream, off - 1, &frames, &gain) == 30 + 385 && frames == 2 &&
          gain == 181);
    CHECK(mp3_complete(stream, 30 + 192, &frames, &gain) == 30 + 192 && frames == 1 &&
          gain == 120);
    CHECK(mp3_complete(stream, 30, &frames, &gain) == 30 && frames == 0 && gain == 0);
    CHECK(mp3_complete(stream, 29, &frames, &gain) == 0 && frames == 0);
    CHECK(mp3_complete(stream, 5, &frames, NULL) == 0 && frames == 0);
    CHECK(mp3_complete(stream, 0, NULL, NULL) == 0);
    CHECK(mp3_complete(NULL, 0, &frames, &gain) == 0 && frames == 0 && gain == 0);
    /* trailing header bytes of a 4th frame: still 3 */
    hdr(stream + off, 2, 8, 1, 0, true, false);
    CHECK(mp3_complete(stream, off + 4, &frames, NULL) == off && frames == 3);
    /* junk after frame 1: no resynchronisation */
    stream[30 + 192] = 0x00;
    CHECK(mp3_complete(stream, off, &frames, &gain) == 30 + 192 && frames == 1 && gain == 120);
    /* without the tag, frames from offset 0 */
    CHECK(mp3_complete(stream + 30, 192, &frames, NULL) == 192 && frames == 1);
    /* junk at the start */
    CHECK(mp3_complete(stream + 31, 500, &frames, &gain) == 0 && frames == 0 && gain == 0);
    /* a second ID3 tag in the middle is junk */
    memcpy(stream + 30 + 192, tag, 10);
    CHECK(mp3_complete(stream, off, &frames, NULL) == 30 + 192 && frames == 1);
}

static void test_amplitude(void)
{
    CHECK(mp3_gain_amplitude(0) == 0.0);
    CHECK(mp3_gain_amplitude(100) == 0.0);
    CHECK(mp3_gain_amplitude(101) > 0.0 && mp3_gain_amplitude(101) < 0.001);
    CHECK(mp3_gain_amplitude(210) == 1.0);
    CHECK(mp3_gain_amplitude(255) == 1.0);
    double prev = 0.0;
    for (int g = 101; g <= 210; g++) {
        double a = mp3_gain_amplitude((uint8_t)g);
        CHECK(a > prev && a <= 1.0);
        prev = a;
    }
    /* documented points; 194 = 210 - 16 is exactly half of r before the
     * floor correction */
    double a150 = mp3_gain_amplitude(150), a180 = mp3_gain_amplitude(180);
    double a200 = mp3_gain_amplitude(200);
    CHECK(a150 > 0.0663 && a150 < 0.0665);
    CHECK(a180 > 0.2663 && a180 < 0.2665);
    CHECK(a200 > 0.6453 && a200 < 0.6455);
    double floor_r = 1.0905077326652577 / 128.0; /* 2^(-110/16) = 2^(2/16) / 2^7 */
    double a194 = mp3_gain_amplitude(194);
    double want = (0.5 - floor_r) / (1.0 - floor_r);
    CHECK(a194 - want < 1e-12 && want - a194 < 1e-12);
}

int main(void)
{
    test_table();
    test_refused();
    test_need_more();
    test_gain();
    test_id3();
    test_complete();
    test_amplitude();
    return T_DONE();
}
