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

    if (json_is_integer(cached)) {
        json_int_t c = json_integer_value(cached);
        in = in > c ? in - c : 0;
    }
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

/* chat.completion -> {id, type "message", role "assistant", model,
 * content [thinking, text, tool_use...], stop_reason, stop_sequence,
 * usage}. NULL when the answer has no choice or a tool call's arguments
 * are not a JSON object. */
static json_t *msg_from_chat(apr_pool_t *p, const json_t *chat,
                             const llmgw_api_ctx_t *c)
{
    const json_t *choice = json_array_get(json_object_get(chat, "choices"), 0);
    const json_t *msg = json_object_get(choice, "message");
    const json_t *reasoning = json_object_get(msg, "reasoning_content");
    const json_t *calls = json_object_get(msg, "tool_calls");
    const json_t *call;
    json_t *content, *text, *answer;
    size_t i;
    if (!json_is_object(msg)) {
        return NULL;
    }
    content = json_array();
    if (json_is_string(reasoning) && json_string_length(reasoning) > 0) {
        json_array_append_new(content,
                              json_pack("{s:s, s:O, s:s}", "type", "thinking",
                                        "thinking", reasoning,
                                        "signature", ""));
    }
    text = message_text(p, json_object_get(msg, "content"));
    if (text == NULL || json_string_length(text) == 0) {
        /* a refusal is what the model said */
        const json_t *refusal = json_object_get(msg, "refusal");
        if (json_is_string(refusal) && json_string_length(refusal) > 0) {
            json_decref(text);
            text = json_incref((json_t *)refusal);
        }
    }
    if (text != NULL && json_string_length(text) > 0) {
        json_array_append_new(content, json_pack("{s:s, s:o}", "type", "text",
                                                 "text", text));
        text = NULL;
    }
    json_array_foreach(calls, i, call) {
        const json_t *fn = json_object_get(call, "function");
        const char *id = llmgw_msg_jstr(call, "id");
        const char *name = llmgw_msg_jstr(fn, "name");
        json_t *input = llmgw_msg_tool_input(json_object_get(fn,
                                                             "arguments"));
        if (input == NULL) {
            json_decref(text);
            json_decref(content);
            return NULL;
        }
        json_array_append_new(content,
                              json_pack("{s:s, s:s, s:s, s:o}",
                                        "type", "tool_use",
                                        "id", id ? id : "",
                                        "name", name ? name : "",
                                        "input", input));
    }
    if (json_array_size(content) == 0) {
        json_array_append_new(content, json_pack("{s:s, s:o}", "type", "text",
                                                 "text", text ? text
                                                 : json_string("")));
        text = NULL;
    }
    json_decref(text);
    answer = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:n, s:o}",
                       "id", c && c->id ? c->id : "",
                       "type", "message",
                       "role", "assistant",
                       "model", c && c->model ? c->model : "",
                       "content", content,
                       "stop_reason", llmgw_msg_stop_reason(
                           llmgw_msg_jstr(choice, "finish_reason")),
                       "stop_sequence",
                       "usage", llmgw_msg_usage(json_object_get(chat,
                                                                "usage")));
    return answer;
}

const llmgw_client_api_t llmgw_api_messages = {
    LLMGW_API_MESSAGES, "messages",
    llmgw_msg_to_chat, msg_from_chat,
    llmgw_msg_stream_new, llmgw_msg_stream_chunk, llmgw_msg_stream_end,
    llmgw_msg_stream_error, llmgw_msg_stream_result,
    msg_error_body,
    llmgw_msg_reduce, llmgw_msg_expand
};
