/* Seed 003's interview coach, behind Socket.IO events: start_interview ->
 * posting (text, or fetched by jobfetch) -> 8 questions (chat completion in
 * JSON mode, validated, retried once) -> questions_generated + question_audio
 * (TTS) per question; submit_answer (recorded audio) -> transcription with
 * word timestamps -> our own filler/pace/keyword figures + the model's STAR
 * analysis (JSON mode, validated) -> answer_analyzed; complete_interview ->
 * interview_complete. Knows no socket and no packet: it talks through
 * sio_emit(); its AI calls and the fetch go through ai.h.
 * deps: sio.c ai.c jsonv.c utf8.c, cJSON */
#ifndef COACH_H
#define COACH_H
#include <cJSON.h>

#include "parse/base.h"
#include "dialect/sio.h"

struct server;
struct sio_sock;
struct coach;
struct ai;

struct coach_config {
    struct ai *ai; /* the AI calls and the job posting fetch */
    uint64_t max_posting, max_resume;        /* COACH_MAX_POSTING, COACH_MAX_RESUME */
    uint64_t max_audio_bytes;                /* COACH_MAX_AUDIO_BYTES */
    uint64_t max_answer_seconds;             /* COACH_MAX_ANSWER_SECONDS */
};

void coach_setup(const struct coach_config *cfg);

#define COACH_QUESTIONS 8

/* The coach as the Socket.IO sessions' app (sio_config.app): one coach per
 * socket, created with it, fed its events, freed with it (cancelling AI
 * calls and the fetch; no sio_emit afterwards). */
extern const struct sio_app coach_app;
#endif
