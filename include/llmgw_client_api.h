/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_client_api.h — the APIs clients speak to the gateway (pure: APR +
 * jansson only).
 *
 * The gateway's one internal format is OpenAI Chat Completions: the
 * provider translators (llmgw_translate.h) turn it into every provider's
 * wire format and back. A client API other than Chat Completions is an
 * adapter on the client side of that format:
 *
 *   client request --to_chat--> Chat request --provider translator--> upstream
 *   client answer <--from_chat-- chat.completion <--provider translator--
 *   client events <--stream_*-- chat.completion.chunk data <--provider--
 *
 * When the provider already speaks the client's API (Messages to an
 * `anthropic` provider, Responses to an `openai` provider with
 * `responses=native`, Gemini's own format to a `gemini` provider) the glue
 * relays the bytes instead and uses only error_body, stream_error, reduce
 * and expand of the adapter.
 *
 * Lifetime: everything is allocated from the pool given; trees returned
 * are new references the caller releases.
 */
#ifndef LLMGW_CLIENT_API_H
#define LLMGW_CLIENT_API_H

#include <apr_pools.h>
#include <jansson.h>
#include "llmgw_types.h"
#include "llmgw_envelope.h"
#include "llmgw_json_scan.h"
#include "llmgw_answer.h"

typedef enum {
    LLMGW_API_CHAT = 0,         /* OpenAI Chat Completions */
    LLMGW_API_INDOXHUB,         /* Chat Completions in IndoxHub's envelope */
    LLMGW_API_MESSAGES,         /* Anthropic Messages */
    LLMGW_API_RESPONSES,        /* OpenAI Responses */
    LLMGW_API_GEMINI            /* Gemini generateContent (relay only) */
} llmgw_api_e;

/* Emits one SSE event to the client: `event: NAME` (when event is not
 * NULL) and `data: DATA`, then the blank line. Returns 0 to go on. */
typedef int (*llmgw_event_emit_fn)(void *baton, const char *event,
                                   const char *data, apr_size_t len);

/* Responses: the request's members its answers echo (and the glue reads:
 * store, previous_response_id, input), as spans of the client's text
 * (p NULL: absent); llmgw_responses_echo_read / _member fill it. */
typedef struct llmgw_api_echo {
    llmgw_jspan_t model, input, instructions, max_output_tokens,
                  parallel_tool_calls, previous_response_id, reasoning,
                  store, temperature, text, tool_choice, tools, top_p, user,
                  metadata;
} llmgw_api_echo_t;

struct llmgw_chat_scan;             /* llmgw_parse.h */

/* What an adapter knows of the request it answers. */
typedef struct llmgw_api_ctx {
    const char *id;             /* the answer's id: "msg_...", "resp_..." */
    const char *model;          /* the model named to the client (as the
                                 * client wrote it) */
    apr_int64_t created;        /* unix seconds */
    const char *request_id;     /* gateway request id (error bodies) */
    const char *provider;       /* provider answering, for IndoxHub */
    const json_t *request;      /* the client's request tree, or NULL
                                 * (Responses reads echo first, this tree
                                 * only when echo is NULL) */
    const llmgw_api_echo_t *echo;   /* Responses: the request's echoed
                                 * members, read from its text (no tree) */
    const json_t *history;      /* Responses: the earlier conversation of
                                 * previous_response_id (input items), or
                                 * NULL */
    const struct llmgw_chat_scan *scan;  /* Responses: the validating
                                 * pass's spans of the request text
                                 * (llmgw_parse.h), or NULL; to_chat_text
                                 * takes them for that very text (same
                                 * pointer and length) instead of reading
                                 * it again */
    /* Responses' from_chat, when why is set: the chat.completion checked
     * in the writer's own pass as llmgw_answer_check(an OpenAI provider,
     * chat) checks it, *why its verdict (NULL: valid), and when
     * answer_usage is set the usage that check reads. */
    const char **why;
    llmgw_answer_usage_t *answer_usage;
    apr_int64_t duration_ms;    /* IndoxHub: request start to answer */
    double cost_usd;            /* IndoxHub: < 0 unknown */
} llmgw_api_ctx_t;

typedef struct llmgw_api_stream llmgw_api_stream_t;   /* adapter-private */

/* The error code of a parameter that has no translation. */
#define LLMGW_API_UNSUPPORTED "unsupported_parameter"

typedef struct llmgw_client_api {
    llmgw_api_e api;
    const char *name;           /* "chat/completions", "messages", ... */

    /* The client's request tree -> a Chat Completions request tree (new
     * reference) with the same model, the gateway's fields
     * (LLMGW_GATEWAY_FIELDS) kept as they came, `stream` as asked and
     * `stream_options.include_usage` true when streaming (the adapter
     * needs the usage for its last events). c->history (Responses) comes
     * before the request's own input. Returns 0, or 400 with *err,
     * *param (the offending field, or NULL) and *code: NULL for an invalid
     * request, LLMGW_API_UNSUPPORTED for a valid one that names what Chat
     * cannot express (SPEC: never dropped silently). NULL for Chat. */
    int (*to_chat)(apr_pool_t *p, const json_t *in, const llmgw_api_ctx_t *c,
                   json_t **chat, const char **err, const char **param,
                   const char **code);

    /* to_chat from the client's request text to the Chat request's text
     * (pool memory), no tree either way; the gateway's fields are left
     * out (they are the gateway's, never sent). The glue uses it when set
     * (to_chat is NULL then): the request as it came, or the hooks' tree
     * serialised when they changed it (req->body_changed). Same results
     * and errors as to_chat; a text that is not an object is a 400. */
    int (*to_chat_text)(apr_pool_t *p, const char *in, apr_size_t len,
                        const llmgw_api_ctx_t *c, const char **chat,
                        apr_size_t *chat_len, const char **err,
                        const char **param, const char **code);

    /* A chat.completion's text -> the client's answer text, written from
     * the text (no tree where the adapter need not build one). Returns 0
     * with *out (pool memory, NUL-terminated), or -1 when chat is not a
     * chat.completion or cannot be expressed (a 502 for the glue). */
    int (*from_chat)(apr_pool_t *p, const char *chat, apr_size_t len,
                     const llmgw_api_ctx_t *c, const char **out,
                     apr_size_t *out_len);

    /* Streams: chat.completion.chunk data in, client events out. */
    llmgw_api_stream_t *(*stream_new)(apr_pool_t *p, const llmgw_api_ctx_t *c);
    /* One chunk's data (JSON text). Returns 0 to go on, -1 when the chunk
     * is not a chunk (the glue ends the stream with stream_error). */
    int (*stream_chunk)(llmgw_api_stream_t *s, const char *data,
                        apr_size_t len, llmgw_event_emit_fn emit, void *baton);
    /* The chat stream completed ([DONE]): the closing events. */
    int (*stream_end)(llmgw_api_stream_t *s, llmgw_event_emit_fn emit,
                      void *baton);
    /* The stream failed after it started: the API's error event(s) (for
     * Chat the SPEC envelope as a data event). Nothing may follow. */
    int (*stream_error)(llmgw_api_stream_t *s, const llmgw_error_t *e,
                        llmgw_event_emit_fn emit, void *baton);
    /* The answer the completed stream stands for (as from_chat would give
     * it; new reference) or NULL: what Responses stores. */
    json_t *(*stream_result)(llmgw_api_stream_t *s);

    /* An error in this API's shape (new reference); the HTTP status is
     * e->status for every API. */
    json_t *(*error_body)(const llmgw_error_t *e, const char *request_id);

    /* The cache stores what the client received; a request in the other
     * framing is answered by converting it. reduce: a complete SSE stream
     * of this API -> its answer JSON; expand: an answer JSON -> the event
     * stream. Return 0 with *out (pool memory), or -1. */
    int (*reduce)(apr_pool_t *p, const char *sse, apr_size_t len,
                  const char **out, apr_size_t *out_len);
    int (*expand)(apr_pool_t *p, const char *json, apr_size_t len,
                  const char **out, apr_size_t *out_len);
} llmgw_client_api_t;

extern const llmgw_client_api_t llmgw_api_chat;
extern const llmgw_client_api_t llmgw_api_indoxhub;
extern const llmgw_client_api_t llmgw_api_messages;
extern const llmgw_client_api_t llmgw_api_responses;
extern const llmgw_client_api_t llmgw_api_gemini;

/* The adapter of an API. */
const llmgw_client_api_t *llmgw_client_api(llmgw_api_e api);

/* An llmgw_event_emit_fn whose baton is an llmgw_buf_t: the events as SSE
 * text (expand writes its stream with it). */
int llmgw_api_buf_event(void *baton, const char *event, const char *data,
                        apr_size_t len);

/* Shared by the adapters: serialises j (stolen; shortest numbers) and
 * emits it as event `event`; returns emit's value, -1 when j cannot be
 * serialised. */
int llmgw_api_emit_json(const char *event, json_t *j,
                        llmgw_event_emit_fn emit, void *baton);

/* Shared by the adapters whose answer is built as a tree (IndoxHub,
 * Responses): from_chat as build(the chat.completion's tree) serialised;
 * -1 when the text is not JSON or build returns NULL. */
typedef json_t *(*llmgw_api_tree_fn)(apr_pool_t *p, const json_t *chat,
                                     const llmgw_api_ctx_t *c);
int llmgw_api_from_chat_tree(apr_pool_t *p, const char *chat,
                             apr_size_t len, const llmgw_api_ctx_t *c,
                             llmgw_api_tree_fn build, const char **out,
                             apr_size_t *out_len);

#endif
