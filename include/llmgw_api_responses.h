/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_api_responses.h — what the glue needs of the Responses adapter
 * besides llmgw_client_api_t (pure).
 */
#ifndef LLMGW_API_RESPONSES_H
#define LLMGW_API_RESPONSES_H

#include <jansson.h>

/* The whole conversation as Responses input items (history items, then the
 * request's input normalised to items — a string input becomes a user
 * message item — then the response's output items), new reference: what
 * the glue stores so the next previous_response_id continues it. */
json_t *llmgw_responses_conversation(const json_t *history,
                                     const json_t *request,
                                     const json_t *response);

#endif
