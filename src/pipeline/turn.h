/* The interview pipeline of one client: the candidate's answer is
 * buffered as 16 kHz mono PCM; a turn sends it to speech-to-text, streams
 * the interviewer's reply from chat completions, cuts it into sentences and
 * sends each finished sentence to text-to-speech at once, relaying the audio
 * in order, in independently playable pieces, under the client's
 * backpressure. It reports through a sink the dialect implements; it knows
 * no JSON message and no socket; its AI calls go through ai.c.
 * deps: ai.c mp3.c audio.c sentence.c clock.c log.c */
#ifndef TURN_H
#define TURN_H
#include "parse/base.h"

struct ai;

enum turn_format { TURN_MP3, TURN_WAV, TURN_PCM };

/* The models and the key are ai.c's settings. */
struct turn_config {
    const char *system_prompt, *opening_instruction;
    enum turn_format tts_format;
    uint32_t max_answer_samples; /* answer buffer cap (16 kHz samples) */
    uint32_t history_messages;   /* last N messages sent as context */
    uint32_t audio_chunk_bytes;  /* target size of one binary audio message */
    uint32_t max_piece_bytes;    /* hard cap of one piece: it must fit the client's send ring */
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
void turn_start(struct turn *s);   /* opening line */
void turn_answer(struct turn *s);  /* transcribe + reply */
void turn_drain(struct turn *s);   /* the client's send ring has room again */
#endif
