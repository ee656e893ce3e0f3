/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * mod_llmgw_admin_keys.c — managed keys (made with the management API) on
 * the request path, without waiting on the database.
 *
 * Each child keeps the keys it has seen (and the unknown digests it was
 * asked about) in a cache keyed by the SHA-256 of the secret, with the
 * key's workspace, policy and sealed provider keys. Every change made
 * through the API raises a generation counter in the shared store
 * (llmgw:admin:generation, an atomic incr); each child reads that counter
 * at most every 200 ms and empties its cache when it moved, so a change on
 * any node reaches every node sharing the store within a second. A request
 * with a cached key costs a hash lookup under a mutex (and, at most five
 * times a second per child, one store read). While the store is
 * unreachable, nothing cached is trusted for more than a second: the
 * database decides.
 */
#include <string.h>

#include "httpd.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "http_log.h"
#include "mod_llmgw_quota.h"

APLOG_USE_MODULE(llmgw_quota);

#define GEN_KEY            "llmgw:admin:generation"
#define GEN_CHECK_INTERVAL apr_time_from_msec(200)
#define STALE_MAX          apr_time_from_sec(1)
#define CACHE_MAX          10000
#define MODELS_SEEN_MAX    5000

typedef struct cache_entry {
    int known;                           /* 0: no key has this digest */
    managed_key_t mk;
} cache_entry_t;

static apr_thread_mutex_t *mk_mutex;
static apr_pool_t *mk_pool;              /* the entries; cleared on flush */
static apr_hash_t *mk_cache;             /* digest (32 bytes) -> entry */
static unsigned int mk_count;
static apr_uint64_t mk_epoch;            /* +1 at every flush */
static apr_int64_t mk_gen;
static int mk_gen_known;
static apr_time_t mk_checked;            /* last read of the generation */
static apr_time_t mk_validated;          /* last time it confirmed the cache */

static apr_pool_t *mm_pool;              /* models noted for billing */
static apr_hash_t *mm_seen;

void managed_child_init(apr_pool_t *p, server_rec *s)
{
    (void)s;
    apr_thread_mutex_create(&mk_mutex, APR_THREAD_MUTEX_DEFAULT, p);
    apr_pool_create(&mk_pool, p);
    mk_cache = apr_hash_make(mk_pool);
    apr_pool_create(&mm_pool, p);
    mm_seen = apr_hash_make(mm_pool);
    adb_child_init(p);
}

static void lock(void)
{
    if (mk_mutex) {
        apr_thread_mutex_lock(mk_mutex);
    }
}

static void unlock(void)
{
    if (mk_mutex) {
        apr_thread_mutex_unlock(mk_mutex);
    }
}

/* Under the mutex. */
static void flush(void)
{
    apr_pool_clear(mk_pool);
    mk_cache = apr_hash_make(mk_pool);
    mk_count = 0;
    mk_epoch++;
}

/* ------------------------------------------------------------ copies */

static apr_array_header_t *strs_copy(apr_pool_t *p,
                                     const apr_array_header_t *a)
{
    apr_array_header_t *c;
    int i;
    if (!a) {
        return NULL;
    }
    c = apr_array_make(p, a->nelts + 1, sizeof(const char *));
    for (i = 0; i < a->nelts; i++) {
        APR_ARRAY_PUSH(c, const char *) =
            apr_pstrdup(p, APR_ARRAY_IDX(a, i, const char *));
    }
    return c;
}

static void mk_copy(apr_pool_t *p, managed_key_t *dst,
                    const managed_key_t *src)
{
    int i;
    *dst = *src;
    dst->key.id = apr_pstrdup(p, src->key.id);
    dst->key.workspace = apr_pstrdup(p, src->key.workspace);
    dst->key.name = apr_pstrdup(p, src->key.name);
    dst->key.role = apr_pstrdup(p, src->key.role);
    dst->key.prefix = apr_pstrdup(p, src->key.prefix);
    dst->key.models = strs_copy(p, src->key.models);
    dst->ws.id = apr_pstrdup(p, src->ws.id);
    dst->ws.name = apr_pstrdup(p, src->ws.name);
    dst->ws.plan = apr_pstrdup(p, src->ws.plan);
    dst->ws.status = apr_pstrdup(p, src->ws.status);
    /* policy strings are static */
    dst->pkeys = apr_array_make(p, src->pkeys ? src->pkeys->nelts : 1,
                                sizeof(managed_pkey_t));
    for (i = 0; src->pkeys && i < src->pkeys->nelts; i++) {
        managed_pkey_t *k = &APR_ARRAY_IDX(src->pkeys, i, managed_pkey_t);
        managed_pkey_t *c = apr_array_push(dst->pkeys);
        c->provider = apr_pstrdup(p, k->provider);
        c->sealed = apr_pstrdup(p, k->sealed);
    }
}

/* ------------------------------------------------------------ rows */

static apr_int64_t num(const char *s)
{
    return s && *s ? apr_atoi64(s) : -1;
}

void managed_key_row(apr_pool_t *p, const char **c, llmgw_admin_key_t *k)
{
    memset(k, 0, sizeof(*k));
    k->id = c[0];
    k->workspace = c[1];
    k->name = c[2] ? c[2] : "";
    k->role = c[3] && !strcmp(c[3], "admin") ? "admin" : "member";
    if (llmgw_admin_models_parse(p, c[4], &k->models)) {
        /* unreadable: no model rather than any */
        k->models = apr_array_make(p, 1, sizeof(const char *));
    }
    k->prefix = c[5] ? c[5] : "";
    k->created_at = num(c[6]);
    k->expires_at = num(c[7]);
    k->revoked_at = num(c[8]);
}

void managed_ws_row(const char **c, llmgw_admin_ws_t *ws)
{
    ws->id = c[0];
    ws->name = c[1] ? c[1] : "";
    ws->plan = c[2] ? c[2] : "";
    ws->status = c[3] && !strcmp(c[3], "suspended") ? "suspended" : "active";
    ws->created_at = num(c[4]);
}

const char *managed_pkey_aad(apr_pool_t *p, const char *workspace,
                             const char *provider)
{
    return apr_pstrcat(p, "llmgw-provider-key\n", workspace, "\n", provider,
                       NULL);
}

int managed_load_workspace_extras(request_rec *r, ap_dbd_t *db,
                                  managed_key_t *mk)
{
    apr_array_header_t *rows;
    int i;

    llmgw_policy_default(&mk->policy);
    if (adb_select(r, db, ADB_POLICY_GET, &rows, 1, mk->ws.id)) {
        return -1;
    }
    if (rows->nelts
        && llmgw_policy_parse(r->pool,
                              APR_ARRAY_IDX(rows, 0, const char **)[0],
                              &mk->policy)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "llmgw_admin: the "
                      "stored policy of workspace %s is unreadable; none "
                      "applies", mk->ws.id);
    }
    if (adb_select(r, db, ADB_PKEY_LIST, &rows, 4, mk->ws.id)) {
        return -1;
    }
    mk->pkeys = apr_array_make(r->pool, rows->nelts + 1,
                               sizeof(managed_pkey_t));
    for (i = 0; i < rows->nelts; i++) {
        const char **c = APR_ARRAY_IDX(rows, i, const char **);
        managed_pkey_t *k = apr_array_push(mk->pkeys);
        k->provider = c[0];
        k->sealed = c[1];
    }
    return 0;
}

/* ------------------------------------------------------------ generation */

static void gen_check(request_rec *r)
{
    apr_time_t now = apr_time_now();
    llmgw_store_t *st;
    llmgw_store_status_e rv = LLMGW_STORE_ERROR;
    char *val = NULL;
    apr_size_t len = 0;
    apr_int64_t g = 0;
    int due;

    lock();
    due = now - mk_checked >= GEN_CHECK_INTERVAL;
    if (due) {
        mk_checked = now;
    }
    unlock();
    if (!due) {
        return;
    }
    st = llmgw_q_get_store(r->server);
    if (st) {
        rv = st->get(st, r->pool, GEN_KEY, &val, &len);
    }
    if (rv == LLMGW_STORE_OK && (g = llmgw_counter_value(val)) < 0) {
        rv = LLMGW_STORE_ERROR;
    }
    lock();
    if (rv == LLMGW_STORE_OK || rv == LLMGW_STORE_NOTFOUND) {
        if (!mk_gen_known || g != mk_gen) {
            flush();
            mk_gen = g;
            mk_gen_known = 1;
        }
        mk_validated = now;
    }
    else if (now - mk_validated > STALE_MAX) {
        flush();
        mk_gen_known = 0;
    }
    unlock();
}

void managed_changed(request_rec *r)
{
    llmgw_store_t *st = llmgw_q_get_store(r->server);
    apr_uint64_t v = 0;
    int ok = 0;
    if (st) {
        /* created at a time-based value: a store that lost the counter
         * never comes back to a value a cache was built at */
        ok = st->incr(st, GEN_KEY, 1, (apr_uint64_t)apr_time_now(), 0, &v)
             == LLMGW_STORE_OK;
    }
    if (!ok) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "llmgw_admin: cannot "
                      "raise the generation counter in the store: other "
                      "processes and nodes see the change within a second "
                      "of the store's return");
    }
    lock();
    flush();
    if (ok) {
        mk_gen = (apr_int64_t)v;
        mk_gen_known = 1;
        mk_validated = apr_time_now();
    }
    unlock();
}

/* ------------------------------------------------------------ lookup */

static void cache_put(const unsigned char *digest, apr_uint64_t epoch,
                      const managed_key_t *mk)
{
    cache_entry_t *e;
    lock();
    if (epoch == mk_epoch) {            /* no change since the read began */
        if (mk_count >= CACHE_MAX) {
            flush();
        }
        e = apr_pcalloc(mk_pool, sizeof(*e));
        if (mk) {
            e->known = 1;
            mk_copy(mk_pool, &e->mk, mk);
        }
        apr_hash_set(mk_cache, apr_pmemdup(mk_pool, digest, LLMGW_DIGEST_LEN),
                     LLMGW_DIGEST_LEN, e);
        mk_count++;
    }
    unlock();
}

mk_status_e managed_lookup(request_rec *r,
                           const unsigned char digest[LLMGW_DIGEST_LEN],
                           managed_key_t **out)
{
    cache_entry_t *e;
    apr_uint64_t epoch;
    int known = 0;
    ap_dbd_t *db;
    apr_array_header_t *rows;
    managed_key_t *mk;
    char hex[2 * LLMGW_DIGEST_LEN + 1];
    const char **c;

    gen_check(r);
    mk = apr_pcalloc(r->pool, sizeof(*mk));
    lock();
    e = apr_hash_get(mk_cache, digest, LLMGW_DIGEST_LEN);
    if (e && (known = e->known)) {
        mk_copy(r->pool, mk, &e->mk);
    }
    epoch = mk_epoch;
    unlock();
    if (e) {
        *out = known ? mk : NULL;
        return known ? MK_FOUND : MK_UNKNOWN;
    }

    if (!(db = adb_acquire(r))) {
        return MK_ERROR;
    }
    llmgw_hex(digest, LLMGW_DIGEST_LEN, hex);
    if (adb_select(r, db, ADB_KEY_AUTH, &rows, 13, hex)) {
        return MK_ERROR;
    }
    if (!rows->nelts) {
        cache_put(digest, epoch, NULL);
        return MK_UNKNOWN;
    }
    c = APR_ARRAY_IDX(rows, 0, const char **);
    managed_key_row(r->pool, c, &mk->key);
    mk->ws.id = mk->key.workspace;
    mk->ws.name = c[9] ? c[9] : "";
    mk->ws.plan = c[10] ? c[10] : "";
    mk->ws.status = c[11] && !strcmp(c[11], "suspended") ? "suspended"
                                                         : "active";
    mk->ws.created_at = num(c[12]);
    if (managed_load_workspace_extras(r, db, mk)) {
        return MK_ERROR;
    }
    cache_put(digest, epoch, mk);
    *out = mk;
    return MK_FOUND;
}

apr_hash_t *managed_provider_keys(request_rec *r, const managed_key_t *mk)
{
    quota_server_conf *sc = quota_sconf(r->server);
    apr_hash_t *h = NULL;
    int i;

    if (!mk->pkeys || !mk->pkeys->nelts) {
        return NULL;
    }
    if (!sc->has_secret) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "llmgw_admin: "
                      "workspace %s has stored provider keys but no "
                      "LLMGWSecretKeyFile is set: they are not used",
                      mk->ws.id);
        return NULL;
    }
    for (i = 0; i < mk->pkeys->nelts; i++) {
        managed_pkey_t *k = &APR_ARRAY_IDX(mk->pkeys, i, managed_pkey_t);
        const char *plain = llmgw_secret_open(
            r->pool, sc->secret, managed_pkey_aad(r->pool, mk->ws.id,
                                                  k->provider), k->sealed);
        if (!plain) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "llmgw_admin: the "
                          "stored key of provider %s of workspace %s does "
                          "not decrypt with LLMGWSecretKeyFile (another "
                          "secret key?)", k->provider, mk->ws.id);
            continue;
        }
        if (!h) {
            h = apr_hash_make(r->pool);
        }
        apr_hash_set(h, k->provider, APR_HASH_KEY_STRING, plain);
    }
    return h;
}

void managed_note_model(request_rec *r, const char *workspace,
                        apr_time_t period_start, const char *provider,
                        const char *model)
{
    const char *period = apr_off_t_toa(r->pool,
                                       (apr_off_t)apr_time_sec(period_start));
    const char *id = apr_pstrcat(r->pool, workspace, "\n", period, "\n",
                                 provider, "\n", model, NULL);
    ap_dbd_t *db;
    int seen;

    lock();
    seen = apr_hash_get(mm_seen, id, APR_HASH_KEY_STRING) != NULL;
    unlock();
    if (seen || !(db = adb_acquire(r))
        || adb_exec(r, db, ADB_MODEL_ADD, NULL, workspace, period, provider,
                    model)) {
        return;
    }
    lock();
    if (apr_hash_count(mm_seen) >= MODELS_SEEN_MAX) {
        apr_pool_clear(mm_pool);
        mm_seen = apr_hash_make(mm_pool);
    }
    id = apr_pstrdup(mm_pool, id);
    apr_hash_set(mm_seen, id, APR_HASH_KEY_STRING, id);
    unlock();
}
