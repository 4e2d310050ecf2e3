// deps: src/parse/media_dur.c
/* Container duration reader fuzzer (every coach answer without a duration
 * in its transcript goes through it). Invariants: the answer is one of the
 * three results; a duration found is at most a day and has a named source;
 * the same input gives the same answer (no hidden state); an input that is
 * not RIFF/EBML/Ogg is UNKNOWN. Exact-size heap copy, so a read past the
 * end is caught. */
#include <stdlib.h>
#include <string.h>

#include "parse/media_dur.h"

/* The contract edges: no buffer is "unknown"; no source (0) is "none". */
static void fz_edges(void)
{
    uint64_t ms;
    enum media_dur_source src;
    if (media_dur(NULL, 0, &ms, &src) != MEDIA_DUR_UNKNOWN ||
        strcmp(media_dur_source_name((enum media_dur_source)0), "none") != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_edges();
    uint8_t *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    uint64_t ms = 0, ms2 = 0;
    enum media_dur_source src = 0, src2 = 0;
    int r = media_dur(in, size, &ms, &src);
    if (r != MEDIA_DUR_OK && r != MEDIA_DUR_NONE && r != MEDIA_DUR_UNKNOWN)
        abort();
    if (r == MEDIA_DUR_OK && (ms > 24ull * 3600 * 1000 || strcmp(media_dur_source_name(src), "none") == 0))
        abort();
    if (media_dur(in, size, &ms2, &src2) != r || (r == MEDIA_DUR_OK && (ms2 != ms || src2 != src)))
        abort();
    bool known = size >= 4 && (memcmp(in, "RIFF", 4) == 0 || memcmp(in, "OggS", 4) == 0 ||
                               memcmp(in, "\x1A\x45\xDF\xA3", 4) == 0);
    if (!known && r != MEDIA_DUR_UNKNOWN)
        abort();
    free(in);
    return 0;
}
