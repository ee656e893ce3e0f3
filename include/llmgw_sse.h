/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_sse.h — incremental Server-Sent Events parser (pure).
 * Fed with whatever bytes arrive; calls back once per complete event with
 * its `event:` name (NULL when absent) and its `data:` lines joined by '\n'.
 * Accepts LF, CRLF and CR line ends, comments, a final event that lacks
 * the closing blank line (llmgw_sse_finish emits it), and a bare JSON body
 * with no "data:" framing (a provider's error after the stream started),
 * delivered as one event.
 */
#ifndef LLMGW_SSE_H
#define LLMGW_SSE_H

#include <apr_pools.h>

/* Return 0 to go on; anything else stops llmgw_sse_feed with that value. */
typedef int (*llmgw_sse_event_fn)(void *baton, const char *event,
                                  const char *data, apr_size_t data_len);

typedef struct llmgw_sse_parser llmgw_sse_parser_t;

#define LLMGW_SSE_TOO_BIG (-1)

/* max_event caps one event's buffered size (0: 8 MiB). */
llmgw_sse_parser_t *llmgw_sse_parser_create(apr_pool_t *p,
                                            apr_size_t max_event,
                                            llmgw_sse_event_fn fn,
                                            void *baton);

/* Returns 0, the callback's non-zero value, or LLMGW_SSE_TOO_BIG. */
int llmgw_sse_feed(llmgw_sse_parser_t *ps, const char *buf, apr_size_t len);

/* End of input: dispatches a pending event that had no blank line after it. */
int llmgw_sse_finish(llmgw_sse_parser_t *ps);

/* Number of events dispatched so far. */
apr_size_t llmgw_sse_events(const llmgw_sse_parser_t *ps);

/* One event of a whole buffer: its name (NULL when none) and data. */
typedef struct llmgw_sse_event {
    const char *event;
    const char *data;                /* NUL-terminated copy */
    apr_size_t len;
} llmgw_sse_event_t;

/* Every event of a whole SSE buffer (a stored or recorded stream), by the
 * parser above: an array of llmgw_sse_event_t allocated from p. */
#include <apr_tables.h>
apr_array_header_t *llmgw_sse_parse_all(apr_pool_t *p, const char *buf,
                                        apr_size_t len);

/* Whether an event is the OpenAI end marker `data: [DONE]`. */
int llmgw_sse_is_done(const llmgw_sse_event_t *x);

#endif
