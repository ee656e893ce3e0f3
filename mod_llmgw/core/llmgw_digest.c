/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
#include <string.h>
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

void llmgw_sha256(const void *data, apr_size_t len,
                  unsigned char out[LLMGW_DIGEST_LEN])
{
    unsigned int n = LLMGW_DIGEST_LEN;
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL)
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
