/* Seed 000/001/002 interview dialects on /ws/{client_id}: the connection's
 * handlers (registered by interview.c's route table); answers through
 * conn_send_* only. deps: turn.c session.c message.c fastmsg.c b64.c audio.c, cJSON */
#ifndef DIALECT_H
#define DIALECT_H
#include "parse/base.h"
#include "io/conn.h"

#define DIALECT_MAX_CHUNK_SAMPLES 16000 /* one audio_chunk: 1 s at 16 kHz (seeds send 1024) */

struct turn_config;
struct ai;

extern const struct conn_handlers dialect_handlers;

/* The turn settings and the AI calls every /ws/ connection uses. */
void dialect_setup(const struct turn_config *turn, struct ai *ai);
#endif
