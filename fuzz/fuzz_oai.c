// deps: src/pipeline/oai.c src/parse/utf8.c
// libs: cjson
/* libFuzzer harness for the OpenAI wire-format helpers on arbitrary bytes:
 *   - oai_chat_chunk returns a known kind; a DELTA is NUL-terminated valid
 *     UTF-8 of exactly *dlen bytes < cap; an ERROR message is NUL-terminated
 *     valid UTF-8 within errcap; *dlen is 0 unless DELTA; it is
 *     deterministic, and a DELTA with a small cap is a DELTA or "too long";
 *   - oai_transcript / oai_error_message / oai_chat_content stay within cap and agree with each
 *     other's NUL-termination rules;
 *   - oai_stt_event returns a known kind, text within cap and *tlen its length;
 *     oai_error_param's param and code within their caps; oai_body_fix on the
 *     input as a request body either refuses or leaves a JSON object
 *     without the member (or with it renamed) within cap;
 *   - the input used as a string (when valid UTF-8 without NUL) round-trips
 *     through oai_speech_body and cJSON, and as a multipart prompt either is
 *     refused or appears verbatim in the part.
 * Input is copied to an exact-size heap buffer so ASan sees any over-read. */
#include "pipeline/oai.h"
#include "parse/utf8.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

static void fz_check_str(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n >= cap || !utf8_valid((const uint8_t *)s, n))
        abort();
}

static void fz_chunk(const char *p, size_t n)
{
    char delta[256], err[64];
    size_t dlen = 77;
    int rc = oai_chat_chunk(p, n, delta, sizeof delta, &dlen, err, sizeof err);
    if (rc < OAI_CHUNK_DELTA || rc > OAI_CHUNK_IGNORE)
        abort();
    if (rc != OAI_CHUNK_DELTA && dlen != 0)
        abort();
    if (rc == OAI_CHUNK_DELTA) {
        fz_check_str(delta, sizeof delta);
        if (strlen(delta) != dlen)
            abort();
        /* a smaller cap: same text or "too long" */
        char small[8], err2[64];
        size_t dlen2 = 0;
        int rc2 = oai_chat_chunk(p, n, small, sizeof small, &dlen2, err2, sizeof err2);
        if (dlen < sizeof small ? (rc2 != OAI_CHUNK_DELTA || dlen2 != dlen ||
                                   memcmp(small, delta, dlen + 1) != 0)
                                : (rc2 != OAI_CHUNK_ERROR || strcmp(err2, "delta too long") != 0))
            abort();
    }
    if (rc == OAI_CHUNK_ERROR)
        fz_check_str(err, sizeof err);
    char err3[3];
    size_t dlen3;
    if (oai_chat_chunk(p, n, delta, sizeof delta, &dlen3, err3, sizeof err3) != rc)
        abort();
    if (rc == OAI_CHUNK_ERROR)
        fz_check_str(err3, sizeof err3);
}

static void fz_bodies(const char *p, size_t n)
{
    char out[64];
    int t = oai_transcript(p, n, out, sizeof out);
    if (t < -2 || t >= (int)sizeof out)
        abort();
    if (t >= 0) {
        fz_check_str(out, sizeof out);
        if ((size_t)t != strlen(out))
            abort();
    }
    int e = oai_error_message(p, n, out, sizeof out);
    if (e < -1 || e >= (int)sizeof out)
        abort();
    if (e >= 0) {
        fz_check_str(out, sizeof out);
        if ((size_t)e != strlen(out))
            abort();
    }
    int m = oai_chat_content(p, n, out, sizeof out);
    if (m < -2 || m >= (int)sizeof out)
        abort();
    if (m >= 0) {
        fz_check_str(out, sizeof out);
        if ((size_t)m != strlen(out))
            abort();
    }
}

/* The input as a C string, if it is one: no NUL, valid UTF-8. */
static void fz_roundtrip(const char *s, size_t n)
{
    if (memchr(s, '\0', n) || !utf8_valid((const uint8_t *)s, n))
        return;
    size_t cap = n * 6 + 512; /* room for the multipart headers too */
    char *body = malloc(cap);
    char *str = malloc(n + 1);
    if (!body || !str)
        abort();
    memcpy(str, s, n);
    str[n] = '\0';
    int len = oai_speech_body(body, cap, "tts-1", "alloy", "mp3", str);
    if (len < 0 || (size_t)len != strlen(body))
        abort();
    cJSON *root = cJSON_ParseWithLength(body, (size_t)len);
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!cJSON_IsString(input) || strcmp(input->valuestring, str) != 0)
        abort();
    cJSON_Delete(root);

    size_t pl = 0, ql = 0;
    char post[64];
    int rc = oai_multipart_parts(body, cap, post, sizeof post, "bnd", "a.wav", "audio/wav", "m",
                                 NULL, str, &pl, &ql);
    if (rc == 0) {
        if (n > 0 && strstr(body, str) == NULL)
            abort();
        if (strpbrk(str, "\r\n") || strstr(str, "--bnd"))
            abort();
    } else if (rc != -1 || (n > 0 && !strpbrk(str, "\r\n") && !strstr(str, "--bnd"))) {
        abort();
    }
    free(str);
    free(body);
}

/* The request builders over strings cut from the input: a body that fits is
 * NUL-terminated at the length returned; one that does not is refused. */
static void fz_build(const char *p, size_t n)
{
    char s[4][256];
    for (int i = 0; i < 4; i++) {
        size_t part = n / 4, off = (size_t)i * part, k = part < sizeof s[i] ? part : sizeof s[i] - 1;
        memcpy(s[i], p + off, k);
        s[i][k] = '\0';
    }
    struct oai_msg hist[2] = {{"user", s[2]}, {"assistant", s[3]}};
    static char out[4096];
    size_t cap = n % 2 ? sizeof out : 64; /* also a buffer too small */
    int a = oai_chat_body(out, cap, s[0], 0.7, 150, s[1], hist, 2, s[3]);
    if (a >= (int)cap || (a >= 0 && strlen(out) != (size_t)a))
        abort();
    int b = oai_chat_json_body(out, cap, s[0], 0.7, 1500, s[1], s[2]);
    if (b >= (int)cap || (b >= 0 && strlen(out) != (size_t)b))
        abort();
}

static void fz_providers(const char *p, size_t n)
{
    char text[64], param[32], code[32];
    size_t tlen = 99;
    int k = oai_stt_event(p, n, text, sizeof text, &tlen);
    if (k < OAI_STT_DELTA || k > OAI_STT_ERROR || ((k == OAI_STT_DELTA || k == OAI_STT_DONE) ? strlen(text) != tlen
                                                                                           : tlen != 0))
        abort();
    if (oai_error_param(p, n, param, sizeof param, code, sizeof code) == 0) {
        fz_check_str(param, sizeof param);
        fz_check_str(code, sizeof code);
    }
    size_t cap = 2 * n + 64;
    char *body = malloc(cap);
    if (!body)
        abort();
    memcpy(body, p, n);
    body[n] = '\0';
    int len = oai_body_fix(body, n, cap, "max_tokens", (n & 1) ? "max_completion_tokens" : NULL);
    if (len >= 0) {
        cJSON *root = cJSON_ParseWithLength(body, (size_t)len);
        if (!cJSON_IsObject(root) || cJSON_GetObjectItemCaseSensitive(root, "max_tokens") ||
            ((n & 1) && !cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens")) || (size_t)len >= cap)
            abort();
        cJSON_Delete(root);
    }
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (!p)
        abort();
    memcpy(p, data, size);
    fz_chunk(p, size);
    fz_bodies(p, size);
    fz_roundtrip(p, size);
    fz_build(p, size);
    fz_providers(p, size);
    free(p);
    return 0;
}
