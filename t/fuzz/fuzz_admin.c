/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The management API's input: the request path (routes, methods), every
 * body validator (workspaces, keys, provider keys, the context quota
 * policy) on the input as JSON, the stored forms read back (a policy, a
 * key's models, counters, a sealed provider key) from the input as text,
 * and a policy applied to the input as a Chat request. */
#include "fuzz.h"
#include "llmgw_admin.h"
#include "llmgw_limits.h"

static const char *const methods[] = {
    "GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char key[LLMGW_ADMIN_SECRET_LEN] = { 1, 2, 3 };
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    json_t *body = json_loadb(s, size, 0, NULL);
    llmgw_admin_route_t rt;
    const char *param = NULL, *err, *prov = NULL, *pkey = NULL, *txt;
    llmgw_admin_ws_t ws;
    llmgw_admin_key_t k;
    llmgw_policy_t pol;
    apr_array_header_t *models = NULL;
    unsigned char dg[LLMGW_DIGEST_LEN];
    unsigned i;

    memset(&rt, 0, sizeof(rt));
    llmgw_admin_route_parse(p, s, &rt);
    fz_touch(llmgw_admin_route_methods(rt.route),
             strlen(llmgw_admin_route_methods(rt.route)));
    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        fz_sink += (unsigned)llmgw_admin_method_ok(rt.route, methods[i]);
    }
    if (rt.workspace) {
        fz_touch(rt.workspace, strlen(rt.workspace));
    }
    fz_sink += (unsigned)llmgw_admin_id_ok(s) + (unsigned)llmgw_workspace_ok(s);
    fz_sink += (unsigned)llmgw_key_digest(s, dg);
    fz_sink += (unsigned)llmgw_counter_value(s);

    if (body) {
        memset(&ws, 0, sizeof(ws));
        if (!(err = llmgw_admin_ws_create_check(p, body, &ws, &param))) {
            ws.created_at = 1700000000;
            fz_json_drop(llmgw_admin_ws_json(&ws));
        }
        memset(&ws, 0, sizeof(ws));
        ws.id = "ws_1";
        ws.name = "n";
        ws.plan = "free";
        ws.status = "active";
        if (!(err = llmgw_admin_ws_patch_check(p, body, &ws, &param))) {
            fz_json_drop(llmgw_admin_ws_json(&ws));
        }
        memset(&k, 0, sizeof(k));
        if (!(err = llmgw_admin_key_create_check(p, body, 1700000000, &k,
                                                 &param))) {
            k.id = "key_1";
            k.workspace = "ws_1";
            k.prefix = "llmgw_ab";
            if ((txt = llmgw_admin_models_text(p, k.models)) != NULL
                && llmgw_admin_models_parse(p, txt, &models) != 0) {
                abort();        /* a key's models read back */
            }
            fz_json_drop(llmgw_admin_key_json(&k, "llmgw_secret"));
        }
        if (!llmgw_admin_pkey_create_check(p, body, &prov, &pkey, &param)) {
            txt = llmgw_secret_seal(p, key, prov, pkey);
            if (!txt || !(txt = llmgw_secret_open(p, key, prov, txt))
                || strcmp(txt, pkey)) {
                abort();        /* a sealed key opens to itself */
            }
            fz_touch(llmgw_admin_last4(p, pkey), 4);
        }
        if (!llmgw_policy_check(p, body, &pol, &param)) {
            llmgw_policy_t back;
            fz_json_drop(llmgw_policy_json(&pol));
            txt = llmgw_policy_text(p, &pol);
            if (!txt || llmgw_policy_parse(p, txt, &back) != 0) {
                abort();        /* a policy stored reads back */
            }
        }
        {
            apr_int64_t est = (apr_int64_t)size, max = -1;
            llmgw_policy_default(&pol);
            pol.max_prompt_tokens = 8;
            pol.max_completion_tokens = 4;
            pol.truncate = 1;
            /* the input as each API's request (chat, Messages, Responses) */
            llmgw_policy_apply(&pol, (llmgw_policy_api_e)(size % 3), body,
                               &est, &max);
            pol.truncate = 0;
            llmgw_policy_apply(&pol, (llmgw_policy_api_e)(size % 3), body,
                               &est, &max);
        }
        json_decref(body);
    }
    llmgw_policy_parse(p, s, &pol);
    llmgw_admin_models_parse(p, s, &models);
    llmgw_secret_open(p, key, "ws\nopenai", s);
    free(s);
    apr_pool_destroy(p);
    return 0;
}
