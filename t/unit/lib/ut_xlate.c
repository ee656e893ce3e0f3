/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
#include <string.h>
#include <stdlib.h>
#include <apr_strings.h>
#include "ut_xlate.h"

void ut_xlate_same_request(const llmgw_translator_t *T,
                           const llmgw_xlate_ctx_t *x, const json_t *req,
                           const json_t *old, const char *old_err)
{
    llmgw_xlate_ctx_t x2 = *x;
    llmgw_xlate_report_t rep;
    llmgw_xlate_in_t in;
    const char *out = NULL, *err = NULL;
    apr_size_t len = 0;
    int rv;
    char *what = json_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY);

    if (x->report) {
        memset(&rep, 0, sizeof(rep));
        rep.drop_unsupported = x->report->drop_unsupported;
        x2.report = &rep;
    }
    memset(&in, 0, sizeof(in));
    in.ep = LLMGW_EP_CHAT;
    in.endpoint_name = "chat/completions";
    in.tree = (json_t *)req;
    rv = T->raw_request(T, ut_pool(), &x2, &in, &out, &len, &err);
    if (old == NULL) {
        ck_assert_msg(rv == 400, "%s: direct writer took %s (tree path: %s)",
                      T->name, what, old_err);
        ck_assert_msg(err && old_err && !strcmp(err, old_err),
                      "%s: direct writer error '%s', tree path '%s' for %s",
                      T->name, err, old_err, what);
    }
    else {
        json_t *got;
        ck_assert_msg(rv == 0, "%s: direct writer refused %s: %s", T->name,
                      what, err);
        got = ut_jsonn(out, len, "direct writer output");
        ut_json_eq(got, old, what);
        json_decref(got);
    }
    if (x->report) {
        int i, n = x->report->dropped ? x->report->dropped->nelts : 0;
        ck_assert_int_eq(rep.dropped ? rep.dropped->nelts : 0, n);
        for (i = 0; i < n; i++) {
            ck_assert_str_eq(APR_ARRAY_IDX(rep.dropped, i, const char *),
                             APR_ARRAY_IDX(x->report->dropped, i,
                                           const char *));
        }
        ck_assert_msg((rep.param == NULL) == (x->report->param == NULL)
                      && (!rep.param || !strcmp(rep.param,
                                                x->report->param)),
                      "report param '%s' vs '%s'", rep.param,
                      x->report->param);
    }
    free(what);
}

void ut_xlate_same_response(const llmgw_translator_t *T,
                            const llmgw_xlate_ctx_t *x, const json_t *native,
                            const json_t *old,
                            const llmgw_usage_t *before,
                            const llmgw_usage_t *old_usage)
{
    llmgw_xlate_in_t in;
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    const char *out = NULL;
    apr_size_t len = 0;
    int rv;
    char *txt = json_dumps(native, JSON_COMPACT | JSON_ENCODE_ANY);

    ck_assert_ptr_nonnull(txt);
    if (before) {
        u = *before;
    }
    memset(&in, 0, sizeof(in));
    in.ep = LLMGW_EP_CHAT;
    in.endpoint_name = "chat/completions";
    rv = T->raw_response(T, ut_pool(), x, &in, txt, strlen(txt), &out, &len,
                         &u);
    /* the tree path read an answer body as an object or an array only */
    if (old == NULL || !(json_is_object(native) || json_is_array(native))) {
        ck_assert_msg(rv != 0, "%s: direct reader took %s", T->name, txt);
    }
    else {
        json_t *got;
        ck_assert_msg(rv == 0, "%s: direct reader refused %s", T->name, txt);
        got = ut_jsonn(out, len, "direct reader output");
        ut_json_eq(got, old, txt);
        json_decref(got);
        if (old_usage) {
            ck_assert_msg(!memcmp(&u, old_usage, sizeof(u)),
                          "%s: usage differs for %s", T->name, txt);
        }
    }
    free(txt);
}
