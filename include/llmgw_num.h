/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_num.h — every number the gateway prints, in its shortest
 * round-trip form ("9.1", not "9.0999999999999996"): the shortest of
 * %.15g, %.16g and %.17g that strtod reads back as the same double
 * (exponents as jansson writes them: "5.6e-5", "1e+21").
 * Inline (like llmgw_buf.h) so that the three modules and the pure core
 * use this one implementation without linking to each other.
 *
 *   llmgw_num_format(buf, v)   into a LLMGW_NUM_MAX buffer (headers, text)
 *   llmgw_num_pstr(p, v)       the same, allocated from a pool
 *   llmgw_json_dumps(j, flags) json_dumps whose reals are printed with the
 *                              precision llmgw_num_precision() verified for
 *                              every real of the document (free() the text)
 */
#ifndef LLMGW_NUM_H
#define LLMGW_NUM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

#define LLMGW_NUM_MAX 32   /* "-1.2345678901234567e-308" and its NUL */

/* The fewest significant digits (15, 16 or 17) that print v so that it
 * reads back exactly; 17 always does for a finite double. */
static APR_INLINE int llmgw_num_precision(double v)
{
    char buf[LLMGW_NUM_MAX];
    int prec;

    if (!isfinite(v)) {
        return 17;
    }
    for (prec = 15; prec < 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            return prec;
        }
    }
    return 17;
}

/* v in its shortest round-trip form, valid JSON ("0", "9.1", "1e+21");
 * a non-finite value (never a price or a count) prints as "null". */
static APR_INLINE const char *llmgw_num_format(char buf[LLMGW_NUM_MAX],
                                               double v)
{
    if (!isfinite(v)) {
        memcpy(buf, "null", 5);
        return buf;
    }
    if (v == 0) {
        v = 0;                           /* no "-0" */
    }
    snprintf(buf, LLMGW_NUM_MAX, "%.*g", llmgw_num_precision(v), v);
    {
        /* "5.6e-05" -> "5.6e-5", as jansson prints exponents */
        char *e = strchr(buf, 'e');
        if (e && (e[1] == '-' || e[1] == '+') && e[2] == '0') {
            memmove(e + 2, e + 3, strlen(e + 3) + 1);
        }
    }
    return buf;
}

static APR_INLINE const char *llmgw_num_pstr(apr_pool_t *p, double v)
{
    char buf[LLMGW_NUM_MAX];
    return apr_pstrdup(p, llmgw_num_format(buf, v));
}

/* The largest llmgw_num_precision() over every real in j. */
static APR_INLINE int llmgw_json_precision(const json_t *j)
{
    int prec = 15, p;

    if (json_is_real(j)) {
        return llmgw_num_precision(json_real_value(j));
    }
    if (json_is_array(j)) {
        size_t i;
        for (i = 0; i < json_array_size(j) && prec < 17; i++) {
            if ((p = llmgw_json_precision(json_array_get(j, i))) > prec) {
                prec = p;
            }
        }
    }
    else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            if ((p = llmgw_json_precision(v)) > prec) {
                prec = p;
            }
            if (prec == 17) {
                break;
            }
        }
    }
    return prec;
}

/* json_dumps() with every real in its shortest round-trip form when the
 * document's reals all have one at the same precision (the usual case:
 * prices, costs, counts); a real that needs 17 digits keeps them. The
 * caller free()s the text, as with json_dumps. */
/* (llmgw_json_scan.c) json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(
 * precision)) of an object or array, byte for byte, in a fraction of its
 * instructions; NULL when it cannot (then json_dumps says). */
char *llmgw_json_dump_compact(const json_t *j, int precision);

static APR_INLINE char *llmgw_json_dumps(const json_t *j, size_t flags)
{
    int prec = llmgw_json_precision(j);
    char *txt;
    if (flags == JSON_COMPACT
        && (txt = llmgw_json_dump_compact(j, prec)) != NULL) {
        return txt;
    }
    return json_dumps(j, flags | JSON_REAL_PRECISION(prec));
}

#endif
