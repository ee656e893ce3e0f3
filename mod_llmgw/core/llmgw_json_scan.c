/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <apr_tables.h>
#include <apr_strings.h>
#include "llmgw_json_scan.h"
#include "llmgw_num.h"

typedef struct {
    const char *p, *end;
} cur_t;

static void ws(cur_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n'
                             || *c->p == '\r')) {
        c->p++;
    }
}

#define ONES ((apr_uint64_t)0x0101010101010101ULL)

/* High bit set in every byte of x equal to b (plus false positives only
 * next to a true one, which merely stop the fast loop). */
static apr_uint64_t has_byte(apr_uint64_t x, unsigned char b)
{
    apr_uint64_t y = x ^ (ONES * b);
    return (y - ONES) & ~y;
}

static int hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')
           || (ch >= 'A' && ch <= 'F');
}

/* A string at c->p (on the opening quote); UTF-8 checked as jansson does:
 * no overlongs, no surrogates, nothing above U+10FFFF, no raw controls. */
static int scan_string(cur_t *c, int *escaped)
{
    const unsigned char *p = (const unsigned char *)c->p + 1;
    const unsigned char *end = (const unsigned char *)c->end;

    *escaped = 0;
    while (p < end) {
        unsigned char ch;
        /* 8 plain bytes at a time: none below 0x20, none above 0x7f, no
         * quote, no backslash. Most of a request is such text. */
        while (end - p >= 8) {
            apr_uint64_t x, hit;
            memcpy(&x, p, 8);
            hit = ((x - ONES * 0x20) | x | has_byte(x, '"')
                   | has_byte(x, '\\')) & (ONES * 0x80);
            if (hit) {
#if !APR_IS_BIGENDIAN && defined(__GNUC__)
                /* to the first byte that stops it (the lowest hit is a
                 * true one: borrows and false positives only go up), so
                 * the bytes before it are not tested again one by one */
                p += __builtin_ctzll(hit) >> 3;
#endif
                break;
            }
            p += 8;
        }
        if (p >= end) {
            break;
        }
        ch = *p;
        if (ch == '"') {
            c->p = (const char *)p + 1;
            return 1;
        }
        if (ch < 0x20) {
            return 0;
        }
        if (ch == '\\') {
            *escaped = 1;
            if (++p >= end) {
                return 0;
            }
            switch (*p) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n':
            case 'r': case 't':
                p++;
                break;
            case 'u': {
                unsigned v;
                int i;
                if (end - p < 5) {
                    return 0;
                }
                for (i = 1, v = 0; i <= 4; i++) {
                    if (!hex((char)p[i])) {
                        return 0;
                    }
                    v = v * 16 + (unsigned)(p[i] <= '9' ? p[i] - '0'
                                           : (p[i] | 0x20) - 'a' + 10);
                }
                /* \u0000 is valid JSON: accepted and relayed (jansson
                 * reads it with JSON_ALLOW_NUL) */
                p += 5;
                if (v >= 0xD800 && v <= 0xDBFF) {  /* needs a low surrogate */
                    unsigned lo;
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u') {
                        return 0;
                    }
                    for (i = 2, lo = 0; i <= 5; i++) {
                        if (!hex((char)p[i])) {
                            return 0;
                        }
                        lo = lo * 16 + (unsigned)(p[i] <= '9' ? p[i] - '0'
                                                 : (p[i] | 0x20) - 'a' + 10);
                    }
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        return 0;
                    }
                    p += 6;
                }
                else if (v >= 0xDC00 && v <= 0xDFFF) {
                    return 0;
                }
                break;
            }
            default:
                return 0;
            }
            continue;
        }
        if (ch < 0x80) {
            p++;
            continue;
        }
        /* multi-byte UTF-8 */
        {
            int n;
            unsigned v;
            if (ch >= 0xC2 && ch <= 0xDF) { n = 1; v = ch & 0x1F; }
            else if (ch >= 0xE0 && ch <= 0xEF) { n = 2; v = ch & 0x0F; }
            else if (ch >= 0xF0 && ch <= 0xF4) { n = 3; v = ch & 0x07; }
            else {
                return 0;
            }
            if (end - p <= n) {
                return 0;
            }
            for (int i = 1; i <= n; i++) {
                if ((p[i] & 0xC0) != 0x80) {
                    return 0;
                }
                v = (v << 6) | (p[i] & 0x3F);
            }
            if ((n == 2 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)))
                || (n == 3 && (v < 0x10000 || v > 0x10FFFF))) {
                return 0;
            }
            p += n + 1;
        }
    }
    return 0;
}

static int digits(cur_t *c)
{
    const char *s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        c->p++;
    }
    return c->p > s;
}

static int scan_number(cur_t *c)
{
    if (c->p < c->end && *c->p == '-') {
        c->p++;
    }
    if (c->p < c->end && *c->p == '0') {
        c->p++;
    }
    else if (!digits(c)) {
        return 0;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!digits(c)) {
            return 0;
        }
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }
        if (!digits(c)) {
            return 0;
        }
    }
    return 1;
}

static int literal(cur_t *c, const char *word, apr_size_t n)
{
    if ((apr_size_t)(c->end - c->p) < n || memcmp(c->p, word, n)) {
        return 0;
    }
    c->p += n;
    return 1;
}

static int scan_value(cur_t *c, int depth, llmgw_jspan_t *out);

static int scan_container(cur_t *c, int depth, char close, int is_object)
{
    llmgw_jspan_t v;
    int esc;

    if (depth > LLMGW_JSON_MAX_DEPTH) {
        return 0;
    }
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    for (;;) {
        if (is_object) {
            if (c->p >= c->end || *c->p != '"' || !scan_string(c, &esc)) {
                return 0;
            }
            ws(c);
            if (c->p >= c->end || *c->p != ':') {
                return 0;
            }
            c->p++;
            ws(c);
        }
        if (!scan_value(c, depth + 1, &v)) {
            return 0;
        }
        ws(c);
        if (c->p >= c->end) {
            return 0;
        }
        if (*c->p == ',') {
            c->p++;
            ws(c);
            continue;
        }
        if (*c->p == close) {
            c->p++;
            return 1;
        }
        return 0;
    }
}

static int scan_value(cur_t *c, int depth, llmgw_jspan_t *out)
{
    const char *start = c->p;
    int ok, esc = 0;

    if (c->p >= c->end) {
        return 0;
    }
    switch (*c->p) {
    case '{':
        out->type = LLMGW_JV_OBJECT;
        ok = scan_container(c, depth, '}', 1);
        break;
    case '[':
        out->type = LLMGW_JV_ARRAY;
        ok = scan_container(c, depth, ']', 0);
        break;
    case '"':
        out->type = LLMGW_JV_STRING;
        ok = scan_string(c, &esc);
        break;
    case 't':
        out->type = LLMGW_JV_TRUE;
        ok = literal(c, "true", 4);
        break;
    case 'f':
        out->type = LLMGW_JV_FALSE;
        ok = literal(c, "false", 5);
        break;
    case 'n':
        out->type = LLMGW_JV_NULL;
        ok = literal(c, "null", 4);
        break;
    default:
        out->type = LLMGW_JV_NUMBER;
        ok = scan_number(c);
        break;
    }
    out->p = start;
    out->len = (apr_size_t)(c->p - start);
    out->escaped = esc;
    return ok;
}

/* ------------------------------------- skipping text already validated */

/* The string at c->p (on its quote) skipped: only quotes and backslashes
 * looked at, 8 bytes at a time (the text was validated: what scan_string
 * checks is known to hold). Never reads past c->end. */
static int skip_string(cur_t *c, int *escaped)
{
    const unsigned char *p = (const unsigned char *)c->p + 1;
    const unsigned char *end = (const unsigned char *)c->end;

    *escaped = 0;
    while (p < end) {
        while (end - p >= 8) {
            apr_uint64_t x;
            memcpy(&x, p, 8);
            if ((has_byte(x, '"') | has_byte(x, '\\')) & (ONES * 0x80)) {
                break;
            }
            p += 8;
        }
        if (p >= end) {
            break;
        }
        if (*p == '"') {
            c->p = (const char *)p + 1;
            return 1;
        }
        if (*p == '\\') {
            *escaped = 1;
            p += 2;
            continue;
        }
        p++;
    }
    c->p = c->end;
    return 0;
}

/* The value at c->p skipped (validated text): its span in *out. */
static int skip_value(cur_t *c, llmgw_jspan_t *out)
{
    const char *start = c->p;
    int esc = 0, ok = 1;

    if (c->p >= c->end) {
        return 0;
    }
    switch (*c->p) {
    case '{':
    case '[': {
        int depth = 0;
        out->type = *c->p == '{' ? LLMGW_JV_OBJECT : LLMGW_JV_ARRAY;
        while (c->p < c->end) {
            char ch = *c->p;
            if (ch == '"') {
                int e;
                if (!skip_string(c, &e)) {
                    return 0;
                }
                continue;
            }
            c->p++;
            if (ch == '{' || ch == '[') {
                depth++;
            }
            else if ((ch == '}' || ch == ']') && --depth == 0) {
                break;
            }
        }
        ok = depth == 0;
        break;
    }
    case '"':
        out->type = LLMGW_JV_STRING;
        ok = skip_string(c, &esc);
        break;
    default:
        out->type = *c->p == 't' ? LLMGW_JV_TRUE : *c->p == 'f'
                    ? LLMGW_JV_FALSE : *c->p == 'n' ? LLMGW_JV_NULL
                    : LLMGW_JV_NUMBER;
        while (c->p < c->end && *c->p != ',' && *c->p != '}' && *c->p != ']'
               && *c->p != ' ' && *c->p != '\t' && *c->p != '\n'
               && *c->p != '\r') {
            c->p++;
        }
        ok = c->p > start;
        break;
    }
    out->p = start;
    out->len = (apr_size_t)(c->p - start);
    out->escaped = esc;
    return ok;
}

int llmgw_json_valid(const char *buf, apr_size_t len)
{
    cur_t c = { buf, buf + len };
    llmgw_jspan_t v;
    ws(&c);
    if (!scan_value(&c, 0, &v)) {
        return 0;
    }
    ws(&c);
    return c.p == c.end;
}

int llmgw_json_span(const char *buf, apr_size_t len, llmgw_jspan_t *out)
{
    cur_t c = { buf, buf + len };
    return scan_value(&c, 0, out);
}

int llmgw_json_each(const llmgw_jspan_t *container, llmgw_json_member_fn fn,
                    void *baton)
{
    cur_t c = { container->p, container->p + container->len };
    int is_object = container->type == LLMGW_JV_OBJECT, rv, esc = 0;
    char close = is_object ? '}' : ']';

    if (container->type != LLMGW_JV_OBJECT
        && container->type != LLMGW_JV_ARRAY) {
        return 0;
    }
    c.p++;
    ws(&c);
    while (c.p < c.end && *c.p != close) {
        const char *key = NULL;
        apr_size_t klen = 0;
        llmgw_jspan_t v;
        if (is_object) {
            key = c.p + 1;
            if (!skip_string(&c, &esc)) {
                return -1;
            }
            klen = (apr_size_t)(c.p - key - 1);
            ws(&c);
            c.p++;                                  /* ':' */
            ws(&c);
        }
        /* validated text: skipped, not checked again */
        if (!skip_value(&c, &v)) {
            return -1;
        }
        if ((rv = fn(baton, key, klen, esc, &v))) {
            return rv;
        }
        ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            ws(&c);
        }
    }
    return 0;
}

/* The members of the object at c->p (on its '{', close '}') or the items
 * of the array (on its '[', close ']': no keys), validated one by one:
 * v->member(baton, ...) after each value; a value v->enter (an object) or
 * v->enter_array gives a baton for is walked the same way (its members
 * reported to that baton) instead of scanned, so each byte is read once.
 * 1 when valid, 0 when not, -1 when a callback stopped the walk. */
static int visit_members(cur_t *c, int depth, const llmgw_json_visitor_t *v,
                         void *baton, char close);

/* The value at c->p, entered when the visitor asks (an object: enter, an
 * array: enter_array), else scanned; its span into val. 1, 0 (invalid) or
 * -1 (a member() stopped). */
static int visit_value(cur_t *c, int depth, const llmgw_json_visitor_t *v,
                       void *baton, const char *key, apr_size_t klen,
                       int esc, llmgw_jspan_t *val)
{
    void *kid;
    int rv;

    if (c->p < c->end && *c->p == '{' && v->enter
        && (kid = v->enter(baton, key, klen, esc)) != NULL) {
        val->p = c->p;
        if ((rv = visit_members(c, depth + 1, v, kid, '}')) != 1) {
            return rv;
        }
        val->type = LLMGW_JV_OBJECT;
    }
    else if (c->p < c->end && *c->p == '[' && v->enter_array
             && (kid = v->enter_array(baton, key, klen, esc)) != NULL) {
        val->p = c->p;
        if ((rv = visit_members(c, depth + 1, v, kid, ']')) != 1) {
            return rv;
        }
        val->type = LLMGW_JV_ARRAY;
    }
    else {
        return scan_value(c, depth + 1, val);
    }
    val->len = (apr_size_t)(c->p - val->p);
    val->escaped = 0;
    return 1;
}

static int visit_members(cur_t *c, int depth, const llmgw_json_visitor_t *v,
                         void *baton, char close)
{
    int esc = 0;

    if (depth > LLMGW_JSON_MAX_DEPTH) {
        return 0;
    }
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    for (;;) {
        const char *key = NULL;
        apr_size_t klen = 0;
        llmgw_jspan_t val;
        int rv;

        if (close == '}') {
            if (c->p >= c->end || *c->p != '"') {
                return 0;
            }
            key = c->p + 1;
            if (!scan_string(c, &esc)) {
                return 0;
            }
            klen = (apr_size_t)(c->p - key - 1);
            ws(c);
            if (c->p >= c->end || *c->p != ':') {
                return 0;
            }
            c->p++;
            ws(c);
        }
        if ((rv = visit_value(c, depth, v, baton, key, klen, esc,
                              &val)) != 1) {
            return rv;
        }
        if (v->member(baton, key, klen, esc, &val)) {
            return -1;
        }
        ws(c);
        if (c->p >= c->end) {
            return 0;
        }
        if (*c->p == ',') {
            c->p++;
            ws(c);
            continue;
        }
        if (*c->p != close) {
            return 0;
        }
        c->p++;
        return 1;
    }
}

int llmgw_json_object_visit(const char *buf, apr_size_t len,
                            llmgw_jspan_t *top,
                            const llmgw_json_visitor_t *v, void *baton)
{
    cur_t c = { buf, buf + len };
    const char *start;
    int rv;

    ws(&c);
    if (c.p >= c.end || *c.p != '{') {
        return 0;
    }
    start = c.p;
    if ((rv = visit_members(&c, 0, v, baton, '}')) != 1) {
        return rv;
    }
    top->p = start;
    top->len = (apr_size_t)(c.p - start);
    top->type = LLMGW_JV_OBJECT;
    top->escaped = 0;
    ws(&c);
    return c.p == c.end ? 1 : 0;
}

int llmgw_json_object_each(const char *buf, apr_size_t len,
                           llmgw_jspan_t *top, llmgw_json_member_fn fn,
                           void *baton)
{
    llmgw_json_visitor_t v = { fn, NULL, NULL };
    return llmgw_json_object_visit(buf, len, top, &v, baton);
}

/* ------------------------------------------------------ canonical form */

/* One pass: each value is scanned once and its canonical text built from
 * its children's, so nested content is never re-scanned. */

typedef struct {
    const char *key;               /* raw key text, quotes included */
    apr_size_t klen;
    const char *val;               /* canonical value text */
    apr_size_t vlen;
    apr_size_t order;              /* position, keeps duplicates stable */
} member_t;

static int member_cmp(const void *a, const void *b)
{
    const member_t *x = a, *y = b;
    apr_size_t n = x->klen < y->klen ? x->klen : y->klen;
    int d = memcmp(x->key, y->key, n);
    if (d) {
        return d;
    }
    if (x->klen != y->klen) {
        return x->klen < y->klen ? -1 : 1;
    }
    return x->order < y->order ? -1 : 1;
}

static int dropped(const char *const *drop, const char *qkey, apr_size_t qlen)
{
    for (; drop && *drop; drop++) {
        apr_size_t n = strlen(*drop);
        if (n + 2 == qlen && !memcmp(*drop, qkey + 1, n)) {
            return 1;
        }
    }
    return 0;
}

/* Canonical text of the value at c->p (validated input); NULL on error. */
static const char *canon(cur_t *c, apr_pool_t *p, const char *const *drop,
                         apr_size_t *len)
{
    const char *start = c->p;
    int esc;

    if (c->p >= c->end) {
        return NULL;
    }
    if (*c->p == '{') {
        apr_array_header_t *m = apr_array_make(p, 8, sizeof(member_t));
        apr_size_t total = 2, i;
        char *out, *o;

        c->p++;
        ws(c);
        while (c->p < c->end && *c->p != '}') {
            member_t *mm = apr_array_push(m);
            mm->key = c->p;
            if (!scan_string(c, &esc)) {
                return NULL;
            }
            mm->klen = (apr_size_t)(c->p - mm->key);
            mm->order = (apr_size_t)m->nelts;
            ws(c);
            c->p++;                                  /* ':' */
            ws(c);
            if (!(mm->val = canon(c, p, NULL, &mm->vlen))) {
                return NULL;
            }
            if (dropped(drop, mm->key, mm->klen)) {
                m->nelts--;
            }
            else {
                total += mm->klen + 1 + mm->vlen + 1;
            }
            ws(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                ws(c);
            }
        }
        c->p++;                                      /* '}' */
        qsort(m->elts, (size_t)m->nelts, sizeof(member_t), member_cmp);
        out = o = apr_palloc(p, total + 1);
        *o++ = '{';
        for (i = 0; i < (apr_size_t)m->nelts; i++) {
            member_t *mm = &APR_ARRAY_IDX(m, i, member_t);
            if (i) {
                *o++ = ',';
            }
            memcpy(o, mm->key, mm->klen);
            o += mm->klen;
            *o++ = ':';
            memcpy(o, mm->val, mm->vlen);
            o += mm->vlen;
        }
        *o++ = '}';
        *len = (apr_size_t)(o - out);
        return out;
    }
    if (*c->p == '[') {
        apr_array_header_t *el = apr_array_make(p, 8, sizeof(member_t));
        apr_size_t total = 2, i;
        char *out, *o;

        c->p++;
        ws(c);
        while (c->p < c->end && *c->p != ']') {
            member_t *e = apr_array_push(el);
            if (!(e->val = canon(c, p, NULL, &e->vlen))) {
                return NULL;
            }
            total += e->vlen + 1;
            ws(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                ws(c);
            }
        }
        c->p++;                                      /* ']' */
        out = o = apr_palloc(p, total + 1);
        *o++ = '[';
        for (i = 0; i < (apr_size_t)el->nelts; i++) {
            member_t *e = &APR_ARRAY_IDX(el, i, member_t);
            if (i) {
                *o++ = ',';
            }
            memcpy(o, e->val, e->vlen);
            o += e->vlen;
        }
        *o++ = ']';
        *len = (apr_size_t)(o - out);
        return out;
    }
    {
        llmgw_jspan_t v;                             /* a scalar: as written */
        if (!scan_value(c, 0, &v)) {
            return NULL;
        }
        *len = v.len;
        if (v.type == LLMGW_JV_NUMBER) {
            /* 1.0 and 1 mean the same to every provider: an integral
             * number written with a zero fraction keys as the integer */
            const char *dot = memchr(v.p, '.', v.len);
            apr_size_t i;
            if (dot) {
                for (i = (apr_size_t)(dot - v.p) + 1; i < v.len
                     && v.p[i] == '0'; i++)
                    ;
                if (i == v.len) {
                    *len = (apr_size_t)(dot - v.p);
                }
            }
        }
        return start;
    }
}

char *llmgw_json_canonical(apr_pool_t *p, const char *buf, apr_size_t len,
                           const char *const *drop, apr_size_t *out_len)
{
    cur_t c = { buf, buf + len };
    const char *txt;
    apr_size_t n;

    ws(&c);
    if (!(txt = canon(&c, p, drop, &n))) {
        return NULL;
    }
    if (out_len) {
        *out_len = n;
    }
    return apr_pstrmemdup(p, txt, n);
}

/* ------------------------------------------------------ jansson trees */

static unsigned hexval(char ch)
{
    return (unsigned)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
}

/* A string's text between its quotes, unescaped into buf (at least len
 * bytes: unescaping never grows it); its length, or -1 for a NUL byte
 * where NULs are refused (object keys, as jansson). */
static long unescape(const char *s, apr_size_t len, char *buf, int nul_ok)
{
    const char *end = s + len;
    char *o = buf;
    while (s < end) {
        unsigned v;
        int i;
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        s++;
        switch (*s++) {
        case 'b': *o++ = '\b'; continue;
        case 'f': *o++ = '\f'; continue;
        case 'n': *o++ = '\n'; continue;
        case 'r': *o++ = '\r'; continue;
        case 't': *o++ = '\t'; continue;
        case 'u': break;
        default: *o++ = s[-1]; continue;           /* " \ / */
        }
        for (i = 0, v = 0; i < 4; i++, s++) {      /* validated: 4 hex */
            v = v * 16 + hexval(*s);
        }
        if (v >= 0xD800 && v <= 0xDBFF) {          /* then \uDC00-DFFF */
            unsigned lo = 0;
            for (i = 0, s += 2; i < 4; i++, s++) {
                lo = lo * 16 + hexval(*s);
            }
            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (v == 0 && !nul_ok) {
            return -1;
        }
        if (v < 0x80) {
            *o++ = (char)v;
        }
        else if (v < 0x800) {
            *o++ = (char)(0xC0 | (v >> 6));
            *o++ = (char)(0x80 | (v & 0x3F));
        }
        else if (v < 0x10000) {
            *o++ = (char)(0xE0 | (v >> 12));
            *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
            *o++ = (char)(0x80 | (v & 0x3F));
        }
        else {
            *o++ = (char)(0xF0 | (v >> 18));
            *o++ = (char)(0x80 | ((v >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((v >> 6) & 0x3F));
            *o++ = (char)(0x80 | (v & 0x3F));
        }
    }
    return (long)(o - buf);
}

char *llmgw_json_string_value(apr_pool_t *p, const llmgw_jspan_t *v,
                              apr_size_t *len)
{
    char *buf;
    long n;

    if (v == NULL || v->p == NULL || v->type != LLMGW_JV_STRING) {
        return NULL;
    }
    buf = apr_palloc(p, v->len - 1);
    if (!v->escaped) {
        n = (long)(v->len - 2);
        memcpy(buf, v->p + 1, (apr_size_t)n);
    }
    else {
        n = unescape(v->p + 1, v->len - 2, buf, 1);
    }
    buf[n] = '\0';
    if (len) {
        *len = (apr_size_t)n;
    }
    return buf;
}

static json_t *tree_of(const llmgw_jspan_t *v);

/* (out of the recursion: their buffers are not on every level's frame) */
static __attribute__((noinline)) int set_escaped_key(json_t *parent,
                                                     const char *key,
                                                     apr_size_t klen,
                                                     json_t *child)
{
    char small[256], *buf = klen < sizeof(small) ? small : malloc(klen + 1);
    long n = buf ? unescape(key, klen, buf, 0) : -1;
    int rv = n < 0 || json_object_setn_new_nocheck(parent, buf, (size_t)n,
                                                   child);
    if (n < 0) {
        json_decref(child);
    }
    if (buf && buf != small) {
        free(buf);
    }
    return rv ? 1 : 0;
}

static __attribute__((noinline)) json_t *escaped_string(const llmgw_jspan_t *v)
{
    char small[512], *buf = v->len < sizeof(small) ? small : malloc(v->len);
    long n = buf ? unescape(v->p + 1, v->len - 2, buf, 1) : -1;
    json_t *j = n < 0 ? NULL : json_stringn_nocheck(buf, (size_t)n);
    if (buf && buf != small) {
        free(buf);
    }
    return j;
}

static int tree_member(void *baton, const char *key, apr_size_t klen,
                       int key_escaped, const llmgw_jspan_t *v)
{
    json_t *parent = baton, *child = tree_of(v);
    if (!child) {
        return 1;
    }
    if (!key) {
        return json_array_append_new(parent, child) ? 1 : 0;
    }
    if (key_escaped) {
        return set_escaped_key(parent, key, klen, child);
    }
    return json_object_setn_new_nocheck(parent, key, klen, child) ? 1 : 0;
}

static json_t *tree_of(const llmgw_jspan_t *v)
{
    json_t *j;
    switch (v->type) {
    case LLMGW_JV_OBJECT:
    case LLMGW_JV_ARRAY:
        j = v->type == LLMGW_JV_OBJECT ? json_object() : json_array();
        if (j && llmgw_json_each(v, tree_member, j)) {
            json_decref(j);
            return NULL;
        }
        return j;
    case LLMGW_JV_STRING:
        if (v->escaped) {
            return escaped_string(v);
        }
        return json_stringn_nocheck(v->p + 1, v->len - 2);
    case LLMGW_JV_TRUE:
        return json_true();
    case LLMGW_JV_FALSE:
        return json_false();
    case LLMGW_JV_NULL:
        return json_null();
    case LLMGW_JV_NUMBER: {
        char num[64], *e;
        if (v->len >= sizeof(num)) {
            return NULL;                    /* jansson's own say */
        }
        memcpy(num, v->p, v->len);
        num[v->len] = '\0';
        errno = 0;
        if (!memchr(num, '.', v->len) && !memchr(num, 'e', v->len)
            && !memchr(num, 'E', v->len)) {
            long long n = strtoll(num, &e, 10);
            return errno || *e ? NULL : json_integer((json_int_t)n);
        }
        {
            double d = strtod(num, &e);
            return errno || *e ? NULL : json_real(d);
        }
    }
    }
    return NULL;
}

/* One validating pass that builds the tree as it goes (scalars through
 * tree_of); NULL for text the scanner refuses. */
static json_t *build(cur_t *c, int depth)
{
    llmgw_jspan_t v;
    json_t *j, *child;
    char close;
    int is_object, esc;

    if (c->p >= c->end) {
        return NULL;
    }
    if (*c->p != '{' && *c->p != '[') {
        return scan_value(c, depth, &v) ? tree_of(&v) : NULL;
    }
    if (depth > LLMGW_JSON_MAX_DEPTH) {
        return NULL;
    }
    is_object = *c->p == '{';
    close = is_object ? '}' : ']';
    if (!(j = is_object ? json_object() : json_array())) {
        return NULL;
    }
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return j;
    }
    for (;;) {
        const char *key = NULL;
        apr_size_t klen = 0;
        esc = 0;
        if (is_object) {
            if (c->p >= c->end || *c->p != '"') {
                goto fail;
            }
            key = c->p + 1;
            if (!scan_string(c, &esc)) {
                goto fail;
            }
            klen = (apr_size_t)(c->p - key - 1);
            ws(c);
            if (c->p >= c->end || *c->p != ':') {
                goto fail;
            }
            c->p++;
            ws(c);
        }
        if (!(child = build(c, depth + 1))) {
            goto fail;
        }
        if (!is_object) {
            if (json_array_append_new(j, child)) {
                goto fail;
            }
        }
        else if (esc ? set_escaped_key(j, key, klen, child)
                 : json_object_setn_new_nocheck(j, key, klen, child) != 0) {
            goto fail;
        }
        ws(c);
        if (c->p >= c->end) {
            goto fail;
        }
        if (*c->p == ',') {
            c->p++;
            ws(c);
            continue;
        }
        if (*c->p == close) {
            c->p++;
            return j;
        }
        goto fail;
    }
fail:
    json_decref(j);
    return NULL;
}

json_t *llmgw_json_loadb(const char *buf, apr_size_t len, size_t flags,
                         json_error_t *error)
{
    cur_t c = { buf, buf + len };
    json_t *j = NULL;
    const char *nul;

    ws(&c);
    if (flags == JSON_ALLOW_NUL && c.p < c.end && (*c.p == '{' || *c.p == '[')
        && (j = build(&c, 0)) != NULL) {
        ws(&c);
        if (c.p == c.end) {
            return j;
        }
        json_decref(j);
    }
    /* JSON has no place for a raw NUL byte (strings escape it), but
     * jansson 2.14 takes one after a number ({"p":0.2<NUL>}); the
     * scanner refuses it, and so does this. */
    if ((nul = memchr(buf, '\0', len)) != NULL) {
        if (error) {
            memset(error, 0, sizeof(*error));
            error->line = -1;
            error->column = -1;
            error->position = (int)(nul - buf);
            apr_cpystrn(error->source, "<buffer>", sizeof(error->source));
            apr_cpystrn(error->text, "raw NUL byte in JSON text",
                        sizeof(error->text));
        }
        return NULL;
    }
    return json_loadb(buf, len, flags, error);
}

/* ------------------------------------------------ compact serialisation */

typedef struct {
    char *d;
    size_t len, cap;
    int prec;
    int fail;
    llmgw_buf_t *buf;           /* set: written there (d unused) */
} dump_t;

static void put(dump_t *o, const char *s, size_t n)
{
    if (o->buf) {
        llmgw_buf_append(o->buf, s, n);
        return;
    }
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        char *d;
        while (o->len + n + 1 > cap) {
            cap *= 2;
        }
        if (!(d = realloc(o->d, cap))) {
            o->fail = 1;
            return;
        }
        o->d = d;
        o->cap = cap;
    }
    memcpy(o->d + o->len, s, n);
    o->len += n;
}

/* jansson's escape of one byte that needs one (" \\ and the controls:
 * short forms, else \\u00XX) into esc; its length. */
static size_t escape_char(unsigned char ch, char esc[8])
{
    const char *e;
    switch (ch) {
    case '"': e = "\\\""; break;
    case '\\': e = "\\\\"; break;
    case '\b': e = "\\b"; break;
    case '\f': e = "\\f"; break;
    case '\n': e = "\\n"; break;
    case '\r': e = "\\r"; break;
    case '\t': e = "\\t"; break;
    default:
        snprintf(esc, 8, "\\u%04X", ch);
        return 6;
    }
    memcpy(esc, e, 2);
    return 2;
}

/* jansson's escaping: " \\ and the controls (short forms, else \\u00XX);
 * '/' and non-ASCII as they are */
static void put_escaped(dump_t *o, const char *s, size_t n)
{
    const char *end = s + n, *run = s;
    for (; s < end; s++) {
        unsigned char ch;
        char esc[8];
        /* 8 plain ASCII bytes at a time (as scan_string) */
        while (end - s >= 8) {
            apr_uint64_t x;
            memcpy(&x, s, 8);
            if (((x - ONES * 0x20) | x | has_byte(x, '"') | has_byte(x, '\\'))
                & (ONES * 0x80)) {
                break;
            }
            s += 8;
        }
        if (s >= end) {
            break;
        }
        ch = (unsigned char)*s;
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            continue;
        }
        put(o, run, (size_t)(s - run));
        run = s + 1;
        put(o, esc, escape_char(ch, esc));
    }
    put(o, run, (size_t)(s - run));
}

static void put_string(dump_t *o, const char *s, size_t n)
{
    put(o, "\"", 1);
    put_escaped(o, s, n);
    put(o, "\"", 1);
}

/* jansson's jsonp_dtostr: %.*g, ".0" when it reads as an integer, no '+'
 * and no leading zeros in the exponent */
static void put_real(dump_t *o, double v)
{
    char b[64], *e;
    int n = snprintf(b, sizeof(b) - 3, "%.*g", o->prec, v);
    if (n < 0 || (size_t)n >= sizeof(b) - 3) {
        o->fail = 1;
        return;
    }
    if (!strchr(b, '.') && !strchr(b, 'e')) {
        memcpy(b + n, ".0", 3);
        n += 2;
    }
    if ((e = strchr(b, 'e')) != NULL) {
        char *start = e + 1, *stop = start + 1;
        if (*start == '-') {
            start++;
        }
        while (*stop == '0') {
            stop++;
        }
        if (stop != start) {
            memmove(start, stop, (size_t)(b + n - stop) + 1);
            n -= (int)(stop - start);
        }
    }
    put(o, b, (size_t)n);
}

static void dump_value(dump_t *o, const json_t *j, int depth)
{
    char b[32];
    if (o->fail || depth > 2048) {
        o->fail = 1;
        return;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        void *it = json_object_iter((json_t *)j);
        int first = 1;
        put(o, "{", 1);
        for (; it; it = json_object_iter_next((json_t *)j, it)) {
            if (!first) {
                put(o, ",", 1);
            }
            first = 0;
            put_string(o, json_object_iter_key(it),
                       json_object_iter_key_len(it));
            put(o, ":", 1);
            dump_value(o, json_object_iter_value(it), depth + 1);
        }
        put(o, "}", 1);
        return;
    }
    case JSON_ARRAY: {
        size_t i, n = json_array_size(j);
        put(o, "[", 1);
        for (i = 0; i < n; i++) {
            if (i) {
                put(o, ",", 1);
            }
            dump_value(o, json_array_get(j, i), depth + 1);
        }
        put(o, "]", 1);
        return;
    }
    case JSON_STRING:
        put_string(o, json_string_value(j), json_string_length(j));
        return;
    case JSON_INTEGER:
        put(o, b, (size_t)snprintf(b, sizeof(b), "%" JSON_INTEGER_FORMAT,
                                   json_integer_value(j)));
        return;
    case JSON_REAL:
        put_real(o, json_real_value(j));
        return;
    case JSON_TRUE:
        put(o, "true", 4);
        return;
    case JSON_FALSE:
        put(o, "false", 5);
        return;
    case JSON_NULL:
        put(o, "null", 4);
        return;
    }
    o->fail = 1;
}

char *llmgw_json_dump_compact(const json_t *j, int precision)
{
    dump_t o = { NULL, 0, 0, precision, 0, NULL };
    if (!json_is_object(j) && !json_is_array(j)) {
        return NULL;
    }
    dump_value(&o, j, 0);
    if (o.fail || !o.d) {
        free(o.d);
        return NULL;
    }
    o.d[o.len] = '\0';
    return o.d;
}

/* ------------------------------------------- direct writing into a buffer */

void llmgw_buf_json_escape(llmgw_buf_t *b, const char *s, apr_size_t n)
{
    dump_t o = { NULL, 0, 0, 17, 0, b };
    put_escaped(&o, s, n);
}

void llmgw_buf_json_string(llmgw_buf_t *b, const char *s, apr_size_t n)
{
    dump_t o = { NULL, 0, 0, 17, 0, b };
    put_string(&o, s, n);
}

void llmgw_buf_json_cstr(llmgw_buf_t *b, const char *s)
{
    llmgw_buf_json_string(b, s, strlen(s));
}

void llmgw_buf_int(llmgw_buf_t *b, apr_int64_t v)
{
    char num[24], *w = num + sizeof(num);
    apr_uint64_t u = v < 0 ? 0 - (apr_uint64_t)v : (apr_uint64_t)v;

    do {                        /* digits from the end: no snprintf */
        *--w = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        *--w = '-';
    }
    llmgw_buf_append(b, w, (apr_size_t)(num + sizeof(num) - w));
}

void llmgw_buf_json_real(llmgw_buf_t *b, double v)
{
    dump_t o = { NULL, 0, 0, 0, 0, b };
    double h = v * 100;

    /* A value with at most two decimals (0, 1, 0.7, 0.95: what clients
     * send as temperature or top_p): v is the double nearest to k/100, so
     * "%.15g" prints k/100's digits, trailing zeros removed; written here
     * without the three snprintf calls of the general path. */
    if (h > -1e13 && h < 1e13 && (v != 0 || !signbit(v))) {
        apr_int64_t k = (apr_int64_t)(h < 0 ? h - 0.5 : h + 0.5);
        if ((double)k / 100 == v) {
            apr_int64_t ip = k / 100, fp = k % 100;
            if (k < 0) {
                LLMGW_BUF_LIT(b, "-");
                ip = -ip;
                fp = -fp;
            }
            llmgw_buf_int(b, ip);
            LLMGW_BUF_LIT(b, ".");
            if (fp % 10 == 0) {
                llmgw_buf_int(b, fp / 10);
            }
            else {
                char d[2] = { (char)('0' + fp / 10), (char)('0' + fp % 10) };
                llmgw_buf_append(b, d, 2);
            }
            return;
        }
    }
    o.prec = llmgw_num_precision(v);
    put_real(&o, v);
}

int llmgw_buf_json(llmgw_buf_t *b, const json_t *j)
{
    dump_t o = { NULL, 0, 0, llmgw_json_precision(j), 0, b };
    apr_size_t mark = b->len;
    dump_value(&o, j, 0);
    if (o.fail) {
        b->len = mark;
        if (b->data) {
            b->data[mark] = '\0';
        }
        return -1;
    }
    return 0;
}

int llmgw_json_key_is(const char *key, apr_size_t klen, int escaped,
                      const char *name)
{
    apr_size_t n = strlen(name);
    char small[128];
    long u;

    if (!escaped) {
        return klen == n && !memcmp(key, name, n);
    }
    if (klen >= sizeof(small) || klen < n) {
        return 0;               /* unescaping never grows a text */
    }
    u = unescape(key, klen, small, 0);
    return u == (long)n && !memcmp(small, name, n);
}

typedef struct {
    const char *const *names;
    llmgw_jspan_t *vals;
    int n;
} pick_t;

static int pick_member(void *baton, const char *key, apr_size_t klen,
                       int escaped, const llmgw_jspan_t *v)
{
    pick_t *pk = baton;
    int i;

    for (i = 0; i < pk->n; i++) {
        if (llmgw_json_key_is(key, klen, escaped, pk->names[i])) {
            pk->vals[i] = *v;       /* the last one wins, as in jansson */
            break;
        }
    }
    return 0;
}

int llmgw_json_pick(const llmgw_jspan_t *obj, const char *const *names,
                    llmgw_jspan_t *vals, int n)
{
    pick_t pk;

    memset(vals, 0, sizeof(*vals) * (apr_size_t)n);
    if (obj == NULL || obj->p == NULL || obj->type != LLMGW_JV_OBJECT) {
        return 0;
    }
    pk.names = names;
    pk.vals = vals;
    pk.n = n;
    llmgw_json_each(obj, pick_member, &pk);
    return 1;
}

/* ------------------------------------------- values of validated text */

long llmgw_json_unescape(const llmgw_jspan_t *v, char *buf)
{
    if (v->type != LLMGW_JV_STRING) {
        return -1;
    }
    if (!v->escaped) {
        memcpy(buf, v->p + 1, v->len - 2);
        return (long)(v->len - 2);
    }
    return unescape(v->p + 1, v->len - 2, buf, 1);
}

int llmgw_json_int(const llmgw_jspan_t *v, apr_int64_t *out)
{
    char num[32], *e;
    long long n;

    if (v->type == LLMGW_JV_NUMBER && v->len) {
        /* the scanner's number grammar: 18 digits or fewer cannot
         * overflow, so the common case needs no copy and no strtoll */
        const char *p = v->p, *end = v->p + v->len;
        int neg = *p == '-';
        apr_int64_t x = 0;
        p += neg;
        if (end - p <= 18) {
            while (p < end && *p >= '0' && *p <= '9') {
                x = x * 10 + (*p++ - '0');
            }
            if (p == end) {
                *out = neg ? -x : x;
                return 1;
            }
            return 0;               /* a fraction or an exponent */
        }
    }
    if (v->type != LLMGW_JV_NUMBER || v->len >= sizeof(num)
        || memchr(v->p, '.', v->len) || memchr(v->p, 'e', v->len)
        || memchr(v->p, 'E', v->len)) {
        return 0;
    }
    memcpy(num, v->p, v->len);
    num[v->len] = '\0';
    errno = 0;
    n = strtoll(num, &e, 10);
    if (errno || *e) {
        return 0;
    }
    *out = (apr_int64_t)n;
    return 1;
}

void llmgw_json_put_compact(llmgw_buf_t *b, const llmgw_jspan_t *v)
{
    const char *p = v->p, *end = v->p + v->len, *run = p;
    int in_string = 0;

    if (v->type != LLMGW_JV_OBJECT && v->type != LLMGW_JV_ARRAY) {
        llmgw_buf_append(b, v->p, v->len);
        return;
    }
    for (; p < end; p++) {
        if (in_string) {
            if (*p == '\\') {
                p++;
            }
            else if (*p == '"') {
                in_string = 0;
            }
        }
        else if (*p == '"') {
            in_string = 1;
        }
        else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            llmgw_buf_append(b, run, (apr_size_t)(p - run));
            run = p + 1;
        }
    }
    llmgw_buf_append(b, run, (apr_size_t)(p - run));
}
