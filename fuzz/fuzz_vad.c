// deps: src/parse/vad.c
/* libFuzzer harness for the VAD. Byte 0 is the threshold (/255), byte 1
 * silence_ms (/10), byte 2 pause_ms (/10), byte 3 the sample rate (low 2
 * bits: 8000, 16000, 44100, 48000) and the signal mode (bit 2), byte 4
 * seeds the chunk sizes. The rest is the signal:
 *   mode 0: s16le PCM, each sample held for 1 + (byte 3 >> 3) samples
 *           (so a short input spans seconds and events can happen);
 *   mode 1: (amplitude, frames) byte pairs, each a stretch of LCG noise of
 *           that amplitude (x128) lasting that many 10 ms frames.
 * Invariants:
 *   - vad_feed returns at most vad_events_max(n) events; with cap 1 (on a
 *     copy of the state) it returns the same count, writes the same first
 *     event and leaves the same state;
 *   - events: at nondecreasing, pos <= at <= samples fed, at on a frame
 *     boundary; START and STOP alternate starting with START; PAUSE only in
 *     speech; STOP at == pos + silence length, PAUSE
 *     at == pos + pause length; positions nondecreasing, a second PAUSE in
 *     the same speech at a later position; vad_speech_samples 0 outside
 *     speech; vad_speech_for(0) is "in speech", and a duration it reports
 *     holds for every shorter one;
 *   - identical events for one-shot, random chunk sizes, and (for shorter
 *     signals) one sample at a time;
 *   - vad_quietest stays inside the buffer.
 * The PCM is copied to an exact-size heap block so ASan sees any over-read. */
#include "parse/vad.h"

#include <stdlib.h>
#include <string.h>

#define FV_MAX_EVENTS 4096

struct fv_run {
    struct vad_event ev[FV_MAX_EVENTS]; /* the first ones */
    size_t n, total;
};

static void fv_check(const struct vad *v, const struct vad_event *ev, size_t got, uint64_t fed_before)
{
    for (size_t i = 0; i < got; i++) {
        if (ev[i].pos > ev[i].at || ev[i].at > v->fed || ev[i].at <= fed_before ||
            ev[i].at % v->frame != 0)
            abort();
        if (ev[i].kind == VAD_SPEECH_STOP && ev[i].at != ev[i].pos + v->silence_len)
            abort();
        if (ev[i].kind == VAD_PAUSE && (v->pause_len == 0 || ev[i].at != ev[i].pos + v->pause_len))
            abort();
    }
    if (!v->speech && vad_speech_samples(v) != 0)
        abort();
    if (vad_speech_samples(v) > v->fed)
        abort();
    uint32_t ms = (uint32_t)(vad_speech_samples(v) * 1000 / v->rate); /* the speech so far, rounded down */
    if (vad_speech_for(v, 0) != v->speech)
        abort();
    if (v->speech && (!vad_speech_for(v, ms) || !vad_speech_for(v, ms / 2) || vad_speech_for(v, ms + 1)))
        abort();
}

/* Feeds pcm[0..n) in chunks from the seed (0 = one shot, 1 = one sample). */
static void fv_feed(const struct vad_config *cfg, const int16_t *pcm, size_t n, uint32_t seed,
                    int mode, struct fv_run *r)
{
    struct vad v;
    vad_init(&v, cfg);
    r->n = r->total = 0;
    size_t i = 0;
    while (i < n) {
        size_t m = n - i;
        if (mode == 1) {
            m = 1;
        } else if (mode == 2) {
            seed = seed * 1103515245u + 12345u;
            size_t want = 1 + (seed >> 16) % 2500;
            m = want < m ? want : m;
        }
        size_t cap = vad_events_max(&v, m);
        struct vad_event *ev = malloc(cap * sizeof *ev), one[1];
        if (!ev)
            abort();
        struct vad shadow = v; /* the same feed with room for one event only */
        size_t got1 = vad_feed(&shadow, pcm + i, m, one, 1);
        uint64_t before = v.fed;
        size_t got = vad_feed(&v, pcm + i, m, ev, cap);
        if (got > cap || got1 != got || shadow.fed != v.fed || shadow.speech != v.speech ||
            shadow.speech_end != v.speech_end || shadow.run != v.run || shadow.smooth != v.smooth)
            abort();
        if (got && (one[0].kind != ev[0].kind || one[0].pos != ev[0].pos || one[0].at != ev[0].at))
            abort();
        fv_check(&v, ev, got, before);
        for (size_t e = 0; e < got; e++, r->total++)
            if (r->n < FV_MAX_EVENTS)
                r->ev[r->n++] = ev[e];
        free(ev);
        i += m;
    }
    /* order and alternation over the whole stream */
    bool in = false, paused = false;
    uint64_t last = 0, last_pos = 0, pause_pos = 0;
    for (size_t e = 0; e < r->n; e++) {
        const struct vad_event *x = &r->ev[e];
        if (x->at < last || x->pos < last_pos)
            abort();
        last = x->at;
        last_pos = x->pos;
        switch (x->kind) {
        case VAD_SPEECH_START:
            if (in)
                abort();
            in = true;
            paused = false;
            break;
        case VAD_PAUSE: /* again only after speech resumed: a later position */
            if (!in || (paused && x->pos <= pause_pos))
                abort();
            paused = true;
            pause_pos = x->pos;
            break;
        case VAD_SPEECH_STOP:
            if (!in)
                abort();
            in = false;
            break;
        default:
            abort();
        }
    }
    if (r->n == r->total && in != v.speech)
        abort();
}

static bool fv_same(const struct fv_run *a, const struct fv_run *b)
{
    if (a->n != b->n || a->total != b->total)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->ev[i].kind != b->ev[i].kind || a->ev[i].pos != b->ev[i].pos || a->ev[i].at != b->ev[i].at)
            return false;
    return true;
}

static struct fv_run fv_a, fv_b;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    static const uint32_t rates[4] = {8000, 16000, 44100, 48000};
    struct vad_config cfg = {
        .sample_rate = rates[data[3] & 3],
        .threshold = data[0] / 255.0,
        .silence_ms = data[1] * 10u,
        .pause_ms = data[2] * 10u,
    };
    bool synth = data[3] & 4;
    uint32_t seed = data[4];
    const uint8_t *p = data + 5;
    size_t len = size - 5;

    /* Build the signal into an exact-size heap block. */
    size_t n = 0;
    if (synth) {
        for (size_t i = 0; i + 1 < len; i += 2)
            n += (size_t)p[i + 1] * (cfg.sample_rate / 100);
    } else {
        n = len / 2 * (1 + (size_t)(data[3] >> 3));
    }
    if (n > 600000) /* 37 s at 16 kHz: long enough, and fast */
        return 0;
    int16_t *pcm = malloc(n ? n * sizeof *pcm : 1);
    if (!pcm)
        abort();
    size_t k = 0;
    if (synth) {
        uint32_t rng = seed;
        for (size_t i = 0; i + 1 < len; i += 2) {
            int amp = p[i] * 128;
            for (size_t j = 0; j < (size_t)p[i + 1] * (cfg.sample_rate / 100); j++) {
                rng = rng * 1103515245u + 12345u;
                int r = (int)((rng >> 16) & 0xffff) - 32768;
                pcm[k++] = (int16_t)(r * amp / 32768);
            }
        }
    } else {
        size_t hold = 1 + (size_t)(data[3] >> 3);
        for (size_t i = 0; i + 1 < len; i += 2) {
            int16_t s = (int16_t)(uint16_t)(p[i] | p[i + 1] << 8);
            for (size_t j = 0; j < hold; j++)
                pcm[k++] = s;
        }
    }
    if (k != n)
        abort();

    fv_feed(&cfg, pcm, n, seed, 0, &fv_a);
    fv_feed(&cfg, pcm, n, seed, 2, &fv_b);
    if (!fv_same(&fv_a, &fv_b))
        abort();
    if (n <= 40000) {
        fv_feed(&cfg, pcm, n, seed, 1, &fv_b);
        if (!fv_same(&fv_a, &fv_b))
            abort();
    }
    size_t w = 1 + seed * 7;
    size_t q = vad_quietest(pcm, n, w);
    if (q != 0 && q + w > n)
        abort();
    free(pcm);
    return 0;
}
