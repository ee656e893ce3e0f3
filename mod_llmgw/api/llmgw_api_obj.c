/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Reading an object of a validated text as jansson would
 * (llmgw_api_obj.h). */
#include <string.h>
#include <apr_strings.h>
#include "llmgw_api_obj.h"

int llmgw_jobj_member(void *baton, const char *k, apr_size_t kl, int esc,
                      const llmgw_jspan_t *v)
{
    llmgw_jobj_t *o = baton;
    int i;

    if (esc) {
        llmgw_jspan_t ks;
        ks.p = k - 1;
        ks.len = kl + 2;
        ks.type = LLMGW_JV_STRING;
        ks.escaped = 1;
        k = llmgw_json_string_value(o->p, &ks, &kl);
    }
    for (i = 0; i < o->n; i++) {
        if (o->m[i].kl == kl && !memcmp(o->m[i].k, k, kl)) {
            o->m[i].v = *v;
            return 0;
        }
    }
    if (o->n == o->cap) {
        llmgw_jmem_t *nm = apr_palloc(o->p, sizeof(*nm)
                                            * (apr_size_t)o->cap * 2);
        memcpy(nm, o->m, sizeof(*nm) * (apr_size_t)o->n);
        o->m = nm;
        o->cap *= 2;
    }
    o->m[o->n].k = k;
    o->m[o->n].kl = kl;
    o->m[o->n].v = *v;
    o->n++;
    return 0;
}

void llmgw_jobj_read(llmgw_jobj_t *o, apr_pool_t *p, const llmgw_jspan_t *v)
{
    llmgw_jobj_init(o, p);
    if (v != NULL && v->type == LLMGW_JV_OBJECT) {
        llmgw_json_each(v, llmgw_jobj_member, o);
    }
}

const char *llmgw_param_at(apr_pool_t *p, const char *base,
                           const char *member, unsigned i)
{
    return apr_pstrcat(p, base, member, "[", apr_ltoa(p, (long)i), "]", NULL);
}
