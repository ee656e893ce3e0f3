/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_admin_secret.c — identifiers, gateway keys, LLMGWSecretKeyFile and
 * the AES-256-GCM sealing of stored provider keys (pure: APR and OpenSSL).
 */
#include <string.h>

#include <apr_base64.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "llmgw_admin.h"

#define GCM_NONCE 12
#define GCM_TAG   16
#define SEAL_TAG  "v1:"

const char *llmgw_admin_new_id(apr_pool_t *p, const char *prefix)
{
    unsigned char r[12];
    char hex[2 * sizeof(r) + 1];
    if (RAND_bytes(r, (int)sizeof(r)) != 1) {
        return NULL;
    }
    llmgw_hex(r, sizeof(r), hex);
    return apr_pstrcat(p, prefix, hex, NULL);
}

int llmgw_admin_new_key(apr_pool_t *p, const char **secret,
                        const char **shown,
                        char digest[2 * LLMGW_DIGEST_LEN + 1])
{
    unsigned char r[32];
    char b64[64];
    char *s, *c;
    int n;

    if (RAND_bytes(r, (int)sizeof(r)) != 1) {
        return -1;
    }
    n = apr_base64_encode(b64, (const char *)r, (int)sizeof(r));
    OPENSSL_cleanse(r, sizeof(r));
    (void)n;
    /* base64url without padding: no character a shell or a URL mangles */
    for (c = b64; *c; c++) {
        if (*c == '+') {
            *c = '-';
        }
        else if (*c == '/') {
            *c = '_';
        }
        else if (*c == '=') {
            *c = '\0';
            break;
        }
    }
    s = apr_pstrcat(p, LLMGW_ADMIN_KEY_PREFIX, b64, NULL);
    OPENSSL_cleanse(b64, sizeof(b64));
    *secret = s;
    *shown = apr_pstrmemdup(p, s, 12);
    llmgw_sha256_hex(s, strlen(s), digest);
    return 0;
}

const char *llmgw_admin_last4(apr_pool_t *p, const char *key)
{
    apr_size_t n = key ? strlen(key) : 0;
    if (n < 8) {
        return "****";
    }
    return apr_pstrdup(p, key + n - 4);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

const char *llmgw_secret_key_load(apr_pool_t *p, const char *path,
                                  unsigned char key[LLMGW_ADMIN_SECRET_LEN])
{
    apr_file_t *f;
    apr_status_t rv;
    char buf[2 * LLMGW_ADMIN_SECRET_LEN + 3];
    apr_size_t n = sizeof(buf);
    char err[120];
    int i;

    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read %s: %s", path,
                            apr_strerror(rv, err, sizeof(err)));
    }
    rv = apr_file_read_full(f, buf, sizeof(buf), &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv)) {
        return apr_psprintf(p, "cannot read %s: %s", path,
                            apr_strerror(rv, err, sizeof(err)));
    }
    if (n == LLMGW_ADMIN_SECRET_LEN) {
        memcpy(key, buf, LLMGW_ADMIN_SECRET_LEN);
        OPENSSL_cleanse(buf, sizeof(buf));
        return NULL;
    }
    if (n == 2 * LLMGW_ADMIN_SECRET_LEN
        || (n == 2 * LLMGW_ADMIN_SECRET_LEN + 1
            && buf[2 * LLMGW_ADMIN_SECRET_LEN] == '\n')) {
        for (i = 0; i < LLMGW_ADMIN_SECRET_LEN; i++) {
            int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                break;
            }
            key[i] = (unsigned char)(hi << 4 | lo);
        }
        OPENSSL_cleanse(buf, sizeof(buf));
        if (i == LLMGW_ADMIN_SECRET_LEN) {
            return NULL;
        }
        OPENSSL_cleanse(key, LLMGW_ADMIN_SECRET_LEN);
        return apr_psprintf(p, "%s holds 64 characters that are not all hex "
                            "digits", path);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return apr_psprintf(p, "%s must hold exactly 32 random bytes (or 64 hex "
                        "digits), not %s%lu bytes", path,
                        n == sizeof(buf) ? "more than " : "",
                        (unsigned long)(n == sizeof(buf) ? n - 1 : n));
}

const char *llmgw_secret_seal(apr_pool_t *p,
                              const unsigned char key[LLMGW_ADMIN_SECRET_LEN],
                              const char *aad, const char *plain)
{
    apr_size_t plen = strlen(plain), n = GCM_NONCE + plen + GCM_TAG;
    unsigned char *buf = apr_palloc(p, n);
    EVP_CIPHER_CTX *ctx;
    int len = 0, ok;
    char *out;

    if (RAND_bytes(buf, GCM_NONCE) != 1 || !(ctx = EVP_CIPHER_CTX_new())) {
        return NULL;
    }
    ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE,
                               NULL) == 1
        && EVP_EncryptInit_ex(ctx, NULL, NULL, key, buf) == 1
        && EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad,
                             (int)strlen(aad)) == 1
        && EVP_EncryptUpdate(ctx, buf + GCM_NONCE, &len,
                             (const unsigned char *)plain, (int)plen) == 1
        && (apr_size_t)len == plen
        && EVP_EncryptFinal_ex(ctx, buf + GCM_NONCE + len, &len) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG,
                               buf + GCM_NONCE + plen) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        return NULL;
    }
    out = apr_palloc(p, sizeof(SEAL_TAG) - 1 + apr_base64_encode_len((int)n));
    memcpy(out, SEAL_TAG, sizeof(SEAL_TAG) - 1);
    apr_base64_encode(out + sizeof(SEAL_TAG) - 1, (const char *)buf, (int)n);
    return out;
}

const char *llmgw_secret_open(apr_pool_t *p,
                              const unsigned char key[LLMGW_ADMIN_SECRET_LEN],
                              const char *aad, const char *sealed)
{
    const char *b64;
    unsigned char *buf;
    char *plain;
    apr_size_t n, clen;
    EVP_CIPHER_CTX *ctx;
    int len = 0, ok;
    const char *c;

    if (!sealed || strncmp(sealed, SEAL_TAG, sizeof(SEAL_TAG) - 1)) {
        return NULL;
    }
    b64 = sealed + sizeof(SEAL_TAG) - 1;
    for (c = b64; *c; c++) {             /* apr_base64 skips nothing */
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')
              || (*c >= '0' && *c <= '9') || *c == '+' || *c == '/'
              || *c == '=')) {
            return NULL;
        }
    }
    buf = apr_palloc(p, (apr_size_t)apr_base64_decode_len(b64) + 1);
    n = (apr_size_t)apr_base64_decode_binary(buf, b64);
    if (n < GCM_NONCE + GCM_TAG) {
        return NULL;
    }
    clen = n - GCM_NONCE - GCM_TAG;
    plain = apr_palloc(p, clen + 1);
    if (!(ctx = EVP_CIPHER_CTX_new())) {
        return NULL;
    }
    ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE,
                               NULL) == 1
        && EVP_DecryptInit_ex(ctx, NULL, NULL, key, buf) == 1
        && EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad,
                             (int)strlen(aad)) == 1
        && EVP_DecryptUpdate(ctx, (unsigned char *)plain, &len,
                             buf + GCM_NONCE, (int)clen) == 1
        && (apr_size_t)len == clen
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG,
                               buf + GCM_NONCE + clen) == 1
        && EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + len, &len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok || memchr(plain, '\0', clen)) {
        OPENSSL_cleanse(plain, clen);
        return NULL;
    }
    plain[clen] = '\0';
    return plain;
}
