/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* What goes back to the client: gateway headers, request notes, JSON bodies
 * and the one error-envelope writer every module uses. */
#include <string.h>
#include "apr_strings.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_llmgw_private.h"
#include "llmgw_num.h"

APLOG_USE_MODULE(llmgw);

static apr_status_t json_cleanup(void *j)
{
    json_decref(j);
    return APR_SUCCESS;
}

json_t *llmgw_pool_json(apr_pool_t *p, json_t *j)
{
    if (j) {
        apr_pool_cleanup_register(p, j, json_cleanup, apr_pool_cleanup_null);
    }
    return j;
}

/* v in decimal, from p: what "%" APR_INT64_T_FMT gives, without the
 * formatter (a request writes several). */
static const char *i64_str(apr_pool_t *p, apr_int64_t v)
{
    char b[24], *e = b + sizeof(b), *o = e;
    apr_uint64_t u = v < 0 ? (apr_uint64_t)0 - (apr_uint64_t)v
                           : (apr_uint64_t)v;
    do {
        *--o = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        *--o = '-';
    }
    return apr_pstrmemdup(p, o, (apr_size_t)(e - o));
}

static void set_int_header(request_rec *r, const char *name, apr_int64_t v)
{
    if (v >= 0) {
        apr_table_setn(r->headers_out, name, i64_str(r->pool, v));
    }
}

void llmgw_set_notes(request_rec *r, llmgw_request_t *req)
{
    apr_table_t *n = r->notes;
    apr_table_setn(n, LLMGW_NOTE_REQUEST_ID, req->id);
    if (req->answered_provider) {
        apr_table_setn(n, LLMGW_NOTE_PROVIDER, req->answered_provider);
    }
    if (req->answered_model) {
        apr_table_setn(n, LLMGW_NOTE_MODEL, req->answered_model);
    }
    apr_table_setn(n, LLMGW_NOTE_STATUS, apr_itoa(r->pool, req->status));
    if (req->usage.prompt_tokens >= 0) {
        apr_table_setn(n, LLMGW_NOTE_TOKENS_IN,
                       i64_str(r->pool, req->usage.prompt_tokens));
    }
    if (req->usage.completion_tokens >= 0) {
        apr_table_setn(n, LLMGW_NOTE_TOKENS_OUT,
                       i64_str(r->pool, req->usage.completion_tokens));
    }
    if (req->upstream_latency > 0) {
        apr_table_setn(n, LLMGW_NOTE_UPSTREAM_MS,
                       i64_str(r->pool,
                               apr_time_as_msec(req->upstream_latency)));
    }
    if (req->cache_status) {
        apr_table_setn(n, LLMGW_NOTE_CACHE, req->cache_status);
    }
    if (req->workspace) {
        apr_table_setn(n, LLMGW_NOTE_WORKSPACE, req->workspace);
    }
    if (req->key_id) {
        apr_table_setn(n, LLMGW_NOTE_KEY, req->key_id);
    }
    if (req->cost_usd >= 0) {
        apr_table_setn(n, LLMGW_NOTE_COST, llmgw_num_pstr(r->pool,
                                                         req->cost_usd));
    }
    if (req->ttft > 0) {
        apr_table_setn(n, LLMGW_NOTE_TTFT_MS,
                       i64_str(r->pool, apr_time_as_msec(req->ttft)));
    }
}

/* A router chose the model (HPP's X-HPP-Router-*): which one, by which
 * rule of which version of the rules, for which tier; x-llmgw gets
 * `; rule=N`. */
static void set_router_headers(request_rec *r, llmgw_request_t *req)
{
    const char *x = apr_table_get(r->headers_out, "x-llmgw");
    const char *prov = req->answered_provider ? req->answered_provider
                       : req->provider ? req->provider->name : NULL;
    const char *model = req->answered_provider ? req->answered_model
                        : req->model;
    if (prov && model) {
        apr_table_setn(r->headers_out, "x-llmgw-resolved-model",
                       apr_pstrcat(r->pool, prov, "/", model, NULL));
    }
    apr_table_setn(r->headers_out, "x-llmgw-rule", apr_itoa(r->pool,
                                                            req->rule));
    apr_table_setn(r->headers_out, "x-llmgw-rules-version",
                   req->rules_version);
    if (req->tier) {
        apr_table_setn(r->headers_out, "x-llmgw-tier", req->tier);
    }
    if (x) {
        apr_table_setn(r->headers_out, "x-llmgw",
                       apr_psprintf(r->pool, "%s; rule=%d", x, req->rule));
    }
}

/* Every gateway response carries these, set just before the status line
 * goes out so the satellites' response_headers hooks see the outcome. */
void llmgw_set_gateway_headers(request_rec *r, llmgw_request_t *req)
{
    apr_table_setn(r->headers_out, "x-request-id", req->id);
    if (req->answered_provider) {
        apr_table_setn(r->headers_out, "x-provider", req->answered_provider);
        apr_table_setn(r->headers_out, "x-llmgw",
                       apr_pstrcat(r->pool, "route=", req->answered_provider,
                                   ":", req->answered_model
                                        ? req->answered_model : "",
                                   /* what this location's cache does:
                                    * a cache that is on looked it up */
                                   "; cache=", req->cache_kind
                                   ? req->cache_kind
                                   : req->cache_status ? "exact" : "none",
                                   "; attempts=",
                                   apr_itoa(r->pool, req->attempts),
                                   req->memory_mode ? "; mem=" : "",
                                   req->memory_mode ? req->memory_mode : "",
                                   NULL));
    }
    if (req->router) {
        set_router_headers(r, req);
    }
    if (!req->stream || req->cache_hit) {
        set_int_header(r, "x-tokens-prompt", req->usage.prompt_tokens);
        set_int_header(r, "x-tokens-completion", req->usage.completion_tokens);
    }
    if (req->cost_usd >= 0) {
        apr_table_setn(r->headers_out, "x-cost",
                       llmgw_num_pstr(r->pool, req->cost_usd));
    }
    llmgw_run_response_headers(r, req);
}

int llmgw_send_json(request_rec *r, llmgw_request_t *req, int status,
                    const char *body, apr_size_t len)
{
    return llmgw_send_body(r, req, status, "application/json", body, len);
}

int llmgw_send_doc(request_rec *r, llmgw_request_t *req, int status,
                   json_t *doc)
{
    char *txt = doc ? llmgw_json_dumps(doc, JSON_COMPACT) : NULL;
    char *body;

    json_decref(doc);
    if (!txt) {
        return llmgw_error_reply(r, req, HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", NULL,
                                 "the answer could not be serialised");
    }
    body = apr_pstrdup(r->pool, txt);
    free(txt);
    return llmgw_send_json(r, req, status, body, strlen(body));
}

int llmgw_send_body(request_rec *r, llmgw_request_t *req, int status,
                    const char *content_type, const char *body,
                    apr_size_t len)
{
    r->status = status;
    req->status = status;
    ap_set_content_type(r, content_type);
    if (!strncmp(content_type, "text/event-stream", 17)) {
        apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
        apr_table_setn(r->subprocess_env, "no-gzip", "1");
    }
    llmgw_set_gateway_headers(r, req);
    ap_set_content_length(r, len);
    if (r->header_only) {
        return OK;
    }
    ap_rwrite(body, (int)len, r);
    return OK;
}

int llmgw_send_error_req(request_rec *r, llmgw_request_t *req,
                         const llmgw_error_t *e)
{
    /* in the shape of the API the client speaks (Anthropic's on
     * messages, Google's on Gemini's routes...), same status */
    json_t *env = llmgw_client_api(req->api)->error_body(e, req->id);
    char *txt = llmgw_json_dumps(env, JSON_COMPACT);
    apr_size_t len = strlen(txt);
    char *body = apr_pstrmemdup(r->pool, txt, len);

    free(txt);
    json_decref(env);
    if (e->retry_after >= 0) {
        apr_table_setn(r->headers_out, "retry-after",
                       apr_ltoa(r->pool, e->retry_after));
    }
    if (e->status == HTTP_METHOD_NOT_ALLOWED) {
        apr_table_setn(r->headers_out, "Allow",
                       req->endpoint == LLMGW_EP_MODELS ? "GET"
                       : req->endpoint == LLMGW_EP_RESPONSE_ITEM
                       ? "GET, DELETE" : "POST");
    }
    /* An error is never a partial success: drop success-only headers. */
    apr_table_unset(r->headers_out, "x-tokens-prompt");
    apr_table_unset(r->headers_out, "x-tokens-completion");
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  "llmgw: %d %s (%s) request_id=%s provider=%s upstream=%d",
                  e->status, e->type ? e->type : "-", e->message ? e->message : "-",
                  req->id, e->provider ? e->provider : "-", e->upstream_status);
    return llmgw_send_json(r, req, e->status, body, len);
}

int llmgw_send_error(request_rec *r, int status, const char *type,
                     const char *code, const char *message,
                     long retry_after, json_t *details)
{
    llmgw_error_t e = { 0 };
    e.status = status;
    e.type = type;
    e.code = code;
    e.message = message;
    e.retry_after = retry_after;
    e.details = details;
    llmgw_send_error_req(r, llmgw_request_get(r), &e);
    return status;
}

int llmgw_error_reply(request_rec *r, llmgw_request_t *req, int status,
                       const char *code, const char *param, const char *msg)
{
    llmgw_error_t e = { 0 };
    e.status = status;
    e.code = code;
    e.param = param;
    e.message = msg;
    e.retry_after = -1;
    return llmgw_send_error_req(r, req, &e);
}
