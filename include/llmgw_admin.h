/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_admin.h — the pure core of the management API (`llmgw-admin` of
 * mod_llmgw_quota): its routes, the validation of every body (a bad field
 * is named in `param`), the JSON objects it answers with, identifiers and
 * secrets, the encryption of stored provider keys (AES-256-GCM), the
 * context-quota policy and its enforcement, and the SQL schema with its
 * versioned migrations. No httpd header (APR, jansson, OpenSSL): every
 * function is unit-tested directly (t/unit/test_admin*.c).
 */
#ifndef LLMGW_ADMIN_H
#define LLMGW_ADMIN_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include "llmgw_digest.h"
#include "llmgw_limits.h"

/* ------------------------------------------------------------ routes */

typedef enum {
    LLMGW_ADM_NONE = 0,          /* no such route: 404 */
    LLMGW_ADM_WORKSPACES,        /* workspaces                      GET POST */
    LLMGW_ADM_WORKSPACE,         /* workspaces/:id                  GET PATCH */
    LLMGW_ADM_KEYS,              /* workspaces/:id/keys             GET POST */
    LLMGW_ADM_KEY_REVOKE,        /* workspaces/:id/keys/:k/revoke   POST */
    LLMGW_ADM_PROVIDER_KEYS,     /* workspaces/:id/provider-keys    GET POST */
    LLMGW_ADM_PROVIDER_KEY,      /* workspaces/:id/provider-keys/:p DELETE */
    LLMGW_ADM_ENTITLEMENTS,      /* billing/workspaces/:id/entitlements GET */
    LLMGW_ADM_USAGE,             /* billing/workspaces/:id/usage        GET */
    LLMGW_ADM_POLICY,            /* billing/workspaces/:id/context-quota-policy
                                  *                                 GET PUT */
    LLMGW_ADM_MEMORY             /* workspaces/:id/memory/:user  GET PUT DELETE */
} llmgw_admin_route_e;

typedef struct llmgw_admin_route {
    llmgw_admin_route_e route;
    int deprecated;              /* reached through /projects: Deprecation */
    const char *workspace;       /* :id (NULL for LLMGW_ADM_WORKSPACES) */
    const char *key_id;          /* :key_id of revoke */
    const char *provider;        /* :provider of DELETE provider-keys */
    const char *user;            /* :user of memory */
} llmgw_admin_route_t;

/* Reads a request path from its first `workspaces`, `projects` or
 * `billing` segment on (what comes before is the mount: /v1, /admin/v1...);
 * `projects` is the deprecated name of `workspaces`, in both families. A
 * trailing slash is allowed. Sets rt->route (LLMGW_ADM_NONE when the path
 * is no route of the API) and the path's identifiers (as written: the
 * caller looks them up, so an identifier that cannot exist is a 404). */
void llmgw_admin_route_parse(apr_pool_t *p, const char *path,
                             llmgw_admin_route_t *rt);

/* The methods a route answers ("GET, POST"...), for 405 and Allow. */
const char *llmgw_admin_route_methods(llmgw_admin_route_e route);

/* Whether a route answers `method` (HEAD counts as GET). */
int llmgw_admin_method_ok(llmgw_admin_route_e route, const char *method);

/* ------------------------------------------------------------ objects */

#define LLMGW_ADMIN_NAME_MAX   200   /* names of workspaces and keys */
#define LLMGW_ADMIN_ID_MAX     64    /* identifiers: [A-Za-z0-9._-]{1,64} */
#define LLMGW_ADMIN_MODELS_MAX 64    /* globs of a key's models */
#define LLMGW_ADMIN_GLOB_MAX   200
#define LLMGW_ADMIN_PKEY_MAX   4096  /* a provider key's length */

/* Whether s is an identifier: 1 to 64 of A-Z a-z 0-9 . _ - */
int llmgw_admin_id_ok(const char *s);

typedef struct llmgw_admin_ws {
    const char *id;
    const char *name;
    const char *plan;
    const char *status;          /* "active" or "suspended" */
    apr_int64_t created_at;      /* Unix seconds */
} llmgw_admin_ws_t;

typedef struct llmgw_admin_key {
    const char *id;              /* key_... */
    const char *workspace;
    const char *name;
    const char *role;            /* "member" or "admin" */
    apr_array_header_t *models;  /* const char * globs; NULL: any model */
    const char *prefix;          /* first characters of the secret */
    apr_int64_t created_at;
    apr_int64_t expires_at;      /* -1: never */
    apr_int64_t revoked_at;      /* -1: not revoked */
} llmgw_admin_key_t;

/* The WORKSPACE object. */
json_t *llmgw_admin_ws_json(const llmgw_admin_ws_t *ws);

/* The KEY object; `secret` (the new key, shown once) is added only when
 * not NULL. */
json_t *llmgw_admin_key_json(const llmgw_admin_key_t *k, const char *secret);

/* {"object":"provider_key","provider","last4","created_at"} */
json_t *llmgw_admin_pkey_json(const char *provider, const char *last4,
                              apr_int64_t created_at);

/* {"object":"list","data":items} (takes the reference of items). */
json_t *llmgw_admin_list(json_t *items);

/* A key's models as JSON text ("[...]"), NULL when any model; and back
 * (NULL text or "null": NULL; -1 when the text is not a list of strings). */
const char *llmgw_admin_models_text(apr_pool_t *p,
                                    const apr_array_header_t *models);
int llmgw_admin_models_parse(apr_pool_t *p, const char *text,
                             apr_array_header_t **models);

/* ------------------------------------------------------------ validation */

/* Each validator reads a request body (any JSON value) and returns NULL,
 * or an error message (from p) with *param naming the field at fault
 * (NULL when the body itself is wrong). Unknown members are refused. */

/* POST workspaces {"name","plan","id"?}: out->status "active". */
const char *llmgw_admin_ws_create_check(apr_pool_t *p, const json_t *body,
                                        llmgw_admin_ws_t *out,
                                        const char **param);

/* PATCH workspaces/:id {"name"?,"plan"?,"status"?}: the fields present
 * overwrite those of ws; at least one is required. */
const char *llmgw_admin_ws_patch_check(apr_pool_t *p, const json_t *body,
                                       llmgw_admin_ws_t *ws,
                                       const char **param);

/* POST keys {"name","role"?,"models"?,"expires_at"?}: expires_at must be
 * after now (Unix seconds). Fills name, role, models, expires_at. */
const char *llmgw_admin_key_create_check(apr_pool_t *p, const json_t *body,
                                         apr_int64_t now,
                                         llmgw_admin_key_t *out,
                                         const char **param);

/* POST provider-keys {"provider","key"}: a provider name and a key of
 * printable characters (it goes into a header line). */
const char *llmgw_admin_pkey_create_check(apr_pool_t *p, const json_t *body,
                                          const char **provider,
                                          const char **key,
                                          const char **param);

/* ------------------------------------------------------------ secrets */

#define LLMGW_ADMIN_KEY_PREFIX   "llmgw_"
#define LLMGW_ADMIN_SECRET_LEN   32      /* bytes of LLMGWSecretKeyFile */

/* prefix and 24 hex digits of random bytes ("ws_", "key_"); NULL when the
 * random source failed. */
const char *llmgw_admin_new_id(apr_pool_t *p, const char *prefix);

/* A new gateway key: "llmgw_" and 43 base64url characters (32 random
 * bytes); *shown the first 12 characters (the KEY's prefix) and digest
 * the hex SHA-256 that the database keeps. -1 when the random source
 * failed. */
int llmgw_admin_new_key(apr_pool_t *p, const char **secret,
                        const char **shown,
                        char digest[2 * LLMGW_DIGEST_LEN + 1]);

/* The last 4 characters of a provider key ("****" and fewer when shorter
 * than 8, so a short key is never shown whole). */
const char *llmgw_admin_last4(apr_pool_t *p, const char *key);

/* Reads LLMGWSecretKeyFile: exactly 32 bytes, or 64 hex digits (a final
 * newline allowed). NULL, or an error message (never the file's bytes). */
const char *llmgw_secret_key_load(apr_pool_t *p, const char *path,
                                  unsigned char key[LLMGW_ADMIN_SECRET_LEN]);

/* AES-256-GCM of plain under key, bound to aad (e.g. "workspace\nprovider"
 * so that a sealed value cannot be moved to another workspace): "v1:" and
 * the base64 of a random 12-byte nonce, the ciphertext and the 16-byte
 * tag. NULL when OpenSSL failed. */
const char *llmgw_secret_seal(apr_pool_t *p,
                              const unsigned char key[LLMGW_ADMIN_SECRET_LEN],
                              const char *aad, const char *plain);

/* The plain text of a sealed value; NULL when it is malformed or does not
 * authenticate (another key, another aad, a changed byte). */
const char *llmgw_secret_open(apr_pool_t *p,
                              const unsigned char key[LLMGW_ADMIN_SECRET_LEN],
                              const char *aad, const char *sealed);

/* ------------------------------------------------------------ policy */

typedef struct llmgw_policy {
    apr_int64_t max_prompt_tokens;       /* -1: none */
    apr_int64_t max_completion_tokens;   /* -1: none */
    int truncate;                        /* on_exceed truncate (else reject) */
    const char *memory_mode;             /* "none", "session", "profile" */
    apr_int64_t memory_max_turns;
    apr_int64_t memory_ttl_seconds;
} llmgw_policy_t;

/* No limit, reject, memory none, 20 turns, 86400 s. */
void llmgw_policy_default(llmgw_policy_t *pol);

/* Whether a policy limits anything (a request of a workspace without one
 * is left as it is). */
int llmgw_policy_active(const llmgw_policy_t *pol);

/* PUT context-quota-policy: the whole policy (absent members take their
 * defaults). NULL or an error with *param. */
const char *llmgw_policy_check(apr_pool_t *p, const json_t *body,
                               llmgw_policy_t *out, const char **param);

/* The CONTEXT_QUOTA_POLICY object. */
json_t *llmgw_policy_json(const llmgw_policy_t *pol);

/* Stored form (compact JSON of the object) and back (-1 when malformed). */
const char *llmgw_policy_text(apr_pool_t *p, const llmgw_policy_t *pol);
int llmgw_policy_parse(apr_pool_t *p, const char *text, llmgw_policy_t *out);

typedef enum {
    LLMGW_POLICY_PASS = 0,               /* nothing to do */
    LLMGW_POLICY_CHANGED,                /* body changed (truncated, capped) */
    LLMGW_POLICY_REJECT                  /* 400 context_quota_exceeded */
} llmgw_policy_verdict_e;

/* The client API of a request tree: where its turns are and what caps
 * its answer. */
typedef enum {
    LLMGW_POLICY_CHAT = 0,    /* messages; max_completion_tokens, max_tokens */
    LLMGW_POLICY_MESSAGES,    /* messages (system apart); max_tokens */
    LLMGW_POLICY_RESPONSES    /* input items; max_output_tokens */
} llmgw_policy_api_e;

/* Applies a policy to a request tree of that API (body may be NULL for a
 * request without one). *prompt_estimate (tokens, bytes / 4 of the
 * request) is checked against max_prompt_tokens: over it, the request is
 * rejected, or (truncate) loses its oldest turns until it fits: a turn is
 * a user message and what follows it up to the next one (answers, tool
 * calls and their results: an Anthropic user message of tool_result
 * blocks or a Responses function_call_output belongs to the turn before);
 * system messages and the last message stay; the estimate is lowered by
 * what was dropped. max_completion_tokens caps the API's output fields
 * (Chat: max_completion_tokens and max_tokens, setting max_tokens when it
 * has neither; Messages: max_tokens; Responses: max_output_tokens);
 * *max_tokens becomes the value sent. */
llmgw_policy_verdict_e llmgw_policy_apply(const llmgw_policy_t *pol,
                                          llmgw_policy_api_e api,
                                          json_t *body,
                                          apr_int64_t *prompt_estimate,
                                          apr_int64_t *max_tokens);

/* ------------------------------------------------------------ billing */

/* What a workspace used this month: the same counters the limits use. */
typedef struct llmgw_admin_usage {
    apr_int64_t requests;                /* requests answered */
    apr_int64_t prompt_tokens;
    apr_int64_t completion_tokens;
    apr_int64_t cost_micro;              /* micro-USD */
    apr_int64_t month_milli;             /* the monthly quota's count */
} llmgw_admin_usage_t;

/* Counter name (llmgw_limits.h's <counter>) of one model's usage: "m-",
 * 16 hex digits of the SHA-256 of "provider/model" (any model name fits a
 * store key), "-" and what: "requests", "prompt", "completion", "cost". */
const char *llmgw_admin_model_counter(apr_pool_t *p, const char *provider,
                                      const char *model, const char *what);

/* A plan's limits ({"name","requests_month","rpm","rph","tpm",
 * "budget_month_usd","overage","quota_status","cache_hit_weight","tier"},
 * null where unlimited). */
json_t *llmgw_admin_plan_json(const llmgw_plan_t *plan);

/* The ENTITLEMENTS object of a workspace on plan for the month holding
 * now. */
json_t *llmgw_admin_entitlements_json(apr_pool_t *p, const char *workspace,
                                      const llmgw_plan_t *plan,
                                      apr_time_t now,
                                      const llmgw_admin_usage_t *u);

/* One row of billing's usage by model. */
json_t *llmgw_admin_model_usage_json(const char *provider, const char *model,
                                     const llmgw_admin_usage_t *u);

/* ------------------------------------------------------------ checkpoint */

/* With a database, the month's counters (llmgw_limits.h's keys of the
 * month window) are checkpointed to it every LLMGW_CKPT_PERIOD seconds at
 * most, as absolute values merged with llmgw_ckpt_merge (the larger wins,
 * so two nodes writing never go backwards), and restored into a store that
 * came back empty (its marker llmgw_ckpt_marker_key absent) by adding each
 * value with an atomic increment, whose `initial` is the value too: a
 * counter that requests re-created since the restart keeps their counts. */
#define LLMGW_CKPT_PERIOD 5

/* A workspace's monthly counters, NULL-terminated. */
extern const char *const llmgw_ckpt_ws_counters[];
/* A model's monthly counters: llmgw_admin_model_counter's `what`s. */
extern const char *const llmgw_ckpt_model_what[];

/* Whether a counter name (as stored in the checkpoint table) is one of the
 * above: what a restore may write into the store. */
int llmgw_ckpt_counter_ok(const char *counter);

/* The entry a child records when a request touched a workspace's month
 * (and, model_prefix not NULL, a model's counters:
 * llmgw_admin_model_counter(p, provider, model, "")). */
const char *llmgw_ckpt_entry(apr_pool_t *p, const char *workspace,
                             apr_int64_t period, const char *model_prefix);

/* The workspace, month start (Unix s) and counter names of an entry; 0, or
 * -1 when it is malformed. */
int llmgw_ckpt_entry_counters(apr_pool_t *p, const char *entry,
                              const char **workspace, apr_int64_t *period,
                              apr_array_header_t **counters);

/* The value a checkpoint row keeps when `incoming` is written over
 * `stored` (the SQL upsert does the same). */
apr_int64_t llmgw_ckpt_merge(apr_int64_t stored, apr_int64_t incoming);

/* One checkpoint row read back: columns workspace_id, counter, value. */
typedef struct llmgw_ckpt_row {
    const char *workspace;
    const char *counter;
    apr_int64_t value;
} llmgw_ckpt_row_t;

/* 0, or -1 when a row is not one a restore may use. */
int llmgw_ckpt_row(const char *const *cols, llmgw_ckpt_row_t *row);

/* "llmgw:q:restored:<month start>": present while the store holds the
 * month's counters (set by the restore, or at the first check). */
const char *llmgw_ckpt_marker_key(apr_pool_t *p, apr_int64_t period);

/* ------------------------------------------------------------ schema */

typedef enum {
    LLMGW_SQL_SQLITE = 0,
    LLMGW_SQL_PGSQL
} llmgw_sql_dialect_e;

/* The dialect of an apr_dbd driver name ("sqlite3", "pgsql"); -1 other. */
int llmgw_sql_dialect(const char *driver_name);

/* The schema version this code writes. */
#define LLMGW_SCHEMA_VERSION 3

/* The statements that migrate a database of schema version `from` (0: no
 * table yet) to `from + 1`, NULL-terminated; NULL when `from` is the
 * current version. The last statement records the new version. */
const char *const *llmgw_schema_step(llmgw_sql_dialect_e d, int from);

/* Statements run before (lock) and after (unlock) a migration, so that
 * processes and nodes migrating at once do it one at a time. */
const char *llmgw_schema_lock(llmgw_sql_dialect_e d);
const char *llmgw_schema_unlock(llmgw_sql_dialect_e d);

#endif
