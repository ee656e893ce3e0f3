/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_read.c — the reader of a GenerateContentResponse, the one
 * shape of a generateContent answer and of each streamGenerateContent
 * event: one validating pass of the JSON scanner (llmgw_json_object_visit)
 * into fixed records (gem_read_t), from which the answer reader
 * (llmgw_gemini_response.c) and the stream translator
 * (llmgw_gemini_stream.c) write.
 */
#include <math.h>
#include "llmgw_gemini_int.h"

/* What the visitor is in: the baton of each container it reads. */
enum {
    GEM_RD_CHECK, GEM_RD_TOP, GEM_RD_CANDS, GEM_RD_CAND, GEM_RD_CONTENT,
    GEM_RD_PARTS, GEM_RD_PART, GEM_RD_FCALL, GEM_RD_USAGE, GEM_RD_FEEDBACK
};

/* Whether a member's key (raw, escaped or not) is the literal lit. */
#define KEY_IS(key, klen, esc, lit) \
    ((esc) ? llmgw_json_key_is((key), (klen), 1, (lit)) \
           : ((klen) == sizeof(lit) - 1 && !memcmp((key), (lit), (klen))))

/* Whether jansson refuses what the scanner accepts in this member: a key
 * holding a NUL, an integer beyond 64 bits, a real beyond a double. */
static int refused(const char *key, apr_size_t klen, int esc,
                   const llmgw_jspan_t *v)
{
    if (esc && key != NULL) {
        char small[128], *buf = small;
        long n;
        if (klen + 2 > sizeof(small)) {
            buf = malloc(klen + 2);
            if (buf == NULL) {
                return 1;
            }
        }
        n = llmgw_json_unescape(&(llmgw_jspan_t){ key - 1, klen + 2,
                                LLMGW_JV_STRING, 1 }, buf);
        n = n < 0 || memchr(buf, '\0', (apr_size_t)n) != NULL;
        if (buf != small) {
            free(buf);
        }
        if (n) {
            return 1;
        }
    }
    if (v->type == LLMGW_JV_NUMBER) {
        int real = memchr(v->p, '.', v->len) || memchr(v->p, 'e', v->len)
                   || memchr(v->p, 'E', v->len);
        apr_int64_t i;
        if (!real) {
            return v->len >= 19 && !llmgw_json_int(v, &i);
        }
        if (v->len > 300 || memchr(v->p, 'e', v->len)
            || memchr(v->p, 'E', v->len)) {
            char *num = malloc(v->len + 1);
            double d;
            if (num == NULL) {
                return 1;
            }
            memcpy(num, v->p, v->len);
            num[v->len] = '\0';
            d = strtod(num, NULL);
            free(num);
            return isinf(d);
        }
    }
    return 0;
}

static gem_bat_t *rd_bat(gem_bat_t *b, int kind, int i, gem_read_t *r)
{
    b->kind = kind;
    b->i = i;
    b->r = r;
    return b;
}

static gem_cand_t *push_cand(gem_read_t *r)
{
    int i = r->cands->nelts;
    gem_cand_t *c = apr_array_push(r->cands);

    memset(c, 0, sizeof(*c));
    rd_bat(&c->b, GEM_RD_CAND, i, r);
    rd_bat(&c->content_b, GEM_RD_CONTENT, i, r);
    rd_bat(&c->parts_b, GEM_RD_PARTS, i, r);
    c->parts_first = r->parts->nelts;
    return c;
}

static void *rd_enter(void *baton, const char *key, apr_size_t klen,
                      int esc)
{
    gem_bat_t *b = baton;
    gem_read_t *r = b->r;

    switch (b->kind) {
    case GEM_RD_TOP:
        if (KEY_IS(key, klen, esc, "usageMetadata")) {
            memset(r->usage, 0, sizeof(r->usage));
            return &r->usage_b;
        }
        if (KEY_IS(key, klen, esc, "promptFeedback")) {
            r->blocked = 0;
            return &r->feedback_b;
        }
        break;
    case GEM_RD_CANDS:
        return &push_cand(r)->b;
    case GEM_RD_CAND:
        if (KEY_IS(key, klen, esc, "content")) {
            gem_cand_t *c = GEM_READ_CAND(r, b->i);
            c->nparts = 0;
            return &c->content_b;
        }
        break;
    case GEM_RD_PARTS: {
        int i = r->parts->nelts;
        gem_part_t *pt = apr_array_push(r->parts);
        memset(pt, 0, sizeof(*pt));
        rd_bat(&pt->b, GEM_RD_PART, i, r);
        rd_bat(&pt->fb, GEM_RD_FCALL, i, r);
        GEM_READ_CAND(r, b->i)->nparts++;
        return &pt->b;
    }
    case GEM_RD_PART:
        if (KEY_IS(key, klen, esc, "functionCall")) {
            gem_part_t *pt = GEM_READ_PART(r, b->i);
            memset(&pt->name, 0, sizeof(pt->name));
            memset(&pt->args, 0, sizeof(pt->args));
            return &pt->fb;
        }
        break;
    default:
        break;
    }
    return r->other;            /* only validated (strict: checked) */
}

static void *rd_enter_array(void *baton, const char *key, apr_size_t klen,
                            int esc)
{
    gem_bat_t *b = baton;
    gem_read_t *r = b->r;

    if (b->kind == GEM_RD_TOP && KEY_IS(key, klen, esc, "candidates")) {
        r->cands->nelts = 0;
        return &r->cands_b;
    }
    if (b->kind == GEM_RD_CONTENT && KEY_IS(key, klen, esc, "parts")) {
        gem_cand_t *c = GEM_READ_CAND(r, b->i);
        c->parts_first = r->parts->nelts;
        c->nparts = 0;
        return &c->parts_b;
    }
    return r->other;
}

/* A member read into the records (the two visitors' one body, inlined in
 * each: the stream's events are read member by member at every chunk). */
static inline __attribute__((always_inline))
int rd_read(gem_bat_t *b, const char *key, apr_size_t klen, int esc,
            const llmgw_jspan_t *v)
{
    gem_read_t *r = b->r;
    int i;

    switch (b->kind) {
    case GEM_RD_TOP:
        if (KEY_IS(key, klen, esc, "candidates")) {
            r->has_cands = 1;
            r->cands_array = v->type == LLMGW_JV_ARRAY;
            if (!esc) {
                r->chk_cands = *v;
            }
        }
        else if (KEY_IS(key, klen, esc, "usageMetadata")) {
            r->has_usage = 1;
            r->usage_object = v->type == LLMGW_JV_OBJECT;
        }
        else if (KEY_IS(key, klen, esc, "promptFeedback")) {
            r->has_feedback = 1;
            if (!esc) {
                r->chk_feedback = *v;
            }
            if (v->type != LLMGW_JV_OBJECT) {
                r->blocked = 0;
            }
        }
        else if (KEY_IS(key, klen, esc, "error")) {
            r->has_error = 1;
            r->error = *v;
        }
        break;
    case GEM_RD_CANDS:
        if (v->type != LLMGW_JV_OBJECT) {
            push_cand(r);       /* not an object: a choice all the same */
        }
        break;
    case GEM_RD_CAND: {
        gem_cand_t *c = GEM_READ_CAND(r, b->i);
        if (KEY_IS(key, klen, esc, "index")) {
            c->index = *v;
        }
        else if (KEY_IS(key, klen, esc, "finishReason")) {
            c->finish = *v;
        }
        else if (KEY_IS(key, klen, esc, "logprobsResult")) {
            c->logprobs = *v;
        }
        else if (KEY_IS(key, klen, esc, "content")
                 && v->type != LLMGW_JV_OBJECT) {
            c->nparts = 0;
        }
        break;
    }
    case GEM_RD_CONTENT:
        if (KEY_IS(key, klen, esc, "parts") && v->type != LLMGW_JV_ARRAY) {
            GEM_READ_CAND(r, b->i)->nparts = 0;
        }
        break;
    case GEM_RD_PART: {
        gem_part_t *pt = GEM_READ_PART(r, b->i);
        if (KEY_IS(key, klen, esc, "text")) {
            pt->text = *v;
        }
        else if (KEY_IS(key, klen, esc, "thought")) {
            pt->thought = v->type == LLMGW_JV_TRUE;
        }
        else if (KEY_IS(key, klen, esc, "functionCall")) {
            pt->call = v->type == LLMGW_JV_OBJECT;
        }
        else if (KEY_IS(key, klen, esc, "thoughtSignature")) {
            pt->sig = *v;
        }
        break;
    }
    case GEM_RD_FCALL: {
        gem_part_t *pt = GEM_READ_PART(r, b->i);
        if (KEY_IS(key, klen, esc, "name")) {
            pt->name = *v;
        }
        else if (KEY_IS(key, klen, esc, "args")) {
            pt->args = *v;
        }
        break;
    }
    case GEM_RD_USAGE:
        for (i = 0; i < GEM_USAGE_N; i++) {
            if (llmgw_json_key_is(key, klen, esc, gem_usage_names[i])) {
                r->usage[i] = *v;
                break;
            }
        }
        break;
    case GEM_RD_FEEDBACK:
        if (KEY_IS(key, klen, esc, "blockReason")) {
            r->blocked = v->type == LLMGW_JV_STRING;
        }
        break;
    default:
        break;
    }
    return 0;
}

static int rd_member(void *baton, const char *key, apr_size_t klen, int esc,
                     const llmgw_jspan_t *v)
{
    return rd_read(baton, key, klen, esc, v);
}

static int rd_member_strict(void *baton, const char *key, apr_size_t klen,
                            int esc, const llmgw_jspan_t *v)
{
    if (refused(key, klen, esc, v)) {
        return 1;
    }
    return rd_read(baton, key, klen, esc, v);
}

static const llmgw_json_visitor_t rd_visitor = {
    rd_member, rd_enter, rd_enter_array
};

static const llmgw_json_visitor_t rd_visitor_strict = {
    rd_member_strict, rd_enter, rd_enter_array
};

void gem_read_init(gem_read_t *r, apr_pool_t *p, int strict)
{
    memset(r, 0, sizeof(*r));
    r->cands = apr_array_make(p, 2, sizeof(gem_cand_t));
    r->parts = apr_array_make(p, 4, sizeof(gem_part_t));
    r->visitor = strict ? &rd_visitor_strict : &rd_visitor;
    r->other = strict ? rd_bat(&r->check_b, GEM_RD_CHECK, 0, r) : NULL;
    rd_bat(&r->top_b, GEM_RD_TOP, 0, r);
    rd_bat(&r->cands_b, GEM_RD_CANDS, 0, r);
    rd_bat(&r->usage_b, GEM_RD_USAGE, 0, r);
    rd_bat(&r->feedback_b, GEM_RD_FEEDBACK, 0, r);
}

int gem_read(gem_read_t *r, const char *text, apr_size_t len)
{
    llmgw_jspan_t top;

    r->cands->nelts = 0;
    r->parts->nelts = 0;
    r->has_cands = r->cands_array = r->has_feedback = r->blocked = 0;
    r->has_usage = r->usage_object = r->has_error = 0;
    r->chk_cands.p = r->chk_feedback.p = NULL;
    return llmgw_json_object_visit(text, len, &top, r->visitor, &r->top_b)
           == 1;
}
