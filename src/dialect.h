/* Seed 000/001/002 interview dialects on /ws/{client_id}. Called by app.c
 * with a validated message; answers through conn_send_* only.
 * deps: turn.c, cJSON */
#ifndef DIALECT_H
#define DIALECT_H
#include <cJSON.h>

#include "base.h"

struct server;
struct conn;

void dialect_on_open(struct server *s, struct conn *c);
/* false: not a type of this dialect (the caller answers UNKNOWN_TYPE). */
bool dialect_on_message(struct server *s, struct conn *c, const char *type, const cJSON *msg);
void dialect_on_drain(struct server *s, struct conn *c);
void dialect_on_close(struct server *s, struct conn *c);
#endif
