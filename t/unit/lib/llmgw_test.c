/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* llmgw_test.c — the unit-test library (see llmgw_test.h). */
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "llmgw_sse.h"
#include "llmgw_test.h"
#include "llmgw_parse.h"

#ifndef LLMGW_SHARED_DIR
#define LLMGW_SHARED_DIR "../shared"
#endif

apr_pool_t *gp;
apr_pool_t *tp;

apr_pool_t *ut_pool(void)
{
    return tp ? tp : gp;
}

/* ---- the run ---------------------------------------------------------- */

void ut_init(void)
{
    if (gp == NULL) {
        apr_initialize();
        apr_pool_create(&gp, NULL);
    }
}

static void tp_setup(void)
{
    ck_assert_int_eq(apr_pool_create(&tp, gp), APR_SUCCESS);
}

static void tp_teardown(void)
{
    apr_pool_destroy(tp);
    tp = NULL;
}

TCase *ut_tcase(Suite *s, const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, tp_setup, tp_teardown);
    if (timeout > 0) {
        tcase_set_timeout(tc, timeout);
    }
    suite_add_tcase(s, tc);
    return tc;
}

int ut_run(Suite *s)
{
    SRunner *sr;
    int failed;
    ut_init();
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

int ut_done(int failed)
{
    if (gp) {
        apr_pool_destroy(gp);
        gp = NULL;
        apr_terminate();
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- fixtures ----------------------------------------------------------- */

const char *ut_shared_dir(void)
{
    const char *dir = getenv("LLMGW_SHARED_DIR");
    return dir && *dir ? dir : LLMGW_SHARED_DIR;
}

const char *ut_fixture_path(const char *rel)
{
    return apr_pstrcat(ut_pool(), ut_shared_dir(), "/fixtures/", rel, NULL);
}

char *ut_slurp(const char *path, apr_size_t *len)
{
    apr_pool_t *p = ut_pool();
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n = 0;
    char *buf;

    ck_assert_msg(apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                                0, p) == APR_SUCCESS, "cannot open %s", path);
    ck_assert_msg(apr_file_info_get(&fi, APR_FINFO_SIZE, f) == APR_SUCCESS,
                  "cannot stat %s", path);
    buf = apr_palloc(p, (apr_size_t)fi.size + 1);
    if (fi.size > 0) {
        ck_assert_msg(apr_file_read_full(f, buf, (apr_size_t)fi.size, &n)
                      == APR_SUCCESS && n == (apr_size_t)fi.size,
                      "cannot read %s (%zu of %zu bytes)", path, n,
                      (apr_size_t)fi.size);
    }
    apr_file_close(f);
    buf[n] = '\0';
    if (len) {
        *len = n;
    }
    return buf;
}

char *ut_fixture(const char *rel, apr_size_t *len)
{
    return ut_slurp(ut_fixture_path(rel), len);
}

apr_array_header_t *ut_fixture_glob(const char *pattern, int min)
{
    apr_pool_t *p = ut_pool();
    apr_array_header_t *a = apr_array_make(p, 16, sizeof(const char *));
    const char *pat = ut_fixture_path(pattern);
    glob_t g;
    size_t i;

    ck_assert_msg(glob(pat, 0, NULL, &g) == 0, "no files match %s", pat);
    for (i = 0; i < g.gl_pathc; i++) {
        APR_ARRAY_PUSH(a, const char *) = apr_pstrdup(p, g.gl_pathv[i]);
    }
    globfree(&g);
    ck_assert_msg(a->nelts >= min, "%s: %d files, want at least %d", pat,
                  a->nelts, min);
    return a;
}

/* ---- JSON --------------------------------------------------------------- */

json_t *ut_jsonn(const char *txt, apr_size_t len, const char *what)
{
    json_error_t e;
    json_t *j = json_loadb(txt, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    ck_assert_msg(j != NULL, "%s: not JSON: %s at line %d column %d: %.*s",
                  what ? what : "test JSON", e.text, e.line, e.column,
                  (int)len, txt);
    return j;
}

json_t *ut_json(const char *txt)
{
    ck_assert_ptr_nonnull(txt);
    return ut_jsonn(txt, strlen(txt), NULL);
}

json_t *ut_fixture_json(const char *rel)
{
    apr_size_t len;
    const char *txt = ut_fixture(rel, &len);
    return ut_jsonn(txt, len, rel);
}

const char *ut_json_str(const json_t *j)
{
    char *s;
    const char *copy;
    if (j == NULL) {
        return "(null)";
    }
    s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    copy = apr_pstrdup(ut_pool(), s ? s : "(unprintable)");
    free(s);
    return copy;
}

void ut_json_eq(const json_t *got, const json_t *want, const char *what)
{
    ck_assert_msg(got != NULL && want != NULL && json_equal(got, want),
                  "%s: JSON differs:\n got  %s\n want %s",
                  what ? what : "JSON", ut_json_str(got), ut_json_str(want));
}

/* ---- SSE ---------------------------------------------------------------- */

static int sse_collect(void *baton, const char *event, const char *data,
                       apr_size_t len)
{
    apr_array_header_t *a = baton;
    ut_sse_event_t *e = &APR_ARRAY_PUSH(a, ut_sse_event_t);
    e->event = event ? apr_pstrdup(a->pool, event) : NULL;
    e->data = apr_pstrmemdup(a->pool, data, len);
    e->len = len;
    return 0;
}

apr_array_header_t *ut_sse_events(const char *buf, apr_size_t len)
{
    apr_pool_t *p = ut_pool();
    apr_array_header_t *a = apr_array_make(p, 16, sizeof(ut_sse_event_t));
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(p, 0, sse_collect, a);
    ck_assert_int_eq(llmgw_sse_feed(ps, buf, len), 0);
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_uint_eq(llmgw_sse_events(ps), (apr_size_t)a->nelts);
    return a;
}

/* ---- translators ------------------------------------------------------ */

void ut_same_from_text(const llmgw_translator_t *t, const char *txt,
                       const json_t *out, const llmgw_xlate_ctx_t *x)
{
    llmgw_xlate_in_t in;
    const char *body = NULL, *err = NULL;
    apr_size_t len = 0;
    int rv;

    memset(&in, 0, sizeof(in));
    in.ep = LLMGW_EP_CHAT;
    in.endpoint_name = "chat/completions";
    in.raw = txt;
    in.len = strlen(txt);
    rv = t->raw_request(t, ut_pool(), x, &in, &body, &len, &err);
    ck_assert_msg((rv == 0) == (out != NULL), "text and tree disagree on %s",
                  txt);
    if (out != NULL) {
        json_t *j = ut_jsonn(body, len, txt);
        ut_json_eq(j, out, txt);
        json_decref(j);
    }
    /* read from the spans the handler's pass keeps: the same answer */
    {
        llmgw_parsed_t pq;
        const char *body2 = NULL, *err2 = NULL;
        apr_size_t len2 = 0;
        if (llmgw_parse_request_text(ut_pool(), txt, in.len, LLMGW_EP_CHAT,
                                     &pq) && pq.scan != NULL) {
            in.scan = pq.scan;
            rv = t->raw_request(t, ut_pool(), x, &in, &body2, &len2, &err2);
            ck_assert_msg((rv == 0) == (out != NULL), "the pass's spans and "
                          "the tree disagree on %s", txt);
            if (out != NULL) {
                ck_assert_msg(len2 == len && !memcmp(body, body2, len),
                              "the pass's spans give another body for %s",
                              txt);
            }
            else {
                ck_assert_str_eq(err2, err);
            }
        }
    }
}

void ut_checked_as_gateway(const llmgw_translator_t *t,
                           llmgw_provider_type_e pt, const char *body,
                           const llmgw_xlate_ctx_t *x)
{
    apr_size_t blen = strlen(body), len = 0, len2 = 0;
    const char *want = llmgw_answer_invalid(pt, LLMGW_EP_CHAT, body, blen);
    const char *why = "unset", *out = NULL, *out2 = NULL;
    llmgw_usage_t u = LLMGW_USAGE_INIT, u2 = LLMGW_USAGE_INIT;
    llmgw_usage_t init = LLMGW_USAGE_INIT;
    llmgw_xlate_in_t in;
    apr_pool_t *p;
    int rv, rv2;

    apr_pool_create(&p, NULL);
    memset(&in, 0, sizeof(in));
    in.ep = LLMGW_EP_CHAT;
    rv2 = t->raw_response(t, p, x, &in, body, blen, &out2, &len2, &u2);
    in.why = &why;
    rv = t->raw_response(t, p, x, &in, body, blen, &out, &len, &u);
    if (want == NULL) {
        ck_assert_msg(why == NULL, "%s: refused: %s", body, why);
        ck_assert_int_eq(rv, rv2);
        if (!rv) {
            ck_assert_int_eq(len, len2);
            ck_assert(!memcmp(out, out2, len));
            ck_assert_int_eq(u.prompt_tokens, u2.prompt_tokens);
            ck_assert_int_eq(u.completion_tokens, u2.completion_tokens);
        }
    }
    else {
        ck_assert_msg(why != NULL && !strcmp(why, want),
                      "%s: %s, not %s", body, why ? why : "taken", want);
        ck_assert_int_eq(rv, -1);
        ck_assert_int_eq(u.prompt_tokens, init.prompt_tokens);
        ck_assert_int_eq(u.completion_tokens, init.completion_tokens);
        ck_assert_int_eq(u.total_tokens, init.total_tokens);
    }
    apr_pool_destroy(p);
}
