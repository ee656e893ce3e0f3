/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The JSON scanner (llmgw_json_scan.h): validation, spans, iteration of
 * every container, the canonical form (valid and stable when taken
 * again), and the cache's canonical body. */
#include "fuzz.h"
#include "llmgw_json_scan.h"
#include "llmgw_cache_key.h"

static int walk(void *baton, const char *key, apr_size_t klen,
                int key_escaped, const llmgw_jspan_t *v);

static void walk_value(const llmgw_jspan_t *v, int depth)
{
    fz_touch(v->p, v->len);
    if ((v->type == LLMGW_JV_OBJECT || v->type == LLMGW_JV_ARRAY)
        && depth < LLMGW_JSON_MAX_DEPTH) {
        llmgw_json_each(v, walk, &depth);
    }
}

static int walk(void *baton, const char *key, apr_size_t klen,
                int key_escaped, const llmgw_jspan_t *v)
{
    int depth = *(int *)baton + 1;
    (void)key_escaped;
    if (key) {
        fz_touch(key, klen);
    }
    walk_value(v, depth);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const drop[] = { "stream", "user", NULL };
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    apr_size_t off = 0;

    if (llmgw_json_valid(s, size)) {
        llmgw_jspan_t sp;
        char *c1, *c2;
        apr_size_t l1 = 0, l2 = 0;
        while (off < size && strchr(" \t\r\n", s[off])) {
            off++;
        }
        if (!llmgw_json_span(s + off, size - off, &sp)) {
            abort();            /* valid text must have a span */
        }
        walk_value(&sp, 0);
        c1 = llmgw_json_canonical(p, s, size, NULL, &l1);
        if (!c1 || !llmgw_json_valid(c1, l1)) {
            abort();            /* the canonical form of valid JSON is JSON */
        }
        c2 = llmgw_json_canonical(p, c1, l1, NULL, &l2);
        if (!c2 || l1 != l2 || memcmp(c1, c2, l1)) {
            abort();            /* and canonical again is the same text */
        }
        c1 = llmgw_json_canonical(p, s, size, drop, &l1);
        if (c1) {
            fz_touch(c1, l1);
        }
    }
    else {
        /* for text not validated, span alone must stay within bounds */
        llmgw_jspan_t sp;
        if (size && llmgw_json_span(s, size, &sp)) {
            if (sp.len > size) {
                abort();
            }
        }
    }
    {
        const char *cb = llmgw_cache_canonical_body(p, s, size);
        if (cb) {
            fz_touch(cb, strlen(cb));
        }
    }
    free(s);
    apr_pool_destroy(p);
    return 0;
}
