/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_admin_policy.c — a workspace's context-quota policy: its object,
 * its validation and its enforcement on a request tree (pure).
 */
#include <string.h>

#include <apr_strings.h>

#include "llmgw_admin.h"

#define TOKENS_MAX ((apr_int64_t)100000000)     /* 1e8: a sane upper bound */

void llmgw_policy_default(llmgw_policy_t *pol)
{
    pol->max_prompt_tokens = -1;
    pol->max_completion_tokens = -1;
    pol->truncate = 0;
    pol->memory_mode = "none";
    pol->memory_max_turns = 20;
    pol->memory_ttl_seconds = 86400;
}

int llmgw_policy_active(const llmgw_policy_t *pol)
{
    return pol->max_prompt_tokens >= 0 || pol->max_completion_tokens >= 0;
}

static json_t *int_or_null(apr_int64_t v)
{
    return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

json_t *llmgw_policy_json(const llmgw_policy_t *pol)
{
    return json_pack("{s:s,s:o,s:o,s:s,s:{s:s,s:I,s:I}}",
                     "object", "context_quota_policy",
                     "max_prompt_tokens", int_or_null(pol->max_prompt_tokens),
                     "max_completion_tokens",
                     int_or_null(pol->max_completion_tokens),
                     "on_exceed", pol->truncate ? "truncate" : "reject",
                     "memory", "mode", pol->memory_mode,
                     "max_turns", (json_int_t)pol->memory_max_turns,
                     "ttl_seconds", (json_int_t)pol->memory_ttl_seconds);
}

#define FAIL(prm, ...) do {                                             \
        *param = (prm);                                                 \
        return apr_psprintf(p, __VA_ARGS__);                            \
    } while (0)

/* An optional count: absent or null keeps *out (null: -1 when nullable). */
static const char *count(apr_pool_t *p, const json_t *o, const char *field,
                         const char *param_name, apr_int64_t min,
                         int nullable, apr_int64_t *out, const char **param)
{
    const json_t *v = json_object_get(o, field);
    if (!v) {
        return NULL;
    }
    if (json_is_null(v) && nullable) {
        *out = -1;
        return NULL;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min
        || json_integer_value(v) > TOKENS_MAX) {
        FAIL(param_name, "'%s' must be an integer from %" APR_INT64_T_FMT
             " to %" APR_INT64_T_FMT "%s", param_name, min, TOKENS_MAX,
             nullable ? ", or null" : "");
    }
    *out = (apr_int64_t)json_integer_value(v);
    return NULL;
}

const char *llmgw_policy_check(apr_pool_t *p, const json_t *body,
                               llmgw_policy_t *out, const char **param)
{
    static const char *const known[] = { "object", "max_prompt_tokens",
                                         "max_completion_tokens",
                                         "on_exceed", "memory", NULL };
    static const char *const mknown[] = { "mode", "max_turns",
                                          "ttl_seconds", NULL };
    const char *k, *err;
    const json_t *v, *mem;
    json_t *x;

    *param = NULL;
    llmgw_policy_default(out);
    if (!json_is_object(body)) {
        FAIL(NULL, "the request body must be a JSON object");
    }
    json_object_foreach((json_t *)body, k, x) {
        const char *const *w;
        int found = 0;
        for (w = known; *w; w++) {
            found |= !strcmp(*w, k);
        }
        if (!found) {
            FAIL(apr_pstrdup(p, k), "unknown parameter '%s'",
                 llmgw_admin_id_ok(k) ? k : "(not printable)");
        }
    }
    v = json_object_get(body, "object");
    if (v && (!json_is_string(v)
              || strcmp(json_string_value(v), "context_quota_policy"))) {
        FAIL("object", "'object' must be \"context_quota_policy\"");
    }
    if ((err = count(p, body, "max_prompt_tokens", "max_prompt_tokens", 1, 1,
                     &out->max_prompt_tokens, param))
        || (err = count(p, body, "max_completion_tokens",
                        "max_completion_tokens", 1, 1,
                        &out->max_completion_tokens, param))) {
        return err;
    }
    v = json_object_get(body, "on_exceed");
    if (v && !json_is_null(v)) {
        const char *s = json_string_value(v);
        if (!s || (strcmp(s, "reject") && strcmp(s, "truncate"))) {
            FAIL("on_exceed", "'on_exceed' must be \"reject\" or "
                 "\"truncate\"");
        }
        out->truncate = !strcmp(s, "truncate");
    }
    mem = json_object_get(body, "memory");
    if (mem && !json_is_null(mem)) {
        if (!json_is_object(mem)) {
            FAIL("memory", "'memory' must be an object {\"mode\", "
                 "\"max_turns\", \"ttl_seconds\"}");
        }
        json_object_foreach((json_t *)mem, k, x) {
            const char *const *w;
            int found = 0;
            for (w = mknown; *w; w++) {
                found |= !strcmp(*w, k);
            }
            if (!found) {
                FAIL(apr_pstrcat(p, "memory.", llmgw_admin_id_ok(k) ? k : "?",
                                 NULL), "unknown parameter 'memory.%s'",
                     llmgw_admin_id_ok(k) ? k : "(not printable)");
            }
        }
        v = json_object_get(mem, "mode");
        if (v) {
            const char *s = json_string_value(v);
            if (!s || (strcmp(s, "none") && strcmp(s, "session")
                       && strcmp(s, "profile"))) {
                FAIL("memory.mode", "'memory.mode' must be \"none\", "
                     "\"session\" or \"profile\"");
            }
            out->memory_mode = !strcmp(s, "none") ? "none"
                             : !strcmp(s, "session") ? "session" : "profile";
        }
        if ((err = count(p, mem, "max_turns", "memory.max_turns", 1, 0,
                         &out->memory_max_turns, param))
            || (err = count(p, mem, "ttl_seconds", "memory.ttl_seconds", 1, 0,
                            &out->memory_ttl_seconds, param))) {
            return err;
        }
    }
    return NULL;
}

const char *llmgw_policy_text(apr_pool_t *p, const llmgw_policy_t *pol)
{
    json_t *j = llmgw_policy_json(pol);
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
    const char *out = txt ? apr_pstrdup(p, txt) : NULL;
    json_decref(j);
    free(txt);
    return out;
}

int llmgw_policy_parse(apr_pool_t *p, const char *text, llmgw_policy_t *out)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    const char *param, *err;
    if (!j) {
        llmgw_policy_default(out);
        return -1;
    }
    err = llmgw_policy_check(p, j, out, &param);
    json_decref(j);
    if (err) {
        llmgw_policy_default(out);
        return -1;
    }
    return 0;
}

/* Bytes of a message as the request carried it (compact JSON, close to
 * what the client sent), in estimated tokens. */
static apr_int64_t message_tokens(const json_t *m)
{
    char *txt = json_dumps(m, JSON_COMPACT);
    apr_int64_t n = txt ? (apr_int64_t)((strlen(txt) + 1 + 3) / 4) : 0;
    free(txt);
    return n;
}

static int is_system(const json_t *m)
{
    const char *role = json_string_value(json_object_get(m, "role"));
    return role && (!strcmp(role, "system") || !strcmp(role, "developer"));
}

/* An Anthropic user message that only carries tool_result blocks answers
 * the assistant's tool_use: it belongs to that turn. */
static int only_tool_results(const json_t *content)
{
    size_t i, n = json_array_size(content);
    for (i = 0; i < n; i++) {
        const char *t = json_string_value(json_object_get(
            json_array_get(content, i), "type"));
        if (!t || strcmp(t, "tool_result")) {
            return 0;
        }
    }
    return n > 0;
}

/* Does m open a turn (a user message of the client's own)? */
static int opens_turn(llmgw_policy_api_e api, const json_t *m)
{
    const char *role = json_string_value(json_object_get(m, "role"));
    const char *type = json_string_value(json_object_get(m, "type"));
    if (!role || strcmp(role, "user")) {
        return 0;
    }
    if (api == LLMGW_POLICY_MESSAGES) {
        return !only_tool_results(json_object_get(m, "content"));
    }
    if (api == LLMGW_POLICY_RESPONSES) {
        return !type || !strcmp(type, "message");
    }
    return 1;
}

/* The index of the oldest message that may be dropped: not a system
 * message, not the last one. -1: none. */
static long oldest_droppable(const json_t *msgs)
{
    size_t i, n = json_array_size(msgs);
    for (i = 0; i + 1 < n; i++) {
        if (!is_system(json_array_get(msgs, i))) {
            return (long)i;
        }
    }
    return -1;
}

static void drop(json_t *msgs, size_t i, apr_int64_t *prompt_estimate)
{
    *prompt_estimate -= message_tokens(json_array_get(msgs, i));
    json_array_remove(msgs, i);
}

/* The output caps of each API, and the one set when none is present. */
static const char *const chat_caps[] = { "max_completion_tokens",
                                         "max_tokens", NULL };
static const char *const messages_caps[] = { "max_tokens", NULL };
static const char *const responses_caps[] = { "max_output_tokens", NULL };

llmgw_policy_verdict_e llmgw_policy_apply(const llmgw_policy_t *pol,
                                          llmgw_policy_api_e api,
                                          json_t *body,
                                          apr_int64_t *prompt_estimate,
                                          apr_int64_t *max_tokens)
{
    llmgw_policy_verdict_e verdict = LLMGW_POLICY_PASS;
    const char *const *caps = api == LLMGW_POLICY_MESSAGES ? messages_caps
                            : api == LLMGW_POLICY_RESPONSES ? responses_caps
                            : chat_caps;

    if (pol->max_prompt_tokens >= 0
        && *prompt_estimate > pol->max_prompt_tokens) {
        json_t *msgs = json_object_get(body, api == LLMGW_POLICY_RESPONSES
                                             ? "input" : "messages");
        long i;
        if (!pol->truncate || !json_is_array(msgs)) {
            return LLMGW_POLICY_REJECT;
        }
        while (*prompt_estimate > pol->max_prompt_tokens
               && (i = oldest_droppable(msgs)) >= 0) {
            drop(msgs, (size_t)i, prompt_estimate);
            /* a turn goes whole: the answers and tool results after its
             * user message, up to the next user message (never the last
             * message), so the conversation still opens with a user */
            while ((size_t)i + 1 < json_array_size(msgs)
                   && !opens_turn(api, json_array_get(msgs, (size_t)i))
                   && !is_system(json_array_get(msgs, (size_t)i))) {
                drop(msgs, (size_t)i, prompt_estimate);
            }
            verdict = LLMGW_POLICY_CHANGED;
        }
        if (*prompt_estimate < 0) {
            *prompt_estimate = 0;
        }
        if (*prompt_estimate > pol->max_prompt_tokens) {
            return LLMGW_POLICY_REJECT;
        }
    }
    if (pol->max_completion_tokens >= 0 && json_is_object(body)) {
        apr_int64_t cap = pol->max_completion_tokens, sent = -1;
        int present = 0;
        size_t f;
        for (f = 0; caps[f]; f++) {
            json_t *v = json_object_get(body, caps[f]);
            if (!v || json_is_null(v)) {
                continue;
            }
            present = 1;
            if (!json_is_integer(v) || json_integer_value(v) > cap) {
                json_object_set_new(body, caps[f],
                                    json_integer((json_int_t)cap));
                verdict = LLMGW_POLICY_CHANGED;
            }
            v = json_object_get(body, caps[f]);
            if (sent < 0 || json_integer_value(v) < sent) {
                sent = (apr_int64_t)json_integer_value(v);
            }
        }
        if (!present) {
            /* the last field is the one each API documents */
            json_object_set_new(body, caps[f - 1],
                                json_integer((json_int_t)cap));
            verdict = LLMGW_POLICY_CHANGED;
            sent = cap;
        }
        *max_tokens = sent;
    }
    return verdict;
}
