/* Seed 003's transport: Engine.IO v4 + Socket.IO v5 over WebSocket only, on
 * /socket.io/?EIO=4&transport=websocket. One Engine.IO connection per
 * WebSocket (open packet, server heartbeat, close on a missed pong); on it
 * one Socket.IO socket in the main namespace, which outlives its connection
 * for SIO_RECOVERY_WINDOW so a client that reconnects with {pid, offset}
 * (Socket.IO 4.6+ connection state recovery) gets the same socket back and
 * the events it missed, in order. Every server EVENT carries its offset as
 * the last argument, as socket.io does with recovery on.
 *
 * The coach (coach.c) sees a socket only through sio_emit(); this module
 * answers through conn_send_* only and never touches a socket.
 * deps: sio_packet.c jsonv.c route.c, cJSON, mbedTLS (ctr_drbg) */
#ifndef SIO_H
#define SIO_H
#include <cJSON.h>

#include "parse/base.h"

struct server;
struct conn;
struct sio_sock;

#define SIO_MAX_ATTACH 4 /* binary attachments accepted on one packet */

/* NULL when the handshake query may upgrade, else the Engine.IO JSON error
 * body to send with 400 (e.g. transport=polling: Transport unknown). */
const char *sio_handshake_error(const char *query, size_t n);

void sio_on_open(struct server *s, struct conn *c);
void sio_on_text(struct server *s, struct conn *c, const uint8_t *p, size_t n);
void sio_on_binary(struct server *s, struct conn *c, const uint8_t *p, size_t n);
void sio_on_close(struct server *s, struct conn *c);
void sio_on_drain(struct server *s, struct conn *c);
/* A frame the rate limiter refused (p == NULL: an event refused after
 * parsing, by AI_TURNS_PER_MINUTE): answered with an error event
 * RATE_LIMITED. A refused packet's attachments, or the rest of a packet
 * whose attachment was refused, are dropped in step with the sender, so the
 * stream stays in sync and the client hears exactly one error per packet. */
void sio_on_refused(struct server *s, struct conn *c, bool binary, const uint8_t *p, size_t n,
                    const char *message);
/* Every loop tick: heartbeats, connect timeouts, expiry of dropped sockets. */
void sio_tick(struct server *s);

/* For the coach. Emit EVENT [event, data] (data may be NULL; taken) to the
 * socket, or BINARY_EVENT when att != NULL (taken, malloc'd; data must hold
 * the one placeholder sio_placeholder(0)). The event gets the next offset
 * and joins the replay buffer; sent now if the socket is connected, on
 * recovery otherwise. False only when out of memory. */
bool sio_emit(struct sio_sock *k, const char *event, cJSON *data, uint8_t *att, size_t att_len);
/* {"_placeholder":true,"num":i} */
cJSON *sio_placeholder(int i);
/* Index of the attachment node stands for, or -1. */
int sio_attachment_index(const cJSON *node, uint32_t natt);
/* Connection id for log lines (0 while the socket is detached). */
uint64_t sio_log_id(const struct sio_sock *k);
struct server *sio_server(const struct sio_sock *k);
/* Socket counts for tests and logs. */
uint32_t sio_sockets(void);
#endif
