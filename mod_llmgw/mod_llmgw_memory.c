/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* Conversation memory (SPEC "Memory"), httpd side. The mode comes from the
 * request's x-llmgw-memory header (or its body's `memory` field), else the
 * workspace's policy (set by mod_llmgw_quota), else LLMGWMemory; the conversation is named by
 * x-llmgw-session, else the body's `user` (Messages: metadata.user_id).
 * session: the earlier turns, kept in the shared store, go before the
 * request's messages (after its system messages); a complete answer adds
 * its turn. profile: the user's profile (management API) goes in as a
 * system message. Records, trimming and injection are llmgw_memory.c's.
 * Chat Completions (IndoxHub too) and Messages; the Responses API keeps
 * its conversations with previous_response_id instead. */
#include <string.h>
#include <stdlib.h>
#include "apr_strings.h"
#include "http_protocol.h"
#include "mod_llmgw_private.h"
#include "llmgw_memory.h"
#include "llmgw_cache_key.h"
#include "llmgw_stream_reduce.h"

APLOG_USE_MODULE(llmgw);

#define MEM_HEADER     "x-llmgw-memory"
#define SESSION_HEADER "x-llmgw-session"
#define MEM_CAPTURE    (1024 * 1024)   /* bytes of an answer remembered */
#define MEM_STATE      "llmgw-memory"

typedef struct mem_state {
    const char *key;                  /* the session record */
    json_t *turns;                    /* the stored turns (pool held) */
    json_t *user;                     /* the new turn's user message */
    apr_int64_t max_turns;
    apr_uint32_t ttl;
} mem_state_t;

const char *llmgw_cmd_memory(cmd_parms *cmd, void *dconf, const char *arg)
{
    llmgw_dir_conf *dc = dconf;
    int m = llmgw_memory_mode(arg);
    if (m < 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not none, session or "
                            "profile", cmd->cmd->name, arg);
    }
    dc->memory = m;
    return NULL;
}

static int memory_api(const llmgw_request_t *req)
{
    return req->endpoint == LLMGW_EP_CHAT
           || req->endpoint == LLMGW_EP_MESSAGES
           || req->endpoint == LLMGW_EP_RESPONSES;
}

/* The conversation's name: x-llmgw-session, else the body's user. */
static const char *conversation(request_rec *r, llmgw_request_t *req,
                                json_t *body)
{
    const char *h = apr_table_get(r->headers_in, SESSION_HEADER);
    const json_t *u;
    if (h) {
        return h;
    }
    u = req->endpoint == LLMGW_EP_MESSAGES
        ? json_object_get(json_object_get(body, "metadata"), "user_id")
        : json_object_get(body, "user");
    return json_string_value(u);
}

static const char *scope_of(request_rec *r, const llmgw_request_t *req)
{
    return llmgw_cache_scope(r->pool, req->workspace,
                             r->server->server_hostname, req->client_key,
                             NULL);
}

int llmgw_memory_apply(request_rec *r, llmgw_request_t *req)
{
    llmgw_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                              &llmgw_module);
    /* the header, else the body's `memory` field (a gateway field) */
    const char *h = apr_table_get(r->headers_in, MEM_HEADER), *name, *key;
    const char *what = h ? MEM_HEADER : "memory";
    llmgw_store_t *st;
    llmgw_store_status_e s;
    json_t *body;
    char *val = NULL;
    apr_size_t len = 0;
    int mode;

    if (!h) {
        h = req->memory_asked;
    }
    if (h) {
        if ((mode = llmgw_memory_mode(h)) < 0) {
            return llmgw_error_reply(r, req, HTTP_BAD_REQUEST,
                                     "invalid_request", what,
                                     apr_pstrcat(r->pool, what, " must be "
                                                 "none, session or profile",
                                                 NULL)), HTTP_BAD_REQUEST;
        }
    }
    else if (req->mem_policy_mode) {
        mode = llmgw_memory_mode(req->mem_policy_mode);
    }
    else {
        mode = dc->memory > 0 ? dc->memory : LLMGW_MEM_NONE;
    }
    if (mode <= LLMGW_MEM_NONE || !memory_api(req)
        || !(body = llmgw_request_json(req))) {
        return 0;
    }
    name = conversation(r, req, body);
    if (!name) {
        return 0;                   /* nothing is remembered without a name */
    }
    if (!llmgw_memory_name_ok(name)) {
        return llmgw_error_reply(r, req, HTTP_BAD_REQUEST, "invalid_request",
                                 SESSION_HEADER, "the conversation's name "
                                 "(x-llmgw-session or user) must be 1 to 256 "
                                 "printable characters"), HTTP_BAD_REQUEST;
    }
    if (!(st = llmgw_store_for(r->server))) {
        return 0;
    }
    key = llmgw_memory_key(r->pool, scope_of(r, req),
                           mode == LLMGW_MEM_SESSION ? "session" : "profile",
                           name);
    s = st->get(st, r->pool, key, &val, &len);
    if (s == LLMGW_STORE_ERROR) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "llmgw: memory of "
                      "this conversation cannot be read (%s store failed); "
                      "answering without it", st->kind);
        return 0;
    }
    if (mode == LLMGW_MEM_PROFILE) {
        if (s == LLMGW_STORE_OK && len
            && !llmgw_memory_put_profile(body, val,
                                         req->endpoint == LLMGW_EP_MESSAGES)) {
            req->body_changed = 1;
            req->prompt_estimate += (apr_int64_t)(len + 3) / 4;
        }
        req->memory_mode = "profile";
        return 0;
    }
    {
        mem_state_t *ms = apr_pcalloc(r->pool, sizeof(*ms));
        apr_int64_t est;
        ms->key = key;
        ms->turns = llmgw_pool_json(r->pool, llmgw_memory_turns(
            s == LLMGW_STORE_OK ? val : NULL, len));
        ms->user = llmgw_pool_json(r->pool, llmgw_memory_last_user(body));
        ms->max_turns = req->mem_max_turns > 0 ? req->mem_max_turns
                                               : LLMGW_MEM_DEFAULT_TURNS;
        ms->ttl = (apr_uint32_t)(req->mem_ttl > 0 ? req->mem_ttl
                                                  : LLMGW_MEM_DEFAULT_TTL);
        if (!ms->turns) {
            return 0;
        }
        /* what goes in is trimmed; the record keeps max_turns */
        {
            json_t *sent = llmgw_pool_json(r->pool,
                                           json_deep_copy(ms->turns));
            est = llmgw_memory_trim(sent, ms->max_turns,
                                    req->mem_max_prompt_tokens > 0
                                    ? req->mem_max_prompt_tokens : -1,
                                    req->prompt_estimate);
            if (json_array_size(sent)
                && llmgw_memory_put_turns(body, sent) > 0) {
                req->body_changed = 1;
                req->prompt_estimate += est;
            }
        }
        apr_pool_userdata_setn(ms, MEM_STATE, NULL, r->pool);
        req->memory_mode = "session";
        /* the answer is needed to remember the turn */
        if (req->capture_limit < MEM_CAPTURE) {
            req->capture_limit = MEM_CAPTURE;
        }
    }
    return 0;
}

/* The answer the client got, as a JSON tree (pool held), or NULL. */
static json_t *answer_tree(request_rec *r, llmgw_request_t *req)
{
    const char *d = req->capture->data;
    apr_size_t n = req->capture->len;
    json_t *j = NULL;

    if (!d || !n || req->capture_overflow) {
        return NULL;
    }
    if (!req->capture_is_sse) {
        j = json_loadb(d, n, JSON_ALLOW_NUL, NULL);
    }
    else if (req->endpoint == LLMGW_EP_MESSAGES
             || req->endpoint == LLMGW_EP_RESPONSES) {
        const llmgw_client_api_t *api = req->endpoint == LLMGW_EP_MESSAGES
                                        ? &llmgw_api_messages
                                        : &llmgw_api_responses;
        const char *out;
        apr_size_t len;
        if (!api->reduce(r->pool, d, n, &out, &len)) {
            j = json_loadb(out, len, JSON_ALLOW_NUL, NULL);
        }
    }
    else {
        j = llmgw_stream_reduce(r->pool, d, n, &req->usage);
    }
    return llmgw_pool_json(r->pool, j);
}

void llmgw_memory_complete(request_rec *r, llmgw_request_t *req)
{
    mem_state_t *ms = NULL;
    llmgw_store_t *st = llmgw_store_for(r->server);
    const char *text;
    char *rec;
    llmgw_store_status_e s;

    apr_pool_userdata_get((void **)&ms, MEM_STATE, r->pool);
    if (!ms || !ms->user || !st || !req->complete || req->status != HTTP_OK
        || !(text = llmgw_memory_answer_text(r->pool, answer_tree(r, req)))) {
        return;
    }
    llmgw_memory_add_turn(ms->turns, ms->user, text, ms->max_turns);
    while ((rec = llmgw_memory_record(ms->turns)) != NULL
           && strlen(rec) > LLMGW_MEM_RECORD_MAX
           && json_array_size(ms->turns) > 1) {
        free(rec);
        json_array_remove(ms->turns, 0);
    }
    if (!rec) {
        return;
    }
    s = st->set(st, ms->key, rec, strlen(rec), ms->ttl);
    free(rec);
    if (s != LLMGW_STORE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "llmgw: the turn of "
                      "this conversation was not remembered: %s",
                      llmgw_store_status_str(s));
    }
}
