/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* include/llmgw_metrics.h and include/llmgw_otlp.h: the shared metrics
 * block (exact under concurrent threads, bounded labels, histograms, the
 * exposition text) and the OTLP JSON of spans. */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "llmgw_test.h"
#include "llmgw_metrics.h"
#include "llmgw_otlp.h"

static llmgw_metrics_t *fresh(void)
{
    void *mem = apr_pcalloc(ut_pool(), llmgw_metrics_size());
    return llmgw_metrics_attach(mem);
}

static const char *render(llmgw_metrics_t *m)
{
    llmgw_buf_t b;
    llmgw_metrics_provider_t p[2] = { { "mock", 0 }, { "other\"one", 1 } };
    llmgw_buf_init(&b, ut_pool(), 0);
    llmgw_metrics_render(m, p, 2, &b);
    return b.data;
}

static llmgw_metrics_obs_t obs(const char *provider, const char *model,
                               int status, double secs)
{
    llmgw_metrics_obs_t o;
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    memset(&o, 0, sizeof(o));
    o.endpoint = "chat/completions";
    o.provider = provider;
    o.model = model;
    o.status = status;
    o.duration = (apr_interval_time_t)(secs * 1e6);
    o.usage = u;
    o.cost_usd = -1;
    return o;
}

#define HAS(text, line) \
    ck_assert_msg(strstr((text), (line)) != NULL, "missing: %s\n%s", (line), (text))

START_TEST(counts_and_text)
{
    llmgw_metrics_t *m = fresh();
    llmgw_metrics_obs_t o = obs("mock", "echo", 200, 0.003);
    const char *t;

    o.usage.prompt_tokens = 10;
    o.usage.completion_tokens = 5;
    o.usage.cached_tokens = 2;
    o.cost_usd = 0.000056;
    o.ttft = 1000;
    llmgw_metrics_observe(m, &o);
    o.duration = apr_time_from_msec(200);
    llmgw_metrics_observe(m, &o);
    o.duration = apr_time_from_sec(400);
    o.cache = "HIT";                       /* a hit adds no tokens, no cost */
    llmgw_metrics_observe(m, &o);
    llmgw_metrics_inc(m, LLMGW_M_CACHE_MISS);
    llmgw_metrics_retry(m, "mock");
    llmgw_metrics_streams(m, 1);

    ck_assert_uint_eq(llmgw_metrics_requests(m), 3);
    ck_assert_uint_eq(llmgw_metrics_tokens(m, 0), 20);
    ck_assert_uint_eq(llmgw_metrics_tokens(m, 1), 10);
    ck_assert_uint_eq(llmgw_metrics_retries(m), 1);
    t = render(m);
    HAS(t, "# TYPE llmgw_requests_total counter\n");
    HAS(t, "llmgw_requests_total{endpoint=\"chat/completions\",provider=\"mock\","
           "model=\"echo\",status=\"200\",cache=\"none\"} 2\n");
    HAS(t, "model=\"echo\",status=\"200\",cache=\"hit\"} 1\n");
    HAS(t, "llmgw_request_duration_seconds_bucket{provider=\"mock\",le=\"0.005\"} 1\n");
    HAS(t, "llmgw_request_duration_seconds_bucket{provider=\"mock\",le=\"0.25\"} 2\n");
    HAS(t, "llmgw_request_duration_seconds_bucket{provider=\"mock\",le=\"300\"} 2\n");
    HAS(t, "llmgw_request_duration_seconds_bucket{provider=\"mock\",le=\"+Inf\"} 3\n");
    HAS(t, "llmgw_request_duration_seconds_sum{provider=\"mock\"} 400.203\n");
    HAS(t, "llmgw_request_duration_seconds_count{provider=\"mock\"} 3\n");
    HAS(t, "llmgw_time_to_first_token_seconds_count{provider=\"mock\"} 3\n");
    HAS(t, "llmgw_tokens_total{provider=\"mock\",model=\"echo\",kind=\"cached\"} 4\n");
    HAS(t, "llmgw_cost_usd_total{provider=\"mock\",model=\"echo\"} 0.000112\n");
    HAS(t, "llmgw_cache_total{result=\"miss\"} 1\n");
    HAS(t, "llmgw_retries_total{provider=\"mock\"} 1\n");
    HAS(t, "llmgw_streams_active 1\n");
    HAS(t, "llmgw_circuit_open{provider=\"other\\\"one\"} 1\n");
    ck_assert_ptr_null(strstr(t, "llmgw_upstream_duration_seconds_count"));

    /* attaching the same block again (a restart) keeps the counts */
    ck_assert_ptr_eq(llmgw_metrics_attach(m), m);
    ck_assert_uint_eq(llmgw_metrics_requests(m), 3);
}
END_TEST

START_TEST(labels_escaped_and_bounded)
{
    llmgw_metrics_t *m = fresh();
    llmgw_metrics_obs_t o = obs("p", "a\"b\\c\nd", 502, 1);
    char name[300];
    const char *t;
    int i, models = 0;

    llmgw_metrics_observe(m, &o);
    t = render(m);
    HAS(t, "model=\"a\\\"b\\\\c\\nd\",status=\"502\"");
    /* 205 more models of provider q: 200, then "other" */
    for (i = 0; i < 205; i++) {
        snprintf(name, sizeof(name), "model-%d", i);
        o = obs("q", name, 200, 0.1);
        o.usage.prompt_tokens = 1;
        llmgw_metrics_observe(m, &o);
    }
    t = render(m);
    for (const char *s = t; (s = strstr(s, "llmgw_cost_usd_total{provider=\"q\"")); s++) {
        models++;
    }
    ck_assert_int_eq(models, 201);
    HAS(t, "llmgw_tokens_total{provider=\"q\",model=\"other\",kind=\"prompt\"} 5\n");
    /* a very long name is cut (never half a UTF-8 sequence) */
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    o = obs("p", name, 200, 0.1);
    llmgw_metrics_observe(m, &o);
    ck_assert_uint_eq(llmgw_metrics_requests(m), 207);
    ck_assert_uint_eq(llmgw_metrics_get(m, LLMGW_M_STORE_ERROR), 0);
}
END_TEST

/* ---- exact under concurrency */
#define THREADS 8
#define PER_THREAD 20000

static void *worker(void *arg)
{
    llmgw_metrics_t *m = arg;
    char model[32];
    int i;
    for (i = 0; i < PER_THREAD; i++) {
        llmgw_metrics_obs_t o = obs(i % 2 ? "a" : "b", model, 200 + i % 3, 0.01);
        snprintf(model, sizeof(model), "m%d", i % 50);
        o.model = model;
        o.usage.prompt_tokens = 3;
        llmgw_metrics_observe(m, &o);
        llmgw_metrics_inc(m, LLMGW_M_FALLBACKS);
    }
    return NULL;
}

START_TEST(exact_under_threads)
{
    llmgw_metrics_t *m = fresh();
    pthread_t th[THREADS];
    int i;
    for (i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, m), 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    ck_assert_uint_eq(llmgw_metrics_requests(m), THREADS * PER_THREAD);
    ck_assert_uint_eq(llmgw_metrics_tokens(m, 0), 3 * THREADS * PER_THREAD);
    ck_assert_uint_eq(llmgw_metrics_get(m, LLMGW_M_FALLBACKS),
                      THREADS * PER_THREAD);
}
END_TEST

/* ---- OTLP */

START_TEST(traceparent)
{
    unsigned char t[16], p[8];
    ck_assert_int_eq(llmgw_otlp_traceparent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", t, p), 0);
    ck_assert_int_eq(t[0], 0x4b);
    ck_assert_int_eq(p[7], 0xb7);
    ck_assert_int_eq(llmgw_otlp_traceparent(NULL, t, p), -1);
    ck_assert_int_eq(llmgw_otlp_traceparent(
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", t, p), -1);
    ck_assert_int_eq(llmgw_otlp_traceparent(
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", t, p), -1);
    ck_assert_int_eq(llmgw_otlp_traceparent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", t, p), -1);
    ck_assert_int_eq(llmgw_otlp_traceparent(
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", t, p), -1);
    ck_assert_int_eq(llmgw_otlp_traceparent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", t, p), -1);
    ck_assert_int_eq(llmgw_otlp_traceparent(
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", t, p), 0);
}
END_TEST

static const char *attr(json_t *span, const char *key)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(span, "attributes"), i, a) {
        if (!strcmp(json_string_value(json_object_get(a, "key")), key)) {
            json_t *v = json_object_get(a, "value");
            json_t *s = json_object_get(v, "stringValue");
            return s ? json_string_value(s)
                     : json_string_value(json_object_get(v, "intValue"));
        }
    }
    return NULL;
}

START_TEST(otlp_json)
{
    llmgw_span_t sp[2];
    json_t *doc, *spans, *s0;
    char *txt;
    memset(sp, 0, sizeof(sp));
    memset(sp[0].trace_id, 0xab, 16);
    memset(sp[0].span_id, 0x01, 8);
    sp[0].start = 1700000000000000;
    sp[0].end = 1700000000250000;
    sp[0].status = 200;
    sp[0].upstream = 1000;
    sp[0].input_tokens = 12;
    sp[0].output_tokens = -1;
    sp[0].cost_usd = -1;
    llmgw_span_str(sp[0].operation, sizeof(sp[0].operation), "chat");
    llmgw_span_str(sp[0].system, sizeof(sp[0].system), "anthropic");
    llmgw_span_str(sp[0].provider, sizeof(sp[0].provider), "claude");
    llmgw_span_str(sp[0].request_model, sizeof(sp[0].request_model), "fast");
    llmgw_span_str(sp[0].response_model, sizeof(sp[0].response_model),
                   "claude-sonnet-4");
    sp[1] = sp[0];
    sp[1].upstream = 0;
    sp[1].status = 502;
    sp[1].has_parent = 1;

    txt = llmgw_otlp_json(sp, 2, "llmgw", "0.1.0", "node1");
    ck_assert_ptr_nonnull(txt);
    doc = json_loads(txt, 0, NULL);
    free(txt);
    ck_assert_ptr_nonnull(doc);
    spans = json_object_get(json_array_get(json_object_get(json_array_get(
        json_object_get(doc, "resourceSpans"), 0), "scopeSpans"), 0), "spans");
    ck_assert_int_eq(json_array_size(spans), 3);    /* 2 + one child */
    s0 = json_array_get(spans, 0);
    ck_assert_str_eq(json_string_value(json_object_get(s0, "traceId")),
                     "abababababababababababababababab");
    ck_assert_str_eq(json_string_value(json_object_get(s0, "spanId")),
                     "0101010101010101");
    ck_assert_str_eq(json_string_value(json_object_get(s0, "startTimeUnixNano")),
                     "1700000000000000000");
    ck_assert_str_eq(json_string_value(json_object_get(s0, "name")), "chat fast");
    ck_assert_str_eq(attr(s0, "gen_ai.system"), "anthropic");
    ck_assert_str_eq(attr(s0, "gen_ai.response.model"), "claude-sonnet-4");
    ck_assert_str_eq(attr(s0, "gen_ai.usage.input_tokens"), "12");
    ck_assert_ptr_null(attr(s0, "gen_ai.usage.output_tokens"));
    ck_assert_int_eq(json_integer_value(json_object_get(s0, "kind")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(spans, 1),
                                                       "parentSpanId")),
                     "0101010101010101");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
        json_array_get(spans, 2), "status"), "code")), 2);    /* 502: error */
    ck_assert_ptr_nonnull(json_object_get(json_array_get(spans, 2),
                                          "parentSpanId"));
    json_decref(doc);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = ut_tcase(s, "metrics", 30);
    tcase_add_test(tc, counts_and_text);
    tcase_add_test(tc, labels_escaped_and_bounded);
    tcase_add_test(tc, exact_under_threads);
    tc = ut_tcase(s, "otlp", 0);
    tcase_add_test(tc, traceparent);
    tcase_add_test(tc, otlp_json);
    return s;
}
UT_MAIN(metrics_suite)
