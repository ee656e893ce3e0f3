/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The upstream part of one client request: build the call for a route,
 * relay the answer as it arrives (SSE event by event, flushed per upstream
 * read, translated for native providers), turn failures into the SPEC
 * envelope, and retry or fall back while nothing reached the client yet. */
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_date.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_core.h"
#include "util_filter.h"
#include "mod_llmgw_private.h"
#include "llmgw_num.h"
#include "client/mod_llmgw_upstream.h"
#include "llmgw_parse.h"
#include "llmgw_sse.h"
#include "llmgw_translate.h"
#include "llmgw_answer.h"
#include "llmgw_native.h"
#include "llmgw_circuit.h"
#include "llmgw_json_scan.h"

APLOG_USE_MODULE(llmgw);

#define MAX_RESPONSE (64 * 1024 * 1024)   /* non-stream upstream body cap */
#define MAX_ERROR_BODY (64 * 1024)
/* A provider's retry-after above this is taken as this (seconds): a bogus
 * "retry in 11 days" must neither reach the SDKs nor hold a retry. */
#define RETRY_AFTER_MAX 60
/* The code of an answer that is not one of its API (SPEC). */
#define INVALID_CODE "invalid_upstream_response"
/* The status logged for a client that left before its answer (nginx's
 * "client closed request"; httpd has no name for it). */
#define CLIENT_CLOSED 499

/* ------------------------------------------------------------ buffers */

/* ------------------------------------------------------- the exchange */

/* State of one upstream attempt and of the client response it feeds. */
typedef struct exchange {
    request_rec *r;
    llmgw_request_t *req;
    const llmgw_provider_t *provider;
    const char *model;
    const llmgw_translator_t *xl;        /* the provider's wire format */
    apr_pool_t *p;                       /* this attempt's sub-pool of
                                          * r->pool: destroyed when the
                                          * attempt is abandoned */
    llmgw_xlate_ctx_t xctx;
    llmgw_xlate_report_t report;         /* parameters refused or dropped */
    llmgw_xlate_in_t in;                 /* the client's request */
    llmgw_stream_t *xs;
    /* The client's API: NULL for Chat Completions (the provider's chunks
     * go out as they are); else its adapter and stream state. */
    llmgw_inbound_t *inb;
    llmgw_api_stream_t *as;
    int relay;                           /* the provider speaks the
                                          * client's API: bytes relayed */
    llmgw_native_watch_t *watch;         /* relay: usage and the end */
    llmgw_sse_parser_t *sse;
    apr_bucket_brigade *bb;
    llmgw_buf_t body;                    /* non-stream or error body */
    llmgw_buf_t events;                  /* events not yet passed */
    llmgw_answer_usage_t answer;         /* its check, and the usage read
                                          * in the check's pass */
    /* translated in the check's pass (answer_problem): raw_response's
     * result and answer, for finish_json */
    int translated;
    int translate_rv;
    const char *out;
    apr_size_t out_len;
    /* a Responses answer written in the check's pass (answer_problem):
     * from_chat's result and text, for client_answer */
    int client_written;
    int client_rv;
    const char *client_out;
    apr_size_t client_len;
    int body_overflow;
    int streaming;                       /* SSE headers went to the client */
    int stream_end;                      /* [DONE] / native end seen */
    int stream_error;                    /* an error event was sent */
    int client_gone;
} exchange_t;

static void capture(llmgw_request_t *req, const char *d, apr_size_t n)
{
    if (!req->capture_limit || req->capture_overflow) {
        return;
    }
    if (req->capture->len + n > req->capture_limit) {
        req->capture_overflow = 1;
        return;
    }
    llmgw_buf_append(req->capture, d, n);
}

/* Events are gathered in the exchange's own buffer and passed as one
 * transient bucket with a FLUSH: the core output filter writes it before
 * ap_pass_brigade returns (or sets it aside, copying it), so a stream
 * needs no 8,000-byte heap bucket of the connection's allocator. Data of
 * DIRECT_WRITE bytes or more (an event may hold 8 MiB) is passed where it
 * is, after what the buffer holds, instead of being copied into it. */
#define DIRECT_WRITE 4096

static int client_pass(exchange_t *ex, const char *d, apr_size_t n,
                       int flush)
{
    conn_rec *c = ex->r->connection;
    if ((ex->events.len || n) && !ex->req->ttft) {
        ex->req->ttft = apr_time_now() - ex->r->request_time;
    }
    if (ex->events.len) {
        APR_BRIGADE_INSERT_TAIL(ex->bb, apr_bucket_transient_create(
            ex->events.data, ex->events.len, c->bucket_alloc));
        ex->events.len = 0;
    }
    if (n) {
        APR_BRIGADE_INSERT_TAIL(ex->bb, apr_bucket_transient_create(
            d, n, c->bucket_alloc));
    }
    if (flush) {
        APR_BRIGADE_INSERT_TAIL(ex->bb,
                                apr_bucket_flush_create(c->bucket_alloc));
    }
    if (ap_pass_brigade(ex->r->output_filters, ex->bb) != APR_SUCCESS
        || c->aborted) {
        ex->client_gone = 1;
    }
    apr_brigade_cleanup(ex->bb);
    return ex->client_gone;
}

static void client_write(exchange_t *ex, const char *d, apr_size_t n)
{
    capture(ex->req, d, n);
    if (n >= DIRECT_WRITE) {
        client_pass(ex, d, n, 0);
        return;
    }
    if (!ex->events.cap) {
        llmgw_buf_reserve(&ex->events, 1023);  /* a few events a read */
    }
    llmgw_buf_append(&ex->events, d, n);
}

/* Sends what the buffer holds and flushes it: one flush per upstream
 * read, so an event goes out as soon as it arrived. */
static int client_flush(exchange_t *ex)
{
    return client_pass(ex, NULL, 0, 1);
}

/* The response head of a stream, held until its first events. httpd's
 * header filter passes the head alone, without a FLUSH: the core output
 * filter would set it aside, creating the connection's deferred-write pool
 * (an 8 KB block each held stream keeps), then write it with the first
 * events anyway. Held here (below CHUNK, above the connection's filters),
 * it goes out in the same write as the events, and the pool is never
 * made. Removes itself once it has passed what it held. */
static ap_filter_rec_t *sse_head_filter_handle;

static apr_status_t sse_head_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    apr_bucket_brigade *held = f->ctx;
    apr_bucket *b;
    apr_status_t rv;

    if (!held) {
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            if (APR_BUCKET_IS_FLUSH(b) || APR_BUCKET_IS_EOS(b)) {
                break;
            }
        }
        if (b == APR_BRIGADE_SENTINEL(bb)) {
            rv = ap_save_brigade(f, &held, &bb, f->r->pool);
            f->ctx = held;
            return rv;
        }
    }
    else {
        APR_BRIGADE_PREPEND(bb, held);
    }
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

void llmgw_exchange_register(void)
{
    sse_head_filter_handle = ap_register_output_filter(
        "LLMGW_SSE_HEAD", sse_head_filter, NULL, AP_FTYPE_TRANSCODE + 5);
}

/* One SSE event to the client: `event:` when named, then its data, one
 * `data:` line per line of it. */
static int client_event(void *baton, const char *event, const char *data,
                        apr_size_t len)
{
    exchange_t *ex = baton;
    const char *nl;
    if (event) {
        client_write(ex, "event: ", 7);
        client_write(ex, event, strlen(event));
        client_write(ex, "\n", 1);
    }
    while ((nl = memchr(data, '\n', len)) != NULL) {
        client_write(ex, "data: ", 6);
        client_write(ex, data, (apr_size_t)(nl - data) + 1);
        len -= (apr_size_t)(nl - data) + 1;
        data = nl + 1;
    }
    client_write(ex, "data: ", 6);
    client_write(ex, data, len);
    client_write(ex, "\n\n", 2);
    return 0;
}

static void emit_error_event(exchange_t *ex, const llmgw_error_t *e)
{
    if (ex->as) {
        ex->inb->api->stream_error(ex->as, e, client_event, ex);
    }
    else {
        json_t *env = llmgw_envelope_json(e, ex->req->id);
        char *txt = llmgw_json_dumps(env, JSON_COMPACT);
        client_event(ex, NULL, txt, strlen(txt));
        free(txt);
        json_decref(env);
    }
    ex->stream_error = 1;
}

/* A chunk the client's adapter refused: the provider translator's error
 * envelope (a mid-stream error), or something that is not a chunk. */
static void refused_chunk(exchange_t *ex, const char *data, apr_size_t len)
{
    json_t *j = llmgw_json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    json_t *err = json_object_get(j, "error");
    llmgw_error_t e;

    memset(&e, 0, sizeof(e));
    e.status = HTTP_BAD_GATEWAY;
    e.type = "provider_error";
    e.code = INVALID_CODE;
    e.message = "the provider's stream could not be translated";
    e.provider = ex->provider->name;
    e.retry_after = -1;
    if (json_is_object(err)) {
        const char *v;
        if ((v = json_string_value(json_object_get(err, "message")))) {
            e.message = apr_pstrdup(ex->p, v);
        }
        if ((v = json_string_value(json_object_get(err, "type")))) {
            e.type = apr_pstrdup(ex->p, v);
        }
        if ((v = json_string_value(json_object_get(err, "code")))) {
            e.code = apr_pstrdup(ex->p, v);
        }
        if (json_is_integer(json_object_get(err, "upstream_status"))) {
            e.upstream_status = (int)json_integer_value(
                json_object_get(err, "upstream_status"));
        }
        if (!strcmp(e.type, "rate_limit_error")) {
            e.status = HTTP_TOO_MANY_REQUESTS;
        }
    }
    json_decref(j);
    emit_error_event(ex, &e);
}

/* What the provider translator emits: chat.completion.chunk data, or the
 * SPEC error envelope. */
static int emit_event(void *baton, const char *data, apr_size_t len)
{
    exchange_t *ex = baton;
    if (!ex->as) {
        return client_event(ex, NULL, data, len);
    }
    if (ex->stream_error) {
        return 0;
    }
    if (ex->inb->api->stream_chunk(ex->as, data, len, client_event, ex) < 0) {
        refused_chunk(ex, data, len);
    }
    return 0;
}

/* The translated stream completed: [DONE], or the adapter's last events. */
static void emit_end(exchange_t *ex)
{
    ex->stream_end = 1;
    if (ex->as) {
        ex->inb->api->stream_end(ex->as, client_event, ex);
    }
    else {
        client_event(ex, NULL, "[DONE]", 6);
    }
}

static int on_sse_event(void *baton, const char *event, const char *data,
                        apr_size_t len)
{
    exchange_t *ex = baton;
    int rv;
    if (ex->relay) {
        /* the client's own API: relayed as it came, to the provider's
         * close (Gemini's usage may follow its finishReason) */
        if (ex->stream_error) {
            return 0;
        }
        client_event(ex, event, data, len);
        rv = llmgw_native_watch_event(ex->watch, event, data, len);
        if (rv == LLMGW_NATIVE_END) {
            ex->stream_end = 1;
        }
        else if (rv == LLMGW_NATIVE_ERROR) {
            ex->stream_error = 1;
        }
        return 0;
    }
    if (ex->stream_end || ex->stream_error) {
        return 0;                   /* nothing after the end */
    }
    rv = ex->xl->stream_event(ex->xs, event, data, len, emit_event, ex);
    if (rv == LLMGW_XLATE_END && !ex->stream_error) {
        emit_end(ex);
    }
    else if (rv == LLMGW_XLATE_ERROR) {
        ex->stream_error = 1;
    }
    return 0;
}

LLMGW_OFF_STREAM_FRAME
static void start_stream(exchange_t *ex)
{
    request_rec *r = ex->r;
    llmgw_request_t *req = ex->req;

    r->status = HTTP_OK;
    req->status = HTTP_OK;
    ap_set_content_type(r, "text/event-stream");
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    apr_table_setn(r->headers_out, "X-Accel-Buffering", "no");
    /* a compressing filter would hold events back */
    apr_table_setn(r->subprocess_env, "no-gzip", "1");
    req->answered_provider = ex->provider->name;
    req->answered_model = ex->model;
    req->capture_is_sse = 1;
    llmgw_set_gateway_headers(r, req);
    ex->streaming = 1;
    llmgw_count_stream(1);
    ap_add_output_filter_handle(sse_head_filter_handle, NULL, r,
                                r->connection);
    ex->sse = llmgw_sse_parser_create(ex->p, 0, on_sse_event, ex);
    if (ex->inb && req->api != LLMGW_API_INDOXHUB
        && ex->inb->api->stream_new) {
        ex->inb->ctx.provider = ex->provider->name;
        ex->as = ex->inb->api->stream_new(ex->p, &ex->inb->ctx);
    }
    if (ex->relay) {
        ex->watch = llmgw_native_watch_new(ex->p, req->api);
    }
    else {
        ex->xs = ex->xl->stream_new(ex->p, &ex->xctx);
    }
}

/* Whether a Content-Type is text/event-stream (parameters allowed). */
static int sse_type(const char *ct)
{
    static const char t[] = "text/event-stream";
    if (!ct) {
        return 0;
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    return !strncasecmp(ct, t, sizeof(t) - 1)
           && (ct[sizeof(t) - 1] == '\0' || ct[sizeof(t) - 1] == ';'
               || ct[sizeof(t) - 1] == ' ' || ct[sizeof(t) - 1] == '\t');
}

LLMGW_OFF_STREAM_FRAME
static void invalid_error(exchange_t *ex, llmgw_upstream_call_t *call,
                          const char *why, llmgw_error_t *e);

/* The client must learn the stream is cut, not see it stop. */
LLMGW_OFF_STREAM_FRAME
static void stream_cut(exchange_t *ex, llmgw_upstream_call_t *call,
                       const char *why)
{
    llmgw_error_t e;
    invalid_error(ex, call, why, &e);
    emit_error_event(ex, &e);
}

static int on_upstream_data(llmgw_upstream_call_t *call, const char *d,
                            apr_size_t n)
{
    exchange_t *ex = call->baton;
    int ok = ap_is_HTTP_SUCCESS(call->status);

    if (ok && ex->req->stream) {
        int rv;
        if (!ex->streaming) {
            if (!sse_type(call->content_type)) {
                goto buffer;        /* not a stream: an invalid answer */
            }
            start_stream(ex);
        }
        {
            apr_size_t seen = llmgw_sse_events(ex->sse);
            rv = llmgw_sse_feed(ex->sse, d, n);
            if (llmgw_sse_events(ex->sse) != seen) {
                call->last_event = apr_time_now();  /* LLMGWIdleTimeout */
            }
        }
        if (rv == LLMGW_SSE_TOO_BIG) {
            stream_cut(ex, call, "the provider sent an event larger than "
                                 "8 MiB");
            client_flush(ex);
            return 1;
        }
        client_flush(ex);
        /* Not stopped at the end marker: letting the upstream finish its
         * response keeps the connection reusable. */
        return ex->client_gone || ex->stream_error;
    }
buffer:
    if (ex->body.len + n > (ok ? MAX_RESPONSE : MAX_ERROR_BODY)) {
        ex->body_overflow = 1;
        return ok;                  /* keep the start of an error body */
    }
    llmgw_buf_append(&ex->body, d, n);
    return 0;
}

/* Whether the client closed its connection; polled during long waits. */
static int client_left(llmgw_upstream_call_t *call)
{
    exchange_t *ex = call->baton;
    conn_rec *c = ex->r->connection;
    apr_socket_t *s;
    apr_os_sock_t fd;
    struct pollfd pfd;

    if (c->aborted) {
        return 1;
    }
    if (c->master || !(s = ap_get_conn_socket(c))
        || apr_os_sock_get(&fd, s) != APR_SUCCESS) {
        return 0;
    }
    pfd.fd = fd;
    pfd.events = POLLIN | POLLRDHUP;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) > 0) {
        char b;
        if (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP)) {
            return 1;
        }
        if ((pfd.revents & POLLIN)
            && recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------- building the call */

/* The client's own provider credential (BYOK `provider_key`, or the bearer
 * token with passthrough) was chosen for the request's provider: a fallback
 * on another provider uses that provider's configured key instead. */
static const char *provider_key(llmgw_request_t *req, const llmgw_dir_conf *dc,
                                const llmgw_provider_t *pr)
{
    const char *stored;
    if (pr != req->provider) {
        goto configured;
    }
    if (req->provider_key) {
        return req->provider_key;
    }
    /* A credential mod_llmgw_quota accepted (a workspace is set) is a
     * gateway key: it never goes upstream, even with passthrough on. */
    if (dc->passthrough_auth == 1 && !req->workspace) {
        return req->client_key;
    }
configured:
    /* the workspace's own key for this provider (management API) wins
     * over the operator's */
    stored = req->provider_keys ? apr_hash_get(req->provider_keys, pr->name,
                                               APR_HASH_KEY_STRING) : NULL;
    return stored ? stored : pr->key;
}

/* A credential that can go into a header line: no control characters, so a
 * key from a request body can never inject a header. */
static int header_value_ok(const char *v)
{
    const unsigned char *c;
    for (c = (const unsigned char *)v; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* The body of a relayed request (the client's own API): its text as it
 * came, or with the upstream model spliced in, or its tree when the
 * gateway's fields were taken out. Gemini's model is in the path. */
static int relay_body(exchange_t *ex, const char **out, apr_size_t *out_len,
                      const char **err)
{
    const llmgw_xlate_in_t *in = &ex->in;
    int model_in_body = ex->req->api != LLMGW_API_GEMINI;
    char *txt;

    if (in->unchanged || ((!in->tree || ex->inb->raw_clean)
                           && !model_in_body)) {
        *out = in->raw;
        *out_len = in->len;
        return 0;
    }
    if (!in->tree || ex->inb->raw_clean) {
        *out = llmgw_replace_model(ex->p, in->raw, in->len, ex->model,
                                   out_len);
        if (!*out) {
            *err = "the request has no model";
            return HTTP_BAD_REQUEST;
        }
        return 0;
    }
    if (model_in_body) {
        json_object_set_new(in->tree, "model", json_string(ex->model));
    }
    txt = llmgw_json_dumps(in->tree, JSON_COMPACT);
    if (!txt) {
        *err = "cannot serialise the upstream request";
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    *out_len = strlen(txt);
    *out = apr_pstrmemdup(ex->p, txt, *out_len);
    free(txt);
    return 0;
}

/* The Anthropic SDKs' anthropic-version and anthropic-beta go to an
 * anthropic provider with the Messages API they belong to (the client's
 * version replaces the gateway's default). */
static void anthropic_client_headers(exchange_t *ex, apr_array_header_t *h)
{
    const char *v = apr_table_get(ex->r->headers_in, "anthropic-version");
    const char *b = apr_table_get(ex->r->headers_in, "anthropic-beta");
    int i;
    if (v && header_value_ok(v)) {
        for (i = 0; i < h->nelts; i++) {
            const char *line = APR_ARRAY_IDX(h, i, const char *);
            if (!strncasecmp(line, "anthropic-version:", 18)) {
                APR_ARRAY_IDX(h, i, const char *) =
                    apr_pstrcat(ex->p, "anthropic-version: ", v, NULL);
            }
        }
    }
    if (b && header_value_ok(b)) {
        APR_ARRAY_PUSH(h, const char *) = apr_pstrcat(ex->p,
                                                      "anthropic-beta: ", b,
                                                      NULL);
    }
}

/* The body and headers for one candidate route; 0 or an HTTP status with
 * *err for a request the provider type cannot take. */
LLMGW_OFF_STREAM_FRAME
static int build_call(exchange_t *ex, const llmgw_dir_conf *dc,
                      llmgw_upstream_call_t *call, const char **err)
{
    llmgw_request_t *req = ex->req;
    const llmgw_provider_t *pr = ex->provider;
    const char *key = provider_key(req, dc, pr);
    apr_array_header_t *h = apr_array_make(ex->p, 6, sizeof(const char *));
    const char *path;
    int i, rv;

    if (key && !header_value_ok(key)) {
        *err = "the provider key contains control characters";
        return HTTP_BAD_REQUEST;
    }
    path = ex->xl->path(ex->p, &ex->xctx, ex->in.ep, req->stream);
    if (!path) {
        *err = apr_psprintf(ex->p, "provider '%s' does not support %s",
                            pr->name, req->endpoint_name);
        return HTTP_BAD_REQUEST;
    }
    ex->xl->headers(ex->p, key, h);
    if (ex->relay) {
        rv = relay_body(ex, &call->body, &call->body_len, err);
        if (req->api == LLMGW_API_MESSAGES) {
            anthropic_client_headers(ex, h);
        }
    }
    else {
        rv = ex->xl->raw_request(ex->xl, ex->p, &ex->xctx, &ex->in,
                                 &call->body, &call->body_len, err);
    }
    if (rv) {
        return rv;
    }
    APR_ARRAY_PUSH(h, const char *) = "Content-Type: application/json";
    APR_ARRAY_PUSH(h, const char *) = req->stream
        ? "Accept: text/event-stream" : "Accept: application/json";
    for (i = 0; i < pr->headers->nelts; i++) {
        APR_ARRAY_PUSH(h, const char *) = APR_ARRAY_IDX(pr->headers, i,
                                                       const char *);
    }
    call->headers = h;
    call->url = apr_pstrcat(ex->p, pr->base_url, path, NULL);
    call->host = pr->host;
    call->port = pr->port;
    call->host_header = pr->host_header;
    call->conn_key = pr->conn_key;
    call->path = *pr->base_path ? apr_pstrcat(ex->p, pr->base_path, path, NULL)
                                : path;
    call->stream = req->stream;
    call->use_curl = pr->use_curl;
    call->timeout = pr->timeout ? pr->timeout : llmgw_conf_timeout(dc);
    call->connect_timeout = llmgw_conf_connect_timeout(dc);
    call->idle_timeout = llmgw_conf_idle_timeout(dc);
    call->on_data = on_upstream_data;
    call->should_abort = client_left;
    call->client_socket = ex->r->connection->master
                          ? NULL : ap_get_conn_socket(ex->r->connection);
    call->baton = ex;
    return 0;
}

/* ------------------------------------------------- upstream errors */

static long parse_retry_after(const char *v)
{
    char *end;
    long s;
    apr_time_t t;
    if (!v) {
        return -1;
    }
    s = strtol(v, &end, 10);
    if (end != v && *end == '\0' && s >= 0) {
        return s;
    }
    t = apr_date_parse_http(v);
    if (t > 0) {
        apr_time_t now = apr_time_now();
        return t > now ? (long)apr_time_sec(t - now) : 0;
    }
    return -1;
}

static void upstream_error(exchange_t *ex, llmgw_upstream_call_t *call,
                           llmgw_error_t *e)
{
    apr_pool_t *p = ex->r->pool;
    memset(e, 0, sizeof(*e));
    e->retry_after = -1;
    e->provider = ex->provider->name;
    switch (call->result) {
    case LLMGW_UP_CONNECT:
        e->status = HTTP_BAD_GATEWAY;
        e->type = "provider_error";
        e->code = "provider_unreachable";
        e->message = apr_psprintf(p, "could not reach provider '%s': %s",
                                  ex->provider->name, call->error);
        return;
    case LLMGW_UP_TIMEOUT:
        e->status = HTTP_GATEWAY_TIME_OUT;
        e->type = "timeout_error";
        e->code = "provider_timeout";
        e->message = apr_psprintf(p, "provider '%s' did not answer in time",
                                  ex->provider->name);
        return;
    case LLMGW_UP_INVALID:
        e->status = HTTP_BAD_GATEWAY;
        e->type = "provider_error";
        e->code = INVALID_CODE;
        e->upstream_status = (int)call->status;
        e->message = apr_psprintf(p, "provider '%s' sent an invalid answer: "
                                  "%s", ex->provider->name,
                                  call->error ? call->error : "unreadable");
        return;
    case LLMGW_UP_BROKEN:
    case LLMGW_UP_INTERNAL:
    case LLMGW_UP_ABORTED:
        e->status = HTTP_BAD_GATEWAY;
        e->type = "provider_error";
        e->code = "provider_connection_error";
        e->message = apr_psprintf(p, "the connection to provider '%s' failed: "
                                  "%s", ex->provider->name,
                                  call->error ? call->error : "no response");
        return;
    case LLMGW_UP_OK:
        break;
    }
    ex->xl->error(p, (int)call->status, ex->body.data, ex->body.len, e);
    e->provider = ex->provider->name;
    e->upstream_status = (int)call->status;
    if (e->retry_after < 0) {
        e->retry_after = parse_retry_after(call->retry_after);
    }
    if (e->retry_after > RETRY_AFTER_MAX) {
        e->retry_after = RETRY_AFTER_MAX;
    }
    if (e->status != HTTP_TOO_MANY_REQUESTS
        && e->status != HTTP_SERVICE_UNAVAILABLE) {
        e->retry_after = e->retry_after >= 0
                         && e->status >= HTTP_INTERNAL_SERVER_ERROR
                         ? e->retry_after : -1;
    }
}

static int retryable(const llmgw_upstream_call_t *call)
{
    if (call->result == LLMGW_UP_OK) {
        return call->status == HTTP_TOO_MANY_REQUESTS
               || call->status >= HTTP_INTERNAL_SERVER_ERROR;
    }
    return call->result == LLMGW_UP_CONNECT || call->result == LLMGW_UP_TIMEOUT
           || call->result == LLMGW_UP_BROKEN
           || call->result == LLMGW_UP_INVALID;
}

/* ------------------------------------------------- the successful end */

static void account(request_rec *r, llmgw_request_t *req)
{
    req->cost_usd = llmgw_price_cost(r->server, req->answered_provider,
                                     req->answered_model, &req->usage);
}

/* The error of a 2xx answer that is not an answer of its API. */
LLMGW_OFF_STREAM_FRAME
static void invalid_error(exchange_t *ex, llmgw_upstream_call_t *call,
                          const char *why, llmgw_error_t *e)
{
    memset(e, 0, sizeof(*e));
    e->status = HTTP_BAD_GATEWAY;
    e->type = "provider_error";
    e->code = INVALID_CODE;
    e->message = why;
    e->provider = ex->provider->name;
    e->upstream_status = (int)call->status;
    e->retry_after = -1;
}

static int invalid_response(exchange_t *ex, llmgw_upstream_call_t *call,
                            const char *why)
{
    llmgw_error_t e;
    invalid_error(ex, call, why, &e);
    llmgw_send_error_req(ex->r, ex->req, &e);
    return OK;
}

/* Why a complete 2xx answer that did not start a client stream is not
 * one of its API; NULL when finish_json can relay it. */
LLMGW_OFF_STREAM_FRAME
static const char *answer_problem(exchange_t *ex, llmgw_upstream_call_t *call)
{
    if (ex->req->stream && sse_type(call->content_type)) {
        return "the provider's stream was empty";
    }
    if (ex->req->stream) {
        return apr_psprintf(ex->r->pool, "the provider answered a stream "
                            "request with %s instead of text/event-stream",
                            call->content_type && *call->content_type
                            ? call->content_type : "no content type");
    }
    if (ex->body_overflow) {
        return "provider response too large";
    }
    if (!ex->relay && ex->xl == &llmgw_openai_translator && ex->inb
        && ex->inb->api->api == LLMGW_API_RESPONSES
        && ex->in.ep == LLMGW_EP_CHAT) {
        /* checked in the Responses writer's pass, written there */
        const char *why = NULL;
        ex->in.answer = &ex->answer;
        ex->inb->ctx.why = &why;
        ex->inb->ctx.answer_usage = &ex->answer;
        ex->client_rv = ex->inb->api->from_chat(ex->p, ex->body.data
                                                ? ex->body.data : "",
                                                ex->body.len,
                                                &ex->inb->ctx,
                                                &ex->client_out,
                                                &ex->client_len);
        ex->inb->ctx.why = NULL;
        ex->inb->ctx.answer_usage = NULL;
        ex->client_written = !why;
        return why;
    }
    if (!ex->relay && ex->xl == &llmgw_openai_translator) {
        /* relayed as it came: its usage read in the check's pass */
        ex->in.answer = &ex->answer;
        return llmgw_answer_check(ex->provider->type, ex->in.ep,
                                  ex->body.data, ex->body.len, &ex->answer);
    }
    if (!ex->relay && (ex->xl == &llmgw_anthropic_translator
                       || (ex->xl == &llmgw_gemini_translator
                           && ex->in.ep == LLMGW_EP_CHAT))) {
        /* checked in the translator's reading pass, translated there */
        const char *why = NULL;
        ex->in.why = &why;
        ex->translate_rv = ex->xl->raw_response(ex->xl, ex->p, &ex->xctx,
                                                &ex->in, ex->body.data,
                                                ex->body.len, &ex->out,
                                                &ex->out_len,
                                                &ex->req->usage);
        ex->in.why = NULL;
        ex->translated = !why;
        return why;
    }
    return llmgw_answer_invalid(ex->provider->type, ex->in.ep,
                                ex->body.data, ex->body.len);
}

/* A complete answer in the client's API: a chat.completion through the
 * adapter, a relayed one as it is; a Responses answer is kept. 0 when it
 * cannot be expressed. */
static int client_answer(exchange_t *ex, const char **out, apr_size_t *len)
{
    request_rec *r = ex->r;
    llmgw_request_t *req = ex->req;
    llmgw_inbound_t *inb = ex->inb;
    json_t *answer;

    if (ex->relay && !inb->store) {
        return 1;                   /* relayed as it came: nothing to read */
    }
    if (ex->relay) {                /* stored under the provider's id */
        answer = llmgw_json_loadb(*out, *len, JSON_ALLOW_NUL, NULL);
        if (!answer) {
            return 0;
        }
        llmgw_inbound_keep(r, req, answer, *out, *len);
        json_decref(answer);
        return 1;
    }
    if (ex->client_written) {       /* in the check's pass */
        if (ex->client_rv) {
            return 0;
        }
        *out = ex->client_out;
        *len = ex->client_len;
        llmgw_inbound_keep(r, req, NULL, *out, *len);
        return 1;
    }
    inb->ctx.provider = ex->provider->name;
    inb->ctx.duration_ms = apr_time_as_msec(apr_time_now() - r->request_time);
    inb->ctx.cost_usd = req->cost_usd;
    if (inb->api->from_chat(ex->p, *out, *len, &inb->ctx, out, len)) {
        return 0;
    }
    llmgw_inbound_keep(r, req, NULL, *out, *len);
    return 1;
}

/* A complete non-stream answer: translated if needed (an OpenAI-format
 * one is relayed as it came), usage noted. */
LLMGW_OFF_STREAM_FRAME
static int finish_json(exchange_t *ex, llmgw_upstream_call_t *call)
{
    request_rec *r = ex->r;
    llmgw_request_t *req = ex->req;
    const char *out = ex->body.data ? ex->body.data : "";
    apr_size_t out_len = ex->body.len;

    if (ex->relay) {
        llmgw_native_answer_usage(req->api, out, out_len, &req->usage);
    }
    else if (ex->translated) {
        if (ex->translate_rv) {
            return invalid_response(ex, call, "provider response could not "
                                    "be translated");
        }
        out = ex->out;
        out_len = ex->out_len;
    }
    else if (ex->xl->raw_response(ex->xl, ex->p, &ex->xctx, &ex->in, out,
                                  out_len, &out, &out_len, &req->usage)) {
        return invalid_response(ex, call, "provider response could not "
                                "be translated");
    }
    req->answered_provider = ex->provider->name;
    req->answered_model = ex->model;
    account(r, req);
    if (ex->inb && req->endpoint != LLMGW_EP_COUNT_TOKENS
        && !client_answer(ex, &out, &out_len)) {
        return invalid_response(ex, call, "provider response could not "
                                "be translated");
    }
    capture(req, out, out_len);
    req->capture_is_sse = 0;
    req->ttft = apr_time_now() - r->request_time;
    req->complete = 1;
    return llmgw_send_json(r, req, (int)call->status, out, out_len);
}

/* The upstream transfer of a stream ended: close the client stream. */
LLMGW_OFF_STREAM_FRAME
static void finish_stream(exchange_t *ex, llmgw_upstream_call_t *call)
{
    llmgw_request_t *req = ex->req;
    llmgw_error_t e;

    if (ex->client_gone || call->result == LLMGW_UP_ABORTED) {
        if (!ex->stream_end && !ex->stream_error) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, ex->r,
                          "llmgw: client left mid-stream, upstream aborted "
                          "(request_id=%s)", req->id);
            return;
        }
    }
    if (call->result == LLMGW_UP_OK && !ex->stream_end && !ex->stream_error) {
        llmgw_sse_finish(ex->sse);      /* a last event with no blank line */
    }
    if (!ex->stream_end && !ex->stream_error) {
        if (call->result == LLMGW_UP_OK && ex->relay) {
            invalid_error(ex, call, "the provider's stream ended before its "
                          "terminal event", &e);
            emit_error_event(ex, &e);
        }
        else if (call->result == LLMGW_UP_OK) {
            if (ex->xl->stream_finish(ex->xs, emit_event, ex)
                == LLMGW_XLATE_END && !ex->stream_error) {
                emit_end(ex);
            }
            else {
                ex->stream_error = 1;
            }
        }
        else {
            upstream_error(ex, call, &e);
            e.message = apr_psprintf(ex->r->pool, "stream interrupted: %s",
                                     e.message);
            emit_error_event(ex, &e);
        }
    }
    if (ex->relay) {
        llmgw_native_watch_usage(ex->watch, &req->usage);
    }
    else {
        ex->xl->stream_usage(ex->xs, &req->usage);
    }
    client_flush(ex);
    req->complete = ex->stream_end && !ex->stream_error && !ex->client_gone;
    account(ex->r, req);
    if (req->complete && ex->as && ex->inb->api->stream_result) {
        json_t *answer = ex->inb->api->stream_result(ex->as);
        if (answer) {
            llmgw_inbound_keep(ex->r, req, answer, NULL, 0);
            json_decref(answer);
        }
    }
}

/* SPEC "Translation": what LLMGWDropUnsupported dropped is listed. */
static void set_dropped_header(request_rec *r, const llmgw_xlate_report_t *rep)
{
    const char *list = NULL;
    int i;

    for (i = 0; rep->dropped && i < rep->dropped->nelts; i++) {
        const char *n = APR_ARRAY_IDX(rep->dropped, i, const char *);
        list = list ? apr_pstrcat(r->pool, list, ", ", n, NULL) : n;
    }
    if (list) {
        apr_table_set(r->headers_out, "x-llmgw-dropped", list);
    }
    else {
        apr_table_unset(r->headers_out, "x-llmgw-dropped");
    }
}

/* ------------------------------------------------- retries and fallbacks */

static json_t *request_tree(void *baton)
{
    return llmgw_request_json(baton);
}

static json_t *chat_tree(void *baton)
{
    return llmgw_inbound_chat_tree(baton);
}

/* Waits before a retry: the provider's retry-after (header or body, e.g.
 * Gemini's RetryInfo) when it gave one, else 100 ms doubling. */
LLMGW_OFF_STREAM_FRAME
static void backoff(request_rec *r, int attempt, long ra)
{
    apr_interval_time_t wait = ra >= 0 ? apr_time_from_sec(ra)
                                       : apr_time_from_msec(100 << attempt);
    if (wait > apr_time_from_sec(10)) {
        wait = apr_time_from_sec(10);     /* never hold a worker longer */
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "llmgw: retrying in %" APR_TIME_T_FMT " ms",
                  apr_time_as_msec(wait));
    apr_sleep(wait);
}

/* ------------------------------------------------- circuit breakers */

/* Whether the provider's circuit lets this attempt through (closed, or
 * this is the one probe after the cooldown); else *wait_ms is how long
 * until a probe may go. */
static int circuit_lets_through(const llmgw_provider_t *pr,
                                apr_uint64_t *wait_ms)
{
    apr_uint64_t now;
    if (!pr->circuit_slot) {
        return 1;
    }
    now = (apr_uint64_t)apr_time_as_msec(apr_time_now());
    if (llmgw_circuit_allow(pr->circuit_slot, pr->circuit, now)
        != LLMGW_CIRCUIT_DENY) {
        return 1;
    }
    *wait_ms = pr->circuit->cooldown_ms;
    return 0;
}

/* An attempt's outcome for its provider's circuit: a retryable failure
 * counts, anything else the provider answered closes it. */
static void circuit_outcome(request_rec *r, const llmgw_provider_t *pr,
                            int failed)
{
    if (!pr->circuit_slot) {
        return;
    }
    if (!failed) {
        llmgw_circuit_success(pr->circuit_slot);
    }
    else if (llmgw_circuit_failure(pr->circuit_slot, pr->circuit,
                                   (apr_uint64_t)apr_time_as_msec(
                                       apr_time_now()))) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "llmgw: circuit of "
                      "provider %s opened after %u failures", pr->name,
                      pr->circuit->failures);
    }
}

/* Every candidate's circuit is open: 503 circuit_open at once. */
LLMGW_OFF_STREAM_FRAME
static int circuits_open(request_rec *r, llmgw_request_t *req,
                         apr_uint64_t wait_ms)
{
    llmgw_error_t e;
    memset(&e, 0, sizeof(e));
    e.status = HTTP_SERVICE_UNAVAILABLE;
    e.type = "service_unavailable";
    e.code = "circuit_open";
    e.message = "every provider that could serve this request has its "
                "circuit open (too many recent failures); try again later";
    e.retry_after = (long)((wait_ms + 999) / 1000);
    llmgw_send_error_req(r, req, &e);
    return OK;
}

/* An attempt's exchange and upstream call for route rt; non-zero when
 * the request was refused instead (answered). */
LLMGW_OFF_STREAM_FRAME
static int prepare_attempt(exchange_t *ex, llmgw_upstream_call_t *call,
                           request_rec *r, llmgw_request_t *req,
                           const llmgw_dir_conf *dc, const llmgw_route_t *rt,
                           const char *raw, apr_size_t raw_len, int unchanged,
                           const struct llmgw_chat_scan *scan)
{
    const char *err = NULL;
    int rv;

    memset(ex, 0, sizeof(*ex));
    memset(call, 0, sizeof(*call));
    /* The first attempt's memory is the request's: a stream keeps
     * no pool block of its own for it (README "Performance"). A
     * retry's gets a pool, freed when it fails. */
    if (!req->attempts) {
        ex->p = r->pool;
    }
    else {
        apr_pool_create(&ex->p, r->pool);
        apr_pool_tag(ex->p, "llmgw_attempt");
    }
    ex->r = r;
    ex->req = req;
    ex->provider = rt->provider;
    ex->model = rt->model;
    ex->xl = llmgw_translator_for(rt->provider->type);
    ex->xctx.model = rt->model;
    ex->xctx.id = apr_pstrcat(ex->p, "chatcmpl-", req->id, NULL);
    ex->xctx.created = apr_time_sec(r->request_time);
    ex->xctx.request_id = req->id;
    ex->xctx.provider = rt->provider->name;
    ex->xctx.default_max_tokens = dc->default_max_tokens > 0
        ? dc->default_max_tokens : LLMGW_DEFAULT_MAX_TOKENS;
    ex->xctx.include_usage = req->include_usage;
    ex->report.drop_unsupported = dc->drop_unsupported == 1;
    ex->xctx.report = &ex->report;
    ex->report.usage = &req->usage;
    ex->in.ep = req->endpoint;
    ex->in.endpoint_name = req->endpoint_name;
    ex->in.raw = raw;
    ex->in.len = raw_len;
    ex->in.unchanged = unchanged;
    ex->in.tree = req->body;
    ex->in.scan = scan;
    ex->in.request_tree = request_tree;
    ex->in.baton = req;
    if (req->api != LLMGW_API_CHAT) {
        ex->inb = llmgw_inbound(req);
        ex->relay = llmgw_inbound_relays(req, rt->provider);
    }
    if (ex->inb && !ex->relay && req->api != LLMGW_API_INDOXHUB) {
        /* translated: the provider gets the request's Chat form */
        const char *err = NULL, *param = NULL, *code = NULL;
        int st = llmgw_inbound_chat(req, &err, &param, &code);
        if (st) {
            llmgw_error_reply(r, req, st, code, param, err);
            return 1;
        }
        ex->in.ep = LLMGW_EP_CHAT;
        ex->in.endpoint_name = "chat/completions";
        ex->in.unchanged = 0;
        if (ex->inb->chat_text) {
            /* its text: an OpenAI-compatible provider splices the
             * model into it (not when the text has the client's
             * model and the route's is that one), a native one
             * asks for the tree */
            ex->in.unchanged = !req->body_changed
                              && !strcmp(rt->model,
                                         req->requested_model);
            ex->in.raw = ex->inb->chat_text;
            ex->in.len = ex->inb->chat_len;
            ex->in.tree = NULL;
            ex->in.request_tree = chat_tree;
        }
        else {
            ex->in.raw = NULL;
            ex->in.len = 0;
            ex->in.tree = ex->inb->chat;
            ex->in.request_tree = NULL;
        }
        ex->xctx.include_usage = 1;  /* the adapter's last events */
    }
    ex->bb = apr_brigade_create(ex->p, r->connection->bucket_alloc);
    llmgw_buf_init(&ex->body, ex->p, 0);
    llmgw_buf_init(&ex->events, ex->p, 0);
    if (req->capture) {
        req->capture->len = 0;
        req->capture_overflow = 0;
    }
    rv = build_call(ex, dc, call, &err);
    if (rv) {
        llmgw_error_reply(r, req, rv, ex->report.param
                          ? "unsupported_parameter" : NULL,
                          ex->report.param, err);
        return 1;
    }
    set_dropped_header(r, &ex->report);
    return 0;
}

int llmgw_proxy(request_rec *r, llmgw_request_t *req, const llmgw_dir_conf *dc,
                 const char *raw, apr_size_t raw_len, int raw_unchanged,
                 const struct llmgw_chat_scan *scan,
                 apr_array_header_t *routes)
{
    exchange_t ex;
    llmgw_upstream_call_t call;
    llmgw_error_t *e = NULL;                /* the last attempt's failure */
    int c, attempt, retries = dc->retries >= 0 ? dc->retries : 0;
    int tried = 0;                          /* circuits: an attempt went */
    apr_uint64_t wait_ms = 0;

    for (c = 0; c < routes->nelts; c++) {
        llmgw_route_t *rt = &APR_ARRAY_IDX(routes, c, llmgw_route_t);
        for (attempt = 0; attempt <= retries; attempt++) {
            int invalid = 0;

            if (!circuit_lets_through(rt->provider, &wait_ms)) {
                break;                      /* open: the next candidate */
            }
            tried = 1;

            if (attempt) {
                llmgw_count_retry(rt->provider->name);
            }
            else if (c) {
                llmgw_count_fallback();
            }
            if (prepare_attempt(&ex, &call, r, req, dc, rt, raw, raw_len,
                                raw_unchanged && c == 0, scan)) {
                return OK;                  /* answered */
            }
            req->attempts++;
            llmgw_upstream_perform(ex.p, &call);
            req->upstream_latency = call.latency;

            if (ex.streaming) {                 /* bytes reached the client */
                circuit_outcome(r, rt->provider, 0);
                finish_stream(&ex, &call);
                llmgw_count_stream(-1);
                return OK;
            }
            if (ex.client_gone || call.result == LLMGW_UP_ABORTED) {
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "llmgw: client "
                              "left before the answer (request_id=%s)", req->id);
                req->status = CLIENT_CLOSED;
                return OK;
            }
            if (call.result == LLMGW_UP_OK
                && ap_is_HTTP_SUCCESS(call.status)) {
                const char *why = answer_problem(&ex, &call);
                if (!why) {
                    circuit_outcome(r, rt->provider, 0);
                    return finish_json(&ex, &call);
                }
                e = e ? e : apr_palloc(r->pool, sizeof(*e));
                invalid_error(&ex, &call, why, e);
                invalid = 1;        /* retried, or another route tried */
            }
            else {
                e = e ? e : apr_palloc(r->pool, sizeof(*e));
                upstream_error(&ex, &call, e);
            }
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          "llmgw: attempt %d to %s:%s failed: %s",
                          req->attempts, rt->provider->name, rt->model,
                          e->message);
            circuit_outcome(r, rt->provider, invalid || retryable(&call));
            /* e lives in r->pool: a retry's memory can go */
            if (ex.p != r->pool) {
                apr_pool_destroy(ex.p);
            }
            ex.p = NULL;
            if (!invalid && !retryable(&call)) {
                goto give_up;
            }
            if (attempt < retries) {
                backoff(r, attempt, e->retry_after);
            }
        }
    }
    if (!tried) {
        return circuits_open(r, req, wait_ms);
    }
give_up:
    req->answered_provider = ex.provider->name;
    req->answered_model = ex.model;
    llmgw_send_error_req(r, req, e);
    return OK;
}
