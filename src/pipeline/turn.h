/* The interview pipeline of one client: the candidate's answer is
 * buffered as 16 kHz mono PCM; a turn sends it to speech-to-text, streams
 * the interviewer's reply from chat completions, cuts it into sentences and
 * sends each finished sentence to text-to-speech at once, relaying the audio
 * in order, in independently playable pieces, under the client's
 * backpressure. It reports through a sink the dialect implements; it knows
 * no JSON message and no socket; its AI calls go through ai.c.
 *
 * Turn detection (README "Turn detection and barge-in"): a voice activity
 * detector (vad.c) runs on every sample appended and reports speech starts
 * and stops. With server_vad the dialect ends the answer on a stop; with
 * incremental transcription each pause closes a segment that goes to
 * speech-to-text at once (earlier text as the prompt) and only untranscribed
 * segments are held; with interrupt_response, speech of at least
 * barge_in_min_ms while the reply is generated or still playing cancels it
 * and keeps in the history only what the candidate heard.
 * Implemented in two halves: answer.c (the candidate's side) and turn.c
 * (the interviewer's), over the state in turn_state.h.
 * deps: ai.c vad.c mp3.c audio.c sentence.c clock.c log.c metrics.c */
#ifndef TURN_H
#define TURN_H
#include "parse/base.h"

struct ai;

/* Bounds of the turn detection settings (configuration and start_interview). */
#define TURN_PAD_MAX_MS 5000       /* prefix padding: more is old audio, not an onset */
#define TURN_SILENCE_MIN_MS 100    /* shorter silences are inside words */
#define TURN_SILENCE_MAX_MS 10000
enum turn_incremental { TURN_INC_AUTO, TURN_INC_OFF, TURN_INC_ON }; /* auto: on with server_vad */

/* How one connection's answers end and are transcribed (from the settings,
 * overridden per connection by start_interview's turn_detection). */
struct turn_detection {
    bool server_vad;          /* silence ends the answer (else the client does) */
    double threshold;         /* VAD threshold 0..1 */
    uint32_t prefix_padding_ms; /* audio kept before a speech onset */
    uint32_t silence_ms;      /* silence that ends speech */
    bool interrupt_response;  /* barge-in (only with server_vad) */
    bool incremental;         /* transcribe segments while the candidate speaks */
};

enum turn_format { TURN_MP3, TURN_WAV, TURN_PCM };

/* The models and the key are ai.c's settings. */
struct turn_config {
    const char *system_prompt, *opening_instruction;
    enum turn_format tts_format;
    uint32_t max_answer_samples; /* answer buffer cap (16 kHz samples) */
    uint32_t history_messages;   /* last N messages sent as context */
    uint32_t audio_chunk_bytes;  /* target size of one binary audio message */
    uint32_t max_piece_bytes;    /* hard cap of one piece: it must fit the client's send ring */
    struct turn_detection detect; /* the defaults of every connection */
    uint32_t transcribe_pause_ms; /* a pause this long inside speech closes a segment */
    uint32_t max_segment_samples; /* a segment longer than this is cut at its quietest 100 ms */
    uint32_t barge_in_min_ms;     /* shorter speech does not interrupt (coughs, clicks) */
    bool segment_ulaw;            /* with segments or server_vad, hold and upload speech as mu-law */
    enum turn_incremental incremental; /* INCREMENTAL_TRANSCRIPTION, for a connection's own type */
};

/* Error kinds the sink maps to dialect codes. */
enum turn_error {
    TURN_E_NO_KEY,        /* OPENAI_API_KEY not configured */
    TURN_E_BUSY,          /* a turn is already running */
    TURN_E_EMPTY,         /* nothing to transcribe */
    TURN_E_BUFFER,        /* answer buffer full: audio past the cap was not kept */
    TURN_E_TRANSCRIPTION, /* speech-to-text failed; the audio is kept for a retry */
    TURN_E_EMPTY_TRANSCRIPT, /* speech-to-text heard nothing */
    TURN_E_AI_RESPONSE,   /* chat completion failed */
    TURN_E_TTS,           /* text-to-speech failed; the text still follows */
};

enum turn_kind { TURN_OPENING, TURN_ANSWER };

/* One finished turn's timings (README "Metrics"): milliseconds from its
 * start (the end of the answer; for the opening line, its request), -1 for
 * what did not happen. tts_first_byte_ms is the first sentence's
 * text-to-speech request to its first audio byte. retries: upstream retries
 * process-wide while the turn ran (exact when one turn runs at a time). */
struct turn_metrics {
    enum turn_kind kind;
    const char *result; /* "completed", "failed", "interrupted", "abandoned" */
    const char *error;  /* failed: the error code name ("transcription", ...), else NULL */
    int64_t stt_ms, first_token_ms, first_sentence_ms, tts_first_byte_ms, first_audio_ms, total_ms;
    uint32_t tokens;    /* streamed reply deltas (one token each from OpenAI) */
    uint64_t audio_ms;  /* reply audio sent to the client */
    uint64_t retries;
};

struct turn_sink {
    void (*transcript)(void *ctx, const char *text);        /* the candidate's words */
    void (*generating)(void *ctx, enum turn_kind kind);     /* the model is being asked */
    void (*first_sentence)(void *ctx, enum turn_kind kind); /* first sentence off to TTS */
    /* Room for one audio piece of n bytes now? (backpressure) */
    bool (*audio_room)(void *ctx, size_t n);
    /* A piece of audio playable on its own, with its amplitude (0..1). */
    void (*audio)(void *ctx, const uint8_t *p, size_t n, double amplitude);
    /* Reply finished: full text; audio_ok false if TTS failed at some point. */
    void (*reply_done)(void *ctx, enum turn_kind kind, const char *text, bool audio_ok);
    void (*error)(void *ctx, enum turn_error e, const char *message);
    /* The VAD: speech started (ms = its onset) or stopped (ms = its end), in
     * milliseconds of audio since turn_start. */
    void (*speech)(void *ctx, bool started, uint64_t ms);
    /* Incremental transcription: segment k (from 0 in each answer) is text. */
    void (*partial)(void *ctx, uint32_t k, const char *text);
    /* Barge-in: the reply stopped; heard is what the history keeps. The
     * sink withdraws reply audio not yet on the socket. */
    void (*interrupted)(void *ctx, const char *heard, uint64_t played_ms);
    /* A turn ended (completed, failed or interrupted); NULL = not wanted. */
    void (*metrics)(void *ctx, const struct turn_metrics *m);
};

struct turn;

/* Without an API key (ai_have_key) every turn fails fast with TURN_E_NO_KEY. */
struct turn *turn_new(const struct turn_config *cfg, struct ai *ai, const struct turn_sink *sink, void *ctx);
void turn_free(struct turn *s); /* cancels AI calls; no sink calls after */
/* Connection id that the AI calls' log lines carry. */
void turn_set_log_id(struct turn *s, uint64_t id);
/* Append samples; returns false (and keeps what fits) when the cap is reached. */
bool turn_append(struct turn *s, const int16_t *pcm, size_t n);
size_t turn_buffered(const struct turn *s);
bool turn_busy(const struct turn *s);
void turn_start(struct turn *s);   /* opening line; audio positions count from here */
void turn_answer(struct turn *s);  /* transcribe + reply */
/* The client says the answer ended (send_for_AI_processing, seed 000's
 * isSpeaking true -> false): turn_answer, except that under server_vad an
 * answer the VAD already ended (no speech since) is ignored silently. */
void turn_answer_client(struct turn *s);
/* The VAD says the answer ended (from the sink's speech(false) callback,
 * after the dialect checked its AI budget). */
void turn_answer_vad(struct turn *s);
/* server_vad, an answer is open and no turn runs: speech(false) should end it. */
bool turn_vad_answer_due(const struct turn *s);
/* This connection's turn detection (start_interview), before turn_start. */
void turn_set_detection(struct turn *s, const struct turn_detection *d);
const struct turn_detection *turn_get_detection(const struct turn *s);
/* The client's playback position in the current reply's audio (ms). */
void turn_playback(struct turn *s, uint64_t ms);
void turn_drain(struct turn *s);   /* the client's send ring has room again */

/* What outlives the connection (session.c saves it, README "Resuming an
 * interview"): the history, oldest first (role "user" or "assistant", ts
 * ISO 8601), the count of answers replied to, and the transcript of an
 * answer whose reply never finished (a failed one, or one a disconnect
 * cancelled), which the next answer request retries. */
uint32_t turn_history_len(const struct turn *s);
void turn_history_at(const struct turn *s, uint32_t i, const char **role, const char **content, const char **ts);
/* Restore: appended as turn.c appends (the oldest goes past the cap); ts
 * NULL or "" = now. */
void turn_history_add(struct turn *s, const char *role, const char *content, const char *ts);
uint32_t turn_answers(const struct turn *s);
void turn_set_answers(struct turn *s, uint32_t n);
const char *turn_unanswered(const struct turn *s);
void turn_set_unanswered(struct turn *s, const char *text); /* NULL = none */
#endif
