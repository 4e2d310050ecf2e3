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
#endif
