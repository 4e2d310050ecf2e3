/* deps: cJSON */
#include "pipeline/session.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_VERSION 1           /* the blob's "v": a blob of another version is not restored */
#define SESSION_BUCKETS_MAX (1u << 20) /* hash buckets: one per entry up to a million */
#define SESSION_ENTRY_OVERHEAD 128  /* bytes an entry costs beyond its blob, counted against the cap */

/* ---- the codec ---------------------------------------------------------- */

static bool session_add_det(cJSON *o, const struct turn_detection *d)
{
    cJSON *t = cJSON_AddObjectToObject(o, "det");
    return t && cJSON_AddBoolToObject(t, "vad", d->server_vad) && cJSON_AddNumberToObject(t, "thr", d->threshold) &&
           cJSON_AddNumberToObject(t, "pad", d->prefix_padding_ms) &&
           cJSON_AddNumberToObject(t, "sil", d->silence_ms) &&
           cJSON_AddBoolToObject(t, "int", d->interrupt_response) &&
           cJSON_AddBoolToObject(t, "inc", d->incremental);
}

static bool session_add_hist(cJSON *o, const struct session_rec *r)
{
    cJSON *h = cJSON_AddArrayToObject(o, "h");
    if (!h)
        return false;
    for (uint32_t i = 0; i < r->nhist && i < SESSION_HIST_MAX; i++) {
        const struct session_msg *m = &r->hist[i];
        cJSON *e = cJSON_CreateArray();
        if (!e)
            return false;
        cJSON_AddItemToArray(h, e);
        cJSON_AddItemToArray(e, cJSON_CreateString(m->role));
        cJSON_AddItemToArray(e, cJSON_CreateString(m->content));
        cJSON_AddItemToArray(e, cJSON_CreateString(m->ts ? m->ts : ""));
        if (cJSON_GetArraySize(e) != 3)
            return false;
    }
    return true;
}

char *session_encode(const struct session_rec *r, size_t *n)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddNumberToObject(o, "v", SESSION_VERSION) && cJSON_AddNumberToObject(o, "turns", r->turns) &&
              cJSON_AddBoolToObject(o, "v000", r->v000) && (!r->has_det || session_add_det(o, &r->det)) &&
              (!r->unanswered || cJSON_AddStringToObject(o, "pending", r->unanswered)) && session_add_hist(o, r);
    char *out = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (out)
        *n = strlen(out);
    return out;
}

static bool session_num(const cJSON *o, const char *k, double lo, double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return false;
    *out = v->valuedouble;
    return true;
}

static bool session_bool(const cJSON *o, const char *k, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsBool(v))
        return false;
    *out = cJSON_IsTrue(v);
    return true;
}

static bool session_text(const cJSON *v, const char **out)
{
    if (!cJSON_IsString(v) || strlen(v->valuestring) > SESSION_TEXT_MAX)
        return false;
    *out = v->valuestring;
    return true;
}

static bool session_get_det(const cJSON *t, struct turn_detection *d)
{
    double thr, pad, sil;
    if (!cJSON_IsObject(t) || !session_bool(t, "vad", &d->server_vad) || !session_num(t, "thr", 0, 1, &thr) ||
        !session_num(t, "pad", 0, TURN_PAD_MAX_MS, &pad) ||
        !session_num(t, "sil", TURN_SILENCE_MIN_MS, TURN_SILENCE_MAX_MS, &sil) ||
        !session_bool(t, "int", &d->interrupt_response) || !session_bool(t, "inc", &d->incremental))
        return false;
    d->threshold = thr;
    d->prefix_padding_ms = (uint32_t)pad;
    d->silence_ms = (uint32_t)sil;
    return true;
}

static bool session_get_hist(const cJSON *h, struct session_rec *r)
{
    if (!cJSON_IsArray(h) || cJSON_GetArraySize(h) > SESSION_HIST_MAX)
        return false;
    for (const cJSON *e = h->child; e; e = e->next) {
        struct session_msg *m = &r->hist[r->nhist++];
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 3 || !session_text(e->child, &m->role) ||
            !session_text(e->child->next, &m->content) || !session_text(e->child->next->next, &m->ts))
            return false;
        if (strcmp(m->role, "user") != 0 && strcmp(m->role, "assistant") != 0)
            return false;
    }
    return true;
}

void *session_decode(const char *blob, size_t n, struct session_rec *r)
{
    memset(r, 0, sizeof *r);
    cJSON *o = cJSON_ParseWithLength(blob, n);
    double v, turns;
    const cJSON *det = cJSON_GetObjectItemCaseSensitive(o, "det");
    const cJSON *pend = cJSON_GetObjectItemCaseSensitive(o, "pending");
    bool ok = cJSON_IsObject(o) && session_num(o, "v", SESSION_VERSION, SESSION_VERSION, &v) &&
              session_num(o, "turns", 0, UINT32_MAX, &turns) && session_bool(o, "v000", &r->v000) &&
              (!det || session_get_det(det, &r->det)) && (!pend || session_text(pend, &r->unanswered)) &&
              session_get_hist(cJSON_GetObjectItemCaseSensitive(o, "h"), r);
    if (!ok) {
        cJSON_Delete(o);
        memset(r, 0, sizeof *r);
        return NULL;
    }
    r->turns = (uint32_t)turns;
    r->has_det = det != NULL;
    return o;
}

void session_decoded_free(void *tree) { cJSON_Delete(tree); }

/* ---- the local store ---------------------------------------------------- */

struct session_entry {
    struct session_entry *hnext;      /* bucket chain */
    struct session_entry *older, *newer; /* save order */
    uint64_t expires_ms;
    uint32_t hash;
    size_t len;
    char id[ROUTE_ID_MAX + 1];
    char blob[]; /* len bytes + NUL */
};

static struct {
    struct session_config cfg;
    struct session_entry **buckets;
    uint32_t nbuckets; /* a power of two */
    struct session_entry *oldest, *newest;
    struct session_remote remote;
    bool have_remote;
    void (*taken)(const char *id);
    struct session_stats st;
} sess_g;

static uint32_t session_hash(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a: ids are short and not chosen against us (a miss costs a chain walk) */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static size_t session_cost(size_t len) { return len + SESSION_ENTRY_OVERHEAD; }

int session_init(const struct session_config *cfg)
{
    session_free();
    sess_g.cfg = *cfg;
    uint32_t nb = 16;
    while (nb < cfg->max_entries && nb < SESSION_BUCKETS_MAX)
        nb <<= 1;
    sess_g.buckets = calloc(nb, sizeof *sess_g.buckets);
    if (!sess_g.buckets)
        return -1;
    sess_g.nbuckets = nb;
    return 0;
}

void session_set_remote(const struct session_remote *r)
{
    sess_g.have_remote = r != NULL;
    if (r)
        sess_g.remote = *r;
}

static struct session_entry **session_slot(const char *id, uint32_t h)
{
    struct session_entry **pp = &sess_g.buckets[h & (sess_g.nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->id, id) != 0))
        pp = &(*pp)->hnext;
    return pp;
}

/* Out of the chain, the order and the counts, not freed. */
static struct session_entry *session_detach(struct session_entry **slot)
{
    struct session_entry *e = *slot;
    *slot = e->hnext;
    if (e->older)
        e->older->newer = e->newer;
    else
        sess_g.oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        sess_g.newest = e->older;
    sess_g.st.entries--;
    sess_g.st.bytes -= session_cost(e->len);
    return e;
}

static void session_unlink(struct session_entry **slot) { free(session_detach(slot)); }

static void session_drop_oldest(void)
{
    struct session_entry *e = sess_g.oldest;
    struct session_entry **pp = &sess_g.buckets[e->hash & (sess_g.nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp) /* always: every entry in the order is in its chain */
        session_unlink(pp);
}

void session_free(void)
{
    while (sess_g.oldest)
        session_drop_oldest();
    free(sess_g.buckets);
    sess_g.buckets = NULL;
    sess_g.nbuckets = 0;
}

void session_expire(uint64_t now_ms)
{
    while (sess_g.oldest && sess_g.oldest->expires_ms <= now_ms) {
        session_drop_oldest();
        sess_g.st.expired++;
    }
}

static bool session_put_local(const char *id, const char *blob, size_t n, uint64_t now_ms)
{
    uint32_t h = session_hash(id);
    struct session_entry **slot = session_slot(id, h);
    if (*slot)
        session_unlink(slot);
    if (!sess_g.buckets || sess_g.cfg.max_entries == 0 || session_cost(n) > sess_g.cfg.max_bytes ||
        strlen(id) > ROUTE_ID_MAX) {
        sess_g.st.too_big++;
        return false;
    }
    session_expire(now_ms);
    while (sess_g.oldest &&
           (sess_g.st.entries >= sess_g.cfg.max_entries || sess_g.st.bytes + session_cost(n) > sess_g.cfg.max_bytes)) {
        session_drop_oldest();
        sess_g.st.evicted++;
    }
    struct session_entry *e = malloc(sizeof *e + n + 1);
    if (!e)
        return false;
    *e = (struct session_entry){.expires_ms = now_ms + sess_g.cfg.ttl_ms, .hash = h, .len = n,
                                .older = sess_g.newest};
    strcpy(e->id, id);
    memcpy(e->blob, blob, n);
    e->blob[n] = '\0';
    if (sess_g.newest)
        sess_g.newest->newer = e;
    else
        sess_g.oldest = e;
    sess_g.newest = e;
    slot = session_slot(id, h); /* the chain may have changed with evictions */
    e->hnext = NULL;
    *slot = e;
    sess_g.st.entries++;
    sess_g.st.bytes += session_cost(n);
    return true;
}

bool session_put(const char *id, const char *blob, size_t n, uint64_t now_ms)
{
    bool ok = session_put_local(id, blob, n, now_ms);
    if (ok)
        sess_g.st.saved++;
    if (sess_g.have_remote)
        sess_g.remote.put(sess_g.remote.ctx, id, blob, n, sess_g.cfg.ttl_ms);
    return ok;
}

void session_take(const char *id, session_got_fn cb, void *arg, uint64_t now_ms)
{
    session_expire(now_ms);
    struct session_entry **slot = sess_g.buckets ? session_slot(id, session_hash(id)) : NULL;
    if (slot && *slot) {
        struct session_entry *e = session_detach(slot);
        sess_g.st.taken++;
        /* The remote copy goes too, and a live connection of id on another
         * instance is told: nobody else may resume this interview. */
        if (sess_g.have_remote)
            sess_g.remote.claim(sess_g.remote.ctx, id);
        cb(arg, e->blob, e->len);
        free(e);
        return;
    }
    if (sess_g.have_remote) {
        sess_g.remote.take(sess_g.remote.ctx, id, cb, arg);
        return;
    }
    sess_g.st.missed++;
    cb(arg, NULL, 0);
}

void session_take_cancel(void *arg)
{
    if (sess_g.have_remote && sess_g.remote.cancel)
        sess_g.remote.cancel(sess_g.remote.ctx, arg);
}

void session_del(const char *id)
{
    struct session_entry **slot = sess_g.buckets ? session_slot(id, session_hash(id)) : NULL;
    if (slot && *slot)
        session_unlink(slot);
    if (sess_g.have_remote)
        sess_g.remote.del(sess_g.remote.ctx, id);
}

void session_stats(struct session_stats *out) { *out = sess_g.st; }

void session_release(const char *id)
{
    if (sess_g.have_remote && sess_g.remote.release)
        sess_g.remote.release(sess_g.remote.ctx, id);
}

void session_on_taken(void (*fn)(const char *id)) { sess_g.taken = fn; }

void session_resync(uint64_t now_ms)
{
    session_expire(now_ms);
    if (!sess_g.have_remote)
        return;
    for (const struct session_entry *e = sess_g.oldest; e; e = e->newer)
        sess_g.remote.put(sess_g.remote.ctx, e->id, e->blob, e->len, e->expires_ms - now_ms);
}

void session_remote_taken(const char *id)
{
    if (sess_g.taken)
        sess_g.taken(id); /* a live connection here is saved (to the remote too) and closed */
    struct session_entry **slot = sess_g.buckets ? session_slot(id, session_hash(id)) : NULL;
    if (slot && *slot)
        session_unlink(slot); /* stale from now on */
}

#undef SESSION_VERSION
#undef SESSION_BUCKETS_MAX
#undef SESSION_ENTRY_OVERHEAD
