/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Conversation memory: keys, session records, trimming, injection. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_memory.h"
#include "llmgw_digest.h"
#include "llmgw_num.h"

int llmgw_memory_mode(const char *s)
{
    if (!s) {
        return -1;
    }
    if (!strcasecmp(s, "none")) {
        return LLMGW_MEM_NONE;
    }
    if (!strcasecmp(s, "session")) {
        return LLMGW_MEM_SESSION;
    }
    if (!strcasecmp(s, "profile")) {
        return LLMGW_MEM_PROFILE;
    }
    return -1;
}

const char *llmgw_memory_mode_name(llmgw_mem_mode_e m)
{
    return m == LLMGW_MEM_SESSION ? "session"
           : m == LLMGW_MEM_PROFILE ? "profile" : "none";
}

int llmgw_memory_name_ok(const char *name)
{
    const unsigned char *c;
    if (!name || !*name || strlen(name) > LLMGW_MEM_NAME_MAX) {
        return 0;
    }
    for (c = (const unsigned char *)name; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

const char *llmgw_memory_key(apr_pool_t *p, const char *scope,
                             const char *kind, const char *name)
{
    char h[65];
    const char *buf;
    if (!scope || !kind || !name) {
        return NULL;
    }
    /* length-prefixed: no choice of parts collides with another */
    buf = apr_psprintf(p, "llmgw-mem-1\n%" APR_SIZE_T_FMT ":%s\n%"
                       APR_SIZE_T_FMT ":%s\n%" APR_SIZE_T_FMT ":%s\n",
                       strlen(scope), scope, strlen(kind), kind,
                       strlen(name), name);
    llmgw_sha256_hex(buf, strlen(buf), h);
    return apr_pstrcat(p, LLMGW_MEM_KEY_PREFIX, kind, ":", h, NULL);
}

static int turn_ok(const json_t *t)
{
    return json_is_array(t) && json_array_size(t) == 2
           && json_is_object(json_array_get(t, 0))
           && json_is_object(json_array_get(t, 1));
}

json_t *llmgw_memory_turns(const char *data, apr_size_t len)
{
    json_t *rec, *turns, *t, *out = json_array();
    size_t i;
    if (!data || !out) {
        return out;
    }
    rec = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    turns = json_object_get(rec, "turns");
    json_array_foreach(turns, i, t) {
        if (turn_ok(t)) {
            json_array_append(out, t);
        }
    }
    json_decref(rec);
    return out;
}

char *llmgw_memory_record(const json_t *turns)
{
    json_t *rec = json_pack("{s:O}", "turns", (json_t *)turns);
    char *txt = rec ? llmgw_json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    return txt;
}

static apr_int64_t estimate(const json_t *j)
{
    char *txt = llmgw_json_dumps(j, JSON_COMPACT);
    apr_int64_t n = txt ? (apr_int64_t)strlen(txt) : 0;
    free(txt);
    return (n + 3) / 4;
}

apr_int64_t llmgw_memory_trim(json_t *turns, apr_int64_t max_turns,
                              apr_int64_t max_tokens, apr_int64_t base_tokens)
{
    apr_int64_t est;
    while (max_turns > 0 && (apr_int64_t)json_array_size(turns) > max_turns) {
        json_array_remove(turns, 0);
    }
    est = json_array_size(turns) ? estimate(turns) : 0;
    while (max_tokens >= 0 && json_array_size(turns)
           && est + base_tokens > max_tokens) {
        est -= estimate(json_array_get(turns, 0));
        json_array_remove(turns, 0);
        if (!json_array_size(turns)) {
            est = 0;
        }
    }
    return est > 0 ? est : 0;
}

/* Index of the first message after the leading system messages. */
static size_t after_system(const json_t *msgs)
{
    size_t i;
    for (i = 0; i < json_array_size(msgs); i++) {
        const char *role = json_string_value(json_object_get(
            json_array_get(msgs, i), "role"));
        if (!role || (strcmp(role, "system") && strcmp(role, "developer"))) {
            break;
        }
    }
    return i;
}

/* The text of a message's content: a string, or the text of its parts
 * (Chat "text", Responses "input_text"/"output_text", Anthropic "text"),
 * joined; NULL when it has none. */
static json_t *content_text(const json_t *content)
{
    const json_t *part;
    size_t i, len = 0, at = 0;
    int parts = 0;
    char *out;
    json_t *j;

    if (json_is_string(content)) {
        return json_deep_copy(content);
    }
    json_array_foreach(content, i, part) {
        const json_t *t = json_object_get(part, "text");
        if (json_is_string(t)) {
            len += json_string_length(t);
            parts++;
        }
    }
    if (!parts || !(out = malloc(len + 1))) {
        return NULL;
    }
    json_array_foreach(content, i, part) {
        const json_t *t = json_object_get(part, "text");
        if (json_is_string(t)) {
            memcpy(out + at, json_string_value(t), json_string_length(t));
            at += json_string_length(t);
        }
    }
    j = json_stringn_nocheck(out, len);
    free(out);
    return j;
}

/* The Responses API's input as an items array (a string input becomes
 * one user message), or NULL when the body has none. */
static json_t *input_items(json_t *body)
{
    json_t *in = json_object_get(body, "input");
    if (json_is_string(in)) {
        json_t *arr = json_pack("[{s:s,s:O}]", "role", "user", "content", in);
        if (!arr || json_object_set_new(body, "input", arr)) {
            return NULL;
        }
        return arr;
    }
    return json_is_array(in) ? in : NULL;
}

/* A remembered message as a Responses input message: its text only (the
 * turns may come from another API, whose content parts Responses does
 * not take). */
static json_t *as_input_message(const json_t *m)
{
    json_t *text = content_text(json_object_get(m, "content"));
    if (!text) {
        return NULL;
    }
    return json_pack("{s:O,s:o}", "role", json_object_get(m, "role"),
                     "content", text);
}

int llmgw_memory_put_turns(json_t *body, const json_t *turns)
{
    json_t *msgs = json_object_get(body, "messages"), *t;
    size_t at, i;
    int n = 0, items = 0;
    if (!json_is_array(msgs)) {
        if (!json_object_get(body, "input") || !(msgs = input_items(body))) {
            return -1;
        }
        items = 1;
    }
    at = after_system(msgs);
    json_array_foreach(turns, i, t) {
        json_t *u, *a;
        if (!turn_ok(t)) {
            continue;
        }
        u = items ? as_input_message(json_array_get(t, 0))
                  : json_deep_copy(json_array_get(t, 0));
        a = items ? as_input_message(json_array_get(t, 1))
                  : json_deep_copy(json_array_get(t, 1));
        if (!u || !a) {
            json_decref(u);
            json_decref(a);
            continue;
        }
        json_array_insert_new(msgs, at++, u);
        json_array_insert_new(msgs, at++, a);
        n += 2;
    }
    return n;
}

int llmgw_memory_put_profile(json_t *body, const char *profile,
                             int messages_api)
{
    json_t *msgs = json_object_get(body, "messages"), *sys;
    const char *text;

    if (!json_is_object(body) || !profile) {
        return -1;
    }
    text = profile;
    if (!messages_api) {
        if (!json_is_array(msgs) && !(json_object_get(body, "input")
                                      && (msgs = input_items(body)))) {
            return -1;
        }
        return json_array_insert_new(msgs, after_system(msgs),
                                     json_pack("{s:s,s:s}", "role", "system",
                                               "content", text)) ? -1 : 0;
    }
    sys = json_object_get(body, "system");
    if (json_is_array(sys)) {
        return json_array_insert_new(sys, 0, json_pack("{s:s,s:s}", "type",
                                                       "text", "text", text))
               ? -1 : 0;
    }
    if (json_is_string(sys) && json_string_length(sys)) {
        json_t *arr = json_pack("[{s:s,s:s},{s:s,s:O}]", "type", "text",
                                "text", text, "type", "text", "text", sys);
        return json_object_set_new(body, "system", arr) ? -1 : 0;
    }
    return json_object_set_new(body, "system", json_string(text)) ? -1 : 0;
}

json_t *llmgw_memory_last_user(const json_t *body)
{
    const json_t *msgs = json_object_get(body, "messages"), *last;
    const char *role;
    if (!msgs && (last = json_object_get(body, "input")) != NULL) {
        /* Responses: a string, or a last item that is a user message */
        const char *type;
        if (json_is_string(last)) {
            return json_pack("{s:s,s:O}", "role", "user", "content", last);
        }
        if (!json_is_array(last) || !json_array_size(last)) {
            return NULL;
        }
        last = json_array_get(last, json_array_size(last) - 1);
        role = json_string_value(json_object_get(last, "role"));
        type = json_string_value(json_object_get(last, "type"));
        if (!role || strcmp(role, "user") || (type && strcmp(type, "message"))) {
            return NULL;
        }
        return as_input_message(last);
    }
    if (!json_is_array(msgs) || !json_array_size(msgs)) {
        return NULL;
    }
    last = json_array_get(msgs, json_array_size(msgs) - 1);
    role = json_string_value(json_object_get(last, "role"));
    if (!role || strcmp(role, "user") || !json_object_get(last, "content")) {
        return NULL;
    }
    return json_deep_copy(last);
}

const char *llmgw_memory_answer_text(apr_pool_t *p, const json_t *answer)
{
    const json_t *choices = json_object_get(answer, "choices"), *content, *b;
    const char *out = NULL;
    size_t i;

    if (json_is_array(choices)) {
        const json_t *msg = json_object_get(json_array_get(choices, 0),
                                            "message");
        const json_t *tc = json_object_get(msg, "tool_calls");
        content = json_object_get(msg, "content");
        if ((tc && !json_is_null(tc)
             && !(json_is_array(tc) && !json_array_size(tc)))
            || !json_is_string(content)) {
            return NULL;
        }
        return apr_pstrmemdup(p, json_string_value(content),
                              json_string_length(content));
    }
    content = json_object_get(answer, "content");
    if (json_is_array(content)
        && !strcmp(json_string_value(json_object_get(answer, "type"))
                   ? json_string_value(json_object_get(answer, "type")) : "",
                   "message")) {
        json_array_foreach(content, i, b) {
            const char *type = json_string_value(json_object_get(b, "type"));
            if (type && !strcmp(type, "tool_use")) {
                return NULL;
            }
            if (type && !strcmp(type, "text")
                && json_is_string(json_object_get(b, "text"))) {
                const char *t = json_string_value(json_object_get(b, "text"));
                out = out ? apr_pstrcat(p, out, t, NULL) : apr_pstrdup(p, t);
            }
        }
        return out;
    }
    content = json_object_get(answer, "output");
    if (json_is_array(content)) {
        /* a Responses answer: the text of its message items */
        json_array_foreach(content, i, b) {
            const char *type = json_string_value(json_object_get(b, "type"));
            json_t *text;
            if (type && !strcmp(type, "function_call")) {
                return NULL;
            }
            if (!type || strcmp(type, "message")
                || !(text = content_text(json_object_get(b, "content")))) {
                continue;
            }
            out = out ? apr_pstrcat(p, out, json_string_value(text), NULL)
                      : apr_pstrdup(p, json_string_value(text));
            json_decref(text);
        }
        return out;
    }
    if (json_is_true(json_object_get(answer, "success"))
        && json_is_string(json_object_get(answer, "data"))) {
        return apr_pstrdup(p, json_string_value(json_object_get(answer,
                                                                "data")));
    }
    return NULL;
}

void llmgw_memory_add_turn(json_t *turns, const json_t *user,
                           const char *text, apr_int64_t max_turns)
{
    json_t *t = json_pack("[O,{s:s,s:s}]", (json_t *)user, "role",
                          "assistant", "content", text);
    if (t) {
        json_array_append_new(turns, t);
    }
    llmgw_memory_trim(turns, max_turns, -1, 0);
}

json_t *llmgw_memory_json(const char *user, const char *profile,
                          apr_int64_t turns)
{
    return json_pack("{s:s,s:s,s:o,s:I}", "object", "memory", "user", user,
                     "profile", profile ? json_string(profile) : json_null(),
                     "session_turns", (json_int_t)turns);
}
