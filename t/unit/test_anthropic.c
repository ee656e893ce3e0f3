/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Unit tests of the Anthropic Messages API translator
 * (mod_llmgw/providers/llmgw_anthropic.c), including every recorded stream in
 * $LLMGW_SHARED_DIR/fixtures/anthropic. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "llmgw_test.h"
#include "llmgw_translate.h"
#include "llmgw_sse.h"
#include "llmgw_buf.h"
#include "llmgw_stream_reduce.h"
#include "llmgw_answer.h"

static const llmgw_translator_t *T = &llmgw_anthropic_translator;

static llmgw_xlate_ctx_t ctx(void)
{
    llmgw_xlate_ctx_t x;
    memset(&x, 0, sizeof(x));
    x.model = "claude-test";
    x.id = "chatcmpl-test1";
    x.created = 1700000000;
    x.request_id = "req-123";
    x.provider = "anth";
    x.default_max_tokens = 1024;
    x.include_usage = 1;
    return x;
}

/* Translates an OpenAI request; returns the native body (caller decrefs)
 * or NULL with *err set. */
static json_t *xreq(const char *txt, const char **err)
{
    llmgw_xlate_ctx_t x = ctx();
    json_t *in = ut_json(txt);
    const char *e = NULL;
    json_t *out = T->chat_request(tp, in, &x, &e);
    json_decref(in);
    x = ctx();
    ut_same_from_text(T, txt, out, &x);
    if (out == NULL) {
        ck_assert_msg(e != NULL && *e, "NULL without an error for %s", txt);
    }
    if (err) {
        *err = e;
    }
    return out;
}

static json_t *xreq_ok(const char *txt)
{
    const char *err = NULL;
    json_t *out = xreq(txt, &err);
    ck_assert_msg(out != NULL, "unexpected error '%s' for %s", err, txt);
    return out;
}

static const char *xreq_err(const char *txt)
{
    const char *err = NULL;
    json_t *out = xreq(txt, &err);
    if (out != NULL) {
        char *s = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        ck_abort_msg("expected an error for %s, got %s", txt, s);
    }
    return err;
}

/* Asserts that j equals the JSON text want. */
static void assert_json(const json_t *j, const char *want)
{
    json_t *w = ut_json(want);
    ut_json_eq(j, w, want);
    json_decref(w);
}

static void assert_member(const json_t *obj, const char *key, const char *want)
{
    assert_json(json_object_get(obj, key), want);
}

/* ------------------------------------------------------------------ */
/* path, headers                                                       */
/* ------------------------------------------------------------------ */

START_TEST(test_path_headers)
{
    llmgw_xlate_ctx_t x = ctx();
    apr_array_header_t *h = apr_array_make(tp, 4, sizeof(const char *));

    ck_assert_str_eq(T->name, "anthropic");
    ck_assert_str_eq(T->path(tp, &x, LLMGW_EP_CHAT, 0), "/v1/messages");
    ck_assert_str_eq(T->path(tp, &x, LLMGW_EP_CHAT, 1), "/v1/messages");
    ck_assert_ptr_null(T->path(tp, &x, LLMGW_EP_EMBEDDINGS, 0));
    ck_assert_ptr_null(T->path(tp, &x, LLMGW_EP_IMAGES, 0));
    ck_assert_ptr_null(T->path(tp, &x, LLMGW_EP_MODELS, 0));
    ck_assert_ptr_null(T->embeddings_request);
    ck_assert_ptr_null(T->embeddings_response);

    T->headers(tp, "sk-ant-1", h);
    ck_assert_int_eq(h->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(h, 0, const char *), "x-api-key: sk-ant-1");
    ck_assert_str_eq(APR_ARRAY_IDX(h, 1, const char *),
                     "anthropic-version: 2023-06-01");

    apr_array_clear(h);
    T->headers(tp, NULL, h);
    ck_assert_int_eq(h->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(h, 0, const char *),
                     "anthropic-version: 2023-06-01");
}
END_TEST

/* ------------------------------------------------------------------ */
/* chat request                                                        */
/* ------------------------------------------------------------------ */

START_TEST(test_req_basic)
{
    json_t *o = xreq_ok("{\"model\":\"x\",\"messages\":[{\"role\":\"user\","
                        "\"content\":\"Hi\"}]}");
    assert_json(o, "{\"model\":\"claude-test\",\"max_tokens\":1024,"
                "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                "\"text\",\"text\":\"Hi\"}]}]}");
    json_decref(o);
}
END_TEST

START_TEST(test_req_system)
{
    json_t *o = xreq_ok(
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"A\"},"
        "{\"type\":\"text\",\"text\":\"B\"}]},"
        "{\"role\":\"user\",\"content\":\"Hi\"},"
        "{\"role\":\"developer\",\"content\":\"Late.\"}]}");
    assert_member(o, "system", "\"Be brief.\\n\\nA\\n\\nB\\n\\nLate.\"");
    assert_member(o, "messages", "[{\"role\":\"user\",\"content\":[{\"type\":"
                  "\"text\",\"text\":\"Hi\"}]}]");
    json_decref(o);

    /* no system message: no system member */
    o = xreq_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
    ck_assert_ptr_null(json_object_get(o, "system"));
    json_decref(o);

    /* only a system message: nothing to send */
    xreq_err("{\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}");
    /* images are not allowed in system messages */
    xreq_err("{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":"
             "\"image_url\",\"image_url\":{\"url\":\"https://a/b.png\"}}]},"
             "{\"role\":\"user\",\"content\":\"Hi\"}]}");
}
END_TEST

/* Texts written from the request text: a string without escapes copied as
 * it is, one with escapes escaped again as jansson would; the system texts
 * joined escaped ("\n\n"), an empty system message left out. */
START_TEST(test_req_text_escapes)
{
    static const char req[] =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Plain \xc3\xa9/\"},"
        "{\"role\":\"system\",\"content\":\"\"},"
        "{\"role\":\"developer\",\"content\":\"q\\\"\\u00e9\\/\\t\\u0001\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"a\\nb\"},{\"type\":\"text\",\"text\":\"c d\"}]}],"
        "\"max_tokens\":5}";
    static const char want[] =
        "{\"model\":\"claude-test\",\"max_tokens\":5,\"system\":"
        "\"Plain \xc3\xa9/\\n\\nq\\\"\xc3\xa9/\\t\\u0001\",\"messages\":"
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"a\\nb\"},{\"type\":\"text\",\"text\":\"c d\"}]}]}";
    llmgw_xlate_ctx_t x = ctx();
    llmgw_xlate_in_t in;
    const char *out = NULL, *err = NULL;
    apr_size_t len = 0;

    memset(&in, 0, sizeof(in));
    in.ep = LLMGW_EP_CHAT;
    in.raw = req;
    in.len = sizeof(req) - 1;
    ck_assert_int_eq(T->raw_request(T, tp, &x, &in, &out, &len, &err), 0);
    ck_assert_msg(len == sizeof(want) - 1 && !memcmp(out, want, len),
                  "%.*s", (int)len, out);
}
END_TEST

START_TEST(test_req_merge)
{
    json_t *o = xreq_ok(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"b\"},"
        "{\"type\":\"text\",\"text\":\"c\"}]},"
        "{\"role\":\"assistant\",\"content\":\"d\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"e\"}]},"
        "{\"role\":\"user\",\"content\":\"f\"}]}");
    assert_member(o, "messages",
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"text\",\"text\":\"b\"},{\"type\":\"text\",\"text\":\"c\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"d\"},"
        "{\"type\":\"text\",\"text\":\"e\"}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"f\"}]}]");
    json_decref(o);

    /* an empty assistant message disappears and its neighbours merge */
    o = xreq_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
                "{\"role\":\"assistant\",\"content\":\"\"},"
                "{\"role\":\"user\",\"content\":\"b\"}]}");
    assert_member(o, "messages",
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"text\",\"text\":\"b\"}]}]");
    json_decref(o);
}
END_TEST

START_TEST(test_req_images)
{
    json_t *o = xreq_ok(
        "{\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"What is this?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"data:image/png;base64,iVBORw0KGgo=\",\"detail\":\"low\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"https://example.com/cat.jpg\"}},"
        "{\"type\":\"image_url\",\"image_url\":\"http://example.com/d.gif\"}]}]}");
    assert_member(o, "messages",
        "[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"What is this?\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":"
        "\"image/png\",\"data\":\"iVBORw0KGgo=\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":"
        "\"https://example.com/cat.jpg\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":"
        "\"http://example.com/d.gif\"}}]}]");
    json_decref(o);

    o = xreq_ok("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                "\"image_url\",\"image_url\":{\"url\":"
                "\"data:image/jpeg;base64,/9j/4AAQ\"}}]}]}");
    assert_member(json_object_get(json_array_get(json_object_get(
                      json_array_get(json_object_get(o, "messages"), 0),
                      "content"), 0), "source"), "media_type", "\"image/jpeg\"");
    json_decref(o);

    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
             "\"image_url\",\"image_url\":{\"url\":\"data:image/png,abc\"}}]}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
             "\"image_url\",\"image_url\":{\"url\":\"data:;base64,abc\"}}]}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
             "\"image_url\",\"image_url\":{\"url\":\"data:image/png\"}}]}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
             "\"image_url\",\"image_url\":{\"url\":\"ftp://x/y.png\"}}]}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
             "\"image_url\",\"image_url\":{}}]}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
             "\"input_audio\",\"input_audio\":{}}]}]}");
}
END_TEST

START_TEST(test_req_tools)
{
    json_t *o = xreq_ok(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"description\":\"Weather of a city\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]}");
    assert_member(o, "tools",
        "[{\"name\":\"get_weather\",\"description\":\"Weather of a city\","
        "\"input_schema\":{\"type\":\"object\",\"properties\":{\"city\":"
        "{\"type\":\"string\"}},\"required\":[\"city\"]}},"
        "{\"name\":\"now\",\"input_schema\":{\"type\":\"object\","
        "\"properties\":{}}}]");
    ck_assert_ptr_null(json_object_get(o, "tool_choice"));
    json_decref(o);

    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
             "\"tools\":[{\"type\":\"code_interpreter\"}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
             "\"tools\":[{\"type\":\"function\",\"function\":{}}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
             "\"tools\":{}}");
}
END_TEST

#define TOOLS_REQ(extra) \
    "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]," \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]" \
    extra "}"

START_TEST(test_req_tool_choice)
{
    static const struct { const char *extra, *want; } cases[] = {
        { ",\"tool_choice\":\"auto\"", "{\"type\":\"auto\"}" },
        { ",\"tool_choice\":\"required\"", "{\"type\":\"any\"}" },
        { ",\"tool_choice\":\"none\"", "{\"type\":\"none\"}" },
        { ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}",
          "{\"type\":\"tool\",\"name\":\"f\"}" },
        { ",\"tool_choice\":\"auto\",\"parallel_tool_calls\":false",
          "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}" },
        { ",\"tool_choice\":\"required\",\"parallel_tool_calls\":false",
          "{\"type\":\"any\",\"disable_parallel_tool_use\":true}" },
        { ",\"parallel_tool_calls\":false",
          "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}" },
        { ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}},"
          "\"parallel_tool_calls\":false",
          "{\"type\":\"tool\",\"name\":\"f\",\"disable_parallel_tool_use\":true}" },
        { ",\"parallel_tool_calls\":true", "null" },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *txt = apr_pstrcat(tp, TOOLS_REQ("%s"), NULL);
        json_t *o;
        txt = apr_psprintf(tp, txt, cases[i].extra);
        o = xreq_ok(txt);
        if (!strcmp(cases[i].want, "null")) {
            ck_assert_ptr_null(json_object_get(o, "tool_choice"));
        }
        else {
            assert_member(o, "tool_choice", cases[i].want);
        }
        json_decref(o);
    }

    xreq_err(TOOLS_REQ(",\"tool_choice\":\"sometimes\""));
    xreq_err(TOOLS_REQ(",\"tool_choice\":{\"type\":\"function\"}"));
    xreq_err(TOOLS_REQ(",\"tool_choice\":{\"type\":\"x\",\"function\":"
                       "{\"name\":\"f\"}}"));
    xreq_err(TOOLS_REQ(",\"tool_choice\":3"));
}
END_TEST

START_TEST(test_req_tool_calls_results)
{
    json_t *o = xreq_ok(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris and Rome?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"w\","
        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"w\","
        "\"arguments\":\"\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18C\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"20\"},{\"type\":\"text\",\"text\":\"C\"}]},"
        "{\"role\":\"user\",\"content\":\"Thanks\"},"
        "{\"role\":\"assistant\",\"content\":\"Let me check.\",\"tool_calls\":["
        "{\"id\":\"call_3\",\"type\":\"function\",\"function\":{\"name\":\"t\","
        "\"arguments\":\"{}\"}}]}]}");
    assert_member(o, "messages",
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"Weather in Paris and Rome?\"}]},"
        "{\"role\":\"assistant\",\"content\":["
        "{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"w\",\"input\":"
        "{\"city\":\"Paris\"}},"
        "{\"type\":\"tool_use\",\"id\":\"call_2\",\"name\":\"w\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":["
        "{\"type\":\"tool_result\",\"tool_use_id\":\"call_1\",\"content\":\"18C\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"call_2\",\"content\":\"20C\"},"
        "{\"type\":\"text\",\"text\":\"Thanks\"}]},"
        "{\"role\":\"assistant\",\"content\":["
        "{\"type\":\"text\",\"text\":\"Let me check.\"},"
        "{\"type\":\"tool_use\",\"id\":\"call_3\",\"name\":\"t\",\"input\":{}}]}]");
    json_decref(o);

    /* invalid JSON arguments, arguments not an object */
    ck_assert_ptr_nonnull(strstr(xreq_err(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{bad\"}}]}]}"),
        "arguments"));
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
             "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":"
             "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
             "{\"role\":\"assistant\",\"tool_calls\":[{\"type\":"
             "\"function\",\"function\":{\"name\":\"f\"}}]}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
             "{\"role\":\"assistant\",\"tool_calls\":{}}]}");
    /* tool message without tool_call_id */
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},"
             "{\"role\":\"tool\",\"content\":\"r\"}]}");
}
END_TEST

START_TEST(test_req_params)
{
    json_t *o = xreq_ok(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":\"END\","
        "\"temperature\":0.5,\"top_p\":1,\"user\":\"u-42\",\"stream\":true,"
        "\"max_tokens\":77,\"n\":1,\"frequency_penalty\":0}");
    assert_member(o, "stop_sequences", "[\"END\"]");
    assert_member(o, "temperature", "0.5");
    assert_member(o, "top_p", "1.0");
    assert_member(o, "metadata", "{\"user_id\":\"u-42\"}");
    assert_member(o, "stream", "true");
    assert_member(o, "max_tokens", "77");
    ck_assert_ptr_null(json_object_get(o, "frequency_penalty"));
    ck_assert_ptr_null(json_object_get(o, "n"));
    json_decref(o);

    o = xreq_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                "\"stop\":[\"a\",\"b\"],\"stream\":false,"
                "\"max_tokens\":77,\"max_completion_tokens\":99}");
    assert_member(o, "stop_sequences", "[\"a\",\"b\"]");
    assert_member(o, "max_tokens", "99");
    ck_assert_ptr_null(json_object_get(o, "stream"));
    ck_assert_ptr_null(json_object_get(o, "temperature"));
    ck_assert_ptr_null(json_object_get(o, "metadata"));
    json_decref(o);

    /* default max tokens */
    o = xreq_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                "\"max_tokens\":null,\"stop\":null}");
    assert_member(o, "max_tokens", "1024");
    ck_assert_ptr_null(json_object_get(o, "stop_sequences"));
    json_decref(o);

    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":\"9\"}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
             "\"max_completion_tokens\":-3}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":5}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
             "\"temperature\":\"hot\"}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}");
}
END_TEST

START_TEST(test_req_errors)
{
    ck_assert_str_eq(xreq_err("{}"), "messages must be a non-empty array");
    ck_assert_str_eq(xreq_err("{\"messages\":[]}"),
                     "messages must be a non-empty array");
    ck_assert_str_eq(xreq_err("{\"messages\":{}}"),
                     "messages must be a non-empty array");
    ck_assert_str_eq(xreq_err("[1,2]"), "request body must be a JSON object");
    ck_assert_str_eq(xreq_err("{\"messages\":[{\"role\":\"function\","
                              "\"content\":\"x\"}]}"),
                     "unsupported message role 'function'");
    xreq_err("{\"messages\":[1]}");
    xreq_err("{\"messages\":[{\"content\":\"x\"}]}");
    xreq_err("{\"messages\":[{\"role\":7,\"content\":\"x\"}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":5}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":[5]}]}");
    xreq_err("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}");
}
END_TEST

/* Odd shapes anywhere must give a body or an error, never a crash. */
START_TEST(test_req_fuzz_shapes)
{
    static const char *const reqs[] = {
        "null", "1", "\"s\"", "true", "{\"messages\":null}",
        "{\"messages\":[null]}", "{\"messages\":[[]]}",
        "{\"messages\":[{\"role\":null}]}",
        "{\"messages\":[{\"role\":\"user\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":null}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":{}}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[null,1,\"x\"]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":1}]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":5}]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":[]}}]}]}",
        "{\"messages\":[{\"role\":\"system\",\"content\":{}}]}",
        "{\"messages\":[{\"role\":\"system\",\"content\":[null]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[null,1]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":1,"
            "\"function\":1}]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\","
            "\"function\":{\"name\":\"f\",\"arguments\":7}}]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\","
            "\"function\":{\"name\":\"f\",\"arguments\":{\"k\":1}}}]}]}",
        "{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":5,\"content\":\"x\"}]}",
        "{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":7}]}",
        "{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"a\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[null]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":"
            "\"function\",\"function\":{\"name\":\"f\",\"parameters\":[]}}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[],"
            "\"tool_choice\":\"auto\",\"parallel_tool_calls\":false}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":"
            "{\"function\":5}}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"user\":5,"
            "\"stream\":\"yes\",\"top_p\":null,\"stop\":[]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            "\"max_tokens\":1.5}",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        json_t *o = xreq(reqs[i], NULL);
        json_decref(o);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* chat response                                                       */
/* ------------------------------------------------------------------ */

static json_t *xresp(const char *native, llmgw_usage_t *u)
{
    llmgw_xlate_ctx_t x = ctx();
    json_t *in = ut_json(native);
    json_t *out = T->chat_response(tp, in, &x, u);
    json_decref(in);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* The answer's text read in its one pass: a repeated member's last value
 * wins (content, usage), as jansson reads it; one that is not an array or
 * an object any more leaves nothing of the earlier one. */
static json_t *xresp_text(const char *body, llmgw_usage_t *u)
{
    llmgw_xlate_ctx_t x = ctx();
    llmgw_xlate_in_t in;
    const char *out = NULL;
    apr_size_t len = 0;

    memset(&in, 0, sizeof(in));
    in.ep = LLMGW_EP_CHAT;
    ck_assert_int_eq(T->raw_response(T, tp, &x, &in, body, strlen(body),
                                     &out, &len, u), 0);
    return ut_json(apr_pstrmemdup(tp, out, len));
}

START_TEST(test_resp_repeated_members)
{
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    json_t *o = xresp_text(
        "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"lost\"},{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\","
        "\"input\":{}}],\"usage\":{\"input_tokens\":5,\"output_tokens\":1},"
        "\"content\":[{\"type\":\"text\",\"text\":\"kept\",\"text\":\"last\"}],"
        "\"usage\":{\"output_tokens\":7},\"stop_reason\":\"end_turn\"}", &u);
    json_t *msg = json_object_get(json_array_get(json_object_get(o,
                                  "choices"), 0), "message");

    ck_assert_str_eq(json_string_value(json_object_get(msg, "content")),
                     "last");
    ck_assert_ptr_null(json_object_get(msg, "tool_calls"));
    ck_assert_int_eq(u.prompt_tokens, 0);
    ck_assert_int_eq(u.completion_tokens, 7);
    json_decref(o);

    o = xresp_text(
        "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"lost\"}],\"usage\":{\"output_tokens\":1},\"content\":5,"
        "\"usage\":null}", NULL);
    msg = json_object_get(json_array_get(json_object_get(o, "choices"), 0),
                          "message");
    ck_assert_str_eq(json_string_value(json_object_get(msg, "content")), "");
    ck_assert_ptr_null(json_object_get(o, "usage"));
    json_decref(o);
}
END_TEST

/* raw_response asked for the gateway's check (in.why) gives the verdict
 * llmgw_answer_invalid gives, in its one pass: the exchange retries or
 * relays on it. A refused answer: -1, usage untouched; a taken one: the
 * same text as without the check. */
START_TEST(test_resp_checked)
{
    static const char *const bodies[] = {
        "", "   ", "{", "[]", "[1]", "\"message\"", "null", "{}",
        "{\"type\":\"message\"}",
        "{\"content\":[]}",
        "{\"type\":\"message\",\"content\":[]}",
        "{\"type\":\"message\",\"content\":{}}",
        "{\"type\":\"error\",\"content\":[]}",
        "{\"type\":\"mess\\u0061ge\",\"content\":[]}",
        "{\"\\u0074ype\":\"message\",\"content\":[]}",
        "{\"type\":\"message\",\"\\u0063ontent\":[]}",
        "{\"type\":\"message\",\"content\":[],\"cont\\u0065nt\":5}",
        "{\"type\":\"message\",\"content\":[],\"content\":5}",
        "{\"type\":\"message\",\"content\":5,\"content\":[]}",
        "{\"type\":\"message\",\"type\":1,\"content\":[]}",
        "{\"type\":1,\"type\":\"message\",\"content\":[]}",
        "{\"type\":\"message\",\"content\":[{\"type\":\"text\","
        "\"text\":\"hi\"}],\"usage\":{\"input_tokens\":3,"
        "\"output_tokens\":2},\"stop_reason\":\"end_turn\"}",
        "{\"type\":\"message\",\"content\":[]} x",
        "{\"type\":\"message\",\"content\":[{\"type\":\"text\"",
        "{\"type\":\"message\",\"content\":[],\"usage\":"
        "{\"input_tokens\":1e999}}",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        llmgw_xlate_ctx_t x = ctx();
        ut_checked_as_gateway(T, LLMGW_PT_ANTHROPIC, bodies[i], &x);
    }

    /* another endpoint: checked as the gateway checks it, not translated */
    {
        llmgw_xlate_ctx_t x = ctx();
        llmgw_xlate_in_t in;
        const char *why = "unset", *out = NULL;
        apr_size_t len = 0;
        const char *ok = "{\"input_tokens\":3}";

        memset(&in, 0, sizeof(in));
        in.ep = LLMGW_EP_COUNT_TOKENS;
        in.why = &why;
        ck_assert_int_eq(T->raw_response(T, tp, &x, &in, ok, strlen(ok),
                                         &out, &len, NULL), -1);
        ck_assert_ptr_null(why);
        ck_assert_int_eq(T->raw_response(T, tp, &x, &in, "{}", 2,
                                         &out, &len, NULL), -1);
        ck_assert_str_eq(why, llmgw_answer_invalid(LLMGW_PT_ANTHROPIC,
                                                   LLMGW_EP_COUNT_TOKENS,
                                                   "{}", 2));
    }
}
END_TEST

START_TEST(test_resp_text)
{
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    json_t *o = xresp(
        "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-3\",\"content\":[{\"type\":\"text\",\"text\":\"Hello\"},"
        "{\"type\":\"thinking\",\"thinking\":\"hmm\"},"
        "{\"type\":\"text\",\"text\":\" world\"}],\"stop_reason\":\"end_turn\","
        "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,"
        "\"output_tokens\":5}}", &u);
    assert_json(o, "{\"id\":\"chatcmpl-test1\",\"object\":\"chat.completion\","
                "\"created\":1700000000,\"model\":\"claude-test\",\"choices\":"
                "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                "\"Hello world\",\"refusal\":null,\"reasoning_content\":\"hmm\"},"
                "\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
                "\"total_tokens\":15,\"prompt_tokens_details\":"
                "{\"cached_tokens\":0}}}");
    ck_assert_int_eq(u.prompt_tokens, 10);
    ck_assert_int_eq(u.completion_tokens, 5);
    ck_assert_int_eq(u.total_tokens, 15);
    ck_assert_int_eq(u.cached_tokens, 0);
    ck_assert_int_eq(u.cache_write_tokens, 0);
    json_decref(o);
}
END_TEST

START_TEST(test_resp_tool_use)
{
    json_t *o = xresp(
        "{\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":"
        "\"get_weather\",\"input\":{\"city\":\"Paris\",\"days\":[1,2]}},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"now\",\"input\":{}}],"
        "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":1,"
        "\"output_tokens\":2}}", NULL);
    json_t *msg = json_object_get(json_array_get(json_object_get(o, "choices"),
                                                 0), "message");
    json_t *tc = json_object_get(msg, "tool_calls");
    json_t *args;

    assert_member(msg, "content", "null");
    ck_assert_int_eq(json_array_size(tc), 2);
    assert_member(json_array_get(tc, 0), "id", "\"toolu_1\"");
    assert_member(json_array_get(tc, 0), "type", "\"function\"");
    assert_member(json_object_get(json_array_get(tc, 0), "function"), "name",
                  "\"get_weather\"");
    args = ut_json(json_string_value(json_object_get(json_object_get(
               json_array_get(tc, 0), "function"), "arguments")));
    assert_json(args, "{\"city\":\"Paris\",\"days\":[1,2]}");
    json_decref(args);
    assert_member(json_object_get(json_array_get(tc, 1), "function"),
                  "arguments", "\"{}\"");
    assert_member(json_array_get(json_object_get(o, "choices"), 0),
                  "finish_reason", "\"tool_calls\"");
    json_decref(o);

    /* text + tool call with end_turn: tool calls win */
    o = xresp("{\"content\":[{\"type\":\"text\",\"text\":\"Sure.\"},"
              "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}],"
              "\"stop_reason\":\"end_turn\"}", NULL);
    msg = json_object_get(json_array_get(json_object_get(o, "choices"), 0),
                          "message");
    assert_member(msg, "content", "\"Sure.\"");
    assert_member(json_array_get(json_object_get(o, "choices"), 0),
                  "finish_reason", "\"tool_calls\"");
    json_decref(o);

    /* tool call cut by max_tokens: length wins */
    o = xresp("{\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\","
              "\"input\":{}}],\"stop_reason\":\"max_tokens\"}", NULL);
    assert_member(json_array_get(json_object_get(o, "choices"), 0),
                  "finish_reason", "\"length\"");
    json_decref(o);
}
END_TEST

START_TEST(test_resp_usage_cache)
{
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    json_t *o = xresp("{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],"
                      "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":"
                      "12,\"cache_read_input_tokens\":100,"
                      "\"cache_creation_input_tokens\":30,\"output_tokens\":7}}",
                      &u);
    assert_member(o, "usage", "{\"prompt_tokens\":142,\"completion_tokens\":7,"
                  "\"total_tokens\":149,\"prompt_tokens_details\":"
                  "{\"cached_tokens\":100}}");
    ck_assert_int_eq(u.prompt_tokens, 142);
    ck_assert_int_eq(u.completion_tokens, 7);
    ck_assert_int_eq(u.total_tokens, 149);
    ck_assert_int_eq(u.cached_tokens, 100);
    ck_assert_int_eq(u.cache_write_tokens, 30);
    json_decref(o);
}
END_TEST

START_TEST(test_resp_stop_reasons)
{
    static const char *const map[][2] = {
        { "\"end_turn\"", "stop" }, { "\"max_tokens\"", "length" },
        { "\"tool_use\"", "tool_calls" }, { "\"stop_sequence\"", "stop" },
        { "\"refusal\"", "content_filter" }, { "\"brand_new_reason\"", "stop" },
        { "null", "stop" }, { "42", "stop" },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        json_t *o = xresp(apr_psprintf(tp, "{\"content\":[{\"type\":\"text\","
                                       "\"text\":\"x\"}],\"stop_reason\":%s}",
                                       map[i][0]), NULL);
        json_t *c = json_array_get(json_object_get(o, "choices"), 0);
        ck_assert_msg(!strcmp(json_string_value(json_object_get(c,
                      "finish_reason")), map[i][1]), "%s", map[i][0]);
        json_decref(o);
    }
}
END_TEST

START_TEST(test_resp_odd_shapes)
{
    static const char *const bodies[] = {
        "[]", "{}", "{\"content\":null}", "{\"content\":[null,1]}",
        "{\"content\":[{\"type\":\"text\"}]}",
        "{\"content\":[{\"type\":\"tool_use\"}]}",
        "{\"content\":[{\"type\":\"tool_use\",\"id\":3,\"name\":[],\"input\":5}]}",
        "{\"usage\":5}", "{\"usage\":{\"input_tokens\":\"9\"}}",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        llmgw_usage_t u = LLMGW_USAGE_INIT;
        json_t *o = xresp(bodies[i], &u);
        json_t *c = json_array_get(json_object_get(o, "choices"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(o, "object")),
                         "chat.completion");
        ck_assert_ptr_nonnull(json_string_value(json_object_get(c,
                                                                "finish_reason")));
        json_decref(o);
    }
    {
        /* not an object or an array: no answer (a 502 in the gateway) */
        llmgw_xlate_ctx_t x = ctx();
        json_t *in = json_null();
        ck_assert_ptr_null(T->chat_response(tp, in, &x, NULL));
        json_decref(in);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* errors                                                              */
/* ------------------------------------------------------------------ */

static llmgw_error_t xerr(int status, const char *body)
{
    llmgw_error_t e;
    memset(&e, 0x5a, sizeof(e));
    T->error(tp, status, body, body ? strlen(body) : 0, &e);
    ck_assert_int_eq(e.retry_after, -1);
    ck_assert_ptr_null(e.details);
    ck_assert_ptr_nonnull(e.message);
    ck_assert_ptr_nonnull(e.type);
    return e;
}

#define ANT_ERR(t, m) \
    "{\"type\":\"error\",\"error\":{\"type\":\"" t "\",\"message\":\"" m "\"}}"

START_TEST(test_errors)
{
    static const struct {
        int in; const char *etype; int status; const char *type, *code;
    } cases[] = {
        { 400, "invalid_request_error", 400, "invalid_request_error",
          "invalid_request_error" },
        { 401, "authentication_error", 401, "authentication_error",
          "authentication_error" },
        { 403, "permission_error", 403, "permission_error", "permission_error" },
        { 404, "not_found_error", 404, "invalid_request_error", "model_not_found" },
        { 413, "request_too_large", 413, "invalid_request_error",
          "request_too_large" },
        { 429, "rate_limit_error", 429, "rate_limit_error", "rate_limit_error" },
        { 500, "api_error", 502, "provider_error", "api_error" },
        { 529, "overloaded_error", 502, "provider_error", "overloaded_error" },
        { 503, "overloaded_error", 502, "provider_error", "overloaded_error" },
    };
    apr_size_t i;
    llmgw_error_t e;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *body = apr_psprintf(tp, ANT_ERR("%s", "it went wrong %d"),
                                        cases[i].etype, (int)i);
        e = xerr(cases[i].in, body);
        ck_assert_int_eq(e.status, cases[i].status);
        ck_assert_str_eq(e.type, cases[i].type);
        ck_assert_str_eq(e.code, cases[i].code);
        ck_assert_str_eq(e.message, apr_psprintf(tp, "it went wrong %d",
                                                 (int)i));
        ck_assert_int_eq(e.upstream_status, cases[i].in);
    }

    /* not JSON / no error object: generic message */
    e = xerr(502, "<html>Bad gateway</html>");
    ck_assert_int_eq(e.status, 502);
    ck_assert_str_eq(e.type, "provider_error");
    ck_assert_ptr_null(e.code);
    ck_assert_ptr_nonnull(strstr(e.message, "502"));
    e = xerr(400, "{\"error\":5}");
    ck_assert_int_eq(e.status, 400);
    ck_assert_str_eq(e.type, "invalid_request_error");
    e = xerr(401, NULL);
    ck_assert_str_eq(e.type, "authentication_error");
    e = xerr(400, "[1]");
    ck_assert_int_eq(e.status, 400);
    /* unknown error type on a 4xx keeps the status */
    e = xerr(409, ANT_ERR("conflict_error", "busy"));
    ck_assert_int_eq(e.status, 409);
    ck_assert_str_eq(e.code, "conflict_error");
}
END_TEST

/* ------------------------------------------------------------------ */
/* streams                                                             */
/* ------------------------------------------------------------------ */

typedef struct {
    apr_array_header_t *chunks;     /* const char * */
} collector_t;

static int collect(void *baton, const char *data, apr_size_t len)
{
    collector_t *c = baton;
    ck_assert_uint_eq(strlen(data), len);
    ck_assert_msg(memchr(data, '\n', len) == NULL && memchr(data, '\r', len)
                  == NULL, "an SSE data payload must be one line");
    APR_ARRAY_PUSH(c->chunks, const char *) = apr_pstrmemdup(tp, data, len);
    return 0;
}

static collector_t *collector(void)
{
    collector_t *c = apr_pcalloc(tp, sizeof(*c));
    c->chunks = apr_array_make(tp, 16, sizeof(const char *));
    return c;
}

/* What a client sees once it has put the chunks together. */
typedef struct {
    const char *text;
    int ntools;
    const char *tool_id[8];
    const char *tool_name[8];
    const char *tool_args[8];
    const char *finish;
    int has_usage;
    apr_int64_t prompt, completion, total, cached;
    json_t *error;                 /* the error envelope, if any (owned) */
} assembled_t;

/* Text, tool calls, finish reason and usage, from the shared reducer
 * (llmgw_stream_reduce) of the chunks before any error. */
static void reduce(const llmgw_buf_t *sse, int finished, assembled_t *a)
{
    json_t *doc = sse->len ? llmgw_stream_reduce(tp, sse->data, sse->len,
                                                 NULL) : NULL;
    json_t *msg, *tcs, *u, *content;
    size_t k;

    if (!doc) {
        ck_assert_msg(sse->len == 0, "the reducer refused the stream: %.*s",
                      (int)sse->len, sse->data);
        return;
    }
    msg = json_object_get(json_array_get(json_object_get(doc, "choices"), 0),
                          "message");
    content = json_object_get(msg, "content");
    if (json_is_string(content)) {
        a->text = apr_pstrdup(tp, json_string_value(content));
    }
    tcs = json_object_get(msg, "tool_calls");
    ck_assert_int_eq(json_array_size(tcs), a->ntools);
    for (k = 0; k < json_array_size(tcs); k++) {
        json_t *t = json_array_get(tcs, k);
        json_t *fn = json_object_get(t, "function");
        a->tool_id[k] = apr_pstrdup(tp, json_string_value(
                                    json_object_get(t, "id")));
        a->tool_name[k] = apr_pstrdup(tp, json_string_value(
                                      json_object_get(fn, "name")));
        a->tool_args[k] = apr_pstrdup(tp, json_string_value(
                                      json_object_get(fn, "arguments")));
    }
    if (finished) {
        a->finish = apr_pstrdup(tp, json_string_value(json_object_get(
            json_array_get(json_object_get(doc, "choices"), 0),
            "finish_reason")));
    }
    u = json_object_get(doc, "usage");
    if (json_is_object(u)) {
        a->has_usage = 1;
        a->prompt = json_integer_value(json_object_get(u, "prompt_tokens"));
        a->completion = json_integer_value(json_object_get(u,
                                                      "completion_tokens"));
        a->total = json_integer_value(json_object_get(u, "total_tokens"));
        a->cached = json_integer_value(json_object_get(json_object_get(u,
                        "prompt_tokens_details"), "cached_tokens"));
    }
    json_decref(doc);
}

/* Checks the structure of each chunk (one choice, role only in the first
 * chunk, tool calls started in index order with id, type and name, nothing
 * after the finish but the usage chunk, usage last, an error last) and
 * reduces them. */
static void assemble(const collector_t *c, assembled_t *a)
{
    int i;
    int after_finish = 0;
    llmgw_buf_t sse;

    memset(a, 0, sizeof(*a));
    a->text = "";
    llmgw_buf_init(&sse, tp, 1024);
    for (i = 0; i < c->chunks->nelts; i++) {
        const char *txt = APR_ARRAY_IDX(c->chunks, i, const char *);
        json_t *j = ut_json(txt);
        json_t *choices, *ch, *delta, *fr, *tc;
        size_t k;

        ck_assert_msg(json_is_object(j), "chunk %d not an object: %s", i, txt);
        if (json_object_get(j, "error")) {
            ck_assert_msg(i == c->chunks->nelts - 1, "error is not last: %s", txt);
            a->error = j;
            reduce(&sse, after_finish, a);
            return;
        }
        llmgw_buf_append(&sse, "data: ", 6);
        llmgw_buf_append(&sse, txt, strlen(txt));
        llmgw_buf_append(&sse, "\n\n", 2);
        ck_assert_str_eq(json_string_value(json_object_get(j, "id")),
                         "chatcmpl-test1");
        ck_assert_str_eq(json_string_value(json_object_get(j, "object")),
                         "chat.completion.chunk");
        ck_assert_int_eq(json_integer_value(json_object_get(j, "created")),
                         1700000000);
        ck_assert_str_eq(json_string_value(json_object_get(j, "model")),
                         "claude-test");
        choices = json_object_get(j, "choices");
        ck_assert_msg(json_is_array(choices), "no choices: %s", txt);
        if (json_array_size(choices) == 0) {
            json_t *u = json_object_get(j, "usage");
            ck_assert_msg(after_finish, "usage chunk before the finish: %s", txt);
            ck_assert_msg(i == c->chunks->nelts - 1, "usage is not last");
            ck_assert(json_is_object(u));
            json_decref(j);
            continue;
        }
        ck_assert_msg(!after_finish, "chunk after the finish: %s", txt);
        ck_assert_int_eq(json_array_size(choices), 1);
        ch = json_array_get(choices, 0);
        ck_assert_int_eq(json_integer_value(json_object_get(ch, "index")), 0);
        ck_assert(json_is_null(json_object_get(ch, "logprobs")));
        delta = json_object_get(ch, "delta");
        ck_assert_msg(json_is_object(delta), "no delta: %s", txt);
        fr = json_object_get(ch, "finish_reason");
        ck_assert_msg(json_is_null(fr) || json_is_string(fr), "%s", txt);
        if (i == 0) {
            ck_assert_str_eq(json_string_value(json_object_get(delta, "role")),
                             "assistant");
        }
        else {
            ck_assert_ptr_null(json_object_get(delta, "role"));
        }
        if (json_object_get(delta, "content")) {
            ck_assert(json_is_string(json_object_get(delta, "content")));
        }
        tc = json_object_get(delta, "tool_calls");
        if (tc) {
            ck_assert(json_is_array(tc));
            for (k = 0; k < json_array_size(tc); k++) {
                json_t *t = json_array_get(tc, k);
                json_t *fn = json_object_get(t, "function");
                int idx = (int)json_integer_value(json_object_get(t, "index"));
                const char *args = json_string_value(json_object_get(fn,
                                                                "arguments"));
                ck_assert(json_is_integer(json_object_get(t, "index")));
                ck_assert(json_is_object(fn));
                if (json_object_get(t, "id")) {
                    /* the first delta of a tool call: id, type, name */
                    ck_assert_int_eq(idx, a->ntools);
                    ck_assert_int_lt(idx, 8);
                    ck_assert_str_eq(json_string_value(json_object_get(t, "type")),
                                     "function");
                    ck_assert(json_is_string(json_object_get(t, "id")));
                    ck_assert(json_is_string(json_object_get(fn, "name")));
                    a->ntools++;
                }
                ck_assert_msg(idx >= 0 && idx < a->ntools,
                              "tool delta before its start: %s", txt);
                ck_assert_ptr_nonnull(args);
            }
        }
        if (json_is_string(fr)) {
            ck_assert_int_eq(json_object_size(delta), 0);
            after_finish = 1;
        }
        json_decref(j);
    }
    reduce(&sse, after_finish, a);
}

/* Feeds events[0..n) to a new stream; returns the last result. */
static int feed(llmgw_stream_t *s, apr_array_header_t *evs, int n,
                collector_t *c)
{
    int i, rv = LLMGW_XLATE_CONTINUE;
    for (i = 0; i < n; i++) {
        const ut_sse_event_t *e = &APR_ARRAY_IDX(evs, i, ut_sse_event_t);
        rv = T->stream_event(s, e->event, e->data, e->len, collect, c);
        if (i < n - 1 || strcmp(e->event ? e->event : "", "message_stop")) {
            ck_assert_msg(rv == LLMGW_XLATE_CONTINUE, "event %d (%s) -> %d",
                          i, e->event, rv);
        }
    }
    return rv;
}

/* What the recording says, worked out independently of the translator. */
typedef struct {
    const char *text;
    int ntools;
    const char *tool_id[8], *tool_name[8], *tool_args[8];
    const char *stop_reason;
    apr_int64_t input, cache_read, cache_write, output;
} expected_t;

static void expect_from(apr_array_header_t *evs, expected_t *x)
{
    int i;
    int block_tool[64];

    memset(x, 0, sizeof(*x));
    x->text = "";
    for (i = 0; i < 64; i++) {
        block_tool[i] = -1;
    }
    for (i = 0; i < evs->nelts; i++) {
        const ut_sse_event_t *e = &APR_ARRAY_IDX(evs, i, ut_sse_event_t);
        json_t *j = ut_json(e->data);
        const char *type = json_string_value(json_object_get(j, "type"));
        json_t *u = NULL;
        int idx = (int)json_integer_value(json_object_get(j, "index"));

        ck_assert_str_eq(type, e->event);
        if (!strcmp(type, "message_start")) {
            u = json_object_get(json_object_get(j, "message"), "usage");
        }
        else if (!strcmp(type, "content_block_start")) {
            json_t *cb = json_object_get(j, "content_block");
            if (!strcmp(json_string_value(json_object_get(cb, "type")),
                        "tool_use")) {
                ck_assert_int_lt(idx, 64);
                block_tool[idx] = x->ntools;
                x->tool_id[x->ntools] = apr_pstrdup(tp, json_string_value(
                                                    json_object_get(cb, "id")));
                x->tool_name[x->ntools] = apr_pstrdup(tp, json_string_value(
                                                      json_object_get(cb, "name")));
                x->tool_args[x->ntools] = "";
                x->ntools++;
            }
        }
        else if (!strcmp(type, "content_block_delta")) {
            json_t *d = json_object_get(j, "delta");
            const char *dt = json_string_value(json_object_get(d, "type"));
            if (!strcmp(dt, "text_delta")) {
                x->text = apr_pstrcat(tp, x->text, json_string_value(
                                      json_object_get(d, "text")), NULL);
            }
            else if (!strcmp(dt, "input_json_delta")) {
                int k = block_tool[idx];
                ck_assert_int_ge(k, 0);
                x->tool_args[k] = apr_pstrcat(tp, x->tool_args[k],
                                              json_string_value(json_object_get(
                                                  d, "partial_json")), NULL);
            }
        }
        else if (!strcmp(type, "message_delta")) {
            x->stop_reason = apr_pstrdup(tp, json_string_value(
                json_object_get(json_object_get(j, "delta"), "stop_reason")));
            u = json_object_get(j, "usage");
        }
        if (u) {
            json_t *v;
            if ((v = json_object_get(u, "input_tokens"))) {
                x->input = json_integer_value(v);
            }
            if ((v = json_object_get(u, "cache_read_input_tokens"))) {
                x->cache_read = json_integer_value(v);
            }
            if ((v = json_object_get(u, "cache_creation_input_tokens"))) {
                x->cache_write = json_integer_value(v);
            }
            if ((v = json_object_get(u, "output_tokens"))) {
                x->output = json_integer_value(v);
            }
        }
        json_decref(j);
    }
}

static const char *expected_finish(const expected_t *x)
{
    const char *r = x->stop_reason;
    const char *m = !r ? "stop"
                    : !strcmp(r, "max_tokens") ? "length"
                    : !strcmp(r, "tool_use") ? "tool_calls"
                    : !strcmp(r, "refusal") ? "content_filter" : "stop";
    if (x->ntools > 0 && strcmp(m, "length")) {
        return "tool_calls";
    }
    return m;
}

static void check_against(const char *name, const assembled_t *a,
                          const expected_t *x, int with_usage)
{
    int k;

    ck_assert_ptr_null(a->error);
    ck_assert_msg(!strcmp(a->text, x->text), "%s: text '%s' != '%s'", name,
                  a->text, x->text);
    ck_assert_msg(a->ntools == x->ntools, "%s: %d tools != %d", name, a->ntools,
                  x->ntools);
    for (k = 0; k < x->ntools; k++) {
        json_t *ga, *xa;
        ck_assert_str_eq(a->tool_id[k], x->tool_id[k]);
        ck_assert_str_eq(a->tool_name[k], x->tool_name[k]);
        ck_assert_str_eq(a->tool_args[k], x->tool_args[k]);
        xa = json_loads(x->tool_args[k], 0, NULL);
        ga = json_loads(a->tool_args[k], 0, NULL);
        if (xa != NULL) {
            ck_assert_msg(ga && json_equal(ga, xa), "%s: tool args differ", name);
        }
        else {
            /* cut by max_tokens: the client gets the same partial JSON */
            ck_assert_ptr_null(ga);
        }
        json_decref(xa);
        json_decref(ga);
    }
    ck_assert_msg(a->finish && !strcmp(a->finish, expected_finish(x)),
                  "%s: finish %s != %s", name, a->finish, expected_finish(x));
    ck_assert_int_eq(a->has_usage, with_usage);
    if (with_usage) {
        apr_int64_t prompt = x->input + x->cache_read + x->cache_write;
        ck_assert_int_eq(a->prompt, prompt);
        ck_assert_int_eq(a->completion, x->output);
        ck_assert_int_eq(a->total, prompt + x->output);
        ck_assert_int_eq(a->cached, x->cache_read);
    }
}

typedef struct {
    llmgw_stream_t *s;
    collector_t *c;
    int rv;
} live_t;

/* SSE callback driving the translator directly, as the gateway does. */
static int live_event(void *baton, const char *event, const char *data,
                      apr_size_t len)
{
    live_t *l = baton;
    l->rv = T->stream_event(l->s, event, data, len, collect, l->c);
    return l->rv == LLMGW_XLATE_CONTINUE ? 0 : l->rv;
}

static void check_fixture(const char *name, const char *path)
{
    apr_size_t len;
    const char *buf = ut_slurp(path, &len);
    apr_array_header_t *evs = ut_sse_events(buf, len);
    expected_t x;
    int with_usage;

    ck_assert_msg(evs->nelts >= 4, "%s: only %d events", name, evs->nelts);
    expect_from(evs, &x);
    ck_assert_msg(x.stop_reason != NULL, "%s: no stop_reason", name);

    for (with_usage = 0; with_usage <= 1; with_usage++) {
        llmgw_xlate_ctx_t xc = ctx();
        llmgw_stream_t *s;
        collector_t *c = collector();
        assembled_t a;
        llmgw_usage_t u;
        int n;

        xc.include_usage = with_usage;
        s = T->stream_new(tp, &xc);
        ck_assert_int_eq(feed(s, evs, evs->nelts, c), LLMGW_XLATE_END);
        n = c->chunks->nelts;
        /* finish after the end adds nothing; neither do late events */
        ck_assert_int_eq(T->stream_finish(s, collect, c), LLMGW_XLATE_END);
        ck_assert_int_eq(T->stream_event(s, "ping", "{\"type\":\"ping\"}", 15,
                                         collect, c), LLMGW_XLATE_END);
        ck_assert_int_eq(c->chunks->nelts, n);
        assemble(c, &a);
        check_against(name, &a, &x, with_usage);

        T->stream_usage(s, &u);
        ck_assert_int_eq(u.prompt_tokens, x.input + x.cache_read + x.cache_write);
        ck_assert_int_eq(u.completion_tokens, x.output);
        ck_assert_int_eq(u.total_tokens, u.prompt_tokens + x.output);
        ck_assert_int_eq(u.cached_tokens, x.cache_read);
    }

    /* The same bytes, one at a time, translated as they are parsed. */
    {
        llmgw_xlate_ctx_t xc = ctx();
        collector_t *c = collector();
        live_t l;
        llmgw_sse_parser_t *ps;
        apr_size_t i;
        int rv = 0;
        assembled_t a;

        l.s = T->stream_new(tp, &xc);
        l.c = c;
        l.rv = LLMGW_XLATE_CONTINUE;
        ps = llmgw_sse_parser_create(tp, 0, live_event, &l);
        for (i = 0; i < len && rv == 0; i++) {
            rv = llmgw_sse_feed(ps, buf + i, 1);
        }
        if (rv == 0) {
            rv = llmgw_sse_finish(ps);
        }
        ck_assert_int_eq(rv == 0 ? l.rv : rv, LLMGW_XLATE_END);
        assemble(c, &a);
        check_against(name, &a, &x, 1);
    }

    /* Cut after message_delta (no message_stop): finish completes it. */
    {
        llmgw_xlate_ctx_t xc = ctx();
        collector_t *c = collector();
        llmgw_stream_t *s = T->stream_new(tp, &xc);
        assembled_t a;
        int last = evs->nelts - 1;

        ck_assert_str_eq(APR_ARRAY_IDX(evs, last, ut_sse_event_t).event,
                         "message_stop");
        ck_assert_int_eq(feed(s, evs, last, c), LLMGW_XLATE_CONTINUE);
        ck_assert_int_eq(T->stream_finish(s, collect, c), LLMGW_XLATE_END);
        assemble(c, &a);
        check_against(name, &a, &x, 1);
    }

    /* Cut before message_delta: an error envelope ends the stream. */
    {
        llmgw_xlate_ctx_t xc = ctx();
        collector_t *c = collector();
        llmgw_stream_t *s = T->stream_new(tp, &xc);
        assembled_t a;
        json_t *err;
        int cut = 0, i;

        for (i = 0; i < evs->nelts; i++) {
            const char *ev = APR_ARRAY_IDX(evs, i, ut_sse_event_t).event;
            if (!strcmp(ev, "message_delta")) {
                cut = i;
                break;
            }
        }
        ck_assert_int_gt(cut, 0);
        ck_assert_int_eq(feed(s, evs, cut, c), LLMGW_XLATE_CONTINUE);
        ck_assert_int_eq(T->stream_finish(s, collect, c), LLMGW_XLATE_ERROR);
        assemble(c, &a);
        ck_assert_ptr_null(a.finish);
        ck_assert_ptr_nonnull(a.error);
        err = json_object_get(a.error, "error");
        ck_assert_str_eq(json_string_value(json_object_get(err, "type")),
                         "provider_error");
        ck_assert_str_eq(json_string_value(json_object_get(err, "message")),
                         "upstream stream ended early");
        ck_assert_str_eq(json_string_value(json_object_get(err, "provider")),
                         "anth");
        ck_assert_str_eq(json_string_value(json_object_get(err, "request_id")),
                         "req-123");
        json_decref(a.error);
    }
}

START_TEST(test_stream_fixtures)
{
    apr_array_header_t *files = ut_fixture_glob("anthropic/*.txt", 7);
    int i;

    for (i = 0; i < files->nelts; i++) {
        const char *path = APR_ARRAY_IDX(files, i, const char *);
        check_fixture(strrchr(path, '/') + 1, path);
    }
}
END_TEST

/* Runs a whole fixture and returns the assembled result. */
static void run_fixture(const char *file, assembled_t *a)
{
    apr_size_t len;
    const char *buf = ut_fixture(apr_pstrcat(tp, "anthropic/", file, NULL),
                                 &len);
    apr_array_header_t *evs = ut_sse_events(buf, len);
    llmgw_xlate_ctx_t xc = ctx();
    collector_t *c = collector();
    llmgw_stream_t *s = T->stream_new(tp, &xc);

    ck_assert_int_eq(feed(s, evs, evs->nelts, c), LLMGW_XLATE_END);
    assemble(c, a);
}

/* Hand-checked values for the recordings, on top of the generic check. */
START_TEST(test_stream_fixture_values)
{
    assembled_t a;
    json_t *args;

    run_fixture("basic_response.txt", &a);
    ck_assert_str_eq(a.text, "Hello there!");
    ck_assert_str_eq(a.finish, "stop");
    ck_assert_int_eq(a.ntools, 0);
    ck_assert_int_eq(a.prompt, 11);
    ck_assert_int_eq(a.completion, 6);
    ck_assert_int_eq(a.total, 17);

    run_fixture("tool_use_response.txt", &a);
    ck_assert_str_eq(a.text, "I'll check the current weather in Paris for you.");
    ck_assert_str_eq(a.finish, "tool_calls");
    ck_assert_int_eq(a.ntools, 1);
    ck_assert_str_eq(a.tool_id[0], "toolu_01NRLabsLyVHZPKxbKvkfSMn");
    ck_assert_str_eq(a.tool_name[0], "get_weather");
    args = ut_json(a.tool_args[0]);
    assert_json(args, "{\"location\":\"Paris\"}");
    json_decref(args);
    ck_assert_int_eq(a.prompt, 377);
    ck_assert_int_eq(a.completion, 65);

    run_fixture("incomplete_partial_json_response.txt", &a);
    ck_assert_str_eq(a.finish, "length");
    ck_assert_int_eq(a.ntools, 1);
    ck_assert_str_eq(a.tool_name[0], "make_file");
    ck_assert_int_eq(a.prompt, 450);
    ck_assert_int_eq(a.completion, 124);

    run_fixture("refusal_response.txt", &a);
    ck_assert_str_eq(a.text, "");
    ck_assert_str_eq(a.finish, "content_filter");
    ck_assert_int_eq(a.completion, 0);

    run_fixture("compaction_response.txt", &a);
    ck_assert_str_eq(a.text, "Hello there!");
    ck_assert_str_eq(a.finish, "stop");
}
END_TEST

static int stream_run(const char *const *events, int n, collector_t *c,
                      llmgw_stream_t **sp)
{
    llmgw_xlate_ctx_t xc = ctx();
    llmgw_stream_t *s = T->stream_new(tp, &xc);
    int i, rv = LLMGW_XLATE_CONTINUE;

    for (i = 0; i < n && rv == LLMGW_XLATE_CONTINUE; i++) {
        const char *ev = events[2 * i];
        const char *data = events[2 * i + 1];
        rv = T->stream_event(s, ev, data, data ? strlen(data) : 0, collect, c);
    }
    if (sp) {
        *sp = s;
    }
    return rv;
}

#define MSG_START \
    "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m\"," \
    "\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":40," \
    "\"cache_creation_input_tokens\":3,\"output_tokens\":1}}}"

/* Events are read from their text (the JSON scanner): an escaped key is
 * its name, duplicated members keep the last, a string's escapes reach
 * the client as written (\u0000 too), text that is not one JSON object
 * is an invalid event. */
START_TEST(test_stream_event_text)
{
    static const char *const evs[] = {
        MSG_START,
        "content_block_start", "{\"\\u0074ype\":\"content_block_start\","
            "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"no\","
            "\"text\":\"A\\u00e9\\\"\\n\\u0000\\ud83d\\ude00\"}}",
        "message_delta", "{\"type\":\"message_delta\",\"delta\":"
            "{\"stop_reason\":\"end_\\u0074urn\"},\"usage\":{\"output_tokens\":5}}",
    };
    collector_t *c = collector();
    llmgw_stream_t *s;
    json_t *j;
    const char *txt;

    ck_assert_int_eq(stream_run(evs, 4, c, &s), LLMGW_XLATE_CONTINUE);
    ck_assert_int_eq(T->stream_finish(s, collect, c), LLMGW_XLATE_END);
    ck_assert_int_ge(c->chunks->nelts, 3);
    txt = APR_ARRAY_IDX(c->chunks, 1, const char *);
    j = ut_json(txt);
    txt = json_string_value(json_object_get(json_object_get(json_array_get(
              json_object_get(j, "choices"), 0), "delta"), "content"));
    ck_assert_ptr_nonnull(txt);
    ck_assert_int_eq(json_string_length(json_object_get(json_object_get(
        json_array_get(json_object_get(j, "choices"), 0), "delta"),
        "content")), 10);
    ck_assert(!memcmp(txt, "A\xc3\xa9\"\n\0\xf0\x9f\x98\x80", 9));
    json_decref(j);
    j = ut_json(APR_ARRAY_IDX(c->chunks, 2, const char *));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_object_get(j, "choices"), 0), "finish_reason")), "stop");
    json_decref(j);

    {
        static const char *const bad[] = {
            "content_block_delta", "[1]",
            /* a key with NUL in a nested object: jansson refuses the event */
            "content_block_delta", "{\"type\":\"content_block_delta\","
                "\"index\":0,\"delta\":{\"type\":\"text_delta\","
                "\"a\\u0000\":1,\"text\":\"x\"}}",
        };
        int k;
        for (k = 0; k < 2; k++) {
            collector_t *c2 = collector();
            ck_assert_int_eq(stream_run(bad + 2 * k, 1, c2, &s),
                             LLMGW_XLATE_ERROR);
            ck_assert_int_eq(c2->chunks->nelts, 1);
            ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(c2->chunks, 0,
                                                       const char *),
                                         "invalid stream event"));
        }
    }
    {
        /* a duplicated object member: the last one's fields only (the
         * first delta's text is not sent); the message's usage is read
         * from message_start in the same pass */
        static const char *const evs2[] = {
            "message_start", "{\"type\":\"message_start\",\"message\":"
                "{\"usage\":{\"input_tokens\":7},\"usage\":"
                "{\"input_tokens\":9,\"output_tokens\":1}}}",
            "content_block_delta", "{\"type\":\"content_block_delta\","
                "\"index\":0,\"delta\":{\"type\":\"text_delta\","
                "\"text\":\"first\"},\"delta\":{\"type\":\"text_delta\","
                "\"text\":\"\"}}",
            "content_block_delta", "{\"type\":\"content_block_delta\","
                "\"index\":0,\"delta\":{\"type\":\"text_delta\","
                "\"text\":\"first\"},\"delta\":\"x\"}",
            "message_delta", "{\"type\":\"message_delta\",\"delta\":"
                "{\"stop_reason\":\"end_turn\"},\"usage\":"
                "{\"output_tokens\":4}}",
        };
        collector_t *c3 = collector();
        llmgw_usage_t u;
        int k;
        ck_assert_int_eq(stream_run(evs2, 4, c3, &s), LLMGW_XLATE_CONTINUE);
        ck_assert_int_eq(T->stream_finish(s, collect, c3), LLMGW_XLATE_END);
        for (k = 0; k < c3->chunks->nelts; k++) {
            ck_assert_ptr_null(strstr(APR_ARRAY_IDX(c3->chunks, k,
                                                    const char *), "first"));
        }
        T->stream_usage(s, &u);
        ck_assert_int_eq(u.prompt_tokens, 9);
        ck_assert_int_eq(u.completion_tokens, 4);
    }
}
END_TEST

START_TEST(test_stream_error_event)
{
    static const char *const evs[] = {
        MSG_START,
        "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
            "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}",
        "error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
            "\"message\":\"Overloaded\"}}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"late\"}}",
    };
    collector_t *c = collector();
    llmgw_stream_t *s;
    assembled_t a;
    json_t *err;

    ck_assert_int_eq(stream_run(evs, 4, c, &s), LLMGW_XLATE_ERROR);
    ck_assert_int_eq(T->stream_event(s, evs[8], evs[9], strlen(evs[9]),
                                     collect, c), LLMGW_XLATE_ERROR);
    ck_assert_int_eq(T->stream_finish(s, collect, c), LLMGW_XLATE_ERROR);
    assemble(c, &a);
    ck_assert_str_eq(a.text, "Hi");
    ck_assert_ptr_null(a.finish);
    ck_assert_ptr_nonnull(a.error);
    err = json_object_get(a.error, "error");
    assert_member(err, "type", "\"provider_error\"");
    assert_member(err, "message", "\"Overloaded\"");
    assert_member(err, "code", "\"overloaded_error\"");
    assert_member(err, "provider", "\"anth\"");
    assert_member(err, "request_id", "\"req-123\"");
    assert_member(err, "retryable", "true");
    json_decref(a.error);

    {
        static const char *const rl[] = {
            "error", "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
                "\"message\":\"slow down\"}}",
        };
        c = collector();
        ck_assert_int_eq(stream_run(rl, 1, c, NULL), LLMGW_XLATE_ERROR);
        assemble(c, &a);
        ck_assert_ptr_nonnull(a.error);
        err = json_object_get(a.error, "error");
        assert_member(err, "type", "\"rate_limit_error\"");
        assert_member(err, "message", "\"slow down\"");
        json_decref(a.error);
    }
}
END_TEST

START_TEST(test_stream_malformed)
{
    static const char *const bad[] = {
        MSG_START,
        "content_block_delta", "{\"type\":\"content_block_delta\",",
    };
    collector_t *c = collector();
    assembled_t a;

    ck_assert_int_eq(stream_run(bad, 2, c, NULL), LLMGW_XLATE_ERROR);
    assemble(c, &a);
    ck_assert_ptr_nonnull(a.error);
    assert_member(json_object_get(a.error, "error"), "type",
                  "\"provider_error\"");
    json_decref(a.error);
}
END_TEST

/* Unknown events, thinking, odd shapes: ignored, never a crash. */
START_TEST(test_stream_ignored_and_odd)
{
    static const char *const evs[] = {
        MSG_START,
        "ping", "not json at all",
        "brand_new_event", "{\"type\":\"brand_new_event\",\"x\":1}",
        NULL, "{\"nothing\":true}",
        "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
            "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"signature_delta\",\"signature\":\"x\"}}",
        "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}",
        "content_block_start", "{\"type\":\"content_block_start\"}",
        "content_block_start", "{\"type\":\"content_block_start\",\"index\":\"1\","
            "\"content_block\":{\"type\":\"tool_use\",\"id\":5,\"name\":null}}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":9,"
            "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}",
        "content_block_delta", "{\"type\":\"content_block_delta\","
            "\"delta\":{\"type\":\"text_delta\",\"text\":5}}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"delta\":7}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":2,"
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}",
        "message_delta", "{\"type\":\"message_delta\",\"delta\":[],\"usage\":5}",
        "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
            "\"weird_reason\"},\"usage\":{\"output_tokens\":9}}",
        "message_stop", "{\"type\":\"message_stop\"}",
    };
    int n = (int)(sizeof(evs) / sizeof(evs[0]) / 2);
    collector_t *c = collector();
    llmgw_stream_t *s;
    assembled_t a;
    llmgw_usage_t u;

    ck_assert_int_eq(stream_run(evs, n, c, &s), LLMGW_XLATE_END);
    assemble(c, &a);
    ck_assert_ptr_null(a.error);
    ck_assert_str_eq(a.text, "ok");
    ck_assert_int_eq(a.ntools, 1);     /* the odd tool_use still starts a call */
    ck_assert_str_eq(a.finish, "tool_calls");
    ck_assert_int_eq(a.prompt, 48);
    ck_assert_int_eq(a.cached, 40);
    ck_assert_int_eq(a.completion, 9);
    ck_assert_int_eq(a.total, 57);
    T->stream_usage(s, &u);
    ck_assert_int_eq(u.prompt_tokens, 48);
    ck_assert_int_eq(u.cached_tokens, 40);
    ck_assert_int_eq(u.cache_write_tokens, 3);
    ck_assert_int_eq(u.completion_tokens, 9);
    ck_assert_int_eq(u.total_tokens, 57);
}
END_TEST

START_TEST(test_stream_no_start)
{
    /* A stream that never started: finish reports it, usage is unknown. */
    llmgw_xlate_ctx_t xc = ctx();
    llmgw_stream_t *s = T->stream_new(tp, &xc);
    collector_t *c = collector();
    llmgw_usage_t u;
    assembled_t a;

    T->stream_usage(s, &u);
    ck_assert_int_eq(u.prompt_tokens, -1);
    ck_assert_int_eq(u.completion_tokens, -1);
    ck_assert_int_eq(u.total_tokens, -1);
    ck_assert_int_eq(T->stream_finish(s, collect, c), LLMGW_XLATE_ERROR);
    ck_assert_int_eq(c->chunks->nelts, 1);
    assemble(c, &a);
    ck_assert_ptr_nonnull(a.error);
    json_decref(a.error);
}
END_TEST

/* ------------------------------------------------------------------ */


/* ------------------------------------------------------------------ */
/* issue 9: nothing dropped silently                                   */
/* ------------------------------------------------------------------ */

/* Translates with a report (drop: LLMGWDropUnsupported On). */
static json_t *xreq_rep(const char *txt, int drop, llmgw_xlate_report_t *rep,
                        const char **err)
{
    llmgw_xlate_ctx_t x = ctx();
    json_t *in = ut_json(txt), *out;
    const char *e = NULL;

    memset(rep, 0, sizeof(*rep));
    rep->drop_unsupported = drop;
    x.report = rep;
    out = T->chat_request(tp, in, &x, &e);
    json_decref(in);
    if (err) {
        *err = e;
    }
    return out;
}

#define MSGS "\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

START_TEST(test_req_unsupported_params)
{
    static const char *const refused[][2] = {
        { "\"seed\":7", "seed" },
        { "\"presence_penalty\":0.5", "presence_penalty" },
        { "\"frequency_penalty\":-1", "frequency_penalty" },
        { "\"logprobs\":true", "logprobs" },
        { "\"top_logprobs\":3", "top_logprobs" },
        { "\"logit_bias\":{\"50256\":-100}", "logit_bias" },
        { "\"n\":2", "n" },
        { "\"some_new_param\":1", "some_new_param" },
        { "\"metadata\":{\"trace\":\"x\"}", "metadata.trace" },
    };
    apr_size_t i;
    llmgw_xlate_report_t rep;
    const char *err;
    json_t *out;

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        const char *txt = apr_psprintf(tp, "{" MSGS ",%s}", refused[i][0]);
        out = xreq_rep(txt, 0, &rep, &err);
        ck_assert_msg(out == NULL, "%s was not refused", refused[i][0]);
        ck_assert_ptr_nonnull(rep.param);
        ck_assert_str_eq(rep.param, refused[i][1]);
        ck_assert_ptr_nonnull(strstr(err, refused[i][1]));
        /* LLMGWDropUnsupported On: dropped and listed, never sent */
        out = xreq_rep(txt, 1, &rep, &err);
        ck_assert_msg(out != NULL, "%s not dropped: %s", refused[i][0], err);
        ck_assert_ptr_null(rep.param);
        ck_assert_int_eq(rep.dropped->nelts, 1);
        ck_assert_str_eq(APR_ARRAY_IDX(rep.dropped, 0, const char *),
                         refused[i][1]);
        ck_assert_ptr_null(json_object_get(out, "seed"));
        ck_assert_ptr_null(json_object_get(out, "some_new_param"));
        ck_assert_ptr_null(json_object_get(out, "metadata"));
        json_decref(out);
    }
    /* neutral values say nothing: accepted */
    out = xreq_rep("{" MSGS ",\"presence_penalty\":0,\"frequency_penalty\":0,"
                   "\"logprobs\":false,\"n\":1,\"logit_bias\":{},\"store\":false,"
                   "\"seed\":null,\"parallel_tool_calls\":true}", 0, &rep, &err);
    ck_assert_msg(out != NULL, "neutral values refused: %s", err);
    ck_assert_ptr_null(rep.dropped);
    json_decref(out);
}
END_TEST

START_TEST(test_req_translated_params)
{
    llmgw_xlate_report_t rep;
    const char *err;
    json_t *out, *tools;

    /* metadata.user_id and top_k */
    out = xreq_rep("{" MSGS ",\"metadata\":{\"user_id\":\"u-9\"},\"user\":\"u-1\","
                   "\"top_k\":40}", 0, &rep, &err);
    ck_assert_msg(out != NULL, "%s", err);
    assert_member(out, "metadata", "{\"user_id\":\"u-9\"}");
    assert_member(out, "top_k", "40");
    json_decref(out);
    out = xreq_ok("{" MSGS ",\"safety_identifier\":\"s-1\"}");
    assert_member(out, "metadata", "{\"user_id\":\"s-1\"}");
    json_decref(out);

    /* reasoning_effort: a thinking budget, max_tokens above it */
    out = xreq_ok("{" MSGS ",\"reasoning_effort\":\"high\"}");
    assert_member(out, "thinking", "{\"type\":\"enabled\",\"budget_tokens\":24576}");
    assert_member(out, "max_tokens", "25600");
    json_decref(out);
    out = xreq_ok("{" MSGS ",\"reasoning_effort\":\"low\",\"max_tokens\":2000}");
    assert_member(out, "thinking", "{\"type\":\"enabled\",\"budget_tokens\":1999}");
    assert_member(out, "max_tokens", "2000");
    json_decref(out);
    out = xreq_ok("{" MSGS ",\"reasoning\":{\"max_tokens\":3000}}");
    assert_member(out, "thinking", "{\"type\":\"enabled\",\"budget_tokens\":3000}");
    json_decref(out);
    out = xreq_ok("{" MSGS ",\"reasoning_effort\":\"none\"}");
    ck_assert_ptr_null(json_object_get(out, "thinking"));
    json_decref(out);
    ck_assert_ptr_nonnull(xreq_err("{" MSGS ",\"reasoning_effort\":\"huge\"}"));
    ck_assert_ptr_nonnull(xreq_err("{" MSGS ",\"reasoning_effort\":\"low\","
                                   "\"max_tokens\":500}"));

    /* response_format: a forced tool carrying the schema */
    out = xreq_ok("{" MSGS ",\"response_format\":{\"type\":\"json_schema\","
                  "\"json_schema\":{\"name\":\"p\",\"schema\":{\"type\":\"object\","
                  "\"properties\":{\"name\":{\"type\":\"string\"}}}}}}");
    tools = json_object_get(out, "tools");
    ck_assert_int_eq(json_array_size(tools), 1);
    assert_member(json_array_get(tools, 0), "name", "\"llmgw_json_response\"");
    assert_member(json_array_get(tools, 0), "input_schema",
                  "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}");
    assert_member(out, "tool_choice", "{\"type\":\"tool\",\"name\":\"llmgw_json_response\"}");
    json_decref(out);
    out = xreq_ok("{" MSGS ",\"response_format\":{\"type\":\"json_object\"}}");
    assert_member(json_array_get(json_object_get(out, "tools"), 0), "input_schema",
                  "{\"type\":\"object\"}");
    json_decref(out);
    /* with client tools: some tool call, the client's or the answer */
    out = xreq_ok("{" MSGS ",\"response_format\":{\"type\":\"json_object\"},"
                  "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}");
    ck_assert_int_eq(json_array_size(json_object_get(out, "tools")), 2);
    assert_member(out, "tool_choice", "{\"type\":\"any\"}");
    json_decref(out);
    /* with thinking a forced tool is refused upstream: reported */
    out = xreq_rep("{" MSGS ",\"response_format\":{\"type\":\"json_object\"},"
                   "\"reasoning_effort\":\"low\"}", 0, &rep, &err);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(rep.param, "response_format");
    ck_assert_ptr_nonnull(xreq_err("{" MSGS ",\"tools\":[{\"type\":\"function\","
                                   "\"function\":{\"name\":\"llmgw_json_response\"}}]}"));
}
END_TEST

START_TEST(test_resp_json_answer)
{
    json_t *o = xresp(
        "{\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":"
        "\"llmgw_json_response\",\"input\":{\"name\":\"Ada\"}}],"
        "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":1,"
        "\"output_tokens\":2}}", NULL);
    json_t *ch = json_array_get(json_object_get(o, "choices"), 0);

    assert_member(ch, "message", "{\"role\":\"assistant\",\"content\":"
                  "\"{\\\"name\\\":\\\"Ada\\\"}\",\"refusal\":null}");
    assert_member(ch, "finish_reason", "\"stop\"");
    json_decref(o);
}
END_TEST

START_TEST(test_stream_json_answer_thinking)
{
    static const char *const evs[] = {
        MSG_START,
        "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me think\"}}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}",
        "content_block_start", "{\"type\":\"content_block_start\",\"index\":1,"
        "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\","
        "\"name\":\"llmgw_json_response\",\"input\":{}}}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}",
        "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,"
        "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}",
        "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"tool_use\"},\"usage\":{\"output_tokens\":9}}",
        "message_stop", "{\"type\":\"message_stop\"}",
    };
    collector_t *c = collector();
    const char *text = "", *reasoning = "", *finish = NULL;
    int i, rv = stream_run(evs, 9, c, NULL);

    ck_assert_int_eq(rv, LLMGW_XLATE_END);
    for (i = 0; i < c->chunks->nelts; i++) {
        json_t *j = ut_json(APR_ARRAY_IDX(c->chunks, i, const char *));
        json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
        json_t *d = json_object_get(ch, "delta");
        ck_assert_ptr_null(json_object_get(d, "tool_calls"));
        if (json_is_string(json_object_get(d, "content"))) {
            text = apr_pstrcat(tp, text, json_string_value(
                json_object_get(d, "content")), NULL);
        }
        if (json_is_string(json_object_get(d, "reasoning_content"))) {
            reasoning = apr_pstrcat(tp, reasoning, json_string_value(
                json_object_get(d, "reasoning_content")), NULL);
        }
        if (json_is_string(json_object_get(ch, "finish_reason"))) {
            finish = apr_pstrdup(tp, json_string_value(
                json_object_get(ch, "finish_reason")));
        }
        json_decref(j);
    }
    ck_assert_str_eq(text, "{\"a\":1}");
    ck_assert_str_eq(reasoning, "Let me think");
    ck_assert_ptr_nonnull(finish);
    ck_assert_str_eq(finish, "stop");
}
END_TEST

static Suite *anthropic_suite(void)
{
    Suite *s = suite_create("anthropic");
    TCase *tc = ut_tcase(s, "translator", 60);

    tcase_add_test(tc, test_path_headers);
    tcase_add_test(tc, test_req_basic);
    tcase_add_test(tc, test_req_system);
    tcase_add_test(tc, test_req_text_escapes);
    tcase_add_test(tc, test_req_merge);
    tcase_add_test(tc, test_req_images);
    tcase_add_test(tc, test_req_tools);
    tcase_add_test(tc, test_req_tool_choice);
    tcase_add_test(tc, test_req_tool_calls_results);
    tcase_add_test(tc, test_req_params);
    tcase_add_test(tc, test_req_errors);
    tcase_add_test(tc, test_req_fuzz_shapes);
    tcase_add_test(tc, test_resp_text);
    tcase_add_test(tc, test_resp_repeated_members);
    tcase_add_test(tc, test_resp_checked);
    tcase_add_test(tc, test_resp_tool_use);
    tcase_add_test(tc, test_resp_usage_cache);
    tcase_add_test(tc, test_resp_stop_reasons);
    tcase_add_test(tc, test_resp_odd_shapes);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_stream_fixtures);
    tcase_add_test(tc, test_stream_fixture_values);
    tcase_add_test(tc, test_stream_error_event);
    tcase_add_test(tc, test_stream_event_text);
    tcase_add_test(tc, test_stream_malformed);
    tcase_add_test(tc, test_stream_ignored_and_odd);
    tcase_add_test(tc, test_stream_no_start);
    tcase_add_test(tc, test_req_unsupported_params);
    tcase_add_test(tc, test_req_translated_params);
    tcase_add_test(tc, test_resp_json_answer);
    tcase_add_test(tc, test_stream_json_answer_thinking);
    return s;
}

UT_MAIN(anthropic_suite)
