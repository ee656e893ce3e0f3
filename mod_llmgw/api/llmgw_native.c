/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Reading relayed answers of the clients' own APIs: usage and terminal
 * events (llmgw_native.h). Events are small: each is parsed on its own. */
#include <string.h>
#include <apr_strings.h>
#include "llmgw_native.h"
#include "llmgw_parse.h"
#include "llmgw_json_scan.h"

struct llmgw_native_watch {
    apr_pool_t *p;
    llmgw_api_e api;
    llmgw_usage_t usage;
    const char *error;
};

llmgw_native_watch_t *llmgw_native_watch_new(apr_pool_t *p, llmgw_api_e api)
{
    llmgw_native_watch_t *w = apr_pcalloc(p, sizeof(*w));
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    w->p = p;
    w->api = api;
    w->usage = u;
    return w;
}

static void take_int(const json_t *o, const char *k, apr_int64_t *out)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
    }
}

static void total(llmgw_usage_t *u)
{
    if (u->prompt_tokens >= 0 && u->completion_tokens >= 0) {
        u->total_tokens = u->prompt_tokens + u->completion_tokens;
    }
}

/* Anthropic `usage`: input_tokens, output_tokens, cache reads and writes.
 * message_start carries the input, message_delta the final output. */
static void anthropic_usage(const json_t *usage, llmgw_usage_t *u)
{
    if (!json_is_object(usage)) {
        return;
    }
    take_int(usage, "input_tokens", &u->prompt_tokens);
    take_int(usage, "output_tokens", &u->completion_tokens);
    take_int(usage, "cache_read_input_tokens", &u->cached_tokens);
    take_int(usage, "cache_creation_input_tokens", &u->cache_write_tokens);
    total(u);
}

/* Responses `usage`: input_tokens, output_tokens, total_tokens,
 * input_tokens_details.cached_tokens. */
static void responses_usage(const json_t *usage, llmgw_usage_t *u)
{
    if (!json_is_object(usage)) {
        return;
    }
    take_int(usage, "input_tokens", &u->prompt_tokens);
    take_int(usage, "output_tokens", &u->completion_tokens);
    take_int(usage, "total_tokens", &u->total_tokens);
    take_int(json_object_get(usage, "input_tokens_details"), "cached_tokens",
             &u->cached_tokens);
    if (u->total_tokens < 0) {
        total(u);
    }
}

/* Gemini `usageMetadata`: thoughts are billed as output. */
static void gemini_usage(const json_t *md, llmgw_usage_t *u)
{
    apr_int64_t thoughts = -1;
    if (!json_is_object(md)) {
        return;
    }
    take_int(md, "promptTokenCount", &u->prompt_tokens);
    take_int(md, "candidatesTokenCount", &u->completion_tokens);
    take_int(md, "thoughtsTokenCount", &thoughts);
    take_int(md, "cachedContentTokenCount", &u->cached_tokens);
    take_int(md, "totalTokenCount", &u->total_tokens);
    if (thoughts > 0) {
        u->completion_tokens = (u->completion_tokens > 0
                                ? u->completion_tokens : 0) + thoughts;
    }
    if (u->completion_tokens < 0 && u->prompt_tokens >= 0) {
        u->completion_tokens = 0;
    }
    if (u->total_tokens < 0) {
        total(u);
    }
}

static const char *error_message(apr_pool_t *p, const json_t *err)
{
    const char *m = json_string_value(json_object_get(err, "message"));
    return apr_pstrdup(p, m ? m : "the provider reported an error");
}

static int watch_messages(llmgw_native_watch_t *w, const char *type,
                          const json_t *j)
{
    if (!strcmp(type, "message_start")) {
        anthropic_usage(json_object_get(json_object_get(j, "message"),
                                        "usage"), &w->usage);
    }
    else if (!strcmp(type, "message_delta")) {
        anthropic_usage(json_object_get(j, "usage"), &w->usage);
    }
    else if (!strcmp(type, "message_stop")) {
        return LLMGW_NATIVE_END;
    }
    else if (!strcmp(type, "error")) {
        w->error = error_message(w->p, json_object_get(j, "error"));
        return LLMGW_NATIVE_ERROR;
    }
    return LLMGW_NATIVE_CONTINUE;
}

static int watch_responses(llmgw_native_watch_t *w, const char *type,
                           const json_t *j)
{
    const json_t *resp = json_object_get(j, "response");
    if (!strcmp(type, "response.completed")
        || !strcmp(type, "response.incomplete")) {
        responses_usage(json_object_get(resp, "usage"), &w->usage);
        return LLMGW_NATIVE_END;
    }
    if (!strcmp(type, "response.failed")) {
        w->error = error_message(w->p, json_object_get(resp, "error"));
        return LLMGW_NATIVE_ERROR;
    }
    if (!strcmp(type, "error")) {
        w->error = error_message(w->p, j);
        return LLMGW_NATIVE_ERROR;
    }
    return LLMGW_NATIVE_CONTINUE;
}

/* A Gemini stream ends with a chunk whose candidate has a finishReason, or
 * with a prompt blocked (promptFeedback.blockReason). */
static int watch_gemini(llmgw_native_watch_t *w, const json_t *j)
{
    const json_t *c;
    size_t i;
    gemini_usage(json_object_get(j, "usageMetadata"), &w->usage);
    if (json_is_object(json_object_get(j, "error"))) {
        w->error = error_message(w->p, json_object_get(j, "error"));
        return LLMGW_NATIVE_ERROR;
    }
    json_array_foreach(json_object_get(j, "candidates"), i, c) {
        if (json_is_string(json_object_get(c, "finishReason"))) {
            return LLMGW_NATIVE_END;
        }
    }
    if (json_is_string(json_object_get(json_object_get(j, "promptFeedback"),
                                       "blockReason"))) {
        return LLMGW_NATIVE_END;
    }
    return LLMGW_NATIVE_CONTINUE;
}

int llmgw_native_watch_event(llmgw_native_watch_t *w, const char *event,
                             const char *data, apr_size_t len)
{
    json_t *j;
    const char *type;
    int rv = LLMGW_NATIVE_CONTINUE;

    j = llmgw_json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return LLMGW_NATIVE_CONTINUE;   /* relayed; the end decides */
    }
    type = json_string_value(json_object_get(j, "type"));
    if (!type) {
        type = event ? event : "";
    }
    switch (w->api) {
    case LLMGW_API_MESSAGES:  rv = watch_messages(w, type, j); break;
    case LLMGW_API_RESPONSES: rv = watch_responses(w, type, j); break;
    case LLMGW_API_GEMINI:    rv = watch_gemini(w, j); break;
    default: break;
    }
    json_decref(j);
    return rv;
}

void llmgw_native_watch_usage(const llmgw_native_watch_t *w,
                              llmgw_usage_t *usage)
{
    if (w->usage.prompt_tokens >= 0 || w->usage.completion_tokens >= 0) {
        *usage = w->usage;
    }
}

const char *llmgw_native_watch_error(const llmgw_native_watch_t *w)
{
    return w->error;
}

int llmgw_native_answer_usage(llmgw_api_e api, const char *body,
                              apr_size_t len, llmgw_usage_t *usage)
{
    /* only the usage object is parsed: it comes last, the answer can be
     * megabytes */
    const char *name = api == LLMGW_API_GEMINI ? "usageMetadata" : "usage";
    const char *obj;
    apr_size_t olen;
    json_t *j;
    llmgw_usage_t u = LLMGW_USAGE_INIT;

    if (!llmgw_last_member_object(body, len, name, &obj, &olen)
        || !(j = llmgw_json_loadb(obj, olen, JSON_ALLOW_NUL, NULL))) {
        return 0;
    }
    switch (api) {
    case LLMGW_API_MESSAGES:
        anthropic_usage(j, &u);
        break;
    case LLMGW_API_RESPONSES:
        responses_usage(j, &u);
        break;
    case LLMGW_API_GEMINI:
        gemini_usage(j, &u);
        break;
    default:
        break;
    }
    json_decref(j);
    if (u.prompt_tokens < 0 && u.completion_tokens < 0) {
        return 0;
    }
    *usage = u;
    return 1;
}
