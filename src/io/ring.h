/* Fixed-capacity byte ring over memory the caller provides. Never grows: a
 * producer that finds too little space must wait (backpressure). Capacity is
 * any size; spans are handed out contiguously so read()/write() can use them
 * without copying. deps: none. */
#ifndef RING_H
#define RING_H
#include "parse/base.h"

struct ring {
    uint8_t *buf; /* NULL while the owner holds no buffer */
    uint32_t cap;
    uint32_t head; /* index of the first stored byte */
    uint32_t len;  /* stored bytes */
};

static inline uint32_t ring_len(const struct ring *r) { return r->len; }
static inline uint32_t ring_space(const struct ring *r) { return r->cap - r->len; }

void ring_init(struct ring *r, uint8_t *buf, uint32_t cap);
/* Copy up to n bytes in; returns how many fit. */
uint32_t ring_write(struct ring *r, const void *p, uint32_t n);
/* Contiguous stored bytes starting at the head. */
uint32_t ring_read_span(const struct ring *r, uint8_t **p);
void ring_consume(struct ring *r, uint32_t n);
/* Contiguous free space after the tail, for read(2) straight into the ring. */
uint32_t ring_write_span(const struct ring *r, uint8_t **p);
void ring_commit(struct ring *r, uint32_t n);
/* Rotate the contents so that they start at buf[0] (one contiguous span). */
void ring_linearize(struct ring *r);
#endif
