/* deps: none */
#include "parse/ratelimit.h"

bool rl_take(struct rl_bucket *b, uint64_t rate, uint64_t per_ms, uint64_t burst, uint64_t cost,
             uint64_t now_ms)
{
    if (rate == 0)
        return true;
    if (burst == 0)
        burst = 1;
    if (per_ms == 0)
        per_ms = 1;
    const uint64_t cap = burst * per_ms;
    if (b->last_ms == 0) {
        b->scaled = cap;
    } else if (now_ms > b->last_ms) {
        uint64_t dt = now_ms - b->last_ms;
        /* Past fill_ms the bucket is full anyway; capping dt keeps dt * rate
         * from overflowing after a long pause. */
        uint64_t fill_ms = cap / rate + 1;
        b->scaled = dt >= fill_ms ? cap : b->scaled + dt * rate;
        if (b->scaled > cap)
            b->scaled = cap;
    }
    if (now_ms > b->last_ms || b->last_ms == 0)
        b->last_ms = now_ms ? now_ms : 1;
    uint64_t need = (cost > burst ? burst : cost) * per_ms;
    if (b->scaled < need)
        return false;
    b->scaled -= need;
    return true;
}
