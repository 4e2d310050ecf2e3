/* The event loop: one poll() over a persistent pollfd array, in the spirit
 * of redis ae. Its whole contract:
 *   - loop_add() registers an fd with a callback and the address of an int in
 *     the owner where the slot index is kept (updated when slots move);
 *   - callbacks run with the poll revents; they may add, change or delete
 *     any slot (deletion only marks the slot; slots are compacted after the
 *     dispatch pass, so no callback ever sees a moved or stale entry);
 *   - a tick callback runs every tick_ms (timers are deadlines stored in the
 *     owners and swept by the tick: no syscall per timer, O(n) per tick);
 *   - loop->now_ms is the monotonic time read once per iteration.
 * deps: clock.c */
#ifndef LOOP_H
#define LOOP_H
#include <poll.h>

#include "base.h"

typedef void (*loop_fn)(void *ctx, short revents);
typedef void (*loop_tick_fn)(void *ctx);

struct loop_slot {
    loop_fn fn;
    void *ctx;
    int *index; /* owner's copy of its slot index */
};

struct loop {
    struct pollfd *fds;
    struct loop_slot *slots;
    uint32_t n, cap;
    bool dirty; /* some slot was deleted this pass */
    bool stop;
    uint64_t now_ms;
    uint32_t tick_ms;
    uint64_t next_tick_ms;
    loop_tick_fn tick;
    void *tick_ctx;
};

int loop_init(struct loop *l, uint32_t cap, uint32_t tick_ms, loop_tick_fn tick, void *tick_ctx);
/* Returns 0, or -1 when all cap slots are taken. */
int loop_add(struct loop *l, int fd, short events, loop_fn fn, void *ctx, int *index);
void loop_set_events(struct loop *l, int index, short events);
void loop_del(struct loop *l, int index);
/* Runs until loop->stop is set. Returns 0, or -1 if poll() itself fails. */
int loop_run(struct loop *l);
#endif
