/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Validation of upstream answers before they are relayed or cached: an
 * answer that is not one of its API is a 502 invalid_upstream_response,
 * never a 200 (SPEC "Semantics that users rely on"). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE                 /* memmem */
#endif
#include <string.h>
#include "llmgw_answer.h"
#include "llmgw_json_scan.h"
#include "llmgw_parse.h"

/* The top-level members the check looks at, and the answer's usage read
 * in the same pass (kind: which object a baton is). */
typedef struct {
    int kind;                       /* 0: the top level */
    llmgw_jspan_t choices, content, type, candidates, prompt_feedback, data,
                  embedding, embeddings, object, output, input_tokens;
    int has_choices, has_content, has_type, has_candidates,
        has_prompt_feedback, has_data, has_embedding, has_embeddings,
        has_object, has_output, has_input_tokens;
    struct usage_vb {
        int kind;                   /* 1: usage, 2: its details */
        llmgw_usage_t *u;
        struct usage_vb *details;   /* usage's: its details' baton */
    } usage, details;
} members_t;

#define KEY(k) (klen == sizeof(k) - 1 && !memcmp(key, k, sizeof(k) - 1))

static int member(void *baton, const char *key, apr_size_t klen,
                  int key_escaped, const llmgw_jspan_t *v)
{
    members_t *m = baton;
    if (*(int *)baton) {            /* a member of usage or its details */
        struct usage_vb *u = baton;
        llmgw_usage_take(u->u, u->kind == 2, key, klen, key_escaped, v);
        return 0;
    }
    if (key_escaped) {
        return 0;
    }
    if (KEY("usage") && v->type != LLMGW_JV_OBJECT) {
        m->usage.u->prompt_tokens = -2;     /* the last one is not usage */
        return 0;
    }
#define TAKE(k, f) if (KEY(k)) { m->f = *v; m->has_##f = 1; return 0; }
    TAKE("choices", choices)
    TAKE("content", content)
    TAKE("type", type)
    TAKE("candidates", candidates)
    TAKE("promptFeedback", prompt_feedback)
    TAKE("data", data)
    TAKE("embedding", embedding)
    TAKE("embeddings", embeddings)
    TAKE("object", object)
    TAKE("output", output)
    TAKE("input_tokens", input_tokens)
#undef TAKE
    return 0;
}

/* The top-level "usage" object is entered (the last one counts, as in a
 * parser), and its prompt_tokens_details. */
static void *enter(void *baton, const char *key, apr_size_t klen,
                   int key_escaped)
{
    members_t *m = baton;
    int kind = *(int *)baton;       /* kind first in every baton */
    if (key_escaped || !key) {
        return NULL;
    }
    if (kind == 0 && KEY("usage")) {
        llmgw_usage_t fresh = LLMGW_USAGE_INIT;
        *m->usage.u = fresh;
        return &m->usage;
    }
    if (kind == 1 && KEY("prompt_tokens_details")) {
        return ((struct usage_vb *)baton)->details;
    }
    return NULL;
}

static const llmgw_json_visitor_t with_usage = { member, enter, NULL };

static int is(const llmgw_jspan_t *v, int has, llmgw_jv_type_e t)
{
    return has && v->type == t;
}

const char *llmgw_answer_unread(const char *body, apr_size_t len)
{
    if (!body || !len) {
        return "the provider sent an empty answer";
    }
    if (!llmgw_json_valid(body, len)) {
        return "the provider's answer is not valid JSON (truncated?)";
    }
    return "the provider's answer is not a JSON object";
}

const char *llmgw_answer_anthropic(const llmgw_jspan_t *type,
                                   const llmgw_jspan_t *content)
{
    if (type && type->type == LLMGW_JV_STRING && type->len == 9
        && !memcmp(type->p, "\"message\"", 9)
        && content && content->type == LLMGW_JV_ARRAY) {
        return NULL;
    }
    return "the provider's answer is not an Anthropic message "
           "(type \"message\" and a content array)";
}

const char *llmgw_answer_gemini(const llmgw_jspan_t *candidates,
                                const llmgw_jspan_t *feedback)
{
    if ((candidates && candidates->type == LLMGW_JV_ARRAY)
        || (feedback && feedback->type == LLMGW_JV_OBJECT)) {
        return NULL;
    }
    return "the provider's answer is not a GenerateContentResponse "
           "(no candidates)";
}

const char *llmgw_answer_openai(const llmgw_jspan_t *choices)
{
    if (choices && choices->type == LLMGW_JV_ARRAY) {
        return NULL;
    }
    return "the provider's answer is not a chat completion "
           "(no choices array)";
}

const char *llmgw_answer_invalid(llmgw_provider_type_e pt, llmgw_endpoint_e ep,
                                 const char *body, apr_size_t len)
{
    return llmgw_answer_check(pt, ep, body, len, NULL);
}

const char *llmgw_answer_check(llmgw_provider_type_e pt, llmgw_endpoint_e ep,
                               const char *body, apr_size_t len,
                               llmgw_answer_usage_t *au)
{
    llmgw_jspan_t top;
    members_t m;
    llmgw_usage_t u;
    int rv;

    if (au) {
        au->found = 0;
    }
    if (!body || !len) {
        return llmgw_answer_unread(body, len);
    }
    /* validated and its members (and usage's) read in one pass */
    memset(&m, 0, sizeof(m));
    m.usage.kind = 1;
    m.usage.u = &u;
    m.usage.details = &m.details;
    m.details.kind = 2;
    m.details.u = &u;
    u.prompt_tokens = -2;           /* no usage object seen */
    rv = au ? llmgw_json_object_visit(body, len, &top, &with_usage, &m)
            : llmgw_json_object_each(body, len, &top, member, &m);
    if (rv != 1) {
        return llmgw_answer_unread(body, len);
    }
    if (au && u.prompt_tokens != -2) {
        llmgw_usage_done(&u);
        au->usage = u;
        au->found = 1;
    }

    /* the native relays: the client's own API */
    if (ep == LLMGW_EP_MESSAGES || ep == LLMGW_EP_GEMINI) {
        ep = LLMGW_EP_CHAT;         /* the provider's own answer */
    }
    if (ep == LLMGW_EP_RESPONSES) {
        if (is(&m.object, m.has_object, LLMGW_JV_STRING)
            && m.object.len == 10 && !memcmp(m.object.p, "\"response\"", 10)
            && is(&m.output, m.has_output, LLMGW_JV_ARRAY)) {
            return NULL;
        }
        return "the provider's answer is not a Responses API response "
               "(object \"response\" and an output array)";
    }
    if (ep == LLMGW_EP_COUNT_TOKENS) {
        return is(&m.input_tokens, m.has_input_tokens, LLMGW_JV_NUMBER)
               ? NULL : "the provider's answer has no input_tokens";
    }
    if (ep == LLMGW_EP_CHAT) {
        switch (pt) {
        case LLMGW_PT_ANTHROPIC:
            return llmgw_answer_anthropic(m.has_type ? &m.type : NULL,
                                          m.has_content ? &m.content
                                                        : NULL);
        case LLMGW_PT_GEMINI:
            return llmgw_answer_gemini(
                m.has_candidates ? &m.candidates : NULL,
                m.has_prompt_feedback ? &m.prompt_feedback : NULL);
        default:
            return llmgw_answer_openai(m.has_choices ? &m.choices : NULL);
        }
    }
    if (ep == LLMGW_EP_EMBEDDINGS) {
        if (pt == LLMGW_PT_GEMINI) {
            if (is(&m.embedding, m.has_embedding, LLMGW_JV_OBJECT)
                || is(&m.embeddings, m.has_embeddings, LLMGW_JV_ARRAY)) {
                return NULL;
            }
            return "the provider's answer has no embeddings";
        }
        if (is(&m.data, m.has_data, LLMGW_JV_ARRAY)) {
            return NULL;
        }
        return "the provider's answer has no data array of embeddings";
    }
    if (ep == LLMGW_EP_IMAGES && !is(&m.data, m.has_data, LLMGW_JV_ARRAY)) {
        return "the provider's answer has no data array of images";
    }
    return NULL;
}

/* finish_reason of one choice */
static int choice_member(void *baton, const char *key, apr_size_t klen,
                         int key_escaped, const llmgw_jspan_t *v)
{
    if (!key_escaped && KEY("finish_reason") && v->type == LLMGW_JV_STRING) {
        *(int *)baton = 1;
        return 1;
    }
    return 0;
}

static int choice(void *baton, const char *key, apr_size_t klen,
                  int key_escaped, const llmgw_jspan_t *v)
{
    (void)key; (void)klen; (void)key_escaped;
    if (v->type == LLMGW_JV_OBJECT) {
        return llmgw_json_each(v, choice_member, baton);
    }
    return 0;
}

static int top_member(void *baton, const char *key, apr_size_t klen,
                      int key_escaped, const llmgw_jspan_t *v)
{
    if (!key_escaped && KEY("choices") && v->type == LLMGW_JV_ARRAY) {
        return llmgw_json_each(v, choice, baton);
    }
    return 0;
}

int llmgw_chunk_has_finish(const char *data, apr_size_t len)
{
    static const char needle[] = "\"finish_reason\"";
    const char *p = data, *end = data + len;
    llmgw_jspan_t top;
    int rv;
    int found = 0, candidate = 0;

    /* Fast path: every chunk carries "finish_reason":null; only a value
     * that is not null is worth a scan. */
    while (p < end) {
        const char *q = memmem(p, (apr_size_t)(end - p), needle,
                               sizeof(needle) - 1);
        if (!q) {
            break;
        }
        q += sizeof(needle) - 1;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\r'
                           || *q == '\n' || *q == ':')) {
            q++;
        }
        if (q < end && *q == '"') {
            candidate = 1;
            break;
        }
        p = q;
    }
    if (!candidate) {
        return 0;
    }
    /* found stops the scan: the rest of the text is checked then */
    rv = llmgw_json_object_each(data, len, &top, top_member, &found);
    return found && (rv == 1 || (rv == -1 && llmgw_json_valid(data, len)));
}
