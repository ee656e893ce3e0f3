/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The OpenAI Responses API adapter: the request goes upstream as a Chat
 * Completions request (llmgw_responses_request.c); the chat.completion or
 * its chunks come back as a `response` object or the Responses event
 * sequence, both built by the output builder (llmgw_responses_stream.c).
 * Errors are OpenAI's envelope, which the OpenAI SDKs read. */
#include <string.h>
#include <apr_strings.h>
#include "llmgw_buf.h"
#include "llmgw_num.h"
#include "llmgw_sse.h"
#include "llmgw_client_api.h"
#include "llmgw_api_responses.h"
#include "llmgw_responses_private.h"
#include "llmgw_json_scan.h"

/* ------------------------------------------------------- the response */

static json_int_t int_at(const json_t *o, const char *k, const char *k2)
{
    const json_t *v = json_object_get(o, k);
    if (k2) {
        v = json_object_get(v, k2);
    }
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

json_t *llmgw_responses_usage(const json_t *u)
{
    json_int_t in, out, total;

    if (!json_is_object(u)) {
        return json_null();
    }
    in = int_at(u, "prompt_tokens", NULL);
    out = int_at(u, "completion_tokens", NULL);
    total = json_is_integer(json_object_get(u, "total_tokens"))
            ? int_at(u, "total_tokens", NULL) : in + out;
    return json_pack("{s:I,s:{s:I},s:I,s:{s:I},s:I}",
                     "input_tokens", in,
                     "input_tokens_details", "cached_tokens",
                       int_at(u, "prompt_tokens_details", "cached_tokens"),
                     "output_tokens", out,
                     "output_tokens_details", "reasoning_tokens",
                       int_at(u, "completion_tokens_details",
                              "reasoning_tokens"),
                     "total_tokens", total);
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

json_t *llmgw_responses_skeleton(const llmgw_api_ctx_t *c)
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

static json_t *resp_answer(apr_pool_t *p, const json_t *chat,
                           const llmgw_api_ctx_t *c)
{
    apr_pool_t *sp;
    llmgw_rb_t *b;
    json_t *r = NULL;

    apr_pool_create(&sp, p);
    b = llmgw_rb_new(sp, llmgw_responses_skeleton(c), c->id);
    if (build_from_chat(b, chat) == 0) {
        r = json_incref(llmgw_rb_response(b));
    }
    apr_pool_destroy(sp);
    return r;
}

static int resp_from_chat(apr_pool_t *p, const char *chat, apr_size_t len,
                          const llmgw_api_ctx_t *c, const char **out,
                          apr_size_t *out_len)
{
    return llmgw_api_from_chat_tree(p, chat, len, c, resp_answer, out,
                                    out_len);
}

/* ------------------------------------------------------------ streams */

struct llmgw_api_stream {
    apr_pool_t *p;
    const llmgw_api_ctx_t *c;
    llmgw_rb_t *b;
    const char *finish;
    json_t *usage;               /* owned */
};

static apr_status_t stream_cleanup(void *data)
{
    llmgw_api_stream_t *s = data;
    json_decref(s->usage);
    s->usage = NULL;
    return APR_SUCCESS;
}

static llmgw_api_stream_t *resp_stream_new(apr_pool_t *p,
                                           const llmgw_api_ctx_t *c)
{
    llmgw_api_stream_t *s = apr_pcalloc(p, sizeof(*s));
    s->p = p;
    s->c = c;
    s->b = llmgw_rb_new(p, llmgw_responses_skeleton(c), c->id);
    apr_pool_cleanup_register(p, s, stream_cleanup, apr_pool_cleanup_null);
    return s;
}

static int str_delta(const json_t *d, const char *k, const char **s,
                     apr_size_t *len)
{
    const json_t *v = json_object_get(d, k);
    *s = json_string_value(v);
    *len = *s ? json_string_length(v) : 0;
    return *len > 0;
}

/* The chunk's choice of index 0 (a Responses answer has one), or NULL. */
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

static int chunk_to_events(llmgw_api_stream_t *s, const json_t *chunk)
{
    const json_t *choice = first_choice(chunk);
    const json_t *d = json_object_get(choice, "delta");
    const json_t *fr = json_object_get(choice, "finish_reason");
    const json_t *usage = json_object_get(chunk, "usage");
    const json_t *tc;
    const char *txt;
    apr_size_t len;
    size_t i;

    if (llmgw_rb_start(s->b)) {
        return -1;
    }
    if (str_delta(d, "reasoning_content", &txt, &len)
        && llmgw_rb_reasoning(s->b, NULL, txt, len)) {
        return -1;
    }
    if (str_delta(d, "content", &txt, &len)
        && llmgw_rb_text(s->b, NULL, txt, len)) {
        return -1;
    }
    if (str_delta(d, "refusal", &txt, &len)
        && llmgw_rb_refusal(s->b, NULL, txt, len)) {
        return -1;
    }
    json_array_foreach(json_object_get(d, "tool_calls"), i, tc) {
        const json_t *fn = json_object_get(tc, "function");
        const json_t *ix = json_object_get(tc, "index");
        str_delta(fn, "arguments", &txt, &len);
        if (llmgw_rb_call(s->b, json_is_integer(ix)
                                ? (int)json_integer_value(ix) : (int)i, NULL,
                          json_string_value(json_object_get(tc, "id")),
                          json_string_value(json_object_get(fn, "name")),
                          txt, len)) {
            return -1;
        }
    }
    if (json_is_string(fr)) {
        s->finish = apr_pstrdup(s->p, json_string_value(fr));
    }
    if (json_is_object(usage)) {
        json_decref(s->usage);
        s->usage = json_incref((json_t *)usage);
    }
    return 0;
}

static int resp_stream_chunk(llmgw_api_stream_t *s, const char *data,
                             apr_size_t len, llmgw_event_emit_fn emit,
                             void *baton)
{
    json_t *chunk = llmgw_json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    int rv;

    if (!json_is_object(chunk) || json_object_get(chunk, "error")) {
        json_decref(chunk);
        return -1;                 /* not a chunk: the glue fails the stream */
    }
    llmgw_rb_emitter(s->b, emit, baton);
    rv = chunk_to_events(s, chunk);
    json_decref(chunk);
    return rv;
}

/* The usage arrives in the last chunk, after the finish_reason: the
 * closing events are written here. */
static int resp_stream_end(llmgw_api_stream_t *s, llmgw_event_emit_fn emit,
                           void *baton)
{
    llmgw_rb_emitter(s->b, emit, baton);
    return llmgw_rb_finish(s->b, s->finish, s->usage, NULL);
}

static int resp_stream_error(llmgw_api_stream_t *s, const llmgw_error_t *e,
                             llmgw_event_emit_fn emit, void *baton)
{
    const char *type = e->type ? e->type
                               : llmgw_error_type_for_status(e->status);
    llmgw_rb_emitter(s->b, emit, baton);
    return llmgw_rb_fail(s->b, e->code ? e->code : type, e->message,
                         e->param, type);
}

static json_t *resp_stream_result(llmgw_api_stream_t *s)
{
    json_t *r = llmgw_rb_response(s->b);
    return r ? json_incref(r) : NULL;
}

/* ---------------------------------------------------- reduce, expand */

static int resp_reduce(apr_pool_t *p, const char *sse, apr_size_t len,
                       const char **out, apr_size_t *out_len)
{
    apr_array_header_t *evs = llmgw_sse_parse_all(p, sse, len);
    int i;

    for (i = 0; i < evs->nelts; i++) {
        const llmgw_sse_event_t *x = &APR_ARRAY_IDX(evs, i,
                                                    llmgw_sse_event_t);
        json_t *j = llmgw_json_loadb(x->data, x->len, JSON_ALLOW_NUL, NULL);
        const char *type = json_string_value(json_object_get(j, "type"));
        const json_t *r = json_object_get(j, "response");

        if (type && json_is_object(r)
            && (!strcmp(type, "response.completed")
                || !strcmp(type, "response.incomplete"))) {
            char *txt = llmgw_json_dumps(r, JSON_COMPACT);
            json_decref(j);
            if (txt == NULL) {
                return -1;
            }
            *out_len = strlen(txt);
            *out = apr_pstrmemdup(p, txt, *out_len);
            free(txt);
            return 0;
        }
        json_decref(j);
    }
    return -1;
}

static int text_of(const json_t *o, const char *k, const char **s,
                   apr_size_t *len)
{
    const json_t *v = json_object_get(o, k);
    *s = json_is_string(v) ? json_string_value(v) : "";
    *len = json_is_string(v) ? json_string_length(v) : 0;
    return 0;
}

/* One output item of a stored response through the builder. */
static int expand_item(llmgw_rb_t *b, const json_t *item, int n)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    const char *id = json_string_value(json_object_get(item, "id"));
    const json_t *part;
    const char *s;
    apr_size_t len;
    size_t j;
    int rv = 0;

    if (type && !strcmp(type, "message") && id) {
        rv = llmgw_rb_text(b, id, NULL, 0);
        json_array_foreach(json_object_get(item, "content"), j, part) {
            const char *pt = json_string_value(json_object_get(part,
                                                               "type"));
            int refusal = pt && !strcmp(pt, "refusal");
            if (rv || llmgw_rb_close_part(b)) {
                return -1;
            }
            text_of(part, refusal ? "refusal" : "text", &s, &len);
            rv = refusal ? llmgw_rb_refusal(b, id, s, len)
                         : llmgw_rb_text(b, id, s, len);
        }
        return rv || llmgw_rb_close_item(b) ? -1 : 0;
    }
    if (type && !strcmp(type, "reasoning") && id) {
        rv = llmgw_rb_reasoning(b, id, NULL, 0);
        json_array_foreach(json_object_get(item, "summary"), j, part) {
            if (rv || llmgw_rb_close_part(b)) {
                return -1;
            }
            text_of(part, "text", &s, &len);
            rv = llmgw_rb_reasoning(b, id, s, len);
        }
        return rv || llmgw_rb_close_item(b) ? -1 : 0;
    }
    if (type && !strcmp(type, "function_call") && id) {
        text_of(item, "arguments", &s, &len);
        return llmgw_rb_call(b, n, id,
                             json_string_value(json_object_get(item,
                                                               "call_id")),
                             json_string_value(json_object_get(item, "name")),
                             s, len);
    }
    return llmgw_rb_item(b, item);
}

static int resp_expand(apr_pool_t *p, const char *json, apr_size_t len,
                       const char **out, apr_size_t *out_len)
{
    json_t *r = llmgw_json_loadb(json, len, JSON_ALLOW_NUL, NULL);
    const json_t *output = json_object_get(r, "output");
    const json_t *item;
    apr_pool_t *sp;
    llmgw_rb_t *b;
    llmgw_buf_t buf;
    json_t *base;
    size_t i;
    int rv = 0;

    if (!json_is_object(r) || !json_is_array(output)
        || !json_is_string(json_object_get(r, "id"))) {
        json_decref(r);
        return -1;
    }
    base = json_deep_copy(r);
    json_object_set_new(base, "status", json_string("in_progress"));
    json_object_set_new(base, "output", json_array());
    json_object_set_new(base, "usage", json_null());
    if (json_object_get(base, "incomplete_details")) {
        json_object_set_new(base, "incomplete_details", json_null());
    }
    apr_pool_create(&sp, p);
    llmgw_buf_init(&buf, p, len * 2 + 1024);
    b = llmgw_rb_new(sp, base, json_string_value(json_object_get(r, "id")));
    llmgw_rb_emitter(b, llmgw_api_buf_event, &buf);
    rv = llmgw_rb_start(b);
    json_array_foreach(output, i, item) {
        if (rv || (rv = expand_item(b, item, (int)i))) {
            break;
        }
    }
    if (rv == 0) {
        rv = llmgw_rb_finish(b, NULL, NULL, r);
    }
    apr_pool_destroy(sp);
    json_decref(r);
    if (rv) {
        return -1;
    }
    *out = buf.data;
    *out_len = buf.len;
    return 0;
}

/* ------------------------------------------------------------ adapter */

const llmgw_client_api_t llmgw_api_responses = {
    LLMGW_API_RESPONSES, "responses",
    llmgw_responses_to_chat, NULL, resp_from_chat,
    resp_stream_new, resp_stream_chunk, resp_stream_end, resp_stream_error,
    resp_stream_result,
    llmgw_envelope_json,
    resp_reduce, resp_expand
};
