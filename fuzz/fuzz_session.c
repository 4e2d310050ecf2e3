// deps: src/pipeline/session.c
// libs: cjson
/* libFuzzer harness for the saved-interview codec (a blob may come back from
 * Redis, which other processes can write): session_decode on arbitrary
 * bytes either refuses (NULL, record zeroed) or yields a record within the
 * bounds (<= SESSION_HIST_MAX messages, roles user/assistant, texts <=
 * SESSION_TEXT_MAX, detection within its ranges), and encoding that record
 * and decoding it again gives the same record. Input is copied to an
 * exact-size heap buffer so ASan sees any over-read.
 *
 * An input starting with byte 0x01 drives the store instead: caps and TTL
 * from the next bytes, then operations (put, take, delete, expire, resync,
 * taken elsewhere) on eight ids with time moving forward, with or without a
 * remote (a stub that counts and misses). Checked against a model of what
 * was saved: the entries and bytes never exceed their caps; a take returns
 * exactly the blob last saved for that id, never an expired, deleted, taken
 * or other id's one; a blob saved and not expired is found unless an
 * eviction came since; freeing the store brings its counts to zero. */
#include "pipeline/session.h"

#include <stdio.h>
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

/* ---- the store ------------------------------------------------------------ */

#define FZ_IDS 8
#define FZ_BLOB_MAX 600

static struct fz_model {
    bool present;      /* saved and not taken, deleted or replaced by a refused save */
    uint8_t blob[FZ_BLOB_MAX];
    size_t len;
    uint64_t expires;
    uint64_t evicted_at_put; /* stats.evicted when it was saved */
} fz_m[FZ_IDS];
static char fz_got[FZ_BLOB_MAX + 1]; /* the blob is valid only during the callback: copied */
static size_t fz_got_len;
static bool fz_answered, fz_found;
static unsigned fz_remote_calls;

static void fz_got_cb(void *arg, const char *blob, size_t n)
{
    (void)arg;
    if (fz_answered || (blob && (n > FZ_BLOB_MAX || blob[n] != '\0')))
        abort(); /* answered twice, a blob never saved, or not NUL-terminated */
    fz_answered = true;
    fz_found = blob != NULL;
    fz_got_len = blob ? n : 0;
    if (blob)
        memcpy(fz_got, blob, n);
}

static void fz_r_put(void *ctx, const char *id, const char *blob, size_t n, uint64_t ttl_ms)
{
    (void)ctx, (void)id, (void)blob, (void)n, (void)ttl_ms;
    fz_remote_calls++;
}
static void fz_r_take(void *ctx, const char *id, session_got_fn cb, void *arg)
{
    (void)ctx, (void)id;
    fz_remote_calls++;
    cb(arg, NULL, 0); /* the remote misses */
}
static void fz_r_id(void *ctx, const char *id)
{
    (void)ctx, (void)id;
    fz_remote_calls++;
}
static void fz_r_cancel(void *ctx, void *arg)
{
    (void)ctx, (void)arg;
    fz_remote_calls++;
}

static void fz_store(const uint8_t *d, size_t n)
{
    if (n < 5)
        return;
    struct session_config cfg = {.max_entries = d[1] % 9, .max_bytes = 128 + (size_t)d[2] * 24,
                                 .ttl_ms = 1 + (uint64_t)d[3] * 4};
    if (session_init(&cfg) != 0)
        return;
    static const struct session_remote remote = {.put = fz_r_put, .take = fz_r_take, .claim = fz_r_id,
                                                 .cancel = fz_r_cancel, .del = fz_r_id, .release = fz_r_id};
    session_set_remote(d[4] & 1 ? &remote : NULL);
    memset(fz_m, 0, sizeof fz_m);
    uint64_t now = 1000;
    char id[32];
    size_t i = 5;
    while (i + 2 <= n) {
        uint8_t op = d[i], arg = d[i + 1];
        i += 2;
        unsigned k = arg % FZ_IDS;
        snprintf(id, sizeof id, "candidate-id-%04u", k); /* SESSION_ID_MIN and more */
        now += op >> 4;
        struct session_stats st;
        session_stats(&st);
        switch (op % 7) {
        case 0: { /* put: a blob of the next bytes */
            size_t len = arg % FZ_BLOB_MAX;
            if (len > n - i)
                len = n - i;
            bool kept = session_put(id, (const char *)d + i, len, now);
            fz_m[k].present = kept;
            if (kept) {
                memcpy(fz_m[k].blob, d + i, len);
                fz_m[k].len = len;
                fz_m[k].expires = now + cfg.ttl_ms;
                session_stats(&st);
                fz_m[k].evicted_at_put = st.evicted;
            }
            i += len;
            break;
        }
        case 1: /* take */
            fz_answered = false;
            session_take(id, fz_got_cb, NULL, now);
            if (!fz_answered)
                abort(); /* local and the stub remote both answer at once */
            session_stats(&st);
            if (fz_found) {
                if (!fz_m[k].present || now >= fz_m[k].expires || fz_got_len != fz_m[k].len ||
                    memcmp(fz_got, fz_m[k].blob, fz_got_len) != 0)
                    abort();
            } else if (fz_m[k].present && now < fz_m[k].expires && st.evicted == fz_m[k].evicted_at_put) {
                abort(); /* saved, live, nothing evicted since: it must be there */
            }
            fz_m[k].present = false;
            break;
        case 2:
            session_del(id);
            fz_m[k].present = false;
            break;
        case 3:
            now += (uint64_t)arg * 8;
            session_expire(now);
            break;
        case 4:
            session_resync(now);
            break;
        case 5:
            session_remote_taken(id);
            fz_m[k].present = false;
            break;
        default:
            session_release(id);
            break;
        }
        session_stats(&st);
        if (st.entries > cfg.max_entries || st.bytes > cfg.max_bytes)
            abort();
    }
    session_free();
    struct session_stats st;
    session_stats(&st);
    if (st.entries || st.bytes)
        abort();
    session_set_remote(NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size && data[0] == 0x01) {
        fz_store(data, size);
        return 0;
    }
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
