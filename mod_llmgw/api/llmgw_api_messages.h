/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_api_messages.h — private to the Anthropic Messages adapter
 * (llmgw_api_messages*.c): what its files share. Pure: APR + jansson.
 *
 *   llmgw_api_messages.c          the table, error shape, from_chat
 *   llmgw_api_messages_request.c  to_chat_text
 *   llmgw_api_messages_stream.c   chunk stream -> Messages events
 *   llmgw_api_messages_reduce.c   reduce and expand (the cache's framing)
 */
#ifndef LLMGW_API_MESSAGES_H
#define LLMGW_API_MESSAGES_H

#include "llmgw_client_api.h"

/* A string member of obj, or NULL. */
const char *llmgw_msg_jstr(const json_t *obj, const char *key);

/* Chat finish_reason -> Messages stop_reason (stop -> end_turn, length ->
 * max_tokens, tool_calls -> tool_use, content_filter -> refusal, anything
 * else -> end_turn). */
const char *llmgw_msg_stop_reason(const char *finish);

/* A Messages usage object from a Chat usage object (NULL: zeros).
 * input_tokens excludes the cached prompt tokens, as Anthropic counts
 * them; cache_read_input_tokens when the Chat usage names cached tokens.
 * New reference. */
json_t *llmgw_msg_usage(const json_t *chat_usage);

/* Messages' input_tokens: the prompt's tokens less the cached ones
 * (has_cached: the Chat usage names them), as Anthropic counts them. */
json_int_t llmgw_msg_input_tokens(json_int_t prompt, int has_cached,
                                  json_int_t cached);

/* The Messages error type of an HTTP status. */
const char *llmgw_msg_error_type(int status);

/* {"type":"error","error":{"type","message"}} (new reference). */
json_t *llmgw_msg_error_event(const llmgw_error_t *e);

/* Tool call arguments (a JSON text, or absent) -> the tool_use input
 * object (new reference): absent, null, empty or whitespace-only is {}
 * (llmgw_chat_request.h's rule); NULL when it is not a JSON object. */
json_t *llmgw_msg_tool_input(const json_t *arguments);

/* Messages events (new references; the json_t arguments are stolen):
 * message_start of message (its content emptied, no stop reason yet),
 * content_block_start/_delta/_stop at index, message_delta of delta
 * ({stop_reason, stop_sequence}) and usage. */
json_t *llmgw_msg_ev_message_start(json_t *message);
json_t *llmgw_msg_ev_block_start(apr_size_t index, json_t *block);
json_t *llmgw_msg_ev_block_delta(apr_size_t index, json_t *delta);
json_t *llmgw_msg_ev_block_stop(apr_size_t index);
json_t *llmgw_msg_ev_message_delta(json_t *delta, json_t *usage);

/* llmgw_api_emit_json as event name: 0, or -1. */
int llmgw_msg_emit_ev(const char *name, json_t *ev, llmgw_event_emit_fn emit,
                      void *baton);

/* Whether t is a non-empty string. */
int llmgw_msg_is_text(const json_t *t);

/* The parts of llmgw_api_messages. */
int llmgw_msg_to_chat(apr_pool_t *p, const char *in, apr_size_t len,
                      const llmgw_api_ctx_t *c, const char **chat,
                      apr_size_t *chat_len, const char **err,
                      const char **param, const char **code);
llmgw_api_stream_t *llmgw_msg_stream_new(apr_pool_t *p,
                                         const llmgw_api_ctx_t *c);
int llmgw_msg_stream_chunk(llmgw_api_stream_t *s, const char *data,
                           apr_size_t len, llmgw_event_emit_fn emit,
                           void *baton);
int llmgw_msg_stream_end(llmgw_api_stream_t *s, llmgw_event_emit_fn emit,
                         void *baton);
int llmgw_msg_stream_error(llmgw_api_stream_t *s, const llmgw_error_t *e,
                           llmgw_event_emit_fn emit, void *baton);
json_t *llmgw_msg_stream_result(llmgw_api_stream_t *s);
int llmgw_msg_reduce(apr_pool_t *p, const char *sse, apr_size_t len,
                     const char **out, apr_size_t *out_len);
int llmgw_msg_expand(apr_pool_t *p, const char *json, apr_size_t len,
                     const char **out, apr_size_t *out_len);

#endif
