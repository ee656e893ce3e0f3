/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_test.h — what every unit test of the pure core needs: APR and its
 * pools, the recorded fixtures of LLMGW_SHARED_DIR, JSON that fails the
 * test with a useful message, and the Check main().
 *
 * A test file defines its Suite and ends with UT_MAIN(its_suite):
 *
 *     static Suite *cache_suite(void)
 *     {
 *         Suite *s = suite_create("cache");
 *         TCase *tc = ut_tcase(s, "key", 0);
 *         tcase_add_test(tc, key_parts);
 *         return s;
 *     }
 *     UT_MAIN(cache_suite)
 *
 * A main() of its own (to set something up around the run) calls ut_init(),
 * ut_run() and returns ut_done().
 *
 * Every helper that can fail fails the running test with a message that
 * names what it was given (the file, the JSON text and where it breaks);
 * everything it returns lives in ut_pool().
 */
#ifndef LLMGW_TEST_H
#define LLMGW_TEST_H

#include <check.h>
#include <jansson.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_tables.h>

/* The process-wide pool, from ut_init() to ut_done(). */
extern apr_pool_t *gp;
/* One pool per test, a child of gp, in every TCase made by ut_tcase()
 * (NULL outside a test). */
extern apr_pool_t *tp;

/* tp during a test, gp otherwise. */
apr_pool_t *ut_pool(void);

/* ---- the run ---------------------------------------------------------- */

/* apr_initialize() and gp; once. */
void ut_init(void);

/* A TCase added to s, with the per-test pool tp; timeout in seconds (0:
 * Check's default, 4 s when tests fork). */
TCase *ut_tcase(Suite *s, const char *name, int timeout);

/* Runs every test of s (CK_NORMAL output); the number that failed. */
int ut_run(Suite *s);

/* Destroys gp and terminates APR; EXIT_FAILURE when failed != 0. */
int ut_done(int failed);

#define UT_MAIN(suite_fn)                           \
    int main(void)                                  \
    {                                               \
        ut_init();                                  \
        return ut_done(ut_run(suite_fn()));         \
    }

/* ---- fixtures ----------------------------------------------------------- */

/* $LLMGW_SHARED_DIR, else the one the tests were built for. */
const char *ut_shared_dir(void);

/* <shared>/fixtures/<rel> */
const char *ut_fixture_path(const char *rel);

/* The whole file, NUL-terminated (*len without the NUL; len may be NULL). */
char *ut_slurp(const char *path, apr_size_t *len);

/* ut_slurp() of ut_fixture_path(rel). */
char *ut_fixture(const char *rel, apr_size_t *len);

/* The paths (const char *) of the fixtures matching the glob pattern
 * (relative to <shared>/fixtures), sorted; fails with fewer than min. */
apr_array_header_t *ut_fixture_glob(const char *pattern, int min);

/* ---- JSON --------------------------------------------------------------- */

/* Parses test JSON (any top-level value, \u0000 allowed); the caller
 * json_decref()s. A parse error fails the test with jansson's message, the
 * line and column, and the text. */
json_t *ut_json(const char *txt);
json_t *ut_jsonn(const char *txt, apr_size_t len, const char *what);

/* A JSON fixture file (ut_fixture()), parsed. */
json_t *ut_fixture_json(const char *rel);

/* Compact, sorted-keys text of j in ut_pool() ("(null)" for NULL). */
const char *ut_json_str(const json_t *j);

/* Fails unless got equals want (json_equal), printing both. */
void ut_json_eq(const json_t *got, const json_t *want, const char *what);

/* ---- SSE ---------------------------------------------------------------- */

typedef struct {
    const char *event;          /* NULL when the event had no name */
    const char *data;           /* NUL-terminated */
    apr_size_t len;
} ut_sse_event_t;

/* The events of a whole SSE buffer through llmgw_sse (fed at once, then
 * finished; both must succeed), as ut_sse_event_t. */
apr_array_header_t *ut_sse_events(const char *buf, apr_size_t len);

#define UT_EV(a, i) APR_ARRAY_IDX((a), (i), ut_sse_event_t)

/* ---- references -------------------------------------------------------- */

/* The Messages request converter the text writer replaced (tree to tree,
 * t/unit/lib/ref_msg_to_chat.c): what the writer is compared with.
 * llmgw_client_api.h's to_chat contract (gateway fields kept). */
#include "llmgw_client_api.h"
int ut_ref_msg_to_chat(apr_pool_t *p, const json_t *in,
                       const llmgw_api_ctx_t *c, json_t **chat,
                       const char **err, const char **param,
                       const char **code);

/* The Responses request converter the text writer replaced (tree to tree,
 * t/unit/lib/ref_resp_to_chat.c): llmgw_client_api.h's to_chat contract
 * (gateway fields kept). */
int ut_ref_resp_to_chat(apr_pool_t *p, const json_t *in,
                        const llmgw_api_ctx_t *c, json_t **chat,
                        const char **err, const char **param,
                        const char **code);

/* The Responses answer converter the text writer replaced (the output
 * builder fed with the chat.completion's tree, t/unit/lib/
 * ref_resp_from_chat.c): llmgw_client_api.h's from_chat contract. */
int ut_ref_resp_from_chat(apr_pool_t *p, const char *chat, apr_size_t len,
                          const llmgw_api_ctx_t *c, const char **out,
                          apr_size_t *out_len);

/* The response skeleton built from the request's tree (c->request, as
 * the adapter built it before it read the echoes from the text; c->echo
 * is ignored): what ut_ref_resp_from_chat starts from. New reference. */
json_t *ut_ref_resp_skeleton(const llmgw_api_ctx_t *c);

/* The Responses stream fed the chunks (JSON texts) through the tree
 * reader resp_stream_chunk replaced, then ended: its events to emit. 0,
 * or -1 - i when chunk i was refused (i == n: the end). */
int ut_ref_resp_stream(apr_pool_t *p, const llmgw_api_ctx_t *c,
                       const char *const *chunks, int n,
                       llmgw_event_emit_fn emit, void *baton);

/* ---- translators ------------------------------------------------------ */

/* The provider writer t given the chat request's text alone (no tree: the
 * gateway's case) writes out (compared as JSON documents) from it, or
 * refuses it when out is NULL, as it did from the tree. */
#include "llmgw_translate.h"
void ut_same_from_text(const llmgw_translator_t *t, const char *txt,
                       const json_t *out, const llmgw_xlate_ctx_t *x);

/* t's raw_response asked for the gateway's check in its own pass
 * (llmgw_xlate_in_t.why) gives llmgw_answer_invalid(pt, chat, body)'s
 * verdict; an accepted body is translated exactly as without the check,
 * a refused one returns -1 and leaves usage alone. */
#include "llmgw_answer.h"
void ut_checked_as_gateway(const llmgw_translator_t *t,
                           llmgw_provider_type_e pt, const char *body,
                           const llmgw_xlate_ctx_t *x);

#endif /* LLMGW_TEST_H */
