/* Seed 004 stream API: the /api/stream/ws/{session_id} connection's handlers
 * and the /api/stream/status and /api/stream/disconnect endpoints (all
 * registered by interview.c's route table); shared across instances over
 * io/bus.h when interview.c wires one.
 * deps: ai.c message.c b64.c, cJSON */
#ifndef STREAM_H
#define STREAM_H
#include "parse/base.h"
#include "io/conn.h"

struct turn_config;
struct ai;

extern const struct conn_handlers stream_handlers;

/* The answer cap (turn settings) and the AI calls the sessions use. */
void stream_setup(const struct turn_config *turn, struct ai *ai);

struct shared_bus;
/* Share chat, the session registry and disconnect with other instances over
 * bus (NULL: one instance). Call once, after stream_setup. */
void stream_set_bus(const struct shared_bus *bus);
/* Registry refresh and mirror expiry: every server tick. */
void stream_tick(void *ctx);

/* JSON body into out; returns the HTTP status (200 or 404). */
int stream_status(struct server *s, const char *id, char *out, size_t cap);
int stream_disconnect(struct server *s, const char *id, char *out, size_t cap);
#endif
