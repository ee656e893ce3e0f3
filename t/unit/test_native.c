/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* llmgw_native: what the gateway reads of answers it relays in the client's
 * own API, on the recorded provider streams of ../shared/fixtures, and the
 * routes of the inbound APIs (llmgw_parse.h). */
#include <string.h>
#include "llmgw_test.h"
#include "llmgw_native.h"
#include "llmgw_parse.h"

/* Feeds every event of a fixture; the result of the last one that was not
 * CONTINUE (or CONTINUE), *ends the number of END results. */
static int watch_fixture(llmgw_api_e api, const char *rel, int cut_last,
                         llmgw_usage_t *u, int *ends)
{
    apr_size_t len;
    char *buf = rel[0] == '/' ? ut_slurp(rel, &len) : ut_fixture(rel, &len);
    apr_array_header_t *ev = ut_sse_events(buf, len);
    llmgw_native_watch_t *w = llmgw_native_watch_new(tp, api);
    int i, rv, last = LLMGW_NATIVE_CONTINUE;
    llmgw_usage_t init = LLMGW_USAGE_INIT;

    *ends = 0;
    for (i = 0; i < ev->nelts - cut_last; i++) {
        rv = llmgw_native_watch_event(w, UT_EV(ev, i).event, UT_EV(ev, i).data,
                                      UT_EV(ev, i).len);
        if (rv != LLMGW_NATIVE_CONTINUE) {
            last = rv;
        }
        *ends += rv == LLMGW_NATIVE_END;
    }
    *u = init;
    llmgw_native_watch_usage(w, u);
    return last;
}

START_TEST(anthropic_streams_end_with_message_stop)
{
    apr_array_header_t *files = ut_fixture_glob("anthropic/*_response.txt", 5);
    int i, ends;
    llmgw_usage_t u;
    for (i = 0; i < files->nelts; i++) {
        const char *rel = APR_ARRAY_IDX(files, i, const char *);
        int rv = watch_fixture(LLMGW_API_MESSAGES, rel, 0, &u, &ends);
        ck_assert_msg(rv == LLMGW_NATIVE_END && ends == 1, "%s: one END", rel);
        ck_assert_msg(u.prompt_tokens > 0 && u.completion_tokens >= 0,
                      "%s: usage %ld/%ld", rel, (long)u.prompt_tokens,
                      (long)u.completion_tokens);
        ck_assert_int_eq(u.total_tokens, u.prompt_tokens + u.completion_tokens);
        /* without its last event (message_stop) the stream is cut */
        rv = watch_fixture(LLMGW_API_MESSAGES, rel, 1, &u, &ends);
        ck_assert_msg(ends == 0, "%s cut: no END", rel);
    }
}
END_TEST

START_TEST(anthropic_usage_from_message_delta)
{
    int ends;
    llmgw_usage_t u;
    watch_fixture(LLMGW_API_MESSAGES, "anthropic/basic_response.txt", 0, &u,
                  &ends);
    /* message_start says input 11 / output 1, message_delta output 6 */
    ck_assert_int_eq(u.prompt_tokens, 11);
    ck_assert_int_eq(u.completion_tokens, 6);
}
END_TEST

START_TEST(anthropic_error_event)
{
    static const char *err = "{\"type\":\"error\",\"error\":{\"type\":"
                             "\"overloaded_error\",\"message\":\"Overloaded\"}}";
    llmgw_native_watch_t *w = llmgw_native_watch_new(tp, LLMGW_API_MESSAGES);
    ck_assert_int_eq(llmgw_native_watch_event(w, "error", err, strlen(err)),
                     LLMGW_NATIVE_ERROR);
    ck_assert_str_eq(llmgw_native_watch_error(w), "Overloaded");
}
END_TEST

START_TEST(gemini_streams_end_with_finish_reason)
{
    apr_array_header_t *files = ut_fixture_glob("gemini/*/streaming-success-*.txt", 5);
    int i, ends;
    llmgw_usage_t u;
    for (i = 0; i < files->nelts; i++) {
        const char *rel = APR_ARRAY_IDX(files, i, const char *);
        watch_fixture(LLMGW_API_GEMINI, rel, 0, &u, &ends);
        /* a recording without finishReason is a cut stream */
        ck_assert_msg(strstr(ut_slurp(rel, NULL), "finishReason")
                      ? ends >= 1 : ends == 0, "%s: END on finishReason", rel);
        /* the recordings that carry usageMetadata give the usage */
        ck_assert_msg(u.prompt_tokens > 0
                      || !strstr(ut_slurp(rel, NULL), "usageMetadata"),
                      "%s: usage", rel);
    }
}
END_TEST

START_TEST(responses_events)
{
    static const char *completed =
        "{\"type\":\"response.completed\",\"sequence_number\":9,\"response\":"
        "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\","
        "\"output\":[],\"usage\":{\"input_tokens\":12,\"input_tokens_details\":"
        "{\"cached_tokens\":4},\"output_tokens\":5,\"total_tokens\":17}}}";
    static const char *delta = "{\"type\":\"response.output_text.delta\","
                               "\"sequence_number\":3,\"delta\":\"hi\"}";
    static const char *failed = "{\"type\":\"response.failed\",\"response\":"
                                "{\"status\":\"failed\",\"error\":{\"code\":"
                                "\"server_error\",\"message\":\"boom\"}}}";
    llmgw_native_watch_t *w = llmgw_native_watch_new(tp, LLMGW_API_RESPONSES);
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    ck_assert_int_eq(llmgw_native_watch_event(w, "response.output_text.delta",
                                              delta, strlen(delta)),
                     LLMGW_NATIVE_CONTINUE);
    ck_assert_int_eq(llmgw_native_watch_event(w, NULL, completed,
                                              strlen(completed)),
                     LLMGW_NATIVE_END);
    llmgw_native_watch_usage(w, &u);
    ck_assert_int_eq(u.prompt_tokens, 12);
    ck_assert_int_eq(u.completion_tokens, 5);
    ck_assert_int_eq(u.total_tokens, 17);
    ck_assert_int_eq(u.cached_tokens, 4);
    w = llmgw_native_watch_new(tp, LLMGW_API_RESPONSES);
    ck_assert_int_eq(llmgw_native_watch_event(w, "response.failed", failed,
                                              strlen(failed)),
                     LLMGW_NATIVE_ERROR);
    ck_assert_str_eq(llmgw_native_watch_error(w), "boom");
}
END_TEST

START_TEST(answer_usage)
{
    static const char *msg = "{\"type\":\"message\",\"content\":[],\"usage\":"
                             "{\"input_tokens\":7,\"output_tokens\":3,"
                             "\"cache_read_input_tokens\":2}}";
    apr_size_t len;
    char *gem = ut_fixture("gemini/googleai/unary-success-basic-reply-short.json",
                           &len);
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    ck_assert(llmgw_native_answer_usage(LLMGW_API_MESSAGES, msg, strlen(msg),
                                        &u));
    ck_assert_int_eq(u.prompt_tokens, 7);
    ck_assert_int_eq(u.completion_tokens, 3);
    ck_assert_int_eq(u.cached_tokens, 2);
    ck_assert(llmgw_native_answer_usage(LLMGW_API_GEMINI, gem, len, &u));
    ck_assert(u.prompt_tokens > 0 && u.total_tokens > 0);
    ck_assert(!llmgw_native_answer_usage(LLMGW_API_MESSAGES, "[]", 2, &u));
    ck_assert(!llmgw_native_answer_usage(LLMGW_API_RESPONSES, "{", 1, &u));
}
END_TEST

START_TEST(inbound_routes)
{
    const char *name;
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/messages", &name),
                     LLMGW_EP_MESSAGES);
    ck_assert_str_eq(name, "messages");
    ck_assert_int_eq(llmgw_endpoint_from_path("/ant/v1/messages/count_tokens",
                                              &name), LLMGW_EP_COUNT_TOKENS);
    ck_assert_int_eq(llmgw_endpoint_from_path("/api/v1/responses", &name),
                     LLMGW_EP_RESPONSES);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/responses/resp_ab-1_C",
                                              &name), LLMGW_EP_RESPONSE_ITEM);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/responses/resp_1/x", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/responses/a%2Fb", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path(
                         "/gem/v1beta/models/gemini-2.0-flash:generateContent",
                         &name), LLMGW_EP_GEMINI);
    ck_assert_str_eq(name, "generateContent");
    ck_assert_int_eq(llmgw_endpoint_from_path(
                         "/gem/v1beta/models/x:streamGenerateContent", &name),
                     LLMGW_EP_GEMINI_STREAM);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/models/x:countTokens",
                                              &name), LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/models/openai%2Fgpt-4o",
                                              &name), LLMGW_EP_MODELS);
    ck_assert_str_eq(llmgw_gemini_model_from_path(tp,
                         "/v1/models/mockgem%2Fecho:generateContent"),
                     "mockgem/echo");
    ck_assert_str_eq(llmgw_gemini_model_from_path(tp,
                         "/v1/models/mockgem/echo:streamGenerateContent"),
                     "mockgem/echo");
    ck_assert_ptr_null(llmgw_gemini_model_from_path(tp,
                           "/v1/models/:generateContent"));
    ck_assert_str_eq(llmgw_response_id_from_path("/v1/responses/resp_1"),
                     "resp_1");
    ck_assert_ptr_null(llmgw_response_id_from_path("/v1/responses/"));
}
END_TEST

static Suite *native_suite(void)
{
    Suite *s = suite_create("native");
    TCase *tc = ut_tcase(s, "native", 0);
    tcase_add_test(tc, anthropic_streams_end_with_message_stop);
    tcase_add_test(tc, anthropic_usage_from_message_delta);
    tcase_add_test(tc, anthropic_error_event);
    tcase_add_test(tc, gemini_streams_end_with_finish_reason);
    tcase_add_test(tc, responses_events);
    tcase_add_test(tc, answer_usage);
    tcase_add_test(tc, inbound_routes);
    return s;
}

UT_MAIN(native_suite)
