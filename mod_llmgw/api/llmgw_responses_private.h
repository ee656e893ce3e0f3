/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_responses_private.h — what the files of the Responses API adapter
 * share (pure: APR + jansson only):
 *   llmgw_responses_request.c  a Responses request -> a Chat request
 *   llmgw_responses_stream.c   the output builder: chat deltas -> output
 *                              items, the event sequence, the response
 *   llmgw_api_responses.c      the adapter table: from_chat, the stream
 *                              entry points, errors, reduce and expand
 */
#ifndef LLMGW_RESPONSES_PRIVATE_H
#define LLMGW_RESPONSES_PRIVATE_H

#include <apr_pools.h>
#include <jansson.h>
#include "llmgw_client_api.h"

/* to_chat_text of the adapter: the Chat request written from the
 * client's text (c->history, the stored conversation, first). */
int llmgw_responses_to_chat(apr_pool_t *p, const char *in, apr_size_t len,
                            const llmgw_api_ctx_t *c, const char **chat,
                            apr_size_t *chat_len, const char **err,
                            const char **param, const char **code);

/* A Chat Completions usage object -> the Responses one (new reference),
 * JSON null when u is not an object. */
json_t *llmgw_responses_usage(const json_t *u);

/* The response object without its outcome: id, object, created_at, the
 * model and the request's settings echoed as OpenAI echoes them (c->echo,
 * else read from c->request; new reference; status "in_progress", output
 * [], usage null). p: scratch memory. */
json_t *llmgw_responses_skeleton(const llmgw_api_ctx_t *c, apr_pool_t *p);

/* ---- the output builder (one per answer, streamed or not) ----------- */

/* A builder writes the output items of one response and, when it has an
 * emitter, the Responses events that build them, numbered from 0. */
typedef struct llmgw_rb llmgw_rb_t;

/* base: the response skeleton (stolen). ids: item ids derive from the
 * response id (rs_X, msg_X, fc_X_N with X the id after "resp_"). emit may
 * be NULL (no events: from_chat). */
llmgw_rb_t *llmgw_rb_new(apr_pool_t *p, json_t *base, const char *resp_id);
void llmgw_rb_emitter(llmgw_rb_t *b, llmgw_event_emit_fn emit, void *baton);

/* response.created and response.in_progress, once. */
int llmgw_rb_start(llmgw_rb_t *b);

/* Deltas of the reasoning summary, the message's text and its refusal:
 * each opens its item (a reasoning or message item, closing the other
 * kind) and its part when they are not open. id (NULL: derived) names the
 * item a delta opens. text NULL opens the item only. */
int llmgw_rb_reasoning(llmgw_rb_t *b, const char *id, const char *text,
                       apr_size_t len);
int llmgw_rb_text(llmgw_rb_t *b, const char *id, const char *text,
                  apr_size_t len);
int llmgw_rb_refusal(llmgw_rb_t *b, const char *id, const char *text,
                     apr_size_t len);
/* Closes the open part (the next delta opens a new one: expand). */
int llmgw_rb_close_part(llmgw_rb_t *b);
/* A tool call delta: index is the Chat tool call index; call_id and name
 * open the call (the first delta of an index), args are appended. */
int llmgw_rb_call(llmgw_rb_t *b, int index, const char *id,
                  const char *call_id, const char *name, const char *args,
                  apr_size_t len);
/* Closes the open message or reasoning item (expand: the next delta of
 * the same kind opens a new item). */
int llmgw_rb_close_item(llmgw_rb_t *b);
/* An item the builder cannot build (a hosted tool's call in a relayed
 * answer: expand), added and done as it is. */
int llmgw_rb_item(llmgw_rb_t *b, const json_t *item);

/* Closes every open item and sets the outcome: finish is the Chat
 * finish_reason ("length": incomplete), usage a Chat usage object or NULL.
 * With an emitter, emits response.completed or response.incomplete (final,
 * when not NULL, is emitted instead of the built response: expand). */
int llmgw_rb_finish(llmgw_rb_t *b, const char *finish, const json_t *usage,
                    const json_t *final);

/* The failure: response.failed (status failed, error {code, message}) and
 * the `error` event. */
int llmgw_rb_fail(llmgw_rb_t *b, const char *code, const char *message,
                  const char *param, const char *type);

/* The finished response (borrowed), NULL before llmgw_rb_finish or after a
 * failure. */
json_t *llmgw_rb_response(llmgw_rb_t *b);

/* Releases the builder's trees (also a pool cleanup). */
void llmgw_rb_destroy(llmgw_rb_t *b);

#endif
