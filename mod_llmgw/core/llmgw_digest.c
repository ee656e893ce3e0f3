/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
#include <string.h>
#include <pthread.h>
#include <openssl/evp.h>
#include "llmgw_digest.h"

void llmgw_hex(const unsigned char *in, apr_size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    apr_size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

/* OpenSSL 3 looks the implementation of EVP_sha256() up again at every
 * digest (EVP_MD_fetch: more instructions than hashing a key): it is
 * fetched once per process and kept. */
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_impl(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md ? sha256_md : EVP_sha256();
}
#else
#define sha256_impl() EVP_sha256()
#endif

void llmgw_sha256(const void *data, apr_size_t len,
                  unsigned char out[LLMGW_DIGEST_LEN])
{
    unsigned int n = LLMGW_DIGEST_LEN;
    if (!EVP_Digest(data, len, out, &n, sha256_impl(), NULL)
        || n != LLMGW_DIGEST_LEN) {
        memset(out, 0, LLMGW_DIGEST_LEN);
    }
}

void llmgw_sha256_hex(const void *data, apr_size_t len,
                      char out[2 * LLMGW_DIGEST_LEN + 1])
{
    unsigned char md[LLMGW_DIGEST_LEN];
    llmgw_sha256(data, len, md);
    llmgw_hex(md, sizeof(md), out);
}
