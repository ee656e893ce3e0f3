/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The reference for the Messages adapter's request writer
 * (mod_llmgw/api/llmgw_api_messages_request.c writes the Chat request from
 * the client's text): the tree converter it replaced, kept for the tests
 * only. test_api_messages.c checks that both give the same Chat request
 * (as JSON documents, gateway fields removed) or the same error over every
 * request of the unit tests and of the fuzz seeds. Not built into any
 * module. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_client_api.h"
#include "llmgw_types.h"
/* (not llmgw_test.h: Check defines fail) */
#include "llmgw_buf.h"
#include "llmgw_num.h"

/* A string member of obj, or NULL. */
static const char *llmgw_msg_jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

typedef struct {
    apr_pool_t *p;
    const char *err;
    const char *param;
    const char *code;           /* LLMGW_API_UNSUPPORTED or NULL */
} req_t;

static int fail(req_t *r, const char *param, const char *msg)
{
    if (r->err == NULL) {
        r->err = msg;
        r->param = param;
    }
    return -1;
}

/* Valid, but without a Chat form: a 400 unsupported_parameter. */
static int unsupported(req_t *r, const char *param, const char *msg)
{
    if (r->err == NULL) {
        r->code = LLMGW_API_UNSUPPORTED;
    }
    return fail(r, param, msg);
}

static int fail_type(req_t *r, const char *param, const char *want)
{
    return fail(r, param, apr_psprintf(r->p, "%s must be %s", param, want));
}

/* "data:MIME;base64,DATA" from an Anthropic base64 source. */
static json_t *data_url(req_t *r, const json_t *src, const char *param)
{
    const char *mime = llmgw_msg_jstr(src, "media_type");
    const json_t *data = json_object_get(src, "data");
    char *url;
    apr_size_t ml, dl;

    if (mime == NULL || !*mime) {
        fail_type(r, apr_pstrcat(r->p, param, ".media_type", NULL),
                  "a non-empty string");
        return NULL;
    }
    if (!json_is_string(data)) {
        fail_type(r, apr_pstrcat(r->p, param, ".data", NULL), "a string");
        return NULL;
    }
    ml = strlen(mime);
    dl = json_string_length(data);
    url = apr_palloc(r->p, 5 + ml + 8 + dl);
    memcpy(url, "data:", 5);
    memcpy(url + 5, mime, ml);
    memcpy(url + 5 + ml, ";base64,", 8);
    memcpy(url + 5 + ml + 8, json_string_value(data), dl);
    return json_stringn(url, 5 + ml + 8 + dl);
}

/* image block -> image_url part. */
static json_t *image_part(req_t *r, const json_t *b, const char *param)
{
    const json_t *src = json_object_get(b, "source");
    const char *st = llmgw_msg_jstr(src, "type");
    const char *sp = apr_pstrcat(r->p, param, ".source", NULL);
    json_t *url;

    if (st != NULL && !strcmp(st, "base64")) {
        url = data_url(r, src, sp);
    }
    else if (st != NULL && !strcmp(st, "url")
             && json_is_string(json_object_get(src, "url"))) {
        url = json_incref(json_object_get(src, "url"));
    }
    else {
        fail(r, sp, apr_psprintf(r->p, "%s must be a base64 or url image "
                                 "source (others cannot be translated for "
                                 "this provider)", sp));
        return NULL;
    }
    return url ? json_pack("{s:s, s:{s:o}}", "type", "image_url",
                           "image_url", "url", url) : NULL;
}

/* document block: only a base64 PDF -> a file part. */
static json_t *document_part(req_t *r, const json_t *b, const char *param)
{
    const json_t *src = json_object_get(b, "source");
    const char *sp = apr_pstrcat(r->p, param, ".source", NULL);
    const char *st = llmgw_msg_jstr(src, "type");
    const char *mime = llmgw_msg_jstr(src, "media_type");
    const char *title = llmgw_msg_jstr(b, "title");
    json_t *url, *file;

    if (st == NULL || strcmp(st, "base64") || mime == NULL
        || strcmp(mime, "application/pdf")) {
        fail(r, sp, apr_psprintf(r->p, "%s: only base64 PDF documents can "
                                 "be translated for this provider", sp));
        return NULL;
    }
    if ((url = data_url(r, src, sp)) == NULL) {
        return NULL;
    }
    file = json_pack("{s:o}", "file_data", url);
    if (title != NULL) {
        json_object_set_new(file, "filename", json_string(title));
    }
    return json_pack("{s:s, s:o}", "type", "file", "file", file);
}

/* The text of a text block (the whole string: "\u0000" is content). */
static const json_t *block_text(req_t *r, const json_t *b, const char *param)
{
    const json_t *t = json_object_get(b, "text");
    if (!json_is_string(t)) {
        fail_type(r, apr_pstrcat(r->p, param, ".text", NULL), "a string");
        return NULL;
    }
    return t;
}

/* tool_result content (a string or text blocks) -> the tool message's
 * content; is_error marks the text as an error for the model. */
static json_t *tool_result_content(req_t *r, const json_t *b,
                                   const char *param)
{
    const json_t *c = json_object_get(b, "content");
    const char *cp = apr_pstrcat(r->p, param, ".content", NULL);
    int is_error = json_is_true(json_object_get(b, "is_error"));
    json_t *parts;
    size_t i;
    const json_t *x;

    if (c == NULL || json_is_null(c)) {
        parts = json_array();
    }
    else if (json_is_string(c)) {
        parts = json_pack("[{s:s, s:O}]", "type", "text", "text", c);
    }
    else if (json_is_array(c)) {
        parts = json_array();
        json_array_foreach(c, i, x) {
            const char *xp = apr_psprintf(r->p, "%s[%u]", cp, (unsigned)i);
            const char *t = llmgw_msg_jstr(x, "type");
            const json_t *txt;
            if (t == NULL || strcmp(t, "text")) {
                json_decref(parts);
                fail(r, apr_pstrcat(r->p, xp, ".type", NULL),
                     apr_psprintf(r->p, "%s.type: only text blocks in a "
                                  "tool_result can be translated for this "
                                  "provider", xp));
                return NULL;
            }
            if ((txt = block_text(r, x, xp)) == NULL) {
                json_decref(parts);
                return NULL;
            }
            json_array_append_new(parts, json_pack("{s:s, s:O}", "type",
                                                   "text", "text", txt));
        }
    }
    else {
        fail_type(r, cp, "a string or an array of text blocks");
        return NULL;
    }
    if (is_error) {
        json_array_insert_new(parts, 0, json_pack("{s:s, s:s}", "type",
                                                  "text", "text", "Error: "));
    }
    if (json_array_size(parts) == 1) {
        /* one text: a plain string, what every provider takes */
        json_t *t = json_incref(json_object_get(json_array_get(parts, 0),
                                                "text"));
        json_decref(parts);
        return t;
    }
    if (json_array_size(parts) == 0) {
        json_decref(parts);
        return json_string("");
    }
    return parts;
}

/* One Anthropic turn -> Chat messages appended to out. */
static int convert_message(req_t *r, const json_t *m, size_t mi, json_t *out)
{
    const char *mp = apr_psprintf(r->p, "messages[%u]", (unsigned)mi);
    const char *cp = apr_pstrcat(r->p, mp, ".content", NULL);
    const char *role = llmgw_msg_jstr(m, "role");
    const json_t *content = json_object_get(m, "content");
    int user;
    json_t *parts, *calls, *msg;
    size_t i;
    const json_t *b;

    if (!json_is_object(m)) {
        return fail_type(r, mp, "an object");
    }
    if (role == NULL || (strcmp(role, "user") && strcmp(role, "assistant"))) {
        return fail(r, apr_pstrcat(r->p, mp, ".role", NULL),
                    apr_psprintf(r->p, "%s.role must be \"user\" or "
                                 "\"assistant\"", mp));
    }
    user = !strcmp(role, "user");
    if (json_is_string(content)) {
        json_array_append_new(out, json_pack("{s:s, s:O}", "role", role,
                                             "content", content));
        return 0;
    }
    if (!json_is_array(content)) {
        return fail_type(r, cp, "a string or an array of content blocks");
    }
    parts = json_array();
    calls = json_array();
    json_array_foreach(content, i, b) {
        const char *bp = apr_psprintf(r->p, "%s[%u]", cp, (unsigned)i);
        const char *type = llmgw_msg_jstr(b, "type");
        json_t *part = NULL;

        if (type == NULL) {
            fail(r, apr_pstrcat(r->p, bp, ".type", NULL),
                 apr_psprintf(r->p, "%s must be an object with a type", bp));
            goto bad;
        }
        if (!strcmp(type, "text")) {
            const json_t *t = block_text(r, b, bp);
            if (t == NULL) {
                goto bad;
            }
            part = json_pack("{s:s, s:O}", "type", "text", "text", t);
        }
        else if (!strcmp(type, "thinking")
                 || !strcmp(type, "redacted_thinking")) {
            continue;           /* history Chat cannot express */
        }
        else if (user && !strcmp(type, "image")) {
            part = image_part(r, b, bp);
        }
        else if (user && !strcmp(type, "document")) {
            part = document_part(r, b, bp);
        }
        else if (!user && !strcmp(type, "tool_use")) {
            const char *id = llmgw_msg_jstr(b, "id");
            const char *name = llmgw_msg_jstr(b, "name");
            const json_t *input = json_object_get(b, "input");
            char *args;
            if (id == NULL || name == NULL || !*name) {
                fail(r, bp, apr_psprintf(r->p, "%s: a tool_use block needs "
                                         "an id and a name", bp));
                goto bad;
            }
            if (input != NULL && !json_is_object(input)) {
                fail_type(r, apr_pstrcat(r->p, bp, ".input", NULL),
                          "an object");
                goto bad;
            }
            args = input ? llmgw_json_dumps(input, JSON_COMPACT)
                         : strdup("{}");
            if (args == NULL) {
                fail(r, bp, "a tool_use input cannot be serialised");
                goto bad;
            }
            json_array_append_new(calls,
                json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id,
                          "type", "function", "function", "name", name,
                          "arguments", args));
            free(args);
            continue;
        }
        else if (user && !strcmp(type, "tool_result")) {
            const char *id = llmgw_msg_jstr(b, "tool_use_id");
            json_t *tc;
            if (id == NULL) {
                fail_type(r, apr_pstrcat(r->p, bp, ".tool_use_id", NULL),
                          "a string");
                goto bad;
            }
            if ((tc = tool_result_content(r, b, bp)) == NULL) {
                goto bad;
            }
            /* before the rest of the turn: the answers follow the calls */
            json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "role",
                                                 "tool", "tool_call_id", id,
                                                 "content", tc));
            continue;
        }
        else {
            unsupported(r, apr_pstrcat(r->p, bp, ".type", NULL),
                 apr_psprintf(r->p, "%s: a %s %s block cannot be translated "
                              "for this provider", bp, role, type));
            goto bad;
        }
        if (part == NULL) {
            goto bad;
        }
        json_array_append_new(parts, part);
    }

    if (user) {
        if (json_array_size(parts) > 0) {
            json_array_append_new(out, json_pack("{s:s, s:o}", "role", "user",
                                                 "content", parts));
            parts = NULL;
        }
    }
    else if (json_array_size(parts) > 0 || json_array_size(calls) > 0) {
        /* the assistant's texts as one string: what every provider takes */
        llmgw_buf_t txt;
        llmgw_buf_init(&txt, r->p, 0);
        json_array_foreach(parts, i, b) {
            const json_t *t = json_object_get(b, "text");
            llmgw_buf_append(&txt, json_string_value(t),
                             json_string_length(t));
        }
        msg = json_pack("{s:s}", "role", "assistant");
        json_object_set_new(msg, "content",
                            json_array_size(parts) > 0
                            ? json_stringn(txt.data, txt.len) : json_null());
        if (json_array_size(calls) > 0) {
            json_object_set(msg, "tool_calls", calls);
        }
        json_array_append_new(out, msg);
    }
    json_decref(parts);
    json_decref(calls);
    return 0;

bad:
    json_decref(parts);
    json_decref(calls);
    return -1;
}

static int convert_messages(req_t *r, const json_t *v, json_t *out)
{
    size_t i;
    const json_t *m;

    if (!json_is_array(v)) {
        return fail_type(r, "messages", "an array");
    }
    if (json_array_size(v) == 0) {
        return fail(r, "messages", "messages must not be empty");
    }
    json_array_foreach(v, i, m) {
        if (convert_message(r, m, i, out)) {
            return -1;
        }
    }
    return 0;
}

/* system: a string or text blocks -> the first message. */
static int convert_system(req_t *r, const json_t *v, json_t *out)
{
    size_t i;
    const json_t *b;
    json_t *parts;

    if (json_is_string(v)) {
        if (json_string_length(v) > 0) {
            json_array_append_new(out, json_pack("{s:s, s:O}", "role",
                                                 "system", "content", v));
        }
        return 0;
    }
    if (!json_is_array(v)) {
        return fail_type(r, "system", "a string or an array of text blocks");
    }
    parts = json_array();
    json_array_foreach(v, i, b) {
        const char *bp = apr_psprintf(r->p, "system[%u]", (unsigned)i);
        const char *type = llmgw_msg_jstr(b, "type");
        const json_t *t;
        if (type == NULL || strcmp(type, "text")) {
            json_decref(parts);
            return fail(r, apr_pstrcat(r->p, bp, ".type", NULL),
                        apr_psprintf(r->p, "%s must be a text block", bp));
        }
        if ((t = block_text(r, b, bp)) == NULL) {
            json_decref(parts);
            return -1;
        }
        json_array_append_new(parts, json_pack("{s:s, s:O}", "type", "text",
                                               "text", t));
    }
    if (json_array_size(parts) > 0) {
        json_array_append_new(out, json_pack("{s:s, s:o}", "role", "system",
                                             "content", parts));
    }
    else {
        json_decref(parts);
    }
    return 0;
}

static int convert_tools(req_t *r, const json_t *v, json_t *chat)
{
    json_t *out;
    size_t i;
    const json_t *t;

    if (!json_is_array(v)) {
        return fail_type(r, "tools", "an array");
    }
    out = json_array();
    json_array_foreach(v, i, t) {
        const char *tp = apr_psprintf(r->p, "tools[%u]", (unsigned)i);
        const char *type = llmgw_msg_jstr(t, "type");
        const char *name = llmgw_msg_jstr(t, "name");
        const json_t *schema = json_object_get(t, "input_schema");
        const json_t *desc = json_object_get(t, "description");
        const json_t *strict = json_object_get(t, "strict");
        json_t *fn;

        if (json_is_object(t) && json_object_get(t, "type")
            && !json_is_null(json_object_get(t, "type"))
            && (type == NULL || strcmp(type, "custom"))) {
            json_decref(out);
            return unsupported(r, "tools", apr_psprintf(r->p, "%s: the server tool "
                        "'%s' cannot be translated for this provider (only "
                        "custom tools)", tp, type ? type : "?"));
        }
        if (name == NULL || !*name) {
            json_decref(out);
            return fail_type(r, apr_pstrcat(r->p, tp, ".name", NULL),
                             "a non-empty string");
        }
        if (!json_is_object(schema)) {
            json_decref(out);
            return fail_type(r, apr_pstrcat(r->p, tp, ".input_schema", NULL),
                             "an object");
        }
        fn = json_pack("{s:s, s:O}", "name", name, "parameters", schema);
        if (json_is_string(desc)) {
            json_object_set(fn, "description", (json_t *)desc);
        }
        if (json_is_boolean(strict)) {
            json_object_set(fn, "strict", (json_t *)strict);
        }
        json_array_append_new(out, json_pack("{s:s, s:o}", "type", "function",
                                             "function", fn));
    }
    json_object_set_new(chat, "tools", out);
    return 0;
}

static int convert_tool_choice(req_t *r, const json_t *v, json_t *chat)
{
    const char *type = llmgw_msg_jstr(v, "type");
    const json_t *dp = json_object_get(v, "disable_parallel_tool_use");
    json_t *choice;

    if (type == NULL) {
        return fail_type(r, "tool_choice", "an object with a type");
    }
    if (!strcmp(type, "auto")) {
        choice = json_string("auto");
    }
    else if (!strcmp(type, "any")) {
        choice = json_string("required");
    }
    else if (!strcmp(type, "none")) {
        choice = json_string("none");
    }
    else if (!strcmp(type, "tool")) {
        const char *name = llmgw_msg_jstr(v, "name");
        if (name == NULL || !*name) {
            return fail_type(r, "tool_choice.name", "a non-empty string");
        }
        choice = json_pack("{s:s, s:{s:s}}", "type", "function",
                           "function", "name", name);
    }
    else {
        return fail(r, "tool_choice.type", "tool_choice.type must be auto, "
                    "any, tool or none");
    }
    if (dp != NULL && !json_is_null(dp) && !json_is_boolean(dp)) {
        json_decref(choice);
        return fail_type(r, "tool_choice.disable_parallel_tool_use",
                         "a boolean");
    }
    json_object_set_new(chat, "tool_choice", choice);
    if (json_is_true(dp) && strcmp(type, "none")) {
        json_object_set_new(chat, "parallel_tool_calls", json_false());
    }
    return 0;
}

static int convert_thinking(req_t *r, const json_t *v, json_t *chat)
{
    const char *type = llmgw_msg_jstr(v, "type");
    const json_t *budget = json_object_get(v, "budget_tokens");

    if (type != NULL && !strcmp(type, "disabled")) {
        return 0;
    }
    if (type == NULL || strcmp(type, "enabled")) {
        return fail(r, "thinking.type", "thinking.type must be \"enabled\" "
                    "or \"disabled\"");
    }
    if (!json_is_integer(budget) || json_integer_value(budget) <= 0) {
        return fail_type(r, "thinking.budget_tokens", "a positive integer");
    }
    json_object_set_new(chat, "reasoning",
                        json_pack("{s:O}", "max_tokens", budget));
    return 0;
}

static int convert_metadata(req_t *r, const json_t *v, json_t *chat)
{
    const char *k;
    json_t *x;

    if (!json_is_object(v)) {
        return fail_type(r, "metadata", "an object");
    }
    json_object_foreach((json_t *)v, k, x) {
        if (!strcmp(k, "user_id")) {
            if (json_is_string(x)) {
                json_object_set(chat, "user", x);
            }
            else if (!json_is_null(x)) {
                return fail_type(r, "metadata.user_id", "a string");
            }
        }
        else if (!json_is_null(x)) {
            const char *kp = apr_pstrcat(r->p, "metadata.", k, NULL);
            return unsupported(r, kp, apr_psprintf(r->p, "%s cannot be "
                                            "translated for this provider",
                                            kp));
        }
    }
    return 0;
}

static int is_gateway_field(const char *k)
{
    static const char *const fields[] = { LLMGW_GATEWAY_FIELDS, NULL };
    int i;

    for (i = 0; fields[i]; i++) {
        if (!strcmp(fields[i], k)) {
            return 1;
        }
    }
    return 0;
}

static int is_number(const json_t *v)
{
    return json_is_integer(v) || json_is_real(v);
}

int ut_ref_msg_to_chat(apr_pool_t *p, const json_t *in,
                       const llmgw_api_ctx_t *c, json_t **chat,
                       const char **err, const char **param,
                       const char **code)
{
    req_t r;
    json_t *out, *messages;
    const char *k;
    json_t *v;
    (void)c;

    memset(&r, 0, sizeof(r));
    r.p = p;
    *chat = NULL;
    *param = NULL;
    *code = NULL;
    if (!json_is_object(in)) {
        *err = "the request body must be a JSON object";
        return 400;
    }
    out = json_object();
    messages = json_array();
    v = json_object_get(in, "max_tokens");
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        fail(&r, "max_tokens", "max_tokens is required and must be a "
             "positive integer");
        goto bad;
    }
    if ((v = json_object_get(in, "system")) != NULL && !json_is_null(v)
        && convert_system(&r, v, messages)) {
        goto bad;
    }
    if (convert_messages(&r, json_object_get(in, "messages"), messages)) {
        goto bad;
    }
    json_object_foreach((json_t *)in, k, v) {
        int rv = 0;

        if (is_gateway_field(k)) {
            json_object_set(out, k, v);
            continue;
        }
        if (!strcmp(k, "messages") || !strcmp(k, "system")) {
            continue;
        }
        if (json_is_null(v)) {
            continue;           /* null is sending nothing */
        }
        if (!strcmp(k, "model")) {
            if (!json_is_string(v)) {
                rv = fail_type(&r, k, "a string");
            }
            else {
                json_object_set(out, "model", v);
            }
        }
        else if (!strcmp(k, "max_tokens")) {
            json_object_set(out, "max_completion_tokens", v);
        }
        else if (!strcmp(k, "stop_sequences")) {
            size_t i;
            const json_t *s;
            if (!json_is_array(v)) {
                rv = fail_type(&r, k, "an array of strings");
            }
            json_array_foreach(v, i, s) {
                if (!json_is_string(s)) {
                    rv = fail_type(&r, apr_psprintf(p, "stop_sequences[%u]",
                                                    (unsigned)i), "a string");
                }
            }
            if (rv == 0 && json_array_size(v) > 0) {
                json_object_set(out, "stop", v);
            }
        }
        else if (!strcmp(k, "temperature") || !strcmp(k, "top_p")) {
            if (!is_number(v)) {
                rv = fail_type(&r, k, "a number");
            }
            else {
                json_object_set(out, k, v);
            }
        }
        else if (!strcmp(k, "top_k")) {
            if (!json_is_integer(v)) {
                rv = fail_type(&r, k, "an integer");
            }
            else {
                json_object_set(out, k, v);
            }
        }
        else if (!strcmp(k, "stream")) {
            if (!json_is_boolean(v)) {
                rv = fail_type(&r, k, "a boolean");
            }
            else if (json_is_true(v)) {
                json_object_set_new(out, "stream", json_true());
                json_object_set_new(out, "stream_options",
                                    json_pack("{s:b}", "include_usage", 1));
            }
        }
        else if (!strcmp(k, "tools")) {
            rv = convert_tools(&r, v, out);
        }
        else if (!strcmp(k, "tool_choice")) {
            rv = convert_tool_choice(&r, v, out);
        }
        else if (!strcmp(k, "thinking")) {
            rv = json_is_object(v) ? convert_thinking(&r, v, out)
                                   : fail_type(&r, k, "an object");
        }
        else if (!strcmp(k, "metadata")) {
            rv = convert_metadata(&r, v, out);
        }
        else {
            rv = unsupported(&r, apr_pstrdup(p, k),
                      apr_psprintf(p, "%s cannot be translated for this "
                                   "provider", k));
        }
        if (rv) {
            goto bad;
        }
    }
    json_object_set_new(out, "messages", messages);
    *chat = out;
    return 0;

bad:
    json_decref(messages);
    json_decref(out);
    /* pool copies: a member name points into the client's tree */
    *err = apr_pstrdup(p, r.err ? r.err : "invalid request");
    *param = r.param ? apr_pstrdup(p, r.param) : NULL;
    *code = r.code;
    return 400;
}
