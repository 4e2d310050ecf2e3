/* Request-target handling: percent-decoding of the path, routing of the
 * server's fixed URL space, id validation and query-string lookup.
 * Pure; no allocation; the decoded path goes into a caller buffer.
 * deps: none. */
#ifndef ROUTE_H
#define ROUTE_H
#include "parse/base.h"

#define ROUTE_ID_MAX 64 /* client_id / session_id: 1..64 chars of [A-Za-z0-9_-] */

enum route_id {
    ROUTE_NOT_FOUND = 0,
    ROUTE_HEALTH,          /* /health */
    ROUTE_WS_CLIENT,       /* /ws/{client_id} */
    ROUTE_WS_STREAM,       /* /api/stream/ws/{session_id} */
    ROUTE_INDEX,           /* / and /interview: the interview demo page */
    ROUTE_STREAM_TEST_PAGE, /* /api/stream/test-page */
    ROUTE_STREAM_STATUS,   /* /api/stream/status/{session_id} */
    ROUTE_STREAM_DISCONNECT, /* /api/stream/disconnect/{session_id} */
    ROUTE_SIO,             /* /socket.io/ (Engine.IO v4 over WebSocket, seed 003) */
    ROUTE_METRICS,         /* /metrics (Prometheus) */
    ROUTE_BAD_ID,          /* one of the id routes, but the id is invalid -> 400 */
    ROUTE_BAD_PATH,        /* undecodable path (bad %XX, %00, "..", etc.) -> 400 */
};

struct route_match {
    enum route_id route;
    char id[ROUTE_ID_MAX + 1]; /* NUL-terminated id for the id routes */
};

/* Decode "%XX" escapes of path[0..n) into out (capacity cap). Refuses (returns
 * -1) bad escapes, "%00", raw bytes outside RFC 3986 pchar/"/", and results
 * longer than cap. Returns the decoded length. */
ssize_t route_decode_path(const char *path, size_t n, char *out, size_t cap);

/* Route a raw (still percent-encoded) path. Fills *m and returns m->route. */
enum route_id route_match(const char *path, size_t n, struct route_match *m);

/* Is id[0..n) a valid client/session id? */
bool route_id_valid(const char *id, size_t n);

/* Find key in an application/x-www-form-urlencoded query; percent- and
 * '+'-decode its value into out (NUL-terminated). Returns the decoded length,
 * -1 when absent, -2 when malformed or too long for cap. */
ssize_t route_query_get(const char *query, size_t n, const char *key, char *out, size_t cap);
#endif
