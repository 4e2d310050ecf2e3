/* Server setup and the run loop: listening socket, pools, connection table,
 * signal self-pipe, tick hooks, graceful shutdown.
 * deps: conn.c loop.c pool.c log.c clock.c */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/log.h"
#include "io/server.h"

#include "io/guard.h"

#define SERVER_TICK_MS 250 /* timer resolution: deadlines are swept this often */
#define SERVER_BACKLOG 1024
#define SERVER_POOL_KEEP 64 /* released ring buffers kept for reuse */

static int server_signal_pipe[2] = {-1, -1};

static void server_on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(server_signal_pipe[1], &b, 1);
    (void)w;
    errno = saved;
}

static int server_listen(struct server *s)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", s->cfg.port);
    const char *host = strcmp(s->cfg.host, "localhost") == 0 ? "127.0.0.1" : s->cfg.host;
    hints.ai_flags |= AI_NUMERICHOST; /* never DNS at start-up: HOST is a literal */
    int e = getaddrinfo(host, port, &hints, &res);
    if (e != 0) {
        log_event(LOG_ERROR, 0, "listen_failed", "HOST=%s: %s", s->cfg.host, gai_strerror(e));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SERVER_BACKLOG) != 0) {
        log_event(LOG_ERROR, 0, "listen_failed", "%s:%u: %s", s->cfg.host, s->cfg.port,
                  strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    s->listen_fd = fd;
    return 0;
}

static void server_on_signal_pipe(void *ctx, short revents)
{
    struct server *s = ctx;
    unsigned char b[16];
    (void)revents;
    while (read(s->signal_fd, b, sizeof b) > 0)
        ;
    server_request_stop(s);
}

int server_add_tick(struct server *s, server_tick_fn fn, void *ctx)
{
    if (s->nticks == SERVER_MAX_TICKS)
        return -1;
    s->ticks[s->nticks].fn = fn;
    s->ticks[s->nticks].ctx = ctx;
    s->nticks++;
    return 0;
}

void server_request_stop(struct server *s)
{
    if (s->shutting_down)
        return;
    s->shutting_down = true;
    s->shutdown_deadline_ms = s->loop.now_ms + s->cfg.shutdown_timeout_ms;
    log_event(LOG_INFO, 0, "shutdown", "closing %u connections (%u WebSocket), drain %llu ms",
              s->active, s->ws_active, (unsigned long long)s->cfg.shutdown_timeout_ms);
    loop_del(&s->loop, s->listen_slot);
    close(s->listen_fd);
    s->listen_fd = -1;
    conn_shutdown_all(s);
}

static void server_tick(void *ctx)
{
    struct server *s = ctx;
    conn_sweep(s);
    for (size_t i = 0; i < s->nticks; i++)
        s->ticks[i].fn(s->ticks[i].ctx);
    if (s->shutting_down && (s->active + s->refusing == 0 || s->loop.now_ms >= s->shutdown_deadline_ms)) {
        if (s->active)
            log_event(LOG_WARN, 0, "shutdown", "drain timeout, %u connections dropped", s->active);
        s->loop.stop = true;
    }
}

/* Raise the descriptor limit to what max_connections needs, if allowed. */
static void server_raise_nofile(struct server *s)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)(s->cfg.max_connections + SERVER_REFUSE_SLOTS + s->cfg.extra_slots + 32);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        log_event(LOG_WARN, 0, "fd_limit", "RLIMIT_NOFILE %llu < MAX_CONNECTIONS+32; "
                  "connections beyond it get 503", (unsigned long long)rl.rlim_cur);
}

int server_init(struct server *s)
{
    const struct server_config *cfg = &s->cfg;
    uint32_t maxc = (uint32_t)cfg->max_connections + SERVER_REFUSE_SLOTS;
    server_raise_nofile(s);
    s->listen_fd = s->signal_fd = -1;
    s->conns = calloc(maxc, sizeof *s->conns);
    s->free_list = calloc(maxc, sizeof *s->free_list);
    if (!s->conns || !s->free_list || guard_init(s) != 0)
        return -1;
    /* The table stays untouched (calloc'd pages are not resident) until a
     * connection uses its entry; free entries have srv == NULL. */
    for (uint32_t i = 0; i < maxc; i++)
        s->free_list[i] = maxc - 1 - i;
    s->free_top = maxc;
    if (pool_init(&s->rx_pool, cfg->rx_buffer_size, maxc, SERVER_POOL_KEEP) ||
        pool_init(&s->tx_pool, cfg->tx_buffer_size, maxc, SERVER_POOL_KEEP) ||
        pool_init(&s->msg_pool, cfg->max_message_size, (uint32_t)cfg->message_buffers, 2))
        return -1;
    /* Slots: clients, outgoing connections and their pipes, listener, self-pipe. */
    uint32_t slots = maxc + cfg->extra_slots + 8;
    if (loop_init(&s->loop, slots, SERVER_TICK_MS, server_tick, s))
        return -1;
    if (pipe2(server_signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        return -1;
    s->signal_fd = server_signal_pipe[0];
    struct sigaction sa = {.sa_handler = server_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a peer that vanished is an EPIPE, not a death */
    if (server_listen(s))
        return -1;
    s->spare_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    loop_add(&s->loop, s->listen_fd, POLLIN, conn_on_listen, s, &s->listen_slot);
    loop_add(&s->loop, s->signal_fd, POLLIN, server_on_signal_pipe, s, &s->signal_slot);
    return 0;
}

int server_run(struct server *s)
{
    log_event(LOG_INFO, 0, "listening", "%s:%u max_connections=%llu connection_entry_bytes=%zu",
              s->cfg.host, s->cfg.port, (unsigned long long)s->cfg.max_connections,
              sizeof(struct conn));
    if (loop_run(&s->loop) != 0) {
        log_event(LOG_ERROR, 0, "poll_failed", "%s", strerror(errno));
        return -1;
    }
    log_event(LOG_INFO, 0, "stopped", "clean exit");
    return 0;
}

#undef SERVER_TICK_MS
#undef SERVER_BACKLOG
#undef SERVER_POOL_KEEP
