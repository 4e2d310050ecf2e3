/* deps: ai.c vad.c audio.c clock.c log.c */
/* The candidate's side of a turn (see turn_state.h): the answer's audio held
 * as it arrives, voice activity (server_vad turn detection, barge-in),
 * segments transcribed while the candidate speaks, and the transcription
 * that ends an answer and starts the reply (turn.c). */
#include "pipeline/turn_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/log.h"
#include "io/metrics.h"
#include "io/pool.h"
#include "parse/audio.h"

#define TURN_TEXT_MAX 16384      /* one transcript (10 minutes of speech is ~9 KB) */
#define TURN_STT_BODY_MAX 65536  /* transcription response body */
#define TURN_SEG_BODY_MAX 20480  /* a segment's: its text is capped at TURN_TEXT_MAX anyway (30 s is ~0.5 KB);
                                  * smaller than a whole answer's, as hundreds can be in flight */
#define TURN_RATE 16000          /* the candidate's audio, samples per second */
#define TURN_VAD_STEP 1024       /* samples per vad_feed: at most 7 events, one small array */
#define TURN_SEG_TAIL 1600       /* 100 ms kept after a segment's last speech frame (a consonant's release) */
#define TURN_LOOKBACK 4800       /* 300 ms: the VAD moves an onset back up to 150 ms after 3 frames */
#define TURN_TRIM_MIN 8000       /* held audio is trimmed in steps of 0.5 s, so memmove costs little */
#define TURN_QUIET_WINDOW 1600   /* 100 ms: where an over-long segment is cut */

static void turn_detect(struct turn *s, const int16_t *pcm, size_t n);

/* ---- held audio ------------------------------------------------------- */

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

void turn_vad_reset(struct turn *s)
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

/* ---- the answer ends: entry points ------------------------------------- */

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

#undef TURN_TEXT_MAX
#undef TURN_STT_BODY_MAX
#undef TURN_SEG_BODY_MAX
#undef TURN_RATE
#undef TURN_VAD_STEP
#undef TURN_SEG_TAIL
#undef TURN_LOOKBACK
#undef TURN_TRIM_MIN
#undef TURN_QUIET_WINDOW
