// deps: src/pipeline/session.c
// libs: cjson
/* libFuzzer harness for the saved-interview codec (a blob may come back from
 * Redis, which other processes can write): session_decode on arbitrary
 * bytes either refuses (NULL, record zeroed) or yields a record within the
 * bounds (<= SESSION_HIST_MAX messages, roles user/assistant, texts <=
 * SESSION_TEXT_MAX, detection within its ranges), and encoding that record
 * and decoding it again gives the same record. Input is copied to an
 * exact-size heap buffer so ASan sees any over-read. */
#include "pipeline/session.h"

#include <stdlib.h>
#include <string.h>

static int same_text(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static void check_bounds(const struct session_rec *r)
{
    if (r->nhist > SESSION_HIST_MAX)
        abort();
    for (uint32_t i = 0; i < r->nhist; i++) {
        const struct session_msg *m = &r->hist[i];
        if ((strcmp(m->role, "user") != 0 && strcmp(m->role, "assistant") != 0) ||
            strlen(m->content) > SESSION_TEXT_MAX || strlen(m->ts) > SESSION_TEXT_MAX)
            abort();
    }
    if (r->unanswered && strlen(r->unanswered) > SESSION_TEXT_MAX)
        abort();
    if (r->has_det && (!(r->det.threshold >= 0 && r->det.threshold <= 1) ||
                       r->det.prefix_padding_ms > TURN_PAD_MAX_MS || r->det.silence_ms < TURN_SILENCE_MIN_MS ||
                       r->det.silence_ms > TURN_SILENCE_MAX_MS))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    static struct session_rec r, back;
    void *tree = session_decode(buf, size, &r);
    if (!tree) {
        if (r.nhist || r.unanswered || r.turns)
            abort();
        free(buf);
        return 0;
    }
    check_bounds(&r);
    size_t n = 0;
    char *blob = session_encode(&r, &n);
    if (blob) {
        void *t2 = session_decode(blob, n, &back);
        if (!t2 || back.turns != r.turns || back.v000 != r.v000 || back.has_det != r.has_det ||
            back.nhist != r.nhist || !same_text(back.unanswered, r.unanswered))
            abort();
        if (r.has_det && memcmp(&back.det, &r.det, sizeof r.det) != 0 &&
            !(back.det.server_vad == r.det.server_vad && back.det.threshold == r.det.threshold &&
              back.det.prefix_padding_ms == r.det.prefix_padding_ms && back.det.silence_ms == r.det.silence_ms &&
              back.det.interrupt_response == r.det.interrupt_response && back.det.incremental == r.det.incremental))
            abort();
        for (uint32_t i = 0; i < r.nhist; i++)
            if (strcmp(back.hist[i].role, r.hist[i].role) != 0 ||
                strcmp(back.hist[i].content, r.hist[i].content) != 0 || strcmp(back.hist[i].ts, r.hist[i].ts) != 0)
                abort();
        session_decoded_free(t2);
        free(blob);
    }
    session_decoded_free(tree);
    free(buf);
    return 0;
}
