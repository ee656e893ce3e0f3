/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* GET models: every configured provider's models as "provider/model",
 * in the OpenAI list shape, with pricing from LLMGWPrice. */
#include <string.h>
#include "apr_strings.h"
#include "mod_llmgw_private.h"
#include "llmgw_num.h"

int llmgw_list_models(request_rec *r, llmgw_request_t *req)
{
    llmgw_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                 &llmgw_module);
    json_t *data = json_array(), *list;
    apr_hash_t *seen = apr_hash_make(r->pool);
    apr_hash_index_t *hi;
    char *txt;
    int i, j;

#define ADD_MODEL(prov, model) do {                                        \
        const char *id_ = apr_pstrcat(r->pool, (prov), "/", (model), NULL); \
        if (!apr_hash_get(seen, id_, APR_HASH_KEY_STRING)) {               \
            llmgw_price_t *pp_ = apr_hash_get(sc->prices, id_,              \
                                              APR_HASH_KEY_STRING);         \
            json_t *m_ = json_pack("{s:s,s:s,s:i,s:s}", "id", id_,          \
                                   "object", "model", "created", 0,         \
                                   "owned_by", (prov));                     \
            if (pp_) {                                                      \
                json_object_set_new(m_, "pricing", json_pack(              \
                    "{s:f,s:f,s:f,s:s}", "input", pp_->input_per_mtok,      \
                    "output", pp_->output_per_mtok, "cache_read",           \
                    pp_->cached_per_mtok, "unit", "usd_per_million_tokens")); \
            }                                                               \
            apr_hash_set(seen, id_, APR_HASH_KEY_STRING, id_);              \
            json_array_append_new(data, m_);                                \
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
    list = json_pack("{s:s,s:o}", "object", "list", "data", data);
    txt = llmgw_json_dumps(list, JSON_COMPACT);
    json_decref(list);
    llmgw_send_json(r, req, HTTP_OK, apr_pstrdup(r->pool, txt), strlen(txt));
    free(txt);
    return OK;
}
