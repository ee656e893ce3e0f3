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

module AP_MODULE_DECLARE_DATA llmgw_cache_module;

/* ------------------------------------------------------------ config */

#define DEFAULT_TTL        3600
#define DEFAULT_MAX_ENTRY  1048576
#define WARN_INTERVAL      10          /* seconds between store warnings */

/* The cache's counters, kept per process and flushed to the store. */
typedef enum { STAT_HITS, STAT_MISSES, STAT_BYPASSES, STAT_ERRORS,
               STAT_COUNT } cache_stat_e;

/* -1: unset (inherits), so that a <Location> overrides only what it sets. */
typedef struct cache_conf {
    int enabled;
    apr_int64_t ttl;
    apr_int64_t max_entry;
} cache_conf;

static void *create_conf(apr_pool_t *p, char *dir)
{
    cache_conf *c = apr_pcalloc(p, sizeof(*c));
    (void)dir;
    c->enabled = -1;
    c->ttl = -1;
    c->max_entry = -1;
    return c;
}

static void *merge_conf(apr_pool_t *p, void *basev, void *addv)
{
    cache_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    c->enabled = add->enabled >= 0 ? add->enabled : base->enabled;
    c->ttl = add->ttl >= 0 ? add->ttl : base->ttl;
    c->max_entry = add->max_entry >= 0 ? add->max_entry : base->max_entry;
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
    { NULL }
};

/* ------------------------------------------------ optional functions */

static APR_OPTIONAL_FN_TYPE(llmgw_get_store) *get_store;
static APR_OPTIONAL_FN_TYPE(llmgw_send_body) *send_body;
static APR_OPTIONAL_FN_TYPE(llmgw_metric_inc) *metric_inc;

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
    req->usage = e->usage;
    req->answered_provider = e->provider;
    req->answered_model = e->model;
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

/* The request body in canonical form, from its text (no tree built). */
static const char *canonical_body(apr_pool_t *p, llmgw_request_t *req)
{
    return req->raw_body ? llmgw_cache_canonical_body(p, req->raw_body,
                                                      req->raw_len)
                         : NULL;
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
    req->capture_limit = (apr_size_t)conf_max_entry(conf);
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
                       apr_psprintf(r->pool, "llmgw; hit; ttl=%" APR_INT64_T_FMT,
                                    ctx->remaining));
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
    if (!get_store || !send_body) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "mod_llmgw_cache needs mod_llmgw: load mod_llmgw.so "
                     "(LoadModule llmgw_module) as well");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static void cache_register_hooks(apr_pool_t *p)
{
    (void)p;
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
