/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* A small HTTP/1.1 client on non-blocking sockets (poll for the waits;
 * APR resolves the address) for plain-http upstreams (local
 * and in-cluster providers: Ollama, vLLM, sidecars, the mocks), the path
 * where the gateway's own overhead shows most. It does what a gateway
 * needs and no more: one request, a body as it arrives (Content-Length,
 * chunked or until close), keep-alive connections in a per-process LIFO
 * pool, timeouts, and a check for a client that left. https and anything
 * else goes through libcurl (mod_llmgw_upstream.c). */
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_network_io.h"
#include "apr_thread_mutex.h"
#include "apr_portable.h"      /* apr_os_sock_get */
#include "httpd.h"            /* status constants */
#include "mod_llmgw_upstream.h"

#define IDLE_MAX      256                  /* pooled connections a process */
#define IDLE_TTL      apr_time_from_sec(30)
#define HEAD_MAX      (64 * 1024)          /* status line + headers */
/* The read buffer is the request's: 6 KB for an answer, 1 KB for a
 * stream, which keeps it for its whole life (reads there are an event or
 * two; a longer head or line grows it). */
#define READ_SIZE     6144
#define STREAM_READ_SIZE 1024
#define POLL_SLICE    apr_time_from_msec(200)

/* A connection is a descriptor and its key, malloc'd: no pool of its own,
 * whose 8 KB block would cost a held stream a page (README "Performance"). */
typedef struct conn {
    int fd;                                /* non-blocking */
    char key[128];                         /* "host:port" */
    apr_time_t idle_since;
} conn_t;

static apr_thread_mutex_t *idle_mutex;
static conn_t *idle[IDLE_MAX];
static int idle_count;

static void conn_close(conn_t *c)
{
    if (c) {
        close(c->fd);
        free(c);
    }
}

static apr_status_t http_cleanup(void *unused)
{
    (void)unused;
    while (idle_count > 0) {
        conn_close(idle[--idle_count]);
    }
    idle_mutex = NULL;
    return APR_SUCCESS;
}

void llmgw_http_child_init(apr_pool_t *pchild)
{
    apr_thread_mutex_create(&idle_mutex, APR_THREAD_MUTEX_DEFAULT, pchild);
    apr_pool_cleanup_register(pchild, NULL, http_cleanup,
                              apr_pool_cleanup_null);
}

/* A connection that has no unread byte and no EOF pending is reusable. */
static int conn_alive(conn_t *c)
{
    struct pollfd pfd;
    pfd.fd = c->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    return poll(&pfd, 1, 0) == 0;
}

/* The most recently used idle connection to key (LIFO: the warmest). */
LLMGW_OFF_STREAM_FRAME
static conn_t *conn_take(const char *key)
{
    apr_time_t now = apr_time_now();
    int i;
    if (!idle_mutex) {
        return NULL;
    }
    for (;;) {
        conn_t *c = NULL;
        apr_thread_mutex_lock(idle_mutex);
        for (i = idle_count - 1; i >= 0; i--) {
            if (!strcmp(idle[i]->key, key)) {
                c = idle[i];
                memmove(idle + i, idle + i + 1,
                        (apr_size_t)(idle_count - i - 1) * sizeof(conn_t *));
                idle_count--;
                break;
            }
        }
        apr_thread_mutex_unlock(idle_mutex);
        if (!c) {
            return NULL;
        }
        if (now - c->idle_since < IDLE_TTL && conn_alive(c)) {
            return c;
        }
        conn_close(c);                      /* closed by the peer: next */
    }
}

static void conn_give(conn_t *c)
{
    conn_t *evict = NULL;
    if (!idle_mutex) {
        conn_close(c);
        return;
    }
    c->idle_since = apr_time_now();
    apr_thread_mutex_lock(idle_mutex);
    if (idle_count == IDLE_MAX) {
        evict = idle[0];                    /* the coldest */
        memmove(idle, idle + 1, (IDLE_MAX - 1) * sizeof(conn_t *));
        idle_count--;
    }
    idle[idle_count++] = c;
    apr_thread_mutex_unlock(idle_mutex);
    conn_close(evict);
}

/* Waits until fd is ready for events or deadline passes. */
static apr_status_t wait_fd(int fd, short events, apr_time_t deadline)
{
    for (;;) {
        struct pollfd pfd;
        apr_time_t now = apr_time_now();
        int n;
        if (now >= deadline) {
            return APR_TIMEUP;
        }
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
        if (n > 0) {
            return APR_SUCCESS;
        }
        if (n < 0 && errno != EINTR) {
            return APR_FROM_OS_ERROR(errno);
        }
    }
}

LLMGW_OFF_STREAM_FRAME
static apr_status_t conn_open(const char *key, const char *host,
                              apr_port_t port, apr_interval_time_t timeout,
                              apr_pool_t *p, conn_t **out)
{
    apr_sockaddr_t *sa;
    conn_t *c;
    apr_status_t rv;
    int on = 1, err = 0;
    socklen_t len = sizeof(err);

    if ((rv = llmgw_resolve(&sa, host, port, p)) != APR_SUCCESS) {
        return rv;
    }
    if (!(c = calloc(1, sizeof(*c)))) {
        return APR_ENOMEM;
    }
    apr_cpystrn(c->key, key, sizeof(c->key));
    c->fd = socket(sa->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        rv = APR_FROM_OS_ERROR(errno);
        free(c);
        return rv;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    if (connect(c->fd, (struct sockaddr *)&sa->sa, sa->salen) == 0) {
        rv = APR_SUCCESS;
    }
    else if (errno != EINPROGRESS) {
        rv = APR_FROM_OS_ERROR(errno);
    }
    else if ((rv = wait_fd(c->fd, POLLOUT, apr_time_now() + timeout))
             == APR_SUCCESS
             && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0
             && err) {
        rv = APR_FROM_OS_ERROR(err);
    }
    if (rv != APR_SUCCESS) {
        conn_close(c);
        return rv;
    }
    *out = c;
    return APR_SUCCESS;
}

/* Writes the iovecs whole, waiting up to timeout whenever the socket is
 * full. */
LLMGW_OFF_STREAM_FRAME
static apr_status_t send_all(int fd, struct iovec *v, int nv,
                             apr_interval_time_t timeout)
{
    while (nv > 0) {
        ssize_t sent = writev(fd, v, nv);
        if (sent < 0) {
            apr_status_t rv;
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                return APR_FROM_OS_ERROR(errno);
            }
            if ((rv = wait_fd(fd, POLLOUT, apr_time_now() + timeout))) {
                return rv;
            }
            continue;
        }
        while (nv > 0 && (apr_size_t)sent >= v->iov_len) {
            sent -= (ssize_t)v->iov_len;
            v++;
            nv--;
        }
        if (nv > 0) {
            v->iov_base = (char *)v->iov_base + sent;
            v->iov_len -= (apr_size_t)sent;
        }
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------ the response */

typedef enum { BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE } body_kind_e;

typedef struct {
    llmgw_upstream_call_t *call;
    apr_pool_t *p;
    conn_t *c;
    apr_time_t start, deadline;           /* deadline: whole non-stream call */
    apr_time_t last_poll;
    char *buf;
    apr_size_t size;                       /* of buf */
    apr_size_t len;                        /* unread bytes at buf */
    int timed_out, aborted, eof;
    int client_busy;                       /* its socket is readable: slices */
    const char *invalid;                   /* why the framing is untrusted */
} reader_t;

/* More bytes into r->buf (after what is unread, up to cap bytes in all:
 * the buffer grows to cap when it is smaller). Waits in slices so that a
 * client that left is noticed, and applies the time limits. */
static apr_status_t fill(reader_t *r, apr_size_t cap)
{
    llmgw_upstream_call_t *call = r->call;
    apr_os_sock_t client_fd = -1;

    if (cap > r->size) {
        char *nb = apr_palloc(r->p, cap);
        memcpy(nb, r->buf, r->len);
        r->buf = nb;
        r->size = cap;
    }
    /* Reads never block; the waits are one poll() on the upstream socket
     * and the client's: a client that leaves wakes the thread at once, and
     * a waiting stream costs no wake-up until its upstream sends (a stream
     * holds its thread, and 10,000 threads woken every 200 ms to look at
     * their client were most of the CPU of 10,000 streams). When the
     * client's socket cannot tell (no socket, HTTP/2, or readable with
     * bytes: a pipelined request, TLS), should_abort is asked every 100 ms,
     * in waits of POLL_SLICE. */
    if (call->should_abort && call->client_socket && !r->client_busy
        && apr_os_sock_get(&client_fd, call->client_socket) != APR_SUCCESS) {
        client_fd = -1;
    }
    for (;;) {
        apr_time_t now, limit, wait;
        struct pollfd pfd[2];
        int np = 1, ms;
        ssize_t n = recv(r->c->fd, r->buf + r->len, cap - r->len, 0);

        if (n > 0) {
            r->len += (apr_size_t)n;
            return APR_SUCCESS;
        }
        if (n == 0) {
            r->eof = 1;
            return APR_EOF;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return APR_FROM_OS_ERROR(errno);
        }

        /* LLMGWTimeout: the first byte, and a whole non-stream answer;
         * LLMGWIdleTimeout: silence between the events of a stream (a
         * byte dripped now and then is not an event). */
        now = apr_time_now();
        if (call->stream && call->got_body) {
            limit = call->last_event + call->idle_timeout;
        }
        else {
            limit = r->deadline;
        }
        if (now >= limit) {
            r->timed_out = 1;
            return APR_TIMEUP;
        }
        wait = limit - now;
        pfd[0].fd = r->c->fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        if (client_fd >= 0 && !r->client_busy) {
            pfd[1].fd = client_fd;
            pfd[1].events = POLLIN | POLLRDHUP;
            pfd[1].revents = 0;
            np = 2;
        }
        else if (call->should_abort && wait > POLL_SLICE) {
            wait = POLL_SLICE;
        }
        ms = (int)((wait + 999) / 1000);
        if (poll(pfd, (nfds_t)np, ms) < 0 && errno != EINTR) {
            return APR_FROM_OS_ERROR(errno);
        }
        if (np == 2 && pfd[1].revents) {
            if (call->should_abort(call)) {
                r->aborted = 1;
                return APR_ECONNABORTED;
            }
            r->client_busy = 1;              /* bytes, not an EOF */
        }
        else if (np == 1 && call->should_abort
                 && apr_time_now() - r->last_poll >= apr_time_from_msec(100)) {
            r->last_poll = apr_time_now();
            if (call->should_abort(call)) {
                r->aborted = 1;
                return APR_ECONNABORTED;
            }
        }
    }
}

/* The capacity to fill to for a head or a trailer line that is not
 * complete yet: the buffer, doubled when full (up to HEAD_MAX). */
static apr_size_t room_for_more(const reader_t *r)
{
    apr_size_t size = r->size;
    if (r->len >= size) {
        size = size * 2 > HEAD_MAX ? HEAD_MAX : size * 2;
    }
    return size;
}

/* Hands n body bytes to the caller; non-zero when it wants to stop. */
static int deliver(reader_t *r, const char *d, apr_size_t n)
{
    llmgw_upstream_call_t *call = r->call;
    if (!n) {
        return 0;
    }
    if (!call->got_body) {
        call->got_body = 1;
        call->last_event = apr_time_now();
        call->latency = call->last_event - r->start;
    }
    if (call->on_data && call->on_data(call, d, n)) {
        r->aborted = 1;
        return 1;
    }
    return 0;
}

static void consume(reader_t *r, apr_size_t n)
{
    r->len -= n;
    if (r->len) {
        memmove(r->buf, r->buf + n, r->len);
    }
}

/* Reads status line and headers; returns the body's framing. */
LLMGW_OFF_STREAM_FRAME
static apr_status_t read_head(reader_t *r, body_kind_e *kind,
                              apr_int64_t *length, int *keep_alive)
{
    llmgw_upstream_call_t *call = r->call;
    apr_status_t rv;

    for (;;) {                               /* skip 1xx answers */
        char *end, *line, *next;
        int minor = 1, te = 0;

        while (!(end = memmem(r->buf, r->len, "\r\n\r\n", 4))) {
            if (r->len >= HEAD_MAX) {
                return APR_EGENERAL;
            }
            if ((rv = fill(r, room_for_more(r))) != APR_SUCCESS) {
                return rv;
            }
        }
        *end = '\0';
        if (strncmp(r->buf, "HTTP/1.", 7) || r->len < 12
            || !apr_isdigit(r->buf[9]) || !apr_isdigit(r->buf[10])
            || !apr_isdigit(r->buf[11])) {
            return APR_EGENERAL;
        }
        minor = r->buf[7] - '0';
        call->status = (r->buf[9] - '0') * 100 + (r->buf[10] - '0') * 10
                       + (r->buf[11] - '0');
        *kind = BODY_CLOSE;
        *length = -1;
        *keep_alive = minor >= 1;
        call->content_type = NULL;
        call->retry_after = NULL;
        for (line = strchr(r->buf, '\n'); line; line = next) {
            char *colon, *v, *e;
            line++;
            next = strchr(line, '\n');
            e = next ? next : line + strlen(line);
            while (e > line && (e[-1] == '\r' || e[-1] == '\n')) {
                e--;
            }
            if (!(colon = memchr(line, ':', (apr_size_t)(e - line)))) {
                continue;
            }
            for (v = colon + 1; v < e && (*v == ' ' || *v == '\t'); v++)
                ;
#define HDR(n) ((apr_size_t)(colon - line) == sizeof(n) - 1 \
                && !strncasecmp(line, n, sizeof(n) - 1))
            if (HDR("content-length")) {
                char *num = apr_pstrmemdup(r->p, v, (apr_size_t)(e - v)), *ne;
                apr_int64_t l = apr_strtoi64(num, &ne, 10);
                while (*ne == ' ' || *ne == '\t') {
                    ne++;
                }
                if (ne == num || *ne || l < 0) {
                    r->invalid = "an unreadable Content-Length";
                }
                else if (*length >= 0 && *length != l) {
                    r->invalid = "two different Content-Length headers";
                }
                *length = l;
                if (*kind != BODY_CHUNKED) {
                    *kind = BODY_LENGTH;
                }
            }
            else if (HDR("transfer-encoding")) {
                te = 1;
                if (e - v >= 7 && !strncasecmp(e - 7, "chunked", 7)) {
                    *kind = BODY_CHUNKED;
                }
            }
            else if (HDR("connection")) {
                if (e - v >= 5 && !strncasecmp(v, "close", 5)) {
                    *keep_alive = 0;
                }
                else if (e - v >= 10 && !strncasecmp(v, "keep-alive", 10)) {
                    *keep_alive = 1;
                }
            }
            else if (HDR("content-type")) {
                call->content_type = apr_pstrmemdup(r->p, v, (apr_size_t)(e - v));
            }
            else if (HDR("retry-after")) {
                call->retry_after = apr_pstrmemdup(r->p, v, (apr_size_t)(e - v));
            }
#undef HDR
        }
        consume(r, (apr_size_t)(end - r->buf) + 4);
        if (te && *length >= 0) {
            /* RFC 9112 6.3: a smuggling vector; never guess which wins */
            r->invalid = "Content-Length together with Transfer-Encoding";
        }
        if (call->status >= HTTP_OK
            || call->status == HTTP_SWITCHING_PROTOCOLS) {
            break;
        }
    }
    if (call->status == HTTP_NO_CONTENT
        || call->status == HTTP_NOT_MODIFIED) {
        *kind = BODY_LENGTH;
        *length = 0;
    }
    if (*kind == BODY_CLOSE) {
        *keep_alive = 0;
    }
    return APR_SUCCESS;
}

/* The body; APR_SUCCESS when all of it was read (or delivery stopped). */
static apr_status_t read_body(reader_t *r, body_kind_e kind,
                              apr_int64_t length)
{
    apr_status_t rv;

    if (kind == BODY_LENGTH) {
        while (length > 0) {
            apr_size_t n;
            if (!r->len && (rv = fill(r, r->size)) != APR_SUCCESS) {
                if (APR_STATUS_IS_EOF(rv)) {
                    r->invalid = "the body is shorter than its Content-Length";
                }
                return rv;
            }
            n = (apr_int64_t)r->len < length ? r->len : (apr_size_t)length;
            if (deliver(r, r->buf, n)) {
                return APR_ECONNABORTED;
            }
            consume(r, n);
            length -= (apr_int64_t)n;
        }
        return APR_SUCCESS;
    }
    if (kind == BODY_CLOSE) {
        for (;;) {
            if (!r->len && (rv = fill(r, r->size)) != APR_SUCCESS) {
                return APR_STATUS_IS_EOF(rv) ? APR_SUCCESS : rv;
            }
            if (deliver(r, r->buf, r->len)) {
                return APR_ECONNABORTED;
            }
            r->len = 0;
        }
    }
    for (;;) {                               /* chunked */
        char *crlf, *end;
        apr_int64_t size;
        while (!(crlf = memchr(r->buf, '\n', r->len))) {
            if (r->len >= 1024) {
                return APR_EGENERAL;
            }
            if ((rv = fill(r, r->size)) != APR_SUCCESS) {
                return rv;
            }
        }
        size = apr_strtoi64(r->buf, &end, 16);
        if (end == r->buf || size < 0) {
            return APR_EGENERAL;
        }
        consume(r, (apr_size_t)(crlf - r->buf) + 1);
        if (size == 0) {
            /* trailers, then the final empty line */
            for (;;) {
                while (!(crlf = memchr(r->buf, '\n', r->len))) {
                    if (r->len >= HEAD_MAX) {
                        return APR_EGENERAL;
                    }
                    if ((rv = fill(r, room_for_more(r))) != APR_SUCCESS) {
                        return rv;
                    }
                }
                if (crlf - r->buf <= 1) {
                    consume(r, (apr_size_t)(crlf - r->buf) + 1);
                    return APR_SUCCESS;
                }
                consume(r, (apr_size_t)(crlf - r->buf) + 1);
            }
        }
        while (size > 0) {
            apr_size_t n;
            if (!r->len && (rv = fill(r, r->size)) != APR_SUCCESS) {
                return rv;
            }
            n = (apr_int64_t)r->len < size ? r->len : (apr_size_t)size;
            if (deliver(r, r->buf, n)) {
                return APR_ECONNABORTED;
            }
            consume(r, n);
            size -= (apr_int64_t)n;
        }
        while (r->len < 2) {                 /* the CRLF after the data */
            if ((rv = fill(r, r->size)) != APR_SUCCESS) {
                return rv;
            }
        }
        if (r->buf[0] == '\r' && r->buf[1] == '\n') {
            consume(r, 2);
        }
        else if (r->buf[0] == '\n') {
            consume(r, 1);
        }
        else {
            return APR_EGENERAL;
        }
    }
}

/* ------------------------------------------------------ the call */

static llmgw_up_result_e fail(llmgw_upstream_call_t *call,
                              llmgw_up_result_e result, const char *error)
{
    call->error = error;
    return call->result = result;
}

/* s copied to o; the end of the copy */
static char *put_str(char *o, const char *s)
{
    apr_size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

llmgw_up_result_e llmgw_http_perform(apr_pool_t *p,
                                     llmgw_upstream_call_t *call)
{
    const char *key = call->conn_key, *path = call->path;
    const char *host_hdr = call->host_header;
    struct iovec iov[2];
    char *head;
    reader_t r;
    int attempt, i;

    call->status = 0;
    call->got_body = 0;
    call->retry_after = NULL;
    call->content_type = NULL;
    call->error = NULL;
    if (!call->host || !key || !host_hdr || !path) {
        return fail(call, LLMGW_UP_INTERNAL, "invalid upstream URL");
    }

    /* the request head: headers as given, then framing */
    {
        apr_size_t n = strlen(path) + strlen(host_hdr) + 128;
        char *o;
        for (i = 0; call->headers && i < call->headers->nelts; i++) {
            n += strlen(APR_ARRAY_IDX(call->headers, i, const char *)) + 2;
        }
        head = o = apr_palloc(p, n);
        /* written with memcpy: the formatter costs more than the rest */
        if (call->body) {
            memcpy(o, "POST ", 5);
            o += 5;
        }
        else {
            memcpy(o, "GET ", 4);
            o += 4;
        }
        o = put_str(o, path);
        memcpy(o, " HTTP/1.1\r\nHost: ", 17);
        o = put_str(o + 17, host_hdr);
        *o++ = '\r';
        *o++ = '\n';
        for (i = 0; call->headers && i < call->headers->nelts; i++) {
            const char *h = APR_ARRAY_IDX(call->headers, i, const char *);
            apr_size_t hl = strlen(h);
            memcpy(o, h, hl);
            o += hl;
            *o++ = '\r';
            *o++ = '\n';
        }
        if (call->body) {
            char d[24], *e = d + sizeof(d), *q = e;
            apr_size_t v = call->body_len;
            do {
                *--q = (char)('0' + v % 10);
                v /= 10;
            } while (v);
            memcpy(o, "Content-Length: ", 16);
            memcpy(o + 16, q, (apr_size_t)(e - q));
            o += 16 + (e - q);
            *o++ = '\r';
            *o++ = '\n';
        }
        memcpy(o, "\r\n", 3);
    }

    memset(&r, 0, sizeof(r));
    r.call = call;
    r.p = p;
    r.start = r.last_poll = apr_time_now();
    r.deadline = r.start + call->timeout;
    r.size = call->stream ? STREAM_READ_SIZE : READ_SIZE;
    r.buf = apr_palloc(p, r.size);

    /* A pooled connection may have been closed by the server just now:
     * when it fails before any byte came back, try once on a new one. */
    for (attempt = 0; attempt < 2; attempt++) {
        body_kind_e kind;
        apr_int64_t length;
        int keep_alive, reused = 0;
        apr_status_t rv;

        r.c = attempt == 0 ? conn_take(key) : NULL;
        if (r.c) {
            reused = 1;
        }
        else if ((rv = conn_open(key, call->host, call->port,
                                 call->connect_timeout, p, &r.c))
                 != APR_SUCCESS) {
            return fail(call, APR_STATUS_IS_TIMEUP(rv) ? LLMGW_UP_TIMEOUT
                                                       : LLMGW_UP_CONNECT,
                        apr_psprintf(p, "could not connect: %pm", &rv));
        }
        iov[0].iov_base = head;
        iov[0].iov_len = strlen(head);
        iov[1].iov_base = (char *)(call->body ? call->body : "");
        iov[1].iov_len = call->body ? call->body_len : 0;
        rv = send_all(r.c->fd, iov, iov[1].iov_len ? 2 : 1,
                      call->connect_timeout);
        r.len = 0;
        r.eof = 0;
        if (rv == APR_SUCCESS) {
            rv = read_head(&r, &kind, &length, &keep_alive);
        }
        if (rv != APR_SUCCESS) {
            int nothing = r.len == 0 && !call->status;
            conn_close(r.c);
            r.c = NULL;
            if (r.aborted) {
                return fail(call, LLMGW_UP_ABORTED, "client went away");
            }
            if (r.timed_out) {
                return fail(call, LLMGW_UP_TIMEOUT, "upstream timed out");
            }
            if (reused && nothing) {
                continue;                    /* stale keep-alive connection */
            }
            return fail(call, LLMGW_UP_BROKEN, nothing
                        ? "the provider closed the connection without an answer"
                        : "the provider sent an invalid response head");
        }
        if (r.invalid) {
            conn_close(r.c);
            return fail(call, LLMGW_UP_INVALID, r.invalid);
        }
        rv = read_body(&r, kind, length);
        if (rv == APR_SUCCESS && keep_alive && !r.aborted && !r.len) {
            conn_give(r.c);
        }
        else {
            conn_close(r.c);
        }
        if (!call->got_body) {
            call->latency = apr_time_now() - r.start;
        }
        if (r.aborted) {
            return fail(call, LLMGW_UP_ABORTED, "transfer stopped");
        }
        if (rv == APR_SUCCESS) {
            return call->result = LLMGW_UP_OK;
        }
        if (r.timed_out) {
            return fail(call, LLMGW_UP_TIMEOUT, "upstream timed out");
        }
        if (r.invalid) {
            return fail(call, LLMGW_UP_INVALID, r.invalid);
        }
        return fail(call, LLMGW_UP_BROKEN,
                    "the provider closed the connection mid-response");
    }
    return fail(call, LLMGW_UP_BROKEN,
                "the provider closed the connection without an answer");
}
