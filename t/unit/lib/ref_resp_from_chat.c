/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The reference for the Responses adapter's answer writer
 * (mod_llmgw/api/llmgw_api_responses.c writes the response object from the
 * chat.completion's text): the tree converter it replaced (the output
 * builder fed with the answer's tree, the built response serialised), kept
 * for the tests only. test_api_responses.c checks that both give the same
 * response (as JSON documents) or both refuse, over the unit tests'
 * answers, the recorded ones and edge cases. Not built into any module. */
#include <string.h>
#include <apr_strings.h>
#include "llmgw_client_api.h"
#include "llmgw_responses_private.h"

/* Feeds a chat.completion's first choice to b and finishes it. */
static int build_from_chat(llmgw_rb_t *b, const json_t *chat)
{
    const json_t *choice = json_array_get(json_object_get(chat, "choices"), 0);
    const json_t *msg = json_object_get(choice, "message");
    const json_t *rc = json_object_get(msg, "reasoning_content");
    const json_t *content = json_object_get(msg, "content");
    const json_t *refusal = json_object_get(msg, "refusal");
    const json_t *calls = json_object_get(msg, "tool_calls");
    const json_t *tc;
    size_t i;

    if (!json_is_object(msg)) {
        return -1;
    }
    if (json_is_string(rc) && json_string_length(rc)
        && llmgw_rb_reasoning(b, NULL, json_string_value(rc),
                              json_string_length(rc))) {
        return -1;
    }
    if (json_is_string(content) && json_string_length(content)
        && llmgw_rb_text(b, NULL, json_string_value(content),
                         json_string_length(content))) {
        return -1;
    }
    if (json_is_string(refusal) && json_string_length(refusal)
        && llmgw_rb_refusal(b, NULL, json_string_value(refusal),
                            json_string_length(refusal))) {
        return -1;
    }
    json_array_foreach(calls, i, tc) {
        const json_t *fn = json_object_get(tc, "function");
        const json_t *args = json_object_get(fn, "arguments");
        if (llmgw_rb_call(b, (int)i, NULL,
                          json_string_value(json_object_get(tc, "id")),
                          json_string_value(json_object_get(fn, "name")),
                          json_string_value(args),
                          json_is_string(args) ? json_string_length(args)
                                               : 0)) {
            return -1;
        }
    }
    return llmgw_rb_finish(b, json_string_value(json_object_get(choice,
                           "finish_reason")), json_object_get(chat, "usage"),
                           NULL);
}

static json_t *resp_answer(apr_pool_t *p, const json_t *chat,
                           const llmgw_api_ctx_t *c)
{
    apr_pool_t *sp;
    llmgw_rb_t *b;
    json_t *r = NULL;

    apr_pool_create(&sp, p);
    b = llmgw_rb_new(sp, llmgw_responses_skeleton(c), c->id);
    if (build_from_chat(b, chat) == 0) {
        r = json_incref(llmgw_rb_response(b));
    }
    apr_pool_destroy(sp);
    return r;
}

int ut_ref_resp_from_chat(apr_pool_t *p, const char *chat, apr_size_t len,
                          const llmgw_api_ctx_t *c, const char **out,
                          apr_size_t *out_len)
{
    return llmgw_api_from_chat_tree(p, chat, len, c, resp_answer, out,
                                    out_len);
}
