/*
 * vendor/mbedtls_config.h - our trimmed Mbed TLS 3.6 configuration for `interview`.
 *
 * A complete replacement for the upstream include/mbedtls/mbedtls_config.h
 * (in the style of configs/config-suite-b.h): everything not listed here is
 * OFF.  vendor/fetch.sh compiles the libraries with
 *   -DMBEDTLS_CONFIG_FILE='"<this file>"'
 * and installs this file as OUTDIR/include/mbedtls/mbedtls_config.h, so code
 * built against OUTDIR/include sees the same configuration (struct layouts
 * depend on it) with or without the -D.
 *
 * What it supports:
 *   - TLS 1.2 + TLS 1.3, CLIENT only (no server, no DTLS, no renegotiation)
 *   - TLS 1.2: ECDHE-ECDSA / ECDHE-RSA with AES-128/256-GCM, ChaCha20-Poly1305
 *   - TLS 1.3: AES-128/256-GCM, ChaCha20-Poly1305; ECDSA and RSA-PSS
 *     CertificateVerify; PSK-ephemeral resumption via session tickets
 *   - groups: secp256r1, secp384r1, x25519
 *   - X.509 certificate parsing (PEM + DER) and chain verification,
 *     hostname check, RSA PKCS#1 v1.5 / RSA-PSS / ECDSA signed chains
 *   - SNI, ALPN, extended master secret
 *   - SHA-1 (WebSocket accept key), SHA-224/256/384/512, base64
 *   - CTR-DRBG seeded from the platform entropy source (getrandom(2),
 *     falling back to /dev/urandom only on ENOSYS), so it works in an
 *     empty chroot
 *   - PSA crypto core (required by TLS 1.3; call psa_crypto_init() first)
 *   - FS_IO (mbedtls_x509_crt_parse_file for SSL_CERT_FILE)
 */
#ifndef INTERVIEW_MBEDTLS_CONFIG_H
#define INTERVIEW_MBEDTLS_CONFIG_H

/* ---- Platform ---------------------------------------------------------- */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE          /* certificate validity periods */
#define MBEDTLS_PLATFORM_C
/* calloc/free replaceable: tls.c frees record buffers with their pages given
 * back (pool_free_big), so a burst of connections leaves no resident heap. */
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_FS_IO                   /* x509_crt_parse_file/path */
/* MBEDTLS_NO_PLATFORM_ENTROPY stays undefined: use getrandom(2). */
#define MBEDTLS_ERROR_C                 /* mbedtls_strerror() for logs */
#define MBEDTLS_VERSION_C
#define MBEDTLS_NET_C                   /* optional helper; dropped if unused */

/* ---- Randomness -------------------------------------------------------- */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C

/* ---- Hashes / MAC / KDF ------------------------------------------------ */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA1_C                  /* WebSocket Sec-WebSocket-Accept */
#define MBEDTLS_SHA224_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_HKDF_C

/* ---- Symmetric ciphers and AEADs --------------------------------------- */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_AES_C
#define MBEDTLS_AESNI_C                 /* x86-64 AES-NI/PCLMUL, constant time */
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C

/* ---- Public key -------------------------------------------------------- */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15               /* RSA PKCS#1 v1.5 signatures (chains, TLS 1.2) */
#define MBEDTLS_PKCS1_V21               /* RSA-PSS (TLS 1.3 CertificateVerify) */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C

/* ---- ASN.1 / PEM / X.509 ----------------------------------------------- */
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CHECK_KEY_USAGE
#define MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT

/* ---- PSA crypto (TLS 1.3 needs it) ------------------------------------- */
#define MBEDTLS_PSA_CRYPTO_C
/* Every TLS 1.3 handshake holds an ephemeral ECDHE key in the PSA key store
 * until the ServerHello is read. The static store has 32 slots, so the 33rd
 * concurrent handshake failed with "Memory allocation failed" (500 interviews
 * opening at once). The dynamic store grows with the handshakes in flight;
 * those are bounded by UPSTREAM_MAX_INFLIGHT. */
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC
/* No key storage, no secure elements, no PSA config file. */

/* ---- TLS ---------------------------------------------------------------- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL_ENABLED /* resumption */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_ALPN
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
/* Wanted OFF, but Mbed TLS 3.6 refuses TLS 1.3 without it (check_config.h:
 * "The current implementation of TLS 1.3 requires
 * MBEDTLS_SSL_KEEP_PEER_CERTIFICATE").  Costs one parsed peer certificate of
 * RAM per connection; mbedtls_ssl_get_peer_cert() then works. */
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
/* Records we send carry at most 4 KB: a client chooses its own record size
 * (a request body just takes more records, 22 bytes of overhead each), and
 * every upstream connection then holds a 4 KB send buffer, not 16 KB. What
 * we receive stays 16 KB: the server chooses that, and servers rarely honour
 * the max_fragment_length extension. */
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096
/* Explicitly off (listed for the reader; they are off by omission):
 *   MBEDTLS_SSL_SRV_C, MBEDTLS_SSL_PROTO_DTLS, MBEDTLS_SSL_RENEGOTIATION,
 *   MBEDTLS_SSL_CONTEXT_SERIALIZATION,
 *   MBEDTLS_SSL_EARLY_DATA, MBEDTLS_DEBUG_C, MBEDTLS_THREADING_C,
 *   MBEDTLS_SELF_TEST, MBEDTLS_CIPHER_MODE_CBC, MD5, DES, CCM, DHM. */

/* Only AEAD suites; TLS 1.3 suites first. */
#define MBEDTLS_SSL_CIPHERSUITES                                   \
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,                             \
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,                       \
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,                             \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,               \
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,                 \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,         \
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,           \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,               \
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384

#endif /* INTERVIEW_MBEDTLS_CONFIG_H */
