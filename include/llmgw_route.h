/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_route.h — choosing the provider and upstream model (pure).
 * SPEC order: the `provider` field (the model then goes upstream verbatim),
 * else `provider/model` when the prefix names a provider (after aliases),
 * else the default provider. Routers (LLMGWRouter / LLMGWRoute) and
 * weighted aliases turn one model name into several candidate routes
 * (llmgw_route_expand); circuits (llmgw_circuit.h) skip some of them.
 */
#ifndef LLMGW_ROUTE_H
#define LLMGW_ROUTE_H

#include <apr_hash.h>
#include "llmgw_types.h"

/* One target of LLMGWModelAlias ALIAS T1 [weight=N] T2 [weight=N]... */
typedef struct llmgw_alias_target {
    const char *target;              /* "provider/model" */
    apr_uint32_t weight;             /* >= 1 (default 1) */
} llmgw_alias_target_t;

/* An alias: its targets in weight order (heaviest first, config order
 * among equals), the first try picked by weight per request. */
typedef struct llmgw_alias {
    apr_array_header_t *targets;     /* llmgw_alias_target_t */
    apr_uint64_t total;              /* sum of the weights */
} llmgw_alias_t;

/* Conditions of a rule (LLMGWRoute), all of which must hold. */
#define LLMGW_RULE_TOOLS   0x1u      /* the request offers tools */
#define LLMGW_RULE_IMAGES  0x2u      /* an image in the input */
#define LLMGW_RULE_STREAM  0x4u      /* stream: true */
#define LLMGW_RULE_JSON    0x8u      /* a JSON response_format */

typedef struct llmgw_rule_header {
    const char *name, *value;        /* header:NAME=VALUE */
} llmgw_rule_header_t;

typedef struct llmgw_rule {
    unsigned flags;                  /* LLMGW_RULE_* */
    apr_int64_t prompt_gt;           /* prompt_tokens>N, -1 unset */
    apr_int64_t prompt_lt;           /* prompt_tokens<N, -1 unset */
    const char *tier;                /* tier=T, NULL unset */
    apr_array_header_t *headers;     /* llmgw_rule_header_t, NULL none */
    apr_array_header_t *targets;     /* const char *, tried in order */
    const char *text;                /* canonical text (rules version) */
} llmgw_rule_t;

typedef struct llmgw_router {
    const char *name;
    apr_array_header_t *rules;       /* llmgw_rule_t *, checked in order */
    const char *version;             /* hash of the rules' texts */
    int declared;                    /* LLMGWRouter seen (else only rules) */
} llmgw_router_t;

/* What the rules look at, from the one parsed request. */
typedef struct llmgw_route_facts {
    int tools, images, stream, json;
    apr_int64_t prompt_tokens;
    const char *tier;                /* NULL: none */
    /* a request header's value (case-insensitive name), NULL if absent */
    const char *(*header)(void *baton, const char *name);
    void *baton;
} llmgw_route_facts_t;

typedef struct llmgw_route_table {
    apr_hash_t *providers;           /* name -> llmgw_provider_t* */
    apr_array_header_t *order;       /* llmgw_provider_t*, config order */
    apr_hash_t *aliases;             /* alias -> llmgw_alias_t* */
    apr_hash_t *routers;             /* name -> llmgw_router_t* */
} llmgw_route_table_t;

typedef struct llmgw_route {
    const llmgw_provider_t *provider;
    const char *model;               /* upstream model */
    /* The name the client wrote that expanded to this route (the request's
     * model or a `models` entry: a router, an alias, provider/model);
     * set by llmgw_route_expand. */
    const char *written;
} llmgw_route_t;

/* Which router and rule chose the candidates (llmgw_route_expand). */
typedef struct llmgw_route_choice {
    const llmgw_router_t *router;    /* NULL: no router involved */
    int rule;                        /* 1-based */
} llmgw_route_choice_t;

llmgw_route_table_t *llmgw_route_table_make(apr_pool_t *p);
/* Overlay: entries of add win, base's are kept. */
llmgw_route_table_t *llmgw_route_table_merge(apr_pool_t *p,
                                             const llmgw_route_table_t *base,
                                             const llmgw_route_table_t *add);

/* Returns 0 and fills out, or an HTTP status (400/404) with *err set.
 * An alias resolves to its heaviest target; a router's name is a 400
 * model_is_router (one route cannot stand for its rules: a key's models=
 * check then sees the name as written): llmgw_route_expand does both. */
int llmgw_route_resolve(apr_pool_t *p, const llmgw_route_table_t *t,
                        const char *model, const char *provider_field,
                        const char *default_provider,
                        llmgw_route_t *out, const char **err,
                        const char **err_code);

/* The candidate routes of one model name, pushed onto out (llmgw_route_t):
 * a router's first matching rule's targets in order (choice filled when
 * choice->router is still NULL), an alias's targets with the first picked
 * by weight from pick (any well-spread number: a hash of the request id)
 * and the others in weight order, else the one route of
 * llmgw_route_resolve. facts may be NULL when the name names no router.
 * 0, or an HTTP status with *err and *err_code. Allocates only from p. */
int llmgw_route_expand(apr_pool_t *p, const llmgw_route_table_t *t,
                       const char *model, const char *provider_field,
                       const char *default_provider,
                       const llmgw_route_facts_t *facts, apr_uint64_t pick,
                       apr_array_header_t *out, llmgw_route_choice_t *choice,
                       const char **err, const char **err_code);

/* A model name acceptable upstream: 1..256 printable ASCII, no controls. */
int llmgw_model_name_ok(const char *model);

/* ---- aliases and routers, as the directives build them ---------------- */

/* An alias of one target (weight 1). */
llmgw_alias_t *llmgw_alias_make(apr_pool_t *p);
/* Adds a target, keeping weight order. */
void llmgw_alias_add(llmgw_alias_t *a, const char *target,
                     apr_uint32_t weight);
/* The index of the target weight-picked by pick (0..total-1 after mod). */
int llmgw_alias_pick(const llmgw_alias_t *a, apr_uint64_t pick);

/* The router named name, made (undeclared) on first use. */
llmgw_router_t *llmgw_router_get(apr_pool_t *p, llmgw_route_table_t *t,
                                 const char *name);
/* Parses the arguments of LLMGWRoute after NAME: CONDITION... -> T[,T...].
 * NULL and *out, or the error text. */
const char *llmgw_rule_parse(apr_pool_t *p, int argc, char *const argv[],
                             llmgw_rule_t **out);
/* Appends a rule and updates the router's version. */
void llmgw_router_add(apr_pool_t *p, llmgw_router_t *rt, llmgw_rule_t *rule);
/* The index (0-based) of the first rule whose conditions hold, or -1.
 * Allocation-free. */
int llmgw_router_match(const llmgw_router_t *rt,
                       const llmgw_route_facts_t *f);

/* A spread 64-bit number of a string (FNV-1a then a finaliser): the
 * weighted pick of a request from its id. */
apr_uint64_t llmgw_route_pick_of(const char *s);

#endif
