/* MPEG audio frame scanner for Layer III (MPEG-1, MPEG-2 and MPEG-2.5), so a
 * TTS byte stream can be cut on frame boundaries: a browser's decoder copes
 * with a stream that starts on a frame header, not with half a frame.
 * Pure: no I/O, no heap. deps: none.
 *
 * Only Layer III is accepted (TTS services emit nothing else); Layer I/II,
 * the reserved version (01), free-format (bitrate index 0), bitrate index 15,
 * sample-rate index 3 and emphasis 10 (reserved) are refused, because each
 * extra accepted value makes a false sync on junk more likely.
 * Frame length: MPEG-1 144*bitrate/rate + padding; MPEG-2/2.5 72*bitrate/rate
 * + padding (128 kbps 44.1 kHz -> 417 or 418 bytes; 64 kbps 24 kHz -> 192). */
#ifndef MP3_H
#define MP3_H
#include "parse/base.h"

/* Smallest possible Layer III frame: MPEG-2, 8 kbps, 24 kHz, no padding.
 * Every frame holds at least this many bytes, header and side info included. */
#define MP3_MIN_FRAME_LEN 24u
/* Largest: MPEG-1, 320 kbps, 32 kHz, padded (1441). */
#define MP3_MAX_FRAME_LEN 1441u
/* Bytes mp3_frame_at needs to decide: header + CRC + MPEG-1 stereo side info. */
#define MP3_MAX_HEADER_LEN 38u

struct mp3_frame {
    uint32_t len;         /* whole frame in bytes, header included */
    uint32_t sample_rate; /* Hz */
    uint16_t samples;     /* per channel: 1152 (MPEG-1) or 576 (MPEG-2/2.5) */
    uint8_t channels;     /* 1 (mode 11) or 2 */
    uint8_t gain;         /* max global_gain of the frame's granules and
                             channels, read from the side info, 0..255 */
};

/* Is there a Layer III frame header at p[0..n)?
 *   1  yes: *f filled. Header, optional CRC and side info are inside p[0..n);
 *      the frame itself may extend past n (f->len tells how far).
 *   0  the n bytes are a valid start of a header but too few to decide
 *      (at most MP3_MAX_HEADER_LEN are ever needed).
 *  -1  not a frame header here.
 * f may be NULL. p may be NULL if n is 0. */
int mp3_frame_at(const uint8_t *p, size_t n, struct mp3_frame *f);

/* ID3v2 tag at p ("ID3", version byte < 0xFF, 4 syncsafe size bytes < 0x80;
 * the footer flag of v2.4 adds 10 bytes).
 * Returns the whole tag length (10-byte header + size [+ footer]) as soon as
 * the 10-byte header is present; it may be larger than n (the caller skips
 * across reads). Returns 0 when there is no tag; then *need is 10 if p[0..n)
 * is a proper prefix of what could still be a tag header (more bytes needed
 * to know), 0 otherwise. need may be NULL. */
size_t mp3_skip_id3(const uint8_t *p, size_t n, size_t *need);

/* Length of the longest prefix of p[0..n) made of an optional ID3v2 tag
 * (only at offset 0, counted in the result if wholly inside p) followed by
 * whole Layer III frames. Scanning stops at the first byte that does not
 * start a frame (no resynchronisation over junk) or at a frame extending past
 * n. *frames (may be NULL) receives the number of frames in the prefix,
 * *max_gain (may be NULL) the largest mp3_frame.gain among them (0 if none).
 * An ID3 tag that is not complete yet gives 0. */
size_t mp3_complete(const uint8_t *p, size_t n, uint32_t *frames, uint32_t *max_gain);

/* Loudness proxy in [0, 1] from a frame's global_gain. Layer III scales the
 * decoded samples by 2^((gain - 210) / 4), which spans ~165 dB: far too steep
 * for a level meter. We use the fourth root of that, renormalised so that
 * gain <= 100 gives exactly 0 and gain >= 210 exactly 1.0:
 *     r(g) = 2^((g - 210) / 16)
 *     amplitude(g) = (r(g) - r(100)) / (1 - r(100))   for 100 < g < 210
 * Strictly increasing on 100..210, deterministic (table-driven, no libm):
 * g = 150 -> ~0.07, 180 -> ~0.27, 200 -> ~0.65. */
double mp3_gain_amplitude(uint8_t gain);
#endif
