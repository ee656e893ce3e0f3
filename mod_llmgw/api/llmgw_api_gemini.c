/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Gemini's own format (models/{model}:generateContent) is only relayed to
 * `gemini` providers: its adapter is the error shape of Google's APIs
 * (google.rpc.Status, which the Google SDKs read) and the cache's framing
 * conversion. */
#include <string.h>
#include <apr_strings.h>
#include "llmgw_client_api.h"
#include "llmgw_num.h"

/* The google.rpc.Code name of an HTTP status. */
static const char *rpc_status(int status)
{
    switch (status) {
    case 400: case 413: case 415: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 402: case 429: return "RESOURCE_EXHAUSTED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 405: return "UNIMPLEMENTED";
    case 409: return "ALREADY_EXISTS";
    case 499: return "CANCELLED";
    case 502: case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    }
    return "INTERNAL";
}

/* {"error":{"code":STATUS,"message","status":"RESOURCE_EXHAUSTED",
 *  "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",
 *  "reason":CODE,"domain":"llmgw","metadata":{"request_id":...}}]}} */
static json_t *gemini_error(const llmgw_error_t *e, const char *request_id)
{
    return json_pack("{s:{s:i,s:s,s:s,s:[{s:s,s:s,s:s,s:{s:s?,s:s?}}]}}",
                     "error", "code", e->status,
                     "message", e->message ? e->message : "",
                     "status", rpc_status(e->status),
                     "details",
                       "@type", "type.googleapis.com/google.rpc.ErrorInfo",
                       "reason", e->code ? e->code : (e->type ? e->type
                                                      : "error"),
                       "domain", "llmgw",
                       "metadata", "request_id", request_id,
                                   "provider", e->provider);
}

/* A mid-stream error: Gemini's streams carry the Status as a data event. */
struct llmgw_api_stream {
    const llmgw_api_ctx_t *c;
};

static int gemini_stream_error(llmgw_api_stream_t *s, const llmgw_error_t *e,
                               llmgw_event_emit_fn emit, void *baton)
{
    return llmgw_api_emit_json(NULL, gemini_error(e, s->c->request_id),
                               emit, baton);
}

static llmgw_api_stream_t *gemini_stream_new(apr_pool_t *p,
                                             const llmgw_api_ctx_t *c)
{
    llmgw_api_stream_t *s = apr_pcalloc(p, sizeof(*s));
    s->c = c;
    return s;
}

/* A generateContent answer is itself a valid one-event stream. */
static int gemini_expand(apr_pool_t *p, const char *json, apr_size_t len,
                         const char **out, apr_size_t *out_len)
{
    char *o = apr_palloc(p, len + 10);
    memcpy(o, "data: ", 6);
    memcpy(o + 6, json, len);
    memcpy(o + 6 + len, "\r\n\r\n", 4);
    *out = o;
    *out_len = len + 10;
    return 0;
}

const llmgw_client_api_t llmgw_api_gemini = {
    LLMGW_API_GEMINI, "generateContent",
    NULL, NULL, NULL,
    gemini_stream_new, NULL, NULL, gemini_stream_error, NULL,
    gemini_error,
    NULL, gemini_expand
};
