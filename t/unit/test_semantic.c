/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * test_semantic.c — the pure parts of issue 15: the semantic cache's
 * cosine, request split, buckets (encode, decode, bound, eviction, match)
 * and embeddings parsing; memory's keys, records, trimming and injection.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "llmgw_test.h"
#include "llmgw_semantic.h"
#include "llmgw_memory.h"

static json_t *J(const char *txt)
{
    json_t *j = json_loads(txt, 0, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", txt);
    return j;
}

static const char *hexkey(int i)
{
    return apr_psprintf(tp, "%064x", i);
}

/* ---- cosine ------------------------------------------------------------- */

START_TEST(cosine_values)
{
    float a[3] = { 1, 0, 0 }, b[3] = { 0, 1, 0 }, c[3] = { 2, 0, 0 },
          d[3] = { -1, 0, 0 }, z[3] = { 0, 0, 0 }, e[3] = { 1, 1, 0 };
    ck_assert(fabs(llmgw_cosine(a, c, 3) - 1) < 1e-12);
    ck_assert(fabs(llmgw_cosine(a, b, 3)) < 1e-12);
    ck_assert(fabs(llmgw_cosine(a, d, 3) + 1) < 1e-12);
    ck_assert(fabs(llmgw_cosine(a, e, 3) - 1 / sqrt(2)) < 1e-9);
    ck_assert(llmgw_cosine(a, z, 3) == 0);
    ck_assert(llmgw_cosine(a, a, 0) == 0);
}
END_TEST

START_TEST(similarity_string)
{
    ck_assert_str_eq(llmgw_sem_similarity_str(tp, 0.99996), "0.9999");
    ck_assert_str_eq(llmgw_sem_similarity_str(tp, 1.0000001), "1.0000");
    ck_assert_str_eq(llmgw_sem_similarity_str(tp, 0.95), "0.9500");
}
END_TEST

/* ---- split ---------------------------------------------------------------- */

START_TEST(split_context)
{
    const char *t1, *c1, *t2, *c2, *t3, *c3;
    json_t *a = J("{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"system\","
                  "\"content\":\"S\"},{\"role\":\"user\",\"content\":\"What is X?\"}]}");
    json_t *b = J("{\"model\":\"other\",\"messages\":[{\"role\":\"system\","
                  "\"content\":\"S\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                  "\"text\":\"Tell me\"},{\"type\":\"text\",\"text\":\"X\"}]}]}");
    json_t *c = J("{\"model\":\"m\",\"messages\":[{\"role\":\"system\","
                  "\"content\":\"T\"},{\"role\":\"user\",\"content\":\"What is X?\"}]}");
    ck_assert_int_eq(llmgw_semantic_split(tp, a, &t1, &c1), 0);
    ck_assert_str_eq(t1, "What is X?");
    ck_assert_int_eq(llmgw_semantic_split(tp, b, &t2, &c2), 0);
    ck_assert_str_eq(t2, "Tell me\nX");
    /* model and stream are keyed apart; the text is not in the context */
    ck_assert_ptr_null(strstr(c1, "What is X"));
    ck_assert_int_eq(llmgw_semantic_split(tp, c, &t3, &c3), 0);
    ck_assert_str_ne(c1, c3);                       /* another system prompt */
    /* the last content's form is not context: string or text parts, the
     * same question (the model is keyed apart) */
    ck_assert_str_eq(c1, c2);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}
END_TEST

/* The Responses API (string or items input) and Gemini's contents: a
 * string input and one user item share their context. */
START_TEST(split_other_apis)
{
    const char *t1, *c1, *t2, *c2, *t3, *c3, *t4, *c4;
    json_t *a = J("{\"model\":\"m\",\"instructions\":\"S\",\"input\":\"What is X?\"}");
    json_t *b = J("{\"model\":\"m\",\"instructions\":\"S\",\"input\":[{\"role\":"
                  "\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"Tell me X\"}]}]}");
    json_t *g1 = J("{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"What\"},"
                   "{\"text\":\"is X?\"}]}],\"systemInstruction\":{\"parts\":[{\"text\":\"S\"}]}}");
    json_t *g2 = J("{\"contents\":[{\"parts\":[{\"text\":\"Tell me X\"}]}],"
                   "\"systemInstruction\":{\"parts\":[{\"text\":\"S\"}]}}");
    ck_assert_int_eq(llmgw_semantic_split(tp, a, &t1, &c1), 0);
    ck_assert_str_eq(t1, "What is X?");
    ck_assert_int_eq(llmgw_semantic_split(tp, b, &t2, &c2), 0);
    ck_assert_str_eq(t2, "Tell me X");
    ck_assert_ptr_null(strstr(c1, "What is X"));
    ck_assert_ptr_null(strstr(c2, "Tell me"));
    ck_assert_str_eq(c1, c2);           /* a string input or one user item */
    ck_assert_int_eq(llmgw_semantic_split(tp, g1, &t3, &c3), 0);
    ck_assert_str_eq(t3, "What\nis X?");
    ck_assert_int_eq(llmgw_semantic_split(tp, g2, &t4, &c4), 0);
    ck_assert_ptr_null(strstr(c3, "is X"));
    ck_assert_ptr_nonnull(strstr(c3, "systemInstruction"));
    json_decref(a);
    json_decref(b);
    json_decref(g1);
    json_decref(g2);
}
END_TEST

START_TEST(split_refuses)
{
    const char *t, *c;
    const char *bad[] = {
        "{\"messages\":[]}",
        "{\"model\":\"m\"}",
        "{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\","
        "\"output\":\"x\"}]}",
        "{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\","
        "\"image_url\":\"x\"}]}]}",
        "{\"contents\":[{\"role\":\"model\",\"parts\":[{\"text\":\"x\"}]}]}",
        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"inlineData\":{}}]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
        "{\"role\":\"assistant\",\"content\":\"yo\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
        "\"image_url\":{\"url\":\"x\"}}]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}",
        NULL
    };
    int i;
    for (i = 0; bad[i]; i++) {
        json_t *j = J(bad[i]);
        ck_assert_msg(llmgw_semantic_split(tp, j, &t, &c) == -1, "%s", bad[i]);
        json_decref(j);
    }
}
END_TEST

/* ---- buckets ----------------------------------------------------------------- */

START_TEST(bucket_roundtrip)
{
    llmgw_sem_bucket_t *b = llmgw_sem_bucket_make(tp, 3), *d;
    float v1[3] = { 1, 0, 0.5f }, v2[3] = { -0.25f, 3e-8f, 1e6f };
    apr_size_t len;
    char *enc;

    ck_assert_int_eq(llmgw_sem_bucket_add(tp, b, hexkey(1), v1, 3, NULL), 0);
    ck_assert_int_eq(llmgw_sem_bucket_add(tp, b, hexkey(2), v2, 3, NULL), 0);
    enc = llmgw_sem_bucket_encode(tp, b, &len);
    ck_assert_int_eq(llmgw_sem_bucket_decode(tp, enc, len, &d), 0);
    ck_assert_uint_eq(d->dim, 3);
    ck_assert_int_eq(d->entries->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(d->entries, 0, llmgw_sem_entry_t).key, hexkey(2));
    ck_assert(memcmp(APR_ARRAY_IDX(d->entries, 0, llmgw_sem_entry_t).vec, v2,
                     sizeof(v2)) == 0);
    ck_assert(memcmp(APR_ARRAY_IDX(d->entries, 1, llmgw_sem_entry_t).vec, v1,
                     sizeof(v1)) == 0);
    /* corrupt: short, wrong magic, a byte more, a bad key */
    ck_assert_int_eq(llmgw_sem_bucket_decode(tp, enc, len - 1, &d), -1);
    ck_assert_int_eq(llmgw_sem_bucket_decode(tp, enc, len + 1, &d), -1);
    ck_assert_int_eq(llmgw_sem_bucket_decode(tp, "LLMGWC1 xxxxxxxx", 16, &d), -1);
    enc[sizeof(LLMGW_SEM_MAGIC) - 1 + 8] = 'Z';
    ck_assert_int_eq(llmgw_sem_bucket_decode(tp, enc, len, &d), -1);
    ck_assert_int_eq(llmgw_sem_bucket_add(tp, b, "not-hex", v1, 3, NULL), -1);
}
END_TEST

START_TEST(bucket_bound_and_evict)
{
    llmgw_sem_bucket_t *b = llmgw_sem_bucket_make(tp, 2);
    apr_array_header_t *ev = apr_array_make(tp, 4, sizeof(const char *));
    float v[2] = { 1, 0 };
    int i;

    for (i = 1; i <= LLMGW_SEM_BUCKET_MAX + 2; i++) {
        ck_assert_int_eq(llmgw_sem_bucket_add(tp, b, hexkey(i), v, 2, ev), 0);
    }
    ck_assert_int_eq(b->entries->nelts, LLMGW_SEM_BUCKET_MAX);
    ck_assert_int_eq(ev->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(ev, 0, const char *), hexkey(1));
    ck_assert_str_eq(APR_ARRAY_IDX(ev, 1, const char *), hexkey(2));
    /* the same key again moves first, nothing evicted */
    ck_assert_int_eq(llmgw_sem_bucket_add(tp, b, hexkey(10), v, 2, ev), 0);
    ck_assert_int_eq(ev->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(b->entries, 0, llmgw_sem_entry_t).key, hexkey(10));
    /* another embedder's length empties the bucket, every key evicted */
    {
        float w[3] = { 1, 2, 3 };
        ck_assert_int_eq(llmgw_sem_bucket_add(tp, b, hexkey(99), w, 3, ev), 0);
        ck_assert_int_eq(b->entries->nelts, 1);
        ck_assert_int_eq(ev->nelts, 2 + LLMGW_SEM_BUCKET_MAX);
    }
}
END_TEST

START_TEST(bucket_bytes_bound)
{
    apr_size_t dim = LLMGW_SEM_DIM_MAX, len;
    llmgw_sem_bucket_t *b = llmgw_sem_bucket_make(tp, dim);
    float *v = apr_pcalloc(tp, dim * sizeof(float));
    int i;
    v[0] = 1;
    for (i = 0; i < LLMGW_SEM_BUCKET_MAX; i++) {
        llmgw_sem_bucket_add(tp, b, hexkey(i + 1), v, dim, NULL);
    }
    llmgw_sem_bucket_encode(tp, b, &len);
    ck_assert_uint_le(len, LLMGW_SEM_BUCKET_BYTES);
    ck_assert_int_lt(b->entries->nelts, LLMGW_SEM_BUCKET_MAX);
}
END_TEST

START_TEST(bucket_match_order)
{
    llmgw_sem_bucket_t *b = llmgw_sem_bucket_make(tp, 2);
    float a[2] = { 1, 0 }, c[2] = { 0.9f, 0.1f }, d[2] = { 0, 1 },
          q[2] = { 0.95f, 0.05f };
    apr_array_header_t *m;
    llmgw_sem_bucket_add(tp, b, hexkey(1), a, 2, NULL);
    llmgw_sem_bucket_add(tp, b, hexkey(2), d, 2, NULL);
    llmgw_sem_bucket_add(tp, b, hexkey(3), c, 2, NULL);
    m = llmgw_sem_bucket_match(tp, b, q, 2, 0.95, 5);
    ck_assert_int_eq(m->nelts, 2);
    ck_assert(APR_ARRAY_IDX(m, 0, llmgw_sem_match_t).similarity
              >= APR_ARRAY_IDX(m, 1, llmgw_sem_match_t).similarity);
    m = llmgw_sem_bucket_match(tp, b, q, 2, 0.95, 1);
    ck_assert_int_eq(m->nelts, 1);
    m = llmgw_sem_bucket_match(tp, b, a, 1, 0.1, 5);     /* other length */
    ck_assert_int_eq(m->nelts, 0);
}
END_TEST

START_TEST(embedding_parse)
{
    float *v;
    apr_size_t n;
    const char *ok = "{\"data\":[{\"embedding\":[0.5,-1,2e-3]}]}";
    ck_assert_int_eq(llmgw_sem_embedding_parse(tp, ok, strlen(ok), &v, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert(v[0] == 0.5f && v[1] == -1.0f);
    ck_assert_int_eq(llmgw_sem_embedding_parse(tp, "{\"data\":[]}", 11, &v, &n), -1);
    ck_assert_int_eq(llmgw_sem_embedding_parse(tp, "{\"data\":[{\"embedding\":\"AAAA\"}]}",
                                               31, &v, &n), -1);
    ck_assert_int_eq(llmgw_sem_embedding_parse(tp, "{\"data\":[{\"embedding\":[1,\"x\"]}]}",
                                               32, &v, &n), -1);
    ck_assert_int_eq(llmgw_sem_embedding_parse(tp, "nope", 4, &v, &n), -1);
}
END_TEST

/* ---- memory --------------------------------------------------------------------- */

START_TEST(memory_keys)
{
    const char *a = llmgw_memory_key(tp, "ws:a", "session", "u");
    ck_assert_str_ne(a, llmgw_memory_key(tp, "ws:b", "session", "u"));
    ck_assert_str_ne(a, llmgw_memory_key(tp, "ws:a", "profile", "u"));
    ck_assert_str_ne(a, llmgw_memory_key(tp, "ws:a", "session", "v"));
    ck_assert_str_eq(a, llmgw_memory_key(tp, "ws:a", "session", "u"));
    ck_assert(strlen(a) < 250 && !strchr(a, ' '));      /* a memcached key */
    ck_assert(llmgw_memory_name_ok("alice@example.com"));
    ck_assert(!llmgw_memory_name_ok(""));
    ck_assert(!llmgw_memory_name_ok("a\nb"));
    ck_assert_int_eq(llmgw_memory_mode("Session"), LLMGW_MEM_SESSION);
    ck_assert_int_eq(llmgw_memory_mode("always"), -1);
}
END_TEST

START_TEST(memory_record_and_trim)
{
    json_t *turns = llmgw_memory_turns(NULL, 0), *u = J("{\"role\":\"user\",\"content\":\"q\"}");
    json_t *back;
    char *rec;
    int i;
    ck_assert_uint_eq(json_array_size(turns), 0);
    for (i = 0; i < 5; i++) {
        llmgw_memory_add_turn(turns, u, apr_psprintf(tp, "a%d", i), 3);
    }
    ck_assert_uint_eq(json_array_size(turns), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_array_get(turns, 0), 1), "content")), "a2");
    rec = llmgw_memory_record(turns);
    back = llmgw_memory_turns(rec, strlen(rec));
    ck_assert(json_equal(back, turns));
    free(rec);
    /* trimming to tokens: base 0 and a tiny budget keeps nothing */
    ck_assert_int_eq(llmgw_memory_trim(back, 10, 0, 0), 0);
    ck_assert_uint_eq(json_array_size(back), 0);
    /* a budget for about one turn keeps the newest one */
    {
        apr_int64_t one = llmgw_memory_trim(turns, 1, -1, 0);
        json_t *again = llmgw_memory_turns(NULL, 0);
        for (i = 0; i < 4; i++) {
            llmgw_memory_add_turn(again, u, apr_psprintf(tp, "b%d", i), 20);
        }
        llmgw_memory_trim(again, 20, one + 5, 5);
        ck_assert_uint_eq(json_array_size(again), 1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
            json_array_get(again, 0), 1), "content")), "b3");
        json_decref(again);
    }
    /* an unreadable record is no turns */
    json_decref(back);
    back = llmgw_memory_turns("{\"turns\":[[1,2],\"x\"]}", 22);
    ck_assert_uint_eq(json_array_size(back), 0);
    json_decref(back);
    json_decref(turns);
    json_decref(u);
}
END_TEST

START_TEST(memory_inject)
{
    json_t *body = J("{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
                     "{\"role\":\"user\",\"content\":\"new\"}]}");
    json_t *turns = J("[[{\"role\":\"user\",\"content\":\"old\"},"
                      "{\"role\":\"assistant\",\"content\":\"ans\"}]]");
    json_t *want = J("{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
                     "{\"role\":\"system\",\"content\":\"P\"},"
                     "{\"role\":\"user\",\"content\":\"old\"},"
                     "{\"role\":\"assistant\",\"content\":\"ans\"},"
                     "{\"role\":\"user\",\"content\":\"new\"}]}");
    json_t *msg = J("{\"system\":\"S\",\"messages\":[]}"), *last;
    ck_assert_int_eq(llmgw_memory_put_turns(body, turns), 2);
    ck_assert_int_eq(llmgw_memory_put_profile(body, "P", 0), 0);
    ck_assert_msg(json_equal(body, want), "%s", json_dumps(body, 0));
    last = llmgw_memory_last_user(body);
    ck_assert_str_eq(json_string_value(json_object_get(last, "content")), "new");
    ck_assert_int_eq(llmgw_memory_put_profile(msg, "P", 1), 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_object_get(msg, "system"), 0), "text")), "P");
    ck_assert_int_eq(llmgw_memory_put_turns(msg, turns), 2);
    json_decref(last);
    json_decref(body);
    json_decref(turns);
    json_decref(want);
    json_decref(msg);
}
END_TEST

/* The Responses API: a string input becomes a user message, remembered
 * turns go in as text after the developer items, the profile as a system
 * item, the last user item is remembered as text. */
START_TEST(memory_inject_responses)
{
    json_t *body = J("{\"input\":\"new\"}"), *last;
    json_t *items = J("{\"input\":[{\"role\":\"developer\",\"content\":\"D\"},"
                      "{\"type\":\"message\",\"role\":\"user\",\"content\":"
                      "[{\"type\":\"input_text\",\"text\":\"ne\"},"
                      "{\"type\":\"input_text\",\"text\":\"w\"}]}]}");
    json_t *turns = J("[[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                      "\"text\":\"old\"}]},"
                      "{\"role\":\"assistant\",\"content\":\"ans\"}]]");
    json_t *want = J("{\"input\":[{\"role\":\"system\",\"content\":\"P\"},"
                     "{\"role\":\"user\",\"content\":\"old\"},"
                     "{\"role\":\"assistant\",\"content\":\"ans\"},"
                     "{\"role\":\"user\",\"content\":\"new\"}]}");
    json_t *call = J("{\"input\":[{\"type\":\"function_call_output\","
                     "\"call_id\":\"c\",\"output\":\"1\"}]}");

    last = llmgw_memory_last_user(body);
    ck_assert_str_eq(json_string_value(json_object_get(last, "content")), "new");
    json_decref(last);
    ck_assert_int_eq(llmgw_memory_put_turns(body, turns), 2);
    ck_assert_int_eq(llmgw_memory_put_profile(body, "P", 0), 0);
    ck_assert_msg(json_equal(body, want), "%s", json_dumps(body, 0));

    last = llmgw_memory_last_user(items);
    ck_assert_str_eq(json_string_value(json_object_get(last, "content")), "new");
    ck_assert_str_eq(json_string_value(json_object_get(last, "role")), "user");
    json_decref(last);
    ck_assert_int_eq(llmgw_memory_put_turns(items, turns), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_object_get(items, "input"), 1), "content")), "old");
    ck_assert_ptr_null(llmgw_memory_last_user(call));
    json_decref(body);
    json_decref(items);
    json_decref(turns);
    json_decref(want);
    json_decref(call);
}
END_TEST

START_TEST(memory_answer_text)
{
    json_t *chat = J("{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"hi\"}}]}");
    json_t *tool = J("{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{}]}}]}");
    json_t *msg = J("{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                    "{\"type\":\"text\",\"text\":\"b\"}]}");
    json_t *ix = J("{\"success\":true,\"data\":\"d\"}");
    ck_assert_str_eq(llmgw_memory_answer_text(tp, chat), "hi");
    ck_assert_ptr_null(llmgw_memory_answer_text(tp, tool));
    ck_assert_str_eq(llmgw_memory_answer_text(tp, msg), "ab");
    ck_assert_str_eq(llmgw_memory_answer_text(tp, ix), "d");
    {
        json_t *resp = J("{\"object\":\"response\",\"output\":["
                         "{\"type\":\"reasoning\",\"summary\":[]},"
                         "{\"type\":\"message\",\"role\":\"assistant\",\"content\":"
                         "[{\"type\":\"output_text\",\"text\":\"r\"},"
                         "{\"type\":\"output_text\",\"text\":\"s\"}]}]}");
        json_t *fc = J("{\"object\":\"response\",\"output\":["
                       "{\"type\":\"function_call\",\"name\":\"f\"}]}");
        ck_assert_str_eq(llmgw_memory_answer_text(tp, resp), "rs");
        ck_assert_ptr_null(llmgw_memory_answer_text(tp, fc));
        json_decref(resp);
        json_decref(fc);
    }
    ck_assert_ptr_null(llmgw_memory_answer_text(tp, NULL));
    json_decref(chat);
    json_decref(tool);
    json_decref(msg);
    json_decref(ix);
}
END_TEST

static Suite *semantic_suite(void)
{
    Suite *s = suite_create("semantic");
    TCase *t = ut_tcase(s, "semantic", 0);
    TCase *m = ut_tcase(s, "memory", 0);
    tcase_add_test(t, cosine_values);
    tcase_add_test(t, similarity_string);
    tcase_add_test(t, split_context);
    tcase_add_test(t, split_other_apis);
    tcase_add_test(t, split_refuses);
    tcase_add_test(t, bucket_roundtrip);
    tcase_add_test(t, bucket_bound_and_evict);
    tcase_add_test(t, bucket_bytes_bound);
    tcase_add_test(t, bucket_match_order);
    tcase_add_test(t, embedding_parse);
    tcase_add_test(m, memory_keys);
    tcase_add_test(m, memory_record_and_trim);
    tcase_add_test(m, memory_inject);
    tcase_add_test(m, memory_inject_responses);
    tcase_add_test(m, memory_answer_text);
    return s;
}

UT_MAIN(semantic_suite)
