/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The client API adapters' stream side on the input's events as
 * chat.completion.chunk data: stream_chunk of every adapter until it
 * refuses one, then stream_end (or stream_error) and stream_result; and
 * the input as each API's own stream reduced to its answer (what the cache
 * does) and expanded again. */
#include "fuzz.h"
#include "llmgw_client_api.h"
#include "llmgw_sse.h"

static const llmgw_api_e apis[] = {
    LLMGW_API_CHAT, LLMGW_API_INDOXHUB, LLMGW_API_MESSAGES,
    LLMGW_API_RESPONSES, LLMGW_API_GEMINI
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    apr_array_header_t *evs = llmgw_sse_parse_all(p, s, size);
    json_t *req = json_loads("{\"model\":\"m\",\"input\":\"hi\","
                             "\"instructions\":\"x\"}", 0, NULL);
    unsigned i;
    int k;

    for (i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
        const llmgw_client_api_t *A = llmgw_client_api(apis[i]);
        llmgw_api_ctx_t c;
        llmgw_api_stream_t *st;
        const char *out = NULL, *back = NULL;
        apr_size_t out_len = 0, back_len = 0;
        int failed = 0;

        memset(&c, 0, sizeof(c));
        c.id = "resp_f";
        c.model = "m";
        c.created = 1700000000;
        c.request_id = "req-f";
        c.provider = "p";
        c.request = req;
        c.cost_usd = -1;
        if (A->stream_new && A->stream_chunk) {   /* Gemini: relay only */
            st = A->stream_new(p, &c);
            for (k = 0; evs && k < evs->nelts && !failed; k++) {
                const llmgw_sse_event_t *e = &APR_ARRAY_IDX(evs, k,
                                                            llmgw_sse_event_t);
                if (llmgw_sse_is_done(e)) {
                    break;
                }
                failed = A->stream_chunk(st, e->data, e->len, fz_event_emit,
                                         NULL) != 0;
            }
            if (failed || (size & 1)) {
                llmgw_error_t e;
                memset(&e, 0, sizeof(e));
                e.status = 502;
                e.type = "provider_error";
                e.message = "the stream was cut";
                e.retry_after = -1;
                A->stream_error(st, &e, fz_event_emit, NULL);
            }
            else {
                A->stream_end(st, fz_event_emit, NULL);
                if (A->stream_result) {
                    fz_json_drop(A->stream_result(st));
                }
            }
        }
        if (A->reduce && A->reduce(p, s, size, &out, &out_len) == 0) {
            fz_touch(out, out_len);
            if (A->expand && A->expand(p, out, out_len, &back, &back_len) == 0) {
                fz_touch(back, back_len);
            }
        }
    }
    json_decref(req);
    free(s);
    apr_pool_destroy(p);
    return 0;
}
