// deps: src/parse/url.c src/parse/addrclass.c
/* libFuzzer harness for url.c (and the address classifier on literals).
 * Input: a URL; after the first '\n', a reference resolved against it (or
 * against a fixed base when the first part does not parse). Invariants:
 *   - an accepted URL has a non-empty lowercase host of [a-z0-9.-] (or an
 *     IP literal that agrees with ip[]), a target starting with '/' made of
 *     printable ASCII without space, '#', '\\', and a port >= 1;
 *   - url_format() of it parses back to the identical struct (canonical),
 *     and needs exactly its length + 1 bytes of buffer;
 *   - every result code is one of enum url_error, with a message. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "parse/addrclass.h"
#include "parse/url.h"

static void fz_check(int rc, const struct url *u)
{
    if (rc < URL_E_CHAR || rc > URL_OK || url_strerror(rc)[0] == '\0')
        abort();
    if (rc != URL_OK)
        return;
    size_t hl = strlen(u->host);
    if (hl == 0 || hl > URL_HOST_MAX || u->port == 0 || u->target[0] != '/')
        abort();
    for (size_t i = 0; i < hl; i++) {
        char c = u->host[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                  (u->kind == URL_HOST_IPV6 && c == ':');
        if (!ok)
            abort();
    }
    for (const char *t = u->target; *t; t++)
        if (*t <= ' ' || *t >= 0x7f || *t == '#' || *t == '\\')
            abort();
    if (u->kind != URL_HOST_NAME) {
        uint8_t b[16];
        int fam = u->kind == URL_HOST_IPV4 ? AF_INET : AF_INET6;
        if (inet_pton(fam, u->host, b) != 1 || memcmp(b, u->ip, fam == AF_INET ? 4 : 16) != 0)
            abort();
        enum addr_class k = fam == AF_INET ? addr_class_v4(u->ip) : addr_class_v6(u->ip);
        if (addr_class_name(k)[0] == '\0')
            abort();
        /* the same address as the socket layer hands it over (the SSRF check after connect) */
        struct sockaddr_storage ss = {0};
        socklen_t sl;
        if (fam == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            a->sin_family = AF_INET;
            memcpy(&a->sin_addr, u->ip, 4);
            sl = sizeof *a;
        } else {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            a->sin6_family = AF_INET6;
            memcpy(&a->sin6_addr, u->ip, 16);
            sl = sizeof *a;
        }
        if (addr_class_sockaddr((const struct sockaddr *)&ss, sl) != k)
            abort();
    }
    static char buf[URL_MAX + URL_HOST_MAX + 64];
    struct url again;
    if (!url_format(u, buf, sizeof buf))
        return; /* origin + target may exceed URL_MAX after canonicalisation: fine */
    size_t n = strlen(buf);
    static char exact[sizeof buf];
    if (url_format(u, exact, n) || !url_format(u, exact, n + 1) || strcmp(exact, buf) != 0)
        abort();
    int rc2 = url_parse(buf, n, &again);
    if (n <= URL_MAX && (rc2 != URL_OK || memcmp(&again, u, sizeof again) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n1 = nl ? (size_t)(nl - data) : size;
    char *s = malloc(n1 ? n1 : 1);
    if (!s)
        return 0;
    memcpy(s, data, n1);
    struct sockaddr other = {.sa_family = AF_UNIX}; /* not an IP socket: never "public" */
    if (addr_class_sockaddr(&other, sizeof other) != ADDR_RESERVED)
        abort();
    if (strcmp(url_strerror(12345), "invalid URL") != 0) /* not one of our codes: still a message */
        abort();
    static struct url u, base, r;
    int rc = url_parse(s, n1, &u);
    fz_check(rc, &u);
    free(s);
    if (!nl)
        return 0;
    if (rc == URL_OK)
        base = u;
    else if (url_parse("https://jobs.example/dir/page?q=1", 33, &base) != URL_OK)
        abort();
    size_t n2 = size - n1 - 1;
    char *ref = malloc(n2 ? n2 : 1);
    if (!ref)
        return 0;
    memcpy(ref, nl + 1, n2);
    fz_check(url_resolve(&base, ref, n2, &r), &r);
    free(ref);
    return 0;
}
