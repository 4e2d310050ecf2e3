/* The application protocol spoken on the WebSocket paths: JSON text messages
 * validated strictly (jsonv) and dispatched by "type". The connection layer
 * calls these; they answer through conn_send_* only and never touch a socket.
 * Each call may queue at most CONN_REPLY_RESERVE (1 KiB) of output.
 * deps: jsonv.c, cJSON, clock.c, log.c */
#ifndef APP_H
#define APP_H
#include "parse/base.h"

struct server;
struct conn;

void app_on_open(struct server *s, struct conn *c);
void app_on_text(struct server *s, struct conn *c, const uint8_t *p, size_t n);
void app_on_binary(struct server *s, struct conn *c, const uint8_t *p, size_t n);
void app_on_close(struct server *s, struct conn *c);
/* A message the rate limiter refused (guard.c; p == NULL: an event refused
 * after parsing), answered with code RATE_LIMITED in the connection's own
 * dialect. */
void app_on_refused(struct server *s, struct conn *c, bool binary, const uint8_t *p, size_t n,
                    const char *message);
/* The send ring drained after conn_want_drain(): produce more. */
void app_on_drain(struct server *s, struct conn *c);
#endif
