/* Request-target routing; see route.h.
 *
 * route_match works on raw '/'-separated segments, decoding each one on its
 * own: decoding the whole path first would turn "/ws/a%2Fb" into the
 * three-segment "/ws/a/b" and hide that the client put a '/' inside an id. */
#include "parse/route.h"

/* Largest length whose count fits the ssize_t results. SSIZE_MAX is POSIX,
 * not C17; ssize_t and ptrdiff_t have the same width on every target we
 * build for. */
#define ROUTE_LEN_MAX ((size_t)PTRDIFF_MAX)
/* Segments a route can have; a longer path cannot match. */
#define ROUTE_MAX_SEGS 4
/* Decoded bytes kept per segment: enough for the longest literal and for an
 * id of ROUTE_ID_MAX plus one byte to tell "too long" from "exactly 64". */
#define ROUTE_SEG_KEEP (ROUTE_ID_MAX + 1)

/* Decodes "%XX" at p[i..n): returns the byte, or -1 when the escape is
 * truncated, not hex, or "%00" (a NUL would truncate C strings downstream). */
static int route_pct(const char *p, size_t i, size_t n)
{
    if (n - i < 3)
        return -1;
    int hi = hex_value((unsigned char)p[i + 1]);
    int lo = hex_value((unsigned char)p[i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        return -1;
    return hi * 16 + lo;
}

/* RFC 3986 pchar minus pct-encoded (handled separately), plus "/". */
static bool route_is_path_char(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '-': case '.': case '_': case '~':                     /* unreserved */
    case '!': case '$': case '&': case '\'': case '(': case ')': /* sub-delims */
    case '*': case '+': case ',': case ';': case '=':
    case ':': case '@': case '/':
        return true;
    default:
        return false;
    }
}

/* Decodes path[0..n), storing at most cap bytes in out but counting all of
 * them, so callers can both fill a bounded buffer and learn the full length.
 * Returns the full decoded length or -1 for an invalid byte or escape. */
static ssize_t route_decode_count(const char *path, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; o++) {
        int c = (unsigned char)path[i];
        if (c == '%') {
            c = route_pct(path, i, n);
            if (c < 0)
                return -1;
            i += 3;
        } else if (route_is_path_char((unsigned char)c)) {
            i++;
        } else {
            return -1;
        }
        if (o < cap)
            out[o] = (char)c;
    }
    return (ssize_t)o;
}

ssize_t route_decode_path(const char *path, size_t n, char *out, size_t cap)
{
    /* n bytes decode to at most n, so the result always fits in ssize_t. */
    if (n > ROUTE_LEN_MAX)
        return -1;
    ssize_t len = route_decode_count(path, n, out, cap);
    if (len < 0 || (size_t)len > cap)
        return -1;
    return len;
}

bool route_id_valid(const char *id, size_t n)
{
    if (n == 0 || n > ROUTE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

/* One decoded path segment, truncated to ROUTE_SEG_KEEP; len is the full
 * decoded length. */
struct route_seg {
    char s[ROUTE_SEG_KEEP];
    size_t len;
};

static bool route_seg_is(const struct route_seg *g, const char *lit)
{
    size_t n = 0;
    while (lit[n] != '\0')
        n++;
    return g->len == n && slice_eq((struct slice){g->s, n}, lit, n);
}

/* Dot segments are refused rather than resolved: a client that sends them is
 * probing for traversal, and no valid URL of ours contains one. */
static bool route_seg_is_dot(const struct route_seg *g)
{
    return route_seg_is(g, ".") || route_seg_is(g, "..");
}

/* Splits the raw path (after its leading '/') into segments, decoding each.
 * Fills the first ROUTE_MAX_SEGS of segs; returns the total segment count, or
 * -1 when any segment is undecodable or a dot segment. */
static ssize_t route_split(const char *path, size_t n, struct route_seg *segs)
{
    size_t count = 0;
    size_t i = 1;
    for (;;) {
        size_t end = i;
        while (end < n && path[end] != '/')
            end++;
        struct route_seg tmp;
        /* cppcheck-suppress uninitvar ; tmp is only written (decoded into) before it is read */
        struct route_seg *g = count < ROUTE_MAX_SEGS ? &segs[count] : &tmp;
        ssize_t len = route_decode_count(path + i, end - i, g->s, sizeof g->s);
        if (len < 0)
            return -1;
        g->len = (size_t)len;
        if (route_seg_is_dot(g))
            return -1;
        count++;
        if (end >= n)
            return (ssize_t)count;
        i = end + 1;
    }
}

/* Validates the id segment and copies it NUL-terminated into m->id. A '/'
 * decoded from %2F, or anything else outside the id alphabet, is BAD_ID. */
static enum route_id route_take_id(const struct route_seg *g, enum route_id ok, struct route_match *m)
{
    if (g->len > ROUTE_ID_MAX || !route_id_valid(g->s, g->len))
        return ROUTE_BAD_ID;
    for (size_t i = 0; i < g->len; i++)
        m->id[i] = g->s[i];
    m->id[g->len] = '\0';
    return ok;
}

static enum route_id route_dispatch(const struct route_seg *segs, size_t count, struct route_match *m)
{
    if (count == 1 && route_seg_is(&segs[0], "interview"))
        return ROUTE_INDEX;
    if (count == 1 && route_seg_is(&segs[0], "health"))
        return ROUTE_HEALTH;
    if (count == 1 && route_seg_is(&segs[0], "metrics"))
        return ROUTE_METRICS;
    if (count >= 3 && route_seg_is(&segs[0], "api") && route_seg_is(&segs[1], "stream")) {
        if (count == 3 && route_seg_is(&segs[2], "test-page"))
            return ROUTE_STREAM_TEST_PAGE;
        if (count == 4 && route_seg_is(&segs[2], "status"))
            return route_take_id(&segs[3], ROUTE_STREAM_STATUS, m);
        if (count == 4 && route_seg_is(&segs[2], "disconnect"))
            return route_take_id(&segs[3], ROUTE_STREAM_DISCONNECT, m);
    }
    if ((count == 1 || (count == 2 && segs[1].len == 0)) && route_seg_is(&segs[0], "socket.io"))
        return ROUTE_SIO;
    if (count == 2 && route_seg_is(&segs[0], "ws"))
        return route_take_id(&segs[1], ROUTE_WS_CLIENT, m);
    if (count == 4 && route_seg_is(&segs[0], "api") && route_seg_is(&segs[1], "stream") &&
        route_seg_is(&segs[2], "ws"))
        return route_take_id(&segs[3], ROUTE_WS_STREAM, m);
    return ROUTE_NOT_FOUND;
}

enum route_id route_match(const char *path, size_t n, struct route_match *m)
{
    struct route_seg segs[ROUTE_MAX_SEGS];
    m->id[0] = '\0';
    m->route = ROUTE_BAD_PATH;
    /* Only origin-form paths can be routed; "*" or "" are not paths. */
    if (n == 0 || path[0] != '/')
        return m->route;
    if (n == 1)
        return m->route = ROUTE_INDEX;
    ssize_t count = route_split(path, n, segs);
    if (count >= 0)
        m->route = route_dispatch(segs, (size_t)count, m);
    return m->route;
}

/* ---- query strings -------------------------------------------------------- */

/* Decodes one form-urlencoded byte at q[*i], advancing *i: '+' is a space,
 * "%XX" an escape. Returns the byte or -1 for a bad escape, %00, or a raw
 * byte no URI may carry (controls, space, DEL, non-ASCII). Raw characters
 * such as '|' or '{' are accepted because browsers send them unescaped. */
static int route_form_byte(const char *q, size_t *i, size_t end)
{
    unsigned char c = (unsigned char)q[*i];
    if (c == '%') {
        int v = route_pct(q, *i, end);
        *i += 3;
        return v;
    }
    (*i)++;
    if (c == '+')
        return ' ';
    return (c > 0x20 && c < 0x7F) ? c : -1;
}

/* Checks q[from..to) decodes; optionally compares it with key (NUL-terminated)
 * or writes it to out. Returns the decoded length, -1 malformed, -2 when key
 * differs or out (capacity cap, incl. NUL) is too small. */
static ssize_t route_form_decode(const char *q, size_t from, size_t to, const char *key, char *out, size_t cap)
{
    size_t o = 0;
    bool differs = false;
    for (size_t i = from; i < to; o++) {
        int c = route_form_byte(q, &i, to);
        if (c < 0)
            return -1;
        if (key != NULL && !differs)
            differs = key[o] == '\0' || (unsigned char)key[o] != c;
        if (out != NULL) {
            if (o + 1 >= cap)
                return -2;
            out[o] = (char)c;
        }
    }
    if (key != NULL && (differs || key[o] != '\0'))
        return -2;
    if (out != NULL) {
        if (cap == 0)
            return -2;
        out[o] = '\0';
    }
    return (ssize_t)o;
}

/* One "key=value" pair of q[pos..): bounds of key and value. A pair without
 * '=' has an empty value. */
struct route_pair {
    size_t ks, ke, vs, ve, next;
};

static struct route_pair route_next_pair(const char *q, size_t pos, size_t n)
{
    struct route_pair p = {pos, pos, pos, pos, pos};
    size_t amp = pos;
    while (amp < n && q[amp] != '&')
        amp++;
    size_t eq = pos;
    while (eq < amp && q[eq] != '=')
        eq++;
    p.ke = eq;
    p.vs = eq < amp ? eq + 1 : amp;
    p.ve = amp;
    p.next = amp + 1;
    return p;
}

/* The whole query must decode before anything is looked up in it, so the
 * answer for a key does not depend on where the garbage sits. */
static bool route_query_valid(const char *q, size_t n)
{
    for (size_t pos = 0; pos < n;) {
        struct route_pair p = route_next_pair(q, pos, n);
        if (route_form_decode(q, p.ks, p.ke, NULL, NULL, 0) < 0 ||
            route_form_decode(q, p.vs, p.ve, NULL, NULL, 0) < 0)
            return false;
        pos = p.next;
    }
    return true;
}

ssize_t route_query_get(const char *query, size_t n, const char *key, char *out, size_t cap)
{
    if (n > ROUTE_LEN_MAX || !route_query_valid(query, n))
        return -2;
    for (size_t pos = 0; pos < n;) {
        struct route_pair p = route_next_pair(query, pos, n);
        bool empty_pair = p.ks == p.ve; /* "a=1&&b=2" */
        if (!empty_pair && route_form_decode(query, p.ks, p.ke, key, NULL, 0) >= 0) {
            ssize_t len = route_form_decode(query, p.vs, p.ve, NULL, out, cap);
            return len < 0 ? -2 : len;
        }
        pos = p.next;
    }
    return -1;
}

#undef ROUTE_LEN_MAX
#undef ROUTE_MAX_SEGS
#undef ROUTE_SEG_KEEP
