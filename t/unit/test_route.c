/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Routing (llmgw_route.c): provider prefixes, the provider field and the
 * default provider, aliases, invalid model names and merged tables. */
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include "llmgw_test.h"
#include "llmgw_route.h"

static llmgw_provider_t *prov(const char *name)
{
    llmgw_provider_t *p = apr_pcalloc(tp, sizeof(*p));
    p->name = apr_pstrdup(tp, name);
    p->type = LLMGW_PT_OPENAI;
    p->base_url = apr_psprintf(tp, "https://%s.example", name);
    return p;
}

static void add_prov(llmgw_route_table_t *t, llmgw_provider_t *p)
{
    apr_hash_set(t->providers, p->name, APR_HASH_KEY_STRING, p);
    APR_ARRAY_PUSH(t->order, llmgw_provider_t *) = p;
}

static void alias(llmgw_route_table_t *t, const char *name,
                  const char *target)
{
    llmgw_alias_t *a = llmgw_alias_make(tp);
    llmgw_alias_add(a, target, 1);
    apr_hash_set(t->aliases, name, APR_HASH_KEY_STRING, a);
}

static llmgw_route_table_t *table(void)
{
    llmgw_route_table_t *t = llmgw_route_table_make(tp);
    add_prov(t, prov("openai"));
    add_prov(t, prov("anthropic"));
    add_prov(t, prov("openrouter"));
    add_prov(t, prov("mock"));
    alias(t, "fast", "openai/gpt-4o-mini");
    alias(t, "smart", "anthropic/claude-sonnet-4");
    alias(t, "broken", "nobody/x");
    return t;
}

static void route_ok(const llmgw_route_table_t *t, const char *model,
                     const char *field, const char *def,
                     const char *want_prov, const char *want_model)
{
    llmgw_route_t r;
    const char *err = NULL, *code = "unset";
    int rv = llmgw_route_resolve(tp, t, model, field, def, &r, &err, &code);
    ck_assert_msg(rv == 0, "%s: rv %d (%s)", model, rv, err ? err : "");
    ck_assert_msg(code == NULL, "%s: code set on success", model);
    ck_assert_ptr_nonnull(r.provider);
    ck_assert_str_eq(r.provider->name, want_prov);
    ck_assert_str_eq(r.model, want_model);
}

static void route_err(const llmgw_route_table_t *t, const char *model,
                      const char *field, const char *def, int want_rv,
                      const char *want_code)
{
    llmgw_route_t r;
    const char *err = NULL, *code = NULL;
    int rv = llmgw_route_resolve(tp, t, model, field, def, &r, &err, &code);
    ck_assert_msg(rv == want_rv, "%s: rv %d, want %d", model ? model : "(null)",
                  rv, want_rv);
    ck_assert_msg(err != NULL && *err, "%s: no message", model);
    ck_assert_msg(code != NULL && strcmp(code, want_code) == 0,
                  "%s: code '%s', want '%s'", model ? model : "(null)",
                  code ? code : "(null)", want_code);
}

START_TEST(route_provider_prefix)
{
    llmgw_route_table_t *t = table();
    route_ok(t, "openai/gpt-4o", NULL, NULL, "openai", "gpt-4o");
    route_ok(t, "anthropic/claude-sonnet-4", NULL, "openai", "anthropic",
             "claude-sonnet-4");
    /* only the first slash splits */
    route_ok(t, "openrouter/meta-llama/x", NULL, NULL, "openrouter",
             "meta-llama/x");
    route_ok(t, "openrouter/a/b/c", NULL, "openai", "openrouter", "a/b/c");
    /* an explicit provider field wins; the model goes upstream verbatim
     * (the HardCarrx quickstart: OpenRouter's own "openai/..." ids) */
    route_ok(t, "openai/gpt-4.1-mini", "openrouter", NULL, "openrouter",
             "openai/gpt-4.1-mini");
    route_ok(t, "openai/gpt-4o", "anthropic", NULL, "anthropic",
             "openai/gpt-4o");
    /* a prefix that is not a provider, no field: 400 (no default fallback) */
    route_err(t, "meta-llama/x", NULL, NULL, 400, "provider_not_found");
    route_err(t, "meta-llama/x", NULL, "openai", 400, "provider_not_found");
    route_err(t, "opena/gpt-4o", NULL, "openai", 400, "provider_not_found");
    /* with the field, the whole model goes to that provider */
    route_ok(t, "meta-llama/x", "openrouter", NULL, "openrouter",
             "meta-llama/x");
    route_ok(t, "meta-llama/x/y", "openrouter", "openai", "openrouter",
             "meta-llama/x/y");
    /* unknown provider field */
    route_err(t, "gpt-4o", "nope", "openai", 400, "provider_not_found");
    route_err(t, "meta-llama/x", "nope", NULL, 400, "provider_not_found");
    /* a provider name must match exactly */
    route_err(t, "OpenAI/gpt-4o", NULL, NULL, 400, "provider_not_found");
}
END_TEST

START_TEST(route_plain_and_default)
{
    llmgw_route_table_t *t = table();
    route_ok(t, "gpt-4o", NULL, "openai", "openai", "gpt-4o");
    route_ok(t, "gpt-4o", "anthropic", "openai", "anthropic", "gpt-4o");
    route_ok(t, "claude-x", "anthropic", NULL, "anthropic", "claude-x");
    route_err(t, "gpt-4o", NULL, NULL, 404, "model_not_found");
    /* a default that names no configured provider */
    route_err(t, "gpt-4o", NULL, "ghost", 404, "model_not_found");
}
END_TEST

START_TEST(route_aliases)
{
    llmgw_route_table_t *t = table();
    route_ok(t, "fast", NULL, NULL, "openai", "gpt-4o-mini");
    route_ok(t, "smart", NULL, "openai", "anthropic", "claude-sonnet-4");
    /* with a provider field the name is that provider's model */
    route_ok(t, "smart", "openai", NULL, "openai", "smart");
    route_err(t, "broken", NULL, NULL, 400, "provider_not_found");
    /* not an alias: plain model */
    route_ok(t, "faster", NULL, "mock", "mock", "faster");
}
END_TEST

START_TEST(route_invalid_models)
{
    llmgw_route_table_t *t = table();
    char *longm;
    route_err(t, "mock/", NULL, NULL, 400, "invalid_model");
    route_ok(t, "mock/", "openai", "openai", "openai", "mock/");
    route_err(t, "", NULL, "openai", 400, "invalid_model");
    route_err(t, NULL, NULL, "openai", 400, "invalid_model");
    route_err(t, "gpt 4o", NULL, "openai", 400, "invalid_model");
    route_err(t, " gpt-4o", NULL, "openai", 400, "invalid_model");
    route_err(t, "openai/gpt-4o ", NULL, NULL, 400, "invalid_model");
    route_err(t, "gpt-4o\r\nX-Evil: 1", NULL, "openai", 400, "invalid_model");
    route_err(t, "gpt-4o\n", NULL, "openai", 400, "invalid_model");
    route_err(t, "gpt\t4o", NULL, "openai", 400, "invalid_model");
    route_err(t, "gpt\x01", NULL, "openai", 400, "invalid_model");
    route_err(t, "gpt\x7f", NULL, "openai", 400, "invalid_model");
    route_err(t, "mod\xc3\xa8le", NULL, "openai", 400, "invalid_model");
    route_err(t, "\xff", NULL, "openai", 400, "invalid_model");

    longm = apr_palloc(tp, 300);
    memset(longm, 'a', 299);
    longm[299] = '\0';
    route_err(t, longm, NULL, "openai", 400, "invalid_model");
    longm[257] = '\0';
    route_err(t, longm, NULL, "openai", 400, "invalid_model");
    ck_assert_int_eq(llmgw_model_name_ok(longm), 0);
    longm[256] = '\0';
    ck_assert_int_eq(llmgw_model_name_ok(longm), 1);
    route_ok(t, longm, NULL, "openai", "openai", longm);

    ck_assert_int_eq(llmgw_model_name_ok("a"), 1);
    ck_assert_int_eq(llmgw_model_name_ok("!~"), 1);
    ck_assert_int_eq(llmgw_model_name_ok("models/gemini-2.5-flash:latest"), 1);
    ck_assert_int_eq(llmgw_model_name_ok(""), 0);
    ck_assert_int_eq(llmgw_model_name_ok(NULL), 0);
    ck_assert_int_eq(llmgw_model_name_ok("a b"), 0);
}
END_TEST

START_TEST(route_table_merge)
{
    llmgw_route_table_t *base = llmgw_route_table_make(tp);
    llmgw_route_table_t *vh = llmgw_route_table_make(tp);
    llmgw_route_table_t *m;
    llmgw_provider_t *b_openai = prov("openai"), *b_anth = prov("anthropic");
    llmgw_provider_t *b_gem = prov("gemini");
    llmgw_provider_t *v_anth = prov("anthropic"), *v_mock = prov("mock");
    llmgw_route_t r;
    const char *err, *code;

    v_anth->base_url = "https://vhost-anthropic.example";
    add_prov(base, b_openai);
    add_prov(base, b_anth);
    add_prov(base, b_gem);
    add_prov(vh, v_mock);
    add_prov(vh, v_anth);
    alias(base, "fast", "openai/a");
    alias(base, "keep", "gemini/g");
    alias(vh, "fast", "mock/b");

    m = llmgw_route_table_merge(tp, base, vh);
    ck_assert_int_eq(m->order->nelts, 4);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 0, llmgw_provider_t *), v_mock);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 1, llmgw_provider_t *), v_anth);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 2, llmgw_provider_t *), b_openai);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 3, llmgw_provider_t *), b_gem);
    ck_assert_uint_eq(apr_hash_count(m->providers), 4);
    ck_assert_ptr_eq(apr_hash_get(m->providers, "anthropic",
                                  APR_HASH_KEY_STRING), v_anth);
    ck_assert_ptr_eq(apr_hash_get(m->providers, "openai",
                                  APR_HASH_KEY_STRING), b_openai);

    ck_assert_int_eq(llmgw_route_resolve(tp, m, "anthropic/c", NULL, NULL,
                                         &r, &err, &code), 0);
    ck_assert_ptr_eq(r.provider, v_anth);
    ck_assert_str_eq(r.provider->base_url, "https://vhost-anthropic.example");
    route_ok(m, "fast", NULL, NULL, "mock", "b");
    route_ok(m, "keep", NULL, NULL, "gemini", "g");
    route_ok(m, "mock/z", NULL, NULL, "mock", "z");

    /* the inputs are left alone */
    ck_assert_int_eq(base->order->nelts, 3);
    ck_assert_int_eq(vh->order->nelts, 2);
    ck_assert_uint_eq(apr_hash_count(base->providers), 3);
    ck_assert_ptr_eq(apr_hash_get(base->providers, "anthropic",
                                  APR_HASH_KEY_STRING), b_anth);
    ck_assert_str_eq(APR_ARRAY_IDX(((llmgw_alias_t *)apr_hash_get(
                         base->aliases, "fast", APR_HASH_KEY_STRING))->targets,
                         0, llmgw_alias_target_t).target, "openai/a");

    /* an empty vhost inherits everything, in order */
    m = llmgw_route_table_merge(tp, base, llmgw_route_table_make(tp));
    ck_assert_int_eq(m->order->nelts, 3);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 0, llmgw_provider_t *), b_openai);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 1, llmgw_provider_t *), b_anth);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 2, llmgw_provider_t *), b_gem);
    route_ok(m, "fast", NULL, NULL, "openai", "a");
}
END_TEST


static Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = ut_tcase(s, "route", 0);
    tcase_add_test(tc, route_provider_prefix);
    tcase_add_test(tc, route_plain_and_default);
    tcase_add_test(tc, route_aliases);
    tcase_add_test(tc, route_invalid_models);
    tcase_add_test(tc, route_table_merge);
    return s;
}

UT_MAIN(route_suite)
