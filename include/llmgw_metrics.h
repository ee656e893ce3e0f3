/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_metrics.h — the gateway's metrics in one block of shared memory
 * (pure: no httpd header), summed over every child process because every
 * child adds to the same block.
 *
 * The request path only adds with atomic operations: no lock, no
 * allocation, no formatting. Label values are interned into fixed slots
 * the first time they are seen (a compare-and-swap claims a slot by the
 * 64-bit hash of its name; the name is written after the claim and marked
 * ready): endpoints (16), providers (64), models (200 per provider, then
 * `other`, 4096 in all) and label sets of llmgw_requests_total (8192).
 * Whatever finds no slot is counted in llmgw_metrics_overflow_total, never
 * lost silently.
 *
 * llmgw_metrics_render writes the Prometheus text exposition (0.0.4) of the
 * block; histograms keep per-bucket counts and a sum in microseconds.
 */
#ifndef LLMGW_METRICS_H
#define LLMGW_METRICS_H

#include <apr_pools.h>
#include <apr_time.h>
#include "llmgw_types.h"
#include "llmgw_buf.h"

#define LLMGW_METRICS_ENDPOINTS   16
#define LLMGW_METRICS_PROVIDERS   64
#define LLMGW_METRICS_MODELS      4096
#define LLMGW_METRICS_MODELS_PER_PROVIDER 200
#define LLMGW_METRICS_SERIES      8192
#define LLMGW_METRICS_NAME_MAX    128      /* bytes of a label value kept */

/* Upper bounds in seconds of the latency histograms (then +Inf): from
 * a cache hit's milliseconds to a long generation's minutes. */
#define LLMGW_METRICS_BUCKETS     17
extern const double llmgw_metrics_bucket_le[LLMGW_METRICS_BUCKETS];

/* Plain counters, without labels or with fixed labels. */
typedef enum {
    LLMGW_M_CACHE_HIT = 0,       /* llmgw_cache_total{result="hit"} */
    LLMGW_M_CACHE_MISS,
    LLMGW_M_CACHE_BYPASS,
    LLMGW_M_CACHE_ERROR,         /* the cache's store failed (also a store error) */
    LLMGW_M_STORE_ERROR,         /* llmgw_store_errors_total */
    LLMGW_M_LIMIT_ALLOW,         /* llmgw_limit_decisions_total{decision="allow",window="none"} */
    LLMGW_M_LIMIT_DENY_MINUTE,   /* {decision="deny",window="minute"} (rpm, tpm) */
    LLMGW_M_LIMIT_DENY_HOUR,
    LLMGW_M_LIMIT_DENY_MONTH,    /* monthly quota or budget */
    LLMGW_M_LIMIT_FAIL_OPEN,     /* {decision="fail_open",window="none"}: store down */
    LLMGW_M_LIMIT_FAIL_CLOSED,
    LLMGW_M_FALLBACKS,           /* llmgw_fallbacks_total */
    LLMGW_M_OTLP_EXPORTED,       /* llmgw_otlp_spans_total{result="exported"} */
    LLMGW_M_OTLP_DROPPED_QUEUE,  /* {result="dropped_queue_full"} */
    LLMGW_M_OTLP_DROPPED_EXPORT, /* {result="dropped_export_failed"} */
    LLMGW_M_SEMANTIC_HIT,        /* llmgw_semantic_cache_total{result="hit"} */
    LLMGW_M_SEMANTIC_MISS,       /* {result="miss"}: embedded, nothing close */
    LLMGW_M_SEMANTIC_SKIP,       /* {result="skipped"}: no embedding (the
                                  * embedder failed, or not a text turn) */
    LLMGW_M_EMBED_OK,            /* llmgw_embedding_calls_total{result="ok"} */
    LLMGW_M_EMBED_ERROR,         /* {result="error"} */
    LLMGW_M_COUNT
} llmgw_metric_e;

/* What one finished gateway request adds. */
typedef struct llmgw_metrics_obs {
    const char *endpoint;            /* NULL: "unknown" */
    const char *provider;            /* NULL: "none" (answered by nobody) */
    const char *model;               /* NULL: "none" */
    int status;
    const char *cache;               /* "HIT", "MISS", "BYPASS" or NULL */
    apr_interval_time_t duration;    /* request start to the end */
    apr_interval_time_t upstream;    /* to the first upstream byte; 0 none */
    apr_interval_time_t ttft;        /* to the first answer byte; 0 none */
    llmgw_usage_t usage;
    double cost_usd;                 /* < 0 unknown */
} llmgw_metrics_obs_t;

typedef struct llmgw_metrics llmgw_metrics_t;

/* Bytes of the shared block. */
apr_size_t llmgw_metrics_size(void);

/* Lays out a zeroed block of llmgw_metrics_size() bytes (e.g. shared
 * memory created before the fork), or reuses a block laid out before
 * (a graceful restart keeps the counts). NULL if mem is NULL. */
llmgw_metrics_t *llmgw_metrics_attach(void *mem);

void llmgw_metrics_inc(llmgw_metrics_t *m, llmgw_metric_e which);
void llmgw_metrics_retry(llmgw_metrics_t *m, const char *provider);
/* +1 when a stream starts, -1 when it ends. */
void llmgw_metrics_streams(llmgw_metrics_t *m, int delta);
void llmgw_metrics_observe(llmgw_metrics_t *m, const llmgw_metrics_obs_t *o);

/* Counts as numbers, for the mod_status page and the tests. */
apr_uint64_t llmgw_metrics_get(const llmgw_metrics_t *m, llmgw_metric_e which);
apr_uint64_t llmgw_metrics_requests(const llmgw_metrics_t *m);
apr_int64_t llmgw_metrics_streams_active(const llmgw_metrics_t *m);
apr_uint64_t llmgw_metrics_retries(const llmgw_metrics_t *m);
apr_uint64_t llmgw_metrics_tokens(const llmgw_metrics_t *m, int completion);
double llmgw_metrics_cost(const llmgw_metrics_t *m);

/* A configured provider and whether its circuit is open, for
 * llmgw_circuit_open{provider} (every configured provider is listed). */
typedef struct llmgw_metrics_provider {
    const char *name;
    int circuit_open;
} llmgw_metrics_provider_t;

/* Appends the Prometheus text exposition to out. */
void llmgw_metrics_render(const llmgw_metrics_t *m,
                          const llmgw_metrics_provider_t *providers, int n,
                          llmgw_buf_t *out);

/* A label value escaped for the exposition format (\\, \", \n). */
void llmgw_metrics_label(llmgw_buf_t *out, const char *v);

#endif
