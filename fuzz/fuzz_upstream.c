// deps:
// libs: mbedtls cjson
/* The upstream response path as one chain, fed arbitrary bytes the way a
 * hostile or broken API would send them: the unity build is included so the
 * real static pieces are reachable.
 *
 *   bytes --(input-chosen read sizes, like up_conn_read into rbuf)-->
 *   httpr_feed (status line, headers, Content-Length / chunked / close) -->
 *     non-2xx: error body capped at UP_ERRBODY_MAX --> oai_error_message
 *     2xx chat:   sse_feed --> oai_chat_chunk --> reply (UTF-8-safe cap, as
 *                 turn_chat_body) --> sentence_next (TURN_SENTENCE_MIN/MAX)
 *     2xx STT:    body capped like turn.c --> oai_transcript
 *     2xx speech: audio assembly buffer --> turn.c's own turn_mp3_ready /
 *                 turn_consume_audio (frame cutting, junk skipping, the
 *                 two-frame hold-back), or audio_wav_parse for WAV
 *   after DONE the parser is reset and the next response is parsed from the
 *   same bytes (a pooled keep-alive connection); at the end httpr_eof().
 *
 * Byte 0: bits 0..1 the endpoint (chat, STT, mp3 speech, wav speech), bits
 * 2..7 the read size (1 + 37 * k bytes). The rest is the wire. Invariants
 * checked: parser results stay in bounds; every extracted text is valid
 * UTF-8 and NUL-terminated; sentences tile the reply; audio pieces are whole
 * frames within the assembly buffer. */
#define main interview_main
#include "../interview.c"
#undef main

const unsigned char ca_bundle_pem[] = "";
const size_t ca_bundle_pem_len = 1;
const char ca_bundle_source[] = "none (fuzz)";
const unsigned char page_interview_html[] = "";
const size_t page_interview_html_len = 0;
const unsigned char page_stream_test_html[] = "";
const size_t page_stream_test_html_len = 0;

/* turn.c's values (it #undefs its macros at the end of the unit) */
#define TURN_SENTENCE_MIN 20
#define TURN_SENTENCE_MAX 400
#define FZ_STT_MAX (64 * 1024)
#define FZ_ABUF (16 * 1024)

struct fz {
    int mode;
    struct sse_parser sse;
    char sse_buf[16 * 1024];
    char reply[4096];
    size_t reply_len, spoken;
    bool chat_done;
    char *stt;
    size_t stt_len;
    char errbody[UP_ERRBODY_MAX];
    size_t errlen;
    struct turn_config cfg;
    struct turn s; /* only the audio assembly fields are used */
    uint8_t abuf[FZ_ABUF];
    bool wav_done;
};

static void fz_check_text(const char *t, size_t n)
{
    if (t[n] != '\0' || !utf8_valid((const uint8_t *)t, n))
        __builtin_trap();
}

static void fz_sentences(struct fz *f, bool final)
{
    while (f->spoken < f->reply_len) {
        size_t n = sentence_next(f->reply + f->spoken, f->reply_len - f->spoken, final, TURN_SENTENCE_MIN,
                                 TURN_SENTENCE_MAX);
        if (n == 0)
            break;
        if (n > f->reply_len - f->spoken || n > TURN_SENTENCE_MAX)
            __builtin_trap();
        f->spoken += n;
    }
}

static void fz_chat(struct fz *f, const uint8_t *p, size_t n)
{
    size_t used = 0;
    while (used < n && !f->chat_done) {
        struct sse_event ev;
        ssize_t r = sse_feed(&f->sse, p + used, n - used, &ev);
        if (r < 0) {
            f->chat_done = true;
            return;
        }
        used += (size_t)r;
        if (!ev.ready)
            continue;
        char delta[2048], err[256];
        size_t dlen = 0;
        int kind = oai_chat_chunk(ev.data, ev.len, delta, sizeof delta, &dlen, err, sizeof err);
        if (kind == OAI_CHUNK_DONE || kind == OAI_CHUNK_ERROR) {
            if (kind == OAI_CHUNK_ERROR)
                fz_check_text(err, strlen(err));
            f->chat_done = true;
        } else if (kind == OAI_CHUNK_DELTA && dlen) {
            fz_check_text(delta, dlen);
            size_t room = sizeof f->reply - 1 - f->reply_len;
            if (dlen > room)
                for (dlen = room; dlen > 0 && ((unsigned char)delta[dlen] & 0xC0) == 0x80; dlen--)
                    ;
            memcpy(f->reply + f->reply_len, delta, dlen);
            f->reply_len += dlen;
            f->reply[f->reply_len] = '\0';
            if (!utf8_valid((const uint8_t *)f->reply, f->reply_len))
                __builtin_trap();
        }
        fz_sentences(f, false);
    }
}

static void fz_audio(struct fz *f, const uint8_t *p, size_t n, bool final)
{
    struct turn *s = &f->s;
    while (n || final) {
        size_t k = n < s->acap - s->alen ? n : s->acap - s->alen;
        if (k) {
            memcpy(s->abuf + s->alen, p, k);
            s->alen += k;
            p += k;
            n -= k;
        }
        if (f->mode == 3) {
            if (!f->wav_done) {
                struct audio_wav w;
                if (audio_wav_parse(s->abuf, s->alen, &w) != 0)
                    f->wav_done = true;
            }
            s->alen = 0; /* the samples themselves are relayed as they are */
        } else {
            uint8_t gain;
            size_t ready;
            while ((ready = turn_mp3_ready(s, final && n == 0, &gain)) > 0) {
                if (ready > s->alen || ready > s->cfg->max_piece_bytes)
                    __builtin_trap();
                double a = mp3_gain_amplitude(gain);
                if (!(a >= 0 && a <= 1))
                    __builtin_trap();
                turn_consume_audio(s, ready);
            }
            if (s->alen == s->acap) /* no frame fits: what turn.c drops as junk */
                s->alen = 0;
        }
        if (final && n == 0)
            break;
    }
}

static void fz_body(struct fz *f, const struct httpr_parser *hp, const uint8_t *p, size_t n)
{
    if (hp->status < 200 || hp->status > 299) {
        size_t m = n < UP_ERRBODY_MAX - f->errlen ? n : UP_ERRBODY_MAX - f->errlen;
        memcpy(f->errbody + f->errlen, p, m);
        f->errlen += m;
        return;
    }
    switch (f->mode) {
    case 0: fz_chat(f, p, n); break;
    case 1:
        if (f->stt_len + n <= FZ_STT_MAX) {
            memcpy(f->stt + f->stt_len, p, n);
            f->stt_len += n;
        }
        break;
    default: fz_audio(f, p, n, false); break;
    }
}

static void fz_complete(struct fz *f, const struct httpr_parser *hp)
{
    char out[4096];
    if (hp->status < 200 || hp->status > 299) {
        int m = oai_error_message(f->errbody, f->errlen, out, sizeof out);
        if (m >= 0)
            fz_check_text(out, (size_t)m);
    } else if (f->mode == 0) {
        fz_sentences(f, true);
        if (f->spoken != f->reply_len)
            __builtin_trap(); /* final: every byte of the reply is spoken */
    } else if (f->mode == 1) {
        int m = oai_transcript(f->stt, f->stt_len, out, sizeof out);
        if (m >= 0)
            fz_check_text(out, (size_t)m);
    } else {
        fz_audio(f, NULL, 0, true);
    }
    /* next response on the same connection */
    f->sse = (struct sse_parser){.buf = f->sse_buf, .cap = sizeof f->sse_buf};
    f->reply_len = f->spoken = f->stt_len = f->errlen = 0;
    f->chat_done = f->wav_done = false;
    f->s.alen = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz f;
    if (size < 1)
        return 0;
    log_setup(LOG_TEXT, LOG_ERROR);
    memset(&f, 0, sizeof f);
    f.mode = data[0] & 3;
    size_t step = 1 + 37u * (data[0] >> 2);
    f.stt = malloc(FZ_STT_MAX);
    f.cfg = (struct turn_config){.audio_chunk_bytes = 1024 + (size % 4096), .max_piece_bytes = 8192 - 512};
    f.s.cfg = &f.cfg;
    f.s.abuf = f.abuf;
    f.s.acap = sizeof f.abuf;
    f.sse = (struct sse_parser){.buf = f.sse_buf, .cap = sizeof f.sse_buf};
    /* The wire in an exact-size block, read in pieces like rbuf fills. */
    uint8_t *wire = malloc(size - 1 + 1);
    memcpy(wire, data + 1, size - 1);
    struct httpr_parser hp = {0};
    size_t off = 0, end = size - 1;
    bool dead = false;
    while (off < end && !dead) {
        size_t lim = end - off < step ? end - off : step;
        size_t roff = 0;
        for (;;) {
            struct httpr_event ev = {0};
            ssize_t n = httpr_feed(&hp, wire + off + roff, lim - roff, &ev);
            if (n < 0) {
                dead = true;
                break;
            }
            roff += (size_t)n;
            if (roff > lim)
                __builtin_trap();
            if (ev.kind == HTTPR_EV_HEAD && (hp.status < 100 || hp.status > 599))
                __builtin_trap();
            if (ev.kind == HTTPR_EV_BODY && ev.len) {
                if (ev.data < wire + off || ev.data + ev.len > wire + off + lim)
                    __builtin_trap();
                fz_body(&f, &hp, ev.data, ev.len);
            } else if (ev.kind == HTTPR_EV_DONE) {
                fz_complete(&f, &hp);
                httpr_reset(&hp);
            } else if (ev.kind == HTTPR_EV_NONE) {
                if (roff < lim && n == 0)
                    dead = true; /* "response parser stalled" in upstream.c */
                if (roff >= lim || n == 0)
                    break;
            }
        }
        off += lim;
    }
    if (!dead && httpr_eof(&hp) == HTTPR_EV_DONE && hp.status)
        fz_complete(&f, &hp);
    free(wire);
    free(f.stt);
    return 0;
}
