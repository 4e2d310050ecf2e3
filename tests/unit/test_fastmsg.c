// deps: src/parse/fastmsg.c
#include "t.h"
#include "parse/fastmsg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int16_t smp[16];

static enum fastmsg_kind run(const char *s, struct fastmsg *m)
{
    /* an exact-size copy, so ASan sees any read past the message */
    size_t n = strlen(s);
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    enum fastmsg_kind k = fastmsg_parse(copy, n, smp, sizeof smp / sizeof smp[0], m);
    free(copy);
    return k;
}

static enum fastmsg_kind kind(const char *s)
{
    struct fastmsg m;
    return run(s, &m);
}

static void test_ping(void)
{
    CHECK(kind("{\"type\":\"ping\"}") == FASTMSG_PING);
    CHECK(kind(" \t\r\n{ \"type\" : \"ping\" , \"timestamp\":\"2024-11-25T10:00:00Z\" }\n") == FASTMSG_PING);
    CHECK(kind("{\"timestamp\":\"x\",\"type\":\"ping\"}") == FASTMSG_PING);
    /* anything else goes to the general path */
    CHECK(kind("{\"type\":\"pong\"}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"ping\",\"data\":[]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"ping\",\"type\":\"ping\"}") == FASTMSG_OTHER); /* duplicate key */
    CHECK(kind("{\"type\":\"p\\u0069ng\"}") == FASTMSG_OTHER);             /* escape */
    CHECK(kind("{\"type\":\"ping\",\"x\":1}") == FASTMSG_OTHER);           /* other key */
    CHECK(kind("{\"type\":\"ping\",}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"ping\"}x") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"ping\"") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"ping\"}}") == FASTMSG_OTHER);
    CHECK(kind("[{\"type\":\"ping\"}]") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"ping\",\"timestamp\":\"caf\xc3\xa9\"}") == FASTMSG_OTHER); /* non-ASCII */
    CHECK(kind("{\"type\":\"ping\",\"timestamp\":\"a\x01\"}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":ping}") == FASTMSG_OTHER);
    CHECK(kind("{}") == FASTMSG_OTHER);
    CHECK(kind("") == FASTMSG_OTHER);
    CHECK(kind("}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"ping\" \"timestamp\":\"x\"}") == FASTMSG_OTHER); /* missing comma */
}

static void test_audio(void)
{
    struct fastmsg m;
    CHECK(run("{\"type\":\"audio_chunk\",\"data\":[1,-2,3],\"timestamp\":\"t\"}", &m) == FASTMSG_AUDIO);
    CHECK(m.nsamples == 3 && smp[0] == 1 && smp[1] == -2 && smp[2] == 3 && m.sumsq == 14);
    CHECK(run("{\"data\": [ 0 , -0 ,\n32767,-32768, 32768, 65535 ] , \"type\":\"audio_chunk\"}", &m) == FASTMSG_AUDIO);
    CHECK(m.nsamples == 6 && smp[0] == 0 && smp[1] == 0 && smp[2] == 32767 && smp[3] == -32768 &&
          smp[4] == -32768 && smp[5] == -1);
    CHECK(m.sumsq == 32767ull * 32767 + 2ull * 32768 * 32768 + 1);
    CHECK(run("{\"type\":\"audio_chunk\",\"data\":[]}", &m) == FASTMSG_AUDIO && m.nsamples == 0 && m.sumsq == 0);
    CHECK(run("{\"type\":\"audio_chunk\",\"data\":[ ]}", &m) == FASTMSG_AUDIO && m.nsamples == 0);
    /* values the general path must judge (it answers INVALID_AUDIO or accepts 1.0) */
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[65536]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[-32769]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[100000]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[1.0]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[1e2]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[1E2]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[01]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[-]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[+1]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[1,]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[,1]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[1 2]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[\"1\"]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[[1]]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[null]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":\"AAAA\"}") == FASTMSG_OTHER); /* seed 000 base64 */
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[1],\"isSpeaking\":true}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\"}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[1],\"data\":[1]}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[1]") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[1") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[1}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[-}") == FASTMSG_OTHER);
    CHECK(kind("{\"type\":\"audio_chunk\",\"data\":[12345") == FASTMSG_OTHER);
    CHECK(kind("{\"data\":[1],\"type\":\"start_interview\"}") == FASTMSG_OTHER);
    /* more samples than the caller's buffer: the general path says how many are allowed */
    char big[256] = "{\"type\":\"audio_chunk\",\"data\":[0";
    for (int i = 1; i < 16; i++)
        strcat(big, ",1");
    CHECK(run(strcat(strcpy((char[256]){0}, big), "]}"), &m) == FASTMSG_AUDIO && m.nsamples == 16);
    CHECK(kind(strcat(big, ",1]}")) == FASTMSG_OTHER);
}

/* Random sample arrays printed the way browsers print them, decoded back. */
static void test_roundtrip(void)
{
    static char msg[4096];
    srand(7);
    for (int round = 0; round < 2000; round++) {
        int n = rand() % 17, want[16];
        size_t o = (size_t)sprintf(msg, "{\"type\":\"audio_chunk\",\"data\":[");
        uint64_t sum = 0;
        for (int i = 0; i < n && i < 16; i++) {
            want[i] = rand() % (65535 + 32768 + 1) - 32768;
            o += (size_t)sprintf(msg + o, "%s%s%d", i ? "," : "", rand() % 4 ? "" : " ", want[i]);
            int16_t s = (int16_t)(want[i] > 32767 ? want[i] - 65536 : want[i]);
            sum += (uint64_t)((int32_t)s * s);
        }
        sprintf(msg + o, "]}");
        struct fastmsg m;
        enum fastmsg_kind k = run(msg, &m);
        if (n > 16) {
            CHECK(k == FASTMSG_OTHER);
            continue;
        }
        bool same = k == FASTMSG_AUDIO && m.nsamples == (size_t)n && m.sumsq == sum;
        for (int i = 0; same && i < n; i++)
            same = smp[i] == (int16_t)(want[i] > 32767 ? want[i] - 65536 : want[i]);
        CHECK(same);
    }
}

int main(void)
{
    test_ping();
    test_audio();
    test_roundtrip();
    return T_DONE();
}
