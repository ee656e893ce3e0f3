/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_response.c — the Gemini answer reader: a
 * generateContent answer -> chat.completion.
 */
#include "llmgw_gemini_int.h"

/* The candidate's choice index (its `index`, else its position); -1 for
 * one beyond GEMINI_MAX_CHOICES, which is skipped. */
int gem_candidate_index(const json_t *cand, size_t pos)
{
    const json_t *v = gem_jget(cand, "index");
    if (json_is_integer(v) && json_integer_value(v) >= 0
        && json_integer_value(v) < GEMINI_MAX_CHOICES) {
        return (int)json_integer_value(v);
    }
    return pos < GEMINI_MAX_CHOICES ? (int)pos : -1;
}

json_t *gem_chat_response(apr_pool_t *p, const json_t *native,
                          const llmgw_xlate_ctx_t *x,
                          llmgw_usage_t *usage)
{
    const json_t *cands = gem_jget(native, "candidates");
    json_t *resp, *choices, *u;
    size_t i;

    if (!cands && !gem_jget(native, "promptFeedback")
        && !gem_jget(native, "usageMetadata")) {
        return NULL;            /* not a GenerateContentResponse */
    }
    resp = json_object();
    json_object_set_new(resp, "id", json_string(gem_ctx_id(x)));
    json_object_set_new(resp, "object", json_string("chat.completion"));
    json_object_set_new(resp, "created",
                        json_integer(x ? (json_int_t)x->created : 0));
    json_object_set_new(resp, "model", json_string(gem_ctx_model(x)));
    choices = json_array();

    for (i = 0; i < json_array_size(cands); i++) {
        const json_t *cand = json_array_get(cands, i);
        const json_t *parts = gem_jget(gem_jget(cand, "content"), "parts");
        int idx = gem_candidate_index(cand, i);
        json_t *text, *calls, *msg;
        size_t k;

        if (idx < 0) {
            continue;
        }
        text = gem_candidate_text(parts);
        calls = json_array();

        for (k = 0; k < json_array_size(parts); k++) {
            const json_t *part = json_array_get(parts, k);
            if (json_is_object(gem_jget(part, "functionCall"))) {
                json_array_append_new(calls,
                    gem_tool_call_json(p, x, part, idx,
                                       (int)json_array_size(calls), 0));
            }
        }
        msg = json_object();
        json_object_set_new(msg, "role", json_string("assistant"));
        if (text) {
            json_object_set_new(msg, "content", text);
        }
        else {
            json_object_set_new(msg, "content", json_array_size(calls)
                                ? json_null() : json_string(""));
        }
        json_object_set_new(msg, "refusal", json_null());
        {
            json_t *th = gem_candidate_thoughts(parts);
            if (th) {
                json_object_set_new(msg, "reasoning_content", th);
            }
        }
        if (json_array_size(calls)) {
            json_object_set_new(msg, "tool_calls", calls);
        }
        else {
            json_decref(calls);
        }
        {
            json_t *lp = gem_logprobs_json(gem_jget(cand, "logprobsResult"));
            json_array_append_new(choices, json_pack("{s:i,s:o,s:o,s:s}",
                "index", idx, "message", msg,
                "logprobs", lp ? lp : json_null(),
                "finish_reason",
                llmgw_finish_reason(
                    gem_map_finish(gem_jstr(cand, "finishReason")),
                    json_object_get(msg, "tool_calls") != NULL)));
        }
    }
    if (json_array_size(choices) == 0) {
        /* No candidate: a blocked prompt, or nothing generated. */
        const char *block = gem_jstr(gem_jget(native, "promptFeedback"),
                                     "blockReason");
        json_array_append_new(choices, json_pack(
            "{s:i,s:{s:s,s:s,s:n},s:n,s:s}", "index", 0,
            "message", "role", "assistant", "content", "", "refusal",
            "logprobs", "finish_reason", block ? "content_filter" : "stop"));
    }
    json_object_set_new(resp, "choices", choices);
    u = gem_usage_from_meta(gem_jget(native, "usageMetadata"), usage);
    if (u) {
        json_object_set_new(resp, "usage", u);
    }
    return resp;
}
