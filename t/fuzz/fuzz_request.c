/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The client request readers: the fast text path (llmgw_parse_request_text)
 * against the tree path (llmgw_parse_request) for every endpoint — a body
 * the fast path takes must be taken by the tree path with the same model,
 * stream and max_tokens —, model splicing, gateway fields, usage, the
 * request paths, and the chat request reader (llmgw_chat_request_read)
 * with every parameter translated and with unknown ones dropped. */
#include "fuzz.h"
#include "llmgw_parse.h"
#include "llmgw_chat_request.h"

static const llmgw_xparam_t all_params[] = {
    { "model", LLMGW_XP_TRANSLATED }, { "messages", LLMGW_XP_TRANSLATED },
    { "stream", LLMGW_XP_TRANSLATED }, { "stream_options", LLMGW_XP_TRANSLATED },
    { "max_tokens", LLMGW_XP_TRANSLATED },
    { "max_completion_tokens", LLMGW_XP_TRANSLATED },
    { "temperature", LLMGW_XP_TRANSLATED }, { "top_p", LLMGW_XP_TRANSLATED },
    { "top_k", LLMGW_XP_TRANSLATED }, { "stop", LLMGW_XP_TRANSLATED },
    { "tools", LLMGW_XP_TRANSLATED }, { "tool_choice", LLMGW_XP_TRANSLATED },
    { "parallel_tool_calls", LLMGW_XP_TRANSLATED },
    { "response_format", LLMGW_XP_TRANSLATED },
    { "reasoning_effort", LLMGW_XP_TRANSLATED },
    { "reasoning", LLMGW_XP_TRANSLATED }, { "user", LLMGW_XP_TRANSLATED },
    { "safety_identifier", LLMGW_XP_TRANSLATED },
    { "metadata", LLMGW_XP_TRANSLATED }, { "seed", LLMGW_XP_TRANSLATED },
    { "n", LLMGW_XP_TRANSLATED }, { "logprobs", LLMGW_XP_TRANSLATED },
    { "top_logprobs", LLMGW_XP_TRANSLATED },
    { "presence_penalty", LLMGW_XP_TRANSLATED },
    { "frequency_penalty", LLMGW_XP_TRANSLATED },
    { NULL, 0 }
};

static const llmgw_endpoint_e eps[] = {
    LLMGW_EP_CHAT, LLMGW_EP_EMBEDDINGS, LLMGW_EP_IMAGES, LLMGW_EP_MESSAGES,
    LLMGW_EP_COUNT_TOKENS, LLMGW_EP_RESPONSES, LLMGW_EP_GEMINI,
    LLMGW_EP_GEMINI_STREAM
};

/* The reader of the request's text (no tree) agrees with the reader of
 * its tree on what it accepts. */
static void read_chat_text(apr_pool_t *p, const char *s, size_t size,
                           const json_t *tree, int drop)
{
    llmgw_xlate_report_t rep;
    llmgw_xlate_ctx_t x;
    llmgw_chat_request_t *r = NULL, *rt = NULL;
    const char *err = NULL, *errt = NULL;
    int rv, rvt;

    memset(&rep, 0, sizeof(rep));
    memset(&x, 0, sizeof(x));
    rep.drop_unsupported = drop;
    rep.dropped = apr_array_make(p, 4, sizeof(const char *));
    x.report = &rep;
    rv = llmgw_chat_request_read_text(p, s, size, drop ? all_params + 4
                                                       : all_params,
                                      "fuzz", &x, &r, &err);
    if (rv != 0 && err) {
        fz_touch(err, strlen(err));
    }
    /* read from the spans the handler's pass keeps: the same outcome */
    {
        llmgw_parsed_t pq;
        llmgw_xlate_in_t in;
        llmgw_chat_request_t *rs = NULL;
        const char *errs = NULL;
        if (llmgw_parse_request_text(p, s, size, LLMGW_EP_CHAT, &pq)
            && pq.scan != NULL) {
            memset(&in, 0, sizeof(in));
            in.ep = LLMGW_EP_CHAT;
            in.raw = s;
            in.len = size;
            in.scan = pq.scan;
            if (llmgw_chat_request_read_in(p, &in, drop ? all_params + 4
                                                        : all_params,
                                           "fuzz", &x, &rs, &errs) != rv
                || (rv == 0 && (rs->messages->nelts != r->messages->nelts
                                || rs->max_tokens != r->max_tokens
                                || rs->stream != r->stream
                                || (rs->tools == NULL) != (r->tools == NULL)))
                || (rv != 0 && strcmp(errs, err))) {
                abort();
            }
        }
    }
    if (!json_is_object(tree)) {
        return;
    }
    rvt = llmgw_chat_request_read(p, tree, drop ? all_params + 4
                                               : all_params,
                                  "fuzz", &x, &rt, &errt);
    if (rv != rvt || (rv == 0 && r->messages->nelts
                      != rt->messages->nelts)) {
        abort();
    }
}

static void read_chat(apr_pool_t *p, const json_t *tree, int drop)
{
    llmgw_xlate_report_t rep;
    llmgw_xlate_ctx_t x;
    llmgw_chat_request_t *r = NULL;
    const char *err = NULL;
    int i;

    memset(&rep, 0, sizeof(rep));
    memset(&x, 0, sizeof(x));
    rep.drop_unsupported = drop;
    rep.dropped = apr_array_make(p, 4, sizeof(const char *));
    x.model = "m";
    x.id = "chatcmpl-f";
    x.request_id = "req-f";
    x.provider = "p";
    x.default_max_tokens = 16;
    x.report = &rep;
    if (llmgw_chat_request_read(p, tree, drop ? all_params + 4 : all_params,
                                "fuzz", &x, &r, &err) == 0) {
        for (i = 0; r && i < r->messages->nelts; i++) {
            const llmgw_chat_msg_t *m = &APR_ARRAY_IDX(r->messages, i,
                                                       llmgw_chat_msg_t);
            fz_json_drop(llmgw_chat_msg_text(m, "\n"));
        }
    }
    else if (err) {
        fz_touch(err, strlen(err));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    json_t *tree = json_loadb(s, size, JSON_ALLOW_NUL, NULL);
    apr_size_t i, n;
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    const char *name = NULL, *cs;
    char *rm;

    for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
        llmgw_parsed_t fast, slow;
        const char *err = NULL, *param = NULL;
        int ok_fast, rv;
        memset(&fast, 0, sizeof(fast));
        memset(&slow, 0, sizeof(slow));
        ok_fast = llmgw_parse_request_text(p, s, size, eps[i], &fast);
        if (!tree) {
            continue;
        }
        rv = llmgw_parse_request(tree, eps[i], size, &slow, &err, &param);
        if (ok_fast && json_is_object(tree)) {
            /* the fast path took it: the tree path must agree */
            if (rv != 0) {
                abort();
            }
            if ((fast.model == NULL) != (slow.model == NULL)
                || (fast.model && strcmp(fast.model, slow.model))
                || fast.stream != slow.stream
                || fast.max_tokens != slow.max_tokens) {
                abort();
            }
            /* Messages: every fact the same (no tree built for them) */
            if ((eps[i] == LLMGW_EP_MESSAGES
                 || eps[i] == LLMGW_EP_COUNT_TOKENS)
                && (fast.include_usage != slow.include_usage
                    || fast.tools != slow.tools
                    || fast.images != slow.images
                    || fast.json != slow.json
                    || fast.prompt_estimate != slow.prompt_estimate
                    || fast.provider || fast.provider_key || fast.memory
                    || fast.legacy_fields || slow.models)) {
                abort();
            }
        }
        if (slow.models) {
            json_decref(slow.models);
        }
        if (fast.models) {
            json_decref(fast.models);
        }
    }

    rm = llmgw_replace_model(p, s, size, "provider/model-\"x\"", &n);
    if (rm) {
        fz_touch(rm, n);
    }
    llmgw_usage_from_text(s, size, &u);

    /* the input as a request path */
    llmgw_endpoint_from_path(s, &name);
    if ((cs = llmgw_model_id_from_path(p, s)) != NULL) {
        fz_touch(cs, strlen(cs));
    }
    if ((cs = llmgw_response_id_from_path(s)) != NULL) {
        fz_touch(cs, strlen(cs));
    }
    if ((cs = llmgw_gemini_model_from_path(p, s)) != NULL) {
        fz_touch(cs, strlen(cs));
    }

    read_chat_text(p, s, size, tree, 0);
    read_chat_text(p, s, size, tree, 1);
    if (tree) {
        llmgw_usage_from_json(tree, &u);
        read_chat(p, tree, 0);
        read_chat(p, tree, 1);
        if (json_is_object(tree)) {
            llmgw_strip_gateway_fields(tree);
            read_chat(p, tree, 0);
        }
        json_decref(tree);
    }
    free(s);
    apr_pool_destroy(p);
    return 0;
}
