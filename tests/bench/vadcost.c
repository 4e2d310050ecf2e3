// deps: src/parse/vad.c
/* The VAD's own cost per seed 001 audio_chunk (1024 samples), measured
 * without the network, the parser or the machine's other load in it: CPU
 * time (CLOCK_PROCESS_CPUTIME_ID) of vad_feed over the same speech-like
 * signal and room noise the load generator sends, built -Os like the release.
 * Compare with the whole audio_chunk path's CPU per chunk from `loadgen audio
 * -F` (1 / chunks per server-CPU-second).
 *   gcc -std=c17 -Os -D_GNU_SOURCE -Isrc tests/bench/vadcost.c src/parse/vad.c -lm -o build/bench/vadcost */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "parse/vad.h"

#define CHUNK 1024
#define CHUNKS 16      /* 1.024 s of each signal, looped */
#define REPS 200000    /* chunks timed per signal: 3.5 hours of audio */

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rng = 0x13u;
static int noise40(void)
{
    rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5;
    return (int)(rng % 81) - 40;
}

int main(void)
{
    static int16_t speech[CHUNKS][CHUNK], quiet[CHUNKS][CHUNK];
    for (int f = 0; f < CHUNKS; f++)
        for (int i = 0; i < CHUNK; i++) {
            double t = (double)(f * CHUNK + i) / 16000.0, v = 0;
            for (int k = 1; k <= 25; k++) v += sin(2 * M_PI * 140 * k * t) / k;
            int x = (int)(5000 * (0.45 + 0.55 * fabs(sin(M_PI * 5 * t))) * v / 2.5) + noise40();
            speech[f][i] = (int16_t)(x > 32767 ? 32767 : x < -32768 ? -32768 : x);
            quiet[f][i] = (int16_t)noise40();
        }
    const char *names[] = {"speech", "room noise", "speech 4 s / pause 0.5 s"};
    for (int which = 0; which < 3; which++) {
        struct vad v;
        struct vad_config cfg = {.sample_rate = 16000, .threshold = 0.5, .silence_ms = 700, .pause_ms = 300};
        vad_init(&v, &cfg);
        struct vad_event ev[8];
        size_t events = 0;
        for (int f = 0; f < 2 * CHUNKS; f++) /* the floor settles on room noise first, as in a call */
            events += vad_feed(&v, quiet[f % CHUNKS], CHUNK, ev, 8);
        double t0 = cpu_s();
        for (long r = 0; r < REPS; r++) {
            int f = (int)(r % CHUNKS);
            const int16_t *p = which == 0 ? speech[f] : which == 1 ? quiet[f] : (r % 70) < 62 ? speech[f] : quiet[f];
            events += vad_feed(&v, p, CHUNK, ev, 8);
        }
        double us = (cpu_s() - t0) / REPS * 1e6;
        printf("vad_feed, %s: %.3f us per 1024-sample chunk (%.1f ns per sample), %zu events\n", names[which], us,
               us * 1000 / CHUNK, events);
        printf("JSON {\"signal\":\"%s\",\"us_per_chunk\":%.4f}\n", names[which], us);
    }
    return 0;
}
