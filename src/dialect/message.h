/* A text message on the JSON dialects (/ws/ and the stream API): validated
 * strictly (jsonv: RFC 8259 only, UTF-8, no duplicate keys, depth cap)
 * before cJSON sees it, then checked for the one shape both dialects share,
 * an object with a string "type". Each dialect answers a bad message in its
 * own error shape. deps: jsonv.c utf8.c, cJSON */
#ifndef MESSAGE_H
#define MESSAGE_H
#include <cJSON.h>

#include "parse/base.h"

#define MESSAGE_TYPE_ECHO_MAX 64 /* how much of an unknown type we quote back */

struct message_error {
    const char *code; /* INVALID_JSON, INVALID_MESSAGE or SERVER_BUSY */
    char text[160];
};

/* The message as a cJSON object (the caller deletes it) with *type its
 * "type" string; NULL with *err set when it is not one. */
cJSON *message_parse(const uint8_t *p, size_t n, unsigned max_depth, const char **type,
                     struct message_error *err);

/* "unknown message type \"…\"", quoting at most MESSAGE_TYPE_ECHO_MAX bytes
 * of type, cut at a UTF-8 character boundary (a cut one would make our text
 * frame invalid). */
void message_unknown_type(const char *type, char *out, size_t cap);
#endif
