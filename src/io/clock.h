/* Time sources: a monotonic millisecond clock for timers and an ISO-8601 UTC
 * wall-clock string for messages and logs. deps: none. */
#ifndef CLOCK_H
#define CLOCK_H
#include "parse/base.h"

#define CLOCK_ISO_LEN 32 /* "2024-11-25T10:00:00.123Z" + NUL fits */

uint64_t clock_mono_ms(void);
/* The same clock in microseconds, for latencies below a millisecond (metrics). */
uint64_t clock_mono_us(void);
/* Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ". Returns out. */
char *clock_iso8601(char out[CLOCK_ISO_LEN]);
#endif
