/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * mod_llmgw_quota.h — private to mod_llmgw_quota's glue: its configuration,
 * the keys a request resolves to, and what the three glue files share:
 *   mod_llmgw_quota.c        directives, hooks, /api/usage
 *   mod_llmgw_admin_db.c     the database on mod_dbd (schema, statements)
 *   mod_llmgw_admin_keys.c   managed keys: lookup, per-child cache and the
 *                            generation counter that keeps every node's
 *                            cache current
 *   mod_llmgw_admin.c        the `llmgw-admin` handler
 */
#ifndef MOD_LLMGW_QUOTA_H
#define MOD_LLMGW_QUOTA_H

#include "httpd.h"
#include "http_config.h"
#include "apr_dbd.h"
#include "mod_dbd.h"
#include "llmgw.h"
#include "llmgw_limits.h"
#include "llmgw_admin.h"

extern module AP_MODULE_DECLARE_DATA llmgw_quota_module;

/* A gateway key as a request sees it: a static LLMGWKey, or a managed key
 * of the database (copied into the request's pool). */
typedef struct quota_key {
    unsigned char digest[LLMGW_DIGEST_LEN];
    const char *workspace;
    const char *plan_name;
    const llmgw_plan_t *plan;            /* resolved in check_config */
    const char *where;                   /* "file:line" for messages */
    apr_array_header_t *models;          /* models=GLOB,...: NULL = any */
    const char *name;                    /* name=N */
    const char *tier;                    /* tier=T (else the plan's) */
    const char *log_id;                  /* llmgw-key note: name or id */
    const char *key_id;                  /* managed: key_...; static: log_id */
    struct managed_key *managed;         /* NULL for a static key */
} quota_key_t;

typedef struct quota_server_conf {
    apr_hash_t *plans;                   /* name -> llmgw_plan_t (global) */
    apr_array_header_t *keys;            /* quota_key_t, inherited first */
    unsigned char *digests;              /* keys' digests, contiguous */
    int fail_closed;                     /* -1 unset, 0 open, 1 closed */
    int managed;                         /* LLMGWManagedKeys: -1 unset */
    /* server-wide (main server), shared by every vhost */
    int has_admin_key;
    unsigned char admin_digest[LLMGW_DIGEST_LEN];
    const char *secret_file;             /* LLMGWSecretKeyFile */
    const char *secret_where;
    int has_secret;
    unsigned char secret[LLMGW_ADMIN_SECRET_LEN];
} quota_server_conf;

/* The quota module's optional functions of mod_llmgw (post_config). */
extern APR_OPTIONAL_FN_TYPE(llmgw_get_store) *llmgw_q_get_store;
extern APR_OPTIONAL_FN_TYPE(llmgw_send_body) *llmgw_q_send_body;
extern APR_OPTIONAL_FN_TYPE(llmgw_get_request) *llmgw_q_get_request;
extern APR_OPTIONAL_FN_TYPE(llmgw_request_json) *llmgw_q_request_json;
extern APR_OPTIONAL_FN_TYPE(llmgw_resolve_model) *llmgw_q_resolve_model;

quota_server_conf *quota_sconf(server_rec *s);

/* A plan of the server by name; NULL when no LLMGWPlan defines it. */
const llmgw_plan_t *quota_plan(server_rec *s, const char *name);

/* ------------------------------------------------ database (admin_db.c) */

/* Labels of the prepared statements (admin_db.c holds their SQL). */
typedef enum {
    ADB_WS_GET = 0, ADB_WS_LIST, ADB_WS_INSERT, ADB_WS_UPDATE,
    ADB_KEY_INSERT, ADB_KEY_LIST, ADB_KEY_GET, ADB_KEY_REVOKE, ADB_KEY_AUTH,
    ADB_PKEY_LIST, ADB_PKEY_GET, ADB_PKEY_INSERT, ADB_PKEY_DELETE,
    ADB_POLICY_GET, ADB_POLICY_PUT,
    ADB_MODEL_ADD, ADB_MODEL_LIST,
    ADB_CKPT_PUT, ADB_CKPT_LIST,
    ADB_N
} adb_stmt_e;

/* The request's connection (mod_dbd's pool, released with the request),
 * with the schema migrated and this module's statements prepared; NULL
 * (logged) when the database cannot be reached. */
ap_dbd_t *adb_acquire(request_rec *r);

/* Runs a prepared statement with text arguments (NULL: SQL NULL); 0 or
 * -1 (logged). */
int adb_exec(request_rec *r, ap_dbd_t *db, adb_stmt_e st, int *nrows, ...);

/* Runs a prepared query; its rows as arrays of column strings (NULL for
 * SQL NULL), in the request pool. 0 or -1 (logged). */
int adb_select(request_rec *r, ap_dbd_t *db, adb_stmt_e st,
               apr_array_header_t **rows, int ncols, ...);

/* The same outside a request (the checkpoint thread): a connection of
 * mod_dbd's pool taken with ap_dbd_open (NULL when there is none), given
 * back with adb_close; statements run with the pool p, logged on s. */
ap_dbd_t *adb_open(server_rec *s, apr_pool_t *p);
void adb_close(server_rec *s, ap_dbd_t *db);
int adb_exec_s(server_rec *s, apr_pool_t *p, ap_dbd_t *db, adb_stmt_e st,
               int *nrows, ...);
int adb_select_s(server_rec *s, apr_pool_t *p, ap_dbd_t *db, adb_stmt_e st,
                 apr_array_header_t **rows, int ncols, ...);

/* Whether mod_dbd is loaded (its optional functions found). */
int adb_available(void);

void adb_post_config(void);
void adb_child_init(apr_pool_t *p);

/* ------------------------------------------------ managed keys (keys.c) */

typedef struct managed_pkey {
    const char *provider;
    const char *sealed;                  /* AES-256-GCM, never in clear */
} managed_pkey_t;

/* A managed key with its workspace, its policy and the workspace's
 * sealed provider keys, as cached per child. */
typedef struct managed_key {
    llmgw_admin_key_t key;
    llmgw_admin_ws_t ws;
    llmgw_policy_t policy;
    apr_array_header_t *pkeys;           /* managed_pkey_t */
} managed_key_t;

typedef enum {
    MK_FOUND = 0,
    MK_UNKNOWN,
    MK_ERROR                             /* database unreachable */
} mk_status_e;

/* The managed key whose secret has this digest (per-child cache, checked
 * against the shared generation counter; the database on a miss). *out is
 * a copy in r->pool. */
mk_status_e managed_lookup(request_rec *r,
                           const unsigned char digest[LLMGW_DIGEST_LEN],
                           managed_key_t **out);

/* After a change to the database: every node's caches are stale (the
 * generation counter in the shared store goes up, this child's cache is
 * emptied at once). */
void managed_changed(request_rec *r);

/* The workspace's provider keys, decrypted into a new hash (r->pool);
 * NULL when it has none. */
apr_hash_t *managed_provider_keys(request_rec *r, const managed_key_t *mk);

/* AAD binding a sealed provider key to its workspace and provider. */
const char *managed_pkey_aad(apr_pool_t *p, const char *workspace,
                             const char *provider);

/* Records (once per child and month) that a workspace used a model, for
 * billing's usage by model. */
void managed_note_model(request_rec *r, const char *workspace,
                        apr_time_t period_start, const char *provider,
                        const char *model);

void managed_child_init(apr_pool_t *p, server_rec *s);

/* ------------------------------------------------ checkpoint (usage_ckpt.c) */

void ckpt_pre_config(apr_pool_t *pconf);
int ckpt_post_config(apr_pool_t *pconf, server_rec *s);
void ckpt_child_init(apr_pool_t *p, server_rec *s);

/* A request counted in a workspace's month (and in a model's counters,
 * model_prefix: llmgw_admin_model_counter(p, provider, model, "")): they
 * are checkpointed within LLMGW_CKPT_PERIOD s. Memory work only. */
void ckpt_note(request_rec *r, const char *workspace, apr_time_t period,
               const char *model_prefix);

/* A month counter was just created (a new month, or a store that came
 * back empty): the thread checks the restore marker now. Waits up to
 * `wait` (0: not at all) for a check that reaches the store (asked again
 * every 50 ms while the thread's store handle fails), on a condition
 * variable (no lock held); 1 when one did: the month's counters hold any
 * restored base. */
int ckpt_kick(apr_interval_time_t wait);

/* ------------------------------------------------ handler (admin.c) */

int admin_handler(request_rec *r);

/* Reads a workspace's policy and provider keys into mk (database). */
int managed_load_workspace_extras(request_rec *r, ap_dbd_t *db,
                                  managed_key_t *mk);

#endif
