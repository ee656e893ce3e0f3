/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The reference for the Responses adapter's answer writer
 * (mod_llmgw/api/llmgw_api_responses.c writes the response object from the
 * chat.completion's text): the tree converter it replaced (the output
 * builder fed with the answer's tree, the built response serialised), kept
 * for the tests only. test_api_responses.c checks that both give the same
 * response (as JSON documents) or both refuse, over the unit tests'
 * answers, the recorded ones and edge cases. Not built into any module. */
#include <string.h>
#include <apr_strings.h>
#include "llmgw_client_api.h"
#include "llmgw_responses_private.h"

/* Feeds a chat.completion's first choice to b and finishes it. */
static int build_from_chat(llmgw_rb_t *b, const json_t *chat)
{
    const json_t *choice = json_array_get(json_object_get(chat, "choices"), 0);
    const json_t *msg = json_object_get(choice, "message");
    const json_t *rc = json_object_get(msg, "reasoning_content");
    const json_t *content = json_object_get(msg, "content");
    const json_t *refusal = json_object_get(msg, "refusal");
    const json_t *calls = json_object_get(msg, "tool_calls");
    const json_t *tc;
    size_t i;

    if (!json_is_object(msg)) {
        return -1;
    }
    if (json_is_string(rc) && json_string_length(rc)
        && llmgw_rb_reasoning(b, NULL, json_string_value(rc),
                              json_string_length(rc))) {
        return -1;
    }
    if (json_is_string(content) && json_string_length(content)
        && llmgw_rb_text(b, NULL, json_string_value(content),
                         json_string_length(content))) {
        return -1;
    }
    if (json_is_string(refusal) && json_string_length(refusal)
        && llmgw_rb_refusal(b, NULL, json_string_value(refusal),
                            json_string_length(refusal))) {
        return -1;
    }
    json_array_foreach(calls, i, tc) {
        const json_t *fn = json_object_get(tc, "function");
        const json_t *args = json_object_get(fn, "arguments");
        if (llmgw_rb_call(b, (int)i, NULL,
                          json_string_value(json_object_get(tc, "id")),
                          json_string_value(json_object_get(fn, "name")),
                          json_string_value(args),
                          json_is_string(args) ? json_string_length(args)
                                               : 0)) {
            return -1;
        }
    }
    return llmgw_rb_finish(b, json_string_value(json_object_get(choice,
                           "finish_reason")), json_object_get(chat, "usage"),
                           NULL);
}

/* The request's value of k, else dflt (stolen; may be NULL: null). */
static json_t *echo(const json_t *req, const char *k, json_t *dflt)
{
    const json_t *v = json_object_get(req, k);
    if (v && !json_is_null(v)) {
        json_decref(dflt);
        return json_deep_copy(v);
    }
    return dflt ? dflt : json_null();
}

json_t *ut_ref_resp_skeleton(const llmgw_api_ctx_t *c)
{
    const json_t *req = c->request;
    const json_t *rs = json_object_get(req, "reasoning");
    const json_t *model = json_object_get(req, "model");

    return json_pack(
        "{s:s,s:s,s:I,s:s,s:b,s:n,s:n,s:o,s:o,s:s,s:[],s:o,s:o,"
        "s:{s:O?,s:O?},s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:n,s:o,s:o}",
        "id", c->id ? c->id : "resp_0",
        "object", "response",
        "created_at", (json_int_t)c->created,
        "status", "in_progress",
        "background", 0,
        "error",
        "incomplete_details",
        "instructions", echo(req, "instructions", NULL),
        "max_output_tokens", echo(req, "max_output_tokens", NULL),
        "model", c->model ? c->model
                 : json_is_string(model) ? json_string_value(model) : "",
        "output",
        "parallel_tool_calls", echo(req, "parallel_tool_calls",
                                    json_true()),
        "previous_response_id", echo(req, "previous_response_id", NULL),
        "reasoning", "effort", json_object_get(rs, "effort"),
                     "summary", json_object_get(rs, "summary"),
        "store", echo(req, "store", json_true()),
        "temperature", echo(req, "temperature", NULL),
        "text", echo(req, "text", json_pack("{s:{s:s}}", "format", "type",
                                            "text")),
        "tool_choice", echo(req, "tool_choice", json_string("auto")),
        "tools", echo(req, "tools", json_array()),
        "top_p", echo(req, "top_p", NULL),
        "truncation", "disabled",
        "usage",
        "user", echo(req, "user", NULL),
        "metadata", echo(req, "metadata", json_object()));
}

static json_t *resp_answer(apr_pool_t *p, const json_t *chat,
                           const llmgw_api_ctx_t *c)
{
    apr_pool_t *sp;
    llmgw_rb_t *b;
    json_t *r = NULL;

    apr_pool_create(&sp, p);
    b = llmgw_rb_new(sp, ut_ref_resp_skeleton(c), c->id);
    if (build_from_chat(b, chat) == 0) {
        r = json_incref(llmgw_rb_response(b));
    }
    apr_pool_destroy(sp);
    return r;
}

int ut_ref_resp_from_chat(apr_pool_t *p, const char *chat, apr_size_t len,
                          const llmgw_api_ctx_t *c, const char **out,
                          apr_size_t *out_len)
{
    return llmgw_api_from_chat_tree(p, chat, len, c, resp_answer, out,
                                    out_len);
}

/* ---- the stream, chunk trees (the reader resp_stream_chunk replaced) --- */

static int str_delta(const json_t *d, const char *k, const char **s,
                     apr_size_t *len)
{
    const json_t *v = json_object_get(d, k);
    *s = json_string_value(v);
    *len = *s ? json_string_length(v) : 0;
    return *len > 0;
}

static const json_t *first_choice(const json_t *chunk)
{
    const json_t *ch;
    size_t i;

    json_array_foreach(json_object_get(chunk, "choices"), i, ch) {
        const json_t *ix = json_object_get(ch, "index");
        if (!ix || (json_is_integer(ix) && json_integer_value(ix) == 0)) {
            return ch;
        }
    }
    return NULL;
}

static int chunk_to_events(apr_pool_t *p, llmgw_rb_t *b, const json_t *chunk,
                           const char **finish, json_t **usage_out)
{
    const json_t *choice = first_choice(chunk);
    const json_t *d = json_object_get(choice, "delta");
    const json_t *fr = json_object_get(choice, "finish_reason");
    const json_t *usage = json_object_get(chunk, "usage");
    const json_t *tc;
    const char *txt;
    apr_size_t len;
    size_t i;

    if (llmgw_rb_start(b)) {
        return -1;
    }
    if (str_delta(d, "reasoning_content", &txt, &len)
        && llmgw_rb_reasoning(b, NULL, txt, len)) {
        return -1;
    }
    if (str_delta(d, "content", &txt, &len)
        && llmgw_rb_text(b, NULL, txt, len)) {
        return -1;
    }
    if (str_delta(d, "refusal", &txt, &len)
        && llmgw_rb_refusal(b, NULL, txt, len)) {
        return -1;
    }
    json_array_foreach(json_object_get(d, "tool_calls"), i, tc) {
        const json_t *fn = json_object_get(tc, "function");
        const json_t *ix = json_object_get(tc, "index");
        str_delta(fn, "arguments", &txt, &len);
        if (llmgw_rb_call(b, json_is_integer(ix)
                             ? (int)json_integer_value(ix) : (int)i, NULL,
                          json_string_value(json_object_get(tc, "id")),
                          json_string_value(json_object_get(fn, "name")),
                          txt, len)) {
            return -1;
        }
    }
    if (json_is_string(fr)) {
        *finish = apr_pstrdup(p, json_string_value(fr));
    }
    if (json_is_object(usage)) {
        json_decref(*usage_out);
        *usage_out = json_incref((json_t *)usage);
    }
    return 0;
}

int ut_ref_resp_stream(apr_pool_t *p, const llmgw_api_ctx_t *c,
                       const char *const *chunks, int n,
                       llmgw_event_emit_fn emit, void *baton)
{
    llmgw_rb_t *b = llmgw_rb_new(p, ut_ref_resp_skeleton(c), c->id);
    const char *finish = NULL;
    json_t *usage = NULL;
    int i, rv = 0;

    llmgw_rb_emitter(b, emit, baton);
    for (i = 0; i < n && rv == 0; i++) {
        json_t *chunk = json_loads(chunks[i], JSON_ALLOW_NUL, NULL);
        if (!json_is_object(chunk) || json_object_get(chunk, "error")) {
            rv = -1 - i;
        }
        else if (chunk_to_events(p, b, chunk, &finish, &usage)) {
            rv = -1 - i;
        }
        json_decref(chunk);
    }
    if (rv == 0) {
        rv = llmgw_rb_finish(b, finish, usage, NULL) ? -1 - n : 0;
    }
    json_decref(usage);
    llmgw_rb_destroy(b);
    return rv;
}
