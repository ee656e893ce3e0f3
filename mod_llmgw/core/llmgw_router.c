/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Routing rules (LLMGWRouter / LLMGWRoute) and weighted aliases: parsing
 * at config time, matching per request without allocating. */
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "llmgw_route.h"
#include "llmgw_digest.h"

/* ------------------------------------------------------------ aliases */

llmgw_alias_t *llmgw_alias_make(apr_pool_t *p)
{
    llmgw_alias_t *a = apr_pcalloc(p, sizeof(*a));
    a->targets = apr_array_make(p, 2, sizeof(llmgw_alias_target_t));
    return a;
}

void llmgw_alias_add(llmgw_alias_t *a, const char *target,
                     apr_uint32_t weight)
{
    llmgw_alias_target_t *t;
    int i;
    if (!weight) {
        weight = 1;
    }
    apr_array_push(a->targets);
    /* stable insertion: after every target at least as heavy */
    for (i = a->targets->nelts - 1; i > 0; i--) {
        llmgw_alias_target_t *prev = &APR_ARRAY_IDX(a->targets, i - 1,
                                                    llmgw_alias_target_t);
        if (prev->weight >= weight) {
            break;
        }
        APR_ARRAY_IDX(a->targets, i, llmgw_alias_target_t) = *prev;
    }
    t = &APR_ARRAY_IDX(a->targets, i, llmgw_alias_target_t);
    t->target = target;
    t->weight = weight;
    a->total += weight;
}

int llmgw_alias_pick(const llmgw_alias_t *a, apr_uint64_t pick)
{
    apr_uint64_t r;
    int i;
    if (a->targets->nelts < 2 || !a->total) {
        return 0;
    }
    r = pick % a->total;
    for (i = 0; i < a->targets->nelts; i++) {
        apr_uint32_t w = APR_ARRAY_IDX(a->targets, i,
                                       llmgw_alias_target_t).weight;
        if (r < w) {
            return i;
        }
        r -= w;
    }
    return 0;
}

apr_uint64_t llmgw_route_pick_of(const char *s)
{
    apr_uint64_t h = 1469598103934665603ULL;
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    /* splitmix64's finaliser: every input bit moves every output bit */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

/* ------------------------------------------------------------ routers */

llmgw_router_t *llmgw_router_get(apr_pool_t *p, llmgw_route_table_t *t,
                                 const char *name)
{
    llmgw_router_t *rt = apr_hash_get(t->routers, name, APR_HASH_KEY_STRING);
    if (!rt) {
        rt = apr_pcalloc(p, sizeof(*rt));
        rt->name = apr_pstrdup(p, name);
        rt->rules = apr_array_make(p, 4, sizeof(llmgw_rule_t *));
        rt->version = "0";
        apr_hash_set(t->routers, rt->name, APR_HASH_KEY_STRING, rt);
    }
    return rt;
}

static int parse_count(const char *s, apr_int64_t *out)
{
    char *end;
    apr_int64_t v;
    if (!apr_isdigit(*s)) {
        return 0;
    }
    errno = 0;
    v = apr_strtoi64(s, &end, 10);
    if (*end || errno == ERANGE || v < 0) {
        return 0;
    }
    *out = v;
    return 1;
}

static int header_name_ok(const char *n, apr_size_t len)
{
    apr_size_t i;
    if (!len) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!apr_isalnum(n[i]) && n[i] != '-' && n[i] != '_') {
            return 0;
        }
    }
    return 1;
}

#define CONDITIONS "tools, images, stream, json, prompt_tokens>N, " \
                   "prompt_tokens<N, tier=T, header:NAME=VALUE"

const char *llmgw_rule_parse(apr_pool_t *p, int argc, char *const argv[],
                             llmgw_rule_t **out)
{
    llmgw_rule_t *rule = apr_pcalloc(p, sizeof(*rule));
    const char *text = NULL;
    char *list = NULL, *tok, *last;
    int i, arrow = -1;

    rule->prompt_gt = rule->prompt_lt = -1;
    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "->")) {
            if (arrow >= 0) {
                return "'->' appears twice";
            }
            arrow = i;
        }
    }
    if (arrow < 0) {
        return "missing '-> TARGET[,TARGET...]'";
    }
    for (i = 0; i < arrow; i++) {
        const char *c = argv[i];
        if (!strcmp(c, "tools")) {
            rule->flags |= LLMGW_RULE_TOOLS;
        }
        else if (!strcmp(c, "images")) {
            rule->flags |= LLMGW_RULE_IMAGES;
        }
        else if (!strcmp(c, "stream")) {
            rule->flags |= LLMGW_RULE_STREAM;
        }
        else if (!strcmp(c, "json")) {
            rule->flags |= LLMGW_RULE_JSON;
        }
        else if (!strncmp(c, "prompt_tokens>", 14)) {
            if (!parse_count(c + 14, &rule->prompt_gt)) {
                return apr_psprintf(p, "'%s': prompt_tokens>N takes a "
                                    "number of tokens", c);
            }
        }
        else if (!strncmp(c, "prompt_tokens<", 14)) {
            if (!parse_count(c + 14, &rule->prompt_lt)
                || rule->prompt_lt == 0) {
                return apr_psprintf(p, "'%s': prompt_tokens<N takes a "
                                    "number of tokens above 0", c);
            }
        }
        else if (!strncmp(c, "tier=", 5)) {
            if (!c[5]) {
                return "tier= takes a tier name";
            }
            rule->tier = apr_pstrdup(p, c + 5);
        }
        else if (!strncmp(c, "header:", 7)) {
            const char *eq = strchr(c + 7, '=');
            llmgw_rule_header_t *h;
            if (!eq || !header_name_ok(c + 7, (apr_size_t)(eq - (c + 7)))
                || !eq[1]) {
                return apr_psprintf(p, "'%s': header:NAME=VALUE takes a "
                                    "header name and a value", c);
            }
            if (!rule->headers) {
                rule->headers = apr_array_make(p, 1, sizeof(*h));
            }
            h = apr_array_push(rule->headers);
            h->name = apr_pstrmemdup(p, c + 7, (apr_size_t)(eq - (c + 7)));
            h->value = apr_pstrdup(p, eq + 1);
        }
        else {
            return apr_psprintf(p, "unknown condition '%s' (" CONDITIONS ")",
                                c);
        }
        text = text ? apr_pstrcat(p, text, " ", c, NULL) : c;
    }
    if (rule->prompt_gt >= 0 && rule->prompt_lt >= 0
        && rule->prompt_lt <= rule->prompt_gt + 1) {
        return "prompt_tokens>N and prompt_tokens<M match nothing "
               "unless M > N + 1";
    }
    /* "a,b" or "a, b" or "a , b": the targets are the words after -> */
    for (i = arrow + 1; i < argc; i++) {
        list = list ? apr_pstrcat(p, list, ",", argv[i], NULL)
                    : apr_pstrdup(p, argv[i]);
    }
    rule->targets = apr_array_make(p, 2, sizeof(const char *));
    for (tok = list ? apr_strtok(list, ",", &last) : NULL; tok;
         tok = apr_strtok(NULL, ",", &last)) {
        if (!llmgw_model_name_ok(tok)) {
            return apr_psprintf(p, "'%s' is not a target (PROVIDER/MODEL "
                                "or an alias)", tok);
        }
        APR_ARRAY_PUSH(rule->targets, const char *) = tok;
    }
    if (!rule->targets->nelts) {
        return "no target after '->'";
    }
    rule->text = apr_pstrcat(p, text ? text : "", " -> ",
                             apr_array_pstrcat(p, rule->targets, ','), NULL);
    *out = rule;
    return NULL;
}

void llmgw_router_add(apr_pool_t *p, llmgw_router_t *rt, llmgw_rule_t *rule)
{
    unsigned char d[LLMGW_DIGEST_LEN];
    char *all, *hex = apr_palloc(p, 2 * 6 + 1);
    int i;

    APR_ARRAY_PUSH(rt->rules, llmgw_rule_t *) = rule;
    all = "";
    for (i = 0; i < rt->rules->nelts; i++) {
        all = apr_pstrcat(p, all, APR_ARRAY_IDX(rt->rules, i,
                                                llmgw_rule_t *)->text,
                          "\n", NULL);
    }
    llmgw_sha256(all, strlen(all), d);
    llmgw_hex(d, 6, hex);               /* 12 hex digits are plenty */
    rt->version = hex;
}

static int rule_holds(const llmgw_rule_t *rule, const llmgw_route_facts_t *f)
{
    int i;
    if (((rule->flags & LLMGW_RULE_TOOLS) && !f->tools)
        || ((rule->flags & LLMGW_RULE_IMAGES) && !f->images)
        || ((rule->flags & LLMGW_RULE_STREAM) && !f->stream)
        || ((rule->flags & LLMGW_RULE_JSON) && !f->json)) {
        return 0;
    }
    if ((rule->prompt_gt >= 0 && !(f->prompt_tokens > rule->prompt_gt))
        || (rule->prompt_lt >= 0 && !(f->prompt_tokens >= 0
                                      && f->prompt_tokens < rule->prompt_lt))) {
        return 0;
    }
    if (rule->tier && (!f->tier || strcmp(rule->tier, f->tier))) {
        return 0;
    }
    for (i = 0; rule->headers && i < rule->headers->nelts; i++) {
        const llmgw_rule_header_t *h = &APR_ARRAY_IDX(rule->headers, i,
                                                      llmgw_rule_header_t);
        const char *v = f->header ? f->header(f->baton, h->name) : NULL;
        if (!v || strcmp(v, h->value)) {
            return 0;
        }
    }
    return 1;
}

int llmgw_router_match(const llmgw_router_t *rt, const llmgw_route_facts_t *f)
{
    int i;
    for (i = 0; i < rt->rules->nelts; i++) {
        if (rule_holds(APR_ARRAY_IDX(rt->rules, i, llmgw_rule_t *), f)) {
            return i;
        }
    }
    return -1;
}
