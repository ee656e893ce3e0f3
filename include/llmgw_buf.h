/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_buf.h — a growable byte buffer in a pool (doubling, always
 * NUL-terminated once it holds anything). Inline so that every module and
 * the pure core use the one implementation without linking to each other.
 */
#ifndef LLMGW_BUF_H
#define LLMGW_BUF_H

#include <string.h>
#include <apr_pools.h>

typedef struct llmgw_buf {
    apr_pool_t *pool;
    char *data;
    apr_size_t len;
    apr_size_t cap;
} llmgw_buf_t;

/* Room for at least n bytes plus the NUL; keeps what the buffer holds. */
static APR_INLINE void llmgw_buf_reserve(llmgw_buf_t *b, apr_size_t n)
{
    apr_size_t cap;
    char *nd;

    if (n + 1 <= b->cap) {
        return;
    }
    cap = b->cap ? b->cap * 2 : 256;
    while (cap < n + 1) {
        cap *= 2;
    }
    nd = apr_palloc(b->pool, cap);
    if (b->len) {
        memcpy(nd, b->data, b->len);
    }
    nd[b->len] = '\0';
    b->data = nd;
    b->cap = cap;
}

/* An empty buffer; hint > 0 allocates that much room (plus the NUL) at
 * once, not rounded up: a request body sized by its Content-Length takes
 * its size from the request's pool, not the next power of two. */
static APR_INLINE void llmgw_buf_init(llmgw_buf_t *b, apr_pool_t *p,
                                      apr_size_t hint)
{
    memset(b, 0, sizeof(*b));
    b->pool = p;
    if (hint) {
        b->cap = hint + 1;
        b->data = apr_palloc(p, b->cap);
        b->data[0] = '\0';
    }
}

static APR_INLINE void llmgw_buf_append(llmgw_buf_t *b, const char *d,
                                        apr_size_t n)
{
    llmgw_buf_reserve(b, b->len + n);
    memcpy(b->data + b->len, d, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* ',' unless the buffer is empty or ends where an object or an array
 * starts: for writers appending members or elements one at a time. */
static APR_INLINE void llmgw_buf_json_comma(llmgw_buf_t *b)
{
    char c = b->len ? b->data[b->len - 1] : '[';
    if (c != '[' && c != '{') {
        llmgw_buf_append(b, ",", 1);
    }
}

#endif
