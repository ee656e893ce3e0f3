/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Each provider's answer reader: raw_response of a chat and an embeddings
 * answer (floats and base64 asked), the error reader for a few statuses,
 * and the check of a 2xx answer (llmgw_answer_invalid). A translated
 * answer must be valid JSON. */
#include "fuzz.h"
#include "llmgw_translate.h"
#include "llmgw_answer.h"
#include "llmgw_json_scan.h"

static const char *const requests[] = {
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
    ("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
     "\"n\":2,\"logprobs\":true,\"response_format\":{\"type\":\"json_object\"}}"),
    "{\"model\":\"m\",\"input\":[\"a\",\"b\"]}",
    "{\"model\":\"m\",\"input\":\"a\",\"encoding_format\":\"base64\"}",
};
static const llmgw_endpoint_e req_ep[] = {
    LLMGW_EP_CHAT, LLMGW_EP_CHAT, LLMGW_EP_EMBEDDINGS, LLMGW_EP_EMBEDDINGS
};
static const int statuses[] = { 400, 401, 404, 429, 500, 503, 529 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    int t, r, i;

    for (t = LLMGW_PT_OPENAI; t <= LLMGW_PT_GEMINI; t++) {
        const llmgw_translator_t *T = llmgw_translator_for(t);
        for (r = 0; r < 4; r++) {
            llmgw_xlate_ctx_t x;
            llmgw_xlate_in_t in;
            llmgw_usage_t u = LLMGW_USAGE_INIT;
            const char *out = NULL, *why;
            apr_size_t out_len = 0;
            json_t *tree = json_loads(requests[r], 0, NULL);

            memset(&x, 0, sizeof(x));
            x.model = "m";
            x.id = "chatcmpl-f";
            x.created = 1700000000;
            x.request_id = "req-f";
            x.provider = "p";
            x.default_max_tokens = 64;
            memset(&in, 0, sizeof(in));
            in.ep = req_ep[r];
            in.endpoint_name = r < 2 ? "chat/completions" : "embeddings";
            in.raw = requests[r];
            in.len = strlen(requests[r]);
            in.tree = tree;
            if (T->raw_response(T, p, &x, &in, s, size, &out, &out_len,
                                &u) == 0) {
                fz_touch(out, out_len);
                if (t != LLMGW_PT_OPENAI && !llmgw_json_valid(out, out_len)) {
                    abort();            /* a translated answer is JSON */
                }
            }
            why = llmgw_answer_invalid(t, req_ep[r], s, size);
            if (why) {
                fz_touch(why, strlen(why));
            }
            {
                /* the check reading the usage in its pass: the same
                 * verdict, and the usage the text reader finds at the
                 * top level */
                llmgw_answer_usage_t au;
                const char *why2 = llmgw_answer_check(t, req_ep[r], s, size,
                                                      &au);
                if ((why == NULL) != (why2 == NULL)
                    || (why && strcmp(why, why2))
                    || (au.found && !llmgw_json_valid(s, size))) {
                    abort();
                }
                if (au.found) {
                    fz_touch((const char *)&au.usage, sizeof(au.usage));
                }
            }
            json_decref(tree);
        }
        for (i = 0; i < (int)(sizeof(statuses) / sizeof(statuses[0])); i++) {
            llmgw_error_t e;
            memset(&e, 0, sizeof(e));
            e.retry_after = -1;
            T->error(p, statuses[i], s, size, &e);
            fz_json_drop(llmgw_envelope_json(&e, "req-f"));
            if (e.details) {
                json_decref(e.details);
            }
        }
    }
    fz_sink += (unsigned)llmgw_chunk_has_finish(s, size);
    free(s);
    apr_pool_destroy(p);
    return 0;
}
