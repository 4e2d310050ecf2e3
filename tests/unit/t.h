/* Minimal unit-test harness: CHECK counts, T_DONE prints "<file>: N passed, N failed".
 * Each tests/unit/test_<m>.c starts with a line "// deps: src/a.c src/b.c" naming
 * the sources it links; build.sh reads that line. */
#ifndef T_H
#define T_H
#include <stdio.h>
#include <string.h>
static int t_pass, t_fail;
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond) {                                                            \
            t_pass++;                                                          \
        } else {                                                               \
            t_fail++;                                                          \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                      \
    } while (0)
#define T_DONE()                                                               \
    (printf("%s: %d passed, %d failed\n", __FILE__, t_pass, t_fail),           \
     t_fail ? 1 : 0)
#endif
