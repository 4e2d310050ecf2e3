/* The event loop: one epoll_wait() per turn over descriptors registered
 * once, in the spirit of redis ae. Its whole contract:
 *   - loop_add() registers an fd with a callback and the address of an int in
 *     the owner where the slot index is kept (slots never move, so it is set
 *     once; -1 after loop_del);
 *   - callbacks run with poll-style revents (POLLIN, POLLOUT, POLLERR,
 *     POLLHUP); they may add, change or delete any slot. A deleted slot is
 *     reused only after the dispatch pass, so no callback ever sees an event
 *     meant for an earlier owner of its slot;
 *   - loop_set_events() costs a syscall only when the interest set changes;
 *   - a tick callback runs every tick_ms (timers are deadlines stored in the
 *     owners and swept by the tick: no syscall per timer, O(n) per tick);
 *   - loop->now_ms is the monotonic time read once per iteration.
 * Level-triggered, like poll(): the cost of a turn is the number of ready
 * descriptors, not the number registered (poll() scanned all of them on
 * every turn, which dominated the profile at 1,000 audio clients).
 * deps: clock.c */
#ifndef LOOP_H
#define LOOP_H
#include <poll.h>

#include "parse/base.h"

typedef void (*loop_fn)(void *ctx, short revents);
typedef void (*loop_tick_fn)(void *ctx);

struct loop_slot {
    loop_fn fn; /* NULL: free */
    void *ctx;
    int *index; /* owner's copy of its slot index */
    int fd;
    short events;
};

struct loop {
    int epfd;
    struct loop_slot *slots;
    uint32_t n, cap;     /* slots[0..n) have been used; cap is the limit */
    uint32_t *free_list; /* reusable slots */
    uint32_t nfree;
    uint32_t *dead;      /* deleted this pass, reusable after it */
    uint32_t ndead;
    int32_t *fd_slot;    /* fd -> live slot, so a stale delete never drops a reused fd */
    uint32_t fd_cap;
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
/* Releases what loop_init allocated (slots, the epoll descriptor). */
void loop_free(struct loop *l);
/* Runs until loop->stop is set. Returns 0, or -1 if poll() itself fails. */
int loop_run(struct loop *l);
#endif
