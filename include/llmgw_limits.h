/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_limits.h — the pure core of mod_llmgw_quota: plans, windows,
 * counter names, key digests, the admission decision and the header values.
 * No httpd header (APR, jansson and OpenSSL only): unit-tested directly.
 *
 * Counters (all in the shared store, changed only with atomic incr):
 *   llmgw:q:<workspace>:<counter>:<window-start>
 * where <window-start> is the window's start in Unix seconds (UTC) and
 * <counter> one of the LLMGW_CTR_* names below. The monthly request counter
 * counts milli-requests (a cache hit weighs cache_hit_weight of a request);
 * the month and the tokens-per-minute counters are pairs charged/credited
 * (effective = charged - credited) because the store has no decrement.
 */
#ifndef LLMGW_LIMITS_H
#define LLMGW_LIMITS_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <jansson.h>
#include "llmgw_digest.h"

#define LLMGW_MILLI 1000                 /* milli-requests per request */
#define LLMGW_DEFAULT_RESERVE_TOKENS 1024
#define LLMGW_DEFAULT_CACHE_HIT_MILLI 100 /* cache_hit_weight=0.1 */

/** A plan (LLMGWPlan). -1: no limit. */
typedef struct llmgw_plan {
    const char *name;
    apr_int64_t requests_month;
    apr_int64_t rpm;
    apr_int64_t rph;
    apr_int64_t tpm;
    apr_int64_t budget_micro_usd;        /* budget_month_usd in 1e-6 USD */
    int overage_allow;                   /* overage=allow */
    apr_int64_t cache_hit_milli;         /* cache_hit_weight * 1000 */
} llmgw_plan_t;

/* Parses "key=value" words of LLMGWPlan into *plan (name set by caller's
 * argument). Counts take an optional k/m suffix (25k = 25000). Returns NULL
 * or an error message allocated from p. */
const char *llmgw_plan_parse(apr_pool_t *p, const char *name, int argc,
                             char *const *argv, llmgw_plan_t *plan);

/* ------------------------------------------------------------ windows */

typedef enum {
    LLMGW_WIN_MINUTE = 0,
    LLMGW_WIN_HOUR,
    LLMGW_WIN_MONTH
} llmgw_window_e;

typedef struct llmgw_window {
    llmgw_window_e kind;
    apr_time_t start;                    /* inclusive, UTC */
    apr_time_t reset;                    /* exclusive end = next start */
    long secs_to_reset;                  /* ceil(reset - now), >= 1 */
    apr_uint32_t ttl;                    /* counter TTL: length + margin */
} llmgw_window_t;

/* The window of `kind` that holds `now` (calendar month in UTC). */
void llmgw_window_at(llmgw_window_e kind, apr_time_t now, llmgw_window_t *w);

/* "minute", "hour", "month" */
const char *llmgw_window_name(llmgw_window_e kind);

/* Unix seconds of 00:00:00 UTC on the given civil date (month 1..12). */
apr_int64_t llmgw_days_from_civil(apr_int64_t y, unsigned m, unsigned d);
/* "2025-02-01T00:00:00Z" */
const char *llmgw_iso8601(apr_pool_t *p, apr_time_t t);
/* OpenAI style duration of x-ratelimit-reset-*: "12s", "6m0s", "1h0m0s" */
const char *llmgw_duration(apr_pool_t *p, long secs);

/* ------------------------------------------------------------ counters */

#define LLMGW_CTR_MINUTE        "minute"        /* requests, rpm */
#define LLMGW_CTR_HOUR          "hour"          /* requests, rph */
#define LLMGW_CTR_TOKENS        "tokens-minute" /* tpm charged (reserved) */
#define LLMGW_CTR_TOKENS_CREDIT "tokens-minute-credit"
#define LLMGW_CTR_MONTH         "month"         /* milli-requests charged */
#define LLMGW_CTR_MONTH_CREDIT  "month-credit"  /* milli-requests credited */
#define LLMGW_CTR_REQUESTS      "requests-month"/* requests answered */
#define LLMGW_CTR_TOTAL_TOKENS  "tokens-month"  /* total tokens used */
#define LLMGW_CTR_COST          "cost-month"    /* micro-USD spent */

/* "llmgw:q:<workspace>:<counter>:<window start in Unix seconds>" */
const char *llmgw_counter_key(apr_pool_t *p, const char *workspace,
                              const char *counter, const llmgw_window_t *w);

/* Whether a workspace name is usable in counter keys ([A-Za-z0-9._-]{1,64}). */
int llmgw_workspace_ok(const char *ws);

/* ------------------------------------------------------------ keys */

/* The digest of an LLMGWKey argument: "sha256:HEX" (64 hex digits, either
 * case) or a plain key. Returns 0, or -1 when a sha256: form is malformed
 * or the key is empty. */
int llmgw_key_digest(const char *arg, unsigned char out[LLMGW_DIGEST_LEN]);

/* Index of `digest` among n digests (n * 32 bytes), -1 when absent. Every
 * entry is compared with CRYPTO_memcmp and the loop never exits early, so
 * the time does not depend on where or whether the key matched. */
int llmgw_key_find(const unsigned char *digests, int n,
                   const unsigned char digest[LLMGW_DIGEST_LEN]);

/* ------------------------------------------------------------ decisions */

/* Counter values as seen at admission; -1: not counted (no such limit, or
 * not evaluated yet). */
typedef struct llmgw_counters {
    apr_int64_t minute_requests;         /* incl. this request */
    apr_int64_t hour_requests;           /* incl. this request */
    apr_int64_t minute_tokens;           /* effective, incl. this reservation */
    apr_int64_t month_milli;             /* effective, incl. this request */
    apr_int64_t cost_micro;              /* spent before this request */
} llmgw_counters_t;

#define LLMGW_COUNTERS_INIT { -1, -1, -1, -1, -1 }

typedef enum {
    LLMGW_ADMIT = 0,
    LLMGW_DENY_BUDGET,                   /* 402 budget_exceeded */
    LLMGW_DENY_QUOTA,                    /* 402 quota_exceeded */
    LLMGW_DENY_TPM,                      /* 429, window minute (tokens) */
    LLMGW_DENY_RPM,                      /* 429, window minute */
    LLMGW_DENY_RPH                       /* 429, window hour */
} llmgw_verdict_e;

typedef struct llmgw_decision {
    llmgw_verdict_e verdict;
    int status;                          /* 0 (admit), 402 or 429 */
    const char *type;                    /* rate_limit_error... */
    const char *code;                    /* rate_limit_exceeded... */
    const char *window;                  /* "minute", "hour", "month" */
    apr_int64_t limit;                   /* in requests, tokens or micro-USD */
    long retry_after;                    /* seconds to the window's reset; -1 */
    const char *message;
} llmgw_decision_t;

/* The decision over the counters known so far (checked in the order budget,
 * month quota, tpm, rpm, rph; a -1 counter is skipped). A counter over its
 * limit refuses: increment-then-check admits exactly the limit. */
void llmgw_decide(apr_pool_t *p, const llmgw_plan_t *plan,
                  const llmgw_counters_t *c, apr_time_t now,
                  llmgw_decision_t *d);

/* details object of a refusal: {limit, window, retry_after_secs} (new ref). */
json_t *llmgw_decision_details(const llmgw_decision_t *d);

/* Tokens reserved at admission: prompt estimate plus max_tokens (1024 when
 * the client set none). */
apr_int64_t llmgw_token_reserve(apr_int64_t prompt_estimate,
                                apr_int64_t max_tokens);

/* Settlement of a reservation with the actual usage (-1 unknown, then the
 * reservation stands when the request succeeded, else nothing is used):
 * *credit to add to the credit counter, *extra to add to the charged one. */
void llmgw_token_settle(apr_int64_t reserved, apr_int64_t actual,
                        int succeeded, apr_int64_t *credit,
                        apr_int64_t *extra);

/* Milli-requests to credit back for a request of the month: a cache hit
 * keeps only cache_hit_weight; a request the gateway failed (5xx) nothing. */
apr_int64_t llmgw_month_credit(const llmgw_plan_t *plan, int cache_hit,
                               int status);

/* The rate-limit and quota headers (x-ratelimit-*-requests for the
 * tightest request window, x-ratelimit-*-tokens with tpm, x-quota-* with
 * requests_month) into `out`. */
void llmgw_limit_headers(apr_pool_t *p, const llmgw_plan_t *plan,
                         const llmgw_counters_t *c, apr_time_t now,
                         apr_table_t *out);

/* /api/usage and /api/quota-check bodies (new references). month_milli is
 * the effective monthly count; cost in micro-USD. */
json_t *llmgw_usage_json(apr_pool_t *p, const char *workspace,
                         const llmgw_plan_t *plan, apr_int64_t month_milli,
                         apr_int64_t requests, apr_int64_t total_tokens,
                         apr_int64_t cost_micro, apr_time_t now);
json_t *llmgw_quota_check_json(const llmgw_plan_t *plan,
                               apr_int64_t month_milli,
                               apr_int64_t cost_micro);

/* Parses a counter's decimal text; 0 for NULL; -1 when not a number. */
apr_int64_t llmgw_counter_value(const char *v);

#endif
