/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * test_store.c — the LLMGWStore parser and the backend registry, the shm
 * store and the memcached store (against a real memcached this test starts
 * on a free port).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_time.h>

#include "llmgw_test.h"
#include "llmgw_store_backends.h"

/* ---- LLMGWStore parser and the registry ------------------------------ */

#define SHM_SIZE(s)  (((const llmgw_shm_conf_t *)(s).conf)->size)
#define MC_CONF(s)   ((const llmgw_memcached_conf_t *)(s).conf)

static void expect_bad(const char *spec)
{
    llmgw_store_spec_t s;
    const char *err = NULL;

    ck_assert_msg(llmgw_store_spec_parse(tp, spec, &s, &err) == APR_EINVAL,
                  "'%s' should be rejected", spec ? spec : "(null)");
    ck_assert_msg(err && *err, "'%s': no error message", spec ? spec : "");
}

START_TEST(spec_shm)
{
    llmgw_store_spec_t s;
    const char *err;

    ck_assert_int_eq(llmgw_store_spec_parse(tp, "shm", &s, &err), APR_SUCCESS);
    ck_assert_str_eq(s.backend->scheme, "shm");
    ck_assert_str_eq(s.arg, "shm");
    ck_assert_uint_eq(SHM_SIZE(s), 64u * 1024 * 1024);
    ck_assert_int_eq(llmgw_store_spec_parse(tp, "shm:1M", &s, &err), APR_SUCCESS);
    ck_assert_uint_eq(SHM_SIZE(s), 1024u * 1024);
    ck_assert_int_eq(llmgw_store_spec_parse(tp, "SHM:2g", &s, &err), APR_SUCCESS);
    ck_assert_uint_eq(SHM_SIZE(s), (apr_size_t)2 * 1024 * 1024 * 1024);
    ck_assert_int_eq(llmgw_store_spec_parse(tp, "shm:2048k", &s, &err), APR_SUCCESS);
    ck_assert_uint_eq(SHM_SIZE(s), 2048u * 1024);
    ck_assert_int_eq(llmgw_store_spec_parse(tp, "shm:3000000", &s, &err), APR_SUCCESS);
    ck_assert_uint_eq(SHM_SIZE(s), 3000000u);

    expect_bad(NULL);
    expect_bad("");
    expect_bad("shm:");
    expect_bad("shm:abc");
    expect_bad("shm:10X");
    expect_bad("shm:10MB");
    expect_bad("shm:512K");         /* below 1M */
    expect_bad("shm:1048575");
    expect_bad("shm:-5M");
    expect_bad("shm:99999999999999999999999G");
    expect_bad("shm:100000G");
    expect_bad("shmem");
    expect_bad("redis://127.0.0.1:6379");
}
END_TEST

START_TEST(spec_memcached)
{
    llmgw_store_spec_t s;
    const char *err;
    char *many;
    int i;

    ck_assert_int_eq(llmgw_store_spec_parse(tp, "memcached://127.0.0.1:11311",
                                            &s, &err), APR_SUCCESS);
    ck_assert_str_eq(s.backend->scheme, "memcached");
    ck_assert_int_eq(MC_CONF(s)->nservers, 1);
    ck_assert_str_eq(MC_CONF(s)->servers[0].host, "127.0.0.1");
    ck_assert_int_eq(MC_CONF(s)->servers[0].port, 11311);

    ck_assert_int_eq(llmgw_store_spec_parse(tp,
        "memcached://mc-1.example.org,mc_2:1,[::1]:65535,[fe80::1%eth0]",
        &s, &err), APR_SUCCESS);
    ck_assert_int_eq(MC_CONF(s)->nservers, 4);
    ck_assert_str_eq(MC_CONF(s)->servers[0].host, "mc-1.example.org");
    ck_assert_int_eq(MC_CONF(s)->servers[0].port, 11211);
    ck_assert_str_eq(MC_CONF(s)->servers[1].host, "mc_2");
    ck_assert_int_eq(MC_CONF(s)->servers[1].port, 1);
    ck_assert_str_eq(MC_CONF(s)->servers[2].host, "::1");
    ck_assert_int_eq(MC_CONF(s)->servers[2].port, 65535);
    ck_assert_str_eq(MC_CONF(s)->servers[3].host, "fe80::1%eth0");
    ck_assert_int_eq(MC_CONF(s)->servers[3].port, 11211);

    many = "memcached://h0";
    for (i = 1; i < 32; i++)
        many = apr_psprintf(tp, "%s,h%d:%d", many, i, 1000 + i);
    ck_assert_int_eq(llmgw_store_spec_parse(tp, many, &s, &err), APR_SUCCESS);
    ck_assert_int_eq(MC_CONF(s)->nservers, 32);
    ck_assert_str_eq(MC_CONF(s)->servers[31].host, "h31");
    ck_assert_int_eq(MC_CONF(s)->servers[31].port, 1031);
    expect_bad(apr_pstrcat(tp, many, ",h32", NULL));

    expect_bad("memcached://");
    expect_bad("memcached://:11211");
    expect_bad("memcached://host:");
    expect_bad("memcached://host:0");
    expect_bad("memcached://host:65536");
    expect_bad("memcached://host:99999999999");
    expect_bad("memcached://host:12ab");
    expect_bad("memcached://host:-1");
    expect_bad("memcached://a,,b");
    expect_bad("memcached://a,");
    expect_bad(",memcached://a");
    expect_bad("memcached://a b:1");
    expect_bad("memcached://user@host:1");
    expect_bad("memcached://host:1/");
    expect_bad("memcached://[::1");
    expect_bad("memcached://[::1]x");
    expect_bad("memcached://[]:1");
    expect_bad("memcached:/host");
}
END_TEST

/* Backends are found by scheme; an unknown one is named with every form. */
START_TEST(spec_registry)
{
    llmgw_store_spec_t s;
    const char *err;

    ck_assert_ptr_nonnull(llmgw_store_backend_find("shm", 3));
    ck_assert_ptr_eq(llmgw_store_backend_find("MemCached", 9),
                     llmgw_store_backend_find("memcached", 9));
    ck_assert_ptr_null(llmgw_store_backend_find("shm", 2));
    ck_assert_ptr_null(llmgw_store_backend_find("redis", 5));
    ck_assert_ptr_null(llmgw_store_backend_find("", 0));

    ck_assert_int_eq(llmgw_store_spec_parse(tp, "redis://h:6379", &s, &err),
                     APR_EINVAL);
    ck_assert_str_eq(err, "unknown store 'redis://h:6379': use shm[:SIZE] or "
                     "memcached://HOST:PORT[,HOST:PORT...]");
    ck_assert_int_eq(llmgw_store_spec_parse(tp, "", &s, &err), APR_EINVAL);
    ck_assert_str_eq(err, "the store is empty: use shm[:SIZE] or "
                     "memcached://HOST:PORT[,HOST:PORT...]");
    ck_assert_int_eq(llmgw_store_spec_parse(tp, "memcached:/h", &s, &err),
                     APR_EINVAL);
    ck_assert_str_eq(err, "store 'memcached:/h' is not of the form "
                     "memcached://HOST:PORT[,HOST:PORT...]");
    ck_assert_int_eq(llmgw_store_spec_parse(tp, "memcached://a,", &s, &err),
                     APR_EINVAL);
    ck_assert_str_eq(err, "store 'memcached://a,' has an empty server");
    ck_assert_int_eq(llmgw_store_spec_parse(tp, "shm:1x", &s, &err),
                     APR_EINVAL);
    ck_assert_str_eq(err, "shm size '1x' must be a number of bytes with an "
                     "optional K, M or G suffix");
}
END_TEST

START_TEST(status_names)
{
    ck_assert_str_eq(llmgw_store_status_str(LLMGW_STORE_OK), "ok");
    ck_assert_str_eq(llmgw_store_status_str(LLMGW_STORE_NOTFOUND), "not found");
    ck_assert_str_eq(llmgw_store_status_str(LLMGW_STORE_EXISTS), "exists");
    ck_assert_str_eq(llmgw_store_status_str(LLMGW_STORE_TOOBIG), "too big");
    ck_assert_str_eq(llmgw_store_status_str(LLMGW_STORE_ERROR), "error");
}
END_TEST

/* ---- semantics shared by both backends -------------------------------- */

static void expect_val(llmgw_store_t *st, const char *key, const char *want,
                       apr_size_t wlen)
{
    char *v = NULL;
    apr_size_t len = 0;
    llmgw_store_status_e rc = st->get(st, tp, key, &v, &len);

    ck_assert_msg(rc == LLMGW_STORE_OK, "%s get '%.60s': %s", st->kind, key,
                  llmgw_store_status_str(rc));
    ck_assert_uint_eq(len, wlen);
    ck_assert_msg(!memcmp(v, want, wlen), "%s get '%.60s': wrong value",
                  st->kind, key);
    ck_assert_int_eq(v[len], '\0');
}

static void expect_absent(llmgw_store_t *st, const char *key)
{
    char *v = (char *)"x";
    apr_size_t len = 7;
    llmgw_store_status_e rc = st->get(st, tp, key, &v, &len);

    ck_assert_msg(rc == LLMGW_STORE_NOTFOUND, "%s get '%.60s': %s, want "
                  "not found", st->kind, key, llmgw_store_status_str(rc));
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(len, 0);
}

static const char *uniq(const char *name)
{
    static unsigned n;
    return apr_psprintf(tp, "t:%d:%u:%s", (int)getpid(), ++n, name);
}

static void check_basic(llmgw_store_t *st)
{
    const char *k = uniq("basic"), *k2 = uniq("basic2");
    const char *d;

    expect_absent(st, k);
    ck_assert_int_eq(st->del(st, k), LLMGW_STORE_NOTFOUND);
    ck_assert_int_eq(st->set(st, k, "hello", 5, 0), LLMGW_STORE_OK);
    expect_val(st, k, "hello", 5);
    ck_assert_int_eq(st->set(st, k, "hi", 2, 0), LLMGW_STORE_OK);
    expect_val(st, k, "hi", 2);
    ck_assert_int_eq(st->add(st, k, "other", 5, 0), LLMGW_STORE_EXISTS);
    expect_val(st, k, "hi", 2);
    ck_assert_int_eq(st->add(st, k2, "first", 5, 60), LLMGW_STORE_OK);
    expect_val(st, k2, "first", 5);
    ck_assert_int_eq(st->del(st, k), LLMGW_STORE_OK);
    expect_absent(st, k);
    ck_assert_int_eq(st->del(st, k), LLMGW_STORE_NOTFOUND);
    ck_assert_int_eq(st->add(st, k, "again", 5, 0), LLMGW_STORE_OK);
    expect_val(st, k, "again", 5);
    /* a monthly TTL (memcached reads > 30 days as a Unix time) */
    ck_assert_int_eq(st->set(st, k, "month", 5, 31 * 86400), LLMGW_STORE_OK);
    expect_val(st, k, "month", 5);
    ck_assert_int_eq(st->health(st, tp, &d), LLMGW_STORE_OK);
    ck_assert_str_eq(d, "ok");
}

static void check_incr(llmgw_store_t *st)
{
    const char *k = uniq("ctr"), *s = uniq("str");
    apr_uint64_t r = 0;
    int i;

    ck_assert_int_eq(st->incr(st, k, 5, 7, 0, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 7);        /* created with the initial value */
    ck_assert_int_eq(st->incr(st, k, 5, 7, 0, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 12);
    expect_val(st, k, "12", 2);
    ck_assert_int_eq(st->incr(st, k, 88, 0, 0, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 100);
    expect_val(st, k, "100", 3);
    ck_assert_int_eq(st->incr(st, k, 0, 0, 0, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 100);
    for (i = 0; i < 50; i++)
        ck_assert_int_eq(st->incr(st, k, 1000000000000ULL, 0, 0, &r),
                         LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 50000000000100ULL);
    expect_val(st, k, "50000000000100", 14);
    /* a counter made by set, as a cache of a number would be */
    ck_assert_int_eq(st->set(st, k, "41", 2, 0), LLMGW_STORE_OK);
    ck_assert_int_eq(st->incr(st, k, 1, 0, 0, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 42);
    ck_assert_int_eq(st->incr(st, k, 1, 0, 0, NULL), LLMGW_STORE_OK);
    expect_val(st, k, "43", 2);
    /* big values */
    ck_assert_int_eq(st->set(st, k, "18446744073709551614", 20, 0),
                     LLMGW_STORE_OK);
    ck_assert_int_eq(st->incr(st, k, 1, 0, 0, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, APR_UINT64_MAX);
    /* not a number: an error, as memcached says */
    ck_assert_int_eq(st->set(st, s, "abc", 3, 0), LLMGW_STORE_OK);
    ck_assert_int_eq(st->incr(st, s, 1, 0, 0, &r), LLMGW_STORE_ERROR);
    expect_val(st, s, "abc", 3);
    ck_assert_int_eq(st->del(st, k), LLMGW_STORE_OK);
    ck_assert_int_eq(st->incr(st, k, 1, 0, 0, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 0);
}

/* A counter's value; memcached pads a decremented value with spaces. */
static apr_uint64_t decr_value(llmgw_store_t *st, const char *key)
{
    char *v;
    apr_size_t len;

    ck_assert_int_eq(st->get(st, tp, key, &v, &len), LLMGW_STORE_OK);
    return (apr_uint64_t)apr_strtoi64(v, NULL, 10);
}

static void check_decr(llmgw_store_t *st)
{
    const char *k = uniq("dctr"), *s = uniq("dstr");
    apr_uint64_t r = 99;

    /* an absent key stays absent */
    ck_assert_int_eq(st->decr(st, k, 1, &r), LLMGW_STORE_NOTFOUND);
    expect_absent(st, k);
    ck_assert_int_eq(st->incr(st, k, 0, 1000, 0, &r), LLMGW_STORE_OK);
    ck_assert_int_eq(st->decr(st, k, 100, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 900);
    ck_assert_uint_eq(decr_value(st, k), 900);
    ck_assert_int_eq(st->decr(st, k, 0, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 900);
    ck_assert_int_eq(st->decr(st, k, 899, NULL), LLMGW_STORE_OK);
    ck_assert_uint_eq(decr_value(st, k), 1);
    /* floored at 0, as memcached does */
    ck_assert_int_eq(st->decr(st, k, 5, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 0);
    ck_assert_uint_eq(decr_value(st, k), 0);
    ck_assert_int_eq(st->incr(st, k, 7, 0, 0, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 7);
    /* a delta over 32 bits */
    ck_assert_int_eq(st->incr(st, k, 5000000000ULL, 0, 0, &r), LLMGW_STORE_OK);
    ck_assert_int_eq(st->decr(st, k, 5000000001ULL, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 6);
    /* not a number: an error */
    ck_assert_int_eq(st->set(st, s, "abc", 3, 0), LLMGW_STORE_OK);
    ck_assert_int_eq(st->decr(st, s, 1, &r), LLMGW_STORE_ERROR);
    ck_assert_int_eq(st->decr(st, "", 1, &r), LLMGW_STORE_ERROR);
}

static void check_binary_and_keys(llmgw_store_t *st)
{
    static const char bin[] = { 'a', '\0', '\xff', '\r', '\n', ' ', '\0', 'z' };
    char longkey[600], longkey2[600];
    const char *k = uniq("bin"), *e = uniq("empty");

    ck_assert_int_eq(st->set(st, k, bin, sizeof(bin), 0), LLMGW_STORE_OK);
    expect_val(st, k, bin, sizeof(bin));
    ck_assert_int_eq(st->set(st, e, NULL, 0, 0), LLMGW_STORE_OK);
    expect_val(st, e, "", 0);
    ck_assert_int_eq(st->add(st, e, "x", 1, 0), LLMGW_STORE_EXISTS);

    /* keys over 250 bytes, alike in their first 500 */
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    memcpy(longkey2, longkey, sizeof(longkey));
    longkey2[550] = 'j';
    ck_assert_int_eq(st->set(st, longkey, "L1", 2, 0), LLMGW_STORE_OK);
    ck_assert_int_eq(st->set(st, longkey2, "L2", 2, 0), LLMGW_STORE_OK);
    expect_val(st, longkey, "L1", 2);
    expect_val(st, longkey2, "L2", 2);
    ck_assert_int_eq(st->del(st, longkey), LLMGW_STORE_OK);
    expect_absent(st, longkey);
    expect_val(st, longkey2, "L2", 2);

    /* exactly 250 bytes: as is */
    longkey[250] = '\0';
    ck_assert_int_eq(st->set(st, longkey, "250", 3, 0), LLMGW_STORE_OK);
    expect_val(st, longkey, "250", 3);

    /* spaces and control characters in keys */
    ck_assert_int_eq(st->set(st, "a key with spaces", "s", 1, 0), LLMGW_STORE_OK);
    ck_assert_int_eq(st->set(st, "a\tkey\x01", "c", 1, 0), LLMGW_STORE_OK);
    expect_val(st, "a key with spaces", "s", 1);
    expect_val(st, "a\tkey\x01", "c", 1);

    /* an empty key is a caller bug: error, never a miss */
    {
        char *v;
        apr_size_t len;
        apr_uint64_t r;
        ck_assert_int_eq(st->get(st, tp, "", &v, &len), LLMGW_STORE_ERROR);
        ck_assert_int_eq(st->set(st, "", "x", 1, 0), LLMGW_STORE_ERROR);
        ck_assert_int_eq(st->incr(st, "", 1, 0, 0, &r), LLMGW_STORE_ERROR);
    }
}

static void check_ttl(llmgw_store_t *st, apr_interval_time_t wait)
{
    const char *a = uniq("ttl-set"), *b = uniq("ttl-add"), *c = uniq("ttl-ctr");
    const char *keep = uniq("ttl-keep");
    apr_uint64_t r;

    ck_assert_int_eq(st->set(st, a, "v", 1, 1), LLMGW_STORE_OK);
    ck_assert_int_eq(st->add(st, b, "v", 1, 1), LLMGW_STORE_OK);
    ck_assert_int_eq(st->incr(st, c, 1, 10, 1, &r), LLMGW_STORE_OK);
    ck_assert_int_eq(st->set(st, keep, "k", 1, 100), LLMGW_STORE_OK);
    expect_val(st, a, "v", 1);
    ck_assert_int_eq(st->add(st, b, "w", 1, 1), LLMGW_STORE_EXISTS);
    ck_assert_int_eq(st->incr(st, c, 1, 10, 1, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 11);
    apr_sleep(wait);
    expect_absent(st, a);
    expect_absent(st, c);
    ck_assert_int_eq(st->add(st, b, "w", 1, 0), LLMGW_STORE_OK);
    expect_val(st, b, "w", 1);
    ck_assert_int_eq(st->incr(st, c, 1, 10, 0, &r), LLMGW_STORE_OK);
    ck_assert_uint_eq(r, 10);
    ck_assert_int_eq(st->del(st, a), LLMGW_STORE_NOTFOUND);
    expect_val(st, keep, "k", 1);
}

/* Several threads incrementing one counter. */
typedef struct {
    llmgw_store_t *st;
    const char *key;
    int n;
    int failures;
} incr_job_t;

static void *APR_THREAD_FUNC incr_thread(apr_thread_t *t, void *data)
{
    incr_job_t *job = data;
    apr_uint64_t r;
    int i;

    /* +2 then -1: the count stays exact only if both are atomic */
    for (i = 0; i < job->n; i++) {
        if (job->st->incr(job->st, job->key, 2, 2, 0, &r) != LLMGW_STORE_OK
            || job->st->decr(job->st, job->key, 1, &r) != LLMGW_STORE_OK)
            job->failures++;
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* Runs nthreads x n increments of key in this process; returns failures. */
static int run_incr_threads(apr_pool_t *p, llmgw_store_t *st, const char *key,
                            int nthreads, int n)
{
    apr_thread_t *th[16];
    incr_job_t jobs[16];
    apr_status_t trv;
    int i, failures = 0;

    for (i = 0; i < nthreads; i++) {
        jobs[i].st = st;
        jobs[i].key = key;
        jobs[i].n = n;
        jobs[i].failures = 0;
        if (apr_thread_create(&th[i], NULL, incr_thread, &jobs[i], p)
            != APR_SUCCESS)
            return -1;
    }
    for (i = 0; i < nthreads; i++) {
        apr_thread_join(&trv, th[i]);
        failures += jobs[i].failures;
    }
    return failures;
}

static apr_uint64_t counter_value(llmgw_store_t *st, const char *key)
{
    char *v;
    apr_size_t len;

    ck_assert_int_eq(st->get(st, tp, key, &v, &len), LLMGW_STORE_OK);
    return apr_strtoi64(v, NULL, 10);
}

/* ---- shm ------------------------------------------------------------- */

static llmgw_store_t *shm_store_new(apr_size_t size, llmgw_shm_t **out)
{
    llmgw_shm_t *shm;

    ck_assert_int_eq(llmgw_shm_create(tp, size, NULL, &shm), APR_SUCCESS);
    ck_assert_int_eq(llmgw_shm_child_init(shm, tp), APR_SUCCESS);
    if (out)
        *out = shm;
    return llmgw_shm_store(tp, shm);
}

START_TEST(shm_basic)
{
    llmgw_store_t *st = shm_store_new(4 * 1024 * 1024, NULL);

    ck_assert_str_eq(st->kind, "shm");
    check_basic(st);
    check_incr(st);
    check_decr(st);
    check_binary_and_keys(st);
}
END_TEST

/* Through the backend's lifecycle: created "before fork", opened in a
 * forked child and in this process, one store for both. */
START_TEST(shm_lifecycle)
{
    llmgw_store_spec_t spec;
    llmgw_store_hints_t hints = { NULL, 4 };
    llmgw_store_t *st;
    void *shared = NULL;
    const char *err;
    pid_t pid;
    int status;

    ck_assert_int_eq(llmgw_store_spec_parse(tp, "shm:2M", &spec, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(spec.backend->create(tp, spec.conf, &hints, &shared),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(shared);
    ck_assert_uint_eq(llmgw_shm_max_item(shared), 2 * 1024 * 1024 / 8);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        apr_pool_t *cp;
        llmgw_store_t *cst;
        apr_pool_create(&cp, NULL);
        if (spec.backend->child_init(cp, spec.conf, shared, &hints, &cst)
            != APR_SUCCESS
            || cst->set(cst, "from-child", "1", 1, 0) != LLMGW_STORE_OK)
            _exit(1);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(spec.backend->child_init(tp, spec.conf, shared, &hints,
                                              &st), APR_SUCCESS);
    ck_assert_str_eq(st->kind, "shm");
    expect_val(st, "from-child", "1", 1);
    check_basic(st);
}
END_TEST

START_TEST(shm_ttl)
{
    check_ttl(shm_store_new(1024 * 1024, NULL), apr_time_from_msec(1100));
}
END_TEST

START_TEST(shm_toobig)
{
    llmgw_shm_t *shm;
    llmgw_store_t *st = shm_store_new(1024 * 1024, &shm);
    apr_size_t max = llmgw_shm_max_item(shm);
    char *big = apr_palloc(tp, 2 * 1024 * 1024);

    ck_assert_uint_eq(max, 128 * 1024);
    memset(big, 'b', 2 * 1024 * 1024);
    ck_assert_int_eq(st->set(st, "big", big, max + 1, 0), LLMGW_STORE_TOOBIG);
    ck_assert_int_eq(st->add(st, "big", big, max + 1, 0), LLMGW_STORE_TOOBIG);
    expect_absent(st, "big");
    big[0] = 'B';
    big[max - 1] = 'E';
    ck_assert_int_eq(st->set(st, "big", big, max, 0), LLMGW_STORE_OK);
    expect_val(st, "big", big, max);

    st = shm_store_new(64 * 1024 * 1024, &shm);
    ck_assert_uint_eq(llmgw_shm_max_item(shm), 1024 * 1024);
    ck_assert_int_eq(st->set(st, "big", big, 1024 * 1024 + 1, 0),
                     LLMGW_STORE_TOOBIG);
    ck_assert_int_eq(st->set(st, "big", big, 1024 * 1024, 0), LLMGW_STORE_OK);
    expect_val(st, "big", big, 1024 * 1024);
}
END_TEST

/* A 1M segment written far past capacity keeps working; the newest
 * entries and a hot counter survive. */
START_TEST(shm_eviction)
{
    llmgw_shm_t *shm;
    llmgw_store_t *st = shm_store_new(1024 * 1024, &shm);
    char val[700], key[64];
    char *bigval = apr_pcalloc(tp, llmgw_shm_max_item(shm));
    apr_uint64_t r;
    int i, n = 20000, present = 0;

    for (i = 0; i < n; i++) {
        apr_size_t len = 100 + (apr_size_t)(i * 7919) % 600;
        snprintf(key, sizeof(key), "fill:%d", i);
        memset(val, 'a' + i % 26, len);
        ck_assert_int_eq(st->set(st, key, val, len, 0), LLMGW_STORE_OK);
        ck_assert_int_eq(st->incr(st, "hot", 1, 1, 0, &r), LLMGW_STORE_OK);
        if (i % 997 == 0)       /* now and then, a big one */
            ck_assert_int_eq(st->set(st, "bigfill", bigval,
                                     llmgw_shm_max_item(shm), 0),
                             LLMGW_STORE_OK);
        if (i % 97 == 0) {      /* and a value read back at once */
            char *v;
            apr_size_t vl;
            ck_assert_int_eq(st->get(st, tp, key, &v, &vl), LLMGW_STORE_OK);
            ck_assert_uint_eq(vl, len);
        }
    }
    ck_assert_uint_eq(r, (apr_uint64_t)n);
    ck_assert_uint_eq(counter_value(st, "hot"), (apr_uint64_t)n);
    expect_absent(st, "fill:0");
    for (i = n - 100; i < n; i++) {
        apr_size_t len = 100 + (apr_size_t)(i * 7919) % 600;
        snprintf(key, sizeof(key), "fill:%d", i);
        memset(val, 'a' + i % 26, len);
        expect_val(st, key, val, len);
    }
    for (i = 0; i < n; i++) {
        char *v;
        apr_size_t vl;
        snprintf(key, sizeof(key), "fill:%d", i);
        if (st->get(st, tp, key, &v, &vl) == LLMGW_STORE_OK)
            present++;
    }
    ck_assert_int_gt(present, 500);     /* most of the arena is in use */

    /* many small counters: the slots, not the bytes, run out */
    for (i = 0; i < 30000; i++) {
        snprintf(key, sizeof(key), "c:%d", i);
        ck_assert_int_eq(st->incr(st, key, 1, 5, 0, &r), LLMGW_STORE_OK);
        ck_assert_uint_eq(r, 5);
    }
    for (i = 30000 - 500; i < 30000; i++) {
        snprintf(key, sizeof(key), "c:%d", i);
        expect_val(st, key, "5", 1);
    }
    expect_absent(st, "c:0");
    check_basic(st);
}
END_TEST

/* Entries survive deletes in long probe runs (backward shift). */
START_TEST(shm_churn)
{
    llmgw_store_t *st = shm_store_new(1024 * 1024, NULL);
    char key[32], val[32];
    int i, round;

    for (round = 0; round < 20; round++) {
        for (i = 0; i < 2000; i++) {
            snprintf(key, sizeof(key), "k%d", i);
            snprintf(val, sizeof(val), "%d.%d", round, i);
            ck_assert_int_eq(st->set(st, key, val, strlen(val), 0),
                             LLMGW_STORE_OK);
        }
        for (i = round % 3; i < 2000; i += 3) {
            snprintf(key, sizeof(key), "k%d", i);
            ck_assert_int_eq(st->del(st, key), LLMGW_STORE_OK);
        }
        for (i = 0; i < 2000; i++) {
            snprintf(key, sizeof(key), "k%d", i);
            snprintf(val, sizeof(val), "%d.%d", round, i);
            if (i % 3 == round % 3)
                expect_absent(st, key);
            else
                expect_val(st, key, val, strlen(val));
        }
    }
}
END_TEST

/* 4 processes x 4 threads x 500 increments = exactly 8000. */
START_TEST(shm_concurrent_incr)
{
    llmgw_shm_t *shm;
    llmgw_store_t *st = shm_store_new(2 * 1024 * 1024, &shm);
    pid_t pids[4];
    int i, status;

    for (i = 0; i < 4; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            apr_pool_t *cp;
            int f;
            apr_pool_create(&cp, NULL);
            if (llmgw_shm_child_init(shm, cp) != APR_SUCCESS)
                _exit(2);
            f = run_incr_threads(cp, llmgw_shm_store(cp, shm), "shared", 4,
                                 500);
            _exit(f == 0 ? 0 : 1);
        }
    }
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d failed (status %d)", i, status);
    }
    ck_assert_uint_eq(counter_value(st, "shared"), 8000);
}
END_TEST

/* ---- memcached ------------------------------------------------------- */

typedef struct {
    pid_t pid;
    int port;
} mc_server_t;

static mc_server_t main_mc = { 0, 0 };
static pid_t main_mc_owner;

static void mc_stop(mc_server_t *srv);

/* Also when Check runs each test in a forked process. */
static void main_mc_atexit(void)
{
    if (main_mc.pid > 0 && getpid() == main_mc_owner)
        mc_stop(&main_mc);
}

static int memcached_on_path(void)
{
    const char *path = getenv("PATH");
    char buf[4096];
    const char *c = path, *e;

    while (c && *c) {
        e = strchr(c, ':');
        if (!e)
            e = c + strlen(c);
        snprintf(buf, sizeof(buf), "%.*s/memcached", (int)(e - c), c);
        if (access(buf, X_OK) == 0)
            return 1;
        c = *e ? e + 1 : e;
    }
    return 0;
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0
        && getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int port_open(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void mc_stop(mc_server_t *srv)
{
    if (srv->pid > 0) {
        kill(srv->pid, SIGTERM);
        waitpid(srv->pid, NULL, 0);
        srv->pid = 0;
    }
}

/* Starts memcached on a free port; 0 when it cannot. */
static int mc_start(mc_server_t *srv)
{
    int attempt, i;

    if (!memcached_on_path())
        return 0;
    for (attempt = 0; attempt < 5; attempt++) {
        char port[16];
        srv->port = free_port();
        if (!srv->port)
            continue;
        snprintf(port, sizeof(port), "%d", srv->port);
        srv->pid = fork();
        if (srv->pid < 0)
            return 0;
        if (srv->pid == 0) {
            int null = open("/dev/null", 0);
            if (null >= 0) {
                dup2(null, 1);
                dup2(null, 2);
            }
            if (geteuid() == 0)
                execlp("memcached", "memcached", "-l", "127.0.0.1", "-p", port,
                       "-U", "0", "-m", "64", "-u", "nobody", (char *)NULL);
            else
                execlp("memcached", "memcached", "-l", "127.0.0.1", "-p", port,
                       "-U", "0", "-m", "64", (char *)NULL);
            _exit(127);
        }
        for (i = 0; i < 300; i++) {         /* up to 3 s */
            if (port_open(srv->port))
                return 1;
            if (waitpid(srv->pid, NULL, WNOHANG) == srv->pid)
                break;
            apr_sleep(apr_time_from_msec(10));
        }
        mc_stop(srv);
    }
    return 0;
}

/* Through the backend's lifecycle, as mod_llmgw runs it in a child. */
static llmgw_store_t *mc_store_new(int port, int max_conns)
{
    llmgw_store_spec_t spec;
    llmgw_store_hints_t hints = { NULL, max_conns };
    llmgw_store_t *st;
    const char *err;

    ck_assert_int_eq(llmgw_store_spec_parse(tp,
        apr_psprintf(tp, "memcached://127.0.0.1:%d", port), &spec, &err),
        APR_SUCCESS);
    ck_assert_ptr_null(spec.backend->create);   /* nothing shared */
    ck_assert_int_eq(spec.backend->child_init(tp, spec.conf, NULL, &hints,
                                              &st), APR_SUCCESS);
    return st;
}

/* The running test memcached (started once); fails without one. */
static llmgw_store_t *mc_store_main(void)
{
    ck_assert_msg(memcached_on_path(), "memcached is not on PATH: install it "
                  "(Debian package memcached)");
    if (main_mc.pid <= 0) {
        ck_assert_msg(mc_start(&main_mc), "cannot start memcached");
        main_mc_owner = getpid();
        atexit(main_mc_atexit);
    }
    return mc_store_new(main_mc.port, 4);
}

START_TEST(mc_basic)
{
    llmgw_store_t *st = mc_store_main();

    ck_assert_str_eq(st->kind, "memcached");
    check_basic(st);
    check_incr(st);
    check_decr(st);
    check_binary_and_keys(st);
}
END_TEST

START_TEST(mc_ttl)
{
    check_ttl(mc_store_main(), apr_time_from_msec(2100));
}
END_TEST

START_TEST(mc_toobig)
{
    llmgw_store_t *st = mc_store_main();
    const char *k = uniq("big");
    apr_size_t n = 2 * 1024 * 1024;
    char *big = apr_palloc(tp, n);

    memset(big, 'x', n);
    ck_assert_int_eq(st->set(st, k, big, n, 0), LLMGW_STORE_TOOBIG);
    expect_absent(st, k);
    ck_assert_int_eq(st->set(st, k, big, 512 * 1024, 0), LLMGW_STORE_OK);
    expect_val(st, k, big, 512 * 1024);
    check_basic(st);    /* the connection is still in step */
}
END_TEST

START_TEST(mc_concurrent_incr)
{
    llmgw_store_t *st = mc_store_main();
    const char *k = uniq("shared");
    llmgw_store_t *st2 = mc_store_new(main_mc.port, 2);
    pid_t pid;
    int status;

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* another "child process" with its own connection pool */
        apr_pool_t *cp;
        llmgw_store_spec_t spec;
        llmgw_memcached_t *mc;
        const char *err;
        int f;
        apr_pool_create(&cp, NULL);
        llmgw_store_spec_parse(cp, apr_psprintf(cp, "memcached://127.0.0.1:%d",
                                                main_mc.port), &spec, &err);
        if (llmgw_memcached_create(cp, spec.conf, 2, &mc) != APR_SUCCESS)
            _exit(2);
        f = run_incr_threads(cp, llmgw_memcached_store(cp, mc), k, 4, 250);
        _exit(f == 0 ? 0 : 1);
    }
    /* 8 threads over a pool of 4, and 4 over a pool of 2 */
    ck_assert_int_eq(run_incr_threads(tp, st, k, 8, 250), 0);
    ck_assert_int_eq(run_incr_threads(tp, st2, k, 4, 250), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child failed (status %d)", status);
    ck_assert_uint_eq(counter_value(st, k), 4000);
}
END_TEST

static void expect_error_fast(llmgw_store_t *st, int round)
{
    apr_time_t t0;
    char *v;
    apr_size_t len;
    apr_uint64_t r;
    const char *d = NULL;
    int op;

    for (op = 0; op < 6; op++) {
        llmgw_store_status_e rc = LLMGW_STORE_OK;
        t0 = apr_time_now();
        switch (op) {
        case 0: rc = st->get(st, tp, "down:k", &v, &len); break;
        case 1: rc = st->set(st, "down:k", "v", 1, 0); break;
        case 2: rc = st->add(st, "down:k", "v", 1, 0); break;
        case 3: rc = st->del(st, "down:k"); break;
        case 4: rc = st->incr(st, "down:k", 1, 0, 0, &r); break;
        case 5: rc = st->health(st, tp, &d); break;
        }
        ck_assert_msg(rc == LLMGW_STORE_ERROR, "round %d op %d: %s, want "
                      "error", round, op, llmgw_store_status_str(rc));
        ck_assert_msg(apr_time_now() - t0 < apr_time_from_sec(1),
                      "round %d op %d took %" APR_TIME_T_FMT " us", round, op,
                      apr_time_now() - t0);
    }
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(!strncmp(d, "error: ", 7), "health detail '%s'", d);
}

/* With memcached stopped, every operation fails fast with an error. */
START_TEST(mc_down)
{
    mc_server_t srv = { 0, 0 };
    llmgw_store_t *st, *never;
    const char *d;
    int round;

    ck_assert_msg(memcached_on_path(), "memcached is not on PATH");
    ck_assert_msg(mc_start(&srv), "cannot start memcached");
    st = mc_store_new(srv.port, 2);
    ck_assert_int_eq(st->set(st, "down:k", "v", 1, 0), LLMGW_STORE_OK);
    expect_val(st, "down:k", "v", 1);
    ck_assert_int_eq(st->health(st, tp, &d), LLMGW_STORE_OK);
    mc_stop(&srv);
    for (round = 0; round < 3; round++)
        expect_error_fast(st, round);

    /* a store whose server never ran */
    never = mc_store_new(free_port(), 2);
    for (round = 0; round < 2; round++)
        expect_error_fast(never, round);
}
END_TEST

/* A server that accepts connections and never answers: each operation
 * times out in under a second with an error (never a miss). */
START_TEST(mc_hung)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    expect_error_fast(mc_store_new(ntohs(a.sin_port), 2), 0);
    close(fd);
}
END_TEST

/* ---- main ------------------------------------------------------------ */

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc;

    tc = ut_tcase(s, "spec", 0);
    tcase_add_test(tc, spec_shm);
    tcase_add_test(tc, spec_memcached);
    tcase_add_test(tc, spec_registry);
    tcase_add_test(tc, status_names);

    tc = ut_tcase(s, "shm", 30);
    tcase_add_test(tc, shm_basic);
    tcase_add_test(tc, shm_lifecycle);
    tcase_add_test(tc, shm_ttl);
    tcase_add_test(tc, shm_toobig);
    tcase_add_test(tc, shm_eviction);
    tcase_add_test(tc, shm_churn);
    tcase_add_test(tc, shm_concurrent_incr);

    tc = ut_tcase(s, "memcached", 30);
    tcase_add_test(tc, mc_basic);
    tcase_add_test(tc, mc_ttl);
    tcase_add_test(tc, mc_toobig);
    tcase_add_test(tc, mc_concurrent_incr);
    tcase_add_test(tc, mc_down);
    tcase_add_test(tc, mc_hung);
    return s;
}

int main(void)
{
    int failed;
    ut_init();
    failed = ut_run(store_suite());
    mc_stop(&main_mc);
    return ut_done(failed);
}
