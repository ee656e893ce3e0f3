/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_cache_key.h — cache keys of mod_llmgw_cache (pure: APR, jansson,
 * OpenSSL). A key is the SHA-256 of the request's scope (workspace, or the
 * virtual host plus a hash of the client's credential), the endpoint, the
 * provider and upstream model that answer, and the canonical request body.
 */
#ifndef LLMGW_CACHE_KEY_H
#define LLMGW_CACHE_KEY_H

#include <apr_pools.h>
#include <jansson.h>

/* Prefix of every cache entry in the shared store. */
#define LLMGW_CACHE_KEY_PREFIX "llmgw:cache:v1:"

/* The canonical form of a request body's text (the one form every cache
 * key uses: llmgw_json_canonical): the gateway's own fields
 * (LLMGW_GATEWAY_FIELDS), model (keyed separately as the resolved upstream
 * model), stream and stream_options left out at the top level, members
 * sorted at every level, no white space, "1.0" written "1". NULL when body
 * is not a JSON object. */
const char *llmgw_cache_canonical_body(apr_pool_t *p, const char *body,
                                       apr_size_t len);

/* The scope of a request: "ws:" + workspace when there is one, else
 * "vhost:" + vhost + ";cred:" + SHA-256 of client_key (or "anonymous"
 * without one); then ";pk:" + SHA-256 of provider_key (BYOK) when the
 * request carries one, so an answer bought with one provider key is never
 * served to a request with another key or none. No raw credential ever
 * appears in the result. */
const char *llmgw_cache_scope(apr_pool_t *p, const char *workspace,
                              const char *vhost, const char *client_key,
                              const char *provider_key);

/* The store key: LLMGW_CACHE_KEY_PREFIX + hex SHA-256 over the
 * length-prefixed parts. NULL when a part is missing. */
const char *llmgw_cache_key(apr_pool_t *p, const char *scope,
                            const char *endpoint, const char *provider,
                            const char *model, const char *canonical_body);

#endif
