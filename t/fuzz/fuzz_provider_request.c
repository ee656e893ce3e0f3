/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Each provider's request writer (raw_request, from the request tree or
 * from the text alone) for chat and embeddings,
 * with unsupported parameters refused and dropped, and its path and
 * headers for the request's model. A native body written must be valid
 * JSON. */
#include "fuzz.h"
#include "llmgw_translate.h"
#include "llmgw_json_scan.h"

static const llmgw_endpoint_e eps[] = {
    LLMGW_EP_CHAT, LLMGW_EP_EMBEDDINGS, LLMGW_EP_IMAGES
};
static const char *const ep_names[] = {
    "chat/completions", "embeddings", "images/generations"
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    json_t *tree = json_loadb(s, size, JSON_ALLOW_NUL, NULL);
    const char *model = NULL;
    int t, e, drop;

    if (json_is_object(tree)
        && json_is_string(json_object_get(tree, "model"))) {
        /* a copy, as the gateway makes: the relay rewrites the tree model */
        model = apr_pstrdup(p, json_string_value(json_object_get(tree,
                                                                  "model")));
    }
    for (t = LLMGW_PT_OPENAI; t <= LLMGW_PT_GEMINI; t++) {
        const llmgw_translator_t *T = llmgw_translator_for(t);
        for (e = 0; e < 3; e++) {
            for (drop = 0; drop < 2; drop++) {
                llmgw_xlate_report_t rep;
                llmgw_xlate_ctx_t x;
                llmgw_xlate_in_t in;
                const char *out = NULL, *err = NULL, *path;
                apr_size_t out_len = 0;
                apr_array_header_t *hdrs = apr_array_make(p, 4,
                                                          sizeof(char *));
                int rv;

                memset(&rep, 0, sizeof(rep));
                rep.drop_unsupported = drop;
                rep.dropped = apr_array_make(p, 4, sizeof(const char *));
                memset(&x, 0, sizeof(x));
                x.model = model ? model : "m";
                x.id = "chatcmpl-f";
                x.created = 1700000000;
                x.request_id = "req-f";
                x.provider = "p";
                x.default_max_tokens = 64;
                x.include_usage = drop;
                x.report = &rep;
                memset(&in, 0, sizeof(in));
                in.ep = eps[e];
                in.endpoint_name = ep_names[e];
                in.raw = s;
                in.len = size;
                in.unchanged = drop;
                /* the native writers: from the tree, and from the text
                 * alone (no tree: what the gateway hands them) */
                in.tree = t != LLMGW_PT_OPENAI && drop ? NULL : tree;

                path = T->path(p, &x, eps[e], drop);
                if (path) {
                    fz_touch(path, strlen(path));
                }
                T->headers(p, "sk-fuzz", hdrs);
                if (!tree && t != LLMGW_PT_OPENAI && !drop) {
                    continue;
                }
                rv = T->raw_request(T, p, &x, &in, &out, &out_len, &err);
                if (rv == 0) {
                    fz_touch(out, out_len);
                    if (t != LLMGW_PT_OPENAI && !llmgw_json_valid(out, out_len)) {
                        abort();        /* a native body is JSON */
                    }
                }
                else if (err) {
                    fz_touch(err, strlen(err));
                }
            }
        }
    }
    if (tree) {
        json_decref(tree);
    }
    free(s);
    apr_pool_destroy(p);
    return 0;
}
