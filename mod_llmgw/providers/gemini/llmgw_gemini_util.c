/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_util.c — small helpers the Gemini translator
 * files share (JSON access, ids, model names, finish reasons, usage).
 */
#include "llmgw_gemini_int.h"

const char *gem_jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const json_t *gem_jget(const json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

/* An integer member, or -1 when absent or not a non-negative integer. */
apr_int64_t gem_jcount(const json_t *obj, const char *key)
{
    const json_t *v = gem_jget(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return -1;
    }
    return (apr_int64_t)json_integer_value(v);
}

const char *gem_ctx_id(const llmgw_xlate_ctx_t *x)
{
    return x && x->id ? x->id : "chatcmpl-gemini";
}

const char *gem_ctx_model(const llmgw_xlate_ctx_t *x)
{
    return x && x->model ? x->model : "";
}

/* The model name without a leading "models/". */
const char *gem_bare_model(const char *m)
{
    if (m && !strncmp(m, "models/", 7)) {
        return m + 7;
    }
    return m;
}

/* Percent-encodes everything outside [A-Za-z0-9._-]. */
const char *gem_encode_model(apr_pool_t *p, const char *m)
{
    static const char hex[] = "0123456789ABCDEF";
    apr_size_t n = strlen(m), i;
    char *out = apr_palloc(p, n * 3 + 1), *o = out;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)m[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-') {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* Gemini finishReason -> OpenAI finish_reason (before the tool rule). */
const char *gem_map_finish(const char *r)
{
    static const char *const filtered[] = {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
        "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", NULL
    };
    int i;

    if (r == NULL) {
        return NULL;
    }
    if (!strcmp(r, "MAX_TOKENS")) {
        return "length";
    }
    for (i = 0; filtered[i]; i++) {
        if (!strcmp(r, filtered[i])) {
            return "content_filter";
        }
    }
    return "stop";
}

/* The counts of a usageMetadata (GEM_USAGE_N of them, in the order of
 * GEM_USAGE_*: -1 for one absent or not a non-negative integer) made the
 * OpenAI usage's: n[GEM_USAGE_PROMPT] the prompt (tool-use prompts, code
 * execution and search, are billed as input), n[GEM_USAGE_CANDIDATES] the
 * completion (thoughts included), n[GEM_USAGE_TOTAL] the total (their sum
 * when absent); u's prompt, completion, total and cached tokens set. */
const char *const gem_usage_names[GEM_USAGE_N + 1] = {
    "promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
    "toolUsePromptTokenCount", "totalTokenCount", "cachedContentTokenCount",
    NULL
};

void gem_usage_sum(apr_int64_t *n, llmgw_usage_t *u)
{
    apr_int64_t prompt = n[GEM_USAGE_PROMPT], cand = n[GEM_USAGE_CANDIDATES];
    apr_int64_t thoughts = n[GEM_USAGE_THOUGHTS], tool = n[GEM_USAGE_TOOL];

    n[GEM_USAGE_PROMPT] = (prompt < 0 ? 0 : prompt) + (tool < 0 ? 0 : tool);
    n[GEM_USAGE_CANDIDATES] = (cand < 0 ? 0 : cand)
                              + (thoughts < 0 ? 0 : thoughts);
    if (n[GEM_USAGE_TOTAL] < 0) {
        n[GEM_USAGE_TOTAL] = n[GEM_USAGE_PROMPT] + n[GEM_USAGE_CANDIDATES];
    }
    if (u) {
        u->prompt_tokens = n[GEM_USAGE_PROMPT];
        u->completion_tokens = n[GEM_USAGE_CANDIDATES];
        u->total_tokens = n[GEM_USAGE_TOTAL];
        u->cached_tokens = n[GEM_USAGE_CACHED];
    }
}

/* ---- members of a scanned object, by name */

const char *const gem_lp_names[] = { "token", "logProbability",
                                     "candidates", NULL };
const char *const gem_lr_names[] = { "chosenCandidates", "topCandidates",
                                     NULL };

static int obj_member(void *baton, const char *key, apr_size_t klen, int esc,
                      const llmgw_jspan_t *v)
{
    gem_obj_t *o = baton;
    int i;

    for (i = 0; o->names[i]; i++) {
        if (llmgw_json_key_is(key, klen, esc, o->names[i])) {
            o->v[i] = *v;
            o->has[i] = 1;
            break;
        }
    }
    return 0;
}

void gem_obj(gem_obj_t *o, const char *const *names, const llmgw_jspan_t *v)
{
    memset(o, 0, sizeof(*o));
    o->names = names;
    if (v && v->type == LLMGW_JV_OBJECT) {
        llmgw_json_each(v, obj_member, o);
    }
}

const llmgw_jspan_t *gem_obj_get(const gem_obj_t *o, int i,
                                 llmgw_jv_type_e type)
{
    return o->has[i] && o->v[i].type == type ? &o->v[i] : NULL;
}

typedef struct {
    size_t n;
    llmgw_jspan_t *out;
} nth_t;

static int nth_el(void *baton, const char *key, apr_size_t klen, int esc,
                  const llmgw_jspan_t *v)
{
    nth_t *n = baton;

    (void)key; (void)klen; (void)esc;
    if (n->n-- == 0) {
        *n->out = *v;
        return 1;
    }
    return 0;
}

int gem_nth(const llmgw_jspan_t *arr, size_t n, llmgw_jspan_t *out)
{
    nth_t nth;

    nth.n = n;
    nth.out = out;
    return llmgw_json_each(arr, nth_el, &nth) != 0;
}
