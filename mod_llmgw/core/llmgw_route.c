/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
#include <string.h>
#include <apr_strings.h>
#include "llmgw_route.h"

llmgw_route_table_t *llmgw_route_table_make(apr_pool_t *p)
{
    llmgw_route_table_t *t = apr_pcalloc(p, sizeof(*t));
    t->providers = apr_hash_make(p);
    t->order = apr_array_make(p, 4, sizeof(llmgw_provider_t *));
    t->aliases = apr_hash_make(p);
    t->routers = apr_hash_make(p);
    return t;
}

llmgw_route_table_t *llmgw_route_table_merge(apr_pool_t *p,
                                             const llmgw_route_table_t *base,
                                             const llmgw_route_table_t *add)
{
    llmgw_route_table_t *t = apr_pcalloc(p, sizeof(*t));
    int i;
    t->providers = apr_hash_overlay(p, add->providers, base->providers);
    t->aliases = apr_hash_overlay(p, add->aliases, base->aliases);
    t->routers = apr_hash_overlay(p, add->routers, base->routers);
    /* order: the vhost's own providers, then inherited ones not overridden */
    t->order = apr_array_copy(p, add->order);
    for (i = 0; i < base->order->nelts; i++) {
        llmgw_provider_t *bp = APR_ARRAY_IDX(base->order, i, llmgw_provider_t *);
        if (!apr_hash_get(add->providers, bp->name, APR_HASH_KEY_STRING)) {
            APR_ARRAY_PUSH(t->order, llmgw_provider_t *) = bp;
        }
    }
    return t;
}

int llmgw_model_name_ok(const char *model)
{
    const unsigned char *c;
    apr_size_t n = 0;
    if (!model || !*model) {
        return 0;
    }
    for (c = (const unsigned char *)model; *c; c++, n++) {
        if (*c < 0x21 || *c > 0x7e || n >= 256) {
            return 0;
        }
    }
    return 1;
}

int llmgw_route_resolve(apr_pool_t *p, const llmgw_route_table_t *t,
                        const char *model, const char *provider_field,
                        const char *default_provider,
                        llmgw_route_t *out, const char **err,
                        const char **err_code)
{
    const llmgw_alias_t *alias;
    const char *slash;
    llmgw_provider_t *prov = NULL;

    *err_code = NULL;
    if (!llmgw_model_name_ok(model)) {
        *err = "'model' must be 1 to 256 printable characters without spaces";
        *err_code = "invalid_model";
        return 400;
    }
    if (provider_field) {
        /* An explicit provider wins, and the model goes upstream verbatim:
         * OpenRouter's "openai/gpt-4.1-mini" is a model of openrouter. */
        prov = apr_hash_get(t->providers, provider_field, APR_HASH_KEY_STRING);
        if (!prov) {
            *err = apr_psprintf(p, "unknown provider '%s'", provider_field);
            *err_code = "provider_not_found";
            return 400;
        }
        out->provider = prov;
        out->model = model;
        return 0;
    }
    if (t->routers && apr_hash_get(t->routers, model, APR_HASH_KEY_STRING)) {
        /* one route cannot stand for a router's rules: a caller that
         * checks a name (a key's models=) must see the name itself */
        *err = apr_psprintf(p, "'%s' is a router: its rules choose the "
                            "model of each request", model);
        *err_code = "model_is_router";
        return 400;
    }
    alias = apr_hash_get(t->aliases, model, APR_HASH_KEY_STRING);
    if (alias) {
        model = APR_ARRAY_IDX(alias->targets, 0, llmgw_alias_target_t).target;
    }
    slash = strchr(model, '/');
    if (slash) {
        char *name = apr_pstrmemdup(p, model, (apr_size_t)(slash - model));
        prov = apr_hash_get(t->providers, name, APR_HASH_KEY_STRING);
        if (prov) {
            model = slash + 1;
        }
        else {
            /* A namespaced model ("meta-llama/x") goes to an aggregator only
             * when the `provider` field names it: a typo in a provider name
             * must not reach the default provider. */
            *err = apr_psprintf(p, "unknown provider '%s' in model '%s'",
                                name, model);
            *err_code = "provider_not_found";
            return 400;
        }
    }
    if (!prov && default_provider) {
        prov = apr_hash_get(t->providers, default_provider,
                            APR_HASH_KEY_STRING);
    }
    if (!prov) {
        *err = apr_psprintf(p, "model '%s' names no provider and no "
                            "default provider is configured", model);
        *err_code = "model_not_found";
        return 404;
    }
    if (!*model) {
        *err = "'model' names a provider but no model";
        *err_code = "invalid_model";
        return 400;
    }
    out->provider = prov;
    out->model = model;
    return 0;
}

/* A name that is not a router: an alias's targets (the first picked by
 * weight, the others in weight order) or the name's one route. */
static int expand_name(apr_pool_t *p, const llmgw_route_table_t *t,
                       const char *model, const char *provider_field,
                       const char *default_provider, apr_uint64_t pick,
                       apr_array_header_t *out, const char **err,
                       const char **err_code)
{
    const llmgw_alias_t *alias = provider_field || !model ? NULL
        : apr_hash_get(t->aliases, model, APR_HASH_KEY_STRING);
    int first, i, rv;

    if (!alias || alias->targets->nelts < 2) {
        return llmgw_route_resolve(p, t, model, provider_field,
                                   default_provider, apr_array_push(out),
                                   err, err_code);
    }
    first = llmgw_alias_pick(alias, pick);
    for (i = -1; i < alias->targets->nelts; i++) {
        if (i == first) {
            continue;
        }
        rv = llmgw_route_resolve(p, t, APR_ARRAY_IDX(alias->targets,
                                                     i < 0 ? first : i,
                                                     llmgw_alias_target_t)
                                       .target, NULL, default_provider,
                                 apr_array_push(out), err, err_code);
        if (rv) {
            return rv;
        }
    }
    return 0;
}

int llmgw_route_expand(apr_pool_t *p, const llmgw_route_table_t *t,
                       const char *model, const char *provider_field,
                       const char *default_provider,
                       const llmgw_route_facts_t *facts, apr_uint64_t pick,
                       apr_array_header_t *out, llmgw_route_choice_t *choice,
                       const char **err, const char **err_code)
{
    static const llmgw_route_facts_t none = { 0, 0, 0, 0, -1, NULL, NULL,
                                              NULL };
    const llmgw_router_t *rt = provider_field || !model || !t->routers ? NULL
        : apr_hash_get(t->routers, model, APR_HASH_KEY_STRING);
    const llmgw_rule_t *rule;
    int idx, i, rv, start = out->nelts;

    if (!rt) {
        rv = expand_name(p, t, model, provider_field, default_provider,
                         pick, out, err, err_code);
        for (i = start; !rv && i < out->nelts; i++) {
            APR_ARRAY_IDX(out, i, llmgw_route_t).written = model;
        }
        return rv;
    }
    idx = llmgw_router_match(rt, facts ? facts : &none);
    if (idx < 0) {
        *err = apr_psprintf(p, "no rule of router '%s' matches this "
                            "request", rt->name);
        *err_code = "no_matching_rule";
        return 400;
    }
    if (choice && !choice->router) {
        choice->router = rt;
        choice->rule = idx + 1;
    }
    rule = APR_ARRAY_IDX(rt->rules, idx, llmgw_rule_t *);
    for (i = 0; i < rule->targets->nelts; i++) {
        rv = expand_name(p, t, APR_ARRAY_IDX(rule->targets, i, const char *),
                         NULL, default_provider, pick, out, err, err_code);
        if (rv) {
            return rv;
        }
    }
    for (i = start; i < out->nelts; i++) {
        APR_ARRAY_IDX(out, i, llmgw_route_t).written = model;
    }
    return 0;
}
