/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The client API adapters' answer side on the input as a chat.completion:
 * from_chat of every adapter on the input's text (Messages, Responses
 * with the request's conversation stored, IndoxHub), the input as each API's answer expanded
 * into its event stream and that stream reduced back, and each API's
 * error body. */
#include "fuzz.h"
#include "llmgw_client_api.h"
#include "llmgw_api_responses.h"
#include "llmgw_json_scan.h"

static const llmgw_api_e apis[] = {
    LLMGW_API_CHAT, LLMGW_API_INDOXHUB, LLMGW_API_MESSAGES,
    LLMGW_API_RESPONSES, LLMGW_API_GEMINI
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    json_t *req = json_loads("{\"model\":\"m\",\"input\":\"hi\",\"tools\":"
                             "[{\"type\":\"function\",\"name\":\"f\"}],"
                             "\"metadata\":{\"a\":\"b\"}}", 0, NULL);
    unsigned i;

    for (i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
        const llmgw_client_api_t *A = llmgw_client_api(apis[i]);
        llmgw_api_ctx_t c;
        const char *out = NULL, *back = NULL;
        apr_size_t out_len = 0, back_len = 0;
        llmgw_error_t e;

        memset(&c, 0, sizeof(c));
        c.id = "resp_f";
        c.model = "m";
        c.created = 1700000000;
        c.request_id = "req-f";
        c.provider = "p";
        c.request = req;
        c.duration_ms = 12;
        c.cost_usd = i & 1 ? 0.25 : -1;
        if (A->from_chat && A->from_chat(p, s, size, &c, &out, &out_len)
            == 0) {
            fz_touch(out, out_len);
            if (apis[i] == LLMGW_API_RESPONSES) {
                json_t *ans = json_loadb(out, out_len, 0, NULL);
                fz_json_drop(llmgw_responses_conversation(NULL, req, ans));
                fz_json_drop(ans);
            }
            out = NULL;
            out_len = 0;
        }
        if (A->expand && A->expand(p, s, size, &out, &out_len) == 0) {
            fz_touch(out, out_len);
            if (A->reduce
                && A->reduce(p, out, out_len, &back, &back_len) == 0) {
                fz_touch(back, back_len);
            }
        }
        memset(&e, 0, sizeof(e));
        e.status = 400 + (int)(size % 200);
        e.type = "invalid_request_error";
        e.message = s;
        e.param = size > 3 ? s + 3 : NULL;
        e.retry_after = -1;
        if (A->error_body) {
            fz_json_drop(A->error_body(&e, "req-f"));
        }
    }
    json_decref(req);
    free(s);
    apr_pool_destroy(p);
    return 0;
}
