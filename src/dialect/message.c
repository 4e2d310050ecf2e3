/* deps: jsonv.c utf8.c, cJSON */
#include "dialect/message.h"

#include <stdio.h>
#include <string.h>

#include "parse/jsonv.h"

cJSON *message_parse(const uint8_t *p, size_t n, unsigned max_depth, const char **type,
                     struct message_error *err)
{
    size_t off = 0;
    int v = jsonv_validate(p, n, max_depth, &off);
    if (v != JSONV_OK) {
        err->code = "INVALID_JSON";
        snprintf(err->text, sizeof err->text, "invalid JSON at byte %zu: %s", off, jsonv_strerror(v));
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)p, n);
    if (!root) {
        err->code = "SERVER_BUSY";
        snprintf(err->text, sizeof err->text, "out of memory parsing message");
        return NULL;
    }
    const cJSON *t = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "type") : NULL;
    if (cJSON_IsString(t)) {
        *type = t->valuestring;
        return root;
    }
    err->code = "INVALID_MESSAGE";
    snprintf(err->text, sizeof err->text, "%s",
             cJSON_IsObject(root) ? "message needs a string field \"type\"" : "message must be a JSON object");
    cJSON_Delete(root);
    return NULL;
}

/* Length of the longest prefix of s, at most max bytes, that does not cut a
 * UTF-8 sequence. */
static size_t message_utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

void message_unknown_type(const char *type, char *out, size_t cap)
{
    snprintf(out, cap, "unknown message type \"%.*s\"", (int)message_utf8_prefix(type, MESSAGE_TYPE_ECHO_MAX),
             type);
}
