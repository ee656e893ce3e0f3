/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_api_responses.h — what the glue needs of the OpenAI Responses API
 * adapter (llmgw_api_responses, llmgw_client_api.h) besides its table
 * (pure: APR + jansson only).
 */
#ifndef LLMGW_API_RESPONSES_H
#define LLMGW_API_RESPONSES_H

#include <jansson.h>
#include "llmgw_client_api.h"

/* The whole conversation as Responses input items: history's items (the
 * earlier conversation, may be NULL), then the request's input normalised
 * to items (a string input becomes one user message item), then the
 * response's output items (response may be NULL). What the glue stores so
 * that the next previous_response_id continues it. A new reference; NULL
 * when request has no valid input. */
json_t *llmgw_responses_conversation(const json_t *history,
                                     const json_t *request,
                                     const json_t *response);

/* The echoed members of a Responses request (llmgw_api_echo_t) from its
 * text, as jansson reads them: a member given twice has its last value, an
 * escaped key is compared unescaped. e is cleared first. 0, or -1 (e left
 * empty) when text is not a JSON object. */
int llmgw_responses_echo_read(const char *text, apr_size_t len,
                              llmgw_api_echo_t *e);

/* One top-level member for e (an llmgw_json_member_fn whose baton is an
 * llmgw_api_echo_t): what a scan that already read the request's top
 * level (llmgw_parsed_t.top) gives, in order. Returns 0. */
int llmgw_responses_echo_member(void *e, const char *key, apr_size_t klen,
                                int key_escaped, const llmgw_jspan_t *v);

#endif
