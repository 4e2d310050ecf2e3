/* deps: clock.c metrics.c */
#include "io/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "io/clock.h"
#include "io/metrics.h"

#define LOOP_EVENTS_MAX 256 /* ready descriptors taken per epoll_wait */

int loop_init(struct loop *l, uint32_t cap, uint32_t tick_ms, loop_tick_fn tick, void *tick_ctx)
{
    *l = (struct loop){.cap = cap, .tick_ms = tick_ms, .tick = tick, .tick_ctx = tick_ctx};
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->slots = calloc(cap, sizeof *l->slots);
    l->free_list = calloc(cap, sizeof *l->free_list);
    l->dead = calloc(cap, sizeof *l->dead);
    if (l->epfd < 0 || !l->slots || !l->free_list || !l->dead)
        return -1;
    l->now_ms = clock_mono_ms();
    l->next_tick_ms = l->now_ms + tick_ms;
    return 0;
}

/* POLL* and EPOLL* share their values on Linux; spelled out for clarity. */
static uint32_t loop_to_epoll(short events)
{
    return (events & POLLIN ? EPOLLIN : 0u) | (events & POLLOUT ? EPOLLOUT : 0u);
}

static short loop_from_epoll(uint32_t ev)
{
    return (short)((ev & EPOLLIN ? POLLIN : 0) | (ev & EPOLLOUT ? POLLOUT : 0) |
                   (ev & EPOLLERR ? POLLERR : 0) | (ev & EPOLLHUP ? POLLHUP : 0));
}

static bool loop_track_fd(struct loop *l, int fd, int32_t slot)
{
    if ((uint32_t)fd >= l->fd_cap) {
        uint32_t cap = l->fd_cap ? l->fd_cap : 1024;
        while (cap <= (uint32_t)fd)
            cap *= 2;
        int32_t *m = realloc(l->fd_slot, cap * sizeof *m);
        if (!m)
            return false;
        for (uint32_t i = l->fd_cap; i < cap; i++)
            m[i] = -1;
        l->fd_slot = m;
        l->fd_cap = cap;
    }
    l->fd_slot[fd] = slot;
    return true;
}

int loop_add(struct loop *l, int fd, short events, loop_fn fn, void *ctx, int *index)
{
    uint32_t i;
    if (fd < 0)
        return -1;
    if (l->nfree)
        i = l->free_list[--l->nfree];
    else if (l->n < l->cap)
        i = l->n++;
    else
        return -1;
    struct epoll_event ev = {.events = loop_to_epoll(events), .data.u32 = i};
    if (!loop_track_fd(l, fd, (int32_t)i) ||
        (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 &&
         (errno != EEXIST || epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) != 0))) {
        l->free_list[l->nfree++] = i;
        return -1;
    }
    l->slots[i] = (struct loop_slot){.fn = fn, .ctx = ctx, .index = index, .fd = fd, .events = events};
    *index = (int)i;
    return 0;
}

void loop_set_events(struct loop *l, int index, short events)
{
    if (index < 0 || (uint32_t)index >= l->n || !l->slots[index].fn)
        return;
    struct loop_slot *s = &l->slots[index];
    if (s->events == events)
        return;
    struct epoll_event ev = {.events = loop_to_epoll(events), .data.u32 = (uint32_t)index};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, s->fd, &ev) == 0)
        s->events = events;
}

void loop_del(struct loop *l, int index)
{
    if (index < 0 || (uint32_t)index >= l->n || !l->slots[index].fn)
        return;
    struct loop_slot *s = &l->slots[index];
    /* Only if the fd still belongs to this slot: closed first and reused by
     * a newer registration, it must stay registered for that one. */
    if ((uint32_t)s->fd < l->fd_cap && l->fd_slot[s->fd] == index) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        l->fd_slot[s->fd] = -1;
    }
    *s->index = -1;
    *s = (struct loop_slot){.fd = -1};
    l->dead[l->ndead++] = (uint32_t)index;
}

void loop_free(struct loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    free(l->slots);
    free(l->free_list);
    free(l->dead);
    free(l->fd_slot);
    *l = (struct loop){.epfd = -1};
}

static int loop_timeout(const struct loop *l)
{
    if (l->next_tick_ms <= l->now_ms)
        return 0;
    return (int)(l->next_tick_ms - l->now_ms);
}

/* Slots deleted during the pass become reusable once no event of the pass
 * can still name them. */
static void loop_reap(struct loop *l)
{
    while (l->ndead)
        l->free_list[l->nfree++] = l->dead[--l->ndead];
}

int loop_run(struct loop *l)
{
    struct epoll_event evs[LOOP_EVENTS_MAX];
    while (!l->stop) {
        int r = epoll_wait(l->epfd, evs, LOOP_EVENTS_MAX, loop_timeout(l));
        uint64_t ready_us = clock_mono_us();
        l->now_ms = ready_us / 1000;
        if (r < 0 && errno != EINTR)
            return -1;
        for (int i = 0; i < r; i++) {
            uint32_t k = evs[i].data.u32;
            if (k >= l->n || !l->slots[k].fn)
                continue; /* deleted earlier in this pass */
            l->slots[k].fn(l->slots[k].ctx, loop_from_epoll(evs[i].events));
        }
        /* The lag: the pass over ready events, the longest any of them waited. */
        if (r > 0)
            metrics_observe(M_LOOP_LAG, 0, 0, (double)(clock_mono_us() - ready_us) / 1e6);
        loop_reap(l);
        if (l->now_ms >= l->next_tick_ms) {
            l->next_tick_ms = l->now_ms + l->tick_ms;
            if (l->tick)
                l->tick(l->tick_ctx);
            loop_reap(l);
        }
    }
    return 0;
}
