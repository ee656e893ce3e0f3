/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_api_obj.h — the client API adapters' request writers (to_chat_text
 * of Messages and Responses) read an object of a validated text as jansson
 * would: a member given twice counts once, at its first place, with its
 * last value (pure: APR only).
 */
#ifndef LLMGW_API_OBJ_H
#define LLMGW_API_OBJ_H

#include <string.h>
#include <apr_pools.h>
#include "llmgw_json_scan.h"

typedef struct {
    const char *k;              /* the key, unescaped */
    apr_size_t kl;
    llmgw_jspan_t v;
} llmgw_jmem_t;

#define LLMGW_JOBJ_SMALL 12
typedef struct {
    apr_pool_t *p;
    llmgw_jmem_t *m;
    int n, cap;
    llmgw_jmem_t small[LLMGW_JOBJ_SMALL];
} llmgw_jobj_t;

/* An empty object reader. */
static APR_INLINE void llmgw_jobj_init(llmgw_jobj_t *o, apr_pool_t *p)
{
    o->p = p;
    o->m = o->small;
    o->n = 0;
    o->cap = LLMGW_JOBJ_SMALL;
}

/* An llmgw_json_member_fn whose baton is an llmgw_jobj_t. */
int llmgw_jobj_member(void *baton, const char *k, apr_size_t kl, int esc,
                      const llmgw_jspan_t *v);
/* The members of v (none when v is NULL or not an object). */
void llmgw_jobj_read(llmgw_jobj_t *o, apr_pool_t *p, const llmgw_jspan_t *v);
/* The value of member key, or NULL (inline: the writers ask often). */
static APR_INLINE const llmgw_jspan_t *llmgw_jobj_get(const llmgw_jobj_t *o,
                                                      const char *key)
{
    apr_size_t kl = strlen(key);
    int i;
    for (i = 0; i < o->n; i++) {
        if (o->m[i].kl == kl && !memcmp(o->m[i].k, key, kl)) {
            return &o->m[i].v;
        }
    }
    return NULL;
}

/* base, member and "[i]": the path of an element an error names
 * ("messages[2].content[0]"), written without the formatter: the writers
 * make one for every message and block, and apr_vformatter's frame is
 * the deepest of a translated request. */
const char *llmgw_param_at(apr_pool_t *p, const char *base,
                           const char *member, unsigned i);

#endif
