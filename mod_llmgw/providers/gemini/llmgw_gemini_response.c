/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_response.c — the Gemini answer translator: a
 * generateContent answer -> chat.completion.
 */
#include "llmgw_answer.h"
#include "llmgw_gemini_int.h"

/* ------------------------------------------------------------------ */
/* Read with the scanner, written directly                             */
/* ------------------------------------------------------------------ */

/* The answer is read in its one validating pass by the Gemini reader
 * (gem_read, llmgw_gemini_read.c) into fixed per-answer records: the
 * members looked at, as spans of the answer's text (the candidates, their
 * content's parts and the parts' function calls, the usage counts, the
 * prompt feedback); the chat.completion is then written from the records.
 * logprobsResult (rare) is kept as a span and read from its text when
 * written. */

#define W_LIT LLMGW_BUF_LIT

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

/* A present span of that type, or NULL. */
static const llmgw_jspan_t *ga_get(const llmgw_jspan_t *v,
                                   llmgw_jv_type_e type)
{
    return v->p != NULL && v->type == type ? v : NULL;
}

typedef struct {
    apr_pool_t *p;
    const llmgw_xlate_ctx_t *x;
    llmgw_buf_t *out;
    int nchoices;
    int bad;
} gr_t;

/* ---- logprobsResult */

typedef struct {
    gr_t *r;
    llmgw_buf_t *b;
    const llmgw_jspan_t *top;       /* topCandidates (an array) or NULL */
    size_t i;
} gr_lp_t;

static void gr_token(llmgw_buf_t *b, const gem_obj_t *o)
{
    const llmgw_jspan_t *tok = gem_obj_get(o, GEM_LP_TOKEN,
                                           LLMGW_JV_STRING);
    W_LIT(b, "{\"token\":");
    if (tok) {
        llmgw_buf_append(b, tok->p, tok->len);
    }
    else {
        W_LIT(b, "\"\"");
    }
    W_LIT(b, ",\"logprob\":");
    llmgw_buf_json_real(b, gr_num(gem_obj_get(o, GEM_LP_LOGPROB,
                                              LLMGW_JV_NUMBER)));
    W_LIT(b, ",\"bytes\":null");
}

static int gr_alt(void *baton, const char *key, apr_size_t klen, int esc,
                  const llmgw_jspan_t *v)
{
    gr_lp_t *l = baton;
    gem_obj_t o;

    (void)key; (void)klen; (void)esc;
    if (l->i++) {
        W_LIT(l->b, ",");
    }
    gem_obj(&o, gem_lp_names, v);
    gr_token(l->b, &o);
    W_LIT(l->b, "}");
    return 0;
}

static int gr_chosen(void *baton, const char *key, apr_size_t klen, int esc,
                     const llmgw_jspan_t *v)
{
    gr_lp_t *l = baton;
    gem_obj_t o;
    llmgw_jspan_t el;
    gr_lp_t alts;

    (void)key; (void)klen; (void)esc;
    if (l->i) {
        W_LIT(l->b, ",");
    }
    gem_obj(&o, gem_lp_names, v);
    gr_token(l->b, &o);
    W_LIT(l->b, ",\"top_logprobs\":[");
    if (l->top && gem_nth(l->top, l->i, &el)) {
        gem_obj_t t;
        const llmgw_jspan_t *cands;
        gem_obj(&t, gem_lp_names, &el);
        if ((cands = gem_obj_get(&t, GEM_LP_CANDIDATES,
                                 LLMGW_JV_ARRAY)) != NULL) {
            alts.r = l->r;
            alts.b = l->b;
            alts.top = NULL;
            alts.i = 0;
            llmgw_json_each(cands, gr_alt, &alts);
        }
    }
    W_LIT(l->b, "]}");
    l->i++;
    return 0;
}

/* logprobsResult -> the choice's logprobs (null when absent). */
static void gr_logprobs(gr_t *r, const llmgw_jspan_t *lr)
{
    const llmgw_jspan_t *chosen;
    gem_obj_t o;
    gr_lp_t l;

    gem_obj(&o, gem_lr_names, lr);
    if ((chosen = gem_obj_get(&o, GEM_LR_CHOSEN, LLMGW_JV_ARRAY)) == NULL) {
        W_LIT(r->out, "null");
        return;
    }
    memset(&l, 0, sizeof(l));
    l.r = r;
    l.b = r->out;
    l.top = gem_obj_get(&o, GEM_LR_TOP, LLMGW_JV_ARRAY);
    W_LIT(r->out, "{\"content\":[");
    llmgw_json_each(chosen, gr_chosen, &l);
    W_LIT(r->out, "],\"refusal\":null}");
}

/* ---- candidates */

/* A part's text when it is a thought's, as the tree path joined C
 * strings (cut at a NUL): written escaped into b; 0 when it adds
 * nothing. */
static int gr_thought(gr_t *r, llmgw_buf_t *b, const llmgw_jspan_t *t)
{
    const char *s;

    if (!t->escaped) {
        llmgw_buf_append(b, t->p + 1, t->len - 2);
        return 1;
    }
    s = gr_pstr(r->p, t);
    if (s && *s) {
        llmgw_buf_json_escape(b, s, strlen(s));
        return 1;
    }
    return 0;
}

/* A part's functionCall -> a tool call (the ncall-th of choice idx). */
static void gr_call(gr_t *r, llmgw_buf_t *b, const gem_part_t *pt, int idx,
                    int ncall)
{
    const llmgw_jspan_t *name = ga_get(&pt->name, LLMGW_JV_STRING);
    const llmgw_jspan_t *args = NULL;
    const char *id = gem_ctx_id(r->x);
    char *argstr = NULL;

    if (pt->args.p && (pt->args.type == LLMGW_JV_OBJECT
                       || pt->args.type == LLMGW_JV_ARRAY)) {
        args = &pt->args;
    }
    if (args) {
        json_t *j = llmgw_json_loadb(args->p, args->len, JSON_ALLOW_NUL,
                                     NULL);
        argstr = j ? llmgw_json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)
                   : NULL;
        json_decref(j);
    }
    if (ncall) {
        W_LIT(b, ",");
    }
    if (!strncmp(id, "chatcmpl-", 9)) {
        id += 9;
    }
    W_LIT(b, "{\"id\":");
    llmgw_buf_json_cstr(b, apr_psprintf(r->p, "call_%s_%d_%d", id, idx,
                                        ncall));
    W_LIT(b, ",\"type\":\"function\",\"function\":{\"name\":");
    if (name) {
        llmgw_buf_append(b, name->p, name->len);
    }
    else {
        W_LIT(b, "\"\"");
    }
    W_LIT(b, ",\"arguments\":");
    llmgw_buf_json_cstr(b, argstr ? argstr : "{}");
    free(argstr);
    W_LIT(b, "}");
    if (ga_get(&pt->sig, LLMGW_JV_STRING)) {
        W_LIT(b, ",\"extra_content\":{\"google\":{\"thought_signature\":");
        llmgw_buf_append(b, pt->sig.p, pt->sig.len);
        W_LIT(b, "}}");
    }
    W_LIT(b, "}");
}

/* A finishReason span mapped (gem_map_finish of its C string). */
static const char *gr_finish(gr_t *r, const llmgw_jspan_t *f)
{
    char small[40];

    if (f == NULL) {
        return NULL;
    }
    if (!f->escaped && f->len - 2 < sizeof(small)) {
        memcpy(small, f->p + 1, f->len - 2);
        small[f->len - 2] = '\0';
        return gem_map_finish(small);
    }
    return gem_map_finish(gr_pstr(r->p, f));
}

/* One candidate -> a choice; 1 when the answer is refused. */
static int gr_candidate(gr_t *r, gem_read_t *a, const gem_cand_t *cd,
                        size_t pos)
{
    llmgw_buf_t *b = r->out;
    apr_int64_t idx = -1;
    int i, ncalls = 0, n;

    /* the choice index: its `index`, else its position; beyond
     * GEMINI_MAX_CHOICES it is skipped */
    switch (gr_int(ga_get(&cd->index, LLMGW_JV_NUMBER), &idx)) {
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
    for (i = 0; i < cd->nparts; i++) {
        ncalls += GEM_READ_PART(a, cd->parts_first + i)->call;
    }
    if (r->nchoices++) {
        W_LIT(b, ",");
    }
    W_LIT(b, "{\"index\":");
    llmgw_buf_int(b, idx);
    W_LIT(b, ",\"message\":{\"role\":\"assistant\",\"content\":");
    /* the texts that are not thoughts, joined */
    for (i = n = 0; i < cd->nparts; i++) {
        const gem_part_t *pt = GEM_READ_PART(a, cd->parts_first + i);
        const llmgw_jspan_t *t = ga_get(&pt->text, LLMGW_JV_STRING);
        if (t && !pt->thought && t->len > 2) {
            if (!n++) {
                W_LIT(b, "\"");
            }
            llmgw_buf_append(b, t->p + 1, t->len - 2);
        }
    }
    if (n) {
        W_LIT(b, "\"");
    }
    else if (ncalls) {
        W_LIT(b, "null");
    }
    else {
        W_LIT(b, "\"\"");
    }
    W_LIT(b, ",\"refusal\":null");
    for (i = n = 0; i < cd->nparts; i++) {
        const gem_part_t *pt = GEM_READ_PART(a, cd->parts_first + i);
        const llmgw_jspan_t *t = ga_get(&pt->text, LLMGW_JV_STRING);
        if (t && pt->thought && t->len > 2) {
            apr_size_t at = b->len;
            if (!n) {
                W_LIT(b, ",\"reasoning_content\":\"");
            }
            if (gr_thought(r, b, t)) {
                n++;
            }
            else {
                b->len = at;
            }
        }
    }
    if (n) {
        W_LIT(b, "\"");
    }
    if (ncalls) {
        W_LIT(b, ",\"tool_calls\":[");
        for (i = n = 0; i < cd->nparts; i++) {
            const gem_part_t *pt = GEM_READ_PART(a, cd->parts_first + i);
            if (pt->call) {
                gr_call(r, b, pt, (int)idx, n++);
            }
        }
        W_LIT(b, "]");
    }
    W_LIT(b, "},\"logprobs\":");
    gr_logprobs(r, cd->logprobs.p ? &cd->logprobs : NULL);
    W_LIT(b, ",\"finish_reason\":");
    llmgw_buf_json_cstr(b, llmgw_finish_reason(
        gr_finish(r, ga_get(&cd->finish, LLMGW_JV_STRING)), ncalls > 0));
    W_LIT(b, "}");
    return 0;
}

/* ---- usageMetadata */


/* -1 when absent or not a non-negative integer (gem_jcount) */
static apr_int64_t gr_count(gr_t *r, const llmgw_jspan_t *s)
{
    apr_int64_t v = -1;
    int rv = gr_int(ga_get(s, LLMGW_JV_NUMBER), &v);
    if (rv < 0) {
        r->bad = 1;
    }
    return rv == 1 && v >= 0 ? v : -1;
}

static void gr_usage(gr_t *r, const gem_read_t *a, llmgw_usage_t *u)
{
    apr_int64_t n[GEM_USAGE_N], prompt, cand, thoughts, total, cached;
    llmgw_buf_t *b = r->out;
    int i;

    for (i = 0; i < GEM_USAGE_N; i++) {
        n[i] = gr_count(r, &a->usage[i]);
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

/* A generateContent answer -> chat.completion into out; fills usage. -1
 * when it is not a GenerateContentResponse. why set: the gateway's check
 * of the answer made in this pass (llmgw_xlate_in_t.why). */
static int gem_write_response(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                              const char *body, apr_size_t len,
                              llmgw_buf_t *out, llmgw_usage_t *usage,
                              const char **why)
{
    gem_read_t a;
    gr_t r;
    int i;

    gem_read_init(&a, p, 0);
    if (!gem_read(&a, body, len)) {
        if (why) {
            *why = llmgw_answer_unread(body, len);
        }
        return -1;
    }
    if (why && (*why = llmgw_answer_gemini(a.chk_cands.p ? &a.chk_cands
                                                        : NULL,
                                           a.chk_feedback.p ? &a.chk_feedback
                                                            : NULL))) {
        return -1;
    }
    if (!(a.has_cands || a.has_feedback || a.has_usage)) {
        return -1;
    }
    memset(&r, 0, sizeof(r));
    r.p = p;
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
    if (a.cands_array) {
        for (i = 0; i < a.cands->nelts; i++) {
            if (gr_candidate(&r, &a, GEM_READ_CAND(&a, i), (size_t)i)) {
                break;
            }
        }
    }
    if (r.bad) {
        return -1;
    }
    if (r.nchoices == 0) {
        /* No candidate: a blocked prompt, or nothing generated. */
        W_LIT(out, "{\"index\":0,\"message\":{\"role\":\"assistant\","
              "\"content\":\"\",\"refusal\":null},\"logprobs\":null,"
              "\"finish_reason\":");
        if (a.has_feedback && a.blocked) {
            W_LIT(out, "\"content_filter\"}");
        }
        else {
            W_LIT(out, "\"stop\"}");
        }
    }
    W_LIT(out, "]");
    if (a.usage_object) {
        gr_usage(&r, &a, usage);
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
    if (gem_write_response(p, x, body, len, &b, usage, in->why)) {
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
