/* Load generator for the benchmark kit: one thread, epoll, non-blocking
 * sockets, masked client frames, no dependency beyond libc. It drives any
 * server that speaks the seed 001 subset on /ws/{id} (ping -> pong,
 * audio_chunk -> amplitude, send_for_AI_processing -> streamed turn) and reads
 * the server's CPU time and memory from /proc/PID, so every figure can be
 * given per server-CPU-second (stable on a shared machine; wall clock is not).
 *
 *   loadgen conns    -n N                    hold N idle connections
 *   loadgen pingpong -c C -k K -d SECS       C conns, K pings in flight each
 *   loadgen audio    -c C -d SECS [-k K -F]  real time (one chunk / 64 ms each),
 *                                            or flat out (-F, K in flight)
 *   loadgen turn     -c M -r ROUNDS          full turns, time to first audio frame
 *   loadgen answer   -c C -a SECS -m MODE [-x SPEED] [-S STAGGER_MS]
 *                    every client says one answer of SECS seconds with pauses
 *                    (speech-like audio, seed 001 audio_chunk arrays) at SPEED
 *                    times real time (1 = real time), after start_interview in
 *                    MODE: vad (server_vad, incremental), vadwhole (server_vad,
 *                    one transcription), client (send_for_AI_processing right
 *                    after the speech, one transcription), clientinc (the same,
 *                    incremental). Measures end of speech -> first reply audio
 *                    frame, and samples the server's RSS every 100 ms (peak).
 *                    -L: wall ms the candidate listens to the opening question
 *                    before the microphone opens (else the answer interrupts it).
 * common: -p PORT [-H 127.0.0.1] [-P SERVER_PID] [-R CHUNKS_PER_CONN]
 * Prints a human summary and one line "JSON {...}". Exit 0 when it ran. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

enum mode { M_CONNS, M_PINGPONG, M_AUDIO, M_TURN, M_ANSWER };
enum amode { A_VAD, A_VAD_WHOLE, A_CLIENT, A_CLIENT_INC };
/* answer: where a client is in its one answer */
enum astage { AS_WAIT_START, AS_STREAM, AS_TRAIL, AS_WAIT_AUDIO, AS_WAIT_DONE, AS_DONE };
enum cstate { C_FREE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_DEAD };

#define MAXQ 64 /* in-flight send times remembered per connection */
#define ANS_CHUNK 1024         /* samples per audio_chunk, as seed 001 sends them (64 ms) */
#define ANS_CHUNK_US 64000
#define ANS_SPEECH_FRAMES 16   /* 1.024 s of speech, looped */
#define ANS_SIL_FRAMES 4
#define ANS_LEAD_CHUNKS 16     /* 1 s of room noise before the first word (the VAD's floor settles) */
#define ANS_TRAIL_MAX 160      /* 10 s of silence at most after the answer, waiting for the reply */
#define ANS_BACKLOG 32         /* unanswered chunks (2 s of audio) before a client waits for the server */

struct cl {
    int fd;
    enum cstate st;
    uint64_t t_start;          /* connect() time */
    uint8_t *rb; size_t rlen, rcap;
    uint8_t *wb; size_t wlen, woff, wcap;
    uint64_t q[MAXQ]; unsigned qh, qn; /* send times of unanswered requests */
    uint64_t sent_chunks;      /* on this connection (for -R reconnects) */
    uint64_t next_due;         /* real-time audio */
    bool behind;
    /* turn */
    int round; uint64_t t_turn; bool got_audio; int tstage;
    /* answer */
    enum astage ast; uint32_t apos; uint64_t t_end; int trail;
};

static struct {
    enum mode mode;
    const char *host; int port; int pid;
    int n, c, k; double d; bool flat; int rounds; int reconnect; int chunks_per_turn;
    int epfd;
    struct cl *cls; int ncl;
    uint32_t *lat; size_t nlat, caplat;   /* microseconds */
    uint32_t *warm; size_t nwarm, capwarm; /* turn: rounds after the first (pooled upstream) */
    uint64_t replies, errors, hs_ok, hs_fail, refused_at, closed, behind_events;
    uint64_t turns_ok, turns_fail, t0;
    bool measuring;
    uint8_t *ping_frame; size_t ping_len;
    uint8_t *audio_frame; size_t audio_len;
    uint8_t *sfap_frame; size_t sfap_len;
    uint32_t rng;
    /* answer */
    enum amode amode; double answer_s, speed; int stagger_ms, listen_ms;
    uint64_t early, interrupted;
    uint8_t *script; uint32_t nscript, last_speech; /* per chunk: 0 silence, 1 + i speech frame i */
    uint8_t *speech_fr[ANS_SPEECH_FRAMES]; size_t speech_len[ANS_SPEECH_FRAMES];
    uint8_t *sil_fr[ANS_SIL_FRAMES]; size_t sil_len[ANS_SIL_FRAMES];
    uint8_t *start_frame; size_t start_len;
    uint32_t *alat; size_t nalat, capalat; /* answer: amplitude latency while speaking (us) */
    uint64_t partials, started_ev, stopped_ev, slips, started_clients;
    long rss_started, rss_peak, rss_speech_peak; uint64_t t_peak; int nopened;
} G = {.host = "127.0.0.1", .n = 1000, .c = 100, .k = 10, .d = 5, .rounds = 2, .chunks_per_turn = 16};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t rnd(void)
{
    G.rng ^= G.rng << 13; G.rng ^= G.rng >> 17; G.rng ^= G.rng << 5;
    return G.rng;
}

/* ---- /proc ---------------------------------------------------------------- */

static double proc_cpu_s(void)
{
    if (!G.pid) return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", G.pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    unsigned long ut = 0, st = 0;
    /* after ") " come fields 3..; utime and stime are fields 14 and 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_status_kb(const char *key)
{
    if (!G.pid) return 0;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", G.pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') { v = atol(line + kl + 1); break; }
    fclose(f);
    return v;
}

static long proc_fds(void)
{
    if (!G.pid) return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", G.pid);
    DIR *d = opendir(path);
    if (!d) return 0;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* ---- frames --------------------------------------------------------------- */

static uint8_t *mk_frame(int opcode, const void *payload, size_t n, size_t *out_len)
{
    uint8_t *f = malloc(n + 14);
    size_t h = 0;
    f[h++] = (uint8_t)(0x80 | opcode);
    if (n < 126) f[h++] = (uint8_t)(0x80 | n);
    else if (n < 65536) { f[h++] = 0x80 | 126; f[h++] = (uint8_t)(n >> 8); f[h++] = (uint8_t)n; }
    else { f[h++] = 0x80 | 127; for (int i = 7; i >= 0; i--) f[h++] = (uint8_t)((uint64_t)n >> (8 * i)); }
    uint32_t key = rnd() | 0x01010101u;
    uint8_t m[4]; memcpy(m, &key, 4);
    memcpy(f + h, m, 4); h += 4;
    const uint8_t *p = payload;
    for (size_t i = 0; i < n; i++) f[h + i] = p[i] ^ m[i & 3];
    *out_len = h + n;
    return f;
}

static void mk_frames(void)
{
    const char *ping = "{\"type\":\"ping\"}";
    G.ping_frame = mk_frame(1, ping, strlen(ping), &G.ping_len);
    const char *sf = "{\"type\":\"send_for_AI_processing\",\"timestamp\":\"2024-11-25T10:00:15Z\"}";
    G.sfap_frame = mk_frame(1, sf, strlen(sf), &G.sfap_len);
    /* 1024 int16 samples as seed 001 sends them: speech-like level with noise */
    char *a = malloc(16384);
    size_t o = (size_t)sprintf(a, "{\"type\":\"audio_chunk\",\"data\":[");
    for (int i = 0; i < 1024; i++) {
        int s = (int)(6000 * sin(i * 0.07) + (int)(rnd() % 2001) - 1000);
        o += (size_t)sprintf(a + o, i ? ",%d" : "%d", s);
    }
    o += (size_t)sprintf(a + o, "],\"timestamp\":\"2024-11-25T10:00:10Z\"}");
    G.audio_frame = mk_frame(1, a, o, &G.audio_len);
    free(a);
}

/* ---- answer: speech-like audio with pauses ---------------------------------- */

/* One audio_chunk as seed 001 sends it: Array.from(Uint16Array), no timestamp needed. */
static uint8_t *mk_chunk_frame(const int16_t *pcm, size_t *len)
{
    char *a = malloc(16 + ANS_CHUNK * 7 + 16);
    size_t o = (size_t)sprintf(a, "{\"type\":\"audio_chunk\",\"data\":[");
    for (int i = 0; i < ANS_CHUNK; i++) o += (size_t)sprintf(a + o, i ? ",%u" : "%u", (unsigned)(uint16_t)pcm[i]);
    o += (size_t)sprintf(a + o, "]}");
    uint8_t *f = mk_frame(1, a, o, len);
    free(a);
    return f;
}

static int noise40(void) { return (int)(rnd() % 81) - 40; }

/* The same signal as tests/integ/test_conversation.py's speech(): harmonics of
 * 140 Hz up to 3.5 kHz with a 5 Hz syllable envelope, over +-40 of noise;
 * silence is that noise alone. */
static void mk_answer_frames(void)
{
    int16_t pcm[ANS_CHUNK];
    for (int f = 0; f < ANS_SPEECH_FRAMES; f++) {
        for (int i = 0; i < ANS_CHUNK; i++) {
            double t = (double)(f * ANS_CHUNK + i) / 16000.0, v = 0;
            double env = 0.45 + 0.55 * fabs(sin(M_PI * 5 * t));
            for (int k = 1; k <= 25; k++) v += sin(2 * M_PI * 140 * k * t) / k;
            int x = (int)(5000 * env * v / 2.5) + noise40();
            pcm[i] = (int16_t)(x > 32767 ? 32767 : x < -32768 ? -32768 : x);
        }
        G.speech_fr[f] = mk_chunk_frame(pcm, &G.speech_len[f]);
    }
    for (int f = 0; f < ANS_SIL_FRAMES; f++) {
        for (int i = 0; i < ANS_CHUNK; i++) pcm[i] = (int16_t)noise40();
        G.sil_fr[f] = mk_chunk_frame(pcm, &G.sil_len[f]);
    }
    const char *st[] = {
        [A_VAD] = "{\"type\":\"start_interview\",\"turn_detection\":{\"type\":\"server_vad\"}}",
        [A_VAD_WHOLE] = "{\"type\":\"start_interview\",\"turn_detection\":{\"type\":\"server_vad\"},"
                        "\"incremental_transcription\":false}",
        [A_CLIENT] = "{\"type\":\"start_interview\"}",
        [A_CLIENT_INC] = "{\"type\":\"start_interview\",\"incremental_transcription\":true}"};
    G.start_frame = mk_frame(1, st[G.amode], strlen(st[G.amode]), &G.start_len);
}

/* The answer, chunk by chunk (the same for every client, from a fixed seed):
 * 1 s of room noise, then stretches of speech of 2-5 s separated by pauses of
 * 448-512 ms (longer than TRANSCRIBE_PAUSE 300 ms, shorter than the 700 ms of
 * silence that ends an answer, with room for the VAD dating a stretch's end
 * up to ~120 ms early: a 576 ms pause after a long stretch ended answers),
 * ending with speech, SECS long in all. */
static void mk_script(void)
{
    uint32_t n = (uint32_t)(G.answer_s * 1e6 / ANS_CHUNK_US + 0.5), seed = 0x13131313u, pos = 0;
    if (n < ANS_LEAD_CHUNKS + 8) n = ANS_LEAD_CHUNKS + 8;
    G.script = calloc(n, 1);
    G.nscript = n;
    uint32_t i = ANS_LEAD_CHUNKS;
    while (i < n) {
        seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5;
        uint32_t speech = 31 + seed % 48; /* 31..78 chunks: 2.0-5.0 s */
        for (uint32_t k = 0; k < speech && i < n; k++, i++, pos++) G.script[i] = (uint8_t)(1 + pos % ANS_SPEECH_FRAMES);
        G.last_speech = i - 1;
        uint32_t pause = 7 + seed % 2; /* 7..8 chunks */
        if (i + pause + 8 >= n) break;  /* the last stretch runs to the end */
        i += pause;
    }
    for (; i < n; i++, pos++) G.script[i] = (uint8_t)(1 + pos % ANS_SPEECH_FRAMES);
    G.last_speech = n - 1;
}

static void push_u32(uint32_t **v, size_t *n, size_t *cap, uint64_t x)
{
    if (*n == *cap) { *cap = *cap ? *cap * 2 : 1 << 16; *v = realloc(*v, *cap * sizeof **v); }
    (*v)[(*n)++] = x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
}

/* ---- connections ---------------------------------------------------------- */

static void lat_add(uint64_t us)
{
    if (!G.measuring) return;
    if (G.nlat == G.caplat) {
        G.caplat = G.caplat ? G.caplat * 2 : 1 << 16;
        G.lat = realloc(G.lat, G.caplat * sizeof *G.lat);
    }
    G.lat[G.nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void wb_push(struct cl *c, const void *p, size_t n)
{
    if (c->woff && c->woff == c->wlen) c->woff = c->wlen = 0;
    if (c->wlen + n > c->wcap) {
        if (c->woff) { memmove(c->wb, c->wb + c->woff, c->wlen - c->woff); c->wlen -= c->woff; c->woff = 0; }
        if (c->wlen + n > c->wcap) { c->wcap = (c->wlen + n) * 2; c->wb = realloc(c->wb, c->wcap); }
    }
    memcpy(c->wb + c->wlen, p, n);
    c->wlen += n;
}

static void ep_mod(struct cl *c, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(G.epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void cl_kill(struct cl *c, bool count)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    if (count && c->st == C_OPEN) G.closed++;
    c->st = C_DEAD;
    c->rlen = c->wlen = c->woff = 0;
    c->qn = c->qh = 0;
}

static bool flush(struct cl *c)
{
    while (c->woff < c->wlen) {
        ssize_t w = send(c->fd, c->wb + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) { ep_mod(c, true); return true; }
            cl_kill(c, true);
            return false;
        }
        c->woff += (size_t)w;
    }
    c->woff = c->wlen = 0;
    return true;
}

static void cl_open(struct cl *c, int idx)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)G.port)};
    inet_pton(AF_INET, G.host, &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { c->st = C_DEAD; G.hs_fail++; return; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->t_start = now_us();
    c->rlen = c->wlen = c->woff = 0; c->qn = c->qh = 0; c->sent_chunks = 0;
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        close(c->fd); c->fd = -1; c->st = C_DEAD; G.hs_fail++; return;
    }
    c->st = C_CONNECTING;
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /ws/bench%d HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Origin: http://%s:%d\r\n\r\n", idx, G.host, G.port, G.host, G.port);
    wb_push(c, req, (size_t)n);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(G.epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void send_req(struct cl *c, const uint8_t *f, size_t n)
{
    if (c->qn < MAXQ) c->q[(c->qh + c->qn++) % MAXQ] = now_us();
    wb_push(c, f, n);
}

static void fill_inflight(struct cl *c)
{
    if (G.mode == M_PINGPONG)
        while ((int)c->qn < G.k) send_req(c, G.ping_frame, G.ping_len);
    else if (G.mode == M_AUDIO && G.flat)
        while ((int)c->qn < G.k && !(G.reconnect && c->sent_chunks >= (uint64_t)G.reconnect)) {
            send_req(c, G.audio_frame, G.audio_len);
            c->sent_chunks++;
        }
}

static void turn_begin(struct cl *c)
{
    for (int i = 0; i < G.chunks_per_turn; i++) wb_push(c, G.audio_frame, G.audio_len);
    c->qn = 0;
    wb_push(c, G.sfap_frame, G.sfap_len);
    c->t_turn = now_us();
    c->got_audio = false;
}

static void on_open(struct cl *c)
{
    G.hs_ok++;
    c->st = C_OPEN;
    if (G.mode == M_ANSWER) { wb_push(c, G.start_frame, G.start_len); c->ast = AS_WAIT_START; }
    else if (G.mode != M_TURN) fill_inflight(c);
}

static bool is_type(const char *v, size_t vn, const char *t)
{
    size_t n = strlen(t);
    return vn > n && memcmp(v, t, n) == 0 && v[n] == '"';
}

static void on_answer_text(struct cl *c, const char *v, size_t vn, bool amp)
{
    static int debug = -1;
    if (debug < 0) debug = getenv("LOADGEN_DEBUG") != NULL;
    if (debug && !amp && !is_type(v, vn, "ai_audio_chunk"))
        fprintf(stderr, "%.3f client %d chunk %u: %.*s\n", (double)(now_us() - G.t0) / 1e6, (int)(c - G.cls), c->apos,
                (int)(vn < 160 ? vn : 160), v);
    if (amp) {
        if (c->qn) {
            if (G.measuring) push_u32(&G.alat, &G.nalat, &G.capalat, now_us() - c->q[c->qh]);
            c->qh = (c->qh + 1) % MAXQ; c->qn--;
        }
        G.replies++;
    } else if (is_type(v, vn, "interview_started") && c->ast == AS_WAIT_START) {
        c->ast = AS_STREAM;
        c->apos = 0;
        /* a microphone hands over a chunk when it has recorded it */
        c->next_due = now_us() + (uint64_t)G.listen_ms * 1000 + (uint64_t)G.stagger_ms * 1000 * G.started_clients++ +
                      (uint64_t)(ANS_CHUNK_US / G.speed);
    } else if (is_type(v, vn, "user_transcript_partial")) {
        G.partials++;
    } else if (is_type(v, vn, "speech_started")) {
        G.started_ev++;
    } else if (is_type(v, vn, "speech_stopped")) {
        G.stopped_ev++;
    } else if (is_type(v, vn, "ai_response_complete") && c->ast >= AS_TRAIL) {
        if (c->ast == AS_WAIT_DONE) G.turns_ok++; else G.turns_fail++;
        c->ast = AS_DONE;
    } else if (is_type(v, vn, "ai_interrupted")) {
        G.interrupted++;
    } else if (is_type(v, vn, "user_transcript") && c->ast == AS_STREAM) {
        G.early++; /* the server ended the answer inside a pause */
    } else if (is_type(v, vn, "error")) {
        G.errors++;
        if (G.errors <= 5) fprintf(stderr, "error: %.*s\n", (int)(vn < 200 ? vn : 200), v);
        if (c->ast == AS_WAIT_START) c->ast = AS_DONE;
    }
}

static void on_text(struct cl *c, const char *p, size_t n)
{
    /* peers may print JSON with or without spaces: look for the type value */
    const char *t = memmem(p, n < 64 ? n : 64, "\"type\"", 6);
    if (!t) return;
    size_t off = (size_t)(t - p) + 6;
    while (off < n && (p[off] == ' ' || p[off] == ':')) off++;
    if (off < n && p[off] == '"') off++;
    const char *v = p + off; size_t vn = n - off;
    bool pong = vn >= 5 && memcmp(v, "pong\"", 5) == 0;
    bool amp = vn >= 10 && memcmp(v, "amplitude\"", 10) == 0;
    bool err = vn >= 6 && memcmp(v, "error\"", 6) == 0;
    if (G.mode == M_ANSWER) { on_answer_text(c, v, vn, amp); return; }
    if (pong || amp) {
        if (c->qn) { lat_add(now_us() - c->q[c->qh]); c->qh = (c->qh + 1) % MAXQ; c->qn--; }
        if (G.measuring) G.replies++;
        if (G.mode == M_AUDIO && G.flat && G.reconnect && c->sent_chunks >= (uint64_t)G.reconnect && !c->qn) {
            cl_kill(c, false);
            c->st = C_FREE; /* reopened by the main loop */
            return;
        }
        fill_inflight(c);
    } else if (err) {
        if (G.measuring) G.errors++;
        if (G.mode == M_TURN && c->tstage == 0) { G.turns_fail++; c->tstage = 1; }
    } else if (G.mode == M_TURN && vn >= 21 && memcmp(v, "ai_response_complete\"", 21) == 0) {
        if (c->got_audio) G.turns_ok++; else G.turns_fail++;
        if (++c->round < G.rounds) turn_begin(c); else c->tstage = 2;
    }
}

static void on_frame(struct cl *c, int op, uint8_t *p, size_t n)
{
    if (op == 1) on_text(c, (const char *)p, n);
    else if (op == 2 && G.mode == M_ANSWER) {
        if ((c->ast == AS_TRAIL || c->ast == AS_WAIT_AUDIO) && c->t_end) {
            lat_add(now_us() - c->t_end);
            c->ast = AS_WAIT_DONE;
        }
    } else if (op == 2 && G.mode == M_TURN && !c->got_audio) {
        c->got_audio = true;
        lat_add(now_us() - c->t_turn);
        if (c->round > 0) {
            if (G.nwarm == G.capwarm) {
                G.capwarm = G.capwarm ? G.capwarm * 2 : 1024;
                G.warm = realloc(G.warm, G.capwarm * sizeof *G.warm);
            }
            G.warm[G.nwarm++] = (uint32_t)(now_us() - c->t_turn);
        }
    } else if (op == 9) {
        size_t fl; uint8_t *f = mk_frame(10, p, n, &fl);
        wb_push(c, f, fl); free(f);
    } else if (op == 8) {
        cl_kill(c, true);
    }
}

static void parse(struct cl *c)
{
    size_t off = 0;
    if (c->st == C_HANDSHAKE) {
        uint8_t *e = memmem(c->rb, c->rlen, "\r\n\r\n", 4);
        if (!e) return;
        if (c->rlen < 12 || memcmp(c->rb + 9, "101", 3) != 0) {
            if (!G.refused_at) G.refused_at = G.hs_ok;
            G.hs_fail++;
            cl_kill(c, false);
            return;
        }
        off = (size_t)(e - c->rb) + 4;
        on_open(c);
    }
    while (c->st == C_OPEN && c->rlen - off >= 2) {
        uint8_t *h = c->rb + off;
        int op = h[0] & 0x0f;
        size_t len = h[1] & 0x7f, hl = 2;
        if (len == 126) { if (c->rlen - off < 4) break; len = (size_t)h[2] << 8 | h[3]; hl = 4; }
        else if (len == 127) {
            if (c->rlen - off < 10) break;
            len = 0; for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i];
            hl = 10;
        }
        if (c->rlen - off < hl + len) break;
        off += hl + len;
        on_frame(c, op, h + hl, len);
    }
    if (c->st == C_DEAD || c->st == C_FREE) return;
    if (off) { memmove(c->rb, c->rb + off, c->rlen - off); c->rlen -= off; }
}

static void on_event(struct cl *c, uint32_t ev)
{
    if (c->st == C_CONNECTING) {
        int err = 0; socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) { if (!G.refused_at) G.refused_at = G.hs_ok; G.hs_fail++; cl_kill(c, false); return; }
        c->st = C_HANDSHAKE;
    }
    if (ev & EPOLLOUT) {
        if (!flush(c)) return;
        if (c->woff == c->wlen) ep_mod(c, false);
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
            if (c->rcap - c->rlen < 65536) { c->rcap = c->rcap * 2 + 65536; c->rb = realloc(c->rb, c->rcap); }
            ssize_t r = recv(c->fd, c->rb + c->rlen, c->rcap - c->rlen, 0);
            if (r > 0) { c->rlen += (size_t)r; if ((size_t)r < 65536) break; continue; }
            if (r < 0 && errno == EAGAIN) break;
            if (c->st == C_HANDSHAKE) { if (!G.refused_at) G.refused_at = G.hs_ok; G.hs_fail++; }
            cl_kill(c, true);
            return;
        }
        parse(c);
        if (c->st == C_OPEN || c->st == C_HANDSHAKE) flush(c);
    }
}

static void pump(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(G.epfd, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
}

/* ---- answer: pacing ---------------------------------------------------------- */

static bool answer_sending(const struct cl *c) { return c->st == C_OPEN && (c->ast == AS_STREAM || c->ast == AS_TRAIL); }

static void answer_send_one(struct cl *c)
{
    if (c->ast == AS_TRAIL) {
        send_req(c, G.sil_fr[c->trail % ANS_SIL_FRAMES], G.sil_len[c->trail % ANS_SIL_FRAMES]);
        if (++c->trail >= ANS_TRAIL_MAX) c->ast = AS_WAIT_AUDIO;
        return;
    }
    uint8_t k = G.script[c->apos];
    if (k) send_req(c, G.speech_fr[k - 1], G.speech_len[k - 1]);
    else send_req(c, G.sil_fr[c->apos % ANS_SIL_FRAMES], G.sil_len[c->apos % ANS_SIL_FRAMES]);
    if (c->apos == G.last_speech) c->t_end = now_us(); /* the last speech sample leaves now */
    if (++c->apos < G.nscript) return;
    if (G.amode == A_CLIENT || G.amode == A_CLIENT_INC) {
        wb_push(c, G.sfap_frame, G.sfap_len); /* the client ends the answer with its last word */
        c->ast = AS_WAIT_AUDIO;
    } else {
        c->ast = AS_TRAIL; /* the microphone stays open: room noise until the reply */
        c->trail = 0;
    }
}

/* Sends every chunk that is due; returns when the next one is. A client whose
 * server is ANS_BACKLOG chunks behind waits (counted as a slip) instead of
 * queueing without bound. */
static uint64_t answer_tick(uint64_t t)
{
    uint64_t soonest = UINT64_MAX, step = (uint64_t)(ANS_CHUNK_US / G.speed);
    for (int i = 0; i < G.ncl; i++) {
        struct cl *c = &G.cls[i];
        if (!answer_sending(c)) continue;
        bool sent = false;
        for (int burst = 0; burst < 4 && c->next_due <= t && answer_sending(c); burst++) {
            if (c->qn >= ANS_BACKLOG) { G.slips++; c->next_due = t + step; break; }
            answer_send_one(c);
            c->next_due += step;
            sent = true;
        }
        if (sent) flush(c);
        if (answer_sending(c) && c->next_due < soonest) soonest = c->next_due;
    }
    return soonest;
}

static bool answer_all_done(void)
{
    for (int i = 0; i < G.ncl; i++)
        if (G.cls[i].st == C_OPEN && G.cls[i].ast != AS_DONE) return false;
    return true;
}

/* Every opened client is in its answer (opening question heard, last word not yet sent). */
static bool answer_all_speaking(void)
{
    for (int i = 0; i < G.ncl; i++)
        if (G.cls[i].st == C_OPEN && G.cls[i].ast != AS_STREAM) return false;
    return true;
}

/* The peak while everyone speaks is the figure for held audio; the overall
 * peak also has the openings and the replies, which end close together. */
static void answer_rss(void)
{
    long r = proc_status_kb("VmRSS");
    if (r > G.rss_peak) { G.rss_peak = r; G.t_peak = now_us(); }
    if (!G.rss_started && G.started_clients && (int)G.started_clients >= G.nopened) G.rss_started = r;
    if (G.rss_started && answer_all_speaking() && r > G.rss_speech_peak) G.rss_speech_peak = r;
}

/* ---- reporting ------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_of(const uint32_t *v, size_t n, double p)
{
    if (!n) return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i] / 1000.0;
}

static double pct(double p) { return pct_of(G.lat, G.nlat, p); }

static int count_open(void)
{
    int n = 0;
    for (int i = 0; i < G.ncl; i++) n += G.cls[i].st == C_OPEN;
    return n;
}

/* Open all G.ncl connections, at most `burst` handshakes at once. */
static double open_all(int burst, double limit_s)
{
    uint64_t t0 = now_us();
    int next = 0;
    for (;;) {
        int pending = 0, open = 0, dead = 0;
        for (int i = 0; i < next; i++) {
            enum cstate s = G.cls[i].st;
            pending += s == C_CONNECTING || s == C_HANDSHAKE;
            open += s == C_OPEN; dead += s == C_DEAD;
        }
        if (G.mode == M_CONNS && G.refused_at) break;
        while (next < G.ncl && pending < burst) { cl_open(&G.cls[next], next); next++; pending++; }
        if (next == G.ncl && pending == 0) break;
        if ((double)(now_us() - t0) > limit_s * 1e6) break;
        pump(10);
        (void)open; (void)dead;
    }
    return (double)(now_us() - t0) / 1e6;
}

static int answer_run(const char *mname, const char *amode, int opened, long rss0, double cpu0)
{
    G.nopened = opened;
    G.measuring = true;
    G.t0 = now_us();
    uint64_t step = (uint64_t)(ANS_CHUNK_US / G.speed), next_rss = 0;
    uint64_t deadline = G.t0 + G.nscript * step + (uint64_t)G.stagger_ms * 1000 * (uint64_t)opened + 180000000u;
    while (!answer_all_done() && now_us() < deadline) {
        uint64_t t = now_us();
        if (t >= next_rss) { answer_rss(); next_rss = t + 100000; }
        uint64_t soonest = answer_tick(t);
        uint64_t t2 = now_us(), wake = soonest < next_rss ? soonest : next_rss;
        pump(wake > t2 ? (int)((wake - t2 + 999) / 1000) : 0);
    }
    answer_rss();
    double wall = (double)(now_us() - G.t0) / 1e6, cpu = proc_cpu_s() - cpu0;
    long rss_end = proc_status_kb("VmRSS");
    qsort(G.lat, G.nlat, sizeof *G.lat, cmp_u32);
    qsort(G.alat, G.nalat, sizeof *G.alat, cmp_u32);
    int done = 0, unfinished = 0;
    for (int i = 0; i < G.ncl; i++) {
        done += G.cls[i].ast == AS_DONE;
        unfinished += G.cls[i].st == C_OPEN && G.cls[i].ast != AS_DONE;
    }
    double speech_end_s = (double)(G.last_speech + 1) * ANS_CHUNK_US / 1e6;
    printf("%s %s: %d conns (%d opened), answer %.1f s (speech ends at %.3f s) at %.1fx real time; "
           "end of speech -> first reply audio ms min %.1f p50 %.1f p99 %.1f max %.1f over %zu answers; "
           "%llu replies ok, %llu failed, %d unfinished, %llu errors, %llu closed; %llu partial transcripts, "
           "speech_started %llu, speech_stopped %llu, answers ended early %llu, ai_interrupted %llu; amplitude p50 %.2f p99 %.2f ms; %llu slips; "
           "server RSS idle %ld kB, after the openings %ld, peak while all speak %ld (+%.1f MiB over idle), "
           "peak %ld (+%.1f MiB over idle), end %ld; "
           "server CPU %.2f s in %.1f s\n",
           mname, amode, G.ncl, opened, G.answer_s, speech_end_s, G.speed, G.nlat ? G.lat[0] / 1000.0 : 0,
           pct(50), pct(99), G.nlat ? G.lat[G.nlat - 1] / 1000.0 : 0, G.nlat, (unsigned long long)G.turns_ok,
           (unsigned long long)G.turns_fail, unfinished, (unsigned long long)G.errors, (unsigned long long)G.closed,
           (unsigned long long)G.partials, (unsigned long long)G.started_ev, (unsigned long long)G.stopped_ev,
           (unsigned long long)G.early, (unsigned long long)G.interrupted,
           pct_of(G.alat, G.nalat, 50), pct_of(G.alat, G.nalat, 99), (unsigned long long)G.slips, rss0,
           G.rss_started, G.rss_speech_peak, (double)(G.rss_speech_peak - rss0) / 1024, G.rss_peak,
           (double)(G.rss_peak - rss0) / 1024, rss_end, cpu, wall);
    printf("JSON {\"mode\":\"answer_%s\",\"conns\":%d,\"opened\":%d,\"answer_s\":%.3f,\"speech_end_s\":%.3f,"
           "\"speed\":%.2f,\"chunks\":%u,\"latencies_ms\":[",
           amode, G.ncl, opened, G.answer_s, speech_end_s, G.speed, G.nscript);
    for (size_t i = 0; i < G.nlat && i < 64; i++) printf(i ? ",%.1f" : "%.1f", G.lat[i] / 1000.0);
    printf("],\"n\":%zu,\"min_ms\":%.3f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"turns_ok\":%llu,"
           "\"turns_failed\":%llu,\"unfinished\":%d,\"done\":%d,\"errors\":%llu,\"closed\":%llu,"
           "\"partials\":%llu,\"speech_started\":%llu,\"speech_stopped\":%llu,\"early\":%llu,\"interrupted\":%llu,\"amp_p50_ms\":%.3f,"
           "\"amp_p99_ms\":%.3f,\"slips\":%llu,\"rss0_kb\":%ld,\"rss_started_kb\":%ld,\"rss_speech_peak_kb\":%ld,\"rss_peak_kb\":%ld,"
           "\"rss_peak_at_s\":%.1f,\"rss_end_kb\":%ld,\"server_cpu_s\":%.3f,\"wall_s\":%.3f}\n",
           G.nlat, G.nlat ? G.lat[0] / 1000.0 : 0, pct(50), pct(99), G.nlat ? G.lat[G.nlat - 1] / 1000.0 : 0,
           (unsigned long long)G.turns_ok, (unsigned long long)G.turns_fail, unfinished, done,
           (unsigned long long)G.errors, (unsigned long long)G.closed, (unsigned long long)G.partials,
           (unsigned long long)G.started_ev, (unsigned long long)G.stopped_ev, (unsigned long long)G.early,
           (unsigned long long)G.interrupted, pct_of(G.alat, G.nalat, 50),
           pct_of(G.alat, G.nalat, 99), (unsigned long long)G.slips, rss0, G.rss_started, G.rss_speech_peak, G.rss_peak,
           G.t_peak ? (double)(G.t_peak - G.t0) / 1e6 : 0, rss_end, cpu, wall);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen conns|pingpong|audio|turn -p PORT [-H host] [-P pid] [-n N] [-c C] [-k K] "
                    "[-d secs] [-F] [-R chunks] [-r rounds] [-t chunks_per_turn]\n"
                    "       loadgen answer -p PORT -c C -a SECS -m vad|vadwhole|client|clientinc [-x speed] [-S ms]\n"
                    "                      [-L ms to listen to the opening question before speaking]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    if (!strcmp(argv[1], "conns")) G.mode = M_CONNS;
    else if (!strcmp(argv[1], "pingpong")) G.mode = M_PINGPONG;
    else if (!strcmp(argv[1], "audio")) G.mode = M_AUDIO;
    else if (!strcmp(argv[1], "turn")) G.mode = M_TURN;
    else if (!strcmp(argv[1], "answer")) G.mode = M_ANSWER;
    else usage();
    const char *amode = "vad";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-F")) { G.flat = true; continue; }
        if (!v) usage();
        i++;
        switch (a[1]) {
        case 'p': G.port = atoi(v); break;
        case 'H': G.host = v; break;
        case 'P': G.pid = atoi(v); break;
        case 'n': G.n = atoi(v); break;
        case 'c': G.c = atoi(v); break;
        case 'k': G.k = atoi(v); break;
        case 'd': G.d = atof(v); break;
        case 'R': G.reconnect = atoi(v); break;
        case 'r': G.rounds = atoi(v); break;
        case 't': G.chunks_per_turn = atoi(v); break;
        case 'a': G.answer_s = atof(v); break;
        case 'x': G.speed = atof(v); break;
        case 'S': G.stagger_ms = atoi(v); break;
        case 'm': amode = v; break;
        case 'L': G.listen_ms = atoi(v); break;
        default: usage();
        }
    }
    if (!G.port) usage();
    if (G.mode == M_ANSWER) {
        if (!strcmp(amode, "vad")) G.amode = A_VAD;
        else if (!strcmp(amode, "vadwhole")) G.amode = A_VAD_WHOLE;
        else if (!strcmp(amode, "client")) G.amode = A_CLIENT;
        else if (!strcmp(amode, "clientinc")) G.amode = A_CLIENT_INC;
        else usage();
        if (G.answer_s <= 0) G.answer_s = 20;
        if (G.speed <= 0) G.speed = 1;
    }
    if (G.k > MAXQ) G.k = MAXQ;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    G.rng = (uint32_t)now_us() | 1;
    mk_frames();
    if (G.mode == M_ANSWER) { mk_answer_frames(); mk_script(); }
    G.epfd = epoll_create1(EPOLL_CLOEXEC);
    G.ncl = G.mode == M_CONNS ? G.n : G.c;
    G.cls = calloc((size_t)G.ncl, sizeof *G.cls);
    for (int i = 0; i < G.ncl; i++) G.cls[i].fd = -1;
    const char *mname = argv[1];

    long rss0 = proc_status_kb("VmRSS"), fds0 = proc_fds();
    double cpu0 = proc_cpu_s();

    if (G.mode == M_CONNS) {
        double secs = open_all(256, 120);
        double cpu1 = proc_cpu_s();
        uint64_t t = now_us();
        while (now_us() - t < 1000000) pump(50); /* let the server settle */
        int open = count_open();
        long rss1 = proc_status_kb("VmRSS"), fds1 = proc_fds();
        double per_kb = open ? (double)(rss1 - rss0) / open : 0;
        double fd_per = open ? (double)(fds1 - fds0) / open : 0;
        double cpu = cpu1 - cpu0;
        printf("conns: held %d of %d (first refusal after %llu), %.0f handshakes/s wall, %.0f per server-CPU-s, "
               "RSS %ld -> %ld kB = %.2f kB/conn (%.0f B), fds/conn %.2f\n",
               open, G.n, (unsigned long long)G.refused_at, G.hs_ok / secs, cpu > 0 ? G.hs_ok / cpu : 0,
               rss0, rss1, per_kb, per_kb * 1024, fd_per);
        printf("JSON {\"mode\":\"conns\",\"n\":%d,\"held\":%d,\"refused_at\":%llu,\"hs_per_s\":%.1f,"
               "\"hs_per_cpu_s\":%.1f,\"server_cpu_s\":%.3f,\"rss0_kb\":%ld,\"rss_kb\":%ld,\"rss_per_conn_b\":%.0f,"
               "\"fds_per_conn\":%.3f}\n",
               G.n, open, (unsigned long long)G.refused_at, G.hs_ok / secs, cpu > 0 ? G.hs_ok / cpu : 0, cpu,
               rss0, rss1, per_kb * 1024, fd_per);
        return 0;
    }

    open_all(64, 60);
    int opened = count_open();
    if (G.mode == M_ANSWER) return answer_run(mname, amode, opened, rss0, cpu0);
    if (G.mode == M_AUDIO && !G.flat) {
        /* stagger: client i sends at phase i*64ms/C */
        uint64_t t = now_us() + 20000;
        for (int i = 0; i < G.ncl; i++) G.cls[i].next_due = t + (uint64_t)i * 64000 / (uint64_t)G.ncl;
    }
    /* warm up a little outside the measurement */
    uint64_t warm = now_us();
    while (now_us() - warm < 300000 && G.mode != M_AUDIO && G.mode != M_TURN) pump(10);
    G.measuring = true;
    G.replies = G.errors = 0; G.nlat = 0;
    cpu0 = proc_cpu_s();
    G.t0 = now_us();
    for (int i = 0; G.mode == M_TURN && i < G.ncl; i++)
        if (G.cls[i].st == C_OPEN) { turn_begin(&G.cls[i]); flush(&G.cls[i]); }
    uint64_t end = G.t0 + (uint64_t)(G.d * 1e6);
    uint64_t turn_deadline = G.t0 + 120000000;
    for (;;) {
        uint64_t t = now_us();
        if (G.mode == M_TURN) {
            bool all = true;
            for (int i = 0; i < G.ncl; i++)
                if (G.cls[i].st == C_OPEN && G.cls[i].tstage == 0) all = false;
            if (all || t > turn_deadline) break;
        } else if (t >= end) break;
        int timeout = 10;
        if (G.mode == M_AUDIO && !G.flat) {
            uint64_t soonest = UINT64_MAX;
            for (int i = 0; i < G.ncl; i++) {
                struct cl *c = &G.cls[i];
                if (c->st != C_OPEN) continue;
                if (c->next_due <= t) {
                    if (c->qn >= 2 && !c->behind) { c->behind = true; G.behind_events++; }
                    send_req(c, G.audio_frame, G.audio_len);
                    flush(c);
                    c->next_due += 64000;
                }
                if (c->next_due < soonest) soonest = c->next_due;
            }
            if (soonest != UINT64_MAX) {
                uint64_t t2 = now_us();
                timeout = soonest > t2 ? (int)((soonest - t2) / 1000) : 0;
            }
        }
        if (G.mode == M_AUDIO && G.flat && G.reconnect)
            for (int i = 0; i < G.ncl; i++)
                if (G.cls[i].st == C_FREE) cl_open(&G.cls[i], i);
        pump(timeout);
    }
    double wall = (double)(now_us() - G.t0) / 1e6;
    double cpu = proc_cpu_s() - cpu0;
    long rss = proc_status_kb("VmRSS");
    qsort(G.lat, G.nlat, sizeof *G.lat, cmp_u32);
    if (G.nwarm) qsort(G.warm, G.nwarm, sizeof *G.warm, cmp_u32);
    double p50 = pct(50), p99 = pct(99), p999 = pct(99.9), pmax = G.nlat ? G.lat[G.nlat - 1] / 1000.0 : 0;
    int behind = 0;
    for (int i = 0; i < G.ncl; i++) behind += G.cls[i].behind;
    uint64_t count = G.mode == M_TURN ? G.turns_ok : G.replies;
    double per_cpu = cpu > 0 ? count / cpu : 0;
    const char *unit = G.mode == M_PINGPONG ? "pongs" : G.mode == M_AUDIO ? "amplitudes" : "turns";
    printf("%s%s: %d conns (%d opened), %llu %s in %.2fs = %.0f/s wall, server CPU %.3fs (%.1f%% of a core) = "
           "%.0f per server-CPU-s; latency ms p50 %.3f p99 %.3f p99.9 %.3f max %.3f; errors %llu, closed %llu",
           mname, G.mode == M_AUDIO ? (G.flat ? " flat-out" : " real-time") : "", G.ncl, opened,
           (unsigned long long)count, unit, wall, count / wall, cpu, 100 * cpu / wall, per_cpu, p50, p99, p999,
           pmax, (unsigned long long)G.errors, (unsigned long long)G.closed);
    if (G.mode == M_AUDIO && !G.flat) printf(", %d clients fell behind", behind);
    if (G.mode == M_TURN)
        printf(", %llu turns failed; after the first round p50 %.3f p99 %.3f ms", (unsigned long long)G.turns_fail,
               pct_of(G.warm, G.nwarm, 50), pct_of(G.warm, G.nwarm, 99));
    printf("\n");
    printf("JSON {\"mode\":\"%s%s\",\"conns\":%d,\"opened\":%d,\"k\":%d,\"count\":%llu,\"wall_s\":%.3f,"
           "\"per_s\":%.1f,\"server_cpu_s\":%.3f,\"cpu_frac\":%.4f,\"per_cpu_s\":%.1f,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%llu,\"closed\":%llu,\"behind\":%d,"
           "\"turns_failed\":%llu,\"warm_p50_ms\":%.3f,\"warm_p99_ms\":%.3f,\"rss_kb\":%ld}\n",
           mname, G.mode == M_AUDIO ? (G.flat ? "_flat" : "_rt") : "", G.ncl, opened, G.k,
           (unsigned long long)count, wall, count / wall, cpu, cpu / wall, per_cpu, p50, p99, p999, pmax,
           (unsigned long long)G.errors, (unsigned long long)G.closed, behind, (unsigned long long)G.turns_fail,
           pct_of(G.warm, G.nwarm, 50), pct_of(G.warm, G.nwarm, 99), rss);
    return 0;
}
