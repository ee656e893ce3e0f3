/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_limits.h — the pure core of mod_llmgw_quota: plans, windows,
 * counter names, key digests, the admission decision and the header values.
 * No httpd header (APR, jansson and OpenSSL only): unit-tested directly.
 *
 * Counters (all in the shared store, changed only with the atomic incr and
 * decr of the store, never read-modify-write):
 *   llmgw:q:<workspace>:<counter>:<window-start>
 * where <window-start> is the window's start in Unix seconds (UTC) and
 * <counter> one of the LLMGW_CTR_* names below. The monthly request counter
 * counts milli-requests (a cache hit weighs cache_hit_weight of a request).
 *
 * Admission (llmgw_admission_run) charges each window in turn with one
 * atomic increment and checks the value it returns: the k-th request a
 * window admits sees at least k, so no window admits more than its limit.
 * A request refused by any window gives back everything it charged with
 * atomic decrements, so a refusal counts in no window; and since a charge
 * held by a request that is refused later is only ever held by a request
 * that a later window refuses, N concurrent requests against a limit L
 * admit exactly min(N, L). After the response each charge is settled to
 * what the request really used (tokens, cost, a cache hit's weight).
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
    int quota_status;                    /* 402 (default) or 429 */
    const char *tier;                    /* tier=T, NULL when unset */
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
#define LLMGW_CTR_TOKENS        "tokens-minute" /* tpm: used + reserved */
#define LLMGW_CTR_TOKENS_CREDIT "tokens-minute-credit" /* (no longer used) */
#define LLMGW_CTR_MONTH         "month"         /* milli-requests */
#define LLMGW_CTR_MONTH_CREDIT  "month-credit"  /* (no longer used) */
#define LLMGW_CTR_REQUESTS      "requests-month"/* requests answered */
#define LLMGW_CTR_TOTAL_TOKENS  "tokens-month"  /* total tokens used */
#define LLMGW_CTR_COST          "cost-month"    /* micro-USD spent + reserved */

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

/* ------------------------------------------------------------ admission */

#include "llmgw_store.h"

/* The counters one request charges, in the order they are charged. */
typedef enum {
    LLMGW_CHG_COST = 0,                  /* micro-USD reserved (budget) */
    LLMGW_CHG_MONTH,                     /* milli-requests */
    LLMGW_CHG_TOKENS,                    /* tokens reserved (tpm) */
    LLMGW_CHG_MINUTE,                    /* 1 (rpm) */
    LLMGW_CHG_HOUR,                      /* 1 (rph) */
    LLMGW_CHG_N
} llmgw_charge_e;

typedef struct llmgw_admission {
    const char *keys[LLMGW_CHG_N];       /* counter keys */
    apr_uint32_t ttls[LLMGW_CHG_N];
    apr_int64_t held[LLMGW_CHG_N];       /* what this request holds on each */
    int charged[LLMGW_CHG_N];            /* a counter holds held[i] */
    int cache_only;                      /* admitted for a cache hit only */
    llmgw_counters_t c;                  /* values seen (for the headers) */
} llmgw_admission_t;

/* Counter keys and TTLs of a workspace's windows at `now`. */
void llmgw_admission_init(apr_pool_t *p, llmgw_admission_t *a,
                          const char *workspace, apr_time_t now);

/* Charges the plan's windows in turn (budget, month, tpm, rpm, rph) and
 * decides. tokens: the tpm reservation; cost_micro: the cost reserved
 * against the budget (0 when unknown). A refusal gives back what it had
 * charged. When the full request does not fit the month but a cache hit's
 * weight does, the request is admitted holding only that weight with
 * a->cache_only set: the caller must refuse it (llmgw_admission_rollback)
 * unless the cache answers it. Returns LLMGW_STORE_OK with *d set, or
 * LLMGW_STORE_ERROR when the store failed (*what names the counter; what
 * was charged stays held, for the caller to settle or roll back). */
llmgw_store_status_e llmgw_admission_run(apr_pool_t *p, llmgw_store_t *st,
                                         const llmgw_plan_t *plan,
                                         llmgw_admission_t *a,
                                         apr_int64_t tokens,
                                         apr_int64_t cost_micro,
                                         apr_time_t now, llmgw_decision_t *d,
                                         const char **what);

/* Moves the charge of counter i to `target` with one atomic incr or decr.
 * Returns 0, or -1 when the store failed. */
int llmgw_admission_settle(llmgw_store_t *st, llmgw_admission_t *a,
                           llmgw_charge_e i, apr_int64_t target);

/* Gives back every charge (settles each to 0). Returns 0 or -1. */
int llmgw_admission_rollback(llmgw_store_t *st, llmgw_admission_t *a);

/* Parses a counter's decimal text; 0 for NULL; -1 when not a number. */
apr_int64_t llmgw_counter_value(const char *v);

#endif
