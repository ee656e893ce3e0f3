/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * fuzz.h — what the libFuzzer targets of t/fuzz share: APR set up once, a
 * pool per input (destroyed after it, so that the leak checker sees what an
 * input leaves behind), the input as a NUL-terminated copy, and emitters
 * that only count what they are given.
 */
#ifndef LLMGW_FUZZ_H
#define LLMGW_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

static apr_pool_t *fz_root;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    apr_initialize();
    apr_pool_create(&fz_root, NULL);
    return 0;
}

/* A per-input pool, child of the root. */
static APR_INLINE apr_pool_t *fz_pool(void)
{
    apr_pool_t *p;
    apr_pool_create(&p, fz_root);
    return p;
}

/* The input as a malloc'd NUL-terminated copy of exactly size + 1 bytes
 * (what the gateway's bucket brigades give the parsers), freed by caller. */
static APR_INLINE char *fz_copy(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) {
        abort();
    }
    if (size) {
        memcpy(s, data, size);
    }
    s[size] = '\0';
    return s;
}

/* Emitters that read every byte they are given (so an overread shows). */
static volatile unsigned fz_sink;

static APR_INLINE void fz_touch(const char *s, size_t len)
{
    size_t i;
    unsigned h = 0;
    for (i = 0; s && i < len; i++) {
        h = h * 31 + (unsigned char)s[i];
    }
    fz_sink += h;
}

static APR_INLINE int fz_emit(void *baton, const char *data, apr_size_t len)
{
    (void)baton;
    fz_touch(data, len);
    return 0;
}

static APR_INLINE int fz_event_emit(void *baton, const char *event, const char *data,
                         apr_size_t len)
{
    (void)baton;
    if (event) {
        fz_touch(event, strlen(event));
    }
    fz_touch(data, len);
    return 0;
}

/* Serialises and drops j (NULL allowed): every node of a returned tree is
 * visited. */
static APR_INLINE void fz_json_drop(json_t *j)
{
    if (j) {
        char *t = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (t) {
            fz_touch(t, strlen(t));
            free(t);
        }
        json_decref(j);
    }
}

#endif
