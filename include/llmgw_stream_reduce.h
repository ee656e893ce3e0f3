/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_stream_reduce.h — an OpenAI `chat.completion.chunk` SSE stream
 * reduced to the `chat.completion` it stands for (pure: APR + jansson).
 * The cache answers a non-streaming request from a stored stream with it
 * (llmgw_cache_sse_to_json); the translator tests check their streams
 * with it.
 */
#ifndef LLMGW_STREAM_REDUCE_H
#define LLMGW_STREAM_REDUCE_H

#include <apr_pools.h>
#include <jansson.h>
#include "llmgw_types.h"

/* usage as OpenAI writes it ({"prompt_tokens":...}), NULL when unknown
 * (a new reference otherwise). */
json_t *llmgw_stream_usage_json(const llmgw_usage_t *u);

/* The `chat.completion` an SSE stream of chunks (up to `data: [DONE]`)
 * stands for: id, created, model, system_fingerprint and service_tier from
 * the first chunk that has them; per choice (by index) the content,
 * refusal, tool calls (by index: id, type, name and arguments
 * concatenated), logprobs and the last finish_reason ("stop" when none);
 * the stream's usage, else usage when known. A new reference, or NULL when
 * the stream has no chunk or an event that is not a chunk (an error). */
json_t *llmgw_stream_reduce(apr_pool_t *p, const char *sse, apr_size_t len,
                            const llmgw_usage_t *usage);

#endif /* LLMGW_STREAM_REDUCE_H */
