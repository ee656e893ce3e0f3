/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The error envelope (llmgw_envelope.c): its members, when an error is
 * retryable, and the error type of each status. */
#include <string.h>
#include "llmgw_test.h"
#include "llmgw_envelope.h"

static const char *const ENV_FIELDS[] = {
    "message", "type", "code", "param", "request_id", "provider",
    "upstream_status", "retryable"
};

START_TEST(envelope_minimal)
{
    llmgw_error_t e;
    json_t *j, *err;
    size_t i;
    memset(&e, 0, sizeof(e));
    e.status = 400;
    e.message = "'model' is required";
    e.retry_after = -1;
    j = llmgw_envelope_json(&e, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(json_object_size(j), 1);
    err = json_object_get(j, "error");
    ck_assert(json_is_object(err));
    for (i = 0; i < sizeof(ENV_FIELDS) / sizeof(ENV_FIELDS[0]); i++) {
        ck_assert_msg(json_object_get(err, ENV_FIELDS[i]) != NULL,
                      "field %s missing", ENV_FIELDS[i]);
    }
    ck_assert_str_eq(json_string_value(json_object_get(err, "message")),
                     "'model' is required");
    ck_assert_str_eq(json_string_value(json_object_get(err, "type")),
                     "invalid_request_error");
    ck_assert(json_is_null(json_object_get(err, "code")));
    ck_assert(json_is_null(json_object_get(err, "param")));
    ck_assert(json_is_null(json_object_get(err, "request_id")));
    ck_assert(json_is_null(json_object_get(err, "provider")));
    ck_assert(json_is_null(json_object_get(err, "upstream_status")));
    ck_assert(json_is_false(json_object_get(err, "retryable")));
    {
        const json_t *d = json_object_get(err, "details");
        ck_assert(d == NULL || json_is_null(d));
    }
    json_decref(j);

    /* no message: still a string */
    e.message = NULL;
    j = llmgw_envelope_json(&e, "rid");
    err = json_object_get(j, "error");
    ck_assert(json_is_string(json_object_get(err, "message")));
    ck_assert_str_eq(json_string_value(json_object_get(err, "request_id")),
                     "rid");
    json_decref(j);
}
END_TEST

START_TEST(envelope_full)
{
    llmgw_error_t e;
    json_t *j, *want;
    memset(&e, 0, sizeof(e));
    e.status = 429;
    e.type = "rate_limit_error";
    e.code = "rate_limit_exceeded";
    e.message = "slow down";
    e.param = "model";
    e.provider = "openai";
    e.upstream_status = 429;
    e.retry_after = 30;
    e.details = ut_json("{\"limit\":10,\"window\":\"minute\","
                      "\"retry_after_secs\":30}");
    j = llmgw_envelope_json(&e, "11111111-2222-3333-4444-555555555555");
    want = ut_json("{\"error\":{\"message\":\"slow down\","
                 "\"type\":\"rate_limit_error\",\"code\":\"rate_limit_exceeded\","
                 "\"param\":\"model\","
                 "\"request_id\":\"11111111-2222-3333-4444-555555555555\","
                 "\"provider\":\"openai\",\"upstream_status\":429,"
                 "\"retryable\":true,\"details\":{\"limit\":10,"
                 "\"window\":\"minute\",\"retry_after_secs\":30}}}");
    ut_json_eq(j, want, "envelope");
    json_decref(want);
    json_decref(j);
    /* the caller's reference to details is still valid */
    ck_assert_int_eq(json_integer_value(json_object_get(e.details, "limit")),
                     10);
    json_decref(e.details);

    /* the type defaults from the status; explicit types win */
    memset(&e, 0, sizeof(e));
    e.status = 502;
    e.message = "upstream down";
    e.provider = "anthropic";
    e.upstream_status = 503;
    j = llmgw_envelope_json(&e, "r");
    {
        json_t *err = json_object_get(j, "error");
        ck_assert_str_eq(json_string_value(json_object_get(err, "type")),
                         "provider_error");
        ck_assert(json_is_true(json_object_get(err, "retryable")));
        ck_assert_int_eq(json_integer_value(json_object_get(err,
                                                            "upstream_status")),
                         503);
        ck_assert_str_eq(json_string_value(json_object_get(err, "provider")),
                         "anthropic");
    }
    json_decref(j);
    e.status = 402;
    e.type = "custom_type";
    j = llmgw_envelope_json(&e, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(j, "error"), "type")), "custom_type");
    ck_assert(json_is_false(json_object_get(json_object_get(j, "error"),
                                            "retryable")));
    json_decref(j);
}
END_TEST

START_TEST(envelope_retryable)
{
    static const struct { int status; int retry; } cases[] = {
        { 400, 0 }, { 401, 0 }, { 402, 0 }, { 403, 0 }, { 404, 0 },
        { 408, 1 }, { 409, 1 }, { 413, 0 }, { 422, 0 }, { 429, 1 },
        { 500, 1 }, { 502, 1 }, { 503, 1 }, { 504, 1 },
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llmgw_error_t e;
        json_t *j;
        memset(&e, 0, sizeof(e));
        e.status = cases[i].status;
        e.message = "x";
        ck_assert_msg(llmgw_error_retryable(cases[i].status) == cases[i].retry,
                      "status %d", cases[i].status);
        j = llmgw_envelope_json(&e, NULL);
        ck_assert_msg(json_is_true(json_object_get(json_object_get(j, "error"),
                                                   "retryable"))
                      == cases[i].retry, "envelope status %d", cases[i].status);
        json_decref(j);
    }
}
END_TEST

START_TEST(envelope_type_table)
{
    static const struct { int status; const char *type; } cases[] = {
        { 400, "invalid_request_error" }, { 401, "authentication_error" },
        { 402, "insufficient_quota" },    { 403, "permission_error" },
        { 404, "invalid_request_error" }, { 405, "invalid_request_error" },
        { 413, "invalid_request_error" }, { 415, "invalid_request_error" },
        { 422, "invalid_request_error" }, { 429, "rate_limit_error" },
        { 500, "internal_error" },        { 501, "internal_error" },
        { 502, "provider_error" },        { 503, "service_unavailable" },
        { 504, "timeout_error" },         { 418, "invalid_request_error" },
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(strcmp(llmgw_error_type_for_status(cases[i].status),
                             cases[i].type) == 0, "status %d: %s, want %s",
                      cases[i].status,
                      llmgw_error_type_for_status(cases[i].status),
                      cases[i].type);
    }
}
END_TEST


static Suite *envelope_suite(void)
{
    Suite *s = suite_create("envelope");
    TCase *tc = ut_tcase(s, "envelope", 0);
    tcase_add_test(tc, envelope_minimal);
    tcase_add_test(tc, envelope_full);
    tcase_add_test(tc, envelope_retryable);
    tcase_add_test(tc, envelope_type_table);
    return s;
}

UT_MAIN(envelope_suite)
