/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini.c — OpenAI Chat Completions / Embeddings <-> Gemini
 * generateContent, streamGenerateContent?alt=sse and batchEmbedContents
 * (pure: APR + jansson only, no httpd header).
 *
 * Every json_t built here is either returned to the caller (a new
 * reference) or released before the function returns; strings that must
 * outlive a json_t are copied into the pool first.
 *
 * Tool-call thought signatures (Gemini 2.5+/3) travel to the client in
 * `tool_calls[].extra_content.google.thought_signature`, as in Google's own
 * OpenAI-compatible endpoint, and come back from there; a model turn whose
 * calls carry none gets the documented validator-skip sentinel, so a
 * client that drops the field still gets an answer from Gemini 3.
 */
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include "llmgw_num.h"
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include "llmgw_translate.h"
#include "llmgw_chat_request.h"
#include "llmgw_envelope.h"

#define GEMINI_SKIP_SIGNATURE "skip_thought_signature_validator"
#define GEMINI_MAX_CHOICES    128     /* candidateCount is at most 8 */
#define GEMINI_MAX_DEPTH      32      /* schema nesting we translate */

/* What the Gemini translator does with each OpenAI chat parameter
 * (README "Translation table"); anything else is reported or dropped. */
static const llmgw_xparam_t gem_params[] = {
    { "model", LLMGW_XP_TRANSLATED },
    { "messages", LLMGW_XP_TRANSLATED },
    { "stream", LLMGW_XP_TRANSLATED },
    { "stream_options", LLMGW_XP_TRANSLATED },
    { "max_tokens", LLMGW_XP_TRANSLATED },
    { "max_completion_tokens", LLMGW_XP_TRANSLATED },
    { "temperature", LLMGW_XP_TRANSLATED },
    { "top_p", LLMGW_XP_TRANSLATED },
    { "top_k", LLMGW_XP_TRANSLATED },
    { "n", LLMGW_XP_TRANSLATED },
    { "stop", LLMGW_XP_TRANSLATED },
    { "seed", LLMGW_XP_TRANSLATED },
    { "presence_penalty", LLMGW_XP_TRANSLATED },
    { "frequency_penalty", LLMGW_XP_TRANSLATED },
    { "logprobs", LLMGW_XP_TRANSLATED },
    { "top_logprobs", LLMGW_XP_TRANSLATED },
    { "tools", LLMGW_XP_TRANSLATED },
    { "tool_choice", LLMGW_XP_TRANSLATED },
    { "parallel_tool_calls", LLMGW_XP_TRANSLATED },
    { "response_format", LLMGW_XP_TRANSLATED },
    { "reasoning_effort", LLMGW_XP_TRANSLATED },
    { "reasoning", LLMGW_XP_TRANSLATED },
    { "user", LLMGW_XP_NONE },
    { "safety_identifier", LLMGW_XP_NONE },
    { "metadata", LLMGW_XP_NONE },
    { "logit_bias", LLMGW_XP_NONE },
    { "store", LLMGW_XP_NONE },
    { "service_tier", LLMGW_XP_NONE },
    { "modalities", LLMGW_XP_NONE },
    { "audio", LLMGW_XP_NONE },
    { "prediction", LLMGW_XP_NONE },
    { "web_search_options", LLMGW_XP_NONE },
    { "verbosity", LLMGW_XP_NONE },
    { "functions", LLMGW_XP_NONE },
    { "function_call", LLMGW_XP_NONE },
    { "prompt_cache_key", LLMGW_XP_NONE },
    { "provider", LLMGW_XP_GATEWAY },
    { "provider_key", LLMGW_XP_GATEWAY },
    { "models", LLMGW_XP_GATEWAY },
    { NULL, 0 }
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const json_t *jget(const json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

/* An integer member, or -1 when absent or not a non-negative integer. */
static apr_int64_t jcount(const json_t *obj, const char *key)
{
    const json_t *v = jget(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return -1;
    }
    return (apr_int64_t)json_integer_value(v);
}

static const char *ctx_id(const llmgw_xlate_ctx_t *x)
{
    return x && x->id ? x->id : "chatcmpl-gemini";
}

static const char *ctx_model(const llmgw_xlate_ctx_t *x)
{
    return x && x->model ? x->model : "";
}

/* Unique tool-call id: "call_" + the completion id's suffix + choice + K. */
static const char *call_id(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                           int choice, int k)
{
    const char *id = ctx_id(x);
    if (!strncmp(id, "chatcmpl-", 9)) {
        id += 9;
    }
    return apr_psprintf(p, "call_%s_%d_%d", id, choice, k);
}

/* The model name without a leading "models/". */
static const char *bare_model(const char *m)
{
    if (m && !strncmp(m, "models/", 7)) {
        return m + 7;
    }
    return m;
}

/* Percent-encodes everything outside [A-Za-z0-9._-]. */
static const char *encode_model(apr_pool_t *p, const char *m)
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
static const char *map_finish(const char *r)
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

/* Non-thought text parts of a candidate, concatenated (NUL-safe). */
static json_t *candidate_text(const json_t *parts)
{
    apr_size_t total = 0, i, off = 0;
    char *buf;
    json_t *out;

    if (!json_is_array(parts)) {
        return NULL;
    }
    for (i = 0; i < json_array_size(parts); i++) {
        const json_t *part = json_array_get(parts, i);
        const json_t *t = jget(part, "text");
        if (json_is_string(t) && !json_is_true(jget(part, "thought"))) {
            total += json_string_length(t);
        }
    }
    if (total == 0) {
        return NULL;
    }
    buf = malloc(total);
    if (buf == NULL) {
        return NULL;
    }
    for (i = 0; i < json_array_size(parts); i++) {
        const json_t *part = json_array_get(parts, i);
        const json_t *t = jget(part, "text");
        if (json_is_string(t) && !json_is_true(jget(part, "thought"))) {
            memcpy(buf + off, json_string_value(t), json_string_length(t));
            off += json_string_length(t);
        }
    }
    out = json_stringn_nocheck(buf, total);
    free(buf);
    return out;
}

/* Thought parts of a candidate (includeThoughts), concatenated: the
 * reasoning_content of the message or delta. NULL when none. */
static json_t *candidate_thoughts(const json_t *parts)
{
    size_t i;
    char *acc = NULL;
    json_t *out;

    for (i = 0; i < json_array_size(parts); i++) {
        const json_t *part = json_array_get(parts, i);
        const char *t = jstr(part, "text");
        if (t && *t && json_is_true(jget(part, "thought"))) {
            char *n = acc ? malloc(strlen(acc) + strlen(t) + 1)
                          : malloc(strlen(t) + 1);
            if (n == NULL) {
                free(acc);
                return NULL;
            }
            strcpy(n, acc ? acc : "");
            strcat(n, t);
            free(acc);
            acc = n;
        }
    }
    if (acc == NULL) {
        return NULL;
    }
    out = json_string(acc);
    free(acc);
    return out;
}

/* logprobsResult -> OpenAI choice logprobs {content:[{token, logprob,
 * bytes, top_logprobs}], refusal}; NULL when absent. */
static json_t *logprobs_json(const json_t *lr)
{
    const json_t *chosen = jget(lr, "chosenCandidates");
    const json_t *top = jget(lr, "topCandidates");
    json_t *content;
    size_t i;

    if (!json_is_array(chosen)) {
        return NULL;
    }
    content = json_array();
    for (i = 0; i < json_array_size(chosen); i++) {
        const json_t *c = json_array_get(chosen, i);
        const json_t *alts = jget(json_array_get(top, i), "candidates");
        const json_t *lpv = jget(c, "logProbability");
        json_t *tops = json_array();
        size_t k;

        for (k = 0; k < json_array_size(alts); k++) {
            const json_t *a = json_array_get(alts, k);
            const json_t *alp = jget(a, "logProbability");
            json_array_append_new(tops, json_pack("{s:s,s:f,s:n}",
                "token", jstr(a, "token") ? jstr(a, "token") : "",
                "logprob", json_is_number(alp) ? json_number_value(alp) : 0.0,
                "bytes"));
        }
        json_array_append_new(content, json_pack("{s:s,s:f,s:n,s:o}",
            "token", jstr(c, "token") ? jstr(c, "token") : "",
            "logprob", json_is_number(lpv) ? json_number_value(lpv) : 0.0,
            "bytes", "top_logprobs", tops));
    }
    return json_pack("{s:o,s:n}", "content", content, "refusal");
}

/* An OpenAI tool call for a functionCall part. */
static json_t *tool_call_json(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                              const json_t *part, int choice, int k,
                              int with_index)
{
    const json_t *fc = jget(part, "functionCall");
    const json_t *args = jget(fc, "args");
    const char *name = jstr(fc, "name");
    const char *sig = jstr(part, "thoughtSignature");
    char *argstr = NULL;
    json_t *call = json_object(), *fn = json_object();

    if (json_is_object(args) || json_is_array(args)) {
        argstr = llmgw_json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    if (with_index) {
        json_object_set_new(call, "index", json_integer(k));
    }
    json_object_set_new(call, "id", json_string(call_id(p, x, choice, k)));
    json_object_set_new(call, "type", json_string("function"));
    json_object_set_new(fn, "name", json_string(name ? name : ""));
    json_object_set_new(fn, "arguments", json_string(argstr ? argstr : "{}"));
    free(argstr);
    json_object_set_new(call, "function", fn);
    if (sig) {
        json_object_set_new(call, "extra_content",
                            json_pack("{s:{s:s}}", "google",
                                      "thought_signature", sig));
    }
    return call;
}

/* OpenAI usage from a usageMetadata object; fills u. NULL when absent. */
static json_t *usage_from_meta(const json_t *m, llmgw_usage_t *u)
{
    apr_int64_t prompt, cand, thoughts, tool, total, cached;
    json_t *usage;

    if (!json_is_object(m)) {
        return NULL;
    }
    prompt = jcount(m, "promptTokenCount");
    cand = jcount(m, "candidatesTokenCount");
    thoughts = jcount(m, "thoughtsTokenCount");
    tool = jcount(m, "toolUsePromptTokenCount");
    total = jcount(m, "totalTokenCount");
    cached = jcount(m, "cachedContentTokenCount");

    /* Tool-use prompts (code execution, search) are billed as input. */
    prompt = (prompt < 0 ? 0 : prompt) + (tool < 0 ? 0 : tool);
    cand = (cand < 0 ? 0 : cand) + (thoughts < 0 ? 0 : thoughts);
    if (total < 0) {
        total = prompt + cand;
    }
    if (u) {
        u->prompt_tokens = prompt;
        u->completion_tokens = cand;
        u->total_tokens = total;
        u->cached_tokens = cached;
    }
    usage = json_object();
    json_object_set_new(usage, "prompt_tokens", json_integer(prompt));
    json_object_set_new(usage, "completion_tokens", json_integer(cand));
    json_object_set_new(usage, "total_tokens", json_integer(total));
    if (cached >= 0) {
        json_object_set_new(usage, "prompt_tokens_details",
                            json_pack("{s:I}", "cached_tokens",
                                      (json_int_t)cached));
    }
    if (thoughts >= 0) {
        json_object_set_new(usage, "completion_tokens_details",
                            json_pack("{s:I}", "reasoning_tokens",
                                      (json_int_t)thoughts));
    }
    return usage;
}

/* ------------------------------------------------------------------ */
/* path, headers                                                       */
/* ------------------------------------------------------------------ */

static const char *gem_path(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                            llmgw_endpoint_e ep, int stream)
{
    const char *m = bare_model(x ? x->model : NULL);

    if (m == NULL || *m == '\0') {
        return NULL;
    }
    m = encode_model(p, m);
    switch (ep) {
    case LLMGW_EP_CHAT:
        return apr_pstrcat(p, "/models/", m,
                           stream ? ":streamGenerateContent?alt=sse"
                                  : ":generateContent", NULL);
    case LLMGW_EP_EMBEDDINGS:
        return apr_pstrcat(p, "/models/", m, ":batchEmbedContents", NULL);
    default:
        return NULL;
    }
}

static void gem_headers(apr_pool_t *p, const char *key,
                        apr_array_header_t *out)
{
    /* A key that could split the header block is never sent. */
    if (key && *key && !strpbrk(key, "\r\n")) {
        APR_ARRAY_PUSH(out, const char *) =
            apr_pstrcat(p, "x-goog-api-key: ", key, NULL);
    }
}

/* ------------------------------------------------------------------ */
/* Request: llmgw_chat_request_t -> generateContent                    */
/* ------------------------------------------------------------------ */

typedef struct {
    apr_pool_t *p;
    const llmgw_xlate_ctx_t *x;
    const char **err;
    json_t *contents;           /* [{role, parts}] */
    json_t *system;             /* parts of systemInstruction */
    apr_hash_t *call_names;     /* tool_call_id -> function name */
} req_state_t;

static int fail(req_state_t *st, const char *msg)
{
    if (st->err && *st->err == NULL) {
        *st->err = apr_pstrdup(st->p, msg);
    }
    return -1;
}

/* Appends parts (stolen) to the last turn when it has the same role. */
static void push_turn(req_state_t *st, const char *role, json_t *parts)
{
    size_t n = json_array_size(st->contents);
    json_t *last = n ? json_array_get(st->contents, n - 1) : NULL;

    if (json_array_size(parts) == 0) {
        json_decref(parts);
        return;
    }
    if (last && !strcmp(jstr(last, "role"), role)) {
        json_array_extend(json_object_get(last, "parts"), parts);
        json_decref(parts);
        return;
    }
    json_array_append_new(st->contents,
                          json_pack("{s:s,s:o}", "role", role, "parts", parts));
}

static const char *guess_mime(apr_pool_t *p, const char *url)
{
    static const char *const map[][2] = {
        { "png", "image/png" }, { "jpg", "image/jpeg" },
        { "jpeg", "image/jpeg" }, { "gif", "image/gif" },
        { "webp", "image/webp" }, { "heic", "image/heic" },
        { "heif", "image/heif" }, { "pdf", "application/pdf" },
        { NULL, NULL }
    };
    const char *end = url + strcspn(url, "?#");
    const char *dot = end, *slash;
    char *ext;
    int i;

    while (dot > url && dot[-1] != '.' && dot[-1] != '/') {
        dot--;
    }
    slash = strstr(url, "://");
    if (dot == url || dot[-1] != '.' || (slash && dot <= slash + 3)) {
        return "image/jpeg";
    }
    ext = apr_pstrmemdup(p, dot, (apr_size_t)(end - dot));
    for (i = 0; ext[i]; i++) {
        ext[i] = apr_tolower(ext[i]);
    }
    for (i = 0; map[i][0]; i++) {
        if (!strcmp(ext, map[i][0])) {
            return map[i][1];
        }
    }
    return "image/jpeg";
}

/* A message's parts -> Gemini parts (new reference). */
static json_t *content_parts(req_state_t *st, const llmgw_chat_msg_t *m)
{
    json_t *parts = json_array();
    int i;

    for (i = 0; i < m->parts->nelts; i++) {
        const llmgw_chat_part_t *pt = &APR_ARRAY_IDX(m->parts, i,
                                                     llmgw_chat_part_t);
        if (pt->type == LLMGW_PART_TEXT) {
            json_array_append_new(parts, json_pack("{s:O}", "text",
                                                   pt->json_text));
        }
        else if (pt->mime != NULL) {      /* data URL, audio */
            json_array_append_new(parts, json_pack("{s:{s:s,s:s%}}",
                                  "inlineData", "mimeType", pt->mime,
                                  "data", pt->data.s, pt->data.len));
        }
        else {
            json_array_append_new(parts, json_pack("{s:{s:s,s:s}}",
                                  "fileData", "mimeType",
                                  guess_mime(st->p, pt->url),
                                  "fileUri", pt->url));
        }
    }
    return parts;
}

static int assistant_message(req_state_t *st, const llmgw_chat_msg_t *m)
{
    json_t *parts, *text;
    int i;
    int signed_calls = 0;
    size_t first_call = (size_t)-1;

    if (!m->text_only) {
        return fail(st, "assistant content must be a string or an array "
                    "of text parts");
    }
    text = llmgw_chat_msg_text(m, "");
    parts = json_array();
    if (json_string_length(text) > 0) {
        json_array_append_new(parts, json_pack("{s:o}", "text", text));
    }
    else {
        json_decref(text);
    }
    for (i = 0; i < m->calls->nelts; i++) {
        const llmgw_chat_call_t *c = &APR_ARRAY_IDX(m->calls, i,
                                                    llmgw_chat_call_t);
        json_t *part;

        if (c->id) {
            apr_hash_set(st->call_names, c->id, APR_HASH_KEY_STRING,
                         c->name);
        }
        part = json_pack("{s:{s:s,s:O}}", "functionCall", "name", c->name,
                         "args", c->args);
        if (c->thought_signature) {
            json_object_set_new(part, "thoughtSignature",
                                json_string(c->thought_signature));
            signed_calls++;
        }
        if (first_call == (size_t)-1) {
            first_call = json_array_size(parts);
        }
        json_array_append_new(parts, part);
    }
    if (first_call != (size_t)-1 && signed_calls == 0) {
        json_object_set_new(json_array_get(parts, first_call),
                            "thoughtSignature",
                            json_string(GEMINI_SKIP_SIGNATURE));
    }
    push_turn(st, "model", parts);
    return 0;
}

static int tool_message(req_state_t *st, const llmgw_chat_msg_t *m)
{
    const char *id = m->call_id;
    const char *name;
    json_t *text, *resp;

    if (id == NULL) {
        return fail(st, "function message without a name");
    }
    name = m->role == LLMGW_ROLE_FUNCTION
           ? id : apr_hash_get(st->call_names, id, APR_HASH_KEY_STRING);
    if (name == NULL) {
        name = m->name ? m->name : id;
    }
    text = llmgw_chat_msg_text(m, "");
    resp = json_loadb(json_string_value(text), json_string_length(text),
                      JSON_ALLOW_NUL, NULL);
    if (!json_is_object(resp)) {
        json_decref(resp);
        resp = json_pack("{s:O}", "content", text);
    }
    json_decref(text);
    push_turn(st, "user",
              json_pack("[{s:{s:s,s:o}}]", "functionResponse", "name", name,
                        "response", resp));
    return 0;
}

static int convert_messages(req_state_t *st, const llmgw_chat_request_t *r)
{
    int i;

    for (i = 0; i < r->messages->nelts; i++) {
        const llmgw_chat_msg_t *m = &APR_ARRAY_IDX(r->messages, i,
                                                   llmgw_chat_msg_t);
        json_t *text;
        int rv = 0;

        switch (m->role) {
        case LLMGW_ROLE_SYSTEM:
            text = llmgw_chat_msg_text(m, "");
            if (json_string_length(text) > 0) {
                json_array_append_new(st->system,
                                      json_pack("{s:o}", "text", text));
            }
            else {
                json_decref(text);
            }
            break;
        case LLMGW_ROLE_USER:
            push_turn(st, "user", content_parts(st, m));
            break;
        case LLMGW_ROLE_ASSISTANT:
            rv = assistant_message(st, m);
            break;
        default:
            rv = tool_message(st, m);
            break;
        }
        if (rv < 0) {
            return -1;
        }
    }
    if (json_array_size(st->contents) == 0) {
        return fail(st, "'messages' needs at least one user or assistant "
                    "message");
    }
    return 0;
}

/* The schema a local "$ref" ("#", "#/$defs/Name", any JSON pointer into
 * the root) names, or NULL. */
static const json_t *resolve_ref(apr_pool_t *p, const json_t *root,
                                 const char *ref)
{
    const json_t *cur = root;
    char *path, *tok, *last = NULL;

    if (ref == NULL || ref[0] != '#') {
        return NULL;
    }
    if (ref[1] == '\0') {
        return root;
    }
    if (ref[1] != '/') {
        return NULL;
    }
    path = apr_pstrdup(p, ref + 2);
    for (tok = apr_strtok(path, "/", &last); tok && cur;
         tok = apr_strtok(NULL, "/", &last)) {
        char *r = tok, *w = tok;
        while (*r) {                    /* ~1 is '/', ~0 is '~' */
            if (r[0] == '~' && (r[1] == '0' || r[1] == '1')) {
                *w++ = r[1] == '1' ? '/' : '~';
                r += 2;
            }
            else {
                *w++ = *r++;
            }
        }
        *w = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        }
        else if (json_is_array(cur) && apr_isdigit(*tok)) {
            cur = json_array_get(cur, (size_t)strtoul(tok, NULL, 10));
        }
        else {
            cur = NULL;
        }
    }
    return json_is_object(cur) ? cur : NULL;
}

static json_t *clean_schema_in(apr_pool_t *p, const json_t *root,
                               const json_t *s, int depth);

/* JSON Schema -> Gemini Schema (an OpenAPI subset): local `$ref`s are
 * resolved against the root (Gemini has no $defs), a one-element `allOf`
 * is merged, unknown keywords are dropped, ["T","null"] types become
 * nullable, empty `properties` go. */
static json_t *clean_schema(apr_pool_t *p, const json_t *s)
{
    return clean_schema_in(p, s, s, 0);
}

static json_t *clean_schema_in(apr_pool_t *p, const json_t *root,
                               const json_t *s, int depth)
{
    static const char *const copy[] = {
        "title", "description", "nullable", "enum", "maxItems", "minItems",
        "required", "minProperties", "maxProperties", "minLength",
        "maxLength", "pattern", "example", "propertyOrdering", "default",
        "minimum", "maximum", NULL
    };
    const char *key;
    json_t *val, *out;
    int i;

    if (!json_is_object(s) || depth > GEMINI_MAX_DEPTH) {
        return json_object();
    }
    if (json_is_string(json_object_get(s, "$ref"))) {
        const json_t *target = resolve_ref(p, root,
                                 json_string_value(json_object_get(s, "$ref")));
        json_t *rest = json_copy((json_t *)s), *sib;

        out = target ? clean_schema_in(p, root, target, depth + 1)
                     : json_object();
        json_object_del(rest, "$ref");
        sib = clean_schema_in(p, root, rest, depth + 1);
        json_object_update(out, sib);   /* description etc. next to it */
        json_decref(sib);
        json_decref(rest);
        return out;
    }
    out = json_object();
    json_object_foreach((json_t *)s, key, val) {
        if (!strcmp(key, "allOf") && json_is_array(val)) {
            size_t k;
            for (k = 0; k < json_array_size(val); k++) {
                json_t *one = clean_schema_in(p, root, json_array_get(val, k),
                                              depth + 1);
                json_object_update_missing(out, one);
                json_decref(one);
            }
        }
        else if (!strcmp(key, "type")) {
            if (json_is_string(val)) {
                json_object_set(out, "type", val);
            }
            else if (json_is_array(val)) {
                size_t k;
                for (k = 0; k < json_array_size(val); k++) {
                    const char *t = json_string_value(json_array_get(val, k));
                    if (t && !strcmp(t, "null")) {
                        json_object_set_new(out, "nullable", json_true());
                    }
                    else if (t && !json_object_get(out, "type")) {
                        json_object_set_new(out, "type", json_string(t));
                    }
                }
            }
        }
        else if (!strcmp(key, "format")) {
            const char *f = json_string_value(val);
            if (f && (!strcmp(f, "enum") || !strcmp(f, "date-time")
                      || !strcmp(f, "int32") || !strcmp(f, "int64")
                      || !strcmp(f, "float") || !strcmp(f, "double"))) {
                json_object_set(out, "format", val);
            }
        }
        else if (!strcmp(key, "properties") && json_is_object(val)) {
            const char *pk;
            json_t *pv, *props = json_object();
            json_object_foreach(val, pk, pv) {
                json_object_set_new(props, pk, clean_schema_in(p, root, pv, depth + 1));
            }
            if (json_object_size(props)) {
                json_object_set_new(out, "properties", props);
            }
            else {
                json_decref(props);
            }
        }
        else if (!strcmp(key, "items") && json_is_object(val)) {
            json_object_set_new(out, "items", clean_schema_in(p, root, val, depth + 1));
        }
        else if (!strcmp(key, "anyOf") && json_is_array(val)) {
            json_t *any = json_array();
            size_t k;
            for (k = 0; k < json_array_size(val); k++) {
                json_array_append_new(any, clean_schema_in(p, root,
                                                           json_array_get(val, k),
                                                           depth + 1));
            }
            json_object_set_new(out, "anyOf", any);
        }
        else if (!strcmp(key, "const") && json_is_string(val)) {
            json_object_set_new(out, "enum", json_pack("[O]", val));
        }
        else {
            for (i = 0; copy[i]; i++) {
                if (!strcmp(key, copy[i])) {
                    json_object_set_new(out, key, json_deep_copy(val));
                    break;
                }
            }
        }
    }
    return out;
}

static int convert_tools(req_state_t *st, const llmgw_chat_request_t *r,
                         json_t *body)
{
    json_t *decls, *cfg = NULL;
    int i;

    if (r->tools != NULL) {
        decls = json_array();
        for (i = 0; i < r->tools->nelts; i++) {
            const llmgw_chat_tool_t *t = &APR_ARRAY_IDX(r->tools, i,
                                                        llmgw_chat_tool_t);
            json_t *d = json_pack("{s:s}", "name", t->name);

            if (t->description) {
                json_object_set(d, "description", (json_t *)t->description);
            }
            if (t->parameters) {
                json_t *clean = clean_schema(st->p, t->parameters);
                /* An object schema without properties is refused upstream:
                 * a function without parameters says the same. */
                if (json_object_get(clean, "properties")
                    || (jstr(clean, "type")
                        && strcasecmp(jstr(clean, "type"), "object"))) {
                    json_object_set_new(d, "parameters", clean);
                }
                else {
                    json_decref(clean);
                }
            }
            json_array_append_new(decls, d);
        }
        if (json_array_size(decls)) {
            json_object_set_new(body, "tools",
                                json_pack("[{s:o}]", "functionDeclarations",
                                          decls));
        }
        else {
            json_decref(decls);
        }
    }

    switch (r->tool_choice) {
    case LLMGW_TC_AUTO:
        cfg = json_pack("{s:s}", "mode", "AUTO");
        break;
    case LLMGW_TC_NONE:
        cfg = json_pack("{s:s}", "mode", "NONE");
        break;
    case LLMGW_TC_REQUIRED:
        cfg = json_pack("{s:s}", "mode", "ANY");
        break;
    case LLMGW_TC_FUNCTION:
        cfg = json_pack("{s:s,s:[s]}", "mode", "ANY",
                        "allowedFunctionNames", r->tool_choice_name);
        break;
    default:
        return 0;
    }
    json_object_set_new(body, "toolConfig",
                        json_pack("{s:o}", "functionCallingConfig", cfg));
    return 0;
}

/* Sets gc[key] to v (a value as the client wrote it) when given. */
static void opt_set(json_t *gc, const char *key, const json_t *v)
{
    if (v != NULL) {
        json_object_set(gc, key, (json_t *)v);
    }
}

static int convert_generation(req_state_t *st, const llmgw_chat_request_t *r,
                              json_t *body)
{
    json_t *gc = json_object();

    if (r->max_tokens > 0) {
        json_object_set_new(gc, "maxOutputTokens",
                            json_integer((json_int_t)r->max_tokens));
    }
    opt_set(gc, "temperature", r->temperature);
    opt_set(gc, "topP", r->top_p);
    opt_set(gc, "presencePenalty", r->presence_penalty);
    opt_set(gc, "frequencyPenalty", r->frequency_penalty);
    opt_set(gc, "candidateCount", r->n);
    opt_set(gc, "topK", r->top_k);
    /* reasoning -> thinkingConfig (thoughts included unless
     * reasoning.exclude); logprobs -> responseLogprobs / logprobs */
    if (r->reasoning.present) {
        json_t *tc = json_pack("{s:I}", "thinkingBudget",
                               (json_int_t)r->reasoning.budget);
        if (r->reasoning.budget > 0 && !r->reasoning.exclude) {
            json_object_set_new(tc, "includeThoughts", json_true());
        }
        json_object_set_new(gc, "thinkingConfig", tc);
    }
    if (r->logprobs) {
        json_object_set_new(gc, "responseLogprobs", json_true());
        opt_set(gc, "logprobs", r->top_logprobs);
    }
    if (r->parallel_tool_calls_off) {
        const char *e = NULL;
        if (llmgw_xlate_unsupported(st->p, st->x, "parallel_tool_calls",
                                    "parallel_tool_calls false has no "
                                    "equivalent on gemini providers", &e)) {
            json_decref(gc);
            return fail(st, e);
        }
    }
    opt_set(gc, "seed", r->seed);
    if (r->stop != NULL && r->stop->nelts > 0) {
        json_t *seqs = json_array();
        int i;
        for (i = 0; i < r->stop->nelts; i++) {
            json_array_append(seqs, APR_ARRAY_IDX(r->stop, i, json_t *));
        }
        json_object_set_new(gc, "stopSequences", seqs);
    }
    if (r->response_format != LLMGW_RF_UNSET) {
        json_object_set_new(gc, "responseMimeType",
                            json_string("application/json"));
        if (r->rf_schema != NULL) {
            json_object_set_new(gc, "responseSchema",
                                clean_schema(st->p, r->rf_schema));
        }
    }
    if (json_object_size(gc)) {
        json_object_set_new(body, "generationConfig", gc);
    }
    else {
        json_decref(gc);
    }
    return 0;
}

static json_t *gem_chat_request(apr_pool_t *p, const json_t *req,
                                const llmgw_xlate_ctx_t *x, const char **err)
{
    req_state_t st;
    llmgw_chat_request_t *r;
    json_t *body;

    if (llmgw_chat_request_read(p, req, gem_params, "gemini", x, &r, err)) {
        return NULL;
    }
    st.p = p;
    st.x = x;
    st.err = err;
    st.contents = json_array();
    st.system = json_array();
    st.call_names = apr_hash_make(p);

    body = json_object();
    if (convert_messages(&st, r) < 0) {
        goto failed;
    }
    json_object_set(body, "contents", st.contents);
    if (json_array_size(st.system)) {
        json_object_set_new(body, "systemInstruction",
                            json_pack("{s:O}", "parts", st.system));
    }
    if (convert_tools(&st, r, body) < 0
        || convert_generation(&st, r, body) < 0) {
        goto failed;
    }
    json_decref(st.contents);
    json_decref(st.system);
    return body;

failed:
    json_decref(st.contents);
    json_decref(st.system);
    json_decref(body);
    if (err && *err == NULL) {
        *err = "invalid request";
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Response: generateContent -> chat.completion                        */
/* ------------------------------------------------------------------ */

/* The candidate's choice index (its `index`, else its position); -1 for
 * one beyond GEMINI_MAX_CHOICES, which is skipped. */
static int candidate_index(const json_t *cand, size_t pos)
{
    const json_t *v = jget(cand, "index");
    if (json_is_integer(v) && json_integer_value(v) >= 0
        && json_integer_value(v) < GEMINI_MAX_CHOICES) {
        return (int)json_integer_value(v);
    }
    return pos < GEMINI_MAX_CHOICES ? (int)pos : -1;
}

static json_t *gem_chat_response(apr_pool_t *p, const json_t *native,
                                 const llmgw_xlate_ctx_t *x,
                                 llmgw_usage_t *usage)
{
    const json_t *cands = jget(native, "candidates");
    json_t *resp, *choices, *u;
    size_t i;

    if (!cands && !jget(native, "promptFeedback")
        && !jget(native, "usageMetadata")) {
        return NULL;            /* not a GenerateContentResponse */
    }
    resp = json_object();
    json_object_set_new(resp, "id", json_string(ctx_id(x)));
    json_object_set_new(resp, "object", json_string("chat.completion"));
    json_object_set_new(resp, "created",
                        json_integer(x ? (json_int_t)x->created : 0));
    json_object_set_new(resp, "model", json_string(ctx_model(x)));
    choices = json_array();

    for (i = 0; i < json_array_size(cands); i++) {
        const json_t *cand = json_array_get(cands, i);
        const json_t *parts = jget(jget(cand, "content"), "parts");
        int idx = candidate_index(cand, i);
        json_t *text, *calls, *msg;
        size_t k;

        if (idx < 0) {
            continue;
        }
        text = candidate_text(parts);
        calls = json_array();

        for (k = 0; k < json_array_size(parts); k++) {
            const json_t *part = json_array_get(parts, k);
            if (json_is_object(jget(part, "functionCall"))) {
                json_array_append_new(calls,
                    tool_call_json(p, x, part, idx,
                                   (int)json_array_size(calls), 0));
            }
        }
        msg = json_object();
        json_object_set_new(msg, "role", json_string("assistant"));
        if (text) {
            json_object_set_new(msg, "content", text);
        }
        else {
            json_object_set_new(msg, "content", json_array_size(calls)
                                ? json_null() : json_string(""));
        }
        json_object_set_new(msg, "refusal", json_null());
        {
            json_t *th = candidate_thoughts(parts);
            if (th) {
                json_object_set_new(msg, "reasoning_content", th);
            }
        }
        if (json_array_size(calls)) {
            json_object_set_new(msg, "tool_calls", calls);
        }
        else {
            json_decref(calls);
        }
        {
            json_t *lp = logprobs_json(jget(cand, "logprobsResult"));
            json_array_append_new(choices, json_pack("{s:i,s:o,s:o,s:s}",
                "index", idx, "message", msg,
                "logprobs", lp ? lp : json_null(),
                "finish_reason",
                llmgw_finish_reason(map_finish(jstr(cand, "finishReason")),
                                    json_object_get(msg, "tool_calls")
                                    != NULL)));
        }
    }
    if (json_array_size(choices) == 0) {
        /* No candidate: a blocked prompt, or nothing generated. */
        const char *block = jstr(jget(native, "promptFeedback"), "blockReason");
        json_array_append_new(choices, json_pack(
            "{s:i,s:{s:s,s:s,s:n},s:n,s:s}", "index", 0,
            "message", "role", "assistant", "content", "", "refusal",
            "logprobs", "finish_reason", block ? "content_filter" : "stop"));
    }
    json_object_set_new(resp, "choices", choices);
    u = usage_from_meta(jget(native, "usageMetadata"), usage);
    if (u) {
        json_object_set_new(resp, "usage", u);
    }
    return resp;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* "3s", "1.5s" -> whole seconds rounded up; -1 when unparseable. */
static long parse_duration(const char *s)
{
    long secs = 0;
    int frac = 0;

    if (s == NULL || !apr_isdigit(*s)) {
        return -1;
    }
    while (apr_isdigit(*s)) {
        if (secs > 86400L * 365) {
            return -1;
        }
        secs = secs * 10 + (*s++ - '0');
    }
    if (*s == '.') {
        s++;
        while (apr_isdigit(*s)) {
            frac |= (*s++ != '0');
        }
    }
    if (*s != 's' || s[1] != '\0') {
        return -1;
    }
    return secs + frac;
}

static int has_detail(const json_t *details, const char *type_suffix,
                      const char *key, const char *value, const json_t **out)
{
    size_t i;

    for (i = 0; i < json_array_size(details); i++) {
        const json_t *d = json_array_get(details, i);
        const char *t = jstr(d, "@type");
        size_t tl = t ? strlen(t) : 0, sl = strlen(type_suffix);
        if (!t || tl < sl || strcmp(t + tl - sl, type_suffix)) {
            continue;
        }
        if (key == NULL || (jstr(d, key) && !strcmp(jstr(d, key), value))) {
            if (out) {
                *out = d;
            }
            return 1;
        }
    }
    return 0;
}

static const char *generic_message(int status)
{
    switch (status) {
    case 400: return "the provider rejected the request";
    case 401: return "the provider rejected the credentials";
    case 403: return "the provider denied permission";
    case 404: return "the provider does not know this model or resource";
    case 429: return "the provider's rate limit was reached";
    default:
        return status >= 500 ? "the provider failed to answer"
                             : "the provider returned an error";
    }
}

/* google.rpc error object (the value of "error") -> out. */
static void map_rpc_error(apr_pool_t *p, int http_status, const json_t *e,
                          llmgw_error_t *out)
{
    const char *status = jstr(e, "status");
    const char *msg = jstr(e, "message");
    const json_t *details = jget(e, "details");
    apr_int64_t code = jcount(e, "code");
    int hs = http_status >= 400 ? http_status
           : (code >= 400 && code < 600) ? (int)code : 500;
    const json_t *retry = NULL;

#define ST(s) (status && !strcmp(status, s))
    memset(out, 0, sizeof(*out));
    out->retry_after = -1;
    out->upstream_status = hs;
    out->code = status ? apr_pstrdup(p, status) : NULL;

    if (has_detail(details, "google.rpc.ErrorInfo", "reason",
                   "API_KEY_INVALID", NULL)
        || ST("UNAUTHENTICATED") || hs == 401) {
        out->status = 401;
        out->type = "authentication_error";
    }
    else if (ST("PERMISSION_DENIED") || hs == 403) {
        out->status = 403;
        out->type = "permission_error";
    }
    else if (ST("NOT_FOUND") || hs == 404) {
        out->status = 404;
        out->type = "invalid_request_error";
        if (msg == NULL || strstr(msg, "model")) {
            out->code = "model_not_found";
        }
    }
    else if (ST("RESOURCE_EXHAUSTED") || hs == 429) {
        out->status = 429;
        out->type = "rate_limit_error";
        if (has_detail(details, "google.rpc.RetryInfo", NULL, NULL, &retry)) {
            out->retry_after = parse_duration(jstr(retry, "retryDelay"));
        }
    }
    else if (ST("INVALID_ARGUMENT") || ST("FAILED_PRECONDITION")
             || ST("OUT_OF_RANGE") || hs == 400) {
        out->status = 400;
        out->type = "invalid_request_error";
    }
    else if (hs >= 500 || hs == 499 || ST("CANCELLED") || ST("INTERNAL")
             || ST("UNAVAILABLE") || ST("DEADLINE_EXCEEDED")
             || ST("UNKNOWN")) {
        out->status = 502;
        out->type = "provider_error";
    }
    else {
        out->status = hs;
        out->type = llmgw_error_type_for_status(hs);
    }
#undef ST
    out->message = msg && *msg ? apr_pstrdup(p, msg) : generic_message(hs);
}

static void gem_error(apr_pool_t *p, int http_status, const char *body,
                      apr_size_t len, llmgw_error_t *out)
{
    json_t *j = body && len ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    const json_t *e = jget(j, "error");

    /* Some proxies wrap the error in a one-element array. */
    if (e == NULL && json_is_array(j)) {
        e = jget(json_array_get(j, 0), "error");
    }
    if (json_is_object(e)) {
        map_rpc_error(p, http_status, e, out);
    }
    else {
        json_t *empty = json_object();
        map_rpc_error(p, http_status, empty, out);
        json_decref(empty);
        if (json_is_string(e) && *json_string_value(e)) {
            out->message = apr_pstrdup(p, json_string_value(e));
        }
    }
    json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Streams                                                             */
/* ------------------------------------------------------------------ */

typedef struct {
    int index;
    int ncalls;
    const char *finish;         /* mapped, before the tool rule */
} stream_choice_t;

struct llmgw_stream {
    apr_pool_t *p;
    llmgw_xlate_ctx_t x;
    apr_array_header_t *choices;    /* stream_choice_t, in first-seen order */
    int received;                   /* GenerateContentResponse events seen */
    int blocked;                    /* promptFeedback.blockReason */
    int done;
    llmgw_usage_t usage;
    int have_usage;
};

static llmgw_stream_t *gem_stream_new(apr_pool_t *p,
                                      const llmgw_xlate_ctx_t *x)
{
    llmgw_stream_t *s = apr_pcalloc(p, sizeof(*s));
    llmgw_usage_t init = LLMGW_USAGE_INIT;

    s->p = p;
    if (x) {
        s->x = *x;
    }
    s->x.id = apr_pstrdup(p, ctx_id(x));
    s->x.model = apr_pstrdup(p, ctx_model(x));
    s->x.request_id = x && x->request_id ? apr_pstrdup(p, x->request_id)
                                         : NULL;
    s->x.provider = x && x->provider ? apr_pstrdup(p, x->provider) : NULL;
    s->choices = apr_array_make(p, 2, sizeof(stream_choice_t));
    s->usage = init;
    return s;
}

#define emit_json llmgw_xlate_emit_json

/* One chat.completion.chunk; delta is stolen. */
static int emit_chunk(llmgw_stream_t *s, int index, json_t *delta,
                      const char *finish, llmgw_emit_fn emit, void *baton)
{
    return emit_json(llmgw_xlate_chunk(&s->x, index, delta, finish), emit,
                     baton);
}

static int emit_error(llmgw_stream_t *s, llmgw_error_t *e,
                      llmgw_emit_fn emit, void *baton)
{
    s->done = 1;
    return llmgw_xlate_emit_error(&s->x, e, emit, baton);
}

static int emit_provider_error(llmgw_stream_t *s, const char *msg,
                               llmgw_emit_fn emit, void *baton)
{
    s->done = 1;
    return llmgw_xlate_emit_provider_error(&s->x, msg, emit, baton);
}

static stream_choice_t *find_choice(llmgw_stream_t *s, int index)
{
    int i;

    for (i = 0; i < s->choices->nelts; i++) {
        stream_choice_t *c = &APR_ARRAY_IDX(s->choices, i, stream_choice_t);
        if (c->index == index) {
            return c;
        }
    }
    return NULL;
}

/* The choice's state; on first sight emits its role chunk. */
static stream_choice_t *start_choice(llmgw_stream_t *s, int index,
                                     llmgw_emit_fn emit, void *baton,
                                     int *rv)
{
    stream_choice_t *c = find_choice(s, index);

    *rv = 0;
    if (c) {
        return c;
    }
    c = apr_array_push(s->choices);
    c->index = index;
    c->ncalls = 0;
    c->finish = NULL;
    *rv = emit_chunk(s, index, json_pack("{s:s,s:s}", "role", "assistant",
                                         "content", ""), NULL, emit, baton);
    return c;
}

static int on_candidate(llmgw_stream_t *s, const json_t *cand, size_t pos,
                        llmgw_emit_fn emit, void *baton)
{
    const json_t *parts = jget(jget(cand, "content"), "parts");
    int idx = candidate_index(cand, pos), rv;
    stream_choice_t *c;
    json_t *text, *calls = NULL, *delta, *thoughts, *lp;
    const char *fr = jstr(cand, "finishReason");
    size_t k;

    if (idx < 0) {
        return 0;
    }
    c = start_choice(s, idx, emit, baton, &rv);
    if (rv) {
        return rv;
    }
    text = candidate_text(parts);
    thoughts = candidate_thoughts(parts);
    lp = logprobs_json(jget(cand, "logprobsResult"));
    for (k = 0; k < json_array_size(parts); k++) {
        const json_t *part = json_array_get(parts, k);
        if (json_is_object(jget(part, "functionCall"))) {
            if (calls == NULL) {
                calls = json_array();
            }
            json_array_append_new(calls, tool_call_json(s->p, &s->x, part,
                                                        idx, c->ncalls++, 1));
        }
    }
    if (text || calls || thoughts) {
        json_t *chunk;
        delta = json_object();
        if (thoughts) {
            json_object_set_new(delta, "reasoning_content", thoughts);
        }
        if (text) {
            json_object_set_new(delta, "content", text);
        }
        if (calls) {
            json_object_set_new(delta, "tool_calls", calls);
        }
        chunk = llmgw_xlate_chunk(&s->x, idx, delta, NULL);
        if (lp) {
            json_object_set_new(json_array_get(json_object_get(chunk,
                                                               "choices"), 0),
                                "logprobs", lp);
            lp = NULL;
        }
        rv = emit_json(chunk, emit, baton);
        if (rv) {
            return rv;
        }
    }
    json_decref(lp);
    if (fr) {
        c->finish = map_finish(fr);
    }
    return 0;
}

static int gem_stream_event(llmgw_stream_t *s, const char *event,
                            const char *data, apr_size_t len,
                            llmgw_emit_fn emit, void *baton)
{
    json_t *j;
    const json_t *cands, *err;
    size_t i;
    int rv = 0;

    (void)event;
    if (s->done) {
        return LLMGW_XLATE_CONTINUE;
    }
    while (len && (data[0] == ' ' || data[0] == '\t' || data[0] == '\r'
                   || data[0] == '\n')) {
        data++;
        len--;
    }
    if (len == 0 || (len == 6 && !memcmp(data, "[DONE]", 6))) {
        return LLMGW_XLATE_CONTINUE;
    }
    j = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(j) && json_is_array(j) && json_array_size(j) == 1
        && json_is_object(json_array_get(j, 0))) {
        json_t *inner = json_incref(json_array_get(j, 0));
        json_decref(j);
        j = inner;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return emit_provider_error(s, "the provider sent a malformed stream "
                                   "event", emit, baton);
    }
    err = jget(j, "error");
    if (err) {
        llmgw_error_t e;
        if (json_is_object(err)) {
            map_rpc_error(s->p, 0, err, &e);
        }
        else {
            json_t *empty = json_object();
            map_rpc_error(s->p, 0, empty, &e);
            json_decref(empty);
        }
        json_decref(j);
        return emit_error(s, &e, emit, baton);
    }
    cands = jget(j, "candidates");
    if (!cands && !jget(j, "promptFeedback") && !jget(j, "usageMetadata")) {
        json_decref(j);         /* not a GenerateContentResponse */
        return LLMGW_XLATE_CONTINUE;
    }
    s->received = 1;
    if (json_is_object(jget(j, "usageMetadata"))) {
        llmgw_usage_t u = LLMGW_USAGE_INIT;
        json_decref(usage_from_meta(jget(j, "usageMetadata"), &u));
        s->usage = u;
        s->have_usage = 1;
    }
    if (jstr(jget(j, "promptFeedback"), "blockReason")
        && json_array_size(cands) == 0) {
        s->blocked = 1;
    }
    for (i = 0; i < json_array_size(cands) && rv == 0; i++) {
        rv = on_candidate(s, json_array_get(cands, i), i, emit, baton);
    }
    json_decref(j);
    if (rv) {
        s->done = 1;
        return LLMGW_XLATE_ERROR;
    }
    return LLMGW_XLATE_CONTINUE;
}

static int gem_stream_finish(llmgw_stream_t *s, llmgw_emit_fn emit,
                             void *baton)
{
    int i, rv = 0;

    if (s->done) {
        return LLMGW_XLATE_END;
    }
    if (!s->received) {
        return emit_provider_error(s, "the provider closed the stream "
                                   "without a response", emit, baton);
    }
    /* Every candidate ends with a finishReason (a blocked prompt has no
     * candidate): without one the stream was cut, and no finish_reason
     * is made up for it (SPEC). */
    for (i = 0; i < s->choices->nelts; i++) {
        if (!APR_ARRAY_IDX(s->choices, i, stream_choice_t).finish) {
            llmgw_error_t e;
            memset(&e, 0, sizeof(e));
            e.status = 502;
            e.type = "provider_error";
            e.code = "invalid_upstream_response";
            e.message = "the provider's stream ended before its finishReason";
            e.upstream_status = 200;
            e.retry_after = -1;
            return emit_error(s, &e, emit, baton);
        }
    }
    s->done = 1;
    if (s->choices->nelts == 0) {
        stream_choice_t *c = start_choice(s, 0, emit, baton, &rv);
        if (rv) {
            return LLMGW_XLATE_ERROR;
        }
        c->finish = s->blocked ? "content_filter" : NULL;
    }
    for (i = 0; i < s->choices->nelts && rv == 0; i++) {
        stream_choice_t *c = &APR_ARRAY_IDX(s->choices, i, stream_choice_t);
        rv = emit_chunk(s, c->index, json_object(),
                        llmgw_finish_reason(c->finish, c->ncalls > 0),
                        emit, baton);
    }
    if (rv == 0 && s->x.include_usage) {
        json_t *c = json_object(), *u = json_object();
        llmgw_usage_t *us = &s->usage;

        json_object_set_new(c, "id", json_string(s->x.id));
        json_object_set_new(c, "object",
                            json_string("chat.completion.chunk"));
        json_object_set_new(c, "created",
                            json_integer((json_int_t)s->x.created));
        json_object_set_new(c, "model", json_string(s->x.model));
        json_object_set_new(c, "choices", json_array());
        json_object_set_new(u, "prompt_tokens", json_integer(
            us->prompt_tokens > 0 ? us->prompt_tokens : 0));
        json_object_set_new(u, "completion_tokens", json_integer(
            us->completion_tokens > 0 ? us->completion_tokens : 0));
        json_object_set_new(u, "total_tokens", json_integer(
            us->total_tokens > 0 ? us->total_tokens : 0));
        if (us->cached_tokens >= 0) {
            json_object_set_new(u, "prompt_tokens_details",
                                json_pack("{s:I}", "cached_tokens",
                                          (json_int_t)us->cached_tokens));
        }
        json_object_set_new(c, "usage", u);
        rv = emit_json(c, emit, baton);
    }
    return rv ? LLMGW_XLATE_ERROR : LLMGW_XLATE_END;
}

static void gem_stream_usage(const llmgw_stream_t *s, llmgw_usage_t *usage)
{
    if (usage) {
        *usage = s->usage;
    }
}

/* ------------------------------------------------------------------ */
/* Embeddings                                                          */
/* ------------------------------------------------------------------ */

static json_t *gem_embeddings_request(apr_pool_t *p, const json_t *req,
                                      const llmgw_xlate_ctx_t *x,
                                      const char **err)
{
    const json_t *input = jget(req, "input");
    const json_t *dims = jget(req, "dimensions");
    const char *model = bare_model(ctx_model(x));
    json_t *reqs, *one;
    size_t i, n;

    if (err) {
        *err = NULL;
    }
    if (!json_is_object(req)) {
        if (err) {
            *err = "request body must be a JSON object";
        }
        return NULL;
    }
    if (dims && !json_is_null(dims)
        && (!json_is_integer(dims) || json_integer_value(dims) < 1)) {
        if (err) {
            *err = "'dimensions' must be a positive integer";
        }
        return NULL;
    }
    if (jget(req, "encoding_format") && !json_is_null(jget(req, "encoding_format"))
        && (!jstr(req, "encoding_format")
            || (strcmp(jstr(req, "encoding_format"), "float")
                && strcmp(jstr(req, "encoding_format"), "base64")))) {
        if (err) {
            *err = "'encoding_format' must be \"float\" or \"base64\"";
        }
        return NULL;
    }
    n = json_is_string(input) ? 1 : json_array_size(input);
    if (n == 0) {
        if (err) {
            *err = "'input' must be a string or a non-empty array of strings";
        }
        return NULL;
    }
    model = apr_pstrcat(p, "models/", model, NULL);
    reqs = json_array();
    for (i = 0; i < n; i++) {
        const json_t *t = json_is_string(input) ? input
                                                : json_array_get(input, i);
        if (!json_is_string(t)) {
            json_decref(reqs);
            if (err) {
                *err = "'input' must be a string or an array of strings "
                       "(token arrays are not supported by gemini)";
            }
            return NULL;
        }
        one = json_pack("{s:s,s:{s:[{s:O}]}}", "model", model, "content",
                        "parts", "text", t);
        if (json_is_integer(dims)) {
            json_object_set(one, "outputDimensionality", (json_t *)dims);
        }
        json_array_append_new(reqs, one);
    }
    return json_pack("{s:o}", "requests", reqs);
}

static json_t *gem_embeddings_response(apr_pool_t *p, const json_t *native,
                                       const llmgw_xlate_ctx_t *x,
                                       llmgw_usage_t *usage)
{
    const json_t *embs = jget(native, "embeddings");
    const json_t *single = jget(native, "embedding");
    const json_t *meta = jget(native, "usageMetadata");
    apr_int64_t prompt = jcount(meta, "promptTokenCount");
    apr_int64_t total = jcount(meta, "totalTokenCount");
    json_t *data = json_array();
    size_t i, n = json_is_array(embs) ? json_array_size(embs)
                                      : (single ? 1 : 0);

    (void)p;
    for (i = 0; i < n; i++) {
        const json_t *e = json_is_array(embs) ? json_array_get(embs, i)
                                              : single;
        const json_t *values = jget(e, "values");
        json_t *vals = json_is_array(values)
                       ? json_incref((json_t *)values) : json_array();
        json_array_append_new(data, json_pack("{s:s,s:i,s:o}",
            "object", "embedding", "index", (int)i, "embedding", vals));
    }
    if (prompt < 0) {
        prompt = 0;
    }
    if (total < 0) {
        total = prompt;
    }
    if (usage) {
        usage->prompt_tokens = prompt;
        usage->completion_tokens = 0;
        usage->total_tokens = total;
    }
    return json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list",
                     "data", data, "model", ctx_model(x), "usage",
                     "prompt_tokens", (json_int_t)prompt,
                     "total_tokens", (json_int_t)total);
}

const llmgw_translator_t llmgw_gemini_translator = {
    "gemini",
    gem_path,
    gem_headers,
    gem_chat_request,
    gem_chat_response,
    gem_stream_new,
    gem_stream_event,
    gem_stream_finish,
    gem_stream_usage,
    gem_error,
    gem_embeddings_request,
    gem_embeddings_response,
    llmgw_xlate_request_from_tree,
    llmgw_xlate_response_from_tree
};
