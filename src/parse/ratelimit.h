/* Token buckets in integer arithmetic: `rate` tokens per `per_ms`
 * milliseconds refill a bucket of at most `burst` tokens; a message costs
 * tokens. Pure: the caller passes the clock. deps: none. */
#ifndef RATELIMIT_H
#define RATELIMIT_H
#include "parse/base.h"

struct rl_bucket {
    uint64_t scaled;  /* tokens x per_ms */
    uint64_t last_ms; /* last refill; 0 = never used (starts full) */
};

/* Take cost tokens if the bucket holds them (after refilling up to now_ms).
 * A cost above burst needs a full bucket, so a message larger than the burst
 * still passes at most once per burst/rate seconds instead of never.
 * rate 0 disables the limit (always true). burst * per_ms must fit 2^63. */
bool rl_take(struct rl_bucket *b, uint64_t rate, uint64_t per_ms, uint64_t burst, uint64_t cost,
             uint64_t now_ms);
#endif
