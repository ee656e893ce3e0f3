/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The OpenAI-compatible wire format (llmgw_openai.c): the request relayed
 * as the client's bytes or with the model spliced in, answers and stream
 * events byte for byte, usage read, error events and truncated streams
 * detected, error bodies mapped; and the native providers' raw entries. */
#include <string.h>
#include <apr_strings.h>
#include "llmgw_test.h"
#include "llmgw_translate.h"

static const llmgw_translator_t *T = &llmgw_openai_translator;

static llmgw_xlate_ctx_t ctx(llmgw_xlate_report_t *rep)
{
    llmgw_xlate_ctx_t x;
    memset(&x, 0, sizeof(x));
    x.model = "gpt-4o-mini";
    x.id = "chatcmpl-req-1";
    x.created = 1700000000;
    x.request_id = "req-1";
    x.provider = "oai";
    x.default_max_tokens = 1024;
    x.report = rep;
    return x;
}

static llmgw_xlate_in_t in_of(const char *raw, int unchanged, json_t *tree)
{
    llmgw_xlate_in_t in;
    memset(&in, 0, sizeof(in));
    in.ep = LLMGW_EP_CHAT;
    in.endpoint_name = "chat/completions";
    in.raw = raw;
    in.len = strlen(raw);
    in.unchanged = unchanged;
    in.tree = tree;
    return in;
}

START_TEST(paths_and_headers)
{
    llmgw_xlate_ctx_t x = ctx(NULL);
    apr_array_header_t *h = apr_array_make(tp, 2, sizeof(const char *));

    ck_assert_str_eq(T->path(tp, &x, LLMGW_EP_CHAT, 1), "/chat/completions");
    ck_assert_str_eq(T->path(tp, &x, LLMGW_EP_EMBEDDINGS, 0), "/embeddings");
    ck_assert_str_eq(T->path(tp, &x, LLMGW_EP_IMAGES, 0),
                     "/images/generations");
    T->headers(tp, NULL, h);
    ck_assert_int_eq(h->nelts, 0);
    T->headers(tp, "sk-1", h);
    ck_assert_int_eq(h->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(h, 0, const char *),
                     "Authorization: Bearer sk-1");
    ck_assert_ptr_eq(llmgw_translator_for(LLMGW_PT_OPENAI), T);
    ck_assert_ptr_eq(llmgw_translator_for(LLMGW_PT_ANTHROPIC),
                     &llmgw_anthropic_translator);
    ck_assert_ptr_eq(llmgw_translator_for(LLMGW_PT_GEMINI),
                     &llmgw_gemini_translator);
}
END_TEST

START_TEST(request_relayed)
{
    static const char raw[] = "{\"model\":\"mini\",\"messages\":[]}";
    llmgw_xlate_ctx_t x = ctx(NULL);
    llmgw_xlate_in_t in = in_of(raw, 1, NULL);
    const char *out = NULL, *err = NULL;
    apr_size_t len = 0;
    json_t *tree, *got, *want;

    /* unchanged: the very bytes */
    ck_assert_int_eq(T->raw_request(T, tp, &x, &in, &out, &len, &err), 0);
    ck_assert_ptr_eq(out, raw);
    ck_assert_uint_eq(len, strlen(raw));

    /* no tree: the model spliced into the text */
    in = in_of(raw, 0, NULL);
    ck_assert_int_eq(T->raw_request(T, tp, &x, &in, &out, &len, &err), 0);
    ck_assert_str_eq(apr_pstrmemdup(tp, out, len),
                     "{\"model\":\"gpt-4o-mini\",\"messages\":[]}");

    /* no model in the text */
    in = in_of("{\"messages\":[]}", 0, NULL);
    ck_assert_int_eq(T->raw_request(T, tp, &x, &in, &out, &len, &err), 400);
    ck_assert_str_eq(err, "the request has no model");

    /* a tree: its model set, serialised */
    tree = ut_json("{\"model\":\"mini\",\"messages\":[]}");
    in = in_of(raw, 0, tree);
    ck_assert_int_eq(T->raw_request(T, tp, &x, &in, &out, &len, &err), 0);
    got = ut_jsonn(out, len, "body");
    want = ut_json("{\"model\":\"gpt-4o-mini\",\"messages\":[]}");
    ut_json_eq(got, want, "tree");
    json_decref(got);
    json_decref(want);
    json_decref(tree);
}
END_TEST

START_TEST(answer_relayed)
{
    static const char body[] = "{\"choices\":[{\"index\":0}],\"usage\":"
        "{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}";
    llmgw_xlate_ctx_t x = ctx(NULL);
    llmgw_xlate_in_t in = in_of("{}", 0, NULL);
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    const char *out = NULL;
    apr_size_t len = 0;

    ck_assert_int_eq(T->raw_response(T, tp, &x, &in, body, strlen(body),
                                     &out, &len, &u), 0);
    ck_assert_ptr_eq(out, body);
    ck_assert_uint_eq(len, strlen(body));
    ck_assert_int_eq(u.prompt_tokens, 3);
    ck_assert_int_eq(u.completion_tokens, 4);
}
END_TEST

START_TEST(embeddings_base64)
{
    static const char body[] = "{\"object\":\"list\",\"data\":[{\"index\":0,"
        "\"embedding\":[1.0,0.5]}]}";
    llmgw_xlate_ctx_t x = ctx(NULL);
    json_t *tree = ut_json("{\"input\":\"a\",\"encoding_format\":\"base64\"}");
    llmgw_xlate_in_t in = in_of("{}", 0, tree);
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    const char *out = NULL;
    apr_size_t len = 0;
    json_t *j;

    in.ep = LLMGW_EP_EMBEDDINGS;
    ck_assert_int_eq(T->raw_response(T, tp, &x, &in, body, strlen(body),
                                     &out, &len, &u), 0);
    j = ut_jsonn(out, len, "answer");
    ck_assert(json_is_string(json_object_get(
        json_array_get(json_object_get(j, "data"), 0), "embedding")));
    json_decref(j);
    json_decref(tree);

    /* floats asked: relayed as they came */
    in.tree = NULL;
    ck_assert_int_eq(T->raw_response(T, tp, &x, &in, body, strlen(body),
                                     &out, &len, &u), 0);
    ck_assert_ptr_eq(out, body);
}
END_TEST

/* Collects what a stream emits, "|"-joined. */
static int collect(void *baton, const char *data, apr_size_t len)
{
    char **acc = baton;
    *acc = apr_pstrcat(tp, *acc, *acc[0] ? "|" : "",
                       apr_pstrmemdup(tp, data, len), NULL);
    return 0;
}

#define EV(s, d) T->stream_event((s), NULL, (d), strlen(d), collect, &acc)

START_TEST(stream_relayed)
{
    static const char c1[] = "{\"choices\":[{\"index\":0,\"delta\":"
        "{\"content\":\"hi\"},\"finish_reason\":null}]}";
    static const char c2[] = "{\"choices\":[{\"index\":0,\"delta\":{},"
        "\"finish_reason\":\"stop\"}]}";
    static const char c3[] = "{\"choices\":[],\"usage\":{\"prompt_tokens\":"
        "2,\"completion_tokens\":1,\"total_tokens\":3}}";
    llmgw_usage_t now = LLMGW_USAGE_INIT, u = LLMGW_USAGE_INIT;
    llmgw_xlate_report_t rep;
    llmgw_xlate_ctx_t x;
    llmgw_stream_t *s;
    char *acc = "";

    memset(&rep, 0, sizeof(rep));
    rep.usage = &now;
    x = ctx(&rep);
    s = T->stream_new(tp, &x);
    ck_assert_int_eq(EV(s, c1), LLMGW_XLATE_CONTINUE);
    ck_assert_int_eq(EV(s, c2), LLMGW_XLATE_CONTINUE);
    ck_assert_int_eq(EV(s, c3), LLMGW_XLATE_CONTINUE);
    ck_assert_int_eq(now.total_tokens, 3);      /* noted as it came */
    ck_assert_int_eq(EV(s, "[DONE]"), LLMGW_XLATE_END);
    ck_assert_str_eq(acc, apr_pstrcat(tp, c1, "|", c2, "|", c3, NULL));
    T->stream_usage(s, &u);
    ck_assert_int_eq(u.prompt_tokens, 2);

    /* the terminal event came, [DONE] did not: complete */
    acc = "";
    s = T->stream_new(tp, &x);
    EV(s, c2);
    ck_assert_int_eq(T->stream_finish(s, collect, &acc), LLMGW_XLATE_END);
}
END_TEST

START_TEST(stream_cut_and_errors)
{
    static const char c1[] = "{\"choices\":[{\"index\":0,\"delta\":"
        "{\"content\":\"hi\"},\"finish_reason\":null}]}";
    static const char er[] = "{\"error\":{\"message\":\"overloaded\"}}";
    llmgw_xlate_ctx_t x = ctx(NULL);
    llmgw_stream_t *s;
    char *acc = "";
    json_t *j;

    /* [DONE] without a finish_reason: an error event, not an end */
    s = T->stream_new(tp, &x);
    EV(s, c1);
    acc = "";
    ck_assert_int_eq(EV(s, "[DONE]"), LLMGW_XLATE_ERROR);
    j = ut_json(acc);
    ck_assert_str_eq(json_string_value(json_object_get(
        json_object_get(j, "error"), "code")), "invalid_upstream_response");
    json_decref(j);

    /* the upstream closed before a finish_reason */
    s = T->stream_new(tp, &x);
    EV(s, c1);
    acc = "";
    ck_assert_int_eq(T->stream_finish(s, collect, &acc), LLMGW_XLATE_ERROR);
    ck_assert(strstr(acc, "ended before its finish_reason") != NULL);

    /* an error object is relayed as is, and ends the stream */
    s = T->stream_new(tp, &x);
    acc = "";
    ck_assert_int_eq(EV(s, er), LLMGW_XLATE_ERROR);
    ck_assert_str_eq(acc, er);
    /* "error" inside a text is not an error event */
    acc = "";
    ck_assert_int_eq(EV(s, "{\"choices\":[{\"delta\":{\"content\":"
                        "\"\\\"error\\\"\"}}]}"), LLMGW_XLATE_CONTINUE);
}
END_TEST

START_TEST(error_bodies)
{
    llmgw_error_t e;
    static const char b[] = "{\"error\":{\"message\":\"bad\",\"type\":"
        "\"invalid_request_error\",\"code\":\"x\",\"param\":\"n\"}}";

    memset(&e, 0, sizeof(e));
    T->error(tp, 400, b, strlen(b), &e);
    ck_assert_int_eq(e.status, 400);
    ck_assert_str_eq(e.type, "invalid_request_error");
    ck_assert_str_eq(e.message, "bad");
    ck_assert_str_eq(e.code, "x");
    ck_assert_str_eq(e.param, "n");
    memset(&e, 0, sizeof(e));
    T->error(tp, 503, b, strlen(b), &e);
    ck_assert_int_eq(e.status, 502);
    ck_assert_str_eq(e.type, "provider_error");
    ck_assert_str_eq(e.message, "provider answered 503: bad");
    memset(&e, 0, sizeof(e));
    T->error(tp, 404, "<html>", 6, &e);
    ck_assert_int_eq(e.status, 404);
    ck_assert_str_eq(e.message, "provider answered 404");
}
END_TEST

/* The native providers build their body from the tree. */
START_TEST(native_from_tree)
{
    const llmgw_translator_t *A = &llmgw_anthropic_translator;
    llmgw_xlate_ctx_t x = ctx(NULL);
    llmgw_xlate_in_t in = in_of("{", 0, NULL);
    const char *out = NULL, *err = NULL;
    apr_size_t len = 0;
    json_t *tree, *j;

    x.model = "claude-x";
    ck_assert_int_eq(A->raw_request(A, tp, &x, &in, &out, &len, &err), 400);
    ck_assert_str_eq(err, "the request body is not valid JSON");
    tree = ut_json("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                   "\"content\":\"hi\"}]}");
    in = in_of("{}", 0, tree);
    in.ep = LLMGW_EP_EMBEDDINGS;
    in.endpoint_name = "embeddings";
    ck_assert_int_eq(A->raw_request(A, tp, &x, &in, &out, &len, &err), 400);
    ck_assert_str_eq(err, "provider 'oai' does not support embeddings");
    in.ep = LLMGW_EP_CHAT;
    ck_assert_int_eq(A->raw_request(A, tp, &x, &in, &out, &len, &err), 0);
    j = ut_jsonn(out, len, "native");
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")),
                     "claude-x");
    ck_assert(json_is_array(json_object_get(j, "messages")));
    json_decref(j);
    json_decref(tree);
}
END_TEST

static Suite *openai_suite(void)
{
    Suite *s = suite_create("openai");
    TCase *tc = ut_tcase(s, "openai", 0);
    tcase_add_test(tc, paths_and_headers);
    tcase_add_test(tc, request_relayed);
    tcase_add_test(tc, answer_relayed);
    tcase_add_test(tc, embeddings_base64);
    tcase_add_test(tc, stream_relayed);
    tcase_add_test(tc, stream_cut_and_errors);
    tcase_add_test(tc, error_bodies);
    tcase_add_test(tc, native_from_tree);
    return s;
}

UT_MAIN(openai_suite)
