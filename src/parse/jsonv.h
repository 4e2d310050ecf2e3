/* Strict JSON validator (RFC 8259 plus our rules), run on every text message
 * before cJSON sees it, so that what cJSON would accept laxly never reaches the
 * application:
 *   - grammar exactly RFC 8259 (no trailing commas, comments, NaN, leading
 *     zeros, single quotes, unescaped control characters, trailing garbage);
 *   - raw bytes in strings are valid UTF-8; \u escapes are valid (surrogates
 *     paired); \u0000 is refused (C strings would cut it short);
 *   - nesting depth <= max_depth; keys per object <= JSONV_MAX_KEYS;
 *   - duplicate keys in one object refused (compared after unescaping);
 *   - numbers: at most JSONV_MAX_NUMBER_LEN characters and finite as a double
 *     (1e400 is refused).
 * Pure: no I/O, no heap (bounded stack only). deps: utf8.c */
#ifndef JSONV_H
#define JSONV_H
#include "parse/base.h"

#define JSONV_MAX_DEPTH_LIMIT 64 /* hard ceiling for max_depth */
#define JSONV_MAX_KEYS 64        /* keys in one object */
#define JSONV_MAX_NUMBER_LEN 64  /* characters in one number */

enum jsonv_error {
    JSONV_OK = 0,
    JSONV_E_SYNTAX = -1,   /* not JSON */
    JSONV_E_DEPTH = -2,    /* nested deeper than max_depth */
    JSONV_E_NUL = -3,      /* \u0000 in a string */
    JSONV_E_UTF8 = -4,     /* invalid UTF-8 or unpaired surrogate escape */
    JSONV_E_NUMBER = -5,   /* number too long or out of double range */
    JSONV_E_DUP_KEY = -6,  /* duplicate key in one object */
    JSONV_E_TOO_MANY_KEYS = -7,
};

/* Validate p[0..n) as one JSON value (surrounding whitespace allowed).
 * On error, *err_off (if not NULL) receives the byte offset where it was found
 * (n for truncated input; the opening quote of a duplicate or excess key; the
 * first byte of a bad number; the backslash of an unpaired surrogate or
 * \u0000 escape); on success it is left untouched.
 * Depth counts open arrays/objects: a scalar has depth 0, [] and {} have 1,
 * so max_depth 0 allows scalars only. max_depth above JSONV_MAX_DEPTH_LIMIT
 * is treated as JSONV_MAX_DEPTH_LIMIT. Stack use is fixed (about 33 KiB);
 * time is linear: each key is compared with at most 6 others (binary search
 * in a per-object table sorted by decoded content). p may be NULL if n is 0. */
int jsonv_validate(const uint8_t *p, size_t n, unsigned max_depth, size_t *err_off);

/* Short English description of a result, for error messages. */
const char *jsonv_strerror(int err);
#endif
