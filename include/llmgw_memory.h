/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_memory.h — conversation memory (SPEC "Memory"), pure parts (APR,
 * jansson, OpenSSL): store keys, the session record and its trimming, and
 * what is put into a request. mod_llmgw applies memory to requests;
 * mod_llmgw_quota's management API reads and erases it
 * (/v1/workspaces/:id/memory/:user). Both go through these functions, so
 * the records have one format.
 *
 * A session record is JSON {"turns":[[USER-MESSAGE, ASSISTANT-MESSAGE],...]},
 * oldest first; a profile record is the profile's text as it is.
 */
#ifndef LLMGW_MEMORY_H
#define LLMGW_MEMORY_H

#include <apr_pools.h>
#include <jansson.h>

#define LLMGW_MEM_KEY_PREFIX        "llmgw:mem:v1:"
#define LLMGW_MEM_DEFAULT_TURNS     20
#define LLMGW_MEM_DEFAULT_TTL       86400
#define LLMGW_MEM_MAX_TURNS         1000
#define LLMGW_MEM_PROFILE_MAX       16384    /* bytes of a profile text */
#define LLMGW_MEM_NAME_MAX          256      /* bytes of a session name */
#define LLMGW_MEM_RECORD_MAX        (512 * 1024)  /* bytes of a session */

typedef enum {
    LLMGW_MEM_NONE = 0,
    LLMGW_MEM_SESSION,
    LLMGW_MEM_PROFILE
} llmgw_mem_mode_e;

/* "none", "session", "profile" (any case) -> the mode; -1 otherwise. */
int llmgw_memory_mode(const char *s);
const char *llmgw_memory_mode_name(llmgw_mem_mode_e m);

/* Whether a session or user name can name a conversation: 1 to
 * LLMGW_MEM_NAME_MAX bytes, no control character. */
int llmgw_memory_name_ok(const char *name);

/* The store key of a conversation's session ("session") or profile
 * ("profile") in scope (llmgw_cache_scope: "ws:W" for a workspace): the
 * prefix and the hex SHA-256 of the length-prefixed parts. */
const char *llmgw_memory_key(apr_pool_t *p, const char *scope,
                             const char *kind, const char *name);

/* The turns of a stored session record (a new reference to a JSON array
 * of [user, assistant] pairs), an empty array when the record is absent
 * (data NULL) or unreadable. */
json_t *llmgw_memory_turns(const char *data, apr_size_t len);

/* The stored form of turns (malloc'd JSON text, free() it), NULL when it
 * cannot be written. */
char *llmgw_memory_record(const json_t *turns);

/* Drops the oldest turns until at most max_turns remain (max_turns > 0)
 * and, when max_tokens >= 0, the turns' estimate (bytes / 4 of their
 * JSON) plus base_tokens is at most max_tokens. Returns the estimate of
 * the turns kept. */
apr_int64_t llmgw_memory_trim(json_t *turns, apr_int64_t max_turns,
                              apr_int64_t max_tokens,
                              apr_int64_t base_tokens);

/* Puts the turns' messages before a Chat Completions or Messages
 * request's own messages, or a Responses request's input items (a string
 * input becomes a user message; the turns go in as text messages), after
 * its leading system (and developer) messages. Returns the number of
 * messages put in, -1 when body has neither. */
int llmgw_memory_put_turns(json_t *body, const json_t *turns);

/* Gives profile to the model as a system message: a Chat request gets a
 * {"role":"system"} message after its leading system messages (a
 * Responses request the same among its input items); a
 * Messages request (messages_api) gets it first in its `system`. 0, or
 * -1 when body is not a request object. */
int llmgw_memory_put_profile(json_t *body, const char *profile,
                             int messages_api);

/* A copy of the request's last message when it is the user's (the user
 * half of the turn to remember; of a Responses request, its string input
 * or last user message as text), else NULL. */
json_t *llmgw_memory_last_user(const json_t *body);

/* The assistant's text of a complete answer: a chat.completion
 * (choices[0].message.content, no tool calls), a Messages answer (its
 * text blocks, no tool_use), a Responses answer (its message items' text,
 * no function_call) or an IndoxHub envelope ("data"). NULL when the
 * answer has none (a tool call, an error). */
const char *llmgw_memory_answer_text(apr_pool_t *p, const json_t *answer);

/* Appends the turn [user, {"role":"assistant","content":text}] (user is
 * copied) and keeps the last max_turns (> 0). */
void llmgw_memory_add_turn(json_t *turns, const json_t *user,
                           const char *text, apr_int64_t max_turns);

/* {"object":"memory","user","profile":TEXT|null,"session_turns":N} */
json_t *llmgw_memory_json(const char *user, const char *profile,
                          apr_int64_t turns);

#endif
