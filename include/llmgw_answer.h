/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_answer.h — is an upstream answer a valid answer of its API? (pure)
 * Checked with the scanner of llmgw_json_scan.h: no tree is built for an
 * answer that is relayed as it came.
 */
#ifndef LLMGW_ANSWER_H
#define LLMGW_ANSWER_H

#include "llmgw_types.h"
#include "llmgw_json_scan.h"

/* NULL when body[0..len) is a valid complete non-stream answer of endpoint
 * ep for a provider of type pt: valid JSON, an object with the members its
 * API always has (OpenAI chat: a `choices` array; Anthropic: `type`
 * "message" and a `content` array; Gemini: a `candidates` array or a
 * `promptFeedback` object; embeddings: `data` array, Gemini `embedding` or
 * `embeddings`; images: `data`). Otherwise a client-facing reason. */
const char *llmgw_answer_invalid(llmgw_provider_type_e pt, llmgw_endpoint_e ep,
                                 const char *body, apr_size_t len);

/* llmgw_answer_invalid, reading in the same pass the answer's
 * OpenAI-format usage (its top-level "usage" object, the last one), as
 * llmgw_usage_from_text reads it: found 1 and usage set when there is one.
 * The relay of an OpenAI-format answer then has nothing left to scan. */
typedef struct llmgw_answer_usage {
    int found;
    llmgw_usage_t usage;
} llmgw_answer_usage_t;
const char *llmgw_answer_check(llmgw_provider_type_e pt, llmgw_endpoint_e ep,
                               const char *body, apr_size_t len,
                               llmgw_answer_usage_t *au);

/* The verdicts of llmgw_answer_check, for a translator that reads the
 * answer in its own validating pass and gives the same one
 * (llmgw_xlate_in_t.why, llmgw_translate.h):
 * llmgw_answer_unread: an empty body, or one the scanner refused as a JSON
 * object (llmgw_json_object_each/_visit did not return 1): its reason.
 * llmgw_answer_anthropic: an Anthropic message's, from the last unescaped
 * top-level "type" and "content" members (NULL: none): NULL when type is
 * the string "message" and content an array, else the reason.
 * llmgw_answer_gemini: a GenerateContentResponse's, from the last
 * unescaped top-level "candidates" and "promptFeedback" (NULL: none): NULL
 * when candidates is an array or promptFeedback an object.
 * llmgw_answer_openai: a chat.completion's, from the last unescaped
 * top-level "choices" (NULL: none): NULL when it is an array. */
const char *llmgw_answer_unread(const char *body, apr_size_t len);
const char *llmgw_answer_anthropic(const llmgw_jspan_t *type,
                                   const llmgw_jspan_t *content);
const char *llmgw_answer_gemini(const llmgw_jspan_t *candidates,
                                const llmgw_jspan_t *feedback);
const char *llmgw_answer_openai(const llmgw_jspan_t *choices);

/* 1 when an OpenAI-format chat.completion.chunk (an SSE data payload) has a
 * choice whose finish_reason is a string: the stream's terminal event.
 * Cheap for the usual chunk ("finish_reason":null). */
int llmgw_chunk_has_finish(const char *data, apr_size_t len);

#endif
