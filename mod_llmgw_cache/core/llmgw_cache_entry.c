/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Cache entries: encoding, and replay of stored answers as JSON or SSE. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_cache_entry.h"
#include "llmgw_num.h"
#include "llmgw_sse.h"
#include "llmgw_buf.h"
#include "llmgw_stream_reduce.h"

/* ------------------------------------------------------------ buffers */

typedef llmgw_buf_t cbuf_t;
#define cb_add llmgw_buf_append

static void cb_init(cbuf_t *b, apr_pool_t *p, apr_size_t hint)
{
    llmgw_buf_init(b, p, hint ? hint : 1);   /* data is never NULL */
}

static void cb_event(cbuf_t *b, const char *data, apr_size_t n)
{
    cb_add(b, "data: ", 6);
    cb_add(b, data, n);
    cb_add(b, "\n\n", 2);
}

/* Appends one event whose data is j (reference stolen). */
static int cb_json_event(cbuf_t *b, json_t *j)
{
    char *txt = llmgw_json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!txt) {
        return -1;
    }
    cb_event(b, txt, strlen(txt));
    free(txt);
    return 0;
}

/* ------------------------------------------------------------ usage */

json_t *llmgw_cache_usage_json(const llmgw_usage_t *u)
{
    return llmgw_stream_usage_json(u);
}

static apr_int64_t get_int(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (apr_int64_t)json_integer_value(v) : -1;
}

/* ------------------------------------------------------------ entries */

char *llmgw_cache_entry_encode(apr_pool_t *p, const llmgw_cache_entry_t *e,
                               apr_size_t *len)
{
    json_t *m = json_object(), *u = json_object();
    char *txt, *out;
    apr_size_t hl, ml = sizeof(LLMGW_CACHE_ENTRY_MAGIC) - 1;

    json_object_set_new(m, "format", json_string(e->is_sse ? "sse" : "json"));
    json_object_set_new(m, "created", json_integer(e->created));
    json_object_set_new(m, "expires", json_integer(e->expires));
    json_object_set_new(m, "provider", json_string(e->provider ? e->provider
                                                              : ""));
    json_object_set_new(m, "model", json_string(e->model ? e->model : ""));
    json_object_set_new(u, "prompt", json_integer(e->usage.prompt_tokens));
    json_object_set_new(u, "completion",
                        json_integer(e->usage.completion_tokens));
    json_object_set_new(u, "total", json_integer(e->usage.total_tokens));
    json_object_set_new(u, "cached", json_integer(e->usage.cached_tokens));
    json_object_set_new(u, "cache_write",
                        json_integer(e->usage.cache_write_tokens));
    json_object_set_new(m, "usage", u);
    txt = llmgw_json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    if (!txt) {
        return NULL;
    }
    hl = strlen(txt);
    *len = ml + hl + 1 + e->len;
    out = apr_palloc(p, *len + 1);
    memcpy(out, LLMGW_CACHE_ENTRY_MAGIC, ml);
    memcpy(out + ml, txt, hl);
    out[ml + hl] = '\n';
    if (e->len) {
        memcpy(out + ml + hl + 1, e->body, e->len);
    }
    out[*len] = '\0';
    free(txt);
    return out;
}

int llmgw_cache_entry_decode(apr_pool_t *p, const char *data, apr_size_t len,
                             llmgw_cache_entry_t *e)
{
    apr_size_t ml = sizeof(LLMGW_CACHE_ENTRY_MAGIC) - 1;
    const char *nl, *fmt, *prov, *model;
    json_t *m, *u;

    memset(e, 0, sizeof(*e));
    if (!data || len < ml + 2 || memcmp(data, LLMGW_CACHE_ENTRY_MAGIC, ml)) {
        return -1;
    }
    nl = memchr(data + ml, '\n', len - ml);
    if (!nl) {
        return -1;
    }
    m = json_loadb(data + ml, (size_t)(nl - data - ml), JSON_ALLOW_NUL, NULL);
    if (!json_is_object(m)) {
        json_decref(m);
        return -1;
    }
    fmt = json_string_value(json_object_get(m, "format"));
    prov = json_string_value(json_object_get(m, "provider"));
    model = json_string_value(json_object_get(m, "model"));
    u = json_object_get(m, "usage");
    if (!fmt || (strcmp(fmt, "sse") && strcmp(fmt, "json")) || !prov
        || !model || !json_is_integer(json_object_get(m, "created"))
        || !json_is_integer(json_object_get(m, "expires"))) {
        json_decref(m);
        return -1;
    }
    e->is_sse = !strcmp(fmt, "sse");
    e->created = get_int(m, "created");
    e->expires = get_int(m, "expires");
    e->provider = apr_pstrdup(p, prov);
    e->model = apr_pstrdup(p, model);
    e->usage.prompt_tokens = get_int(u, "prompt");
    e->usage.completion_tokens = get_int(u, "completion");
    e->usage.total_tokens = get_int(u, "total");
    e->usage.cached_tokens = get_int(u, "cached");
    e->usage.cache_write_tokens = get_int(u, "cache_write");
    json_decref(m);
    e->body = nl + 1;
    e->len = len - (apr_size_t)(nl + 1 - data);
    return 0;
}

/* ------------------------------------------------------------ SSE */

/* A chunk that carries only usage (stream_options.include_usage). */
static int usage_only(const json_t *c)
{
    const json_t *ch = json_object_get(c, "choices");
    return json_is_object(json_object_get(c, "usage"))
           && (!ch || (json_is_array(ch) && json_array_size(ch) == 0));
}

int llmgw_cache_sse_replay(apr_pool_t *p, const char *sse, apr_size_t len,
                           int include_usage, const llmgw_usage_t *usage,
                           char **out, apr_size_t *out_len)
{
    apr_array_header_t *ev = llmgw_sse_parse_all(p, sse, len);
    cbuf_t b;
    json_t *last = NULL;
    int i, saw_usage = 0, chunks = 0;

    cb_init(&b, p, len + 64);
    for (i = 0; i < ev->nelts; i++) {
        llmgw_sse_event_t *x = &APR_ARRAY_IDX(ev, i, llmgw_sse_event_t);
        json_t *c;
        int drop = 0;
        if (llmgw_sse_is_done(x)) {
            break;
        }
        c = json_loadb(x->data, x->len, JSON_ALLOW_NUL, NULL);
        if (!json_is_object(c) || json_object_get(c, "error")) {
            json_decref(c);
            json_decref(last);
            return -1;
        }
        if (usage_only(c)) {
            saw_usage = 1;
            drop = !include_usage;
        }
        if (!drop) {
            cb_event(&b, x->data, x->len);
        }
        chunks++;
        json_decref(last);
        last = c;
    }
    if (!chunks) {
        return -1;
    }
    if (include_usage && !saw_usage) {
        json_t *u = llmgw_cache_usage_json(usage);
        if (u) {
            json_t *c = json_object();
            json_object_set(c, "id", json_object_get(last, "id"));
            json_object_set_new(c, "object",
                                json_string("chat.completion.chunk"));
            json_object_set(c, "created", json_object_get(last, "created"));
            json_object_set(c, "model", json_object_get(last, "model"));
            json_object_set_new(c, "choices", json_array());
            json_object_set_new(c, "usage", u);
            cb_json_event(&b, c);
        }
    }
    json_decref(last);
    cb_event(&b, "[DONE]", 6);
    *out = b.data;
    *out_len = b.len;
    return 0;
}

/* ---------------------------------------------- stream -> completion */

int llmgw_cache_sse_to_json(apr_pool_t *p, const char *sse, apr_size_t len,
                            const llmgw_usage_t *usage, char **out,
                            apr_size_t *out_len)
{
    json_t *doc = llmgw_stream_reduce(p, sse, len, usage);
    char *txt = doc ? llmgw_json_dumps(doc, JSON_COMPACT) : NULL;

    json_decref(doc);
    if (!txt) {
        return -1;
    }
    *out_len = strlen(txt);
    *out = apr_pstrmemdup(p, txt, *out_len);
    free(txt);
    return 0;
}

/* ---------------------------------------------- completion -> stream */

static json_t *chunk_base(const json_t *doc)
{
    json_t *c = json_object(), *v;
    v = json_object_get(doc, "id");
    json_object_set_new(c, "id", v ? json_incref(v) : json_string(""));
    json_object_set_new(c, "object", json_string("chat.completion.chunk"));
    if ((v = json_object_get(doc, "created"))) {
        json_object_set(c, "created", v);
    }
    if ((v = json_object_get(doc, "model"))) {
        json_object_set(c, "model", v);
    }
    if ((v = json_object_get(doc, "system_fingerprint")) && !json_is_null(v)) {
        json_object_set(c, "system_fingerprint", v);
    }
    return c;
}

static json_t *delta_chunk(const json_t *doc, json_t *index, json_t *delta,
                           json_t *finish)
{
    json_t *c = chunk_base(doc);
    json_object_set_new(c, "choices", json_pack(
        "[{s:O,s:o,s:n,s:o}]", "index", index, "delta", delta, "logprobs",
        "finish_reason", finish ? finish : json_null()));
    return c;
}

int llmgw_cache_json_to_sse(apr_pool_t *p, const char *json, apr_size_t len,
                            int include_usage, char **out,
                            apr_size_t *out_len)
{
    json_t *doc = json_loadb(json, len, JSON_ALLOW_NUL, NULL), *choices, *ch, *u;
    cbuf_t b;
    size_t i, k;

    choices = json_object_get(doc, "choices");
    if (!json_is_object(doc) || !json_is_array(choices)) {
        json_decref(doc);
        return -1;
    }
    cb_init(&b, p, len * 2 + 256);
    json_array_foreach(choices, i, ch) {
        json_t *msg = json_object_get(ch, "message"), *idx, *v, *tc, *fr;
        json_t *owned_idx = NULL;
        if (!json_is_object(msg)) {
            json_decref(doc);
            return -1;
        }
        idx = json_object_get(ch, "index");
        if (!json_is_integer(idx)) {
            idx = owned_idx = json_integer((json_int_t)i);
        }
        v = json_object_get(msg, "content");
        cb_json_event(&b, delta_chunk(doc, idx, json_pack(
            "{s:s,s:o}", "role", "assistant", "content",
            json_is_string(v) ? json_string("") : json_null()), NULL));
        if (json_is_string(v) && json_string_length(v)) {
            cb_json_event(&b, delta_chunk(doc, idx, json_pack(
                "{s:O}", "content", v), NULL));
        }
        v = json_object_get(msg, "refusal");
        if (json_is_string(v) && json_string_length(v)) {
            cb_json_event(&b, delta_chunk(doc, idx, json_pack(
                "{s:O}", "refusal", v), NULL));
        }
        json_array_foreach(json_object_get(msg, "tool_calls"), k, tc) {
            json_t *fn = json_object_get(tc, "function");
            json_t *id = json_object_get(tc, "id");
            json_t *type = json_object_get(tc, "type");
            json_t *name = json_object_get(fn, "name");
            json_t *args = json_object_get(fn, "arguments");
            cb_json_event(&b, delta_chunk(doc, idx, json_pack(
                "{s:[{s:I,s:o,s:o,s:{s:o,s:o}}]}", "tool_calls",
                "index", (json_int_t)k,
                "id", json_is_string(id) ? json_incref(id) : json_string(""),
                "type", json_is_string(type) ? json_incref(type)
                                             : json_string("function"),
                "function",
                "name", json_is_string(name) ? json_incref(name)
                                             : json_string(""),
                "arguments", json_is_string(args) ? json_incref(args)
                                                  : json_string("")), NULL));
        }
        fr = json_object_get(ch, "finish_reason");
        cb_json_event(&b, delta_chunk(doc, idx, json_object(),
                                      json_is_string(fr) ? json_incref(fr)
                                                         : json_string("stop")));
        json_decref(owned_idx);
    }
    u = json_object_get(doc, "usage");
    if (include_usage && json_is_object(u)) {
        json_t *c = chunk_base(doc);
        json_object_set_new(c, "choices", json_array());
        json_object_set(c, "usage", u);
        cb_json_event(&b, c);
    }
    json_decref(doc);
    cb_event(&b, "[DONE]", 6);
    *out = b.data;
    *out_len = b.len;
    return 0;
}
