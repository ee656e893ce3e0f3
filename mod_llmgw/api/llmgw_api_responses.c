/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Placeholder until the responses adapter lands. */
#include "llmgw_client_api.h"

const llmgw_client_api_t llmgw_api_responses = {
    LLMGW_API_RESPONSES, "responses",
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, llmgw_envelope_json, NULL, NULL
};

#include "llmgw_api_responses.h"

/* placeholder: the history and the response's output only */
json_t *llmgw_responses_conversation(const json_t *history,
                                     const json_t *request,
                                     const json_t *response)
{
    json_t *all = json_is_array(history) ? json_copy((json_t *)history)
                                         : json_array();
    (void)request;
    json_array_extend(all, json_object_get(response, "output"));
    return all;
}
