/* The metrics registry and the Prometheus text page (metrics.h).
 * deps: clock.c */
#include "io/metrics.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "io/clock.h"

#define METRICS_SERIES_MAX 32   /* label combinations of one family (route x state is the largest) */
#define METRICS_BUCKETS_MAX 16  /* bucket bounds of one histogram, +Inf not counted */
#define METRICS_COLLECTORS 4    /* gauge collectors (server, upstream) with room to spare */
#define METRICS_PAGE_FIRST 65536 /* first buffer for a page; grown by doubling... */
#define METRICS_PAGE_MAX (1u << 22) /* ...up to 4 MiB, far above the fixed series (~60 KiB) */
#define METRICS_PROC_BUF 1024   /* /proc/self/stat and statm fit */
#define METRICS_DENTS_BUF 4096  /* getdents64 batch when counting open descriptors */

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_label {
    const char *name;
    const char *const *values;
    unsigned n;
};

struct metrics_family {
    const char *name, *help;
    enum metrics_type type;
    const struct metrics_label *a, *b; /* NULL: no such label */
    const double *le;                  /* histogram bucket bounds, ascending */
    unsigned nle;
};

#define METRICS_L(nm, arr) {nm, arr, ARRAY_LEN(arr)}
static const char *const metrics_v_route[MR_COUNT] = {"none", "health", "metrics", "page", "api", "client", "stream", "socket_io"};
static const char *const metrics_v_state[MS_COUNT] = {"http", "websocket", "closing", "linger"};
static const char *const metrics_v_reason[MRS_COUNT] = {"max_connections", "per_ip", "origin", "host", "auth",
                                                        "auth_throttled", "rate_limit", "bad_request",
                                                        "shutting_down", "sessions"};
static const char *const metrics_v_dialect[MD_COUNT] = {"client", "stream", "socket_io"};
static const char *const metrics_v_close[] = {"1000", "1001", "1002", "1003", "1007", "1008",
                                              "1009", "1011", "1013", "other"};
static const char *const metrics_v_kind[MK_COUNT] = {"opening", "answer"};
static const char *const metrics_v_result[MT_COUNT] = {"completed", "failed", "interrupted"};
static const char *const metrics_v_code[MC_COUNT] = {"no_key", "busy", "empty", "buffer", "transcription",
                                                     "empty_transcript", "ai_response", "tts"};
static const char *const metrics_v_ok[MO_COUNT] = {"ok", "failed"};
static const char *const metrics_v_pool[MP_COUNT] = {"hit", "miss"};
static const char *const metrics_v_dns[MDNS_COUNT] = {"cache", "query", "failed"};
static const char *const metrics_v_endpoint[ME_COUNT] = {"transcriptions", "chat", "speech", "job_fetch", "other"};
static const char *const metrics_v_class[MCL_COUNT] = {"2xx", "3xx", "4xx", "5xx", "error", "cancelled"};
static const char *const metrics_v_phase[MPH_COUNT] = {"dns", "connect", "tls", "first_byte", "total"};

static const struct metrics_label metrics_l_route = METRICS_L("route", metrics_v_route),
                                  metrics_l_state = METRICS_L("state", metrics_v_state),
                                  metrics_l_reason = METRICS_L("reason", metrics_v_reason),
                                  metrics_l_dialect = METRICS_L("dialect", metrics_v_dialect),
                                  metrics_l_close = METRICS_L("code", metrics_v_close),
                                  metrics_l_kind = METRICS_L("kind", metrics_v_kind),
                                  metrics_l_result = METRICS_L("result", metrics_v_result),
                                  metrics_l_code = METRICS_L("code", metrics_v_code),
                                  metrics_l_ok = METRICS_L("result", metrics_v_ok),
                                  metrics_l_pool = METRICS_L("result", metrics_v_pool),
                                  metrics_l_dns = METRICS_L("result", metrics_v_dns),
                                  metrics_l_endpoint = METRICS_L("endpoint", metrics_v_endpoint),
                                  metrics_l_class = METRICS_L("class", metrics_v_class),
                                  metrics_l_phase = METRICS_L("phase", metrics_v_phase);

/* Upstream calls: a loopback TLS handshake takes ~1 ms, a chat stream up to a minute. */
static const double metrics_le_upstream[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1,      2.5,   5,    10,    30,   60};
/* Turn latencies: what a candidate notices lies between 0.2 s and a few seconds. */
static const double metrics_le_turn[] = {0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60};
/* Loop lag: healthy is well under a millisecond; 100 ms is a stall a listener hears. */
static const double metrics_le_lag[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                        0.01,    0.025,  0.05,    0.1,    0.25,  1};

#define METRICS_C(nm, help, a, b) {nm, help, METRICS_COUNTER, a, b, NULL, 0}
#define METRICS_G(nm, help, a, b) {nm, help, METRICS_GAUGE, a, b, NULL, 0}
#define METRICS_HI(nm, help, a, b, le) {nm, help, METRICS_HISTOGRAM, a, b, le, ARRAY_LEN(le)}
static const struct metrics_family metrics_fam[M_COUNT] = {
    [M_CONNECTIONS] = METRICS_G("interview_connections", "Open client connections by route and state.",
                                &metrics_l_route, &metrics_l_state),
    [M_CONN_ACCEPTED] = METRICS_C("interview_connections_accepted_total", "TCP connections accepted.", NULL, NULL),
    [M_CONN_REFUSED] = METRICS_C("interview_connections_refused_total",
                                 "Requests, upgrades and messages refused, by reason.", &metrics_l_reason, NULL),
    [M_WS_MESSAGES_IN] = METRICS_C("interview_ws_messages_received_total", "WebSocket data messages received.",
                                   &metrics_l_dialect, NULL),
    [M_WS_BYTES_IN] = METRICS_C("interview_ws_received_bytes_total", "WebSocket data message payload bytes received.",
                                &metrics_l_dialect, NULL),
    [M_WS_MESSAGES_OUT] = METRICS_C("interview_ws_messages_sent_total", "WebSocket data messages sent.",
                                    &metrics_l_dialect, NULL),
    [M_WS_BYTES_OUT] = METRICS_C("interview_ws_sent_bytes_total", "WebSocket data message payload bytes sent.",
                                 &metrics_l_dialect, NULL),
    [M_WS_CLOSE_SENT] = METRICS_C("interview_ws_close_sent_total", "WebSocket close frames sent, by close code.",
                                  &metrics_l_close, NULL),
    [M_TURNS_STARTED] = METRICS_C("interview_turns_started_total", "Interview turns started (opening line or answer).",
                                  &metrics_l_kind, NULL),
    [M_TURNS] = METRICS_C("interview_turns_total", "Interview turns finished, by result.", &metrics_l_result, NULL),
    [M_TURN_ERRORS] = METRICS_C("interview_turn_errors_total",
                                "Errors the interview pipeline reported to a client, by error code.", &metrics_l_code,
                                NULL),
    [M_COACH_INTERVIEWS] = METRICS_C("interview_coach_interviews_total", "Coach interviews started (seed 003).", NULL,
                                     NULL),
    [M_COACH_ANSWERS] = METRICS_C("interview_coach_answers_total", "Coach answers analysed, by result.", &metrics_l_ok,
                                  NULL),
    [M_UP_REQUESTS] = METRICS_C("interview_upstream_requests_total",
                                "Upstream requests finished, by endpoint and status class.", &metrics_l_endpoint,
                                &metrics_l_class),
    [M_UP_RETRIES] = METRICS_C("interview_upstream_retries_total", "Upstream request retries, by endpoint.",
                               &metrics_l_endpoint, NULL),
    [M_UP_POOL] = METRICS_C("interview_upstream_pool_total",
                            "Upstream attempts served by a pooled keep-alive connection (hit) or a new one (miss).",
                            &metrics_l_pool, NULL),
    [M_UP_INFLIGHT] = METRICS_G("interview_upstream_inflight", "Upstream API requests in flight.", NULL, NULL),
    [M_TLS_HANDSHAKES] = METRICS_C("interview_tls_handshakes_total", "Outgoing TLS handshakes, by result.",
                                   &metrics_l_ok, NULL),
    [M_DNS_LOOKUPS] = METRICS_C("interview_dns_lookups_total",
                                "Host name lookups of the upstream clients, by result.", &metrics_l_dns, NULL),
    [M_UP_DURATION] = METRICS_HI("interview_upstream_request_duration_seconds",
                                "Upstream request latency by endpoint and phase (total includes retries).",
                                &metrics_l_endpoint, &metrics_l_phase, metrics_le_upstream),
    [M_TURN_TRANSCRIPT] = METRICS_HI("interview_turn_transcript_seconds", "End of answer to its transcript.", NULL,
                                    NULL, metrics_le_turn),
    [M_TURN_FIRST_TOKEN] = METRICS_HI("interview_turn_first_token_seconds",
                                     "End of answer (or start of the opening) to the reply's first token.", NULL, NULL,
                                     metrics_le_turn),
    [M_TURN_FIRST_SENTENCE] = METRICS_HI("interview_turn_first_sentence_seconds",
                                        "End of answer to the reply's first sentence sent to text-to-speech.", NULL,
                                        NULL, metrics_le_turn),
    [M_TURN_FIRST_AUDIO] = METRICS_HI("interview_turn_first_audio_seconds",
                                     "End of answer to the first piece of reply audio sent to the client.", NULL, NULL,
                                     metrics_le_turn),
    [M_TURN_DURATION] = METRICS_HI("interview_turn_duration_seconds", "End of answer to the end of the reply.", NULL,
                                  NULL, metrics_le_turn),
    [M_LOOP_LAG] = METRICS_HI("interview_event_loop_lag_seconds",
                             "Duration of each event loop pass over ready events: the longest any of them waited.", NULL, NULL,
                             metrics_le_lag),
    [M_BUILD_INFO] = METRICS_G("interview_build_info", "Build versions; the value is always 1.", NULL, NULL),
};

#define METRICS_FIRST_HIST M_UP_DURATION
#define METRICS_NHIST (M_LOOP_LAG - M_UP_DURATION + 1)
_Static_assert(M_LOOP_LAG + 1 == M_BUILD_INFO, "histogram families are contiguous, before build_info");

struct metrics_hist {
    uint64_t bucket[METRICS_BUCKETS_MAX + 1]; /* per bound, not cumulative; the last is +Inf */
    uint64_t count;
    double sum;
};

static int64_t metrics_vals[M_COUNT][METRICS_SERIES_MAX];
static struct metrics_hist metrics_hists[METRICS_NHIST][METRICS_SERIES_MAX];
static struct {
    metrics_collect_fn fn;
    void *ctx;
} metrics_collectors[METRICS_COLLECTORS];
static unsigned metrics_ncollectors;
static const char *metrics_build[3] = {"unknown", "unknown", "unknown"};
static double metrics_start_time;
static size_t metrics_page_hint = METRICS_PAGE_FIRST;

/* The series index of (a, b), or -1 out of range (a caller's bug: ignored). */
static int metrics_series(enum metrics_id f, unsigned a, unsigned b)
{
    if ((unsigned)f >= M_COUNT)
        return -1;
    const struct metrics_family *m = &metrics_fam[f];
    unsigned na = m->a ? m->a->n : 1, nb = m->b ? m->b->n : 1;
    if (a >= na || b >= nb)
        return -1;
    return (int)(a * nb + b);
}

void metrics_add(enum metrics_id f, unsigned a, unsigned b, uint64_t v)
{
    int i = metrics_series(f, a, b);
    if (i >= 0)
        metrics_vals[f][i] += (int64_t)v;
}

void metrics_inc(enum metrics_id f, unsigned a, unsigned b) { metrics_add(f, a, b, 1); }

void metrics_set(enum metrics_id f, unsigned a, unsigned b, int64_t v)
{
    int i = metrics_series(f, a, b);
    if (i >= 0)
        metrics_vals[f][i] = v;
}

int64_t metrics_get(enum metrics_id f, unsigned a, unsigned b)
{
    int i = metrics_series(f, a, b);
    return i >= 0 ? metrics_vals[f][i] : 0;
}

void metrics_observe(enum metrics_id f, unsigned a, unsigned b, double seconds)
{
    int i = metrics_series(f, a, b);
    if (i < 0 || metrics_fam[f].type != METRICS_HISTOGRAM)
        return;
    const struct metrics_family *m = &metrics_fam[f];
    struct metrics_hist *h = &metrics_hists[f - METRICS_FIRST_HIST][i];
    unsigned k = 0;
    while (k < m->nle && seconds > m->le[k])
        k++;
    h->bucket[k]++;
    h->count++;
    h->sum += seconds;
}

enum metrics_endpoint metrics_endpoint_of(const char *path)
{
    static const struct { const char *tail; enum metrics_endpoint e; } map[] = {
        {"/audio/transcriptions", ME_TRANSCRIPTIONS}, {"/chat/completions", ME_CHAT}, {"/audio/speech", ME_SPEECH}};
    size_t n = path ? strcspn(path, "?") : 0;
    for (size_t i = 0; i < ARRAY_LEN(map); i++) {
        size_t t = strlen(map[i].tail);
        if (n >= t && memcmp(path + n - t, map[i].tail, t) == 0)
            return map[i].e;
    }
    return ME_OTHER;
}

enum metrics_class metrics_class_of(int status, bool cancelled)
{
    if (cancelled)
        return MCL_CANCELLED;
    if (status >= 200 && status < 600)
        return (enum metrics_class)(status / 100 - 2);
    return MCL_ERROR;
}

unsigned metrics_close_code(uint16_t code)
{
    for (unsigned i = 0; i + 1 < ARRAY_LEN(metrics_v_close); i++)
        if (atoi(metrics_v_close[i]) == code)
            return i;
    return ARRAY_LEN(metrics_v_close) - 1;
}

int metrics_add_collector(metrics_collect_fn fn, void *ctx)
{
    if (metrics_ncollectors == METRICS_COLLECTORS)
        return -1;
    metrics_collectors[metrics_ncollectors].fn = fn;
    metrics_collectors[metrics_ncollectors++].ctx = ctx;
    return 0;
}

void metrics_reset(void)
{
    memset(metrics_vals, 0, sizeof metrics_vals);
    memset(metrics_hists, 0, sizeof metrics_hists);
    metrics_ncollectors = 0;
}

/* ---- /proc/self, read at scrape time ------------------------------------ */

/* The whole (small) file into buf, NUL-terminated; its length or -1. */
static ssize_t metrics_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* Field k (1-based, as proc(5) numbers them) of /proc/self/stat; the command
 * name (field 2) may hold spaces and ')', so counting starts after the last ')'. */
static bool metrics_stat_field(unsigned k, unsigned long long *out)
{
    char buf[METRICS_PROC_BUF];
    if (metrics_read_file("/proc/self/stat", buf, sizeof buf) < 0)
        return false;
    char *p = strrchr(buf, ')');
    for (unsigned f = 2; p && f < k; f++)
        p = strchr(p + 1, ' ');
    return p && sscanf(p + 1, "%llu", out) == 1;
}

/* Entries of /proc/self/fd, less ".", ".." and the directory's own descriptor. */
static long metrics_open_fds(void)
{
    int fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[METRICS_DENTS_BUF] __attribute__((aligned(8)));
    long n = 0;
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got <= 0)
            break;
        for (long off = 0; off < got;) {
            unsigned short reclen;
            memcpy(&reclen, buf + off + 16, sizeof reclen); /* struct linux_dirent64: d_reclen at 16 */
            n += buf[off + 19] != '.';                      /* d_name at 19 */
            off += reclen;
        }
    }
    close(fd);
    return n - 1;
}

void metrics_set_build_info(const char *version, const char *mbedtls, const char *cjson)
{
    metrics_build[0] = version;
    metrics_build[1] = mbedtls;
    metrics_build[2] = cjson;
    metrics_set(M_BUILD_INFO, 0, 0, 1);
    /* Start time: now, less how long the process has run (its start in clock
     * ticks after boot, field 22, against CLOCK_BOOTTIME). */
    struct timespec wall, boot;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    double now = (double)wall.tv_sec + wall.tv_nsec / 1e9, up = (double)boot.tv_sec + boot.tv_nsec / 1e9;
    unsigned long long ticks;
    long hz = sysconf(_SC_CLK_TCK);
    metrics_start_time = metrics_stat_field(22, &ticks) && hz > 0 ? now - (up - (double)ticks / (double)hz) : now;
}

/* ---- the page ------------------------------------------------------------ */

struct metrics_out {
    char *p;
    size_t n, cap;
    bool over;
};

static void metrics_put(struct metrics_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void metrics_put(struct metrics_out *o, const char *fmt, ...)
{
    if (o->over)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= o->cap - o->n)
        o->over = true;
    else
        o->n += (size_t)k;
}

/* The hot path of a render (~1,500 lines) appends without printf. */
static void metrics_put_n(struct metrics_out *o, const char *p, size_t n)
{
    if (o->over || n >= o->cap - o->n) {
        o->over = true;
        return;
    }
    memcpy(o->p + o->n, p, n);
    o->n += n;
    o->p[o->n] = '\0';
}

static void metrics_put_s(struct metrics_out *o, const char *p) { metrics_put_n(o, p, strlen(p)); }

static void metrics_put_i(struct metrics_out *o, int64_t v)
{
    char d[24];
    size_t k = sizeof d;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        d[--k] = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        d[--k] = '-';
    metrics_put_n(o, d + k, sizeof d - k);
}

/* A label value as the format wants it: \ " and newline escaped. */
static void metrics_put_value(struct metrics_out *o, const char *v)
{
    for (; *v && !o->over; v++) {
        if (*v == '\\' || *v == '"')
            metrics_put(o, "\\%c", *v);
        else if (*v == '\n')
            metrics_put(o, "\\n");
        else
            metrics_put(o, "%c", *v);
    }
}

/* "{a="x",b="y"" without the closing brace (a histogram adds le). */
static void metrics_put_labels(struct metrics_out *o, const struct metrics_family *m, unsigned i)
{
    unsigned nb = m->b ? m->b->n : 1;
    metrics_put_n(o, "{", 1);
    if (m->a) {
        metrics_put_s(o, m->a->name);
        metrics_put_n(o, "=\"", 2);
        metrics_put_s(o, m->a->values[i / nb]);
        metrics_put_n(o, "\"", 1);
    }
    if (m->b) {
        metrics_put_n(o, ",", 1);
        metrics_put_s(o, m->b->name);
        metrics_put_n(o, "=\"", 2);
        metrics_put_s(o, m->b->values[i % nb]);
        metrics_put_n(o, "\"", 1);
    }
}

/* le[k]: the bound's text ("0.005", "+Inf" last), formatted once per family. */
static void metrics_put_hist(struct metrics_out *o, const struct metrics_family *m, const struct metrics_hist *h,
                             unsigned i, const char (*le)[16])
{
    uint64_t cum = 0;
    bool labels = m->a != NULL;
    for (unsigned k = 0; k <= m->nle; k++) {
        cum += h->bucket[k];
        metrics_put_s(o, m->name);
        metrics_put_n(o, "_bucket", 7);
        if (labels) {
            metrics_put_labels(o, m, i);
            metrics_put_n(o, ",", 1);
        } else {
            metrics_put_n(o, "{", 1);
        }
        metrics_put_n(o, "le=\"", 4);
        metrics_put_s(o, le[k]);
        metrics_put_n(o, "\"} ", 3);
        metrics_put_i(o, (int64_t)cum);
        metrics_put_n(o, "\n", 1);
    }
    for (int part = 0; part < 2; part++) {
        metrics_put_s(o, m->name);
        metrics_put_s(o, part ? "_count" : "_sum");
        if (labels) {
            metrics_put_labels(o, m, i);
            metrics_put_n(o, "}", 1);
        }
        if (part) {
            metrics_put_n(o, " ", 1);
            metrics_put_i(o, (int64_t)h->count);
            metrics_put_n(o, "\n", 1);
        } else {
            metrics_put(o, " %.9g\n", h->sum);
        }
    }
}

static void metrics_put_family(struct metrics_out *o, enum metrics_id f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    const struct metrics_family *m = &metrics_fam[f];
    unsigned n = (m->a ? m->a->n : 1) * (m->b ? m->b->n : 1);
    metrics_put(o, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, types[m->type]);
    if (f == M_BUILD_INFO) {
        static const char *const names[] = {"version", "mbedtls", "cjson"};
        metrics_put(o, "%s{", m->name);
        for (unsigned k = 0; k < 3; k++) {
            metrics_put(o, "%s%s=\"", k ? "," : "", names[k]);
            metrics_put_value(o, metrics_build[k]);
            metrics_put(o, "\"");
        }
        metrics_put(o, "} 1\n");
        return;
    }
    char le[METRICS_BUCKETS_MAX + 1][16];
    for (unsigned k = 0; m->type == METRICS_HISTOGRAM && k <= m->nle; k++)
        snprintf(le[k], sizeof le[k], k < m->nle ? "%g" : "+Inf", m->le[k < m->nle ? k : 0]);
    for (unsigned i = 0; i < n; i++) {
        if (m->type == METRICS_HISTOGRAM) {
            metrics_put_hist(o, m, &metrics_hists[f - METRICS_FIRST_HIST][i], i, (const char (*)[16])le);
            continue;
        }
        metrics_put_s(o, m->name);
        if (m->a) {
            metrics_put_labels(o, m, i);
            metrics_put_n(o, "}", 1);
        }
        metrics_put_n(o, " ", 1);
        metrics_put_i(o, metrics_vals[f][i]);
        metrics_put_n(o, "\n", 1);
    }
}

static void metrics_put_process(struct metrics_out *o)
{
    struct rusage ru;
    struct rlimit rl;
    char statm[METRICS_PROC_BUF];
    unsigned long long vsize = 0, rss = 0;
    long page = sysconf(_SC_PAGESIZE), fds = metrics_open_fds();
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        metrics_put(o, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                       "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.6f\n",
                    (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                        ru.ru_stime.tv_usec / 1e6);
    if (metrics_read_file("/proc/self/statm", statm, sizeof statm) > 0 &&
        sscanf(statm, "%llu %llu", &vsize, &rss) == 2 && page > 0)
        metrics_put(o, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                       "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n"
                       "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                       "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %llu\n",
                    rss * (unsigned long long)page, vsize * (unsigned long long)page);
    if (fds >= 0)
        metrics_put(o, "# HELP process_open_fds Number of open file descriptors.\n"
                       "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n", fds);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        metrics_put(o, "# HELP process_max_fds Maximum number of open file descriptors.\n"
                       "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    metrics_put(o, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                   "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n", metrics_start_time);
}

ssize_t metrics_render_into(char *buf, size_t cap)
{
    struct metrics_out o = {buf, 0, cap, cap == 0};
    for (unsigned i = 0; i < metrics_ncollectors; i++)
        metrics_collectors[i].fn(metrics_collectors[i].ctx);
    for (unsigned f = 0; f < M_COUNT; f++)
        metrics_put_family(&o, (enum metrics_id)f);
    metrics_put_process(&o);
    return o.over ? -1 : (ssize_t)o.n;
}

char *metrics_render(size_t *len)
{
    for (size_t cap = metrics_page_hint; cap <= METRICS_PAGE_MAX; cap *= 2) {
        char *buf = malloc(cap);
        if (!buf)
            return NULL;
        ssize_t n = metrics_render_into(buf, cap);
        if (n >= 0) {
            metrics_page_hint = cap;
            *len = (size_t)n;
            return buf;
        }
        free(buf);
    }
    return NULL;
}

#undef METRICS_SERIES_MAX
#undef METRICS_BUCKETS_MAX
#undef METRICS_COLLECTORS
#undef METRICS_PAGE_FIRST
#undef METRICS_PAGE_MAX
#undef METRICS_PROC_BUF
#undef METRICS_DENTS_BUF
#undef METRICS_L
#undef METRICS_C
#undef METRICS_G
#undef METRICS_HI
#undef METRICS_FIRST_HIST
#undef METRICS_NHIST
