/* deps: sio_packet.c jsonv.c route.c b64.c rand.c, cJSON */
#include "dialect/sio.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/rand.h"
#include "parse/b64.h"
#include "parse/jsonv.h"
#include "io/log.h"
#include "io/metrics.h"
#include "parse/route.h"
#include "io/server.h"
#include "parse/sio_packet.h"

#define SIO_ID_LEN 20 /* base64url of 15 random bytes */
/* A socket saved to Redis: below the Redis client's 1 MiB read and write
 * buffers (REDIS_RBUF_CAP, REDIS_WBUF_CAP) with room for the command; the
 * oldest replay events are left out to fit (a client that missed them is
 * then not recovered, as when SIO_REPLAY_BYTES drops them locally). */
#define SIO_SAVE_MAX (768u * 1024u)
#define SIO_SAVE_VERSION 1
#define SIO_CLAIM_CHANNEL "sio:claim"

/* One event kept for (re)sending: the Engine.IO text and its attachment. */
struct sio_out {
    struct sio_out *next;
    uint64_t offset;
    char *text;
    size_t text_len;
    uint8_t *att;
    size_t att_len;
};

struct sio_conn;

/* A Socket.IO socket in "/": outlives its connection for recovery. */
struct sio_sock {
    struct sio_sock *next;
    struct server *srv;
    char id[SIO_ID_LEN + 1], pid[SIO_ID_LEN + 1];
    struct sio_conn *sc; /* NULL while detached */
    uint64_t detached_ms;
    uint64_t next_offset, dropped_upto;
    struct sio_out *head, *tail, *cursor; /* cursor: first not yet sent on sc */
    size_t count, bytes;
    void *app; /* the coach of this socket (sio_cfg.app) */
    uint32_t ticket; /* its count on the client's address (conn_take_session) */
    bool dirty; /* changed while dropped: saved to Redis again at the next tick */
};

/* One Engine.IO connection (conn->app). */
struct sio_conn {
    struct sio_conn *prev, *next; /* sio_g.conns: ours to tick */
    struct server *srv;
    struct conn *conn;
    char sid[SIO_ID_LEN + 1];
    uint64_t opened_ms, next_ping_ms, ping_sent_ms;
    bool ping_out;
    struct sio_rx rx;
    cJSON *pending; /* a BINARY_EVENT waiting for its attachments */
    uint8_t *att[SIO_MAX_ATTACH];
    size_t att_len[SIO_MAX_ATTACH];
    struct sio_sock *sock;
    /* a recovery CONNECT waiting for the socket from Redis (sio_fetched) */
    bool recovering;
    char want_pid[SIO_ID_LEN + 1];
    uint64_t want_offset;
    char refused[200]; /* a rate-limited packet whose attachments are being dropped */
};

static struct sio_config sio_cfg; /* sio_setup */
static const struct shared_bus *sio_bus; /* sio_set_bus; NULL: local only */

static struct {
    struct sio_conn *conns; /* open Engine.IO connections */
    struct sio_sock *socks;
    uint32_t nsocks;
} sio_g;

uint32_t sio_sockets(void) { return sio_g.nsocks; }

/* Session ids and pids are bearer secrets (a pid recovers a session), so
 * they come from the process's CTR-DRBG (io/rand.c), seeded from the OS. */
static bool sio_random_id(char out[SIO_ID_LEN + 1])
{
    uint8_t raw[15];
    return rand_bytes(raw, sizeof raw) == 0 &&
           b64url_encode(raw, sizeof raw, out, SIO_ID_LEN + 1) == SIO_ID_LEN;
}

const char *sio_handshake_error(const char *query, size_t n)
{
    char eio[8], transport[16], sid[8];
    if (route_query_get(query, n, "EIO", eio, sizeof eio) < 0 || strcmp(eio, "4") != 0)
        return "{\"code\":5,\"message\":\"Unsupported protocol version\"}";
    if (route_query_get(query, n, "transport", transport, sizeof transport) < 0 ||
        strcmp(transport, "websocket") != 0)
        return "{\"code\":0,\"message\":\"Transport unknown\"}";
    if (route_query_get(query, n, "sid", sid, sizeof sid) != -1) /* an upgrade from polling */
        return "{\"code\":1,\"message\":\"Session ID unknown\"}";
    return NULL;
}

/* ---- output ------------------------------------------------------------- */

static void sio_raw(struct sio_conn *sc, const char *text, size_t n)
{
    if (!conn_send_text_queued(sc->srv, sc->conn, text, n))
        log_event(LOG_WARN, sc->conn->id, "sio_send_failed", "connection closing");
}

/* Sends the socket's events from cursor on, one whole event (packet and
 * attachment) at a time, only into an empty queue so nothing interleaves. */
static void sio_pump(struct sio_sock *k)
{
    struct sio_conn *sc = k->sc;
    if (!sc)
        return;
    while (k->cursor) {
        if (conn_send_room(sc->conn, sc->srv) < 1024) {
            conn_want_drain(sc->conn);
            return;
        }
        struct sio_out *o = k->cursor;
        if (!conn_send_text_queued(sc->srv, sc->conn, o->text, o->text_len) ||
            (o->att && !conn_send_binary_queued(sc->srv, sc->conn, o->att, o->att_len)))
            return;
        k->cursor = o->next;
    }
}

static void sio_out_free(struct sio_out *o)
{
    free(o->text);
    free(o->att);
    free(o);
}

/* Keeps the replay buffer within SIO_REPLAY_EVENTS / SIO_REPLAY_BYTES. An
 * event dropped before it was sent cannot be recovered any more: a live
 * connection that let that happen is closed (it is not reading). */
static void sio_trim(struct sio_sock *k)
{
    const struct sio_config *cfg = &sio_cfg;
    while (k->head && k->head != k->tail && (k->count > cfg->replay_events || k->bytes > cfg->replay_bytes)) {
        struct sio_out *o = k->head;
        if (o == k->cursor) {
            k->cursor = o->next;
            if (k->sc) {
                log_event(LOG_WARN, k->sc->conn->id, "sio_replay_overflow", "closing with 1013");
                conn_close_ws(k->srv, k->sc->conn, WS_CLOSE_TRY_AGAIN, "client not reading");
            }
        }
        k->head = o->next;
        k->count--;
        k->bytes -= o->text_len + o->att_len;
        k->dropped_upto = o->offset;
        sio_out_free(o);
    }
}

cJSON *sio_placeholder(int i)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddBoolToObject(o, "_placeholder", 1);
        cJSON_AddNumberToObject(o, "num", i);
    }
    return o;
}

int sio_attachment_index(const cJSON *node, uint32_t natt)
{
    const cJSON *ph = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, "_placeholder") : NULL;
    const cJSON *num = ph ? cJSON_GetObjectItemCaseSensitive(node, "num") : NULL;
    if (!cJSON_IsTrue(ph) || !cJSON_IsNumber(num) || num->valuedouble < 0 || num->valuedouble >= natt)
        return -1;
    return (int)num->valuedouble;
}

bool sio_emit(struct sio_sock *k, const char *event, cJSON *data, uint8_t *att, size_t att_len)
{
    char head[32], off[24];
    struct sio_out *o = calloc(1, sizeof *o);
    cJSON *arr = cJSON_CreateArray();
    bool ok = o && arr;
    if (ok) {
        o->offset = ++k->next_offset;
        snprintf(off, sizeof off, "%llu", (unsigned long long)o->offset);
        cJSON_AddItemToArray(arr, cJSON_CreateString(event));
        if (data)
            cJSON_AddItemToArray(arr, data);
        data = NULL;
        cJSON_AddItemToArray(arr, cJSON_CreateString(off));
    }
    char *json = ok ? cJSON_PrintUnformatted(arr) : NULL;
    int hl = sio_encode_head(head, sizeof head, att ? SIO_BINARY_EVENT : SIO_EVENT, 1, NULL, -1);
    size_t jl = json ? strlen(json) : 0;
    if (json && hl > 0 && (o->text = malloc((size_t)hl + jl)) != NULL) {
        memcpy(o->text, head, (size_t)hl);
        memcpy(o->text + hl, json, jl);
        o->text_len = (size_t)hl + jl;
    }
    cJSON_Delete(arr);
    cJSON_Delete(data);
    free(json);
    if (!o || !o->text) {
        free(att);
        if (o)
            sio_out_free(o);
        log_event(LOG_ERROR, sio_log_id(k), "sio_emit_failed", "event=%s out of memory", event);
        return false;
    }
    o->att = att;
    o->att_len = att ? att_len : 0;
    if (k->tail)
        k->tail->next = o;
    else
        k->head = o;
    k->tail = o;
    if (!k->cursor)
        k->cursor = o;
    k->count++;
    k->bytes += o->text_len + o->att_len;
    k->dirty = k->sc == NULL;
    log_event(LOG_DEBUG, sio_log_id(k), "sio_emit", "event=%s offset=%llu bytes=%zu", event,
              (unsigned long long)o->offset, o->text_len + o->att_len);
    sio_pump(k);
    sio_trim(k);
    return true;
}

uint64_t sio_log_id(const struct sio_sock *k) { return k->sc ? k->sc->conn->id : 0; }
struct server *sio_server(const struct sio_sock *k) { return k->srv; }

static void sio_error(struct sio_sock *k, const char *code, const char *message)
{
    log_event(LOG_INFO, sio_log_id(k), "sio_error", "code=%s %s", code, message);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "code", code);
    cJSON_AddStringToObject(o, "message", message);
    sio_emit(k, "error", o, NULL, 0);
}

/* ---- sockets -------------------------------------------------------------- */

static void sio_sock_free(struct sio_sock *k)
{
    for (struct sio_sock **pp = &sio_g.socks; *pp; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            sio_g.nsocks--;
            break;
        }
    if (k->app)
        sio_cfg.app->destroy(k->app);
    conn_give_session(k->srv, k->ticket);
    while (k->head) {
        struct sio_out *o = k->head;
        k->head = o->next;
        sio_out_free(o);
    }
    free(k);
}

static struct sio_sock *sio_sock_new(struct server *s, uint32_t ticket)
{
    struct sio_sock *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->srv = s;
    if (!sio_random_id(k->id) || !sio_random_id(k->pid) || !(k->app = sio_cfg.app->create(s, k))) {
        free(k);
        return NULL;
    }
    k->ticket = ticket;
    k->next = sio_g.socks;
    sio_g.socks = k;
    sio_g.nsocks++;
    return k;
}

static struct sio_sock *sio_find_pid(const char *pid)
{
    for (struct sio_sock *k = sio_g.socks; k; k = k->next)
        if (strcmp(k->pid, pid) == 0)
            return k;
    return NULL;
}

/* ---- sockets shared through Redis ------------------------------------------ */

/* "sio:{pid}": the braces are a Redis Cluster hash tag (one session, one slot). */
static void sio_key(const char *pid, char *out, size_t cap) { snprintf(out, cap, "sio:{%s}", pid); }

/* One replay event as [offset, text, attachment base64 or null]. */
static cJSON *sio_out_json(const struct sio_out *o)
{
    cJSON *e = cJSON_CreateArray();
    char *text = malloc(o->text_len + 1), *att = NULL;
    size_t alen = b64_encoded_len(o->att_len) + 1;
    if (o->att && (att = malloc(alen)) != NULL && b64_encode(o->att, o->att_len, att, alen) < 0) {
        free(att);
        att = NULL;
    }
    bool ok = e && text && (!o->att || att);
    if (ok) {
        memcpy(text, o->text, o->text_len);
        text[o->text_len] = '\0';
        cJSON_AddItemToArray(e, cJSON_CreateNumber((double)o->offset));
        cJSON_AddItemToArray(e, cJSON_CreateString(text));
        cJSON_AddItemToArray(e, att ? cJSON_CreateString(att) : cJSON_CreateNull());
        ok = cJSON_GetArraySize(e) == 3;
    }
    free(text);
    free(att);
    if (!ok) {
        cJSON_Delete(e);
        return NULL;
    }
    return e;
}

/* The socket as JSON text within SIO_SAVE_MAX (oldest events left out), or NULL. */
static char *sio_save_text(const struct sio_sock *k, size_t *len)
{
    cJSON *root = cJSON_CreateObject(), *outs = cJSON_CreateArray();
    cJSON *app = sio_cfg.app->save ? sio_cfg.app->save(k->app) : NULL;
    if (!root || !outs || !app) {
        cJSON_Delete(root);
        cJSON_Delete(outs);
        cJSON_Delete(app);
        return NULL;
    }
    uint64_t dropped = k->dropped_upto;
    cJSON_AddNumberToObject(root, "v", SIO_SAVE_VERSION);
    cJSON_AddStringToObject(root, "id", k->id);
    cJSON_AddStringToObject(root, "pid", k->pid);
    cJSON_AddNumberToObject(root, "next", (double)k->next_offset);
    cJSON_AddItemToObject(root, "app", app);
    for (const struct sio_out *o = k->head; o; o = o->next) {
        cJSON *e = sio_out_json(o);
        if (!e) {
            cJSON_Delete(outs);
            cJSON_Delete(root);
            return NULL;
        }
        cJSON_AddItemToArray(outs, e);
    }
    cJSON_AddItemToObject(root, "out", outs);
    cJSON *dnode = cJSON_AddNumberToObject(root, "dropped", (double)dropped);
    char *text = cJSON_PrintUnformatted(root);
    while (text && strlen(text) > SIO_SAVE_MAX && cJSON_GetArraySize(outs) > 0) {
        cJSON *first = cJSON_DetachItemFromArray(outs, 0);
        dropped = (uint64_t)cJSON_GetArrayItem(first, 0)->valuedouble;
        cJSON_Delete(first);
        cJSON_SetNumberValue(dnode, (double)dropped);
        free(text);
        text = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(root);
    if (text && strlen(text) > SIO_SAVE_MAX) {
        free(text);
        return NULL;
    }
    *len = text ? strlen(text) : 0;
    return text;
}

/* Saves a dropped socket for SIO_RECOVERY_WINDOW; refused (Redis down, queue
 * full): it stays recoverable here only. */
static void sio_save(struct sio_sock *k)
{
    k->dirty = false;
    if (!sio_bus || !sio_bus->up(sio_bus->ctx))
        return;
    size_t len;
    char key[64], *text = sio_save_text(k, &len);
    sio_key(k->pid, key, sizeof key);
    bool ok = text && sio_bus->set(sio_bus->ctx, key, text, len, sio_cfg.recovery_window_ms);
    log_event(ok ? LOG_INFO : LOG_WARN, 0, ok ? "sio_saved" : "sio_save_failed", "socket=%s bytes=%zu", k->id,
              text ? len : 0);
    free(text);
}

/* The socket is gone for good (or live here again): its saved copy too. */
static void sio_shared_drop(struct sio_sock *k)
{
    char key[64];
    if (!sio_bus)
        return;
    sio_key(k->pid, key, sizeof key);
    (void)sio_bus->del(sio_bus->ctx, key); /* refused: it lapses with its TTL */
}

/* Tell the other instances that k lives here now: they free their copy. */
static void sio_claim(struct sio_sock *k)
{
    char msg[BUS_INSTANCE_LEN + SIO_ID_LEN + 2];
    if (!sio_bus)
        return;
    sio_shared_drop(k);
    int n = snprintf(msg, sizeof msg, "%s %s", sio_bus->instance, k->pid);
    (void)sio_bus->publish(sio_bus->ctx, SIO_CLAIM_CHANNEL, msg, (size_t)n);
}

static void sio_on_claim(void *ud, const char *msg, size_t len)
{
    (void)ud;
    char m[BUS_INSTANCE_LEN + SIO_ID_LEN + 2];
    if (len >= sizeof m || len <= BUS_INSTANCE_LEN + 1 || msg[BUS_INSTANCE_LEN] != ' ')
        return;
    memcpy(m, msg, len);
    m[len] = '\0';
    if (memcmp(m, sio_bus->instance, BUS_INSTANCE_LEN) == 0)
        return; /* our own claim */
    struct sio_sock *k = sio_find_pid(m + BUS_INSTANCE_LEN + 1);
    if (!k)
        return;
    log_event(LOG_INFO, sio_log_id(k), "sio_session_moved", "socket=%s recovered on another instance", k->id);
    if (k->sc) { /* the old connection has not noticed its loss yet */
        struct sio_conn *old = k->sc;
        old->sock = NULL;
        k->sc = NULL;
        conn_close_ws(k->srv, old->conn, WS_CLOSE_REPLACED, "session recovered on another instance");
    }
    sio_sock_free(k);
}

void sio_set_bus(const struct shared_bus *bus)
{
    sio_bus = bus;
    if (bus && !bus->subscribe(bus->ctx, SIO_CLAIM_CHANNEL, sio_on_claim, NULL))
        log_event(LOG_WARN, 0, "sio_claim_unsubscribed", "stale copies of moved sessions expire by themselves");
}

/* A saved event back into k's replay buffer; false when malformed. */
static bool sio_restore_out(struct sio_sock *k, const cJSON *e, uint64_t *last)
{
    const cJSON *off = cJSON_GetArrayItem(e, 0), *text = cJSON_GetArrayItem(e, 1), *att = cJSON_GetArrayItem(e, 2);
    if (!cJSON_IsArray(e) || !cJSON_IsNumber(off) || !cJSON_IsString(text) || !(cJSON_IsString(att) || cJSON_IsNull(att)) ||
        off->valuedouble <= (double)*last || off->valuedouble > (double)k->next_offset)
        return false;
    struct sio_out *o = calloc(1, sizeof *o);
    if (!o)
        return false;
    o->offset = (uint64_t)off->valuedouble;
    o->text_len = strlen(text->valuestring);
    o->text = malloc(o->text_len + 1);
    if (o->text)
        memcpy(o->text, text->valuestring, o->text_len + 1);
    if (o->text && cJSON_IsString(att)) {
        size_t n = strlen(att->valuestring), cap = b64_decoded_max(n);
        ssize_t got = (o->att = malloc(cap ? cap : 1)) ? b64_decode(att->valuestring, n, o->att, cap) : -1;
        o->att_len = got > 0 ? (size_t)got : 0;
        if (got < 0) {
            sio_out_free(o);
            return false;
        }
    }
    if (!o->text) {
        sio_out_free(o);
        return false;
    }
    *last = o->offset;
    if (k->tail)
        k->tail->next = o;
    else
        k->head = o;
    k->tail = o;
    k->count++;
    k->bytes += o->text_len + o->att_len;
    return true;
}

/* A saved socket into the fresh socket k (ids, offsets, replay buffer, the
 * app's state); false when the text is not a saved socket (k may then hold
 * part of it: the caller frees k). */
static bool sio_restore(struct sio_sock *k, const char *text, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v"), *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(root, "pid"), *next = cJSON_GetObjectItemCaseSensitive(root, "next");
    const cJSON *dropped = cJSON_GetObjectItemCaseSensitive(root, "dropped");
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(root, "out"), *app = cJSON_GetObjectItemCaseSensitive(root, "app");
    bool ok = cJSON_IsNumber(v) && v->valueint == SIO_SAVE_VERSION && cJSON_IsString(id) &&
              strlen(id->valuestring) == SIO_ID_LEN && cJSON_IsString(pid) && strlen(pid->valuestring) == SIO_ID_LEN &&
              cJSON_IsNumber(next) && next->valuedouble >= 0 && next->valuedouble < 9e15 && cJSON_IsNumber(dropped) &&
              dropped->valuedouble >= 0 && dropped->valuedouble <= next->valuedouble && cJSON_IsArray(outs) &&
              cJSON_IsObject(app) && sio_cfg.app->restore;
    if (ok) {
        memcpy(k->id, id->valuestring, SIO_ID_LEN + 1);
        memcpy(k->pid, pid->valuestring, SIO_ID_LEN + 1);
        k->next_offset = (uint64_t)next->valuedouble;
        k->dropped_upto = (uint64_t)dropped->valuedouble;
        uint64_t last = k->dropped_upto;
        for (const cJSON *e = outs->child; ok && e; e = e->next)
            ok = sio_restore_out(k, e, &last);
        ok = ok && sio_cfg.app->restore(k->app, app);
    }
    cJSON_Delete(root);
    return ok;
}

static void sio_detach(struct sio_conn *sc, bool keep)
{
    struct sio_sock *k = sc->sock;
    if (!k)
        return;
    sc->sock = NULL;
    k->sc = NULL;
    k->cursor = NULL; /* what was sent is unknown now: the client's offset tells */
    k->detached_ms = sc->srv->loop.now_ms;
    if (!keep || sio_cfg.recovery_window_ms == 0) {
        sio_shared_drop(k);
        sio_sock_free(k);
        return;
    }
    sio_save(k);
}

/* The recoverable socket named by auth {pid, offset}, with cursor set to the
 * first event after offset; NULL when there is none or the events after
 * offset are no longer all kept. */
/* auth {pid, offset}: false when it is not a recovery request. */
static bool sio_auth_recovery(const cJSON *auth, const char **pid_out, uint64_t *offset_out)
{
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(auth, "pid");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(auth, "offset");
    if (!cJSON_IsString(pid) || (off && !cJSON_IsString(off)))
        return false;
    uint64_t offset = 0;
    if (off) {
        const char *p = off->valuestring;
        size_t pn = strlen(p);
        if (pn > 18 || (p[0] == '0' && p[1]) || !dec_value(p, pn, UINT64_MAX, &offset))
            return false;
    }
    *pid_out = pid->valuestring;
    *offset_out = offset;
    return true;
}

/* Sets k's cursor to the first event after offset; false when the events
 * after offset are no longer all kept. */
static bool sio_seek(struct sio_sock *k, uint64_t offset)
{
    if (offset < k->dropped_upto || offset > k->next_offset)
        return false;
    struct sio_out *o = k->head;
    while (o && o->offset <= offset)
        o = o->next;
    k->cursor = o;
    return true;
}

static struct sio_sock *sio_recover(const cJSON *auth)
{
    const char *pid;
    uint64_t offset;
    if (!sio_auth_recovery(auth, &pid, &offset))
        return NULL;
    struct sio_sock *k = sio_find_pid(pid);
    return k && sio_seek(k, offset) ? k : NULL;
}

/* ---- input --------------------------------------------------------------- */

static void sio_protocol_error(struct sio_conn *sc, const char *why)
{
    log_event(LOG_INFO, sc->conn->id, "sio_protocol_error", "%s", why);
    conn_close_ws(sc->srv, sc->conn, WS_CLOSE_POLICY, why);
}

static void sio_connect_answer(struct sio_conn *sc, struct sio_sock *k)
{
    char out[128];
    int n = snprintf(out, sizeof out, "40{\"sid\":\"%s\",\"pid\":\"%s\"}", k->id, k->pid);
    sio_raw(sc, out, (size_t)n);
}


/* A ticket for a new session on this client's address; at the address's
 * COACH_MAX_SESSIONS_PER_IP its own longest-dropped session makes room (a
 * live client outranks it), else 0. */
static uint32_t sio_session_ticket(struct server *s, struct sio_conn *sc)
{
    uint32_t t = conn_take_session(s, sc->conn, sio_cfg.max_sessions_per_ip);
    while (!t) {
        uint32_t mine = conn_take_session(s, sc->conn, UINT64_MAX); /* which address entry is ours */
        conn_give_session(s, mine);
        struct sio_sock *old = NULL;
        for (struct sio_sock *o = sio_g.socks; o && mine; o = o->next)
            if (!o->sc && o->ticket == mine && (!old || o->detached_ms < old->detached_ms))
                old = o;
        if (!old)
            return 0;
        log_event(LOG_INFO, sc->conn->id, "sio_session_evicted", "socket=%s (sessions per address full)", old->id);
        sio_sock_free(old);
        t = conn_take_session(s, sc->conn, sio_cfg.max_sessions_per_ip);
    }
    return t;
}

/* A new socket for sc, within COACH_MAX_SESSIONS (evicting the
 * longest-dropped one: a live client outranks a session that may never come
 * back) and COACH_MAX_SESSIONS_PER_IP; NULL when refused (answered). */
static struct sio_sock *sio_open_socket(struct sio_conn *sc)
{
    struct server *s = sc->srv;
    if (sio_g.nsocks >= sio_cfg.max_sessions) {
        struct sio_sock *old = NULL;
        for (struct sio_sock *o = sio_g.socks; o; o = o->next)
            if (!o->sc && (!old || o->detached_ms < old->detached_ms))
                old = o;
        if (old) {
            log_event(LOG_INFO, sc->conn->id, "sio_session_evicted", "socket=%s (sessions full)", old->id);
            sio_sock_free(old);
        }
    }
    if (sio_g.nsocks >= sio_cfg.max_sessions) {
        metrics_inc(M_CONN_REFUSED, MRS_SESSIONS, 0);
        log_event(LOG_WARN, sc->conn->id, "sio_sessions_full", "limit=%llu", (unsigned long long)sio_cfg.max_sessions);
        static const char full[] = "44{\"message\":\"server full: too many sessions\"}";
        sio_raw(sc, full, sizeof full - 1);
        return NULL;
    }
    uint32_t ticket = sio_session_ticket(s, sc);
    if (!ticket) {
        metrics_inc(M_CONN_REFUSED, MRS_PER_IP, 0);
        log_event(LOG_WARN, sc->conn->id, "per_ip_limit", "peer=%s coach sessions max=%llu", sc->conn->peer,
                  (unsigned long long)sio_cfg.max_sessions_per_ip);
        static const char many[] = "44{\"message\":\"too many sessions from this address (COACH_MAX_SESSIONS_PER_IP)\"}";
        sio_raw(sc, many, sizeof many - 1);
        return NULL;
    }
    struct sio_sock *k = sio_sock_new(s, ticket);
    if (!k) {
        conn_give_session(s, ticket);
        static const char oom[] = "44{\"message\":\"server out of memory\"}";
        sio_raw(sc, oom, sizeof oom - 1);
    }
    return k;
}

/* sc's CONNECT answered with k (recovered: k's replay from its cursor follows). */
static void sio_attach(struct sio_conn *sc, struct sio_sock *k, const char *recovered)
{
    k->sc = sc;
    sc->sock = k;
    k->dirty = false;
    log_event(LOG_INFO, sc->conn->id, "sio_connect", "socket=%s recovered=%s replay=%s", k->id, recovered,
              k->cursor ? "yes" : "no");
    sio_connect_answer(sc, k);
    sio_pump(k);
}

/* The GET of a recovery CONNECT answered: the saved socket restored here,
 * else a new one (the client sees recovered=false, as locally). */
static void sio_fetched(void *ud, const char *val, size_t len)
{
    struct sio_conn *sc = ud;
    sc->recovering = false;
    if (!conn_is_open(sc->conn))
        return;
    struct sio_sock *stale = sio_find_pid(sc->want_pid);
    if (val && stale && !stale->sc) /* our own older copy: the saved one is newer */
        sio_sock_free(stale);
    else if (val && stale) /* live here meanwhile: not ours to restore */
        val = NULL;
    struct sio_sock *k = sio_open_socket(sc);
    if (!k)
        return;
    if (val && !sio_restore(k, val, len)) {
        log_event(LOG_WARN, sc->conn->id, "sio_restore_failed", "saved socket malformed: a new one");
        sio_sock_free(k);
        if (!(k = sio_open_socket(sc)))
            return;
        val = NULL;
    }
    if (val && !sio_seek(k, sc->want_offset)) {
        log_event(LOG_INFO, sc->conn->id, "sio_restore_gap", "offset=%llu before the saved replay: a new socket",
                  (unsigned long long)sc->want_offset);
        sio_sock_free(k);
        if (!(k = sio_open_socket(sc)))
            return;
        val = NULL;
    }
    if (val)
        sio_claim(k);
    sio_attach(sc, k, val ? "redis" : "0");
}

/* A recovery CONNECT this instance cannot answer: ask Redis (answer later
 * in sio_fetched, within REDIS_TIMEOUT). False when there is no asking. */
static bool sio_fetch(struct sio_conn *sc, const cJSON *auth)
{
    const char *pid;
    uint64_t offset;
    char key[64];
    if (!sio_bus || !auth || !sio_auth_recovery(auth, &pid, &offset) || strlen(pid) != SIO_ID_LEN ||
        !sio_bus->up(sio_bus->ctx))
        return false;
    memcpy(sc->want_pid, pid, SIO_ID_LEN + 1);
    sc->want_offset = offset;
    sio_key(pid, key, sizeof key);
    if (!sio_bus->get(sio_bus->ctx, key, sio_fetched, sc))
        return false;
    sc->recovering = true;
    return true;
}

static void sio_on_connect(struct sio_conn *sc, const struct sio_packet *pkt, const cJSON *auth)
{
    struct server *s = sc->srv;
    char out[SIO_NSP_MAX + 64];
    if (!slice_eq(pkt->nsp, "/", 1)) {
        int n = snprintf(out, sizeof out, "44%.*s,{\"message\":\"Invalid namespace\"}", (int)pkt->nsp.n, pkt->nsp.p);
        sio_raw(sc, out, (size_t)n);
        return;
    }
    if (sc->sock || sc->recovering) {
        sio_protocol_error(sc, "second CONNECT to /");
        return;
    }
    struct sio_sock *k = auth ? sio_recover(auth) : NULL;
    if (k && k->sc) { /* the old connection has not noticed its loss yet */
        struct sio_conn *old = k->sc;
        old->sock = NULL;
        k->sc = NULL;
        conn_close_ws(s, old->conn, WS_CLOSE_REPLACED, "session recovered on another connection");
    }
    if (k) {
        sio_shared_drop(k); /* live here again: the saved copy would be stale */
        sio_attach(sc, k, "1");
        return;
    }
    if (sio_fetch(sc, auth))
        return;
    if ((k = sio_open_socket(sc)) != NULL)
        sio_attach(sc, k, "0");
}

static void sio_free_att(struct sio_conn *sc)
{
    for (int i = 0; i < SIO_MAX_ATTACH; i++) {
        free(sc->att[i]);
        sc->att[i] = NULL;
        sc->att_len[i] = 0;
    }
}

static void sio_dispatch_event(struct sio_conn *sc, cJSON *args, bool has_id, uint32_t id, uint32_t natt)
{
    struct sio_sock *k = sc->sock;
    const cJSON *name = cJSON_GetArrayItem(args, 0);
    if (!cJSON_IsString(name)) {
        sio_error(k, "INVALID_EVENT", "event name must be a string");
    } else if (!sio_cfg.app->event_known(name->valuestring)) {
        char msg[128];
        snprintf(msg, sizeof msg, "unknown event \"%.40s\"", name->valuestring);
        for (char *q = msg; *q; q++) /* keep the quoted name plain ASCII */
            if ((unsigned char)*q >= 0x80)
                *q = '?';
        sio_error(k, "UNKNOWN_EVENT", msg);
    } else if (sio_cfg.app->event_starts_ai(name->valuestring) && !conn_take_ai_turn(sc->srv, sc->conn)) {
        ; /* answered with RATE_LIMITED (sio_on_refused) */
    } else {
        sio_cfg.app->on_event(k->app, name->valuestring, args, sc->att, sc->att_len, natt);
    }
    if (has_id) { /* the client asked for an ack: an empty one says "received" */
        char out[32];
        int n = sio_encode_head(out, sizeof out, SIO_ACK, 0, NULL, id);
        if (n > 0 && n + 2 < (int)sizeof out) {
            memcpy(out + n, "[]", 2);
            sio_raw(sc, out, (size_t)n + 2);
        }
    }
    sio_free_att(sc);
}

static void sio_on_socketio(struct sio_conn *sc, const struct sio_packet *pkt)
{
    struct server *s = sc->srv;
    cJSON *root = NULL;
    if (pkt->data.n) {
        size_t off;
        if (jsonv_validate((const uint8_t *)pkt->data.p, pkt->data.n, (unsigned)s->cfg.json_max_depth, &off) !=
                JSONV_OK ||
            !(root = cJSON_ParseWithLength(pkt->data.p, pkt->data.n))) {
            sio_protocol_error(sc, "invalid JSON in Socket.IO packet");
            return;
        }
    }
    switch (pkt->type) {
    case SIO_CONNECT:
        sio_on_connect(sc, pkt, root);
        break;
    case SIO_DISCONNECT: /* the client left on purpose: nothing to recover */
        if (sc->sock)
            sio_detach(sc, false);
        break;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        if (!slice_eq(pkt->nsp, "/", 1) || !sc->sock) {
            sio_protocol_error(sc, "event outside a connected namespace");
            break;
        }
        if (cJSON_GetArraySize(root) < 1 || !sio_placeholders_check(root, pkt->attachments)) {
            sio_protocol_error(sc, "event payload or placeholders malformed");
            break;
        }
        if (pkt->attachments) {
            cJSON_AddItemToArray(root, cJSON_CreateNumber(pkt->has_id ? pkt->id : -1.0));
            sc->pending = root; /* the ack id rides at the end until the attachments are in */
            return;
        }
        sio_dispatch_event(sc, root, pkt->has_id, pkt->id, 0);
        break;
    default: /* ACK/BINARY_ACK (we never ask for one), CONNECT_ERROR (server-only) */
        sio_protocol_error(sc, "unexpected Socket.IO packet type");
        break;
    }
    cJSON_Delete(root);
}

static void sio_on_text(struct server *s, struct conn *c, const uint8_t *p, size_t n)
{
    struct sio_conn *sc = c->app;
    struct sio_packet pkt;
    (void)s;
    if (!sc)
        return;
    int r = sio_parse(p, n, SIO_MAX_ATTACH, &pkt);
    if (r == SIO_OK)
        r = sio_rx_text(&sc->rx, &pkt);
    if (r != SIO_OK) {
        sio_protocol_error(sc, sio_strerror(r));
        return;
    }
    switch (pkt.eio) {
    case EIO_PONG:
        sc->ping_out = false;
        sc->next_ping_ms = sc->srv->loop.now_ms + sio_cfg.ping_interval_ms;
        break;
    case EIO_PING: { /* v4 clients do not ping; answer like the reference server */
        char out[64];
        int m = snprintf(out, sizeof out, "3%.*s", (int)(pkt.data.n < 32 ? pkt.data.n : 32), pkt.data.p);
        sio_raw(sc, out, (size_t)m);
        break;
    }
    case EIO_CLOSE:
        conn_close_ws(sc->srv, c, WS_CLOSE_NORMAL, "");
        break;
    case EIO_NOOP:
        break;
    case EIO_MESSAGE:
        sio_on_socketio(sc, &pkt);
        break;
    default: /* open, upgrade: server-only or polling-only */
        sio_protocol_error(sc, "unexpected Engine.IO packet type");
        break;
    }
}

/* Called for each attachment of a packet being refused (too large, or rate
 * limited); the error goes out with the last one. */
static void sio_drop_attachments(struct sio_conn *sc, bool last)
{
    sio_free_att(sc);
    if (!last)
        return;
    cJSON_Delete(sc->pending);
    sc->pending = NULL;
    if (sc->sock && sc->refused[0])
        sio_error(sc->sock, "RATE_LIMITED", sc->refused);
    else if (sc->sock)
        sio_error(sc->sock, "ANSWER_TOO_LARGE", "binary data over COACH_MAX_AUDIO_BYTES: not accepted");
    sc->refused[0] = 0;
}

static void sio_on_refused(struct server *s, struct conn *c, bool binary, const uint8_t *p, size_t n,
                    const char *message)
{
    struct sio_conn *sc = c->app;
    (void)s;
    if (!sc)
        return;
    if (!p) { /* a whole event, already parsed */
        if (sc->sock)
            sio_error(sc->sock, "RATE_LIMITED", message);
        return;
    }
    if (binary) {
        uint32_t idx;
        bool last;
        if (!sio_rx_pending(&sc->rx)) {
            sio_protocol_error(sc, sio_strerror(SIO_E_UNEXPECTED_BINARY));
            return;
        }
        if (!sc->refused[0])
            snprintf(sc->refused, sizeof sc->refused, "%s", message);
        sc->rx.over = true;
        (void)sio_rx_binary(&sc->rx, n, &idx, &last);
        sio_drop_attachments(sc, last);
        return;
    }
    struct sio_packet pkt; /* only to learn how many attachments follow */
    if (sio_parse(p, n, SIO_MAX_ATTACH, &pkt) == SIO_OK && sio_rx_text(&sc->rx, &pkt) == SIO_OK &&
        sio_rx_pending(&sc->rx)) {
        snprintf(sc->refused, sizeof sc->refused, "%s", message);
        sc->rx.over = true;
        return;
    }
    if (sc->sock)
        sio_error(sc->sock, "RATE_LIMITED", message);
}

static void sio_on_binary(struct server *s, struct conn *c, const uint8_t *p, size_t n)
{
    struct sio_conn *sc = c->app;
    uint32_t idx;
    bool last;
    (void)s;
    if (!sc)
        return;
    int r = sio_rx_binary(&sc->rx, n, &idx, &last);
    if (r == SIO_E_ATTACH_SIZE) { /* dropped in step with the sender, answered once */
        sio_drop_attachments(sc, last);
        return;
    }
    if (r != SIO_OK || idx >= SIO_MAX_ATTACH) {
        sio_free_att(sc);
        cJSON_Delete(sc->pending);
        sc->pending = NULL;
        sio_protocol_error(sc, sio_strerror(r));
        return;
    }
    sc->att[idx] = malloc(n ? n : 1);
    if (!sc->att[idx]) {
        sio_protocol_error(sc, "out of memory for an attachment");
        return;
    }
    memcpy(sc->att[idx], p, n);
    sc->att_len[idx] = n;
    if (!last)
        return;
    cJSON *root = sc->pending;
    sc->pending = NULL;
    cJSON *idn = cJSON_DetachItemFromArray(root, cJSON_GetArraySize(root) - 1);
    double id = idn ? idn->valuedouble : -1;
    cJSON_Delete(idn);
    if (sc->sock)
        sio_dispatch_event(sc, root, id >= 0, id >= 0 ? (uint32_t)id : 0, idx + 1);
    else
        sio_free_att(sc);
    cJSON_Delete(root);
}

static void sio_on_open(struct server *s, struct conn *c)
{
    struct sio_conn *sc = calloc(1, sizeof *sc);
    if (!sc || !sio_random_id(sc->sid)) {
        free(sc);
        conn_close_ws(s, c, WS_CLOSE_INTERNAL, "out of memory");
        return;
    }
    sc->srv = s;
    sc->conn = c;
    sc->opened_ms = s->loop.now_ms;
    sc->next_ping_ms = s->loop.now_ms + sio_cfg.ping_interval_ms;
    sc->rx.max_bytes = sio_cfg.max_attachment_bytes; /* all attachments of one packet */
    c->app = sc;
    sc->next = sio_g.conns;
    if (sio_g.conns)
        sio_g.conns->prev = sc;
    sio_g.conns = sc;
    char out[256];
    int n = snprintf(out, sizeof out,
                     "0{\"sid\":\"%s\",\"upgrades\":[],\"pingInterval\":%llu,\"pingTimeout\":%llu,"
                     "\"maxPayload\":%llu}",
                     sc->sid, (unsigned long long)sio_cfg.ping_interval_ms,
                     (unsigned long long)sio_cfg.ping_timeout_ms, (unsigned long long)s->cfg.max_message_size);
    sio_raw(sc, out, (size_t)n);
}

static void sio_on_close(struct server *s, struct conn *c)
{
    struct sio_conn *sc = c->app;
    (void)s;
    if (!sc)
        return;
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        sio_g.conns = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    if (sc->recovering)
        sio_bus->forget(sio_bus->ctx, sc);
    sio_detach(sc, true);
    sio_free_att(sc);
    cJSON_Delete(sc->pending);
    free(sc);
    c->app = NULL;
}

static void sio_on_drain(struct server *s, struct conn *c)
{
    struct sio_conn *sc = c->app;
    (void)s;
    if (sc && sc->sock)
        sio_pump(sc->sock);
}

const struct conn_handlers sio_handlers = {
    .open = sio_on_open, .text = sio_on_text, .binary = sio_on_binary,
    .drain = sio_on_drain, .close = sio_on_close, .refused = sio_on_refused,
};

void sio_setup(const struct sio_config *cfg) { sio_cfg = *cfg; }

void sio_tick(void *ctx)
{
    struct server *s = ctx;
    uint64_t now = s->loop.now_ms;
    const struct sio_config *cfg = &sio_cfg;
    for (struct sio_conn *sc = sio_g.conns, *next; sc; sc = next) {
        struct conn *c = sc->conn;
        next = sc->next; /* a closing connection stays listed until it is gone */
        if (!conn_is_open(c))
            continue;
        if (sc->ping_out && now - sc->ping_sent_ms >= cfg->ping_timeout_ms) {
            log_event(LOG_INFO, c->id, "sio_ping_timeout", "no pong in %llu ms",
                      (unsigned long long)cfg->ping_timeout_ms);
            conn_close_ws(s, c, WS_CLOSE_INTERNAL, "ping timeout");
        } else if (!sc->sock && now - sc->opened_ms >= cfg->connect_timeout_ms) {
            conn_close_ws(s, c, WS_CLOSE_POLICY, "no Socket.IO CONNECT in time");
        } else if (!sc->ping_out && now >= sc->next_ping_ms) {
            sio_raw(sc, "2", 1);
            sc->ping_out = true;
            sc->ping_sent_ms = now;
        }
    }
    for (struct sio_sock *k = sio_g.socks, *next; k; k = next) {
        next = k->next;
        if (!k->sc && now - k->detached_ms >= cfg->recovery_window_ms) {
            log_event(LOG_INFO, 0, "sio_session_expired", "socket=%s", k->id);
            sio_sock_free(k); /* its saved copy lapses with the same window */
        } else if (!k->sc && k->dirty) {
            sio_save(k);
        }
    }
}

#undef SIO_ID_LEN
#undef SIO_SAVE_MAX
#undef SIO_SAVE_VERSION
#undef SIO_CLAIM_CHANNEL
