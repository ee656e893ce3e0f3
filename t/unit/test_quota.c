/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * test_quota.c — the pure core of mod_llmgw_quota: plans, window alignment
 * and boundaries, counter names, key digests, the admission decision,
 * token settlement, cache-hit weight and the header / usage values.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "llmgw_test.h"
#include "llmgw_limits.h"

/* apr_time_t of a civil UTC time plus microseconds */
static apr_time_t utc(int y, int mo, int d, int h, int mi, int s, long usec)
{
    apr_int64_t secs = llmgw_days_from_civil(y, (unsigned)mo, (unsigned)d)
                       + h * 3600 + mi * 60 + s;
    return apr_time_from_sec(secs) + usec;
}

static const char *iso(apr_time_t t)
{
    return llmgw_iso8601(tp, t);
}

static llmgw_plan_t plan_of(const char *line)
{
    char **argv;
    llmgw_plan_t pl;
    const char *err;
    int argc = 0;
    ck_assert_int_eq(apr_tokenize_to_argv(line, &argv, tp), APR_SUCCESS);
    while (argv[argc]) {
        argc++;
    }
    err = llmgw_plan_parse(tp, argv[0], argc - 1, argv + 1, &pl);
    ck_assert_msg(err == NULL, "%s: %s", line, err ? err : "");
    return pl;
}

static const char *plan_err(const char *line)
{
    char **argv;
    llmgw_plan_t pl;
    int argc = 0;
    ck_assert_int_eq(apr_tokenize_to_argv(line, &argv, tp), APR_SUCCESS);
    while (argv[argc]) {
        argc++;
    }
    return llmgw_plan_parse(tp, argv[0], argc - 1, argv + 1, &pl);
}

/* ------------------------------------------------------------ plans */

START_TEST(plans_of_the_seeds)
{
    /* TensorCortex: Free/Starter deny overage, Pro/Scale allow it */
    llmgw_plan_t f = plan_of("free requests_month=25k rpm=10 rph=100 overage=deny cache_hit_weight=0.1");
    llmgw_plan_t s = plan_of("starter requests_month=250000 rpm=30 rph=1000");
    llmgw_plan_t p = plan_of("pro requests_month=1M rpm=100 rph=5000 overage=allow");
    llmgw_plan_t sc = plan_of("scale requests_month=10m rpm=500 rph=50000 overage=allow");

    ck_assert_str_eq(f.name, "free");
    ck_assert_int_eq(f.requests_month, 25000);
    ck_assert_int_eq(f.rpm, 10);
    ck_assert_int_eq(f.rph, 100);
    ck_assert_int_eq(f.tpm, -1);
    ck_assert_int_eq(f.budget_micro_usd, -1);
    ck_assert_int_eq(f.overage_allow, 0);
    ck_assert_int_eq(f.cache_hit_milli, 100);
    ck_assert_int_eq(s.requests_month, 250000);
    ck_assert_int_eq(s.overage_allow, 0);            /* default deny */
    ck_assert_int_eq(s.cache_hit_milli, 100);        /* default 0.1 */
    ck_assert_int_eq(p.requests_month, 1000000);
    ck_assert_int_eq(p.overage_allow, 1);
    ck_assert_int_eq(sc.requests_month, 10000000);
    ck_assert_int_eq(sc.rph, 50000);
}
END_TEST

START_TEST(plan_values_and_errors)
{
    llmgw_plan_t b = plan_of("b tpm=2000 budget_month_usd=12.345678 cache_hit_weight=0.25");
    llmgw_plan_t e = plan_of("empty");
    ck_assert_int_eq(b.tpm, 2000);
    ck_assert_int_eq(b.budget_micro_usd, 12345678);
    ck_assert_int_eq(b.cache_hit_milli, 250);
    ck_assert_int_eq(e.requests_month, -1);
    ck_assert_int_eq(e.rpm, -1);
    ck_assert_int_eq(plan_of("z budget_month_usd=0").budget_micro_usd, 0);
    ck_assert_int_eq(plan_of("z cache_hit_weight=0").cache_hit_milli, 0);
    ck_assert_int_eq(plan_of("z cache_hit_weight=1").cache_hit_milli, 1000);

    ck_assert_ptr_nonnull(plan_err("x rpm=0"));
    ck_assert_ptr_nonnull(plan_err("x rpm=-1"));
    ck_assert_ptr_nonnull(plan_err("x rpm=ten"));
    ck_assert_ptr_nonnull(plan_err("x rpm=10x"));
    ck_assert_ptr_nonnull(plan_err("x rpm="));
    ck_assert_ptr_nonnull(plan_err("x rpm"));
    ck_assert_ptr_nonnull(plan_err("x burst=3"));
    ck_assert_ptr_nonnull(plan_err("x overage=maybe"));
    ck_assert_ptr_nonnull(plan_err("x cache_hit_weight=1.5"));
    ck_assert_ptr_nonnull(plan_err("x cache_hit_weight=-0.1"));
    ck_assert_ptr_nonnull(plan_err("x budget_month_usd=-1"));
    ck_assert_ptr_nonnull(plan_err("x budget_month_usd=abc"));
    ck_assert_ptr_nonnull(plan_err("x requests_month=99999999999999999999"));
    {
        const char *err = plan_err("x burst=3");
        ck_assert_ptr_nonnull(strstr(err, "burst"));
    }
}
END_TEST

/* ------------------------------------------------------------ windows */

START_TEST(minute_boundary)
{
    llmgw_window_t w;
    apr_time_t t = utc(2025, 3, 14, 15, 9, 59, 999000);     /* 59.999 s */
    llmgw_window_at(LLMGW_WIN_MINUTE, t, &w);
    ck_assert_str_eq(iso(w.start), "2025-03-14T15:09:00Z");
    ck_assert_str_eq(iso(w.reset), "2025-03-14T15:10:00Z");
    ck_assert_int_eq(w.secs_to_reset, 1);
    ck_assert_int_eq(w.ttl, 120);

    llmgw_window_at(LLMGW_WIN_MINUTE, t + 1000, &w);         /* 60.000 s */
    ck_assert_str_eq(iso(w.start), "2025-03-14T15:10:00Z");
    ck_assert_str_eq(iso(w.reset), "2025-03-14T15:11:00Z");
    ck_assert_int_eq(w.secs_to_reset, 60);

    llmgw_window_at(LLMGW_WIN_MINUTE, utc(2025, 3, 14, 15, 10, 48, 1), &w);
    ck_assert_int_eq(w.secs_to_reset, 12);                   /* 11.999999 */
    llmgw_window_at(LLMGW_WIN_MINUTE, utc(2025, 3, 14, 15, 10, 48, 0), &w);
    ck_assert_int_eq(w.secs_to_reset, 12);
}
END_TEST

START_TEST(hour_boundary)
{
    llmgw_window_t w;
    llmgw_window_at(LLMGW_WIN_HOUR, utc(2025, 6, 30, 23, 59, 59, 999999), &w);
    ck_assert_str_eq(iso(w.start), "2025-06-30T23:00:00Z");
    ck_assert_str_eq(iso(w.reset), "2025-07-01T00:00:00Z");
    ck_assert_int_eq(w.secs_to_reset, 1);
    llmgw_window_at(LLMGW_WIN_HOUR, utc(2025, 7, 1, 0, 0, 0, 0), &w);
    ck_assert_str_eq(iso(w.start), "2025-07-01T00:00:00Z");
    ck_assert_int_eq(w.secs_to_reset, 3600);
    /* 23:59 -> the next hour starts at midnight */
    llmgw_window_at(LLMGW_WIN_HOUR, utc(2025, 6, 30, 23, 59, 0, 0), &w);
    ck_assert_str_eq(iso(w.reset), "2025-07-01T00:00:00Z");
    ck_assert_int_eq(w.secs_to_reset, 60);
    ck_assert_int_eq(w.ttl, 3900);
}
END_TEST

START_TEST(month_boundary)
{
    llmgw_window_t w;
    /* Dec 31 -> Jan 1 */
    llmgw_window_at(LLMGW_WIN_MONTH, utc(2024, 12, 31, 23, 59, 59, 999000), &w);
    ck_assert_str_eq(iso(w.start), "2024-12-01T00:00:00Z");
    ck_assert_str_eq(iso(w.reset), "2025-01-01T00:00:00Z");
    ck_assert_int_eq(w.secs_to_reset, 1);
    llmgw_window_at(LLMGW_WIN_MONTH, utc(2025, 1, 1, 0, 0, 0, 0), &w);
    ck_assert_str_eq(iso(w.start), "2025-01-01T00:00:00Z");
    ck_assert_str_eq(iso(w.reset), "2025-02-01T00:00:00Z");
    ck_assert_int_eq(w.secs_to_reset, 31 * 86400);
    ck_assert_int_eq(w.ttl, 32 * 86400);

    /* February in leap and common years */
    llmgw_window_at(LLMGW_WIN_MONTH, utc(2024, 2, 29, 12, 0, 0, 0), &w);
    ck_assert_str_eq(iso(w.start), "2024-02-01T00:00:00Z");
    ck_assert_str_eq(iso(w.reset), "2024-03-01T00:00:00Z");
    ck_assert_int_eq((w.reset - w.start) / APR_USEC_PER_SEC, 29 * 86400);
    llmgw_window_at(LLMGW_WIN_MONTH, utc(2023, 2, 28, 23, 59, 59, 0), &w);
    ck_assert_str_eq(iso(w.reset), "2023-03-01T00:00:00Z");
    ck_assert_int_eq((w.reset - w.start) / APR_USEC_PER_SEC, 28 * 86400);
    llmgw_window_at(LLMGW_WIN_MONTH, utc(2100, 2, 15, 0, 0, 0, 0), &w);   /* not leap */
    ck_assert_int_eq((w.reset - w.start) / APR_USEC_PER_SEC, 28 * 86400);
    llmgw_window_at(LLMGW_WIN_MONTH, utc(2000, 2, 15, 0, 0, 0, 0), &w);   /* leap */
    ck_assert_int_eq((w.reset - w.start) / APR_USEC_PER_SEC, 29 * 86400);
    /* Mar 1 of a leap year is a new window */
    llmgw_window_at(LLMGW_WIN_MONTH, utc(2024, 3, 1, 0, 0, 0, 0), &w);
    ck_assert_str_eq(iso(w.start), "2024-03-01T00:00:00Z");
}
END_TEST

START_TEST(civil_dates)
{
    ck_assert_int_eq(llmgw_days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(llmgw_days_from_civil(2000, 3, 1), 951868800);
    ck_assert_str_eq(iso(apr_time_from_sec(1700000000)), "2023-11-14T22:13:20Z");
    ck_assert_str_eq(iso(0), "1970-01-01T00:00:00Z");
}
END_TEST

START_TEST(durations)
{
    ck_assert_str_eq(llmgw_duration(tp, 12), "12s");
    ck_assert_str_eq(llmgw_duration(tp, 1), "1s");
    ck_assert_str_eq(llmgw_duration(tp, 60), "1m0s");
    ck_assert_str_eq(llmgw_duration(tp, 360), "6m0s");
    ck_assert_str_eq(llmgw_duration(tp, 3599), "59m59s");
    ck_assert_str_eq(llmgw_duration(tp, 3600), "1h0m0s");
    ck_assert_str_eq(llmgw_duration(tp, 90061), "25h1m1s");
    ck_assert_str_eq(llmgw_duration(tp, -3), "0s");
}
END_TEST

/* ------------------------------------------------------------ counters */

START_TEST(counter_keys)
{
    llmgw_window_t w;
    llmgw_window_at(LLMGW_WIN_MINUTE, utc(2025, 1, 2, 12, 0, 30, 0), &w);
    ck_assert_str_eq(llmgw_counter_key(tp, "acme", LLMGW_CTR_MINUTE, &w),
                     apr_psprintf(tp, "llmgw:q:acme:minute:%" APR_INT64_T_FMT,
                                  llmgw_days_from_civil(2025, 1, 2) + 12 * 3600));
    llmgw_window_at(LLMGW_WIN_MONTH, utc(2025, 1, 2, 12, 0, 30, 0), &w);
    ck_assert_str_eq(llmgw_counter_key(tp, "a-b.c_d", LLMGW_CTR_MONTH_CREDIT, &w),
                     "llmgw:q:a-b.c_d:month-credit:1735689600");
    ck_assert_int_eq(llmgw_workspace_ok("acme"), 1);
    ck_assert_int_eq(llmgw_workspace_ok("a-b.c_D9"), 1);
    ck_assert_int_eq(llmgw_workspace_ok(""), 0);
    ck_assert_int_eq(llmgw_workspace_ok(NULL), 0);
    ck_assert_int_eq(llmgw_workspace_ok("a b"), 0);
    ck_assert_int_eq(llmgw_workspace_ok("a:b"), 0);
    ck_assert_int_eq(llmgw_workspace_ok(
        "0123456789012345678901234567890123456789012345678901234567890123"), 1);
    ck_assert_int_eq(llmgw_workspace_ok(
        "01234567890123456789012345678901234567890123456789012345678901234"), 0);
    ck_assert_int_eq(llmgw_counter_value("42"), 42);
    ck_assert_int_eq(llmgw_counter_value("42 "), 42);
    ck_assert_int_eq(llmgw_counter_value(NULL), 0);
    ck_assert_int_eq(llmgw_counter_value("x"), -1);
    ck_assert_int_eq(llmgw_counter_value("-4"), -1);
    ck_assert_int_eq(llmgw_counter_value("18446744073709551615"), -1);
}
END_TEST

/* ------------------------------------------------------------ keys */

START_TEST(key_digests)
{
    unsigned char a[LLMGW_DIGEST_LEN], b[LLMGW_DIGEST_LEN];
    /* sha256("abc") */
    const char *hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    ck_assert_int_eq(llmgw_key_digest("abc", a), 0);
    ck_assert_int_eq(llmgw_key_digest(apr_pstrcat(tp, "sha256:", hex, NULL), b), 0);
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
    ck_assert_int_eq(llmgw_key_digest(apr_pstrcat(tp, "sha256:",
        "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
        NULL), b), 0);
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
    ck_assert_int_eq(llmgw_key_digest("", a), -1);
    ck_assert_int_eq(llmgw_key_digest("sha256:abc", a), -1);
    ck_assert_int_eq(llmgw_key_digest(apr_pstrcat(tp, "sha256:", hex, "0", NULL), a), -1);
    ck_assert_int_eq(llmgw_key_digest(
        "sha256:zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", a), -1);
}
END_TEST

START_TEST(key_lookup)
{
    unsigned char all[3 * LLMGW_DIGEST_LEN], d[LLMGW_DIGEST_LEN];
    llmgw_key_digest("key-one", all);
    llmgw_key_digest("key-two", all + LLMGW_DIGEST_LEN);
    llmgw_key_digest("key-three", all + 2 * LLMGW_DIGEST_LEN);
    llmgw_sha256("key-two", 7, d);
    ck_assert_int_eq(llmgw_key_find(all, 3, d), 1);
    llmgw_sha256("key-three", 9, d);
    ck_assert_int_eq(llmgw_key_find(all, 3, d), 2);
    llmgw_sha256("key-one", 7, d);
    ck_assert_int_eq(llmgw_key_find(all, 3, d), 0);
    llmgw_sha256("key-on", 6, d);
    ck_assert_int_eq(llmgw_key_find(all, 3, d), -1);
    ck_assert_int_eq(llmgw_key_find(all, 0, d), -1);
    /* a duplicate: the last one wins (a vhost's key after the server's) */
    memcpy(all + 2 * LLMGW_DIGEST_LEN, all, LLMGW_DIGEST_LEN);
    llmgw_sha256("key-one", 7, d);
    ck_assert_int_eq(llmgw_key_find(all, 3, d), 2);
}
END_TEST

/* ------------------------------------------------------------ decisions */

START_TEST(rpm_exact_limit)
{
    llmgw_plan_t pl = plan_of("p rpm=3");
    llmgw_counters_t c = LLMGW_COUNTERS_INIT;
    llmgw_decision_t d;
    apr_time_t now = utc(2025, 5, 5, 10, 20, 48, 0);
    json_t *det;
    int i, admitted = 0;

    /* increment-then-check: values 1..N are admitted, N+1.. refused */
    for (i = 1; i <= 10; i++) {
        c.minute_requests = i;
        llmgw_decide(tp, &pl, &c, now, &d);
        admitted += d.verdict == LLMGW_ADMIT;
    }
    ck_assert_int_eq(admitted, 3);
    c.minute_requests = 4;
    llmgw_decide(tp, &pl, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_DENY_RPM);
    ck_assert_int_eq(d.status, 429);
    ck_assert_str_eq(d.type, "rate_limit_error");
    ck_assert_str_eq(d.code, "rate_limit_exceeded");
    ck_assert_str_eq(d.window, "minute");
    ck_assert_int_eq(d.limit, 3);
    ck_assert_int_eq(d.retry_after, 12);
    det = llmgw_decision_details(&d);
    ck_assert_int_eq(json_integer_value(json_object_get(det, "limit")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(det, "window")), "minute");
    ck_assert_int_eq(json_integer_value(json_object_get(det, "retry_after_secs")), 12);
    json_decref(det);

    /* the next minute's counter starts again at 1 */
    now = utc(2025, 5, 5, 10, 21, 0, 0);
    c.minute_requests = 1;
    llmgw_decide(tp, &pl, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_ADMIT);
}
END_TEST

START_TEST(rph_and_tpm)
{
    llmgw_plan_t pl = plan_of("p rpm=100 rph=5 tpm=1000");
    llmgw_counters_t c = LLMGW_COUNTERS_INIT;
    llmgw_decision_t d;
    apr_time_t now = utc(2025, 5, 5, 10, 59, 30, 0);

    c.minute_requests = 6;
    c.hour_requests = 6;
    llmgw_decide(tp, &pl, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_DENY_RPH);
    ck_assert_str_eq(d.window, "hour");
    ck_assert_int_eq(d.retry_after, 30);
    ck_assert_int_eq(d.limit, 5);

    c.hour_requests = 5;
    c.minute_tokens = 1000;
    llmgw_decide(tp, &pl, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_ADMIT);          /* exactly tpm */
    c.minute_tokens = 1001;
    llmgw_decide(tp, &pl, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_DENY_TPM);
    ck_assert_int_eq(d.status, 429);
    ck_assert_str_eq(d.window, "minute");
    ck_assert_int_eq(d.limit, 1000);
}
END_TEST

START_TEST(month_quota_and_budget)
{
    llmgw_plan_t deny = plan_of("d requests_month=5 budget_month_usd=2");
    llmgw_plan_t allow = plan_of("a requests_month=5 overage=allow");
    llmgw_counters_t c = LLMGW_COUNTERS_INIT;
    llmgw_decision_t d;
    json_t *det;
    apr_time_t now = utc(2024, 12, 31, 23, 0, 0, 0);

    c.month_milli = 5000;
    llmgw_decide(tp, &deny, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_ADMIT);
    c.month_milli = 5001;
    llmgw_decide(tp, &deny, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_DENY_QUOTA);
    ck_assert_int_eq(d.status, 402);
    ck_assert_str_eq(d.type, "insufficient_quota");
    ck_assert_str_eq(d.code, "quota_exceeded");
    ck_assert_str_eq(d.window, "month");
    ck_assert_int_eq(d.retry_after, 3600);
    ck_assert_ptr_nonnull(strstr(d.message, "2025-01-01T00:00:00Z"));
    llmgw_decide(tp, &allow, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_ADMIT);           /* overage=allow */

    c.month_milli = 1000;
    c.cost_micro = 1999999;
    llmgw_decide(tp, &deny, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_ADMIT);
    c.cost_micro = 2000000;
    llmgw_decide(tp, &deny, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_DENY_BUDGET);
    ck_assert_int_eq(d.status, 402);
    ck_assert_str_eq(d.code, "budget_exceeded");
    det = llmgw_decision_details(&d);
    ck_assert(json_real_value(json_object_get(det, "limit")) == 2.0);
    ck_assert_str_eq(json_string_value(json_object_get(det, "window")), "month");
    json_decref(det);

    /* a budget of 0 refuses from the start */
    {
        llmgw_plan_t z = plan_of("z budget_month_usd=0");
        llmgw_counters_t c0 = LLMGW_COUNTERS_INIT;
        c0.cost_micro = 0;
        llmgw_decide(tp, &z, &c0, now, &d);
        ck_assert_int_eq(d.verdict, LLMGW_DENY_BUDGET);
    }
    /* unknown counters are not checked */
    {
        llmgw_counters_t none = LLMGW_COUNTERS_INIT;
        llmgw_decide(tp, &deny, &none, now, &d);
        ck_assert_int_eq(d.verdict, LLMGW_ADMIT);
        ck_assert_int_eq(d.status, 0);
    }
}
END_TEST

/* Concurrency model: N requests increment the same counter; the store hands
 * each a distinct value 1..N, so exactly `limit` see a value <= limit. The
 * month pair behaves the same when refusals credit their charge back. */
START_TEST(month_exact_with_refunds)
{
    llmgw_plan_t pl = plan_of("p requests_month=25");
    apr_time_t now = utc(2025, 2, 10, 0, 0, 0, 0);
    apr_int64_t charged = 0, credited = 0;
    int i, admitted = 0;
    for (i = 0; i < 40; i++) {
        llmgw_counters_t c = LLMGW_COUNTERS_INIT;
        llmgw_decision_t d;
        charged += LLMGW_MILLI;
        c.month_milli = charged - credited;
        llmgw_decide(tp, &pl, &c, now, &d);
        if (d.verdict == LLMGW_ADMIT) {
            admitted++;
        }
        else {
            credited += LLMGW_MILLI;        /* the refusal is given back */
        }
    }
    ck_assert_int_eq(admitted, 25);
    ck_assert_int_eq(charged - credited, 25 * LLMGW_MILLI);
}
END_TEST

START_TEST(cache_hit_weight)
{
    llmgw_plan_t pl = plan_of("p requests_month=5");
    llmgw_plan_t w0 = plan_of("p requests_month=5 cache_hit_weight=0");
    apr_int64_t charged = 0, credited = 0;
    int i;
    ck_assert_int_eq(llmgw_month_credit(&pl, 1, 200), 900);
    ck_assert_int_eq(llmgw_month_credit(&pl, 0, 200), 0);
    ck_assert_int_eq(llmgw_month_credit(&pl, 0, 429), 0);
    ck_assert_int_eq(llmgw_month_credit(&pl, 0, 502), 1000);
    ck_assert_int_eq(llmgw_month_credit(&w0, 1, 200), 1000);
    /* 1 miss + 10 hits = 2 requests of the month */
    charged += LLMGW_MILLI;
    for (i = 0; i < 10; i++) {
        charged += LLMGW_MILLI;              /* charged at admission */
        credited += llmgw_month_credit(&pl, 1, 200);
    }
    ck_assert_int_eq(charged - credited, 2000);
    {
        json_t *j = llmgw_quota_check_json(&pl, charged - credited, 0);
        ck_assert(json_is_true(json_object_get(j, "has_quota")));
        ck_assert_int_eq(json_integer_value(json_object_get(j, "used")), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "remaining")), 3);
        json_decref(j);
    }
    /* one more hit: 2.1 used, 2.9 remaining */
    {
        json_t *j = llmgw_quota_check_json(&pl, 2100, 0);
        ck_assert(json_real_value(json_object_get(j, "used")) == 2.1);
        ck_assert(json_real_value(json_object_get(j, "remaining")) == 2.9);
        json_decref(j);
    }
}
END_TEST

START_TEST(token_reservation)
{
    apr_int64_t credit, extra;
    ck_assert_int_eq(llmgw_token_reserve(10, -1), 1034);
    ck_assert_int_eq(llmgw_token_reserve(10, 50), 60);
    ck_assert_int_eq(llmgw_token_reserve(-1, 0), 0);
    /* actual below the reservation: the rest is credited */
    llmgw_token_settle(60, 25, 1, &credit, &extra);
    ck_assert_int_eq(credit, 35);
    ck_assert_int_eq(extra, 0);
    /* actual above it: the difference is charged */
    llmgw_token_settle(60, 80, 1, &credit, &extra);
    ck_assert_int_eq(credit, 0);
    ck_assert_int_eq(extra, 20);
    /* unknown usage: the reservation stands on success, is freed on error */
    llmgw_token_settle(60, -1, 1, &credit, &extra);
    ck_assert_int_eq(credit, 0);
    ck_assert_int_eq(extra, 0);
    llmgw_token_settle(60, -1, 0, &credit, &extra);
    ck_assert_int_eq(credit, 60);
    ck_assert_int_eq(extra, 0);
}
END_TEST

/* tpm over a minute: reservations, settlement, refusal and its refund. */
START_TEST(tpm_flow)
{
    llmgw_plan_t pl = plan_of("p tpm=200");
    apr_time_t now = utc(2025, 2, 10, 0, 0, 10, 0);
    apr_int64_t charged = 0, credited = 0, credit, extra;
    llmgw_counters_t c = LLMGW_COUNTERS_INIT;
    llmgw_decision_t d;

    /* request 1 reserves 10 + 100, uses 30 */
    charged += llmgw_token_reserve(10, 100);
    c.minute_tokens = charged - credited;
    llmgw_decide(tp, &pl, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_ADMIT);
    llmgw_token_settle(110, 30, 1, &credit, &extra);
    credited += credit;
    charged += extra;
    ck_assert_int_eq(charged - credited, 30);
    /* request 2 reserves 10 + 160 = 170: 200 in total, admitted */
    charged += llmgw_token_reserve(10, 160);
    c.minute_tokens = charged - credited;
    llmgw_decide(tp, &pl, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_ADMIT);
    /* request 3 would go over while 2 is in flight: refused and refunded */
    charged += llmgw_token_reserve(1, 0);
    c.minute_tokens = charged - credited;
    llmgw_decide(tp, &pl, &c, now, &d);
    ck_assert_int_eq(d.verdict, LLMGW_DENY_TPM);
    ck_assert_int_eq(d.retry_after, 50);
    credited += 1;
    /* request 2 settles at 70 used: 100 tokens free again */
    llmgw_token_settle(170, 70, 1, &credit, &extra);
    credited += credit;
    ck_assert_int_eq(charged - credited, 100);
}
END_TEST

/* ------------------------------------------------------------ headers */

START_TEST(headers)
{
    llmgw_plan_t pl = plan_of("p requests_month=5 rpm=3 rph=100 tpm=1000");
    llmgw_counters_t c = LLMGW_COUNTERS_INIT;
    apr_table_t *h = apr_table_make(tp, 8);
    apr_time_t now = utc(2025, 1, 31, 22, 10, 48, 0);

    c.minute_requests = 1;
    c.hour_requests = 1;
    c.minute_tokens = 250;
    c.month_milli = 2100;
    llmgw_limit_headers(tp, &pl, &c, now, h);
    ck_assert_str_eq(apr_table_get(h, "x-ratelimit-limit-requests"), "3");
    ck_assert_str_eq(apr_table_get(h, "x-ratelimit-remaining-requests"), "2");
    ck_assert_str_eq(apr_table_get(h, "x-ratelimit-reset-requests"), "12s");
    ck_assert_str_eq(apr_table_get(h, "x-ratelimit-limit-tokens"), "1000");
    ck_assert_str_eq(apr_table_get(h, "x-ratelimit-remaining-tokens"), "750");
    ck_assert_str_eq(apr_table_get(h, "x-ratelimit-reset-tokens"), "12s");
    ck_assert_str_eq(apr_table_get(h, "x-quota-limit"), "5");
    ck_assert_str_eq(apr_table_get(h, "x-quota-remaining"), "2");  /* 2.9 */
    ck_assert_str_eq(apr_table_get(h, "x-quota-reset"), "2025-02-01T00:00:00Z");

    /* the hour is tighter: it is reported */
    apr_table_clear(h);
    c.minute_requests = 1;
    c.hour_requests = 99;
    llmgw_limit_headers(tp, &pl, &c, now, h);
    ck_assert_str_eq(apr_table_get(h, "x-ratelimit-limit-requests"), "100");
    ck_assert_str_eq(apr_table_get(h, "x-ratelimit-remaining-requests"), "1");
    ck_assert_str_eq(apr_table_get(h, "x-ratelimit-reset-requests"), "49m12s");

    /* over the limit: 0, never negative */
    apr_table_clear(h);
    c.minute_requests = 7;
    c.month_milli = 9000;
    c.minute_tokens = 5000;
    llmgw_limit_headers(tp, &pl, &c, now, h);
    ck_assert_str_eq(apr_table_get(h, "x-ratelimit-remaining-requests"), "0");
    ck_assert_str_eq(apr_table_get(h, "x-ratelimit-remaining-tokens"), "0");
    ck_assert_str_eq(apr_table_get(h, "x-quota-remaining"), "0");

    /* a plan without limits sets nothing */
    {
        llmgw_plan_t none = plan_of("none");
        apr_table_clear(h);
        llmgw_limit_headers(tp, &none, &c, now, h);
        ck_assert(apr_is_empty_table(h));
    }
}
END_TEST

START_TEST(usage_bodies)
{
    llmgw_plan_t pl = plan_of("p requests_month=5 budget_month_usd=1.5");
    llmgw_plan_t un = plan_of("unlimited");
    apr_time_t now = utc(2025, 1, 15, 0, 0, 0, 0);
    json_t *j = llmgw_usage_json(tp, "acme", &pl, 3000, 3, 120, 250000, now);

    ck_assert_str_eq(json_string_value(json_object_get(j, "consumer_id")), "acme");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "quota")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "used")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "remaining")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "requests")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "total_tokens")), 120);
    ck_assert(json_real_value(json_object_get(j, "total_cost")) == 0.25);
    ck_assert_str_eq(json_string_value(json_object_get(j, "reset_at")),
                     "2025-02-01T00:00:00Z");
    json_decref(j);

    j = llmgw_usage_json(tp, "acme", &un, 7000, 7, 0, 0, now);
    ck_assert(json_is_null(json_object_get(j, "quota")));
    ck_assert(json_is_null(json_object_get(j, "remaining")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "used")), 7);
    json_decref(j);

    j = llmgw_quota_check_json(&pl, 5000, 0);
    ck_assert(json_is_false(json_object_get(j, "has_quota")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "remaining")), 0);
    json_decref(j);
    j = llmgw_quota_check_json(&pl, 4000, 1500000);      /* budget spent */
    ck_assert(json_is_false(json_object_get(j, "has_quota")));
    json_decref(j);
    j = llmgw_quota_check_json(&pl, 4000, 1499999);
    ck_assert(json_is_true(json_object_get(j, "has_quota")));
    json_decref(j);
    j = llmgw_quota_check_json(&un, 99000, 0);
    ck_assert(json_is_true(json_object_get(j, "has_quota")));
    json_decref(j);
}
END_TEST

static Suite *quota_suite(void)
{
    Suite *s = suite_create("quota");
    TCase *tc = ut_tcase(s, "core", 0);
    tcase_add_test(tc, plans_of_the_seeds);
    tcase_add_test(tc, plan_values_and_errors);
    tcase_add_test(tc, minute_boundary);
    tcase_add_test(tc, hour_boundary);
    tcase_add_test(tc, month_boundary);
    tcase_add_test(tc, civil_dates);
    tcase_add_test(tc, durations);
    tcase_add_test(tc, counter_keys);
    tcase_add_test(tc, key_digests);
    tcase_add_test(tc, key_lookup);
    tcase_add_test(tc, rpm_exact_limit);
    tcase_add_test(tc, rph_and_tpm);
    tcase_add_test(tc, month_quota_and_budget);
    tcase_add_test(tc, month_exact_with_refunds);
    tcase_add_test(tc, cache_hit_weight);
    tcase_add_test(tc, token_reservation);
    tcase_add_test(tc, tpm_flow);
    tcase_add_test(tc, headers);
    tcase_add_test(tc, usage_bodies);
    return s;
}

UT_MAIN(quota_suite)
