/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Spans of gateway requests as OTLP/HTTP JSON (llmgw_otlp.h). */
#include <string.h>
#include <stdio.h>
#include <jansson.h>
#include <apr_strings.h>
#include "llmgw_otlp.h"
#include "llmgw_digest.h"
#include "llmgw_num.h"

#define KIND_SERVER 2
#define KIND_CLIENT 3
#define STATUS_UNSET 0
#define STATUS_ERROR 2

void llmgw_span_str(char *field, apr_size_t size, const char *s)
{
    apr_cpystrn(field, s ? s : "", size);
}

static int unhex(const char *s, unsigned char *out, apr_size_t n)
{
    apr_size_t i;
    int nonzero = 0;
    for (i = 0; i < 2 * n; i++) {
        int c = s[i], v;
        if (c >= '0' && c <= '9') {
            v = c - '0';
        }
        else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;
        }
        else {
            return -1;               /* W3C: lower-case hex only */
        }
        if (i % 2 == 0) {
            out[i / 2] = (unsigned char)(v << 4);
        }
        else {
            out[i / 2] |= (unsigned char)v;
        }
        nonzero |= v;
    }
    return nonzero ? 0 : -1;
}

int llmgw_otlp_traceparent(const char *v, unsigned char trace_id[16],
                           unsigned char parent_id[8])
{
    unsigned char t[16], p[8];
    /* version "00": exactly 55 characters; a later version may append */
    if (!v || strlen(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-'
        || !strncmp(v, "ff", 2) || (strlen(v) > 55 && v[55] != '-')
        || (!strncmp(v, "00", 2) && strlen(v) != 55)) {
        return -1;
    }
    if (unhex(v + 3, t, 16) || unhex(v + 36, p, 8)) {
        return -1;
    }
    memcpy(trace_id, t, 16);
    memcpy(parent_id, p, 8);
    return 0;
}

static json_t *hexid(const unsigned char *id, apr_size_t n)
{
    char h[33];
    llmgw_hex(id, n, h);
    return json_string(h);
}

static json_t *nanos(apr_time_t usec)
{
    char b[32];
    snprintf(b, sizeof(b), "%" APR_INT64_T_FMT "000", (apr_int64_t)usec);
    return json_string(b);
}

static void attr_str(json_t *a, const char *key, const char *v)
{
    if (v && *v) {
        json_array_append_new(a, json_pack("{s:s,s:{s:s}}", "key", key,
                                           "value", "stringValue", v));
    }
}

static void attr_int(json_t *a, const char *key, apr_int64_t v)
{
    char b[32];
    snprintf(b, sizeof(b), "%" APR_INT64_T_FMT, v);
    json_array_append_new(a, json_pack("{s:s,s:{s:s}}", "key", key,
                                       "value", "intValue", b));
}

static void attr_bool(json_t *a, const char *key, int v)
{
    json_array_append_new(a, json_pack("{s:s,s:{s:b}}", "key", key,
                                       "value", "boolValue", v));
}

static json_t *server_span(const llmgw_span_t *sp)
{
    json_t *a = json_array(), *span;
    char name[200];

    attr_str(a, "gen_ai.operation.name", sp->operation);
    attr_str(a, "gen_ai.system", sp->system);
    attr_str(a, "gen_ai.request.model", sp->request_model);
    attr_str(a, "gen_ai.response.model", sp->response_model);
    if (sp->input_tokens >= 0) {
        attr_int(a, "gen_ai.usage.input_tokens", sp->input_tokens);
    }
    if (sp->output_tokens >= 0) {
        attr_int(a, "gen_ai.usage.output_tokens", sp->output_tokens);
    }
    attr_int(a, "http.response.status_code", sp->status);
    attr_str(a, "url.path", sp->endpoint);
    attr_str(a, "llmgw.request_id", sp->request_id);
    attr_str(a, "llmgw.provider", sp->provider);
    attr_str(a, "llmgw.cache_status", sp->cache);
    attr_str(a, "llmgw.workspace", sp->workspace);
    attr_int(a, "llmgw.attempts", sp->attempts);
    attr_bool(a, "llmgw.stream", sp->stream);
    if (sp->ttft > 0) {
        attr_int(a, "llmgw.ttft_ms", apr_time_as_msec(sp->ttft));
    }
    if (sp->cost_usd >= 0) {
        json_array_append_new(a, json_pack("{s:s,s:{s:f}}", "key",
                                           "llmgw.cost_usd", "value",
                                           "doubleValue", sp->cost_usd));
    }
    snprintf(name, sizeof(name), "%s%s%s",
             *sp->operation ? sp->operation : "llmgw",
             *sp->request_model ? " " : "", sp->request_model);
    span = json_pack("{s:o,s:o,s:s,s:i,s:o,s:o,s:o,s:{s:i}}",
                     "traceId", hexid(sp->trace_id, 16),
                     "spanId", hexid(sp->span_id, 8),
                     "name", name, "kind", KIND_SERVER,
                     "startTimeUnixNano", nanos(sp->start),
                     "endTimeUnixNano", nanos(sp->end),
                     "attributes", a,
                     "status", "code",
                     sp->status >= 500 || sp->status == 0 ? STATUS_ERROR
                                                          : STATUS_UNSET);
    if (span && sp->has_parent) {
        json_object_set_new(span, "parentSpanId", hexid(sp->parent_id, 8));
    }
    return span;
}

/* The upstream exchange as a child span: from the request's start (the
 * gateway's own work before the call takes microseconds) to the end, with
 * the provider's time to first byte as an attribute. */
static json_t *client_span(const llmgw_span_t *sp)
{
    json_t *a = json_array();
    unsigned char id[8];
    char name[200];
    int i;

    attr_str(a, "gen_ai.operation.name", sp->operation);
    attr_str(a, "gen_ai.system", sp->system);
    attr_str(a, "gen_ai.request.model", sp->response_model);
    attr_str(a, "server.address", sp->provider);
    attr_int(a, "llmgw.upstream_ms", apr_time_as_msec(sp->upstream));
    attr_int(a, "llmgw.attempts", sp->attempts);
    /* a child id of its own: the parent's with every byte inverted */
    for (i = 0; i < 8; i++) {
        id[i] = (unsigned char)~sp->span_id[i];
    }
    snprintf(name, sizeof(name), "%s %s",
             *sp->operation ? sp->operation : "llmgw", sp->provider);
    return json_pack("{s:o,s:o,s:o,s:s,s:i,s:o,s:o,s:o}",
                     "traceId", hexid(sp->trace_id, 16),
                     "spanId", hexid(id, 8),
                     "parentSpanId", hexid(sp->span_id, 8),
                     "name", name, "kind", KIND_CLIENT,
                     "startTimeUnixNano", nanos(sp->start),
                     "endTimeUnixNano", nanos(sp->end),
                     "attributes", a);
}

char *llmgw_otlp_json(const llmgw_span_t *spans, int n, const char *service,
                      const char *version, const char *host)
{
    json_t *list = json_array(), *res = json_array(), *doc;
    char *out;
    int i;

    for (i = 0; i < n; i++) {
        json_array_append_new(list, server_span(&spans[i]));
        if (spans[i].upstream > 0 && *spans[i].provider) {
            json_array_append_new(list, client_span(&spans[i]));
        }
    }
    attr_str(res, "service.name", service ? service : "llmgw");
    attr_str(res, "service.version", version);
    attr_str(res, "host.name", host);
    doc = json_pack("{s:[{s:{s:o},s:[{s:{s:s,s:s},s:o}]}]}",
                    "resourceSpans", "resource", "attributes", res,
                    "scopeSpans", "scope", "name", "mod_llmgw",
                    "version", version ? version : "", "spans", list);
    if (!doc) {
        return NULL;
    }
    out = llmgw_json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}
