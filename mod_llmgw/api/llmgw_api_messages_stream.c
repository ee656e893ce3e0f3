/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The Messages event stream of llmgw_api_messages: chat.completion.chunk
 * data in, Anthropic's events out (message_start, content_block_start/
 * _delta/_stop per block, message_delta with the stop reason and the usage,
 * message_stop), and the event constructors that expand
 * (llmgw_api_messages_reduce.c) writes its streams with too. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "llmgw_api_messages.h"
#include "llmgw_buf.h"
#include "llmgw_num.h"
#include "llmgw_json_scan.h"

/* ------------------------------------------------------------------ */
/* events                                                              */
/* ------------------------------------------------------------------ */

/* message (stolen) as message_start: its content emptied, no stop yet. */
json_t *llmgw_msg_ev_message_start(json_t *message)
{
    json_object_set_new(message, "content", json_array());
    json_object_set_new(message, "stop_reason", json_null());
    json_object_set_new(message, "stop_sequence", json_null());
    return json_pack("{s:s, s:o}", "type", "message_start",
                     "message", message);
}

json_t *llmgw_msg_ev_block_start(apr_size_t index, json_t *block)
{
    return json_pack("{s:s, s:I, s:o}", "type", "content_block_start",
                     "index", (json_int_t)index, "content_block", block);
}

json_t *llmgw_msg_ev_block_delta(apr_size_t index, json_t *delta)
{
    return json_pack("{s:s, s:I, s:o}", "type", "content_block_delta",
                     "index", (json_int_t)index, "delta", delta);
}

json_t *llmgw_msg_ev_block_stop(apr_size_t index)
{
    return json_pack("{s:s, s:I}", "type", "content_block_stop",
                     "index", (json_int_t)index);
}

/* delta (stolen): {stop_reason, stop_sequence}; usage stolen. */
json_t *llmgw_msg_ev_message_delta(json_t *delta, json_t *usage)
{
    return json_pack("{s:s, s:o, s:o}", "type", "message_delta",
                     "delta", delta, "usage", usage);
}

int llmgw_msg_emit_ev(const char *name, json_t *ev, llmgw_event_emit_fn emit,
                      void *baton)
{
    return llmgw_api_emit_json(name, ev, emit, baton) ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* the writer: chat chunks -> Messages events                          */
/* ------------------------------------------------------------------ */

typedef enum { BK_TEXT = 1, BK_THINKING, BK_TOOL } bk_e;

typedef struct {
    bk_e type;
    json_int_t tool;            /* the chat tool call index (BK_TOOL) */
    const char *id;
    const char *name;
    llmgw_buf_t buf;            /* text, thinking or arguments so far */
} block_t;

struct llmgw_api_stream {
    apr_pool_t *p;
    const llmgw_api_ctx_t *c;
    int started;                /* message_start written */
    int ended;                  /* message_stop written */
    int failed;                 /* an error event written */
    int open;                   /* the open block, or -1 */
    apr_array_header_t *blocks; /* block_t */
    const char *finish;         /* chat finish_reason */
    json_t *usage;              /* the chat usage, when it came */
};

static apr_status_t release_usage(void *data)
{
    llmgw_api_stream_t *s = data;
    json_decref(s->usage);
    s->usage = NULL;
    return APR_SUCCESS;
}

llmgw_api_stream_t *llmgw_msg_stream_new(apr_pool_t *p,
                                         const llmgw_api_ctx_t *c)
{
    llmgw_api_stream_t *s = apr_pcalloc(p, sizeof(*s));
    s->p = p;
    s->c = c;
    s->open = -1;
    s->blocks = apr_array_make(p, 4, sizeof(block_t));
    apr_pool_cleanup_register(p, s, release_usage, apr_pool_cleanup_null);
    return s;
}

static int ensure_started(llmgw_api_stream_t *s, llmgw_event_emit_fn emit,
                          void *baton)
{
    json_t *message, *usage;

    if (s->started) {
        return 0;
    }
    s->started = 1;
    /* the input as soon as known (usage usually comes last: 0), no output
     * yet */
    usage = llmgw_msg_usage(s->usage);
    json_object_set_new(usage, "output_tokens", json_integer(0));
    message = json_pack("{s:s, s:s, s:s, s:s, s:o}",
                        "id", s->c && s->c->id ? s->c->id : "",
                        "type", "message", "role", "assistant",
                        "model", s->c && s->c->model ? s->c->model : "",
                        "usage", usage);
    return llmgw_msg_emit_ev("message_start",
                             llmgw_msg_ev_message_start(message),
                             emit, baton);
}

static int close_open(llmgw_api_stream_t *s, llmgw_event_emit_fn emit,
                      void *baton)
{
    int open = s->open;

    if (open < 0) {
        return 0;
    }
    s->open = -1;
    return llmgw_msg_emit_ev("content_block_stop",
                             llmgw_msg_ev_block_stop((apr_size_t)open),
                             emit, baton);
}

/* Opens a new block (closing the one open): its index. */
static int open_block(llmgw_api_stream_t *s, bk_e type, json_int_t tool,
                      const char *id, const char *name,
                      llmgw_event_emit_fn emit, void *baton)
{
    block_t *b;
    json_t *start;

    if (close_open(s, emit, baton)) {
        return -1;
    }
    b = apr_array_push(s->blocks);
    memset(b, 0, sizeof(*b));
    b->type = type;
    b->tool = tool;
    b->id = apr_pstrdup(s->p, id ? id : "");
    b->name = apr_pstrdup(s->p, name ? name : "");
    llmgw_buf_init(&b->buf, s->p, 0);
    s->open = s->blocks->nelts - 1;
    start = type == BK_TEXT
          ? json_pack("{s:s, s:s}", "type", "text", "text", "")
          : type == BK_THINKING
          ? json_pack("{s:s, s:s, s:s}", "type", "thinking", "thinking", "",
                      "signature", "")
          : json_pack("{s:s, s:s, s:s, s:{}}", "type", "tool_use",
                      "id", b->id, "name", b->name, "input");
    if (llmgw_msg_emit_ev("content_block_start",
                          llmgw_msg_ev_block_start((apr_size_t)s->open,
                                                   start), emit, baton)) {
        return -1;
    }
    return s->open;
}

/* Text or thinking t (a non-empty string) into the open block of that
 * type, or a new one. */
static int add_text(llmgw_api_stream_t *s, bk_e type, const json_t *t,
                    llmgw_event_emit_fn emit, void *baton)
{
    int k = s->open;
    block_t *b;
    json_t *delta;

    if (k < 0 || APR_ARRAY_IDX(s->blocks, k, block_t).type != type) {
        if ((k = open_block(s, type, 0, NULL, NULL, emit, baton)) < 0) {
            return -1;
        }
    }
    b = &APR_ARRAY_IDX(s->blocks, k, block_t);
    llmgw_buf_append(&b->buf, json_string_value(t), json_string_length(t));
    delta = type == BK_TEXT
          ? json_pack("{s:s, s:O}", "type", "text_delta", "text", t)
          : json_pack("{s:s, s:O}", "type", "thinking_delta", "thinking", t);
    return llmgw_msg_emit_ev("content_block_delta",
                             llmgw_msg_ev_block_delta((apr_size_t)k, delta),
                             emit, baton);
}

/* One tool_calls entry: a new tool_use block per call index, its
 * arguments as input_json_delta. */
static int add_tool(llmgw_api_stream_t *s, const json_t *tc, size_t pos,
                    llmgw_event_emit_fn emit, void *baton)
{
    const json_t *ix = json_object_get(tc, "index");
    const json_t *fn = json_object_get(tc, "function");
    const json_t *args = json_object_get(fn, "arguments");
    json_int_t idx = json_is_integer(ix) ? json_integer_value(ix)
                                         : (json_int_t)pos;
    int k;
    block_t *b;

    for (k = s->blocks->nelts - 1; k >= 0; k--) {
        b = &APR_ARRAY_IDX(s->blocks, k, block_t);
        if (b->type == BK_TOOL && b->tool == idx) {
            break;
        }
    }
    if (k < 0) {
        k = open_block(s, BK_TOOL, idx, llmgw_msg_jstr(tc, "id"),
                       llmgw_msg_jstr(fn, "name"), emit, baton);
        if (k < 0) {
            return -1;
        }
    }
    if (!json_is_string(args) || json_string_length(args) == 0) {
        return 0;
    }
    b = &APR_ARRAY_IDX(s->blocks, k, block_t);
    llmgw_buf_append(&b->buf, json_string_value(args),
                     json_string_length(args));
    return llmgw_msg_emit_ev("content_block_delta",
                             llmgw_msg_ev_block_delta((apr_size_t)k,
                                 json_pack("{s:s, s:O}", "type",
                                           "input_json_delta",
                                           "partial_json", args)),
                             emit, baton);
}

int llmgw_msg_is_text(const json_t *t)
{
    return json_is_string(t) && json_string_length(t) > 0;
}

static int on_choice(llmgw_api_stream_t *s, const json_t *ch,
                     llmgw_event_emit_fn emit, void *baton)
{
    const json_t *d = json_object_get(ch, "delta");
    const json_t *fr = json_object_get(ch, "finish_reason");
    const json_t *calls = json_object_get(d, "tool_calls");
    const json_t *tc;
    size_t i;

    if (llmgw_msg_is_text(json_object_get(d, "reasoning_content"))
        && add_text(s, BK_THINKING, json_object_get(d, "reasoning_content"),
                    emit, baton)) {
        return -1;
    }
    if (llmgw_msg_is_text(json_object_get(d, "content"))
        && add_text(s, BK_TEXT, json_object_get(d, "content"), emit, baton)) {
        return -1;
    }
    /* a refusal is what the model said */
    if (llmgw_msg_is_text(json_object_get(d, "refusal"))
        && add_text(s, BK_TEXT, json_object_get(d, "refusal"), emit, baton)) {
        return -1;
    }
    json_array_foreach(calls, i, tc) {
        if (add_tool(s, tc, i, emit, baton)) {
            return -1;
        }
    }
    if (json_is_string(fr)) {
        s->finish = apr_pstrdup(s->p, json_string_value(fr));
    }
    return 0;
}

int llmgw_msg_stream_chunk(llmgw_api_stream_t *s, const char *data,
                           apr_size_t len, llmgw_event_emit_fn emit,
                           void *baton)
{
    json_t *j;
    const json_t *choices, *usage, *ch;
    size_t i;
    int rv = 0;

    if (s->ended || s->failed) {
        return -1;
    }
    j = llmgw_json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    choices = json_object_get(j, "choices");
    usage = json_object_get(j, "usage");
    if (!json_is_object(j)
        || (json_object_get(j, "error") != NULL
            && !json_is_null(json_object_get(j, "error")))
        || (!json_is_array(choices) && !json_is_object(usage))) {
        json_decref(j);
        return -1;
    }
    if (json_is_object(usage)) {
        json_decref(s->usage);
        s->usage = json_incref((json_t *)usage);
    }
    rv = ensure_started(s, emit, baton);
    json_array_foreach(choices, i, ch) {
        const json_t *ix = json_object_get(ch, "index");
        if (rv) {
            break;
        }
        /* one answer: the first choice (n > 1 has no Messages form) */
        if (json_is_integer(ix) && json_integer_value(ix) != 0) {
            continue;
        }
        rv = on_choice(s, ch, emit, baton);
    }
    json_decref(j);
    return rv;
}

int llmgw_msg_stream_end(llmgw_api_stream_t *s, llmgw_event_emit_fn emit,
                         void *baton)
{
    json_t *delta;

    if (s->ended || s->failed) {
        return -1;
    }
    if (ensure_started(s, emit, baton)) {
        return -1;
    }
    if (s->blocks->nelts == 0) {
        /* an answer has a block: an empty text, as from_chat writes it */
        if (open_block(s, BK_TEXT, 0, NULL, NULL, emit, baton) < 0) {
            return -1;
        }
    }
    if (close_open(s, emit, baton)) {
        return -1;
    }
    delta = json_pack("{s:s, s:n}", "stop_reason",
                      llmgw_msg_stop_reason(s->finish), "stop_sequence");
    if (llmgw_msg_emit_ev("message_delta",
                          llmgw_msg_ev_message_delta(delta,
                              llmgw_msg_usage(s->usage)),
                          emit, baton)
        || llmgw_msg_emit_ev("message_stop",
                             json_pack("{s:s}", "type", "message_stop"),
                             emit, baton)) {
        return -1;
    }
    s->ended = 1;
    return 0;
}

int llmgw_msg_stream_error(llmgw_api_stream_t *s, const llmgw_error_t *e,
                           llmgw_event_emit_fn emit, void *baton)
{
    s->failed = 1;
    return llmgw_msg_emit_ev("error", llmgw_msg_error_event(e), emit, baton);
}

json_t *llmgw_msg_stream_result(llmgw_api_stream_t *s)
{
    json_t *content;
    int k;

    if (!s->ended || s->failed) {
        return NULL;
    }
    content = json_array();
    for (k = 0; k < s->blocks->nelts; k++) {
        const block_t *b = &APR_ARRAY_IDX(s->blocks, k, block_t);
        const char *txt = b->buf.len ? b->buf.data : "";
        json_t *input, *args;

        switch (b->type) {
        case BK_TEXT:
            json_array_append_new(content, json_pack("{s:s, s:s%}", "type",
                                  "text", "text", txt, b->buf.len));
            break;
        case BK_THINKING:
            json_array_append_new(content, json_pack("{s:s, s:s%, s:s}",
                                  "type", "thinking", "thinking", txt,
                                  b->buf.len, "signature", ""));
            break;
        case BK_TOOL:
            args = json_stringn(txt, b->buf.len);
            input = llmgw_msg_tool_input(args);
            json_decref(args);
            if (input == NULL) {
                json_decref(content);
                return NULL;
            }
            json_array_append_new(content, json_pack("{s:s, s:s, s:s, s:o}",
                                  "type", "tool_use", "id", b->id,
                                  "name", b->name, "input", input));
            break;
        }
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:n, s:o}",
                     "id", s->c && s->c->id ? s->c->id : "",
                     "type", "message", "role", "assistant",
                     "model", s->c && s->c->model ? s->c->model : "",
                     "content", content,
                     "stop_reason", llmgw_msg_stop_reason(s->finish),
                     "stop_sequence",
                     "usage", llmgw_msg_usage(s->usage));
}
