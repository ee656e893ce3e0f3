/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_store_memcached.c — the memcached backend of the shared store.
 *
 * One libmemcached connection pool per child process; each operation takes
 * a handle from the pool, runs, and gives it back. Binary protocol (for
 * increment-with-initial), ketama consistent hashing so every node maps a
 * key to the same server, and short timeouts plus a failure limit so a dead
 * server costs milliseconds and reads as LLMGW_STORE_ERROR, never as a miss.
 * Servers are never ejected: a counter must not move to another server.
 */
#include <string.h>
#include <time.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <libmemcached/memcached.h>
#include <libmemcachedutil-1.0/util.h>

#include "llmgw_store_backends.h"

#define MC_CONNECT_TIMEOUT_MS   200
#define MC_POLL_TIMEOUT_MS      500
#define MC_IO_TIMEOUT_US        500000
#define MC_FAILURE_LIMIT        2
/* A server marked failed is retried once its second of timeout has passed
 * (libmemcached counts whole seconds and each pooled handle keeps its own
 * mark): a memcached that comes back is used again within 2 s. */
#define MC_RETRY_TIMEOUT_S      1
#define MC_FETCH_WAIT_S         2      /* pool waits up to 1-2 s */
#define MC_RELATIVE_TTL_MAX     (60 * 60 * 24 * 30)

struct llmgw_memcached {
    memcached_st *master;
    memcached_pool_st *pool;
};

/* ---- lifecycle ------------------------------------------------------- */

void llmgw_memcached_destroy(llmgw_memcached_t *mc)
{
    if (!mc)
        return;
    if (mc->pool) {
        memcached_st *m = memcached_pool_destroy(mc->pool);
        mc->pool = NULL;
        if (m == mc->master)
            mc->master = NULL;
        if (m)
            memcached_free(m);
    }
    if (mc->master) {
        memcached_free(mc->master);
        mc->master = NULL;
    }
}

static apr_status_t mc_cleanup(void *data)
{
    llmgw_memcached_destroy(data);
    return APR_SUCCESS;
}

apr_status_t llmgw_memcached_create(apr_pool_t *p,
                                    const llmgw_memcached_conf_t *conf,
                                    int max_conns, llmgw_memcached_t **out)
{
    static const struct {
        memcached_behavior_t flag;
        uint64_t value;
    } behaviors[] = {
        { MEMCACHED_BEHAVIOR_BINARY_PROTOCOL,       1 },
        { MEMCACHED_BEHAVIOR_DISTRIBUTION,
          MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA },
        { MEMCACHED_BEHAVIOR_TCP_NODELAY,           1 },
        { MEMCACHED_BEHAVIOR_NO_BLOCK,              1 },
        { MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT,       MC_CONNECT_TIMEOUT_MS },
        { MEMCACHED_BEHAVIOR_POLL_TIMEOUT,          MC_POLL_TIMEOUT_MS },
        { MEMCACHED_BEHAVIOR_RCV_TIMEOUT,           MC_IO_TIMEOUT_US },
        { MEMCACHED_BEHAVIOR_SND_TIMEOUT,           MC_IO_TIMEOUT_US },
        { MEMCACHED_BEHAVIOR_SERVER_FAILURE_LIMIT,  MC_FAILURE_LIMIT },
        { MEMCACHED_BEHAVIOR_SERVER_TIMEOUT_LIMIT,  MC_FAILURE_LIMIT },
        { MEMCACHED_BEHAVIOR_RETRY_TIMEOUT,         MC_RETRY_TIMEOUT_S },
    };
    llmgw_memcached_t *mc;
    apr_size_t i;
    int n;

    *out = NULL;
    if (!conf || conf->nservers < 1
        || conf->nservers > LLMGW_STORE_MAX_SERVERS)
        return APR_EINVAL;
    if (max_conns < 1)
        max_conns = 1;

    mc = apr_pcalloc(p, sizeof(*mc));
    mc->master = memcached_create(NULL);
    if (!mc->master)
        return APR_ENOMEM;
    apr_pool_cleanup_register(p, mc, mc_cleanup, apr_pool_cleanup_null);

    for (i = 0; i < sizeof(behaviors) / sizeof(behaviors[0]); i++) {
        if (memcached_failed(memcached_behavior_set(mc->master,
                                                    behaviors[i].flag,
                                                    behaviors[i].value)))
            return APR_EGENERAL;
    }
    for (n = 0; n < conf->nservers; n++) {
        if (memcached_failed(memcached_server_add(mc->master,
                                                  conf->servers[n].host,
                                                  conf->servers[n].port)))
            return APR_EINVAL;
    }
    mc->pool = memcached_pool_create(mc->master, 1, (uint32_t)max_conns);
    if (!mc->pool)
        return APR_ENOMEM;
    *out = mc;
    return APR_SUCCESS;
}

/* ---- helpers --------------------------------------------------------- */

static memcached_st *mc_take(llmgw_memcached_t *mc)
{
    struct timespec wait = { MC_FETCH_WAIT_S, 0 };
    memcached_return_t rc;

    if (!mc->pool)
        return NULL;
    return memcached_pool_fetch(mc->pool, &wait, &rc);
}

static void mc_give(llmgw_memcached_t *mc, memcached_st *m)
{
    memcached_pool_release(mc->pool, m);
}

typedef struct {
    const char *key;
    apr_size_t klen;
    char digest[LLMGW_STORE_DIGEST_BUF];
} mc_key_t;

/* A key memcached accepts: at most 250 bytes, no space or control byte. */
static int key_prepare(const char *key, mc_key_t *k)
{
    apr_size_t i;
    int safe;

    if (!key || !*key)
        return 0;
    k->key = key;
    k->klen = strlen(key);
    safe = k->klen <= LLMGW_STORE_KEY_MAX;
    for (i = 0; safe && i < k->klen; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c <= ' ' || c == 0x7f)
            safe = 0;
    }
    if (!safe)
        k->key = llmgw_store_key_digest(key, k->klen, k->digest, &k->klen);
    return 1;
}

/* memcached reads an expiration over 30 days as a Unix time. */
static time_t mc_expiration(apr_uint32_t ttl)
{
    if (ttl > MC_RELATIVE_TTL_MAX)
        return time(NULL) + (time_t)ttl;
    return (time_t)ttl;
}

/* ---- the vtable ------------------------------------------------------ */

static llmgw_store_status_e mc_get(llmgw_store_t *st, apr_pool_t *p,
                                   const char *key, char **val,
                                   apr_size_t *len)
{
    llmgw_memcached_t *mc = st->impl;
    memcached_st *m;
    memcached_return_t rc;
    mc_key_t k;
    size_t vlen = 0;
    uint32_t flags = 0;
    char *v;

    *val = NULL;
    *len = 0;
    if (!key_prepare(key, &k) || !(m = mc_take(mc)))
        return LLMGW_STORE_ERROR;
    v = memcached_get(m, k.key, k.klen, &vlen, &flags, &rc);
    if (rc == MEMCACHED_NOTFOUND) {
        /* libmemcached also says NOTFOUND when no server answered (a read
         * failure or timeout); the error of this query tells them apart. */
        memcached_return_t last = memcached_last_error(m);
        if (last != MEMCACHED_SUCCESS && last != MEMCACHED_NOTFOUND
            && last != MEMCACHED_END)
            rc = last;
    }
    mc_give(mc, m);
    if (rc != MEMCACHED_SUCCESS) {
        free(v);
        return rc == MEMCACHED_NOTFOUND ? LLMGW_STORE_NOTFOUND
                                        : LLMGW_STORE_ERROR;
    }
    *val = apr_palloc(p, vlen + 1);
    if (vlen)
        memcpy(*val, v, vlen);
    (*val)[vlen] = '\0';
    *len = vlen;
    free(v);
    return LLMGW_STORE_OK;
}

static llmgw_store_status_e mc_store(llmgw_store_t *st, const char *key,
                                     const char *val, apr_size_t len,
                                     apr_uint32_t ttl, int only_add)
{
    llmgw_memcached_t *mc = st->impl;
    memcached_st *m;
    memcached_return_t rc;
    mc_key_t k;

    if (!key_prepare(key, &k) || (len && !val) || !(m = mc_take(mc)))
        return LLMGW_STORE_ERROR;
    if (!val)
        val = "";
    if (only_add)
        rc = memcached_add(m, k.key, k.klen, val, len, mc_expiration(ttl), 0);
    else
        rc = memcached_set(m, k.key, k.klen, val, len, mc_expiration(ttl), 0);
    mc_give(mc, m);
    switch (rc) {
    case MEMCACHED_SUCCESS:
        return LLMGW_STORE_OK;
    case MEMCACHED_NOTSTORED:
    case MEMCACHED_DATA_EXISTS:
        return only_add ? LLMGW_STORE_EXISTS : LLMGW_STORE_ERROR;
    case MEMCACHED_E2BIG:
        return LLMGW_STORE_TOOBIG;
    default:
        return LLMGW_STORE_ERROR;
    }
}

static llmgw_store_status_e mc_set(llmgw_store_t *st, const char *key,
                                   const char *val, apr_size_t len,
                                   apr_uint32_t ttl)
{
    return mc_store(st, key, val, len, ttl, 0);
}

static llmgw_store_status_e mc_add(llmgw_store_t *st, const char *key,
                                   const char *val, apr_size_t len,
                                   apr_uint32_t ttl)
{
    return mc_store(st, key, val, len, ttl, 1);
}

static llmgw_store_status_e mc_del(llmgw_store_t *st, const char *key)
{
    llmgw_memcached_t *mc = st->impl;
    memcached_st *m;
    memcached_return_t rc;
    mc_key_t k;

    if (!key_prepare(key, &k) || !(m = mc_take(mc)))
        return LLMGW_STORE_ERROR;
    rc = memcached_delete(m, k.key, k.klen, 0);
    mc_give(mc, m);
    if (rc == MEMCACHED_SUCCESS)
        return LLMGW_STORE_OK;
    return rc == MEMCACHED_NOTFOUND ? LLMGW_STORE_NOTFOUND : LLMGW_STORE_ERROR;
}

static llmgw_store_status_e mc_incr(llmgw_store_t *st, const char *key,
                                    apr_uint64_t delta, apr_uint64_t initial,
                                    apr_uint32_t ttl, apr_uint64_t *result)
{
    llmgw_memcached_t *mc = st->impl;
    memcached_st *m;
    memcached_return_t rc;
    mc_key_t k;
    uint64_t value = 0;

    if (!key_prepare(key, &k) || !(m = mc_take(mc)))
        return LLMGW_STORE_ERROR;
    rc = memcached_increment_with_initial(m, k.key, k.klen, delta, initial,
                                          mc_expiration(ttl), &value);
    /* Two clients creating the counter at once: memcached answers
     * NOT_STORED to the one whose implicit add lost the race. The key
     * exists now, so a second try increments it. */
    if (rc == MEMCACHED_NOTSTORED || rc == MEMCACHED_DATA_EXISTS)
        rc = memcached_increment_with_initial(m, k.key, k.klen, delta,
                                              initial, mc_expiration(ttl),
                                              &value);
    mc_give(mc, m);
    if (rc != MEMCACHED_SUCCESS)
        return LLMGW_STORE_ERROR;
    if (result)
        *result = value;
    return LLMGW_STORE_OK;
}

static llmgw_store_status_e mc_decr(llmgw_store_t *st, const char *key,
                                    apr_uint64_t delta, apr_uint64_t *result)
{
    llmgw_memcached_t *mc = st->impl;
    memcached_st *m;
    memcached_return_t rc;
    mc_key_t k;
    uint64_t value = 0;

    if (!key_prepare(key, &k) || !(m = mc_take(mc)))
        return LLMGW_STORE_ERROR;
    /* memcached floors a decrement at 0; NOT_ADD: an absent key is
     * NOT_FOUND, never created */
    rc = memcached_decrement_with_initial(m, k.key, k.klen, delta, 0,
                                          MEMCACHED_EXPIRATION_NOT_ADD,
                                          &value);
    mc_give(mc, m);
    if (rc == MEMCACHED_NOTFOUND)
        return LLMGW_STORE_NOTFOUND;
    if (rc != MEMCACHED_SUCCESS)
        return LLMGW_STORE_ERROR;
    if (result)
        *result = value;
    return LLMGW_STORE_OK;
}

/* libmemcached's last error without its "(0x...) " handle prefix and its
 * " -> file:line" suffix, e.g. "CONNECTION FAILURE(Connection refused),
 * host: 10.0.0.1:11211". */
static const char *mc_error_text(apr_pool_t *p, memcached_st *m,
                                 memcached_return_t rc)
{
    const char *msg = memcached_last_error_message(m);
    const char *start, *end;

    if (!msg || !*msg)
        return memcached_strerror(m, rc);
    start = msg;
    if (start[0] == '(' && (end = strstr(start, ") ")))
        start = end + 2;
    end = strstr(start, " -> ");
    if (!end)
        end = start + strlen(start);
    while (end > start && (end[-1] == ' ' || end[-1] == ','))
        end--;
    return end > start ? apr_pstrmemdup(p, start, (apr_size_t)(end - start))
                       : memcached_strerror(m, rc);
}

/* Stats of every server: a round trip to each, through the pool's own
 * connections and timeouts. */
static llmgw_store_status_e mc_health(llmgw_store_t *st, apr_pool_t *p,
                                      const char **detail)
{
    llmgw_memcached_t *mc = st->impl;
    memcached_stat_st *stats;
    memcached_return_t rc;
    memcached_st *m;

    if (!(m = mc_take(mc))) {
        *detail = "error: no memcached connection available";
        return LLMGW_STORE_ERROR;
    }
    stats = memcached_stat(m, NULL, &rc);
    if (stats)
        memcached_stat_free(m, stats);
    if (rc == MEMCACHED_SUCCESS) {
        mc_give(mc, m);
        *detail = "ok";
        return LLMGW_STORE_OK;
    }
    *detail = apr_pstrcat(p, "error: ", mc_error_text(p, m, rc), NULL);
    mc_give(mc, m);
    return LLMGW_STORE_ERROR;
}

llmgw_store_t *llmgw_memcached_store(apr_pool_t *p, llmgw_memcached_t *mc)
{
    llmgw_store_t *st = apr_pcalloc(p, sizeof(*st));

    st->kind = "memcached";
    st->impl = mc;
    st->get = mc_get;
    st->set = mc_set;
    st->add = mc_add;
    st->del = mc_del;
    st->incr = mc_incr;
    st->decr = mc_decr;
    st->health = mc_health;
    return st;
}

/* ---- the backend ----------------------------------------------------- */

static int host_char_ok(char c, int bracketed)
{
    if (apr_isalnum(c) || c == '.' || c == '-' || c == '_')
        return 1;
    return bracketed && (c == ':' || c == '%');
}

/* One "HOST[:PORT]" or "[ADDR][:PORT]" of length len. */
static apr_status_t parse_server(apr_pool_t *p, const char *item,
                                 apr_size_t len, llmgw_store_server_t *srv,
                                 const char **err)
{
    const char *s = apr_pstrmemdup(p, item, len);
    const char *host, *hend, *port = NULL;
    const char *c;
    long pv;

    if (*s == '[') {
        host = s + 1;
        hend = strchr(host, ']');
        if (!hend) {
            *err = apr_psprintf(p, "memcached server '%s' lacks a closing ']'", s);
            return APR_EINVAL;
        }
        if (hend[1] == ':')
            port = hend + 2;
        else if (hend[1] != '\0') {
            *err = apr_psprintf(p, "memcached server '%s' is malformed", s);
            return APR_EINVAL;
        }
    }
    else {
        host = s;
        hend = strchr(s, ':');
        if (hend)
            port = hend + 1;
        else
            hend = s + len;
    }
    if (hend == host) {
        *err = apr_psprintf(p, "memcached server '%s' has an empty host", s);
        return APR_EINVAL;
    }
    for (c = host; c < hend; c++) {
        if (!host_char_ok(*c, *s == '[')) {
            *err = apr_psprintf(p, "memcached server '%s' has an invalid "
                                "character in its host", s);
            return APR_EINVAL;
        }
    }
    srv->host = apr_pstrmemdup(p, host, (apr_size_t)(hend - host));
    srv->port = LLMGW_STORE_DEFAULT_PORT;
    if (port) {
        pv = 0;
        for (c = port; *c; c++) {
            if (!apr_isdigit(*c) || pv > 65535)
                break;
            pv = pv * 10 + (*c - '0');
        }
        if (c == port || *c != '\0' || pv < 1 || pv > 65535) {
            *err = apr_psprintf(p, "memcached server '%s' has an invalid "
                                "port (1-65535)", s);
            return APR_EINVAL;
        }
        srv->port = (apr_port_t)pv;
    }
    return APR_SUCCESS;
}

/* "memcached://HOST[:PORT][,HOST[:PORT]...]" */
static apr_status_t mc_parse(apr_pool_t *p, const char *arg, const char *rest,
                             const void **conf, const char **err)
{
    llmgw_memcached_conf_t *out = apr_pcalloc(p, sizeof(*out));
    const char *c, *end;
    apr_status_t rv;

    *conf = out;
    if (!rest || strncmp(rest, "//", 2)) {
        *err = apr_psprintf(p, "store '%s' is not of the form "
                            "memcached://HOST:PORT[,HOST:PORT...]", arg);
        return APR_EINVAL;
    }
    c = rest + 2;
    for (;;) {
        end = strchr(c, ',');
        if (!end)
            end = c + strlen(c);
        if (end == c) {
            *err = apr_psprintf(p, "store '%s' has an empty server", arg);
            return APR_EINVAL;
        }
        if (out->nservers == LLMGW_STORE_MAX_SERVERS) {
            *err = apr_psprintf(p, "store '%s' lists more than %d servers",
                                arg, LLMGW_STORE_MAX_SERVERS);
            return APR_EINVAL;
        }
        rv = parse_server(p, c, (apr_size_t)(end - c),
                          &out->servers[out->nservers], err);
        if (rv != APR_SUCCESS)
            return rv;
        out->nservers++;
        if (*end == '\0')
            break;
        c = end + 1;
    }
    return APR_SUCCESS;
}

/* Nothing is shared across processes: each child opens its own pool of
 * connections, one per worker thread. */
static apr_status_t mc_backend_child_init(apr_pool_t *pchild, const void *conf,
                                          void *shared,
                                          const llmgw_store_hints_t *hints,
                                          llmgw_store_t **store)
{
    llmgw_memcached_t *mc;
    apr_status_t rv;

    (void)shared;
    *store = NULL;
    rv = llmgw_memcached_create(pchild, conf, hints->max_threads > 0
                                              ? hints->max_threads : 1, &mc);
    if (rv == APR_SUCCESS)
        *store = llmgw_memcached_store(pchild, mc);
    return rv;
}

const llmgw_store_backend_t llmgw_store_memcached_backend = {
    "memcached",
    "memcached://HOST:PORT[,HOST:PORT...]",
    mc_parse,
    NULL,
    mc_backend_child_init,
};
