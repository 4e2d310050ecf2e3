/* deps: ai.c vad.c mp3.c audio.c sentence.c clock.c log.c */
#include "pipeline/turn.h"

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

#define TURN_REPLY_MAX 4096      /* reply text kept (150 tokens is ~800 bytes) */
#define TURN_TEXT_MAX 16384      /* one transcript (10 minutes of speech is ~9 KB) */
#define TURN_STT_BODY_MAX 65536  /* transcription response body */
#define TURN_SEG_BODY_MAX 20480  /* a segment's: its text is capped at TURN_TEXT_MAX anyway (30 s is ~0.5 KB);
                                  * smaller than a whole answer's, as hundreds can be in flight */
#define TURN_SENTENCE_MIN 20     /* shorter sentences ride with the next one */
#define TURN_SENTENCE_MAX 400
#define TURN_AUDIO_ROOM_EXTRA 256 /* the JSON event that precedes each audio piece */
#define TURN_RATE 16000          /* the candidate's audio, samples per second */
#define TURN_VAD_STEP 1024       /* samples per vad_feed: at most 7 events, one small array */
#define TURN_SEGQ_MAX 8          /* closed segments waiting for STT; more merge into the last */
#define TURN_SENT_MAX 64         /* sentences tracked for barge-in; more merge into the last */
#define TURN_SEG_TAIL 1600       /* 100 ms kept after a segment's last speech frame (a consonant's release) */
#define TURN_LOOKBACK 4800       /* 300 ms: the VAD moves an onset back up to 150 ms after 3 frames */
#define TURN_TRIM_MIN 8000       /* held audio is trimmed in steps of 0.5 s, so memmove costs little */
#define TURN_QUIET_WINDOW 1600   /* 100 ms: where an over-long segment is cut */
#define TURN_CHARS_US 65000      /* speech per character (~15/s), for a sentence whose audio is not all in */
#define TURN_POS_NONE UINT64_MAX

enum turn_stage { TURN_IDLE, TURN_TRANSCRIBING, TURN_REPLYING };

struct turn_msg {
    char role[12];
    char *content;
    char ts[CLOCK_ISO_LEN];
};

struct turn {
    const struct turn_config *cfg;
    struct ai *ai;
    const struct turn_sink *sink;
    void *ctx;
    enum turn_stage stage;
    enum turn_kind kind;
    uint64_t log_id;
    /* the candidate's answer, 16 kHz mono: s16 samples, or G.711 mu-law bytes
     * where segments are trimmed (SEGMENT_AUDIO_FORMAT), half the memory */
    uint8_t *pcm;
    uint32_t pcm_len; /* samples */
    uint8_t bps;      /* bytes per held sample: 2 (s16) or 1 (mu-law), fixed while any is held */
    char *pending_user; /* transcript whose reply failed: the next turn retries it */
    char *user_text;    /* transcript of the turn in progress */
    struct turn_msg *hist;
    uint32_t nhist, hist_cap;
    uint32_t answers;   /* answers the interviewer replied to (a resumed interview's "turns") */
    /* speech-to-text */
    struct ai_call *stt;
    uint8_t wav_hdr[44];
    uint32_t stt_samples; /* samples uploaded; later ones belong to the next answer */
    /* chat */
    struct ai_call *chat;
    char reply[TURN_REPLY_MAX];
    size_t reply_len, spoken;
    bool chat_done, announced, audio_ok;
    /* text-to-speech of one sentence at a time, so audio stays in order */
    struct ai_call *tts;
    bool tts_final;   /* the TTS answer is complete; abuf holds its tail */
    bool tts_stalled; /* on_audio took less than offered: ai_resume() on drain */
    bool wav_header_done;
    uint32_t tts_pieces; /* audio pieces relayed from the current TTS answer */
    uint8_t *abuf; /* audio assembly: whole frames leave, partial ones wait */
    size_t alen, acap;
    uint8_t *piece; /* WAV piece = header + samples */
    /* voice activity; positions are samples appended since turn_new */
    struct turn_detection det;
    struct vad vad;
    uint64_t total;      /* samples appended */
    uint64_t vad_origin; /* total at vad_init (turn_start): event positions count from it */
    uint64_t pcm_base;   /* position of pcm[0] */
    uint64_t stop_end;   /* end of the last speech the VAD stopped, tail included */
    bool answer_open;    /* speech since a turn last took the answer */
    bool vad_took;       /* that turn was started by the VAD */
    bool barged;         /* the current speech already interrupted */
    /* incremental transcription: segments closed by pauses, transcribed in order */
    bool seg_open;       /* server_vad or incremental: speech since seg_begin is kept */
    uint64_t seg_begin;
    struct turn_seg {
        uint64_t begin, end;
    } segq[TURN_SEGQ_MAX];
    uint32_t nsegq, seg_k; /* queued; transcribed in this answer */
    struct ai_call *seg_stt;
    uint8_t seg_hdr[44];
    uint8_t *seg_upload; /* the head segment's audio, copied out when its upload starts, kept until it is
                          * transcribed (a failed one is retried from it): the buffer no longer holds it */
    uint32_t seg_upload_bytes;
    char *inc_text;      /* the answer's text so far (TURN_TEXT_MAX) */
    size_t inc_len;
    bool seg_failed;     /* the head segment failed: retried when the answer ends */
    bool answer_wait;    /* the answer ended at answer_end: reply once its segments are in */
    uint64_t answer_end;
    /* what of the reply went out (barge-in) */
    struct turn_sent {
        uint32_t tb, te;     /* text in reply[] */
        uint64_t ab_us, ae_us; /* audio in the reply's audio, ae TURN_POS_NONE while it comes */
    } sent[TURN_SENT_MAX];
    uint32_t nsent;
    uint64_t audio_us;       /* reply audio sent */
    uint64_t first_piece_ms; /* when its first piece went out, 0 = none yet */
    bool have_report;        /* the client reported playback_position */
    uint64_t report_ms, report_at;
    int32_t reply_hist;      /* history index of the finished reply that may still play, -1 */
    /* the turn in progress, for its metrics (turn_m_*): ms times, 0 = not yet */
    struct turn_m {
        bool running;
        enum turn_kind kind;
        uint64_t t0, stt, token, sentence, tts_req, tts_byte, audio;
        uint32_t tokens;
        int64_t retries0; /* interview_upstream_retries_total at the start */
    } m;
};

static void turn_pump(struct turn *s);
static void turn_vad_reset(struct turn *s);
static void turn_detect(struct turn *s, const int16_t *pcm, size_t n);
static void turn_sent_audio(struct turn *s, uint64_t us);
static uint64_t turn_mp3_us(const uint8_t *p, size_t n);
static void turn_sentence_add(struct turn *s, uint32_t tb, uint32_t te, bool spoken);
static void turn_sentence_end(struct turn *s);
static void turn_start_reply(struct turn *s, enum turn_kind kind, const char *user_text);

/* ---- metrics of a turn (README "Metrics") ------------------------------- */

static int64_t turn_m_retries(void)
{
    int64_t n = 0;
    for (unsigned e = 0; e < ME_COUNT; e++)
        n += metrics_get(M_UP_RETRIES, e, 0);
    return n;
}

/* Work on a turn starts (leaving TURN_IDLE): its clock starts, once. */
static void turn_m_begin(struct turn *s, enum turn_kind kind)
{
    if (s->m.running)
        return;
    s->m = (struct turn_m){.running = true, .kind = kind, .t0 = clock_mono_ms(), .retries0 = turn_m_retries()};
    metrics_inc(M_TURNS_STARTED, kind == TURN_OPENING ? MK_OPENING : MK_ANSWER, 0);
}

/* The first time of an event in this turn. */
static void turn_m_mark(struct turn *s, uint64_t *at)
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
static void turn_report(struct turn *s, enum turn_error e, const char *msg)
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
static void turn_free_released(void *p, size_t n)
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

/* The WAV header for bytes of held audio in its format. */
static void turn_wav_header(const struct turn *s, uint8_t hdr[44], uint32_t bytes)
{
    if (s->bps == 1)
        audio_wav_header_ulaw(hdr, TURN_RATE, 1, bytes);
    else
        audio_wav_header(hdr, TURN_RATE, 1, bytes);
}

/* Held samples [i0, i1) as s16, at most TURN_RATE (one second): decoded into
 * a static buffer when held as mu-law (one loop thread). */
static const int16_t *turn_samples(const struct turn *s, size_t i0, size_t i1)
{
    static int16_t out[TURN_RATE];
    if (s->bps == 2)
        return (const int16_t *)(const void *)(s->pcm + i0 * 2);
    for (size_t i = i0; i < i1 && i - i0 < ARRAY_LEN(out); i++)
        out[i - i0] = audio_ulaw_decode(s->pcm[i]);
    return out;
}

static bool turn_store(struct turn *s, const int16_t *pcm, size_t n)
{
    uint32_t cap = s->cfg->max_answer_samples;
    if (!s->pcm) {
        /* Allocated whole but touched only as audio arrives: pages that were
         * never written are not resident. */
        s->pcm = malloc((size_t)cap * sizeof(int16_t));
        if (!s->pcm)
            return false;
    }
    if (s->pcm_len == 0)
        s->bps = (s->det.incremental || s->det.server_vad) && s->cfg->segment_ulaw ? 1 : 2;
    size_t room = cap - s->pcm_len;
    size_t take = n < room ? n : room;
    if (s->bps == 2)
        memcpy(s->pcm + (size_t)s->pcm_len * 2, pcm, take * sizeof(int16_t));
    else
        for (size_t i = 0; i < take; i++)
            s->pcm[s->pcm_len + i] = audio_ulaw_encode(pcm[i]);
    s->pcm_len += (uint32_t)take;
    return take == n;
}

bool turn_append(struct turn *s, const int16_t *pcm, size_t n)
{
    bool ok = turn_store(s, pcm, n);
    s->total += n; /* kept or not: positions follow the audio received */
    turn_detect(s, pcm, n);
    return ok;
}

size_t turn_buffered(const struct turn *s) { return s->pcm_len; }
void turn_set_log_id(struct turn *s, uint64_t id) { s->log_id = id; }
bool turn_busy(const struct turn *s) { return s->stage != TURN_IDLE; }

static void turn_fail(struct turn *s, enum turn_error e, const char *msg)
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

static void turn_start_reply(struct turn *s, enum turn_kind kind, const char *user_text)
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

/* ---- speech-to-text ----------------------------------------------------- */

static void turn_stt_done(void *ctx, struct ai_result *r)
{
    struct turn *s = ctx;
    char msg[320];
    s->stt = NULL;
    if (!r->text) {
        snprintf(msg, sizeof msg, "transcription failed: %s", r->err == AI_OK ? "malformed response" : r->message);
        turn_fail(s, TURN_E_TRANSCRIPTION, msg); /* the audio stays for a retry */
        return;
    }
    /* Transcribed: drop the uploaded samples, keep any that arrived since. */
    memmove(s->pcm, s->pcm + (size_t)s->stt_samples * s->bps, (size_t)(s->pcm_len - s->stt_samples) * s->bps);
    s->pcm_len -= s->stt_samples;
    s->pcm_base += s->stt_samples;
    if (strspn(r->text, " \t\r\n") == strlen(r->text)) {
        turn_fail(s, TURN_E_EMPTY_TRANSCRIPT, "no speech was recognised in the answer");
        return;
    }
    turn_m_mark(s, &s->m.stt);
    s->sink->transcript(s->ctx, r->text);
    free(s->user_text);
    s->user_text = strdup(r->text);
    turn_start_reply(s, TURN_ANSWER, r->text);
}

/* A streamed transcription's text so far (gpt-4o*-transcribe): shown as the
 * answer's next segment, each update replacing the last. */
static void turn_stt_text(void *ctx, const char *text, size_t n)
{
    struct turn *s = ctx;
    (void)n;
    if (s->sink->partial)
        s->sink->partial(s->ctx, s->seg_k, text);
}

static void turn_start_stt(struct turn *s)
{
    uint32_t bytes = s->pcm_len * s->bps;
    turn_wav_header(s, s->wav_hdr, bytes);
    struct ai_stt req = {.audio = {{s->wav_hdr, sizeof s->wav_hdr}, {s->pcm, bytes}},
                         .filename = "answer.wav", .ctype = "audio/wav", .tag = "interview-boundary",
                         .max_body = TURN_STT_BODY_MAX - 1, .max_text = TURN_TEXT_MAX, .log_id = s->log_id,
                         .on_text = turn_stt_text};
    int why;
    s->stt_samples = s->pcm_len;
    turn_m_begin(s, TURN_ANSWER);
    s->stage = TURN_TRANSCRIBING;
    if (!s->det.incremental)
        s->seg_open = false; /* the whole answer is taken: what comes next is the next one */
    s->stt = ai_transcribe(s->ai, &req, turn_stt_done, s, &why);
    if (!s->stt)
        turn_fail(s, TURN_E_TRANSCRIPTION, why == AI_E_REQUEST ? "invalid transcription settings"
                                           : why == AI_E_BUSY ? "transcription failed: too many upstream requests in flight"
                                                              : ai_why(why));
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
static bool turn_reply_playing(const struct turn *s)
{
    return s->stage == TURN_IDLE && s->reply_hist >= 0 && turn_played_ms(s) < s->audio_us / 1000;
}

static void turn_barge_check(struct turn *s)
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

/* ---- held audio and segments ------------------------------------------- */

static size_t turn_idx(const struct turn *s, uint64_t pos)
{
    if (pos <= s->pcm_base)
        return 0;
    return pos - s->pcm_base < s->pcm_len ? (size_t)(pos - s->pcm_base) : s->pcm_len;
}

/* With server_vad or segments, audio before the current answer is not
 * kept: only a prefix's worth, so a connection holds one answer or segment.
 * Never while an upload reads the buffer. */
static void turn_trim(struct turn *s)
{
    if (!(s->det.incremental || s->det.server_vad) || s->stt || !s->pcm)
        return;
    uint64_t tail = (uint64_t)s->det.prefix_padding_ms * TURN_RATE / 1000 + TURN_LOOKBACK;
    uint64_t keep = s->total > tail ? s->total - tail : 0;
    if (s->seg_open && s->seg_begin < keep)
        keep = s->seg_begin;
    uint32_t held = s->seg_upload ? 1 : 0; /* the head segment lives in its copy */
    if (s->nsegq > held && s->segq[held].begin < keep)
        keep = s->segq[held].begin;
    if (keep < s->pcm_base + TURN_TRIM_MIN)
        return;
    size_t drop = turn_idx(s, keep), was = (size_t)s->pcm_len * s->bps;
    memmove(s->pcm, s->pcm + drop * s->bps, (s->pcm_len - drop) * s->bps);
    s->pcm_len -= (uint32_t)drop;
    s->pcm_base += drop;
    /* a buffer keeps what one segment needs, not its high-water mark */
    pool_release_pages(s->pcm + (size_t)s->pcm_len * s->bps, was - (size_t)s->pcm_len * s->bps);
}

static void turn_seg_pump(struct turn *s);

static void turn_seg_queue(struct turn *s, uint64_t end)
{
    if (end <= s->seg_begin)
        return;
    if (s->nsegq == TURN_SEGQ_MAX)
        s->segq[TURN_SEGQ_MAX - 1].end = end; /* STT is behind: the newest grow */
    else
        s->segq[s->nsegq++] = (struct turn_seg){s->seg_begin, end};
    s->seg_begin = end;
}

/* The last part of the earlier text, from a word start: the API reads only
 * the end of a prompt anyway. */
static const char *turn_seg_prompt(const struct turn *s)
{
    if (!s->inc_len)
        return NULL;
    const char *p = s->inc_text;
    if (s->inc_len >= AI_STT_PROMPT_MAX) {
        p = s->inc_text + s->inc_len - (AI_STT_PROMPT_MAX - 1);
        const char *sp = strchr(p, ' ');
        p = sp ? sp + 1 : p + strlen(p);
    }
    return p;
}

static void turn_answer_ready(struct turn *s)
{
    s->answer_wait = false;
    s->seg_k = 0;
    bool blank = strspn(s->inc_text ? s->inc_text : "", " \t\r\n") == s->inc_len;
    if (blank) {
        s->inc_len = 0;
        turn_fail(s, TURN_E_EMPTY_TRANSCRIPT, "no speech was recognised in the answer");
        return;
    }
    free(s->user_text);
    s->user_text = strdup(s->inc_text);
    s->inc_len = 0;
    s->inc_text[0] = '\0';
    if (!s->user_text) {
        turn_fail(s, TURN_E_TRANSCRIPTION, "out of memory");
        return;
    }
    turn_m_mark(s, &s->m.stt);
    s->sink->transcript(s->ctx, s->user_text);
    turn_start_reply(s, TURN_ANSWER, s->user_text);
}

static void turn_seg_fail(struct turn *s, const char *msg)
{
    s->seg_failed = true; /* its audio stays; the answer's end retries it */
    log_event(LOG_WARN, s->log_id, "segment_failed", "%s", msg);
    if (s->answer_wait) {
        s->answer_wait = false;
        turn_fail(s, TURN_E_TRANSCRIPTION, msg);
    }
}

static void turn_seg_done(void *ctx, struct ai_result *r)
{
    struct turn *s = ctx;
    char msg[320];
    s->seg_stt = NULL;
    if (!r->text) {
        snprintf(msg, sizeof msg, "transcription failed: %s", r->err == AI_OK ? "malformed response" : r->message);
        turn_seg_fail(s, msg);
        return;
    }
    if (!s->inc_text)
        s->inc_text = malloc(TURN_TEXT_MAX);
    const char *t = r->text + strspn(r->text, " \t\r\n");
    size_t n = strlen(t);
    while (n && strchr(" \t\r\n", t[n - 1]))
        n--;
    if (s->inc_text && n) {
        size_t sep = s->inc_len ? 1 : 0;
        if (s->inc_len + sep + n >= TURN_TEXT_MAX) {
            log_event(LOG_WARN, s->log_id, "transcript_cap", "answer text over %d bytes cut", TURN_TEXT_MAX);
            n = s->inc_len + sep < TURN_TEXT_MAX - 1 ? TURN_TEXT_MAX - 1 - s->inc_len - sep : 0;
            while (n && ((unsigned char)t[n] & 0xC0) == 0x80)
                n--; /* whole UTF-8 sequences */
        }
        if (sep && n)
            s->inc_text[s->inc_len++] = ' ';
        memcpy(s->inc_text + s->inc_len, t, n);
        s->inc_len += n;
        s->inc_text[s->inc_len] = '\0';
    }
    char part[TURN_TEXT_MAX];
    snprintf(part, sizeof part, "%.*s", (int)n, t);
    turn_free_released(s->seg_upload, s->seg_upload_bytes);
    s->seg_upload = NULL;
    memmove(s->segq, s->segq + 1, --s->nsegq * sizeof *s->segq);
    turn_trim(s); /* before the next upload reads the buffer */
    s->sink->partial(s->ctx, s->seg_k++, part);
    turn_seg_pump(s);
}

/* Transcribe the oldest closed segment, with the earlier text as prompt;
 * when the ended answer's segments are all in, reply. */
static void turn_seg_pump(struct turn *s)
{
    while (!s->seg_stt && !s->seg_failed) {
        if (s->answer_wait && (s->nsegq == 0 || s->segq[0].begin >= s->answer_end)) {
            turn_answer_ready(s);
            continue;
        }
        if (s->nsegq == 0)
            return;
        if (!s->seg_upload) { /* first try: the segment moves out of the buffer */
            size_t i0 = turn_idx(s, s->segq[0].begin), i1 = turn_idx(s, s->segq[0].end);
            if (i1 <= i0) { /* nothing held (past the buffer cap) */
                memmove(s->segq, s->segq + 1, --s->nsegq * sizeof *s->segq);
                continue;
            }
            s->seg_upload_bytes = (uint32_t)(i1 - i0) * s->bps;
            s->seg_upload = malloc(s->seg_upload_bytes);
            if (!s->seg_upload) {
                turn_seg_fail(s, "transcription failed: out of memory");
                return;
            }
            memcpy(s->seg_upload, s->pcm + i0 * s->bps, s->seg_upload_bytes);
            turn_wav_header(s, s->seg_hdr, s->seg_upload_bytes);
            turn_trim(s);
        }
        uint32_t bytes = s->seg_upload_bytes;
        struct ai_stt req = {.audio = {{s->seg_hdr, sizeof s->seg_hdr}, {s->seg_upload, bytes}},
                             .filename = "segment.wav", .ctype = "audio/wav", .tag = "interview-boundary",
                             .max_body = TURN_SEG_BODY_MAX - 1, .max_text = TURN_TEXT_MAX, .log_id = s->log_id,
                             .prompt = turn_seg_prompt(s)};
        int why;
        s->seg_stt = ai_transcribe(s->ai, &req, turn_seg_done, s, &why);
        if (!s->seg_stt)
            turn_seg_fail(s, why == AI_E_BUSY ? "transcription failed: too many upstream requests in flight"
                                              : ai_why(why));
    }
}

/* A segment longer than MAX_SEGMENT_SECONDS ends at the quietest 100 ms of
 * its last second. */
static void turn_seg_cap(struct turn *s)
{
    if (!s->det.incremental || !s->seg_open || s->total - s->seg_begin < s->cfg->max_segment_samples)
        return;
    uint64_t from = s->total - TURN_RATE > s->seg_begin ? s->total - TURN_RATE : s->seg_begin;
    size_t i0 = turn_idx(s, from), i1 = turn_idx(s, s->total);
    uint64_t cut = s->total;
    if (i1 - i0 > TURN_QUIET_WINDOW)
        cut = s->pcm_base + i0 + vad_quietest(turn_samples(s, i0, i1), i1 - i0, TURN_QUIET_WINDOW) +
              TURN_QUIET_WINDOW / 2;
    turn_seg_queue(s, cut);
    turn_seg_pump(s);
}

/* ---- voice activity ---------------------------------------------------- */

static void turn_vad_reset(struct turn *s)
{
    struct vad_config vc = {.sample_rate = TURN_RATE, .threshold = s->det.threshold,
                            .silence_ms = s->det.silence_ms,
                            .pause_ms = s->det.incremental ? s->cfg->transcribe_pause_ms : 0};
    vad_init(&s->vad, &vc);
    s->vad_origin = s->total;
    s->barged = false;
}

static uint64_t turn_ms(uint64_t samples) { return samples * 1000 / TURN_RATE; }

static void turn_vad_event(struct turn *s, const struct vad_event *e)
{
    uint64_t pos = s->vad_origin + e->pos;
    uint64_t end = pos + TURN_SEG_TAIL < s->total ? pos + TURN_SEG_TAIL : s->total;
    switch (e->kind) {
    case VAD_SPEECH_START: {
        uint64_t pad = (uint64_t)s->det.prefix_padding_ms * TURN_RATE / 1000;
        s->answer_open = true;
        s->vad_took = s->barged = false;
        if ((s->det.incremental || s->det.server_vad) && !s->seg_open) {
            s->seg_open = true;
            s->seg_begin = pos > pad ? pos - pad : 0;
            if (s->nsegq && s->seg_begin < s->segq[s->nsegq - 1].end)
                s->seg_begin = s->segq[s->nsegq - 1].end;
            if (s->seg_begin < s->pcm_base)
                s->seg_begin = s->pcm_base;
        }
        s->sink->speech(s->ctx, true, turn_ms(e->pos));
        break;
    }
    case VAD_PAUSE:
        if (s->det.incremental && s->seg_open) {
            turn_seg_queue(s, end);
            turn_seg_pump(s);
        }
        break;
    case VAD_SPEECH_STOP:
        s->stop_end = end;
        if (s->det.incremental && s->seg_open) {
            turn_seg_queue(s, end);
            s->seg_open = false;
            turn_seg_pump(s);
        }
        s->sink->speech(s->ctx, false, turn_ms(e->pos));
        break;
    }
}

static void turn_detect(struct turn *s, const int16_t *pcm, size_t n)
{
    for (size_t off = 0; off < n; off += TURN_VAD_STEP) {
        size_t k = n - off < TURN_VAD_STEP ? n - off : TURN_VAD_STEP;
        struct vad_event ev[8];
        size_t ne = vad_feed(&s->vad, pcm + off, k, ev, ARRAY_LEN(ev));
        for (size_t i = 0; i < ne && i < ARRAY_LEN(ev); i++)
            turn_vad_event(s, &ev[i]);
    }
    turn_barge_check(s);
    turn_seg_cap(s);
    turn_trim(s);
}

void turn_set_detection(struct turn *s, const struct turn_detection *d)
{
    s->det = *d;
    turn_vad_reset(s);
}

const struct turn_detection *turn_get_detection(const struct turn *s) { return &s->det; }

void turn_playback(struct turn *s, uint64_t ms)
{
    s->have_report = true;
    s->report_ms = ms;
    s->report_at = clock_mono_ms();
}

/* ---- entry points ------------------------------------------------------- */

static bool turn_can_start(struct turn *s)
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

/* No new audio, but a reply that failed before: ask again with its
 * transcript. false when there is none. */
static bool turn_ask_again(struct turn *s)
{
    if (!s->pending_user)
        return false;
    free(s->user_text);
    s->user_text = s->pending_user;
    s->pending_user = NULL;
    turn_start_reply(s, TURN_ANSWER, s->user_text);
    return true;
}

/* Incremental: the answer is the segments up to end; reply once they are in. */
static void turn_answer_segments(struct turn *s, uint64_t end)
{
    if (s->seg_open) {
        /* The part since the last pause goes only if the VAD heard speech in
         * it: a silent tail would cost a request, and Whisper may invent
         * words for silence. */
        if (s->vad_origin + s->vad.speech_end > s->seg_begin)
            turn_seg_queue(s, end);
        s->seg_open = s->vad.speech; /* still speaking: the rest is the next answer */
    }
    bool any = (s->nsegq && s->segq[0].begin < end) || s->seg_stt || s->inc_len || s->seg_k;
    if (!any && turn_ask_again(s))
        return;
    if (!any) {
        turn_report(s, TURN_E_EMPTY, "no speech was detected in this answer");
        return;
    }
    s->answer_end = end;
    s->answer_wait = true;
    s->seg_failed = false; /* a failed segment is tried again */
    turn_m_begin(s, TURN_ANSWER);
    s->stage = TURN_TRANSCRIBING;
    turn_seg_pump(s);
}

void turn_answer(struct turn *s)
{
    if (!turn_can_start(s))
        return;
    if (s->det.incremental) {
        turn_answer_segments(s, s->total);
        return;
    }
    if (s->pcm_len == 0 && turn_ask_again(s))
        return;
    if (s->pcm_len == 0) {
        turn_report(s, TURN_E_EMPTY, "no audio was received for this answer");
        return;
    }
    turn_start_stt(s);
}

void turn_answer_client(struct turn *s)
{
    if (s->det.server_vad && s->vad_took && !s->answer_open) {
        log_event(LOG_INFO, s->log_id, "answer_already_taken", "the VAD ended this answer");
        return;
    }
    s->answer_open = s->vad_took = false;
    s->barged = s->vad.speech; /* speech in its hangover is this answer's: it must not interrupt the reply */
    turn_answer(s);
}

bool turn_vad_answer_due(const struct turn *s)
{
    if (!s->det.server_vad || !s->answer_open || s->stage != TURN_IDLE)
        return false;
    /* Speech too short to interrupt the reply that is still playing (a
     * cough) does not end an answer either; it stays with the next one. */
    return !(s->det.interrupt_response && !s->barged && turn_reply_playing(s));
}

void turn_answer_vad(struct turn *s)
{
    if (!turn_vad_answer_due(s))
        return;
    s->answer_open = false;
    s->vad_took = true;
    if (s->det.incremental && turn_can_start(s))
        turn_answer_segments(s, s->stop_end);
    else if (!s->det.incremental)
        turn_answer(s);
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

#undef TURN_REPLY_MAX
#undef TURN_TEXT_MAX
#undef TURN_STT_BODY_MAX
#undef TURN_SENTENCE_MIN
#undef TURN_SENTENCE_MAX
#undef TURN_AUDIO_ROOM_EXTRA
#undef TURN_RATE
#undef TURN_VAD_STEP
#undef TURN_SEGQ_MAX
#undef TURN_SENT_MAX
#undef TURN_SEG_TAIL
#undef TURN_LOOKBACK
#undef TURN_TRIM_MIN
#undef TURN_SEG_BODY_MAX
#undef TURN_QUIET_WINDOW
#undef TURN_CHARS_US
#undef TURN_POS_NONE
