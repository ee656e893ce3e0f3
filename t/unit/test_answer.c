/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Upstream answers that are not answers of their API (llmgw_answer.c):
 * what a 200 must look like per endpoint and provider type, and the
 * terminal event (finish_reason) of an OpenAI-format stream. */
#include <string.h>
#include "llmgw_test.h"
#include "llmgw_answer.h"

static int ok(llmgw_provider_type_e pt, llmgw_endpoint_e ep, const char *s)
{
    return llmgw_answer_invalid(pt, ep, s, s ? strlen(s) : 0) == NULL;
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

static Suite *answer_suite(void)
{
    Suite *s = suite_create("answer");
    TCase *tc = ut_tcase(s, "core", 0);
    tcase_add_test(tc, openai_chat);
    tcase_add_test(tc, anthropic_chat);
    tcase_add_test(tc, gemini_chat);
    tcase_add_test(tc, embeddings_and_images);
    tcase_add_test(tc, chunk_finish);
    return s;
}

UT_MAIN(answer_suite)
