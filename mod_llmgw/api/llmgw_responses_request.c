/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The Responses API adapter, request side: a Responses request (input
 * items, instructions, tools, text.format, reasoning...) -> the Chat
 * Completions request the provider translators take (to_chat_text of
 * llmgw_api_responses), written from the client's text: the scanner's
 * spans of each member, strings and objects copied as the client wrote
 * them, no tree either way; and the conversation the glue stores for
 * previous_response_id.
 *
 * Read as jansson would read the text (llmgw_api_obj.h): a member given
 * twice counts once, at its first place, with its last value; a string
 * compared as a C string (a type, a role) ends at its first "\u0000", one
 * copied as a value keeps it. t/unit/test_api_responses.c checks the
 * writer against the tree converter it replaced
 * (t/unit/lib/ref_resp_to_chat.c). */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_client_api.h"
#include "llmgw_api_responses.h"
#include "llmgw_responses_private.h"
#include "llmgw_api_obj.h"
#include "llmgw_buf.h"
#include "llmgw_json_scan.h"
#include "llmgw_num.h"
#include "llmgw_parse.h"

typedef struct {
    apr_pool_t *p;
    const char **err;
    const char **param;
    const char **code;          /* LLMGW_API_UNSUPPORTED or NULL */
    /* the Chat messages: those done, and the last one kept open (an
     * assistant message takes the function_call items that follow it) */
    llmgw_buf_t msgs;
    llmgw_buf_t last;
    llmgw_buf_t calls;          /* the last message's tool_calls */
    int has_last, last_assistant;
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

#define KEY_IS(k, kl, lit) ((kl) == sizeof(lit) - 1 \
                            && !memcmp((k), (lit), sizeof(lit) - 1))

static int is(const llmgw_jspan_t *v, llmgw_jv_type_e t)
{
    return v != NULL && v->type == t;
}

static int given(const llmgw_jspan_t *v)
{
    return v != NULL && v->type != LLMGW_JV_NULL;
}

static int is_bool(const llmgw_jspan_t *v)
{
    return is(v, LLMGW_JV_TRUE) || is(v, LLMGW_JV_FALSE);
}

/* A string as C reads it (up to its first NUL), or NULL. */
static const char *cstr(rq_t *q, const llmgw_jspan_t *v)
{
    if (!is(v, LLMGW_JV_STRING)) {
        return NULL;
    }
    if (!v->escaped) {
        return apr_pstrmemdup(q->p, v->p + 1, v->len - 2);
    }
    return llmgw_json_string_value(q->p, v, NULL);
}

static void put(llmgw_buf_t *b, const llmgw_jspan_t *v)
{
    llmgw_buf_append(b, v->p, v->len);
}

static void put_str(llmgw_buf_t *b, const char *s)
{
    llmgw_buf_append(b, s, strlen(s));
}

/* ,"k":v when v is given (json_pack's "s:O*" of a value or NULL). */
static void put_opt(llmgw_buf_t *b, const char *k, const llmgw_jspan_t *v)
{
    if (given(v)) {
        LLMGW_BUF_LIT(b, ",\"");
        put_str(b, k);
        LLMGW_BUF_LIT(b, "\":");
        put(b, v);
    }
}

/* ------------------------------------------------------------ messages */

/* Closes the open message into the list. */
static void flush_last(rq_t *q)
{
    if (!q->has_last) {
        return;
    }
    llmgw_buf_json_comma(&q->msgs);
    llmgw_buf_append(&q->msgs, q->last.data, q->last.len);
    if (q->calls.len) {
        LLMGW_BUF_LIT(&q->msgs, ",\"tool_calls\":[");
        llmgw_buf_append(&q->msgs, q->calls.data, q->calls.len);
        LLMGW_BUF_LIT(&q->msgs, "]");
    }
    LLMGW_BUF_LIT(&q->msgs, "}");
    q->has_last = 0;
    q->last.len = 0;
    q->calls.len = 0;
}

/* Opens a message of role (its text up to the members that follow role:
 * the caller writes ,"content":... into the returned buffer). */
static llmgw_buf_t *open_msg(rq_t *q, const char *role)
{
    flush_last(q);
    q->has_last = 1;
    q->last_assistant = !strcmp(role, "assistant");
    LLMGW_BUF_LIT(&q->last, "{\"role\":\"");
    put_str(&q->last, role);
    LLMGW_BUF_LIT(&q->last, "\"");
    return &q->last;
}

/* ------------------------------------------------------------ content */

/* One content part of a message item -> a Chat part into b; for a text
 * part *text is its text (the single part of a non-user message is its
 * text alone). */
static int part_to_chat(rq_t *q, const llmgw_jspan_t *pv, const char *where,
                        const char *role, llmgw_buf_t *b,
                        const llmgw_jspan_t **text)
{
    llmgw_jobj_t part;
    const char *type;

    llmgw_jobj_read(&part, q->p, pv);
    type = cstr(q, llmgw_jobj_get(&part, "type"));
    if (!is(pv, LLMGW_JV_OBJECT) || type == NULL) {
        return bad(q, where, "content parts must be objects with a type");
    }
    if (!strcmp(type, "input_text") || !strcmp(type, "output_text")
        || !strcmp(type, "refusal")) {
        const char *k = type[0] == 'r' ? "refusal" : "text";
        const llmgw_jspan_t *t = llmgw_jobj_get(&part, k);
        if (!is(t, LLMGW_JV_STRING)) {
            return bad(q, apr_pstrcat(q->p, where, ".", k, NULL),
                       apr_psprintf(q->p, "%s parts need a %s string", type,
                                    k));
        }
        *text = t;
        LLMGW_BUF_LIT(b, "{\"type\":\"text\",\"text\":");
        put(b, t);
        LLMGW_BUF_LIT(b, "}");
        return 0;
    }
    if (strcmp(role, "user")) {
        return bad(q, apr_pstrcat(q->p, where, ".type", NULL),
                   apr_psprintf(q->p, "%s messages take text parts only, "
                                "not '%s'", role, type));
    }
    if (!strcmp(type, "input_image")) {
        const llmgw_jspan_t *url = llmgw_jobj_get(&part, "image_url");
        const llmgw_jspan_t *detail = llmgw_jobj_get(&part, "detail");
        if (given(llmgw_jobj_get(&part, "file_id"))) {
            return unsupported(q, apr_pstrcat(q->p, where, ".file_id", NULL),
                "input_image file_id is not supported by the gateway: send "
                "image_url (a URL or a data URL)");
        }
        if (!is(url, LLMGW_JV_STRING)) {
            return bad(q, apr_pstrcat(q->p, where, ".image_url", NULL),
                       "input_image needs an image_url string");
        }
        if (given(detail) && !is(detail, LLMGW_JV_STRING)) {
            return bad(q, apr_pstrcat(q->p, where, ".detail", NULL),
                       "detail must be a string");
        }
        LLMGW_BUF_LIT(b, "{\"type\":\"image_url\",\"image_url\":{\"url\":");
        put(b, url);
        put_opt(b, "detail", detail);
        LLMGW_BUF_LIT(b, "}}");
        return 0;
    }
    if (!strcmp(type, "input_file")) {
        const llmgw_jspan_t *fd = llmgw_jobj_get(&part, "file_data");
        const llmgw_jspan_t *fn = llmgw_jobj_get(&part, "filename");
        const char *d = cstr(q, fd);
        if (d == NULL || strncasecmp(d, "data:", 5)) {
            return unsupported(q, apr_pstrcat(q->p, where, ".file_data",
                                              NULL),
                "input_file needs file_data as a data: URL (file_id and "
                "file_url are not supported by the gateway)");
        }
        if (given(fn) && !is(fn, LLMGW_JV_STRING)) {
            return bad(q, apr_pstrcat(q->p, where, ".filename", NULL),
                       "filename must be a string");
        }
        LLMGW_BUF_LIT(b, "{\"type\":\"file\",\"file\":{\"file_data\":");
        put(b, fd);
        put_opt(b, "filename", fn);
        LLMGW_BUF_LIT(b, "}}");
        return 0;
    }
    return bad(q, apr_pstrcat(q->p, where, ".type", NULL),
               apr_psprintf(q->p, "unsupported content part type '%s'",
                            type));
}

typedef struct {
    rq_t *q;
    const char *where, *role;
    llmgw_buf_t parts;
    const llmgw_jspan_t *text;      /* the last text part's text */
    unsigned n;
    int rv;
} parts_t;

static int one_part(void *baton, const char *k, apr_size_t kl, int esc,
                    const llmgw_jspan_t *pv)
{
    parts_t *ps = baton;
    (void)k; (void)kl; (void)esc;
    llmgw_buf_json_comma(&ps->parts);
    ps->rv = part_to_chat(ps->q, pv, llmgw_param_at(ps->q->p, ps->where, "",
                                                    ps->n++),
                          ps->role, &ps->parts, &ps->text);
    return ps->rv;
}

/* A message item's content -> ,"content":... into b: a string as it is,
 * parts converted (the single text part of a non-user role becomes its
 * string). */
static int content_to_chat(rq_t *q, const llmgw_jspan_t *content,
                           const char *where, const char *role,
                           llmgw_buf_t *b)
{
    parts_t ps;

    if (is(content, LLMGW_JV_STRING)) {
        LLMGW_BUF_LIT(b, ",\"content\":");
        put(b, content);
        return 0;
    }
    if (!is(content, LLMGW_JV_ARRAY)) {
        return bad(q, where, "content must be a string or an array of parts");
    }
    memset(&ps, 0, sizeof(ps));
    ps.q = q;
    ps.where = where;
    ps.role = role;
    llmgw_buf_init(&ps.parts, q->p, content->len + 16);
    if (llmgw_json_each(content, one_part, &ps)) {
        return ps.rv ? ps.rv : 400;
    }
    LLMGW_BUF_LIT(b, ",\"content\":");
    if (strcmp(role, "user") && ps.n == 1) {
        put(b, ps.text);
        return 0;
    }
    LLMGW_BUF_LIT(b, "[");
    llmgw_buf_append(b, ps.parts.data, ps.parts.len);
    LLMGW_BUF_LIT(b, "]");
    return 0;
}

/* -------------------------------------------------------------- items */

static int is_role(const char *r)
{
    return r && (!strcmp(r, "user") || !strcmp(r, "assistant")
                 || !strcmp(r, "system") || !strcmp(r, "developer"));
}

/* An item's name in errors ("input[2]"), written when one needs it. */
typedef struct {
    apr_pool_t *p;
    const char *prefix;
    unsigned i;
    const char *s;
} where_t;

static const char *where_of(where_t *w)
{
    if (w->s == NULL) {
        w->s = llmgw_param_at(w->p, w->prefix, "", w->i);
    }
    return w->s;
}

static int item_string(rq_t *q, const llmgw_jobj_t *item, const char *k,
                       where_t *w, const llmgw_jspan_t **out)
{
    *out = llmgw_jobj_get(item, k);
    if (!is(*out, LLMGW_JV_STRING)) {
        return bad(q, apr_pstrcat(q->p, where_of(w), ".", k, NULL),
                   apr_psprintf(q->p, "%s must be a string", k));
    }
    return 0;
}

typedef struct {
    rq_t *q;
    const char *where;
    llmgw_buf_t txt;
    unsigned n;
    int rv;
} outs_t;

static int one_output_part(void *baton, const char *k, apr_size_t kl,
                           int esc, const llmgw_jspan_t *pv)
{
    outs_t *os = baton;
    llmgw_jobj_t part;
    const char *t, *s;
    (void)k; (void)kl; (void)esc;

    llmgw_jobj_read(&part, os->q->p, pv);
    t = cstr(os->q, llmgw_jobj_get(&part, "type"));
    s = cstr(os->q, llmgw_jobj_get(&part, "text"));
    if (!t || (strcmp(t, "input_text") && strcmp(t, "output_text"))
        || !s) {
        os->rv = bad(os->q, apr_psprintf(os->q->p, "%s.output[%u]",
                                         os->where, os->n),
                     "function_call_output output parts must be input_text");
        return os->rv;
    }
    os->n++;
    put_str(&os->txt, s);       /* joined as C strings */
    return 0;
}

/* function_call_output.output: a string, or input_text parts (joined). */
static int call_output(rq_t *q, const llmgw_jspan_t *out, where_t *w,
                       llmgw_buf_t *b)
{
    outs_t os;

    if (is(out, LLMGW_JV_STRING)) {
        put(b, out);
        return 0;
    }
    if (is(out, LLMGW_JV_ARRAY)) {
        memset(&os, 0, sizeof(os));
        os.q = q;
        os.where = where_of(w);
        llmgw_buf_init(&os.txt, q->p, out->len);
        if (llmgw_json_each(out, one_output_part, &os)) {
            return os.rv ? os.rv : 400;
        }
        llmgw_buf_json_string(b, os.txt.len ? os.txt.data : "", os.txt.len);
        return 0;
    }
    return bad(q, apr_pstrcat(q->p, where_of(w), ".output", NULL),
               "output must be a string");
}

typedef struct {
    rq_t *q;
    const char *prefix;
    unsigned i;
    int rv;
} items_t;

/* One input item (iv; its members in read, NULL: read here). */
static int item_to_chat(items_t *is_, const llmgw_jspan_t *iv,
                        const llmgw_jobj_t *read)
{
    rq_t *q = is_->q;
    where_t w;
    const llmgw_jspan_t *jt;
    const char *type;
    llmgw_jobj_t item;

    w.p = q->p;
    w.prefix = is_->prefix;
    w.i = is_->i++;
    w.s = NULL;
    if (!is(iv, LLMGW_JV_OBJECT)) {
        return is_->rv = bad(q, where_of(&w), "input items must be objects");
    }
    if (read) {
        item = *read;
        if (read->m == read->small) {
            item.m = item.small;
        }
    }
    else {
        llmgw_jobj_read(&item, q->p, iv);
    }
    jt = llmgw_jobj_get(&item, "type");
    type = cstr(q, jt);
    if (given(jt) && !type) {
        return is_->rv = bad(q, apr_pstrcat(q->p, where_of(&w), ".type",
                                            NULL), "type must be a string");
    }
    if (type == NULL || !strcmp(type, "message")) {
        const char *role = cstr(q, llmgw_jobj_get(&item, "role"));
        const llmgw_jspan_t *cv = llmgw_jobj_get(&item, "content");
        llmgw_buf_t content;
        if (!is_role(role)) {
            return is_->rv = bad(q, apr_pstrcat(q->p, where_of(&w), ".role",
                                                NULL),
                                 "role must be user, assistant, system or "
                                 "developer");
        }
        llmgw_buf_init(&content, q->p, 0);
        if ((is_->rv = content_to_chat(q, cv, is(cv, LLMGW_JV_STRING) ? NULL
                                       : apr_pstrcat(q->p, where_of(&w),
                                                     ".content", NULL),
                                       role, &content))) {
            return is_->rv;
        }
        llmgw_buf_append(open_msg(q, role), content.data, content.len);
    }
    else if (!strcmp(type, "function_call")) {
        const llmgw_jspan_t *call_id, *name, *args;
        if ((is_->rv = item_string(q, &item, "call_id", &w, &call_id))
            || (is_->rv = item_string(q, &item, "name", &w, &name))
            || (is_->rv = item_string(q, &item, "arguments", &w,
                                      &args))) {
            return is_->rv;
        }
        if (!q->has_last || !q->last_assistant) {
            LLMGW_BUF_LIT(open_msg(q, "assistant"), ",\"content\":null");
        }
        llmgw_buf_json_comma(&q->calls);
        LLMGW_BUF_LIT(&q->calls, "{\"id\":");
        put(&q->calls, call_id);
        LLMGW_BUF_LIT(&q->calls, ",\"type\":\"function\",\"function\":{"
                      "\"name\":");
        put(&q->calls, name);
        LLMGW_BUF_LIT(&q->calls, ",\"arguments\":");
        put(&q->calls, args);
        LLMGW_BUF_LIT(&q->calls, "}}");
    }
    else if (!strcmp(type, "function_call_output")) {
        const llmgw_jspan_t *call_id;
        llmgw_buf_t out;
        if ((is_->rv = item_string(q, &item, "call_id", &w, &call_id))) {
            return is_->rv;
        }
        llmgw_buf_init(&out, q->p, 0);
        if ((is_->rv = call_output(q, llmgw_jobj_get(&item, "output"), &w,
                                   &out))) {
            return is_->rv;
        }
        LLMGW_BUF_LIT(open_msg(q, "tool"), ",\"tool_call_id\":");
        put(&q->last, call_id);
        LLMGW_BUF_LIT(&q->last, ",\"content\":");
        llmgw_buf_append(&q->last, out.data, out.len);
    }
    else if (strcmp(type, "reasoning")) {
        return is_->rv = bad(q, apr_pstrcat(q->p, where_of(&w), ".type",
                                            NULL),
                             apr_psprintf(q->p, "input items of type '%s' "
                                          "are not supported by the gateway",
                                          type));
    }
    /* reasoning: the provider's own thinking, not resent */
    return 0;
}

/* Appends the Chat messages of input items (an array). prefix names the
 * items in errors ("input"). */
static int one_item(void *baton, const char *k, apr_size_t kl, int esc,
                    const llmgw_jspan_t *iv)
{
    (void)k; (void)kl; (void)esc;
    return item_to_chat(baton, iv, NULL);
}

static int items_to_chat(rq_t *q, const llmgw_jspan_t *items,
                         const char *prefix)
{
    items_t is_;

    memset(&is_, 0, sizeof(is_));
    is_.q = q;
    is_.prefix = prefix;
    if (llmgw_json_each(items, one_item, &is_)) {
        return is_.rv ? is_.rv : 400;
    }
    return 0;
}

/* ---------------------------------------------------- the first pass */

/* The request read in one validating pass (llmgw_json_object_visit): the
 * top level's members and, when input is an array, each item's members,
 * kept for the translation that follows (its checks come in the tree
 * converter's order). */
typedef struct {
    llmgw_jspan_t v;
    llmgw_jobj_t o;
} read_item_t;

enum { RV_TOP = 1, RV_ITEMS, RV_ITEM };

typedef struct {
    int kind;
    struct read_pass *rp;
} read_vb_t;

typedef struct read_pass {
    apr_pool_t *p;
    llmgw_jobj_t top;
    apr_array_header_t *items;      /* read_item_t * of the last input */
    read_item_t *cur;
    read_vb_t vtop, vitems, vitem;
} read_pass_t;

static void *read_enter(void *baton, const char *key, apr_size_t klen,
                        int esc)
{
    read_vb_t *vb = baton;
    read_pass_t *rp = vb->rp;
    (void)key; (void)klen; (void)esc;

    if (vb->kind != RV_ITEMS) {
        return NULL;
    }
    rp->cur = apr_palloc(rp->p, sizeof(*rp->cur));
    llmgw_jobj_init(&rp->cur->o, rp->p);
    return &rp->vitem;
}

static void *read_enter_array(void *baton, const char *key, apr_size_t klen,
                              int esc)
{
    read_vb_t *vb = baton;
    read_pass_t *rp = vb->rp;

    if (vb->kind != RV_TOP || !llmgw_json_key_is(key, klen, esc, "input")) {
        return NULL;
    }
    apr_array_clear(rp->items);
    return &rp->vitems;
}

static int read_member(void *baton, const char *key, apr_size_t klen,
                       int esc, const llmgw_jspan_t *v)
{
    read_vb_t *vb = baton;
    read_pass_t *rp = vb->rp;

    switch (vb->kind) {
    case RV_TOP:
        return llmgw_jobj_member(&rp->top, key, klen, esc, v);
    case RV_ITEM:
        return llmgw_jobj_member(&rp->cur->o, key, klen, esc, v);
    default:                        /* an element of input */
        if (v->type != LLMGW_JV_OBJECT) {
            rp->cur = apr_palloc(rp->p, sizeof(*rp->cur));
            llmgw_jobj_init(&rp->cur->o, rp->p);
        }
        rp->cur->v = *v;
        APR_ARRAY_PUSH(rp->items, read_item_t *) = rp->cur;
        rp->cur = NULL;
        return 0;
    }
}

static const llmgw_json_visitor_t read_visitor = {
    read_member, read_enter, read_enter_array
};

/* The input items read in the first pass. */
static int read_items_to_chat(rq_t *q, const read_pass_t *rp)
{
    items_t is_;
    int i;

    memset(&is_, 0, sizeof(is_));
    is_.q = q;
    is_.prefix = "input";
    for (i = 0; i < rp->items->nelts; i++) {
        read_item_t *it = APR_ARRAY_IDX(rp->items, i, read_item_t *);
        if (item_to_chat(&is_, &it->v, &it->o)) {
            return is_.rv ? is_.rv : 400;
        }
    }
    return 0;
}

/* The input items the request's validating pass kept
 * (llmgw_chat_scan_t.items): each item's members read again from the
 * spans as the visitor reads them, not from the text. */
static int scan_items_to_chat(rq_t *q, const llmgw_chat_scan_t *sc)
{
    const llmgw_scan_member_t *mem =
        (const llmgw_scan_member_t *)sc->item_members->elts;
    items_t is_;
    llmgw_jobj_t o;
    int i, j;

    memset(&is_, 0, sizeof(is_));
    is_.q = q;
    is_.prefix = "input";
    for (i = 0; i < sc->items->nelts; i++) {
        const llmgw_item_rec_t *it = &APR_ARRAY_IDX(sc->items, i,
                                                    llmgw_item_rec_t);
        llmgw_jobj_init(&o, q->p);
        for (j = it->first; j < it->first + it->n; j++) {
            llmgw_jobj_member(&o, mem[j].key, mem[j].klen, 0, &mem[j].v);
        }
        if (item_to_chat(&is_, &it->v, &o)) {
            return is_.rv ? is_.rv : 400;
        }
    }
    return 0;
}

/* -------------------------------------------------------------- tools */

typedef struct {
    rq_t *q;
    llmgw_buf_t *out;
    unsigned i;
    int rv;
} tools_t;

static int one_tool(void *baton, const char *k, apr_size_t kl, int esc,
                    const llmgw_jspan_t *tv)
{
    tools_t *ts = baton;
    rq_t *q = ts->q;
    const char *where = llmgw_param_at(q->p, "tools", "", ts->i++);
    const llmgw_jspan_t *name, *desc, *params, *strict;
    const char *type;
    llmgw_jobj_t t;
    (void)k; (void)kl; (void)esc;

    llmgw_jobj_read(&t, q->p, tv);
    type = cstr(q, llmgw_jobj_get(&t, "type"));
    name = llmgw_jobj_get(&t, "name");
    desc = llmgw_jobj_get(&t, "description");
    params = llmgw_jobj_get(&t, "parameters");
    strict = llmgw_jobj_get(&t, "strict");
    if (type == NULL || strcmp(type, "function")) {
        return ts->rv = unsupported(q, "tools", apr_psprintf(q->p, "tools of "
                                    "type '%s' are not supported by the "
                                    "gateway: function tools only",
                                    type ? type : "(none)"));
    }
    if (!is(name, LLMGW_JV_STRING)) {
        return ts->rv = bad(q, apr_pstrcat(q->p, where, ".name", NULL),
                            "function tools need a name");
    }
    if ((given(desc) && !is(desc, LLMGW_JV_STRING))
        || (given(params) && !is(params, LLMGW_JV_OBJECT))
        || (given(strict) && !is_bool(strict))) {
        return ts->rv = bad(q, where, "description must be a string, "
                            "parameters an object and strict a boolean");
    }
    llmgw_buf_json_comma(ts->out);
    LLMGW_BUF_LIT(ts->out, "{\"type\":\"function\",\"function\":{\"name\":");
    put(ts->out, name);
    put_opt(ts->out, "description", desc);
    put_opt(ts->out, "parameters", params);
    put_opt(ts->out, "strict", strict);
    LLMGW_BUF_LIT(ts->out, "}}");
    return 0;
}

static int tools_to_chat(rq_t *q, const llmgw_jspan_t *tools,
                         llmgw_buf_t *out)
{
    tools_t ts;

    if (!is(tools, LLMGW_JV_ARRAY)) {
        return bad(q, "tools", "tools must be an array");
    }
    memset(&ts, 0, sizeof(ts));
    ts.q = q;
    ts.out = out;
    llmgw_buf_json_comma(out);
    LLMGW_BUF_LIT(out, "\"tools\":[");
    if (llmgw_json_each(tools, one_tool, &ts)) {
        return ts.rv ? ts.rv : 400;
    }
    LLMGW_BUF_LIT(out, "]");
    return 0;
}

static int tool_choice_to_chat(rq_t *q, const llmgw_jspan_t *tc,
                               llmgw_buf_t *out)
{
    const char *s = cstr(q, tc);

    if (s && (!strcmp(s, "auto") || !strcmp(s, "none")
              || !strcmp(s, "required"))) {
        llmgw_buf_json_comma(out);
        LLMGW_BUF_LIT(out, "\"tool_choice\":");
        put(out, tc);
        return 0;
    }
    if (is(tc, LLMGW_JV_OBJECT)) {
        llmgw_jobj_t o;
        const char *type;
        const llmgw_jspan_t *name;
        llmgw_jobj_read(&o, q->p, tc);
        type = cstr(q, llmgw_jobj_get(&o, "type"));
        name = llmgw_jobj_get(&o, "name");
        if (type && !strcmp(type, "function") && is(name, LLMGW_JV_STRING)) {
            llmgw_buf_json_comma(out);
            LLMGW_BUF_LIT(out, "\"tool_choice\":{\"type\":\"function\","
                          "\"function\":{\"name\":");
            put(out, name);
            LLMGW_BUF_LIT(out, "}}");
            return 0;
        }
    }
    return bad(q, "tool_choice", "tool_choice must be auto, none, required "
               "or {\"type\":\"function\",\"name\":...}");
}

/* text: {format: {type text | json_object | json_schema}, verbosity}. */
static int text_to_chat(rq_t *q, const llmgw_jspan_t *text, llmgw_buf_t *out)
{
    llmgw_jobj_t t, f;
    const llmgw_jspan_t *fmt;
    const char *type;
    int i;

    if (!is(text, LLMGW_JV_OBJECT)) {
        return bad(q, "text", "text must be an object");
    }
    llmgw_jobj_read(&t, q->p, text);
    for (i = 0; i < t.n; i++) {
        const llmgw_jmem_t *m = &t.m[i];
        if (!KEY_IS(m->k, m->kl, "format") && given(&m->v)) {
            const char *k = apr_pstrmemdup(q->p, m->k, m->kl);
            return unsupported(q, apr_pstrcat(q->p, "text.", k, NULL),
                               apr_psprintf(q->p, "text.%s is not supported "
                                            "by the gateway", k));
        }
    }
    fmt = llmgw_jobj_get(&t, "format");
    if (!given(fmt)) {
        return 0;
    }
    llmgw_jobj_read(&f, q->p, fmt);
    type = cstr(q, llmgw_jobj_get(&f, "type"));
    if (type == NULL) {
        return bad(q, "text.format.type", "text.format needs a type");
    }
    if (!strcmp(type, "text")) {
        return 0;
    }
    if (!strcmp(type, "json_object")) {
        llmgw_buf_json_comma(out);
        LLMGW_BUF_LIT(out, "\"response_format\":{\"type\":\"json_object\"}");
        return 0;
    }
    if (!strcmp(type, "json_schema")) {
        const llmgw_jspan_t *name = llmgw_jobj_get(&f, "name");
        const llmgw_jspan_t *schema = llmgw_jobj_get(&f, "schema");
        const llmgw_jspan_t *strict = llmgw_jobj_get(&f, "strict");
        const llmgw_jspan_t *desc = llmgw_jobj_get(&f, "description");
        if (!is(name, LLMGW_JV_STRING)) {
            return bad(q, "text.format.name", "json_schema needs a name");
        }
        if (!is(schema, LLMGW_JV_OBJECT)) {
            return bad(q, "text.format.schema",
                       "json_schema needs a schema object");
        }
        if ((given(strict) && !is_bool(strict))
            || (given(desc) && !is(desc, LLMGW_JV_STRING))) {
            return bad(q, "text.format", "strict must be a boolean and "
                       "description a string");
        }
        llmgw_buf_json_comma(out);
        LLMGW_BUF_LIT(out, "\"response_format\":{\"type\":\"json_schema\","
                      "\"json_schema\":{\"name\":");
        put(out, name);
        put_opt(out, "description", desc);
        LLMGW_BUF_LIT(out, ",\"schema\":");
        put(out, schema);
        put_opt(out, "strict", strict);
        LLMGW_BUF_LIT(out, "}}");
        return 0;
    }
    return bad(q, "text.format.type", apr_psprintf(q->p, "text.format type "
               "'%s' is not supported", type));
}

/* ------------------------------------------------------------ request */

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

/* ,"name":v */
static void put_member(llmgw_buf_t *out, const char *name,
                       const llmgw_jspan_t *v)
{
    llmgw_buf_json_comma(out);
    LLMGW_BUF_LIT(out, "\"");
    put_str(out, name);
    LLMGW_BUF_LIT(out, "\":");
    put(out, v);
}

/* One member of the request (given, not model, input, instructions or a
 * gateway field); 0 when taken or known and ignored. */
static int member_to_chat(rq_t *q, const char *k, const llmgw_jspan_t *v,
                          llmgw_buf_t *out)
{
    if (!strcmp(k, "tools")) {
        return tools_to_chat(q, v, out);
    }
    if (!strcmp(k, "tool_choice")) {
        return tool_choice_to_chat(q, v, out);
    }
    if (!strcmp(k, "max_output_tokens")) {
        apr_int64_t n;
        if (!is(v, LLMGW_JV_NUMBER) || !llmgw_json_int(v, &n) || n < 1) {
            return bad(q, k, "max_output_tokens must be a positive integer");
        }
        put_member(out, "max_completion_tokens", v);
        return 0;
    }
    if (!strcmp(k, "temperature") || !strcmp(k, "top_p")) {
        if (!is(v, LLMGW_JV_NUMBER)) {
            return bad(q, k, apr_psprintf(q->p, "%s must be a number", k));
        }
        put_member(out, k, v);
        return 0;
    }
    if (!strcmp(k, "parallel_tool_calls") || !strcmp(k, "stream")
        || !strcmp(k, "store") || !strcmp(k, "background")) {
        if (!is_bool(v)) {
            return bad(q, k, apr_psprintf(q->p, "%s must be a boolean", k));
        }
        if (!strcmp(k, "background") && is(v, LLMGW_JV_TRUE)) {
            return unsupported(q, k, "background responses are not "
                               "supported by the gateway");
        }
        if (!strcmp(k, "parallel_tool_calls") || !strcmp(k, "stream")) {
            put_member(out, k, v);
        }
        if (!strcmp(k, "stream") && is(v, LLMGW_JV_TRUE)) {
            LLMGW_BUF_LIT(out, ",\"stream_options\":{\"include_usage\":"
                          "true}");
        }
        return 0;                           /* store: the gateway's */
    }
    if (!strcmp(k, "user") || !strcmp(k, "previous_response_id")) {
        if (!is(v, LLMGW_JV_STRING)) {
            return bad(q, k, apr_psprintf(q->p, "%s must be a string", k));
        }
        if (!strcmp(k, "user")) {
            put_member(out, k, v);
        }
        return 0;
    }
    if (!strcmp(k, "metadata")) {
        return is(v, LLMGW_JV_OBJECT) ? 0
               : bad(q, k, "metadata must be an object");
    }
    if (!strcmp(k, "include")) {
        return is(v, LLMGW_JV_ARRAY) ? 0
               : bad(q, k, "include must be an array");
    }
    if (!strcmp(k, "truncation")) {
        const char *s = cstr(q, v);
        if (s && !strcmp(s, "disabled")) {
            return 0;
        }
        return bad(q, k, "truncation other than \"disabled\" is not "
                   "supported by the gateway");
    }
    if (!strcmp(k, "text")) {
        return text_to_chat(q, v, out);
    }
    if (!strcmp(k, "reasoning")) {
        llmgw_jobj_t o;
        const llmgw_jspan_t *effort;
        if (!is(v, LLMGW_JV_OBJECT)) {
            return bad(q, k, "reasoning must be an object");
        }
        llmgw_jobj_read(&o, q->p, v);
        effort = llmgw_jobj_get(&o, "effort");
        if (given(effort)) {
            if (!is(effort, LLMGW_JV_STRING)) {
                return bad(q, "reasoning.effort", "effort must be a string");
            }
            put_member(out, "reasoning_effort", effort);
        }
        return 0;                           /* summary: ours to write */
    }
    return unsupported(q, k, apr_psprintf(q->p, "%s is not supported by the "
                                          "gateway", k));
}

int llmgw_responses_to_chat(apr_pool_t *p, const char *in, apr_size_t len,
                            const llmgw_api_ctx_t *c, const char **chat,
                            apr_size_t *chat_len, const char **err,
                            const char **param, const char **code)
{
    rq_t q;
    read_pass_t rp;
    const llmgw_chat_scan_t *sc;
    llmgw_jobj_t top;
    llmgw_jspan_t span;
    const llmgw_jspan_t *model, *input, *instr;
    llmgw_buf_t out;
    int i, rv;

    memset(&q, 0, sizeof(q));
    q.p = p;
    q.err = err;
    q.param = param;
    q.code = code;
    *code = NULL;
    *param = NULL;
    *chat = NULL;
    *chat_len = 0;
    memset(&rp, 0, sizeof(rp));
    rp.p = p;
    llmgw_jobj_init(&rp.top, p);
    rp.items = apr_array_make(p, 4, sizeof(read_item_t *));
    rp.vtop.kind = RV_TOP;
    rp.vitems.kind = RV_ITEMS;
    rp.vitem.kind = RV_ITEM;
    rp.vtop.rp = rp.vitems.rp = rp.vitem.rp = &rp;
    sc = c ? c->scan : NULL;
    if (sc && (sc->text != in || sc->len != len || sc->items == NULL)) {
        sc = NULL;                  /* another text: read it */
    }
    if (sc) {                       /* read in the request's own pass */
        for (i = 0; i < sc->nmembers; i++) {
            llmgw_jobj_member(&rp.top, sc->members[i].key,
                              sc->members[i].klen, 0, &sc->members[i].v);
        }
    }
    else if (llmgw_json_object_visit(in, len, &span, &read_visitor,
                                     &rp.vtop) != 1) {
        return bad(&q, NULL, "the request must be a JSON object");
    }
    top = rp.top;
    if (rp.top.m == rp.top.small) {
        top.m = top.small;
    }
    model = llmgw_jobj_get(&top, "model");
    input = llmgw_jobj_get(&top, "input");
    instr = llmgw_jobj_get(&top, "instructions");
    if (!is(model, LLMGW_JV_STRING) || model->len <= 2) {
        return bad(&q, "model", "model must be a non-empty string");
    }
    if (!is(input, LLMGW_JV_STRING) && !is(input, LLMGW_JV_ARRAY)) {
        return bad(&q, "input", given(input)
                   ? "input must be a string or an array of items"
                   : "input is required");
    }
    if (given(instr) && !is(instr, LLMGW_JV_STRING)) {
        return bad(&q, "instructions", "instructions must be a string");
    }
    llmgw_buf_init(&q.msgs, p, len + 64);
    llmgw_buf_init(&q.last, p, 0);
    llmgw_buf_init(&q.calls, p, 0);
    LLMGW_BUF_LIT(&q.msgs, "[");
    if (given(instr)) {
        LLMGW_BUF_LIT(open_msg(&q, "system"), ",\"content\":");
        put(&q.last, instr);
    }
    if (c && json_is_array(c->history)) {
        /* the stored conversation (a tree): read as text like the rest */
        char *h = llmgw_json_dumps(c->history, JSON_COMPACT);
        llmgw_jspan_t hs;
        if (h == NULL) {
            return bad(&q, "previous_response_id", "the stored conversation "
                       "cannot be read");
        }
        hs.p = apr_pstrdup(p, h);
        hs.len = strlen(h);
        hs.type = LLMGW_JV_ARRAY;
        hs.escaped = 0;
        free(h);
        if ((rv = items_to_chat(&q, &hs, "previous_response_id"))) {
            return rv;
        }
    }
    if (is(input, LLMGW_JV_STRING)) {
        LLMGW_BUF_LIT(open_msg(&q, "user"), ",\"content\":");
        put(&q.last, input);
    }
    else if ((rv = sc ? scan_items_to_chat(&q, sc)
                      : read_items_to_chat(&q, &rp))) {
        return rv;
    }
    if (!q.has_last && q.msgs.len == 1) {
        return bad(&q, "input", "input has no message");
    }
    flush_last(&q);
    LLMGW_BUF_LIT(&q.msgs, "]");
    llmgw_buf_init(&out, p, q.msgs.len + 256);
    LLMGW_BUF_LIT(&out, "{\"model\":");
    put(&out, model);
    LLMGW_BUF_LIT(&out, ",\"messages\":");
    llmgw_buf_append(&out, q.msgs.data, q.msgs.len);
    for (i = 0; i < top.n; i++) {
        const llmgw_jmem_t *m = &top.m[i];
        const char *k;
        if (KEY_IS(m->k, m->kl, "model") || KEY_IS(m->k, m->kl, "input")
            || KEY_IS(m->k, m->kl, "instructions")
            || is_gateway_field(m->k, m->kl)    /* the gateway's, not sent */
            || !given(&m->v)) {
            continue;
        }
        k = apr_pstrmemdup(p, m->k, m->kl);
        if ((rv = member_to_chat(&q, k, &m->v, &out))) {
            return rv;
        }
    }
    LLMGW_BUF_LIT(&out, "}");
    *chat = out.data;
    *chat_len = out.len;
    return 0;
}

/* ------------------------------------------------------- conversation */

json_t *llmgw_responses_conversation(const json_t *history,
                                     const json_t *request,
                                     const json_t *response)
{
    const json_t *input = json_object_get(request, "input");
    const json_t *output = json_object_get(response, "output");
    json_t *all = json_array();
    const json_t *it;
    size_t i;

    /* items shared, not copied: the conversation is serialised at once */
    json_array_foreach(history, i, it) {
        json_array_append(all, (json_t *)it);
    }
    if (json_is_string(input)) {
        json_array_append_new(all, json_pack("{s:s,s:s,s:O}", "type",
                                             "message", "role", "user",
                                             "content", input));
    }
    else if (json_is_array(input)) {
        json_array_foreach(input, i, it) {
            json_array_append(all, (json_t *)it);
        }
    }
    else {
        json_decref(all);
        return NULL;
    }
    json_array_foreach(output, i, it) {
        json_array_append(all, (json_t *)it);
    }
    return all;
}
