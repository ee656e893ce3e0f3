/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Each provider's stream translator on the events of the input (an SSE
 * stream as a provider would send it): every event until the translator
 * says the stream ended or failed, then stream_finish and the usage. What
 * a native translator emits must be JSON; every chunk emitted is passed on
 * to the Messages and Responses adapters' streams (as the gateway chains
 * them), which are then closed, and the chunks are reduced to one answer. */
#include "fuzz.h"
#include "llmgw_translate.h"
#include "llmgw_client_api.h"
#include "llmgw_sse.h"
#include "llmgw_json_scan.h"
#include "llmgw_stream_reduce.h"
#include "llmgw_buf.h"

typedef struct {
    apr_pool_t *p;
    int native;                   /* the translator is a native one */
    llmgw_api_stream_t *as[2];
    const llmgw_client_api_t *api[2];
    int api_dead[2];
    llmgw_buf_t sse;              /* what the client got, as SSE */
} chain_t;

static int on_chunk(void *baton, const char *data, apr_size_t len)
{
    chain_t *c = baton;
    int i;
    fz_touch(data, len);
    if (c->native && !llmgw_json_valid(data, len)) {
        abort();                  /* a translated chunk is JSON */
    }
    llmgw_buf_append(&c->sse, "data: ", 6);
    llmgw_buf_append(&c->sse, data, len);
    llmgw_buf_append(&c->sse, "\n\n", 2);
    for (i = 0; i < 2; i++) {
        if (!c->api_dead[i]
            && c->api[i]->stream_chunk(c->as[i], data, len, fz_event_emit,
                                       NULL) != 0) {
            c->api_dead[i] = 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    apr_array_header_t *evs = llmgw_sse_parse_all(p, s, size);
    int t, i;

    for (t = LLMGW_PT_OPENAI; t <= LLMGW_PT_GEMINI; t++) {
        const llmgw_translator_t *T = llmgw_translator_for(t);
        llmgw_xlate_ctx_t x;
        llmgw_api_ctx_t ac;
        llmgw_usage_t u = LLMGW_USAGE_INIT;
        llmgw_stream_t *st;
        chain_t c;
        int rv = LLMGW_XLATE_CONTINUE;
        json_t *req = json_loads("{\"model\":\"m\",\"input\":\"hi\","
                                 "\"instructions\":\"be brief\"}", 0, NULL);

        memset(&x, 0, sizeof(x));
        x.model = "m";
        x.id = "chatcmpl-f";
        x.created = 1700000000;
        x.request_id = "req-f";
        x.provider = "p";
        x.include_usage = 1;
        memset(&ac, 0, sizeof(ac));
        ac.id = "resp_f";
        ac.model = "m";
        ac.created = 1700000000;
        ac.request_id = "req-f";
        ac.provider = "p";
        ac.request = req;
        ac.cost_usd = -1;
        memset(&c, 0, sizeof(c));
        c.p = p;
        c.native = t != LLMGW_PT_OPENAI;
        llmgw_buf_init(&c.sse, p, 4096);
        c.api[0] = &llmgw_api_messages;
        c.api[1] = &llmgw_api_responses;
        c.as[0] = c.api[0]->stream_new(p, &ac);
        c.as[1] = c.api[1]->stream_new(p, &ac);

        st = T->stream_new(p, &x);
        for (i = 0; evs && i < evs->nelts && rv == LLMGW_XLATE_CONTINUE; i++) {
            const llmgw_sse_event_t *e = &APR_ARRAY_IDX(evs, i,
                                                        llmgw_sse_event_t);
            rv = T->stream_event(st, e->event, e->data, e->len, on_chunk, &c);
        }
        if (rv == LLMGW_XLATE_CONTINUE) {
            rv = T->stream_finish(st, on_chunk, &c);
        }
        T->stream_usage(st, &u);
        for (i = 0; i < 2; i++) {
            json_t *res;
            if (c.api_dead[i] || rv == LLMGW_XLATE_ERROR) {
                llmgw_error_t e;
                memset(&e, 0, sizeof(e));
                e.status = 502;
                e.type = "provider_error";
                e.message = "cut";
                e.retry_after = -1;
                c.api[i]->stream_error(c.as[i], &e, fz_event_emit, NULL);
            }
            else {
                c.api[i]->stream_end(c.as[i], fz_event_emit, NULL);
            }
            res = c.api[i]->stream_result ? c.api[i]->stream_result(c.as[i])
                                          : NULL;
            fz_json_drop(res);
        }
        fz_json_drop(llmgw_stream_reduce(p, c.sse.data ? c.sse.data : "",
                                         c.sse.len, &u));
        json_decref(req);
    }
    free(s);
    apr_pool_destroy(p);
    return 0;
}
