/* The playing time of a recorded answer from its container, for a
 * transcript that came without one (gpt-4o-transcribe's json has no
 * duration, a self-hosted server may send none): RIFF/WAVE from the header
 * (data bytes / byte rate), WebM/Matroska from the Info Duration or, as
 * MediaRecorder writes none (and unknown-size Segment and Clusters), the
 * last block's timecode, Ogg (Opus, Vorbis) from the last page's granule
 * position. Whole buffer in, no I/O, no allocation. deps: none. */
#ifndef MEDIA_DUR_H
#define MEDIA_DUR_H
#include "parse/base.h"

enum media_dur_result {
    MEDIA_DUR_OK = 1,
    MEDIA_DUR_NONE = 0,     /* a known container without a usable time (truncated, empty, odd codec) */
    MEDIA_DUR_UNKNOWN = -1, /* not a container we read */
};

enum media_dur_source { MEDIA_DUR_WAV = 1, MEDIA_DUR_WEBM_DURATION, MEDIA_DUR_WEBM_BLOCKS, MEDIA_DUR_OGG };

/* Elements/pages walked before giving up on a crafted file: bounds the work
 * per byte (a Matroska element is at least 2 bytes, so a 1 MiB answer has
 * fewer than this). */
#define MEDIA_DUR_MAX_STEPS (1u << 20)

/* Duration of p[0..n) in milliseconds (*ms) and how it was found (*src). */
int media_dur(const uint8_t *p, size_t n, uint64_t *ms, enum media_dur_source *src);

/* "wav", "webm-duration", "webm-blocks", "ogg": for logs and the analysis. */
const char *media_dur_source_name(enum media_dur_source s);
#endif
