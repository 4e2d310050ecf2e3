/* The process's metrics registry and its Prometheus text page (format
 * 0.0.4). Every family, its labels and every label value are fixed at compile
 * time (the tables in metrics.c), so the series are bounded, an increment is
 * an array index (no allocation, no lock: only the loop thread calls these;
 * the resolver thread never does), and the page is rendered into one buffer
 * at scrape time. Label values are enums, never a client id, address or path.
 * Gauges whose truth lives elsewhere (open connections, the upstream pool)
 * are filled by collectors that run at the start of each render.
 * deps: clock.c */
#ifndef METRICS_H
#define METRICS_H
#include "parse/base.h"

/* Every family (metrics.c's table gives name, help, type, labels). */
enum metrics_id {
    M_CONNECTIONS,          /* gauge {route,state} (collector) */
    M_CONN_ACCEPTED,        /* counter */
    M_CONN_REFUSED,         /* counter {reason} */
    M_WS_MESSAGES_IN,       /* counter {dialect} */
    M_WS_BYTES_IN,          /* counter {dialect} */
    M_WS_MESSAGES_OUT,      /* counter {dialect} */
    M_WS_BYTES_OUT,         /* counter {dialect} */
    M_WS_CLOSE_SENT,        /* counter {code} */
    M_TURNS_STARTED,        /* counter {kind} */
    M_TURNS,                /* counter {result} */
    M_TURN_ERRORS,          /* counter {code} */
    M_COACH_INTERVIEWS,     /* counter */
    M_COACH_ANSWERS,        /* counter {result} */
    M_UP_REQUESTS,          /* counter {endpoint,class} */
    M_UP_RETRIES,           /* counter {endpoint} */
    M_UP_POOL,              /* counter {result} */
    M_UP_INFLIGHT,          /* gauge (collector) */
    M_TLS_HANDSHAKES,       /* counter {result} */
    M_DNS_LOOKUPS,          /* counter {result} */
    M_UP_DURATION,          /* histogram {endpoint,phase} */
    M_TURN_TRANSCRIPT,      /* histogram: end of answer -> transcript */
    M_TURN_FIRST_TOKEN,     /* histogram: end of answer -> first reply token */
    M_TURN_FIRST_SENTENCE,  /* histogram: end of answer -> first sentence to TTS */
    M_TURN_FIRST_AUDIO,     /* histogram: end of answer -> first reply audio sent */
    M_TURN_DURATION,        /* histogram: end of answer -> reply done */
    M_LOOP_LAG,             /* histogram */
    M_BUILD_INFO,           /* gauge {version,mbedtls,cjson} = 1 (metrics_set_build_info) */
    M_COUNT
};

/* Label values, in the order of metrics.c's tables. */
enum metrics_route { MR_NONE, MR_HEALTH, MR_METRICS, MR_PAGE, MR_API, MR_CLIENT, MR_STREAM, MR_SOCKET_IO, MR_COUNT };
enum metrics_state { MS_HTTP, MS_WEBSOCKET, MS_CLOSING, MS_LINGER, MS_COUNT };
enum metrics_reason {
    MRS_MAX_CONNECTIONS, MRS_PER_IP, MRS_ORIGIN, MRS_HOST, MRS_AUTH, MRS_AUTH_THROTTLED,
    MRS_RATE_LIMIT, MRS_BAD_REQUEST, MRS_SHUTTING_DOWN, MRS_SESSIONS, MRS_COUNT
};
enum metrics_dialect { MD_CLIENT, MD_STREAM, MD_SOCKET_IO, MD_COUNT };
enum metrics_turn_kind { MK_OPENING, MK_ANSWER, MK_COUNT };
enum metrics_turn_result { MT_COMPLETED, MT_FAILED, MT_INTERRUPTED, MT_COUNT };
/* Same order as enum turn_error (turn.h). */
enum metrics_turn_code {
    MC_NO_KEY, MC_BUSY, MC_EMPTY, MC_BUFFER, MC_TRANSCRIPTION, MC_EMPTY_TRANSCRIPT, MC_AI_RESPONSE, MC_TTS, MC_COUNT
};
enum metrics_ok { MO_OK, MO_FAILED, MO_COUNT };
enum metrics_pool { MP_HIT, MP_MISS, MP_COUNT };
enum metrics_dns { MDNS_CACHE, MDNS_QUERY, MDNS_FAILED, MDNS_COUNT };
enum metrics_endpoint { ME_TRANSCRIPTIONS, ME_CHAT, ME_SPEECH, ME_JOB_FETCH, ME_OTHER, ME_COUNT };
enum metrics_class { MCL_2XX, MCL_3XX, MCL_4XX, MCL_5XX, MCL_ERROR, MCL_CANCELLED, MCL_COUNT };
enum metrics_phase { MPH_DNS, MPH_CONNECT, MPH_TLS, MPH_FIRST_BYTE, MPH_TOTAL, MPH_COUNT };

/* Counters (labels a, b: 0 when the family has fewer). */
void metrics_inc(enum metrics_id f, unsigned a, unsigned b);
void metrics_add(enum metrics_id f, unsigned a, unsigned b, uint64_t v);
/* Gauges: set (collectors) or add. */
void metrics_set(enum metrics_id f, unsigned a, unsigned b, int64_t v);
/* Histograms: one observation in seconds. */
void metrics_observe(enum metrics_id f, unsigned a, unsigned b, double seconds);
/* Read back a counter/gauge (tests, the per-turn retry count). */
int64_t metrics_get(enum metrics_id f, unsigned a, unsigned b);

/* Label helpers. */
enum metrics_endpoint metrics_endpoint_of(const char *path); /* "/audio/speech" -> ME_SPEECH */
enum metrics_class metrics_class_of(int status, bool cancelled);
unsigned metrics_close_code(uint16_t code); /* index into the {code} label values */

/* A collector fills gauges just before each render (at most METRICS_COLLECTORS). */
typedef void (*metrics_collect_fn)(void *ctx);
int metrics_add_collector(metrics_collect_fn fn, void *ctx);

/* Once at start: the interview_build_info labels (static strings) and the
 * process start time. */
void metrics_set_build_info(const char *version, const char *mbedtls, const char *cjson);

/* The whole page into a malloc'd buffer (the caller frees it); *len its
 * length. NULL when out of memory. */
char *metrics_render(size_t *len);
/* The page into buf[0..cap): its length, or -1 when it does not fit. */
ssize_t metrics_render_into(char *buf, size_t cap);

/* Forget every value (unit tests). */
void metrics_reset(void);
#endif
