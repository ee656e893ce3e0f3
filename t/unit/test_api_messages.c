/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Unit tests of the Anthropic Messages adapter (mod_llmgw/api/
 * llmgw_api_messages*.c): the request, the answer, the event stream, the
 * error shape, reduce and expand, on the recorded streams of
 * $LLMGW_SHARED_DIR/fixtures/{anthropic,openai} and t/unit/fixtures/anthropic
 * (README there: which are recorded, which written from the docs). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_file_info.h>
#include "llmgw_test.h"
#include "llmgw_client_api.h"
#include "llmgw_translate.h"
#include "llmgw_stream_reduce.h"
#include "llmgw_sse.h"
#include "llmgw_buf.h"
#include "llmgw_parse.h"
#include "llmgw_api_obj.h"

static const llmgw_client_api_t *A = &llmgw_api_messages;

static llmgw_api_ctx_t ctx(void)
{
    llmgw_api_ctx_t c;
    memset(&c, 0, sizeof(c));
    c.id = "msg_gw1";
    c.model = "openai/gpt-4o";
    c.created = 1700000000;
    c.request_id = "req-42";
    return c;
}

/* The unit corpus next to this file: t/unit/fixtures/<rel>. */
static const char *local_fixture(const char *rel)
{
    const char *slash = strrchr(__FILE__, '/');
    const char *dir = slash ? apr_pstrndup(tp, __FILE__, slash - __FILE__)
                            : ".";
    return apr_pstrcat(tp, dir, "/fixtures/", rel, NULL);
}

static void assert_json(const json_t *got, const char *want)
{
    json_t *w = ut_json(want);
    ut_json_eq(got, w, want);
    json_decref(w);
}

/* ------------------------------------------------------------ to_chat */

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* The writer (to_chat_text) against the tree converter it replaced
 * (ut_ref_msg_to_chat, gateway fields removed as the glue removed them):
 * the same Chat request as a JSON document, or the same status, message,
 * parameter and code. Texts jansson does not read are the writer's alone
 * (a 400 or a request, never a crash). Returns the writer's status. */
static int same_as_tree(const char *txt, apr_size_t len, const char *what)
{
    llmgw_api_ctx_t c = ctx();
    json_t *in = json_loadb(txt, len, JSON_ALLOW_NUL, NULL);
    json_t *want = NULL, *got;
    const char *chat = NULL, *err = NULL, *param = NULL, *code = NULL;
    const char *rerr = NULL, *rparam = NULL, *rcode = NULL;
    apr_size_t chat_len = 0;
    int rv = A->to_chat_text(tp, txt, len, &c, &chat, &chat_len, &err,
                             &param, &code), ref;

    ck_assert_msg(rv == 0 || rv == 400, "%s: status %d", what, rv);
    if (in == NULL) {
        return rv;
    }
    ref = ut_ref_msg_to_chat(tp, in, &c, &want, &rerr, &rparam, &rcode);
    json_decref(in);
    ck_assert_msg(rv == ref, "%s: status %d, the tree converter's %d (%s / "
                  "%s)", what, rv, ref, err, rerr);
    if (rv) {
        ck_assert_msg(same_str(err, rerr) && same_str(param, rparam)
                      && same_str(code, rcode), "%s: error %s (param %s, "
                      "code %s), the tree converter's %s (%s, %s)", what,
                      err, param, code, rerr, rparam, rcode);
        return rv;
    }
    llmgw_strip_gateway_fields(want);
    got = json_loadb(chat, chat_len, JSON_ALLOW_NUL, NULL);
    ck_assert_msg(got != NULL, "%s: the Chat request is not JSON: %.*s",
                  what, (int)chat_len, chat);
    ck_assert_msg(json_equal(got, want), "%s:\n  writer %s\n  tree   %s",
                  what, ut_json_str(got), ut_json_str(want));
    json_decref(got);
    json_decref(want);
    return rv;
}

static json_t *to_chat_ok(const char *txt)
{
    llmgw_api_ctx_t c = ctx();
    const char *chat = NULL, *err = NULL, *param = NULL, *code = NULL;
    apr_size_t len = 0;
    int rv = A->to_chat_text(tp, txt, strlen(txt), &c, &chat, &len, &err,
                             &param, &code);

    ck_assert_msg(rv == 0, "to_chat %s: %d %s (param %s)", txt, rv, err,
                  param);
    ck_assert_ptr_nonnull(chat);
    same_as_tree(txt, strlen(txt), txt);
    return ut_jsonn(chat, len, txt);
}

/* A 400 naming param (NULL: none). */
static void to_chat_err(const char *txt, const char *param)
{
    llmgw_api_ctx_t c = ctx();
    const char *chat = NULL, *err = NULL, *got = NULL, *code = NULL;
    apr_size_t len = 0;
    int rv = A->to_chat_text(tp, txt, strlen(txt), &c, &chat, &len, &err,
                             &got, &code);

    ck_assert_msg(rv == 400, "to_chat %s: %d, want 400 (got %s)", txt, rv,
                  chat);
    ck_assert_ptr_null(chat);
    ck_assert_msg(err != NULL && *err, "no message for %s", txt);
    if (param == NULL) {
        ck_assert_msg(got == NULL, "%s: param %s, want none", txt, got);
    }
    else {
        ck_assert_msg(got != NULL && !strcmp(got, param),
                      "%s: param %s, want %s (%s)", txt, got, param, err);
    }
    same_as_tree(txt, strlen(txt), txt);
}

START_TEST(req_basic)
{
    json_t *chat = to_chat_ok(
        "{\"model\":\"openai/gpt-4o\",\"max_tokens\":256,"
        "\"system\":\"Be brief.\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},"
        "{\"role\":\"assistant\",\"content\":\"Hello\"},"
        "{\"role\":\"user\",\"content\":\"a\\u0000b\"}],"
        "\"stop_sequences\":[\"END\",\"STOP\"],\"temperature\":0.5,"
        "\"top_p\":1,\"top_k\":40,\"metadata\":{\"user_id\":\"u-1\"},"
        "\"stream\":true,\"provider\":\"openai\",\"provider_key\":\"sk-x\","
        "\"models\":[\"a/b\"],\"llm_provider\":\"p\",\"llm_api_key\":\"k\","
        "\"service_tier\":null}");
    assert_json(chat,
        "{\"model\":\"openai/gpt-4o\",\"max_completion_tokens\":256,"
        "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":\"Hi\"},"
        "{\"role\":\"assistant\",\"content\":\"Hello\"},"
        "{\"role\":\"user\",\"content\":\"a\\u0000b\"}],"
        "\"stop\":[\"END\",\"STOP\"],\"temperature\":0.5,\"top_p\":1,"
        "\"top_k\":40,\"user\":\"u-1\",\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true}}");
    json_decref(chat);

    /* stream false: no stream; an empty system: no system message */
    chat = to_chat_ok("{\"model\":\"m\",\"max_tokens\":1,\"stream\":false,"
                      "\"system\":\"\",\"thinking\":{\"type\":\"disabled\"},"
                      "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    assert_json(chat, "{\"model\":\"m\",\"max_completion_tokens\":1,"
                "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    json_decref(chat);
}
END_TEST

START_TEST(req_system_blocks)
{
    json_t *chat = to_chat_ok(
        "{\"model\":\"m\",\"max_tokens\":10,\"system\":["
        "{\"type\":\"text\",\"text\":\"One.\"},"
        "{\"type\":\"text\",\"text\":\"Two.\",\"cache_control\":"
        "{\"type\":\"ephemeral\"}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
        "\"text\":\"Hi\",\"cache_control\":{\"type\":\"ephemeral\"}}]}]}");
    assert_json(json_object_get(chat, "messages"),
        "[{\"role\":\"system\",\"content\":[{\"type\":\"text\","
        "\"text\":\"One.\"},{\"type\":\"text\",\"text\":\"Two.\"}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}]");
    json_decref(chat);
}
END_TEST

START_TEST(req_content_blocks)
{
    json_t *chat = to_chat_ok(
        "{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\","
        "\"content\":[{\"type\":\"text\",\"text\":\"Look:\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\","
        "\"media_type\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}},"
        "{\"type\":\"image\",\"source\":{\"type\":\"url\","
        "\"url\":\"https://example.com/a.jpg\"}},"
        "{\"type\":\"document\",\"title\":\"r.pdf\",\"source\":{\"type\":"
        "\"base64\",\"media_type\":\"application/pdf\",\"data\":\"JVBERi0=\"}}"
        "]},{\"role\":\"assistant\",\"content\":["
        "{\"type\":\"thinking\",\"thinking\":\"hmm\",\"signature\":\"sig\"},"
        "{\"type\":\"redacted_thinking\",\"data\":\"xx\"},"
        "{\"type\":\"text\",\"text\":\"It is \"},"
        "{\"type\":\"text\",\"text\":\"a cat.\"}]}]}");
    assert_json(json_object_get(chat, "messages"),
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Look:\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"data:image/png;base64,iVBORw0KGgo=\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"https://example.com/a.jpg\"}},"
        "{\"type\":\"file\",\"file\":{\"filename\":\"r.pdf\",\"file_data\":"
        "\"data:application/pdf;base64,JVBERi0=\"}}]},"
        "{\"role\":\"assistant\",\"content\":\"It is a cat.\"}]");
    json_decref(chat);

    /* an assistant turn of thinking only says nothing */
    chat = to_chat_ok("{\"model\":\"m\",\"max_tokens\":10,\"messages\":["
                      "{\"role\":\"user\",\"content\":\"q\"},"
                      "{\"role\":\"assistant\",\"content\":[{\"type\":"
                      "\"thinking\",\"thinking\":\"t\",\"signature\":\"s\"}]},"
                      "{\"role\":\"user\",\"content\":\"r\"}]}");
    ck_assert_int_eq(json_array_size(json_object_get(chat, "messages")), 2);
    json_decref(chat);
}
END_TEST

START_TEST(req_tool_history)
{
    json_t *chat = to_chat_ok(
        "{\"model\":\"m\",\"max_tokens\":10,\"messages\":["
        "{\"role\":\"user\",\"content\":\"Weather in Paris and Rome?\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"Checking.\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":"
        "\"get_weather\",\"input\":{\"city\":\"Paris\",\"days\":2}},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"get_weather\","
        "\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"Here:\"},{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\","
        "\"content\":\"18C\"},{\"type\":\"tool_result\",\"tool_use_id\":"
        "\"toolu_2\",\"is_error\":true,\"content\":[{\"type\":\"text\","
        "\"text\":\"no such city\"}]}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":"
        "\"toolu_3\",\"name\":\"noop\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
        "\"tool_use_id\":\"toolu_3\",\"content\":[{\"type\":\"text\","
        "\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}]}]}");
    assert_json(json_object_get(chat, "messages"),
        "[{\"role\":\"user\",\"content\":\"Weather in Paris and Rome?\"},"
        "{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":["
        "{\"id\":\"toolu_1\",\"type\":\"function\",\"function\":{\"name\":"
        "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\","
        "\\\"days\\\":2}\"}},"
        "{\"id\":\"toolu_2\",\"type\":\"function\",\"function\":{\"name\":"
        "\"get_weather\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"toolu_1\",\"content\":\"18C\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"toolu_2\",\"content\":["
        "{\"type\":\"text\",\"text\":\"Error: \"},"
        "{\"type\":\"text\",\"text\":\"no such city\"}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Here:\"}]},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"toolu_3\",\"type\":\"function\",\"function\":{\"name\":"
        "\"noop\",\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"toolu_3\",\"content\":["
        "{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}]");
    json_decref(chat);
}
END_TEST

START_TEST(req_tools)
{
    static const struct { const char *choice; const char *want; } tc[] = {
        { "{\"type\":\"auto\"}", "{\"tool_choice\":\"auto\"}" },
        { "{\"type\":\"any\"}", "{\"tool_choice\":\"required\"}" },
        { "{\"type\":\"none\",\"disable_parallel_tool_use\":true}",
          "{\"tool_choice\":\"none\"}" },
        { "{\"type\":\"tool\",\"name\":\"f\"}",
          "{\"tool_choice\":{\"type\":\"function\",\"function\":"
          "{\"name\":\"f\"}}}" },
        { "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}",
          "{\"tool_choice\":\"auto\",\"parallel_tool_calls\":false}" },
        { "{\"type\":\"any\",\"disable_parallel_tool_use\":false}",
          "{\"tool_choice\":\"required\"}" },
    };
    json_t *chat = to_chat_ok(
        "{\"model\":\"m\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\","
        "\"content\":\"x\"}],\"tools\":[{\"name\":\"f\",\"description\":"
        "\"Does f.\",\"input_schema\":{\"type\":\"object\",\"properties\":"
        "{\"a\":{\"type\":\"string\"}}},\"cache_control\":{\"type\":"
        "\"ephemeral\"}},{\"type\":\"custom\",\"name\":\"g\",\"input_schema\":"
        "{\"type\":\"object\"},\"strict\":true}]}");
    unsigned i;

    assert_json(json_object_get(chat, "tools"),
        "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":"
        "\"Does f.\",\"parameters\":{\"type\":\"object\",\"properties\":"
        "{\"a\":{\"type\":\"string\"}}}}},{\"type\":\"function\",\"function\":"
        "{\"name\":\"g\",\"parameters\":{\"type\":\"object\"},\"strict\":true}}]");
    ck_assert_ptr_null(json_object_get(chat, "tool_choice"));
    json_decref(chat);

    for (i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
        json_t *want = ut_json(tc[i].want);
        const char *k;
        json_t *v;
        chat = to_chat_ok(apr_psprintf(tp, "{\"model\":\"m\",\"max_tokens\":1,"
                          "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                          "\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],"
                          "\"tool_choice\":%s}", tc[i].choice));
        json_object_foreach(want, k, v) {
            ut_json_eq(json_object_get(chat, k), v, tc[i].choice);
        }
        if (!json_object_get(want, "parallel_tool_calls")) {
            ck_assert_ptr_null(json_object_get(chat, "parallel_tool_calls"));
        }
        json_decref(want);
        json_decref(chat);
    }

    /* thinking: the budget as reasoning.max_tokens */
    chat = to_chat_ok("{\"model\":\"m\",\"max_tokens\":4096,\"messages\":"
                      "[{\"role\":\"user\",\"content\":\"x\"}],\"thinking\":"
                      "{\"type\":\"enabled\",\"budget_tokens\":2048}}");
    assert_json(json_object_get(chat, "reasoning"), "{\"max_tokens\":2048}");
    json_decref(chat);
}
END_TEST

/* The element paths errors name, written without the formatter. */
START_TEST(param_paths)
{
    ck_assert_str_eq(llmgw_param_at(tp, "messages", "", 0), "messages[0]");
    ck_assert_str_eq(llmgw_param_at(tp, "messages[3]", ".content", 12),
                     "messages[3].content[12]");
    ck_assert_str_eq(llmgw_param_at(tp, "tools", "", 4294967295u),
                     apr_psprintf(tp, "tools[%u]", 4294967295u));
}
END_TEST

START_TEST(req_errors)
{
#define MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]"
    to_chat_err("[1]", NULL);
    to_chat_err("{\"model\":\"m\"," MSGS "}", "max_tokens");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":0," MSGS "}", "max_tokens");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":-3," MSGS "}", "max_tokens");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":1.5," MSGS "}", "max_tokens");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":\"9\"," MSGS "}",
                "max_tokens");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"service_tier\":\"auto\","
                MSGS "}", "service_tier");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"container\":\"c1\","
                MSGS "}", "container");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"mcp_servers\":[{}],"
                MSGS "}", "mcp_servers");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"frequency_penalty\":1,"
                MSGS "}", "frequency_penalty");
    to_chat_err("{\"model\":7,\"max_tokens\":9," MSGS "}", "model");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9}", "messages");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":[]}",
                "messages");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":{}}",
                "messages");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"user\",\"content\":\"a\"},"
                "{\"role\":\"assistant\",\"content\":\"b\"},"
                "{\"role\":\"user\",\"content\":5}]}", "messages[2].content");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"system\",\"content\":\"a\"}]}",
                "messages[0].role");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":[7]}",
                "messages[0]");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
                "messages[0].content[0].text");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]}",
                "messages[0].content[0].type");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"user\",\"content\":[{\"type\":\"document\","
                "\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\","
                "\"data\":\"hi\"}}]}]}", "messages[0].content[0].source");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"user\",\"content\":[{\"type\":\"document\","
                "\"source\":{\"type\":\"url\",\"url\":\"https://x/a.pdf\"}}]}]}",
                "messages[0].content[0].source");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"user\",\"content\":[{\"type\":\"image\","
                "\"source\":{\"type\":\"file\",\"file_id\":\"f\"}}]}]}",
                "messages[0].content[0].source");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"user\",\"content\":[{\"type\":\"image\","
                "\"source\":{\"type\":\"base64\",\"data\":\"AA==\"}}]}]}",
                "messages[0].content[0].source.media_type");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"assistant\",\"content\":[{\"type\":\"image\","
                "\"source\":{\"type\":\"url\",\"url\":\"https://x\"}}]}]}",
                "messages[0].content[0].type");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"user\",\"content\":[{\"type\":\"tool_use\","
                "\"id\":\"t\",\"name\":\"f\",\"input\":{}}]}]}",
                "messages[0].content[0].type");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
                "\"id\":\"t\",\"name\":\"f\",\"input\":[1]}]}]}",
                "messages[0].content[0].input");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
                "\"name\":\"f\",\"input\":{}}]}]}", "messages[0].content[0]");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
                "\"content\":\"x\"}]}]}",
                "messages[0].content[0].tool_use_id");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
                "\"tool_use_id\":\"t\",\"content\":[{\"type\":\"image\","
                "\"source\":{}}]}]}]}",
                "messages[0].content[0].content[0].type");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"messages\":["
                "{\"role\":\"assistant\",\"content\":[{\"type\":"
                "\"server_tool_use\",\"id\":\"s\",\"name\":\"web_search\","
                "\"input\":{}}]}]}", "messages[0].content[0].type");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"system\":5," MSGS "}",
                "system");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"system\":[{\"type\":"
                "\"image\"}]," MSGS "}", "system[0].type");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"stop_sequences\":\"x\","
                MSGS "}", "stop_sequences");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"stop_sequences\":[1],"
                MSGS "}", "stop_sequences[0]");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"temperature\":\"hot\","
                MSGS "}", "temperature");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"top_k\":0.5," MSGS "}",
                "top_k");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"stream\":\"yes\","
                MSGS "}", "stream");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"tools\":[{\"type\":"
                "\"web_search_20250305\",\"name\":\"web_search\"}]," MSGS "}",
                "tools");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"tools\":[{\"type\":"
                "\"bash_20250124\",\"name\":\"bash\"}]," MSGS "}", "tools");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"tools\":{}," MSGS "}",
                "tools");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"tools\":[{\"name\":\"f\"}],"
                MSGS "}", "tools[0].input_schema");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"tools\":[{\"input_schema\":"
                "{}}]," MSGS "}", "tools[0].name");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"tool_choice\":\"auto\","
                MSGS "}", "tool_choice");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"tool_choice\":{\"type\":"
                "\"some\"}," MSGS "}", "tool_choice.type");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"tool_choice\":{\"type\":"
                "\"tool\"}," MSGS "}", "tool_choice.name");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"tool_choice\":{\"type\":"
                "\"auto\",\"disable_parallel_tool_use\":1}," MSGS "}",
                "tool_choice.disable_parallel_tool_use");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"thinking\":{\"type\":"
                "\"enabled\"}," MSGS "}", "thinking.budget_tokens");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"thinking\":{\"type\":"
                "\"sometimes\"}," MSGS "}", "thinking.type");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"thinking\":true,"
                MSGS "}", "thinking");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"metadata\":{\"user_id\":"
                "3}," MSGS "}", "metadata.user_id");
    to_chat_err("{\"model\":\"m\",\"max_tokens\":9,\"metadata\":{\"team\":"
                "\"x\"}," MSGS "}", "metadata.team");
#undef MSGS
}
END_TEST

/* ---------------------------------------------------------- from_chat */

static json_t *from_chat(const char *chat_txt)
{
    llmgw_api_ctx_t c = ctx();
    const char *txt = NULL;
    apr_size_t len = 0;
    json_t *out;

    if (A->from_chat(tp, chat_txt, strlen(chat_txt), &c, &txt, &len)) {
        return NULL;
    }
    ck_assert_msg(txt[len] == '\0', "from_chat's text NUL-terminated");
    out = json_loadb(txt, len, 0, NULL);
    ck_assert_msg(out != NULL, "from_chat wrote no JSON: %s", txt);
    return out;
}

START_TEST(answer_full)
{
    json_t *m = from_chat(
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":"
        "\"gpt-4o\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":\"Let me check.\",\"reasoning_content\":"
        "\"Think\",\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":"
        "\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"id\":\"call_2\",\"type\":"
        "\"function\",\"function\":{\"name\":\"now\",\"arguments\":\"\"}}]},"
        "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":100,"
        "\"completion_tokens\":20,\"total_tokens\":120,"
        "\"prompt_tokens_details\":{\"cached_tokens\":64}}}");
    assert_json(m,
        "{\"id\":\"msg_gw1\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"openai/gpt-4o\",\"content\":["
        "{\"type\":\"thinking\",\"thinking\":\"Think\",\"signature\":\"\"},"
        "{\"type\":\"text\",\"text\":\"Let me check.\"},"
        "{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"get_weather\","
        "\"input\":{\"city\":\"Paris\"}},"
        "{\"type\":\"tool_use\",\"id\":\"call_2\",\"name\":\"now\","
        "\"input\":{}}],"
        "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":36,\"output_tokens\":20,"
        "\"cache_read_input_tokens\":64}}");
    json_decref(m);

    /* tool calls only: no text block */
    m = from_chat("{\"choices\":[{\"message\":{\"role\":\"assistant\","
                  "\"content\":null,\"tool_calls\":[{\"id\":\"c\",\"type\":"
                  "\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
                  "\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}");
    assert_json(json_object_get(m, "content"),
                "[{\"type\":\"tool_use\",\"id\":\"c\",\"name\":\"f\","
                "\"input\":{}}]");
    assert_json(json_object_get(m, "usage"),
                "{\"input_tokens\":0,\"output_tokens\":0}");
    json_decref(m);

    /* nothing at all: one empty text block; a refusal is the text */
    m = from_chat("{\"choices\":[{\"message\":{\"role\":\"assistant\","
                  "\"content\":\"\"},\"finish_reason\":\"stop\"}]}");
    assert_json(json_object_get(m, "content"),
                "[{\"type\":\"text\",\"text\":\"\"}]");
    json_decref(m);
    m = from_chat("{\"choices\":[{\"message\":{\"role\":\"assistant\","
                  "\"content\":null,\"refusal\":\"I can't.\"},"
                  "\"finish_reason\":\"content_filter\"}]}");
    assert_json(json_object_get(m, "content"),
                "[{\"type\":\"text\",\"text\":\"I can't.\"}]");
    assert_json(json_object_get(m, "stop_reason"), "\"refusal\"");
    json_decref(m);
}
END_TEST

/* The answer is written from the chat.completion's text: escaped strings
 * keep their value, members come in any order, the last of a duplicate
 * wins (as jansson reads it), a content array's text parts are joined,
 * the model named to the client is escaped, text that is not JSON is
 * refused. */
/* The answer is read in one pass: only the first choice counts, and a
 * repeated key's last value wins, as it would in a tree, at every level
 * (an earlier message's, usage's or function's members are forgotten). */
START_TEST(answer_one_pass_last_key_wins)
{
    json_t *m = from_chat(
        "{\"choices\":[{\"message\":{\"content\":\"old\","
        "\"reasoning_content\":\"gone\"},\"message\":{\"content\":"
        "\"new\",\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":"
        "\"f1\",\"arguments\":\"{\\\"x\\\":1}\"},\"function\":{"
        "\"arguments\":\"{}\"}}]},\"finish_reason\":\"length\"},"
        "{\"message\":{\"content\":\"second choice\"}}],"
        "\"usage\":{\"prompt_tokens\":9,\"prompt_tokens_details\":"
        "{\"cached_tokens\":4}},\"usage\":{\"prompt_tokens\":7,"
        "\"completion_tokens\":3}}");
    ck_assert_ptr_nonnull(m);
    assert_json(json_object_get(m, "content"),
                "[{\"type\":\"text\",\"text\":\"new\"},"
                "{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"\","
                "\"input\":{}}]");
    assert_json(json_object_get(m, "usage"),
                "{\"input_tokens\":7,\"output_tokens\":3}");
    ck_assert_str_eq(json_string_value(json_object_get(m, "stop_reason")),
                     "max_tokens");
    json_decref(m);

    /* a later "choices" that is not an array, a later "message" that is
     * not an object: no answer, whatever came before */
    ck_assert_ptr_null(from_chat("{\"choices\":[{\"message\":{\"content\":"
                                 "\"x\"}}],\"choices\":1}"));
    ck_assert_ptr_null(from_chat("{\"choices\":[{\"message\":{\"content\":"
                                 "\"x\"},\"message\":\"y\"}]}"));
    /* invalid JSON anywhere, even after what was read */
    ck_assert_ptr_null(from_chat("{\"choices\":[{\"message\":{\"content\":"
                                 "\"x\"}}],\"usage\":{\"prompt_tokens\":}}"));
}
END_TEST

START_TEST(answer_from_text)
{
    llmgw_api_ctx_t c = ctx();
    const char *txt = NULL;
    apr_size_t len = 0;
    json_t *m;

    m = from_chat("{\"usage\":{\"completion_tokens\":7,\"prompt_tokens\":5},"
                  "\"choices\":[{\"finish_reason\":\"length\",\"message\":"
                  "{\"content\":\"first\",\"role\":\"assistant\",\"content\":"
                  "\"a \\\"q\\\"\\n\\u00e9\\ud83d\\ude00\\\\\\/\"}},"
                  "{\"message\":{\"content\":\"second choice\"}}]}");
    assert_json(m,
        "{\"id\":\"msg_gw1\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"openai/gpt-4o\",\"content\":[{\"type\":\"text\","
        "\"text\":\"a \\\"q\\\"\\n\\u00e9\\ud83d\\ude00\\\\/\"}],"
        "\"stop_reason\":\"max_tokens\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":5,\"output_tokens\":7}}");
    json_decref(m);

    m = from_chat("{\"choices\":[{\"message\":{\"role\":\"assistant\","
                  "\"content\":[{\"type\":\"text\",\"text\":\"one \"},"
                  "{\"type\":\"image_url\"},{\"type\":\"text\",\"text\":"
                  "\"\\\"two\\\"\"}]}}]}");
    assert_json(json_object_get(m, "content"),
                "[{\"type\":\"text\",\"text\":\"one \\\"two\\\"\"}]");
    json_decref(m);

    c.model = "m \"quoted\"\n";
    ck_assert_int_eq(A->from_chat(tp, "{\"choices\":[{\"message\":{}}]}",
                                  strlen("{\"choices\":[{\"message\":{}}]}"),
                                  &c, &txt, &len), 0);
    m = json_loadb(txt, len, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(m, "model")),
                     "m \"quoted\"\n");
    json_decref(m);
    ck_assert_int_eq(A->from_chat(tp, "{\"choices\":[{\"message\":{}}]",
                                  strlen("{\"choices\":[{\"message\":{}}]"),
                                  &c, &txt, &len), -1);
    ck_assert_int_eq(A->from_chat(tp, "[]", 2, &c, &txt, &len), -1);
    ck_assert_ptr_null(from_chat("{\"choices\":[{\"message\":\"x\"}]}"));
}
END_TEST

START_TEST(answer_stop_reasons)
{
    static const char *const map[][2] = {
        { "\"stop\"", "end_turn" }, { "\"length\"", "max_tokens" },
        { "\"tool_calls\"", "tool_use" }, { "\"content_filter\"", "refusal" },
        { "\"function_call\"", "tool_use" }, { "\"weird\"", "end_turn" },
        { "null", "end_turn" },
    };
    unsigned i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        json_t *m = from_chat(apr_psprintf(tp, "{\"choices\":[{\"message\":"
                              "{\"role\":\"assistant\",\"content\":\"x\"},"
                              "\"finish_reason\":%s}]}", map[i][0]));
        ck_assert_str_eq(json_string_value(json_object_get(m, "stop_reason")),
                         map[i][1]);
        json_decref(m);
    }
}
END_TEST

START_TEST(answer_unexpressible)
{
    /* tool arguments that are not a JSON object: no answer (502) */
    ck_assert_ptr_null(from_chat(
        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,"
        "\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":"
        "{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\"}}]},"
        "\"finish_reason\":\"tool_calls\"}]}"));
    ck_assert_ptr_null(from_chat(
        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,"
        "\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":"
        "{\"name\":\"f\",\"arguments\":\"[1,2]\"}}]}}]}"));
    ck_assert_ptr_null(from_chat("{\"choices\":[]}"));
    ck_assert_ptr_null(from_chat("{\"object\":\"chat.completion\"}"));
}
END_TEST

/* ------------------------------------------------------------- errors */

START_TEST(error_shape)
{
    static const struct { int status; const char *type; } map[] = {
        { 400, "invalid_request_error" }, { 401, "authentication_error" },
        { 402, "billing_error" }, { 403, "permission_error" },
        { 404, "not_found_error" }, { 413, "request_too_large" },
        { 429, "rate_limit_error" }, { 500, "api_error" },
        { 502, "api_error" }, { 503, "overloaded_error" },
        { 504, "timeout_error" }, { 529, "overloaded_error" },
        { 422, "invalid_request_error" },
    };
    unsigned i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        llmgw_error_t e;
        json_t *b;
        memset(&e, 0, sizeof(e));
        e.status = map[i].status;
        e.type = "whatever_error";
        e.message = "Too many requests";
        e.retry_after = -1;
        b = A->error_body(&e, "req-9");
        assert_json(b, apr_psprintf(tp, "{\"type\":\"error\",\"error\":"
                    "{\"type\":\"%s\",\"message\":\"Too many requests\"},"
                    "\"request_id\":\"req-9\"}", map[i].type));
        json_decref(b);
    }
}
END_TEST

/* ------------------------------------------------------------ streams */

/* What the adapter emitted: the SSE text and each event's name. */
typedef struct {
    llmgw_buf_t sse;
    apr_array_header_t *names;      /* const char * ("" for none) */
} sink_t;

static sink_t *sink(void)
{
    sink_t *k = apr_pcalloc(tp, sizeof(*k));
    llmgw_buf_init(&k->sse, tp, 0);
    k->names = apr_array_make(tp, 16, sizeof(const char *));
    return k;
}

static int sink_emit(void *baton, const char *event, const char *data,
                     apr_size_t len)
{
    sink_t *k = baton;
    /* every event's data is one JSON object */
    json_decref(ut_jsonn(data, len, "emitted event"));
    APR_ARRAY_PUSH(k->names, const char *) = apr_pstrdup(tp, event ? event
                                                                    : "");
    if (event) {
        llmgw_buf_append(&k->sse, "event: ", 7);
        llmgw_buf_append(&k->sse, event, strlen(event));
        llmgw_buf_append(&k->sse, "\n", 1);
    }
    llmgw_buf_append(&k->sse, "data: ", 6);
    llmgw_buf_append(&k->sse, data, len);
    llmgw_buf_append(&k->sse, "\n\n", 2);
    return 0;
}

static const char *names_of(const sink_t *k)
{
    const char *s = "";
    int i;
    for (i = 0; i < k->names->nelts; i++) {
        s = apr_pstrcat(tp, s, i ? " " : "",
                        APR_ARRAY_IDX(k->names, i, const char *), NULL);
    }
    return s;
}

static void chunk(llmgw_api_stream_t *s, sink_t *k, const char *data)
{
    ck_assert_msg(A->stream_chunk(s, data, strlen(data), sink_emit, k) == 0,
                  "chunk refused: %s", data);
}

static json_t *reduce_ok(const char *sse, apr_size_t len, const char *what)
{
    const char *out = NULL;
    apr_size_t n = 0;
    ck_assert_msg(A->reduce(tp, sse, len, &out, &n) == 0,
                  "reduce failed: %s", what);
    return ut_jsonn(out, n, what);
}

#define CH "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\"," \
           "\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0," \
           "\"delta\":"

START_TEST(stream_sequence)
{
    llmgw_api_ctx_t c = ctx();
    llmgw_api_stream_t *s = A->stream_new(tp, &c);
    sink_t *k = sink();
    apr_array_header_t *evs;
    json_t *ev, *answer, *reduced;

    chunk(s, k, CH "{\"role\":\"assistant\",\"content\":\"\"},"
                "\"finish_reason\":null}]}");
    chunk(s, k, CH "{\"reasoning_content\":\"Hmm\"},\"finish_reason\":null}]}");
    chunk(s, k, CH "{\"reasoning_content\":\", ok\"},\"finish_reason\":null}]}");
    chunk(s, k, CH "{\"content\":\"Hel\"},\"finish_reason\":null}]}");
    chunk(s, k, CH "{\"content\":\"lo\"},\"finish_reason\":null}]}");
    chunk(s, k, CH "{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":"
                "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]},"
                "\"finish_reason\":null}]}");
    chunk(s, k, CH "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                "\"{\\\"a\\\":\"}}]},\"finish_reason\":null}]}");
    chunk(s, k, CH "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                "\"1}\"}}]},\"finish_reason\":null}]}");
    chunk(s, k, CH "{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":"
                "\"function\",\"function\":{\"name\":\"g\",\"arguments\":"
                "\"{}\"}}]},\"finish_reason\":null}]}");
    /* another choice (n > 1) is not part of the answer */
    chunk(s, k, "{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other\"},"
                "\"finish_reason\":null}]}");
    chunk(s, k, CH "{},\"finish_reason\":\"tool_calls\"}]}");
    chunk(s, k, "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\","
                "\"choices\":[],\"usage\":{\"prompt_tokens\":30,"
                "\"completion_tokens\":12,\"total_tokens\":42}}");
    ck_assert_ptr_null(A->stream_result(s));        /* not complete yet */
    ck_assert_int_eq(A->stream_end(s, sink_emit, k), 0);

    ck_assert_str_eq(names_of(k),
        "message_start "
        "content_block_start content_block_delta content_block_delta "
        "content_block_stop "
        "content_block_start content_block_delta content_block_delta "
        "content_block_stop "
        "content_block_start content_block_delta content_block_delta "
        "content_block_stop "
        "content_block_start content_block_delta content_block_stop "
        "message_delta message_stop");

    evs = ut_sse_events(k->sse.data, k->sse.len);
#define EV(i) ut_jsonn(UT_EV(evs, i).data, UT_EV(evs, i).len, "event")
#define EV_IS(i, txt) do { ev = EV(i); assert_json(ev, txt); \
                           json_decref(ev); } while (0)
    EV_IS(0, "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_gw1\","
          "\"type\":\"message\",\"role\":\"assistant\",\"model\":"
          "\"openai/gpt-4o\",\"content\":[],\"stop_reason\":null,"
          "\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,"
          "\"output_tokens\":0}}}");
    EV_IS(1, "{\"type\":\"content_block_start\",\"index\":0,"
          "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\","
          "\"signature\":\"\"}}");
    EV_IS(2, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
          "{\"type\":\"thinking_delta\",\"thinking\":\"Hmm\"}}");
    EV_IS(4, "{\"type\":\"content_block_stop\",\"index\":0}");
    EV_IS(5, "{\"type\":\"content_block_start\",\"index\":1,"
          "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
    EV_IS(6, "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
          "{\"type\":\"text_delta\",\"text\":\"Hel\"}}");
    EV_IS(9, "{\"type\":\"content_block_start\",\"index\":2,"
          "\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_a\","
          "\"name\":\"f\",\"input\":{}}}");
    EV_IS(10, "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":"
          "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}");
    EV_IS(13, "{\"type\":\"content_block_start\",\"index\":3,"
          "\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_b\","
          "\"name\":\"g\",\"input\":{}}}");
    EV_IS(16, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
          "\"tool_use\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":30,"
          "\"output_tokens\":12}}");
    EV_IS(17, "{\"type\":\"message_stop\"}");
#undef EV_IS
#undef EV

    answer = A->stream_result(s);
    assert_json(answer,
        "{\"id\":\"msg_gw1\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"openai/gpt-4o\",\"content\":["
        "{\"type\":\"thinking\",\"thinking\":\"Hmm, ok\",\"signature\":\"\"},"
        "{\"type\":\"text\",\"text\":\"Hello\"},"
        "{\"type\":\"tool_use\",\"id\":\"call_a\",\"name\":\"f\","
        "\"input\":{\"a\":1}},"
        "{\"type\":\"tool_use\",\"id\":\"call_b\",\"name\":\"g\",\"input\":{}}],"
        "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":30,\"output_tokens\":12}}");
    /* what the client accumulates is what the stream stood for */
    reduced = reduce_ok(k->sse.data, k->sse.len, "our stream");
    ut_json_eq(reduced, answer, "reduce of our stream");
    json_decref(reduced);
    json_decref(answer);

    /* nothing after the end */
    ck_assert_int_eq(A->stream_chunk(s, CH "{}}]}", strlen(CH "{}}]}"),
                                     sink_emit, k), -1);
}
END_TEST

START_TEST(stream_empty_and_cached)
{
    llmgw_api_ctx_t c = ctx();
    llmgw_api_stream_t *s = A->stream_new(tp, &c);
    sink_t *k = sink();
    json_t *answer;

    /* no content at all: one empty text block, as from_chat */
    chunk(s, k, CH "{\"role\":\"assistant\"},\"finish_reason\":\"length\"}],"
                "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
                "\"prompt_tokens_details\":{\"cached_tokens\":4}}}");
    ck_assert_int_eq(A->stream_end(s, sink_emit, k), 0);
    ck_assert_str_eq(names_of(k), "message_start content_block_start "
                     "content_block_stop message_delta message_stop");
    {
        /* the usage came with the first chunk: message_start has the input */
        apr_array_header_t *evs = ut_sse_events(k->sse.data, k->sse.len);
        json_t *ev = ut_jsonn(UT_EV(evs, 0).data, UT_EV(evs, 0).len, "start");
        assert_json(json_object_get(json_object_get(ev, "message"), "usage"),
                    "{\"input_tokens\":6,\"output_tokens\":0,"
                    "\"cache_read_input_tokens\":4}");
        json_decref(ev);
    }
    answer = A->stream_result(s);
    assert_json(answer,
        "{\"id\":\"msg_gw1\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"openai/gpt-4o\",\"content\":[{\"type\":\"text\","
        "\"text\":\"\"}],\"stop_reason\":\"max_tokens\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":6,\"output_tokens\":5,"
        "\"cache_read_input_tokens\":4}}");
    json_decref(answer);

    /* a stream that never had a chunk still opens and closes */
    s = A->stream_new(tp, &c);
    k = sink();
    ck_assert_int_eq(A->stream_end(s, sink_emit, k), 0);
    ck_assert_str_eq(names_of(k), "message_start content_block_start "
                     "content_block_stop message_delta message_stop");
}
END_TEST

START_TEST(stream_bad_chunks_and_error)
{
    static const char *const bad[] = {
        "{\"error\":{\"message\":\"upstream failed\",\"type\":"
        "\"provider_error\"}}",
        "not json",
        "[DONE]",
        "[1,2]",
        "{\"object\":\"something\"}",
    };
    llmgw_api_ctx_t c = ctx();
    unsigned i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        llmgw_api_stream_t *s = A->stream_new(tp, &c);
        sink_t *k = sink();
        ck_assert_msg(A->stream_chunk(s, bad[i], strlen(bad[i]), sink_emit, k)
                      == -1, "accepted %s", bad[i]);
    }

    {
        llmgw_api_stream_t *s = A->stream_new(tp, &c);
        sink_t *k = sink();
        llmgw_error_t e;
        apr_array_header_t *evs;
        json_t *ev;
        const char *out;
        apr_size_t n;

        chunk(s, k, CH "{\"content\":\"Hi\"},\"finish_reason\":null}]}");
        memset(&e, 0, sizeof(e));
        e.status = 502;
        e.type = "provider_error";
        e.message = "upstream stream ended early";
        e.retry_after = -1;
        ck_assert_int_eq(A->stream_error(s, &e, sink_emit, k), 0);
        ck_assert_str_eq(names_of(k), "message_start content_block_start "
                         "content_block_delta error");
        evs = ut_sse_events(k->sse.data, k->sse.len);
        ev = ut_jsonn(UT_EV(evs, 3).data, UT_EV(evs, 3).len, "error");
        assert_json(ev, "{\"type\":\"error\",\"error\":{\"type\":"
                    "\"api_error\",\"message\":\"upstream stream ended "
                    "early\"}}");
        json_decref(ev);
        ck_assert_ptr_null(A->stream_result(s));
        ck_assert_int_eq(A->stream_end(s, sink_emit, k), -1);
        /* a failed stream has no answer */
        ck_assert_int_eq(A->reduce(tp, k->sse.data, k->sse.len, &out, &n), -1);
    }
}
END_TEST

/* -------------------------------------------------- reduce and expand */

static json_t *reduce_file(const char *path)
{
    apr_size_t len;
    const char *buf = ut_slurp(path, &len);
    return reduce_ok(buf, len, path);
}

/* The Messages answer is well formed: what the SDKs' types require. */
static void check_answer(const json_t *m, const char *what)
{
    const json_t *content = json_object_get(m, "content");
    const json_t *b;
    size_t i;

    ck_assert_msg(json_is_string(json_object_get(m, "id")), "%s: id", what);
    ck_assert_msg(!strcmp(json_string_value(json_object_get(m, "type")),
                          "message"), "%s: type", what);
    ck_assert_msg(json_is_array(content), "%s: content", what);
    ck_assert_msg(json_is_string(json_object_get(m, "stop_reason")),
                  "%s: stop_reason", what);
    ck_assert_msg(json_is_integer(json_object_get(json_object_get(m, "usage"),
                                  "output_tokens")), "%s: usage", what);
    json_array_foreach(content, i, b) {
        const char *t = json_string_value(json_object_get(b, "type"));
        ck_assert_msg(t != NULL, "%s: block %u", what, (unsigned)i);
        if (!strcmp(t, "text")) {
            ck_assert(json_is_string(json_object_get(b, "text")));
        }
        else if (!strcmp(t, "tool_use")) {
            ck_assert(json_is_object(json_object_get(b, "input")));
        }
        else if (!strcmp(t, "thinking")) {
            ck_assert(json_is_string(json_object_get(b, "thinking")));
            ck_assert(json_is_string(json_object_get(b, "signature")));
        }
    }
}

/* expand then reduce gives the same answer back. */
static void round_trip(const json_t *m, const char *what)
{
    char *txt = json_dumps(m, JSON_COMPACT);
    const char *sse;
    apr_size_t n;
    json_t *back;

    ck_assert_int_eq(A->expand(tp, txt, strlen(txt), &sse, &n), 0);
    free(txt);
    back = reduce_ok(sse, n, apr_pstrcat(tp, "expanded ", what, NULL));
    ut_json_eq(back, m, what);
    json_decref(back);
}

START_TEST(reduce_recordings)
{
    apr_array_header_t *files = ut_fixture_glob("anthropic/*.txt", 7);
    const char *const local[] = { "thinking_response.txt",
                                  "redacted_thinking_response.txt",
                                  "tool_use_haiku_response.txt" };
    int i;

    for (i = 0; i < files->nelts; i++) {
        const char *path = APR_ARRAY_IDX(files, i, const char *);
        json_t *m = reduce_file(path);
        check_answer(m, path);
        round_trip(m, path);
        json_decref(m);
    }
    for (i = 0; i < (int)(sizeof(local) / sizeof(local[0])); i++) {
        const char *path = local_fixture(apr_pstrcat(tp, "anthropic/",
                                                     local[i], NULL));
        json_t *m = reduce_file(path);
        check_answer(m, path);
        round_trip(m, path);
        json_decref(m);
    }
}
END_TEST

/* Hand-checked values of the reductions. */
START_TEST(reduce_values)
{
    json_t *m, *b;
    const char *sig;

    m = reduce_file(ut_fixture_path("anthropic/basic_response.txt"));
    assert_json(m,
        "{\"id\":\"msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK\",\"type\":"
        "\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
        "\"text\":\"Hello there!\"}],\"model\":\"claude-3-opus-latest\","
        "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":"
        "{\"input_tokens\":11,\"output_tokens\":6}}");
    json_decref(m);

    m = reduce_file(ut_fixture_path("anthropic/tool_use_response.txt"));
    b = json_array_get(json_object_get(m, "content"), 1);
    assert_json(json_object_get(b, "input"), "{\"location\":\"Paris\"}");
    assert_json(json_object_get(m, "stop_reason"), "\"tool_use\"");
    assert_json(json_object_get(m, "usage"),
                "{\"input_tokens\":377,\"cache_creation_input_tokens\":0,"
                "\"cache_read_input_tokens\":0,\"output_tokens\":65,"
                "\"service_tier\":\"standard\"}");
    json_decref(m);

    /* cut by max_tokens: the complete part of the input */
    m = reduce_file(ut_fixture_path(
        "anthropic/incomplete_partial_json_response.txt"));
    b = json_array_get(json_object_get(m, "content"), 1);
    assert_json(json_object_get(b, "input"),
        "{\"filename\":\"taxes.txt\",\"lines_of_text\":["
        "\"# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH MULTIPLE W-2s\","
        "\"\",\"## INTRODUCTION\",\"\"]}");
    assert_json(json_object_get(m, "stop_reason"), "\"max_tokens\"");
    json_decref(m);

    m = reduce_file(local_fixture("anthropic/thinking_response.txt"));
    b = json_array_get(json_object_get(m, "content"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(b, "type")),
                     "thinking");
    ck_assert_str_eq(json_string_value(json_object_get(b, "thinking")),
                     "This is a straightforward question about pedestrian "
                     "safety. I should provide clear, helpful advice about "
                     "how to safely cross a street. This is basic safety "
                     "information that could help prevent accidents.");
    sig = json_string_value(json_object_get(b, "signature"));
    ck_assert_msg(sig && !strncmp(sig, "EvMCCkYICxgCKkCHP2cSuEdc", 24)
                  && strlen(sig) > 300, "signature %s", sig);
    b = json_array_get(json_object_get(m, "content"), 1);
    ck_assert_msg(!strncmp(json_string_value(json_object_get(b, "text")),
                           "Here are the basic steps for safely crossing", 44),
                  "text");
    assert_json(json_object_get(m, "usage"),
                "{\"input_tokens\":43,\"cache_creation_input_tokens\":0,"
                "\"cache_read_input_tokens\":0,\"cache_creation\":"
                "{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":"
                "0},\"output_tokens\":282,\"service_tier\":\"standard\","
                "\"inference_geo\":\"not_available\"}");
    json_decref(m);

    m = reduce_file(local_fixture("anthropic/redacted_thinking_response.txt"));
    b = json_array_get(json_object_get(m, "content"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(b, "type")),
                     "redacted_thinking");
    ck_assert_msg(!strncmp(json_string_value(json_object_get(b, "data")),
                           "EqkECkYIBxgCKkA8", 16), "redacted data");
    json_decref(m);

    m = reduce_file(local_fixture("anthropic/tool_use_haiku_response.txt"));
    assert_json(json_object_get(m, "content"),
        "[{\"type\":\"tool_use\",\"id\":\"toolu_018acGYLtfR52q9yDbWaEdQZ\","
        "\"name\":\"get_weather\",\"input\":{\"location\":"
        "\"San Francisco, CA\",\"units\":\"f\"},\"caller\":{\"type\":"
        "\"direct\"}}]");
    json_decref(m);
}
END_TEST

START_TEST(reduce_failures)
{
    static const char *const bad[] = {
        "",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        /* no message_start */
        "event: content_block_start\ndata: {\"type\":\"content_block_start\","
        "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        /* not JSON */
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
        "{\"id\":\"m\",\"content\":[]}}\n\nevent: message_stop\ndata: {oops\n\n",
        /* a delta for a block never started */
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
        "{\"id\":\"m\",\"content\":[]}}\n\nevent: content_block_delta\ndata: "
        "{\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":"
        "\"text_delta\",\"text\":\"x\"}}\n\nevent: message_stop\ndata: "
        "{\"type\":\"message_stop\"}\n\n",
        /* no message_stop: incomplete */
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
        "{\"id\":\"m\",\"content\":[]}}\n\n",
    };
    const char *out;
    apr_size_t n, len;
    const char *buf;
    unsigned i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(A->reduce(tp, bad[i], strlen(bad[i]), &out, &n) == -1,
                      "reduced %s", bad[i]);
    }
    /* an error mid-stream (written from the docs, see the README) */
    buf = ut_slurp(local_fixture("anthropic/error_mid_stream_response.txt"),
                   &len);
    ck_assert_int_eq(A->reduce(tp, buf, len, &out, &n), -1);

    ck_assert_int_eq(A->expand(tp, "[]", 2, &out, &n), -1);
    ck_assert_int_eq(A->expand(tp, "{\"content\":5}", 13, &out, &n), -1);
    ck_assert_int_eq(A->expand(tp, "nope", 4, &out, &n), -1);
}
END_TEST

START_TEST(expand_sequence)
{
    const char *ans =
        "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"m\",\"content\":["
        "{\"type\":\"thinking\",\"thinking\":\"t\",\"signature\":\"SIG\"},"
        "{\"type\":\"redacted_thinking\",\"data\":\"R\"},"
        "{\"type\":\"text\",\"text\":\"a\\u0000b\"},"
        "{\"type\":\"tool_use\",\"id\":\"tu\",\"name\":\"f\",\"input\":"
        "{\"x\":[1,2.5,\"y\"]}}],"
        "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":5,\"output_tokens\":7,"
        "\"cache_read_input_tokens\":2}}";
    const char *sse;
    apr_size_t n;
    apr_array_header_t *evs;
    const char *names = "";
    json_t *m;
    int i;

    ck_assert_int_eq(A->expand(tp, ans, strlen(ans), &sse, &n), 0);
    evs = ut_sse_events(sse, n);
    for (i = 0; i < evs->nelts; i++) {
        names = apr_pstrcat(tp, names, i ? " " : "", UT_EV(evs, i).event,
                            NULL);
    }
    ck_assert_str_eq(names,
        "message_start "
        "content_block_start content_block_delta content_block_delta "
        "content_block_stop "
        "content_block_start content_block_stop "
        "content_block_start content_block_delta content_block_stop "
        "content_block_start content_block_delta content_block_stop "
        "message_delta message_stop");
    m = ut_json(ans);
    round_trip(m, "hand answer");
    json_decref(m);
}
END_TEST

/* ------------------------------------ recorded streams through the adapter */

/* Feeds a chat.completion.chunk SSE stream to a new adapter stream and
 * ends it at [DONE]; the Messages SSE it wrote. */
static sink_t *through_adapter(const char *sse, apr_size_t len)
{
    apr_array_header_t *evs = ut_sse_events(sse, len);
    llmgw_api_ctx_t c = ctx();
    llmgw_api_stream_t *s = A->stream_new(tp, &c);
    sink_t *k = sink();
    int i, done = 0;

    for (i = 0; i < evs->nelts && !done; i++) {
        const ut_sse_event_t *x = &UT_EV(evs, i);
        if (!strcmp(x->data, "[DONE]")) {
            done = 1;
        }
        else {
            ck_assert_int_eq(A->stream_chunk(s, x->data, x->len, sink_emit,
                                             k), 0);
        }
    }
    ck_assert_int_eq(A->stream_end(s, sink_emit, k), 0);
    return k;
}

/* The text of a Messages answer's text blocks; the tool inputs. */
static const char *answer_text(const json_t *m, json_t *tools)
{
    const json_t *b;
    size_t i;
    const char *t = "";

    json_array_foreach(json_object_get(m, "content"), i, b) {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (!strcmp(type, "text")) {
            t = apr_pstrcat(tp, t, json_string_value(json_object_get(b,
                                                     "text")), NULL);
        }
        else if (!strcmp(type, "tool_use") && tools) {
            json_array_append(tools, json_object_get(b, "input"));
        }
    }
    return t;
}

START_TEST(openai_recordings)
{
    apr_array_header_t *files = ut_fixture_glob("openai/*.sse", 10);
    int i;

    for (i = 0; i < files->nelts; i++) {
        const char *path = APR_ARRAY_IDX(files, i, const char *);
        apr_size_t len;
        const char *buf = ut_slurp(path, &len);
        json_t *chat = llmgw_stream_reduce(tp, buf, len, NULL);
        const json_t *msg = json_object_get(json_array_get(
                                json_object_get(chat, "choices"), 0),
                                "message");
        const json_t *want = json_object_get(msg, "content");
        const json_t *call;
        sink_t *k;
        json_t *m, *tools = json_array();
        size_t j;

        ck_assert_msg(chat != NULL, "%s: no chat reduction", path);
        if (!json_is_string(want) || json_string_length(want) == 0) {
            want = json_object_get(msg, "refusal");
        }
        k = through_adapter(buf, len);
        m = reduce_ok(k->sse.data, k->sse.len, path);
        check_answer(m, path);
        ck_assert_msg(!strcmp(answer_text(m, tools), json_is_string(want)
                              ? json_string_value(want) : ""),
                      "%s: text differs", path);
        ck_assert_int_eq(json_array_size(tools),
                         json_array_size(json_object_get(msg, "tool_calls")));
        json_array_foreach(json_object_get(msg, "tool_calls"), j, call) {
            json_t *args = ut_json(json_string_value(json_object_get(
                               json_object_get(call, "function"),
                               "arguments")));
            ut_json_eq(json_array_get(tools, j), args, path);
            json_decref(args);
        }
        assert_json(json_object_get(m, "stop_reason"), apr_psprintf(tp,
                    "\"%s\"", !strcmp(json_string_value(json_object_get(
                        json_array_get(json_object_get(chat, "choices"), 0),
                        "finish_reason")), "length") ? "max_tokens"
                    : json_array_size(tools) ? "tool_use" : "end_turn"));
        if (json_is_object(json_object_get(chat, "usage"))) {
            ut_json_eq(json_object_get(json_object_get(m, "usage"),
                                       "output_tokens"),
                       json_object_get(json_object_get(chat, "usage"),
                                       "completion_tokens"), path);
        }
        json_decref(tools);
        json_decref(m);
        json_decref(chat);
    }
}
END_TEST

/* Anthropic recording -> the anthropic translator's chunks -> the adapter:
 * the Messages answer has the recording's text, thinking and tool inputs. */
typedef struct {
    llmgw_buf_t sse;
} chunks_t;

static int collect_chunk(void *baton, const char *data, apr_size_t len)
{
    chunks_t *c = baton;
    llmgw_buf_append(&c->sse, "data: ", 6);
    llmgw_buf_append(&c->sse, data, len);
    llmgw_buf_append(&c->sse, "\n\n", 2);
    return 0;
}

static void anthropic_through(const char *path)
{
    apr_size_t len;
    const char *buf = ut_slurp(path, &len);
    apr_array_header_t *evs = ut_sse_events(buf, len);
    llmgw_xlate_ctx_t x;
    llmgw_stream_t *ts;
    chunks_t c;
    sink_t *k;
    json_t *orig, *m, *t1 = json_array(), *t2 = json_array();
    const json_t *b;
    size_t j;
    int i, rv = LLMGW_XLATE_CONTINUE;
    const char *th1 = "", *th2 = "";

    memset(&x, 0, sizeof(x));
    x.model = "claude";
    x.id = "chatcmpl-x";
    x.include_usage = 1;
    llmgw_buf_init(&c.sse, tp, 0);
    ts = llmgw_anthropic_translator.stream_new(tp, &x);
    for (i = 0; i < evs->nelts && rv == LLMGW_XLATE_CONTINUE; i++) {
        rv = llmgw_anthropic_translator.stream_event(ts, UT_EV(evs, i).event,
                UT_EV(evs, i).data, UT_EV(evs, i).len, collect_chunk, &c);
    }
    if (rv == LLMGW_XLATE_CONTINUE) {
        rv = llmgw_anthropic_translator.stream_finish(ts, collect_chunk, &c);
    }
    ck_assert_msg(rv == LLMGW_XLATE_END, "%s: translator %d", path, rv);
    collect_chunk(&c, "[DONE]", 6);

    k = through_adapter(c.sse.data, c.sse.len);
    m = reduce_ok(k->sse.data, k->sse.len, path);
    orig = reduce_file(path);
    check_answer(m, path);
    ck_assert_msg(!strcmp(answer_text(m, t1), answer_text(orig, t2)),
                  "%s: text differs", path);
    ut_json_eq(t1, t2, path);
    json_array_foreach(json_object_get(orig, "content"), j, b) {
        if (!strcmp(json_string_value(json_object_get(b, "type")),
                    "thinking")) {
            th1 = apr_pstrcat(tp, th1, json_string_value(json_object_get(b,
                              "thinking")), NULL);
        }
    }
    json_array_foreach(json_object_get(m, "content"), j, b) {
        if (!strcmp(json_string_value(json_object_get(b, "type")),
                    "thinking")) {
            th2 = apr_pstrcat(tp, th2, json_string_value(json_object_get(b,
                              "thinking")), NULL);
        }
    }
    ck_assert_msg(!strcmp(th1, th2), "%s: thinking differs", path);
    ut_json_eq(json_object_get(m, "stop_reason"),
               json_object_get(orig, "stop_reason"), path);
    ut_json_eq(json_object_get(json_object_get(m, "usage"), "output_tokens"),
               json_object_get(json_object_get(orig, "usage"),
                               "output_tokens"), path);
    json_decref(t1);
    json_decref(t2);
    json_decref(m);
    json_decref(orig);
}

START_TEST(anthropic_recordings_through)
{
    static const char *const local[] = { "thinking_response.txt",
                                         "redacted_thinking_response.txt",
                                         "tool_use_haiku_response.txt" };
    static const char *const shared[] = { "basic_response.txt",
                                          "tool_use_response.txt",
                                          "refusal_response.txt" };
    unsigned i;

    for (i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
        anthropic_through(ut_fixture_path(apr_pstrcat(tp, "anthropic/",
                                                      shared[i], NULL)));
    }
    for (i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        anthropic_through(local_fixture(apr_pstrcat(tp, "anthropic/",
                                                    local[i], NULL)));
    }
}
END_TEST

/* The writer and the tree converter agree on every JSON text of the unit
 * tests and the fuzz seeds (t/fuzz/corpus/unit, t/fuzz/seeds.pl), each also
 * made a Messages request where it is not one (as messages, as a content
 * array, as a block), and on texts that read one way as jansson reads
 * them: escaped keys and values, members given twice, "\u0000" in what is
 * read as a C string, white space. */
static int corpus_texts(const char *dir, apr_array_header_t *out)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    int n = 0;

    if (apr_dir_open(&d, dir, tp) != APR_SUCCESS) {
        return 0;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        char *txt;
        apr_size_t len;
        if (fi.filetype != APR_REG) {
            continue;
        }
        txt = ut_slurp(apr_pstrcat(tp, dir, "/", fi.name, NULL), &len);
        if (txt) {
            APR_ARRAY_PUSH(out, const char *) = apr_pstrmemdup(tp, txt, len);
            n++;
        }
    }
    apr_dir_close(d);
    return n;
}

#define REQ_HEAD "{\"model\":\"m\",\"max_tokens\":9,"

START_TEST(req_same_as_tree)
{
    static const char *const edge[] = {
        REQ_HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
            "\"temperature\":0.5,\"temperature\":1.25}",
        REQ_HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
            "\"max_tokens\":0}",
        REQ_HEAD "\"max_tokens\":7,\"messages\":[{\"role\":\"user\","
            "\"content\":\"a\"}]}",
        REQ_HEAD "\"m\\u0065ssages\":[{\"r\\u006fle\":\"user\",\"content\":"
            "\"a\\u0000b\\n\\ud83d\\ude00\"}],\"st\\u0072eam\":true}",
        REQ_HEAD "\"messages\":[{\"role\":\"user\\u0000x\",\"content\":"
            "\"a\"}]}",
        REQ_HEAD "\"messages\":[{\"role\":\"us\\u0065r\",\"content\":["
            "{\"type\":\"t\\u0065xt\",\"text\":\"x\\\"y\"},{\"type\":\"image\","
            "\"source\":{\"type\":\"base64\",\"media_type\":\"image/p\\u006eg"
            "\\u0000junk\",\"data\":\"QU\\/J\\u0000\"}},{\"type\":\"document\","
            "\"title\":\"T\\u00e9\\u0000x\",\"source\":{\"type\":\"base64\","
            "\"media_type\":\"application/pdf\",\"data\":\"JVBE\"}}]}]}",
        REQ_HEAD "\"messages\":[{\"role\":\"assistant\",\"content\":["
            "{\"type\":\"text\",\"text\":\"a\\u0000\"},{\"type\":\"thinking\","
            "\"thinking\":\"t\"},{\"type\":\"text\",\"text\":\"\\\"b\\ud83d\\ude00\"},"
            "{\"type\":\"tool_use\",\"id\":\"c\\u00001\",\"name\":\"f\\u00e9\","
            "\"input\":{ \"b\" : 1.50, \"a\":[1e2, \"\\/x\\u00e9\"], \"b\":2 }},"
            "{\"type\":\"tool_use\",\"id\":\"c2\",\"name\":\"g\"}]},"
            "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
            "\"tool_use_id\":\"c\\u00001\",\"is_error\":true},{\"type\":"
            "\"tool_result\",\"tool_use_id\":\"c2\",\"is_error\":true,"
            "\"content\":[{\"type\":\"text\",\"text\":\"x\"}]},{\"type\":"
            "\"tool_result\",\"tool_use_id\":\"c3\",\"content\":[]},"
            "{\"type\":\"text\",\"text\":\"go\"}]}]}",
        REQ_HEAD "\"messages\":[{\"role\":\"user\",\"content\":[]}],"
            "\"system\":[],\"stop_sequences\":[],\"metadata\":{\"user_id\":"
            "\"u\\u0000\",\"x\":null,\"user_id\":\"v\"}}",
        REQ_HEAD "\"system\":\"\",\"messages\":[ ],\"stream\":false}",
        REQ_HEAD "\"system\":\"\\u0000\",\"messages\":[{\"role\":\"user\","
            "\"content\":\"a\"}],\"tool_choice\":{\"type\":\"tool\",\"name\":"
            "\"n\\u0000\",\"disable_parallel_tool_use\":true},\"tools\":[{"
            "\"type\":null,\"name\":\"n\\u0000x\",\"input_schema\":{ \"a\":1,"
            "\"a\":2},\"description\":\"d\\u0000\",\"strict\":false}],"
            "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024}}",
        REQ_HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
            "\"tools\":[{\"type\":\"custom\\u0000x\",\"name\":\"n\","
            "\"input_schema\":{}},{\"type\":\"bash\\u0000\"}]}",
        REQ_HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
            "\"top_k\":1.0,\"top_p\":1e-1}",
        REQ_HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
            "\"stop_sequences\":[\"a\",1,2],\"provider\":\"p\",\"memory\":null,"
            "\"models\":[\"a\"]}",
        REQ_HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],"
            "\"provider\":\"p\",\"model\":null,\"top_k\":-3}",
    };
    static const char *const wraps[] = {
        REQ_HEAD "\"messages\":%s}",
        REQ_HEAD "\"messages\":[%s]}",
        REQ_HEAD "\"messages\":[{\"role\":\"user\",\"content\":%s}]}",
        REQ_HEAD "\"messages\":[{\"role\":\"assistant\",\"content\":%s}]}",
        REQ_HEAD "\"messages\":[{\"role\":\"user\",\"content\":[%s]}]}",
        REQ_HEAD "\"messages\":[{\"role\":\"assistant\",\"content\":[%s]}]}",
        REQ_HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            "\"tools\":%s}",
        REQ_HEAD "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            "\"system\":%s}",
    };
    const char *slash = strrchr(__FILE__, '/');
    const char *dir = slash ? apr_pstrndup(tp, __FILE__, slash - __FILE__)
                            : ".";
    apr_array_header_t *texts = apr_array_make(tp, 700, sizeof(char *));
    int i, ok = 0, n;
    unsigned w;

    n = corpus_texts(apr_pstrcat(tp, dir, "/../fuzz/corpus/unit", NULL),
                     texts);
    ck_assert_msg(n > 100, "the fuzz seeds (t/fuzz/corpus/unit): %d", n);
    for (i = 0; i < (int)(sizeof(edge) / sizeof(edge[0])); i++) {
        same_as_tree(edge[i], strlen(edge[i]), edge[i]);
    }
    for (i = 0; i < texts->nelts; i++) {
        const char *t = APR_ARRAY_IDX(texts, i, const char *);
        ok += same_as_tree(t, strlen(t), t) == 0;
        for (w = 0; w < sizeof(wraps) / sizeof(wraps[0]); w++) {
            const char *x = apr_psprintf(tp, wraps[w], t);
            ok += same_as_tree(x, strlen(x), x) == 0;
        }
    }
    /* the corpus holds Messages requests the writer takes (the rest are
     * compared on their errors) */
    ck_assert_msg(ok > 20, "only %d Chat requests written", ok);
}
END_TEST

/* What Chat cannot express is LLMGW_API_UNSUPPORTED; an invalid request
 * has no code. */
static const char *code_of(const char *txt)
{
    llmgw_api_ctx_t c = ctx();
    const char *chat = NULL, *err = NULL, *param = NULL, *code = "unset";
    apr_size_t len = 0;
    ck_assert_int_eq(A->to_chat_text(tp, txt, strlen(txt), &c, &chat, &len,
                                     &err, &param, &code), 400);
    same_as_tree(txt, strlen(txt), txt);
    return code;
}

START_TEST(req_error_codes)
{
    ck_assert_str_eq(code_of("{\"model\":\"m\",\"max_tokens\":5,\"messages\":"
                             "[{\"role\":\"user\",\"content\":\"x\"}],"
                             "\"service_tier\":\"auto\"}"),
                     LLMGW_API_UNSUPPORTED);
    ck_assert_str_eq(code_of("{\"model\":\"m\",\"max_tokens\":5,\"messages\":"
                             "[{\"role\":\"user\",\"content\":\"x\"}],"
                             "\"tools\":[{\"type\":\"web_search_20250305\","
                             "\"name\":\"web_search\"}]}"),
                     LLMGW_API_UNSUPPORTED);
    ck_assert_ptr_null(code_of("{\"model\":\"m\",\"messages\":"
                               "[{\"role\":\"user\",\"content\":\"x\"}]}"));
    ck_assert_ptr_null(code_of("{\"model\":\"m\",\"max_tokens\":5,"
                               "\"messages\":[{\"role\":\"user\","
                               "\"content\":7}]}"));
}
END_TEST

static Suite *messages_suite(void)
{
    Suite *s = suite_create("api_messages");
    TCase *tc = ut_tcase(s, "request", 0);
    tcase_add_test(tc, req_basic);
    tcase_add_test(tc, req_error_codes);
    tcase_add_test(tc, req_system_blocks);
    tcase_add_test(tc, req_content_blocks);
    tcase_add_test(tc, req_tool_history);
    tcase_add_test(tc, req_tools);
    tcase_add_test(tc, req_errors);
    tcase_add_test(tc, param_paths);
    tcase_add_test(tc, req_same_as_tree);
    tc = ut_tcase(s, "answer", 0);
    tcase_add_test(tc, answer_full);
    tcase_add_test(tc, answer_one_pass_last_key_wins);
    tcase_add_test(tc, answer_from_text);
    tcase_add_test(tc, answer_stop_reasons);
    tcase_add_test(tc, answer_unexpressible);
    tcase_add_test(tc, error_shape);
    tc = ut_tcase(s, "stream", 0);
    tcase_add_test(tc, stream_sequence);
    tcase_add_test(tc, stream_empty_and_cached);
    tcase_add_test(tc, stream_bad_chunks_and_error);
    tc = ut_tcase(s, "reduce", 30);
    tcase_add_test(tc, reduce_recordings);
    tcase_add_test(tc, reduce_values);
    tcase_add_test(tc, reduce_failures);
    tcase_add_test(tc, expand_sequence);
    tcase_add_test(tc, openai_recordings);
    tcase_add_test(tc, anthropic_recordings_through);
    return s;
}

UT_MAIN(messages_suite)
