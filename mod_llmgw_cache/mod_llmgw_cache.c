/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * mod_llmgw_cache — exact-match response cache for mod_llmgw.
 * Plugs into mod_llmgw's optional hooks; refuses to start without it.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "llmgw.h"

module AP_MODULE_DECLARE_DATA llmgw_cache_module;

static APR_OPTIONAL_FN_TYPE(llmgw_get_store) *get_store;

static int cache_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog; (void)ptemp;
    get_store = APR_RETRIEVE_OPTIONAL_FN(llmgw_get_store);
    if (!get_store) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "mod_llmgw_cache needs mod_llmgw: load it first");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static void cache_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(cache_post_config, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(llmgw_cache) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    cache_register_hooks,
    AP_MODULE_FLAG_NONE
};
