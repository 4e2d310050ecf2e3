/* Voice activity detector for server-side turn detection on 16-bit mono PCM
 * (seed 000-002 microphone audio). Incremental: feed chunks of any size, get
 * the events that happened in them. Pure: no I/O, no heap, no libm, fixed-size
 * state, integer arithmetic per sample and per frame, so the events for a
 * stream do not depend on how it was split into chunks. deps: none.
 *
 * Method: 10 ms frames; each frame's energy is the mean square of the first
 * difference within each pair of samples (p[2k+1] - p[2k]; pairs rather than
 * every sample halve the per-sample work). The difference removes DC and
 * most rumble and brown noise (below 200 Hz) and weighs the 1-4 kHz band of
 * consonants. Its level (log2, 1/256 steps) is compared with an adaptive
 * noise floor: the minimum of the lightly smoothed frame levels over the last
 * 2-2.25 s (speech has gaps within 2 s; a louder noise becomes the floor
 * within 2.25 s). Two thresholds above the floor, from the 0..1 threshold:
 * high (margin) and low (margin / 2, on the mean of two frames), both also
 * above an absolute minimum level. Speech starts after VAD_ONSET_FRAMES
 * frames in a row above high (a click fills at most two frames); its onset
 * is moved back over the low frames just before (at most 150 ms). Inside
 * speech, low frames keep it going: a run of VAD_ONSET_FRAMES of them, or a
 * single one within 50 ms of the last speech frame (a final stop's release),
 * or two in a row within 150 ms (a final fricative after a nasal);
 * isolated noise spikes in a pause stay part of the pause. The caller
 * applies prefix padding, the barge-in minimum and segment length limits.
 *
 * Positions are absolute sample counts since vad_init (uint64). */
#ifndef VAD_H
#define VAD_H
#include "parse/base.h"

/* Blocks of the noise floor's minimum window (see vad.c). */
#define VAD_FLOOR_BLOCKS 8

struct vad_config {
    uint32_t sample_rate; /* Hz; clamped to 8000..48000 (0 means 16000) */
    double threshold;     /* 0..1: higher needs louder speech (NaN/out of range clamped) */
    uint32_t silence_ms;  /* silence after speech that ends it (SPEECH_STOP) */
    uint32_t pause_ms;    /* shorter pause inside speech: segment boundary (PAUSE);
                             0, or >= silence_ms: no PAUSE events */
};

enum vad_kind {
    VAD_SPEECH_START = 1, /* pos = first sample of the speech onset */
    VAD_PAUSE,            /* pos = end of speech before a pause of >= pause_ms */
    VAD_SPEECH_STOP,      /* pos = end of speech; silence_ms of silence followed */
};

struct vad_event {
    enum vad_kind kind;
    uint64_t pos; /* sample position the event refers to (see enum vad_kind) */
    uint64_t at;  /* samples fed when it was decided (end of the deciding frame) */
};

struct vad {
    /* derived from the config by vad_init */
    uint32_t frame;         /* samples per 10 ms frame */
    uint32_t rate;          /* sample rate */
    int32_t margin;         /* level units (1/256 log2 of energy) above the floor */
    int32_t abs_min;        /* minimum speech level, level units */
    uint64_t pause_len;     /* pause_ms in samples, 0 = no PAUSE events */
    uint64_t silence_len;   /* silence_ms in samples */
    /* frame accumulation */
    uint64_t fed;           /* samples fed so far */
    uint64_t acc;           /* sum of squared differences in the current frame */
    uint32_t nacc;          /* samples in the current frame */
    int16_t prev;           /* first sample of a pair split between chunks */
    /* noise floor */
    int32_t smooth;         /* smoothed frame level */
    int32_t block_min;      /* minimum of smooth in the current block */
    uint32_t block_frames;  /* frames in the current block */
    int32_t blocks[VAD_FLOOR_BLOCKS]; /* minima of the previous blocks */
    uint32_t nblocks;       /* valid entries in blocks (ring, up to VAD_FLOOR_BLOCKS) */
    uint32_t block_next;    /* ring index written next */
    /* detector */
    bool speech;            /* between SPEECH_START and SPEECH_STOP */
    bool pause_sent;        /* PAUSE already reported for the current pause */
    uint32_t run;           /* consecutive speech frames up to now */
    uint32_t weak;          /* consecutive frames above the low threshold */
    uint64_t weak_start;    /* first sample of those */
    uint64_t run_start;     /* first sample of that run */
    uint64_t speech_start;  /* onset of the current speech */
    uint64_t speech_end;    /* end of its last confirmed speech frame */
    /* the last frame's level (for the two-frame mean) and floor (diagnostics),
     * level units */
    int32_t last_level, last_floor;
};

void vad_init(struct vad *v, const struct vad_config *cfg);

/* Feeds n samples (pcm may be NULL if n is 0). Writes up to cap events, in
 * order, to out and returns how many happened (like snprintf: a return above
 * cap means events were lost). At most one event happens per frame, so
 * cap >= vad_events_max(v, n) always suffices (7 for 1024 samples at 16 kHz). */
size_t vad_feed(struct vad *v, const int16_t *pcm, size_t n, struct vad_event *out, size_t cap);

/* The most events one vad_feed of n samples can return. */
size_t vad_events_max(const struct vad *v, size_t n);

/* Samples from the current speech's onset to the end of its last speech
 * frame (0 when not in speech): a cough of 150 ms stays at 150 ms even while
 * the silence after it is still being timed. */
uint64_t vad_speech_samples(const struct vad *v);

/* In speech and vad_speech_samples(v) >= ms milliseconds (barge-in minimum). */
bool vad_speech_for(const struct vad *v, uint32_t ms);

/* Start index of the quietest window of `window` samples in pcm[0..n), by the
 * same difference energy the detector uses (the first window of equal energy
 * wins). 0 if n <= window or window is 0. For cutting an over-long segment. */
size_t vad_quietest(const int16_t *pcm, size_t n, size_t window);
#endif
