/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_admin.c — the management API's routes, objects and the validation
 * of its request bodies (pure; see llmgw_admin.h).
 */
#include <string.h>

#include <apr_strings.h>

#include "llmgw_admin.h"

/* ------------------------------------------------------------ routes */

/* The next segment of *s (up to '/' or the end); NULL at the end. */
static const char *next_seg(apr_pool_t *p, const char **s)
{
    const char *b = *s, *e;
    while (*b == '/') {
        b++;
    }
    if (!*b) {
        *s = b;
        return NULL;
    }
    e = strchr(b, '/');
    if (!e) {
        e = b + strlen(b);
    }
    *s = e;
    return apr_pstrmemdup(p, b, (apr_size_t)(e - b));
}

static int is_ws_word(const char *seg, int *deprecated)
{
    if (!strcmp(seg, "workspaces")) {
        return 1;
    }
    if (!strcmp(seg, "projects")) {
        *deprecated = 1;
        return 1;
    }
    return 0;
}

void llmgw_admin_route_parse(apr_pool_t *p, const char *path,
                             llmgw_admin_route_t *rt)
{
    const char *seg[8];
    const char *s = path ? path : "";
    int n = 0, billing = 0, i;
    const char *x;

    memset(rt, 0, sizeof(*rt));
    /* skip the mount: up to the first workspaces, projects or billing */
    while ((x = next_seg(p, &s))) {
        if (!strcmp(x, "workspaces") || !strcmp(x, "projects")
            || !strcmp(x, "billing")) {
            seg[n++] = x;
            break;
        }
    }
    if (!n) {
        return;
    }
    while ((x = next_seg(p, &s))) {
        if (n == (int)(sizeof(seg) / sizeof(seg[0]))) {
            return;                      /* too deep: no route */
        }
        seg[n++] = x;
    }
    i = 0;
    if (!strcmp(seg[0], "billing")) {
        billing = 1;
        i = 1;
    }
    if (i >= n || !is_ws_word(seg[i], &rt->deprecated)) {
        return;
    }
    i++;
    if (billing) {
        if (n - i != 2) {
            return;
        }
        rt->workspace = seg[i];
        if (!strcmp(seg[i + 1], "entitlements")) {
            rt->route = LLMGW_ADM_ENTITLEMENTS;
        }
        else if (!strcmp(seg[i + 1], "usage")) {
            rt->route = LLMGW_ADM_USAGE;
        }
        else if (!strcmp(seg[i + 1], "context-quota-policy")) {
            rt->route = LLMGW_ADM_POLICY;
        }
        return;
    }
    switch (n - i) {
    case 0:
        rt->route = LLMGW_ADM_WORKSPACES;
        return;
    case 1:
        rt->workspace = seg[i];
        rt->route = LLMGW_ADM_WORKSPACE;
        return;
    case 2:
        rt->workspace = seg[i];
        if (!strcmp(seg[i + 1], "keys")) {
            rt->route = LLMGW_ADM_KEYS;
        }
        else if (!strcmp(seg[i + 1], "provider-keys")) {
            rt->route = LLMGW_ADM_PROVIDER_KEYS;
        }
        return;
    case 3:
        rt->workspace = seg[i];
        if (!strcmp(seg[i + 1], "provider-keys")) {
            rt->provider = seg[i + 2];
            rt->route = LLMGW_ADM_PROVIDER_KEY;
        }
        else if (!strcmp(seg[i + 1], "memory")) {
            rt->user = seg[i + 2];
            rt->route = LLMGW_ADM_MEMORY;
        }
        return;
    case 4:
        rt->workspace = seg[i];
        if (!strcmp(seg[i + 1], "keys") && !strcmp(seg[i + 3], "revoke")) {
            rt->key_id = seg[i + 2];
            rt->route = LLMGW_ADM_KEY_REVOKE;
        }
        return;
    default:
        return;
    }
}

const char *llmgw_admin_route_methods(llmgw_admin_route_e route)
{
    switch (route) {
    case LLMGW_ADM_WORKSPACES:
    case LLMGW_ADM_KEYS:
    case LLMGW_ADM_PROVIDER_KEYS:
        return "GET, POST";
    case LLMGW_ADM_WORKSPACE:
        return "GET, PATCH";
    case LLMGW_ADM_KEY_REVOKE:
        return "POST";
    case LLMGW_ADM_PROVIDER_KEY:
        return "DELETE";
    case LLMGW_ADM_ENTITLEMENTS:
    case LLMGW_ADM_USAGE:
        return "GET";
    case LLMGW_ADM_POLICY:
        return "GET, PUT";
    case LLMGW_ADM_MEMORY:
        return "GET, PUT, DELETE";
    default:
        return "";
    }
}

int llmgw_admin_method_ok(llmgw_admin_route_e route, const char *method)
{
    const char *allowed = llmgw_admin_route_methods(route), *hit;
    apr_size_t n;
    if (!method || !*method) {
        return 0;
    }
    if (!strcmp(method, "HEAD")) {
        method = "GET";
    }
    n = strlen(method);
    for (hit = strstr(allowed, method); hit; hit = strstr(hit + 1, method)) {
        if ((hit == allowed || hit[-1] == ' ')
            && (hit[n] == '\0' || hit[n] == ',')) {
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ objects */

int llmgw_admin_id_ok(const char *s)
{
    apr_size_t n = 0;
    if (!s) {
        return 0;
    }
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_'
              || c == '-')) {
            return 0;
        }
    }
    return n >= 1 && n <= LLMGW_ADMIN_ID_MAX;
}

static json_t *time_or_null(apr_int64_t t)
{
    return t >= 0 ? json_integer((json_int_t)t) : json_null();
}

json_t *llmgw_admin_ws_json(const llmgw_admin_ws_t *ws)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "id", ws->id,
                     "object", "workspace", "name", ws->name,
                     "plan", ws->plan, "status", ws->status,
                     "created_at", (json_int_t)ws->created_at);
}

json_t *llmgw_admin_key_json(const llmgw_admin_key_t *k, const char *secret)
{
    json_t *models = json_null();
    json_t *j;
    int i;

    if (k->models) {
        models = json_array();
        for (i = 0; i < k->models->nelts; i++) {
            json_array_append_new(models, json_string(
                APR_ARRAY_IDX(k->models, i, const char *)));
        }
    }
    j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:I,s:o,s:o}",
                  "id", k->id, "object", "api_key",
                  "workspace_id", k->workspace, "name", k->name,
                  "role", k->role, "models", models, "prefix", k->prefix,
                  "created_at", (json_int_t)k->created_at,
                  "expires_at", time_or_null(k->expires_at),
                  "revoked_at", time_or_null(k->revoked_at));
    if (j && secret) {
        json_object_set_new(j, "key", json_string(secret));
    }
    return j;
}

json_t *llmgw_admin_pkey_json(const char *provider, const char *last4,
                              apr_int64_t created_at)
{
    return json_pack("{s:s,s:s,s:s,s:I}", "object", "provider_key",
                     "provider", provider, "last4", last4,
                     "created_at", (json_int_t)created_at);
}

json_t *llmgw_admin_list(json_t *items)
{
    return json_pack("{s:s,s:o}", "object", "list", "data",
                     items ? items : json_array());
}

const char *llmgw_admin_models_text(apr_pool_t *p,
                                    const apr_array_header_t *models)
{
    json_t *a;
    char *txt;
    const char *out;
    int i;
    if (!models) {
        return NULL;
    }
    a = json_array();
    for (i = 0; i < models->nelts; i++) {
        json_array_append_new(a, json_string(
            APR_ARRAY_IDX(models, i, const char *)));
    }
    txt = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    out = txt ? apr_pstrdup(p, txt) : NULL;
    free(txt);
    return out;
}

int llmgw_admin_models_parse(apr_pool_t *p, const char *text,
                             apr_array_header_t **models)
{
    json_t *a;
    size_t i;
    *models = NULL;
    if (!text || !*text || !strcmp(text, "null")) {
        return 0;
    }
    a = json_loads(text, 0, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return -1;
    }
    *models = apr_array_make(p, (int)json_array_size(a) + 1,
                             sizeof(const char *));
    for (i = 0; i < json_array_size(a); i++) {
        const char *g = json_string_value(json_array_get(a, i));
        if (!g) {
            json_decref(a);
            *models = NULL;
            return -1;
        }
        APR_ARRAY_PUSH(*models, const char *) = apr_pstrdup(p, g);
    }
    json_decref(a);
    return 0;
}

/* ------------------------------------------------------------ validation */

/* Printable text of 1..max bytes: valid UTF-8 (jansson's strings are) and
 * no control character. */
static int text_ok(const char *s, apr_size_t max)
{
    apr_size_t n = 0;
    if (!s) {
        return 0;
    }
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c < 0x20 || c == 0x7f) {
            return 0;
        }
    }
    return n >= 1 && n <= max;
}

/* The first member of body that is not in the NULL-terminated list. */
static const char *unknown_member(const json_t *body,
                                  const char *const *known)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v) {
        const char *const *w;
        int found = 0;
        (void)v;
        for (w = known; *w; w++) {
            if (!strcmp(*w, k)) {
                found = 1;
                break;
            }
        }
        if (!found) {
            return k;
        }
    }
    return NULL;
}

#define FAIL(prm, ...) do {                                             \
        *param = (prm);                                                 \
        return apr_psprintf(p, __VA_ARGS__);                            \
    } while (0)

static const char *body_check(apr_pool_t *p, const json_t *body,
                              const char *const *known, const char **param)
{
    const char *u;
    *param = NULL;
    if (!json_is_object(body)) {
        FAIL(NULL, "the request body must be a JSON object");
    }
    if ((u = unknown_member(body, known))) {
        FAIL(apr_pstrdup(p, u), "unknown parameter '%s'",
             text_ok(u, 64) ? u : "(not printable)");
    }
    return NULL;
}

static const char *name_field(apr_pool_t *p, const json_t *body,
                              const char *field, int required,
                              const char **out, const char **param)
{
    const json_t *v = json_object_get(body, field);
    if (!v) {
        if (required) {
            FAIL(field, "'%s' is required", field);
        }
        return NULL;
    }
    if (!json_is_string(v)
        || !text_ok(json_string_value(v), LLMGW_ADMIN_NAME_MAX)
        || strlen(json_string_value(v)) != json_string_length(v)) {
        FAIL(field, "'%s' must be a string of 1 to %d printable characters",
             field, LLMGW_ADMIN_NAME_MAX);
    }
    *out = apr_pstrdup(p, json_string_value(v));
    return NULL;
}

static const char *plan_field(apr_pool_t *p, const json_t *body,
                              int required, const char **out,
                              const char **param)
{
    const json_t *v = json_object_get(body, "plan");
    if (!v) {
        if (required) {
            FAIL("plan", "'plan' is required");
        }
        return NULL;
    }
    if (!json_is_string(v) || !llmgw_admin_id_ok(json_string_value(v))) {
        FAIL("plan", "'plan' must be the name of a plan");
    }
    *out = apr_pstrdup(p, json_string_value(v));
    return NULL;
}

const char *llmgw_admin_ws_create_check(apr_pool_t *p, const json_t *body,
                                        llmgw_admin_ws_t *out,
                                        const char **param)
{
    static const char *const known[] = { "name", "plan", "id", NULL };
    const json_t *id;
    const char *err;

    memset(out, 0, sizeof(*out));
    if ((err = body_check(p, body, known, param))
        || (err = name_field(p, body, "name", 1, &out->name, param))
        || (err = plan_field(p, body, 1, &out->plan, param))) {
        return err;
    }
    id = json_object_get(body, "id");
    if (id && !json_is_null(id)) {
        if (!json_is_string(id) || !llmgw_admin_id_ok(json_string_value(id))) {
            FAIL("id", "'id' must be 1 to %d of A-Z a-z 0-9 . _ -",
                 LLMGW_ADMIN_ID_MAX);
        }
        out->id = apr_pstrdup(p, json_string_value(id));
    }
    out->status = "active";
    return NULL;
}

const char *llmgw_admin_ws_patch_check(apr_pool_t *p, const json_t *body,
                                       llmgw_admin_ws_t *ws,
                                       const char **param)
{
    static const char *const known[] = { "name", "plan", "status", NULL };
    const json_t *st;
    const char *err;

    if ((err = body_check(p, body, known, param))) {
        return err;
    }
    if (!json_object_size(body)) {
        FAIL(NULL, "nothing to change: give name, plan or status");
    }
    if ((err = name_field(p, body, "name", 0, &ws->name, param))
        || (err = plan_field(p, body, 0, &ws->plan, param))) {
        return err;
    }
    st = json_object_get(body, "status");
    if (st) {
        const char *s = json_string_value(st);
        if (!s || (strcmp(s, "active") && strcmp(s, "suspended"))) {
            FAIL("status", "'status' must be \"active\" or \"suspended\"");
        }
        ws->status = !strcmp(s, "active") ? "active" : "suspended";
    }
    return NULL;
}

const char *llmgw_admin_key_create_check(apr_pool_t *p, const json_t *body,
                                         apr_int64_t now,
                                         llmgw_admin_key_t *out,
                                         const char **param)
{
    static const char *const known[] = { "name", "role", "models",
                                         "expires_at", NULL };
    const json_t *v;
    const char *err;

    memset(out, 0, sizeof(*out));
    out->expires_at = -1;
    out->revoked_at = -1;
    if ((err = body_check(p, body, known, param))
        || (err = name_field(p, body, "name", 1, &out->name, param))) {
        return err;
    }
    out->role = "member";
    v = json_object_get(body, "role");
    if (v && !json_is_null(v)) {
        const char *s = json_string_value(v);
        if (!s || (strcmp(s, "member") && strcmp(s, "admin"))) {
            FAIL("role", "'role' must be \"member\" or \"admin\"");
        }
        out->role = !strcmp(s, "admin") ? "admin" : "member";
    }
    v = json_object_get(body, "models");
    if (v && !json_is_null(v)) {
        size_t i;
        if (!json_is_array(v) || !json_array_size(v)
            || json_array_size(v) > LLMGW_ADMIN_MODELS_MAX) {
            FAIL("models", "'models' must be a list of 1 to %d globs "
                 "(\"openai/*\", \"anthropic/claude-*\")",
                 LLMGW_ADMIN_MODELS_MAX);
        }
        out->models = apr_array_make(p, (int)json_array_size(v),
                                     sizeof(const char *));
        for (i = 0; i < json_array_size(v); i++) {
            const json_t *g = json_array_get(v, i);
            if (!json_is_string(g)
                || strlen(json_string_value(g)) != json_string_length(g)
                || !text_ok(json_string_value(g), LLMGW_ADMIN_GLOB_MAX)) {
                FAIL(apr_psprintf(p, "models[%lu]", (unsigned long)i),
                     "'models[%lu]' must be a glob of 1 to %d printable "
                     "characters", (unsigned long)i, LLMGW_ADMIN_GLOB_MAX);
            }
            APR_ARRAY_PUSH(out->models, const char *) =
                apr_pstrdup(p, json_string_value(g));
        }
    }
    v = json_object_get(body, "expires_at");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) <= now
            || json_integer_value(v) > (json_int_t)253402300799LL) {
            FAIL("expires_at", "'expires_at' must be a time in the future, "
                 "in Unix seconds");
        }
        out->expires_at = (apr_int64_t)json_integer_value(v);
    }
    return NULL;
}

const char *llmgw_admin_pkey_create_check(apr_pool_t *p, const json_t *body,
                                          const char **provider,
                                          const char **key,
                                          const char **param)
{
    static const char *const known[] = { "provider", "key", NULL };
    const json_t *v;
    const char *err;

    if ((err = body_check(p, body, known, param))) {
        return err;
    }
    v = json_object_get(body, "provider");
    if (!v) {
        FAIL("provider", "'provider' is required");
    }
    if (!json_is_string(v) || !llmgw_admin_id_ok(json_string_value(v))) {
        FAIL("provider", "'provider' must be the name of a provider");
    }
    *provider = apr_pstrdup(p, json_string_value(v));
    v = json_object_get(body, "key");
    if (!v) {
        FAIL("key", "'key' is required");
    }
    /* never echoed: it is a secret */
    if (!json_is_string(v)
        || strlen(json_string_value(v)) != json_string_length(v)
        || !text_ok(json_string_value(v), LLMGW_ADMIN_PKEY_MAX)
        || strchr(json_string_value(v), ' ')) {
        FAIL("key", "'key' must be 1 to %d printable characters without "
             "spaces", LLMGW_ADMIN_PKEY_MAX);
    }
    *key = apr_pstrdup(p, json_string_value(v));
    return NULL;
}
