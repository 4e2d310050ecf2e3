// deps: src/parse/http_resp.c
/* Every response goes through run(), which feeds it three ways -- whole, one
 * byte at a time, and in pseudo-random pieces under several seeds -- each from
 * an exact-size heap copy (ASan catches a read past the end), with the loop
 * http_resp.h prescribes. The event streams (HEAD/DONE in order, concatenated
 * body bytes, final error, bytes consumed, httpr_eof() answer, parsed fields)
 * must be identical before any test looks at the result. */
#include "parse/http_resp.h"
#include "t.h"

#include <stdlib.h>

#define BODY_MAX 70000

struct outcome {
    char kinds[16];   /* 'H' and 'D' in order; body events are counted apart */
    size_t nkinds;
    size_t nbody;     /* BODY events (differs between splits) */
    uint8_t body[BODY_MAX];
    size_t blen;
    int err;          /* first negative answer, 0 if none */
    size_t used;      /* bytes consumed up to DONE or error (or all) */
    int eof;          /* httpr_eof() after all input, unless DONE/error */
    bool contract_ok; /* NONE only with all consumed; BODY never empty */
    struct httpr_parser p;
};

static struct outcome O; /* result of the last run() */

/* Feeds in[0..n) in pieces of len(k) bytes; splitter picks them. */
static void feed_all(struct outcome *o, const uint8_t *in, size_t n, bool head, int mode, uint32_t seed)
{
    memset(o, 0, sizeof *o);
    o->contract_ok = true;
    httpr_reset(&o->p);
    o->p.head_request = head;
    size_t off = 0;
    bool done = false;
    uint32_t rnd = seed;
    while (!done && o->err == 0) {
        size_t len = n - off;
        if (mode == 1 && len > 1)
            len = 1;
        if (mode == 2) {
            rnd = rnd * 1103515245u + 12345u;
            size_t want = (rnd >> 16) % 23;
            if (len > want)
                len = want; /* may be 0: feeding nothing must be harmless */
        }
        size_t used = 0;
        struct httpr_event ev;
        do {
            ssize_t r = httpr_feed(&o->p, in + off + used, len - used, &ev);
            if (r < 0) {
                o->err = (int)r;
                break;
            }
            used += (size_t)r;
            if (used > len)
                o->contract_ok = false;
            if (ev.kind == HTTPR_EV_NONE && used != len)
                o->contract_ok = false;
            if (ev.kind == HTTPR_EV_BODY) {
                if (ev.len == 0 || ev.data != in + off + used - ev.len)
                    o->contract_ok = false;
                if (o->blen + ev.len <= BODY_MAX)
                    memcpy(o->body + o->blen, ev.data, ev.len);
                o->blen += ev.len;
                o->nbody++;
            } else if (ev.kind != HTTPR_EV_NONE && o->nkinds < sizeof o->kinds - 1) {
                o->kinds[o->nkinds++] = ev.kind == HTTPR_EV_HEAD ? 'H' : 'D';
            }
        } while (ev.kind != HTTPR_EV_NONE && ev.kind != HTTPR_EV_DONE);
        off += used;
        if (o->err == 0 && ev.kind == HTTPR_EV_DONE)
            done = true;
        if (o->err == 0 && !done && off == n)
            break;
    }
    o->used = o->err ? 0 : off; /* an error does not say at which byte */
    if (o->err == 0 && !done)
        o->eof = httpr_eof(&o->p);
}

static bool same_outcome(const struct outcome *a, const struct outcome *b)
{
    const struct httpr_parser *x = &a->p, *y = &b->p;
    return strcmp(a->kinds, b->kinds) == 0 && a->blen == b->blen &&
           memcmp(a->body, b->body, a->blen < BODY_MAX ? a->blen : BODY_MAX) == 0 && a->err == b->err &&
           a->used == b->used && a->eof == b->eof && x->status == y->status &&
           x->minor_version == y->minor_version && x->content_length == y->content_length &&
           x->chunked == y->chunked && x->keep_alive == y->keep_alive && x->until_close == y->until_close &&
           x->retry_after_ms == y->retry_after_ms && x->should_retry == y->should_retry &&
           strcmp(x->content_type, y->content_type) == 0 && strcmp(x->request_id, y->request_id) == 0 &&
           strcmp(x->location, y->location) == 0 && x->location_long == y->location_long &&
           x->content_encoded == y->content_encoded;
}

static int runx(const void *s, size_t n, bool head)
{
    static struct outcome alt;
    uint8_t *copy = malloc(n ? n : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, s, n);
    feed_all(&O, copy, n, head, 0, 0);
    CHECK(O.contract_ok);
    feed_all(&alt, copy, n, head, 1, 0);
    CHECK(alt.contract_ok && same_outcome(&O, &alt));
    for (uint32_t seed = 1; seed <= 8; seed++) {
        feed_all(&alt, copy, n, head, 2, seed);
        CHECK(alt.contract_ok && same_outcome(&O, &alt));
    }
    free(copy);
    return O.err;
}

static int run(const char *s)
{
    return runx(s, strlen(s), false);
}

static bool body_is(const char *lit)
{
    return O.blen == strlen(lit) && memcmp(O.body, lit, O.blen) == 0;
}

/* Appends a chunk "<hex>\r\n<data>\r\n" to dst (NUL-terminated text). */
static void add_chunk(char *dst, const char *data)
{
    sprintf(dst + strlen(dst), "%zx\r\n%s\r\n", strlen(data), data);
}

/* ---- real OpenAI-shaped responses ------------------------------------------ */

static const char *const chat_events[] = {
    "data: {\"id\":\"chatcmpl-9abc\",\"object\":\"chat.completion.chunk\",\"created\":1717400000,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_0f03d4f0ee\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9abc\",\"object\":\"chat.completion.chunk\",\"created\":1717400000,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Tell me\"},"
    "\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9abc\",\"object\":\"chat.completion.chunk\",\"created\":1717400000,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" about a "
    "project you are proud of.\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9abc\",\"object\":\"chat.completion.chunk\",\"created\":1717400000,"
    "\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}]}\n\n",
    "data: [DONE]\n\n",
};

static const char chat_head[] =
    "HTTP/1.1 200 OK\r\n"
    "Date: Mon, 03 Jun 2024 10:00:00 GMT\r\n"
    "Content-Type: text/event-stream; charset=utf-8\r\n"
    "Transfer-Encoding: chunked\r\n"
    "Connection: keep-alive\r\n"
    "access-control-expose-headers: X-Request-ID\r\n"
    "openai-organization: user-abc123\r\n"
    "openai-processing-ms: 187\r\n"
    "openai-version: 2020-10-01\r\n"
    "strict-transport-security: max-age=31536000; includeSubDomains; preload\r\n"
    "x-ratelimit-limit-requests: 10000\r\n"
    "x-ratelimit-limit-tokens: 2000000\r\n"
    "x-ratelimit-remaining-requests: 9999\r\n"
    "x-ratelimit-remaining-tokens: 1999970\r\n"
    "x-ratelimit-reset-requests: 6ms\r\n"
    "x-ratelimit-reset-tokens: 0s\r\n"
    "x-request-id: req_8f1a2b3c4d5e6f708192a3b4c5d6e7f8\r\n"
    "CF-Cache-Status: DYNAMIC\r\n"
    "Set-Cookie: __cf_bm=abc.def-1717400000-1.0.1.1-xyz; path=/; expires=Mon, 03-Jun-24 10:30:00 GMT; "
    "domain=.api.openai.com; HttpOnly; Secure; SameSite=None\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Server: cloudflare\r\n"
    "CF-RAY: 88d2f1e2a9c3b4d5-FRA\r\n"
    "alt-svc: h3=\":443\"; ma=86400\r\n"
    "\r\n";

static void test_chat_stream(void)
{
    static char msg[8192], want[8192];
    strcpy(msg, chat_head);
    want[0] = '\0';
    for (size_t i = 0; i < ARRAY_LEN(chat_events); i++) {
        add_chunk(msg, chat_events[i]);
        strcat(want, chat_events[i]);
    }
    strcat(msg, "0\r\n\r\n");
    CHECK(run(msg) == 0);
    CHECK(strcmp(O.kinds, "HD") == 0 && body_is(want) && O.used == strlen(msg));
    CHECK(O.nbody == ARRAY_LEN(chat_events)); /* whole feed: one event per chunk */
    CHECK(O.p.status == 200 && O.p.minor_version == 1 && O.p.chunked && O.p.content_length == -1);
    CHECK(O.p.keep_alive && !O.p.until_close);
    CHECK(strcmp(O.p.content_type, "text/event-stream; charset=utf-8") == 0);
    CHECK(strcmp(O.p.request_id, "req_8f1a2b3c4d5e6f708192a3b4c5d6e7f8") == 0);
    CHECK(O.p.retry_after_ms == -1 && O.p.should_retry == -1);

    /* the same stream with upper-case hex, extensions and a trailer */
    strcpy(msg, chat_head);
    strcat(msg, "1A;name=\"v\"\r\ndata: {\"a\":\"0123456789\"}\n\n\r\n"
                "0000E ; x\r\ndata: [DONE]\n\n\r\n"
                "0;final\r\nX-Trailer: yes\r\nServer-Timing: total;dur=12\r\n\r\n");
    CHECK(run(msg) == 0 && strcmp(O.kinds, "HD") == 0);
    CHECK(body_is("data: {\"a\":\"0123456789\"}\n\ndata: [DONE]\n\n") && O.used == strlen(msg));
}

static void test_transcription(void)
{
    static const char json[] = "{\n  \"text\": \"Hello, I'm ready for the interview. Let's begin.\"\n}";
    static char msg[2048];
    snprintf(msg, sizeof msg,
             "HTTP/1.1 200 OK\r\n"
             "Date: Mon, 03 Jun 2024 10:00:01 GMT\r\n"
             "Content-Type: application/json\r\n"
             "Content-Length: %zu\r\n"
             "Connection: keep-alive\r\n"
             "openai-organization: user-abc123\r\n"
             "openai-processing-ms: 812\r\n"
             "openai-version: 2020-10-01\r\n"
             "x-request-id: req_0a1b2c3d4e5f\r\n"
             "via: envoy-router-5d8c9b7f6-xk2lp\r\n"
             "CF-RAY: 88d2f1e2a9c3b4d6-FRA\r\n"
             "\r\n%s",
             strlen(json), json);
    CHECK(run(msg) == 0 && strcmp(O.kinds, "HD") == 0 && body_is(json));
    CHECK(O.p.content_length == (int64_t)strlen(json) && !O.p.chunked && O.p.keep_alive);
    CHECK(strcmp(O.p.content_type, "application/json") == 0 && strcmp(O.p.request_id, "req_0a1b2c3d4e5f") == 0);
    CHECK(O.nbody == 1);

    /* bytes after the body belong to the next response */
    static char two[4096];
    snprintf(two, sizeof two, "%s%s", msg, "HTTP/1.1 204 No Content\r\n\r\n");
    CHECK(run(two) == 0 && O.used == strlen(msg) && body_is(json));
}

static void test_audio(void)
{
    /* MP3 bytes: every value 0..255, CR/LF/NUL included, in odd chunk sizes */
    static uint8_t msg[80000], want[70000];
    size_t n = 0, wn = 0;
    const char *head = "HTTP/1.1 200 OK\r\n"
                       "Content-Type: audio/mpeg\r\n"
                       "Transfer-Encoding: chunked\r\n"
                       "Connection: keep-alive\r\n"
                       "x-request-id: req_tts_42\r\n"
                       "\r\n";
    memcpy(msg, head, strlen(head));
    n = strlen(head);
    uint32_t x = 7;
    size_t sizes[] = {4096, 1, 255, 16384, 3, 8192, 1000};
    for (size_t c = 0; c < ARRAY_LEN(sizes); c++) {
        n += (size_t)sprintf((char *)msg + n, "%zx\r\n", sizes[c]);
        for (size_t i = 0; i < sizes[c]; i++) {
            x = x * 1664525u + 1013904223u;
            msg[n++] = want[wn++] = (uint8_t)(x >> 24);
        }
        msg[n++] = '\r';
        msg[n++] = '\n';
    }
    memcpy(msg + n, "0\r\n\r\n", 5);
    n += 5;
    CHECK(runx(msg, n, false) == 0 && strcmp(O.kinds, "HD") == 0 && O.used == n);
    CHECK(O.blen == wn && memcmp(O.body, want, wn) == 0);
    CHECK(strcmp(O.p.content_type, "audio/mpeg") == 0 && O.p.chunked && O.nbody == ARRAY_LEN(sizes));
}

static void test_rate_limited(void)
{
    static const char json[] =
        "{\n    \"error\": {\n        \"message\": \"Rate limit reached for gpt-4o-mini in organization org-abc "
        "on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.\",\n"
        "        \"type\": \"requests\",\n        \"param\": null,\n        \"code\": \"rate_limit_exceeded\"\n"
        "    }\n}\n";
    static char msg[2048];
    snprintf(msg, sizeof msg,
             "HTTP/1.1 429 Too Many Requests\r\n"
             "Date: Mon, 03 Jun 2024 10:00:02 GMT\r\n"
             "Content-Type: application/json; charset=utf-8\r\n"
             "Content-Length: %zu\r\n"
             "Connection: keep-alive\r\n"
             "retry-after: 2\r\n"
             "retry-after-ms: 1500\r\n"
             "x-should-retry: true\r\n"
             "x-request-id: req_rl_1\r\n"
             "\r\n%s",
             strlen(json), json);
    CHECK(run(msg) == 0 && strcmp(O.kinds, "HD") == 0 && body_is(json));
    CHECK(O.p.status == 429 && O.p.retry_after_ms == 1500 && O.p.should_retry == 1);

    /* retry-after-ms wins whichever comes first; Retry-After alone is seconds */
    static const struct {
        const char *headers;
        int64_t ms;
        int8_t retry;
    } cases[] = {
        {"retry-after-ms: 1500\r\nRetry-After: 2\r\n", 1500, -1},
        {"Retry-After: 2\r\n", 2000, -1},
        {"Retry-After: 0.5\r\n", 500, -1},
        {"Retry-After: 1.0005\r\n", 1001, -1}, /* rounded up, never early */
        {"Retry-After: 1.\r\n", 1000, -1},
        {"Retry-After: .25\r\n", 250, -1},
        {"Retry-After: 0\r\n", 0, -1},
        {"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n", -1, -1}, /* HTTP-date ignored */
        {"Retry-After: -1\r\n", -1, -1},
        {"Retry-After: 1e3\r\n", -1, -1},
        {"Retry-After: .\r\n", -1, -1},
        {"Retry-After: \r\n", -1, -1},
        {"Retry-After: 99999999999999999999999\r\n", 1000000000000, -1}, /* saturates */
        {"retry-after-ms: 123.4\r\n", 124, -1},
        {"retry-after-ms: 123.000\r\n", 123, -1},
        {"retry-after-ms: 20\r\nRetry-After: bogus\r\n", 20, -1},
        {"retry-after-ms: soon\r\nRetry-After: 3\r\n", 3000, -1}, /* bad ms: seconds still count */
        {"x-should-retry: false\r\n", -1, 0},
        {"X-Should-Retry: TRUE\r\n", -1, 1},
        {"x-should-retry: maybe\r\n", -1, -1},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        snprintf(msg, sizeof msg, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n%s\r\n",
                 cases[i].headers);
        CHECK(run(msg) == 0 && strcmp(O.kinds, "HD") == 0 && O.blen == 0);
        CHECK(O.p.retry_after_ms == cases[i].ms);
        CHECK(O.p.should_retry == cases[i].retry);
        if (O.p.retry_after_ms != cases[i].ms)
            fprintf(stderr, "  case %zu: got %lld\n", i, (long long)O.p.retry_after_ms);
    }
}

static void test_interim(void)
{
    CHECK(run("HTTP/1.1 100 Continue\r\n\r\n"
              "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nContent-Type: x/early\r\n"
              "x-request-id: early\r\nRetry-After: 9\r\nConnection: close\r\n\r\n"
              "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") == 0);
    CHECK(strcmp(O.kinds, "HD") == 0 && body_is("ok") && O.p.status == 200);
    /* nothing of the interim heads leaks into the final one */
    CHECK(O.p.content_type[0] == '\0' && O.p.request_id[0] == '\0' && O.p.retry_after_ms == -1);
    CHECK(O.p.keep_alive);
    /* a 1xx alone is not a response yet */
    CHECK(run("HTTP/1.1 100 Continue\r\n\r\n") == 0 && O.nkinds == 0 && O.eof == HTTPR_E_TRUNCATED);
}

/* Location is kept for redirects (jobfetch.c); a repeated or overlong one is unusable. */
static void test_location(void)
{
    CHECK(run("HTTP/1.1 302 Found\r\nLocation: https://jobs.example/p?q=1\r\nContent-Length: 0\r\n\r\n") == 0);
    CHECK(O.p.status == 302 && strcmp(O.p.location, "https://jobs.example/p?q=1") == 0 && !O.p.location_long);
    CHECK(run("HTTP/1.1 301 Moved\r\nlocation: /a\r\nLOCATION: /b\r\nContent-Length: 0\r\n\r\n") == 0);
    CHECK(O.p.location[0] == '\0' && O.p.location_long);
    /* an empty first Location is still a Location: the second is a repeat */
    CHECK(run("HTTP/1.1 301 Moved\r\nLocation: \r\nLocation: /b\r\nContent-Length: 0\r\n\r\n") == 0);
    CHECK(O.p.location[0] == '\0' && O.p.location_long);
    static char big[HTTPR_LOCATION_MAX + 200];
    int n = snprintf(big, sizeof big, "HTTP/1.1 302 Found\r\nLocation: /");
    memset(big + n, 'a', HTTPR_LOCATION_MAX);
    snprintf(big + n + HTTPR_LOCATION_MAX, sizeof big - (size_t)n - HTTPR_LOCATION_MAX,
             "\r\nContent-Length: 0\r\n\r\n");
    CHECK(run(big) == 0 && O.p.location[0] == '\0' && O.p.location_long);
    /* an interim head's Location does not leak into the final one */
    CHECK(run("HTTP/1.1 103 Early\r\nLocation: /x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == 0);
    CHECK(O.p.location[0] == '\0' && !O.p.location_long);
    /* Content-Encoding: only "identity" (or none) means the bytes are the text */
    CHECK(run("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n") == 0 && O.p.content_encoded);
    CHECK(run("HTTP/1.1 200 OK\r\nContent-Encoding: Identity\r\nContent-Length: 0\r\n\r\n") == 0 && !O.p.content_encoded);
    CHECK(run("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == 0 && !O.p.content_encoded);
}

static void test_connection(void)
{
    CHECK(run("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == 0 && O.p.keep_alive);
    CHECK(strcmp(O.kinds, "HD") == 0 && O.p.content_length == 0);
    CHECK(run("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n") == 0 && !O.p.keep_alive);
    CHECK(run("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n") == 0 &&
          !O.p.keep_alive);
    CHECK(run("HTTP/1.1 200 OK\r\nConnection: upgrade\r\nConnection: , close ,\r\nContent-Length: 0\r\n\r\n") ==
              0 &&
          !O.p.keep_alive);
    CHECK(run("HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n") == 0 && O.p.keep_alive);
    CHECK(run("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n") == 0 && !O.p.keep_alive && O.p.minor_version == 0);
    CHECK(run("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n") == 0 && O.p.keep_alive);
    /* 1.0 with chunked: decoded, but the connection is not reused (RFC 9112 6.1) */
    CHECK(run("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n") ==
              0 &&
          body_is("x") && !O.p.keep_alive && O.p.chunked);
    /* body until close: never reusable, complete only at EOF */
    CHECK(run("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello, world") == 0);
    CHECK(strcmp(O.kinds, "H") == 0 && body_is("hello, world") && O.eof == HTTPR_EV_DONE);
    CHECK(O.p.until_close && !O.p.keep_alive && O.p.content_length == -1);
    CHECK(run("HTTP/1.1 200 OK\r\n\r\n") == 0 && O.blen == 0 && O.eof == HTTPR_EV_DONE && O.p.until_close);
}

static void test_no_body(void)
{
    CHECK(run("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n") == 0 && strcmp(O.kinds, "HD") == 0);
    CHECK(O.blen == 0 && O.p.content_length == 10 && O.p.keep_alive && !O.p.until_close);
    CHECK(run("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n") == 0 &&
          strcmp(O.kinds, "HD") == 0 && !O.p.chunked);
    static const char head_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: audio/mpeg\r\n\r\n";
    CHECK(runx(head_resp, strlen(head_resp), true) == 0 && strcmp(O.kinds, "HD") == 0 && O.blen == 0);
    CHECK(O.p.content_length == 1234 && O.used == strlen(head_resp));
    static const char head_close[] = "HTTP/1.1 200 OK\r\n\r\n";
    CHECK(runx(head_close, strlen(head_close), true) == 0 && strcmp(O.kinds, "HD") == 0 && !O.p.until_close);
    /* the reason phrase may be empty, or absent with its space */
    CHECK(run("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n") == 0 && O.p.status == 200);
    CHECK(run("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n") == 0 && O.p.status == 200);
    CHECK(run("HTTP/1.1 599 \xc3\xa9trange\t raison\r\nContent-Length: 0\r\n\r\n") == 0 && O.p.status == 599);
}

/* The DONE of a bodyless or Content-Length response takes no bytes: the call
 * after HEAD (or after the last BODY) with n == 0 must report it. */
static void test_zero_byte_done(void)
{
    static const char m[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    struct httpr_parser p = {0};
    struct httpr_event ev;
    const uint8_t *in = (const uint8_t *)m;
    size_t hl = strlen(m) - 3;
    CHECK(httpr_feed(&p, in, hl, &ev) == (ssize_t)hl && ev.kind == HTTPR_EV_HEAD);
    CHECK(httpr_feed(&p, in + hl, 0, &ev) == 0 && ev.kind == HTTPR_EV_NONE);
    CHECK(httpr_feed(&p, in + hl, 3, &ev) == 3 && ev.kind == HTTPR_EV_BODY && ev.len == 3 && ev.data == in + hl);
    CHECK(httpr_feed(&p, in + hl + 3, 0, &ev) == 0 && ev.kind == HTTPR_EV_DONE);
    CHECK(httpr_feed(&p, in, 5, &ev) == 0 && ev.kind == HTTPR_EV_DONE); /* sticky */
    CHECK(httpr_eof(&p) == HTTPR_EV_DONE);

    /* reset keeps head_request and clears the rest */
    p.head_request = true;
    httpr_reset(&p);
    CHECK(p.head_request);
    CHECK(httpr_feed(&p, in, strlen(m), &ev) == (ssize_t)hl && ev.kind == HTTPR_EV_HEAD);
    CHECK(httpr_feed(&p, in + hl, 3, &ev) == 0 && ev.kind == HTTPR_EV_DONE);
    p.head_request = false;
    httpr_reset(&p);
    CHECK(httpr_feed(&p, in, strlen(m), &ev) == (ssize_t)hl && ev.kind == HTTPR_EV_HEAD && p.content_length == 3);

    /* Content-Length: 0 is DONE right after HEAD */
    static const char z[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1";
    httpr_reset(&p);
    in = (const uint8_t *)z;
    CHECK(httpr_feed(&p, in, strlen(z), &ev) == (ssize_t)strlen(z) - 8 && ev.kind == HTTPR_EV_HEAD);
    CHECK(httpr_feed(&p, in + strlen(z) - 8, 8, &ev) == 0 && ev.kind == HTTPR_EV_DONE);

    /* a zero-initialised parser is ready; eof before any byte is truncation */
    struct httpr_parser q = {0};
    CHECK(httpr_eof(&q) == HTTPR_E_TRUNCATED);
    CHECK(httpr_feed(&q, in, 4, &ev) == HTTPR_E_TRUNCATED); /* dead stays dead */
}

/* ---- errors ------------------------------------------------------------------ */

static void test_bad_status(void)
{
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.x 200 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 600 High\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "\r\nHTTP/1.1 200 OK\r\n\r\n",
        " HTTP/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\n\n",           /* LF-only */
        "HTTP/1.1 200 O\rK\r\n\r\n",     /* bare CR */
        "HTTP/1.1 200 O\x01K\r\n\r\n",   /* control byte */
        "HTTP/1.1 200 O\x7fK\r\n\r\n",
        "HTTP/1.1 200 OK\r\r\n",
        "<html><body>502 Bad Gateway</body></html>",
        "\x15\x03\x03\x00\x02\x02\x46",  /* a TLS alert on a plain-HTTP port */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK(run(bad[i]) == HTTPR_E_BAD_STATUS);
        if (O.err != HTTPR_E_BAD_STATUS)
            fprintf(stderr, "  bad status %zu: %d\n", i, O.err);
    }
    CHECK(runx("HTTP/1.1 200 OK\0\r\n\r\n", 20, false) == HTTPR_E_BAD_STATUS);
    /* non-HTTP fails on its first byte, not after a line's worth */
    CHECK(run("<") == HTTPR_E_BAD_STATUS && O.used == 0);
}

static void test_bad_header(void)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",        /* obs-fold */
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n\tfolded\r\n\r\n",
        "HTTP/1.1 200 OK\r\n Leading: space\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello", /* space before ':' */
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: empty-name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX(y): z\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n",                /* bare CR */
        "HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\n\r\n",           /* bare LF */
        "HTTP/1.1 200 OK\r\nX-A: a\r\n\n",                     /* LF-only blank line */
        "HTTP/1.1 200 OK\r\nX-A: a\x01\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\x7f\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK(run(bad[i]) == HTTPR_E_BAD_HEADER);
        if (O.err != HTTPR_E_BAD_HEADER)
            fprintf(stderr, "  bad header %zu: %d\n", i, O.err);
    }
    static const char nul[] = "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n";
    CHECK(runx(nul, sizeof nul - 1, false) == HTTPR_E_BAD_HEADER);
    /* values may be empty, carry obs-text and inner HTAB; OWS is trimmed */
    CHECK(run("HTTP/1.1 200 OK\r\nX-Empty:\r\nx-request-id: \t id\t1 \t\r\nX-Utf8: caf\xc3\xa9\r\n"
              "Content-Length: 0\r\n\r\n") == 0 &&
          strcmp(O.p.request_id, "id\t1") == 0);
}

static void test_too_long(void)
{
    static char msg[20000];
    /* a header line of exactly HTTPR_LINE_MAX bytes passes; one more fails */
    for (int extra = 0; extra <= 1; extra++) {
        strcpy(msg, "HTTP/1.1 200 OK\r\nX-Big: ");
        size_t n = strlen(msg);
        size_t fill = HTTPR_LINE_MAX - strlen("X-Big: ") + (size_t)extra;
        memset(msg + n, 'a', fill);
        strcpy(msg + n + fill, "\r\nContent-Length: 0\r\n\r\n");
        CHECK(run(msg) == (extra ? HTTPR_E_TOO_LONG : 0));
    }
    /* a long Content-Type is truncated, not refused */
    strcpy(msg, "HTTP/1.1 200 OK\r\nContent-Type: ");
    memset(msg + strlen(msg), 'c', 300);
    msg[strlen("HTTP/1.1 200 OK\r\nContent-Type: ") + 300] = '\0';
    strcat(msg, "\r\nContent-Length: 0\r\n\r\n");
    CHECK(run(msg) == 0 && strlen(O.p.content_type) == sizeof O.p.content_type - 1);
    /* HTTPR_HEADERS_MAX header lines pass, one more fails */
    for (int extra = 0; extra <= 1; extra++) {
        strcpy(msg, "HTTP/1.1 200 OK\r\n");
        for (int i = 0; i < HTTPR_HEADERS_MAX - 1 + extra; i++)
            sprintf(msg + strlen(msg), "X-H%d: %d\r\n", i, i);
        strcat(msg, "Content-Length: 0\r\n\r\n");
        CHECK(run(msg) == (extra ? HTTPR_E_TOO_LONG : 0));
    }
    /* same budget for trailers, counted afresh */
    strcpy(msg, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n");
    for (int i = 0; i < HTTPR_HEADERS_MAX - 1; i++)
        sprintf(msg + strlen(msg), "X-H%d: %d\r\n", i, i);
    strcat(msg, "\r\n0\r\n");
    size_t base = strlen(msg);
    for (int i = 0; i < HTTPR_HEADERS_MAX; i++)
        sprintf(msg + strlen(msg), "X-T%d: %d\r\n", i, i);
    strcat(msg, "\r\n");
    CHECK(run(msg) == 0 && strcmp(O.kinds, "HD") == 0);
    sprintf(msg + strlen(msg) - 2, "X-T: last\r\n\r\n");
    CHECK(run(msg) == HTTPR_E_TOO_LONG);
    (void)base;
    /* a status line over the limit */
    strcpy(msg, "HTTP/1.1 200 ");
    memset(msg + strlen(msg), 'r', HTTPR_LINE_MAX);
    msg[13 + HTTPR_LINE_MAX] = '\0';
    strcat(msg, "\r\n\r\n");
    CHECK(run(msg) == HTTPR_E_TOO_LONG);
    /* a chunk-size line over the limit (long extension) */
    strcpy(msg, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
    size_t at = strlen(msg);
    memset(msg + at, 'e', HTTPR_LINE_MAX);
    msg[at + HTTPR_LINE_MAX] = '\0';
    strcat(msg, "\r\nx\r\n0\r\n\r\n");
    CHECK(run(msg) == HTTPR_E_TOO_LONG);
}

static void test_bad_length(void)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387905\r\n\r\n", /* 2^62 + 1 */
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK(run(bad[i]) == HTTPR_E_BAD_LENGTH);
        if (O.err != HTTPR_E_BAD_LENGTH)
            fprintf(stderr, "  bad length %zu: %d\n", i, O.err);
    }
    CHECK(run("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 005\r\n\r\nhello") == 0 && body_is("hello"));
    /* 2^62 itself is accepted (and then truncated, of course) */
    CHECK(run("HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\nabc") == 0);
    CHECK(O.p.content_length == (int64_t)1 << 62 && body_is("abc") && O.eof == HTTPR_E_TRUNCATED);
}

static void test_bad_chunk(void)
{
    static const char *const bad[] = {
        "xyz\r\n",
        "\r\n",
        ";ext\r\n",
        " 5\r\nhello\r\n0\r\n\r\n",
        "5 x\r\nhello\r\n0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",         /* LF-only size line */
        "5\r\nhello\n0\r\n\r\n",         /* bare LF after the data */
        "5\r\nhello\r0\r\n\r\n",         /* CR without LF */
        "5\r\nhelloX\r\n0\r\n\r\n",      /* data longer than announced */
        "5\r\nhell\r\n0\r\n\r\n",        /* shorter: "\r" is data, then "\n0" */
        "4000000000000001\r\n",          /* 2^62 + 1 */
        "10000000000000000\r\n",         /* 2^64: would wrap */
        "FFFFFFFFFFFFFFFFFFFF\r\n",
        "5;a\x01\r\nhello\r\n0\r\n\r\n",  /* control byte in the extension */
        "5\r\r\nhello\r\n0\r\n\r\n",
    };
    static char msg[512];
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        snprintf(msg, sizeof msg, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s", bad[i]);
        CHECK(run(msg) == HTTPR_E_BAD_CHUNK);
        if (O.err != HTTPR_E_BAD_CHUNK)
            fprintf(stderr, "  bad chunk %zu: %d\n", i, O.err);
    }
    /* the body seen before the error is still reported */
    CHECK(run("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n") == HTTPR_E_BAD_CHUNK &&
          body_is("abc") && strcmp(O.kinds, "H") == 0);
    /* 2^62 exactly is a (hopeless but well-formed) size */
    CHECK(run("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4000000000000000\r\nab") == 0 &&
          body_is("ab") && O.eof == HTTPR_E_TRUNCATED);
    CHECK(run("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              "0000000000000000000000000000000000000003\t;x=\"y z\"\r\nabc\r\n00\r\n\r\n") == 0 &&
          body_is("abc"));
}

static void test_te(void)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK(run(bad[i]) == HTTPR_E_TE);
        if (O.err != HTTPR_E_TE)
            fprintf(stderr, "  bad te %zu: %d\n", i, O.err);
    }
    CHECK(run("HTTP/1.1 200 OK\r\nTransfer-Encoding:  ChUnKeD \r\n\r\n2\r\nhi\r\n0\r\n\r\n") == 0 && body_is("hi"));
}

static void test_truncated(void)
{
    static const char *const cut[] = {
        "",
        "HTTP/1.1 200 OK",
        "HTTP/1.1 200 OK\r",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhell",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(cut); i++) {
        CHECK(run(cut[i]) == 0 && O.eof == HTTPR_E_TRUNCATED);
        if (O.eof != HTTPR_E_TRUNCATED)
            fprintf(stderr, "  truncated %zu: %d\n", i, O.eof);
    }
    CHECK(run("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n") == 0 &&
          strcmp(O.kinds, "HD") == 0 && body_is("hello"));
    /* errors are sticky, eof repeats them */
    struct httpr_parser p = {0};
    struct httpr_event ev;
    CHECK(httpr_feed(&p, (const uint8_t *)"X", 1, &ev) == HTTPR_E_BAD_STATUS);
    CHECK(httpr_feed(&p, (const uint8_t *)"HTTP/1.1 200 OK\r\n", 17, &ev) == HTTPR_E_BAD_STATUS);
    CHECK(httpr_eof(&p) == HTTPR_E_BAD_STATUS);
    httpr_reset(&p);
    CHECK(httpr_feed(&p, (const uint8_t *)"HTTP/1.1 200 OK\r\n", 17, &ev) == 17 && ev.kind == HTTPR_EV_NONE);
}

/* Two responses on one keep-alive connection, fed as one buffer. */
static void test_pipelined(void)
{
    static const char m[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n0\r\n\r\n"
                            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";
    const uint8_t *in = (const uint8_t *)m;
    size_t n = strlen(m), off = 0;
    struct httpr_parser p = {0};
    struct httpr_event ev;
    char body[16] = "";
    int dones = 0;
    while (dones < 2) {
        ssize_t r = httpr_feed(&p, in + off, n - off, &ev);
        CHECK(r >= 0);
        if (r < 0)
            break;
        off += (size_t)r;
        if (ev.kind == HTTPR_EV_BODY)
            strncat(body, (const char *)ev.data, ev.len);
        if (ev.kind == HTTPR_EV_DONE) {
            dones++;
            httpr_reset(&p);
        }
        if (ev.kind == HTTPR_EV_NONE)
            break;
    }
    CHECK(dones == 2 && off == n && strcmp(body, "onetwo") == 0);
}

int main(void)
{
    test_chat_stream();
    test_transcription();
    test_audio();
    test_rate_limited();
    test_interim();
    test_connection();
    test_location();
    test_no_body();
    test_zero_byte_done();
    test_bad_status();
    test_bad_header();
    test_too_long();
    test_bad_length();
    test_bad_chunk();
    test_te();
    test_truncated();
    test_pipelined();
    return T_DONE();
}
