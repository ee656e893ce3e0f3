/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Helpers shared by the native translators. */
#include <string.h>
#include <stdlib.h>
#include "llmgw_translate.h"
#include "llmgw_num.h"

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

int llmgw_xlate_emit_json(json_t *j, llmgw_emit_fn emit, void *baton)
{
    char *txt = llmgw_json_dumps(j, JSON_COMPACT);
    int rv = -1;

    json_decref(j);
    if (txt) {
        rv = emit(baton, txt, strlen(txt));
        free(txt);
    }
    return rv;
}

json_t *llmgw_xlate_chunk(const llmgw_xlate_ctx_t *x, int index,
                          json_t *delta, const char *finish)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:o}]}",
                     "id", x->id ? x->id : "",
                     "object", "chat.completion.chunk",
                     "created", (json_int_t)x->created,
                     "model", x->model ? x->model : "",
                     "choices", "index", index, "delta", delta,
                     "logprobs", "finish_reason",
                     finish ? json_string(finish) : json_null());
}

int llmgw_xlate_emit_error(const llmgw_xlate_ctx_t *x, const llmgw_error_t *e,
                           llmgw_emit_fn emit, void *baton)
{
    llmgw_error_t err = *e;

    if (!err.provider) {
        err.provider = x->provider;
    }
    llmgw_xlate_emit_json(llmgw_envelope_json(&err, x->request_id), emit,
                          baton);
    return LLMGW_XLATE_ERROR;
}

int llmgw_xlate_emit_provider_error(const llmgw_xlate_ctx_t *x,
                                    const char *msg, llmgw_emit_fn emit,
                                    void *baton)
{
    llmgw_error_t e;

    memset(&e, 0, sizeof(e));
    e.status = 502;
    e.type = "provider_error";
    e.message = msg;
    e.retry_after = -1;
    return llmgw_xlate_emit_error(x, &e, emit, baton);
}
