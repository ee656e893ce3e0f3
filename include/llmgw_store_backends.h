/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_store_backends.h — the two backends of the shared store (see
 * llmgw_store.h) and the parser of the LLMGWStore argument.
 * No httpd header: APR, apr-util and libmemcached only.
 *
 * Lifecycle in httpd:
 *   shm:       llmgw_shm_create() in post_config (parent, before fork),
 *              llmgw_shm_child_init() in child_init, llmgw_shm_store().
 *   memcached: llmgw_memcached_create() in child_init (one connection pool
 *              per child process), llmgw_memcached_store().
 */
#ifndef LLMGW_STORE_BACKENDS_H
#define LLMGW_STORE_BACKENDS_H

#include <apr_pools.h>
#include <apr_network_io.h>
#include "llmgw_store.h"

/* ---- LLMGWStore argument -------------------------------------------- */

#define LLMGW_STORE_MAX_SERVERS     32
#define LLMGW_STORE_DEFAULT_PORT    11211
#define LLMGW_STORE_SHM_DEFAULT     ((apr_size_t)64 * 1024 * 1024)
#define LLMGW_STORE_SHM_MIN         ((apr_size_t)1024 * 1024)
/* Longest key a backend stores as is; longer keys are replaced by a digest. */
#define LLMGW_STORE_KEY_MAX         250

typedef enum {
    LLMGW_STORE_KIND_SHM = 0,
    LLMGW_STORE_KIND_MEMCACHED
} llmgw_store_kind_e;

typedef struct {
    const char *host;       /* without brackets for IPv6 literals */
    apr_port_t port;
} llmgw_store_server_t;

typedef struct {
    llmgw_store_kind_e kind;
    apr_size_t shm_size;    /* shm: segment size in bytes */
    int nservers;           /* memcached: 1..LLMGW_STORE_MAX_SERVERS */
    llmgw_store_server_t servers[LLMGW_STORE_MAX_SERVERS];
} llmgw_store_spec_t;

/* Parses "shm", "shm:SIZE" (bytes, optional K/M/G suffix, at least 1M) or
 * "memcached://HOST[:PORT][,HOST[:PORT]...]" (IPv6 as [ADDR]:PORT).
 * On error returns APR_EINVAL and sets *err to a sentence, allocated from p,
 * that does not name the directive (the caller prefixes it). */
apr_status_t llmgw_store_spec_parse(apr_pool_t *p, const char *spec,
                                    llmgw_store_spec_t *out, const char **err);

/* Both backends store a key that is empty-free and at most
 * LLMGW_STORE_KEY_MAX bytes as is. A longer key (or, for memcached, one with
 * spaces or control characters) is replaced by "sha1:" + 40 hex digits of it,
 * written to buf; returns the key to use and sets *out_len. */
#define LLMGW_STORE_DIGEST_BUF 48
const char *llmgw_store_key_digest(const char *key, apr_size_t klen,
                                   char buf[LLMGW_STORE_DIGEST_BUF],
                                   apr_size_t *out_len);

/* ---- embedded shared-memory store ----------------------------------- */

typedef struct llmgw_shm llmgw_shm_t;

/* In the parent, before fork: an anonymous segment of `size` bytes and a
 * global mutex (lock_file_base may be NULL; when set, ".<pid>.shm" is
 * appended for file-based lock mechanisms). Both live as long as pconf. */
apr_status_t llmgw_shm_create(apr_pool_t *pconf, apr_size_t size,
                              const char *lock_file_base, llmgw_shm_t **out);

/* In each child process after fork. */
apr_status_t llmgw_shm_child_init(llmgw_shm_t *shm, apr_pool_t *pchild);

/* The store vtable over the segment; cheap, any pool that outlives its use. */
llmgw_store_t *llmgw_shm_store(apr_pool_t *p, llmgw_shm_t *shm);

/* Largest value the segment accepts (min(size/8, 1 MiB)). */
apr_size_t llmgw_shm_max_item(const llmgw_shm_t *shm);

/* ---- memcached ------------------------------------------------------- */

typedef struct llmgw_memcached llmgw_memcached_t;

/* In child_init: a pool of up to max_conns connections to the servers of
 * spec (kind LLMGW_STORE_KIND_MEMCACHED). Destroyed with p. */
apr_status_t llmgw_memcached_create(apr_pool_t *p,
                                    const llmgw_store_spec_t *spec,
                                    int max_conns, llmgw_memcached_t **out);

llmgw_store_t *llmgw_memcached_store(apr_pool_t *p, llmgw_memcached_t *mc);

/* Frees the connections; idempotent, also run as a cleanup of the pool
 * given to llmgw_memcached_create. */
void llmgw_memcached_destroy(llmgw_memcached_t *mc);

#endif
