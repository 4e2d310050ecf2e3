// deps: src/parse/html_text.c src/parse/utf8.c
/* libFuzzer harness for html_text.c. Byte 0 picks the flags (plain, latin1)
 * and the output cap, byte 1 a split point; the rest is the document.
 * Invariants: feeding whole or split gives the same text and truncation; the
 * text is valid UTF-8, shorter than the cap, NUL-terminated at len, has no
 * leading/trailing whitespace, no double space, no control character. */
#include <stdlib.h>
#include <string.h>

#include "parse/html_text.h"
#include "parse/utf8.h"

static char fz_a[70000], fz_b[70000];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned flags = data[0] & 3;
    size_t cap = (data[0] >> 2) == 0 ? 1 : ((size_t)(data[0] >> 2) * 1000) % sizeof fz_a + 1;
    const uint8_t *in = data + 2;
    size_t n = size - 2;
    size_t cut = n ? (size_t)data[1] * 257 % (n + 1) : 0;
    struct html_text a, b;
    html_text_init(&a, NULL, 0, flags); /* no room at all: truncated from the start */
    if (!a.truncated)
        abort();
    html_text_init(&a, fz_a, cap, flags);
    if (html_text_feed(&a, in, n) != (ssize_t)n)
        abort();
    html_text_finish(&a);
    html_text_init(&b, fz_b, cap, flags);
    html_text_feed(&b, in, cut);
    html_text_feed(&b, in + cut, n - cut);
    html_text_finish(&b);
    if (a.len != b.len || a.truncated != b.truncated || memcmp(fz_a, fz_b, a.len + 1) != 0)
        abort();
    if (a.len >= cap || fz_a[a.len] != '\0' || strlen(fz_a) != a.len)
        abort();
    if (!utf8_valid((const uint8_t *)fz_a, a.len))
        abort();
    if (a.len && (fz_a[0] == ' ' || fz_a[0] == '\n' || fz_a[a.len - 1] == ' ' || fz_a[a.len - 1] == '\n'))
        abort();
    for (size_t i = 0; i < a.len; i++) {
        unsigned char c = (unsigned char)fz_a[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            abort();
        if (c == ' ' && i + 1 < a.len && (fz_a[i + 1] == ' ' || fz_a[i + 1] == '\n'))
            abort();
    }
    if (strstr(fz_a, "\n\n\n"))
        abort();
    return 0;
}
