/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_usage_ckpt.c — the pure parts of the monthly usage checkpoint
 * (llmgw_admin.h "checkpoint"): which counters a workspace's month has,
 * the entries a child records as touched, the counters a restore may set,
 * the rule that merges two checkpoints and the restore marker's key.
 */
#include <errno.h>
#include <string.h>

#include "apr_strings.h"
#include "llmgw_admin.h"
#include "llmgw_limits.h"

const char *const llmgw_ckpt_ws_counters[] = {
    LLMGW_CTR_MONTH, LLMGW_CTR_REQUESTS, LLMGW_CTR_TOTAL_TOKENS,
    LLMGW_CTR_COST, NULL
};

const char *const llmgw_ckpt_model_what[] = {
    "requests", "prompt", "completion", "cost", NULL
};

static int is_hex16(const char *s)
{
    int i;
    for (i = 0; i < 16; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* "m-" 16 hex "-": a model's counters' common prefix */
static int model_prefix_ok(const char *s, apr_size_t n)
{
    return n == 19 && !strncmp(s, "m-", 2) && is_hex16(s + 2) && s[18] == '-';
}

int llmgw_ckpt_counter_ok(const char *counter)
{
    int i;
    if (!counter) {
        return 0;
    }
    for (i = 0; llmgw_ckpt_ws_counters[i]; i++) {
        if (!strcmp(counter, llmgw_ckpt_ws_counters[i])) {
            return 1;
        }
    }
    if (strlen(counter) <= 19 || !model_prefix_ok(counter, 19)) {
        return 0;
    }
    for (i = 0; llmgw_ckpt_model_what[i]; i++) {
        if (!strcmp(counter + 19, llmgw_ckpt_model_what[i])) {
            return 1;
        }
    }
    return 0;
}

const char *llmgw_ckpt_entry(apr_pool_t *p, const char *workspace,
                             apr_int64_t period, const char *model_prefix)
{
    /* on the request path: no format parsing */
    return apr_pstrcat(p, workspace, "\n", apr_off_t_toa(p, (apr_off_t)period),
                       "\n", model_prefix ? model_prefix : "", NULL);
}

int llmgw_ckpt_entry_counters(apr_pool_t *p, const char *entry,
                              const char **workspace, apr_int64_t *period,
                              apr_array_header_t **counters)
{
    const char *nl1 = entry ? strchr(entry, '\n') : NULL;
    const char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    const char *model;
    char *end;
    apr_int64_t v;
    int i;

    if (!nl2) {
        return -1;
    }
    *workspace = apr_pstrmemdup(p, entry, (apr_size_t)(nl1 - entry));
    if (!llmgw_workspace_ok(*workspace)) {
        return -1;
    }
    errno = 0;
    v = apr_strtoi64(nl1 + 1, &end, 10);
    if (end != nl2 || end == nl1 + 1 || v < 0 || errno) {
        return -1;
    }
    *period = v;
    model = nl2 + 1;
    if (*model && !model_prefix_ok(model, strlen(model))) {
        return -1;
    }
    *counters = apr_array_make(p, 8, sizeof(const char *));
    for (i = 0; llmgw_ckpt_ws_counters[i]; i++) {
        APR_ARRAY_PUSH(*counters, const char *) = llmgw_ckpt_ws_counters[i];
    }
    for (i = 0; *model && llmgw_ckpt_model_what[i]; i++) {
        APR_ARRAY_PUSH(*counters, const char *) =
            apr_pstrcat(p, model, llmgw_ckpt_model_what[i], NULL);
    }
    return 0;
}

apr_int64_t llmgw_ckpt_merge(apr_int64_t stored, apr_int64_t incoming)
{
    return incoming > stored ? incoming : stored;
}

int llmgw_ckpt_row(const char *const *cols, llmgw_ckpt_row_t *row)
{
    char *end;
    apr_int64_t v;
    if (!cols[0] || !cols[1] || !cols[2] || !llmgw_workspace_ok(cols[0])
        || !llmgw_ckpt_counter_ok(cols[1])) {
        return -1;
    }
    errno = 0;
    v = apr_strtoi64(cols[2], &end, 10);
    if (end == cols[2] || *end || v < 0 || errno) {
        return -1;
    }
    row->workspace = cols[0];
    row->counter = cols[1];
    row->value = v;
    return 0;
}

const char *llmgw_ckpt_marker_key(apr_pool_t *p, apr_int64_t period)
{
    return apr_psprintf(p, "llmgw:q:restored:%" APR_INT64_T_FMT, period);
}
