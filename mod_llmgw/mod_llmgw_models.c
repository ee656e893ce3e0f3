/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* GET models: every configured provider's models as "provider/model",
 * in the OpenAI list shape, with pricing from LLMGWPrice; GET models/{id}:
 * one of them. */
#include <string.h>
#include "apr_strings.h"
#include "mod_llmgw_private.h"
#include "llmgw_parse.h"

/* One OpenAI model object; pricing from LLMGWPrice of "provider/model". */
static json_t *model_object(apr_pool_t *p, const llmgw_server_conf *sc,
                            const char *id, const char *prov,
                            const char *model)
{
    llmgw_price_t *pp = apr_hash_get(sc->prices,
                                     apr_pstrcat(p, prov, "/", model, NULL),
                                     APR_HASH_KEY_STRING);
    json_t *m = json_pack("{s:s,s:s,s:i,s:s}", "id", id, "object", "model",
                          "created", 0, "owned_by", prov);
    if (pp) {
        json_object_set_new(m, "pricing", json_pack(
            "{s:f,s:f,s:f,s:f,s:s}", "input", pp->input_per_mtok,
            "output", pp->output_per_mtok, "cache_read", pp->cached_per_mtok,
            "cache_write", pp->cache_write_per_mtok,
            "unit", "usd_per_million_tokens"));
    }
    return m;
}

static int model_listed(const llmgw_provider_t *pr, const char *model)
{
    int j;
    for (j = 0; j < pr->models->nelts; j++) {
        if (!strcmp(APR_ARRAY_IDX(pr->models, j, const char *), model)) {
            return 1;
        }
    }
    return 0;
}

/* GET models/{id}: the id resolves as a request's model would (alias,
 * provider/model, default provider). A provider that lists its models
 * (models=) or prices them knows them all; one that lists none takes any. */
static int retrieve_model(request_rec *r, llmgw_request_t *req,
                          const char *id)
{
    llmgw_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                 &llmgw_module);
    llmgw_route_t rt;
    const char *err, *code;
    int known;

    if (llmgw_route_for(r, id, NULL, &rt, &err, &code)) {
        return llmgw_error_reply(r, req, HTTP_NOT_FOUND, "model_not_found",
                                 "model", apr_psprintf(r->pool,
                                 "the model '%s' does not exist", id));
    }
    known = model_listed(rt.provider, rt.model)
            || apr_hash_get(sc->prices, apr_pstrcat(r->pool, rt.provider->name,
                            "/", rt.model, NULL), APR_HASH_KEY_STRING);
    if (!known && rt.provider->models->nelts) {
        return llmgw_error_reply(r, req, HTTP_NOT_FOUND, "model_not_found",
                                 "model", apr_psprintf(r->pool,
                                 "the model '%s' does not exist", id));
    }
    return llmgw_send_doc(r, req, HTTP_OK, model_object(r->pool, sc, id,
                                                        rt.provider->name,
                                         rt.model));
}

int llmgw_list_models(request_rec *r, llmgw_request_t *req)
{
    llmgw_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                 &llmgw_module);
    json_t *data = json_array();
    apr_hash_t *seen = apr_hash_make(r->pool);
    apr_hash_index_t *hi;
    const char *id = llmgw_model_id_from_path(r->pool, r->uri);
    int i, j;

    if (id) {
        return retrieve_model(r, req, id);
    }
#define ADD_MODEL(prov, model) do {                                        \
        const char *id_ = apr_pstrcat(r->pool, (prov), "/", (model), NULL); \
        if (!apr_hash_get(seen, id_, APR_HASH_KEY_STRING)) {               \
            apr_hash_set(seen, id_, APR_HASH_KEY_STRING, id_);              \
            json_array_append_new(data, model_object(r->pool, sc, id_,      \
                                                     (prov), (model)));     \
        }                                                                   \
    } while (0)

    for (i = 0; i < sc->routes->order->nelts; i++) {
        llmgw_provider_t *pr = APR_ARRAY_IDX(sc->routes->order, i,
                                             llmgw_provider_t *);
        for (j = 0; j < pr->models->nelts; j++) {
            ADD_MODEL(pr->name, APR_ARRAY_IDX(pr->models, j, const char *));
        }
    }
    for (hi = apr_hash_first(r->pool, sc->prices); hi; hi = apr_hash_next(hi)) {
        const char *k = apr_hash_this_key(hi), *slash = strchr(k, '/');
        const char *prov = apr_pstrmemdup(r->pool, k, slash - k);
        if (apr_hash_get(sc->routes->providers, prov, APR_HASH_KEY_STRING)) {
            ADD_MODEL(prov, slash + 1);
        }
    }
#undef ADD_MODEL
    return llmgw_send_doc(r, req, HTTP_OK, json_pack("{s:s,s:o}", "object",
                                                     "list",
                                      "data", data));
}
