/* Benchmark peer: a small server on libwebsockets (Debian's libwebsockets-dev)
 * with cJSON (libcjson-dev), the C stack a user would otherwise pick. Same
 * subset on /ws/{id}: ping -> pong, audio_chunk (int16 array) -> amplitude
 * (RMS / 32768). Written the idiomatic lws way: replies queue per session and
 * go out one lws_write per LWS_CALLBACK_SERVER_WRITEABLE. No turn mode.
 * Usage: lws_peer PORT */
#include <cjson/cJSON.h>
#include <libwebsockets.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QMAX 64
#define MSGMAX 128

struct sess {
    char *in; size_t in_len, in_cap;
    int16_t *audio; size_t audio_len, audio_cap; /* the seed keeps the answer's audio */
    unsigned char out[QMAX][LWS_PRE + MSGMAX];
    size_t out_len[QMAX];
    unsigned qh, qn;
};

static void ts(char *b, size_t n)
{
    struct timespec t; struct tm tm;
    clock_gettime(CLOCK_REALTIME, &t);
    gmtime_r(&t.tv_sec, &tm);
    size_t k = strftime(b, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(b + k, n - k, ".%03ldZ", t.tv_nsec / 1000000);
}

static void reply(struct lws *wsi, struct sess *s, cJSON *o)
{
    char t[40];
    ts(t, sizeof t);
    cJSON_AddStringToObject(o, "timestamp", t);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) return;
    size_t n = strlen(txt);
    if (s->qn < QMAX && n <= MSGMAX) {
        unsigned i = (s->qh + s->qn++) % QMAX;
        memcpy(s->out[i] + LWS_PRE, txt, n);
        s->out_len[i] = n;
    }
    free(txt);
    lws_callback_on_writable(wsi);
}

static void on_message(struct lws *wsi, struct sess *s)
{
    cJSON *m = cJSON_ParseWithLength(s->in, s->in_len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
    if (!cJSON_IsString(type)) { cJSON_Delete(m); return; }
    if (!strcmp(type->valuestring, "ping")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "pong");
        reply(wsi, s, o);
    } else if (!strcmp(type->valuestring, "audio_chunk")) {
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(m, "data"), *v;
        double sum = 0; size_t n = 0;
        cJSON_ArrayForEach(v, data) {
            double x = v->valuedouble;
            sum += x * x; n++;
            if (s->audio_len == s->audio_cap) {
                s->audio_cap = s->audio_cap ? s->audio_cap * 2 : 16384;
                s->audio = realloc(s->audio, s->audio_cap * sizeof *s->audio);
            }
            s->audio[s->audio_len++] = (int16_t)x;
        }
        double rms = n ? sqrt(sum / n) / 32768 : 0;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", "amplitude");
        cJSON_AddNumberToObject(o, "value", round((rms > 1 ? 1 : rms) * 10000) / 10000);
        reply(wsi, s, o);
    }
    cJSON_Delete(m);
}

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct sess *s = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(s, 0, sizeof *s);
        break;
    case LWS_CALLBACK_RECEIVE:
        if (lws_is_first_fragment(wsi)) s->in_len = 0;
        if (s->in_len + len > s->in_cap) {
            s->in_cap = (s->in_len + len) * 2;
            s->in = realloc(s->in, s->in_cap);
        }
        memcpy(s->in + s->in_len, in, len);
        s->in_len += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) on_message(wsi, s);
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (s->qn) {
            unsigned i = s->qh;
            if (lws_write(wsi, s->out[i] + LWS_PRE, s->out_len[i], LWS_WRITE_TEXT) < (int)s->out_len[i]) return -1;
            s->qh = (s->qh + 1) % QMAX; s->qn--;
            if (s->qn) lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_CLOSED:
        free(s->in); free(s->audio);
        s->in = NULL; s->audio = NULL;
        break;
    default:
        break;
    }
    return 0;
}

static volatile int stop;
static void on_sig(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
    static struct lws_protocols protocols[] = {
        {"bench", cb, sizeof(struct sess), 65536, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0},
    };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = argc > 1 ? atoi(argv[1]) : 8000;
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    lws_set_log_level(LLL_ERR, NULL);
    signal(SIGTERM, on_sig);
    signal(SIGINT, on_sig);
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx) return 1;
    while (!stop && lws_service(ctx, 0) >= 0) {}
    lws_context_destroy(ctx);
    return 0;
}
