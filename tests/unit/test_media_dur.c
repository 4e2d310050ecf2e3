// deps: src/parse/media_dur.c src/parse/audio.c
/* Durations from WAV headers (canonical, streamed, chunk before data),
 * WebM as MediaRecorder writes it (unknown-size Segment and Clusters, no
 * Duration: the last SimpleBlock's time), WebM with an Info Duration and a
 * TimecodeScale, Ogg Opus (pre-skip) and Vorbis (rate), and what is cut,
 * corrupt or not a container. */
#include "parse/audio.h"
#include "parse/media_dur.h"
#include "t.h"

static int run(const uint8_t *p, size_t n, uint64_t *ms, enum media_dur_source *src)
{
    *ms = 0;
    *src = 0;
    return media_dur(p, n, ms, src);
}

static void test_wav(void)
{
    static uint8_t w[44 + 64000];
    uint64_t ms;
    enum media_dur_source src;
    audio_wav_header(w, 16000, 1, 64000); /* 2 s of 16-bit mono */
    CHECK(run(w, sizeof w, &ms, &src) == MEDIA_DUR_OK && ms == 2000 && src == MEDIA_DUR_WAV);
    audio_wav_header(w, 16000, 1, 0xFFFFFFFFu); /* streamed: what is there */
    CHECK(run(w, 44 + 32000, &ms, &src) == MEDIA_DUR_OK && ms == 1000);
    audio_wav_header(w, 16000, 1, 64000); /* cut short: what is there */
    CHECK(run(w, 44 + 16000, &ms, &src) == MEDIA_DUR_OK && ms == 500);
    CHECK(run(w, 30, &ms, &src) == MEDIA_DUR_NONE); /* header cut */
    static uint8_t l[44 + 10 + 3200];
    audio_wav_header(l, 16000, 1, 3200); /* a LIST chunk of 2 bytes before data */
    memcpy(l + 36, "LIST\x02\0\0\0ab", 10);
    audio_wav_header(l + 10, 16000, 1, 3200);
    memcpy(l, w, 36);
    memcpy(l + 36, "LIST\x02\0\0\0ab", 10);
    memcpy(l + 46, "data\x80\x0c\0\0", 8);
    CHECK(run(l, 54 + 3200, &ms, &src) == MEDIA_DUR_OK && ms == 100);
    uint8_t z[44];
    audio_wav_header(z, 16000, 1, 0);
    memset(z + 28, 0, 4); /* byte rate 0 */
    CHECK(run(z, sizeof z, &ms, &src) == MEDIA_DUR_NONE);
}

static size_t put(uint8_t *o, const void *b, size_t n)
{
    memcpy(o, b, n);
    return n;
}

/* A SimpleBlock of track 1 at relative time rel, 3 bytes of payload. */
static size_t block(uint8_t *o, int16_t rel)
{
    uint8_t b[] = {0xA3, 0x87, 0x81, (uint8_t)((uint16_t)rel >> 8), (uint8_t)rel, 0x80, 1, 2, 3};
    return put(o, b, sizeof b);
}

static void test_webm(void)
{
    uint8_t f[512];
    uint64_t ms;
    enum media_dur_source src;
    size_t n = 0;
    static const uint8_t ebml[] = {0x1A, 0x45, 0xDF, 0xA3, 0x84, 0x42, 0x82, 0x81, 0x77}; /* DocType-ish body */
    static const uint8_t seg_unknown[] = {0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    static const uint8_t tracks[] = {0x16, 0x54, 0xAE, 0x6B, 0x83, 0xAE, 0x81, 0x00}; /* skipped whole */
    static const uint8_t clu_unknown[] = {0x1F, 0x43, 0xB6, 0x75, 0xFF};
    n += put(f + n, ebml, sizeof ebml);
    n += put(f + n, seg_unknown, sizeof seg_unknown);
    n += put(f + n, tracks, sizeof tracks);
    n += put(f + n, clu_unknown, sizeof clu_unknown);
    n += put(f + n, "\xE7\x81\x00", 3); /* Cluster Timecode 0 */
    n += block(f + n, 0);
    n += block(f + n, 20);
    n += put(f + n, clu_unknown, sizeof clu_unknown);
    n += put(f + n, "\xE7\x82\x0B\xB8", 4); /* 3000 */
    n += block(f + n, 0);
    n += block(f + n, 460);
    CHECK(run(f, n, &ms, &src) == MEDIA_DUR_OK && ms == 3460 && src == MEDIA_DUR_WEBM_BLOCKS);
    CHECK(run(f, n - 2, &ms, &src) == MEDIA_DUR_OK && ms == 3460); /* the last block cut: its time is there */
    CHECK(run(f, n - 8, &ms, &src) == MEDIA_DUR_OK && ms == 3000);
    CHECK(run(f, sizeof ebml + 3, &ms, &src) == MEDIA_DUR_NONE);
    /* a BlockGroup's Block counts too */
    n += put(f + n, "\xA0\x89", 2);
    uint8_t blk[] = {0xA1, 0x87, 0x81, 0x01, 0xF4, 0x80, 1, 2, 3}; /* rel 500 */
    n += put(f + n, blk, sizeof blk);
    CHECK(run(f, n, &ms, &src) == MEDIA_DUR_OK && ms == 3500);
    /* Info with TimecodeScale 1 ms and Duration 5000.0 (float 4 bytes) wins */
    n = 0;
    n += put(f + n, ebml, sizeof ebml);
    n += put(f + n, seg_unknown, sizeof seg_unknown);
    uint8_t in2[] = {0x15, 0x49, 0xA9, 0x66, 0x8B, 0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40,
                     0x44, 0x89, 0x84, 0x45, 0x9C, 0x40, 0x00}; /* 1000000, 5000.0f */
    n += put(f + n, in2, sizeof in2);
    n += put(f + n, clu_unknown, sizeof clu_unknown);
    n += put(f + n, "\xE7\x81\x00", 3);
    n += block(f + n, 100);
    CHECK(run(f, n, &ms, &src) == MEDIA_DUR_OK && ms == 5000 && src == MEDIA_DUR_WEBM_DURATION);
    /* TimecodeScale 10 ms units: block 250 -> 2.5 s */
    n = 0;
    n += put(f + n, ebml, sizeof ebml);
    n += put(f + n, seg_unknown, sizeof seg_unknown);
    uint8_t in3[] = {0x15, 0x49, 0xA9, 0x66, 0x87, 0x2A, 0xD7, 0xB1, 0x83, 0x98, 0x96, 0x80}; /* 10000000 ns */
    n += put(f + n, in3, sizeof in3);
    n += put(f + n, clu_unknown, sizeof clu_unknown);
    n += put(f + n, "\xE7\x81\x00", 3);
    n += block(f + n, 250);
    CHECK(run(f, n, &ms, &src) == MEDIA_DUR_OK && ms == 2500);
    /* garbage after the EBML magic */
    uint8_t bad[] = {0x1A, 0x45, 0xDF, 0xA3, 0x00, 0x00};
    CHECK(run(bad, sizeof bad, &ms, &src) == MEDIA_DUR_NONE);
    uint8_t huge[] = {0x1A, 0x45, 0xDF, 0xA3, 0x88, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    CHECK(run(huge, sizeof huge, &ms, &src) == MEDIA_DUR_NONE);
}

/* An Ogg page: header with granule g and one segment of the body. */
static size_t page(uint8_t *o, uint64_t g, const void *body, uint8_t blen)
{
    uint8_t h[28] = {'O', 'g', 'g', 'S', 0, 0};
    for (int i = 0; i < 8; i++)
        h[6 + i] = (uint8_t)(g >> (8 * i));
    h[26] = 1;
    h[27] = blen;
    memcpy(o, h, 28);
    memcpy(o + 28, body, blen);
    return 28u + blen;
}

static void test_ogg(void)
{
    uint8_t f[512];
    uint64_t ms;
    enum media_dur_source src;
    uint8_t head[19] = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 1, 0x38, 0x01}; /* pre-skip 312 */
    size_t n = page(f, 0, head, sizeof head);
    n += page(f + n, 48000 + 312, "x", 1);
    n += page(f + n, 96000 + 312, "y", 1);
    n += page(f + n, UINT64_MAX, "z", 1); /* no packet ends here */
    CHECK(run(f, n, &ms, &src) == MEDIA_DUR_OK && ms == 2000 && src == MEDIA_DUR_OGG);
    CHECK(run(f, n - 10, &ms, &src) == MEDIA_DUR_OK && ms == 2000); /* a cut page is not read */
    uint8_t vh[30] = {1, 'v', 'o', 'r', 'b', 'i', 's', 0, 0, 0, 0, 1, 0x44, 0xAC, 0, 0}; /* 44100 */
    n = page(f, 0, vh, sizeof vh);
    n += page(f + n, 44100 * 3, "x", 1);
    CHECK(run(f, n, &ms, &src) == MEDIA_DUR_OK && ms == 3000);
    n = page(f, 0, "FLAC", 4); /* a codec we do not read */
    CHECK(run(f, n, &ms, &src) == MEDIA_DUR_NONE);
    CHECK(run(f, 10, &ms, &src) == MEDIA_DUR_NONE);
}

static void test_other(void)
{
    uint64_t ms;
    enum media_dur_source src;
    CHECK(run((const uint8_t *)"ID3\x04", 4, &ms, &src) == MEDIA_DUR_UNKNOWN);
    CHECK(run((const uint8_t *)"", 0, &ms, &src) == MEDIA_DUR_UNKNOWN);
    CHECK(media_dur(NULL, 0, &ms, &src) == MEDIA_DUR_UNKNOWN);
    CHECK(strcmp(media_dur_source_name(MEDIA_DUR_WEBM_BLOCKS), "webm-blocks") == 0);
    CHECK(strcmp(media_dur_source_name(0), "none") == 0);
}

int main(void)
{
    test_wav();
    test_webm();
    test_ogg();
    test_other();
    return T_DONE();
}
