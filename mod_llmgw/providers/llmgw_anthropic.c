/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_anthropic.c — OpenAI Chat Completions <-> Anthropic Messages API
 * (pure: APR + jansson only, no httpd header).
 *
 * Every json_t built here is either returned to the caller (a new
 * reference) or released before the function returns; strings that must
 * outlive a json_t are copied into the pool first.
 */
#include <stdlib.h>
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

/* An integer member, or 0 when absent or not an integer. */
static apr_int64_t jint(const json_t *obj, const char *key, int *found)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (found) {
        *found = json_is_integer(v);
    }
    return json_is_integer(v) ? (apr_int64_t)json_integer_value(v) : 0;
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
/* chat request: written from llmgw_chat_request_t                     */
/* ------------------------------------------------------------------ */

/* State of the request being built. */
typedef struct {
    apr_pool_t *p;
    const llmgw_xlate_ctx_t *x;
    const char *err;
    json_t *messages;        /* Anthropic turns */
    const char *last_role;   /* role of the last turn in messages */
    json_t *last_content;    /* borrowed: content array of the last turn */
} req_state_t;

static int fail(req_state_t *st, const char *msg)
{
    if (st->err == NULL) {
        st->err = msg;
    }
    return -1;
}

/* Appends blocks (stolen) to a turn of role, merging same-role turns. */
static void push_turn(req_state_t *st, const char *role, json_t *blocks)
{
    if (json_array_size(blocks) == 0) {
        json_decref(blocks);
        return;
    }
    if (st->last_role != NULL && !strcmp(st->last_role, role)) {
        json_array_extend(st->last_content, blocks);
        json_decref(blocks);
        return;
    }
    json_array_append_new(st->messages,
                          json_pack("{s:s, s:o}", "role", role,
                                    "content", blocks));
    st->last_role = role;
    st->last_content = blocks;
}

/* An image part -> Anthropic image block (new reference) or NULL. */
static json_t *image_block(req_state_t *st, const llmgw_chat_part_t *pt)
{
    if (pt->mime != NULL) {
        return json_pack("{s:s, s:{s:s, s:s, s:s%}}", "type", "image",
                         "source", "type", "base64", "media_type", pt->mime,
                         "data", pt->data.s, pt->data.len);
    }
    if (!strncasecmp(pt->url, "http://", 7)
        || !strncasecmp(pt->url, "https://", 8)) {
        return json_pack("{s:s, s:{s:s, s:s}}", "type", "image",
                         "source", "type", "url", "url", pt->url);
    }
    fail(st, "image_url must be an http(s) URL or a base64 data URL");
    return NULL;
}

/* Message content -> new array of Anthropic blocks, or NULL. Empty texts
 * are left out (Anthropic refuses them). */
static json_t *content_blocks(req_state_t *st, const llmgw_chat_msg_t *m)
{
    json_t *blocks = json_array();
    int i;

    for (i = 0; i < m->parts->nelts; i++) {
        const llmgw_chat_part_t *pt = &APR_ARRAY_IDX(m->parts, i,
                                                     llmgw_chat_part_t);
        json_t *b = NULL;

        if (pt->type == LLMGW_PART_TEXT) {
            if (pt->text.len > 0) {
                json_array_append_new(blocks, json_pack("{s:s, s:O}", "type",
                                      "text", "text", pt->json_text));
            }
            continue;
        }
        if (pt->type == LLMGW_PART_IMAGE) {
            b = image_block(st, pt);
        }
        else {
            fail(st, apr_psprintf(st->p, "unsupported content part type "
                                  "'%s'", pt->type == LLMGW_PART_AUDIO
                                  ? "input_audio" : "file"));
        }
        if (b == NULL) {
            json_decref(blocks);
            return NULL;
        }
        json_array_append_new(blocks, b);
    }
    return blocks;
}

/* Appends tool_use blocks for an assistant's tool calls to blocks. */
static int tool_use_blocks(req_state_t *st, const llmgw_chat_msg_t *m,
                           json_t *blocks)
{
    int i;

    for (i = 0; i < m->calls->nelts; i++) {
        const llmgw_chat_call_t *c = &APR_ARRAY_IDX(m->calls, i,
                                                    llmgw_chat_call_t);
        if (c->id == NULL) {
            return fail(st, "tool calls require an id and a function name");
        }
        json_array_append_new(blocks,
                              json_pack("{s:s, s:s, s:s, s:O}", "type",
                                        "tool_use", "id", c->id, "name",
                                        c->name, "input", c->args));
    }
    return 0;
}

/* system text: each message's parts joined with "\n\n", the non-empty
 * messages joined with "\n\n" (lengths kept: "\u0000" is content). */
static void system_text(llmgw_buf_t *sys, const llmgw_chat_msg_t *m)
{
    json_t *text = llmgw_chat_msg_text(m, "\n\n");

    if (json_string_length(text) > 0) {
        if (sys->len > 0) {
            llmgw_buf_append(sys, "\n\n", 2);
        }
        llmgw_buf_append(sys, json_string_value(text),
                         json_string_length(text));
    }
    json_decref(text);
}

static int convert_messages(req_state_t *st, const llmgw_chat_request_t *r,
                            json_t *body)
{
    int i;
    llmgw_buf_t system;

    llmgw_buf_init(&system, st->p, 0);
    for (i = 0; i < r->messages->nelts; i++) {
        const llmgw_chat_msg_t *m = &APR_ARRAY_IDX(r->messages, i,
                                                   llmgw_chat_msg_t);
        json_t *blocks;

        switch (m->role) {
        case LLMGW_ROLE_SYSTEM:
            system_text(&system, m);
            break;
        case LLMGW_ROLE_USER:
        case LLMGW_ROLE_ASSISTANT:
            blocks = content_blocks(st, m);
            if (blocks == NULL
                || tool_use_blocks(st, m, blocks)) {
                json_decref(blocks);
                return -1;
            }
            push_turn(st, m->role == LLMGW_ROLE_USER ? "user" : "assistant",
                      blocks);
            break;
        case LLMGW_ROLE_TOOL:
            push_turn(st, "user",
                      json_pack("[{s:s, s:s, s:o}]", "type", "tool_result",
                                "tool_use_id", m->call_id,
                                "content", llmgw_chat_msg_text(m, "")));
            break;
        default:
            return fail(st, "unsupported message role 'function'");
        }
    }
    if (system.len > 0) {
        json_object_set_new(body, "system",
                            json_stringn(system.data, system.len));
    }
    if (json_array_size(st->messages) == 0) {
        return fail(st, "messages must contain at least one user or "
                    "assistant message");
    }
    return 0;
}

static int convert_tools(req_state_t *st, const llmgw_chat_request_t *r,
                         json_t *body)
{
    json_t *out_choice = NULL;
    int i;
    int have_tools = 0;

    if (r->tools != NULL) {
        json_t *out = json_array();
        for (i = 0; i < r->tools->nelts; i++) {
            const llmgw_chat_tool_t *t = &APR_ARRAY_IDX(r->tools, i,
                                                        llmgw_chat_tool_t);
            json_t *tool;

            if (!strcmp(t->name, ANTHROPIC_JSON_TOOL)) {
                json_decref(out);
                return fail(st, "the tool name " ANTHROPIC_JSON_TOOL
                            " is reserved by the gateway");
            }
            tool = json_pack("{s:s}", "name", t->name);
            if (t->description != NULL) {
                json_object_set_new(tool, "description",
                                    json_deep_copy(t->description));
            }
            json_object_set_new(tool, "input_schema", t->parameters
                                ? json_deep_copy(t->parameters)
                                : json_pack("{s:s, s:{}}", "type", "object",
                                            "properties"));
            json_array_append_new(out, tool);
        }
        have_tools = json_array_size(out) > 0;
        if (have_tools) {
            json_object_set_new(body, "tools", out);
        }
        else {
            json_decref(out);
        }
    }

    switch (r->tool_choice) {
    case LLMGW_TC_AUTO:
        out_choice = json_pack("{s:s}", "type", "auto");
        break;
    case LLMGW_TC_REQUIRED:
        out_choice = json_pack("{s:s}", "type", "any");
        break;
    case LLMGW_TC_NONE:
        out_choice = json_pack("{s:s}", "type", "none");
        break;
    case LLMGW_TC_FUNCTION:
        out_choice = json_pack("{s:s, s:s}", "type", "tool", "name",
                               r->tool_choice_name);
        break;
    default:
        break;
    }

    if (r->parallel_tool_calls_off && have_tools) {
        if (out_choice == NULL) {
            out_choice = json_pack("{s:s}", "type", "auto");
        }
        if (strcmp(jstr(out_choice, "type"), "none")) {
            json_object_set_new(out_choice, "disable_parallel_tool_use",
                                json_true());
        }
    }
    /* Anthropic refuses tool_choice without tools. */
    if (out_choice != NULL && have_tools) {
        json_object_set_new(body, "tool_choice", out_choice);
    }
    else {
        json_decref(out_choice);
    }
    return 0;
}

/* An unsupported parameter: dropped (0) or refused (-1). */
static int unsupported(req_state_t *st, const char *param, const char *why)
{
    const char *err = NULL;

    if (llmgw_xlate_unsupported(st->p, st->x, param, why, &err)) {
        return fail(st, err);
    }
    return 0;
}

/* metadata.user_id, else user, else safety_identifier -> metadata.user_id.
 * Other metadata members have no equivalent. */
static int convert_user(req_state_t *st, const llmgw_chat_request_t *r,
                        json_t *body)
{
    const char *uid = NULL;
    const char *key;
    json_t *v;

    if (r->metadata != NULL) {
        json_object_foreach((json_t *)r->metadata, key, v) {
            if (!strcmp(key, "user_id") && json_is_string(v)) {
                uid = json_string_value(v);
            }
            else if (unsupported(st, apr_pstrcat(st->p, "metadata.", key,
                                                 NULL),
                                 apr_psprintf(st->p, "metadata.%s has no "
                                              "equivalent on anthropic "
                                              "providers (only user_id)",
                                              key))) {
                return -1;
            }
        }
    }
    if (uid == NULL) {
        uid = r->user;
    }
    if (uid == NULL) {
        uid = r->safety_identifier;
    }
    if (uid != NULL) {
        json_object_set_new(body, "metadata",
                            json_pack("{s:s}", "user_id", uid));
    }
    return 0;
}

static int convert_params(req_state_t *st, const llmgw_chat_request_t *r,
                          const llmgw_xlate_ctx_t *x, json_t *body)
{
    apr_int64_t max = r->max_tokens;
    apr_size_t i;
    json_t *seqs;

    if (max == 0) {
        max = x->default_max_tokens > 0 ? x->default_max_tokens : 4096;
    }
    json_object_set_new(body, "max_tokens", json_integer((json_int_t)max));
    if (r->temperature != NULL) {
        json_object_set_new(body, "temperature",
                            json_real(json_number_value(r->temperature)));
    }
    if (r->top_p != NULL) {
        json_object_set_new(body, "top_p",
                            json_real(json_number_value(r->top_p)));
    }
    if (r->stop != NULL) {
        seqs = json_array();
        for (i = 0; i < (apr_size_t)r->stop->nelts; i++) {
            json_t *s = APR_ARRAY_IDX(r->stop, i, json_t *);
            if (json_string_length(s) > 0) {
                json_array_append(seqs, s);
            }
        }
        if (json_array_size(seqs) > 0) {
            json_object_set_new(body, "stop_sequences", seqs);
        }
        else {
            json_decref(seqs);
        }
    }
    if (r->top_k != NULL) {
        json_object_set_new(body, "top_k",
                            json_integer(json_integer_value(r->top_k)));
    }
    if (convert_user(st, r, body)) {
        return -1;
    }
    if (r->stream) {
        json_object_set_new(body, "stream", json_true());
    }
    return 0;
}

/* reasoning_effort / reasoning -> thinking {budget_tokens}; *on set when
 * thinking is enabled. max_tokens (already in body) must exceed the budget:
 * raised when the client set none, else the budget is cut to fit. */
static int convert_reasoning(req_state_t *st, const llmgw_chat_request_t *r,
                             const llmgw_xlate_ctx_t *x, json_t *body, int *on)
{
    const llmgw_xlate_reasoning_t *rs = &r->reasoning;
    apr_int64_t budget, max;

    *on = 0;
    if (!rs->present || rs->budget == 0) {
        return 0;
    }
    if (rs->exclude && unsupported(st, "reasoning.exclude",
                                   "reasoning.exclude has no equivalent on "
                                   "anthropic providers")) {
        return -1;
    }
    budget = rs->budget < ANTHROPIC_MIN_THINKING ? ANTHROPIC_MIN_THINKING
                                                 : rs->budget;
    max = (apr_int64_t)json_integer_value(json_object_get(body, "max_tokens"));
    if (r->max_tokens == 0) {
        max = budget + (x->default_max_tokens > 0 ? x->default_max_tokens
                                                  : 4096);
        json_object_set_new(body, "max_tokens", json_integer((json_int_t)max));
    }
    else if (budget >= max) {
        budget = max - 1;
        if (budget < ANTHROPIC_MIN_THINKING) {
            return fail(st, "reasoning on anthropic providers needs "
                        "max_tokens above 1024 (the smallest thinking "
                        "budget)");
        }
    }
    json_object_set_new(body, "thinking",
                        json_pack("{s:s, s:I}", "type", "enabled",
                                  "budget_tokens", (json_int_t)budget));
    *on = 1;
    return 0;
}

/* response_format json_object / json_schema -> a forced tool whose input
 * is the answer (returned as the message content). */
static int convert_response_format(req_state_t *st,
                                   const llmgw_chat_request_t *r,
                                   json_t *body, int thinking)
{
    const char *type;
    json_t *tools, *tool, *choice;
    int client_tools;

    if (r->response_format == LLMGW_RF_UNSET) {
        return 0;
    }
    if (thinking) {
        /* Anthropic refuses a forced tool while thinking. */
        return unsupported(st, "response_format", "response_format cannot be "
                           "combined with reasoning on anthropic providers");
    }
    tool = json_pack("{s:s, s:s, s:o}", "name", ANTHROPIC_JSON_TOOL,
                     "description", r->rf_description ? r->rf_description
                     : "Gives the answer as JSON: the input is the answer.",
                     "input_schema", r->rf_schema
                                     ? json_deep_copy(r->rf_schema)
                                     : json_pack("{s:s}", "type", "object"));
    tools = json_object_get(body, "tools");
    client_tools = json_array_size(tools) > 0;
    if (!client_tools) {
        json_object_set_new(body, "tools", json_pack("[o]", tool));
        json_object_set_new(body, "tool_choice",
                            json_pack("{s:s, s:s}", "type", "tool",
                                      "name", ANTHROPIC_JSON_TOOL));
        return 0;
    }
    json_array_append_new(tools, tool);
    choice = json_object_get(body, "tool_choice");
    type = jstr(choice, "type");
    if (type == NULL || !strcmp(type, "auto")) {
        /* a client tool or the answer: some tool call either way */
        json_t *any = json_pack("{s:s}", "type", "any");
        if (json_is_true(json_object_get(choice,
                                         "disable_parallel_tool_use"))) {
            json_object_set_new(any, "disable_parallel_tool_use", json_true());
        }
        json_object_set_new(body, "tool_choice", any);
    }
    else if (!strcmp(type, "none")) {
        json_object_set_new(body, "tool_choice",
                            json_pack("{s:s, s:s}", "type", "tool",
                                      "name", ANTHROPIC_JSON_TOOL));
    }
    return 0;
}

static json_t *anth_chat_request(apr_pool_t *p, const json_t *req,
                                 const llmgw_xlate_ctx_t *x, const char **err)
{
    req_state_t st;
    llmgw_chat_request_t *r;
    const char *model;
    json_t *body;
    int thinking = 0;

    if (llmgw_chat_request_read(p, req, anth_params, "anthropic", x, &r,
                                err)) {
        return NULL;
    }
    memset(&st, 0, sizeof(st));
    st.p = p;
    st.x = x;

    body = json_object();
    model = x->model ? x->model : r->model;
    if (model != NULL) {
        json_object_set_new(body, "model", json_string(model));
    }
    st.messages = json_array();
    if (convert_messages(&st, r, body)
        || convert_tools(&st, r, body)
        || convert_params(&st, r, x, body)
        || convert_reasoning(&st, r, x, body, &thinking)
        || convert_response_format(&st, r, body, thinking)) {
        json_decref(st.messages);
        json_decref(body);
        *err = st.err ? st.err : "invalid request";
        return NULL;
    }
    json_object_set_new(body, "messages", st.messages);
    return body;
}

/* ------------------------------------------------------------------ */
/* chat response                                                       */
/* ------------------------------------------------------------------ */

/* OpenAI usage object from counts; fills u. */
static json_t *usage_json(apr_int64_t input, apr_int64_t cache_read,
                          apr_int64_t cache_write, apr_int64_t output,
                          llmgw_usage_t *u)
{
    apr_int64_t prompt = input + cache_read + cache_write;

    if (u != NULL) {
        u->prompt_tokens = prompt;
        u->completion_tokens = output;
        u->total_tokens = prompt + output;
        u->cached_tokens = cache_read;
        u->cache_write_tokens = cache_write;
    }
    return json_pack("{s:I, s:I, s:I, s:{s:I}}",
                     "prompt_tokens", (json_int_t)prompt,
                     "completion_tokens", (json_int_t)output,
                     "total_tokens", (json_int_t)(prompt + output),
                     "prompt_tokens_details",
                     "cached_tokens", (json_int_t)cache_read);
}

static json_t *anth_chat_response(apr_pool_t *p, const json_t *native,
                                  const llmgw_xlate_ctx_t *x,
                                  llmgw_usage_t *usage)
{
    const json_t *content = json_object_get(native, "content");
    const json_t *u = json_object_get(native, "usage");
    json_t *tool_calls = json_array();
    json_t *message;
    json_t *resp;
    /* lengths kept: "\u0000" in a text block is content too */
    llmgw_buf_t text_b, thinking_b;
    int has_text = 0, has_thinking = 0;
    char *answer = NULL;        /* the response_format tool's input */
    size_t i;
    const json_t *b;
    int has_tools;
    const char *finish;

    llmgw_buf_init(&text_b, p, 0);
    llmgw_buf_init(&thinking_b, p, 0);
    if (json_is_array(content)) {
        json_array_foreach(content, i, b) {
            const char *type = jstr(b, "type");
            if (type == NULL) {
                continue;
            }
            if (!strcmp(type, "text")) {
                const json_t *t = json_object_get(b, "text");
                if (json_is_string(t)) {
                    llmgw_buf_append(&text_b, json_string_value(t),
                                     json_string_length(t));
                    has_text = 1;
                }
            }
            else if (!strcmp(type, "thinking")) {
                const json_t *t = json_object_get(b, "thinking");
                if (json_is_string(t)) {
                    llmgw_buf_append(&thinking_b, json_string_value(t),
                                     json_string_length(t));
                    has_thinking = 1;
                }
            }
            else if (!strcmp(type, "tool_use")) {
                const json_t *input = json_object_get(b, "input");
                const char *id = jstr(b, "id");
                const char *name = jstr(b, "name");
                char *args = input ? llmgw_json_dumps(input, JSON_COMPACT
                                                       | JSON_ENCODE_ANY)
                                   : NULL;
                if (name != NULL && !strcmp(name, ANTHROPIC_JSON_TOOL)) {
                    if (answer == NULL) {
                        answer = apr_pstrdup(p, args ? args : "{}");
                    }
                    free(args);
                    continue;
                }
                json_array_append_new(tool_calls,
                    json_pack("{s:s, s:s, s:{s:s, s:s}}",
                              "id", id ? id : "",
                              "type", "function",
                              "function", "name", name ? name : "",
                              "arguments", args ? args : "{}"));
                free(args);
            }
        }
    }
    has_tools = json_array_size(tool_calls) > 0;
    message = json_pack("{s:s}", "role", "assistant");
    json_object_set_new(message, "content",
                        answer ? json_string(answer)   /* the JSON is the answer */
                        : has_text ? json_stringn(text_b.data ? text_b.data : "",
                                                  text_b.len)
                        : has_tools ? json_null() : json_string(""));
    json_object_set_new(message, "refusal", json_null());
    if (has_thinking) {
        json_object_set_new(message, "reasoning_content",
                            json_stringn(thinking_b.data ? thinking_b.data
                                                         : "", thinking_b.len));
    }
    if (has_tools) {
        json_object_set_new(message, "tool_calls", tool_calls);
    }
    else {
        json_decref(tool_calls);
    }
    finish = map_stop_reason(jstr(native, "stop_reason"));
    if (answer != NULL && !has_tools && finish != NULL
        && !strcmp(finish, "tool_calls")) {
        finish = "stop";        /* the answer tool is not a tool call */
    }
    finish = llmgw_finish_reason(finish, has_tools);

    resp = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s}]}",
                     "id", x->id ? x->id : "",
                     "object", "chat.completion",
                     "created", (json_int_t)x->created,
                     "model", x->model ? x->model : "",
                     "choices", "index", 0, "message", message,
                     "logprobs", "finish_reason", finish);
    if (json_is_object(u)) {
        json_object_set_new(resp, "usage",
                            usage_json(jint(u, "input_tokens", NULL),
                                       jint(u, "cache_read_input_tokens", NULL),
                                       jint(u, "cache_creation_input_tokens",
                                            NULL),
                                       jint(u, "output_tokens", NULL), usage));
    }
    return resp;
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
            if (llmgw_json_key_is(key, klen, 1, field_names[i].name,
                                  field_names[i].len)) {
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
    field_member, enter_member
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
            llmgw_json_put_string(b, js.data, js.len);
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
            llmgw_json_put_string(b, js.data, js.len);
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
    llmgw_xlate_request_from_tree,
    llmgw_xlate_response_from_tree
};
