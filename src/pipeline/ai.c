/* deps: upstream.c jobfetch.c oai.c audio.c sse.c log.c clock.c
 *
 * Every call is one struct ai_call: the request body it owns, one upstream
 * request, and what the answer needs (a response buffer, or the SSE parser
 * of a streamed chat). Caller callbacks run under an in_cb count, so a
 * caller may cancel its call from inside one of them: the memory is freed
 * when the callback returns. */
#include "pipeline/ai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/audio.h"
#include "parse/sse.h"
#include "io/log.h"
#include "io/rand.h"
#include "upstream/jobfetch.h"
#include "upstream/upstream.h"

#define AI_CHAT_BODY_MAX 65536 /* streamed chat request: prompt + history */
#define AI_CHAT_JSON_MAX (64 * 1024) /* one JSON-mode chat answer */
#define AI_SSE_MAX 16384       /* one SSE event */
#define AI_MSG_MAX 256         /* an error message, as upstream's */
#define AI_BOUNDARY_BITS 128   /* random bits in a multipart boundary: unguessable */
#define AI_BOUNDARY_MAX 70     /* RFC 2046's limit on a boundary's length */
#define AI_BOUNDARY_DRAWS 4    /* draws before refusing a file that holds each one */
#define AI_FIX_MAX 4           /* parameter fixes per call: each of the ones a body can carry, once */
#define AI_MODEL_MAX 64        /* a model name kept in the quirks table (longer ones are not remembered) */

_Static_assert((int)AI_E_HTTP_STATUS == (int)UP_E_HTTP_STATUS && (int)AI_E_CONNECT == (int)UP_E_CONNECT &&
                   (int)AI_E_TIMEOUT == (int)UP_E_TIMEOUT && (int)AI_E_PROTOCOL == (int)UP_E_PROTOCOL &&
                   (int)AI_E_BUSY == (int)UP_E_BUSY && (int)AI_E_RESET == (int)UP_E_RESET,
               "ai errors carry upstream's values");

/* What a model refused, learnt from its 400s (see AI_QUIRKS_MAX). */
enum ai_quirk_flag {
    AI_Q_NO_TEMPERATURE = 1 << 0,
    AI_Q_COMPLETION_TOKENS = 1 << 1, /* max_tokens refused: max_completion_tokens */
    AI_Q_MAX_TOKENS = 1 << 2,        /* max_completion_tokens refused: max_tokens */
    AI_Q_NO_EFFORT = 1 << 3,
    AI_Q_NO_INSTRUCTIONS = 1 << 4,
    AI_Q_NO_SPEED = 1 << 5,
    AI_Q_NO_WORDS = 1 << 6, /* transcription: verbose_json / word timestamps refused */
    AI_Q_NO_STREAM = 1 << 7, /* transcription: stream refused */
};

struct ai_quirk {
    char model[AI_MODEL_MAX];
    unsigned flags;
};

struct ai {
    struct up_client *svc[AI_SVC_N];
    bool key[AI_SVC_N];
    struct jobfetch_client *jobs;
    struct ai_settings set;
    struct ai_quirk quirks[AI_QUIRKS_MAX];
};

enum ai_kind { AI_STT, AI_TTS, AI_CHAT_STREAM, AI_CHAT_JSON };

static const char *const ai_paths[] = {"/audio/transcriptions", "/audio/speech", "/chat/completions",
                                       "/chat/completions"};
static const enum ai_service ai_kind_svc[] = {AI_SVC_STT, AI_SVC_TTS, AI_SVC_CHAT, AI_SVC_CHAT};

struct ai_call {
    struct ai *ai;
    enum ai_kind kind;
    struct up_req *req;
    void *ctx;
    ai_done_fn done;
    const struct ai_audio_cb *audio; /* streamed speech */
    const struct ai_chat_cb *chat;   /* streamed chat */
    uint64_t log_id;
    int in_cb;
    bool cancelled;
    /* request, kept for a retry after a 400 naming a parameter */
    char *reqbody;
    size_t reqcap;
    const char *ctype, *accept;
    size_t head_h;     /* STT: bytes of pre asking for verbose_json + word timestamps, or stream */
    unsigned head_fix; /* STT: what leaving that head out fixes (AI_Q_NO_WORDS / AI_Q_NO_STREAM) */
    void (*on_text)(void *ctx, const char *text, size_t n); /* streamed transcription */
    bool stt_sse;      /* the transcription answers as an event stream */
    int fixes;
    char pre[2048], post[128];
    struct iovec iov[4];
    int parts;
    /* whole answers */
    uint8_t *resp;
    size_t resp_len, resp_cap, max_text;
    bool overflow, words;
    /* streamed chat */
    struct sse_parser sse;
    char *sse_buf;
    bool ended, broken;
};

const char *ai_why(int why)
{
    switch (why) {
    case AI_E_NO_KEY: return "OPENAI_API_KEY is not set on the server";
    case AI_E_REQUEST: return "cannot build the request";
    case AI_E_NOMEM: return "out of memory";
    default: return "too many upstream requests in flight";
    }
}

/* ---- lifecycle ------------------------------------------------------------ */

struct ai *ai_create(struct up_client *up, struct jobfetch_client *jobs, const struct ai_settings *set)
{
    struct ai *ai = calloc(1, sizeof *ai);
    if (ai) {
        *ai = (struct ai){.jobs = jobs, .set = *set};
        for (int i = 0; i < AI_SVC_N; i++) {
            ai->svc[i] = up;
            ai->key[i] = set->have_key;
        }
    }
    return ai;
}

void ai_set_service(struct ai *ai, enum ai_service s, struct up_client *up, bool have_key)
{
    if (ai && s < AI_SVC_N) {
        ai->svc[s] = up;
        ai->key[s] = have_key;
    }
}

void ai_destroy(struct ai *ai) { free(ai); }

bool ai_have_key(const struct ai *ai) { return ai && ai->key[AI_SVC_CHAT]; }

/* ---- what models accept ----------------------------------------------------- */

bool ai_reasoning_model(const char *m)
{
    /* o1, o1-mini, o3, o3-mini, o4-mini, ... and gpt-5, gpt-5-mini, gpt-5.1 ... */
    return m && ((m[0] == 'o' && m[1] >= '1' && m[1] <= '9') || strncmp(m, "gpt-5", 5) == 0);
}

bool ai_stt_streams(const char *model)
{
    return model && strncmp(model, "gpt-4o", 6) == 0 && strstr(model, "transcribe");
}

bool ai_stt_words(enum ai_stt_format f, const char *model)
{
    if (f != AI_STT_AUTO)
        return f == AI_STT_VERBOSE;
    /* gpt-4o-transcribe, gpt-4o-mini-transcribe (and dated versions): json or text only */
    return !(model && strncmp(model, "gpt-4o", 6) == 0 && strstr(model, "transcribe"));
}

static unsigned ai_quirks(const struct ai *ai, const char *model)
{
    for (int i = 0; i < AI_QUIRKS_MAX && ai->quirks[i].model[0]; i++)
        if (strcmp(ai->quirks[i].model, model) == 0)
            return ai->quirks[i].flags;
    return 0;
}

/* Remember flag for model; true the first time (then the caller logs). */
static bool ai_quirk_learn(struct ai *ai, const char *model, unsigned flag)
{
    if (strlen(model) >= AI_MODEL_MAX)
        return true;
    int i = 0;
    while (i < AI_QUIRKS_MAX && ai->quirks[i].model[0] && strcmp(ai->quirks[i].model, model) != 0)
        i++;
    if (i == AI_QUIRKS_MAX)
        return true; /* table full: fixed per call, logged each time */
    bool fresh = !(ai->quirks[i].flags & flag);
    snprintf(ai->quirks[i].model, sizeof ai->quirks[i].model, "%s", model);
    ai->quirks[i].flags |= flag;
    return fresh;
}

static void ai_call_free(struct ai_call *c)
{
    free(c->reqbody);
    free(c->resp);
    free(c->sse_buf);
    free(c);
}

void ai_cancel(struct ai_call *c)
{
    if (!c)
        return;
    if (c->req)
        up_cancel(c->req);
    c->req = NULL;
    if (c->in_cb)
        c->cancelled = true; /* freed when the callback returns */
    else
        ai_call_free(c);
}

void ai_resume(struct ai_call *c)
{
    if (c && c->req)
        up_resume(c->req);
}

/* After a caller callback: false when the call was cancelled meanwhile
 * (then it is gone). */
static bool ai_leave(struct ai_call *c)
{
    c->in_cb--;
    if (!c->cancelled)
        return true;
    if (c->in_cb == 0)
        ai_call_free(c);
    return false;
}

/* ---- pure parts ------------------------------------------------------------ */

void ai_api_error(int status, const char *body, size_t n, char *out, size_t cap)
{
    if (cap == 0)
        return;
    if (oai_error_message(body, n, out, cap) <= 0)
        snprintf(out, cap, "HTTP %d", status);
    /* The API quotes (masked) keys back in auth errors: never pass that on. */
    if (status == 401 || status == 403)
        snprintf(out, cap, "the API refused the key (HTTP %d)", status);
    for (char *k = strstr(out, "sk-"); k; k = strstr(k, "sk-"))
        for (k += 3; *k && *k != ' ' && *k != '.' && *k != ','; k++)
            *k = '*';
}

void ai_client_message(int err, int status, char *out, size_t cap)
{
    const char *what;
    switch (err) {
    case AI_E_HTTP_STATUS:
        what = status == 401 || status == 403 ? "the API refused the key"
               : status == 429                ? "the AI service is rate-limiting this server"
               : status >= 400 && status < 500 ? "the AI service refused the request"
               : status >= 500 && status < 600 ? "the AI service failed"
                                               : "unexpected answer from the AI service";
        snprintf(out, cap, "%s (HTTP %d)", what, status);
        return;
    case AI_E_CONNECT: what = "cannot reach the AI service"; break;
    case AI_E_TIMEOUT: what = "the AI service did not answer in time"; break;
    case AI_E_PROTOCOL: what = "malformed answer from the AI service"; break;
    case AI_E_RESET: what = "connection to the AI service lost"; break;
    case AI_E_STREAM: what = "malformed stream"; break;
    default: what = ai_why(err); break;
    }
    snprintf(out, cap, "%s", what);
}

int ai_stt_parts(const struct ai_settings *set, const struct ai_stt *req, const char *boundary, char *pre,
                 size_t precap, char *post, size_t postcap, size_t *pre_len, size_t *post_len)
{
    int h = 0;
    if (req->words)
        h = snprintf(pre, precap,
                     "--%s\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\nverbose_json\r\n"
                     "--%s\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nword\r\n",
                     boundary, boundary);
    else if (req->on_text && ai_stt_streams(set->stt_model))
        h = snprintf(pre, precap, "--%s\r\nContent-Disposition: form-data; name=\"stream\"\r\n\r\ntrue\r\n", boundary);
    if (h < 0 || (size_t)h >= precap ||
        oai_multipart_parts(pre + h, precap - (size_t)h, post, postcap, boundary, req->filename, req->ctype,
                            set->stt_model, set->stt_language, req->prompt ? req->prompt : set->stt_prompt,
                            pre_len, post_len) < 0)
        return -1;
    *pre_len += (size_t)h;
    return 0;
}

bool ai_audio_file(const uint8_t *p, size_t n, const char *stem, struct ai_file *f)
{
    const char *ext = audio_container(p, n, &f->ctype);
    return ext && snprintf(f->name, sizeof f->name, "%s.%s", stem, ext) > 0;
}

/* ---- upstream callbacks ------------------------------------------------------ */

static void ai_up_head(void *ctx, const struct up_head *h)
{
    struct ai_call *c = ctx;
    c->stt_sse = c->kind == AI_STT && c->sse_buf && strncmp(h->content_type, "text/event-stream", 17) == 0;
    if (c->kind == AI_CHAT_STREAM || c->stt_sse) {
        c->sse = (struct sse_parser){.buf = c->sse_buf, .cap = AI_SSE_MAX};
    } else if (c->audio && c->audio->on_start) {
        c->in_cb++;
        c->audio->on_start(c->ctx);
        ai_leave(c);
    }
}

static size_t ai_keep(struct ai_call *c, const uint8_t *p, size_t n)
{
    size_t room = c->resp_cap - c->resp_len, take = n < room ? n : room;
    c->overflow |= take < n;
    memcpy(c->resp + c->resp_len, p, take);
    c->resp_len += take;
    return n; /* all taken (never pause): an overflow shows at the end */
}

/* One SSE event of a streamed chat. */
static void ai_chat_event(struct ai_call *c, const struct sse_event *ev)
{
    char delta[2048], err[256];
    size_t dlen = 0;
    int kind = oai_chat_chunk(ev->data, ev->len, delta, sizeof delta, &dlen, err, sizeof err);
    if (kind == OAI_CHUNK_DONE) {
        c->ended = true;
    } else if (kind == OAI_CHUNK_ERROR) {
        log_event(LOG_WARN, c->log_id, "chat_stream_error", "%s", err);
        c->ended = c->broken = true;
    } else if (kind == OAI_CHUNK_DELTA && dlen) {
        c->chat->on_delta(c->ctx, delta, dlen);
    }
}

/* An event stream's bytes: each whole event to on_event, until the answer
 * ended (done, broken or cancelled). Runs inside in_cb; the caller leaves. */
static void ai_sse_body(struct ai_call *c, const uint8_t *p, size_t n,
                        void (*on_event)(struct ai_call *, const struct sse_event *), const char *what)
{
    size_t used = 0;
    while (used < n && !c->ended && !c->cancelled) {
        struct sse_event ev;
        ssize_t r = sse_feed(&c->sse, p + used, n - used, &ev);
        if (r < 0) {
            c->ended = c->broken = true;
            log_event(LOG_WARN, c->log_id, what, "malformed event stream");
            break;
        }
        used += (size_t)r;
        if (ev.ready)
            on_event(c, &ev);
    }
}

static size_t ai_chat_body(struct ai_call *c, const uint8_t *p, size_t n)
{
    c->in_cb++;
    ai_sse_body(c, p, n, ai_chat_event, "chat_stream_error");
    if (!c->cancelled)
        c->chat->on_batch(c->ctx, c->ended);
    ai_leave(c);
    return n; /* text is small: never pushes back */
}

/* One event of a streamed transcription: the text so far kept in resp (a
 * delta appended, the done event's whole text in its place). */
static void ai_stt_event(struct ai_call *c, const struct sse_event *ev)
{
    size_t room = c->max_text && c->max_text - 1 < c->resp_cap ? c->max_text - 1 : c->resp_cap;
    size_t tlen = 0;
    char *tail = (char *)c->resp + c->resp_len;
    int kind = oai_stt_event(ev->data, ev->len, tail, room - c->resp_len + 1, &tlen);
    if (kind == OAI_STT_DELTA && tlen) {
        c->resp_len += tlen;
        c->in_cb++;
        c->on_text(c->ctx, (const char *)c->resp, c->resp_len);
        ai_leave(c);
    } else if (kind == OAI_STT_DONE) {
        memmove(c->resp, tail, tlen + 1);
        c->resp_len = tlen;
        c->ended = true;
    } else if (kind == OAI_STT_ERROR) {
        log_event(LOG_WARN, c->log_id, "stt_stream_error", "an error event, malformed or too long");
        c->ended = c->broken = true;
    }
}

static size_t ai_stt_sse_body(struct ai_call *c, const uint8_t *p, size_t n)
{
    c->in_cb++;
    ai_sse_body(c, p, n, ai_stt_event, "stt_stream_error");
    ai_leave(c);
    return n;
}

static size_t ai_up_body(void *ctx, const uint8_t *p, size_t n)
{
    struct ai_call *c = ctx;
    if (c->kind == AI_CHAT_STREAM)
        return ai_chat_body(c, p, n);
    if (c->stt_sse)
        return ai_stt_sse_body(c, p, n);
    if (!c->audio)
        return ai_keep(c, p, n);
    c->in_cb++;
    size_t took = c->audio->on_audio(c->ctx, p, n);
    return ai_leave(c) ? took : n;
}

/* The text of a whole answer: transcript or message content; NULL if malformed. */
static char *ai_text(const struct ai_call *c)
{
    if (c->overflow || (c->kind == AI_STT && c->words))
        return NULL;
    if (c->stt_sse) /* the text itself, bounded by max_text already */
        return c->broken ? NULL : strndup((const char *)c->resp, c->resp_len);
    size_t cap = c->kind == AI_STT ? c->max_text : c->resp_len + 1; /* unescaping only shrinks */
    char *t = cap ? malloc(cap) : NULL;
    int n = !t ? -1
            : c->kind == AI_STT ? oai_transcript((const char *)c->resp, c->resp_len, t, cap)
                                : oai_chat_content((const char *)c->resp, c->resp_len, t, cap);
    if (n < 0) {
        free(t);
        return NULL;
    }
    return t;
}

static struct up_req *ai_up_start(struct ai_call *c);

static const char *ai_call_model(const struct ai_call *c)
{
    const struct ai_settings *set = &c->ai->set;
    return c->kind == AI_STT ? set->stt_model : c->kind == AI_TTS ? set->tts_model : set->chat_model;
}

/* The fix for a parameter the model refused: its quirk flag and *repl,
 * the parameter to send the value under instead (NULL: leave it out). 0:
 * not one we fix. */
static unsigned ai_fix_for(enum ai_kind k, const char *param, const char **repl)
{
    *repl = NULL;
    if (k == AI_STT)
        return strncmp(param, "timestamp_granularities", 23) == 0 || strcmp(param, "response_format") == 0
                   ? AI_Q_NO_WORDS
               : strcmp(param, "stream") == 0 ? AI_Q_NO_STREAM
                                              : 0;
    if (k == AI_TTS)
        return strcmp(param, "instructions") == 0 ? AI_Q_NO_INSTRUCTIONS
               : strcmp(param, "speed") == 0      ? AI_Q_NO_SPEED
                                                  : 0;
    if (strcmp(param, "max_tokens") == 0) {
        *repl = "max_completion_tokens";
        return AI_Q_COMPLETION_TOKENS;
    }
    if (strcmp(param, "max_completion_tokens") == 0) {
        *repl = "max_tokens";
        return AI_Q_MAX_TOKENS;
    }
    return strcmp(param, "temperature") == 0        ? AI_Q_NO_TEMPERATURE
           : strcmp(param, "reasoning_effort") == 0 ? AI_Q_NO_EFFORT
                                                    : 0;
}

/* Change the request so it no longer carries param; false when it does not. */
static bool ai_apply_fix(struct ai_call *c, const char *param, const char *repl, unsigned flag)
{
    if (c->kind == AI_STT) {
        if (!c->head_h || flag != c->head_fix)
            return false;
        c->iov[0] = (struct iovec){c->pre + c->head_h, c->iov[0].iov_len - c->head_h};
        c->head_h = 0;
        c->words = false;
        return true;
    }
    int len = oai_body_fix(c->reqbody, c->iov[0].iov_len, c->reqcap, param, repl);
    if (len < 0)
        return false;
    c->iov[0].iov_len = (size_t)len;
    return true;
}

/* After a 400 whose error.param names a parameter we sent: the request
 * without it sent again (once per parameter), and the model's quirk
 * remembered. True when the call goes on. */
static bool ai_retry_fixed(struct ai_call *c, int status)
{
    if (status != 400 || !c->req || c->fixes >= AI_FIX_MAX)
        return false;
    size_t n;
    const char *body = up_error_body(c->req, &n);
    char param[64], code[64];
    const char *repl;
    if (oai_error_param(body, n, param, sizeof param, code, sizeof code) != 0 ||
        (strcmp(code, "unsupported_parameter") != 0 && strcmp(code, "unsupported_value") != 0))
        return false;
    unsigned flag = ai_fix_for(c->kind, param, &repl);
    if (!flag || !ai_apply_fix(c, param, repl, flag))
        return false;
    const char *model = ai_call_model(c);
    if (ai_quirk_learn(c->ai, model, flag))
        log_event(LOG_WARN, c->log_id, "ai_param_refused", "model %s refused '%s' (%s): %s%s from now on", model,
                  param, code, repl ? "sent as " : "left out", repl ? repl : "");
    c->fixes++;
    c->resp_len = 0;
    c->overflow = c->ended = c->broken = c->stt_sse = false;
    c->req = ai_up_start(c);
    return c->req != NULL;
}

static void ai_up_done(void *ctx, int err, int status, const char *message)
{
    struct ai_call *c = ctx;
    char msg[AI_MSG_MAX];
    char fixed[AI_MSG_MAX];
    struct ai_result r = {.err = err, .status = status};
    if (err == UP_OK && c->broken)
        r.err = AI_E_STREAM;
    if (err == UP_E_HTTP_STATUS && c->req) {
        size_t n;
        const char *body = up_error_body(c->req, &n);
        ai_api_error(status, body, n, msg, sizeof msg);
        message = msg;
        if (ai_retry_fixed(c, status))
            return;
    }
    if (r.err != AI_OK) {
        /* The API's own words (which name the organization, limits, models)
         * go to the log only; the client gets a fixed text per error. */
        ai_client_message(r.err, status, fixed, sizeof fixed);
        r.message = fixed;
        if (err != UP_OK)
            log_event(LOG_WARN, c->log_id, "ai_error", "%s: %s", ai_paths[c->kind], message ? message : fixed);
    }
    c->req = NULL; /* finished: nothing to cancel */
    char *text = NULL;
    if (r.err == AI_OK && c->resp) {
        c->resp[c->resp_len] = '\0';
        r.body = c->resp;
        r.len = c->resp_len;
        r.overflow = c->overflow;
        r.text = text = c->kind == AI_STT || c->kind == AI_CHAT_JSON ? ai_text(c) : NULL;
        c->resp = NULL; /* r.body owns it now */
    }
    c->in_cb++;
    c->done(c->ctx, &r);
    c->in_cb--;
    free(r.body);
    free(text);
    ai_call_free(c);
}

static const struct up_callbacks ai_up_cb = {ai_up_head, ai_up_body, ai_up_done};

/* ---- starting a call ---------------------------------------------------------- */

static struct ai_call *ai_call_new(struct ai *ai, enum ai_kind kind, uint64_t log_id, void *ctx, int *why)
{
    struct ai_call *c = NULL;
    if (!ai->key[ai_kind_svc[kind]])
        *why = AI_E_NO_KEY;
    else if (!(c = calloc(1, sizeof *c)))
        *why = AI_E_NOMEM;
    else
        *c = (struct ai_call){.ai = ai, .kind = kind, .log_id = log_id, .ctx = ctx};
    return c;
}

/* Sends c's request; on refusal frees c and sets *why. resp_cap > 0: the
 * answer is kept whole, up to that many bytes. */
static struct ai_call *ai_send(struct ai_call *c, const char *ctype, const char *accept, size_t resp_cap, int *why)
{
    if (resp_cap) {
        c->resp_cap = resp_cap;
        c->resp = malloc(resp_cap + 1);
        if (!c->resp) {
            ai_call_free(c);
            *why = AI_E_NOMEM;
            return NULL;
        }
    }
    c->ctype = ctype;
    c->accept = accept;
    c->req = ai_up_start(c);
    if (!c->req) {
        ai_call_free(c);
        *why = AI_E_BUSY;
        return NULL;
    }
    return c;
}

static struct up_req *ai_up_start(struct ai_call *c)
{
    struct up_request_spec spec = {.method = "POST", .path = ai_paths[c->kind], .content_type = c->ctype,
                                   .accept = c->accept, .body = c->iov, .body_parts = c->parts,
                                   .log_conn = c->log_id};
    return up_start(c->ai->svc[ai_kind_svc[c->kind]], &spec, &ai_up_cb, c);
}

/* c's body is one JSON text, c->reqbody[0..n). */
static void ai_json_body(struct ai_call *c, int n)
{
    c->iov[0] = (struct iovec){c->reqbody, (size_t)n};
    c->parts = 1;
}

bool ai_file_holds(const struct iovec *audio, const char *boundary)
{
    char delim[AI_BOUNDARY_MAX + 2];
    size_t dn = (size_t)snprintf(delim, sizeof delim, "--%s", boundary);
    for (int i = 0; i < 2; i++)
        if (audio[i].iov_len >= dn && memmem(audio[i].iov_base, audio[i].iov_len, delim, dn))
            return true;
    if (!audio[0].iov_len || !audio[1].iov_len)
        return false;
    char seam[2 * AI_BOUNDARY_MAX + 4];
    size_t a = audio[0].iov_len < dn - 1 ? audio[0].iov_len : dn - 1;
    size_t b = audio[1].iov_len < dn - 1 ? audio[1].iov_len : dn - 1;
    memcpy(seam, (const char *)audio[0].iov_base + audio[0].iov_len - a, a);
    memcpy(seam + a, audio[1].iov_base, b);
    return memmem(seam, a + b, delim, dn) != NULL;
}

int ai_stt_boundary(const char *tag, const struct iovec *audio, char *out, size_t cap)
{
    for (int attempt = 0; attempt < AI_BOUNDARY_DRAWS; attempt++) {
        uint8_t r[AI_BOUNDARY_BITS / 8];
        if (rand_bytes(r, sizeof r) != 0)
            return -1;
        int n = snprintf(out, cap, "%s-", tag);
        for (size_t i = 0; i < sizeof r && n > 0 && (size_t)n + 2 < cap; i++)
            n += snprintf(out + n, cap - (size_t)n, "%02x", r[i]);
        if (n < 0 || (size_t)n != strlen(tag) + 1 + 2 * sizeof r || (size_t)n > AI_BOUNDARY_MAX)
            return -1;
        if (!ai_file_holds(audio, out))
            return 0;
    }
    return -1;
}

struct ai_call *ai_transcribe(struct ai *ai, const struct ai_stt *req, ai_done_fn done, void *ctx, int *why)
{
    struct ai_call *c = ai_call_new(ai, AI_STT, req->log_id, ctx, why);
    if (!c)
        return NULL;
    char boundary[AI_BOUNDARY_MAX + 1], ctype[AI_BOUNDARY_MAX + 48];
    size_t pre_len, post_len;
    if (ai_stt_boundary(req->tag, req->audio, boundary, sizeof boundary) != 0) {
        log_event(LOG_WARN, req->log_id, "stt_refused", "no multipart boundary could be drawn");
        ai_call_free(c);
        *why = AI_E_REQUEST;
        return NULL;
    }
    snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", boundary);
    struct ai_stt ask = *req;
    unsigned q = ai_quirks(ai, ai->set.stt_model);
    ask.words = req->words && ai_stt_words(ai->set.stt_format, ai->set.stt_model) && !(q & AI_Q_NO_WORDS);
    if (ask.words || (q & AI_Q_NO_STREAM) || !ai_stt_streams(ai->set.stt_model))
        ask.on_text = NULL;
    size_t plain_len;
    char plain[sizeof c->pre];
    struct ai_stt bare = ask;
    bare.words = false; /* the same head without the verbose_json / stream fields: their length */
    bare.on_text = NULL;
    if (ai_stt_parts(&ai->set, &bare, boundary, plain, sizeof plain, c->post, sizeof c->post, &plain_len,
                     &post_len) < 0 ||
        ai_stt_parts(&ai->set, &ask, boundary, c->pre, sizeof c->pre, c->post, sizeof c->post, &pre_len,
                     &post_len) < 0) {
        ai_call_free(c);
        *why = AI_E_REQUEST;
        return NULL;
    }
    c->done = done;
    c->words = ask.words;
    c->head_h = pre_len - plain_len;
    c->head_fix = ask.words ? AI_Q_NO_WORDS : AI_Q_NO_STREAM;
    c->on_text = ask.on_text;
    if (ask.on_text && !(c->sse_buf = malloc(AI_SSE_MAX))) {
        ai_call_free(c);
        *why = AI_E_NOMEM;
        return NULL;
    }
    c->max_text = req->max_text;
    c->iov[c->parts++] = (struct iovec){c->pre, pre_len};
    for (int i = 0; i < 2; i++)
        if (i == 0 || req->audio[i].iov_len)
            c->iov[c->parts++] = req->audio[i];
    c->iov[c->parts++] = (struct iovec){c->post, post_len};
    return ai_send(c, ctype, "application/json", req->max_body, why);
}

struct ai_call *ai_speech(struct ai *ai, const struct ai_tts *req, const struct ai_audio_cb *stream,
                          ai_done_fn done, void *ctx, int *why)
{
    const struct ai_settings *set = &ai->set;
    struct ai_call *c = ai_call_new(ai, AI_TTS, req->log_id, ctx, why);
    if (!c)
        return NULL;
    unsigned q = ai_quirks(ai, set->tts_model);
    /* tts-1 and tts-1-hd refuse "instructions"; gpt-4o-mini-tts and most servers take it */
    const char *instr = strncmp(set->tts_model, "tts-1", 5) == 0 || (q & AI_Q_NO_INSTRUCTIONS) || !set->tts_instructions
                            ? ""
                            : set->tts_instructions;
    double speed = q & AI_Q_NO_SPEED ? 0 : set->tts_speed;
    /* JSON escaping at most sextuples a byte (\u00XX) */
    size_t cap = 6 * (strlen(req->text) + strlen(set->tts_model) + strlen(set->tts_voice) + strlen(req->format) +
                      strlen(instr)) +
                 192 + OAI_PRINT_SLACK;
    c->reqbody = malloc(cap);
    c->reqcap = cap;
    int n = c->reqbody ? oai_speech_body_p(c->reqbody, cap, set->tts_model, set->tts_voice, req->format, req->text,
                                           instr, speed)
                       : -1;
    if (n < 0) {
        *why = c->reqbody ? AI_E_REQUEST : AI_E_NOMEM;
        ai_call_free(c);
        return NULL;
    }
    ai_json_body(c, n);
    c->done = done;
    c->audio = stream;
    /* Streamed pieces are relayed whatever they hold; a whole answer is the coach's MP3. */
    return ai_send(c, "application/json", stream ? "application/octet-stream" : "audio/mpeg",
                   stream ? 0 : req->max_body, why);
}

/* The chat options for this model: what the settings say, less what the
 * model family or its earlier 400s refuse. */
static struct oai_chat_params ai_chat_params(const struct ai *ai, unsigned max_tokens)
{
    const struct ai_settings *set = &ai->set;
    unsigned q = ai_quirks(ai, set->chat_model);
    bool reasoning = ai_reasoning_model(set->chat_model);
    return (struct oai_chat_params){
        .model = set->chat_model,
        .temperature = reasoning || (q & AI_Q_NO_TEMPERATURE) ? -1 : set->temperature,
        .max_tokens = max_tokens,
        .token_param = q & AI_Q_COMPLETION_TOKENS ? "max_completion_tokens"
                       : q & AI_Q_MAX_TOKENS      ? "max_tokens"
                                                  : set->token_param,
        .reasoning_effort = reasoning && !(q & AI_Q_NO_EFFORT) ? set->reasoning_effort : NULL,
    };
}

struct ai_call *ai_chat_stream(struct ai *ai, const struct ai_chat *req, const struct ai_chat_cb *cb,
                               void *ctx, int *why)
{
    struct ai_call *c = ai_call_new(ai, AI_CHAT_STREAM, req->log_id, ctx, why);
    if (!c)
        return NULL;
    c->reqbody = malloc(AI_CHAT_BODY_MAX);
    c->reqcap = AI_CHAT_BODY_MAX;
    c->sse_buf = malloc(AI_SSE_MAX);
    struct oai_chat_params cp = ai_chat_params(ai, ai->set.max_tokens);
    int n = !c->reqbody || !c->sse_buf ? -2
            : oai_chat_body_p(c->reqbody, AI_CHAT_BODY_MAX, &cp, req->system, req->hist, req->nhist, req->user);
    if (n < 0) {
        *why = n == -2 ? AI_E_NOMEM : AI_E_REQUEST;
        ai_call_free(c);
        return NULL;
    }
    ai_json_body(c, n);
    c->chat = cb;
    c->done = cb->on_done;
    return ai_send(c, "application/json", "text/event-stream", 0, why);
}

struct ai_call *ai_chat_json(struct ai *ai, const struct ai_chat *req, ai_done_fn done, void *ctx, int *why)
{
    const struct ai_settings *set = &ai->set;
    if (!req->system || !req->user) {
        *why = AI_E_REQUEST;
        return NULL;
    }
    struct ai_call *c = ai_call_new(ai, AI_CHAT_JSON, req->log_id, ctx, why);
    if (!c)
        return NULL;
    size_t cap = 6 * (strlen(req->system) + strlen(req->user) + strlen(set->chat_model) +
                      strlen(set->reasoning_effort ? set->reasoning_effort : "")) +
                 256 + OAI_PRINT_SLACK;
    c->reqbody = malloc(cap);
    c->reqcap = cap;
    struct oai_chat_params cp = ai_chat_params(ai, req->max_tokens);
    int n = c->reqbody ? oai_chat_json_body_p(c->reqbody, cap, &cp, req->system, req->user) : -1;
    if (n < 0) {
        *why = c->reqbody ? AI_E_REQUEST : AI_E_NOMEM;
        ai_call_free(c);
        return NULL;
    }
    ai_json_body(c, n);
    c->done = done;
    return ai_send(c, "application/json", "application/json", AI_CHAT_JSON_MAX, why);
}

/* ---- job posting fetch ---------------------------------------------------------- */

/* A thin wrapper, so the coach names no upstream type. */
struct ai_fetch {
    struct jobfetch *f;
    ai_posting_fn cb;
    void *ctx;
};

static void ai_fetched(void *ctx, const char *code, const char *message, const char *text, size_t len)
{
    struct ai_fetch w = *(struct ai_fetch *)ctx;
    free(ctx); /* the handle ends with its callback, as jobfetch's does */
    w.cb(w.ctx, code, message, text, len);
}

struct ai_fetch *ai_fetch_posting(struct ai *ai, const char *url, ai_posting_fn cb, void *ctx,
                                  const char **code, const char **message)
{
    *code = "JOB_URL_DISABLED";
    *message = "Fetching job postings by URL is turned off on this server; paste the job description as text "
               "instead.";
    if (!ai->jobs)
        return NULL;
    struct ai_fetch *w = malloc(sizeof *w);
    if (!w) {
        *code = "JOB_URL_INTERNAL";
        *message = "The server could not fetch the job posting (internal error).";
        return NULL;
    }
    *w = (struct ai_fetch){.cb = cb, .ctx = ctx};
    w->f = jobfetch_start(ai->jobs, url, ai_fetched, w, code, message);
    if (!w->f) {
        free(w);
        return NULL;
    }
    return w;
}

void ai_fetch_cancel(struct ai_fetch *f)
{
    if (!f)
        return;
    jobfetch_cancel(f->f);
    free(f);
}

#undef AI_CHAT_BODY_MAX
#undef AI_CHAT_JSON_MAX
#undef AI_SSE_MAX
#undef AI_MSG_MAX
