/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_envelope.h — the SPEC error envelope as JSON (pure).
 *   {"error":{"message","type","code","param","request_id","provider",
 *             "upstream_status","retryable","details"}}
 */
#ifndef LLMGW_ENVELOPE_H
#define LLMGW_ENVELOPE_H

#include <jansson.h>

typedef struct llmgw_error {
    int status;                 /* HTTP status the gateway answers with */
    const char *type;           /* invalid_request_error, rate_limit_error... */
    const char *code;           /* NULL -> null */
    const char *message;
    const char *param;          /* NULL -> null */
    const char *provider;       /* NULL -> null */
    int upstream_status;        /* 0 -> null */
    long retry_after;           /* seconds, -1 when none */
    json_t *details;            /* optional object; the envelope takes a reference */
} llmgw_error_t;

/* New reference to the whole envelope. request_id may be NULL. */
json_t *llmgw_envelope_json(const llmgw_error_t *e, const char *request_id);

/* The default `type` for an HTTP status (400 -> invalid_request_error...). */
const char *llmgw_error_type_for_status(int status);

/* Whether a client may retry an error of this status. */
int llmgw_error_retryable(int status);

#endif
