/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The reference for the Responses adapter's request writer
 * (mod_llmgw/api/llmgw_responses_request.c writes the Chat request from the
 * client's text): the tree converter it replaced, kept for the tests only.
 * test_api_responses.c checks that both give the same Chat request (as
 * JSON documents, gateway fields removed) or the same error. Not built into
 * any module. */
#include <string.h>
#include <apr_strings.h>
#include "llmgw_client_api.h"
#include "llmgw_types.h"

typedef struct {
    apr_pool_t *p;
    const char **err;
    const char **param;
    const char **code;          /* LLMGW_API_UNSUPPORTED or NULL */
} rq_t;

static int bad(rq_t *q, const char *param, const char *msg)
{
    *q->err = msg;
    *q->param = param;
    return 400;
}

/* Valid, but without a Chat form: a 400 unsupported_parameter. */
static int unsupported(rq_t *q, const char *param, const char *msg)
{
    *q->code = LLMGW_API_UNSUPPORTED;
    return bad(q, param, msg);
}

static int given(const json_t *v)
{
    return v != NULL && !json_is_null(v);
}

static int is_data_url(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) >= 5
           && !strncasecmp(json_string_value(v), "data:", 5);
}

/* ------------------------------------------------------------ content */

/* One content part of a message item -> a Chat part (new reference), or
 * NULL with the error set. */
static json_t *part_to_chat(rq_t *q, const json_t *part, const char *where,
                            const char *role)
{
    const char *type = json_string_value(json_object_get(part, "type"));

    if (!json_is_object(part) || type == NULL) {
        bad(q, where, "content parts must be objects with a type");
        return NULL;
    }
    if (!strcmp(type, "input_text") || !strcmp(type, "output_text")
        || !strcmp(type, "refusal")) {
        const char *k = type[0] == 'r' ? "refusal" : "text";
        const json_t *t = json_object_get(part, k);
        if (!json_is_string(t)) {
            bad(q, apr_pstrcat(q->p, where, ".", k, NULL),
                apr_psprintf(q->p, "%s parts need a %s string", type, k));
            return NULL;
        }
        return json_pack("{s:s,s:O}", "type", "text", "text", t);
    }
    if (strcmp(role, "user")) {
        bad(q, apr_pstrcat(q->p, where, ".type", NULL),
            apr_psprintf(q->p, "%s messages take text parts only, not '%s'",
                         role, type));
        return NULL;
    }
    if (!strcmp(type, "input_image")) {
        const json_t *url = json_object_get(part, "image_url");
        const json_t *detail = json_object_get(part, "detail");
        if (given(json_object_get(part, "file_id"))) {
            unsupported(q, apr_pstrcat(q->p, where, ".file_id", NULL),
                "input_image file_id is not supported by the gateway: send "
                "image_url (a URL or a data URL)");
            return NULL;
        }
        if (!json_is_string(url)) {
            bad(q, apr_pstrcat(q->p, where, ".image_url", NULL),
                "input_image needs an image_url string");
            return NULL;
        }
        if (given(detail) && !json_is_string(detail)) {
            bad(q, apr_pstrcat(q->p, where, ".detail", NULL),
                "detail must be a string");
            return NULL;
        }
        return json_pack("{s:s,s:{s:O,s:O*}}", "type", "image_url",
                         "image_url", "url", url,
                         "detail", given(detail) ? detail : NULL);
    }
    if (!strcmp(type, "input_file")) {
        const json_t *fd = json_object_get(part, "file_data");
        const json_t *fn = json_object_get(part, "filename");
        if (!is_data_url(fd)) {
            unsupported(q, apr_pstrcat(q->p, where, ".file_data", NULL),
                "input_file needs file_data as a data: URL (file_id and "
                "file_url are not supported by the gateway)");
            return NULL;
        }
        if (given(fn) && !json_is_string(fn)) {
            bad(q, apr_pstrcat(q->p, where, ".filename", NULL),
                "filename must be a string");
            return NULL;
        }
        return json_pack("{s:s,s:{s:O,s:O*}}", "type", "file", "file",
                         "file_data", fd,
                         "filename", given(fn) ? fn : NULL);
    }
    bad(q, apr_pstrcat(q->p, where, ".type", NULL),
        apr_psprintf(q->p, "unsupported content part type '%s'", type));
    return NULL;
}

/* A message item's content -> Chat content (new reference): a string as
 * it is, parts converted (a single text part of a non-user role becomes a
 * string). */
static json_t *content_to_chat(rq_t *q, const json_t *content,
                               const char *where, const char *role)
{
    json_t *out;
    const json_t *part;
    size_t j;

    if (json_is_string(content)) {
        return json_incref((json_t *)content);
    }
    if (!json_is_array(content)) {
        bad(q, where, "content must be a string or an array of parts");
        return NULL;
    }
    out = json_array();
    json_array_foreach(content, j, part) {
        json_t *cp = part_to_chat(q, part, apr_psprintf(q->p, "%s[%lu]", where,
                                                        (unsigned long)j),
                                  role);
        if (cp == NULL) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, cp);
    }
    if (strcmp(role, "user") && json_array_size(out) == 1) {
        json_t *s = json_incref(json_object_get(json_array_get(out, 0),
                                                "text"));
        json_decref(out);
        return s;
    }
    return out;
}

/* -------------------------------------------------------------- items */

static int is_role(const char *r)
{
    return r && (!strcmp(r, "user") || !strcmp(r, "assistant")
                 || !strcmp(r, "system") || !strcmp(r, "developer"));
}

/* The last Chat message when it is an assistant message, else NULL. */
static json_t *last_assistant(json_t *msgs)
{
    json_t *m = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *r = json_string_value(json_object_get(m, "role"));
    return r && !strcmp(r, "assistant") ? m : NULL;
}

static int item_string(rq_t *q, const json_t *item, const char *k,
                       const char *where, const json_t **out)
{
    *out = json_object_get(item, k);
    if (!json_is_string(*out)) {
        return bad(q, apr_pstrcat(q->p, where, ".", k, NULL),
                   apr_psprintf(q->p, "%s must be a string", k));
    }
    return 0;
}

/* function_call_output.output: a string, or input_text parts (joined). */
static json_t *call_output(rq_t *q, const json_t *out, const char *where)
{
    const json_t *part;
    size_t j;
    char *txt = "";

    if (json_is_string(out)) {
        return json_incref((json_t *)out);
    }
    if (json_is_array(out)) {
        json_array_foreach(out, j, part) {
            const char *t = json_string_value(json_object_get(part, "type"));
            const json_t *s = json_object_get(part, "text");
            if (!t || (strcmp(t, "input_text") && strcmp(t, "output_text"))
                || !json_is_string(s)) {
                bad(q, apr_psprintf(q->p, "%s.output[%lu]", where,
                                    (unsigned long)j),
                    "function_call_output output parts must be input_text");
                return NULL;
            }
            txt = apr_pstrcat(q->p, txt, json_string_value(s), NULL);
        }
        return json_string(txt);
    }
    bad(q, apr_pstrcat(q->p, where, ".output", NULL),
        "output must be a string");
    return NULL;
}

/* Appends the Chat messages of input items to msgs. prefix names the
 * items in errors ("input"). */
static int items_to_chat(rq_t *q, const json_t *items, const char *prefix,
                         json_t *msgs)
{
    const json_t *item;
    size_t i;

    json_array_foreach(items, i, item) {
        const char *where = apr_psprintf(q->p, "%s[%lu]", prefix,
                                         (unsigned long)i);
        const json_t *jt = json_object_get(item, "type");
        const char *type = json_string_value(jt);

        if (!json_is_object(item)) {
            return bad(q, where, "input items must be objects");
        }
        if (given(jt) && !type) {
            return bad(q, apr_pstrcat(q->p, where, ".type", NULL),
                       "type must be a string");
        }
        if (type == NULL || !strcmp(type, "message")) {
            const char *role = json_string_value(json_object_get(item,
                                                                 "role"));
            json_t *content;
            if (!is_role(role)) {
                return bad(q, apr_pstrcat(q->p, where, ".role", NULL),
                           "role must be user, assistant, system or "
                           "developer");
            }
            content = content_to_chat(q, json_object_get(item, "content"),
                                      apr_pstrcat(q->p, where, ".content",
                                                  NULL), role);
            if (content == NULL) {
                return 400;
            }
            json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", role,
                                                  "content", content));
        }
        else if (!strcmp(type, "function_call")) {
            const json_t *call_id, *name, *args;
            json_t *m, *calls;
            if (item_string(q, item, "call_id", where, &call_id)
                || item_string(q, item, "name", where, &name)
                || item_string(q, item, "arguments", where, &args)) {
                return 400;
            }
            if ((m = last_assistant(msgs)) == NULL) {
                m = json_pack("{s:s,s:n}", "role", "assistant", "content");
                json_array_append_new(msgs, m);
            }
            if ((calls = json_object_get(m, "tool_calls")) == NULL) {
                calls = json_array();
                json_object_set_new(m, "tool_calls", calls);
            }
            json_array_append_new(calls, json_pack(
                "{s:O,s:s,s:{s:O,s:O}}", "id", call_id, "type", "function",
                "function", "name", name, "arguments", args));
        }
        else if (!strcmp(type, "function_call_output")) {
            const json_t *call_id;
            json_t *out;
            if (item_string(q, item, "call_id", where, &call_id)) {
                return 400;
            }
            if ((out = call_output(q, json_object_get(item, "output"),
                                   where)) == NULL) {
                return 400;
            }
            json_array_append_new(msgs, json_pack("{s:s,s:O,s:o}",
                                                  "role", "tool",
                                                  "tool_call_id", call_id,
                                                  "content", out));
        }
        else if (!strcmp(type, "reasoning")) {
            continue;          /* the provider's own thinking: not resent */
        }
        else {
            return bad(q, apr_pstrcat(q->p, where, ".type", NULL),
                       apr_psprintf(q->p, "input items of type '%s' are not "
                                    "supported by the gateway", type));
        }
    }
    return 0;
}

/* -------------------------------------------------------------- tools */

static int tools_to_chat(rq_t *q, const json_t *tools, json_t *chat)
{
    json_t *out;
    const json_t *t;
    size_t i;

    if (!json_is_array(tools)) {
        return bad(q, "tools", "tools must be an array");
    }
    out = json_array();
    json_array_foreach(tools, i, t) {
        const char *type = json_string_value(json_object_get(t, "type"));
        const json_t *name = json_object_get(t, "name");
        const json_t *desc = json_object_get(t, "description");
        const json_t *params = json_object_get(t, "parameters");
        const json_t *strict = json_object_get(t, "strict");
        const char *where = apr_psprintf(q->p, "tools[%lu]", (unsigned long)i);

        if (type == NULL || strcmp(type, "function")) {
            json_decref(out);
            return unsupported(q, "tools", apr_psprintf(q->p, "tools of type '%s' "
                       "are not supported by the gateway: function tools "
                       "only", type ? type : "(none)"));
        }
        if (!json_is_string(name)) {
            json_decref(out);
            return bad(q, apr_pstrcat(q->p, where, ".name", NULL),
                       "function tools need a name");
        }
        if ((given(desc) && !json_is_string(desc))
            || (given(params) && !json_is_object(params))
            || (given(strict) && !json_is_boolean(strict))) {
            json_decref(out);
            return bad(q, where, "description must be a string, parameters "
                       "an object and strict a boolean");
        }
        json_array_append_new(out, json_pack(
            "{s:s,s:{s:O,s:O*,s:O*,s:O*}}", "type", "function", "function",
            "name", name, "description", given(desc) ? desc : NULL,
            "parameters", given(params) ? params : NULL,
            "strict", given(strict) ? strict : NULL));
    }
    json_object_set_new(chat, "tools", out);
    return 0;
}

static int tool_choice_to_chat(rq_t *q, const json_t *tc, json_t *chat)
{
    const char *s = json_string_value(tc);

    if (s && (!strcmp(s, "auto") || !strcmp(s, "none")
              || !strcmp(s, "required"))) {
        json_object_set(chat, "tool_choice", (json_t *)tc);
        return 0;
    }
    if (json_is_object(tc)) {
        const char *type = json_string_value(json_object_get(tc, "type"));
        const json_t *name = json_object_get(tc, "name");
        if (type && !strcmp(type, "function") && json_is_string(name)) {
            json_object_set_new(chat, "tool_choice", json_pack(
                "{s:s,s:{s:O}}", "type", "function", "function", "name",
                name));
            return 0;
        }
    }
    return bad(q, "tool_choice", "tool_choice must be auto, none, required "
               "or {\"type\":\"function\",\"name\":...}");
}

/* text: {format: {type text | json_object | json_schema}, verbosity}. */
static int text_to_chat(rq_t *q, const json_t *text, json_t *chat)
{
    const json_t *fmt = json_object_get(text, "format");
    const char *k;
    const json_t *v;
    const char *type;

    if (!json_is_object(text)) {
        return bad(q, "text", "text must be an object");
    }
    json_object_foreach((json_t *)text, k, v) {
        if (strcmp(k, "format") && given(v)) {
            return unsupported(q, apr_pstrcat(q->p, "text.", k, NULL),
                       apr_psprintf(q->p, "text.%s is not supported by the "
                                    "gateway", k));
        }
    }
    if (!given(fmt)) {
        return 0;
    }
    type = json_string_value(json_object_get(fmt, "type"));
    if (type == NULL) {
        return bad(q, "text.format.type", "text.format needs a type");
    }
    if (!strcmp(type, "text")) {
        return 0;
    }
    if (!strcmp(type, "json_object")) {
        json_object_set_new(chat, "response_format",
                            json_pack("{s:s}", "type", "json_object"));
        return 0;
    }
    if (!strcmp(type, "json_schema")) {
        const json_t *name = json_object_get(fmt, "name");
        const json_t *schema = json_object_get(fmt, "schema");
        const json_t *strict = json_object_get(fmt, "strict");
        const json_t *desc = json_object_get(fmt, "description");
        if (!json_is_string(name)) {
            return bad(q, "text.format.name", "json_schema needs a name");
        }
        if (!json_is_object(schema)) {
            return bad(q, "text.format.schema",
                       "json_schema needs a schema object");
        }
        if ((given(strict) && !json_is_boolean(strict))
            || (given(desc) && !json_is_string(desc))) {
            return bad(q, "text.format", "strict must be a boolean and "
                       "description a string");
        }
        json_object_set_new(chat, "response_format", json_pack(
            "{s:s,s:{s:O,s:O*,s:O,s:O*}}", "type", "json_schema",
            "json_schema", "name", name,
            "description", given(desc) ? desc : NULL, "schema", schema,
            "strict", given(strict) ? strict : NULL));
        return 0;
    }
    return bad(q, "text.format.type", apr_psprintf(q->p, "text.format type "
               "'%s' is not supported", type));
}

/* ------------------------------------------------------------ request */

static const char *const gateway_fields[] = { LLMGW_GATEWAY_FIELDS, NULL };

static int is_gateway_field(const char *k)
{
    int i;
    for (i = 0; gateway_fields[i]; i++) {
        if (!strcmp(k, gateway_fields[i])) {
            return 1;
        }
    }
    return 0;
}

/* One member of the request; 0 when taken or known and ignored. */
static int member_to_chat(rq_t *q, const char *k, const json_t *v,
                          json_t *chat)
{
    if (!strcmp(k, "model") || !strcmp(k, "input")
        || !strcmp(k, "instructions")) {
        return 0;                           /* read before */
    }
    if (is_gateway_field(k)) {
        json_object_set(chat, k, (json_t *)v);
        return 0;
    }
    if (!given(v)) {
        return 0;
    }
    if (!strcmp(k, "tools")) {
        return tools_to_chat(q, v, chat);
    }
    if (!strcmp(k, "tool_choice")) {
        return tool_choice_to_chat(q, v, chat);
    }
    if (!strcmp(k, "max_output_tokens")) {
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            return bad(q, k, "max_output_tokens must be a positive integer");
        }
        json_object_set(chat, "max_completion_tokens", (json_t *)v);
        return 0;
    }
    if (!strcmp(k, "temperature") || !strcmp(k, "top_p")) {
        if (!json_is_number(v)) {
            return bad(q, k, apr_psprintf(q->p, "%s must be a number", k));
        }
        json_object_set(chat, k, (json_t *)v);
        return 0;
    }
    if (!strcmp(k, "parallel_tool_calls") || !strcmp(k, "stream")
        || !strcmp(k, "store") || !strcmp(k, "background")) {
        if (!json_is_boolean(v)) {
            return bad(q, k, apr_psprintf(q->p, "%s must be a boolean", k));
        }
        if (!strcmp(k, "background") && json_is_true(v)) {
            return unsupported(q, k, "background responses are not supported by the "
                       "gateway");
        }
        if (!strcmp(k, "parallel_tool_calls") || !strcmp(k, "stream")) {
            json_object_set(chat, k, (json_t *)v);
        }
        if (!strcmp(k, "stream") && json_is_true(v)) {
            json_object_set_new(chat, "stream_options",
                                json_pack("{s:b}", "include_usage", 1));
        }
        return 0;                           /* store: the gateway's */
    }
    if (!strcmp(k, "user") || !strcmp(k, "previous_response_id")) {
        if (!json_is_string(v)) {
            return bad(q, k, apr_psprintf(q->p, "%s must be a string", k));
        }
        if (!strcmp(k, "user")) {
            json_object_set(chat, k, (json_t *)v);
        }
        return 0;
    }
    if (!strcmp(k, "metadata")) {
        return json_is_object(v) ? 0 : bad(q, k, "metadata must be an object");
    }
    if (!strcmp(k, "include")) {
        return json_is_array(v) ? 0 : bad(q, k, "include must be an array");
    }
    if (!strcmp(k, "truncation")) {
        const char *s = json_string_value(v);
        if (s && !strcmp(s, "disabled")) {
            return 0;
        }
        return bad(q, k, "truncation other than \"disabled\" is not "
                   "supported by the gateway");
    }
    if (!strcmp(k, "text")) {
        return text_to_chat(q, v, chat);
    }
    if (!strcmp(k, "reasoning")) {
        const json_t *effort = json_object_get(v, "effort");
        if (!json_is_object(v)) {
            return bad(q, k, "reasoning must be an object");
        }
        if (given(effort)) {
            if (!json_is_string(effort)) {
                return bad(q, "reasoning.effort", "effort must be a string");
            }
            json_object_set(chat, "reasoning_effort", (json_t *)effort);
        }
        return 0;                           /* summary: ours to write */
    }
    return unsupported(q, k, apr_psprintf(q->p, "%s is not supported by the gateway",
                                  k));
}

int ut_ref_resp_to_chat(apr_pool_t *p, const json_t *in,
                        const llmgw_api_ctx_t *c, json_t **chat,
                        const char **err, const char **param,
                        const char **code)
{
    rq_t q;
    const json_t *model = json_object_get(in, "model");
    const json_t *input = json_object_get(in, "input");
    const json_t *instr = json_object_get(in, "instructions");
    json_t *out, *msgs;
    const char *k;
    const json_t *v;
    int rv = 0;

    q.p = p;
    q.err = err;
    q.param = param;
    q.code = code;
    *code = NULL;
    *chat = NULL;
    if (!json_is_object(in)) {
        return bad(&q, NULL, "the request must be a JSON object");
    }
    if (!json_is_string(model) || json_string_length(model) == 0) {
        return bad(&q, "model", "model must be a non-empty string");
    }
    if (!json_is_string(input) && !json_is_array(input)) {
        return bad(&q, "input", given(input)
                   ? "input must be a string or an array of items"
                   : "input is required");
    }
    if (given(instr) && !json_is_string(instr)) {
        return bad(&q, "instructions", "instructions must be a string");
    }
    msgs = json_array();
    out = json_pack("{s:O,s:o}", "model", model, "messages", msgs);
    if (given(instr)) {
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "system",
                                              "content", instr));
    }
    if (c && json_is_array(c->history)
        && (rv = items_to_chat(&q, c->history, "previous_response_id",
                               msgs))) {
        goto fail;
    }
    if (json_is_string(input)) {
        json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user",
                                              "content", input));
    }
    else if ((rv = items_to_chat(&q, input, "input", msgs))) {
        goto fail;
    }
    if (json_array_size(msgs) == 0) {
        rv = bad(&q, "input", "input has no message");
        goto fail;
    }
    json_object_foreach((json_t *)in, k, v) {
        if ((rv = member_to_chat(&q, k, v, out))) {
            goto fail;
        }
    }
    *chat = out;
    return 0;
fail:
    json_decref(out);
    return rv;
}

