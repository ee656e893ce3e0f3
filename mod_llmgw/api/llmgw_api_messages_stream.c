/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The Messages event stream of llmgw_api_messages:
 *  - the writer: chat.completion.chunk data in, Anthropic's events out
 *    (message_start, content_block_start/_delta/_stop per block,
 *    message_delta with the stop reason and the usage, message_stop);
 *  - reduce: a Messages SSE stream -> its answer, applying every event as
 *    the Anthropic SDKs' accumulators do (recorded streams and ours);
 *  - expand: an answer -> the complete event stream.
 * The three build their events with the same constructors below. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "llmgw_api_messages.h"
#include "llmgw_buf.h"
#include "llmgw_num.h"
#include "llmgw_sse.h"

/* ------------------------------------------------------------------ */
/* events                                                              */
/* ------------------------------------------------------------------ */

/* message (stolen) as message_start: its content emptied, no stop yet. */
static json_t *ev_message_start(json_t *message)
{
    json_object_set_new(message, "content", json_array());
    json_object_set_new(message, "stop_reason", json_null());
    json_object_set_new(message, "stop_sequence", json_null());
    return json_pack("{s:s, s:o}", "type", "message_start",
                     "message", message);
}

static json_t *ev_block_start(apr_size_t index, json_t *block)
{
    return json_pack("{s:s, s:I, s:o}", "type", "content_block_start",
                     "index", (json_int_t)index, "content_block", block);
}

static json_t *ev_block_delta(apr_size_t index, json_t *delta)
{
    return json_pack("{s:s, s:I, s:o}", "type", "content_block_delta",
                     "index", (json_int_t)index, "delta", delta);
}

static json_t *ev_block_stop(apr_size_t index)
{
    return json_pack("{s:s, s:I}", "type", "content_block_stop",
                     "index", (json_int_t)index);
}

/* delta (stolen): {stop_reason, stop_sequence}; usage stolen. */
static json_t *ev_message_delta(json_t *delta, json_t *usage)
{
    return json_pack("{s:s, s:o, s:o}", "type", "message_delta",
                     "delta", delta, "usage", usage);
}

static int emit_ev(const char *name, json_t *ev, llmgw_event_emit_fn emit,
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
    json_t *message;

    if (s->started) {
        return 0;
    }
    s->started = 1;
    message = json_pack("{s:s, s:s, s:s, s:s, s:{s:i, s:i}}",
                        "id", s->c && s->c->id ? s->c->id : "",
                        "type", "message", "role", "assistant",
                        "model", s->c && s->c->model ? s->c->model : "",
                        "usage", "input_tokens", 0, "output_tokens", 0);
    return emit_ev("message_start", ev_message_start(message), emit, baton);
}

static int close_open(llmgw_api_stream_t *s, llmgw_event_emit_fn emit,
                      void *baton)
{
    int open = s->open;

    if (open < 0) {
        return 0;
    }
    s->open = -1;
    return emit_ev("content_block_stop", ev_block_stop((apr_size_t)open),
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
    if (emit_ev("content_block_start",
                ev_block_start((apr_size_t)s->open, start), emit, baton)) {
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

    if (k < 0 || APR_ARRAY_IDX(s->blocks, k, block_t).type != type) {
        if ((k = open_block(s, type, 0, NULL, NULL, emit, baton)) < 0) {
            return -1;
        }
    }
    b = &APR_ARRAY_IDX(s->blocks, k, block_t);
    llmgw_buf_append(&b->buf, json_string_value(t), json_string_length(t));
    return emit_ev("content_block_delta",
                   ev_block_delta((apr_size_t)k, type == BK_TEXT
                       ? json_pack("{s:s, s:O}", "type", "text_delta",
                                   "text", t)
                       : json_pack("{s:s, s:O}", "type", "thinking_delta",
                                   "thinking", t)),
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
    return emit_ev("content_block_delta",
                   ev_block_delta((apr_size_t)k,
                                  json_pack("{s:s, s:O}", "type",
                                            "input_json_delta",
                                            "partial_json", args)),
                   emit, baton);
}

static int is_text(const json_t *t)
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

    if (is_text(json_object_get(d, "reasoning_content"))
        && add_text(s, BK_THINKING, json_object_get(d, "reasoning_content"),
                    emit, baton)) {
        return -1;
    }
    if (is_text(json_object_get(d, "content"))
        && add_text(s, BK_TEXT, json_object_get(d, "content"), emit, baton)) {
        return -1;
    }
    /* a refusal is what the model said */
    if (is_text(json_object_get(d, "refusal"))
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
    j = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
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
    if (emit_ev("message_delta",
                ev_message_delta(delta, llmgw_msg_usage(s->usage)),
                emit, baton)
        || emit_ev("message_stop", json_pack("{s:s}", "type", "message_stop"),
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
    return emit_ev("error", llmgw_msg_error_event(e), emit, baton);
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

/* ------------------------------------------------------------------ */
/* reduce: a Messages SSE stream -> its answer                         */
/* ------------------------------------------------------------------ */

/* The longest prefix of an incomplete JSON text that is a value once its
 * open containers are closed (incomplete strings, numbers and keys left
 * out), as the SDKs' partial JSON parsers read a tool input cut by
 * max_tokens. New reference, or NULL. */
static json_t *partial_json(apr_pool_t *p, const char *s, apr_size_t n)
{
    char *stack = apr_palloc(p, n + 1);     /* '{' or '[' */
    char *state = apr_palloc(p, n + 1);     /* 0 key, 1 colon, 2 value,
                                             * 3 after a value */
    apr_size_t i = 0, depth = 0, cut = 0, cut_depth = 0, k;
    char *txt;

#define VALUE_DONE(pos) do {                                \
        if (depth > 0) { state[depth - 1] = 3; }            \
        cut = (pos); cut_depth = depth;                     \
    } while (0)

    while (i < n) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            i++;
        }
        else if (c == '{' || c == '[') {
            stack[depth] = c;
            state[depth] = c == '{' ? 0 : 2;
            depth++;
            i++;
            cut = i;
            cut_depth = depth;
        }
        else if (c == '}' || c == ']') {
            if (depth == 0) {
                break;
            }
            depth--;
            i++;
            VALUE_DONE(i);
        }
        else if (c == ':') {
            if (depth > 0) {
                state[depth - 1] = 2;
            }
            i++;
        }
        else if (c == ',') {
            if (depth > 0) {
                state[depth - 1] = stack[depth - 1] == '{' ? 0 : 2;
            }
            i++;
        }
        else if (c == '"') {
            apr_size_t e = i + 1;
            while (e < n && s[e] != '"') {
                e += s[e] == '\\' ? 2 : 1;
            }
            if (e >= n) {
                break;                      /* an incomplete string */
            }
            i = e + 1;
            if (depth > 0 && stack[depth - 1] == '{'
                && state[depth - 1] == 0) {
                state[depth - 1] = 1;       /* a key */
            }
            else {
                VALUE_DONE(i);
            }
        }
        else {
            apr_size_t e = i;
            while (e < n && strchr("0123456789+-.eEtrufalsn", s[e])) {
                e++;
            }
            if (e == i || e >= n) {
                break;                      /* junk, or cut short */
            }
            i = e;
            VALUE_DONE(i);
        }
    }
#undef VALUE_DONE
    if (cut == 0) {
        return NULL;
    }
    txt = apr_palloc(p, cut + cut_depth + 1);
    memcpy(txt, s, cut);
    for (k = 0; k < cut_depth; k++) {
        txt[cut + k] = stack[cut_depth - 1 - k] == '{' ? '}' : ']';
    }
    return json_loadb(txt, cut + cut_depth, JSON_ALLOW_NUL, NULL);
}

/* A block being accumulated: the block object (in the message's content)
 * and its text, thinking or input JSON so far. */
typedef struct {
    json_t *block;              /* borrowed from the content array */
    llmgw_buf_t text;           /* "text" or "thinking" */
    const char *text_key;       /* NULL when neither */
    llmgw_buf_t json;           /* input_json_delta */
    int has_json;
} acc_t;

static acc_t *acc_at(apr_array_header_t *accs, const json_t *ev)
{
    const json_t *ix = json_object_get(ev, "index");
    json_int_t i = json_is_integer(ix) ? json_integer_value(ix) : -1;

    if (i < 0 || i >= accs->nelts) {
        return NULL;
    }
    return &APR_ARRAY_IDX(accs, i, acc_t);
}

static int on_block_start(apr_pool_t *p, apr_array_header_t *accs,
                          json_t *content, const json_t *ev)
{
    const json_t *ix = json_object_get(ev, "index");
    const json_t *cb = json_object_get(ev, "content_block");
    const char *type = llmgw_msg_jstr(cb, "type");
    json_int_t i = json_is_integer(ix) ? json_integer_value(ix) : -1;
    json_t *block;
    acc_t *a;

    if (!json_is_object(cb) || i < 0 || i > accs->nelts) {
        return -1;
    }
    block = json_deep_copy(cb);
    if (i == accs->nelts) {
        json_array_append_new(content, block);
        a = apr_array_push(accs);
    }
    else {
        json_array_set_new(content, (size_t)i, block);
        a = &APR_ARRAY_IDX(accs, i, acc_t);
    }
    memset(a, 0, sizeof(*a));
    a->block = block;
    llmgw_buf_init(&a->text, p, 0);
    llmgw_buf_init(&a->json, p, 0);
    a->text_key = type == NULL ? NULL
                : !strcmp(type, "text") ? "text"
                : !strcmp(type, "thinking") ? "thinking" : NULL;
    if (a->text_key != NULL) {
        const json_t *t = json_object_get(block, a->text_key);
        if (json_is_string(t)) {
            llmgw_buf_append(&a->text, json_string_value(t),
                             json_string_length(t));
        }
    }
    return 0;
}

static int on_block_delta(apr_array_header_t *accs, const json_t *ev)
{
    acc_t *a = acc_at(accs, ev);
    const json_t *d = json_object_get(ev, "delta");
    const char *type = llmgw_msg_jstr(d, "type");
    const json_t *v;

    if (a == NULL || type == NULL) {
        return -1;
    }
    if (!strcmp(type, "text_delta") || !strcmp(type, "thinking_delta")) {
        v = json_object_get(d, !strcmp(type, "text_delta") ? "text"
                                                           : "thinking");
        if (a->text_key == NULL || !json_is_string(v)) {
            return -1;
        }
        llmgw_buf_append(&a->text, json_string_value(v),
                         json_string_length(v));
    }
    else if (!strcmp(type, "input_json_delta")) {
        v = json_object_get(d, "partial_json");
        if (!json_is_string(v)) {
            return -1;
        }
        llmgw_buf_append(&a->json, json_string_value(v),
                         json_string_length(v));
        a->has_json = 1;
    }
    else if (!strcmp(type, "signature_delta")) {
        v = json_object_get(d, "signature");
        if (!json_is_string(v)) {
            return -1;
        }
        json_object_set(a->block, "signature", (json_t *)v);
    }
    else if (!strcmp(type, "citations_delta")) {
        json_t *cites = json_object_get(a->block, "citations");
        if (!json_is_array(cites)) {
            cites = json_array();
            json_object_set_new(a->block, "citations", cites);
        }
        json_array_append(cites, json_object_get(d, "citation"));
    }
    /* other deltas (newer block types): the block stays as it started */
    return 0;
}

/* The accumulated texts and inputs into their blocks. */
static void finish_blocks(apr_pool_t *p, apr_array_header_t *accs)
{
    int k;

    for (k = 0; k < accs->nelts; k++) {
        acc_t *a = &APR_ARRAY_IDX(accs, k, acc_t);
        if (a->text_key != NULL) {
            json_object_set_new(a->block, a->text_key,
                                json_stringn(a->text.len ? a->text.data : "",
                                             a->text.len));
        }
        if (a->has_json && a->json.len > 0) {
            json_t *in = json_loadb(a->json.data, a->json.len,
                                    JSON_ALLOW_NUL, NULL);
            if (in == NULL) {
                in = partial_json(p, a->json.data, a->json.len);
            }
            json_object_set_new(a->block, "input", in ? in : json_object());
        }
    }
}

/* Every member of from that is not null into to. */
static void merge(json_t *to, const json_t *from)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)from, k, v) {
        if (!json_is_null(v)) {
            json_object_set(to, k, v);
        }
    }
}

int llmgw_msg_reduce(apr_pool_t *p, const char *sse, apr_size_t len,
                     const char **out, apr_size_t *out_len)
{
    apr_array_header_t *evs = llmgw_sse_parse_all(p, sse, len);
    apr_array_header_t *accs = apr_array_make(p, 4, sizeof(acc_t));
    json_t *msg = NULL;
    int i, rv = -1, stopped = 0;
    char *txt;

    for (i = 0; evs != NULL && i < evs->nelts && !stopped; i++) {
        const llmgw_sse_event_t *x = &APR_ARRAY_IDX(evs, i, llmgw_sse_event_t);
        json_t *ev;
        const char *type;
        int bad = 0;

        if (x->event != NULL && !strcmp(x->event, "ping")) {
            continue;
        }
        ev = json_loadb(x->data, x->len, JSON_ALLOW_NUL, NULL);
        type = llmgw_msg_jstr(ev, "type");
        if (type == NULL) {
            type = x->event;
        }
        if (!json_is_object(ev) || type == NULL || !strcmp(type, "error")
            || (msg == NULL && strcmp(type, "message_start")
                && strcmp(type, "ping"))) {
            bad = 1;        /* a failed stream has no answer */
        }
        else if (!strcmp(type, "message_start")) {
            const json_t *m = json_object_get(ev, "message");
            if (msg != NULL || !json_is_object(m)) {
                bad = 1;
            }
            else {
                msg = json_deep_copy(m);
                json_object_set_new(msg, "content", json_array());
                if (!json_is_object(json_object_get(msg, "usage"))) {
                    json_object_set_new(msg, "usage", json_object());
                }
            }
        }
        else if (!strcmp(type, "content_block_start")) {
            bad = on_block_start(p, accs, json_object_get(msg, "content"),
                                 ev);
        }
        else if (!strcmp(type, "content_block_delta")) {
            bad = on_block_delta(accs, ev);
        }
        else if (!strcmp(type, "message_delta")) {
            const json_t *d = json_object_get(ev, "delta");
            const json_t *u = json_object_get(ev, "usage");
            if (json_is_object(d)) {
                const char *k;
                json_t *v;
                json_object_foreach((json_t *)d, k, v) {
                    json_object_set(msg, k, v);     /* stop_reason: null too */
                }
            }
            if (json_is_object(u)) {
                merge(json_object_get(msg, "usage"), u);
            }
        }
        else if (!strcmp(type, "message_stop")) {
            stopped = 1;
        }
        /* ping, content_block_stop, unknown events: nothing to apply */
        json_decref(ev);
        if (bad) {
            json_decref(msg);
            return -1;
        }
    }
    if (msg != NULL && stopped) {
        finish_blocks(p, accs);
        txt = llmgw_json_dumps(msg, JSON_COMPACT);
        if (txt != NULL) {
            *out_len = strlen(txt);
            *out = apr_pstrmemdup(p, txt, *out_len);
            free(txt);
            rv = 0;
        }
    }
    json_decref(msg);
    return rv;
}

/* ------------------------------------------------------------------ */
/* expand: an answer -> its event stream                               */
/* ------------------------------------------------------------------ */

static int buf_emit(void *baton, const char *event, const char *data,
                    apr_size_t len)
{
    llmgw_buf_t *b = baton;

    if (event != NULL) {
        llmgw_buf_append(b, "event: ", 7);
        llmgw_buf_append(b, event, strlen(event));
        llmgw_buf_append(b, "\n", 1);
    }
    llmgw_buf_append(b, "data: ", 6);
    llmgw_buf_append(b, data, len);
    llmgw_buf_append(b, "\n\n", 2);
    return 0;
}

/* One block of an answer as start, deltas and stop. */
static int expand_block(llmgw_buf_t *b, apr_size_t i, const json_t *block)
{
    const char *type = llmgw_msg_jstr(block, "type");
    json_t *start = json_deep_copy(block);
    json_t *deltas = json_array();
    const json_t *v, *d;
    size_t k;
    int rv = 0;

    if (type != NULL && (!strcmp(type, "text") || !strcmp(type, "thinking"))) {
        v = json_object_get(block, type);
        if (is_text(v)) {
            json_array_append_new(deltas, !strcmp(type, "text")
                ? json_pack("{s:s, s:O}", "type", "text_delta", "text", v)
                : json_pack("{s:s, s:O}", "type", "thinking_delta",
                            "thinking", v));
        }
        json_object_set_new(start, type, json_string(""));
        v = json_object_get(block, "signature");
        if (!strcmp(type, "thinking") && is_text(v)) {
            json_array_append_new(deltas, json_pack("{s:s, s:O}", "type",
                                  "signature_delta", "signature", v));
            json_object_set_new(start, "signature", json_string(""));
        }
    }
    else if (json_is_object(v = json_object_get(block, "input"))
             && json_object_size(v) > 0) {
        char *js = llmgw_json_dumps(v, JSON_COMPACT);
        if (js == NULL) {
            rv = -1;
        }
        else {
            json_array_append_new(deltas, json_pack("{s:s, s:s}", "type",
                                  "input_json_delta", "partial_json", js));
            free(js);
            json_object_set_new(start, "input", json_object());
        }
    }
    if (rv == 0) {
        rv = emit_ev("content_block_start", ev_block_start(i, start),
                     buf_emit, b);
        start = NULL;
    }
    json_array_foreach(deltas, k, d) {
        if (rv == 0) {
            rv = emit_ev("content_block_delta",
                         ev_block_delta(i, json_incref((json_t *)d)),
                         buf_emit, b);
        }
    }
    json_decref(start);
    json_decref(deltas);
    return rv ? rv : emit_ev("content_block_stop", ev_block_stop(i),
                             buf_emit, b);
}

int llmgw_msg_expand(apr_pool_t *p, const char *json, apr_size_t len,
                     const char **out, apr_size_t *out_len)
{
    json_t *ans = json_loadb(json, len, JSON_ALLOW_NUL, NULL);
    const json_t *content = json_object_get(ans, "content");
    const json_t *usage = json_object_get(ans, "usage");
    const json_t *block;
    json_t *message, *su, *delta;
    llmgw_buf_t b;
    size_t i;
    int rv;

    if (!json_is_object(ans) || !json_is_array(content)) {
        json_decref(ans);
        return -1;
    }
    llmgw_buf_init(&b, p, len * 2 + 512);
    /* message_start: the usage so far (output 0); message_delta: all */
    message = json_deep_copy(ans);
    su = json_is_object(usage) ? json_deep_copy(usage) : json_object();
    json_object_set_new(su, "output_tokens", json_integer(0));
    json_object_set_new(message, "usage", su);
    rv = emit_ev("message_start", ev_message_start(message), buf_emit, &b);
    json_array_foreach(content, i, block) {
        if (rv == 0) {
            rv = expand_block(&b, i, block);
        }
    }
    if (rv == 0) {
        delta = json_pack("{s:O?, s:O?}",
                          "stop_reason", json_object_get(ans, "stop_reason"),
                          "stop_sequence", json_object_get(ans,
                                                           "stop_sequence"));
        rv = emit_ev("message_delta", ev_message_delta(delta,
                     json_is_object(usage) ? json_deep_copy(usage)
                                           : json_object()),
                     buf_emit, &b);
    }
    rv = rv ? rv : emit_ev("message_stop",
                           json_pack("{s:s}", "type", "message_stop"),
                           buf_emit, &b);
    json_decref(ans);
    if (rv) {
        return -1;
    }
    *out = b.data;
    *out_len = b.len;
    return 0;
}
