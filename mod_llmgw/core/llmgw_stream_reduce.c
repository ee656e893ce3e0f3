/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_stream_reduce.c — an OpenAI `chat.completion.chunk` SSE stream
 * reduced to the `chat.completion` it stands for (llmgw_stream_reduce.h).
 */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_stream_reduce.h"
#include "llmgw_sse.h"
#include "llmgw_buf.h"

json_t *llmgw_stream_usage_json(const llmgw_usage_t *u)
{
    json_t *j;
    if (!u || u->prompt_tokens < 0) {
        return NULL;
    }
    j = json_object();
    json_object_set_new(j, "prompt_tokens", json_integer(u->prompt_tokens));
    json_object_set_new(j, "completion_tokens",
                        json_integer(u->completion_tokens >= 0
                                     ? u->completion_tokens : 0));
    json_object_set_new(j, "total_tokens",
                        json_integer(u->total_tokens >= 0 ? u->total_tokens
                                     : u->prompt_tokens
                                       + (u->completion_tokens > 0
                                          ? u->completion_tokens : 0)));
    if (u->cached_tokens >= 0) {
        json_object_set_new(j, "prompt_tokens_details",
                            json_pack("{s:I}", "cached_tokens",
                                      (json_int_t)u->cached_tokens));
    }
    return j;
}

/* ------------------------------------------------------------ events */

static void buf_init(llmgw_buf_t *b, apr_pool_t *p, apr_size_t hint)
{
    llmgw_buf_init(b, p, hint ? hint : 1);   /* data is never NULL */
}

/* ------------------------------------------------------------ reduce */

typedef struct tool_acc {
    json_t *id, *type;
    llmgw_buf_t name, args;
    int used;
} tool_acc_t;

typedef struct choice_acc {
    int used;
    json_int_t index;
    llmgw_buf_t content, refusal;
    int has_content, has_refusal;
    json_t *finish;                  /* owned */
    json_t *lp_content, *lp_refusal; /* owned arrays or NULL */
    apr_array_header_t *tools;       /* tool_acc_t, by index */
} choice_acc_t;

static choice_acc_t *choice_at(apr_pool_t *p, apr_array_header_t *choices,
                               json_int_t idx)
{
    choice_acc_t *c;
    if (idx < 0 || idx > 1024) {
        return NULL;
    }
    while (choices->nelts <= idx) {
        c = apr_array_push(choices);
        memset(c, 0, sizeof(*c));
    }
    c = &APR_ARRAY_IDX(choices, idx, choice_acc_t);
    if (!c->used) {
        c->used = 1;
        c->index = idx;
        buf_init(&c->content, p, 256);
        buf_init(&c->refusal, p, 16);
        c->tools = apr_array_make(p, 2, sizeof(tool_acc_t));
    }
    return c;
}

static tool_acc_t *tool_at(apr_pool_t *p, choice_acc_t *c, json_int_t idx)
{
    tool_acc_t *t;
    if (idx < 0 || idx > 1024) {
        return NULL;
    }
    while (c->tools->nelts <= idx) {
        t = apr_array_push(c->tools);
        memset(t, 0, sizeof(*t));
    }
    t = &APR_ARRAY_IDX(c->tools, idx, tool_acc_t);
    if (!t->used) {
        t->used = 1;
        buf_init(&t->name, p, 32);
        buf_init(&t->args, p, 256);
    }
    return t;
}

static void extend(json_t **acc, json_t *lp, const char *field)
{
    json_t *a = json_object_get(lp, field);
    if (json_is_array(a)) {
        if (!*acc) {
            *acc = json_array();
        }
        json_array_extend(*acc, a);
    }
}

static int add_delta(apr_pool_t *p, apr_array_header_t *choices, json_t *ch)
{
    json_t *delta = json_object_get(ch, "delta"), *v, *tcs, *tc, *lp;
    json_t *jidx = json_object_get(ch, "index");
    choice_acc_t *c;
    size_t k;

    c = choice_at(p, choices, json_is_integer(jidx)
                              ? json_integer_value(jidx) : 0);
    if (!c) {
        return -1;
    }
    if ((v = json_object_get(delta, "content")) && json_is_string(v)) {
        llmgw_buf_append(&c->content, json_string_value(v), json_string_length(v));
        c->has_content = 1;
    }
    if ((v = json_object_get(delta, "refusal")) && json_is_string(v)) {
        llmgw_buf_append(&c->refusal, json_string_value(v), json_string_length(v));
        c->has_refusal = 1;
    }
    tcs = json_object_get(delta, "tool_calls");
    json_array_foreach(tcs, k, tc) {
        json_t *ti = json_object_get(tc, "index"), *fn;
        tool_acc_t *t = tool_at(p, c, json_is_integer(ti)
                                      ? json_integer_value(ti) : (json_int_t)k);
        if (!t) {
            return -1;
        }
        if (json_is_string(v = json_object_get(tc, "id"))) {
            t->id = v;
        }
        if (json_is_string(v = json_object_get(tc, "type"))) {
            t->type = v;
        }
        fn = json_object_get(tc, "function");
        if (json_is_string(v = json_object_get(fn, "name"))) {
            llmgw_buf_append(&t->name, json_string_value(v), json_string_length(v));
        }
        if (json_is_string(v = json_object_get(fn, "arguments"))) {
            llmgw_buf_append(&t->args, json_string_value(v), json_string_length(v));
        }
    }
    v = json_object_get(ch, "finish_reason");
    if (v && !json_is_null(v)) {
        json_decref(c->finish);
        c->finish = json_incref(v);
    }
    lp = json_object_get(ch, "logprobs");
    if (json_is_object(lp)) {
        extend(&c->lp_content, lp, "content");
        extend(&c->lp_refusal, lp, "refusal");
    }
    return 0;
}

/* Tool call ids and types point into the chunks kept alive by the caller. */
static json_t *build_choice(choice_acc_t *c)
{
    json_t *msg = json_object(), *ch, *tools = NULL;
    int i;

    json_object_set_new(msg, "role", json_string("assistant"));
    for (i = 0; i < c->tools->nelts; i++) {
        tool_acc_t *t = &APR_ARRAY_IDX(c->tools, i, tool_acc_t);
        if (!t->used) {
            continue;
        }
        if (!tools) {
            tools = json_array();
        }
        json_array_append_new(tools, json_pack(
            "{s:o,s:o,s:{s:s%,s:s%}}",
            "id", t->id ? json_incref(t->id) : json_string(""),
            "type", t->type ? json_incref(t->type) : json_string("function"),
            "function", "name", t->name.data, t->name.len,
            "arguments", t->args.data, t->args.len));
    }
    /* "" then only tool calls: no content, as the API itself says */
    json_object_set_new(msg, "content",
                        c->has_content && (c->content.len || !tools)
                        ? json_stringn(c->content.data, c->content.len)
                        : json_null());
    json_object_set_new(msg, "refusal", c->has_refusal
                        ? json_stringn(c->refusal.data, c->refusal.len)
                        : json_null());
    if (tools) {
        json_object_set_new(msg, "tool_calls", tools);
    }
    ch = json_object();
    json_object_set_new(ch, "index", json_integer(c->index));
    json_object_set_new(ch, "message", msg);
    if (c->lp_content || c->lp_refusal) {
        json_object_set_new(ch, "logprobs", json_pack(
            "{s:o,s:o}",
            "content", c->lp_content ? c->lp_content : json_null(),
            "refusal", c->lp_refusal ? c->lp_refusal : json_null()));
        c->lp_content = c->lp_refusal = NULL;
    }
    else {
        json_object_set_new(ch, "logprobs", json_null());
    }
    json_object_set_new(ch, "finish_reason",
                        c->finish ? c->finish : json_string("stop"));
    c->finish = NULL;
    return ch;
}

json_t *llmgw_stream_reduce(apr_pool_t *p, const char *sse, apr_size_t len,
                            const llmgw_usage_t *usage)
{
    apr_array_header_t *ev = llmgw_sse_parse_all(p, sse, len);
    apr_array_header_t *choices = apr_array_make(p, 1, sizeof(choice_acc_t));
    apr_array_header_t *keep = apr_array_make(p, ev->nelts, sizeof(json_t *));
    json_t *doc = json_object(), *arr, *u = NULL, *rv = NULL;
    static const char *const base[] = { "id", "created", "model",
                                        "system_fingerprint", "service_tier" };
    int i, chunks = 0;

    for (i = 0; i < ev->nelts; i++) {
        llmgw_sse_event_t *x = &APR_ARRAY_IDX(ev, i, llmgw_sse_event_t);
        json_t *c, *ch;
        size_t k, b;
        if (llmgw_sse_is_done(x)) {
            break;
        }
        c = json_loadb(x->data, x->len, JSON_ALLOW_NUL, NULL);
        if (!json_is_object(c) || json_object_get(c, "error")) {
            json_decref(c);
            goto done;
        }
        APR_ARRAY_PUSH(keep, json_t *) = c;
        chunks++;
        for (b = 0; b < sizeof(base) / sizeof(base[0]); b++) {
            json_t *v = json_object_get(c, base[b]);
            if (v && !json_is_null(v) && !json_object_get(doc, base[b])) {
                json_object_set(doc, base[b], v);
            }
        }
        if (json_is_object(json_object_get(c, "usage"))) {
            u = json_object_get(c, "usage");
        }
        json_array_foreach(json_object_get(c, "choices"), k, ch) {
            if (add_delta(p, choices, ch)) {
                goto done;
            }
        }
    }
    if (!chunks) {
        goto done;
    }
    json_object_set_new(doc, "object", json_string("chat.completion"));
    arr = json_array();
    for (i = 0; i < choices->nelts; i++) {
        choice_acc_t *c = &APR_ARRAY_IDX(choices, i, choice_acc_t);
        if (c->used) {
            json_array_append_new(arr, build_choice(c));
        }
    }
    json_object_set_new(doc, "choices", arr);
    if (u) {
        json_object_set(doc, "usage", u);
    }
    else if ((u = llmgw_stream_usage_json(usage))) {
        json_object_set_new(doc, "usage", u);
    }
    rv = doc;
    doc = NULL;
done:
    for (i = 0; i < choices->nelts; i++) {
        choice_acc_t *c = &APR_ARRAY_IDX(choices, i, choice_acc_t);
        json_decref(c->finish);
        json_decref(c->lp_content);
        json_decref(c->lp_refusal);
    }
    json_decref(doc);
    for (i = 0; i < keep->nelts; i++) {
        json_decref(APR_ARRAY_IDX(keep, i, json_t *));
    }
    return rv;
}
