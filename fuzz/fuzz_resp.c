// deps: src/parse/resp.c
/* resp_parse on arbitrary bytes, replies parsed one after another as the
 * Redis client does. Invariants: the consumed length is within the input;
 * every proper prefix of a parsed reply is RESP_INCOMPLETE (nothing accepted
 * early); slot sizes add up (an aggregate's size is 1 + its children's);
 * every string lies inside the input. An array of bulk strings re-encoded by
 * resp_encode_command parses back to the same strings. No slot at all is
 * RESP_TOO_MANY; a command of no words has no length. */
#include "parse/resp.h"

#include <stdlib.h>
#include <string.h>

#define FZ_CHECK(c)                                                            \
    do {                                                                       \
        if (!(c))                                                              \
            abort();                                                           \
    } while (0)

#define FZ_SLOTS 256

static struct resp_value fz_v[FZ_SLOTS], fz_w[FZ_SLOTS];

/* Checks the subtree at v (within v[0..n)); returns its size. */
static uint32_t fz_tree(const struct resp_value *v, size_t n, const char *buf, size_t len)
{
    FZ_CHECK(n >= 1 && v->size >= 1 && v->size <= n);
    if (v->str)
        FZ_CHECK(v->str >= buf && v->str + v->len <= buf + len);
    if (v->type != RESP_ARRAY && v->type != RESP_MAP && v->type != RESP_PUSH) {
        FZ_CHECK(v->size == 1 && resp_child(v, 0) == NULL);
        return 1;
    }
    uint32_t total = 1;
    for (uint32_t k = 0; k < v->count; k++) {
        const struct resp_value *c = resp_child(v, k);
        FZ_CHECK(c == v + total);
        total += fz_tree(c, n - total, buf, len);
    }
    FZ_CHECK(total == v->size && resp_child(v, v->count) == NULL);
    return total;
}

/* An array of bulk strings: encode it again and compare. */
static void fz_roundtrip(const struct resp_value *v)
{
    if (v->type != RESP_ARRAY || v->count == 0 || v->count > 64 || v->size != v->count + 1)
        return;
    const char *argv[64];
    size_t lens[64], total = 0;
    for (uint32_t k = 0; k < v->count; k++) {
        if (v[1 + k].type != RESP_BULK)
            return;
        argv[k] = v[1 + k].str;
        lens[k] = v[1 + k].len;
        total += lens[k];
    }
    if (total > 65536)
        return;
    size_t need = resp_command_len((int)v->count, argv, lens);
    char *out = malloc(need);
    FZ_CHECK(out && resp_encode_command(out, need, (int)v->count, argv, lens) == need);
    FZ_CHECK(resp_encode_command(out, need - 1, (int)v->count, argv, lens) == 0);
    size_t used = 0;
    FZ_CHECK(resp_parse(out, need, fz_w, FZ_SLOTS, &used) == (ssize_t)need && used == v->count + 1);
    for (uint32_t k = 0; k < v->count; k++)
        FZ_CHECK(resp_is(&fz_w[1 + k], argv[k], lens[k]));
    free(out);
}

/* The contract edges: no slot for a value, no command word. */
static void fz_edges(void)
{
    struct resp_value v;
    size_t used;
    if (resp_parse("+OK\r\n", 5, &v, 0, &used) != RESP_TOO_MANY || resp_command_len(0, NULL, NULL) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_edges();
    char *buf = malloc(size ? size : 1);
    FZ_CHECK(buf);
    if (size)
        memcpy(buf, data, size);
    size_t off = 0;
    for (int replies = 0; off < size && replies < 64; replies++) {
        size_t used = 0;
        ssize_t rc = resp_parse(buf + off, size - off, fz_v, FZ_SLOTS, &used);
        if (rc <= 0) {
            FZ_CHECK(rc == RESP_INCOMPLETE || rc == RESP_ERROR || rc == RESP_TOO_MANY);
            break;
        }
        FZ_CHECK((size_t)rc <= size - off && used == fz_v[0].size);
        fz_tree(fz_v, used, buf + off, (size_t)rc);
        fz_roundtrip(fz_v);
        /* a proper prefix (one, chosen by the reply's length) is incomplete */
        size_t k = (size_t)rc / 2;
        FZ_CHECK(resp_parse(buf + off, k, fz_w, FZ_SLOTS, NULL) == RESP_INCOMPLETE);
        off += (size_t)rc;
    }
    free(buf);
    return 0;
}
