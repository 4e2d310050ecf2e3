/* PCM helpers: a 44-byte WAV header for s16le or mu-law audio (upload of
 * microphone audio to a transcription API, which does not take raw PCM), the
 * G.711 mu-law codec, an RMS level
 * meter, and an incremental RIFF/WAVE header parser for TTS "wav" output.
 * Pure: no I/O, no heap. deps: none. */
#ifndef AUDIO_H
#define AUDIO_H
#include "parse/base.h"

/* A header longer than this (huge LIST/INFO chunks before "data") is refused,
 * so the caller's buffer bound is known. */
#define AUDIO_WAV_MAX_HEADER 4096u
/* data_len value meaning "unknown, streamed until EOF" (RIFF writers that
 * stream put 0xFFFFFFFF or 0 in the size fields; both map to this). */
#define AUDIO_WAV_STREAMING 0xFFFFFFFFu

struct audio_wav {
    uint32_t sample_rate;
    uint16_t channels;
    uint16_t bits;     /* always 16 when accepted */
    uint32_t data_len; /* data chunk payload bytes, or AUDIO_WAV_STREAMING */
};

/* Canonical 44-byte RIFF/WAVE header (PCM, 16-bit little-endian): "RIFF",
 * 36 + data_bytes, "WAVE", "fmt " chunk of 16, "data", data_bytes. Size
 * fields that would overflow 32 bits saturate at 0xFFFFFFFF (the streaming
 * convention). */
void audio_wav_header(uint8_t out[44], uint32_t sample_rate, uint16_t channels,
                      uint32_t data_bytes);
/* The same for 8-bit G.711 mu-law samples (WAVE_FORMAT_MULAW, 7): how held
 * speech is uploaded when SEGMENT_AUDIO_FORMAT is mulaw. */
void audio_wav_header_ulaw(uint8_t out[44], uint32_t sample_rate, uint16_t channels,
                           uint32_t data_bytes);

/* G.711 mu-law: one byte per sample, about 38 dB SNR over the speech range
 * (telephone quality, which speech-to-text reads as well as 16-bit). */
uint8_t audio_ulaw_encode(int16_t sample);
int16_t audio_ulaw_decode(uint8_t byte);

/* min(sqrt(mean(s[i]^2)) / 32768, 1.0); 0 for n == 0. Exact integer sum of
 * squares; the square root is computed without libm, within one ulp.
 * s may be NULL if n is 0. */
/* The container of an uploaded recording, told from its first bytes (a
 * transcription API needs the file named for it, and clients mislabel):
 * RIFF/WAVE, WebM/Matroska (EBML), Ogg, or MP3 (ID3 tag or frame sync).
 * Returns the file extension and sets *ctype to the media type, or NULL. */
const char *audio_container(const uint8_t *p, size_t n, const char **ctype);

double audio_rms_amplitude(const int16_t *s, size_t n);
/* The same from an exact sum of squares over n samples (a parser's one pass). */
double audio_rms_from_sumsq(uint64_t sumsq, size_t n);

/* Parse a RIFF/WAVE header at p[0..n), skipping unknown chunks (odd sizes
 * padded) until the "data" chunk.
 *   > 0  offset of the first byte of the data payload (header length); *w
 *        filled (only then);
 *     0  valid so far, need more bytes;
 *    -1  not a WAVE file, no "fmt " before "data", not PCM 16-bit
 *        (format 1, or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format),
 *        channels outside 1..8, sample rate outside 1000..384000, block align
 *        != channels * 2, or header longer than AUDIO_WAV_MAX_HEADER.
 * w may be NULL. */
int audio_wav_parse(const uint8_t *p, size_t n, struct audio_wav *w);
#endif
