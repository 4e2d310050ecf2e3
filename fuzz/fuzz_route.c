// deps: src/parse/route.c
/* route fuzzer. The last input byte holds options (buffer capacities); if the
 * rest contains '\n', the bytes before it are the query key. The remainder,
 * copied into an exact-size heap block, is fed to route_match,
 * route_decode_path and route_query_get. route_match is checked against a
 * model built on route_decode_path of the whole path, decode_path against
 * itself at other capacities, and query_get against its contract. */
#include "parse/route.h"

#include <stdlib.h>
#include <string.h>

#define FZ_ASSERT(c)                                                                                                   \
    do {                                                                                                               \
        if (!(c))                                                                                                      \
            abort();                                                                                                   \
    } while (0)

static bool fz_eq(const char *p, ssize_t n, const char *lit)
{
    return n >= 0 && (size_t)n == strlen(lit) && memcmp(p, lit, (size_t)n) == 0;
}

static bool fz_eq_id(const char *dec, ssize_t n, const char *prefix, const char *id)
{
    size_t pl = strlen(prefix), il = strlen(id);
    return n >= 0 && (size_t)n == pl + il && memcmp(dec, prefix, pl) == 0 && memcmp(dec + pl, id, il) == 0;
}

static void fz_match(const char *p, size_t n, const char *dec, ssize_t dn)
{
    struct route_match m;
    memset(&m, 0x55, sizeof m);
    enum route_id r = route_match(p, n, &m);
    FZ_ASSERT(r == m.route && r >= ROUTE_NOT_FOUND && r <= ROUTE_BAD_PATH);
    FZ_ASSERT(memchr(m.id, '\0', sizeof m.id) != NULL);
    bool id_route = r == ROUTE_WS_CLIENT || r == ROUTE_WS_STREAM || r == ROUTE_STREAM_STATUS ||
                    r == ROUTE_STREAM_DISCONNECT;
    if (id_route)
        FZ_ASSERT(route_id_valid(m.id, strlen(m.id)));
    else
        FZ_ASSERT(m.id[0] == '\0');
    /* A path route_decode_path refuses is always BAD_PATH; a routed one
     * decodes to exactly the route's text. */
    if (dn < 0)
        FZ_ASSERT(r == ROUTE_BAD_PATH);
    if (r == ROUTE_HEALTH)
        FZ_ASSERT(fz_eq(dec, dn, "/health"));
    if (r == ROUTE_METRICS)
        FZ_ASSERT(fz_eq(dec, dn, "/metrics"));
    if (r == ROUTE_WS_CLIENT)
        FZ_ASSERT(fz_eq_id(dec, dn, "/ws/", m.id));
    if (r == ROUTE_WS_STREAM)
        FZ_ASSERT(fz_eq_id(dec, dn, "/api/stream/ws/", m.id));
    if (r == ROUTE_STREAM_STATUS)
        FZ_ASSERT(fz_eq_id(dec, dn, "/api/stream/status/", m.id));
    if (r == ROUTE_STREAM_DISCONNECT)
        FZ_ASSERT(fz_eq_id(dec, dn, "/api/stream/disconnect/", m.id));
    if (r == ROUTE_STREAM_TEST_PAGE)
        FZ_ASSERT(fz_eq(dec, dn, "/api/stream/test-page"));
    if (r == ROUTE_INDEX)
        FZ_ASSERT(fz_eq(dec, dn, "/") || fz_eq(dec, dn, "/interview"));
    if (r == ROUTE_SIO)
        FZ_ASSERT(fz_eq(dec, dn, "/socket.io") || fz_eq(dec, dn, "/socket.io/"));
}

static void fz_decode(const char *p, size_t n, const char *dec, ssize_t dn, size_t cap)
{
    FZ_ASSERT(dn < 0 || (size_t)dn <= n);
    if (dn >= 0)
        FZ_ASSERT(memchr(dec, '\0', (size_t)dn) == NULL);
    char *small = malloc(cap ? cap : 1);
    if (small == NULL)
        return;
    ssize_t sn = route_decode_path(p, n, small, cap);
    if (dn < 0 || (size_t)dn > cap)
        FZ_ASSERT(sn == -1);
    else
        FZ_ASSERT(sn == dn && memcmp(small, dec, (size_t)dn) == 0);
    free(small);
}

static void fz_query(const char *p, size_t n, const char *key, size_t cap)
{
    char *out = malloc(cap ? cap : 1);
    if (out == NULL)
        return;
    ssize_t r = route_query_get(p, n, key, out, cap);
    FZ_ASSERT(r >= -2);
    if (r >= 0)
        FZ_ASSERT((size_t)r < cap && out[r] == '\0' && strlen(out) == (size_t)r && (size_t)r <= n);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const size_t caps[4] = {0, 7, 65, 4096};
    uint8_t opt = data[size - 1];
    size = size - 1;

    char key[33] = "token";
    const uint8_t *nl = memchr(data, '\n', size);
    if (nl != NULL && (size_t)(nl - data) < sizeof key && memchr(data, '\0', (size_t)(nl - data)) == NULL) {
        size_t kl = (size_t)(nl - data);
        memcpy(key, data, kl);
        key[kl] = '\0';
        size -= kl + 1;
        data = nl + 1;
    }

    char *p = malloc(size ? size : 1);
    char *dec = malloc(size ? size : 1);
    if (p == NULL || dec == NULL) {
        free(p);
        free(dec);
        return 0;
    }
    memcpy(p, data, size);
    ssize_t dn = route_decode_path(p, size, dec, size);

    fz_match(p, size, dec, dn);
    fz_decode(p, size, dec, dn, caps[opt & 3]);
    fz_query(p, size, key, caps[(opt >> 2) & 3]);
    (void)route_id_valid(p, size);
    free(p);
    free(dec);
    return 0;
}

#undef FZ_ASSERT
