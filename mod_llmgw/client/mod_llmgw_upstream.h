/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * mod_llmgw_upstream.h — one upstream HTTP call through libcurl, with a
 * per-process pool of easy handles so connections are kept alive and
 * reused. The body arrives through callbacks as it comes off the wire.
 */
#ifndef MOD_LLMGW_UPSTREAM_H
#define MOD_LLMGW_UPSTREAM_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_time.h"
#include "apr_network_io.h"

/* A step run once a request, before or after a stream, kept out of the
 * frames that stay on the stack while a stream waits on its upstream
 * (the handler's, the exchange's, the client's): inlined, its locals
 * would widen them, and each held stream's thread would touch one more
 * stack page (README "Performance"). */
#define LLMGW_OFF_STREAM_FRAME __attribute__((noinline))

typedef enum {
    LLMGW_UP_OK = 0,          /* got a complete HTTP response */
    LLMGW_UP_CONNECT,         /* could not connect / resolve */
    LLMGW_UP_TIMEOUT,         /* no answer in time, or a stall */
    LLMGW_UP_BROKEN,          /* connection dropped mid-response */
    LLMGW_UP_ABORTED,         /* our callback stopped it (client gone...) */
    LLMGW_UP_INTERNAL,        /* setup failure */
    LLMGW_UP_INVALID          /* a response no HTTP client can trust:
                               * conflicting lengths, body shorter than
                               * its Content-Length */
} llmgw_up_result_e;

typedef struct llmgw_upstream_call llmgw_upstream_call_t;

struct llmgw_upstream_call {
    /* in */
    const char *url;                      /* for libcurl */
    /* The same target for the native client, parsed at config time
     * (llmgw_provider_t): no URL parsing per call. */
    const char *host;
    apr_port_t port;
    const char *host_header;              /* Host header value */
    const char *conn_key;                 /* "host:port": pool key */
    const char *path;                     /* path and query of url */
    const char *body;
    apr_size_t body_len;
    apr_array_header_t *headers;          /* const char * "Name: value" */
    apr_interval_time_t connect_timeout;
    apr_interval_time_t timeout;          /* first byte, and the whole call when !stream */
    apr_interval_time_t idle_timeout;     /* silence between a stream's events */
    int stream;
    int use_curl;                         /* libcurl even for http:// */
    /* Body bytes as they arrive (status known by then). Non-zero stops. */
    int (*on_data)(llmgw_upstream_call_t *call, const char *buf,
                   apr_size_t len);
    /* A stream's last progress: set by the client at the first body byte
     * and by on_data at every complete event; LLMGWIdleTimeout counts from
     * it (bytes dripped without an event are no progress). */
    apr_time_t last_event;
    /* Polled while waiting; non-zero aborts (client went away). */
    int (*should_abort)(llmgw_upstream_call_t *call);
    /* The client's socket, when there is one of its own (not HTTP/2): the
     * native client waits on it and the upstream's together, and asks
     * should_abort when it turns readable (instead of every 100 ms). */
    apr_socket_t *client_socket;
    void *baton;

    /* out */
    long status;                          /* HTTP status, 0 if none */
    const char *content_type;
    const char *retry_after;              /* upstream retry-after header */
    llmgw_up_result_e result;
    const char *error;                    /* curl's message, never a key */
    apr_interval_time_t latency;          /* time to first body byte */
    int got_body;                         /* at least one body byte */
};

/* Plain-http calls on APR sockets (mod_llmgw_http.c). */
llmgw_up_result_e llmgw_http_perform(apr_pool_t *p,
                                     llmgw_upstream_call_t *call);
void llmgw_http_child_init(apr_pool_t *pchild);

/* The address of host:port in p, from a per-child cache of lookups no
 * older than a minute (mod_llmgw_resolve.c). */
apr_status_t llmgw_resolve(apr_sockaddr_t **sa, const char *host,
                           apr_port_t port, apr_pool_t *p);
struct server_rec;
void llmgw_resolve_child_init(apr_pool_t *pchild, struct server_rec *s);

/* Per child: the pooled curl handles and native connections (logs with s). */
void llmgw_upstream_child_init(apr_pool_t *pchild, struct server_rec *s);

/* Performs the call (http:// natively, anything else with libcurl); the
 * pool holds everything it allocates. */
llmgw_up_result_e llmgw_upstream_perform(apr_pool_t *p,
                                         llmgw_upstream_call_t *call);

#endif
