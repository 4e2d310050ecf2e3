/* deps: ai.c vad.c mp3.c audio.c sentence.c clock.c log.c */
#include "pipeline/turn_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/audio.h"
#include "io/clock.h"
#include "io/log.h"
#include "io/pool.h"
#include "io/metrics.h"
#include "parse/mp3.h"
#include "parse/sentence.h"
#include "parse/vad.h"
#include "pipeline/ai.h"

#define TURN_SENTENCE_MIN 20     /* shorter sentences ride with the next one */
#define TURN_SENTENCE_MAX 400
#define TURN_AUDIO_ROOM_EXTRA 256 /* the JSON event that precedes each audio piece */
#define TURN_CHARS_US 65000      /* speech per character (~15/s), for a sentence whose audio is not all in */
#define TURN_POS_NONE UINT64_MAX

static void turn_pump(struct turn *s);
static void turn_sent_audio(struct turn *s, uint64_t us);
static uint64_t turn_mp3_us(const uint8_t *p, size_t n);
static void turn_sentence_add(struct turn *s, uint32_t tb, uint32_t te, bool spoken);
static void turn_sentence_end(struct turn *s);

/* ---- metrics of a turn (README "Metrics") ------------------------------- */

static int64_t turn_m_retries(void)
{
    int64_t n = 0;
    for (unsigned e = 0; e < ME_COUNT; e++)
        n += metrics_get(M_UP_RETRIES, e, 0);
    return n;
}

/* Work on a turn starts (leaving TURN_IDLE): its clock starts, once. */
void turn_m_begin(struct turn *s, enum turn_kind kind)
{
    if (s->m.running)
        return;
    s->m = (struct turn_m){.running = true, .kind = kind, .t0 = clock_mono_ms(), .retries0 = turn_m_retries()};
    metrics_inc(M_TURNS_STARTED, kind == TURN_OPENING ? MK_OPENING : MK_ANSWER, 0);
}

/* The first time of an event in this turn. */
void turn_m_mark(struct turn *s, uint64_t *at)
{
    if (s->m.running && !*at)
        *at = clock_mono_ms();
}

/* ms from the start to at, -1 when it did not happen; observed in seconds into hist. */
static int64_t turn_m_span(const struct turn *s, uint64_t at, enum metrics_id hist)
{
    if (!at)
        return -1;
    if (hist != M_COUNT)
        metrics_observe(hist, 0, 0, (double)(at - s->m.t0) / 1e3);
    return (int64_t)(at - s->m.t0);
}

static void turn_m_log(const struct turn *s, const struct turn_metrics *t)
{
    const struct log_field f[] = {
        {"kind", 0, t->kind == TURN_OPENING ? "opening" : "answer"}, {"result", 0, t->result},
        {"error", LOG_NULL, t->error}, {"stt_ms", t->stt_ms < 0 ? LOG_NULL : t->stt_ms, NULL},
        {"first_token_ms", t->first_token_ms < 0 ? LOG_NULL : t->first_token_ms, NULL},
        {"first_sentence_ms", t->first_sentence_ms < 0 ? LOG_NULL : t->first_sentence_ms, NULL},
        {"tts_first_byte_ms", t->tts_first_byte_ms < 0 ? LOG_NULL : t->tts_first_byte_ms, NULL},
        {"first_audio_ms", t->first_audio_ms < 0 ? LOG_NULL : t->first_audio_ms, NULL},
        {"total_ms", t->total_ms, NULL}, {"tokens", t->tokens, NULL}, {"audio_ms", (int64_t)t->audio_ms, NULL},
        {"retries", (int64_t)t->retries, NULL},
    };
    log_fields(LOG_INFO, s->log_id, "turn", f, ARRAY_LEN(f));
}

/* The turn ended: counters, histograms, the "turn" log line, the sink's
 * metrics event. code: the error (result failed), else -1. */
static void turn_m_end(struct turn *s, enum metrics_turn_result result, int code, bool tell)
{
    static const char *const results[] = {"completed", "failed", "interrupted", "abandoned"};
    static const char *const codes[MC_COUNT] = {"no_key", "busy", "empty", "buffer", "transcription",
                                                "empty_transcript", "ai_response", "tts"};
    if (!s->m.running)
        return;
    s->m.running = false;
    uint64_t now = clock_mono_ms();
    bool done = result == MT_COMPLETED;
    struct turn_metrics t = {
        .kind = s->m.kind, .result = results[result], .error = code >= 0 && code < MC_COUNT ? codes[code] : NULL,
        .stt_ms = turn_m_span(s, s->m.stt, M_TURN_TRANSCRIPT),
        .first_token_ms = turn_m_span(s, s->m.token, M_TURN_FIRST_TOKEN),
        .first_sentence_ms = turn_m_span(s, s->m.sentence, M_TURN_FIRST_SENTENCE),
        .tts_first_byte_ms = s->m.tts_byte ? (int64_t)(s->m.tts_byte - s->m.tts_req) : -1,
        .first_audio_ms = turn_m_span(s, s->m.audio, M_TURN_FIRST_AUDIO),
        .total_ms = turn_m_span(s, now, done ? M_TURN_DURATION : M_COUNT),
        .tokens = s->m.tokens, .audio_ms = s->audio_us / 1000,
        .retries = (uint64_t)(turn_m_retries() - s->m.retries0),
    };
    if (result < MT_COUNT)
        metrics_inc(M_TURNS, result, 0);
    turn_m_log(s, &t);
    if (tell && s->sink->metrics)
        s->sink->metrics(s->ctx, &t);
}

_Static_assert((int)TURN_E_TTS == (int)MC_TTS && (int)TURN_E_NO_KEY == (int)MC_NO_KEY, "metrics codes follow enum turn_error");

/* Every error a client is told about is counted by its code. */
void turn_report(struct turn *s, enum turn_error e, const char *msg)
{
    metrics_inc(M_TURN_ERRORS, (unsigned)e, 0);
    s->sink->error(s->ctx, e, msg);
}

/* ---- history ---------------------------------------------------------- */

static void turn_hist_add(struct turn *s, const char *role, const char *text)
{
    if (s->nhist == s->hist_cap) {
        free(s->hist[0].content);
        memmove(s->hist, s->hist + 1, (s->hist_cap - 1) * sizeof *s->hist);
        s->nhist--;
        if (s->reply_hist >= 0)
            s->reply_hist--;
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

struct turn *turn_new(const struct turn_config *cfg, struct ai *ai, const struct turn_sink *sink, void *ctx)
{
    struct turn *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (struct turn){.cfg = cfg, .ai = ai, .sink = sink, .ctx = ctx, .det = cfg->detect, .reply_hist = -1, .bps = 2};
    /* Kept messages: the context window plus one exchange being built. */
    s->hist_cap = cfg->history_messages + 2;
    s->hist = calloc(s->hist_cap, sizeof *s->hist);
    if (!s->hist) {
        free(s);
        return NULL;
    }
    turn_vad_reset(s);
    return s;
}

/* Freed after its pages went back (see pool_release_pages). */
void turn_free_released(void *p, size_t n)
{
    pool_release_pages(p, n);
    free(p);
}

static void turn_free_audio(struct turn *s)
{
    turn_free_released(s->abuf, s->acap);
    turn_free_released(s->piece, s->cfg->audio_chunk_bytes + 44u);
    s->abuf = s->piece = NULL;
    s->alen = s->acap = 0;
}

/* The reply's calls only: a segment's transcription belongs to the next answer. */
static void turn_cancel_reply(struct turn *s)
{
    ai_cancel(s->chat);
    ai_cancel(s->tts);
    s->chat = s->tts = NULL;
    s->tts_final = false;
    turn_free_audio(s);
}

static void turn_cancel_all(struct turn *s)
{
    ai_cancel(s->stt);
    ai_cancel(s->seg_stt);
    s->stt = s->seg_stt = NULL;
    free(s->seg_upload);
    s->seg_upload = NULL;
    turn_cancel_reply(s);
}

void turn_free(struct turn *s)
{
    if (!s)
        return;
    turn_m_end(s, MT_COUNT, -1, false); /* the client left mid-turn: logged, no sink call */
    turn_cancel_all(s);
    for (uint32_t i = 0; i < s->nhist; i++)
        free(s->hist[i].content);
    free(s->hist);
    free(s->pcm);
    free(s->pending_user);
    free(s->user_text);
    free(s->inc_text);
    free(s);
}

void turn_set_log_id(struct turn *s, uint64_t id) { s->log_id = id; }
bool turn_busy(const struct turn *s) { return s->stage != TURN_IDLE; }

void turn_fail(struct turn *s, enum turn_error e, const char *msg)
{
    turn_cancel_reply(s);
    s->stage = TURN_IDLE;
    s->vad_took = false; /* a failed turn took nothing: the next send_for_AI_processing retries */
    turn_report(s, e, msg);
    turn_m_end(s, MT_FAILED, (int)e, true);
}

/* ---- finishing a reply ------------------------------------------------ */

static void turn_finish(struct turn *s)
{
    if (s->kind == TURN_ANSWER && s->user_text) {
        turn_hist_add(s, "user", s->user_text);
        s->answers++;
    }
    turn_hist_add(s, "assistant", s->reply);
    s->reply_hist = (int32_t)s->nhist - 1;
    free(s->user_text);
    s->user_text = NULL;
    turn_cancel_reply(s);
    s->stage = TURN_IDLE;
    s->sink->reply_done(s->ctx, s->kind, s->reply, s->audio_ok);
    turn_m_end(s, MT_COMPLETED, -1, true);
}

static void turn_maybe_finish(struct turn *s)
{
    if (s->stage == TURN_REPLYING && s->chat_done && !s->chat && s->spoken >= s->reply_len &&
        !s->tts && !s->tts_final && s->alen == 0)
        turn_finish(s);
}

/* ---- audio relay ------------------------------------------------------ */

/* The longest run of whole frames from the start of abuf within limit bytes
 * (a piece must fit the client's send ring), but never fewer than two. */
static size_t turn_mp3_cut(const struct turn *s, size_t limit)
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
static size_t turn_mp3_ready(struct turn *s, bool final, uint8_t *gain)
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

static void turn_consume_audio(struct turn *s, size_t n)
{
    memmove(s->abuf, s->abuf + n, s->alen - n);
    s->alen -= n;
}

/* Returns false when the client has no room (resume on drain). */
static bool turn_emit_mp3(struct turn *s, bool final)
{
    for (;;) {
        uint8_t gain;
        size_t n = turn_mp3_ready(s, final, &gain);
        if (n == 0)
            break;
        if (!s->sink->audio_room(s->ctx, n + TURN_AUDIO_ROOM_EXTRA))
            return false;
        s->sink->audio(s->ctx, s->abuf, n, mp3_gain_amplitude(gain));
        turn_m_mark(s, &s->m.audio);
        turn_sent_audio(s, turn_mp3_us(s->abuf, n));
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

static bool turn_emit_pcm(struct turn *s, bool final)
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
        turn_m_mark(s, &s->m.audio);
        turn_sent_audio(s, (uint64_t)(n / 2) * 1000000u / rate);
        s->tts_pieces++;
        turn_consume_audio(s, n);
    }
    if (final)
        s->alen = 0; /* an odd trailing byte is not a sample */
    return true;
}

static bool turn_emit(struct turn *s)
{
    if (!s->abuf)
        return true;
    bool done = s->cfg->tts_format == TURN_MP3 ? turn_emit_mp3(s, s->tts_final)
                                                : turn_emit_pcm(s, s->tts_final);
    if (done && s->tts_final && s->alen == 0) {
        s->tts_final = false;
        turn_sentence_end(s);
        if (s->tts_pieces == 0 && s->audio_ok) {
            s->audio_ok = false; /* the rest of the reply goes out as text only */
            turn_report(s, TURN_E_TTS, "text-to-speech answer held no playable audio");
        }
        turn_pump(s);
    }
    return done;
}

/* ---- text-to-speech ----------------------------------------------------- */

static void turn_tts_begin(void *ctx)
{
    struct turn *s = ctx;
    s->alen = 0;
    s->wav_header_done = false;
}

static size_t turn_tts_body(void *ctx, const uint8_t *p, size_t n)
{
    struct turn *s = ctx;
    size_t done = 0;
    if (s->m.tts_req)
        turn_m_mark(s, &s->m.tts_byte);
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

static void turn_tts_failed(struct turn *s, int status, const char *message)
{
    char msg[256];
    if (status)
        snprintf(msg, sizeof msg, "text-to-speech failed: %s (HTTP %d)", message, status);
    else
        snprintf(msg, sizeof msg, "text-to-speech failed: %s", message);
    s->audio_ok = false; /* the rest of the reply goes out as text only */
    s->alen = 0;
    turn_sentence_end(s);
    turn_report(s, TURN_E_TTS, msg);
    turn_pump(s);
}

static void turn_tts_done(void *ctx, struct ai_result *r)
{
    struct turn *s = ctx;
    s->tts = NULL;
    if (r->err != AI_OK) {
        turn_tts_failed(s, r->status, r->message);
        return;
    }
    s->tts_final = true;
    turn_emit(s);
}

static void turn_start_tts(struct turn *s, const char *text)
{
    static const char *const formats[] = {"mp3", "wav", "pcm"};
    static const struct ai_audio_cb cb = {turn_tts_begin, turn_tts_body};
    if (!s->abuf) {
        s->acap = (size_t)s->cfg->audio_chunk_bytes * 4 + 8192;
        s->abuf = malloc(s->acap);
        s->piece = malloc(s->cfg->audio_chunk_bytes + 44);
        if (!s->abuf || !s->piece) {
            turn_fail(s, TURN_E_TTS, "out of memory");
            return;
        }
    }
    struct ai_tts req = {.text = text, .format = formats[s->cfg->tts_format], .log_id = s->log_id};
    int why;
    s->tts_final = s->tts_stalled = false;
    s->tts_pieces = 0;
    turn_m_mark(s, &s->m.tts_req);
    s->tts = ai_speech(s->ai, &req, &cb, turn_tts_done, s, &why);
    if (!s->tts)
        turn_tts_failed(s, 0, why == AI_E_REQUEST ? "sentence too long" : ai_why(why));
}

/* Hand the next finished sentence to TTS, one at a time, in order. */
static void turn_pump(struct turn *s)
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
        bool blank = strspn(sentence, " \t\r\n") == k;
        turn_sentence_add(s, (uint32_t)s->spoken, (uint32_t)(s->spoken + n), !blank && s->audio_ok);
        s->spoken += n;
        if (blank || !s->audio_ok)
            continue;
        if (!s->announced) {
            s->announced = true;
            turn_m_mark(s, &s->m.sentence);
            s->sink->first_sentence(s->ctx, s->kind);
        }
        turn_start_tts(s, sentence);
    }
    turn_maybe_finish(s);
}

/* ---- chat completion (streamed) ----------------------------------------- */

static void turn_chat_delta(void *ctx, const char *delta, size_t dlen)
{
    struct turn *s = ctx;
    size_t room = sizeof s->reply - 1 - s->reply_len;
    if (dlen > room) /* keep whole UTF-8 sequences: the reply is sent as text */
        for (dlen = room; dlen > 0 && ((unsigned char)delta[dlen] & 0xC0) == 0x80; dlen--)
            ;
    memcpy(s->reply + s->reply_len, delta, dlen);
    s->reply_len += dlen;
    s->m.tokens++;
    turn_m_mark(s, &s->m.token);
    s->reply[s->reply_len] = '\0';
}

static void turn_chat_batch(void *ctx, bool ended)
{
    struct turn *s = ctx;
    s->chat_done |= ended;
    turn_pump(s);
}

static void turn_chat_done(void *ctx, struct ai_result *r)
{
    struct turn *s = ctx;
    s->chat = NULL;
    if (s->reply_len == 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "interviewer reply failed: %s", r->err != AI_OK ? r->message : "empty reply");
        if (s->kind == TURN_ANSWER && s->user_text) {
            free(s->pending_user); /* retried by the next send_for_AI_processing */
            s->pending_user = s->user_text;
            s->user_text = NULL;
        }
        turn_fail(s, TURN_E_AI_RESPONSE, msg);
        return;
    }
    if (r->err != AI_OK) /* incl. AI_E_STREAM: an error event or garbage */
        turn_report(s, TURN_E_AI_RESPONSE, "interviewer reply was cut short");
    s->chat_done = true;
    turn_pump(s);
}

void turn_start_reply(struct turn *s, enum turn_kind kind, const char *user_text)
{
    static const struct ai_chat_cb cb = {turn_chat_delta, turn_chat_batch, turn_chat_done};
    turn_m_begin(s, kind);
    s->stage = TURN_REPLYING;
    s->kind = kind;
    s->reply_len = s->spoken = 0;
    s->reply[0] = '\0';
    s->chat_done = s->announced = false;
    s->audio_ok = true;
    s->nsent = 0;
    s->audio_us = s->first_piece_ms = 0;
    s->have_report = false;
    s->reply_hist = -1;
    uint32_t first = s->nhist > s->cfg->history_messages ? s->nhist - s->cfg->history_messages : 0;
    struct oai_msg hist[64];
    size_t nh = 0;
    for (uint32_t i = first; i < s->nhist && nh < ARRAY_LEN(hist); i++)
        hist[nh++] = (struct oai_msg){s->hist[i].role, s->hist[i].content};
    struct ai_chat req = {.system = s->cfg->system_prompt, .hist = hist, .nhist = nh,
                          .user = user_text ? user_text : s->cfg->opening_instruction, .log_id = s->log_id};
    int why;
    s->chat = ai_chat_stream(s->ai, &req, &cb, s, &why);
    if (!s->chat && why != AI_E_BUSY) {
        turn_fail(s, TURN_E_AI_RESPONSE, why == AI_E_REQUEST ? "conversation too long for one request" : ai_why(why));
        return;
    }
    s->sink->generating(s->ctx, kind); /* a busy refusal follows it, as a failed reply */
    if (!s->chat)
        turn_chat_done(s, &(struct ai_result){.err = why, .message = ai_why(why)});
}

/* ---- what of the reply was played (barge-in) ----------------------------- */

static uint64_t turn_mp3_us(const uint8_t *p, size_t n)
{
    size_t off = mp3_skip_id3(p, n, NULL);
    uint64_t us = 0;
    while (off < n) {
        struct mp3_frame f;
        if (mp3_frame_at(p + off, n - off, &f) != 1 || !f.sample_rate)
            break;
        us += (uint64_t)f.samples * 1000000u / f.sample_rate;
        off += f.len;
    }
    return us;
}

static void turn_sent_audio(struct turn *s, uint64_t us)
{
    if (!s->first_piece_ms)
        s->first_piece_ms = clock_mono_ms() | 1; /* never 0: 0 means none */
    s->audio_us += us;
}

/* A sentence of the reply in order; spoken: its audio follows (else it has none). */
static void turn_sentence_add(struct turn *s, uint32_t tb, uint32_t te, bool spoken)
{
    uint64_t ae = spoken ? TURN_POS_NONE : s->audio_us;
    if (s->nsent == TURN_SENT_MAX) { /* later sentences extend the last one */
        s->sent[TURN_SENT_MAX - 1].te = te;
        s->sent[TURN_SENT_MAX - 1].ae_us = ae;
        return;
    }
    s->sent[s->nsent++] = (struct turn_sent){tb, te, s->audio_us, ae};
}

static void turn_sentence_end(struct turn *s)
{
    if (s->nsent && s->sent[s->nsent - 1].ae_us == TURN_POS_NONE)
        s->sent[s->nsent - 1].ae_us = s->audio_us;
}

/* Where playback is in the reply's audio: the client's last report moved on
 * by the time since, else the time since the first piece; never past what
 * was sent. */
static uint64_t turn_played_ms(const struct turn *s)
{
    if (!s->first_piece_ms)
        return 0;
    uint64_t now = clock_mono_ms(), sent = s->audio_us / 1000;
    uint64_t p = s->have_report ? s->report_ms + (now - s->report_at) : now - s->first_piece_ms;
    return p < sent ? p : sent;
}

/* The text heard by played_ms: whole sentences whose audio ended, and of the
 * one playing the share its time says, cut back to a word boundary. */
static void turn_heard(const struct turn *s, uint64_t played_ms, char *out, size_t cap)
{
    uint64_t p = played_ms * 1000;
    size_t cut = 0;
    for (uint32_t i = 0; i < s->nsent; i++) {
        const struct turn_sent *t = &s->sent[i];
        if (t->ae_us != TURN_POS_NONE && t->ae_us <= p) {
            cut = t->te;
            continue;
        }
        if (p <= t->ab_us)
            break;
        size_t len = t->te - t->tb;
        uint64_t dur = t->ae_us != TURN_POS_NONE ? t->ae_us - t->ab_us : (uint64_t)len * TURN_CHARS_US;
        if (t->ae_us == TURN_POS_NONE && s->audio_us - t->ab_us > dur)
            dur = s->audio_us - t->ab_us;
        size_t k = dur ? (size_t)((p - t->ab_us) * len / dur) : len;
        if (k > len)
            k = len;
        while (k > 0 && k < len && s->reply[t->tb + k] != ' ')
            k--;
        cut = t->tb + k;
        break;
    }
    size_t b = 0;
    while (b < cut && (s->reply[b] == ' ' || s->reply[b] == '\n'))
        b++;
    while (cut > b && (s->reply[cut - 1] == ' ' || s->reply[cut - 1] == '\n'))
        cut--;
    size_t n = cut - b < cap - 1 ? cut - b : cap - 1;
    memcpy(out, s->reply + b, n);
    out[n] = '\0';
}

/* Barge-in: stop the reply now; the history keeps what was heard. */
static void turn_interrupt(struct turn *s)
{
    char heard[TURN_REPLY_MAX];
    uint64_t played = turn_played_ms(s);
    turn_heard(s, played, heard, sizeof heard);
    bool replying = s->stage == TURN_REPLYING;
    if (s->stage == TURN_REPLYING) {
        turn_cancel_reply(s);
        if (s->kind == TURN_ANSWER && s->user_text) {
            turn_hist_add(s, "user", s->user_text);
            s->answers++;
        }
        if (heard[0])
            turn_hist_add(s, "assistant", heard);
        free(s->user_text);
        s->user_text = NULL;
        s->stage = TURN_IDLE;
    } else if (s->reply_hist >= 0) { /* finished, still playing: the history says less */
        char *copy = strdup(heard);
        if (copy) {
            free(s->hist[s->reply_hist].content);
            s->hist[s->reply_hist].content = copy;
        }
    }
    s->reply_hist = -1;
    s->nsent = 0;
    s->first_piece_ms = s->audio_us = 0;
    log_event(LOG_INFO, s->log_id, "barge_in", "played_ms=%llu heard_bytes=%zu", (unsigned long long)played,
              strlen(heard));
    s->sink->interrupted(s->ctx, heard, played);
    if (replying)
        turn_m_end(s, MT_INTERRUPTED, -1, true);
}

/* The last reply is done upstream but its audio is still playing (by the
 * estimate above). */
bool turn_reply_playing(const struct turn *s)
{
    return s->stage == TURN_IDLE && s->reply_hist >= 0 && turn_played_ms(s) < s->audio_us / 1000;
}

void turn_barge_check(struct turn *s)
{
    if (!s->det.server_vad || !s->det.interrupt_response || s->barged ||
        !vad_speech_for(&s->vad, s->cfg->barge_in_min_ms))
        return;
    bool replying = s->stage == TURN_REPLYING;
    bool playing = turn_reply_playing(s);
    if (!replying && !playing)
        return;
    s->barged = true;
    turn_interrupt(s);
}

void turn_playback(struct turn *s, uint64_t ms)
{
    s->have_report = true;
    s->report_ms = ms;
    s->report_at = clock_mono_ms();
}

/* ---- the opening (answers end in answer.c) -------------------------------- */

bool turn_can_start(struct turn *s)
{
    if (s->stage != TURN_IDLE) {
        turn_report(s, TURN_E_BUSY, "a response is already being prepared");
        return false;
    }
    if (!ai_have_key(s->ai)) {
        turn_report(s, TURN_E_NO_KEY, "OPENAI_API_KEY is not set on the server");
        return false;
    }
    return true;
}

void turn_start(struct turn *s)
{
    if (!turn_can_start(s))
        return;
    turn_vad_reset(s);
    turn_start_reply(s, TURN_OPENING, NULL);
}

/* ---- what outlives the connection (session.c) --------------------------- */

uint32_t turn_history_len(const struct turn *s) { return s->nhist; }

void turn_history_at(const struct turn *s, uint32_t i, const char **role, const char **content, const char **ts)
{
    *role = s->hist[i].role;
    *content = s->hist[i].content;
    *ts = s->hist[i].ts;
}

void turn_history_add(struct turn *s, const char *role, const char *content, const char *ts)
{
    uint32_t before = s->nhist;
    turn_hist_add(s, role, content);
    if (ts && ts[0] && s->nhist > before)
        snprintf(s->hist[s->nhist - 1].ts, sizeof s->hist[0].ts, "%s", ts);
}

uint32_t turn_answers(const struct turn *s) { return s->answers; }
void turn_set_answers(struct turn *s, uint32_t n) { s->answers = n; }

const char *turn_unanswered(const struct turn *s)
{
    if (s->pending_user)
        return s->pending_user;
    return s->stage != TURN_IDLE && s->kind == TURN_ANSWER ? s->user_text : NULL;
}

void turn_set_unanswered(struct turn *s, const char *text)
{
    free(s->pending_user);
    s->pending_user = text ? strdup(text) : NULL;
}

void turn_drain(struct turn *s)
{
    if (s->stage != TURN_REPLYING || !s->abuf)
        return;
    if (!turn_emit(s))
        return;
    if (s->tts && s->tts_stalled) {
        s->tts_stalled = false;
        ai_resume(s->tts);
    }
}

#undef TURN_SENTENCE_MIN
#undef TURN_SENTENCE_MAX
#undef TURN_AUDIO_ROOM_EXTRA
#undef TURN_CHARS_US
#undef TURN_POS_NONE
