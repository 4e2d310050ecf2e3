/* The interview dialects on /ws/{client_id}: seed 001/002 (int16 sample
 * arrays, send_for_AI_processing, streamed binary audio) and seed 000 (base64
 * PCM with isSpeaking, the true->false transition ends the answer, one
 * ai_response with the audio in base64). The variant is told per message
 * from the shape of audio_chunk's data, so a seed 001 client gets everything
 * seed 001 promises and at most a few extra message types it may ignore.
 * deps: turn.c b64.c, cJSON */
#include "dialect/dialect.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/audio.h"
#include "parse/b64.h"
#include "parse/fastmsg.h"
#include "io/clock.h"
#include "io/log.h"
#include "io/server.h"
#include "pipeline/session.h"
#include "pipeline/turn.h"
#include "dialect/message.h"

#define DLG_MAX_CHUNK_SAMPLES DIALECT_MAX_CHUNK_SAMPLES
#define DLG_V000_AUDIO_MAX (2u << 20) /* seed 000: reply audio held for one base64 message */
#define DLG_OUT_MAX 768 /* one validation error or pong, well under CONN_REPLY_RESERVE */
/* Messages held while a saved interview is fetched (a remote store answers
 * within REDIS_TIMEOUT: 200 ms is ~4 seed 001 audio chunks); past this the
 * interview starts fresh rather than hold more. */
#define DLG_HOLD_MAX 64

/* What every /ws/ connection shares (dialect_setup). */
static struct {
    const struct turn_config *turn;
    struct ai *ai;
} dlg_g;

static const struct turn_sink dlg_sink_ref;

/* A message that came while the saved interview was being fetched. */
struct dlg_held {
    struct dlg_held *next;
    size_t n;
    uint8_t p[];
};

struct dlg {
    struct server *srv;
    struct conn *conn;
    struct turn *sess;
    bool v000;        /* this client speaks the seed 000 variant */
    bool speaking;    /* seed 000: last isSpeaking */
    bool ending;      /* end_interview received */
    bool metrics;     /* start_interview "metrics": true: a turn_metrics event after each turn */
    bool resumable;   /* id long enough: listed in dlg_live, saved when the connection goes */
    bool restoring;   /* session_take asked, not answered: messages wait in held */
    bool stopping;    /* server shutdown: close with 1001 once the reply is out */
    uint8_t *v000_audio;
    size_t v000_len;
    struct dlg *live_prev, *live_next;
    struct dlg_held *held, **held_tail;
    uint32_t nheld;
};

/* The resumable connections of this process, to find the one a newer
 * connection with the same id replaces (a linear walk per connect: ids are
 * compared only among connections with long ids). */
static struct dlg *dlg_live;

/* One loop thread: a single decode buffer serves every client. */
static int16_t dlg_samples[DLG_MAX_CHUNK_SAMPLES];

/* The turn (history, buffers) exists from the first interview message on,
 * so an idle connection costs only this small struct. */
static struct turn *dlg_sess(struct dlg *d)
{
    if (!d->sess)
        d->sess = turn_new(dlg_g.turn, dlg_g.ai, &dlg_sink_ref, d);
    if (!d->sess)
        log_event(LOG_ERROR, d->conn->id, "out_of_memory", "session");
    else
        turn_set_log_id(d->sess, d->conn->id);
    return d->sess;
}

/* ---- resuming (README "Resuming an interview") ------------------------- */

/* Save the interview under the connection's id (the turn stays). A turn in
 * flight is not in it: history holds the completed turns, and an answer
 * whose reply had not finished is kept as unanswered (the next
 * send_for_AI_processing without new audio asks again). */
static bool dlg_save(struct dlg *d)
{
    if (!d->resumable || !d->sess)
        return false;
    struct session_rec *r = calloc(1, sizeof *r);
    if (!r)
        return false;
    r->turns = turn_answers(d->sess);
    r->v000 = d->v000;
    r->has_det = true;
    r->det = *turn_get_detection(d->sess);
    r->unanswered = turn_unanswered(d->sess);
    uint32_t n = turn_history_len(d->sess);
    for (uint32_t i = n > SESSION_HIST_MAX ? n - SESSION_HIST_MAX : 0; i < n; i++) {
        struct session_msg *m = &r->hist[r->nhist++];
        turn_history_at(d->sess, i, &m->role, &m->content, &m->ts);
    }
    size_t len = 0;
    char *blob = session_encode(r, &len);
    free(r);
    if (!blob || !session_put(d->conn->client_id, blob, len, clock_mono_ms()))
        log_event(LOG_WARN, d->conn->id, "session_not_saved", "%s", blob ? "over SESSION_STORE_BYTES" : "out of memory");
    else
        log_event(LOG_INFO, d->conn->id, "session_saved", "turns=%u bytes=%zu", turn_answers(d->sess), len);
    free(blob);
    return true;
}

static void dlg_unlist(struct dlg *d)
{
    if (!d->resumable)
        return;
    if (d->live_prev)
        d->live_prev->live_next = d->live_next;
    else
        dlg_live = d->live_next;
    if (d->live_next)
        d->live_next->live_prev = d->live_prev;
    d->live_prev = d->live_next = NULL;
    d->resumable = false;
}

static void dlg_send(struct dlg *d, cJSON *o);
static cJSON *dlg_event(const char *type);
static void dlg_on_text(struct server *s, struct conn *c, const uint8_t *p, size_t n);

static void dlg_restore(struct dlg *d, const struct session_rec *r)
{
    if (!dlg_sess(d))
        return;
    d->v000 = r->v000;
    if (r->has_det)
        turn_set_detection(d->sess, &r->det);
    for (uint32_t i = 0; i < r->nhist; i++)
        turn_history_add(d->sess, r->hist[i].role, r->hist[i].content, r->hist[i].ts);
    turn_set_answers(d->sess, r->turns);
    turn_set_unanswered(d->sess, r->unanswered);
    log_event(LOG_INFO, d->conn->id, "session_resumed", "turns=%u messages=%u", r->turns, r->nhist);
    cJSON *o = dlg_event("session_resumed");
    if (o)
        cJSON_AddNumberToObject(o, "turns", r->turns);
    dlg_send(d, o);
}

/* The messages that waited for the restore, in order. */
static void dlg_replay(struct dlg *d)
{
    struct dlg_held *h = d->held;
    d->held = NULL;
    d->held_tail = &d->held;
    d->nheld = 0;
    while (h) {
        struct dlg_held *next = h->next;
        if (d->conn->app == d && conn_is_open(d->conn))
            dlg_on_text(d->srv, d->conn, h->p, h->n);
        free(h);
        h = next;
    }
}

static void dlg_on_taken(void *arg, const char *blob, size_t n)
{
    struct dlg *d = arg;
    d->restoring = false;
    if (blob) {
        struct session_rec *r = calloc(1, sizeof *r);
        void *tree = r ? session_decode(blob, n, r) : NULL;
        if (tree)
            dlg_restore(d, r);
        else
            log_event(LOG_WARN, d->conn->id, "session_unreadable", "%zu bytes: the interview starts afresh", n);
        session_decoded_free(tree);
        free(r);
    }
    dlg_replay(d);
}

/* Hold a message until the restore answers; false when the hold is full
 * (the restore is given up: the interview starts afresh). */
static bool dlg_hold(struct dlg *d, const uint8_t *p, size_t n)
{
    struct dlg_held *h = d->nheld < DLG_HOLD_MAX ? malloc(sizeof *h + n) : NULL;
    if (!h) {
        log_event(LOG_WARN, d->conn->id, "session_restore_abandoned", "%u messages waited", d->nheld);
        session_take_cancel(d);
        dlg_on_taken(d, NULL, 0);
        return false;
    }
    h->next = NULL;
    h->n = n;
    memcpy(h->p, p, n);
    *d->held_tail = h;
    d->held_tail = &h->next;
    d->nheld++;
    return true;
}

/* A newer connection with this id: the older one is saved and closed 4000. */
static void dlg_replace(struct dlg *old)
{
    log_event(LOG_INFO, old->conn->id, "session_replaced", "a newer connection took this client_id");
    if (old->restoring) {
        session_take_cancel(old);
        old->restoring = false;
    }
    dlg_save(old);
    turn_free(old->sess);
    old->sess = NULL;
    dlg_unlist(old);
    conn_close_ws(old->srv, old->conn, WS_CLOSE_REPLACED, "replaced by a newer connection for this client_id");
}

/* Another instance took id: a live connection of it here is saved and closed. */
static void dlg_taken_elsewhere(const char *id)
{
    for (struct dlg *o = dlg_live; o; o = o->live_next)
        if (strcmp(o->conn->client_id, id) == 0) {
            dlg_replace(o);
            return;
        }
}

static void dlg_resume(struct dlg *d)
{
    const char *id = d->conn->client_id;
    if (strlen(id) < SESSION_ID_MIN)
        return;
    for (struct dlg *o = dlg_live; o; o = o->live_next)
        if (strcmp(o->conn->client_id, id) == 0) {
            dlg_replace(o);
            break;
        }
    d->resumable = true;
    d->live_next = dlg_live;
    if (dlg_live)
        dlg_live->live_prev = d;
    dlg_live = d;
    d->restoring = true;
    session_take(id, dlg_on_taken, d, clock_mono_ms());
}

/* ---- sending ------------------------------------------------------------ */

static void dlg_send(struct dlg *d, cJSON *o)
{
    char ts[CLOCK_ISO_LEN];
    if (!o)
        return;
    cJSON_AddStringToObject(o, "timestamp", clock_iso8601(ts));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return;
    if (!conn_send_text_queued(d->srv, d->conn, text, strlen(text)))
        log_event(LOG_WARN, d->conn->id, "event_not_sent", "closing or out of memory");
    free(text);
}

static cJSON *dlg_event(const char *type)
{
    cJSON *o = cJSON_CreateObject();
    if (o)
        cJSON_AddStringToObject(o, "type", type);
    return o;
}

static void dlg_simple(struct dlg *d, const char *type, const char *key, const char *value)
{
    cJSON *o = dlg_event(type);
    if (o && key)
        cJSON_AddStringToObject(o, key, value);
    dlg_send(d, o);
}

/* Seed 001 reads "message", seed 000 reads "error": both are sent. */
static void dlg_error(struct dlg *d, const char *code, const char *message)
{
    log_event(LOG_INFO, d->conn->id, "error_sent", "code=%s %s", code, message);
    cJSON *o = dlg_event("error");
    if (!o)
        return;
    cJSON_AddStringToObject(o, "message", message);
    cJSON_AddStringToObject(o, "error", message);
    cJSON_AddStringToObject(o, "code", code);
    dlg_send(d, o);
}

/* ---- the pipeline's sink ------------------------------------------------ */

static void dlg_on_transcript(void *ctx, const char *text)
{
    dlg_simple(ctx, "user_transcript", "text", text);
}

static void dlg_on_generating(void *ctx, enum turn_kind kind)
{
    struct dlg *d = ctx;
    if (!d->v000)
        dlg_simple(d, "thinking", "message",
                   kind == TURN_OPENING ? "Preparing for interview..." : "Let me consider your response...");
}

static void dlg_on_first_sentence(void *ctx, enum turn_kind kind)
{
    struct dlg *d = ctx;
    if (!d->v000 && kind == TURN_ANSWER)
        dlg_send(d, dlg_event("thinking_complete"));
}

static bool dlg_audio_room(void *ctx, size_t n)
{
    struct dlg *d = ctx;
    if (d->v000)
        return true;
    if (conn_send_room(d->conn, d->srv) >= n)
        return true;
    conn_want_drain(d->conn);
    return false;
}

static void dlg_on_audio(void *ctx, const uint8_t *p, size_t n, double amplitude)
{
    struct dlg *d = ctx;
    if (d->v000) {
        if (!d->v000_audio)
            d->v000_audio = malloc(DLG_V000_AUDIO_MAX);
        size_t room = d->v000_audio ? DLG_V000_AUDIO_MAX - d->v000_len : 0;
        if (n > room) {
            log_event(LOG_WARN, d->conn->id, "reply_audio_cap", "reply audio over %u bytes cut",
                      DLG_V000_AUDIO_MAX);
            n = room;
        }
        if (n)
            memcpy(d->v000_audio + d->v000_len, p, n);
        d->v000_len += n;
        return;
    }
    cJSON *o = dlg_event("ai_audio_chunk");
    if (o)
        cJSON_AddNumberToObject(o, "amplitude", round(amplitude * 1000) / 1000);
    dlg_send(d, o);
    if (!conn_send_binary(d->srv, d->conn, p, n))
        log_event(LOG_WARN, d->conn->id, "audio_not_sent", "%zu bytes", n);
}

/* Seed 000: {"type":"ai_response","text":...,"audio":base64|null} as one
 * message, streamed out through the send ring however large it is. */
static void dlg_send_v000_reply(struct dlg *d, const char *text)
{
    cJSON *o = dlg_event("ai_response");
    if (!o)
        return;
    cJSON_AddStringToObject(o, "text", text);
    cJSON_AddNullToObject(o, "audio");
    char ts[CLOCK_ISO_LEN];
    cJSON_AddStringToObject(o, "timestamp", clock_iso8601(ts));
    if (d->v000_len) {
        size_t b64 = b64_encoded_len(d->v000_len) + 1; /* v000_len is capped at 2 MiB */
        char *enc = malloc(b64);
        if (enc && b64_encode(d->v000_audio, d->v000_len, enc, b64) >= 0)
            cJSON_ReplaceItemInObject(o, "audio", cJSON_CreateString(enc));
        free(enc);
    }
    free(d->v000_audio);
    d->v000_audio = NULL;
    d->v000_len = 0;
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (json && !conn_send_text_owned(d->srv, d->conn, json, strlen(json)))
        log_event(LOG_WARN, d->conn->id, "event_not_sent", "ai_response");
}

static void dlg_stop_now(struct dlg *d);

static void dlg_on_reply_done(void *ctx, enum turn_kind kind, const char *text, bool audio_ok)
{
    struct dlg *d = ctx;
    (void)audio_ok;
    if (d->v000 && kind == TURN_ANSWER)
        dlg_send_v000_reply(d, text);
    else
        dlg_simple(d, kind == TURN_OPENING ? "interview_started" : "ai_response_complete",
                   kind == TURN_OPENING ? "message" : "text", text);
    if (d->stopping)
        dlg_stop_now(d);
}

static void dlg_on_error(void *ctx, enum turn_error e, const char *message)
{
    static const char *const codes[] = {
        [TURN_E_NO_KEY] = "CONFIG_ERROR",         [TURN_E_BUSY] = "ALREADY_PROCESSING",
        [TURN_E_EMPTY] = "EMPTY_ANSWER",          [TURN_E_BUFFER] = "BUFFER_ERROR",
        [TURN_E_TRANSCRIPTION] = "TRANSCRIPTION_ERROR",
        [TURN_E_EMPTY_TRANSCRIPT] = "EMPTY_TRANSCRIPT",
        [TURN_E_AI_RESPONSE] = "AI_RESPONSE_ERROR", [TURN_E_TTS] = "TTS_ERROR",
    };
    dlg_error(ctx, codes[e], message);
    struct dlg *d = ctx;
    if (d->stopping && !turn_busy(d->sess))
        dlg_stop_now(d);
}

static void dlg_on_speech(void *ctx, bool started, uint64_t ms)
{
    struct dlg *d = ctx;
    cJSON *o = dlg_event(started ? "speech_started" : "speech_stopped");
    if (o)
        cJSON_AddNumberToObject(o, started ? "audio_start_ms" : "audio_end_ms", (double)ms);
    dlg_send(d, o);
    /* server_vad: the silence ends the answer as send_for_AI_processing does */
    if (!started && turn_vad_answer_due(d->sess) && conn_take_ai_turn(d->srv, d->conn))
        turn_answer_vad(d->sess);
}

static void dlg_on_partial(void *ctx, uint32_t k, const char *text)
{
    cJSON *o = dlg_event("user_transcript_partial");
    if (o) {
        cJSON_AddNumberToObject(o, "segment", k);
        cJSON_AddStringToObject(o, "text", text);
    }
    dlg_send(ctx, o);
}

/* Reply audio and its ai_audio_chunk events still waiting behind a full
 * send ring: nobody should hear them any more. */
static bool dlg_is_reply_audio(const struct conn_msg *m, void *ctx)
{
    static const char head[] = "{\"type\":\"ai_audio_chunk\"";
    (void)ctx;
    return m->opcode == WSF_BINARY || (m->len >= sizeof head - 1 && memcmp(m->text, head, sizeof head - 1) == 0);
}

static void dlg_on_interrupted(void *ctx, const char *heard, uint64_t played_ms)
{
    struct dlg *d = ctx;
    size_t dropped = conn_drop_queued(d->conn, dlg_is_reply_audio, NULL);
    free(d->v000_audio); /* seed 000: the reply was not sent yet and will not be */
    d->v000_audio = NULL;
    d->v000_len = 0;
    log_event(LOG_INFO, d->conn->id, "reply_interrupted", "dropped %zu queued messages", dropped);
    cJSON *o = dlg_event("ai_interrupted");
    if (o) {
        cJSON_AddStringToObject(o, "heard_text", heard);
        cJSON_AddNumberToObject(o, "played_ms", (double)played_ms);
    }
    dlg_send(d, o);
}

/* {"type":"turn_metrics",...}: a finished turn's timings (ms; null for what
 * did not happen), for a client that asked with start_interview "metrics". */
static void dlg_on_metrics(void *ctx, const struct turn_metrics *m)
{
    struct dlg *d = ctx;
    if (!d->metrics)
        return;
    cJSON *o = dlg_event("turn_metrics");
    if (!o)
        return;
    cJSON_AddStringToObject(o, "kind", m->kind == TURN_OPENING ? "opening" : "answer");
    cJSON_AddStringToObject(o, "result", m->result);
    if (m->error)
        cJSON_AddStringToObject(o, "error", m->error);
    const struct { const char *k; int64_t v; } ms[] = {
        {"stt_ms", m->stt_ms}, {"first_token_ms", m->first_token_ms}, {"first_sentence_ms", m->first_sentence_ms},
        {"tts_first_byte_ms", m->tts_first_byte_ms}, {"first_audio_ms", m->first_audio_ms}, {"total_ms", m->total_ms},
    };
    for (size_t i = 0; i < ARRAY_LEN(ms); i++)
        if (ms[i].v < 0)
            cJSON_AddNullToObject(o, ms[i].k);
        else
            cJSON_AddNumberToObject(o, ms[i].k, (double)ms[i].v);
    cJSON_AddNumberToObject(o, "tokens", m->tokens);
    cJSON_AddNumberToObject(o, "audio_ms", (double)m->audio_ms);
    cJSON_AddNumberToObject(o, "retries", (double)m->retries);
    dlg_send(d, o);
}

static const struct turn_sink dlg_sink_ref = {
    dlg_on_transcript, dlg_on_generating, dlg_on_first_sentence, dlg_audio_room,
    dlg_on_audio,      dlg_on_reply_done, dlg_on_error,          dlg_on_speech,
    dlg_on_partial,    dlg_on_interrupted, dlg_on_metrics,
};

/* ---- client messages ---------------------------------------------------- */

/* {"type":"amplitude","value":V,"timestamp":T} from a fixed template: the
 * same text cJSON printed (value rounded to 4 decimals, shortest form), sent
 * for every audio_chunk, so no JSON tree and no heap. */
static void dlg_amplitude_value(struct dlg *d, double amplitude)
{
    static const char head[] = "{\"type\":\"amplitude\",\"value\":", mid[] = ",\"timestamp\":\"";
    char out[sizeof head + 8 + sizeof mid + CLOCK_ISO_LEN + 2], ts[CLOCK_ISO_LEN];
    long v = lround(amplitude * 10000); /* 0..10000 */
    size_t n = sizeof head - 1;
    memcpy(out, head, n); /* memcpy, not snprintf: it showed in the profile */
    if (v <= 0 || v >= 10000) {
        out[n++] = v <= 0 ? '0' : '1';
    } else {
        char frac[4] = {(char)('0' + v / 1000), (char)('0' + v / 100 % 10), (char)('0' + v / 10 % 10),
                        (char)('0' + v % 10)};
        int k = 4;
        while (k > 1 && frac[k - 1] == '0')
            k--;
        out[n++] = '0';
        out[n++] = '.';
        memcpy(out + n, frac, (size_t)k);
        n += (size_t)k;
    }
    memcpy(out + n, mid, sizeof mid - 1);
    n += sizeof mid - 1;
    size_t tl = strlen(clock_iso8601(ts));
    memcpy(out + n, ts, tl);
    n += tl;
    out[n++] = '"';
    out[n++] = '}';
    if (!conn_send_text_queued(d->srv, d->conn, out, n))
        log_event(LOG_WARN, d->conn->id, "event_not_sent", "closing or out of memory");
}

static void dlg_amplitude(struct dlg *d, const int16_t *s, size_t n)
{
    dlg_amplitude_value(d, audio_rms_amplitude(s, n));
}

static void dlg_append_pcm(struct dlg *d, const int16_t *pcm, size_t n)
{
    if (!dlg_sess(d))
        return;
    if (!turn_append(d->sess, pcm, n))
        dlg_error(d, "BUFFER_ERROR", "answer too long: audio past the buffer cap was not kept; "
                                     "send_for_AI_processing to use what is held");
}

/* Seed 001: data is an array of 16-bit samples. Browsers following the seed
 * send Array.from(new Uint16Array(...)), so 32768..65535 are read as the
 * same bits in two's complement; anything else is refused whole. */
static bool dlg_samples_from_array(struct dlg *d, const cJSON *data, size_t *n)
{
    int count = cJSON_GetArraySize(data);
    if (count > DLG_MAX_CHUNK_SAMPLES) {
        dlg_error(d, "INVALID_AUDIO", "audio_chunk holds more than 16000 samples");
        return false;
    }
    size_t i = 0;
    for (const cJSON *v = data->child; v; v = v->next, i++) {
        double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        if (!(x >= -32768 && x <= 65535) || x != floor(x)) {
            dlg_error(d, "INVALID_AUDIO", "audio_chunk data must be integers in -32768..65535");
            return false;
        }
        long k = (long)x;
        dlg_samples[i] = (int16_t)(k > 32767 ? k - 65536 : k);
    }
    *n = i;
    return true;
}

/* Seed 000: data is base64 of 16 kHz mono s16le PCM. */
static bool dlg_samples_from_base64(struct dlg *d, const char *b64, size_t *n)
{
    ssize_t out = b64_decode(b64, strlen(b64), (uint8_t *)dlg_samples, sizeof dlg_samples);
    if (out < 0 || out % 2) {
        dlg_error(d, "INVALID_AUDIO",
                  "audio_chunk data must be base64 of 16-bit PCM, at most 32000 bytes");
        return false;
    }
    *n = (size_t)out / 2; /* little-endian hosts only: x86-64 and arm64 */
    return true;
}

static void dlg_audio_chunk(struct dlg *d, const cJSON *msg)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(msg, "data");
    const cJSON *speaking = cJSON_GetObjectItemCaseSensitive(msg, "isSpeaking");
    size_t n = 0;
    if (cJSON_IsArray(data)) {
        if (!dlg_samples_from_array(d, data, &n))
            return;
    } else if (cJSON_IsString(data)) {
        if (speaking && !cJSON_IsBool(speaking)) {
            dlg_error(d, "INVALID_MESSAGE", "isSpeaking must be true or false");
            return;
        }
        d->v000 = true;
        if (!dlg_samples_from_base64(d, data->valuestring, &n))
            return;
    } else {
        dlg_error(d, "INVALID_MESSAGE", "audio_chunk needs data: an array of samples or base64");
        return;
    }
    if (n)
        dlg_append_pcm(d, dlg_samples, n);
    if (!d->v000) {
        dlg_amplitude(d, dlg_samples, n);
        return;
    }
    bool now = cJSON_IsTrue(speaking);
    /* seed 000: speech ended. Under the AI-turn limit the audio stays and
     * goes with the next answer. */
    if (d->speaking && !now && conn_take_ai_turn(d->srv, d->conn) && dlg_sess(d))
        turn_answer_client(d->sess);
    d->speaking = now;
}

static void dlg_on_open(struct server *s, struct conn *c)
{
    struct dlg *d = calloc(1, sizeof *d);
    if (!d) {
        conn_close_ws(s, c, WS_CLOSE_INTERNAL, "out of memory");
        return;
    }
    d->srv = s;
    d->conn = c;
    c->app = d;
    cJSON *o = dlg_event("greeting"); /* seed 000; seed 001 clients ignore it */
    if (o) {
        cJSON_AddStringToObject(o, "status", "ready");
        cJSON_AddStringToObject(o, "message", "Connected to AI Interview Backend");
    }
    dlg_send(d, o);
    d->held_tail = &d->held;
    dlg_resume(d);
}

/* start_interview's "turn_detection" and "incremental_transcription" over
 * the configured defaults; false (and an INVALID_TURN_DETECTION error) when
 * a field is unknown or out of range. */
static bool dlg_detection_fields(struct dlg *d, const cJSON *td, struct turn_detection *out)
{
    char msg[256];
    for (const cJSON *f = td->child; f; f = f->next) {
        const char *k = f->string;
        double x = cJSON_IsNumber(f) ? f->valuedouble : NAN;
        if (strcmp(k, "type") == 0)
            continue;
        if (strcmp(k, "threshold") == 0 && x >= 0 && x <= 1)
            out->threshold = x;
        else if (strcmp(k, "prefix_padding_ms") == 0 && x >= 0 && x <= TURN_PAD_MAX_MS && x == floor(x))
            out->prefix_padding_ms = (uint32_t)x;
        else if (strcmp(k, "silence_duration_ms") == 0 && x >= TURN_SILENCE_MIN_MS && x <= TURN_SILENCE_MAX_MS &&
                 x == floor(x))
            out->silence_ms = (uint32_t)x;
        else if (strcmp(k, "interrupt_response") == 0 && cJSON_IsBool(f))
            out->interrupt_response = cJSON_IsTrue(f);
        else {
            snprintf(msg, sizeof msg, "turn_detection.%.40s: unknown field or invalid value (threshold 0..1, "
                                      "prefix_padding_ms 0..%d, silence_duration_ms %d..%d, interrupt_response "
                                      "true/false)", k, TURN_PAD_MAX_MS, TURN_SILENCE_MIN_MS, TURN_SILENCE_MAX_MS);
            dlg_error(d, "INVALID_TURN_DETECTION", msg);
            return false;
        }
    }
    return true;
}

static bool dlg_detection(struct dlg *d, const cJSON *msg, struct turn_detection *out)
{
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(msg, "turn_detection");
    const cJSON *inc = cJSON_GetObjectItemCaseSensitive(msg, "incremental_transcription");
    *out = dlg_g.turn->detect;
    if (td && !cJSON_IsNull(td)) {
        const cJSON *type = cJSON_IsObject(td) ? cJSON_GetObjectItemCaseSensitive(td, "type") : NULL;
        const char *t = cJSON_IsString(type) ? type->valuestring : "";
        if (strcmp(t, "server_vad") != 0 && strcmp(t, "none") != 0) {
            dlg_error(d, "INVALID_TURN_DETECTION",
                      "turn_detection must be an object with type \"server_vad\" or \"none\"");
            return false;
        }
        if (strcmp(t, "none") == 0 && cJSON_GetArraySize(td) > 1) {
            dlg_error(d, "INVALID_TURN_DETECTION", "turn_detection of type \"none\" takes no other field");
            return false;
        }
        out->server_vad = strcmp(t, "server_vad") == 0;
        if (!dlg_detection_fields(d, td, out))
            return false;
    }
    if (inc && !cJSON_IsBool(inc)) {
        dlg_error(d, "INVALID_TURN_DETECTION", "incremental_transcription must be true or false");
        return false;
    }
    enum turn_incremental mode = dlg_g.turn->incremental;
    out->incremental = inc ? cJSON_IsTrue(inc) : mode == TURN_INC_AUTO ? out->server_vad : mode == TURN_INC_ON;
    return true;
}

static void dlg_start(struct dlg *d, const cJSON *msg)
{
    struct turn_detection det;
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(msg, "metrics");
    if (want && !cJSON_IsBool(want)) {
        dlg_error(d, "INVALID_MESSAGE", "metrics must be true or false");
        return;
    }
    if (!dlg_detection(d, msg, &det) || !dlg_sess(d))
        return;
    d->metrics = cJSON_IsTrue(want);
    turn_set_detection(d->sess, &det);
    turn_start(d->sess);
}

/* {"type":"playback_position","ms":N}: how much of the current reply's
 * audio the client has played (barge-in keeps only that in the history). */
static void dlg_playback(struct dlg *d, const cJSON *msg)
{
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(msg, "ms");
    double x = cJSON_IsNumber(ms) ? ms->valuedouble : NAN;
    if (!(x >= 0 && x <= 86400000.0)) {
        dlg_error(d, "INVALID_MESSAGE", "playback_position needs ms: a number of milliseconds >= 0");
        return;
    }
    if (d->sess)
        turn_playback(d->sess, (uint64_t)x);
}

/* Returns false if the type is not one of ours. */
static bool dlg_on_message(struct server *s, struct conn *c, struct dlg *d, const char *type, const cJSON *msg)
{
    if (strcmp(type, "audio_chunk") == 0)
        dlg_audio_chunk(d, msg);
    else if (strcmp(type, "send_for_AI_processing") == 0) {
        if (dlg_sess(d))
            turn_answer_client(d->sess);
    } else if (strcmp(type, "start_interview") == 0)
        dlg_start(d, msg);
    else if (strcmp(type, "playback_position") == 0)
        dlg_playback(d, msg);
    else if (strcmp(type, "end_interview") == 0) {
        turn_free(d->sess); /* cancels anything in flight */
        d->sess = NULL;
        if (d->resumable) /* over: nothing to resume */
            session_del(c->client_id);
        dlg_send(d, dlg_event("interview_ended"));
        conn_close_ws(s, c, WS_CLOSE_NORMAL, "interview ended");
    } else
        return false;
    return true;
}

/* The fast path for a seed 001 audio_chunk already decoded (fastmsg.c):
 * pcm[0..n) with the exact sum of squares; same effects as the general path.
 * false: declined (a seed 000 client), the caller uses the general path. */
static bool dlg_on_samples(struct dlg *d, const int16_t *pcm, size_t n, uint64_t sumsq)
{
    if (d->v000)
        return false;
    if (n)
        dlg_append_pcm(d, pcm, n);
    dlg_amplitude_value(d, audio_rms_from_sumsq(sumsq, n));
    return true;
}

static void dlg_on_drain(struct server *s, struct conn *c)
{
    struct dlg *d = c->app;
    (void)s;
    if (d && d->sess)
        turn_drain(d->sess);
}

static void dlg_on_close(struct server *s, struct conn *c)
{
    struct dlg *d = c->app;
    (void)s;
    if (!d)
        return;
    if (d->restoring)
        session_take_cancel(d);
    for (struct dlg_held *h = d->held, *next; h; h = next) {
        next = h->next;
        free(h);
    }
    if (!dlg_save(d) && d->resumable)
        session_release(c->client_id);
    dlg_unlist(d);
    turn_free(d->sess);
    free(d->v000_audio);
    free(d);
    c->app = NULL;
}

/* Save, then the 1001 close (after what is queued). */
static void dlg_stop_now(struct dlg *d)
{
    d->stopping = false;
    dlg_save(d);
    conn_close_ws(d->srv, d->conn, WS_CLOSE_GOING_AWAY, "server shutting down");
}

/* SIGTERM: an interview whose reply is being sent finishes it (by
 * SHUTDOWN_TIMEOUT: then the loop ends); it is saved now, as the reply
 * stands, and again when the reply is out. */
static void dlg_on_shutdown(struct server *s, struct conn *c)
{
    struct dlg *d = c->app;
    if (!d || !d->sess || !turn_busy(d->sess)) {
        if (d)
            dlg_save(d);
        conn_close_ws(s, c, WS_CLOSE_GOING_AWAY, "server shutting down");
        return;
    }
    dlg_save(d);
    d->stopping = true;
}


/* ---- the connection's handlers ------------------------------------------ */

/* Serialise and send a small event without heap for the text. */
static void dlg_send_small(struct server *s, struct conn *c, cJSON *obj)
{
    char out[DLG_OUT_MAX];
    if (!obj)
        return;
    cJSON_AddStringToObject(obj, "timestamp", clock_iso8601((char[CLOCK_ISO_LEN]){0}));
    if (cJSON_PrintPreallocated(obj, out, (int)sizeof out, false) && !conn_send_text(s, c, out, strlen(out)))
        log_event(LOG_WARN, c->id, "reply_dropped", "send ring full");
    cJSON_Delete(obj);
}

/* A message we could not take: {"type":"error","message","code","timestamp"};
 * the connection stays open. */
static void dlg_reject(struct server *s, struct conn *c, const char *code, const char *message)
{
    log_event(LOG_INFO, c->id, "message_rejected", "code=%s %s", code, message);
    cJSON *o = dlg_event("error");
    if (!o)
        return;
    cJSON_AddStringToObject(o, "message", message);
    cJSON_AddStringToObject(o, "code", code);
    dlg_send_small(s, c, o);
}

static void dlg_on_refused(struct server *s, struct conn *c, bool binary, const uint8_t *p, size_t n,
                           const char *message)
{
    cJSON *o = dlg_event("error");
    char out[512];
    (void)binary, (void)p, (void)n;
    if (!o)
        return;
    cJSON_AddStringToObject(o, "message", message); /* seed 001 reads message, seed 000 error */
    cJSON_AddStringToObject(o, "error", message);
    cJSON_AddStringToObject(o, "code", "RATE_LIMITED");
    cJSON_AddStringToObject(o, "timestamp", clock_iso8601((char[CLOCK_ISO_LEN]){0}));
    if (cJSON_PrintPreallocated(o, out, (int)sizeof out, false)) /* queued: never dropped */
        conn_send_text_queued(s, c, out, strlen(out));
    cJSON_Delete(o);
}

/* {"type":"pong","timestamp":T}: a fixed template, as cJSON printed it. */
static void dlg_pong_fast(struct server *s, struct conn *c)
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
static bool dlg_fast(struct server *s, struct conn *c, struct dlg *d, const uint8_t *p, size_t n)
{
    static int16_t samples[DIALECT_MAX_CHUNK_SAMPLES]; /* one loop thread */
    struct fastmsg m;
    if (s->cfg.json_max_depth < 2)
        return false;
    switch (fastmsg_parse(p, n, samples, DIALECT_MAX_CHUNK_SAMPLES, &m)) {
    case FASTMSG_PING:
        dlg_pong_fast(s, c);
        return true;
    case FASTMSG_AUDIO:
        return dlg_on_samples(d, samples, m.nsamples, m.sumsq);
    default:
        return false;
    }
}

static void dlg_on_text(struct server *s, struct conn *c, const uint8_t *p, size_t n)
{
    struct dlg *d = c->app;
    if (d && d->restoring && dlg_hold(d, p, n))
        return;
    if (!d || dlg_fast(s, c, d, p, n))
        return;
    const char *type;
    struct message_error err;
    cJSON *root = message_parse(p, n, (unsigned)s->cfg.json_max_depth, &type, &err);
    if (!root) {
        dlg_reject(s, c, err.code, err.text);
        return;
    }
    bool starts_ai = strcmp(type, "send_for_AI_processing") == 0 || strcmp(type, "start_interview") == 0;
    if (starts_ai && !conn_take_ai_turn(s, c))
        ; /* answered with RATE_LIMITED */
    else if (strcmp(type, "ping") == 0) {
        cJSON *o = dlg_event("pong");
        dlg_send_small(s, c, o);
    } else if (!dlg_on_message(s, c, d, type, root)) {
        char msg[MESSAGE_TYPE_ECHO_MAX + 32];
        message_unknown_type(type, msg, sizeof msg);
        dlg_reject(s, c, "UNKNOWN_TYPE", msg);
    }
    cJSON_Delete(root);
}

static void dlg_on_binary(struct server *s, struct conn *c, const uint8_t *p, size_t n)
{
    (void)p, (void)n;
    dlg_reject(s, c, "UNSUPPORTED_BINARY", "binary messages are not accepted on this path");
}

const struct conn_handlers dialect_handlers = {
    .open = dlg_on_open, .text = dlg_on_text, .binary = dlg_on_binary,
    .drain = dlg_on_drain, .close = dlg_on_close, .refused = dlg_on_refused, .shutdown = dlg_on_shutdown,
};

void dialect_setup(const struct turn_config *turn, struct ai *ai)
{
    dlg_g.turn = turn;
    dlg_g.ai = ai;
    session_on_taken(dlg_taken_elsewhere);
}

#undef DLG_MAX_CHUNK_SAMPLES
#undef DLG_V000_AUDIO_MAX
#undef DLG_OUT_MAX
#undef DLG_HOLD_MAX
