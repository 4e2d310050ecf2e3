/* Seed 004 stream API: /api/stream/ws/{session_id} messages and the
 * /api/stream/status and /api/stream/disconnect endpoints.
 * deps: upstream.c oai.c, cJSON */
#ifndef STREAM_H
#define STREAM_H
#include <cJSON.h>

#include "parse/base.h"

struct server;
struct conn;

void stream_on_open(struct server *s, struct conn *c);
bool stream_on_message(struct server *s, struct conn *c, const char *type, const cJSON *msg);
/* A message that failed validation: answered with error + session_id. */
void stream_on_invalid(struct server *s, struct conn *c, const char *code, const char *message);
void stream_on_close(struct server *s, struct conn *c);
/* JSON body into out; returns the HTTP status (200 or 404). */
int stream_status(struct server *s, const char *id, char *out, size_t cap);
int stream_disconnect(struct server *s, const char *id, char *out, size_t cap);
#endif
