/* deps: ai.c mp3.c audio.c sentence.c clock.c log.c */
#include "pipeline/turn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/audio.h"
#include "io/clock.h"
#include "io/log.h"
#include "parse/mp3.h"
#include "parse/sentence.h"
#include "pipeline/ai.h"

#define TURN_REPLY_MAX 4096      /* reply text kept (150 tokens is ~800 bytes) */
#define TURN_TEXT_MAX 16384      /* one transcript (10 minutes of speech is ~9 KB) */
#define TURN_STT_BODY_MAX 65536  /* transcription response body */
#define TURN_SENTENCE_MIN 20     /* shorter sentences ride with the next one */
#define TURN_SENTENCE_MAX 400
#define TURN_AUDIO_ROOM_EXTRA 256 /* the JSON event that precedes each audio piece */

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
    /* the candidate's answer, 16 kHz mono */
    int16_t *pcm;
    uint32_t pcm_len;
    char *pending_user; /* transcript whose reply failed: the next turn retries it */
    char *user_text;    /* transcript of the turn in progress */
    struct turn_msg *hist;
    uint32_t nhist, hist_cap;
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
};

static void turn_pump(struct turn *s);

/* ---- history ---------------------------------------------------------- */

static void turn_hist_add(struct turn *s, const char *role, const char *text)
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

struct turn *turn_new(const struct turn_config *cfg, struct ai *ai, const struct turn_sink *sink, void *ctx)
{
    struct turn *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (struct turn){.cfg = cfg, .ai = ai, .sink = sink, .ctx = ctx};
    /* Kept messages: the context window plus one exchange being built. */
    s->hist_cap = cfg->history_messages + 2;
    s->hist = calloc(s->hist_cap, sizeof *s->hist);
    if (!s->hist) {
        free(s);
        return NULL;
    }
    return s;
}

static void turn_free_audio(struct turn *s)
{
    free(s->abuf);
    free(s->piece);
    s->abuf = s->piece = NULL;
    s->alen = s->acap = 0;
}

static void turn_cancel_all(struct turn *s)
{
    ai_cancel(s->stt);
    ai_cancel(s->chat);
    ai_cancel(s->tts);
    s->stt = s->chat = s->tts = NULL;
    turn_free_audio(s);
}

void turn_free(struct turn *s)
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

bool turn_append(struct turn *s, const int16_t *pcm, size_t n)
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

size_t turn_buffered(const struct turn *s) { return s->pcm_len; }
void turn_set_log_id(struct turn *s, uint64_t id) { s->log_id = id; }
bool turn_busy(const struct turn *s) { return s->stage != TURN_IDLE; }

static void turn_fail(struct turn *s, enum turn_error e, const char *msg)
{
    turn_cancel_all(s);
    s->stage = TURN_IDLE;
    s->sink->error(s->ctx, e, msg);
}

/* ---- finishing a reply ------------------------------------------------ */

static void turn_finish(struct turn *s)
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
        if (s->tts_pieces == 0 && s->audio_ok) {
            s->audio_ok = false; /* the rest of the reply goes out as text only */
            s->sink->error(s->ctx, TURN_E_TTS, "text-to-speech answer held no playable audio");
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
    s->sink->error(s->ctx, TURN_E_TTS, msg);
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

static void turn_chat_delta(void *ctx, const char *delta, size_t dlen)
{
    struct turn *s = ctx;
    size_t room = sizeof s->reply - 1 - s->reply_len;
    if (dlen > room) /* keep whole UTF-8 sequences: the reply is sent as text */
        for (dlen = room; dlen > 0 && ((unsigned char)delta[dlen] & 0xC0) == 0x80; dlen--)
            ;
    memcpy(s->reply + s->reply_len, delta, dlen);
    s->reply_len += dlen;
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
        s->sink->error(s->ctx, TURN_E_AI_RESPONSE, "interviewer reply was cut short");
    s->chat_done = true;
    turn_pump(s);
}

static void turn_start_reply(struct turn *s, enum turn_kind kind, const char *user_text)
{
    static const struct ai_chat_cb cb = {turn_chat_delta, turn_chat_batch, turn_chat_done};
    s->stage = TURN_REPLYING;
    s->kind = kind;
    s->reply_len = s->spoken = 0;
    s->reply[0] = '\0';
    s->chat_done = s->announced = false;
    s->audio_ok = true;
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
    memmove(s->pcm, s->pcm + s->stt_samples, (s->pcm_len - s->stt_samples) * sizeof(int16_t));
    s->pcm_len -= s->stt_samples;
    if (strspn(r->text, " \t\r\n") == strlen(r->text)) {
        turn_fail(s, TURN_E_EMPTY_TRANSCRIPT, "no speech was recognised in the answer");
        return;
    }
    s->sink->transcript(s->ctx, r->text);
    free(s->user_text);
    s->user_text = strdup(r->text);
    turn_start_reply(s, TURN_ANSWER, r->text);
}

static void turn_start_stt(struct turn *s)
{
    uint32_t bytes = s->pcm_len * 2;
    audio_wav_header(s->wav_hdr, 16000, 1, bytes);
    struct ai_stt req = {.audio = {{s->wav_hdr, sizeof s->wav_hdr}, {s->pcm, bytes}},
                         .filename = "answer.wav", .ctype = "audio/wav", .tag = "interview-boundary",
                         .max_body = TURN_STT_BODY_MAX - 1, .max_text = TURN_TEXT_MAX, .log_id = s->log_id};
    int why;
    s->stt_samples = s->pcm_len;
    s->stage = TURN_TRANSCRIBING;
    s->stt = ai_transcribe(s->ai, &req, turn_stt_done, s, &why);
    if (!s->stt)
        turn_fail(s, TURN_E_TRANSCRIPTION, why == AI_E_REQUEST ? "invalid transcription settings"
                                           : why == AI_E_BUSY ? "transcription failed: too many upstream requests in flight"
                                                              : ai_why(why));
}

/* ---- entry points ------------------------------------------------------- */

static bool turn_can_start(struct turn *s)
{
    if (s->stage != TURN_IDLE) {
        s->sink->error(s->ctx, TURN_E_BUSY, "a response is already being prepared");
        return false;
    }
    if (!ai_have_key(s->ai)) {
        s->sink->error(s->ctx, TURN_E_NO_KEY, "OPENAI_API_KEY is not set on the server");
        return false;
    }
    return true;
}

void turn_start(struct turn *s)
{
    if (turn_can_start(s))
        turn_start_reply(s, TURN_OPENING, NULL);
}

void turn_answer(struct turn *s)
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
