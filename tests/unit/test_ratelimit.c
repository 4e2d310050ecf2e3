// deps: src/parse/ratelimit.c
#include "parse/ratelimit.h"

#include "t.h"

int main(void)
{
    struct rl_bucket b = {0};
    int ok = 0;
    for (int i = 0; i < 20; i++) /* starts full: exactly the burst passes at once */
        ok += rl_take(&b, 5, 1000, 10, 1, 1000);
    CHECK(ok == 10);
    CHECK(!rl_take(&b, 5, 1000, 10, 1, 1100)); /* 0.5 token after 100 ms */
    CHECK(rl_take(&b, 5, 1000, 10, 1, 1200));  /* 1 token after 200 ms */
    CHECK(!rl_take(&b, 5, 1000, 10, 1, 1200));
    /* a long pause refills to the burst, not beyond, and does not overflow */
    ok = 0;
    for (int i = 0; i < 20; i++)
        ok += rl_take(&b, 5, 1000, 10, 1, 1000 + 86400000ull * 365);
    CHECK(ok == 10);
    /* byte costs; a cost above the burst needs a full bucket */
    struct rl_bucket y = {0};
    CHECK(rl_take(&y, 1000, 1000, 4000, 3000, 5));
    CHECK(!rl_take(&y, 1000, 1000, 4000, 3000, 5));
    CHECK(rl_take(&y, 1000, 1000, 4000, 3000, 2005));
    struct rl_bucket z = {0};
    CHECK(rl_take(&z, 1000, 1000, 4000, 1000000, 5));
    CHECK(!rl_take(&z, 1000, 1000, 4000, 1000000, 3000));
    CHECK(rl_take(&z, 1000, 1000, 4000, 1000000, 4010));
    /* per minute: 3 per 60 s */
    struct rl_bucket m = {0};
    ok = 0;
    for (int i = 0; i < 5; i++)
        ok += rl_take(&m, 3, 60000, 3, 1, 10);
    CHECK(ok == 3);
    CHECK(!rl_take(&m, 3, 60000, 3, 1, 19000));
    CHECK(rl_take(&m, 3, 60000, 3, 1, 20010));
    /* rate 0 = no limit; a clock that goes back never adds tokens */
    struct rl_bucket o = {0};
    for (int i = 0; i < 1000; i++)
        CHECK(rl_take(&o, 0, 1000, 1, 1, 0));
    struct rl_bucket r = {0};
    CHECK(rl_take(&r, 1, 1000, 1, 1, 5000));
    CHECK(!rl_take(&r, 1, 1000, 1, 1, 100));
    CHECK(!rl_take(&r, 1, 1000, 1, 1, 5500));
    CHECK(rl_take(&r, 1, 1000, 1, 1, 6000));
    return T_DONE();
}
