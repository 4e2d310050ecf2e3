/* deps: sio.c ai.c jsonv.c utf8.c media_dur.c, cJSON */
#include "dialect/coach.h"

#include <cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse/jsonv.h"
#include "parse/media_dur.h"
#include "parse/utf8.h"
#include "io/log.h"
#include "io/metrics.h"
#include "io/server.h"
#include "pipeline/ai.h"
#include "dialect/sio.h"

static struct coach_config coach_cfg; /* coach_setup */

#define COACH_STT_RESP_MAX (256 * 1024)   /* verbose_json with word timestamps */
#define COACH_TTS_MAX (2 * 1024 * 1024)   /* one question's audio */
#define COACH_TEXT_MAX 1000               /* a question, a feedback, a list item */
#define COACH_LIST_MAX 10                 /* items in strengths/improvements/microDrills */
#define COACH_WORDS_MAX 20000             /* words in one transcript */
#define COACH_KEYWORDS_MAX 20             /* keywordsFound per answer */
#define COACH_TOKENS_QUESTIONS 1500
#define COACH_TOKENS_ANALYSIS 600
#define COACH_TOKENS_REPORT 1000

enum coach_stage { COACH_IDLE, COACH_PREPARING, COACH_ASKING, COACH_REPORTING, COACH_DONE };
enum coach_job { COACH_JOB_NONE, COACH_JOB_QUESTIONS, COACH_JOB_STT, COACH_JOB_ANALYSIS, COACH_JOB_REPORT,
                 COACH_JOB_TTS };

/* One AI call. */
struct coach_call {
    struct coach *co;
    enum coach_job job;
    struct ai_call *req;
    uint8_t *file; /* the answer being transcribed */
    size_t file_len;
    int attempt; /* JSON-mode calls are retried once when the answer is malformed; TTS: the question */
};

struct coach_question {
    char id[8];
    char *text;
    char type[33];
    cJSON *analysis; /* the answer_analyzed payload, once answered */
};

struct coach_stats { /* our own figures from the transcript's words, else its text */
    int words, fillers;
    double span, wpm;
    const char *source; /* where the time came from: "words", "response", "usage", "audio", "none" */
};

struct coach {
    struct server *srv;
    struct sio_sock *k;
    enum coach_stage stage;
    char *posting, *resume;
    struct coach_question q[COACH_QUESTIONS];
    int next;      /* index of the question to be answered next */
    int answering; /* its index while its answer is processed, else -1 */
    struct coach_call work, tts;
    struct ai_fetch *fetch; /* the posting being fetched (takes the work slot) */
    int tts_want;  /* question whose audio is wanted after the running TTS, -1 none */
    int audio_q;   /* question whose audio is cached in audio (for resume_interview) */
    uint8_t *audio;
    size_t audio_len;
    char *transcript;
    double duration;
    struct coach_stats st;
    cJSON *keywords; /* of the answer being analysed */
};

static const char *coach_events[] = {"start_interview", "submit_answer", "complete_interview",
                                     "resume_interview"};

static bool coach_event_known(const char *name)
{
    for (size_t i = 0; i < sizeof coach_events / sizeof *coach_events; i++)
        if (strcmp(name, coach_events[i]) == 0)
            return true;
    return false;
}

static bool coach_event_starts_ai(const char *name)
{
    return strcmp(name, "start_interview") == 0 || strcmp(name, "submit_answer") == 0 ||
           strcmp(name, "complete_interview") == 0;
}

static uint64_t coach_log(const struct coach *co) { return sio_log_id(co->k); }

static void coach_error_q(struct coach *co, const char *code, const char *message, const char *qid)
{
    /* Messages may quote the API and be cut by snprintf: never cut a UTF-8
     * sequence, or the text frame would be invalid and the client would drop. */
    char safe[512];
    size_t n = strlen(message);
    if (n >= sizeof safe)
        n = sizeof safe - 1;
    while (n > 0 && !utf8_valid((const uint8_t *)message, n))
        n--;
    memcpy(safe, message, n);
    safe[n] = '\0';
    log_event(LOG_INFO, coach_log(co), "coach_error", "code=%s %s", code, safe);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "code", code);
    cJSON_AddStringToObject(o, "message", safe);
    if (qid)
        cJSON_AddStringToObject(o, "questionId", qid);
    sio_emit(co->k, "error", o, NULL, 0);
}

static void coach_error(struct coach *co, const char *code, const char *message)
{
    coach_error_q(co, code, message, NULL);
}

/* ---- AI calls ------------------------------------------------------------- */

static void coach_call_reset(struct coach_call *cl)
{
    ai_cancel(cl->req);
    cl->req = NULL;
    free(cl->file);
    cl->file = NULL;
    cl->job = COACH_JOB_NONE;
}

static void coach_done(void *ctx, struct ai_result *r);

/* After ai_*(): false (and the slot reset) when the call was refused. */
static bool coach_call_started(struct coach_call *cl, struct ai_call *req)
{
    cl->req = req;
    if (!req)
        coach_call_reset(cl);
    return req != NULL;
}

/* POST /chat/completions in JSON mode (response_format json_object), not streamed. */
static bool coach_chat(struct coach *co, enum coach_job job, const char *system, const char *user,
                       unsigned max_tokens)
{
    struct coach_call *cl = &co->work;
    struct ai_chat req = {.system = system, .user = user, .max_tokens = max_tokens, .log_id = coach_log(co)};
    int why;
    cl->co = co;
    cl->job = job;
    return coach_call_started(cl, ai_chat_json(coach_cfg.ai, &req, coach_done, cl, &why));
}

/* The chat completion's message content, parsed as a JSON object
 * (validated strictly first: it is model output). NULL when anything is off. */
static cJSON *coach_chat_json(const struct ai_result *r, unsigned depth)
{
    size_t off;
    cJSON *out = NULL;
    if (r->text && jsonv_validate((const uint8_t *)r->text, strlen(r->text), depth, &off) == JSONV_OK)
        out = cJSON_Parse(r->text);
    if (out && !cJSON_IsObject(out)) {
        cJSON_Delete(out);
        out = NULL;
    }
    return out;
}

/* ---- validation helpers ------------------------------------------------------ */

static bool coach_text_ok(const cJSON *s, size_t max)
{
    if (!cJSON_IsString(s))
        return false;
    size_t n = strlen(s->valuestring);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s->valuestring[i] < 0x20 && s->valuestring[i] != '\n')
            return false;
    return true;
}

static bool coach_list_ok(const cJSON *a)
{
    int n = cJSON_GetArraySize(a);
    if (!cJSON_IsArray(a) || n < 1 || n > COACH_LIST_MAX)
        return false;
    for (const cJSON *e = a->child; e; e = e->next)
        if (!coach_text_ok(e, COACH_TEXT_MAX))
            return false;
    return true;
}

/* ---- questions ----------------------------------------------------------- */

static const char coach_q_system[] =
    "You are an expert interview coach. From the job posting and the candidate's resume, write exactly 8 "
    "interview questions for this role, a mix of behavioral, technical and situational questions, in the "
    "order they should be asked. Answer with a JSON object and nothing else: "
    "{\"questions\":[{\"id\":\"q1\",\"text\":\"...\",\"type\":\"behavioral\"}, ...]} with exactly 8 items; "
    "type is one of behavioral, technical, situational.";

static bool coach_type_ok(const cJSON *t)
{
    static const char *types[] = {"behavioral", "technical", "situational"};
    if (!cJSON_IsString(t))
        return false;
    for (size_t i = 0; i < 3; i++)
        if (strcmp(t->valuestring, types[i]) == 0)
            return true;
    return false;
}

static bool coach_questions_start(struct coach *co)
{
    size_t n = strlen(co->posting) + strlen(co->resume) + 64;
    char *user = malloc(n);
    if (!user)
        return false;
    snprintf(user, n, "Job posting:\n%s\n\nResume:\n%s", co->posting, co->resume[0] ? co->resume : "(none given)");
    bool ok = coach_chat(co, COACH_JOB_QUESTIONS, coach_q_system, user, COACH_TOKENS_QUESTIONS);
    free(user);
    return ok;
}

/* Takes the 8 questions when the model's answer has exactly the schema; ids
 * are ours (q1..q8, in order) whatever the model wrote. */
static bool coach_take_questions(struct coach *co, const cJSON *root)
{
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(root, "questions");
    if (!cJSON_IsArray(qs) || cJSON_GetArraySize(qs) != COACH_QUESTIONS)
        return false;
    int i = 0;
    for (const cJSON *e = qs->child; e; e = e->next, i++) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(e, "text");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!cJSON_IsObject(e) || !coach_text_ok(text, COACH_TEXT_MAX) || !coach_type_ok(type) ||
            (id && !cJSON_IsString(id)))
            return false;
    }
    i = 0;
    for (const cJSON *e = qs->child; e; e = e->next, i++) {
        struct coach_question *q = &co->q[i];
        snprintf(q->id, sizeof q->id, "q%d", i + 1);
        q->text = strdup(cJSON_GetObjectItemCaseSensitive(e, "text")->valuestring);
        snprintf(q->type, sizeof q->type, "%s", cJSON_GetObjectItemCaseSensitive(e, "type")->valuestring);
        if (!q->text)
            return false;
    }
    return true;
}

static cJSON *coach_question_json(const struct coach_question *q)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "id", q->id);
        cJSON_AddStringToObject(o, "text", q->text);
        cJSON_AddStringToObject(o, "type", q->type);
    }
    return o;
}

static void coach_tts_want(struct coach *co, int qi);

/* After a call whose JSON answer failed validation: the first malformed
 * answer is asked for again, once (a failed call is not: upstream.c has
 * retried it already). True when that second attempt is under way. */
static bool coach_retry_once(struct coach *co, int err, int attempt, bool (*start)(struct coach *),
                             const char *what)
{
    if (err != AI_OK || attempt != 0 || !start(co))
        return false;
    log_event(LOG_WARN, coach_log(co), "coach_retry", "%s malformed, asking again", what);
    co->work.attempt = 1;
    return true;
}

static void coach_questions_done(struct coach *co, const struct ai_result *r)
{
    struct coach_call *cl = &co->work;
    cJSON *root = coach_chat_json(r, (unsigned)co->srv->cfg.json_max_depth);
    bool ok = root && coach_take_questions(co, root);
    cJSON_Delete(root);
    int attempt = cl->attempt;
    coach_call_reset(cl);
    if (!ok) {
        for (int i = 0; i < COACH_QUESTIONS; i++) {
            free(co->q[i].text);
            co->q[i].text = NULL;
        }
        if (coach_retry_once(co, r->err, attempt, coach_questions_start, "questions"))
            return;
        char why[300];
        snprintf(why, sizeof why, "could not generate the questions: %s",
                 r->err == AI_OK ? "the model's answer did not have 8 valid questions" : r->message);
        co->stage = COACH_IDLE;
        coach_error(co, "QUESTIONS_ERROR", why);
        return;
    }
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < COACH_QUESTIONS; i++)
        cJSON_AddItemToArray(arr, coach_question_json(&co->q[i]));
    co->stage = COACH_ASKING;
    co->next = 0;
    sio_emit(co->k, "questions_generated", arr, NULL, 0);
    coach_tts_want(co, 0);
}

/* ---- question audio (TTS) --------------------------------------------------- */

static void coach_tts_start(struct coach *co, int qi)
{
    struct coach_call *cl = &co->tts;
    struct ai_tts req = {.text = co->q[qi].text, .format = "mp3", .max_body = COACH_TTS_MAX, .log_id = coach_log(co)};
    int why;
    cl->co = co;
    cl->job = COACH_JOB_TTS;
    cl->attempt = qi;
    if (!coach_call_started(cl, ai_speech(coach_cfg.ai, &req, NULL, coach_done, cl, &why)))
        coach_error_q(co, "TTS_ERROR", why == AI_E_REQUEST ? "cannot build the speech request" : ai_why(why),
                      co->q[qi].id);
}

static void coach_emit_audio(struct coach *co, int qi, const uint8_t *p, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    cJSON *o = cJSON_CreateObject();
    if (!copy || !o) {
        free(copy);
        cJSON_Delete(o);
        coach_error_q(co, "TTS_ERROR", "out of memory", co->q[qi].id);
        return;
    }
    memcpy(copy, p, n);
    cJSON_AddStringToObject(o, "questionId", co->q[qi].id);
    cJSON_AddItemToObject(o, "audioBlob", sio_placeholder(0));
    sio_emit(co->k, "question_audio", o, copy, n);
}

/* Audio for question qi, now or after the running synthesis. */
static void coach_tts_want(struct coach *co, int qi)
{
    if (co->tts.job != COACH_JOB_NONE) {
        co->tts_want = qi;
        return;
    }
    if (co->audio && co->audio_q == qi) {
        coach_emit_audio(co, qi, co->audio, co->audio_len);
        return;
    }
    coach_tts_start(co, qi);
}

static void coach_tts_done(struct coach *co, struct ai_result *r)
{
    struct coach_call *cl = &co->tts;
    int qi = cl->attempt;
    if (r->err == AI_OK && !r->overflow && r->len > 0) {
        free(co->audio);
        co->audio = r->body; /* keep the latest question's audio for resume_interview */
        co->audio_len = r->len;
        co->audio_q = qi;
        r->body = NULL;
        coach_emit_audio(co, qi, co->audio, co->audio_len);
    } else {
        char why[300];
        snprintf(why, sizeof why, "text-to-speech failed: %s",
                 r->err != AI_OK ? r->message : r->overflow ? "audio too large" : "no audio");
        coach_error_q(co, "TTS_ERROR", why, co->q[qi].id);
    }
    coach_call_reset(cl);
    if (co->tts_want >= 0) {
        int next = co->tts_want;
        co->tts_want = -1;
        coach_tts_want(co, next);
    }
}

/* ---- answers ---------------------------------------------------------------- */

/* The answer's file, with word timestamps: the coach computes its own figures. */
static bool coach_stt_start(struct coach *co, uint8_t *file, size_t len, const struct ai_file *f)
{
    struct coach_call *cl = &co->work;
    struct ai_stt req = {.audio = {{file, len}}, .filename = f->name, .ctype = f->ctype, .words = true,
                         .tag = "interview-coach", .max_body = COACH_STT_RESP_MAX, .log_id = coach_log(co)};
    int why;
    cl->co = co;
    cl->job = COACH_JOB_STT;
    cl->file = file;
    cl->file_len = len;
    return coach_call_started(cl, ai_transcribe(coach_cfg.ai, &req, coach_done, cl, &why));
}

/* The filler words we count (documented in the README): single words, and
 * two-word phrases counted when both words follow each other. */
static const char *coach_fillers1[] = {"um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "hmm",
                                       "like", "basically", "actually", "literally"};
static const char *coach_fillers2[][2] = {{"you", "know"}, {"i", "mean"}, {"kind", "of"}, {"sort", "of"}};

/* Bytes of a normalised word kept; a longer word is never a keyword. */
#define COACH_WORD_CAP 64

/* Lower-case letters/digits/+/# of w[0..n), the rest dropped ("Um," -> "um"),
 * into out[COACH_WORD_CAP]. */
static void coach_norm(const char *w, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < COACH_WORD_CAP; i++) {
        unsigned char c = (unsigned char)w[i];
        if (isalnum(c) || c == '+' || c == '#' || c >= 0x80)
            out[o++] = (char)(c < 0x80 ? tolower(c) : c);
    }
    out[o] = '\0';
}

/* The next whitespace-separated word of *p, normalised into
 * out[COACH_WORD_CAP]; *p moves past it. Returns the word's length before
 * normalising, 0 at the end of the text. */
static size_t coach_next_word(const char **p, char *out)
{
    const char *s = *p;
    while (*s && isspace((unsigned char)*s))
        s++;
    const char *start = s;
    while (*s && !isspace((unsigned char)*s))
        s++;
    *p = s;
    coach_norm(start, (size_t)(s - start), out);
    return (size_t)(s - start);
}

/* One word (normalised) into the counts; prev is the word before it. */
static void coach_count(struct coach_stats *st, const char *nw, char *prev, size_t prevcap)
{
    st->words++;
    for (size_t i = 0; i < sizeof coach_fillers1 / sizeof *coach_fillers1; i++)
        st->fillers += strcmp(nw, coach_fillers1[i]) == 0;
    for (size_t i = 0; i < sizeof coach_fillers2 / sizeof *coach_fillers2; i++)
        st->fillers += strcmp(prev, coach_fillers2[i][0]) == 0 && strcmp(nw, coach_fillers2[i][1]) == 0;
    snprintf(prev, prevcap, "%s", nw);
}

/* Word count and fillers from the text itself (no "words" array: json
 * answers, servers that ignore timestamp_granularities). */
static void coach_count_text(struct coach_stats *st, const char *p)
{
    char prev[COACH_WORD_CAP] = "", nw[COACH_WORD_CAP];
    while (st->words < COACH_WORDS_MAX && coach_next_word(&p, nw) > 0)
        if (nw[0]) /* a long token still counts as one word */
            coach_count(st, nw, prev, sizeof prev);
}

/* The answer's length without word timestamps: the response's "duration",
 * else usage.seconds (whisper-1's json), else the recording's container
 * (WAV header, WebM/Ogg timestamps). Seconds, or -1 (source "none"). */
static double coach_duration(const cJSON *root, const uint8_t *file, size_t len, const char **source)
{
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(root, "duration");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    const cJSON *utype = cJSON_GetObjectItemCaseSensitive(usage, "type");
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(usage, "seconds");
    uint64_t ms;
    enum media_dur_source src;
    if (cJSON_IsNumber(dur) && dur->valuedouble > 0) {
        *source = "response";
        return dur->valuedouble;
    }
    if (cJSON_IsString(utype) && strcmp(utype->valuestring, "duration") == 0 && cJSON_IsNumber(secs) &&
        secs->valuedouble > 0 && secs->valuedouble <= 86400) {
        *source = "usage";
        return secs->valuedouble;
    }
    if (media_dur(file, len, &ms, &src) == MEDIA_DUR_OK && ms > 0) {
        *source = "audio";
        return (double)ms / 1000.0;
    }
    *source = "none";
    return -1;
}

/* Validates {text, duration?, words?:[{word,start,end}]} (verbose_json, or
 * json without words) and computes our figures: from the words when there
 * are any, else from the text and a duration found elsewhere. False when
 * malformed. */
static bool coach_take_transcript(struct coach *co, const cJSON *root, const uint8_t *file, size_t len)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(root, "duration");
    const cJSON *words = cJSON_GetObjectItemCaseSensitive(root, "words");
    if (!cJSON_IsString(text) || (dur && !cJSON_IsNumber(dur)) || (words && !cJSON_IsArray(words)) ||
        cJSON_GetArraySize(words) > COACH_WORDS_MAX)
        return false;
    if (!words || !words->child) {
        struct coach_stats st = {0};
        coach_count_text(&st, text->valuestring);
        double d = coach_duration(root, file, len, &st.source);
        st.span = d > 0 ? d : 0;
        st.wpm = d > 0 ? st.words * 60.0 / d : 0;
        co->st = st;
        co->duration = st.span;
        free(co->transcript);
        co->transcript = strdup(text->valuestring);
        return co->transcript != NULL;
    }
    struct coach_stats st = {.source = "words"};
    double first = -1, last = 0, prev_start = 0;
    char prev[COACH_WORD_CAP] = "";
    for (const cJSON *w = words ? words->child : NULL; w; w = w->next) {
        const cJSON *ww = cJSON_GetObjectItemCaseSensitive(w, "word");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(w, "start");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(w, "end");
        if (!cJSON_IsString(ww) || !cJSON_IsNumber(s) || !cJSON_IsNumber(e) || !(s->valuedouble >= 0) ||
            !(e->valuedouble >= s->valuedouble) || s->valuedouble < prev_start || e->valuedouble > 86400)
            return false;
        prev_start = s->valuedouble;
        if (first < 0)
            first = s->valuedouble;
        last = e->valuedouble;
        char nw[COACH_WORD_CAP];
        coach_norm(ww->valuestring, strlen(ww->valuestring), nw);
        if (nw[0])
            coach_count(&st, nw, prev, sizeof prev);
    }
    st.span = first >= 0 ? last - first : 0;
    st.wpm = st.span > 0 ? st.words * 60.0 / st.span : 0;
    co->st = st;
    co->duration = dur ? dur->valuedouble : last;
    free(co->transcript);
    co->transcript = strdup(text->valuestring);
    return co->transcript != NULL;
}

/* Words of 4+ characters that carry meaning, not these. */
static const char *coach_stop[] = {
    "about", "above", "after", "again", "also", "been", "being", "below", "between", "both", "but", "can",
    "could", "does", "doing", "down", "during", "each", "from", "further", "have", "having", "here", "into",
    "just", "more", "most", "much", "must", "only", "other", "ought", "over", "same", "should", "some", "such",
    "than", "that", "their", "theirs", "them", "then", "there", "these", "they", "this", "those", "through",
    "under", "until", "very", "were", "what", "when", "where", "which", "while", "will", "with", "within",
    "would", "your", "yours", "able", "including", "like", "well", "year", "years", "want", "looking",
    "join", "role", "ideal", "candidate", "company", "position", "we're", "you'll", "strong", "plus"};

static bool coach_is_stop(const char *w)
{
    for (size_t i = 0; i < sizeof coach_stop / sizeof *coach_stop; i++)
        if (strcmp(w, coach_stop[i]) == 0)
            return true;
    return false;
}

/* Does text contain word as a whole token (same normalisation)? */
static bool coach_has_token(const char *text, const char *word)
{
    char tok[COACH_WORD_CAP];
    size_t len;
    while ((len = coach_next_word(&text, tok)) > 0)
        if (len < COACH_WORD_CAP && strcmp(tok, word) == 0)
            return true;
    return false;
}

/* keywordsFound: the transcript's words (normalised) of 4+ characters, not
 * stop words, that also occur as words of the posting; distinct, in the
 * order spoken, at most COACH_KEYWORDS_MAX. */
static cJSON *coach_keywords(const struct coach *co)
{
    cJSON *arr = cJSON_CreateArray();
    const char *p = co->transcript;
    char w[COACH_WORD_CAP];
    size_t len;
    while (arr && cJSON_GetArraySize(arr) < COACH_KEYWORDS_MAX && (len = coach_next_word(&p, w)) > 0) {
        if (len >= COACH_WORD_CAP || strlen(w) < 4 || coach_is_stop(w) || !coach_has_token(co->posting, w))
            continue;
        bool dup = false;
        for (const cJSON *e = arr->child; e && !dup; e = e->next)
            dup = strcmp(e->valuestring, w) == 0;
        if (!dup)
            cJSON_AddItemToArray(arr, cJSON_CreateString(w));
    }
    return arr;
}

static const char coach_a_system[] =
    "You are an expert interview coach scoring one spoken answer with the STAR method (situation, task, "
    "action, result). Answer with a JSON object and nothing else: {\"score\":<integer 0-100>,"
    "\"star\":{\"situation\":<bool>,\"task\":<bool>,\"action\":<bool>,\"result\":<bool>},"
    "\"feedback\":\"<two or three sentences of specific advice>\"}.";

static bool coach_analysis_start(struct coach *co)
{
    const struct coach_question *q = &co->q[co->answering];
    size_t n = strlen(q->text) + strlen(co->transcript) + 256;
    char *user = malloc(n);
    if (!user)
        return false;
    if (co->st.wpm > 0)
        snprintf(user, n, "Question (%s): %s\n\nAnswer transcript: %s\n\nFiller words: %d. Pace: %.0f words per minute.",
                 q->type, q->text, co->transcript, co->st.fillers, co->st.wpm);
    else
        snprintf(user, n, "Question (%s): %s\n\nAnswer transcript: %s\n\nFiller words: %d. Pace: unknown.",
                 q->type, q->text, co->transcript, co->st.fillers);
    bool ok = coach_chat(co, COACH_JOB_ANALYSIS, coach_a_system, user, COACH_TOKENS_ANALYSIS);
    free(user);
    return ok;
}

static cJSON *coach_take_analysis(const struct coach *co, const cJSON *root)
{
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(root, "score");
    const cJSON *star = cJSON_GetObjectItemCaseSensitive(root, "star");
    const cJSON *fb = cJSON_GetObjectItemCaseSensitive(root, "feedback");
    static const char *parts[] = {"situation", "task", "action", "result"};
    if (!cJSON_IsNumber(score) || !(score->valuedouble >= 0 && score->valuedouble <= 100) || !cJSON_IsObject(star) ||
        cJSON_GetArraySize(star) != 4 || !coach_text_ok(fb, 2 * COACH_TEXT_MAX))
        return NULL;
    for (int i = 0; i < 4; i++)
        if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(star, parts[i])))
            return NULL;
    const struct coach_question *q = &co->q[co->answering];
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "questionId", q->id);
    cJSON_AddNumberToObject(o, "score", floor(score->valuedouble + 0.5));
    cJSON_AddItemToObject(o, "star", cJSON_Duplicate(star, 1));
    cJSON_AddItemToObject(o, "keywordsFound", coach_keywords(co));
    cJSON_AddNumberToObject(o, "fillerWords", co->st.fillers);
    cJSON_AddNumberToObject(o, "timeSpent", floor(co->st.span + 0.5));
    cJSON_AddNumberToObject(o, "wordsPerMinute", floor(co->st.wpm + 0.5));
    cJSON_AddNumberToObject(o, "wordCount", co->st.words);
    cJSON_AddStringToObject(o, "durationSource", co->st.source ? co->st.source : "none");
    cJSON_AddStringToObject(o, "transcript", co->transcript);
    cJSON_AddStringToObject(o, "feedback", fb->valuestring);
    return o;
}

static void coach_answer_failed(struct coach *co, const char *code, const char *why)
{
    const char *qid = co->q[co->answering].id;
    co->answering = -1;
    metrics_inc(M_COACH_ANSWERS, MO_FAILED, 0);
    coach_error_q(co, code, why, qid);
}

static void coach_stt_done(struct coach *co, const struct ai_result *r)
{
    struct coach_call *cl = &co->work;
    size_t off;
    cJSON *root = NULL;
    if (r->err == AI_OK && !r->overflow &&
        jsonv_validate(r->body, r->len, (unsigned)co->srv->cfg.json_max_depth, &off) == JSONV_OK)
        root = cJSON_ParseWithLength((const char *)r->body, r->len);
    bool ok = root && coach_take_transcript(co, root, cl->file, cl->file_len);
    cJSON_Delete(root);
    coach_call_reset(cl);
    char why[300];
    if (!ok) {
        snprintf(why, sizeof why, "transcription failed: %s", r->err == AI_OK ? "malformed response" : r->message);
        coach_answer_failed(co, "TRANSCRIPTION_ERROR", why);
    } else if (co->st.words == 0) {
        coach_answer_failed(co, "EMPTY_TRANSCRIPT", "no speech was heard in the answer: record it again");
    } else if (co->duration > (double)coach_cfg.max_answer_seconds) {
        snprintf(why, sizeof why, "the answer lasts %.0f s, over the %llu s limit", co->duration,
                 (unsigned long long)coach_cfg.max_answer_seconds);
        coach_answer_failed(co, "ANSWER_TOO_LONG", why);
    } else if (!coach_analysis_start(co)) {
        coach_answer_failed(co, "ANALYSIS_ERROR", "too many upstream requests in flight");
    }
}

static void coach_analysis_done(struct coach *co, const struct ai_result *r)
{
    struct coach_call *cl = &co->work;
    cJSON *root = coach_chat_json(r, (unsigned)co->srv->cfg.json_max_depth);
    cJSON *a = root ? coach_take_analysis(co, root) : NULL;
    cJSON_Delete(root);
    int attempt = cl->attempt;
    coach_call_reset(cl);
    if (!a) {
        if (coach_retry_once(co, r->err, attempt, coach_analysis_start, "analysis"))
            return;
        char why[300];
        snprintf(why, sizeof why, "answer analysis failed: %s",
                 r->err == AI_OK ? "the model's answer did not match the analysis schema" : r->message);
        coach_answer_failed(co, "ANALYSIS_ERROR", why);
        return;
    }
    struct coach_question *q = &co->q[co->answering];
    q->analysis = cJSON_Duplicate(a, 1);
    co->answering = -1;
    co->next++;
    metrics_inc(M_COACH_ANSWERS, MO_OK, 0);
    sio_emit(co->k, "answer_analyzed", a, NULL, 0);
    if (co->next < COACH_QUESTIONS)
        coach_tts_want(co, co->next);
}

/* ---- report ------------------------------------------------------------------ */

static const char coach_r_system[] =
    "You are an expert interview coach writing the final report of a mock interview. Answer with a JSON "
    "object and nothing else: {\"strengths\":[\"...\"],\"improvements\":[\"...\"],\"microDrills\":[\"...\"],"
    "\"followUpQuestion\":\"...\"}; each list has 1 to 5 short items; microDrills are 5-minute exercises.";

static bool coach_report_start(struct coach *co)
{
    size_t cap = 1024;
    for (int i = 0; i < COACH_QUESTIONS; i++)
        cap += strlen(co->q[i].text) + 3 * COACH_TEXT_MAX + 256 +
               (co->q[i].analysis ? strlen(cJSON_GetObjectItemCaseSensitive(co->q[i].analysis, "transcript")->valuestring) : 0);
    char *user = malloc(cap);
    if (!user)
        return false;
    /* The first 2000 bytes, not cutting a character: the request must be valid UTF-8. */
    int head = (int)strnlen(co->posting, 2000);
    while (head > 0 && co->posting[head] && ((unsigned char)co->posting[head] & 0xC0) == 0x80)
        head--;
    size_t o = (size_t)snprintf(user, cap, "Job posting (first part):\n%.*s\n\nAnswers:\n", head, co->posting);
    for (int i = 0; i < COACH_QUESTIONS && o < cap; i++) {
        const cJSON *a = co->q[i].analysis;
        if (!a) {
            o += (size_t)snprintf(user + o, cap - o, "%s (%s) %s\n  not answered\n", co->q[i].id, co->q[i].type,
                                  co->q[i].text);
            continue;
        }
        o += (size_t)snprintf(user + o, cap - o, "%s (%s) %s\n  score %d, filler words %d, transcript: %s\n  feedback: %s\n",
                              co->q[i].id, co->q[i].type, co->q[i].text,
                              (int)cJSON_GetObjectItemCaseSensitive(a, "score")->valuedouble,
                              (int)cJSON_GetObjectItemCaseSensitive(a, "fillerWords")->valuedouble,
                              cJSON_GetObjectItemCaseSensitive(a, "transcript")->valuestring,
                              cJSON_GetObjectItemCaseSensitive(a, "feedback")->valuestring);
    }
    bool ok = coach_chat(co, COACH_JOB_REPORT, coach_r_system, user, COACH_TOKENS_REPORT);
    free(user);
    return ok;
}

static cJSON *coach_take_report(const struct coach *co, const cJSON *root)
{
    static const char *lists[] = {"strengths", "improvements", "microDrills"};
    for (int i = 0; i < 3; i++)
        if (!coach_list_ok(cJSON_GetObjectItemCaseSensitive(root, lists[i])))
            return NULL;
    const cJSON *fu = cJSON_GetObjectItemCaseSensitive(root, "followUpQuestion");
    if (!coach_text_ok(fu, COACH_TEXT_MAX))
        return NULL;
    cJSON *o = cJSON_CreateObject(), *qs = cJSON_CreateArray();
    if (!o || !qs) {
        cJSON_Delete(o);
        cJSON_Delete(qs);
        return NULL;
    }
    double sum = 0;
    int n = 0;
    for (int i = 0; i < COACH_QUESTIONS; i++) {
        cJSON *e = coach_question_json(&co->q[i]);
        const cJSON *a = co->q[i].analysis;
        if (e) {
            cJSON_AddBoolToObject(e, "answered", a != NULL);
            if (a)
                cJSON_AddItemToObject(e, "analysis", cJSON_Duplicate(a, 1));
            cJSON_AddItemToArray(qs, e);
        }
        if (a) {
            sum += cJSON_GetObjectItemCaseSensitive(a, "score")->valuedouble;
            n++;
        }
    }
    cJSON_AddNumberToObject(o, "overallScore", n ? floor(sum / n + 0.5) : 0);
    cJSON_AddItemToObject(o, "questions", qs);
    for (int i = 0; i < 3; i++)
        cJSON_AddItemToObject(o, lists[i], cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(root, lists[i]), 1));
    cJSON_AddStringToObject(o, "followUpQuestion", fu->valuestring);
    return o;
}

static void coach_report_done(struct coach *co, const struct ai_result *res)
{
    struct coach_call *cl = &co->work;
    cJSON *root = coach_chat_json(res, (unsigned)co->srv->cfg.json_max_depth);
    cJSON *r = root ? coach_take_report(co, root) : NULL;
    cJSON_Delete(root);
    int attempt = cl->attempt;
    coach_call_reset(cl);
    if (!r) {
        if (coach_retry_once(co, res->err, attempt, coach_report_start, "report"))
            return;
        char why[300];
        snprintf(why, sizeof why, "the report failed: %s",
                 res->err == AI_OK ? "the model's answer did not match the report schema" : res->message);
        co->stage = COACH_ASKING;
        coach_error(co, "REPORT_ERROR", why);
        return;
    }
    co->stage = COACH_DONE;
    sio_emit(co->k, "interview_complete", r, NULL, 0);
}

static void coach_done(void *ctx, struct ai_result *r)
{
    struct coach_call *cl = ctx;
    struct coach *co = cl->co;
    cl->req = NULL; /* finished: nothing to cancel */
    switch (cl->job) {
    case COACH_JOB_QUESTIONS: coach_questions_done(co, r); break;
    case COACH_JOB_STT: coach_stt_done(co, r); break;
    case COACH_JOB_ANALYSIS: coach_analysis_done(co, r); break;
    case COACH_JOB_REPORT: coach_report_done(co, r); break;
    case COACH_JOB_TTS: coach_tts_done(co, r); break;
    case COACH_JOB_NONE: break;
    }
}

/* ---- client events ---------------------------------------------------------------- */

static char *coach_copy_text(const cJSON *s, size_t max, bool *too_long)
{
    size_t n = strlen(s->valuestring);
    *too_long = n > max;
    return *too_long ? NULL : strdup(s->valuestring);
}

/* The posting as fetched: cut to COACH_MAX_POSTING at a character boundary. */
static void coach_fetched(void *ctx, const char *code, const char *message, const char *text, size_t len)
{
    struct coach *co = ctx;
    co->fetch = NULL;
    if (code) {
        co->stage = COACH_IDLE;
        coach_error(co, code, message);
        return;
    }
    size_t cap = coach_cfg.max_posting;
    if (len > cap) {
        len = cap;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    free(co->posting);
    co->posting = malloc(len + 1);
    if (co->posting) {
        memcpy(co->posting, text, len);
        co->posting[len] = '\0';
    }
    log_event(LOG_INFO, coach_log(co), "coach_posting_fetched", "bytes=%zu", len);
    if (!co->posting || !coach_questions_start(co)) {
        co->stage = COACH_IDLE;
        coach_error(co, "QUESTIONS_ERROR", "too many upstream requests in flight");
        return;
    }
    co->work.attempt = 0;
}

/* Fetching runs through jobfetch's allowlist and address checks; any refusal
 * is its code and sentence, passed on as an error event. */
static void coach_fetch(struct coach *co, const char *url)
{
    const char *code, *message;
    co->fetch = ai_fetch_posting(coach_cfg.ai, url, coach_fetched, co, &code, &message);
    if (!co->fetch) {
        coach_error(co, code, message);
        return;
    }
    co->stage = COACH_PREPARING;
}

static void coach_on_start(struct coach *co, const cJSON *d)
{
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(d, "jobDescriptionUrl");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(d, "jobDescription");
    const cJSON *resume = cJSON_GetObjectItemCaseSensitive(d, "resume");
    const struct coach_config *cfg = &coach_cfg;
    bool too_long = false;
    if (co->stage != COACH_IDLE) {
        coach_error(co, "ALREADY_STARTED", "an interview is already running on this session");
        return;
    }
    if (!cJSON_IsObject(d) || (resume && !cJSON_IsString(resume)) || (url && !cJSON_IsString(url)) ||
        (text && !cJSON_IsString(text)) || (!url && !text)) {
        coach_error(co, "INVALID_PAYLOAD",
                    "start_interview needs {jobDescriptionUrl or jobDescription: string, resume: string}");
        return;
    }
    if (!ai_have_key(coach_cfg.ai)) {
        coach_error(co, "CONFIG_ERROR", "OPENAI_API_KEY is not set on the server");
        return;
    }
    free(co->resume);
    co->resume = resume ? coach_copy_text(resume, cfg->max_resume, &too_long) : strdup("");
    if (too_long) {
        coach_error(co, "RESUME_TOO_LARGE", "the resume is longer than COACH_MAX_RESUME");
        return;
    }
    if (text && text->valuestring[0]) {
        free(co->posting);
        co->posting = coach_copy_text(text, cfg->max_posting, &too_long);
        if (too_long) {
            coach_error(co, "POSTING_TOO_LARGE", "the job posting is longer than COACH_MAX_POSTING");
            return;
        }
    } else if (url) {
        metrics_inc(M_COACH_INTERVIEWS, 0, 0);
        coach_fetch(co, url->valuestring);
        return;
    } else {
        coach_error(co, "INVALID_PAYLOAD", "the job description is empty");
        return;
    }
    if (!co->posting || !co->resume || !coach_questions_start(co)) {
        coach_error(co, "QUESTIONS_ERROR", "too many upstream requests in flight");
        return;
    }
    co->work.attempt = 0;
    co->stage = COACH_PREPARING;
    metrics_inc(M_COACH_INTERVIEWS, 0, 0);
}

static int coach_find_question(const struct coach *co, const cJSON *id)
{
    if (!cJSON_IsString(id))
        return -1;
    for (int i = 0; i < COACH_QUESTIONS; i++)
        if (co->q[i].text && strcmp(co->q[i].id, id->valuestring) == 0)
            return i;
    return -1;
}

static void coach_on_answer(struct coach *co, const cJSON *d, uint8_t **att, const size_t *att_len, uint32_t natt)
{
    const cJSON *qid = cJSON_GetObjectItemCaseSensitive(d, "questionId");
    const cJSON *blob = cJSON_GetObjectItemCaseSensitive(d, "audioBlob");
    int ai = sio_attachment_index(blob, natt);
    int qi = coach_find_question(co, qid);
    const char *qs = cJSON_IsString(qid) ? qid->valuestring : NULL;
    struct ai_file f;
    char why[160];
    if (!cJSON_IsObject(d) || !cJSON_IsString(qid) || ai < 0 || natt != 1) {
        coach_error(co, "INVALID_PAYLOAD", "submit_answer needs {questionId: string, audioBlob: binary}");
    } else if (co->stage != COACH_ASKING) {
        coach_error_q(co, "NOT_STARTED", co->stage == COACH_DONE ? "the interview is complete"
                                                                 : "no questions yet: send start_interview first", qs);
    } else if (qi < 0) {
        coach_error_q(co, "UNKNOWN_QUESTION", "no such question in this interview", qs);
    } else if (co->q[qi].analysis) {
        coach_error_q(co, "ALREADY_ANSWERED", "this question was already answered", qs);
    } else if (co->answering >= 0 || co->work.job != COACH_JOB_NONE) {
        coach_error_q(co, "ANSWER_IN_PROGRESS", "the previous answer is still being analysed", qs);
    } else if (qi != co->next) {
        snprintf(why, sizeof why, "answers go in order: the next question is %s", co->q[co->next].id);
        coach_error_q(co, "OUT_OF_ORDER", why, qs);
    } else if (att_len[ai] > coach_cfg.max_audio_bytes) {
        coach_error_q(co, "ANSWER_TOO_LARGE", "the recording is larger than COACH_MAX_AUDIO_BYTES", qs);
    } else if (!ai_audio_file(att[ai], att_len[ai], "answer", &f)) {
        coach_error_q(co, "INVALID_AUDIO", "unrecognised audio: send WebM/Opus, Ogg, WAV or MP3", qs);
    } else {
        uint8_t *file = att[ai];
        att[ai] = NULL;
        co->answering = qi;
        co->work.attempt = 0;
        if (!coach_stt_start(co, file, att_len[ai], &f))
            coach_answer_failed(co, "TRANSCRIPTION_ERROR", "too many upstream requests in flight");
    }
}

static void coach_on_complete(struct coach *co)
{
    int answered = 0;
    for (int i = 0; i < COACH_QUESTIONS; i++)
        answered += co->q[i].analysis != NULL;
    if (co->stage == COACH_DONE)
        coach_error(co, "ALREADY_COMPLETE", "the interview is already complete");
    else if (co->stage != COACH_ASKING || answered == 0)
        coach_error(co, "NO_ANSWERS", "answer at least one question before complete_interview");
    else if (co->work.job != COACH_JOB_NONE)
        coach_error(co, "ANSWER_IN_PROGRESS", "an answer is still being analysed");
    else if (!coach_report_start(co))
        coach_error(co, "REPORT_ERROR", "too many upstream requests in flight");
    else {
        co->work.attempt = 0;
        co->stage = COACH_REPORTING;
    }
}

/* currentQuestion: 1..8 (question number) or "q1".."q8". */
static void coach_on_resume(struct coach *co, const cJSON *d)
{
    const cJSON *cq = cJSON_GetObjectItemCaseSensitive(d, "currentQuestion");
    int qi = -1;
    if (cJSON_IsNumber(cq) && cq->valuedouble >= 1 && cq->valuedouble <= COACH_QUESTIONS &&
        cq->valuedouble == (int)cq->valuedouble)
        qi = (int)cq->valuedouble - 1;
    else if (cJSON_IsString(cq))
        qi = coach_find_question(co, cq);
    if (co->stage == COACH_PREPARING) {
        coach_error(co, "NOT_STARTED", "the questions are still being prepared: they will follow");
        return;
    }
    if (co->stage == COACH_IDLE || !co->q[0].text) {
        coach_error(co, "SESSION_NOT_FOUND", "no interview on this session (it expired or was not recovered): "
                                             "send start_interview again");
        return;
    }
    if (qi < 0) {
        coach_error(co, "INVALID_PAYLOAD", "resume_interview needs {currentQuestion: 1..8 or \"q1\"..\"q8\"}");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddNumberToObject(o, "currentQuestion", qi + 1);
        cJSON_AddItemToObject(o, "question", coach_question_json(&co->q[qi]));
        cJSON_AddStringToObject(o, "nextQuestionId", co->next < COACH_QUESTIONS ? co->q[co->next].id : "");
        cJSON_AddBoolToObject(o, "complete", co->stage == COACH_DONE);
        sio_emit(co->k, "interview_resumed", o, NULL, 0);
    }
    coach_tts_want(co, qi);
}

static void coach_on_event(struct coach *co, const char *name, const cJSON *args, uint8_t **att, const size_t *att_len,
                    uint32_t natt)
{
    const cJSON *d = cJSON_GetArrayItem(args, 1);
    if (natt && strcmp(name, "submit_answer") != 0) {
        coach_error(co, "INVALID_PAYLOAD", "only submit_answer carries binary data");
        return;
    }
    if (strcmp(name, "start_interview") == 0)
        coach_on_start(co, d);
    else if (strcmp(name, "submit_answer") == 0)
        coach_on_answer(co, d, att, att_len, natt);
    else if (strcmp(name, "complete_interview") == 0)
        coach_on_complete(co);
    else if (strcmp(name, "resume_interview") == 0)
        coach_on_resume(co, d);
}

void coach_setup(const struct coach_config *cfg) { coach_cfg = *cfg; }

static struct coach *coach_new(struct server *s, struct sio_sock *k)
{
    struct coach *co = calloc(1, sizeof *co);
    if (!co)
        return NULL;
    co->srv = s;
    co->k = k;
    co->answering = -1;
    co->tts_want = -1;
    co->audio_q = -1;
    return co;
}

static void coach_free(struct coach *co)
{
    ai_fetch_cancel(co->fetch);
    coach_call_reset(&co->work);
    coach_call_reset(&co->tts);
    for (int i = 0; i < COACH_QUESTIONS; i++) {
        free(co->q[i].text);
        cJSON_Delete(co->q[i].analysis);
    }
    free(co->posting);
    free(co->resume);
    free(co->audio);
    free(co->transcript);
    cJSON_Delete(co->keywords);
    free(co);
}


/* ---- state for recovery on another instance ------------------------------------ */

/* What a coach carries to another instance: the stage, the texts, the
 * questions and their analyses. Work in flight stays behind (it may still
 * finish on the old instance and be saved again, sio.c): a coach caught
 * preparing is saved idle, one writing its report as asking, and an answer
 * being analysed as not answered, so the client can send it again. */
static cJSON *coach_save(const struct coach *co)
{
    static const enum coach_stage carried[] = {[COACH_IDLE] = COACH_IDLE, [COACH_PREPARING] = COACH_IDLE,
                                               [COACH_ASKING] = COACH_ASKING, [COACH_REPORTING] = COACH_ASKING,
                                               [COACH_DONE] = COACH_DONE};
    cJSON *o = cJSON_CreateObject(), *qs = cJSON_CreateArray();
    if (!o || !qs) {
        cJSON_Delete(o);
        cJSON_Delete(qs);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "stage", carried[co->stage]);
    cJSON_AddNumberToObject(o, "next", co->next);
    cJSON_AddStringToObject(o, "posting", co->posting ? co->posting : "");
    cJSON_AddStringToObject(o, "resume", co->resume ? co->resume : "");
    for (int i = 0; i < COACH_QUESTIONS && co->q[i].text; i++) {
        cJSON *q = coach_question_json(&co->q[i]);
        if (q && co->q[i].analysis)
            cJSON_AddItemToObject(q, "analysis", cJSON_Duplicate(co->q[i].analysis, 1));
        cJSON_AddItemToArray(qs, q);
    }
    cJSON_AddItemToObject(o, "q", qs);
    return o;
}

/* A saved question; false when it is not one this coach would have made. */
static bool coach_restore_q(struct coach_question *q, const cJSON *j)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id"), *text = cJSON_GetObjectItemCaseSensitive(j, "text");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type"), *a = cJSON_GetObjectItemCaseSensitive(j, "analysis");
    static const char *fields[] = {"score", "fillerWords"}, *texts[] = {"transcript", "feedback"};
    if (!cJSON_IsString(id) || strlen(id->valuestring) >= sizeof q->id || !coach_text_ok(text, COACH_TEXT_MAX) ||
        !cJSON_IsString(type) || strlen(type->valuestring) >= sizeof q->type || (a && !cJSON_IsObject(a)))
        return false;
    for (int i = 0; a && i < 2; i++) /* what the report reads from an analysis */
        if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(a, fields[i])) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(a, texts[i])))
            return false;
    snprintf(q->id, sizeof q->id, "%s", id->valuestring);
    snprintf(q->type, sizeof q->type, "%s", type->valuestring);
    q->text = strdup(text->valuestring);
    q->analysis = a ? cJSON_Duplicate(a, 1) : NULL;
    return q->text && (!a || q->analysis);
}

static bool coach_restore(struct coach *co, const cJSON *st)
{
    const cJSON *stage = cJSON_GetObjectItemCaseSensitive(st, "stage"), *next = cJSON_GetObjectItemCaseSensitive(st, "next");
    const cJSON *posting = cJSON_GetObjectItemCaseSensitive(st, "posting");
    const cJSON *resume = cJSON_GetObjectItemCaseSensitive(st, "resume"), *qs = cJSON_GetObjectItemCaseSensitive(st, "q");
    int nq = cJSON_GetArraySize(qs);
    if (!cJSON_IsNumber(stage) || (stage->valueint != COACH_IDLE && stage->valueint != COACH_ASKING &&
                                   stage->valueint != COACH_DONE) ||
        !cJSON_IsNumber(next) || next->valueint < 0 || next->valueint > COACH_QUESTIONS ||
        !cJSON_IsString(posting) || strlen(posting->valuestring) > coach_cfg.max_posting || !cJSON_IsString(resume) ||
        strlen(resume->valuestring) > coach_cfg.max_resume || !cJSON_IsArray(qs) ||
        (stage->valueint != COACH_IDLE && nq != COACH_QUESTIONS))
        return false;
    for (int i = 0; i < nq && i < COACH_QUESTIONS; i++)
        if (!coach_restore_q(&co->q[i], cJSON_GetArrayItem(qs, i)))
            return false; /* the caller frees the coach with what was taken */
    co->posting = strdup(posting->valuestring);
    co->resume = strdup(resume->valuestring);
    co->stage = (enum coach_stage)stage->valueint;
    co->next = next->valueint;
    return co->posting && co->resume;
}

static void *coach_app_create(struct server *s, struct sio_sock *k) { return coach_new(s, k); }
static cJSON *coach_app_save(void *co) { return coach_save(co); }
static bool coach_app_restore(void *co, const cJSON *st) { return coach_restore(co, st); }
static void coach_app_destroy(void *co) { coach_free(co); }
static void coach_app_event(void *co, const char *name, const cJSON *args, uint8_t **att, const size_t *att_len,
                            uint32_t natt)
{
    coach_on_event(co, name, args, att, att_len, natt);
}

const struct sio_app coach_app = {
    .create = coach_app_create, .destroy = coach_app_destroy, .event_known = coach_event_known,
    .event_starts_ai = coach_event_starts_ai, .on_event = coach_app_event,
    .save = coach_app_save, .restore = coach_app_restore,
};

#undef COACH_STT_RESP_MAX
#undef COACH_TTS_MAX
#undef COACH_TEXT_MAX
#undef COACH_LIST_MAX
#undef COACH_WORDS_MAX
#undef COACH_KEYWORDS_MAX
#undef COACH_TOKENS_QUESTIONS
#undef COACH_TOKENS_ANALYSIS
#undef COACH_TOKENS_REPORT
