/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * mod_llmgw_otlp.h — the trace exporter of a child process: a bounded
 * queue of spans (llmgw_otlp.h) that requests add to without waiting, and
 * one background thread that posts them in batches to LLMGWOTLPEndpoint
 * (OTLP/HTTP, JSON encoding) with libcurl. A full queue drops the span and
 * counts it; a failed export drops its batch and counts it: a dead or slow
 * collector never holds a request and never grows memory.
 */
#ifndef MOD_LLMGW_OTLP_H
#define MOD_LLMGW_OTLP_H

#include "httpd.h"
#include "http_config.h"
#include "llmgw_metrics.h"
#include "llmgw_otlp.h"

/* LLMGWOTLPEndpoint URL [queue=N] (main server only). */
const char *llmgw_cmd_otlp_endpoint(cmd_parms *cmd, void *dconf, int argc,
                                    char *const argv[]);
/* Forgets the endpoint of the previous configuration read. */
void llmgw_otlp_pre_config(void);
/* Starts the exporter thread of this child when an endpoint is set; it is
 * stopped (and joined) when pchild is destroyed. */
void llmgw_otlp_child_init(apr_pool_t *pchild, server_rec *s,
                           llmgw_metrics_t *m);
/* Whether spans are exported in this child. */
int llmgw_otlp_enabled(void);
/* Queues a copy of the span: 0, or -1 when the queue is full (dropped;
 * the caller counts it). Never blocks on the exporter's HTTP call. */
int llmgw_otlp_enqueue(const llmgw_span_t *sp);

#endif
