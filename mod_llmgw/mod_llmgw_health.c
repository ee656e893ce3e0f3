/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The `llmgw-health` handler (SPEC "Observability"): GET /health answers
 * {"status":"healthy"|"degraded","service":"llmgw","version","environment",
 * "timestamp","store":{"kind","status"},"providers":{NAME:{"circuit"}}},
 * and HTTP 503 when degraded (the shared store unreachable, or every
 * provider's circuit open), so that a load balancer stops sending traffic
 * to this node. */
#include <string.h>
#include "apr_strings.h"
#include "http_protocol.h"
#include "mod_llmgw_private.h"

APLOG_USE_MODULE(llmgw);

/* {NAME: {"circuit": STATE}} of the server's providers; *all_open when
 * there is at least one and every circuit is open. */
static json_t *providers_json(request_rec *r, int *all_open)
{
    llmgw_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                 &llmgw_module);
    apr_array_header_t *order = sc->routes ? sc->routes->order : NULL;
    json_t *o = json_object();
    int i, open = 0;

    for (i = 0; order && i < order->nelts; i++) {
        const llmgw_provider_t *p = APR_ARRAY_IDX(order, i,
                                                  const llmgw_provider_t *);
        const char *state = llmgw_circuit_state(r->server, p);
        open += !strcmp(state, "open");
        json_object_set_new(o, p->name, json_pack("{s:s}", "circuit", state));
    }
    *all_open = order && order->nelts && open == order->nelts;
    return o;
}

int llmgw_health_handler(request_rec *r)
{
    llmgw_server_conf *sc;
    llmgw_request_t *req;
    llmgw_store_t *st;
    json_t *j;
    char stamp[32];
    apr_time_exp_t t;
    apr_size_t n;
    int healthy = 1, all_open;

    if (!r->handler || strcmp(r->handler, "llmgw-health")) {
        return DECLINED;
    }
    req = llmgw_request_get(r);
    if (r->method_number != M_GET) {
        return llmgw_error_reply(r, req, HTTP_METHOD_NOT_ALLOWED,
                           "method_not_allowed", NULL, "use GET");
    }
    sc = ap_get_module_config(r->server->module_config, &llmgw_module);
    apr_time_exp_gmt(&t, apr_time_now());
    apr_strftime(stamp, &n, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &t);
    j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "status", "healthy",
                  "service", "llmgw", "version", LLMGW_VERSION,
                  "environment", sc->environment ? sc->environment
                                                 : "production",
                  "timestamp", stamp);
    st = llmgw_store_for(r->server);
    if (st) {
        const char *detail = NULL;
        llmgw_store_status_e s = st->health(st, r->pool, &detail);
        healthy = s == LLMGW_STORE_OK;
        json_object_set_new(j, "store", json_pack("{s:s,s:s}", "kind", st->kind,
                            "status", healthy ? "ok"
                                      : (detail ? detail : "error")));
    }
    else {
        healthy = 0;
        json_object_set_new(j, "store", json_pack("{s:s}", "status",
                                                  "unavailable"));
    }
    json_object_set_new(j, "providers", providers_json(r, &all_open));
    if (all_open) {
        healthy = 0;
    }
    if (!healthy) {
        json_object_set_new(j, "status", json_string("degraded"));
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    return llmgw_send_doc(r, req, healthy ? HTTP_OK : HTTP_SERVICE_UNAVAILABLE,
                          j);
}
