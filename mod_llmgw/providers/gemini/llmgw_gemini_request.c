/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_request.c — the Gemini request writer: an OpenAI
 * chat request, read into llmgw_chat_request_t, -> generateContent.
 */
#include "llmgw_gemini_int.h"

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
    { NULL, 0 }
};


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
    if (last && !strcmp(gem_jstr(last, "role"), role)) {
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
                json_t *clean = gem_clean_schema(st->p, t->parameters);
                /* An object schema without properties is refused upstream:
                 * a function without parameters says the same. */
                if (json_object_get(clean, "properties")
                    || (gem_jstr(clean, "type")
                        && strcasecmp(gem_jstr(clean, "type"), "object"))) {
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
                                gem_clean_schema(st->p, r->rf_schema));
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

json_t *gem_chat_request(apr_pool_t *p, const json_t *req,
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
