/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Incremental SSE parser (WHATWG event-stream rules, minus `id`/`retry`
 * which no LLM provider relies on). Lines are assembled in one growing
 * buffer; an event's data is accumulated in another, so each byte is
 * copied at most twice whatever the read boundaries. */
#include <string.h>
#include <apr_strings.h>
#include "llmgw_sse.h"

#define DEFAULT_MAX_EVENT (8u * 1024 * 1024)

struct llmgw_sse_parser {
    apr_pool_t *pool;
    apr_size_t max_event;
    llmgw_sse_event_fn fn;
    void *baton;
    char *line;             /* current partial line */
    apr_size_t line_len, line_cap;
    char *data;             /* data of the event being built */
    apr_size_t data_len, data_cap;
    int has_data;
    char event[64];         /* event name; longer names are truncated */
    int has_event;
    int raw_json;           /* in a bare JSON body (no "data:" prefix) */
    int last_was_cr;        /* a CR ended the previous chunk: skip a LF */
    apr_size_t events;
};

llmgw_sse_parser_t *llmgw_sse_parser_create(apr_pool_t *p,
                                            apr_size_t max_event,
                                            llmgw_sse_event_fn fn,
                                            void *baton)
{
    llmgw_sse_parser_t *ps = apr_pcalloc(p, sizeof(*ps));
    ps->pool = p;
    ps->max_event = max_event ? max_event : DEFAULT_MAX_EVENT;
    ps->fn = fn;
    ps->baton = baton;
    return ps;
}

/* Grows *buf to hold need bytes plus a NUL, doubling from 256. */
static int reserve(llmgw_sse_parser_t *ps, char **buf, apr_size_t *cap,
                   apr_size_t len, apr_size_t need)
{
    apr_size_t ncap;
    char *nbuf;
    /* checked first: the doubled capacity may exceed max_event */
    if (need > ps->max_event) {
        return LLMGW_SSE_TOO_BIG;
    }
    if (need + 1 <= *cap) {
        return 0;
    }
    ncap = *cap ? *cap : 256;
    while (ncap < need + 1) {
        ncap *= 2;
    }
    nbuf = apr_palloc(ps->pool, ncap);
    if (len) {
        memcpy(nbuf, *buf, len);
    }
    *buf = nbuf;
    *cap = ncap;
    return 0;
}

static int dispatch(llmgw_sse_parser_t *ps)
{
    int rv = 0;
    if (ps->has_data) {
        ps->data[ps->data_len] = '\0';
        ps->events++;
        rv = ps->fn(ps->baton, ps->has_event ? ps->event : NULL,
                    ps->data, ps->data_len);
    }
    ps->data_len = 0;
    ps->has_data = 0;
    ps->has_event = 0;
    ps->raw_json = 0;
    return rv;
}

/* One complete line (without its terminator). */
static int append_data(llmgw_sse_parser_t *ps, const char *val,
                       apr_size_t vlen)
{
    apr_size_t need = ps->data_len + vlen + (ps->has_data ? 1 : 0);
    int rv;
    if ((rv = reserve(ps, &ps->data, &ps->data_cap, ps->data_len, need))) {
        return rv;
    }
    if (ps->has_data) {
        ps->data[ps->data_len++] = '\n';
    }
    memcpy(ps->data + ps->data_len, val, vlen);
    ps->data_len += vlen;
    ps->has_data = 1;
    return 0;
}

static int process_line(llmgw_sse_parser_t *ps, const char *l, apr_size_t n)
{
    const char *colon, *val;
    apr_size_t flen, vlen;

    if (n == 0) {
        return dispatch(ps);
    }
    /* Providers send a JSON error body with no SSE framing after a stream
     * started (Gemini does): a line opening with '{' or '[' at the start of
     * an event begins such a body, which runs to the next blank line or to
     * the end of input and is dispatched as one event's data. */
    if (ps->raw_json
        || ((l[0] == '{' || l[0] == '[') && !ps->has_data && !ps->has_event)) {
        ps->raw_json = 1;
        return append_data(ps, l, n);
    }
    if (l[0] == ':') {
        return 0;                           /* comment */
    }
    colon = memchr(l, ':', n);
    flen = colon ? (apr_size_t)(colon - l) : n;
    val = colon ? colon + 1 : l + n;
    vlen = colon ? n - flen - 1 : 0;
    if (vlen && *val == ' ') {
        val++;
        vlen--;
    }
    if (flen == 4 && memcmp(l, "data", 4) == 0) {
        return append_data(ps, val, vlen);
    }
    else if (flen == 5 && memcmp(l, "event", 5) == 0) {
        if (vlen >= sizeof(ps->event)) {
            vlen = sizeof(ps->event) - 1;
        }
        memcpy(ps->event, val, vlen);
        ps->event[vlen] = '\0';
        ps->has_event = 1;
    }
    return 0;
}

int llmgw_sse_feed(llmgw_sse_parser_t *ps, const char *buf, apr_size_t len)
{
    const char *p = buf, *end = buf + len;
    const char *lf = NULL;      /* the next LF at or after p, or end */
    int rv;

    while (p < end) {
        const char *eol;
        apr_size_t n;

        if (ps->last_was_cr) {
            ps->last_was_cr = 0;
            if (*p == '\n') {
                p++;
                continue;
            }
        }
        /* the next CR or LF, by memchr's word-at-a-time scans. The next
         * LF (or end) is remembered across lines and the CR search stops
         * there, so a stream of CR-only line ends is not re-scanned to
         * the next LF for every line: each byte is looked at a bounded
         * number of times whatever the line ends. */
        if (!lf || lf < p) {
            lf = memchr(p, '\n', (apr_size_t)(end - p));
            if (!lf) {
                lf = end;
            }
        }
        eol = memchr(p, '\r', (apr_size_t)(lf - p));
        if (!eol) {
            eol = lf;
        }
        n = (apr_size_t)(eol - p);
        if (eol == end) {               /* partial line: keep it */
            if ((rv = reserve(ps, &ps->line, &ps->line_cap, ps->line_len,
                              ps->line_len + n))) {
                return rv;
            }
            memcpy(ps->line + ps->line_len, p, n);
            ps->line_len += n;
            break;
        }
        if (ps->line_len) {             /* completes a buffered line */
            if ((rv = reserve(ps, &ps->line, &ps->line_cap, ps->line_len,
                              ps->line_len + n))) {
                return rv;
            }
            memcpy(ps->line + ps->line_len, p, n);
            n += ps->line_len;
            ps->line_len = 0;
            rv = process_line(ps, ps->line, n);
        }
        else {
            rv = process_line(ps, p, n);
        }
        if (*eol == '\r') {
            ps->last_was_cr = 1;
        }
        p = eol + 1;
        if (rv) {
            return rv;
        }
    }
    return 0;
}

int llmgw_sse_finish(llmgw_sse_parser_t *ps)
{
    int rv = 0;
    if (ps->line_len) {
        apr_size_t n = ps->line_len;
        ps->line_len = 0;
        rv = process_line(ps, ps->line, n);
    }
    if (!rv) {
        rv = dispatch(ps);
    }
    return rv;
}

apr_size_t llmgw_sse_events(const llmgw_sse_parser_t *ps)
{
    return ps->events;
}

/* ------------------------------------------------ a whole buffer */

static int collect_event(void *baton, const char *event, const char *data,
                         apr_size_t len)
{
    apr_array_header_t *all = baton;
    llmgw_sse_event_t *x = apr_array_push(all);
    x->event = event ? apr_pstrdup(all->pool, event) : NULL;
    x->data = apr_pstrmemdup(all->pool, data, len);
    x->len = len;
    return 0;
}

apr_array_header_t *llmgw_sse_parse_all(apr_pool_t *p, const char *buf,
                                        apr_size_t len)
{
    apr_array_header_t *all = apr_array_make(p, 32, sizeof(llmgw_sse_event_t));
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(p, 0, collect_event, all);
    if (llmgw_sse_feed(ps, buf, len) == 0) {
        llmgw_sse_finish(ps);
    }
    return all;
}

int llmgw_sse_is_done(const llmgw_sse_event_t *x)
{
    return x->len == 6 && !memcmp(x->data, "[DONE]", 6);
}
