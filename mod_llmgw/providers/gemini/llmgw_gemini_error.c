/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_error.c — Gemini (google.rpc) errors -> the
 * OpenAI error envelope, RetryInfo -> Retry-After.
 */
#include "llmgw_gemini_int.h"

/* "3s", "1.5s" -> whole seconds rounded up; -1 when unparseable. */
static long parse_duration(const char *s)
{
    long secs = 0;
    int frac = 0;

    if (s == NULL || !apr_isdigit(*s)) {
        return -1;
    }
    while (apr_isdigit(*s)) {
        if (secs > 86400L * 365) {
            return -1;
        }
        secs = secs * 10 + (*s++ - '0');
    }
    if (*s == '.') {
        s++;
        while (apr_isdigit(*s)) {
            frac |= (*s++ != '0');
        }
    }
    if (*s != 's' || s[1] != '\0') {
        return -1;
    }
    return secs + frac;
}

static int has_detail(const json_t *details, const char *type_suffix,
                      const char *key, const char *value, const json_t **out)
{
    size_t i;

    for (i = 0; i < json_array_size(details); i++) {
        const json_t *d = json_array_get(details, i);
        const char *t = gem_jstr(d, "@type");
        size_t tl = t ? strlen(t) : 0, sl = strlen(type_suffix);
        if (!t || tl < sl || strcmp(t + tl - sl, type_suffix)) {
            continue;
        }
        if (key == NULL
            || (gem_jstr(d, key) && !strcmp(gem_jstr(d, key), value))) {
            if (out) {
                *out = d;
            }
            return 1;
        }
    }
    return 0;
}

static const char *generic_message(int status)
{
    switch (status) {
    case 400: return "the provider rejected the request";
    case 401: return "the provider rejected the credentials";
    case 403: return "the provider denied permission";
    case 404: return "the provider does not know this model or resource";
    case 429: return "the provider's rate limit was reached";
    default:
        return status >= 500 ? "the provider failed to answer"
                             : "the provider returned an error";
    }
}

/* google.rpc error object (the value of "error") -> out. */
void gem_map_rpc_error(apr_pool_t *p, int http_status, const json_t *e,
                       llmgw_error_t *out)
{
    const char *status = gem_jstr(e, "status");
    const char *msg = gem_jstr(e, "message");
    const json_t *details = gem_jget(e, "details");
    apr_int64_t code = gem_jcount(e, "code");
    int hs = http_status >= 400 ? http_status
           : (code >= 400 && code < 600) ? (int)code : 500;
    const json_t *retry = NULL;

#define ST(s) (status && !strcmp(status, s))
    memset(out, 0, sizeof(*out));
    out->retry_after = -1;
    out->upstream_status = hs;
    out->code = status ? apr_pstrdup(p, status) : NULL;

    if (has_detail(details, "google.rpc.ErrorInfo", "reason",
                   "API_KEY_INVALID", NULL)
        || ST("UNAUTHENTICATED") || hs == 401) {
        out->status = 401;
        out->type = "authentication_error";
    }
    else if (ST("PERMISSION_DENIED") || hs == 403) {
        out->status = 403;
        out->type = "permission_error";
    }
    else if (ST("NOT_FOUND") || hs == 404) {
        out->status = 404;
        out->type = "invalid_request_error";
        if (msg == NULL || strstr(msg, "model")) {
            out->code = "model_not_found";
        }
    }
    else if (ST("RESOURCE_EXHAUSTED") || hs == 429) {
        out->status = 429;
        out->type = "rate_limit_error";
        if (has_detail(details, "google.rpc.RetryInfo", NULL, NULL, &retry)) {
            out->retry_after = parse_duration(gem_jstr(retry, "retryDelay"));
        }
    }
    else if (ST("INVALID_ARGUMENT") || ST("FAILED_PRECONDITION")
             || ST("OUT_OF_RANGE") || hs == 400) {
        out->status = 400;
        out->type = "invalid_request_error";
    }
    else if (hs >= 500 || hs == 499 || ST("CANCELLED") || ST("INTERNAL")
             || ST("UNAVAILABLE") || ST("DEADLINE_EXCEEDED")
             || ST("UNKNOWN")) {
        out->status = 502;
        out->type = "provider_error";
    }
    else {
        out->status = hs;
        out->type = llmgw_error_type_for_status(hs);
    }
#undef ST
    out->message = msg && *msg ? apr_pstrdup(p, msg) : generic_message(hs);
}

void gem_error(apr_pool_t *p, int http_status, const char *body,
               apr_size_t len, llmgw_error_t *out)
{
    json_t *j = body && len ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    const json_t *e = gem_jget(j, "error");

    /* Some proxies wrap the error in a one-element array. */
    if (e == NULL && json_is_array(j)) {
        e = gem_jget(json_array_get(j, 0), "error");
    }
    if (json_is_object(e)) {
        gem_map_rpc_error(p, http_status, e, out);
    }
    else {
        json_t *empty = json_object();
        gem_map_rpc_error(p, http_status, empty, out);
        json_decref(empty);
        if (json_is_string(e) && *json_string_value(e)) {
            out->message = apr_pstrdup(p, json_string_value(e));
        }
    }
    json_decref(j);
}
