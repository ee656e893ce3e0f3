/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The gateway's own embedding calls (optional function llmgw_embed, for
 * mod_llmgw_cache's semantic cache): one embeddings request to a
 * configured provider through its translator and the upstream clients
 * (kept-alive connections), with the provider's configured key. Nothing
 * here touches the client's request, answer, usage or quota. */
#include <string.h>
#include "apr_strings.h"
#include "mod_llmgw_private.h"
#include "client/mod_llmgw_upstream.h"
#include "llmgw_translate.h"
#include "llmgw_semantic.h"
#include "llmgw_num.h"

APLOG_USE_MODULE(llmgw);

/* An embedding waits at most this long: the client's request waits on it. */
#define EMBED_TIMEOUT_MAX apr_time_from_sec(10)
#define EMBED_BODY_MAX    (8 * 1024 * 1024)

static const llmgw_provider_t *provider_named(server_rec *s, const char *name)
{
    llmgw_server_conf *sc = ap_get_module_config(s->module_config,
                                                 &llmgw_module);
    return sc && sc->routes ? apr_hash_get(sc->routes->providers, name,
                                           APR_HASH_KEY_STRING) : NULL;
}

static const char *llmgw_embedder_check(apr_pool_t *p, server_rec *s,
                                  const char *provider)
{
    const llmgw_provider_t *pr = provider_named(s, provider);
    if (!pr) {
        return apr_psprintf(p, "no LLMGWProvider named '%s' in this server "
                            "or virtual host", provider);
    }
    if (pr->type == LLMGW_PT_ANTHROPIC) {
        return apr_psprintf(p, "provider '%s' is an anthropic provider, "
                            "which has no embeddings", provider);
    }
    return NULL;
}

static int body_in(llmgw_upstream_call_t *call, const char *d, apr_size_t n)
{
    llmgw_buf_t *b = call->baton;
    if (b->len + n > EMBED_BODY_MAX) {
        return 1;
    }
    llmgw_buf_append(b, d, n);
    return 0;
}

static int llmgw_embed(request_rec *r, apr_pool_t *p, const char *provider,
                 const char *model, const char *text, float **vec,
                 apr_size_t *dim)
{
    llmgw_dir_conf *dc = ap_get_module_config(r->per_dir_config,
                                              &llmgw_module);
    const llmgw_provider_t *pr = provider_named(r->server, provider);
    const llmgw_translator_t *xl;
    llmgw_xlate_ctx_t x;
    llmgw_xlate_in_t in;
    llmgw_upstream_call_t call;
    llmgw_usage_t usage = LLMGW_USAGE_INIT;
    llmgw_buf_t body;
    apr_array_header_t *h;
    const char *path, *err = NULL, *out;
    apr_size_t out_len;
    json_t *tree;
    char *txt;
    int rv = -1;

    if (!pr || !model || !text) {
        goto done;
    }
    xl = llmgw_translator_for(pr->type);
    memset(&x, 0, sizeof(x));
    x.model = model;
    x.provider = pr->name;
    x.request_id = llmgw_request_get(r)->id;
    x.id = "embedding";
    path = xl->path(p, &x, LLMGW_EP_EMBEDDINGS, 0);
    if (!path) {
        goto done;
    }
    tree = json_pack("{s:s,s:s}", "model", model, "input", text);
    txt = tree ? llmgw_json_dumps(tree, JSON_COMPACT) : NULL;
    if (!txt) {
        json_decref(tree);
        goto done;
    }
    llmgw_pool_json(p, tree);
    memset(&in, 0, sizeof(in));
    in.ep = LLMGW_EP_EMBEDDINGS;
    in.endpoint_name = "embeddings";
    in.raw = apr_pstrdup(p, txt);
    in.len = strlen(txt);
    in.unchanged = 1;
    in.tree = tree;
    free(txt);
    memset(&call, 0, sizeof(call));
    if (xl->raw_request(xl, p, &x, &in, &call.body, &call.body_len, &err)) {
        goto done;
    }
    h = apr_array_make(p, 6, sizeof(const char *));
    xl->headers(p, pr->key, h);
    APR_ARRAY_PUSH(h, const char *) = "Content-Type: application/json";
    APR_ARRAY_PUSH(h, const char *) = "Accept: application/json";
    {
        int i;
        for (i = 0; i < pr->headers->nelts; i++) {
            APR_ARRAY_PUSH(h, const char *) = APR_ARRAY_IDX(pr->headers, i,
                                                           const char *);
        }
    }
    llmgw_buf_init(&body, p, 0);
    call.headers = h;
    call.url = apr_pstrcat(p, pr->base_url, path, NULL);
    call.host = pr->host;
    call.port = pr->port;
    call.host_header = pr->host_header;
    call.conn_key = pr->conn_key;
    call.path = *pr->base_path ? apr_pstrcat(p, pr->base_path, path, NULL)
                               : path;
    call.use_curl = pr->use_curl;
    call.timeout = pr->timeout ? pr->timeout : llmgw_conf_timeout(dc);
    if (call.timeout > EMBED_TIMEOUT_MAX) {
        call.timeout = EMBED_TIMEOUT_MAX;
    }
    call.connect_timeout = llmgw_conf_connect_timeout(dc);
    call.idle_timeout = call.timeout;
    call.on_data = body_in;
    call.baton = &body;
    llmgw_upstream_perform(p, &call);
    if (call.result != LLMGW_UP_OK || !ap_is_HTTP_SUCCESS(call.status)) {
        err = apr_psprintf(p, "status %ld, %s", call.status,
                           call.error ? call.error : "no answer");
        goto done;
    }
    if (xl->raw_response(xl, p, &x, &in, body.data ? body.data : "",
                         body.len, &out, &out_len, &usage)
        || llmgw_sem_embedding_parse(p, out, out_len, vec, dim)) {
        err = "not an embeddings answer";
        goto done;
    }
    rv = 0;
done:
    llmgw_count(rv ? LLMGW_M_EMBED_ERROR : LLMGW_M_EMBED_OK);
    if (rv) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "llmgw: embedding by "
                      "%s/%s failed: %s", provider, model ? model : "",
                      err ? err : "unknown provider or endpoint");
    }
    return rv;
}

void llmgw_embed_register(void)
{
    APR_REGISTER_OPTIONAL_FN(llmgw_embed);
    APR_REGISTER_OPTIONAL_FN(llmgw_embedder_check);
}
