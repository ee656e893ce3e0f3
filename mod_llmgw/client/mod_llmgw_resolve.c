/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/*
 * mod_llmgw_resolve.c — the upstreams' addresses, resolved once a minute
 * per child instead of once per new connection.
 *
 * apr_sockaddr_info_get is getaddrinfo(AI_ADDRCONFIG): a netlink round
 * trip and several KB of stack even for "127.0.0.1". A stream opens its own
 * upstream connection, so at 10,000 streams that was 10,000 lookups and a
 * deeper stack kept resident by every thread (README "Performance");
 * mod_proxy likewise resolves a worker's address once. Lookups run with no
 * lock held (DNS is network I/O); the table is a short critical section
 * that copies the cached address into the caller's pool.
 */
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "httpd.h"
#include "http_log.h"

#include "mod_llmgw_upstream.h"

APLOG_USE_MODULE(llmgw);

#define ADDR_MAX 64                        /* host:port pairs cached */
#define ADDR_TTL apr_time_from_sec(60)     /* DNS answers change */

typedef struct {
    char host[256];
    apr_port_t port;
    apr_pool_t *pool;                      /* holds sa; replaced whole */
    apr_sockaddr_t *sa;
    apr_time_t resolved;
} addr_entry_t;

static apr_thread_mutex_t *addr_mutex;
static server_rec *log_server;             /* the lookups' trace lines */
static addr_entry_t addrs[ADDR_MAX];
static int addr_count;

static apr_status_t resolve_cleanup(void *unused)
{
    (void)unused;
    while (addr_count > 0) {
        apr_pool_destroy(addrs[--addr_count].pool);
    }
    addr_mutex = NULL;
    return APR_SUCCESS;
}

void llmgw_resolve_child_init(apr_pool_t *pchild, server_rec *s)
{
    log_server = s;
    apr_thread_mutex_create(&addr_mutex, APR_THREAD_MUTEX_DEFAULT, pchild);
    apr_pool_cleanup_register(pchild, NULL, resolve_cleanup,
                              apr_pool_cleanup_null);
}

static addr_entry_t *entry_for(const char *host, apr_port_t port)
{
    int i;
    for (i = 0; i < addr_count; i++) {
        if (addrs[i].port == port && !strcmp(addrs[i].host, host)) {
            return &addrs[i];
        }
    }
    return NULL;
}

/* A copy of the cached address in p, or non-zero when there is none
 * younger than ADDR_TTL. Called with addr_mutex held. */
static apr_status_t copy_cached(apr_sockaddr_t **sa, const char *host,
                                apr_port_t port, apr_pool_t *p)
{
    addr_entry_t *e = entry_for(host, port);
    if (!e || apr_time_now() - e->resolved >= ADDR_TTL) {
        return APR_NOTFOUND;
    }
    return apr_sockaddr_info_copy(sa, e->sa, p);
}

apr_status_t llmgw_resolve(apr_sockaddr_t **sa, const char *host,
                           apr_port_t port, apr_pool_t *p)
{
    apr_pool_t *np;
    apr_sockaddr_t *fresh;
    addr_entry_t *e;
    apr_status_t rv;

    if (!addr_mutex || strlen(host) >= sizeof(addrs[0].host)) {
        return apr_sockaddr_info_get(sa, host, APR_UNSPEC, port, 0, p);
    }
    apr_thread_mutex_lock(addr_mutex);
    rv = copy_cached(sa, host, port, p);
    apr_thread_mutex_unlock(addr_mutex);
    if (rv == APR_SUCCESS) {
        return rv;
    }

    if ((rv = apr_pool_create(&np, NULL)) != APR_SUCCESS) {
        return rv;
    }
    if ((rv = apr_sockaddr_info_get(&fresh, host, APR_UNSPEC, port, 0, np))
        != APR_SUCCESS) {
        apr_pool_destroy(np);              /* failures are not cached */
        return rv;
    }
    /* t/resolve.t counts these: one a minute per child and upstream */
    ap_log_error(APLOG_MARK, APLOG_TRACE1, 0, log_server,
                  "llmgw: upstream address %s:%u looked up", host,
                  (unsigned)port);
    apr_thread_mutex_lock(addr_mutex);
    if (!(e = entry_for(host, port)) && addr_count < ADDR_MAX) {
        e = &addrs[addr_count++];
        apr_cpystrn(e->host, host, sizeof(e->host));
        e->port = port;
        e->pool = NULL;
    }
    if (e) {
        /* readers copy under the lock: the old pool has no reader left */
        if (e->pool) {
            apr_pool_destroy(e->pool);
        }
        e->pool = np;
        e->sa = fresh;
        e->resolved = apr_time_now();
        rv = apr_sockaddr_info_copy(sa, fresh, p);
    }
    apr_thread_mutex_unlock(addr_mutex);
    if (!e) {                              /* the table is full */
        rv = apr_sockaddr_info_copy(sa, fresh, p);
        apr_pool_destroy(np);
    }
    return rv;
}
