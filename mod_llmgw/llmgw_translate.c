/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Helpers shared by the native translators. */
#include <string.h>
#include "llmgw_translate.h"

const char *llmgw_finish_reason(const char *mapped, int has_tool_calls)
{
    if (mapped && strcmp(mapped, "length") == 0) {
        return mapped;
    }
    if (has_tool_calls) {
        return "tool_calls";
    }
    return mapped ? mapped : "stop";
}
