/* The process's one random-number generator: an mbedTLS CTR-DRBG seeded from
 * the OS entropy source (getrandom) on first use. Session ids, retry jitter
 * and every TLS connection draw from it, so there is one seed and one state
 * to reason about instead of one per module.
 *
 * Loop thread only: the DRBG has no lock, so the first caller's thread owns
 * it and calls from any other thread (e.g. the resolver's) fail with -1.
 * deps: mbedTLS (entropy, ctr_drbg) */
#ifndef RAND_H
#define RAND_H
#include "parse/base.h"

/* Fill out[0..n) with random bytes. 0, or -1 when seeding failed or the
 * caller is not the owning thread (out is then unspecified). */
int rand_bytes(void *out, size_t n);
/* The same with mbedTLS's f_rng signature, for mbedtls_ssl_conf_rng(conf,
 * rand_mbedtls, NULL): 0, or an mbedTLS error code. p_rng is unused. */
int rand_mbedtls(void *p_rng, unsigned char *out, size_t n);
/* Release the DRBG at exit (the next rand_bytes would seed a new one). */
void rand_free(void);
#endif
