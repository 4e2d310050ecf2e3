/* The state of one turn, shared by its two halves: turn.c, the interviewer's
 * side (chat, speech, the audio relay, what of a reply was played), and
 * answer.c, the candidate's side (held audio, voice activity, segments,
 * transcription). Private to those two files. */
#ifndef TURN_STATE_H
#define TURN_STATE_H
#include "io/clock.h"
#include "parse/vad.h"
#include "pipeline/ai.h"
#include "pipeline/turn.h"

#define TURN_REPLY_MAX 4096      /* reply text kept (150 tokens is ~800 bytes) */
#define TURN_SEGQ_MAX 8          /* closed segments waiting for STT; more merge into the last */
#define TURN_SENT_MAX 64         /* sentences tracked for barge-in; more merge into the last */

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

/* turn.c, called by answer.c */

/* Every error a client is told about is counted by its code. */
void turn_report(struct turn *s, enum turn_error e, const char *msg);
/* The turn in progress failed: its reply is cancelled, the client told. */
void turn_fail(struct turn *s, enum turn_error e, const char *msg);
/* Idle and with a key; else the client is told why not (TURN_E_BUSY, TURN_E_NO_KEY). */
bool turn_can_start(struct turn *s);
/* The reply to user_text (NULL: the opening), streamed chat -> speech. */
void turn_start_reply(struct turn *s, enum turn_kind kind, const char *user_text);
/* Work on a turn starts (leaving TURN_IDLE): its clock starts, once. */
void turn_m_begin(struct turn *s, enum turn_kind kind);
/* The first time of an event in this turn. */
void turn_m_mark(struct turn *s, uint64_t *at);
/* The last reply is done upstream but its audio is still playing. */
bool turn_reply_playing(const struct turn *s);
/* The candidate has spoken long enough to interrupt a reply (barge-in): do it. */
void turn_barge_check(struct turn *s);
/* Freed after its pages went back (see pool_release_pages). */
void turn_free_released(void *p, size_t n);

/* answer.c, called by turn.c */

/* A fresh voice activity detector (a new turn, changed settings). */
void turn_vad_reset(struct turn *s);

#endif
