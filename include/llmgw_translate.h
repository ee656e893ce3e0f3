/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_translate.h — OpenAI Chat Completions <-> native provider formats
 * (pure: APR + jansson only). One translator per native provider type.
 *
 * Client side is always OpenAI: requests are OpenAI chat requests (gateway
 * fields already removed, `model` already the upstream model), responses are
 * `chat.completion` objects and streams are `chat.completion.chunk` SSE data.
 */
#ifndef LLMGW_TRANSLATE_H
#define LLMGW_TRANSLATE_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include "llmgw_types.h"
#include "llmgw_envelope.h"

/** Per-request context shared by every translator call. */
typedef struct llmgw_xlate_ctx {
    const char *model;          /* upstream model (no provider prefix) */
    const char *id;             /* completion id shown to the client: "chatcmpl-..." */
    apr_int64_t created;        /* unix seconds for `created` */
    const char *request_id;     /* gateway request id, for error envelopes */
    const char *provider;       /* provider name, for error envelopes */
    long default_max_tokens;    /* used when the client sent none (Anthropic requires it) */
    int include_usage;          /* stream_options.include_usage */
} llmgw_xlate_ctx_t;

/* Emits one SSE `data:` payload to the client: a chat.completion.chunk JSON
 * text or, for a mid-stream error, an error envelope. Returns 0 to go on. */
typedef int (*llmgw_emit_fn)(void *baton, const char *data, apr_size_t len);

typedef struct llmgw_stream llmgw_stream_t;   /* translator-private */

/* Result of feeding one native stream event. */
#define LLMGW_XLATE_CONTINUE 0   /* go on */
#define LLMGW_XLATE_END      1   /* the native stream said it is complete */
#define LLMGW_XLATE_ERROR    2   /* an error envelope was emitted; stop */

typedef struct llmgw_translator {
    const char *name;

    /* Upstream path appended to the provider base URL, e.g. "/v1/messages"
     * or "/models/gemini-2.0-flash:streamGenerateContent?alt=sse".
     * Model names are percent-encoded: they never change the path or query.
     * NULL when the endpoint is not supported by this provider type. */
    const char *(*path)(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                        llmgw_endpoint_e ep, int stream);

    /* Appends "Name: value" strings (auth and protocol headers) to out. */
    void (*headers)(apr_pool_t *p, const char *key, apr_array_header_t *out);

    /* OpenAI chat request -> native body (new reference). On invalid input
     * returns NULL with *err set to a client-facing message (400). */
    json_t *(*chat_request)(apr_pool_t *p, const json_t *req,
                            const llmgw_xlate_ctx_t *x, const char **err);

    /* Native response -> OpenAI chat.completion (new reference); fills usage. */
    json_t *(*chat_response)(apr_pool_t *p, const json_t *native,
                             const llmgw_xlate_ctx_t *x, llmgw_usage_t *usage);

    /* Stream translation: one native SSE event at a time. */
    llmgw_stream_t *(*stream_new)(apr_pool_t *p, const llmgw_xlate_ctx_t *x);
    int (*stream_event)(llmgw_stream_t *s, const char *event,
                        const char *data, apr_size_t len,
                        llmgw_emit_fn emit, void *baton);
    /* Upstream closed: emit whatever the client still needs (the final
     * chunk with finish_reason, the usage chunk). Not [DONE]: the caller
     * writes it. Returns LLMGW_XLATE_END or LLMGW_XLATE_ERROR. */
    int (*stream_finish)(llmgw_stream_t *s, llmgw_emit_fn emit, void *baton);
    /* Usage seen so far in the stream. */
    void (*stream_usage)(const llmgw_stream_t *s, llmgw_usage_t *usage);

    /* Native error body -> gateway error (status, type, code, message,
     * retry_after from the body, e.g. google.rpc.RetryInfo). */
    void (*error)(apr_pool_t *p, int http_status, const char *body,
                  apr_size_t len, llmgw_error_t *out);

    /* Embeddings (NULL when unsupported): OpenAI request -> native body,
     * native response -> OpenAI `list` of embeddings. */
    json_t *(*embeddings_request)(apr_pool_t *p, const json_t *req,
                                  const llmgw_xlate_ctx_t *x, const char **err);
    json_t *(*embeddings_response)(apr_pool_t *p, const json_t *native,
                                   const llmgw_xlate_ctx_t *x,
                                   llmgw_usage_t *usage);
} llmgw_translator_t;

extern const llmgw_translator_t llmgw_anthropic_translator;
extern const llmgw_translator_t llmgw_gemini_translator;

/* Helpers shared by the stream translators. */

/* Serialises j (stolen) compactly and emits it; returns emit's value, or
 * -1 when j cannot be serialised. */
int llmgw_xlate_emit_json(json_t *j, llmgw_emit_fn emit, void *baton);

/* A chat.completion.chunk for choice index with delta (stolen) and
 * finish_reason (NULL -> null). New reference. */
json_t *llmgw_xlate_chunk(const llmgw_xlate_ctx_t *x, int index,
                          json_t *delta, const char *finish);

/* Emits e as the SPEC mid-stream error event (provider defaults to the
 * context's); returns LLMGW_XLATE_ERROR. */
int llmgw_xlate_emit_error(const llmgw_xlate_ctx_t *x, const llmgw_error_t *e,
                           llmgw_emit_fn emit, void *baton);

/* The same for a 502 provider_error with message msg. */
int llmgw_xlate_emit_provider_error(const llmgw_xlate_ctx_t *x,
                                    const char *msg, llmgw_emit_fn emit,
                                    void *baton);

/* Maps a finish reason; SPEC: unknown maps to "stop"; tool calls win unless
 * the reason is "length". Shared by translators. */
const char *llmgw_finish_reason(const char *mapped, int has_tool_calls);

#endif
