/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_embeddings.c — OpenAI embeddings <-> Gemini
 * batchEmbedContents.
 */
#include "llmgw_gemini_int.h"

json_t *gem_embeddings_request(apr_pool_t *p, const json_t *req,
                               const llmgw_xlate_ctx_t *x,
                               const char **err)
{
    const json_t *input = gem_jget(req, "input");
    const json_t *dims = gem_jget(req, "dimensions");
    const char *model = gem_bare_model(gem_ctx_model(x));
    json_t *reqs, *one;
    size_t i, n;

    if (err) {
        *err = NULL;
    }
    if (!json_is_object(req)) {
        if (err) {
            *err = "request body must be a JSON object";
        }
        return NULL;
    }
    if (dims && !json_is_null(dims)
        && (!json_is_integer(dims) || json_integer_value(dims) < 1)) {
        if (err) {
            *err = "'dimensions' must be a positive integer";
        }
        return NULL;
    }
    if (gem_jget(req, "encoding_format")
        && !json_is_null(gem_jget(req, "encoding_format"))
        && (!gem_jstr(req, "encoding_format")
            || (strcmp(gem_jstr(req, "encoding_format"), "float")
                && strcmp(gem_jstr(req, "encoding_format"), "base64")))) {
        if (err) {
            *err = "'encoding_format' must be \"float\" or \"base64\"";
        }
        return NULL;
    }
    n = json_is_string(input) ? 1 : json_array_size(input);
    if (n == 0) {
        if (err) {
            *err = "'input' must be a string or a non-empty array of strings";
        }
        return NULL;
    }
    model = apr_pstrcat(p, "models/", model, NULL);
    reqs = json_array();
    for (i = 0; i < n; i++) {
        const json_t *t = json_is_string(input) ? input
                                                : json_array_get(input, i);
        if (!json_is_string(t)) {
            json_decref(reqs);
            if (err) {
                *err = "'input' must be a string or an array of strings "
                       "(token arrays are not supported by gemini)";
            }
            return NULL;
        }
        one = json_pack("{s:s,s:{s:[{s:O}]}}", "model", model, "content",
                        "parts", "text", t);
        if (json_is_integer(dims)) {
            json_object_set(one, "outputDimensionality", (json_t *)dims);
        }
        json_array_append_new(reqs, one);
    }
    return json_pack("{s:o}", "requests", reqs);
}

json_t *gem_embeddings_response(apr_pool_t *p, const json_t *native,
                                const llmgw_xlate_ctx_t *x,
                                llmgw_usage_t *usage)
{
    const json_t *embs = gem_jget(native, "embeddings");
    const json_t *single = gem_jget(native, "embedding");
    const json_t *meta = gem_jget(native, "usageMetadata");
    apr_int64_t prompt = gem_jcount(meta, "promptTokenCount");
    apr_int64_t total = gem_jcount(meta, "totalTokenCount");
    json_t *data = json_array();
    size_t i, n = json_is_array(embs) ? json_array_size(embs)
                                      : (single ? 1 : 0);

    (void)p;
    for (i = 0; i < n; i++) {
        const json_t *e = json_is_array(embs) ? json_array_get(embs, i)
                                              : single;
        const json_t *values = gem_jget(e, "values");
        json_t *vals = json_is_array(values)
                       ? json_incref((json_t *)values) : json_array();
        json_array_append_new(data, json_pack("{s:s,s:i,s:o}",
            "object", "embedding", "index", (int)i, "embedding", vals));
    }
    if (prompt < 0) {
        prompt = 0;
    }
    if (total < 0) {
        total = prompt;
    }
    if (usage) {
        usage->prompt_tokens = prompt;
        usage->completion_tokens = 0;
        usage->total_tokens = total;
    }
    return json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list",
                     "data", data, "model", gem_ctx_model(x), "usage",
                     "prompt_tokens", (json_int_t)prompt,
                     "total_tokens", (json_int_t)total);
}
