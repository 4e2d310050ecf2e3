// deps: src/pipeline/oai.c src/parse/utf8.c
// libs: cjson
/* Request bodies (exact bytes), multipart layout (exact bytes, refusals),
 * streamed chat chunks as OpenAI sends them (openai-wire-formats.md 1.2),
 * transcription and error bodies. */
#include "pipeline/oai.h"
#include "t.h"

static char buf[4096];

static void test_chat_body(void)
{
    const struct oai_msg hist[] = {{"user", "Hi"}, {"assistant", "Hello!"}};
    int n = oai_chat_body(buf, sizeof buf, "gpt-4o-mini", 0.7, 200, "Be brief.", hist, 2,
                          "Say \"x\"\n\xC3\xA9");
    const char *want = "{\"model\":\"gpt-4o-mini\",\"messages\":["
                       "{\"role\":\"system\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":\"Hi\"},"
                       "{\"role\":\"assistant\",\"content\":\"Hello!\"},"
                       "{\"role\":\"user\",\"content\":\"Say \\\"x\\\"\\n\xC3\xA9\"}],"
                       "\"temperature\":0.7,\"max_tokens\":200,\"stream\":true}";
    CHECK(n == (int)strlen(want) && strcmp(buf, want) == 0);
    if (n < 0 || strcmp(buf, want) != 0)
        fprintf(stderr, "  got %s\n", buf);
    /* exact fit: n + 1 bytes needed for the NUL */
    char small[512];
    CHECK(oai_chat_body(small, (size_t)n + 1 + OAI_PRINT_SLACK, "gpt-4o-mini", 0.7, 200,
                        "Be brief.", hist, 2, "Say \"x\"\n\xC3\xA9") == n);
    CHECK(oai_chat_body(small, (size_t)n, "gpt-4o-mini", 0.7, 200, "Be brief.", hist, 2,
                        "Say \"x\"\n\xC3\xA9") == -1);
    CHECK(oai_chat_body(small, 0, "m", 0.7, 200, NULL, NULL, 0, NULL) == -1);
    /* optional parts omitted */
    n = oai_chat_body(buf, sizeof buf, "m", -1, 0, "", NULL, 0, NULL);
    CHECK(n > 0 && strcmp(buf, "{\"model\":\"m\",\"messages\":[],\"stream\":true}") == 0);
    n = oai_chat_body(buf, sizeof buf, "m", 0, 1, NULL, NULL, 0, "");
    CHECK(n > 0 && strcmp(buf, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
                               "\"\"}],\"temperature\":0,\"max_tokens\":1,\"stream\":true}") == 0);
    /* control characters escaped */
    n = oai_chat_body(buf, sizeof buf, "m", -1, 0, NULL, NULL, 0, "a\tb\x01");
    CHECK(n > 0 && strstr(buf, "\"a\\tb\\u0001\"") != NULL);
    /* refused */
    CHECK(oai_chat_body(buf, sizeof buf, NULL, 1, 1, NULL, NULL, 0, NULL) == -1);
    CHECK(oai_chat_body(buf, sizeof buf, "m", 1, 1, NULL, NULL, 1, NULL) == -1);
    const struct oai_msg bad_role[] = {{NULL, "x"}};
    CHECK(oai_chat_body(buf, sizeof buf, "m", 1, 1, NULL, bad_role, 1, NULL) == -1);
    const struct oai_msg bad_utf8[] = {{"user", "\xC3"}};
    CHECK(oai_chat_body(buf, sizeof buf, "m", 1, 1, NULL, bad_utf8, 1, NULL) == -1);
    CHECK(oai_chat_body(buf, sizeof buf, "m", 1, 1, "\xED\xA0\x80", NULL, 0, NULL) == -1);
}

static void test_speech_body(void)
{
    int n = oai_speech_body(buf, sizeof buf, "gpt-4o-mini-tts", "alloy", "mp3",
                            "Hello \"world\" \xE2\x80\xA6");
    const char *want = "{\"model\":\"gpt-4o-mini-tts\",\"input\":\"Hello \\\"world\\\" "
                       "\xE2\x80\xA6\",\"voice\":\"alloy\",\"response_format\":\"mp3\"}";
    CHECK(n == (int)strlen(want) && strcmp(buf, want) == 0);
    CHECK(oai_speech_body(buf, (size_t)n, "gpt-4o-mini-tts", "alloy", "mp3",
                          "Hello \"world\" \xE2\x80\xA6") == -1);
    CHECK(oai_speech_body(buf, sizeof buf, "m", NULL, "mp3", "x") == -1);
    CHECK(oai_speech_body(buf, sizeof buf, "m", "v", "mp3", "\xFF") == -1);
}

static void test_multipart(void)
{
    char pre[1024], post[128];
    size_t pl = 0, ql = 0;
    int rc = oai_multipart_parts(pre, sizeof pre, post, sizeof post, "B0und4ry", "a.wav",
                                 "audio/wav", "gpt-4o-mini-transcribe", "en", "Names: Zo\xC3\xAB",
                                 &pl, &ql);
    const char *want_pre = "--B0und4ry\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n"
                           "gpt-4o-mini-transcribe\r\n"
                           "--B0und4ry\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\n"
                           "en\r\n"
                           "--B0und4ry\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n"
                           "Names: Zo\xC3\xAB\r\n"
                           "--B0und4ry\r\nContent-Disposition: form-data; name=\"file\"; "
                           "filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n";
    const char *want_post = "\r\n--B0und4ry--\r\n";
    CHECK(rc == 0 && pl == strlen(want_pre) && memcmp(pre, want_pre, pl + 1) == 0);
    CHECK(ql == strlen(want_post) && memcmp(post, want_post, ql + 1) == 0);

    /* language and prompt omitted (NULL and "") */
    rc = oai_multipart_parts(pre, sizeof pre, post, sizeof post, "xyz", "a.webm", "audio/webm",
                             "whisper-1", NULL, "", &pl, &ql);
    const char *want2 = "--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n"
                        "whisper-1\r\n"
                        "--xyz\r\nContent-Disposition: form-data; name=\"file\"; "
                        "filename=\"a.webm\"\r\nContent-Type: audio/webm\r\n\r\n";
    CHECK(rc == 0 && pl == strlen(want2) && strcmp(pre, want2) == 0);
    CHECK(ql == 11 && strcmp(post, "\r\n--xyz--\r\n") == 0);
    /* exact fit and one byte short */
    CHECK(oai_multipart_parts(pre, strlen(want2) + 1, post, 12, "xyz", "a.webm", "audio/webm",
                              "whisper-1", NULL, "", &pl, &ql) == 0);
    CHECK(oai_multipart_parts(pre, strlen(want2), post, 12, "xyz", "a.webm", "audio/webm",
                              "whisper-1", NULL, "", &pl, &ql) == -1);
    CHECK(oai_multipart_parts(pre, sizeof pre, post, 11, "xyz", "a.webm", "audio/webm",
                              "whisper-1", NULL, "", &pl, &ql) == -1);
    /* refusals */
#define MP(b, f, ct, m, l, p)                                                                      \
    oai_multipart_parts(pre, sizeof pre, post, sizeof post, b, f, ct, m, l, p, &pl, &ql)
    CHECK(MP("xyz", "a.wav", "audio/wav", "m\r\nX: y", NULL, NULL) == -1);
    CHECK(MP("xyz", "a.wav", "audio/wav", "m", "en\n", NULL) == -1);
    CHECK(MP("xyz", "a.wav", "audio/wav", "m", NULL, "say --xyz") == -1);
    CHECK(MP("xyz", "a.wav", "audio/wav", "m", NULL, "say --xy z") == 0);
    CHECK(MP("xyz", "a.wav", "audio/wav", "m", NULL, "a\rb") == -1);
    CHECK(MP("xyz", "a\".wav", "audio/wav", "m", NULL, NULL) == -1);
    CHECK(MP("xyz", "a\\.wav", "audio/wav", "m", NULL, NULL) == -1);
    CHECK(MP("xyz", "a\r.wav", "audio/wav", "m", NULL, NULL) == -1);
    CHECK(MP("xyz", "a.wav", "audio/wav\r\nX: 1", "m", NULL, NULL) == -1);
    CHECK(MP("xyz", NULL, "audio/wav", "m", NULL, NULL) == -1);
    CHECK(MP("xyz", "a.wav", "audio/wav", NULL, NULL, NULL) == -1);
    CHECK(MP("", "a.wav", "audio/wav", "m", NULL, NULL) == -1);
    CHECK(MP("a\"b", "a.wav", "audio/wav", "m", NULL, NULL) == -1);
    CHECK(MP("ab ", "a.wav", "audio/wav", "m", NULL, NULL) == -1);
    CHECK(MP("a b'()+_,-./:=?", "a.wav", "audio/wav", "m", NULL, NULL) == 0);
    CHECK(MP("x\xC3\xA9", "a.wav", "audio/wav", "m", NULL, NULL) == -1);
    CHECK(MP("1234567890123456789012345678901234567890123456789012345678901234567890", "a.wav",
             "audio/wav", "m", NULL, NULL) == 0);
    CHECK(MP("12345678901234567890123456789012345678901234567890123456789012345678901", "a.wav",
             "audio/wav", "m", NULL, NULL) == -1);
    CHECK(MP("xyz", "a.wav", "audio/wav", "m", NULL, "\xC3\x28") == -1);
#undef MP
}

static int chunk(const char *s, char *delta, size_t cap, size_t *dlen, char *err)
{
    return oai_chat_chunk(s, strlen(s), delta, cap, dlen, err, 128);
}

static void test_chunks(void)
{
    char delta[64], err[128];
    size_t dlen = 99;
    /* the wire-format examples, 1.2 */
    const char *first = "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":"
                        "1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\","
                        "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                        "\"logprobs\":null,\"finish_reason\":null}],\"obfuscation\":\"r4N7vQ2m\"}";
    CHECK(chunk(first, delta, sizeof delta, &dlen, err) == OAI_CHUNK_DELTA && dlen == 0 &&
          delta[0] == '\0');
    const char *hello = "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":"
                        "1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\","
                        "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,"
                        "\"finish_reason\":null}],\"usage\":null}";
    CHECK(chunk(hello, delta, sizeof delta, &dlen, err) == OAI_CHUNK_DELTA && dlen == 5 &&
          strcmp(delta, "Hello") == 0);
    const char *stop = "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":"
                       "1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\","
                       "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                       "\"finish_reason\":\"stop\"}]}";
    CHECK(chunk(stop, delta, sizeof delta, &dlen, err) == OAI_CHUNK_IGNORE && dlen == 0);
    const char *usage = "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":"
                        "1694268190,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{"
                        "\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21,"
                        "\"prompt_tokens_details\":{\"cached_tokens\":0},"
                        "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}";
    CHECK(chunk(usage, delta, sizeof delta, &dlen, err) == OAI_CHUNK_IGNORE);
    CHECK(chunk("[DONE]", delta, sizeof delta, &dlen, err) == OAI_CHUNK_DONE);
    CHECK(chunk(" [DONE]\r\n", delta, sizeof delta, &dlen, err) == OAI_CHUNK_DONE);
    CHECK(chunk("[DONE]x", delta, sizeof delta, &dlen, err) == OAI_CHUNK_ERROR);
    /* escapes decoded, UTF-8 kept */
    CHECK(chunk("{\"choices\":[{\"delta\":{\"content\":\"a\\\"b\\n\\u00e9\\ud83d\\ude00\xE2\x80\xA6"
                "\"}}]}",
                delta, sizeof delta, &dlen, err) == OAI_CHUNK_DELTA);
    CHECK(dlen == 13 && strcmp(delta, "a\"b\n\xC3\xA9\xF0\x9F\x98\x80\xE2\x80\xA6") == 0);
    /* content null (tool calls) */
    CHECK(chunk("{\"choices\":[{\"delta\":{\"content\":null},\"finish_reason\":null}]}", delta,
                sizeof delta, &dlen, err) == OAI_CHUNK_IGNORE);
    /* mid-stream error */
    const char *e1 = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
                     "\"param\":null,\"code\":\"rate_limit_exceeded\"}}";
    CHECK(chunk(e1, delta, sizeof delta, &dlen, err) == OAI_CHUNK_ERROR &&
          strcmp(err, "Rate limit reached") == 0 && dlen == 0);
    CHECK(chunk("{\"error\":\"overloaded\"}", delta, sizeof delta, &dlen, err) ==
              OAI_CHUNK_ERROR &&
          strcmp(err, "overloaded") == 0);
    CHECK(chunk("{\"error\":{\"code\":500}}", delta, sizeof delta, &dlen, err) ==
              OAI_CHUNK_ERROR &&
          strcmp(err, "upstream error") == 0);
    CHECK(chunk("{\"error\":null,\"choices\":[{\"delta\":{\"content\":\"x\"}}]}", delta,
                sizeof delta, &dlen, err) == OAI_CHUNK_DELTA && dlen == 1);
    /* error message truncated on a character boundary */
    char small[6];
    CHECK(oai_chat_chunk("{\"error\":{\"message\":\"abcd\xC3\xA9\"}}", 30, delta, sizeof delta,
                         &dlen, small, sizeof small) == OAI_CHUNK_ERROR &&
          strcmp(small, "abcd") == 0);
    /* too long */
    CHECK(chunk("{\"choices\":[{\"delta\":{\"content\":\"123456\"}}]}", delta, 6, &dlen, err) ==
              OAI_CHUNK_ERROR &&
          strcmp(err, "delta too long") == 0 && dlen == 0);
    CHECK(chunk("{\"choices\":[{\"delta\":{\"content\":\"12345\"}}]}", delta, 6, &dlen, err) ==
              OAI_CHUNK_DELTA &&
          dlen == 5);
    CHECK(chunk("{\"choices\":[{\"delta\":{\"content\":\"1\"}}]}", NULL, 0, &dlen, err) ==
          OAI_CHUNK_ERROR);
    CHECK(chunk("{\"choices\":[{\"delta\":{\"content\":\"\"}}]}", delta, 1, &dlen, err) ==
          OAI_CHUNK_DELTA);
    /* malformed */
    static const char *const bad[] = {
        "",
        "{",
        "{\"choices\":[}",
        "[1]",
        "\"str\"",
        "null",
        "{} x",
        "{}{}",
        "{\"choices\":[{\"delta\":{\"content\":\"\\u0000x\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"\\ud800\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"\xC3\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"\xED\xA0\x80\"}}]}",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        err[0] = 'x';
        int rc = chunk(bad[i], delta, sizeof delta, &dlen, err);
        CHECK(rc == OAI_CHUNK_ERROR && strcmp(err, "malformed chunk") == 0);
        if (rc != OAI_CHUNK_ERROR)
            fprintf(stderr, "  case %zu\n", i);
    }
    CHECK(oai_chat_chunk("{}\0", 3, delta, sizeof delta, &dlen, err, 128) == OAI_CHUNK_ERROR);
    CHECK(oai_chat_chunk("{} \n", 4, delta, sizeof delta, &dlen, err, 128) == OAI_CHUNK_IGNORE);
    /* "\\u0000" is a backslash and text, not a NUL */
    CHECK(chunk("{\"choices\":[{\"delta\":{\"content\":\"\\\\u0000\"}}]}", delta, sizeof delta,
                &dlen, err) == OAI_CHUNK_DELTA &&
          strcmp(delta, "\\u0000") == 0);
    /* not NUL-terminated input: only n bytes are read */
    const char *two = "{\"choices\":[{\"delta\":{\"content\":\"ab\"}}]}XYZ";
    CHECK(oai_chat_chunk(two, strlen(two) - 3, delta, sizeof delta, &dlen, NULL, 0) ==
              OAI_CHUNK_DELTA &&
          dlen == 2);
    CHECK(oai_chat_chunk(NULL, 0, delta, sizeof delta, &dlen, err, 128) == OAI_CHUNK_ERROR);
}

static void test_transcript(void)
{
    char out[32];
    const char *b = "{\"text\":\"Hello there, \\u00e9.\",\"usage\":{\"type\":\"tokens\","
                    "\"input_tokens\":14,\"input_token_details\":{\"text_tokens\":0,"
                    "\"audio_tokens\":14},\"output_tokens\":45,\"total_tokens\":59}}";
    CHECK(oai_transcript(b, strlen(b), out, sizeof out) == 16 &&
          strcmp(out, "Hello there, \xC3\xA9.") == 0);
    CHECK(oai_transcript(b, strlen(b), out, 17) == 16);
    CHECK(oai_transcript(b, strlen(b), out, 16) == -2);
    CHECK(oai_transcript("{\"text\":\"\"}", 11, out, 1) == 0 && out[0] == '\0');
    CHECK(oai_transcript("{\"text\":1}", 10, out, sizeof out) == -1);
    CHECK(oai_transcript("{\"txt\":\"a\"}", 11, out, sizeof out) == -1);
    CHECK(oai_transcript("{\"text\":\"a\"", 11, out, sizeof out) == -1);
    CHECK(oai_transcript("[\"text\"]", 8, out, sizeof out) == -1);
    CHECK(oai_transcript(NULL, 0, out, sizeof out) == -1);
}

static void test_error_message(void)
{
    char out[32];
    const char *b = "{\"error\":{\"message\":\"Incorrect API key provided: sk-abc.\","
                    "\"type\":\"invalid_request_error\",\"param\":null,\"code\":"
                    "\"invalid_api_key\"}}";
    CHECK(oai_error_message(b, strlen(b), out, sizeof out) == 31 &&
          strcmp(out, "Incorrect API key provided: sk-") == 0);
    char big[64];
    CHECK(oai_error_message(b, strlen(b), big, sizeof big) == 35 &&
          strcmp(big, "Incorrect API key provided: sk-abc.") == 0);
    CHECK(oai_error_message("{\"error\":\"x\"}", 13, out, sizeof out) == 1 && strcmp(out, "x") == 0);
    CHECK(oai_error_message("{\"error\":7}", 11, out, sizeof out) == -1);
    CHECK(oai_error_message("{\"error\":{}}", 12, out, sizeof out) == -1);
    CHECK(oai_error_message("<html>", 6, out, sizeof out) == -1);
    CHECK(oai_error_message("upstream reset", 14, out, sizeof out) == -1); /* plain text */
    const char *shapes[] = {"{\"detail\":\"Not Found\"}", "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"Not Found\"}]}",
                            "{\"detail\":{\"error\":\"validation_error\",\"message\":\"Not Found\"}}",
                            "{\"object\":\"error\",\"message\":\"Not Found\",\"code\":400}"};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        CHECK(oai_error_message(shapes[i], strlen(shapes[i]), out, sizeof out) == 9 && strcmp(out, "Not Found") == 0);
    CHECK(oai_error_message("{\"error\":{\"message\":\"\xE2\x80\xA6\xE2\x80\xA6\"}}", 30, out, 5) ==
              3 &&
          strcmp(out, "\xE2\x80\xA6") == 0);
}

/* The coach's JSON-mode request and the content of its answer. */
static void test_chat_json(void)
{
    int n = oai_chat_json_body(buf, sizeof buf, "gpt-4o-mini", 0.7, 600, "Be \"JSON\".", "Q\n\xC3\xA9");
    const char *want = "{\"model\":\"gpt-4o-mini\",\"messages\":["
                       "{\"role\":\"system\",\"content\":\"Be \\\"JSON\\\".\"},"
                       "{\"role\":\"user\",\"content\":\"Q\\n\xC3\xA9\"}],"
                       "\"temperature\":0.7,\"max_tokens\":600,"
                       "\"response_format\":{\"type\":\"json_object\"}}";
    CHECK(n == (int)strlen(want) && strcmp(buf, want) == 0);
    if (n < 0 || strcmp(buf, want) != 0)
        fprintf(stderr, "  got %s\n", buf);
    CHECK(oai_chat_json_body(buf, sizeof buf, "m", 1, 1, NULL, "u") == -1);
    CHECK(oai_chat_json_body(buf, sizeof buf, "m", 1, 1, "s", NULL) == -1);
    CHECK(oai_chat_json_body(buf, sizeof buf, "m", 1, 1, "s", "\xC3") == -1);
    CHECK(oai_chat_json_body(buf, 8, "m", 1, 1, "s", "u") == -1);

    char out[32];
    const char *b = "{\"id\":\"c\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                    "\"content\":\"{\\\"a\\\":1}\"},\"finish_reason\":\"stop\"}]}";
    CHECK(oai_chat_content(b, strlen(b), out, sizeof out) == 7 && strcmp(out, "{\"a\":1}") == 0);
    CHECK(oai_chat_content(b, strlen(b), out, 7) == -2);
    const char *bad[] = {"{\"choices\":[]}", "{\"choices\":[{\"message\":{\"content\":null}}]}",
                         "{\"choices\":"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(oai_chat_content(bad[i], strlen(bad[i]), out, sizeof out) == -1);
}

/* Today's models: the limit under max_completion_tokens, no temperature,
 * reasoning_effort; TTS instructions and speed. */
static void test_params(void)
{
    struct oai_chat_params cp = {.model = "gpt-5-mini", .temperature = -1, .max_tokens = 150,
                                 .token_param = "max_completion_tokens", .reasoning_effort = "minimal"};
    int n = oai_chat_body_p(buf, sizeof buf, &cp, NULL, NULL, 0, "hi");
    const char *want = "{\"model\":\"gpt-5-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                       "\"max_completion_tokens\":150,\"reasoning_effort\":\"minimal\",\"stream\":true}";
    CHECK(n == (int)strlen(want) && strcmp(buf, want) == 0);
    cp.token_param = NULL; /* default name */
    cp.reasoning_effort = "";
    n = oai_chat_json_body_p(buf, sizeof buf, &cp, "s", "u");
    CHECK(n > 0 && strstr(buf, "\"max_tokens\":150") && !strstr(buf, "reasoning_effort"));
    cp.reasoning_effort = "\xFF";
    CHECK(oai_chat_body_p(buf, sizeof buf, &cp, NULL, NULL, 0, "hi") == -1);
    n = oai_speech_body_p(buf, sizeof buf, "gpt-4o-mini-tts", "alloy", "mp3", "Hi", "warm", 1.25);
    CHECK(n > 0 && strcmp(buf, "{\"model\":\"gpt-4o-mini-tts\",\"input\":\"Hi\",\"voice\":\"alloy\","
                               "\"response_format\":\"mp3\",\"instructions\":\"warm\",\"speed\":1.25}") == 0);
    n = oai_speech_body_p(buf, sizeof buf, "tts-1", "alloy", "mp3", "Hi", "", 0);
    CHECK(n > 0 && !strstr(buf, "instructions") && !strstr(buf, "speed"));
}

/* The safety net's parts: error.param/code, and the body rewritten. */
static void test_fix(void)
{
    char p[64], c[64];
    const char *e = "{\"error\":{\"message\":\"Unsupported parameter: 'max_tokens'\",\"type\":\"invalid_request_error\","
                    "\"param\":\"max_tokens\",\"code\":\"unsupported_parameter\"}}";
    CHECK(oai_error_param(e, strlen(e), p, sizeof p, c, sizeof c) == 0 && strcmp(p, "max_tokens") == 0 &&
          strcmp(c, "unsupported_parameter") == 0);
    CHECK(oai_error_param(e, strlen(e), p, 5, c, sizeof c) == -1); /* does not fit: not a prefix */
    const char *nocode = "{\"error\":{\"param\":\"temperature\"}}";
    CHECK(oai_error_param(nocode, strlen(nocode), p, sizeof p, c, sizeof c) == 0 && c[0] == '\0');
    const char *none[] = {"{\"error\":{\"param\":null}}", "{\"error\":\"x\"}", "{\"detail\":\"x\"}", "<html>"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        CHECK(oai_error_param(none[i], strlen(none[i]), p, sizeof p, c, sizeof c) == -1);
    char body[256];
    int n = snprintf(body, sizeof body, "{\"model\":\"o3\",\"temperature\":0.7,\"max_tokens\":150,\"stream\":true}");
    n = oai_body_fix(body, (size_t)n, sizeof body, "max_tokens", "max_completion_tokens");
    CHECK(n > 0 && strcmp(body, "{\"model\":\"o3\",\"temperature\":0.7,\"stream\":true,\"max_completion_tokens\":150}") == 0);
    n = oai_body_fix(body, (size_t)n, sizeof body, "temperature", NULL);
    CHECK(n > 0 && strcmp(body, "{\"model\":\"o3\",\"stream\":true,\"max_completion_tokens\":150}") == 0);
    CHECK(oai_body_fix(body, (size_t)n, sizeof body, "temperature", NULL) == -1); /* not there */
    CHECK(oai_body_fix(body, (size_t)n, sizeof body, "model", "max_completion_tokens") == -1); /* taken */
    CHECK(oai_body_fix(body, (size_t)n, (size_t)n, "stream", "streaming_longer_name") == -1); /* no room */
    CHECK(oai_body_fix("[1]", 3, 4, "x", NULL) == -1);
    n = snprintf(body, sizeof body, "{\"max_tokens\":1,\"model\":\"o3\",\"max_tokens\":2}"); /* a key twice */
    n = oai_body_fix(body, (size_t)n, sizeof body, "max_tokens", "max_completion_tokens");
    CHECK(n > 0 && strcmp(body, "{\"model\":\"o3\",\"max_completion_tokens\":1}") == 0);
}

/* Streamed transcription events (gpt-4o*-transcribe, stream=true). */
static void test_stt_events(void)
{
    char t[16];
    size_t n;
    const char *d = "{\"type\":\"transcript.text.delta\",\"delta\":\" I led\",\"logprobs\":null}";
    CHECK(oai_stt_event(d, strlen(d), t, sizeof t, &n) == OAI_STT_DELTA && n == 6 && strcmp(t, " I led") == 0);
    CHECK(oai_stt_event(d, strlen(d), t, 6, &n) == OAI_STT_ERROR && n == 0); /* too long */
    const char *done = "{\"type\":\"transcript.text.done\",\"text\":\"I led it.\",\"usage\":{}}";
    CHECK(oai_stt_event(done, strlen(done), t, sizeof t, &n) == OAI_STT_DONE && n == 9 && strcmp(t, "I led it.") == 0);
    const char *other = "{\"type\":\"transcript.text.segment\",\"text\":\"x\"}";
    CHECK(oai_stt_event(other, strlen(other), t, sizeof t, &n) == OAI_STT_IGNORE && n == 0);
    const char *bad[] = {"{\"error\":{\"message\":\"x\"}}", "{\"type\":\"transcript.text.delta\"}",
                         "{\"type\":\"transcript.text.delta\",\"delta\":7}", "[DONE]", "{\"a\":"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(oai_stt_event(bad[i], strlen(bad[i]), t, sizeof t, &n) == OAI_STT_ERROR);
    CHECK(oai_stt_event(d, strlen(d), NULL, 0, &n) == OAI_STT_ERROR);
}

int main(void)
{
    test_stt_events();
    test_params();
    test_fix();
    test_chat_body();
    test_speech_body();
    test_multipart();
    test_chunks();
    test_transcript();
    test_error_message();
    test_chat_json();
    return T_DONE();
}
