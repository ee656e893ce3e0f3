/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Exactness of mod_llmgw_quota's admission under concurrency: the real
 * admission (llmgw_admission_run / _settle / _rollback) run by several
 * processes at once against the shared-memory store, as the
 * children of one httpd node do. N concurrent requests against a limit L
 * admit exactly min(N, L), in every window and every combination of
 * windows, and the counters end at exactly what the admitted requests hold
 * (a refusal's give-back is never lost nor taken from another request). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <apr_strings.h>

#include "llmgw_test.h"
#include "llmgw_limits.h"
#include "llmgw_store_backends.h"

#define PROCS   8

static llmgw_shm_t *shm;

typedef struct {
    const llmgw_plan_t *plan;
    const char *ws;
    apr_time_t now;
    apr_int64_t tokens;
    apr_int64_t cost;
    int per_thread;
    llmgw_store_t *st;
    int admitted;
    int cache_only;
    int errors;
    int settle_hit;                      /* settle each admitted as a hit */
} job_t;

static void worker(job_t *j)
{
    int i;
    for (i = 0; i < j->per_thread; i++) {
        apr_pool_t *p;
        llmgw_admission_t a;
        llmgw_decision_t d;
        apr_pool_create_unmanaged_ex(&p, NULL, NULL);
        llmgw_admission_init(p, &a, j->ws, j->now);
        if (llmgw_admission_run(p, j->st, j->plan, &a, j->tokens, j->cost,
                                j->now, &d, NULL) != LLMGW_STORE_OK) {
            j->errors++;
        }
        else if (d.verdict == LLMGW_ADMIT) {
            if (a.cache_only) {
                j->cache_only++;
                if (!j->settle_hit && llmgw_admission_rollback(j->st, &a)) {
                    j->errors++;
                }
            }
            else {
                j->admitted++;
            }
            if (j->settle_hit
                && llmgw_admission_settle(j->st, &a, LLMGW_CHG_MONTH,
                                          j->plan->cache_hit_milli)) {
                j->errors++;
            }
        }
        apr_pool_destroy(p);
    }
}

/* PROCS processes x per_thread requests at once; the totals of
 * admitted and cache-only admissions. */
static void burst(job_t *proto, int *admitted, int *cache_only)
{
    int *shared = mmap(NULL, 3 * PROCS * sizeof(int), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pids[PROCS];
    int i, status;

    ck_assert_ptr_ne(shared, MAP_FAILED);
    memset(shared, 0, 3 * PROCS * sizeof(int));
    for (i = 0; i < PROCS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            apr_pool_t *cp;
            job_t jb = *proto;
            apr_pool_create(&cp, NULL);
            if (llmgw_shm_child_init(shm, cp) != APR_SUCCESS)
                _exit(2);
            jb.st = llmgw_shm_store(cp, shm);
            worker(&jb);
            shared[3 * i] = jb.admitted;
            shared[3 * i + 1] = jb.cache_only;
            shared[3 * i + 2] = jb.errors;
            _exit(0);
        }
    }
    *admitted = *cache_only = 0;
    for (i = 0; i < PROCS; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        *admitted += shared[3 * i];
        *cache_only += shared[3 * i + 1];
        ck_assert_int_eq(shared[3 * i + 2], 0);
    }
    munmap(shared, 3 * PROCS * sizeof(int));
}

static llmgw_plan_t plan_of(const char *line)
{
    char **argv;
    int argc;
    llmgw_plan_t pl;
    apr_tokenize_to_argv(line, &argv, gp);
    for (argc = 0; argv[argc]; argc++)
        ;
    ck_assert_ptr_null(llmgw_plan_parse(gp, argv[0], argc - 1, argv + 1,
                                        &pl));
    return pl;
}

static apr_int64_t counter(const char *ws, const char *ctr,
                           llmgw_window_e kind, apr_time_t now)
{
    llmgw_window_t w;
    llmgw_store_t *st = llmgw_shm_store(gp, shm);
    char *v = NULL;
    apr_size_t len;
    llmgw_window_at(kind, now, &w);
    if (st->get(st, gp, llmgw_counter_key(gp, ws, ctr, &w), &v, &len)
        == LLMGW_STORE_NOTFOUND)
        return 0;
    return llmgw_counter_value(v);
}

static job_t job(const llmgw_plan_t *pl, const char *ws)
{
    job_t j;
    memset(&j, 0, sizeof(j));
    j.plan = pl;
    j.ws = ws;
    j.now = apr_time_now();
    j.per_thread = 50;                   /* 8 x 50 = 400 requests */
    return j;
}

START_TEST(month_exact)
{
    llmgw_plan_t pl = plan_of("p requests_month=50");
    job_t j = job(&pl, "x-month");
    int n, co;
    burst(&j, &n, &co);
    ck_assert_int_eq(n, 50);
    ck_assert_int_eq(co, 0);
    ck_assert_int_eq(counter("x-month", LLMGW_CTR_MONTH, LLMGW_WIN_MONTH,
                             j.now), 50 * LLMGW_MILLI);
}
END_TEST

START_TEST(rpm_rph_exact)
{
    llmgw_plan_t a = plan_of("p rpm=37");
    llmgw_plan_t b = plan_of("p rph=23");
    job_t ja = job(&a, "x-rpm"), jb = job(&b, "x-rph");
    int n, co;
    burst(&ja, &n, &co);
    ck_assert_int_eq(n, 37);
    ck_assert_int_eq(counter("x-rpm", LLMGW_CTR_MINUTE, LLMGW_WIN_MINUTE,
                             ja.now), 37);
    burst(&jb, &n, &co);
    ck_assert_int_eq(n, 23);
    ck_assert_int_eq(counter("x-rph", LLMGW_CTR_HOUR, LLMGW_WIN_HOUR,
                             jb.now), 23);
}
END_TEST

/* rpm admits more than the month has left: the month refuses, and the
 * requests it refused leave nothing on the minute; then the reverse. */
START_TEST(multi_window_exact)
{
    llmgw_plan_t a = plan_of("p requests_month=20 rpm=30 rph=40");
    llmgw_plan_t b = plan_of("p requests_month=60 rpm=30 rph=17 tpm=100000");
    job_t ja = job(&a, "x-multi-a"), jb = job(&b, "x-multi-b");
    int n, co;
    burst(&ja, &n, &co);
    ck_assert_int_eq(n, 20);
    ck_assert_int_eq(counter("x-multi-a", LLMGW_CTR_MONTH, LLMGW_WIN_MONTH,
                             ja.now), 20 * LLMGW_MILLI);
    ck_assert_int_eq(counter("x-multi-a", LLMGW_CTR_MINUTE, LLMGW_WIN_MINUTE,
                             ja.now), 20);
    ck_assert_int_eq(counter("x-multi-a", LLMGW_CTR_HOUR, LLMGW_WIN_HOUR,
                             ja.now), 20);
    jb.tokens = 100;
    burst(&jb, &n, &co);
    ck_assert_int_eq(n, 17);
    ck_assert_int_eq(counter("x-multi-b", LLMGW_CTR_MONTH, LLMGW_WIN_MONTH,
                             jb.now), 17 * LLMGW_MILLI);
    ck_assert_int_eq(counter("x-multi-b", LLMGW_CTR_MINUTE, LLMGW_WIN_MINUTE,
                             jb.now), 17);
    ck_assert_int_eq(counter("x-multi-b", LLMGW_CTR_TOKENS, LLMGW_WIN_MINUTE,
                             jb.now), 1700);
}
END_TEST

START_TEST(tpm_and_budget_exact)
{
    llmgw_plan_t a = plan_of("p tpm=1050");
    llmgw_plan_t b = plan_of("p budget_month_usd=0.5");
    job_t ja = job(&a, "x-tpm"), jb = job(&b, "x-budget");
    int n, co;
    ja.tokens = 100;
    burst(&ja, &n, &co);
    ck_assert_int_eq(n, 10);
    ck_assert_int_eq(counter("x-tpm", LLMGW_CTR_TOKENS, LLMGW_WIN_MINUTE,
                             ja.now), 1000);
    /* 0.1 USD reserved each: admitted while less than the budget was
     * spent or reserved before it, i.e. 0, 0.1 ... 0.4 */
    jb.cost = 100000;
    burst(&jb, &n, &co);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(counter("x-budget", LLMGW_CTR_COST, LLMGW_WIN_MONTH,
                             jb.now), 500000);
}
END_TEST

/* 3.5 requests left of the month with cache_hit_weight=0.1: three full
 * requests, then cache hits only while 0.1 fits: 5 of them (0.5). */
START_TEST(cache_hit_weight_exact)
{
    llmgw_plan_t pl = plan_of("p requests_month=10 cache_hit_weight=0.1");
    job_t j = job(&pl, "x-hit");
    llmgw_window_t w;
    llmgw_store_t *st = llmgw_shm_store(gp, shm);
    apr_uint64_t v;
    int n, co;
    llmgw_window_at(LLMGW_WIN_MONTH, j.now, &w);
    ck_assert_int_eq(st->incr(st, llmgw_counter_key(gp, "x-hit",
                                                    LLMGW_CTR_MONTH, &w),
                              6500, 6500, w.ttl, &v), LLMGW_STORE_OK);
    j.settle_hit = 1;
    burst(&j, &n, &co);
    /* every admitted request is settled as a hit (0.1), so more fit: the
     * total can never pass the quota, and what is left is under 0.1 */
    ck_assert_int_le(counter("x-hit", LLMGW_CTR_MONTH, LLMGW_WIN_MONTH,
                             j.now), 10 * LLMGW_MILLI);
    ck_assert_int_gt(counter("x-hit", LLMGW_CTR_MONTH, LLMGW_WIN_MONTH,
                             j.now), 10 * LLMGW_MILLI - 100);
    ck_assert_int_eq(6500 + (n + co) * 100, 10 * LLMGW_MILLI);
}
END_TEST

static Suite *exact_suite(void)
{
    Suite *s = suite_create("quota_exact");
    TCase *tc = ut_tcase(s, "concurrency", 60);
    tcase_add_test(tc, month_exact);
    tcase_add_test(tc, rpm_rph_exact);
    tcase_add_test(tc, multi_window_exact);
    tcase_add_test(tc, tpm_and_budget_exact);
    tcase_add_test(tc, cache_hit_weight_exact);
    return s;
}

int main(void)
{
    ut_init();
    if (llmgw_shm_create(gp, 4 * 1024 * 1024, NULL, &shm) != APR_SUCCESS
        || llmgw_shm_child_init(shm, gp) != APR_SUCCESS) {
        return EXIT_FAILURE;
    }
    return ut_done(ut_run(exact_suite()));
}
