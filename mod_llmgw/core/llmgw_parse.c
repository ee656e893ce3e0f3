/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
#include <stddef.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "llmgw_parse.h"

static const struct {
    const char *suffix;
    llmgw_endpoint_e ep;
} routes[] = {
    { "/chat/completions",   LLMGW_EP_CHAT },
    { "/embeddings",         LLMGW_EP_EMBEDDINGS },
    { "/models",             LLMGW_EP_MODELS },
    { "/images/generations", LLMGW_EP_IMAGES },
    { "/messages",           LLMGW_EP_MESSAGES },
    { "/messages/count_tokens", LLMGW_EP_COUNT_TOKENS },
    { "/responses",          LLMGW_EP_RESPONSES },
};

/* The {model} of ".../models/{model}:METHOD" (Gemini's own routes), and
 * whether METHOD is one the gateway serves. */
static llmgw_endpoint_e gemini_route(const char *path, apr_size_t n)
{
    static const char gen[] = ":generateContent",
                      sgen[] = ":streamGenerateContent";
    const char *m = path ? strstr(path, "/models/") : NULL;
    if (!m || !memchr(m, ':', n - (apr_size_t)(m - path))) {
        return LLMGW_EP_UNKNOWN;
    }
    if (n >= sizeof(sgen) - 1
        && !memcmp(path + n - (sizeof(sgen) - 1), sgen, sizeof(sgen) - 1)) {
        return LLMGW_EP_GEMINI_STREAM;
    }
    if (n >= sizeof(gen) - 1
        && !memcmp(path + n - (sizeof(gen) - 1), gen, sizeof(gen) - 1)) {
        return LLMGW_EP_GEMINI;
    }
    return LLMGW_EP_UNKNOWN;
}

llmgw_endpoint_e llmgw_endpoint_from_path(const char *path, const char **name)
{
    apr_size_t n = path ? strlen(path) : 0, i;
    while (n > 1 && path[n - 1] == '/') {       /* tolerate a trailing slash */
        n--;
    }
    if (path && strstr(path, "/models/") && memchr(path, ':', n)) {
        llmgw_endpoint_e ep = gemini_route(path, n);
        *name = ep == LLMGW_EP_GEMINI_STREAM ? "streamGenerateContent"
                                             : "generateContent";
        if (ep == LLMGW_EP_UNKNOWN) {
            *name = NULL;
        }
        return ep;
    }
    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        apr_size_t sl = strlen(routes[i].suffix);
        if (n >= sl && memcmp(path + n - sl, routes[i].suffix, sl) == 0) {
            *name = routes[i].suffix + 1;
            return routes[i].ep;
        }
    }
    if (path && strstr(path, "/models/")) {
        *name = "models";           /* models/{id}: llmgw_model_id_from_path */
        return LLMGW_EP_MODELS;
    }
    if (path && llmgw_response_id_from_path(path)) {
        *name = "responses";        /* responses/{id} */
        return LLMGW_EP_RESPONSE_ITEM;
    }
    *name = NULL;
    return LLMGW_EP_UNKNOWN;
}

const char *llmgw_model_id_from_path(apr_pool_t *p, const char *path)
{
    const char *s = path ? strstr(path, "/models/") : NULL;
    apr_size_t n;
    char *id, *o;

    if (!s) {
        return NULL;
    }
    s += 8;
    n = strlen(s);
    while (n && s[n - 1] == '/') {
        n--;
    }
    if (!n) {
        return NULL;
    }
    /* With AllowEncodedSlashes NoDecode httpd leaves %2F as it came (and
     * has decoded every other escape): the SDKs send "openai%2Fgpt-4o". */
    id = o = apr_palloc(p, n + 1);
    while (n) {
        if (n >= 3 && s[0] == '%' && s[1] == '2' && (s[2] == 'F' || s[2] == 'f')) {
            *o++ = '/';
            s += 3;
            n -= 3;
        }
        else {
            *o++ = *s++;
            n--;
        }
    }
    *o = '\0';
    return id;
}

const char *llmgw_response_id_from_path(const char *path)
{
    const char *s = path ? strstr(path, "/responses/") : NULL;
    const char *id;
    if (!s) {
        return NULL;
    }
    id = s + 11;
    /* one segment of id characters: resp_ ids are [A-Za-z0-9_-] */
    if (!*id || id[strspn(id, "abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")]) {
        return NULL;
    }
    return id;
}

const char *llmgw_gemini_model_from_path(apr_pool_t *p, const char *path)
{
    const char *s = path ? strstr(path, "/models/") : NULL;
    const char *colon;
    if (!s) {
        return NULL;
    }
    s += 8;
    colon = strrchr(s, ':');
    if (!colon || colon == s) {
        return NULL;
    }
    return llmgw_model_id_from_path(p, apr_pstrcat(p, "/models/",
                                    apr_pstrmemdup(p, s, colon - s), NULL));
}

/* Rough prompt size in tokens: 4 bytes a token, the usual estimate. */
static apr_int64_t estimate_tokens(apr_size_t bytes)
{
    return (apr_int64_t)((bytes + 3) / 4);
}

static int check_messages(const json_t *msgs, const char **err,
                          const char **param)
{
    size_t i;
    const json_t *m;
    *param = "messages";
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        *err = "'messages' must be a non-empty array";
        return 400;
    }
    json_array_foreach(msgs, i, m) {
        const json_t *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role)) {
            *err = "each message must be an object with a string 'role'";
            return 400;
        }
    }
    return 0;
}

static int string_field(const json_t *body, const char *name,
                        const char **out, const char **err,
                        const char **param)
{
    const json_t *v = json_object_get(body, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        return 0;
    }
    if (!json_is_string(v)) {
        *param = name;
        *err = "field must be a string";
        return 400;
    }
    *out = json_string_value(v);
    return 0;
}

/* ---------------------------------------- facts for the routing rules */

static int image_type(const char *t)
{
    return t && (!strcmp(t, "image_url") || !strcmp(t, "input_image")
                 || !strcmp(t, "image"));
}

/* An image part in a list of messages (Chat, Messages), input items
 * (Responses) or contents (Gemini: inlineData / fileData of an image). */
static int tree_images(const json_t *list)
{
    size_t i, j;
    const json_t *m, *part;
    json_array_foreach(list, i, m) {
        const json_t *parts = json_object_get(m, "content");
        if (!json_is_array(parts)) {
            parts = json_object_get(m, "parts");
        }
        if (image_type(json_string_value(json_object_get(m, "type")))) {
            return 1;
        }
        json_array_foreach(parts, j, part) {
            const json_t *d;
            const char *mime;
            if (image_type(json_string_value(json_object_get(part, "type")))) {
                return 1;
            }
            d = json_object_get(part, "inlineData");
            if (!d) {
                d = json_object_get(part, "fileData");
            }
            mime = json_string_value(json_object_get(d, "mimeType"));
            if (mime && !strncmp(mime, "image/", 6)) {
                return 1;
            }
        }
    }
    return 0;
}

static int json_format(const json_t *f)
{
    const char *t = json_string_value(json_object_get(f, "type"));
    return json_is_object(f) && (!t || strcmp(t, "text"));
}

static void tree_facts(const json_t *body, llmgw_parsed_t *out)
{
    const json_t *v = json_object_get(body, "tools");
    const char *mime;
    out->tools = (json_is_array(v) && json_array_size(v))
                 || json_array_size(json_object_get(body, "functions"));
    out->json = json_format(json_object_get(body, "response_format"))
                || json_format(json_object_get(json_object_get(body, "text"),
                                               "format"));
    mime = json_string_value(json_object_get(json_object_get(body,
                             "generationConfig"), "responseMimeType"));
    out->json |= mime && !strcmp(mime, "application/json");
    v = json_object_get(body, "messages");
    if (!json_is_array(v)) {
        v = json_object_get(body, "input");
    }
    if (!json_is_array(v)) {
        v = json_object_get(body, "contents");
    }
    out->images = json_is_array(v) && tree_images(v);
}

int llmgw_parse_request(json_t *body, llmgw_endpoint_e ep,
                        apr_size_t raw_len, llmgw_parsed_t *out,
                        const char **err, const char **param)
{
    const json_t *v;
    const char *mt;
    int rv;

    memset(out, 0, sizeof(*out));
    out->max_tokens = -1;
    *param = NULL;
    if (!json_is_object(body)) {
        *err = "request body must be a JSON object";
        return 400;
    }
    if ((rv = string_field(body, "provider", &out->provider, err, param))
        || (rv = string_field(body, "provider_key", &out->provider_key,
                              err, param))
        || (rv = string_field(body, "memory", &out->memory, err, param))) {
        return rv;
    }
    /* HardCarrx's older names: aliases, answered with Deprecation: true */
    if (!out->provider) {
        if ((rv = string_field(body, "llm_provider", &out->provider, err,
                               param))) {
            return rv;
        }
        out->legacy_fields |= out->provider != NULL;
    }
    if (!out->provider_key) {
        if ((rv = string_field(body, "llm_api_key", &out->provider_key, err,
                               param))) {
            return rv;
        }
        out->legacy_fields |= out->provider_key != NULL;
    }
    v = json_object_get(body, "models");
    if (v && !json_is_null(v)) {
        size_t i;
        const json_t *m;
        if (!json_is_array(v) || json_array_size(v) == 0) {
            *param = "models";
            *err = "'models' must be a non-empty array of model names";
            return 400;
        }
        json_array_foreach(v, i, m) {
            if (!json_is_string(m)) {
                *param = "models";
                *err = "'models' must be a non-empty array of model names";
                return 400;
            }
        }
        out->models = json_incref((json_t *)v);
    }
    v = json_object_get(body, "model");
    if (json_is_string(v)) {
        out->model = json_string_value(v);
        if (strlen(out->model) != json_string_length(v)) {
            *param = "model";
            *err = "'model' must not contain NUL characters";
            goto fail;
        }
    }
    else if (v && !json_is_null(v)) {
        *param = "model";
        *err = "'model' must be a string";
        goto fail;
    }
    else if (out->models) {
        out->model = json_string_value(json_array_get(out->models, 0));
        out->model_from_models = 1;
    }
    else if (ep == LLMGW_EP_GEMINI || ep == LLMGW_EP_GEMINI_STREAM) {
        out->model = NULL;          /* in the path */
    }
    else {
        *param = "model";
        *err = "'model' is required";
        goto fail;
    }

    switch (ep) {
    case LLMGW_EP_CHAT:
        if ((rv = check_messages(json_object_get(body, "messages"), err,
                                 param))) {
            goto fail;
        }
        break;
    case LLMGW_EP_EMBEDDINGS:
        v = json_object_get(body, "input");
        if (!json_is_string(v) && !(json_is_array(v) && json_array_size(v))) {
            *param = "input";
            *err = "'input' must be a string or a non-empty array";
            goto fail;
        }
        break;
    case LLMGW_EP_IMAGES:
        if (!json_is_string(json_object_get(body, "prompt"))) {
            *param = "prompt";
            *err = "'prompt' must be a string";
            goto fail;
        }
        break;
    case LLMGW_EP_MESSAGES:
    case LLMGW_EP_COUNT_TOKENS:
        if ((rv = check_messages(json_object_get(body, "messages"), err,
                                 param))) {
            goto fail;
        }
        break;
    case LLMGW_EP_RESPONSES:
        v = json_object_get(body, "input");
        if (!json_is_string(v) && !json_is_array(v)) {
            *param = "input";
            *err = "'input' must be a string or an array of items";
            goto fail;
        }
        v = json_object_get(body, "max_output_tokens");
        if (v && !json_is_null(v)) {
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                *param = "max_output_tokens";
                *err = "'max_output_tokens' must be a positive integer";
                goto fail;
            }
            out->max_tokens = json_integer_value(v);
        }
        break;
    case LLMGW_EP_GEMINI:
    case LLMGW_EP_GEMINI_STREAM:
        if (!json_is_array(json_object_get(body, "contents"))) {
            *param = "contents";
            *err = "'contents' must be an array";
            goto fail;
        }
        break;
    default:
        break;
    }

    v = json_object_get(body, "stream");
    if (v && !json_is_null(v) && !json_is_boolean(v)) {
        *param = "stream";
        *err = "'stream' must be a boolean";
        goto fail;
    }
    out->stream = json_is_true(v);
    v = json_object_get(body, "stream_options");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v)) {
            *param = "stream_options";
            *err = "'stream_options' must be an object";
            goto fail;
        }
        out->include_usage = json_is_true(json_object_get(v, "include_usage"));
    }
    mt = "max_completion_tokens";          /* preferred over max_tokens */
    v = json_object_get(body, mt);
    if (!v || json_is_null(v)) {
        mt = "max_tokens";
        v = json_object_get(body, mt);
    }
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            *param = mt;
            *err = "'max_tokens' and 'max_completion_tokens' must be "
                   "non-negative integers";
            goto fail;
        }
        out->max_tokens = json_integer_value(v);
    }
    out->prompt_estimate = estimate_tokens(raw_len);
    tree_facts(body, out);
    return 0;
fail:
    if (out->models) {
        json_decref(out->models);
        out->models = NULL;
    }
    return 400;
}

int llmgw_strip_gateway_fields(json_t *body)
{
    static const char *const fields[] = { LLMGW_GATEWAY_FIELDS };
    int n = 0;
    apr_size_t i;
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        n += json_object_del(body, fields[i]) == 0;
    }
    return n;
}

static apr_int64_t int_or(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (apr_int64_t)json_integer_value(v) : -1;
}

int llmgw_usage_from_json(const json_t *obj, llmgw_usage_t *u)
{
    const json_t *usage = json_object_get(obj, "usage"), *d;
    if (!json_is_object(usage)) {
        return 0;
    }
    u->prompt_tokens = int_or(usage, "prompt_tokens");
    u->completion_tokens = int_or(usage, "completion_tokens");
    u->total_tokens = int_or(usage, "total_tokens");
    d = json_object_get(usage, "prompt_tokens_details");
    u->cached_tokens = json_is_object(d) ? int_or(d, "cached_tokens") : -1;
    if (u->completion_tokens < 0 && u->prompt_tokens >= 0) {
        u->completion_tokens = 0;               /* embeddings */
    }
    if (u->total_tokens < 0 && u->prompt_tokens >= 0) {
        u->total_tokens = u->prompt_tokens + u->completion_tokens;
    }
    return 1;
}

/* ---------------------------------------------------- the text path */

/* The batons of the one pass: the top level, the messages array, a
 * message (kind tells them apart). */
typedef struct {
    int kind;                       /* 1: the messages array */
    int count;                      /* its elements */
    int bad;                        /* one is not a message */
} msgs_scan_t;

typedef struct {
    int kind;                       /* 2: a message */
    int found;                      /* role: 1 a string, -1 not */
    int *images;
    llmgw_msg_rec_t *rec;           /* its record for the reader, or NULL */
} msg_scan_t;

typedef struct {
    int kind;                       /* 0 */
    msgs_scan_t msgs;
    msg_scan_t msg;
    llmgw_jspan_t model, messages, input, prompt, stream, stream_options,
                  max_tokens, max_completion_tokens, tools, functions,
                  response_format, text, max_output_tokens;
    unsigned seen;
    int plain;                      /* 0: leave it to the tree path */
    int images;                     /* an image part in messages */
    int chat;                       /* the messages are checked in the pass */
    int mapi;                       /* Messages: its content blocks too */
    int rapi;                       /* Responses: its input items' */
    int blocks;                     /* mapi or rapi: blocks read for images */
    struct { int kind; int datas, types; } parts, part, data;  /* 3, 4, 5 */
    int msg_types;                  /* "type" members of the message */
    llmgw_chat_scan_t *cs;          /* Chat: what the reader will need */
    llmgw_chat_scan_t *top;         /* Responses: the top level's members */
    apr_pool_t *p;                  /* of cs and top */
} scan_t;

static const struct {
    const char *name;
    apr_size_t off;                 /* offset of the span in scan_t, or -1 */
} fields[] = {
#define F(n) { #n, offsetof(scan_t, n) }
    F(model), F(messages), F(input), F(prompt), F(stream), F(stream_options),
    F(max_tokens), F(max_completion_tokens), F(tools), F(functions),
    F(response_format),
    F(text), F(max_output_tokens),  /* Responses only: the last two */
#undef F
};
#define RESPONSES_ONLY_FIELDS 2

/* A gateway field sends the request to the tree path. */
static int gateway_field(const char *key, apr_size_t klen)
{
    static const char *const names[] = { LLMGW_GATEWAY_FIELDS };
    apr_size_t i;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i][0] == key[0] && !strncmp(names[i], key, klen)
            && names[i][klen] == '\0') {
            return 1;
        }
    }
    return 0;
}

static int top_member(void *baton, const char *key, apr_size_t klen,
                      int key_escaped, const llmgw_jspan_t *v)
{
    scan_t *sc = baton;
    apr_size_t i;
    if (key_escaped || gateway_field(key, klen)) {
        sc->plain = 0;              /* "mod\u0065l" is still `model` */
        return 1;
    }
    if (sc->cs || sc->top) {        /* kept for the reader */
        llmgw_chat_scan_t *cs = sc->cs ? sc->cs : sc->top;
        if (cs->nmembers == LLMGW_SCAN_MAX_MEMBERS) {
            sc->cs = NULL;          /* many: the reader scans itself */
            sc->top = NULL;
        }
        else {
            if (cs->nmembers == LLMGW_SCAN_FEW_MEMBERS) {
                llmgw_scan_member_t *m = apr_palloc(sc->p,
                    LLMGW_SCAN_MAX_MEMBERS * sizeof(*m));
                memcpy(m, cs->members, cs->nmembers * sizeof(*m));
                cs->members = m;
            }
            cs->members[cs->nmembers].key = key;
            cs->members[cs->nmembers].klen = klen;
            cs->members[cs->nmembers++].v = *v;
        }
    }
    for (i = 0; i < sizeof(fields) / sizeof(fields[0])
                    - (sc->rapi ? 0 : RESPONSES_ONLY_FIELDS); i++) {
        if (fields[i].name[0] == key[0] && !strncmp(fields[i].name, key, klen)
            && fields[i].name[klen] == '\0') {
            if (sc->seen & (1u << i)) {
                sc->plain = 0;      /* a duplicate */
                return 1;
            }
            sc->seen |= 1u << i;
            *(llmgw_jspan_t *)((char *)sc + fields[i].off) = *v;
            return 0;
        }
    }
    return 0;
}

/* A part's "type" (unescaped key and value): an image type stops. */
static int image_part_type(void *baton, const char *key, apr_size_t klen,
                           int key_escaped, const llmgw_jspan_t *v)
{
    (void)baton;
    if (key_escaped || klen != 4 || memcmp(key, "type", 4)
        || v->type != LLMGW_JV_STRING) {
        return 0;
    }
    return (v->len == 11 && !memcmp(v->p, "\"image_url\"", 11))
           || (v->len == 13 && !memcmp(v->p, "\"input_image\"", 13));
}

static int image_part(void *baton, const char *key, apr_size_t klen,
                      int key_escaped, const llmgw_jspan_t *v)
{
    (void)baton; (void)key; (void)klen; (void)key_escaped;
    return v->type == LLMGW_JV_OBJECT
           && llmgw_json_each(v, image_part_type, NULL);
}

/* A message's member: the last "role" must be a string; an image part
 * in an array content is noted. */
static void message_member(msg_scan_t *ms, const char *key, apr_size_t klen,
                           int key_escaped, const llmgw_jspan_t *v)
{
    int field = -1;                 /* its LLMGW_MSG_FIELDS index */
    if (key_escaped) {
        /* the reader compares escaped keys unescaped: it scans itself */
        ((scan_t *)((char *)ms - offsetof(scan_t, msg)))->cs = NULL;
        ms->rec = NULL;
        return;
    }
    switch (klen) {
    case 4:
        if (!memcmp(key, "role", 4)) {
            ms->found = v->type == LLMGW_JV_STRING ? 1 : -1;  /* the last */
            field = 0;
        }
        else if (!memcmp(key, "name", 4)) {
            field = 2;
        }
        break;
    case 7:
        if (!memcmp(key, "content", 7)) {
            if (!*ms->images && v->type == LLMGW_JV_ARRAY
                && !((scan_t *)((char *)ms - offsetof(scan_t, msg)))->blocks) {
                *ms->images = llmgw_json_each(v, image_part, NULL) != 0;
            }
            field = 1;
        }
        break;
    case 10:
        field = memcmp(key, "tool_calls", 10) ? -1 : 3;
        break;
    case 12:
        field = memcmp(key, "tool_call_id", 12) ? -1 : 4;
        break;
    }
    if (field >= 0 && ms->rec) {
        ms->rec->v[field] = *v;     /* the last one wins, as in jansson */
    }
}

/* Responses: an element of input begins (its span comes at its end). */
static void push_item(llmgw_chat_scan_t *top)
{
    llmgw_item_rec_t *it = apr_array_push(top->items);
    it->first = top->item_members->nelts;
    it->n = 0;
}

static llmgw_msg_rec_t *push_rec(apr_array_header_t *recs)
{
    llmgw_msg_rec_t *rec = apr_array_push(recs);
    memset(rec, 0, sizeof(*rec));
    return rec;
}

/* The messages array entered (Chat: its messages checked in the pass that
 * validates them), and each of its object elements. */
static void *scan_enter(void *baton, const char *key, apr_size_t klen,
                        int key_escaped)
{
    scan_t *sc;
    int kind = *(int *)baton;       /* kind first in every baton */
    if (kind == 3) {                /* a content block of Messages */
        sc = (scan_t *)((char *)baton - offsetof(scan_t, parts));
        sc->part.datas = 0;
        sc->part.types = 0;
        return &sc->part;
    }
    if (kind == 4 && !key_escaped
        && ((klen == 10 && !memcmp(key, "inlineData", 10))
            || (klen == 8 && !memcmp(key, "fileData", 8)))) {
        return &((scan_t *)((char *)baton - offsetof(scan_t, part)))->data;
    }
    if (kind != 1) {
        return NULL;
    }
    sc = (scan_t *)((char *)baton - offsetof(scan_t, msgs));
    sc->msg.found = 0;
    sc->msg_types = 0;
    sc->msg.rec = sc->cs ? push_rec(sc->cs->recs) : NULL;
    if (sc->top) {                  /* Responses: an input item */
        push_item(sc->top);
    }
    return &sc->msg;
}

static void *scan_enter_array(void *baton, const char *key, apr_size_t klen,
                              int key_escaped)
{
    scan_t *sc;
    if (*(int *)baton == 2 && !key_escaped && klen == 7
        && !memcmp(key, "content", 7)) {
        sc = (scan_t *)((char *)baton - offsetof(scan_t, msg));
        return sc->blocks ? &sc->parts : NULL;
    }
    if (*(int *)baton != 0 || key_escaped) {
        return NULL;                /* kind first in every baton */
    }
    sc = baton;
    if (sc->rapi ? klen != 5 || memcmp(key, "input", 5)
                 : !sc->chat || klen != 8 || memcmp(key, "messages", 8)) {
        return NULL;
    }
    sc->msgs.count = 0;
    sc->msgs.bad = 0;
    if (sc->cs) {
        sc->cs->recs->nelts = 0;    /* the last array counts */
    }
    if (sc->top) {
        sc->top->items->nelts = 0;
        sc->top->item_members->nelts = 0;
    }
    return &sc->msgs;
}

/* An image in a Messages request, as the tree path finds one
 * (tree_images): a message of an image type, a content block of one, or
 * a block's inlineData / fileData of an image/ type. 1 when the text
 * cannot tell as the tree would (escapes, "parts", both data members):
 * the tree path decides. */
static int span_is(const llmgw_jspan_t *v, const char *lit, apr_size_t n)
{
    return v->len == n && !memcmp(v->p, lit, n);
}

static int messages_block(scan_t *sc, int kind, const char *key,
                          apr_size_t klen, int key_escaped,
                          const llmgw_jspan_t *v)
{
    int type = (kind == 2 || kind == 4) && klen == 4
               && !memcmp(key, "type", 4);
    int mime = kind == 5 && klen == 8 && !memcmp(key, "mimeType", 8);
    if (key_escaped || ((type || mime) && v->type == LLMGW_JV_STRING
                        && v->escaped)) {
        return 1;                   /* only the values it reads */
    }
    if (kind == 2 && klen == 5 && !memcmp(key, "parts", 5)) {
        return 1;
    }
    if ((kind == 2 || kind == 4) && klen == 4 && !memcmp(key, "type", 4)
        && (kind == 2 ? sc->msg_types++ : sc->part.types++)) {
        return 1;                   /* a repeated type: the last counts */
    }
    if ((kind == 2 || kind == 4) && klen == 4 && !memcmp(key, "type", 4)
        && v->type == LLMGW_JV_STRING
        && (span_is(v, "\"image\"", 7) || span_is(v, "\"image_url\"", 11)
            || span_is(v, "\"input_image\"", 13))) {
        sc->images = 1;
    }
    if (kind == 4 && ((klen == 10 && !memcmp(key, "inlineData", 10))
                      || (klen == 8 && !memcmp(key, "fileData", 8)))
        && sc->part.datas++) {
        return 1;
    }
    if (kind == 5 && klen == 8 && !memcmp(key, "mimeType", 8)
        && v->type == LLMGW_JV_STRING && v->len >= 8
        && !memcmp(v->p, "\"image/", 7)) {
        sc->images = 1;
    }
    return 0;
}

static int scan_member(void *baton, const char *key, apr_size_t klen,
                       int key_escaped, const llmgw_jspan_t *v)
{
    int kind = *(int *)baton;
    if (kind >= 2 && kind != 3) {
        scan_t *sc = (scan_t *)((char *)baton
                                - (kind == 2 ? offsetof(scan_t, msg)
                                   : kind == 4 ? offsetof(scan_t, part)
                                   : offsetof(scan_t, data)));
        if (sc->blocks
            && messages_block(sc, kind, key, klen, key_escaped, v)) {
            return 1;               /* the tree path decides */
        }
        if (kind == 2) {
            message_member(baton, key, klen, key_escaped, v);
            if (sc->top) {          /* Responses: a member of an item */
                llmgw_scan_member_t *m = apr_array_push(
                                             sc->top->item_members);
                m->key = key;
                m->klen = klen;
                m->v = *v;
                APR_ARRAY_IDX(sc->top->items, sc->top->items->nelts - 1,
                              llmgw_item_rec_t).n++;
            }
        }
        return 0;
    }
    if (kind == 3) {
        return 0;
    }
    if (kind == 1) {
        msgs_scan_t *ms = baton;
        scan_t *sc = (scan_t *)((char *)ms - offsetof(scan_t, msgs));
        ms->count++;
        if (v->type != LLMGW_JV_OBJECT || sc->msg.found != 1) {
            ms->bad = 1;            /* not plain: no record needed */
        }
        if (sc->top) {              /* Responses: the item's span */
            if (v->type != LLMGW_JV_OBJECT) {
                push_item(sc->top);
            }
            APR_ARRAY_IDX(sc->top->items, sc->top->items->nelts - 1,
                          llmgw_item_rec_t).v = *v;
        }
        sc->msg.found = 0;
        return 0;
    }
    if (((scan_t *)baton)->blocks && !key_escaped
        && ((klen == 4 && !memcmp(key, "text", 4)
             && !((scan_t *)baton)->rapi)
            || (klen == 8 && !memcmp(key, "contents", 8)
                && ((scan_t *)baton)->rapi)
            || (klen == 16 && !memcmp(key, "generationConfig", 16)))) {
        ((scan_t *)baton)->plain = 0;   /* facts the tree path reads */
        return 1;
    }
    return top_member(baton, key, klen, key_escaped, v);
}

static const llmgw_json_visitor_t scan_visitor = {
    scan_member, scan_enter, scan_enter_array
};

/* response_format's "type": anything but "text" asks for JSON. */
static int format_type(void *baton, const char *key, apr_size_t klen,
                       int key_escaped, const llmgw_jspan_t *v)
{
    int *json = baton;
    if (key_escaped || (v->type == LLMGW_JV_STRING && v->escaped)) {
        *json = 2;                  /* escapes: the tree path decides */
        return 1;
    }
    if (klen == 4 && !memcmp(key, "type", 4)) {
        *json = !(v->type == LLMGW_JV_STRING && v->len == 6
                  && !memcmp(v->p, "\"text\"", 6));
    }
    return 0;
}

/* text's "format" (the last one); an escaped key stops. */
static int format_member(void *baton, const char *key, apr_size_t klen,
                         int key_escaped, const llmgw_jspan_t *v)
{
    if (key_escaped) {
        return 1;
    }
    if (klen == 6 && !memcmp(key, "format", 6)) {
        *(llmgw_jspan_t *)baton = *v;
    }
    return 0;
}

static int count_one(void *baton, const char *key, apr_size_t klen,
                     int key_escaped, const llmgw_jspan_t *v)
{
    (void)key; (void)klen; (void)key_escaped; (void)v;
    (*(int *)baton)++;
    return 1;                       /* one is enough */
}

static int non_empty_array(const llmgw_jspan_t *v)
{
    int n = 0;
    if (v->type != LLMGW_JV_ARRAY) {
        return 0;
    }
    llmgw_json_each(v, count_one, &n);
    return n > 0;
}

static int include_usage_member(void *baton, const char *key, apr_size_t klen,
                                int key_escaped, const llmgw_jspan_t *v)
{
    int *on = baton;
    if (key_escaped) {
        *on = 2;                    /* escapes: the tree path decides */
        return 1;
    }
    if (klen == 13 && !memcmp(key, "include_usage", 13)) {
        *on = v->type == LLMGW_JV_TRUE;     /* last one wins, as in jansson */
    }
    return 0;
}

/* A non-negative integer a jansson integer holds: plain digits only. */
static int small_uint(const llmgw_jspan_t *v, apr_int64_t *out)
{
    apr_size_t i;
    if (v->type != LLMGW_JV_NUMBER || v->len > 18) {
        return 0;
    }
    for (i = 0; i < v->len; i++) {
        if (v->p[i] < '0' || v->p[i] > '9') {
            return 0;
        }
    }
    {
        apr_int64_t n = 0;          /* 18 digits at most: no overflow */
        for (i = 0; i < v->len; i++) {
            n = n * 10 + (v->p[i] - '0');
        }
        *out = n;
    }
    return 1;
}

int llmgw_parse_request_text(apr_pool_t *p, const char *raw, apr_size_t len,
                             llmgw_endpoint_e ep, llmgw_parsed_t *out)
{
    scan_t sc;
    llmgw_jspan_t top;
    const llmgw_jspan_t *mt;

    memset(&sc, 0, sizeof(sc));
    memset(out, 0, sizeof(*out));
    out->max_tokens = -1;
    if (ep != LLMGW_EP_CHAT && ep != LLMGW_EP_EMBEDDINGS
        && ep != LLMGW_EP_IMAGES && ep != LLMGW_EP_MESSAGES
        && ep != LLMGW_EP_COUNT_TOKENS && ep != LLMGW_EP_RESPONSES) {
        return 0;                   /* the other APIs are read as trees */
    }
    sc.plain = 1;
    sc.mapi = ep == LLMGW_EP_MESSAGES || ep == LLMGW_EP_COUNT_TOKENS;
    sc.rapi = ep == LLMGW_EP_RESPONSES;
    sc.blocks = sc.mapi || sc.rapi;
    sc.chat = ep == LLMGW_EP_CHAT || sc.mapi;   /* messages checked */
    sc.parts.kind = 3;
    sc.part.kind = 4;
    sc.data.kind = 5;
    sc.msgs.kind = 1;
    sc.msg.kind = 2;
    sc.msg.images = &sc.images;
    sc.p = p;
    if (ep == LLMGW_EP_CHAT) {
        sc.cs = apr_palloc(p, sizeof(*sc.cs));
        sc.cs->text = raw;
        sc.cs->len = len;
        sc.cs->nmembers = 0;
        sc.cs->members = apr_palloc(p, LLMGW_SCAN_FEW_MEMBERS
                                       * sizeof(llmgw_scan_member_t));
        sc.cs->recs = apr_array_make(p, 4, sizeof(llmgw_msg_rec_t));
    }
    else if (sc.rapi) {
        sc.top = apr_palloc(p, sizeof(*sc.top));
        sc.top->text = raw;
        sc.top->len = len;
        sc.top->nmembers = 0;
        sc.top->members = apr_palloc(p, LLMGW_SCAN_FEW_MEMBERS
                                        * sizeof(llmgw_scan_member_t));
        sc.top->recs = NULL;
        sc.top->items = apr_array_make(p, 4, sizeof(llmgw_item_rec_t));
        sc.top->item_members = apr_array_make(p, 8,
                                              sizeof(llmgw_scan_member_t));
    }
    /* validated and its members (the messages' too) read in one pass */
    if (llmgw_json_object_visit(raw, len, &top, &scan_visitor, &sc) != 1) {
        return 0;
    }
    if (!sc.plain || !sc.model.p || sc.model.type != LLMGW_JV_STRING
        || sc.model.escaped) {
        return 0;
    }
    switch (ep) {
    case LLMGW_EP_CHAT:
    case LLMGW_EP_MESSAGES:
    case LLMGW_EP_COUNT_TOKENS:
        if (!sc.messages.p || sc.messages.type != LLMGW_JV_ARRAY
            || sc.msgs.count == 0 || sc.msgs.bad) {
            return 0;
        }
        break;
    case LLMGW_EP_EMBEDDINGS:
        if (!sc.input.p || (sc.input.type != LLMGW_JV_STRING
                            && !non_empty_array(&sc.input))) {
            return 0;
        }
        break;
    case LLMGW_EP_IMAGES:
        if (!sc.prompt.p || sc.prompt.type != LLMGW_JV_STRING) {
            return 0;
        }
        break;
    case LLMGW_EP_RESPONSES:
        /* a "messages" array is where the tree path looks for images */
        if (!sc.input.p || (sc.input.type != LLMGW_JV_STRING
                            && sc.input.type != LLMGW_JV_ARRAY)
            || sc.messages.p) {
            return 0;
        }
        if (sc.max_output_tokens.p
            && sc.max_output_tokens.type != LLMGW_JV_NULL) {
            if (!small_uint(&sc.max_output_tokens, &out->max_tokens)
                || out->max_tokens < 1) {
                return 0;
            }
        }
        break;
    default:
        break;
    }
    if (sc.stream.p) {
        if (sc.stream.type == LLMGW_JV_TRUE) {
            out->stream = 1;
        }
        else if (sc.stream.type != LLMGW_JV_FALSE
                 && sc.stream.type != LLMGW_JV_NULL) {
            return 0;
        }
    }
    if (sc.stream_options.p && sc.stream_options.type != LLMGW_JV_NULL) {
        if (sc.stream_options.type != LLMGW_JV_OBJECT) {
            return 0;
        }
        llmgw_json_each(&sc.stream_options, include_usage_member,
                        &out->include_usage);
        if (out->include_usage == 2) {
            return 0;
        }
    }
    mt = sc.max_completion_tokens.p
         && sc.max_completion_tokens.type != LLMGW_JV_NULL
         ? &sc.max_completion_tokens : &sc.max_tokens;
    if (mt->p && mt->type != LLMGW_JV_NULL
        && !small_uint(mt, &out->max_tokens)) {
        return 0;
    }
    out->model = apr_pstrmemdup(p, sc.model.p + 1, sc.model.len - 2);
    out->scan = sc.cs;
    out->top = sc.top;
    out->prompt_estimate = estimate_tokens(len);
    out->tools = (sc.tools.p && non_empty_array(&sc.tools))
                 || (sc.functions.p && non_empty_array(&sc.functions));
    out->images = sc.images;
    if (sc.response_format.p && sc.response_format.type == LLMGW_JV_OBJECT) {
        out->json = 1;
        llmgw_json_each(&sc.response_format, format_type, &out->json);
        if (out->json == 2) {
            out->scan = NULL;
            out->top = NULL;
            return 0;
        }
    }
    if (!out->json && sc.rapi && sc.text.p
        && sc.text.type == LLMGW_JV_OBJECT) {
        /* Responses' text.format: an object whose type is not "text" */
        llmgw_jspan_t fmt;
        memset(&fmt, 0, sizeof(fmt));
        if (llmgw_json_each(&sc.text, format_member, &fmt)) {
            out->top = NULL;
            return 0;               /* escapes: the tree path decides */
        }
        if (fmt.p && fmt.type == LLMGW_JV_OBJECT) {
            out->json = 1;
            llmgw_json_each(&fmt, format_type, &out->json);
            if (out->json == 2) {
                out->top = NULL;
                return 0;
            }
        }
    }
    return 1;
}

static int model_member(void *baton, const char *key, apr_size_t klen,
                        int key_escaped, const llmgw_jspan_t *v)
{
    llmgw_jspan_t *found = baton;
    if (!key_escaped && klen == 5 && !memcmp(key, "model", 5)) {
        *found = *v;                /* the last one, as a parser keeps */
    }
    return 0;
}

char *llmgw_replace_model(apr_pool_t *p, const char *raw, apr_size_t len,
                          const char *model, apr_size_t *out_len)
{
    llmgw_jspan_t top, mv = { NULL, 0, LLMGW_JV_NULL, 0 };
    apr_size_t i, head, tail, mlen = strlen(model), n = 0;
    char *out;

    for (i = 0; i < len && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n'
                            || raw[i] == '\r'); i++)
        ;
    if (!llmgw_json_span(raw + i, len - i, &top)
        || top.type != LLMGW_JV_OBJECT) {
        return NULL;
    }
    llmgw_json_each(&top, model_member, &mv);
    if (!mv.p) {
        return NULL;
    }
    head = (apr_size_t)(mv.p - raw);
    tail = len - head - mv.len;
    out = apr_palloc(p, head + 2 * mlen + 2 + tail + 1);
    memcpy(out, raw, head);
    n = head;
    out[n++] = '"';
    for (i = 0; i < mlen; i++) {            /* model names are printable ASCII */
        if (model[i] == '"' || model[i] == '\\') {
            out[n++] = '\\';
        }
        out[n++] = model[i];
    }
    out[n++] = '"';
    memcpy(out + n, mv.p + mv.len, tail);
    n += tail;
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* ------------------------------------------- usage from response text */

void llmgw_usage_take(llmgw_usage_t *u, int details, const char *key,
                      apr_size_t klen, int key_escaped,
                      const llmgw_jspan_t *v)
{
    apr_int64_t n;
    if (key_escaped) {
        return;
    }
#define IS(k) (klen == sizeof(k) - 1 && !memcmp(key, k, klen))
    if (details) {
        if (IS("cached_tokens") && small_uint(v, &n)) {
            u->cached_tokens = n;
        }
        return;
    }
    if (small_uint(v, &n)) {
        if (IS("prompt_tokens")) {
            u->prompt_tokens = n;
        }
        else if (IS("completion_tokens")) {
            u->completion_tokens = n;
        }
        else if (IS("total_tokens")) {
            u->total_tokens = n;
        }
    }
#undef IS
}

void llmgw_usage_done(llmgw_usage_t *u)
{
    if (u->completion_tokens < 0 && u->prompt_tokens >= 0) {
        u->completion_tokens = 0;       /* embeddings */
    }
    if (u->total_tokens < 0 && u->prompt_tokens >= 0) {
        u->total_tokens = u->prompt_tokens + u->completion_tokens;
    }
}

typedef struct {
    llmgw_usage_t *u;
    int details;                    /* inside prompt_tokens_details */
} usage_scan_t;

static int usage_member(void *baton, const char *key, apr_size_t klen,
                        int key_escaped, const llmgw_jspan_t *v)
{
    usage_scan_t *us = baton;
    if (!us->details && !key_escaped && klen == 21
        && !memcmp(key, "prompt_tokens_details", 21)
        && v->type == LLMGW_JV_OBJECT) {
        usage_scan_t inner = { us->u, 1 };
        llmgw_json_each(v, usage_member, &inner);
        return 0;
    }
    llmgw_usage_take(us->u, us->details, key, klen, key_escaped, v);
    return 0;
}

int llmgw_last_member_object(const char *buf, apr_size_t len,
                             const char *name, const char **obj,
                             apr_size_t *obj_len)
{
    const apr_size_t klen = strlen(name) + 2;      /* with its quotes */
    const char *end = buf + len;
    apr_size_t i = len;

    while (i >= klen) {
        const char *k, *c;
        llmgw_jspan_t span;
        /* from the end, quote to quote (the member is last in most
         * answers): memrchr instead of a memcmp at every byte */
        const char *q = memrchr(buf, '"', i - klen + 1);

        if (!q) {
            break;
        }
        k = q;
        i = (apr_size_t)(q - buf) + klen - 1;
        if (k[klen - 1] != '"' || memcmp(k + 1, name, klen - 2)) {
            continue;
        }
        for (c = k + klen; c < end && apr_isspace(*c); c++)
            ;
        if (c >= end || *c != ':') {
            continue;                       /* a string value "usage" */
        }
        for (c++; c < end && apr_isspace(*c); c++)
            ;
        if (!llmgw_json_span(c, (apr_size_t)(end - c), &span)
            || span.type != LLMGW_JV_OBJECT) {
            return 0;                       /* "usage": null, or cut */
        }
        *obj = span.p;
        *obj_len = span.len;
        return 1;
    }
    return 0;
}

int llmgw_usage_from_text(const char *buf, apr_size_t len, llmgw_usage_t *u)
{
    llmgw_usage_t found = LLMGW_USAGE_INIT;
    usage_scan_t us = { &found, 0 };
    llmgw_jspan_t span;
    const char *obj;
    apr_size_t olen;

    if (!llmgw_last_member_object(buf, len, "usage", &obj, &olen)
        || !llmgw_json_span(obj, olen, &span)) {
        return 0;
    }
    llmgw_json_each(&span, usage_member, &us);
    llmgw_usage_done(&found);
    *u = found;
    return 1;
}
