/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_native.h — what the gateway reads of an answer it relays in the
 * client's own API (pure: APR + jansson): the Messages API to an
 * `anthropic` provider, the Responses API to an `openai` provider with
 * responses=native, Gemini's own format to a `gemini` provider. The bytes
 * go to the client as they came; the gateway only notes the usage and
 * whether a stream reached its terminal event (a cut stream ends with the
 * API's error event, never as a success).
 */
#ifndef LLMGW_NATIVE_H
#define LLMGW_NATIVE_H

#include <apr_pools.h>
#include "llmgw_types.h"
#include "llmgw_client_api.h"

typedef struct llmgw_native_watch llmgw_native_watch_t;

/* Results of llmgw_native_watch_event / _finish. */
#define LLMGW_NATIVE_CONTINUE 0
#define LLMGW_NATIVE_END      1     /* the terminal event was seen */
#define LLMGW_NATIVE_ERROR    2     /* the provider sent an error event */

llmgw_native_watch_t *llmgw_native_watch_new(apr_pool_t *p, llmgw_api_e api);

/* One event of the relayed stream (event name may be NULL): END when it is
 * the terminal event (the caller keeps relaying what follows until the
 * provider closes: Gemini may send its usage after the finishReason). */
int llmgw_native_watch_event(llmgw_native_watch_t *w, const char *event,
                             const char *data, apr_size_t len);

/* The usage seen so far (fields stay -1 where unknown). */
void llmgw_native_watch_usage(const llmgw_native_watch_t *w,
                              llmgw_usage_t *usage);

/* The message of the provider's error event, when there was one. */
const char *llmgw_native_watch_error(const llmgw_native_watch_t *w);

/* The usage of a whole (non-stream) answer of api: 1 when found. */
int llmgw_native_answer_usage(llmgw_api_e api, const char *body,
                              apr_size_t len, llmgw_usage_t *usage);

#endif
