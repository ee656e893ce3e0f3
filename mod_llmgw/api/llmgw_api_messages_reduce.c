/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The cache's framing conversions of llmgw_api_messages:
 *  - reduce: a Messages SSE stream -> its answer, applying every event as
 *    the Anthropic SDKs' accumulators do (the recorded streams and ours);
 *  - expand: an answer -> the complete event stream, written with the
 *    stream writer's event constructors (llmgw_api_messages_stream.c). */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include "llmgw_api_messages.h"
#include "llmgw_buf.h"
#include "llmgw_num.h"
#include "llmgw_sse.h"

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
        if (llmgw_msg_is_text(v)) {
            json_array_append_new(deltas, !strcmp(type, "text")
                ? json_pack("{s:s, s:O}", "type", "text_delta", "text", v)
                : json_pack("{s:s, s:O}", "type", "thinking_delta",
                            "thinking", v));
        }
        json_object_set_new(start, type, json_string(""));
        v = json_object_get(block, "signature");
        if (!strcmp(type, "thinking") && llmgw_msg_is_text(v)) {
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
        rv = llmgw_msg_emit_ev("content_block_start",
                               llmgw_msg_ev_block_start(i, start),
                               llmgw_api_buf_event, b);
        start = NULL;
    }
    json_array_foreach(deltas, k, d) {
        if (rv == 0) {
            rv = llmgw_msg_emit_ev("content_block_delta",
                                   llmgw_msg_ev_block_delta(i,
                                       json_incref((json_t *)d)),
                                   llmgw_api_buf_event, b);
        }
    }
    json_decref(start);
    json_decref(deltas);
    return rv ? rv : llmgw_msg_emit_ev("content_block_stop",
                                       llmgw_msg_ev_block_stop(i),
                                       llmgw_api_buf_event, b);
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
    rv = llmgw_msg_emit_ev("message_start",
                           llmgw_msg_ev_message_start(message), llmgw_api_buf_event, &b);
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
        rv = llmgw_msg_emit_ev("message_delta",
                               llmgw_msg_ev_message_delta(delta,
                                   json_is_object(usage)
                                   ? json_deep_copy(usage) : json_object()),
                               llmgw_api_buf_event, &b);
    }
    rv = rv ? rv : llmgw_msg_emit_ev("message_stop",
                                     json_pack("{s:s}", "type",
                                               "message_stop"),
                                     llmgw_api_buf_event, &b);
    json_decref(ans);
    if (rv) {
        return -1;
    }
    *out = b.data;
    *out_len = b.len;
    return 0;
}
