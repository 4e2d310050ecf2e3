// deps: src/parse/audio.c
/* WAV header parser fuzzer (TTS wav answers go through it). Invariants: a
 * header found is within the input and AUDIO_WAV_MAX_HEADER, describes
 * 16-bit PCM, and is found again at the same length in every longer prefix
 * (incremental: "need more" never turns into a different answer); a header
 * we write ourselves parses back to what we wrote (a mu-law one is refused:
 * not PCM); the RMS amplitude of the input read as samples is within [0, 1]
 * and the same from its sum of squares;
 * mu-law coding is stable and within one step. Exact-size heap copies throughout. */
#include <stdlib.h>
#include <string.h>

#include "parse/audio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    struct audio_wav w;
    int whole = audio_wav_parse(in, size, &w);
    if (whole > 0 && ((size_t)whole > size || whole > (int)AUDIO_WAV_MAX_HEADER || w.bits != 16))
        abort();
    for (size_t k = 0; k < size; k += 1 + k / 8) { /* prefixes: undecided, or the same answer */
        uint8_t *pre = malloc(k ? k : 1);
        memcpy(pre, in, k);
        int r = audio_wav_parse(pre, k, &w);
        free(pre);
        if (r != 0 && r != whole)
            abort();
    }
    const char *ctype = NULL, *ext = audio_container(in, size, &ctype);
    if (ext && (!ctype || strlen(ext) > 4))
        abort();
    uint32_t rate = 8000 + (size >= 2 ? ((uint32_t)data[0] << 8 | data[1]) % 40001 : 8000);
    uint8_t hdr[44];
    audio_wav_header(hdr, rate, 1, (uint32_t)size);
    if (audio_wav_parse(hdr, sizeof hdr, &w) != 44 || w.sample_rate != rate || w.channels != 1)
        abort();
    size_t ns = size / 2;
    int16_t *s = malloc(ns ? ns * sizeof *s : 1);
    memcpy(s, in, ns * sizeof *s);
    double a = audio_rms_amplitude(s, ns);
    if (!(a >= 0.0 && a <= 1.0))
        abort();
    uint64_t sumsq = 0;
    for (size_t i = 0; i < ns; i++)
        sumsq += (uint64_t)((int32_t)s[i] * s[i]);
    double b = audio_rms_from_sumsq(sumsq, ns);
    if (!(b >= a - 1e-9 && b <= a + 1e-9))
        abort();
    for (size_t i = 0; i < ns; i++) { /* mu-law: a decoded value codes to itself, within a step of the input */
        int16_t d = audio_ulaw_decode(audio_ulaw_encode(s[i]));
        int err = abs((int)d - (int)s[i]), mag = abs((int)s[i]);
        if (audio_ulaw_decode(audio_ulaw_encode(d)) != d || (mag > 256 && mag < 32000 && err * 16 > mag))
            abort();
    }
    audio_wav_header_ulaw(hdr, rate, 1, (uint32_t)size);
    if (audio_wav_parse(hdr, sizeof hdr, &w) != -1) /* format 7: never read as PCM */
        abort();
    free(s);
    free(in);
    return 0;
}
