/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_chat_request.c — reads an OpenAI Chat Completions request once into
 * llmgw_chat_request_t (pure: APR + jansson only). The rules are listed in
 * include/llmgw_chat_request.h.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <math.h>
#include <apr_strings.h>
#include "llmgw_chat_request.h"
#include "llmgw_parse.h"
#include "llmgw_json_scan.h"
#include "llmgw_num.h"

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
        if (row->name[0] == name[0] && !strcmp(row->name, name)) {
            return row->how == LLMGW_XP_TRANSLATED;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Spans of the request text                                           */
/* ------------------------------------------------------------------ */

/* A member span: p is NULL when the member is absent (type 0 is OBJECT). */
#define SPAN_HAS(v) ((v)->p != NULL)
#define SPAN_IS(v, t) ((v)->p != NULL && (v)->type == (t))
#define SPAN_GIVEN(v) ((v)->p != NULL && (v)->type != LLMGW_JV_NULL)


/* A string span's text: in the request text itself when it has no escape,
 * else unescaped into the pool (NULs kept). */
static void span_text(apr_pool_t *p, const llmgw_jspan_t *v,
                      llmgw_text_t *out)
{
    char *buf;
    long n;

    if (!v->escaped) {
        out->s = v->p + 1;
        out->len = v->len - 2;
        out->plain = 1;
        return;
    }
    out->plain = 0;
    buf = apr_palloc(p, v->len + 1);
    n = llmgw_json_unescape(v, buf);
    buf[n < 0 ? 0 : n] = '\0';
    out->s = buf;
    out->len = n < 0 ? 0 : (apr_size_t)n;
}

/* A string member as a C string (a pool copy: a NUL in it ends it, as
 * json_string_value does); NULL when it is absent or not a string. */
static const char *span_cstr(apr_pool_t *p, const llmgw_jspan_t *v)
{
    llmgw_text_t t;

    if (!SPAN_IS(v, LLMGW_JV_STRING)) {
        return NULL;
    }
    if (!v->escaped) {
        return apr_pstrmemdup(p, v->p + 1, v->len - 2);
    }
    span_text(p, v, &t);
    return t.s;
}

/* The jansson value of a validated span (new reference), as json_loadb
 * reads it; NULL where jansson refuses the text (an integer past 64 bits,
 * a real that overflows). */
static json_t *span_json(const llmgw_jspan_t *v)
{
    switch (v->type) {
    case LLMGW_JV_OBJECT:
    case LLMGW_JV_ARRAY:
        return llmgw_json_loadb(v->p, v->len, JSON_ALLOW_NUL, NULL);
    case LLMGW_JV_STRING: {
        char small[256], *buf = v->len <= sizeof(small) ? small
                                                        : malloc(v->len);
        long n;
        json_t *j = NULL;
        if (buf != NULL) {
            n = llmgw_json_unescape(v, buf);
            j = n < 0 ? NULL : json_stringn(buf, (size_t)n);
            if (buf != small) {
                free(buf);
            }
        }
        return j;
    }
    case LLMGW_JV_NUMBER: {
        apr_int64_t i;
        char num[64];
        double d;
        if (llmgw_json_int(v, &i)) {
            return json_integer((json_int_t)i);
        }
        if (!memchr(v->p, '.', v->len) && !memchr(v->p, 'e', v->len)
            && !memchr(v->p, 'E', v->len)) {
            return NULL;            /* jansson: "too big integer" */
        }
        if (v->len >= sizeof(num)) {
            return llmgw_json_loadb(v->p, v->len,
                                    JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        }
        memcpy(num, v->p, v->len);
        num[v->len] = '\0';
        d = strtod(num, NULL);
        return isinf(d) ? NULL : json_real(d);
    }
    case LLMGW_JV_TRUE:
        return json_true();
    case LLMGW_JV_FALSE:
        return json_false();
    case LLMGW_JV_NULL:
        return json_null();
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Content                                                             */
/* ------------------------------------------------------------------ */

static int is_data_url(const llmgw_text_t *t)
{
    return t->len >= 5 && !strncasecmp(t->s, "data:", 5);
}

/* "data:MIME;base64,DATA" -> mime + data (RFC 2397: case-insensitive). */
static int data_url(rd_t *rd, const llmgw_text_t *t, llmgw_chat_part_t *out)
{
    const char *url = t->s;
    apr_size_t len = t->len;
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
    out->data.plain = t->plain;
    out->data.len = len - (apr_size_t)(comma + 1 - url);
    return 0;
}

static int read_part(rd_t *rd, const llmgw_jspan_t *part,
                     llmgw_chat_part_t *out)
{
    static const char *const names[] = {
        "type", "text", "image_url", "input_audio", "file"
    };
    llmgw_jspan_t v[5];
    const char *type;

    memset(out, 0, sizeof(*out));
    llmgw_json_pick(part, names, v, 5);
    type = span_cstr(rd->p, &v[0]);
    if (type == NULL) {
        return fail(rd, "content parts must be objects with a type");
    }
    if (!strcmp(type, "text")) {
        if (!SPAN_IS(&v[1], LLMGW_JV_STRING)) {
            return fail(rd, "text part requires a text string");
        }
        out->type = LLMGW_PART_TEXT;
        span_text(rd->p, &v[1], &out->text);
        return 0;
    }
    if (!strcmp(type, "image_url")) {
        static const char *const url_name[] = { "url" };
        llmgw_jspan_t u;
        llmgw_text_t t;
        const char *url;

        if (SPAN_IS(&v[2], LLMGW_JV_STRING)) {
            u = v[2];
        }
        else {
            llmgw_json_pick(&v[2], url_name, &u, 1);
        }
        out->type = LLMGW_PART_IMAGE;
        if (!SPAN_IS(&u, LLMGW_JV_STRING)) {
            return fail(rd, "image_url part requires a url");
        }
        span_text(rd->p, &u, &t);
        if (is_data_url(&t)) {
            return data_url(rd, &t, out);
        }
        url = span_cstr(rd->p, &u);
        if (!strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8)
            || !strncasecmp(url, "gs://", 5)) {
            out->url = url;
            return 0;
        }
        return fail(rd, "image_url must be an http(s) URL or a base64 data "
                    "URL");
    }
    if (!strcmp(type, "input_audio")) {
        static const char *const audio[] = { "data", "format" };
        llmgw_jspan_t a[2];
        const char *fmt;

        llmgw_json_pick(&v[3], audio, a, 2);
        fmt = span_cstr(rd->p, &a[1]);
        if (!SPAN_IS(&a[0], LLMGW_JV_STRING) || fmt == NULL) {
            return fail(rd, "input_audio part needs data and format");
        }
        out->type = LLMGW_PART_AUDIO;
        out->mime = apr_pstrcat(rd->p, "audio/", fmt, NULL);
        span_text(rd->p, &a[0], &out->data);
        return 0;
    }
    if (!strcmp(type, "file")) {
        static const char *const file[] = { "file_data" };
        llmgw_jspan_t fd;
        llmgw_text_t t = { NULL, 0, 0 };

        llmgw_json_pick(&v[4], file, &fd, 1);
        out->type = LLMGW_PART_FILE;
        if (SPAN_IS(&fd, LLMGW_JV_STRING)) {
            span_text(rd->p, &fd, &t);
        }
        if (!is_data_url(&t)) {
            return fail(rd, "file parts need file_data as a data: URL");
        }
        return data_url(rd, &t, out);
    }
    return fail(rd, apr_psprintf(rd->p, "unsupported content part type '%s'",
                                 type));
}

typedef struct {
    rd_t *rd;
    llmgw_chat_msg_t *m;
    int text_only;
    const char *what;
} content_t;

static int content_part(void *baton, const char *key, apr_size_t klen,
                        int escaped, const llmgw_jspan_t *v)
{
    content_t *c = baton;
    llmgw_chat_part_t *pt = apr_array_push(c->m->parts);

    (void)key;
    (void)klen;
    (void)escaped;
    if (read_part(c->rd, v, pt)) {
        return -1;
    }
    if (pt->type != LLMGW_PART_TEXT) {
        if (c->text_only) {
            return fail(c->rd, apr_psprintf(c->rd->p, "%s content parts must "
                                            "be text parts", c->what));
        }
        c->m->text_only = 0;
    }
    return 0;
}

/* content: absent/null (no parts), a string (one text part) or parts. */
static int read_content(rd_t *rd, const llmgw_jspan_t *content,
                        llmgw_chat_msg_t *m, int text_only, const char *what)
{
    content_t c;

    m->parts = apr_array_make(rd->p, 1, sizeof(llmgw_chat_part_t));
    m->text_only = 1;
    if (!SPAN_GIVEN(content)) {
        return 0;
    }
    if (content->type == LLMGW_JV_STRING) {
        llmgw_chat_part_t *pt = apr_array_push(m->parts);
        memset(pt, 0, sizeof(*pt));
        pt->type = LLMGW_PART_TEXT;
        span_text(rd->p, content, &pt->text);
        m->content_is_string = 1;
        return 0;
    }
    if (content->type != LLMGW_JV_ARRAY) {
        return fail(rd, text_only
                    ? apr_psprintf(rd->p, "%s content must be a string or an "
                                   "array of text parts", what)
                    : "message content must be a string or an array of "
                      "content parts");
    }
    c.rd = rd;
    c.m = m;
    c.text_only = text_only;
    c.what = what;
    return llmgw_json_each(content, content_part, &c) ? -1 : 0;
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

    if (quoted == 1) {
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
        if (quoted && !pt->text.plain) {
            llmgw_buf_json_escape(b, pt->text.s, pt->text.len);
        }
        else {
            llmgw_buf_append(b, pt->text.s, pt->text.len);
        }
    }
    if (quoted == 1) {
        llmgw_buf_append(b, "\"", 1);
    }
}

void llmgw_chat_text_json(llmgw_buf_t *b, const llmgw_text_t *t)
{
    if (!t->plain) {
        llmgw_buf_json_string(b, t->s, t->len);
        return;
    }
    llmgw_buf_append(b, "\"", 1);
    llmgw_buf_append(b, t->s, t->len);
    llmgw_buf_append(b, "\"", 1);
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

/* OpenAI arguments -> a JSON object (new reference), or NULL. */
static json_t *read_args(rd_t *rd, const llmgw_jspan_t *a)
{
    llmgw_text_t t;
    apr_size_t k;
    json_t *v;

    if (!SPAN_GIVEN(a)) {
        return json_object();
    }
    if (a->type == LLMGW_JV_OBJECT) {
        return span_json(a);
    }
    if (a->type != LLMGW_JV_STRING) {
        fail(rd, "tool call arguments must be a JSON string");
        return NULL;
    }
    span_text(rd->p, a, &t);
    for (k = 0; k < t.len && t.s[k] && strchr(" \t\r\n", t.s[k]); k++) {
    }
    if (k == t.len) {
        return json_object();
    }
    v = json_loadb(t.s, t.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        fail(rd, "tool call arguments must be a JSON object");
        return NULL;
    }
    return v;
}

typedef struct {
    rd_t *rd;
    llmgw_chat_msg_t *m;
} calls_t;

static int read_call(void *baton, const char *key, apr_size_t klen,
                     int escaped, const llmgw_jspan_t *c)
{
    static const char *const names[] = {
        "function", "type", "id", "extra_content"
    };
    static const char *const fn_names[] = { "name", "arguments" };
    static const char *const google[] = { "google" };
    static const char *const sig[] = { "thought_signature" };
    calls_t *cs = baton;
    rd_t *rd = cs->rd;
    llmgw_jspan_t v[4], fn[2], g, ts;
    llmgw_chat_call_t *call;
    const char *type;

    (void)key;
    (void)klen;
    (void)escaped;
    if (!llmgw_json_pick(c, names, v, 4)) {
        return fail(rd, "tool calls must be objects");
    }
    type = span_cstr(rd->p, &v[1]);
    if (type != NULL && strcmp(type, "function")) {
        return fail(rd, apr_psprintf(rd->p, "unsupported tool call type "
                                     "'%s'", type));
    }
    llmgw_json_pick(&v[0], fn_names, fn, 2);
    llmgw_json_pick(&v[3], google, &g, 1);
    llmgw_json_pick(&g, sig, &ts, 1);
    call = apr_array_push(cs->m->calls);
    call->id = span_cstr(rd->p, &v[2]);
    call->name = span_cstr(rd->p, &fn[0]);
    call->thought_signature = span_cstr(rd->p, &ts);
    if (call->name == NULL || *call->name == '\0') {
        return fail(rd, "tool calls require a function name");
    }
    call->args = pool_own(rd->p, read_args(rd, &fn[1]));
    return call->args == NULL ? -1 : 0;
}

static int read_calls(rd_t *rd, const llmgw_jspan_t *calls,
                      llmgw_chat_msg_t *m)
{
    calls_t cs;

    m->calls = apr_array_make(rd->p, 1, sizeof(llmgw_chat_call_t));
    if (!SPAN_GIVEN(calls)) {
        return 0;
    }
    if (calls->type != LLMGW_JV_ARRAY) {
        return fail(rd, "tool_calls must be an array");
    }
    cs.rd = rd;
    cs.m = m;
    return llmgw_json_each(calls, read_call, &cs) ? -1 : 0;
}

/* A message's members, collected in the request's one pass (or picked
 * from its span when the text went another way). */
enum { VB_TOP = 1, VB_MSGS, VB_MSG };

static const char *const msg_names[] = { LLMGW_MSG_FIELDS };
#define MSG_NAMES LLMGW_MSG_NFIELDS

/* kind VB_MSG; the handler's pass fills the same records (llmgw_parse.h) */
typedef llmgw_msg_rec_t msg_rec_t;

static msg_rec_t *push_rec(apr_array_header_t *recs)
{
    msg_rec_t *rec = apr_array_push(recs);
    memset(rec, 0, sizeof(*rec));
    rec->kind = VB_MSG;
    return rec;
}

static void rec_member(msg_rec_t *rec, const char *key, apr_size_t klen,
                       int escaped, const llmgw_jspan_t *v)
{
    int i;

    for (i = 0; i < MSG_NAMES; i++) {
        if (llmgw_json_key_is(key, klen, escaped, msg_names[i])) {
            rec->v[i] = *v;         /* the last one wins, as in jansson */
            break;
        }
    }
}

static int collect_rec(void *baton, const char *key, apr_size_t klen,
                       int escaped, const llmgw_jspan_t *jm)
{
    msg_rec_t *rec = push_rec(baton);

    (void)key;
    (void)klen;
    (void)escaped;
    llmgw_json_pick(jm, msg_names, rec->v, MSG_NAMES);
    return 0;
}

static int read_message(rd_t *rd, llmgw_chat_request_t *r,
                        const msg_rec_t *rec)
{
    const llmgw_jspan_t *v = rec->v;
    const char *role;
    llmgw_chat_msg_t *m;

    role = span_cstr(rd->p, &v[0]);
    if (role == NULL) {
        return fail(rd, "every message must be an object with a role");
    }
    m = apr_array_push(r->messages);
    memset(m, 0, sizeof(*m));
    m->name = span_cstr(rd->p, &v[2]);
    if (!strcmp(role, "system") || !strcmp(role, "developer")) {
        m->role = LLMGW_ROLE_SYSTEM;
        if (read_content(rd, &v[1], m, 1, "system message")) {
            return -1;
        }
    }
    else if (!strcmp(role, "user")) {
        m->role = LLMGW_ROLE_USER;
        if (read_content(rd, &v[1], m, 0, NULL)) {
            return -1;
        }
    }
    else if (!strcmp(role, "assistant")) {
        m->role = LLMGW_ROLE_ASSISTANT;
        if (read_content(rd, &v[1], m, 0, NULL)
            || read_calls(rd, &v[3], m)) {
            return -1;
        }
    }
    else if (!strcmp(role, "tool") || !strcmp(role, "function")) {
        int legacy = role[0] == 'f';
        m->role = legacy ? LLMGW_ROLE_FUNCTION : LLMGW_ROLE_TOOL;
        m->call_id = legacy ? m->name : span_cstr(rd->p, &v[4]);
        if (m->call_id == NULL && !legacy) {
            return fail(rd, "tool messages require a tool_call_id");
        }
        if (read_content(rd, &v[1], m, 1, legacy ? "function message"
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
    return 0;
}

/* recs: the messages' members collected in the request's pass, NULL to
 * pick them from the span now. */
static int read_messages(rd_t *rd, const llmgw_jspan_t *msgs,
                         apr_array_header_t *recs, llmgw_chat_request_t *r)
{
    int i;

    if (!SPAN_IS(msgs, LLMGW_JV_ARRAY)) {
        return fail(rd, "messages must be a non-empty array");
    }
    if (recs == NULL) {
        recs = apr_array_make(rd->p, 4, sizeof(msg_rec_t));
        llmgw_json_each(msgs, collect_rec, recs);
    }
    r->messages = apr_array_make(rd->p, recs->nelts ? recs->nelts : 1,
                                 sizeof(llmgw_chat_msg_t));
    for (i = 0; i < recs->nelts; i++) {
        if (read_message(rd, r, &APR_ARRAY_IDX(recs, i, msg_rec_t))) {
            return -1;
        }
    }
    if (r->messages->nelts == 0) {
        return fail(rd, "messages must be a non-empty array");
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

    if (given(tools) && llmgw_xlate_translates(tb, "tools")) {
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

    if (given(tc) && llmgw_xlate_translates(tb, "tool_choice")) {
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

    if (!given(v) || !llmgw_xlate_translates(tb, key)) {
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

    if (!given(v) || !llmgw_xlate_translates(tb, key)) {
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

    if (!given(v) || !llmgw_xlate_translates(tb, "stop")) {
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

    if (!given(rf) || !llmgw_xlate_translates(tb, "response_format")) {
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
    if (given(lp) && llmgw_xlate_translates(tb, "logprobs")) {
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
    if (given(md) && llmgw_xlate_translates(tb, "metadata")) {
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

/* The top level of the request text: "messages" kept as a span (its
 * texts are read where they are), every other member made a jansson value
 * of top (they are few and small: the parameters' readers and the
 * parameter table take them as values). */
typedef struct top top_t;
typedef struct {
    int kind;                   /* VB_MSGS */
    top_t *t;
} msgs_vb_t;

struct top {
    int kind;                   /* VB_TOP */
    json_t *top;
    llmgw_jspan_t messages;
    apr_array_header_t *recs;   /* msg_rec_t of the last messages array */
    msgs_vb_t msgs;
    int bad;                    /* a member jansson refuses */
};

/* The visitor's batons: the top level, the messages array, a message. */
static void *req_enter(void *baton, const char *key, apr_size_t klen,
                       int escaped)
{
    msgs_vb_t *mv = baton;

    (void)key;
    (void)klen;
    (void)escaped;
    return mv->kind == VB_MSGS ? push_rec(mv->t->recs) : NULL;
}

static void *req_enter_array(void *baton, const char *key, apr_size_t klen,
                             int escaped)
{
    top_t *t = baton;

    if (t->kind != VB_TOP
        || !llmgw_json_key_is(key, klen, escaped, "messages")) {
        return NULL;
    }
    t->recs->nelts = 0;         /* a repeated member: the last one wins */
    return &t->msgs;
}

static int top_member(void *baton, const char *key, apr_size_t klen,
                      int escaped, const llmgw_jspan_t *v);

static int req_member(void *baton, const char *key, apr_size_t klen,
                      int escaped, const llmgw_jspan_t *v)
{
    int kind = *(int *)baton;

    if (kind == VB_MSG) {
        rec_member(baton, key, klen, escaped, v);
        return 0;
    }
    if (kind == VB_MSGS) {
        if (v->type != LLMGW_JV_OBJECT) {
            push_rec(((msgs_vb_t *)baton)->t->recs);   /* no role */
        }
        return 0;
    }
    return top_member(baton, key, klen, escaped, v);
}

static const llmgw_json_visitor_t req_visitor = {
    req_member, req_enter, req_enter_array
};

static int top_member(void *baton, const char *key, apr_size_t klen,
                      int escaped, const llmgw_jspan_t *v)
{
    top_t *t = baton;
    char small[64], *k = small;
    json_t *j;
    int rv = 0;

    if (llmgw_json_key_is(key, klen, escaped, "messages")) {
        t->messages = *v;
        return 0;
    }
    if (klen >= sizeof(small) && (k = malloc(klen + 1)) == NULL) {
        t->bad = 1;
        return -1;
    }
    if (escaped) {
        llmgw_jspan_t ks;
        long n;
        ks.p = key - 1;
        ks.len = klen + 2;
        ks.type = LLMGW_JV_STRING;
        ks.escaped = 1;
        n = llmgw_json_unescape(&ks, k);
        if (n < 0 || memchr(k, '\0', (apr_size_t)n)) {
            rv = -1;                /* jansson: NUL byte in object key */
        }
        k[n < 0 ? 0 : n] = '\0';
    }
    else {
        memcpy(k, key, klen);
        k[klen] = '\0';
    }
    if (rv == 0 && ((j = span_json(v)) == NULL
                    || json_object_set_new(t->top, k, j))) {
        rv = -1;
    }
    if (k != small) {
        free(k);
    }
    t->bad |= rv != 0;
    return rv;
}

/* Text the scanner refuses that jansson reads: values nested deeper than
 * the scanner goes (LLMGW_JSON_MAX_DEPTH; jansson's limit is 2048), a tool
 * schema for one. t->top is then jansson's tree and the messages are read
 * from their text written out again (t->bad 2 when they are the deep
 * part). 1 when jansson reads an object. */
static int deeper_than_scanner(apr_pool_t *p, const char *text,
                               apr_size_t len, top_t *t)
{
    json_t *tree = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    json_t *msgs;
    char *txt;
    const char *copy;
    apr_size_t n;

    if (!json_is_object(tree)) {
        json_decref(tree);
        return 0;
    }
    t->top = pool_own(p, tree);
    memset(&t->messages, 0, sizeof(t->messages));
    msgs = json_object_get(tree, "messages");
    if (msgs == NULL) {
        return 1;
    }
    txt = llmgw_json_dumps(msgs, JSON_COMPACT | JSON_ENCODE_ANY);
    if (txt == NULL) {
        t->bad = 2;
        return 0;
    }
    n = strlen(txt);
    copy = apr_pstrmemdup(p, txt, n);
    free(txt);
    if (!llmgw_json_valid(copy, n) || !llmgw_json_span(copy, n,
                                                       &t->messages)) {
        t->bad = 2;
        return 0;
    }
    return 1;
}

/* The typed request from the top level read (t), whichever pass read it. */
static int read_top(apr_pool_t *p, top_t *t, const llmgw_xparam_t *table,
                    const char *provider_type, const llmgw_xlate_ctx_t *x,
                    llmgw_chat_request_t **out, const char **err)
{
    llmgw_chat_request_t *r;
    rd_t rd;

    if (table != NULL
        && llmgw_xlate_check_params(p, t->top, table, provider_type, x, err)) {
        return -1;
    }
    rd.p = p;
    rd.err = NULL;
    r = apr_pcalloc(p, sizeof(*r));
    r->model = jstr(t->top, "model");
    if (read_messages(&rd, &t->messages, t->recs, r)
        || read_tools(&rd, t->top, table, r)
        || read_params(&rd, t->top, table, r)) {
        *err = rd.err ? rd.err : "invalid request";
        return -1;
    }
    *out = r;
    return 0;
}

/* The same from the spans the handler's pass kept: no byte read again. */
static int read_scanned(apr_pool_t *p, const llmgw_chat_scan_t *cs,
                        const llmgw_xparam_t *table,
                        const char *provider_type,
                        const llmgw_xlate_ctx_t *x,
                        llmgw_chat_request_t **out, const char **err)
{
    top_t t;
    int i;

    *out = NULL;
    *err = NULL;
    memset(&t, 0, sizeof(t));
    t.kind = VB_TOP;
    t.top = pool_own(p, json_object());
    for (i = 0; i < cs->nmembers; i++) {
        if (top_member(&t, cs->members[i].key, cs->members[i].klen, 0,
                       &cs->members[i].v)) {
            *err = "the request body is not valid JSON";
            return -1;
        }
    }
    t.recs = cs->recs;
    return read_top(p, &t, table, provider_type, x, out, err);
}

int llmgw_chat_request_read_text(apr_pool_t *p, const char *text,
                                 apr_size_t len, const llmgw_xparam_t *table,
                                 const char *provider_type,
                                 const llmgw_xlate_ctx_t *x,
                                 llmgw_chat_request_t **out, const char **err)
{
    llmgw_jspan_t whole;
    top_t t;
    int ok;

    *out = NULL;
    *err = NULL;
    memset(&t, 0, sizeof(t));
    t.kind = VB_TOP;
    t.msgs.kind = VB_MSGS;
    t.msgs.t = &t;
    t.recs = apr_array_make(p, 4, sizeof(msg_rec_t));
    t.top = pool_own(p, json_object());
    ok = llmgw_json_object_visit(text, len, &whole, &req_visitor, &t);
    if (ok == 0 && !t.bad && deeper_than_scanner(p, text, len, &t)) {
        ok = 1;
        t.recs = NULL;          /* picked from the messages' own text */
    }
    if (ok != 1) {
        *err = ok == 0 && !t.bad && llmgw_json_valid(text, len)
               ? "request body must be a JSON object"
               : t.bad == 2 ? "the request's messages are too deeply nested"
               : "the request body is not valid JSON";
        return -1;
    }
    return read_top(p, &t, table, provider_type, x, out, err);
}

int llmgw_chat_request_read(apr_pool_t *p, const json_t *req,
                            const llmgw_xparam_t *table,
                            const char *provider_type,
                            const llmgw_xlate_ctx_t *x,
                            llmgw_chat_request_t **out, const char **err)
{
    char *txt;
    const char *copy;
    apr_size_t len;

    *out = NULL;
    if (!json_is_object(req)) {
        *err = "request body must be a JSON object";
        return -1;
    }
    txt = llmgw_json_dumps(req, JSON_COMPACT);
    if (txt == NULL) {
        *err = "cannot serialise the request";
        return -1;
    }
    len = strlen(txt);
    copy = apr_pstrmemdup(p, txt, len);
    free(txt);
    return llmgw_chat_request_read_text(p, copy, len, table, provider_type, x,
                                        out, err);
}

int llmgw_chat_request_read_in(apr_pool_t *p, const llmgw_xlate_in_t *in,
                               const llmgw_xparam_t *table,
                               const char *provider_type,
                               const llmgw_xlate_ctx_t *x,
                               llmgw_chat_request_t **out, const char **err)
{
    json_t *tree = in->tree;

    if (tree == NULL && in->raw != NULL && in->scan != NULL
        && in->scan->text == in->raw && in->scan->len == in->len) {
        return read_scanned(p, in->scan, table, provider_type, x, out, err);
    }
    if (tree == NULL && in->raw != NULL) {
        return llmgw_chat_request_read_text(p, in->raw, in->len, table,
                                            provider_type, x, out, err);
    }
    if (tree == NULL) {
        tree = llmgw_xlate_in_tree(in);
    }
    if (tree == NULL) {
        *out = NULL;
        *err = "the request body is not valid JSON";
        return -1;
    }
    return llmgw_chat_request_read(p, tree, table, provider_type, x, out,
                                   err);
}
