/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * test_gemini.c — unit tests of the Gemini translator (providers/gemini/):
 * paths, request and response translation, errors, embeddings, and every
 * recorded stream in fixtures/gemini/{googleai,vertexai}/streaming-*.txt
 * replayed through the SSE parser and the stream translator.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "llmgw_test.h"
#include "llmgw_translate.h"
#include "llmgw_envelope.h"
#include "llmgw_buf.h"
#include "llmgw_stream_reduce.h"

static const llmgw_translator_t *T = &llmgw_gemini_translator;
static llmgw_xlate_ctx_t X = {
    "gemini-2.0-flash", "chatcmpl-abc123", 1700000000, "req-42", "gem",
    1024, 1, NULL
};

/* A JSON file (a path from ut_fixture_glob()), parsed. */
static json_t *json_file(const char *path)
{
    apr_size_t len;
    char *b = ut_slurp(path, &len);
    return ut_jsonn(b, len, path);
}

static const char *sget(const json_t *j, const char *path)
{
    /* a dotted path; numbers index arrays */
    char *p = apr_pstrdup(tp, path), *tok, *last;
    const json_t *v = j;

    for (tok = apr_strtok(p, ".", &last); tok && v;
         tok = apr_strtok(NULL, ".", &last)) {
        if (json_is_array(v)) {
            v = json_array_get(v, (size_t)atoi(tok));
        }
        else {
            v = json_object_get(v, tok);
        }
    }
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const json_t *jget(const json_t *j, const char *path)
{
    char *p = apr_pstrdup(tp, path), *tok, *last;
    const json_t *v = j;

    for (tok = apr_strtok(p, ".", &last); tok && v;
         tok = apr_strtok(NULL, ".", &last)) {
        if (json_is_array(v)) {
            v = json_array_get(v, (size_t)atoi(tok));
        }
        else {
            v = json_object_get(v, tok);
        }
    }
    return v;
}

static json_int_t iget(const json_t *j, const char *path)
{
    const json_t *v = jget(j, path);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", path);
    return json_integer_value(v);
}

typedef struct sink {
    apr_array_header_t *chunks;     /* json_t * emitted to the client */
} sink_t;
static sink_t *sink_new(void);
static void sink_free(sink_t *s);
static int sink_emit(void *baton, const char *data, apr_size_t len);

/* Translates an OpenAI request; returns the native body or NULL (err). */
static json_t *xreq(const char *body, const char **err)
{
    json_t *in = ut_json(body), *out;
    *err = NULL;
    out = T->chat_request(tp, in, &X, err);
    json_decref(in);
    ut_same_from_text(T, body, out, &X);
    if (out == NULL) {
        ck_assert_msg(*err != NULL && **err, "NULL without an error");
    }
    return out;
}

static void assert_json_eq(const json_t *got, const char *want)
{
    json_t *w = ut_json(want);
    ut_json_eq(got, w, want);
    json_decref(w);
}

/* ------------------------------------------------------------------ */
/* path, headers                                                       */
/* ------------------------------------------------------------------ */

START_TEST(path_basic)
{
    llmgw_xlate_ctx_t x = X;
    ck_assert_str_eq(T->path(tp, &x, LLMGW_EP_CHAT, 0),
                     "/models/gemini-2.0-flash:generateContent");
    ck_assert_str_eq(T->path(tp, &x, LLMGW_EP_CHAT, 1),
                     "/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
    ck_assert_str_eq(T->path(tp, &x, LLMGW_EP_EMBEDDINGS, 0),
                     "/models/gemini-2.0-flash:batchEmbedContents");
    ck_assert_ptr_null(T->path(tp, &x, LLMGW_EP_IMAGES, 0));
    ck_assert_ptr_null(T->path(tp, &x, LLMGW_EP_MODELS, 0));
    ck_assert_ptr_null(T->path(tp, &x, LLMGW_EP_UNKNOWN, 0));
    x.model = "models/gemini-1.5-pro-002";
    ck_assert_str_eq(T->path(tp, &x, LLMGW_EP_CHAT, 0),
                     "/models/gemini-1.5-pro-002:generateContent");
    x.model = "";
    ck_assert_ptr_null(T->path(tp, &x, LLMGW_EP_CHAT, 0));
    x.model = NULL;
    ck_assert_ptr_null(T->path(tp, &x, LLMGW_EP_CHAT, 0));
}
END_TEST

START_TEST(path_hostile)
{
    static const char *const cases[][2] = {
        { "../../v1/files", "..%2F..%2Fv1%2Ffiles" },
        { "a?key=x#frag", "a%3Fkey%3Dx%23frag" },
        { "m:streamGenerateContent", "m%3AstreamGenerateContent" },
        { "x\r\nHost: evil", "x%0D%0AHost%3A%20evil" },
        { "a b&c=d%41", "a%20b%26c%3Dd%2541" },
        { "models/models/x", "models%2Fx" },
        { "\xc3\xa9t\xc3\xa9", "%C3%A9t%C3%A9" },
        { "A-Z_a.z-09", "A-Z_a.z-09" },
        { NULL, NULL }
    };
    llmgw_xlate_ctx_t x = X;
    int i;

    for (i = 0; cases[i][0]; i++) {
        const char *p, *q;
        x.model = cases[i][0];
        p = T->path(tp, &x, LLMGW_EP_CHAT, 1);
        ck_assert_str_eq(p, apr_pstrcat(tp, "/models/", cases[i][1],
                         ":streamGenerateContent?alt=sse", NULL));
        /* exactly one '?', one ':' and two '/' whatever the model is */
        ck_assert_ptr_eq(strchr(p, '?'), strrchr(p, '?'));
        ck_assert_ptr_eq(strchr(p, ':'), strrchr(p, ':'));
        ck_assert_ptr_null(strchr(p, '#'));
        ck_assert_ptr_null(strpbrk(p, " \r\n"));
        q = strchr(p + 1, '/');
        ck_assert_ptr_nonnull(q);
        ck_assert_ptr_null(strchr(q + 1, '/'));
    }
}
END_TEST

START_TEST(headers_key)
{
    apr_array_header_t *h = apr_array_make(tp, 2, sizeof(const char *));
    T->headers(tp, "AIza-secret", h);
    ck_assert_int_eq(h->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(h, 0, const char *),
                     "x-goog-api-key: AIza-secret");
    T->headers(tp, NULL, h);
    T->headers(tp, "bad\r\nX-Injected: 1", h);
    ck_assert_int_eq(h->nelts, 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

START_TEST(req_system_and_merge)
{
    const char *err;
    json_t *b = xreq("{\"model\":\"g\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"No emoji.\"}]},"
        "{\"role\":\"user\",\"content\":\"Hi\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"there\"}]},"
        "{\"role\":\"assistant\",\"content\":\"Hello!\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Again.\"}]},"
        "{\"role\":\"user\",\"content\":\"Bye\"}]}", &err);
    ck_assert_ptr_nonnull(b);
    assert_json_eq(b,
        "{\"systemInstruction\":{\"parts\":[{\"text\":\"Be brief.\"},{\"text\":\"No emoji.\"}]},"
        "\"contents\":["
        "{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"},{\"text\":\"there\"}]},"
        "{\"role\":\"model\",\"parts\":[{\"text\":\"Hello!\"},{\"text\":\"Again.\"}]},"
        "{\"role\":\"user\",\"parts\":[{\"text\":\"Bye\"}]}]}");
    json_decref(b);
}
END_TEST

START_TEST(req_images)
{
    const char *err;
    json_t *b = xreq("{\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"What is this?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/a/cat.PNG?x=1\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/photo.webp\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://example.com/noext\",\"detail\":\"low\"}},"
        "{\"type\":\"image_url\",\"image_url\":\"https://example.com/x.gif\"}]}]}", &err);
    ck_assert_ptr_nonnull(b);
    assert_json_eq(json_object_get(b, "contents"),
        "[{\"role\":\"user\",\"parts\":["
        "{\"text\":\"What is this?\"},"
        "{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}},"
        "{\"fileData\":{\"mimeType\":\"image/png\",\"fileUri\":\"https://example.com/a/cat.PNG?x=1\"}},"
        "{\"fileData\":{\"mimeType\":\"image/webp\",\"fileUri\":\"https://example.com/photo.webp\"}},"
        "{\"fileData\":{\"mimeType\":\"image/jpeg\",\"fileUri\":\"http://example.com/noext\"}},"
        "{\"fileData\":{\"mimeType\":\"image/gif\",\"fileUri\":\"https://example.com/x.gif\"}}]}]");
    json_decref(b);

    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png,abc\"}}]}]}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"file:///etc/passwd\"}}]}]}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"image_url\",\"image_url\":{}}]}]}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"video\"}]}]}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:;base64,AAAA\"}}]}]}", &err));
}
END_TEST

START_TEST(req_tools_and_choice)
{
    const char *err;
    json_t *b = xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"description\":\"Weather by city\",\"parameters\":{\"type\":\"object\","
        "\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"additionalProperties\":false,"
        "\"properties\":{\"city\":{\"type\":\"string\",\"format\":\"uri\"},"
        "\"unit\":{\"type\":[\"string\",\"null\"],\"enum\":[\"c\",\"f\"]},"
        "\"days\":{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"format\":\"int32\"}}},"
        "\"required\":[\"city\"]}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"now\"}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"noargs\",\"parameters\":{\"type\":\"object\",\"properties\":{}}}}],"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}}", &err);
    ck_assert_ptr_nonnull(b);
    assert_json_eq(json_object_get(b, "tools"),
        "[{\"functionDeclarations\":["
        "{\"name\":\"get_weather\",\"description\":\"Weather by city\",\"parameters\":"
        "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},"
        "\"unit\":{\"type\":\"string\",\"nullable\":true,\"enum\":[\"c\",\"f\"]},"
        "\"days\":{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"format\":\"int32\"}}},"
        "\"required\":[\"city\"]}},"
        "{\"name\":\"now\"},{\"name\":\"noargs\"}]}]");
    assert_json_eq(json_object_get(b, "toolConfig"),
        "{\"functionCallingConfig\":{\"mode\":\"ANY\",\"allowedFunctionNames\":[\"get_weather\"]}}");
    json_decref(b);

    {
        static const char *const modes[][2] = {
            { "auto", "AUTO" }, { "none", "NONE" }, { "required", "ANY" },
            { NULL, NULL }
        };
        int i;
        for (i = 0; modes[i][0]; i++) {
            b = xreq(apr_psprintf(tp, "{\"messages\":[{\"role\":\"user\","
                "\"content\":\"x\"}],\"tool_choice\":\"%s\"}", modes[i][0]), &err);
            ck_assert_ptr_nonnull(b);
            ck_assert_str_eq(sget(b, "toolConfig.functionCallingConfig.mode"),
                             modes[i][1]);
            json_decref(b);
        }
    }
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                            "\"tool_choice\":\"sometimes\"}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                            "\"tool_choice\":{\"type\":\"function\"}}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                            "\"tools\":{}}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                            "\"tools\":[{\"type\":\"function\",\"function\":{}}]}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                            "\"tools\":[{\"type\":\"web_search\"}]}", &err));
}
END_TEST

START_TEST(req_tool_calls_and_responses)
{
    const char *err;
    json_t *b = xreq("{\"messages\":["
        "{\"role\":\"user\",\"content\":\"Weather in Paris and Rome?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
        "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"{\\\"temp\\\":21}\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":\"sunny\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_unknown\",\"content\":[{\"type\":\"text\",\"text\":\"[1,2]\"}]},"
        "{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":["
        "{\"id\":\"call_3\",\"type\":\"function\",\"function\":{\"name\":\"now\",\"arguments\":\"\"},"
        "\"extra_content\":{\"google\":{\"thought_signature\":\"c2ln\"}}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_3\",\"content\":\"noon\"},"
        "{\"role\":\"user\",\"content\":\"thanks\"}]}", &err);
    ck_assert_ptr_nonnull(b);
    assert_json_eq(json_object_get(b, "contents"),
        "[{\"role\":\"user\",\"parts\":[{\"text\":\"Weather in Paris and Rome?\"}]},"
        "{\"role\":\"model\",\"parts\":["
        "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}},"
        "\"thoughtSignature\":\"skip_thought_signature_validator\"},"
        "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Rome\"}}}]},"
        "{\"role\":\"user\",\"parts\":["
        "{\"functionResponse\":{\"name\":\"get_weather\",\"response\":{\"temp\":21}}},"
        "{\"functionResponse\":{\"name\":\"get_weather\",\"response\":{\"content\":\"sunny\"}}},"
        "{\"functionResponse\":{\"name\":\"call_unknown\",\"response\":{\"content\":\"[1,2]\"}}}]},"
        "{\"role\":\"model\",\"parts\":[{\"text\":\"Checking.\"},"
        "{\"functionCall\":{\"name\":\"now\",\"args\":{}},\"thoughtSignature\":\"c2ln\"}]},"
        "{\"role\":\"user\",\"parts\":["
        "{\"functionResponse\":{\"name\":\"now\",\"response\":{\"content\":\"noon\"}}},"
        "{\"text\":\"thanks\"}]}]");
    json_decref(b);

    /* invalid arguments are a 400, not a crash */
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":["
        "{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{not json\"}}]}]}", &err));
    ck_assert_str_eq(err, "tool call arguments must be a JSON object");
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":["
        "{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":["
        "{\"id\":\"c\",\"type\":\"function\",\"function\":{\"arguments\":\"{}\"}}]}]}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":{}}]}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", &err));
}
END_TEST

START_TEST(req_generation_config)
{
    const char *err;
    json_t *b = xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"max_tokens\":100,\"max_completion_tokens\":200,\"temperature\":0.5,"
        "\"top_p\":1,\"stop\":[\"END\",\"STOP\"],\"n\":2,"
        "\"response_format\":{\"type\":\"json_object\"}}", &err);
    ck_assert_ptr_nonnull(b);
    assert_json_eq(json_object_get(b, "generationConfig"),
        "{\"maxOutputTokens\":200,\"temperature\":0.5,\"topP\":1,"
        "\"stopSequences\":[\"END\",\"STOP\"],\"candidateCount\":2,"
        "\"responseMimeType\":\"application/json\"}");
    json_decref(b);

    b = xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
             "\"max_tokens\":7,\"stop\":\"\\n\"}", &err);
    assert_json_eq(json_object_get(b, "generationConfig"),
        "{\"maxOutputTokens\":7,\"stopSequences\":[\"\\n\"]}");
    json_decref(b);

    b = xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
             "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\","
             "\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
             "\"additionalProperties\":false}}}}", &err);
    assert_json_eq(json_object_get(b, "generationConfig"),
        "{\"responseMimeType\":\"application/json\",\"responseSchema\":"
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}}");
    json_decref(b);

    /* no generation parameter: no generationConfig, no tools, no system */
    b = xreq("{\"model\":\"g\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
             "\"stream\":true,\"stop\":null}", &err);
    assert_json_eq(b, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}]}");
    json_decref(b);

    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":\"9\"}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":5}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":1.5}", &err));
    ck_assert_ptr_null(xreq("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                            "\"response_format\":{\"type\":\"yaml\"}}", &err));
}
END_TEST

START_TEST(req_malformed_never_crashes)
{
    static const char *const bad[] = {
        "[]", "1", "\"s\"", "null", "{}", "{\"messages\":{}}",
        "{\"messages\":[]}", "{\"messages\":[1]}", "{\"messages\":[null]}",
        "{\"messages\":[{}]}", "{\"messages\":[{\"role\":5}]}",
        "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":5}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[5]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
        "{\"messages\":[{\"role\":\"system\",\"content\":{}}]}",
        "{\"messages\":[{\"role\":\"system\",\"content\":\"only system\"}]}",
        "{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"image_url\"}]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"content\":5}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[5]}]}",
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":5}]}]}",
        "{\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":{}}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[5]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":5}}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":5}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":5}",
        NULL
    };
    int i;

    for (i = 0; bad[i]; i++) {
        json_t *in = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        const char *err = NULL;
        json_t *out = T->chat_request(tp, in, &X, &err);
        ck_assert_msg(out == NULL, "accepted %s", bad[i]);
        ck_assert_msg(err && *err, "no message for %s", bad[i]);
        json_decref(in);
    }
    /* deeply nested schemas are cut, not recursed without end */
    {
        char *deep = "{\"type\":\"string\"}";
        const char *err;
        json_t *b;
        for (i = 0; i < 200; i++) {
            deep = apr_psprintf(tp, "{\"type\":\"object\",\"properties\":{\"a\":%s}}", deep);
        }
        b = xreq(apr_psprintf(tp, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                 "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":%s}}]}",
                 deep), &err);
        ck_assert_ptr_nonnull(b);
        json_decref(b);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

static json_t *xresp(const char *native, llmgw_usage_t *u)
{
    json_t *in = ut_json(native), *out;
    out = T->chat_response(tp, in, &X, u);
    json_decref(in);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* The answer is checked in the reader's own pass (llmgw_xlate_in_t.why):
 * the same verdict as llmgw_answer_invalid on every answer, keys read as
 * written as the check reads them; an accepted answer translated exactly
 * as without the check; a refused one leaves usage alone. */
START_TEST(resp_checked)
{
    static const char *const bodies[] = {
        "", "   ", "{", "[]", "[1]", "\"x\"", "null", "{}",
        "{\"candidates\":[]}",
        "{\"candidates\":{}}",
        "{\"candidates\":5}",
        "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}",
        "{\"promptFeedback\":5}",
        "{\"usageMetadata\":{\"promptTokenCount\":3}}",
        "{\"c\\u0061ndidates\":[]}",
        "{\"candidates\":5,\"c\\u0061ndidates\":[]}",
        "{\"candidates\":[],\"candidates\":5}",
        "{\"candidates\":5,\"candidates\":[]}",
        "{\"candidates\":5,\"promptFeedback\":{}}",
        "{\"prompt\\u0046eedback\":{}}",
        "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
        "[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":"
        "{\"promptTokenCount\":3,\"candidatesTokenCount\":2,"
        "\"totalTokenCount\":5}}",
        "{\"candidates\":[]} x",
        "{\"candidates\":[{\"content\":",
        "{\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":1e999}}",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        ut_checked_as_gateway(T, LLMGW_PT_GEMINI, bodies[i], &X);
    }
}
END_TEST

START_TEST(resp_text_and_usage)
{
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    json_t *r = xresp("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
        "{\"text\":\"thinking...\",\"thought\":true},{\"text\":\"Hello \"},{\"text\":\"world\"}]},"
        "\"finishReason\":\"STOP\",\"index\":0}],"
        "\"usageMetadata\":{\"promptTokenCount\":12,\"candidatesTokenCount\":5,"
        "\"thoughtsTokenCount\":3,\"totalTokenCount\":20,\"cachedContentTokenCount\":8}}", &u);
    ck_assert_str_eq(sget(r, "id"), "chatcmpl-abc123");
    ck_assert_str_eq(sget(r, "object"), "chat.completion");
    ck_assert_str_eq(sget(r, "model"), "gemini-2.0-flash");
    ck_assert_int_eq(iget(r, "created"), 1700000000);
    ck_assert_int_eq(json_array_size(json_object_get(r, "choices")), 1);
    ck_assert_int_eq(iget(r, "choices.0.index"), 0);
    ck_assert_str_eq(sget(r, "choices.0.message.role"), "assistant");
    ck_assert_str_eq(sget(r, "choices.0.message.content"), "Hello world");
    ck_assert_str_eq(sget(r, "choices.0.finish_reason"), "stop");
    ck_assert_ptr_null(jget(r, "choices.0.message.tool_calls"));
    ck_assert_int_eq(iget(r, "usage.prompt_tokens"), 12);
    ck_assert_int_eq(iget(r, "usage.completion_tokens"), 8);
    ck_assert_int_eq(iget(r, "usage.total_tokens"), 20);
    ck_assert_int_eq(iget(r, "usage.prompt_tokens_details.cached_tokens"), 8);
    ck_assert_int_eq(u.prompt_tokens, 12);
    ck_assert_int_eq(u.completion_tokens, 8);
    ck_assert_int_eq(u.total_tokens, 20);
    ck_assert_int_eq(u.cached_tokens, 8);
    json_decref(r);

    /* no usage metadata: usage stays unknown */
    u.prompt_tokens = -1;
    r = xresp("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
              "\"index\":1},{\"content\":{\"parts\":[{\"text\":\"b\"}]}}]}", &u);
    ck_assert_int_eq(u.prompt_tokens, -1);
    ck_assert_ptr_null(json_object_get(r, "usage"));
    ck_assert_int_eq(iget(r, "choices.0.index"), 1);
    ck_assert_int_eq(iget(r, "choices.1.index"), 1);
    ck_assert_str_eq(sget(r, "choices.1.message.content"), "b");
    ck_assert_str_eq(sget(r, "choices.0.finish_reason"), "stop");
    json_decref(r);
}
END_TEST

START_TEST(resp_function_calls)
{
    json_t *r = xresp("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
        "{\"text\":\"Let me check.\"},"
        "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\",\"n\":[1,null]}},"
        "\"thoughtSignature\":\"U0lH\"},"
        "{\"functionCall\":{\"name\":\"now\"}}]},\"finishReason\":\"STOP\"}]}", NULL);
    const json_t *calls = jget(r, "choices.0.message.tool_calls");
    json_t *args;

    ck_assert_str_eq(sget(r, "choices.0.finish_reason"), "tool_calls");
    ck_assert_str_eq(sget(r, "choices.0.message.content"), "Let me check.");
    ck_assert_int_eq(json_array_size(calls), 2);
    ck_assert_str_eq(sget(calls, "0.id"), "call_abc123_0_0");
    ck_assert_str_eq(sget(calls, "1.id"), "call_abc123_0_1");
    ck_assert_str_eq(sget(calls, "0.type"), "function");
    ck_assert_str_eq(sget(calls, "0.function.name"), "get_weather");
    ck_assert_str_eq(sget(calls, "0.extra_content.google.thought_signature"), "U0lH");
    args = ut_json(sget(calls, "0.function.arguments"));
    assert_json_eq(args, "{\"city\":\"Paris\",\"n\":[1,null]}");
    json_decref(args);
    ck_assert_str_eq(sget(calls, "1.function.name"), "now");
    ck_assert_str_eq(sget(calls, "1.function.arguments"), "{}");
    ck_assert_ptr_null(jget(calls, "1.extra_content"));
    json_decref(r);

    /* only calls: content is null; MAX_TOKENS keeps "length" */
    r = xresp("{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":"
              "{\"name\":\"f\",\"args\":{}}}]},\"finishReason\":\"MAX_TOKENS\"}]}", NULL);
    ck_assert(json_is_null(jget(r, "choices.0.message.content")));
    ck_assert_str_eq(sget(r, "choices.0.finish_reason"), "length");
    json_decref(r);
}
END_TEST

START_TEST(resp_finish_reasons)
{
    static const char *const map[][2] = {
        { "STOP", "stop" }, { "MAX_TOKENS", "length" },
        { "SAFETY", "content_filter" }, { "RECITATION", "content_filter" },
        { "BLOCKLIST", "content_filter" },
        { "PROHIBITED_CONTENT", "content_filter" },
        { "SPII", "content_filter" }, { "IMAGE_SAFETY", "content_filter" },
        { "OTHER", "stop" }, { "LANGUAGE", "stop" },
        { "MALFORMED_FUNCTION_CALL", "stop" },
        { "FINISH_REASON_UNSPECIFIED", "stop" },
        { "FAKE_NEW_FINISH_REASON", "stop" }, { NULL, NULL }
    };
    int i;

    for (i = 0; map[i][0]; i++) {
        json_t *r = xresp(apr_psprintf(tp, "{\"candidates\":[{\"content\":"
            "{\"parts\":[{\"text\":\"t\"}]},\"finishReason\":\"%s\"}]}",
            map[i][0]), NULL);
        ck_assert_msg(!strcmp(sget(r, "choices.0.finish_reason"), map[i][1]),
                      "%s -> %s", map[i][0], sget(r, "choices.0.finish_reason"));
        json_decref(r);
        /* with a tool call, everything but length becomes tool_calls */
        r = xresp(apr_psprintf(tp, "{\"candidates\":[{\"content\":"
            "{\"parts\":[{\"functionCall\":{\"name\":\"f\"}}]},"
            "\"finishReason\":\"%s\"}]}", map[i][0]), NULL);
        ck_assert_str_eq(sget(r, "choices.0.finish_reason"),
                         !strcmp(map[i][1], "length") ? "length" : "tool_calls");
        json_decref(r);
    }
    /* a missing or non-string finishReason never breaks the response */
    {
        json_t *r = xresp("{\"candidates\":[{\"finishReason\":5,\"content\":5}]}", NULL);
        ck_assert_str_eq(sget(r, "choices.0.finish_reason"), "stop");
        ck_assert_str_eq(sget(r, "choices.0.message.content"), "");
        json_decref(r);
    }
}
END_TEST

START_TEST(resp_safety_block)
{
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    json_t *r = xresp("{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},"
                      "\"usageMetadata\":{\"promptTokenCount\":7,\"totalTokenCount\":7}}", &u);
    ck_assert_int_eq(json_array_size(json_object_get(r, "choices")), 1);
    ck_assert_str_eq(sget(r, "choices.0.finish_reason"), "content_filter");
    ck_assert_str_eq(sget(r, "choices.0.message.role"), "assistant");
    ck_assert_int_eq(u.prompt_tokens, 7);
    ck_assert_int_eq(u.completion_tokens, 0);
    ck_assert_int_eq(u.total_tokens, 7);
    json_decref(r);
}
END_TEST

START_TEST(resp_any_shape)
{
    static const char *const shapes[] = {
        "null", "[]", "5", "{}", "{\"candidates\":5}", "{\"candidates\":[5,null,[]]}",
        "{\"candidates\":[{\"content\":{\"parts\":5}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[5,{\"text\":5},{\"functionCall\":5},"
        "{\"functionCall\":{\"name\":5,\"args\":\"x\"}}]}}]}",
        "{\"candidates\":[{\"index\":-4},{\"index\":1e99},{\"index\":\"2\"}]}",
        "{\"usageMetadata\":{\"promptTokenCount\":\"x\",\"totalTokenCount\":-5}}",
        "{\"promptFeedback\":5}",
        NULL
    };
    int i;

    for (i = 0; shapes[i]; i++) {
        json_t *in = json_loads(shapes[i], JSON_DECODE_ANY, NULL);
        llmgw_usage_t u = LLMGW_USAGE_INIT;
        json_t *r = T->chat_response(tp, in, &X, &u);
        const json_t *ch;
        if (i < 4) {
            /* not a GenerateContentResponse at all: the caller answers 502 */
            ck_assert_ptr_null(r);
            json_decref(in);
            continue;
        }
        ck_assert_ptr_nonnull(r);
        ch = json_object_get(r, "choices");
        ck_assert(json_array_size(ch) >= 1);
        ck_assert_ptr_nonnull(sget(ch, "0.finish_reason"));
        json_decref(r);
        json_decref(in);
    }
    /* a flood of candidates is capped */
    {
        json_t *in = json_pack("{s:[]}", "candidates");
        json_t *r;
        llmgw_stream_t *st = T->stream_new(tp, &X);
        sink_t *sink;
        char *txt;
        for (i = 0; i < 300; i++) {
            json_array_append_new(json_object_get(in, "candidates"),
                json_pack("{s:{s:[{s:s}]}}", "content", "parts", "text", "x"));
        }
        r = T->chat_response(tp, in, &X, NULL);
        ck_assert_int_eq(json_array_size(json_object_get(r, "choices")), 128);
        json_decref(r);
        sink = sink_new();
        txt = json_dumps(in, JSON_COMPACT);
        ck_assert_int_eq(T->stream_event(st, NULL, txt, strlen(txt), sink_emit, sink),
                         LLMGW_XLATE_CONTINUE);
        ck_assert_int_eq(sink->chunks->nelts, 256);
        free(txt);
        sink_free(sink);
        json_decref(in);
    }
}
END_TEST

/* The concatenated non-thought text of candidate `pos`. */
static const char *expected_text(const json_t *native, size_t pos)
{
    const json_t *parts = jget(json_array_get(json_object_get(native,
                               "candidates"), pos), "content.parts");
    const char *out = "";
    size_t i;

    for (i = 0; i < json_array_size(parts); i++) {
        const json_t *p = json_array_get(parts, i);
        if (json_is_string(json_object_get(p, "text"))
            && !json_is_true(json_object_get(p, "thought"))) {
            out = apr_pstrcat(tp, out,
                              json_string_value(json_object_get(p, "text")),
                              NULL);
        }
    }
    return out;
}

static const char *expected_finish(const char *fr, int tools)
{
    const char *m = "stop";
    if (fr && !strcmp(fr, "MAX_TOKENS")) {
        m = "length";
    }
    else if (fr && (!strcmp(fr, "SAFETY") || !strcmp(fr, "RECITATION")
                    || !strcmp(fr, "BLOCKLIST")
                    || !strcmp(fr, "PROHIBITED_CONTENT")
                    || !strcmp(fr, "SPII") || !strcmp(fr, "IMAGE_SAFETY"))) {
        m = "content_filter";
    }
    if (tools && strcmp(m, "length")) {
        m = "tool_calls";
    }
    return m;
}

/* Every unary-success-*.json (and the candidate-bearing unary-failure ones)
 * becomes a well-formed chat.completion that says what the recording said. */
static void check_unary_fixture(const char *path)
{
    json_t *native = json_file(path);
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    json_t *r = T->chat_response(tp, native, &X, &u);
    const json_t *choices, *cands = json_object_get(native, "candidates");
    const json_t *meta = json_object_get(native, "usageMetadata");
    size_t i;

    ck_assert_msg(r != NULL, "%s", path);
    ck_assert_str_eq(sget(r, "object"), "chat.completion");
    ck_assert_str_eq(sget(r, "id"), X.id);
    ck_assert_str_eq(sget(r, "model"), X.model);
    choices = json_object_get(r, "choices");
    ck_assert_msg(json_array_size(choices) >= 1, "%s: no choices", path);
    if (json_array_size(cands)) {
        ck_assert_int_eq(json_array_size(choices), json_array_size(cands));
    }
    for (i = 0; i < json_array_size(choices); i++) {
        const json_t *c = json_array_get(choices, i);
        const json_t *cand = json_array_get(cands, i);
        const json_t *content = jget(c, "message.content");
        const json_t *calls = jget(c, "message.tool_calls");
        const json_t *parts = jget(cand, "content.parts");
        size_t k, ncalls = 0;

        ck_assert(json_is_integer(json_object_get(c, "index")));
        ck_assert_str_eq(sget(c, "message.role"), "assistant");
        ck_assert(json_is_string(content) || json_is_null(content));
        for (k = 0; k < json_array_size(parts); k++) {
            const json_t *fc = jget(json_array_get(parts, k), "functionCall");
            json_t *args, *want;
            if (!json_is_object(fc)) {
                continue;
            }
            ck_assert_str_eq(sget(calls, apr_psprintf(tp, "%d.function.name", (int)ncalls)),
                             json_string_value(json_object_get(fc, "name")));
            ck_assert_str_eq(sget(calls, apr_psprintf(tp, "%d.type", (int)ncalls)), "function");
            ck_assert(strncmp(sget(calls, apr_psprintf(tp, "%d.id", (int)ncalls)), "call_", 5) == 0);
            args = ut_json(sget(calls, apr_psprintf(tp, "%d.function.arguments", (int)ncalls)));
            want = json_object_get(fc, "args");
            want = json_is_object(want) ? json_incref(want) : json_object();
            ck_assert_msg(json_equal(args, want), "%s: args %s", path,
                          sget(calls, apr_psprintf(tp, "%d.function.arguments",
                                                   (int)ncalls)));
            json_decref(want);
            json_decref(args);
            ncalls++;
        }
        ck_assert_int_eq(json_array_size(calls), ncalls);
        if (cand) {
            const char *want = expected_text(native, i);
            if (*want) {
                ck_assert_str_eq(json_string_value(content), want);
            }
            else if (json_is_string(content)) {
                ck_assert_str_eq(json_string_value(content), "");
            }
            ck_assert_str_eq(sget(c, "finish_reason"),
                             expected_finish(sget(cand, "finishReason"),
                                             ncalls > 0));
        }
        else {
            ck_assert_str_eq(sget(c, "finish_reason"),
                             sget(native, "promptFeedback.blockReason")
                             ? "content_filter" : "stop");
        }
    }
    if (json_is_object(meta)) {
        json_int_t pt = json_integer_value(json_object_get(meta, "promptTokenCount"))
                      + json_integer_value(json_object_get(meta, "toolUsePromptTokenCount"));
        json_int_t ct = json_integer_value(json_object_get(meta, "candidatesTokenCount"))
                      + json_integer_value(json_object_get(meta, "thoughtsTokenCount"));
        ck_assert_int_eq(iget(r, "usage.prompt_tokens"), pt);
        ck_assert_int_eq(iget(r, "usage.completion_tokens"), ct);
        ck_assert_int_eq(u.prompt_tokens, pt);
        ck_assert_int_eq(u.completion_tokens, ct);
        if (json_object_get(meta, "totalTokenCount")) {
            ck_assert_int_eq(u.total_tokens,
                json_integer_value(json_object_get(meta, "totalTokenCount")));
        }
        if (json_object_get(meta, "cachedContentTokenCount")) {
            ck_assert_int_eq(iget(r, "usage.prompt_tokens_details.cached_tokens"),
                json_integer_value(json_object_get(meta, "cachedContentTokenCount")));
        }
    }
    json_decref(r);
    json_decref(native);
}

START_TEST(resp_unary_fixtures)
{
    static const char *const subs[] = { "googleai/", "vertexai/", NULL };
    int s, i, n = 0;

    for (s = 0; subs[s]; s++) {
        apr_array_header_t *a = ut_fixture_glob(apr_pstrcat(tp, "gemini/", subs[s], "unary-success-*.json", NULL), 1);
        for (i = 0; i < a->nelts; i++) {
            json_t *j = json_file(APR_ARRAY_IDX(a, i, const char *));
            if (!json_object_get(j, "candidates")
                && !json_object_get(j, "promptFeedback")
                && !json_object_get(j, "usageMetadata")) {
                /* Imagen predictions, countTokens...: not chat answers */
                ck_assert_ptr_null(T->chat_response(tp, j, &X, NULL));
            }
            else {
                check_unary_fixture(APR_ARRAY_IDX(a, i, const char *));
                n++;
            }
            json_decref(j);
        }
        /* failures that are GenerateContentResponses, not google.rpc errors */
        a = ut_fixture_glob(apr_pstrcat(tp, "gemini/", subs[s], "unary-failure-*.json", NULL), 1);
        for (i = 0; i < a->nelts; i++) {
            json_t *j = json_file(APR_ARRAY_IDX(a, i, const char *));
            if (!json_object_get(j, "error")
                && !json_object_get(j, "candidates")
                && !json_object_get(j, "promptFeedback")
                && !json_object_get(j, "usageMetadata")) {
                ck_assert_ptr_null(T->chat_response(tp, j, &X, NULL));
            }
            else if (!json_object_get(j, "error")) {
                check_unary_fixture(APR_ARRAY_IDX(a, i, const char *));
                n++;
            }
            json_decref(j);
        }
    }
    ck_assert_int_ge(n, 50);
}
END_TEST

START_TEST(resp_fixture_spot_checks)
{
    json_t *n = ut_fixture_json(apr_pstrcat(tp, "gemini/vertexai/",
        "unary-success-function-call-parallel-calls.json", NULL));
    json_t *r = T->chat_response(tp, n, &X, NULL);
    ck_assert_str_eq(sget(r, "choices.0.finish_reason"), "tool_calls");
    ck_assert_int_ge(json_array_size(jget(r, "choices.0.message.tool_calls")), 2);
    ck_assert_str_ne(sget(r, "choices.0.message.tool_calls.0.id"),
                     sget(r, "choices.0.message.tool_calls.1.id"));
    json_decref(r);
    json_decref(n);

    n = ut_fixture_json(apr_pstrcat(tp, "gemini/vertexai/",
        "unary-failure-prompt-blocked-safety.json", NULL));
    r = T->chat_response(tp, n, &X, NULL);
    ck_assert_str_eq(sget(r, "choices.0.finish_reason"), "content_filter");
    json_decref(r);
    json_decref(n);

    /* thought summaries never reach the client */
    n = ut_fixture_json(apr_pstrcat(tp, "gemini/googleai/",
        "unary-success-thinking-reply-thought-summary.json", NULL));
    r = T->chat_response(tp, n, &X, NULL);
    {
        const json_t *parts = jget(n, "candidates.0.content.parts");
        size_t i;
        int thoughts = 0;
        for (i = 0; i < json_array_size(parts); i++) {
            const json_t *p = json_array_get(parts, i);
            if (json_is_true(json_object_get(p, "thought"))) {
                ck_assert_ptr_null(strstr(sget(r, "choices.0.message.content"),
                                          sget(p, "text")));
                thoughts++;
            }
        }
        ck_assert_int_eq(thoughts, 1);
    }
    json_decref(r);
    json_decref(n);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static llmgw_error_t xerr(int status, const char *body)
{
    llmgw_error_t e;
    memset(&e, 0x5a, sizeof(e));
    T->error(tp, status, body, body ? strlen(body) : 0, &e);
    ck_assert_ptr_nonnull(e.message);
    ck_assert_ptr_nonnull(e.type);
    return e;
}

static llmgw_error_t xerr_file(const char *sub, const char *name)
{
    apr_size_t len;
    char *b = ut_fixture(apr_pstrcat(tp, "gemini/", sub, name, NULL), &len);
    json_t *j = json_loadb(b, len, 0, NULL);
    int status = j ? (int)json_integer_value(jget(j, "error.code")) : 404;
    llmgw_error_t e;

    json_decref(j);
    memset(&e, 0x5a, sizeof(e));
    T->error(tp, status, b, len, &e);
    ck_assert_ptr_nonnull(e.message);
    /* never leak the (debug) key material of the details */
    ck_assert_ptr_null(strstr(e.message, "AIzv00G7"));
    ck_assert_ptr_null(e.details);
    return e;
}

START_TEST(error_quota_retry_info)
{
    llmgw_error_t e = xerr_file("vertexai/", "unary-failure-quota-exceeded.json");
    ck_assert_int_eq(e.status, 429);
    ck_assert_str_eq(e.type, "rate_limit_error");
    ck_assert_str_eq(e.code, "RESOURCE_EXHAUSTED");
    ck_assert_int_eq(e.upstream_status, 429);
    ck_assert_ptr_nonnull(strstr(e.message, "Quota exceeded"));
    /* the recording has ErrorInfo and Help but no RetryInfo */
    ck_assert_int_eq(e.retry_after, -1);
    /* the same body with Google's RetryInfo detail added */
    {
        json_t *j = ut_fixture_json(apr_pstrcat(tp, "gemini/vertexai/",
                                   "unary-failure-quota-exceeded.json", NULL));
        char *b;
        json_array_append_new((json_t *)jget(j, "error.details"), json_pack(
            "{s:s,s:s}", "@type", "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay", "11.678940716s"));
        b = json_dumps(j, 0);
        memset(&e, 0, sizeof(e));
        T->error(tp, 429, b, strlen(b), &e);
        ck_assert_int_eq(e.status, 429);
        ck_assert_str_eq(e.type, "rate_limit_error");
        ck_assert_int_eq(e.retry_after, 12);
        free(b);
        json_decref(j);
    }
}
END_TEST

START_TEST(error_retry_delays)
{
    static const struct { const char *delay; long secs; } cases[] = {
        { "3s", 3 }, { "1.5s", 2 }, { "0.000001s", 1 }, { "0s", 0 },
        { "30.000s", 30 }, { "abc", -1 }, { "5", -1 }, { "-3s", -1 },
        { "2m", -1 }, { NULL, 0 }
    };
    int i;

    for (i = 0; cases[i].delay; i++) {
        llmgw_error_t e = xerr(429, apr_psprintf(tp,
            "{\"error\":{\"code\":429,\"message\":\"slow down\",\"status\":\"RESOURCE_EXHAUSTED\","
            "\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\"},"
            "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"%s\"}]}}",
            cases[i].delay));
        ck_assert_msg(e.retry_after == cases[i].secs, "%s -> %ld",
                      cases[i].delay, e.retry_after);
        ck_assert_str_eq(e.message, "slow down");
    }
}
END_TEST

START_TEST(error_fixtures)
{
    llmgw_error_t e;

    e = xerr_file("googleai/", "unary-failure-api-key.json");
    ck_assert_int_eq(e.status, 401);
    ck_assert_str_eq(e.type, "authentication_error");
    ck_assert_str_eq(e.code, "INVALID_ARGUMENT");
    e = xerr_file("vertexai/", "unary-failure-api-key.json");
    ck_assert_int_eq(e.status, 401);
    e = xerr_file("vertexai/", "streaming-failure-api-key.txt");
    ck_assert_int_eq(e.status, 401);

    e = xerr_file("googleai/", "unary-failure-unknown-model.json");
    ck_assert_int_eq(e.status, 404);
    ck_assert_str_eq(e.type, "invalid_request_error");
    ck_assert_str_eq(e.code, "model_not_found");
    e = xerr_file("vertexai/", "unary-failure-model-not-found.json");
    ck_assert_str_eq(e.code, "model_not_found");
    e = xerr_file("vertexai/", "streaming-failure-unknown-model.txt");
    ck_assert_int_eq(e.status, 404);
    ck_assert_str_eq(e.code, "model_not_found");
    e = xerr_file("vertexai/", "unary-failure-context-cache-not-found.json");
    ck_assert_int_eq(e.status, 404);
    ck_assert_str_eq(e.code, "NOT_FOUND");

    e = xerr_file("googleai/", "unary-failure-generativelanguage-api-not-enabled.json");
    ck_assert_int_eq(e.status, 403);
    ck_assert_str_eq(e.type, "permission_error");
    ck_assert_str_eq(e.code, "PERMISSION_DENIED");
    e = xerr_file("vertexai/", "unary-failure-iam-permission-denied.json");
    ck_assert_int_eq(e.status, 403);
    e = xerr_file("vertexai/", "unary-failure-firebaseml-api-not-enabled.json");
    ck_assert_int_eq(e.status, 403);

    e = xerr_file("vertexai/", "unary-failure-unsupported-user-location.json");
    ck_assert_int_eq(e.status, 400);
    ck_assert_str_eq(e.type, "invalid_request_error");
    ck_assert_str_eq(e.code, "FAILED_PRECONDITION");
    e = xerr_file("vertexai/", "unary-failure-http-error.json");
    ck_assert_int_eq(e.status, 400);
    e = xerr_file("vertexai/", "unary-failure-image-rejected.json");
    ck_assert_int_eq(e.status, 400);
    ck_assert_str_eq(e.code, "INVALID_ARGUMENT");
    ck_assert_str_eq(e.message, "Request contains an invalid argument.");
    e = xerr_file("vertexai/", "streaming-failure-image-rejected.txt");
    ck_assert_int_eq(e.status, 400);
    e = xerr_file("vertexai/", "unary-failure-invalid-context-cache-id.json");
    ck_assert_int_eq(e.status, 400);

    /* every google.rpc error fixture maps to a sane status */
    {
        static const char *const subs[] = { "googleai/", "vertexai/", NULL };
        int s, i;
        for (s = 0; subs[s]; s++) {
            apr_array_header_t *a = ut_fixture_glob(apr_pstrcat(tp, "gemini/", subs[s], "unary-failure-*.json", NULL), 1);
            for (i = 0; i < a->nelts; i++) {
                const char *p = APR_ARRAY_IDX(a, i, const char *);
                json_t *j = json_file(p);
                if (json_object_get(j, "error")) {
                    e = xerr_file(subs[s], strrchr(p, '/') + 1);
                    ck_assert_msg(e.status >= 400 && e.status < 600, "%s", p);
                    ck_assert_str_eq(e.message, sget(j, "error.message"));
                    ck_assert_int_eq(e.upstream_status,
                                     json_integer_value(jget(j, "error.code")));
                }
                json_decref(j);
            }
        }
    }
}
END_TEST

START_TEST(error_statuses_and_non_json)
{
    llmgw_error_t e;

    e = xerr(500, "{\"error\":{\"code\":500,\"message\":\"Internal error\",\"status\":\"INTERNAL\"}}");
    ck_assert_int_eq(e.status, 502);
    ck_assert_str_eq(e.type, "provider_error");
    ck_assert_int_eq(e.upstream_status, 500);
    ck_assert_str_eq(e.code, "INTERNAL");
    e = xerr(503, "{\"error\":{\"code\":503,\"message\":\"overloaded\",\"status\":\"UNAVAILABLE\"}}");
    ck_assert_int_eq(e.status, 502);
    ck_assert_int_eq(e.upstream_status, 503);
    e = xerr(401, "{\"error\":{\"code\":401,\"message\":\"no\",\"status\":\"UNAUTHENTICATED\"}}");
    ck_assert_int_eq(e.status, 401);
    ck_assert_str_eq(e.type, "authentication_error");
    e = xerr(429, "{\"error\":{\"code\":429,\"message\":\"m\",\"status\":\"RESOURCE_EXHAUSTED\"}}");
    ck_assert_int_eq(e.status, 429);
    ck_assert_int_eq(e.retry_after, -1);

    {
        apr_size_t len;
        char *html = ut_fixture(apr_pstrcat(tp, "gemini/vertexai/",
                           "unary-failure-invalid-location-url-not-found.html", NULL), &len);
        memset(&e, 0, sizeof(e));
        T->error(tp, 404, html, len, &e);
        ck_assert_int_eq(e.status, 404);
        ck_assert_ptr_null(strstr(e.message, "<"));
    }
    e = xerr(502, "<html>bad gateway</html>");
    ck_assert_int_eq(e.status, 502);
    ck_assert_str_eq(e.type, "provider_error");
    ck_assert_int_eq(e.upstream_status, 502);
    e = xerr(400, NULL);
    ck_assert_int_eq(e.status, 400);
    e = xerr(429, "");
    ck_assert_int_eq(e.status, 429);
    ck_assert_str_eq(e.type, "rate_limit_error");
    e = xerr(418, "{\"error\":5}");
    ck_assert_int_eq(e.status, 418);
    e = xerr(400, "[{\"error\":{\"code\":400,\"message\":\"wrapped\",\"status\":\"INVALID_ARGUMENT\"}}]");
    ck_assert_str_eq(e.message, "wrapped");
    e = xerr(400, "{\"error\":{\"code\":\"x\",\"message\":5,\"status\":[],\"details\":{}}}");
    ck_assert_int_eq(e.status, 400);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Embeddings                                                          */
/* ------------------------------------------------------------------ */

START_TEST(embeddings)
{
    llmgw_xlate_ctx_t x = X;
    const char *err;
    json_t *in, *out;
    llmgw_usage_t u = LLMGW_USAGE_INIT;

    x.model = "text-embedding-004";
    in = ut_json("{\"model\":\"text-embedding-004\",\"input\":[\"a\",\"b\"],\"dimensions\":8}");
    out = T->embeddings_request(tp, in, &x, &err);
    assert_json_eq(out, "{\"requests\":["
        "{\"model\":\"models/text-embedding-004\",\"content\":{\"parts\":[{\"text\":\"a\"}]},\"outputDimensionality\":8},"
        "{\"model\":\"models/text-embedding-004\",\"content\":{\"parts\":[{\"text\":\"b\"}]},\"outputDimensionality\":8}]}");
    json_decref(out);
    json_decref(in);

    in = ut_json("{\"input\":\"one\"}");
    out = T->embeddings_request(tp, in, &x, &err);
    assert_json_eq(out, "{\"requests\":[{\"model\":\"models/text-embedding-004\","
                        "\"content\":{\"parts\":[{\"text\":\"one\"}]}}]}");
    json_decref(out);
    json_decref(in);

    {
        static const char *const bad[] = {
            "{}", "{\"input\":[]}", "{\"input\":[1,2]}", "{\"input\":5}",
            "{\"input\":\"x\",\"dimensions\":\"8\"}", "[]", NULL
        };
        int i;
        for (i = 0; bad[i]; i++) {
            in = ut_json(bad[i]);
            err = NULL;
            ck_assert_ptr_null(T->embeddings_request(tp, in, &x, &err));
            ck_assert_ptr_nonnull(err);
            json_decref(in);
        }
    }

    in = ut_json("{\"embeddings\":[{\"values\":[0.5,-1]},{\"values\":[2]}]}");
    out = T->embeddings_response(tp, in, &x, &u);
    assert_json_eq(out, "{\"object\":\"list\",\"data\":["
        "{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.5,-1]},"
        "{\"object\":\"embedding\",\"index\":1,\"embedding\":[2]}],"
        "\"model\":\"text-embedding-004\",\"usage\":{\"prompt_tokens\":0,\"total_tokens\":0}}");
    json_decref(out);
    json_decref(in);

    in = ut_json("{\"embedding\":{\"values\":[1]},\"usageMetadata\":{\"promptTokenCount\":3}}");
    out = T->embeddings_response(tp, in, &x, &u);
    ck_assert_int_eq(iget(out, "usage.prompt_tokens"), 3);
    ck_assert_int_eq(iget(out, "usage.total_tokens"), 3);
    ck_assert_int_eq(u.prompt_tokens, 3);
    ck_assert_int_eq(json_array_size(json_object_get(out, "data")), 1);
    json_decref(out);
    json_decref(in);

    in = ut_json("{\"embeddings\":[5,{\"values\":\"x\"}]}");
    out = T->embeddings_response(tp, in, &x, &u);
    ck_assert_int_eq(json_array_size(jget(out, "data.0.embedding")), 0);
    json_decref(out);
    json_decref(in);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Streams                                                             */
/* ------------------------------------------------------------------ */



static int sink_emit(void *baton, const char *data, apr_size_t len)
{
    sink_t *s = baton;
    json_error_t e;
    json_t *j = json_loadb(data, len, 0, &e);
    ck_assert_msg(j != NULL, "emitted invalid JSON: %.*s", (int)len, data);
    ck_assert_ptr_null(memchr(data, '\n', len));
    APR_ARRAY_PUSH(s->chunks, json_t *) = j;
    return 0;
}

static sink_t *sink_new(void)
{
    sink_t *s = apr_pcalloc(tp, sizeof(*s));
    s->chunks = apr_array_make(tp, 16, sizeof(json_t *));
    return s;
}

static void sink_free(sink_t *s)
{
    int i;
    for (i = 0; i < s->chunks->nelts; i++) {
        json_decref(APR_ARRAY_IDX(s->chunks, i, json_t *));
    }
    s->chunks->nelts = 0;
}

typedef struct {
    int index;
    int first_has_role;
    const char *text;
    json_t *calls;              /* [{id, name, args (string)}] */
    const char *finish;
    int nfinish;
} got_choice_t;

typedef struct {
    got_choice_t ch[16];
    int n;
    const json_t *usage;
    const json_t *error;
    int after_error;            /* chunks emitted after the error */
    int after_finish;           /* content chunks after a finish_reason */
    json_t *reduced;            /* the chunks before any error, reduced */
} assembled_t;

static got_choice_t *got_choice(assembled_t *a, int index, int *created)
{
    int i;
    *created = 0;
    for (i = 0; i < a->n; i++) {
        if (a->ch[i].index == index) {
            return &a->ch[i];
        }
    }
    ck_assert_int_lt(a->n, 16);
    memset(&a->ch[a->n], 0, sizeof(got_choice_t));
    a->ch[a->n].index = index;
    a->ch[a->n].text = "";
    a->ch[a->n].calls = json_array();
    *created = 1;
    return &a->ch[a->n++];
}

/* Text, tool calls, finish reason and usage, from the shared reducer
 * (llmgw_stream_reduce) of the chunks before any error. */
static void reduce(const llmgw_buf_t *sse, assembled_t *a, const char *fx)
{
    const json_t *choices, *ch;
    size_t i;

    if (sse->len == 0) {
        return;
    }
    a->reduced = llmgw_stream_reduce(tp, sse->data, sse->len, NULL);
    ck_assert_msg(a->reduced != NULL, "%s: the reducer refused the stream",
                  fx);
    choices = json_object_get(a->reduced, "choices");
    json_array_foreach(choices, i, ch) {
        const json_t *msg = json_object_get(ch, "message");
        const json_t *tcs = json_object_get(msg, "tool_calls"), *tc;
        int created;
        got_choice_t *g = got_choice(a, (int)iget(ch, "index"), &created);
        size_t k;

        ck_assert_msg(!created, "%s: choice %d only in the reduction", fx,
                      g->index);
        if (sget(msg, "content")) {
            g->text = sget(msg, "content");
        }
        ck_assert_int_eq(json_array_size(tcs), json_array_size(g->calls));
        json_array_clear(g->calls);
        json_array_foreach(tcs, k, tc) {
            json_array_append_new(g->calls, json_pack("{s:s,s:s,s:s}",
                "id", sget(tc, "id"), "name", sget(tc, "function.name"),
                "args", sget(tc, "function.arguments")));
        }
        if (g->nfinish) {
            g->finish = sget(ch, "finish_reason");
        }
    }
    a->usage = json_object_get(a->reduced, "usage");
}

/* Checks the structure of each chunk (id, model, created; role only in
 * the first chunk of a choice; tool calls started in index order with id,
 * type and name; usage chunks without choices) and reduces them. */
static void assemble(const sink_t *s, assembled_t *a, const char *fx)
{
    int i;
    llmgw_buf_t sse;

    memset(a, 0, sizeof(*a));
    llmgw_buf_init(&sse, tp, 1024);
    for (i = 0; i < s->chunks->nelts; i++) {
        const json_t *c = APR_ARRAY_IDX(s->chunks, i, json_t *);
        const json_t *choices;
        size_t k;

        if (a->error) {
            a->after_error++;
            continue;
        }
        if (json_object_get(c, "error")) {
            a->error = c;
            continue;
        }
        {
            char *txt = json_dumps(c, JSON_COMPACT);
            llmgw_buf_append(&sse, "data: ", 6);
            llmgw_buf_append(&sse, txt, strlen(txt));
            llmgw_buf_append(&sse, "\n\n", 2);
            free(txt);
        }
        ck_assert_str_eq(sget(c, "object"), "chat.completion.chunk");
        ck_assert_str_eq(sget(c, "id"), X.id);
        ck_assert_str_eq(sget(c, "model"), X.model);
        ck_assert_int_eq(iget(c, "created"), X.created);
        choices = json_object_get(c, "choices");
        ck_assert(json_is_array(choices));
        if (json_object_get(c, "usage")) {
            ck_assert_msg(json_array_size(choices) == 0, "%s", fx);
            continue;
        }
        for (k = 0; k < json_array_size(choices); k++) {
            const json_t *ch = json_array_get(choices, k);
            const json_t *delta = json_object_get(ch, "delta");
            const json_t *fr = json_object_get(ch, "finish_reason");
            const json_t *tcs = json_object_get(delta, "tool_calls");
            int created;
            got_choice_t *g = got_choice(a, (int)iget(ch, "index"), &created);
            size_t t;

            ck_assert(json_is_object(delta));
            ck_assert(json_is_null(json_object_get(ch, "logprobs")));
            if (created) {
                g->first_has_role = sget(delta, "role")
                                    && !strcmp(sget(delta, "role"), "assistant");
            }
            if (g->nfinish && (json_object_size(delta) || json_is_string(fr))) {
                a->after_finish++;
            }
            for (t = 0; t < json_array_size(tcs); t++) {
                const json_t *tc = json_array_get(tcs, t);
                json_int_t ix = iget(tc, "index");
                if ((size_t)ix == json_array_size(g->calls)) {
                    /* the first delta of a call must carry id, type, name */
                    ck_assert_ptr_nonnull(sget(tc, "id"));
                    ck_assert_str_eq(sget(tc, "type"), "function");
                    ck_assert_ptr_nonnull(sget(tc, "function.name"));
                    json_array_append_new(g->calls, json_object());
                }
                else {
                    ck_assert_ptr_nonnull(json_array_get(g->calls, (size_t)ix));
                }
            }
            if (json_is_string(fr)) {
                g->nfinish++;
            }
            else {
                ck_assert(json_is_null(fr));
            }
        }
    }
    reduce(&sse, a, fx);
}

static void assembled_free(assembled_t *a)
{
    int i;
    for (i = 0; i < a->n; i++) {
        json_decref(a->ch[i].calls);
    }
    json_decref(a->reduced);
}

/* What the recording says, computed straight from its events. */
typedef struct {
    int index;
    const char *text;
    json_t *calls;              /* [{name, args}] */
    const char *last_finish;
} want_choice_t;

typedef struct {
    want_choice_t ch[16];
    int n;
    json_t *usage;              /* last usageMetadata */
    int blocked;
    int error;                  /* the stream must end in an error envelope */
    int recognized;
} want_t;

static want_choice_t *want_choice(want_t *w, int index)
{
    int i;
    for (i = 0; i < w->n; i++) {
        if (w->ch[i].index == index) {
            return &w->ch[i];
        }
    }
    ck_assert_int_lt(w->n, 16);
    memset(&w->ch[w->n], 0, sizeof(want_choice_t));
    w->ch[w->n].index = index;
    w->ch[w->n].text = "";
    w->ch[w->n].calls = json_array();
    return &w->ch[w->n++];
}

static void want_event(want_t *w, const char *data)
{
    json_t *j = json_loads(data, 0, NULL);
    const json_t *cands;
    size_t i;

    if (w->error) {
        json_decref(j);
        return;
    }
    if (!json_is_object(j) || json_object_get(j, "error")) {
        w->error = 1;
        json_decref(j);
        return;
    }
    cands = json_object_get(j, "candidates");
    if (!cands && !json_object_get(j, "promptFeedback")
        && !json_object_get(j, "usageMetadata")) {
        json_decref(j);
        return;
    }
    w->recognized++;
    if (json_is_object(json_object_get(j, "usageMetadata"))) {
        json_decref(w->usage);
        w->usage = json_incref(json_object_get(j, "usageMetadata"));
    }
    if (sget(j, "promptFeedback.blockReason") && json_array_size(cands) == 0) {
        w->blocked = 1;
    }
    for (i = 0; i < json_array_size(cands); i++) {
        const json_t *c = json_array_get(cands, i);
        const json_t *ix = json_object_get(c, "index");
        const json_t *parts = jget(c, "content.parts");
        want_choice_t *wc = want_choice(w, json_is_integer(ix)
                                        ? (int)json_integer_value(ix) : (int)i);
        size_t k;

        for (k = 0; k < json_array_size(parts); k++) {
            const json_t *p = json_array_get(parts, k);
            const json_t *fc = json_object_get(p, "functionCall");
            if (json_is_string(json_object_get(p, "text"))
                && !json_is_true(json_object_get(p, "thought"))) {
                wc->text = apr_pstrcat(tp, wc->text, sget(p, "text"), NULL);
            }
            if (json_is_object(fc)) {
                json_t *args = json_object_get(fc, "args");
                json_array_append_new(wc->calls, json_pack("{s:s,s:o}",
                    "name", sget(fc, "name"),
                    "args", json_is_object(args) ? json_incref(args)
                                                 : json_object()));
            }
        }
        if (sget(c, "finishReason")) {
            wc->last_finish = apr_pstrdup(tp, sget(c, "finishReason"));
        }
    }
    json_decref(j);
}

/* The recorded body's google.rpc error that is not an SSE event, if any:
 * the whole body of a failed request, or raw JSON after the events. */
static const char *raw_error_text(const char *body)
{
    const char *p = body;
    while (p && *p) {
        if (*p == '{') {
            json_t *j = json_loads(p, JSON_DISABLE_EOF_CHECK, NULL);
            int is_err = json_object_get(j, "error") != NULL;
            json_decref(j);
            return is_err ? p : NULL;
        }
        p = strchr(p, '\n');
        if (p) {
            p++;
        }
    }
    return NULL;
}

/* Finish expected from the table below, for a few fixtures by name. */
static const char *const spot[][2] = {
    { "googleai/streaming-failure-image-rejected.txt", "error" },
    { "googleai/streaming-failure-prompt-blocked-safety.txt", "content_filter" },
    { "googleai/streaming-failure-recitation-no-content.txt", "content_filter" },
    { "googleai/streaming-success-basic-reply-short.txt", "stop" },
    { "googleai/streaming-success-thinking-function-call-thought-summary-signature.txt", "tool_calls" },
    { "vertexai/streaming-failure-api-key.txt", "error" },
    { "vertexai/streaming-failure-empty-content.txt", "error" },   /* no finishReason: cut */
    { "vertexai/streaming-failure-error-mid-stream.txt", "error" },
    { "vertexai/streaming-failure-finish-reason-safety.txt", "content_filter" },
    { "vertexai/streaming-failure-http-error.txt", "error" },
    { "vertexai/streaming-failure-image-rejected.txt", "error" },
    { "vertexai/streaming-failure-invalid-json.txt", "error" },
    { "vertexai/streaming-failure-malformed-content.txt", "error" },   /* no finishReason: cut */
    { "vertexai/streaming-failure-prompt-blocked-safety-with-message.txt", "content_filter" },
    { "vertexai/streaming-failure-prompt-blocked-safety.txt", "content_filter" },
    { "vertexai/streaming-failure-recitation-no-content.txt", "content_filter" },
    { "vertexai/streaming-failure-unknown-finish-enum.txt", "stop" },
    { "vertexai/streaming-failure-unknown-model.txt", "error" },
    { "vertexai/streaming-success-function-call-short.txt", "tool_calls" },
    { "vertexai/streaming-success-quotes-escaped.txt", "error" },   /* no finishReason: cut */
    { NULL, NULL }
};

static void check_stream_fixture(const char *sub, const char *path)
{
    apr_size_t len;
    char *body = ut_slurp(path, &len);
    apr_array_header_t *evs = ut_sse_events(body, len);
    llmgw_stream_t *st;
    sink_t *sink = sink_new();
    want_t w;
    assembled_t a;
    const char *raw = raw_error_text(body);
    const char *name = apr_pstrcat(tp, sub, strrchr(path, '/') + 1, NULL);
    llmgw_usage_t su;
    int i, rv = LLMGW_XLATE_CONTINUE;

    memset(&w, 0, sizeof(w));
    for (i = 0; i < evs->nelts; i++) {
        want_event(&w, UT_EV(evs, i).data);
    }
    if (raw || w.recognized == 0) {
        w.error = 1;
    }
    for (i = 0; i < w.n; i++) {
        if (!w.ch[i].last_finish) {
            w.error = 1;        /* a candidate without finishReason: cut */
        }
    }

    st = T->stream_new(tp, &X);
    for (i = 0; i < evs->nelts && rv == LLMGW_XLATE_CONTINUE; i++) {
        const char *d = UT_EV(evs, i).data;
        rv = T->stream_event(st, NULL, d, strlen(d), sink_emit, sink);
    }
    if (rv == LLMGW_XLATE_CONTINUE && raw && evs->nelts) {
        /* An error after events, recorded as raw JSON rather than as an SSE
         * event: the gateway hands such a body to the translator as data. */
        rv = T->stream_event(st, NULL, raw, strlen(raw), sink_emit, sink);
        ck_assert_msg(rv == LLMGW_XLATE_ERROR, "%s: mid-stream error", name);
    }
    if (rv == LLMGW_XLATE_CONTINUE) {
        rv = T->stream_finish(st, sink_emit, sink);
    }
    assemble(sink, &a, name);

    if (w.error) {
        ck_assert_msg(rv == LLMGW_XLATE_ERROR, "%s: rv %d", name, rv);
        ck_assert_msg(a.error != NULL, "%s: no error envelope", name);
        ck_assert_int_eq(a.after_error, 0);
        ck_assert_ptr_nonnull(sget(a.error, "error.message"));
        ck_assert_ptr_nonnull(sget(a.error, "error.type"));
        ck_assert_str_eq(sget(a.error, "error.request_id"), X.request_id);
        ck_assert_str_eq(sget(a.error, "error.provider"), X.provider);
        if (raw && evs->nelts == 0) {
            /* an HTTP error body: also check what T->error makes of it */
            llmgw_error_t e;
            json_t *j = json_loads(raw, JSON_DISABLE_EOF_CHECK, NULL);
            T->error(tp, (int)json_integer_value(jget(j, "error.code")),
                     raw, strlen(raw), &e);
            ck_assert_int_ge(e.status, 400);
            ck_assert_str_eq(e.message, sget(j, "error.message"));
            json_decref(j);
            ck_assert_str_eq(sget(a.error, "error.type"), "provider_error");
        }
    }
    else {
        ck_assert_msg(rv == LLMGW_XLATE_END, "%s: rv %d", name, rv);
        ck_assert_msg(a.error == NULL, "%s: unexpected error", name);
        ck_assert_int_eq(a.after_finish, 0);
        if (w.n == 0) {
            /* blocked prompt or no candidate: one empty choice */
            ck_assert_int_eq(a.n, 1);
            ck_assert(a.ch[0].first_has_role);
            ck_assert_str_eq(a.ch[0].finish, w.blocked ? "content_filter" : "stop");
            ck_assert_int_eq(a.ch[0].nfinish, 1);
        }
        ck_assert_int_eq(a.n, w.n ? w.n : 1);
        for (i = 0; i < w.n; i++) {
            want_choice_t *wc = &w.ch[i];
            int created;
            got_choice_t *g = got_choice(&a, wc->index, &created);
            size_t k;

            ck_assert_msg(!created, "%s: choice %d missing", name, wc->index);
            ck_assert_msg(g->first_has_role, "%s: first chunk lacks role", name);
            ck_assert_msg(!strcmp(g->text, wc->text),
                          "%s: text\n got [%s]\nwant [%s]", name, g->text, wc->text);
            ck_assert_int_eq(json_array_size(g->calls), json_array_size(wc->calls));
            for (k = 0; k < json_array_size(wc->calls); k++) {
                const json_t *gc = json_array_get(g->calls, k);
                const json_t *wcall = json_array_get(wc->calls, k);
                json_t *args = json_loads(sget(gc, "args"), 0, NULL);
                ck_assert_str_eq(sget(gc, "name"), sget(wcall, "name"));
                ck_assert_msg(json_equal(args, json_object_get(wcall, "args")),
                              "%s: args %s", name, sget(gc, "args"));
                ck_assert(!strncmp(sget(gc, "id"), "call_", 5));
                json_decref(args);
            }
            ck_assert_int_eq(g->nfinish, 1);
            ck_assert_str_eq(g->finish, expected_finish(wc->last_finish,
                             json_array_size(wc->calls) > 0));
        }
        /* the usage chunk equals the last usageMetadata */
        ck_assert_msg(a.usage != NULL, "%s: no usage chunk", name);
        {
            const json_t *m = w.usage;
            json_int_t pt = json_integer_value(jget(m, "promptTokenCount"))
                          + json_integer_value(jget(m, "toolUsePromptTokenCount"));
            json_int_t ct = json_integer_value(jget(m, "candidatesTokenCount"))
                          + json_integer_value(jget(m, "thoughtsTokenCount"));
            json_int_t tt = jget(m, "totalTokenCount")
                          ? json_integer_value(jget(m, "totalTokenCount")) : pt + ct;
            ck_assert_int_eq(iget(a.usage, "prompt_tokens"), pt);
            ck_assert_int_eq(iget(a.usage, "completion_tokens"), ct);
            ck_assert_int_eq(iget(a.usage, "total_tokens"), tt);
            T->stream_usage(st, &su);
            if (m) {
                ck_assert_int_eq(su.prompt_tokens, pt);
                ck_assert_int_eq(su.completion_tokens, ct);
                ck_assert_int_eq(su.total_tokens, tt);
            }
            else {
                ck_assert_int_eq(su.prompt_tokens, -1);
            }
        }
    }
    for (i = 0; spot[i][0]; i++) {
        if (!strcmp(spot[i][0], name)) {
            if (!strcmp(spot[i][1], "error")) {
                ck_assert_msg(a.error != NULL, "%s: expected an error", name);
            }
            else {
                ck_assert_msg(a.n >= 1 && a.ch[0].finish
                              && !strcmp(a.ch[0].finish, spot[i][1]),
                              "%s: finish %s, want %s", name,
                              a.n ? a.ch[0].finish : "(none)", spot[i][1]);
            }
        }
    }
    /* finishing again, or feeding after the end, emits nothing more */
    {
        int before = sink->chunks->nelts;
        T->stream_event(st, NULL, "{\"candidates\":[]}", 17, sink_emit, sink);
        T->stream_finish(st, sink_emit, sink);
        ck_assert_int_eq(sink->chunks->nelts, before);
    }
    for (i = 0; i < w.n; i++) {
        json_decref(w.ch[i].calls);
    }
    json_decref(w.usage);
    assembled_free(&a);
    sink_free(sink);
}

START_TEST(stream_fixtures)
{
    static const char *const subs[] = { "googleai/", "vertexai/", NULL };
    int s, i, n = 0, spots = 0;

    for (s = 0; subs[s]; s++) {
        apr_array_header_t *a = ut_fixture_glob(apr_pstrcat(tp, "gemini/", subs[s], "streaming-*.txt", NULL), 1);
        for (i = 0; i < a->nelts; i++, n++) {
            check_stream_fixture(subs[s], APR_ARRAY_IDX(a, i, const char *));
        }
    }
    for (i = 0; spot[i][0]; i++) {
        spots++;
    }
    ck_assert_int_ge(n, 39);
    ck_assert_int_eq(spots, 20);
}
END_TEST

/* Feeds data strings; returns the last rv. */
static int feed(llmgw_stream_t *st, sink_t *sink, const char *const *events)
{
    int rv = LLMGW_XLATE_CONTINUE;
    for (; *events && rv == LLMGW_XLATE_CONTINUE; events++) {
        rv = T->stream_event(st, NULL, *events, strlen(*events), sink_emit, sink);
    }
    return rv;
}

START_TEST(stream_chunks_shape)
{
    static const char *const events[] = {
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hm\",\"thought\":true}]},\"index\":0}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]},\"index\":0},"
        "{\"content\":{\"parts\":[{\"text\":\"Yo\"}]},\"index\":1}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":1}}},"
        "{\"functionCall\":{\"name\":\"g\"}}]},\"finishReason\":\"STOP\",\"index\":1}],"
        "\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":2,\"totalTokenCount\":6}}",
        "{\"candidates\":[{\"finishReason\":\"MAX_TOKENS\",\"index\":0}],"
        "\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":3,\"totalTokenCount\":7,"
        "\"cachedContentTokenCount\":2}}",
        NULL
    };
    sink_t *sink = sink_new();
    llmgw_stream_t *st = T->stream_new(tp, &X);
    json_t *c;
    llmgw_usage_t u;
    int n;

    ck_assert_int_eq(feed(st, sink, events), LLMGW_XLATE_CONTINUE);
    ck_assert_int_eq(T->stream_finish(st, sink_emit, sink), LLMGW_XLATE_END);
    n = sink->chunks->nelts;
    /* role(0), thought(0) as reasoning_content, text(0), role(1), text(1),
     * calls(1), finish(0), finish(1), usage */
    ck_assert_int_eq(n, 9);
    c = APR_ARRAY_IDX(sink->chunks, 0, json_t *);
    assert_json_eq(json_object_get(c, "choices"),
        "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
        "\"logprobs\":null,\"finish_reason\":null}]");
    c = APR_ARRAY_IDX(sink->chunks, 1, json_t *);
    assert_json_eq(jget(c, "choices.0.delta"), "{\"reasoning_content\":\"hm\"}");
    c = APR_ARRAY_IDX(sink->chunks, 2, json_t *);
    assert_json_eq(jget(c, "choices.0.delta"), "{\"content\":\"Hi\"}");
    c = APR_ARRAY_IDX(sink->chunks, 3, json_t *);
    ck_assert_int_eq(iget(c, "choices.0.index"), 1);
    ck_assert_str_eq(sget(c, "choices.0.delta.role"), "assistant");
    c = APR_ARRAY_IDX(sink->chunks, 5, json_t *);
    assert_json_eq(jget(c, "choices.0.delta"),
        "{\"tool_calls\":["
        "{\"index\":0,\"id\":\"call_abc123_1_0\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}},"
        "{\"index\":1,\"id\":\"call_abc123_1_1\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}");
    c = APR_ARRAY_IDX(sink->chunks, 6, json_t *);
    assert_json_eq(json_object_get(c, "choices"),
        "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}]");
    c = APR_ARRAY_IDX(sink->chunks, 7, json_t *);
    ck_assert_str_eq(sget(c, "choices.0.finish_reason"), "tool_calls");
    c = APR_ARRAY_IDX(sink->chunks, 8, json_t *);
    assert_json_eq(c, "{\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\","
        "\"created\":1700000000,\"model\":\"gemini-2.0-flash\",\"choices\":[],"
        "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":3,\"total_tokens\":7,"
        "\"prompt_tokens_details\":{\"cached_tokens\":2}}}");
    T->stream_usage(st, &u);
    ck_assert_int_eq(u.prompt_tokens, 4);
    ck_assert_int_eq(u.completion_tokens, 3);
    ck_assert_int_eq(u.total_tokens, 7);
    ck_assert_int_eq(u.cached_tokens, 2);
    sink_free(sink);

    /* without include_usage: no usage chunk */
    {
        llmgw_xlate_ctx_t x = X;
        static const char *const one[] = {
            "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"SAFETY\"}]}",
            NULL
        };
        x.include_usage = 0;
        st = T->stream_new(tp, &x);
        ck_assert_int_eq(feed(st, sink, one), LLMGW_XLATE_CONTINUE);
        ck_assert_int_eq(T->stream_finish(st, sink_emit, sink), LLMGW_XLATE_END);
        ck_assert_int_eq(sink->chunks->nelts, 3);
        ck_assert_str_eq(sget(APR_ARRAY_IDX(sink->chunks, 2, json_t *),
                              "choices.0.finish_reason"), "content_filter");
        sink_free(sink);
    }
}
END_TEST

/* The stream's events are read with the scanner (no tree): what jansson
 * refuses in a text is still a malformed event, escaped texts come out
 * as jansson writes them, the last of a repeated member wins. */
static int raw_emit(void *baton, const char *data, apr_size_t len)
{
    llmgw_buf_t *b = baton;
    llmgw_buf_append(b, data, len);
    llmgw_buf_append(b, "\n", 1);
    return 0;
}

static const char *raw_stream(const char *const *events, const apr_size_t *lens)
{
    llmgw_stream_t *st = T->stream_new(tp, &X);
    llmgw_buf_t b;
    int i, rv = LLMGW_XLATE_CONTINUE;

    llmgw_buf_init(&b, tp, 256);
    for (i = 0; events[i] && rv == LLMGW_XLATE_CONTINUE; i++) {
        rv = T->stream_event(st, NULL, events[i],
                             lens ? lens[i] : strlen(events[i]), raw_emit, &b);
    }
    if (rv == LLMGW_XLATE_CONTINUE) {
        T->stream_finish(st, raw_emit, &b);
    }
    return b.data ? b.data : "";
}

START_TEST(stream_scanner_reads)
{
    /* a raw NUL after a number, deep in the event */
    static const char nul_ev[] =
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
        "\"safetyRatings\":[{\"probabilityScore\":0.2\0,\"x\":1}]}]}";
    static const char *const malformed[] = {
        nul_ev,
        /* a key with a NUL, where the translator reads nothing */
        "{\"candidates\":[{\"citationMetadata\":{\"k\\u0000\":1}}]}",
        /* an integer beyond 64 bits, a real beyond a double */
        "{\"usageMetadata\":{\"promptTokenCount\":99999999999999999999}}",
        "{\"candidates\":[{\"avgLogprobs\":1e999}]}",
        "[{\"candidates\":[]},{\"candidates\":[]}]",
        NULL
    };
    const char *out;
    int i;

    for (i = 0; malformed[i]; i++) {
        const char *one[] = { malformed[i], NULL };
        apr_size_t lens[] = { i == 0 ? sizeof(nul_ev) - 1 : strlen(malformed[i]) };
        out = raw_stream(one, lens);
        ck_assert_msg(strstr(out, "the provider sent a malformed stream event")
                      && !strstr(out, "\"delta\""), "event %d: %s", i, out);
    }
    /* accepted: an underflowing real, a long integer within 64 bits */
    {
        const char *ok[] = {
            "{\"candidates\":[{\"avgLogprobs\":1e-999,\"index\":1,\"n\":-9000000000000000000,"
            "\"content\":{\"parts\":[{\"text\":\"u\"}]},\"finishReason\":\"STOP\"}]}",
            NULL
        };
        out = raw_stream(ok, NULL);
        ck_assert_msg(strstr(out, "\"choices\":[{\"index\":1,\"delta\":{\"content\":\"u\"}"),
                      "%s", out);
    }
    /* escapes written as jansson writes them; a thought is a C string */
    {
        const char *ev[] = {
            "{\"candidates\":[{\"content\":{\"parts\":["
            "{\"text\":\"\\u00e9\\u0041\\/\\n\\u0000z\"},"
            "{\"text\":\"t\\u0000cut\",\"thought\":true},"
            "{\"functionCall\":{\"name\":\"f\\u006e\",\"args\":{\"a\":1.50,\"b\":\"\\u0041\"}},"
            "\"thoughtSignature\":\"s\\u0041\"}]},"
            "\"finishReason\":\"MAX_\\u0054OKENS\"}]}",
            NULL
        };
        out = raw_stream(ev, NULL);
        ck_assert_msg(strstr(out, "\"delta\":{\"reasoning_content\":\"t\","
                             "\"content\":\"\xc3\xa9" "A/\\n\\u0000z\","
                             "\"tool_calls\":[{\"index\":0,\"id\":\"call_abc123_0_0\","
                             "\"type\":\"function\",\"function\":{\"name\":\"fn\","
                             "\"arguments\":\"{\\\"a\\\":1.5,\\\"b\\\":\\\"A\\\"}\"},"
                             "\"extra_content\":{\"google\":{\"thought_signature\":\"sA\"}}}]}"),
                      "%s", out);
        /* MAX_TOKENS: length, and the tool rule leaves length alone */
        ck_assert_msg(strstr(out, "\"finish_reason\":\"length\""), "%s", out);
    }
    /* repeated members: the last wins */
    {
        const char *ev[] = {
            "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"one\"}]},"
            "\"content\":{\"parts\":[{\"text\":\"two\",\"text\":\"three\"}]},"
            "\"finishReason\":\"SAFETY\",\"finishReason\":\"STOP\"}],"
            "\"usageMetadata\":{\"promptTokenCount\":1},"
            "\"usageMetadata\":{\"promptTokenCount\":2,\"candidatesTokenCount\":3}}",
            NULL
        };
        out = raw_stream(ev, NULL);
        ck_assert_msg(strstr(out, "\"delta\":{\"content\":\"three\"}")
                      && !strstr(out, "one") && !strstr(out, "\"two\"")
                      && strstr(out, "\"finish_reason\":\"stop\"")
                      && strstr(out, "\"usage\":{\"prompt_tokens\":2,"
                                "\"completion_tokens\":3,\"total_tokens\":5}"),
                      "%s", out);
    }
}
END_TEST

START_TEST(stream_logprobs)
{
    /* chosenCandidates with the same position's topCandidates; tokens
     * written as jansson writes the C string (cut at a NUL); repeated
     * members: the last wins; a missing token or number: "" and 0.0 */
    const char *ev[] = {
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]},\"index\":0,"
        "\"logprobsResult\":{\"topCandidates\":[{\"candidates\":["
        "{\"token\":\"H\\u0069\",\"logProbability\":-0.5},{\"token\":\"Yo\"}]},"
        "{\"candidates\":\"x\",\"candidates\":[{\"token\":\"a\\u0000b\",\"logProbability\":-2}]}],"
        "\"chosenCandidates\":[{\"token\":\"x\",\"token\":\"H\\u0069\",\"logProbability\":-0.5},"
        "{\"logProbability\":-0.25},{\"token\":\"z\",\"logProbability\":-1}]}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"!\"}]},\"index\":0,"
        "\"logprobsResult\":{\"chosenCandidates\":{},\"topCandidates\":[]}}]}",
        NULL
    };
    const char *out = raw_stream(ev, NULL);

    ck_assert_msg(strstr(out, "\"delta\":{\"content\":\"Hi\"},\"logprobs\":{\"content\":["
        "{\"token\":\"Hi\",\"logprob\":-0.5,\"bytes\":null,\"top_logprobs\":["
        "{\"token\":\"Hi\",\"logprob\":-0.5,\"bytes\":null},"
        "{\"token\":\"Yo\",\"logprob\":0.0,\"bytes\":null}]},"
        "{\"token\":\"\",\"logprob\":-0.25,\"bytes\":null,\"top_logprobs\":["
        "{\"token\":\"a\",\"logprob\":-2.0,\"bytes\":null}]},"
        "{\"token\":\"z\",\"logprob\":-1.0,\"bytes\":null,\"top_logprobs\":[]}],"
        "\"refusal\":null}"), "%s", out);
    /* chosenCandidates not an array: no logprobs */
    ck_assert_msg(strstr(out, "\"delta\":{\"content\":\"!\"},\"logprobs\":null"),
                  "%s", out);
}
END_TEST

START_TEST(stream_errors)
{
    sink_t *sink = sink_new();
    llmgw_stream_t *st;
    json_t *c;

    /* nothing received at all */
    st = T->stream_new(tp, &X);
    ck_assert_int_eq(T->stream_finish(st, sink_emit, sink), LLMGW_XLATE_ERROR);
    ck_assert_int_eq(sink->chunks->nelts, 1);
    c = APR_ARRAY_IDX(sink->chunks, 0, json_t *);
    ck_assert_str_eq(sget(c, "error.type"), "provider_error");
    ck_assert_str_eq(sget(c, "error.request_id"), "req-42");
    ck_assert_str_eq(sget(c, "error.provider"), "gem");
    ck_assert(json_is_true(jget(c, "error.retryable")));
    sink_free(sink);

    /* malformed JSON */
    st = T->stream_new(tp, &X);
    ck_assert_int_eq(T->stream_event(st, NULL, "{\"candidates\":[", 15,
                                     sink_emit, sink), LLMGW_XLATE_ERROR);
    ck_assert_int_eq(sink->chunks->nelts, 1);
    ck_assert_str_eq(sget(APR_ARRAY_IDX(sink->chunks, 0, json_t *), "error.type"),
                     "provider_error");
    sink_free(sink);

    /* a google.rpc error mid-stream keeps its meaning */
    {
        static const char *const ev[] = {
            "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}",
            "{\"error\":{\"code\":429,\"message\":\"Resource exhausted\",\"status\":\"RESOURCE_EXHAUSTED\"}}",
            "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"b\"}]}}]}",
            NULL
        };
        st = T->stream_new(tp, &X);
        ck_assert_int_eq(feed(st, sink, ev), LLMGW_XLATE_ERROR);
        ck_assert_int_eq(sink->chunks->nelts, 3);
        c = APR_ARRAY_IDX(sink->chunks, 2, json_t *);
        ck_assert_str_eq(sget(c, "error.type"), "rate_limit_error");
        ck_assert_str_eq(sget(c, "error.code"), "RESOURCE_EXHAUSTED");
        ck_assert_str_eq(sget(c, "error.message"), "Resource exhausted");
        ck_assert_str_eq(sget(c, "error.provider"), "gem");
        ck_assert_int_eq(T->stream_finish(st, sink_emit, sink), LLMGW_XLATE_END);
        ck_assert_int_eq(sink->chunks->nelts, 3);
        sink_free(sink);
    }

    /* odd but harmless events */
    {
        static const char *const ev[] = {
            "", "  ", "[DONE]", "{\"modelVersion\":\"x\"}",
            "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"w\"}]}}]}]",
            "{\"candidates\":5}", "{\"candidates\":[5,{\"content\":5},{\"index\":99999}]}",
            "{\"usageMetadata\":5}", "{\"promptFeedback\":{\"blockReason\":5}}",
            /* every candidate ends, else the stream was cut */
            "{\"candidates\":[{\"finishReason\":\"STOP\",\"index\":0},"
            "{\"finishReason\":\"STOP\",\"index\":1},"
            "{\"finishReason\":\"STOP\",\"index\":2}]}",
            NULL
        };
        st = T->stream_new(tp, &X);
        ck_assert_int_eq(feed(st, sink, ev), LLMGW_XLATE_CONTINUE);
        ck_assert_int_eq(T->stream_finish(st, sink_emit, sink), LLMGW_XLATE_END);
        sink_free(sink);
    }
    {
        static const char *const bad[] = { "5", "\"x\"", "null", "[1,2]", "{]", NULL };
        int i;
        for (i = 0; bad[i]; i++) {
            st = T->stream_new(tp, &X);
            ck_assert_int_eq(T->stream_event(st, NULL, bad[i], strlen(bad[i]),
                                             sink_emit, sink), LLMGW_XLATE_ERROR);
            sink_free(sink);
        }
    }
}
END_TEST

static int refuse_emit(void *baton, const char *data, apr_size_t len)
{
    (void)data;
    (void)len;
    ++*(int *)baton;
    return 1;
}

START_TEST(stream_client_gone)
{
    int calls = 0;
    llmgw_stream_t *st = T->stream_new(tp, &X);
    const char *ev = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}";

    ck_assert_int_eq(T->stream_event(st, NULL, ev, strlen(ev), refuse_emit, &calls),
                     LLMGW_XLATE_ERROR);
    ck_assert_int_eq(calls, 1);
}
END_TEST

START_TEST(stream_blocked_prompt)
{
    static const char *const ev[] = {
        "{\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},"
        "\"usageMetadata\":{\"promptTokenCount\":9,\"totalTokenCount\":9}}",
        NULL
    };
    sink_t *sink = sink_new();
    llmgw_stream_t *st = T->stream_new(tp, &X);

    ck_assert_int_eq(feed(st, sink, ev), LLMGW_XLATE_CONTINUE);
    ck_assert_int_eq(T->stream_finish(st, sink_emit, sink), LLMGW_XLATE_END);
    ck_assert_int_eq(sink->chunks->nelts, 3);
    ck_assert_str_eq(sget(APR_ARRAY_IDX(sink->chunks, 0, json_t *),
                          "choices.0.delta.role"), "assistant");
    ck_assert_str_eq(sget(APR_ARRAY_IDX(sink->chunks, 1, json_t *),
                          "choices.0.finish_reason"), "content_filter");
    ck_assert_int_eq(iget(APR_ARRAY_IDX(sink->chunks, 2, json_t *),
                          "usage.prompt_tokens"), 9);
    sink_free(sink);
}
END_TEST


/* ------------------------------------------------------------------ */
/* issue 9: nothing dropped silently                                   */
/* ------------------------------------------------------------------ */

#define GMSGS "\"model\":\"g\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

START_TEST(params_translated)
{
    const char *err;
    json_t *out;

    out = xreq("{" GMSGS ",\"seed\":7,\"presence_penalty\":0.5,"
               "\"frequency_penalty\":-0.5,\"logprobs\":true,\"top_logprobs\":3,"
               "\"top_k\":20,\"reasoning_effort\":\"low\"}", &err);
    ck_assert_msg(out != NULL, "%s", err);
    assert_json_eq(json_object_get(out, "generationConfig"),
        "{\"seed\":7,\"presencePenalty\":0.5,\"frequencyPenalty\":-0.5,"
        "\"responseLogprobs\":true,\"logprobs\":3,\"topK\":20,"
        "\"thinkingConfig\":{\"thinkingBudget\":2048,\"includeThoughts\":true}}");
    json_decref(out);
    out = xreq("{" GMSGS ",\"reasoning\":{\"effort\":\"none\"}}", &err);
    assert_json_eq(json_object_get(out, "generationConfig"),
        "{\"thinkingConfig\":{\"thinkingBudget\":0}}");
    json_decref(out);
    out = xreq("{" GMSGS ",\"reasoning\":{\"max_tokens\":500,\"exclude\":true}}",
               &err);
    assert_json_eq(json_object_get(out, "generationConfig"),
        "{\"thinkingConfig\":{\"thinkingBudget\":500}}");
    json_decref(out);

    /* $refs resolved into responseSchema (Gemini has no $defs) */
    out = xreq("{" GMSGS ",\"response_format\":{\"type\":\"json_schema\","
               "\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"object\","
               "\"properties\":{\"owner\":{\"$ref\":\"#/$defs/Person\","
               "\"description\":\"who\"},\"pets\":{\"type\":\"array\",\"items\":"
               "{\"$ref\":\"#/definitions/Pet\"}}},"
               "\"$defs\":{\"Person\":{\"type\":\"object\",\"properties\":"
               "{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}},"
               "\"definitions\":{\"Pet\":{\"type\":\"string\",\"enum\":[\"cat\","
               "\"dog\"]}}}}}}", &err);
    ck_assert_msg(out != NULL, "%s", err);
    assert_json_eq(json_object_get(json_object_get(out, "generationConfig"),
                                   "responseSchema"),
        "{\"type\":\"object\",\"properties\":{"
        "\"owner\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},"
        "\"required\":[\"name\"],\"description\":\"who\"},"
        "\"pets\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"enum\":[\"cat\",\"dog\"]}}}}");
    json_decref(out);
}
END_TEST

START_TEST(params_unsupported)
{
    static const char *const refused[][2] = {
        { "\"user\":\"u-1\"", "user" },
        { "\"metadata\":{\"a\":\"b\"}", "metadata" },
        { "\"logit_bias\":{\"1\":2}", "logit_bias" },
        { "\"parallel_tool_calls\":false", "parallel_tool_calls" },
        { "\"brand_new\":true", "brand_new" },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        llmgw_xlate_report_t rep;
        llmgw_xlate_ctx_t x = X;
        const char *err = NULL;
        json_t *in = ut_json(apr_psprintf(tp, "{" GMSGS ",%s}", refused[i][0]));
        json_t *out;

        memset(&rep, 0, sizeof(rep));
        x.report = &rep;
        out = T->chat_request(tp, in, &x, &err);
        ck_assert_msg(out == NULL, "%s not refused", refused[i][0]);
        ck_assert_str_eq(rep.param, refused[i][1]);
        rep.drop_unsupported = 1;
        rep.param = NULL;
        err = NULL;
        out = T->chat_request(tp, in, &x, &err);
        ck_assert_msg(out != NULL, "%s not dropped: %s", refused[i][0], err);
        ck_assert_int_eq(rep.dropped->nelts, 1);
        ck_assert_str_eq(APR_ARRAY_IDX(rep.dropped, 0, const char *),
                         refused[i][1]);
        json_decref(out);
        json_decref(in);
    }
}
END_TEST

START_TEST(resp_thoughts_logprobs)
{
    json_t *o = xresp("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
        "{\"text\":\"Thinking...\",\"thought\":true},{\"text\":\"Hi\"}]},"
        "\"finishReason\":\"STOP\",\"index\":0,\"logprobsResult\":{"
        "\"topCandidates\":[{\"candidates\":[{\"token\":\"Hi\",\"logProbability\":-0.5},"
        "{\"token\":\"Yo\",\"logProbability\":-1.5}]}],"
        "\"chosenCandidates\":[{\"token\":\"Hi\",\"logProbability\":-0.5}]}}]}", NULL);
    json_t *ch = json_array_get(json_object_get(o, "choices"), 0);

    assert_json_eq(json_object_get(ch, "message"),
        "{\"role\":\"assistant\",\"content\":\"Hi\",\"refusal\":null,"
        "\"reasoning_content\":\"Thinking...\"}");
    assert_json_eq(json_object_get(ch, "logprobs"),
        "{\"content\":[{\"token\":\"Hi\",\"logprob\":-0.5,\"bytes\":null,"
        "\"top_logprobs\":[{\"token\":\"Hi\",\"logprob\":-0.5,\"bytes\":null},"
        "{\"token\":\"Yo\",\"logprob\":-1.5,\"bytes\":null}]}],\"refusal\":null}");
    json_decref(o);
}
END_TEST

START_TEST(embeddings_base64)
{
    json_t *v = ut_json("[1.0,-2.5]");
    json_t *b = llmgw_xlate_embedding_base64(v);
    json_t *list = ut_json("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
                         "\"index\":0,\"embedding\":[1,-2.5]},{\"object\":"
                         "\"embedding\",\"index\":1,\"embedding\":\"AAAA\"}]}");
    json_t *req = ut_json("{\"input\":\"x\",\"encoding_format\":\"base64\"}");
    const char *err = NULL;
    llmgw_xlate_ctx_t x = X;

    ck_assert_str_eq(json_string_value(b), "AACAPwAAIMA=");
    ck_assert_int_eq(llmgw_xlate_embeddings_to_base64(list), 1);
    ck_assert_str_eq(sget(list, "data.0.embedding"), "AACAPwAAIMA=");
    ck_assert_str_eq(sget(list, "data.1.embedding"), "AAAA");
    ck_assert(llmgw_xlate_wants_base64(req));
    json_decref(b);
    json_decref(list);
    json_decref(v);
    json_decref(req);
    x.model = "text-embedding-004";
    req = ut_json("{\"input\":\"x\",\"encoding_format\":\"hex\"}");
    ck_assert_ptr_null(T->embeddings_request(tp, req, &x, &err));
    ck_assert_ptr_nonnull(err);
    json_decref(req);
}
END_TEST

static Suite *gemini_suite(void)
{
    Suite *s = suite_create("gemini");
    TCase *tc;

    tc = ut_tcase(s, "path", 0);
    tcase_add_test(tc, path_basic);
    tcase_add_test(tc, resp_checked);
    tcase_add_test(tc, path_hostile);
    tcase_add_test(tc, headers_key);

    tc = ut_tcase(s, "request", 0);
    tcase_add_test(tc, req_system_and_merge);
    tcase_add_test(tc, req_images);
    tcase_add_test(tc, req_tools_and_choice);
    tcase_add_test(tc, req_tool_calls_and_responses);
    tcase_add_test(tc, req_generation_config);
    tcase_add_test(tc, req_malformed_never_crashes);

    tc = ut_tcase(s, "response", 0);
    tcase_add_test(tc, resp_text_and_usage);
    tcase_add_test(tc, resp_function_calls);
    tcase_add_test(tc, resp_finish_reasons);
    tcase_add_test(tc, resp_safety_block);
    tcase_add_test(tc, resp_any_shape);
    tcase_add_test(tc, resp_unary_fixtures);
    tcase_add_test(tc, resp_fixture_spot_checks);

    tc = ut_tcase(s, "error", 0);
    tcase_add_test(tc, error_quota_retry_info);
    tcase_add_test(tc, error_retry_delays);
    tcase_add_test(tc, error_fixtures);
    tcase_add_test(tc, error_statuses_and_non_json);

    tc = ut_tcase(s, "embeddings", 0);
    tcase_add_test(tc, embeddings);
    tcase_add_test(tc, embeddings_base64);

    tc = ut_tcase(s, "params", 0);
    tcase_add_test(tc, params_translated);
    tcase_add_test(tc, params_unsupported);
    tcase_add_test(tc, resp_thoughts_logprobs);

    tc = ut_tcase(s, "stream", 60);
    tcase_add_test(tc, stream_fixtures);
    tcase_add_test(tc, stream_chunks_shape);
    tcase_add_test(tc, stream_errors);
    tcase_add_test(tc, stream_scanner_reads);
    tcase_add_test(tc, stream_logprobs);
    tcase_add_test(tc, stream_client_gone);
    tcase_add_test(tc, stream_blocked_prompt);
    return s;
}

UT_MAIN(gemini_suite)
