/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini.c — the Gemini translator: OpenAI Chat Completions /
 * Embeddings <-> Gemini generateContent, streamGenerateContent?alt=sse and
 * batchEmbedContents
 * (pure: APR + jansson only, no httpd header).
 *
 * Every json_t built here is either returned to the caller (a new
 * reference) or released before the function returns; strings that must
 * outlive a json_t are copied into the pool first.
 *
 * Tool-call thought signatures (Gemini 2.5+/3) travel to the client in
 * `tool_calls[].extra_content.google.thought_signature`, as in Google's own
 * OpenAI-compatible endpoint, and come back from there; a model turn whose
 * calls carry none gets the documented validator-skip sentinel, so a
 * client that drops the field still gets an answer from Gemini 3.
 *
 * This file ties the parts together (llmgw_gemini_int.h lists them).
 */
#include "llmgw_gemini_int.h"

/* ------------------------------------------------------------------ */
/* path, headers                                                       */
/* ------------------------------------------------------------------ */

static const char *gem_path(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                            llmgw_endpoint_e ep, int stream)
{
    const char *m = gem_bare_model(x ? x->model : NULL);

    if (m == NULL || *m == '\0') {
        return NULL;
    }
    m = gem_encode_model(p, m);
    switch (ep) {
    case LLMGW_EP_GEMINI:           /* Gemini's own API, relayed */
    case LLMGW_EP_GEMINI_STREAM:
    case LLMGW_EP_CHAT:
        return apr_pstrcat(p, "/models/", m,
                           stream ? ":streamGenerateContent?alt=sse"
                                  : ":generateContent", NULL);
    case LLMGW_EP_EMBEDDINGS:
        return apr_pstrcat(p, "/models/", m, ":batchEmbedContents", NULL);
    default:
        return NULL;
    }
}

static void gem_headers(apr_pool_t *p, const char *key,
                        apr_array_header_t *out)
{
    /* A key that could split the header block is never sent. */
    if (key && *key && !strpbrk(key, "\r\n")) {
        APR_ARRAY_PUSH(out, const char *) =
            apr_pstrcat(p, "x-goog-api-key: ", key, NULL);
    }
}


const llmgw_translator_t llmgw_gemini_translator = {
    "gemini",
    gem_path,
    gem_headers,
    gem_chat_request,
    gem_chat_response,
    gem_stream_new,
    gem_stream_event,
    gem_stream_finish,
    gem_stream_usage,
    gem_error,
    gem_embeddings_request,
    gem_embeddings_response,
    gem_raw_request,
    gem_raw_response
};
