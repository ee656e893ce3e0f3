/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The metrics block (llmgw_metrics.h): lock-free counters in shared memory
 * and their Prometheus text exposition. */
#include <string.h>
#include <stdio.h>
#include <apr_strings.h>
#include "llmgw_metrics.h"
#include "llmgw_num.h"

#define MAGIC   0x6c6c6d67774d3031ULL      /* "llmgwM01" */
#define E       LLMGW_METRICS_ENDPOINTS
#define P       LLMGW_METRICS_PROVIDERS
#define M       LLMGW_METRICS_MODELS
#define S       LLMGW_METRICS_SERIES
#define B       LLMGW_METRICS_BUCKETS
#define NAMELEN LLMGW_METRICS_NAME_MAX

const double llmgw_metrics_bucket_le[B] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60,
    120, 180, 300
};

/* A label value's slot: claimed by the hash of (parent, name), then the
 * name is written and `ready` set. */
typedef struct name_slot {
    apr_uint64_t key;                /* 0: free */
    apr_uint32_t ready;
    apr_uint32_t parent;             /* a model's provider index */
    char name[NAMELEN];
} name_slot;

typedef struct hist {
    apr_uint64_t bucket[B + 1];      /* not cumulative; [B] is +Inf */
    apr_uint64_t sum_us;
} hist;

enum { H_REQUEST = 0, H_UPSTREAM, H_TTFT, H_COUNT };

typedef struct model_ctr {
    apr_uint64_t prompt, completion, cached, cost_nano;
} model_ctr;

typedef struct series_slot {
    apr_uint64_t key;                /* 0: free */
    apr_uint64_t n;
} series_slot;

struct llmgw_metrics {
    apr_uint64_t magic;
    apr_uint64_t size;
    apr_uint64_t c[LLMGW_M_COUNT];
    apr_int64_t streams;
    apr_uint64_t overflow;
    apr_uint32_t models_of[P + 1];
    /* index E, P (and M for models) is "other": what found no slot */
    name_slot endpoints[E + 1];
    name_slot providers[P + 1];
    name_slot models[M];
    apr_uint64_t retries[P + 1];
    hist h[H_COUNT][P + 1];
    model_ctr mc[M];
    series_slot series[S];
};

#define LOAD(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ADD(x, v)   ((void)__atomic_fetch_add(&(x), (v), __ATOMIC_RELAXED))

apr_size_t llmgw_metrics_size(void)
{
    return sizeof(struct llmgw_metrics);
}

static void set_name(name_slot *s, const char *name)
{
    apr_cpystrn(s->name, name, sizeof(s->name));
    s->key = 1;
    s->ready = 1;
}

llmgw_metrics_t *llmgw_metrics_attach(void *mem)
{
    llmgw_metrics_t *m = mem;
    if (!m) {
        return NULL;
    }
    if (m->magic == MAGIC && m->size == sizeof(*m)) {
        return m;                    /* laid out before: keep the counts */
    }
    memset(m, 0, sizeof(*m));
    m->size = sizeof(*m);
    set_name(&m->endpoints[E], "other");
    set_name(&m->providers[P], "other");
    m->magic = MAGIC;
    return m;
}

/* FNV-1a over the parent index and the (kept part of the) name. */
static apr_uint64_t name_hash(apr_uint32_t parent, const char *name,
                              apr_size_t len)
{
    apr_uint64_t h = 0xcbf29ce484222325ULL;
    apr_size_t i;
    for (i = 0; i < 4; i++) {
        h = (h ^ ((parent >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    }
    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)name[i]) * 0x100000001b3ULL;
    }
    return h | 1;                    /* never 0, the free mark */
}

/* The slot of (parent, name) in t[n], claimed when new. With cap set, a
 * new name first takes one of *cap_ctr's `cap` places: -2 when none is
 * left. -1 when the table is full. */
static int intern(name_slot *t, int n, apr_uint32_t parent, const char *name,
                  apr_uint32_t *cap_ctr, apr_uint32_t cap)
{
    apr_size_t len = strlen(name);
    apr_uint64_t h;
    int i, probe;

    if (len > NAMELEN - 1) {
        len = NAMELEN - 1;
        while (len && ((unsigned char)name[len] & 0xc0) == 0x80) {
            len--;                   /* never half a UTF-8 sequence */
        }
    }
    h = name_hash(parent, name, len);
    i = (int)(h % (apr_uint64_t)n);
    for (probe = 0; probe < n; probe++, i = (i + 1) % n) {
        apr_uint64_t k = __atomic_load_n(&t[i].key, __ATOMIC_ACQUIRE);
        if (k == h) {
            return i;
        }
        if (k) {
            continue;
        }
        /* Linear probing without deletions: a free slot means the name is
         * not in the table. */
        if (cap_ctr && __atomic_fetch_add(cap_ctr, 1, __ATOMIC_RELAXED)
                       >= cap) {
            __atomic_fetch_sub(cap_ctr, 1, __ATOMIC_RELAXED);
            return -2;
        }
        if (__atomic_compare_exchange_n(&t[i].key, &k, h, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            t[i].parent = parent;
            memcpy(t[i].name, name, len);
            t[i].name[len] = '\0';
            __atomic_store_n(&t[i].ready, 1, __ATOMIC_RELEASE);
            return i;
        }
        if (cap_ctr) {
            __atomic_fetch_sub(cap_ctr, 1, __ATOMIC_RELAXED);
        }
        if (k == h) {
            return i;                /* the same name, claimed meanwhile */
        }
    }
    return -1;
}

static int endpoint_idx(llmgw_metrics_t *m, const char *name)
{
    int i = intern(m->endpoints, E, 0, name ? name : "unknown", NULL, 0);
    return i < 0 ? E : i;
}

static int provider_idx(llmgw_metrics_t *m, const char *name)
{
    int i = intern(m->providers, P, 0, name ? name : "none", NULL, 0);
    return i < 0 ? P : i;
}

/* A model of provider p; "other" past the provider's 200 models; -1 when
 * the table is full. */
static int model_idx(llmgw_metrics_t *m, int p, const char *name)
{
    int i = intern(m->models, M, (apr_uint32_t)p, name ? name : "none",
                   &m->models_of[p], LLMGW_METRICS_MODELS_PER_PROVIDER);
    if (i == -2) {
        i = intern(m->models, M, (apr_uint32_t)p, "other", NULL, 0);
    }
    return i;
}

void llmgw_metrics_inc(llmgw_metrics_t *m, llmgw_metric_e which)
{
    if (m && which >= 0 && which < LLMGW_M_COUNT) {
        ADD(m->c[which], 1);
    }
}

void llmgw_metrics_retry(llmgw_metrics_t *m, const char *provider)
{
    if (m) {
        ADD(m->retries[provider_idx(m, provider)], 1);
    }
}

void llmgw_metrics_streams(llmgw_metrics_t *m, int delta)
{
    if (m) {
        ADD(m->streams, delta);
    }
}

static void hist_add(hist *h, apr_interval_time_t t)
{
    double s = (double)t / APR_USEC_PER_SEC;
    int b = 0;
    while (b < B && s > llmgw_metrics_bucket_le[b]) {
        b++;
    }
    ADD(h->bucket[b], 1);
    ADD(h->sum_us, (apr_uint64_t)(t > 0 ? t : 0));
}

static int cache_idx(const char *c)
{
    if (!c) {
        return 0;
    }
    return !strcmp(c, "HIT") ? 1 : !strcmp(c, "MISS") ? 2 : 3;
}
static const char *const cache_names[4] = { "none", "hit", "miss", "bypass" };

/* The label set of llmgw_requests_total as one word (bit 63 set). */
static apr_uint64_t series_key(int ep, int p, int model, int status,
                               int cache)
{
    return (1ULL << 63) | ((apr_uint64_t)ep << 40)
           | ((apr_uint64_t)p << 32) | ((apr_uint64_t)(model & 0xffff) << 16)
           | ((apr_uint64_t)(status & 0x3ff) << 2) | (apr_uint64_t)cache;
}

static void series_add(llmgw_metrics_t *m, apr_uint64_t key)
{
    apr_uint64_t h = key * 0x9e3779b97f4a7c15ULL;
    int i = (int)((h >> 32) % S), probe;
    for (probe = 0; probe < S; probe++, i = (i + 1) % S) {
        apr_uint64_t k = __atomic_load_n(&m->series[i].key, __ATOMIC_ACQUIRE);
        if (!k && __atomic_compare_exchange_n(&m->series[i].key, &k, key, 0,
                                              __ATOMIC_ACQ_REL,
                                              __ATOMIC_ACQUIRE)) {
            k = key;
        }
        if (k == key) {
            ADD(m->series[i].n, 1);
            return;
        }
    }
    ADD(m->overflow, 1);
}

void llmgw_metrics_observe(llmgw_metrics_t *m, const llmgw_metrics_obs_t *o)
{
    int ep, p, mi;
    int status = o->status > 0 && o->status < 1000 ? o->status : 0;

    if (!m) {
        return;
    }
    ep = endpoint_idx(m, o->endpoint);
    p = provider_idx(m, o->provider);
    mi = model_idx(m, p, o->model);
    if (mi < 0) {
        ADD(m->overflow, 1);
    }
    series_add(m, series_key(ep, p, mi < 0 ? 0xffff : mi, status,
                             cache_idx(o->cache)));
    hist_add(&m->h[H_REQUEST][p], o->duration);
    if (o->upstream > 0) {
        hist_add(&m->h[H_UPSTREAM][p], o->upstream);
    }
    if (o->ttft > 0) {
        hist_add(&m->h[H_TTFT][p], o->ttft);
    }
    if (mi >= 0 && cache_idx(o->cache) != 1) {    /* a hit used nothing */
        model_ctr *c = &m->mc[mi];
        if (o->usage.prompt_tokens > 0) {
            ADD(c->prompt, (apr_uint64_t)o->usage.prompt_tokens);
        }
        if (o->usage.completion_tokens > 0) {
            ADD(c->completion, (apr_uint64_t)o->usage.completion_tokens);
        }
        if (o->usage.cached_tokens > 0) {
            ADD(c->cached, (apr_uint64_t)o->usage.cached_tokens);
        }
        if (o->cost_usd > 0 && o->cost_usd < 1e9) {
            ADD(c->cost_nano, (apr_uint64_t)(o->cost_usd * 1e9 + 0.5));
        }
    }
}

/* ------------------------------------------------------------ reading */

apr_uint64_t llmgw_metrics_get(const llmgw_metrics_t *m, llmgw_metric_e w)
{
    return m && w >= 0 && w < LLMGW_M_COUNT ? LOAD(m->c[w]) : 0;
}

apr_uint64_t llmgw_metrics_requests(const llmgw_metrics_t *m)
{
    apr_uint64_t n = 0;
    int i;
    for (i = 0; m && i < S; i++) {
        n += LOAD(m->series[i].n);
    }
    return n;
}

apr_int64_t llmgw_metrics_streams_active(const llmgw_metrics_t *m)
{
    return m ? LOAD(m->streams) : 0;
}

apr_uint64_t llmgw_metrics_retries(const llmgw_metrics_t *m)
{
    apr_uint64_t n = 0;
    int i;
    for (i = 0; m && i <= P; i++) {
        n += LOAD(m->retries[i]);
    }
    return n;
}

apr_uint64_t llmgw_metrics_tokens(const llmgw_metrics_t *m, int completion)
{
    apr_uint64_t n = 0;
    int i;
    for (i = 0; m && i < M; i++) {
        n += completion ? LOAD(m->mc[i].completion) : LOAD(m->mc[i].prompt);
    }
    return n;
}

double llmgw_metrics_cost(const llmgw_metrics_t *m)
{
    apr_uint64_t n = 0;
    int i;
    for (i = 0; m && i < M; i++) {
        n += LOAD(m->mc[i].cost_nano);
    }
    return (double)n / 1e9;
}

/* ------------------------------------------------------------ exposition */

static void put(llmgw_buf_t *o, const char *s)
{
    llmgw_buf_append(o, s, strlen(s));
}

static void put_u64(llmgw_buf_t *o, apr_uint64_t v)
{
    char b[32];
    snprintf(b, sizeof(b), "%" APR_UINT64_T_FMT, v);
    put(o, b);
}

static void put_num(llmgw_buf_t *o, double v)
{
    char b[LLMGW_NUM_MAX];
    put(o, llmgw_num_format(b, v));
}

void llmgw_metrics_label(llmgw_buf_t *o, const char *v)
{
    const char *s = v;
    for (; *s; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            llmgw_buf_append(o, v, (apr_size_t)(s - v));
            put(o, *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : "\\n");
            v = s + 1;
        }
    }
    llmgw_buf_append(o, v, (apr_size_t)(s - v));
}

/* name{label="value"... (without the closing brace) */
static void head(llmgw_buf_t *o, const char *metric, const char *label,
                 const char *value)
{
    put(o, metric);
    put(o, "{");
    put(o, label);
    put(o, "=\"");
    llmgw_metrics_label(o, value);
    put(o, "\"");
}

static void family(llmgw_buf_t *o, const char *name, const char *type,
                   const char *help)
{
    put(o, "# HELP ");
    put(o, name);
    put(o, " ");
    put(o, help);
    put(o, "\n# TYPE ");
    put(o, name);
    put(o, " ");
    put(o, type);
    put(o, "\n");
}

/* A slot's name once written (a claim being written is skipped: it has
 * counted nothing yet). */
static const char *slot_name(const name_slot *s)
{
    if (!__atomic_load_n(&s->key, __ATOMIC_ACQUIRE)
        || !__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE)) {
        return NULL;
    }
    return s->name;
}

static void render_hist(const llmgw_metrics_t *m, llmgw_buf_t *o, int which,
                        const char *name, const char *help)
{
    char le[32];
    int p, b;

    family(o, name, "histogram", help);
    for (p = 0; p <= P; p++) {
        const hist *h = &m->h[which][p];
        const char *pn = slot_name(&m->providers[p]);
        apr_uint64_t cum = 0;
        char metric[128];
        for (b = 0; b <= B; b++) {
            cum += LOAD(h->bucket[b]);
        }
        if (!pn || !cum) {
            continue;
        }
        cum = 0;
        snprintf(metric, sizeof(metric), "%s_bucket", name);
        for (b = 0; b <= B; b++) {
            cum += LOAD(h->bucket[b]);
            head(o, metric, "provider", pn);
            if (b < B) {
                snprintf(le, sizeof(le), "%g", llmgw_metrics_bucket_le[b]);
            }
            put(o, ",le=\"");
            put(o, b < B ? le : "+Inf");
            put(o, "\"} ");
            put_u64(o, cum);
            put(o, "\n");
        }
        snprintf(metric, sizeof(metric), "%s_sum", name);
        head(o, metric, "provider", pn);
        put(o, "} ");
        put_num(o, (double)LOAD(h->sum_us) / APR_USEC_PER_SEC);
        put(o, "\n");
        snprintf(metric, sizeof(metric), "%s_count", name);
        head(o, metric, "provider", pn);
        put(o, "} ");
        put_u64(o, cum);
        put(o, "\n");
    }
}

static void simple(llmgw_buf_t *o, const char *metric, const char *labels,
                   apr_uint64_t v)
{
    put(o, metric);
    put(o, labels);
    put(o, " ");
    put_u64(o, v);
    put(o, "\n");
}

void llmgw_metrics_render(const llmgw_metrics_t *m,
                          const llmgw_metrics_provider_t *providers, int n,
                          llmgw_buf_t *o)
{
    static const char *const kinds[3] = { "prompt", "completion", "cached" };
    int i, k;

    if (!m) {
        return;
    }
    family(o, "llmgw_requests_total", "counter", "Gateway requests by "
           "endpoint, provider and model that answered, HTTP status and "
           "cache result.");
    for (i = 0; i < S; i++) {
        apr_uint64_t key = __atomic_load_n(&m->series[i].key,
                                           __ATOMIC_ACQUIRE);
        int ep = (int)((key >> 40) & 0xff), p = (int)((key >> 32) & 0xff);
        int mi = (int)((key >> 16) & 0xffff);
        const char *epn, *pn, *mn;
        char status[8];
        if (!key) {
            continue;
        }
        epn = ep <= E ? slot_name(&m->endpoints[ep]) : NULL;
        pn = p <= P ? slot_name(&m->providers[p]) : NULL;
        mn = mi < M ? slot_name(&m->models[mi]) : "other";
        if (!epn || !pn || !mn) {
            continue;
        }
        head(o, "llmgw_requests_total", "endpoint", epn);
        put(o, ",provider=\"");
        llmgw_metrics_label(o, pn);
        put(o, "\",model=\"");
        llmgw_metrics_label(o, mn);
        snprintf(status, sizeof(status), "%d", (int)((key >> 2) & 0x3ff));
        put(o, "\",status=\"");
        put(o, status);
        put(o, "\",cache=\"");
        put(o, cache_names[key & 3]);
        put(o, "\"} ");
        put_u64(o, LOAD(m->series[i].n));
        put(o, "\n");
    }
    render_hist(m, o, H_REQUEST, "llmgw_request_duration_seconds",
                "Time from the request's arrival to the end of its answer.");
    render_hist(m, o, H_UPSTREAM, "llmgw_upstream_duration_seconds",
                "Time from the request's arrival to the provider's first "
                "byte (last attempt).");
    render_hist(m, o, H_TTFT, "llmgw_time_to_first_token_seconds",
                "Time from the request's arrival to the first byte of the "
                "answer sent to the client (a stream's first event).");

    family(o, "llmgw_tokens_total", "counter", "Tokens used, by provider, "
           "model and kind (cached: prompt tokens read from the provider's "
           "prompt cache).");
    for (i = 0; i < M; i++) {
        const char *mn = slot_name(&m->models[i]), *pn;
        apr_uint64_t v[3];
        if (!mn || m->models[i].parent > P
            || !(pn = slot_name(&m->providers[m->models[i].parent]))) {
            continue;
        }
        v[0] = LOAD(m->mc[i].prompt);
        v[1] = LOAD(m->mc[i].completion);
        v[2] = LOAD(m->mc[i].cached);
        for (k = 0; k < 3; k++) {
            head(o, "llmgw_tokens_total", "provider", pn);
            put(o, ",model=\"");
            llmgw_metrics_label(o, mn);
            put(o, "\",kind=\"");
            put(o, kinds[k]);
            put(o, "\"} ");
            put_u64(o, v[k]);
            put(o, "\n");
        }
    }
    family(o, "llmgw_cost_usd_total", "counter", "Cost in USD of the usage, "
           "from LLMGWPrice (models without a price add nothing).");
    for (i = 0; i < M; i++) {
        const char *mn = slot_name(&m->models[i]), *pn;
        if (!mn || m->models[i].parent > P
            || !(pn = slot_name(&m->providers[m->models[i].parent]))) {
            continue;
        }
        head(o, "llmgw_cost_usd_total", "provider", pn);
        put(o, ",model=\"");
        llmgw_metrics_label(o, mn);
        put(o, "\"} ");
        put_num(o, (double)LOAD(m->mc[i].cost_nano) / 1e9);
        put(o, "\n");
    }
    family(o, "llmgw_cache_total", "counter", "Response cache lookups by "
           "result (error: the store failed).");
    simple(o, "llmgw_cache_total", "{result=\"hit\"}",
           LOAD(m->c[LLMGW_M_CACHE_HIT]));
    simple(o, "llmgw_cache_total", "{result=\"miss\"}",
           LOAD(m->c[LLMGW_M_CACHE_MISS]));
    simple(o, "llmgw_cache_total", "{result=\"bypass\"}",
           LOAD(m->c[LLMGW_M_CACHE_BYPASS]));
    simple(o, "llmgw_cache_total", "{result=\"error\"}",
           LOAD(m->c[LLMGW_M_CACHE_ERROR]));
    family(o, "llmgw_limit_decisions_total", "counter", "Admission decisions "
           "of mod_llmgw_quota by decision and the window that refused.");
    simple(o, "llmgw_limit_decisions_total",
           "{decision=\"allow\",window=\"none\"}",
           LOAD(m->c[LLMGW_M_LIMIT_ALLOW]));
    simple(o, "llmgw_limit_decisions_total",
           "{decision=\"deny\",window=\"minute\"}",
           LOAD(m->c[LLMGW_M_LIMIT_DENY_MINUTE]));
    simple(o, "llmgw_limit_decisions_total",
           "{decision=\"deny\",window=\"hour\"}",
           LOAD(m->c[LLMGW_M_LIMIT_DENY_HOUR]));
    simple(o, "llmgw_limit_decisions_total",
           "{decision=\"deny\",window=\"month\"}",
           LOAD(m->c[LLMGW_M_LIMIT_DENY_MONTH]));
    simple(o, "llmgw_limit_decisions_total",
           "{decision=\"fail_open\",window=\"none\"}",
           LOAD(m->c[LLMGW_M_LIMIT_FAIL_OPEN]));
    simple(o, "llmgw_limit_decisions_total",
           "{decision=\"fail_closed\",window=\"none\"}",
           LOAD(m->c[LLMGW_M_LIMIT_FAIL_CLOSED]));
    family(o, "llmgw_store_errors_total", "counter", "Failed operations of "
           "the shared store (cache and quota).");
    simple(o, "llmgw_store_errors_total", "", LOAD(m->c[LLMGW_M_STORE_ERROR]));
    family(o, "llmgw_streams_active", "gauge", "Streams being relayed from a "
           "provider now.");
    put(o, "llmgw_streams_active ");
    {
        apr_int64_t s = LOAD(m->streams);
        put_u64(o, s > 0 ? (apr_uint64_t)s : 0);
    }
    put(o, "\n");
    family(o, "llmgw_retries_total", "counter", "Upstream attempts retried "
           "on the same provider (LLMGWRetries).");
    for (i = 0; i <= P; i++) {
        const char *pn = slot_name(&m->providers[i]);
        apr_uint64_t v = LOAD(m->retries[i]);
        if (pn && v) {
            head(o, "llmgw_retries_total", "provider", pn);
            put(o, "} ");
            put_u64(o, v);
            put(o, "\n");
        }
    }
    family(o, "llmgw_fallbacks_total", "counter", "Attempts moved to the "
           "next model of a request's fallbacks.");
    simple(o, "llmgw_fallbacks_total", "", LOAD(m->c[LLMGW_M_FALLBACKS]));
    family(o, "llmgw_circuit_open", "gauge", "1 while the provider's circuit "
           "breaker is open.");
    for (i = 0; i < n; i++) {
        head(o, "llmgw_circuit_open", "provider", providers[i].name);
        put(o, providers[i].circuit_open ? "} 1\n" : "} 0\n");
    }
    family(o, "llmgw_otlp_spans_total", "counter", "Trace spans exported to "
           "LLMGWOTLPEndpoint, or dropped (queue full, export failed).");
    simple(o, "llmgw_otlp_spans_total", "{result=\"exported\"}",
           LOAD(m->c[LLMGW_M_OTLP_EXPORTED]));
    simple(o, "llmgw_otlp_spans_total", "{result=\"dropped_queue_full\"}",
           LOAD(m->c[LLMGW_M_OTLP_DROPPED_QUEUE]));
    simple(o, "llmgw_otlp_spans_total", "{result=\"dropped_export_failed\"}",
           LOAD(m->c[LLMGW_M_OTLP_DROPPED_EXPORT]));
    family(o, "llmgw_semantic_cache_total", "counter", "Semantic cache "
           "lookups after an exact miss (skipped: nothing to embed, or the "
           "embedder failed).");
    simple(o, "llmgw_semantic_cache_total", "{result=\"hit\"}",
           LOAD(m->c[LLMGW_M_SEMANTIC_HIT]));
    simple(o, "llmgw_semantic_cache_total", "{result=\"miss\"}",
           LOAD(m->c[LLMGW_M_SEMANTIC_MISS]));
    simple(o, "llmgw_semantic_cache_total", "{result=\"skipped\"}",
           LOAD(m->c[LLMGW_M_SEMANTIC_SKIP]));
    family(o, "llmgw_embedding_calls_total", "counter", "Embedding calls "
           "the gateway made for itself (LLMGWSemanticEmbedder), not charged "
           "to any client.");
    simple(o, "llmgw_embedding_calls_total", "{result=\"ok\"}",
           LOAD(m->c[LLMGW_M_EMBED_OK]));
    simple(o, "llmgw_embedding_calls_total", "{result=\"error\"}",
           LOAD(m->c[LLMGW_M_EMBED_ERROR]));
    family(o, "llmgw_metrics_overflow_total", "counter", "Observations "
           "whose label set found no free slot (counted nowhere else).");
    simple(o, "llmgw_metrics_overflow_total", "", LOAD(m->overflow));
}
