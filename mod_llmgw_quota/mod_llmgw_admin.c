/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * mod_llmgw_admin.c — the `llmgw-admin` handler: the management routes of
 * SPEC.md (workspaces, their keys and provider keys, billing, the
 * context-quota policy), with /projects as the deprecated name of
 * /workspaces. Who may call: the LLMGWAdminKey credential (every
 * workspace), or a managed key with role "admin" (its own workspace: 403
 * elsewhere; it may rename its workspace but not change its plan or
 * status). Bodies are checked by the pure core (llmgw_admin.c): every bad
 * field is a 400 naming it in `param`. Data goes through
 * mod_llmgw_admin_db.c (prepared statements only); every change that
 * matters to authentication raises the generation counter
 * (managed_changed) so that every node sees it within a second.
 */
#include <string.h>

#include "httpd.h"
#include "apr_strings.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "openssl/crypto.h"
#include "mod_llmgw_quota.h"
#include "llmgw_envelope.h"
#include "llmgw_num.h"
#include "llmgw_memory.h"
#include "llmgw_cache_key.h"

APLOG_USE_MODULE(llmgw_quota);

#define ADMIN_MAX_BODY 65536

void managed_key_row(apr_pool_t *p, const char **c, llmgw_admin_key_t *k);
void managed_ws_row(const char **c, llmgw_admin_ws_t *ws);

typedef struct admin_ctx {
    request_rec *r;
    llmgw_request_t *req;
    llmgw_admin_route_t rt;
    const char *scope;                   /* NULL: operator; else workspace */
    const char *who;                     /* for the log: "operator", key id */
    ap_dbd_t *db;
    apr_time_t now;
    json_t *body;
} admin_ctx_t;

/* ------------------------------------------------------------ answers */

static int send_doc(admin_ctx_t *c, int status, json_t *doc)
{
    char *txt = doc ? llmgw_json_dumps(doc, JSON_COMPACT) : NULL;
    char *body;
    json_decref(doc);
    if (!txt) {
        txt = strdup("{\"error\":{\"message\":\"the answer could not be "
                     "serialised\",\"type\":\"internal_error\"}}");
        status = HTTP_INTERNAL_SERVER_ERROR;
    }
    body = apr_pstrdup(c->r->pool, txt);
    free(txt);
    return llmgw_q_send_body(c->r, c->req, status, "application/json", body,
                             strlen(body));
}

static int fail(admin_ctx_t *c, int status, const char *code,
                const char *param, const char *message)
{
    llmgw_error_t e;
    json_t *env;

    memset(&e, 0, sizeof(e));
    e.status = status;
    e.type = llmgw_error_type_for_status(status);
    e.code = code;
    e.param = param;
    e.message = message;
    e.retry_after = -1;
    env = llmgw_envelope_json(&e, c->req->id);
    if (status == HTTP_CONFLICT) {
        /* a duplicate stays a duplicate */
        json_object_set_new(json_object_get(env, "error"), "retryable",
                            json_false());
        apr_table_setn(c->r->headers_out, "x-should-retry", "false");
    }
    if (status == HTTP_METHOD_NOT_ALLOWED) {
        apr_table_setn(c->r->headers_out, "Allow",
                       llmgw_admin_route_methods(c->rt.route));
    }
    if (status == HTTP_UNAUTHORIZED) {
        apr_table_setn(c->r->headers_out, "WWW-Authenticate",
                       "Bearer realm=\"llmgw\"");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r, "llmgw_admin: %d %s (%s) "
                  "%s %s by %s request_id=%s", status, code ? code : "-",
                  message, c->r->method, c->r->uri, c->who ? c->who : "-",
                  c->req->id);
    send_doc(c, status, env);
    return status;                       /* answered: non-zero */
}

static int db_failed(admin_ctx_t *c)
{
    return fail(c, HTTP_SERVICE_UNAVAILABLE, "database_unavailable", NULL,
                "the management database is unavailable; try again later");
}

/* ------------------------------------------------------------ input */

static apr_status_t body_free(void *j)
{
    json_decref(j);
    return APR_SUCCESS;
}

/* The request body as JSON: 0, or an answered error's status. */
static int read_body(admin_ctx_t *c)
{
    request_rec *r = c->r;
    llmgw_buf_t b;
    char chunk[8192];
    long n;
    json_error_t jerr;

    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) {
        return fail(c, HTTP_BAD_REQUEST, "invalid_body", NULL,
                    "the request body could not be read");
    }
    llmgw_buf_init(&b, r->pool, 0);
    if (ap_should_client_block(r)) {
        while ((n = ap_get_client_block(r, chunk, sizeof(chunk))) > 0) {
            if (b.len + (apr_size_t)n > ADMIN_MAX_BODY) {
                return fail(c, HTTP_REQUEST_ENTITY_TOO_LARGE,
                            "request_too_large", NULL, apr_psprintf(r->pool,
                            "the request body is larger than %d bytes",
                            ADMIN_MAX_BODY));
            }
            llmgw_buf_append(&b, chunk, (apr_size_t)n);
        }
        if (n < 0) {
            return fail(c, HTTP_BAD_REQUEST, "invalid_body", NULL,
                        "the request body could not be read");
        }
    }
    if (!b.len) {
        return fail(c, HTTP_BAD_REQUEST, "invalid_json", NULL,
                    "a JSON body is required");
    }
    c->body = json_loadb(b.data, b.len, 0, &jerr);
    if (!c->body) {
        return fail(c, HTTP_BAD_REQUEST, "invalid_json", NULL,
                    apr_psprintf(r->pool, "the request body is not valid "
                                 "JSON: %s at line %d column %d", jerr.text,
                                 jerr.line, jerr.column));
    }
    apr_pool_cleanup_register(r->pool, c->body, body_free,
                              apr_pool_cleanup_null);
    return 0;
}

/* ------------------------------------------------------------ auth */

static int authenticate(admin_ctx_t *c)
{
    request_rec *r = c->r;
    quota_server_conf *sc = quota_sconf(r->server);
    const char *key = c->req->client_key;
    unsigned char d[LLMGW_DIGEST_LEN];
    managed_key_t *mk = NULL;
    mk_status_e st;

    if (!key || !*key) {
        return fail(c, HTTP_UNAUTHORIZED, "missing_api_key", NULL,
                    "no API key: send the admin key or a workspace admin "
                    "key as 'Authorization: Bearer KEY'");
    }
    llmgw_sha256(key, strlen(key), d);
    if (sc->has_admin_key
        && !CRYPTO_memcmp(d, sc->admin_digest, LLMGW_DIGEST_LEN)) {
        c->scope = NULL;
        c->who = "operator";
        return 0;
    }
    st = sc->managed == 1 ? managed_lookup(r, d, &mk) : MK_UNKNOWN;
    if (st == MK_ERROR) {
        return db_failed(c);
    }
    if (st == MK_UNKNOWN) {
        if (llmgw_key_find(sc->digests, sc->keys->nelts, d) >= 0) {
            return fail(c, HTTP_FORBIDDEN, "admin_key_required", NULL,
                        "this API key may not manage workspaces");
        }
        return fail(c, HTTP_UNAUTHORIZED, "invalid_api_key", NULL,
                    "incorrect API key provided");
    }
    c->who = mk->key.id;
    if (mk->key.revoked_at >= 0) {
        return fail(c, HTTP_UNAUTHORIZED, "revoked_api_key", NULL,
                    "this API key has been revoked");
    }
    if (mk->key.expires_at >= 0 && mk->key.expires_at <= apr_time_sec(c->now)) {
        return fail(c, HTTP_UNAUTHORIZED, "expired_api_key", NULL,
                    "this API key has expired");
    }
    if (strcmp(mk->key.role, "admin")) {
        return fail(c, HTTP_FORBIDDEN, "admin_key_required", NULL,
                    "this API key may not manage workspaces (its role is "
                    "member)");
    }
    if (!strcmp(mk->ws.status, "suspended")) {
        return fail(c, HTTP_FORBIDDEN, "workspace_suspended", NULL,
                    "this API key's workspace is suspended");
    }
    c->scope = mk->ws.id;
    return 0;
}

/* ------------------------------------------------------------ reads */

/* 0 found, 1 absent, -1 database error. */
static int ws_get(admin_ctx_t *c, const char *id, llmgw_admin_ws_t *ws)
{
    apr_array_header_t *rows;
    if (!llmgw_admin_id_ok(id)) {
        return 1;
    }
    if (adb_select(c->r, c->db, ADB_WS_GET, &rows, 5, id)) {
        return -1;
    }
    if (!rows->nelts) {
        return 1;
    }
    managed_ws_row(APR_ARRAY_IDX(rows, 0, const char **), ws);
    return 0;
}

static int key_get(admin_ctx_t *c, const char *ws, const char *id,
                   llmgw_admin_key_t *k)
{
    apr_array_header_t *rows;
    if (!llmgw_admin_id_ok(id)) {
        return 1;
    }
    if (adb_select(c->r, c->db, ADB_KEY_GET, &rows, 9, ws, id)) {
        return -1;
    }
    if (!rows->nelts) {
        return 1;
    }
    managed_key_row(c->r->pool, APR_ARRAY_IDX(rows, 0, const char **), k);
    return 0;
}

static const char *i64(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

/* ------------------------------------------------------------ workspaces */

static int workspaces_list(admin_ctx_t *c)
{
    apr_array_header_t *rows;
    json_t *items = json_array();
    int i;
    if (adb_select(c->r, c->db, ADB_WS_LIST, &rows, 5)) {
        json_decref(items);
        return db_failed(c);
    }
    for (i = 0; i < rows->nelts; i++) {
        llmgw_admin_ws_t ws;
        managed_ws_row(APR_ARRAY_IDX(rows, i, const char **), &ws);
        if (c->scope && strcmp(c->scope, ws.id)) {
            continue;
        }
        json_array_append_new(items, llmgw_admin_ws_json(&ws));
    }
    return send_doc(c, HTTP_OK, llmgw_admin_list(items));
}

static int plan_unknown(admin_ctx_t *c, const char *plan)
{
    return fail(c, HTTP_BAD_REQUEST, "unknown_plan", "plan",
                apr_psprintf(c->r->pool, "no plan is named '%s' (LLMGWPlan)",
                             plan));
}

static int workspace_create(admin_ctx_t *c)
{
    llmgw_admin_ws_t ws, old;
    const char *param, *err;
    int rv;

    if (c->scope) {
        return fail(c, HTTP_FORBIDDEN, "admin_key_required", NULL,
                    "only the operator's admin key creates workspaces");
    }
    if ((rv = read_body(c))) {
        return rv;
    }
    if ((err = llmgw_admin_ws_create_check(c->r->pool, c->body, &ws,
                                           &param))) {
        return fail(c, HTTP_BAD_REQUEST, "invalid_parameter", param, err);
    }
    if (!quota_plan(c->r->server, ws.plan)) {
        return plan_unknown(c, ws.plan);
    }
    if (!ws.id && !(ws.id = llmgw_admin_new_id(c->r->pool, "ws_"))) {
        return fail(c, HTTP_INTERNAL_SERVER_ERROR, "internal_error", NULL,
                    "no random bytes for an id");
    }
    ws.created_at = apr_time_sec(c->now);
    if ((rv = ws_get(c, ws.id, &old)) < 0) {
        return db_failed(c);
    }
    if (rv == 0 || adb_exec(c->r, c->db, ADB_WS_INSERT, NULL, ws.id, ws.name,
                            ws.plan, ws.status,
                            i64(c->r->pool, ws.created_at))) {
        if (rv == 0 || ws_get(c, ws.id, &old) == 0) {
            return fail(c, HTTP_CONFLICT, "workspace_exists", "id",
                        apr_psprintf(c->r->pool, "a workspace '%s' exists "
                                     "already", ws.id));
        }
        return db_failed(c);
    }
    return send_doc(c, HTTP_CREATED, llmgw_admin_ws_json(&ws));
}

static int workspace_patch(admin_ctx_t *c, llmgw_admin_ws_t *ws)
{
    const char *param, *err;
    int rv;

    if ((rv = read_body(c))) {
        return rv;
    }
    if (c->scope && (json_object_get(c->body, "plan")
                     || json_object_get(c->body, "status"))) {
        return fail(c, HTTP_FORBIDDEN, "admin_key_required",
                    json_object_get(c->body, "plan") ? "plan" : "status",
                    "only the operator's admin key changes a workspace's "
                    "plan or status");
    }
    if ((err = llmgw_admin_ws_patch_check(c->r->pool, c->body, ws, &param))) {
        return fail(c, HTTP_BAD_REQUEST, "invalid_parameter", param, err);
    }
    if (!quota_plan(c->r->server, ws->plan)) {
        return plan_unknown(c, ws->plan);
    }
    if (adb_exec(c->r, c->db, ADB_WS_UPDATE, NULL, ws->name, ws->plan,
                 ws->status, ws->id)) {
        return db_failed(c);
    }
    managed_changed(c->r);
    return send_doc(c, HTTP_OK, llmgw_admin_ws_json(ws));
}

/* ------------------------------------------------------------ keys */

static int keys_list(admin_ctx_t *c, const llmgw_admin_ws_t *ws)
{
    apr_array_header_t *rows;
    json_t *items = json_array();
    int i;
    if (adb_select(c->r, c->db, ADB_KEY_LIST, &rows, 9, ws->id)) {
        json_decref(items);
        return db_failed(c);
    }
    for (i = 0; i < rows->nelts; i++) {
        llmgw_admin_key_t k;
        managed_key_row(c->r->pool, APR_ARRAY_IDX(rows, i, const char **),
                        &k);
        json_array_append_new(items, llmgw_admin_key_json(&k, NULL));
    }
    return send_doc(c, HTTP_OK, llmgw_admin_list(items));
}

static int key_create(admin_ctx_t *c, const llmgw_admin_ws_t *ws)
{
    llmgw_admin_key_t k;
    const char *param, *err, *secret;
    char digest[2 * LLMGW_DIGEST_LEN + 1];
    int rv;

    if ((rv = read_body(c))) {
        return rv;
    }
    if ((err = llmgw_admin_key_create_check(c->r->pool, c->body,
                                            apr_time_sec(c->now), &k,
                                            &param))) {
        return fail(c, HTTP_BAD_REQUEST, "invalid_parameter", param, err);
    }
    k.workspace = ws->id;
    k.created_at = apr_time_sec(c->now);
    if (!(k.id = llmgw_admin_new_id(c->r->pool, "key_"))
        || llmgw_admin_new_key(c->r->pool, &secret, &k.prefix, digest)) {
        return fail(c, HTTP_INTERNAL_SERVER_ERROR, "internal_error", NULL,
                    "no random bytes for a key");
    }
    if (adb_exec(c->r, c->db, ADB_KEY_INSERT, NULL, k.id, k.workspace, k.name,
                 k.role, llmgw_admin_models_text(c->r->pool, k.models),
                 k.prefix, digest, i64(c->r->pool, k.created_at),
                 k.expires_at >= 0 ? i64(c->r->pool, k.expires_at) : NULL)) {
        return db_failed(c);
    }
    /* a digest looked up before (and cached as unknown) is now a key */
    managed_changed(c->r);
    return send_doc(c, HTTP_CREATED, llmgw_admin_key_json(&k, secret));
}

static int key_revoke(admin_ctx_t *c, const llmgw_admin_ws_t *ws)
{
    llmgw_admin_key_t k;
    int rv = key_get(c, ws->id, c->rt.key_id, &k);
    if (rv < 0) {
        return db_failed(c);
    }
    if (rv) {
        return fail(c, HTTP_NOT_FOUND, "key_not_found", NULL,
                    "no such key in this workspace");
    }
    if (k.revoked_at < 0) {
        if (adb_exec(c->r, c->db, ADB_KEY_REVOKE, NULL,
                     i64(c->r->pool, apr_time_sec(c->now)), ws->id, k.id)
            || key_get(c, ws->id, k.id, &k)) {
            return db_failed(c);
        }
        managed_changed(c->r);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, c->r, "llmgw_admin: key %s "
                      "of workspace %s revoked by %s", k.id, ws->id, c->who);
    }
    return send_doc(c, HTTP_OK, llmgw_admin_key_json(&k, NULL));
}

/* ------------------------------------------------------------ provider keys */

static int pkeys_list(admin_ctx_t *c, const llmgw_admin_ws_t *ws)
{
    apr_array_header_t *rows;
    json_t *items = json_array();
    int i;
    if (adb_select(c->r, c->db, ADB_PKEY_LIST, &rows, 4, ws->id)) {
        json_decref(items);
        return db_failed(c);
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **col = APR_ARRAY_IDX(rows, i, const char **);
        json_array_append_new(items, llmgw_admin_pkey_json(
            col[0], col[2] ? col[2] : "****", col[3] ? apr_atoi64(col[3])
                                                     : 0));
    }
    return send_doc(c, HTTP_OK, llmgw_admin_list(items));
}

static int provider_known(request_rec *r, const char *name)
{
    const char *prov = NULL, *um = NULL;
    return llmgw_q_resolve_model
        && !llmgw_q_resolve_model(r, apr_pstrcat(r->pool, name, "/x", NULL),
                                  NULL, &prov, &um)
        && prov && !strcmp(prov, name);
}

static int pkey_create(admin_ctx_t *c, const llmgw_admin_ws_t *ws)
{
    quota_server_conf *sc = quota_sconf(c->r->server);
    const char *param, *err, *provider, *key, *sealed, *last4;
    apr_array_header_t *rows;
    int rv;

    if ((rv = read_body(c))) {
        return rv;
    }
    if ((err = llmgw_admin_pkey_create_check(c->r->pool, c->body, &provider,
                                             &key, &param))) {
        return fail(c, HTTP_BAD_REQUEST, "invalid_parameter", param, err);
    }
    if (!provider_known(c->r, provider)) {
        return fail(c, HTTP_BAD_REQUEST, "provider_not_found", "provider",
                    apr_psprintf(c->r->pool, "no provider is named '%s'",
                                 provider));
    }
    if (!sc->has_secret) {
        return fail(c, HTTP_SERVICE_UNAVAILABLE, "secret_key_not_configured",
                    NULL, "provider keys cannot be stored: the server has no "
                    "LLMGWSecretKeyFile");
    }
    if (adb_select(c->r, c->db, ADB_PKEY_GET, &rows, 1, ws->id, provider)) {
        return db_failed(c);
    }
    if (rows->nelts) {
        return fail(c, HTTP_CONFLICT, "provider_key_exists", "provider",
                    apr_psprintf(c->r->pool, "workspace %s has a key for "
                                 "provider %s already: DELETE it first",
                                 ws->id, provider));
    }
    sealed = llmgw_secret_seal(c->r->pool, sc->secret,
                               managed_pkey_aad(c->r->pool, ws->id, provider),
                               key);
    last4 = llmgw_admin_last4(c->r->pool, key);
    if (!sealed) {
        return fail(c, HTTP_INTERNAL_SERVER_ERROR, "internal_error", NULL,
                    "the key could not be encrypted");
    }
    if (adb_exec(c->r, c->db, ADB_PKEY_INSERT, NULL, ws->id, provider, sealed,
                 last4, i64(c->r->pool, apr_time_sec(c->now)))) {
        if (!adb_select(c->r, c->db, ADB_PKEY_GET, &rows, 1, ws->id, provider)
            && rows->nelts) {
            return fail(c, HTTP_CONFLICT, "provider_key_exists", "provider",
                        "this workspace has a key for this provider already");
        }
        return db_failed(c);
    }
    managed_changed(c->r);
    return send_doc(c, HTTP_CREATED,
                    llmgw_admin_pkey_json(provider, last4,
                                          apr_time_sec(c->now)));
}

static int pkey_delete(admin_ctx_t *c, const llmgw_admin_ws_t *ws)
{
    int n = 0;
    if (!llmgw_admin_id_ok(c->rt.provider)) {
        return fail(c, HTTP_NOT_FOUND, "provider_key_not_found", NULL,
                    "this workspace has no key for that provider");
    }
    if (adb_exec(c->r, c->db, ADB_PKEY_DELETE, &n, ws->id, c->rt.provider)) {
        return db_failed(c);
    }
    if (!n) {
        return fail(c, HTTP_NOT_FOUND, "provider_key_not_found", NULL,
                    "this workspace has no key for that provider");
    }
    managed_changed(c->r);
    return send_doc(c, HTTP_OK, json_pack("{s:s,s:s,s:b}", "object",
                                          "provider_key", "provider",
                                          c->rt.provider, "deleted", 1));
}

/* ------------------------------------------------------------ billing */

/* A counter of the month; 0 when absent, -1 when the store failed. */
static int ctr(admin_ctx_t *c, llmgw_store_t *st, const char *ws,
               const char *name, const llmgw_window_t *w, apr_int64_t *out)
{
    char *val = NULL;
    apr_size_t len = 0;
    llmgw_store_status_e rv = st->get(st, c->r->pool,
                                      llmgw_counter_key(c->r->pool, ws, name,
                                                        w), &val, &len);
    if (rv == LLMGW_STORE_NOTFOUND) {
        *out = 0;
        return 0;
    }
    if (rv != LLMGW_STORE_OK || (*out = llmgw_counter_value(val)) < 0) {
        return -1;
    }
    return 0;
}

/* The workspace's usage by model this month, and their sum. */
static int model_usage(admin_ctx_t *c, llmgw_store_t *st, const char *ws,
                       const llmgw_window_t *w, json_t *items,
                       llmgw_admin_usage_t *sum)
{
    apr_array_header_t *rows;
    int i;
    if (adb_select(c->r, c->db, ADB_MODEL_LIST, &rows, 2, ws,
                   i64(c->r->pool, apr_time_sec(w->start)))) {
        return -2;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char **col = APR_ARRAY_IDX(rows, i, const char **);
        apr_pool_t *p = c->r->pool;
        llmgw_admin_usage_t u;
        if (!col[0] || !col[1]) {
            continue;
        }
        if (ctr(c, st, ws, llmgw_admin_model_counter(p, col[0], col[1],
                                                      "requests"), w,
                &u.requests)
            || ctr(c, st, ws, llmgw_admin_model_counter(p, col[0], col[1],
                                                         "prompt"), w,
                   &u.prompt_tokens)
            || ctr(c, st, ws, llmgw_admin_model_counter(p, col[0], col[1],
                                                         "completion"), w,
                   &u.completion_tokens)
            || ctr(c, st, ws, llmgw_admin_model_counter(p, col[0], col[1],
                                                         "cost"), w,
                   &u.cost_micro)) {
            return -1;
        }
        sum->prompt_tokens += u.prompt_tokens;
        sum->completion_tokens += u.completion_tokens;
        if (items) {
            json_array_append_new(items, llmgw_admin_model_usage_json(
                col[0], col[1], &u));
        }
    }
    return 0;
}

static int store_failed(admin_ctx_t *c)
{
    return fail(c, HTTP_SERVICE_UNAVAILABLE, "quota_unavailable", NULL,
                "usage is unavailable; try again later");
}

static int billing(admin_ctx_t *c, const llmgw_admin_ws_t *ws)
{
    llmgw_store_t *st = llmgw_q_get_store(c->r->server);
    llmgw_admin_usage_t u;
    llmgw_window_t w;
    json_t *items = NULL;
    int rv;

    memset(&u, 0, sizeof(u));
    llmgw_window_at(LLMGW_WIN_MONTH, c->now, &w);
    if (!st) {
        return store_failed(c);
    }
    if (c->rt.route == LLMGW_ADM_USAGE) {
        items = json_array();
    }
    if ((rv = model_usage(c, st, ws->id, &w, items, &u))) {
        json_decref(items);
        return rv == -2 ? db_failed(c) : store_failed(c);
    }
    if (items) {
        return send_doc(c, HTTP_OK, llmgw_admin_list(items));
    }
    {
        const llmgw_plan_t *plan = quota_plan(c->r->server, ws->plan);
        llmgw_plan_t none;
        if (!plan) {
            memset(&none, 0, sizeof(none));
            none.name = ws->plan;
            none.requests_month = none.rpm = none.rph = none.tpm = -1;
            none.budget_micro_usd = -1;
            plan = &none;
        }
        if (ctr(c, st, ws->id, LLMGW_CTR_REQUESTS, &w, &u.requests)
            || ctr(c, st, ws->id, LLMGW_CTR_COST, &w, &u.cost_micro)
            || ctr(c, st, ws->id, LLMGW_CTR_MONTH, &w, &u.month_milli)) {
            return store_failed(c);
        }
        return send_doc(c, HTTP_OK, llmgw_admin_entitlements_json(
            c->r->pool, ws->id, plan, c->now, &u));
    }
}

/* ------------------------------------------------------------ policy */

static int policy(admin_ctx_t *c, const llmgw_admin_ws_t *ws)
{
    llmgw_policy_t pol;
    apr_array_header_t *rows;

    if (c->r->method_number == M_PUT) {
        const char *param, *err;
        int rv;
        if ((rv = read_body(c))) {
            return rv;
        }
        if ((err = llmgw_policy_check(c->r->pool, c->body, &pol, &param))) {
            return fail(c, HTTP_BAD_REQUEST, "invalid_parameter", param, err);
        }
        if (adb_exec(c->r, c->db, ADB_POLICY_PUT, NULL, ws->id,
                     llmgw_policy_text(c->r->pool, &pol))) {
            return db_failed(c);
        }
        managed_changed(c->r);
        return send_doc(c, HTTP_OK, llmgw_policy_json(&pol));
    }
    if (adb_select(c->r, c->db, ADB_POLICY_GET, &rows, 1, ws->id)) {
        return db_failed(c);
    }
    if (!rows->nelts || llmgw_policy_parse(c->r->pool,
                                           APR_ARRAY_IDX(rows, 0,
                                                         const char **)[0],
                                           &pol)) {
        llmgw_policy_default(&pol);
    }
    return send_doc(c, HTTP_OK, llmgw_policy_json(&pol));
}

/* ------------------------------------------------------------ memory */

/* PUT, GET and DELETE workspaces/:id/memory/:user: the user's profile
 * and session (llmgw_memory.h), in the shared store where mod_llmgw reads
 * and writes them; DELETE erases both. */
static int memory(admin_ctx_t *c, const llmgw_admin_ws_t *ws)
{
    request_rec *r = c->r;
    llmgw_store_t *st = llmgw_q_get_store(r->server);
    const char *scope = llmgw_cache_scope(r->pool, ws->id, NULL, NULL, NULL);
    const char *user = c->rt.user, *pkey, *skey, *profile = NULL;
    llmgw_store_status_e s1, s2;
    char *val = NULL;
    apr_size_t len = 0;
    apr_int64_t turns = 0;
    json_t *t, *doc;

    if (!llmgw_memory_name_ok(user)) {
        return fail(c, HTTP_BAD_REQUEST, "invalid_parameter", "user",
                    "a user is 1 to 256 printable characters");
    }
    if (!st) {
        return fail(c, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", NULL,
                    "memory is unavailable; try again later");
    }
    pkey = llmgw_memory_key(r->pool, scope, "profile", user);
    skey = llmgw_memory_key(r->pool, scope, "session", user);
    if (r->method_number == M_DELETE) {
        s1 = st->del(st, pkey);
        s2 = st->del(st, skey);
        if (s1 == LLMGW_STORE_ERROR || s2 == LLMGW_STORE_ERROR) {
            return fail(c, HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                        NULL, "memory could not be erased; try again later");
        }
        doc = llmgw_memory_json(user, NULL, 0);
        json_object_set_new(doc, "deleted", json_true());
        return send_doc(c, HTTP_OK, doc);
    }
    if (r->method_number == M_PUT) {
        const json_t *pf;
        const char *k;
        json_t *v;
        int rv;
        if ((rv = read_body(c))) {
            return rv;
        }
        if (!json_is_object(c->body)) {
            return fail(c, HTTP_BAD_REQUEST, "invalid_parameter", NULL,
                        "the body must be an object {\"profile\": \"...\"}");
        }
        json_object_foreach((json_t *)c->body, k, v) {
            if (strcmp(k, "profile")) {
                return fail(c, HTTP_BAD_REQUEST, "invalid_parameter",
                            apr_pstrdup(r->pool, k), "unknown field");
            }
        }
        pf = json_object_get(c->body, "profile");
        if (!json_is_string(pf) || !json_string_length(pf)
            || json_string_length(pf) > LLMGW_MEM_PROFILE_MAX
            || memchr(json_string_value(pf), 0, json_string_length(pf))) {
            return fail(c, HTTP_BAD_REQUEST, "invalid_parameter", "profile",
                        "profile must be a text of 1 to 16384 bytes");
        }
        profile = json_string_value(pf);
        if (st->set(st, pkey, profile, strlen(profile), 0)
            != LLMGW_STORE_OK) {
            return fail(c, HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                        NULL, "the profile could not be stored; try again "
                        "later");
        }
    }
    else {
        s1 = st->get(st, r->pool, pkey, &val, &len);
        if (s1 == LLMGW_STORE_ERROR) {
            return fail(c, HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                        NULL, "memory is unavailable; try again later");
        }
        profile = s1 == LLMGW_STORE_OK ? val : NULL;
    }
    val = NULL;
    len = 0;
    s2 = st->get(st, r->pool, skey, &val, &len);
    if (s2 == LLMGW_STORE_ERROR) {
        return fail(c, HTTP_SERVICE_UNAVAILABLE, "store_unavailable", NULL,
                    "memory is unavailable; try again later");
    }
    t = llmgw_memory_turns(s2 == LLMGW_STORE_OK ? val : NULL, len);
    turns = (apr_int64_t)json_array_size(t);
    json_decref(t);
    return send_doc(c, HTTP_OK, llmgw_memory_json(user, profile, turns));
}

/* ------------------------------------------------------------ handler */

int admin_handler(request_rec *r)
{
    admin_ctx_t c;
    llmgw_admin_ws_t ws;
    int rv;

    if (!r->handler || strcmp(r->handler, "llmgw-admin")) {
        return DECLINED;
    }
    memset(&c, 0, sizeof(c));
    c.r = r;
    c.req = llmgw_q_get_request(r);
    c.now = apr_time_now();
    llmgw_admin_route_parse(r->pool, r->uri, &c.rt);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (c.rt.deprecated) {
        apr_table_setn(r->headers_out, "Deprecation", "true");
    }
    if (authenticate(&c)) {
        return OK;
    }
    if (c.rt.route == LLMGW_ADM_NONE) {
        return fail(&c, HTTP_NOT_FOUND, "unknown_route", NULL,
                    apr_psprintf(r->pool, "no management route %s %s",
                                 r->method, ap_escape_html(r->pool, r->uri))),
               OK;
    }
    if (!llmgw_admin_method_ok(c.rt.route, r->method)) {
        fail(&c, HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", NULL,
             apr_psprintf(r->pool, "%s is not allowed here (use %s)",
                          ap_escape_html(r->pool, r->method),
                          llmgw_admin_route_methods(c.rt.route)));
        return OK;
    }
    /* a workspace admin sees its own workspace only, and learns nothing
     * of the others (not even whether they exist) */
    if (c.scope && c.rt.workspace && strcmp(c.scope, c.rt.workspace)) {
        fail(&c, HTTP_FORBIDDEN, "workspace_forbidden", NULL,
             "this API key may manage its own workspace only");
        return OK;
    }
    if (!(c.db = adb_acquire(r))) {
        db_failed(&c);
        return OK;
    }
    if (c.rt.route == LLMGW_ADM_WORKSPACES) {
        rv = r->method_number == M_POST ? workspace_create(&c)
                                        : workspaces_list(&c);
        return OK;
    }
    if ((rv = ws_get(&c, c.rt.workspace, &ws)) < 0) {
        db_failed(&c);
        return OK;
    }
    if (rv) {
        fail(&c, HTTP_NOT_FOUND, "workspace_not_found", NULL,
             "no such workspace");
        return OK;
    }
    switch (c.rt.route) {
    case LLMGW_ADM_WORKSPACE:
        if (r->method_number == M_PATCH) {
            workspace_patch(&c, &ws);
        }
        else {
            send_doc(&c, HTTP_OK, llmgw_admin_ws_json(&ws));
        }
        break;
    case LLMGW_ADM_KEYS:
        if (r->method_number == M_POST) {
            key_create(&c, &ws);
        }
        else {
            keys_list(&c, &ws);
        }
        break;
    case LLMGW_ADM_KEY_REVOKE:
        key_revoke(&c, &ws);
        break;
    case LLMGW_ADM_PROVIDER_KEYS:
        if (r->method_number == M_POST) {
            pkey_create(&c, &ws);
        }
        else {
            pkeys_list(&c, &ws);
        }
        break;
    case LLMGW_ADM_PROVIDER_KEY:
        pkey_delete(&c, &ws);
        break;
    case LLMGW_ADM_ENTITLEMENTS:
    case LLMGW_ADM_USAGE:
        billing(&c, &ws);
        break;
    case LLMGW_ADM_POLICY:
        policy(&c, &ws);
        break;
    case LLMGW_ADM_MEMORY:
        memory(&c, &ws);
        break;
    default:
        fail(&c, HTTP_NOT_FOUND, "unknown_route", NULL, "no such route");
        break;
    }
    return OK;
}
