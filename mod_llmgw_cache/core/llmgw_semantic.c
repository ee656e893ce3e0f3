/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The semantic cache's pure parts: the split of a request into its last
 * user text and its context, cosine similarity, and the index buckets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_semantic.h"
#include "llmgw_cache_key.h"
#include "llmgw_num.h"

double llmgw_cosine(const float *a, const float *b, apr_size_t n)
{
    double dot = 0, na = 0, nb = 0;
    apr_size_t i;
    for (i = 0; i < n; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    if (!(na > 0) || !(nb > 0)) {
        return 0;
    }
    return dot / (sqrt(na) * sqrt(nb));
}

/* The text of a message's content: a string, or text parts only (Chat
 * and Anthropic "text", Responses "input_text"; Gemini parts carry no
 * type, only "text"). NULL when it holds anything else. */
static const char *content_text(apr_pool_t *p, const json_t *content)
{
    const char *out = NULL;
    size_t i;
    json_t *part;

    if (json_is_string(content)) {
        return apr_pstrmemdup(p, json_string_value(content),
                              json_string_length(content));
    }
    if (!json_is_array(content) || !json_array_size(content)) {
        return NULL;
    }
    json_array_foreach(content, i, part) {
        const json_t *t = json_object_get(part, "text");
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!json_is_string(t) || (type ? strcmp(type, "text")
                                          && strcmp(type, "input_text")
                                        : json_object_size(part) != 1)) {
            return NULL;            /* an image, a tool result...: exact only */
        }
        out = out ? apr_pstrcat(p, out, "\n", json_string_value(t), NULL)
                  : json_string_value(t);
    }
    return out ? apr_pstrdup(p, out) : NULL;
}

/* Where a request keeps its turns: Chat and Messages "messages",
 * Responses "input" (items, or one string), Gemini "contents" (role
 * "user", or none, for the user; the text in "parts"). */
static const char *const turn_fields[] = { "messages", "input", "contents" };

int llmgw_semantic_split(apr_pool_t *p, const json_t *body,
                         const char **text, const char **context)
{
    const json_t *msgs = NULL, *last;
    const char *role, *type, *t, *field = NULL;
    json_t *copy;
    char *txt;
    size_t f;

    for (f = 0; f < sizeof(turn_fields) / sizeof(turn_fields[0]) && !msgs;
         f++) {
        msgs = json_object_get(body, field = turn_fields[f]);
    }
    if (!json_is_object(body) || !msgs) {
        return -1;
    }
    if (json_is_string(msgs) && !strcmp(field, "input")) {
        t = content_text(p, msgs);
        last = NULL;
    }
    else {
        if (!json_is_array(msgs) || !json_array_size(msgs)) {
            return -1;
        }
        last = json_array_get(msgs, json_array_size(msgs) - 1);
        role = json_string_value(json_object_get(last, "role"));
        type = json_string_value(json_object_get(last, "type"));
        if (strcmp(field, "contents") ? !role || strcmp(role, "user")
                                      : role && strcmp(role, "user")) {
            return -1;
        }
        if (type && strcmp(type, "message")) {
            return -1;              /* a Responses function_call_output */
        }
        t = content_text(p, json_object_get(last, strcmp(field, "contents")
                                                  ? "content" : "parts"));
    }
    if (!t || !*t || strlen(t) > LLMGW_SEM_TEXT_MAX) {
        return -1;
    }
    copy = json_deep_copy(body);
    if (!copy) {
        return -1;
    }
    if (!last) {
        /* as the items form of the same question would be */
        json_object_set_new(copy, field, json_pack("[{s:s,s:s}]", "role",
                                                   "user", "content", ""));
    }
    else {
        json_t *lastc = json_array_get(json_object_get(copy, field),
                                       json_array_size(msgs) - 1);
        if (strcmp(field, "contents")) {
            json_object_set_new(lastc, "content", json_string(""));
        }
        else {
            json_object_set_new(lastc, "parts", json_pack("[{s:s}]", "text",
                                                          ""));
        }
    }
    txt = llmgw_json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    if (!txt) {
        return -1;
    }
    *context = llmgw_cache_canonical_body(p, txt, strlen(txt));
    free(txt);
    if (!*context) {
        return -1;
    }
    *text = t;
    return 0;
}

/* ------------------------------------------------------------ buckets */

llmgw_sem_bucket_t *llmgw_sem_bucket_make(apr_pool_t *p, apr_size_t dim)
{
    llmgw_sem_bucket_t *b = apr_pcalloc(p, sizeof(*b));
    b->dim = dim;
    b->entries = apr_array_make(p, 8, sizeof(llmgw_sem_entry_t));
    return b;
}

static apr_size_t entry_bytes(apr_size_t dim)
{
    return LLMGW_SEM_HASH_LEN + dim * 4;
}

#define HEAD_LEN (sizeof(LLMGW_SEM_MAGIC) - 1 + 8)

static void put_u32(unsigned char *o, apr_uint32_t v)
{
    o[0] = (unsigned char)v;
    o[1] = (unsigned char)(v >> 8);
    o[2] = (unsigned char)(v >> 16);
    o[3] = (unsigned char)(v >> 24);
}

static apr_uint32_t get_u32(const unsigned char *i)
{
    return (apr_uint32_t)i[0] | (apr_uint32_t)i[1] << 8
           | (apr_uint32_t)i[2] << 16 | (apr_uint32_t)i[3] << 24;
}

char *llmgw_sem_bucket_encode(apr_pool_t *p, const llmgw_sem_bucket_t *b,
                              apr_size_t *len)
{
    apr_size_t n = (apr_size_t)b->entries->nelts, i, j;
    apr_size_t total = HEAD_LEN + n * entry_bytes(b->dim);
    unsigned char *buf = apr_palloc(p, total + 1), *o = buf;

    memcpy(o, LLMGW_SEM_MAGIC, sizeof(LLMGW_SEM_MAGIC) - 1);
    o += sizeof(LLMGW_SEM_MAGIC) - 1;
    put_u32(o, (apr_uint32_t)b->dim);
    put_u32(o + 4, (apr_uint32_t)n);
    o += 8;
    for (i = 0; i < n; i++) {
        const llmgw_sem_entry_t *e = &APR_ARRAY_IDX(b->entries, i,
                                                    llmgw_sem_entry_t);
        memcpy(o, e->key, LLMGW_SEM_HASH_LEN);
        o += LLMGW_SEM_HASH_LEN;
        for (j = 0; j < b->dim; j++) {
            apr_uint32_t u;
            memcpy(&u, &e->vec[j], 4);
            put_u32(o, u);
            o += 4;
        }
    }
    buf[total] = '\0';
    *len = total;
    return (char *)buf;
}

static int hex_key_ok(const char *k, apr_size_t n)
{
    apr_size_t i;
    for (i = 0; i < n; i++) {
        if (!((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'f'))) {
            return 0;
        }
    }
    return n == LLMGW_SEM_HASH_LEN;
}

int llmgw_sem_bucket_decode(apr_pool_t *p, const char *data, apr_size_t len,
                            llmgw_sem_bucket_t **out)
{
    const unsigned char *i = (const unsigned char *)data;
    apr_uint32_t dim, n, k;
    llmgw_sem_bucket_t *b;

    if (len < HEAD_LEN || memcmp(data, LLMGW_SEM_MAGIC,
                                 sizeof(LLMGW_SEM_MAGIC) - 1)) {
        return -1;
    }
    i += sizeof(LLMGW_SEM_MAGIC) - 1;
    dim = get_u32(i);
    n = get_u32(i + 4);
    i += 8;
    if (!dim || dim > LLMGW_SEM_DIM_MAX || n > LLMGW_SEM_BUCKET_MAX
        || len != HEAD_LEN + (apr_size_t)n * entry_bytes(dim)) {
        return -1;
    }
    b = llmgw_sem_bucket_make(p, dim);
    for (k = 0; k < n; k++) {
        llmgw_sem_entry_t *e = apr_array_push(b->entries);
        float *v = apr_palloc(p, dim * sizeof(float));
        apr_uint32_t j;
        if (!hex_key_ok((const char *)i, LLMGW_SEM_HASH_LEN)) {
            return -1;
        }
        memcpy(e->key, i, LLMGW_SEM_HASH_LEN);
        e->key[LLMGW_SEM_HASH_LEN] = '\0';
        i += LLMGW_SEM_HASH_LEN;
        for (j = 0; j < dim; j++) {
            apr_uint32_t u = get_u32(i);
            memcpy(&v[j], &u, 4);
            if (!isfinite(v[j])) {
                return -1;
            }
            i += 4;
        }
        e->vec = v;
    }
    *out = b;
    return 0;
}

int llmgw_sem_bucket_add(apr_pool_t *p, llmgw_sem_bucket_t *b,
                         const char *key, const float *vec, apr_size_t dim,
                         apr_array_header_t *evicted)
{
    apr_array_header_t *kept;
    llmgw_sem_entry_t *e;
    apr_size_t max;
    int i;

    if (!key || !hex_key_ok(key, strlen(key)) || !dim
        || dim > LLMGW_SEM_DIM_MAX) {
        return -1;
    }
    if (dim != b->dim) {
        for (i = 0; evicted && i < b->entries->nelts; i++) {
            APR_ARRAY_PUSH(evicted, const char *) = apr_pstrdup(p,
                APR_ARRAY_IDX(b->entries, i, llmgw_sem_entry_t).key);
        }
        apr_array_clear(b->entries);
        b->dim = dim;
    }
    max = (LLMGW_SEM_BUCKET_BYTES - HEAD_LEN) / entry_bytes(dim);
    if (max > LLMGW_SEM_BUCKET_MAX) {
        max = LLMGW_SEM_BUCKET_MAX;
    }
    kept = apr_array_make(p, b->entries->nelts + 1, sizeof(llmgw_sem_entry_t));
    e = apr_array_push(kept);
    memcpy(e->key, key, LLMGW_SEM_HASH_LEN + 1);
    e->vec = apr_pmemdup(p, vec, dim * sizeof(float));
    for (i = 0; i < b->entries->nelts; i++) {
        const llmgw_sem_entry_t *o = &APR_ARRAY_IDX(b->entries, i,
                                                    llmgw_sem_entry_t);
        if (!strcmp(o->key, key)) {
            continue;
        }
        if ((apr_size_t)kept->nelts >= max) {
            if (evicted) {
                APR_ARRAY_PUSH(evicted, const char *) = apr_pstrdup(p, o->key);
            }
            continue;
        }
        *(llmgw_sem_entry_t *)apr_array_push(kept) = *o;
    }
    b->entries = kept;
    return 0;
}

static int match_cmp(const void *a, const void *b)
{
    double x = ((const llmgw_sem_match_t *)a)->similarity;
    double y = ((const llmgw_sem_match_t *)b)->similarity;
    return x < y ? 1 : x > y ? -1 : 0;
}

apr_array_header_t *llmgw_sem_bucket_match(apr_pool_t *p,
                                           const llmgw_sem_bucket_t *b,
                                           const float *vec, apr_size_t dim,
                                           double threshold, int max)
{
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(llmgw_sem_match_t));
    int i;

    if (!b || dim != b->dim) {
        return out;
    }
    for (i = 0; i < b->entries->nelts; i++) {
        const llmgw_sem_entry_t *e = &APR_ARRAY_IDX(b->entries, i,
                                                    llmgw_sem_entry_t);
        double s = llmgw_cosine(vec, e->vec, dim);
        if (s >= threshold) {
            llmgw_sem_match_t *m = apr_array_push(out);
            m->key = e->key;
            m->similarity = s;
        }
    }
    qsort(out->elts, (size_t)out->nelts, sizeof(llmgw_sem_match_t), match_cmp);
    if (max >= 0 && out->nelts > max) {
        out->nelts = max;
    }
    return out;
}

int llmgw_sem_embedding_parse(apr_pool_t *p, const char *body,
                              apr_size_t len, float **vec, apr_size_t *dim)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const json_t *emb = json_object_get(json_array_get(
        json_object_get(j, "data"), 0), "embedding");
    size_t i, n = json_array_size(emb);
    float *v;
    int rv = -1;

    if (!json_is_array(emb) || !n || n > LLMGW_SEM_DIM_MAX) {
        goto done;
    }
    v = apr_palloc(p, n * sizeof(float));
    for (i = 0; i < n; i++) {
        const json_t *x = json_array_get(emb, i);
        double d = json_number_value(x);
        if (!json_is_number(x) || !isfinite(d) || fabs(d) > 1e30) {
            goto done;
        }
        v[i] = (float)d;
    }
    *vec = v;
    *dim = n;
    rv = 0;
done:
    json_decref(j);
    return rv;
}

const char *llmgw_sem_similarity_str(apr_pool_t *p, double s)
{
    double t = floor(s * 10000) / 10000;     /* 0.99996 is not 1 */
    if (t < 0) {
        t = 0;
    }
    return apr_psprintf(p, "%.4f", t > 1 ? 1.0 : t);
}
