/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * mod_llmgw_cache — exact-match response cache for mod_llmgw.
 *
 * Plugs into mod_llmgw's optional hooks (cache_lookup, response_headers,
 * completed) and refuses to start without it. Entries live in mod_llmgw's
 * shared store (shm or memcached) under a SHA-256 of the request's scope,
 * endpoint, route and canonical body (llmgw_cache_key.c); what an entry
 * holds and how it is replayed as JSON or SSE is in llmgw_cache_entry.c.
 * A store that fails never fails a request: the answer goes on as a MISS
 * and a (throttled) warning is logged.
 *
 * The semantic cache (LLMGWSemanticCache On) runs after an exact miss of a
 * Chat Completions or Messages request: the last user message is embedded
 * (LLMGWSemanticEmbedder, through mod_llmgw's llmgw_embed) and looked up
 * in a bucket of the shared store keyed by everything else of the request
 * (llmgw_semantic.c); the best entries above LLMGWSemanticThreshold point
 * to exact entries, served as a hit. A stored answer is added to its
 * bucket; entries pushed out of a full bucket are deleted with it. An
 * embedder that fails is a plain miss.
 */
#include <string.h>
#include "apr_strings.h"
#include "apr_atomic.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "llmgw.h"
#include "llmgw_json_scan.h"
#include "llmgw_cache_key.h"
#include "llmgw_cache_entry.h"
#include "llmgw_semantic.h"
#include "llmgw_num.h"

module AP_MODULE_DECLARE_DATA llmgw_cache_module;

/* ------------------------------------------------------------ config */

#define DEFAULT_TTL        3600
#define DEFAULT_MAX_ENTRY  1048576
#define WARN_INTERVAL      10          /* seconds between store warnings */
#define DEFAULT_THRESHOLD  0.95
#define SEM_CANDIDATES     3           /* exact entries read per lookup */

/* The cache's counters, kept per process and flushed to the store. */
typedef enum { STAT_HITS, STAT_MISSES, STAT_BYPASSES, STAT_ERRORS,
               STAT_COUNT } cache_stat_e;

/* -1: unset (inherits), so that a <Location> overrides only what it sets. */
typedef struct cache_conf {
    int enabled;
    apr_int64_t ttl;
    apr_int64_t max_entry;
    int semantic;                /* LLMGWSemanticCache */
    const char *embed_provider;  /* LLMGWSemanticEmbedder PROVIDER/MODEL */
    const char *embed_model;
    double threshold;            /* LLMGWSemanticThreshold, < 0 unset */
} cache_conf;

static void *create_conf(apr_pool_t *p, char *dir)
{
    cache_conf *c = apr_pcalloc(p, sizeof(*c));
    (void)dir;
    c->enabled = -1;
    c->ttl = -1;
    c->max_entry = -1;
    c->semantic = -1;
    c->threshold = -1;
    return c;
}

static void *merge_conf(apr_pool_t *p, void *basev, void *addv)
{
    cache_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    c->enabled = add->enabled >= 0 ? add->enabled : base->enabled;
    c->ttl = add->ttl >= 0 ? add->ttl : base->ttl;
    c->max_entry = add->max_entry >= 0 ? add->max_entry : base->max_entry;
    c->semantic = add->semantic >= 0 ? add->semantic : base->semantic;
    c->embed_provider = add->embed_provider ? add->embed_provider
                                            : base->embed_provider;
    c->embed_model = add->embed_provider ? add->embed_model
                                         : base->embed_model;
    c->threshold = add->threshold >= 0 ? add->threshold : base->threshold;
    return c;
}

static int conf_enabled(const cache_conf *c)
{
    return c->enabled == 1;
}

static apr_int64_t conf_ttl(const cache_conf *c)
{
    return c->ttl >= 0 ? c->ttl : DEFAULT_TTL;
}

static apr_int64_t conf_max_entry(const cache_conf *c)
{
    return c->max_entry >= 0 ? c->max_entry : DEFAULT_MAX_ENTRY;
}

/* The semantic cache works where the cache is on and an embedder is set. */
static int conf_semantic(const cache_conf *c)
{
    return conf_enabled(c) && c->semantic == 1 && c->embed_provider;
}

static double conf_threshold(const cache_conf *c)
{
    return c->threshold >= 0 ? c->threshold : DEFAULT_THRESHOLD;
}

/* Directives in server or vhost context land in the server's default
 * directory config, which every <Location> of that server merges. */
static const char *set_cache(cmd_parms *cmd, void *dc, int flag)
{
    (void)cmd;
    ((cache_conf *)dc)->enabled = flag ? 1 : 0;
    return NULL;
}

static const char *parse_positive(cmd_parms *cmd, const char *arg,
                                  apr_int64_t max, apr_int64_t *out)
{
    char *end;
    apr_int64_t v;
    if (apr_strtoff(&v, arg, &end, 10) != APR_SUCCESS || *end || v < 1
        || v > max) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a whole number "
                            "from 1 to %" APR_INT64_T_FMT,
                            cmd->directive->directive, arg, max);
    }
    *out = v;
    return NULL;
}

static const char *set_ttl(cmd_parms *cmd, void *dc, const char *arg)
{
    /* memcached reads an expiry above 30 days as a timestamp */
    return parse_positive(cmd, arg, 30 * 24 * 3600, &((cache_conf *)dc)->ttl);
}

static const char *set_max_entry(cmd_parms *cmd, void *dc, const char *arg)
{
    return parse_positive(cmd, arg, APR_INT64_C(1) << 30,
                          &((cache_conf *)dc)->max_entry);
}

static const char *set_semantic(cmd_parms *cmd, void *dc, int flag)
{
    (void)cmd;
    ((cache_conf *)dc)->semantic = flag ? 1 : 0;
    return NULL;
}

/* LLMGWSemanticEmbedder names a provider: checked in check_config (the
 * providers may come later in the file), naming the file and line. */
typedef struct embedder_ref {
    server_rec *server;
    const char *provider, *file;
    int line;
} embedder_ref_t;

static apr_array_header_t *embedder_refs;

static const char *set_embedder(cmd_parms *cmd, void *dcv, const char *arg)
{
    cache_conf *dc = dcv;
    const char *slash = strchr(arg, '/');
    embedder_ref_t *ref;

    if (!slash || slash == arg || !slash[1]) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not PROVIDER/MODEL",
                            cmd->cmd->name, arg);
    }
    dc->embed_provider = apr_pstrmemdup(cmd->pool, arg,
                                        (apr_size_t)(slash - arg));
    dc->embed_model = slash + 1;
    if (!embedder_refs) {
        embedder_refs = apr_array_make(cmd->pool, 4, sizeof(embedder_ref_t));
    }
    ref = apr_array_push(embedder_refs);
    ref->server = cmd->server;
    ref->provider = dc->embed_provider;
    ref->file = cmd->directive ? cmd->directive->filename : "?";
    ref->line = cmd->directive ? cmd->directive->line_num : 0;
    return NULL;
}

static const char *set_threshold(cmd_parms *cmd, void *dc, const char *arg)
{
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end || !(v > 0 && v <= 1)) {        /* nan too */
        return apr_psprintf(cmd->pool, "%s: '%s' is not a number with "
                            "0 < X <= 1", cmd->cmd->name, arg);
    }
    ((cache_conf *)dc)->threshold = v;
    return NULL;
}

static const command_rec cache_cmds[] = {
    AP_INIT_FLAG("LLMGWCache", set_cache, NULL, RSRC_CONF | ACCESS_CONF,
                 "On to answer repeated chat completion and embedding "
                 "requests from the shared response cache (default Off)."),
    AP_INIT_TAKE1("LLMGWCacheTTL", set_ttl, NULL, RSRC_CONF | ACCESS_CONF,
                  "Seconds a cached answer stays valid (default 3600)."),
    AP_INIT_TAKE1("LLMGWCacheMaxEntry", set_max_entry, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Largest response body in bytes that is cached "
                  "(default 1048576)."),
    AP_INIT_FLAG("LLMGWSemanticCache", set_semantic, NULL,
                 RSRC_CONF | ACCESS_CONF,
                 "On to answer a paraphrase of an earlier question from the "
                 "cache (needs LLMGWCache On and LLMGWSemanticEmbedder)."),
    AP_INIT_TAKE1("LLMGWSemanticEmbedder", set_embedder, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "PROVIDER/MODEL whose embeddings the semantic cache uses."),
    AP_INIT_TAKE1("LLMGWSemanticThreshold", set_threshold, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Smallest cosine similarity of a semantic hit, 0 < X <= 1 "
                  "(default 0.95)."),
    { NULL }
};

/* ------------------------------------------------ optional functions */

static APR_OPTIONAL_FN_TYPE(llmgw_get_store) *get_store;
static APR_OPTIONAL_FN_TYPE(llmgw_send_body) *send_body;
static APR_OPTIONAL_FN_TYPE(llmgw_metric_inc) *metric_inc;
static APR_OPTIONAL_FN_TYPE(llmgw_embed) *embed_fn;
static APR_OPTIONAL_FN_TYPE(llmgw_request_json) *request_json;

/* ------------------------------------------------ per request */

typedef struct cache_ctx {
    int active;              /* the cache took part (enabled, cacheable) */
    int no_store;            /* Cache-Control: no-store */
    int skip_write;          /* the store failed on the lookup */
    int hit;
    const char *scope;
    const char *canon;
    apr_int64_t age;         /* of the hit, seconds */
    apr_int64_t remaining;   /* ttl left of the hit, seconds */
    /* semantic */
    const char *sem_context; /* canonical request without the last text */
    float *sem_vec;          /* embedding of the last user text */
    apr_size_t sem_dim;
    int sem_hit;
    double similarity;
} cache_ctx;

static cache_ctx *ctx_get(request_rec *r, int create)
{
    cache_ctx *c = ap_get_module_config(r->request_config,
                                        &llmgw_cache_module);
    if (!c && create) {
        c = apr_pcalloc(r->pool, sizeof(*c));
        ap_set_module_config(r->request_config, &llmgw_cache_module, c);
    }
    return c;
}

/* ------------------------------------------------ store failures */

static apr_uint32_t last_warn;       /* seconds; per process */
static apr_uint32_t suppressed;

/* One warning per WARN_INTERVAL per process: a dead memcached must not
 * flood the log. Never an error: the request is answered all the same. */
static void store_warn(request_rec *r, const char *what, const char *detail)
{
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    apr_uint32_t last = apr_atomic_read32(&last_warn), n;

    if ((last && now - last < WARN_INTERVAL)
        || apr_atomic_cas32(&last_warn, now, last) != last) {
        apr_atomic_inc32(&suppressed);
        return;
    }
    n = apr_atomic_xchg32(&suppressed, 0);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "llmgw_cache: %s failed (%s); answering without the cache"
                  "%s", what, detail,
                  n ? apr_psprintf(r->pool, " (%u similar warnings "
                                   "suppressed)", n) : "");
}

/* Hit, miss, bypass and error counts, summed per process and added to
 * the store at most once a second: a store round trip per request would
 * cost a memcached hit half its speed. */
static const char *const stat_keys[STAT_COUNT] = {
    "llmgw:stats:cache:hits", "llmgw:stats:cache:misses",
    "llmgw:stats:cache:bypasses", "llmgw:stats:cache:store_errors"
};
static apr_uint32_t stat_pending[STAT_COUNT];
static apr_uint32_t stat_flushed_at;            /* apr_time_sec, truncated */

static void count(llmgw_store_t *st, cache_stat_e stat)
{
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now()), last;
    int i;

    static const llmgw_metric_e metric[STAT_COUNT] = {
        LLMGW_M_CACHE_HIT, LLMGW_M_CACHE_MISS, LLMGW_M_CACHE_BYPASS,
        LLMGW_M_CACHE_ERROR
    };

    if (metric_inc) {
        metric_inc(metric[stat]);
        if (stat == STAT_ERRORS) {
            metric_inc(LLMGW_M_STORE_ERROR);
        }
    }
    apr_atomic_inc32(&stat_pending[stat]);
    last = apr_atomic_read32(&stat_flushed_at);
    if (!st || now == last
        || apr_atomic_cas32(&stat_flushed_at, now, last) != last) {
        return;
    }
    for (i = 0; i < STAT_COUNT; i++) {
        apr_uint32_t n = apr_atomic_xchg32(&stat_pending[i], 0);
        apr_uint64_t v;
        if (n) {
            (void)st->incr(st, stat_keys[i], n, n, 0, &v);  /* best effort */
        }
    }
}

/* ------------------------------------------------ the lookup */

/* Whether a Cache-Control list holds the directive `name`. */
static int cc_has(const char *cc, const char *name)
{
    apr_size_t n = strlen(name);
    while (cc && *cc) {
        apr_size_t len;
        while (*cc == ' ' || *cc == '\t' || *cc == ',') {
            cc++;
        }
        len = strcspn(cc, ",= \t");
        if (len == n && !strncasecmp(cc, name, n)) {
            return 1;
        }
        cc += strcspn(cc, ",");
    }
    return 0;
}

/* The virtual host as its ServerName says (name and port), so that nodes
 * behind one load balancer, configured alike, share their entries. */
static const char *vhost_of(request_rec *r)
{
    server_rec *s = r->server;
    return apr_psprintf(r->pool, "%s:%u", s->server_hostname
                        ? s->server_hostname : "", (unsigned)s->port);
}

static int serve_hit(request_rec *r, llmgw_request_t *req, cache_ctx *ctx,
                     const llmgw_cache_entry_t *e)
{
    char *out = NULL;
    apr_size_t len = 0;
    const char *ctype;
    int rv;

    if (req->api != LLMGW_API_CHAT && req->api != LLMGW_API_INDOXHUB) {
        /* the other APIs: as stored, or in the other framing through
         * their adapter */
        const llmgw_client_api_t *api = llmgw_client_api(req->api);
        const char *conv = e->body;
        ctype = req->stream ? "text/event-stream" : "application/json";
        len = e->len;
        rv = 0;
        if (req->stream && !e->is_sse) {
            rv = api->expand ? api->expand(r->pool, e->body, e->len, &conv,
                                           &len) : -1;
        }
        else if (!req->stream && e->is_sse) {
            rv = api->reduce ? api->reduce(r->pool, e->body, e->len, &conv,
                                           &len) : -1;
        }
        out = (char *)conv;
    }
    else if (req->stream) {
        ctype = "text/event-stream";
        rv = e->is_sse
             ? llmgw_cache_sse_replay(r->pool, e->body, e->len,
                                      req->include_usage, &e->usage,
                                      &out, &len)
             : llmgw_cache_json_to_sse(r->pool, e->body, e->len,
                                       req->include_usage, &out, &len);
    }
    else {
        ctype = "application/json";
        if (e->is_sse) {
            rv = req->endpoint == LLMGW_EP_CHAT
                 ? llmgw_cache_sse_to_json(r->pool, e->body, e->len,
                                           &e->usage, &out, &len)
                 : -1;
        }
        else {
            out = (char *)e->body;
            len = e->len;
            rv = 0;
        }
    }
    if (rv) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "llmgw_cache: a stored "
                      "answer could not be replayed; treated as a miss");
        return DECLINED;
    }
    ctx->hit = 1;
    req->cache_hit = 1;
    req->cache_status = "HIT";
    req->cache_kind = ctx->sem_hit ? "semantic" : "exact";
    req->usage = e->usage;
    req->answered_provider = e->provider;
    req->answered_model = e->model;
    /* what the client got, for whoever reads the answer after (memory) */
    if (req->capture && req->capture_limit && len <= req->capture_limit) {
        req->capture->len = 0;
        llmgw_buf_append(req->capture, out, len);
        req->capture_is_sse = !strcmp(ctype, "text/event-stream");
    }
    send_body(r, req, HTTP_OK, ctype, out, len);
    req->complete = 1;
    return OK;
}

/* The endpoints whose answers are stored: not count_tokens (free and
 * cheap), not the Responses store's GET / DELETE. */
static int cacheable(llmgw_endpoint_e ep)
{
    switch (ep) {
    case LLMGW_EP_CHAT:
    case LLMGW_EP_EMBEDDINGS:
    case LLMGW_EP_MESSAGES:
    case LLMGW_EP_RESPONSES:
    case LLMGW_EP_GEMINI:
    case LLMGW_EP_GEMINI_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* The endpoint part of a key: the API is part of it, so that an answer in
 * one shape (IndoxHub's envelope) never answers a request of another. */
static const char *key_endpoint(const llmgw_request_t *req)
{
    return req->api == LLMGW_API_INDOXHUB ? "chat/completions+indoxhub"
                                          : req->endpoint_name;
}

/* The request body in canonical form, from its text (no tree built);
 * from the tree when a hook changed it (memory, a policy): the key is
 * what is really sent. */
static const char *canonical_body(apr_pool_t *p, llmgw_request_t *req)
{
    if (req->body_changed && req->body) {
        char *txt = llmgw_json_dumps(req->body, JSON_COMPACT);
        const char *c = txt ? llmgw_cache_canonical_body(p, txt, strlen(txt))
                            : NULL;
        free(txt);
        return c;
    }
    return req->raw_body ? llmgw_cache_canonical_body(p, req->raw_body,
                                                      req->raw_len)
                         : NULL;
}

/* ------------------------------------------------ the semantic cache */

static void metric(llmgw_metric_e m)
{
    if (metric_inc) {
        metric_inc(m);
    }
}

/* The bucket of the index for a route: the exact key's construction over
 * the request without its last user text, under the semantic prefix. */
static const char *sem_bucket_key(apr_pool_t *p, cache_ctx *ctx,
                                  llmgw_request_t *req, const char *provider,
                                  const char *model)
{
    const char *k = llmgw_cache_key(p, ctx->scope,
                                    apr_pstrcat(p, key_endpoint(req),
                                                "#semantic", NULL),
                                    provider, model, ctx->sem_context);
    return k ? apr_pstrcat(p, LLMGW_SEM_KEY_PREFIX,
                           k + sizeof(LLMGW_CACHE_KEY_PREFIX) - 1, NULL)
             : NULL;
}

/* An exact entry still valid (by the location's TTL too), or -1. */
static int entry_load(request_rec *r, llmgw_store_t *st, const char *key,
                      apr_int64_t ttl, cache_ctx *ctx,
                      llmgw_cache_entry_t *e, llmgw_store_status_e *s)
{
    char *val = NULL;
    apr_size_t vlen = 0;
    apr_int64_t now, expires;

    *s = st->get(st, r->pool, key, &val, &vlen);
    if (*s != LLMGW_STORE_OK
        || llmgw_cache_entry_decode(r->pool, val, vlen, e) != 0) {
        return -1;
    }
    now = apr_time_sec(apr_time_now());
    expires = e->created + ttl;
    if (e->expires < expires) {
        expires = e->expires;
    }
    if (now >= expires) {
        return -1;
    }
    ctx->age = now > e->created ? now - e->created : 0;
    ctx->remaining = expires - now;
    return 0;
}

/* After an exact miss: embed the last user text and serve the closest
 * stored answer of the same context. OK when served; DECLINED otherwise
 * (the embedding is kept for the store). Never an error. */
static int semantic_lookup(request_rec *r, llmgw_request_t *req,
                           cache_conf *conf, cache_ctx *ctx, llmgw_store_t *st)
{
    const char *text, *bkey;
    llmgw_sem_bucket_t *b;
    apr_array_header_t *m;
    json_t *tree;
    char *val = NULL;
    apr_size_t vlen = 0;
    int i;

    if (!embed_fn || !request_json
        || (req->endpoint != LLMGW_EP_CHAT
            && req->endpoint != LLMGW_EP_MESSAGES
            && req->endpoint != LLMGW_EP_RESPONSES
            && req->endpoint != LLMGW_EP_GEMINI
            && req->endpoint != LLMGW_EP_GEMINI_STREAM)
        || !(tree = request_json(req))
        || llmgw_semantic_split(r->pool, tree, &text, &ctx->sem_context)) {
        metric(LLMGW_M_SEMANTIC_SKIP);
        return DECLINED;
    }
    if (embed_fn(r, r->pool, conf->embed_provider, conf->embed_model, text,
                 &ctx->sem_vec, &ctx->sem_dim)) {
        ctx->sem_vec = NULL;
        metric(LLMGW_M_SEMANTIC_SKIP);
        return DECLINED;            /* the embedder failed: a plain miss */
    }
    bkey = sem_bucket_key(r->pool, ctx, req, req->provider->name, req->model);
    if (!bkey || st->get(st, r->pool, bkey, &val, &vlen) != LLMGW_STORE_OK
        || llmgw_sem_bucket_decode(r->pool, val, vlen, &b)) {
        metric(LLMGW_M_SEMANTIC_MISS);
        return DECLINED;
    }
    m = llmgw_sem_bucket_match(r->pool, b, ctx->sem_vec, ctx->sem_dim,
                               conf_threshold(conf), SEM_CANDIDATES);
    for (i = 0; i < m->nelts; i++) {
        const llmgw_sem_match_t *c = &APR_ARRAY_IDX(m, i, llmgw_sem_match_t);
        llmgw_cache_entry_t e;
        llmgw_store_status_e s;
        if (entry_load(r, st, apr_pstrcat(r->pool, LLMGW_CACHE_KEY_PREFIX,
                                          c->key, NULL),
                       conf_ttl(conf), ctx, &e, &s)) {
            continue;               /* gone with its answer: the next one */
        }
        ctx->sem_hit = 1;
        ctx->similarity = c->similarity;
        if (serve_hit(r, req, ctx, &e) == OK) {
            metric(LLMGW_M_SEMANTIC_HIT);
            return OK;
        }
        ctx->sem_hit = 0;
    }
    metric(LLMGW_M_SEMANTIC_MISS);
    return DECLINED;
}

/* A stored answer joins its bucket; entries pushed out of the bucket are
 * deleted with their answers, so the index never points far. */
static void semantic_store(request_rec *r, llmgw_request_t *req,
                           cache_ctx *ctx, llmgw_store_t *st,
                           const char *exact_key, apr_uint32_t ttl)
{
    const char *bkey = sem_bucket_key(r->pool, ctx, req,
                                      req->answered_provider,
                                      req->answered_model);
    apr_array_header_t *evicted = apr_array_make(r->pool, 2,
                                                 sizeof(const char *));
    llmgw_sem_bucket_t *b = NULL;
    llmgw_store_status_e s;
    char *val = NULL, *enc;
    apr_size_t vlen = 0, elen;
    int i;

    if (!bkey) {
        return;
    }
    s = st->get(st, r->pool, bkey, &val, &vlen);
    if (s == LLMGW_STORE_ERROR) {
        return;
    }
    if (s != LLMGW_STORE_OK
        || llmgw_sem_bucket_decode(r->pool, val, vlen, &b)) {
        b = llmgw_sem_bucket_make(r->pool, ctx->sem_dim);
    }
    if (llmgw_sem_bucket_add(r->pool, b,
                             exact_key + sizeof(LLMGW_CACHE_KEY_PREFIX) - 1,
                             ctx->sem_vec, ctx->sem_dim, evicted)) {
        return;
    }
    enc = llmgw_sem_bucket_encode(r->pool, b, &elen);
    if (st->set(st, bkey, enc, elen, ttl) != LLMGW_STORE_OK) {
        return;
    }
    for (i = 0; i < evicted->nelts; i++) {
        (void)st->del(st, apr_pstrcat(r->pool, LLMGW_CACHE_KEY_PREFIX,
                                      APR_ARRAY_IDX(evicted, i, const char *),
                                      NULL));
    }
}

static int cache_lookup(request_rec *r, llmgw_request_t *req)
{
    cache_conf *conf = ap_get_module_config(r->per_dir_config,
                                            &llmgw_cache_module);
    cache_ctx *ctx = ctx_get(r, 1);
    const char *cc, *key;
    llmgw_store_t *st;
    llmgw_store_status_e s;
    llmgw_cache_entry_t e;
    char *val = NULL;
    apr_size_t vlen = 0;
    apr_int64_t now, expires;

    if (!conf_enabled(conf)) {
        return DECLINED;
    }
    req->cache_status = "BYPASS";
    if (!cacheable(req->endpoint) || !req->provider || !req->model
        || !(ctx->canon = canonical_body(r->pool, req))) {
        return DECLINED;
    }
    ctx->active = 1;
    ctx->scope = llmgw_cache_scope(r->pool, req->workspace, vhost_of(r),
                                   req->client_key, req->provider_key);
    cc = apr_table_get(r->headers_in, "Cache-Control");
    if (!cc && (cc = apr_table_get(r->headers_in, "Pragma"))
        && !cc_has(cc, "no-cache")) {
        cc = NULL;
    }
    st = get_store(r->server);
    if (cc_has(cc, "no-store")) {
        ctx->no_store = 1;
        count(st, STAT_BYPASSES);
        return DECLINED;
    }
    if (req->capture_limit < (apr_size_t)conf_max_entry(conf)) {
        req->capture_limit = (apr_size_t)conf_max_entry(conf);
    }
    if (conf_semantic(conf)) {
        req->cache_kind = "semantic";
    }
    if (cc_has(cc, "no-cache")) {
        count(st, STAT_BYPASSES);
        return DECLINED;                /* the fresh answer is stored */
    }
    req->cache_status = "MISS";
    if (!st) {
        store_warn(r, "the cache lookup", "no shared store");
        return DECLINED;
    }
    key = llmgw_cache_key(r->pool, ctx->scope, key_endpoint(req),
                          req->provider->name, req->model, ctx->canon);
    s = key ? st->get(st, r->pool, key, &val, &vlen) : LLMGW_STORE_NOTFOUND;
    if (s == LLMGW_STORE_ERROR) {
        ctx->skip_write = 1;
        store_warn(r, apr_psprintf(r->pool, "the cache lookup in the %s store",
                                   st->kind), llmgw_store_status_str(s));
        count(st, STAT_ERRORS);
        return DECLINED;
    }
    if (s == LLMGW_STORE_OK
        && llmgw_cache_entry_decode(r->pool, val, vlen, &e) == 0) {
        now = apr_time_sec(apr_time_now());
        expires = e.created + conf_ttl(conf);
        if (e.expires < expires) {
            expires = e.expires;
        }
        if (now < expires) {
            ctx->age = now > e.created ? now - e.created : 0;
            ctx->remaining = expires - now;
            if (serve_hit(r, req, ctx, &e) == OK) {
                count(st, STAT_HITS);
                return OK;
            }
        }
    }
    if (conf_semantic(conf)
        && semantic_lookup(r, req, conf, ctx, st) == OK) {
        count(st, STAT_HITS);
        return OK;
    }
    count(st, STAT_MISSES);
    return DECLINED;
}

/* ------------------------------------------------ response headers */

static int cache_response_headers(request_rec *r, llmgw_request_t *req)
{
    cache_ctx *ctx = ctx_get(r, 0);
    apr_table_t *h = r->headers_out;

    /* no cache here, no cache header */
    if (!r->handler || strcmp(r->handler, "llmgw")
        || !conf_enabled(ap_get_module_config(r->per_dir_config,
                                              &llmgw_cache_module))) {
        return OK;
    }
    if (ctx && ctx->hit && req->cache_hit) {
        apr_table_setn(h, "x-cache-status", "HIT");
        apr_table_setn(h, "Cache-Status",
                       apr_psprintf(r->pool, "llmgw; hit; ttl=%" APR_INT64_T_FMT
                                    "%s", ctx->remaining,
                                    ctx->sem_hit ? "; detail=semantic" : ""));
        if (ctx->sem_hit) {
            apr_table_setn(h, "x-cache-similarity",
                           llmgw_sem_similarity_str(r->pool,
                                                    ctx->similarity));
        }
        apr_table_setn(h, "Age", apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                              ctx->age));
        return OK;
    }
    if (!req->cache_status || strcmp(req->cache_status, "MISS")) {
        req->cache_status = "BYPASS";
    }
    apr_table_setn(h, "x-cache-status", req->cache_status);
    apr_table_setn(h, "Cache-Status", !strcmp(req->cache_status, "MISS")
                   ? "llmgw; fwd=uri-miss" : "llmgw; fwd=bypass");
    return OK;
}

/* ------------------------------------------------ storing */

static int cache_completed(request_rec *r, llmgw_request_t *req)
{
    cache_conf *conf = ap_get_module_config(r->per_dir_config,
                                            &llmgw_cache_module);
    cache_ctx *ctx = ctx_get(r, 0);
    llmgw_cache_entry_t e;
    llmgw_store_t *st;
    llmgw_store_status_e s;
    const char *key;
    char *val;
    apr_size_t vlen;
    apr_int64_t ttl = conf_ttl(conf);

    if (!ctx || !ctx->active || ctx->no_store || ctx->skip_write || ctx->hit
        || req->cache_hit || !req->complete || req->status != HTTP_OK
        || req->capture_overflow || !req->capture || !req->capture->len
        || req->capture->len > (apr_size_t)conf_max_entry(conf)
        || !req->answered_provider || !req->answered_model) {
        return OK;
    }
    key = llmgw_cache_key(r->pool, ctx->scope, key_endpoint(req),
                          req->answered_provider, req->answered_model,
                          ctx->canon);
    if (!key) {
        return OK;
    }
    if (!(st = get_store(r->server))) {
        store_warn(r, "storing an answer", "no shared store");
        return OK;
    }
    memset(&e, 0, sizeof(e));
    e.is_sse = req->capture_is_sse;
    e.created = apr_time_sec(apr_time_now());
    e.expires = e.created + ttl;
    e.provider = req->answered_provider;
    e.model = req->answered_model;
    e.usage = req->usage;
    e.body = req->capture->data;
    e.len = req->capture->len;
    if (!(val = llmgw_cache_entry_encode(r->pool, &e, &vlen))) {
        return OK;
    }
    s = st->set(st, key, val, vlen, (apr_uint32_t)ttl);
    if (s == LLMGW_STORE_ERROR) {
        store_warn(r, apr_psprintf(r->pool, "storing an answer in the %s "
                                   "store", st->kind),
                   llmgw_store_status_str(s));
        count(st, STAT_ERRORS);
    }
    else if (s != LLMGW_STORE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "llmgw_cache: answer "
                      "of %" APR_SIZE_T_FMT " bytes not stored: %s", vlen,
                      llmgw_store_status_str(s));
    }
    else if (ctx->sem_vec && conf_semantic(conf)) {
        semantic_store(r, req, ctx, st, key, (apr_uint32_t)ttl);
    }
    return OK;
}

/* ------------------------------------------------ setup */

static int cache_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog; (void)ptemp;
    get_store = APR_RETRIEVE_OPTIONAL_FN(llmgw_get_store);
    send_body = APR_RETRIEVE_OPTIONAL_FN(llmgw_send_body);
    metric_inc = APR_RETRIEVE_OPTIONAL_FN(llmgw_metric_inc);
    embed_fn = APR_RETRIEVE_OPTIONAL_FN(llmgw_embed);
    request_json = APR_RETRIEVE_OPTIONAL_FN(llmgw_request_json);
    if (!get_store || !send_body) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "mod_llmgw_cache needs mod_llmgw: load mod_llmgw.so "
                     "(LoadModule llmgw_module) as well");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static int cache_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp)
{
    (void)pconf; (void)plog; (void)ptemp;
    embedder_refs = NULL;           /* the pool of the last read is gone */
    return OK;
}

/* Runs for `apachectl -t` too: an embedder that names no provider, or
 * one without embeddings, fails the check naming the file and line. */
static int cache_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(llmgw_embedder_check) *check =
        APR_RETRIEVE_OPTIONAL_FN(llmgw_embedder_check);
    int i, bad = 0;
    (void)pconf; (void)plog;
    for (i = 0; check && embedder_refs && i < embedder_refs->nelts; i++) {
        embedder_ref_t *ref = &APR_ARRAY_IDX(embedder_refs, i,
                                             embedder_ref_t);
        const char *why = check(ptemp, ref->server, ref->provider);
        if (why) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         "LLMGWSemanticEmbedder: %s (%s line %d)", why,
                         ref->file, ref->line);
            bad = 1;
        }
    }
    return bad ? !OK : OK;
}

static void cache_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(cache_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(cache_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(cache_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llmgw, cache_lookup, cache_lookup, NULL, NULL,
                      APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llmgw, response_headers, cache_response_headers, NULL,
                      NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llmgw, completed, cache_completed, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(llmgw_cache) = {
    STANDARD20_MODULE_STUFF,
    create_conf,
    merge_conf,
    NULL,
    NULL,
    cache_cmds,
    cache_register_hooks,
    AP_MODULE_FLAG_NONE
};
