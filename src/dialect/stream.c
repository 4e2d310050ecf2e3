/* The seed 004 stream API on /api/stream/ws/{session_id}: ping, test echo,
 * chat broadcast, audio/video upload acknowledgements, transcription of
 * uploaded audio; plus the status and disconnect HTTP endpoints. Every
 * message carries session_id and timestamp.
 *
 * Policies: a second connection with a session id that is connected replaces
 * the first (close 4000). A broadcast receiver whose send ring cannot take a
 * chat message is closed with 1013 rather than silently skipped, so the
 * others never wait for it.
 *
 * Several instances (a struct shared_bus wired by interview.c over Redis):
 * every event goes on one channel, STREAM_CHANNEL, as JSON with "op" and the
 * publishing instance ("from"):
 *   chat        a chat message, published once by the sender's instance, which
 *               delivers it to its own sessions directly (and skips its own
 *               copy when it comes back), so each session gets it once;
 *   open/stats  a session on that instance (stats every STREAM_REFRESH_MS),
 *               kept in a bounded mirror so status answers for it at once;
 *               open also replaces a session with that id here (close 4000);
 *   close       it is gone;
 *   disconnect  the owning instance closes the session (DELETE .../disconnect
 *               on another instance);
 *   hello       an instance (re)joined: everyone republishes its sessions.
 * Each session is also in the registry, key stream:session:<id> with a TTL
 * refreshed on the same tick (for operators and tools: redis-cli). Redis down:
 * the mirror is emptied and everything is local, as with one instance.
 * deps: ai.c b64.c, cJSON */
#include "dialect/stream.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/b64.h"
#include "io/bus.h"
#include "io/clock.h"
#include "io/log.h"
#include "pipeline/ai.h"
#include "pipeline/turn.h"
#include "io/server.h"
#include "dialect/message.h"

#define STREAM_STT_BODY_MAX 16384 /* transcription response body */
#define STREAM_TEXT_MAX 8192      /* one transcript */
#define STREAM_CHANNEL "stream"   /* the bus channel of every seed 004 event */
/* Sessions of other instances are republished this often; one not heard of
 * for STREAM_REMOTE_TTL_MS is forgotten (its instance died or lost Redis). */
#define STREAM_REFRESH_MS 5000
#define STREAM_REMOTE_TTL_MS (3 * STREAM_REFRESH_MS)
/* Sessions republished per server tick (250 ms) at most: 2 Redis commands
 * each, so a burst (Redis back, an instance joining) stays far below the
 * client's queue; past 5,000 sessions an instance's refresh just stretches
 * (still within STREAM_REMOTE_TTL_MS up to about 15,000). */
#define STREAM_REFRESH_PER_TICK 256
/* Sessions of other instances kept in the mirror: beyond it the stalest is
 * dropped (status then says 404 for it until its next refresh). */
#define STREAM_REMOTE_MAX 4096
/* The largest chat event sent over the bus: half the client's pub/sub
 * buffer (REDIS_SUB_BUF_CAP, 1 MiB); a longer chat reaches this instance's
 * sessions only, and its sender is told. */
#define STREAM_BUS_MSG_MAX (512 * 1024)

struct stream {
    struct stream *prev, *next; /* stream_g.live: the open sessions, for broadcasts and look-ups */
    struct server *srv;
    struct conn *conn;
    char connected_at[CLOCK_ISO_LEN];
    uint64_t received, sent;
    bool replaced_remotely; /* the id lives on elsewhere: its key and mirror entries are not ours to drop */
    uint64_t refresh_at;    /* clock_mono_ms when its registry key and stats are due again */
    uint8_t *audio; /* audio messages kept for a transcription_request without data */
    size_t audio_len;
    /* one transcription at a time */
    struct ai_call *stt;
    uint8_t *file;
};

/* A session of another instance, as its last open/stats event said. */
struct stream_remote {
    struct stream_remote *prev, *next;
    char id[ROUTE_ID_MAX + 1];
    char instance[BUS_INSTANCE_LEN + 1];
    char connected_at[CLOCK_ISO_LEN];
    uint64_t received, sent;
    uint64_t seen_ms; /* clock_mono_ms of the last event */
};

/* What every stream session shares (stream_setup), and the open sessions. */
static struct {
    const struct turn_config *turn;
    struct ai *ai;
    struct stream *live;
    const struct shared_bus *bus; /* NULL: one instance */
    struct stream_remote *remote; /* most recently heard first */
    size_t nremote;
} stream_g;

static struct conn *stream_find(const char *id)
{
    for (struct stream *st = stream_g.live; st; st = st->next)
        if (conn_is_open(st->conn) && strcmp(st->conn->client_id, id) == 0)
            return st->conn;
    return NULL;
}

/* ---- sending ------------------------------------------------------------ */

static cJSON *stream_event(const char *type)
{
    cJSON *o = cJSON_CreateObject();
    if (o)
        cJSON_AddStringToObject(o, "type", type);
    return o;
}

/* Adds session_id and timestamp, sends, frees. False if the ring was full. */
static bool stream_send(struct stream *st, cJSON *o)
{
    char ts[CLOCK_ISO_LEN];
    if (!o)
        return false;
    cJSON_AddStringToObject(o, "session_id", st->conn->client_id);
    cJSON_AddStringToObject(o, "timestamp", clock_iso8601(ts));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    bool ok = text && conn_send_text_queued(st->srv, st->conn, text, strlen(text));
    free(text);
    if (ok)
        st->sent++;
    else
        log_event(LOG_WARN, st->conn->id, "event_not_sent", "closing or out of memory");
    return ok;
}

static void stream_error(struct stream *st, const char *code, const char *message)
{
    cJSON *o = stream_event("error");
    if (!o)
        return;
    cJSON_AddStringToObject(o, "message", message);
    cJSON_AddStringToObject(o, "code", code);
    stream_send(st, o);
}

/* ---- transcription -------------------------------------------------------- */

static void stream_stt_reset(struct stream *st)
{
    ai_cancel(st->stt);
    st->stt = NULL;
    free(st->file);
    st->file = NULL;
}

static void stream_transcription_error(struct stream *st, const char *why)
{
    cJSON *o = stream_event("transcription_error");
    if (o)
        cJSON_AddStringToObject(o, "error", why);
    stream_send(st, o);
}

static void stream_stt_done(void *ctx, struct ai_result *r)
{
    struct stream *st = ctx;
    char why[320];
    st->stt = NULL;
    stream_stt_reset(st);
    if (!r->text) {
        snprintf(why, sizeof why, "transcription failed: %s", r->err == AI_OK ? "malformed response" : r->message);
        stream_transcription_error(st, why);
        return;
    }
    cJSON *o = stream_event("transcription_result");
    if (o)
        cJSON_AddStringToObject(o, "transcript", r->text);
    stream_send(st, o);
}

/* Takes ownership of file (malloc'd). */
static void stream_transcribe(struct stream *st, uint8_t *file, size_t len)
{
    struct ai *ai = stream_g.ai;
    struct ai_file f;
    const char *refuse = !ai_have_key(ai) ? "OPENAI_API_KEY is not set on the server"
                         : st->stt        ? "a transcription is already running"
                         : len == 0       ? "no audio: send data or audio messages first"
                         : !ai_audio_file(file, len, "audio", &f) ? "unrecognised audio: send WAV, WebM, Ogg or MP3"
                                                                  : NULL;
    if (refuse) {
        free(file);
        stream_transcription_error(st, refuse);
        return;
    }
    struct ai_stt req = {.audio = {{file, len}}, .filename = f.name, .ctype = f.ctype, .tag = "interview-stream",
                         .max_body = STREAM_STT_BODY_MAX - 1, .max_text = STREAM_TEXT_MAX, .log_id = st->conn->id};
    int why;
    st->file = file;
    st->stt = ai_transcribe(ai, &req, stream_stt_done, st, &why);
    if (!st->stt) {
        stream_stt_reset(st);
        stream_transcription_error(st, why == AI_E_BUSY ? ai_why(why) : "cannot build the transcription request");
    }
}

/* ---- client messages ---------------------------------------------------- */

/* Decodes msg.data (base64) into a malloc'd buffer; NULL + error sent when
 * it is missing or not base64. An empty string gives len 0 and a NULL buffer. */
static bool stream_data(struct stream *st, const cJSON *msg, uint8_t **out, size_t *len, bool required)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(msg, "data");
    *out = NULL;
    *len = 0;
    if (!data && !required)
        return true;
    if (!cJSON_IsString(data)) {
        stream_error(st, "INVALID_MESSAGE", "data must be a base64 string");
        return false;
    }
    size_t n = strlen(data->valuestring);
    if (n == 0)
        return true;
    uint8_t *buf = malloc(b64_decoded_max(n));
    ssize_t r = buf ? b64_decode(data->valuestring, n, buf, b64_decoded_max(n)) : B64_E_TOO_BIG;
    if (r < 0) {
        free(buf);
        stream_error(st, "INVALID_DATA", "data is not valid base64");
        return false;
    }
    *out = buf;
    *len = (size_t)r;
    return true;
}

static void stream_ack(struct stream *st, const char *type, size_t bytes)
{
    cJSON *o = stream_event(type);
    if (o)
        cJSON_AddNumberToObject(o, "bytes", (double)bytes);
    stream_send(st, o);
}

static void stream_audio(struct stream *st, const cJSON *msg)
{
    uint8_t *buf;
    size_t len;
    if (!stream_data(st, msg, &buf, &len, true))
        return;
    size_t cap = (size_t)stream_g.turn->max_answer_samples * 2;
    if (st->audio_len + len > cap) {
        free(buf);
        stream_error(st, "BUFFER_ERROR", "audio kept for this session is over its cap; not kept");
        return;
    }
    uint8_t *grown = len ? realloc(st->audio, st->audio_len + len) : st->audio;
    if (len && !grown) {
        free(buf);
        stream_error(st, "BUFFER_ERROR", "out of memory");
        return;
    }
    st->audio = grown;
    if (len)
        memcpy(st->audio + st->audio_len, buf, len);
    st->audio_len += len;
    free(buf);
    stream_ack(st, "audio_received", len);
}

/* A chat message from session `from` to every open session here. */
static void stream_broadcast(const char *from, const char *text, const char *ts)
{
    for (struct stream *to = stream_g.live, *next; to; to = next) {
        struct conn *c = to->conn;
        next = to->next; /* closing a receiver keeps it listed until its connection is gone */
        if (!conn_is_open(c))
            continue;
        cJSON *o = stream_event("chat_message");
        if (!o)
            return;
        cJSON_AddStringToObject(o, "message", text);
        cJSON_AddStringToObject(o, "session_id", from); /* the sender */
        cJSON_AddStringToObject(o, "timestamp", ts);
        char *out = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (out && conn_send_text(to->srv, c, out, strlen(out))) {
            to->sent++;
        } else {
            log_event(LOG_WARN, c->id, "broadcast_receiver_too_slow", "closing with 1013");
            conn_close_ws(to->srv, c, WS_CLOSE_TRY_AGAIN, "too slow to receive broadcasts");
        }
        free(out);
    }
}

/* ---- the bus (several instances) ------------------------------------------- */

/* An event {"op":op,"from":<this instance>,"session_id":id}, more fields to add. */
static cJSON *stream_bus_event(const char *op, const char *id)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "op", op);
    cJSON_AddStringToObject(o, "from", stream_g.bus->instance);
    if (id)
        cJSON_AddStringToObject(o, "session_id", id);
    return o;
}

/* Publishes and frees o. false when it was not sent (too large, Redis down). */
static bool stream_bus_send(cJSON *o)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    size_t n = text ? strlen(text) : 0;
    bool ok = text && n <= STREAM_BUS_MSG_MAX &&
              stream_g.bus->publish(stream_g.bus->ctx, STREAM_CHANNEL, text, n);
    free(text);
    return ok;
}

/* A chat for the other instances. false only when it is too large for the
 * bus (Redis down is not the sender's business: one instance is normal). */
static bool stream_bus_chat(const char *from, const char *text, const char *ts)
{
    if (!stream_g.bus)
        return true;
    if (strlen(text) > STREAM_BUS_MSG_MAX - 1024)
        return false;
    cJSON *o = stream_bus_event("chat", from);
    if (o) {
        cJSON_AddStringToObject(o, "message", text);
        cJSON_AddStringToObject(o, "timestamp", ts);
    }
    (void)stream_bus_send(o);
    return true;
}

/* open or stats of a local session: the registry key and the event. */
static void stream_bus_announce(struct stream *st, const char *op)
{
    if (!stream_g.bus || !stream_g.bus->up(stream_g.bus->ctx))
        return;
    cJSON *o = stream_bus_event(op, st->conn->client_id);
    if (!o)
        return;
    cJSON_AddStringToObject(o, "connected_at", st->connected_at);
    cJSON_AddNumberToObject(o, "received", (double)st->received);
    cJSON_AddNumberToObject(o, "sent", (double)st->sent);
    char *text = cJSON_PrintUnformatted(o);
    char key[ROUTE_ID_MAX + 32];
    snprintf(key, sizeof key, "stream:session:%s", st->conn->client_id);
    if (text)
        (void)stream_g.bus->set(stream_g.bus->ctx, key, text, strlen(text), STREAM_REMOTE_TTL_MS);
    free(text);
    (void)stream_bus_send(o);
    st->refresh_at = clock_mono_ms() + STREAM_REFRESH_MS;
}

static struct stream_remote *stream_remote_find(const char *id)
{
    for (struct stream_remote *r = stream_g.remote; r; r = r->next)
        if (strcmp(r->id, id) == 0)
            return r;
    return NULL;
}

static void stream_remote_del(struct stream_remote *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        stream_g.remote = r->next;
    if (r->next)
        r->next->prev = r->prev;
    stream_g.nremote--;
    free(r);
}

static void stream_remote_clear(void)
{
    while (stream_g.remote)
        stream_remote_del(stream_g.remote);
}

/* Heard of a session on another instance: to the front of the mirror. */
static void stream_remote_put(const char *id, const char *from, const cJSON *ev)
{
    struct stream_remote *r = stream_remote_find(id);
    if (r) {
        stream_remote_del(r);
    } else if (stream_g.nremote >= STREAM_REMOTE_MAX) {
        struct stream_remote *last = stream_g.remote;
        while (last->next)
            last = last->next;
        stream_remote_del(last);
    }
    r = calloc(1, sizeof *r);
    if (!r)
        return;
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->instance, sizeof r->instance, "%s", from);
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(ev, "connected_at");
    snprintf(r->connected_at, sizeof r->connected_at, "%s", cJSON_IsString(at) ? at->valuestring : "");
    const cJSON *rx = cJSON_GetObjectItemCaseSensitive(ev, "received"), *tx = cJSON_GetObjectItemCaseSensitive(ev, "sent");
    r->received = cJSON_IsNumber(rx) && rx->valuedouble >= 0 ? (uint64_t)rx->valuedouble : 0;
    r->sent = cJSON_IsNumber(tx) && tx->valuedouble >= 0 ? (uint64_t)tx->valuedouble : 0;
    r->seen_ms = clock_mono_ms();
    r->next = stream_g.remote;
    if (stream_g.remote)
        stream_g.remote->prev = r;
    stream_g.remote = r;
    stream_g.nremote++;
}

static struct stream *stream_local(const char *id)
{
    struct conn *c = stream_find(id);
    return c ? c->app : NULL;
}

/* Every session is due now: the tick republishes them, STREAM_REFRESH_PER_TICK at a time. */
static void stream_republish_all(void)
{
    for (struct stream *st = stream_g.live; st; st = st->next)
        st->refresh_at = 0;
}

/* One event from the bus (our own ones come back too: skipped). */
static void stream_bus_message(void *ud, const char *msg, size_t len)
{
    (void)ud;
    cJSON *ev = cJSON_ParseWithLength(msg, len);
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(ev, "op"), *from = cJSON_GetObjectItemCaseSensitive(ev, "from");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "session_id");
    if (!cJSON_IsString(op) || !cJSON_IsString(from) || strcmp(from->valuestring, stream_g.bus->instance) == 0) {
        cJSON_Delete(ev);
        return;
    }
    const char *o = op->valuestring, *sid = cJSON_IsString(id) ? id->valuestring : NULL;
    if (strcmp(o, "hello") == 0) {
        stream_republish_all();
    } else if (sid && strlen(sid) <= ROUTE_ID_MAX && strcmp(o, "chat") == 0) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(ev, "message");
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(ev, "timestamp");
        if (cJSON_IsString(text) && cJSON_IsString(ts))
            stream_broadcast(sid, text->valuestring, ts->valuestring);
    } else if (sid && strlen(sid) <= ROUTE_ID_MAX && (strcmp(o, "open") == 0 || strcmp(o, "stats") == 0)) {
        struct stream *mine = stream_local(sid);
        if (mine && strcmp(o, "open") == 0) {
            log_event(LOG_INFO, mine->conn->id, "session_replaced", "by instance=%s", from->valuestring);
            mine->replaced_remotely = true;
            conn_close_ws(mine->srv, mine->conn, WS_CLOSE_REPLACED, "replaced by a newer connection for this session");
        }
        stream_remote_put(sid, from->valuestring, ev);
    } else if (sid && strcmp(o, "close") == 0) {
        struct stream_remote *r = stream_remote_find(sid);
        if (r && strcmp(r->instance, from->valuestring) == 0)
            stream_remote_del(r);
    } else if (sid && strcmp(o, "disconnect") == 0) {
        struct stream *mine = stream_local(sid);
        if (mine)
            conn_close_ws(mine->srv, mine->conn, WS_CLOSE_NORMAL, "disconnected by request");
    }
    cJSON_Delete(ev);
}

/* Redis came back: tell the others (they republish theirs) and republish
 * ours. It went: other instances' sessions are out of reach. */
static void stream_bus_state(void *ud, bool up)
{
    (void)ud;
    if (!up) {
        stream_remote_clear();
        return;
    }
    (void)stream_bus_send(stream_bus_event("hello", NULL));
    stream_republish_all();
}

void stream_set_bus(const struct shared_bus *bus)
{
    stream_g.bus = bus;
    if (!bus)
        return;
    if (!bus->subscribe(bus->ctx, STREAM_CHANNEL, stream_bus_message, NULL) ||
        !bus->on_state(bus->ctx, stream_bus_state, NULL))
        log_event(LOG_ERROR, 0, "stream_bus", "cannot subscribe: seed 004 stays local to this instance");
}

void stream_tick(void *ctx)
{
    (void)ctx;
    uint64_t now = clock_mono_ms();
    if (!stream_g.bus)
        return;
    unsigned budget = STREAM_REFRESH_PER_TICK;
    for (struct stream *st = stream_g.live; st && budget; st = st->next)
        if (st->refresh_at <= now && conn_is_open(st->conn)) {
            stream_bus_announce(st, "stats");
            budget--;
        }
    for (struct stream_remote *r = stream_g.remote, *next; r; r = next) {
        next = r->next;
        if (now - r->seen_ms > STREAM_REMOTE_TTL_MS)
            stream_remote_del(r);
    }
}

static void stream_chat(struct stream *st, const cJSON *msg)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "message");
    const struct server *s = st->srv;
    if (!cJSON_IsString(text)) {
        stream_error(st, "INVALID_MESSAGE", "chat needs a string field \"message\"");
        return;
    }
    /* Each receiver gets its own copy in its send ring: keep broadcasts
     * small enough to fit, so memory stays bounded by the rings. */
    if (strlen(text->valuestring) > CONN_PIECE_MAX(s->cfg.tx_buffer_size)) {
        stream_error(st, "MESSAGE_TOO_LARGE", "chat message longer than half the send ring");
        return;
    }
    char ts[CLOCK_ISO_LEN];
    clock_iso8601(ts);
    if (!stream_bus_chat(st->conn->client_id, text->valuestring, ts))
        stream_error(st, "MESSAGE_TOO_LARGE", "chat delivered to this instance's sessions only: longer than the "
                                              "shared bus carries");
    stream_broadcast(st->conn->client_id, text->valuestring, ts);
}

static void stream_on_message(struct stream *st, const char *type, const cJSON *msg)
{
    st->received++;
    if (strcmp(type, "ping") == 0) {
        stream_send(st, stream_event("pong"));
    } else if (strcmp(type, "test") == 0) {
        cJSON *o = stream_event("test_response");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(msg, "data");
        if (o)
            cJSON_AddItemToObject(o, "data", data ? cJSON_Duplicate(data, true) : cJSON_CreateNull());
        stream_send(st, o);
    } else if (strcmp(type, "chat") == 0) {
        stream_chat(st, msg);
    } else if (strcmp(type, "audio") == 0) {
        stream_audio(st, msg);
    } else if (strcmp(type, "video") == 0) {
        uint8_t *buf;
        size_t len;
        if (stream_data(st, msg, &buf, &len, true)) {
            free(buf); /* checked and counted; video is not analysed or kept */
            stream_ack(st, "video_received", len);
        }
    } else if (strcmp(type, "transcription_request") == 0) {
        uint8_t *buf;
        size_t len;
        if (!stream_data(st, msg, &buf, &len, false))
            return;
        if (!buf && st->audio_len && !st->stt && ai_have_key(stream_g.ai)) {
            /* no data: transcribe the audio sent so far */
            buf = st->audio;
            len = st->audio_len;
            st->audio = NULL;
            st->audio_len = 0;
        }
        stream_transcribe(st, buf, len);
    } else {
        char m[128];
        snprintf(m, sizeof m, "unknown message type \"%.40s\"", type);
        stream_error(st, "UNKNOWN_TYPE", m);
    }
}

/* A message that failed validation or was refused: answered with error +
 * session_id (it counts as received). */
static void stream_on_invalid(struct conn *c, const char *code, const char *message)
{
    struct stream *st = c->app;
    if (st) {
        st->received++;
        stream_error(st, code, message);
    }
}

static void stream_on_text(struct server *s, struct conn *c, const uint8_t *p, size_t n)
{
    struct stream *st = c->app;
    const char *type;
    struct message_error err;
    cJSON *root = message_parse(p, n, (unsigned)s->cfg.json_max_depth, &type, &err);
    if (!root) {
        log_event(LOG_INFO, c->id, "message_rejected", "code=%s %s", err.code, err.text);
        stream_on_invalid(c, err.code, err.text);
        return;
    }
    if (strcmp(type, "transcription_request") == 0 && !conn_take_ai_turn(s, c))
        ; /* answered with RATE_LIMITED */
    else if (st)
        stream_on_message(st, type, root);
    cJSON_Delete(root);
}

static void stream_on_binary(struct server *s, struct conn *c, const uint8_t *p, size_t n)
{
    static const char msg[] = "binary messages are not accepted on this path";
    (void)s, (void)p, (void)n;
    log_event(LOG_INFO, c->id, "message_rejected", "code=UNSUPPORTED_BINARY %s", msg);
    stream_on_invalid(c, "UNSUPPORTED_BINARY", msg);
}

static void stream_on_refused(struct server *s, struct conn *c, bool binary, const uint8_t *p, size_t n,
                              const char *message)
{
    (void)s, (void)binary, (void)p, (void)n;
    stream_on_invalid(c, "RATE_LIMITED", message);
}

static void stream_on_open(struct server *s, struct conn *c)
{
    struct conn *old = stream_find(c->client_id);
    if (old && old != c) {
        log_event(LOG_INFO, old->id, "session_replaced", "by conn=%llu", (unsigned long long)c->id);
        conn_close_ws(s, old, WS_CLOSE_REPLACED, "replaced by a newer connection for this session");
    }
    struct stream *st = calloc(1, sizeof *st);
    if (!st) {
        conn_close_ws(s, c, WS_CLOSE_INTERNAL, "out of memory");
        return;
    }
    st->srv = s;
    st->conn = c;
    clock_iso8601(st->connected_at);
    c->app = st;
    st->next = stream_g.live;
    if (stream_g.live)
        stream_g.live->prev = st;
    stream_g.live = st;
    cJSON *o = stream_event("connection_established");
    if (o)
        cJSON_AddStringToObject(o, "message", "Connected to stream session");
    stream_send(st, o);
    stream_bus_announce(st, "open");
}

static void stream_on_close(struct server *s, struct conn *c)
{
    struct stream *st = c->app;
    (void)s;
    if (!st)
        return;
    if (st->prev)
        st->prev->next = st->next;
    else
        stream_g.live = st->next;
    if (st->next)
        st->next->prev = st->prev;
    /* a session replaced by a newer one of the same id is not announced gone */
    if (stream_g.bus && !st->replaced_remotely && !stream_find(c->client_id)) {
        char key[ROUTE_ID_MAX + 32];
        snprintf(key, sizeof key, "stream:session:%s", c->client_id);
        (void)stream_g.bus->del(stream_g.bus->ctx, key);
        (void)stream_bus_send(stream_bus_event("close", c->client_id));
    }
    stream_stt_reset(st);
    free(st->audio);
    free(st);
    c->app = NULL;
}

/* ---- HTTP endpoints ------------------------------------------------------- */

const struct conn_handlers stream_handlers = {
    .open = stream_on_open, .text = stream_on_text, .binary = stream_on_binary,
    .close = stream_on_close, .refused = stream_on_refused,
};

void stream_setup(const struct turn_config *turn, struct ai *ai)
{
    stream_g.turn = turn;
    stream_g.ai = ai;
}

int stream_status(struct server *s, const char *id, char *out, size_t cap)
{
    struct conn *c = stream_find(id);
    (void)s;
    struct stream *st = c ? c->app : NULL;
    const struct stream_remote *r = st ? NULL : stream_remote_find(id);
    if (r) {
        snprintf(out, cap,
                 "{\"session_id\":\"%s\",\"connected\":true,\"connected_at\":\"%s\","
                 "\"messages_received\":%llu,\"messages_sent\":%llu,\"instance\":\"%s\"}",
                 id, r->connected_at, (unsigned long long)r->received, (unsigned long long)r->sent, r->instance);
        return 200;
    }
    if (!st) {
        snprintf(out, cap, "{\"error\":\"session not connected\",\"status\":404,\"session_id\":\"%s\"}", id);
        return 404;
    }
    snprintf(out, cap,
             "{\"session_id\":\"%s\",\"connected\":true,\"connected_at\":\"%s\","
             "\"messages_received\":%llu,\"messages_sent\":%llu}",
             id, st->connected_at, (unsigned long long)st->received, (unsigned long long)st->sent);
    return 200;
}

int stream_disconnect(struct server *s, const char *id, char *out, size_t cap)
{
    struct conn *c = stream_find(id);
    struct stream_remote *r = c ? NULL : stream_remote_find(id);
    if (r) {
        /* the owning instance closes it when the event reaches it */
        cJSON *ev = stream_bus_event("disconnect", id);
        if (ev)
            cJSON_AddStringToObject(ev, "owner", r->instance);
        if (!stream_bus_send(ev)) {
            snprintf(out, cap, "{\"error\":\"session is on another instance, which cannot be reached now\","
                               "\"status\":503,\"session_id\":\"%s\"}", id);
            return 503;
        }
        stream_remote_del(r);
        snprintf(out, cap, "{\"status\":\"disconnected\",\"session_id\":\"%s\"}", id);
        return 200;
    }
    if (!c) {
        snprintf(out, cap, "{\"error\":\"session not connected\",\"status\":404,\"session_id\":\"%s\"}", id);
        return 404;
    }
    conn_close_ws(s, c, WS_CLOSE_NORMAL, "disconnected by request");
    snprintf(out, cap, "{\"status\":\"disconnected\",\"session_id\":\"%s\"}", id);
    return 200;
}

#undef STREAM_STT_BODY_MAX
#undef STREAM_TEXT_MAX
#undef STREAM_CHANNEL
#undef STREAM_REFRESH_MS
#undef STREAM_REMOTE_TTL_MS
#undef STREAM_REFRESH_PER_TICK
#undef STREAM_REMOTE_MAX
#undef STREAM_BUS_MSG_MAX
