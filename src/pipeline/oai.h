/* OpenAI REST wire formats (chat completions with stream=true, audio/speech,
 * audio/transcriptions multipart), built and parsed with cJSON so every
 * string produced is valid JSON with correct escaping. No I/O; cJSON uses the
 * heap internally, but nothing allocated escapes a call: every result is
 * copied into a caller buffer and is NUL-terminated. Inputs that are not
 * valid UTF-8 are refused (-1) rather than passed on, because cJSON copies
 * bytes as they are. deps: utf8.c, libs: cjson. */
#ifndef OAI_H
#define OAI_H
#include "parse/base.h"

/* cJSON_PrintPreallocated reserves some room while printing (its header
 * says "5 bytes more than you actually need"), so a body of length L is
 * guaranteed to fit only when cap >= L + 1 + OAI_PRINT_SLACK; with less it
 * may be refused (-1) though L + 1 bytes would do. */
#define OAI_PRINT_SLACK 5

struct oai_msg {
    const char *role; /* "system", "user", "assistant", ... */
    const char *content;
};

/* Request body of POST /v1/chat/completions:
 *   {"model":M,"messages":[{"role":"system","content":S}, hist...,
 *    {"role":"user","content":U}],"temperature":T,"max_tokens":N,"stream":true}
 * system_prompt NULL or "" omits the system message; user_text NULL omits the
 * final user message; temperature < 0 (or NaN) omits "temperature";
 * max_tokens 0 omits "max_tokens". Returns the length written to out
 * (NUL-terminated, < cap), or -1 if it does not fit (see OAI_PRINT_SLACK),
 * on a NULL model/role/content, or on invalid UTF-8. */
int oai_chat_body(char *out, size_t cap, const char *model, double temperature,
                  unsigned max_tokens, const char *system_prompt, const struct oai_msg *hist,
                  size_t nhist, const char *user_text);

/* Request body of POST /v1/chat/completions in JSON mode, not streamed:
 *   {"model":M,"messages":[{"role":"system","content":S},{"role":"user",
 *    "content":U}],"temperature":T,"max_tokens":N,
 *    "response_format":{"type":"json_object"}}
 * with the omission rules of oai_chat_body (system_prompt "" omits the
 * system message); NULL system_prompt or user_text is refused. Returns the
 * length (NUL-terminated, < cap) or -1 as oai_chat_body. */
int oai_chat_json_body(char *out, size_t cap, const char *model, double temperature,
                       unsigned max_tokens, const char *system_prompt, const char *user_text);

/* The model options of a chat body (the _p forms): temperature < 0 (or
 * NaN) omits it (reasoning models take only the default); max_tokens 0
 * omits the limit, else it is sent under token_param ("max_tokens" when
 * NULL/"", or "max_completion_tokens", which gpt-5 / o-series require);
 * reasoning_effort NULL/"" omits it. */
struct oai_chat_params {
    const char *model;
    double temperature;
    unsigned max_tokens;
    const char *token_param;
    const char *reasoning_effort;
};
int oai_chat_body_p(char *out, size_t cap, const struct oai_chat_params *cp, const char *system_prompt,
                    const struct oai_msg *hist, size_t nhist, const char *user_text);
int oai_chat_json_body_p(char *out, size_t cap, const struct oai_chat_params *cp, const char *system_prompt,
                         const char *user_text);

/* Request body of POST /v1/audio/speech:
 *   {"model":M,"input":I,"voice":V,"response_format":F}
 * Returns the length (NUL-terminated, < cap) or -1 (does not fit, see
 * OAI_PRINT_SLACK; NULL or invalid UTF-8 argument). */
int oai_speech_body(char *out, size_t cap, const char *model, const char *voice,
                    const char *format, const char *input);
/* The same with "instructions" (how to speak; gpt-4o-mini-tts) when not
 * NULL/"" and "speed" when > 0. */
int oai_speech_body_p(char *out, size_t cap, const char *model, const char *voice, const char *format,
                      const char *input, const char *instructions, double speed);

/* The multipart/form-data bytes around the audio file of POST
 * /v1/audio/transcriptions (RFC 7578), the caller streaming the file between
 * them. With B = boundary, pre is
 *   --B\r\nContent-Disposition: form-data; name="model"\r\n\r\nMODEL\r\n
 *   [--B\r\nContent-Disposition: form-data; name="language"\r\n\r\nLANG\r\n]
 *   [--B\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nPROMPT\r\n]
 *   --B\r\nContent-Disposition: form-data; name="file"; filename="FILE"\r\n
 *   Content-Type: CTYPE\r\n\r\n
 * and post is "\r\n--B--\r\n". language/prompt NULL or "" are omitted.
 * Refused (-1): boundary empty, longer than 70 or outside the RFC 2046
 * bchars (letters, digits, '()+_,-./:=?' and inner spaces); a field value or
 * content type containing CR, LF, NUL or "--B"; a filename containing '"',
 * '\\', CR or LF; invalid UTF-8; a buffer too small. Field values are sent
 * as plain UTF-8. On success returns 0, both buffers are NUL-terminated and
 * *pre_len / *post_len hold their lengths (without the NUL). */
int oai_multipart_parts(char *pre, size_t precap, char *post, size_t postcap,
                        const char *boundary, const char *filename, const char *file_ctype,
                        const char *model, const char *language, const char *prompt,
                        size_t *pre_len, size_t *post_len);

enum oai_chunk {
    OAI_CHUNK_DELTA,  /* delta[0..*dlen) is text to append (may be empty) */
    OAI_CHUNK_DONE,   /* "[DONE]": end of the stream */
    OAI_CHUNK_ERROR,  /* err holds a message */
    OAI_CHUNK_IGNORE, /* valid chunk carrying no text (role-only, finish_reason,
                         usage-only with "choices":[]) */
};

/* One SSE "data" payload of a streamed chat completion, data[0..n) (need not
 * be NUL-terminated):
 *   "[DONE]" (surrounding whitespace allowed)           -> OAI_CHUNK_DONE
 *   object with an "error" member                       -> OAI_CHUNK_ERROR,
 *       err = error.message (or error itself if a string, else "upstream error")
 *   choices[0].delta.content is a string                -> OAI_CHUNK_DELTA
 *       (copied into delta, NUL-terminated, *dlen = its length; if it does
 *       not fit in cap - 1 bytes -> OAI_CHUNK_ERROR "delta too long")
 *   any other JSON object                               -> OAI_CHUNK_IGNORE
 *   not a JSON object, NUL byte, or invalid UTF-8       -> OAI_CHUNK_ERROR
 *       "malformed chunk"
 * err (errcap bytes, may be NULL/0) is always NUL-terminated when errcap > 0
 * and truncated at a UTF-8 code point boundary. *dlen is 0 unless DELTA.
 * delta may be NULL only if cap is 0 (then any non-empty content is too long). */
int oai_chat_chunk(const char *data, size_t n, char *delta, size_t cap, size_t *dlen, char *err,
                   size_t errcap);

/* "text" of a transcription response ({"text":"...", "usage":...}):
 * length copied into out (NUL-terminated), -1 malformed JSON or no string
 * "text", -2 does not fit in cap - 1 bytes. */
int oai_transcript(const char *body, size_t n, char *out, size_t cap);

enum oai_stt_event {
    OAI_STT_DELTA,  /* {"type":"transcript.text.delta","delta":D}: text[0..*tlen) is D */
    OAI_STT_DONE,   /* {"type":"transcript.text.done","text":T}: text[0..*tlen) is T, the whole transcript */
    OAI_STT_IGNORE, /* another event type (logprobs, usage, ...) */
    OAI_STT_ERROR,  /* {"error":...}, malformed JSON, NUL, invalid UTF-8, no string, or too long for cap - 1 */
};
/* One SSE "data" payload of a streamed transcription (stream=true on
 * /audio/transcriptions, gpt-4o*-transcribe), data[0..n). text is always
 * NUL-terminated when cap > 0; *tlen is 0 unless DELTA or DONE. */
int oai_stt_event(const char *data, size_t n, char *text, size_t cap, size_t *tlen);

/* choices[0].message.content of a (not streamed) chat completion: length
 * copied into out (NUL-terminated), -1 malformed JSON or no such string, -2
 * does not fit in cap - 1 bytes. */
int oai_chat_content(const char *body, size_t n, char *out, size_t cap);

/* The message of an error body, in the shapes OpenAI-compatible servers
 * send: {"error":{"message":M}}, {"error":M}, {"detail":M},
 * {"detail":[{"msg":M}]} (FastAPI), {"message":M}: length copied into out
 * (NUL-terminated, truncated at a UTF-8 code point boundary if too long),
 * or -1 if there is no such string (plain text, HTML, other JSON). */
int oai_error_message(const char *body, size_t n, char *out, size_t cap);

/* error.param (and error.code, "" when absent) of an OpenAI error body
 * {"error":{"param":P,"code":C}}: 0, or -1 when there is no string param
 * or it does not fit pcap - 1 bytes. */
int oai_error_param(const char *body, size_t n, char *param, size_t pcap, char *code, size_t ccap);

/* Rewrite a JSON request body body[0..len) in place (cap bytes): member
 * param removed, or renamed to replacement when that is not NULL/"" (same
 * value). New length (NUL-terminated), or -1 when the body is not a JSON
 * object, has no such member, already has replacement, or the result does
 * not fit (OAI_PRINT_SLACK). For the retry after a 400 naming a parameter. */
int oai_body_fix(char *body, size_t len, size_t cap, const char *param, const char *replacement);
#endif
