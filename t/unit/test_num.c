/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* include/llmgw_num.h: numbers printed in their shortest round-trip form,
 * alone and in the JSON documents the gateway prints (quota usage). */
#include <stdlib.h>
#include <string.h>

#include "llmgw_test.h"
#include "llmgw_num.h"
#include "llmgw_limits.h"

static void fmt_is(double v, const char *want)
{
    char buf[LLMGW_NUM_MAX];
    ck_assert_str_eq(llmgw_num_format(buf, v), want);
    if (strcmp(want, "null")) {
        ck_assert(strtod(buf, NULL) == v);   /* round-trips */
    }
}

START_TEST(shortest)
{
    fmt_is(9.1, "9.1");
    fmt_is(0.4, "0.4");
    fmt_is(98.7, "98.7");
    fmt_is(1.3, "1.3");
    fmt_is(3, "3");
    fmt_is(0, "0");
    fmt_is(-0.0, "0");
    fmt_is(0.000056, "5.6e-5");
    fmt_is(1.5e-300, "1.5e-300");
    fmt_is(1e21, "1e+21");
    fmt_is(0.1 + 0.2, "0.30000000000000004");   /* needs 17 */
    fmt_is(1.0 / 3, "0.3333333333333333");      /* needs 16 */
    fmt_is(5e-324, "4.94065645841247e-324");
    fmt_is(1.7976931348623157e308, "1.7976931348623157e+308");
    fmt_is(NAN, "null");
    fmt_is(INFINITY, "null");
    ck_assert_int_eq(llmgw_num_precision(9.1), 15);
    ck_assert_int_eq(llmgw_num_precision(1.0 / 3), 16);
    ck_assert_int_eq(llmgw_num_precision(0.1 + 0.2), 17);
    ck_assert_str_eq(llmgw_num_pstr(gp, 2.5), "2.5");
}
END_TEST

START_TEST(json_documents)
{
    json_t *j = json_pack("{s:f,s:f,s:[f,i],s:{s:f}}", "used", 9.1,
                          "input", 0.4, "a", 98.7, 3, "o", "x", 0.001);
    char *txt = llmgw_json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(txt, "{\"a\":[98.7,3],\"input\":0.4,\"o\":{\"x\":0.001},"
                          "\"used\":9.1}");
    free(txt);
    /* plain json_dumps would print 17 digits: the reason for this header */
    txt = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert(strstr(txt, "9.0999999999999996") != NULL);
    free(txt);
    json_decref(j);
    /* a real that needs 17 digits keeps them: the text reads back exactly */
    j = json_pack("[f,f]", 0.1 + 0.2, 1.5);
    txt = llmgw_json_dumps(j, JSON_COMPACT);
    ck_assert_str_eq(txt, "[0.30000000000000004,1.5]");
    free(txt);
    json_decref(j);
}
END_TEST

/* /api/usage with 9.1 requests used of 10, 0.000056 USD spent */
START_TEST(usage_body)
{
    llmgw_plan_t pl;
    char *argv[] = { "requests_month=10", "budget_month_usd=0.3" };
    json_t *j;
    char *txt;
    ck_assert_ptr_null(llmgw_plan_parse(gp, "p", 2, argv, &pl));
    j = llmgw_usage_json(gp, "ws", &pl, 9100, 10, 100, 56, apr_time_now());
    txt = llmgw_json_dumps(j, JSON_COMPACT);
    ck_assert_msg(strstr(txt, "\"used\":9.1,") != NULL, "%s", txt);
    ck_assert_msg(strstr(txt, "\"remaining\":0.9") != NULL, "%s", txt);
    ck_assert_msg(strstr(txt, "\"total_cost\":5.6e-5") != NULL, "%s", txt);
    ck_assert_msg(strstr(txt, "\"budget_usd\":0.3") != NULL, "%s", txt);
    free(txt);
    json_decref(j);
}
END_TEST

static Suite *num_suite(void)
{
    Suite *s = suite_create("num");
    TCase *tc = ut_tcase(s, "core", 0);
    tcase_add_test(tc, shortest);
    tcase_add_test(tc, json_documents);
    tcase_add_test(tc, usage_body);
    return s;
}

UT_MAIN(num_suite)
