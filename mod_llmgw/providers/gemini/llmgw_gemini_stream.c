/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_stream.c — the Gemini stream translator:
 * streamGenerateContent?alt=sse events -> chat.completion.chunk events.
 *
 * Each event is read in one validating pass by the Gemini reader
 * (gem_read, llmgw_gemini_read.c, strict): the members the translator
 * looks at are kept as spans of the event's text (candidates, their
 * content's parts, the usage counts, the prompt feedback, an error), and
 * each chunk is written straight into the stream's chunk writer. Every
 * other container is walked too, only to refuse what jansson refuses in a
 * valid text (a key with a NUL, an integer beyond 64 bits, a real beyond
 * a double): such an event is malformed, as it was when events were
 * loaded into trees.
 */
#include "llmgw_gemini_int.h"
#include "llmgw_json_scan.h"

typedef struct {
    int index;
    int ncalls;
    const char *finish;         /* mapped, before the tool rule */
} stream_choice_t;

struct llmgw_stream {
    apr_pool_t *p;
    llmgw_xlate_ctx_t x;
    llmgw_chunk_writer_t w;         /* the chunks, written into one buffer */
    llmgw_buf_t tmp;                /* unescaped text, arguments */
    llmgw_buf_t lp;                 /* a chunk's logprobs */
    gem_read_t ev;                  /* the event being read */
    apr_array_header_t *choices;    /* stream_choice_t, in first-seen order */
    int received;                   /* GenerateContentResponse events seen */
    int blocked;                    /* promptFeedback.blockReason */
    int done;
    llmgw_usage_t usage;
    int have_usage;
};

llmgw_stream_t *gem_stream_new(apr_pool_t *p,
                               const llmgw_xlate_ctx_t *x)
{
    llmgw_stream_t *s = apr_pcalloc(p, sizeof(*s));
    llmgw_usage_t init = LLMGW_USAGE_INIT;

    s->p = p;
    if (x) {
        s->x = *x;
    }
    s->x.id = apr_pstrdup(p, gem_ctx_id(x));
    s->x.model = apr_pstrdup(p, gem_ctx_model(x));
    s->x.request_id = x && x->request_id ? apr_pstrdup(p, x->request_id)
                                         : NULL;
    s->x.provider = x && x->provider ? apr_pstrdup(p, x->provider) : NULL;
    s->choices = apr_array_make(p, 2, sizeof(stream_choice_t));
    s->usage = init;
    llmgw_chunk_writer_init(&s->w, p, &s->x);
    llmgw_buf_init(&s->tmp, p, 0);
    llmgw_buf_init(&s->lp, p, 0);
    gem_read_init(&s->ev, p, 1);
    return s;
}

/* ------------------------------------------------------------------ */
/* reading an event                                                    */
/* ------------------------------------------------------------------ */

/* One element of a validated array. */
static int first_el(void *baton, const char *key, apr_size_t klen, int esc,
                    const llmgw_jspan_t *v)
{
    llmgw_jspan_t *out = baton;
    (void)key; (void)klen; (void)esc;
    if (out->p != NULL) {
        out->p = NULL;          /* a second one */
        out->len = 1;
        return 1;
    }
    *out = *v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* writing chunks                                                      */
/* ------------------------------------------------------------------ */

/* The string span unescaped into s->tmp (from 0); its length. */
static apr_size_t unescaped(llmgw_stream_t *s, const llmgw_jspan_t *v)
{
    long n;

    llmgw_buf_reserve(&s->tmp, v->len);
    n = llmgw_json_unescape(v, s->tmp.data);
    s->tmp.len = n < 0 ? 0 : (apr_size_t)n;
    return s->tmp.len;
}

/* A string span's text escaped as jansson writes it (escapes as the
 * string read from the event holds them); cut at a NUL when cstr (the
 * value was a C string). */
static void put_text(llmgw_stream_t *s, llmgw_buf_t *b,
                     const llmgw_jspan_t *v, int cstr)
{
    apr_size_t n;

    if (!v->escaped) {
        llmgw_buf_append(b, v->p + 1, v->len - 2);
        return;
    }
    n = unescaped(s, v);
    if (cstr) {
        n = strnlen(s->tmp.data, n);
    }
    llmgw_buf_json_escape(b, s->tmp.data, n);
}

/* A C string (what gem_jstr gave) of a string span: non-empty. */
static int cstr_nonempty(llmgw_stream_t *s, const llmgw_jspan_t *v)
{
    if (v->type != LLMGW_JV_STRING || v->len <= 2) {
        return 0;
    }
    return !v->escaped || (unescaped(s, v) && s->tmp.data[0] != '\0');
}

static int emit_error(llmgw_stream_t *s, llmgw_error_t *e,
                      llmgw_emit_fn emit, void *baton)
{
    s->done = 1;
    return llmgw_xlate_emit_error(&s->x, e, emit, baton);
}

static int emit_provider_error(llmgw_stream_t *s, const char *msg,
                               llmgw_emit_fn emit, void *baton)
{
    s->done = 1;
    return llmgw_xlate_emit_provider_error(&s->x, msg, emit, baton);
}

static stream_choice_t *find_choice(llmgw_stream_t *s, int index)
{
    int i;

    for (i = 0; i < s->choices->nelts; i++) {
        stream_choice_t *c = &APR_ARRAY_IDX(s->choices, i, stream_choice_t);
        if (c->index == index) {
            return c;
        }
    }
    return NULL;
}

/* The choice's state; on first sight emits its role chunk. */
static stream_choice_t *start_choice(llmgw_stream_t *s, int index,
                                     llmgw_emit_fn emit, void *baton,
                                     int *rv)
{
    stream_choice_t *c = find_choice(s, index);

    *rv = 0;
    if (c) {
        return c;
    }
    c = apr_array_push(s->choices);
    c->index = index;
    c->ncalls = 0;
    c->finish = NULL;
    LLMGW_BUF_LIT(llmgw_chunk_begin(&s->w, index),
                  "\"role\":\"assistant\",\"content\":\"\"");
    *rv = llmgw_chunk_emit(&s->w, NULL, NULL, emit, baton);
    return c;
}

/* {"token":..,"logprob":..,"bytes":null of a chosen or top candidate */
typedef struct {
    llmgw_stream_t *s;
    llmgw_buf_t *b;
    int n;
    const llmgw_jspan_t *top;   /* topCandidates, an array, or NULL */
} lp_t;

static void lp_token(lp_t *l, const gem_obj_t *o)
{
    const llmgw_jspan_t *tok = gem_obj_get(o, GEM_LP_TOKEN, LLMGW_JV_STRING);
    const llmgw_jspan_t *lp = gem_obj_get(o, GEM_LP_LOGPROB,
                                          LLMGW_JV_NUMBER);

    LLMGW_BUF_LIT(l->b, "{\"token\":\"");
    if (tok) {
        put_text(l->s, l->b, tok, 1);
    }
    LLMGW_BUF_LIT(l->b, "\",\"logprob\":");
    if (lp) {
        char num[64];
        apr_size_t n = lp->len < sizeof(num) ? lp->len : sizeof(num) - 1;
        memcpy(num, lp->p, n);
        num[n] = '\0';
        llmgw_buf_json_real(l->b, strtod(num, NULL));
    }
    else {
        llmgw_buf_json_real(l->b, 0.0);
    }
    LLMGW_BUF_LIT(l->b, ",\"bytes\":null");
}

static int lp_alt(void *baton, const char *key, apr_size_t klen, int esc,
                  const llmgw_jspan_t *v)
{
    lp_t *l = baton;
    gem_obj_t o;

    (void)key; (void)klen; (void)esc;
    if (l->n++) {
        LLMGW_BUF_LIT(l->b, ",");
    }
    gem_obj(&o, gem_lp_names, v);
    lp_token(l, &o);
    LLMGW_BUF_LIT(l->b, "}");
    return 0;
}

static int lp_chosen(void *baton, const char *key, apr_size_t klen, int esc,
                     const llmgw_jspan_t *v)
{
    lp_t *l = baton, alts;
    gem_obj_t o;
    llmgw_jspan_t el;
    const llmgw_jspan_t *cands;

    (void)key; (void)klen; (void)esc;
    if (l->n) {
        LLMGW_BUF_LIT(l->b, ",");
    }
    gem_obj(&o, gem_lp_names, v);
    lp_token(l, &o);
    LLMGW_BUF_LIT(l->b, ",\"top_logprobs\":[");
    if (l->top && gem_nth(l->top, (size_t)l->n, &el)) {
        gem_obj(&o, gem_lp_names, &el);
        if ((cands = gem_obj_get(&o, GEM_LP_CANDIDATES,
                                 LLMGW_JV_ARRAY)) != NULL) {
            alts = *l;
            alts.n = 0;
            alts.top = NULL;
            llmgw_json_each(cands, lp_alt, &alts);
        }
    }
    LLMGW_BUF_LIT(l->b, "]}");
    l->n++;
    return 0;
}

/* logprobsResult -> the OpenAI choice logprobs into s->lp; NULL when it
 * has no chosenCandidates array. */
static const char *put_logprobs(llmgw_stream_t *s, const llmgw_jspan_t *lr)
{
    const llmgw_jspan_t *chosen;
    gem_obj_t o;
    lp_t l;

    if (lr->p == NULL) {
        return NULL;
    }
    gem_obj(&o, gem_lr_names, lr);
    if ((chosen = gem_obj_get(&o, GEM_LR_CHOSEN, LLMGW_JV_ARRAY)) == NULL) {
        return NULL;
    }
    s->lp.len = 0;
    l.s = s;
    l.b = &s->lp;
    l.n = 0;
    l.top = gem_obj_get(&o, GEM_LR_TOP, LLMGW_JV_ARRAY);
    LLMGW_BUF_LIT(&s->lp, "{\"content\":[");
    llmgw_json_each(chosen, lp_chosen, &l);
    LLMGW_BUF_LIT(&s->lp, "],\"refusal\":null}");
    return s->lp.data;
}

/* One tool call of a functionCall part (index k of the choice idx). */
static void put_call(llmgw_stream_t *s, llmgw_buf_t *b, const gem_part_t *pt,
                     int idx, int k)
{
    const char *id = gem_ctx_id(&s->x);

    if (!strncmp(id, "chatcmpl-", 9)) {
        id += 9;
    }
    LLMGW_BUF_LIT(b, "{\"index\":");
    llmgw_buf_int(b, k);
    LLMGW_BUF_LIT(b, ",\"id\":\"call_");
    llmgw_buf_json_escape(b, id, strlen(id));
    LLMGW_BUF_LIT(b, "_");
    llmgw_buf_int(b, idx);
    LLMGW_BUF_LIT(b, "_");
    llmgw_buf_int(b, k);
    LLMGW_BUF_LIT(b, "\",\"type\":\"function\",\"function\":{\"name\":\"");
    if (pt->name.p && pt->name.type == LLMGW_JV_STRING) {
        put_text(s, b, &pt->name, 1);
    }
    LLMGW_BUF_LIT(b, "\",\"arguments\":");
    if (pt->args.p && (pt->args.type == LLMGW_JV_OBJECT
                       || pt->args.type == LLMGW_JV_ARRAY)) {
        /* written as the tree's compact text (numbers in their shortest
         * form): the arguments string is that text */
        json_t *j = llmgw_json_loadb(pt->args.p, pt->args.len,
                                     JSON_ALLOW_NUL, NULL);
        s->tmp.len = 0;
        if (j == NULL || llmgw_buf_json(&s->tmp, j) != 0) {
            s->tmp.len = 0;
            LLMGW_BUF_LIT(&s->tmp, "{}");
        }
        json_decref(j);
        llmgw_buf_json_string(b, s->tmp.data, s->tmp.len);
    }
    else {
        LLMGW_BUF_LIT(b, "\"{}\"");
    }
    LLMGW_BUF_LIT(b, "}");
    if (pt->sig.p && pt->sig.type == LLMGW_JV_STRING) {
        LLMGW_BUF_LIT(b, ",\"extra_content\":{\"google\":"
                      "{\"thought_signature\":\"");
        put_text(s, b, &pt->sig, 1);
        LLMGW_BUF_LIT(b, "\"}}");
    }
    LLMGW_BUF_LIT(b, "}");
}

static int on_candidate(llmgw_stream_t *s, const gem_cand_t *ec, int pos,
                        llmgw_emit_fn emit, void *baton)
{
    gem_read_t *e = &s->ev;
    stream_choice_t *c;
    apr_int64_t idx = -1;
    int i, rv, text = 0, thoughts = 0, calls = 0;
    llmgw_buf_t *b = NULL;

    if (!(ec->index.p && llmgw_json_int(&ec->index, &idx) && idx >= 0
          && idx < GEMINI_MAX_CHOICES)) {
        idx = pos < GEMINI_MAX_CHOICES ? pos : -1;
    }
    if (idx < 0) {
        return 0;
    }
    c = start_choice(s, (int)idx, emit, baton, &rv);
    if (rv) {
        return rv;
    }
    for (i = 0; i < ec->nparts; i++) {
        const gem_part_t *pt = GEM_READ_PART(e, ec->parts_first + i);
        if (pt->text.p && pt->text.type == LLMGW_JV_STRING) {
            if (!pt->thought) {
                text |= pt->text.len > 2;
            }
            else {
                thoughts |= cstr_nonempty(s, &pt->text);
            }
        }
        calls |= pt->call;
    }
    if (text || thoughts || calls) {
        int first = 1;

        b = llmgw_chunk_begin(&s->w, (int)idx);
        if (thoughts) {
            LLMGW_BUF_LIT(b, "\"reasoning_content\":\"");
            for (i = 0; i < ec->nparts; i++) {
                const gem_part_t *pt = GEM_READ_PART(e, ec->parts_first + i);
                if (pt->thought && pt->text.p
                    && pt->text.type == LLMGW_JV_STRING) {
                    put_text(s, b, &pt->text, 1);
                }
            }
            LLMGW_BUF_LIT(b, "\"");
            first = 0;
        }
        if (text) {
            if (!first) {
                LLMGW_BUF_LIT(b, ",");
            }
            LLMGW_BUF_LIT(b, "\"content\":\"");
            for (i = 0; i < ec->nparts; i++) {
                const gem_part_t *pt = GEM_READ_PART(e, ec->parts_first + i);
                if (!pt->thought && pt->text.p
                    && pt->text.type == LLMGW_JV_STRING) {
                    put_text(s, b, &pt->text, 0);
                }
            }
            LLMGW_BUF_LIT(b, "\"");
            first = 0;
        }
        if (calls) {
            int k = 0;
            if (!first) {
                LLMGW_BUF_LIT(b, ",");
            }
            LLMGW_BUF_LIT(b, "\"tool_calls\":[");
            for (i = 0; i < ec->nparts; i++) {
                const gem_part_t *pt = GEM_READ_PART(e, ec->parts_first + i);
                if (pt->call) {
                    if (k++) {
                        LLMGW_BUF_LIT(b, ",");
                    }
                    put_call(s, b, pt, (int)idx, c->ncalls++);
                }
            }
            LLMGW_BUF_LIT(b, "]");
        }
        rv = llmgw_chunk_emit(&s->w, put_logprobs(s, &ec->logprobs), NULL,
                              emit, baton);
        if (rv) {
            return rv;
        }
    }
    if (ec->finish.p && ec->finish.type == LLMGW_JV_STRING) {
        /* a C string: cut at a NUL */
        apr_size_t n = ec->finish.escaped ? unescaped(s, &ec->finish) : 0;
        if (!ec->finish.escaped) {
            s->tmp.len = 0;
            llmgw_buf_append(&s->tmp, ec->finish.p + 1, ec->finish.len - 2);
            n = s->tmp.len;
        }
        s->tmp.data[n] = '\0';
        c->finish = gem_map_finish(s->tmp.data);
    }
    return 0;
}

int gem_stream_event(llmgw_stream_t *s, const char *event,
                     const char *data, apr_size_t len,
                     llmgw_emit_fn emit, void *baton)
{
    gem_read_t *e = &s->ev;
    int i, rv = 0, ok;

    (void)event;
    if (s->done) {
        return LLMGW_XLATE_CONTINUE;
    }
    while (len && (data[0] == ' ' || data[0] == '\t' || data[0] == '\r'
                   || data[0] == '\n')) {
        data++;
        len--;
    }
    if (len == 0 || (len == 6 && !memcmp(data, "[DONE]", 6))) {
        return LLMGW_XLATE_CONTINUE;
    }
    if (data[0] == '[') {
        /* [{...}]: the one object of an array */
        llmgw_jspan_t arr, el;
        memset(&el, 0, sizeof(el));
        ok = llmgw_json_valid(data, len) && llmgw_json_span(data, len, &arr)
             && llmgw_json_each(&arr, first_el, &el) == 0
             && el.p != NULL && el.type == LLMGW_JV_OBJECT
             && gem_read(e, el.p, el.len);
    }
    else {
        ok = gem_read(e, data, len);
    }
    if (!ok) {
        return emit_provider_error(s, "the provider sent a malformed stream "
                                   "event", emit, baton);
    }
    if (e->has_error) {
        llmgw_error_t err;
        json_t *j = e->error.type == LLMGW_JV_OBJECT
                    ? llmgw_json_loadb(e->error.p, e->error.len,
                                       JSON_ALLOW_NUL, NULL) : NULL;
        if (j == NULL) {
            j = json_object();
        }
        gem_map_rpc_error(s->p, 0, j, &err);
        json_decref(j);
        return emit_error(s, &err, emit, baton);
    }
    if (!e->has_cands && !e->has_feedback && !e->has_usage) {
        return LLMGW_XLATE_CONTINUE;    /* not a GenerateContentResponse */
    }
    s->received = 1;
    if (e->usage_object) {
        llmgw_usage_t init = LLMGW_USAGE_INIT;
        apr_int64_t n[GEM_USAGE_N];
        for (i = 0; i < GEM_USAGE_N; i++) {
            if (!(e->usage[i].p && llmgw_json_int(&e->usage[i], &n[i])
                  && n[i] >= 0)) {
                n[i] = -1;
            }
        }
        s->usage = init;
        gem_usage_sum(n, &s->usage);
        s->have_usage = 1;
    }
    if (e->blocked && !(e->cands_array && e->cands->nelts)) {
        s->blocked = 1;
    }
    if (e->cands_array) {
        for (i = 0; i < e->cands->nelts && rv == 0; i++) {
            rv = on_candidate(s, GEM_READ_CAND(e, i), i, emit, baton);
        }
    }
    if (rv) {
        s->done = 1;
        return LLMGW_XLATE_ERROR;
    }
    return LLMGW_XLATE_CONTINUE;
}

int gem_stream_finish(llmgw_stream_t *s, llmgw_emit_fn emit,
                      void *baton)
{
    int i, rv = 0;

    if (s->done) {
        return LLMGW_XLATE_END;
    }
    if (!s->received) {
        return emit_provider_error(s, "the provider closed the stream "
                                   "without a response", emit, baton);
    }
    /* Every candidate ends with a finishReason (a blocked prompt has no
     * candidate): without one the stream was cut, and no finish_reason
     * is made up for it (SPEC). */
    for (i = 0; i < s->choices->nelts; i++) {
        if (!APR_ARRAY_IDX(s->choices, i, stream_choice_t).finish) {
            llmgw_error_t e;
            memset(&e, 0, sizeof(e));
            e.status = 502;
            e.type = "provider_error";
            e.code = "invalid_upstream_response";
            e.message = "the provider's stream ended before its finishReason";
            e.upstream_status = 200;
            e.retry_after = -1;
            return emit_error(s, &e, emit, baton);
        }
    }
    s->done = 1;
    if (s->choices->nelts == 0) {
        stream_choice_t *c = start_choice(s, 0, emit, baton, &rv);
        if (rv) {
            return LLMGW_XLATE_ERROR;
        }
        c->finish = s->blocked ? "content_filter" : NULL;
    }
    for (i = 0; i < s->choices->nelts && rv == 0; i++) {
        stream_choice_t *c = &APR_ARRAY_IDX(s->choices, i, stream_choice_t);
        llmgw_chunk_begin(&s->w, c->index);
        rv = llmgw_chunk_emit(&s->w, NULL,
                              llmgw_finish_reason(c->finish, c->ncalls > 0),
                              emit, baton);
    }
    if (rv == 0 && s->x.include_usage) {
        llmgw_usage_t *us = &s->usage;
        rv = llmgw_chunk_emit_usage(&s->w,
                us->prompt_tokens > 0 ? us->prompt_tokens : 0,
                us->completion_tokens > 0 ? us->completion_tokens : 0,
                us->total_tokens > 0 ? us->total_tokens : 0,
                us->cached_tokens >= 0 ? us->cached_tokens : -1, emit, baton);
    }
    return rv ? LLMGW_XLATE_ERROR : LLMGW_XLATE_END;
}

void gem_stream_usage(const llmgw_stream_t *s, llmgw_usage_t *usage)
{
    if (usage) {
        *usage = s->usage;
    }
}
