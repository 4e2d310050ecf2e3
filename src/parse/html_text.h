/* Incremental HTML-to-text reducer for fetched job postings: feed the body in
 * pieces as it arrives, get plain UTF-8 text in a caller-owned buffer.
 *   - raw-text elements (script, style, title, textarea, noscript, xmp,
 *     noembed, noframes, plaintext) and the contents of head (ended by
 *     </head> or any start tag that does not belong in a head, as browsers
 *     do), template, svg, math, iframe, object, canvas, video, audio and
 *     select are dropped; comments, doctype and processing instructions too;
 *   - block elements end a line (p, h1-6, ul/ol/table/section... a blank
 *     line; br, div, li, tr, dt/dd... a line break; li starts with "- ";
 *     td/th a space); inline tags (a, b, span, ...) add nothing;
 *   - character references: &amp; &lt; &gt; &quot; &apos; &nbsp; and ~60
 *     other common named ones, &#N; and &#xH; (NUL, surrogates and values
 *     over U+10FFFF become U+FFFD, 0x80-0x9F map as windows-1252 like
 *     browsers do); an unknown one stays as written;
 *   - whitespace runs collapse to one space, line breaks to at most one blank
 *     line; no leading or trailing whitespace; control characters become
 *     whitespace;
 *   - input is UTF-8 (invalid sequences become U+FFFD) or, with
 *     HTML_TEXT_LATIN1, windows-1252 (what browsers use for an iso-8859-1
 *     label); HTML_TEXT_PLAIN treats it as text/plain
 *     (no markup, no references, newlines kept);
 *   - output capped at cap - 1 bytes plus a NUL, cut only between whole
 *     characters; then `truncated` is set and the rest of the input is
 *     ignored.
 * Pure: no I/O, no allocation. deps: none */
#ifndef HTML_TEXT_H
#define HTML_TEXT_H
#include "parse/base.h"

#define HTML_TEXT_NAME_MAX 16 /* longer tag names are unknown tags */
#define HTML_TEXT_REF_MAX 32  /* longer "&..." runs are literal text */

enum { HTML_TEXT_PLAIN = 1, HTML_TEXT_LATIN1 = 2 };

struct html_text {
    /* output: out[0..len) is the text so far, always NUL-terminated */
    char *out;
    size_t cap, len;
    bool truncated;
    /* private (html_text_init) */
    unsigned flags;
    uint8_t st, ws;
    bool any, closing, selfclose, skipping, after_eq;
    uint8_t need;          /* UTF-8 continuation bytes still expected */
    uint32_t cp, min;      /* code point being decoded, its smallest legal value */
    char name[HTML_TEXT_NAME_MAX + 1];
    uint8_t name_len;
    bool name_long;
    char quote;
    uint8_t raw;           /* raw-text element being skipped (index), match position */
    uint8_t match;
    uint8_t skip_el;
    uint32_t skip_depth;
    uint8_t dashes;
    char ref[HTML_TEXT_REF_MAX + 1];
    uint8_t ref_len;
};

/* cap >= 1 (room for the NUL). */
void html_text_init(struct html_text *h, char *out, size_t cap, unsigned flags);
/* Consume in[0..n): always returns n (there is no malformed HTML, only text). */
ssize_t html_text_feed(struct html_text *h, const uint8_t *in, size_t n);
/* End of input: flushes a pending reference or partial UTF-8 sequence.
 * Returns len. */
size_t html_text_finish(struct html_text *h);
#endif
