/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The SSE parser (llmgw_sse.h): the input fed in pieces whose sizes come
 * from the input itself (so every split of a line end or field name is
 * tried), a small event cap, and the whole-buffer parse, which must see
 * the same number of events as the parser fed at once. */
#include "fuzz.h"
#include "llmgw_sse.h"

static int on_event(void *baton, const char *event, const char *data,
                    apr_size_t len)
{
    (*(apr_size_t *)baton)++;
    if (event) {
        fz_touch(event, strlen(event));
    }
    fz_touch(data, len);
    return 0;
}

static apr_size_t feed_split(apr_pool_t *p, const char *s, size_t size,
                             apr_size_t cap, int *too_big)
{
    apr_size_t n = 0, off = 0;
    unsigned h = (unsigned)size * 2654435761u;
    llmgw_sse_parser_t *ps = llmgw_sse_parser_create(p, cap, on_event, &n);
    *too_big = 0;
    while (off < size) {
        /* each piece is one copy of its own so that a read past it shows */
        apr_size_t k;
        char *piece;
        h = h * 1103515245u + 12345u + (unsigned char)s[off];
        k = 1 + (h >> 16) % 17;
        if (k > size - off) {
            k = size - off;
        }
        piece = malloc(k);
        memcpy(piece, s + off, k);
        if (llmgw_sse_feed(ps, piece, k) == LLMGW_SSE_TOO_BIG) {
            *too_big = 1;
        }
        free(piece);
        off += k;
        if (*too_big) {
            break;
        }
    }
    if (!*too_big) {
        llmgw_sse_finish(ps);
    }
    if (llmgw_sse_events(ps) != n) {
        abort();
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    apr_size_t n_split, n_whole = 0;
    int big, big2;
    apr_array_header_t *all;
    llmgw_sse_parser_t *ps;
    int i;

    n_split = feed_split(p, s, size, 0, &big);
    feed_split(p, s, size, 64, &big2);

    ps = llmgw_sse_parser_create(p, 0, on_event, &n_whole);
    llmgw_sse_feed(ps, s, size);
    llmgw_sse_finish(ps);
    if (!big && n_split != n_whole) {
        abort();                /* the split must not change the events */
    }

    all = llmgw_sse_parse_all(p, s, size);
    if (all) {
        for (i = 0; i < all->nelts; i++) {
            const llmgw_sse_event_t *e = &APR_ARRAY_IDX(all, i,
                                                        llmgw_sse_event_t);
            fz_touch(e->data, e->len + 1);
            if (e->event) {
                fz_touch(e->event, strlen(e->event));
            }
            fz_sink += (unsigned)llmgw_sse_is_done(e);
        }
    }
    free(s);
    apr_pool_destroy(p);
    return 0;
}
