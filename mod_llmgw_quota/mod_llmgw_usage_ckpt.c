/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * mod_llmgw_usage_ckpt.c — the month's counters survive a store that comes
 * back empty (a memcached restart): with the management API's database,
 * a thread per child checkpoints them and restores them.
 *
 * Request path: quota_completed records, in a per-child set under a thread
 * mutex (memory work only), which workspace (and model) a request counted
 * in; nothing else. The thread, every second and when a request saw its
 * month counter created:
 *  - restore: when the month's marker key is absent from the store and the
 *    database holds a checkpoint of the month, the one process (of every
 *    node) whose `add` of the marker succeeds adds each checkpointed value
 *    to its counter with an atomic increment whose `initial` is the value
 *    as well: what requests counted since the restart is kept, the base is
 *    added once. Every child reads the marker each second, so memcached's
 *    LRU never evicts it before the counters.
 *  - checkpoint, every LLMGW_CKPT_PERIOD s: the absolute values of the
 *    touched counters, read from the store, upserted (the larger kept), by
 *    one child of the node at a time (a global mutex that only this thread
 *    takes: a request never waits for it, nor for the database).
 * The last checkpoint is written when the child stops (a pre-cleanup of
 * the child pool, which runs before mod_dbd's and the store's cleanups).
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_thread_mutex.h"
#include "apr_thread_cond.h"
#include "apr_global_mutex.h"
#include "apr_allocator.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "util_mutex.h"
#include "mod_llmgw_quota.h"

APLOG_USE_MODULE(llmgw_quota);

#define CKPT_MUTEX "llmgw-usage-checkpoint"

static struct {
    int enabled;                         /* a database is configured */
    server_rec *s;
    apr_global_mutex_t *gm;              /* one writer per node */
    /* the child's */
    apr_pool_t *root;                    /* the thread's pools' parent */
    apr_thread_mutex_t *mu;              /* dirty, wake, stop */
    apr_thread_cond_t *cond;             /* wakes the thread */
    apr_thread_cond_t *done;             /* a restore check finished */
    apr_uint64_t started, finished;      /* restore checks */
    int finished_ok;                     /* the last one reached its end */
    apr_pool_t *dirty_pool;
    apr_hash_t *dirty;                   /* llmgw_ckpt_entry -> itself */
    int wake, stop;
    apr_thread_t *thread;
} ck;

void ckpt_pre_config(apr_pool_t *pconf)
{
    ap_mutex_register(pconf, CKPT_MUTEX, NULL, APR_LOCK_DEFAULT, 0);
}

int ckpt_post_config(apr_pool_t *pconf, server_rec *s)
{
    server_rec *vs;
    apr_status_t rv;
    ck.enabled = 0;
    ck.s = s;
    if (!adb_available()) {
        return OK;
    }
    for (vs = s; vs; vs = vs->next) {
        quota_server_conf *sc = quota_sconf(vs);
        if (sc->managed == 1 || sc->has_admin_key) {
            ck.enabled = 1;
        }
    }
    if (!ck.enabled) {
        return OK;
    }
    rv = ap_global_mutex_create(&ck.gm, NULL, CKPT_MUTEX, NULL, s, pconf, 0);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "llmgw_quota: cannot "
                     "create the usage checkpoint's mutex");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

void ckpt_note(request_rec *r, const char *workspace, apr_time_t period,
               const char *model_prefix)
{
    const char *e;
    if (!ck.thread) {
        return;
    }
    e = llmgw_ckpt_entry(r->pool, workspace, apr_time_sec(period),
                         model_prefix);
    apr_thread_mutex_lock(ck.mu);
    if (!apr_hash_get(ck.dirty, e, APR_HASH_KEY_STRING)) {
        e = apr_pstrdup(ck.dirty_pool, e);
        apr_hash_set(ck.dirty, e, APR_HASH_KEY_STRING, e);
    }
    apr_thread_mutex_unlock(ck.mu);
}

int ckpt_kick(apr_interval_time_t wait)
{
    apr_time_t until = apr_time_now() + wait;
    apr_uint64_t target;
    int ok = 0;
    if (!ck.thread) {
        return 0;
    }
    apr_thread_mutex_lock(ck.mu);
    for (;;) {
        target = ck.started + 1;         /* a check that starts after this */
        ck.wake = 1;
        apr_thread_cond_signal(ck.cond);
        while (wait > 0 && ck.finished < target && !ck.stop) {
            apr_time_t left = until - apr_time_now();
            if (left <= 0) {
                break;
            }
            /* the mutex is released while waiting: no request waits on
             * I/O holding it */
            apr_thread_cond_timedwait(ck.done, ck.mu, left);
        }
        ok = ck.finished >= target && ck.finished_ok;
        if (ok || ck.stop || wait <= 0
            || until - apr_time_now() <= apr_time_from_msec(50)) {
            break;
        }
        /* the thread's store handle may still be in its retry time after
         * the store came back: ask again a little later */
        apr_thread_mutex_unlock(ck.mu);
        apr_sleep(apr_time_from_msec(50));
        apr_thread_mutex_lock(ck.mu);
    }
    apr_thread_mutex_unlock(ck.mu);
    return ok;
}

static llmgw_window_t month_of(apr_int64_t period)
{
    llmgw_window_t w;
    llmgw_window_at(LLMGW_WIN_MONTH, apr_time_from_sec(period), &w);
    return w;
}

/* The month's marker absent: restore the checkpoint (once, on any node).
 * 0 when the store holds the month (the marker was there, or is now), -1
 * when the store or the database failed. */
static int restore_check(apr_pool_t *tp, llmgw_store_t *st)
{
    llmgw_window_t w;
    apr_int64_t period;
    const char *marker;
    char *val = NULL;
    apr_size_t len = 0;
    apr_array_header_t *rows = NULL;
    ap_dbd_t *db;
    int i, n = 0, bad = 0;

    llmgw_window_at(LLMGW_WIN_MONTH, apr_time_now(), &w);
    period = apr_time_sec(w.start);
    marker = llmgw_ckpt_marker_key(tp, period);
    switch (st->get(st, tp, marker, &val, &len)) {
    case LLMGW_STORE_NOTFOUND:
        break;
    case LLMGW_STORE_OK:
        return 0;
    default:
        return -1;                       /* the store is down */
    }
    if (!(db = adb_open(ck.s, tp))) {
        return -1;                       /* logged; next time */
    }
    bad = adb_select_s(ck.s, tp, db, ADB_CKPT_LIST, &rows, 3,
                       apr_off_t_toa(tp, (apr_off_t)period));
    adb_close(ck.s, db);
    if (bad) {
        return -1;
    }
    switch (st->add(st, marker, "1", 1, w.ttl)) {
    case LLMGW_STORE_OK:
        break;
    case LLMGW_STORE_EXISTS:
        return 0;                        /* another process restores */
    default:
        return -1;
    }
    for (i = 0; i < rows->nelts; i++) {
        const char *const *cols = APR_ARRAY_IDX(rows, i, const char **);
        llmgw_ckpt_row_t row;
        apr_uint64_t res;
        if (llmgw_ckpt_row(cols, &row) || row.value <= 0) {
            continue;
        }
        /* absent: created at the checkpoint's value; present (requests
         * counted since the restart): the value is added to theirs */
        if (st->incr(st, llmgw_counter_key(tp, row.workspace, row.counter,
                                           &w),
                     (apr_uint64_t)row.value, (apr_uint64_t)row.value, w.ttl,
                     &res) != LLMGW_STORE_OK) {
            bad++;
            continue;
        }
        n++;
    }
    if (rows->nelts) {
        ap_log_error(APLOG_MARK, bad ? APLOG_WARNING : APLOG_NOTICE, 0, ck.s,
                     "llmgw_quota: the store had lost this month's counters: "
                     "%d restored from the usage checkpoint%s", n,
                     bad ? " (some could not be written)" : "");
    }
    return 0;
}

/* Writes the touched counters' values; the entries go back to the set
 * when the database cannot be reached. */
static void checkpoint(apr_pool_t *tp, llmgw_store_t *st)
{
    apr_pool_t *old_pool;
    apr_hash_t *old;
    apr_hash_index_t *hi;
    apr_dbd_transaction_t *tx = NULL;
    ap_dbd_t *db;
    const char *now;
    int failed = 0;

    apr_thread_mutex_lock(ck.mu);
    if (!apr_hash_count(ck.dirty)) {
        apr_thread_mutex_unlock(ck.mu);
        return;
    }
    old_pool = ck.dirty_pool;
    old = ck.dirty;
    apr_pool_create(&ck.dirty_pool, ck.root);
    ck.dirty = apr_hash_make(ck.dirty_pool);
    apr_thread_mutex_unlock(ck.mu);

    now = apr_off_t_toa(tp, (apr_off_t)apr_time_sec(apr_time_now()));
    if (ck.gm) {
        apr_global_mutex_lock(ck.gm);
    }
    db = adb_open(ck.s, tp);
    if (!db) {
        failed = 1;
    }
    else {
        apr_dbd_transaction_start(db->driver, tp, db->handle, &tx);
        for (hi = apr_hash_first(tp, old); hi && !failed;
             hi = apr_hash_next(hi)) {
            const char *ws;
            apr_int64_t period;
            apr_array_header_t *ctrs;
            llmgw_window_t w;
            int i;
            if (llmgw_ckpt_entry_counters(tp, apr_hash_this_key(hi), &ws,
                                          &period, &ctrs)) {
                continue;
            }
            w = month_of(period);
            for (i = 0; i < ctrs->nelts && !failed; i++) {
                const char *c = APR_ARRAY_IDX(ctrs, i, const char *);
                char *val = NULL;
                apr_size_t len = 0;
                apr_int64_t v;
                if (st->get(st, tp, llmgw_counter_key(tp, ws, c, &w), &val,
                            &len) != LLMGW_STORE_OK
                    || (v = llmgw_counter_value(val)) < 0) {
                    continue;            /* absent (never counted), or down */
                }
                failed = adb_exec_s(ck.s, tp, db, ADB_CKPT_PUT, NULL, ws,
                                    apr_off_t_toa(tp, (apr_off_t)period), c,
                                    apr_off_t_toa(tp, (apr_off_t)v), now) != 0;
            }
        }
        if (tx) {
            if (failed) {
                apr_dbd_transaction_mode_set(db->driver, tx,
                                             APR_DBD_TRANSACTION_ROLLBACK);
            }
            failed |= apr_dbd_transaction_end(db->driver, tp, tx) != 0;
        }
        adb_close(ck.s, db);
    }
    if (ck.gm) {
        apr_global_mutex_unlock(ck.gm);
    }
    if (failed) {
        /* keep them for the next round */
        apr_thread_mutex_lock(ck.mu);
        for (hi = apr_hash_first(tp, old); hi; hi = apr_hash_next(hi)) {
            const char *e = apr_hash_this_key(hi);
            if (!apr_hash_get(ck.dirty, e, APR_HASH_KEY_STRING)) {
                e = apr_pstrdup(ck.dirty_pool, e);
                apr_hash_set(ck.dirty, e, APR_HASH_KEY_STRING, e);
            }
        }
        apr_thread_mutex_unlock(ck.mu);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ck.s, "llmgw_quota: the "
                     "usage checkpoint could not be written (database); "
                     "retried in %d s", LLMGW_CKPT_PERIOD);
    }
    apr_pool_destroy(old_pool);
}

/* Returns instead of calling apr_thread_exit(): pthread_exit() from this
 * frame (uninstrumented libapr, not declared noreturn) would leave the
 * ASan redzones of its address-taken locals (tp) poisoned on the thread's
 * stack, where ASan's own thread teardown (sigaltstack) then faults and
 * the child dies of SIGSEGV at exit, its report cut off. */
static void *APR_THREAD_FUNC ckpt_thread(apr_thread_t *t, void *data)
{
    apr_time_t last = apr_time_now();
    apr_pool_t *tp;
    int stop = 0, ok;
    (void)t; (void)data;

    apr_pool_create(&tp, ck.root);
    while (!stop) {
        llmgw_store_t *st;
        apr_uint64_t gen;
        apr_thread_mutex_lock(ck.mu);
        if (!ck.stop && !ck.wake) {
            apr_thread_cond_timedwait(ck.cond, ck.mu, apr_time_from_sec(1));
        }
        ck.wake = 0;
        stop = ck.stop;
        gen = ++ck.started;
        apr_thread_mutex_unlock(ck.mu);

        st = llmgw_q_get_store ? llmgw_q_get_store(ck.s) : NULL;
        ok = st && !stop && restore_check(tp, st) == 0;
        apr_thread_mutex_lock(ck.mu);
        ck.finished = gen;
        ck.finished_ok = ok;
        apr_thread_cond_broadcast(ck.done);
        apr_thread_mutex_unlock(ck.mu);
        if (!st) {
            continue;
        }
        if (stop || apr_time_now() - last
                        >= apr_time_from_sec(LLMGW_CKPT_PERIOD)) {
            last = apr_time_now();
            checkpoint(tp, st);
        }
        apr_pool_clear(tp);
    }
    apr_pool_destroy(tp);
    return NULL;
}

/* A pre-cleanup of the child pool: runs before its subpools and its
 * cleanups (mod_dbd's connections, the store) are destroyed. */
static apr_status_t ckpt_stop(void *data)
{
    apr_status_t rv;
    (void)data;
    if (!ck.thread) {
        return APR_SUCCESS;
    }
    apr_thread_mutex_lock(ck.mu);
    ck.stop = 1;
    apr_thread_cond_signal(ck.cond);
    apr_thread_cond_broadcast(ck.done);
    apr_thread_mutex_unlock(ck.mu);
    apr_thread_join(&rv, ck.thread);
    ck.thread = NULL;
    return APR_SUCCESS;
}

void ckpt_child_init(apr_pool_t *p, server_rec *s)
{
    apr_allocator_t *alloc;
    apr_thread_mutex_t *amu;
    sigset_t all, old;
    apr_status_t rv;
    ck.thread = NULL;
    ck.stop = ck.wake = 0;
    if (!ck.enabled) {
        return;
    }
    if (ck.gm) {
        rv = apr_global_mutex_child_init(&ck.gm,
                                         apr_global_mutex_lockfile(ck.gm), p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "llmgw_quota: the "
                         "usage checkpoint's mutex");
            return;
        }
    }
    /* its own allocator, with a mutex: request threads allocate from the
     * set's pool while the thread makes and destroys pools of it */
    if (apr_allocator_create(&alloc) != APR_SUCCESS
        || apr_thread_mutex_create(&amu, APR_THREAD_MUTEX_DEFAULT, p)
           != APR_SUCCESS
        || apr_pool_create_ex(&ck.root, p, NULL, alloc) != APR_SUCCESS) {
        return;
    }
    apr_allocator_mutex_set(alloc, amu);
    apr_allocator_owner_set(alloc, ck.root);
    apr_thread_mutex_create(&ck.mu, APR_THREAD_MUTEX_DEFAULT, ck.root);
    apr_thread_cond_create(&ck.cond, ck.root);
    apr_thread_cond_create(&ck.done, ck.root);
    ck.started = ck.finished = 0;
    apr_pool_create(&ck.dirty_pool, ck.root);
    ck.dirty = apr_hash_make(ck.dirty_pool);
    apr_pool_pre_cleanup_register(p, NULL, ckpt_stop);
    /* The thread starts with every signal blocked: the MPM's SIGTERM
     * handler destroys the child pool, whose cleanup joins this thread,
     * and must never run on it (it would destroy the pools under it). */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rv = apr_thread_create(&ck.thread, NULL, ckpt_thread, NULL, ck.root);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv != APR_SUCCESS) {
        ck.thread = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "llmgw_quota: cannot start "
                     "the usage checkpoint thread: this child's counts are "
                     "not checkpointed");
    }
}
