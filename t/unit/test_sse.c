/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The incremental SSE parser (llmgw_sse.c): line ends, fields, event
 * names, limits, any cut of the input between feeds, and every recorded
 * stream of $LLMGW_SHARED_DIR/fixtures. */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "llmgw_test.h"
#include "llmgw_sse.h"


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
    e->event = event ? apr_pstrdup(tp, event) : NULL;
    e->data = apr_pstrmemdup(tp, data, len);
    e->len = len;
    r->calls++;
    if (r->stop_at && r->calls == r->stop_at) {
        return r->stop_rv;
    }
    return 0;
}

static recorder_t *rec_make(void)
{
    recorder_t *r = apr_pcalloc(tp, sizeof(*r));
    r->ev = apr_array_make(tp, 8, sizeof(rec_event_t));
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
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(tp, max_event,
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
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
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
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
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
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
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
    ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
    ck_assert_int_eq(llmgw_sse_feed(ps, "data: par", 9), 0);
    ck_assert_int_eq(llmgw_sse_feed(ps, "tial", 4), 0);
    ck_assert_int_eq(r->ev->nelts, 0);
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_int_eq(r->ev->nelts, 1);
    ev_is(r, 0, NULL, "partial");

    /* finish with nothing pending dispatches nothing */
    r = rec_make();
    ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
    ck_assert_int_eq(llmgw_sse_feed(ps, "data: a\n\n: tail", 15), 0);
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_int_eq(r->ev->nelts, 1);
    ck_assert_uint_eq(llmgw_sse_events(ps), 1);

    /* finish on an empty parser */
    r = rec_make();
    ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
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
    ps = llmgw_sse_parser_create(tp, 100, rec_cb, r);
    ck_assert_int_eq(llmgw_sse_feed(ps, "data: ", 6), 0);
    ck_assert_int_eq(llmgw_sse_feed(ps, big, 200), LLMGW_SSE_TOO_BIG);
    ck_assert_int_eq(r->ev->nelts, 0);

    /* one line over the cap that ends in the same chunk */
    {
        char *s = apr_pcalloc(tp, 400);
        memcpy(s, "data: ", 6);
        memset(s + 6, 'y', 300);
        memcpy(s + 306, "\n\n", 2);
        r = rec_make();
        ps = llmgw_sse_parser_create(tp, 100, rec_cb, r);
        ck_assert_int_eq(llmgw_sse_feed(ps, s, 308), LLMGW_SSE_TOO_BIG);
        ck_assert_int_eq(r->ev->nelts, 0);
    }

    /* many small lines of one event: the event, not the line, is capped;
     * a cap that is not a power of two is still exact */
    r = rec_make();
    ps = llmgw_sse_parser_create(tp, 300, rec_cb, r);
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
    ps = llmgw_sse_parser_create(tp, 100, rec_cb, r);
    {
        char *s = apr_pcalloc(tp, 200);
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
        char *s = apr_palloc(tp, n + 16);
        memcpy(s, "data: ", 6);
        memset(s + 6, 'q', n);
        memcpy(s + 6 + n, "\n\n", 2);
        r = rec_make();
        ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
        ck_assert_int_eq(llmgw_sse_feed(ps, s, n + 8), 0);
        ck_assert_int_eq(r->ev->nelts, 1);
        ck_assert_uint_eq(EV(r, 0).len, n);
    }
}
END_TEST

START_TEST(sse_callback_stops)
{
    recorder_t *r = rec_make();
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
    const char *s = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    r->stop_at = 2;
    r->stop_rv = 42;
    ck_assert_int_eq(llmgw_sse_feed(ps, s, strlen(s)), 42);
    ck_assert_int_eq(r->calls, 2);               /* event 3 not delivered */
    ev_is(r, 1, NULL, "2");

    /* from llmgw_sse_finish too */
    r = rec_make();
    ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
    r->stop_at = 1;
    r->stop_rv = -7;
    ck_assert_int_eq(llmgw_sse_feed(ps, "data: last", 10), 0);
    ck_assert_int_eq(llmgw_sse_finish(ps), -7);
    ck_assert_int_eq(r->calls, 1);

    /* a stop from an event completed by a buffered line */
    r = rec_make();
    ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
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
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
    json_t *j;

    ck_assert_int_eq(llmgw_sse_feed(ps, RAW, len), 0);
    ck_assert_int_eq(r->ev->nelts, 3);
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_int_eq(r->ev->nelts, 4);
    ev_is(r, 0, NULL, "{\"a\":1}");
    ev_is(r, 1, NULL, "{\n  \"error\": {\n    \"code\": 499,\n"
          "    \"status\": \"CANCELLED\"\n  }\n}");
    j = ut_json(EV(r, 1).data);
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
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
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

/* Independent expectation: in the recorded streams every event has exactly
 * one data line, so the events are the lines that start with "data:"
 * (split at CR LF, CR or LF), their payload after one optional space.
 * A bare JSON body (a line opening with '{' or '[' before any data or event
 * line of a block) is one event: the rest of the block, lines joined by
 * '\n' (Gemini's error after a stream started). */
static apr_array_header_t *expected_data_lines(const char *buf, apr_size_t len)
{
    apr_array_header_t *a = apr_array_make(tp, 16, sizeof(const char *));
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
            raw = apr_pstrcat(tp, raw, "\n",
                              apr_pstrmemdup(tp, buf + s, e - s), NULL);
        }
        else if (!fields && (buf[s] == '{' || buf[s] == '[')) {
            raw = apr_pstrmemdup(tp, buf + s, e - s);
        }
        else if (e - s >= 5 && strncmp(buf + s, "data:", 5) == 0) {
            fields++;
            s += 5;
            if (s < e && buf[s] == ' ') {
                s++;
            }
            APR_ARRAY_PUSH(a, const char *) = apr_pstrmemdup(tp, buf + s,
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
    apr_array_header_t *paths = ut_fixture_glob(pattern, min_files);
    int f;
    for (f = 0; f < paths->nelts; f++) {
        const char *path = APR_ARRAY_IDX(paths, f, const char *);
        apr_size_t len;
        char *buf = ut_slurp(path, &len);
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
                json_decref(ut_jsonn(e->data, e->len,
                                     apr_psprintf(tp, "%s: event %d", path, i)));
            }
        }
        rec_assert_same(whole, sse_run_bytewise(buf, len), path);
        for (seed = 1; seed <= 5; seed++) {
            rec_assert_same(whole, sse_run_random(buf, len, seed), path);
        }
        *total_events += whole->ev->nelts;
    }
    return f;
}

START_TEST(sse_fixtures_openai)
{
    int total = 0;
    fixture_files("openai/*.sse", 10, &total);
    ck_assert_int_gt(total, 100);
    /* each openai stream ends with [DONE] */
    {
        apr_size_t len;
        char *buf = ut_fixture("openai/test_parse_nothing.sse", &len);
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
    buf = ut_fixture("anthropic/basic_response.txt", &len);
    r = rec_make();
    ps = llmgw_sse_parser_create(tp, 0, rec_cb, r);
    ck_assert_int_eq(llmgw_sse_feed(ps, buf, len), 0);
    n = r->ev->nelts;
    ck_assert_int_eq(llmgw_sse_finish(ps), 0);
    ck_assert_int_eq(r->ev->nelts, n + 1);
    ev_is(r, 0, "message_start", EV(r, 0).data);
    ck_assert_str_eq(EV(r, r->ev->nelts - 1).event, "message_stop");
    {
        int i, pings = 0;
        for (i = 0; i < r->ev->nelts; i++) {
            json_t *j = ut_json(EV(r, i).data);
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
    char *buf = ut_fixture("anthropic/tool_use_response.txt", &len);
    char *crlf = apr_palloc(tp, 2 * len + 1), *cr = apr_pstrdup(tp, buf);
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


/* ---- hostile line ends: the work stays linear in the input ---- */

typedef struct {
    apr_size_t events, bytes, bad;
} count_t;

static int count_cb(void *baton, const char *event, const char *data,
                    apr_size_t len)
{
    count_t *c = baton;
    c->events++;
    c->bytes += len;
    if (event || len != 1 || data[0] != 'x') {
        c->bad++;
    }
    return 0;
}

/* 4 MiB of 1-byte lines ended by CR alone ("data:x" CR, blank line CR),
 * fed in one read and in 16 KiB reads, with and without one LF at the very
 * end: a line-end search that looks to the next LF (or to the end of the
 * read) for every line does 2^19 lines x ~2 MiB of scanning (minutes, far
 * past this TCase's timeout); a linear one is instant. */
START_TEST(sse_cr_only_lines_linear)
{
    const apr_size_t unit = 8, n = (4u << 20) / 8;
    apr_size_t len = n * unit, i, off, sizes[2] = { 0, 16384 };
    char *buf = apr_palloc(tp, len + 3);
    int s, tail;

    for (i = 0; i < n; i++) {
        memcpy(buf + i * unit, "data:x\r\r", unit);
    }
    for (tail = 0; tail < 2; tail++) {
        apr_size_t total = len;
        if (tail) {
            memcpy(buf + len, "\n", 1);    /* a LF after the last CR */
            total++;
        }
        for (s = 0; s < 2; s++) {
            count_t c = { 0, 0, 0 };
            llmgw_sse_parser_t *ps = llmgw_sse_parser_create(tp, 0,
                                                             count_cb, &c);
            apr_size_t step = sizes[s] ? sizes[s] : total;
            for (off = 0; off < total; off += step) {
                apr_size_t k = total - off < step ? total - off : step;
                ck_assert_int_eq(llmgw_sse_feed(ps, buf + off, k), 0);
            }
            ck_assert_int_eq(llmgw_sse_finish(ps), 0);
            ck_assert_uint_eq(c.events, n);
            ck_assert_uint_eq(c.bytes, n);
            ck_assert_uint_eq(c.bad, 0);
        }
    }
    /* CR-only blank lines only: no event, no work per line beyond it */
    {
        count_t c = { 0, 0, 0 };
        llmgw_sse_parser_t *ps = llmgw_sse_parser_create(tp, 0, count_cb,
                                                         &c);
        memset(buf, '\r', len);
        ck_assert_int_eq(llmgw_sse_feed(ps, buf, len), 0);
        ck_assert_int_eq(llmgw_sse_finish(ps), 0);
        ck_assert_uint_eq(c.events, 0);
    }
}
END_TEST


static Suite *sse_suite(void)
{
    Suite *s = suite_create("sse");
    TCase *tc = ut_tcase(s, "sse", 60);
    tcase_add_test(tc, sse_mixed_whole);
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
    tc = ut_tcase(s, "sse_linear", 30);
    tcase_add_test(tc, sse_cr_only_lines_linear);
    return s;
}

UT_MAIN(sse_suite)
