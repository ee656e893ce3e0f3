/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Routing rules (llmgw_router.c): LLMGWRoute's conditions parsed and
 * matched, the rules version, router expansion into candidate routes,
 * weighted aliases (pick spread, fallbacks in weight order), and the
 * circuit breaker's state machine (llmgw_circuit.c). */
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include "llmgw_test.h"
#include "llmgw_route.h"
#include "llmgw_circuit.h"

static llmgw_provider_t *prov(llmgw_route_table_t *t, const char *name)
{
    llmgw_provider_t *p = apr_pcalloc(tp, sizeof(*p));
    p->name = apr_pstrdup(tp, name);
    p->type = LLMGW_PT_OPENAI;
    apr_hash_set(t->providers, p->name, APR_HASH_KEY_STRING, p);
    APR_ARRAY_PUSH(t->order, llmgw_provider_t *) = p;
    return p;
}

/* Splits a rule's text on spaces into argv and parses it. */
static const char *parse(const char *text, llmgw_rule_t **rule)
{
    char *copy = apr_pstrdup(tp, text), *last, *w;
    const char *argv[32];
    int argc = 0;
    for (w = apr_strtok(copy, " ", &last); w && argc < 32;
         w = apr_strtok(NULL, " ", &last)) {
        argv[argc++] = w;
    }
    return llmgw_rule_parse(tp, argc, (char *const *)argv, rule);
}

static llmgw_rule_t *rule_of(const char *text)
{
    llmgw_rule_t *r = NULL;
    const char *err = parse(text, &r);
    ck_assert_msg(err == NULL, "%s: %s", text, err ? err : "");
    return r;
}

static void bad_rule(const char *text, const char *want)
{
    llmgw_rule_t *r = NULL;
    const char *err = parse(text, &r);
    ck_assert_msg(err != NULL, "%s: accepted", text);
    ck_assert_msg(strstr(err, want) != NULL, "%s: '%s' lacks '%s'", text,
                  err, want);
}

typedef struct {
    const char *name, *value;
} hdr_t;

static const char *hdr(void *baton, const char *name)
{
    hdr_t *h = baton;
    return h && !strcasecmp(h->name, name) ? h->value : NULL;
}

static llmgw_route_facts_t facts(void)
{
    llmgw_route_facts_t f;
    memset(&f, 0, sizeof(f));
    f.prompt_tokens = 10;
    f.header = hdr;
    return f;
}

/* The SPEC's example router. */
static llmgw_router_t *spec_router(llmgw_route_table_t *t)
{
    static const char *const rules[] = {
        "tools -> anthropic/claude-sonnet-4",
        "prompt_tokens>8000 -> gemini/gemini-2.5-pro",
        "images -> openai/gpt-4.1",
        "tier=free -> openai/gpt-4.1-mini",
        "-> openai/gpt-4.1-mini,anthropic/claude-haiku-4",
    };
    llmgw_router_t *rt = llmgw_router_get(tp, t, "auto");
    size_t i;
    rt->declared = 1;
    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        llmgw_router_add(tp, rt, rule_of(rules[i]));
    }
    return rt;
}

START_TEST(rule_parsing)
{
    llmgw_rule_t *r = rule_of("tools images stream json prompt_tokens>100 "
                              "prompt_tokens<5000 tier=pro header:X-Team=ml "
                              "-> a/b,c/d");
    const llmgw_rule_header_t *h;
    ck_assert_uint_eq(r->flags, LLMGW_RULE_TOOLS | LLMGW_RULE_IMAGES
                                | LLMGW_RULE_STREAM | LLMGW_RULE_JSON);
    ck_assert_int_eq(r->prompt_gt, 100);
    ck_assert_int_eq(r->prompt_lt, 5000);
    ck_assert_str_eq(r->tier, "pro");
    ck_assert_int_eq(r->headers->nelts, 1);
    h = &APR_ARRAY_IDX(r->headers, 0, llmgw_rule_header_t);
    ck_assert_str_eq(h->name, "X-Team");
    ck_assert_str_eq(h->value, "ml");
    ck_assert_int_eq(r->targets->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(r->targets, 1, const char *), "c/d");

    /* targets split over words, with or without spaces around commas */
    r = rule_of("-> a/b, c/d ,e");
    ck_assert_int_eq(r->targets->nelts, 3);
    ck_assert_str_eq(APR_ARRAY_IDX(r->targets, 2, const char *), "e");
    ck_assert_str_eq(r->text, " -> a/b,c/d,e");

    bad_rule("tools a/b", "missing '-> TARGET");
    bad_rule("tools ->", "no target");
    bad_rule("tools -> ,", "no target");
    bad_rule("-> a -> b", "twice");
    bad_rule("vision -> a/b", "unknown condition 'vision'");
    bad_rule("prompt_tokens>x -> a/b", "prompt_tokens>N");
    bad_rule("prompt_tokens> -> a/b", "prompt_tokens>N");
    bad_rule("prompt_tokens>-5 -> a/b", "prompt_tokens>N");
    bad_rule("prompt_tokens>99999999999999999999999 -> a/b", "prompt_tokens>N");
    bad_rule("prompt_tokens<0 -> a/b", "prompt_tokens<N");
    bad_rule("prompt_tokens>10 prompt_tokens<11 -> a/b", "match nothing");
    bad_rule("prompt_tokens=10 -> a/b", "unknown condition");
    bad_rule("tier= -> a/b", "tier=");
    bad_rule("header:X-Team -> a/b", "header:NAME=VALUE");
    bad_rule("header:=v -> a/b", "header:NAME=VALUE");
    bad_rule("header:X Team=v -> a/b", "header:NAME=VALUE");
    bad_rule("header:X-Team= -> a/b", "header:NAME=VALUE");
    bad_rule("header:X:T=v -> a/b", "header:NAME=VALUE");
}
END_TEST

START_TEST(rule_matching)
{
    llmgw_route_table_t *t = llmgw_route_table_make(tp);
    llmgw_router_t *rt = spec_router(t);
    llmgw_route_facts_t f = facts();
    hdr_t h = { "x-team", "ml" };

    ck_assert_int_eq(llmgw_router_match(rt, &f), 4);     /* the default */
    f.tools = 1;
    ck_assert_int_eq(llmgw_router_match(rt, &f), 0);
    f.prompt_tokens = 9000;                               /* tools first */
    ck_assert_int_eq(llmgw_router_match(rt, &f), 0);
    f.tools = 0;
    ck_assert_int_eq(llmgw_router_match(rt, &f), 1);
    f.prompt_tokens = 8000;                               /* > is strict */
    ck_assert_int_eq(llmgw_router_match(rt, &f), 4);
    f.images = 1;
    ck_assert_int_eq(llmgw_router_match(rt, &f), 2);
    f.images = 0;
    f.tier = "free";
    ck_assert_int_eq(llmgw_router_match(rt, &f), 3);
    f.tier = "freemium";                                  /* exact */
    ck_assert_int_eq(llmgw_router_match(rt, &f), 4);

    /* every condition of a rule must hold; headers by name, any case */
    rt = llmgw_router_get(tp, t, "team");
    llmgw_router_add(tp, rt, rule_of("stream json header:X-Team=ml "
                                     "prompt_tokens<100 -> a/b"));
    llmgw_router_add(tp, rt, rule_of("header:x-team=ml -> c/d"));
    f = facts();
    ck_assert_int_eq(llmgw_router_match(rt, &f), -1);     /* no header */
    f.baton = &h;
    ck_assert_int_eq(llmgw_router_match(rt, &f), 1);
    f.stream = f.json = 1;
    ck_assert_int_eq(llmgw_router_match(rt, &f), 0);
    f.prompt_tokens = 100;                                /* < is strict */
    ck_assert_int_eq(llmgw_router_match(rt, &f), 1);
    h.value = "ML";                                       /* values exact */
    ck_assert_int_eq(llmgw_router_match(rt, &f), -1);
    /* an unknown prompt size never matches prompt_tokens<N */
    h.value = "ml";
    f.prompt_tokens = -1;
    ck_assert_int_eq(llmgw_router_match(rt, &f), 1);
}
END_TEST

START_TEST(rules_version)
{
    llmgw_route_table_t *t = llmgw_route_table_make(tp);
    llmgw_router_t *a = spec_router(t), *b;
    const char *v1 = a->version;
    ck_assert_int_eq(strlen(v1), 12);
    /* the same rules elsewhere: the same version */
    b = spec_router(llmgw_route_table_make(tp));
    ck_assert_str_eq(b->version, v1);
    /* another rule: another version */
    llmgw_router_add(tp, b, rule_of("json -> x/y"));
    ck_assert_str_ne(b->version, v1);
    /* order matters */
    a = llmgw_router_get(tp, t, "o1");
    llmgw_router_add(tp, a, rule_of("tools -> a/b"));
    llmgw_router_add(tp, a, rule_of("-> c/d"));
    b = llmgw_router_get(tp, t, "o2");
    llmgw_router_add(tp, b, rule_of("-> c/d"));
    llmgw_router_add(tp, b, rule_of("tools -> a/b"));
    ck_assert_str_ne(a->version, b->version);
}
END_TEST

static apr_array_header_t *expand(const llmgw_route_table_t *t,
                                  const char *model,
                                  const llmgw_route_facts_t *f,
                                  apr_uint64_t pick,
                                  llmgw_route_choice_t *choice, int want_rv)
{
    apr_array_header_t *out = apr_array_make(tp, 2, sizeof(llmgw_route_t));
    const char *err = NULL, *code = NULL;
    int rv = llmgw_route_expand(tp, t, model, NULL, NULL, f, pick, out,
                                choice, &err, &code);
    ck_assert_msg(rv == want_rv, "%s: rv %d (%s)", model, rv, err ? err : "");
    return out;
}

static const char *route_str(apr_array_header_t *a, int i)
{
    llmgw_route_t *r = &APR_ARRAY_IDX(a, i, llmgw_route_t);
    return apr_pstrcat(tp, r->provider->name, "/", r->model, NULL);
}

START_TEST(router_expansion)
{
    llmgw_route_table_t *t = llmgw_route_table_make(tp);
    llmgw_route_facts_t f = facts();
    llmgw_route_choice_t choice = { NULL, 0 };
    llmgw_router_t *rt;
    llmgw_alias_t *al;
    apr_array_header_t *a;

    prov(t, "openai");
    prov(t, "anthropic");
    prov(t, "gemini");
    spec_router(t);
    a = expand(t, "auto", &f, 0, &choice, 0);
    ck_assert_int_eq(a->nelts, 2);
    ck_assert_str_eq(route_str(a, 0), "openai/gpt-4.1-mini");
    ck_assert_str_eq(route_str(a, 1), "anthropic/claude-haiku-4");
    ck_assert_str_eq(choice.router->name, "auto");
    ck_assert_int_eq(choice.rule, 5);

    /* the first router met is the one reported */
    f.tools = 1;
    a = expand(t, "auto", &f, 0, &choice, 0);
    ck_assert_str_eq(route_str(a, 0), "anthropic/claude-sonnet-4");
    ck_assert_int_eq(choice.rule, 5);
    choice.router = NULL;
    a = expand(t, "auto", &f, 0, &choice, 0);
    ck_assert_int_eq(choice.rule, 1);

    /* a router name with a provider-like prefix */
    rt = llmgw_router_get(tp, t, "hpprouter/auto");
    llmgw_router_add(tp, rt, rule_of("tools -> gemini/g1"));
    llmgw_router_add(tp, rt, rule_of("-> fast"));
    al = llmgw_alias_make(tp);
    llmgw_alias_add(al, "openai/small", 1);
    apr_hash_set(t->aliases, "fast", APR_HASH_KEY_STRING, al);
    choice.router = NULL;
    a = expand(t, "hpprouter/auto", &f, 0, &choice, 0);
    ck_assert_int_eq(a->nelts, 1);
    ck_assert_str_eq(route_str(a, 0), "gemini/g1");
    f.tools = 0;
    a = expand(t, "hpprouter/auto", &f, 0, &choice, 0);
    ck_assert_str_eq(route_str(a, 0), "openai/small");   /* via the alias */

    /* no rule matches: 400 no_matching_rule */
    rt = llmgw_router_get(tp, t, "strict");
    llmgw_router_add(tp, rt, rule_of("tools -> openai/x"));
    {
        apr_array_header_t *out = apr_array_make(tp, 2, sizeof(llmgw_route_t));
        const char *err = NULL, *code = NULL;
        ck_assert_int_eq(llmgw_route_expand(tp, t, "strict", NULL, NULL, &f,
                                            0, out, NULL, &err, &code), 400);
        ck_assert_str_eq(code, "no_matching_rule");
        ck_assert_ptr_nonnull(strstr(err, "strict"));
        /* with the provider field the name is a plain model */
        out = apr_array_make(tp, 2, sizeof(llmgw_route_t));
        ck_assert_int_eq(llmgw_route_expand(tp, t, "strict", "gemini", NULL,
                                            &f, 0, out, NULL, &err, &code), 0);
        ck_assert_str_eq(route_str(out, 0), "gemini/strict");
    }
    /* resolve (one route) refuses a router's name */
    {
        llmgw_route_t r;
        const char *err = NULL, *code = NULL;
        ck_assert_int_eq(llmgw_route_resolve(tp, t, "auto", NULL, "openai",
                                             &r, &err, &code), 400);
        ck_assert_str_eq(code, "model_is_router");
        ck_assert_int_eq(llmgw_route_resolve(tp, t, "auto", "openai", NULL,
                                             &r, &err, &code), 0);
    }
    /* a plain name is its one route */
    a = expand(t, "anthropic/c", &f, 0, NULL, 0);
    ck_assert_int_eq(a->nelts, 1);
    ck_assert_str_eq(route_str(a, 0), "anthropic/c");
    expand(t, "nobody/c", &f, 0, NULL, 400);
}
END_TEST

START_TEST(weighted_aliases)
{
    llmgw_route_table_t *t = llmgw_route_table_make(tp);
    llmgw_alias_t *al = llmgw_alias_make(tp);
    apr_array_header_t *a;
    int counts[3] = { 0, 0, 0 }, i;
    llmgw_route_t r;
    const char *err, *code;

    prov(t, "p1");
    prov(t, "p2");
    prov(t, "p3");
    llmgw_alias_add(al, "p1/light", 1);
    llmgw_alias_add(al, "p2/heavy", 3);
    llmgw_alias_add(al, "p3/mid", 2);
    apr_hash_set(t->aliases, "bal", APR_HASH_KEY_STRING, al);
    /* weight order, heaviest first */
    ck_assert_str_eq(APR_ARRAY_IDX(al->targets, 0, llmgw_alias_target_t)
                     .target, "p2/heavy");
    ck_assert_str_eq(APR_ARRAY_IDX(al->targets, 1, llmgw_alias_target_t)
                     .target, "p3/mid");
    ck_assert_uint_eq(al->total, 6);
    /* resolve (one route): the heaviest */
    ck_assert_int_eq(llmgw_route_resolve(tp, t, "bal", NULL, NULL, &r, &err,
                                         &code), 0);
    ck_assert_str_eq(r.model, "heavy");

    /* the pick: every value of pick % total lands on its weight's share */
    for (i = 0; i < 6; i++) {
        counts[llmgw_alias_pick(al, (apr_uint64_t)i)]++;
    }
    ck_assert_int_eq(counts[0], 3);
    ck_assert_int_eq(counts[1], 2);
    ck_assert_int_eq(counts[2], 1);

    /* the picked one first, the others in weight order */
    a = expand(t, "bal", NULL, 5, NULL, 0);     /* 5 % 6 -> p1/light */
    ck_assert_int_eq(a->nelts, 3);
    ck_assert_str_eq(route_str(a, 0), "p1/light");
    ck_assert_str_eq(route_str(a, 1), "p2/heavy");
    ck_assert_str_eq(route_str(a, 2), "p3/mid");
    a = expand(t, "bal", NULL, 4, NULL, 0);     /* -> p3/mid */
    ck_assert_str_eq(route_str(a, 0), "p3/mid");
    ck_assert_str_eq(route_str(a, 1), "p2/heavy");
    ck_assert_str_eq(route_str(a, 2), "p1/light");

    /* request ids spread: 3:1 over 4000 ids is close to 3:1 */
    {
        llmgw_alias_t *b = llmgw_alias_make(tp);
        int n[2] = { 0, 0 };
        llmgw_alias_add(b, "p1/a", 3);
        llmgw_alias_add(b, "p2/b", 1);
        for (i = 0; i < 4000; i++) {
            char id[40];
            apr_snprintf(id, sizeof(id), "6f1c%04x-8e2d-4a7b-9c3e-%012x", i,
                         i * 7919);
            n[llmgw_alias_pick(b, llmgw_route_pick_of(id))]++;
        }
        ck_assert_msg(n[0] > 2800 && n[0] < 3200, "3:1 gave %d:%d", n[0],
                      n[1]);
    }
}
END_TEST

START_TEST(circuit_states)
{
    llmgw_circuit_slot_t s;
    llmgw_circuit_conf_t c = { 3, 1000, 500 };
    apr_uint64_t t = 100000;

    memset(&s, 0, sizeof(s));
    ck_assert_str_eq(llmgw_circuit_state_name(llmgw_circuit_state_of(&s)),
                     "closed");
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t), LLMGW_CIRCUIT_ALLOW);
    ck_assert_int_eq(llmgw_circuit_failure(&s, &c, t), 0);
    ck_assert_int_eq(llmgw_circuit_failure(&s, &c, t + 10), 0);
    /* the window passed: counting starts again */
    ck_assert_int_eq(llmgw_circuit_failure(&s, &c, t + 1000), 0);
    ck_assert_int_eq(llmgw_circuit_failure(&s, &c, t + 1100), 0);
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t + 1100),
                     LLMGW_CIRCUIT_ALLOW);
    /* the third within the window opens it */
    ck_assert_int_eq(llmgw_circuit_failure(&s, &c, t + 1200), 1);
    ck_assert_int_eq(llmgw_circuit_state_of(&s), LLMGW_CIRCUIT_OPEN);
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t + 1200),
                     LLMGW_CIRCUIT_DENY);
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t + 1699),
                     LLMGW_CIRCUIT_DENY);
    /* a late failure of a request sent before changes nothing */
    ck_assert_int_eq(llmgw_circuit_failure(&s, &c, t + 1600), 0);
    /* after the cooldown exactly one probe */
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t + 1700),
                     LLMGW_CIRCUIT_PROBE);
    ck_assert_int_eq(llmgw_circuit_state_of(&s), LLMGW_CIRCUIT_HALF_OPEN);
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t + 1700),
                     LLMGW_CIRCUIT_DENY);
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t + 1900),
                     LLMGW_CIRCUIT_DENY);
    /* the probe fails: open for another cooldown */
    ck_assert_int_eq(llmgw_circuit_failure(&s, &c, t + 2000), 1);
    ck_assert_int_eq(llmgw_circuit_state_of(&s), LLMGW_CIRCUIT_OPEN);
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t + 2400),
                     LLMGW_CIRCUIT_DENY);
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t + 2500),
                     LLMGW_CIRCUIT_PROBE);
    /* a probe that never reports is replaced after a cooldown */
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t + 2999),
                     LLMGW_CIRCUIT_DENY);
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t + 3000),
                     LLMGW_CIRCUIT_PROBE);
    /* its success closes it, and counting starts from zero */
    llmgw_circuit_success(&s);
    ck_assert_str_eq(llmgw_circuit_state_name(llmgw_circuit_state_of(&s)),
                     "closed");
    ck_assert_int_eq(llmgw_circuit_allow(&s, &c, t + 3000),
                     LLMGW_CIRCUIT_ALLOW);
    ck_assert_int_eq(llmgw_circuit_failure(&s, &c, t + 3001), 0);
    ck_assert_int_eq(llmgw_circuit_failure(&s, &c, t + 3002), 0);
    ck_assert_int_eq(llmgw_circuit_failure(&s, &c, t + 3003), 1);
    ck_assert_str_eq(llmgw_circuit_state_name(LLMGW_CIRCUIT_HALF_OPEN),
                     "half_open");
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = ut_tcase(s, "router", 0);
    tcase_add_test(tc, rule_parsing);
    tcase_add_test(tc, rule_matching);
    tcase_add_test(tc, rules_version);
    tcase_add_test(tc, router_expansion);
    tcase_add_test(tc, weighted_aliases);
    tcase_add_test(tc, circuit_states);
    return s;
}

UT_MAIN(router_suite)
