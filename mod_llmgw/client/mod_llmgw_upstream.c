/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* libcurl behind a small interface. Easy handles are kept in a per-process
 * LIFO pool: a handle keeps its live connections between requests, and the
 * most recently used handle (with the warmest connections) is reused first.
 * No lock is held while a transfer runs. */
#include <string.h>
#include <curl/curl.h>
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "httpd.h"
#include "http_log.h"
#include "mod_llmgw_upstream.h"

APLOG_USE_MODULE(llmgw);

#define POOL_MAX 256
#define ERROR_BODY_MAX (64 * 1024)

static apr_thread_mutex_t *pool_mutex;
static CURL *idle_handles[POOL_MAX];
static int idle_count;

static apr_status_t upstream_cleanup(void *unused)
{
    (void)unused;
    while (idle_count > 0) {
        curl_easy_cleanup(idle_handles[--idle_count]);
    }
    curl_global_cleanup();
    return APR_SUCCESS;
}

void llmgw_upstream_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "llmgw: curl_global_init failed");
    }
    apr_thread_mutex_create(&pool_mutex, APR_THREAD_MUTEX_DEFAULT, pchild);
    llmgw_http_child_init(pchild);
    llmgw_resolve_child_init(pchild, s);
    apr_pool_cleanup_register(pchild, NULL, upstream_cleanup,
                              apr_pool_cleanup_null);
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud);
static size_t on_body(char *buf, size_t size, size_t n, void *ud);
static int on_progress(void *ud, curl_off_t dlt, curl_off_t dln,
                       curl_off_t ult, curl_off_t uln);

/* Options every call shares, set once per handle: a pooled handle is not
 * reset between calls, each call sets all of its own options. */
static CURL *handle_new(void)
{
    CURL *h = curl_easy_init();
    if (h && (curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https")
              || curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L)
              || curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L)
              || curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L)
              || curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L)
              || curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L)
              || curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header)
              || curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body)
              || curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L)
              || curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress))) {
        curl_easy_cleanup(h);
        h = NULL;
    }
    return h;
}

static CURL *handle_get(void)
{
    CURL *h = NULL;
    if (pool_mutex) {
        apr_thread_mutex_lock(pool_mutex);
        if (idle_count > 0) {
            h = idle_handles[--idle_count];
        }
        apr_thread_mutex_unlock(pool_mutex);
    }
    return h ? h : handle_new();
}

static void handle_put(CURL *h, int reusable)
{
    if (reusable && pool_mutex) {
        /* no dangling pointers into the finished request's memory */
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        apr_thread_mutex_lock(pool_mutex);
        if (idle_count < POOL_MAX) {
            idle_handles[idle_count++] = h;
            h = NULL;
        }
        apr_thread_mutex_unlock(pool_mutex);
    }
    if (h) {
        curl_easy_cleanup(h);
    }
}

typedef struct {
    llmgw_upstream_call_t *call;
    apr_pool_t *pool;
    CURL *h;
    apr_time_t start;
    apr_time_t last_poll;
    int timed_out;
    int aborted;
    curl_off_t length;                 /* Content-Length, -1 when none */
    int chunked;                       /* a Transfer-Encoding header */
    const char *invalid;               /* why the framing is untrusted */
} transfer_t;

/* A header's value (trimmed) if the line is "name: value", else NULL. */
static const char *header_value(transfer_t *t, const char *buf, size_t len,
                                const char *name)
{
    size_t nl = strlen(name), vl;
    const char *v;
    if (len <= nl || strncasecmp(buf, name, nl) || buf[nl] != ':') {
        return NULL;
    }
    v = buf + nl + 1;
    vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++, vl--;
    }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '
                  || v[vl - 1] == '\t')) {
        vl--;
    }
    return apr_pstrmemdup(t->pool, v, vl);
}

/* Headers one by one. Framing curl would settle on its own (a second,
 * different Content-Length; Content-Length with Transfer-Encoding) is
 * refused here, as the native client does: never guess a body's end. */
static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    transfer_t *t = ud;
    size_t len = size * n;
    const char *v;
    if ((v = header_value(t, buf, len, "retry-after"))) {
        t->call->retry_after = v;
    }
    else if ((v = header_value(t, buf, len, "content-length"))) {
        char *end;
        apr_int64_t l = apr_strtoi64(v, &end, 10);
        if (end == v || *end || l < 0) {
            t->invalid = "an unreadable Content-Length";
        }
        else if (t->length >= 0 && t->length != l) {
            t->invalid = "two different Content-Length headers";
        }
        t->length = (curl_off_t)l;
    }
    else if (header_value(t, buf, len, "transfer-encoding")) {
        t->chunked = 1;
    }
    else if (len > 5 && !strncasecmp(buf, "HTTP/", 5)) {
        t->call->retry_after = NULL;   /* a new response (after 100-continue) */
        t->length = -1;
        t->chunked = 0;
        t->invalid = NULL;
    }
    else if (len <= 2 && t->chunked && t->length >= 0) {
        t->invalid = "Content-Length together with Transfer-Encoding";
    }
    if (t->invalid && len <= 2) {
        return 0;                      /* end of a head we refuse: stop */
    }
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    transfer_t *t = ud;
    llmgw_upstream_call_t *call = t->call;
    size_t len = size * n;

    if (!call->got_body) {
        long status = 0;
        char *ct = NULL;
        curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(t->h, CURLINFO_CONTENT_TYPE, &ct);
        call->status = status;
        call->content_type = ct ? apr_pstrdup(t->pool, ct) : NULL;
        call->latency = apr_time_now() - t->start;
        call->last_event = apr_time_now();
        call->got_body = 1;
    }
    if (call->on_data && call->on_data(call, buf, len)) {
        t->aborted = 1;
        return 0;                      /* CURLE_WRITE_ERROR: stop now */
    }
    return len;
}

/* Called about once a second while idle and after every read: enforces the
 * time-to-first-byte limit of streams, the silence limit between a
 * stream's events (LLMGWIdleTimeout), and notices a client that left. */
static int on_progress(void *ud, curl_off_t dlt, curl_off_t dln,
                       curl_off_t ult, curl_off_t uln)
{
    transfer_t *t = ud;
    apr_time_t now = apr_time_now();
    (void)dlt; (void)dln; (void)ult; (void)uln;

    if (t->call->stream && !t->call->got_body
        && now - t->start > t->call->timeout) {
        t->timed_out = 1;
        return 1;
    }
    if (t->call->stream && t->call->got_body
        && now - t->call->last_event > t->call->idle_timeout) {
        t->timed_out = 1;
        return 1;
    }
    if (t->call->should_abort && now - t->last_poll > apr_time_from_msec(100)) {
        t->last_poll = now;
        if (t->call->should_abort(t->call)) {
            t->aborted = 1;
            return 1;
        }
    }
    return 0;
}

#define SETOPT(opt, val) \
    do { if (curl_easy_setopt(h, opt, val) != CURLE_OK) goto setup_failed; } while (0)

LLMGW_OFF_STREAM_FRAME
static llmgw_up_result_e curl_perform(apr_pool_t *p,
                                      llmgw_upstream_call_t *call);

llmgw_up_result_e llmgw_upstream_perform(apr_pool_t *p,
                                         llmgw_upstream_call_t *call)
{
    if (!call->use_curl && !strncmp(call->url, "http://", 7)) {
        return llmgw_http_perform(p, call);
    }
    return curl_perform(p, call);
}

/* The call through libcurl (https, or a provider with client=curl). */
static llmgw_up_result_e curl_perform(apr_pool_t *p,
                                      llmgw_upstream_call_t *call)
{
    CURL *h;
    struct curl_slist *hdrs = NULL;
    transfer_t t;
    CURLcode rc;
    int i;

    h = handle_get();
    call->status = 0;
    call->got_body = 0;
    call->retry_after = NULL;
    call->error = NULL;
    if (!h) {
        call->error = "curl_easy_init failed";
        return call->result = LLMGW_UP_INTERNAL;
    }
    memset(&t, 0, sizeof(t));
    t.call = call;
    t.pool = p;
    t.h = h;
    t.start = t.last_poll = apr_time_now();
    t.length = -1;

    for (i = 0; call->headers && i < call->headers->nelts; i++) {
        struct curl_slist *n = curl_slist_append(
            hdrs, APR_ARRAY_IDX(call->headers, i, const char *));
        if (!n) {
            goto setup_failed;
        }
        hdrs = n;
    }
    /* No "Expect: 100-continue" round trip on large bodies. */
    hdrs = curl_slist_append(hdrs, "Expect:");

    SETOPT(CURLOPT_URL, call->url);
    SETOPT(CURLOPT_HTTPHEADER, hdrs);
    if (call->body) {
        SETOPT(CURLOPT_POST, 1L);
        SETOPT(CURLOPT_POSTFIELDS, call->body);
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
    }
    else {
        SETOPT(CURLOPT_HTTPGET, 1L);
    }
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
           (long)apr_time_as_msec(call->connect_timeout));
    /* LLMGWTimeout bounds a whole non-stream answer; a stream's first
     * byte and its silences (LLMGWIdleTimeout) are timed by on_progress */
    SETOPT(CURLOPT_TIMEOUT_MS,
           call->stream ? 0L : (long)apr_time_as_msec(call->timeout));
    SETOPT(CURLOPT_LOW_SPEED_TIME, 0L);
    SETOPT(CURLOPT_HEADERDATA, &t);
    SETOPT(CURLOPT_WRITEDATA, &t);
    SETOPT(CURLOPT_XFERINFODATA, &t);

    rc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);

    if (!call->got_body && rc == CURLE_OK) {        /* empty body */
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        call->status = status;
        call->latency = apr_time_now() - t.start;
    }
    if (rc != CURLE_OK) {
        call->error = apr_pstrdup(p, curl_easy_strerror(rc));
    }
    if (rc == CURLE_OK) {
        call->result = LLMGW_UP_OK;
    }
    else if (t.invalid || rc == CURLE_PARTIAL_FILE
             || rc == CURLE_WEIRD_SERVER_REPLY) {
        /* PARTIAL_FILE: the body ended before its Content-Length;
         * WEIRD_SERVER_REPLY: curl's own framing checks */
        if (!call->status) {
            long status = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            call->status = status;
        }
        call->result = LLMGW_UP_INVALID;
        call->error = t.invalid ? t.invalid
                      : "the body is shorter than its Content-Length";
    }
    else if (t.aborted) {
        call->result = LLMGW_UP_ABORTED;
    }
    else if (t.timed_out || rc == CURLE_OPERATION_TIMEDOUT) {
        call->result = LLMGW_UP_TIMEOUT;
    }
    else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST
             || rc == CURLE_SSL_CONNECT_ERROR) {
        call->result = LLMGW_UP_CONNECT;
    }
    else if (call->status == 0 && !call->got_body
             && (rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR
                 || rc == CURLE_SEND_ERROR)) {
        call->result = LLMGW_UP_BROKEN;
    }
    else {
        call->result = LLMGW_UP_BROKEN;
    }
    /* an aborted or broken transfer leaves the connection unusable;
     * curl closes it itself, the handle stays good */
    handle_put(h, 1);
    return call->result;

setup_failed:
    curl_slist_free_all(hdrs);
    handle_put(h, 0);
    call->error = "curl setup failed";
    return call->result = LLMGW_UP_INTERNAL;
}
