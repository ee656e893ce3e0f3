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
 *   llmgw_gemini_read.c       GenerateContentResponse reader (answers,
 *                             stream events)
 *   llmgw_gemini_response.c   answer translator
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

/* Up to 8 members of a scanned object, by name (gem_obj: the last of a
 * repeated one wins, as in jansson; nothing when v is not an object);
 * gem_obj_get: the i-th name's value when it has that type, else NULL. */
typedef struct {
    const char *const *names;   /* NULL-ended */
    llmgw_jspan_t v[8];
    int has[8];
} gem_obj_t;
void gem_obj(gem_obj_t *o, const char *const *names, const llmgw_jspan_t *v);
const llmgw_jspan_t *gem_obj_get(const gem_obj_t *o, int i,
                                 llmgw_jv_type_e type);

/* The n-th (from 0) element of an array span into *out: 1, or 0 when it
 * has fewer. */
int gem_nth(const llmgw_jspan_t *arr, size_t n, llmgw_jspan_t *out);

/* The members of logprobsResult (gem_lr_names) and of its candidates and
 * topCandidates' elements (gem_lp_names), for gem_obj. */
enum { GEM_LR_CHOSEN, GEM_LR_TOP };
enum { GEM_LP_TOKEN, GEM_LP_LOGPROB, GEM_LP_CANDIDATES };
extern const char *const gem_lr_names[];
extern const char *const gem_lp_names[];

/* usageMetadata's counts, in this order (gem_usage_sum) */
enum {
    GEM_USAGE_PROMPT, GEM_USAGE_CANDIDATES, GEM_USAGE_THOUGHTS,
    GEM_USAGE_TOOL, GEM_USAGE_TOTAL, GEM_USAGE_CACHED, GEM_USAGE_N
};
extern const char *const gem_usage_names[GEM_USAGE_N + 1];  /* NULL-ended */
void gem_usage_sum(apr_int64_t *n, llmgw_usage_t *u);

/* llmgw_gemini_read.c: a GenerateContentResponse (an answer, or one
 * stream event) read in one validating pass of the JSON scanner into
 * fixed records: the members the translators look at, as spans of the
 * text (p NULL: absent). Where a member is repeated the last one counts,
 * as in jansson. */
typedef struct gem_read gem_read_t;

typedef struct {                /* the baton of a container read */
    int kind;
    int i;                      /* the candidate or part it belongs to */
    gem_read_t *r;
} gem_bat_t;

/* One part of a candidate's content (an object element of its parts). */
typedef struct {
    gem_bat_t b;                /* the part */
    gem_bat_t fb;               /* its functionCall */
    llmgw_jspan_t text, sig, name, args;
    int thought;                /* "thought": true */
    int call;                   /* functionCall is an object */
} gem_part_t;

/* One element of the candidates (an object or not). */
typedef struct {
    gem_bat_t b, content_b, parts_b;
    llmgw_jspan_t index, finish, logprobs;
    int parts_first, nparts;    /* its parts in gem_read_t.parts */
} gem_cand_t;

struct gem_read {
    apr_array_header_t *cands;  /* gem_cand_t */
    apr_array_header_t *parts;  /* gem_part_t */
    const llmgw_json_visitor_t *visitor;  /* lax or strict */
    gem_bat_t *other;           /* baton of the containers not read */
    gem_bat_t check_b, top_b, cands_b, usage_b, feedback_b;
    int has_cands, cands_array, has_feedback, blocked, has_usage,
        usage_object, has_error;
    llmgw_jspan_t error;
    llmgw_jspan_t usage[GEM_USAGE_N];   /* valid when usage_object */
    /* the gateway's answer check reads keys as written (an escaped
     * spelling is another member): the last such candidates and
     * promptFeedback, for its verdict (llmgw_answer_gemini) */
    llmgw_jspan_t chk_cands, chk_feedback;
};

#define GEM_READ_CAND(r, i) (&APR_ARRAY_IDX((r)->cands, (i), gem_cand_t))
#define GEM_READ_PART(r, i) (&APR_ARRAY_IDX((r)->parts, (i), gem_part_t))

/* Ready to read from p. strict: also refuse, member by member, what
 * jansson refuses in a text the scanner accepts (a key holding a NUL, an
 * integer beyond 64 bits, a real beyond a double), walking every
 * container to do so (the stream's events); else the containers not read
 * are only validated (the answer: its integers are checked as written). */
void gem_read_init(gem_read_t *r, apr_pool_t *p, int strict);

/* Reads the text (an object) into r, again for each text: 1 when it is
 * one, else 0. */
int gem_read(gem_read_t *r, const char *text, apr_size_t len);

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
