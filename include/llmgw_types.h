/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_types.h — types shared by every llmgw module and by the pure core.
 * No httpd header here: the pure core (translation, SSE, cache keys, limiter
 * arithmetic) includes only APR and jansson so it is unit-tested directly.
 */
#ifndef LLMGW_TYPES_H
#define LLMGW_TYPES_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <apr_network_io.h>
#include <jansson.h>

#define LLMGW_VERSION "0.1.0"

/* The gateway's own request fields: read by the gateway, never sent
 * upstream, never part of a cache key's body. llm_provider and llm_api_key
 * are HardCarrx's older names of provider and provider_key. */
#define LLMGW_GATEWAY_FIELDS \
    "provider", "provider_key", "models", "llm_provider", "llm_api_key", \
    "memory"

typedef enum {
    LLMGW_EP_CHAT = 0,
    LLMGW_EP_EMBEDDINGS,
    LLMGW_EP_IMAGES,
    LLMGW_EP_MODELS,
    LLMGW_EP_MESSAGES,          /* Anthropic Messages */
    LLMGW_EP_COUNT_TOKENS,      /* messages/count_tokens */
    LLMGW_EP_RESPONSES,         /* OpenAI Responses: POST responses */
    LLMGW_EP_RESPONSE_ITEM,     /* GET / DELETE responses/{id} */
    LLMGW_EP_GEMINI,            /* models/{model}:generateContent */
    LLMGW_EP_GEMINI_STREAM,     /* models/{model}:streamGenerateContent */
    LLMGW_EP_UNKNOWN
} llmgw_endpoint_e;

typedef enum {
    LLMGW_PT_OPENAI = 0,     /* any OpenAI-compatible API */
    LLMGW_PT_ANTHROPIC,      /* Messages API */
    LLMGW_PT_GEMINI          /* generateContent */
} llmgw_provider_type_e;

/** Token usage as OpenAI reports it; -1 where unknown. */
typedef struct llmgw_usage {
    apr_int64_t prompt_tokens;
    apr_int64_t completion_tokens;
    apr_int64_t total_tokens;
    apr_int64_t cached_tokens;       /* prompt tokens read from a cache */
    apr_int64_t cache_write_tokens;  /* Anthropic cache_creation_input_tokens */
} llmgw_usage_t;

#define LLMGW_USAGE_INIT { -1, -1, -1, -1, -1 }

/** A configured provider (LLMGWProvider). Immutable after config. */
typedef struct llmgw_provider {
    const char *name;
    llmgw_provider_type_e type;
    const char *base_url;            /* without trailing slash */
    /* base_url parsed once (LLMGWProvider), for the native http client */
    const char *host;                /* host name or address, no brackets */
    apr_port_t port;                 /* the scheme's port when not given */
    const char *host_header;         /* Host header value */
    const char *base_path;           /* path of base_url, "" when none */
    const char *conn_key;            /* "host:port": connection pool key */
    const char *key;                 /* resolved secret, NULL when none */
    const char *key_source;          /* "env:VAR" / "file:PATH", for messages */
    apr_array_header_t *headers;     /* const char * "Name: value" */
    apr_array_header_t *models;      /* const char * advertised model names */
    apr_interval_time_t timeout;     /* 0: LLMGWTimeout */
    int use_curl;                    /* client=curl: libcurl for http:// too */
    int responses_native;            /* responses=native: the Responses API
                                      * is relayed, not translated */
    /* LLMGWCircuit: its settings and its slot in the table every child
     * shares (llmgw_circuit.h), set in post_config; NULL without one. */
    const struct llmgw_circuit_conf *circuit;
    struct llmgw_circuit_slot *circuit_slot;
} llmgw_provider_t;

#endif
