/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw.h — how mod_llmgw_cache and mod_llmgw_quota cooperate with mod_llmgw.
 *
 * Following mod_proxy: mod_llmgw runs optional hooks (looked up by name, so
 * no link dependency and no load order) and exports optional functions that
 * the satellites fetch in post_config. A satellite refuses to start when
 * mod_llmgw is absent.
 *
 * Order of one request in the `llmgw` handler:
 *   llmgw_authenticate (quota: 401, before the body is read) -> parse +
 *   route -> llmgw_admit (quota: 402/429) -> llmgw_cache_lookup
 *   (a hit is served there) -> upstream call -> llmgw_response_headers (just
 *   before the status line goes out) -> body -> llmgw_completed (accounting
 *   with the final usage, cache store).
 */
#ifndef LLMGW_H
#define LLMGW_H

#include "httpd.h"
#include "apr_hooks.h"
#include "apr_optional.h"
#include "apr_optional_hooks.h"
#include "apr_hash.h"
#include "llmgw_types.h"
#include "llmgw_store.h"
#include "llmgw_buf.h"
#include "llmgw_client_api.h"
#include "llmgw_metrics.h"


/** One gateway request, shared by the three modules. */
typedef struct llmgw_request {
    request_rec *r;
    const char *id;                  /* x-request-id (UUID) */
    llmgw_endpoint_e endpoint;
    const char *endpoint_name;       /* "chat/completions", "embeddings"... */
    llmgw_api_e api;                 /* the API the client speaks (its
                                      * answers' and errors' shape) */
    void *inbound;                   /* mod_llmgw's state of a non-Chat API */

    /* The client's request as it came, and parsed once. A plain request to
     * an OpenAI-compatible provider is checked on its text and relayed
     * without a tree: body stays NULL until llmgw_request_json() builds it
     * (gateway fields provider, provider_key, models removed). */
    const char *raw_body;
    apr_size_t raw_len;
    json_t *body;
    const char *requested_model;     /* as the client wrote it */
    const llmgw_provider_t *provider;
    const char *model;               /* upstream model */
    /* Every candidate route in order (llmgw_route_t of llmgw_route.h), the
     * first being provider/model; an admission hook may remove later ones
     * (a key's models= list), never the first. */
    apr_array_header_t *routes;
    /* Set when a router (LLMGWRouter) chose the candidate routes: the
     * x-llmgw-rule, -rules-version, -resolved-model, -tier headers. */
    const char *router;              /* its name; NULL otherwise */
    int rule;                        /* the matching rule, 1-based */
    const char *rules_version;       /* hash of the router's rules */
    int stream;
    int include_usage;
    apr_int64_t max_tokens;          /* -1 when the client set none */
    apr_int64_t prompt_estimate;     /* rough prompt tokens (bytes / 4) */

    /* The client's own credential (Bearer, x-api-key or apikey), if any. */
    const char *client_key;
    const char *provider_key;        /* BYOK from the body, if any */

    /* Set by mod_llmgw_quota on admission; NULL without it. */
    const char *workspace;
    const char *plan;
    const char *key_id;              /* the gateway key's id or name */
    const char *tier;                /* the key's (else its plan's) tier */
    /* The workspace's stored provider keys (provider name -> key in
     * clear, request pool memory): used for a provider of the request
     * when the body carries no provider_key. NULL when none. */
    apr_hash_t *provider_keys;
    /* A hook changed the request tree (llmgw_request_json): the tree goes
     * upstream, never raw_body. */
    int body_changed;

    /* Memory (SPEC "Memory"). The workspace's policy, set by
     * mod_llmgw_quota when it authenticates a managed key: mem_policy_mode
     * "session" or "profile" (NULL: none), max_turns and ttl_seconds (0:
     * defaults), mem_max_prompt_tokens (-1 or 0: none). memory_mode is
     * what mod_llmgw applied ("session", "profile"; NULL: none), shown as
     * mem= in x-llmgw. */
    const char *mem_policy_mode;
    apr_int64_t mem_max_turns;
    apr_int64_t mem_ttl;
    apr_int64_t mem_max_prompt_tokens;
    const char *memory_mode;
    const char *memory_asked;        /* the body's `memory` field, if any */

    /* What the location's cache does, for x-llmgw's cache= ("exact",
     * "semantic"), set by the cache; NULL: "exact" when cache_status is
     * set, else "none". */
    const char *cache_kind;

    /* Outcome, filled as the request goes on. */
    int status;                      /* HTTP status sent to the client */
    const char *answered_provider;   /* after fallbacks */
    const char *answered_model;
    int attempts;
    llmgw_usage_t usage;
    double cost_usd;                 /* < 0 when unknown */
    apr_interval_time_t upstream_latency;
    apr_interval_time_t ttft;        /* request start to the first answer
                                      * byte to the client; 0 unknown */
    int cache_hit;
    const char *cache_status;        /* "HIT", "MISS", "BYPASS" or NULL */
    int complete;                    /* the whole response reached the client */

    /* Response capture for the cache: when capture_limit > 0 before the
     * upstream call, mod_llmgw copies the client-facing body (JSON, or SSE
     * when streaming) into capture; capture_overflow when it did not fit. */
    apr_size_t capture_limit;
    llmgw_buf_t *capture;
    int capture_overflow;
    int capture_is_sse;
} llmgw_request_t;

/* ---------------- hooks mod_llmgw runs (optional hooks) ----------------- */

/* Linkage of the hook functions: plain C, no export table needed since
 * the hooks are optional (looked up by name at run time). */
#define LLMGW_DECLARE(type)        type
#define LLMGW_DECLARE_NONSTD(type) type
#define LLMGW_DECLARE_DATA

/* First thing for every gateway request, before the body is read: only
 * id, endpoint and client_key are set. RUN_ALL like admit: a hook that
 * refuses (401) writes the response and returns the status. */
APR_DECLARE_EXTERNAL_HOOK(llmgw, LLMGW, int, authenticate,
                          (request_rec *r, llmgw_request_t *req))

/* Admission before anything is sent upstream. RUN_ALL: return OK or
 * DECLINED to let the request go on; any other value is an HTTP status for
 * which the hook has already written the response (llmgw_send_error). */
APR_DECLARE_EXTERNAL_HOOK(llmgw, LLMGW, int, admit,
                          (request_rec *r, llmgw_request_t *req))

/* Cache lookup. RUN_FIRST: DECLINED is a miss; OK means the hook served
 * the response itself (req->cache_hit and req->usage set). */
APR_DECLARE_EXTERNAL_HOOK(llmgw, LLMGW, int, cache_lookup,
                          (request_rec *r, llmgw_request_t *req))

/* Just before the response headers go out (every response, errors too):
 * add x-ratelimit-*, x-quota-*, x-cache-status... Return OK. */
APR_DECLARE_EXTERNAL_HOOK(llmgw, LLMGW, int, response_headers,
                          (request_rec *r, llmgw_request_t *req))

/* After the response: req->usage, req->status, req->complete, capture.
 * Return OK. */
APR_DECLARE_EXTERNAL_HOOK(llmgw, LLMGW, int, completed,
                          (request_rec *r, llmgw_request_t *req))

/* ---------------- optional functions mod_llmgw exports ------------------ */

/* Writes the SPEC error envelope with the request's id; returns `status`
 * so that a hook can `return llmgw_send_error(...)`. details may be NULL
 * (the envelope takes a reference). */
APR_DECLARE_OPTIONAL_FN(int, llmgw_send_error,
                        (request_rec *r, int status, const char *type,
                         const char *code, const char *message,
                         long retry_after, json_t *details));

/* Writes a whole successful body with every gateway header (x-request-id,
 * x-llmgw, x-provider, x-tokens-*, the response_headers hooks) — e.g. a
 * cache hit. content_type "text/event-stream" marks an SSE replay (never
 * compressed). Returns OK. */
APR_DECLARE_OPTIONAL_FN(int, llmgw_send_body,
                        (request_rec *r, llmgw_request_t *req, int status,
                         const char *content_type, const char *body,
                         apr_size_t len));

/* The request body as a jansson tree (built on first use from raw_body,
 * gateway fields removed; owned by the request pool). NULL if none. */
APR_DECLARE_OPTIONAL_FN(json_t *, llmgw_request_json, (llmgw_request_t *req));

/* The shared store of the server (vhost) r or s belongs to; NULL if none. */
APR_DECLARE_OPTIONAL_FN(llmgw_store_t *, llmgw_get_store, (server_rec *s));

/* The gateway request of r (also for llmgw-usage style handlers, where it
 * is created with only id and client_key); never NULL. */
APR_DECLARE_OPTIONAL_FN(llmgw_request_t *, llmgw_get_request, (request_rec *r));

/* Price lookup from LLMGWPrice: cost in USD of usage, < 0 when unknown. */
APR_DECLARE_OPTIONAL_FN(double, llmgw_cost,
                        (server_rec *s, const char *provider,
                         const char *model, const llmgw_usage_t *usage));

/* Resolves a model name as the request's route would (aliases, a
 * `provider/` prefix, provider_field (may be NULL), the location's default
 * provider): 0 with *provider and *upstream_model set, or the HTTP status
 * (400/404) of an unknown provider or model. */
APR_DECLARE_OPTIONAL_FN(int, llmgw_resolve_model,
                        (request_rec *r, const char *model,
                         const char *provider_field, const char **provider,
                         const char **upstream_model));

/* Adds one to a plain counter of the metrics (llmgw_metrics.h: cache
 * results, store errors, limit decisions): one atomic addition in shared
 * memory, for the satellites (mod_llmgw counts its own). */
APR_DECLARE_OPTIONAL_FN(void, llmgw_metric_inc, (llmgw_metric_e which));

/* An embedding of text by PROVIDER's MODEL through the gateway's own
 * upstream client (the provider's configured key and timeouts, kept-alive
 * connections), for mod_llmgw_cache's semantic cache: never charged to
 * the client, counted in llmgw_embedding_calls_total. 0 with *vec (dim
 * floats, from p), or -1 (logged at debug: the caller goes on without). */
APR_DECLARE_OPTIONAL_FN(int, llmgw_embed,
                        (request_rec *r, apr_pool_t *p, const char *provider,
                         const char *model, const char *text, float **vec,
                         apr_size_t *dim));

/* Whether PROVIDER exists in server s and can embed: NULL, or why not
 * (for a directive's check at configuration time). */
APR_DECLARE_OPTIONAL_FN(const char *, llmgw_embedder_check,
                        (apr_pool_t *p, server_rec *s, const char *provider));

/* Request notes, usable in LogFormat as %{NAME}n */
#define LLMGW_NOTE_REQUEST_ID   "llmgw-request-id"
#define LLMGW_NOTE_PROVIDER     "llmgw-provider"
#define LLMGW_NOTE_MODEL        "llmgw-model"
#define LLMGW_NOTE_STATUS       "llmgw-status"
#define LLMGW_NOTE_TOKENS_IN    "llmgw-tokens-prompt"
#define LLMGW_NOTE_TOKENS_OUT   "llmgw-tokens-completion"
#define LLMGW_NOTE_UPSTREAM_MS  "llmgw-upstream-ms"
#define LLMGW_NOTE_CACHE        "llmgw-cache-status"
#define LLMGW_NOTE_WORKSPACE    "llmgw-workspace"
#define LLMGW_NOTE_COST         "llmgw-cost"
#define LLMGW_NOTE_TTFT_MS      "llmgw-ttft-ms"
#define LLMGW_NOTE_KEY          "llmgw-key"     /* key name or id, never the secret */

#endif
