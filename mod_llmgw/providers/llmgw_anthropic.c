/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_anthropic.c — OpenAI Chat Completions <-> Anthropic Messages API
 * (pure: APR + jansson only, no httpd header).
 *
 * Every json_t built here is either returned to the caller (a new
 * reference) or released before the function returns; strings that must
 * outlive a json_t are copied into the pool first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include "llmgw_translate.h"
#include "llmgw_chat_request.h"
#include "llmgw_buf.h"
#include "llmgw_envelope.h"
#include "llmgw_num.h"
#include "llmgw_json_scan.h"
#include "llmgw_answer.h"

#define ANTHROPIC_VERSION "2023-06-01"
#define ANTHROPIC_PATH    "/v1/messages"
/* The forced tool that carries a response_format answer: its input is the
 * message content. A client tool of this name is refused. */
#define ANTHROPIC_JSON_TOOL "llmgw_json_response"
#define ANTHROPIC_MIN_THINKING 1024   /* Anthropic's smallest budget */

/* What the Anthropic translator does with each OpenAI chat parameter
 * (README "Translation table"); anything else is reported or dropped. */
static const llmgw_xparam_t anth_params[] = {
    { "model", LLMGW_XP_TRANSLATED },
    { "messages", LLMGW_XP_TRANSLATED },
    { "stream", LLMGW_XP_TRANSLATED },
    { "stream_options", LLMGW_XP_TRANSLATED },
    { "max_tokens", LLMGW_XP_TRANSLATED },
    { "max_completion_tokens", LLMGW_XP_TRANSLATED },
    { "temperature", LLMGW_XP_TRANSLATED },
    { "top_p", LLMGW_XP_TRANSLATED },
    { "top_k", LLMGW_XP_TRANSLATED },
    { "stop", LLMGW_XP_TRANSLATED },
    { "tools", LLMGW_XP_TRANSLATED },
    { "tool_choice", LLMGW_XP_TRANSLATED },
    { "parallel_tool_calls", LLMGW_XP_TRANSLATED },
    { "response_format", LLMGW_XP_TRANSLATED },
    { "reasoning_effort", LLMGW_XP_TRANSLATED },
    { "reasoning", LLMGW_XP_TRANSLATED },
    { "user", LLMGW_XP_TRANSLATED },
    { "safety_identifier", LLMGW_XP_TRANSLATED },
    { "metadata", LLMGW_XP_TRANSLATED },
    { NULL, 0 }
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Anthropic stop_reason -> OpenAI finish_reason (before the tool rule). */
static const char *map_stop_reason(const char *r)
{
    if (r == NULL) {
        return NULL;
    }
    if (!strcmp(r, "end_turn") || !strcmp(r, "stop_sequence")
        || !strcmp(r, "pause_turn")) {
        return "stop";
    }
    if (!strcmp(r, "max_tokens") || !strcmp(r, "model_context_window_exceeded")) {
        return "length";
    }
    if (!strcmp(r, "tool_use")) {
        return "tool_calls";
    }
    if (!strcmp(r, "refusal")) {
        return "content_filter";
    }
    return "stop";
}

/* Anthropic error type -> the HTTP status Anthropic uses for it. */
static int native_status_for_type(const char *t)
{
    static const struct { const char *type; int status; } map[] = {
        { "invalid_request_error", 400 },
        { "authentication_error",  401 },
        { "billing_error",         402 },
        { "permission_error",      403 },
        { "not_found_error",       404 },
        { "request_too_large",     413 },
        { "rate_limit_error",      429 },
        { "api_error",             500 },
        { "timeout_error",         504 },
        { "overloaded_error",      529 },
    };
    apr_size_t i;

    if (t != NULL) {
        for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
            if (!strcmp(map[i].type, t)) {
                return map[i].status;
            }
        }
    }
    return 500;
}

/* Fills out from an upstream status and Anthropic error type/message.
 * Strings must already live in a pool (or be static). */
static void fill_error(int http_status, const char *etype, const char *msg,
                       llmgw_error_t *out)
{
    memset(out, 0, sizeof(*out));
    out->retry_after = -1;
    out->upstream_status = http_status;
    out->code = etype;
    out->message = msg;

    if (http_status >= 400 && http_status < 500) {
        out->status = http_status;
        if (etype == NULL) {
            out->type = llmgw_error_type_for_status(http_status);
        }
        else if (!strcmp(etype, "not_found_error")) {
            out->type = "invalid_request_error";
            out->code = "model_not_found";
        }
        else if (!strcmp(etype, "request_too_large")) {
            out->type = "invalid_request_error";
        }
        else if (!strcmp(etype, "invalid_request_error")
                 || !strcmp(etype, "authentication_error")
                 || !strcmp(etype, "permission_error")
                 || !strcmp(etype, "rate_limit_error")) {
            out->type = etype;
        }
        else {
            out->type = llmgw_error_type_for_status(http_status);
        }
    }
    else {
        out->status = 502;
        out->type = "provider_error";
    }
    if (out->type == NULL) {
        out->type = "provider_error";
    }
}

/* ------------------------------------------------------------------ */
/* path / headers                                                      */
/* ------------------------------------------------------------------ */

static const char *anth_path(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                             llmgw_endpoint_e ep, int stream)
{
    (void)p; (void)x; (void)stream;
    switch (ep) {
    case LLMGW_EP_CHAT:
    case LLMGW_EP_MESSAGES:         /* the Messages API, relayed */
        return ANTHROPIC_PATH;
    case LLMGW_EP_COUNT_TOKENS:
        return ANTHROPIC_PATH "/count_tokens";
    default:
        return NULL;
    }
}

static void anth_headers(apr_pool_t *p, const char *key,
                         apr_array_header_t *out)
{
    if (key != NULL) {
        APR_ARRAY_PUSH(out, const char *) = apr_pstrcat(p, "x-api-key: ",
                                                        key, NULL);
    }
    APR_ARRAY_PUSH(out, const char *) = "anthropic-version: " ANTHROPIC_VERSION;
}

/* ------------------------------------------------------------------ */
/* chat request: written directly from llmgw_chat_request_t            */
/* ------------------------------------------------------------------ */

#define W_LIT LLMGW_BUF_LIT
#define w_str llmgw_buf_json_cstr
#define w_int llmgw_buf_int

/* tool_choice as the writer keeps it until the end */
typedef enum { TC_NONE_SENT = 0, TC_AUTO, TC_ANY, TC_NONE, TC_TOOL } tc_e;

typedef struct {
    apr_pool_t *p;
    const llmgw_xlate_ctx_t *x;
    const char *err;
    llmgw_xlate_turns_t turns;  /* the messages */
    llmgw_buf_t system;      /* the system text (escaped, no quotes) */
    llmgw_buf_t tools;       /* the tools array's members */
    int ntools;
    tc_e tc;
    const char *tc_name;
    int tc_dpu;              /* disable_parallel_tool_use */
    apr_int64_t max;
    apr_int64_t budget;      /* thinking budget, 0: none */
    const char *uid;
} wr_t;

static int wfail(wr_t *w, const char *msg)
{
    if (w->err == NULL) {
        w->err = msg;
    }
    return -1;
}

static int wunsupported(wr_t *w, const char *param, const char *why)
{
    const char *err = NULL;

    if (llmgw_xlate_unsupported(w->p, w->x, param, why, &err)) {
        return wfail(w, err);
    }
    return 0;
}

static void w_block_sep(llmgw_buf_t *b)
{
    if (b->len) {
        W_LIT(b, ",");
    }
}

/* Message content -> blocks of the next turn. Empty texts are left out
 * (Anthropic refuses them). */
static int w_content(wr_t *w, const llmgw_chat_msg_t *m)
{
    llmgw_buf_t *b = &w->turns.blk;
    int i;

    for (i = 0; i < m->parts->nelts; i++) {
        const llmgw_chat_part_t *pt = &APR_ARRAY_IDX(m->parts, i,
                                                     llmgw_chat_part_t);
        if (pt->type == LLMGW_PART_TEXT) {
            if (pt->text.len > 0) {
                w_block_sep(b);
                W_LIT(b, "{\"type\":\"text\",\"text\":");
                llmgw_chat_text_json(b, &pt->text);
                W_LIT(b, "}");
            }
            continue;
        }
        if (pt->type != LLMGW_PART_IMAGE) {
            return wfail(w, apr_psprintf(w->p, "unsupported content part "
                                         "type '%s'", pt->type
                                         == LLMGW_PART_AUDIO ? "input_audio"
                                                             : "file"));
        }
        if (pt->mime != NULL) {
            w_block_sep(b);
            W_LIT(b, "{\"type\":\"image\",\"source\":{\"type\":\"base64\","
                  "\"media_type\":");
            w_str(b, pt->mime);
            W_LIT(b, ",\"data\":");
            llmgw_chat_text_json(b, &pt->data);
            W_LIT(b, "}}");
        }
        else if (!strncasecmp(pt->url, "http://", 7)
                 || !strncasecmp(pt->url, "https://", 8)) {
            w_block_sep(b);
            W_LIT(b, "{\"type\":\"image\",\"source\":{\"type\":\"url\","
                  "\"url\":");
            w_str(b, pt->url);
            W_LIT(b, "}}");
        }
        else {
            return wfail(w, "image_url must be an http(s) URL or a base64 "
                         "data URL");
        }
    }
    return 0;
}

/* An assistant's tool calls -> tool_use blocks of the next turn. */
static int w_tool_uses(wr_t *w, const llmgw_chat_msg_t *m)
{
    llmgw_buf_t *b = &w->turns.blk;
    int i;

    for (i = 0; i < m->calls->nelts; i++) {
        const llmgw_chat_call_t *c = &APR_ARRAY_IDX(m->calls, i,
                                                    llmgw_chat_call_t);
        if (c->id == NULL) {
            return wfail(w, "tool calls require an id and a function name");
        }
        w_block_sep(b);
        W_LIT(b, "{\"type\":\"tool_use\",\"id\":");
        w_str(b, c->id);
        W_LIT(b, ",\"name\":");
        w_str(b, c->name);
        W_LIT(b, ",\"input\":");
        if (llmgw_buf_json(b, c->args)) {
            return wfail(w, "cannot write a tool call's arguments");
        }
        W_LIT(b, "}");
    }
    return 0;
}

static int w_messages(wr_t *w, const llmgw_chat_request_t *r)
{
    llmgw_buf_t *b;
    int i;

    for (i = 0; i < r->messages->nelts; i++) {
        const llmgw_chat_msg_t *m = &APR_ARRAY_IDX(r->messages, i,
                                                   llmgw_chat_msg_t);
        apr_size_t mark;

        switch (m->role) {
        case LLMGW_ROLE_SYSTEM:
            /* each message's parts joined with "\n\n", the non-empty
             * messages joined with "\n\n" (lengths kept) */
            mark = w->system.len;
            if (mark > 0) {
                W_LIT(&w->system, "\\n\\n");
            }
            llmgw_chat_msg_text_write(&w->system, m, "\n\n", 2);
            if (w->system.len == mark + (mark > 0 ? 4 : 0)) {
                w->system.len = mark;           /* an empty one */
            }
            break;
        case LLMGW_ROLE_USER:
        case LLMGW_ROLE_ASSISTANT:
            if (w_content(w, m) || w_tool_uses(w, m)) {
                return -1;
            }
            llmgw_xlate_turn_push(&w->turns, m->role == LLMGW_ROLE_USER
                                             ? "user" : "assistant");
            break;
        case LLMGW_ROLE_TOOL:
            if (m->call_id == NULL) {
                break;          /* (the reader refuses it) */
            }
            b = llmgw_xlate_turn_item(&w->turns);
            W_LIT(b, "{\"type\":\"tool_result\",\"tool_use_id\":");
            w_str(b, m->call_id);
            W_LIT(b, ",\"content\":");
            llmgw_chat_msg_text_write(b, m, "", 1);
            W_LIT(b, "}");
            llmgw_xlate_turn_push(&w->turns, "user");
            break;
        default:
            return wfail(w, "unsupported message role 'function'");
        }
    }
    if (w->turns.out.len == 0) {
        return wfail(w, "messages must contain at least one user or "
                     "assistant message");
    }
    return 0;
}

static int w_tools(wr_t *w, const llmgw_chat_request_t *r)
{
    llmgw_buf_t *b = &w->tools;
    int i;

    if (r->tools != NULL) {
        for (i = 0; i < r->tools->nelts; i++) {
            const llmgw_chat_tool_t *t = &APR_ARRAY_IDX(r->tools, i,
                                                        llmgw_chat_tool_t);
            if (!strcmp(t->name, ANTHROPIC_JSON_TOOL)) {
                return wfail(w, "the tool name " ANTHROPIC_JSON_TOOL
                             " is reserved by the gateway");
            }
            w_block_sep(b);
            W_LIT(b, "{\"name\":");
            w_str(b, t->name);
            if (t->description != NULL) {
                W_LIT(b, ",\"description\":");
                if (llmgw_buf_json(b, t->description)) {
                    return wfail(w, "cannot write a tool description");
                }
            }
            W_LIT(b, ",\"input_schema\":");
            if (t->parameters == NULL) {
                W_LIT(b, "{\"type\":\"object\",\"properties\":{}}");
            }
            else if (llmgw_buf_json(b, t->parameters)) {
                return wfail(w, "cannot write a tool's parameters");
            }
            W_LIT(b, "}");
            w->ntools++;
        }
    }
    switch (r->tool_choice) {
    case LLMGW_TC_AUTO:     w->tc = TC_AUTO; break;
    case LLMGW_TC_REQUIRED: w->tc = TC_ANY; break;
    case LLMGW_TC_NONE:     w->tc = TC_NONE; break;
    case LLMGW_TC_FUNCTION:
        w->tc = TC_TOOL;
        w->tc_name = r->tool_choice_name;
        break;
    default:
        break;
    }
    if (r->parallel_tool_calls_off && w->ntools) {
        if (w->tc == TC_NONE_SENT) {
            w->tc = TC_AUTO;
        }
        if (w->tc != TC_NONE) {
            w->tc_dpu = 1;
        }
    }
    /* Anthropic refuses tool_choice without tools. */
    if (!w->ntools) {
        w->tc = TC_NONE_SENT;
        w->tc_dpu = 0;
    }
    return 0;
}

/* metadata.user_id, else user, else safety_identifier -> metadata.user_id.
 * Other metadata members have no equivalent. */
static int w_user(wr_t *w, const llmgw_chat_request_t *r)
{
    const char *key;
    json_t *v;

    if (r->metadata != NULL) {
        json_object_foreach((json_t *)r->metadata, key, v) {
            if (!strcmp(key, "user_id") && json_is_string(v)) {
                w->uid = json_string_value(v);
            }
            else if (wunsupported(w, apr_pstrcat(w->p, "metadata.", key,
                                                 NULL),
                                  apr_psprintf(w->p, "metadata.%s has no "
                                               "equivalent on anthropic "
                                               "providers (only user_id)",
                                               key))) {
                return -1;
            }
        }
    }
    if (w->uid == NULL) {
        w->uid = r->user;
    }
    if (w->uid == NULL) {
        w->uid = r->safety_identifier;
    }
    return 0;
}

/* reasoning_effort / reasoning -> thinking {budget_tokens}. max_tokens
 * must exceed the budget: raised when the client set none, else the
 * budget is cut to fit. */
static int w_reasoning(wr_t *w, const llmgw_chat_request_t *r)
{
    const llmgw_xlate_reasoning_t *rs = &r->reasoning;
    apr_int64_t budget;

    if (!rs->present || rs->budget == 0) {
        return 0;
    }
    if (rs->exclude && wunsupported(w, "reasoning.exclude",
                                    "reasoning.exclude has no equivalent on "
                                    "anthropic providers")) {
        return -1;
    }
    budget = rs->budget < ANTHROPIC_MIN_THINKING ? ANTHROPIC_MIN_THINKING
                                                 : rs->budget;
    if (r->max_tokens == 0) {
        w->max = budget + (w->x->default_max_tokens > 0
                           ? w->x->default_max_tokens : 4096);
    }
    else if (budget >= w->max) {
        budget = w->max - 1;
        if (budget < ANTHROPIC_MIN_THINKING) {
            return wfail(w, "reasoning on anthropic providers needs "
                         "max_tokens above 1024 (the smallest thinking "
                         "budget)");
        }
    }
    w->budget = budget;
    return 0;
}

/* response_format json_object / json_schema -> a forced tool whose input
 * is the answer (returned as the message content). */
static int w_response_format(wr_t *w, const llmgw_chat_request_t *r)
{
    llmgw_buf_t *b = &w->tools;

    if (r->response_format == LLMGW_RF_UNSET) {
        return 0;
    }
    if (w->budget) {
        /* Anthropic refuses a forced tool while thinking. */
        return wunsupported(w, "response_format", "response_format cannot "
                            "be combined with reasoning on anthropic "
                            "providers");
    }
    w_block_sep(b);
    W_LIT(b, "{\"name\":\"" ANTHROPIC_JSON_TOOL "\",\"description\":");
    w_str(b, r->rf_description ? r->rf_description
          : "Gives the answer as JSON: the input is the answer.");
    W_LIT(b, ",\"input_schema\":");
    if (r->rf_schema == NULL) {
        W_LIT(b, "{\"type\":\"object\"}");
    }
    else if (llmgw_buf_json(b, r->rf_schema)) {
        return wfail(w, "cannot write the response_format schema");
    }
    W_LIT(b, "}");
    if (!w->ntools || w->tc == TC_NONE) {
        w->tc = TC_TOOL;
        w->tc_name = ANTHROPIC_JSON_TOOL;
        w->tc_dpu = 0;
    }
    else if (w->tc == TC_NONE_SENT || w->tc == TC_AUTO) {
        /* a client tool or the answer: some tool call either way */
        w->tc = TC_ANY;
    }
    w->ntools++;
    return 0;
}

static void w_body(wr_t *w, const llmgw_chat_request_t *r, llmgw_buf_t *b)
{
    static const char *const tc_type[] = { NULL, "auto", "any", "none",
                                           "tool" };
    const char *model = w->x->model ? w->x->model : r->model;
    apr_size_t i;
    int first = 1;

    W_LIT(b, "{");
    if (model != NULL) {
        W_LIT(b, "\"model\":");
        w_str(b, model);
        first = 0;
    }
    if (!first) {
        W_LIT(b, ",");
    }
    W_LIT(b, "\"max_tokens\":");
    w_int(b, w->max);
    if (w->system.len > 0) {
        W_LIT(b, ",\"system\":\"");
        llmgw_buf_append(b, w->system.data, w->system.len);
        W_LIT(b, "\"");
    }
    if (w->ntools) {
        W_LIT(b, ",\"tools\":[");
        llmgw_buf_append(b, w->tools.data, w->tools.len);
        W_LIT(b, "]");
    }
    if (w->tc != TC_NONE_SENT) {
        W_LIT(b, ",\"tool_choice\":{\"type\":");
        w_str(b, tc_type[w->tc]);
        if (w->tc == TC_TOOL) {
            W_LIT(b, ",\"name\":");
            w_str(b, w->tc_name);
        }
        if (w->tc_dpu) {
            W_LIT(b, ",\"disable_parallel_tool_use\":true");
        }
        W_LIT(b, "}");
    }
    if (r->temperature != NULL) {
        W_LIT(b, ",\"temperature\":");
        llmgw_buf_json_real(b, json_number_value(r->temperature));
    }
    if (r->top_p != NULL) {
        W_LIT(b, ",\"top_p\":");
        llmgw_buf_json_real(b, json_number_value(r->top_p));
    }
    if (r->stop != NULL) {
        int n = 0;
        for (i = 0; i < (apr_size_t)r->stop->nelts; i++) {
            json_t *s = APR_ARRAY_IDX(r->stop, i, json_t *);
            if (json_string_length(s) > 0) {
                if (n++) {
                    W_LIT(b, ",");
                }
                else {
                    W_LIT(b, ",\"stop_sequences\":[");
                }
                llmgw_buf_json_string(b, json_string_value(s),
                                      json_string_length(s));
            }
        }
        if (n) {
            W_LIT(b, "]");
        }
    }
    if (r->top_k != NULL) {
        W_LIT(b, ",\"top_k\":");
        w_int(b, (apr_int64_t)json_integer_value(r->top_k));
    }
    if (w->uid != NULL) {
        W_LIT(b, ",\"metadata\":{\"user_id\":");
        w_str(b, w->uid);
        W_LIT(b, "}");
    }
    if (r->stream) {
        W_LIT(b, ",\"stream\":true");
    }
    if (w->budget) {
        W_LIT(b, ",\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":");
        w_int(b, w->budget);
        W_LIT(b, "}");
    }
    W_LIT(b, ",\"messages\":[");
    llmgw_buf_append(b, w->turns.out.data, w->turns.out.len);
    W_LIT(b, "]}");
}

/* The Anthropic body of the chat request in, into out (pool p). */
static int anth_write_request(apr_pool_t *p, const llmgw_xlate_in_t *in,
                              const llmgw_xlate_ctx_t *x, llmgw_buf_t *out,
                              const char **err)
{
    llmgw_chat_request_t *r;
    wr_t w;

    if (llmgw_chat_request_read_in(p, in, anth_params, "anthropic", x, &r,
                                   err)) {
        return -1;
    }
    memset(&w, 0, sizeof(w));
    w.p = p;
    w.x = x;
    llmgw_xlate_turns_init(&w.turns, p, "content");
    llmgw_buf_init(&w.system, p, 0);
    llmgw_buf_init(&w.tools, p, 0);
    w.max = r->max_tokens ? r->max_tokens
          : x->default_max_tokens > 0 ? x->default_max_tokens : 4096;
    if (w_messages(&w, r) || w_tools(&w, r) || w_user(&w, r)
        || w_reasoning(&w, r) || w_response_format(&w, r)) {
        *err = w.err ? w.err : "invalid request";
        return -1;
    }
    llmgw_buf_init(out, p, w.turns.out.len + w.system.len + w.tools.len + 512);
    w_body(&w, r, out);
    return 0;
}

static int anth_raw_request(const llmgw_translator_t *self, apr_pool_t *p,
                            const llmgw_xlate_ctx_t *x,
                            const llmgw_xlate_in_t *in, const char **out,
                            apr_size_t *out_len, const char **err)
{
    llmgw_buf_t b;

    (void)self;
    if (in->ep != LLMGW_EP_CHAT) {
        *err = apr_psprintf(p, "provider '%s' does not support %s",
                            x->provider, in->endpoint_name);
        return 400;
    }
    if (anth_write_request(p, in, x, &b, err)) {
        return 400;
    }
    *out = b.data;
    *out_len = b.len;
    return 0;
}

/* ------------------------------------------------------------------ */
/* chat response: read with the scanner, written directly              */
/* ------------------------------------------------------------------ */

/* A validated integer span's value; 0 when it is not an integer (a
 * fraction or an exponent: jansson's real) or out of range (*bad set). */
static apr_int64_t span_int(const llmgw_jspan_t *v, int *bad)
{
    char num[32], *e;
    long long n;

    if (v->type != LLMGW_JV_NUMBER || memchr(v->p, '.', v->len)
        || memchr(v->p, 'e', v->len) || memchr(v->p, 'E', v->len)) {
        return 0;
    }
    if (v->len >= sizeof(num)) {
        *bad = 1;
        return 0;
    }
    memcpy(num, v->p, v->len);
    num[v->len] = '\0';
    errno = 0;
    n = strtoll(num, &e, 10);
    if (errno || *e) {
        *bad = 1;               /* jansson refuses the whole answer */
        return 0;
    }
    return (apr_int64_t)n;
}

/* A string span's text between its quotes (escaped: JSON text as is). */
#define SPAN_IN(v) ((v)->p + 1)
#define SPAN_INLEN(v) ((v)->len - 2)

/* Whether a string span's value is lit (only an unescaped spelling of it
 * matches: the providers' tokens never hold an escape). */
static int span_is(const llmgw_jspan_t *v, const char *lit)
{
    apr_size_t n = strlen(lit);
    return v && v->type == LLMGW_JV_STRING && v->len == n + 2
           && !memcmp(v->p + 1, lit, n);
}

/* A string span's value in the pool (unescaped), or NULL. */
static const char *span_pstr(apr_pool_t *p, const llmgw_jspan_t *v)
{
    json_t *j;
    const char *s;

    if (v == NULL || v->type != LLMGW_JV_STRING) {
        return NULL;
    }
    if (!v->escaped) {
        return apr_pstrmemdup(p, SPAN_IN(v), SPAN_INLEN(v));
    }
    j = llmgw_json_loadb(v->p, v->len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                         NULL);
    s = json_is_string(j) ? apr_pstrdup(p, json_string_value(j)) : NULL;
    json_decref(j);
    return s;
}

typedef struct {
    llmgw_jspan_t content, usage, stop;
    int has_content, has_usage, has_stop;
    int bad;
    /* the gateway's check (llmgw_answer_anthropic): the last unescaped
     * "type" and "content" */
    llmgw_jspan_t ck_type, ck_content;
    int has_ck_type, has_ck_content;
} ans_top_t;

static int ans_top_member(void *baton, const char *key, apr_size_t klen,
                          int esc, const llmgw_jspan_t *v)
{
    ans_top_t *t = baton;

    if (!esc) {
        if (klen == 4 && !memcmp(key, "type", 4)) {
            t->ck_type = *v;
            t->has_ck_type = 1;
            return 0;
        }
        if (klen == 7 && !memcmp(key, "content", 7)) {
            t->ck_content = *v;
            t->has_ck_content = 1;
        }
    }
    /* the last of a repeated member wins, as in jansson */
    if (llmgw_json_key_is(key, klen, esc, "content")) {
        t->content = *v;
        t->has_content = 1;
    }
    else if (llmgw_json_key_is(key, klen, esc, "usage")) {
        t->usage = *v;
        t->has_usage = 1;
    }
    else if (llmgw_json_key_is(key, klen, esc, "stop_reason")) {
        t->stop = *v;
        t->has_stop = 1;
    }
    return 0;
}

/* One content block's members. */
typedef struct {
    llmgw_jspan_t type, text, thinking, input, id, name;
    unsigned seen;
} ans_block_t;

enum { B_TYPE = 1, B_TEXT = 2, B_THINKING = 4, B_INPUT = 8, B_ID = 16,
       B_NAME = 32 };

static int ans_block_member(void *baton, const char *key, apr_size_t klen,
                            int esc, const llmgw_jspan_t *v)
{
    ans_block_t *b = baton;
    static const struct { const char *name; unsigned bit;
                          apr_size_t off; } m[] = {
        { "type", B_TYPE, offsetof(ans_block_t, type) },
        { "text", B_TEXT, offsetof(ans_block_t, text) },
        { "thinking", B_THINKING, offsetof(ans_block_t, thinking) },
        { "input", B_INPUT, offsetof(ans_block_t, input) },
        { "id", B_ID, offsetof(ans_block_t, id) },
        { "name", B_NAME, offsetof(ans_block_t, name) },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        if (llmgw_json_key_is(key, klen, esc, m[i].name)) {
            *(llmgw_jspan_t *)((char *)b + m[i].off) = *v;
            b->seen |= m[i].bit;
            break;
        }
    }
    return 0;
}

typedef struct {
    apr_pool_t *p;
    llmgw_buf_t text, thinking, calls;  /* escaped texts; tool_calls */
    int has_text, has_thinking, ncalls;
    const char *answer;         /* the response_format tool's input */
    int fail;
} ans_t;

/* A tool_use input as the old writer printed it: compact, through the
 * tree (numbers and escapes normalised as jansson prints them). */
static char *input_text(const llmgw_jspan_t *v)
{
    int tree = v->type == LLMGW_JV_OBJECT || v->type == LLMGW_JV_ARRAY;
    json_t *j = llmgw_json_loadb(v->p, v->len, tree ? JSON_ALLOW_NUL
                                 : JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    char *txt = j ? llmgw_json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)
                  : NULL;
    json_decref(j);
    return txt;
}

/* One content block, its members b collected in the answer's pass. */
static int ans_block(ans_t *a, const ans_block_t *bp)
{
    ans_block_t b = *bp;

    if (!(b.seen & B_TYPE) || b.type.type != LLMGW_JV_STRING) {
        return 0;
    }
    if (span_is(&b.type, "text")) {
        if ((b.seen & B_TEXT) && b.text.type == LLMGW_JV_STRING) {
            llmgw_buf_append(&a->text, SPAN_IN(&b.text), SPAN_INLEN(&b.text));
            a->has_text = 1;
        }
    }
    else if (span_is(&b.type, "thinking")) {
        if ((b.seen & B_THINKING) && b.thinking.type == LLMGW_JV_STRING) {
            llmgw_buf_append(&a->thinking, SPAN_IN(&b.thinking),
                             SPAN_INLEN(&b.thinking));
            a->has_thinking = 1;
        }
    }
    else if (span_is(&b.type, "tool_use")) {
        const char *name = (b.seen & B_NAME) ? span_pstr(a->p, &b.name)
                                             : NULL;
        char *args = (b.seen & B_INPUT) ? input_text(&b.input) : NULL;

        if (name != NULL && !strcmp(name, ANTHROPIC_JSON_TOOL)) {
            if (a->answer == NULL) {
                a->answer = apr_pstrdup(a->p, args ? args : "{}");
            }
            free(args);
            return 0;
        }
        if (a->ncalls++) {
            W_LIT(&a->calls, ",");
        }
        W_LIT(&a->calls, "{\"id\":");
        if ((b.seen & B_ID) && b.id.type == LLMGW_JV_STRING) {
            llmgw_buf_append(&a->calls, b.id.p, b.id.len);
        }
        else {
            W_LIT(&a->calls, "\"\"");
        }
        W_LIT(&a->calls, ",\"type\":\"function\",\"function\":{\"name\":");
        if ((b.seen & B_NAME) && b.name.type == LLMGW_JV_STRING) {
            llmgw_buf_append(&a->calls, b.name.p, b.name.len);
        }
        else {
            W_LIT(&a->calls, "\"\"");
        }
        W_LIT(&a->calls, ",\"arguments\":");
        w_str(&a->calls, args ? args : "{}");
        W_LIT(&a->calls, "}}");
        free(args);
    }
    return 0;
}

typedef struct {
    apr_int64_t input, cache_read, cache_write, output;
    int bad;
} ans_usage_t;

static int ans_usage_member(void *baton, const char *key, apr_size_t klen,
                            int esc, const llmgw_jspan_t *v)
{
    ans_usage_t *u = baton;

    if (llmgw_json_key_is(key, klen, esc, "input_tokens")) {
        u->input = span_int(v, &u->bad);
    }
    else if (llmgw_json_key_is(key, klen, esc, "cache_read_input_tokens")) {
        u->cache_read = span_int(v, &u->bad);
    }
    else if (llmgw_json_key_is(key, klen, esc,
                               "cache_creation_input_tokens")) {
        u->cache_write = span_int(v, &u->bad);
    }
    else if (llmgw_json_key_is(key, klen, esc, "output_tokens")) {
        u->output = span_int(v, &u->bad);
    }
    return 0;
}

/* The answer read in one validating pass (llmgw_json_object_visit): the
 * top level's members, the content array's blocks (each block's members
 * collected, then the block written), the usage's counts. A repeated
 * member: the last one wins, as in jansson. */
enum { AV_TOP = 1, AV_BLOCKS, AV_BLOCK, AV_USAGE };

typedef struct {
    int kind;
    struct ans_pass *ap;
} ans_vb_t;

typedef struct ans_pass {
    ans_top_t t;
    ans_t a;
    ans_usage_t u;
    ans_block_t b;
    ans_vb_t top, blocks, block, usage;     /* the visitor's batons */
} ans_pass_t;

static void *ans_enter(void *baton, const char *key, apr_size_t klen,
                       int esc)
{
    ans_vb_t *vb = baton;
    ans_pass_t *ap = vb->ap;

    if (vb->kind == AV_BLOCKS) {
        memset(&ap->b, 0, sizeof(ap->b));
        return &ap->block;
    }
    if (vb->kind == AV_TOP && llmgw_json_key_is(key, klen, esc, "usage")) {
        memset(&ap->u, 0, sizeof(ap->u));
        return &ap->usage;
    }
    return NULL;
}

static void *ans_enter_array(void *baton, const char *key, apr_size_t klen,
                             int esc)
{
    ans_vb_t *vb = baton;
    ans_pass_t *ap = vb->ap;

    if (vb->kind != AV_TOP || !llmgw_json_key_is(key, klen, esc, "content")) {
        return NULL;
    }
    ap->a.text.len = ap->a.thinking.len = ap->a.calls.len = 0;
    ap->a.has_text = ap->a.has_thinking = ap->a.ncalls = 0;
    ap->a.answer = NULL;
    return &ap->blocks;
}

static int ans_member(void *baton, const char *key, apr_size_t klen,
                      int esc, const llmgw_jspan_t *v)
{
    ans_vb_t *vb = baton;
    ans_pass_t *ap = vb->ap;

    switch (vb->kind) {
    case AV_TOP:
        return ans_top_member(&ap->t, key, klen, esc, v);
    case AV_BLOCKS:
        return v->type == LLMGW_JV_OBJECT ? ans_block(&ap->a, &ap->b) : 0;
    case AV_BLOCK:
        return ans_block_member(&ap->b, key, klen, esc, v);
    default:
        return ans_usage_member(&ap->u, key, klen, esc, v);
    }
}

static const llmgw_json_visitor_t ans_visitor = {
    ans_member, ans_enter, ans_enter_array
};

/* The Anthropic answer body -> chat.completion into out; fills usage.
 * -1 when the body is not an answer (not JSON). why: when not NULL, the
 * gateway's verdict on the answer (llmgw_answer_invalid's), read in the
 * same pass; -1 with *why set when it is refused. */
static int anth_write_response(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                               const char *body, apr_size_t len,
                               llmgw_buf_t *out, llmgw_usage_t *usage,
                               const char **why)
{
    ans_pass_t ap;
    ans_top_t t;
    ans_t a;
    ans_usage_t u;
    llmgw_jspan_t top;
    const char *finish = NULL;
    int rv;

    memset(&ap, 0, sizeof(ap));
    ap.top.kind = AV_TOP;
    ap.blocks.kind = AV_BLOCKS;
    ap.block.kind = AV_BLOCK;
    ap.usage.kind = AV_USAGE;
    ap.top.ap = ap.blocks.ap = ap.block.ap = ap.usage.ap = &ap;
    ap.a.p = p;
    if (why != NULL) {
        *why = NULL;
        if (!body || !len) {
            *why = llmgw_answer_unread(body, len);
            return -1;
        }
    }
    llmgw_buf_init(&ap.a.text, p, len);
    llmgw_buf_init(&ap.a.thinking, p, 0);
    llmgw_buf_init(&ap.a.calls, p, 0);
    rv = llmgw_json_object_visit(body, len, &top, &ans_visitor, &ap.top);
    t = ap.t;
    a = ap.a;
    u = ap.u;
    if (why != NULL) {
        *why = rv != 1 ? llmgw_answer_unread(body, len)
             : llmgw_answer_anthropic(t.has_ck_type ? &t.ck_type : NULL,
                                      t.has_ck_content ? &t.ck_content
                                                       : NULL);
        if (*why) {
            return -1;
        }
    }
    if (rv != 1) {
        /* an array is JSON too: an answer with nothing in it */
        const char *s = body;
        while (s < body + len && (*s == ' ' || *s == '\t' || *s == '\n'
                                  || *s == '\r')) {
            s++;
        }
        if (s == body + len || *s != '[' || !llmgw_json_valid(body, len)) {
            return -1;
        }
        memset(&t, 0, sizeof(t));
    }
    if (!t.has_content || t.content.type != LLMGW_JV_ARRAY) {
        a.text.len = a.thinking.len = a.calls.len = 0;
        a.has_text = a.has_thinking = a.ncalls = 0;
        a.answer = NULL;
    }
    if (!t.has_usage || t.usage.type != LLMGW_JV_OBJECT) {
        memset(&u, 0, sizeof(u));
    }
    else if (u.bad) {
        return -1;
    }
    if (t.has_stop) {
        finish = map_stop_reason(span_pstr(p, &t.stop));
    }
    if (a.answer != NULL && !a.ncalls && finish != NULL
        && !strcmp(finish, "tool_calls")) {
        finish = "stop";        /* the answer tool is not a tool call */
    }
    finish = llmgw_finish_reason(finish, a.ncalls > 0);

    llmgw_buf_init(out, p, a.text.len + a.thinking.len + a.calls.len + 512);
    W_LIT(out, "{\"id\":");
    w_str(out, x->id ? x->id : "");
    W_LIT(out, ",\"object\":\"chat.completion\",\"created\":");
    w_int(out, x->created);
    W_LIT(out, ",\"model\":");
    w_str(out, x->model ? x->model : "");
    W_LIT(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":"
          "\"assistant\",\"content\":");
    if (a.answer != NULL) {
        w_str(out, a.answer);           /* the JSON is the answer */
    }
    else if (a.has_text) {
        W_LIT(out, "\"");
        llmgw_buf_append(out, a.text.data ? a.text.data : "", a.text.len);
        W_LIT(out, "\"");
    }
    else if (a.ncalls) {
        W_LIT(out, "null");
    }
    else {
        W_LIT(out, "\"\"");
    }
    W_LIT(out, ",\"refusal\":null");
    if (a.has_thinking) {
        W_LIT(out, ",\"reasoning_content\":\"");
        llmgw_buf_append(out, a.thinking.data ? a.thinking.data : "",
                         a.thinking.len);
        W_LIT(out, "\"");
    }
    if (a.ncalls) {
        W_LIT(out, ",\"tool_calls\":[");
        llmgw_buf_append(out, a.calls.data, a.calls.len);
        W_LIT(out, "]");
    }
    W_LIT(out, "},\"logprobs\":null,\"finish_reason\":");
    w_str(out, finish);
    W_LIT(out, "}]");
    if (t.has_usage && t.usage.type == LLMGW_JV_OBJECT) {
        apr_int64_t prompt = u.input + u.cache_read + u.cache_write;

        if (usage != NULL) {
            usage->prompt_tokens = prompt;
            usage->completion_tokens = u.output;
            usage->total_tokens = prompt + u.output;
            usage->cached_tokens = u.cache_read;
            usage->cache_write_tokens = u.cache_write;
        }
        W_LIT(out, ",\"usage\":{\"prompt_tokens\":");
        w_int(out, prompt);
        W_LIT(out, ",\"completion_tokens\":");
        w_int(out, u.output);
        W_LIT(out, ",\"total_tokens\":");
        w_int(out, prompt + u.output);
        W_LIT(out, ",\"prompt_tokens_details\":{\"cached_tokens\":");
        w_int(out, u.cache_read);
        W_LIT(out, "}}");
    }
    W_LIT(out, "}");
    return 0;
}

static int anth_raw_response(const llmgw_translator_t *self, apr_pool_t *p,
                             const llmgw_xlate_ctx_t *x,
                             const llmgw_xlate_in_t *in, const char *body,
                             apr_size_t len, const char **out,
                             apr_size_t *out_len, llmgw_usage_t *usage)
{
    llmgw_buf_t b;

    (void)self;
    if (in->ep != LLMGW_EP_CHAT) {
        if (in->why != NULL) {          /* checked, as the gateway would */
            *in->why = llmgw_answer_invalid(LLMGW_PT_ANTHROPIC, in->ep,
                                            body, len);
        }
        return -1;
    }
    if (anth_write_response(p, x, body, len, &b, usage, in->why)) {
        return -1;
    }
    *out = b.data;
    *out_len = b.len;
    return 0;
}

/* ------------------------------------------------------------------ */
/* streams                                                             */
/* ------------------------------------------------------------------ */

struct llmgw_stream {
    apr_pool_t *p;
    llmgw_xlate_ctx_t x;
    llmgw_chunk_writer_t w;  /* chunks written straight from the events */
    int started;             /* role chunk emitted */
    int delta_seen;          /* message_delta seen */
    int done;                /* final chunk emitted (or error) */
    int failed;
    int tool_count;          /* tool_use blocks so far */
    apr_hash_t *tools;       /* Anthropic block index -> tool index */
    apr_int64_t answer_block; /* block of the response_format tool, or -1 */
    int answered;            /* the response_format tool was used */
    const char *stop_reason;
    int have_input;
    int have_output;
    apr_int64_t input;
    apr_int64_t cache_read;
    apr_int64_t cache_write;
    apr_int64_t output;
};

static llmgw_stream_t *anth_stream_new(apr_pool_t *p,
                                       const llmgw_xlate_ctx_t *x)
{
    llmgw_stream_t *s = apr_pcalloc(p, sizeof(*s));
    s->p = p;
    s->x = *x;
    s->tools = apr_hash_make(p);
    s->answer_block = -1;
    llmgw_chunk_writer_init(&s->w, p, x);
    return s;
}

/* An event is read with the JSON scanner: the members the translator
 * looks at, by name, as spans of the event's text (the last of a
 * duplicated name wins, as in a jansson tree). */
enum {
    F_TYPE, F_INDEX, F_DELTA, F_CONTENT_BLOCK, F_MESSAGE, F_USAGE, F_ERROR,
    F_TEXT, F_THINKING, F_PARTIAL_JSON, F_STOP_REASON, F_ID, F_NAME,
    F_INPUT, F_INPUT_TOKENS, F_CACHE_READ, F_CACHE_WRITE, F_OUTPUT_TOKENS,
    F_COUNT
};

static const struct { const char *name; apr_size_t len; } field_names[] = {
#define FN(s) { s, sizeof(s) - 1 }
    FN("type"), FN("index"), FN("delta"), FN("content_block"),
    FN("message"), FN("usage"), FN("error"), FN("text"), FN("thinking"),
    FN("partial_json"), FN("stop_reason"), FN("id"), FN("name"),
    FN("input"), FN("input_tokens"), FN("cache_read_input_tokens"),
    FN("cache_creation_input_tokens"), FN("output_tokens")
#undef FN
};

/* The fields of one object; the objects of an event that the translator
 * reads into are filled in the same pass as the event (see enter_member). */
typedef struct event_scan event_scan_t;
typedef struct {
    llmgw_jspan_t v[F_COUNT];
    unsigned found;          /* bit per field */
    event_scan_t *es;
} fields_t;

struct event_scan {
    fields_t top, delta, content_block, message, usage, error;
    fields_t message_usage;
};

static const fields_t no_fields;

/* Which field an object key is: its index, F_COUNT for none, -1 for a key
 * with NUL (jansson refuses such an event). */
static int field_index(const char *key, apr_size_t klen, int key_escaped)
{
    int i;

    if (key_escaped) {
        char buf[256];
        long n = klen <= sizeof(buf)
                 ? llmgw_json_unescape(&(llmgw_jspan_t){ key - 1, klen + 2,
                                       LLMGW_JV_STRING, 1 }, buf) : 0;
        if (n < 0 || (n && memchr(buf, '\0', (apr_size_t)n))) {
            return -1;
        }
        for (i = 0; i < F_COUNT; i++) {
            if (llmgw_json_key_is(key, klen, 1, field_names[i].name)) {
                return i;
            }
        }
        return F_COUNT;
    }
    for (i = 0; i < F_COUNT; i++) {
        if (klen == field_names[i].len && key[0] == field_names[i].name[0]
            && !memcmp(key, field_names[i].name, klen)) {
            return i;
        }
    }
    return F_COUNT;
}

static int field_member(void *baton, const char *key, apr_size_t klen,
                        int key_escaped, const llmgw_jspan_t *value)
{
    fields_t *f = baton;
    int i = field_index(key, klen, key_escaped);

    if (i < 0) {
        return 1;
    }
    if (i < F_COUNT) {
        f->v[i] = *value;
        f->found |= 1u << i;
    }
    return 0;
}

/* The objects read in the event's pass: the event's delta, content_block,
 * message, usage and error, and the message's usage. A duplicated name
 * starts its object's fields again (the last one wins, as in a tree). */
static void *enter_member(void *baton, const char *key, apr_size_t klen,
                          int key_escaped)
{
    fields_t *f = baton, *kid = NULL;
    event_scan_t *es = f->es;

    if (es == NULL) {
        return NULL;
    }
    if (f == &es->top) {
        switch (field_index(key, klen, key_escaped)) {
        case F_DELTA: kid = &es->delta; break;
        case F_CONTENT_BLOCK: kid = &es->content_block; break;
        case F_MESSAGE: kid = &es->message; break;
        case F_USAGE: kid = &es->usage; break;
        case F_ERROR: kid = &es->error; break;
        default: break;
        }
    }
    else if (f == &es->message
             && field_index(key, klen, key_escaped) == F_USAGE) {
        kid = &es->message_usage;
    }
    if (kid != NULL) {
        kid->found = 0;
    }
    return kid;
}

static const llmgw_json_visitor_t event_visitor = {
    field_member, enter_member, NULL
};

static const llmgw_jspan_t *field(const fields_t *f, int i)
{
    return (f->found & (1u << i)) ? &f->v[i] : NULL;
}

/* The fields of member i of f read in the event's pass (kid), or none when
 * that member is not an object. */
static const fields_t *sub(const fields_t *f, int i, const fields_t *kid)
{
    const llmgw_jspan_t *v = field(f, i);
    return v && v->type == LLMGW_JV_OBJECT ? kid : &no_fields;
}

/* A string member, or NULL. */
static const llmgw_jspan_t *fstr(const fields_t *f, int i)
{
    const llmgw_jspan_t *v = field(f, i);
    return v && v->type == LLMGW_JV_STRING ? v : NULL;
}

/* A string member equals lit. */
static int fstr_is(const fields_t *f, int i, const char *lit)
{
    const llmgw_jspan_t *v = fstr(f, i);
    apr_size_t n = strlen(lit);
    char buf[64];

    if (v == NULL) {
        return 0;
    }
    if (!v->escaped) {
        return v->len - 2 == n && !memcmp(v->p + 1, lit, n);
    }
    return v->len <= sizeof(buf) && llmgw_json_unescape(v, buf) == (long)n
           && !memcmp(buf, lit, n);
}

/* A string member's text in the pool (NULs end it, as jansson's C string
 * would), or NULL. */
static const char *fstr_dup(apr_pool_t *p, const fields_t *f, int i)
{
    const llmgw_jspan_t *v = fstr(f, i);
    char *buf;
    long n;

    if (v == NULL) {
        return NULL;
    }
    buf = apr_palloc(p, v->len);
    n = llmgw_json_unescape(v, buf);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static int fint(const fields_t *f, int i, apr_int64_t *out)
{
    const llmgw_jspan_t *v = field(f, i);
    return v && llmgw_json_int(v, out);
}

/* Appends `"name":` and a string member's JSON text as it came (a
 * validated string: its escapes, \u0000 too, stay as they are). */
#define LIT(b, s) llmgw_buf_append((b), (s), sizeof(s) - 1)
static void put_str_member(llmgw_buf_t *b, const char *name_lit,
                           apr_size_t nlen, const llmgw_jspan_t *v)
{
    llmgw_buf_append(b, name_lit, nlen);
    if (v) {
        llmgw_buf_append(b, v->p, v->len);
    }
    else {
        LIT(b, "\"\"");
    }
}
#define PUT_MEMBER(b, lit, v) put_str_member((b), (lit), sizeof(lit) - 1, (v))

/* A chunk whose delta is one string member `"name":<text>`. */
static int emit_text(llmgw_stream_t *s, const char *lit, apr_size_t nlen,
                     const llmgw_jspan_t *text, llmgw_emit_fn emit,
                     void *baton)
{
    put_str_member(llmgw_chunk_begin(&s->w, 0), lit, nlen, text);
    return llmgw_chunk_emit(&s->w, NULL, NULL, emit, baton);
}
#define EMIT_TEXT(s, lit, v, emit, baton) \
    emit_text((s), (lit), sizeof(lit) - 1, (v), (emit), (baton))

static int emit_error(llmgw_stream_t *s, const llmgw_error_t *e,
                      llmgw_emit_fn emit, void *baton)
{
    s->done = s->failed = 1;
    return llmgw_xlate_emit_error(&s->x, e, emit, baton);
}

static int emit_gateway_error(llmgw_stream_t *s, const char *msg,
                              llmgw_emit_fn emit, void *baton)
{
    s->done = s->failed = 1;
    return llmgw_xlate_emit_provider_error(&s->x, msg, emit, baton);
}

static int ensure_started(llmgw_stream_t *s, llmgw_emit_fn emit, void *baton)
{
    if (s->started) {
        return 0;
    }
    s->started = 1;
    LIT(llmgw_chunk_begin(&s->w, 0), "\"role\":\"assistant\",\"content\":\"\"");
    return llmgw_chunk_emit(&s->w, NULL, NULL, emit, baton);
}

static void record_usage(llmgw_stream_t *s, const fields_t *f)
{
    apr_int64_t v;

    if (fint(f, F_INPUT_TOKENS, &v)) {
        s->input = v;
        s->have_input = 1;
    }
    if (fint(f, F_CACHE_READ, &v)) {
        s->cache_read = v;
    }
    if (fint(f, F_CACHE_WRITE, &v)) {
        s->cache_write = v;
    }
    if (fint(f, F_OUTPUT_TOKENS, &v)) {
        s->output = v;
        s->have_output = 1;
    }
}

/* The final chunk and, when asked for, the usage chunk. */
static int emit_final(llmgw_stream_t *s, llmgw_emit_fn emit, void *baton)
{
    const char *finish;
    apr_int64_t prompt = s->input + s->cache_read + s->cache_write;

    if (ensure_started(s, emit, baton)) {
        s->done = 1;
        return LLMGW_XLATE_ERROR;
    }
    s->done = 1;
    finish = map_stop_reason(s->stop_reason);
    if (s->answered && s->tool_count == 0 && finish != NULL
        && !strcmp(finish, "tool_calls")) {
        finish = "stop";        /* the answer tool is not a tool call */
    }
    finish = llmgw_finish_reason(finish, s->tool_count > 0);
    llmgw_chunk_begin(&s->w, 0);
    if (llmgw_chunk_emit(&s->w, NULL, finish, emit, baton)) {
        return LLMGW_XLATE_ERROR;
    }
    if (s->x.include_usage
        && llmgw_chunk_emit_usage(&s->w, prompt, s->output,
                                  prompt + s->output, s->cache_read, emit,
                                  baton)) {
        return LLMGW_XLATE_ERROR;
    }
    return LLMGW_XLATE_END;
}

static int any_member(void *baton, const char *key, apr_size_t klen,
                      int key_escaped, const llmgw_jspan_t *value)
{
    (void)baton; (void)key; (void)klen; (void)key_escaped; (void)value;
    return 1;
}

static int on_block_start(llmgw_stream_t *s, const event_scan_t *es,
                          llmgw_emit_fn emit, void *baton)
{
    const fields_t *ev = &es->top;
    const fields_t *cbf = sub(ev, F_CONTENT_BLOCK, &es->content_block);
    const llmgw_jspan_t *t, *input;
    apr_int64_t idx;
    int found = fint(ev, F_INDEX, &idx);
    llmgw_buf_t *b;

    if (!fstr(cbf, F_TYPE)) {
        return 0;
    }
    if (fstr_is(cbf, F_TYPE, "text")) {
        t = fstr(cbf, F_TEXT);
        return t && t->len > 2 ? EMIT_TEXT(s, "\"content\":", t, emit, baton)
                               : 0;
    }
    if (fstr_is(cbf, F_TYPE, "thinking")) {
        t = fstr(cbf, F_THINKING);
        return t && t->len > 2
               ? EMIT_TEXT(s, "\"reasoning_content\":", t, emit, baton) : 0;
    }
    if (!fstr_is(cbf, F_TYPE, "tool_use")) {
        return 0;   /* redacted_thinking, server tools...: skipped */
    }
    input = field(cbf, F_INPUT);
    if (input && (input->type != LLMGW_JV_OBJECT
                  || llmgw_json_each(input, any_member, NULL) == 0)) {
        input = NULL;       /* only a non-empty object is an input */
    }
    if (fstr_is(cbf, F_NAME, ANTHROPIC_JSON_TOOL) && !s->answered) {
        /* the response_format answer: its input streams as content */
        s->answered = 1;
        s->answer_block = found ? idx : -1;
        if (input) {
            llmgw_buf_t js;
            llmgw_buf_init(&js, s->p, input->len);
            llmgw_json_put_compact(&js, input);
            b = llmgw_chunk_begin(&s->w, 0);
            LIT(b, "\"content\":");
            llmgw_buf_json_string(b, js.data, js.len);
            return llmgw_chunk_emit(&s->w, NULL, NULL, emit, baton);
        }
        return 0;
    }
    {
        int k = s->tool_count++;
        char num[16];

        if (found) {
            apr_int64_t *key = apr_palloc(s->p, sizeof(*key));
            int *val = apr_palloc(s->p, sizeof(*val));
            *key = idx;
            *val = k;
            apr_hash_set(s->tools, key, sizeof(*key), val);
        }
        b = llmgw_chunk_begin(&s->w, 0);
        LIT(b, "\"tool_calls\":[{\"index\":");
        llmgw_buf_append(b, num, (apr_size_t)apr_snprintf(num, sizeof(num),
                                                          "%d", k));
        PUT_MEMBER(b, ",\"id\":", fstr(cbf, F_ID));
        LIT(b, ",\"type\":\"function\",\"function\":{");
        PUT_MEMBER(b, "\"name\":", fstr(cbf, F_NAME));
        LIT(b, ",\"arguments\":");
        /* An input already complete at start (rare) is sent whole. */
        if (input) {
            llmgw_buf_t js;
            llmgw_buf_init(&js, s->p, input->len);
            llmgw_json_put_compact(&js, input);
            llmgw_buf_json_string(b, js.data, js.len);
        }
        else {
            LIT(b, "\"\"");
        }
        LIT(b, "}}]");
        return llmgw_chunk_emit(&s->w, NULL, NULL, emit, baton);
    }
}

static int on_block_delta(llmgw_stream_t *s, const event_scan_t *es,
                          llmgw_emit_fn emit, void *baton)
{
    const fields_t *ev = &es->top;
    const fields_t *df = sub(ev, F_DELTA, &es->delta);
    const llmgw_jspan_t *t;

    if (!fstr(df, F_TYPE)) {
        return 0;
    }
    if (fstr_is(df, F_TYPE, "text_delta")) {
        t = fstr(df, F_TEXT);
        return t && t->len > 2 ? EMIT_TEXT(s, "\"content\":", t, emit, baton)
                               : 0;
    }
    if (fstr_is(df, F_TYPE, "thinking_delta")) {
        t = fstr(df, F_THINKING);
        return t && t->len > 2
               ? EMIT_TEXT(s, "\"reasoning_content\":", t, emit, baton) : 0;
    }
    if (fstr_is(df, F_TYPE, "input_json_delta")) {
        const llmgw_jspan_t *pj = fstr(df, F_PARTIAL_JSON);
        apr_int64_t idx;
        int found = fint(ev, F_INDEX, &idx);
        const int *k = found ? apr_hash_get(s->tools, &idx, sizeof(idx)) : NULL;
        llmgw_buf_t *b;
        char num[16];

        if (pj == NULL || pj->len <= 2) {
            return 0;
        }
        if (found && s->answered && idx == s->answer_block) {
            return EMIT_TEXT(s, "\"content\":", pj, emit, baton);
        }
        if (k == NULL) {
            return 0;
        }
        b = llmgw_chunk_begin(&s->w, 0);
        LIT(b, "\"tool_calls\":[{\"index\":");
        llmgw_buf_append(b, num, (apr_size_t)apr_snprintf(num, sizeof(num),
                                                          "%d", *k));
        PUT_MEMBER(b, ",\"function\":{\"arguments\":", pj);
        LIT(b, "}}]");
        return llmgw_chunk_emit(&s->w, NULL, NULL, emit, baton);
    }
    return 0;   /* signature_delta, citations...: skipped */
}

static int anth_stream_event(llmgw_stream_t *s, const char *event,
                             const char *data, apr_size_t len,
                             llmgw_emit_fn emit, void *baton)
{
    event_scan_t es;
    const fields_t *ev = &es.top;
    llmgw_jspan_t top;
    const llmgw_jspan_t *type;
    char tbuf[32];
    const char *t;
    int rv = LLMGW_XLATE_CONTINUE;

    if (s->done) {
        return s->failed ? LLMGW_XLATE_ERROR : LLMGW_XLATE_END;
    }
    if (event != NULL && !strcmp(event, "ping")) {
        return LLMGW_XLATE_CONTINUE;
    }
    if (data == NULL || len == 0) {
        return LLMGW_XLATE_CONTINUE;
    }
    es.top.found = es.delta.found = es.content_block.found = 0;
    es.message.found = es.usage.found = es.error.found = 0;
    es.message_usage.found = 0;
    es.top.es = &es;
    es.message.es = &es;
    es.delta.es = es.content_block.es = es.usage.es = es.error.es = NULL;
    es.message_usage.es = NULL;
    if (llmgw_json_object_visit(data, len, &top, &event_visitor, &es.top)
        != 1) {
        return emit_gateway_error(s, "upstream sent an invalid stream event",
                                  emit, baton);
    }
    type = fstr(ev, F_TYPE);
    if (type != NULL) {
        long n = type->len <= sizeof(tbuf) ? llmgw_json_unescape(type, tbuf)
                                           : -1;
        if (n < 0 || memchr(tbuf, '\0', (apr_size_t)n)) {
            return LLMGW_XLATE_CONTINUE;     /* an unknown event */
        }
        tbuf[n] = '\0';
        t = tbuf;
    }
    else if ((t = event) == NULL) {
        return LLMGW_XLATE_CONTINUE;
    }

    if (!strcmp(t, "content_block_delta")) {
        if (ensure_started(s, emit, baton)
            || on_block_delta(s, &es, emit, baton)) {
            rv = LLMGW_XLATE_ERROR;
        }
    }
    else if (!strcmp(t, "message_start")) {
        const fields_t *m = sub(ev, F_MESSAGE, &es.message);
        record_usage(s, sub(m, F_USAGE, &es.message_usage));
        if (ensure_started(s, emit, baton)) {
            rv = LLMGW_XLATE_ERROR;
        }
    }
    else if (!strcmp(t, "content_block_start")) {
        if (ensure_started(s, emit, baton)
            || on_block_start(s, &es, emit, baton)) {
            rv = LLMGW_XLATE_ERROR;
        }
    }
    else if (!strcmp(t, "message_delta")) {
        const char *r = fstr_dup(s->p, sub(ev, F_DELTA, &es.delta),
                                 F_STOP_REASON);
        if (r != NULL) {
            s->stop_reason = r;
        }
        record_usage(s, sub(ev, F_USAGE, &es.usage));
        s->delta_seen = 1;
    }
    else if (!strcmp(t, "message_stop")) {
        rv = emit_final(s, emit, baton);
    }
    else if (!strcmp(t, "error")) {
        const fields_t *ef = sub(ev, F_ERROR, &es.error);
        const char *et = fstr_dup(s->p, ef, F_TYPE);
        const char *msg = fstr_dup(s->p, ef, F_MESSAGE);   /* its message */
        llmgw_error_t err;

        fill_error(native_status_for_type(et), et,
                   msg ? msg : "upstream stream error", &err);
        rv = emit_error(s, &err, emit, baton);
    }
    /* ping, content_block_stop and unknown events: nothing to send. */

    if (rv == LLMGW_XLATE_ERROR) {
        s->done = s->failed = 1;
    }
    return rv;
}

static int anth_stream_finish(llmgw_stream_t *s, llmgw_emit_fn emit,
                              void *baton)
{
    if (s->done) {
        return s->failed ? LLMGW_XLATE_ERROR : LLMGW_XLATE_END;
    }
    if (s->delta_seen) {
        int rv = emit_final(s, emit, baton);
        if (rv == LLMGW_XLATE_ERROR) {
            s->failed = 1;
        }
        return rv;
    }
    {
        /* no message_delta (stop_reason) and no message_stop: cut */
        llmgw_error_t e;
        memset(&e, 0, sizeof(e));
        e.status = 502;
        e.type = "provider_error";
        e.code = "invalid_upstream_response";
        e.message = "upstream stream ended early";
        e.upstream_status = 200;
        e.retry_after = -1;
        return emit_error(s, &e, emit, baton);
    }
}

static void anth_stream_usage(const llmgw_stream_t *s, llmgw_usage_t *usage)
{
    llmgw_usage_t none = LLMGW_USAGE_INIT;

    *usage = none;
    if (s->have_input) {
        usage->prompt_tokens = s->input + s->cache_read + s->cache_write;
        usage->cached_tokens = s->cache_read;
        usage->cache_write_tokens = s->cache_write;
    }
    if (s->have_output) {
        usage->completion_tokens = s->output;
    }
    if (s->have_input && s->have_output) {
        usage->total_tokens = usage->prompt_tokens + s->output;
    }
}

/* ------------------------------------------------------------------ */
/* errors                                                              */
/* ------------------------------------------------------------------ */

static void anth_error(apr_pool_t *p, int http_status, const char *body,
                       apr_size_t len, llmgw_error_t *out)
{
    json_t *j = body && len
                ? llmgw_json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    const json_t *e = json_object_get(j, "error");
    const char *et = jstr(e, "type");
    const char *msg = jstr(e, "message");

    fill_error(http_status, et ? apr_pstrdup(p, et) : NULL,
               msg ? apr_pstrdup(p, msg)
                   : apr_psprintf(p, "upstream provider returned HTTP %d",
                                  http_status),
               out);
    json_decref(j);
}

static json_t *anth_chat_request(apr_pool_t *p, const json_t *req,
                                 const llmgw_xlate_ctx_t *x, const char **err)
{
    return llmgw_xlate_chat_request_tree(&llmgw_anthropic_translator, p, req,
                                         x, err);
}

static json_t *anth_chat_response(apr_pool_t *p, const json_t *native,
                                  const llmgw_xlate_ctx_t *x,
                                  llmgw_usage_t *usage)
{
    return llmgw_xlate_chat_response_tree(&llmgw_anthropic_translator, p,
                                          native, x, usage);
}

const llmgw_translator_t llmgw_anthropic_translator = {
    "anthropic",
    anth_path,
    anth_headers,
    anth_chat_request,
    anth_chat_response,
    anth_stream_new,
    anth_stream_event,
    anth_stream_finish,
    anth_stream_usage,
    anth_error,
    NULL,
    NULL,
    anth_raw_request,
    anth_raw_response
};
