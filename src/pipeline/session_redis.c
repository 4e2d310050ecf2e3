/* deps: session.c redis.c */
#include "pipeline/session_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/route.h"
#include "io/clock.h"
#include "io/log.h"
#include "upstream/redis.h"
#include "pipeline/session.h"

#define SR_KEY_MAX (64 + 16 + ROUTE_ID_MAX + 1) /* REDIS_PREFIX + "session:" + id */
#define SR_INSTANCE_MAX 32

/* A take waiting for Redis. */
struct sr_take {
    struct sr_take *next;
    session_got_fn cb;
    void *arg;
    char id[ROUTE_ID_MAX + 1];
    bool foreign_owner; /* owner:<id> named another instance: its save may be on the way */
    uint64_t retry_at;  /* 0 = a GETDEL is in flight */
    uint64_t give_up_at;
};

static struct {
    struct redis *r;
    char instance[SR_INSTANCE_MAX + 1];
    struct sr_take *takes;
    /* owner:<id> lives SESSION_TTL, as the blob: it matters only for a
     * hand-off, and a stale one costs a fresh interview at most
     * SESSION_REDIS_HANDOFF_MS of waiting */
    uint64_t ttl_ms;
} sr_g;

static bool sr_key(char *out, const char *kind, const char *id)
{
    int n = snprintf(out, SR_KEY_MAX, "%s%s%s", redis_prefix(sr_g.r), kind, id);
    return n > 0 && n < SR_KEY_MAX;
}

static void sr_ttl(char *out, size_t cap, uint64_t ttl_ms) { snprintf(out, cap, "%llu", (unsigned long long)ttl_ms); }

static void sr_put(void *ctx, const char *id, const char *blob, size_t n, uint64_t ttl_ms)
{
    char key[SR_KEY_MAX], ttl[24];
    (void)ctx;
    if (!sr_key(key, "session:", id))
        return;
    sr_ttl(ttl, sizeof ttl, ttl_ms);
    const char *argv[] = {"SET", key, blob, "PX", ttl};
    size_t lens[] = {3, strlen(key), n, 2, strlen(ttl)};
    if (redis_command(sr_g.r, 5, argv, lens, NULL, NULL) != 0)
        log_event(LOG_DEBUG, 0, "session_redis_refused", "SET: Redis down or busy; kept locally");
}

static void sr_del_key(const char *kind, const char *id)
{
    char key[SR_KEY_MAX];
    if (!sr_key(key, kind, id))
        return;
    const char *argv[] = {"DEL", key};
    redis_command(sr_g.r, 2, argv, NULL, NULL, NULL); /* refused: the TTL ends it */
}

static void sr_del(void *ctx, const char *id)
{
    (void)ctx;
    sr_del_key("session:", id);
    sr_del_key("owner:", id);
}

static void sr_release(void *ctx, const char *id)
{
    (void)ctx;
    sr_del_key("owner:", id);
}

static void sr_unlink(struct sr_take *t)
{
    for (struct sr_take **pp = &sr_g.takes; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            return;
        }
}

/* Answer the take and forget it; forget: its commands may still be
 * pending (not from inside a reply, which comes after them). */
static void sr_answer(struct sr_take *t, const char *blob, size_t n, bool forget)
{
    sr_unlink(t);
    if (forget)
        redis_forget(sr_g.r, t);
    session_got_fn cb = t->cb;
    void *arg = t->arg;
    free(t);
    cb(arg, blob, n);
}

static void sr_on_getdel(void *ud, int status, const struct resp_value *v)
{
    struct sr_take *t = ud;
    if (status == REDIS_OK && v->type == RESP_BULK) {
        sr_answer(t, v->str, v->len, false);
        return;
    }
    uint64_t now = clock_mono_ms();
    if (status == REDIS_OK && v->type == RESP_NIL && t->foreign_owner && now < t->give_up_at) {
        t->retry_at = now + SESSION_REDIS_RETRY_MS; /* the old owner's save is on its way */
        return;
    }
    if (status != REDIS_OK)
        log_event(LOG_WARN, 0, "session_redis_failed", "GETDEL %s: local store only",
                  status == REDIS_TIMEOUT ? "timed out" : "Redis down");
    sr_answer(t, NULL, 0, false);
}

static bool sr_getdel(struct sr_take *t)
{
    char key[SR_KEY_MAX];
    if (!sr_key(key, "session:", t->id))
        return false;
    const char *argv[] = {"GETDEL", key};
    t->retry_at = 0;
    return redis_command(sr_g.r, 2, argv, NULL, sr_on_getdel, t) == 0;
}

static void sr_on_owner(void *ud, int status, const struct resp_value *v)
{
    struct sr_take *t = ud;
    t->foreign_owner = status == REDIS_OK && v->type == RESP_BULK &&
                       !(v->len == strlen(sr_g.instance) && memcmp(v->str, sr_g.instance, v->len) == 0);
}

/* Announce, claim, fetch: three commands pipelined, answered in order. */
static void sr_take(void *ctx, const char *id, session_got_fn cb, void *arg)
{
    char key[SR_KEY_MAX], ttl[24], msg[SR_INSTANCE_MAX + ROUTE_ID_MAX + 2], ch[SR_KEY_MAX];
    (void)ctx;
    struct sr_take *t = calloc(1, sizeof *t);
    if (!t || !redis_is_up(sr_g.r) || !sr_key(key, "owner:", id) || !sr_key(ch, "sessions:taken", "")) {
        free(t);
        cb(arg, NULL, 0);
        return;
    }
    *t = (struct sr_take){.cb = cb, .arg = arg, .give_up_at = clock_mono_ms() + SESSION_REDIS_HANDOFF_MS,
                          .next = sr_g.takes};
    snprintf(t->id, sizeof t->id, "%s", id);
    sr_g.takes = t;
    snprintf(msg, sizeof msg, "%s %s", sr_g.instance, id);
    const char *pub[] = {"PUBLISH", ch, msg};
    redis_command(sr_g.r, 3, pub, NULL, NULL, NULL);
    sr_ttl(ttl, sizeof ttl, sr_g.ttl_ms);
    const char *own[] = {"SET", key, sr_g.instance, "PX", ttl, "GET"};
    redis_command(sr_g.r, 6, own, NULL, sr_on_owner, t);
    if (!sr_getdel(t))
        sr_answer(t, NULL, 0, true);
}

/* The local store had id: announce it, claim it, and the Redis copy goes. */
static void sr_claim(void *ctx, const char *id)
{
    char key[SR_KEY_MAX], ttl[24], msg[SR_INSTANCE_MAX + ROUTE_ID_MAX + 2], ch[SR_KEY_MAX];
    (void)ctx;
    if (!sr_key(key, "owner:", id) || !sr_key(ch, "sessions:taken", ""))
        return;
    snprintf(msg, sizeof msg, "%s %s", sr_g.instance, id);
    const char *pub[] = {"PUBLISH", ch, msg};
    redis_command(sr_g.r, 3, pub, NULL, NULL, NULL); /* refused: Redis is down, nobody to tell */
    sr_ttl(ttl, sizeof ttl, sr_g.ttl_ms);
    const char *own[] = {"SET", key, sr_g.instance, "PX", ttl};
    redis_command(sr_g.r, 5, own, NULL, NULL, NULL);
    sr_del_key("session:", id);
}

static void sr_cancel(void *ctx, void *arg)
{
    (void)ctx;
    for (struct sr_take *t = sr_g.takes; t; t = t->next)
        if (t->arg == arg) {
            sr_unlink(t);
            redis_forget(sr_g.r, t);
            free(t);
            return;
        }
}

void session_redis_tick(uint64_t now_ms)
{
    struct sr_take *next;
    for (struct sr_take *t = sr_g.takes; t; t = next) {
        next = t->next;
        if (t->retry_at && now_ms >= t->retry_at && !sr_getdel(t))
            sr_answer(t, NULL, 0, true);
    }
}

/* "<instance> <id>" on sessions:taken. */
static void sr_on_taken(void *ud, const char *channel, size_t chlen, const char *msg, size_t len)
{
    char id[ROUTE_ID_MAX + 1];
    size_t il = strlen(sr_g.instance);
    (void)ud, (void)channel, (void)chlen;
    if (len <= il + 1 || len - il - 1 > ROUTE_ID_MAX || msg[il] != ' ')
        return;
    if (memcmp(msg, sr_g.instance, il) == 0)
        return; /* our own take */
    memcpy(id, msg + il + 1, len - il - 1);
    id[len - il - 1] = '\0';
    session_remote_taken(id);
}

/* Redis is back: what was saved here meanwhile goes there (beyond the
 * client's queue of 4096 commands the rest stays local only). */
static void sr_on_state(void *ud, bool up)
{
    (void)ud;
    if (up)
        session_resync(clock_mono_ms());
}

int session_redis_attach(struct redis *r, const char *instance, uint64_t ttl_ms)
{
    char ch[SR_KEY_MAX];
    sr_g.r = r;
    sr_g.ttl_ms = ttl_ms;
    snprintf(sr_g.instance, sizeof sr_g.instance, "%s", instance);
    if (!sr_key(ch, "sessions:taken", "") || redis_subscribe(r, ch, sr_on_taken, NULL) != 0 ||
        redis_on_state(r, sr_on_state, NULL) != 0)
        return -1;
    session_set_remote(&(struct session_remote){.put = sr_put, .take = sr_take, .claim = sr_claim, .cancel = sr_cancel,
                                                .del = sr_del, .release = sr_release});
    return 0;
}

void session_redis_detach(void)
{
    session_set_remote(NULL);
    while (sr_g.takes) {
        struct sr_take *t = sr_g.takes;
        sr_g.takes = t->next;
        redis_forget(sr_g.r, t);
        free(t);
    }
}

#undef SR_KEY_MAX
#undef SR_INSTANCE_MAX
