/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_store.c — status names, the key digest, and the registry of store
 * backends: the table that finds a backend by the scheme of the LLMGWStore
 * argument.
 */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <apr_sha1.h>

#include "llmgw_store_backends.h"
#include "llmgw_digest.h"

const char *llmgw_store_status_str(llmgw_store_status_e s)
{
    switch (s) {
    case LLMGW_STORE_OK:       return "ok";
    case LLMGW_STORE_NOTFOUND: return "not found";
    case LLMGW_STORE_EXISTS:   return "exists";
    case LLMGW_STORE_TOOBIG:   return "too big";
    case LLMGW_STORE_ERROR:    return "error";
    }
    return "unknown";
}

const char *llmgw_store_key_digest(const char *key, apr_size_t klen,
                                   char buf[LLMGW_STORE_DIGEST_BUF],
                                   apr_size_t *out_len)
{
    unsigned char md[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t ctx;

    apr_sha1_init(&ctx);
    apr_sha1_update_binary(&ctx, (const unsigned char *)key, (unsigned int)klen);
    apr_sha1_final(md, &ctx);
    memcpy(buf, "sha1:", 5);
    llmgw_hex(md, sizeof(md), buf + 5);
    *out_len = 5 + 2 * APR_SHA1_DIGESTSIZE;
    return buf;
}

/* ---- the registry ---------------------------------------------------- */

/* Each backend is defined in its own file of this folder; a new one is
 * that file and a row here (its declaration and its entry), in the order
 * error messages list them. */
extern const llmgw_store_backend_t llmgw_store_shm_backend;
extern const llmgw_store_backend_t llmgw_store_memcached_backend;

static const llmgw_store_backend_t *const backends[] = {
    &llmgw_store_shm_backend,
    &llmgw_store_memcached_backend,
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

const llmgw_store_backend_t *llmgw_store_backend_find(const char *scheme,
                                                      apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < NBACKENDS; i++) {
        if (strlen(backends[i]->scheme) == len
            && !strncasecmp(backends[i]->scheme, scheme, len))
            return backends[i];
    }
    return NULL;
}

/* "use A[, B...] or Z", from the table */
static const char *usage_list(apr_pool_t *p)
{
    const char *s = "use ";
    apr_size_t i;

    for (i = 0; i < NBACKENDS; i++) {
        s = apr_pstrcat(p, s, i == 0 ? "" : i + 1 < NBACKENDS ? ", " : " or ",
                        backends[i]->usage, NULL);
    }
    return s;
}

apr_status_t llmgw_store_spec_parse(apr_pool_t *p, const char *spec,
                                    llmgw_store_spec_t *out, const char **err)
{
    const char *colon;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if (!spec || !*spec) {
        *err = apr_pstrcat(p, "the store is empty: ", usage_list(p), NULL);
        return APR_EINVAL;
    }
    colon = strchr(spec, ':');
    out->backend = llmgw_store_backend_find(spec, colon
                                            ? (apr_size_t)(colon - spec)
                                            : strlen(spec));
    if (!out->backend) {
        *err = apr_psprintf(p, "unknown store '%s': %s", spec, usage_list(p));
        return APR_EINVAL;
    }
    out->arg = spec;
    return out->backend->parse(p, spec, colon ? colon + 1 : NULL, &out->conf,
                               err);
}
