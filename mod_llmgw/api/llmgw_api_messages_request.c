/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* An Anthropic Messages request -> the Chat Completions request the
 * provider translators take (to_chat_text of llmgw_api_messages), written
 * from the client's text: the scanner's spans of each member, strings and
 * objects copied as the client wrote them, no tree either way. Every
 * member is translated, left to the gateway (its own fields: not written)
 * or refused with a 400 naming it: nothing is dropped silently (SPEC
 * "Translation").
 *
 * Read as jansson would read the text: a member given twice counts once,
 * at its first place, with its last value; a string compared or written as
 * a C string (a role, an id, a name) ends at its first "\u0000", one
 * copied as a value keeps it. t/unit/test_api_messages.c checks the writer
 * against the tree converter it replaced (t/unit/lib/ref_msg_to_chat.c) on
 * every request of the unit tests and the fuzz seeds. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_api_messages.h"
#include "llmgw_api_obj.h"
#include "llmgw_buf.h"
#include "llmgw_json_scan.h"
#include "llmgw_num.h"

typedef struct {
    apr_pool_t *p;
    const char *err;
    const char *param;
    const char *code;           /* LLMGW_API_UNSUPPORTED or NULL */
} req_t;

/* ------------------------------------------------------------ reading */

#define KEY_IS(k, kl, lit) ((kl) == sizeof(lit) - 1 \
                            && !memcmp((k), (lit), sizeof(lit) - 1))

static int is(const llmgw_jspan_t *v, llmgw_jv_type_e t)
{
    return v != NULL && v->type == t;
}

static int is_null(const llmgw_jspan_t *v)
{
    return is(v, LLMGW_JV_NULL);
}

/* json_is_integer: a number without fraction or exponent. */
static int is_int(const llmgw_jspan_t *v)
{
    return is(v, LLMGW_JV_NUMBER) && !memchr(v->p, '.', v->len)
           && !memchr(v->p, 'e', v->len) && !memchr(v->p, 'E', v->len);
}

/* An integer > 0 (no sign, not all zeros). */
static int is_positive(const llmgw_jspan_t *v)
{
    apr_size_t i;
    if (!is_int(v) || v->p[0] == '-') {
        return 0;
    }
    for (i = 0; i < v->len; i++) {
        if (v->p[i] != '0') {
            return 1;
        }
    }
    return 0;
}

/* A string member as C reads it (up to its first NUL), or NULL. */
static const char *cstr(req_t *r, const llmgw_jspan_t *v)
{
    if (!is(v, LLMGW_JV_STRING)) {
        return NULL;
    }
    if (!v->escaped) {
        return apr_pstrmemdup(r->p, v->p + 1, v->len - 2);
    }
    return llmgw_json_string_value(r->p, v, NULL);
}

/* Whether v is a string whose C reading is lit. */
static int str_is(req_t *r, const llmgw_jspan_t *v, const char *lit)
{
    apr_size_t n = strlen(lit);
    if (!is(v, LLMGW_JV_STRING)) {
        return 0;
    }
    if (!v->escaped) {
        return v->len - 2 == n && !memcmp(v->p + 1, lit, n);
    }
    return !strcmp(cstr(r, v), lit);
}

/* ------------------------------------------------------------ writing */

static void put(llmgw_buf_t *b, const llmgw_jspan_t *v)
{
    llmgw_buf_append(b, v->p, v->len);
}

/* A string as json_string(C string) writes it: up to its first NUL. */
static void put_cstr(req_t *r, llmgw_buf_t *b, const llmgw_jspan_t *v)
{
    const char *s;
    if (!v->escaped) {
        put(b, v);
        return;
    }
    s = cstr(r, v);
    llmgw_buf_json_string(b, s, strlen(s));
}

/* ------------------------------------------------------------- errors */

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

/* ------------------------------------------------------------- blocks */

/* "data:MIME;base64,DATA" from an Anthropic base64 source (src read). */
static int put_data_url(req_t *r, llmgw_buf_t *b, const llmgw_jobj_t *src,
                        const char *param)
{
    const llmgw_jspan_t *mime = llmgw_jobj_get(src, "media_type");
    const llmgw_jspan_t *data = llmgw_jobj_get(src, "data");
    const char *m = cstr(r, mime);

    if (m == NULL || !*m) {
        return fail_type(r, apr_pstrcat(r->p, param, ".media_type", NULL),
                         "a non-empty string");
    }
    if (!is(data, LLMGW_JV_STRING)) {
        return fail_type(r, apr_pstrcat(r->p, param, ".data", NULL),
                         "a string");
    }
    LLMGW_BUF_LIT(b, "\"data:");
    if (mime->escaped) {                /* m, inside its quotes */
        llmgw_buf_json_escape(b, m, strlen(m));
    }
    else {
        llmgw_buf_append(b, mime->p + 1, mime->len - 2);
    }
    LLMGW_BUF_LIT(b, ";base64,");
    llmgw_buf_append(b, data->p + 1, data->len - 1);    /* and its quote */
    return 0;
}

/* image block -> image_url part. */
static int put_image(req_t *r, llmgw_buf_t *b, const llmgw_jobj_t *blk,
                     const char *bp)
{
    const llmgw_jspan_t *sv = llmgw_jobj_get(blk, "source");
    const char *sp = apr_pstrcat(r->p, bp, ".source", NULL);
    llmgw_jobj_t src;
    const llmgw_jspan_t *url;

    llmgw_jobj_read(&src, r->p, sv);
    if (str_is(r, llmgw_jobj_get(&src, "type"), "base64")) {
        LLMGW_BUF_LIT(b, "{\"type\":\"image_url\",\"image_url\":{\"url\":");
        if (put_data_url(r, b, &src, sp)) {
            return -1;
        }
        LLMGW_BUF_LIT(b, "}}");
        return 0;
    }
    if (str_is(r, llmgw_jobj_get(&src, "type"), "url")
        && is(url = llmgw_jobj_get(&src, "url"), LLMGW_JV_STRING)) {
        LLMGW_BUF_LIT(b, "{\"type\":\"image_url\",\"image_url\":{\"url\":");
        put(b, url);
        LLMGW_BUF_LIT(b, "}}");
        return 0;
    }
    return fail(r, sp, apr_psprintf(r->p, "%s must be a base64 or url image "
                                    "source (others cannot be translated "
                                    "for this provider)", sp));
}

/* document block: only a base64 PDF -> a file part. */
static int put_document(req_t *r, llmgw_buf_t *b, const llmgw_jobj_t *blk,
                        const char *bp)
{
    const char *sp = apr_pstrcat(r->p, bp, ".source", NULL);
    const llmgw_jspan_t *title = llmgw_jobj_get(blk, "title");
    llmgw_jobj_t src;

    llmgw_jobj_read(&src, r->p, llmgw_jobj_get(blk, "source"));
    if (!str_is(r, llmgw_jobj_get(&src, "type"), "base64")
        || !str_is(r, llmgw_jobj_get(&src, "media_type"), "application/pdf")) {
        return fail(r, sp, apr_psprintf(r->p, "%s: only base64 PDF documents "
                                        "can be translated for this "
                                        "provider", sp));
    }
    LLMGW_BUF_LIT(b, "{\"type\":\"file\",\"file\":{\"file_data\":");
    if (put_data_url(r, b, &src, sp)) {
        return -1;
    }
    if (is(title, LLMGW_JV_STRING)) {
        LLMGW_BUF_LIT(b, ",\"filename\":");
        put_cstr(r, b, title);
    }
    LLMGW_BUF_LIT(b, "}}");
    return 0;
}

/* The text of a text block (the whole string: "\u0000" is content). */
static const llmgw_jspan_t *block_text(req_t *r, const llmgw_jobj_t *blk,
                                       const char *bp)
{
    const llmgw_jspan_t *t = llmgw_jobj_get(blk, "text");
    if (!is(t, LLMGW_JV_STRING)) {
        fail_type(r, apr_pstrcat(r->p, bp, ".text", NULL), "a string");
        return NULL;
    }
    return t;
}

typedef struct {
    req_t *r;
    const char *param;          /* of the array */
    apr_array_header_t *texts;  /* llmgw_jspan_t: the texts */
    unsigned i;
    int rv;
} tr_t;

static int tool_result_block(void *baton, const char *k, apr_size_t kl,
                             int esc, const llmgw_jspan_t *x)
{
    tr_t *t = baton;
    req_t *r = t->r;
    const char *xp = llmgw_param_at(r->p, t->param, "", t->i++);
    const llmgw_jspan_t *txt;
    llmgw_jobj_t o;
    (void)k; (void)kl; (void)esc;

    llmgw_jobj_read(&o, r->p, x);
    if (!str_is(r, llmgw_jobj_get(&o, "type"), "text")) {
        t->rv = fail(r, apr_pstrcat(r->p, xp, ".type", NULL),
                     apr_psprintf(r->p, "%s.type: only text blocks in a "
                                  "tool_result can be translated for this "
                                  "provider", xp));
        return 1;
    }
    if ((txt = block_text(r, &o, xp)) == NULL) {
        t->rv = -1;
        return 1;
    }
    APR_ARRAY_PUSH(t->texts, llmgw_jspan_t) = *txt;
    return 0;
}

/* tool_result content (a string or text blocks) -> the tool message's
 * content: one text as a string, several as text parts; is_error marks
 * the text as an error for the model. */
static int put_tool_result_content(req_t *r, llmgw_buf_t *b,
                                   const llmgw_jobj_t *blk, const char *bp)
{
    const llmgw_jspan_t *c = llmgw_jobj_get(blk, "content");
    int is_error = is(llmgw_jobj_get(blk, "is_error"), LLMGW_JV_TRUE);
    tr_t t;
    int i, n;

    memset(&t, 0, sizeof(t));
    t.r = r;
    t.texts = apr_array_make(r->p, 2, sizeof(llmgw_jspan_t));
    if (c == NULL || is_null(c)) {
        /* no text */
    }
    else if (is(c, LLMGW_JV_STRING)) {
        APR_ARRAY_PUSH(t.texts, llmgw_jspan_t) = *c;
    }
    else if (is(c, LLMGW_JV_ARRAY)) {
        t.param = apr_pstrcat(r->p, bp, ".content", NULL);
        llmgw_json_each(c, tool_result_block, &t);
        if (t.rv) {
            return -1;
        }
    }
    else {
        return fail_type(r, apr_pstrcat(r->p, bp, ".content", NULL),
                         "a string or an array of text blocks");
    }
    n = t.texts->nelts + is_error;
    if (n == 0) {
        LLMGW_BUF_LIT(b, "\"\"");
    }
    else if (n == 1) {
        /* one text: a plain string, what every provider takes */
        if (is_error) {
            LLMGW_BUF_LIT(b, "\"Error: \"");
        }
        else {
            put(b, &APR_ARRAY_IDX(t.texts, 0, llmgw_jspan_t));
        }
    }
    else {
        LLMGW_BUF_LIT(b, "[");
        if (is_error) {
            LLMGW_BUF_LIT(b, "{\"type\":\"text\",\"text\":\"Error: \"}");
        }
        for (i = 0; i < t.texts->nelts; i++) {
            llmgw_buf_json_comma(b);
            LLMGW_BUF_LIT(b, "{\"type\":\"text\",\"text\":");
            put(b, &APR_ARRAY_IDX(t.texts, i, llmgw_jspan_t));
            LLMGW_BUF_LIT(b, "}");
        }
        LLMGW_BUF_LIT(b, "]");
    }
    return 0;
}

/* A tool_use input (an object) as Chat's arguments: its compact text as
 * the gateway writes JSON (llmgw_json_dumps), in a string. */
static int put_arguments(req_t *r, llmgw_buf_t *b, const llmgw_jspan_t *in)
{
    json_t *j;
    char *args;

    if (in == NULL) {
        LLMGW_BUF_LIT(b, "\"{}\"");
        return 0;
    }
    j = llmgw_json_loadb(in->p, in->len, JSON_ALLOW_NUL, NULL);
    args = j ? llmgw_json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (args == NULL) {
        return -1;
    }
    llmgw_buf_json_string(b, args, strlen(args));
    free(args);
    (void)r;
    return 0;
}

/* One Anthropic turn -> Chat messages appended to msgs. */
typedef struct {
    req_t *r;
    llmgw_buf_t *msgs;
    const char *mp;             /* "messages[i]" */
    const char *role;
    int user;
    unsigned i;
    llmgw_buf_t parts;          /* user: the content parts */
    llmgw_buf_t text;           /* assistant: the texts, inside quotes */
    int has_text;
    llmgw_buf_t calls;          /* assistant: tool_calls */
} turn_t;

static int turn_block(void *baton, const char *k, apr_size_t kl, int esc,
                      const llmgw_jspan_t *bv)
{
    turn_t *t = baton;
    req_t *r = t->r;
    const char *bp = llmgw_param_at(r->p, t->mp, ".content", t->i++);
    const llmgw_jspan_t *tv;
    const char *type;
    llmgw_jobj_t blk;
    (void)k; (void)kl; (void)esc;

    llmgw_jobj_read(&blk, r->p, bv);
    tv = llmgw_jobj_get(&blk, "type");
    if ((type = cstr(r, tv)) == NULL) {
        return fail(r, apr_pstrcat(r->p, bp, ".type", NULL),
                    apr_psprintf(r->p, "%s must be an object with a type",
                                 bp));
    }
    if (!strcmp(type, "text")) {
        const llmgw_jspan_t *txt = block_text(r, &blk, bp);
        if (txt == NULL) {
            return -1;
        }
        if (t->user) {
            llmgw_buf_json_comma(&t->parts);
            LLMGW_BUF_LIT(&t->parts, "{\"type\":\"text\",\"text\":");
            put(&t->parts, txt);
            LLMGW_BUF_LIT(&t->parts, "}");
        }
        else {
            /* the assistant's texts as one string: what every provider
             * takes (escaped texts join as they are) */
            llmgw_buf_append(&t->text, txt->p + 1, txt->len - 2);
            t->has_text = 1;
        }
        return 0;
    }
    if (!strcmp(type, "thinking") || !strcmp(type, "redacted_thinking")) {
        return 0;               /* history Chat cannot express */
    }
    if (t->user && !strcmp(type, "image")) {
        llmgw_buf_json_comma(&t->parts);
        return put_image(r, &t->parts, &blk, bp);
    }
    if (t->user && !strcmp(type, "document")) {
        llmgw_buf_json_comma(&t->parts);
        return put_document(r, &t->parts, &blk, bp);
    }
    if (!t->user && !strcmp(type, "tool_use")) {
        const llmgw_jspan_t *id = llmgw_jobj_get(&blk, "id");
        const llmgw_jspan_t *name = llmgw_jobj_get(&blk, "name");
        const llmgw_jspan_t *input = llmgw_jobj_get(&blk, "input");
        const char *nm = cstr(r, name);
        if (!is(id, LLMGW_JV_STRING) || nm == NULL || !*nm) {
            return fail(r, bp, apr_psprintf(r->p, "%s: a tool_use block needs "
                                            "an id and a name", bp));
        }
        if (input != NULL && !is(input, LLMGW_JV_OBJECT)) {
            return fail_type(r, apr_pstrcat(r->p, bp, ".input", NULL),
                             "an object");
        }
        llmgw_buf_json_comma(&t->calls);
        LLMGW_BUF_LIT(&t->calls, "{\"id\":");
        put_cstr(r, &t->calls, id);
        LLMGW_BUF_LIT(&t->calls, ",\"type\":\"function\",\"function\":"
                      "{\"name\":");
        put_cstr(r, &t->calls, name);
        LLMGW_BUF_LIT(&t->calls, ",\"arguments\":");
        if (put_arguments(r, &t->calls, input)) {
            return fail(r, bp, "a tool_use input cannot be serialised");
        }
        LLMGW_BUF_LIT(&t->calls, "}}");
        return 0;
    }
    if (t->user && !strcmp(type, "tool_result")) {
        const llmgw_jspan_t *id = llmgw_jobj_get(&blk, "tool_use_id");
        if (!is(id, LLMGW_JV_STRING)) {
            return fail_type(r, apr_pstrcat(r->p, bp, ".tool_use_id", NULL),
                             "a string");
        }
        /* before the rest of the turn: the answers follow the calls */
        llmgw_buf_json_comma(t->msgs);
        LLMGW_BUF_LIT(t->msgs, "{\"role\":\"tool\",\"tool_call_id\":");
        put_cstr(r, t->msgs, id);
        LLMGW_BUF_LIT(t->msgs, ",\"content\":");
        if (put_tool_result_content(r, t->msgs, &blk, bp)) {
            return -1;
        }
        LLMGW_BUF_LIT(t->msgs, "}");
        return 0;
    }
    return unsupported(r, apr_pstrcat(r->p, bp, ".type", NULL),
                       apr_psprintf(r->p, "%s: a %s %s block cannot be "
                                    "translated for this provider", bp,
                                    t->role, type));
}

typedef struct {
    req_t *r;
    llmgw_buf_t *msgs;
    unsigned i;
} msgs_t;

static int one_message(void *baton, const char *k, apr_size_t kl, int esc,
                       const llmgw_jspan_t *m)
{
    msgs_t *ms = baton;
    req_t *r = ms->r;
    const char *mp = llmgw_param_at(r->p, "messages", "", ms->i++);
    const llmgw_jspan_t *content;
    llmgw_jobj_t o;
    turn_t t;
    (void)k; (void)kl; (void)esc;

    if (!is(m, LLMGW_JV_OBJECT)) {
        return fail_type(r, mp, "an object");
    }
    llmgw_jobj_read(&o, r->p, m);
    memset(&t, 0, sizeof(t));
    if (str_is(r, llmgw_jobj_get(&o, "role"), "user")) {
        t.user = 1;
        t.role = "user";
    }
    else if (str_is(r, llmgw_jobj_get(&o, "role"), "assistant")) {
        t.role = "assistant";
    }
    else {
        return fail(r, apr_pstrcat(r->p, mp, ".role", NULL),
                    apr_psprintf(r->p, "%s.role must be \"user\" or "
                                 "\"assistant\"", mp));
    }
    content = llmgw_jobj_get(&o, "content");
    if (is(content, LLMGW_JV_STRING)) {
        llmgw_buf_json_comma(ms->msgs);
        if (t.user) {
            LLMGW_BUF_LIT(ms->msgs, "{\"role\":\"user\",\"content\":");
        }
        else {
            LLMGW_BUF_LIT(ms->msgs, "{\"role\":\"assistant\",\"content\":");
        }
        put(ms->msgs, content);
        LLMGW_BUF_LIT(ms->msgs, "}");
        return 0;
    }
    if (!is(content, LLMGW_JV_ARRAY)) {
        return fail_type(r, apr_pstrcat(r->p, mp, ".content", NULL),
                         "a string or an array of content blocks");
    }
    t.r = r;
    t.msgs = ms->msgs;
    t.mp = mp;
    llmgw_buf_init(&t.parts, r->p, 0);
    llmgw_buf_init(&t.text, r->p, 0);
    llmgw_buf_init(&t.calls, r->p, 0);
    if (llmgw_json_each(content, turn_block, &t)) {
        return -1;
    }
    if (t.user) {
        if (t.parts.len) {
            llmgw_buf_json_comma(ms->msgs);
            LLMGW_BUF_LIT(ms->msgs, "{\"role\":\"user\",\"content\":[");
            llmgw_buf_append(ms->msgs, t.parts.data, t.parts.len);
            LLMGW_BUF_LIT(ms->msgs, "]}");
        }
    }
    else if (t.has_text || t.calls.len) {
        llmgw_buf_json_comma(ms->msgs);
        LLMGW_BUF_LIT(ms->msgs, "{\"role\":\"assistant\",\"content\":");
        if (t.has_text) {
            LLMGW_BUF_LIT(ms->msgs, "\"");
            if (t.text.len) {
                llmgw_buf_append(ms->msgs, t.text.data, t.text.len);
            }
            LLMGW_BUF_LIT(ms->msgs, "\"");
        }
        else {
            LLMGW_BUF_LIT(ms->msgs, "null");
        }
        if (t.calls.len) {
            LLMGW_BUF_LIT(ms->msgs, ",\"tool_calls\":[");
            llmgw_buf_append(ms->msgs, t.calls.data, t.calls.len);
            LLMGW_BUF_LIT(ms->msgs, "]");
        }
        LLMGW_BUF_LIT(ms->msgs, "}");
    }
    return 0;
}

static int convert_messages(req_t *r, const llmgw_jspan_t *v,
                            llmgw_buf_t *msgs)
{
    msgs_t ms;
    apr_size_t i;

    if (!is(v, LLMGW_JV_ARRAY)) {
        return fail_type(r, "messages", "an array");
    }
    for (i = 1; i < v->len - 1 && strchr(" \t\r\n", v->p[i]); i++) {
    }
    if (i == v->len - 1) {                  /* "[", white space, "]" */
        return fail(r, "messages", "messages must not be empty");
    }
    ms.r = r;
    ms.msgs = msgs;
    ms.i = 0;
    return llmgw_json_each(v, one_message, &ms) ? -1 : 0;
}

/* ------------------------------------------------------------- system */

typedef struct {
    req_t *r;
    llmgw_buf_t parts;
    unsigned i;
} sys_t;

static int system_block(void *baton, const char *k, apr_size_t kl, int esc,
                        const llmgw_jspan_t *bv)
{
    sys_t *s = baton;
    req_t *r = s->r;
    const char *bp = llmgw_param_at(r->p, "system", "", s->i++);
    const llmgw_jspan_t *t;
    llmgw_jobj_t blk;
    (void)k; (void)kl; (void)esc;

    llmgw_jobj_read(&blk, r->p, bv);
    if (!str_is(r, llmgw_jobj_get(&blk, "type"), "text")) {
        return fail(r, apr_pstrcat(r->p, bp, ".type", NULL),
                    apr_psprintf(r->p, "%s must be a text block", bp));
    }
    if ((t = block_text(r, &blk, bp)) == NULL) {
        return -1;
    }
    llmgw_buf_json_comma(&s->parts);
    LLMGW_BUF_LIT(&s->parts, "{\"type\":\"text\",\"text\":");
    put(&s->parts, t);
    LLMGW_BUF_LIT(&s->parts, "}");
    return 0;
}

/* system: a string or text blocks -> the first message. */
static int convert_system(req_t *r, const llmgw_jspan_t *v, llmgw_buf_t *msgs)
{
    sys_t s;

    if (is(v, LLMGW_JV_STRING)) {
        if (v->len > 2) {
            LLMGW_BUF_LIT(msgs, "{\"role\":\"system\",\"content\":");
            put(msgs, v);
            LLMGW_BUF_LIT(msgs, "}");
        }
        return 0;
    }
    if (!is(v, LLMGW_JV_ARRAY)) {
        return fail_type(r, "system", "a string or an array of text blocks");
    }
    memset(&s, 0, sizeof(s));
    s.r = r;
    llmgw_buf_init(&s.parts, r->p, 0);
    if (llmgw_json_each(v, system_block, &s)) {
        return -1;
    }
    if (s.parts.len) {
        LLMGW_BUF_LIT(msgs, "{\"role\":\"system\",\"content\":[");
        llmgw_buf_append(msgs, s.parts.data, s.parts.len);
        LLMGW_BUF_LIT(msgs, "]}");
    }
    return 0;
}

/* -------------------------------------------------------------- tools */

typedef struct {
    req_t *r;
    llmgw_buf_t *out;
    unsigned i;
} tools_t;

static int one_tool(void *baton, const char *k, apr_size_t kl, int esc,
                    const llmgw_jspan_t *tv)
{
    tools_t *ts = baton;
    req_t *r = ts->r;
    const char *tp = llmgw_param_at(r->p, "tools", "", ts->i++);
    const llmgw_jspan_t *type, *schema, *desc, *strict;
    const char *name;
    llmgw_jobj_t t;
    (void)k; (void)kl; (void)esc;

    llmgw_jobj_read(&t, r->p, tv);
    type = llmgw_jobj_get(&t, "type");
    if (type != NULL && !is_null(type) && !str_is(r, type, "custom")) {
        const char *ts_ = cstr(r, type);
        return unsupported(r, "tools", apr_psprintf(r->p, "%s: the server "
                           "tool '%s' cannot be translated for this provider "
                           "(only custom tools)", tp, ts_ ? ts_ : "?"));
    }
    name = cstr(r, llmgw_jobj_get(&t, "name"));
    if (name == NULL || !*name) {
        return fail_type(r, apr_pstrcat(r->p, tp, ".name", NULL),
                         "a non-empty string");
    }
    schema = llmgw_jobj_get(&t, "input_schema");
    if (!is(schema, LLMGW_JV_OBJECT)) {
        return fail_type(r, apr_pstrcat(r->p, tp, ".input_schema", NULL),
                         "an object");
    }
    llmgw_buf_json_comma(ts->out);
    LLMGW_BUF_LIT(ts->out, "{\"type\":\"function\",\"function\":{\"name\":");
    put_cstr(r, ts->out, llmgw_jobj_get(&t, "name"));
    LLMGW_BUF_LIT(ts->out, ",\"parameters\":");
    put(ts->out, schema);
    if (is(desc = llmgw_jobj_get(&t, "description"), LLMGW_JV_STRING)) {
        LLMGW_BUF_LIT(ts->out, ",\"description\":");
        put(ts->out, desc);
    }
    strict = llmgw_jobj_get(&t, "strict");
    if (is(strict, LLMGW_JV_TRUE) || is(strict, LLMGW_JV_FALSE)) {
        LLMGW_BUF_LIT(ts->out, ",\"strict\":");
        put(ts->out, strict);
    }
    LLMGW_BUF_LIT(ts->out, "}}");
    return 0;
}

static int convert_tools(req_t *r, const llmgw_jspan_t *v, llmgw_buf_t *out)
{
    tools_t ts;

    if (!is(v, LLMGW_JV_ARRAY)) {
        return fail_type(r, "tools", "an array");
    }
    llmgw_buf_json_comma(out);
    LLMGW_BUF_LIT(out, "\"tools\":[");
    ts.r = r;
    ts.out = out;
    ts.i = 0;
    if (llmgw_json_each(v, one_tool, &ts)) {
        return -1;
    }
    LLMGW_BUF_LIT(out, "]");
    return 0;
}

static int convert_tool_choice(req_t *r, const llmgw_jspan_t *v,
                               llmgw_buf_t *out)
{
    llmgw_jobj_t o;
    const llmgw_jspan_t *dp;
    const char *type, *choice;
    const llmgw_jspan_t *name = NULL;

    llmgw_jobj_read(&o, r->p, v);
    if ((type = cstr(r, llmgw_jobj_get(&o, "type"))) == NULL) {
        return fail_type(r, "tool_choice", "an object with a type");
    }
    dp = llmgw_jobj_get(&o, "disable_parallel_tool_use");
    if (!strcmp(type, "auto")) {
        choice = "\"auto\"";
    }
    else if (!strcmp(type, "any")) {
        choice = "\"required\"";
    }
    else if (!strcmp(type, "none")) {
        choice = "\"none\"";
    }
    else if (!strcmp(type, "tool")) {
        const char *nm = cstr(r, name = llmgw_jobj_get(&o, "name"));
        if (nm == NULL || !*nm) {
            return fail_type(r, "tool_choice.name", "a non-empty string");
        }
        choice = NULL;
    }
    else {
        return fail(r, "tool_choice.type", "tool_choice.type must be auto, "
                    "any, tool or none");
    }
    if (dp != NULL && !is_null(dp) && !is(dp, LLMGW_JV_TRUE)
        && !is(dp, LLMGW_JV_FALSE)) {
        return fail_type(r, "tool_choice.disable_parallel_tool_use",
                         "a boolean");
    }
    llmgw_buf_json_comma(out);
    LLMGW_BUF_LIT(out, "\"tool_choice\":");
    if (choice) {
        llmgw_buf_append(out, choice, strlen(choice));
    }
    else {
        LLMGW_BUF_LIT(out, "{\"type\":\"function\",\"function\":{\"name\":");
        put_cstr(r, out, name);
        LLMGW_BUF_LIT(out, "}}");
    }
    if (is(dp, LLMGW_JV_TRUE) && strcmp(type, "none")) {
        LLMGW_BUF_LIT(out, ",\"parallel_tool_calls\":false");
    }
    return 0;
}

static int convert_thinking(req_t *r, const llmgw_jspan_t *v,
                            llmgw_buf_t *out)
{
    llmgw_jobj_t o;
    const llmgw_jspan_t *type, *budget;

    llmgw_jobj_read(&o, r->p, v);
    type = llmgw_jobj_get(&o, "type");
    if (str_is(r, type, "disabled")) {
        return 0;
    }
    if (!str_is(r, type, "enabled")) {
        return fail(r, "thinking.type", "thinking.type must be \"enabled\" "
                    "or \"disabled\"");
    }
    budget = llmgw_jobj_get(&o, "budget_tokens");
    if (!is_positive(budget)) {
        return fail_type(r, "thinking.budget_tokens", "a positive integer");
    }
    llmgw_buf_json_comma(out);
    LLMGW_BUF_LIT(out, "\"reasoning\":{\"max_tokens\":");
    put(out, budget);
    LLMGW_BUF_LIT(out, "}");
    return 0;
}

static int convert_metadata(req_t *r, const llmgw_jspan_t *v,
                            llmgw_buf_t *out)
{
    llmgw_jobj_t o;
    int i;

    if (!is(v, LLMGW_JV_OBJECT)) {
        return fail_type(r, "metadata", "an object");
    }
    llmgw_jobj_read(&o, r->p, v);
    for (i = 0; i < o.n; i++) {
        const llmgw_jmem_t *m = &o.m[i];
        if (KEY_IS(m->k, m->kl, "user_id")) {
            if (is(&m->v, LLMGW_JV_STRING)) {
                llmgw_buf_json_comma(out);
                LLMGW_BUF_LIT(out, "\"user\":");
                put(out, &m->v);
            }
            else if (!is_null(&m->v)) {
                return fail_type(r, "metadata.user_id", "a string");
            }
        }
        else if (!is_null(&m->v)) {
            const char *kp = apr_pstrcat(r->p, "metadata.",
                                         apr_pstrmemdup(r->p, m->k, m->kl),
                                         NULL);
            return unsupported(r, kp, apr_psprintf(r->p, "%s cannot be "
                                                   "translated for this "
                                                   "provider", kp));
        }
    }
    return 0;
}

static int is_gateway_field(const char *k, apr_size_t kl)
{
    static const char *const fields[] = { LLMGW_GATEWAY_FIELDS, NULL };
    int i;

    for (i = 0; fields[i]; i++) {
        if (strlen(fields[i]) == kl && !memcmp(fields[i], k, kl)) {
            return 1;
        }
    }
    return 0;
}

typedef struct {
    req_t *r;
    unsigned i;
    int rv;
} stops_t;

static int one_stop(void *baton, const char *k, apr_size_t kl, int esc,
                    const llmgw_jspan_t *s)
{
    stops_t *st = baton;
    (void)k; (void)kl; (void)esc;
    if (!is(s, LLMGW_JV_STRING)) {
        st->rv = fail_type(st->r, apr_psprintf(st->r->p, "stop_sequences[%u]",
                                               st->i), "a string");
    }
    st->i++;
    return 0;
}

/* One top-level member (not messages, system or a gateway field). */
static int convert_member(req_t *r, const char *k, apr_size_t kl,
                          const llmgw_jspan_t *v, llmgw_buf_t *out)
{
    if (KEY_IS(k, kl, "model")) {
        if (!is(v, LLMGW_JV_STRING)) {
            return fail_type(r, "model", "a string");
        }
        llmgw_buf_json_comma(out);
        LLMGW_BUF_LIT(out, "\"model\":");
        put(out, v);
    }
    else if (KEY_IS(k, kl, "max_tokens")) {
        llmgw_buf_json_comma(out);
        LLMGW_BUF_LIT(out, "\"max_completion_tokens\":");
        put(out, v);
    }
    else if (KEY_IS(k, kl, "stop_sequences")) {
        stops_t st;
        if (!is(v, LLMGW_JV_ARRAY)) {
            return fail_type(r, "stop_sequences", "an array of strings");
        }
        memset(&st, 0, sizeof(st));
        st.r = r;
        llmgw_json_each(v, one_stop, &st);
        if (st.rv) {
            return -1;
        }
        if (st.i > 0) {
            llmgw_buf_json_comma(out);
            LLMGW_BUF_LIT(out, "\"stop\":");
            put(out, v);
        }
    }
    else if (KEY_IS(k, kl, "temperature") || KEY_IS(k, kl, "top_p")) {
        if (!is(v, LLMGW_JV_NUMBER)) {
            return fail_type(r, apr_pstrmemdup(r->p, k, kl), "a number");
        }
        llmgw_buf_json_comma(out);
        llmgw_buf_json_string(out, k, kl);
        LLMGW_BUF_LIT(out, ":");
        put(out, v);
    }
    else if (KEY_IS(k, kl, "top_k")) {
        if (!is_int(v)) {
            return fail_type(r, "top_k", "an integer");
        }
        llmgw_buf_json_comma(out);
        LLMGW_BUF_LIT(out, "\"top_k\":");
        put(out, v);
    }
    else if (KEY_IS(k, kl, "stream")) {
        if (!is(v, LLMGW_JV_TRUE) && !is(v, LLMGW_JV_FALSE)) {
            return fail_type(r, "stream", "a boolean");
        }
        if (is(v, LLMGW_JV_TRUE)) {
            llmgw_buf_json_comma(out);
            LLMGW_BUF_LIT(out, "\"stream\":true,"
                          "\"stream_options\":{\"include_usage\":true}");
        }
    }
    else if (KEY_IS(k, kl, "tools")) {
        return convert_tools(r, v, out);
    }
    else if (KEY_IS(k, kl, "tool_choice")) {
        return convert_tool_choice(r, v, out);
    }
    else if (KEY_IS(k, kl, "thinking")) {
        return is(v, LLMGW_JV_OBJECT) ? convert_thinking(r, v, out)
                                      : fail_type(r, "thinking", "an object");
    }
    else if (KEY_IS(k, kl, "metadata")) {
        return convert_metadata(r, v, out);
    }
    else {
        const char *name = apr_pstrmemdup(r->p, k, kl);
        return unsupported(r, name, apr_psprintf(r->p, "%s cannot be "
                                                 "translated for this "
                                                 "provider", name));
    }
    return 0;
}

int llmgw_msg_to_chat(apr_pool_t *p, const char *in, apr_size_t len,
                      const llmgw_api_ctx_t *c, const char **chat,
                      apr_size_t *chat_len, const char **err,
                      const char **param, const char **code)
{
    req_t r;
    llmgw_jobj_t top;
    llmgw_jspan_t span;
    llmgw_buf_t out, msgs;
    const llmgw_jspan_t *v;
    int i;
    (void)c;

    memset(&r, 0, sizeof(r));
    r.p = p;
    *chat = NULL;
    *chat_len = 0;
    *param = NULL;
    *code = NULL;
    llmgw_jobj_init(&top, p);
    if (llmgw_json_object_each(in, len, &span, llmgw_jobj_member, &top) != 1) {
        *err = "the request body must be a JSON object";
        return 400;
    }
    llmgw_buf_init(&msgs, p, len + 64);
    LLMGW_BUF_LIT(&msgs, "[");
    if (!is_positive(llmgw_jobj_get(&top, "max_tokens"))) {
        fail(&r, "max_tokens", "max_tokens is required and must be a "
             "positive integer");
        goto bad;
    }
    if ((v = llmgw_jobj_get(&top, "system")) != NULL && !is_null(v)
        && convert_system(&r, v, &msgs)) {
        goto bad;
    }
    if (convert_messages(&r, llmgw_jobj_get(&top, "messages"), &msgs)) {
        goto bad;
    }
    LLMGW_BUF_LIT(&msgs, "]");
    llmgw_buf_init(&out, p, msgs.len + 256);
    LLMGW_BUF_LIT(&out, "{");
    for (i = 0; i < top.n; i++) {
        const llmgw_jmem_t *m = &top.m[i];
        if (is_gateway_field(m->k, m->kl)       /* the gateway's, not sent */
            || KEY_IS(m->k, m->kl, "messages")
            || KEY_IS(m->k, m->kl, "system")
            || is_null(&m->v)) {                /* null is sending nothing */
            continue;
        }
        if (convert_member(&r, m->k, m->kl, &m->v, &out)) {
            goto bad;
        }
    }
    llmgw_buf_json_comma(&out);
    LLMGW_BUF_LIT(&out, "\"messages\":");
    llmgw_buf_append(&out, msgs.data, msgs.len);
    LLMGW_BUF_LIT(&out, "}");
    *chat = out.data;
    *chat_len = out.len;
    return 0;

bad:
    *err = r.err ? r.err : "invalid request";
    *param = r.param;
    *code = r.code;
    return 400;
}
