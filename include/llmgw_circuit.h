/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_circuit.h — a provider's circuit breaker (pure).
 *
 * A slot lives in memory every child shares (mod_llmgw puts one per
 * LLMGWCircuit in a shared-memory segment made before fork) and is changed
 * with atomic operations only: no lock, never held across network I/O.
 * Closed: every request goes through; `failures` retryable failures within
 * `window` open it. Open: nothing goes through until `cooldown` has passed;
 * then exactly one request (the probe, taken with a compare-and-swap) goes
 * through: half-open. The probe's success closes the circuit, its failure
 * opens it again for another cooldown; a probe that never reports is
 * replaced after a cooldown. Times are milliseconds given by the caller.
 */
#ifndef LLMGW_CIRCUIT_H
#define LLMGW_CIRCUIT_H

#include <apr.h>

typedef enum {
    LLMGW_CIRCUIT_CLOSED = 0,
    LLMGW_CIRCUIT_OPEN = 1,
    LLMGW_CIRCUIT_HALF_OPEN = 2
} llmgw_circuit_state_e;

/* LLMGWCircuit PROVIDER [failures=N] [window=S] [cooldown=S] */
typedef struct llmgw_circuit_conf {
    apr_uint32_t failures;           /* default 5 */
    apr_uint64_t window_ms;          /* default 30 s */
    apr_uint64_t cooldown_ms;        /* default 30 s */
} llmgw_circuit_conf_t;

#define LLMGW_CIRCUIT_DEFAULT_FAILURES 5
#define LLMGW_CIRCUIT_DEFAULT_WINDOW_MS 30000
#define LLMGW_CIRCUIT_DEFAULT_COOLDOWN_MS 30000

/* Shared state of one circuit; all zero is closed. */
typedef struct llmgw_circuit_slot {
    /* state in the low 2 bits, the time (ms) it was entered above them */
    apr_uint64_t ctl;
    /* failures counted in the low 20 bits, the window's start (ms) above */
    apr_uint64_t count;
} llmgw_circuit_slot_t;

typedef enum {
    LLMGW_CIRCUIT_DENY = 0,          /* open: skip this provider */
    LLMGW_CIRCUIT_ALLOW,             /* closed */
    LLMGW_CIRCUIT_PROBE              /* this request is the one probe */
} llmgw_circuit_verdict_e;

/* Whether a request may go to the provider now. */
llmgw_circuit_verdict_e llmgw_circuit_allow(llmgw_circuit_slot_t *s,
                                            const llmgw_circuit_conf_t *c,
                                            apr_uint64_t now_ms);
/* An answer came back (not a retryable failure): closes the circuit. */
void llmgw_circuit_success(llmgw_circuit_slot_t *s);
/* A retryable failure; returns 1 when it opened the circuit. */
int llmgw_circuit_failure(llmgw_circuit_slot_t *s,
                          const llmgw_circuit_conf_t *c, apr_uint64_t now_ms);
/* The state as seen now (no change). */
llmgw_circuit_state_e llmgw_circuit_state_of(const llmgw_circuit_slot_t *s);
/* "closed", "open" or "half_open" */
const char *llmgw_circuit_state_name(llmgw_circuit_state_e st);

#endif
