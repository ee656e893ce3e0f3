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

/* ------------------------------------------------------------------ */
/* Written directly from llmgw_chat_request_t                          */
/* ------------------------------------------------------------------ */

#define W_LIT LLMGW_BUF_LIT

typedef struct {
    apr_pool_t *p;
    const llmgw_xlate_ctx_t *x;
    const char *err;
    llmgw_xlate_turns_t turns;  /* contents */
    llmgw_buf_t system;         /* systemInstruction's parts */
    llmgw_buf_t scratch;
    apr_hash_t *call_names;     /* tool_call_id -> function name */
} gw_t;

static int gw_fail(gw_t *w, const char *msg)
{
    if (w->err == NULL) {
        w->err = apr_pstrdup(w->p, msg);
    }
    return -1;
}

static void gw_content_parts(gw_t *w, const llmgw_chat_msg_t *m)
{
    int i;

    for (i = 0; i < m->parts->nelts; i++) {
        const llmgw_chat_part_t *pt = &APR_ARRAY_IDX(m->parts, i,
                                                     llmgw_chat_part_t);
        llmgw_buf_t *b = llmgw_xlate_turn_item(&w->turns);

        if (pt->type == LLMGW_PART_TEXT) {
            W_LIT(b, "{\"text\":");
            llmgw_buf_json_string(b, pt->text.s, pt->text.len);
            W_LIT(b, "}");
        }
        else if (pt->mime != NULL) {      /* data URL, audio */
            W_LIT(b, "{\"inlineData\":{\"mimeType\":");
            llmgw_buf_json_cstr(b, pt->mime);
            W_LIT(b, ",\"data\":");
            llmgw_buf_json_string(b, pt->data.s, pt->data.len);
            W_LIT(b, "}}");
        }
        else {
            W_LIT(b, "{\"fileData\":{\"mimeType\":");
            llmgw_buf_json_cstr(b, guess_mime(w->p, pt->url));
            W_LIT(b, ",\"fileUri\":");
            llmgw_buf_json_cstr(b, pt->url);
            W_LIT(b, "}}");
        }
    }
}

static int gw_assistant(gw_t *w, const llmgw_chat_msg_t *m)
{
    llmgw_buf_t text;
    int i, signed_calls = 0;

    if (!m->text_only) {
        return gw_fail(w, "assistant content must be a string or an array "
                       "of text parts");
    }
    for (i = 0; i < m->calls->nelts; i++) {
        if (APR_ARRAY_IDX(m->calls, i, llmgw_chat_call_t).thought_signature) {
            signed_calls++;
        }
    }
    llmgw_buf_init(&text, w->p, 0);
    llmgw_chat_msg_text_write(&text, m, "", 0);
    if (text.len > 0) {
        llmgw_buf_t *b = llmgw_xlate_turn_item(&w->turns);
        W_LIT(b, "{\"text\":");
        llmgw_buf_json_string(b, text.data, text.len);
        W_LIT(b, "}");
    }
    for (i = 0; i < m->calls->nelts; i++) {
        const llmgw_chat_call_t *c = &APR_ARRAY_IDX(m->calls, i,
                                                    llmgw_chat_call_t);
        llmgw_buf_t *b = llmgw_xlate_turn_item(&w->turns);
        /* a turn whose calls carry no signature: the first one gets the
         * validator-skip sentinel */
        const char *sig = c->thought_signature ? c->thought_signature
                          : (!signed_calls && i == 0) ? GEMINI_SKIP_SIGNATURE
                          : NULL;

        if (c->id) {
            apr_hash_set(w->call_names, c->id, APR_HASH_KEY_STRING,
                         c->name);
        }
        W_LIT(b, "{\"functionCall\":{\"name\":");
        llmgw_buf_json_cstr(b, c->name);
        W_LIT(b, ",\"args\":");
        if (llmgw_buf_json(b, c->args)) {
            return gw_fail(w, "cannot write a tool call's arguments");
        }
        W_LIT(b, "}");
        if (sig) {
            W_LIT(b, ",\"thoughtSignature\":");
            llmgw_buf_json_cstr(b, sig);
        }
        W_LIT(b, "}");
    }
    llmgw_xlate_turn_push(&w->turns, "model");
    return 0;
}

static int gw_tool(gw_t *w, const llmgw_chat_msg_t *m)
{
    const char *id = m->call_id;
    const char *name;
    llmgw_buf_t text, *b;
    json_t *resp;

    if (id == NULL) {
        return gw_fail(w, "function message without a name");
    }
    name = m->role == LLMGW_ROLE_FUNCTION
           ? id : apr_hash_get(w->call_names, id, APR_HASH_KEY_STRING);
    if (name == NULL) {
        name = m->name ? m->name : id;
    }
    llmgw_buf_init(&text, w->p, 0);
    llmgw_chat_msg_text_write(&text, m, "", 0);
    b = llmgw_xlate_turn_item(&w->turns);
    W_LIT(b, "{\"functionResponse\":{\"name\":");
    llmgw_buf_json_cstr(b, name);
    W_LIT(b, ",\"response\":");
    /* a text that is a JSON object goes as it is, else as its content */
    resp = text.len && (text.data[0] == '{' || strchr(" \t\r\n",
                                                      text.data[0]))
           ? llmgw_json_loadb(text.data, text.len, JSON_ALLOW_NUL, NULL)
           : NULL;
    if (!json_is_object(resp) || llmgw_buf_json(b, resp)) {
        W_LIT(b, "{\"content\":");
        llmgw_buf_json_string(b, text.data ? text.data : "", text.len);
        W_LIT(b, "}");
    }
    json_decref(resp);
    W_LIT(b, "}}");
    llmgw_xlate_turn_push(&w->turns, "user");
    return 0;
}

static int gw_messages(gw_t *w, const llmgw_chat_request_t *r)
{
    int i;

    for (i = 0; i < r->messages->nelts; i++) {
        const llmgw_chat_msg_t *m = &APR_ARRAY_IDX(r->messages, i,
                                                   llmgw_chat_msg_t);
        int rv = 0;

        switch (m->role) {
        case LLMGW_ROLE_SYSTEM:
            w->scratch.len = 0;
            llmgw_chat_msg_text_write(&w->scratch, m, "", 0);
            if (w->scratch.len > 0) {
                if (w->system.len) {
                    W_LIT(&w->system, ",");
                }
                W_LIT(&w->system, "{\"text\":");
                llmgw_buf_json_string(&w->system, w->scratch.data,
                                      w->scratch.len);
                W_LIT(&w->system, "}");
            }
            break;
        case LLMGW_ROLE_USER:
            gw_content_parts(w, m);
            llmgw_xlate_turn_push(&w->turns, "user");
            break;
        case LLMGW_ROLE_ASSISTANT:
            rv = gw_assistant(w, m);
            break;
        default:
            rv = gw_tool(w, m);
            break;
        }
        if (rv < 0) {
            return -1;
        }
    }
    if (w->turns.out.len == 0) {
        return gw_fail(w, "'messages' needs at least one user or assistant "
                       "message");
    }
    return 0;
}

/* A value as the client wrote it (numbers keep their type). */
static int gw_value(gw_t *w, llmgw_buf_t *b, const char *key,
                    const json_t *v)
{
    if (v == NULL) {
        return 0;
    }
    if (b->len > 1) {
        W_LIT(b, ",");
    }
    W_LIT(b, "\"");
    llmgw_buf_append(b, key, strlen(key));
    W_LIT(b, "\":");
    if (llmgw_buf_json(b, v)) {
        return gw_fail(w, "cannot write a parameter");
    }
    return 0;
}

static void gw_key(llmgw_buf_t *b, const char *key)
{
    if (b->len > 1) {
        W_LIT(b, ",");
    }
    W_LIT(b, "\"");
    llmgw_buf_append(b, key, strlen(key));
    W_LIT(b, "\":");
}

/* A tool's (or response_format's) schema, cleaned for Gemini; -1 when it
 * cannot be written. */
static int gw_schema(gw_t *w, llmgw_buf_t *b, const json_t *clean)
{
    int rv = llmgw_buf_json(b, clean);
    return rv ? gw_fail(w, "cannot write a schema") : 0;
}

static int gw_tools(gw_t *w, const llmgw_chat_request_t *r, llmgw_buf_t *b)
{
    int i, n = 0;

    if (r->tools != NULL) {
        for (i = 0; i < r->tools->nelts; i++) {
            const llmgw_chat_tool_t *t = &APR_ARRAY_IDX(r->tools, i,
                                                        llmgw_chat_tool_t);
            if (n++) {
                W_LIT(b, ",{\"name\":");
            }
            else {
                W_LIT(b, ",\"tools\":[{\"functionDeclarations\":[{"
                      "\"name\":");
            }
            llmgw_buf_json_cstr(b, t->name);
            if (t->description) {
                W_LIT(b, ",\"description\":");
                if (llmgw_buf_json(b, t->description)) {
                    return gw_fail(w, "cannot write a tool description");
                }
            }
            if (t->parameters) {
                json_t *clean = gem_clean_schema(w->p, t->parameters);
                int rv = 0;
                /* An object schema without properties is refused upstream:
                 * a function without parameters says the same. */
                if (json_object_get(clean, "properties")
                    || (gem_jstr(clean, "type")
                        && strcasecmp(gem_jstr(clean, "type"), "object"))) {
                    W_LIT(b, ",\"parameters\":");
                    rv = gw_schema(w, b, clean);
                }
                json_decref(clean);
                if (rv) {
                    return -1;
                }
            }
            W_LIT(b, "}");
        }
        if (n) {
            W_LIT(b, "]}]");
        }
    }
    switch (r->tool_choice) {
    case LLMGW_TC_AUTO:
        W_LIT(b, ",\"toolConfig\":{\"functionCallingConfig\":{\"mode\":"
              "\"AUTO\"}}");
        break;
    case LLMGW_TC_NONE:
        W_LIT(b, ",\"toolConfig\":{\"functionCallingConfig\":{\"mode\":"
              "\"NONE\"}}");
        break;
    case LLMGW_TC_REQUIRED:
        W_LIT(b, ",\"toolConfig\":{\"functionCallingConfig\":{\"mode\":"
              "\"ANY\"}}");
        break;
    case LLMGW_TC_FUNCTION:
        W_LIT(b, ",\"toolConfig\":{\"functionCallingConfig\":{\"mode\":"
              "\"ANY\",\"allowedFunctionNames\":[");
        llmgw_buf_json_cstr(b, r->tool_choice_name);
        W_LIT(b, "]}}");
        break;
    default:
        break;
    }
    return 0;
}

/* generationConfig's members into gc (which starts with "{"). */
static int gw_generation(gw_t *w, const llmgw_chat_request_t *r,
                         llmgw_buf_t *gc)
{
    if (r->max_tokens > 0) {
        gw_key(gc, "maxOutputTokens");
        llmgw_buf_int(gc, r->max_tokens);
    }
    if (gw_value(w, gc, "temperature", r->temperature)
        || gw_value(w, gc, "topP", r->top_p)
        || gw_value(w, gc, "presencePenalty", r->presence_penalty)
        || gw_value(w, gc, "frequencyPenalty", r->frequency_penalty)
        || gw_value(w, gc, "candidateCount", r->n)
        || gw_value(w, gc, "topK", r->top_k)) {
        return -1;
    }
    /* reasoning -> thinkingConfig (thoughts included unless
     * reasoning.exclude); logprobs -> responseLogprobs / logprobs */
    if (r->reasoning.present) {
        gw_key(gc, "thinkingConfig");
        W_LIT(gc, "{\"thinkingBudget\":");
        llmgw_buf_int(gc, r->reasoning.budget);
        if (r->reasoning.budget > 0 && !r->reasoning.exclude) {
            W_LIT(gc, ",\"includeThoughts\":true");
        }
        W_LIT(gc, "}");
    }
    if (r->logprobs) {
        gw_key(gc, "responseLogprobs");
        W_LIT(gc, "true");
        if (gw_value(w, gc, "logprobs", r->top_logprobs)) {
            return -1;
        }
    }
    if (r->parallel_tool_calls_off) {
        const char *e = NULL;
        if (llmgw_xlate_unsupported(w->p, w->x, "parallel_tool_calls",
                                    "parallel_tool_calls false has no "
                                    "equivalent on gemini providers", &e)) {
            return gw_fail(w, e);
        }
    }
    if (gw_value(w, gc, "seed", r->seed)) {
        return -1;
    }
    if (r->stop != NULL && r->stop->nelts > 0) {
        int i;
        gw_key(gc, "stopSequences");
        for (i = 0; i < r->stop->nelts; i++) {
            json_t *s = APR_ARRAY_IDX(r->stop, i, json_t *);
            if (i) {
                W_LIT(gc, ",");
            }
            else {
                W_LIT(gc, "[");
            }
            llmgw_buf_json_string(gc, json_string_value(s),
                                  json_string_length(s));
        }
        W_LIT(gc, "]");
    }
    if (r->response_format != LLMGW_RF_UNSET) {
        gw_key(gc, "responseMimeType");
        W_LIT(gc, "\"application/json\"");
        if (r->rf_schema != NULL) {
            json_t *clean = gem_clean_schema(w->p, r->rf_schema);
            int rv;
            gw_key(gc, "responseSchema");
            rv = gw_schema(w, gc, clean);
            json_decref(clean);
            if (rv) {
                return -1;
            }
        }
    }
    return 0;
}

/* The generateContent body of the chat request in, into out. */
static int gem_write_request(apr_pool_t *p, const llmgw_xlate_in_t *in,
                             const llmgw_xlate_ctx_t *x, llmgw_buf_t *out,
                             const char **err)
{
    llmgw_chat_request_t *r;
    llmgw_buf_t tools, gc;
    gw_t w;

    *err = NULL;
    if (llmgw_chat_request_read_in(p, in, gem_params, "gemini", x, &r,
                                   err)) {
        return -1;
    }
    memset(&w, 0, sizeof(w));
    w.p = p;
    w.x = x;
    llmgw_xlate_turns_init(&w.turns, p, "parts");
    llmgw_buf_init(&w.system, p, 0);
    llmgw_buf_init(&w.scratch, p, 0);
    llmgw_buf_init(&tools, p, 0);
    llmgw_buf_init(&gc, p, 256);
    w.call_names = apr_hash_make(p);
    W_LIT(&gc, "{");
    if (gw_messages(&w, r) < 0 || gw_tools(&w, r, &tools) < 0
        || gw_generation(&w, r, &gc) < 0) {
        *err = w.err ? w.err : "invalid request";
        return -1;
    }
    llmgw_buf_init(out, p, w.turns.out.len + w.system.len + tools.len
                   + gc.len + 64);
    W_LIT(out, "{\"contents\":[");
    llmgw_buf_append(out, w.turns.out.data, w.turns.out.len);
    W_LIT(out, "]");
    if (w.system.len) {
        W_LIT(out, ",\"systemInstruction\":{\"parts\":[");
        llmgw_buf_append(out, w.system.data, w.system.len);
        W_LIT(out, "]}");
    }
    if (tools.len) {
        llmgw_buf_append(out, tools.data, tools.len);
    }
    if (gc.len > 1) {
        W_LIT(out, ",\"generationConfig\":");
        llmgw_buf_append(out, gc.data, gc.len);
        W_LIT(out, "}");
    }
    W_LIT(out, "}");
    return 0;
}

int gem_raw_request(const llmgw_translator_t *self, apr_pool_t *p,
                    const llmgw_xlate_ctx_t *x, const llmgw_xlate_in_t *in,
                    const char **out, apr_size_t *out_len, const char **err)
{
    llmgw_buf_t b;

    if (in->ep != LLMGW_EP_CHAT) {      /* embeddings: through the tree */
        return llmgw_xlate_request_from_tree(self, p, x, in, out, out_len,
                                             err);
    }
    if (gem_write_request(p, in, x, &b, err)) {
        return 400;
    }
    *out = b.data;
    *out_len = b.len;
    return 0;
}

json_t *gem_chat_request(apr_pool_t *p, const json_t *req,
                         const llmgw_xlate_ctx_t *x, const char **err)
{
    return llmgw_xlate_chat_request_tree(&llmgw_gemini_translator, p, req, x,
                                         err);
}
