/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_route.h — choosing the provider and upstream model (pure).
 * SPEC order: the `provider` field (the model then goes upstream verbatim),
 * else `provider/model` when the prefix names a provider (after aliases),
 * else the default provider.
 */
#ifndef LLMGW_ROUTE_H
#define LLMGW_ROUTE_H

#include <apr_hash.h>
#include "llmgw_types.h"

typedef struct llmgw_route_table {
    apr_hash_t *providers;           /* name -> llmgw_provider_t* */
    apr_array_header_t *order;       /* llmgw_provider_t*, config order */
    apr_hash_t *aliases;             /* alias -> "provider/model" */
} llmgw_route_table_t;

typedef struct llmgw_route {
    const llmgw_provider_t *provider;
    const char *model;               /* upstream model */
} llmgw_route_t;

llmgw_route_table_t *llmgw_route_table_make(apr_pool_t *p);
/* Overlay: entries of add win, base's are kept. */
llmgw_route_table_t *llmgw_route_table_merge(apr_pool_t *p,
                                             const llmgw_route_table_t *base,
                                             const llmgw_route_table_t *add);

/* Returns 0 and fills out, or an HTTP status (400/404) with *err set. */
int llmgw_route_resolve(apr_pool_t *p, const llmgw_route_table_t *t,
                        const char *model, const char *provider_field,
                        const char *default_provider,
                        llmgw_route_t *out, const char **err,
                        const char **err_code);

/* A model name acceptable upstream: 1..256 printable ASCII, no controls. */
int llmgw_model_name_ok(const char *model);

#endif
