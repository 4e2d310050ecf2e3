// deps: src/pipeline/ai.c src/pipeline/oai.c src/parse/utf8.c src/parse/audio.c src/parse/sse.c src/upstream/upstream.c src/upstream/jobfetch.c src/upstream/resolver.c src/parse/http_resp.c src/parse/url.c src/parse/addrclass.c src/parse/html_text.c src/io/loop.c src/io/log.c src/io/clock.c src/upstream/tls.c src/io/rand.c src/io/pool.c src/io/metrics.c
// libs: mbedtls cjson
/* ai.c's pure parts: the transcription multipart (exact bytes, the coach's
 * verbose_json fields first), the message of an API error (the API's text,
 * the fallback, the key never passed on), audio file naming; and the calls
 * refused at once, before any request exists. */
#include "pipeline/ai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

static const struct ai_settings set = {.stt_model = "whisper-1", .stt_language = "en", .stt_prompt = "",
                                       .chat_model = "gpt-4o-mini", .temperature = 0.7, .max_tokens = 150,
                                       .tts_model = "tts-1", .tts_voice = "alloy", .have_key = true};

static void stt_text(void *ctx, const char *text, size_t n)
{
    (void)ctx, (void)text, (void)n;
}

static void test_stt_parts(void)
{
    char pre[2048], post[128];
    size_t pl = 0, ql = 0;
    struct ai_stt req = {.filename = "answer.wav", .ctype = "audio/wav"};
    CHECK(ai_stt_parts(&set, &req, "B-1", pre, sizeof pre, post, sizeof post, &pl, &ql) == 0);
    const char *want = "--B-1\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
                       "--B-1\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nen\r\n"
                       "--B-1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"answer.wav\"\r\n"
                       "Content-Type: audio/wav\r\n\r\n";
    CHECK(strcmp(pre, want) == 0 && pl == strlen(want));
    CHECK(strcmp(post, "\r\n--B-1--\r\n") == 0 && ql == strlen(post));

    req = (struct ai_stt){.filename = "answer.webm", .ctype = "audio/webm", .words = true};
    CHECK(ai_stt_parts(&set, &req, "B-2", pre, sizeof pre, post, sizeof post, &pl, &ql) == 0);
    want = "--B-2\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\nverbose_json\r\n"
           "--B-2\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nword\r\n"
           "--B-2\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
           "--B-2\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nen\r\n"
           "--B-2\r\nContent-Disposition: form-data; name=\"file\"; filename=\"answer.webm\"\r\n"
           "Content-Type: audio/webm\r\n\r\n";
    CHECK(strcmp(pre, want) == 0 && pl == strlen(want));
    /* too small for the words fields, or for what follows them */
    CHECK(ai_stt_parts(&set, &req, "B-2", pre, 100, post, sizeof post, &pl, &ql) == -1);
    CHECK(ai_stt_parts(&set, &req, "B-2", pre, 200, post, sizeof post, &pl, &ql) == -1);
    req.filename = "a\"b";
    CHECK(ai_stt_parts(&set, &req, "B-2", pre, sizeof pre, post, sizeof post, &pl, &ql) == -1);
    /* a streaming model with on_text: stream=true first; not for whisper-1 */
    req = (struct ai_stt){.filename = "answer.wav", .ctype = "audio/wav", .on_text = stt_text};
    CHECK(ai_stt_parts(&set, &req, "B-3", pre, sizeof pre, post, sizeof post, &pl, &ql) == 0 &&
          !strstr(pre, "stream"));
    struct ai_settings s4 = set;
    s4.stt_model = "gpt-4o-mini-transcribe";
    CHECK(ai_stt_parts(&s4, &req, "B-3", pre, sizeof pre, post, sizeof post, &pl, &ql) == 0 &&
          strncmp(pre, "--B-3\r\nContent-Disposition: form-data; name=\"stream\"\r\n\r\ntrue\r\n--B-3", 66) == 0);
    CHECK(ai_stt_streams("gpt-4o-transcribe") && !ai_stt_streams("whisper-1") && !ai_stt_streams(NULL));
}

static void test_boundary(void)
{
    char b1[80], b2[80];
    struct iovec none[2] = {{(void *)"RIFF", 4}, {NULL, 0}};
    CHECK(ai_stt_boundary("interview-stream", none, b1, sizeof b1) == 0);
    CHECK(ai_stt_boundary("interview-stream", none, b2, sizeof b2) == 0);
    /* 128 random bits in hex after the tag, different each time */
    CHECK(strlen(b1) == strlen("interview-stream-") + 32 && strncmp(b1, "interview-stream-", 17) == 0);
    CHECK(strspn(b1 + 17, "0123456789abcdef") == 32 && strcmp(b1, b2) != 0);
    CHECK(ai_stt_boundary("interview-stream", none, b1, 40) == -1); /* does not fit */
    char file[200];
    int n = snprintf(file, sizeof file, "audio\r\n--%s\r\nContent-Disposition: form-data; name=\"model\"", b2);
    struct iovec one[2] = {{file, (size_t)n}, {NULL, 0}};
    CHECK(ai_file_holds(one, b2) && !ai_file_holds(one, b1));
    /* across the seam of the two pieces */
    struct iovec two[2] = {{file, 12}, {file + 12, (size_t)n - 12}};
    CHECK(ai_file_holds(two, b2));
    struct iovec tiny[2] = {{file + 7, 1}, {file + 8, 3}}; /* "--" + less than the boundary */
    CHECK(!ai_file_holds(tiny, b2));
}

static void test_api_error(void)
{
    char out[256];
    const char *b = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\"}}";
    ai_api_error(429, b, strlen(b), out, sizeof out);
    CHECK(strcmp(out, "Rate limit reached") == 0);
    ai_api_error(500, "{\"error\":\"boom\"}", 16, out, sizeof out);
    CHECK(strcmp(out, "boom") == 0);
    ai_api_error(502, "<html>bad gateway</html>", 24, out, sizeof out);
    CHECK(strcmp(out, "HTTP 502") == 0);
    ai_api_error(422, "{\"detail\":\"voice not found\"}", 28, out, sizeof out);
    CHECK(strcmp(out, "voice not found") == 0);
    ai_api_error(400, "{\"error\":{\"message\":\"\"}}", 24, out, sizeof out);
    CHECK(strcmp(out, "HTTP 400") == 0);
    ai_api_error(503, NULL, 0, out, sizeof out);
    CHECK(strcmp(out, "HTTP 503") == 0);
    b = "{\"error\":{\"message\":\"Incorrect API key provided: sk-abc123. See docs\"}}";
    ai_api_error(401, b, strlen(b), out, sizeof out);
    CHECK(strcmp(out, "the API refused the key (HTTP 401)") == 0);
    ai_api_error(400, b, strlen(b), out, sizeof out);
    CHECK(strcmp(out, "Incorrect API key provided: sk-******. See docs") == 0);
    /* cut at a character boundary */
    b = "{\"error\":{\"message\":\"\xE2\x80\xA6\xE2\x80\xA6\"}}";
    ai_api_error(400, b, strlen(b), out, 5);
    CHECK(strcmp(out, "\xE2\x80\xA6") == 0);
}

static void test_client_message(void)
{
    char out[256];
    ai_client_message(AI_E_HTTP_STATUS, 429, out, sizeof out);
    CHECK(strcmp(out, "the AI service is rate-limiting this server (HTTP 429)") == 0);
    ai_client_message(AI_E_HTTP_STATUS, 401, out, sizeof out);
    CHECK(strcmp(out, "the API refused the key (HTTP 401)") == 0);
    ai_client_message(AI_E_HTTP_STATUS, 400, out, sizeof out);
    CHECK(strcmp(out, "the AI service refused the request (HTTP 400)") == 0);
    ai_client_message(AI_E_HTTP_STATUS, 503, out, sizeof out);
    CHECK(strcmp(out, "the AI service failed (HTTP 503)") == 0);
    ai_client_message(AI_E_CONNECT, 0, out, sizeof out);
    CHECK(strcmp(out, "cannot reach the AI service") == 0);
    ai_client_message(AI_E_BUSY, 0, out, sizeof out);
    CHECK(strcmp(out, "too many upstream requests in flight") == 0);
    ai_client_message(AI_E_STREAM, 0, out, sizeof out);
    CHECK(strcmp(out, "malformed stream") == 0);
}

static void test_audio_file(void)
{
    static const uint8_t webm[] = {0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0xF7, 0x81,
                                   0x01, 0x42, 0xF2, 0x81, 0x04, 0x42, 0xF3, 0x81, 0x08, 0x42, 0x82, 0x84,
                                   'w',  'e',  'b',  'm'};
    struct ai_file f;
    CHECK(ai_audio_file(webm, sizeof webm, "answer", &f) && strcmp(f.name, "answer.webm") == 0 &&
          strcmp(f.ctype, "audio/webm") == 0);
    CHECK(!ai_audio_file((const uint8_t *)"hello", 5, "audio", &f));
}

static void on_done(void *ctx, struct ai_result *r)
{
    (void)ctx;
    (void)r;
    abort(); /* never called for a refused call */
}

static void on_posting(void *ctx, const char *code, const char *message, const char *text, size_t len)
{
    (void)ctx, (void)code, (void)message, (void)text, (void)len;
    abort();
}

/* Refusals come before any upstream request: no client is needed. */
static void test_refusals(void)
{
    struct ai_settings nokey = set;
    nokey.have_key = false;
    struct ai *ai = ai_create(NULL, NULL, &nokey);
    int why = 0;
    struct ai_tts tts = {.text = "Hello.", .format = "mp3", .max_body = 100};
    CHECK(ai && !ai_have_key(ai));
    CHECK(!ai_speech(ai, &tts, NULL, on_done, NULL, &why) && why == AI_E_NO_KEY);
    CHECK(strcmp(ai_why(why), "OPENAI_API_KEY is not set on the server") == 0);
    ai_destroy(ai);

    ai = ai_create(NULL, NULL, &set);
    CHECK(ai_have_key(ai));
    tts.text = "bad \xC3";
    CHECK(!ai_speech(ai, &tts, NULL, on_done, NULL, &why) && why == AI_E_REQUEST);
    struct ai_stt stt = {.filename = "x\r\n", .ctype = "audio/wav", .tag = "t", .max_body = 10};
    CHECK(!ai_transcribe(ai, &stt, on_done, NULL, &why) && why == AI_E_REQUEST);
    struct ai_chat chat = {.system = "s", .user = NULL, .max_tokens = 5};
    CHECK(!ai_chat_json(ai, &chat, on_done, NULL, &why) && why == AI_E_REQUEST);
    const char *code = NULL, *message = NULL;
    CHECK(!ai_fetch_posting(ai, "https://jobs.example/1", on_posting, NULL, &code, &message) &&
          strcmp(code, "JOB_URL_DISABLED") == 0 && message && message[0]);
    CHECK(strcmp(ai_why(AI_E_BUSY), "too many upstream requests in flight") == 0);
    ai_cancel(NULL);
    ai_fetch_cancel(NULL);
    ai_destroy(ai);
}

/* Which models are reasoning models, and which transcription models give words. */
static void test_models(void)
{
    const char *yes[] = {"o1", "o1-mini", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5.1", "gpt-5-nano"};
    const char *no[] = {"gpt-4o-mini", "gpt-4.1", "omni-moderation", "o", "llama3.2", "", "Qwen/Qwen2.5-7B-Instruct"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        CHECK(ai_reasoning_model(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        CHECK(!ai_reasoning_model(no[i]));
    CHECK(!ai_reasoning_model(NULL));
    CHECK(ai_stt_words(AI_STT_AUTO, "whisper-1"));
    CHECK(ai_stt_words(AI_STT_AUTO, "Systran/faster-whisper-small"));
    CHECK(!ai_stt_words(AI_STT_AUTO, "gpt-4o-transcribe"));
    CHECK(!ai_stt_words(AI_STT_AUTO, "gpt-4o-mini-transcribe-2025-03-20"));
    CHECK(ai_stt_words(AI_STT_VERBOSE, "gpt-4o-transcribe"));
    CHECK(!ai_stt_words(AI_STT_JSON, "whisper-1"));
}

int main(void)
{
    test_models();
    test_stt_parts();
    test_boundary();
    test_api_error();
    test_client_message();
    test_audio_file();
    test_refusals();
    return T_DONE();
}
