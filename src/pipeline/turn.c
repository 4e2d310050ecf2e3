/* deps: upstream.c oai.c mp3.c audio.c sentence.c sse.c clock.c log.c */
#include "pipeline/turn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/audio.h"
#include "io/clock.h"
#include "io/log.h"
#include "parse/mp3.h"
#include "pipeline/oai.h"
#include "parse/sentence.h"
#include "parse/sse.h"
#include "upstream/upstream.h"

#define TURN_REPLY_MAX 4096      /* reply text kept (150 tokens is ~800 bytes) */
#define TURN_TEXT_MAX 16384      /* one transcript (10 minutes of speech is ~9 KB) */
#define TURN_STT_BODY_MAX 65536  /* transcription response body */
#define TURN_CHAT_BODY_MAX 65536 /* chat request JSON: prompt + 10 messages */
#define TURN_SPEECH_BODY_MAX 8192
#define TURN_SSE_MAX 16384       /* one SSE event */
#define TURN_SENTENCE_MIN 20     /* shorter sentences ride with the next one */
#define TURN_SENTENCE_MAX 400
#define TURN_AUDIO_ROOM_EXTRA 256 /* the JSON event that precedes each audio piece */

enum turn_stage { TURN_IDLE, TURN_TRANSCRIBING, TURN_REPLYING };

struct turn_msg {
    char role[12];
    char *content;
    char ts[CLOCK_ISO_LEN];
};

struct session {
    const struct turn_config *cfg;
    struct up_client *up;
    const struct turn_sink *sink;
    void *ctx;
    enum turn_stage stage;
    enum turn_kind kind;
    uint64_t log_id;
    /* the candidate's answer, 16 kHz mono */
    int16_t *pcm;
    uint32_t pcm_len;
    char *pending_user; /* transcript whose reply failed: the next turn retries it */
    char *user_text;    /* transcript of the turn in progress */
    struct turn_msg *hist;
    uint32_t nhist, hist_cap;
    /* speech-to-text */
    struct up_req *stt;
    char stt_pre[1024], stt_post[128];
    uint8_t wav_hdr[44];
    struct iovec stt_iov[4];
    char *stt_body;
    size_t stt_len;
    uint32_t stt_samples; /* samples uploaded; later ones belong to the next answer */
    /* chat */
    struct up_req *chat;
    char *chat_req;
    struct iovec chat_iov;
    struct sse_parser sse;
    char *sse_buf;
    char reply[TURN_REPLY_MAX];
    size_t reply_len, spoken;
    bool chat_done, announced, audio_ok;
    bool chat_broken; /* the event stream carried an error or garbage */
    /* text-to-speech of one sentence at a time, so audio stays in order */
    struct up_req *tts;
    char tts_req[TURN_SPEECH_BODY_MAX];
    struct iovec tts_iov;
    bool tts_final;   /* the TTS answer is complete; abuf holds its tail */
    bool tts_stalled; /* on_body took less than offered: up_resume() on drain */
    bool wav_header_done;
    uint32_t tts_pieces; /* audio pieces relayed from the current TTS answer */
    uint8_t *abuf; /* audio assembly: whole frames leave, partial ones wait */
    size_t alen, acap;
    uint8_t *piece; /* WAV piece = header + samples */
};

static void turn_pump(struct session *s);

/* ---- history ---------------------------------------------------------- */

static void turn_hist_add(struct session *s, const char *role, const char *text)
{
    if (s->nhist == s->hist_cap) {
        free(s->hist[0].content);
        memmove(s->hist, s->hist + 1, (s->hist_cap - 1) * sizeof *s->hist);
        s->nhist--;
    }
    struct turn_msg *m = &s->hist[s->nhist];
    char *copy = strdup(text);
    if (!copy)
        return;
    snprintf(m->role, sizeof m->role, "%s", role);
    m->content = copy;
    clock_iso8601(m->ts);
    s->nhist++;
}

/* ---- lifecycle -------------------------------------------------------- */

struct session *session_new(const struct turn_config *cfg, struct up_client *up,
                            const struct turn_sink *sink, void *ctx)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (struct session){.cfg = cfg, .up = up, .sink = sink, .ctx = ctx};
    /* Kept messages: the context window plus one exchange being built. */
    s->hist_cap = cfg->history_messages + 2;
    s->hist = calloc(s->hist_cap, sizeof *s->hist);
    if (!s->hist) {
        free(s);
        return NULL;
    }
    return s;
}

static void turn_free_audio(struct session *s)
{
    free(s->abuf);
    free(s->piece);
    s->abuf = s->piece = NULL;
    s->alen = s->acap = 0;
}

static void turn_cancel_all(struct session *s)
{
    if (s->stt)
        up_cancel(s->stt);
    if (s->chat)
        up_cancel(s->chat);
    if (s->tts)
        up_cancel(s->tts);
    s->stt = s->chat = s->tts = NULL;
    free(s->stt_body);
    free(s->chat_req);
    free(s->sse_buf);
    s->stt_body = s->chat_req = s->sse_buf = NULL;
    turn_free_audio(s);
}

void session_free(struct session *s)
{
    if (!s)
        return;
    turn_cancel_all(s);
    for (uint32_t i = 0; i < s->nhist; i++)
        free(s->hist[i].content);
    free(s->hist);
    free(s->pcm);
    free(s->pending_user);
    free(s->user_text);
    free(s);
}

bool session_append(struct session *s, const int16_t *pcm, size_t n)
{
    uint32_t cap = s->cfg->max_answer_samples;
    if (!s->pcm) {
        /* Allocated whole but touched only as audio arrives: pages that were
         * never written are not resident. */
        s->pcm = malloc((size_t)cap * sizeof(int16_t));
        if (!s->pcm)
            return false;
    }
    size_t room = cap - s->pcm_len;
    size_t take = n < room ? n : room;
    memcpy(s->pcm + s->pcm_len, pcm, take * sizeof(int16_t));
    s->pcm_len += (uint32_t)take;
    return take == n;
}

size_t session_buffered(const struct session *s) { return s->pcm_len; }
void session_set_log_id(struct session *s, uint64_t id) { s->log_id = id; }
bool session_busy(const struct session *s) { return s->stage != TURN_IDLE; }

static void turn_fail(struct session *s, enum turn_error e, const char *msg)
{
    turn_cancel_all(s);
    s->stage = TURN_IDLE;
    s->sink->error(s->ctx, e, msg);
}

/* ---- finishing a reply ------------------------------------------------ */

static void turn_finish(struct session *s)
{
    if (s->kind == TURN_ANSWER && s->user_text)
        turn_hist_add(s, "user", s->user_text);
    turn_hist_add(s, "assistant", s->reply);
    free(s->user_text);
    s->user_text = NULL;
    turn_cancel_all(s);
    s->stage = TURN_IDLE;
    s->sink->reply_done(s->ctx, s->kind, s->reply, s->audio_ok);
}

static void turn_maybe_finish(struct session *s)
{
    if (s->stage == TURN_REPLYING && s->chat_done && !s->chat && s->spoken >= s->reply_len &&
        !s->tts && !s->tts_final && s->alen == 0)
        turn_finish(s);
}

/* ---- audio relay ------------------------------------------------------ */

/* The longest run of whole frames from the start of abuf within limit bytes
 * (a piece must fit the client's send ring), but never fewer than two. */
static size_t turn_mp3_cut(const struct session *s, size_t limit)
{
    size_t need = 0, off = mp3_skip_id3(s->abuf, s->alen, &need), best = 0;
    for (uint32_t frames = 0; off < s->alen; frames++) {
        struct mp3_frame f;
        if (mp3_frame_at(s->abuf + off, s->alen - off, &f) != 1 || off + f.len > s->alen)
            break;
        if (off + f.len > limit && frames >= 2)
            break;
        off += f.len;
        best = off;
    }
    return best;
}

/* Bytes at the start of abuf that form whole MP3 frames we may send now.
 * Until the answer is final, the last two frames stay behind so that the
 * sentence's last piece always carries at least two frames (a browser's
 * decoder refuses fewer). Junk between frames is skipped with a log line. */
static size_t turn_mp3_ready(struct session *s, bool final, uint8_t *gain)
{
    size_t off = 0, ends[3] = {0, 0, 0};
    uint32_t frames = 0;
    *gain = 0;
    while (off < s->alen) {
        struct mp3_frame f;
        size_t need = 0, id3 = off == 0 ? mp3_skip_id3(s->abuf, s->alen, &need) : 0;
        if (id3) {
            if (id3 > s->alen)
                break;
            off = id3;
            continue;
        }
        int r = mp3_frame_at(s->abuf + off, s->alen - off, &f);
        if (r == 0 || (r == 1 && off + f.len > s->alen))
            break;
        if (r < 0) {
            size_t skip = off + 1;
            while (skip < s->alen && mp3_frame_at(s->abuf + skip, s->alen - skip, &f) < 0)
                skip++;
            log_event(LOG_WARN, s->log_id, "tts_audio_junk", "skipped %zu bytes between MP3 frames", skip - off);
            memmove(s->abuf + off, s->abuf + skip, s->alen - skip);
            s->alen -= skip - off;
            continue;
        }
        off += f.len;
        frames++;
        ends[0] = ends[1];
        ends[1] = ends[2];
        ends[2] = off;
        if (f.gain > *gain)
            *gain = f.gain;
    }
    size_t ready;
    if (final) {
        ready = frames ? ends[2] : 0;
    } else {
        if (frames < 4)
            return 0;
        ready = ends[0]; /* all but the last two frames */
        bool full = s->alen + 4096 > s->acap;
        if (ready < s->cfg->audio_chunk_bytes && !full)
            return 0;
    }
    return ready > s->cfg->max_piece_bytes ? turn_mp3_cut(s, s->cfg->max_piece_bytes) : ready;
}

static void turn_consume_audio(struct session *s, size_t n)
{
    memmove(s->abuf, s->abuf + n, s->alen - n);
    s->alen -= n;
}

/* Returns false when the client has no room (resume on drain). */
static bool turn_emit_mp3(struct session *s, bool final)
{
    for (;;) {
        uint8_t gain;
        size_t n = turn_mp3_ready(s, final, &gain);
        if (n == 0)
            break;
        if (!s->sink->audio_room(s->ctx, n + TURN_AUDIO_ROOM_EXTRA))
            return false;
        s->sink->audio(s->ctx, s->abuf, n, mp3_gain_amplitude(gain));
        s->tts_pieces++;
        turn_consume_audio(s, n);
    }
    if (final && s->alen) {
        log_event(LOG_WARN, s->log_id, "tts_audio_tail", "dropped %zu bytes that are not a whole MP3 frame",
                  s->alen);
        s->alen = 0;
    }
    return true;
}

static bool turn_emit_pcm(struct session *s, bool final)
{
    const uint32_t rate = 24000; /* OpenAI pcm/wav speech is 24 kHz mono s16le */
    if (s->cfg->tts_format == TURN_WAV && !s->wav_header_done) {
        struct audio_wav w;
        int h = audio_wav_parse(s->abuf, s->alen, &w);
        if (h == 0 && !final)
            return true;
        if (h <= 0) {
            s->alen = 0;
            return true;
        }
        turn_consume_audio(s, (size_t)h);
        s->wav_header_done = true;
    }
    for (;;) {
        size_t n = s->alen & ~(size_t)1, cap = s->cfg->audio_chunk_bytes;
        if (cap > s->cfg->max_piece_bytes)
            cap = s->cfg->max_piece_bytes;
        if (n > cap)
            n = cap & ~(size_t)1;
        if (n == 0 || (!final && n < s->cfg->audio_chunk_bytes))
            break;
        if (!s->sink->audio_room(s->ctx, n + 44 + TURN_AUDIO_ROOM_EXTRA))
            return false;
        /* Each piece gets its own WAV header so it plays on its own. */
        audio_wav_header(s->piece, rate, 1, (uint32_t)n);
        memcpy(s->piece + 44, s->abuf, n);
        int16_t *samples = (int16_t *)(void *)(s->piece + 44);
        s->sink->audio(s->ctx, s->piece, n + 44, audio_rms_amplitude(samples, n / 2));
        s->tts_pieces++;
        turn_consume_audio(s, n);
    }
    if (final)
        s->alen = 0; /* an odd trailing byte is not a sample */
    return true;
}

static bool turn_emit(struct session *s)
{
    if (!s->abuf)
        return true;
    bool done = s->cfg->tts_format == TURN_MP3 ? turn_emit_mp3(s, s->tts_final)
                                                : turn_emit_pcm(s, s->tts_final);
    if (done && s->tts_final && s->alen == 0) {
        s->tts_final = false;
        if (s->tts_pieces == 0 && s->audio_ok) {
            s->audio_ok = false; /* the rest of the reply goes out as text only */
            s->sink->error(s->ctx, TURN_E_TTS, "text-to-speech answer held no playable audio");
        }
        turn_pump(s);
    }
    return done;
}

/* ---- text-to-speech ----------------------------------------------------- */

static void turn_tts_head(void *ctx, const struct up_head *h)
{
    struct session *s = ctx;
    (void)h;
    s->alen = 0;
    s->wav_header_done = false;
}

static size_t turn_tts_body(void *ctx, const uint8_t *p, size_t n)
{
    struct session *s = ctx;
    size_t done = 0;
    for (;;) {
        size_t room = s->acap - s->alen, take = n - done < room ? n - done : room;
        memcpy(s->abuf + s->alen, p + done, take);
        s->alen += take;
        done += take;
        size_t before = s->alen;
        bool sent = turn_emit(s);
        /* Stop when everything is in, or when the client has no room (the
         * drain resumes us) or nothing could leave (the tick resumes us). */
        if (done == n || !sent || s->alen == before)
            break;
    }
    s->tts_stalled = done < n;
    return done;
}

static void turn_tts_done(void *ctx, int err, int status, const char *message)
{
    struct session *s = ctx;
    s->tts = NULL;
    if (err != UP_OK) {
        char msg[256];
        if (status)
            snprintf(msg, sizeof msg, "text-to-speech failed: %s (HTTP %d)", message, status);
        else
            snprintf(msg, sizeof msg, "text-to-speech failed: %s", message);
        s->audio_ok = false; /* the rest of the reply goes out as text only */
        s->alen = 0;
        s->sink->error(s->ctx, TURN_E_TTS, msg);
        turn_pump(s);
        return;
    }
    s->tts_final = true;
    turn_emit(s);
}

static void turn_start_tts(struct session *s, const char *text)
{
    static const char *const formats[] = {"mp3", "wav", "pcm"};
    static const struct up_callbacks cb = {turn_tts_head, turn_tts_body, turn_tts_done};
    if (!s->abuf) {
        s->acap = (size_t)s->cfg->audio_chunk_bytes * 4 + 8192;
        s->abuf = malloc(s->acap);
        s->piece = malloc(s->cfg->audio_chunk_bytes + 44);
        if (!s->abuf || !s->piece) {
            turn_fail(s, TURN_E_TTS, "out of memory");
            return;
        }
    }
    int n = oai_speech_body(s->tts_req, sizeof s->tts_req, s->cfg->tts_model, s->cfg->tts_voice,
                            formats[s->cfg->tts_format], text);
    if (n < 0) {
        turn_tts_done(s, UP_E_PROTOCOL, 0, "sentence too long");
        return;
    }
    s->tts_iov = (struct iovec){s->tts_req, (size_t)n};
    struct up_request_spec spec = {.method = "POST", .path = "/audio/speech",
                                   .content_type = "application/json",
                                   .accept = "application/octet-stream",
                                   .body = &s->tts_iov, .body_parts = 1, .log_conn = s->log_id};
    s->tts_final = s->tts_stalled = false;
    s->tts_pieces = 0;
    s->tts = up_start(s->up, &spec, &cb, s);
    if (!s->tts)
        turn_tts_done(s, UP_E_BUSY, 0, "too many upstream requests in flight");
}

/* Hand the next finished sentence to TTS, one at a time, in order. */
static void turn_pump(struct session *s)
{
    while (s->stage == TURN_REPLYING && !s->tts && !s->tts_final) {
        size_t n = sentence_next(s->reply + s->spoken, s->reply_len - s->spoken, s->chat_done,
                                 TURN_SENTENCE_MIN, TURN_SENTENCE_MAX);
        if (n == 0)
            break;
        char sentence[TURN_SENTENCE_MAX * 2 + 8];
        size_t k = n < sizeof sentence - 1 ? n : sizeof sentence - 1;
        memcpy(sentence, s->reply + s->spoken, k);
        sentence[k] = '\0';
        s->spoken += n;
        bool blank = strspn(sentence, " \t\r\n") == k;
        if (blank || !s->audio_ok)
            continue;
        if (!s->announced) {
            s->announced = true;
            s->sink->first_sentence(s->ctx, s->kind);
        }
        turn_start_tts(s, sentence);
    }
    turn_maybe_finish(s);
}

/* ---- chat completion (streamed) ----------------------------------------- */

static void turn_chat_head(void *ctx, const struct up_head *h)
{
    struct session *s = ctx;
    (void)h;
    s->sse = (struct sse_parser){.buf = s->sse_buf, .cap = TURN_SSE_MAX};
}

static size_t turn_chat_body(void *ctx, const uint8_t *p, size_t n)
{
    struct session *s = ctx;
    size_t used = 0;
    while (used < n && !s->chat_done) {
        struct sse_event ev;
        ssize_t r = sse_feed(&s->sse, p + used, n - used, &ev);
        if (r < 0) {
            s->chat_done = s->chat_broken = true;
            log_event(LOG_WARN, s->log_id, "chat_stream_error", "malformed event stream");
            break;
        }
        used += (size_t)r;
        if (!ev.ready)
            continue;
        char delta[2048], err[256];
        size_t dlen = 0;
        int kind = oai_chat_chunk(ev.data, ev.len, delta, sizeof delta, &dlen, err, sizeof err);
        if (kind == OAI_CHUNK_DONE) {
            s->chat_done = true;
        } else if (kind == OAI_CHUNK_ERROR) {
            log_event(LOG_WARN, s->log_id, "chat_stream_error", "%s", err);
            s->chat_done = s->chat_broken = true;
        } else if (kind == OAI_CHUNK_DELTA && dlen) {
            size_t room = sizeof s->reply - 1 - s->reply_len;
            if (dlen > room) /* keep whole UTF-8 sequences: the reply is sent as text */
                for (dlen = room; dlen > 0 && ((unsigned char)delta[dlen] & 0xC0) == 0x80; dlen--)
                    ;
            memcpy(s->reply + s->reply_len, delta, dlen);
            s->reply_len += dlen;
            s->reply[s->reply_len] = '\0';
        }
    }
    turn_pump(s);
    return n; /* text is small: never pushes back */
}

static void turn_chat_done(void *ctx, int err, int status, const char *message)
{
    struct session *s = ctx;
    s->chat = NULL;
    free(s->chat_req);
    free(s->sse_buf);
    s->chat_req = s->sse_buf = NULL;
    if (s->reply_len == 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "interviewer reply failed: %s",
                 err != UP_OK ? message : s->chat_broken ? "malformed stream" : "empty reply");
        (void)status;
        if (s->kind == TURN_ANSWER && s->user_text) {
            free(s->pending_user); /* retried by the next send_for_AI_processing */
            s->pending_user = s->user_text;
            s->user_text = NULL;
        }
        turn_fail(s, TURN_E_AI_RESPONSE, msg);
        return;
    }
    if (err != UP_OK || s->chat_broken)
        s->sink->error(s->ctx, TURN_E_AI_RESPONSE, "interviewer reply was cut short");
    s->chat_done = true;
    turn_pump(s);
}

static void turn_start_reply(struct session *s, enum turn_kind kind, const char *user_text)
{
    static const struct up_callbacks cb = {turn_chat_head, turn_chat_body, turn_chat_done};
    s->stage = TURN_REPLYING;
    s->kind = kind;
    s->reply_len = s->spoken = 0;
    s->reply[0] = '\0';
    s->chat_done = s->announced = s->chat_broken = false;
    s->audio_ok = true;
    s->chat_req = malloc(TURN_CHAT_BODY_MAX);
    s->sse_buf = malloc(TURN_SSE_MAX);
    if (!s->chat_req || !s->sse_buf) {
        turn_fail(s, TURN_E_AI_RESPONSE, "out of memory");
        return;
    }
    uint32_t first = s->nhist > s->cfg->history_messages ? s->nhist - s->cfg->history_messages : 0;
    struct oai_msg hist[64];
    size_t nh = 0;
    for (uint32_t i = first; i < s->nhist && nh < ARRAY_LEN(hist); i++)
        hist[nh++] = (struct oai_msg){s->hist[i].role, s->hist[i].content};
    int n = oai_chat_body(s->chat_req, TURN_CHAT_BODY_MAX, s->cfg->chat_model, s->cfg->temperature,
                          s->cfg->max_tokens, s->cfg->system_prompt, hist, nh,
                          user_text ? user_text : s->cfg->opening_instruction);
    if (n < 0) {
        turn_fail(s, TURN_E_AI_RESPONSE, "conversation too long for one request");
        return;
    }
    s->chat_iov = (struct iovec){s->chat_req, (size_t)n};
    struct up_request_spec spec = {.method = "POST", .path = "/chat/completions",
                                   .content_type = "application/json",
                                   .accept = "text/event-stream",
                                   .body = &s->chat_iov, .body_parts = 1, .log_conn = s->log_id};
    s->sink->generating(s->ctx, kind);
    s->chat = up_start(s->up, &spec, &cb, s);
    if (!s->chat)
        turn_chat_done(s, UP_E_BUSY, 0, "too many upstream requests in flight");
}

/* ---- speech-to-text ----------------------------------------------------- */

static void turn_stt_head(void *ctx, const struct up_head *h)
{
    (void)ctx;
    (void)h;
}

static size_t turn_stt_body(void *ctx, const uint8_t *p, size_t n)
{
    struct session *s = ctx;
    size_t room = TURN_STT_BODY_MAX - 1 - s->stt_len, take = n < room ? n : room;
    memcpy(s->stt_body + s->stt_len, p, take);
    s->stt_len += take;
    return n; /* past the cap the body is malformed anyway */
}

static void turn_stt_done(void *ctx, int err, int status, const char *message)
{
    struct session *s = ctx;
    char text[TURN_TEXT_MAX], msg[320];
    s->stt = NULL;
    int n = err == UP_OK ? oai_transcript(s->stt_body, s->stt_len, text, sizeof text) : -1;
    free(s->stt_body);
    s->stt_body = NULL;
    if (n < 0) {
        if (err == UP_OK)
            snprintf(msg, sizeof msg, "transcription failed: malformed response");
        else
            snprintf(msg, sizeof msg, "transcription failed: %s", message);
        (void)status;
        turn_fail(s, TURN_E_TRANSCRIPTION, msg); /* the audio stays for a retry */
        return;
    }
    /* Transcribed: drop the uploaded samples, keep any that arrived since. */
    memmove(s->pcm, s->pcm + s->stt_samples, (s->pcm_len - s->stt_samples) * sizeof(int16_t));
    s->pcm_len -= s->stt_samples;
    if (strspn(text, " \t\r\n") == (size_t)n) {
        turn_fail(s, TURN_E_EMPTY_TRANSCRIPT, "no speech was recognised in the answer");
        return;
    }
    s->sink->transcript(s->ctx, text);
    free(s->user_text);
    s->user_text = strdup(text);
    turn_start_reply(s, TURN_ANSWER, text);
}

static void turn_start_stt(struct session *s)
{
    static const struct up_callbacks cb = {turn_stt_head, turn_stt_body, turn_stt_done};
    static uint32_t seq;
    char boundary[48];
    size_t pre_len, post_len;
    snprintf(boundary, sizeof boundary, "interview-boundary-%08x%08x", ++seq,
             (unsigned)(clock_mono_ms() & 0xffffffffu));
    if (oai_multipart_parts(s->stt_pre, sizeof s->stt_pre, s->stt_post, sizeof s->stt_post, boundary,
                            "answer.wav", "audio/wav", s->cfg->stt_model, s->cfg->stt_language,
                            s->cfg->stt_prompt, &pre_len, &post_len) < 0) {
        turn_fail(s, TURN_E_TRANSCRIPTION, "invalid transcription settings");
        return;
    }
    char ctype[96];
    snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", boundary);
    s->stt_samples = s->pcm_len;
    uint32_t bytes = s->pcm_len * 2;
    audio_wav_header(s->wav_hdr, 16000, 1, bytes);
    s->stt_iov[0] = (struct iovec){s->stt_pre, pre_len};
    s->stt_iov[1] = (struct iovec){s->wav_hdr, sizeof s->wav_hdr};
    s->stt_iov[2] = (struct iovec){s->pcm, bytes};
    s->stt_iov[3] = (struct iovec){s->stt_post, post_len};
    s->stt_body = malloc(TURN_STT_BODY_MAX);
    s->stt_len = 0;
    if (!s->stt_body) {
        turn_fail(s, TURN_E_TRANSCRIPTION, "out of memory");
        return;
    }
    struct up_request_spec spec = {.method = "POST", .path = "/audio/transcriptions",
                                   .content_type = ctype, .accept = "application/json",
                                   .body = s->stt_iov, .body_parts = 4, .log_conn = s->log_id};
    s->stage = TURN_TRANSCRIBING;
    s->stt = up_start(s->up, &spec, &cb, s);
    if (!s->stt)
        turn_stt_done(s, UP_E_BUSY, 0, "too many upstream requests in flight");
}

/* ---- entry points ------------------------------------------------------- */

static bool turn_can_start(struct session *s)
{
    if (s->stage != TURN_IDLE) {
        s->sink->error(s->ctx, TURN_E_BUSY, "a response is already being prepared");
        return false;
    }
    if (!s->cfg->have_key) {
        s->sink->error(s->ctx, TURN_E_NO_KEY, "OPENAI_API_KEY is not set on the server");
        return false;
    }
    return true;
}

void session_start(struct session *s)
{
    if (turn_can_start(s))
        turn_start_reply(s, TURN_OPENING, NULL);
}

void session_answer(struct session *s)
{
    if (!turn_can_start(s))
        return;
    if (s->pcm_len == 0 && s->pending_user) {
        char *text = s->pending_user; /* a reply that failed before: ask again */
        s->pending_user = NULL;
        free(s->user_text);
        s->user_text = text;
        turn_start_reply(s, TURN_ANSWER, text);
        return;
    }
    if (s->pcm_len == 0) {
        s->sink->error(s->ctx, TURN_E_EMPTY, "no audio was received for this answer");
        return;
    }
    turn_start_stt(s);
}

void session_drain(struct session *s)
{
    if (s->stage != TURN_REPLYING || !s->abuf)
        return;
    if (!turn_emit(s))
        return;
    if (s->tts && s->tts_stalled) {
        s->tts_stalled = false;
        up_resume(s->tts);
    }
}

#undef TURN_REPLY_MAX
#undef TURN_TEXT_MAX
#undef TURN_STT_BODY_MAX
#undef TURN_CHAT_BODY_MAX
#undef TURN_SPEECH_BODY_MAX
#undef TURN_SSE_MAX
#undef TURN_SENTENCE_MIN
#undef TURN_SENTENCE_MAX
#undef TURN_AUDIO_ROOM_EXTRA
