/* Voice activity detector: see vad.h for the method. */
#include "parse/vad.h"

/* Frame length: 10 ms, short enough that onsets and ends are placed within
 * 10 ms, long enough (160 samples at 16 kHz) for a stable energy estimate,
 * and the per-frame work (a log2, the floor update) is amortised. */
#define VAD_FRAMES_PER_SEC 100u

/* Level units: 1/256 of a binary logarithm of mean-square energy; one
 * octave of energy is 3.0103 dB, so 1 dB is 85.04 units. */
#define VAD_UNITS_PER_DB 85.04
/* 0 dBFS: the mean square of a full-scale difference signal, 2^30. */
#define VAD_FULL_SCALE (30 * 256)

/* Speech must exceed the floor by margin = MIN + threshold * SPAN dB (5 dB
 * at the default 0.5; 2 dB at 0, 8 dB at 1); the low threshold is half of
 * that. The floor is a minimum of smoothed levels, so it sits 0.5-1 dB below
 * the mean of stationary noise, whose 10 ms frames (in this difference
 * domain) spread by about +-1.5 dB for white, pink and brown noise; no three
 * frames in a row of such noise reach 5 dB. Measured by tests/vad/quality.py:
 * no false start on 10 s of pink or brown noise, onsets within 100 ms at
 * 10 dB SNR; a higher margin misses the weak consonants around words at
 * 10 dB SNR pink noise, which then split answers at their pauses. */
#define VAD_MARGIN_MIN_DB 2.0
#define VAD_MARGIN_SPAN_DB 6.0
/* Absolute minimum speech level, dBFS of the difference signal:
 * MIN + threshold * SPAN. Digital silence or a muted microphone has a floor
 * near -inf, where any dither would otherwise be "speech". -55 dBFS at 0.5:
 * above 16-bit dither and quiet microphone self-noise, below speech at
 * ordinary gain (espeak-ng speech measures -35..-20 dBFS in this domain;
 * speech 20 dB quieter than that still gets through, barely). */
#define VAD_ABS_MIN_DB (-65.0)
#define VAD_ABS_SPAN_DB 20.0

/* Consecutive speech frames for an onset (and for speech to resume inside a
 * pause): 3 frames = 30 ms. A click or tap (< 10 ms) touches at most two
 * frames; the shortest speech sounds last longer than 30 ms; the onset
 * decision is then 30 ms late, well inside the 100 ms requirement. */
#define VAD_ONSET_FRAMES 3u

/* A confirmed onset is moved back over the frames above the low threshold
 * that precede it, by at most 150 ms: a weak consonant or breath before the
 * first vowel belongs to the speech, but a long stretch of slightly raised
 * noise does not. */
#define VAD_LOOKBACK_FRAMES 15u
/* Inside speech a single frame above the low threshold at most 50 ms after
 * the last speech frame extends the speech: the release burst of a final
 * stop consonant ("help", "creep") comes 30-60 ms after its silent closure. */
#define VAD_BRIDGE_FRAMES 5u
/* Two low frames in a row at most 150 ms after the last speech frame extend
 * it too: a word-final fricative after a nasal or a closure ("problems",
 * "skills") can follow its vowel by 100-150 ms of sound this difference
 * domain barely sees, and at 10 dB SNR in pink noise the fricative itself
 * sits at 0-3 dB above the floor (tests/vad/quality.py, en-us+f3: lost, it
 * ended the answer 180 ms early). Two in a row, so that a lone noise frame
 * in a pause bridges no further than VAD_BRIDGE_FRAMES. */
#define VAD_BRIDGE_LONG_FRAMES 15u

/* Smoothing of frame levels before the floor's minimum: 1/4 per frame
 * (~40 ms). A raw minimum over 2 s of noise frames would sit at the deepest
 * dip of the noise, many dB below its mean; smoothing narrows the spread. */
#define VAD_SMOOTH_SHIFT 2
/* The floor's window: VAD_FLOOR_BLOCKS blocks of 25 frames (250 ms), so the
 * floor is the minimum over the last 2 to 2.25 s. Speech read aloud has gaps
 * to the noise level within that; a noise that gets louder is adopted as the
 * new floor after at most 2.25 s. */
#define VAD_BLOCK_FRAMES 25u

static int32_t vad_units(double db)
{
    return (int32_t)(db * VAD_UNITS_PER_DB + (db < 0 ? -0.5 : 0.5));
}

/* floor(256 * log2(x)) for x >= 1, by repeated squaring of the mantissa:
 * exact integer arithmetic, so identical everywhere. */
static int32_t vad_log2q8(uint64_t x)
{
    int msb = 63 - __builtin_clzll(x);
    uint64_t m = msb >= 30 ? x >> (msb - 30) : x << (30 - msb); /* [1,2) in Q30 */
    int32_t r = msb * 256;
    for (int bit = 128; bit > 0; bit >>= 1) {
        m = (m * m) >> 30; /* < 2^62: no overflow */
        if (m >= (2ull << 30)) {
            m >>= 1;
            r += bit;
        }
    }
    return r;
}

void vad_init(struct vad *v, const struct vad_config *cfg)
{
    *v = (struct vad){0};
    uint32_t rate = cfg->sample_rate ? cfg->sample_rate : 16000;
    rate = rate < 8000 ? 8000 : rate > 48000 ? 48000 : rate;
    double t = cfg->threshold;
    t = t > 0 ? (t < 1 ? t : 1) : 0; /* NaN -> 0 */
    v->rate = rate;
    v->frame = rate / VAD_FRAMES_PER_SEC & ~1u; /* even: sample pairs never straddle frames */
    v->margin = vad_units(VAD_MARGIN_MIN_DB + t * VAD_MARGIN_SPAN_DB);
    v->abs_min = VAD_FULL_SCALE + vad_units(VAD_ABS_MIN_DB + t * VAD_ABS_SPAN_DB);
    /* Durations are whole frames (decisions are made per frame), at least one. */
    uint64_t f = v->frame;
    uint64_t sil = ((uint64_t)cfg->silence_ms * rate / 1000 + f - 1) / f;
    uint64_t pau = ((uint64_t)cfg->pause_ms * rate / 1000 + f - 1) / f;
    sil = sil ? sil : 1;
    v->silence_len = sil * f;
    v->pause_len = pau && pau < sil ? pau * f : 0;
}

size_t vad_events_max(const struct vad *v, size_t n)
{
    return n / v->frame + 1;
}

/* Noise floor: minimum of the smoothed level over the current block and the
 * ring of previous block minima. Before the first frame it is unused. */
static int32_t vad_floor(const struct vad *v)
{
    int32_t m = v->block_min;
    for (uint32_t i = 0; i < v->nblocks; i++)
        m = v->blocks[i] < m ? v->blocks[i] : m;
    return m;
}

static void vad_track_floor(struct vad *v, int32_t level)
{
    if (v->fed == v->frame) { /* first frame: everything starts from it */
        v->smooth = level;
        v->block_min = level;
    }
    v->smooth += (level - v->smooth) / (1 << VAD_SMOOTH_SHIFT);
    if (v->smooth < v->block_min)
        v->block_min = v->smooth;
    if (++v->block_frames == VAD_BLOCK_FRAMES) {
        v->blocks[v->block_next] = v->block_min;
        v->block_next = (v->block_next + 1) % VAD_FLOOR_BLOCKS;
        if (v->nblocks < VAD_FLOOR_BLOCKS)
            v->nblocks++;
        v->block_frames = 0;
        v->block_min = v->smooth;
    }
}

static size_t vad_emit(struct vad_event *out, size_t cap, size_t k, enum vad_kind kind,
                       uint64_t pos, uint64_t at)
{
    if (k < cap)
        out[k] = (struct vad_event){.kind = kind, .pos = pos, .at = at};
    return k + 1;
}

/* One complete frame ending at sample v->fed: returns the new event count. */
static size_t vad_frame(struct vad *v, struct vad_event *out, size_t cap, size_t k)
{
    uint64_t end = v->fed, start = end - v->frame;
    /* mean square over the frame's frame/2 pair differences (+1: log of 0) */
    int32_t level = vad_log2q8(v->acc + v->frame / 2) - vad_log2q8(v->frame / 2);
    /* Decide against the floor before this frame joins it: a loud frame can
     * only raise the smoothed level, never lower the minimum. */
    int32_t nfloor = v->fed == v->frame ? level : vad_floor(v);
    /* Two thresholds (Rabiner-Sambur style): the high one (floor + margin)
     * confirms speech; the low one (floor + margin / 2) keeps it going,
     * extends a confirmed onset back to where the sound really began (a
     * breathy "p" or "h" before the vowel) and bridges a short gap to a weak
     * word end (the release of a final stop after its closure). The low
     * test is on the mean of this and the previous frame's level: a weak
     * fricative at 0 dB local SNR ("problems") hovers around it, and the
     * mean halves the noise's frame-to-frame spread. */
    bool high = level > nfloor + v->margin && level > v->abs_min;
    int32_t avg = v->fed == v->frame ? level : (level + v->last_level) / 2;
    bool low = high || (avg > nfloor + v->margin / 2 && level > v->abs_min);
    vad_track_floor(v, level);
    v->last_level = level;
    v->last_floor = nfloor;

    /* Run lengths saturate (a run of 2^32 frames is 497 days). */
    if (!low)
        v->weak = 0;
    else if (v->weak++ == 0)
        v->weak_start = start;
    else if (v->weak == 0)
        v->weak = UINT32_MAX;
    if (!(v->speech ? low : high))
        v->run = 0;
    else if (v->run++ == 0)
        v->run_start = start;
    else if (v->run == 0)
        v->run = UINT32_MAX;
    if (v->run >= VAD_ONSET_FRAMES) {
        if (!v->speech) {
            uint64_t back = (uint64_t)VAD_LOOKBACK_FRAMES * v->frame;
            uint64_t pos = v->run_start - v->weak_start > back ? v->run_start - back : v->weak_start;
            v->speech = true;
            v->speech_start = pos;
            k = vad_emit(out, cap, k, VAD_SPEECH_START, pos, end);
        }
        v->speech_end = end;
        v->pause_sent = false;
        return k;
    }
    if (v->speech && low && (start - v->speech_end <= (uint64_t)VAD_BRIDGE_FRAMES * v->frame ||
                             (v->weak >= 2 && start - v->speech_end <= (uint64_t)VAD_BRIDGE_LONG_FRAMES * v->frame)))
        v->speech_end = end;
    if (!v->speech)
        return k;
    uint64_t quiet = end - v->speech_end;
    if (quiet >= v->silence_len) {
        v->speech = false;
        return vad_emit(out, cap, k, VAD_SPEECH_STOP, v->speech_end, end);
    }
    if (v->pause_len && quiet >= v->pause_len && !v->pause_sent) {
        v->pause_sent = true;
        return vad_emit(out, cap, k, VAD_PAUSE, v->speech_end, end);
    }
    return k;
}

/* Sum of (p[2k+1] - p[2k])^2 over the sample pairs of p[0..n), n even: the
 * hot loop. The first difference is taken on disjoint pairs only, which
 * estimates the same mean square as on every sample (a stationary signal's
 * energy survives decimation) at half the cost: 0.4 ns per sample. d^2 < 2^32
 * is computed in uint32 (no signed overflow). */
static uint64_t vad_energy(const int16_t *p, size_t n)
{
    uint64_t acc = 0;
    for (size_t j = 0; j + 1 < n; j += 2) {
        uint32_t d = (uint32_t)((int32_t)p[j + 1] - p[j]);
        acc += (uint64_t)(d * d);
    }
    return acc;
}

size_t vad_feed(struct vad *v, const int16_t *pcm, size_t n, struct vad_event *out, size_t cap)
{
    size_t k = 0, i = 0;
    while (i < n) {
        size_t take = v->frame - v->nacc;
        take = take < n - i ? take : n - i;
        const int16_t *p = pcm + i;
        size_t m = take;
        if (v->fed & 1) { /* the second half of a pair split by the chunking */
            uint32_t d = (uint32_t)((int32_t)p[0] - v->prev);
            v->acc += (uint64_t)(d * d);
            p++;
            m--;
        }
        v->acc += vad_energy(p, m & ~(size_t)1);
        if (m & 1)
            v->prev = p[m - 1];
        v->nacc += (uint32_t)take;
        v->fed += take;
        i += take;
        if (v->nacc == v->frame) {
            k = vad_frame(v, out, cap, k);
            v->acc = 0;
            v->nacc = 0;
        }
    }
    return k;
}

uint64_t vad_speech_samples(const struct vad *v)
{
    return v->speech ? v->speech_end - v->speech_start : 0;
}

bool vad_speech_for(const struct vad *v, uint32_t ms)
{
    return v->speech && vad_speech_samples(v) * 1000 >= (uint64_t)ms * v->rate;
}

size_t vad_quietest(const int16_t *pcm, size_t n, size_t window)
{
    if (window == 0 || n <= window)
        return 0;
    /* e(i) = (pcm[i] - pcm[i-1])^2 for i >= 1, e(0) = 0; window s covers
     * e(s+1..s+window-1), the differences inside it. */
    uint64_t sum = 0;
    for (size_t i = 1; i < window; i++) {
        int64_t d = (int64_t)pcm[i] - pcm[i - 1];
        sum += (uint64_t)(d * d);
    }
    uint64_t best = sum;
    size_t at = 0;
    for (size_t s = 1; s + window <= n; s++) {
        int64_t out = (int64_t)pcm[s] - pcm[s - 1];
        int64_t in = (int64_t)pcm[s + window - 1] - pcm[s + window - 2];
        sum = sum - (uint64_t)(out * out) + (uint64_t)(in * in);
        if (sum < best) {
            best = sum;
            at = s;
        }
    }
    return at;
}
