/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * test_admin.c — the pure core of the management API: its routes, the
 * validation of every body (param names the field), the objects, ids and
 * keys, AES-256-GCM sealing of provider keys, LLMGWSecretKeyFile, the
 * context-quota policy and its enforcement, billing objects and the
 * schema's migration steps.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "llmgw_test.h"
#include "llmgw_admin.h"

/* Test JSON freed with the test's pool. */
static apr_status_t jfree(void *j)
{
    json_decref(j);
    return APR_SUCCESS;
}

static json_t *J(const char *txt)
{
    json_t *j = ut_json(txt);
    apr_pool_cleanup_register(tp, j, jfree, apr_pool_cleanup_null);
    return j;
}

/* ------------------------------------------------------------ routes */

static llmgw_admin_route_t route(const char *path)
{
    llmgw_admin_route_t rt;
    llmgw_admin_route_parse(tp, path, &rt);
    return rt;
}

START_TEST(routes_of_the_spec)
{
    llmgw_admin_route_t rt;

    rt = route("/v1/workspaces");
    ck_assert_int_eq(rt.route, LLMGW_ADM_WORKSPACES);
    ck_assert_int_eq(rt.deprecated, 0);
    ck_assert_int_eq(route("/v1/workspaces/").route, LLMGW_ADM_WORKSPACES);
    rt = route("/v1/workspaces/ws_1");
    ck_assert_int_eq(rt.route, LLMGW_ADM_WORKSPACE);
    ck_assert_str_eq(rt.workspace, "ws_1");
    rt = route("/v1/workspaces/ws_1/keys");
    ck_assert_int_eq(rt.route, LLMGW_ADM_KEYS);
    rt = route("/v1/workspaces/ws_1/keys/key_9/revoke");
    ck_assert_int_eq(rt.route, LLMGW_ADM_KEY_REVOKE);
    ck_assert_str_eq(rt.key_id, "key_9");
    rt = route("/v1/workspaces/ws_1/provider-keys");
    ck_assert_int_eq(rt.route, LLMGW_ADM_PROVIDER_KEYS);
    rt = route("/v1/workspaces/ws_1/provider-keys/openai");
    ck_assert_int_eq(rt.route, LLMGW_ADM_PROVIDER_KEY);
    ck_assert_str_eq(rt.provider, "openai");
    rt = route("/v1/billing/workspaces/ws_1/entitlements");
    ck_assert_int_eq(rt.route, LLMGW_ADM_ENTITLEMENTS);
    ck_assert_str_eq(rt.workspace, "ws_1");
    ck_assert_int_eq(route("/v1/billing/workspaces/w/usage").route,
                     LLMGW_ADM_USAGE);
    ck_assert_int_eq(route("/v1/billing/workspaces/w/context-quota-policy")
                     .route, LLMGW_ADM_POLICY);
    /* projects: the same routes, deprecated */
    rt = route("/v1/projects/p1/keys");
    ck_assert_int_eq(rt.route, LLMGW_ADM_KEYS);
    ck_assert_int_eq(rt.deprecated, 1);
    rt = route("/v1/billing/projects/p1/entitlements");
    ck_assert_int_eq(rt.route, LLMGW_ADM_ENTITLEMENTS);
    ck_assert_int_eq(rt.deprecated, 1);
    /* another mount */
    ck_assert_int_eq(route("/admin/v1/workspaces/x").route,
                     LLMGW_ADM_WORKSPACE);
    /* not routes */
    ck_assert_int_eq(route("/v1/workspaces/a/b").route, LLMGW_ADM_NONE);
    ck_assert_int_eq(route("/v1/workspaces/a/keys/k").route, LLMGW_ADM_NONE);
    ck_assert_int_eq(route("/v1/workspaces/a/keys/k/delete").route,
                     LLMGW_ADM_NONE);
    ck_assert_int_eq(route("/v1/billing").route, LLMGW_ADM_NONE);
    ck_assert_int_eq(route("/v1/billing/workspaces/a").route, LLMGW_ADM_NONE);
    ck_assert_int_eq(route("/v1/billing/workspaces/a/x").route,
                     LLMGW_ADM_NONE);
    ck_assert_int_eq(route("/v1/chat/completions").route, LLMGW_ADM_NONE);
    ck_assert_int_eq(route("/v1/workspaces/a/b/c/d/e/f/g/h/i").route,
                     LLMGW_ADM_NONE);
    ck_assert_int_eq(route(NULL).route, LLMGW_ADM_NONE);
}
END_TEST

START_TEST(methods)
{
    ck_assert(llmgw_admin_method_ok(LLMGW_ADM_WORKSPACES, "GET"));
    ck_assert(llmgw_admin_method_ok(LLMGW_ADM_WORKSPACES, "POST"));
    ck_assert(llmgw_admin_method_ok(LLMGW_ADM_WORKSPACES, "HEAD"));
    ck_assert(!llmgw_admin_method_ok(LLMGW_ADM_WORKSPACES, "DELETE"));
    ck_assert(!llmgw_admin_method_ok(LLMGW_ADM_WORKSPACES, "POS"));
    ck_assert(!llmgw_admin_method_ok(LLMGW_ADM_WORKSPACES, "ST"));
    ck_assert(llmgw_admin_method_ok(LLMGW_ADM_WORKSPACE, "PATCH"));
    ck_assert(!llmgw_admin_method_ok(LLMGW_ADM_WORKSPACE, "POST"));
    ck_assert(llmgw_admin_method_ok(LLMGW_ADM_KEY_REVOKE, "POST"));
    ck_assert(!llmgw_admin_method_ok(LLMGW_ADM_KEY_REVOKE, "GET"));
    ck_assert(llmgw_admin_method_ok(LLMGW_ADM_PROVIDER_KEY, "DELETE"));
    ck_assert(llmgw_admin_method_ok(LLMGW_ADM_POLICY, "PUT"));
    ck_assert(!llmgw_admin_method_ok(LLMGW_ADM_USAGE, "PUT"));
    ck_assert(!llmgw_admin_method_ok(LLMGW_ADM_NONE, "GET"));
    ck_assert_str_eq(llmgw_admin_route_methods(LLMGW_ADM_POLICY), "GET, PUT");
}
END_TEST

/* ------------------------------------------------------------ validation */

static const char *ws_err(const char *json, const char **param,
                          llmgw_admin_ws_t *ws)
{
    return llmgw_admin_ws_create_check(tp, J(json), ws, param);
}

START_TEST(workspace_bodies)
{
    llmgw_admin_ws_t ws;
    const char *param;

    ck_assert_ptr_null(ws_err("{\"name\":\"Acme\",\"plan\":\"pro\"}", &param,
                              &ws));
    ck_assert_str_eq(ws.name, "Acme");
    ck_assert_str_eq(ws.status, "active");
    ck_assert_ptr_null(ws.id);
    ck_assert_ptr_null(ws_err("{\"name\":\"A\",\"plan\":\"pro\",\"id\":"
                              "\"acme-1.x_y\"}", &param, &ws));
    ck_assert_str_eq(ws.id, "acme-1.x_y");

    ck_assert_ptr_nonnull(ws_err("[]", &param, &ws));
    ck_assert_ptr_null(param);
    ck_assert_ptr_nonnull(ws_err("{\"plan\":\"pro\"}", &param, &ws));
    ck_assert_str_eq(param, "name");
    ck_assert_ptr_nonnull(ws_err("{\"name\":\"\",\"plan\":\"pro\"}", &param,
                                 &ws));
    ck_assert_str_eq(param, "name");
    ck_assert_ptr_nonnull(ws_err("{\"name\":\"a\\nb\",\"plan\":\"pro\"}",
                                 &param, &ws));
    ck_assert_str_eq(param, "name");
    ck_assert_ptr_nonnull(ws_err("{\"name\":\"a\\u0000b\",\"plan\":\"pro\"}",
                                 &param, &ws));
    ck_assert_str_eq(param, "name");
    ck_assert_ptr_nonnull(ws_err("{\"name\":7,\"plan\":\"pro\"}", &param,
                                 &ws));
    ck_assert_str_eq(param, "name");
    ck_assert_ptr_nonnull(ws_err("{\"name\":\"a\"}", &param, &ws));
    ck_assert_str_eq(param, "plan");
    ck_assert_ptr_nonnull(ws_err("{\"name\":\"a\",\"plan\":\"x' OR 1=1\"}",
                                 &param, &ws));
    ck_assert_str_eq(param, "plan");
    ck_assert_ptr_nonnull(ws_err("{\"name\":\"a\",\"plan\":\"p\",\"id\":"
                                 "\"a/b\"}", &param, &ws));
    ck_assert_str_eq(param, "id");
    ck_assert_ptr_nonnull(ws_err("{\"name\":\"a\",\"plan\":\"p\",\"id\":"
                                 "\"'; DROP TABLE x;--\"}", &param, &ws));
    ck_assert_str_eq(param, "id");
    ck_assert_ptr_nonnull(ws_err("{\"name\":\"a\",\"plan\":\"p\",\"owner\":1}",
                                 &param, &ws));
    ck_assert_str_eq(param, "owner");
}
END_TEST

START_TEST(workspace_patch)
{
    llmgw_admin_ws_t ws = { "w", "old", "free", "active", 1 };
    const char *param;
    ck_assert_ptr_null(llmgw_admin_ws_patch_check(
        tp, J("{\"status\":\"suspended\",\"name\":\"new\"}"), &ws,
        &param));
    ck_assert_str_eq(ws.status, "suspended");
    ck_assert_str_eq(ws.name, "new");
    ck_assert_str_eq(ws.plan, "free");
    ck_assert_ptr_nonnull(llmgw_admin_ws_patch_check(
        tp, J("{\"status\":\"deleted\"}"), &ws, &param));
    ck_assert_str_eq(param, "status");
    ck_assert_ptr_nonnull(llmgw_admin_ws_patch_check(tp, J("{}"), &ws,
                                                     &param));
    ck_assert_ptr_nonnull(llmgw_admin_ws_patch_check(
        tp, J("{\"id\":\"other\"}"), &ws, &param));
    ck_assert_str_eq(param, "id");
}
END_TEST

START_TEST(key_bodies)
{
    llmgw_admin_key_t k;
    const char *param;

    ck_assert_ptr_null(llmgw_admin_key_create_check(
        tp, J("{\"name\":\"ci\"}"), 1000, &k, &param));
    ck_assert_str_eq(k.role, "member");
    ck_assert_ptr_null(k.models);
    ck_assert_int_eq(k.expires_at, -1);
    ck_assert_ptr_null(llmgw_admin_key_create_check(
        tp, J("{\"name\":\"ci\",\"role\":\"admin\",\"models\":"
                    "[\"openai/*\",\"mock/echo\"],\"expires_at\":2000}"),
        1000, &k, &param));
    ck_assert_str_eq(k.role, "admin");
    ck_assert_int_eq(k.models->nelts, 2);
    ck_assert_int_eq(k.expires_at, 2000);

    ck_assert_ptr_nonnull(llmgw_admin_key_create_check(
        tp, J("{\"name\":\"ci\",\"role\":\"owner\"}"), 1000, &k,
        &param));
    ck_assert_str_eq(param, "role");
    ck_assert_ptr_nonnull(llmgw_admin_key_create_check(
        tp, J("{\"name\":\"ci\",\"models\":[]}"), 1000, &k, &param));
    ck_assert_str_eq(param, "models");
    ck_assert_ptr_nonnull(llmgw_admin_key_create_check(
        tp, J("{\"name\":\"ci\",\"models\":[\"a\",3]}"), 1000, &k,
        &param));
    ck_assert_str_eq(param, "models[1]");
    ck_assert_ptr_nonnull(llmgw_admin_key_create_check(
        tp, J("{\"name\":\"ci\",\"expires_at\":999}"), 1000, &k,
        &param));
    ck_assert_str_eq(param, "expires_at");
    ck_assert_ptr_nonnull(llmgw_admin_key_create_check(
        tp, J("{\"name\":\"ci\",\"expires_at\":\"2030\"}"), 1000, &k,
        &param));
    ck_assert_str_eq(param, "expires_at");
    ck_assert_ptr_nonnull(llmgw_admin_key_create_check(
        tp, J("{\"name\":\"ci\",\"key\":\"chosen\"}"), 1000, &k,
        &param));
    ck_assert_str_eq(param, "key");
}
END_TEST

START_TEST(provider_key_bodies)
{
    const char *param, *prov, *key;
    ck_assert_ptr_null(llmgw_admin_pkey_create_check(
        tp, J("{\"provider\":\"openai\",\"key\":\"sk-abc\"}"), &prov,
        &key, &param));
    ck_assert_str_eq(prov, "openai");
    ck_assert_str_eq(key, "sk-abc");
    ck_assert_ptr_nonnull(llmgw_admin_pkey_create_check(
        tp, J("{\"provider\":\"openai\",\"key\":\"sk\\r\\nX-Evil: 1\"}"),
        &prov, &key, &param));
    ck_assert_str_eq(param, "key");
    ck_assert_ptr_nonnull(llmgw_admin_pkey_create_check(
        tp, J("{\"provider\":\"../x\",\"key\":\"k\"}"), &prov, &key,
        &param));
    ck_assert_str_eq(param, "provider");
    ck_assert_ptr_nonnull(llmgw_admin_pkey_create_check(
        tp, J("{\"provider\":\"openai\"}"), &prov, &key, &param));
    ck_assert_str_eq(param, "key");
}
END_TEST

/* ------------------------------------------------------------ objects */

START_TEST(objects)
{
    llmgw_admin_ws_t ws = { "ws_1", "Acme", "pro", "active", 1700000000 };
    llmgw_admin_key_t k;
    apr_array_header_t *models;
    json_t *j;

    j = llmgw_admin_ws_json(&ws);
    ut_json_eq(j, J("{\"id\":\"ws_1\",\"object\":\"workspace\",\"name\":\"Acme\","
               "\"plan\":\"pro\",\"status\":\"active\","
               "\"created_at\":1700000000}"), "object");
    json_decref(j);

    memset(&k, 0, sizeof(k));
    k.id = "key_1";
    k.workspace = "ws_1";
    k.name = "ci";
    k.role = "member";
    k.prefix = "llmgw_abcdef";
    k.created_at = 5;
    k.expires_at = -1;
    k.revoked_at = 9;
    j = llmgw_admin_key_json(&k, NULL);
    ck_assert(json_is_null(json_object_get(j, "models")));
    ck_assert(json_is_null(json_object_get(j, "expires_at")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "revoked_at")), 9);
    ck_assert_ptr_null(json_object_get(j, "key"));
    json_decref(j);
    j = llmgw_admin_key_json(&k, "llmgw_secret");
    ck_assert_str_eq(json_string_value(json_object_get(j, "key")),
                     "llmgw_secret");
    json_decref(j);

    ck_assert_int_eq(llmgw_admin_models_parse(tp, "[\"a/*\",\"b\"]", &models),
                     0);
    ck_assert_int_eq(models->nelts, 2);
    ck_assert_str_eq(llmgw_admin_models_text(tp, models), "[\"a/*\",\"b\"]");
    ck_assert_int_eq(llmgw_admin_models_parse(tp, NULL, &models), 0);
    ck_assert_ptr_null(models);
    ck_assert_int_eq(llmgw_admin_models_parse(tp, "[1]", &models), -1);
    ck_assert_ptr_null(llmgw_admin_models_text(tp, NULL));
}
END_TEST

/* ------------------------------------------------------------ secrets */

START_TEST(ids_and_keys)
{
    const char *a = llmgw_admin_new_id(tp, "ws_"), *b, *secret, *shown;
    char digest[65], expect[65];
    b = llmgw_admin_new_id(tp, "ws_");
    ck_assert_int_eq(strlen(a), 3 + 24);
    ck_assert(llmgw_admin_id_ok(a));
    ck_assert_str_ne(a, b);

    ck_assert_int_eq(llmgw_admin_new_key(tp, &secret, &shown, digest), 0);
    ck_assert(!strncmp(secret, "llmgw_", 6));
    ck_assert_int_eq(strlen(secret), 6 + 43);
    ck_assert(strspn(secret + 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno"
                     "pqrstuvwxyz0123456789-_") == 43);
    ck_assert_int_eq(strncmp(secret, shown, 12), 0);
    ck_assert_int_eq(strlen(shown), 12);
    llmgw_sha256_hex(secret, strlen(secret), expect);
    ck_assert_str_eq(digest, expect);

    ck_assert_str_eq(llmgw_admin_last4(tp, "sk-abcdef1234"), "1234");
    ck_assert_str_eq(llmgw_admin_last4(tp, "short"), "****");
}
END_TEST

static unsigned char K1[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
                                26, 27, 28, 29, 30, 31, 32 };

START_TEST(seal_and_open)
{
    unsigned char k2[32];
    const char *s1, *s2;
    char *bad;
    size_t n;

    memcpy(k2, K1, 32);
    k2[0] ^= 1;
    s1 = llmgw_secret_seal(tp, K1, "ws\nopenai", "sk-live-secret-123");
    s2 = llmgw_secret_seal(tp, K1, "ws\nopenai", "sk-live-secret-123");
    ck_assert_ptr_nonnull(s1);
    ck_assert(!strncmp(s1, "v1:", 3));
    ck_assert_str_ne(s1, s2);                  /* a fresh nonce each time */
    ck_assert_ptr_null(strstr(s1, "secret"));
    ck_assert_str_eq(llmgw_secret_open(tp, K1, "ws\nopenai", s1),
                     "sk-live-secret-123");
    /* another key, another workspace or provider, a changed byte: nothing */
    ck_assert_ptr_null(llmgw_secret_open(tp, k2, "ws\nopenai", s1));
    ck_assert_ptr_null(llmgw_secret_open(tp, K1, "ws2\nopenai", s1));
    ck_assert_ptr_null(llmgw_secret_open(tp, K1, "ws\nanthropic", s1));
    bad = apr_pstrdup(tp, s1);
    n = strlen(bad);
    bad[n / 2] = bad[n / 2] == 'A' ? 'B' : 'A';
    ck_assert_ptr_null(llmgw_secret_open(tp, K1, "ws\nopenai", bad));
    ck_assert_ptr_null(llmgw_secret_open(tp, K1, "ws\nopenai", "v1:AAAA"));
    ck_assert_ptr_null(llmgw_secret_open(tp, K1, "ws\nopenai", "v1:!!"));
    ck_assert_ptr_null(llmgw_secret_open(tp, K1, "ws\nopenai", "plain"));
    ck_assert_ptr_null(llmgw_secret_open(tp, K1, "ws\nopenai", NULL));
}
END_TEST

static const char *write_file(const char *name, const void *data,
                              apr_size_t len)
{
    const char *dir, *path;
    apr_file_t *f;
    ck_assert_int_eq(apr_temp_dir_get(&dir, tp), APR_SUCCESS);
    path = apr_psprintf(tp, "%s/llmgw-test-%ld-%s", dir, (long)getpid(),
                        name);
    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                                   | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY,
                                   APR_FPROT_UREAD | APR_FPROT_UWRITE, tp),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_file_write_full(f, data, len, NULL), APR_SUCCESS);
    apr_file_close(f);
    return path;
}

START_TEST(secret_key_file)
{
    unsigned char key[32];
    char hex[66];
    const char *path, *err;

    path = write_file("raw", K1, 32);
    ck_assert_ptr_null(llmgw_secret_key_load(tp, path, key));
    ck_assert_int_eq(memcmp(key, K1, 32), 0);
    apr_file_remove(path, tp);

    llmgw_hex(K1, 32, hex);
    strcat(hex, "\n");
    path = write_file("hex", hex, 65);
    ck_assert_ptr_null(llmgw_secret_key_load(tp, path, key));
    ck_assert_int_eq(memcmp(key, K1, 32), 0);
    apr_file_remove(path, tp);

    path = write_file("short", K1, 16);
    err = llmgw_secret_key_load(tp, path, key);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "32"));
    apr_file_remove(path, tp);

    err = llmgw_secret_key_load(tp, "/nonexistent/llmgw.key", key);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/llmgw.key"));
}
END_TEST

/* ------------------------------------------------------------ policy */

START_TEST(policy_object)
{
    llmgw_policy_t pol;
    const char *param;
    json_t *j;

    ck_assert_ptr_null(llmgw_policy_check(tp, J("{}"), &pol, &param));
    ck_assert(!llmgw_policy_active(&pol));
    j = llmgw_policy_json(&pol);
    ut_json_eq(j, J("{\"object\":\"context_quota_policy\",\"max_prompt_tokens\":"
               "null,\"max_completion_tokens\":null,\"on_exceed\":\"reject\","
               "\"memory\":{\"mode\":\"none\",\"max_turns\":20,"
               "\"ttl_seconds\":86400}}"), "object");
    json_decref(j);

    ck_assert_ptr_null(llmgw_policy_check(
        tp, J("{\"max_prompt_tokens\":100,\"max_completion_tokens\":50,"
                    "\"on_exceed\":\"truncate\",\"memory\":{\"mode\":"
                    "\"session\",\"max_turns\":5,\"ttl_seconds\":60}}"),
        &pol, &param));
    ck_assert(llmgw_policy_active(&pol));
    ck_assert_int_eq(pol.truncate, 1);
    ck_assert_str_eq(pol.memory_mode, "session");
    {
        llmgw_policy_t back;
        ck_assert_int_eq(llmgw_policy_parse(tp, llmgw_policy_text(tp, &pol),
                                            &back), 0);
        ck_assert_int_eq(back.max_prompt_tokens, 100);
        ck_assert_int_eq(back.max_completion_tokens, 50);
        ck_assert_int_eq(back.memory_max_turns, 5);
        ck_assert_int_eq(back.memory_ttl_seconds, 60);
    }

    ck_assert_ptr_nonnull(llmgw_policy_check(
        tp, J("{\"max_prompt_tokens\":0}"), &pol, &param));
    ck_assert_str_eq(param, "max_prompt_tokens");
    ck_assert_ptr_nonnull(llmgw_policy_check(
        tp, J("{\"max_prompt_tokens\":\"100\"}"), &pol, &param));
    ck_assert_str_eq(param, "max_prompt_tokens");
    ck_assert_ptr_nonnull(llmgw_policy_check(
        tp, J("{\"on_exceed\":\"drop\"}"), &pol, &param));
    ck_assert_str_eq(param, "on_exceed");
    ck_assert_ptr_nonnull(llmgw_policy_check(
        tp, J("{\"memory\":{\"mode\":\"forever\"}}"), &pol, &param));
    ck_assert_str_eq(param, "memory.mode");
    ck_assert_ptr_nonnull(llmgw_policy_check(
        tp, J("{\"memory\":{\"max_turns\":-1}}"), &pol, &param));
    ck_assert_str_eq(param, "memory.max_turns");
    ck_assert_ptr_nonnull(llmgw_policy_check(
        tp, J("{\"memory\":{\"extra\":1}}"), &pol, &param));
    ck_assert_str_eq(param, "memory.extra");
    ck_assert_ptr_nonnull(llmgw_policy_check(
        tp, J("{\"max_tokens\":1}"), &pol, &param));
    ck_assert_str_eq(param, "max_tokens");
    ck_assert_int_eq(llmgw_policy_parse(tp, "not json", &pol), -1);
}
END_TEST

static json_t *chat(void)
{
    return json_deep_copy(J(
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":\"first question, long enough to "
        "matter in the estimate of the prompt\"},"
        "{\"role\":\"assistant\",\"content\":\"first answer\"},"
        "{\"role\":\"user\",\"content\":\"second\"}]}"));
}

START_TEST(policy_enforcement)
{
    llmgw_policy_t pol;
    json_t *body = chat(), *msgs;
    char *txt = json_dumps(body, JSON_COMPACT);
    apr_int64_t est = (apr_int64_t)(strlen(txt) + 3) / 4, mt = -1, e0 = est;
    free(txt);

    llmgw_policy_default(&pol);
    ck_assert_int_eq(llmgw_policy_apply(&pol, LLMGW_POLICY_CHAT, body, &est, &mt),
                     LLMGW_POLICY_PASS);

    /* reject */
    pol.max_prompt_tokens = e0 - 1;
    ck_assert_int_eq(llmgw_policy_apply(&pol, LLMGW_POLICY_CHAT, body, &est, &mt),
                     LLMGW_POLICY_REJECT);
    ck_assert_int_eq(json_array_size(json_object_get(body, "messages")), 4);

    /* truncate: the oldest non-system turns go, the system message and the
     * last message stay */
    pol.truncate = 1;
    pol.max_prompt_tokens = e0 - 10;
    ck_assert_int_eq(llmgw_policy_apply(&pol, LLMGW_POLICY_CHAT, body, &est, &mt),
                     LLMGW_POLICY_CHANGED);
    msgs = json_object_get(body, "messages");
    ck_assert_int_lt(json_array_size(msgs), 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 0),
                                                       "role")), "system");
    ck_assert_str_eq(json_string_value(json_object_get(
        json_array_get(msgs, json_array_size(msgs) - 1), "content")),
        "second");
    ck_assert_int_le(est, pol.max_prompt_tokens);
    json_decref(body);

    /* truncate cannot help when the last message alone is too long */
    body = chat();
    est = e0;
    pol.max_prompt_tokens = 1;
    ck_assert_int_eq(llmgw_policy_apply(&pol, LLMGW_POLICY_CHAT, body, &est, &mt),
                     LLMGW_POLICY_REJECT);
    json_decref(body);

    /* max_completion_tokens caps, or sets max_tokens */
    llmgw_policy_default(&pol);
    pol.max_completion_tokens = 100;
    body = chat();
    est = e0;
    ck_assert_int_eq(llmgw_policy_apply(&pol, LLMGW_POLICY_CHAT, body, &est, &mt),
                     LLMGW_POLICY_CHANGED);
    ck_assert_int_eq(json_integer_value(json_object_get(body, "max_tokens")),
                     100);
    ck_assert_int_eq(mt, 100);
    json_object_set_new(body, "max_tokens", json_integer(500));
    json_object_set_new(body, "max_completion_tokens", json_integer(40));
    ck_assert_int_eq(llmgw_policy_apply(&pol, LLMGW_POLICY_CHAT, body, &est, &mt),
                     LLMGW_POLICY_CHANGED);
    ck_assert_int_eq(json_integer_value(json_object_get(body, "max_tokens")),
                     100);
    ck_assert_int_eq(json_integer_value(json_object_get(
        body, "max_completion_tokens")), 40);
    ck_assert_int_eq(mt, 40);
    json_object_set_new(body, "max_tokens", json_integer(60));
    ck_assert_int_eq(llmgw_policy_apply(&pol, LLMGW_POLICY_CHAT, body, &est, &mt),
                     LLMGW_POLICY_PASS);
    json_decref(body);
}
END_TEST

/* The estimate of a tree as the quota module makes it: bytes / 4. */
static apr_int64_t estimate(const json_t *body)
{
    char *txt = json_dumps(body, JSON_COMPACT);
    apr_int64_t est = (apr_int64_t)(strlen(txt) + 3) / 4;
    free(txt);
    return est;
}

/* The role (or, for items without one, the type) of each message. */
static const char *shape(json_t *msgs)
{
    static char out[256];
    size_t i;
    out[0] = 0;
    for (i = 0; i < json_array_size(msgs); i++) {
        json_t *m = json_array_get(msgs, i);
        const char *r = json_string_value(json_object_get(m, "role"));
        strcat(out, i ? "," : "");
        strcat(out, r ? r : json_string_value(json_object_get(m, "type")));
    }
    return out;
}

/* A Messages request: the assistant's tool_use is answered by a user
 * message of tool_result blocks, which belongs to the dropped turn (an
 * orphan tool_result is a 400 at Anthropic); max_tokens is capped. */
START_TEST(policy_messages_api)
{
    llmgw_policy_t pol;
    json_t *body = json_deep_copy(J(
        "{\"model\":\"m\",\"max_tokens\":900,\"system\":\"be brief\","
        "\"messages\":["
        "{\"role\":\"user\",\"content\":\"first question, long enough to "
        "matter in the estimate of the prompt, and then some more words\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
        "\"id\":\"t1\",\"name\":\"f\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
        "\"tool_use_id\":\"t1\",\"content\":\"42\"}]},"
        "{\"role\":\"assistant\",\"content\":\"it is 42\"},"
        "{\"role\":\"user\",\"content\":\"second\"}]}"));
    apr_int64_t e0 = estimate(body), est = e0, mt = -1;

    llmgw_policy_default(&pol);
    pol.truncate = 1;
    pol.max_prompt_tokens = e0 - 10;
    pol.max_completion_tokens = 100;
    ck_assert_int_eq(llmgw_policy_apply(&pol, LLMGW_POLICY_MESSAGES, body,
                                        &est, &mt), LLMGW_POLICY_CHANGED);
    ck_assert_str_eq(shape(json_object_get(body, "messages")), "user");
    ck_assert_str_eq(json_string_value(json_object_get(body, "system")),
                     "be brief");
    ck_assert_int_eq(json_integer_value(json_object_get(body, "max_tokens")),
                     100);
    ck_assert_ptr_null(json_object_get(body, "max_completion_tokens"));
    ck_assert_int_eq(mt, 100);
    ck_assert_int_le(est, pol.max_prompt_tokens);
    json_decref(body);
}
END_TEST

/* A Responses request: input items, function calls and their outputs go
 * with their turn; max_output_tokens is the cap set. */
START_TEST(policy_responses_api)
{
    llmgw_policy_t pol;
    json_t *body = json_deep_copy(J(
        "{\"model\":\"m\",\"instructions\":\"be brief\",\"input\":["
        "{\"role\":\"developer\",\"content\":\"rules\"},"
        "{\"role\":\"user\",\"content\":\"first question, long enough to "
        "matter in the estimate of the prompt, and then some more words\"},"
        "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\","
        "\"arguments\":\"{}\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"c1\","
        "\"output\":\"42\"},"
        "{\"type\":\"message\",\"role\":\"assistant\",\"content\":"
        "[{\"type\":\"output_text\",\"text\":\"it is 42\"}]},"
        "{\"type\":\"message\",\"role\":\"user\",\"content\":\"second\"}"
        "]}"));
    apr_int64_t e0 = estimate(body), est = e0, mt = -1;

    llmgw_policy_default(&pol);
    pol.max_completion_tokens = 64;
    ck_assert_int_eq(llmgw_policy_apply(&pol, LLMGW_POLICY_RESPONSES, body,
                                        &est, &mt), LLMGW_POLICY_CHANGED);
    ck_assert_int_eq(json_integer_value(json_object_get(body,
                                                        "max_output_tokens")),
                     64);
    ck_assert_ptr_null(json_object_get(body, "max_tokens"));
    pol.truncate = 1;
    pol.max_prompt_tokens = e0 - 10;
    ck_assert_int_eq(llmgw_policy_apply(&pol, LLMGW_POLICY_RESPONSES, body,
                                        &est, &mt), LLMGW_POLICY_CHANGED);
    ck_assert_str_eq(shape(json_object_get(body, "input")), "developer,user");
    json_decref(body);

    /* a string input cannot lose turns: over the limit it is refused */
    body = json_deep_copy(J("{\"model\":\"m\",\"input\":\"a long "
                            "question, long enough to matter\"}"));
    est = estimate(body);
    pol.max_prompt_tokens = 2;
    ck_assert_int_eq(llmgw_policy_apply(&pol, LLMGW_POLICY_RESPONSES, body,
                                        &est, &mt), LLMGW_POLICY_REJECT);
    json_decref(body);
}
END_TEST

/* ------------------------------------------------------------ billing */

START_TEST(billing_objects)
{
    llmgw_plan_t plan;
    llmgw_admin_usage_t u = { 3, 10, 20, 1500000, 3000 };
    json_t *j;
    const char *a, *b;

    memset(&plan, 0, sizeof(plan));
    plan.name = "pro";
    plan.requests_month = 10;
    plan.rpm = plan.rph = plan.tpm = -1;
    plan.budget_micro_usd = 2000000;
    plan.cache_hit_milli = 100;
    j = llmgw_admin_entitlements_json(tp, "ws_1", &plan,
                                      apr_time_from_sec(1700000000), &u);
    ck_assert_str_eq(json_string_value(json_object_get(j, "object")),
                     "entitlements");
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(j, "remaining"), "requests")), 7);
    ck_assert(json_real_value(json_object_get(json_object_get(j, "remaining"),
                                              "budget_usd")) == 0.5);
    ck_assert(json_is_null(json_object_get(json_object_get(j, "plan"),
                                           "rpm")));
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(j, "period"), "start")), 1698796800);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(j, "usage"), "completion_tokens")), 20);
    json_decref(j);

    a = llmgw_admin_model_counter(tp, "openai", "gpt-4.1", "requests");
    b = llmgw_admin_model_counter(tp, "openai", "gpt 4.1 \r\n", "requests");
    ck_assert(!strncmp(a, "m-", 2));
    ck_assert_int_eq(strlen(a), 2 + 16 + 1 + 8);
    ck_assert_str_ne(a, b);
    ck_assert_ptr_null(strpbrk(b, " \r\n"));
}
END_TEST

/* ------------------------------------------------------------ schema */

START_TEST(schema_steps)
{
    int d, v, n;
    ck_assert_int_eq(llmgw_sql_dialect("sqlite3"), LLMGW_SQL_SQLITE);
    ck_assert_int_eq(llmgw_sql_dialect("pgsql"), LLMGW_SQL_PGSQL);
    ck_assert_int_eq(llmgw_sql_dialect("mysql"), -1);
    for (d = LLMGW_SQL_SQLITE; d <= LLMGW_SQL_PGSQL; d++) {
        for (v = 0; v < LLMGW_SCHEMA_VERSION; v++) {
            const char *const *st = llmgw_schema_step(d, v);
            const char *last = NULL;
            ck_assert_ptr_nonnull(st);
            for (n = 0; st[n]; n++) {
                last = st[n];
            }
            ck_assert_int_gt(n, 0);
            /* every step records the version it reaches */
            ck_assert_ptr_nonnull(strstr(last, "llmgw_schema"));
            ck_assert_ptr_nonnull(strstr(last, apr_itoa(tp, v + 1)));
        }
        ck_assert_ptr_null(llmgw_schema_step(d, LLMGW_SCHEMA_VERSION));
        ck_assert_ptr_nonnull(llmgw_schema_lock(d));
        ck_assert_ptr_nonnull(llmgw_schema_unlock(d));
    }
}
END_TEST

/* ------------------------------------------------------------ checkpoint */

START_TEST(checkpoint_counters)
{
    const char *mp = llmgw_admin_model_counter(tp, "mock", "echo", "");
    int i;
    /* every counter a checkpoint writes may be restored */
    for (i = 0; llmgw_ckpt_ws_counters[i]; i++) {
        ck_assert(llmgw_ckpt_counter_ok(llmgw_ckpt_ws_counters[i]));
    }
    for (i = 0; llmgw_ckpt_model_what[i]; i++) {
        const char *c = llmgw_admin_model_counter(tp, "mock", "echo",
                                                  llmgw_ckpt_model_what[i]);
        ck_assert(llmgw_ckpt_counter_ok(c));
        ck_assert_str_eq(c, apr_pstrcat(tp, mp, llmgw_ckpt_model_what[i],
                                        NULL));
    }
    ck_assert(llmgw_ckpt_counter_ok(LLMGW_CTR_MONTH));
    ck_assert(llmgw_ckpt_counter_ok(LLMGW_CTR_COST));
    /* the short windows and anything else are never restored */
    ck_assert(!llmgw_ckpt_counter_ok(LLMGW_CTR_MINUTE));
    ck_assert(!llmgw_ckpt_counter_ok(LLMGW_CTR_HOUR));
    ck_assert(!llmgw_ckpt_counter_ok(LLMGW_CTR_TOKENS));
    ck_assert(!llmgw_ckpt_counter_ok(NULL));
    ck_assert(!llmgw_ckpt_counter_ok(""));
    ck_assert(!llmgw_ckpt_counter_ok(mp));
    ck_assert(!llmgw_ckpt_counter_ok("m-0123456789abcdef-other"));
    ck_assert(!llmgw_ckpt_counter_ok("m-0123456789ABCDEF-cost"));
    ck_assert(!llmgw_ckpt_counter_ok("m-0123456789abcde-cost"));
    ck_assert(!llmgw_ckpt_counter_ok("m-0123456789abcdef-cost:x"));
    ck_assert(!llmgw_ckpt_counter_ok("month:1"));
}
END_TEST

START_TEST(checkpoint_entries)
{
    const char *mp = llmgw_admin_model_counter(tp, "mock", "echo", "");
    const char *e = llmgw_ckpt_entry(tp, "ws-1", 1764547200, mp);
    const char *ws = NULL;
    apr_int64_t period = 0;
    apr_array_header_t *c = NULL;
    int i, n = 0;

    ck_assert_int_eq(llmgw_ckpt_entry_counters(tp, e, &ws, &period, &c), 0);
    ck_assert_str_eq(ws, "ws-1");
    ck_assert(period == 1764547200);
    for (i = 0; llmgw_ckpt_ws_counters[i]; i++, n++) {
        ck_assert_str_eq(APR_ARRAY_IDX(c, n, const char *),
                         llmgw_ckpt_ws_counters[i]);
    }
    for (i = 0; llmgw_ckpt_model_what[i]; i++, n++) {
        ck_assert_str_eq(APR_ARRAY_IDX(c, n, const char *),
                         llmgw_admin_model_counter(tp, "mock", "echo",
                                                   llmgw_ckpt_model_what[i]));
    }
    ck_assert_int_eq(c->nelts, n);

    /* a static key's workspace: no model */
    e = llmgw_ckpt_entry(tp, "static", 0, NULL);
    ck_assert_int_eq(llmgw_ckpt_entry_counters(tp, e, &ws, &period, &c), 0);
    ck_assert_int_eq(c->nelts, 4);
    ck_assert(period == 0);

    ck_assert_int_eq(llmgw_ckpt_entry_counters(tp, NULL, &ws, &period, &c), -1);
    ck_assert_int_eq(llmgw_ckpt_entry_counters(tp, "ws", &ws, &period, &c), -1);
    ck_assert_int_eq(llmgw_ckpt_entry_counters(tp, "ws\n1", &ws, &period, &c), -1);
    ck_assert_int_eq(llmgw_ckpt_entry_counters(tp, "ws\n\n", &ws, &period, &c), -1);
    ck_assert_int_eq(llmgw_ckpt_entry_counters(tp, "ws\n-5\n", &ws, &period, &c), -1);
    ck_assert_int_eq(llmgw_ckpt_entry_counters(tp, "ws\n5x\n", &ws, &period, &c), -1);
    ck_assert_int_eq(llmgw_ckpt_entry_counters(tp, "w:s\n5\n", &ws, &period, &c), -1);
    ck_assert_int_eq(llmgw_ckpt_entry_counters(tp, "ws\n5\nm-zz", &ws, &period, &c), -1);
}
END_TEST

START_TEST(checkpoint_rows_and_merge)
{
    llmgw_ckpt_row_t row;
    const char *good[] = { "ws-1", "requests-month", "42" };
    const char *model[] = { "ws-1", "m-0123456789abcdef-prompt", "0" };
    const char *bad[][3] = {
        { NULL, "month", "1" }, { "ws", NULL, "1" }, { "ws", "month", NULL },
        { "w s", "month", "1" }, { "ws", "minute", "1" }, { "ws", "month", "" },
        { "ws", "month", "-1" }, { "ws", "month", "1x" },
        { "ws", "month", "99999999999999999999" },
    };
    apr_size_t i;

    ck_assert_int_eq(llmgw_ckpt_row(good, &row), 0);
    ck_assert_str_eq(row.workspace, "ws-1");
    ck_assert_str_eq(row.counter, "requests-month");
    ck_assert(row.value == 42);
    ck_assert_int_eq(llmgw_ckpt_row(model, &row), 0);
    ck_assert(row.value == 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(llmgw_ckpt_row(bad[i], &row) == -1, "row %d", (int)i);
    }

    /* the larger value wins: two nodes (or a store restarted and not yet
     * restored) never take a checkpoint backwards */
    ck_assert(llmgw_ckpt_merge(10, 12) == 12);
    ck_assert(llmgw_ckpt_merge(12, 10) == 12);
    ck_assert(llmgw_ckpt_merge(12, 0) == 12);
    ck_assert(llmgw_ckpt_merge(7, 7) == 7);

    ck_assert_str_eq(llmgw_ckpt_marker_key(tp, 1764547200),
                     "llmgw:q:restored:1764547200");
}
END_TEST

START_TEST(checkpoint_schema)
{
    int d, found = 0, n;
    for (d = LLMGW_SQL_SQLITE; d <= LLMGW_SQL_PGSQL; d++) {
        const char *const *st = llmgw_schema_step(d, 2);
        ck_assert_ptr_nonnull(st);
        for (n = 0; st[n]; n++) {
            if (strstr(st[n], "llmgw_usage_checkpoint")) {
                found++;
                /* the upsert's conflict target */
                ck_assert_ptr_nonnull(strstr(st[n],
                    "PRIMARY KEY (period, workspace_id, counter)"));
            }
        }
    }
    ck_assert_int_eq(found, 2);
    ck_assert_int_eq(LLMGW_SCHEMA_VERSION, 3);
}
END_TEST

static Suite *admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = ut_tcase(s, "routes", 0);
    tcase_add_test(tc, routes_of_the_spec);
    tcase_add_test(tc, methods);
    tc = ut_tcase(s, "validation", 0);
    tcase_add_test(tc, workspace_bodies);
    tcase_add_test(tc, workspace_patch);
    tcase_add_test(tc, key_bodies);
    tcase_add_test(tc, provider_key_bodies);
    tcase_add_test(tc, objects);
    tc = ut_tcase(s, "secrets", 0);
    tcase_add_test(tc, ids_and_keys);
    tcase_add_test(tc, seal_and_open);
    tcase_add_test(tc, secret_key_file);
    tc = ut_tcase(s, "policy", 0);
    tcase_add_test(tc, policy_object);
    tcase_add_test(tc, policy_enforcement);
    tcase_add_test(tc, policy_messages_api);
    tcase_add_test(tc, policy_responses_api);
    tc = ut_tcase(s, "billing", 0);
    tcase_add_test(tc, billing_objects);
    tcase_add_test(tc, schema_steps);
    tc = ut_tcase(s, "checkpoint", 0);
    tcase_add_test(tc, checkpoint_counters);
    tcase_add_test(tc, checkpoint_entries);
    tcase_add_test(tc, checkpoint_rows_and_merge);
    tcase_add_test(tc, checkpoint_schema);
    return s;
}

UT_MAIN(admin_suite)
