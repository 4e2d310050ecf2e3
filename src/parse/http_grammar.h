/* RFC 9110 character classes and the header-name comparison that both HTTP
 * parsers (http_req.c for requests, http_resp.c for the API's responses) read
 * the same way. Header-only: each is a line or two. */
#ifndef HTTP_GRAMMAR_H
#define HTTP_GRAMMAR_H
#include "parse/base.h"

/* RFC 9110 5.6.2 tchar: the bytes of methods, header names and tokens. */
static inline bool http_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

/* VCHAR: visible ASCII. */
static inline bool http_is_vchar(unsigned char c) { return c >= 0x21 && c <= 0x7E; }

/* field-value / reason-phrase / chunk-ext bytes (RFC 9110 5.5): VCHAR,
 * obs-text, SP, HTAB. */
static inline bool http_is_value_byte(unsigned char c) { return http_is_vchar(c) || c >= 0x80 || c == ' ' || c == '\t'; }

/* OWS: optional whitespace around field values. */
static inline bool http_is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

static inline unsigned char http_lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c; }

/* Case-insensitive equality of a slice and a NUL-terminated ASCII string. */
static inline bool http_ieq(struct slice s, const char *lit)
{
    size_t i = 0;
    for (; i < s.n; i++) {
        if (lit[i] == '\0' || http_lower((unsigned char)s.p[i]) != http_lower((unsigned char)lit[i]))
            return false;
    }
    return lit[i] == '\0';
}
#endif
