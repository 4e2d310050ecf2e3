/* deps: jsonv.c utf8.c clock.c log.c fastmsg.c, cJSON */
#include "dialect/app.h"

#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#include "io/clock.h"
#include "dialect/dialect.h"
#include "io/guard.h"
#include "parse/fastmsg.h"
#include "dialect/stream.h"
#include "parse/jsonv.h"
#include "io/log.h"
#include "io/server.h"
#include "dialect/sio.h"

#define APP_OUT_MAX 768 /* one reply, well under CONN_REPLY_RESERVE */
#define APP_TYPE_ECHO_MAX 64 /* how much of an unknown type we quote back */

/* Serialise obj into out without heap for the text; false if too long. */
static bool app_print(cJSON *obj, char *out, size_t cap)
{
    return cJSON_PrintPreallocated(obj, out, (int)cap, false) != 0;
}

static void app_send_obj(struct server *s, struct conn *c, cJSON *obj)
{
    char out[APP_OUT_MAX];
    if (!obj)
        return;
    cJSON_AddStringToObject(obj, "timestamp", clock_iso8601((char[CLOCK_ISO_LEN]){0}));
    if (app_print(obj, out, sizeof out) && !conn_send_text(s, c, out, strlen(out)))
        log_event(LOG_WARN, c->id, "reply_dropped", "send ring full");
    cJSON_Delete(obj);
}

/* {"type":"error","message":...,"code":...,"timestamp":...}: the connection stays open. */
static void app_error(struct server *s, struct conn *c, const char *code, const char *message)
{
    log_event(LOG_INFO, c->id, "message_rejected", "code=%s %s", code, message);
    if (c->route == ROUTE_WS_STREAM) {
        stream_on_invalid(s, c, code, message); /* seed 004: with session_id */
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "type", "error");
    cJSON_AddStringToObject(o, "message", message);
    cJSON_AddStringToObject(o, "code", code);
    app_send_obj(s, c, o);
}

void app_on_refused(struct server *s, struct conn *c, bool binary, const uint8_t *p, size_t n,
                    const char *message)
{
    if (c->route == ROUTE_WS_STREAM) {
        stream_on_invalid(s, c, "RATE_LIMITED", message); /* seed 004: with session_id */
        return;
    }
    if (c->route == ROUTE_SIO) {
        sio_on_refused(s, c, binary, p, n, message); /* keeps the packet framing */
        return;
    }
    cJSON *o = cJSON_CreateObject();
    char out[512];
    if (!o)
        return;
    cJSON_AddStringToObject(o, "type", "error");
    cJSON_AddStringToObject(o, "message", message); /* seed 001 reads message, seed 000 error */
    cJSON_AddStringToObject(o, "error", message);
    cJSON_AddStringToObject(o, "code", "RATE_LIMITED");
    cJSON_AddStringToObject(o, "timestamp", clock_iso8601((char[CLOCK_ISO_LEN]){0}));
    if (cJSON_PrintPreallocated(o, out, (int)sizeof out, false)) /* queued: never dropped */
        conn_send_text_queued(s, c, out, strlen(out));
    cJSON_Delete(o);
}

/* Length of the longest prefix of s, at most max bytes, that does not cut a
 * UTF-8 sequence (a cut one would make our text frame invalid). */
static size_t app_utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

void app_on_open(struct server *s, struct conn *c)
{
    if (c->route == ROUTE_SIO)
        sio_on_open(s, c);
    else if (c->route == ROUTE_WS_CLIENT)
        dialect_on_open(s, c);
    else
        stream_on_open(s, c);
}

void app_on_drain(struct server *s, struct conn *c)
{
    if (c->route == ROUTE_SIO)
        sio_on_drain(s, c);
    else if (c->route == ROUTE_WS_CLIENT)
        dialect_on_drain(s, c);
}

static void app_pong(struct server *s, struct conn *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "type", "pong");
    app_send_obj(s, c, o);
}

/* Messages that start an upstream pipeline: counted against AI_TURNS_PER_MINUTE. */
static bool app_starts_ai(const struct conn *c, const char *type)
{
    if (c->route == ROUTE_WS_STREAM)
        return strcmp(type, "transcription_request") == 0;
    return strcmp(type, "send_for_AI_processing") == 0 || strcmp(type, "start_interview") == 0;
}

/* {"type":"pong","timestamp":T}: a fixed template, as cJSON printed it. */
static void app_pong_fast(struct server *s, struct conn *c)
{
    static const char head[] = "{\"type\":\"pong\",\"timestamp\":\"", tail[] = "\"}";
    char out[sizeof head + CLOCK_ISO_LEN + sizeof tail], ts[CLOCK_ISO_LEN];
    size_t tl = strlen(clock_iso8601(ts)), n = 0; /* memcpy: snprintf showed in the profile */
    memcpy(out, head, sizeof head - 1);
    n += sizeof head - 1;
    memcpy(out + n, ts, tl);
    n += tl;
    memcpy(out + n, tail, sizeof tail - 1);
    n += sizeof tail - 1;
    if (!conn_send_text(s, c, out, n))
        log_event(LOG_WARN, c->id, "reply_dropped", "send ring full");
}

/* The hot messages (ping, seed 001 audio_chunk) in one pass without cJSON;
 * false hands the message to the general path, which judges everything else
 * (fastmsg.h says why the answers are the same). */
static bool app_fast(struct server *s, struct conn *c, const uint8_t *p, size_t n)
{
    static int16_t samples[DIALECT_MAX_CHUNK_SAMPLES]; /* one loop thread */
    struct fastmsg m;
    if (c->route != ROUTE_WS_CLIENT || s->cfg.json_max_depth < 2)
        return false;
    switch (fastmsg_parse(p, n, samples, DIALECT_MAX_CHUNK_SAMPLES, &m)) {
    case FASTMSG_PING:
        app_pong_fast(s, c);
        return true;
    case FASTMSG_AUDIO:
        return dialect_on_samples(s, c, samples, m.nsamples, m.sumsq);
    default:
        return false;
    }
}

void app_on_text(struct server *s, struct conn *c, const uint8_t *p, size_t n)
{
    if (c->route == ROUTE_SIO) {
        sio_on_text(s, c, p, n);
        return;
    }
    if (app_fast(s, c, p, n))
        return;
    size_t off = 0;
    int v = jsonv_validate(p, n, (unsigned)s->cfg.json_max_depth, &off);
    if (v != JSONV_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, "invalid JSON at byte %zu: %s", off, jsonv_strerror(v));
        app_error(s, c, "INVALID_JSON", msg);
        return;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)p, n);
    if (!root) {
        app_error(s, c, "SERVER_BUSY", "out of memory parsing message");
        return;
    }
    const cJSON *type = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "type") : NULL;
    if (!cJSON_IsObject(root))
        app_error(s, c, "INVALID_MESSAGE", "message must be a JSON object");
    else if (!cJSON_IsString(type))
        app_error(s, c, "INVALID_MESSAGE", "message needs a string field \"type\"");
    else if (app_starts_ai(c, type->valuestring) && !guard_ai_turn(s, c))
        ; /* answered with RATE_LIMITED */
    else if (c->route == ROUTE_WS_STREAM)
        stream_on_message(s, c, type->valuestring, root);
    else if (strcmp(type->valuestring, "ping") == 0)
        app_pong(s, c);
    else if (c->route == ROUTE_WS_CLIENT && dialect_on_message(s, c, type->valuestring, root))
        ;
    else {
        char msg[APP_TYPE_ECHO_MAX + 32];
        snprintf(msg, sizeof msg, "unknown message type \"%.*s\"",
                 (int)app_utf8_prefix(type->valuestring, APP_TYPE_ECHO_MAX), type->valuestring);
        app_error(s, c, "UNKNOWN_TYPE", msg);
    }
    cJSON_Delete(root);
}

void app_on_binary(struct server *s, struct conn *c, const uint8_t *p, size_t n)
{
    if (c->route == ROUTE_SIO) {
        sio_on_binary(s, c, p, n);
        return;
    }
    (void)p;
    (void)n;
    app_error(s, c, "UNSUPPORTED_BINARY", "binary messages are not accepted on this path");
}

void app_on_close(struct server *s, struct conn *c)
{
    if (c->route == ROUTE_SIO)
        sio_on_close(s, c);
    else if (c->route == ROUTE_WS_CLIENT)
        dialect_on_close(s, c);
    else
        stream_on_close(s, c);
}

#undef APP_OUT_MAX
#undef APP_TYPE_ECHO_MAX
