/* deps: mbedTLS (entropy, ctr_drbg) */
#include "io/rand.h"

#include <pthread.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

static struct {
    bool ready;
    pthread_t owner; /* the thread that seeded it: the only one allowed */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
} rand_g;

static int rand_seed(void)
{
    mbedtls_entropy_init(&rand_g.entropy);
    mbedtls_ctr_drbg_init(&rand_g.drbg);
    if (mbedtls_ctr_drbg_seed(&rand_g.drbg, mbedtls_entropy_func, &rand_g.entropy,
                              (const unsigned char *)"interview", 9) != 0) {
        mbedtls_ctr_drbg_free(&rand_g.drbg);
        mbedtls_entropy_free(&rand_g.entropy);
        return -1;
    }
    rand_g.owner = pthread_self();
    rand_g.ready = true;
    return 0;
}

int rand_bytes(void *out, size_t n)
{
    if (!rand_g.ready && rand_seed() != 0)
        return -1;
    if (!pthread_equal(rand_g.owner, pthread_self()))
        return -1;
    unsigned char *p = out;
    while (n > 0) { /* the DRBG hands out at most MBEDTLS_CTR_DRBG_MAX_REQUEST per call */
        size_t k = n < MBEDTLS_CTR_DRBG_MAX_REQUEST ? n : MBEDTLS_CTR_DRBG_MAX_REQUEST;
        if (mbedtls_ctr_drbg_random(&rand_g.drbg, p, k) != 0)
            return -1;
        p += k;
        n -= k;
    }
    return 0;
}

int rand_mbedtls(void *p_rng, unsigned char *out, size_t n)
{
    (void)p_rng;
    return rand_bytes(out, n) == 0 ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

void rand_free(void)
{
    if (!rand_g.ready)
        return;
    mbedtls_ctr_drbg_free(&rand_g.drbg);
    mbedtls_entropy_free(&rand_g.entropy);
    rand_g.ready = false;
}
