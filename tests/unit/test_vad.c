// deps: src/parse/vad.c
/* Voice activity detector on synthetic 16 kHz signals: digital silence,
 * tones (exact event positions), noise with bursts, clicks, speech-like
 * amplitude-modulated noise with pauses, a noise step, the barge-in length
 * query, the quietest-window helper, event capacity, config clamping, and
 * chunking invariance (1 sample, odd sizes, 1024, whole). */
#include "parse/vad.h"
#include "t.h"

#include <math.h> /* NAN only: no libm */
#include <stdlib.h>

#define SR 16000u
#define MS(x) ((size_t)(x) * SR / 1000)
#define MAXLEN (MS(20000))
#define MAXEV 64

static int16_t sig[MAXLEN];
static uint32_t tv_rng = 12345;

/* Deterministic uniform noise in [-amp, amp]. */
static int16_t tv_noise(int amp)
{
    tv_rng = tv_rng * 1103515245u + 12345u;
    int r = (int)((tv_rng >> 16) & 0x7fff); /* 0..32767 */
    return (int16_t)((r - 16384) * amp / 16384);
}

static void tv_zero(size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        sig[i] = 0;
}

static void tv_fill_noise(size_t from, size_t to, int amp)
{
    for (size_t i = from; i < to; i++)
        sig[i] = tv_noise(amp);
}

/* Triangle wave in [-1, 1] of period p at i (no libm in unit tests). */
static double tv_tri(size_t i, double p)
{
    double ph = (double)i / p;
    ph -= (double)(size_t)ph;
    return ph < 0.5 ? 4 * ph - 1 : 3 - 4 * ph;
}

/* Adds a triangle tone of freq Hz and amplitude amp. */
static void tv_add_tone(size_t from, size_t to, double freq, double amp)
{
    for (size_t i = from; i < to; i++) {
        double x = sig[i] + amp * tv_tri(i, SR / freq);
        sig[i] = (int16_t)(x > 32767 ? 32767 : x < -32768 ? -32768 : x);
    }
}

/* Adds noise amplitude-modulated at 4 Hz (syllables) from 30% to 100%. */
static void tv_add_speechlike(size_t from, size_t to, int amp)
{
    for (size_t i = from; i < to; i++) {
        double env = 0.65 + 0.35 * tv_tri(i - from, SR / 4.0);
        int x = sig[i] + (int)(tv_noise(amp) * env);
        sig[i] = (int16_t)(x > 32767 ? 32767 : x < -32768 ? -32768 : x);
    }
}

static const struct vad_config tv_cfg = {
    .sample_rate = SR, .threshold = 0.5, .silence_ms = 700, .pause_ms = 300};

/* Runs the detector over sig[0..n) in chunks of `chunk`; returns the events. */
static size_t tv_run(const struct vad_config *cfg, size_t n, size_t chunk, struct vad_event *ev)
{
    struct vad v;
    vad_init(&v, cfg);
    size_t k = 0;
    for (size_t i = 0; i < n; i += chunk) {
        size_t m = n - i < chunk ? n - i : chunk;
        struct vad_event buf[MAXEV];
        size_t got = vad_feed(&v, sig + i, m, buf, MAXEV);
        if (got > vad_events_max(&v, m))
            return (size_t)-1;
        for (size_t e = 0; e < got && k < MAXEV; e++)
            ev[k++] = buf[e];
    }
    return k;
}

static size_t tv_count(const struct vad_event *ev, size_t n, enum vad_kind kind)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ev[i].kind == kind;
    return c;
}

static void test_silence(void)
{
    struct vad_event ev[MAXEV];
    tv_zero(0, MS(5000));
    CHECK(tv_run(&tv_cfg, MS(5000), 1024, ev) == 0);
    /* quiet dither far below the absolute minimum level */
    tv_fill_noise(0, MS(5000), 3);
    CHECK(tv_run(&tv_cfg, MS(5000), 1024, ev) == 0);
}

/* A tone after digital silence: every position is exact (frame-aligned). */
static void test_tone_exact(void)
{
    struct vad_event ev[MAXEV];
    tv_zero(0, MS(4000));
    tv_add_tone(MS(1000), MS(2000), 1000, 3000);
    size_t n = tv_run(&tv_cfg, MS(4000), 1024, ev);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(ev[0].kind == VAD_SPEECH_START && ev[0].pos == MS(1000) && ev[0].at == MS(1030));
        CHECK(ev[1].kind == VAD_PAUSE && ev[1].pos == MS(2000) && ev[1].at == MS(2300));
        CHECK(ev[2].kind == VAD_SPEECH_STOP && ev[2].pos == MS(2000) && ev[2].at == MS(2700));
    }
    /* pause_ms 0 or >= silence_ms: no PAUSE */
    struct vad_config c = tv_cfg;
    c.pause_ms = 0;
    CHECK(tv_run(&c, MS(4000), 1024, ev) == 2 && ev[1].kind == VAD_SPEECH_STOP);
    c.pause_ms = 700;
    CHECK(tv_run(&c, MS(4000), 1024, ev) == 2 && ev[1].kind == VAD_SPEECH_STOP);
    /* a tone starting mid-frame: the onset frame is the one containing it */
    tv_zero(0, MS(4000));
    tv_add_tone(MS(1000) + 50, MS(2000), 1000, 3000);
    n = tv_run(&tv_cfg, MS(4000), 333, ev);
    CHECK(n == 3 && ev[0].pos == MS(1000));
}

/* Tone bursts in white noise at about 20 dB SNR. */
static void test_tone_in_noise(void)
{
    struct vad_event ev[MAXEV];
    tv_fill_noise(0, MS(8000), 300);
    tv_add_tone(MS(2000), MS(3000), 700, 2000);
    tv_add_tone(MS(3200), MS(3500), 1500, 2000); /* 200 ms gap: same speech */
    tv_add_tone(MS(5000), MS(5600), 2500, 2000);
    size_t n = tv_run(&tv_cfg, MS(8000), 1024, ev);
    /* every STOP is preceded by a PAUSE (pause_ms < silence_ms) */
    CHECK(n == 6);
    if (n == 6) {
        CHECK(ev[0].kind == VAD_SPEECH_START && ev[1].kind == VAD_PAUSE &&
              ev[2].kind == VAD_SPEECH_STOP && ev[3].kind == VAD_SPEECH_START &&
              ev[4].kind == VAD_PAUSE && ev[5].kind == VAD_SPEECH_STOP);
        CHECK(ev[0].pos + MS(20) >= MS(2000) && ev[0].pos <= MS(2010));
        CHECK(ev[0].at <= MS(2050));
        CHECK(ev[1].pos == ev[2].pos && ev[1].at == ev[1].pos + MS(300));
        CHECK(ev[2].pos >= MS(3500) && ev[2].pos <= MS(3520));
        CHECK(ev[2].at == ev[2].pos + MS(700));
        CHECK(ev[3].pos + MS(20) >= MS(5000) && ev[3].pos <= MS(5010));
        CHECK(ev[5].pos >= MS(5600) && ev[5].pos <= MS(5620));
    }
    /* The energy is of first differences, so low frequencies weigh less:
     * a 440 Hz tone 16 dB over white noise is at the noise level there. */
    tv_fill_noise(0, MS(8000), 300);
    tv_add_tone(MS(5000), MS(5600), 440, 2000);
    CHECK(tv_run(&tv_cfg, MS(8000), 1024, ev) == 0);
}

/* Clicks and bursts shorter than 30 ms never start speech. */
static void test_clicks(void)
{
    struct vad_event ev[MAXEV];
    tv_fill_noise(0, MS(6000), 100);
    for (size_t t = 1000; t < 5000; t += 500)
        sig[MS(t) + 7] = 30000; /* single-sample click */
    for (size_t i = 0; i < MS(5); i++)
        sig[MS(5200) - MS(2) + i] = (int16_t)(i & 1 ? 20000 : -20000); /* 5 ms across a frame edge */
    CHECK(tv_run(&tv_cfg, MS(6000), 1024, ev) == 0);
    /* 20 ms burst: no; 40 ms burst: yes */
    tv_fill_noise(0, MS(6000), 100);
    tv_add_tone(MS(2000), MS(2020), 1000, 8000);
    CHECK(tv_run(&tv_cfg, MS(6000), 1024, ev) == 0);
    tv_add_tone(MS(4000), MS(4040), 1000, 8000);
    size_t n = tv_run(&tv_cfg, MS(6000), 1024, ev);
    CHECK(n == 3 && ev[0].kind == VAD_SPEECH_START && ev[0].pos == MS(4000));
}

/* Speech-like AM noise with pauses of 200 and 400 ms, then 1.5 s silence. */
static void test_speechlike(void)
{
    struct vad_event ev[MAXEV];
    tv_fill_noise(0, MS(9000), 150);
    tv_add_speechlike(MS(1000), MS(3000), 4000);
    tv_add_speechlike(MS(3200), MS(5000), 4000);
    tv_add_speechlike(MS(5400), MS(7000), 4000);
    size_t n = tv_run(&tv_cfg, MS(9000), 1024, ev);
    /* START, PAUSE at the 400 ms pause (none at 200 ms), PAUSE + STOP at the end */
    CHECK(n == 4);
    CHECK(tv_count(ev, n, VAD_SPEECH_START) == 1 && tv_count(ev, n, VAD_SPEECH_STOP) == 1);
    if (n == 4) {
        CHECK(ev[0].pos + MS(20) >= MS(1000) && ev[0].pos <= MS(1030));
        CHECK(ev[1].kind == VAD_PAUSE && ev[1].pos >= MS(5000) && ev[1].pos <= MS(5020));
        CHECK(ev[2].kind == VAD_PAUSE && ev[2].pos >= MS(7000) && ev[2].pos <= MS(7020));
        CHECK(ev[3].kind == VAD_SPEECH_STOP && ev[3].pos == ev[2].pos);
    }
    /* with silence_ms 2000 the 2 s of silence at the end do not end it yet */
    struct vad_config c = tv_cfg;
    c.silence_ms = 2000;
    n = tv_run(&c, MS(9000), 1024, ev);
    CHECK(n == 3 && ev[0].kind == VAD_SPEECH_START && ev[2].kind == VAD_PAUSE);
}

/* Ten seconds of noise alone (white, and a rising and falling level). */
static void test_noise_alone(void)
{
    struct vad_event ev[MAXEV];
    tv_fill_noise(0, MS(10000), 2000);
    CHECK(tv_run(&tv_cfg, MS(10000), 1024, ev) == 0);
    for (size_t i = 0; i < MS(10000); i++) /* a swell of 3 dB every 5 s */
        sig[i] = (int16_t)(tv_noise(1000) * (1.2 + 0.2 * tv_tri(i, SR / 0.2)));
    CHECK(tv_run(&tv_cfg, MS(10000), 1024, ev) == 0);
}

/* A noise that jumps up by 20 dB is speech at first, then becomes the floor. */
static void test_noise_step(void)
{
    struct vad_event ev[MAXEV];
    tv_fill_noise(0, MS(3000), 100);
    tv_fill_noise(MS(3000), MS(10000), 1000);
    size_t n = tv_run(&tv_cfg, MS(10000), 1024, ev);
    CHECK(n == 3 && ev[0].kind == VAD_SPEECH_START && ev[2].kind == VAD_SPEECH_STOP);
    CHECK(n == 3 && ev[2].at <= MS(3000 + 2250 + 700 + 100));
    /* and speech over the new floor is found */
    tv_add_tone(MS(8000), MS(9000), 1000, 6000);
    n = tv_run(&tv_cfg, MS(10000), 1024, ev);
    CHECK(n == 6 && ev[3].kind == VAD_SPEECH_START && ev[3].pos + MS(20) >= MS(8000) &&
          ev[3].pos <= MS(8010));
}

/* vad_speech_samples: a 150 ms cough stays 150 ms; a 400 ms word passes 250. */
static void test_speech_for(void)
{
    struct vad v;
    struct vad_event ev[MAXEV];
    tv_zero(0, MS(3000));
    tv_add_tone(MS(500), MS(650), 1000, 3000);
    tv_add_tone(MS(2000), MS(2400), 1000, 3000);
    vad_init(&v, &tv_cfg);
    CHECK(vad_speech_samples(&v) == 0 && !vad_speech_for(&v, 0));
    vad_feed(&v, sig, MS(1000), ev, MAXEV);
    CHECK(v.speech && vad_speech_samples(&v) == MS(150));
    CHECK(vad_speech_for(&v, 150) && !vad_speech_for(&v, 250));
    vad_feed(&v, sig + MS(1000), MS(1300), ev, MAXEV);
    CHECK(vad_speech_for(&v, 250) && !vad_speech_for(&v, 310)); /* 300 ms into the word */
    CHECK(vad_speech_samples(&v) == MS(300));
    vad_feed(&v, sig + MS(2300), MS(200), ev, MAXEV);
    CHECK(vad_speech_for(&v, 250) && vad_speech_samples(&v) == MS(400));
    vad_feed(&v, sig + MS(2500), MS(500), ev, MAXEV);
    vad_feed(&v, sig, MS(500), ev, MAXEV); /* zeros: 1.1 s after the word */
    CHECK(!v.speech && vad_speech_samples(&v) == 0);
}

static void test_quietest(void)
{
    tv_fill_noise(0, MS(1000), 3000);
    for (size_t i = MS(600); i < MS(700); i++)
        sig[i] = (int16_t)(sig[i] / 30);
    CHECK(vad_quietest(sig, MS(1000), MS(100)) == MS(600));
    CHECK(vad_quietest(sig, MS(1000), 0) == 0);
    CHECK(vad_quietest(sig, MS(100), MS(100)) == 0);
    CHECK(vad_quietest(sig, 5, 10) == 0);
    CHECK(vad_quietest(NULL, 0, 10) == 0);
    int16_t flat[10] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5};
    CHECK(vad_quietest(flat, 10, 3) == 0); /* ties: the first */
    int16_t ramp[8] = {0, 30000, -30000, 30000, 7, 7, 7, -20000};
    CHECK(vad_quietest(ramp, 8, 3) == 3 || vad_quietest(ramp, 8, 3) == 4);
    CHECK(vad_quietest(ramp, 8, 3) == 4); /* differences 7-7, 7-7 */
    int16_t ext[4] = {-32768, 32767, -32768, 32767};
    CHECK(vad_quietest(ext, 4, 2) == 0);
}

/* Events reported beyond cap are counted, not written; the bound holds. */
static void test_cap(void)
{
    tv_zero(0, MS(4000));
    tv_add_tone(MS(1000), MS(2000), 1000, 3000);
    struct vad v;
    vad_init(&v, &tv_cfg);
    CHECK(vad_events_max(&v, 1024) == 7);
    CHECK(vad_events_max(&v, 0) == 1);
    CHECK(vad_feed(&v, sig, MS(4000), NULL, 0) == 3);
    CHECK(vad_feed(&v, NULL, 0, NULL, 0) == 0);
    struct vad_event one[1];
    vad_init(&v, &tv_cfg);
    CHECK(vad_feed(&v, sig, MS(4000), one, 1) == 3 && one[0].kind == VAD_SPEECH_START);
}

static void test_config(void)
{
    struct vad v;
    struct vad_config c = {.sample_rate = 0, .threshold = NAN, .silence_ms = 0, .pause_ms = 0};
    vad_init(&v, &c);
    CHECK(v.rate == 16000 && v.frame == 160 && v.silence_len == 160 && v.pause_len == 0);
    c = (struct vad_config){.sample_rate = 1000000, .threshold = 5, .silence_ms = 705, .pause_ms = 301};
    vad_init(&v, &c);
    CHECK(v.rate == 48000 && v.frame == 480 && v.silence_len == (uint64_t)71 * 480 && v.pause_len == (uint64_t)31 * 480);
    c = (struct vad_config){.sample_rate = 44100, .threshold = -1, .silence_ms = 700, .pause_ms = 300};
    vad_init(&v, &c);
    CHECK(v.frame == 440); /* even */
    /* a higher threshold needs louder speech */
    tv_fill_noise(0, MS(4000), 300);
    tv_add_tone(MS(2000), MS(3000), 1000, 800); /* ~ +8 dB over the noise */
    struct vad_event ev[MAXEV];
    c = tv_cfg;
    c.threshold = 0.1;
    CHECK(tv_run(&c, MS(4000), 1024, ev) >= 1);
    c.threshold = 1.0;
    CHECK(tv_run(&c, MS(4000), 1024, ev) == 0);
}

/* Identical events whatever the chunking. */
static void test_chunking(void)
{
    size_t n = MS(12000);
    tv_fill_noise(0, n, 200);
    tv_add_speechlike(MS(1000), MS(2500), 5000);
    tv_add_tone(MS(2800), MS(3300), 300, 4000);
    sig[MS(6000) + 3] = 25000;
    tv_add_speechlike(MS(7000), MS(7800), 3000);
    tv_add_speechlike(MS(8200), MS(10000), 6000);
    struct vad_event ref[MAXEV], got[MAXEV];
    size_t nref = tv_run(&tv_cfg, n, n, ref);
    CHECK(nref >= 4 && nref < MAXEV);
    static const size_t chunks[] = {1, 2, 3, 7, 159, 160, 161, 333, 1024, 4097};
    for (size_t c = 0; c < ARRAY_LEN(chunks); c++) {
        size_t k = tv_run(&tv_cfg, n, chunks[c], got);
        bool same = k == nref;
        for (size_t i = 0; same && i < k; i++)
            same = got[i].kind == ref[i].kind && got[i].pos == ref[i].pos && got[i].at == ref[i].at;
        if (!same)
            fprintf(stderr, "  chunk %zu: %zu events vs %zu\n", chunks[c], k, nref);
        CHECK(same);
    }
    /* positions are monotonic, START/STOP alternate, PAUSE only inside */
    bool in = false, ok = true;
    uint64_t last = 0;
    for (size_t i = 0; i < nref; i++) {
        ok &= ref[i].at >= last && ref[i].pos <= ref[i].at;
        last = ref[i].at;
        if (ref[i].kind == VAD_SPEECH_START)
            ok &= !in, in = true;
        else
            ok &= in, in = ref[i].kind == VAD_PAUSE;
    }
    CHECK(ok);
}

/* A weak sound 120 ms after the last speech frame (a final fricative after
 * a nasal) still belongs to the speech when it lasts two frames or more; a
 * lone weak frame there does not (it only bridges within 50 ms). */
static void test_final_fricative(void)
{
    struct vad_event ev[MAXEV];
    for (int lone = 0; lone < 2; lone++) {
        tv_rng = 777;
        tv_fill_noise(0, MS(6000), 300);
        tv_add_tone(MS(2000), MS(3000), 2500, 2000);
        size_t w0 = MS(3120), w1 = lone ? MS(3130) : MS(3150);
        for (size_t i = w0; i < w1; i++)
            sig[i] = (int16_t)(sig[i] * 7 / 5); /* +2.9 dB: above the low threshold, below the high */
        size_t n = tv_run(&tv_cfg, MS(6000), 1024, ev);
        CHECK(n >= 2 && tv_count(ev, n, VAD_SPEECH_STOP) == 1);
        uint64_t end = n ? ev[n - 1].pos : 0;
        if (lone)
            CHECK(end >= MS(3000) && end <= MS(3060));
        else
            CHECK(end >= MS(3150) && end <= MS(3160));
    }
}

int main(void)
{
    test_silence();
    test_tone_exact();
    test_tone_in_noise();
    test_clicks();
    test_speechlike();
    test_final_fricative();
    test_noise_alone();
    test_noise_step();
    test_speech_for();
    test_quietest();
    test_cap();
    test_config();
    test_chunking();
    return T_DONE();
}
