/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_translate.h — OpenAI Chat Completions <-> provider wire formats
 * (pure: APR + jansson only). One translator per provider type: the
 * OpenAI-compatible one (llmgw_openai.c) relays the client's bytes and the
 * provider's answers as they are; the native ones translate.
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

/* What a request translation could not take (SPEC "Translation": nothing
 * is dropped silently). The caller owns it; translators fill it. */
typedef struct llmgw_xlate_report {
    int drop_unsupported;           /* LLMGWDropUnsupported On: drop, list */
    apr_array_header_t *dropped;    /* const char *: parameters dropped */
    const char *param;              /* set with a 400 unsupported_parameter */
    llmgw_usage_t *usage;           /* NULL, or where a relayed stream notes
                                     * the usage as soon as it sees it */
} llmgw_xlate_report_t;

/** Per-request context shared by every translator call. */
typedef struct llmgw_xlate_ctx {
    const char *model;          /* upstream model (no provider prefix) */
    const char *id;             /* completion id shown to the client: "chatcmpl-..." */
    apr_int64_t created;        /* unix seconds for `created` */
    const char *request_id;     /* gateway request id, for error envelopes */
    const char *provider;       /* provider name, for error envelopes */
    long default_max_tokens;    /* used when the client sent none (Anthropic requires it) */
    int include_usage;          /* stream_options.include_usage */
    llmgw_xlate_report_t *report;   /* NULL: unsupported parameters are
                                     * refused, not recorded */
} llmgw_xlate_ctx_t;

/* The client's request as the gateway hands it to raw_request and
 * raw_response. */
typedef struct llmgw_xlate_in {
    llmgw_endpoint_e ep;
    const char *endpoint_name;      /* "chat/completions"...: for messages */
    const char *raw;                /* the client's text */
    apr_size_t len;
    int unchanged;                  /* raw can go as it is: no gateway
                                     * field in it, the model the client
                                     * named */
    json_t *tree;                   /* its tree (gateway fields removed)
                                     * when one was built, else NULL */
    /* Builds the tree on first use (NULL: tree is all there is). Called
     * only when a tree is really needed: a relayed request or answer never
     * costs one. */
    json_t *(*request_tree)(void *baton);
    void *baton;
    /* For raw_response: the gateway's check of the answer
     * (llmgw_answer_check, llmgw_answer.h) with the usage it read in its
     * pass, or NULL; raw_response takes that usage instead of reading the
     * text again. */
    const struct llmgw_answer_usage *answer;
    /* For raw_response, set by the gateway only for a translator that
     * checks the answer in its own reading pass (Anthropic, and Gemini's
     * generateContent answers): *why is then
     * NULL for an answer llmgw_answer_invalid (llmgw_answer.h) takes, else
     * its reason, and raw_response returns -1 without touching usage. The
     * gateway then calls neither llmgw_answer_invalid nor raw_response
     * again. NULL: raw_response only translates. */
    const char **why;
    /* The spans the handler's validating pass over raw kept (a plain Chat
     * request, llmgw_parse.h), or NULL: the typed reader then reads raw
     * without scanning it again. */
    const struct llmgw_chat_scan *scan;
} llmgw_xlate_in_t;

/* The client's request tree (in->request_tree, else in->tree). */
json_t *llmgw_xlate_in_tree(const llmgw_xlate_in_t *in);

/* Emits one SSE `data:` payload to the client: a chat.completion.chunk JSON
 * text or, for a mid-stream error, an error envelope. Returns 0 to go on. */
typedef int (*llmgw_emit_fn)(void *baton, const char *data, apr_size_t len);

typedef struct llmgw_stream llmgw_stream_t;   /* translator-private */

/* Result of feeding one native stream event. */
#define LLMGW_XLATE_CONTINUE 0   /* go on */
#define LLMGW_XLATE_END      1   /* the native stream said it is complete */
#define LLMGW_XLATE_ERROR    2   /* an error envelope was emitted; stop */

typedef struct llmgw_translator llmgw_translator_t;

struct llmgw_translator {
    const char *name;

    /* Upstream path appended to the provider base URL, e.g. "/v1/messages"
     * or "/models/gemini-2.0-flash:streamGenerateContent?alt=sse".
     * Model names are percent-encoded: they never change the path or query.
     * NULL when the endpoint is not supported by this provider type. */
    const char *(*path)(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                        llmgw_endpoint_e ep, int stream);

    /* Appends "Name: value" strings (auth and protocol headers) to out. */
    void (*headers)(apr_pool_t *p, const char *key, apr_array_header_t *out);

    /* chat_request, chat_response, embeddings_request and
     * embeddings_response are NULL for the OpenAI-compatible relay (it
     * goes through raw_request and raw_response); the other members are
     * set for every provider. */

    /* OpenAI chat request -> native body (new reference). On invalid input
     * returns NULL with *err set to a client-facing message (400).
     * Anthropic and Gemini: the tree form of raw_request
     * (llmgw_xlate_chat_request_tree). */
    json_t *(*chat_request)(apr_pool_t *p, const json_t *req,
                            const llmgw_xlate_ctx_t *x, const char **err);

    /* Native response -> OpenAI chat.completion (new reference); fills
     * usage. Anthropic and Gemini: the tree form of raw_response
     * (llmgw_xlate_chat_response_tree); NULL for what it refuses. */
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

    /* The upstream body of the request in (what the gateway calls, for
     * every provider). A provider writing a native body builds it from the
     * tree (llmgw_xlate_request_from_tree); an OpenAI-compatible one relays
     * the client's text, or splices the model into it, without a tree.
     * Returns 0 with *out (pool memory, or in->raw itself) and *out_len,
     * or an HTTP status (400, 500) with *err. */
    int (*raw_request)(const llmgw_translator_t *self, apr_pool_t *p,
                       const llmgw_xlate_ctx_t *x, const llmgw_xlate_in_t *in,
                       const char **out, apr_size_t *out_len,
                       const char **err);

    /* A complete non-stream 2xx answer to the request in -> the client's
     * body (*out, *out_len: pool memory or body itself); fills usage.
     * Returns 0, or -1 when the answer cannot be translated. */
    int (*raw_response)(const llmgw_translator_t *self, apr_pool_t *p,
                        const llmgw_xlate_ctx_t *x,
                        const llmgw_xlate_in_t *in, const char *body,
                        apr_size_t len, const char **out, apr_size_t *out_len,
                        llmgw_usage_t *usage);
};

extern const llmgw_translator_t llmgw_openai_translator;
extern const llmgw_translator_t llmgw_anthropic_translator;
extern const llmgw_translator_t llmgw_gemini_translator;

/* The translator of a provider type. */
const llmgw_translator_t *llmgw_translator_for(llmgw_provider_type_e type);

/* raw_request and raw_response of the providers writing a native body:
 * the request tree through chat_request or embeddings_request; the answer
 * parsed and given to chat_response or embeddings_response (base64
 * embeddings when the client asked). */
int llmgw_xlate_request_from_tree(const llmgw_translator_t *self,
                                  apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                                  const llmgw_xlate_in_t *in,
                                  const char **out, apr_size_t *out_len,
                                  const char **err);
int llmgw_xlate_response_from_tree(const llmgw_translator_t *self,
                                   apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                                   const llmgw_xlate_in_t *in,
                                   const char *body, apr_size_t len,
                                   const char **out, apr_size_t *out_len,
                                   llmgw_usage_t *usage);

/* Turns written directly (the request writers): items are written into
 * blk (llmgw_xlate_turn_item before each), then llmgw_xlate_turn_push
 * makes them a turn {"role":ROLE,"KEY":[items]} of out, merged into the
 * last turn when it has the same role; no item, no turn. */
#include "llmgw_buf.h"
typedef struct llmgw_xlate_turns {
    llmgw_buf_t out;            /* the turns array's members */
    llmgw_buf_t blk;            /* the next turn's items */
    const char *last_role;
    const char *key;            /* "content", "parts" */
} llmgw_xlate_turns_t;

void llmgw_xlate_turns_init(llmgw_xlate_turns_t *t, apr_pool_t *p,
                            const char *key);
/* blk, with a comma when it already holds an item */
llmgw_buf_t *llmgw_xlate_turn_item(llmgw_xlate_turns_t *t);
void llmgw_xlate_turn_push(llmgw_xlate_turns_t *t, const char *role);

/* chat_request and chat_response of the providers writing their JSON
 * directly: the tree forms of raw_request and raw_response (the one
 * writer and reader), for callers holding trees. */
json_t *llmgw_xlate_chat_request_tree(const llmgw_translator_t *self,
                                      apr_pool_t *p, const json_t *req,
                                      const llmgw_xlate_ctx_t *x,
                                      const char **err);
json_t *llmgw_xlate_chat_response_tree(const llmgw_translator_t *self,
                                       apr_pool_t *p, const json_t *native,
                                       const llmgw_xlate_ctx_t *x,
                                       llmgw_usage_t *usage);

/* Helpers shared by the stream translators. */

/* Serialises j (stolen) compactly and emits it; returns emit's value, or
 * -1 when j cannot be serialised. */
int llmgw_xlate_emit_json(json_t *j, llmgw_emit_fn emit, void *baton);

/* A stream's chat.completion.chunk writer: each chunk is written straight
 * into one buffer (no tree), behind the id/object/created/model prefix
 * written once per stream. Members in the order of OpenAI's chunks:
 *   {"id":..,"object":"chat.completion.chunk","created":..,"model":..,
 *    "choices":[{"index":N,"delta":{..},"logprobs":..,"finish_reason":..}]}
 */
#include "llmgw_buf.h"
typedef struct llmgw_chunk_writer {
    llmgw_buf_t out;                /* the chunk being written */
    const char *prefix;             /* `{"id":...,"model":"..."` */
    apr_size_t prefix_len;
} llmgw_chunk_writer_t;

void llmgw_chunk_writer_init(llmgw_chunk_writer_t *w, apr_pool_t *p,
                             const llmgw_xlate_ctx_t *x);

/* Starts a chunk for choice index, up to the delta's opening brace: the
 * caller appends the delta's members (comma-separated) to the returned
 * buffer. */
llmgw_buf_t *llmgw_chunk_begin(llmgw_chunk_writer_t *w, int index);

/* Closes the delta, writes logprobs (JSON text, NULL -> null) and
 * finish_reason (NULL -> null) and emits the chunk; emit's value. */
int llmgw_chunk_emit(llmgw_chunk_writer_t *w, const char *logprobs,
                     const char *finish, llmgw_emit_fn emit, void *baton);

/* Emits the usage chunk (`"choices":[]` and the OpenAI usage object; the
 * cached_tokens detail only when cached >= 0); emit's value. */
int llmgw_chunk_emit_usage(llmgw_chunk_writer_t *w, apr_int64_t prompt,
                           apr_int64_t completion, apr_int64_t total,
                           apr_int64_t cached, llmgw_emit_fn emit,
                           void *baton);

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

/* ---- request parameters (the per-provider tables) ---- */

/* How a provider type takes one OpenAI chat parameter. */
typedef enum {
    LLMGW_XP_TRANSLATED = 1,    /* translated by the translator */
    LLMGW_XP_NONE,              /* known, no equivalent: only its neutral
                                 * value (null, false, 0, ...) is accepted */
    LLMGW_XP_GATEWAY            /* the gateway's own field: never upstream */
} llmgw_xparam_e;

typedef struct llmgw_xparam {
    const char *name;
    llmgw_xparam_e how;
} llmgw_xparam_t;

/* Checks every member of req against table (ended by a NULL name; a
 * provider lists what it translates) and the gateway's one list of known
 * Chat Completions parameters: a parameter without translation (a known
 * one with a non-neutral value, or an unknown name) is dropped and listed in
 * x->report->dropped when drop_unsupported is on, else refused: returns -1
 * with *err and x->report->param set (a 400 unsupported_parameter).
 * provider_type names the provider type in messages. */
int llmgw_xlate_check_params(apr_pool_t *p, const json_t *req,
                             const llmgw_xparam_t *table,
                             const char *provider_type,
                             const llmgw_xlate_ctx_t *x, const char **err);

/* One parameter (or one value of it) the translator cannot take: 0 when it
 * is dropped (listed), -1 with *err and the report's param set otherwise. */
int llmgw_xlate_unsupported(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                            const char *param, const char *why,
                            const char **err);

/* Whether v is the neutral value of OpenAI parameter name (what sending
 * nothing means): null, logprobs false, a penalty of 0, n 1, ... */
int llmgw_xlate_neutral(const char *name, const json_t *v);

/* reasoning_effort / reasoning ({effort, max_tokens, enabled, exclude}) of
 * an OpenAI request. */
typedef struct llmgw_xlate_reasoning {
    int present;                /* either was given (not null) */
    apr_int64_t budget;         /* thinking tokens; 0: reasoning off */
    int exclude;                /* reasoning.exclude: no thinking text back */
    const char *effort;         /* the effort named, or NULL */
} llmgw_xlate_reasoning_t;

/* Reads them into out; -1 with *err and *param on an invalid value. The
 * budget of an effort: minimal 1024, low 2048, medium 8192, high 24576,
 * none 0; reasoning.max_tokens is taken as is. */
int llmgw_xlate_reasoning(apr_pool_t *p, const json_t *req,
                          llmgw_xlate_reasoning_t *out, const char **param,
                          const char **err);

/* ---- embeddings ---- */

/* The base64 of a float array as little-endian float32 (what OpenAI sends
 * for encoding_format "base64"); NULL when values is not an array of
 * numbers. New reference. */
json_t *llmgw_xlate_embedding_base64(const json_t *values);

/* Rewrites every data[].embedding array of an OpenAI embeddings `list` to
 * its base64 string; returns how many were rewritten. */
int llmgw_xlate_embeddings_to_base64(json_t *list);

/* Whether an OpenAI embeddings request asks for base64 ("encoding_format":
 * "base64"). */
int llmgw_xlate_wants_base64(const json_t *req);

#endif
