/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The Responses API adapter's output builder: Chat deltas (reasoning
 * text, content, refusal, tool calls) become the response's output items
 * and, with an emitter, the Responses event sequence that builds them,
 * every event numbered by sequence_number. from_chat, the stream and
 * expand all build their answer here, so they agree. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_buf.h"
#include "llmgw_json_scan.h"
#include "llmgw_num.h"
#include "llmgw_client_api.h"
#include "llmgw_responses_private.h"

enum { K_NONE = 0, K_REASONING, K_MESSAGE };
enum { P_NONE = 0, P_TEXT, P_REFUSAL, P_SUMMARY };

typedef struct {
    int index;                  /* the Chat tool call index */
    int out_index;              /* its output_index */
    json_t *item;               /* owned */
    llmgw_buf_t args;
} rb_call_t;

struct llmgw_rb {
    apr_pool_t *p;
    json_t *base;               /* the skeleton (owned) */
    const char *tail;           /* the response id without "resp_" */
    llmgw_event_emit_fn emit;
    void *baton;
    apr_int64_t seq;
    int started, ended;
    json_t *output;             /* items by output_index (owned) */
    /* the open reasoning or message item */
    int kind;
    int out_index;
    json_t *item;               /* owned */
    int part;
    int part_index;
    llmgw_buf_t text;
    apr_array_header_t *calls;  /* rb_call_t: the open calls (several
                                 * while a stream interleaves them) */
    int n_rs, n_msg, n_fc;
    json_t *response;           /* the finished response (owned) */
    llmgw_buf_t evbuf;          /* a delta event's text (reused) */
};

static apr_status_t rb_cleanup(void *data)
{
    llmgw_rb_destroy(data);
    return APR_SUCCESS;
}

void llmgw_rb_destroy(llmgw_rb_t *b)
{
    int i;
    json_decref(b->base);
    json_decref(b->output);
    json_decref(b->item);
    json_decref(b->response);
    b->base = b->output = b->item = b->response = NULL;
    for (i = 0; i < b->calls->nelts; i++) {
        rb_call_t *c = &APR_ARRAY_IDX(b->calls, i, rb_call_t);
        json_decref(c->item);
        c->item = NULL;
    }
}

llmgw_rb_t *llmgw_rb_new(apr_pool_t *p, json_t *base, const char *resp_id)
{
    llmgw_rb_t *b = apr_pcalloc(p, sizeof(*b));

    b->p = p;
    b->base = base;
    b->tail = resp_id ? resp_id : "0";
    if (!strncmp(b->tail, "resp_", 5) && b->tail[5]) {
        b->tail += 5;
    }
    b->output = json_array();
    b->calls = apr_array_make(p, 2, sizeof(rb_call_t));
    llmgw_buf_init(&b->text, p, 0);
    llmgw_buf_init(&b->evbuf, p, 0);
    apr_pool_cleanup_register(p, b, rb_cleanup, apr_pool_cleanup_null);
    return b;
}

void llmgw_rb_emitter(llmgw_rb_t *b, llmgw_event_emit_fn emit, void *baton)
{
    b->emit = emit;
    b->baton = baton;
}

/* Emits event `type` (ASCII, no escapes): {"type":type,
 * "sequence_number":N} with members (the text of the fields' members as
 * a compact dump writes them, len 0: none) after sequence_number, what
 * json_dumps(JSON_COMPACT) writes of one object with these members. */
static int ev_members(llmgw_rb_t *b, const char *type, const char *members,
                      apr_size_t len)
{
    llmgw_buf_t *o = &b->evbuf;

    o->len = 0;
    LLMGW_BUF_LIT(o, "{\"type\":\"");
    llmgw_buf_append(o, type, strlen(type));
    LLMGW_BUF_LIT(o, "\",\"sequence_number\":");
    llmgw_buf_int(o, b->seq++);
    if (len) {
        LLMGW_BUF_LIT(o, ",");
        llmgw_buf_append(o, members, len);
    }
    LLMGW_BUF_LIT(o, "}");
    return b->emit(b->baton, type, o->data, o->len) ? -1 : 0;
}

/* Emits event `type` with the fields json_pack(fmt, ...) builds after
 * "type" and "sequence_number" (no "o": a value stolen would leak when
 * nothing is emitted; no "type" or "sequence_number" among them): the
 * fields dumped and spliced after those two. Without an emitter
 * (from_chat) nothing is built. -1 when the fields cannot be packed (text
 * that is not UTF-8). */
static int ev(llmgw_rb_t *b, const char *type, const char *fmt, ...)
{
    json_t *fields;
    char *txt;
    va_list ap;
    int rv;

    if (b->emit == NULL) {
        return 0;
    }
    va_start(ap, fmt);
    fields = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    if (fields == NULL) {
        return -1;
    }
    txt = llmgw_json_dumps(fields, JSON_COMPACT);
    json_decref(fields);
    if (txt == NULL) {
        return -1;
    }
    rv = ev_members(b, type, txt + 1, strlen(txt) - 2);    /* no braces */
    free(txt);
    return rv;
}

static const char *next_id(llmgw_rb_t *b, const char *prefix, int *n)
{
    const char *id = *n ? apr_psprintf(b->p, "%s_%s_%d", prefix, b->tail, *n)
                        : apr_pstrcat(b->p, prefix, "_", b->tail, NULL);
    (*n)++;
    return id;
}

/* The skeleton with status and output (the output so far), to be dumped
 * at once: shallow copies, their values shared with the builder's trees
 * (the copies' own members replaced, never the shared values changed). */
static json_t *snapshot(llmgw_rb_t *b, const char *status)
{
    json_t *r = json_copy(b->base);
    json_object_set_new(r, "status", json_string(status));
    json_object_set_new(r, "output", json_copy(b->output));
    return r;
}

int llmgw_rb_start(llmgw_rb_t *b)
{
    json_t *r, *m;
    char *txt;
    int rv;

    if (b->started) {
        return 0;
    }
    b->started = 1;
    if (b->emit == NULL) {
        return 0;                   /* no events: no snapshot */
    }
    /* the same response in both: dumped once */
    r = snapshot(b, "in_progress");
    m = json_pack("{s:O}", "response", r);
    txt = m ? llmgw_json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    json_decref(r);
    if (txt == NULL) {
        return -1;
    }
    rv = ev_members(b, "response.created", txt + 1, strlen(txt) - 2)
         || ev_members(b, "response.in_progress", txt + 1, strlen(txt) - 2);
    free(txt);
    return rv ? -1 : 0;
}

static const char *item_id(llmgw_rb_t *b)
{
    return json_string_value(json_object_get(b->item, "id"));
}

/* ------------------------------------------------------------- parts */

int llmgw_rb_close_part(llmgw_rb_t *b)
{
    json_t *part;
    const char *text = b->text.len ? b->text.data : "";
    int rv = 0;

    if (b->part == P_NONE) {
        return 0;
    }
    if (b->part == P_SUMMARY) {
        part = json_pack("{s:s,s:s%}", "type", "summary_text", "text", text,
                         b->text.len);
        rv = ev(b, "response.reasoning_summary_text.done",
                "{s:s,s:i,s:i,s:s%}", "item_id", item_id(b),
                "output_index", b->out_index, "summary_index",
                b->part_index, "text", text, b->text.len)
             || ev(b, "response.reasoning_summary_part.done",
                   "{s:s,s:i,s:i,s:O}", "item_id", item_id(b),
                   "output_index", b->out_index, "summary_index",
                   b->part_index, "part", part);
        json_array_append_new(json_object_get(b->item, "summary"), part);
    }
    else {
        int txt = b->part == P_TEXT;
        part = txt ? json_pack("{s:s,s:s%,s:[]}", "type", "output_text",
                               "text", text, b->text.len, "annotations")
                   : json_pack("{s:s,s:s%}", "type", "refusal", "refusal",
                               text, b->text.len);
        rv = (txt ? ev(b, "response.output_text.done",
                       "{s:s,s:i,s:i,s:s%,s:[]}", "item_id", item_id(b),
                       "output_index", b->out_index, "content_index",
                       b->part_index, "text", text, b->text.len, "logprobs")
                  : ev(b, "response.refusal.done", "{s:s,s:i,s:i,s:s%}",
                       "item_id", item_id(b), "output_index", b->out_index,
                       "content_index", b->part_index, "refusal", text,
                       b->text.len))
             || ev(b, "response.content_part.done",
                   "{s:s,s:i,s:i,s:O}", "item_id", item_id(b),
                   "output_index", b->out_index, "content_index",
                   b->part_index, "part", part);
        json_array_append_new(json_object_get(b->item, "content"), part);
    }
    b->part = P_NONE;
    b->text.len = 0;
    return rv ? -1 : 0;
}

static int open_part(llmgw_rb_t *b, int part)
{
    const char *id;

    if (b->part == part) {
        return 0;
    }
    if (llmgw_rb_close_part(b)) {
        return -1;
    }
    b->part = part;
    b->text.len = 0;
    id = item_id(b);
    if (part == P_SUMMARY) {
        b->part_index = (int)json_array_size(json_object_get(b->item,
                                                             "summary"));
        return ev(b, "response.reasoning_summary_part.added",
                  "{s:s,s:i,s:i,s:{s:s,s:s}}", "item_id", id,
                  "output_index", b->out_index, "summary_index",
                  b->part_index, "part", "type", "summary_text", "text", "");
    }
    b->part_index = (int)json_array_size(json_object_get(b->item,
                                                         "content"));
    return part == P_TEXT
        ? ev(b, "response.content_part.added",
             "{s:s,s:i,s:i,s:{s:s,s:s,s:[]}}", "item_id", id, "output_index",
             b->out_index, "content_index", b->part_index, "part", "type",
             "output_text", "text", "", "annotations")
        : ev(b, "response.content_part.added",
             "{s:s,s:i,s:i,s:{s:s,s:s}}", "item_id", id, "output_index",
             b->out_index, "content_index", b->part_index, "part", "type",
             "refusal", "refusal", "");
}

/* ------------------------------------------------------------- items */

int llmgw_rb_close_item(llmgw_rb_t *b)
{
    json_t *item;
    int rv;

    if (b->kind == K_NONE) {
        return 0;
    }
    if (llmgw_rb_close_part(b)) {
        return -1;
    }
    item = b->item;
    b->item = NULL;
    b->kind = K_NONE;
    if (json_object_get(item, "status")) {
        json_object_set_new(item, "status", json_string("completed"));
    }
    json_array_set(b->output, b->out_index, item);
    rv = ev(b, "response.output_item.done", "{s:i,s:O}", "output_index",
            b->out_index, "item", item);
    json_decref(item);
    return rv;
}

/* Appends item (stolen) to the output and emits its output_item.added;
 * its output_index. */
static int add_item(llmgw_rb_t *b, json_t *item, int *out_index)
{
    *out_index = (int)json_array_size(b->output);
    json_array_append_new(b->output, item);
    return ev(b, "response.output_item.added", "{s:i,s:O}", "output_index",
              *out_index, "item", item);
}

static int close_calls(llmgw_rb_t *b);

/* Opens a reasoning or message item: the open item of the other kind and
 * the open calls are done (items follow one another, as OpenAI's do). */
static int open_item(llmgw_rb_t *b, int kind, const char *id)
{
    if (b->kind == kind) {
        return 0;
    }
    if (llmgw_rb_close_item(b) || close_calls(b) || llmgw_rb_start(b)) {
        return -1;
    }
    b->kind = kind;
    if (kind == K_REASONING) {
        b->item = json_pack("{s:s,s:s,s:[]}", "id",
                            id ? id : next_id(b, "rs", &b->n_rs),
                            "type", "reasoning", "summary");
    }
    else {
        b->item = json_pack("{s:s,s:s,s:s,s:[],s:s}", "id",
                            id ? id : next_id(b, "msg", &b->n_msg),
                            "type", "message", "status", "in_progress",
                            "content", "role", "assistant");
    }
    return add_item(b, json_incref(b->item), &b->out_index);
}

/* A delta event (the most frequent: one a chunk) written directly, the
 * bytes ev() writes of it; *rv what ev() would return. 1 when not written:
 * text that is not ASCII goes through ev(), which checks its UTF-8. */
static int ev_delta(llmgw_rb_t *b, int part, const char *text,
                    apr_size_t len, int *rv)
{
    static const char *const types[] = {
        NULL, "response.output_text.delta", "response.refusal.delta",
        "response.reasoning_summary_text.delta"
    };
    llmgw_buf_t *o = &b->evbuf;
    const char *id = item_id(b);
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if ((unsigned char)text[i] >= 0x80) {
            return 1;
        }
    }
    if (id == NULL) {
        return 1;
    }
    o->len = 0;
    LLMGW_BUF_LIT(o, "{\"type\":\"");
    llmgw_buf_append(o, types[part], strlen(types[part]));
    LLMGW_BUF_LIT(o, "\",\"sequence_number\":");
    llmgw_buf_int(o, b->seq++);
    LLMGW_BUF_LIT(o, ",\"item_id\":");
    llmgw_buf_json_cstr(o, id);
    LLMGW_BUF_LIT(o, ",\"output_index\":");
    llmgw_buf_int(o, b->out_index);
    if (part == P_SUMMARY) {
        LLMGW_BUF_LIT(o, ",\"summary_index\":");
    }
    else {
        LLMGW_BUF_LIT(o, ",\"content_index\":");
    }
    llmgw_buf_int(o, b->part_index);
    LLMGW_BUF_LIT(o, ",\"delta\":");
    llmgw_buf_json_string(o, text, len);
    if (part == P_TEXT) {
        LLMGW_BUF_LIT(o, ",\"logprobs\":[]");
    }
    LLMGW_BUF_LIT(o, "}");
    *rv = b->emit(b->baton, types[part], o->data, o->len) ? -1 : 0;
    return 0;
}

static int delta(llmgw_rb_t *b, int kind, int part, const char *id,
                 const char *text, apr_size_t len)
{
    int rv;

    if (b->ended || open_item(b, kind, id)) {
        return -1;
    }
    if (text == NULL) {
        return 0;
    }
    if (open_part(b, part)) {
        return -1;
    }
    if (len == 0) {
        return 0;
    }
    llmgw_buf_append(&b->text, text, len);
    if (b->emit == NULL) {
        return 0;                   /* no events (from_chat) */
    }
    if (ev_delta(b, part, text, len, &rv) == 0) {
        return rv;
    }
    if (part == P_SUMMARY) {
        return ev(b, "response.reasoning_summary_text.delta",
                  "{s:s,s:i,s:i,s:s%}", "item_id", item_id(b),
                  "output_index", b->out_index, "summary_index",
                  b->part_index, "delta", text, len);
    }
    if (part == P_TEXT) {
        return ev(b, "response.output_text.delta", "{s:s,s:i,s:i,s:s%,s:[]}",
                  "item_id", item_id(b), "output_index", b->out_index,
                  "content_index", b->part_index, "delta", text, len,
                  "logprobs");
    }
    return ev(b, "response.refusal.delta", "{s:s,s:i,s:i,s:s%}", "item_id",
              item_id(b), "output_index", b->out_index, "content_index",
              b->part_index, "delta", text, len);
}

int llmgw_rb_reasoning(llmgw_rb_t *b, const char *id, const char *text,
                       apr_size_t len)
{
    return delta(b, K_REASONING, P_SUMMARY, id, text, len);
}

int llmgw_rb_text(llmgw_rb_t *b, const char *id, const char *text,
                  apr_size_t len)
{
    return delta(b, K_MESSAGE, P_TEXT, id, text, len);
}

int llmgw_rb_refusal(llmgw_rb_t *b, const char *id, const char *text,
                     apr_size_t len)
{
    return delta(b, K_MESSAGE, P_REFUSAL, id, text, len);
}

int llmgw_rb_item(llmgw_rb_t *b, const json_t *item)
{
    int idx;

    if (b->ended || llmgw_rb_close_item(b) || llmgw_rb_start(b)
        || add_item(b, json_deep_copy(item), &idx)) {
        return -1;
    }
    return ev(b, "response.output_item.done", "{s:i,s:O}", "output_index",
              idx, "item", item);
}

/* ------------------------------------------------------------- calls */

int llmgw_rb_call(llmgw_rb_t *b, int index, const char *id,
                  const char *call_id, const char *name, const char *args,
                  apr_size_t len)
{
    rb_call_t *c = NULL;
    int i;

    if (b->ended || llmgw_rb_close_item(b) || llmgw_rb_start(b)) {
        return -1;
    }
    for (i = 0; i < b->calls->nelts; i++) {
        if (APR_ARRAY_IDX(b->calls, i, rb_call_t).index == index) {
            c = &APR_ARRAY_IDX(b->calls, i, rb_call_t);
            break;
        }
    }
    if (c == NULL) {
        if (id == NULL) {
            id = next_id(b, "fc", &b->n_fc);
        }
        c = apr_array_push(b->calls);
        memset(c, 0, sizeof(*c));
        c->index = index;
        llmgw_buf_init(&c->args, b->p, 0);
        c->item = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", id,
                            "type", "function_call", "status", "in_progress",
                            "arguments", "",
                            "call_id", call_id ? call_id
                                       : apr_pstrcat(b->p, "call_", id + 3,
                                                     NULL),
                            "name", name ? name : "");
        if (c->item == NULL
            || add_item(b, json_incref(c->item), &c->out_index)) {
            return -1;
        }
    }
    else if (name && *name
             && !*json_string_value(json_object_get(c->item, "name"))) {
        json_object_set_new(c->item, "name", json_string(name));
    }
    if (args && len) {
        llmgw_buf_append(&c->args, args, len);
        return ev(b, "response.function_call_arguments.delta",
                  "{s:s,s:i,s:s%}", "item_id",
                  json_string_value(json_object_get(c->item, "id")),
                  "output_index", c->out_index, "delta", args, len);
    }
    return 0;
}

static int close_calls(llmgw_rb_t *b)
{
    int i;

    for (i = 0; i < b->calls->nelts; i++) {
        rb_call_t *c = &APR_ARRAY_IDX(b->calls, i, rb_call_t);
        json_t *item = c->item;
        json_t *args = json_stringn(c->args.len ? c->args.data : "",
                                    c->args.len);
        const char *id = json_string_value(json_object_get(item, "id"));

        if (args == NULL) {
            return -1;
        }
        c->item = NULL;
        json_object_set_new(item, "arguments", args);
        json_object_set_new(item, "status", json_string("completed"));
        json_array_set(b->output, c->out_index, item);
        if (ev(b, "response.function_call_arguments.done",
               "{s:s,s:i,s:O}", "item_id", id, "output_index", c->out_index,
               "arguments", args)
            || ev(b, "response.output_item.done", "{s:i,s:O}",
                  "output_index", c->out_index, "item", item)) {
            json_decref(item);
            return -1;
        }
        json_decref(item);
    }
    apr_array_clear(b->calls);
    return 0;
}

/* ------------------------------------------------------------ outcome */

int llmgw_rb_finish(llmgw_rb_t *b, const char *finish, const json_t *usage,
                    const json_t *final)
{
    json_t *r;
    const char *status, *name;

    if (b->ended || llmgw_rb_start(b) || llmgw_rb_close_item(b)
        || close_calls(b)) {
        return -1;
    }
    b->ended = 1;
    if (final) {
        r = json_deep_copy(final);
    }
    else {
        const char *why = NULL;
        if (finish && !strcmp(finish, "length")) {
            why = "max_output_tokens";
        }
        else if (finish && !strcmp(finish, "content_filter")) {
            why = "content_filter";
        }
        /* the builder is done: the skeleton and the items become the
         * response as they are, not copied */
        r = b->base;
        b->base = NULL;
        json_object_set_new(r, "status", json_string(why ? "incomplete"
                                                         : "completed"));
        json_object_set(r, "output", b->output);
        if (why) {
            json_object_set_new(r, "incomplete_details",
                                json_pack("{s:s}", "reason", why));
        }
        json_object_set_new(r, "usage", llmgw_responses_usage(usage));
    }
    b->response = r;
    status = json_string_value(json_object_get(r, "status"));
    name = status && !strcmp(status, "incomplete") ? "response.incomplete"
         : status && !strcmp(status, "failed") ? "response.failed"
         : "response.completed";
    return ev(b, name, "{s:O}", "response", r);
}

int llmgw_rb_fail(llmgw_rb_t *b, const char *code, const char *message,
                  const char *param, const char *type)
{
    json_t *r;
    int rv;

    if (b->ended || llmgw_rb_start(b)) {
        return -1;
    }
    b->ended = 1;
    if (message == NULL) {
        message = "error";
    }
    /* As OpenAI streams a failure: the `error` event (its nested `error`
     * is what the SDKs raise from), then response.failed. */
    if (ev(b, "error", "{s:s?,s:s,s:s?,s:{s:s?,s:s?,s:s,s:s?}}",
           "code", code, "message", message, "param", param, "error",
           "type", type, "code", code, "message", message, "param", param)) {
        return -1;
    }
    if (b->emit == NULL) {
        return 0;
    }
    r = snapshot(b, "failed");
    json_object_set_new(r, "error", json_pack("{s:s,s:s}", "code",
                                              code ? code : "server_error",
                                              "message", message));
    rv = ev(b, "response.failed", "{s:O}", "response", r);
    json_decref(r);
    return rv;
}

json_t *llmgw_rb_response(llmgw_rb_t *b)
{
    return b->response;
}
