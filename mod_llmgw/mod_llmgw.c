/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * mod_llmgw — an OpenAI-compatible LLM gateway in Apache httpd.
 * This file holds the module record, the hooks other modules plug into,
 * the optional functions they call, and the shared store's lifecycle.
 */
#include "apr_strings.h"
#include <string.h>
#include <math.h>
#include "apr_general.h"
#include "ap_mpm.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_mutex.h"
#include "http_core.h"
#include "mod_llmgw_private.h"
#include "client/mod_llmgw_upstream.h"
#include "llmgw_store_backends.h"
#include "llmgw_digest.h"
#include "llmgw_parse.h"
#include "llmgw_circuit.h"
#include "apr_shm.h"
#include "llmgw_json_scan.h"


/* ------------------------------------------------------------ hooks */

/* APR has only RUN_ALL for optional hooks: a cache lookup "runs first"
 * by treating DECLINED as the value that lets the next hook try. */
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(llmgw, LLMGW, int, authenticate,
                                    (request_rec *r, llmgw_request_t *req),
                                    (r, req), OK, DECLINED)
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(llmgw, LLMGW, int, admit,
                                    (request_rec *r, llmgw_request_t *req),
                                    (r, req), OK, DECLINED)
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(llmgw, LLMGW, int, cache_lookup,
                                    (request_rec *r, llmgw_request_t *req),
                                    (r, req), DECLINED, DECLINED)
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(llmgw, LLMGW, int, response_headers,
                                    (request_rec *r, llmgw_request_t *req),
                                    (r, req), OK, DECLINED)
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(llmgw, LLMGW, int, completed,
                                    (request_rec *r, llmgw_request_t *req),
                                    (r, req), OK, DECLINED)

/* ------------------------------------------------------------ request */

/* The client's credential: Authorization: Bearer, x-api-key or apikey. */
static const char *client_credential(request_rec *r)
{
    const char *v = apr_table_get(r->headers_in, "Authorization");
    if (v && !strncasecmp(v, "Bearer ", 7)) {
        v += 7;
        while (*v == ' ') {
            v++;
        }
        return *v ? v : NULL;
    }
    if ((v = apr_table_get(r->headers_in, "x-api-key")) && *v) {
        return v;
    }
    if ((v = apr_table_get(r->headers_in, "apikey")) && *v) {
        return v;
    }
    if ((v = apr_table_get(r->headers_in, "x-goog-api-key")) && *v) {
        return v;                   /* the Google SDKs */
    }
    return NULL;
}

/* Request ids: UUID v4 from a per-thread xorshift128+ seeded from the
 * system's random source once. An id needs uniqueness, not secrecy, and
 * libuuid reseeds its generator on every call. */
static __thread apr_uint64_t rng[2];

static apr_uint64_t rng_next(void)
{
    apr_uint64_t s1 = rng[0];
    const apr_uint64_t s0 = rng[1];
    rng[0] = s0;
    s1 ^= s1 << 23;
    rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng[1] + s0;
}

static const char *new_request_id(apr_pool_t *p)
{
    static const int groups[] = { 4, 2, 2, 2, 6 };    /* 8-4-4-4-12 */
    unsigned char b[16], *g = b;
    char *id = apr_palloc(p, 37), *o = id;
    apr_uint64_t x, y;
    int i;

    if (!rng[0] && !rng[1]) {
        if (apr_generate_random_bytes((unsigned char *)rng, sizeof(rng))
            != APR_SUCCESS || (!rng[0] && !rng[1])) {
            rng[0] = (apr_uint64_t)apr_time_now() | 1;
            rng[1] = (apr_uint64_t)(apr_uintptr_t)&rng;
        }
    }
    x = rng_next();
    y = rng_next();
    memcpy(b, &x, 8);
    memcpy(b + 8, &y, 8);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);     /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);     /* RFC 4122 variant */
    for (i = 0; i < 5; i++) {
        if (i) {
            *o++ = '-';
        }
        llmgw_hex(g, (apr_size_t)groups[i], o);
        o += 2 * groups[i];
        g += groups[i];
    }
    return id;
}

llmgw_request_t *llmgw_request_get(request_rec *r)
{
    llmgw_request_t *req = ap_get_module_config(r->request_config,
                                                &llmgw_module);
    if (!req) {
        req = apr_pcalloc(r->pool, sizeof(*req));
        req->r = r;
        req->id = new_request_id(r->pool);
        req->endpoint = LLMGW_EP_UNKNOWN;
        req->max_tokens = -1;
        req->cost_usd = -1;
        req->usage.prompt_tokens = req->usage.completion_tokens = -1;
        req->usage.total_tokens = req->usage.cached_tokens = -1;
        req->usage.cache_write_tokens = -1;
        req->capture = apr_pcalloc(r->pool, sizeof(*req->capture));
        req->capture->pool = r->pool;
        req->client_key = client_credential(r);
        ap_set_module_config(r->request_config, &llmgw_module, req);
        apr_table_setn(r->notes, LLMGW_NOTE_REQUEST_ID, req->id);
    }
    return req;
}

double llmgw_price_cost(server_rec *s, const char *provider,
                        const char *model, const llmgw_usage_t *u)
{
    llmgw_server_conf *sc = ap_get_module_config(s->module_config,
                                                 &llmgw_module);
    llmgw_price_t *pr;
    double prompt, cached, written, cost;

    if (!provider || !model || u->prompt_tokens < 0) {
        return -1;
    }
    {
        char key[512], *o;
        /* "%s/%s", cut as snprintf cuts, without the formatter */
        o = apr_cpystrn(key, provider, sizeof(key));
        if (o < key + sizeof(key) - 1) {
            *o++ = '/';
            apr_cpystrn(o, model, sizeof(key) - (apr_size_t)(o - key));
        }
        pr = apr_hash_get(sc->prices, key, APR_HASH_KEY_STRING);
    }
    if (!pr) {
        return -1;
    }
    /* prompt_tokens includes the tokens read from and written to a
     * provider's prompt cache, each at its own price */
    cached = u->cached_tokens > 0 ? (double)u->cached_tokens : 0;
    written = u->cache_write_tokens > 0 ? (double)u->cache_write_tokens : 0;
    prompt = (double)u->prompt_tokens - cached - written;
    if (prompt < 0) {
        prompt = 0;
    }
    cost = (prompt * pr->input_per_mtok + cached * pr->cached_per_mtok
            + written * pr->cache_write_per_mtok
            + (double)(u->completion_tokens > 0 ? u->completion_tokens : 0)
              * pr->output_per_mtok) / 1e6;
    /* to the pico-dollar, so that it prints as the decimal it is ("0.000056",
     * not "5.6000000000000001e-05") */
    return cost < 1e3 ? round(cost * 1e12) / 1e12 : cost;
}

/* --------------------------------------------------------- the store */

/* The LLMGWStore backend and its lifecycle: read in post_config, created
 * there before fork, opened in each child (llmgw_store_backends.h). */
static llmgw_store_spec_t store_spec;
static llmgw_store_hints_t store_hints;
static void *store_shared;
static llmgw_store_t *store;

llmgw_store_t *llmgw_store_for(server_rec *s)
{
    (void)s;
    return store;
}

static int llmgw_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp)
{
    (void)pconf; (void)plog; (void)ptemp;
    llmgw_config_pre_read();
    return OK;
}

/* Runs for `apachectl -t` too: a directive naming a provider that does not
 * exist fails the check. */
static int llmgw_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog; (void)ptemp;
    return llmgw_config_check(s);
}

/* ---------------------------------------------------------- circuits */

/* One slot per provider with an LLMGWCircuit, in an anonymous shared
 * segment made before fork: every child sees the same state, changed with
 * atomics only (llmgw_circuit.h). The provider points at its slot. */
static apr_status_t circuits_create(apr_pool_t *pconf, server_rec *s)
{
    server_rec *vs;
    apr_hash_index_t *hi;
    apr_shm_t *shm;
    llmgw_circuit_slot_t *slots;
    apr_size_t n = 0, used = 0;
    apr_status_t rv;

    for (vs = s; vs; vs = vs->next) {
        llmgw_server_conf *sc = ap_get_module_config(vs->module_config,
                                                     &llmgw_module);
        n += apr_hash_count(sc->circuits);
    }
    if (!n) {
        return APR_SUCCESS;
    }
    rv = apr_shm_create(&shm, n * sizeof(*slots), NULL, pconf);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    slots = apr_shm_baseaddr_get(shm);
    memset(slots, 0, n * sizeof(*slots));
    for (vs = s; vs; vs = vs->next) {
        llmgw_server_conf *sc = ap_get_module_config(vs->module_config,
                                                     &llmgw_module);
        for (hi = apr_hash_first(NULL, sc->circuits); hi;
             hi = apr_hash_next(hi)) {
            const char *name = apr_hash_this_key(hi);
            const llmgw_circuit_conf_t *c = apr_hash_this_val(hi);
            llmgw_provider_t *pr = apr_hash_get(sc->routes->providers, name,
                                                APR_HASH_KEY_STRING);
            if (!pr) {
                continue;           /* refused by check_config */
            }
            if (pr->circuit) {
                if (pr->circuit != c) {
                    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, vs,
                                 "LLMGWCircuit %s: the provider is shared "
                                 "with another server, whose circuit "
                                 "settings it keeps", name);
                }
                continue;
            }
            pr->circuit = c;
            pr->circuit_slot = &slots[used++];
        }
    }
    return APR_SUCCESS;
}

const char *llmgw_circuit_state(server_rec *s, const llmgw_provider_t *pr)
{
    (void)s;
    return llmgw_circuit_state_name(pr->circuit_slot
                                    ? llmgw_circuit_state_of(pr->circuit_slot)
                                    : LLMGW_CIRCUIT_CLOSED);
}

static int llmgw_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    llmgw_server_conf *sc = ap_get_module_config(s->module_config,
                                                 &llmgw_module);
    const char *spec = sc->store_spec ? sc->store_spec : "shm", *err = NULL;
    const llmgw_store_backend_t *be;
    apr_status_t rv;
    (void)plog; (void)ptemp;

    store = NULL;
    store_shared = NULL;
    if (llmgw_store_spec_parse(pconf, spec, &store_spec, &err) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "LLMGWStore %s: %s",
                     spec, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    be = store_spec.backend;
    store_hints.lock_file_base = ap_runtime_dir_relative(pconf, "llmgw-store");
    store_hints.max_threads = 1;
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &store_hints.max_threads);
    /* and the background threads that use the store (the usage
     * checkpoint), so they never make a worker wait for a connection */
    store_hints.max_threads += 1;
    if (be->create) {
        rv = be->create(pconf, store_spec.conf, &store_hints, &store_shared);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                         "llmgw: cannot create the %s store (%s)",
                         be->scheme, spec);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    rv = circuits_create(pconf, s);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "llmgw: cannot create the shared circuit table");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_add_version_component(pconf, "llmgw/" LLMGW_VERSION);
    return OK;
}

static void llmgw_child_init(apr_pool_t *pchild, server_rec *s)
{
    const llmgw_store_backend_t *be = store_spec.backend;
    apr_status_t rv;

    llmgw_upstream_child_init(pchild, s);
    if (!be) {
        return;
    }
    rv = be->child_init(pchild, store_spec.conf, store_shared, &store_hints,
                        &store);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "llmgw: cannot set up the %s store (%s)",
                     be->scheme, store_spec.arg);
    }
}

/* Gateway locations have no file behind them: like mod_proxy, skip the
 * directory and file walk (and any .htaccess lookup, and their stat()s)
 * for them. The handler is known after the location walk, when the names
 * are translated; map_to_storage runs on the server's defaults, so the
 * decision is carried in r->filename ("llmgw:URI", as mod_proxy's
 * "proxy:"). */
#define LLMGW_FILENAME "llmgw:"
static int llmgw_translate_name(request_rec *r)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    const char *h, *err = NULL;

    if (!d->expr_handler || !r->uri || r->uri[0] != '/') {
        return DECLINED;
    }
    h = ap_expr_str_exec(r, d->expr_handler, &err);
    if (!err && h && !strncmp(h, "llmgw", 5)) {
        r->filename = apr_pstrcat(r->pool, LLMGW_FILENAME, r->uri, NULL);
        return OK;
    }
    return DECLINED;
}

static const char *const after_rewrite[] = { "mod_rewrite.c", NULL };

static int llmgw_map_to_storage(request_rec *r)
{
    return r->filename && !strncmp(r->filename, LLMGW_FILENAME,
                                   sizeof(LLMGW_FILENAME) - 1)
           ? OK : DECLINED;
}

/* ------------------------------------------------ optional functions */

/* llmgw_send_error and llmgw_send_body are mod_llmgw_response.c's own
 * writers, registered under their names. */
json_t *llmgw_request_json(llmgw_request_t *req)
{
    if (!req->body && req->raw_body) {
        req->body = llmgw_pool_json(req->r->pool,
                                    llmgw_json_loadb(req->raw_body,
                                                     req->raw_len,
                                                     JSON_ALLOW_NUL, NULL));
        if (req->body) {
            llmgw_strip_gateway_fields(req->body);
        }
    }
    return req->body;
}

static llmgw_store_t *llmgw_get_store(server_rec *s)
{
    return llmgw_store_for(s);
}

static llmgw_request_t *llmgw_get_request(request_rec *r)
{
    return llmgw_request_get(r);
}

static double llmgw_cost(server_rec *s, const char *provider,
                         const char *model, const llmgw_usage_t *usage)
{
    return llmgw_price_cost(s, provider, model, usage);
}

/* The route of a model name in r's server and location (aliases, the
 * provider field, the default provider): the one way every module and
 * every handler resolves one. 0, or an HTTP status with *err and *code. */
int llmgw_route_for(request_rec *r, const char *model,
                    const char *provider_field, llmgw_route_t *rt,
                    const char **err, const char **code)
{
    llmgw_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                 &llmgw_module);
    llmgw_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                              &llmgw_module);
    return llmgw_route_resolve(r->pool, sc->routes, model, provider_field,
                               dc->default_provider, rt, err, code);
}

static int llmgw_resolve_model(request_rec *r, const char *model,
                               const char *provider_field,
                               const char **provider,
                               const char **upstream_model)
{
    llmgw_route_t rt;
    const char *err, *code;
    int rv = llmgw_route_for(r, model, provider_field, &rt, &err, &code);
    if (rv) {
        return rv;
    }
    *provider = rt.provider->name;
    *upstream_model = rt.model;
    return 0;
}

static void llmgw_register_hooks(apr_pool_t *p)
{
    APR_REGISTER_OPTIONAL_FN(llmgw_send_error);
    APR_REGISTER_OPTIONAL_FN(llmgw_send_body);
    APR_REGISTER_OPTIONAL_FN(llmgw_get_store);
    APR_REGISTER_OPTIONAL_FN(llmgw_request_json);
    APR_REGISTER_OPTIONAL_FN(llmgw_get_request);
    APR_REGISTER_OPTIONAL_FN(llmgw_cost);
    APR_REGISTER_OPTIONAL_FN(llmgw_resolve_model);
    llmgw_embed_register();
    llmgw_exchange_register();
    ap_hook_pre_config(llmgw_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(llmgw_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(llmgw_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(llmgw_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* after mod_rewrite's, before mod_alias' and the core's (mod_proxy's
     * order) */
    ap_hook_translate_name(llmgw_translate_name, after_rewrite, NULL,
                           APR_HOOK_FIRST);
    ap_hook_map_to_storage(llmgw_map_to_storage, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(llmgw_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(llmgw_health_handler, NULL, NULL, APR_HOOK_MIDDLE);
    llmgw_observability_hooks(p);
}

AP_DECLARE_MODULE(llmgw) = {
    STANDARD20_MODULE_STUFF,
    llmgw_create_dir_conf,
    llmgw_merge_dir_conf,
    llmgw_create_server_conf,
    llmgw_merge_server_conf,
    llmgw_cmds,
    llmgw_register_hooks,
    AP_MODULE_FLAG_NONE
};
