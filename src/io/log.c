/* deps: clock.c */
#include "io/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "io/clock.h"

#define LOG_LINE_MAX 4096

static enum log_format log_fmt = LOG_TEXT;
static enum log_level log_min = LOG_INFO;
static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_format fmt, enum log_level min)
{
    log_fmt = fmt;
    log_min = min;
}

/* Append s as a JSON string body (without quotes); control bytes escaped so a
 * hostile peer string cannot forge a log line. */
static size_t log_json_escape(char *out, size_t cap, size_t at, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s && at + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[at++] = '\\';
            out[at++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            out[at++] = '\\';
            out[at++] = 'u';
            out[at++] = '0';
            out[at++] = '0';
            out[at++] = hex[c >> 4];
            out[at++] = hex[c & 15];
        } else {
            out[at++] = (char)c;
        }
    }
    return at;
}

static void log_text_sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

void log_event(enum log_level lvl, uint64_t conn, const char *event, const char *fmt, ...)
{
    if (lvl < log_min)
        return;
    char detail[LOG_LINE_MAX / 2], ts[CLOCK_ISO_LEN], line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    clock_iso8601(ts);
    size_t n;
    if (log_fmt == LOG_JSON) {
        n = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"conn\":%llu,\"event\":\"",
                             ts, log_names[lvl], (unsigned long long)conn);
        n = log_json_escape(line, sizeof line, n, event);
        n += (size_t)snprintf(line + n, sizeof line - n, "\",\"detail\":\"");
        n = log_json_escape(line, sizeof line, n < sizeof line ? n : sizeof line, detail);
        n += (size_t)snprintf(line + n, sizeof line - n, "\"}\n");
    } else {
        log_text_sanitize(detail);
        n = (size_t)snprintf(line, sizeof line, "%s %-5s conn=%llu %s %s\n", ts, log_names[lvl],
                             (unsigned long long)conn, event, detail);
    }
    if (n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    /* One write per line keeps lines whole when stderr is shared. */
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

/* One field into line at n: JSON member or text pair. Returns the new length. */
static size_t log_put_field(char *line, size_t cap, size_t n, const struct log_field *f, bool first)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)f->num);
    const char *v = f->str ? f->str : f->num == LOG_NULL ? (log_fmt == LOG_JSON ? "null" : "-") : num;
    if (n >= cap)
        return n;
    if (log_fmt != LOG_JSON) {
        n += (size_t)snprintf(line + n, cap - n, "%s%s=", first ? "" : " ", f->key);
        char text[LOG_LINE_MAX / 4];
        snprintf(text, sizeof text, "%s", v);
        log_text_sanitize(text);
        return n < cap ? n + (size_t)snprintf(line + n, cap - n, "%s", text) : n;
    }
    n += (size_t)snprintf(line + n, cap - n, ",\"%s\":%s", f->key, f->str ? "\"" : "");
    if (n >= cap)
        return n;
    n = f->str ? log_json_escape(line, cap, n, v) : n + (size_t)snprintf(line + n, cap - n, "%s", v);
    return f->str && n < cap ? n + (size_t)snprintf(line + n, cap - n, "\"") : n;
}

void log_fields(enum log_level lvl, uint64_t conn, const char *event, const struct log_field *f, size_t nf)
{
    if (lvl < log_min)
        return;
    char ts[CLOCK_ISO_LEN], line[LOG_LINE_MAX];
    clock_iso8601(ts);
    size_t n;
    if (log_fmt == LOG_JSON)
        n = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"conn\":%llu,\"event\":\"%s\"",
                             ts, log_names[lvl], (unsigned long long)conn, event);
    else
        n = (size_t)snprintf(line, sizeof line, "%s %-5s conn=%llu %s ", ts, log_names[lvl],
                             (unsigned long long)conn, event);
    for (size_t i = 0; i < nf; i++)
        n = log_put_field(line, sizeof line - 3, n, &f[i], i == 0);
    if (n > sizeof line - 3)
        n = sizeof line - 3;
    n += (size_t)snprintf(line + n, sizeof line - n, log_fmt == LOG_JSON ? "}\n" : "\n");
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
