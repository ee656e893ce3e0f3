/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Circuit breakers on shared memory: every change is one atomic operation
 * or a compare-and-swap loop on one 64-bit word (llmgw_circuit.h). */
#include "llmgw_circuit.h"

#define ST_BITS 2
#define ST_MASK ((apr_uint64_t)3)
#define CNT_BITS 20
#define CNT_MASK (((apr_uint64_t)1 << CNT_BITS) - 1)

static apr_uint64_t load(const apr_uint64_t *w)
{
    return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static int cas(apr_uint64_t *w, apr_uint64_t old, apr_uint64_t val)
{
    return __atomic_compare_exchange_n(w, &old, val, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

llmgw_circuit_verdict_e llmgw_circuit_allow(llmgw_circuit_slot_t *s,
                                            const llmgw_circuit_conf_t *c,
                                            apr_uint64_t now_ms)
{
    apr_uint64_t w = load(&s->ctl), since;
    if ((w & ST_MASK) == LLMGW_CIRCUIT_CLOSED) {
        return LLMGW_CIRCUIT_ALLOW;
    }
    /* open since t, or half-open with a probe out since t: after a
     * cooldown, the one request that swaps the word is the probe */
    since = w >> ST_BITS;
    if (now_ms < since || now_ms - since < c->cooldown_ms) {
        return LLMGW_CIRCUIT_DENY;
    }
    return cas(&s->ctl, w, (now_ms << ST_BITS) | LLMGW_CIRCUIT_HALF_OPEN)
           ? LLMGW_CIRCUIT_PROBE : LLMGW_CIRCUIT_DENY;
}

void llmgw_circuit_success(llmgw_circuit_slot_t *s)
{
    /* no write while closed: the hot path leaves the cache line shared */
    if (load(&s->ctl) != LLMGW_CIRCUIT_CLOSED) {
        __atomic_store_n(&s->count, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&s->ctl, LLMGW_CIRCUIT_CLOSED, __ATOMIC_RELEASE);
    }
}

int llmgw_circuit_failure(llmgw_circuit_slot_t *s,
                          const llmgw_circuit_conf_t *c, apr_uint64_t now_ms)
{
    apr_uint64_t w = load(&s->ctl), n, start;
    apr_uint64_t old, val;

    if ((w & ST_MASK) == LLMGW_CIRCUIT_HALF_OPEN) {
        /* the probe failed: open for another cooldown */
        return cas(&s->ctl, w, (now_ms << ST_BITS) | LLMGW_CIRCUIT_OPEN);
    }
    if ((w & ST_MASK) == LLMGW_CIRCUIT_OPEN) {
        return 0;                   /* a request that started before */
    }
    do {
        old = load(&s->count);
        start = old >> CNT_BITS;
        n = old & CNT_MASK;
        if (!n || now_ms < start || now_ms - start >= c->window_ms) {
            start = now_ms;         /* a new window */
            n = 0;
        }
        if (n < CNT_MASK) {
            n++;
        }
        val = (start << CNT_BITS) | n;
    } while (!cas(&s->count, old, val));
    if (n < c->failures) {
        return 0;
    }
    if (!cas(&s->ctl, w, (now_ms << ST_BITS) | LLMGW_CIRCUIT_OPEN)) {
        return 0;                   /* another failure opened it */
    }
    __atomic_store_n(&s->count, 0, __ATOMIC_RELEASE);
    return 1;
}

llmgw_circuit_state_e llmgw_circuit_state_of(const llmgw_circuit_slot_t *s)
{
    return (llmgw_circuit_state_e)(load(&s->ctl) & ST_MASK);
}

const char *llmgw_circuit_state_name(llmgw_circuit_state_e st)
{
    switch (st) {
    case LLMGW_CIRCUIT_OPEN:
        return "open";
    case LLMGW_CIRCUIT_HALF_OPEN:
        return "half_open";
    default:
        return "closed";
    }
}
