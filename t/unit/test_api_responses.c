/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Unit tests of the OpenAI Responses API adapter (mod_llmgw/api/
 * llmgw_api_responses.c, llmgw_responses_request.c, llmgw_responses_stream.c):
 * request translation, answers, the event sequence, errors, reduce/expand,
 * the stored conversation, every recorded Chat chunk stream of
 * $LLMGW_SHARED_DIR/fixtures/openai and the recorded Responses streams of
 * t/unit/fixtures/openai-responses. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_test.h"
#include "llmgw_client_api.h"
#include "llmgw_api_responses.h"
#include "llmgw_stream_reduce.h"
#include "llmgw_sse.h"
#include "llmgw_buf.h"
#include "llmgw_parse.h"
#include "llmgw_responses_private.h"
#include "llmgw_num.h"

static const llmgw_client_api_t *A = &llmgw_api_responses;

static llmgw_api_ctx_t ctx(const json_t *req)
{
    llmgw_api_ctx_t c;
    memset(&c, 0, sizeof(c));
    c.id = "resp_abc";
    c.model = "mock/echo";
    c.created = 1700000000;
    c.request_id = "req-1";
    c.request = req;
    c.cost_usd = -1;
    return c;
}

/* ------------------------------------------------------------ to_chat */

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static int scanned_reqs;            /* requests also written from a scan */

/* When the handler's text pass keeps the request's spans (ctx.scan), the
 * writer taking them writes what it writes from the text: the same bytes,
 * or the same error. */
static void same_from_scan(const char *txt, apr_size_t len,
                           const llmgw_api_ctx_t *c0, int rv,
                           const char *chat, apr_size_t chat_len,
                           const char *err, const char *param,
                           const char *code)
{
    llmgw_parsed_t pq;
    llmgw_api_ctx_t c = *c0;
    const char *chat2 = NULL, *err2 = NULL, *param2 = NULL, *code2 = NULL;
    apr_size_t len2 = 0;
    int rv2;

    if (!llmgw_parse_request_text(tp, txt, len, LLMGW_EP_RESPONSES, &pq)
        || pq.top == NULL) {
        return;                     /* the glue reads such a text itself */
    }
    scanned_reqs++;
    c.scan = pq.top;
    rv2 = A->to_chat_text(tp, txt, len, &c, &chat2, &len2, &err2, &param2,
                          &code2);
    ck_assert_msg(rv2 == rv, "%s: status %d from the scan, %d from the text",
                  txt, rv2, rv);
    if (rv) {
        ck_assert_msg(same_str(err, err2) && same_str(param, param2)
                      && same_str(code, code2), "%s: from the scan %s (%s, "
                      "%s), from the text %s (%s, %s)", txt, err2, param2,
                      code2, err, param, code);
    }
    else {
        ck_assert_msg(len2 == chat_len && !memcmp(chat, chat2, len2),
                      "%s:\n  from the scan %.*s\n  from the text %.*s",
                      txt, (int)len2, chat2, (int)chat_len, chat);
    }
}

/* The writer (to_chat_text) against the tree converter it replaced
 * (ut_ref_resp_to_chat, gateway fields removed as the glue removed them),
 * history (NULL: none) continued: the same Chat request as a JSON
 * document, or the same status, message, parameter and code. Returns the
 * writer's status, its request in *chat_out when not NULL. */
static int req_same_as_tree(const char *txt, apr_size_t len,
                        const char *history, json_t **chat_out)
{
    json_t *in = json_loadb(txt, len, JSON_ALLOW_NUL, NULL);
    json_t *h = history ? ut_json(history) : NULL;
    llmgw_api_ctx_t c = ctx(in);
    json_t *want = NULL, *got;
    const char *chat = NULL, *err = NULL, *param = NULL, *code = NULL;
    const char *rerr = NULL, *rparam = NULL, *rcode = NULL;
    apr_size_t chat_len = 0;
    int rv, ref;

    c.history = h;
    rv = A->to_chat_text(tp, txt, len, &c, &chat, &chat_len, &err, &param,
                         &code);
    ck_assert_msg(rv == 0 || rv == 400, "%s: status %d", txt, rv);
    same_from_scan(txt, len, &c, rv, chat, chat_len, err, param, code);
    ck_assert_msg(rv ? chat == NULL : chat != NULL, "%s: status %d with %s",
                  txt, rv, chat);
    if (rv) {
        ck_assert_msg(err && *err, "%s: no message", txt);
    }
    if (in != NULL) {
        ref = ut_ref_resp_to_chat(tp, in, &c, &want, &rerr, &rparam, &rcode);
        ck_assert_msg(rv == ref, "%s: status %d, the tree converter's %d "
                      "(%s / %s)", txt, rv, ref, err, rerr);
        if (rv) {
            ck_assert_msg(same_str(err, rerr) && same_str(param, rparam)
                          && same_str(code, rcode), "%s: error %s (param %s,"
                          " code %s), the tree converter's %s (%s, %s)", txt,
                          err, param, code, rerr, rparam, rcode);
        }
        else {
            llmgw_strip_gateway_fields(want);
            got = json_loadb(chat, chat_len, JSON_ALLOW_NUL, NULL);
            ck_assert_msg(got != NULL, "%s: the Chat request is not JSON: "
                          "%.*s", txt, (int)chat_len, chat);
            ck_assert_msg(json_equal(got, want), "%s:\n  writer %s\n  tree "
                          "  %s", txt, ut_json_str(got), ut_json_str(want));
            json_decref(got);
        }
        json_decref(want);
        json_decref(in);
    }
    json_decref(h);
    if (chat_out) {
        *chat_out = rv ? NULL : json_loadb(chat, chat_len, JSON_ALLOW_NUL,
                                           NULL);
    }
    return rv;
}

static json_t *to_chat_h(const char *req, const char *history)
{
    json_t *out = NULL;
    int rv = req_same_as_tree(req, strlen(req), history, &out);

    ck_assert_msg(rv == 0, "to_chat refused %s", req);
    return out;
}

static void chat_is(const char *req, const char *want)
{
    json_t *got = to_chat_h(req, NULL);
    json_t *w = ut_json(want);
    llmgw_strip_gateway_fields(w);
    ut_json_eq(got, w, req);
    json_decref(got);
    json_decref(w);
}

static void refused(const char *req, const char *param)
{
    llmgw_api_ctx_t c = ctx(NULL);
    const char *chat = NULL, *err = NULL, *p = NULL, *code = NULL;
    apr_size_t len = 0;
    int rv = A->to_chat_text(tp, req, strlen(req), &c, &chat, &len, &err, &p,
                             &code);

    ck_assert_msg(rv == 400, "%s: %d, want 400", req, rv);
    ck_assert_msg(chat == NULL, "%s: a request with the error", req);
    ck_assert_msg(err && *err, "%s: no message", req);
    if (param) {
        ck_assert_msg(p && !strcmp(p, param), "%s: param %s, want %s", req,
                      p ? p : "(null)", param);
    }
    else {
        ck_assert_msg(p == NULL, "%s: param %s, want none", req, p);
    }
    req_same_as_tree(req, strlen(req), NULL, NULL);
}

/* Edge cases read as jansson reads them, against the tree converter. */
START_TEST(test_to_chat_same_as_tree)
{
    static const char *const reqs[] = {
        "{\"model\":\"m\",\"input\":\"a\",\"input\":\"b\",\"model\":\"n\"}",
        "{\"\\u006dodel\":\"m\",\"input\":\"x\",\"provider\":\"p\","
        "\"memory\":{\"a\":1},\"models\":[\"x\"],\"store\":null}",
        "{\"model\":\"m\",\"instructions\":\"s\",\"input\":[{\"role\":"
        "\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":"
        "\"t\"}]},{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":"
        "\"f\",\"arguments\":\"{}\"},{\"type\":\"function_call\",\"call_id\":"
        "\"c2\",\"name\":\"g\",\"arguments\":\"1\"},{\"type\":"
        "\"function_call_output\",\"call_id\":\"c1\",\"output\":[{\"type\":"
        "\"input_text\",\"text\":\"a\\u0000b\"},{\"type\":\"output_text\","
        "\"text\":\"c\"}]},{\"type\":\"function_call\",\"call_id\":\"c3\","
        "\"name\":\"h\",\"arguments\":\"\"},{\"type\":\"reasoning\"},"
        "{\"role\":\"developer\",\"content\":[]},{\"role\":\"user\","
        "\"content\":[]}]}",
        "{\"model\":\"m\",\"input\":[{\"type\":\"message\",\"role\":\"user\","
        "\"content\":[{\"type\":\"input_image\",\"image_url\":\"u\","
        "\"detail\":null},{\"type\":\"input_file\",\"file_data\":"
        "\"DATA:x\",\"filename\":\"f\"},{\"type\":\"input_text\",\"text\":"
        "\"\\u00e9\"}]}]}",
        "{\"model\":\"m\",\"input\":[{\"role\":\"user\\u0000x\",\"content\":"
        "\"a\"},{\"type\":\"mess\\u0061ge\",\"role\":\"system\",\"content\":"
        "[{\"type\":\"refusal\",\"refusal\":\"r\"},{\"type\":\"input_text\","
        "\"text\":\"t\"}]}]}",
        "{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\","
        "\"name\":\"f\",\"description\":null,\"parameters\":{\"a\":1},"
        "\"strict\":false}],\"tool_choice\":\"auto\\u0000x\",\"text\":{"
        "\"format\":{\"type\":\"json_schema\",\"name\":\"n\",\"schema\":{},"
        "\"strict\":true,\"description\":\"d\"},\"verbosity\":null},"
        "\"reasoning\":{\"effort\":\"low\",\"summary\":\"auto\"},\"stream\":"
        "true,\"parallel_tool_calls\":false,\"max_output_tokens\":5,"
        "\"truncation\":\"disabled\",\"include\":[],\"metadata\":{},"
        "\"user\":\"u\",\"previous_response_id\":\"resp_1\",\"top_p\":0.5,"
        "\"temperature\":1e0,\"background\":false}",
        "{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":{\"type\":"
        "\"json_object\"}},\"tool_choice\":{\"type\":\"function\",\"name\":"
        "\"f\"}}",
        /* an item's member given twice: its first place, its last value */
        "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"a\","
        "\"role\":\"system\",\"content\":[{\"type\":\"input_text\","
        "\"text\":\"b\"}],\"type\":\"message\"},{\"type\":\"reasoning\","
        "\"summary\":[]},{\"type\":\"function_call\",\"call_id\":\"c\","
        "\"name\":\"f\",\"arguments\":\"1\",\"name\":\"g\"}],"
        "\"temperature\":1,\"temperature\":0.5}",
        /* refused */
        "{\"model\":\"m\",\"input\":[]}",
        "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"a\"},"
        "[1],7,{\"role\":\"user\",\"content\":\"b\"}]}",
        "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"a\","
        "\"role\":7}]}",
        "{\"model\":\"m\",\"input\":[{\"type\":\"reasoning\"}]}",
        "{\"model\":\"\",\"input\":\"x\"}",
        "{\"model\":\"m\",\"input\":null}",
        "{\"model\":\"m\",\"input\":[7]}",
        "{\"model\":\"m\",\"input\":[{\"type\":7}]}",
        "{\"model\":\"m\",\"input\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":7}]}",
        "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{"
        "\"type\":\"input_text\",\"text\":\"a\"},{\"type\":\"input_audio\"}"
        "]}]}",
        "{\"model\":\"m\",\"input\":[{\"role\":\"assistant\",\"content\":[{"
        "\"type\":\"input_image\",\"image_url\":\"u\"}]}]}",
        "{\"model\":\"m\",\"input\":[{\"type\":\"function_call\",\"call_id\":"
        "\"c\",\"name\":7}]}",
        "{\"model\":\"m\",\"input\":[{\"type\":\"function_call_output\","
        "\"call_id\":\"c\",\"output\":[{\"type\":\"input_image\"}]}]}",
        "{\"model\":\"m\",\"input\":[{\"type\":\"function_call_output\","
        "\"call_id\":\"c\"}]}",
        "{\"model\":\"m\",\"input\":[{\"type\":\"web_search_call\"}]}",
        "{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\","
        "\"name\":\"f\"},{\"type\":\"file_search\"}]}",
        "{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\","
        "\"name\":\"f\",\"strict\":1}]}",
        "{\"model\":\"m\",\"input\":\"x\",\"text\":{\"verbosity\":\"low\"}}",
        "{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":{\"type\":"
        "\"json_schema\",\"name\":\"n\",\"schema\":[]}}}",
        "{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":0}",
        "{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":1.5}",
        "{\"model\":\"m\",\"input\":\"x\",\"truncation\":\"auto\"}",
        "{\"model\":\"m\",\"input\":\"x\",\"reasoning\":{\"effort\":1}}",
        "{\"model\":\"m\",\"input\":\"x\",\"seed\":1}",
        "{\"model\":\"m\",\"input\":\"x\",\"background\":true,\"seed\":1}",
        "[1]",
        "{\"model\":\"m\",\"input\":\"x\"",
        NULL
    };
    static const char *const hist =
        "[{\"type\":\"message\",\"role\":\"user\",\"content\":\"hi\"},"
        "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
        "\"output_text\",\"text\":\"yo\"}]}]";
    int i;

    for (i = 0; reqs[i]; i++) {
        req_same_as_tree(reqs[i], strlen(reqs[i]), NULL, NULL);
        req_same_as_tree(reqs[i], strlen(reqs[i]), hist, NULL);
    }
    req_same_as_tree("{\"model\":\"m\",\"input\":[{\"type\":\"function_call\","
                     "\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"\"}]}",
                     88, hist, NULL);
    req_same_as_tree("{\"model\":\"m\",\"input\":[]}", 24, "[{\"role\":7}]",
                     NULL);
    /* more top-level members than the pass keeps: read from the text */
    req_same_as_tree("{\"model\":\"m\",\"input\":[{\"role\":\"user\","
                     "\"content\":\"a\"}],\"a\":1,\"b\":1,\"c\":1,\"d\":1,"
                     "\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":1,\"k\":1,"
                     "\"l\":1,\"m\":1,\"n\":1,\"o\":1,\"p\":1,\"q\":1,\"r\":1,"
                     "\"s\":1,\"t\":1,\"u\":1,\"v\":1,\"w\":1}", 191, NULL,
                     NULL);
    /* most of them were also written from the handler's pass */
    ck_assert_int_ge(scanned_reqs, 30);
}
END_TEST

/* The writer takes the items from the handler's pass (ctx.scan) for the
 * text the pass read, not reading it again; for another text (the hooks'
 * tree serialised) it reads that text. */
START_TEST(test_to_chat_from_scan)
{
    static const char a[] = "{\"model\":\"m\",\"input\":[{\"role\":\"user\","
                            "\"content\":\"aaaa\"}],\"top_p\":1}";
    static const char b[] = "{\"model\":\"m\",\"input\":[{\"role\":\"user\","
                            "\"content\":\"bbbb\"}],\"top_p\":2}";
    llmgw_parsed_t pq;
    llmgw_chat_scan_t sc;
    llmgw_api_ctx_t c = ctx(NULL);
    const char *chat = NULL, *err = NULL, *param = NULL, *code = NULL;
    apr_size_t len = 0;

    ck_assert_int_eq(llmgw_parse_request_text(tp, b, strlen(b),
                                              LLMGW_EP_RESPONSES, &pq), 1);
    ck_assert_ptr_nonnull(pq.top);
    ck_assert_int_eq(pq.top->items->nelts, 1);
    ck_assert_int_eq(pq.top->item_members->nelts, 2);
    /* b's spans presented as a's: what is written comes from the spans */
    sc = *pq.top;
    sc.text = a;
    c.scan = &sc;
    ck_assert_int_eq(A->to_chat_text(tp, a, strlen(a), &c, &chat, &len, &err,
                                     &param, &code), 0);
    ck_assert_str_eq(chat, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"bbbb\"}],\"top_p\":2}");
    /* b's own spans for another text (another pointer): the text read */
    c.scan = pq.top;
    ck_assert_int_eq(A->to_chat_text(tp, a, strlen(a), &c, &chat, &len, &err,
                                     &param, &code), 0);
    ck_assert_str_eq(chat, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"aaaa\"}],\"top_p\":1}");
}
END_TEST

START_TEST(test_to_chat_string_and_params)
{
    chat_is("{\"model\":\"m\",\"input\":\"hi\"}",
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
            "\"content\":\"hi\"}]}");
    chat_is("{\"model\":\"openai/gpt\",\"input\":\"hi\",\"stream\":true,"
            "\"max_output_tokens\":50,\"temperature\":0.2,\"top_p\":0.9,"
            "\"parallel_tool_calls\":false,\"user\":\"u1\","
            "\"metadata\":{\"a\":\"b\"},\"store\":false,"
            "\"previous_response_id\":\"resp_x\",\"include\":[\"reasoning."
            "encrypted_content\"],\"truncation\":\"disabled\","
            "\"background\":false,\"service_tier\":null,"
            "\"reasoning\":{\"effort\":\"low\",\"summary\":\"auto\"},"
            "\"provider\":\"p\",\"provider_key\":\"k\",\"models\":[\"a/b\"],"
            "\"llm_provider\":\"q\",\"llm_api_key\":\"z\"}",
            "{\"model\":\"openai/gpt\",\"messages\":[{\"role\":\"user\","
            "\"content\":\"hi\"}],\"stream\":true,\"stream_options\":"
            "{\"include_usage\":true},\"max_completion_tokens\":50,"
            "\"temperature\":0.2,\"top_p\":0.9,\"parallel_tool_calls\":false,"
            "\"user\":\"u1\",\"reasoning_effort\":\"low\",\"provider\":\"p\","
            "\"provider_key\":\"k\",\"models\":[\"a/b\"],\"llm_provider\":"
            "\"q\",\"llm_api_key\":\"z\"}");
    chat_is("{\"model\":\"m\",\"input\":\"x\",\"stream\":false}",
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
            "\"x\"}],\"stream\":false}");
}
END_TEST

START_TEST(test_to_chat_items)
{
    chat_is("{\"model\":\"m\",\"input\":["
            "{\"role\":\"developer\",\"content\":\"be brief\"},"
            "{\"type\":\"message\",\"role\":\"user\",\"content\":["
              "{\"type\":\"input_text\",\"text\":\"look\"},"
              "{\"type\":\"input_image\",\"image_url\":\"https://x/i.png\","
               "\"detail\":\"low\"},"
              "{\"type\":\"input_image\",\"image_url\":\"data:image/png;"
               "base64,AAAA\"},"
              "{\"type\":\"input_file\",\"filename\":\"a.pdf\",\"file_data\":"
               "\"data:application/pdf;base64,JVBE\"}]},"
            "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]},"
            "{\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"completed\","
             "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
             "\"text\":\"let me check\",\"annotations\":[]}]},"
            "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"c1\","
             "\"name\":\"f\",\"arguments\":\"{}\"},"
            "{\"type\":\"function_call\",\"call_id\":\"c2\",\"name\":\"g\","
             "\"arguments\":\"{\\\"a\\\":1}\"},"
            "{\"type\":\"function_call_output\",\"call_id\":\"c1\","
             "\"output\":\"one\"},"
            "{\"type\":\"function_call_output\",\"call_id\":\"c2\","
             "\"output\":[{\"type\":\"input_text\",\"text\":\"t\"},"
             "{\"type\":\"input_text\",\"text\":\"wo\"}]},"
            "{\"type\":\"function_call\",\"call_id\":\"c3\",\"name\":\"h\","
             "\"arguments\":\"\"}]}",
            "{\"model\":\"m\",\"messages\":["
            "{\"role\":\"developer\",\"content\":\"be brief\"},"
            "{\"role\":\"user\",\"content\":["
              "{\"type\":\"text\",\"text\":\"look\"},"
              "{\"type\":\"image_url\",\"image_url\":{\"url\":"
               "\"https://x/i.png\",\"detail\":\"low\"}},"
              "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/"
               "png;base64,AAAA\"}},"
              "{\"type\":\"file\",\"file\":{\"file_data\":\"data:application/"
               "pdf;base64,JVBE\",\"filename\":\"a.pdf\"}}]},"
            "{\"role\":\"assistant\",\"content\":\"let me check\","
             "\"tool_calls\":["
              "{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
               "\"f\",\"arguments\":\"{}\"}},"
              "{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":"
               "\"g\",\"arguments\":\"{\\\"a\\\":1}\"}}]},"
            "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"one\"},"
            "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":\"two\"},"
            "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
              "{\"id\":\"c3\",\"type\":\"function\",\"function\":{\"name\":"
               "\"h\",\"arguments\":\"\"}}]}]}");
}
END_TEST

/* instructions first, then the stored conversation, then the input. */
START_TEST(test_to_chat_history_order)
{
    json_t *got = to_chat_h(
        "{\"model\":\"m\",\"instructions\":\"sys\",\"input\":\"again\"}",
        "[{\"type\":\"message\",\"role\":\"user\",\"content\":\"first\"},"
        "{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\","
        "\"status\":\"completed\",\"content\":[{\"type\":\"output_text\","
        "\"text\":\"ok\",\"annotations\":[]}]}]");
    json_t *want = ut_json(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
        "\"sys\"},{\"role\":\"user\",\"content\":\"first\"},{\"role\":"
        "\"assistant\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":"
        "\"again\"}]}");
    ut_json_eq(got, want, "history");
    json_decref(got);
    json_decref(want);
}
END_TEST

START_TEST(test_to_chat_tools)
{
    chat_is("{\"model\":\"m\",\"input\":\"w\",\"tools\":[{\"type\":"
            "\"function\",\"name\":\"get\",\"description\":\"d\","
            "\"parameters\":{\"type\":\"object\"},\"strict\":true},"
            "{\"type\":\"function\",\"name\":\"bare\"}],\"tool_choice\":"
            "{\"type\":\"function\",\"name\":\"get\"},"
            "\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"s\","
            "\"schema\":{\"type\":\"object\"},\"strict\":true,"
            "\"description\":\"dd\"}}}",
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
            "\"w\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
            "\"get\",\"description\":\"d\",\"parameters\":{\"type\":"
            "\"object\"},\"strict\":true}},{\"type\":\"function\","
            "\"function\":{\"name\":\"bare\"}}],\"tool_choice\":{\"type\":"
            "\"function\",\"function\":{\"name\":\"get\"}},"
            "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
            "{\"name\":\"s\",\"description\":\"dd\",\"schema\":{\"type\":"
            "\"object\"},\"strict\":true}}}");
    chat_is("{\"model\":\"m\",\"input\":\"w\",\"tool_choice\":\"required\","
            "\"text\":{\"format\":{\"type\":\"json_object\"}}}",
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
            "\"w\"}],\"tool_choice\":\"required\",\"response_format\":"
            "{\"type\":\"json_object\"}}");
    chat_is("{\"model\":\"m\",\"input\":\"w\",\"tool_choice\":\"none\","
            "\"text\":{\"format\":{\"type\":\"text\"}}}",
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
            "\"w\"}],\"tool_choice\":\"none\"}");
}
END_TEST

START_TEST(test_to_chat_errors)
{
    refused("{\"input\":\"x\"}", "model");
    refused("{\"model\":\"m\"}", "input");
    refused("{\"model\":\"m\",\"input\":7}", "input");
    refused("{\"model\":\"m\",\"input\":[]}", "input");
    refused("{\"model\":\"m\",\"input\":[{\"type\":\"item_reference\","
            "\"id\":\"msg_1\"}]}", "input[0].type");
    refused("{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":"
            "\"a\"},{\"type\":\"web_search_call\",\"id\":\"w\"}]}",
            "input[1].type");
    refused("{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":"
            "[{\"type\":\"input_image\",\"file_id\":\"file-1\"}]}]}",
            "input[0].content[0].file_id");
    refused("{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":"
            "[{\"type\":\"input_file\",\"file_id\":\"file-1\"}]}]}",
            "input[0].content[0].file_data");
    refused("{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":"
            "[{\"type\":\"input_audio\"}]}]}", "input[0].content[0].type");
    refused("{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":"
            "\"a\"},{\"role\":\"user\",\"content\":\"b\"},{\"role\":\"user\","
            "\"content\":\"c\"},{\"role\":\"user\",\"content\":7}]}",
            "input[3].content");
    refused("{\"model\":\"m\",\"input\":[{\"role\":\"tool\",\"content\":"
            "\"a\"}]}", "input[0].role");
    refused("{\"model\":\"m\",\"input\":[{\"type\":\"function_call\","
            "\"call_id\":\"c\",\"name\":\"f\"}]}", "input[0].arguments");
    refused("{\"model\":\"m\",\"input\":[{\"type\":\"function_call_output\","
            "\"call_id\":\"c\",\"output\":{}}]}", "input[0].output");
    refused("{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":"
            "\"web_search\"}]}", "tools");
    refused("{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":"
            "\"file_search\",\"vector_store_ids\":[]}]}", "tools");
    refused("{\"model\":\"m\",\"input\":\"x\",\"tool_choice\":{\"type\":"
            "\"web_search_preview\"}}", "tool_choice");
    refused("{\"model\":\"m\",\"input\":\"x\",\"background\":true}",
            "background");
    refused("{\"model\":\"m\",\"input\":\"x\",\"conversation\":\"conv_1\"}",
            "conversation");
    refused("{\"model\":\"m\",\"input\":\"x\",\"prompt\":{\"id\":\"p\"}}",
            "prompt");
    refused("{\"model\":\"m\",\"input\":\"x\",\"service_tier\":\"flex\"}",
            "service_tier");
    refused("{\"model\":\"m\",\"input\":\"x\",\"truncation\":\"auto\"}",
            "truncation");
    refused("{\"model\":\"m\",\"input\":\"x\",\"temperature\":\"hot\"}",
            "temperature");
    refused("{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":1.5}",
            "max_output_tokens");
    refused("{\"model\":\"m\",\"input\":\"x\",\"instructions\":[]}",
            "instructions");
    refused("{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":{\"type\":"
            "\"json_schema\",\"name\":\"n\"}}}", "text.format.schema");
    refused("{\"model\":\"m\",\"input\":\"x\",\"reasoning\":{\"effort\":1}}",
            "reasoning.effort");
}
END_TEST

/* ---------------------------------------------------------- from_chat */

static json_t *from_chat(const char *req, const char *chat)
{
    json_t *r = ut_json(req);
    llmgw_api_ctx_t c = ctx(r);
    const char *txt = NULL;
    apr_size_t len = 0;
    json_t *out;
    ck_assert_msg(A->from_chat(tp, chat, strlen(chat), &c, &txt, &len) == 0,
                  "from_chat refused %s", chat);
    out = json_loadb(txt, len, 0, NULL);
    ck_assert_msg(out != NULL, "from_chat wrote no JSON: %s", txt);
    json_decref(r);
    return out;
}

static const char *const FULL_CHAT =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
    "\"model\":\"up\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
    "\"assistant\",\"content\":\"Hello\",\"reasoning_content\":\"think\","
    "\"refusal\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"
    "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":"
    "1}\"}},{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":"
    "\"g\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}],"
    "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
    "\"total_tokens\":15,\"prompt_tokens_details\":{\"cached_tokens\":4},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":2}}}";

static const char *const FULL_OUTPUT =
    "[{\"id\":\"rs_abc\",\"type\":\"reasoning\",\"summary\":[{\"type\":"
    "\"summary_text\",\"text\":\"think\"}]},"
    "{\"id\":\"msg_abc\",\"type\":\"message\",\"status\":\"completed\","
    "\"content\":[{\"type\":\"output_text\",\"text\":\"Hello\","
    "\"annotations\":[]}],\"role\":\"assistant\"},"
    "{\"id\":\"fc_abc\",\"type\":\"function_call\",\"status\":\"completed\","
    "\"arguments\":\"{\\\"a\\\":1}\",\"call_id\":\"call_1\",\"name\":\"f\"},"
    "{\"id\":\"fc_abc_1\",\"type\":\"function_call\",\"status\":"
    "\"completed\",\"arguments\":\"{}\",\"call_id\":\"call_2\",\"name\":"
    "\"g\"}]";

START_TEST(test_from_chat_full)
{
    json_t *got = from_chat(
        "{\"model\":\"mock/echo\",\"input\":\"hi\",\"instructions\":\"be\","
        "\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"temperature\":"
        "0.5,\"metadata\":{\"k\":\"v\"},\"store\":false,\"user\":\"u\","
        "\"reasoning\":{\"effort\":\"low\"},\"max_output_tokens\":99}",
        FULL_CHAT);
    json_t *want = ut_json(apr_pstrcat(tp,
        "{\"id\":\"resp_abc\",\"object\":\"response\",\"created_at\":"
        "1700000000,\"status\":\"completed\",\"background\":false,"
        "\"error\":null,\"incomplete_details\":null,\"instructions\":\"be\","
        "\"max_output_tokens\":99,\"model\":\"mock/echo\",\"output\":",
        FULL_OUTPUT, ",\"parallel_tool_calls\":true,"
        "\"previous_response_id\":null,\"reasoning\":{\"effort\":\"low\","
        "\"summary\":null},\"store\":false,\"temperature\":0.5,\"text\":"
        "{\"format\":{\"type\":\"text\"}},\"tool_choice\":\"auto\","
        "\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"top_p\":null,"
        "\"truncation\":\"disabled\",\"usage\":{\"input_tokens\":10,"
        "\"input_tokens_details\":{\"cached_tokens\":4},\"output_tokens\":5,"
        "\"output_tokens_details\":{\"reasoning_tokens\":2},"
        "\"total_tokens\":15},\"user\":\"u\",\"metadata\":{\"k\":\"v\"}}",
        NULL));
    ut_json_eq(got, want, "from_chat");
    json_decref(got);
    json_decref(want);
}
END_TEST

START_TEST(test_from_chat_length_refusal)
{
    json_t *got = from_chat("{\"model\":\"m\",\"input\":\"x\"}",
        "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"Hel\"},\"finish_reason\":\"length\"}]}");
    json_t *want = ut_json("{\"reason\":\"max_output_tokens\"}");
    ck_assert_str_eq(json_string_value(json_object_get(got, "status")),
                     "incomplete");
    ut_json_eq(json_object_get(got, "incomplete_details"), want, "length");
    ck_assert(json_is_null(json_object_get(got, "usage")));
    ck_assert_str_eq(ut_json_str(json_object_get(got, "metadata")), "{}");
    json_decref(got);
    json_decref(want);

    got = from_chat("{\"model\":\"m\",\"input\":\"x\"}",
        "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":null,\"refusal\":\"no\"},\"finish_reason\":\"stop\"}]}");
    want = ut_json("[{\"id\":\"msg_abc\",\"type\":\"message\",\"status\":"
                   "\"completed\",\"content\":[{\"type\":\"refusal\","
                   "\"refusal\":\"no\"}],\"role\":\"assistant\"}]");
    ut_json_eq(json_object_get(got, "output"), want, "refusal");
    ck_assert_str_eq(json_string_value(json_object_get(got, "status")),
                     "completed");
    json_decref(got);
    json_decref(want);
}
END_TEST

/* from_chat (written from the text) and the tree converter it replaced
 * (t/unit/lib/ref_resp_from_chat.c) on one request and answer: the same
 * response as JSON documents, or both refuse. */

/* from_chat's text, which must be JSON, equals the tree reference's. */
static void written_as_tree(const char *got, apr_size_t got_len,
                            const char *want, apr_size_t want_len,
                            const char *what)
{
    json_t *g = json_loadb(got, got_len, JSON_ALLOW_NUL, NULL);
    json_t *w = json_loadb(want, want_len, JSON_ALLOW_NUL, NULL);
    ck_assert_msg(g != NULL, "%s: from_chat wrote no JSON: %s", what, got);
    ut_json_eq(g, w, what);
    json_decref(g);
    json_decref(w);
}
static void same_as_tree(const char *req, const char *chat, apr_size_t len,
                         int with_ctx)
{
    json_t *r = req ? ut_json(req) : NULL;
    llmgw_api_ctx_t c = ctx(r);
    const char *got = NULL, *want = NULL;
    apr_size_t got_len = 0, want_len = 0;
    int grv, wrv;

    if (!with_ctx) {                /* no id, no model: the defaults */
        c.id = NULL;
        c.model = NULL;
    }
    grv = A->from_chat(tp, chat, len, &c, &got, &got_len);
    wrv = ut_ref_resp_from_chat(tp, chat, len, &c, &want, &want_len);
    ck_assert_msg(grv == wrv, "%s: from_chat %d, the tree %d (%s)", chat,
                  grv, wrv, grv ? want : got);
    if (grv == 0) {
        written_as_tree(got, got_len, want, want_len, chat);
    }
    json_decref(r);
}

/* from_chat asked for the gateway's check (c.why, c.answer_usage) gives
 * llmgw_answer_check's verdict and usage for an OpenAI chat answer, and
 * the same answer as without. */
static void checked_same(const char *chat, apr_size_t len)
{
    llmgw_api_ctx_t c = ctx(NULL);
    llmgw_answer_usage_t want_u, got_u;
    const char *want = llmgw_answer_check(LLMGW_PT_OPENAI, LLMGW_EP_CHAT,
                                          chat, len, &want_u);
    const char *why = "unset", *o1 = NULL, *o2 = NULL;
    apr_size_t l1 = 0, l2 = 0;
    int rv1, rv2;

    rv1 = A->from_chat(tp, chat, len, &c, &o1, &l1);
    c.why = &why;
    c.answer_usage = &got_u;
    got_u.found = 7;
    rv2 = A->from_chat(tp, chat, len, &c, &o2, &l2);
    ck_assert_msg((want == NULL) == (why == NULL)
                  && (!want || !strcmp(want, why)),
                  "%s: the check says %s, the writer %s", chat,
                  want ? want : "valid", why ? why : "valid");
    ck_assert_msg(got_u.found == want_u.found, "%s: usage found %d, want %d",
                  chat, got_u.found, want_u.found);
    if (want_u.found) {
        ck_assert_msg(!memcmp(&got_u.usage, &want_u.usage,
                              sizeof(want_u.usage)),
                      "%s: usage %d %d %d %d, want %d %d %d %d", chat,
                      (int)got_u.usage.prompt_tokens,
                      (int)got_u.usage.completion_tokens,
                      (int)got_u.usage.total_tokens,
                      (int)got_u.usage.cached_tokens,
                      (int)want_u.usage.prompt_tokens,
                      (int)want_u.usage.completion_tokens,
                      (int)want_u.usage.total_tokens,
                      (int)want_u.usage.cached_tokens);
    }
    ck_assert_int_eq(rv1, rv2);
    if (rv1 == 0) {
        ck_assert_msg(l1 == l2 && !memcmp(o1, o2, l1), "%s: other answer",
                      chat);
    }
}

START_TEST(test_from_chat_checked)
{
    static const char *const chats[] = {
        FULL_CHAT,
        "{\"choices\":[]}",
        "{\"choices\":{}}",
        "{\"choices\":[],\"choices\":7}",
        "{\"choices\":7,\"choices\":[]}",
        /* escaped keys: not the check's, the writer's */
        "{\"ch\\u006fices\":[{\"message\":{\"content\":\"a\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],"
        "\"\\u0075sage\":{\"prompt_tokens\":3}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{"
        "\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7,"
        "\"prompt_tokens_details\":{\"cached_tokens\":2}},"
        "\"\\u0075sage\":{\"prompt_tokens\":9}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{"
        "\"prompt_tokens\":3,\"pr\\u006fmpt_tokens_details\":{"
        "\"cached_tokens\":2},\"pr\\u006fmpt_tokens\":5}}",
        /* the last usage counts; a last one that is not an object: none */
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{"
        "\"prompt_tokens\":3},\"usage\":{\"completion_tokens\":1}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{"
        "\"prompt_tokens\":3},\"usage\":null}",
        "{\"usage\":7,\"choices\":[{\"message\":{\"content\":\"a\"}}],"
        "\"usage\":{\"prompt_tokens\":3,\"prompt_tokens\":4}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{"
        "\"prompt_tokens\":3.5,\"completion_tokens\":-1,\"total_tokens\":"
        "1e2,\"prompt_tokens_details\":{\"cached_tokens\":2},"
        "\"prompt_tokens_details\":7,\"completion_tokens_details\":{"
        "\"reasoning_tokens\":2}}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{"
        "\"prompt_tokens\":1,\"completion_tokens\":2}}",
        /* not an object, not JSON, empty */
        "[{\"choices\":[]}]",
        "null",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}]",
        "{\"choices\":[{\"message\":{\"content\":\"\xff\"}}]}",
        "",
        NULL
    };
    int i;

    for (i = 0; chats[i]; i++) {
        checked_same(chats[i], strlen(chats[i]));
    }
}
END_TEST

/* A Responses request with every setting an answer echoes. */
#define ALL_SETTINGS \
    "{\"model\":\"mock/echo\",\"input\":\"hi\",\"instructions\":\"be\"," \
    "\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":" \
    "{\"type\":\"object\"}}],\"temperature\":0.7,\"top_p\":1," \
    "\"metadata\":{\"k\":\"v\"},\"store\":false,\"user\":\"u\"," \
    "\"reasoning\":{\"effort\":\"high\",\"summary\":\"auto\"}," \
    "\"max_output_tokens\":99,\"parallel_tool_calls\":false," \
    "\"tool_choice\":{\"type\":\"function\",\"name\":\"f\"}," \
    "\"previous_response_id\":\"resp_1\",\"text\":{\"format\":{\"type\":" \
    "\"json_schema\",\"name\":\"s\",\"schema\":{\"type\":\"object\"}}}}"

START_TEST(test_from_chat_same_as_tree)
{
    static const char *const reqs[] = {
        "{\"model\":\"m\",\"input\":\"x\"}",
        ALL_SETTINGS,
        "{\"model\":\"m\",\"input\":\"x\",\"instructions\":null,\"reasoning\":"
        "7,\"temperature\":null,\"metadata\":null,\"text\":null}",
        NULL
    };
    static const char *const chats[] = {
        /* outcomes */
        "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"Hel\"},\"finish_reason\":\"length\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":"
        "\"content_filter\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":"
        "\"\\u006cength\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":"
        "7}]}",
        /* content, refusal, reasoning */
        "{\"choices\":[{\"message\":{\"content\":null,\"refusal\":\"no\"},"
        "\"finish_reason\":\"stop\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"a\",\"refusal\":\"no\","
        "\"reasoning_content\":\"r\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"\",\"refusal\":\"\","
        "\"reasoning_content\":\"\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\","
        "\"text\":\"a\"}],\"reasoning_content\":7}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"\\u00e9\\n\\\"\\/\\u0000"
        "z \\ud83d\\ude00\"}}]}",
        "{\"choices\":[{\"message\":{\"\\u0063ontent\":\"escaped key\"}}]}",
        "{\"choices\":[{\"message\":{}}]}",
        /* tool calls */
        "{\"choices\":[{\"message\":{\"content\":\"t\",\"tool_calls\":["
        "{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{\\\"a\\\":[1,2]}\"}},7,{},{\"id\":9,\"function\":"
        "\"x\"},{\"function\":{\"name\":7,\"arguments\":{\"a\":1}}},"
        "{\"function\":{\"arguments\":\"\"}}]},\"finish_reason\":"
        "\"tool_calls\"}]}",
        "{\"choices\":[{\"message\":{\"tool_calls\":{\"id\":\"c\"}}}]}",
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"a\"}],"
        "\"tool_calls\":null}}]}",
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"a\"}],"
        "\"tool_calls\":[{\"id\":\"b\",\"id\":\"c\",\"function\":{\"name\":"
        "\"x\"},\"function\":{\"arguments\":\"1\"}}]}}]}",
        /* repeated members: the last one */
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"choices\":["
        "{\"message\":{\"content\":\"b\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"a\",\"refusal\":\"r\"},"
        "\"message\":{\"content\":\"b\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"},\"message\":7}]}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}},{\"message\":{"
        "\"content\":\"second\"}}]}",
        /* usage */
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{"
        "\"prompt_tokens\":3,\"completion_tokens\":4}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{"
        "\"prompt_tokens\":3.5,\"completion_tokens\":4,\"total_tokens\":"
        "1e2,\"prompt_tokens_details\":{\"cached_tokens\":2},"
        "\"prompt_tokens_details\":7,\"completion_tokens_details\":{"
        "\"reasoning_tokens\":-1}}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":{"
        "\"total_tokens\":9},\"usage\":{\"prompt_tokens\":1}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":[1]}",
        "{\"usage\":{\"prompt_tokens\":1},\"choices\":[{\"message\":{"
        "\"content\":\"a\"}}]}",
        /* refused */
        "{\"choices\":[]}",
        "{\"choices\":[7,{\"message\":{\"content\":\"a\"}}]}",
        "{\"choices\":[{\"message\":\"a\"}]}",
        "{\"choices\":[{\"text\":\"a\"}]}",
        "{\"choices\":{\"message\":{}}}",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"choices\":null}",
        "[{\"choices\":[]}]",
        "null",
        "{\"choices\":[{\"message\":{\"content\":\"a\"}}]",
        "{\"choices\":[{\"message\":{\"content\":\"\xff\"}}]}",
        "",
        NULL
    };
    int i, j;

    for (i = 0; reqs[i]; i++) {
        for (j = 0; chats[j]; j++) {
            same_as_tree(reqs[i], chats[j], strlen(chats[j]), 1);
            if (i == 0) {
                checked_same(chats[j], strlen(chats[j]));
            }
        }
        same_as_tree(reqs[i], FULL_CHAT, strlen(FULL_CHAT), 1);
        same_as_tree(reqs[i], FULL_CHAT, strlen(FULL_CHAT), 0);
    }
    same_as_tree(NULL, FULL_CHAT, strlen(FULL_CHAT), 0);
    same_as_tree(NULL, chats[0], strlen(chats[0]), 1);
}
END_TEST

/* The echoed settings read from the request's text (llmgw_responses_
 * echo_read, and from the text path's top-level members as the glue reads
 * them) give what the request's tree gave: the same skeleton as the tree
 * reference (ut_ref_resp_skeleton) and the same answer. */
static void echo_same_as_tree(const char *req, int with_model)
{
    json_t *r = ut_json(req);
    llmgw_api_ctx_t tc = ctx(r), xc = ctx(NULL);
    llmgw_api_echo_t e, m;
    llmgw_parsed_t pq;
    json_t *want, *got;
    const char *gtxt = NULL, *wtxt = NULL;
    apr_size_t glen = 0, wlen = 0;
    int i;

    if (!with_model) {
        tc.model = NULL;
        xc.model = NULL;
    }
    ck_assert_int_eq(llmgw_responses_echo_read(req, strlen(req), &e), 0);
    xc.echo = &e;
    want = ut_ref_resp_skeleton(&tc);
    got = llmgw_responses_skeleton(&xc, tp);
    ut_json_eq(got, want, req);
    json_decref(got);
    ck_assert_int_eq(A->from_chat(tp, FULL_CHAT, strlen(FULL_CHAT), &xc,
                                  &gtxt, &glen), 0);
    ck_assert_int_eq(ut_ref_resp_from_chat(tp, FULL_CHAT, strlen(FULL_CHAT),
                                           &tc, &wtxt, &wlen), 0);
    written_as_tree(gtxt, glen, wtxt, wlen, req);
    /* the members the handler's text pass kept, when it keeps them */
    if (llmgw_parse_request_text(tp, req, strlen(req), LLMGW_EP_RESPONSES,
                                 &pq) && pq.top) {
        memset(&m, 0, sizeof(m));
        for (i = 0; i < pq.top->nmembers; i++) {
            llmgw_responses_echo_member(&m, pq.top->members[i].key,
                                        pq.top->members[i].klen, 0,
                                        &pq.top->members[i].v);
        }
        xc.echo = &m;
        got = llmgw_responses_skeleton(&xc, tp);
        ut_json_eq(got, want, req);
        json_decref(got);
    }
    json_decref(want);
    json_decref(r);
}

START_TEST(test_echo_same_as_tree)
{
    static const char *const reqs[] = {
        "{\"model\":\"m\",\"input\":\"x\"}",
        "{}",
        ALL_SETTINGS,
        /* null and missing: the defaults */
        "{\"model\":\"m\",\"input\":\"x\",\"instructions\":null,\"reasoning\":"
        "7,\"temperature\":null,\"metadata\":null,\"text\":null,\"tools\":"
        "null,\"tool_choice\":null,\"store\":null,\"user\":null,\"top_p\":"
        "null,\"parallel_tool_calls\":null,\"previous_response_id\":null,"
        "\"max_output_tokens\":null}",
        /* other types, echoed as they are */
        "{\"model\":7,\"instructions\":[{\"role\":\"system\",\"content\":"
        "\"s\"}],\"store\":0,\"temperature\":1e0,\"top_p\":0.50,\"user\":{},"
        "\"metadata\":[],\"reasoning\":{\"effort\":7,\"summary\":null},"
        "\"text\":\"t\",\"tools\":{},\"tool_choice\":\"none\"}",
        "{\"reasoning\":{},\"model\":null}",
        "{\"reasoning\":{\"effort\":{\"a\":[1, 2]}},\"model\":\"a\\u0000b\"}",
        /* escaped keys and values, white space */
        "{\"m\\u006fdel\":\"\\u00e9\",\"instr\\u0075ctions\":\"a\\\"b\\n\\u0000"
        "\\/\",\"reasoning\":{\"eff\\u006frt\":\"low\"},\"metadata\" : { "
        "\"k\" : \"\\u00e9 v\" , \"n\" : [ 1 , true , null ] } }",
        /* duplicates: the last one */
        "{\"instructions\":\"a\",\"instructions\":\"b\",\"reasoning\":{"
        "\"effort\":\"low\",\"effort\":\"high\"},\"reasoning\":{\"summary\":"
        "\"auto\"},\"store\":false,\"store\":true,\"user\":\"u\",\"user\":"
        "null,\"model\":\"x\",\"model\":\"y\",\"input\":\"i\"}",
        "{\"model\":\"m\",\"input\":\"x\",\"instructions\":\"a\","
        "\"instructions\":null}",
        NULL
    };
    int i;

    for (i = 0; reqs[i]; i++) {
        echo_same_as_tree(reqs[i], 1);
        echo_same_as_tree(reqs[i], 0);
    }
    /* not an object: nothing read */
    {
        llmgw_api_echo_t e;
        e.store.p = "x";
        ck_assert_int_eq(llmgw_responses_echo_read("[1]", 3, &e), -1);
        ck_assert_ptr_null(e.store.p);
        ck_assert_int_eq(llmgw_responses_echo_read("{\"store\":", 9, &e),
                         -1);
        ck_assert_ptr_null(e.store.p);
    }
}
END_TEST

/* The same over every recorded Chat stream, reduced to its
 * chat.completion. */
START_TEST(test_from_chat_same_as_tree_recorded)
{
    apr_array_header_t *files = ut_fixture_glob("openai/*.sse", 10);
    int f;

    for (f = 0; f < files->nelts; f++) {
        const char *path = APR_ARRAY_IDX(files, f, const char *);
        apr_size_t len;
        char *buf = ut_slurp(path, &len);
        json_t *chat = llmgw_stream_reduce(tp, buf, len, NULL);
        char *txt;

        ck_assert_msg(chat != NULL, "%s: llmgw_stream_reduce refused", path);
        txt = json_dumps(chat, JSON_COMPACT);
        same_as_tree("{\"model\":\"gpt-4o\",\"input\":\"x\"}", txt,
                     strlen(txt), 1);
        checked_same(txt, strlen(txt));
        free(txt);
        json_decref(chat);
    }
}
END_TEST

/* ------------------------------------------------------------ streams */

/* The events a stream emitted. */
typedef struct {
    apr_array_header_t *names;      /* const char * */
    apr_array_header_t *data;       /* json_t * (released at the end) */
    llmgw_buf_t sse;
} events_t;

static int collect(void *baton, const char *event, const char *data,
                   apr_size_t len)
{
    events_t *e = baton;
    json_t *j = ut_jsonn(data, len, "event data");
    ck_assert_msg(event != NULL, "an event without a name: %s", data);
    if (strstr(event, ".delta") == NULL) {
        /* the text a compact dump of the event's object writes (the
         * deltas are written on their own) */
        char *d = llmgw_json_dumps(j, JSON_COMPACT);
        ck_assert_msg(d && strlen(d) == len && !memcmp(d, data, len),
                      "%s: %.*s\n  a dump writes %s", event, (int)len, data,
                      d);
        free(d);
    }
    APR_ARRAY_PUSH(e->names, const char *) = apr_pstrdup(tp, event);
    APR_ARRAY_PUSH(e->data, json_t *) = j;
    llmgw_buf_append(&e->sse, "event: ", 7);
    llmgw_buf_append(&e->sse, event, strlen(event));
    llmgw_buf_append(&e->sse, "\ndata: ", 7);
    llmgw_buf_append(&e->sse, data, len);
    llmgw_buf_append(&e->sse, "\n\n", 2);
    return 0;
}

static events_t *events(void)
{
    events_t *e = apr_pcalloc(tp, sizeof(*e));
    e->names = apr_array_make(tp, 16, sizeof(const char *));
    e->data = apr_array_make(tp, 16, sizeof(json_t *));
    llmgw_buf_init(&e->sse, tp, 0);
    return e;
}

static void events_free(events_t *e)
{
    int i;
    for (i = 0; i < e->data->nelts; i++) {
        json_decref(APR_ARRAY_IDX(e->data, i, json_t *));
    }
}

#define EV_NAME(e, i) APR_ARRAY_IDX((e)->names, (i), const char *)
#define EV_DATA(e, i) APR_ARRAY_IDX((e)->data, (i), json_t *)

/* Every event's data has type == its name and sequence_number == its
 * place; the names, joined by spaces, equal want (when not NULL). */
static void check_sequence(const events_t *e, const char *want)
{
    const char *all = "";
    int i;

    for (i = 0; i < e->names->nelts; i++) {
        json_t *d = EV_DATA(e, i);
        const char *t = json_string_value(json_object_get(d, "type"));
        json_t *sn = json_object_get(d, "sequence_number");
        ck_assert_msg(t && !strcmp(t, EV_NAME(e, i)),
                      "event %d: type %s, name %s", i, t, EV_NAME(e, i));
        ck_assert_msg(json_is_integer(sn) && json_integer_value(sn) == i,
                      "event %d (%s): sequence_number %s", i, t,
                      ut_json_str(sn));
        all = *all ? apr_pstrcat(tp, all, " ", EV_NAME(e, i), NULL)
                   : EV_NAME(e, i);
    }
    if (want) {
        ck_assert_str_eq(all, want);
    }
}

static llmgw_api_stream_t *feed(const llmgw_api_ctx_t *c, events_t *e,
                                const char *const *chunks)
{
    llmgw_api_stream_t *s = A->stream_new(tp, c);
    int i;
    for (i = 0; chunks[i]; i++) {
        ck_assert_int_eq(A->stream_chunk(s, chunks[i], strlen(chunks[i]),
                                         collect, e), 0);
    }
    return s;
}

#define CHUNK(delta, fin) "{\"id\":\"c\",\"object\":\"chat.completion.chunk\"," \
    "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" fin "}]}"

/* The stream read from each chunk's text (resp_stream_chunk) emits what
 * the tree reader it replaced emitted (ut_ref_resp_stream), byte for byte,
 * refuses the same chunk, and every event's text is what jansson writes of
 * it (the delta events are written directly). chunks: NULL-terminated. */
static void stream_same_as_tree(const char *const *chunks)
{
    llmgw_api_ctx_t c = ctx(NULL);
    events_t *got = events(), *want = events();
    llmgw_api_stream_t *st;
    int n, i, grv = 0, wrv;

    for (n = 0; chunks[n]; n++)
        ;
    st = A->stream_new(tp, &c);
    for (i = 0; i < n && grv == 0; i++) {
        if (A->stream_chunk(st, chunks[i], strlen(chunks[i]), collect, got)) {
            grv = -1 - i;
        }
    }
    if (grv == 0 && A->stream_end(st, collect, got)) {
        grv = -1 - n;
    }
    wrv = ut_ref_resp_stream(tp, &c, chunks, n, collect, want);
    ck_assert_msg(grv == wrv, "%s...: refused at %d, the tree at %d",
                  chunks[0], grv, wrv);
    ck_assert_msg(got->sse.len == want->sse.len
                  && (!got->sse.len
                      || !memcmp(got->sse.data, want->sse.data,
                                 got->sse.len)),
                  "%s...: events\n%s\nthe tree's\n%s", chunks[0],
                  got->sse.data ? got->sse.data : "",
                  want->sse.data ? want->sse.data : "");
    for (i = 0; i < got->data->nelts; i++) {
        char *txt = llmgw_json_dumps(EV_DATA(got, i), JSON_COMPACT);
        const ut_sse_event_t *x;
        apr_array_header_t *evs = ut_sse_events(got->sse.data, got->sse.len);
        ck_assert_int_eq(evs->nelts, got->data->nelts);
        x = &UT_EV(evs, i);
        ck_assert_msg(strlen(txt) == x->len && !memcmp(txt, x->data, x->len),
                      "event %d written as\n%s\njansson writes\n%s", i,
                      x->data, txt);
        free(txt);
    }
    events_free(got);
    events_free(want);
}

START_TEST(test_stream_same_as_tree)
{
#define CH(d) "{\"id\":\"c\",\"object\":\"chat.completion.chunk\","        \
              "\"choices\":[{\"index\":0,\"delta\":" d "}]}"
    static const char *const text[] = {
        CH("{\"role\":\"assistant\",\"content\":\"\"}"),
        CH("{\"content\":\"Hel\"}"), CH("{\"content\":\"lo \\\"q\\\"\\n\\u0000\\/\"}"),
        CH("{\"content\":\"\\u00e9 \xc3\xa9 \\ud83d\\ude00\"}"),
        CH("{\"content\":null,\"c\\u006fntent\":\"esc key\"}"),
        CH("{\"content\":\"a\",\"content\":\"b\"}"),
        "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
        "\"stop\"}]}",
        "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
        "\"completion_tokens\":4,\"total_tokens\":7}}",
        NULL
    };
    static const char *const mixed[] = {
        CH("{\"reasoning_content\":\"think\"}"),
        CH("{\"reasoning_content\":\"\\u00e9\"}"),
        CH("{\"content\":\"x\",\"refusal\":\"no\"}"),
        CH("{\"refusal\":\"more\",\"reasoning_content\":7}"),
        "{\"choices\":[{\"delta\":{},\"finish_reason\":\"\\u006cength\"}],"
        "\"usage\":{\"prompt_tokens\":1},\"usage\":null}",
        NULL
    };
    static const char *const calls[] = {
        CH("{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":"
           "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}"),
        CH("{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"function\":"
           "{\"name\":\"g\",\"arguments\":\"{\\\"x\\\"\"}}]}"),
        CH("{\"tool_calls\":[{\"\\u0069ndex\":0,\"function\":{"
           "\"arguments\":\"{\\\"a\\\":1}\"}}]}"),
        CH("{\"tool_calls\":[7,{\"function\":{\"arguments\":{}}},"
           "{\"index\":1,\"function\":{\"arguments\":\"}\",\"name\":7}},"
           "{\"index\":2.0,\"id\":9,\"function\":\"x\"}]}"),
        CH("{\"tool_calls\":{\"index\":0}}"),
        "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
        "\"tool_calls\"}]}",
        NULL
    };
    static const char *const choices[] = {
        "{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"one\"}},"
        "{\"index\":0,\"delta\":{\"content\":\"zero\"}}]}",
        "{\"choices\":[{\"index\":\"0\",\"delta\":{\"content\":\"s\"}},"
        "{\"delta\":{\"content\":\"no index\"},\"index\":0,\"index\":1},"
        "{\"delta\":{\"content\":\"a\"},\"delta\":{\"content\":\"b\"}}]}",
        "{\"choices\":[7,{\"delta\":{\"content\":\"after 7\"}}]}",
        "{\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"choices\":null}",
        "{\"choices\":null,\"ch\\u006fices\":[{\"delta\":{\"content\":"
        "\"y\"}}]}",
        "{\"choices\":[{\"delta\":\"str\",\"finish_reason\":7}]}",
        "{\"choices\":[{\"index\":-0,\"delta\":{\"content\":\"m0\"}}]}",
        "{}",
        NULL
    };
    static const char *const err1[] = {
        CH("{\"content\":\"a\"}"), "{\"error\":{\"message\":\"x\"}}", NULL
    };
    static const char *const err2[] = { "{\"err\\u006fr\":null}", NULL };
    static const char *const err3[] = { CH("{}"), "[1]", NULL };
    static const char *const err4[] = { "{\"choices\":[}", NULL };
    static const char *const err5[] = { "", NULL };
    static const char *const err6[] = {
        "{\"choices\":[{\"delta\":{\"content\":\"\xff\"}}]}", NULL
    };
#undef CH
    stream_same_as_tree(text);
    stream_same_as_tree(mixed);
    stream_same_as_tree(calls);
    stream_same_as_tree(choices);
    stream_same_as_tree(err1);
    stream_same_as_tree(err2);
    stream_same_as_tree(err3);
    stream_same_as_tree(err4);
    stream_same_as_tree(err5);
    stream_same_as_tree(err6);
}
END_TEST

START_TEST(test_stream_sequence)
{
    static const char *const chunks[] = {
        CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null"),
        CHUNK("{\"reasoning_content\":\"th\"}", "null"),
        CHUNK("{\"reasoning_content\":\"ink\"}", "null"),
        CHUNK("{\"content\":\"Hel\"}", "null"),
        CHUNK("{\"content\":\"lo\"}", "null"),
        CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":"
              "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}",
              "null"),
        CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
              "\"{\\\"a\\\":\"}}]}", "null"),
        CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
              "\"1}\"}}]}", "null"),
        CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"type\":"
              "\"function\",\"function\":{\"name\":\"g\",\"arguments\":"
              "\"{}\"}}]}", "null"),
        CHUNK("{}", "\"tool_calls\""),
        "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
        "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
        "\"total_tokens\":15,\"prompt_tokens_details\":{\"cached_tokens\":4},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":2}}}",
        NULL
    };
    json_t *req = ut_json("{\"model\":\"mock/echo\",\"input\":\"hi\","
                          "\"stream\":true}");
    llmgw_api_ctx_t c = ctx(req);
    events_t *e = events();
    llmgw_api_stream_t *s = feed(&c, e, chunks);
    json_t *result, *want, *d;
    int n;

    ck_assert(A->stream_result(s) == NULL);
    ck_assert_int_eq(A->stream_end(s, collect, e), 0);
    check_sequence(e,
        "response.created response.in_progress "
        "response.output_item.added response.reasoning_summary_part.added "
        "response.reasoning_summary_text.delta "
        "response.reasoning_summary_text.delta "
        "response.reasoning_summary_text.done "
        "response.reasoning_summary_part.done response.output_item.done "
        "response.output_item.added response.content_part.added "
        "response.output_text.delta response.output_text.delta "
        "response.output_text.done response.content_part.done "
        "response.output_item.done "
        "response.output_item.added response.function_call_arguments.delta "
        "response.function_call_arguments.delta "
        "response.output_item.added response.function_call_arguments.delta "
        "response.function_call_arguments.done response.output_item.done "
        "response.function_call_arguments.done response.output_item.done "
        "response.completed");
    n = e->names->nelts;

    /* created: in progress, empty output, no usage */
    d = json_object_get(EV_DATA(e, 0), "response");
    ck_assert_str_eq(json_string_value(json_object_get(d, "status")),
                     "in_progress");
    ck_assert_int_eq(json_array_size(json_object_get(d, "output")), 0);
    ck_assert(json_is_null(json_object_get(d, "usage")));
    ck_assert_str_eq(json_string_value(json_object_get(d, "id")), "resp_abc");

    /* a text delta */
    want = ut_json("{\"type\":\"response.output_text.delta\","
                   "\"sequence_number\":11,\"item_id\":\"msg_abc\","
                   "\"output_index\":1,\"content_index\":0,\"delta\":\"Hel\","
                   "\"logprobs\":[]}");
    ut_json_eq(EV_DATA(e, 11), want, "text delta");
    json_decref(want);
    want = ut_json("{\"type\":\"response.output_text.done\","
                   "\"sequence_number\":13,\"item_id\":\"msg_abc\","
                   "\"output_index\":1,\"content_index\":0,\"text\":"
                   "\"Hello\",\"logprobs\":[]}");
    ut_json_eq(EV_DATA(e, 13), want, "text done");
    json_decref(want);
    /* the call is added with empty arguments */
    want = ut_json("{\"type\":\"response.output_item.added\","
                   "\"sequence_number\":16,\"output_index\":2,\"item\":"
                   "{\"id\":\"fc_abc\",\"type\":\"function_call\",\"status\":"
                   "\"in_progress\",\"arguments\":\"\",\"call_id\":\"call_1\","
                   "\"name\":\"f\"}}");
    ut_json_eq(EV_DATA(e, 16), want, "call added");
    json_decref(want);
    want = ut_json("{\"type\":\"response.function_call_arguments.done\","
                   "\"sequence_number\":21,\"item_id\":\"fc_abc\","
                   "\"output_index\":2,\"arguments\":\"{\\\"a\\\":1}\"}");
    ut_json_eq(EV_DATA(e, 21), want, "arguments done");
    json_decref(want);
    /* reasoning summary part */
    want = ut_json("{\"type\":\"response.reasoning_summary_text.delta\","
                   "\"sequence_number\":4,\"item_id\":\"rs_abc\","
                   "\"output_index\":0,\"summary_index\":0,\"delta\":\"th\"}");
    ut_json_eq(EV_DATA(e, 4), want, "summary delta");
    json_decref(want);

    /* completed == from_chat of the same answer, usage included */
    result = A->stream_result(s);
    ck_assert(result != NULL);
    ut_json_eq(json_object_get(EV_DATA(e, n - 1), "response"), result,
               "completed event");
    {
        const char *txt = NULL;
        apr_size_t len = 0;
        ck_assert(A->from_chat(tp, FULL_CHAT, strlen(FULL_CHAT), &c, &txt,
                               &len) == 0);
        want = json_loadb(txt, len, 0, NULL);
    }
    ut_json_eq(result, want, "stream result == from_chat");
    json_decref(want);
    json_decref(result);
    events_free(e);
    json_decref(req);
}
END_TEST

START_TEST(test_stream_incomplete_and_bad_chunks)
{
    static const char *const chunks[] = {
        CHUNK("{\"role\":\"assistant\",\"content\":\"ab\"}", "null"),
        CHUNK("{}", "\"length\""),
        NULL
    };
    json_t *req = ut_json("{\"model\":\"m\",\"input\":\"x\"}");
    llmgw_api_ctx_t c = ctx(req);
    events_t *e = events();
    llmgw_api_stream_t *s = feed(&c, e, chunks);
    json_t *r;

    ck_assert_int_eq(A->stream_end(s, collect, e), 0);
    check_sequence(e, "response.created response.in_progress "
                   "response.output_item.added response.content_part.added "
                   "response.output_text.delta response.output_text.done "
                   "response.content_part.done response.output_item.done "
                   "response.incomplete");
    r = json_object_get(EV_DATA(e, e->names->nelts - 1), "response");
    ck_assert_str_eq(json_string_value(json_object_get(r, "status")),
                     "incomplete");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r,
                     "incomplete_details"), "reason")), "max_output_tokens");
    events_free(e);

    e = events();
    s = A->stream_new(tp, &c);
    ck_assert_int_eq(A->stream_chunk(s, "{\"error\":{\"message\":\"x\"}}", 25,
                                     collect, e), -1);
    ck_assert_int_eq(A->stream_chunk(s, "not json", 8, collect, e), -1);
    ck_assert_int_eq(A->stream_chunk(s, "[1]", 3, collect, e), -1);
    ck_assert_int_eq(e->names->nelts, 0);
    json_decref(req);
}
END_TEST

START_TEST(test_stream_error)
{
    static const char *const chunks[] = {
        CHUNK("{\"role\":\"assistant\",\"content\":\"ab\"}", "null"),
        NULL
    };
    json_t *req = ut_json("{\"model\":\"m\",\"input\":\"x\"}");
    llmgw_api_ctx_t c = ctx(req);
    events_t *e = events();
    llmgw_api_stream_t *s = feed(&c, e, chunks);
    llmgw_error_t err;
    json_t *want;
    int n;

    memset(&err, 0, sizeof(err));
    err.status = 502;
    err.type = "provider_error";
    err.code = "upstream_error";
    err.message = "the provider hung up";
    err.retry_after = -1;
    ck_assert_int_eq(A->stream_error(s, &err, collect, e), 0);
    check_sequence(e, "response.created response.in_progress "
                   "response.output_item.added response.content_part.added "
                   "response.output_text.delta error response.failed");
    n = e->names->nelts;
    /* the SDKs raise from the nested error (as OpenAI sends it) */
    want = ut_json("{\"type\":\"error\",\"sequence_number\":5,\"code\":"
                   "\"upstream_error\",\"message\":\"the provider hung up\","
                   "\"param\":null,\"error\":{\"type\":\"provider_error\","
                   "\"code\":\"upstream_error\",\"message\":\"the provider "
                   "hung up\",\"param\":null}}");
    ut_json_eq(EV_DATA(e, n - 2), want, "error event");
    json_decref(want);
    want = ut_json("{\"code\":\"upstream_error\",\"message\":\"the provider "
                   "hung up\"}");
    ut_json_eq(json_object_get(json_object_get(EV_DATA(e, n - 1), "response"),
                               "error"), want, "failed response error");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
                     EV_DATA(e, n - 1), "response"), "status")), "failed");
    json_decref(want);
    ck_assert(A->stream_result(s) == NULL);
    events_free(e);

    /* before any chunk: created first all the same */
    e = events();
    s = A->stream_new(tp, &c);
    ck_assert_int_eq(A->stream_error(s, &err, collect, e), 0);
    check_sequence(e, "response.created response.in_progress error "
                   "response.failed");
    events_free(e);
    json_decref(req);
}
END_TEST

START_TEST(test_error_body)
{
    llmgw_error_t err;
    json_t *b;

    memset(&err, 0, sizeof(err));
    err.status = 429;
    err.message = "slow down";
    err.code = "rate_limit_exceeded";
    err.retry_after = -1;
    b = A->error_body(&err, "req-9");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(b,
                     "error"), "message")), "slow down");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(b,
                     "error"), "type")), "rate_limit_error");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(b,
                     "error"), "request_id")), "req-9");
    json_decref(b);
}
END_TEST

/* ----------------------------------------------------- reduce, expand */

static json_t *reduce_json(const char *sse, apr_size_t len)
{
    const char *out;
    apr_size_t out_len;
    ck_assert_int_eq(A->reduce(tp, sse, len, &out, &out_len), 0);
    return ut_jsonn(out, out_len, "reduce");
}

START_TEST(test_expand_reduce)
{
    json_t *resp = from_chat("{\"model\":\"m\",\"input\":\"x\"}", FULL_CHAT);
    char *txt = json_dumps(resp, JSON_COMPACT);
    const char *sse;
    apr_size_t len;
    apr_array_header_t *evs;
    json_t *back;
    int i;

    ck_assert_int_eq(A->expand(tp, txt, strlen(txt), &sse, &len), 0);
    evs = ut_sse_events(sse, len);
    {
        events_t *e = events();
        for (i = 0; i < evs->nelts; i++) {
            collect(e, UT_EV(evs, i).event, UT_EV(evs, i).data,
                    UT_EV(evs, i).len);
        }
        check_sequence(e,
            "response.created response.in_progress "
            "response.output_item.added response.reasoning_summary_part.added "
            "response.reasoning_summary_text.delta "
            "response.reasoning_summary_text.done "
            "response.reasoning_summary_part.done response.output_item.done "
            "response.output_item.added response.content_part.added "
            "response.output_text.delta response.output_text.done "
            "response.content_part.done response.output_item.done "
            "response.output_item.added response.function_call_arguments.delta "
            "response.output_item.added response.function_call_arguments.delta "
            "response.function_call_arguments.done response.output_item.done "
            "response.function_call_arguments.done response.output_item.done "
            "response.completed");
        /* the items keep their ids */
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
                         EV_DATA(e, 8), "item"), "id")), "msg_abc");
        events_free(e);
    }
    back = reduce_json(sse, len);
    ut_json_eq(back, resp, "reduce(expand(x))");
    json_decref(back);
    free(txt);
    json_decref(resp);

    /* no completed response: -1 */
    {
        const char *out;
        apr_size_t ol;
        const char *s2 = "event: response.created\ndata: {\"type\":"
                         "\"response.created\",\"response\":{}}\n\n";
        ck_assert_int_eq(A->reduce(tp, s2, strlen(s2), &out, &ol), -1);
        ck_assert_int_eq(A->expand(tp, "{\"a\":1}", 7, &out, &ol), -1);
        ck_assert_int_eq(A->expand(tp, "nope", 4, &out, &ol), -1);
    }
}
END_TEST

/* ------------------------------------------------------- conversation */

START_TEST(test_conversation)
{
    json_t *h = ut_json("[{\"type\":\"message\",\"role\":\"user\",\"content\":"
                        "\"a\"}]");
    json_t *req = ut_json("{\"model\":\"m\",\"input\":\"b\"}");
    json_t *resp = ut_json("{\"output\":[{\"id\":\"msg_1\",\"type\":"
                           "\"message\",\"role\":\"assistant\",\"content\":"
                           "[{\"type\":\"output_text\",\"text\":\"c\"}]}]}");
    json_t *got = llmgw_responses_conversation(h, req, resp);
    json_t *want = ut_json("[{\"type\":\"message\",\"role\":\"user\","
                           "\"content\":\"a\"},{\"type\":\"message\","
                           "\"role\":\"user\",\"content\":\"b\"},{\"id\":"
                           "\"msg_1\",\"type\":\"message\",\"role\":"
                           "\"assistant\",\"content\":[{\"type\":"
                           "\"output_text\",\"text\":\"c\"}]}]");
    json_t *chat;

    ut_json_eq(got, want, "conversation");
    /* it continues: to_chat of the next request with it as history */
    chat = to_chat_h("{\"model\":\"m\",\"input\":[{\"role\":\"user\","
                     "\"content\":\"d\"}]}", ut_json_str(got));
    json_decref(want);
    want = ut_json("[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\","
                   "\"content\":\"b\"},{\"role\":\"assistant\",\"content\":"
                   "\"c\"},{\"role\":\"user\",\"content\":\"d\"}]");
    ut_json_eq(json_object_get(chat, "messages"), want, "continued");
    json_decref(chat);
    json_decref(got);
    json_decref(want);
    json_decref(req);

    /* no history, array input, no response */
    req = ut_json("{\"input\":[{\"role\":\"user\",\"content\":\"z\"}]}");
    got = llmgw_responses_conversation(NULL, req, NULL);
    want = ut_json("[{\"role\":\"user\",\"content\":\"z\"}]");
    ut_json_eq(got, want, "bare");
    json_decref(got);
    json_decref(want);
    json_decref(req);
    req = ut_json("{\"model\":\"m\"}");
    ck_assert(llmgw_responses_conversation(h, req, resp) == NULL);
    json_decref(req);
    json_decref(h);
    json_decref(resp);
}
END_TEST

/* -------------------------------------- recorded Chat chunk streams */

START_TEST(test_openai_chunk_fixtures)
{
    apr_array_header_t *files = ut_fixture_glob("openai/*.sse", 10);
    int f, i;

    for (f = 0; f < files->nelts; f++) {
        const char *path = APR_ARRAY_IDX(files, f, const char *);
        apr_size_t len;
        char *buf = ut_slurp(path, &len);
        apr_array_header_t *evs = ut_sse_events(buf, len);
        json_t *req = ut_json("{\"model\":\"gpt-4o\",\"input\":\"x\"}");
        llmgw_api_ctx_t c = ctx(req);
        events_t *e = events();
        llmgw_api_stream_t *s = A->stream_new(tp, &c);
        json_t *chat, *msg, *resp, *out, *calls;
        const char *text = NULL;
        const char *ctext;
        size_t k, ncall = 0;

        for (i = 0; i < evs->nelts; i++) {
            llmgw_sse_event_t x;
            x.event = UT_EV(evs, i).event;
            x.data = UT_EV(evs, i).data;
            x.len = UT_EV(evs, i).len;
            if (llmgw_sse_is_done(&x)) {
                break;
            }
            ck_assert_msg(A->stream_chunk(s, x.data, x.len, collect, e) == 0,
                          "%s: chunk %d refused", path, i);
        }
        ck_assert_int_eq(A->stream_end(s, collect, e), 0);
        check_sequence(e, NULL);
        resp = A->stream_result(s);
        ck_assert_msg(resp != NULL, "%s: no result", path);
        chat = llmgw_stream_reduce(tp, buf, len, NULL);
        ck_assert_msg(chat != NULL, "%s: llmgw_stream_reduce refused", path);
        msg = json_object_get(json_array_get(json_object_get(chat, "choices"),
                                             0), "message");
        ctext = json_string_value(json_object_get(msg, "content"));
        out = json_object_get(resp, "output");
        calls = json_object_get(msg, "tool_calls");
        for (k = 0; k < json_array_size(out); k++) {
            json_t *it = json_array_get(out, k);
            const char *t = json_string_value(json_object_get(it, "type"));
            if (!strcmp(t, "message")) {
                json_t *p0 = json_array_get(json_object_get(it, "content"), 0);
                if (!strcmp(json_string_value(json_object_get(p0, "type")),
                            "output_text")) {
                    text = json_string_value(json_object_get(p0, "text"));
                }
                else {
                    ut_json_eq(json_object_get(p0, "refusal"),
                               json_object_get(msg, "refusal"), path);
                }
            }
            else if (!strcmp(t, "function_call")) {
                json_t *tc = json_array_get(calls, ncall++);
                json_t *fn = json_object_get(tc, "function");
                ut_json_eq(json_object_get(it, "call_id"),
                           json_object_get(tc, "id"), path);
                ut_json_eq(json_object_get(it, "name"),
                           json_object_get(fn, "name"), path);
                ut_json_eq(json_object_get(it, "arguments"),
                           json_object_get(fn, "arguments"), path);
            }
        }
        ck_assert_msg(ncall == json_array_size(calls), "%s: %lu calls, want "
                      "%lu", path, (unsigned long)ncall,
                      (unsigned long)json_array_size(calls));
        if (ctext && *ctext) {
            ck_assert_msg(text && !strcmp(text, ctext), "%s: text differs",
                          path);
        }
        else {
            ck_assert_msg(text == NULL, "%s: a text item without text", path);
        }
        /* the usage of the stream's last chunk */
        if (json_object_get(chat, "usage")) {
            json_t *u = json_object_get(resp, "usage");
            ut_json_eq(json_object_get(u, "input_tokens"),
                       json_object_get(json_object_get(chat, "usage"),
                                       "prompt_tokens"), path);
        }
        json_decref(chat);
        json_decref(resp);
        events_free(e);
        json_decref(req);
    }
}
END_TEST

/* ------------------------------------ recorded Responses API streams */

static const char *responses_fixture(const char *name)
{
    const char *dir = apr_pstrdup(tp, __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
    }
    return apr_pstrcat(tp, slash ? dir : ".", "/fixtures/openai-responses/",
                       name, NULL);
}

/* A recording (one data JSON a line) as its SSE streams: one per
 * response.created, framed `event: TYPE` + `data: LINE`; the completed
 * response of each (NULL for none) in *completed. */
static apr_array_header_t *recorded_streams(const char *name,
                                            apr_array_header_t **completed)
{
    apr_size_t len;
    char *buf = ut_slurp(responses_fixture(name), &len);
    apr_array_header_t *streams = apr_array_make(tp, 2, sizeof(llmgw_buf_t));
    char *line, *last;
    llmgw_buf_t *cur = NULL;
    json_int_t want = 0;

    *completed = apr_array_make(tp, 2, sizeof(json_t *));
    for (line = apr_strtok(buf, "\n", &last); line;
         line = apr_strtok(NULL, "\n", &last)) {
        json_t *j = ut_json(line);
        const char *type = json_string_value(json_object_get(j, "type"));
        json_int_t sn = json_integer_value(json_object_get(j,
                                                           "sequence_number"));
        ck_assert_msg(type != NULL, "%s: an event without type", name);
        if (!strcmp(type, "response.created")) {
            cur = apr_array_push(streams);
            llmgw_buf_init(cur, tp, 0);
            APR_ARRAY_PUSH(*completed, json_t *) = NULL;
            want = 0;
        }
        ck_assert_msg(cur != NULL, "%s: starts without response.created",
                      name);
        ck_assert_msg(sn == want, "%s: sequence_number %ld, want %ld", name,
                      (long)sn, (long)want);
        want++;
        if (!strcmp(type, "response.completed")
            || !strcmp(type, "response.incomplete")) {
            APR_ARRAY_IDX(*completed, (*completed)->nelts - 1, json_t *) =
                json_incref(json_object_get(j, "response"));
        }
        llmgw_buf_append(cur, "event: ", 7);
        llmgw_buf_append(cur, type, strlen(type));
        llmgw_buf_append(cur, "\ndata: ", 7);
        llmgw_buf_append(cur, line, strlen(line));
        llmgw_buf_append(cur, "\n\n", 2);
        json_decref(j);
    }
    return streams;
}

START_TEST(test_recorded_responses_streams)
{
    static const struct { const char *file; int streams; int ok; } fx[] = {
        { "openai-shell-local-multiturn.1.chunks.txt", 1, 1 },
        { "openai-client-tool-search.2.chunks.txt", 1, 1 },
        { "openai-reasoning-encrypted-content.1.chunks.txt", 4, 1 },
        { "openai-mcp-tool-approval.2.chunks.txt", 1, 1 },
        { "openai-error.1.chunks.txt", 1, 0 },
    };
    int f, i;

    for (f = 0; f < (int)(sizeof(fx) / sizeof(fx[0])); f++) {
        apr_array_header_t *done;
        apr_array_header_t *st = recorded_streams(fx[f].file, &done);
        ck_assert_msg(st->nelts == fx[f].streams, "%s: %d streams",
                      fx[f].file, st->nelts);
        for (i = 0; i < st->nelts; i++) {
            llmgw_buf_t *b = &APR_ARRAY_IDX(st, i, llmgw_buf_t);
            json_t *want = APR_ARRAY_IDX(done, i, json_t *);
            const char *out, *sse;
            apr_size_t ol, sl;

            if (!fx[f].ok) {
                ck_assert(want == NULL);
                ck_assert_int_eq(A->reduce(tp, b->data, b->len, &out, &ol),
                                 -1);
                continue;
            }
            ck_assert_msg(want != NULL, "%s: no completed response",
                          fx[f].file);
            {
                json_t *got = reduce_json(b->data, b->len);
                char *txt = json_dumps(want, JSON_COMPACT);
                ut_json_eq(got, want, fx[f].file);
                json_decref(got);
                /* and back: expand then reduce gives the same response */
                ck_assert_int_eq(A->expand(tp, txt, strlen(txt), &sse, &sl),
                                 0);
                got = reduce_json(sse, sl);
                ut_json_eq(got, want, "reduce(expand(recorded))");
                json_decref(got);
                free(txt);
            }
            json_decref(want);
        }
    }
}
END_TEST

/* What Chat cannot express is LLMGW_API_UNSUPPORTED; an invalid request
 * has no code. */
static const char *code_of(const char *txt)
{
    llmgw_api_ctx_t c = ctx(NULL);
    const char *chat = NULL, *err = NULL, *param = NULL, *code = "unset";
    apr_size_t len = 0;
    ck_assert_int_eq(A->to_chat_text(tp, txt, strlen(txt), &c, &chat, &len,
                                     &err, &param, &code), 400);
    req_same_as_tree(txt, strlen(txt), NULL, NULL);
    return code;
}

START_TEST(req_error_codes)
{
    ck_assert_str_eq(code_of("{\"model\":\"m\",\"input\":\"x\","
                             "\"background\":true}"), LLMGW_API_UNSUPPORTED);
    ck_assert_str_eq(code_of("{\"model\":\"m\",\"input\":\"x\","
                             "\"tools\":[{\"type\":\"web_search\"}]}"),
                     LLMGW_API_UNSUPPORTED);
    ck_assert_ptr_null(code_of("{\"model\":\"m\"}"));
    ck_assert_ptr_null(code_of("{\"model\":\"m\",\"input\":7}"));
}
END_TEST

static Suite *responses_suite(void)
{
    Suite *s = suite_create("api_responses");
    TCase *tc = ut_tcase(s, "request", 0);
    tcase_add_test(tc, test_to_chat_string_and_params);
    tcase_add_test(tc, req_error_codes);
    tcase_add_test(tc, test_to_chat_items);
    tcase_add_test(tc, test_to_chat_history_order);
    tcase_add_test(tc, test_to_chat_tools);
    tcase_add_test(tc, test_to_chat_errors);
    tcase_add_test(tc, test_to_chat_same_as_tree);
    tcase_add_test(tc, test_to_chat_from_scan);
    tc = ut_tcase(s, "answer", 0);
    tcase_add_test(tc, test_from_chat_full);
    tcase_add_test(tc, test_from_chat_length_refusal);
    tcase_add_test(tc, test_from_chat_same_as_tree);
    tcase_add_test(tc, test_echo_same_as_tree);
    tcase_add_test(tc, test_from_chat_checked);
    tcase_add_test(tc, test_from_chat_same_as_tree_recorded);
    tcase_add_test(tc, test_error_body);
    tcase_add_test(tc, test_conversation);
    tc = ut_tcase(s, "stream", 0);
    tcase_add_test(tc, test_stream_sequence);
    tcase_add_test(tc, test_stream_same_as_tree);
    tcase_add_test(tc, test_stream_incomplete_and_bad_chunks);
    tcase_add_test(tc, test_stream_error);
    tcase_add_test(tc, test_expand_reduce);
    tc = ut_tcase(s, "recordings", 0);
    tcase_add_test(tc, test_openai_chunk_fixtures);
    tcase_add_test(tc, test_recorded_responses_streams);
    return s;
}

UT_MAIN(responses_suite)
