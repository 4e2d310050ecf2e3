// deps: src/pipeline/session.c
// libs: cjson
/* session.c: the blob round trip and what a blob must be to be restored;
 * the store's TTL, entry cap (least recently saved goes), byte cap, take
 * semantics and the remote backend's calls. */
#include "pipeline/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

static const char *got_blob;
static size_t got_n;
static int got_calls;
static char got_copy[4096];

static void got(void *arg, const char *blob, size_t n)
{
    (void)arg;
    got_calls++;
    got_blob = blob;
    got_n = n;
    if (blob && n < sizeof got_copy)
        memcpy(got_copy, blob, n + 1);
}

static void test_codec(void)
{
    struct session_rec r = {.turns = 2, .v000 = false, .has_det = true, .unanswered = "I said \"hi\"\n", .nhist = 3};
    r.det = (struct turn_detection){.server_vad = true, .threshold = 0.5, .prefix_padding_ms = 300, .silence_ms = 500,
                                    .interrupt_response = true, .incremental = false};
    r.hist[0] = (struct session_msg){"assistant", "Hello, tell me about you.", "2026-01-01T00:00:00.000Z"};
    r.hist[1] = (struct session_msg){"user", "I build servers \xc3\xa9.", "2026-01-01T00:00:05.000Z"};
    r.hist[2] = (struct session_msg){"assistant", "Why C?", NULL};
    size_t n = 0;
    char *blob = session_encode(&r, &n);
    CHECK(blob && n == strlen(blob));
    struct session_rec d;
    void *tree = session_decode(blob, n, &d);
    CHECK(tree != NULL);
    CHECK(d.turns == 2 && !d.v000 && d.has_det && d.det.server_vad && d.det.threshold == 0.5);
    CHECK(d.det.prefix_padding_ms == 300 && d.det.silence_ms == 500 && d.det.interrupt_response && !d.det.incremental);
    CHECK(d.unanswered && strcmp(d.unanswered, r.unanswered) == 0);
    CHECK(d.nhist == 3 && strcmp(d.hist[1].role, "user") == 0 && strcmp(d.hist[1].content, r.hist[1].content) == 0);
    CHECK(strcmp(d.hist[2].ts, "") == 0);
    session_decoded_free(tree);
    free(blob);

    /* without det and pending */
    struct session_rec e = {.turns = 0, .v000 = true};
    blob = session_encode(&e, &n);
    tree = session_decode(blob, n, &d);
    CHECK(tree && d.v000 && !d.has_det && !d.unanswered && d.nhist == 0);
    session_decoded_free(tree);
    free(blob);

    /* what is refused */
    static const char *const bad[] = {
        "", "[]", "{}", "not json",
        "{\"v\":2,\"turns\":0,\"v000\":false,\"h\":[]}",
        "{\"v\":1,\"turns\":-1,\"v000\":false,\"h\":[]}",
        "{\"v\":1,\"turns\":0,\"v000\":0,\"h\":[]}",
        "{\"v\":1,\"turns\":0,\"v000\":false}",
        "{\"v\":1,\"turns\":0,\"v000\":false,\"h\":[[\"system\",\"x\",\"\"]]}",
        "{\"v\":1,\"turns\":0,\"v000\":false,\"h\":[[\"user\",\"x\"]]}",
        "{\"v\":1,\"turns\":0,\"v000\":false,\"h\":[[\"user\",1,\"\"]]}",
        "{\"v\":1,\"turns\":0,\"v000\":false,\"pending\":5,\"h\":[]}",
        "{\"v\":1,\"turns\":0,\"v000\":false,\"det\":{\"vad\":true},\"h\":[]}",
        "{\"v\":1,\"turns\":0,\"v000\":false,\"det\":{\"vad\":true,\"thr\":2,\"pad\":0,\"sil\":500,\"int\":true,"
        "\"inc\":false},\"h\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tree = session_decode(bad[i], strlen(bad[i]), &d);
        CHECK(tree == NULL && d.nhist == 0);
        if (tree)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        session_decoded_free(tree);
    }
    /* too many messages */
    char big[SESSION_HIST_MAX * 24 + 64];
    size_t k = (size_t)snprintf(big, sizeof big, "{\"v\":1,\"turns\":0,\"v000\":false,\"h\":[");
    for (int i = 0; i <= SESSION_HIST_MAX; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "%s[\"user\",\"x\",\"\"]", i ? "," : "");
    k += (size_t)snprintf(big + k, sizeof big - k, "]}");
    CHECK(session_decode(big, k, &d) == NULL);
}

static void test_store(void)
{
    struct session_stats st;
    CHECK(session_init(&(struct session_config){.ttl_ms = 1000, .max_entries = 3, .max_bytes = 1 << 20}) == 0);
    CHECK(session_put("aaaaaaaaaaaaaaaa", "one", 3, 0));
    CHECK(session_put("bbbbbbbbbbbbbbbb", "two", 3, 10));
    CHECK(session_put("aaaaaaaaaaaaaaaa", "ONE", 3, 20)); /* replaces, now the newest */
    session_stats(&st);
    CHECK(st.entries == 2);
    CHECK(session_put("cccccccccccccccc", "three", 5, 30));
    CHECK(session_put("dddddddddddddddd", "four", 4, 40)); /* evicts b, the least recently saved */
    session_stats(&st);
    CHECK(st.entries == 3 && st.evicted == 1);
    got_calls = 0;
    session_take("bbbbbbbbbbbbbbbb", got, NULL, 50);
    CHECK(got_calls == 1 && got_blob == NULL);
    session_take("aaaaaaaaaaaaaaaa", got, NULL, 50);
    CHECK(got_calls == 2 && got_n == 3 && strcmp(got_copy, "ONE") == 0);
    session_take("aaaaaaaaaaaaaaaa", got, NULL, 50); /* taken: gone */
    CHECK(got_calls == 3 && got_blob == NULL);
    /* TTL: c saved at 30 expires at 1030 */
    session_take("cccccccccccccccc", got, NULL, 1030);
    CHECK(got_blob == NULL);
    session_stats(&st);
    CHECK(st.expired >= 1);
    session_take("dddddddddddddddd", got, NULL, 1039);
    CHECK(got_blob != NULL && strcmp(got_copy, "four") == 0);
    session_stats(&st);
    CHECK(st.entries == 0 && st.bytes == 0);
    session_free();

    /* byte cap: each entry costs its blob + 128 */
    CHECK(session_init(&(struct session_config){.ttl_ms = 1000, .max_entries = 100, .max_bytes = 400}) == 0);
    char blob[200];
    memset(blob, 'x', sizeof blob);
    CHECK(session_put("eeeeeeeeeeeeeeee", blob, 100, 0));
    CHECK(session_put("ffffffffffffffff", blob, 100, 1)); /* 456 > 400: e goes */
    session_stats(&st);
    CHECK(st.entries == 1 && st.bytes == 228);
    CHECK(!session_put("gggggggggggggggg", blob, 300, 2)); /* alone over the cap: not kept */
    session_stats(&st);
    CHECK(st.entries == 1 && st.too_big == 1);
    session_expire(5000);
    session_stats(&st);
    CHECK(st.entries == 0 && st.bytes == 0);
    session_free();
}

/* A remote backend that records its calls; take answers later. */
static struct {
    int puts, takes, claims, dels, cancels, releases;
    char last_id[80];
    uint64_t last_ttl;
    session_got_fn cb;
    void *arg;
} rem;

static void rem_put(void *ctx, const char *id, const char *blob, size_t n, uint64_t ttl_ms)
{
    (void)ctx, (void)blob, (void)n;
    rem.puts++;
    rem.last_ttl = ttl_ms;
    snprintf(rem.last_id, sizeof rem.last_id, "%s", id);
}
static void rem_take(void *ctx, const char *id, session_got_fn cb, void *arg)
{
    (void)ctx, (void)id;
    rem.takes++;
    rem.cb = cb;
    rem.arg = arg;
}
static void rem_cancel(void *ctx, void *arg)
{
    (void)ctx;
    if (rem.arg == arg)
        rem.cb = NULL;
    rem.cancels++;
}
static void rem_del(void *ctx, const char *id)
{
    (void)ctx, (void)id;
    rem.dels++;
}

static void rem_claim(void *ctx, const char *id)
{
    (void)ctx, (void)id;
    rem.claims++;
}

static void rem_release(void *ctx, const char *id)
{
    (void)ctx, (void)id;
    rem.releases++;
}

static void taken_fn(const char *id)
{
    /* the dialect saves its live connection of id: here, as if it did */
    session_put(id, "live", 4, 2);
}

static void test_remote(void)
{
    CHECK(session_init(&(struct session_config){.ttl_ms = 1000, .max_entries = 10, .max_bytes = 1 << 20}) == 0);
    session_set_remote(&(struct session_remote){NULL, rem_put, rem_take, rem_claim, rem_cancel, rem_del, rem_release});
    CHECK(session_put("hhhhhhhhhhhhhhhh", "h", 1, 0));
    CHECK(rem.puts == 1 && strcmp(rem.last_id, "hhhhhhhhhhhhhhhh") == 0);
    got_calls = 0;
    session_take("hhhhhhhhhhhhhhhh", got, NULL, 1); /* local hit: claimed (remote copy deleted) */
    CHECK(got_calls == 1 && got_blob && rem.claims == 1 && rem.takes == 0);
    session_take("iiiiiiiiiiiiiiii", got, &rem, 1); /* local miss: asks the remote */
    CHECK(got_calls == 1 && rem.takes == 1 && rem.cb == got);
    rem.cb(rem.arg, "remote", 6);
    CHECK(got_calls == 2 && strcmp(got_copy, "remote") == 0);
    session_take("jjjjjjjjjjjjjjjj", got, &rem, 1);
    session_take_cancel(&rem);
    CHECK(rem.cancels == 1 && rem.cb == NULL);
    /* resync: every local entry is put again, with the time it has left */
    int before = rem.puts;
    CHECK(session_put("mmmmmmmmmmmmmmmm", "m", 1, 100));
    CHECK(session_put("nnnnnnnnnnnnnnnn", "n", 1, 200));
    session_resync(500);
    CHECK(rem.puts == before + 4 && strcmp(rem.last_id, "nnnnnnnnnnnnnnnn") == 0 && rem.last_ttl == 700);
    session_resync(1150); /* m expired at 1100 */
    CHECK(rem.puts == before + 5 && rem.last_ttl == 50);
    session_release("kkkkkkkkkkkkkkkk");
    CHECK(rem.releases == 1);
    /* another instance took an id: the live connection here is saved (to the
     * remote too), and the local copy goes, since the other instance holds the newer one */
    session_on_taken(taken_fn);
    int puts = rem.puts;
    struct session_stats st;
    session_stats(&st);
    uint64_t entries = st.entries;
    session_remote_taken("llllllllllllllll");
    CHECK(rem.puts == puts + 1);
    session_stats(&st);
    CHECK(st.entries == entries);
    session_on_taken(NULL);
    session_set_remote(NULL);
    session_free();
}

int main(void)
{
    test_codec();
    test_store();
    test_remote();
    return T_DONE();
}
