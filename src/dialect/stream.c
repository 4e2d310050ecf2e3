/* The seed 004 stream API on /api/stream/ws/{session_id}: ping, test echo,
 * chat broadcast, audio/video upload acknowledgements, transcription of
 * uploaded audio; plus the status and disconnect HTTP endpoints. Every
 * message carries session_id and timestamp.
 *
 * Policies: a second connection with a session id that is connected replaces
 * the first (close 4000). A broadcast receiver whose send ring cannot take a
 * chat message is closed with 1013 rather than silently skipped, so the
 * others never wait for it. deps: ai.c b64.c, cJSON */
#include "dialect/stream.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/b64.h"
#include "io/clock.h"
#include "io/log.h"
#include "pipeline/ai.h"
#include "pipeline/turn.h"
#include "io/server.h"
#include "dialect/message.h"

#define STREAM_STT_BODY_MAX 16384 /* transcription response body */
#define STREAM_TEXT_MAX 8192      /* one transcript */

struct stream {
    struct stream *prev, *next; /* stream_g.live: the open sessions, for broadcasts and look-ups */
    struct server *srv;
    struct conn *conn;
    char connected_at[CLOCK_ISO_LEN];
    uint64_t received, sent;
    uint8_t *audio; /* audio messages kept for a transcription_request without data */
    size_t audio_len;
    /* one transcription at a time */
    struct ai_call *stt;
    uint8_t *file;
};

/* What every stream session shares (stream_setup), and the open sessions. */
static struct {
    const struct turn_config *turn;
    struct ai *ai;
    struct stream *live;
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

static void stream_chat(struct stream *st, const cJSON *msg)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "message");
    struct server *s = st->srv;
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
    for (struct stream *to = stream_g.live, *next; to; to = next) {
        struct conn *c = to->conn;
        next = to->next; /* closing a receiver keeps it listed until its connection is gone */
        if (!conn_is_open(c))
            continue;
        cJSON *o = stream_event("chat_message");
        if (!o)
            return;
        cJSON_AddStringToObject(o, "message", text->valuestring);
        cJSON_AddStringToObject(o, "session_id", st->conn->client_id); /* the sender */
        char ts[CLOCK_ISO_LEN], *out;
        cJSON_AddStringToObject(o, "timestamp", clock_iso8601(ts));
        out = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (out && conn_send_text(s, c, out, strlen(out))) {
            to->sent++;
        } else {
            log_event(LOG_WARN, c->id, "broadcast_receiver_too_slow", "closing with 1013");
            conn_close_ws(s, c, WS_CLOSE_TRY_AGAIN, "too slow to receive broadcasts");
        }
        free(out);
    }
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
