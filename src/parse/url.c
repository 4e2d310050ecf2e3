/* deps: none */
#include "parse/url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static bool url_is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static bool url_is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static char url_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* RFC 3986 pchar minus '%' (checked separately), plus '/' and '?'. */
static bool url_target_char(unsigned char c)
{
    if (url_is_alpha(c) || url_is_digit(c))
        return true;
    return strchr("-._~!$&'()*+,;=:@/?", c) != NULL && c != '\0';
}

/* Does the last label look like a number (decimal, or 0x-hex)? Then the
 * WHATWG URL parser (browsers, many libraries) reads the name as IPv4. */
static bool url_numeric_tail(const char *s, size_t n)
{
    size_t st = n;
    while (st > 0 && s[st - 1] != '.')
        st--;
    const char *l = s + st;
    size_t ln = n - st;
    if (ln == 0)
        return false;
    if (ln >= 2 && l[0] == '0' && (l[1] | 0x20) == 'x') {
        for (size_t i = 2; i < ln; i++)
            if (hex_value((unsigned char)l[i]) < 0)
                return false;
        return true;
    }
    for (size_t i = 0; i < ln; i++)
        if (!url_is_digit((unsigned char)l[i]))
            return false;
    return true;
}

static int url_dns_name(const char *s, size_t n, struct url *u)
{
    if (n == 0)
        return URL_E_HOST;
    if (n > URL_HOST_MAX)
        return URL_E_TOO_LONG;
    size_t lab = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (lab == 0 || lab > 63 || s[i - 1] == '-' || s[i - lab] == '-')
                return URL_E_HOST;
            lab = 0;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (!url_is_alpha(c) && !url_is_digit(c) && c != '-')
            return URL_E_HOST;
        lab++;
    }
    for (size_t i = 0; i < n; i++)
        u->host[i] = url_lower(s[i]);
    u->host[n] = '\0';
    u->kind = URL_HOST_NAME;
    return URL_OK;
}

static int url_host(const char *s, size_t n, struct url *u)
{
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        char tmp[64];
        if (n - 2 == 0 || n - 2 >= sizeof tmp)
            return URL_E_HOST;
        for (size_t i = 1; i < n - 1; i++) /* no zone id, nothing inet_pton might tolerate */
            if (hex_value((unsigned char)s[i]) < 0 && s[i] != ':' && s[i] != '.')
                return URL_E_HOST;
        memcpy(tmp, s + 1, n - 2);
        tmp[n - 2] = '\0';
        if (inet_pton(AF_INET6, tmp, u->ip) != 1 || !inet_ntop(AF_INET6, u->ip, u->host, sizeof u->host))
            return URL_E_HOST;
        u->kind = URL_HOST_IPV6;
        return URL_OK;
    }
    if (url_numeric_tail(s, n)) {
        if (!ipv4_dotted(s, n, u->ip))
            return URL_E_HOST;
        memcpy(u->host, s, n);
        u->host[n] = '\0';
        u->kind = URL_HOST_IPV4;
        return URL_OK;
    }
    return url_dns_name(s, n, u);
}

static int url_port(const char *s, size_t n, struct url *u)
{
    if (n == 0 || n > 5 || s[0] == '0')
        return URL_E_PORT;
    uint64_t v;
    if (!dec_value(s, n, 65535, &v))
        return URL_E_PORT;
    u->port = (uint16_t)v;
    u->port_explicit = true;
    return URL_OK;
}

static int url_authority(const char *s, size_t n, struct url *u)
{
    if (memchr(s, '@', n))
        return URL_E_USERINFO;
    size_t hn = n;
    if (n > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb)
            return URL_E_HOST;
        hn = (size_t)(rb - s) + 1;
        if (hn < n && s[hn] != ':')
            return URL_E_HOST;
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon) {
            hn = (size_t)(colon - s);
            if (memchr(colon + 1, ':', n - hn - 1))
                return URL_E_HOST;
        }
    }
    int rc = url_host(s, hn, u);
    if (rc != URL_OK)
        return rc;
    if (hn < n)
        return url_port(s + hn + 1, n - hn - 1, u);
    return URL_OK;
}

/* path-abempty ["?" query] ["#" fragment]: checked; the fragment dropped. */
static int url_target(const char *s, size_t n, struct url *u)
{
    const char *hash = memchr(s, '#', n);
    size_t tn = hash ? (size_t)(hash - s) : n;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == tn)
            continue; /* the '#' itself */
        if (c == '%') {
            if (i + 2 >= n || (hash && i < tn && i + 2 >= tn))
                return URL_E_PATH;
            if (hex_value((unsigned char)s[i + 1]) < 0 || hex_value((unsigned char)s[i + 2]) < 0)
                return URL_E_PATH;
            i += 2;
            continue;
        }
        if (!url_target_char(c))
            return URL_E_PATH;
    }
    size_t need = tn + (tn == 0 || s[0] != '/' ? 1 : 0);
    if (need > URL_TARGET_MAX)
        return URL_E_TOO_LONG;
    size_t o = 0;
    if (tn == 0 || s[0] != '/')
        u->target[o++] = '/';
    memcpy(u->target + o, s, tn);
    u->target[o + tn] = '\0';
    return URL_OK;
}

int url_parse(const char *s, size_t n, struct url *u)
{
    memset(u, 0, sizeof *u);
    if (n > URL_MAX)
        return URL_E_TOO_LONG;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c >= 0x7f || c == '\\')
            return URL_E_CHAR;
    }
    size_t i = 0;
    while (i < n && (url_is_alpha((unsigned char)s[i]) ||
                     (i > 0 && (url_is_digit((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))))
        i++;
    if (i == 0 || i >= n || s[i] != ':')
        return URL_E_SYNTAX;
    char scheme[8];
    if (i >= sizeof scheme)
        return URL_E_SCHEME;
    for (size_t k = 0; k < i; k++)
        scheme[k] = url_lower(s[k]);
    scheme[i] = '\0';
    if (strcmp(scheme, "https") == 0)
        u->https = true;
    else if (strcmp(scheme, "http") != 0)
        return URL_E_SCHEME;
    i++;
    if (n - i < 2 || s[i] != '/' || s[i + 1] != '/')
        return URL_E_SYNTAX;
    i += 2;
    size_t a = i;
    while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#')
        i++;
    u->port = u->https ? 443 : 80;
    int rc = url_authority(s + a, i - a, u);
    if (rc != URL_OK)
        return rc;
    return url_target(s + i, n - i, u);
}

/* "scheme://host[:port]" of u into out; returns its length or 0 if it does not fit. */
static size_t url_origin(const struct url *u, char *out, size_t cap)
{
    bool v6 = u->kind == URL_HOST_IPV6;
    char port[8] = "";
    if (u->port_explicit)
        snprintf(port, sizeof port, ":%u", u->port);
    int k = snprintf(out, cap, "%s://%s%s%s%s", u->https ? "https" : "http", v6 ? "[" : "", u->host,
                     v6 ? "]" : "", port);
    return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

bool url_format(const struct url *u, char *out, size_t cap)
{
    size_t o = url_origin(u, out, cap);
    size_t t = strlen(u->target);
    if (o == 0 || o + t >= cap)
        return false;
    memcpy(out + o, u->target, t + 1);
    return true;
}

static bool url_has_scheme(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != ':' && s[i] != '/' && s[i] != '?' && s[i] != '#')
        i++;
    return i > 0 && i < n && s[i] == ':';
}

int url_resolve(const struct url *base, const char *ref, size_t n, struct url *out)
{
    char buf[URL_MAX + URL_HOST_MAX + URL_TARGET_MAX + 32];
    if (n > URL_MAX) {
        memset(out, 0, sizeof *out);
        return URL_E_TOO_LONG;
    }
    if (url_has_scheme(ref, n))
        return url_parse(ref, n, out);
    size_t o;
    if (n >= 2 && ref[0] == '/' && ref[1] == '/') {
        o = (size_t)snprintf(buf, sizeof buf, "%s:", base->https ? "https" : "http");
    } else {
        o = url_origin(base, buf, sizeof buf);
        if (n == 0 || ref[0] == '#') {
            size_t t = strlen(base->target);
            memcpy(buf + o, base->target, t);
            o += t;
        } else if (ref[0] == '?') {
            size_t t = strcspn(base->target, "?");
            memcpy(buf + o, base->target, t);
            o += t;
        } else if (ref[0] != '/') { /* relative path: merge with the base's directory */
            size_t t = strcspn(base->target, "?");
            while (t > 0 && base->target[t - 1] != '/')
                t--;
            memcpy(buf + o, base->target, t);
            o += t;
        }
    }
    if (o + n >= sizeof buf) {
        memset(out, 0, sizeof *out);
        return URL_E_TOO_LONG;
    }
    memcpy(buf + o, ref, n);
    return url_parse(buf, o + n, out);
}

const char *url_strerror(int err)
{
    switch (err) {
    case URL_OK: return "ok";
    case URL_E_SYNTAX: return "not an absolute URL (scheme://host/path)";
    case URL_E_SCHEME: return "only http(s) URLs are understood";
    case URL_E_USERINFO: return "user names or passwords in URLs are not accepted";
    case URL_E_HOST: return "the host name is malformed (IPv4 must be a plain dotted quad, no IPv6 zone)";
    case URL_E_PORT: return "the port is malformed or out of range";
    case URL_E_PATH: return "the path or query has a character that must be percent-encoded";
    case URL_E_TOO_LONG: return "the URL or one of its parts is too long";
    case URL_E_CHAR: return "the URL has a space, control, backslash or non-ASCII character "
                            "(international names must be given in xn-- form)";
    default: return "invalid URL";
    }
}
