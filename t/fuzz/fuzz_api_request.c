/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The client API adapters' request side: to_chat of Messages, Responses
 * (with and without an earlier conversation), Gemini and IndoxHub; a Chat
 * request made must be one the chat request reader and every provider's
 * writer can be given (it is, by the gateway). Responses written from the
 * handler's pass (ctx.scan) as from the text. */
#include "fuzz.h"
#include "llmgw_client_api.h"
#include "llmgw_translate.h"
#include "llmgw_api_responses.h"
#include "llmgw_parse.h"

static int same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static void write_upstream(apr_pool_t *p, json_t *chat)
{
    int t;
    for (t = LLMGW_PT_OPENAI; t <= LLMGW_PT_GEMINI; t++) {
        const llmgw_translator_t *T = llmgw_translator_for(t);
        llmgw_xlate_report_t rep;
        llmgw_xlate_ctx_t x;
        llmgw_xlate_in_t in;
        const char *out = NULL, *err = NULL;
        apr_size_t out_len = 0;

        memset(&rep, 0, sizeof(rep));
        rep.drop_unsupported = 1;
        rep.dropped = apr_array_make(p, 4, sizeof(const char *));
        memset(&x, 0, sizeof(x));
        x.model = "m";
        x.id = "chatcmpl-f";
        x.request_id = "req-f";
        x.provider = "p";
        x.default_max_tokens = 64;
        x.report = &rep;
        memset(&in, 0, sizeof(in));
        in.ep = LLMGW_EP_CHAT;
        in.endpoint_name = "chat/completions";
        in.raw = "{}";
        in.len = 2;
        in.tree = chat;
        if (T->raw_request(T, p, &x, &in, &out, &out_len, &err) == 0) {
            fz_touch(out, out_len);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const llmgw_api_e apis[] = {
        LLMGW_API_MESSAGES, LLMGW_API_RESPONSES, LLMGW_API_RESPONSES,
        LLMGW_API_GEMINI, LLMGW_API_INDOXHUB
    };
    apr_pool_t *p = fz_pool();
    char *s = fz_copy(data, size);
    json_t *in = json_loadb(s, size, JSON_ALLOW_NUL, NULL);
    json_t *history = json_loads(
        "[{\"type\":\"message\",\"role\":\"user\",\"content\":\"hi\"},"
        "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\","
        "\"arguments\":\"{}\"}]", 0, NULL);
    unsigned i;

    for (i = 0; in && i < sizeof(apis) / sizeof(apis[0]); i++) {
        const llmgw_client_api_t *A = llmgw_client_api(apis[i]);
        llmgw_api_ctx_t c;
        json_t *chat = NULL;
        const char *err = NULL, *param = NULL, *code = NULL;

        if (A->to_chat_text) {
            const char *txt = NULL;
            apr_size_t tlen = 0;
            json_t *chat_j;
            llmgw_parsed_t pq;
            int rv;
            memset(&c, 0, sizeof(c));
            c.id = apis[i] == LLMGW_API_RESPONSES ? "resp_f" : "msg_f";
            c.model = "m";
            c.request_id = "req-f";
            c.request = in;
            c.history = i == 2 ? history : NULL;
            c.cost_usd = -1;
            /* the client's text as it came, not jansson's reading of it */
            rv = A->to_chat_text(p, s, size, &c, &txt, &tlen, &err, &param,
                                 &code);
            if (apis[i] == LLMGW_API_RESPONSES
                && llmgw_parse_request_text(p, s, size, LLMGW_EP_RESPONSES,
                                            &pq) && pq.top) {
                /* from the handler's pass: the same request or error */
                const char *txt2 = NULL, *err2 = NULL, *param2 = NULL;
                const char *code2 = NULL;
                apr_size_t tlen2 = 0;
                c.scan = pq.top;
                if (A->to_chat_text(p, s, size, &c, &txt2, &tlen2, &err2,
                                    &param2, &code2) != rv
                    || (rv == 0 && (tlen2 != tlen
                                    || memcmp(txt2, txt, tlen)))
                    || (rv != 0 && (!same(err, err2) || !same(param, param2)
                                    || !same(code, code2)))) {
                    abort();
                }
                c.scan = NULL;
            }
            if (rv == 0) {
                /* a Chat request is an object jansson reads */
                chat_j = json_loadb(txt, tlen, JSON_ALLOW_NUL, NULL);
                if (!json_is_object(chat_j)) {
                    abort();
                }
                write_upstream(p, chat_j);
                json_decref(chat_j);
            }
            else if (!err) {
                abort();
            }
            continue;
        }
        if (!A->to_chat) {
            continue;
        }
        memset(&c, 0, sizeof(c));
        c.id = "resp_f";
        c.model = "m";
        c.created = 1700000000;
        c.request_id = "req-f";
        c.request = in;
        c.history = i == 2 ? history : NULL;
        c.cost_usd = -1;
        if (A->to_chat(p, in, &c, &chat, &err, &param, &code) == 0) {
            if (!json_is_object(chat)) {
                abort();        /* a Chat request is an object */
            }
            write_upstream(p, chat);
            json_decref(chat);
        }
        else if (err) {
            fz_touch(err, strlen(err));
        }
    }
    if (json_is_object(in)) {
        fz_json_drop(llmgw_responses_conversation(history, in, NULL));
    }
    json_decref(history);
    if (in) {
        json_decref(in);
    }
    free(s);
    apr_pool_destroy(p);
    return 0;
}
