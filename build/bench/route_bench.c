/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* What routing costs a request (`make -C build bench-route`): the
 * candidates of a router of 8 rules (the last matches, two targets), of a
 * weighted alias and of a plain provider/model, each with the pick from a
 * request id and a sub-pool as the handler has. Prints microseconds. */
#include <stdio.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "llmgw_route.h"

static const char *no_header(void *baton, const char *name)
{
    (void)baton; (void)name;
    return NULL;
}

int main(void)
{
    static const char *const providers[] = { "openai", "anthropic", "gemini",
                                             "mock", "dead" };
    static const char *const rules[] = {
        "tools -> anthropic/a", "prompt_tokens>8000 -> gemini/g",
        "images -> openai/v", "tier=free -> openai/f",
        "header:X-Team=research -> mock/r", "json -> mock/j",
        "stream -> mock/s", "-> dead/down,mock/d" };
    static const char *const models[] = { "auto", "balanced", "mock/plain" };
    apr_pool_t *p, *rp;
    llmgw_route_table_t *t;
    llmgw_router_t *rt;
    llmgw_alias_t *al;
    llmgw_route_facts_t f;
    size_t i, m;
    const int n = 1000000;

    apr_initialize();
    apr_pool_create(&p, NULL);
    t = llmgw_route_table_make(p);
    for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        llmgw_provider_t *pr = apr_pcalloc(p, sizeof(*pr));
        pr->name = providers[i];
        apr_hash_set(t->providers, pr->name, APR_HASH_KEY_STRING, pr);
    }
    rt = llmgw_router_get(p, t, "auto");
    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        char *c = apr_pstrdup(p, rules[i]), *last, *w;
        const char *argv[16];
        int argc = 0;
        llmgw_rule_t *rule;
        for (w = apr_strtok(c, " ", &last); w; w = apr_strtok(NULL, " ", &last)) {
            argv[argc++] = w;
        }
        if (llmgw_rule_parse(p, argc, (char *const *)argv, &rule)) {
            return 1;
        }
        llmgw_router_add(p, rt, rule);
    }
    al = llmgw_alias_make(p);
    llmgw_alias_add(al, "openai/x", 3);
    llmgw_alias_add(al, "mock/y", 1);
    apr_hash_set(t->aliases, "balanced", APR_HASH_KEY_STRING, al);
    memset(&f, 0, sizeof(f));
    f.prompt_tokens = 100;
    f.tier = "pro";
    f.header = no_header;
    for (m = 0; m < sizeof(models) / sizeof(models[0]); m++) {
        apr_time_t t0 = apr_time_now();
        int k;
        for (k = 0; k < n; k++) {
            apr_array_header_t *out;
            llmgw_route_choice_t choice = { NULL, 0 };
            const char *err, *code;
            apr_pool_create(&rp, p);
            out = apr_array_make(rp, 2, sizeof(llmgw_route_t));
            if (llmgw_route_expand(rp, t, models[m], NULL, NULL, &f,
                    llmgw_route_pick_of("6f1c0000-8e2d-4a7b-9c3e-00000000"
                                        "1234"), out, &choice, &err, &code)) {
                return 1;
            }
            apr_pool_destroy(rp);
        }
        printf("route %-10s %.3f us per request\n", models[m],
               (double)(apr_time_now() - t0) / n);
    }
    apr_pool_destroy(p);
    apr_terminate();
    return 0;
}
