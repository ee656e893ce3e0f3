/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_chat_request.c — reads an OpenAI Chat Completions request once into
 * llmgw_chat_request_t (pure: APR + jansson only). The rules are listed in
 * include/llmgw_chat_request.h.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <apr_strings.h>
#include "llmgw_chat_request.h"
#include "llmgw_json_scan.h"

typedef struct {
    apr_pool_t *p;
    const char *err;
} rd_t;

static int fail(rd_t *rd, const char *msg)
{
    if (rd->err == NULL) {
        rd->err = msg;
    }
    return -1;
}

static const json_t *jget(const json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = jget(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int given(const json_t *v)
{
    return v != NULL && !json_is_null(v);
}

static apr_status_t decref_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

/* Ties a new reference to the pool. */
static json_t *pool_own(apr_pool_t *p, json_t *j)
{
    if (j != NULL) {
        apr_pool_cleanup_register(p, j, decref_cleanup,
                                  apr_pool_cleanup_null);
    }
    return j;
}

int llmgw_xlate_translates(const llmgw_xparam_t *table, const char *name)
{
    const llmgw_xparam_t *row;

    if (table == NULL) {
        return 1;
    }
    for (row = table; row->name; row++) {
        if (!strcmp(row->name, name)) {
            return row->how == LLMGW_XP_TRANSLATED;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Content                                                             */
/* ------------------------------------------------------------------ */

/* "data:MIME;base64,DATA" -> mime + data (RFC 2397: case-insensitive). */
static int data_url(rd_t *rd, const json_t *js, llmgw_chat_part_t *out)
{
    const char *url = json_string_value(js);
    apr_size_t len = json_string_length(js);
    const char *meta = url + 5;
    const char *comma = memchr(meta, ',', len - 5);
    const char *semi;

    if (comma == NULL) {
        return fail(rd, "invalid data URL: no data");
    }
    semi = memchr(meta, ';', (apr_size_t)(comma - meta));
    if (semi == NULL || (apr_size_t)(comma - semi) != 7
        || strncasecmp(semi, ";base64", 7)) {
        return fail(rd, "data URLs must be base64 encoded "
                    "(data:MIME;base64,DATA)");
    }
    if (semi == meta) {
        return fail(rd, "data URL without a media type");
    }
    out->mime = apr_pstrmemdup(rd->p, meta, (apr_size_t)(semi - meta));
    out->data.s = comma + 1;
    out->data.len = len - (apr_size_t)(comma + 1 - url);
    return 0;
}

static int is_data_url(const json_t *js)
{
    return json_is_string(js) && json_string_length(js) >= 5
           && !strncasecmp(json_string_value(js), "data:", 5);
}

static int read_part(rd_t *rd, const json_t *part, llmgw_chat_part_t *out)
{
    const char *type = jstr(part, "type");

    memset(out, 0, sizeof(*out));
    if (type == NULL) {
        return fail(rd, "content parts must be objects with a type");
    }
    if (!strcmp(type, "text")) {
        const json_t *t = jget(part, "text");
        if (!json_is_string(t)) {
            return fail(rd, "text part requires a text string");
        }
        out->type = LLMGW_PART_TEXT;
        out->json_text = t;
        out->text.s = json_string_value(t);
        out->text.len = json_string_length(t);
        return 0;
    }
    if (!strcmp(type, "image_url")) {
        const json_t *iu = jget(part, "image_url");
        const json_t *u = json_is_string(iu) ? iu : jget(iu, "url");
        const char *url = json_string_value(u);

        out->type = LLMGW_PART_IMAGE;
        if (!json_is_string(u)) {
            return fail(rd, "image_url part requires a url");
        }
        if (is_data_url(u)) {
            return data_url(rd, u, out);
        }
        if (!strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8)
            || !strncasecmp(url, "gs://", 5)) {
            out->url = url;
            return 0;
        }
        return fail(rd, "image_url must be an http(s) URL or a base64 data "
                    "URL");
    }
    if (!strcmp(type, "input_audio")) {
        const json_t *a = jget(part, "input_audio");
        const json_t *data = jget(a, "data");
        const char *fmt = jstr(a, "format");

        if (!json_is_string(data) || fmt == NULL) {
            return fail(rd, "input_audio part needs data and format");
        }
        out->type = LLMGW_PART_AUDIO;
        out->mime = apr_pstrcat(rd->p, "audio/", fmt, NULL);
        out->data.s = json_string_value(data);
        out->data.len = json_string_length(data);
        return 0;
    }
    if (!strcmp(type, "file")) {
        const json_t *fd = jget(jget(part, "file"), "file_data");

        out->type = LLMGW_PART_FILE;
        if (!is_data_url(fd)) {
            return fail(rd, "file parts need file_data as a data: URL");
        }
        return data_url(rd, fd, out);
    }
    return fail(rd, apr_psprintf(rd->p, "unsupported content part type '%s'",
                                 type));
}

/* content: absent/null (no parts), a string (one text part) or parts. */
static int read_content(rd_t *rd, const json_t *content, llmgw_chat_msg_t *m,
                        int text_only, const char *what)
{
    size_t i;
    const json_t *part;

    m->parts = apr_array_make(rd->p, 1, sizeof(llmgw_chat_part_t));
    m->text_only = 1;
    if (!given(content)) {
        return 0;
    }
    if (json_is_string(content)) {
        llmgw_chat_part_t *pt = apr_array_push(m->parts);
        memset(pt, 0, sizeof(*pt));
        pt->type = LLMGW_PART_TEXT;
        pt->json_text = content;
        pt->text.s = json_string_value(content);
        pt->text.len = json_string_length(content);
        m->content_is_string = 1;
        return 0;
    }
    if (!json_is_array(content)) {
        return fail(rd, text_only
                    ? apr_psprintf(rd->p, "%s content must be a string or an "
                                   "array of text parts", what)
                    : "message content must be a string or an array of "
                      "content parts");
    }
    json_array_foreach(content, i, part) {
        llmgw_chat_part_t *pt = apr_array_push(m->parts);
        if (read_part(rd, part, pt)) {
            return -1;
        }
        if (pt->type != LLMGW_PART_TEXT) {
            if (text_only) {
                return fail(rd, apr_psprintf(rd->p, "%s content parts must "
                                             "be text parts", what));
            }
            m->text_only = 0;
        }
    }
    return 0;
}

json_t *llmgw_chat_msg_text(const llmgw_chat_msg_t *msg, const char *sep)
{
    apr_size_t total = 0, seplen = strlen(sep), n = 0;
    char *buf, *w;
    json_t *out;
    int i;

    for (i = 0; i < msg->parts->nelts; i++) {
        const llmgw_chat_part_t *pt = &APR_ARRAY_IDX(msg->parts, i,
                                                     llmgw_chat_part_t);
        if (pt->type == LLMGW_PART_TEXT) {
            total += pt->text.len + (n++ ? seplen : 0);
        }
    }
    if (n == 1) {
        for (i = 0; i < msg->parts->nelts; i++) {
            const llmgw_chat_part_t *pt = &APR_ARRAY_IDX(msg->parts, i,
                                                         llmgw_chat_part_t);
            if (pt->type == LLMGW_PART_TEXT) {
                return json_incref((json_t *)pt->json_text);
            }
        }
    }
    buf = malloc(total + 1);
    if (buf == NULL) {
        return NULL;
    }
    w = buf;
    n = 0;
    for (i = 0; i < msg->parts->nelts; i++) {
        const llmgw_chat_part_t *pt = &APR_ARRAY_IDX(msg->parts, i,
                                                     llmgw_chat_part_t);
        if (pt->type != LLMGW_PART_TEXT) {
            continue;
        }
        if (n++) {
            memcpy(w, sep, seplen);
            w += seplen;
        }
        memcpy(w, pt->text.s, pt->text.len);
        w += pt->text.len;
    }
    out = json_stringn(buf, total);
    free(buf);
    return out;
}

void llmgw_chat_msg_text_write(llmgw_buf_t *b, const llmgw_chat_msg_t *msg,
                               const char *sep, int quoted)
{
    apr_size_t seplen = strlen(sep), n = 0;
    int i;

    if (quoted) {
        llmgw_buf_append(b, "\"", 1);
    }
    for (i = 0; i < msg->parts->nelts; i++) {
        const llmgw_chat_part_t *pt = &APR_ARRAY_IDX(msg->parts, i,
                                                     llmgw_chat_part_t);
        if (pt->type != LLMGW_PART_TEXT) {
            continue;
        }
        if (n++ && seplen) {
            if (quoted) {
                llmgw_buf_json_escape(b, sep, seplen);
            }
            else {
                llmgw_buf_append(b, sep, seplen);
            }
        }
        if (quoted) {
            llmgw_buf_json_escape(b, pt->text.s, pt->text.len);
        }
        else {
            llmgw_buf_append(b, pt->text.s, pt->text.len);
        }
    }
    if (quoted) {
        llmgw_buf_append(b, "\"", 1);
    }
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

/* OpenAI arguments -> a JSON object (new reference), or NULL. */
static json_t *read_args(rd_t *rd, const json_t *a)
{
    const char *s;
    apr_size_t len, k;
    json_t *v;

    if (!given(a)) {
        return json_object();
    }
    if (json_is_object(a)) {
        return json_deep_copy(a);
    }
    if (!json_is_string(a)) {
        fail(rd, "tool call arguments must be a JSON string");
        return NULL;
    }
    s = json_string_value(a);
    len = json_string_length(a);
    for (k = 0; k < len && strchr(" \t\r\n", s[k]) && s[k]; k++) {
    }
    if (k == len) {
        return json_object();
    }
    v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        fail(rd, "tool call arguments must be a JSON object");
        return NULL;
    }
    return v;
}

static int read_calls(rd_t *rd, const json_t *calls, llmgw_chat_msg_t *m)
{
    size_t i;
    const json_t *c;

    m->calls = apr_array_make(rd->p, 1, sizeof(llmgw_chat_call_t));
    if (!given(calls)) {
        return 0;
    }
    if (!json_is_array(calls)) {
        return fail(rd, "tool_calls must be an array");
    }
    json_array_foreach(calls, i, c) {
        const json_t *fn = jget(c, "function");
        const char *type = jstr(c, "type");
        llmgw_chat_call_t *call;

        if (!json_is_object(c)) {
            return fail(rd, "tool calls must be objects");
        }
        if (type != NULL && strcmp(type, "function")) {
            return fail(rd, apr_psprintf(rd->p, "unsupported tool call type "
                                         "'%s'", type));
        }
        call = apr_array_push(m->calls);
        call->id = jstr(c, "id");
        call->name = jstr(fn, "name");
        call->thought_signature = jstr(jget(jget(c, "extra_content"),
                                            "google"), "thought_signature");
        if (call->name == NULL || *call->name == '\0') {
            return fail(rd, "tool calls require a function name");
        }
        call->args = pool_own(rd->p, read_args(rd, jget(fn, "arguments")));
        if (call->args == NULL) {
            return -1;
        }
    }
    return 0;
}

static int read_messages(rd_t *rd, const json_t *msgs,
                         llmgw_chat_request_t *r)
{
    size_t i;
    const json_t *jm;

    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        return fail(rd, "messages must be a non-empty array");
    }
    r->messages = apr_array_make(rd->p, (int)json_array_size(msgs),
                                 sizeof(llmgw_chat_msg_t));
    json_array_foreach(msgs, i, jm) {
        const char *role = jstr(jm, "role");
        const json_t *content = jget(jm, "content");
        llmgw_chat_msg_t *m;

        if (role == NULL) {
            return fail(rd, "every message must be an object with a role");
        }
        m = apr_array_push(r->messages);
        memset(m, 0, sizeof(*m));
        m->name = jstr(jm, "name");
        if (!strcmp(role, "system") || !strcmp(role, "developer")) {
            m->role = LLMGW_ROLE_SYSTEM;
            if (read_content(rd, content, m, 1, "system message")) {
                return -1;
            }
        }
        else if (!strcmp(role, "user")) {
            m->role = LLMGW_ROLE_USER;
            if (read_content(rd, content, m, 0, NULL)) {
                return -1;
            }
        }
        else if (!strcmp(role, "assistant")) {
            m->role = LLMGW_ROLE_ASSISTANT;
            if (read_content(rd, content, m, 0, NULL)
                || read_calls(rd, jget(jm, "tool_calls"), m)) {
                return -1;
            }
        }
        else if (!strcmp(role, "tool") || !strcmp(role, "function")) {
            int legacy = role[0] == 'f';
            m->role = legacy ? LLMGW_ROLE_FUNCTION : LLMGW_ROLE_TOOL;
            m->call_id = jstr(jm, legacy ? "name" : "tool_call_id");
            if (m->call_id == NULL && !legacy) {
                return fail(rd, "tool messages require a tool_call_id");
            }
            if (read_content(rd, content, m, 1, legacy ? "function message"
                                                       : "tool message")) {
                return -1;
            }
        }
        else {
            return fail(rd, apr_psprintf(rd->p, "unsupported message role "
                                         "'%s'", role));
        }
        if (m->calls == NULL) {
            m->calls = apr_array_make(rd->p, 1, sizeof(llmgw_chat_call_t));
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tools                                                               */
/* ------------------------------------------------------------------ */

static int read_tools(rd_t *rd, const json_t *req, const llmgw_xparam_t *tb,
                      llmgw_chat_request_t *r)
{
    const json_t *tools = jget(req, "tools");
    const json_t *tc = jget(req, "tool_choice");
    size_t i;
    const json_t *t;

    if (llmgw_xlate_translates(tb, "tools") && given(tools)) {
        if (!json_is_array(tools)) {
            return fail(rd, "tools must be an array");
        }
        r->tools = apr_array_make(rd->p, (int)json_array_size(tools),
                                  sizeof(llmgw_chat_tool_t));
        json_array_foreach(tools, i, t) {
            const json_t *fn = jget(t, "function");
            const char *type = jstr(t, "type");
            const json_t *params = jget(fn, "parameters");
            const json_t *desc = jget(fn, "description");
            llmgw_chat_tool_t *tool;

            if (!json_is_object(t) || (type != NULL
                                       && strcmp(type, "function"))) {
                return fail(rd, apr_psprintf(rd->p, "unsupported tool type "
                                             "'%s'", type ? type : "(none)"));
            }
            tool = apr_array_push(r->tools);
            tool->name = jstr(fn, "name");
            if (tool->name == NULL || *tool->name == '\0') {
                return fail(rd, "function tools require a name");
            }
            if (given(params) && !json_is_object(params)) {
                return fail(rd, "function parameters must be a JSON object");
            }
            tool->parameters = json_is_object(params) ? params : NULL;
            tool->description = json_is_string(desc) ? desc : NULL;
        }
    }

    if (llmgw_xlate_translates(tb, "tool_choice") && given(tc)) {
        if (json_is_string(tc)) {
            const char *c = json_string_value(tc);
            r->tool_choice = !strcmp(c, "auto") ? LLMGW_TC_AUTO
                           : !strcmp(c, "none") ? LLMGW_TC_NONE
                           : !strcmp(c, "required") ? LLMGW_TC_REQUIRED
                           : LLMGW_TC_UNSET;
            if (r->tool_choice == LLMGW_TC_UNSET) {
                return fail(rd, apr_psprintf(rd->p, "invalid tool_choice '%s'"
                                             " (auto, none, required or a "
                                             "named function)", c));
            }
        }
        else if (json_is_object(tc)) {
            const char *type = jstr(tc, "type");
            r->tool_choice_name = jstr(jget(tc, "function"), "name");
            if ((type != NULL && strcmp(type, "function"))
                || r->tool_choice_name == NULL) {
                return fail(rd, "tool_choice object must be {\"type\":"
                            "\"function\",\"function\":{\"name\":...}}");
            }
            r->tool_choice = LLMGW_TC_FUNCTION;
        }
        else {
            return fail(rd, "tool_choice must be a string or an object");
        }
    }
    if (llmgw_xlate_translates(tb, "parallel_tool_calls")) {
        r->parallel_tool_calls_off = json_is_false(jget(req,
                                                   "parallel_tool_calls"));
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parameters                                                          */
/* ------------------------------------------------------------------ */

static int read_number(rd_t *rd, const json_t *req, const llmgw_xparam_t *tb,
                       const char *key, const json_t **out)
{
    const json_t *v = jget(req, key);

    if (!llmgw_xlate_translates(tb, key) || !given(v)) {
        return 0;
    }
    if (!json_is_number(v)) {
        return fail(rd, apr_psprintf(rd->p, "%s must be a number", key));
    }
    *out = v;
    return 0;
}

static int read_int(rd_t *rd, const json_t *req, const llmgw_xparam_t *tb,
                    const char *key, json_int_t min, const json_t **out)
{
    const json_t *v = jget(req, key);

    if (!llmgw_xlate_translates(tb, key) || !given(v)) {
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min) {
        return fail(rd, apr_psprintf(rd->p, "%s must be an integer >= %"
                                     JSON_INTEGER_FORMAT, key, min));
    }
    *out = v;
    return 0;
}

static int read_max_tokens(rd_t *rd, const json_t *req,
                           const llmgw_xparam_t *tb, llmgw_chat_request_t *r)
{
    const char *key = "max_completion_tokens";
    const json_t *v = jget(req, key);

    if (!given(v) || !llmgw_xlate_translates(tb, key)) {
        key = "max_tokens";
        v = jget(req, key);
    }
    if (!given(v) || !llmgw_xlate_translates(tb, key)) {
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        return fail(rd, "max_tokens must be a positive integer");
    }
    r->max_tokens = (apr_int64_t)json_integer_value(v);
    return 0;
}

static int read_stop(rd_t *rd, const json_t *req, const llmgw_xparam_t *tb,
                     llmgw_chat_request_t *r)
{
    const json_t *v = jget(req, "stop");
    size_t i;
    const json_t *s;

    if (!llmgw_xlate_translates(tb, "stop") || !given(v)) {
        return 0;
    }
    r->stop = apr_array_make(rd->p, 4, sizeof(const json_t *));
    if (json_is_string(v)) {
        APR_ARRAY_PUSH(r->stop, const json_t *) = v;
        return 0;
    }
    if (!json_is_array(v)) {
        return fail(rd, "stop must be a string or an array of strings");
    }
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) {
            return fail(rd, "stop must be a string or an array of strings");
        }
        APR_ARRAY_PUSH(r->stop, const json_t *) = s;
    }
    return 0;
}

static int read_response_format(rd_t *rd, const json_t *req,
                                const llmgw_xparam_t *tb,
                                llmgw_chat_request_t *r)
{
    const json_t *rf = jget(req, "response_format");
    const char *type;

    if (!llmgw_xlate_translates(tb, "response_format") || !given(rf)) {
        return 0;
    }
    type = jstr(rf, "type");
    if (type == NULL) {
        return fail(rd, "response_format needs a type");
    }
    if (!strcmp(type, "text")) {
        return 0;
    }
    if (!strcmp(type, "json_object")) {
        r->response_format = LLMGW_RF_JSON_OBJECT;
        return 0;
    }
    if (!strcmp(type, "json_schema")) {
        const json_t *js = jget(rf, "json_schema");
        const json_t *schema = jget(js, "schema");
        if (given(schema) && !json_is_object(schema)) {
            return fail(rd, "response_format.json_schema.schema must be an "
                        "object");
        }
        r->response_format = LLMGW_RF_JSON_SCHEMA;
        r->rf_schema = json_is_object(schema) ? schema : NULL;
        r->rf_description = jstr(js, "description");
        return 0;
    }
    return fail(rd, apr_psprintf(rd->p, "unsupported response_format type "
                                 "'%s'", type));
}

static int read_params(rd_t *rd, const json_t *req, const llmgw_xparam_t *tb,
                       llmgw_chat_request_t *r)
{
    const json_t *lp = jget(req, "logprobs");
    const json_t *md = jget(req, "metadata");

    if (read_max_tokens(rd, req, tb, r)
        || read_number(rd, req, tb, "temperature", &r->temperature)
        || read_number(rd, req, tb, "top_p", &r->top_p)
        || read_number(rd, req, tb, "presence_penalty", &r->presence_penalty)
        || read_number(rd, req, tb, "frequency_penalty",
                       &r->frequency_penalty)
        || read_int(rd, req, tb, "n", 1, &r->n)
        || read_int(rd, req, tb, "top_k", 1, &r->top_k)
        || read_int(rd, req, tb, "seed", (json_int_t)-2147483647 - 1,
                    &r->seed)
        || read_stop(rd, req, tb, r)
        || read_response_format(rd, req, tb, r)) {
        return -1;
    }
    if (llmgw_xlate_translates(tb, "logprobs") && given(lp)) {
        if (!json_is_boolean(lp)) {
            return fail(rd, "logprobs must be a boolean");
        }
        r->logprobs = json_is_true(lp);
        if (r->logprobs && read_int(rd, req, tb, "top_logprobs", 0,
                                    &r->top_logprobs)) {
            return -1;
        }
    }
    if (llmgw_xlate_translates(tb, "reasoning_effort")
        || llmgw_xlate_translates(tb, "reasoning")) {
        const char *param = NULL, *err = NULL;
        if (llmgw_xlate_reasoning(rd->p, req, &r->reasoning, &param, &err)) {
            return fail(rd, err);
        }
    }
    if (llmgw_xlate_translates(tb, "metadata") && given(md)) {
        if (!json_is_object(md)) {
            return fail(rd, "metadata must be an object of strings");
        }
        r->metadata = md;
    }
    if (llmgw_xlate_translates(tb, "user")) {
        r->user = jstr(req, "user");
    }
    if (llmgw_xlate_translates(tb, "safety_identifier")) {
        r->safety_identifier = jstr(req, "safety_identifier");
    }
    r->stream = json_is_true(jget(req, "stream"));
    r->include_usage = json_is_true(jget(jget(req, "stream_options"),
                                         "include_usage"));
    return 0;
}

int llmgw_chat_request_read(apr_pool_t *p, const json_t *req,
                            const llmgw_xparam_t *table,
                            const char *provider_type,
                            const llmgw_xlate_ctx_t *x,
                            llmgw_chat_request_t **out, const char **err)
{
    llmgw_chat_request_t *r;
    rd_t rd;

    *out = NULL;
    *err = NULL;
    if (!json_is_object(req)) {
        *err = "request body must be a JSON object";
        return -1;
    }
    if (table != NULL
        && llmgw_xlate_check_params(p, req, table, provider_type, x, err)) {
        return -1;
    }
    rd.p = p;
    rd.err = NULL;
    r = apr_pcalloc(p, sizeof(*r));
    r->model = jstr(req, "model");
    if (read_messages(&rd, jget(req, "messages"), r)
        || read_tools(&rd, req, table, r)
        || read_params(&rd, req, table, r)) {
        *err = rd.err ? rd.err : "invalid request";
        return -1;
    }
    *out = r;
    return 0;
}
