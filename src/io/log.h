/* One line per event on stderr: "TS LEVEL conn=N event detail" or, with
 * LOG_FORMAT=json, {"ts":..,"level":..,"conn":N,"event":..,"detail":..}.
 * conn 0 means the server itself. Nothing secret is ever passed here: the API
 * key has no path into a log line. deps: clock.c */
#ifndef LOG_H
#define LOG_H
#include "parse/base.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT, LOG_JSON };

void log_setup(enum log_format fmt, enum log_level min);
void log_event(enum log_level lvl, uint64_t conn, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A line whose detail is named fields: with LOG_FORMAT=json they are members
 * of the line's object ({"ts",..,"event":..,"stt_ms":412,...}), in text
 * "key=value" pairs. str NULL: the field is the number num (null when
 * LOG_NULL). */
#define LOG_NULL INT64_MIN
struct log_field {
    const char *key; /* a literal name */
    int64_t num;
    const char *str;
};
void log_fields(enum log_level lvl, uint64_t conn, const char *event, const struct log_field *f, size_t n);
#endif
