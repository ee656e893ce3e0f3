/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The OTLP/HTTP trace exporter of a child (mod_llmgw_otlp.h). The queue's
 * mutex is held only to copy a span in or a batch out, never during an
 * HTTP call. */
#include <string.h>
#include <stdlib.h>
#include <curl/curl.h>
#include "mod_llmgw_otlp.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_thread_mutex.h"
#include "apr_thread_cond.h"
#include "http_log.h"

APLOG_USE_MODULE(llmgw);

#define QUEUE_DEFAULT 1024
#define QUEUE_MAX     65536
#define BATCH         128
#define LINGER        apr_time_from_msec(200)   /* longest wait of a span */

/* configuration (main server), read again at every restart */
static const char *endpoint;
static int queue_size = QUEUE_DEFAULT;

/* this child's exporter */
static struct {
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *cv;
    llmgw_span_t *q;
    int cap, head, len;
    volatile int stop;
    apr_thread_t *thread;
    llmgw_span_t *batch;
    const char *url;
    const char *host;
    llmgw_metrics_t *m;
    server_rec *s;
} ox;

const char *llmgw_cmd_otlp_endpoint(cmd_parms *cmd, void *dconf, int argc,
                                    char *const argv[])
{
    const char *url;
    apr_size_t n;
    int i;
    (void)dconf;

    if (cmd->server->is_virtual) {
        return "LLMGWOTLPEndpoint: allowed in the main server configuration "
               "only";
    }
    if (argc < 1 || (strncmp(argv[0], "http://", 7)
                     && strncmp(argv[0], "https://", 8))) {
        return "LLMGWOTLPEndpoint: takes the collector's http:// or "
               "https:// URL (OTLP/HTTP; /v1/traces is appended)";
    }
    url = apr_pstrdup(cmd->pool, argv[0]);
    n = strlen(url);
    while (n && url[n - 1] == '/') {
        n--;
    }
    if (n < 10 || strncmp(url + n - 10, "/v1/traces", 10)) {
        url = apr_pstrcat(cmd->pool, apr_pstrmemdup(cmd->pool, url, n),
                          "/v1/traces", NULL);
    }
    for (i = 1; i < argc; i++) {
        char *end;
        long v;
        if (strncmp(argv[i], "queue=", 6)) {
            return apr_psprintf(cmd->pool, "LLMGWOTLPEndpoint: unknown option "
                                "'%s' (queue=N)", argv[i]);
        }
        v = strtol(argv[i] + 6, &end, 10);
        if (*end || v < 1 || v > QUEUE_MAX) {
            return apr_psprintf(cmd->pool, "LLMGWOTLPEndpoint: queue= takes "
                                "1 to %d spans", QUEUE_MAX);
        }
        queue_size = (int)v;
    }
    endpoint = url;
    return NULL;
}

void llmgw_otlp_pre_config(void)
{
    endpoint = NULL;
    queue_size = QUEUE_DEFAULT;
}

int llmgw_otlp_enabled(void)
{
    return ox.thread != NULL;
}

int llmgw_otlp_enqueue(const llmgw_span_t *sp)
{
    int wake;
    if (!ox.thread) {
        return 0;
    }
    apr_thread_mutex_lock(ox.mu);
    if (ox.len == ox.cap || ox.stop) {
        apr_thread_mutex_unlock(ox.mu);
        return -1;
    }
    ox.q[(ox.head + ox.len) % ox.cap] = *sp;
    wake = ++ox.len == BATCH;
    apr_thread_mutex_unlock(ox.mu);
    if (wake) {
        apr_thread_cond_signal(ox.cv);
    }
    return 0;
}

/* ------------------------------------------------ the thread */

static size_t discard(char *d, size_t size, size_t n, void *ud)
{
    (void)d; (void)ud;
    return size * n;
}

/* Aborts a transfer when the child is stopping (the final flush has its
 * own short timeout instead). */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c,
                       curl_off_t d)
{
    (void)a; (void)b; (void)c; (void)d;
    return ud ? 0 : ox.stop;
}

/* While a collector that refused or timed out is given time to come back,
 * batches are dropped unencoded: a dead collector costs no CPU either. */
#define DOWN_PAUSE apr_time_from_sec(1)
static apr_time_t down_until;

static void export(CURL *h, struct curl_slist *hdr, int n, int final)
{
    char *body;
    long status = 0;
    CURLcode rc;

    if (apr_time_now() < down_until) {
        while (n--) {
            llmgw_metrics_inc(ox.m, LLMGW_M_OTLP_DROPPED_EXPORT);
        }
        return;
    }
    body = llmgw_otlp_json(ox.batch, n, "llmgw", LLMGW_VERSION, ox.host);
    if (!body) {
        rc = CURLE_OUT_OF_MEMORY;
    }
    else {
        curl_easy_setopt(h, CURLOPT_URL, ox.url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, final ? 300L : 1000L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, final ? 500L : 3000L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, final ? (void *)h : NULL);
        rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        free(body);
    }
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        while (n--) {
            llmgw_metrics_inc(ox.m, LLMGW_M_OTLP_EXPORTED);
        }
        return;
    }
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT
        || rc == CURLE_COULDNT_RESOLVE_HOST) {
        down_until = apr_time_now() + DOWN_PAUSE;
    }
    while (n--) {
        llmgw_metrics_inc(ox.m, LLMGW_M_OTLP_DROPPED_EXPORT);
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ox.s, "llmgw: OTLP export to "
                 "%s failed (%s, HTTP %ld): batch dropped", ox.url,
                 curl_easy_strerror(rc), status);
}

static void *APR_THREAD_FUNC exporter(apr_thread_t *t, void *data)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: "
                                               "application/json");
    (void)t;
    (void)data;

    for (;;) {
        int n, i, stopping;
        apr_thread_mutex_lock(ox.mu);
        while (!ox.stop && ox.len < BATCH) {
            if (apr_thread_cond_timedwait(ox.cv, ox.mu, LINGER)
                == APR_TIMEUP && ox.len) {
                break;
            }
        }
        stopping = ox.stop;
        n = ox.len < BATCH ? ox.len : BATCH;
        for (i = 0; i < n; i++) {
            ox.batch[i] = ox.q[(ox.head + i) % ox.cap];
        }
        ox.head = (ox.head + n) % ox.cap;
        ox.len -= n;
        apr_thread_mutex_unlock(ox.mu);
        if (n && h) {
            export(h, hdr, n, stopping);
        }
        if (stopping) {
            /* one last batch, with a short timeout: a dead collector must
             * not hold the child's exit; the rest is dropped */
            apr_thread_mutex_lock(ox.mu);
            for (i = 0; i < ox.len; i++) {
                llmgw_metrics_inc(ox.m, LLMGW_M_OTLP_DROPPED_EXPORT);
            }
            ox.len = 0;
            apr_thread_mutex_unlock(ox.mu);
            break;
        }
    }
    curl_slist_free_all(hdr);
    if (h) {
        curl_easy_cleanup(h);
    }
    /* returning ends the thread (apr_thread_join gets no status back);
     * apr_thread_exit would pthread_exit from an instrumented frame, which
     * AddressSanitizer's thread teardown trips over (see the usage
     * checkpoint thread) */
    return NULL;
}

static apr_status_t otlp_stop(void *unused)
{
    apr_status_t rv;
    (void)unused;
    if (!ox.thread) {
        return APR_SUCCESS;
    }
    apr_thread_mutex_lock(ox.mu);
    ox.stop = 1;
    apr_thread_mutex_unlock(ox.mu);
    apr_thread_cond_broadcast(ox.cv);
    apr_thread_join(&rv, ox.thread);
    ox.thread = NULL;
    return APR_SUCCESS;
}

void llmgw_otlp_child_init(apr_pool_t *pchild, server_rec *s,
                           llmgw_metrics_t *m)
{
    apr_status_t rv;

    memset(&ox, 0, sizeof(ox));
    down_until = 0;
    if (!endpoint) {
        return;
    }
    ox.cap = queue_size;
    ox.q = apr_palloc(pchild, sizeof(*ox.q) * (apr_size_t)ox.cap);
    ox.batch = apr_palloc(pchild, sizeof(*ox.batch) * BATCH);
    ox.url = endpoint;
    ox.host = s->server_hostname ? s->server_hostname : "";
    ox.m = m;
    ox.s = s;
    if ((rv = apr_thread_mutex_create(&ox.mu, APR_THREAD_MUTEX_DEFAULT,
                                      pchild)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&ox.cv, pchild)) != APR_SUCCESS
        || (rv = apr_thread_create(&ox.thread, NULL, exporter, NULL,
                                   pchild)) != APR_SUCCESS) {
        ox.thread = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "llmgw: cannot start the "
                     "OTLP exporter thread: no traces from this process");
        return;
    }
    /* a pre-cleanup: the thread's own pool (a sub-pool of pchild) and the
     * queue's mutex must outlive it */
    apr_pool_pre_cleanup_register(pchild, NULL, otlp_stop);
}
