/* Seed 000/001/002 interview dialects on /ws/{client_id}. Called by app.c
 * with a validated message; answers through conn_send_* only.
 * deps: turn.c, cJSON */
#ifndef DIALECT_H
#define DIALECT_H
#include <cJSON.h>

#include "parse/base.h"

#define DIALECT_MAX_CHUNK_SAMPLES 16000 /* one audio_chunk: 1 s at 16 kHz (seeds send 1024) */

struct server;
struct conn;

void dialect_on_open(struct server *s, struct conn *c);
/* false: not a type of this dialect (the caller answers UNKNOWN_TYPE). */
bool dialect_on_message(struct server *s, struct conn *c, const char *type, const cJSON *msg);
/* The fast path for a seed 001 audio_chunk already decoded (fastmsg.c):
 * pcm[0..n) with the exact sum of squares. Same effects as the general path.
 * false: declined (a seed 000 client), the caller uses the general path. */
bool dialect_on_samples(struct server *s, struct conn *c, const int16_t *pcm, size_t n, uint64_t sumsq);
void dialect_on_drain(struct server *s, struct conn *c);
void dialect_on_close(struct server *s, struct conn *c);
#endif
