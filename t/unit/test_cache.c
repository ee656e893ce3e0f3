/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * test_cache.c — mod_llmgw_cache's pure core: key canonicalisation and
 * scoping, entry encoding, and the replay conversions (stream -> stream,
 * stream -> completion, completion -> stream), also over the OpenAI
 * recorded streams of LLMGW_SHARED_DIR/fixtures/openai.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "llmgw_test.h"
#include "llmgw_cache_key.h"
#include "llmgw_digest.h"
#include "llmgw_cache_entry.h"
#include "llmgw_sse.h"

static const char *canon(const char *txt)
{
    return llmgw_cache_canonical_body(tp, txt, strlen(txt));
}

static const char *key_of(const char *body)
{
    return llmgw_cache_key(tp, "ws:w1", "chat/completions", "openai",
                           "gpt-4o", canon(body));
}

/* ---- keys -------------------------------------------------------------- */

START_TEST(sha256_vector)
{
    char h[65];
    llmgw_sha256_hex("abc", 3, h);
    ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223"
                        "b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(canonical_sorted_compact)
{
    ck_assert_str_eq(canon("{ \"b\" : 1, \"a\": {\"z\": [ {\"y\":1, \"x\":2} ],"
                           " \"c\": \"\\u00e9\"} }"),
                     "{\"a\":{\"c\":\"\\u00e9\",\"z\":[{\"x\":2,\"y\":1}]},"
                     "\"b\":1}");
}
END_TEST

START_TEST(canonical_order_whitespace)
{
    const char *a = key_of("{\"model\":\"gpt-4o\",\"temperature\":0.5,"
                           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    const char *b = key_of("{\n  \"messages\" : [ { \"content\" : \"hi\", "
                           "\"role\" : \"user\" } ],\n  \"temperature\": 0.5,"
                           " \"model\": \"gpt-4o\"\n}");
    const char *c = key_of("{\"model\":\"gpt-4o\",\"temperature\":0.7,"
                           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
}
END_TEST

START_TEST(canonical_drops_gateway_fields)
{
    const char *plain = canon("{\"messages\":[],\"temperature\":1}");
    ck_assert_str_eq(plain, "{\"messages\":[],\"temperature\":1}");
    ck_assert_str_eq(canon("{\"messages\":[],\"temperature\":1,\"stream\":true,"
                           "\"stream_options\":{\"include_usage\":true},"
                           "\"provider\":\"x\",\"provider_key\":\"sk-secret\","
                           "\"models\":[\"a\",\"b\"],\"model\":\"a\"}"),
                     plain);
    /* 1.0 and 1 mean the same */
    ck_assert_str_eq(canon("{\"messages\":[],\"temperature\":1.0}"), plain);
    /* only top-level fields are gateway fields */
    ck_assert_str_eq(canon("{\"messages\":[{\"stream\":1}]}"),
                     "{\"messages\":[{\"stream\":1}]}");
    /* messages order matters */
    ck_assert_str_ne(canon("{\"messages\":[1,2]}"), canon("{\"messages\":[2,1]}"));
}
END_TEST

START_TEST(canonical_keeps_input)
{
    /* order, white space and a zero fraction do not change the form */
    ck_assert_str_eq(canon("{\"b\":2.0,\"a\":[1.50, 0.0]}"),
                     canon("{ \"a\" : [1.50,0], \"b\" : 2 }"));
    ck_assert_str_eq(canon("{\"a\":1.5}"), "{\"a\":1.5}");
    ck_assert_str_eq(canon("{\"a\":1e3}"), "{\"a\":1e3}");
    /* the form is the text's: an escaped spelling is another key */
    ck_assert_str_ne(canon("{\"a\":\"\\u0041\"}"), canon("{\"a\":\"A\"}"));
    ck_assert_ptr_null(canon("[1,2]"));
    ck_assert_ptr_null(canon("{\"a\":"));
    ck_assert_ptr_null(canon(""));
}
END_TEST

START_TEST(key_parts)
{
    const char *body = canon("{\"messages\":[]}");
    const char *k = llmgw_cache_key(tp, "ws:a", "chat/completions", "p", "m",
                                    body);
    ck_assert_ptr_nonnull(k);
    ck_assert_uint_eq(strlen(k), strlen(LLMGW_CACHE_KEY_PREFIX) + 64);
    ck_assert(!strncmp(k, LLMGW_CACHE_KEY_PREFIX,
                       strlen(LLMGW_CACHE_KEY_PREFIX)));
    ck_assert_str_eq(k, llmgw_cache_key(tp, "ws:a", "chat/completions", "p",
                                        "m", body));
    ck_assert_str_ne(k, llmgw_cache_key(tp, "ws:b", "chat/completions", "p",
                                        "m", body));
    ck_assert_str_ne(k, llmgw_cache_key(tp, "ws:a", "embeddings", "p", "m",
                                        body));
    ck_assert_str_ne(k, llmgw_cache_key(tp, "ws:a", "chat/completions", "q",
                                        "m", body));
    ck_assert_str_ne(k, llmgw_cache_key(tp, "ws:a", "chat/completions", "p",
                                        "n", body));
    /* length-prefixed parts: moving a byte between parts changes the key */
    ck_assert_str_ne(llmgw_cache_key(tp, "a", "b", "pp", "m", body),
                     llmgw_cache_key(tp, "a", "bp", "p", "m", body));
    ck_assert_ptr_null(llmgw_cache_key(tp, NULL, "e", "p", "m", body));
    ck_assert_ptr_null(llmgw_cache_key(tp, "s", "e", "p", "m", NULL));
}
END_TEST

START_TEST(scope_isolation)
{
    const char *secret = "sk-client-secret-42";
    const char *s1 = llmgw_cache_scope(tp, NULL, "gw.example:443", secret, NULL);
    const char *s2 = llmgw_cache_scope(tp, NULL, "gw.example:443", "sk-other", NULL);
    const char *s3 = llmgw_cache_scope(tp, NULL, "other.example:443", secret, NULL);
    const char *an = llmgw_cache_scope(tp, NULL, "gw.example:443", NULL, NULL);
    const char *ws = llmgw_cache_scope(tp, "acme", "gw.example:443", secret, NULL);

    ck_assert_ptr_null(strstr(s1, secret));
    ck_assert_ptr_nonnull(strstr(s1, "gw.example:443"));
    ck_assert_str_ne(s1, s2);
    ck_assert_str_ne(s1, s3);
    ck_assert_str_ne(s1, an);
    ck_assert_str_ne(an, llmgw_cache_scope(tp, NULL, "gw.example:443",
                                           "anonymous", NULL));
    ck_assert_str_eq(ws, "ws:acme");
    ck_assert_str_eq(ws, llmgw_cache_scope(tp, "acme", "x:1", "sk-other", NULL));
    /* BYOK: the provider key (hashed) is part of the scope, with or
     * without a workspace, and never appears in it */
    {
        const char *pv = llmgw_cache_scope(tp, NULL, "gw.example:443", NULL,
                                           "pk-victim");
        const char *po = llmgw_cache_scope(tp, NULL, "gw.example:443", NULL,
                                           "pk-other");
        ck_assert_ptr_null(strstr(pv, "pk-victim"));
        ck_assert_str_ne(pv, an);
        ck_assert_str_ne(pv, po);
        ck_assert_str_ne(llmgw_cache_scope(tp, "acme", "h:1", NULL, "pk-victim"),
                         ws);
    }
    /* an empty workspace is no workspace */
    ck_assert_str_eq(llmgw_cache_scope(tp, "", "h:1", NULL, NULL),
                     llmgw_cache_scope(tp, NULL, "h:1", NULL, NULL));
}
END_TEST

/* ---- entries ------------------------------------------------------------ */

START_TEST(entry_roundtrip)
{
    static const char body[] = "data: {\"a\":1}\n\n\0binary\ndata: [DONE]\n\n";
    llmgw_cache_entry_t e = { 0 }, d;
    apr_size_t len;
    char *enc;

    e.is_sse = 1;
    e.created = 1700000000;
    e.expires = 1700003600;
    e.provider = "mock";
    e.model = "echo \"quoted\"\nline";
    e.usage.prompt_tokens = 10;
    e.usage.completion_tokens = 5;
    e.usage.total_tokens = 15;
    e.usage.cached_tokens = -1;
    e.usage.cache_write_tokens = 3;
    e.body = body;
    e.len = sizeof(body) - 1;
    enc = llmgw_cache_entry_encode(tp, &e, &len);
    ck_assert_ptr_nonnull(enc);
    ck_assert_int_eq(llmgw_cache_entry_decode(tp, enc, len, &d), 0);
    ck_assert_int_eq(d.is_sse, 1);
    ck_assert_int_eq(d.created, 1700000000);
    ck_assert_int_eq(d.expires, 1700003600);
    ck_assert_str_eq(d.provider, "mock");
    ck_assert_str_eq(d.model, e.model);
    ck_assert_int_eq(d.usage.prompt_tokens, 10);
    ck_assert_int_eq(d.usage.completion_tokens, 5);
    ck_assert_int_eq(d.usage.total_tokens, 15);
    ck_assert_int_eq(d.usage.cached_tokens, -1);
    ck_assert_int_eq(d.usage.cache_write_tokens, 3);
    ck_assert_uint_eq(d.len, e.len);
    ck_assert(!memcmp(d.body, body, e.len));

    e.is_sse = 0;
    e.body = "";
    e.len = 0;
    enc = llmgw_cache_entry_encode(tp, &e, &len);
    ck_assert_int_eq(llmgw_cache_entry_decode(tp, enc, len, &d), 0);
    ck_assert_int_eq(d.is_sse, 0);
    ck_assert_uint_eq(d.len, 0);
}
END_TEST

START_TEST(entry_corrupt)
{
    llmgw_cache_entry_t d;
    const char *ok = LLMGW_CACHE_ENTRY_MAGIC "{\"format\":\"json\",\"created\":1,"
        "\"expires\":2,\"provider\":\"p\",\"model\":\"m\",\"usage\":{}}\n{}";
    ck_assert_int_eq(llmgw_cache_entry_decode(tp, ok, strlen(ok), &d), 0);
    ck_assert_int_eq(d.usage.prompt_tokens, -1);
    ck_assert_int_eq(llmgw_cache_entry_decode(tp, NULL, 0, &d), -1);
    ck_assert_int_eq(llmgw_cache_entry_decode(tp, "{}", 2, &d), -1);
    ck_assert_int_eq(llmgw_cache_entry_decode(tp, ok, 20, &d), -1);
    {
        const char *bad = LLMGW_CACHE_ENTRY_MAGIC "{\"format\":\"xml\","
            "\"created\":1,\"expires\":2,\"provider\":\"p\",\"model\":\"m\"}\n";
        ck_assert_int_eq(llmgw_cache_entry_decode(tp, bad, strlen(bad), &d), -1);
    }
    {
        const char *bad = LLMGW_CACHE_ENTRY_MAGIC "not json\nbody";
        ck_assert_int_eq(llmgw_cache_entry_decode(tp, bad, strlen(bad), &d), -1);
    }
}
END_TEST

/* ---- SSE ------------------------------------------------------------------ */

START_TEST(sse_events_parse)
{
    const char *s = ": comment\r\ndata: one\r\n\r\nevent: x\ndata:two\ndata: 2b\n\n"
                    "\n\ndata: three\rdata: 3b\r\rdata: last";
    apr_array_header_t *ev = llmgw_sse_parse_all(tp, s, strlen(s));
    ck_assert_int_eq(ev->nelts, 4);
    ck_assert_str_eq(APR_ARRAY_IDX(ev, 0, llmgw_sse_event_t).data, "one");
    ck_assert_str_eq(APR_ARRAY_IDX(ev, 1, llmgw_sse_event_t).data, "two\n2b");
    ck_assert_str_eq(APR_ARRAY_IDX(ev, 2, llmgw_sse_event_t).data,
                     "three\n3b");
    ck_assert_str_eq(APR_ARRAY_IDX(ev, 3, llmgw_sse_event_t).data, "last");
    ev = llmgw_sse_parse_all(tp, "", 0);
    ck_assert_int_eq(ev->nelts, 0);
    /* a bare "data" line is a data line with an empty value (the SSE spec) */
    ev = llmgw_sse_parse_all(tp, "data\ndata: x\n\n", 14);
    ck_assert_int_eq(ev->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(ev, 0, llmgw_sse_event_t).data, "\nx");
}
END_TEST

#define CHUNK(delta, fin) "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":" delta \
    ",\"finish_reason\":" fin "}]}\n\n"
#define USAGE_CHUNK "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":5,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":3," \
    "\"completion_tokens\":2,\"total_tokens\":5}}\n\n"

static const char STREAM_NO_USAGE[] =
    CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null")
    CHUNK("{\"content\":\"Hel\"}", "null")
    CHUNK("{\"content\":\"lo\"}", "null")
    CHUNK("{}", "\"stop\"");
static const char STREAM_USAGE[] =
    CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null")
    CHUNK("{\"content\":\"Hel\"}", "null")
    CHUNK("{\"content\":\"lo\"}", "null")
    CHUNK("{}", "\"stop\"")
    USAGE_CHUNK
    "data: [DONE]\n\n";

START_TEST(replay_identical)
{
    char *out;
    apr_size_t len;
    llmgw_usage_t u = { 3, 2, 5, -1, -1 };
    ck_assert_int_eq(llmgw_cache_sse_replay(tp, STREAM_USAGE,
                                            sizeof(STREAM_USAGE) - 1, 1, &u,
                                            &out, &len), 0);
    ck_assert_uint_eq(len, sizeof(STREAM_USAGE) - 1);
    ck_assert(!memcmp(out, STREAM_USAGE, len));
}
END_TEST

START_TEST(replay_usage_option)
{
    char *out;
    apr_size_t len;
    llmgw_usage_t u = { 3, 2, 5, -1, -1 }, none = LLMGW_USAGE_INIT;
    /* stored with usage, asked without: the usage chunk goes */
    ck_assert_int_eq(llmgw_cache_sse_replay(tp, STREAM_USAGE,
                                            sizeof(STREAM_USAGE) - 1, 0, &u,
                                            &out, &len), 0);
    ck_assert_str_eq(out, apr_pstrcat(tp, STREAM_NO_USAGE, "data: [DONE]\n\n",
                                      NULL));
    /* stored without (and without [DONE]), asked with: made from usage */
    ck_assert_int_eq(llmgw_cache_sse_replay(tp, STREAM_NO_USAGE,
                                            sizeof(STREAM_NO_USAGE) - 1, 1, &u,
                                            &out, &len), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"choices\":[],\"usage\":{"
                                      "\"prompt_tokens\":3,"));
    ck_assert(len > 16 && !strcmp(out + len - 16, "\n\ndata: [DONE]\n\n"));
    /* no usage known: nothing made up */
    ck_assert_int_eq(llmgw_cache_sse_replay(tp, STREAM_NO_USAGE,
                                            sizeof(STREAM_NO_USAGE) - 1, 1,
                                            &none, &out, &len), 0);
    ck_assert_ptr_null(strstr(out, "usage"));
}
END_TEST

START_TEST(replay_rejects_garbage)
{
    char *out;
    apr_size_t len;
    const char *err = CHUNK("{\"content\":\"a\"}", "null")
                      "data: {\"error\":{\"message\":\"boom\"}}\n\n";
    ck_assert_int_eq(llmgw_cache_sse_replay(tp, "data: nope\n\n", 12, 0, NULL,
                                            &out, &len), -1);
    ck_assert_int_eq(llmgw_cache_sse_replay(tp, "", 0, 0, NULL, &out, &len),
                     -1);
    ck_assert_int_eq(llmgw_cache_sse_replay(tp, err, strlen(err), 0, NULL,
                                            &out, &len), -1);
    ck_assert_int_eq(llmgw_cache_sse_to_json(tp, err, strlen(err), NULL, &out,
                                             &len), -1);
    ck_assert_int_eq(llmgw_cache_json_to_sse(tp, "{\"data\":[]}", 11, 0, &out,
                                             &len), -1);
    ck_assert_int_eq(llmgw_cache_json_to_sse(tp, "nope", 4, 0, &out, &len), -1);
}
END_TEST

static json_t *to_json(const char *sse, apr_size_t n, const llmgw_usage_t *u)
{
    char *out;
    apr_size_t len;
    ck_assert_int_eq(llmgw_cache_sse_to_json(tp, sse, n, u, &out, &len), 0);
    ck_assert_uint_eq(strlen(out), len);
    return ut_json(out);
}

START_TEST(stream_to_json_simple)
{
    llmgw_usage_t u = { 3, 2, 5, 1, -1 };
    json_t *j = to_json(STREAM_NO_USAGE, sizeof(STREAM_NO_USAGE) - 1, &u);
    json_t *c = json_array_get(json_object_get(j, "choices"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "object")),
                     "chat.completion");
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), "c1");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "created")), 5);
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "m");
    ck_assert_str_eq(json_string_value(json_object_get(
        json_object_get(c, "message"), "content")), "Hello");
    ck_assert_str_eq(json_string_value(json_object_get(
        json_object_get(c, "message"), "role")), "assistant");
    ck_assert_str_eq(json_string_value(json_object_get(c, "finish_reason")),
                     "stop");
    /* usage from the entry when the stream carried none */
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(j, "usage"), "total_tokens")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
        json_object_get(j, "usage"), "prompt_tokens_details"),
        "cached_tokens")), 1);
    json_decref(j);
}
END_TEST

START_TEST(fixture_tools)
{
    apr_size_t n;
    const char *s = ut_fixture("openai/test_parse_multiple_pydantic_tools.sse", &n);
    json_t *j = to_json(s, n, NULL), *c, *tcs, *tc, *args;
    size_t i;

    c = json_array_get(json_object_get(j, "choices"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "finish_reason")),
                     "tool_calls");
    ck_assert(json_is_null(json_object_get(json_object_get(c, "message"),
                                           "content")));
    tcs = json_object_get(json_object_get(c, "message"), "tool_calls");
    ck_assert_uint_eq(json_array_size(tcs), 2);
    ck_assert_str_eq(json_string_value(json_object_get(
        json_array_get(tcs, 0), "id")), "call_JMW1whyEaYG438VE1OIflxA2");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
        json_array_get(tcs, 0), "function"), "name")), "GetWeatherArgs");
    json_array_foreach(tcs, i, tc) {
        const char *a = json_string_value(json_object_get(
            json_object_get(tc, "function"), "arguments"));
        ck_assert_str_eq(json_string_value(json_object_get(tc, "type")),
                         "function");
        ck_assert(strlen(json_string_value(json_object_get(tc, "id"))) > 5);
        args = json_loads(a, 0, NULL);
        ck_assert_msg(json_is_object(args), "arguments %zu not JSON: %s", i, a);
        json_decref(args);
    }
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(j, "usage"), "prompt_tokens")), 149);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(j, "usage"), "completion_tokens")), 60);
    json_decref(j);
}
END_TEST

START_TEST(fixture_choices_and_reasons)
{
    apr_size_t n;
    const char *s = ut_fixture("openai/test_parse_pydantic_model_multiple_choices.sse",
                            &n);
    json_t *j = to_json(s, n, NULL), *ch, *c;
    size_t i;

    ch = json_object_get(j, "choices");
    ck_assert_uint_eq(json_array_size(ch), 3);
    json_array_foreach(ch, i, c) {
        json_t *content = json_loads(json_string_value(json_object_get(
            json_object_get(c, "message"), "content")), 0, NULL);
        ck_assert_int_eq(json_integer_value(json_object_get(c, "index")),
                         (json_int_t)i);
        ck_assert_msg(json_is_object(content), "choice %zu content", i);
        json_decref(content);
    }
    json_decref(j);

    s = ut_fixture("openai/test_parse_max_tokens_reached.sse", &n);
    j = to_json(s, n, NULL);
    c = json_array_get(json_object_get(j, "choices"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "finish_reason")),
                     "length");
    json_decref(j);

    s = ut_fixture("openai/test_parse_pydantic_model_refusal.sse", &n);
    j = to_json(s, n, NULL);
    c = json_array_get(json_object_get(j, "choices"), 0);
    ck_assert(!strncmp(json_string_value(json_object_get(
        json_object_get(c, "message"), "refusal")), "I'm sorry", 9));
    json_decref(j);

    s = ut_fixture("openai/test_content_logprobs_events.sse", &n);
    j = to_json(s, n, NULL);
    c = json_array_get(json_object_get(j, "choices"), 0);
    ck_assert(json_array_size(json_object_get(json_object_get(c, "logprobs"),
                                              "content")) > 0);
    json_decref(j);
}
END_TEST

/* Every recorded stream: replayed as SSE (valid chunks, [DONE] last),
 * assembled into a completion, cut back into chunks and assembled again
 * to the same completion. */
START_TEST(fixture_roundtrips)
{
    static const char *const files[] = {
        "test_allows_non_strict_tools_but_no_parsing.sse",
        "test_content_logprobs_events.sse",
        "test_non_pydantic_response_format.sse",
        "test_parse_max_tokens_reached.sse",
        "test_parse_multiple_pydantic_tools.sse",
        "test_parse_nothing.sse",
        "test_parse_pydantic_model.sse",
        "test_parse_pydantic_model_multiple_choices.sse",
        "test_parse_pydantic_model_refusal.sse",
        "test_parse_pydantic_tool.sse",
        "test_parse_strict_tools.sse",
        "test_refusal_logprobs_events.sse",
    };
    size_t f;

    for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        apr_size_t n, len, len2, len3;
        const char *s = ut_fixture(apr_pstrcat(tp, "openai/", files[f],
                                                NULL), &n);
        char *replay, *json, *chunks, *json2;
        apr_array_header_t *ev;
        json_t *a, *b, *ch;
        size_t i;
        int k;

        ck_assert_int_eq(llmgw_cache_sse_replay(tp, s, n, 1, NULL, &replay,
                                                &len), 0);
        ck_assert_msg(len == n && !memcmp(replay, s, n),
                      "%s: replay differs", files[f]);
        ck_assert_int_eq(llmgw_cache_sse_to_json(tp, s, n, NULL, &json, &len),
                         0);
        ck_assert_int_eq(llmgw_cache_json_to_sse(tp, json, len, 1, &chunks,
                                                 &len2), 0);
        ev = llmgw_sse_parse_all(tp, chunks, len2);
        ck_assert_str_eq(APR_ARRAY_IDX(ev, ev->nelts - 1,
                                       llmgw_sse_event_t).data, "[DONE]");
        for (k = 0; k < ev->nelts - 1; k++) {
            json_t *c = ut_json(APR_ARRAY_IDX(ev, k, llmgw_sse_event_t).data);
            ck_assert_str_eq(json_string_value(json_object_get(c, "object")),
                             "chat.completion.chunk");
            if (k == 0) {      /* the SDK wants role in the first delta */
                ck_assert_str_eq(json_string_value(json_object_get(
                    json_object_get(json_array_get(json_object_get(
                        c, "choices"), 0), "delta"), "role")), "assistant");
            }
            json_decref(c);
        }
        /* the last chunk before [DONE] carries the usage */
        ck_assert_ptr_nonnull(strstr(APR_ARRAY_IDX(ev, ev->nelts - 2,
                                     llmgw_sse_event_t).data, "\"usage\""));
        ck_assert_int_eq(llmgw_cache_sse_to_json(tp, chunks, len2, NULL,
                                                 &json2, &len3), 0);
        a = ut_json(json);
        b = ut_json(json2);
        /* logprobs are not carried into generated chunks */
        json_array_foreach(json_object_get(a, "choices"), i, ch) {
            json_object_set_new(ch, "logprobs", json_null());
        }
        ck_assert_msg(json_equal(a, b), "%s: round trip differs:\n%s\n%s",
                      files[f], json, json2);
        json_decref(a);
        json_decref(b);
    }
}
END_TEST

START_TEST(json_to_sse_shape)
{
    const char *doc = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
        "\"created\":7,\"model\":\"echo\",\"choices\":[{\"index\":0,\"message\":"
        "{\"role\":\"assistant\",\"content\":\"hi there\"},\"finish_reason\":"
        "\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,"
        "\"total_tokens\":3}}";
    const char *tools = "{\"id\":\"x\",\"created\":7,\"model\":\"m\",\"choices\":"
        "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
        "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
        "{\"name\":\"f\",\"arguments\":\"{}\"}},{\"id\":\"call_2\",\"type\":"
        "\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"a\\\":1}\"}}]},"
        "\"finish_reason\":\"tool_calls\"}]}";
    char *out;
    apr_size_t len;
    apr_array_header_t *ev;
    json_t *c, *tc;

    ck_assert_int_eq(llmgw_cache_json_to_sse(tp, doc, strlen(doc), 0, &out,
                                             &len), 0);
    ev = llmgw_sse_parse_all(tp, out, len);
    ck_assert_int_eq(ev->nelts, 4);            /* role, content, finish, DONE */
    ck_assert_ptr_null(strstr(out, "usage"));
    c = ut_json(APR_ARRAY_IDX(ev, 1, llmgw_sse_event_t).data);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
        json_array_get(json_object_get(c, "choices"), 0), "delta"),
        "content")), "hi there");
    ck_assert_str_eq(json_string_value(json_object_get(c, "id")), "chatcmpl-1");
    json_decref(c);
    ck_assert_int_eq(llmgw_cache_json_to_sse(tp, doc, strlen(doc), 1, &out,
                                             &len), 0);
    ck_assert_int_eq(llmgw_sse_parse_all(tp, out, len)->nelts, 5);

    ck_assert_int_eq(llmgw_cache_json_to_sse(tp, tools, strlen(tools), 0, &out,
                                             &len), 0);
    ev = llmgw_sse_parse_all(tp, out, len);
    ck_assert_int_eq(ev->nelts, 5);            /* role, 2 tools, finish, DONE */
    c = ut_json(APR_ARRAY_IDX(ev, 2, llmgw_sse_event_t).data);
    tc = json_array_get(json_object_get(json_object_get(json_array_get(
        json_object_get(c, "choices"), 0), "delta"), "tool_calls"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(tc, "index")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(tc, "id")), "call_2");
    ck_assert_str_eq(json_string_value(json_object_get(tc, "type")),
                     "function");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
        tc, "function"), "name")), "g");
    json_decref(c);
    c = ut_json(APR_ARRAY_IDX(ev, 3, llmgw_sse_event_t).data);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_object_get(c, "choices"), 0), "finish_reason")), "tool_calls");
    json_decref(c);
}
END_TEST

static Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *t = ut_tcase(s, "core", 0);
    tcase_add_test(t, sha256_vector);
    tcase_add_test(t, canonical_sorted_compact);
    tcase_add_test(t, canonical_order_whitespace);
    tcase_add_test(t, canonical_drops_gateway_fields);
    tcase_add_test(t, canonical_keeps_input);
    tcase_add_test(t, key_parts);
    tcase_add_test(t, scope_isolation);
    tcase_add_test(t, entry_roundtrip);
    tcase_add_test(t, entry_corrupt);
    tcase_add_test(t, sse_events_parse);
    tcase_add_test(t, replay_identical);
    tcase_add_test(t, replay_usage_option);
    tcase_add_test(t, replay_rejects_garbage);
    tcase_add_test(t, stream_to_json_simple);
    tcase_add_test(t, fixture_tools);
    tcase_add_test(t, fixture_choices_and_reasons);
    tcase_add_test(t, fixture_roundtrips);
    tcase_add_test(t, json_to_sse_shape);
    return s;
}

UT_MAIN(cache_suite)
