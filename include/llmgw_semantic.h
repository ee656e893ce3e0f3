/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_semantic.h — the pure parts of mod_llmgw_cache's semantic cache
 * (APR, jansson, OpenSSL; no httpd header).
 *
 * A request is split into its last user message's text (what is embedded)
 * and everything else (its "context": model, system prompt, earlier turns,
 * tools, parameters), whose canonical form keys one bucket of the index
 * in the shared store. A bucket is a bounded list of (exact cache key,
 * embedding) pairs, newest first: a lookup takes the entries whose cosine
 * with the new embedding is at least the threshold, best first, and the
 * glue reads the exact entries they point to. Entries pushed out of a
 * full bucket are returned so that the glue deletes their answers too.
 */
#ifndef LLMGW_SEMANTIC_H
#define LLMGW_SEMANTIC_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>

/* Prefix of the index buckets in the shared store. */
#define LLMGW_SEM_KEY_PREFIX   "llmgw:sem:v1:"
#define LLMGW_SEM_MAGIC        "LLMGWS1 "
#define LLMGW_SEM_BUCKET_MAX   32        /* entries of one bucket */
#define LLMGW_SEM_BUCKET_BYTES 900000    /* below memcached's 1 MB item */
#define LLMGW_SEM_DIM_MAX      8192      /* longest embedding kept */
#define LLMGW_SEM_TEXT_MAX     32768     /* longest text embedded (bytes) */
#define LLMGW_SEM_HASH_LEN     64        /* hex SHA-256 of an exact key */

/* Cosine similarity of two vectors of n floats; 0 when either is all
 * zeros or n is 0. */
double llmgw_cosine(const float *a, const float *b, apr_size_t n);

/* Splits a Chat Completions, Messages, Responses or Gemini request tree:
 * *text is its last message's text when that message is the user's and
 * holds only text (a string, or parts/blocks of type "text" or
 * "input_text", or Gemini parts of text only, joined with "\n"; a
 * Responses string input), and *context the canonical body
 * (llmgw_cache_canonical_body) of a copy of the request whose last
 * message's text is "". 0, or -1 when the request cannot be served
 * semantically (no turns, last message not a user's, images, tool
 * results, empty or over LLMGW_SEM_TEXT_MAX text). */
int llmgw_semantic_split(apr_pool_t *p, const json_t *body,
                         const char **text, const char **context);

/* One entry of a bucket. */
typedef struct llmgw_sem_entry {
    char key[LLMGW_SEM_HASH_LEN + 1];    /* hex part of the exact cache key */
    const float *vec;                    /* dim floats */
} llmgw_sem_entry_t;

typedef struct llmgw_sem_bucket {
    apr_size_t dim;                      /* every entry's length */
    apr_array_header_t *entries;         /* llmgw_sem_entry_t, newest first */
} llmgw_sem_bucket_t;

/* An empty bucket of vectors of dim floats. */
llmgw_sem_bucket_t *llmgw_sem_bucket_make(apr_pool_t *p, apr_size_t dim);

/* Stored bytes of a bucket (magic, dim, count, then per entry its 64 hex
 * digits and dim little-endian float32), and back: 0, or -1 when data is
 * not a bucket (a corrupt bucket is an empty one for the glue). */
char *llmgw_sem_bucket_encode(apr_pool_t *p, const llmgw_sem_bucket_t *b,
                              apr_size_t *len);
int llmgw_sem_bucket_decode(apr_pool_t *p, const char *data, apr_size_t len,
                            llmgw_sem_bucket_t **out);

/* Puts (key, vec) first in b (an entry with the same key is replaced),
 * then keeps at most LLMGW_SEM_BUCKET_MAX entries and
 * LLMGW_SEM_BUCKET_BYTES encoded bytes. A vector of another length than
 * the bucket's empties the bucket first (the embedder changed). The keys
 * pushed out are appended to evicted (const char *, may be NULL). key is
 * the hex part of an exact cache key (LLMGW_SEM_HASH_LEN digits); -1
 * when it is not. */
int llmgw_sem_bucket_add(apr_pool_t *p, llmgw_sem_bucket_t *b,
                         const char *key, const float *vec, apr_size_t dim,
                         apr_array_header_t *evicted);

/* A candidate of a lookup. */
typedef struct llmgw_sem_match {
    const char *key;                     /* hex part of the exact key */
    double similarity;
} llmgw_sem_match_t;

/* The entries of b whose cosine with vec is at least threshold, best
 * first (llmgw_sem_match_t), at most max of them; empty when the lengths
 * differ. */
apr_array_header_t *llmgw_sem_bucket_match(apr_pool_t *p,
                                           const llmgw_sem_bucket_t *b,
                                           const float *vec, apr_size_t dim,
                                           double threshold, int max);

/* Reads an OpenAI embeddings answer ({"data":[{"embedding":[...]}]}, the
 * float form) into floats: 0 with *vec and *dim (1 to LLMGW_SEM_DIM_MAX
 * finite numbers), or -1. */
int llmgw_sem_embedding_parse(apr_pool_t *p, const char *body,
                              apr_size_t len, float **vec, apr_size_t *dim);

/* A similarity as the x-cache-similarity header shows it: 4 decimals,
 * never rounded up to 1 unless it is 1 ("0.9871"). */
const char *llmgw_sem_similarity_str(apr_pool_t *p, double s);

#endif
