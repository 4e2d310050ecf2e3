// deps: src/parse/access.c src/parse/ratelimit.c
/* access + ratelimit fuzzer. The input is split at '\n' into fields, each
 * an exact-size heap copy: field 0 is a TRUSTED_PROXIES list, field 1 the
 * peer address, the rest X-Forwarded-For values (also used as Origin/Host,
 * Authorization and Sec-WebSocket-Protocol values). Invariants:
 *   - an accepted CIDR list matches its own network addresses, and
 *     re-parsing each formatted network with its prefix gives the same entry;
 *   - the client address is the peer when the peer is not trusted, and
 *     otherwise one of the XFF entries or the peer; formatting it and
 *     parsing it back gives the same address;
 *   - access_same_origin is true for an origin built from its Host;
 *   - access_host_allowed admits a plain host name listed in ALLOWED_HOSTS;
 *   - bearer/subprotocol credentials lie inside their input;
 *   - access_token_eq is byte equality of non-empty tokens;
 *   - a formatted address fits any buffer it is given, NUL-terminated;
 *   - token buckets never pass more than burst + rate x elapsed (a burst or
 *     period of 0 counts as 1). */
#include "parse/access.h"
#include "parse/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_FIELDS 10

static void fz_inside(struct slice in, struct slice part)
{
    if (part.p < in.p || part.p + part.n > in.p + in.n)
        __builtin_trap();
}

static bool fz_plain_host(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '-'))
            return false;
    return true;
}

static void fz_cidrs(const char *s, size_t n)
{
    struct access_cidr l[ACCESS_CIDR_MAX];
    size_t k;
    if (access_cidr_parse(s, n, l, ACCESS_CIDR_MAX, &k) != ACCESS_OK)
        return;
    for (size_t i = 0; i < k; i++) {
        if (!access_cidr_match(&l[i], 1, &l[i].net) || l[i].bits > 128)
            __builtin_trap();
        char text[80], back[100];
        access_addr_format(&l[i].net, text, sizeof text);
        bool v4 = strchr(text, ':') == NULL;
        int m = snprintf(back, sizeof back, "%s/%u", text, v4 ? l[i].bits - 96u : l[i].bits);
        struct access_cidr again;
        size_t one;
        if (access_cidr_parse(back, (size_t)m, &again, 1, &one) != ACCESS_OK || one != 1 ||
            again.bits != l[i].bits || memcmp(&again.net, &l[i].net, 16) != 0)
            __builtin_trap();
    }
}

static void fz_buckets(const uint8_t *d, size_t n)
{
    if (n < 4)
        return;
    uint64_t rate = d[0] % 50, burst = d[1] % 20, per = (uint64_t)d[2] * 10, now = 1, passed = 0;
    struct rl_bucket b = {0};
    for (size_t i = 3; i < n; i++) {
        now += d[i] % 64;
        passed += rl_take(&b, rate, per, burst, 1, now);
    }
    burst += !burst, per += !per;
    if (rate && passed > burst + rate * (now - 1) / per + 1)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[FZ_FIELDS];
    size_t fn[FZ_FIELDS], nf = 0, start = 0;
    for (size_t i = 0; i <= size && nf < FZ_FIELDS; i++) {
        if (i == size || data[i] == '\n') {
            fn[nf] = i - start;
            f[nf] = malloc(fn[nf] ? fn[nf] : 1);
            memcpy(f[nf], data + start, fn[nf]);
            nf++;
            start = i + 1;
        }
    }
    fz_cidrs(f[0], fn[0]);
    fz_buckets(data, size);
    struct access_cidr t[ACCESS_CIDR_MAX];
    size_t nt = 0;
    struct access_addr peer, client;
    if (access_cidr_parse(f[0], fn[0], t, ACCESS_CIDR_MAX, &nt) != ACCESS_OK)
        nt = 0;
    if (nf > 1 && access_addr_parse(f[1], fn[1], &peer) == ACCESS_OK) {
        struct slice x[FZ_FIELDS];
        for (size_t i = 2; i < nf; i++)
            x[i - 2] = (struct slice){f[i], fn[i]};
        int k = access_client_addr(t, nt, &peer, x, nf - 2, &client);
        if (k < 0 || k > ACCESS_XFF_HOPS_MAX || (k == 0 && memcmp(&client, &peer, 16) != 0))
            __builtin_trap();
        if (!access_cidr_match(t, nt, &peer) && k != 0)
            __builtin_trap();
        char text[64];
        struct access_addr back;
        access_addr_format(&client, text, sizeof text);
        if (access_addr_parse(text, strlen(text), &back) != ACCESS_OK || memcmp(&back, &client, 16) != 0)
            __builtin_trap();
        size_t cap = 1 + size % sizeof text; /* a buffer too short for it, or not */
        char *small = malloc(cap);
        access_addr_format(&client, small, cap);
        if (strnlen(small, cap) == cap)
            __builtin_trap();
        free(small);
    }
    for (size_t i = 0; i < nf; i++) {
        struct slice in = {f[i], fn[i]}, cred, entry;
        if (access_bearer(in, &cred))
            fz_inside(in, cred);
        if (access_subproto_bearer(in, &entry, &cred)) {
            fz_inside(in, entry);
            fz_inside(entry, cred);
        }
        access_token_valid(f[i], fn[i]);
        if (i + 1 < nf &&
            access_token_eq(f[i], fn[i], f[i + 1], fn[i + 1]) !=
                (fn[i] > 0 && fn[i] == fn[i + 1] && memcmp(f[i], f[i + 1], fn[i]) == 0))
            __builtin_trap();
        if (i + 1 < nf) {
            access_same_origin(in, (struct slice){f[i + 1], fn[i + 1]});
            access_host_allowed(in, (struct slice){f[i + 1], fn[i + 1]});
        }
        if (fn[i] > 0 && fn[i] < 200 && fz_plain_host(f[i], fn[i])) {
            char o[220];
            int m = snprintf(o, sizeof o, "http://%.*s", (int)fn[i], f[i]);
            /* a plain host name is same-origin with http://<it>, and not with https:// */
            if (!access_same_origin((struct slice){o, (size_t)m}, in) ||
                access_same_origin((struct slice){o + 7, (size_t)m - 7}, in))
                __builtin_trap();
            m = snprintf(o, sizeof o, "https://%.*s", (int)fn[i], f[i]);
            if (access_same_origin((struct slice){o, (size_t)m}, (struct slice){o + 8, (size_t)m - 8}) !=
                true)
                __builtin_trap();
            if (!access_host_allowed(in, in)) /* listed in its own ALLOWED_HOSTS */
                __builtin_trap();
        }
    }
    for (size_t i = 0; i < nf; i++)
        free(f[i]);
    return 0;
}
