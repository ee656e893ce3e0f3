/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Helpers shared by the native translators. */
#include <string.h>
#include <stdlib.h>
#include <stdint.h>
#include <apr_strings.h>
#include <apr_base64.h>
#include "llmgw_translate.h"
#include "llmgw_num.h"
#include "llmgw_json_scan.h"

const char *llmgw_finish_reason(const char *mapped, int has_tool_calls)
{
    if (mapped && strcmp(mapped, "length") == 0) {
        return mapped;
    }
    if (has_tool_calls) {
        return "tool_calls";
    }
    return mapped ? mapped : "stop";
}

int llmgw_xlate_emit_json(json_t *j, llmgw_emit_fn emit, void *baton)
{
    char *txt = llmgw_json_dumps(j, JSON_COMPACT);
    int rv = -1;

    json_decref(j);
    if (txt) {
        rv = emit(baton, txt, strlen(txt));
        free(txt);
    }
    return rv;
}

/* Appends a string literal. */
#define LIT(b, s) llmgw_buf_append((b), (s), sizeof(s) - 1)

void llmgw_chunk_writer_init(llmgw_chunk_writer_t *w, apr_pool_t *p,
                             const llmgw_xlate_ctx_t *x)
{
    llmgw_buf_t pre;
    char num[32];
    const char *id = x->id ? x->id : "", *model = x->model ? x->model : "";

    llmgw_buf_init(&pre, p, 64 + strlen(id) + strlen(model));
    LIT(&pre, "{\"id\":");
    llmgw_buf_json_string(&pre, id, strlen(id));
    LIT(&pre, ",\"object\":\"chat.completion.chunk\","
                     "\"created\":");
    llmgw_buf_append(&pre, num, (apr_size_t)apr_snprintf(num, sizeof(num),
                     "%" APR_INT64_T_FMT, (apr_int64_t)x->created));
    LIT(&pre, ",\"model\":");
    llmgw_buf_json_string(&pre, model, strlen(model));
    w->prefix = pre.data;
    w->prefix_len = pre.len;
    llmgw_buf_init(&w->out, p, 256 + pre.len);
}

llmgw_buf_t *llmgw_chunk_begin(llmgw_chunk_writer_t *w, int index)
{
    char num[16];
    llmgw_buf_t *b = &w->out;

    b->len = 0;
    llmgw_buf_append(b, w->prefix, w->prefix_len);
    if (index == 0) {
        LIT(b, ",\"choices\":[{\"index\":0,\"delta\":{");
    }
    else {
        LIT(b, ",\"choices\":[{\"index\":");
        llmgw_buf_append(b, num, (apr_size_t)apr_snprintf(num, sizeof(num),
                                                          "%d", index));
        LIT(b, ",\"delta\":{");
    }
    return b;
}

int llmgw_chunk_emit(llmgw_chunk_writer_t *w, const char *logprobs,
                     const char *finish, llmgw_emit_fn emit, void *baton)
{
    llmgw_buf_t *b = &w->out;

    LIT(b, "},\"logprobs\":");
    if (logprobs) {
        llmgw_buf_append(b, logprobs, strlen(logprobs));
    }
    else {
        LIT(b, "null");
    }
    LIT(b, ",\"finish_reason\":");
    if (finish) {
        llmgw_buf_json_string(b, finish, strlen(finish));
    }
    else {
        LIT(b, "null");
    }
    LIT(b, "}]}");
    return emit(baton, b->data, b->len);
}

int llmgw_chunk_emit_usage(llmgw_chunk_writer_t *w, apr_int64_t prompt,
                           apr_int64_t completion, apr_int64_t total,
                           apr_int64_t cached, llmgw_emit_fn emit,
                           void *baton)
{
    llmgw_buf_t *b = &w->out;
    char *num = apr_psprintf(b->pool,
        ",\"choices\":[],\"usage\":{\"prompt_tokens\":%" APR_INT64_T_FMT
        ",\"completion_tokens\":%" APR_INT64_T_FMT
        ",\"total_tokens\":%" APR_INT64_T_FMT, prompt, completion, total);

    b->len = 0;
    llmgw_buf_append(b, w->prefix, w->prefix_len);
    llmgw_buf_append(b, num, strlen(num));
    if (cached >= 0) {
        num = apr_psprintf(b->pool, ",\"prompt_tokens_details\":"
                           "{\"cached_tokens\":%" APR_INT64_T_FMT "}", cached);
        llmgw_buf_append(b, num, strlen(num));
    }
    LIT(b, "}}");
    return emit(baton, b->data, b->len);
}

int llmgw_xlate_emit_error(const llmgw_xlate_ctx_t *x, const llmgw_error_t *e,
                           llmgw_emit_fn emit, void *baton)
{
    llmgw_error_t err = *e;

    if (!err.provider) {
        err.provider = x->provider;
    }
    llmgw_xlate_emit_json(llmgw_envelope_json(&err, x->request_id), emit,
                          baton);
    return LLMGW_XLATE_ERROR;
}

int llmgw_xlate_emit_provider_error(const llmgw_xlate_ctx_t *x,
                                    const char *msg, llmgw_emit_fn emit,
                                    void *baton)
{
    llmgw_error_t e;

    memset(&e, 0, sizeof(e));
    e.status = 502;
    e.type = "provider_error";
    e.message = msg;
    e.retry_after = -1;
    return llmgw_xlate_emit_error(x, &e, emit, baton);
}

void llmgw_xlate_turns_init(llmgw_xlate_turns_t *t, apr_pool_t *p,
                            const char *key)
{
    llmgw_buf_init(&t->out, p, 1024);
    llmgw_buf_init(&t->blk, p, 0);
    t->last_role = NULL;
    t->key = key;
}

llmgw_buf_t *llmgw_xlate_turn_item(llmgw_xlate_turns_t *t)
{
    if (t->blk.len) {
        LLMGW_BUF_LIT(&t->blk, ",");
    }
    return &t->blk;
}

void llmgw_xlate_turn_push(llmgw_xlate_turns_t *t, const char *role)
{
    if (t->blk.len == 0) {
        return;
    }
    if (t->last_role != NULL && !strcmp(t->last_role, role)) {
        t->out.len -= 2;                        /* reopen: "]}" */
        LLMGW_BUF_LIT(&t->out, ",");
    }
    else {
        if (t->out.len) {
            LLMGW_BUF_LIT(&t->out, ",");
        }
        LLMGW_BUF_LIT(&t->out, "{\"role\":");
        llmgw_buf_json_cstr(&t->out, role);
        LLMGW_BUF_LIT(&t->out, ",\"");
        llmgw_buf_append(&t->out, t->key, strlen(t->key));
        LLMGW_BUF_LIT(&t->out, "\":[");
    }
    llmgw_buf_append(&t->out, t->blk.data, t->blk.len);
    LLMGW_BUF_LIT(&t->out, "]}");
    t->last_role = role;
    t->blk.len = 0;
}

/* ------------------------------------------------------------------ */
/* Request parameters                                                  */
/* ------------------------------------------------------------------ */

int llmgw_xlate_neutral(const char *name, const json_t *v)
{
    if (v == NULL || json_is_null(v)) {
        return 1;
    }
    if (!strcmp(name, "logprobs") || !strcmp(name, "store")
        || !strcmp(name, "stream")) {
        return json_is_false(v);
    }
    if (!strcmp(name, "parallel_tool_calls")) {
        return json_is_true(v);
    }
    if (!strcmp(name, "presence_penalty") || !strcmp(name, "frequency_penalty")
        || !strcmp(name, "top_logprobs")) {
        return json_is_number(v) && json_number_value(v) == 0;
    }
    if (!strcmp(name, "n")) {
        return json_is_integer(v) && json_integer_value(v) == 1;
    }
    if (!strcmp(name, "logit_bias") || !strcmp(name, "metadata")) {
        return json_is_object(v) && json_object_size(v) == 0;
    }
    if (!strcmp(name, "service_tier")) {
        return json_is_string(v) && !strcmp(json_string_value(v), "auto");
    }
    if (!strcmp(name, "modalities")) {
        return json_is_array(v) && json_array_size(v) == 1
               && json_is_string(json_array_get(v, 0))
               && !strcmp(json_string_value(json_array_get(v, 0)), "text");
    }
    return 0;
}

int llmgw_xlate_unsupported(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                            const char *param, const char *why,
                            const char **err)
{
    llmgw_xlate_report_t *rep = x ? x->report : NULL;

    if (rep && rep->drop_unsupported) {
        if (rep->dropped == NULL) {
            rep->dropped = apr_array_make(p, 4, sizeof(const char *));
        }
        APR_ARRAY_PUSH(rep->dropped, const char *) = apr_pstrdup(p, param);
        return 0;
    }
    if (rep) {
        rep->param = apr_pstrdup(p, param);
    }
    *err = why;
    return -1;
}

/* Every Chat Completions parameter the gateway knows, for all providers:
 * a provider's own table lists only what it translates; the others here
 * are known (only their neutral value passes) or the gateway's own. */
static llmgw_xparam_e known_param(const char *name)
{
    static const char *const openai[] = {
        "model", "messages", "stream", "stream_options", "max_tokens",
        "max_completion_tokens", "temperature", "top_p", "top_k", "n",
        "stop", "seed", "presence_penalty", "frequency_penalty", "logprobs",
        "top_logprobs", "logit_bias", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "reasoning_effort",
        "reasoning", "user", "safety_identifier", "metadata", "store",
        "service_tier", "modalities", "audio", "prediction",
        "web_search_options", "verbosity", "functions", "function_call",
        "prompt_cache_key", NULL
    };
    static const char *const gateway[] = { LLMGW_GATEWAY_FIELDS, NULL };
    const char *const *n;
    for (n = gateway; *n; n++) {
        if ((*n)[0] == name[0] && !strcmp(*n, name)) {
            return LLMGW_XP_GATEWAY;
        }
    }
    for (n = openai; *n; n++) {
        if ((*n)[0] == name[0] && !strcmp(*n, name)) {
            return LLMGW_XP_NONE;
        }
    }
    return 0;
}

int llmgw_xlate_check_params(apr_pool_t *p, const json_t *req,
                             const llmgw_xparam_t *table,
                             const char *provider_type,
                             const llmgw_xlate_ctx_t *x, const char **err)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)req, key, v) {
        const llmgw_xparam_t *row;
        llmgw_xparam_e how = 0;

        for (row = table; row->name; row++) {
            if (row->name[0] == key[0] && !strcmp(row->name, key)) {
                how = row->how;
                break;
            }
        }
        if (!how) {
            how = known_param(key);
        }
        if (how == LLMGW_XP_TRANSLATED || how == LLMGW_XP_GATEWAY) {
            continue;
        }
        if (how == LLMGW_XP_NONE && llmgw_xlate_neutral(key, v)) {
            continue;
        }
        if (!how && json_is_null(v)) {
            continue;
        }
        if (llmgw_xlate_unsupported(p, x, key, apr_psprintf(p,
                how ? "parameter '%s' has no equivalent on %s "
                            "providers (LLMGWDropUnsupported On drops it)"
                          : "unknown parameter '%s': %s providers cannot "
                            "take it (LLMGWDropUnsupported On drops it)",
                key, provider_type), err)) {
            return -1;
        }
    }
    return 0;
}

static apr_int64_t effort_budget(const char *e)
{
    static const struct { const char *name; apr_int64_t budget; } map[] = {
        { "none", 0 }, { "minimal", 1024 }, { "low", 2048 },
        { "medium", 8192 }, { "high", 24576 }, { "xhigh", 32768 },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (!strcmp(map[i].name, e)) {
            return map[i].budget;
        }
    }
    return -1;
}

int llmgw_xlate_reasoning(apr_pool_t *p, const json_t *req,
                          llmgw_xlate_reasoning_t *out, const char **param,
                          const char **err)
{
    const json_t *re = json_object_get(req, "reasoning_effort");
    const json_t *ro = json_object_get(req, "reasoning");
    const char *key;
    json_t *v;

    memset(out, 0, sizeof(*out));
    if (re != NULL && !json_is_null(re)) {
        if (!json_is_string(re)
            || effort_budget(json_string_value(re)) < 0) {
            *param = "reasoning_effort";
            *err = "reasoning_effort must be one of none, minimal, low, "
                   "medium, high";
            return -1;
        }
        out->present = 1;
        out->effort = apr_pstrdup(p, json_string_value(re));
        out->budget = effort_budget(out->effort);
    }
    if (ro == NULL || json_is_null(ro)) {
        return 0;
    }
    if (!json_is_object(ro)) {
        *param = "reasoning";
        *err = "reasoning must be an object";
        return -1;
    }
    out->present = 1;
    json_object_foreach((json_t *)ro, key, v) {
        if (json_is_null(v)) {
            continue;
        }
        if (!strcmp(key, "effort")) {
            if (!json_is_string(v) || effort_budget(json_string_value(v)) < 0) {
                *param = "reasoning.effort";
                *err = "reasoning.effort must be one of none, minimal, low, "
                       "medium, high";
                return -1;
            }
            out->effort = apr_pstrdup(p, json_string_value(v));
            out->budget = effort_budget(out->effort);
        }
        else if (!strcmp(key, "enabled")) {
            if (!json_is_boolean(v)) {
                *param = "reasoning.enabled";
                *err = "reasoning.enabled must be a boolean";
                return -1;
            }
            if (json_is_false(v)) {
                out->budget = 0;
                return 0;
            }
            if (out->budget == 0 && out->effort == NULL) {
                out->budget = effort_budget("medium");
            }
        }
        else if (!strcmp(key, "exclude")) {
            if (!json_is_boolean(v)) {
                *param = "reasoning.exclude";
                *err = "reasoning.exclude must be a boolean";
                return -1;
            }
            out->exclude = json_is_true(v);
        }
        else if (strcmp(key, "max_tokens")) {
            *param = apr_pstrcat(p, "reasoning.", key, NULL);
            *err = apr_psprintf(p, "unknown member '%s' of reasoning", key);
            return -1;
        }
    }
    v = json_object_get(ro, "max_tokens");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            *param = "reasoning.max_tokens";
            *err = "reasoning.max_tokens must be a non-negative integer";
            return -1;
        }
        out->budget = (apr_int64_t)json_integer_value(v);
    }
    else if (out->effort == NULL && !json_is_true(json_object_get(ro,
                                                                 "enabled"))) {
        out->budget = effort_budget("medium");   /* {} or {"exclude":..} */
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Embeddings                                                          */
/* ------------------------------------------------------------------ */

json_t *llmgw_xlate_embedding_base64(const json_t *values)
{
    apr_size_t n, i;
    unsigned char *raw;
    char *b64;
    json_t *out;

    if (!json_is_array(values)) {
        return NULL;
    }
    n = json_array_size(values);
    raw = malloc(n * 4 + 1);
    if (raw == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        const json_t *v = json_array_get(values, i);
        union { float f; uint32_t u; } c;
        if (!json_is_number(v)) {
            free(raw);
            return NULL;
        }
        c.f = (float)json_number_value(v);
        raw[i * 4] = (unsigned char)(c.u & 0xff);           /* little endian */
        raw[i * 4 + 1] = (unsigned char)((c.u >> 8) & 0xff);
        raw[i * 4 + 2] = (unsigned char)((c.u >> 16) & 0xff);
        raw[i * 4 + 3] = (unsigned char)((c.u >> 24) & 0xff);
    }
    b64 = malloc((apr_size_t)apr_base64_encode_len((int)(n * 4)));
    if (b64 == NULL) {
        free(raw);
        return NULL;
    }
    apr_base64_encode(b64, (const char *)raw, (int)(n * 4));
    out = json_string(b64);
    free(b64);
    free(raw);
    return out;
}

int llmgw_xlate_embeddings_to_base64(json_t *list)
{
    json_t *data = json_object_get(list, "data");
    size_t i;
    json_t *item;
    int n = 0;

    json_array_foreach(data, i, item) {
        json_t *b64 = llmgw_xlate_embedding_base64(
            json_object_get(item, "embedding"));
        if (b64) {
            json_object_set_new(item, "embedding", b64);
            n++;
        }
    }
    return n;
}

int llmgw_xlate_wants_base64(const json_t *req)
{
    const json_t *v = json_is_object(req)
                      ? json_object_get(req, "encoding_format") : NULL;
    return json_is_string(v) && !strcmp(json_string_value(v), "base64");
}

/* ------------------------------------------------------------------ */
/* Requests and answers of the providers writing a native body         */
/* ------------------------------------------------------------------ */

const llmgw_translator_t *llmgw_translator_for(llmgw_provider_type_e type)
{
    switch (type) {
    case LLMGW_PT_ANTHROPIC: return &llmgw_anthropic_translator;
    case LLMGW_PT_GEMINI:    return &llmgw_gemini_translator;
    default:                 return &llmgw_openai_translator;
    }
}

json_t *llmgw_xlate_in_tree(const llmgw_xlate_in_t *in)
{
    return in->request_tree ? in->request_tree(in->baton) : in->tree;
}

int llmgw_xlate_request_from_tree(const llmgw_translator_t *self,
                                  apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                                  const llmgw_xlate_in_t *in,
                                  const char **out, apr_size_t *out_len,
                                  const char **err)
{
    json_t *tree = in->tree ? in->tree : llmgw_xlate_in_tree(in), *body;
    char *txt;

    if (!tree) {
        *err = "the request body is not valid JSON";
        return 400;
    }
    if (in->ep == LLMGW_EP_CHAT) {
        body = self->chat_request(p, tree, x, err);
    }
    else if (in->ep == LLMGW_EP_EMBEDDINGS && self->embeddings_request) {
        body = self->embeddings_request(p, tree, x, err);
    }
    else {
        *err = apr_psprintf(p, "provider '%s' does not support %s",
                            x->provider, in->endpoint_name);
        return 400;
    }
    if (!body) {
        return 400;
    }
    txt = llmgw_json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!txt) {
        *err = "cannot serialise the upstream request";
        return 500;
    }
    *out_len = strlen(txt);
    *out = apr_pstrmemdup(p, txt, *out_len);
    free(txt);
    return 0;
}

int llmgw_xlate_response_from_tree(const llmgw_translator_t *self,
                                   apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                                   const llmgw_xlate_in_t *in,
                                   const char *body, apr_size_t len,
                                   const char **out, apr_size_t *out_len,
                                   llmgw_usage_t *usage)
{
    json_t *j = llmgw_json_loadb(body, len, JSON_ALLOW_NUL, NULL), *t = NULL;
    char *txt = NULL;

    if (j && in->ep == LLMGW_EP_CHAT) {
        t = self->chat_response(p, j, x, usage);
    }
    else if (j && self->embeddings_response) {
        t = self->embeddings_response(p, j, x, usage);
        if (t && llmgw_xlate_wants_base64(llmgw_xlate_in_tree(in))) {
            llmgw_xlate_embeddings_to_base64(t);
        }
    }
    if (j) {
        json_decref(j);
    }
    if (t) {
        txt = llmgw_json_dumps(t, JSON_COMPACT);
        json_decref(t);
    }
    if (!txt) {
        return -1;
    }
    *out_len = strlen(txt);
    *out = apr_pstrmemdup(p, txt, *out_len);
    free(txt);
    return 0;
}

json_t *llmgw_xlate_chat_request_tree(const llmgw_translator_t *self,
                                      apr_pool_t *p, const json_t *req,
                                      const llmgw_xlate_ctx_t *x,
                                      const char **err)
{
    llmgw_xlate_in_t in;
    const char *out = NULL;
    apr_size_t len = 0;

    memset(&in, 0, sizeof(in));
    in.ep = LLMGW_EP_CHAT;
    in.endpoint_name = "chat/completions";
    in.tree = (json_t *)req;
    if (self->raw_request(self, p, x, &in, &out, &len, err)) {
        return NULL;
    }
    return llmgw_json_loadb(out, len, JSON_ALLOW_NUL, NULL);
}

json_t *llmgw_xlate_chat_response_tree(const llmgw_translator_t *self,
                                       apr_pool_t *p, const json_t *native,
                                       const llmgw_xlate_ctx_t *x,
                                       llmgw_usage_t *usage)
{
    llmgw_xlate_in_t in;
    const char *out = NULL;
    apr_size_t len = 0;
    char *txt = json_dumps(native, JSON_COMPACT | JSON_ENCODE_ANY);
    int rv;

    if (txt == NULL) {
        return NULL;
    }
    memset(&in, 0, sizeof(in));
    in.ep = LLMGW_EP_CHAT;
    in.endpoint_name = "chat/completions";
    rv = self->raw_response(self, p, x, &in, txt, strlen(txt), &out, &len,
                            usage);
    free(txt);
    return rv ? NULL : llmgw_json_loadb(out, len, JSON_ALLOW_NUL, NULL);
}
