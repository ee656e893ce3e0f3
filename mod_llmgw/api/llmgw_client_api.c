/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The adapter registry, the Chat Completions adapter (the identity: the
 * gateway's internal format is Chat) and what the adapters share. */
#include <string.h>
#include <stdlib.h>
#include "llmgw_client_api.h"
#include "llmgw_num.h"
#include "llmgw_buf.h"
#include "llmgw_json_scan.h"
#include <apr_strings.h>

const llmgw_client_api_t *llmgw_client_api(llmgw_api_e api)
{
    switch (api) {
    case LLMGW_API_INDOXHUB:  return &llmgw_api_indoxhub;
    case LLMGW_API_MESSAGES:  return &llmgw_api_messages;
    case LLMGW_API_RESPONSES: return &llmgw_api_responses;
    case LLMGW_API_GEMINI:    return &llmgw_api_gemini;
    case LLMGW_API_CHAT:      break;
    }
    return &llmgw_api_chat;
}

int llmgw_api_emit_json(const char *event, json_t *j,
                        llmgw_event_emit_fn emit, void *baton)
{
    char *txt;
    int rv;
    if (!j) {
        return -1;
    }
    txt = llmgw_json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!txt) {
        return -1;
    }
    rv = emit(baton, event, txt, strlen(txt));
    free(txt);
    return rv;
}

int llmgw_api_buf_event(void *baton, const char *event, const char *data,
                        apr_size_t len)
{
    llmgw_buf_t *b = baton;
    if (event) {
        llmgw_buf_append(b, "event: ", 7);
        llmgw_buf_append(b, event, strlen(event));
        llmgw_buf_append(b, "\n", 1);
    }
    llmgw_buf_append(b, "data: ", 6);
    llmgw_buf_append(b, data, len);
    llmgw_buf_append(b, "\n\n", 2);
    return 0;
}

/* ------------------------------------------------ Chat Completions */

struct llmgw_api_stream {
    const llmgw_api_ctx_t *c;
};

int llmgw_api_from_chat_tree(apr_pool_t *p, const char *chat,
                             apr_size_t len, const llmgw_api_ctx_t *c,
                             llmgw_api_tree_fn build, const char **out,
                             apr_size_t *out_len)
{
    json_t *in = llmgw_json_loadb(chat, len, JSON_ALLOW_NUL, NULL);
    json_t *answer = in ? build(p, in, c) : NULL;
    char *txt = answer ? llmgw_json_dumps(answer, JSON_COMPACT) : NULL;

    json_decref(in);
    json_decref(answer);
    if (txt == NULL) {
        return -1;
    }
    *out_len = strlen(txt);
    *out = apr_pstrmemdup(p, txt, *out_len);
    free(txt);
    return 0;
}

static int chat_from_chat(apr_pool_t *p, const char *chat, apr_size_t len,
                          const llmgw_api_ctx_t *c, const char **out,
                          apr_size_t *out_len)
{
    (void)p; (void)c;
    *out = chat;
    *out_len = len;
    return 0;
}

static llmgw_api_stream_t *chat_stream_new(apr_pool_t *p,
                                           const llmgw_api_ctx_t *c)
{
    llmgw_api_stream_t *s = apr_pcalloc(p, sizeof(*s));
    s->c = c;
    return s;
}

static int chat_stream_chunk(llmgw_api_stream_t *s, const char *data,
                             apr_size_t len, llmgw_event_emit_fn emit,
                             void *baton)
{
    (void)s;
    return emit(baton, NULL, data, len);
}

static int chat_stream_end(llmgw_api_stream_t *s, llmgw_event_emit_fn emit,
                           void *baton)
{
    (void)s;
    return emit(baton, NULL, "[DONE]", 6);
}

/* SPEC: an error after a stream started is a last data event holding the
 * envelope. */
static int chat_stream_error(llmgw_api_stream_t *s, const llmgw_error_t *e,
                             llmgw_event_emit_fn emit, void *baton)
{
    return llmgw_api_emit_json(NULL, llmgw_envelope_json(e, s->c->request_id),
                               emit, baton);
}

static json_t *chat_stream_result(llmgw_api_stream_t *s)
{
    (void)s;
    return NULL;
}

const llmgw_client_api_t llmgw_api_chat = {
    LLMGW_API_CHAT, "chat/completions",
    NULL, NULL, chat_from_chat,
    chat_stream_new, chat_stream_chunk, chat_stream_end, chat_stream_error,
    chat_stream_result,
    llmgw_envelope_json,
    NULL, NULL              /* the cache's own chat conversions */
};

/* ------------------------------------------------ IndoxHub's envelope */

/* The text of the first choice's message ("" when none). */
static json_t *first_text(const json_t *chat)
{
    const json_t *msg = json_object_get(json_array_get(json_object_get(chat,
                                        "choices"), 0), "message");
    const json_t *content = json_object_get(msg, "content");
    return json_is_string(content) ? json_incref((json_t *)content)
                                   : json_string("");
}

static json_t *int_or_null(const json_t *usage, const char *k)
{
    const json_t *v = json_object_get(usage, k);
    return json_is_integer(v) ? json_incref((json_t *)v) : json_null();
}

/* IndoxHub's answer: {"request_id","created_at","duration_ms","provider",
 * "model","success":true,"message":"","data":TEXT,"finish_reason","usage":
 * {"tokens_prompt","tokens_completion","tokens_total","cost","latency"},
 * "raw_response":OPENAI-ANSWER} */
static json_t *indoxhub_answer(apr_pool_t *p, const json_t *chat,
                               const llmgw_api_ctx_t *c)
{
    const json_t *usage = json_object_get(chat, "usage");
    const json_t *fr = json_object_get(json_array_get(json_object_get(chat,
                                       "choices"), 0), "finish_reason");
    char stamp[32];
    apr_time_exp_t t;
    apr_size_t n;
    (void)p;

    apr_time_exp_gmt(&t, apr_time_from_sec(c->created));
    apr_strftime(stamp, &n, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &t);
    return json_pack("{s:s?,s:s,s:I,s:s?,s:s?,s:b,s:s,s:o,s:O?,"
                     "s:{s:o,s:o,s:o,s:o,s:f},s:O}",
                     "request_id", c->request_id,
                     "created_at", stamp,
                     "duration_ms", (json_int_t)c->duration_ms,
                     "provider", c->provider,
                     "model", c->model,
                     "success", 1,
                     "message", "",
                     "data", first_text(chat),
                     "finish_reason", json_is_string(fr) ? fr : NULL,
                     "usage",
                       "tokens_prompt", int_or_null(usage, "prompt_tokens"),
                       "tokens_completion", int_or_null(usage,
                                                        "completion_tokens"),
                       "tokens_total", int_or_null(usage, "total_tokens"),
                       "cost", c->cost_usd >= 0 ? json_real(c->cost_usd)
                                                : json_null(),
                       "latency", (double)c->duration_ms / 1000.0,
                     "raw_response", chat);
}

static int indoxhub_from_chat(apr_pool_t *p, const char *chat,
                              apr_size_t len, const llmgw_api_ctx_t *c,
                              const char **out, apr_size_t *out_len)
{
    return llmgw_api_from_chat_tree(p, chat, len, c, indoxhub_answer, out,
                                    out_len);
}

/* IndoxHub's error: {"request_id","success":false,"message","data":""},
 * with the gateway's envelope fields kept under "error" for SDKs that
 * read them. */
static json_t *indoxhub_error(const llmgw_error_t *e, const char *request_id)
{
    json_t *env = llmgw_envelope_json(e, request_id);
    json_t *out = json_pack("{s:s?,s:b,s:s,s:s,s:O?}",
                            "request_id", request_id, "success", 0,
                            "message", e->message ? e->message : "",
                            "data", "",
                            "error", json_object_get(env, "error"));
    json_decref(env);
    return out;
}

const llmgw_client_api_t llmgw_api_indoxhub = {
    LLMGW_API_INDOXHUB, "chat/completions",
    NULL, NULL, indoxhub_from_chat,
    chat_stream_new, chat_stream_chunk, chat_stream_end, chat_stream_error,
    chat_stream_result,
    indoxhub_error,
    NULL, NULL
};
