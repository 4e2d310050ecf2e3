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

struct coach *coach_new(struct server *s, struct sio_sock *k);
/* Cancels AI calls and the fetch; no sio_emit afterwards. */
void coach_free(struct coach *co);
bool coach_event_known(const char *name);
/* Events that start upstream calls, counted by AI_TURNS_PER_MINUTE. */
bool coach_event_starts_ai(const char *name);
/* A client event: args is the packet's array (args[0] is the name). The
 * coach may take attachments (att[i] set to NULL); sio frees the rest. */
void coach_on_event(struct coach *co, const char *name, const cJSON *args, uint8_t **att,
                    const size_t *att_len, uint32_t natt);
#endif
