/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Request validation (llmgw_parse.c): the endpoint of a path, what a good
 * and a bad body of each endpoint is, the gateway's own fields, and usage
 * read from an answer (as JSON, from the text, from a recorded stream). */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_test.h"
#include "llmgw_parse.h"

/* ================================================================== */
/* endpoint from path                                                  */
/* ================================================================== */

START_TEST(endpoint_paths)
{
    const char *name = "x";
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/chat/completions", &name),
                     LLMGW_EP_CHAT);
    ck_assert_str_eq(name, "chat/completions");
    ck_assert_int_eq(llmgw_endpoint_from_path("/api/v1/chat/completions",
                                              &name), LLMGW_EP_CHAT);
    ck_assert_str_eq(name, "chat/completions");
    ck_assert_int_eq(llmgw_endpoint_from_path("/llm/v1/embeddings", &name),
                     LLMGW_EP_EMBEDDINGS);
    ck_assert_str_eq(name, "embeddings");
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/chat/completions/", &name),
                     LLMGW_EP_CHAT);
    ck_assert_str_eq(name, "chat/completions");
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/embeddings//", &name),
                     LLMGW_EP_EMBEDDINGS);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/models", &name),
                     LLMGW_EP_MODELS);
    ck_assert_str_eq(name, "models");
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/models/", &name),
                     LLMGW_EP_MODELS);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/images/generations",
                                              &name), LLMGW_EP_IMAGES);
    ck_assert_str_eq(name, "images/generations");

    name = "x";
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/chat/completionsX", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_ptr_null(name);
    name = "x";
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/completions", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_ptr_null(name);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/xchat/completions", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/chat", &name),
                     LLMGW_EP_UNKNOWN);
    /* models/{id}: the id may hold a slash, raw or as %2F */
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/models/gpt-4o", &name),
                     LLMGW_EP_MODELS);
    ck_assert_str_eq(name, "models");
    ck_assert_str_eq(llmgw_model_id_from_path(tp, "/v1/models/gpt-4o"),
                     "gpt-4o");
    ck_assert_str_eq(llmgw_model_id_from_path(tp,
                     "/api/v1/models/openai%2Fgpt-4o-mini/"), "openai/gpt-4o-mini");
    ck_assert_str_eq(llmgw_model_id_from_path(tp,
                     "/v1/models/openrouter/meta-llama%2fx"), "openrouter/meta-llama/x");
    ck_assert_ptr_null(llmgw_model_id_from_path(tp, "/v1/models"));
    ck_assert_ptr_null(llmgw_model_id_from_path(tp, "/v1/models/"));
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/embeddingsz", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path("/", &name), LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path("", &name), LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path(NULL, &name), LLMGW_EP_UNKNOWN);
    ck_assert_ptr_null(name);
}
END_TEST

/* ================================================================== */
/* request parsing                                                     */
/* ================================================================== */

#define CHAT_MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

/* Expects a 400 naming param (NULL: param must be NULL). */
static void bad(llmgw_endpoint_e ep, const char *txt, const char *want_param)
{
    json_t *b = ut_json(txt);
    llmgw_parsed_t out;
    const char *err = NULL, *param = "unset";
    int rv = llmgw_parse_request(b, ep, strlen(txt), &out, &err, &param);
    ck_assert_msg(rv == 400, "%s: rv %d, want 400", txt, rv);
    ck_assert_msg(err != NULL && *err, "%s: no error message", txt);
    if (want_param) {
        ck_assert_msg(param != NULL && strcmp(param, want_param) == 0,
                      "%s: param '%s', want '%s'", txt,
                      param ? param : "(null)", want_param);
    }
    else {
        ck_assert_msg(param == NULL, "%s: param '%s', want null", txt, param);
    }
    ck_assert_ptr_null(out.models);       /* nothing leaked on failure */
    json_decref(b);
}

/* Parses a good body; the caller json_decref()s *body and out->models. */
static void good(llmgw_endpoint_e ep, const char *txt, json_t **body,
                 llmgw_parsed_t *out)
{
    const char *err = NULL, *param = NULL;
    int rv;
    *body = ut_json(txt);
    rv = llmgw_parse_request(*body, ep, strlen(txt), out, &err, &param);
    ck_assert_msg(rv == 0, "%s: rv %d (%s, param %s)", txt, rv,
                  err ? err : "", param ? param : "(null)");
}

START_TEST(parse_bad_requests)
{
    /* body not an object */
    bad(LLMGW_EP_CHAT, "[]", NULL);
    bad(LLMGW_EP_CHAT, "\"x\"", NULL);
    bad(LLMGW_EP_CHAT, "null", NULL);
    bad(LLMGW_EP_CHAT, "42", NULL);
    /* model */
    bad(LLMGW_EP_CHAT, "{" CHAT_MSGS "}", "model");
    bad(LLMGW_EP_CHAT, "{\"model\":null," CHAT_MSGS "}", "model");
    bad(LLMGW_EP_CHAT, "{\"model\":42," CHAT_MSGS "}", "model");
    bad(LLMGW_EP_CHAT, "{\"model\":[\"a\"]," CHAT_MSGS "}", "model");
    bad(LLMGW_EP_CHAT, "{\"model\":{}," CHAT_MSGS "}", "model");
    bad(LLMGW_EP_CHAT, "{\"model\":true,\"models\":[\"a\"]," CHAT_MSGS "}",
        "model");
    bad(LLMGW_EP_EMBEDDINGS, "{\"input\":\"x\"}", "model");
    /* messages */
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[]}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":{}}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":\"hi\"}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":null}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[\"hi\"]}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[null]}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"},"
        "[]]}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}",
        "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":1}]}",
        "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":null}]}",
        "messages");
    /* models fallback list with a missing model, also fails on messages */
    bad(LLMGW_EP_CHAT, "{\"models\":[\"a\",\"b\"]}", "messages");
    /* stream, stream_options */
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":1}", "stream");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":\"true\"}",
        "stream");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":true,"
        "\"stream_options\":true}", "stream_options");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream_options\":[]}",
        "stream_options");
    /* max tokens */
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"max_tokens\":-1}",
        "max_tokens");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"max_tokens\":1.5}",
        "max_tokens");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"max_tokens\":\"10\"}",
        "max_tokens");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"max_tokens\":true}",
        "max_tokens");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS
        ",\"max_completion_tokens\":-5}", "max_completion_tokens");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS
        ",\"max_completion_tokens\":\"x\",\"max_tokens\":10}",
        "max_completion_tokens");
    /* embeddings input */
    bad(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\"}", "input");
    bad(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":[]}", "input");
    bad(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":null}", "input");
    bad(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":42}", "input");
    /* images prompt */
    bad(LLMGW_EP_IMAGES, "{\"model\":\"i\"}", "prompt");
    bad(LLMGW_EP_IMAGES, "{\"model\":\"i\",\"prompt\":[\"x\"]}", "prompt");
    bad(LLMGW_EP_IMAGES, "{\"model\":\"i\",\"prompt\":7}", "prompt");
    /* gateway fields */
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"provider\":1}",
        "provider");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"provider\":[\"a\"]}",
        "provider");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"provider_key\":{}}",
        "provider_key");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"provider_key\":false}",
        "provider_key");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"models\":\"a\"}",
        "models");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"models\":[]}",
        "models");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"models\":[\"a\",1]}",
        "models");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"models\":[null]}",
        "models");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"models\":{}}",
        "models");
    bad(LLMGW_EP_CHAT, "{" CHAT_MSGS ",\"models\":[]}", "models");
    /* failures after `models` was taken do not leak it (ASan checks) */
    bad(LLMGW_EP_CHAT, "{\"models\":[\"a\"]," CHAT_MSGS ",\"stream\":3}",
        "stream");
    bad(LLMGW_EP_CHAT, "{\"models\":[\"a\"]," CHAT_MSGS ",\"max_tokens\":-3}",
        "max_tokens");
}
END_TEST

/* HardCarrx's older names llm_provider / llm_api_key: aliases of provider
 * and provider_key, flagged for a Deprecation header, stripped like them;
 * and which `model` the fallbacks start after. */
START_TEST(parse_legacy_fields_and_fallbacks)
{
    json_t *b;
    llmgw_parsed_t o;
    llmgw_parsed_t t;

    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"llm_provider\":\"or\","
         "\"llm_api_key\":\"sk-old\"}", &b, &o);
    ck_assert_str_eq(o.provider, "or");
    ck_assert_str_eq(o.provider_key, "sk-old");
    ck_assert_int_eq(o.legacy_fields, 1);
    ck_assert_int_eq(llmgw_strip_gateway_fields(b), 2);
    ck_assert_ptr_null(json_object_get(b, "llm_api_key"));
    ck_assert_ptr_null(json_object_get(b, "llm_provider"));
    json_decref(b);
    /* the new names win over the old ones */
    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"provider\":\"new\","
         "\"llm_provider\":\"old\"}", &b, &o);
    ck_assert_str_eq(o.provider, "new");
    ck_assert_int_eq(o.legacy_fields, 0);
    json_decref(b);
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"llm_api_key\":1}",
        "llm_api_key");
    /* never the text fast path: the fields must be stripped */
    ck_assert_int_eq(llmgw_parse_request_text(tp,
        "{\"model\":\"m\"," CHAT_MSGS ",\"llm_api_key\":\"k\"}",
        strlen("{\"model\":\"m\"," CHAT_MSGS ",\"llm_api_key\":\"k\"}"),
        LLMGW_EP_CHAT, &t), 0);

    good(LLMGW_EP_CHAT, "{\"model\":\"a\",\"models\":[\"b\"]," CHAT_MSGS "}",
         &b, &o);
    ck_assert_str_eq(o.model, "a");
    ck_assert_int_eq(o.model_from_models, 0);   /* b is a fallback */
    json_decref(o.models);
    json_decref(b);
    good(LLMGW_EP_CHAT, "{\"models\":[\"b\",\"c\"]," CHAT_MSGS "}", &b, &o);
    ck_assert_str_eq(o.model, "b");
    ck_assert_int_eq(o.model_from_models, 1);   /* c is the fallback */
    json_decref(o.models);
    json_decref(b);
    /* "m\u0000x" is valid JSON but no model name */
    {
        json_error_t je;
        const char *txt = "{\"model\":\"m\\u0000x\"," CHAT_MSGS "}";
        const char *err, *param;
        b = json_loads(txt, JSON_ALLOW_NUL, &je);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(llmgw_parse_request(b, LLMGW_EP_CHAT, strlen(txt), &o,
                                             &err, &param), 400);
        ck_assert_str_eq(param, "model");
        json_decref(b);
    }
}
END_TEST

START_TEST(parse_good_chat)
{
    json_t *b;
    llmgw_parsed_t o;
    const char *txt;

    txt = "{\"model\":\"openai/gpt-4o\"," CHAT_MSGS "}";
    good(LLMGW_EP_CHAT, txt, &b, &o);
    ck_assert_str_eq(o.model, "openai/gpt-4o");
    ck_assert_int_eq(o.stream, 0);
    ck_assert_int_eq(o.include_usage, 0);
    ck_assert_int_eq(o.max_tokens, -1);
    ck_assert_ptr_null(o.provider);
    ck_assert_ptr_null(o.provider_key);
    ck_assert_ptr_null(o.models);
    ck_assert_int_eq(o.prompt_estimate, (apr_int64_t)((strlen(txt) + 3) / 4));
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":true,"
         "\"stream_options\":{\"include_usage\":true},\"max_tokens\":100,"
         "\"max_completion_tokens\":50,\"provider\":\"anthropic\","
         "\"provider_key\":\"sk-x\"}", &b, &o);
    ck_assert_int_eq(o.stream, 1);
    ck_assert_int_eq(o.include_usage, 1);
    ck_assert_int_eq(o.max_tokens, 50);              /* preferred */
    ck_assert_str_eq(o.provider, "anthropic");
    ck_assert_str_eq(o.provider_key, "sk-x");
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":false,"
         "\"stream_options\":{\"include_usage\":false},\"max_tokens\":0,"
         "\"max_completion_tokens\":null,\"provider\":null,"
         "\"provider_key\":null,\"models\":null}", &b, &o);
    ck_assert_int_eq(o.stream, 0);
    ck_assert_int_eq(o.include_usage, 0);
    ck_assert_int_eq(o.max_tokens, 0);
    ck_assert_ptr_null(o.provider);
    ck_assert_ptr_null(o.provider_key);
    ck_assert_ptr_null(o.models);
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":null,"
         "\"stream_options\":null,\"max_tokens\":null}", &b, &o);
    ck_assert_int_eq(o.stream, 0);
    ck_assert_int_eq(o.max_tokens, -1);
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":true,"
         "\"stream_options\":{},\"max_tokens\":4096}", &b, &o);
    ck_assert_int_eq(o.stream, 1);
    ck_assert_int_eq(o.include_usage, 0);
    ck_assert_int_eq(o.max_tokens, 4096);
    json_decref(b);

    /* models: the list is kept, and the first names the model when absent */
    good(LLMGW_EP_CHAT, "{\"models\":[\"a/x\",\"b/y\"]," CHAT_MSGS "}", &b, &o);
    ck_assert_str_eq(o.model, "a/x");
    ck_assert_ptr_nonnull(o.models);
    ck_assert_uint_eq(json_array_size(o.models), 2);
    ck_assert_str_eq(json_string_value(json_array_get(o.models, 1)), "b/y");
    json_decref(o.models);
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":null,\"models\":[\"c/z\"]," CHAT_MSGS "}",
         &b, &o);
    ck_assert_str_eq(o.model, "c/z");
    json_decref(o.models);
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":\"main\",\"models\":[\"c/z\"]," CHAT_MSGS
         "}", &b, &o);
    ck_assert_str_eq(o.model, "main");
    ck_assert_uint_eq(json_array_size(o.models), 1);
    json_decref(o.models);
    json_decref(b);

    /* an empty body still estimates to 0 */
    good(LLMGW_EP_MODELS, "{\"model\":\"m\"}", &b, &o);
    json_decref(b);
    {
        const char *err, *param;
        b = ut_json("{\"model\":\"m\"}");
        ck_assert_int_eq(llmgw_parse_request(b, LLMGW_EP_MODELS, 0, &o, &err,
                                             &param), 0);
        ck_assert_int_eq(o.prompt_estimate, 0);
        ck_assert_int_eq(llmgw_parse_request(b, LLMGW_EP_MODELS, 4000, &o,
                                             &err, &param), 0);
        ck_assert_int_eq(o.prompt_estimate, 1000);
        ck_assert_int_eq(llmgw_parse_request(b, LLMGW_EP_MODELS, 4001, &o,
                                             &err, &param), 0);
        ck_assert_int_eq(o.prompt_estimate, 1001);
        json_decref(b);
    }
}
END_TEST

START_TEST(parse_good_other_endpoints)
{
    json_t *b;
    llmgw_parsed_t o;
    good(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":\"hello\"}", &b, &o);
    ck_assert_str_eq(o.model, "e");
    ck_assert_int_eq(o.max_tokens, -1);
    json_decref(b);
    good(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":[\"a\",\"b\"]}", &b,
         &o);
    json_decref(b);
    good(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":[[1,2,3]]}", &b, &o);
    json_decref(b);
    good(LLMGW_EP_IMAGES, "{\"model\":\"dall-e-3\",\"prompt\":\"a cat\"}", &b,
         &o);
    ck_assert_str_eq(o.model, "dall-e-3");
    json_decref(b);
    /* chat checks do not apply to embeddings */
    good(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":\"x\","
         "\"messages\":[]}", &b, &o);
    json_decref(b);
}
END_TEST

START_TEST(parse_strip_gateway_fields)
{
    json_t *b = ut_json("{\"model\":\"m\",\"provider\":\"p\",\"provider_key\":\"k\","
                      "\"models\":[\"a\"],\"messages\":[],\"stream\":true,"
                      "\"user\":\"u\",\"providers\":1}");
    ck_assert_int_eq(llmgw_strip_gateway_fields(b), 3);
    {
        json_t *want = ut_json("{\"model\":\"m\",\"messages\":[],\"stream\":true,"
                             "\"user\":\"u\",\"providers\":1}");
        ut_json_eq(b, want, "stripped");
        json_decref(want);
    }
    ck_assert_int_eq(llmgw_strip_gateway_fields(b), 0);
    json_decref(b);

    b = ut_json("{\"model\":\"m\",\"provider_key\":null}");
    ck_assert_int_eq(llmgw_strip_gateway_fields(b), 1);
    ck_assert_uint_eq(json_object_size(b), 1);
    ck_assert_ptr_nonnull(json_object_get(b, "model"));
    json_decref(b);
}
END_TEST

START_TEST(parse_usage)
{
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    json_t *j;

    j = ut_json("{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":11,"
              "\"completion_tokens\":7,\"total_tokens\":18}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.prompt_tokens, 11);
    ck_assert_int_eq(u.completion_tokens, 7);
    ck_assert_int_eq(u.total_tokens, 18);
    ck_assert_int_eq(u.cached_tokens, -1);
    json_decref(j);

    /* a chunk with usage: null leaves u alone */
    {
        llmgw_usage_t v = LLMGW_USAGE_INIT;
        j = ut_json("{\"object\":\"chat.completion.chunk\",\"choices\":[],"
                  "\"usage\":null}");
        ck_assert_int_eq(llmgw_usage_from_json(j, &v), 0);
        ck_assert_int_eq(v.prompt_tokens, -1);
        ck_assert_int_eq(v.completion_tokens, -1);
        ck_assert_int_eq(v.total_tokens, -1);
        json_decref(j);
        j = ut_json("{\"object\":\"chat.completion.chunk\",\"choices\":[]}");
        ck_assert_int_eq(llmgw_usage_from_json(j, &v), 0);
        json_decref(j);
        j = ut_json("[1]");
        ck_assert_int_eq(llmgw_usage_from_json(j, &v), 0);
        json_decref(j);
    }

    /* the final usage chunk of a stream */
    j = ut_json("{\"object\":\"chat.completion.chunk\",\"choices\":[],"
              "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,"
              "\"total_tokens\":8,\"prompt_tokens_details\":"
              "{\"cached_tokens\":2},\"completion_tokens_details\":"
              "{\"reasoning_tokens\":0}}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.prompt_tokens, 5);
    ck_assert_int_eq(u.completion_tokens, 3);
    ck_assert_int_eq(u.total_tokens, 8);
    ck_assert_int_eq(u.cached_tokens, 2);
    json_decref(j);

    /* embeddings: no completion_tokens */
    j = ut_json("{\"object\":\"list\",\"data\":[],\"usage\":{\"prompt_tokens\":9,"
              "\"total_tokens\":9}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.prompt_tokens, 9);
    ck_assert_int_eq(u.completion_tokens, 0);
    ck_assert_int_eq(u.total_tokens, 9);
    ck_assert_int_eq(u.cached_tokens, -1);
    json_decref(j);

    /* total computed when missing */
    j = ut_json("{\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.total_tokens, 10);
    json_decref(j);

    /* an empty usage object: all unknown */
    j = ut_json("{\"usage\":{}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.prompt_tokens, -1);
    ck_assert_int_eq(u.completion_tokens, -1);
    ck_assert_int_eq(u.total_tokens, -1);
    ck_assert_int_eq(u.cached_tokens, -1);
    json_decref(j);

    /* cached_tokens 0 is kept as 0 */
    j = ut_json("{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,"
              "\"total_tokens\":2,\"prompt_tokens_details\":"
              "{\"cached_tokens\":0}}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.cached_tokens, 0);
    json_decref(j);
}
END_TEST

/* Every usage chunk of the recorded OpenAI streams. */
START_TEST(parse_usage_fixtures)
{
    apr_size_t len;
    char *buf = ut_fixture("openai/test_parse_nothing.sse", &len);
    apr_array_header_t *ev = ut_sse_events(buf, len);
    int i, found = 0;
    for (i = 0; i < ev->nelts; i++) {
        llmgw_usage_t u = LLMGW_USAGE_INIT;
        json_t *j;
        if (strcmp(UT_EV(ev, i).data, "[DONE]") == 0) {
            continue;
        }
        j = ut_json(UT_EV(ev, i).data);
        if (llmgw_usage_from_json(j, &u)) {
            const json_t *us = json_object_get(j, "usage");
            found++;
            ck_assert_int_eq(u.prompt_tokens, json_integer_value(
                                 json_object_get(us, "prompt_tokens")));
            ck_assert_int_gt(u.completion_tokens, 0);
            ck_assert_int_eq(u.total_tokens,
                             u.prompt_tokens + u.completion_tokens);
        }
        json_decref(j);
    }
    ck_assert_int_eq(found, 1);
}
END_TEST




/* Usage read from a slice of the response text: the last "usage" key wins,
 * a quoted "usage" inside content never matches, null usage is not found. */
START_TEST(usage_from_text)
{
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    const char *resp =
        "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":"
        "\"the \\\"usage\\\": {\\\"prompt_tokens\\\":99} is\"}}],"
        "\"usage\" : {\"prompt_tokens\":12,\"completion_tokens\":5,"
        "\"total_tokens\":17,\"prompt_tokens_details\":{\"cached_tokens\":3}}}";
    ck_assert_int_eq(llmgw_usage_from_text(resp, strlen(resp), &u), 1);
    ck_assert_int_eq(u.prompt_tokens, 12);
    ck_assert_int_eq(u.completion_tokens, 5);
    ck_assert_int_eq(u.total_tokens, 17);
    ck_assert_int_eq(u.cached_tokens, 3);
    {
        llmgw_usage_t v = LLMGW_USAGE_INIT;
        const char *none = "{\"choices\":[],\"usage\":null}";
        const char *absent = "{\"choices\":[{\"message\":{\"content\":\"usage\"}}]}";
        const char *cut = "{\"usage\":{\"prompt_tokens\":";
        ck_assert_int_eq(llmgw_usage_from_text(none, strlen(none), &v), 0);
        ck_assert_int_eq(llmgw_usage_from_text(absent, strlen(absent), &v), 0);
        ck_assert_int_eq(llmgw_usage_from_text(cut, strlen(cut), &v), 0);
        ck_assert_int_eq(v.prompt_tokens, -1);
    }
}
END_TEST

/* What routing rules look at (tools, images, json), read by both paths
 * in the pass that checks the request: the same answer either way. */
START_TEST(parse_routing_facts)
{
    static const struct {
        llmgw_endpoint_e ep;
        const char *txt;
        int text_path, tools, images, json;
    } cases[] = {
        { LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
          "\"content\":\"hi\"}]}", 1, 0, 0, 0 },
        { LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
          "\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\","
          "\"function\":{\"name\":\"f\"}}]}", 1, 1, 0, 0 },
        { LLMGW_EP_CHAT, "{\"model\":\"m\",\"tools\":[],\"messages\":[{"
          "\"role\":\"user\",\"content\":\"hi\"}]}", 1, 0, 0, 0 },
        { LLMGW_EP_CHAT, "{\"model\":\"m\",\"functions\":[{\"name\":\"f\"}],"
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
          1, 1, 0, 0 },
        { LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\","
          "\"content\":\"s\"},{\"role\":\"user\",\"content\":[{\"type\":"
          "\"text\",\"text\":\"what?\"},{\"type\":\"image_url\","
          "\"image_url\":{\"url\":\"data:image/png;base64,AA\"}}]}]}",
          1, 0, 1, 0 },
        /* a text part that mentions image_url is not an image */
        { LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
          "\"content\":[{\"type\":\"text\",\"text\":\"image_url\"}]}]}",
          1, 0, 0, 0 },
        { LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
          "\"content\":\"hi\"}],\"response_format\":{\"type\":"
          "\"json_object\"}}", 1, 0, 0, 1 },
        { LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
          "\"content\":\"hi\"}],\"response_format\":{\"type\":"
          "\"json_schema\",\"json_schema\":{\"name\":\"x\"}}}", 1, 0, 0, 1 },
        { LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
          "\"content\":\"hi\"}],\"response_format\":{\"type\":\"text\"}}",
          1, 0, 0, 0 },
        /* gateway fields: the tree path decides, with the same facts */
        { LLMGW_EP_CHAT, "{\"model\":\"m\",\"provider\":\"p\",\"tools\":[{}],"
          "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
          "\"image_url\",\"image_url\":{\"url\":\"u\"}}]}],"
          "\"response_format\":{\"type\":\"json_object\"}}", 0, 1, 1, 1 },
        { LLMGW_EP_RESPONSES, "{\"model\":\"m\",\"input\":[{\"role\":\"user\","
          "\"content\":[{\"type\":\"input_image\",\"image_url\":\"u\"}]}],"
          "\"text\":{\"format\":{\"type\":\"json_schema\"}},\"tools\":[{"
          "\"type\":\"function\",\"name\":\"f\"}]}", 1, 1, 1, 1 },
        /* Messages: checked on the text too, with the same facts */
        { LLMGW_EP_MESSAGES, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{"
          "\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":"
          "{}}]}]}", 1, 0, 1, 0 },
        { LLMGW_EP_MESSAGES, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{"
          "\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
          "\"image\"}]}],\"tools\":[{\"name\":\"t\"}]}", 1, 1, 0, 0 },
        { LLMGW_EP_COUNT_TOKENS, "{\"model\":\"m\",\"messages\":[{"
          "\"role\":\"user\",\"content\":\"hi\"}]}", 1, 0, 0, 0 },
        /* escapes in the texts are no obstacle */
        { LLMGW_EP_MESSAGES, "{\"model\":\"m\",\"messages\":[{"
          "\"role\":\"user\",\"content\":\"a\\nb\"},{\"role\":"
          "\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
          "\"\\u00e9\"}]}]}", 1, 0, 0, 0 },
        { LLMGW_EP_MESSAGES, "{\"model\":\"m\",\"messages\":[{"
          "\"role\":\"user\",\"content\":[{\"type\":\"document\","
          "\"inlineData\":{\"mimeType\":\"image/png\"}}]}]}", 1, 0, 1, 0 },
        /* what only the tree can tell: a repeated type, escapes, parts,
         * the Responses and Gemini format members */
        { LLMGW_EP_MESSAGES, "{\"model\":\"m\",\"messages\":[{"
          "\"role\":\"user\",\"content\":[{\"type\":\"image\","
          "\"type\":\"text\"}]}]}", 0, 0, 0, 0 },
        { LLMGW_EP_MESSAGES, "{\"model\":\"m\",\"messages\":[{"
          "\"role\":\"user\",\"content\":[{\"type\":\"im\\u0061ge\"}]}]}",
          0, 0, 1, 0 },
        { LLMGW_EP_MESSAGES, "{\"model\":\"m\",\"messages\":[{"
          "\"role\":\"user\",\"parts\":[{\"type\":\"image\"}]}]}",
          0, 0, 1, 0 },
        { LLMGW_EP_MESSAGES, "{\"model\":\"m\",\"messages\":[{"
          "\"role\":\"user\",\"content\":\"x\"}],\"text\":{\"format\":"
          "{\"type\":\"json_schema\"}}}", 0, 0, 0, 1 },
        { LLMGW_EP_MESSAGES, "{\"model\":\"m\",\"messages\":[{"
          "\"role\":\"user\",\"content\":\"x\"}],\"response_format\":"
          "{\"type\":\"te\\u0078t\"}}", 0, 0, 0, 0 },
        { LLMGW_EP_GEMINI, "{\"contents\":[{\"parts\":[{\"inlineData\":{"
          "\"mimeType\":\"image/png\",\"data\":\"AA\"}}]}],"
          "\"generationConfig\":{\"responseMimeType\":\"application/json\"}}",
          0, 0, 1, 1 },
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llmgw_parsed_t tree, text;
        json_t *b;
        int plain;
        good(cases[i].ep, cases[i].txt, &b, &tree);
        ck_assert_msg(tree.tools == cases[i].tools, "case %d: tools",
                      (int)i);
        ck_assert_msg(tree.images == cases[i].images, "case %d: images",
                      (int)i);
        ck_assert_msg(tree.json == cases[i].json, "case %d: json", (int)i);
        plain = llmgw_parse_request_text(tp, cases[i].txt,
                                         strlen(cases[i].txt), cases[i].ep,
                                         &text);
        ck_assert_msg(plain == cases[i].text_path, "case %d: text path %d",
                      (int)i, plain);
        if (plain) {
            ck_assert_msg(text.tools == tree.tools
                          && text.images == tree.images
                          && text.json == tree.json,
                          "case %d: the text path reads %d %d %d", (int)i,
                          text.tools, text.images, text.json);
        }
        if (tree.models) {
            json_decref(tree.models);
        }
        json_decref(b);
    }
}
END_TEST

/* The messages are checked in the text path's one pass: anything but a
 * non-empty array of objects whose last "role" is a string goes to the
 * tree path (which words the error). */
START_TEST(text_path_messages)
{
    static const struct {
        const char *txt;
        int plain;
    } cases[] = {
        { "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"},"
          "{\"content\":[{\"type\":\"text\"}],\"role\":\"tool\"}]}", 1 },
        { "{\"model\":\"m\",\"messages\":[]}", 0 },
        { "{\"model\":\"m\",\"messages\":{}}", 0 },
        { "{\"model\":\"m\",\"messages\":\"hi\"}", 0 },
        { "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"},1]}", 0 },
        { "{\"model\":\"m\",\"messages\":[[{\"role\":\"user\"}]]}", 0 },
        { "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", 0 },
        { "{\"model\":\"m\",\"messages\":[{\"role\":1}]}", 0 },
        { "{\"model\":\"m\",\"messages\":[{\"role\":\"u\","
          "\"role\":null}]}", 0 },
        { "{\"model\":\"m\",\"messages\":[{\"role\":null,"
          "\"role\":\"u\"}]}", 1 },
        /* a role in a nested object is not the message's */
        { "{\"model\":\"m\",\"messages\":[{\"x\":{\"role\":\"u\"}}]}", 0 },
        { "{\"model\":\"m\",\"messages\":[{\"\\u0072ole\":\"u\"}]}", 0 },
        /* the next message starts with no role */
        { "{\"model\":\"m\",\"messages\":[{\"role\":\"u\"},{}]}", 0 },
        /* invalid JSON inside a message */
        { "{\"model\":\"m\",\"messages\":[{\"role\":\"u\",\"x\":tru}]}", 0 },
    };
    size_t i;
    llmgw_parsed_t t;
    const char *txt;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(llmgw_parse_request_text(tp, cases[i].txt,
                                               strlen(cases[i].txt),
                                               LLMGW_EP_CHAT, &t)
                      == cases[i].plain, "case %d", (int)i);
    }
    /* the pass keeps the spans the typed reader needs */
    txt = "{\"model\":\"m\",\"messages\":[{\"role\":\"system\","
          "\"content\":\"s\"},{\"role\":\"tool\",\"tool_call_id\":\"c\","
          "\"content\":\"r\",\"name\":\"n\",\"tool_calls\":[]}],"
          "\"temperature\":1}";
    ck_assert_int_eq(llmgw_parse_request_text(tp, txt, strlen(txt),
                                              LLMGW_EP_CHAT, &t), 1);
    ck_assert_ptr_nonnull(t.scan);
    ck_assert_ptr_eq(t.scan->text, txt);
    ck_assert_int_eq(t.scan->nmembers, 3);
    ck_assert_int_eq(t.scan->members[2].klen, 11);
    ck_assert_int_eq(t.scan->members[2].v.type, LLMGW_JV_NUMBER);
    ck_assert_int_eq(t.scan->recs->nelts, 2);
    {
        const llmgw_msg_rec_t *m = &APR_ARRAY_IDX(t.scan->recs, 1,
                                                  llmgw_msg_rec_t);
        ck_assert_int_eq(m->v[0].len, 6);           /* "tool" */
        ck_assert_int_eq(m->v[1].len, 3);           /* "r" */
        ck_assert_int_eq(m->v[2].len, 3);           /* "n" */
        ck_assert_int_eq(m->v[3].type, LLMGW_JV_ARRAY);
        ck_assert_int_eq(m->v[4].len, 3);           /* "c" */
    }
    /* more members than the first room: grown, all kept in order; more
     * than LLMGW_SCAN_MAX_MEMBERS: the reader scans the text itself */
    {
        char big[2048];
        int n, k;
        for (n = 12; n <= LLMGW_SCAN_MAX_MEMBERS + 1;
             n += LLMGW_SCAN_MAX_MEMBERS + 1 - 12) {
            int o = snprintf(big, sizeof(big), "{\"model\":\"m\","
                             "\"messages\":[{\"role\":\"user\","
                             "\"content\":\"x\"}]");
            for (k = 2; k < n; k++) {
                o += snprintf(big + o, sizeof(big) - (apr_size_t)o,
                              ",\"x%02d\":%d", k, k);
            }
            snprintf(big + o, sizeof(big) - (apr_size_t)o, "}");
            ck_assert_int_eq(llmgw_parse_request_text(tp, big, strlen(big),
                                                      LLMGW_EP_CHAT, &t), 1);
            if (n > LLMGW_SCAN_MAX_MEMBERS) {
                ck_assert_ptr_null(t.scan);
                continue;
            }
            ck_assert_ptr_nonnull(t.scan);
            ck_assert_int_eq(t.scan->nmembers, n);
            for (k = 2; k < n; k++) {
                char key[16];
                snprintf(key, sizeof(key), "x%02d", k);
                ck_assert_int_eq(t.scan->members[k].klen, 3);
                ck_assert(!memcmp(t.scan->members[k].key, key, 3));
                ck_assert_int_eq(t.scan->members[k].v.type, LLMGW_JV_NUMBER);
            }
        }
    }
    /* an escaped key in a message: the reader compares it unescaped and
     * scans the text itself */
    txt = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
          "\"c\\u006fntent\":\"x\"}]}";
    ck_assert_int_eq(llmgw_parse_request_text(tp, txt, strlen(txt),
                                              LLMGW_EP_CHAT, &t), 1);
    ck_assert_ptr_null(t.scan);
    /* not Chat: nothing kept */
    txt = "{\"model\":\"m\",\"input\":\"x\"}";
    ck_assert_int_eq(llmgw_parse_request_text(tp, txt, strlen(txt),
                                              LLMGW_EP_EMBEDDINGS, &t), 1);
    ck_assert_ptr_null(t.scan);
}
END_TEST

/* Responses requests are checked on their text too: what the text path
 * accepts the tree path accepts, with the same facts; the rest goes to
 * the tree path (which words the errors). */
START_TEST(text_path_responses)
{
    static const struct {
        const char *txt;
        int plain;
    } cases[] = {
        { "{\"model\":\"m\",\"input\":\"hi\"}", 1 },
        { "{\"model\":\"m\",\"instructions\":\"be\",\"input\":[{\"role\":"
          "\"user\",\"content\":\"hi\"},{\"type\":\"function_call_output\","
          "\"call_id\":\"c\",\"output\":\"r\"}],\"store\":false}", 1 },
        { "{\"model\":\"m\",\"input\":[]}", 1 },
        { "{\"model\":\"m\",\"input\":[1,\"x\",[]]}", 1 },
        { "{\"model\":\"m\"}", 0 },
        { "{\"model\":\"m\",\"input\":7}", 0 },
        { "{\"model\":\"m\",\"input\":null}", 0 },
        { "{\"model\":7,\"input\":\"x\"}", 0 },
        { "{\"input\":\"x\"}", 0 },
        /* max_output_tokens: a positive integer; max_tokens wins */
        { "{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":5}", 1 },
        { "{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":null}",
          1 },
        { "{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":0}", 0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":1.5}",
          0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":\"5\"}",
          0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":5,"
          "\"max_tokens\":7}", 1 },
        /* text.format */
        { "{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":{"
          "\"type\":\"json_schema\",\"schema\":{}}}}", 1 },
        { "{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":{"
          "\"type\":\"text\"}}}", 1 },
        { "{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":{"
          "\"type\":\"text\"},\"format\":{}}}", 1 },
        { "{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":7}}", 1 },
        { "{\"model\":\"m\",\"input\":\"x\",\"text\":\"json\"}", 1 },
        { "{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":{"
          "\"type\":\"te\\u0078t\"}}}", 0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"text\":{\"f\\u006frmat\":"
          "{}}}", 0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"response_format\":{\"type\":"
          "\"json_object\"}}", 1 },
        /* images in the input items */
        { "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{"
          "\"type\":\"input_text\",\"text\":\"input_image\"},{\"type\":"
          "\"input_image\",\"image_url\":\"u\"}]}]}", 1 },
        { "{\"model\":\"m\",\"input\":[{\"type\":\"input_image\"}]}", 1 },
        { "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{"
          "\"inlineData\":{\"mimeType\":\"image/png\"}}]}]}", 1 },
        { "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{"
          "\"type\":\"input_text\",\"text\":\"x\"}]}],\"tools\":[{\"type\":"
          "\"function\",\"name\":\"f\"}],\"stream\":true}", 1 },
        { "{\"model\":\"m\",\"input\":\"x\",\"tools\":[]}", 1 },
        { "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"parts\":[{"
          "\"type\":\"image\"}]}]}", 0 },
        { "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{"
          "\"type\":\"input_image\",\"type\":\"input_text\"}]}]}", 0 },
        { "{\"model\":\"m\",\"input\":[{\"r\\u006fle\":\"user\","
          "\"content\":\"x\"}]}", 0 },
        /* where else the tree path looks, gateway fields, escapes,
         * duplicates of what the gateway reads */
        { "{\"model\":\"m\",\"input\":\"x\",\"messages\":[{\"role\":"
          "\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"contents\":[]}", 0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"generationConfig\":{}}", 0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"provider\":\"p\"}", 0 },
        { "{\"model\":\"m\",\"inp\\u0075t\":\"x\"}", 0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"input\":\"y\"}", 0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"text\":{},\"text\":{}}", 0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"stream\":\"yes\"}", 0 },
        { "{\"model\":\"m\",\"input\":\"x\",\"instructions\":\"a\","
          "\"instructions\":null}", 1 },
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llmgw_parsed_t tree, text;
        const char *err = NULL, *param = NULL;
        json_t *b = ut_json(cases[i].txt);
        int rv = llmgw_parse_request(b, LLMGW_EP_RESPONSES,
                                     strlen(cases[i].txt), &tree, &err,
                                     &param);
        int plain = llmgw_parse_request_text(tp, cases[i].txt,
                                             strlen(cases[i].txt),
                                             LLMGW_EP_RESPONSES, &text);
        ck_assert_msg(plain == cases[i].plain, "case %d: text path %d",
                      (int)i, plain);
        if (plain) {
            ck_assert_msg(rv == 0, "case %d: the tree refuses (%s)", (int)i,
                          err);
            ck_assert_str_eq(text.model, tree.model);
            ck_assert_msg(text.stream == tree.stream
                          && text.include_usage == tree.include_usage
                          && text.max_tokens == tree.max_tokens
                          && text.prompt_estimate == tree.prompt_estimate
                          && text.tools == tree.tools
                          && text.images == tree.images
                          && text.json == tree.json,
                          "case %d: the text path reads %d %d %d %d %d %d, "
                          "the tree %d %d %d %d %d %d", (int)i,
                          text.stream, (int)text.max_tokens, text.tools,
                          text.images, text.json, text.include_usage,
                          tree.stream, (int)tree.max_tokens, tree.tools,
                          tree.images, tree.json, tree.include_usage);
            ck_assert_ptr_null(text.scan);      /* Chat's reader only */
            ck_assert_ptr_nonnull(text.top);
            ck_assert_ptr_eq(text.top->text, cases[i].txt);
        }
        if (rv == 0 && tree.models) {
            json_decref(tree.models);
        }
        json_decref(b);
    }
}
END_TEST

static Suite *parse_suite(void)
{
    Suite *s = suite_create("parse");
    TCase *tc = ut_tcase(s, "parse", 0);
    tcase_add_test(tc, endpoint_paths);
    tcase_add_test(tc, parse_bad_requests);
    tcase_add_test(tc, parse_good_chat);
    tcase_add_test(tc, parse_legacy_fields_and_fallbacks);
    tcase_add_test(tc, parse_good_other_endpoints);
    tcase_add_test(tc, parse_strip_gateway_fields);
    tcase_add_test(tc, parse_usage);
    tcase_add_test(tc, parse_usage_fixtures);
    tcase_add_test(tc, usage_from_text);
    tcase_add_test(tc, parse_routing_facts);
    tcase_add_test(tc, text_path_messages);
    tcase_add_test(tc, text_path_responses);
    return s;
}

UT_MAIN(parse_suite)
