/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Unit tests of the pure core of mod_llmgw: the incremental SSE parser
 * (llmgw_sse.c, including every recorded stream in
 * $LLMGW_SHARED_DIR/fixtures), request validation (llmgw_parse.c), routing
 * (llmgw_route.c), the error envelope (llmgw_envelope.c) and the shared
 * finish-reason rule (llmgw_translate.c). */
#include <check.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include "llmgw_sse.h"
#include "llmgw_parse.h"
#include "llmgw_route.h"
#include "llmgw_envelope.h"
#include "llmgw_translate.h"

#ifndef LLMGW_SHARED_DIR
#define LLMGW_SHARED_DIR "../shared"
#endif

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
    pool = NULL;
}

static json_t *parse(const char *txt)
{
    json_error_t e;
    json_t *j = json_loads(txt, JSON_DECODE_ANY, &e);
    ck_assert_msg(j != NULL, "bad test JSON: %s: %s", e.text, txt);
    return j;
}

/* ================================================================== */
/* SSE parser                                                          */
/* ================================================================== */

typedef struct {
    const char *event;          /* NULL when the event had no name */
    const char *data;
    apr_size_t len;
} rec_event_t;

typedef struct {
    apr_array_header_t *ev;     /* rec_event_t */
    int stop_at;                /* return stop_rv from the stop_at-th call (1-based) */
    int stop_rv;
    int calls;
} recorder_t;

static int rec_cb(void *baton, const char *event, const char *data,
                  apr_size_t len)
{
    recorder_t *r = baton;
    rec_event_t *e = &APR_ARRAY_PUSH(r->ev, rec_event_t);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(strlen(data), len);    /* NUL-terminated, no NUL inside */
    e->event = event ? apr_pstrdup(pool, event) : NULL;
    e->data = apr_pstrmemdup(pool, data, len);
    e->len = len;
    r->calls++;
    if (r->stop_at && r->calls == r->stop_at) {
        return r->stop_rv;
    }
    return 0;
}

static recorder_t *rec_make(void)
{
    recorder_t *r = apr_pcalloc(pool, sizeof(*r));
    r->ev = apr_array_make(pool, 8, sizeof(rec_event_t));
    return r;
}

#define EV(r, i) APR_ARRAY_IDX((r)->ev, (i), rec_event_t)

/* Feeds buf cut at the given sizes (sizes[k] bytes each, cycling), then
 * finishes. chunk 0 means all at once. */
static recorder_t *sse_run_chunks(const char *buf, apr_size_t len,
                                  apr_size_t max_event,
                                  const apr_size_t *sizes, int nsizes)
{
    recorder_t *r = rec_make();
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(pool, max_event,
                                                     rec_cb, r);
    apr_size_t off = 0;
    int k = 0;
    while (off < len) {
        apr_size_t n = nsizes ? sizes[k++ % nsizes] : len;
        if (n > len - off) {
            n = len - off;
        }
        ck_assert_int_eq(llmgw_sse_feed(ps, buf + off, n), 0);
        off += n;
    }
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_uint_eq(llmgw_sse_events(ps), (apr_size_t)r->ev->nelts);
    return r;
}

static recorder_t *sse_run(const char *buf)
{
    return sse_run_chunks(buf, strlen(buf), 0, NULL, 0);
}

static recorder_t *sse_run_bytewise(const char *buf, apr_size_t len)
{
    apr_size_t one = 1;
    return sse_run_chunks(buf, len, 0, &one, 1);
}

static recorder_t *sse_run_random(const char *buf, apr_size_t len,
                                  unsigned seed)
{
    apr_size_t sizes[64];
    int i;
    srand(seed);
    for (i = 0; i < 64; i++) {
        sizes[i] = 1 + (apr_size_t)(rand() % 97);
    }
    return sse_run_chunks(buf, len, 0, sizes, 64);
}

/* Feeds buf in two pieces split at cut (each piece possibly empty). */
static recorder_t *sse_run_split(const char *buf, apr_size_t len,
                                 apr_size_t cut)
{
    recorder_t *r = rec_make();
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    ck_assert_int_eq(llmgw_sse_feed(ps, buf, cut), 0);
    ck_assert_int_eq(llmgw_sse_feed(ps, buf + cut, len - cut), 0);
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_uint_eq(llmgw_sse_events(ps), (apr_size_t)r->ev->nelts);
    return r;
}

static void rec_assert_same(const recorder_t *a, const recorder_t *b,
                            const char *what)
{
    int i;
    ck_assert_msg(a->ev->nelts == b->ev->nelts, "%s: %d events, want %d",
                  what, b->ev->nelts, a->ev->nelts);
    for (i = 0; i < a->ev->nelts; i++) {
        const rec_event_t *x = &EV(a, i), *y = &EV(b, i);
        ck_assert_msg((x->event == NULL) == (y->event == NULL)
                      && (!x->event || strcmp(x->event, y->event) == 0),
                      "%s: event %d name '%s' want '%s'", what, i,
                      y->event ? y->event : "(null)",
                      x->event ? x->event : "(null)");
        ck_assert_msg(x->len == y->len && memcmp(x->data, y->data, x->len) == 0,
                      "%s: event %d data '%s' want '%s'", what, i, y->data,
                      x->data);
    }
}

static void ev_is(const recorder_t *r, int i, const char *event,
                  const char *data)
{
    const rec_event_t *e;
    ck_assert_msg(i < r->ev->nelts, "no event %d (have %d)", i, r->ev->nelts);
    e = &EV(r, i);
    if (event) {
        ck_assert_ptr_nonnull(e->event);
        ck_assert_str_eq(e->event, event);
    }
    else {
        ck_assert_msg(e->event == NULL, "event %d has name '%s'", i, e->event);
    }
    ck_assert_str_eq(e->data, data);
}

/* A stream that exercises every feature at once. */
static const char MIXED[] =
    ": comment at the start\n"
    "event: message_start\n"
    "data: {\"a\":1}\n"
    "\n"
    "data:no-space\r\n"
    "\r\n"
    "event: multi\r"
    "data: line1\r"
    "data: line2\r"
    "data:\r"
    "data:  two-spaces\r"
    "\r"
    "\n\n\r\n\r"                     /* blank lines only: nothing */
    "event: ignored-without-data\n"
    "\n"
    "data\n"                         /* field without colon: empty data */
    "id: 7\n"
    "retry: 100\n"
    "unknown: x\n"
    ":comment: data: not data\n"
    "\n"
    "data: a:b:c\r\n"
    "event: late-name\r\n"
    "\r\n"
    "event: last\n"
    "data: [DONE]";                  /* no final blank line */

static void check_mixed(const recorder_t *r)
{
    ck_assert_int_eq(r->ev->nelts, 6);
    ev_is(r, 0, "message_start", "{\"a\":1}");
    ev_is(r, 1, NULL, "no-space");
    ev_is(r, 2, "multi", "line1\nline2\n\n two-spaces");
    ev_is(r, 3, NULL, "");
    ev_is(r, 4, "late-name", "a:b:c");
    ev_is(r, 5, "last", "[DONE]");
}

START_TEST(sse_mixed_whole)
{
    check_mixed(sse_run(MIXED));
}
END_TEST

START_TEST(sse_mixed_every_boundary)
{
    apr_size_t len = strlen(MIXED), cut;
    recorder_t *whole = sse_run(MIXED);
    check_mixed(whole);
    for (cut = 0; cut <= len; cut++) {
        char what[64];
        snprintf(what, sizeof(what), "split at %zu", (size_t)cut);
        rec_assert_same(whole, sse_run_split(MIXED, len, cut), what);
    }
    rec_assert_same(whole, sse_run_bytewise(MIXED, len), "bytewise");
}
END_TEST

START_TEST(sse_mixed_random_chunks)
{
    apr_size_t len = strlen(MIXED);
    recorder_t *whole = sse_run(MIXED);
    unsigned seed;
    for (seed = 1; seed <= 50; seed++) {
        apr_size_t sizes[32];
        int i;
        char what[64];
        srand(seed);
        for (i = 0; i < 32; i++) {
            sizes[i] = 1 + (apr_size_t)(rand() % 9);
        }
        snprintf(what, sizeof(what), "seed %u", seed);
        rec_assert_same(whole, sse_run_chunks(MIXED, len, 0, sizes, 32), what);
    }
}
END_TEST

START_TEST(sse_line_ends)
{
    recorder_t *r;
    r = sse_run("data: lf\n\ndata: crlf\r\n\r\ndata: cr\r\rdata: mix\r\n\n");
    ck_assert_int_eq(r->ev->nelts, 4);
    ev_is(r, 0, NULL, "lf");
    ev_is(r, 1, NULL, "crlf");
    ev_is(r, 2, NULL, "cr");
    ev_is(r, 3, NULL, "mix");
    /* CR, CR LF: two line ends, the second one blank */
    r = sse_run("data: x\r\r\ndata: y\r\n\r\n");
    ck_assert_int_eq(r->ev->nelts, 2);
    ev_is(r, 0, NULL, "x");
    ev_is(r, 1, NULL, "y");
    /* multi-line data with CRLF */
    r = sse_run("data: a\r\ndata: b\r\n\r\n");
    ck_assert_int_eq(r->ev->nelts, 1);
    ev_is(r, 0, NULL, "a\nb");
}
END_TEST

START_TEST(sse_crlf_split_between_feeds)
{
    recorder_t *r = rec_make();
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    ck_assert_int_eq(llmgw_sse_feed(ps, "data: one\r", 10), 0);
    ck_assert_int_eq(r->ev->nelts, 0);
    ck_assert_int_eq(llmgw_sse_feed(ps, "\n", 1), 0);
    ck_assert_int_eq(r->ev->nelts, 0);
    ck_assert_int_eq(llmgw_sse_feed(ps, "\r", 1), 0);
    ck_assert_int_eq(r->ev->nelts, 1);          /* blank line dispatched */
    ev_is(r, 0, NULL, "one");
    ck_assert_int_eq(llmgw_sse_feed(ps, "", 0), 0);   /* empty feed keeps CR */
    ck_assert_int_eq(llmgw_sse_feed(ps, "\ndata: two\r", 11), 0);
    ck_assert_int_eq(r->ev->nelts, 1);          /* that LF was not a blank line */
    ck_assert_int_eq(llmgw_sse_feed(ps, "\n\r\n", 3), 0);
    ck_assert_int_eq(r->ev->nelts, 2);
    ev_is(r, 1, NULL, "two");
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_int_eq(r->ev->nelts, 2);
    ck_assert_uint_eq(llmgw_sse_events(ps), 2);
}
END_TEST

START_TEST(sse_event_names)
{
    recorder_t *r = sse_run("event: ping\ndata: {}\n\n"
                            "data: unnamed\n\n"
                            "event:nospace\ndata: x\n\n"
                            "event: first\nevent: second\ndata: y\n\n");
    ck_assert_int_eq(r->ev->nelts, 4);
    ev_is(r, 0, "ping", "{}");
    ev_is(r, 1, NULL, "unnamed");        /* the name does not leak */
    ev_is(r, 2, "nospace", "x");
    ev_is(r, 3, "second", "y");
    /* a name with no data is forgotten at the blank line */
    r = sse_run("event: lost\n\ndata: z\n\n");
    ck_assert_int_eq(r->ev->nelts, 1);
    ev_is(r, 0, NULL, "z");
}
END_TEST

START_TEST(sse_comments_and_fields)
{
    recorder_t *r = sse_run(": hi\n:\n: data: no\ndata: yes\n: mid\n"
                            "data: more\n\n");
    ck_assert_int_eq(r->ev->nelts, 1);
    ev_is(r, 0, NULL, "yes\nmore");
    /* comments alone make no event */
    r = sse_run(": keep-alive\n\n: keep-alive\n\n");
    ck_assert_int_eq(r->ev->nelts, 0);
    /* "data" with no colon is an empty data line */
    r = sse_run("data\n\ndata\ndata\n\n");
    ck_assert_int_eq(r->ev->nelts, 2);
    ev_is(r, 0, NULL, "");
    ev_is(r, 1, NULL, "\n");
    /* "data:" with and without the space; only one space is removed */
    r = sse_run("data:x\n\ndata: x\n\ndata:  x\n\ndata: \n\n");
    ck_assert_int_eq(r->ev->nelts, 4);
    ev_is(r, 0, NULL, "x");
    ev_is(r, 1, NULL, "x");
    ev_is(r, 2, NULL, " x");
    ev_is(r, 3, NULL, "");
    /* field names are case-sensitive; "datax" is not "data" */
    r = sse_run("Data: no\ndatax: no\nDATA: no\n\n");
    ck_assert_int_eq(r->ev->nelts, 0);
}
END_TEST

START_TEST(sse_last_event_only_on_finish)
{
    recorder_t *r = rec_make();
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    const char *s = "data: 1\n\nevent: end\ndata: 2\n";
    ck_assert_int_eq(llmgw_sse_feed(ps, s, strlen(s)), 0);
    ck_assert_int_eq(r->ev->nelts, 1);
    ck_assert_uint_eq(llmgw_sse_events(ps), 1);
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_int_eq(r->ev->nelts, 2);
    ev_is(r, 1, "end", "2");
    ck_assert_uint_eq(llmgw_sse_events(ps), 2);

    /* no line end at all on the last line */
    r = rec_make();
    ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    ck_assert_int_eq(llmgw_sse_feed(ps, "data: par", 9), 0);
    ck_assert_int_eq(llmgw_sse_feed(ps, "tial", 4), 0);
    ck_assert_int_eq(r->ev->nelts, 0);
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_int_eq(r->ev->nelts, 1);
    ev_is(r, 0, NULL, "partial");

    /* finish with nothing pending dispatches nothing */
    r = rec_make();
    ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    ck_assert_int_eq(llmgw_sse_feed(ps, "data: a\n\n: tail", 15), 0);
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_int_eq(r->ev->nelts, 1);
    ck_assert_uint_eq(llmgw_sse_events(ps), 1);

    /* finish on an empty parser */
    r = rec_make();
    ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_int_eq(r->ev->nelts, 0);
    ck_assert_uint_eq(llmgw_sse_events(ps), 0);
}
END_TEST

START_TEST(sse_empty_events_not_dispatched)
{
    recorder_t *r = sse_run("\n\n\r\n\r\r\n\n");
    ck_assert_int_eq(r->ev->nelts, 0);
    r = sse_run("id: 1\n\nretry: 5\n\nevent: x\n\n");
    ck_assert_int_eq(r->ev->nelts, 0);
}
END_TEST

START_TEST(sse_too_big)
{
    recorder_t *r;
    llmgw_sse_parser_t *ps;
    char big[2048];
    int rv;

    /* one data line over the cap, fed in one piece */
    memset(big, 'x', sizeof(big));
    r = rec_make();
    ps = llmgw_sse_parser_create(pool, 100, rec_cb, r);
    ck_assert_int_eq(llmgw_sse_feed(ps, "data: ", 6), 0);
    ck_assert_int_eq(llmgw_sse_feed(ps, big, 200), LLMGW_SSE_TOO_BIG);
    ck_assert_int_eq(r->ev->nelts, 0);

    /* one line over the cap that ends in the same chunk */
    {
        char *s = apr_pcalloc(pool, 400);
        memcpy(s, "data: ", 6);
        memset(s + 6, 'y', 300);
        memcpy(s + 306, "\n\n", 2);
        r = rec_make();
        ps = llmgw_sse_parser_create(pool, 100, rec_cb, r);
        ck_assert_int_eq(llmgw_sse_feed(ps, s, 308), LLMGW_SSE_TOO_BIG);
        ck_assert_int_eq(r->ev->nelts, 0);
    }

    /* many small lines of one event: the event, not the line, is capped;
     * a cap that is not a power of two is still exact */
    r = rec_make();
    ps = llmgw_sse_parser_create(pool, 300, rec_cb, r);
    rv = 0;
    {
        int i;
        for (i = 0; i < 100 && rv == 0; i++) {
            rv = llmgw_sse_feed(ps, "data: 0123456789\n", 17);
        }
        /* 10 bytes + '\n' a line: the 28th line makes 307 > 300 bytes */
        ck_assert_int_eq(rv, LLMGW_SSE_TOO_BIG);
        ck_assert_int_eq(i, 28);
    }
    ck_assert_int_eq(r->ev->nelts, 0);

    /* exactly at the cap is fine; events below it keep flowing */
    r = rec_make();
    ps = llmgw_sse_parser_create(pool, 100, rec_cb, r);
    {
        char *s = apr_pcalloc(pool, 200);
        int k;
        memcpy(s, "data:", 5);
        memset(s + 5, 'z', 100);
        memcpy(s + 105, "\n\n", 2);
        for (k = 0; k < 5; k++) {
            ck_assert_int_eq(llmgw_sse_feed(ps, s, 107), 0);
        }
        ck_assert_int_eq(r->ev->nelts, 5);
        ck_assert_uint_eq(EV(r, 4).len, 100);
        /* 101 bytes: too big */
        s[104] = 'z';
        s[105] = 'z';
        s[106] = '\n';
        s[107] = '\n';
        ck_assert_int_eq(llmgw_sse_feed(ps, s, 108), LLMGW_SSE_TOO_BIG);
        ck_assert_int_eq(r->ev->nelts, 5);
    }

    /* default cap (0 -> 8 MiB) accepts a large event */
    {
        apr_size_t n = 1024 * 1024;
        char *s = apr_palloc(pool, n + 16);
        memcpy(s, "data: ", 6);
        memset(s + 6, 'q', n);
        memcpy(s + 6 + n, "\n\n", 2);
        r = rec_make();
        ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
        ck_assert_int_eq(llmgw_sse_feed(ps, s, n + 8), 0);
        ck_assert_int_eq(r->ev->nelts, 1);
        ck_assert_uint_eq(EV(r, 0).len, n);
    }
}
END_TEST

START_TEST(sse_callback_stops)
{
    recorder_t *r = rec_make();
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    const char *s = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    r->stop_at = 2;
    r->stop_rv = 42;
    ck_assert_int_eq(llmgw_sse_feed(ps, s, strlen(s)), 42);
    ck_assert_int_eq(r->calls, 2);               /* event 3 not delivered */
    ev_is(r, 1, NULL, "2");

    /* from llmgw_sse_finish too */
    r = rec_make();
    ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    r->stop_at = 1;
    r->stop_rv = -7;
    ck_assert_int_eq(llmgw_sse_feed(ps, "data: last", 10), 0);
    ck_assert_int_eq(llmgw_sse_finish(ps), -7);
    ck_assert_int_eq(r->calls, 1);

    /* a stop from an event completed by a buffered line */
    r = rec_make();
    ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    r->stop_at = 1;
    r->stop_rv = 3;
    ck_assert_int_eq(llmgw_sse_feed(ps, "data: a", 7), 0);
    ck_assert_int_eq(llmgw_sse_feed(ps, "b\n\ndata: c\n\n", 12), 3);
    ck_assert_int_eq(r->calls, 1);
    ev_is(r, 0, NULL, "ab");
}
END_TEST

/* A bare JSON body (no "data:" framing), as Gemini sends an error after a
 * stream started, is delivered as one event. */
static const char RAW[] =
    "data: {\"a\":1}\r\n"
    "\r\n"
    ": keep-alive\n"
    "{\n"
    "  \"error\": {\n"
    "    \"code\": 499,\n"
    "    \"status\": \"CANCELLED\"\n"
    "  }\n"
    "}\n"
    "\n"
    "event: e\n"
    "{not raw}\n"                  /* after an event line: an unknown field */
    "data: y\n"
    "[1]\n"                        /* after a data line: an unknown field */
    "\n"
    "[\r"
    ":inside\r"                    /* a raw body takes every line */
    "data: z\r"
    "]";                           /* and ends at the end of input */

START_TEST(sse_bare_json_body)
{
    apr_size_t len = strlen(RAW), cut;
    recorder_t *r = rec_make(), *whole;
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    json_t *j;

    ck_assert_int_eq(llmgw_sse_feed(ps, RAW, len), 0);
    ck_assert_int_eq(r->ev->nelts, 3);
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_int_eq(r->ev->nelts, 4);
    ev_is(r, 0, NULL, "{\"a\":1}");
    ev_is(r, 1, NULL, "{\n  \"error\": {\n    \"code\": 499,\n"
          "    \"status\": \"CANCELLED\"\n  }\n}");
    j = parse(EV(r, 1).data);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(j, "error"), "code")), 499);
    json_decref(j);
    ev_is(r, 2, "e", "y");
    ev_is(r, 3, NULL, "[\n:inside\ndata: z\n]");

    whole = sse_run(RAW);
    rec_assert_same(r, whole, "whole");
    for (cut = 0; cut <= len; cut++) {
        rec_assert_same(whole, sse_run_split(RAW, len, cut), "split");
    }
    rec_assert_same(whole, sse_run_bytewise(RAW, len), "bytewise");

    /* a bare body alone, no final newline */
    r = sse_run("{\"error\":{\"code\":400}}");
    ck_assert_int_eq(r->ev->nelts, 1);
    ev_is(r, 0, NULL, "{\"error\":{\"code\":400}}");
}
END_TEST

START_TEST(sse_event_counting)
{
    recorder_t *r = rec_make();
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    int i;
    ck_assert_uint_eq(llmgw_sse_events(ps), 0);
    for (i = 1; i <= 10; i++) {
        ck_assert_int_eq(llmgw_sse_feed(ps, "data: x\n\n\n: c\n\n", 15), 0);
        ck_assert_uint_eq(llmgw_sse_events(ps), (apr_size_t)i);
    }
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_uint_eq(llmgw_sse_events(ps), 10);
}
END_TEST

/* ---- recorded fixtures ---- */

static char *slurp(const char *path, apr_size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = apr_palloc(pool, (apr_size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (apr_size_t)n;
    return buf;
}

/* Independent expectation: in the recorded streams every event has exactly
 * one data line, so the events are the lines that start with "data:"
 * (split at CR LF, CR or LF), their payload after one optional space.
 * A bare JSON body (a line opening with '{' or '[' before any data or event
 * line of a block) is one event: the rest of the block, lines joined by
 * '\n' (Gemini's error after a stream started). */
static apr_array_header_t *expected_data_lines(const char *buf, apr_size_t len)
{
    apr_array_header_t *a = apr_array_make(pool, 16, sizeof(const char *));
    apr_size_t i = 0;
    int fields = 0;                 /* data/event lines in this block */
    char *raw = NULL;               /* bare JSON body being collected */
    while (i <= len) {
        apr_size_t s = i, e;
        if (i == len) {             /* end of input ends the block */
            if (raw) {
                APR_ARRAY_PUSH(a, const char *) = raw;
            }
            break;
        }
        while (i < len && buf[i] != '\r' && buf[i] != '\n') {
            i++;
        }
        e = i;
        if (i < len && buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') {
            i += 2;
        }
        else if (i < len) {
            i++;
        }
        if (e == s) {               /* blank line */
            if (raw) {
                APR_ARRAY_PUSH(a, const char *) = raw;
            }
            raw = NULL;
            fields = 0;
        }
        else if (raw) {
            raw = apr_pstrcat(pool, raw, "\n",
                              apr_pstrmemdup(pool, buf + s, e - s), NULL);
        }
        else if (!fields && (buf[s] == '{' || buf[s] == '[')) {
            raw = apr_pstrmemdup(pool, buf + s, e - s);
        }
        else if (e - s >= 5 && strncmp(buf + s, "data:", 5) == 0) {
            fields++;
            s += 5;
            if (s < e && buf[s] == ' ') {
                s++;
            }
            APR_ARRAY_PUSH(a, const char *) = apr_pstrmemdup(pool, buf + s,
                                                             e - s);
        }
        else if (e - s >= 6 && strncmp(buf + s, "event:", 6) == 0) {
            fields++;
        }
    }
    return a;
}

static int fixture_files(const char *pattern, int min_files,
                         int *total_events)
{
    glob_t g;
    size_t f;
    const char *pat = apr_pstrcat(pool, LLMGW_SHARED_DIR, "/fixtures/",
                                  pattern, NULL);
    ck_assert_msg(glob(pat, 0, NULL, &g) == 0, "no files match %s", pat);
    ck_assert_msg((int)g.gl_pathc >= min_files, "%s: %zu files", pat,
                  g.gl_pathc);
    for (f = 0; f < g.gl_pathc; f++) {
        const char *path = g.gl_pathv[f];
        apr_size_t len;
        char *buf = slurp(path, &len);
        apr_array_header_t *want = expected_data_lines(buf, len);
        recorder_t *whole = sse_run_chunks(buf, len, 0, NULL, 0);
        int i;
        unsigned seed;

        ck_assert_msg(whole->ev->nelts == want->nelts, "%s: %d events, want %d",
                      path, whole->ev->nelts, want->nelts);
        for (i = 0; i < want->nelts; i++) {
            const char *w = APR_ARRAY_IDX(want, i, const char *);
            const rec_event_t *e = &EV(whole, i);
            ck_assert_msg(strcmp(e->data, w) == 0, "%s: event %d data differs",
                          path, i);
            if (strcmp(e->data, "[DONE]") != 0) {
                json_error_t je;
                json_t *j = json_loadb(e->data, e->len, 0, &je);
                ck_assert_msg(j != NULL, "%s: event %d not JSON: %s", path, i,
                              je.text);
                json_decref(j);
            }
        }
        rec_assert_same(whole, sse_run_bytewise(buf, len), path);
        for (seed = 1; seed <= 5; seed++) {
            rec_assert_same(whole, sse_run_random(buf, len, seed), path);
        }
        *total_events += whole->ev->nelts;
    }
    globfree(&g);
    return (int)f;
}

START_TEST(sse_fixtures_openai)
{
    int total = 0;
    fixture_files("openai/*.sse", 10, &total);
    ck_assert_int_gt(total, 100);
    /* each openai stream ends with [DONE] */
    {
        apr_size_t len;
        char *buf = slurp(apr_pstrcat(pool, LLMGW_SHARED_DIR,
                                      "/fixtures/openai/test_parse_nothing.sse",
                                      NULL), &len);
        recorder_t *r = sse_run_chunks(buf, len, 0, NULL, 0);
        ck_assert_int_gt(r->ev->nelts, 2);
        ck_assert_str_eq(EV(r, r->ev->nelts - 1).data, "[DONE]");
        ck_assert_ptr_null(EV(r, 0).event);
    }
}
END_TEST

START_TEST(sse_fixtures_anthropic)
{
    int total = 0;
    apr_size_t len;
    char *buf;
    recorder_t *r;
    llmgw_sse_parser_t *ps;
    int n;

    fixture_files("anthropic/*.txt", 5, &total);
    ck_assert_int_gt(total, 20);

    /* names come through, and the last event (no final blank line) only
     * arrives with llmgw_sse_finish */
    buf = slurp(apr_pstrcat(pool, LLMGW_SHARED_DIR,
                            "/fixtures/anthropic/basic_response.txt", NULL),
                &len);
    r = rec_make();
    ps = llmgw_sse_parser_create(pool, 0, rec_cb, r);
    ck_assert_int_eq(llmgw_sse_feed(ps, buf, len), 0);
    n = r->ev->nelts;
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_int_eq(r->ev->nelts, n + 1);
    ev_is(r, 0, "message_start", EV(r, 0).data);
    ck_assert_str_eq(EV(r, r->ev->nelts - 1).event, "message_stop");
    {
        int i, pings = 0;
        for (i = 0; i < r->ev->nelts; i++) {
            json_t *j = parse(EV(r, i).data);
            ck_assert_ptr_nonnull(EV(r, i).event);
            /* the event name matches the payload's type */
            ck_assert_str_eq(EV(r, i).event,
                             json_string_value(json_object_get(j, "type")));
            pings += strcmp(EV(r, i).event, "ping") == 0;
            json_decref(j);
        }
        ck_assert_int_eq(pings, 1);
    }
}
END_TEST

START_TEST(sse_fixtures_gemini)
{
    int total = 0;
    fixture_files("gemini/*/streaming-*.txt", 30, &total);
    ck_assert_int_gt(total, 100);
}
END_TEST

/* The same recorded stream converted to CRLF and to CR line ends. */
START_TEST(sse_fixture_line_end_variants)
{
    apr_size_t len, i, n;
    char *buf = slurp(apr_pstrcat(pool, LLMGW_SHARED_DIR,
                                  "/fixtures/anthropic/tool_use_response.txt",
                                  NULL), &len);
    char *crlf = apr_palloc(pool, 2 * len + 1), *cr = apr_pstrdup(pool, buf);
    recorder_t *a, *b, *c;
    for (i = 0, n = 0; i < len; i++) {
        if (buf[i] == '\n') {
            crlf[n++] = '\r';
        }
        crlf[n++] = buf[i];
        if (cr[i] == '\n') {
            cr[i] = '\r';
        }
    }
    a = sse_run_chunks(buf, len, 0, NULL, 0);
    ck_assert_int_gt(a->ev->nelts, 5);
    b = sse_run_bytewise(crlf, n);
    c = sse_run_bytewise(cr, len);
    rec_assert_same(a, b, "CRLF");
    rec_assert_same(a, c, "CR");
    for (i = 1; i <= 5; i++) {
        rec_assert_same(a, sse_run_random(crlf, n, (unsigned)i), "CRLF random");
        rec_assert_same(a, sse_run_random(cr, len, (unsigned)i), "CR random");
    }
}
END_TEST

/* ================================================================== */
/* endpoint from path                                                  */
/* ================================================================== */

START_TEST(endpoint_paths)
{
    const char *name = "x";
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/chat/completions", &name),
                     LLMGW_EP_CHAT);
    ck_assert_str_eq(name, "chat/completions");
    ck_assert_int_eq(llmgw_endpoint_from_path("/api/v1/chat/completions",
                                              &name), LLMGW_EP_CHAT);
    ck_assert_str_eq(name, "chat/completions");
    ck_assert_int_eq(llmgw_endpoint_from_path("/llm/v1/embeddings", &name),
                     LLMGW_EP_EMBEDDINGS);
    ck_assert_str_eq(name, "embeddings");
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/chat/completions/", &name),
                     LLMGW_EP_CHAT);
    ck_assert_str_eq(name, "chat/completions");
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/embeddings//", &name),
                     LLMGW_EP_EMBEDDINGS);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/models", &name),
                     LLMGW_EP_MODELS);
    ck_assert_str_eq(name, "models");
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/models/", &name),
                     LLMGW_EP_MODELS);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/images/generations",
                                              &name), LLMGW_EP_IMAGES);
    ck_assert_str_eq(name, "images/generations");

    name = "x";
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/chat/completionsX", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_ptr_null(name);
    name = "x";
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/completions", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_ptr_null(name);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/xchat/completions", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/chat", &name),
                     LLMGW_EP_UNKNOWN);
    /* models/{id}: the id may hold a slash, raw or as %2F */
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/models/gpt-4o", &name),
                     LLMGW_EP_MODELS);
    ck_assert_str_eq(name, "models");
    ck_assert_str_eq(llmgw_model_id_from_path(pool, "/v1/models/gpt-4o"),
                     "gpt-4o");
    ck_assert_str_eq(llmgw_model_id_from_path(pool,
                     "/api/v1/models/openai%2Fgpt-4o-mini/"), "openai/gpt-4o-mini");
    ck_assert_str_eq(llmgw_model_id_from_path(pool,
                     "/v1/models/openrouter/meta-llama%2fx"), "openrouter/meta-llama/x");
    ck_assert_ptr_null(llmgw_model_id_from_path(pool, "/v1/models"));
    ck_assert_ptr_null(llmgw_model_id_from_path(pool, "/v1/models/"));
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/embeddingsz", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path("/v1/", &name),
                     LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path("/", &name), LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path("", &name), LLMGW_EP_UNKNOWN);
    ck_assert_int_eq(llmgw_endpoint_from_path(NULL, &name), LLMGW_EP_UNKNOWN);
    ck_assert_ptr_null(name);
}
END_TEST

/* ================================================================== */
/* request parsing                                                     */
/* ================================================================== */

#define CHAT_MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

/* Expects a 400 naming param (NULL: param must be NULL). */
static void bad(llmgw_endpoint_e ep, const char *txt, const char *want_param)
{
    json_t *b = parse(txt);
    llmgw_parsed_t out;
    const char *err = NULL, *param = "unset";
    int rv = llmgw_parse_request(b, ep, strlen(txt), &out, &err, &param);
    ck_assert_msg(rv == 400, "%s: rv %d, want 400", txt, rv);
    ck_assert_msg(err != NULL && *err, "%s: no error message", txt);
    if (want_param) {
        ck_assert_msg(param != NULL && strcmp(param, want_param) == 0,
                      "%s: param '%s', want '%s'", txt,
                      param ? param : "(null)", want_param);
    }
    else {
        ck_assert_msg(param == NULL, "%s: param '%s', want null", txt, param);
    }
    ck_assert_ptr_null(out.models);       /* nothing leaked on failure */
    json_decref(b);
}

/* Parses a good body; the caller json_decref()s *body and out->models. */
static void good(llmgw_endpoint_e ep, const char *txt, json_t **body,
                 llmgw_parsed_t *out)
{
    const char *err = NULL, *param = NULL;
    int rv;
    *body = parse(txt);
    rv = llmgw_parse_request(*body, ep, strlen(txt), out, &err, &param);
    ck_assert_msg(rv == 0, "%s: rv %d (%s, param %s)", txt, rv,
                  err ? err : "", param ? param : "(null)");
}

START_TEST(parse_bad_requests)
{
    /* body not an object */
    bad(LLMGW_EP_CHAT, "[]", NULL);
    bad(LLMGW_EP_CHAT, "\"x\"", NULL);
    bad(LLMGW_EP_CHAT, "null", NULL);
    bad(LLMGW_EP_CHAT, "42", NULL);
    /* model */
    bad(LLMGW_EP_CHAT, "{" CHAT_MSGS "}", "model");
    bad(LLMGW_EP_CHAT, "{\"model\":null," CHAT_MSGS "}", "model");
    bad(LLMGW_EP_CHAT, "{\"model\":42," CHAT_MSGS "}", "model");
    bad(LLMGW_EP_CHAT, "{\"model\":[\"a\"]," CHAT_MSGS "}", "model");
    bad(LLMGW_EP_CHAT, "{\"model\":{}," CHAT_MSGS "}", "model");
    bad(LLMGW_EP_CHAT, "{\"model\":true,\"models\":[\"a\"]," CHAT_MSGS "}",
        "model");
    bad(LLMGW_EP_EMBEDDINGS, "{\"input\":\"x\"}", "model");
    /* messages */
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[]}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":{}}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":\"hi\"}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":null}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[\"hi\"]}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[null]}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"},"
        "[]]}", "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}",
        "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":1}]}",
        "messages");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":null}]}",
        "messages");
    /* models fallback list with a missing model, also fails on messages */
    bad(LLMGW_EP_CHAT, "{\"models\":[\"a\",\"b\"]}", "messages");
    /* stream, stream_options */
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":1}", "stream");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":\"true\"}",
        "stream");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":true,"
        "\"stream_options\":true}", "stream_options");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream_options\":[]}",
        "stream_options");
    /* max tokens */
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"max_tokens\":-1}",
        "max_tokens");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"max_tokens\":1.5}",
        "max_tokens");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"max_tokens\":\"10\"}",
        "max_tokens");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"max_tokens\":true}",
        "max_tokens");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS
        ",\"max_completion_tokens\":-5}", "max_completion_tokens");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS
        ",\"max_completion_tokens\":\"x\",\"max_tokens\":10}",
        "max_completion_tokens");
    /* embeddings input */
    bad(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\"}", "input");
    bad(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":[]}", "input");
    bad(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":null}", "input");
    bad(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":42}", "input");
    /* images prompt */
    bad(LLMGW_EP_IMAGES, "{\"model\":\"i\"}", "prompt");
    bad(LLMGW_EP_IMAGES, "{\"model\":\"i\",\"prompt\":[\"x\"]}", "prompt");
    bad(LLMGW_EP_IMAGES, "{\"model\":\"i\",\"prompt\":7}", "prompt");
    /* gateway fields */
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"provider\":1}",
        "provider");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"provider\":[\"a\"]}",
        "provider");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"provider_key\":{}}",
        "provider_key");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"provider_key\":false}",
        "provider_key");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"models\":\"a\"}",
        "models");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"models\":[]}",
        "models");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"models\":[\"a\",1]}",
        "models");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"models\":[null]}",
        "models");
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"models\":{}}",
        "models");
    bad(LLMGW_EP_CHAT, "{" CHAT_MSGS ",\"models\":[]}", "models");
    /* failures after `models` was taken do not leak it (ASan checks) */
    bad(LLMGW_EP_CHAT, "{\"models\":[\"a\"]," CHAT_MSGS ",\"stream\":3}",
        "stream");
    bad(LLMGW_EP_CHAT, "{\"models\":[\"a\"]," CHAT_MSGS ",\"max_tokens\":-3}",
        "max_tokens");
}
END_TEST

/* HardCarrx's older names llm_provider / llm_api_key: aliases of provider
 * and provider_key, flagged for a Deprecation header, stripped like them;
 * and which `model` the fallbacks start after. */
START_TEST(parse_legacy_fields_and_fallbacks)
{
    json_t *b;
    llmgw_parsed_t o;
    llmgw_parsed_t t;

    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"llm_provider\":\"or\","
         "\"llm_api_key\":\"sk-old\"}", &b, &o);
    ck_assert_str_eq(o.provider, "or");
    ck_assert_str_eq(o.provider_key, "sk-old");
    ck_assert_int_eq(o.legacy_fields, 1);
    ck_assert_int_eq(llmgw_strip_gateway_fields(b), 2);
    ck_assert_ptr_null(json_object_get(b, "llm_api_key"));
    ck_assert_ptr_null(json_object_get(b, "llm_provider"));
    json_decref(b);
    /* the new names win over the old ones */
    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"provider\":\"new\","
         "\"llm_provider\":\"old\"}", &b, &o);
    ck_assert_str_eq(o.provider, "new");
    ck_assert_int_eq(o.legacy_fields, 0);
    json_decref(b);
    bad(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"llm_api_key\":1}",
        "llm_api_key");
    /* never the text fast path: the fields must be stripped */
    ck_assert_int_eq(llmgw_parse_request_text(pool,
        "{\"model\":\"m\"," CHAT_MSGS ",\"llm_api_key\":\"k\"}",
        strlen("{\"model\":\"m\"," CHAT_MSGS ",\"llm_api_key\":\"k\"}"),
        LLMGW_EP_CHAT, &t), 0);

    good(LLMGW_EP_CHAT, "{\"model\":\"a\",\"models\":[\"b\"]," CHAT_MSGS "}",
         &b, &o);
    ck_assert_str_eq(o.model, "a");
    ck_assert_int_eq(o.model_from_models, 0);   /* b is a fallback */
    json_decref(o.models);
    json_decref(b);
    good(LLMGW_EP_CHAT, "{\"models\":[\"b\",\"c\"]," CHAT_MSGS "}", &b, &o);
    ck_assert_str_eq(o.model, "b");
    ck_assert_int_eq(o.model_from_models, 1);   /* c is the fallback */
    json_decref(o.models);
    json_decref(b);
    /* "m\u0000x" is valid JSON but no model name */
    {
        json_error_t je;
        const char *txt = "{\"model\":\"m\\u0000x\"," CHAT_MSGS "}";
        const char *err, *param;
        b = json_loads(txt, JSON_ALLOW_NUL, &je);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(llmgw_parse_request(b, LLMGW_EP_CHAT, strlen(txt), &o,
                                             &err, &param), 400);
        ck_assert_str_eq(param, "model");
        json_decref(b);
    }
}
END_TEST

START_TEST(parse_good_chat)
{
    json_t *b;
    llmgw_parsed_t o;
    const char *txt;

    txt = "{\"model\":\"openai/gpt-4o\"," CHAT_MSGS "}";
    good(LLMGW_EP_CHAT, txt, &b, &o);
    ck_assert_str_eq(o.model, "openai/gpt-4o");
    ck_assert_int_eq(o.stream, 0);
    ck_assert_int_eq(o.include_usage, 0);
    ck_assert_int_eq(o.max_tokens, -1);
    ck_assert_ptr_null(o.provider);
    ck_assert_ptr_null(o.provider_key);
    ck_assert_ptr_null(o.models);
    ck_assert_int_eq(o.prompt_estimate, (apr_int64_t)((strlen(txt) + 3) / 4));
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":true,"
         "\"stream_options\":{\"include_usage\":true},\"max_tokens\":100,"
         "\"max_completion_tokens\":50,\"provider\":\"anthropic\","
         "\"provider_key\":\"sk-x\"}", &b, &o);
    ck_assert_int_eq(o.stream, 1);
    ck_assert_int_eq(o.include_usage, 1);
    ck_assert_int_eq(o.max_tokens, 50);              /* preferred */
    ck_assert_str_eq(o.provider, "anthropic");
    ck_assert_str_eq(o.provider_key, "sk-x");
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":false,"
         "\"stream_options\":{\"include_usage\":false},\"max_tokens\":0,"
         "\"max_completion_tokens\":null,\"provider\":null,"
         "\"provider_key\":null,\"models\":null}", &b, &o);
    ck_assert_int_eq(o.stream, 0);
    ck_assert_int_eq(o.include_usage, 0);
    ck_assert_int_eq(o.max_tokens, 0);
    ck_assert_ptr_null(o.provider);
    ck_assert_ptr_null(o.provider_key);
    ck_assert_ptr_null(o.models);
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":null,"
         "\"stream_options\":null,\"max_tokens\":null}", &b, &o);
    ck_assert_int_eq(o.stream, 0);
    ck_assert_int_eq(o.max_tokens, -1);
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":\"m\"," CHAT_MSGS ",\"stream\":true,"
         "\"stream_options\":{},\"max_tokens\":4096}", &b, &o);
    ck_assert_int_eq(o.stream, 1);
    ck_assert_int_eq(o.include_usage, 0);
    ck_assert_int_eq(o.max_tokens, 4096);
    json_decref(b);

    /* models: the list is kept, and the first names the model when absent */
    good(LLMGW_EP_CHAT, "{\"models\":[\"a/x\",\"b/y\"]," CHAT_MSGS "}", &b, &o);
    ck_assert_str_eq(o.model, "a/x");
    ck_assert_ptr_nonnull(o.models);
    ck_assert_uint_eq(json_array_size(o.models), 2);
    ck_assert_str_eq(json_string_value(json_array_get(o.models, 1)), "b/y");
    json_decref(o.models);
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":null,\"models\":[\"c/z\"]," CHAT_MSGS "}",
         &b, &o);
    ck_assert_str_eq(o.model, "c/z");
    json_decref(o.models);
    json_decref(b);

    good(LLMGW_EP_CHAT, "{\"model\":\"main\",\"models\":[\"c/z\"]," CHAT_MSGS
         "}", &b, &o);
    ck_assert_str_eq(o.model, "main");
    ck_assert_uint_eq(json_array_size(o.models), 1);
    json_decref(o.models);
    json_decref(b);

    /* an empty body still estimates to 0 */
    good(LLMGW_EP_MODELS, "{\"model\":\"m\"}", &b, &o);
    json_decref(b);
    {
        const char *err, *param;
        b = parse("{\"model\":\"m\"}");
        ck_assert_int_eq(llmgw_parse_request(b, LLMGW_EP_MODELS, 0, &o, &err,
                                             &param), 0);
        ck_assert_int_eq(o.prompt_estimate, 0);
        ck_assert_int_eq(llmgw_parse_request(b, LLMGW_EP_MODELS, 4000, &o,
                                             &err, &param), 0);
        ck_assert_int_eq(o.prompt_estimate, 1000);
        ck_assert_int_eq(llmgw_parse_request(b, LLMGW_EP_MODELS, 4001, &o,
                                             &err, &param), 0);
        ck_assert_int_eq(o.prompt_estimate, 1001);
        json_decref(b);
    }
}
END_TEST

START_TEST(parse_good_other_endpoints)
{
    json_t *b;
    llmgw_parsed_t o;
    good(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":\"hello\"}", &b, &o);
    ck_assert_str_eq(o.model, "e");
    ck_assert_int_eq(o.max_tokens, -1);
    json_decref(b);
    good(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":[\"a\",\"b\"]}", &b,
         &o);
    json_decref(b);
    good(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":[[1,2,3]]}", &b, &o);
    json_decref(b);
    good(LLMGW_EP_IMAGES, "{\"model\":\"dall-e-3\",\"prompt\":\"a cat\"}", &b,
         &o);
    ck_assert_str_eq(o.model, "dall-e-3");
    json_decref(b);
    /* chat checks do not apply to embeddings */
    good(LLMGW_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":\"x\","
         "\"messages\":[]}", &b, &o);
    json_decref(b);
}
END_TEST

START_TEST(parse_strip_gateway_fields)
{
    json_t *b = parse("{\"model\":\"m\",\"provider\":\"p\",\"provider_key\":\"k\","
                      "\"models\":[\"a\"],\"messages\":[],\"stream\":true,"
                      "\"user\":\"u\",\"providers\":1}");
    ck_assert_int_eq(llmgw_strip_gateway_fields(b), 3);
    {
        json_t *want = parse("{\"model\":\"m\",\"messages\":[],\"stream\":true,"
                             "\"user\":\"u\",\"providers\":1}");
        ck_assert(json_equal(b, want));
        json_decref(want);
    }
    ck_assert_int_eq(llmgw_strip_gateway_fields(b), 0);
    json_decref(b);

    b = parse("{\"model\":\"m\",\"provider_key\":null}");
    ck_assert_int_eq(llmgw_strip_gateway_fields(b), 1);
    ck_assert_uint_eq(json_object_size(b), 1);
    ck_assert_ptr_nonnull(json_object_get(b, "model"));
    json_decref(b);
}
END_TEST

START_TEST(parse_usage)
{
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    json_t *j;

    j = parse("{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":11,"
              "\"completion_tokens\":7,\"total_tokens\":18}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.prompt_tokens, 11);
    ck_assert_int_eq(u.completion_tokens, 7);
    ck_assert_int_eq(u.total_tokens, 18);
    ck_assert_int_eq(u.cached_tokens, -1);
    json_decref(j);

    /* a chunk with usage: null leaves u alone */
    {
        llmgw_usage_t v = LLMGW_USAGE_INIT;
        j = parse("{\"object\":\"chat.completion.chunk\",\"choices\":[],"
                  "\"usage\":null}");
        ck_assert_int_eq(llmgw_usage_from_json(j, &v), 0);
        ck_assert_int_eq(v.prompt_tokens, -1);
        ck_assert_int_eq(v.completion_tokens, -1);
        ck_assert_int_eq(v.total_tokens, -1);
        json_decref(j);
        j = parse("{\"object\":\"chat.completion.chunk\",\"choices\":[]}");
        ck_assert_int_eq(llmgw_usage_from_json(j, &v), 0);
        json_decref(j);
        j = parse("[1]");
        ck_assert_int_eq(llmgw_usage_from_json(j, &v), 0);
        json_decref(j);
    }

    /* the final usage chunk of a stream */
    j = parse("{\"object\":\"chat.completion.chunk\",\"choices\":[],"
              "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,"
              "\"total_tokens\":8,\"prompt_tokens_details\":"
              "{\"cached_tokens\":2},\"completion_tokens_details\":"
              "{\"reasoning_tokens\":0}}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.prompt_tokens, 5);
    ck_assert_int_eq(u.completion_tokens, 3);
    ck_assert_int_eq(u.total_tokens, 8);
    ck_assert_int_eq(u.cached_tokens, 2);
    json_decref(j);

    /* embeddings: no completion_tokens */
    j = parse("{\"object\":\"list\",\"data\":[],\"usage\":{\"prompt_tokens\":9,"
              "\"total_tokens\":9}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.prompt_tokens, 9);
    ck_assert_int_eq(u.completion_tokens, 0);
    ck_assert_int_eq(u.total_tokens, 9);
    ck_assert_int_eq(u.cached_tokens, -1);
    json_decref(j);

    /* total computed when missing */
    j = parse("{\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.total_tokens, 10);
    json_decref(j);

    /* an empty usage object: all unknown */
    j = parse("{\"usage\":{}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.prompt_tokens, -1);
    ck_assert_int_eq(u.completion_tokens, -1);
    ck_assert_int_eq(u.total_tokens, -1);
    ck_assert_int_eq(u.cached_tokens, -1);
    json_decref(j);

    /* cached_tokens 0 is kept as 0 */
    j = parse("{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,"
              "\"total_tokens\":2,\"prompt_tokens_details\":"
              "{\"cached_tokens\":0}}}");
    ck_assert_int_eq(llmgw_usage_from_json(j, &u), 1);
    ck_assert_int_eq(u.cached_tokens, 0);
    json_decref(j);
}
END_TEST

/* Every usage chunk of the recorded OpenAI streams. */
START_TEST(parse_usage_fixtures)
{
    apr_size_t len;
    char *buf = slurp(apr_pstrcat(pool, LLMGW_SHARED_DIR,
                                  "/fixtures/openai/test_parse_nothing.sse",
                                  NULL), &len);
    recorder_t *r = sse_run_chunks(buf, len, 0, NULL, 0);
    int i, found = 0;
    for (i = 0; i < r->ev->nelts; i++) {
        llmgw_usage_t u = LLMGW_USAGE_INIT;
        json_t *j;
        if (strcmp(EV(r, i).data, "[DONE]") == 0) {
            continue;
        }
        j = parse(EV(r, i).data);
        if (llmgw_usage_from_json(j, &u)) {
            const json_t *us = json_object_get(j, "usage");
            found++;
            ck_assert_int_eq(u.prompt_tokens, json_integer_value(
                                 json_object_get(us, "prompt_tokens")));
            ck_assert_int_gt(u.completion_tokens, 0);
            ck_assert_int_eq(u.total_tokens,
                             u.prompt_tokens + u.completion_tokens);
        }
        json_decref(j);
    }
    ck_assert_int_eq(found, 1);
}
END_TEST

/* ================================================================== */
/* routing                                                             */
/* ================================================================== */

static llmgw_provider_t *prov(const char *name)
{
    llmgw_provider_t *p = apr_pcalloc(pool, sizeof(*p));
    p->name = apr_pstrdup(pool, name);
    p->type = LLMGW_PT_OPENAI;
    p->base_url = apr_psprintf(pool, "https://%s.example", name);
    return p;
}

static void add_prov(llmgw_route_table_t *t, llmgw_provider_t *p)
{
    apr_hash_set(t->providers, p->name, APR_HASH_KEY_STRING, p);
    APR_ARRAY_PUSH(t->order, llmgw_provider_t *) = p;
}

static llmgw_route_table_t *table(void)
{
    llmgw_route_table_t *t = llmgw_route_table_make(pool);
    add_prov(t, prov("openai"));
    add_prov(t, prov("anthropic"));
    add_prov(t, prov("openrouter"));
    add_prov(t, prov("mock"));
    apr_hash_set(t->aliases, "fast", APR_HASH_KEY_STRING, "openai/gpt-4o-mini");
    apr_hash_set(t->aliases, "smart", APR_HASH_KEY_STRING,
                 "anthropic/claude-sonnet-4");
    apr_hash_set(t->aliases, "broken", APR_HASH_KEY_STRING, "nobody/x");
    return t;
}

static void route_ok(const llmgw_route_table_t *t, const char *model,
                     const char *field, const char *def,
                     const char *want_prov, const char *want_model)
{
    llmgw_route_t r;
    const char *err = NULL, *code = "unset";
    int rv = llmgw_route_resolve(pool, t, model, field, def, &r, &err, &code);
    ck_assert_msg(rv == 0, "%s: rv %d (%s)", model, rv, err ? err : "");
    ck_assert_msg(code == NULL, "%s: code set on success", model);
    ck_assert_ptr_nonnull(r.provider);
    ck_assert_str_eq(r.provider->name, want_prov);
    ck_assert_str_eq(r.model, want_model);
}

static void route_err(const llmgw_route_table_t *t, const char *model,
                      const char *field, const char *def, int want_rv,
                      const char *want_code)
{
    llmgw_route_t r;
    const char *err = NULL, *code = NULL;
    int rv = llmgw_route_resolve(pool, t, model, field, def, &r, &err, &code);
    ck_assert_msg(rv == want_rv, "%s: rv %d, want %d", model ? model : "(null)",
                  rv, want_rv);
    ck_assert_msg(err != NULL && *err, "%s: no message", model);
    ck_assert_msg(code != NULL && strcmp(code, want_code) == 0,
                  "%s: code '%s', want '%s'", model ? model : "(null)",
                  code ? code : "(null)", want_code);
}

START_TEST(route_provider_prefix)
{
    llmgw_route_table_t *t = table();
    route_ok(t, "openai/gpt-4o", NULL, NULL, "openai", "gpt-4o");
    route_ok(t, "anthropic/claude-sonnet-4", NULL, "openai", "anthropic",
             "claude-sonnet-4");
    /* only the first slash splits */
    route_ok(t, "openrouter/meta-llama/x", NULL, NULL, "openrouter",
             "meta-llama/x");
    route_ok(t, "openrouter/a/b/c", NULL, "openai", "openrouter", "a/b/c");
    /* an explicit provider field wins; the model goes upstream verbatim
     * (the HardCarrx quickstart: OpenRouter's own "openai/..." ids) */
    route_ok(t, "openai/gpt-4.1-mini", "openrouter", NULL, "openrouter",
             "openai/gpt-4.1-mini");
    route_ok(t, "openai/gpt-4o", "anthropic", NULL, "anthropic",
             "openai/gpt-4o");
    /* a prefix that is not a provider, no field: 400 (no default fallback) */
    route_err(t, "meta-llama/x", NULL, NULL, 400, "provider_not_found");
    route_err(t, "meta-llama/x", NULL, "openai", 400, "provider_not_found");
    route_err(t, "opena/gpt-4o", NULL, "openai", 400, "provider_not_found");
    /* with the field, the whole model goes to that provider */
    route_ok(t, "meta-llama/x", "openrouter", NULL, "openrouter",
             "meta-llama/x");
    route_ok(t, "meta-llama/x/y", "openrouter", "openai", "openrouter",
             "meta-llama/x/y");
    /* unknown provider field */
    route_err(t, "gpt-4o", "nope", "openai", 400, "provider_not_found");
    route_err(t, "meta-llama/x", "nope", NULL, 400, "provider_not_found");
    /* a provider name must match exactly */
    route_err(t, "OpenAI/gpt-4o", NULL, NULL, 400, "provider_not_found");
}
END_TEST

START_TEST(route_plain_and_default)
{
    llmgw_route_table_t *t = table();
    route_ok(t, "gpt-4o", NULL, "openai", "openai", "gpt-4o");
    route_ok(t, "gpt-4o", "anthropic", "openai", "anthropic", "gpt-4o");
    route_ok(t, "claude-x", "anthropic", NULL, "anthropic", "claude-x");
    route_err(t, "gpt-4o", NULL, NULL, 404, "model_not_found");
    /* a default that names no configured provider */
    route_err(t, "gpt-4o", NULL, "ghost", 404, "model_not_found");
}
END_TEST

START_TEST(route_aliases)
{
    llmgw_route_table_t *t = table();
    route_ok(t, "fast", NULL, NULL, "openai", "gpt-4o-mini");
    route_ok(t, "smart", NULL, "openai", "anthropic", "claude-sonnet-4");
    /* with a provider field the name is that provider's model */
    route_ok(t, "smart", "openai", NULL, "openai", "smart");
    route_err(t, "broken", NULL, NULL, 400, "provider_not_found");
    /* not an alias: plain model */
    route_ok(t, "faster", NULL, "mock", "mock", "faster");
}
END_TEST

START_TEST(route_invalid_models)
{
    llmgw_route_table_t *t = table();
    char *longm;
    route_err(t, "mock/", NULL, NULL, 400, "invalid_model");
    route_ok(t, "mock/", "openai", "openai", "openai", "mock/");
    route_err(t, "", NULL, "openai", 400, "invalid_model");
    route_err(t, NULL, NULL, "openai", 400, "invalid_model");
    route_err(t, "gpt 4o", NULL, "openai", 400, "invalid_model");
    route_err(t, " gpt-4o", NULL, "openai", 400, "invalid_model");
    route_err(t, "openai/gpt-4o ", NULL, NULL, 400, "invalid_model");
    route_err(t, "gpt-4o\r\nX-Evil: 1", NULL, "openai", 400, "invalid_model");
    route_err(t, "gpt-4o\n", NULL, "openai", 400, "invalid_model");
    route_err(t, "gpt\t4o", NULL, "openai", 400, "invalid_model");
    route_err(t, "gpt\x01", NULL, "openai", 400, "invalid_model");
    route_err(t, "gpt\x7f", NULL, "openai", 400, "invalid_model");
    route_err(t, "mod\xc3\xa8le", NULL, "openai", 400, "invalid_model");
    route_err(t, "\xff", NULL, "openai", 400, "invalid_model");

    longm = apr_palloc(pool, 300);
    memset(longm, 'a', 299);
    longm[299] = '\0';
    route_err(t, longm, NULL, "openai", 400, "invalid_model");
    longm[257] = '\0';
    route_err(t, longm, NULL, "openai", 400, "invalid_model");
    ck_assert_int_eq(llmgw_model_name_ok(longm), 0);
    longm[256] = '\0';
    ck_assert_int_eq(llmgw_model_name_ok(longm), 1);
    route_ok(t, longm, NULL, "openai", "openai", longm);

    ck_assert_int_eq(llmgw_model_name_ok("a"), 1);
    ck_assert_int_eq(llmgw_model_name_ok("!~"), 1);
    ck_assert_int_eq(llmgw_model_name_ok("models/gemini-2.5-flash:latest"), 1);
    ck_assert_int_eq(llmgw_model_name_ok(""), 0);
    ck_assert_int_eq(llmgw_model_name_ok(NULL), 0);
    ck_assert_int_eq(llmgw_model_name_ok("a b"), 0);
}
END_TEST

START_TEST(route_table_merge)
{
    llmgw_route_table_t *base = llmgw_route_table_make(pool);
    llmgw_route_table_t *vh = llmgw_route_table_make(pool);
    llmgw_route_table_t *m;
    llmgw_provider_t *b_openai = prov("openai"), *b_anth = prov("anthropic");
    llmgw_provider_t *b_gem = prov("gemini");
    llmgw_provider_t *v_anth = prov("anthropic"), *v_mock = prov("mock");
    llmgw_route_t r;
    const char *err, *code;

    v_anth->base_url = "https://vhost-anthropic.example";
    add_prov(base, b_openai);
    add_prov(base, b_anth);
    add_prov(base, b_gem);
    add_prov(vh, v_mock);
    add_prov(vh, v_anth);
    apr_hash_set(base->aliases, "fast", APR_HASH_KEY_STRING, "openai/a");
    apr_hash_set(base->aliases, "keep", APR_HASH_KEY_STRING, "gemini/g");
    apr_hash_set(vh->aliases, "fast", APR_HASH_KEY_STRING, "mock/b");

    m = llmgw_route_table_merge(pool, base, vh);
    ck_assert_int_eq(m->order->nelts, 4);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 0, llmgw_provider_t *), v_mock);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 1, llmgw_provider_t *), v_anth);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 2, llmgw_provider_t *), b_openai);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 3, llmgw_provider_t *), b_gem);
    ck_assert_uint_eq(apr_hash_count(m->providers), 4);
    ck_assert_ptr_eq(apr_hash_get(m->providers, "anthropic",
                                  APR_HASH_KEY_STRING), v_anth);
    ck_assert_ptr_eq(apr_hash_get(m->providers, "openai",
                                  APR_HASH_KEY_STRING), b_openai);

    ck_assert_int_eq(llmgw_route_resolve(pool, m, "anthropic/c", NULL, NULL,
                                         &r, &err, &code), 0);
    ck_assert_ptr_eq(r.provider, v_anth);
    ck_assert_str_eq(r.provider->base_url, "https://vhost-anthropic.example");
    route_ok(m, "fast", NULL, NULL, "mock", "b");
    route_ok(m, "keep", NULL, NULL, "gemini", "g");
    route_ok(m, "mock/z", NULL, NULL, "mock", "z");

    /* the inputs are left alone */
    ck_assert_int_eq(base->order->nelts, 3);
    ck_assert_int_eq(vh->order->nelts, 2);
    ck_assert_uint_eq(apr_hash_count(base->providers), 3);
    ck_assert_ptr_eq(apr_hash_get(base->providers, "anthropic",
                                  APR_HASH_KEY_STRING), b_anth);
    ck_assert_str_eq(apr_hash_get(base->aliases, "fast", APR_HASH_KEY_STRING),
                     "openai/a");

    /* an empty vhost inherits everything, in order */
    m = llmgw_route_table_merge(pool, base, llmgw_route_table_make(pool));
    ck_assert_int_eq(m->order->nelts, 3);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 0, llmgw_provider_t *), b_openai);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 1, llmgw_provider_t *), b_anth);
    ck_assert_ptr_eq(APR_ARRAY_IDX(m->order, 2, llmgw_provider_t *), b_gem);
    route_ok(m, "fast", NULL, NULL, "openai", "a");
}
END_TEST

/* ================================================================== */
/* error envelope                                                      */
/* ================================================================== */

static const char *const ENV_FIELDS[] = {
    "message", "type", "code", "param", "request_id", "provider",
    "upstream_status", "retryable"
};

START_TEST(envelope_minimal)
{
    llmgw_error_t e;
    json_t *j, *err;
    size_t i;
    memset(&e, 0, sizeof(e));
    e.status = 400;
    e.message = "'model' is required";
    e.retry_after = -1;
    j = llmgw_envelope_json(&e, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(json_object_size(j), 1);
    err = json_object_get(j, "error");
    ck_assert(json_is_object(err));
    for (i = 0; i < sizeof(ENV_FIELDS) / sizeof(ENV_FIELDS[0]); i++) {
        ck_assert_msg(json_object_get(err, ENV_FIELDS[i]) != NULL,
                      "field %s missing", ENV_FIELDS[i]);
    }
    ck_assert_str_eq(json_string_value(json_object_get(err, "message")),
                     "'model' is required");
    ck_assert_str_eq(json_string_value(json_object_get(err, "type")),
                     "invalid_request_error");
    ck_assert(json_is_null(json_object_get(err, "code")));
    ck_assert(json_is_null(json_object_get(err, "param")));
    ck_assert(json_is_null(json_object_get(err, "request_id")));
    ck_assert(json_is_null(json_object_get(err, "provider")));
    ck_assert(json_is_null(json_object_get(err, "upstream_status")));
    ck_assert(json_is_false(json_object_get(err, "retryable")));
    {
        const json_t *d = json_object_get(err, "details");
        ck_assert(d == NULL || json_is_null(d));
    }
    json_decref(j);

    /* no message: still a string */
    e.message = NULL;
    j = llmgw_envelope_json(&e, "rid");
    err = json_object_get(j, "error");
    ck_assert(json_is_string(json_object_get(err, "message")));
    ck_assert_str_eq(json_string_value(json_object_get(err, "request_id")),
                     "rid");
    json_decref(j);
}
END_TEST

START_TEST(envelope_full)
{
    llmgw_error_t e;
    json_t *j, *want;
    memset(&e, 0, sizeof(e));
    e.status = 429;
    e.type = "rate_limit_error";
    e.code = "rate_limit_exceeded";
    e.message = "slow down";
    e.param = "model";
    e.provider = "openai";
    e.upstream_status = 429;
    e.retry_after = 30;
    e.details = parse("{\"limit\":10,\"window\":\"minute\","
                      "\"retry_after_secs\":30}");
    j = llmgw_envelope_json(&e, "11111111-2222-3333-4444-555555555555");
    want = parse("{\"error\":{\"message\":\"slow down\","
                 "\"type\":\"rate_limit_error\",\"code\":\"rate_limit_exceeded\","
                 "\"param\":\"model\","
                 "\"request_id\":\"11111111-2222-3333-4444-555555555555\","
                 "\"provider\":\"openai\",\"upstream_status\":429,"
                 "\"retryable\":true,\"details\":{\"limit\":10,"
                 "\"window\":\"minute\",\"retry_after_secs\":30}}}");
    ck_assert_msg(json_equal(j, want), "%s",
                  json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS));
    json_decref(want);
    json_decref(j);
    /* the caller's reference to details is still valid */
    ck_assert_int_eq(json_integer_value(json_object_get(e.details, "limit")),
                     10);
    json_decref(e.details);

    /* the type defaults from the status; explicit types win */
    memset(&e, 0, sizeof(e));
    e.status = 502;
    e.message = "upstream down";
    e.provider = "anthropic";
    e.upstream_status = 503;
    j = llmgw_envelope_json(&e, "r");
    {
        json_t *err = json_object_get(j, "error");
        ck_assert_str_eq(json_string_value(json_object_get(err, "type")),
                         "provider_error");
        ck_assert(json_is_true(json_object_get(err, "retryable")));
        ck_assert_int_eq(json_integer_value(json_object_get(err,
                                                            "upstream_status")),
                         503);
        ck_assert_str_eq(json_string_value(json_object_get(err, "provider")),
                         "anthropic");
    }
    json_decref(j);
    e.status = 402;
    e.type = "custom_type";
    j = llmgw_envelope_json(&e, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(j, "error"), "type")), "custom_type");
    ck_assert(json_is_false(json_object_get(json_object_get(j, "error"),
                                            "retryable")));
    json_decref(j);
}
END_TEST

START_TEST(envelope_retryable)
{
    static const struct { int status; int retry; } cases[] = {
        { 400, 0 }, { 401, 0 }, { 402, 0 }, { 403, 0 }, { 404, 0 },
        { 408, 1 }, { 409, 1 }, { 413, 0 }, { 422, 0 }, { 429, 1 },
        { 500, 1 }, { 502, 1 }, { 503, 1 }, { 504, 1 },
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llmgw_error_t e;
        json_t *j;
        memset(&e, 0, sizeof(e));
        e.status = cases[i].status;
        e.message = "x";
        ck_assert_msg(llmgw_error_retryable(cases[i].status) == cases[i].retry,
                      "status %d", cases[i].status);
        j = llmgw_envelope_json(&e, NULL);
        ck_assert_msg(json_is_true(json_object_get(json_object_get(j, "error"),
                                                   "retryable"))
                      == cases[i].retry, "envelope status %d", cases[i].status);
        json_decref(j);
    }
}
END_TEST

START_TEST(envelope_type_table)
{
    static const struct { int status; const char *type; } cases[] = {
        { 400, "invalid_request_error" }, { 401, "authentication_error" },
        { 402, "insufficient_quota" },    { 403, "permission_error" },
        { 404, "invalid_request_error" }, { 405, "invalid_request_error" },
        { 413, "invalid_request_error" }, { 415, "invalid_request_error" },
        { 422, "invalid_request_error" }, { 429, "rate_limit_error" },
        { 500, "internal_error" },        { 501, "internal_error" },
        { 502, "provider_error" },        { 503, "service_unavailable" },
        { 504, "timeout_error" },         { 418, "invalid_request_error" },
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(strcmp(llmgw_error_type_for_status(cases[i].status),
                             cases[i].type) == 0, "status %d: %s, want %s",
                      cases[i].status,
                      llmgw_error_type_for_status(cases[i].status),
                      cases[i].type);
    }
}
END_TEST

/* ================================================================== */
/* finish reason                                                       */
/* ================================================================== */

START_TEST(finish_reason_rule)
{
    ck_assert_str_eq(llmgw_finish_reason(NULL, 0), "stop");
    ck_assert_str_eq(llmgw_finish_reason(NULL, 1), "tool_calls");
    ck_assert_str_eq(llmgw_finish_reason("stop", 0), "stop");
    ck_assert_str_eq(llmgw_finish_reason("stop", 1), "tool_calls");
    ck_assert_str_eq(llmgw_finish_reason("length", 0), "length");
    ck_assert_str_eq(llmgw_finish_reason("length", 1), "length");
    ck_assert_str_eq(llmgw_finish_reason("content_filter", 0),
                     "content_filter");
    ck_assert_str_eq(llmgw_finish_reason("content_filter", 1), "tool_calls");
    ck_assert_str_eq(llmgw_finish_reason("tool_calls", 0), "tool_calls");
    ck_assert_str_eq(llmgw_finish_reason("tool_calls", 1), "tool_calls");
}
END_TEST

/* ================================================================== */


/* Usage read from a slice of the response text: the last "usage" key wins,
 * a quoted "usage" inside content never matches, null usage is not found. */
START_TEST(usage_from_text)
{
    llmgw_usage_t u = LLMGW_USAGE_INIT;
    const char *resp =
        "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":"
        "\"the \\\"usage\\\": {\\\"prompt_tokens\\\":99} is\"}}],"
        "\"usage\" : {\"prompt_tokens\":12,\"completion_tokens\":5,"
        "\"total_tokens\":17,\"prompt_tokens_details\":{\"cached_tokens\":3}}}";
    ck_assert_int_eq(llmgw_usage_from_text(resp, strlen(resp), &u), 1);
    ck_assert_int_eq(u.prompt_tokens, 12);
    ck_assert_int_eq(u.completion_tokens, 5);
    ck_assert_int_eq(u.total_tokens, 17);
    ck_assert_int_eq(u.cached_tokens, 3);
    {
        llmgw_usage_t v = LLMGW_USAGE_INIT;
        const char *none = "{\"choices\":[],\"usage\":null}";
        const char *absent = "{\"choices\":[{\"message\":{\"content\":\"usage\"}}]}";
        const char *cut = "{\"usage\":{\"prompt_tokens\":";
        ck_assert_int_eq(llmgw_usage_from_text(none, strlen(none), &v), 0);
        ck_assert_int_eq(llmgw_usage_from_text(absent, strlen(absent), &v), 0);
        ck_assert_int_eq(llmgw_usage_from_text(cut, strlen(cut), &v), 0);
        ck_assert_int_eq(v.prompt_tokens, -1);
    }
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc;

    tc = tcase_create("sse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sse_mixed_whole);
    tcase_add_test(tc, usage_from_text);
    tcase_add_test(tc, sse_mixed_every_boundary);
    tcase_add_test(tc, sse_mixed_random_chunks);
    tcase_add_test(tc, sse_line_ends);
    tcase_add_test(tc, sse_crlf_split_between_feeds);
    tcase_add_test(tc, sse_event_names);
    tcase_add_test(tc, sse_comments_and_fields);
    tcase_add_test(tc, sse_last_event_only_on_finish);
    tcase_add_test(tc, sse_empty_events_not_dispatched);
    tcase_add_test(tc, sse_too_big);
    tcase_add_test(tc, sse_callback_stops);
    tcase_add_test(tc, sse_event_counting);
    tcase_add_test(tc, sse_bare_json_body);
    tcase_add_test(tc, sse_fixtures_openai);
    tcase_add_test(tc, sse_fixtures_anthropic);
    tcase_add_test(tc, sse_fixtures_gemini);
    tcase_add_test(tc, sse_fixture_line_end_variants);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, endpoint_paths);
    tcase_add_test(tc, parse_bad_requests);
    tcase_add_test(tc, parse_good_chat);
    tcase_add_test(tc, parse_legacy_fields_and_fallbacks);
    tcase_add_test(tc, parse_good_other_endpoints);
    tcase_add_test(tc, parse_strip_gateway_fields);
    tcase_add_test(tc, parse_usage);
    tcase_add_test(tc, parse_usage_fixtures);
    suite_add_tcase(s, tc);

    tc = tcase_create("route");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, route_provider_prefix);
    tcase_add_test(tc, route_plain_and_default);
    tcase_add_test(tc, route_aliases);
    tcase_add_test(tc, route_invalid_models);
    tcase_add_test(tc, route_table_merge);
    suite_add_tcase(s, tc);

    tc = tcase_create("envelope");
    tcase_add_test(tc, envelope_minimal);
    tcase_add_test(tc, envelope_full);
    tcase_add_test(tc, envelope_retryable);
    tcase_add_test(tc, envelope_type_table);
    tcase_add_test(tc, finish_reason_rule);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;
    apr_initialize();
    sr = srunner_create(core_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
