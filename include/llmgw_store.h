/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_store.h — the shared store: a small key/value vtable over one of
 * the backends of llmgw_store_backends.h (an embedded shared-memory store,
 * the default, or memcached), chosen by LLMGWStore.
 * Gets are tri-state: a backend failure is LLMGW_STORE_ERROR, never a miss.
 * No httpd header: backends are unit-tested directly.
 */
#ifndef LLMGW_STORE_H
#define LLMGW_STORE_H

#include <apr_pools.h>

typedef enum {
    LLMGW_STORE_OK = 0,
    LLMGW_STORE_NOTFOUND,   /* get/del/incr of an absent key */
    LLMGW_STORE_EXISTS,     /* add of a present key */
    LLMGW_STORE_TOOBIG,     /* value over the backend's item limit */
    LLMGW_STORE_ERROR       /* backend unreachable or failed */
} llmgw_store_status_e;

typedef struct llmgw_store llmgw_store_t;

struct llmgw_store {
    const char *kind;                 /* the backend's scheme: "shm", ... */
    void *impl;

    /* *val is allocated from p (NUL-terminated for convenience). */
    llmgw_store_status_e (*get)(llmgw_store_t *st, apr_pool_t *p,
                                const char *key, char **val, apr_size_t *len);
    /* ttl in seconds, 0 = no expiry */
    llmgw_store_status_e (*set)(llmgw_store_t *st, const char *key,
                                const char *val, apr_size_t len,
                                apr_uint32_t ttl);
    /* stores only when absent, else LLMGW_STORE_EXISTS */
    llmgw_store_status_e (*add)(llmgw_store_t *st, const char *key,
                                const char *val, apr_size_t len,
                                apr_uint32_t ttl);
    llmgw_store_status_e (*del)(llmgw_store_t *st, const char *key);
    /* Atomic increment. When the key is absent it is created with the value
     * `initial` and ttl, and *result is `initial`; else *result = old + delta. */
    llmgw_store_status_e (*incr)(llmgw_store_t *st, const char *key,
                                 apr_uint64_t delta, apr_uint64_t initial,
                                 apr_uint32_t ttl, apr_uint64_t *result);
    /* Atomic decrement, floored at 0 as memcached does (a counter never
     * goes negative). An absent key stays absent: LLMGW_STORE_NOTFOUND.
     * *result (may be NULL) is the new value. */
    llmgw_store_status_e (*decr)(llmgw_store_t *st, const char *key,
                                 apr_uint64_t delta, apr_uint64_t *result);
    /* One-line state for llmgw-health, e.g. "ok" or "error: ..." */
    llmgw_store_status_e (*health)(llmgw_store_t *st, apr_pool_t *p,
                                   const char **detail);
};

const char *llmgw_store_status_str(llmgw_store_status_e s);

#endif
