/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Plans, windows, counter names, key digests and the admission arithmetic
 * of mod_llmgw_quota (pure: no httpd header). */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>

#include <apr_strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "llmgw_limits.h"
#include "llmgw_num.h"

/* ------------------------------------------------------------ plans */

static int parse_count(const char *v, apr_int64_t *out)
{
    char *end;
    apr_int64_t n, mul = 1;
    if (!*v || *v == '-' || *v == '+') {
        return -1;
    }
    errno = 0;
    n = (apr_int64_t)strtoll(v, &end, 10);
    if (errno || end == v) {
        return -1;
    }
    if (*end == 'k' || *end == 'K') {
        mul = 1000;
        end++;
    }
    else if (*end == 'm' || *end == 'M') {
        mul = 1000000;
        end++;
    }
    if (*end || n > APR_INT64_MAX / 1000000 / 1000) {
        return -1;
    }
    *out = n * mul;
    return 0;
}

const char *llmgw_plan_parse(apr_pool_t *p, const char *name, int argc,
                             char *const *argv, llmgw_plan_t *plan)
{
    int i;

    memset(plan, 0, sizeof(*plan));
    plan->name = apr_pstrdup(p, name);
    plan->requests_month = plan->rpm = plan->rph = plan->tpm = -1;
    plan->budget_micro_usd = -1;
    plan->cache_hit_milli = LLMGW_DEFAULT_CACHE_HIT_MILLI;
    plan->quota_status = 402;
    if (!name || !*name) {
        return "a plan needs a name";
    }
    for (i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        const char *k, *v;
        apr_int64_t *cnt = NULL;
        if (!eq || eq == argv[i]) {
            return apr_psprintf(p, "'%s' is not key=value", argv[i]);
        }
        k = apr_pstrmemdup(p, argv[i], (apr_size_t)(eq - argv[i]));
        v = eq + 1;
        if (!strcmp(k, "requests_month")) cnt = &plan->requests_month;
        else if (!strcmp(k, "rpm"))       cnt = &plan->rpm;
        else if (!strcmp(k, "rph"))       cnt = &plan->rph;
        else if (!strcmp(k, "tpm"))       cnt = &plan->tpm;
        if (cnt) {
            if (parse_count(v, cnt) || *cnt < 1) {
                return apr_psprintf(p, "%s: '%s' is not a positive count",
                                    k, v);
            }
        }
        else if (!strcmp(k, "budget_month_usd")) {
            char *end;
            double d = strtod(v, &end);
            if (end == v || *end || !(d >= 0) || d > 1e12) {
                return apr_psprintf(p, "budget_month_usd: '%s' is not an "
                                    "amount of USD", v);
            }
            plan->budget_micro_usd = (apr_int64_t)llround(d * 1e6);
        }
        else if (!strcmp(k, "overage")) {
            if (!strcmp(v, "deny")) plan->overage_allow = 0;
            else if (!strcmp(v, "allow")) plan->overage_allow = 1;
            else return apr_psprintf(p, "overage: '%s' is not deny or allow",
                                     v);
        }
        else if (!strcmp(k, "cache_hit_weight")) {
            char *end;
            double d = strtod(v, &end);
            if (end == v || *end || !(d >= 0) || d > 1) {
                return apr_psprintf(p, "cache_hit_weight: '%s' is not a "
                                    "number from 0 to 1", v);
            }
            plan->cache_hit_milli = (apr_int64_t)llround(d * LLMGW_MILLI);
        }
        else if (!strcmp(k, "quota_status")) {
            if (!strcmp(v, "402")) plan->quota_status = 402;
            else if (!strcmp(v, "429")) plan->quota_status = 429;
            else return apr_psprintf(p, "quota_status: '%s' is not 402 or "
                                     "429", v);
        }
        else if (!strcmp(k, "tier")) {
            if (!*v) {
                return "tier: a tier name is required";
            }
            plan->tier = apr_pstrdup(p, v);
        }
        else {
            return apr_psprintf(p, "unknown setting '%s' (requests_month, "
                                "rpm, rph, tpm, budget_month_usd, overage, "
                                "quota_status, cache_hit_weight, tier)", k);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ time */

/* Howard Hinnant's days_from_civil: days since 1970-01-01. */
static apr_int64_t days_from_civil(apr_int64_t y, unsigned m, unsigned d)
{
    apr_int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (apr_int64_t)doe - 719468;
}

static void civil_from_days(apr_int64_t z, apr_int64_t *y, unsigned *m,
                            unsigned *d)
{
    apr_int64_t era;
    unsigned doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (apr_int64_t)yoe + era * 400 + (*m <= 2);
}

apr_int64_t llmgw_days_from_civil(apr_int64_t y, unsigned m, unsigned d)
{
    return days_from_civil(y, m, d) * 86400;
}

static apr_int64_t floor_div(apr_int64_t a, apr_int64_t b)
{
    apr_int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

void llmgw_window_at(llmgw_window_e kind, apr_time_t now, llmgw_window_t *w)
{
    apr_int64_t secs = floor_div(now, APR_USEC_PER_SEC), start, end;
    apr_interval_time_t left;

    switch (kind) {
    case LLMGW_WIN_MINUTE:
        start = floor_div(secs, 60) * 60;
        end = start + 60;
        w->ttl = 60 + 60;
        break;
    case LLMGW_WIN_HOUR:
        start = floor_div(secs, 3600) * 3600;
        end = start + 3600;
        w->ttl = 3600 + 300;
        break;
    default: {
        apr_int64_t y;
        unsigned m, d;
        civil_from_days(floor_div(secs, 86400), &y, &m, &d);
        start = days_from_civil(y, m, 1) * 86400;
        end = m == 12 ? days_from_civil(y + 1, 1, 1) * 86400
                      : days_from_civil(y, m + 1, 1) * 86400;
        w->ttl = (apr_uint32_t)(end - start) + 86400;
        kind = LLMGW_WIN_MONTH;
        break;
    }
    }
    w->kind = kind;
    w->start = apr_time_from_sec(start);
    w->reset = apr_time_from_sec(end);
    left = w->reset - now;
    w->secs_to_reset = (long)((left + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC);
    if (w->secs_to_reset < 1) {
        w->secs_to_reset = 1;
    }
}

const char *llmgw_window_name(llmgw_window_e kind)
{
    switch (kind) {
    case LLMGW_WIN_MINUTE: return "minute";
    case LLMGW_WIN_HOUR:   return "hour";
    default:               return "month";
    }
}

const char *llmgw_iso8601(apr_pool_t *p, apr_time_t t)
{
    apr_int64_t secs = floor_div(t, APR_USEC_PER_SEC), days, rem, y;
    unsigned m, d;
    days = floor_div(secs, 86400);
    rem = secs - days * 86400;
    civil_from_days(days, &y, &m, &d);
    return apr_psprintf(p, "%04" APR_INT64_T_FMT "-%02u-%02uT%02d:%02d:%02dZ",
                        y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60),
                        (int)(rem % 60));
}

const char *llmgw_duration(apr_pool_t *p, long secs)
{
    if (secs < 0) {
        secs = 0;
    }
    if (secs >= 3600) {
        return apr_psprintf(p, "%ldh%ldm%lds", secs / 3600, secs / 60 % 60,
                            secs % 60);
    }
    if (secs >= 60) {
        return apr_psprintf(p, "%ldm%lds", secs / 60, secs % 60);
    }
    return apr_psprintf(p, "%lds", secs);
}

/* ------------------------------------------------------------ counters */

const char *llmgw_counter_key(apr_pool_t *p, const char *workspace,
                              const char *counter, const llmgw_window_t *w)
{
    return apr_psprintf(p, "llmgw:q:%s:%s:%" APR_INT64_T_FMT, workspace,
                        counter, (apr_int64_t)apr_time_sec(w->start));
}

int llmgw_workspace_ok(const char *ws)
{
    apr_size_t n = 0;
    if (!ws) {
        return 0;
    }
    for (; ws[n]; n++) {
        char c = ws[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
            return 0;
        }
    }
    return n >= 1 && n <= 64;
}

apr_int64_t llmgw_counter_value(const char *v)
{
    char *end;
    unsigned long long n;
    if (!v) {
        return 0;
    }
    while (*v == ' ') {
        v++;
    }
    if (*v < '0' || *v > '9') {
        return -1;
    }
    errno = 0;
    n = strtoull(v, &end, 10);
    while (*end == ' ' || *end == '\r' || *end == '\n') {
        end++;
    }
    if (errno || *end || n > (unsigned long long)APR_INT64_MAX) {
        return -1;
    }
    return (apr_int64_t)n;
}

/* ------------------------------------------------------------ keys */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int llmgw_key_digest(const char *arg, unsigned char out[LLMGW_DIGEST_LEN])
{
    int i;
    if (!arg || !*arg) {
        return -1;
    }
    if (!strncmp(arg, "sha256:", 7)) {
        const char *h = arg + 7;
        if (strlen(h) != 2 * LLMGW_DIGEST_LEN) {
            return -1;
        }
        for (i = 0; i < LLMGW_DIGEST_LEN; i++) {
            int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            out[i] = (unsigned char)(hi << 4 | lo);
        }
        return 0;
    }
    llmgw_sha256(arg, strlen(arg), out);
    return 0;
}

int llmgw_key_find(const unsigned char *digests, int n,
                   const unsigned char digest[LLMGW_DIGEST_LEN])
{
    int i, found = -1;
    for (i = 0; i < n; i++) {
        /* eq is all ones on a match, 0 otherwise: no branch on the secret */
        int eq = CRYPTO_memcmp(digests + (apr_size_t)i * LLMGW_DIGEST_LEN,
                               digest, LLMGW_DIGEST_LEN) == 0;
        int mask = -eq;
        found = (found & ~mask) | (i & mask);
    }
    return found;
}

/* ------------------------------------------------------------ decisions */

static void deny(apr_pool_t *p, llmgw_decision_t *d, llmgw_verdict_e v,
                 apr_int64_t limit, llmgw_window_e win, apr_time_t now)
{
    llmgw_window_t w;
    llmgw_window_at(win, now, &w);
    d->verdict = v;
    d->limit = limit;
    d->window = llmgw_window_name(win);
    d->retry_after = w.secs_to_reset;
    switch (v) {
    case LLMGW_DENY_BUDGET:
        d->status = 402;
        d->type = "insufficient_quota";
        d->code = "budget_exceeded";
        d->message = apr_psprintf(p, "the monthly budget of %s USD is spent; "
                                  "it renews at %s",
                                  llmgw_num_pstr(p, (double)limit / 1e6),
                                  llmgw_iso8601(p, w.reset));
        break;
    case LLMGW_DENY_QUOTA:
        d->status = 402;
        d->type = "insufficient_quota";
        d->code = "quota_exceeded";
        d->message = apr_psprintf(p, "the monthly quota of %" APR_INT64_T_FMT
                                  " requests is used up; it renews at %s",
                                  limit, llmgw_iso8601(p, w.reset));
        break;
    default:
        d->status = 429;
        d->type = "rate_limit_error";
        d->code = "rate_limit_exceeded";
        d->message = apr_psprintf(p, "rate limit of %" APR_INT64_T_FMT " %s "
                                  "per %s reached; retry in %ld s", limit,
                                  v == LLMGW_DENY_TPM ? "tokens" : "requests",
                                  d->window, d->retry_after);
        break;
    }
}

void llmgw_decide(apr_pool_t *p, const llmgw_plan_t *plan,
                  const llmgw_counters_t *c, apr_time_t now,
                  llmgw_decision_t *d)
{
    memset(d, 0, sizeof(*d));
    d->verdict = LLMGW_ADMIT;
    d->retry_after = -1;
    if (plan->budget_micro_usd >= 0 && c->cost_micro >= 0
        && c->cost_micro >= plan->budget_micro_usd) {
        deny(p, d, LLMGW_DENY_BUDGET, plan->budget_micro_usd, LLMGW_WIN_MONTH,
             now);
    }
    else if (plan->requests_month > 0 && !plan->overage_allow
             && c->month_milli >= 0
             && c->month_milli > plan->requests_month * LLMGW_MILLI) {
        deny(p, d, LLMGW_DENY_QUOTA, plan->requests_month, LLMGW_WIN_MONTH,
             now);
        if (plan->quota_status == 429) {
            /* TensorCortex: a spent month is a rate limit until it renews */
            d->status = 429;
            d->type = "rate_limit_error";
        }
    }
    else if (plan->tpm > 0 && c->minute_tokens >= 0
             && c->minute_tokens > plan->tpm) {
        deny(p, d, LLMGW_DENY_TPM, plan->tpm, LLMGW_WIN_MINUTE, now);
    }
    else if (plan->rpm > 0 && c->minute_requests > plan->rpm) {
        deny(p, d, LLMGW_DENY_RPM, plan->rpm, LLMGW_WIN_MINUTE, now);
    }
    else if (plan->rph > 0 && c->hour_requests > plan->rph) {
        deny(p, d, LLMGW_DENY_RPH, plan->rph, LLMGW_WIN_HOUR, now);
    }
}

json_t *llmgw_decision_details(const llmgw_decision_t *d)
{
    json_t *j = json_pack("{s:I,s:s,s:I}", "limit", (json_int_t)d->limit,
                          "window", d->window ? d->window : "minute",
                          "retry_after_secs", (json_int_t)d->retry_after);
    if (j && d->verdict == LLMGW_DENY_TPM) {
        json_object_set_new(j, "unit", json_string("tokens"));
    }
    else if (j && d->verdict == LLMGW_DENY_BUDGET) {
        json_object_set_new(j, "limit", json_real((double)d->limit / 1e6));
        json_object_set_new(j, "unit", json_string("usd"));
    }
    else if (j) {
        json_object_set_new(j, "unit", json_string("requests"));
    }
    return j;
}

apr_int64_t llmgw_token_reserve(apr_int64_t prompt_estimate,
                                apr_int64_t max_tokens)
{
    return (prompt_estimate > 0 ? prompt_estimate : 0)
           + (max_tokens >= 0 ? max_tokens : LLMGW_DEFAULT_RESERVE_TOKENS);
}

void llmgw_token_settle(apr_int64_t reserved, apr_int64_t actual,
                        int succeeded, apr_int64_t *credit,
                        apr_int64_t *extra)
{
    *credit = *extra = 0;
    if (actual < 0) {
        actual = succeeded ? reserved : 0;
    }
    if (actual <= reserved) {
        *credit = reserved - actual;
    }
    else {
        *extra = actual - reserved;
    }
}

apr_int64_t llmgw_month_credit(const llmgw_plan_t *plan, int cache_hit,
                               int status)
{
    if (cache_hit) {
        return LLMGW_MILLI - plan->cache_hit_milli;
    }
    if (status >= 500) {
        return LLMGW_MILLI;
    }
    return 0;
}

/* ------------------------------------------------------------ headers */

static void set_i64(apr_pool_t *p, apr_table_t *t, const char *name,
                    apr_int64_t v)
{
    apr_table_setn(t, name, apr_psprintf(p, "%" APR_INT64_T_FMT, v));
}

static apr_int64_t left(apr_int64_t limit, apr_int64_t used)
{
    return used >= limit ? 0 : limit - (used > 0 ? used : 0);
}

void llmgw_limit_headers(apr_pool_t *p, const llmgw_plan_t *plan,
                         const llmgw_counters_t *c, apr_time_t now,
                         apr_table_t *out)
{
    llmgw_window_t w;
    int have_min = plan->rpm > 0 && c->minute_requests >= 0;
    int have_hour = plan->rph > 0 && c->hour_requests >= 0;

    if (have_min || have_hour) {
        apr_int64_t lm = have_min ? left(plan->rpm, c->minute_requests) : 0;
        apr_int64_t lh = have_hour ? left(plan->rph, c->hour_requests) : 0;
        int use_hour = have_hour && (!have_min || lh < lm);
        llmgw_window_at(use_hour ? LLMGW_WIN_HOUR : LLMGW_WIN_MINUTE, now, &w);
        set_i64(p, out, "x-ratelimit-limit-requests",
                use_hour ? plan->rph : plan->rpm);
        set_i64(p, out, "x-ratelimit-remaining-requests", use_hour ? lh : lm);
        apr_table_setn(out, "x-ratelimit-reset-requests",
                       llmgw_duration(p, w.secs_to_reset));
    }
    if (plan->tpm > 0 && c->minute_tokens >= 0) {
        llmgw_window_at(LLMGW_WIN_MINUTE, now, &w);
        set_i64(p, out, "x-ratelimit-limit-tokens", plan->tpm);
        set_i64(p, out, "x-ratelimit-remaining-tokens",
                left(plan->tpm, c->minute_tokens));
        apr_table_setn(out, "x-ratelimit-reset-tokens",
                       llmgw_duration(p, w.secs_to_reset));
    }
    if (plan->requests_month > 0 && c->month_milli >= 0) {
        apr_int64_t lim = plan->requests_month * LLMGW_MILLI;
        llmgw_window_at(LLMGW_WIN_MONTH, now, &w);
        set_i64(p, out, "x-quota-limit", plan->requests_month);
        set_i64(p, out, "x-quota-remaining",
                left(lim, c->month_milli) / LLMGW_MILLI);
        apr_table_setn(out, "x-quota-reset", llmgw_iso8601(p, w.reset));
    }
}

/* A count of milli-requests as a JSON number: integer when whole. */
static json_t *milli_json(apr_int64_t milli)
{
    if (milli % LLMGW_MILLI == 0) {
        return json_integer((json_int_t)(milli / LLMGW_MILLI));
    }
    return json_real((double)milli / LLMGW_MILLI);
}

static void quota_fields(json_t *j, const llmgw_plan_t *plan,
                         apr_int64_t month_milli)
{
    if (month_milli < 0) {
        month_milli = 0;
    }
    json_object_set_new(j, "used", milli_json(month_milli));
    if (plan->requests_month > 0) {
        json_object_set_new(j, "quota",
                            json_integer((json_int_t)plan->requests_month));
        json_object_set_new(j, "remaining", milli_json(
            left(plan->requests_month * LLMGW_MILLI, month_milli)));
    }
    else {
        json_object_set_new(j, "quota", json_null());
        json_object_set_new(j, "remaining", json_null());
    }
}

json_t *llmgw_usage_json(apr_pool_t *p, const char *workspace,
                         const llmgw_plan_t *plan, apr_int64_t month_milli,
                         apr_int64_t requests, apr_int64_t total_tokens,
                         apr_int64_t cost_micro, apr_time_t now)
{
    llmgw_window_t w;
    json_t *j = json_object();

    llmgw_window_at(LLMGW_WIN_MONTH, now, &w);
    json_object_set_new(j, "consumer_id", json_string(workspace));
    json_object_set_new(j, "plan", json_string(plan->name));
    quota_fields(j, plan, month_milli);
    json_object_set_new(j, "requests",
                        json_integer((json_int_t)(requests > 0 ? requests : 0)));
    json_object_set_new(j, "total_tokens",
                        json_integer((json_int_t)(total_tokens > 0
                                                  ? total_tokens : 0)));
    json_object_set_new(j, "total_cost",
                        json_real((double)(cost_micro > 0 ? cost_micro : 0)
                                  / 1e6));
    if (plan->budget_micro_usd >= 0) {
        json_object_set_new(j, "budget_usd",
                            json_real((double)plan->budget_micro_usd / 1e6));
    }
    json_object_set_new(j, "period_start",
                        json_string(llmgw_iso8601(p, w.start)));
    json_object_set_new(j, "reset_at", json_string(llmgw_iso8601(p, w.reset)));
    return j;
}

json_t *llmgw_quota_check_json(const llmgw_plan_t *plan,
                               apr_int64_t month_milli,
                               apr_int64_t cost_micro)
{
    json_t *j = json_object();
    int has = 1;
    if (month_milli < 0) {
        month_milli = 0;
    }
    if (plan->requests_month > 0 && !plan->overage_allow
        && month_milli + plan->cache_hit_milli
           > plan->requests_month * LLMGW_MILLI) {
        has = 0;                     /* not even a cache hit would fit */
    }
    if (plan->budget_micro_usd >= 0 && cost_micro >= plan->budget_micro_usd) {
        has = 0;
    }
    json_object_set_new(j, "has_quota", json_boolean(has));
    quota_fields(j, plan, month_milli);
    return j;
}

/* ------------------------------------------------------------ admission */

void llmgw_admission_init(apr_pool_t *p, llmgw_admission_t *a,
                          const char *workspace, apr_time_t now)
{
    static const struct {
        const char *ctr;
        llmgw_window_e win;
    } map[LLMGW_CHG_N] = {
        { LLMGW_CTR_COST,   LLMGW_WIN_MONTH },
        { LLMGW_CTR_MONTH,  LLMGW_WIN_MONTH },
        { LLMGW_CTR_TOKENS, LLMGW_WIN_MINUTE },
        { LLMGW_CTR_MINUTE, LLMGW_WIN_MINUTE },
        { LLMGW_CTR_HOUR,   LLMGW_WIN_HOUR },
    };
    llmgw_counters_t init = LLMGW_COUNTERS_INIT;
    int i;

    memset(a, 0, sizeof(*a));
    a->c = init;
    for (i = 0; i < LLMGW_CHG_N; i++) {
        llmgw_window_t w;
        llmgw_window_at(map[i].win, now, &w);
        a->keys[i] = llmgw_counter_key(p, workspace, map[i].ctr, &w);
        a->ttls[i] = w.ttl;
    }
}

int llmgw_admission_settle(llmgw_store_t *st, llmgw_admission_t *a,
                           llmgw_charge_e i, apr_int64_t target)
{
    apr_int64_t held = a->charged[i] ? a->held[i] : 0;
    llmgw_store_status_e rv = LLMGW_STORE_OK;
    apr_uint64_t v;

    if (target < 0) {
        target = 0;
    }
    if (target > held) {
        rv = st->incr(st, a->keys[i], (apr_uint64_t)(target - held),
                      (apr_uint64_t)(target - held), a->ttls[i], &v);
    }
    else if (target < held) {
        rv = st->decr(st, a->keys[i], (apr_uint64_t)(held - target), &v);
        if (rv == LLMGW_STORE_NOTFOUND) {
            rv = LLMGW_STORE_OK;        /* the window expired meanwhile */
        }
    }
    if (rv != LLMGW_STORE_OK) {
        return -1;
    }
    a->held[i] = target;
    a->charged[i] = target > 0;
    return 0;
}

int llmgw_admission_rollback(llmgw_store_t *st, llmgw_admission_t *a)
{
    int i, bad = 0;
    for (i = LLMGW_CHG_N - 1; i >= 0; i--) {
        if (a->charged[i] && llmgw_admission_settle(st, a, i, 0)) {
            bad = -1;
        }
    }
    return bad;
}

/* Charges counter i by delta; *v is the value after it. */
static llmgw_store_status_e charge(apr_pool_t *p, llmgw_store_t *st,
                                   llmgw_admission_t *a,
                                   llmgw_charge_e i, apr_int64_t delta,
                                   apr_int64_t *v)
{
    apr_uint64_t r = 0;
    llmgw_store_status_e rv;

    if (delta <= 0) {                   /* nothing to hold: just read */
        char *val = NULL;
        apr_size_t len = 0;
        rv = st->get(st, p, a->keys[i], &val, &len);
        *v = rv == LLMGW_STORE_NOTFOUND ? 0
           : rv == LLMGW_STORE_OK ? llmgw_counter_value(val) : -1;
        return *v < 0 ? LLMGW_STORE_ERROR : LLMGW_STORE_OK;
    }
    rv = st->incr(st, a->keys[i], (apr_uint64_t)delta, (apr_uint64_t)delta,
                  a->ttls[i], &r);
    if (rv != LLMGW_STORE_OK || r > (apr_uint64_t)APR_INT64_MAX) {
        return LLMGW_STORE_ERROR;
    }
    a->held[i] = delta;
    a->charged[i] = 1;
    *v = (apr_int64_t)r;
    return LLMGW_STORE_OK;
}

static const char *const charge_names[LLMGW_CHG_N] = {
    "budget counter", "month counter", "token counter", "minute counter",
    "hour counter"
};

llmgw_store_status_e llmgw_admission_run(apr_pool_t *p, llmgw_store_t *st,
                                         const llmgw_plan_t *plan,
                                         llmgw_admission_t *a,
                                         apr_int64_t tokens,
                                         apr_int64_t cost_micro,
                                         apr_time_t now, llmgw_decision_t *d,
                                         const char **what)
{
    int i;
    apr_int64_t v;

    memset(d, 0, sizeof(*d));
    d->verdict = LLMGW_ADMIT;
    d->retry_after = -1;
    for (i = 0; i < LLMGW_CHG_N; i++) {
        apr_int64_t delta;
        switch (i) {
        case LLMGW_CHG_COST:
            if (plan->budget_micro_usd < 0) continue;
            delta = cost_micro > 0 ? cost_micro : 0;
            break;
        case LLMGW_CHG_MONTH:
            delta = LLMGW_MILLI;        /* counted on every plan (usage) */
            break;
        case LLMGW_CHG_TOKENS:
            if (plan->tpm <= 0) continue;
            delta = tokens > 0 ? tokens : 1;
            break;
        case LLMGW_CHG_MINUTE:
            if (plan->rpm <= 0) continue;
            delta = 1;
            break;
        default:
            if (plan->rph <= 0) continue;
            delta = 1;
            break;
        }
        if (charge(p, st, a, i, delta, &v) != LLMGW_STORE_OK) {
            if (what) {
                *what = charge_names[i];
            }
            return LLMGW_STORE_ERROR;
        }
        switch (i) {
        case LLMGW_CHG_COST:
            a->c.cost_micro = v - delta; /* spent and reserved before */
            break;
        case LLMGW_CHG_MONTH:
            a->c.month_milli = v;
            break;
        case LLMGW_CHG_TOKENS:
            a->c.minute_tokens = v;
            break;
        case LLMGW_CHG_MINUTE:
            a->c.minute_requests = v;
            break;
        default:
            a->c.hour_requests = v;
            break;
        }
        llmgw_decide(p, plan, &a->c, now, d);
        if (d->verdict == LLMGW_DENY_QUOTA
            && plan->cache_hit_milli < LLMGW_MILLI
            && v - LLMGW_MILLI + plan->cache_hit_milli
               <= plan->requests_month * LLMGW_MILLI) {
            /* a cache hit would still fit: hold only its weight */
            if (llmgw_admission_settle(st, a, LLMGW_CHG_MONTH,
                                       plan->cache_hit_milli)) {
                if (what) {
                    *what = charge_names[i];
                }
                return LLMGW_STORE_ERROR;
            }
            a->cache_only = 1;
            a->c.month_milli = v - LLMGW_MILLI + plan->cache_hit_milli;
            llmgw_decide(p, plan, &a->c, now, d);
        }
        if (d->verdict != LLMGW_ADMIT) {
            llmgw_admission_rollback(st, a);
            /* what the headers report: this request no longer counts
             * against the month and the tokens */
            if (i == LLMGW_CHG_TOKENS) {
                a->c.minute_tokens = v - delta;
            }
            else if (i > LLMGW_CHG_MONTH && a->c.month_milli >= 0) {
                a->c.month_milli -= a->cache_only ? plan->cache_hit_milli
                                                  : LLMGW_MILLI;
            }
            if (i > LLMGW_CHG_TOKENS && a->c.minute_tokens >= 0) {
                a->c.minute_tokens -= tokens > 0 ? tokens : 1;
            }
            a->cache_only = 0;
            return LLMGW_STORE_OK;
        }
    }
    return LLMGW_STORE_OK;
}
