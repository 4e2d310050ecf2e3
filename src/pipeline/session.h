/* Interviews that outlive their connection (README "Resuming an interview"):
 * a /ws/{client_id} interview is saved as a compact JSON blob when its
 * connection goes, and taken back when a connection with the same id comes.
 *
 * - The codec turns a struct session_rec (what the dialect and turn.c keep of
 *   an interview: history, counters, settings) into a blob and back.
 * - The store keeps blobs by id in memory for ttl, bounded by a number of
 *   entries and a number of bytes, the least recently saved going first
 *   (ttl is the same for all, so that is also the soonest to expire).
 * - A remote backend (function pointers: Redis) may be plugged in: saves go
 *   to both, a take asks the local store first and the remote one on a miss.
 *   Without it, or while it fails, the local store alone answers.
 * Time is passed in (now_ms), so the store is tested without a clock.
 * deps: cJSON */
#ifndef SESSION_H
#define SESSION_H
#include "parse/base.h"
#include "parse/route.h"
#include "pipeline/turn.h"

#define SESSION_ID_MIN 16   /* shorter ids are guessable: not resumable */
#define SESSION_HIST_MAX 52 /* HISTORY_MESSAGES (<= 50) + the exchange being built, as turn.c keeps */
#define SESSION_TEXT_MAX 16384 /* one history message or transcript (answer.c's TURN_TEXT_MAX) */

/* One interview as it is saved. Strings are borrowed (from the turn when
 * encoding, from the decoded blob when decoding). */
struct session_rec {
    uint32_t turns;          /* answers the interviewer replied to */
    bool v000;               /* the client speaks seed 000 */
    bool has_det;            /* start_interview set its own turn detection */
    struct turn_detection det;
    const char *unanswered;  /* transcript whose reply never finished, or NULL */
    uint32_t nhist;
    struct session_msg {
        const char *role, *content, *ts;
    } hist[SESSION_HIST_MAX];
};

/* malloc'd NUL-terminated JSON, *n its length; NULL when out of memory. */
char *session_encode(const struct session_rec *r, size_t *n);
/* Parse a blob into *r; returns the parsed tree that r's strings point
 * into (free with session_decoded_free), NULL if the blob is not one of
 * ours (wrong version, bad field, over a bound). */
void *session_decode(const char *blob, size_t n, struct session_rec *r);
void session_decoded_free(void *tree);

/* The answer to a take: blob NULL (n 0) when there is none. The blob is
 * only valid during the call. */
typedef void (*session_got_fn)(void *arg, const char *blob, size_t n);

/* A shared store behind the local one (Redis). Every call is non-blocking;
 * take answers exactly once through cb (possibly before it returns) unless
 * cancel(arg) came first. */
struct session_remote {
    void *ctx;
    void (*put)(void *ctx, const char *id, const char *blob, size_t n, uint64_t ttl_ms);
    void (*take)(void *ctx, const char *id, session_got_fn cb, void *arg); /* get and delete */
    /* the local store had id: tell the others and delete the remote copy */
    void (*claim)(void *ctx, const char *id);
    void (*cancel)(void *ctx, void *arg);
    void (*del)(void *ctx, const char *id);
    /* id's connection went without an interview to save: nobody holds it */
    void (*release)(void *ctx, const char *id);
};

struct session_config {
    uint64_t ttl_ms;      /* SESSION_TTL */
    uint64_t max_entries; /* SESSION_STORE_MAX */
    uint64_t max_bytes;   /* SESSION_STORE_BYTES: blobs and ids together */
};

struct session_stats {
    uint64_t entries, bytes;
    uint64_t saved, taken, missed, evicted, expired, too_big;
};

int session_init(const struct session_config *cfg); /* -1 out of memory */
void session_set_remote(const struct session_remote *r); /* NULL: local only */
void session_free(void);
/* Save (replacing an older blob of the same id). false: not kept locally
 * (larger than the byte cap, or out of memory); the remote still gets it. */
bool session_put(const char *id, const char *blob, size_t n, uint64_t now_ms);
/* Take id's blob (it leaves the store). */
void session_take(const char *id, session_got_fn cb, void *arg, uint64_t now_ms);
void session_take_cancel(void *arg);
void session_del(const char *id);
/* Drop expired entries (a tick). */
void session_expire(uint64_t now_ms);
void session_stats(struct session_stats *out);
/* id's connection went and nothing was saved (tells the remote). */
void session_release(const char *id);

/* Another instance took id (a client reconnected there): fn (the dialect)
 * saves and closes a live connection of id here; the local copy goes (the
 * other instance now holds the newer one). The remote calls
 * session_remote_taken. */
void session_on_taken(void (*fn)(const char *id));
/* The remote is back after an outage: every local entry is put there again
 * with the time it has left (saves made while it was down). */
void session_resync(uint64_t now_ms);
void session_remote_taken(const char *id);
#endif
