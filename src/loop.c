/* deps: clock.c */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>

#include "clock.h"

int loop_init(struct loop *l, uint32_t cap, uint32_t tick_ms, loop_tick_fn tick, void *tick_ctx)
{
    *l = (struct loop){.cap = cap, .tick_ms = tick_ms, .tick = tick, .tick_ctx = tick_ctx};
    l->fds = calloc(cap, sizeof *l->fds);
    l->slots = calloc(cap, sizeof *l->slots);
    if (!l->fds || !l->slots)
        return -1;
    l->now_ms = clock_mono_ms();
    l->next_tick_ms = l->now_ms + tick_ms;
    return 0;
}

int loop_add(struct loop *l, int fd, short events, loop_fn fn, void *ctx, int *index)
{
    if (l->n == l->cap)
        return -1;
    uint32_t i = l->n++;
    l->fds[i] = (struct pollfd){.fd = fd, .events = events, .revents = 0};
    l->slots[i] = (struct loop_slot){.fn = fn, .ctx = ctx, .index = index};
    *index = (int)i;
    return 0;
}

void loop_set_events(struct loop *l, int index, short events)
{
    if (index >= 0 && (uint32_t)index < l->n)
        l->fds[index].events = events;
}

void loop_del(struct loop *l, int index)
{
    if (index < 0 || (uint32_t)index >= l->n)
        return;
    /* poll() ignores negative fds; the hole is filled after the pass. */
    l->fds[index].fd = -1;
    l->fds[index].revents = 0;
    l->slots[index].fn = NULL;
    *l->slots[index].index = -1;
    l->dirty = true;
}

/* Fill each hole with the last live slot ("the last guy takes the vacant
 * slot", as libwebsockets puts it) and tell its owner the new index. */
static void loop_compact(struct loop *l)
{
    uint32_t i = 0;
    while (i < l->n) {
        if (l->slots[i].fn) {
            i++;
            continue;
        }
        uint32_t last = --l->n;
        if (i != last) {
            l->fds[i] = l->fds[last];
            l->slots[i] = l->slots[last];
            if (l->slots[i].fn)
                *l->slots[i].index = (int)i;
        }
    }
    l->dirty = false;
}

static int loop_timeout(const struct loop *l)
{
    if (l->next_tick_ms <= l->now_ms)
        return 0;
    return (int)(l->next_tick_ms - l->now_ms);
}

int loop_run(struct loop *l)
{
    while (!l->stop) {
        int r = poll(l->fds, l->n, loop_timeout(l));
        l->now_ms = clock_mono_ms();
        if (r < 0 && errno != EINTR)
            return -1;
        /* Only slots present before the pass are dispatched; ones added by
         * callbacks have revents 0 and wait for the next poll. */
        uint32_t n = l->n;
        for (uint32_t i = 0; r > 0 && i < n; i++) {
            short rev = l->fds[i].revents;
            if (!rev || !l->slots[i].fn)
                continue;
            l->fds[i].revents = 0;
            l->slots[i].fn(l->slots[i].ctx, rev);
        }
        if (l->dirty)
            loop_compact(l);
        if (l->now_ms >= l->next_tick_ms) {
            l->next_tick_ms = l->now_ms + l->tick_ms;
            if (l->tick)
                l->tick(l->tick_ctx);
            if (l->dirty)
                loop_compact(l);
        }
    }
    return 0;
}
