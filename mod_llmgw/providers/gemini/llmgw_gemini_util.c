/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_util.c — small helpers the Gemini translator
 * files share (JSON access, ids, model names, candidate parts, usage).
 */
#include "llmgw_gemini_int.h"

const char *gem_jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const json_t *gem_jget(const json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

/* An integer member, or -1 when absent or not a non-negative integer. */
apr_int64_t gem_jcount(const json_t *obj, const char *key)
{
    const json_t *v = gem_jget(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return -1;
    }
    return (apr_int64_t)json_integer_value(v);
}

const char *gem_ctx_id(const llmgw_xlate_ctx_t *x)
{
    return x && x->id ? x->id : "chatcmpl-gemini";
}

const char *gem_ctx_model(const llmgw_xlate_ctx_t *x)
{
    return x && x->model ? x->model : "";
}

/* Unique tool-call id: "call_" + the completion id's suffix + choice + K. */
static const char *gem_call_id(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                               int choice, int k)
{
    const char *id = gem_ctx_id(x);
    if (!strncmp(id, "chatcmpl-", 9)) {
        id += 9;
    }
    return apr_psprintf(p, "call_%s_%d_%d", id, choice, k);
}

/* The model name without a leading "models/". */
const char *gem_bare_model(const char *m)
{
    if (m && !strncmp(m, "models/", 7)) {
        return m + 7;
    }
    return m;
}

/* Percent-encodes everything outside [A-Za-z0-9._-]. */
const char *gem_encode_model(apr_pool_t *p, const char *m)
{
    static const char hex[] = "0123456789ABCDEF";
    apr_size_t n = strlen(m), i;
    char *out = apr_palloc(p, n * 3 + 1), *o = out;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)m[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-') {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* Gemini finishReason -> OpenAI finish_reason (before the tool rule). */
const char *gem_map_finish(const char *r)
{
    static const char *const filtered[] = {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
        "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", NULL
    };
    int i;

    if (r == NULL) {
        return NULL;
    }
    if (!strcmp(r, "MAX_TOKENS")) {
        return "length";
    }
    for (i = 0; filtered[i]; i++) {
        if (!strcmp(r, filtered[i])) {
            return "content_filter";
        }
    }
    return "stop";
}

/* Non-thought text parts of a candidate, concatenated (NUL-safe). */
json_t *gem_candidate_text(const json_t *parts)
{
    apr_size_t total = 0, i, off = 0;
    char *buf;
    json_t *out;

    if (!json_is_array(parts)) {
        return NULL;
    }
    for (i = 0; i < json_array_size(parts); i++) {
        const json_t *part = json_array_get(parts, i);
        const json_t *t = gem_jget(part, "text");
        if (json_is_string(t) && !json_is_true(gem_jget(part, "thought"))) {
            total += json_string_length(t);
        }
    }
    if (total == 0) {
        return NULL;
    }
    buf = malloc(total);
    if (buf == NULL) {
        return NULL;
    }
    for (i = 0; i < json_array_size(parts); i++) {
        const json_t *part = json_array_get(parts, i);
        const json_t *t = gem_jget(part, "text");
        if (json_is_string(t) && !json_is_true(gem_jget(part, "thought"))) {
            memcpy(buf + off, json_string_value(t), json_string_length(t));
            off += json_string_length(t);
        }
    }
    out = json_stringn_nocheck(buf, total);
    free(buf);
    return out;
}

/* Thought parts of a candidate (includeThoughts), concatenated: the
 * reasoning_content of the message or delta. NULL when none. */
json_t *gem_candidate_thoughts(const json_t *parts)
{
    size_t i;
    char *acc = NULL;
    json_t *out;

    for (i = 0; i < json_array_size(parts); i++) {
        const json_t *part = json_array_get(parts, i);
        const char *t = gem_jstr(part, "text");
        if (t && *t && json_is_true(gem_jget(part, "thought"))) {
            char *n = acc ? malloc(strlen(acc) + strlen(t) + 1)
                          : malloc(strlen(t) + 1);
            if (n == NULL) {
                free(acc);
                return NULL;
            }
            strcpy(n, acc ? acc : "");
            strcat(n, t);
            free(acc);
            acc = n;
        }
    }
    if (acc == NULL) {
        return NULL;
    }
    out = json_string(acc);
    free(acc);
    return out;
}

/* logprobsResult -> OpenAI choice logprobs {content:[{token, logprob,
 * bytes, top_logprobs}], refusal}; NULL when absent. */
json_t *gem_logprobs_json(const json_t *lr)
{
    const json_t *chosen = gem_jget(lr, "chosenCandidates");
    const json_t *top = gem_jget(lr, "topCandidates");
    json_t *content;
    size_t i;

    if (!json_is_array(chosen)) {
        return NULL;
    }
    content = json_array();
    for (i = 0; i < json_array_size(chosen); i++) {
        const json_t *c = json_array_get(chosen, i);
        const json_t *alts = gem_jget(json_array_get(top, i), "candidates");
        const json_t *lpv = gem_jget(c, "logProbability");
        json_t *tops = json_array();
        size_t k;

        for (k = 0; k < json_array_size(alts); k++) {
            const json_t *a = json_array_get(alts, k);
            const json_t *alp = gem_jget(a, "logProbability");
            json_array_append_new(tops, json_pack("{s:s,s:f,s:n}",
                "token", gem_jstr(a, "token") ? gem_jstr(a, "token") : "",
                "logprob", json_is_number(alp) ? json_number_value(alp) : 0.0,
                "bytes"));
        }
        json_array_append_new(content, json_pack("{s:s,s:f,s:n,s:o}",
            "token", gem_jstr(c, "token") ? gem_jstr(c, "token") : "",
            "logprob", json_is_number(lpv) ? json_number_value(lpv) : 0.0,
            "bytes", "top_logprobs", tops));
    }
    return json_pack("{s:o,s:n}", "content", content, "refusal");
}

/* An OpenAI tool call for a functionCall part. */
json_t *gem_tool_call_json(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                           const json_t *part, int choice, int k,
                           int with_index)
{
    const json_t *fc = gem_jget(part, "functionCall");
    const json_t *args = gem_jget(fc, "args");
    const char *name = gem_jstr(fc, "name");
    const char *sig = gem_jstr(part, "thoughtSignature");
    char *argstr = NULL;
    json_t *call = json_object(), *fn = json_object();

    if (json_is_object(args) || json_is_array(args)) {
        argstr = llmgw_json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    if (with_index) {
        json_object_set_new(call, "index", json_integer(k));
    }
    json_object_set_new(call, "id", json_string(gem_call_id(p, x, choice, k)));
    json_object_set_new(call, "type", json_string("function"));
    json_object_set_new(fn, "name", json_string(name ? name : ""));
    json_object_set_new(fn, "arguments", json_string(argstr ? argstr : "{}"));
    free(argstr);
    json_object_set_new(call, "function", fn);
    if (sig) {
        json_object_set_new(call, "extra_content",
                            json_pack("{s:{s:s}}", "google",
                                      "thought_signature", sig));
    }
    return call;
}

/* OpenAI usage from a usageMetadata object; fills u. NULL when absent. */
json_t *gem_usage_from_meta(const json_t *m, llmgw_usage_t *u)
{
    apr_int64_t prompt, cand, thoughts, tool, total, cached;
    json_t *usage;

    if (!json_is_object(m)) {
        return NULL;
    }
    prompt = gem_jcount(m, "promptTokenCount");
    cand = gem_jcount(m, "candidatesTokenCount");
    thoughts = gem_jcount(m, "thoughtsTokenCount");
    tool = gem_jcount(m, "toolUsePromptTokenCount");
    total = gem_jcount(m, "totalTokenCount");
    cached = gem_jcount(m, "cachedContentTokenCount");

    /* Tool-use prompts (code execution, search) are billed as input. */
    prompt = (prompt < 0 ? 0 : prompt) + (tool < 0 ? 0 : tool);
    cand = (cand < 0 ? 0 : cand) + (thoughts < 0 ? 0 : thoughts);
    if (total < 0) {
        total = prompt + cand;
    }
    if (u) {
        u->prompt_tokens = prompt;
        u->completion_tokens = cand;
        u->total_tokens = total;
        u->cached_tokens = cached;
    }
    usage = json_object();
    json_object_set_new(usage, "prompt_tokens", json_integer(prompt));
    json_object_set_new(usage, "completion_tokens", json_integer(cand));
    json_object_set_new(usage, "total_tokens", json_integer(total));
    if (cached >= 0) {
        json_object_set_new(usage, "prompt_tokens_details",
                            json_pack("{s:I}", "cached_tokens",
                                      (json_int_t)cached));
    }
    if (thoughts >= 0) {
        json_object_set_new(usage, "completion_tokens_details",
                            json_pack("{s:I}", "reasoning_tokens",
                                      (json_int_t)thoughts));
    }
    return usage;
}
