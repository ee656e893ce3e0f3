/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* What the gateway reads of a stream it relays in the client's own API
 * (llmgw_native.h): every event of the input through the watch of each
 * API, its usage and error, and the input as a whole answer's usage. */
#include "fuzz.h"
#include "llmgw_native.h"
#include "llmgw_sse.h"

static const llmgw_api_e apis[] = {
    LLMGW_API_CHAT, LLMGW_API_MESSAGES, LLMGW_API_RESPONSES, LLMGW_API_GEMINI
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    apr_array_header_t *evs = llmgw_sse_parse_all(p, s, size);
    unsigned i;
    int k;

    for (i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
        llmgw_native_watch_t *w = llmgw_native_watch_new(p, apis[i]);
        llmgw_usage_t u = LLMGW_USAGE_INIT;
        const char *err;
        for (k = 0; w && evs && k < evs->nelts; k++) {
            const llmgw_sse_event_t *e = &APR_ARRAY_IDX(evs, k,
                                                        llmgw_sse_event_t);
            /* the relay goes on after END: so does the watch */
            llmgw_native_watch_event(w, e->event, e->data, e->len);
        }
        if (w) {
            llmgw_native_watch_usage(w, &u);
            if ((err = llmgw_native_watch_error(w)) != NULL) {
                fz_touch(err, strlen(err));
            }
        }
        llmgw_native_answer_usage(apis[i], s, size, &u);
    }
    free(s);
    apr_pool_destroy(p);
    return 0;
}
