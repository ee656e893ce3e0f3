/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The finish-reason rule shared by every translator (llmgw_translate.c). */
#include "llmgw_test.h"
#include "llmgw_translate.h"

START_TEST(finish_reason_rule)
{
    ck_assert_str_eq(llmgw_finish_reason(NULL, 0), "stop");
    ck_assert_str_eq(llmgw_finish_reason(NULL, 1), "tool_calls");
    ck_assert_str_eq(llmgw_finish_reason("stop", 0), "stop");
    ck_assert_str_eq(llmgw_finish_reason("stop", 1), "tool_calls");
    ck_assert_str_eq(llmgw_finish_reason("length", 0), "length");
    ck_assert_str_eq(llmgw_finish_reason("length", 1), "length");
    ck_assert_str_eq(llmgw_finish_reason("content_filter", 0),
                     "content_filter");
    ck_assert_str_eq(llmgw_finish_reason("content_filter", 1), "tool_calls");
    ck_assert_str_eq(llmgw_finish_reason("tool_calls", 0), "tool_calls");
    ck_assert_str_eq(llmgw_finish_reason("tool_calls", 1), "tool_calls");
}
END_TEST


static Suite *finish_reason_suite(void)
{
    Suite *s = suite_create("finish_reason");
    TCase *tc = ut_tcase(s, "finish_reason", 0);
    tcase_add_test(tc, finish_reason_rule);
    return s;
}

UT_MAIN(finish_reason_suite)
