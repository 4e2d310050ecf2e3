// deps: src/parse/resp.c
/* resp_parse on every reply type, each reply also fed in every prefix
 * (which must be RESP_INCOMPLETE: nothing is ever accepted early), from an
 * exact-size heap copy (ASan sees a read past the end); limits; the encoder. */
#include "parse/resp.h"
#include "t.h"

#include <stdlib.h>

static struct resp_value V[64];

/* Parses s whole; every proper prefix must say RESP_INCOMPLETE. */
static ssize_t parse(const char *s, size_t nv)
{
    size_t n = strlen(s);
    for (size_t k = 0; k < n; k++) {
        char *p = malloc(k ? k : 1);
        memcpy(p, s, k);
        ssize_t rc = resp_parse(p, k, V, nv, NULL);
        free(p);
        if (rc != RESP_INCOMPLETE) {
            fprintf(stderr, "prefix %zu of %s: %zd\n", k, s, rc);
            return -100;
        }
    }
    char *p = malloc(n);
    memcpy(p, s, n);
    size_t used = 0;
    ssize_t rc = resp_parse(p, n, V, nv, &used);
    /* strings point into p: keep copies valid by checking before free */
    static char keep[4096];
    memcpy(keep, p, n);
    for (size_t i = 0; rc > 0 && i < used; i++)
        if (V[i].str)
            V[i].str = keep + (V[i].str - p);
    free(p);
    return rc;
}

#define STR_IS(v, lit) ((v)->len == sizeof(lit) - 1 && memcmp((v)->str, lit, (v)->len) == 0)

int main(void)
{
    CHECK(parse("+OK\r\n", 64) == 5 && V[0].type == RESP_SIMPLE && STR_IS(&V[0], "OK"));
    CHECK(parse("-ERR wrong\r\n", 64) == 12 && V[0].type == RESP_ERR && STR_IS(&V[0], "ERR wrong"));
    CHECK(parse(":-42\r\n", 64) == 6 && V[0].type == RESP_INT && V[0].integer == -42);
    CHECK(parse(":9223372036854775807\r\n", 64) > 0 && V[0].integer == INT64_MAX);
    CHECK(parse("$5\r\nhe\r\no\r\n", 64) == 11 && V[0].type == RESP_BULK && STR_IS(&V[0], "he\r\no"));
    CHECK(parse("$0\r\n\r\n", 64) == 6 && V[0].type == RESP_BULK && V[0].len == 0);
    CHECK(parse("$-1\r\n", 64) == 5 && V[0].type == RESP_NIL);
    CHECK(parse("*-1\r\n", 64) == 5 && V[0].type == RESP_NIL);
    CHECK(parse("_\r\n", 64) == 3 && V[0].type == RESP_NIL);
    CHECK(parse("#t\r\n", 64) == 4 && V[0].type == RESP_BOOL && V[0].integer == 1);
    CHECK(parse(",3.5\r\n", 64) == 6 && V[0].type == RESP_DOUBLE && STR_IS(&V[0], "3.5"));
    CHECK(parse("(12345678901234567890\r\n", 64) > 0 && V[0].type == RESP_BIGNUM);
    CHECK(parse("!3\r\nERR\r\n", 64) == 9 && V[0].type == RESP_ERR && STR_IS(&V[0], "ERR"));
    CHECK(parse("=8\r\ntxt:some\r\n", 64) > 0 && V[0].type == RESP_BULK && STR_IS(&V[0], "some"));
    /* a pub/sub message and a nested array */
    CHECK(parse("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nhi!\r\n", 64) == 34 && V[0].type == RESP_ARRAY &&
          V[0].count == 3 && V[0].size == 4 && resp_is(resp_child(&V[0], 0), "message", 7) &&
          STR_IS(resp_child(&V[0], 2), "hi!"));
    CHECK(parse("*2\r\n*2\r\n:1\r\n:2\r\n$1\r\nx\r\n", 64) > 0 && V[0].count == 2 && V[0].size == 5 &&
          V[1].size == 3 && resp_child(&V[0], 1)->type == RESP_BULK && resp_child(&V[0], 1)->str[0] == 'x');
    CHECK(parse("%1\r\n+k\r\n:7\r\n", 64) > 0 && V[0].type == RESP_MAP && V[0].count == 2 &&
          resp_child(&V[0], 1)->integer == 7);
    CHECK(parse(">2\r\n+a\r\n+b\r\n", 64) > 0 && V[0].type == RESP_PUSH);
    CHECK(parse("*0\r\n", 64) == 4 && V[0].count == 0 && V[0].size == 1 && !resp_child(&V[0], 0));
    /* one reply at a time: the rest of the buffer is left */
    CHECK(resp_parse("+A\r\n+B\r\n", 8, V, 64, NULL) == 4);
    /* errors */
    const char *bad[] = {"?\r\n", "+a\rb\r\n", ":1x\r\n", ":\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "*-2\r\n",
                         "#x\r\n", "_x\r\n", "|1\r\n+a\r\n+b\r\n", "=3\r\nabc\r\n", "!-1\r\n",
                         ":99999999999999999999\r\n", "$17000000\r\n"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK(resp_parse(bad[i], strlen(bad[i]), V, 64, NULL) == RESP_ERROR);
    /* depth cap */
    char deep[64] = "";
    for (int i = 0; i < RESP_DEPTH_MAX + 1; i++)
        strcat(deep, "*1\r\n");
    strcat(deep, ":1\r\n");
    CHECK(resp_parse(deep, strlen(deep), V, 64, NULL) == RESP_ERROR);
    CHECK(resp_parse(deep + 4, strlen(deep) - 4, V, 64, NULL) > 0);
    /* slots: 3 needed */
    CHECK(resp_parse("*2\r\n:1\r\n:2\r\n", 12, V, 2, NULL) == RESP_TOO_MANY);
    CHECK(resp_parse("*2\r\n:1\r\n:2\r\n", 12, V, 3, NULL) == 12);
    CHECK(resp_parse("*99999\r\n", 8, V, 64, NULL) == RESP_TOO_MANY);
    CHECK(resp_parse("+OK\r\n", 5, V, 0, NULL) == RESP_TOO_MANY);
    /* a line with no CR within RESP_LINE_MAX */
    static char longline[RESP_LINE_MAX + 8];
    longline[0] = '+';
    memset(longline + 1, 'a', sizeof longline - 1);
    CHECK(resp_parse(longline, sizeof longline, V, 64, NULL) == RESP_ERROR);
    CHECK(resp_parse(longline, RESP_LINE_MAX - 1, V, 64, NULL) == RESP_INCOMPLETE);

    /* encoder */
    const char *argv[] = {"SET", "k", "a\r\nb"};
    char out[64];
    size_t n = resp_encode_command(out, sizeof out, 3, argv, NULL);
    const char *want = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n";
    CHECK(n == strlen(want) && memcmp(out, want, n) == 0 && resp_command_len(3, argv, NULL) == n);
    CHECK(resp_encode_command(out, n - 1, 3, argv, NULL) == 0);
    CHECK(resp_encode_command(out, sizeof out, 0, argv, NULL) == 0);
    size_t lens[] = {3, 0, 2};
    n = resp_encode_command(out, sizeof out, 3, argv, lens);
    CHECK(n == strlen("*3\r\n$3\r\nSET\r\n$0\r\n\r\n$2\r\na\r\r\n") && memcmp(out + n - 8, "$2\r\na\r\r\n", 8) == 0);
    /* the encoder's output parses back as an array of the same bulks */
    const char *many[12];
    for (int i = 0; i < 12; i++)
        many[i] = "xyz";
    char big[256];
    n = resp_encode_command(big, sizeof big, 12, many, NULL);
    size_t used;
    CHECK(n > 0 && resp_parse(big, n, V, 64, &used) == (ssize_t)n && used == 13 && V[0].count == 12 &&
          resp_is(resp_child(&V[0], 11), "xyz", 3));
    return T_DONE();
}
