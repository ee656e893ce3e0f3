/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The OpenAI Responses API adapter: the request goes upstream as a Chat
 * Completions request (llmgw_responses_request.c); the chat.completion or
 * its chunks come back as a `response` object or the Responses event
 * sequence, both built by the output builder (llmgw_responses_stream.c).
 * Errors are OpenAI's envelope, which the OpenAI SDKs read. */
#include <stddef.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_buf.h"
#include "llmgw_num.h"
#include "llmgw_sse.h"
#include "llmgw_client_api.h"
#include "llmgw_api_responses.h"
#include "llmgw_responses_private.h"
#include "llmgw_json_scan.h"
#include "llmgw_answer.h"
#include "llmgw_parse.h"

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

/* ------------------------------------------- the request's echoes */

static const struct {
    const char *name;
    apr_size_t len, off;
} echo_fields[] = {
#define E(n) { #n, sizeof(#n) - 1, offsetof(llmgw_api_echo_t, n) }
    E(model), E(input), E(instructions), E(max_output_tokens),
    E(parallel_tool_calls), E(previous_response_id), E(reasoning), E(store),
    E(temperature), E(text), E(tool_choice), E(tools), E(top_p), E(user),
    E(metadata),
#undef E
};

int llmgw_responses_echo_member(void *baton, const char *key,
                                apr_size_t klen, int key_escaped,
                                const llmgw_jspan_t *v)
{
    llmgw_api_echo_t *e = baton;
    apr_size_t i;

    for (i = 0; i < sizeof(echo_fields) / sizeof(echo_fields[0]); i++) {
        if (key_escaped
            ? llmgw_json_key_is(key, klen, 1, echo_fields[i].name)
            : (klen == echo_fields[i].len && key[0] == echo_fields[i].name[0]
               && !memcmp(key, echo_fields[i].name, klen))) {
            *(llmgw_jspan_t *)((char *)e + echo_fields[i].off) = *v;
            return 0;               /* the last one wins, as in jansson */
        }
    }
    return 0;
}

int llmgw_responses_echo_read(const char *text, apr_size_t len,
                              llmgw_api_echo_t *e)
{
    llmgw_jspan_t top;

    memset(e, 0, sizeof(*e));
    if (!text || llmgw_json_object_each(text, len, &top,
                                        llmgw_responses_echo_member, e) != 1) {
        memset(e, 0, sizeof(*e));
        return -1;
    }
    return 0;
}

/* The echoes of c: c->echo, else read from c->request's text (the tree a
 * caller without the text gives), else none. */
static const llmgw_api_echo_t *echo_of(apr_pool_t *p,
                                       const llmgw_api_ctx_t *c)
{
    llmgw_api_echo_t *e = apr_pcalloc(p, sizeof(*e));

    if (c && c->echo) {
        return c->echo;
    }
    if (c && json_is_object(c->request)) {
        llmgw_buf_t b;
        llmgw_buf_init(&b, p, 256);
        if (llmgw_buf_json(&b, c->request) == 0) {
            llmgw_responses_echo_read(b.data, b.len, e);
        }
    }
    return e;
}

/* ------------------------------------------- the answer, from the text */

/* What the answer is written from: spans of the chat.completion's text,
 * read in one validating pass (llmgw_json_object_visit). A repeated member:
 * the last one wins, as in jansson. */
typedef struct {
    llmgw_jspan_t name, args;
} ans_fn_t;

typedef struct {
    llmgw_jspan_t id, fn;
    ans_fn_t f;
} ans_call_t;

typedef struct {
    llmgw_jspan_t content, reasoning, refusal, calls;
} ans_msg_t;

typedef struct {
    llmgw_jspan_t pt, ct, tt, ptd, ctd, cached, rt;
} ans_usage_t;

enum { AV_TOP = 1, AV_CHOICES, AV_CHOICE, AV_MESSAGE, AV_CALLS, AV_CALL,
       AV_FN, AV_USAGE, AV_PTD, AV_CTD };

typedef struct {
    int kind;
    struct ans_pass *ap;
} ans_vb_t;

typedef struct ans_pass {
    llmgw_jspan_t choices, choice, finish, message, usage;
    ans_msg_t m;
    ans_usage_t u;
    int nchoices;
    ans_call_t call;                /* the call being read */
    /* the gateway's check in the same pass (llmgw_answer_check reads
     * only unescaped top-level keys): the last "choices", the usage */
    llmgw_jspan_t chk_choices;
    int has_chk_choices;
    int usage_chk, ptd_chk;         /* the usage being read counts */
    llmgw_usage_t cu;               /* prompt_tokens -2: none */
    apr_array_header_t *list;       /* ans_call_t: the calls read */
    ans_vb_t vb[AV_CTD + 1];        /* the visitor's batons, by kind */
} ans_pass_t;

/* A key as written compared inline (the visitor asks for every member of
 * the answer), an escaped one through llmgw_json_key_is. */
#define AP_KEY(k) (esc ? llmgw_json_key_is(key, klen, esc, k)            \
                       : klen == sizeof(k) - 1                         \
                         && !memcmp(key, k, sizeof(k) - 1))

static void *ans_enter(void *baton, const char *key, apr_size_t klen,
                       int esc)
{
    ans_vb_t *vb = baton;
    ans_pass_t *ap = vb->ap;

    switch (vb->kind) {
    case AV_TOP:
        if (AP_KEY("usage")) {
            memset(&ap->u, 0, sizeof(ap->u));
            ap->usage_chk = !esc;
            if (!esc) {
                llmgw_usage_t fresh = LLMGW_USAGE_INIT;
                ap->cu = fresh;
            }
            return &ap->vb[AV_USAGE];
        }
        return NULL;
    case AV_CHOICES:                /* the first choice only */
        if (ap->nchoices) {
            return NULL;
        }
        memset(&ap->finish, 0, sizeof(ap->finish));
        memset(&ap->message, 0, sizeof(ap->message));
        return &ap->vb[AV_CHOICE];
    case AV_CHOICE:
        if (AP_KEY("message")) {
            memset(&ap->m, 0, sizeof(ap->m));
            apr_array_clear(ap->list);
            return &ap->vb[AV_MESSAGE];
        }
        return NULL;
    case AV_CALLS:
        memset(&ap->call, 0, sizeof(ap->call));
        return &ap->vb[AV_CALL];
    case AV_CALL:
        if (AP_KEY("function")) {
            memset(&ap->call.f, 0, sizeof(ap->call.f));
            return &ap->vb[AV_FN];
        }
        return NULL;
    case AV_USAGE:
        if (AP_KEY("prompt_tokens_details")) {
            memset(&ap->u.cached, 0, sizeof(ap->u.cached));
            ap->ptd_chk = ap->usage_chk && !esc;
            return &ap->vb[AV_PTD];
        }
        if (AP_KEY("completion_tokens_details")) {
            memset(&ap->u.rt, 0, sizeof(ap->u.rt));
            return &ap->vb[AV_CTD];
        }
        return NULL;
    }
    return NULL;
}

static void *ans_enter_array(void *baton, const char *key, apr_size_t klen,
                             int esc)
{
    ans_vb_t *vb = baton;
    ans_pass_t *ap = vb->ap;

    if (vb->kind == AV_TOP && AP_KEY("choices")) {
        ap->nchoices = 0;
        memset(&ap->choice, 0, sizeof(ap->choice));
        return &ap->vb[AV_CHOICES];
    }
    if (vb->kind == AV_MESSAGE && AP_KEY("tool_calls")) {
        apr_array_clear(ap->list);
        return &ap->vb[AV_CALLS];
    }
    return NULL;
}

static int ans_member(void *baton, const char *key, apr_size_t klen,
                      int esc, const llmgw_jspan_t *v)
{
    ans_vb_t *vb = baton;
    ans_pass_t *ap = vb->ap;
    llmgw_jspan_t *to = NULL;

    switch (vb->kind) {
    case AV_TOP:
        if (!esc) {
            if (klen == 7 && !memcmp(key, "choices", 7)) {
                ap->chk_choices = *v;
                ap->has_chk_choices = 1;
            }
            else if (klen == 5 && !memcmp(key, "usage", 5)
                     && v->type != LLMGW_JV_OBJECT) {
                ap->cu.prompt_tokens = -2;  /* the last is not usage */
            }
        }
        to = AP_KEY("choices") ? &ap->choices
           : AP_KEY("usage") ? &ap->usage : NULL;
        break;
    case AV_CHOICES:
        if (ap->nchoices++ == 0) {
            ap->choice = *v;
        }
        return 0;
    case AV_CHOICE:
        to = AP_KEY("message") ? &ap->message
           : AP_KEY("finish_reason") ? &ap->finish : NULL;
        break;
    case AV_MESSAGE:
        to = AP_KEY("content") ? &ap->m.content
           : AP_KEY("reasoning_content") ? &ap->m.reasoning
           : AP_KEY("refusal") ? &ap->m.refusal
           : AP_KEY("tool_calls") ? &ap->m.calls : NULL;
        break;
    case AV_CALLS:                  /* every element is a call (a
                                     * non-object one: all defaults) */
        if (v->type != LLMGW_JV_OBJECT) {
            memset(&ap->call, 0, sizeof(ap->call));
        }
        APR_ARRAY_PUSH(ap->list, ans_call_t) = ap->call;
        memset(&ap->call, 0, sizeof(ap->call));
        return 0;
    case AV_CALL:
        to = AP_KEY("id") ? &ap->call.id
           : AP_KEY("function") ? &ap->call.fn : NULL;
        break;
    case AV_FN:
        to = AP_KEY("name") ? &ap->call.f.name
           : AP_KEY("arguments") ? &ap->call.f.args : NULL;
        break;
    case AV_USAGE:
        if (ap->usage_chk) {
            llmgw_usage_take(&ap->cu, 0, key, klen, esc, v);
        }
        to = AP_KEY("prompt_tokens") ? &ap->u.pt
           : AP_KEY("completion_tokens") ? &ap->u.ct
           : AP_KEY("total_tokens") ? &ap->u.tt
           : AP_KEY("prompt_tokens_details") ? &ap->u.ptd
           : AP_KEY("completion_tokens_details") ? &ap->u.ctd : NULL;
        break;
    case AV_PTD:
        if (ap->ptd_chk) {
            llmgw_usage_take(&ap->cu, 1, key, klen, esc, v);
        }
        to = AP_KEY("cached_tokens") ? &ap->u.cached : NULL;
        break;
    case AV_CTD:
        to = AP_KEY("reasoning_tokens") ? &ap->u.rt : NULL;
        break;
    }
    if (to) {
        *to = *v;
    }
    return 0;
}

static const llmgw_json_visitor_t ans_visitor = {
    ans_member, ans_enter, ans_enter_array
};

static int span_is(const llmgw_jspan_t *v, llmgw_jv_type_e t)
{
    return v->p != NULL && v->type == t;
}

/* A non-empty string span ("" is two bytes of text). */
static int span_text(const llmgw_jspan_t *v)
{
    return span_is(v, LLMGW_JV_STRING) && v->len > 2;
}

/* An integer count (json_is_integer), else 0. */
static apr_int64_t span_count(const llmgw_jspan_t *v, int *is_int)
{
    apr_int64_t n = 0;
    int ok = v->p != NULL && llmgw_json_int(v, &n);
    if (is_int) {
        *is_int = ok;
    }
    return ok ? n : 0;
}

/* A string span's value compared as C strings are (the tree's
 * json_string_value and strcmp). */
static int span_str_is(apr_pool_t *p, const llmgw_jspan_t *v,
                       const char *s)
{
    const char *val;
    if (!span_is(v, LLMGW_JV_STRING)) {
        return 0;
    }
    if (!v->escaped) {
        apr_size_t n = strlen(s);
        return v->len == n + 2 && !memcmp(v->p + 1, s, n);
    }
    val = llmgw_json_string_value(p, v, NULL);
    return val && !strcmp(val, s);
}

/* An item id: PREFIX_TAIL, PREFIX_TAIL_N after the first (the builder's
 * next_id), as a JSON string. */
static void put_item_id(llmgw_buf_t *b, const char *prefix, const char *tail,
                        int n)
{
    llmgw_buf_append(b, "\"", 1);
    llmgw_buf_append(b, prefix, strlen(prefix));
    llmgw_buf_json_escape(b, tail, strlen(tail));
    if (n) {
        llmgw_buf_append(b, "_", 1);
        llmgw_buf_int(b, n);
    }
    llmgw_buf_append(b, "\"", 1);
}

/* The request's member v as OpenAI echoes it (as written, its white
 * space removed), else dflt's text. */
static void put_echo(llmgw_buf_t *b, const llmgw_jspan_t *v, const char *dflt)
{
    if (v->p && v->type != LLMGW_JV_NULL) {
        if (v->type == LLMGW_JV_OBJECT || v->type == LLMGW_JV_ARRAY) {
            llmgw_json_put_compact(b, v);
        }
        else {                      /* a scalar's span has no white space */
            llmgw_buf_append(b, v->p, v->len);
        }
        return;
    }
    llmgw_buf_append(b, dflt, strlen(dflt));
}

/* reasoning's effort and summary (the last of each, keys compared
 * unescaped), when reasoning is an object. */
typedef struct {
    llmgw_jspan_t effort, summary;
} reasoning_t;

static int reasoning_member(void *baton, const char *key, apr_size_t klen,
                            int esc, const llmgw_jspan_t *v)
{
    reasoning_t *rs = baton;
    if (AP_KEY("effort")) {
        rs->effort = *v;
    }
    else if (AP_KEY("summary")) {
        rs->summary = *v;
    }
    return 0;
}

/* The output items of the first choice: reasoning, the message (its text
 * and refusal parts), the function calls, as the output builder makes
 * them of a chat.completion (ids from the response id). */
static void put_output(llmgw_buf_t *b, const ans_pass_t *ap,
                       const char *tail)
{
    int items = 0, i;

    LLMGW_BUF_LIT(b, "[");
    if (span_text(&ap->m.reasoning)) {
        LLMGW_BUF_LIT(b, "{\"id\":");
        put_item_id(b, "rs_", tail, 0);
        LLMGW_BUF_LIT(b, ",\"type\":\"reasoning\",\"summary\":[{\"type\":"
                      "\"summary_text\",\"text\":");
        llmgw_buf_append(b, ap->m.reasoning.p, ap->m.reasoning.len);
        LLMGW_BUF_LIT(b, "}]}");
        items++;
    }
    if (span_text(&ap->m.content) || span_text(&ap->m.refusal)) {
        if (items++) {
            LLMGW_BUF_LIT(b, ",");
        }
        LLMGW_BUF_LIT(b, "{\"id\":");
        put_item_id(b, "msg_", tail, 0);
        LLMGW_BUF_LIT(b, ",\"type\":\"message\",\"status\":\"completed\","
                      "\"content\":[");
        if (span_text(&ap->m.content)) {
            LLMGW_BUF_LIT(b, "{\"type\":\"output_text\",\"text\":");
            llmgw_buf_append(b, ap->m.content.p, ap->m.content.len);
            LLMGW_BUF_LIT(b, ",\"annotations\":[]}");
        }
        if (span_text(&ap->m.refusal)) {
            if (span_text(&ap->m.content)) {
                LLMGW_BUF_LIT(b, ",");
            }
            LLMGW_BUF_LIT(b, "{\"type\":\"refusal\",\"refusal\":");
            llmgw_buf_append(b, ap->m.refusal.p, ap->m.refusal.len);
            LLMGW_BUF_LIT(b, "}");
        }
        LLMGW_BUF_LIT(b, "],\"role\":\"assistant\"}");
    }
    for (i = 0; span_is(&ap->m.calls, LLMGW_JV_ARRAY) && i < ap->list->nelts;
         i++) {
        const ans_call_t *c = &APR_ARRAY_IDX(ap->list, i, ans_call_t);
        int fn = span_is(&c->fn, LLMGW_JV_OBJECT);
        if (items++) {
            LLMGW_BUF_LIT(b, ",");
        }
        LLMGW_BUF_LIT(b, "{\"id\":");
        put_item_id(b, "fc_", tail, i);
        LLMGW_BUF_LIT(b, ",\"type\":\"function_call\",\"status\":"
                      "\"completed\",\"arguments\":");
        if (fn && span_is(&c->f.args, LLMGW_JV_STRING)) {
            llmgw_buf_append(b, c->f.args.p, c->f.args.len);
        }
        else {
            LLMGW_BUF_LIT(b, "\"\"");
        }
        LLMGW_BUF_LIT(b, ",\"call_id\":");
        if (span_is(&c->id, LLMGW_JV_STRING)) {
            llmgw_buf_append(b, c->id.p, c->id.len);
        }
        else {
            put_item_id(b, "call_", tail, i);
        }
        LLMGW_BUF_LIT(b, ",\"name\":");
        if (fn && span_is(&c->f.name, LLMGW_JV_STRING)) {
            llmgw_buf_append(b, c->f.name.p, c->f.name.len);
        }
        else {
            LLMGW_BUF_LIT(b, "\"\"");
        }
        LLMGW_BUF_LIT(b, "}");
    }
    LLMGW_BUF_LIT(b, "]");
}

/* The Responses usage of the Chat one (llmgw_responses_usage). */
static void put_usage(llmgw_buf_t *b, const ans_pass_t *ap)
{
    apr_int64_t in, out, total;
    int has_total;

    if (!span_is(&ap->usage, LLMGW_JV_OBJECT)) {
        LLMGW_BUF_LIT(b, "null");
        return;
    }
    in = span_count(&ap->u.pt, NULL);
    out = span_count(&ap->u.ct, NULL);
    total = span_count(&ap->u.tt, &has_total);
    LLMGW_BUF_LIT(b, "{\"input_tokens\":");
    llmgw_buf_int(b, in);
    LLMGW_BUF_LIT(b, ",\"input_tokens_details\":{\"cached_tokens\":");
    llmgw_buf_int(b, span_is(&ap->u.ptd, LLMGW_JV_OBJECT)
                     ? span_count(&ap->u.cached, NULL) : 0);
    LLMGW_BUF_LIT(b, "},\"output_tokens\":");
    llmgw_buf_int(b, out);
    LLMGW_BUF_LIT(b, ",\"output_tokens_details\":{\"reasoning_tokens\":");
    llmgw_buf_int(b, span_is(&ap->u.ctd, LLMGW_JV_OBJECT)
                     ? span_count(&ap->u.rt, NULL) : 0);
    LLMGW_BUF_LIT(b, "},\"total_tokens\":");
    llmgw_buf_int(b, has_total ? total : in + out);
    LLMGW_BUF_LIT(b, "}");
}

/* The response object: ap NULL writes the skeleton (status in_progress,
 * output [], usage null), else the outcome of the chat.completion read in
 * ap. The model as the client named it, the request's settings echoed
 * from e. */
static void put_response(apr_pool_t *p, llmgw_buf_t *b,
                         const llmgw_api_ctx_t *c, const llmgw_api_echo_t *e,
                         const ans_pass_t *ap, const char *why,
                         const char *tail)
{
    reasoning_t rs;
    const char *id = c && c->id ? c->id : "resp_0";

    LLMGW_BUF_LIT(b, "{\"id\":");
    llmgw_buf_json_cstr(b, id);
    LLMGW_BUF_LIT(b, ",\"object\":\"response\",\"created_at\":");
    llmgw_buf_int(b, c ? c->created : 0);
    if (!ap) {
        LLMGW_BUF_LIT(b, ",\"status\":\"in_progress\",\"background\":"
                      "false,\"error\":null,\"incomplete_details\":null,"
                      "\"instructions\":");
    }
    else if (why) {
        LLMGW_BUF_LIT(b, ",\"status\":\"incomplete\",\"background\":false,"
                      "\"error\":null,\"incomplete_details\":{\"reason\":\"");
        llmgw_buf_append(b, why, strlen(why));
        LLMGW_BUF_LIT(b, "\"},\"instructions\":");
    }
    else {
        LLMGW_BUF_LIT(b, ",\"status\":\"completed\",\"background\":false,"
                      "\"error\":null,\"incomplete_details\":null,"
                      "\"instructions\":");
    }
    put_echo(b, &e->instructions, "null");
    LLMGW_BUF_LIT(b, ",\"max_output_tokens\":");
    put_echo(b, &e->max_output_tokens, "null");
    LLMGW_BUF_LIT(b, ",\"model\":");
    if (c && c->model) {
        llmgw_buf_json_cstr(b, c->model);
    }
    else if (span_is(&e->model, LLMGW_JV_STRING)) {
        /* as a C string (json_string_value): up to a NUL */
        llmgw_buf_json_cstr(b, llmgw_json_string_value(p, &e->model, NULL));
    }
    else {
        LLMGW_BUF_LIT(b, "\"\"");
    }
    LLMGW_BUF_LIT(b, ",\"output\":");
    if (ap) {
        put_output(b, ap, tail);
    }
    else {
        LLMGW_BUF_LIT(b, "[]");
    }
    LLMGW_BUF_LIT(b, ",\"parallel_tool_calls\":");
    put_echo(b, &e->parallel_tool_calls, "true");
    LLMGW_BUF_LIT(b, ",\"previous_response_id\":");
    put_echo(b, &e->previous_response_id, "null");
    memset(&rs, 0, sizeof(rs));
    if (span_is(&e->reasoning, LLMGW_JV_OBJECT)) {
        llmgw_json_each(&e->reasoning, reasoning_member, &rs);
    }
    LLMGW_BUF_LIT(b, ",\"reasoning\":{\"effort\":");
    put_echo(b, &rs.effort, "null");
    LLMGW_BUF_LIT(b, ",\"summary\":");
    put_echo(b, &rs.summary, "null");
    LLMGW_BUF_LIT(b, "},\"store\":");
    put_echo(b, &e->store, "true");
    LLMGW_BUF_LIT(b, ",\"temperature\":");
    put_echo(b, &e->temperature, "null");
    LLMGW_BUF_LIT(b, ",\"text\":");
    put_echo(b, &e->text, "{\"format\":{\"type\":\"text\"}}");
    LLMGW_BUF_LIT(b, ",\"tool_choice\":");
    put_echo(b, &e->tool_choice, "\"auto\"");
    LLMGW_BUF_LIT(b, ",\"tools\":");
    put_echo(b, &e->tools, "[]");
    LLMGW_BUF_LIT(b, ",\"top_p\":");
    put_echo(b, &e->top_p, "null");
    LLMGW_BUF_LIT(b, ",\"truncation\":\"disabled\",\"usage\":");
    if (ap) {
        put_usage(b, ap);
    }
    else {
        LLMGW_BUF_LIT(b, "null");
    }
    LLMGW_BUF_LIT(b, ",\"user\":");
    put_echo(b, &e->user, "null");
    LLMGW_BUF_LIT(b, ",\"metadata\":");
    put_echo(b, &e->metadata, "{}");
    LLMGW_BUF_LIT(b, "}");
}

json_t *llmgw_responses_skeleton(const llmgw_api_ctx_t *c, apr_pool_t *p)
{
    llmgw_buf_t b;

    llmgw_buf_init(&b, p, 1024);
    put_response(p, &b, c, echo_of(p, c), NULL, NULL, NULL);
    return llmgw_json_loadb(b.data, b.len, JSON_ALLOW_NUL, NULL);
}

/* chat.completion -> the response object (the skeleton with the outcome),
 * written from the answer's text: its strings are copied as they are
 * escaped, the request's echoed values as the client wrote them. What the
 * output builder builds of the same answer (the reference kept in
 * t/unit/lib/ref_resp_from_chat.c). -1 when the answer has no first choice
 * with a message object. */
static int resp_from_chat(apr_pool_t *p, const char *chat, apr_size_t len,
                          const llmgw_api_ctx_t *c, const char **out,
                          apr_size_t *out_len)
{
    ans_pass_t ap;
    llmgw_jspan_t top;
    llmgw_buf_t b;
    const char *tail = c && c->id ? c->id : "0", *why = NULL;
    int k, rv;

    memset(&ap, 0, sizeof(ap));
    for (k = AV_TOP; k <= AV_CTD; k++) {
        ap.vb[k].kind = k;
        ap.vb[k].ap = &ap;
    }
    ap.list = apr_array_make(p, 2, sizeof(ans_call_t));
    ap.cu.prompt_tokens = -2;
    rv = llmgw_json_object_visit(chat, len, &top, &ans_visitor,
                                 &ap.vb[AV_TOP]);
    if (c && c->why) {              /* the gateway's check, this pass's */
        *c->why = rv != 1 ? llmgw_answer_unread(chat, len)
                : llmgw_answer_openai(ap.has_chk_choices ? &ap.chk_choices
                                                         : NULL);
        if (c->answer_usage) {
            c->answer_usage->found = 0;
            if (rv == 1 && ap.cu.prompt_tokens != -2) {
                llmgw_usage_done(&ap.cu);
                c->answer_usage->usage = ap.cu;
                c->answer_usage->found = 1;
            }
        }
    }
    if (rv != 1
        || !span_is(&ap.choices, LLMGW_JV_ARRAY)
        || !span_is(&ap.choice, LLMGW_JV_OBJECT)
        || !span_is(&ap.message, LLMGW_JV_OBJECT)) {
        return -1;
    }
    if (!strncmp(tail, "resp_", 5) && tail[5]) {
        tail += 5;
    }
    if (span_str_is(p, &ap.finish, "length")) {
        why = "max_output_tokens";
    }
    else if (span_str_is(p, &ap.finish, "content_filter")) {
        why = "content_filter";
    }
    llmgw_buf_init(&b, p, len + 1024);
    put_response(p, &b, c, echo_of(p, c), &ap, why, tail);
    *out = b.data;
    *out_len = b.len;
    return 0;
}

/* ------------------------------------------------------------ streams */

struct llmgw_api_stream {
    apr_pool_t *p;
    const llmgw_api_ctx_t *c;
    llmgw_rb_t *b;
    const char *finish;
    json_t *usage;               /* owned */
    llmgw_buf_t scratch;         /* a chunk's strings unescaped (reused) */
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
    s->b = llmgw_rb_new(p, llmgw_responses_skeleton(c, p), c->id);
    llmgw_buf_init(&s->scratch, p, 0);
    apr_pool_cleanup_register(p, s, stream_cleanup, apr_pool_cleanup_null);
    return s;
}

/* A chunk read in one validating pass (llmgw_json_object_visit), as
 * jansson reads it (the last of a repeated member, keys compared
 * unescaped): its "error", its "usage" and the first choice whose index
 * is absent or 0 (a Responses answer has one). */
typedef struct {
    llmgw_jspan_t index, delta, finish;
    int object;
} chunk_choice_t;

enum { CV_TOP = 1, CV_CHOICES, CV_CHOICE };

typedef struct chunk_pass {
    int kind;
    struct chunk_pass *top;         /* the pass (the top baton) */
    int error;                      /* an "error" member */
    llmgw_jspan_t usage;
    int picked;                     /* the choice is found */
    chunk_choice_t cur, choice;
    struct chunk_pass *choices_vb, *choice_vb;
} chunk_pass_t;

static void *chunk_enter(void *baton, const char *key, apr_size_t klen,
                         int esc)
{
    chunk_pass_t *vb = baton;
    if (vb->kind == CV_CHOICES) {   /* an element */
        memset(&vb->top->cur, 0, sizeof(vb->top->cur));
        return vb->top->choice_vb;
    }
    (void)key; (void)klen; (void)esc;
    return NULL;
}

static void *chunk_enter_array(void *baton, const char *key,
                               apr_size_t klen, int esc)
{
    chunk_pass_t *vb = baton;
    if (vb->kind == CV_TOP && AP_KEY("choices")) {
        vb->picked = 0;             /* the last "choices" counts */
        return vb->choices_vb;
    }
    return NULL;
}

static int chunk_member(void *baton, const char *key, apr_size_t klen,
                        int esc, const llmgw_jspan_t *v)
{
    chunk_pass_t *vb = baton, *t = vb->top;

    switch (vb->kind) {
    case CV_TOP:
        if (AP_KEY("error")) {
            t->error = 1;
        }
        else if (AP_KEY("usage")) {
            t->usage = *v;
        }
        else if (AP_KEY("choices") && v->type != LLMGW_JV_ARRAY) {
            t->picked = 0;
        }
        break;
    case CV_CHOICES:                /* an element, read */
        if (!t->picked) {
            if (v->type != LLMGW_JV_OBJECT) {
                memset(&t->choice, 0, sizeof(t->choice));
                t->picked = 1;      /* json_object_get of it: no index */
            }
            else {
                apr_int64_t ix;
                if (!t->cur.index.p || (llmgw_json_int(&t->cur.index, &ix)
                                        && ix == 0)) {
                    t->choice = t->cur;
                    t->choice.object = 1;
                    t->picked = 1;
                }
            }
        }
        memset(&t->cur, 0, sizeof(t->cur));
        break;
    case CV_CHOICE:
        if (AP_KEY("index")) {
            t->cur.index = *v;
        }
        else if (AP_KEY("delta")) {
            t->cur.delta = *v;
        }
        else if (AP_KEY("finish_reason")) {
            t->cur.finish = *v;
        }
        break;
    }
    return 0;
}

static const llmgw_json_visitor_t chunk_visitor = {
    chunk_member, chunk_enter, chunk_enter_array
};


/* A string span's value (json_string_value / _length) appended to the
 * scratch buffer, NUL-terminated: its offset there, -1 when v is not a
 * string. */
static long scratch_str(llmgw_api_stream_t *s, const llmgw_jspan_t *v,
                        apr_size_t *len)
{
    apr_size_t at = s->scratch.len;
    long n;

    *len = 0;
    if (!v->p || v->type != LLMGW_JV_STRING) {
        return -1;
    }
    llmgw_buf_reserve(&s->scratch, at + v->len + 1);
    if (!v->escaped) {
        memcpy(s->scratch.data + at, v->p + 1, v->len - 2);
        n = (long)v->len - 2;
    }
    else {
        n = llmgw_json_unescape(v, s->scratch.data + at);
    }
    s->scratch.data[at + (apr_size_t)n] = '\0';
    s->scratch.len = at + (apr_size_t)n + 1;
    *len = (apr_size_t)n;
    return (long)at;
}

/* A delta's text member: the builder call when it is a non-empty string
 * (str_delta of the tree reader). */
static int text_delta(llmgw_api_stream_t *s, const llmgw_jspan_t *v,
                      int (*fn)(llmgw_rb_t *, const char *, const char *,
                                apr_size_t))
{
    apr_size_t len;
    long at;

    if (!v->p || v->type != LLMGW_JV_STRING || v->len <= 2) {
        return 0;
    }
    s->scratch.len = 0;
    at = scratch_str(s, v, &len);
    return len ? fn(s->b, NULL, s->scratch.data + at, len) : 0;
}

typedef struct {
    llmgw_api_stream_t *s;
    int i;
} calls_t;

/* One element of delta.tool_calls (any element is a call: a non-object
 * one has no index, id, name or arguments). */
static int call_element(void *baton, const char *key, apr_size_t klen,
                        int esc, const llmgw_jspan_t *v)
{
    static const char *const tc_names[] = { "index", "id", "function" };
    static const char *const fn_names[] = { "name", "arguments" };
    calls_t *cl = baton;
    llmgw_api_stream_t *s = cl->s;
    llmgw_jspan_t tc[3], fn[2];
    apr_size_t idl, nl, al;
    long ida, na, aa;
    apr_int64_t ix;
    int index = cl->i++;

    (void)key; (void)klen; (void)esc;
    llmgw_json_pick(v, tc_names, tc, 3);
    llmgw_json_pick(&tc[2], fn_names, fn, 2);
    if (tc[0].p && llmgw_json_int(&tc[0], &ix)) {
        index = (int)ix;
    }
    s->scratch.len = 0;
    ida = scratch_str(s, &tc[1], &idl);
    na = scratch_str(s, &fn[0], &nl);
    aa = scratch_str(s, &fn[1], &al);
    return llmgw_rb_call(s->b, index, NULL,
                         ida < 0 ? NULL : s->scratch.data + ida,
                         na < 0 ? NULL : s->scratch.data + na,
                         aa < 0 ? NULL : s->scratch.data + aa,
                         aa < 0 ? 0 : al) ? -1 : 0;
}

static int resp_stream_chunk(llmgw_api_stream_t *s, const char *data,
                             apr_size_t len, llmgw_event_emit_fn emit,
                             void *baton)
{
    static const char *const d_names[] = {
        "reasoning_content", "content", "refusal", "tool_calls"
    };
    chunk_pass_t top, choices, choice;
    llmgw_jspan_t span, d[4];
    calls_t cl;

    memset(&top, 0, sizeof(top));
    top.kind = CV_TOP;
    top.top = &top;
    choices.kind = CV_CHOICES;
    choices.top = &top;
    choice.kind = CV_CHOICE;
    choice.top = &top;
    top.choices_vb = &choices;
    top.choice_vb = &choice;
    if (llmgw_json_object_visit(data, len, &span, &chunk_visitor, &top) != 1
        || top.error) {
        return -1;                 /* not a chunk: the glue fails the stream */
    }
    llmgw_rb_emitter(s->b, emit, baton);
    if (llmgw_rb_start(s->b)) {
        return -1;
    }
    if (top.picked && top.choice.object) {
        llmgw_json_pick(&top.choice.delta, d_names, d, 4);
        if (text_delta(s, &d[0], llmgw_rb_reasoning)
            || text_delta(s, &d[1], llmgw_rb_text)
            || text_delta(s, &d[2], llmgw_rb_refusal)) {
            return -1;
        }
        if (d[3].p && d[3].type == LLMGW_JV_ARRAY) {
            cl.s = s;
            cl.i = 0;
            if (llmgw_json_each(&d[3], call_element, &cl)) {
                return -1;
            }
        }
        if (top.choice.finish.p
            && top.choice.finish.type == LLMGW_JV_STRING) {
            s->finish = llmgw_json_string_value(s->p, &top.choice.finish,
                                                NULL);
        }
    }
    if (top.usage.p && top.usage.type == LLMGW_JV_OBJECT) {
        json_t *u = llmgw_json_loadb(top.usage.p, top.usage.len,
                                     JSON_ALLOW_NUL, NULL);
        if (u) {
            json_decref(s->usage);
            s->usage = u;
        }
    }
    return 0;
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
    NULL, llmgw_responses_to_chat, resp_from_chat,
    resp_stream_new, resp_stream_chunk, resp_stream_end, resp_stream_error,
    resp_stream_result,
    llmgw_envelope_json,
    resp_reduce, resp_expand
};
