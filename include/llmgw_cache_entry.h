/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_cache_entry.h — what mod_llmgw_cache stores and how a stored answer
 * is replayed (pure: APR + jansson).
 *
 * An entry is one line of JSON metadata (format, times, provider, model,
 * usage) after a magic word, then the client-facing body as it was sent:
 * an OpenAI JSON document or an OpenAI `chat.completion.chunk` SSE stream.
 * A stored stream is replayed as SSE or assembled into a `chat.completion`;
 * a stored completion is replayed as JSON or cut into chunks.
 */
#ifndef LLMGW_CACHE_ENTRY_H
#define LLMGW_CACHE_ENTRY_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "llmgw_types.h"

#define LLMGW_CACHE_ENTRY_MAGIC "LLMGWC1 "

typedef struct llmgw_cache_entry {
    int is_sse;                  /* body is an SSE stream, else JSON */
    apr_int64_t created;         /* seconds since the epoch */
    apr_int64_t expires;         /* seconds since the epoch */
    const char *provider;        /* that answered */
    const char *model;           /* upstream model that answered */
    llmgw_usage_t usage;         /* -1 where unknown */
    const char *body;
    apr_size_t len;
} llmgw_cache_entry_t;

/* The stored bytes of e (allocated from p). */
char *llmgw_cache_entry_encode(apr_pool_t *p, const llmgw_cache_entry_t *e,
                               apr_size_t *len);

/* Parses stored bytes; the body points into data. 0, or -1 when data is
 * not an entry (a corrupt entry is a miss, never served). */
int llmgw_cache_entry_decode(apr_pool_t *p, const char *data, apr_size_t len,
                             llmgw_cache_entry_t *e);

/* A stored stream replayed as SSE: its chunks, then `data: [DONE]`. The
 * usage-only chunk is left out unless include_usage; with include_usage and
 * no usage chunk stored, one is made from usage when it is known.
 * Returns 0, or -1 when the stream is not a valid OpenAI chunk stream. */
int llmgw_cache_sse_replay(apr_pool_t *p, const char *sse, apr_size_t len,
                           int include_usage, const llmgw_usage_t *usage,
                           char **out, apr_size_t *out_len);

/* A stored stream assembled into a `chat.completion` JSON document: content,
 * refusal and tool calls (by index: id, type, name, arguments) of every
 * choice, finish_reason, and usage (from the stream, else from usage when
 * known): llmgw_stream_reduce() as text. Returns 0, or -1 for an invalid
 * stream. */
int llmgw_cache_sse_to_json(apr_pool_t *p, const char *sse, apr_size_t len,
                            const llmgw_usage_t *usage, char **out,
                            apr_size_t *out_len);

/* A stored `chat.completion` cut into chunks: per choice a role chunk, a
 * content (and refusal) chunk, one chunk per tool call, a finish chunk;
 * then a usage chunk when include_usage, then `data: [DONE]`. Returns 0, or
 * -1 when json is not a chat completion. */
int llmgw_cache_json_to_sse(apr_pool_t *p, const char *json, apr_size_t len,
                            int include_usage, char **out,
                            apr_size_t *out_len);

/* usage as OpenAI writes it ({"prompt_tokens":...}), NULL when unknown. */
json_t *llmgw_cache_usage_json(const llmgw_usage_t *u);

#endif
