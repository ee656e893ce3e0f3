/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Cache keys: canonical request bodies and their SHA-256. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_types.h"
#include "llmgw_cache_key.h"
#include "llmgw_digest.h"
#include "llmgw_json_scan.h"

const char *llmgw_cache_canonical_body(apr_pool_t *p, const char *body,
                                       apr_size_t len)
{
    static const char *const drop[] = {
        LLMGW_GATEWAY_FIELDS, "model", "stream", "stream_options", NULL
    };
    apr_size_t i;
    for (i = 0; i < len && (body[i] == ' ' || body[i] == '\t'
                            || body[i] == '\n' || body[i] == '\r'); i++)
        ;
    if (i == len || body[i] != '{' || !llmgw_json_valid(body, len)) {
        return NULL;
    }
    return llmgw_json_canonical(p, body, len, drop, NULL);
}

const char *llmgw_cache_scope(apr_pool_t *p, const char *workspace,
                              const char *vhost, const char *client_key,
                              const char *provider_key)
{
    char h[65];
    const char *scope;

    if (workspace && *workspace) {
        scope = apr_pstrcat(p, "ws:", workspace, NULL);
    }
    else if (!client_key) {
        scope = apr_pstrcat(p, "vhost:", vhost ? vhost : "",
                            ";cred:anonymous", NULL);
    }
    else {
        llmgw_sha256_hex(client_key, strlen(client_key), h);
        scope = apr_pstrcat(p, "vhost:", vhost ? vhost : "", ";cred:", h,
                            NULL);
    }
    if (provider_key) {
        llmgw_sha256_hex(provider_key, strlen(provider_key), h);
        scope = apr_pstrcat(p, scope, ";pk:", h, NULL);
    }
    return scope;
}

const char *llmgw_cache_key(apr_pool_t *p, const char *scope,
                            const char *endpoint, const char *provider,
                            const char *model, const char *canonical_body)
{
    const char *parts[5];
    char h[65];
    char *buf;
    apr_size_t i, len = 0, off = 0;

    parts[0] = scope;
    parts[1] = endpoint;
    parts[2] = provider;
    parts[3] = model;
    parts[4] = canonical_body;
    for (i = 0; i < 5; i++) {
        if (!parts[i]) {
            return NULL;
        }
        len += strlen(parts[i]) + 24;
    }
    /* length-prefixed, so no choice of parts can collide with another */
    buf = apr_palloc(p, len + 16);
    off = apr_snprintf(buf, len + 16, "llmgw-cache-1\n");
    for (i = 0; i < 5; i++) {
        apr_size_t n = strlen(parts[i]);
        off += apr_snprintf(buf + off, len + 16 - off, "%" APR_SIZE_T_FMT ":",
                            n);
        memcpy(buf + off, parts[i], n);
        off += n;
        buf[off++] = '\n';
    }
    llmgw_sha256_hex(buf, off, h);
    return apr_pstrcat(p, LLMGW_CACHE_KEY_PREFIX, h, NULL);
}
