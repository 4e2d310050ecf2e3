/* deps: loop.c */
#include "upstream/resolver.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/metrics.h"

struct resolver_answer {
    char host[RESOLVER_HOST_MAX];
    int err, naddrs;
    struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
};

struct resolver_cache_entry {
    char host[RESOLVER_HOST_MAX]; /* "" = free */
    uint64_t expires;
    int naddrs;
    struct resolver_addr addrs[RESOLVER_MAX_ADDRS];
};

struct resolver {
    struct loop *loop;
    uint64_t cache_ms;
    int pipe_rd, pipe_wr, slot;
    pthread_t thread;
    bool thread_started;
    /* shared with the helper thread, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    char jobs[RESOLVER_QUEUE_MAX][RESOLVER_HOST_MAX];
    uint32_t job_head, job_count;
    struct resolver_answer answers[RESOLVER_QUEUE_MAX];
    uint32_t ans_head, ans_count;
    /* loop thread only */
    char outstanding[RESOLVER_QUEUE_MAX][RESOLVER_HOST_MAX]; /* "" = free */
    struct resolver_query *waiters;
    struct resolver_cache_entry cache[RESOLVER_CACHE_MAX];
    uint64_t lookups, cache_hits;
};

static void resolver_wake(int fd)
{
    char b = 1;
    ssize_t n = write(fd, &b, 1); /* EAGAIN: a wake-up is already pending */
    (void)n;
}

static void *resolver_thread(void *arg)
{
    struct resolver *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && r->job_count == 0)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop)
            break;
        char host[RESOLVER_HOST_MAX];
        memcpy(host, r->jobs[r->job_head], sizeof host);
        r->job_head = (r->job_head + 1) % RESOLVER_QUEUE_MAX;
        r->job_count--;
        pthread_mutex_unlock(&r->mu);

        struct resolver_answer a;
        memset(&a, 0, sizeof a);
        memcpy(a.host, host, sizeof a.host);
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        struct addrinfo *res = NULL;
        a.err = getaddrinfo(host, NULL, &hints, &res);
        if (a.err == 0) {
            for (struct addrinfo *ai = res; ai && a.naddrs < RESOLVER_MAX_ADDRS; ai = ai->ai_next) {
                if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
                    ai->ai_addrlen > sizeof a.addrs[0].ss)
                    continue;
                memcpy(&a.addrs[a.naddrs].ss, ai->ai_addr, ai->ai_addrlen);
                a.addrs[a.naddrs].len = (socklen_t)ai->ai_addrlen;
                a.naddrs++;
            }
            freeaddrinfo(res);
            if (a.naddrs == 0)
                a.err = EAI_NONAME;
        }

        pthread_mutex_lock(&r->mu);
        /* Room is guaranteed: the loop keeps at most RESOLVER_QUEUE_MAX outstanding. */
        if (r->ans_count < RESOLVER_QUEUE_MAX) {
            r->answers[(r->ans_head + r->ans_count) % RESOLVER_QUEUE_MAX] = a;
            r->ans_count++;
        }
        resolver_wake(r->pipe_wr);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static struct resolver_cache_entry *resolver_cache_find(struct resolver *r, const char *host)
{
    for (size_t i = 0; i < RESOLVER_CACHE_MAX; i++)
        if (r->cache[i].host[0] && strcmp(r->cache[i].host, host) == 0)
            return &r->cache[i];
    return NULL;
}

static void resolver_cache_put(struct resolver *r, const struct resolver_answer *a)
{
    if (r->cache_ms == 0 || a->err != 0)
        return;
    struct resolver_cache_entry *e = resolver_cache_find(r, a->host);
    if (!e) {
        e = &r->cache[0];
        for (size_t i = 0; i < RESOLVER_CACHE_MAX; i++) {
            if (!r->cache[i].host[0]) {
                e = &r->cache[i];
                break;
            }
            if (r->cache[i].expires < e->expires)
                e = &r->cache[i];
        }
    }
    memcpy(e->host, a->host, sizeof e->host);
    e->expires = r->loop->now_ms + r->cache_ms;
    e->naddrs = a->naddrs;
    memcpy(e->addrs, a->addrs, sizeof e->addrs);
}

static void resolver_unlink(struct resolver *r, struct resolver_query *q)
{
    for (struct resolver_query **pp = &r->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    }
    q->next = NULL;
    q->linked = false;
}

static void resolver_outstanding_del(struct resolver *r, const char *host)
{
    for (size_t i = 0; i < RESOLVER_QUEUE_MAX; i++)
        if (r->outstanding[i][0] && strcmp(r->outstanding[i], host) == 0)
            r->outstanding[i][0] = '\0';
}

static void resolver_on_pipe(void *ctx, short revents)
{
    struct resolver *r = ctx;
    (void)revents;
    char buf[64];
    while (read(r->pipe_rd, buf, sizeof buf) > 0) {
    }
    /* Take the answers; mark matching waiters done (no callbacks yet). */
    for (;;) {
        struct resolver_answer a;
        pthread_mutex_lock(&r->mu);
        bool have = r->ans_count > 0;
        if (have) {
            a = r->answers[r->ans_head];
            r->ans_head = (r->ans_head + 1) % RESOLVER_QUEUE_MAX;
            r->ans_count--;
        }
        pthread_mutex_unlock(&r->mu);
        if (!have)
            break;
        resolver_outstanding_del(r, a.host);
        resolver_cache_put(r, &a);
        if (a.err)
            metrics_inc(M_DNS_LOOKUPS, MDNS_FAILED, 0);
        for (struct resolver_query *q = r->waiters; q; q = q->next) {
            if (q->done || strcmp(q->host, a.host) != 0)
                continue;
            q->done = true;
            q->err = a.err;
            q->naddrs = a.naddrs;
            memcpy(q->addrs, a.addrs, sizeof q->addrs);
        }
    }
    /* Report done waiters one at a time, rescanning from the head: a callback
     * may cancel or add other queries. */
    for (;;) {
        struct resolver_query *q = r->waiters;
        while (q && !q->done)
            q = q->next;
        if (!q)
            break;
        resolver_unlink(r, q);
        q->done = false;
        q->cb(q->ctx, q);
    }
}

struct resolver *resolver_create(struct loop *loop, uint64_t cache_ms, char *err, size_t errlen)
{
    struct resolver *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "resolver: out of memory");
        return NULL;
    }
    r->loop = loop;
    r->cache_ms = cache_ms;
    r->slot = -1;
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errlen, "resolver: pipe: %s", strerror(errno));
        free(r);
        return NULL;
    }
    r->pipe_rd = fds[0];
    r->pipe_wr = fds[1];
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (loop_add(loop, r->pipe_rd, POLLIN, resolver_on_pipe, r, &r->slot) != 0) {
        snprintf(err, errlen, "resolver: event loop full");
        resolver_destroy(r);
        return NULL;
    }
    /* The helper thread takes no signals; they stay with the loop thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&r->thread, &attr, resolver_thread, r);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "resolver: pthread_create: %s", strerror(rc));
        resolver_destroy(r);
        return NULL;
    }
    r->thread_started = true;
    return r;
}

int resolver_lookup(struct resolver *r, struct resolver_query *q, const char *host,
                    resolver_cb cb, void *ctx)
{
    size_t hl = strlen(host);
    if (hl == 0 || hl >= RESOLVER_HOST_MAX)
        return -1;
    if (q->linked)
        resolver_unlink(r, q);
    memcpy(q->host, host, hl + 1);
    q->cb = cb;
    q->ctx = ctx;
    q->err = 0;
    q->naddrs = 0;
    q->from_cache = false;
    q->done = false;
    q->next = r->waiters;
    r->waiters = q;
    q->linked = true;
    r->lookups++;

    struct resolver_cache_entry *e = resolver_cache_find(r, host);
    metrics_inc(M_DNS_LOOKUPS, e && r->loop->now_ms < e->expires ? MDNS_CACHE : MDNS_QUERY, 0);
    if (e && r->loop->now_ms < e->expires) {
        r->cache_hits++;
        q->done = true;
        q->from_cache = true;
        q->naddrs = e->naddrs;
        memcpy(q->addrs, e->addrs, sizeof q->addrs);
        resolver_wake(r->pipe_wr);
        return 0;
    }
    if (e)
        e->host[0] = '\0'; /* expired */
    for (size_t i = 0; i < RESOLVER_QUEUE_MAX; i++)
        if (r->outstanding[i][0] && strcmp(r->outstanding[i], host) == 0)
            return 0; /* already being looked up: the answer serves this query too */
    size_t free_i = RESOLVER_QUEUE_MAX;
    for (size_t i = 0; i < RESOLVER_QUEUE_MAX; i++)
        if (!r->outstanding[i][0]) {
            free_i = i;
            break;
        }
    if (free_i == RESOLVER_QUEUE_MAX) { /* too many distinct hosts at once */
        q->done = true;
        q->err = EAI_AGAIN;
        resolver_wake(r->pipe_wr);
        return 0;
    }
    memcpy(r->outstanding[free_i], host, hl + 1);
    pthread_mutex_lock(&r->mu);
    memcpy(r->jobs[(r->job_head + r->job_count) % RESOLVER_QUEUE_MAX], host, hl + 1);
    r->job_count++;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

void resolver_cancel(struct resolver *r, struct resolver_query *q)
{
    if (q->linked)
        resolver_unlink(r, q);
    q->done = false;
}

void resolver_stats(const struct resolver *r, uint64_t *lookups, uint64_t *cache_hits)
{
    *lookups = r->lookups;
    *cache_hits = r->cache_hits;
}

void resolver_destroy(struct resolver *r)
{
    if (!r)
        return;
    if (r->thread_started) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    if (r->slot >= 0)
        loop_del(r->loop, r->slot);
    close(r->pipe_rd);
    close(r->pipe_wr);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
