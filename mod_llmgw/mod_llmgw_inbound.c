/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The client APIs other than Chat Completions, httpd side: which API a
 * request speaks, its Chat form for the routes that translate, whether a
 * route relays the client's own API, and the Responses-API store
 * (previous_response_id, GET and DELETE responses/{id}). The conversions
 * themselves are the pure adapters of llmgw_client_api.h. */
#include <string.h>
#include <stdlib.h>
#include "apr_strings.h"
#include "http_protocol.h"
#include "mod_llmgw_private.h"
#include "llmgw_api_responses.h"
#include "llmgw_buf.h"
#include "llmgw_cache_key.h"
#include "llmgw_digest.h"
#include "llmgw_num.h"
#include "llmgw_parse.h"

APLOG_USE_MODULE(llmgw);

#define RESPONSE_KEY_PREFIX "llmgw:resp:v1:"

llmgw_api_e llmgw_api_of(const llmgw_dir_conf *dc, llmgw_endpoint_e ep)
{
    switch (ep) {
    case LLMGW_EP_MESSAGES:
    case LLMGW_EP_COUNT_TOKENS:
        return LLMGW_API_MESSAGES;
    case LLMGW_EP_RESPONSES:
    case LLMGW_EP_RESPONSE_ITEM:
        return LLMGW_API_RESPONSES;
    case LLMGW_EP_GEMINI:
    case LLMGW_EP_GEMINI_STREAM:
        return LLMGW_API_GEMINI;
    case LLMGW_EP_CHAT:
        return dc->envelope == LLMGW_API_INDOXHUB ? LLMGW_API_INDOXHUB
                                                  : LLMGW_API_CHAT;
    default:
        return LLMGW_API_CHAT;
    }
}

llmgw_inbound_t *llmgw_inbound(llmgw_request_t *req)
{
    llmgw_inbound_t *in = req->inbound;
    request_rec *r = req->r;
    if (!in) {
        char *hex = apr_pstrdup(r->pool, req->id), *o = hex;
        const char *c;
        for (c = req->id; *c; c++) {        /* the UUID without dashes */
            if (*c != '-') {
                *o++ = *c;
            }
        }
        *o = '\0';
        in = apr_pcalloc(r->pool, sizeof(*in));
        in->api = llmgw_client_api(req->api);
        in->ctx.id = apr_pstrcat(r->pool, req->api == LLMGW_API_MESSAGES
                                 ? "msg_" : req->api == LLMGW_API_RESPONSES
                                 ? "resp_" : "chatcmpl-", hex, NULL);
        in->ctx.created = apr_time_sec(r->request_time);
        in->ctx.request_id = req->id;
        in->ctx.cost_usd = -1;
        in->store = req->api == LLMGW_API_RESPONSES;
        req->inbound = in;
    }
    return in;
}

int llmgw_inbound_relays(const llmgw_request_t *req,
                         const llmgw_provider_t *pr)
{
    switch (req->api) {
    case LLMGW_API_MESSAGES:
        return pr->type == LLMGW_PT_ANTHROPIC;
    case LLMGW_API_RESPONSES:
        return pr->type == LLMGW_PT_OPENAI && pr->responses_native;
    case LLMGW_API_GEMINI:
        return 1;                   /* only gemini providers are routed */
    default:
        return 0;
    }
}

int llmgw_inbound_chat(llmgw_request_t *req, const char **err,
                       const char **param, const char **code)
{
    llmgw_inbound_t *in = llmgw_inbound(req);
    apr_pool_t *p = req->r->pool;
    if (!in->chat && !in->chat_text && !in->chat_status) {
        if (in->api->to_chat_text) {
            /* from the client's text, or from the hooks' tree when they
             * changed it (context quota, memory) */
            const char *txt = req->raw_body;
            apr_size_t len = req->raw_len;
            if (req->body_changed && req->body) {
                char *d = llmgw_json_dumps(req->body, JSON_COMPACT);
                if (!d) {
                    in->chat_status = HTTP_INTERNAL_SERVER_ERROR;
                    in->chat_err = "the request could not be translated";
                    goto done;
                }
                len = strlen(d);
                txt = apr_pstrmemdup(p, d, len);
                free(d);
            }
            in->chat_status = in->api->to_chat_text(p, txt ? txt : "", len,
                                                    &in->ctx, &in->chat_text,
                                                    &in->chat_len,
                                                    &in->chat_err,
                                                    &in->chat_param,
                                                    &in->chat_code);
            if (!in->chat_status && !in->chat_text) {
                in->chat_status = HTTP_INTERNAL_SERVER_ERROR;
                in->chat_err = "the request could not be translated";
            }
        }
        else if (!in->api->to_chat) {
            in->chat_status = HTTP_BAD_REQUEST;
            in->chat_err = apr_psprintf(p, "the %s API is served only by "
                                        "its own providers", in->api->name);
        }
        else {
            in->chat_status = in->api->to_chat(p, llmgw_request_json(req),
                                               &in->ctx, &in->chat,
                                               &in->chat_err,
                                               &in->chat_param,
                                               &in->chat_code);
            if (!in->chat_status && in->chat) {
                llmgw_pool_json(p, in->chat);
                llmgw_strip_gateway_fields(in->chat);
            }
            else if (!in->chat_status) {
                in->chat_status = HTTP_INTERNAL_SERVER_ERROR;
                in->chat_err = "the request could not be translated";
            }
        }
    }
done:
    *err = in->chat_err;
    *param = in->chat_param;
    *code = in->chat_code ? in->chat_code : "invalid_request";
    return in->chat_status;
}

json_t *llmgw_inbound_chat_tree(llmgw_request_t *req)
{
    llmgw_inbound_t *in = llmgw_inbound(req);
    if (!in->chat && in->chat_text) {
        in->chat = llmgw_pool_json(req->r->pool,
                                   llmgw_json_loadb(in->chat_text,
                                                    in->chat_len,
                                                    JSON_ALLOW_NUL, NULL));
    }
    return in->chat;
}

/* ------------------------------------------------ the Responses store */

/* The hashed scope of the connection's first response key: a kept-alive
 * client asks with the same credential, whose two digests (~18,000
 * instructions) are then made once per connection. */
typedef struct {
    const char *workspace, *vhost, *client_key;
    char hex[65];
} scope_memo_t;

#define SCOPE_MEMO_KEY "llmgw_resp_scope"

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Who may read a stored response: the workspace, else the client's
 * credential (hashed) on this virtual host. */
static const char *response_key(request_rec *r, llmgw_request_t *req,
                                const char *id)
{
    apr_pool_t *cp = r->connection->pool;
    const char *vhost = r->server->server_hostname;
    scope_memo_t *m = NULL;

    apr_pool_userdata_get((void **)&m, SCOPE_MEMO_KEY, cp);
    if (!m || !same_str(m->workspace, req->workspace)
        || !same_str(m->vhost, vhost)
        || !same_str(m->client_key, req->client_key)) {
        const char *scope = llmgw_cache_scope(r->pool, req->workspace, vhost,
                                              req->client_key, NULL);
        char hex[65];
        llmgw_sha256_hex(scope, strlen(scope), hex);
        if (m) {                    /* another credential: not kept (the
                                     * connection's memory stays bounded) */
            return apr_pstrcat(r->pool, RESPONSE_KEY_PREFIX, hex, ":", id,
                               NULL);
        }
        m = apr_palloc(cp, sizeof(*m));
        m->workspace = req->workspace ? apr_pstrdup(cp, req->workspace)
                                      : NULL;
        m->vhost = vhost ? apr_pstrdup(cp, vhost) : NULL;
        m->client_key = req->client_key ? apr_pstrdup(cp, req->client_key)
                                        : NULL;
        memcpy(m->hex, hex, sizeof(hex));
        apr_pool_userdata_setn(m, SCOPE_MEMO_KEY, NULL, cp);
    }
    return apr_pstrcat(r->pool, RESPONSE_KEY_PREFIX, m->hex, ":", id, NULL);
}

/* The stored record of id (pool held), NULL when absent; *failed when the
 * store could not answer. A record is {"response":R,"request":Q} or
 * {"response":R,"history":[...],"request":Q}: the answer and the client's
 * request as they were sent, the earlier conversation when the request
 * continued one. Written by concatenation (llmgw_inbound_keep); the
 * conversation is put together here, when one is continued. Records of
 * {"response":R,"conversation":[...]} (written before) are read too. */
static json_t *load_response(request_rec *r, llmgw_request_t *req,
                             const char *id, int *failed)
{
    llmgw_store_t *st = llmgw_store_for(r->server);
    char *val;
    apr_size_t len;
    llmgw_store_status_e s;

    *failed = 0;
    if (!st) {
        *failed = 1;
        return NULL;
    }
    s = st->get(st, r->pool, response_key(r, req, id), &val, &len);
    if (s != LLMGW_STORE_OK) {
        *failed = s != LLMGW_STORE_NOTFOUND;
        return NULL;
    }
    return llmgw_pool_json(r->pool, json_loadb(val, len, JSON_ALLOW_NUL,
                                               NULL));
}

/* The echoed members of a Responses request (in->echo): from the text
 * path's scan of its top level, else read from its text, or from the
 * hooks' tree when they changed it. */
static void read_echo(request_rec *r, llmgw_request_t *req,
                      llmgw_inbound_t *in)
{
    if (req->body_changed && req->body) {
        llmgw_buf_t b;
        llmgw_buf_init(&b, r->pool, req->raw_len + 256);
        if (llmgw_buf_json(&b, req->body) == 0) {
            llmgw_responses_echo_read(b.data, b.len, &in->echo);
        }
    }
    else if (in->top) {
        int i;
        for (i = 0; i < in->top->nmembers; i++) {
            llmgw_responses_echo_member(&in->echo, in->top->members[i].key,
                                        in->top->members[i].klen, 0,
                                        &in->top->members[i].v);
        }
    }
    else if (req->raw_body) {
        llmgw_responses_echo_read(req->raw_body, req->raw_len, &in->echo);
    }
    in->ctx.echo = &in->echo;
}

int llmgw_inbound_prepare(request_rec *r, llmgw_request_t *req)
{
    llmgw_inbound_t *in = llmgw_inbound(req);
    const llmgw_jspan_t *prev;
    const char *prev_id;
    json_t *rec;
    int failed;

    in->ctx.model = req->requested_model;
    in->ctx.request = req->body;
    if (req->api != LLMGW_API_RESPONSES) {
        /* only Responses reads the request (its answers echo it): an
         * IndoxHub request checked on its text builds no tree */
        return 0;
    }
    /* read from the text: no tree of the request unless a hook built one */
    read_echo(r, req, in);
    in->store = in->echo.store.type != LLMGW_JV_FALSE
                || !in->echo.store.p;
    prev = &in->echo.previous_response_id;
    if (!prev->p || prev->type == LLMGW_JV_NULL) {
        return 0;
    }
    /* as a C string (json_string_value): up to a NUL */
    prev_id = prev->type == LLMGW_JV_STRING
              ? llmgw_json_string_value(r->pool, prev, NULL) : NULL;
    if (!prev_id || !llmgw_response_id_from_path(
            apr_pstrcat(r->pool, "/responses/", prev_id, NULL))) {
        return llmgw_error_reply(r, req, HTTP_BAD_REQUEST, "invalid_request",
                                 "previous_response_id",
                                 "'previous_response_id' must be a "
                                 "response id"), HTTP_BAD_REQUEST;
    }
    rec = load_response(r, req, prev_id, &failed);
    if (failed) {
        return llmgw_error_reply(r, req, HTTP_SERVICE_UNAVAILABLE,
                                 "store_unavailable", "previous_response_id",
                                 "stored responses cannot be read now"),
               HTTP_SERVICE_UNAVAILABLE;
    }
    if (json_is_object(rec) && !json_object_get(rec, "conversation")
        && json_is_object(json_object_get(rec, "request"))) {
        json_t *conv = llmgw_responses_conversation(
            json_object_get(rec, "history"), json_object_get(rec, "request"),
            json_object_get(rec, "response"));
        if (conv) {
            json_object_set_new(rec, "conversation", conv);
        }
    }
    if (!json_is_array(json_object_get(rec, "conversation"))) {
        return llmgw_error_reply(r, req, HTTP_BAD_REQUEST,
                                 "previous_response_not_found",
                                 "previous_response_id",
                                 apr_psprintf(r->pool, "Previous response "
                                              "with id '%s' not found.",
                                              prev_id)),
               HTTP_BAD_REQUEST;
    }
    in->ctx.history = json_object_get(rec, "conversation");
    return 0;
}

void llmgw_inbound_keep(request_rec *r, llmgw_request_t *req,
                        json_t *answer, const char *text, apr_size_t len)
{
    llmgw_inbound_t *in = req->inbound;
    llmgw_server_conf *sc = ap_get_module_config(r->server->module_config,
                                                 &llmgw_module);
    llmgw_store_t *st = llmgw_store_for(r->server);
    const char *id = answer ? json_string_value(json_object_get(answer,
                                                                "id"))
                            : in ? in->ctx.id : NULL;
    const llmgw_jspan_t *input;
    char *htxt = NULL, *atxt = NULL;
    llmgw_buf_t rec;
    llmgw_store_status_e s;

    if (!in || !in->store || !st || !id || req->api != LLMGW_API_RESPONSES
        || !req->raw_body || !req->raw_len
        || !llmgw_response_id_from_path(apr_pstrcat(r->pool, "/responses/",
                                                    id, NULL))) {
        return;
    }
    input = &in->echo.input;
    if (!input->p || (input->type != LLMGW_JV_STRING
                      && input->type != LLMGW_JV_ARRAY)) {
        return;                     /* no conversation to continue */
    }
    if (in->ctx.history
        && !(htxt = llmgw_json_dumps(in->ctx.history, JSON_COMPACT))) {
        return;
    }
    if (!text && answer) {          /* a stream's answer: not written yet */
        atxt = llmgw_json_dumps(answer, JSON_COMPACT);
        text = atxt;
        len = atxt ? strlen(atxt) : 0;
    }
    if (!text) {
        free(htxt);
        return;
    }
    /* the answer as the client got it and the request as the client sent
     * it (Responses requests are not rewritten: memory serves Chat and
     * Messages only), not parsed or serialised again */
    llmgw_buf_init(&rec, r->pool, len + req->raw_len + (htxt ? strlen(htxt)
                                                               : 0) + 40);
    llmgw_buf_append(&rec, "{\"response\":", 12);
    llmgw_buf_append(&rec, text, len);
    if (htxt) {
        llmgw_buf_append(&rec, ",\"history\":", 11);
        llmgw_buf_append(&rec, htxt, strlen(htxt));
    }
    llmgw_buf_append(&rec, ",\"request\":", 11);
    llmgw_buf_append(&rec, req->raw_body, req->raw_len);
    llmgw_buf_append(&rec, "}", 1);
    free(htxt);
    free(atxt);
    s = st->set(st, response_key(r, req, id), rec.data, rec.len,
                sc->response_ttl ? sc->response_ttl
                                 : LLMGW_DEFAULT_RESPONSE_TTL);
    if (s != LLMGW_STORE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "llmgw: response %s "
                      "not stored: %s", id, llmgw_store_status_str(s));
    }
}

/* GET and DELETE responses/{id}. */
int llmgw_response_item(request_rec *r, llmgw_request_t *req)
{
    const char *id = llmgw_response_id_from_path(r->uri);
    llmgw_store_t *st = llmgw_store_for(r->server);
    json_t *rec;
    int failed;

    rec = load_response(r, req, id, &failed);
    if (failed) {
        return llmgw_error_reply(r, req, HTTP_SERVICE_UNAVAILABLE,
                                 "store_unavailable", NULL,
                                 "stored responses cannot be read now");
    }
    if (!json_is_object(json_object_get(rec, "response"))) {
        return llmgw_error_reply(r, req, HTTP_NOT_FOUND, "not_found", NULL,
                                 apr_psprintf(r->pool, "No response found "
                                              "with id '%s'.", id));
    }
    if (r->method_number == M_DELETE) {
        if (st->del(st, response_key(r, req, id)) == LLMGW_STORE_ERROR) {
            return llmgw_error_reply(r, req, HTTP_SERVICE_UNAVAILABLE,
                                     "store_unavailable", NULL,
                                     "the response could not be deleted");
        }
        return llmgw_send_doc(r, req, HTTP_OK,
                              json_pack("{s:s,s:s,s:b}", "id", id,
                                        "object", "response", "deleted", 1));
    }
    return llmgw_send_doc(r, req, HTTP_OK,
                          json_incref(json_object_get(rec, "response")));
}
