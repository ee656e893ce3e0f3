/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_admin_billing.c — billing's entitlements and usage by model, from
 * the counters the limits use (pure; the glue reads the counters).
 */
#include <string.h>

#include <apr_strings.h>

#include "llmgw_admin.h"

const char *llmgw_admin_model_counter(apr_pool_t *p, const char *provider,
                                      const char *model, const char *what)
{
    char hex[2 * LLMGW_DIGEST_LEN + 1];
    const char *pm = apr_pstrcat(p, provider, "/", model, NULL);
    llmgw_sha256_hex(pm, strlen(pm), hex);
    hex[16] = '\0';
    return apr_pstrcat(p, "m-", hex, "-", what, NULL);
}

static json_t *count_or_null(apr_int64_t v)
{
    return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

static apr_int64_t nonneg(apr_int64_t v)
{
    return v > 0 ? v : 0;
}

json_t *llmgw_admin_plan_json(const llmgw_plan_t *plan)
{
    return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:i,s:f,s:o}",
                     "name", plan->name,
                     "requests_month", count_or_null(plan->requests_month),
                     "rpm", count_or_null(plan->rpm),
                     "rph", count_or_null(plan->rph),
                     "tpm", count_or_null(plan->tpm),
                     "budget_month_usd", plan->budget_micro_usd >= 0
                         ? json_real((double)plan->budget_micro_usd / 1e6)
                         : json_null(),
                     "overage", plan->overage_allow ? "allow" : "deny",
                     "quota_status", plan->quota_status ? plan->quota_status
                                                        : 402,
                     "cache_hit_weight",
                     (double)plan->cache_hit_milli / LLMGW_MILLI,
                     "tier", plan->tier ? json_string(plan->tier)
                                        : json_null());
}

json_t *llmgw_admin_entitlements_json(apr_pool_t *p, const char *workspace,
                                      const llmgw_plan_t *plan,
                                      apr_time_t now,
                                      const llmgw_admin_usage_t *u)
{
    llmgw_window_t w;
    json_t *remaining;
    (void)p;

    llmgw_window_at(LLMGW_WIN_MONTH, now, &w);
    remaining = json_object();
    if (plan->requests_month >= 0) {
        apr_int64_t used = (nonneg(u->month_milli) + LLMGW_MILLI - 1)
                           / LLMGW_MILLI;
        json_object_set_new(remaining, "requests", json_integer(
            (json_int_t)(plan->requests_month > used
                         ? plan->requests_month - used : 0)));
    }
    else {
        json_object_set_new(remaining, "requests", json_null());
    }
    if (plan->budget_micro_usd >= 0) {
        apr_int64_t left = plan->budget_micro_usd - nonneg(u->cost_micro);
        json_object_set_new(remaining, "budget_usd",
                            json_real((double)(left > 0 ? left : 0) / 1e6));
    }
    else {
        json_object_set_new(remaining, "budget_usd", json_null());
    }
    return json_pack("{s:s,s:s,s:o,s:{s:I,s:I},s:{s:I,s:I,s:I,s:f},s:o}",
                     "object", "entitlements", "workspace_id", workspace,
                     "plan", llmgw_admin_plan_json(plan),
                     "period", "start", (json_int_t)apr_time_sec(w.start),
                     "end", (json_int_t)apr_time_sec(w.reset),
                     "usage", "requests", (json_int_t)nonneg(u->requests),
                     "prompt_tokens", (json_int_t)nonneg(u->prompt_tokens),
                     "completion_tokens",
                     (json_int_t)nonneg(u->completion_tokens),
                     "cost_usd", (double)nonneg(u->cost_micro) / 1e6,
                     "remaining", remaining);
}

json_t *llmgw_admin_model_usage_json(const char *provider, const char *model,
                                     const llmgw_admin_usage_t *u)
{
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:f}", "provider", provider,
                     "model", model,
                     "requests", (json_int_t)nonneg(u->requests),
                     "prompt_tokens", (json_int_t)nonneg(u->prompt_tokens),
                     "completion_tokens",
                     (json_int_t)nonneg(u->completion_tokens),
                     "cost_usd", (double)nonneg(u->cost_micro) / 1e6);
}
