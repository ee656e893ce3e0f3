/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_api_responses.h — what the glue needs of the OpenAI Responses API
 * adapter (llmgw_api_responses, llmgw_client_api.h) besides its table
 * (pure: APR + jansson only).
 */
#ifndef LLMGW_API_RESPONSES_H
#define LLMGW_API_RESPONSES_H

#include <jansson.h>

/* The whole conversation as Responses input items: history's items (the
 * earlier conversation, may be NULL), then the request's input normalised
 * to items (a string input becomes one user message item), then the
 * response's output items (response may be NULL). What the glue stores so
 * that the next previous_response_id continues it. A new reference; NULL
 * when request has no valid input. */
json_t *llmgw_responses_conversation(const json_t *history,
                                     const json_t *request,
                                     const json_t *response);

#endif
