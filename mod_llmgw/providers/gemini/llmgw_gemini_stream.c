/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_stream.c — the Gemini stream translator:
 * streamGenerateContent?alt=sse events -> chat.completion.chunk events.
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
    return s;
}

/* One chat.completion.chunk with delta's members and logprobs (both
 * stolen, NULL: none) through the stream's chunk writer. */
static int emit_chunk_lp(llmgw_stream_t *s, int index, json_t *delta,
                         json_t *lp, const char *finish, llmgw_emit_fn emit,
                         void *baton)
{
    llmgw_buf_t *b = llmgw_chunk_begin(&s->w, index);
    char *txt = delta && json_object_size(delta)
                ? llmgw_json_dumps(delta, JSON_COMPACT) : NULL;
    char *lpt = lp ? llmgw_json_dumps(lp, JSON_COMPACT) : NULL;
    int rv;

    if (txt) {          /* {members}: the members */
        llmgw_buf_append(b, txt + 1, strlen(txt) - 2);
    }
    rv = (delta && json_object_size(delta) && !txt) || (lp && !lpt) ? -1
         : llmgw_chunk_emit(&s->w, lpt, finish, emit, baton);
    free(txt);
    free(lpt);
    json_decref(delta);
    json_decref(lp);
    return rv;
}

static int emit_chunk(llmgw_stream_t *s, int index, json_t *delta,
                      const char *finish, llmgw_emit_fn emit, void *baton)
{
    return emit_chunk_lp(s, index, delta, NULL, finish, emit, baton);
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
    *rv = emit_chunk(s, index, json_pack("{s:s,s:s}", "role", "assistant",
                                         "content", ""), NULL, emit, baton);
    return c;
}

static int on_candidate(llmgw_stream_t *s, const json_t *cand, size_t pos,
                        llmgw_emit_fn emit, void *baton)
{
    const json_t *parts = gem_jget(gem_jget(cand, "content"), "parts");
    int idx = gem_candidate_index(cand, pos), rv;
    stream_choice_t *c;
    json_t *text, *calls = NULL, *delta, *thoughts, *lp;
    const char *fr = gem_jstr(cand, "finishReason");
    size_t k;

    if (idx < 0) {
        return 0;
    }
    c = start_choice(s, idx, emit, baton, &rv);
    if (rv) {
        return rv;
    }
    text = gem_candidate_text(parts);
    thoughts = gem_candidate_thoughts(parts);
    lp = gem_logprobs_json(gem_jget(cand, "logprobsResult"));
    for (k = 0; k < json_array_size(parts); k++) {
        const json_t *part = json_array_get(parts, k);
        if (json_is_object(gem_jget(part, "functionCall"))) {
            if (calls == NULL) {
                calls = json_array();
            }
            json_array_append_new(calls,
                gem_tool_call_json(s->p, &s->x, part, idx, c->ncalls++, 1));
        }
    }
    if (text || calls || thoughts) {
        delta = json_object();
        if (thoughts) {
            json_object_set_new(delta, "reasoning_content", thoughts);
        }
        if (text) {
            json_object_set_new(delta, "content", text);
        }
        if (calls) {
            json_object_set_new(delta, "tool_calls", calls);
        }
        rv = emit_chunk_lp(s, idx, delta, lp, NULL, emit, baton);
        if (rv) {
            return rv;
        }
        lp = NULL;
    }
    json_decref(lp);
    if (fr) {
        c->finish = gem_map_finish(fr);
    }
    return 0;
}

int gem_stream_event(llmgw_stream_t *s, const char *event,
                     const char *data, apr_size_t len,
                     llmgw_emit_fn emit, void *baton)
{
    json_t *j;
    const json_t *cands, *err;
    size_t i;
    int rv = 0;

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
    j = llmgw_json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(j) && json_is_array(j) && json_array_size(j) == 1
        && json_is_object(json_array_get(j, 0))) {
        json_t *inner = json_incref(json_array_get(j, 0));
        json_decref(j);
        j = inner;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return emit_provider_error(s, "the provider sent a malformed stream "
                                   "event", emit, baton);
    }
    err = gem_jget(j, "error");
    if (err) {
        llmgw_error_t e;
        if (json_is_object(err)) {
            gem_map_rpc_error(s->p, 0, err, &e);
        }
        else {
            json_t *empty = json_object();
            gem_map_rpc_error(s->p, 0, empty, &e);
            json_decref(empty);
        }
        json_decref(j);
        return emit_error(s, &e, emit, baton);
    }
    cands = gem_jget(j, "candidates");
    if (!cands && !gem_jget(j, "promptFeedback")
        && !gem_jget(j, "usageMetadata")) {
        json_decref(j);         /* not a GenerateContentResponse */
        return LLMGW_XLATE_CONTINUE;
    }
    s->received = 1;
    if (json_is_object(gem_jget(j, "usageMetadata"))) {
        llmgw_usage_t u = LLMGW_USAGE_INIT;
        json_decref(gem_usage_from_meta(gem_jget(j, "usageMetadata"), &u));
        s->usage = u;
        s->have_usage = 1;
    }
    if (gem_jstr(gem_jget(j, "promptFeedback"), "blockReason")
        && json_array_size(cands) == 0) {
        s->blocked = 1;
    }
    for (i = 0; i < json_array_size(cands) && rv == 0; i++) {
        rv = on_candidate(s, json_array_get(cands, i), i, emit, baton);
    }
    json_decref(j);
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
        rv = emit_chunk(s, c->index, json_object(),
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
