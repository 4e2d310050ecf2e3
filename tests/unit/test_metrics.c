// deps: src/io/metrics.c src/io/clock.c
#include <stdlib.h>

#include "io/metrics.h"

#include "t.h"

static int collected;
static void collect(void *ctx)
{
    (void)ctx;
    collected++;
    metrics_set(M_CONNECTIONS, MR_CLIENT, MS_WEBSOCKET, 3);
}

static bool has(const char *page, const char *line) { return strstr(page, line) != NULL; }

int main(void)
{
    metrics_set_build_info("1.2.3", "3.6.2", "1.7.15");
    CHECK(metrics_add_collector(collect, NULL) == 0);
    metrics_inc(M_CONN_REFUSED, MRS_ORIGIN, 0);
    metrics_inc(M_CONN_REFUSED, MRS_ORIGIN, 0);
    metrics_add(M_WS_BYTES_IN, MD_STREAM, 0, 1000);
    metrics_inc(M_UP_REQUESTS, ME_CHAT, MCL_5XX);
    metrics_inc(M_UP_REQUESTS, ME_COUNT, 0); /* out of range: ignored */
    metrics_observe(M_TURN_FIRST_AUDIO, 0, 0, 0.4);
    metrics_observe(M_TURN_FIRST_AUDIO, 0, 0, 100); /* above every bound: +Inf only */
    metrics_observe(M_UP_DURATION, ME_SPEECH, MPH_TLS, 0.003);
    CHECK(metrics_get(M_CONN_REFUSED, MRS_ORIGIN, 0) == 2);
    CHECK(metrics_endpoint_of("/v1/audio/transcriptions") == ME_TRANSCRIPTIONS);
    CHECK(metrics_endpoint_of("/v1/chat/completions") == ME_CHAT);
    CHECK(metrics_endpoint_of("/openai/deployments/x/audio/speech?api-version=1") == ME_SPEECH);
    CHECK(metrics_endpoint_of("/models") == ME_OTHER && metrics_endpoint_of(NULL) == ME_OTHER);
    CHECK(metrics_class_of(200, false) == MCL_2XX && metrics_class_of(503, false) == MCL_5XX);
    CHECK(metrics_class_of(0, false) == MCL_ERROR && metrics_class_of(200, true) == MCL_CANCELLED);
    CHECK(metrics_close_code(1008) == 5 && metrics_close_code(4000) == 9);

    size_t len = 0;
    char *page = metrics_render(&len);
    CHECK(page && len > 1000 && collected == 1);
    if (page) {
        page[len - 1] = '\0'; /* the last newline: the page is one C string for strstr */
        CHECK(has(page, "# TYPE interview_connections gauge\n"));
        CHECK(has(page, "interview_connections{route=\"client\",state=\"websocket\"} 3\n"));
        CHECK(has(page, "interview_connections_refused_total{reason=\"origin\"} 2\n"));
        CHECK(has(page, "interview_connections_refused_total{reason=\"auth\"} 0\n"));
        CHECK(has(page, "interview_ws_received_bytes_total{dialect=\"stream\"} 1000\n"));
        CHECK(has(page, "interview_upstream_requests_total{endpoint=\"chat\",class=\"5xx\"} 1\n"));
        CHECK(has(page, "interview_turn_first_audio_seconds_bucket{le=\"0.3\"} 0\n"));
        CHECK(has(page, "interview_turn_first_audio_seconds_bucket{le=\"0.5\"} 1\n"));
        CHECK(has(page, "interview_turn_first_audio_seconds_bucket{le=\"60\"} 1\n"));
        CHECK(has(page, "interview_turn_first_audio_seconds_bucket{le=\"+Inf\"} 2\n"));
        CHECK(has(page, "interview_turn_first_audio_seconds_sum 100.4\n"));
        CHECK(has(page, "interview_turn_first_audio_seconds_count 2\n"));
        CHECK(has(page, "interview_upstream_request_duration_seconds_bucket{endpoint=\"speech\",phase=\"tls\",le=\"0.005\"} 1\n"));
        CHECK(has(page, "interview_upstream_request_duration_seconds_count{endpoint=\"speech\",phase=\"tls\"} 1\n"));
        CHECK(has(page, "interview_build_info{version=\"1.2.3\",mbedtls=\"3.6.2\",cjson=\"1.7.15\"} 1\n"));
        CHECK(has(page, "# TYPE process_cpu_seconds_total counter\n"));
        CHECK(has(page, "process_resident_memory_bytes "));
        CHECK(has(page, "process_open_fds "));
        CHECK(has(page, "process_max_fds "));
        CHECK(has(page, "process_start_time_seconds "));
    }
    free(page);
    /* A buffer too small says so instead of cutting the page. */
    char small[100];
    CHECK(metrics_render_into(small, sizeof small) == -1);
    metrics_reset();
    CHECK(metrics_get(M_CONN_REFUSED, MRS_ORIGIN, 0) == 0);
    return T_DONE();
}
