/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_store_backends.h — the backends of the shared store (see
 * llmgw_store.h), each a provider found by the scheme of the LLMGWStore
 * argument, and the direct interface of the two built in (shm, memcached).
 * No httpd header: APR, apr-util and libmemcached only.
 *
 * Lifecycle in httpd (mod_llmgw.c runs it the same way for every backend):
 *   config read   llmgw_store_spec_parse(): finds the backend by scheme and
 *                 runs its parse(), so that a bad argument fails the
 *                 configuration (and `apachectl -t`) with file and line;
 *   post_config   backend->create(), in the parent before fork (the shm
 *                 segment and its mutex; NULL for memcached);
 *   child_init    backend->child_init(), in each child: the store it uses
 *                 (the shm mutex attached; one memcached connection pool).
 * A new backend is a file in mod_llmgw/store/ defining its
 * llmgw_store_backend_t, and its row in the table of llmgw_store.c.
 */
#ifndef LLMGW_STORE_BACKENDS_H
#define LLMGW_STORE_BACKENDS_H

#include <apr_pools.h>
#include <apr_network_io.h>
#include "llmgw_store.h"

/* ---- backends and the LLMGWStore argument ---------------------------- */

/* What httpd tells every backend; set in post_config, valid until the next
 * configuration. */
typedef struct {
    const char *lock_file_base;  /* runtime-dir path for lock files, or NULL */
    int max_threads;             /* worker threads of a child process (>= 1) */
} llmgw_store_hints_t;

typedef struct llmgw_store_backend llmgw_store_backend_t;

struct llmgw_store_backend {
    /* "shm": the argument is "shm" or "shm:REST" (case-insensitive); this is
     * also the kind of the llmgw_store_t it makes. */
    const char *scheme;
    /* The argument's form, for error messages: "shm[:SIZE]". */
    const char *usage;
    /* At config read. arg is the whole argument, rest what follows
     * "scheme:" (NULL when there is no colon). Sets *conf (allocated from p)
     * or returns APR_EINVAL with *err, a sentence allocated from p that does
     * not name the directive. */
    apr_status_t (*parse)(apr_pool_t *p, const char *arg, const char *rest,
                          const void **conf, const char **err);
    /* In post_config, in the parent before fork; NULL when there is nothing
     * to share. *shared lives as long as pconf. */
    apr_status_t (*create)(apr_pool_t *pconf, const void *conf,
                           const llmgw_store_hints_t *hints, void **shared);
    /* In each child process: the store it uses (shared is what create made,
     * or NULL), allocated from and destroyed with pchild. */
    apr_status_t (*child_init)(apr_pool_t *pchild, const void *conf,
                               void *shared, const llmgw_store_hints_t *hints,
                               llmgw_store_t **store);
};

/* One LLMGWStore argument, read. */
typedef struct {
    const llmgw_store_backend_t *backend;
    const char *arg;        /* as written */
    const void *conf;       /* the backend's reading of it */
} llmgw_store_spec_t;

/* The backend whose scheme is the len bytes at scheme (case-insensitive),
 * or NULL. */
const llmgw_store_backend_t *llmgw_store_backend_find(const char *scheme,
                                                      apr_size_t len);

/* Reads an LLMGWStore argument: "shm", "shm:SIZE" (bytes, optional K/M/G
 * suffix, at least 1M), "memcached://HOST[:PORT][,HOST[:PORT]...]" (IPv6 as
 * [ADDR]:PORT). On error returns APR_EINVAL and sets *err to a sentence,
 * allocated from p, that does not name the directive (the caller prefixes
 * it). */
apr_status_t llmgw_store_spec_parse(apr_pool_t *p, const char *spec,
                                    llmgw_store_spec_t *out, const char **err);

/* Longest key a backend stores as is; longer keys are replaced by a digest. */
#define LLMGW_STORE_KEY_MAX         250

/* Both backends store a key that is empty-free and at most
 * LLMGW_STORE_KEY_MAX bytes as is. A longer key (or, for memcached, one with
 * spaces or control characters) is replaced by "sha1:" + 40 hex digits of it,
 * written to buf; returns the key to use and sets *out_len. */
#define LLMGW_STORE_DIGEST_BUF 48
const char *llmgw_store_key_digest(const char *key, apr_size_t klen,
                                   char buf[LLMGW_STORE_DIGEST_BUF],
                                   apr_size_t *out_len);

/* ---- embedded shared-memory store ----------------------------------- */

#define LLMGW_STORE_SHM_DEFAULT     ((apr_size_t)64 * 1024 * 1024)
#define LLMGW_STORE_SHM_MIN         ((apr_size_t)1024 * 1024)

/* "shm[:SIZE]" read */
typedef struct {
    apr_size_t size;        /* segment size in bytes */
} llmgw_shm_conf_t;

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

#define LLMGW_STORE_MAX_SERVERS     32
#define LLMGW_STORE_DEFAULT_PORT    11211

typedef struct {
    const char *host;       /* without brackets for IPv6 literals */
    apr_port_t port;
} llmgw_store_server_t;

/* "memcached://HOST[:PORT][,HOST[:PORT]...]" read */
typedef struct {
    int nservers;           /* 1..LLMGW_STORE_MAX_SERVERS */
    llmgw_store_server_t servers[LLMGW_STORE_MAX_SERVERS];
} llmgw_memcached_conf_t;

typedef struct llmgw_memcached llmgw_memcached_t;

/* In child_init: a pool of up to max_conns connections to the servers of
 * conf. Destroyed with p. */
apr_status_t llmgw_memcached_create(apr_pool_t *p,
                                    const llmgw_memcached_conf_t *conf,
                                    int max_conns, llmgw_memcached_t **out);

llmgw_store_t *llmgw_memcached_store(apr_pool_t *p, llmgw_memcached_t *mc);

/* Frees the connections; idempotent, also run as a cleanup of the pool
 * given to llmgw_memcached_create. */
void llmgw_memcached_destroy(llmgw_memcached_t *mc);

#endif
