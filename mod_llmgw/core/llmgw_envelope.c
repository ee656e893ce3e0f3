/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The SPEC error envelope, shared by every error the gateway produces. */
#include "llmgw_envelope.h"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *llmgw_envelope_json(const llmgw_error_t *e, const char *request_id)
{
    json_t *err = json_object();
    const char *type = e->type ? e->type : llmgw_error_type_for_status(e->status);

    json_object_set_new(err, "message",
                        json_string(e->message ? e->message : "error"));
    json_object_set_new(err, "type", json_string(type));
    json_object_set_new(err, "code", str_or_null(e->code));
    json_object_set_new(err, "param", str_or_null(e->param));
    json_object_set_new(err, "request_id", str_or_null(request_id));
    json_object_set_new(err, "provider", str_or_null(e->provider));
    json_object_set_new(err, "upstream_status",
                        e->upstream_status ? json_integer(e->upstream_status)
                                           : json_null());
    json_object_set_new(err, "retryable",
                        json_boolean(llmgw_error_retryable(e->status)));
    if (e->details) {
        json_object_set(err, "details", e->details);
    }
    return json_pack("{s:o}", "error", err);
}

const char *llmgw_error_type_for_status(int status)
{
    switch (status) {
    case 400: case 404: case 405: case 413: case 415: case 422:
        return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "insufficient_quota";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    case 502: return "provider_error";
    case 503: return "service_unavailable";
    case 504: return "timeout_error";
    default:
        return status >= 500 ? "internal_error" : "invalid_request_error";
    }
}

int llmgw_error_retryable(int status)
{
    return status == 408 || status == 409 || status == 429 || status >= 500;
}
