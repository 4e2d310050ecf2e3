// deps: src/parse/vad.c
/* Runs the VAD (src/parse/vad.c) over a 16-bit mono WAV file and prints its
 * events as JSON lines, for tests/vad/quality.py:
 *   {"event":"speech_started","pos_ms":1010.0,"at_ms":1040.0}
 * Usage: vad_eval [-t threshold] [-s silence_ms] [-p pause_ms] [-c chunk]
 *                 [-d] [-b] file.wav
 *   -d  also print every frame's level and floor (dB) as JSON lines
 *   -b  benchmark: feed 60 s of the file (repeated) in chunks of -c samples
 *       (default 1024) and print the best of 5 runs in ns per chunk.
 * Build: gcc -std=c17 -D_GNU_SOURCE -O2 -Isrc -o build/vad_eval tests/vad/vad_eval.c src/parse/vad.c */
#include "parse/vad.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint32_t ve_le32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The samples of a RIFF/WAVE file's data chunk (16-bit mono required). */
static int16_t *ve_read_wav(const char *path, size_t *n, uint32_t *rate)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = len > 12 ? malloc((size_t)len) : NULL;
    if (!b || fread(b, 1, (size_t)len, f) != (size_t)len || memcmp(b, "RIFF", 4) != 0 ||
        memcmp(b + 8, "WAVE", 4) != 0) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    size_t off = 12, L = (size_t)len;
    int16_t *pcm = NULL;
    bool fmt_ok = false;
    while (off + 8 <= L) {
        uint32_t sz = ve_le32(b + off + 4);
        const uint8_t *c = b + off + 8;
        size_t avail = L - off - 8 < sz ? L - off - 8 : sz;
        if (memcmp(b + off, "fmt ", 4) == 0 && avail >= 16) {
            *rate = ve_le32(c + 4);
            fmt_ok = (c[2] | c[3] << 8) == 1 && (c[14] | c[15] << 8) == 16;
        } else if (memcmp(b + off, "data", 4) == 0 && fmt_ok) {
            *n = avail / 2;
            pcm = malloc(*n * 2 + 2);
            for (size_t i = 0; pcm && i < *n; i++)
                pcm[i] = (int16_t)(c[2 * i] | c[2 * i + 1] << 8);
            break;
        }
        off += 8 + (size_t)sz + (sz & 1);
    }
    free(b);
    return pcm;
}

static const char *ve_name(enum vad_kind k)
{
    return k == VAD_SPEECH_START ? "speech_started" : k == VAD_PAUSE ? "pause" : "speech_stopped";
}

static double ve_ms(uint64_t samples, uint32_t rate)
{
    return (double)samples * 1000.0 / rate;
}

static double ve_db(int32_t units)
{
    return units / 85.04 - 30 * 3.0103;
}

static void ve_bench(const struct vad_config *cfg, const int16_t *pcm, size_t n, size_t chunk)
{
    size_t total = (size_t)cfg->sample_rate * 60;
    int16_t *buf = malloc(total * sizeof *buf);
    if (!buf || n == 0)
        exit(1);
    for (size_t i = 0; i < total; i++)
        buf[i] = pcm[i % n];
    struct vad_event ev[64];
    double best = 1e30;
    size_t events = 0;
    for (int r = 0; r < 5; r++) {
        struct vad v;
        vad_init(&v, cfg);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        events = 0;
        for (size_t i = 0; i < total; i += chunk) {
            size_t k = total - i < chunk ? total - i : chunk;
            events += vad_feed(&v, buf + i, k, ev, 64);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
        best = ns < best ? ns : best;
    }
    size_t chunks = (total + chunk - 1) / chunk;
    printf("{\"bench\":true,\"chunk\":%zu,\"chunks\":%zu,\"ns_per_chunk\":%.1f,\"events\":%zu}\n",
           chunk, chunks, best / (double)chunks, events);
    free(buf);
}

int main(int argc, char **argv)
{
    struct vad_config cfg = {.sample_rate = 16000, .threshold = 0.5, .silence_ms = 700, .pause_ms = 300};
    size_t chunk = 1024;
    bool debug = false, bench = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            cfg.threshold = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            cfg.silence_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-p") && i + 1 < argc)
            cfg.pause_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-c") && i + 1 < argc)
            chunk = (size_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-d"))
            debug = true;
        else if (!strcmp(argv[i], "-b"))
            bench = true;
        else
            path = argv[i];
    }
    size_t n = 0;
    uint32_t rate = 0;
    int16_t *pcm = path ? ve_read_wav(path, &n, &rate) : NULL;
    if (!pcm || chunk == 0) {
        fprintf(stderr, "usage: vad_eval [-t thr] [-s ms] [-p ms] [-c chunk] [-d] [-b] file.wav "
                        "(16-bit mono PCM)\n");
        return 2;
    }
    cfg.sample_rate = rate;
    if (bench) {
        ve_bench(&cfg, pcm, n, chunk);
        free(pcm);
        return 0;
    }
    struct vad v;
    vad_init(&v, &cfg);
    struct vad_event ev[64];
    if (debug)
        chunk = v.frame; /* one frame per feed, to see each frame's level */
    for (size_t i = 0; i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        size_t got = vad_feed(&v, pcm + i, k, ev, 64);
        if (debug && k == v.frame)
            printf("{\"frame_ms\":%.0f,\"level_db\":%.1f,\"floor_db\":%.1f,\"speech\":%d}\n",
                   ve_ms(i, rate), ve_db(v.last_level), ve_db(v.last_floor), v.speech);
        for (size_t e = 0; e < got && e < 64; e++)
            printf("{\"event\":\"%s\",\"pos_ms\":%.1f,\"at_ms\":%.1f}\n", ve_name(ev[e].kind),
                   ve_ms(ev[e].pos, rate), ve_ms(ev[e].at, rate));
    }
    printf("{\"end_ms\":%.1f}\n", ve_ms(n, rate));
    free(pcm);
    return 0;
}
