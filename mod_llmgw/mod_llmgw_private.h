/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* mod_llmgw internals shared by its glue files (httpd side). */
#ifndef MOD_LLMGW_PRIVATE_H
#define MOD_LLMGW_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "llmgw.h"
#include "llmgw_route.h"
#include "llmgw_envelope.h"

#include "client/mod_llmgw_upstream.h"     /* LLMGW_OFF_STREAM_FRAME */

extern module AP_MODULE_DECLARE_DATA llmgw_module;

/* Per-server (vhost) configuration: the provider table and what hangs off it. */
typedef struct llmgw_server_conf {
    llmgw_route_table_t *routes;       /* providers, aliases, routers */
    apr_hash_t *circuits;              /* provider -> llmgw_circuit_conf_t */
    apr_hash_t *prices;                /* "provider/model" -> llmgw_price_t */
    const char *store_spec;            /* LLMGWStore (main server) */
    const char *environment;           /* LLMGWEnvironment, for /health */
    apr_uint32_t response_ttl;         /* LLMGWResponseTTL, 0 unset */
} llmgw_server_conf;

typedef struct llmgw_price {
    double input_per_mtok, output_per_mtok, cached_per_mtok,
           cache_write_per_mtok;
} llmgw_price_t;

/* Per-directory configuration; set in a vhost it is the vhost's default.
 * -1 / NULL mean unset so that merges fall back to the parent. */
typedef struct llmgw_dir_conf {
    const char *default_provider;
    int passthrough_auth;
    apr_interval_time_t timeout;       /* total (non-stream) / first byte */
    apr_interval_time_t connect_timeout;
    apr_interval_time_t idle_timeout;  /* max silence within a stream */
    int retries;
    apr_off_t max_body;
    long default_max_tokens;           /* for providers that require it */
    int drop_unsupported;              /* LLMGWDropUnsupported (-1 unset) */
    int envelope;                      /* LLMGWEnvelope: LLMGW_API_CHAT or
                                        * LLMGW_API_INDOXHUB (-1 unset) */
    int memory;                        /* LLMGWMemory: llmgw_mem_mode_e
                                        * (-1 unset: none) */
} llmgw_dir_conf;

#define LLMGW_DEFAULT_TIMEOUT         apr_time_from_sec(300)
#define LLMGW_DEFAULT_CONNECT_TIMEOUT apr_time_from_sec(10)
#define LLMGW_DEFAULT_MAX_BODY        (10 * 1024 * 1024)
#define LLMGW_DEFAULT_MAX_TOKENS      4096
#define LLMGW_MAX_MAX_BODY            ((apr_int64_t)1 << 30)   /* 1 GiB */
#define LLMGW_MAX_RESPONSE_TTL        (30 * 86400)
#define LLMGW_DEFAULT_RESPONSE_TTL    LLMGW_MAX_RESPONSE_TTL

extern const command_rec llmgw_cmds[];
void *llmgw_create_server_conf(apr_pool_t *p, server_rec *s);
void *llmgw_merge_server_conf(apr_pool_t *p, void *base, void *add);
void *llmgw_create_dir_conf(apr_pool_t *p, char *dir);
void *llmgw_merge_dir_conf(apr_pool_t *p, void *base, void *add);

/* Checks of directives that name another object (a provider), once the
 * whole configuration is read: pre_config forgets the last read,
 * check_config logs every problem and returns !OK. */
void llmgw_config_pre_read(void);
int llmgw_config_check(server_rec *s);

/* Effective settings of a request (dir config with defaults applied). */
apr_interval_time_t llmgw_conf_timeout(const llmgw_dir_conf *dc);
apr_interval_time_t llmgw_conf_connect_timeout(const llmgw_dir_conf *dc);
apr_interval_time_t llmgw_conf_idle_timeout(const llmgw_dir_conf *dc);
apr_off_t llmgw_conf_max_body(const llmgw_dir_conf *dc);

/* mod_llmgw.c: shared helpers (the hook runners llmgw_run_* are declared
 * by llmgw.h) */
llmgw_request_t *llmgw_request_get(request_rec *r);
double llmgw_price_cost(server_rec *s, const char *provider,
                        const char *model, const llmgw_usage_t *usage);
llmgw_store_t *llmgw_store_for(server_rec *s);
int llmgw_route_for(request_rec *r, const char *model,
                    const char *provider_field, llmgw_route_t *rt,
                    const char **err, const char **code);
/* The circuit of a provider of s: "closed" (also without LLMGWCircuit),
 * "open" or "half_open": the one place /health and the metrics
 * (llmgw_circuit_open) read it. */
const char *llmgw_circuit_state(server_rec *s, const llmgw_provider_t *pr);

/* mod_llmgw_response.c: what goes to the client. One family of writers:
 * llmgw_send_body writes every whole answer (llmgw_send_json is it with the
 * JSON type), llmgw_send_error_req every error envelope (llmgw_error_reply
 * builds one for the gateway's own errors). They return OK: the handler
 * has answered. The optional function llmgw_send_error (llmgw.h) is the
 * envelope writer for the satellites' hooks and returns the status it
 * wrote, which the hook returns to stop the request. */
void llmgw_set_gateway_headers(request_rec *r, llmgw_request_t *req);
int llmgw_send_body(request_rec *r, llmgw_request_t *req, int status,
                    const char *content_type, const char *body,
                    apr_size_t len);
int llmgw_send_json(request_rec *r, llmgw_request_t *req, int status,
                    const char *body, apr_size_t len);
/* A jansson document (reference taken) as JSON, numbers in shortest form. */
int llmgw_send_doc(request_rec *r, llmgw_request_t *req, int status,
                   json_t *doc);
int llmgw_send_error_req(request_rec *r, llmgw_request_t *req,
                         const llmgw_error_t *e);
int llmgw_send_error(request_rec *r, int status, const char *type,
                     const char *code, const char *message,
                     long retry_after, json_t *details);
void llmgw_set_notes(request_rec *r, llmgw_request_t *req);

/* The request body tree, built from raw_body on first use. */
json_t *llmgw_request_json(llmgw_request_t *req);

/* json held by a pool: decref'd when the pool goes */
json_t *llmgw_pool_json(apr_pool_t *p, json_t *j);

/* An error of the gateway itself (no provider involved), as the SPEC
 * envelope; returns OK. */
int llmgw_error_reply(request_rec *r, llmgw_request_t *req, int status,
                      const char *code, const char *param, const char *msg);

/* mod_llmgw_inbound.c: the client APIs other than Chat Completions. */
typedef struct llmgw_inbound {
    const llmgw_client_api_t *api;
    llmgw_api_ctx_t ctx;             /* what the adapter knows */
    json_t *chat;                    /* the Chat form's tree, built on
                                      * first use (of the text, when the
                                      * adapter writes text) */
    const char *chat_text;           /* the Chat form's text (to_chat_text) */
    apr_size_t chat_len;
    int chat_status;                 /* != 0: it could not be built */
    const char *chat_err, *chat_param, *chat_code;
    int store;                       /* Responses: keep the answer */
    int raw_clean;                   /* the client's text holds no gateway
                                      * field: a relay splices the model
                                      * into it, byte for byte otherwise */
    const struct llmgw_chat_scan *top;  /* Responses checked on its text: its
                                      * top-level members (llmgw_parsed_t.
                                      * top), or NULL */
    llmgw_api_echo_t echo;           /* Responses: what ctx.echo points to */
} llmgw_inbound_t;

/* The API a route under a mount speaks (LLMGWEnvelope for Chat). */
llmgw_api_e llmgw_api_of(const llmgw_dir_conf *dc, llmgw_endpoint_e ep);
/* The request's inbound state, made on first use. */
llmgw_inbound_t *llmgw_inbound(llmgw_request_t *req);
/* Whether a route to pr relays the client's own API (no translation). */
int llmgw_inbound_relays(const llmgw_request_t *req,
                         const llmgw_provider_t *pr);
/* After admission: the adapter's context, and for Responses the stored
 * conversation of previous_response_id. 0, or the status of the error
 * already answered. */
int llmgw_inbound_prepare(request_rec *r, llmgw_request_t *req);
/* Makes the request's Chat form on first use (gateway fields removed):
 * in->chat_text (adapters with to_chat_text) or in->chat. 0, or the status
 * (400...) with *err, *param and *code. */
int llmgw_inbound_chat(llmgw_request_t *req, const char **err,
                       const char **param, const char **code);
/* The Chat form's tree (pool held), built from its text on first use: a
 * provider writing its native body asks for it (llmgw_xlate_in.
 * request_tree). NULL when it cannot be built. */
json_t *llmgw_inbound_chat_tree(llmgw_request_t *req);
/* A complete Responses answer: kept for previous_response_id and GET
 * responses/{id} unless the request said store: false. text/len: the
 * answer as serialised for the client, or NULL (answer is written here).
 * answer: its tree, or NULL when text is the adapter's (its id is the
 * request's, ctx.id). */
void llmgw_inbound_keep(request_rec *r, llmgw_request_t *req, json_t *answer,
                        const char *text, apr_size_t len);
/* GET / DELETE responses/{id}. */
int llmgw_response_item(request_rec *r, llmgw_request_t *req);

/* mod_llmgw_memory.c: conversation memory (SPEC "Memory"). apply runs
 * after routing, before admission: it may extend the request tree
 * (earlier turns, a profile) and sets req->memory_mode; complete runs
 * after the answer and remembers a complete one. */
const char *llmgw_cmd_memory(cmd_parms *cmd, void *dconf, const char *arg);
int llmgw_memory_apply(request_rec *r, llmgw_request_t *req);
void llmgw_memory_complete(request_rec *r, llmgw_request_t *req);

/* mod_llmgw_embed.c: registers llmgw_embed and llmgw_embedder_check. */
void llmgw_embed_register(void);

/* mod_llmgw_handler.c */
int llmgw_handler(request_rec *r);

/* mod_llmgw_health.c: GET /health */
int llmgw_health_handler(request_rec *r);

/* mod_llmgw_metrics.c: metrics, the end of every request (notes, metrics,
 * a trace span: a log_transaction hook), mod_status, LLMGWOTLPEndpoint.
 * llmgw_observability_hooks is called by llmgw_register_hooks. The counts
 * below are single atomic additions, made where the event happens. */
void llmgw_observability_hooks(apr_pool_t *p);
void llmgw_count(llmgw_metric_e which);
void llmgw_count_retry(const char *provider);   /* an attempt retried */
void llmgw_count_fallback(void);                /* the next route tried */
void llmgw_count_stream(int delta);             /* +1 started, -1 ended */

/* mod_llmgw_models.c: GET models */
int llmgw_list_models(request_rec *r, llmgw_request_t *req);

/* mod_llmgw_exchange.c: the upstream part of a request over its candidate
 * routes (llmgw_route_t), with retries and fallbacks; returns OK. scan:
 * what the handler's pass over raw kept for the typed reader, or NULL. */
struct llmgw_chat_scan;
int llmgw_proxy(request_rec *r, llmgw_request_t *req, const llmgw_dir_conf *dc,
                const char *raw, apr_size_t raw_len, int raw_unchanged,
                const struct llmgw_chat_scan *scan,
                apr_array_header_t *routes);
/* Registers the stream's head filter (LLMGW_SSE_HEAD). */
void llmgw_exchange_register(void);

#endif
