/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The Anthropic Messages API (POST messages) on the gateway's Chat
 * Completions core: the adapter's table, Anthropic's error shape and the
 * chat.completion -> Messages answer conversion. The request is in
 * llmgw_api_messages_request.c, the streams and the cache's framing
 * conversions in llmgw_api_messages_stream.c. */
#include <string.h>
#include <apr_strings.h>
#include "llmgw_api_messages.h"
#include "llmgw_buf.h"
#include "llmgw_json_scan.h"
#include "llmgw_num.h"

const char *llmgw_msg_jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *llmgw_msg_stop_reason(const char *finish)
{
    if (finish == NULL) {
        return "end_turn";
    }
    if (!strcmp(finish, "length")) {
        return "max_tokens";
    }
    if (!strcmp(finish, "tool_calls") || !strcmp(finish, "function_call")) {
        return "tool_use";
    }
    if (!strcmp(finish, "content_filter")) {
        return "refusal";
    }
    return "end_turn";
}

json_int_t llmgw_msg_input_tokens(json_int_t prompt, int has_cached,
                                  json_int_t cached)
{
    if (has_cached) {
        return prompt > cached ? prompt - cached : 0;
    }
    return prompt;
}

json_t *llmgw_msg_usage(const json_t *u)
{
    const json_t *pt = json_object_get(u, "prompt_tokens");
    const json_t *ct = json_object_get(u, "completion_tokens");
    const json_t *cached = json_object_get(json_object_get(u,
                                           "prompt_tokens_details"),
                                           "cached_tokens");
    json_int_t in = json_is_integer(pt) ? json_integer_value(pt) : 0;
    json_int_t out = json_is_integer(ct) ? json_integer_value(ct) : 0;
    json_t *usage;

    in = llmgw_msg_input_tokens(in, json_is_integer(cached),
                                json_integer_value(cached));
    usage = json_pack("{s:I, s:I}", "input_tokens", in, "output_tokens", out);
    if (json_is_integer(cached)) {
        json_object_set(usage, "cache_read_input_tokens", (json_t *)cached);
    }
    return usage;
}

const char *llmgw_msg_error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: case 529: return "overloaded_error";
    case 504: return "timeout_error";
    }
    return status >= 500 ? "api_error" : "invalid_request_error";
}

json_t *llmgw_msg_error_event(const llmgw_error_t *e)
{
    return json_pack("{s:s, s:{s:s, s:s}}", "type", "error",
                     "error", "type", llmgw_msg_error_type(e->status),
                     "message", e->message ? e->message : "");
}

/* {"type":"error","error":{"type","message"},"request_id"} */
static json_t *msg_error_body(const llmgw_error_t *e, const char *request_id)
{
    json_t *body = llmgw_msg_error_event(e);

    json_object_set_new(body, "request_id", request_id
                        ? json_string(request_id) : json_null());
    return body;
}

json_t *llmgw_msg_tool_input(const json_t *arguments)
{
    const char *s;
    apr_size_t i, n;
    json_t *input;

    if (arguments == NULL || json_is_null(arguments)) {
        return json_object();
    }
    if (json_is_object(arguments)) {
        return json_deep_copy(arguments);
    }
    if (!json_is_string(arguments)) {
        return NULL;
    }
    s = json_string_value(arguments);
    n = json_string_length(arguments);
    for (i = 0; i < n && s[i] && strchr(" \t\r\n", s[i]); i++) {
    }
    if (i == n) {
        return json_object();
    }
    input = json_loadb(s, n, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(input)) {
        json_decref(input);
        return NULL;
    }
    return input;
}

/* The text of a chat message's content: a string, or the text parts of an
 * array joined (lengths kept: "\u0000" is content); NULL when there is
 * none. New reference. */
static json_t *message_text(apr_pool_t *p, const json_t *content)
{
    llmgw_buf_t b;
    size_t i;
    const json_t *part;

    if (json_is_string(content)) {
        return json_incref((json_t *)content);
    }
    if (!json_is_array(content)) {
        return NULL;
    }
    llmgw_buf_init(&b, p, 0);
    json_array_foreach(content, i, part) {
        const json_t *t = json_object_get(part, "text");
        if (json_is_string(t)) {
            llmgw_buf_append(&b, json_string_value(t), json_string_length(t));
        }
    }
    return json_stringn(b.len ? b.data : "", b.len);
}

/* ------------------------------------------------- the answer, as text */

/* What the answer is written from: spans of the chat.completion's text,
 * read in one validating pass (llmgw_json_object_visit). Keys are compared
 * as written (an escaped spelling of a key is another member, as
 * llmgw_usage_from_text reads them); a repeated key's last value wins, as
 * in a tree. */
typedef enum {
    AT_TOP, AT_CHOICES, AT_CHOICE, AT_MESSAGE, AT_USAGE, AT_DETAILS, AT_CALL,
    AT_FN, AT_LEVELS
} msg_level_e;

typedef struct msg_spans msg_spans_t;

typedef struct {
    msg_spans_t *m;
    msg_level_e at;
} msg_level_t;

struct msg_spans {
    llmgw_jspan_t choices, choice, message, finish, usage;
    llmgw_jspan_t content, reasoning, refusal, calls;
    llmgw_jspan_t pt, ct, details, cached;
    llmgw_jspan_t id, fn, name, args;
    int n;                          /* elements of choices seen */
    msg_level_t level[AT_LEVELS];
};

#define KEY_IS(k, kl, lit) ((kl) == sizeof(lit) - 1 \
                            && !memcmp((k), (lit), sizeof(lit) - 1))

static const llmgw_jspan_t no_span;

/* The baton for an object value's members; entering one forgets what an
 * earlier member of the same key left (the last one wins). */
static void *msg_enter(void *baton, const char *k, apr_size_t kl, int esc)
{
    msg_level_t *l = baton;
    msg_spans_t *m = l->m;
    (void)esc;
    switch (l->at) {
    case AT_TOP:
        if (KEY_IS(k, kl, "usage")) {
            m->pt = m->ct = m->details = m->cached = no_span;
            return &m->level[AT_USAGE];
        }
        return NULL;
    case AT_CHOICES:                /* the first element only */
        return m->n == 0 ? &m->level[AT_CHOICE] : NULL;
    case AT_CHOICE:
        if (KEY_IS(k, kl, "message")) {
            m->content = m->reasoning = m->refusal = m->calls = no_span;
            return &m->level[AT_MESSAGE];
        }
        return NULL;
    case AT_USAGE:
        if (KEY_IS(k, kl, "prompt_tokens_details")) {
            m->cached = no_span;
            return &m->level[AT_DETAILS];
        }
        return NULL;
    case AT_CALL:
        if (KEY_IS(k, kl, "function")) {
            m->name = m->args = no_span;
            return &m->level[AT_FN];
        }
        return NULL;
    default:
        return NULL;
    }
}

static void *msg_enter_array(void *baton, const char *k, apr_size_t kl,
                             int esc)
{
    msg_level_t *l = baton;
    msg_spans_t *m = l->m;
    (void)esc;
    if (l->at == AT_TOP && KEY_IS(k, kl, "choices")) {
        m->n = 0;
        m->choice = m->message = m->finish = no_span;
        m->content = m->reasoning = m->refusal = m->calls = no_span;
        return &m->level[AT_CHOICES];
    }
    return NULL;
}

static int msg_member(void *baton, const char *k, apr_size_t kl, int esc,
                      const llmgw_jspan_t *v)
{
    msg_level_t *l = baton;
    msg_spans_t *m = l->m;
    llmgw_jspan_t *to = NULL;
    (void)esc;
    switch (l->at) {
    case AT_TOP:
        to = KEY_IS(k, kl, "choices") ? &m->choices
           : KEY_IS(k, kl, "usage") ? &m->usage : NULL;
        break;
    case AT_CHOICES:
        to = m->n++ == 0 ? &m->choice : NULL;
        break;
    case AT_CHOICE:
        to = KEY_IS(k, kl, "message") ? &m->message
           : KEY_IS(k, kl, "finish_reason") ? &m->finish : NULL;
        break;
    case AT_MESSAGE:
        to = KEY_IS(k, kl, "content") ? &m->content
           : KEY_IS(k, kl, "reasoning_content") ? &m->reasoning
           : KEY_IS(k, kl, "refusal") ? &m->refusal
           : KEY_IS(k, kl, "tool_calls") ? &m->calls : NULL;
        break;
    case AT_USAGE:
        to = KEY_IS(k, kl, "prompt_tokens") ? &m->pt
           : KEY_IS(k, kl, "completion_tokens") ? &m->ct
           : KEY_IS(k, kl, "prompt_tokens_details") ? &m->details : NULL;
        break;
    case AT_DETAILS:
        to = KEY_IS(k, kl, "cached_tokens") ? &m->cached : NULL;
        break;
    case AT_CALL:
        to = KEY_IS(k, kl, "id") ? &m->id
           : KEY_IS(k, kl, "function") ? &m->fn : NULL;
        break;
    case AT_FN:
        to = KEY_IS(k, kl, "name") ? &m->name
           : KEY_IS(k, kl, "arguments") ? &m->args : NULL;
        break;
    default:
        break;
    }
    if (to) {
        *to = *v;
    }
    return 0;
}

static const llmgw_json_visitor_t msg_visitor = {
    msg_member, msg_enter, msg_enter_array
};

static void msg_spans_init(msg_spans_t *m)
{
    int i;
    memset(m, 0, sizeof(*m));
    for (i = 0; i < AT_LEVELS; i++) {
        m->level[i].m = m;
        m->level[i].at = (msg_level_e)i;
    }
}

/* A JSON integer's value (json_is_integer: no fraction, no exponent);
 * 0 when the span is not one. */
static int span_int(const llmgw_jspan_t *v, json_int_t *out)
{
    char num[32];
    if (!v->p || v->type != LLMGW_JV_NUMBER || v->len >= sizeof(num)
        || memchr(v->p, '.', v->len) || memchr(v->p, 'e', v->len)
        || memchr(v->p, 'E', v->len)) {
        return 0;
    }
    memcpy(num, v->p, v->len);
    num[v->len] = '\0';
    *out = (json_int_t)apr_atoi64(num);
    return 1;
}

static int span_is(const llmgw_jspan_t *v, llmgw_jv_type_e t)
{
    return v->p != NULL && v->type == t;
}

/* A non-empty string span ("" is two bytes of text). */
static int span_text(const llmgw_jspan_t *v)
{
    return span_is(v, LLMGW_JV_STRING) && v->len > 2;
}

static void put_span(llmgw_buf_t *b, const llmgw_jspan_t *v)
{
    llmgw_buf_append(b, v->p, v->len);
}

/* The value a span holds, as a tree (new reference) or NULL. */
static json_t *span_tree(const llmgw_jspan_t *v)
{
    return v->type == LLMGW_JV_OBJECT || v->type == LLMGW_JV_ARRAY
           ? llmgw_json_loadb(v->p, v->len, JSON_ALLOW_NUL, NULL)
           : json_loadb(v->p, v->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* One tool call's tool_use block; -1 when its arguments are not a JSON
 * object (llmgw_msg_tool_input's rule). */
static int put_tool_use(llmgw_buf_t *b, const llmgw_jspan_t *call)
{
    msg_spans_t c;
    json_t *args = NULL, *input;
    char *txt;

    llmgw_jspan_t top;

    msg_spans_init(&c);
    if (call->type == LLMGW_JV_OBJECT) {
        /* validated already: this pass only finds the members */
        llmgw_json_object_visit(call->p, call->len, &top, &msg_visitor,
                                &c.level[AT_CALL]);
    }
    if (!span_is(&c.fn, LLMGW_JV_OBJECT)) {
        c.name = c.args = no_span;
    }
    if (c.args.p && !(args = span_tree(&c.args))) {
        return -1;
    }
    input = llmgw_msg_tool_input(args);
    json_decref(args);
    txt = input ? llmgw_json_dumps(input, JSON_COMPACT) : NULL;
    json_decref(input);
    if (txt == NULL) {
        return -1;
    }
    LLMGW_BUF_LIT(b, "{\"type\":\"tool_use\",\"id\":");
    if (span_is(&c.id, LLMGW_JV_STRING)) {
        put_span(b, &c.id);
    }
    else {
        LLMGW_BUF_LIT(b, "\"\"");
    }
    LLMGW_BUF_LIT(b, ",\"name\":");
    if (span_is(&c.name, LLMGW_JV_STRING)) {
        put_span(b, &c.name);
    }
    else {
        LLMGW_BUF_LIT(b, "\"\"");
    }
    LLMGW_BUF_LIT(b, ",\"input\":");
    llmgw_buf_append(b, txt, strlen(txt));
    LLMGW_BUF_LIT(b, "}");
    free(txt);
    return 0;
}

typedef struct {
    llmgw_buf_t *b;
    int blocks;
    int failed;
} calls_t;

static int each_call(void *baton, const char *k, apr_size_t kl, int esc,
                     const llmgw_jspan_t *v)
{
    calls_t *w = baton;
    (void)k; (void)kl; (void)esc;
    if (w->blocks++) {
        LLMGW_BUF_LIT(w->b, ",");
    }
    if (put_tool_use(w->b, v)) {
        w->failed = 1;
        return 1;
    }
    return 0;
}

/* chat.completion -> {id, type "message", role "assistant", model,
 * content [thinking, text, tool_use...], stop_reason, stop_sequence,
 * usage}, written from the answer's text: its strings are copied as they
 * are escaped. -1 when the answer has no choice or a tool call's arguments
 * are not a JSON object. */
static int msg_from_chat(apr_pool_t *p, const char *chat, apr_size_t len,
                         const llmgw_api_ctx_t *c, const char **out,
                         apr_size_t *out_len)
{
    msg_spans_t m;
    llmgw_jspan_t top;
    llmgw_buf_t b;
    json_t *joined = NULL;
    const char *finish = NULL, *model = c && c->model ? c->model : "";
    const char *id = c && c->id ? c->id : "", *usage;
    json_int_t in = 0, outn = 0, cached = 0;
    int has_cached;
    calls_t w;

    msg_spans_init(&m);
    if (llmgw_json_object_visit(chat, len, &top, &msg_visitor,
                                &m.level[AT_TOP]) != 1
        || !span_is(&m.choices, LLMGW_JV_ARRAY)
        || !span_is(&m.choice, LLMGW_JV_OBJECT)
        || !span_is(&m.message, LLMGW_JV_OBJECT)) {
        return -1;
    }
    if (!span_is(&m.usage, LLMGW_JV_OBJECT)) {
        m.pt = m.ct = m.details = m.cached = no_span;
    }
    else if (!span_is(&m.details, LLMGW_JV_OBJECT)) {
        m.cached = no_span;
    }

    llmgw_buf_init(&b, p, len + 256);
    LLMGW_BUF_LIT(&b, "{\"id\":");
    llmgw_buf_json_string(&b, id, strlen(id));
    LLMGW_BUF_LIT(&b, ",\"type\":\"message\",\"role\":\"assistant\","
                  "\"model\":");
    llmgw_buf_json_string(&b, model, strlen(model));
    LLMGW_BUF_LIT(&b, ",\"content\":[");
    w.b = &b;
    w.blocks = 0;
    w.failed = 0;
    if (span_text(&m.reasoning)) {
        LLMGW_BUF_LIT(&b, "{\"type\":\"thinking\",\"thinking\":");
        put_span(&b, &m.reasoning);
        LLMGW_BUF_LIT(&b, ",\"signature\":\"\"}");
        w.blocks++;
    }
    if (span_is(&m.content, LLMGW_JV_ARRAY)) {
        json_t *parts = span_tree(&m.content);
        joined = message_text(p, parts);
        json_decref(parts);
    }
    if (joined ? json_string_length(joined) > 0 : span_text(&m.content)) {
        if (w.blocks++) {
            LLMGW_BUF_LIT(&b, ",");
        }
        LLMGW_BUF_LIT(&b, "{\"type\":\"text\",\"text\":");
        if (joined) {
            llmgw_buf_json_string(&b, json_string_value(joined),
                                  json_string_length(joined));
        }
        else {
            put_span(&b, &m.content);
        }
        LLMGW_BUF_LIT(&b, "}");
    }
    else if (span_text(&m.refusal)) {   /* a refusal is what the model said */
        if (w.blocks++) {
            LLMGW_BUF_LIT(&b, ",");
        }
        LLMGW_BUF_LIT(&b, "{\"type\":\"text\",\"text\":");
        put_span(&b, &m.refusal);
        LLMGW_BUF_LIT(&b, "}");
    }
    json_decref(joined);
    if (span_is(&m.calls, LLMGW_JV_ARRAY)) {
        llmgw_json_each(&m.calls, each_call, &w);
        if (w.failed) {
            return -1;
        }
    }
    if (w.blocks == 0) {
        LLMGW_BUF_LIT(&b, "{\"type\":\"text\",\"text\":\"\"}");
    }
    if (span_is(&m.finish, LLMGW_JV_STRING) && !m.finish.escaped) {
        finish = apr_pstrmemdup(p, m.finish.p + 1, m.finish.len - 2);
    }
    LLMGW_BUF_LIT(&b, "],\"stop_reason\":\"");
    finish = llmgw_msg_stop_reason(finish);
    llmgw_buf_append(&b, finish, strlen(finish));
    span_int(&m.pt, &in);
    span_int(&m.ct, &outn);
    has_cached = span_int(&m.cached, &cached);
    in = llmgw_msg_input_tokens(in, has_cached, cached);
    LLMGW_BUF_LIT(&b, "\",\"stop_sequence\":null,\"usage\":");
    usage = apr_psprintf(p, has_cached
                         ? "{\"input_tokens\":%" APR_INT64_T_FMT
                           ",\"output_tokens\":%" APR_INT64_T_FMT
                           ",\"cache_read_input_tokens\":%" APR_INT64_T_FMT
                           "}}"
                         : "{\"input_tokens\":%" APR_INT64_T_FMT
                           ",\"output_tokens\":%" APR_INT64_T_FMT "}}",
                         (apr_int64_t)in, (apr_int64_t)outn,
                         (apr_int64_t)cached);
    llmgw_buf_append(&b, usage, strlen(usage));
    *out = b.data;
    *out_len = b.len;
    return 0;
}

const llmgw_client_api_t llmgw_api_messages = {
    LLMGW_API_MESSAGES, "messages",
    NULL, llmgw_msg_to_chat, msg_from_chat,
    llmgw_msg_stream_new, llmgw_msg_stream_chunk, llmgw_msg_stream_end,
    llmgw_msg_stream_error, llmgw_msg_stream_result,
    msg_error_body,
    llmgw_msg_reduce, llmgw_msg_expand
};
