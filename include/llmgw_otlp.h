/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_otlp.h — trace spans of gateway requests and their OTLP/HTTP JSON
 * encoding (pure: no httpd header).
 *
 * A span is a fixed-size record (copies, no pointer into a request pool)
 * so that a request can hand it to the exporter thread's bounded queue
 * without allocating, and the thread can encode it after the request's
 * memory is gone. One span per gateway request (kind SERVER) with the
 * OpenTelemetry GenAI attributes: gen_ai.operation.name, gen_ai.system,
 * gen_ai.request.model, gen_ai.response.model, gen_ai.usage.input_tokens,
 * gen_ai.usage.output_tokens; and a child span (kind CLIENT) for the
 * upstream exchange when there was one.
 */
#ifndef LLMGW_OTLP_H
#define LLMGW_OTLP_H

#include <apr_pools.h>
#include <apr_time.h>

typedef struct llmgw_span {
    unsigned char trace_id[16];
    unsigned char span_id[8];
    unsigned char parent_id[8];      /* the client's traceparent span */
    int has_parent;
    apr_time_t start, end;           /* microseconds since the epoch */
    apr_interval_time_t upstream;    /* to the provider's first byte; 0 none */
    apr_interval_time_t ttft;        /* to the first answer byte; 0 none */
    int status;                      /* HTTP status sent to the client */
    int attempts;
    int stream;
    apr_int64_t input_tokens;        /* -1 unknown */
    apr_int64_t output_tokens;
    double cost_usd;                 /* < 0 unknown */
    char operation[32];              /* "chat", "embeddings"... */
    char endpoint[48];               /* "chat/completions" */
    char system[24];                 /* "openai", "anthropic", "gcp.gemini" */
    char provider[64];
    char request_model[128];
    char response_model[128];
    char request_id[40];
    char cache[8];                   /* "HIT", "MISS", "BYPASS" or "" */
    char workspace[64];
} llmgw_span_t;

/* Copies s into a fixed field (truncated, always terminated; NULL: ""). */
void llmgw_span_str(char *field, apr_size_t size, const char *s);

/* Reads a W3C traceparent header ("00-<32 hex>-<16 hex>-<2 hex>"): 0 with
 * the ids set, -1 when absent or malformed (or all-zero ids). */
int llmgw_otlp_traceparent(const char *v, unsigned char trace_id[16],
                           unsigned char parent_id[8]);

/* The OTLP/HTTP JSON body (ExportTraceServiceRequest) of n spans:
 * resourceSpans / scopeSpans / spans, ids in hex, times in nanoseconds as
 * strings, int attributes as strings (the OTLP JSON mapping). A string to
 * free(), NULL on failure. */
char *llmgw_otlp_json(const llmgw_span_t *spans, int n, const char *service,
                      const char *version, const char *host);

#endif
