/* Incremental sentence splitter for streamed LLM text, so TTS can start on
 * the first sentence while the rest is still being generated. The caller
 * keeps the unsent text in a buffer, calls sentence_next after each delta,
 * sends and drops the returned prefix, and repeats until it returns 0.
 * Pure: no I/O, no heap. deps: none.
 *
 * A sentence ends
 *   - at '.', '!', '?' or U+2026 '…' (a run of them: "?!", "...") followed by
 *     optional closers (" ' ) ] } and U+201D ” U+2019 ’ U+00BB » U+300D 」
 *     U+300F 』 U+FF09 ）) and then whitespace (space, tab, CR, LF, VT, FF);
 *     at the end of the text this counts only when final;
 *   - at U+3002 '。', U+FF01 '！' or U+FF1F '？' (plus closers), with no
 *     whitespace needed, because CJK text puts none between sentences (at the
 *     end of the text only when final, as closers may follow);
 *   - at a newline '\n' (even at the end of the text).
 * The sentence includes the closers and all the whitespace that follows.
 * A '.' is no boundary after a single capital-letter initial ("J. Smith",
 * "U.S. is") except the pronoun "I", or after the abbreviations Mr Mrs Ms Dr
 * Prof Sr Jr St vs etc e.g i.e (ASCII case-insensitive, as a whole word).
 * A decimal number never splits because "3.14" has no whitespace after '.'.
 * A candidate with no non-whitespace byte (blank lines) is never a sentence
 * on its own: it is merged into the next.
 *
 * min_len: a candidate shorter than min_len bytes is merged with the next one
 * (0 = no merging). max_len (0 = unlimited; values below 4 act as 4, the
 * longest UTF-8 sequence, so a cut can always hold one character): the
 * result never exceeds len nor that effective max_len. If the first
 * acceptable boundary lies beyond max_len, the last (possibly short)
 * boundary within max_len is used; without one, once len > max_len (or when
 * final), the text is cut after the last whitespace byte in
 * text[0..max_len) that follows some non-whitespace, else at max_len moved
 * back to a UTF-8 code point start.
 * final: no more text will come; if no boundary applies, the whole remaining
 * text is returned (subject to max_len), untrimmed.
 * Returns the sentence length in bytes (> 0, <= len, always at a UTF-8 code
 * point boundary of well-formed input), or 0 when no sentence is complete yet
 * (always 0 for len == 0). text may be NULL if len is 0. */
#ifndef SENTENCE_H
#define SENTENCE_H
#include "parse/base.h"

size_t sentence_next(const char *text, size_t len, bool final, size_t min_len, size_t max_len);
#endif
