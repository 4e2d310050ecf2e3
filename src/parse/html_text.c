/* deps: none */
#include "parse/html_text.h"

#include <string.h>

enum html_text_state {
    HT_TEXT,
    HT_LT,        /* after '<' */
    HT_END_START, /* after "</" */
    HT_NAME,      /* tag name */
    HT_ATTRS,     /* inside a tag, after its name */
    HT_QUOTED,    /* attribute value in quotes */
    HT_BANG,      /* after "<!" */
    HT_BANG_DASH, /* after "<!-" */
    HT_COMMENT,
    HT_BOGUS,     /* <?...>, <!DOCTYPE ...>, </ + non-letter: up to '>' */
    HT_RAW,       /* inside script/style/...: up to the matching end tag */
    HT_REF,       /* after '&' */
};

enum { HT_WS_NONE, HT_WS_SPACE, HT_WS_LINE, HT_WS_PARA };

/* Raw text: no markup inside, up to the matching end tag. noscript is one too,
 * as in a browser with scripting on. */
static const char *const html_text_raw[] = {"script", "style", "title", "textarea", "xmp",
                                            "plaintext", "noembed", "noframes", "noscript"};
static const char *const html_text_skip[] = {"", "head", "template", "svg", "math",
                                             "iframe", "object", "canvas", "video", "audio",
                                             "select"};
/* Start tags that stay inside <head>; any other one ends it (HTML "in head" mode). */
static const char *const html_text_in_head[] = {"head", "title", "meta", "link", "base", "style",
                                                "script", "noscript", "template", "basefont",
                                                "bgsound"};
static const char *const html_text_para[] = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
                                             "dl", "table", "section", "article", "header",
                                             "footer", "main", "aside", "nav", "blockquote",
                                             "pre", "hr", "form", "figure", "address",
                                             "fieldset", "details", "body"};
static const char *const html_text_line[] = {"br", "div", "li", "tr", "dt", "dd", "caption",
                                             "figcaption", "summary", "legend", "option",
                                             "label", "center"};

static int html_text_find(const char *const *tab, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tab[i], name) == 0)
            return (int)i;
    return -1;
}

/* ---- output ---------------------------------------------------------------- */

static size_t html_text_utf8(uint32_t cp, char o[4])
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static void html_text_break(struct html_text *h, uint8_t level)
{
    if (h->ws < level)
        h->ws = level;
}

static bool html_text_is_space(uint32_t cp)
{
    return cp <= 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0xa0) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x3000 || (cp >= 0x2000 && cp <= 0x200a);
}

/* One character of text: whitespace only raises the pending break; anything
 * visible is written after it, both or neither. */
static void html_text_put(struct html_text *h, uint32_t cp)
{
    if (h->truncated || h->skipping || cp == 0xad || cp == 0x200b || cp == 0xfeff)
        return; /* invisible: soft hyphen, zero-width space, BOM */
    if (html_text_is_space(cp)) {
        if (cp == '\n' && (h->flags & HTML_TEXT_PLAIN))
            h->ws = h->ws >= HT_WS_LINE ? HT_WS_PARA : HT_WS_LINE;
        else
            html_text_break(h, HT_WS_SPACE);
        return;
    }
    char buf[6];
    size_t k = 0;
    if (h->any && h->ws == HT_WS_SPACE)
        buf[k++] = ' ';
    else if (h->any && h->ws >= HT_WS_LINE) {
        buf[k++] = '\n';
        if (h->ws == HT_WS_PARA)
            buf[k++] = '\n';
    }
    k += html_text_utf8(cp, buf + k);
    if (h->len + k >= h->cap) {
        h->truncated = true;
        return;
    }
    memcpy(h->out + h->len, buf, k);
    h->len += k;
    h->out[h->len] = '\0';
    h->ws = HT_WS_NONE;
    h->any = true;
}

static void html_text_puts(struct html_text *h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        html_text_put(h, (unsigned char)s[i]);
}

/* ---- character references --------------------------------------------------- */

static const struct {
    const char *name;
    uint16_t cp;
} html_text_refs[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xa0},
    {"copy", 0xa9}, {"reg", 0xae}, {"trade", 0x2122}, {"hellip", 0x2026}, {"mdash", 0x2014},
    {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201c},
    {"rdquo", 0x201d}, {"sbquo", 0x201a}, {"bdquo", 0x201e}, {"bull", 0x2022},
    {"middot", 0xb7}, {"euro", 0x20ac}, {"pound", 0xa3}, {"yen", 0xa5}, {"cent", 0xa2},
    {"laquo", 0xab}, {"raquo", 0xbb}, {"deg", 0xb0}, {"times", 0xd7}, {"divide", 0xf7},
    {"plusmn", 0xb1}, {"sect", 0xa7}, {"para", 0xb6}, {"shy", 0xad}, {"iexcl", 0xa1},
    {"iquest", 0xbf}, {"aacute", 0xe1}, {"agrave", 0xe0}, {"acirc", 0xe2}, {"auml", 0xe4},
    {"aring", 0xe5}, {"ccedil", 0xe7}, {"eacute", 0xe9}, {"egrave", 0xe8}, {"ecirc", 0xea},
    {"euml", 0xeb}, {"iacute", 0xed}, {"iuml", 0xef}, {"ntilde", 0xf1}, {"oacute", 0xf3},
    {"ocirc", 0xf4}, {"ouml", 0xf6}, {"oslash", 0xf8}, {"uacute", 0xfa}, {"uuml", 0xfc},
    {"szlig", 0xdf}, {"Auml", 0xc4}, {"Eacute", 0xc9}, {"Ouml", 0xd6}, {"Uuml", 0xdc},
    {"ensp", 0x2002}, {"emsp", 0x2003}, {"thinsp", 0x2009}, {"zwnj", 0x200c}, {"zwj", 0x200d},
    {"rarr", 0x2192}, {"larr", 0x2190}, {"check", 0x2713}, {"star", 0x2606}, {"hyphen", 0x2010},
    {"minus", 0x2212}, {"frac12", 0xbd}, {"frac14", 0xbc}, {"frac34", 0xbe}, {"sup2", 0xb2},
};

/* Windows-1252 for 0x80..0x9F, which browsers use for &#128;..&#159;. */
static const uint16_t html_text_cp1252[32] = {
    0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd, 0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178};

/* "#123" / "#x1F600" / "amp" -> code point, or 0 when not a reference we know. */
static uint32_t html_text_ref_value(const char *r, size_t n)
{
    if (n >= 2 && r[0] == '#') {
        bool hex = r[1] == 'x' || r[1] == 'X';
        size_t i = hex ? 2 : 1;
        if (i == n)
            return 0;
        uint32_t v = 0;
        for (; i < n; i++) {
            int d = hex_value((unsigned char)r[i]);
            if (d < 0 || (!hex && d > 9))
                return 0;
            if (v <= 0x10ffff)
                v = v * (hex ? 16u : 10u) + (unsigned)d;
        }
        if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
            return 0xfffd;
        if (v >= 0x80 && v <= 0x9f)
            return html_text_cp1252[v - 0x80];
        return v;
    }
    for (size_t i = 0; i < ARRAY_LEN(html_text_refs); i++)
        if (strlen(html_text_refs[i].name) == n && memcmp(html_text_refs[i].name, r, n) == 0)
            return html_text_refs[i].cp;
    return 0;
}

static bool html_text_ref_char(uint32_t cp)
{
    return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') || cp == '#';
}

/* The reference ended at cp (';' or anything else): decode it or write it back. */
static void html_text_ref_end(struct html_text *h, bool semicolon)
{
    uint32_t v = h->ref_len ? html_text_ref_value(h->ref, h->ref_len) : 0;
    /* Numeric ones may lack the ';' (browsers accept it); named ones must have it. */
    if (v && (semicolon || h->ref[0] == '#')) {
        html_text_put(h, v);
        return;
    }
    html_text_put(h, '&');
    html_text_puts(h, h->ref, h->ref_len);
    if (semicolon)
        html_text_put(h, ';');
}

/* ---- tags -------------------------------------------------------------------------- */

static void html_text_tag_done(struct html_text *h)
{
    const char *n = h->name;
    h->st = HT_TEXT;
    if (h->name_long)
        return;
    int skip = html_text_find(html_text_skip, ARRAY_LEN(html_text_skip), n);
    bool was_skipping = h->skipping;
    if (h->skip_el) {
        if (skip == h->skip_el && !h->selfclose)
            h->skip_depth += h->closing ? (uint32_t)-1 : 1u;
        if (h->skip_el == 1 && !h->closing &&
            html_text_find(html_text_in_head, ARRAY_LEN(html_text_in_head), n) < 0)
            h->skip_depth = 0; /* <body>, <p>, ... end an unclosed head, as in browsers */
        if (h->skip_depth == 0)
            h->skip_el = 0;
        h->skipping = h->skip_el != 0;
    } else if (skip > 0 && !h->closing && !h->selfclose) {
        h->skip_el = (uint8_t)skip;
        h->skip_depth = 1;
        h->skipping = true;
    }
    int raw = html_text_find(html_text_raw, ARRAY_LEN(html_text_raw), n);
    if (raw >= 0 && !h->closing && !h->selfclose) {
        h->raw = (uint8_t)raw;
        h->match = 0;
        h->st = HT_RAW;
        return;
    }
    if (was_skipping || h->skipping)
        return; /* dropped content leaves no line breaks behind */
    if (html_text_find(html_text_para, ARRAY_LEN(html_text_para), n) >= 0)
        html_text_break(h, HT_WS_PARA);
    else if (html_text_find(html_text_line, ARRAY_LEN(html_text_line), n) >= 0)
        html_text_break(h, HT_WS_LINE);
    else if (strcmp(n, "td") == 0 || strcmp(n, "th") == 0 || strcmp(n, "img") == 0)
        html_text_break(h, HT_WS_SPACE);
    if (strcmp(n, "li") == 0 && !h->closing) {
        html_text_put(h, '-');
        html_text_break(h, HT_WS_SPACE);
    }
}

static bool html_text_letter(uint32_t cp)
{
    return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
}

static bool html_text_tag_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f';
}

static void html_text_start_tag(struct html_text *h, uint32_t cp, bool closing)
{
    h->closing = closing;
    h->selfclose = false;
    h->name_long = false;
    h->name[0] = (char)(cp | 0x20);
    h->name[1] = '\0';
    h->name_len = 1;
    h->st = HT_NAME;
}

/* End tag of the raw element: "</name" then space, '/' or '>'. */
static void html_text_raw_char(struct html_text *h, uint32_t cp)
{
    const char *n = html_text_raw[h->raw];
    size_t nl = strlen(n);
    if (h->match == 0) {
        h->match = cp == '<';
        return;
    }
    if (h->match == 1) {
        h->match = cp == '/' ? 2 : (cp == '<');
        return;
    }
    size_t k = (size_t)h->match - 2;
    if (k < nl) {
        h->match = cp < 0x80 && (char)(cp | 0x20) == n[k] ? (uint8_t)(h->match + 1) : (cp == '<');
        return;
    }
    if (html_text_tag_space(cp) || cp == '/' || cp == '>') {
        memcpy(h->name, n, nl + 1);
        h->name_len = (uint8_t)nl;
        h->name_long = false;
        h->closing = true;
        h->selfclose = false;
        h->after_eq = false;
        h->st = HT_ATTRS;
        if (cp == '>')
            html_text_tag_done(h);
        return;
    }
    h->match = cp == '<';
}

static void html_text_cp(struct html_text *h, uint32_t cp)
{
    if (h->flags & HTML_TEXT_PLAIN) {
        html_text_put(h, cp);
        return;
    }
    switch ((enum html_text_state)h->st) {
    case HT_TEXT:
        if (cp == '<')
            h->st = HT_LT;
        else if (cp == '&') {
            h->ref_len = 0;
            h->st = HT_REF;
        } else
            html_text_put(h, cp);
        return;
    case HT_REF:
        if (cp == ';') {
            h->st = HT_TEXT;
            html_text_ref_end(h, true);
        } else if (html_text_ref_char(cp) && h->ref_len < HTML_TEXT_REF_MAX) {
            h->ref[h->ref_len++] = (char)cp;
        } else {
            h->st = HT_TEXT;
            html_text_ref_end(h, false);
            html_text_cp(h, cp);
        }
        return;
    case HT_LT:
        if (html_text_letter(cp))
            html_text_start_tag(h, cp, false);
        else if (cp == '/')
            h->st = HT_END_START;
        else if (cp == '!')
            h->st = HT_BANG;
        else if (cp == '?')
            h->st = HT_BOGUS;
        else {
            h->st = HT_TEXT;
            html_text_put(h, '<');
            html_text_cp(h, cp);
        }
        return;
    case HT_END_START:
        if (html_text_letter(cp))
            html_text_start_tag(h, cp, true);
        else
            h->st = cp == '>' ? HT_TEXT : HT_BOGUS;
        return;
    case HT_NAME:
        if (html_text_tag_space(cp) || cp == '/') {
            h->selfclose = cp == '/';
            h->after_eq = false;
            h->st = HT_ATTRS;
        } else if (cp == '>') {
            html_text_tag_done(h);
        } else if (h->name_len < HTML_TEXT_NAME_MAX && cp < 0x80) {
            h->name[h->name_len++] = (char)(cp >= 'A' && cp <= 'Z' ? cp | 0x20 : cp);
            h->name[h->name_len] = '\0';
        } else {
            h->name_long = true;
        }
        return;
    case HT_ATTRS:
        /* Quotes open a value only right after '=' (spaces allowed):
         * <a title=don't> has no quoted part. */
        if (cp == '>') {
            html_text_tag_done(h);
        } else if ((cp == '"' || cp == '\'') && h->after_eq) {
            h->quote = (char)cp;
            h->st = HT_QUOTED;
            h->after_eq = false;
        } else if (!html_text_tag_space(cp)) {
            h->selfclose = cp == '/';
            h->after_eq = cp == '=';
        }
        return;
    case HT_QUOTED:
        if (cp == (uint32_t)(unsigned char)h->quote)
            h->st = HT_ATTRS;
        return;
    case HT_BANG:
        h->st = cp == '-' ? HT_BANG_DASH : (cp == '>' ? HT_TEXT : HT_BOGUS);
        return;
    case HT_BANG_DASH:
        if (cp == '-') {
            h->st = HT_COMMENT;
            h->dashes = 2; /* "<!-->" and "<!--->" end at once, as in browsers */
        } else {
            h->st = cp == '>' ? HT_TEXT : HT_BOGUS;
        }
        return;
    case HT_COMMENT:
        if (cp == '>' && h->dashes >= 2)
            h->st = HT_TEXT;
        else if (cp == '-')
            h->dashes = h->dashes < 2 ? (uint8_t)(h->dashes + 1) : 2;
        else
            h->dashes = 0;
        return;
    case HT_BOGUS:
        if (cp == '>')
            h->st = HT_TEXT;
        return;
    case HT_RAW:
        html_text_raw_char(h, cp);
        return;
    }
}

/* ---- bytes -> code points ------------------------------------------------------- */

static void html_text_byte(struct html_text *h, uint8_t b)
{
    if (h->flags & HTML_TEXT_LATIN1) {
        /* WHATWG Encoding: the iso-8859-1 and latin1 labels mean windows-1252. */
        html_text_cp(h, b >= 0x80 && b <= 0x9f ? html_text_cp1252[b - 0x80] : b);
        return;
    }
    if (h->need) {
        if ((b & 0xc0) == 0x80) {
            h->cp = h->cp << 6 | (b & 0x3f);
            if (--h->need == 0) {
                uint32_t cp = h->cp;
                bool bad = cp < h->min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff);
                html_text_cp(h, bad ? 0xfffd : cp);
            }
            return;
        }
        h->need = 0; /* truncated sequence: one U+FFFD, then b starts afresh */
        html_text_cp(h, 0xfffd);
    }
    if (b < 0x80)
        html_text_cp(h, b);
    else if (b >= 0xc2 && b <= 0xdf) {
        h->need = 1, h->cp = b & 0x1f, h->min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
        h->need = 2, h->cp = b & 0x0f, h->min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
        h->need = 3, h->cp = b & 0x07, h->min = 0x10000;
    } else
        html_text_cp(h, 0xfffd);
}

void html_text_init(struct html_text *h, char *out, size_t cap, unsigned flags)
{
    memset(h, 0, sizeof *h);
    h->out = out;
    h->cap = cap;
    h->flags = flags;
    h->st = HT_TEXT;
    if (cap)
        out[0] = '\0';
    else
        h->truncated = true;
}

ssize_t html_text_feed(struct html_text *h, const uint8_t *in, size_t n)
{
    for (size_t i = 0; i < n && !h->truncated; i++)
        html_text_byte(h, in[i]);
    return (ssize_t)n;
}

size_t html_text_finish(struct html_text *h)
{
    if (h->need) {
        h->need = 0;
        html_text_cp(h, 0xfffd);
    }
    if (h->st == HT_REF) {
        h->st = HT_TEXT;
        html_text_ref_end(h, false);
    } else if (h->st == HT_LT) {
        h->st = HT_TEXT;
        html_text_put(h, '<');
    }
    return h->len;
}
