/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * mod_llmgw_quota — gateway keys, plans and limits for mod_llmgw.
 *
 * Plugs into mod_llmgw's optional hooks (authenticate, admit,
 * response_headers, completed) and serves the `llmgw-usage` and
 * `llmgw-quota-check` handlers. Counters live in mod_llmgw's shared store
 * and are changed only with atomic increments and decrements (see
 * llmgw_limits.h for their names and the admission). Refuses to start
 * without mod_llmgw.
 */
#include <string.h>
#include <math.h>

#include "apr_fnmatch.h"
#include "openssl/crypto.h"

#include "apr_strings.h"
#include "apr_atomic.h"
#include "apr_hash.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "llmgw.h"
#include "llmgw_limits.h"
#include "llmgw_num.h"
#include "mod_llmgw_quota.h"
#include "llmgw_route.h"

static APR_OPTIONAL_FN_TYPE(llmgw_get_store) *get_store;
static APR_OPTIONAL_FN_TYPE(llmgw_send_error) *send_error;
static APR_OPTIONAL_FN_TYPE(llmgw_send_body) *send_body;
static APR_OPTIONAL_FN_TYPE(llmgw_get_request) *get_request;
static APR_OPTIONAL_FN_TYPE(llmgw_cost) *cost_fn;
static APR_OPTIONAL_FN_TYPE(llmgw_resolve_model) *resolve_model;
static APR_OPTIONAL_FN_TYPE(llmgw_metric_inc) *metric_inc;
#define METRIC(which) do { if (metric_inc) metric_inc(which); } while (0)

/* the same, for the management API's files (mod_llmgw_quota.h) */
APR_OPTIONAL_FN_TYPE(llmgw_get_store) *llmgw_q_get_store;
APR_OPTIONAL_FN_TYPE(llmgw_send_body) *llmgw_q_send_body;
APR_OPTIONAL_FN_TYPE(llmgw_get_request) *llmgw_q_get_request;
APR_OPTIONAL_FN_TYPE(llmgw_request_json) *llmgw_q_request_json;
APR_OPTIONAL_FN_TYPE(llmgw_resolve_model) *llmgw_q_resolve_model;

/* ------------------------------------------------------------ config */

typedef struct quota_dir_conf {
    int enabled;                         /* -1 unset */
} quota_dir_conf;

static void *create_server_conf(apr_pool_t *p, server_rec *s)
{
    quota_server_conf *sc = apr_pcalloc(p, sizeof(*sc));
    (void)s;
    sc->plans = apr_hash_make(p);
    sc->keys = apr_array_make(p, 4, sizeof(quota_key_t));
    sc->fail_closed = -1;
    sc->managed = -1;
    return sc;
}

quota_server_conf *quota_sconf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &llmgw_quota_module);
}

const llmgw_plan_t *quota_plan(server_rec *s, const char *name)
{
    return name ? apr_hash_get(quota_sconf(s)->plans, name,
                               APR_HASH_KEY_STRING)
                : NULL;
}

static void *merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    quota_server_conf *base = basev, *add = addv;
    quota_server_conf *sc = apr_pcalloc(p, sizeof(*sc));
    sc->plans = apr_hash_overlay(p, add->plans, base->plans);
    /* the vhost's own keys come last, so they win a duplicate */
    sc->keys = apr_array_append(p, base->keys, add->keys);
    sc->fail_closed = add->fail_closed >= 0 ? add->fail_closed
                                            : base->fail_closed;
    sc->managed = add->managed >= 0 ? add->managed : base->managed;
    /* server-wide: the main server's (the secret is read in post_config) */
    sc->has_admin_key = base->has_admin_key;
    memcpy(sc->admin_digest, base->admin_digest, LLMGW_DIGEST_LEN);
    sc->secret_file = base->secret_file;
    sc->secret_where = base->secret_where;
    return sc;
}

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    quota_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));
    (void)dir;
    dc->enabled = -1;
    return dc;
}

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    quota_dir_conf *base = basev, *add = addv;
    quota_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));
    dc->enabled = add->enabled >= 0 ? add->enabled : base->enabled;
    return dc;
}

static const char *where(cmd_parms *cmd)
{
    return cmd->directive
        ? apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                       cmd->directive->line_num)
        : "?";
}

static const char *cmd_plan(cmd_parms *cmd, void *dconf, int argc,
                            char *const argv[])
{
    quota_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_quota_module);
    llmgw_plan_t *plan = apr_pcalloc(cmd->pool, sizeof(*plan));
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dconf;
    if (err) {
        return err;
    }
    if (argc < 1) {
        return "LLMGWPlan: a plan name is required";
    }
    if ((err = llmgw_plan_parse(cmd->pool, argv[0], argc - 1, argv + 1,
                                plan))) {
        return apr_psprintf(cmd->pool, "LLMGWPlan %s: %s", argv[0], err);
    }
    if (apr_hash_get(sc->plans, plan->name, APR_HASH_KEY_STRING)) {
        return apr_psprintf(cmd->pool, "LLMGWPlan %s: defined twice",
                            plan->name);
    }
    apr_hash_set(sc->plans, plan->name, APR_HASH_KEY_STRING, plan);
    return NULL;
}

static const char *cmd_key(cmd_parms *cmd, void *dconf, int argc,
                           char *const argv[])
{
    quota_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_quota_module);
    quota_key_t k;
    int i;
    (void)dconf;

    memset(&k, 0, sizeof(k));
    if (argc < 1 || llmgw_key_digest(argv[0], k.digest)) {
        /* never echo the argument: it may be a secret */
        return "LLMGWKey: the first argument must be a key or sha256:HEX "
               "(64 hex digits)";
    }
    for (i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "workspace=", 10)) {
            k.workspace = apr_pstrdup(cmd->pool, argv[i] + 10);
        }
        else if (!strncmp(argv[i], "plan=", 5)) {
            k.plan_name = apr_pstrdup(cmd->pool, argv[i] + 5);
        }
        else if (!strncmp(argv[i], "models=", 7)) {
            char *list = apr_pstrdup(cmd->pool, argv[i] + 7), *last, *g;
            k.models = apr_array_make(cmd->pool, 4, sizeof(const char *));
            for (g = apr_strtok(list, ",", &last); g;
                 g = apr_strtok(NULL, ",", &last)) {
                APR_ARRAY_PUSH(k.models, const char *) = g;
            }
            if (!k.models->nelts) {
                return "LLMGWKey: models= needs at least one GLOB "
                       "(models=openai/*,anthropic/claude-*)";
            }
        }
        else if (!strncmp(argv[i], "name=", 5) && argv[i][5]) {
            k.name = apr_pstrdup(cmd->pool, argv[i] + 5);
        }
        else if (!strncmp(argv[i], "tier=", 5) && argv[i][5]) {
            k.tier = apr_pstrdup(cmd->pool, argv[i] + 5);
        }
        else {
            /* the argument is not echoed: a misplaced key may be a secret */
            return apr_psprintf(cmd->pool, "LLMGWKey: unknown argument #%d "
                                "(workspace=W plan=P [models=GLOB,...] "
                                "[name=N] [tier=T])", i + 1);
        }
    }
    if (!llmgw_workspace_ok(k.workspace)) {
        return apr_psprintf(cmd->pool, "LLMGWKey: workspace=%s is not 1 to 64 "
                            "of A-Z a-z 0-9 . _ -",
                            k.workspace ? k.workspace : "(missing)");
    }
    if (!k.plan_name || !*k.plan_name) {
        return "LLMGWKey: plan=P is required";
    }
    for (i = 0; i < sc->keys->nelts; i++) {
        quota_key_t *o = &APR_ARRAY_IDX(sc->keys, i, quota_key_t);
        if (!memcmp(o->digest, k.digest, LLMGW_DIGEST_LEN)) {
            return apr_psprintf(cmd->pool, "LLMGWKey: this key is already "
                                "defined at %s", o->where);
        }
    }
    k.where = where(cmd);
    {
        /* never the secret: the name, else a short id from the digest */
        static const char hex[] = "0123456789abcdef";
        char id[4 + 12 + 1];
        int j;
        memcpy(id, "key-", 4);
        for (j = 0; j < 6; j++) {
            id[4 + 2 * j] = hex[k.digest[j] >> 4];
            id[5 + 2 * j] = hex[k.digest[j] & 15];
        }
        id[16] = '\0';
        k.log_id = k.name ? k.name : apr_pstrdup(cmd->pool, id);
        k.key_id = k.log_id;
    }
    APR_ARRAY_PUSH(sc->keys, quota_key_t) = k;
    return NULL;
}

static const char *cmd_fail_mode(cmd_parms *cmd, void *dconf, const char *arg)
{
    quota_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_quota_module);
    (void)dconf;
    if (!strcasecmp(arg, "open")) {
        sc->fail_closed = 0;
    }
    else if (!strcasecmp(arg, "closed")) {
        sc->fail_closed = 1;
    }
    else {
        return "LLMGWQuotaFailMode: must be open or closed";
    }
    return NULL;
}

static const char *cmd_admin_key(cmd_parms *cmd, void *dconf,
                                 const char *arg)
{
    quota_server_conf *sc = quota_sconf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dconf;
    if (err) {
        return err;
    }
    /* only a digest: the admin secret itself never sits in a config file */
    if (strncasecmp(arg, "sha256:", 7)
        || llmgw_key_digest(arg, sc->admin_digest)) {
        return "LLMGWAdminKey: the argument must be sha256:HEX (64 hex "
               "digits: the SHA-256 of the admin secret, e.g. printf %s "
               "SECRET | sha256sum)";
    }
    sc->has_admin_key = 1;
    return NULL;
}

static const char *cmd_secret_file(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    quota_server_conf *sc = quota_sconf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dconf;
    if (err) {
        return err;
    }
    sc->secret_file = ap_server_root_relative(cmd->pool, arg);
    if (!sc->secret_file) {
        return apr_pstrcat(cmd->pool, "LLMGWSecretKeyFile: invalid path ",
                           arg, NULL);
    }
    sc->secret_where = where(cmd);
    return NULL;
}

static const char *cmd_managed(cmd_parms *cmd, void *dconf, int on)
{
    (void)dconf;
    quota_sconf(cmd->server)->managed = on ? 1 : 0;
    return NULL;
}

static const command_rec quota_cmds[] = {
    AP_INIT_TAKE_ARGV("LLMGWPlan", cmd_plan, NULL, RSRC_CONF,
        "LLMGWPlan NAME [requests_month=N] [rpm=N] [rph=N] [tpm=N] "
        "[budget_month_usd=X] [overage=deny|allow] [quota_status=402|429] "
        "[cache_hit_weight=W] [tier=T] defines a plan that gateway keys "
        "refer to."),
    AP_INIT_TAKE_ARGV("LLMGWKey", cmd_key, NULL, RSRC_CONF,
        "LLMGWKey KEY|sha256:HEX workspace=W plan=P [models=GLOB,...] "
        "[name=N] [tier=T] declares a gateway API key of workspace W on "
        "plan P, limited to the provider/models matching a GLOB."),
    AP_INIT_FLAG("LLMGWQuota", ap_set_flag_slot,
        (void *)APR_OFFSETOF(quota_dir_conf, enabled), RSRC_CONF | ACCESS_CONF,
        "LLMGWQuota On enforces gateway keys and plans for the requests here."),
    AP_INIT_TAKE1("LLMGWQuotaFailMode", cmd_fail_mode, NULL, RSRC_CONF,
        "LLMGWQuotaFailMode open|closed: admit (open, the default) or refuse "
        "with 503 (closed) when the counter store cannot be reached."),
    AP_INIT_TAKE1("LLMGWAdminKey", cmd_admin_key, NULL, RSRC_CONF,
        "LLMGWAdminKey sha256:HEX is the SHA-256 of the management API "
        "operator's secret, which manages every workspace."),
    AP_INIT_TAKE1("LLMGWSecretKeyFile", cmd_secret_file, NULL, RSRC_CONF,
        "LLMGWSecretKeyFile PATH names a root-only file of 32 random bytes "
        "that encrypt stored provider keys (AES-256-GCM), read at start-up."),
    AP_INIT_FLAG("LLMGWManagedKeys", cmd_managed, NULL, RSRC_CONF,
        "LLMGWManagedKeys On accepts the keys made with the management API "
        "(the mod_dbd database of DBDriver/DBDParams) besides LLMGWKey keys."),
    { NULL }
};

/* How long the first request of a workspace's month waits for the
 * checkpoint thread's restore check (the store may have come back empty). */
#define CKPT_WAIT apr_time_from_sec(3)

/* ------------------------------------------------------------ state */

/* What one request knows about its key and counters. */
typedef struct quota_req {
    const quota_key_t *key;
    apr_time_t now;
    llmgw_window_t win[3];               /* minute, hour, month */
    llmgw_admission_t adm;               /* charges held, counters seen */
    llmgw_counters_t c;
    int counted;                         /* c holds what the headers need */
    int admitted;                        /* settle in completed */
    int failed_open;                     /* the store failed: no headers */
} quota_req_t;

static quota_req_t *state_get(request_rec *r)
{
    return ap_get_module_config(r->request_config, &llmgw_quota_module);
}

static quota_req_t *state_new(request_rec *r, const quota_key_t *key)
{
    quota_req_t *s = apr_pcalloc(r->pool, sizeof(*s));
    llmgw_counters_t init = LLMGW_COUNTERS_INIT;
    s->key = key;
    s->now = apr_time_now();
    llmgw_window_at(LLMGW_WIN_MINUTE, s->now, &s->win[LLMGW_WIN_MINUTE]);
    llmgw_window_at(LLMGW_WIN_HOUR, s->now, &s->win[LLMGW_WIN_HOUR]);
    llmgw_window_at(LLMGW_WIN_MONTH, s->now, &s->win[LLMGW_WIN_MONTH]);
    s->c = init;
    llmgw_admission_init(r->pool, &s->adm, key->workspace, s->now);
    ap_set_module_config(r->request_config, &llmgw_quota_module, s);
    return s;
}

/* One warning per 10 s per process when the store fails. */
static apr_uint32_t last_store_warning;

static void warn_store(request_rec *r, llmgw_store_t *st, const char *what)
{
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    apr_uint32_t last = apr_atomic_read32(&last_store_warning);
    if (now - last >= 10 || last == 0) {
        if (apr_atomic_cas32(&last_store_warning, now, last) == last) {
            const char *detail = NULL;
            quota_server_conf *sc = ap_get_module_config(
                r->server->module_config, &llmgw_quota_module);
            if (st) {
                st->health(st, r->pool, &detail);
            }
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          "llmgw_quota: the counter store failed (%s: %s); "
                          "%s (LLMGWQuotaFailMode %s)", what,
                          detail ? detail : "no store",
                          sc->fail_closed == 1
                              ? "requests are refused with 503"
                              : "limits are not enforced while it is down",
                          sc->fail_closed == 1 ? "closed" : "open");
        }
    }
}

/* ------------------------------------------------------------ counters */

static const char *ctr_key(request_rec *r, quota_req_t *s, const char *ctr,
                           llmgw_window_e w)
{
    return llmgw_counter_key(r->pool, s->key->workspace, ctr, &s->win[w]);
}

/* Atomic add (creates the counter at `delta` with the window's TTL). */
static int ctr_add(request_rec *r, llmgw_store_t *st, quota_req_t *s,
                   const char *ctr, llmgw_window_e w, apr_int64_t delta,
                   apr_int64_t *result)
{
    apr_uint64_t v = 0;
    if (delta <= 0) {
        return -1;
    }
    if (st->incr(st, ctr_key(r, s, ctr, w), (apr_uint64_t)delta,
                 (apr_uint64_t)delta, s->win[w].ttl, &v) != LLMGW_STORE_OK
        || v > (apr_uint64_t)APR_INT64_MAX) {
        return -1;
    }
    if (result) {
        *result = (apr_int64_t)v;
    }
    return 0;
}

/* A counter's value; 0 when absent. */
static int ctr_get(request_rec *r, llmgw_store_t *st, quota_req_t *s,
                   const char *ctr, llmgw_window_e w, apr_int64_t *out)
{
    char *val = NULL;
    apr_size_t len = 0;
    llmgw_store_status_e rv = st->get(st, r->pool, ctr_key(r, s, ctr, w),
                                      &val, &len);
    if (rv == LLMGW_STORE_NOTFOUND) {
        *out = 0;
        return 0;
    }
    if (rv != LLMGW_STORE_OK || (*out = llmgw_counter_value(val)) < 0) {
        return -1;
    }
    return 0;
}

/* Reads the counters the headers need that admission did not see. */
static int peek_counters(request_rec *r, llmgw_store_t *st, quota_req_t *s)
{
    const llmgw_plan_t *plan = s->key->plan;
    llmgw_counters_t *c = &s->c;
    if (!st) {
        return -1;
    }
    if (plan->rpm > 0 && c->minute_requests < 0
        && ctr_get(r, st, s, LLMGW_CTR_MINUTE, LLMGW_WIN_MINUTE,
                   &c->minute_requests)) {
        return -1;
    }
    if (plan->rph > 0 && c->hour_requests < 0
        && ctr_get(r, st, s, LLMGW_CTR_HOUR, LLMGW_WIN_HOUR,
                   &c->hour_requests)) {
        return -1;
    }
    if (plan->tpm > 0 && c->minute_tokens < 0
        && ctr_get(r, st, s, LLMGW_CTR_TOKENS, LLMGW_WIN_MINUTE,
                   &c->minute_tokens)) {
        return -1;
    }
    if (c->month_milli < 0
        && ctr_get(r, st, s, LLMGW_CTR_MONTH, LLMGW_WIN_MONTH,
                   &c->month_milli)) {
        return -1;
    }
    s->counted = 1;
    return 0;
}

/* Gives back everything admission charged: a refused request counts in
 * no window. */
static void rollback(request_rec *r, llmgw_store_t *st, quota_req_t *s)
{
    if (llmgw_admission_rollback(st, &s->adm)) {
        warn_store(r, st, "giving back a refused request's charges");
    }
}

/* ------------------------------------------------------------ keys */

static const quota_key_t *key_lookup(server_rec *s, const char *client_key)
{
    quota_server_conf *sc = ap_get_module_config(s->module_config,
                                                 &llmgw_quota_module);
    unsigned char d[LLMGW_DIGEST_LEN];
    int i;
    if (!client_key || !sc->digests) {
        return NULL;
    }
    llmgw_sha256(client_key, strlen(client_key), d);
    i = llmgw_key_find(sc->digests, sc->keys->nelts, d);
    return i >= 0 ? &APR_ARRAY_IDX(sc->keys, i, quota_key_t) : NULL;
}

static int unauthorized(request_rec *r, const char *client_key)
{
    apr_table_setn(r->headers_out, "WWW-Authenticate", "Bearer realm=\"llmgw\"");
    if (!client_key) {
        return send_error(r, HTTP_UNAUTHORIZED, "authentication_error",
                          "missing_api_key", "no API key: send it as "
                          "'Authorization: Bearer KEY', 'x-api-key: KEY' or "
                          "'apikey: KEY'", -1, NULL);
    }
    return send_error(r, HTTP_UNAUTHORIZED, "authentication_error",
                      "invalid_api_key", "incorrect API key provided", -1,
                      NULL);
}

/* ------------------------------------------------------------ hooks */

/* The request's gateway key: a static LLMGWKey, else (LLMGWManagedKeys
 * On) a key of the management API, checked (revoked, expired, suspended
 * workspace) and copied into the request pool. 0 with *out set, or the
 * status of the error answered. */
static int key_resolve(request_rec *r, const char *client_key,
                       const quota_key_t **out)
{
    quota_server_conf *sc = quota_sconf(r->server);
    const quota_key_t *key = key_lookup(r->server, client_key);
    unsigned char d[LLMGW_DIGEST_LEN];
    managed_key_t *mk = NULL;
    const llmgw_plan_t *plan;
    quota_key_t *k;
    mk_status_e st;

    if (key) {
        *out = key;
        return 0;
    }
    if (!client_key || sc->managed != 1) {
        return unauthorized(r, client_key);
    }
    llmgw_sha256(client_key, strlen(client_key), d);
    st = managed_lookup(r, d, &mk);
    if (st == MK_ERROR) {
        return send_error(r, HTTP_SERVICE_UNAVAILABLE, "service_unavailable",
                          "key_store_unavailable", "API keys cannot be "
                          "checked now; try again later", -1, NULL);
    }
    if (st == MK_UNKNOWN) {
        return unauthorized(r, client_key);
    }
    apr_table_setn(r->notes, LLMGW_NOTE_KEY, mk->key.id);
    if (mk->key.revoked_at >= 0) {
        apr_table_setn(r->headers_out, "WWW-Authenticate",
                       "Bearer realm=\"llmgw\"");
        return send_error(r, HTTP_UNAUTHORIZED, "authentication_error",
                          "revoked_api_key", "this API key has been revoked",
                          -1, NULL);
    }
    if (mk->key.expires_at >= 0
        && mk->key.expires_at <= apr_time_sec(apr_time_now())) {
        apr_table_setn(r->headers_out, "WWW-Authenticate",
                       "Bearer realm=\"llmgw\"");
        return send_error(r, HTTP_UNAUTHORIZED, "authentication_error",
                          "expired_api_key", "this API key has expired", -1,
                          NULL);
    }
    if (!strcmp(mk->ws.status, "suspended")) {
        return send_error(r, HTTP_FORBIDDEN, "permission_error",
                          "workspace_suspended", "this API key's workspace "
                          "is suspended", -1, NULL);
    }
    plan = quota_plan(r->server, mk->ws.plan);
    if (!plan) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "llmgw_quota: "
                      "workspace %s is on plan '%s', which no LLMGWPlan "
                      "defines: its keys are refused", mk->ws.id,
                      mk->ws.plan);
        return send_error(r, HTTP_FORBIDDEN, "permission_error",
                          "plan_not_available", "this API key's plan is not "
                          "available on this server", -1, NULL);
    }
    k = apr_pcalloc(r->pool, sizeof(*k));
    memcpy(k->digest, d, LLMGW_DIGEST_LEN);
    k->workspace = mk->ws.id;
    k->plan_name = mk->ws.plan;
    k->plan = plan;
    k->where = "the management API";
    k->models = mk->key.models;
    k->name = mk->key.name;
    k->tier = plan->tier;
    k->log_id = mk->key.id;
    k->key_id = mk->key.id;
    k->managed = mk;
    *out = k;
    return 0;
}

static int quota_authenticate(request_rec *r, llmgw_request_t *req)
{
    quota_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                              &llmgw_quota_module);
    const quota_key_t *key = NULL;
    int rv;

    if (dc->enabled != 1) {
        return DECLINED;
    }
    if ((rv = key_resolve(r, req->client_key, &key))) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "llmgw_quota: %s API key "
                      "refused with %d (request_id=%s)",
                      req->client_key ? "this" : "no", rv, req->id);
        return rv;
    }
    req->workspace = key->workspace;
    req->plan = key->plan->name;
    req->key_id = key->key_id;
    req->tier = key->tier;          /* the key's, else its plan's */
    if (key->managed) {
        /* the workspace policy's memory part (SPEC "Memory") */
        const llmgw_policy_t *pol = &key->managed->policy;
        if (pol->memory_mode && strcmp(pol->memory_mode, "none")) {
            req->mem_policy_mode = pol->memory_mode;
        }
        req->mem_max_turns = pol->memory_max_turns;
        req->mem_ttl = pol->memory_ttl_seconds;
        req->mem_max_prompt_tokens = pol->max_prompt_tokens;
    }
    apr_table_setn(r->notes, LLMGW_NOTE_KEY, key->log_id);
    state_new(r, key);
    return OK;
}

static int refuse(request_rec *r, quota_req_t *s, const llmgw_decision_t *d)
{
    json_t *details = llmgw_decision_details(d);
    int rv;
    METRIC(d->window && !strcmp(d->window, "hour") ? LLMGW_M_LIMIT_DENY_HOUR
           : d->window && !strcmp(d->window, "minute") ? LLMGW_M_LIMIT_DENY_MINUTE
           : LLMGW_M_LIMIT_DENY_MONTH);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "llmgw_quota: workspace %s "
                  "plan %s: %s (%s)", s->key->workspace, s->key->plan->name,
                  d->code, d->message);
    rv = send_error(r, d->status, d->type, d->code, d->message,
                    d->status == 429 ? d->retry_after : -1, details);
    json_decref(details);
    return rv;
}

/* The store failed during admission: admit (open) or 503 (closed). */
static int store_failed(request_rec *r, llmgw_store_t *st, quota_req_t *s,
                        const char *what)
{
    quota_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                 &llmgw_quota_module);
    warn_store(r, st, what);
    METRIC(LLMGW_M_STORE_ERROR);
    METRIC(sc->fail_closed == 1 ? LLMGW_M_LIMIT_FAIL_CLOSED
                                : LLMGW_M_LIMIT_FAIL_OPEN);
    if (sc->fail_closed == 1) {
        if (st) {
            rollback(r, st, s);
        }
        s->failed_open = 1;              /* no headers from stale values */
        return send_error(r, HTTP_SERVICE_UNAVAILABLE, "service_unavailable",
                          "quota_unavailable", "the quota service is "
                          "unavailable; try again later", -1, NULL);
    }
    s->failed_open = 1;
    s->admitted = 1;                     /* settle what was charged */
    return OK;
}

/* Whether name matches one of the key's globs. */
static int model_allowed(const quota_key_t *key, const char *name)
{
    int i;
    if (!name) {
        return 0;
    }
    for (i = 0; i < key->models->nelts; i++) {
        if (apr_fnmatch(APR_ARRAY_IDX(key->models, i, const char *), name,
                        0) == APR_SUCCESS) {
            return 1;
        }
    }
    return 0;
}

/* A candidate route is allowed when its resolved provider/model, or the
 * name the client wrote, matches a glob of the key's models=. */
static int route_allowed(request_rec *r, const quota_key_t *key,
                         const char *written, const char *provider,
                         const char *model)
{
    return model_allowed(key, written)
        || (provider && model
            && model_allowed(key, apr_pstrcat(r->pool, provider, "/", model,
                                              NULL)));
}

static int forbidden(request_rec *r, quota_req_t *s, const char *what,
                     const char *param)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "llmgw_quota: key %s of "
                  "workspace %s may not use %s", s->key->log_id,
                  s->key->workspace, what);
    return send_error(r, HTTP_FORBIDDEN, "permission_error",
                      "model_not_allowed",
                      apr_psprintf(r->pool, "this API key may not use the "
                                   "model '%s' (%s)", what, param), -1, NULL);
}

/* The candidates a router or an alias added after the first (its other
 * targets, tried as fallbacks) are kept only when the key may use them, or
 * the name the client wrote for them: the first candidate and the
 * client's own `models` entries were checked whole. */
static void keep_allowed_routes(request_rec *r, const quota_key_t *key,
                                const char *provider_field,
                                apr_array_header_t *routes)
{
    int i, kept = 1;
    for (i = 1; i < routes->nelts; i++) {
        llmgw_route_t rt = APR_ARRAY_IDX(routes, i, llmgw_route_t);
        if (route_allowed(r, key, provider_field ? NULL : rt.written,
                          rt.provider ? rt.provider->name : NULL, rt.model)) {
            APR_ARRAY_IDX(routes, kept++, llmgw_route_t) = rt;
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "llmgw_quota: "
                          "fallback %s/%s skipped: not in the key's models=",
                          rt.provider ? rt.provider->name : "?",
                          rt.model ? rt.model : "?");
        }
    }
    routes->nelts = kept;
}

/* models= of the key: the request's route and every `models` fallback must
 * be allowed; a request naming one fallback the key may not use is refused
 * as a whole (nothing is tried), so no attempt ever reaches a model outside
 * the key's list. The name the client wrote counts (an alias such as
 * models=fast) only without a `provider` field, which would send that name
 * to another provider. */
static int models_check(request_rec *r, quota_req_t *s, llmgw_request_t *req)
{
    const quota_key_t *key = s->key;
    json_t *body = NULL, *models = NULL, *pf;
    const char *provider_field = NULL;
    int rv = OK;
    size_t i;

    if (!key->models) {
        return OK;
    }
    if (req->raw_body
        && (memmem(req->raw_body, req->raw_len, "\"models\"", 8)
            || memmem(req->raw_body, req->raw_len, "provider\"", 9))) {
        body = json_loadb(req->raw_body, req->raw_len, 0, NULL);
        models = json_object_get(body, "models");
        pf = json_object_get(body, "provider");
        if (!json_is_string(pf)) {
            pf = json_object_get(body, "llm_provider");
        }
        provider_field = json_is_string(pf) ? json_string_value(pf) : NULL;
    }
    if (!route_allowed(r, key, provider_field ? NULL : req->requested_model,
                       req->provider ? req->provider->name : NULL,
                       req->model)) {
        rv = forbidden(r, s, req->provider && req->model
                       ? apr_pstrcat(r->pool, req->provider->name, "/",
                                     req->model, NULL)
                       : req->requested_model ? req->requested_model : "",
                       "model");
    }
    for (i = 0; rv == OK && json_is_array(models)
                && i < json_array_size(models); i++) {
        const char *m = json_string_value(json_array_get(models, i));
        const char *prov = NULL, *um = NULL;
        int ok;
        if (!m) {
            continue;                    /* mod_llmgw refuses it */
        }
        /* resolved as mod_llmgw does (with the provider field), and also
         * without it (SPEC: the field applies to `model` only): allowed
         * only when both are; an unresolvable name must match as written */
        if (!resolve_model || resolve_model(r, m, provider_field, &prov, &um)) {
            prov = um = NULL;
        }
        ok = route_allowed(r, key, provider_field ? NULL : m, prov, um);
        if (ok && provider_field) {
            if (!resolve_model || resolve_model(r, m, NULL, &prov, &um)) {
                prov = um = NULL;
            }
            ok = route_allowed(r, key, NULL, prov, um);
        }
        if (!ok) {
            rv = forbidden(r, s, apr_pstrdup(r->pool, m), "models");
        }
    }
    json_decref(body);
    if (rv == OK && req->routes) {
        keep_allowed_routes(r, key, provider_field, req->routes);
    }
    return rv;
}

/* The workspace's context-quota policy (managed keys): a prompt over
 * max_prompt_tokens is refused (400 context_quota_exceeded) or loses its
 * oldest turns; max_tokens is capped. A changed tree goes upstream. */
static int policy_enforce(request_rec *r, const managed_key_t *mk,
                          llmgw_request_t *req)
{
    const llmgw_policy_t *pol = &mk->policy;
    apr_int64_t est = req->prompt_estimate, mt = req->max_tokens;
    llmgw_policy_verdict_e v;

    if (!llmgw_policy_active(pol)) {
        return OK;
    }
    if (req->endpoint == LLMGW_EP_CHAT || req->endpoint == LLMGW_EP_MESSAGES
        || req->endpoint == LLMGW_EP_RESPONSES) {
        json_t *body = llmgw_q_request_json ? llmgw_q_request_json(req) : NULL;
        if (!body) {
            return OK;
        }
        v = llmgw_policy_apply(pol, req->endpoint == LLMGW_EP_MESSAGES
                                    ? LLMGW_POLICY_MESSAGES
                                    : req->endpoint == LLMGW_EP_RESPONSES
                                    ? LLMGW_POLICY_RESPONSES
                                    : LLMGW_POLICY_CHAT,
                               body, &est, &mt);
    }
    else {
        v = pol->max_prompt_tokens >= 0 && est > pol->max_prompt_tokens
            ? LLMGW_POLICY_REJECT : LLMGW_POLICY_PASS;
    }
    if (v == LLMGW_POLICY_REJECT) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "llmgw_quota: workspace "
                      "%s: prompt of about %" APR_INT64_T_FMT " tokens over "
                      "its max_prompt_tokens %" APR_INT64_T_FMT, mk->ws.id,
                      req->prompt_estimate, pol->max_prompt_tokens);
        return send_error(r, HTTP_BAD_REQUEST, "invalid_request_error",
                          "context_quota_exceeded",
                          apr_psprintf(r->pool, "the prompt (about %"
                                       APR_INT64_T_FMT " tokens) is over "
                                       "this workspace's max_prompt_tokens "
                                       "(%" APR_INT64_T_FMT ")",
                                       req->prompt_estimate,
                                       pol->max_prompt_tokens), -1, NULL);
    }
    if (v == LLMGW_POLICY_CHANGED) {
        req->body_changed = 1;
        req->prompt_estimate = est;
        req->max_tokens = mt;
    }
    return OK;
}

/* The cost reserved against the budget: the prompt estimate and
 * max_tokens (or the default reservation) at the model's price, in
 * micro-USD; 0 when the price is unknown. */
static apr_int64_t cost_reserve(request_rec *r, const llmgw_request_t *req)
{
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    double usd;
    if (!cost_fn || !req->provider || !req->model) {
        return 0;
    }
    u.prompt_tokens = req->prompt_estimate > 0 ? req->prompt_estimate : 0;
    u.completion_tokens = req->max_tokens >= 0 ? req->max_tokens
                                               : LLMGW_DEFAULT_RESERVE_TOKENS;
    u.total_tokens = u.prompt_tokens + u.completion_tokens;
    usd = cost_fn(r->server, req->provider->name, req->model, &u);
    return usd > 0 && usd < 1e12 ? (apr_int64_t)llround(ceil(usd * 1e6))
                                 : 0;
}

static int quota_admit(request_rec *r, llmgw_request_t *req)
{
    quota_req_t *s = state_get(r);
    const llmgw_plan_t *plan;
    llmgw_store_t *st;
    llmgw_decision_t d;
    const char *what = NULL;
    apr_int64_t tokens, cost;
    int rv;

    if (!s || !s->key) {
        return DECLINED;
    }
    if ((rv = models_check(r, s, req)) != OK) {
        return rv;
    }
    if (s->key->managed) {
        if ((rv = policy_enforce(r, s->key->managed, req)) != OK) {
            return rv;
        }
        req->provider_keys = managed_provider_keys(r, s->key->managed);
    }
    plan = s->key->plan;
    st = get_store(r->server);
    if (!st) {
        return store_failed(r, NULL, s, "no store configured");
    }
    tokens = plan->tpm > 0 ? llmgw_token_reserve(req->prompt_estimate,
                                                 req->max_tokens) : 0;
    cost = plan->budget_micro_usd >= 0 ? cost_reserve(r, req) : 0;
    if (llmgw_admission_run(r->pool, st, plan, &s->adm, tokens, cost, s->now,
                            &d, &what) != LLMGW_STORE_OK) {
        s->c = s->adm.c;
        return store_failed(r, st, s, what);
    }
    s->c = s->adm.c;
    if (d.verdict == LLMGW_ADMIT && s->c.month_milli >= 0
        && s->c.month_milli <= LLMGW_MILLI
        && ckpt_kick(CKPT_WAIT)) {
        /* The month counter was just created: a new month, or a store that
         * came back empty, which the checkpoint thread has restored by now
         * (once per workspace and month: the decision is taken again on the
         * restored counters). */
        rollback(r, st, s);
        llmgw_admission_init(r->pool, &s->adm, s->key->workspace, s->now);
        if (llmgw_admission_run(r->pool, st, plan, &s->adm, tokens, cost,
                                s->now, &d, &what) != LLMGW_STORE_OK) {
            s->c = s->adm.c;
            return store_failed(r, st, s, what);
        }
        s->c = s->adm.c;
    }
    if (d.verdict != LLMGW_ADMIT) {
        peek_counters(r, st, s);
        return refuse(r, s, &d);
    }
    s->counted = 1;
    s->admitted = 1;
    METRIC(LLMGW_M_LIMIT_ALLOW);
    return OK;
}

/* After mod_llmgw_cache's lookup missed (this hook runs last, and only
 * when no cache answered): a request admitted for a cache hit only is
 * refused as the month's quota, before anything goes upstream. */
static int quota_cache_miss(request_rec *r, llmgw_request_t *req)
{
    quota_req_t *s = state_get(r);
    llmgw_store_t *st;
    llmgw_decision_t d;
    llmgw_counters_t c;
    (void)req;

    if (!s || !s->key || !s->admitted || !s->adm.cache_only) {
        return DECLINED;
    }
    st = get_store(r->server);
    s->admitted = 0;
    if (st) {
        rollback(r, st, s);
    }
    c = s->c;
    c.month_milli = s->key->plan->requests_month * LLMGW_MILLI + 1;
    llmgw_decide(r->pool, s->key->plan, &c, s->now, &d);
    if (s->c.month_milli >= 0) {
        s->c.month_milli -= s->key->plan->cache_hit_milli;
    }
    refuse(r, s, &d);
    return OK;                           /* answered: nothing goes upstream */
}

static int quota_response_headers(request_rec *r, llmgw_request_t *req)
{
    quota_req_t *s = state_get(r);
    (void)req;
    if (!s || !s->key || s->failed_open) {
        return OK;
    }
    if (!s->counted && peek_counters(r, get_store(r->server), s)) {
        return OK;                       /* before admission, store down */
    }
    llmgw_limit_headers(r->pool, s->key->plan, &s->c, s->now, r->headers_out);
    return OK;
}

static apr_int64_t usage_total(const llmgw_usage_t *u)
{
    if (u->total_tokens >= 0) {
        return u->total_tokens;
    }
    if (u->prompt_tokens >= 0 || u->completion_tokens >= 0) {
        return (u->prompt_tokens > 0 ? u->prompt_tokens : 0)
               + (u->completion_tokens > 0 ? u->completion_tokens : 0);
    }
    return -1;
}

/* A managed key's workspace: this request's usage under its provider and
 * model (billing's usage by model, from the same store as the limits). */
static int model_usage(request_rec *r, llmgw_store_t *st, quota_req_t *s,
                       llmgw_request_t *req, apr_int64_t total,
                       const char **prefix)
{
    const char *prov = req->answered_provider ? req->answered_provider
                     : req->provider ? req->provider->name : NULL;
    const char *model = req->answered_model ? req->answered_model
                                            : req->model;
    int bad = 0;
    const char *mp;
    if (!prov || !model) {
        return 0;
    }
    /* "m-HEX-": one digest for the four counters */
    *prefix = mp = llmgw_admin_model_counter(r->pool, prov, model, "");
    bad |= ctr_add(r, st, s, apr_pstrcat(r->pool, mp, "requests", NULL),
                   LLMGW_WIN_MONTH, 1, NULL);
    if (!req->cache_hit && total > 0) {
        if (req->usage.prompt_tokens > 0) {
            bad |= ctr_add(r, st, s, apr_pstrcat(r->pool, mp, "prompt",
                                                 NULL),
                           LLMGW_WIN_MONTH, req->usage.prompt_tokens, NULL);
        }
        if (req->usage.completion_tokens > 0) {
            bad |= ctr_add(r, st, s, apr_pstrcat(r->pool, mp, "completion",
                                                 NULL),
                           LLMGW_WIN_MONTH, req->usage.completion_tokens,
                           NULL);
        }
    }
    if (!req->cache_hit && req->cost_usd > 0) {
        apr_int64_t micro = (apr_int64_t)llround(req->cost_usd * 1e6);
        if (micro > 0) {
            bad |= ctr_add(r, st, s, apr_pstrcat(r->pool, mp, "cost", NULL),
                           LLMGW_WIN_MONTH, micro, NULL);
        }
    }
    managed_note_model(r, s->key->workspace, s->win[LLMGW_WIN_MONTH].start,
                       prov, model);
    return bad;
}

static int quota_completed(request_rec *r, llmgw_request_t *req)
{
    quota_req_t *s = state_get(r);
    llmgw_store_t *st;
    const llmgw_plan_t *plan;
    apr_int64_t credit, extra, total, held;
    const char *model_prefix = NULL;
    int bad = 0;

    if (!s || !s->admitted || !(st = get_store(r->server))) {
        return OK;
    }
    s->admitted = 0;                     /* settle once */
    plan = s->key->plan;
    total = req->cache_hit ? 0 : usage_total(&req->usage);

    /* the month: a request, a cache hit's weight, or nothing (5xx) */
    if (s->adm.charged[LLMGW_CHG_MONTH]) {
        bad |= llmgw_admission_settle(st, &s->adm, LLMGW_CHG_MONTH,
                                      LLMGW_MILLI
                                      - llmgw_month_credit(plan, req->cache_hit,
                                                           req->status));
    }
    /* tokens: the reservation becomes the real usage */
    if (s->adm.charged[LLMGW_CHG_TOKENS]) {
        held = s->adm.held[LLMGW_CHG_TOKENS];
        llmgw_token_settle(held, total, req->status > 0 && req->status < 400,
                           &credit, &extra);
        bad |= llmgw_admission_settle(st, &s->adm, LLMGW_CHG_TOKENS,
                                      held - credit + extra);
    }
    /* the budget: the reserved cost becomes the real cost */
    if (plan->budget_micro_usd >= 0) {
        apr_int64_t micro = !req->cache_hit && req->cost_usd > 0
                            ? (apr_int64_t)llround(req->cost_usd * 1e6) : 0;
        bad |= llmgw_admission_settle(st, &s->adm, LLMGW_CHG_COST, micro);
    }
    else if (!req->cache_hit && req->cost_usd > 0) {
        apr_int64_t micro = (apr_int64_t)llround(req->cost_usd * 1e6);
        if (micro > 0) {
            bad |= ctr_add(r, st, s, LLMGW_CTR_COST, LLMGW_WIN_MONTH, micro,
                           NULL);
        }
    }
    if (req->status < 500) {
        bad |= ctr_add(r, st, s, LLMGW_CTR_REQUESTS, LLMGW_WIN_MONTH, 1, NULL);
    }
    if (total > 0) {
        bad |= ctr_add(r, st, s, LLMGW_CTR_TOTAL_TOKENS, LLMGW_WIN_MONTH,
                       total, NULL);
    }
    if (s->key->managed && req->status < 500) {
        bad |= model_usage(r, st, s, req, total, &model_prefix);
    }
    /* with a database: checkpointed within LLMGW_CKPT_PERIOD s */
    ckpt_note(r, s->key->workspace, s->win[LLMGW_WIN_MONTH].start,
              model_prefix);
    if (bad) {
        warn_store(r, st, "settlement after the response");
    }
    return OK;
}

/* ------------------------------------------------------------ handlers */

static int usage_handler(request_rec *r)
{
    int check;
    llmgw_request_t *req;
    const quota_key_t *key;
    const char *client_key;
    quota_req_t *s;
    llmgw_store_t *st;
    apr_int64_t requests = 0, tokens = 0;
    json_t *j;
    char *txt;
    int rv;

    if (!r->handler) {
        return DECLINED;
    }
    if (!strcmp(r->handler, "llmgw-usage")) {
        check = 0;
    }
    else if (!strcmp(r->handler, "llmgw-quota-check")) {
        check = 1;
    }
    else {
        return DECLINED;
    }
    req = get_request(r);
    client_key = req->client_key;
    if (r->method_number != M_GET) {
        apr_table_setn(r->headers_out, "Allow", "GET");
        send_error(r, HTTP_METHOD_NOT_ALLOWED, "invalid_request_error",
                   "method_not_allowed", "use GET", -1, NULL);
        return OK;
    }
    if (key_resolve(r, client_key, &key)) {
        return OK;
    }
    req->workspace = key->workspace;
    req->plan = key->plan->name;
    s = state_new(r, key);
    st = get_store(r->server);
    if (!st || ctr_get(r, st, s, LLMGW_CTR_COST, LLMGW_WIN_MONTH,
                       &s->c.cost_micro)
        || peek_counters(r, st, s)
        || (!check && (ctr_get(r, st, s, LLMGW_CTR_REQUESTS, LLMGW_WIN_MONTH,
                               &requests)
                       || ctr_get(r, st, s, LLMGW_CTR_TOTAL_TOKENS,
                                  LLMGW_WIN_MONTH, &tokens)))) {
        warn_store(r, st, "usage read");
        s->failed_open = 1;
        send_error(r, HTTP_SERVICE_UNAVAILABLE, "service_unavailable",
                   "quota_unavailable", "usage is unavailable; try again "
                   "later", -1, NULL);
        return OK;
    }
    j = check ? llmgw_quota_check_json(key->plan, s->c.month_milli,
                                       s->c.cost_micro)
              : llmgw_usage_json(r->pool, key->workspace, key->plan,
                                 s->c.month_milli, requests, tokens,
                                 s->c.cost_micro, s->now);
    if (!check) {
        /* the key's name and id (HardCarrx's username and custom_id) */
        json_object_set_new(j, "username", key->name ? json_string(key->name)
                                                     : json_null());
        json_object_set_new(j, "custom_id", json_string(key->key_id));
    }
    txt = llmgw_json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!txt) {
        send_error(r, HTTP_INTERNAL_SERVER_ERROR, "internal_error", NULL,
                   "cannot serialise the usage", -1, NULL);
        return OK;
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    rv = send_body(r, req, HTTP_OK, "application/json",
                   apr_pstrdup(r->pool, txt), strlen(txt));
    free(txt);
    return rv;
}

/* ------------------------------------------------------------ startup */

/* LLMGWSecretKeyFile, read once at start-up (as root, before httpd drops
 * its privileges), into every server's configuration. */
static int secret_load(apr_pool_t *pconf, server_rec *s)
{
    quota_server_conf *main = quota_sconf(s);
    unsigned char key[LLMGW_ADMIN_SECRET_LEN];
    const char *err;
    server_rec *vs;

    if (!main->secret_file) {
        return OK;
    }
    if ((err = llmgw_secret_key_load(pconf, main->secret_file, key))) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                     "LLMGWSecretKeyFile at %s: %s", main->secret_where, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (vs = s; vs; vs = vs->next) {
        quota_server_conf *sc = quota_sconf(vs);
        memcpy(sc->secret, key, LLMGW_ADMIN_SECRET_LEN);
        sc->has_secret = 1;
    }
    OPENSSL_cleanse(key, sizeof(key));
    return OK;
}

/* Every key's plan exists: checked when the configuration is read, so
 * `apachectl -t` fails naming the directive, its file and line. */
static int quota_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    server_rec *vs;
    int bad = 0;
    (void)plog; (void)ptemp;

    /* read here (as root, before the children start), so that `apachectl
     * -t` fails on a missing or short file too */
    if (secret_load(pconf, s) != OK) {
        bad = 1;
    }
    adb_post_config();
    for (vs = s; vs; vs = vs->next) {
        quota_server_conf *sc = ap_get_module_config(vs->module_config,
                                                     &llmgw_quota_module);
        int i;
        if (sc->managed == 1 && !adb_available()) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, vs,
                         "LLMGWManagedKeys On needs mod_dbd: LoadModule "
                         "dbd_module, then DBDriver sqlite3|pgsql and "
                         "DBDParams");
            bad = 1;
        }
        for (i = 0; i < sc->keys->nelts; i++) {
            quota_key_t *k = &APR_ARRAY_IDX(sc->keys, i, quota_key_t);
            k->plan = apr_hash_get(sc->plans, k->plan_name,
                                   APR_HASH_KEY_STRING);
            if (!k->plan) {
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, vs,
                             "LLMGWKey at %s: plan '%s' is not defined "
                             "(define it with LLMGWPlan %s ...)", k->where,
                             k->plan_name, k->plan_name);
                bad = 1;
            }
            if (!k->tier && k->plan) {
                k->tier = k->plan->tier;
            }
        }
    }
    return bad ? HTTP_INTERNAL_SERVER_ERROR : OK;
}

static void quota_child_init(apr_pool_t *p, server_rec *s)
{
    managed_child_init(p, s);
    ckpt_child_init(p, s);
}

static int quota_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp)
{
    (void)plog; (void)ptemp;
    ckpt_pre_config(pconf);
    return OK;
}

static int quota_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    server_rec *vs;
    (void)plog; (void)ptemp;

    get_store = APR_RETRIEVE_OPTIONAL_FN(llmgw_get_store);
    send_error = APR_RETRIEVE_OPTIONAL_FN(llmgw_send_error);
    send_body = APR_RETRIEVE_OPTIONAL_FN(llmgw_send_body);
    get_request = APR_RETRIEVE_OPTIONAL_FN(llmgw_get_request);
    cost_fn = APR_RETRIEVE_OPTIONAL_FN(llmgw_cost);
    resolve_model = APR_RETRIEVE_OPTIONAL_FN(llmgw_resolve_model);
    metric_inc = APR_RETRIEVE_OPTIONAL_FN(llmgw_metric_inc);
    llmgw_q_get_store = get_store;
    llmgw_q_send_body = send_body;
    llmgw_q_get_request = get_request;
    llmgw_q_request_json = APR_RETRIEVE_OPTIONAL_FN(llmgw_request_json);
    llmgw_q_resolve_model = resolve_model;
    adb_post_config();
    if (!get_store || !send_error || !send_body || !get_request) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "mod_llmgw_quota needs mod_llmgw: load mod_llmgw "
                     "(LoadModule llmgw_module) as well");
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    for (vs = s; vs; vs = vs->next) {
        quota_server_conf *sc = ap_get_module_config(vs->module_config,
                                                     &llmgw_quota_module);
        int i;
        sc->digests = sc->keys->nelts
            ? apr_palloc(pconf, (apr_size_t)sc->keys->nelts * LLMGW_DIGEST_LEN)
            : NULL;
        for (i = 0; i < sc->keys->nelts; i++) {
            quota_key_t *k = &APR_ARRAY_IDX(sc->keys, i, quota_key_t);
            if (!k->plan) {              /* check_config refused it */
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            memcpy(sc->digests + (apr_size_t)i * LLMGW_DIGEST_LEN, k->digest,
                   LLMGW_DIGEST_LEN);
        }
    }
    return ckpt_post_config(pconf, s);
}

static void quota_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(quota_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(quota_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(quota_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(usage_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(admin_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(quota_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llmgw, authenticate, quota_authenticate, NULL, NULL,
                      APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llmgw, admit, quota_admit, NULL, NULL, APR_HOOK_MIDDLE);
    /* after every cache's lookup: runs only when none answered */
    APR_OPTIONAL_HOOK(llmgw, cache_lookup, quota_cache_miss, NULL, NULL,
                      APR_HOOK_REALLY_LAST);
    APR_OPTIONAL_HOOK(llmgw, response_headers, quota_response_headers, NULL,
                      NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llmgw, completed, quota_completed, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(llmgw_quota) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    create_server_conf,
    merge_server_conf,
    quota_cmds,
    quota_register_hooks,
    AP_MODULE_FLAG_NONE
};
