/* The product's calls to OpenAI (speech-to-text, text-to-speech, streamed
 * and JSON-mode chat completions) and the job-posting fetch, for the turn
 * and the dialects: the only place an OpenAI request is built (path,
 * headers, body, multipart) and an API error body is read. Callers know no
 * upstream type, no HTTP and no wire format; they get a cancel handle and
 * one completion callback per call.
 *
 * Every call: NULL + *why (an enum ai_error) when refused at once, and then
 * no callback; otherwise the completion callback runs exactly once, never
 * from inside an ai_* function, unless ai_cancel() came first. The handle is
 * invalid once the completion callback has been entered.
 * deps: upstream.c jobfetch.c oai.c audio.c sse.c log.c clock.c */
#ifndef AI_H
#define AI_H
#include <sys/uio.h>

#include "parse/base.h"
#include "pipeline/oai.h"

struct up_client;
struct jobfetch_client;
struct ai;      /* the settings and the clients */
struct ai_call; /* one request in flight */

/* OPENAI_STT_RESPONSE_FORMAT: auto = json for the gpt-4o*-transcribe
 * models (they have no verbose_json), verbose_json otherwise. */
enum ai_stt_format { AI_STT_AUTO, AI_STT_VERBOSE, AI_STT_JSON };

struct ai_settings {
    const char *stt_model, *stt_language, *stt_prompt;
    enum ai_stt_format stt_format;
    const char *chat_model;
    double temperature;  /* left out for reasoning models (o1, o3, o4, gpt-5...) */
    unsigned max_tokens; /* of a streamed reply */
    const char *token_param;      /* "max_tokens" or "max_completion_tokens" (OPENAI_TOKEN_LIMIT_PARAM resolved) */
    const char *reasoning_effort; /* "" none; sent to reasoning models only */
    const char *tts_model, *tts_voice;
    const char *tts_instructions; /* "" none; not sent to tts-1 / tts-1-hd, which refuse it */
    double tts_speed;             /* 0: not sent */
    bool have_key; /* false: every call is refused with AI_E_NO_KEY */
};

/* One job's service: OPENAI_{STT,CHAT,TTS}_BASE_URL may name another
 * server (its own client: pool, DNS cache, limits) than OPENAI_BASE_URL. */
enum ai_service { AI_SVC_STT, AI_SVC_CHAT, AI_SVC_TTS, AI_SVC_N };

/* The first ones are upstream's errors, same values. */
enum ai_error {
    AI_OK = 0,
    AI_E_HTTP_STATUS = -1, /* non-2xx answer: message names the status, the API's text is logged */
    AI_E_CONNECT = -2,     /* DNS, TCP or TLS failure after retries */
    AI_E_TIMEOUT = -3,
    AI_E_PROTOCOL = -4,    /* malformed HTTP response */
    AI_E_BUSY = -5,        /* too many requests in flight (refusal) */
    AI_E_RESET = -7,       /* connection lost after the body started */
    AI_E_STREAM = -20,     /* chat stream carried an error event or garbage */
    AI_E_NO_KEY = -21,     /* refusal: OPENAI_API_KEY not set */
    AI_E_REQUEST = -22,    /* refusal: the request cannot be built (invalid UTF-8, too long) */
    AI_E_NOMEM = -23,      /* refusal: out of memory */
};

/* The safety net for parameters a model refuses: a 400 whose error.param
 * names one we sent (code unsupported_parameter / unsupported_value) is
 * retried once without it (max_tokens <-> max_completion_tokens renamed,
 * temperature, reasoning_effort, instructions, speed dropped; a
 * transcription asked again without word timestamps), logged once per model
 * and parameter, and remembered for the process lifetime in a table of
 * AI_QUIRKS_MAX models (when full, later models are fixed per call). */
#define AI_QUIRKS_MAX 16
/* Is the model a reasoning model (o1, o3, o4..., gpt-5...): no temperature, takes reasoning_effort. */
bool ai_reasoning_model(const char *model);
/* Does the transcription model give verbose_json with word timestamps under this setting? */
bool ai_stt_words(enum ai_stt_format f, const char *model);

/* A short fixed text for a refusal ("too many upstream requests in flight", ...). */
const char *ai_why(int why);

struct ai_result {
    int err;             /* AI_OK or an enum ai_error */
    int status;          /* HTTP status, 0 when none */
    const char *message; /* short fixed reason when err != AI_OK (ai_client_message); never upstream's text */
    /* Whole-body calls, AI_OK: the answer (NUL-terminated). The callback may
     * take it: set body to NULL and free() it later. */
    uint8_t *body;
    size_t len;
    bool overflow; /* more than max_body bytes came: the rest was dropped */
    /* ai_transcribe without words: the transcript; ai_chat_json: the
     * message content. NULL when the body was malformed, overflowed or
     * (transcript) max_text bytes or longer. */
    const char *text;
};
typedef void (*ai_done_fn)(void *ctx, struct ai_result *r);

struct ai *ai_create(struct up_client *up, struct jobfetch_client *jobs, const struct ai_settings *set);
void ai_destroy(struct ai *ai);
bool ai_have_key(const struct ai *ai);
/* Serve one job with its own client (and key presence) instead of the one
 * given to ai_create. */
void ai_set_service(struct ai *ai, enum ai_service s, struct up_client *up, bool have_key);
/* Abandon a call: no callback afterwards. Callable from its own callbacks
 * except the completion one. */
void ai_cancel(struct ai_call *c);
/* Continue a streamed speech answer after on_audio took fewer bytes. */
void ai_resume(struct ai_call *c);

/* ---- speech-to-text: POST /audio/transcriptions ------------------------- */

/* A file name and MIME type told from the audio bytes (Whisper needs the
 * container named): "<stem>.<ext>". False when the container is unknown. */
struct ai_file {
    char name[16];
    const char *ctype;
};
bool ai_audio_file(const uint8_t *p, size_t n, const char *stem, struct ai_file *f);

struct ai_stt {
    struct iovec audio[2]; /* the file, in one or two pieces; kept alive by the caller */
    const char *filename, *ctype;
    bool words;          /* verbose_json with word timestamps (body for the caller to read) */
    const char *tag;     /* boundary prefix, e.g. "interview-coach" */
    size_t max_body;     /* answer bytes kept */
    size_t max_text;     /* without words: a transcript this long or longer is malformed */
    uint64_t log_id;     /* connection id for log lines */
    const char *prompt;  /* NULL: the settings' stt_prompt; else this one (earlier segments'
                            text, so wording stays consistent); at most AI_STT_PROMPT_MAX bytes */
    /* Without words, on a model that streams (ai_stt_streams): stream=true is
     * sent and, if the answer is an event stream, this gets the transcript so
     * far (NUL-terminated) each time it grows, before the completion, whose
     * r->text is the whole transcript. NULL: not streamed. */
    void (*on_text)(void *ctx, const char *text, size_t n);
};
/* Does the model stream transcriptions (gpt-4o-transcribe, gpt-4o-mini-transcribe)? */
bool ai_stt_streams(const char *model);
#define AI_STT_PROMPT_MAX 1024 /* the API reads about 224 tokens of it; the multipart head holds 2 KiB */
struct ai_call *ai_transcribe(struct ai *ai, const struct ai_stt *req, ai_done_fn done, void *ctx,
                              int *why);

/* ---- text-to-speech: POST /audio/speech ------------------------------------ */

/* Streamed: on_start when the answer begins, on_audio with its bytes
 * (returns how many it took; fewer pauses the answer until ai_resume()). */
struct ai_audio_cb {
    void (*on_start)(void *ctx);
    size_t (*on_audio)(void *ctx, const uint8_t *p, size_t n);
};
struct ai_tts {
    const char *text;
    const char *format; /* "mp3", "wav" or "pcm" */
    size_t max_body;    /* whole answers: bytes kept */
    uint64_t log_id;
};
/* stream NULL: the whole answer in r->body (as audio/mpeg, so format mp3). */
struct ai_call *ai_speech(struct ai *ai, const struct ai_tts *req, const struct ai_audio_cb *stream,
                          ai_done_fn done, void *ctx, int *why);

/* ---- chat completions: POST /chat/completions ------------------------------ */

struct ai_chat {
    const char *system;          /* NULL or "": none */
    const struct oai_msg *hist;  /* earlier messages */
    size_t nhist;
    const char *user;            /* NULL: none (streamed only) */
    unsigned max_tokens;         /* JSON mode only; streamed replies use the settings' */
    uint64_t log_id;
};

/* Streamed: on_delta for each piece of text, on_batch after the pieces of
 * one network read (ended: "[DONE]" or a broken stream, no more text); then
 * the completion, with AI_E_STREAM when the stream carried an error or
 * garbage (the text so far stays valid). */
struct ai_chat_cb {
    void (*on_delta)(void *ctx, const char *text, size_t n);
    void (*on_batch)(void *ctx, bool ended);
    ai_done_fn on_done;
};
struct ai_call *ai_chat_stream(struct ai *ai, const struct ai_chat *req, const struct ai_chat_cb *cb,
                               void *ctx, int *why);
/* JSON mode (response_format json_object), not streamed: r->text is the
 * message content, for the caller to parse and validate. */
struct ai_call *ai_chat_json(struct ai *ai, const struct ai_chat *req, ai_done_fn done, void *ctx, int *why);

/* ---- job posting fetch (jobfetch.c's checks and codes) ---------------------- */

struct ai_fetch;
/* As jobfetch_cb: code NULL and text set on success, else code + message. */
typedef void (*ai_posting_fn)(void *ctx, const char *code, const char *message, const char *text,
                              size_t len);
/* NULL + *code / *message when refused at once (fetching off, bad URL, ...). */
struct ai_fetch *ai_fetch_posting(struct ai *ai, const char *url, ai_posting_fn cb, void *ctx,
                                  const char **code, const char **message);
void ai_fetch_cancel(struct ai_fetch *f);

/* ---- pure parts, exposed for tests ------------------------------------------- */

/* The multipart bytes around the audio file (see oai_multipart_parts); with
 * words, response_format=verbose_json and timestamp_granularities[]=word go
 * first; else with on_text on a streaming model, stream=true. 0 or -1. */
/* Does the file (audio[0], audio[1]; the second may be empty) contain
 * "--" + boundary anywhere, also across the seam? Then a client's own bytes
 * could end the file part and add form fields of its choosing. */
bool ai_file_holds(const struct iovec *audio, const char *boundary);
/* A transcription's boundary: "<tag>-" + 128 bits from the DRBG in hex
 * (unpredictable, unlike a counter or the clock the pings disclose), drawn
 * again while the file holds it. 0, or -1 when none could be drawn or it
 * would not fit cap or RFC 2046's 70 characters. */
int ai_stt_boundary(const char *tag, const struct iovec *audio, char *out, size_t cap);
int ai_stt_parts(const struct ai_settings *set, const struct ai_stt *req, const char *boundary, char *pre,
                 size_t precap, char *post, size_t postcap, size_t *pre_len, size_t *post_len);
/* The log line's message of a non-2xx answer: the API's error text, else
 * "HTTP <status>"; a generic one for 401/403 and "sk-" keys masked, as the
 * API quotes keys. */
void ai_api_error(int status, const char *body, size_t n, char *out, size_t cap);
/* What a client is told about a failed call: one fixed text per error (and
 * HTTP status), never the API's own message, which names the organization,
 * its limits and models; that goes to the log. */
void ai_client_message(int err, int status, char *out, size_t cap);
#endif
