/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_response.c — the Gemini answer reader: a
 * generateContent answer -> chat.completion.
 */
#include <apr_hash.h>
#include "llmgw_gemini_int.h"

/* ------------------------------------------------------------------ */
/* Read with the scanner, written directly                             */
/* ------------------------------------------------------------------ */

#define W_LIT LLMGW_BUF_LIT

/* Up to 8 members of an object, by name (the last of a repeated one
 * wins, as in jansson); a member not there has type -1. */
typedef struct {
    const char *const *names;
    llmgw_jspan_t v[8];
    int has[8];
} gr_obj_t;

static int gr_member(void *baton, const char *key, apr_size_t klen, int esc,
                     const llmgw_jspan_t *v)
{
    gr_obj_t *o = baton;
    int i;

    for (i = 0; o->names[i]; i++) {
        if (llmgw_json_key_is(key, klen, esc, o->names[i])) {
            o->v[i] = *v;
            o->has[i] = 1;
            break;
        }
    }
    return 0;
}

/* The answer's containers, read in its one validating pass
 * (llmgw_json_object_visit entering every object and array): each one's
 * members or elements, found by the container's first byte, so that the
 * readers below take them without scanning the text again. */
typedef struct {
    const char *key;            /* NULL: an array's element */
    apr_size_t klen;
    int esc;
    llmgw_jspan_t v;
} gm_item_t;

typedef struct gm_node {
    const char *start;          /* the container's first byte: the key */
    apr_array_header_t *items;  /* gm_item_t */
    struct gm_node *pending;    /* the child entered last, not yet seen */
    apr_pool_t *p;
    apr_hash_t *memo;
} gm_node_t;

static void *gm_enter(void *baton, const char *key, apr_size_t klen,
                      int esc)
{
    gm_node_t *parent = baton, *n = apr_pcalloc(parent->p, sizeof(*n));

    (void)key; (void)klen; (void)esc;
    n->items = apr_array_make(parent->p, 4, sizeof(gm_item_t));
    n->p = parent->p;
    n->memo = parent->memo;
    parent->pending = n;
    return n;
}

static int gm_member(void *baton, const char *key, apr_size_t klen, int esc,
                     const llmgw_jspan_t *v)
{
    gm_node_t *n = baton;
    gm_item_t *it = apr_array_push(n->items);

    it->key = key;
    it->klen = klen;
    it->esc = esc;
    it->v = *v;
    if (n->pending != NULL) {
        n->pending->start = v->p;
        apr_hash_set(n->memo, &n->pending->start, sizeof(const char *),
                     n->pending);
        n->pending = NULL;
    }
    return 0;
}

static const llmgw_json_visitor_t gm_visitor = {
    gm_member, gm_enter, gm_enter
};

/* Calls fn for each member of the object (or element of the array) v:
 * from the pass when memo has it, else from the text. */
static void gr_each(apr_hash_t *memo, const llmgw_jspan_t *v,
                    llmgw_json_member_fn fn, void *baton)
{
    const gm_node_t *n = memo ? apr_hash_get(memo, &v->p,
                                             sizeof(const char *)) : NULL;
    int i;

    if (n == NULL) {
        llmgw_json_each(v, fn, baton);
        return;
    }
    for (i = 0; i < n->items->nelts; i++) {
        const gm_item_t *it = &APR_ARRAY_IDX(n->items, i, gm_item_t);
        if (fn(baton, it->key, it->klen, it->esc, &it->v)) {
            return;
        }
    }
}

/* The members names of v (when it is an object) into o. */
static void gr_obj(apr_hash_t *memo, gr_obj_t *o, const char *const *names,
                   const llmgw_jspan_t *v)
{
    memset(o, 0, sizeof(*o));
    o->names = names;
    if (v && v->type == LLMGW_JV_OBJECT) {
        gr_each(memo, v, gr_member, o);
    }
}

static const llmgw_jspan_t *gr_get(const gr_obj_t *o, int i,
                                   llmgw_jv_type_e type)
{
    return o->has[i] && o->v[i].type == type ? &o->v[i] : NULL;
}

/* A string span's value in the pool (a C string: cut at a NUL, as the
 * tree path's C strings were), or NULL. */
static const char *gr_pstr(apr_pool_t *p, const llmgw_jspan_t *v)
{
    json_t *j;
    const char *s;

    if (v == NULL) {
        return NULL;
    }
    if (!v->escaped) {
        return apr_pstrmemdup(p, v->p + 1, v->len - 2);
    }
    j = llmgw_json_loadb(v->p, v->len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                         NULL);
    s = json_is_string(j) ? apr_pstrdup(p, json_string_value(j)) : NULL;
    json_decref(j);
    return s;
}

/* An integer span: *v and 1; 0 when it is not one (a real: jansson's
 * real), -1 when out of range (jansson refuses the whole answer). */
static int gr_int(const llmgw_jspan_t *s, apr_int64_t *v)
{
    char num[32], *e;
    long long n;

    if (s == NULL || s->type != LLMGW_JV_NUMBER || memchr(s->p, '.', s->len)
        || memchr(s->p, 'e', s->len) || memchr(s->p, 'E', s->len)) {
        return 0;
    }
    if (s->len >= sizeof(num)) {
        return -1;
    }
    memcpy(num, s->p, s->len);
    num[s->len] = '\0';
    errno = 0;
    n = strtoll(num, &e, 10);
    if (errno || *e) {
        return -1;
    }
    *v = (apr_int64_t)n;
    return 1;
}

/* A number span's value (json_number_value), 0.0 when not a number. */
static double gr_num(const llmgw_jspan_t *s)
{
    char num[64];

    if (s == NULL || s->type != LLMGW_JV_NUMBER || s->len >= sizeof(num)) {
        return 0.0;
    }
    memcpy(num, s->p, s->len);
    num[s->len] = '\0';
    return strtod(num, NULL);
}

typedef struct {
    apr_pool_t *p;
    apr_hash_t *memo;           /* the containers of the answer's pass */
    const llmgw_xlate_ctx_t *x;
    llmgw_buf_t *out;
    int nchoices;
    size_t pos;
    int bad;
} gr_t;

/* ---- one candidate's parts */

static const char *const part_names[] = { "text", "thought", "functionCall",
                                          "thoughtSignature", NULL };
enum { P_TEXT, P_THOUGHT, P_CALL, P_SIG };

typedef struct {
    gr_t *r;
    int idx;
    llmgw_buf_t text, thoughts, calls;  /* escaped; the calls array */
    int has_text, has_thoughts, ncalls;
} gr_cand_t;

static int gr_part(void *baton, const char *key, apr_size_t klen, int esc,
                   const llmgw_jspan_t *v)
{
    gr_cand_t *c = baton;
    const llmgw_jspan_t *t, *fc;
    gr_obj_t o;
    int thought;

    (void)key; (void)klen; (void)esc;
    gr_obj(c->r->memo, &o, part_names, v);
    t = gr_get(&o, P_TEXT, LLMGW_JV_STRING);
    thought = o.has[P_THOUGHT] && o.v[P_THOUGHT].type == LLMGW_JV_TRUE;
    if (t && !thought && t->len > 2) {
        llmgw_buf_append(&c->text, t->p + 1, t->len - 2);
        c->has_text = 1;
    }
    else if (t && thought && t->len > 2) {
        /* the tree path joined C strings: a text is cut at a NUL */
        const char *s = t->escaped ? gr_pstr(c->r->p, t) : NULL;
        if (!t->escaped) {
            llmgw_buf_append(&c->thoughts, t->p + 1, t->len - 2);
            c->has_thoughts = 1;
        }
        else if (s && *s) {
            llmgw_buf_json_escape(&c->thoughts, s, strlen(s));
            c->has_thoughts = 1;
        }
    }
    if ((fc = gr_get(&o, P_CALL, LLMGW_JV_OBJECT)) != NULL) {
        static const char *const fc_names[] = { "name", "args", NULL };
        gr_obj_t f;
        const llmgw_jspan_t *name, *args = NULL;
        const char *id = gem_ctx_id(c->r->x);
        char *argstr = NULL;

        gr_obj(c->r->memo, &f, fc_names, fc);
        name = gr_get(&f, 0, LLMGW_JV_STRING);
        if (f.has[1] && (f.v[1].type == LLMGW_JV_OBJECT
                         || f.v[1].type == LLMGW_JV_ARRAY)) {
            args = &f.v[1];
        }
        if (args) {
            json_t *j = llmgw_json_loadb(args->p, args->len, JSON_ALLOW_NUL,
                                         NULL);
            argstr = j ? llmgw_json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)
                       : NULL;
            json_decref(j);
        }
        if (c->ncalls) {
            W_LIT(&c->calls, ",");
        }
        if (!strncmp(id, "chatcmpl-", 9)) {
            id += 9;
        }
        W_LIT(&c->calls, "{\"id\":");
        llmgw_buf_json_cstr(&c->calls, apr_psprintf(c->r->p, "call_%s_%d_%d",
                                                    id, c->idx, c->ncalls));
        W_LIT(&c->calls, ",\"type\":\"function\",\"function\":{\"name\":");
        if (name) {
            llmgw_buf_append(&c->calls, name->p, name->len);
        }
        else {
            W_LIT(&c->calls, "\"\"");
        }
        W_LIT(&c->calls, ",\"arguments\":");
        llmgw_buf_json_cstr(&c->calls, argstr ? argstr : "{}");
        free(argstr);
        W_LIT(&c->calls, "}");
        if (o.has[P_SIG] && o.v[P_SIG].type == LLMGW_JV_STRING) {
            W_LIT(&c->calls, ",\"extra_content\":{\"google\":"
                  "{\"thought_signature\":");
            llmgw_buf_append(&c->calls, o.v[P_SIG].p, o.v[P_SIG].len);
            W_LIT(&c->calls, "}}");
        }
        W_LIT(&c->calls, "}");
        c->ncalls++;
    }
    return 0;
}

/* ---- logprobsResult */

typedef struct {
    gr_t *r;
    llmgw_buf_t *b;
    const llmgw_jspan_t *top;       /* topCandidates (an array) or NULL */
    size_t i;
} gr_lp_t;

static const char *const lp_names[] = { "token", "logProbability", NULL };

static void gr_token(llmgw_buf_t *b, const gr_obj_t *o)
{
    const llmgw_jspan_t *tok = gr_get(o, 0, LLMGW_JV_STRING);
    W_LIT(b, "{\"token\":");
    if (tok) {
        llmgw_buf_append(b, tok->p, tok->len);
    }
    else {
        W_LIT(b, "\"\"");
    }
    W_LIT(b, ",\"logprob\":");
    llmgw_buf_json_real(b, gr_num(gr_get(o, 1, LLMGW_JV_NUMBER)));
    W_LIT(b, ",\"bytes\":null");
}

static int gr_alt(void *baton, const char *key, apr_size_t klen, int esc,
                  const llmgw_jspan_t *v)
{
    gr_lp_t *l = baton;
    gr_obj_t o;

    (void)key; (void)klen; (void)esc;
    if (l->i++) {
        W_LIT(l->b, ",");
    }
    gr_obj(l->r->memo, &o, lp_names, v);
    gr_token(l->b, &o);
    W_LIT(l->b, "}");
    return 0;
}

/* The nth element of an array span, or NULL. */
typedef struct { size_t n; llmgw_jspan_t v; int found; } gr_nth_t;

static int gr_nth_el(void *baton, const char *key, apr_size_t klen, int esc,
                     const llmgw_jspan_t *v)
{
    gr_nth_t *n = baton;
    (void)key; (void)klen; (void)esc;
    if (n->n-- == 0) {
        n->v = *v;
        n->found = 1;
        return 1;
    }
    return 0;
}

static int gr_chosen(void *baton, const char *key, apr_size_t klen, int esc,
                     const llmgw_jspan_t *v)
{
    gr_lp_t *l = baton;
    gr_obj_t o;
    gr_nth_t nth;
    gr_lp_t alts;

    (void)key; (void)klen; (void)esc;
    if (l->i) {
        W_LIT(l->b, ",");
    }
    gr_obj(l->r->memo, &o, lp_names, v);
    gr_token(l->b, &o);
    W_LIT(l->b, ",\"top_logprobs\":[");
    memset(&nth, 0, sizeof(nth));
    nth.n = l->i;
    if (l->top) {
        gr_each(l->r->memo, l->top, gr_nth_el, &nth);
    }
    if (nth.found) {
        static const char *const c_names[] = { "candidates", NULL };
        gr_obj_t t;
        const llmgw_jspan_t *cands;
        gr_obj(l->r->memo, &t, c_names, &nth.v);
        if ((cands = gr_get(&t, 0, LLMGW_JV_ARRAY)) != NULL) {
            alts.r = l->r;
            alts.b = l->b;
            alts.top = NULL;
            alts.i = 0;
            gr_each(l->r->memo, cands, gr_alt, &alts);
        }
    }
    W_LIT(l->b, "]}");
    l->i++;
    return 0;
}

/* logprobsResult -> the choice's logprobs (null when absent). */
static void gr_logprobs(gr_t *r, const llmgw_jspan_t *lr)
{
    static const char *const names[] = { "chosenCandidates",
                                         "topCandidates", NULL };
    const llmgw_jspan_t *chosen;
    gr_obj_t o;
    gr_lp_t l;

    gr_obj(r->memo, &o, names, lr);
    if ((chosen = gr_get(&o, 0, LLMGW_JV_ARRAY)) == NULL) {
        W_LIT(r->out, "null");
        return;
    }
    memset(&l, 0, sizeof(l));
    l.r = r;
    l.b = r->out;
    l.top = gr_get(&o, 1, LLMGW_JV_ARRAY);
    W_LIT(r->out, "{\"content\":[");
    gr_each(r->memo, chosen, gr_chosen, &l);
    W_LIT(r->out, "],\"refusal\":null}");
}

/* ---- candidates */

static const char *const cand_names[] = { "index", "content",
                                          "logprobsResult", "finishReason",
                                          NULL };
enum { C_INDEX, C_CONTENT, C_LOGPROBS, C_FINISH };

static int gr_candidate(void *baton, const char *key, apr_size_t klen,
                        int esc, const llmgw_jspan_t *v)
{
    static const char *const content_names[] = { "parts", NULL };
    gr_t *r = baton;
    gr_obj_t o, content;
    gr_cand_t c;
    const llmgw_jspan_t *parts;
    apr_int64_t idx = -1;
    size_t pos = r->pos++;
    llmgw_buf_t *b = r->out;

    (void)key; (void)klen; (void)esc;
    gr_obj(r->memo, &o, cand_names, v);
    /* the choice index: its `index`, else its position; beyond
     * GEMINI_MAX_CHOICES it is skipped */
    switch (gr_int(gr_get(&o, C_INDEX, LLMGW_JV_NUMBER), &idx)) {
    case -1:
        r->bad = 1;
        return 1;
    case 1:
        if (idx >= 0 && idx < GEMINI_MAX_CHOICES) {
            break;
        }
        /* fall through */
    default:
        idx = pos < GEMINI_MAX_CHOICES ? (apr_int64_t)pos : -1;
    }
    if (idx < 0) {
        return 0;
    }
    memset(&c, 0, sizeof(c));
    c.r = r;
    c.idx = (int)idx;
    llmgw_buf_init(&c.text, r->p, v->len);
    llmgw_buf_init(&c.thoughts, r->p, 0);
    llmgw_buf_init(&c.calls, r->p, 0);
    gr_obj(r->memo, &content, content_names, o.has[C_CONTENT] ? &o.v[C_CONTENT]
                                                     : NULL);
    if ((parts = gr_get(&content, 0, LLMGW_JV_ARRAY)) != NULL) {
        gr_each(r->memo, parts, gr_part, &c);
    }
    if (r->nchoices++) {
        W_LIT(b, ",");
    }
    W_LIT(b, "{\"index\":");
    llmgw_buf_int(b, idx);
    W_LIT(b, ",\"message\":{\"role\":\"assistant\",\"content\":");
    if (c.has_text) {
        W_LIT(b, "\"");
        llmgw_buf_append(b, c.text.data, c.text.len);
        W_LIT(b, "\"");
    }
    else if (c.ncalls) {
        W_LIT(b, "null");
    }
    else {
        W_LIT(b, "\"\"");
    }
    W_LIT(b, ",\"refusal\":null");
    if (c.has_thoughts) {
        W_LIT(b, ",\"reasoning_content\":\"");
        llmgw_buf_append(b, c.thoughts.data, c.thoughts.len);
        W_LIT(b, "\"");
    }
    if (c.ncalls) {
        W_LIT(b, ",\"tool_calls\":[");
        llmgw_buf_append(b, c.calls.data, c.calls.len);
        W_LIT(b, "]");
    }
    W_LIT(b, "},\"logprobs\":");
    gr_logprobs(r, o.has[C_LOGPROBS] ? &o.v[C_LOGPROBS] : NULL);
    W_LIT(b, ",\"finish_reason\":");
    llmgw_buf_json_cstr(b, llmgw_finish_reason(
        gem_map_finish(gr_pstr(r->p, gr_get(&o, C_FINISH, LLMGW_JV_STRING))),
        c.ncalls > 0));
    W_LIT(b, "}");
    return 0;
}

/* ---- usageMetadata */


/* -1 when absent or not a non-negative integer (gem_jcount) */
static apr_int64_t gr_count(gr_t *r, const gr_obj_t *o, int i)
{
    apr_int64_t v = -1;
    int rv = gr_int(gr_get(o, i, LLMGW_JV_NUMBER), &v);
    if (rv < 0) {
        r->bad = 1;
    }
    return rv == 1 && v >= 0 ? v : -1;
}

static void gr_usage(gr_t *r, const llmgw_jspan_t *m, llmgw_usage_t *u)
{
    apr_int64_t n[GEM_USAGE_N], prompt, cand, thoughts, total, cached;
    llmgw_buf_t *b = r->out;
    gr_obj_t o;
    int i;

    gr_obj(r->memo, &o, gem_usage_names, m);
    for (i = 0; i < GEM_USAGE_N; i++) {
        n[i] = gr_count(r, &o, i);
    }
    thoughts = n[GEM_USAGE_THOUGHTS];
    gem_usage_sum(n, u);
    prompt = n[GEM_USAGE_PROMPT];
    cand = n[GEM_USAGE_CANDIDATES];
    total = n[GEM_USAGE_TOTAL];
    cached = n[GEM_USAGE_CACHED];
    W_LIT(b, ",\"usage\":{\"prompt_tokens\":");
    llmgw_buf_int(b, prompt);
    W_LIT(b, ",\"completion_tokens\":");
    llmgw_buf_int(b, cand);
    W_LIT(b, ",\"total_tokens\":");
    llmgw_buf_int(b, total);
    if (cached >= 0) {
        W_LIT(b, ",\"prompt_tokens_details\":{\"cached_tokens\":");
        llmgw_buf_int(b, cached);
        W_LIT(b, "}");
    }
    if (thoughts >= 0) {
        W_LIT(b, ",\"completion_tokens_details\":{\"reasoning_tokens\":");
        llmgw_buf_int(b, thoughts);
        W_LIT(b, "}");
    }
    W_LIT(b, "}");
}

static const char *const top_names[] = { "candidates", "promptFeedback",
                                         "usageMetadata", NULL };
enum { T_CANDS, T_FEEDBACK, T_USAGE };

/* A generateContent answer -> chat.completion into out; fills usage. -1
 * when it is not a GenerateContentResponse. */
static int gem_write_response(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                              const char *body, apr_size_t len,
                              llmgw_buf_t *out, llmgw_usage_t *usage)
{
    gr_obj_t top;
    llmgw_jspan_t span;
    gm_node_t root;
    gr_t r;
    int i;

    memset(&root, 0, sizeof(root));
    root.p = p;
    root.memo = apr_hash_make(p);
    root.items = apr_array_make(p, 4, sizeof(gm_item_t));
    memset(&top, 0, sizeof(top));
    top.names = top_names;
    if (llmgw_json_object_visit(body, len, &span, &gm_visitor, &root) != 1) {
        return -1;
    }
    for (i = 0; i < root.items->nelts; i++) {
        const gm_item_t *it = &APR_ARRAY_IDX(root.items, i, gm_item_t);
        gr_member(&top, it->key, it->klen, it->esc, &it->v);
    }
    if (!(top.has[T_CANDS] || top.has[T_FEEDBACK] || top.has[T_USAGE])) {
        return -1;
    }
    memset(&r, 0, sizeof(r));
    r.p = p;
    r.memo = root.memo;
    r.x = x;
    r.out = out;
    llmgw_buf_init(out, p, len + 256);
    W_LIT(out, "{\"id\":");
    llmgw_buf_json_cstr(out, gem_ctx_id(x));
    W_LIT(out, ",\"object\":\"chat.completion\",\"created\":");
    llmgw_buf_int(out, x ? x->created : 0);
    W_LIT(out, ",\"model\":");
    llmgw_buf_json_cstr(out, gem_ctx_model(x));
    W_LIT(out, ",\"choices\":[");
    if (top.has[T_CANDS] && top.v[T_CANDS].type == LLMGW_JV_ARRAY) {
        gr_each(r.memo, &top.v[T_CANDS], gr_candidate, &r);
    }
    if (r.bad) {
        return -1;
    }
    if (r.nchoices == 0) {
        /* No candidate: a blocked prompt, or nothing generated. */
        static const char *const fb_names[] = { "blockReason", NULL };
        gr_obj_t fb;
        gr_obj(r.memo, &fb, fb_names, top.has[T_FEEDBACK] ? &top.v[T_FEEDBACK]
                                                  : NULL);
        W_LIT(out, "{\"index\":0,\"message\":{\"role\":\"assistant\","
              "\"content\":\"\",\"refusal\":null},\"logprobs\":null,"
              "\"finish_reason\":");
        if (gr_get(&fb, 0, LLMGW_JV_STRING)) {
            W_LIT(out, "\"content_filter\"}");
        }
        else {
            W_LIT(out, "\"stop\"}");
        }
    }
    W_LIT(out, "]");
    if (top.has[T_USAGE] && top.v[T_USAGE].type == LLMGW_JV_OBJECT) {
        gr_usage(&r, &top.v[T_USAGE], usage);
        if (r.bad) {
            return -1;
        }
    }
    W_LIT(out, "}");
    return 0;
}

int gem_raw_response(const llmgw_translator_t *self, apr_pool_t *p,
                     const llmgw_xlate_ctx_t *x, const llmgw_xlate_in_t *in,
                     const char *body, apr_size_t len, const char **out,
                     apr_size_t *out_len, llmgw_usage_t *usage)
{
    llmgw_buf_t b;

    if (in->ep != LLMGW_EP_CHAT) {      /* embeddings: through the tree */
        return llmgw_xlate_response_from_tree(self, p, x, in, body, len, out,
                                              out_len, usage);
    }
    if (gem_write_response(p, x, body, len, &b, usage)) {
        return -1;
    }
    *out = b.data;
    *out_len = b.len;
    return 0;
}

json_t *gem_chat_response(apr_pool_t *p, const json_t *native,
                          const llmgw_xlate_ctx_t *x,
                          llmgw_usage_t *usage)
{
    return llmgw_xlate_chat_response_tree(&llmgw_gemini_translator, p, native,
                                          x, usage);
}
