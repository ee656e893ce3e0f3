/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The OpenAI-compatible wire format (OpenAI, Ollama, vLLM, proxies...) as
 * a translator like the others, except that it relays: the client's bytes
 * go upstream as they came (or with the model spliced into the text), and
 * answers and stream events come back byte for byte. Nothing here builds a
 * JSON tree on that path: usage is read with the scanner, error events are
 * detected on their text. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_translate.h"
#include "llmgw_envelope.h"
#include "llmgw_parse.h"
#include "llmgw_answer.h"
#include "llmgw_json_scan.h"
#include "llmgw_num.h"

/* The code of an answer that is not one of its API (SPEC). */
#define INVALID_CODE "invalid_upstream_response"

static const char *oai_path(apr_pool_t *p, const llmgw_xlate_ctx_t *x,
                            llmgw_endpoint_e ep, int stream)
{
    (void)p;
    (void)x;
    (void)stream;
    switch (ep) {
    case LLMGW_EP_CHAT:       return "/chat/completions";
    case LLMGW_EP_EMBEDDINGS: return "/embeddings";
    case LLMGW_EP_IMAGES:     return "/images/generations";
    case LLMGW_EP_RESPONSES:  return "/responses";   /* responses=native */
    default:                  return "/models";
    }
}

static void oai_headers(apr_pool_t *p, const char *key,
                        apr_array_header_t *out)
{
    if (key) {
        APR_ARRAY_PUSH(out, const char *) =
            apr_pstrcat(p, "Authorization: Bearer ", key, NULL);
    }
}

/* The client's text unchanged (no re-serialising), the model spliced into
 * it when no tree was built, else the tree with its model. */
static int oai_raw_request(const llmgw_translator_t *self, apr_pool_t *p,
                           const llmgw_xlate_ctx_t *x,
                           const llmgw_xlate_in_t *in, const char **out,
                           apr_size_t *out_len, const char **err)
{
    char *txt;

    (void)self;
    if (in->unchanged) {
        *out = in->raw;
        *out_len = in->len;
        return 0;
    }
    if (!in->tree) {                        /* checked on its text: splice */
        *out = llmgw_replace_model(p, in->raw, in->len, x->model, out_len);
        if (!*out) {
            *err = "the request has no model";
            return 400;
        }
        return 0;
    }
    json_object_set_new(in->tree, "model", json_string(x->model));
    txt = llmgw_json_dumps(in->tree, JSON_COMPACT);
    if (!txt) {
        *err = "cannot serialise the upstream request";
        return 500;
    }
    *out_len = strlen(txt);
    *out = apr_pstrmemdup(p, txt, *out_len);
    free(txt);
    return 0;
}

/* An OpenAI embeddings answer with float arrays, as base64 strings; the
 * text unchanged when it is not such an answer. */
static const char *base64_embeddings(apr_pool_t *p, const char *body,
                                     apr_size_t *len)
{
    json_t *j = json_loadb(body, *len, JSON_ALLOW_NUL, NULL);
    char *txt;
    const char *out = body;

    if (j && llmgw_xlate_embeddings_to_base64(j) > 0
        && (txt = llmgw_json_dumps(j, JSON_COMPACT)) != NULL) {
        *len = strlen(txt);
        out = apr_pstrmemdup(p, txt, *len);
        free(txt);
    }
    json_decref(j);
    return out;
}

/* Relayed as it came: only its usage is read. */
static int oai_raw_response(const llmgw_translator_t *self, apr_pool_t *p,
                            const llmgw_xlate_ctx_t *x,
                            const llmgw_xlate_in_t *in, const char *body,
                            apr_size_t len, const char **out,
                            apr_size_t *out_len, llmgw_usage_t *usage)
{
    (void)self;
    (void)x;
    *out = body;
    *out_len = len;
    if (in->answer == NULL) {
        llmgw_usage_from_text(body, len, usage);
    }
    else if (in->answer->found) {
        *usage = in->answer->usage; /* read by the gateway's check */
    }
    if (in->ep == LLMGW_EP_EMBEDDINGS
        && strstr(body, "\"embedding\"") != NULL
        && llmgw_xlate_wants_base64(llmgw_xlate_in_tree(in))) {
        /* asked for base64, got floats (Ollama, some proxies) */
        *out = base64_embeddings(p, body, out_len);
    }
    return 0;
}

/* ------------------------------------------------------------ streams */

struct llmgw_stream {
    const llmgw_xlate_ctx_t *x;
    llmgw_usage_t usage;
    int usage_seen;
    int finish_seen;                /* a finish_reason: the terminal event */
};

static llmgw_stream_t *oai_stream_new(apr_pool_t *p,
                                      const llmgw_xlate_ctx_t *x)
{
    llmgw_stream_t *s = apr_pcalloc(p, sizeof(*s));
    llmgw_usage_t u = LLMGW_USAGE_INIT;

    s->x = x;
    s->usage = u;
    return s;
}

static int error_member(void *baton, const char *key, apr_size_t klen,
                        int key_escaped, const llmgw_jspan_t *v)
{
    if (!key_escaped && klen == 5 && !memcmp(key, "error", 5)
        && v->type == LLMGW_JV_OBJECT) {
        *(int *)baton = 1;
    }
    return 0;
}

/* An OpenAI-format stream event that is an error object ({"error":{...}}). */
static int error_event(const char *data, apr_size_t len)
{
    llmgw_jspan_t top;
    int found = 0;
    /* a chunk without the word is not one: no scan for most chunks */
    if (!memmem(data, len, "\"error\"", 7)) {
        return 0;
    }
    return llmgw_json_object_each(data, len, &top, error_member, &found) == 1
           && found;
}

/* A stream that ended before its terminal event: the client gets the
 * error event, never an invented end. */
static int truncated(const llmgw_stream_t *s, const char *why,
                     llmgw_emit_fn emit, void *baton)
{
    llmgw_error_t e;

    memset(&e, 0, sizeof(e));
    e.status = 502;
    e.type = "provider_error";
    e.code = INVALID_CODE;
    e.message = why;
    e.upstream_status = 200;
    e.retry_after = -1;
    return llmgw_xlate_emit_error(s->x, &e, emit, baton);
}

/* One event: relayed as is, usage noted, its finish_reason (the terminal
 * event) noted: [DONE] without one is a cut. */
static int oai_stream_event(llmgw_stream_t *s, const char *event,
                            const char *data, apr_size_t len,
                            llmgw_emit_fn emit, void *baton)
{
    (void)event;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        if (!s->finish_seen) {
            return truncated(s, "the provider's stream ended with [DONE] "
                             "but no finish_reason", emit, baton);
        }
        return LLMGW_XLATE_END;     /* the caller writes [DONE] */
    }
    if (!s->finish_seen && llmgw_chunk_has_finish(data, len)) {
        s->finish_seen = 1;
    }
    /* Relayed as is: only a usage object, or an error, is looked at,
     * with the scanner (no tree for a chunk). */
    if (strstr(data, "\"usage\"")) {
        llmgw_usage_t u = LLMGW_USAGE_INIT;
        if (llmgw_usage_from_text(data, len, &u)) {
            s->usage = u;
            s->usage_seen = 1;
            if (s->x->report && s->x->report->usage) {
                *s->x->report->usage = u;
            }
        }
    }
    if (strstr(data, "\"error\"") && error_event(data, len)) {
        emit(baton, data, len);
        return LLMGW_XLATE_ERROR;
    }
    emit(baton, data, len);
    return LLMGW_XLATE_CONTINUE;
}

static int oai_stream_finish(llmgw_stream_t *s, llmgw_emit_fn emit,
                             void *baton)
{
    if (s->finish_seen) {
        /* the terminal event (finish_reason) came, only [DONE] is
         * missing: the answer is complete, say so */
        return LLMGW_XLATE_END;
    }
    return truncated(s, "the provider's stream ended before its "
                     "finish_reason", emit, baton);
}

static void oai_stream_usage(const llmgw_stream_t *s, llmgw_usage_t *usage)
{
    if (s->usage_seen) {
        *usage = s->usage;
    }
}

/* ------------------------------------------------------------- errors */

/* An OpenAI-format error body (or anything else) -> gateway error. */
static void oai_error(apr_pool_t *p, int status, const char *body,
                      apr_size_t len, llmgw_error_t *e)
{
    json_t *j = body ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    json_t *err = json_object_get(j, "error");
    const char *msg = NULL, *type = NULL, *code = NULL, *param = NULL;

    if (json_is_object(err)) {
        msg = json_string_value(json_object_get(err, "message"));
        type = json_string_value(json_object_get(err, "type"));
        code = json_string_value(json_object_get(err, "code"));
        param = json_string_value(json_object_get(err, "param"));
    }
    else if (json_is_string(err)) {
        msg = json_string_value(err);
    }
    if (status >= 500) {
        e->status = 502;
        e->type = "provider_error";
        e->message = apr_psprintf(p, "provider answered %d%s%s", status,
                                  msg ? ": " : "", msg ? msg : "");
    }
    else {
        e->status = status;
        e->type = type ? apr_pstrdup(p, type)
                       : llmgw_error_type_for_status(status);
        e->message = msg ? apr_pstrdup(p, msg)
                         : apr_psprintf(p, "provider answered %d", status);
        e->param = param ? apr_pstrdup(p, param) : NULL;
    }
    e->code = code ? apr_pstrdup(p, code) : NULL;
    if (j) {
        json_decref(j);
    }
}

/* chat_request and the others are NULL: nothing is translated, the
 * gateway goes through raw_request and raw_response. */
const llmgw_translator_t llmgw_openai_translator = {
    "openai",
    oai_path,
    oai_headers,
    NULL,
    NULL,
    oai_stream_new,
    oai_stream_event,
    oai_stream_finish,
    oai_stream_usage,
    oai_error,
    NULL,
    NULL,
    oai_raw_request,
    oai_raw_response
};
