/* RESP reply parser and command encoder: see resp.h. */
#include "parse/resp.h"

#include <string.h>

/* The parse state of one resp_parse call: the input and the slot array. */
struct resp_cur {
    const char *buf;
    size_t len, pos;
    struct resp_value *v;
    size_t nv, used;
};

/* The end of the line starting at pos (the index of its '\r'), or
 * RESP_INCOMPLETE / RESP_ERROR as a negative or zero value in *res. */
static int resp_line_end(const struct resp_cur *c, size_t *end)
{
    size_t lim = c->len - c->pos < RESP_LINE_MAX ? c->len : c->pos + RESP_LINE_MAX;
    const char *cr = memchr(c->buf + c->pos, '\r', lim - c->pos);
    if (!cr)
        return lim == c->len ? RESP_INCOMPLETE : RESP_ERROR;
    size_t i = (size_t)(cr - c->buf);
    if (i + 1 >= c->len)
        return RESP_INCOMPLETE;
    if (c->buf[i + 1] != '\n')
        return RESP_ERROR;
    *end = i;
    return 1;
}

/* A signed decimal in s[0..n) (no '+', no leading zeros check: Redis never
 * sends them, and they are harmless). */
static bool resp_int(const char *s, size_t n, int64_t *out)
{
    bool neg = false;
    size_t i = 0;
    if (n > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    uint64_t x;
    if (!dec_value(s + i, n - i, INT64_MAX, &x))
        return false;
    *out = neg ? -(int64_t)x : (int64_t)x;
    return true;
}

static int resp_value_at(struct resp_cur *c, unsigned depth);

/* The children of an aggregate whose header was read into slot idx. */
static int resp_children(struct resp_cur *c, size_t idx, int64_t n, unsigned depth)
{
    if (depth + 1 > RESP_DEPTH_MAX)
        return RESP_ERROR;
    /* each child takes at least one slot and 3 bytes: refuse counts that
     * cannot fit either before walking them */
    if ((uint64_t)n > c->nv - c->used)
        return RESP_TOO_MANY;
    c->v[idx].count = (uint32_t)n;
    for (int64_t k = 0; k < n; k++) {
        int rc = resp_value_at(c, depth + 1);
        if (rc <= 0)
            return rc;
    }
    c->v[idx].size = (uint32_t)(c->used - idx);
    return 1;
}

/* A bulk-like value of length n after its header line: the bytes and CRLF. */
static int resp_bulk_body(struct resp_cur *c, struct resp_value *v, int64_t n)
{
    if (n > (int64_t)RESP_BULK_MAX)
        return RESP_ERROR;
    size_t need = (size_t)n + 2;
    if (c->len - c->pos < need)
        return RESP_INCOMPLETE;
    const char *p = c->buf + c->pos;
    if (p[n] != '\r' || p[n + 1] != '\n')
        return RESP_ERROR;
    v->str = p;
    v->len = (size_t)n;
    c->pos += need;
    return 1;
}

/* Verbatim strings start "txt:" / "mkd:": the 3-byte format and ':' go. */
static int resp_verbatim(struct resp_value *v)
{
    if (v->len < 4 || v->str[3] != ':')
        return RESP_ERROR;
    v->str += 4;
    v->len -= 4;
    return 1;
}

static int resp_value_at(struct resp_cur *c, unsigned depth)
{
    if (c->pos >= c->len)
        return RESP_INCOMPLETE;
    if (c->used >= c->nv)
        return RESP_TOO_MANY;
    size_t idx = c->used++;
    struct resp_value *v = &c->v[idx];
    memset(v, 0, sizeof *v);
    v->size = 1;
    char t = c->buf[c->pos];
    size_t end;
    int rc = resp_line_end(c, &end);
    if (rc <= 0)
        return rc;
    const char *s = c->buf + c->pos + 1;
    size_t n = end - c->pos - 1;
    c->pos = end + 2;
    int64_t num = 0;
    switch (t) {
    case '+': case '-': case ',': case '(':
        v->type = t == '-' ? RESP_ERR : (uint8_t)t;
        if (memchr(s, '\n', n))
            return RESP_ERROR;
        v->str = s;
        v->len = n;
        return 1;
    case ':':
        v->type = RESP_INT;
        return resp_int(s, n, &v->integer) ? 1 : RESP_ERROR;
    case '_':
        v->type = RESP_NIL;
        return n == 0 ? 1 : RESP_ERROR;
    case '#':
        v->type = RESP_BOOL;
        if (n != 1 || (s[0] != 't' && s[0] != 'f'))
            return RESP_ERROR;
        v->integer = s[0] == 't';
        return 1;
    case '$': case '!': case '=':
        if (!resp_int(s, n, &num) || num < -1 || (num == -1 && t != '$'))
            return RESP_ERROR;
        if (num == -1) {
            v->type = RESP_NIL;
            return 1;
        }
        v->type = t == '!' ? RESP_ERR : RESP_BULK;
        rc = resp_bulk_body(c, v, num);
        return rc > 0 && t == '=' ? resp_verbatim(v) : rc;
    case '*': case '~': case '>': case '%':
        if (!resp_int(s, n, &num) || num < -1 || (num == -1 && t != '*'))
            return RESP_ERROR;
        if (num == -1) {
            v->type = RESP_NIL;
            return 1;
        }
        v->type = t == '~' ? RESP_ARRAY : (uint8_t)t;
        if (t == '%') {
            if (num > INT32_MAX)
                return RESP_ERROR;
            num *= 2;
        }
        return resp_children(c, idx, num, depth);
    default:
        return RESP_ERROR; /* includes RESP3 attributes '|' and inline text */
    }
}

ssize_t resp_parse(const char *buf, size_t len, struct resp_value *v, size_t nv, size_t *nused)
{
    struct resp_cur c = {.buf = buf, .len = len, .v = v, .nv = nv};
    if (nv == 0)
        return RESP_TOO_MANY;
    int rc = resp_value_at(&c, 0);
    if (rc <= 0)
        return rc;
    if (nused)
        *nused = c.used;
    return (ssize_t)c.pos;
}

const struct resp_value *resp_child(const struct resp_value *v, uint32_t k)
{
    if (v->type != RESP_ARRAY && v->type != RESP_MAP && v->type != RESP_PUSH)
        return NULL;
    if (k >= v->count)
        return NULL;
    const struct resp_value *c = v + 1;
    for (uint32_t i = 0; i < k; i++)
        c += c->size;
    return c;
}

bool resp_is(const struct resp_value *v, const char *s, size_t n)
{
    return v && (v->type == RESP_SIMPLE || v->type == RESP_BULK) && v->len == n &&
           (n == 0 || memcmp(v->str, s, n) == 0);
}

/* Decimal digits of x. */
static size_t resp_digits(size_t x)
{
    size_t d = 1;
    while (x >= 10) {
        x /= 10;
        d++;
    }
    return d;
}

static size_t resp_arg_len(const char *const *argv, const size_t *lens, int i)
{
    return lens ? lens[i] : strlen(argv[i]);
}

size_t resp_command_len(int argc, const char *const *argv, const size_t *lens)
{
    if (argc < 1)
        return 0;
    size_t n = 3 + resp_digits((size_t)argc); /* "*<argc>\r\n" */
    for (int i = 0; i < argc; i++) {
        size_t a = resp_arg_len(argv, lens, i);
        n += 1 + resp_digits(a) + 2 + a + 2; /* "$<len>\r\n<bytes>\r\n" */
    }
    return n;
}

/* Writes "<c><x>\r\n" at out, returns the bytes written. */
static size_t resp_put_header(char *out, char c, size_t x)
{
    char tmp[24];
    size_t d = 0;
    do {
        tmp[d++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    size_t n = 0;
    out[n++] = c;
    while (d)
        out[n++] = tmp[--d];
    out[n++] = '\r';
    out[n++] = '\n';
    return n;
}

size_t resp_encode_command(char *out, size_t cap, int argc, const char *const *argv, const size_t *lens)
{
    size_t need = resp_command_len(argc, argv, lens);
    if (need == 0 || need > cap)
        return 0;
    size_t n = resp_put_header(out, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t a = resp_arg_len(argv, lens, i);
        n += resp_put_header(out + n, '$', a);
        if (a)
            memcpy(out + n, argv[i], a);
        n += a;
        out[n++] = '\r';
        out[n++] = '\n';
    }
    return n;
}
