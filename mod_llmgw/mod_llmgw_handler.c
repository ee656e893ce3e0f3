/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The `llmgw` handler: authenticate, read and parse the body once, route,
 * run the admission and cache hooks, then hand the request to llmgw_proxy
 * (mod_llmgw_exchange.c). */
#include <string.h>
#include "apr_strings.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_llmgw_private.h"
#include "llmgw_parse.h"
#include "llmgw_json_scan.h"

APLOG_USE_MODULE(llmgw);

/* ------------------------------------------------- reading the request */

LLMGW_OFF_STREAM_FRAME
static int read_body(request_rec *r, apr_off_t max, char **out,
                     apr_size_t *len)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_int64_t cl_n = cl ? apr_atoi64(cl) : 0;     /* read once */
    llmgw_buf_t b;
    char spare[64];
    long n;
    int rv;

    if (cl_n > max) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    if ((rv = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        return HTTP_BAD_REQUEST;
    }
    /* sized by Content-Length when known: one allocation, no regrowth. The
     * body is read straight into the buffer, not through a chunk on the
     * stack: a stream holds its thread for its whole life, and every stack
     * page touched once stays resident (README "Performance"). */
    llmgw_buf_init(&b, r->pool, cl_n > 0 ? (apr_size_t)cl_n : 0);
    if (ap_should_client_block(r)) {
        for (;;) {
            apr_size_t room;
            char *to;
            if (!b.cap) {
                llmgw_buf_reserve(&b, 8191);
            }
            room = b.cap - 1 - b.len;
            /* full (the Content-Length read): a small read to see the end */
            to = room ? b.data + b.len : spare;
            if (!room) {
                room = sizeof(spare);
            }
            if ((n = ap_get_client_block(r, to, room)) <= 0) {
                break;
            }
            if ((apr_off_t)(b.len + n) > max) {
                r->connection->keepalive = AP_CONN_CLOSE;
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
            if (to == spare) {
                llmgw_buf_append(&b, spare, (apr_size_t)n);
            }
            else {
                b.len += (apr_size_t)n;
                b.data[b.len] = '\0';
            }
        }
        if (n < 0) {
            return HTTP_BAD_REQUEST;
        }
    }
    *out = b.data ? b.data : "";
    *len = b.len;
    return OK;
}

/* application/json (+json, any charset), none at all, or curl -d's
 * form type (the body must still be JSON). */
LLMGW_OFF_STREAM_FRAME
static int content_type_ok(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_size_t n;
    if (!ct || !*ct) {
        return 1;
    }
    n = strcspn(ct, "; \t");
    return (n == 16 && !strncasecmp(ct, "application/json", 16))
        || (n > 5 && !strncasecmp(ct + n - 5, "+json", 5))
        || (n == 33 && !strncasecmp(ct, "application/x-www-form-urlencoded", 33));
}

/* ------------------------------------------------- the handler */

static const char *facts_header(void *baton, const char *name)
{
    return apr_table_get(((request_rec *)baton)->headers_in, name);
}

/* The routes to try: `model`, then every `models` entry (with `models`
 * alone its first entry is `model`). The `provider` field applies to
 * `model` only. A router name gives its matching rule's targets, an alias
 * of several targets its weighted pick then the others (the pick spread
 * by the request id, so that children and nodes share the load). An
 * unknown one is answered here (the caller returns). */
LLMGW_OFF_STREAM_FRAME
static int candidates(request_rec *r, llmgw_request_t *req,
                      const char *provider_field,
                      const llmgw_parsed_t *pq, apr_array_header_t **out)
{
    llmgw_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                 &llmgw_module);
    llmgw_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                              &llmgw_module);
    json_t *models = pq->models;
    apr_array_header_t *list = apr_array_make(r->pool, 2, sizeof(llmgw_route_t));
    llmgw_route_facts_t facts;
    llmgw_route_choice_t choice = { NULL, 0 };
    apr_uint64_t pick = llmgw_route_pick_of(req->id);
    const char *err, *code;
    int rv;
    size_t i, n = models ? json_array_size(models) : 0;

    facts.tools = pq->tools;
    facts.images = pq->images;
    facts.stream = req->stream;
    facts.json = pq->json;
    facts.prompt_tokens = req->prompt_estimate;
    facts.tier = req->tier;
    facts.header = facts_header;
    facts.baton = r;
    rv = llmgw_route_expand(r->pool, sc->routes, req->requested_model,
                            provider_field, dc->default_provider, &facts,
                            pick, list, &choice, &err, &code);
    if (rv) {
        return llmgw_error_reply(r, req, rv, code, "model", err), rv;
    }
    for (i = pq->model_from_models ? 1 : 0; i < n; i++) {
        const char *m = json_string_value(json_array_get(models, i));
        rv = llmgw_route_expand(r->pool, sc->routes, m, NULL,
                                dc->default_provider, &facts, pick, list,
                                &choice, &err, &code);
        if (rv) {
            return llmgw_error_reply(r, req, rv, code, "models", err), rv;
        }
    }
    if (choice.router) {
        req->router = choice.router->name;
        req->rule = choice.rule;
        req->rules_version = choice.router->version;
    }
    *out = list;
    return 0;
}

/* The routes that serve only their own providers: Gemini's format goes
 * to gemini providers, count_tokens to anthropic ones. Answers and
 * returns 0 otherwise. */
LLMGW_OFF_STREAM_FRAME
static int routes_speak_api(request_rec *r, llmgw_request_t *req,
                            apr_array_header_t *routes)
{
    int i;
    for (i = 0; i < routes->nelts; i++) {
        const llmgw_provider_t *pr = APR_ARRAY_IDX(routes, i,
                                                   llmgw_route_t).provider;
        const char *need = NULL;
        if (req->api == LLMGW_API_GEMINI && pr->type != LLMGW_PT_GEMINI) {
            need = "gemini";
        }
        else if (req->endpoint == LLMGW_EP_COUNT_TOKENS
                 && pr->type != LLMGW_PT_ANTHROPIC) {
            need = "anthropic";
        }
        if (need) {
            llmgw_error_reply(r, req, HTTP_BAD_REQUEST,
                              "unsupported_provider", "model",
                              apr_psprintf(r->pool, "%s is served by %s "
                                           "providers only; '%s' is not one",
                                           req->endpoint_name, need,
                                           pr->name));
            return 0;
        }
    }
    return 1;
}

static llmgw_endpoint_e check_method(request_rec *r, llmgw_endpoint_e ep)
{
    if (ep == LLMGW_EP_MODELS) {
        return r->method_number == M_GET ? ep : LLMGW_EP_UNKNOWN;
    }
    if (ep == LLMGW_EP_RESPONSE_ITEM) {
        return r->method_number == M_GET || r->method_number == M_DELETE
               ? ep : LLMGW_EP_UNKNOWN;
    }
    return r->method_number == M_POST ? ep : LLMGW_EP_UNKNOWN;
}

/* The request read as a jansson tree (req->raw_body), checked into pq;
 * non-zero when it was refused (answered). */
LLMGW_OFF_STREAM_FRAME
static int parse_tree(request_rec *r, llmgw_request_t *req,
                      llmgw_parsed_t *pq)
{
    json_error_t jerr;
    const char *err, *param;
    int rv;

    req->body = llmgw_pool_json(r->pool,
                                llmgw_json_loadb(req->raw_body, req->raw_len,
                                                 JSON_ALLOW_NUL, &jerr));
    if (!req->body) {
        llmgw_error_reply(r, req, HTTP_BAD_REQUEST, "invalid_json", NULL,
                          apr_psprintf(r->pool, "the request body is not "
                                       "valid JSON: %s at line %d column %d",
                                       jerr.text, jerr.line, jerr.column));
        return 1;
    }
    if ((rv = llmgw_parse_request(req->body, req->endpoint, req->raw_len, pq,
                                  &err, &param))) {
        llmgw_error_reply(r, req, rv, "invalid_request", param, err);
        return 1;
    }
    return 0;
}

int llmgw_handler(request_rec *r)
{
    llmgw_dir_conf *dc;
    llmgw_request_t *req;
    llmgw_parsed_t pq;
    apr_array_header_t *routes;
    char *raw = NULL;
    apr_size_t raw_len = 0;
    const char *provider_field = NULL;
    int rv, raw_unchanged, raw_clean;

    if (!r->handler || strcmp(r->handler, "llmgw")) {
        return DECLINED;
    }
    dc = ap_get_module_config(r->per_dir_config, &llmgw_module);
    req = llmgw_request_get(r);
    req->endpoint = llmgw_endpoint_from_path(r->uri, &req->endpoint_name);
    req->api = llmgw_api_of(dc, req->endpoint);

    rv = llmgw_run_authenticate(r, req);
    if (rv != OK && rv != DECLINED) {
        return OK;                  /* the hook answered (401) */
    }
    if (req->endpoint == LLMGW_EP_UNKNOWN) {
        return llmgw_error_reply(r, req, HTTP_NOT_FOUND, "unknown_route", NULL,
                           apr_psprintf(r->pool, "no route %s %s", r->method,
                                        ap_escape_html(r->pool, r->uri)));
    }
    if (check_method(r, req->endpoint) == LLMGW_EP_UNKNOWN) {
        return llmgw_error_reply(r, req, HTTP_METHOD_NOT_ALLOWED,
                           "method_not_allowed", NULL,
                           apr_psprintf(r->pool, "%s is not allowed on %s",
                                        r->method, req->endpoint_name));
    }
    if (req->endpoint == LLMGW_EP_MODELS) {
        return llmgw_list_models(r, req);
    }
    if (req->endpoint == LLMGW_EP_RESPONSE_ITEM) {
        return llmgw_response_item(r, req);
    }
    if (!content_type_ok(r)) {
        return llmgw_error_reply(r, req, HTTP_UNSUPPORTED_MEDIA_TYPE,
                           "unsupported_media_type", NULL,
                           "the request body must be application/json");
    }
    rv = read_body(r, llmgw_conf_max_body(dc), &raw, &raw_len);
    if (rv == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return llmgw_error_reply(r, req, rv, "request_too_large", NULL,
                           apr_psprintf(r->pool, "the request body is larger "
                                        "than %" APR_OFF_T_FMT " bytes",
                                        llmgw_conf_max_body(dc)));
    }
    if (rv != OK) {
        return llmgw_error_reply(r, req, HTTP_BAD_REQUEST, "invalid_body", NULL,
                           "the request body could not be read");
    }
    req->raw_body = raw;
    req->raw_len = raw_len;
    /* Plain requests are checked on their text; the rest (and every error,
     * for its wording) go through a jansson tree. */
    if (!llmgw_parse_request_text(r->pool, raw, raw_len, req->endpoint, &pq)
        && parse_tree(r, req, &pq)) {
        return OK;                  /* answered (400) */
    }
    llmgw_pool_json(r->pool, pq.models);
    if (req->api == LLMGW_API_GEMINI
        && !(pq.model = llmgw_gemini_model_from_path(r->pool, r->uri))) {
        return llmgw_error_reply(r, req, HTTP_NOT_FOUND, "unknown_route",
                                 NULL, "no model in the path");
    }
    req->requested_model = apr_pstrdup(r->pool, pq.model);
    req->stream = (pq.stream && (req->endpoint == LLMGW_EP_CHAT
                                 || req->endpoint == LLMGW_EP_MESSAGES
                                 || req->endpoint == LLMGW_EP_RESPONSES))
                  || req->endpoint == LLMGW_EP_GEMINI_STREAM;
    req->include_usage = pq.include_usage;
    req->max_tokens = pq.max_tokens;
    req->prompt_estimate = pq.prompt_estimate;
    if (pq.provider) {
        provider_field = apr_pstrdup(r->pool, pq.provider);
    }
    if (pq.provider_key) {
        req->provider_key = apr_pstrdup(r->pool, pq.provider_key);
    }
    if (pq.memory) {
        req->memory_asked = apr_pstrdup(r->pool, pq.memory);
    }
    if (pq.legacy_fields) {
        apr_table_setn(r->err_headers_out, "Deprecation", "true");
    }
    if (candidates(r, req, provider_field, &pq, &routes)
        || !routes_speak_api(r, req, routes)) {
        return OK;
    }
    req->provider = APR_ARRAY_IDX(routes, 0, llmgw_route_t).provider;
    req->model = APR_ARRAY_IDX(routes, 0, llmgw_route_t).model;
    req->routes = routes;
    raw_clean = !req->body || llmgw_strip_gateway_fields(req->body) == 0;
    raw_unchanged = raw_clean && !strcmp(req->model, req->requested_model);
    if (req->api != LLMGW_API_CHAT) {
        llmgw_inbound(req)->raw_clean = raw_clean;
        llmgw_inbound(req)->top = req->body ? NULL : pq.top;
        llmgw_inbound(req)->ctx.scan = llmgw_inbound(req)->top;
    }

    if (llmgw_memory_apply(r, req)) {
        return OK;                  /* answered (a bad memory header) */
    }
    rv = llmgw_run_admit(r, req);
    if (rv != OK && rv != DECLINED) {
        return OK;                  /* the hook answered */
    }
    if (req->body_changed) {
        raw_unchanged = 0;          /* the hook's tree goes upstream */
        if (req->inbound) {
            llmgw_inbound(req)->raw_clean = 0;
        }
    }
    if (req->api != LLMGW_API_CHAT && llmgw_inbound_prepare(r, req)) {
        return OK;                  /* answered (previous_response_id) */
    }
    if (llmgw_run_cache_lookup(r, req) == OK) {
        req->ttft = apr_time_now() - r->request_time;
        llmgw_run_completed(r, req);
        llmgw_memory_complete(r, req);
        return OK;
    }
    rv = llmgw_proxy(r, req, dc, raw, raw_len, raw_unchanged,
                     req->body ? NULL : pq.scan, routes);
    llmgw_run_completed(r, req);
    llmgw_memory_complete(r, req);
    /* the notes are set once, by the log_transaction hook (metrics) */
    return rv;
}
