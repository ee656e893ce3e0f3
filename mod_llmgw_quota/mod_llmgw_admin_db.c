/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * mod_llmgw_admin_db.c — the management API's database, through Apache's
 * mod_dbd (DBDriver sqlite3 or pgsql, DBDParams; its pooled connections).
 *
 * Every statement with a value from outside is a prepared statement with
 * bound arguments: no value is ever written into SQL text. The statements
 * are prepared once per pooled connection, on its first use by this
 * module, rather than registered with ap_dbd_prepare: mod_dbd prepares
 * registered statements when it opens a connection, before this module
 * could have created the tables they name (the first start on an empty
 * database would fail). The schema (llmgw_admin_schema.c) is migrated once
 * per process, under a lock that serialises processes and nodes.
 */
#include <string.h>
#include <stdarg.h>

#include "httpd.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "http_log.h"
#include "http_protocol.h"
#include "mod_llmgw_quota.h"

APLOG_USE_MODULE(llmgw_quota);

static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) *dbd_acquire;
static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

typedef struct adb_stmt {
    const char *label;
    const char *sql;
} adb_stmt_t;

#define KEY_COLS "k.id, k.workspace_id, k.name, k.role, k.models, k.prefix, " \
                 "k.created_at, COALESCE(k.expires_at, -1), "                \
                 "COALESCE(k.revoked_at, -1)"

/* In the order of adb_stmt_e. %s: text, %lld: a 64-bit integer (given as
 * text); apr_dbd turns them into the driver's placeholders. */
static const adb_stmt_t stmts[ADB_N] = {
    { "llmgw_ws_get", "SELECT id, name, plan, status, created_at "
      "FROM llmgw_workspaces WHERE id = %s" },
    { "llmgw_ws_list", "SELECT id, name, plan, status, created_at "
      "FROM llmgw_workspaces ORDER BY created_at, id" },
    { "llmgw_ws_insert", "INSERT INTO llmgw_workspaces "
      "(id, name, plan, status, created_at) VALUES (%s, %s, %s, %s, %lld)" },
    { "llmgw_ws_update", "UPDATE llmgw_workspaces SET name = %s, plan = %s, "
      "status = %s WHERE id = %s" },
    { "llmgw_key_insert", "INSERT INTO llmgw_keys (id, workspace_id, name, "
      "role, models, prefix, digest, created_at, expires_at) "
      "VALUES (%s, %s, %s, %s, %s, %s, %s, %lld, %lld)" },
    { "llmgw_key_list", "SELECT " KEY_COLS " FROM llmgw_keys k "
      "WHERE k.workspace_id = %s ORDER BY k.created_at, k.id" },
    { "llmgw_key_get", "SELECT " KEY_COLS " FROM llmgw_keys k "
      "WHERE k.workspace_id = %s AND k.id = %s" },
    { "llmgw_key_revoke", "UPDATE llmgw_keys SET revoked_at = %lld "
      "WHERE workspace_id = %s AND id = %s AND revoked_at IS NULL" },
    { "llmgw_key_auth", "SELECT " KEY_COLS ", w.name, w.plan, w.status, "
      "w.created_at FROM llmgw_keys k JOIN llmgw_workspaces w "
      "ON w.id = k.workspace_id WHERE k.digest = %s" },
    { "llmgw_pkey_list", "SELECT provider, sealed, last4, created_at "
      "FROM llmgw_provider_keys WHERE workspace_id = %s ORDER BY provider" },
    { "llmgw_pkey_get", "SELECT provider FROM llmgw_provider_keys "
      "WHERE workspace_id = %s AND provider = %s" },
    { "llmgw_pkey_insert", "INSERT INTO llmgw_provider_keys (workspace_id, "
      "provider, sealed, last4, created_at) VALUES (%s, %s, %s, %s, %lld)" },
    { "llmgw_pkey_delete", "DELETE FROM llmgw_provider_keys "
      "WHERE workspace_id = %s AND provider = %s" },
    { "llmgw_policy_get", "SELECT policy FROM llmgw_policies "
      "WHERE workspace_id = %s" },
    { "llmgw_policy_put", "INSERT INTO llmgw_policies (workspace_id, policy) "
      "VALUES (%s, %s) ON CONFLICT (workspace_id) "
      "DO UPDATE SET policy = excluded.policy" },
    { "llmgw_model_add", "INSERT INTO llmgw_usage_models (workspace_id, "
      "period, provider, model) VALUES (%s, %lld, %s, %s) "
      "ON CONFLICT DO NOTHING" },
    { "llmgw_model_list", "SELECT provider, model FROM llmgw_usage_models "
      "WHERE workspace_id = %s AND period = %lld ORDER BY provider, model" },
    /* the larger value wins: nodes writing at once never go backwards */
    { "llmgw_ckpt_put", "INSERT INTO llmgw_usage_checkpoint (workspace_id, "
      "period, counter, value, updated_at) VALUES (%s, %lld, %s, %lld, %lld) "
      "ON CONFLICT (period, workspace_id, counter) DO UPDATE SET "
      "value = CASE WHEN excluded.value > llmgw_usage_checkpoint.value "
      "THEN excluded.value ELSE llmgw_usage_checkpoint.value END, "
      "updated_at = excluded.updated_at" },
    { "llmgw_ckpt_list", "SELECT workspace_id, counter, value "
      "FROM llmgw_usage_checkpoint WHERE period = %lld" },
};

/* The marker, in a connection's prepared hash, of a connection this
 * module has set up. */
#define SETUP_LABEL "llmgw__ready"

static apr_thread_mutex_t *schema_mutex;
static volatile int schema_ready;

int adb_available(void)
{
    return dbd_acquire != NULL;
}

void adb_post_config(void)
{
    dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
}

static const char *db_error(ap_dbd_t *db, int rv)
{
    const char *e = apr_dbd_error(db->driver, db->handle, rv);
    return e ? e : "unknown error";
}

/* The schema version of the database; 0 when it has no table yet. */
static int schema_version(apr_pool_t *p, ap_dbd_t *db)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int v = 0;
    if (apr_dbd_select(db->driver, p, db->handle, &res,
                       "SELECT version FROM llmgw_schema", 1)) {
        return 0;
    }
    while (apr_dbd_get_row(db->driver, p, res, &row, -1) == 0) {
        const char *s = apr_dbd_get_entry(db->driver, row, 0);
        if (s && atoi(s) > v) {
            v = atoi(s);
        }
    }
    return v;
}

static int run(server_rec *s, ap_dbd_t *db, const char *sql)
{
    int n = 0, rv = apr_dbd_query(db->driver, db->handle, &n, sql);
    if (rv) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "llmgw_admin: schema "
                      "statement failed (%s): %.60s...", db_error(db, rv),
                      sql);
    }
    return rv;
}

/* Brings the schema to LLMGW_SCHEMA_VERSION, one version at a time. */
static int migrate(server_rec *s, apr_pool_t *p, ap_dbd_t *db)
{
    int d = llmgw_sql_dialect(apr_dbd_name(db->driver));
    int v, bad = 0, n;

    if (d < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "llmgw_admin: DBDriver %s "
                      "is not supported (use sqlite3 or pgsql)",
                      apr_dbd_name(db->driver));
        return -1;
    }
    if (d == LLMGW_SQL_SQLITE) {
        /* readers never wait for the writer (persistent in the file) */
        apr_dbd_query(db->driver, db->handle, &n, "PRAGMA journal_mode=WAL");
    }
    if (run(s, db, llmgw_schema_lock(d))) {
        return -1;
    }
    v = schema_version(p, db);
    while (!bad && v < LLMGW_SCHEMA_VERSION) {
        const char *const *step = llmgw_schema_step(d, v);
        if (!step) {
            break;
        }
        if (d == LLMGW_SQL_PGSQL) {
            bad = run(s, db, "BEGIN");
        }
        for (; !bad && *step; step++) {
            bad = run(s, db, *step);
        }
        if (d == LLMGW_SQL_PGSQL) {
            run(s, db, bad ? "ROLLBACK" : "COMMIT");
        }
        if (!bad) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "llmgw_admin: "
                          "database schema migrated to version %d", v + 1);
            v++;
        }
    }
    if (d == LLMGW_SQL_SQLITE && bad) {
        run(s, db, "ROLLBACK");
    }
    else {
        run(s, db, llmgw_schema_unlock(d));
    }
    if (!bad && v > LLMGW_SCHEMA_VERSION) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "llmgw_admin: the "
                      "database schema (version %d) is newer than this "
                      "module's (%d)", v, LLMGW_SCHEMA_VERSION);
    }
    return bad ? -1 : 0;
}

/* Prepares this module's statements on a connection of the pool. */
static int setup_conn(server_rec *s, ap_dbd_t *db)
{
    int i, n;
    if (llmgw_sql_dialect(apr_dbd_name(db->driver)) == LLMGW_SQL_SQLITE) {
        /* several processes write: wait for the lock instead of failing */
        apr_dbd_query(db->driver, db->handle, &n, "PRAGMA busy_timeout=5000");
        apr_dbd_query(db->driver, db->handle, &n, "PRAGMA foreign_keys=ON");
    }
    for (i = 0; i < ADB_N; i++) {
        apr_dbd_prepared_t *st = NULL;
        int rv = apr_dbd_prepare(db->driver, db->pool, db->handle,
                                 stmts[i].sql, stmts[i].label, &st);
        if (rv) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "llmgw_admin: cannot "
                          "prepare %s: %s", stmts[i].label, db_error(db, rv));
            return -1;
        }
        apr_hash_set(db->prepared, stmts[i].label, APR_HASH_KEY_STRING, st);
    }
    apr_hash_set(db->prepared, SETUP_LABEL, APR_HASH_KEY_STRING, db);
    return 0;
}

/* A connection of mod_dbd's pool, with the schema migrated (once per
 * process) and this module's statements prepared (once per connection). */
static ap_dbd_t *ready(server_rec *s, apr_pool_t *p, ap_dbd_t *db)
{
    if (!schema_ready) {
        int bad;
        if (schema_mutex) {
            apr_thread_mutex_lock(schema_mutex);
        }
        bad = !schema_ready && migrate(s, p, db);
        if (!bad) {
            schema_ready = 1;
        }
        if (schema_mutex) {
            apr_thread_mutex_unlock(schema_mutex);
        }
        if (bad) {
            return NULL;
        }
    }
    if (!db->prepared) {
        db->prepared = apr_hash_make(db->pool);
    }
    if (!apr_hash_get(db->prepared, SETUP_LABEL, APR_HASH_KEY_STRING)
        && setup_conn(s, db)) {
        return NULL;
    }
    return db;
}

ap_dbd_t *adb_acquire(request_rec *r)
{
    ap_dbd_t *db;
    if (!dbd_acquire) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "llmgw_admin: mod_dbd is "
                      "not loaded (LoadModule dbd_module, DBDriver, "
                      "DBDParams)");
        return NULL;
    }
    db = dbd_acquire(r);
    if (!db) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "llmgw_admin: no database "
                      "connection (DBDriver, DBDParams)");
        return NULL;
    }
    return ready(r->server, r->pool, db);
}

ap_dbd_t *adb_open(server_rec *s, apr_pool_t *p)
{
    ap_dbd_t *db;
    if (!dbd_open || !dbd_close || !(db = dbd_open(p, s))) {
        return NULL;
    }
    if (!ready(s, p, db)) {
        dbd_close(s, db);
        return NULL;
    }
    return db;
}

void adb_close(server_rec *s, ap_dbd_t *db)
{
    if (db && dbd_close) {
        dbd_close(s, db);
    }
}

static apr_dbd_prepared_t *stmt(ap_dbd_t *db, adb_stmt_e st)
{
    return apr_hash_get(db->prepared, stmts[st].label, APR_HASH_KEY_STRING);
}

/* The arguments of statement st (as many as its SQL has placeholders). */
static const char **args_of(apr_pool_t *p, adb_stmt_e st, int *nargs,
                            va_list ap)
{
    const char *c, **args;
    int n = 0, i;
    for (c = stmts[st].sql; *c; c++) {
        n += c[0] == '%' && c[1] != '%';
    }
    args = apr_pcalloc(p, sizeof(const char *) * (apr_size_t)(n + 1));
    for (i = 0; i < n; i++) {
        args[i] = va_arg(ap, const char *);
    }
    *nargs = n;
    return args;
}

static int vexec(server_rec *s, apr_pool_t *p, ap_dbd_t *db, adb_stmt_e st,
                 int *nrows, va_list ap)
{
    const char **args;
    int rv, n = 0, nargs;
    args = args_of(p, st, &nargs, ap);
    rv = apr_dbd_pquery(db->driver, p, db->handle, &n, stmt(db, st), nargs,
                        args);
    if (rv) {
        /* a constraint (a duplicate) is the caller's to explain: info */
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "llmgw_admin: %s failed: "
                     "%s", stmts[st].label, db_error(db, rv));
        return -1;
    }
    if (nrows) {
        *nrows = n;
    }
    return 0;
}

static int vselect(server_rec *s, apr_pool_t *p, ap_dbd_t *db,
                   adb_stmt_e st, apr_array_header_t **rows, int ncols,
                   va_list ap)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char **args;
    int rv, nargs;

    args = args_of(p, st, &nargs, ap);
    rv = apr_dbd_pselect(db->driver, p, db->handle, &res, stmt(db, st), 1,
                         nargs, args);
    if (rv) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "llmgw_admin: %s failed: "
                     "%s", stmts[st].label, db_error(db, rv));
        return -1;
    }
    *rows = apr_array_make(p, 4, sizeof(const char **));
    while (apr_dbd_get_row(db->driver, p, res, &row, -1) == 0) {
        const char **cols = apr_pcalloc(p,
                                        sizeof(const char *) * (apr_size_t)ncols);
        int i;
        for (i = 0; i < ncols; i++) {
            const char *v = apr_dbd_get_entry(db->driver, row, i);
            cols[i] = v ? apr_pstrdup(p, v) : NULL;
        }
        APR_ARRAY_PUSH(*rows, const char **) = cols;
    }
    return 0;
}

int adb_exec(request_rec *r, ap_dbd_t *db, adb_stmt_e st, int *nrows, ...)
{
    va_list ap;
    int rv;
    va_start(ap, nrows);
    rv = vexec(r->server, r->pool, db, st, nrows, ap);
    va_end(ap);
    return rv;
}

int adb_select(request_rec *r, ap_dbd_t *db, adb_stmt_e st,
               apr_array_header_t **rows, int ncols, ...)
{
    va_list ap;
    int rv;
    va_start(ap, ncols);
    rv = vselect(r->server, r->pool, db, st, rows, ncols, ap);
    va_end(ap);
    return rv;
}

int adb_exec_s(server_rec *s, apr_pool_t *p, ap_dbd_t *db, adb_stmt_e st,
               int *nrows, ...)
{
    va_list ap;
    int rv;
    va_start(ap, nrows);
    rv = vexec(s, p, db, st, nrows, ap);
    va_end(ap);
    return rv;
}

int adb_select_s(server_rec *s, apr_pool_t *p, ap_dbd_t *db, adb_stmt_e st,
                 apr_array_header_t **rows, int ncols, ...)
{
    va_list ap;
    int rv;
    va_start(ap, ncols);
    rv = vselect(s, p, db, st, rows, ncols, ap);
    va_end(ap);
    return rv;
}

void adb_child_init(apr_pool_t *p)
{
    apr_thread_mutex_create(&schema_mutex, APR_THREAD_MUTEX_DEFAULT, p);
}
