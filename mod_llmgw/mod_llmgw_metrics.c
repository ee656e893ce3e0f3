/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Observability glue: the metrics block in shared memory (created before
 * the fork, so every child adds to the same counters), the `llmgw-metrics`
 * handler (Prometheus text), the end of every gateway request (metrics,
 * log notes, a trace span: one log_transaction hook, no line in the
 * handler), the gateway's lines in mod_status's server-status, and the
 * llmgw_metric_inc optional function of the satellites. */
#include <string.h>
#include "apr_strings.h"
#include "apr_shm.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_status.h"
#include "mod_llmgw_private.h"
#include "client/mod_llmgw_otlp.h"
#include "llmgw_metrics.h"
#include "llmgw_otlp.h"
#include "llmgw_num.h"

APLOG_USE_MODULE(llmgw);

static llmgw_metrics_t *metrics;

/* ------------------------------------------------ counting */

void llmgw_count_retry(const char *provider)
{
    llmgw_metrics_retry(metrics, provider);
}

void llmgw_count_fallback(void)
{
    llmgw_metrics_inc(metrics, LLMGW_M_FALLBACKS);
}

void llmgw_count_stream(int delta)
{
    llmgw_metrics_streams(metrics, delta);
}

void llmgw_count(llmgw_metric_e which)
{
    llmgw_metrics_inc(metrics, which);
}

/* the optional function of the satellites */
static void llmgw_metric_inc(llmgw_metric_e which)
{
    llmgw_metrics_inc(metrics, which);
}

/* ------------------------------------------------ the shared block */

/* Created once per server life, kept across restarts (graceful or not)
 * in the process pool: counters are never reset by a reload. */
static int metrics_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    static const char key[] = "llmgw-metrics-shm";
    apr_shm_t *shm = NULL;
    apr_status_t rv;
    (void)pconf; (void)plog; (void)ptemp;

    apr_pool_userdata_get((void **)&shm, key, s->process->pool);
    if (!shm) {
        rv = apr_shm_create(&shm, llmgw_metrics_size(), NULL,
                            s->process->pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "llmgw: cannot "
                         "create the shared memory of the metrics "
                         "(%" APR_SIZE_T_FMT " bytes)", llmgw_metrics_size());
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        memset(apr_shm_baseaddr_get(shm), 0, llmgw_metrics_size());
        apr_pool_userdata_set(shm, key, apr_pool_cleanup_null,
                              s->process->pool);
    }
    metrics = llmgw_metrics_attach(apr_shm_baseaddr_get(shm));
    return OK;
}

/* ------------------------------------------------ providers */

/* The providers of r's server, in configuration order. */
static llmgw_metrics_provider_t *providers_of(request_rec *r, int *n)
{
    llmgw_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                 &llmgw_module);
    apr_array_header_t *order = sc->routes ? sc->routes->order : NULL;
    llmgw_metrics_provider_t *out;
    int i;

    *n = order ? order->nelts : 0;
    out = apr_pcalloc(r->pool, sizeof(*out) * (*n + 1));
    for (i = 0; i < *n; i++) {
        const llmgw_provider_t *p = APR_ARRAY_IDX(order, i,
                                                  const llmgw_provider_t *);
        out[i].name = p->name;
        out[i].circuit_open = !strcmp(llmgw_circuit_state(r->server, p),
                                      "open");
    }
    return out;
}

/* ------------------------------------------------ llmgw-metrics */

static int metrics_handler(request_rec *r)
{
    llmgw_metrics_provider_t *prov;
    llmgw_buf_t b;
    int n;

    if (!r->handler || strcmp(r->handler, "llmgw-metrics")) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        return llmgw_error_reply(r, llmgw_request_get(r),
                                 HTTP_METHOD_NOT_ALLOWED,
                                 "method_not_allowed", NULL, "use GET");
    }
    prov = providers_of(r, &n);
    llmgw_buf_init(&b, r->pool, 16384);
    llmgw_metrics_render(metrics, prov, n, &b);
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, b.len);
    if (!r->header_only) {
        ap_rwrite(b.data, (int)b.len, r);
    }
    return OK;
}

/* ------------------------------------------------ end of a request */

static const char *operation_of(const char *endpoint)
{
    if (!endpoint) {
        return "";
    }
    if (!strcmp(endpoint, "chat/completions") || !strcmp(endpoint, "messages")
        || !strcmp(endpoint, "responses")) {
        return "chat";
    }
    if (!strcmp(endpoint, "embeddings")) {
        return "embeddings";
    }
    if (!strcmp(endpoint, "images/generations")) {
        return "image_generation";
    }
    return endpoint;
}

static const char *system_of(request_rec *r, const char *provider)
{
    llmgw_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                 &llmgw_module);
    const llmgw_provider_t *p = provider && sc->routes
        ? apr_hash_get(sc->routes->providers, provider, APR_HASH_KEY_STRING)
        : NULL;
    if (!p) {
        return "";
    }
    switch (p->type) {
    case LLMGW_PT_ANTHROPIC:
        return "anthropic";
    case LLMGW_PT_GEMINI:
        return "gcp.gemini";
    default:
        return "openai";
    }
}

/* The 16 bytes of a UUID's hex digits (dashes skipped). */
static void uuid_bytes(const char *id, unsigned char out[16])
{
    int n = 0;
    memset(out, 0, 16);
    for (; id && *id && n < 32; id++) {
        int v = *id >= '0' && *id <= '9' ? *id - '0'
              : *id >= 'a' && *id <= 'f' ? *id - 'a' + 10 : -1;
        if (v >= 0) {
            out[n / 2] |= (unsigned char)(n % 2 ? v : v << 4);
            n++;
        }
    }
}

static void trace(request_rec *r, llmgw_request_t *req, apr_time_t now)
{
    llmgw_span_t sp;
    const char *tp;
    int i;

    memset(&sp, 0, sizeof(sp));
    /* Ids from the request id (a random UUID v4): no system call per
     * request, and the trace id of a request is its x-request-id without
     * the dashes, unless the client's traceparent names the trace. */
    uuid_bytes(req->id, sp.trace_id);
    for (i = 0; i < 8; i++) {
        sp.span_id[i] = (unsigned char)(sp.trace_id[i] ^ sp.trace_id[i + 8]);
    }
    tp = apr_table_get(r->headers_in, "traceparent");
    if (llmgw_otlp_traceparent(tp, sp.trace_id, sp.parent_id) == 0) {
        sp.has_parent = 1;
    }
    sp.start = r->request_time;
    sp.end = now;
    sp.upstream = req->upstream_latency;
    sp.ttft = req->ttft;
    sp.status = req->status ? req->status : r->status;
    sp.attempts = req->attempts;
    sp.stream = req->stream;
    sp.input_tokens = req->usage.prompt_tokens;
    sp.output_tokens = req->usage.completion_tokens;
    sp.cost_usd = req->cost_usd;
    llmgw_span_str(sp.operation, sizeof(sp.operation),
                   operation_of(req->endpoint_name));
    llmgw_span_str(sp.endpoint, sizeof(sp.endpoint), req->endpoint_name);
    llmgw_span_str(sp.system, sizeof(sp.system),
                   system_of(r, req->answered_provider));
    llmgw_span_str(sp.provider, sizeof(sp.provider), req->answered_provider);
    llmgw_span_str(sp.request_model, sizeof(sp.request_model),
                   req->requested_model);
    llmgw_span_str(sp.response_model, sizeof(sp.response_model),
                   req->answered_model);
    llmgw_span_str(sp.request_id, sizeof(sp.request_id), req->id);
    llmgw_span_str(sp.cache, sizeof(sp.cache), req->cache_status);
    llmgw_span_str(sp.workspace, sizeof(sp.workspace), req->workspace);
    if (llmgw_otlp_enqueue(&sp)) {
        llmgw_metrics_inc(metrics, LLMGW_M_OTLP_DROPPED_QUEUE);
    }
}

/* Runs once per request, before mod_log_config writes its lines (so the
 * notes are final for them): a gateway request is counted, noted and
 * traced here, streams and cache hits alike, whatever path answered it. */
static int observe(request_rec *r)
{
    llmgw_request_t *req;
    llmgw_metrics_obs_t o;
    apr_time_t now;

    while (r->next) {
        r = r->next;                 /* the request that ran the handler */
    }
    if (!(req = ap_get_module_config(r->request_config, &llmgw_module))) {
        return DECLINED;
    }
    if (!req->status) {
        req->status = r->status;
    }
    /* the one place the notes are set, for every handler's request (the
     * gateway's, llmgw-admin's, /api/usage's...) */
    llmgw_set_notes(r, req);
    if (!r->handler || strcmp(r->handler, "llmgw")) {
        return DECLINED;
    }
    now = apr_time_now();
    memset(&o, 0, sizeof(o));
    o.endpoint = req->endpoint_name;
    o.provider = req->answered_provider;
    o.model = req->answered_model;
    o.status = req->status;
    o.cache = req->cache_status;
    o.duration = now - r->request_time;
    o.upstream = req->upstream_latency;
    o.ttft = req->ttft;
    o.usage = req->usage;
    o.cost_usd = req->cost_usd;
    llmgw_metrics_observe(metrics, &o);
    if (llmgw_otlp_enabled()) {
        trace(r, req, now);
    }
    return DECLINED;
}

/* ------------------------------------------------ mod_status */

static int status_hook(request_rec *r, int flags)
{
    apr_uint64_t req = llmgw_metrics_requests(metrics);
    apr_uint64_t hit = llmgw_metrics_get(metrics, LLMGW_M_CACHE_HIT);
    apr_uint64_t miss = llmgw_metrics_get(metrics, LLMGW_M_CACHE_MISS);
    apr_uint64_t deny = llmgw_metrics_get(metrics, LLMGW_M_LIMIT_DENY_MINUTE)
        + llmgw_metrics_get(metrics, LLMGW_M_LIMIT_DENY_HOUR)
        + llmgw_metrics_get(metrics, LLMGW_M_LIMIT_DENY_MONTH);
    struct { const char *name, *label; apr_uint64_t v; } rows[] = {
        { "LLMGWRequests", "Gateway requests", req },
        { "LLMGWStreamsActive", "Streams active",
          (apr_uint64_t)(llmgw_metrics_streams_active(metrics) > 0
                         ? llmgw_metrics_streams_active(metrics) : 0) },
        { "LLMGWPromptTokens", "Prompt tokens", llmgw_metrics_tokens(metrics, 0) },
        { "LLMGWCompletionTokens", "Completion tokens",
          llmgw_metrics_tokens(metrics, 1) },
        { "LLMGWCacheHits", "Cache hits", hit },
        { "LLMGWCacheMisses", "Cache misses", miss },
        { "LLMGWLimitDenials", "Requests refused by a limit", deny },
        { "LLMGWRetries", "Upstream retries", llmgw_metrics_retries(metrics) },
        { "LLMGWFallbacks", "Fallbacks",
          llmgw_metrics_get(metrics, LLMGW_M_FALLBACKS) },
        { "LLMGWStoreErrors", "Store errors",
          llmgw_metrics_get(metrics, LLMGW_M_STORE_ERROR) },
        { "LLMGWSpansDropped", "Trace spans dropped",
          llmgw_metrics_get(metrics, LLMGW_M_OTLP_DROPPED_QUEUE)
          + llmgw_metrics_get(metrics, LLMGW_M_OTLP_DROPPED_EXPORT) },
    };
    char cost[LLMGW_NUM_MAX];
    apr_size_t i;

    if (!metrics) {
        return OK;
    }
    llmgw_num_format(cost, llmgw_metrics_cost(metrics));
    if (flags & AP_STATUS_SHORT) {
        for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
            ap_rprintf(r, "%s: %" APR_UINT64_T_FMT "\n", rows[i].name,
                       rows[i].v);
        }
        ap_rprintf(r, "LLMGWCostUSD: %s\n", cost);
        return OK;
    }
    ap_rputs("<hr />\n<h1>llmgw gateway</h1>\n", r);
    ap_rputs("<table border=\"0\"><tr><th>counter</th><th>value</th></tr>\n",
             r);
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        ap_rprintf(r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT "</td></tr>\n",
                   rows[i].label, rows[i].v);
    }
    ap_rprintf(r, "<tr><td>Cost (USD)</td><td>%s</td></tr>\n</table>\n",
               cost);
    ap_rputs("<p>Every metric, by provider and model: the "
             "<code>llmgw-metrics</code> handler.</p>\n", r);
    return OK;
}

/* ------------------------------------------------ registration */

static int metrics_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp)
{
    (void)pconf; (void)plog; (void)ptemp;
    llmgw_otlp_pre_config();
    return OK;
}

static void metrics_child_init(apr_pool_t *pchild, server_rec *s)
{
    /* after llmgw_child_init (libcurl's global setup), so that the
     * exporter's cleanup runs before libcurl's */
    llmgw_otlp_child_init(pchild, s, metrics);
}

void llmgw_observability_hooks(apr_pool_t *p)
{
    (void)p;
    APR_REGISTER_OPTIONAL_FN(llmgw_metric_inc);
    ap_hook_pre_config(metrics_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(metrics_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(metrics_child_init, NULL, NULL, APR_HOOK_LAST);
    ap_hook_handler(metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(observe, NULL, NULL, APR_HOOK_REALLY_FIRST);
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
