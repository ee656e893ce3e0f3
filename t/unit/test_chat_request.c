/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Unit tests of the OpenAI chat request reader
 * (mod_llmgw/core/llmgw_chat_request.c): one rule for each ambiguity. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "llmgw_chat_request.h"

static apr_pool_t *pool;

static const llmgw_xparam_t all_params[] = {
    { "model", LLMGW_XP_TRANSLATED }, { "messages", LLMGW_XP_TRANSLATED },
    { "tools", LLMGW_XP_TRANSLATED }, { "tool_choice", LLMGW_XP_TRANSLATED },
    { "max_tokens", LLMGW_XP_TRANSLATED }, { "stop", LLMGW_XP_TRANSLATED },
    { "temperature", LLMGW_XP_TRANSLATED }, { "seed", LLMGW_XP_NONE },
    { "stream", LLMGW_XP_TRANSLATED },
    { "stream_options", LLMGW_XP_TRANSLATED },
    { "response_format", LLMGW_XP_TRANSLATED },
    { NULL, 0 }
};

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
    pool = NULL;
}

static apr_status_t decref(void *j)
{
    json_decref((json_t *)j);
    return APR_SUCCESS;
}

/* Reads text; the parsed tree stays alive until the pool goes. */
static llmgw_chat_request_t *rd(const char *text, const char **err)
{
    json_t *req = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    llmgw_chat_request_t *r = NULL;
    llmgw_xlate_ctx_t x;
    const char *e = NULL;

    memset(&x, 0, sizeof(x));
    ck_assert_msg(req != NULL, "bad test JSON: %s", text);
    apr_pool_cleanup_register(pool, req, decref, apr_pool_cleanup_null);
    llmgw_chat_request_read(pool, req, all_params, "test", &x, &r, &e);
    if (err) {
        *err = e;
    }
    return r;
}

static const llmgw_chat_part_t *part0(const llmgw_chat_request_t *r, int m)
{
    const llmgw_chat_msg_t *msg = &APR_ARRAY_IDX(r->messages, m,
                                                 llmgw_chat_msg_t);
    return &APR_ARRAY_IDX(msg->parts, 0, llmgw_chat_part_t);
}

#define IMG(url) "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":" \
    "\"image_url\",\"image_url\":{\"url\":\"" url "\"}}]}]}"

START_TEST(test_data_url_case)
{
    const llmgw_chat_request_t *r;
    const llmgw_chat_part_t *pt;
    const char *err;

    r = rd(IMG("DATA:image/png;BASE64,iVBO"), &err);
    ck_assert_ptr_nonnull(r);
    pt = part0(r, 0);
    ck_assert_int_eq(pt->type, LLMGW_PART_IMAGE);
    ck_assert_str_eq(pt->mime, "image/png");
    ck_assert_uint_eq(pt->data.len, 4);
    ck_assert_int_eq(memcmp(pt->data.s, "iVBO", 4), 0);
    ck_assert_ptr_null(pt->url);

    r = rd(IMG("https://x/y.png"), &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(part0(r, 0)->url, "https://x/y.png");
    ck_assert_ptr_null(part0(r, 0)->mime);

    ck_assert_ptr_null(rd(IMG("data:image/png,abc"), &err));
    ck_assert_ptr_null(rd(IMG("data:;base64,abc"), &err));
    ck_assert_ptr_null(rd(IMG("data:image/png"), &err));
    ck_assert_ptr_null(rd(IMG("data:image/png;x=y;base64,abc"), &err));
    ck_assert_ptr_null(rd(IMG("ftp://x/y.png"), &err));
    ck_assert_ptr_nonnull(err);
}
END_TEST

#define CALL(args) "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}," \
    "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":" \
    "\"function\",\"function\":{\"name\":\"f\"" args "}}]}]}"

static const json_t *args_of(const llmgw_chat_request_t *r)
{
    const llmgw_chat_msg_t *m = &APR_ARRAY_IDX(r->messages, 1,
                                               llmgw_chat_msg_t);
    ck_assert_int_eq(m->calls->nelts, 1);
    return APR_ARRAY_IDX(m->calls, 0, llmgw_chat_call_t).args;
}

START_TEST(test_tool_arguments)
{
    static const char *const empty[] = {
        CALL(""), CALL(",\"arguments\":null"), CALL(",\"arguments\":\"\""),
        CALL(",\"arguments\":\"  \\n\\t \""), CALL(",\"arguments\":{}"),
        CALL(",\"arguments\":\"{}\""), NULL
    };
    const llmgw_chat_request_t *r;
    const char *err;
    int i;

    for (i = 0; empty[i]; i++) {
        r = rd(empty[i], &err);
        ck_assert_msg(r != NULL, "refused %s: %s", empty[i], err);
        ck_assert(json_is_object(args_of(r)));
        ck_assert_uint_eq(json_object_size(args_of(r)), 0);
    }
    r = rd(CALL(",\"arguments\":\"{\\\"a\\\":\\\"x\\\\u0000y\\\"}\""), &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(json_string_length(json_object_get(args_of(r), "a")),
                      3);
    r = rd(CALL(",\"arguments\":{\"a\":1}"), &err);
    ck_assert_int_eq(json_integer_value(json_object_get(args_of(r), "a")), 1);

    ck_assert_ptr_null(rd(CALL(",\"arguments\":\"{bad\""), &err));
    ck_assert_str_eq(err, "tool call arguments must be a JSON object");
    ck_assert_ptr_null(rd(CALL(",\"arguments\":\"[1]\""), &err));
    ck_assert_ptr_null(rd(CALL(",\"arguments\":5"), &err));
}
END_TEST

START_TEST(test_text_nul_and_join)
{
    const llmgw_chat_request_t *r;
    const llmgw_chat_msg_t *m;
    json_t *t;
    const char *err;

    r = rd("{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\","
           "\"text\":\"a\\u0000b\"},{\"type\":\"text\",\"text\":\"c\"}]},"
           "{\"role\":\"user\",\"content\":\"u\\u0000v\"}]}", &err);
    ck_assert_ptr_nonnull(r);
    m = &APR_ARRAY_IDX(r->messages, 0, llmgw_chat_msg_t);
    ck_assert_int_eq(m->role, LLMGW_ROLE_SYSTEM);
    t = llmgw_chat_msg_text(m, "--");
    ck_assert_uint_eq(json_string_length(t), 6);
    ck_assert_int_eq(memcmp(json_string_value(t), "a\0b--c", 6), 0);
    json_decref(t);
    ck_assert_uint_eq(part0(r, 1)->text.len, 3);

    /* system and tool messages hold text only */
    ck_assert_ptr_null(rd("{\"messages\":[{\"role\":\"system\",\"content\":"
                          "[{\"type\":\"image_url\",\"image_url\":\"https://x"
                          "\"}]}]}", &err));
    ck_assert_ptr_null(rd("{\"messages\":[{\"role\":\"tool\",\"content\":"
                          "\"r\"}]}", &err));
    ck_assert_str_eq(err, "tool messages require a tool_call_id");
    ck_assert_ptr_null(rd("{\"messages\":[]}", &err));
    ck_assert_str_eq(err, "messages must be a non-empty array");
}
END_TEST

/* Reads text itself (llmgw_chat_request_read_text: no tree). */
static llmgw_chat_request_t *rdt(const char *text, const char **err)
{
    llmgw_chat_request_t *r = NULL;
    llmgw_xlate_ctx_t x;
    const char *e = NULL;

    memset(&x, 0, sizeof(x));
    llmgw_chat_request_read_text(pool, text, strlen(text), all_params,
                                 "test", &x, &r, &e);
    if (err) {
        *err = e;
    }
    return r;
}

/* The request read from its text: plain texts are the text's own bytes,
 * escaped ones unescaped; the gateway's fields are ignored; duplicate and
 * escaped keys as jansson reads them; what jansson refuses is refused;
 * values nested deeper than the scanner goes are still read. */
START_TEST(test_read_from_text)
{
    static const char *const refused[] = {
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"max_tokens\":99999999999999999999}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"temperature\":1e999}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"a\\u0000b\":1}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}",
    };
    const char *text = "{\"provider\":\"p\",\"provider_key\":\"k\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"lost\"}],"
        "\"temperature\":2,\"temperature\":0.5,"
        "\"\\u006dessages\":[{\"role\":\"sys\\u0074em\",\"content\":"
        "\"plain\"},{\"role\":\"user\",\"name\":\"n\\u00e9\","
        "\"content\":[{\"type\":\"text\",\"text\":\"a\\nb\"}]}]}";
    const llmgw_chat_request_t *r;
    const llmgw_chat_msg_t *m;
    const char *err;
    char *deep;
    apr_size_t i;

    r = rdt(text, &err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_int_eq(r->messages->nelts, 2);
    ck_assert(json_real_value(r->temperature) == 0.5);
    m = &APR_ARRAY_IDX(r->messages, 0, llmgw_chat_msg_t);
    ck_assert_int_eq(m->role, LLMGW_ROLE_SYSTEM);
    ck_assert(part0(r, 0)->text.s > text
              && part0(r, 0)->text.s < text + strlen(text));
    ck_assert_uint_eq(part0(r, 0)->text.len, 5);
    ck_assert_int_eq(memcmp(part0(r, 0)->text.s, "plain", 5), 0);
    m = &APR_ARRAY_IDX(r->messages, 1, llmgw_chat_msg_t);
    ck_assert_str_eq(m->name, "n\xc3\xa9");
    ck_assert_uint_eq(part0(r, 1)->text.len, 3);
    ck_assert_int_eq(memcmp(part0(r, 1)->text.s, "a\nb", 3), 0);

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        ck_assert_msg(rdt(refused[i], &err) == NULL, "read %s", refused[i]);
        ck_assert_str_eq(err, "the request body is not valid JSON");
        ck_assert_ptr_null(json_loads(refused[i], JSON_ALLOW_NUL, NULL));
    }
    ck_assert_ptr_null(rdt("[1]", &err));
    ck_assert_str_eq(err, "request body must be a JSON object");
    ck_assert_ptr_null(rdt("{\"model\":\"m\"}", &err));
    ck_assert_str_eq(err, "messages must be a non-empty array");

    /* a response_format schema 300 levels deep: past the scanner */
    deep = "{}";
    for (i = 0; i < 300; i++) {
        deep = apr_psprintf(pool, "{\"a\":%s}", deep);
    }
    r = rdt(apr_psprintf(pool, "{\"messages\":[{\"role\":\"user\","
                         "\"content\":\"x\"}],\"response_format\":{\"type\""
                         ":\"json_schema\",\"json_schema\":{\"schema\":%s}}}",
                         deep), &err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_int_eq(r->response_format, LLMGW_RF_JSON_SCHEMA);
    ck_assert_uint_eq(part0(r, 0)->text.len, 1);
}
END_TEST

START_TEST(test_params_gate)
{
    const llmgw_chat_request_t *r;
    const char *err;

    /* seed is not translated here: a neutral value is never read */
    r = rd("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
           "\"seed\":null,\"max_tokens\":7,\"stop\":\"s\",\"temperature\":1,"
           "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
           "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":"
           "\"f\"}},\"response_format\":{\"type\":\"json_schema\","
           "\"json_schema\":{\"schema\":{\"type\":\"object\"}}}}", &err);
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_ptr_null(r->seed);
    ck_assert_int_eq(r->max_tokens, 7);
    ck_assert_int_eq(r->stop->nelts, 1);
    ck_assert(json_is_integer(r->temperature));
    ck_assert(r->stream && r->include_usage);
    ck_assert_int_eq(r->tool_choice, LLMGW_TC_FUNCTION);
    ck_assert_str_eq(r->tool_choice_name, "f");
    ck_assert_int_eq(r->response_format, LLMGW_RF_JSON_SCHEMA);
    ck_assert_ptr_nonnull(r->rf_schema);

    ck_assert_ptr_null(rd("{\"messages\":[{\"role\":\"user\",\"content\":"
                          "\"x\"}],\"seed\":3}", &err));
    ck_assert_ptr_null(rd("{\"messages\":[{\"role\":\"user\",\"content\":"
                          "\"x\"}],\"max_tokens\":0}", &err));
    ck_assert_ptr_null(rd("{\"messages\":[{\"role\":\"user\",\"content\":"
                          "\"x\"}],\"tools\":[{\"type\":\"function\","
                          "\"function\":{\"name\":\"\"}}]}", &err));
    ck_assert_ptr_null(rd("[1]", &err));
    ck_assert_str_eq(err, "request body must be a JSON object");
}
END_TEST

int main(void)
{
    Suite *s;
    TCase *tc;
    SRunner *sr;
    int failed;

    apr_initialize();
    s = suite_create("chat_request");
    tc = tcase_create("reader");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_data_url_case);
    tcase_add_test(tc, test_tool_arguments);
    tcase_add_test(tc, test_text_nul_and_join);
    tcase_add_test(tc, test_params_gate);
    tcase_add_test(tc, test_read_from_text);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
