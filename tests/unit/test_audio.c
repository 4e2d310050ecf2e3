// deps: src/parse/audio.c
/* WAV header bytes, RMS level, and the incremental RIFF/WAVE parser on
 * canonical, streaming, extensible and chunk-laden headers. */
#include "parse/audio.h"
#include "t.h"

static const uint8_t canon16k[44] = {
    'R', 'I', 'F', 'F', 0xA4, 0x0C, 0, 0, /* 36 + 3200 = 3236 */
    'W', 'A', 'V', 'E', 'f', 'm', 't', ' ', 16, 0, 0, 0, 1, 0, 1, 0,
    0x80, 0x3E, 0, 0,                     /* 16000 */
    0x00, 0x7D, 0, 0,                     /* 32000 bytes/s */
    2, 0, 16, 0, 'd', 'a', 't', 'a', 0x80, 0x0C, 0, 0, /* 3200 */
};

static void test_header(void)
{
    uint8_t h[44];
    audio_wav_header(h, 16000, 1, 3200);
    CHECK(memcmp(h, canon16k, 44) == 0);
    audio_wav_header(h, 24000, 2, 0xFFFFFFFFu);
    CHECK(memcmp(h + 4, "\xFF\xFF\xFF\xFF", 4) == 0); /* saturated */
    CHECK(memcmp(h + 40, "\xFF\xFF\xFF\xFF", 4) == 0);
    CHECK(h[22] == 2 && h[32] == 4);
    CHECK(h[28] == 0x00 && h[29] == 0x77 && h[30] == 0x01 && h[31] == 0); /* 96000 */
    struct audio_wav w;
    CHECK(audio_wav_parse(h, 44, &w) == 44);
    CHECK(w.sample_rate == 24000 && w.channels == 2 && w.bits == 16 &&
          w.data_len == AUDIO_WAV_STREAMING);
}

/* Known G.711 values, the round trip on every byte, and monotonic coding. */
static void test_ulaw(void)
{
    CHECK(audio_ulaw_encode(0) == 0xFF);
    CHECK(audio_ulaw_encode(32767) == 0x80 && audio_ulaw_encode(-32768) == 0x00);
    CHECK(audio_ulaw_decode(0x80) == 32124 && audio_ulaw_decode(0x00) == -32124);
    CHECK(audio_ulaw_decode(0xFF) == 0 && audio_ulaw_decode(0x7F) == 0);
    for (int b = 0; b < 256; b++) {
        int16_t v = audio_ulaw_decode((uint8_t)b);
        CHECK(audio_ulaw_decode(audio_ulaw_encode(v)) == v);
    }
    int worst = 0, backwards = 0;
    for (int v = -32768, last = -32768; v <= 32767; v++) {
        int d = audio_ulaw_decode(audio_ulaw_encode((int16_t)v));
        backwards += d < last; /* monotonic */
        last = d;
        int err = d > v ? d - v : v - d;
        int rel = v > 0 ? v : -v;
        if (rel > 256 && err * 16 > rel) /* steps are 1/16 of the segment */
            worst++;
    }
    CHECK(worst == 0 && backwards == 0);
    uint8_t h[44];
    audio_wav_header_ulaw(h, 16000, 1, 1600);
    CHECK(h[20] == 7 && h[32] == 1 && h[34] == 8);
    CHECK(h[28] == 0x80 && h[29] == 0x3E && h[40] == 0x40 && h[41] == 0x06); /* 16000 bytes/s, 1600 */
}

static void test_rms(void)
{
    int16_t s[64];
    CHECK(audio_rms_amplitude(NULL, 0) == 0.0);
    memset(s, 0, sizeof s);
    CHECK(audio_rms_amplitude(s, 64) == 0.0);
    for (int i = 0; i < 64; i++)
        s[i] = (int16_t)(i % 2 ? 16384 : -16384);
    CHECK(audio_rms_amplitude(s, 64) == 0.5);
    for (int i = 0; i < 64; i++)
        s[i] = -32768;
    CHECK(audio_rms_amplitude(s, 64) == 1.0);
    for (int i = 0; i < 64; i++)
        s[i] = 32767;
    CHECK(audio_rms_amplitude(s, 64) == 32767.0 / 32768.0);
    s[0] = 1000;
    CHECK(audio_rms_amplitude(s, 1) == 1000.0 / 32768.0);
    /* 3-4-5: rms of {3, 4} * 2^k... mean of 9 and 16 is 12.5, not a square;
     * use {1, 7}: mean 25 -> 5 */
    s[0] = 1, s[1] = 7;
    CHECK(audio_rms_amplitude(s, 2) == 5.0 / 32768.0);
    s[0] = 0, s[1] = 2; /* sqrt(2) */
    double r = audio_rms_amplitude(s, 2) * 32768.0;
    CHECK(r == 1.4142135623730951);
    s[0] = 1;
    CHECK(audio_rms_amplitude(s, 1) == 1.0 / 32768.0);
}

/* Build a header: RIFF WAVE, then chunks given as raw bytes. */
static size_t riff(uint8_t *out, const uint8_t *chunks, size_t n)
{
    memcpy(out, "RIFF\xFF\xFF\xFF\xFFWAVE", 12);
    memcpy(out + 12, chunks, n);
    return 12 + n;
}

static void test_parse(void)
{
    struct audio_wav w = {0};
    /* every proper prefix of the canonical header needs more */
    for (size_t n = 0; n < 44; n++)
        CHECK(audio_wav_parse(canon16k, n, &w) == 0);
    CHECK(audio_wav_parse(canon16k, 44, &w) == 44);
    CHECK(w.sample_rate == 16000 && w.channels == 1 && w.bits == 16 && w.data_len == 3200);
    CHECK(audio_wav_parse(canon16k, 44, NULL) == 44);

    uint8_t b[5000];
    /* LIST chunk (odd size, padded) before fmt; data size 0 = streaming */
    static const uint8_t c1[] = {
        'L', 'I', 'S', 'T', 3, 0, 0, 0, 'a', 'b', 'c', 0,
        'f', 'm', 't', ' ', 16, 0, 0, 0, 1, 0, 1, 0, 0xC0, 0x5D, 0, 0, 0x80, 0xBB, 0, 0, 2, 0, 16, 0,
        'd', 'a', 't', 'a', 0, 0, 0, 0,
    };
    size_t n = riff(b, c1, sizeof c1);
    CHECK(audio_wav_parse(b, n, &w) == (int)n);
    CHECK(w.sample_rate == 24000 && w.channels == 1 && w.data_len == AUDIO_WAV_STREAMING);
    for (size_t k = 0; k < n; k++)
        CHECK(audio_wav_parse(b, k, &w) == 0);

    /* fmt of 18 (cbSize 0) and an unknown chunk between fmt and data */
    static const uint8_t c2[] = {
        'f', 'm', 't', ' ', 18, 0, 0, 0, 1, 0, 2, 0, 0x44, 0xAC, 0, 0, 0x10, 0xB1, 2, 0, 4, 0, 16, 0,
        0, 0, 'f', 'a', 'c', 't', 4, 0, 0, 0, 1, 2, 3, 4, 'd', 'a', 't', 'a', 8, 0, 0, 0,
    };
    n = riff(b, c2, sizeof c2);
    CHECK(audio_wav_parse(b, n, &w) == (int)n);
    CHECK(w.sample_rate == 44100 && w.channels == 2 && w.data_len == 8);

    /* WAVE_FORMAT_EXTENSIBLE with PCM sub-format */
    uint8_t c3[8 + 40 + 8] = {'f', 'm', 't', ' ', 40, 0, 0, 0, 0xFE, 0xFF, 1, 0, 0x80, 0x3E, 0, 0,
                              0x00, 0x7D, 0, 0, 2, 0, 16, 0, 22, 0, 16, 0, 4, 0, 0, 0, 1, 0};
    memcpy(c3 + 48, "data\x10\0\0\0", 8);
    n = riff(b, c3, sizeof c3);
    CHECK(audio_wav_parse(b, n, &w) == (int)n && w.sample_rate == 16000 && w.data_len == 16);
    c3[32] = 3; /* IEEE float sub-format */
    n = riff(b, c3, sizeof c3);
    CHECK(audio_wav_parse(b, n, &w) == -1);

    /* refusals */
    uint8_t h[44];
    memcpy(h, canon16k, 44);
    h[34] = 8; /* 8-bit */
    CHECK(audio_wav_parse(h, 44, &w) == -1);
    memcpy(h, canon16k, 44);
    h[20] = 3; /* float */
    CHECK(audio_wav_parse(h, 44, &w) == -1);
    memcpy(h, canon16k, 44);
    h[32] = 4; /* block align != channels * 2 */
    CHECK(audio_wav_parse(h, 44, &w) == -1);
    memcpy(h, canon16k, 44);
    h[22] = 0; /* no channels */
    CHECK(audio_wav_parse(h, 44, &w) == -1);
    memcpy(h, canon16k, 44);
    h[24] = 10, h[25] = 0; /* 10 Hz */
    CHECK(audio_wav_parse(h, 44, &w) == -1);
    memcpy(h, canon16k, 44);
    h[16] = 14; /* fmt too short: 14 */
    CHECK(audio_wav_parse(h, 44, &w) == -1);
    memcpy(h, canon16k, 44);
    h[3] = 'X'; /* RIFX: refused at once */
    CHECK(audio_wav_parse(h, 4, &w) == -1);
    memcpy(h, canon16k, 44);
    h[8] = 'A'; /* not WAVE */
    CHECK(audio_wav_parse(h, 9, &w) == -1);
    static const uint8_t c4[] = {'d', 'a', 't', 'a', 0, 0, 0, 0}; /* data before fmt */
    n = riff(b, c4, sizeof c4);
    CHECK(audio_wav_parse(b, n, &w) == -1);
    /* two fmt chunks */
    n = riff(b, canon16k + 12, 24);
    memcpy(b + n, canon16k + 12, 32);
    CHECK(audio_wav_parse(b, n + 32, &w) == -1);
    /* a chunk too large for the header bound, refused before its body */
    static const uint8_t c5[] = {'L', 'I', 'S', 'T', 0xF0, 0x0F, 0, 0}; /* 4080 */
    n = riff(b, c5, sizeof c5);
    CHECK(audio_wav_parse(b, n, &w) == -1);
    static const uint8_t c6[] = {'L', 'I', 'S', 'T', 0xFF, 0xFF, 0xFF, 0xFF};
    n = riff(b, c6, sizeof c6);
    CHECK(audio_wav_parse(b, n, &w) == -1);
    /* the largest acceptable header: data payload at exactly the bound */
    memset(b, 0, sizeof b);
    n = riff(b, canon16k + 12, 24);
    size_t list = AUDIO_WAV_MAX_HEADER - n - 8 - 8;
    memcpy(b + n, "LIST", 4);
    b[n + 4] = (uint8_t)list, b[n + 5] = (uint8_t)(list >> 8);
    memcpy(b + n + 8 + list, "data\4\0\0\0", 8);
    CHECK(audio_wav_parse(b, AUDIO_WAV_MAX_HEADER, &w) == (int)AUDIO_WAV_MAX_HEADER);
    CHECK(audio_wav_parse(b, AUDIO_WAV_MAX_HEADER - 1, &w) == 0);
    list += 2;
    b[n + 4] = (uint8_t)list, b[n + 5] = (uint8_t)(list >> 8);
    CHECK(audio_wav_parse(b, sizeof b, &w) == -1);
    CHECK(audio_wav_parse(NULL, 0, &w) == 0);
}

static void test_container(void)
{
    static const struct { const char *bytes; size_t n; const char *ext, *ctype; } cases[] = {
        {"RIFF\x24\0\0\0WAVEfmt ", 16, "wav", "audio/wav"},
        {"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", 8, "webm", "audio/webm"},
        {"OggS\0\x02", 6, "ogg", "audio/ogg"},
        {"ID3\x04\0", 5, "mp3", "audio/mpeg"},
        {"\xff\xfb\x90\x64", 4, "mp3", "audio/mpeg"},
        {"RIFF\x24\0\0\0AVI ", 12, NULL, NULL},  /* RIFF, not WAVE */
        {"RIFF\x24\0\0\0WAV", 11, NULL, NULL},   /* too short to tell */
        {"\x1a\x45\xdf", 3, NULL, NULL},
        {"\xff\x1b", 2, NULL, NULL},                /* no frame sync */
        {"{\"type\"", 7, NULL, NULL},
        {"", 0, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *ctype = NULL;
        const char *ext = audio_container((const uint8_t *)cases[i].bytes, cases[i].n, &ctype);
        CHECK(cases[i].ext ? ext && strcmp(ext, cases[i].ext) == 0 && strcmp(ctype, cases[i].ctype) == 0
                           : ext == NULL);
    }
}

int main(void)
{
    test_container();
    test_header();
    test_ulaw();
    test_rms();
    test_parse();
    return T_DONE();
}
