/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* mod_llmgw directives. Unset (-1/NULL) is distinct from the default so a
 * <Location> inherits what its vhost set; merges copy, never alias. */
#include <stdlib.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include "apr_strings.h"
#include "apr_uri.h"
#include "apr_lib.h"
#include "apr_file_io.h"
#include "apr_env.h"
#include "mod_llmgw_private.h"
#include "client/mod_llmgw_otlp.h"
#include "llmgw_store_backends.h"
#include "llmgw_circuit.h"

void *llmgw_create_server_conf(apr_pool_t *p, server_rec *s)
{
    llmgw_server_conf *sc = apr_pcalloc(p, sizeof(*sc));
    (void)s;
    sc->routes = llmgw_route_table_make(p);
    sc->prices = apr_hash_make(p);
    sc->circuits = apr_hash_make(p);
    return sc;
}

void *llmgw_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    llmgw_server_conf *base = basev, *add = addv;
    llmgw_server_conf *sc = apr_pcalloc(p, sizeof(*sc));
    sc->routes = llmgw_route_table_merge(p, base->routes, add->routes);
    sc->prices = apr_hash_overlay(p, add->prices, base->prices);
    sc->circuits = apr_hash_overlay(p, add->circuits, base->circuits);
    sc->store_spec = add->store_spec ? add->store_spec : base->store_spec;
    sc->environment = add->environment ? add->environment : base->environment;
    sc->response_ttl = add->response_ttl ? add->response_ttl
                                         : base->response_ttl;
    return sc;
}

void *llmgw_create_dir_conf(apr_pool_t *p, char *dir)
{
    llmgw_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));
    (void)dir;
    dc->passthrough_auth = -1;
    dc->timeout = -1;
    dc->connect_timeout = -1;
    dc->idle_timeout = -1;
    dc->retries = -1;
    dc->max_body = -1;
    dc->default_max_tokens = -1;
    dc->drop_unsupported = -1;
    dc->envelope = -1;
    dc->memory = -1;
    return dc;
}

#define MERGE(f, unset) dc->f = (add->f != (unset)) ? add->f : base->f

void *llmgw_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    llmgw_dir_conf *base = basev, *add = addv;
    llmgw_dir_conf *dc = apr_pcalloc(p, sizeof(*dc));
    MERGE(default_provider, NULL);
    MERGE(passthrough_auth, -1);
    MERGE(timeout, -1);
    MERGE(connect_timeout, -1);
    MERGE(idle_timeout, -1);
    MERGE(retries, -1);
    MERGE(max_body, -1);
    MERGE(default_max_tokens, -1);
    MERGE(drop_unsupported, -1);
    MERGE(envelope, -1);
    MERGE(memory, -1);
    return dc;
}

apr_interval_time_t llmgw_conf_timeout(const llmgw_dir_conf *dc)
{
    return dc->timeout >= 0 ? dc->timeout : LLMGW_DEFAULT_TIMEOUT;
}

apr_interval_time_t llmgw_conf_connect_timeout(const llmgw_dir_conf *dc)
{
    return dc->connect_timeout >= 0 ? dc->connect_timeout
                                    : LLMGW_DEFAULT_CONNECT_TIMEOUT;
}

apr_interval_time_t llmgw_conf_idle_timeout(const llmgw_dir_conf *dc)
{
    return dc->idle_timeout >= 0 ? dc->idle_timeout : llmgw_conf_timeout(dc);
}

apr_off_t llmgw_conf_max_body(const llmgw_dir_conf *dc)
{
    return dc->max_body >= 0 ? dc->max_body : LLMGW_DEFAULT_MAX_BODY;
}

/* ------------------------------------------------------------------ */
/* Directives that name another object (a provider, a router, a target) are
 * checked once the whole configuration is read (it may come later in the
 * file): check_config, which also runs for `apachectl -t`, fails naming the
 * directive, file and line. */

typedef enum {
    REF_PROVIDER,                   /* name is a provider */
    REF_TARGET,                     /* PROVIDER/MODEL or an alias */
    REF_ROUTER,                     /* LLMGWRoute: a declared router */
    REF_ROUTER_RULES                /* LLMGWRouter: it has rules */
} ref_kind_e;

typedef struct provider_ref {
    server_rec *server;
    ref_kind_e kind;
    const char *directive, *name, *file;
    int line;
} provider_ref_t;

static apr_array_header_t *provider_refs;

static void check_later(cmd_parms *cmd, ref_kind_e kind, const char *name)
{
    provider_ref_t *ref;
    if (!provider_refs) {
        provider_refs = apr_array_make(cmd->pool, 8, sizeof(provider_ref_t));
    }
    ref = apr_array_push(provider_refs);
    ref->server = cmd->server;
    ref->kind = kind;
    ref->directive = cmd->cmd->name;
    ref->name = name;
    ref->file = cmd->directive ? cmd->directive->filename : "?";
    ref->line = cmd->directive ? cmd->directive->line_num : 0;
}

static void check_provider_later(cmd_parms *cmd, const char *name)
{
    check_later(cmd, REF_PROVIDER, name);
}

void llmgw_config_pre_read(void)
{
    provider_refs = NULL;           /* the pool of the last read is gone */
}

/* What is wrong with a reference, or NULL. */
static const char *ref_problem(apr_pool_t *p, const provider_ref_t *ref,
                               const llmgw_route_table_t *t)
{
    const llmgw_router_t *rt;
    const char *slash;

    switch (ref->kind) {
    case REF_PROVIDER:
        return apr_hash_get(t->providers, ref->name, APR_HASH_KEY_STRING)
            ? NULL : apr_psprintf(p, "no LLMGWProvider named '%s'",
                                  ref->name);
    case REF_TARGET:
        if (apr_hash_get(t->routers, ref->name, APR_HASH_KEY_STRING)) {
            return apr_psprintf(p, "target '%s' is a router (a rule's "
                                "targets are PROVIDER/MODEL or aliases)",
                                ref->name);
        }
        slash = strchr(ref->name, '/');
        if (!slash) {
            return apr_hash_get(t->aliases, ref->name, APR_HASH_KEY_STRING)
                ? NULL : apr_psprintf(p, "target '%s' is neither "
                                      "PROVIDER/MODEL nor an "
                                      "LLMGWModelAlias", ref->name);
        }
        if (!apr_hash_get(t->providers, apr_pstrmemdup(p, ref->name,
                                                      slash - ref->name),
                          APR_HASH_KEY_STRING) || !slash[1]) {
            return apr_psprintf(p, "target '%s': no LLMGWProvider named "
                                "'%.*s', or no model", ref->name,
                                (int)(slash - ref->name), ref->name);
        }
        return NULL;
    case REF_ROUTER:
        rt = apr_hash_get(t->routers, ref->name, APR_HASH_KEY_STRING);
        return rt && rt->declared ? NULL
            : apr_psprintf(p, "no LLMGWRouter named '%s'", ref->name);
    case REF_ROUTER_RULES:
        rt = apr_hash_get(t->routers, ref->name, APR_HASH_KEY_STRING);
        if (!rt || !rt->rules->nelts) {
            return apr_psprintf(p, "router '%s' has no LLMGWRoute",
                                ref->name);
        }
        if (apr_hash_get(t->aliases, ref->name, APR_HASH_KEY_STRING)) {
            return apr_psprintf(p, "'%s' is both a router and an "
                                "LLMGWModelAlias", ref->name);
        }
        return NULL;
    }
    return NULL;
}

int llmgw_config_check(server_rec *s)
{
    int i, bad = 0;
    apr_pool_t *p;
    apr_pool_create(&p, NULL);
    for (i = 0; provider_refs && i < provider_refs->nelts; i++) {
        provider_ref_t *ref = &APR_ARRAY_IDX(provider_refs, i, provider_ref_t);
        llmgw_server_conf *sc = ap_get_module_config(
            ref->server->module_config, &llmgw_module);
        const char *why = ref_problem(p, ref, sc->routes);
        if (why) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         "%s: %s in this server or virtual host (%s line "
                         "%d)", ref->directive, why, ref->file, ref->line);
            bad = 1;
        }
    }
    apr_pool_destroy(p);
    return bad ? !OK : OK;
}

static const char *parse_seconds(cmd_parms *cmd, const char *arg,
                                 apr_interval_time_t *out)
{
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end || !(v > 0 && v <= 86400)) {     /* nan too */
        return apr_psprintf(cmd->pool, "%s: '%s' is not a number of seconds "
                            "(0 < S <= 86400)", cmd->cmd->name, arg);
    }
    *out = (apr_interval_time_t)(v * APR_USEC_PER_SEC);
    return NULL;
}

/* Resolves key=env:VAR or key=file:PATH at config time. A literal key in
 * httpd.conf is refused: config files end up in backups and bug reports. */
static const char *resolve_key(cmd_parms *cmd, const char *spec,
                               const char **key)
{
    if (strncmp(spec, "env:", 4) == 0) {
        char *val = NULL;
        if (apr_env_get(&val, spec + 4, cmd->temp_pool) != APR_SUCCESS
            || !val || !*val) {
            /* a provider silently called without its key is worse */
            return apr_psprintf(cmd->pool, "%s: key=%s: the environment "
                                "variable %s is not set", cmd->cmd->name,
                                spec, spec + 4);
        }
        *key = apr_pstrdup(cmd->pool, val);
        return NULL;
    }
    if (strncmp(spec, "file:", 5) == 0) {
        apr_file_t *f;
        char buf[4096];
        apr_size_t n = sizeof(buf) - 1;
        const char *path = ap_server_root_relative(cmd->temp_pool, spec + 5);
        if (!path || apr_file_open(&f, path, APR_FOPEN_READ, 0,
                                   cmd->temp_pool) != APR_SUCCESS) {
            return apr_psprintf(cmd->pool, "%s: cannot read key file '%s'",
                                cmd->cmd->name, spec + 5);
        }
        apr_file_read(f, buf, &n);
        apr_file_close(f);
        while (n && isspace((unsigned char)buf[n - 1])) {
            n--;
        }
        buf[n] = '\0';
        *key = n ? apr_pstrdup(cmd->pool, buf) : NULL;
        return NULL;
    }
    return apr_psprintf(cmd->pool, "%s: key must be env:VAR or file:PATH",
                        cmd->cmd->name);
}

static int header_ok(const char *h)
{
    const char *colon = strchr(h, ':'), *c;
    if (!colon || colon == h) {
        return 0;
    }
    for (c = h; c < colon; c++) {
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_') {
            return 0;
        }
    }
    for (c = colon; *c; c++) {
        if (*c == '\r' || *c == '\n') {
            return 0;
        }
    }
    return 1;
}

/* Parses pr->base_url once: what the native client needs for every call
 * (host, port, Host header, connection pool key, base path). */
static const char *parse_base_url(cmd_parms *cmd, llmgw_provider_t *pr,
                                  const char *given)
{
    apr_uri_t uri;

    if (apr_uri_parse(cmd->pool, pr->base_url, &uri) != APR_SUCCESS
        || !uri.hostname || !*uri.hostname || uri.query || uri.fragment
        || uri.user || uri.password) {
        return apr_psprintf(cmd->pool, "LLMGWProvider %s: BASE-URL '%s' "
                            "must be http(s)://HOST[:PORT][/PATH]",
                            pr->name, given);
    }
    if (!uri.port) {
        uri.port = apr_uri_port_of_scheme(uri.scheme);
    }
    pr->host = uri.hostname;
    pr->port = uri.port;
    pr->conn_key = apr_psprintf(cmd->pool, "%s:%u", uri.hostname,
                                (unsigned)uri.port);
    pr->host_header = uri.port == apr_uri_port_of_scheme(uri.scheme)
        ? uri.hostname
        : strchr(uri.hostname, ':')
          ? apr_psprintf(cmd->pool, "[%s]:%u", uri.hostname,
                         (unsigned)uri.port)
          : pr->conn_key;
    pr->base_path = uri.path ? uri.path : "";
    return NULL;
}

static const char *cmd_provider(cmd_parms *cmd, void *dconf, int argc,
                                char *const argv[])
{
    llmgw_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_module);
    llmgw_provider_t *pr;
    apr_size_t blen;
    const char *err;
    int i;
    (void)dconf;

    if (argc < 3) {
        return "LLMGWProvider takes NAME TYPE BASE-URL [key=env:VAR|file:PATH] "
               "[timeout=S] [header=Name:Value]... [models=a,b] "
               "[client=native|curl] [responses=native|translate]";
    }
    pr = apr_pcalloc(cmd->pool, sizeof(*pr));
    pr->name = argv[0];
    if (!*pr->name || strchr(pr->name, '/')) {
        return "LLMGWProvider: NAME must be non-empty and contain no '/'";
    }
    if (!strcasecmp(argv[1], "openai")) {
        pr->type = LLMGW_PT_OPENAI;
    }
    else if (!strcasecmp(argv[1], "anthropic")) {
        pr->type = LLMGW_PT_ANTHROPIC;
    }
    else if (!strcasecmp(argv[1], "gemini")) {
        pr->type = LLMGW_PT_GEMINI;
    }
    else {
        return apr_psprintf(cmd->pool, "LLMGWProvider %s: unknown TYPE '%s' "
                            "(openai, anthropic or gemini)", pr->name, argv[1]);
    }
    if (strncmp(argv[2], "http://", 7) && strncmp(argv[2], "https://", 8)) {
        return apr_psprintf(cmd->pool, "LLMGWProvider %s: BASE-URL must start "
                            "with http:// or https://", pr->name);
    }
    blen = strlen(argv[2]);
    while (blen > 8 && argv[2][blen - 1] == '/') {
        blen--;
    }
    pr->base_url = apr_pstrmemdup(cmd->pool, argv[2], blen);
    if ((err = parse_base_url(cmd, pr, argv[2]))) {
        return err;
    }
    pr->headers = apr_array_make(cmd->pool, 2, sizeof(const char *));
    pr->models = apr_array_make(cmd->pool, 4, sizeof(const char *));

    for (i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "key=", 4)) {
            pr->key_source = a + 4;
            if ((err = resolve_key(cmd, a + 4, &pr->key))) {
                return err;
            }
        }
        else if (!strncmp(a, "timeout=", 8)) {
            if ((err = parse_seconds(cmd, a + 8, &pr->timeout))) {
                return err;
            }
        }
        else if (!strncmp(a, "header=", 7)) {
            if (!header_ok(a + 7)) {
                return apr_psprintf(cmd->pool, "LLMGWProvider %s: header= "
                                    "takes Name:Value", pr->name);
            }
            APR_ARRAY_PUSH(pr->headers, const char *) =
                apr_pstrcat(cmd->pool, apr_pstrndup(cmd->pool, a + 7,
                                                    strchr(a + 7, ':') - (a + 7)),
                            ": ", strchr(a + 7, ':') + 1, NULL);
        }
        else if (!strncmp(a, "responses=", 10)) {
            if (pr->type != LLMGW_PT_OPENAI) {
                return apr_psprintf(cmd->pool, "LLMGWProvider %s: responses= "
                                    "is for openai providers", pr->name);
            }
            if (!strcmp(a + 10, "native")) {
                pr->responses_native = 1;
            }
            else if (strcmp(a + 10, "translate")) {
                return apr_psprintf(cmd->pool, "LLMGWProvider %s: responses= "
                                    "takes native or translate", pr->name);
            }
        }
        else if (!strncmp(a, "client=", 7)) {
            if (!strcmp(a + 7, "curl")) {
                pr->use_curl = 1;
            }
            else if (strcmp(a + 7, "native")) {
                return apr_psprintf(cmd->pool, "LLMGWProvider %s: client= "
                                    "takes native or curl", pr->name);
            }
        }
        else if (!strncmp(a, "models=", 7)) {
            char *list = apr_pstrdup(cmd->pool, a + 7), *last, *m;
            for (m = apr_strtok(list, ",", &last); m;
                 m = apr_strtok(NULL, ",", &last)) {
                if (!llmgw_model_name_ok(m)) {
                    return apr_psprintf(cmd->pool, "LLMGWProvider %s: "
                                        "models=: '%s' is not a model name",
                                        pr->name, m);
                }
                APR_ARRAY_PUSH(pr->models, const char *) = m;
            }
            if (!pr->models->nelts) {
                return apr_psprintf(cmd->pool, "LLMGWProvider %s: models= "
                                    "takes a comma-separated list of model "
                                    "names", pr->name);
            }
        }
        else {
            return apr_psprintf(cmd->pool, "LLMGWProvider %s: unknown option "
                                "'%s'", pr->name, a);
        }
    }
    if (apr_hash_get(sc->routes->providers, pr->name, APR_HASH_KEY_STRING)) {
        return apr_psprintf(cmd->pool, "LLMGWProvider %s: defined twice",
                            pr->name);
    }
    apr_hash_set(sc->routes->providers, pr->name, APR_HASH_KEY_STRING, pr);
    APR_ARRAY_PUSH(sc->routes->order, llmgw_provider_t *) = pr;
    return NULL;
}

/* LLMGWModelAlias ALIAS T1 [weight=N] [T2 [weight=N]]... */
static const char *cmd_alias(cmd_parms *cmd, void *dconf, int argc,
                             char *const argv[])
{
    llmgw_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_module);
    llmgw_alias_t *a;
    int i;
    (void)dconf;
    if (argc < 2) {
        return "LLMGWModelAlias takes ALIAS PROVIDER/MODEL [weight=N] "
               "[PROVIDER/MODEL [weight=N]]...";
    }
    if (!llmgw_model_name_ok(argv[0])) {
        return apr_psprintf(cmd->pool, "LLMGWModelAlias: '%s' is not a model "
                            "name", argv[0]);
    }
    a = llmgw_alias_make(cmd->pool);
    for (i = 1; i < argc; i++) {
        const char *target = argv[i], *slash = strchr(target, '/');
        apr_uint32_t weight = 1;
        if (!strncmp(target, "weight=", 7)) {
            return apr_psprintf(cmd->pool, "LLMGWModelAlias %s: '%s' must "
                                "follow a target", argv[0], target);
        }
        if (!slash || slash == target || !slash[1]
            || !llmgw_model_name_ok(target)) {
            return apr_psprintf(cmd->pool, "LLMGWModelAlias %s: the target "
                                "'%s' must be PROVIDER/MODEL", argv[0],
                                target);
        }
        if (i + 1 < argc && !strncmp(argv[i + 1], "weight=", 7)) {
            const char *w = argv[++i] + 7;
            char *end;
            apr_int64_t v;
            errno = 0;
            v = apr_isdigit(*w) ? apr_strtoi64(w, &end, 10) : -1;
            if (v < 1 || v > 1000000 || errno == ERANGE || *end) {
                return apr_psprintf(cmd->pool, "LLMGWModelAlias %s: '%s' is "
                                    "not a weight (1 to 1000000)", argv[0],
                                    argv[i]);
            }
            weight = (apr_uint32_t)v;
        }
        llmgw_alias_add(a, target, weight);
        check_provider_later(cmd, apr_pstrmemdup(cmd->pool, target,
                                                 (apr_size_t)(slash - target)));
    }
    apr_hash_set(sc->routes->aliases, argv[0], APR_HASH_KEY_STRING, a);
    return NULL;
}

static const char *cmd_router(cmd_parms *cmd, void *dconf, const char *name)
{
    llmgw_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_module);
    llmgw_router_t *rt;
    (void)dconf;
    if (!llmgw_model_name_ok(name)) {
        return apr_psprintf(cmd->pool, "LLMGWRouter: '%s' is not a model "
                            "name", name);
    }
    rt = llmgw_router_get(cmd->pool, sc->routes, name);
    if (rt->declared) {
        return apr_psprintf(cmd->pool, "LLMGWRouter %s: defined twice", name);
    }
    rt->declared = 1;
    check_later(cmd, REF_ROUTER_RULES, rt->name);
    return NULL;
}

/* LLMGWRoute NAME [CONDITION...] -> TARGET[,TARGET...] */
static const char *cmd_route(cmd_parms *cmd, void *dconf, int argc,
                             char *const argv[])
{
    llmgw_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_module);
    llmgw_rule_t *rule;
    const char *err;
    int i;
    (void)dconf;
    if (argc < 3) {
        return "LLMGWRoute takes NAME [CONDITION...] -> TARGET[,TARGET...]";
    }
    if ((err = llmgw_rule_parse(cmd->pool, argc - 1, argv + 1, &rule))) {
        return apr_psprintf(cmd->pool, "LLMGWRoute %s: %s", argv[0], err);
    }
    llmgw_router_add(cmd->pool, llmgw_router_get(cmd->pool, sc->routes,
                                                 argv[0]), rule);
    check_later(cmd, REF_ROUTER, apr_pstrdup(cmd->pool, argv[0]));
    for (i = 0; i < rule->targets->nelts; i++) {
        check_later(cmd, REF_TARGET, APR_ARRAY_IDX(rule->targets, i,
                                                   const char *));
    }
    return NULL;
}

/* LLMGWCircuit PROVIDER [failures=N] [window=S] [cooldown=S] */
static const char *cmd_circuit(cmd_parms *cmd, void *dconf, int argc,
                               char *const argv[])
{
    llmgw_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_module);
    llmgw_circuit_conf_t *c;
    int i;
    (void)dconf;
    if (argc < 1) {
        return "LLMGWCircuit takes PROVIDER [failures=N] [window=S] "
               "[cooldown=S]";
    }
    c = apr_pcalloc(cmd->pool, sizeof(*c));
    c->failures = LLMGW_CIRCUIT_DEFAULT_FAILURES;
    c->window_ms = LLMGW_CIRCUIT_DEFAULT_WINDOW_MS;
    c->cooldown_ms = LLMGW_CIRCUIT_DEFAULT_COOLDOWN_MS;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *err;
        apr_interval_time_t t;
        if (!strncmp(a, "failures=", 9)) {
            char *end;
            apr_int64_t v;
            errno = 0;
            v = apr_isdigit(a[9]) ? apr_strtoi64(a + 9, &end, 10) : -1;
            if (v < 1 || v > 100000 || errno == ERANGE || *end) {
                return apr_psprintf(cmd->pool, "LLMGWCircuit %s: '%s': "
                                    "failures= takes 1 to 100000", argv[0],
                                    a);
            }
            c->failures = (apr_uint32_t)v;
        }
        else if (!strncmp(a, "window=", 7) || !strncmp(a, "cooldown=", 9)) {
            int window = a[0] == 'w';
            if ((err = parse_seconds(cmd, a + (window ? 7 : 9), &t))) {
                return err;
            }
            if (t < APR_USEC_PER_SEC / 1000) {
                return apr_psprintf(cmd->pool, "LLMGWCircuit %s: '%s' is "
                                    "under a millisecond", argv[0], a);
            }
            *(window ? &c->window_ms : &c->cooldown_ms) =
                (apr_uint64_t)apr_time_as_msec(t);
        }
        else {
            return apr_psprintf(cmd->pool, "LLMGWCircuit %s: unknown option "
                                "'%s' (failures=N, window=S, cooldown=S)",
                                argv[0], a);
        }
    }
    apr_hash_set(sc->circuits, argv[0], APR_HASH_KEY_STRING, c);
    check_provider_later(cmd, argv[0]);
    return NULL;
}

static const char *cmd_price(cmd_parms *cmd, void *dconf, int argc,
                             char *const argv[])
{
    llmgw_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_module);
    llmgw_price_t *pr;
    double v[4] = { 0, 0, -1, -1 };
    const char *slash = argc ? strchr(argv[0], '/') : NULL;
    int i;
    (void)dconf;
    if (argc < 3 || argc > 5 || !slash || slash == argv[0] || !slash[1]) {
        return "LLMGWPrice takes PROVIDER/MODEL INPUT-USD-PER-MTOK "
               "OUTPUT-USD-PER-MTOK [CACHE-READ-USD-PER-MTOK "
               "[CACHE-WRITE-USD-PER-MTOK]]";
    }
    for (i = 1; i < argc; i++) {
        char *end;
        v[i - 1] = strtod(argv[i], &end);
        /* nan or inf would make every budget check pass */
        if (end == argv[i] || *end || !isfinite(v[i - 1]) || v[i - 1] < 0) {
            return apr_psprintf(cmd->pool, "LLMGWPrice %s: '%s' is not a "
                                "price (a finite number >= 0)", argv[0],
                                argv[i]);
        }
    }
    pr = apr_pcalloc(cmd->pool, sizeof(*pr));
    pr->input_per_mtok = v[0];
    pr->output_per_mtok = v[1];
    pr->cached_per_mtok = v[2] >= 0 ? v[2] : v[0];
    pr->cache_write_per_mtok = v[3] >= 0 ? v[3] : v[0];
    apr_hash_set(sc->prices, argv[0], APR_HASH_KEY_STRING, pr);
    return NULL;
}

static const char *cmd_store(cmd_parms *cmd, void *dconf, const char *arg)
{
    llmgw_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dconf;
    llmgw_store_spec_t spec;
    if (err) {
        return err;
    }
    if (llmgw_store_spec_parse(cmd->temp_pool, arg, &spec, &err)
        != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "LLMGWStore %s: %s", arg, err);
    }
    sc->store_spec = arg;
    return NULL;
}

static const char *cmd_dir_seconds(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    llmgw_dir_conf *dc = dconf;
    apr_size_t off = (apr_size_t)(apr_uintptr_t)cmd->info;
    return parse_seconds(cmd, arg,
                         (apr_interval_time_t *)((char *)dc + off));
}

static const char *cmd_retries(cmd_parms *cmd, void *dconf, const char *arg)
{
    llmgw_dir_conf *dc = dconf;
    char *end;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || v < 0 || v > 10) {
        return apr_psprintf(cmd->pool, "%s: expects 0 to 10", cmd->cmd->name);
    }
    dc->retries = (int)v;
    return NULL;
}

static const char *cmd_max_body(cmd_parms *cmd, void *dconf, const char *arg)
{
    llmgw_dir_conf *dc = dconf;
    char *end;
    apr_int64_t v;
    errno = 0;
    v = apr_strtoi64(arg, &end, 10);
    if (end == arg || *end || v < 1 || errno == ERANGE
        || v > LLMGW_MAX_MAX_BODY) {
        return apr_psprintf(cmd->pool, "%s: expects a number of bytes from "
                            "1 to %" APR_INT64_T_FMT, cmd->cmd->name,
                            (apr_int64_t)LLMGW_MAX_MAX_BODY);
    }
    dc->max_body = (apr_off_t)v;
    return NULL;
}

static const char *cmd_max_tokens(cmd_parms *cmd, void *dconf, const char *arg)
{
    llmgw_dir_conf *dc = dconf;
    char *end;
    long v;
    errno = 0;
    v = strtol(arg, &end, 10);
    if (end == arg || *end || v < 1 || v > 10000000 || errno == ERANGE) {
        return apr_psprintf(cmd->pool, "%s: expects a number from 1 to "
                            "10000000", cmd->cmd->name);
    }
    dc->default_max_tokens = v;
    return NULL;
}

static const char *cmd_default_provider(cmd_parms *cmd, void *dconf,
                                        const char *arg)
{
    llmgw_dir_conf *dc = dconf;
    dc->default_provider = arg;
    check_provider_later(cmd, arg);
    return NULL;
}

static const char *cmd_passthrough(cmd_parms *cmd, void *dconf, int flag)
{
    llmgw_dir_conf *dc = dconf;
    (void)cmd;
    dc->passthrough_auth = flag;
    return NULL;
}

static const char *cmd_envelope(cmd_parms *cmd, void *dconf, const char *arg)
{
    llmgw_dir_conf *dc = dconf;
    if (!strcasecmp(arg, "openai")) {
        dc->envelope = LLMGW_API_CHAT;
    }
    else if (!strcasecmp(arg, "indoxhub")) {
        dc->envelope = LLMGW_API_INDOXHUB;
    }
    else {
        return apr_psprintf(cmd->pool, "LLMGWEnvelope: '%s' is not openai or "
                            "indoxhub", arg);
    }
    return NULL;
}

/* Stored Responses-API responses: at most 30 days, the longest relative
 * expiry memcached takes (a larger one is read as a date). */
static const char *cmd_response_ttl(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    llmgw_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_module);
    char *end;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);
    (void)dconf;
    if (end == arg || *end || v < 1 || v > LLMGW_MAX_RESPONSE_TTL) {
        return apr_psprintf(cmd->pool, "LLMGWResponseTTL: expects seconds "
                            "from 1 to %d (30 days)", LLMGW_MAX_RESPONSE_TTL);
    }
    sc->response_ttl = (apr_uint32_t)v;
    return NULL;
}

static const char *cmd_environment(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    llmgw_server_conf *sc = ap_get_module_config(cmd->server->module_config,
                                                 &llmgw_module);
    const char *c;
    (void)dconf;
    for (c = arg; *c; c++) {
        if (!apr_isalnum(*c) && !strchr("-_.", *c)) {
            return "LLMGWEnvironment: a name of letters, digits, '-', '_' "
                   "and '.'";
        }
    }
    if (!*arg || c - arg > 64) {
        return "LLMGWEnvironment: a name of 1 to 64 characters";
    }
    sc->environment = arg;
    return NULL;
}

#define DIR_OFF(f) ((void *)APR_OFFSETOF(llmgw_dir_conf, f))

const command_rec llmgw_cmds[] = {
    AP_INIT_TAKE_ARGV("LLMGWProvider", cmd_provider, NULL, RSRC_CONF,
        "Defines a provider: NAME TYPE(openai|anthropic|gemini) BASE-URL "
        "[key=env:VAR|file:PATH] [timeout=S] [header=Name:Value] [models=a,b] "
        "[client=native|curl] [responses=native|translate]."),
    AP_INIT_TAKE1("LLMGWDefaultProvider", cmd_default_provider, NULL,
        RSRC_CONF | ACCESS_CONF,
        "The provider that serves model names without a provider prefix."),
    AP_INIT_TAKE_ARGV("LLMGWModelAlias", cmd_alias, NULL, RSRC_CONF,
        "Maps a model name clients use to PROVIDER/MODEL, or to several "
        "PROVIDER/MODEL [weight=N] balanced by weight (the others being "
        "fallbacks)."),
    AP_INIT_TAKE1("LLMGWRouter", cmd_router, NULL, RSRC_CONF,
        "Declares a router: a model name resolved by its LLMGWRoute rules."),
    AP_INIT_TAKE_ARGV("LLMGWRoute", cmd_route, NULL, RSRC_CONF,
        "A rule of a router: NAME [tools|images|stream|json|prompt_tokens>N|"
        "prompt_tokens<N|tier=T|header:NAME=VALUE]... -> TARGET[,TARGET...]."),
    AP_INIT_TAKE_ARGV("LLMGWCircuit", cmd_circuit, NULL, RSRC_CONF,
        "A circuit breaker on PROVIDER: [failures=N] retryable failures "
        "within [window=S] seconds open it for [cooldown=S] seconds "
        "(defaults 5, 30, 30)."),
    AP_INIT_FLAG("LLMGWPassthroughAuth", cmd_passthrough, NULL,
        RSRC_CONF | ACCESS_CONF,
        "On: the client's bearer token is sent upstream as the provider key."),
    AP_INIT_TAKE1("LLMGWTimeout", cmd_dir_seconds, DIR_OFF(timeout),
        RSRC_CONF | ACCESS_CONF,
        "Seconds the upstream has to answer (a whole non-streaming response, "
        "the first byte of a stream); default 300."),
    AP_INIT_TAKE1("LLMGWConnectTimeout", cmd_dir_seconds,
        DIR_OFF(connect_timeout), RSRC_CONF | ACCESS_CONF,
        "Seconds to establish the upstream connection; default 10."),
    AP_INIT_TAKE1("LLMGWIdleTimeout", cmd_dir_seconds, DIR_OFF(idle_timeout),
        RSRC_CONF | ACCESS_CONF,
        "Longest silence, in seconds, allowed within an upstream stream; "
        "default LLMGWTimeout."),
    AP_INIT_TAKE1("LLMGWRetries", cmd_retries, NULL, RSRC_CONF | ACCESS_CONF,
        "Retries of a failed upstream call (429, 5xx, connect error, "
        "timeout) before the first byte reaches the client; default 0."),
    AP_INIT_TAKE1("LLMGWMaxBody", cmd_max_body, NULL, RSRC_CONF | ACCESS_CONF,
        "Largest request body accepted, in bytes; default 10485760."),
    AP_INIT_TAKE1("LLMGWDefaultMaxTokens", cmd_max_tokens, NULL,
        RSRC_CONF | ACCESS_CONF,
        "max_tokens sent to providers that require one (Anthropic) when the "
        "client set none; default 4096."),
    AP_INIT_FLAG("LLMGWDropUnsupported", ap_set_flag_slot,
        DIR_OFF(drop_unsupported), RSRC_CONF | ACCESS_CONF,
        "On: parameters a provider has no equivalent for are dropped and "
        "listed in x-llmgw-dropped instead of answered with a 400."),
    AP_INIT_TAKE_ARGV("LLMGWPrice", cmd_price, NULL, RSRC_CONF,
        "Price of PROVIDER/MODEL in USD per million input, output and "
        "optionally cached input tokens."),
    AP_INIT_TAKE1("LLMGWEnvelope", cmd_envelope, NULL, RSRC_CONF | ACCESS_CONF,
        "Shape of chat/completions answers here: openai (default) or "
        "indoxhub."),
    AP_INIT_TAKE1("LLMGWResponseTTL", cmd_response_ttl, NULL, RSRC_CONF,
        "Seconds a stored Responses-API response is kept for "
        "previous_response_id and GET responses/{id} (default 30 days)."),
    AP_INIT_TAKE1("LLMGWEnvironment", cmd_environment, NULL, RSRC_CONF,
        "Name of this deployment reported by /health (default production)."),
    AP_INIT_TAKE1("LLMGWStore", cmd_store, NULL, RSRC_CONF,
        "The shared store: shm[:SIZE] (default) or "
        "memcached://HOST:PORT[,HOST:PORT...]."),
    AP_INIT_TAKE1("LLMGWMemory", llmgw_cmd_memory, NULL,
                  RSRC_CONF | ACCESS_CONF, "Conversation memory here: none "
                  "(default), session or profile (x-llmgw-memory overrides)."),
    AP_INIT_TAKE_ARGV("LLMGWOTLPEndpoint", llmgw_cmd_otlp_endpoint, NULL,
                      RSRC_CONF, "OTLP/HTTP collector URL for the gateway's "
                      "trace spans (JSON; /v1/traces appended), [queue=N]"),
    { NULL }
};
