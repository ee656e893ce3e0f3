/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_int.h — what the files of the Gemini translator share
 * (private to mod_llmgw/providers/gemini; the translator itself is
 * llmgw_gemini_translator in llmgw_translate.h).
 *
 *   llmgw_gemini.c            the translator table, path and headers
 *   llmgw_gemini_util.c       small shared helpers
 *   llmgw_gemini_request.c    request writer (llmgw_chat_request_t)
 *   llmgw_gemini_schema.c     JSON Schema cleaning, `$ref` resolution
 *   llmgw_gemini_response.c   answer reader
 *   llmgw_gemini_stream.c     stream translator
 *   llmgw_gemini_error.c      errors (incl. RetryInfo)
 *   llmgw_gemini_embeddings.c embeddings
 */
#ifndef LLMGW_GEMINI_INT_H
#define LLMGW_GEMINI_INT_H

#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include "llmgw_num.h"
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include "llmgw_translate.h"
#include "llmgw_chat_request.h"
#include "llmgw_envelope.h"
#include "llmgw_json_scan.h"
#include <errno.h>

#define GEMINI_SKIP_SIGNATURE "skip_thought_signature_validator"
#define GEMINI_MAX_CHOICES    128     /* candidateCount is at most 8 */
#define GEMINI_MAX_DEPTH      32      /* schema nesting we translate */

/* Small helpers (llmgw_gemini_util.c) */
const char *gem_jstr(const json_t *obj, const char *key);
const json_t *gem_jget(const json_t *obj, const char *key);
apr_int64_t gem_jcount(const json_t *obj, const char *key);
const char *gem_ctx_id(const llmgw_xlate_ctx_t *x);
const char *gem_ctx_model(const llmgw_xlate_ctx_t *x);
const char *gem_bare_model(const char *m);
const char *gem_encode_model(apr_pool_t *p, const char *m);
const char *gem_map_finish(const char *r);

/* usageMetadata's counts, in this order (gem_usage_sum) */
enum {
    GEM_USAGE_PROMPT, GEM_USAGE_CANDIDATES, GEM_USAGE_THOUGHTS,
    GEM_USAGE_TOOL, GEM_USAGE_TOTAL, GEM_USAGE_CACHED, GEM_USAGE_N
};
extern const char *const gem_usage_names[GEM_USAGE_N + 1];  /* NULL-ended */
void gem_usage_sum(apr_int64_t *n, llmgw_usage_t *u);

/* llmgw_gemini_schema.c */
json_t *gem_clean_schema(apr_pool_t *p, const json_t *s);

/* llmgw_gemini_request.c (gem_chat_request, gem_chat_response: the tree
 * forms of gem_raw_request, gem_raw_response) */
json_t *gem_chat_request(apr_pool_t *p, const json_t *req,
                         const llmgw_xlate_ctx_t *x, const char **err);

/* raw_request (chat: written directly; embeddings: through the tree) */
int gem_raw_request(const llmgw_translator_t *self, apr_pool_t *p,
                    const llmgw_xlate_ctx_t *x, const llmgw_xlate_in_t *in,
                    const char **out, apr_size_t *out_len, const char **err);

/* llmgw_gemini_response.c */
json_t *gem_chat_response(apr_pool_t *p, const json_t *native,
                          const llmgw_xlate_ctx_t *x,
                          llmgw_usage_t *usage);

/* raw_response (chat: read with the scanner, written directly;
 * embeddings: through the tree) */
int gem_raw_response(const llmgw_translator_t *self, apr_pool_t *p,
                     const llmgw_xlate_ctx_t *x, const llmgw_xlate_in_t *in,
                     const char *body, apr_size_t len, const char **out,
                     apr_size_t *out_len, llmgw_usage_t *usage);

/* llmgw_gemini_stream.c */
llmgw_stream_t *gem_stream_new(apr_pool_t *p,
                               const llmgw_xlate_ctx_t *x);
int gem_stream_event(llmgw_stream_t *s, const char *event,
                     const char *data, apr_size_t len,
                     llmgw_emit_fn emit, void *baton);
int gem_stream_finish(llmgw_stream_t *s, llmgw_emit_fn emit,
                      void *baton);
void gem_stream_usage(const llmgw_stream_t *s, llmgw_usage_t *usage);

/* llmgw_gemini_error.c */
void gem_error(apr_pool_t *p, int http_status, const char *body,
               apr_size_t len, llmgw_error_t *out);

/* google.rpc error object (the value of "error") -> out. */
void gem_map_rpc_error(apr_pool_t *p, int http_status, const json_t *e,
                       llmgw_error_t *out);

/* llmgw_gemini_embeddings.c */
json_t *gem_embeddings_request(apr_pool_t *p, const json_t *req,
                               const llmgw_xlate_ctx_t *x,
                               const char **err);
json_t *gem_embeddings_response(apr_pool_t *p, const json_t *native,
                                const llmgw_xlate_ctx_t *x,
                                llmgw_usage_t *usage);

#endif /* LLMGW_GEMINI_INT_H */
