/* OpenAI wire formats, see oai.h. deps: utf8.c, libs: cjson.
 *
 * Bodies are built as cJSON trees and printed with cJSON_PrintPreallocated
 * into the caller's buffer, so escaping is cJSON's and no printed copy is
 * allocated. Parsed inputs are checked for UTF-8 validity and for \u0000
 * escapes before cJSON sees them: cJSON copies raw bytes unchecked and would
 * silently cut a string at a decoded NUL. */
#include "pipeline/oai.h"

#include "parse/utf8.h"

#include <cJSON.h>
#include <limits.h>
#include <string.h>

static bool oai_str_ok(const char *s)
{
    return s && utf8_valid((const uint8_t *)s, strlen(s));
}

/* Copy s (NUL-terminated) into out[cap]: length, or -1 if it does not fit. */
static int oai_copy(char *out, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (!out || n >= cap || n > INT_MAX)
        return -1;
    memcpy(out, s, n + 1);
    return (int)n;
}

/* Copy s truncated to fit out[cap], never splitting a UTF-8 sequence. */
static size_t oai_copy_trunc(char *out, size_t cap, const char *s)
{
    if (!out || cap == 0)
        return 0;
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return n;
}

/* Print root into out[cap]; frees root. Length or -1. */
static int oai_print(cJSON *root, char *out, size_t cap)
{
    int rc = -1;
    /* PrintPreallocated takes an int length; a larger buffer is clamped,
     * which can only make a fitting body look too long, never overflow. */
    int icap = cap > INT_MAX ? INT_MAX : (int)cap;
    if (root && out && icap > 0 && cJSON_PrintPreallocated(root, out, icap, 0)) {
        size_t n = strnlen(out, (size_t)icap);
        if (n < (size_t)icap)
            rc = (int)n;
    }
    cJSON_Delete(root);
    return rc;
}

/* Add {"role":role,"content":content} to arr; false on failure. */
static bool oai_add_msg(cJSON *arr, const char *role, const char *content)
{
    if (!oai_str_ok(role) || !oai_str_ok(content))
        return false;
    cJSON *m = cJSON_CreateObject();
    if (!m)
        return false;
    if (!cJSON_AddItemToArray(arr, m))
        return cJSON_Delete(m), false;
    return cJSON_AddStringToObject(m, "role", role) && cJSON_AddStringToObject(m, "content", content);
}

/* The chat completion body both forms share; json_mode asks for
 * "response_format":{"type":"json_object"} instead of "stream":true. */
static int oai_chat_build(char *out, size_t cap, const struct oai_chat_params *cp, const char *system_prompt,
                          const struct oai_msg *hist, size_t nhist, const char *user_text, bool json_mode)
{
    const char *limit = cp->token_param && cp->token_param[0] ? cp->token_param : "max_tokens";
    if (!oai_str_ok(cp->model) || (nhist > 0 && !hist) || !oai_str_ok(limit) ||
        (cp->reasoning_effort && !oai_str_ok(cp->reasoning_effort)))
        return -1;
    cJSON *root = cJSON_CreateObject();
    /* cJSON keeps members in insertion order: model, messages, options. */
    bool ok = root && cJSON_AddStringToObject(root, "model", cp->model);
    cJSON *msgs = ok ? cJSON_AddArrayToObject(root, "messages") : NULL;
    ok = msgs != NULL;
    if (ok && system_prompt && system_prompt[0])
        ok = oai_add_msg(msgs, "system", system_prompt);
    for (size_t i = 0; ok && i < nhist; i++)
        ok = oai_add_msg(msgs, hist[i].role, hist[i].content);
    if (ok && user_text)
        ok = oai_add_msg(msgs, "user", user_text);
    /* false for NaN too */
    if (ok && cp->temperature >= 0)
        ok = cJSON_AddNumberToObject(root, "temperature", cp->temperature) != NULL;
    if (ok && cp->max_tokens > 0)
        ok = cJSON_AddNumberToObject(root, limit, (double)cp->max_tokens) != NULL;
    if (ok && cp->reasoning_effort && cp->reasoning_effort[0])
        ok = cJSON_AddStringToObject(root, "reasoning_effort", cp->reasoning_effort) != NULL;
    if (ok && !json_mode)
        ok = cJSON_AddTrueToObject(root, "stream") != NULL;
    if (ok && json_mode) {
        cJSON *rf = cJSON_AddObjectToObject(root, "response_format");
        ok = rf && cJSON_AddStringToObject(rf, "type", "json_object");
    }
    if (!ok) {
        cJSON_Delete(root);
        return -1;
    }
    return oai_print(root, out, cap);
}

int oai_chat_body_p(char *out, size_t cap, const struct oai_chat_params *cp, const char *system_prompt,
                    const struct oai_msg *hist, size_t nhist, const char *user_text)
{
    return oai_chat_build(out, cap, cp, system_prompt, hist, nhist, user_text, false);
}

int oai_chat_json_body_p(char *out, size_t cap, const struct oai_chat_params *cp, const char *system_prompt,
                         const char *user_text)
{
    if (!system_prompt || !user_text)
        return -1;
    return oai_chat_build(out, cap, cp, system_prompt, NULL, 0, user_text, true);
}

int oai_chat_body(char *out, size_t cap, const char *model, double temperature,
                  unsigned max_tokens, const char *system_prompt, const struct oai_msg *hist,
                  size_t nhist, const char *user_text)
{
    struct oai_chat_params cp = {.model = model, .temperature = temperature, .max_tokens = max_tokens};
    return oai_chat_body_p(out, cap, &cp, system_prompt, hist, nhist, user_text);
}

int oai_chat_json_body(char *out, size_t cap, const char *model, double temperature,
                       unsigned max_tokens, const char *system_prompt, const char *user_text)
{
    struct oai_chat_params cp = {.model = model, .temperature = temperature, .max_tokens = max_tokens};
    return oai_chat_json_body_p(out, cap, &cp, system_prompt, user_text);
}

int oai_speech_body_p(char *out, size_t cap, const char *model, const char *voice, const char *format,
                      const char *input, const char *instructions, double speed)
{
    if (!oai_str_ok(model) || !oai_str_ok(voice) || !oai_str_ok(format) || !oai_str_ok(input) ||
        (instructions && !oai_str_ok(instructions)))
        return -1;
    cJSON *root = cJSON_CreateObject();
    bool ok = root && cJSON_AddStringToObject(root, "model", model) &&
              cJSON_AddStringToObject(root, "input", input) &&
              cJSON_AddStringToObject(root, "voice", voice) &&
              cJSON_AddStringToObject(root, "response_format", format);
    if (ok && instructions && instructions[0])
        ok = cJSON_AddStringToObject(root, "instructions", instructions) != NULL;
    if (ok && speed > 0) /* false for NaN too */
        ok = cJSON_AddNumberToObject(root, "speed", speed) != NULL;
    if (!ok) {
        cJSON_Delete(root);
        return -1;
    }
    return oai_print(root, out, cap);
}

int oai_speech_body(char *out, size_t cap, const char *model, const char *voice,
                    const char *format, const char *input)
{
    return oai_speech_body_p(out, cap, model, voice, format, input, NULL, 0);
}

/* ---- multipart ---------------------------------------------------------- */

#define OAI_BOUNDARY_MAX 70 /* RFC 2046 section 5.1.1 */

/* RFC 2046 bchars; a space is allowed but not last. */
static bool oai_boundary_ok(const char *b)
{
    size_t n = strlen(b);
    if (n == 0 || n > OAI_BOUNDARY_MAX || b[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c != '\0' && strchr("'()+_,-./:=? ", c) != NULL);
        if (!ok)
            return false;
    }
    return true;
}

/* A value that cannot end its part early: no CR/LF (a header or the part
 * would end) and no "--boundary" (a delimiter inside the value). */
static bool oai_value_ok(const char *v, const char *boundary)
{
    if (!oai_str_ok(v) || strpbrk(v, "\r\n"))
        return false;
    for (const char *p = strstr(v, "--"); p; p = strstr(p + 1, "--"))
        if (strncmp(p + 2, boundary, strlen(boundary)) == 0)
            return false;
    return true;
}

/* Append-only writer into a fixed buffer; overflow latches. */
struct oai_buf {
    char *p;
    size_t cap, len;
    bool overflow;
};

static void oai_put(struct oai_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->overflow || n >= b->cap - b->len) { /* keep room for the NUL */
        b->overflow = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void oai_put_field(struct oai_buf *b, const char *boundary, const char *name,
                          const char *value)
{
    oai_put(b, "--");
    oai_put(b, boundary);
    oai_put(b, "\r\nContent-Disposition: form-data; name=\"");
    oai_put(b, name);
    oai_put(b, "\"\r\n\r\n");
    oai_put(b, value);
    oai_put(b, "\r\n");
}

int oai_multipart_parts(char *pre, size_t precap, char *post, size_t postcap,
                        const char *boundary, const char *filename, const char *file_ctype,
                        const char *model, const char *language, const char *prompt,
                        size_t *pre_len, size_t *post_len)
{
    if (!pre || !post || precap == 0 || postcap == 0 || !boundary || !oai_boundary_ok(boundary))
        return -1;
    if (!oai_value_ok(model, boundary) || !oai_value_ok(file_ctype, boundary) ||
        !oai_value_ok(filename, boundary) || strpbrk(filename, "\"\\"))
        return -1;
    bool has_lang = language && language[0], has_prompt = prompt && prompt[0];
    if ((has_lang && !oai_value_ok(language, boundary)) ||
        (has_prompt && !oai_value_ok(prompt, boundary)))
        return -1;
    struct oai_buf a = {pre, precap, 0, false}, z = {post, postcap, 0, false};
    pre[0] = post[0] = '\0';
    oai_put_field(&a, boundary, "model", model);
    if (has_lang)
        oai_put_field(&a, boundary, "language", language);
    if (has_prompt)
        oai_put_field(&a, boundary, "prompt", prompt);
    oai_put(&a, "--");
    oai_put(&a, boundary);
    oai_put(&a, "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"");
    oai_put(&a, filename);
    oai_put(&a, "\"\r\nContent-Type: ");
    oai_put(&a, file_ctype);
    oai_put(&a, "\r\n\r\n");
    oai_put(&z, "\r\n--");
    oai_put(&z, boundary);
    oai_put(&z, "--\r\n");
    if (a.overflow || z.overflow)
        return -1;
    if (pre_len)
        *pre_len = a.len;
    if (post_len)
        *post_len = z.len;
    return 0;
}

/* ---- response parsing --------------------------------------------------- */

static bool oai_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Parse data[0..n) as JSON after the checks cJSON does not make: no NUL
 * byte, valid UTF-8, no \u0000 escape. NULL when any fails. */
static cJSON *oai_parse(const char *data, size_t n)
{
    if (!data || memchr(data, '\0', n) || !utf8_valid((const uint8_t *)data, n))
        return NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        if (data[i] != '\\')
            continue;
        if (data[i + 1] == 'u' && n - i >= 6 && memcmp(data + i + 2, "0000", 4) == 0)
            return NULL;
        i++; /* skip the escaped character, so "\\\\u0000" is text */
    }
    /* cJSON stops at the end of the first value; anything but whitespace
     * after it makes the payload malformed, not a valid prefix. */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(data, n, &end, false);
    if (root && end) {
        for (size_t i = (size_t)(end - data); i < n; i++) {
            if (!oai_is_ws(data[i])) {
                cJSON_Delete(root);
                return NULL;
            }
        }
    }
    return root;
}

/* The error message of an {"error":...} object: error.message if a string,
 * error itself if a string, else a fixed text. */
static const char *oai_error_text(const cJSON *error)
{
    if (cJSON_IsString(error))
        return error->valuestring;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
    if (cJSON_IsString(msg))
        return msg->valuestring;
    return "upstream error";
}

int oai_chat_chunk(const char *data, size_t n, char *delta, size_t cap, size_t *dlen, char *err,
                   size_t errcap)
{
    if (dlen)
        *dlen = 0;
    if (err && errcap > 0)
        err[0] = '\0';
    size_t s = 0, e = n;
    while (s < e && oai_is_ws(data[s]))
        s++;
    while (e > s && oai_is_ws(data[e - 1]))
        e--;
    if (e - s == 6 && memcmp(data + s, "[DONE]", 6) == 0)
        return OAI_CHUNK_DONE;
    cJSON *root = oai_parse(data, n);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        oai_copy_trunc(err, errcap, "malformed chunk");
        return OAI_CHUNK_ERROR;
    }
    int rc = OAI_CHUNK_IGNORE;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *c0 = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(c0, "delta");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(d, "content");
    if (error && !cJSON_IsNull(error)) {
        oai_copy_trunc(err, errcap, oai_error_text(error));
        rc = OAI_CHUNK_ERROR;
    } else if (cJSON_IsString(content)) {
        int len = oai_copy(delta, cap, content->valuestring);
        if (len < 0) {
            oai_copy_trunc(err, errcap, "delta too long");
            rc = OAI_CHUNK_ERROR;
        } else {
            if (dlen)
                *dlen = (size_t)len;
            rc = OAI_CHUNK_DELTA;
        }
    }
    cJSON_Delete(root);
    return rc;
}

int oai_transcript(const char *body, size_t n, char *out, size_t cap)
{
    cJSON *root = oai_parse(body, n);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text");
    int rc = -1;
    if (cJSON_IsObject(root) && cJSON_IsString(text))
        rc = oai_copy(out, cap, text->valuestring) < 0 ? -2 : (int)strlen(text->valuestring);
    cJSON_Delete(root);
    return rc;
}

int oai_chat_content(const char *body, size_t n, char *out, size_t cap)
{
    cJSON *root = oai_parse(body, n);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *c0 = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c0, "message");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    int rc = -1;
    if (cJSON_IsObject(root) && cJSON_IsString(content))
        rc = oai_copy(out, cap, content->valuestring) < 0 ? -2 : (int)strlen(content->valuestring);
    cJSON_Delete(root);
    return rc;
}

int oai_stt_event(const char *data, size_t n, char *text, size_t cap, size_t *tlen)
{
    *tlen = 0;
    if (text && cap)
        text[0] = '\0';
    cJSON *root = oai_parse(data, n);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    int rc = OAI_STT_ERROR;
    const char *member = NULL;
    if (cJSON_IsObject(root) && !cJSON_GetObjectItemCaseSensitive(root, "error")) {
        rc = OAI_STT_IGNORE;
        if (cJSON_IsString(type) && strcmp(type->valuestring, "transcript.text.delta") == 0)
            rc = OAI_STT_DELTA, member = "delta";
        else if (cJSON_IsString(type) && strcmp(type->valuestring, "transcript.text.done") == 0)
            rc = OAI_STT_DONE, member = "text";
    }
    if (member) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, member);
        int len = cJSON_IsString(t) ? oai_copy(text, cap, t->valuestring) : -1;
        if (len < 0)
            rc = OAI_STT_ERROR;
        else
            *tlen = (size_t)len;
    }
    cJSON_Delete(root);
    return rc;
}

/* The message string of an error body in the shapes servers send:
 * {"error":{"message":M}}, {"error":M}, {"detail":M} (FastAPI servers),
 * {"detail":[{"msg":M},...]} (FastAPI validation), {"message":M}. */
static const cJSON *oai_error_item(const cJSON *root)
{
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsString(error))
        return error;
    if (cJSON_IsObject(error))
        return cJSON_GetObjectItemCaseSensitive(error, "message");
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive(root, "detail");
    if (cJSON_IsString(detail))
        return detail;
    if (cJSON_IsArray(detail))
        return cJSON_GetObjectItemCaseSensitive(detail->child, "msg");
    if (cJSON_IsObject(detail))
        return cJSON_GetObjectItemCaseSensitive(detail, "message");
    return cJSON_GetObjectItemCaseSensitive(root, "message");
}

int oai_error_message(const char *body, size_t n, char *out, size_t cap)
{
    cJSON *root = oai_parse(body, n);
    const cJSON *msg = cJSON_IsObject(root) ? oai_error_item(root) : NULL;
    int rc = -1;
    if (cJSON_IsString(msg) && out && cap > 0 && strlen(msg->valuestring) <= INT_MAX)
        rc = (int)oai_copy_trunc(out, cap, msg->valuestring);
    cJSON_Delete(root);
    return rc;
}

int oai_error_param(const char *body, size_t n, char *param, size_t pcap, char *code, size_t ccap)
{
    cJSON *root = oai_parse(body, n);
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(error, "param");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(error, "code");
    int rc = -1;
    if (cJSON_IsObject(error) && cJSON_IsString(p) && param && pcap > strlen(p->valuestring)) {
        oai_copy_trunc(param, pcap, p->valuestring);
        if (code && ccap)
            oai_copy_trunc(code, ccap, cJSON_IsString(c) ? c->valuestring : "");
        rc = 0;
    }
    cJSON_Delete(root);
    return rc;
}

int oai_body_fix(char *body, size_t len, size_t cap, const char *param, const char *replacement)
{
    cJSON *root = oai_parse(body, len);
    cJSON *v = cJSON_IsObject(root) && param ? cJSON_DetachItemFromObjectCaseSensitive(root, param) : NULL;
    bool ok = v != NULL;
    for (cJSON *dup; ok && (dup = cJSON_DetachItemFromObjectCaseSensitive(root, param));)
        cJSON_Delete(dup); /* a key given twice goes entirely (found by fuzz_oai) */
    if (ok && replacement && replacement[0]) {
        ok = oai_str_ok(replacement) && !cJSON_GetObjectItemCaseSensitive(root, replacement) &&
             cJSON_AddItemToObject(root, replacement, v);
        if (!ok)
            cJSON_Delete(v);
    } else {
        cJSON_Delete(v);
    }
    if (!ok) {
        cJSON_Delete(root);
        return -1;
    }
    return oai_print(root, body, cap); /* the tree holds its own copies: printing over body is safe */
}

#undef OAI_BOUNDARY_MAX
