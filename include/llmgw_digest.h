/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_digest.h — the one SHA-256 and the one hex encoder of the core
 * (pure: OpenSSL's EVP digest). Cache keys, store keys, gateway key
 * digests and request ids all use these.
 */
#ifndef LLMGW_DIGEST_H
#define LLMGW_DIGEST_H

#include <apr.h>

#define LLMGW_DIGEST_LEN 32              /* SHA-256 */

/* Lower-case hex of n bytes into out (2n characters, then a NUL). */
void llmgw_hex(const unsigned char *in, apr_size_t n, char *out);

/* SHA-256 of len bytes; all zero if OpenSSL fails (matches no real key). */
void llmgw_sha256(const void *data, apr_size_t len,
                  unsigned char out[LLMGW_DIGEST_LEN]);

/* Hex SHA-256 (64 characters + NUL) of len bytes. */
void llmgw_sha256_hex(const void *data, apr_size_t len,
                      char out[2 * LLMGW_DIGEST_LEN + 1]);

#endif
