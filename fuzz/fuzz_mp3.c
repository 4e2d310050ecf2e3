// deps: src/parse/mp3.c
/* libFuzzer harness for the MP3 frame scanner. Invariants:
 *   - mp3_complete never exceeds n; frames * MP3_MIN_FRAME_LEN <= result;
 *     the result is exactly the ID3 tag plus the lengths of the frames that
 *     a re-walk with mp3_frame_at finds, and the prefix it names is itself
 *     complete (idempotent); max_gain is the largest frame gain;
 *   - mp3_frame_at is consistent across prefixes: once it answers 1 or -1
 *     for a prefix, every longer prefix gives the same answer (and the same
 *     frame); frame fields are within the Layer III tables;
 *   - mp3_skip_id3 returns 0 or >= 10, with *need only 0 or 10;
 *   - mp3_gain_amplitude is in [0, 1] and monotonic.
 * Input is copied to an exact-size heap buffer so ASan sees any over-read. */
#include "parse/mp3.h"

#include <stdlib.h>
#include <string.h>

static void fz_check_frame(const uint8_t *p, size_t n)
{
    struct mp3_frame f, g;
    int last = 0;
    size_t lim = n < MP3_MAX_HEADER_LEN + 2 ? n : MP3_MAX_HEADER_LEN + 2;
    for (size_t k = 0; k <= lim; k++) {
        uint8_t *c = malloc(k ? k : 1);
        if (!c)
            abort();
        memcpy(c, p, k);
        int rc = mp3_frame_at(c, k, &g);
        free(c);
        if (rc < -1 || rc > 1 || (last != 0 && rc != last))
            abort();
        if (rc == 1) {
            if (g.len < MP3_MIN_FRAME_LEN || g.len > MP3_MAX_FRAME_LEN ||
                (g.samples != 576 && g.samples != 1152) || (g.channels != 1 && g.channels != 2) ||
                g.sample_rate < 8000 || g.sample_rate > 48000)
                abort();
            if (last == 1 && memcmp(&f, &g, sizeof f) != 0)
                abort();
            f = g;
        }
        if (k > MP3_MAX_HEADER_LEN && rc == 0)
            abort();
        last = rc;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    if (!p)
        abort();
    memcpy(p, data, size);

    uint32_t frames = 0, gain = 0;
    size_t r = mp3_complete(p, size, &frames, &gain);
    if (r > size || (uint64_t)frames * MP3_MIN_FRAME_LEN > r || gain > 255)
        abort();
    uint32_t frames2 = 0, gain2 = 0;
    if (mp3_complete(p, r, &frames2, &gain2) != r || frames2 != frames || gain2 != gain)
        abort();
    if (mp3_complete(p, size, NULL, NULL) != r)
        abort();

    /* re-walk */
    size_t need = 99;
    size_t id3 = mp3_skip_id3(p, size, &need);
    if ((need != 0 && need != 10) || (id3 != 0 && id3 < 10) || (need != 0 && id3 != 0))
        abort();
    size_t off = id3 <= size && need == 0 ? id3 : 0;
    if (off > size || (r > 0 && r < off))
        abort();
    uint32_t count = 0, gmax = 0;
    struct mp3_frame f;
    if (need == 0 && id3 <= size) {
        while (off < size && mp3_frame_at(p + off, size - off, &f) == 1 && f.len <= size - off) {
            off += f.len;
            count++;
            if (f.gain > gmax)
                gmax = f.gain;
        }
        if (off != r || count != frames || gmax != gain)
            abort();
    } else if (r != 0 || frames != 0) {
        abort();
    }
    if (r < size && r > 0 && frames > 0 && mp3_complete(p, r - 1, NULL, NULL) >= r)
        abort();

    fz_check_frame(p, size);
    if (size > 0) {
        double a = mp3_gain_amplitude(p[0]);
        if (!(a >= 0.0 && a <= 1.0))
            abort();
        if (p[0] < 255 && mp3_gain_amplitude((uint8_t)(p[0] + 1)) < a)
            abort();
    }
    free(p);
    return 0;
}
