/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The cache's stored entries: decoding (a corrupt entry is a miss), and
 * the stored body replayed in both framings (SSE replay with and without
 * usage, SSE assembled to JSON, JSON cut into chunks). The input is an
 * entry as memcached could hand it back, or, when it does not decode, a
 * body of either kind. An entry re-encoded decodes to the same fields. */
#include "fuzz.h"
#include "llmgw_cache_entry.h"

static void replay(apr_pool_t *p, const char *body, apr_size_t len,
                   const llmgw_usage_t *u)
{
    char *out;
    apr_size_t out_len;
    int inc;
    for (inc = 0; inc < 2; inc++) {
        if (llmgw_cache_sse_replay(p, body, len, inc, u, &out, &out_len) == 0) {
            fz_touch(out, out_len);
        }
        if (llmgw_cache_json_to_sse(p, body, len, inc, &out, &out_len) == 0) {
            fz_touch(out, out_len);
        }
    }
    if (llmgw_cache_sse_to_json(p, body, len, u, &out, &out_len) == 0) {
        fz_touch(out, out_len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    llmgw_cache_entry_t e, e2;
    llmgw_usage_t u = { 10, 5, 15, -1, -1 };

    memset(&e, 0, sizeof(e));
    if (llmgw_cache_entry_decode(p, s, size, &e) == 0) {
        char *enc;
        apr_size_t elen = 0;
        fz_touch(e.body, e.len);
        if (e.provider) {
            fz_touch(e.provider, strlen(e.provider));
        }
        if (e.model) {
            fz_touch(e.model, strlen(e.model));
        }
        replay(p, e.body, e.len, &e.usage);
        fz_json_drop(llmgw_cache_usage_json(&e.usage));
        enc = llmgw_cache_entry_encode(p, &e, &elen);
        memset(&e2, 0, sizeof(e2));
        if (!enc || llmgw_cache_entry_decode(p, enc, elen, &e2) != 0
            || e2.is_sse != e.is_sse || e2.len != e.len
            || memcmp(e2.body, e.body, e.len)
            || e2.created != e.created || e2.expires != e.expires) {
            abort();            /* what is stored reads back the same */
        }
    }
    else {
        replay(p, s, size, &u);
    }
    free(s);
    apr_pool_destroy(p);
    return 0;
}
