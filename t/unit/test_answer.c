/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Upstream answers that are not answers of their API (llmgw_answer.c):
 * what a 200 must look like per endpoint and provider type, and the
 * terminal event (finish_reason) of an OpenAI-format stream. */
#include <string.h>
#include "llmgw_test.h"
#include "llmgw_answer.h"
#include "llmgw_parse.h"

static int ok(llmgw_provider_type_e pt, llmgw_endpoint_e ep, const char *s)
{
    llmgw_answer_usage_t au;
    const char *why = llmgw_answer_invalid(pt, ep, s, s ? strlen(s) : 0);
    /* the check reading the usage in its pass says the same */
    const char *why2 = llmgw_answer_check(pt, ep, s, s ? strlen(s) : 0, &au);
    ck_assert(why == why2 || (why && why2 && !strcmp(why, why2)));
    return why == NULL;
}

START_TEST(openai_chat)
{
    const llmgw_provider_type_e O = LLMGW_PT_OPENAI;
    ck_assert(ok(O, LLMGW_EP_CHAT, "{\"id\":\"x\",\"choices\":[{\"index\":0}]}"));
    ck_assert(ok(O, LLMGW_EP_CHAT, " \n{\"choices\":[]}\n"));
    ck_assert(!ok(O, LLMGW_EP_CHAT, ""));
    ck_assert(!ok(O, LLMGW_EP_CHAT, "{}"));
    ck_assert(!ok(O, LLMGW_EP_CHAT, "[1,2,3]"));
    ck_assert(!ok(O, LLMGW_EP_CHAT, "{\"id\":\"x\",\"choices\":[{\"index\":0}"));
    ck_assert(!ok(O, LLMGW_EP_CHAT, "{\"choices\":{}}"));
    ck_assert(!ok(O, LLMGW_EP_CHAT, "{\"choices\":[]} x"));
    ck_assert(!ok(O, LLMGW_EP_CHAT, "<html>hi</html>"));
    ck_assert(!ok(O, LLMGW_EP_CHAT, "\"choices\""));
    /* an escaped key is not the member */
    ck_assert(!ok(O, LLMGW_EP_CHAT, "{\"\\u0063hoices\":[]}"));
    ck_assert(!ok(O, LLMGW_EP_CHAT, "{\"content\":[],\"type\":\"message\"}"));
}
END_TEST

START_TEST(anthropic_chat)
{
    const llmgw_provider_type_e A = LLMGW_PT_ANTHROPIC;
    ck_assert(ok(A, LLMGW_EP_CHAT, "{\"id\":\"m\",\"type\":\"message\","
                 "\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
                 "\"text\":\"hi\"}],\"stop_reason\":\"end_turn\"}"));
    ck_assert(!ok(A, LLMGW_EP_CHAT, "{}"));
    ck_assert(!ok(A, LLMGW_EP_CHAT, "[1,2,3]"));
    ck_assert(!ok(A, LLMGW_EP_CHAT, "{\"type\":\"message\"}"));
    ck_assert(!ok(A, LLMGW_EP_CHAT, "{\"type\":\"error\",\"content\":[]}"));
    ck_assert(!ok(A, LLMGW_EP_CHAT, "{\"type\":\"message\",\"content\":\"x\"}"));
    ck_assert(!ok(A, LLMGW_EP_CHAT, "{\"object\":\"chat.completion\","
                  "\"choices\":[{\"message\":{\"content\":\"hi\"}}]}"));
}
END_TEST

START_TEST(gemini_chat)
{
    const llmgw_provider_type_e G = LLMGW_PT_GEMINI;
    ck_assert(ok(G, LLMGW_EP_CHAT, "{\"candidates\":[{\"content\":{}}]}"));
    /* a blocked prompt: no candidate, a promptFeedback */
    ck_assert(ok(G, LLMGW_EP_CHAT, "{\"promptFeedback\":{\"blockReason\":"
                 "\"SAFETY\"}}"));
    ck_assert(!ok(G, LLMGW_EP_CHAT, "{}"));
    ck_assert(!ok(G, LLMGW_EP_CHAT, "[1,2,3]"));
    ck_assert(!ok(G, LLMGW_EP_CHAT, "{\"choices\":[]}"));
    ck_assert(!ok(G, LLMGW_EP_CHAT, "{\"candidates\":5}"));
}
END_TEST

START_TEST(embeddings_and_images)
{
    ck_assert(ok(LLMGW_PT_OPENAI, LLMGW_EP_EMBEDDINGS,
                 "{\"object\":\"list\",\"data\":[]}"));
    ck_assert(!ok(LLMGW_PT_OPENAI, LLMGW_EP_EMBEDDINGS, "{}"));
    ck_assert(!ok(LLMGW_PT_OPENAI, LLMGW_EP_EMBEDDINGS, "[1,2,3]"));
    ck_assert(!ok(LLMGW_PT_OPENAI, LLMGW_EP_EMBEDDINGS, "{\"choices\":[]}"));
    ck_assert(ok(LLMGW_PT_GEMINI, LLMGW_EP_EMBEDDINGS,
                 "{\"embedding\":{\"values\":[1]}}"));
    ck_assert(ok(LLMGW_PT_GEMINI, LLMGW_EP_EMBEDDINGS, "{\"embeddings\":[]}"));
    ck_assert(!ok(LLMGW_PT_GEMINI, LLMGW_EP_EMBEDDINGS, "{\"data\":[]}"));
    ck_assert(ok(LLMGW_PT_OPENAI, LLMGW_EP_IMAGES, "{\"created\":1,\"data\":[]}"));
    ck_assert(!ok(LLMGW_PT_OPENAI, LLMGW_EP_IMAGES, "{}"));
}
END_TEST

static int fin(const char *s)
{
    return llmgw_chunk_has_finish(s, strlen(s));
}

START_TEST(chunk_finish)
{
    ck_assert(!fin("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},"
                   "\"finish_reason\":null}]}"));
    ck_assert(fin("{\"choices\":[{\"index\":0,\"delta\":{},"
                  "\"finish_reason\":\"stop\"}]}"));
    ck_assert(fin("{\"choices\":[{\"finish_reason\" : \"length\"}]}"));
    /* the second choice finishes */
    ck_assert(fin("{\"choices\":[{\"finish_reason\":null},"
                  "{\"finish_reason\":\"stop\"}]}"));
    /* only in content: not a finish */
    ck_assert(!fin("{\"choices\":[{\"delta\":{\"content\":\"\\\"finish_reason"
                   "\\\":\\\"stop\\\"\"},\"finish_reason\":null}]}"));
    /* outside choices, or not a string */
    ck_assert(!fin("{\"finish_reason\":\"stop\",\"choices\":[]}"));
    ck_assert(!fin("{\"choices\":[{\"finish_reason\":5}]}"));
    ck_assert(!fin("{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}"));
    /* truncated text is no finish */
    ck_assert(!fin("{\"choices\":[{\"finish_reason\":\"stop\""));
    ck_assert(!fin("[DONE]"));
    ck_assert(!fin(""));
}
END_TEST

/* The usage read in the check's pass is what llmgw_usage_from_text
 * reads from the text (OpenAI chat and embeddings answers). */
static void same_usage(const char *s, int found)
{
    llmgw_answer_usage_t au;
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    int f = llmgw_usage_from_text(s, strlen(s), &u);

    ck_assert_msg(llmgw_answer_check(LLMGW_PT_OPENAI, LLMGW_EP_CHAT, s,
                                     strlen(s), &au) == NULL, "%s", s);
    ck_assert_int_eq(au.found, found);
    ck_assert_int_eq(f, found);
    if (found) {
        ck_assert_int_eq(au.usage.prompt_tokens, u.prompt_tokens);
        ck_assert_int_eq(au.usage.completion_tokens, u.completion_tokens);
        ck_assert_int_eq(au.usage.total_tokens, u.total_tokens);
        ck_assert_int_eq(au.usage.cached_tokens, u.cached_tokens);
    }
}

START_TEST(usage_in_the_pass)
{
    llmgw_answer_usage_t au;
    static const char cut[] = "{\"choices\":[],\"usage\":"
                              "{\"prompt_tokens\":1}";
    same_usage("{\"choices\":[],\"usage\":{\"prompt_tokens\":243,"
               "\"completion_tokens\":160,\"total_tokens\":403,"
               "\"prompt_tokens_details\":{\"cached_tokens\":7,"
               "\"audio_tokens\":0},\"completion_tokens_details\":"
               "{\"reasoning_tokens\":0}},\"system_fingerprint\":\"fp\"}", 1);
    /* embeddings: prompt tokens only; completion 0, total filled */
    same_usage("{\"choices\":[],\"usage\":{\"prompt_tokens\":5}}", 1);
    same_usage("{\"choices\":[{\"index\":0}]}", 0);
    same_usage("{\"choices\":[],\"usage\":null}", 0);
    /* the last one counts: an object, then null; null, then an object */
    same_usage("{\"usage\":{\"prompt_tokens\":1},\"choices\":[],"
               "\"usage\":null}", 0);
    same_usage("{\"usage\":null,\"choices\":[],"
               "\"usage\":{\"prompt_tokens\":2,\"total_tokens\":9}}", 1);
    same_usage("{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":3},"
               "\"choices\":[],\"usage\":{\"prompt_tokens\":2}}", 1);
    /* numbers: plain digits of 18 at most; the rest is not a count */
    same_usage("{\"choices\":[],\"usage\":{\"prompt_tokens\":"
               "123456789012345678,\"completion_tokens\":1.5,"
               "\"total_tokens\":-1}}", 1);
    same_usage("{\"choices\":[],\"usage\":{\"prompt_tokens\":"
               "1234567890123456789,\"completion_tokens\":\"4\"}}", 1);
    /* an escaped key is another member */
    same_usage("{\"choices\":[],\"\\u0075sage\":{\"prompt_tokens\":1}}", 0);
    /* an invalid answer: refused, no usage */
    ck_assert_ptr_nonnull(llmgw_answer_check(LLMGW_PT_OPENAI, LLMGW_EP_CHAT,
                                             cut, strlen(cut), &au));
    ck_assert_int_eq(au.found, 0);
}
END_TEST

static Suite *answer_suite(void)
{
    Suite *s = suite_create("answer");
    TCase *tc = ut_tcase(s, "core", 0);
    tcase_add_test(tc, openai_chat);
    tcase_add_test(tc, anthropic_chat);
    tcase_add_test(tc, gemini_chat);
    tcase_add_test(tc, embeddings_and_images);
    tcase_add_test(tc, chunk_finish);
    tcase_add_test(tc, usage_in_the_pass);
    return s;
}

UT_MAIN(answer_suite)
