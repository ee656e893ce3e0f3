/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * ut_xlate.h — the translators' direct writers checked against their tree
 * path: for every request and answer a test translates through the tree
 * functions (chat_request, chat_response), raw_request and raw_response
 * must give the same JSON document (compared as documents, not bytes),
 * the same error, the same report and the same usage.
 */
#ifndef UT_XLATE_H
#define UT_XLATE_H

#include "llmgw_test.h"
#include "llmgw_translate.h"

/* old and old_err: what T->chat_request(p, req, x, &err) gave (x->report,
 * when set, as it left it). */
void ut_xlate_same_request(const llmgw_translator_t *T,
                           const llmgw_xlate_ctx_t *x, const json_t *req,
                           const json_t *old, const char *old_err);

/* old and old_usage: what T->chat_response(p, native, x, &usage) gave;
 * before: usage before that call (NULL: LLMGW_USAGE_INIT). */
void ut_xlate_same_response(const llmgw_translator_t *T,
                            const llmgw_xlate_ctx_t *x, const json_t *native,
                            const json_t *old,
                            const llmgw_usage_t *before,
                            const llmgw_usage_t *old_usage);

#endif
