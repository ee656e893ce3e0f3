/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Placeholder until the responses adapter lands. */
#include "llmgw_client_api.h"

const llmgw_client_api_t llmgw_api_responses = {
    LLMGW_API_RESPONSES, "responses",
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, llmgw_envelope_json, NULL, NULL
};
