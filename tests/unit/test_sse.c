// deps: src/parse/sse.c
/* Every stream goes through run(), which feeds it whole, one byte at a time,
 * split in two at every byte, and in pseudo-random pieces, each from an
 * exact-size heap copy (ASan catches a read past the end). The transcript of
 * dispatched events ("name|data" per event, then the final error) must be the
 * same every way before any test looks at it. */
#include "parse/sse.h"
#include "t.h"

#include <stdlib.h>

#define TR_MAX 16384

struct transcript {
    char text[TR_MAX]; /* name '|' data '\n' per event; data's own bytes as is */
    size_t len;
    int nevents;
    int err;
    bool contract_ok; /* fewer than offered only with an event; events not empty-handed */
};

static struct transcript T;       /* result of the last run() */
static char events[8][TR_MAX / 8]; /* first data of the last run(), for precise checks */
static size_t event_lens[8];

static void tr_add(struct transcript *t, const char *s, size_t n)
{
    if (t->len + n <= TR_MAX) {
        memcpy(t->text + t->len, s, n);
    }
    t->len += n;
}

/* Feeds one piece with the loop sse.h prescribes. */
static void feed_piece(struct sse_parser *p, struct transcript *t, const uint8_t *in, size_t n)
{
    size_t used = 0;
    while (used < n && t->err == 0) {
        struct sse_event ev;
        ssize_t r = sse_feed(p, in + used, n - used, &ev);
        if (r < 0) {
            t->err = (int)r;
            return;
        }
        if ((size_t)r > n - used || ((size_t)r < n - used && !ev.ready) || (ev.ready && r == 0))
            t->contract_ok = false;
        used += (size_t)r;
        if (!ev.ready)
            continue;
        if (ev.data == NULL || ev.event == NULL || ev.data[ev.len] != '\0' || ev.event[0] == '\0')
            t->contract_ok = false;
        if (ev.data != p->buf || ev.len >= p->cap)
            t->contract_ok = false;
        if (t->nevents < 8 && ev.len < sizeof events[0]) {
            memcpy(events[t->nevents], ev.data, ev.len + 1);
            event_lens[t->nevents] = ev.len;
        }
        t->nevents++;
        tr_add(t, ev.event, strlen(ev.event));
        tr_add(t, "|", 1);
        tr_add(t, ev.data, ev.len);
        tr_add(t, "\n", 1);
    }
}

/* mode 0: whole; 1: bytes; 2: split at cut; 3: random pieces from seed. */
static void feed_all(struct transcript *t, char *buf, size_t cap, const uint8_t *in, size_t n, int mode,
                     uint32_t arg)
{
    memset(t, 0, sizeof *t);
    t->contract_ok = true;
    struct sse_parser p = {.buf = buf, .cap = cap};
    if (mode == 0) {
        feed_piece(&p, t, in, n);
    } else if (mode == 1) {
        for (size_t i = 0; i < n; i++)
            feed_piece(&p, t, in + i, 1);
    } else if (mode == 2) {
        feed_piece(&p, t, in, arg);
        feed_piece(&p, t, in + arg, n - arg);
    } else {
        uint32_t x = arg;
        size_t off = 0;
        while (off < n) {
            x = x * 1103515245u + 12345u;
            size_t k = (x >> 16) % 9;
            if (k > n - off)
                k = n - off;
            feed_piece(&p, t, in + off, k); /* k == 0 must be harmless */
            off += k;
        }
    }
    /* Errors are sticky. */
    if (t->err) {
        struct sse_event ev;
        if (sse_feed(&p, (const uint8_t *)"\n\n", 2, &ev) != t->err || ev.ready)
            t->contract_ok = false;
    }
}

static bool same(const struct transcript *a, const struct transcript *b)
{
    return a->len == b->len && memcmp(a->text, b->text, a->len < TR_MAX ? a->len : TR_MAX) == 0 &&
           a->nevents == b->nevents && a->err == b->err;
}

static int runc(const void *s, size_t n, size_t cap)
{
    static struct transcript alt;
    static char buf1[TR_MAX], buf2[TR_MAX];
    uint8_t *copy = malloc(n ? n : 1);
    if (copy == NULL || cap > TR_MAX)
        abort();
    memcpy(copy, s, n);
    feed_all(&T, buf1, cap, copy, n, 0, 0);
    CHECK(T.contract_ok);
    /* later runs use another buffer so nothing can lean on left-overs */
    feed_all(&alt, buf2, cap, copy, n, 1, 0);
    CHECK(alt.contract_ok && same(&T, &alt));
    bool all = true;
    for (size_t cut = 0; cut <= n; cut++) {
        feed_all(&alt, buf2, cap, copy, n, 2, (uint32_t)cut);
        all &= alt.contract_ok && same(&T, &alt);
    }
    CHECK(all);
    for (uint32_t seed = 1; seed <= 4; seed++) {
        feed_all(&alt, buf2, cap, copy, n, 3, seed);
        CHECK(alt.contract_ok && same(&T, &alt));
    }
    /* the first run again, for events[] */
    feed_all(&T, buf1, cap, copy, n, 0, 0);
    free(copy);
    return T.err;
}

static int run(const char *s)
{
    return runc(s, strlen(s), 4096);
}

static bool tr_is(const char *want)
{
    return T.len == strlen(want) && memcmp(T.text, want, T.len) == 0;
}

/* Replaces every "\n" in src by eol. */
static void with_eol(char *dst, const char *src, const char *eol)
{
    dst[0] = '\0';
    for (; *src; src++) {
        if (*src == '\n')
            strcat(dst, eol);
        else
            strncat(dst, src, 1);
    }
}

/* ---- real streams ------------------------------------------------------------- */

static const char chat[] =
    "data: {\"id\":\"chatcmpl-9abc\",\"object\":\"chat.completion.chunk\",\"created\":1717400000,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_0f03d4f0ee\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n"
    "\n"
    "data: {\"id\":\"chatcmpl-9abc\",\"object\":\"chat.completion.chunk\",\"created\":1717400000,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Tell me "
    "about\"},\"logprobs\":null,\"finish_reason\":null}]}\n"
    "\n"
    ": OPENROUTER PROCESSING\n"
    "\n"
    "data: {\"id\":\"chatcmpl-9abc\",\"object\":\"chat.completion.chunk\",\"created\":1717400000,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}]}\n"
    "\n"
    "data: [DONE]\n"
    "\n";

static void test_chat(void)
{
    CHECK(run(chat) == 0 && T.nevents == 4);
    CHECK(strncmp(T.text, "message|{\"id\":\"chatcmpl-9abc\"", 29) == 0);
    static const char tail[] = "Tell me about\"},\"logprobs\":null,\"finish_reason\":null}]}";
    CHECK(event_lens[1] > sizeof tail && strcmp(events[1] + event_lens[1] - (sizeof tail - 1), tail) == 0);
    CHECK(strcmp(events[3], "[DONE]") == 0 && event_lens[3] == 6);
    /* identical under every line ending */
    static char alt[4096], first[TR_MAX];
    memcpy(first, T.text, T.len);
    size_t first_len = T.len;
    static const char *const eols[] = {"\r\n", "\r"};
    for (size_t i = 0; i < ARRAY_LEN(eols); i++) {
        with_eol(alt, chat, eols[i]);
        CHECK(run(alt) == 0 && T.nevents == 4 && T.len == first_len && memcmp(T.text, first, T.len) == 0);
    }
}

static void test_responses_api(void)
{
    CHECK(run("event: response.created\n"
              "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\"}}\n"
              "\n"
              "event: response.output_text.delta\n"
              "data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"delta\":\"Hi\"}\n"
              "\n"
              "event: response.function_call_arguments.delta\n"
              "data: {\"delta\":\"{\\\"a\\\":\"}\n"
              "\n"
              "event: response.completed\n"
              "data: {\"type\":\"response.completed\"}\n"
              "\n") == 0);
    CHECK(T.nevents == 4);
    CHECK(tr_is("response.created|{\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":"
                "\"in_progress\"}}\n"
                "response.output_text.delta|{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\","
                "\"delta\":\"Hi\"}\n"
                "response.function_call_arguments.delta|{\"delta\":\"{\\\"a\\\":\"}\n"
                "response.completed|{\"type\":\"response.completed\"}\n"));
}

/* ---- the WHATWG rules ----------------------------------------------------------- */

static void test_line_ends(void)
{
    CHECK(run("data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\n\r") == 0);
    CHECK(tr_is("message|a\nmessage|b\nmessage|c\nmessage|d\n"));
    /* CR ends the line at once; the LF after it is only the rest of a CRLF */
    CHECK(run("data: a\r\r\ndata: b\r\n\n") == 0 && tr_is("message|a\nmessage|b\n"));
    CHECK(run("data: a\n\r\n") == 0 && tr_is("message|a\n"));
    /* LF CR: two line ends; CR CR LF: two line ends, not three */
    CHECK(run("data: a\n\rdata: b\r\r\n\n") == 0 && tr_is("message|a\nmessage|b\n"));
    CHECK(run("data: x\r\n\r\n\r\n\r\n\n\n\r\r") == 0 && tr_is("message|x\n"));
    CHECK(run("\r\n\r\n\n\n") == 0 && T.nevents == 0);
}

static void test_fields(void)
{
    /* multi-line data joined by \n; no trailing \n */
    CHECK(run("data: line one\ndata: line two\ndata:three\n\n") == 0 &&
          tr_is("message|line one\nline two\nthree\n"));
    CHECK(T.nevents == 1 && strcmp(events[0], "line one\nline two\nthree") == 0);
    /* only one space is dropped, and only right after ':' */
    CHECK(run("data:  two spaces\ndata:\ttab\ndata :x\n\n") == 0);
    CHECK(T.nevents == 1 && strcmp(events[0], " two spaces\n\ttab") == 0);
    /* empty data lines count */
    CHECK(run("data\n\n") == 0 && T.nevents == 1 && event_lens[0] == 0 && tr_is("message|\n"));
    CHECK(run("data:\n\n") == 0 && T.nevents == 1 && event_lens[0] == 0);
    CHECK(run("data:\ndata\n\n") == 0 && T.nevents == 1 && strcmp(events[0], "\n") == 0);
    CHECK(run("data: \n\n") == 0 && T.nevents == 1 && event_lens[0] == 0);
    CHECK(run("data: a:b: c\n\n") == 0 && strcmp(events[0], "a:b: c") == 0);
    /* comments, ids, retry and unknown or mis-cased fields are ignored */
    CHECK(run(": ping\n:\n:data: no\nid: 42\nretry: 1000\nfoo: bar\nData: no\ndatum: no\n"
              "dataaaaaaaaaaaaaaaaa: no\nid\nretry\ndata: yes\n\n") == 0 &&
          tr_is("message|yes\n"));
    /* a stream of only comments dispatches nothing */
    CHECK(run(": keep-alive\n\n: keep-alive\n\n") == 0 && T.nevents == 0);
    /* event: names the next dispatched event only */
    CHECK(run("event: first\nevent: second\ndata: 1\n\ndata: 2\n\n") == 0 &&
          tr_is("second|1\nmessage|2\n"));
    /* an event with no data is dropped with its name */
    CHECK(run("event: lonely\n\ndata: 3\n\n") == 0 && tr_is("message|3\n"));
    CHECK(run("event:\ndata: 4\n\nevent\ndata: 5\n\n") == 0 && tr_is("message|4\nmessage|5\n"));
    CHECK(run("data: 6\nevent: late\n\n") == 0 && tr_is("late|6\n"));
    /* UTF-8 passes through untouched */
    CHECK(run("data: caf\xc3\xa9 \xf0\x9f\x8e\xa4\n\n") == 0 && strcmp(events[0], "caf\xc3\xa9 \xf0\x9f\x8e\xa4") == 0);
}

static void test_unterminated(void)
{
    CHECK(run("data: x") == 0 && T.nevents == 0);
    CHECK(run("data: x\n") == 0 && T.nevents == 0);
    CHECK(run("data: x\r") == 0 && T.nevents == 0);
    CHECK(run("data: a\n\ndata: [DONE]\n") == 0 && tr_is("message|a\n"));
    CHECK(run("") == 0 && T.nevents == 0);
}

static void test_limits(void)
{
    /* data may use cap - 1 bytes, the joining \n included */
    CHECK(runc("data: 1234567\n\n", 15, 8) == 0 && tr_is("message|1234567\n"));
    CHECK(runc("data: 12345678\n\n", 16, 8) == SSE_E_TOO_BIG && T.nevents == 0);
    CHECK(runc("data: 1234\ndata: 12\n\n", 21, 8) == 0 && tr_is("message|1234\n12\n"));
    CHECK(runc("data: 1234\ndata: 123\n\n", 22, 8) == SSE_E_TOO_BIG);
    CHECK(runc("data: 1234567\ndata\n\n", 20, 8) == SSE_E_TOO_BIG); /* the \n alone overflows */
    /* events before the big one are still delivered; the limit is per event */
    CHECK(runc("data: 1234567\n\ndata: 1234567\n\ndata: 12345678\n\n", 47, 8) == SSE_E_TOO_BIG &&
          T.nevents == 2);
    /* non-data lines do not count against the buffer */
    CHECK(runc(": a very long comment line indeed\nid: 123456789012345\ndata: x\n\n", 63, 2) == 0 &&
          tr_is("message|x\n"));
    /* cap 1: only empty data; cap 0: no data at all */
    CHECK(runc("data\n\n", 6, 1) == 0 && T.nevents == 1 && event_lens[0] == 0);
    CHECK(runc("data: x\n\n", 9, 1) == SSE_E_TOO_BIG);
    CHECK(runc("data\n\n", 6, 0) == SSE_E_TOO_BIG);
    CHECK(runc(": hi\n\n", 6, 0) == 0 && T.nevents == 0);
    /* event names up to SSE_EVENT_MAX bytes */
    static char msg[256];
    char name[SSE_EVENT_MAX + 2];
    memset(name, 'e', SSE_EVENT_MAX);
    name[SSE_EVENT_MAX] = '\0';
    snprintf(msg, sizeof msg, "event: %s\ndata: x\n\n", name);
    CHECK(run(msg) == 0 && T.nevents == 1 && strncmp(T.text, name, SSE_EVENT_MAX) == 0 &&
          T.text[SSE_EVENT_MAX] == '|');
    strcat(name, "e");
    snprintf(msg, sizeof msg, "event: %s\ndata: x\n\n", name);
    CHECK(run(msg) == SSE_E_TOO_BIG && T.nevents == 0);
}

static void test_nul(void)
{
    CHECK(runc("data: a\0b\n\n", 11, 64) == SSE_E_BAD && T.nevents == 0);
    CHECK(runc(": \0\n", 4, 64) == SSE_E_BAD);
    CHECK(runc("data: ok\n\n\0", 11, 64) == SSE_E_BAD && T.nevents == 1);
}

/* Direct calls: the returned counts, reset, and what stays valid. */
static void test_api(void)
{
    char buf[32];
    struct sse_parser p = {.buf = buf, .cap = sizeof buf};
    struct sse_event ev;
    const uint8_t *in = (const uint8_t *)"data: one\n\ndata: two\r\n\r\ndata: three";
    size_t n = strlen((const char *)in);
    CHECK(sse_feed(&p, in, n, &ev) == 11 && ev.ready && strcmp(ev.data, "one") == 0 && ev.len == 3);
    CHECK(strcmp(ev.event, "message") == 0 && ev.data == buf);
    /* the CR of the blank line dispatches; its LF is left for the next call */
    CHECK(sse_feed(&p, in + 11, n - 11, &ev) == 12 && ev.ready && strcmp(ev.data, "two") == 0);
    CHECK(sse_feed(&p, in + 23, n - 23, &ev) == (ssize_t)(n - 23) && !ev.ready && ev.data == NULL);
    CHECK(sse_feed(&p, in, 0, &ev) == 0 && !ev.ready);
    /* reset drops the half-read event and keeps the buffer */
    sse_reset(&p);
    CHECK(p.buf == buf && p.cap == sizeof buf);
    CHECK(sse_feed(&p, (const uint8_t *)"\n", 1, &ev) == 1 && !ev.ready);
    CHECK(sse_feed(&p, (const uint8_t *)"\ndata: x\n\n", 10, &ev) == 10 && ev.ready && strcmp(ev.data, "x") == 0);
    /* reset after an error revives the parser */
    CHECK(sse_feed(&p, (const uint8_t *)"\0", 1, &ev) == SSE_E_BAD);
    CHECK(sse_feed(&p, (const uint8_t *)"data: y\n\n", 9, &ev) == SSE_E_BAD);
    sse_reset(&p);
    CHECK(sse_feed(&p, (const uint8_t *)"data: y\n\n", 9, &ev) == 9 && ev.ready && strcmp(ev.data, "y") == 0);
    /* a CR that dispatched leaves its LF for the next call, which eats it */
    CHECK(sse_feed(&p, (const uint8_t *)"data: z\r\r\n", 10, &ev) == 9 && ev.ready);
    CHECK(sse_feed(&p, (const uint8_t *)"\n", 1, &ev) == 1 && !ev.ready);
}

int main(void)
{
    test_chat();
    test_responses_api();
    test_line_ends();
    test_fields();
    test_unterminated();
    test_limits();
    test_nul();
    test_api();
    return T_DONE();
}
