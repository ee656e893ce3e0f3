/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_parse.h — validating a client request body once (pure).
 */
#ifndef LLMGW_PARSE_H
#define LLMGW_PARSE_H

#include "llmgw_types.h"
#include "llmgw_json_scan.h"
#include <apr_tables.h>

/* What the text path's one validating pass over a Chat request keeps for
 * the typed reader (llmgw_chat_request_read_text through
 * llmgw_xlate_in_t.scan), so that a translated request is not scanned
 * again: every top-level member's key and value, and the members the
 * reader takes of each message. Spans point into text. */
#define LLMGW_MSG_FIELDS "role", "content", "name", "tool_calls", "tool_call_id"
#define LLMGW_MSG_NFIELDS 5
#define LLMGW_SCAN_MAX_MEMBERS 24
#define LLMGW_SCAN_FEW_MEMBERS 8    /* room at first: most requests */

typedef struct llmgw_msg_rec {
    int kind;                        /* the reader's visitor tag */
    llmgw_jspan_t v[LLMGW_MSG_NFIELDS];  /* LLMGW_MSG_FIELDS, p NULL: absent */
} llmgw_msg_rec_t;

/* A member as the pass met it. */
typedef struct llmgw_scan_member {
    const char *key;                 /* raw key text (never escaped here) */
    apr_size_t klen;
    llmgw_jspan_t v;
} llmgw_scan_member_t;

/* Responses: an element of the input array, and where its members are in
 * llmgw_chat_scan_t.item_members (first, n: all of them, in order, a key
 * given twice twice; none for an element that is not an object). */
typedef struct llmgw_item_rec {
    llmgw_jspan_t v;
    int first, n;
} llmgw_item_rec_t;

typedef struct llmgw_chat_scan {
    const char *text;                /* what it was taken from */
    apr_size_t len;
    int nmembers;
    llmgw_scan_member_t *members;    /* room for LLMGW_SCAN_FEW_MEMBERS, grown
                                      * once to LLMGW_SCAN_MAX_MEMBERS */
    apr_array_header_t *recs;        /* llmgw_msg_rec_t, one per element of
                                      * the messages array, in order */
    /* Responses (recs NULL): the input array's elements and their members
     * for the adapter's request writer (llmgw_api_ctx_t.scan), so that it
     * does not read the text again; items empty when input is a string. */
    apr_array_header_t *items;       /* llmgw_item_rec_t */
    apr_array_header_t *item_members;    /* llmgw_scan_member_t */
} llmgw_chat_scan_t;

typedef struct llmgw_parsed {
    const char *model;               /* borrowed from the body */
    const char *provider;            /* `provider` (or `llm_provider`) */
    const char *provider_key;        /* `provider_key` (or `llm_api_key`) */
    const char *memory;              /* `memory`: none|session|profile */
    json_t *models;                  /* `models` fallback list, new ref or NULL */
    int model_from_models;           /* no `model`: it is models[0] */
    int legacy_fields;               /* llm_provider / llm_api_key used */
    int stream;
    int include_usage;
    apr_int64_t max_tokens;          /* -1 when absent */
    apr_int64_t prompt_estimate;
    /* What routing rules look at (LLMGWRoute), read in the same pass. */
    int tools;                       /* a non-empty `tools`/`functions` */
    int images;                      /* an image part in the input */
    int json;                        /* a JSON response format */
    /* Chat requests of the text path: the pass's spans for the reader
     * (NULL: the reader scans the text itself). */
    llmgw_chat_scan_t *scan;
    /* Responses requests of the text path: the top level's members (recs
     * NULL), what the adapter echoes; NULL: read from the text. */
    llmgw_chat_scan_t *top;
} llmgw_parsed_t;

/* The endpoint a request path names ("/x/v1/chat/completions" -> CHAT);
 * *name is the route under the mount. LLMGW_EP_UNKNOWN otherwise. */
llmgw_endpoint_e llmgw_endpoint_from_path(const char *path, const char **name);

/* The {id} of a "models/{id}" path ("%2F" read as "/"), NULL for the list. */
const char *llmgw_model_id_from_path(apr_pool_t *p, const char *path);

/* The {id} of a "responses/{id}" path (one segment of [A-Za-z0-9_-]),
 * pointing into path; NULL otherwise. */
const char *llmgw_response_id_from_path(const char *path);

/* The {model} of a Gemini ".../models/{model}:generateContent" path
 * ("%2F" read as "/"), allocated from p; NULL when there is none. */
const char *llmgw_gemini_model_from_path(apr_pool_t *p, const char *path);

/* Checks the body for the endpoint and fills out (strings borrowed from
 * body). Returns 0 or 400 with *err and *param (the offending field) set. */
int llmgw_parse_request(json_t *body, llmgw_endpoint_e ep,
                        apr_size_t raw_len, llmgw_parsed_t *out,
                        const char **err, const char **param);

/* The fast path: the same checks done on the text with the scanner of
 * llmgw_json_scan.h, no tree built. Returns 1 when the request is valid
 * and plain (no gateway field, no escapes in `model`, no duplicate of a
 * field the gateway reads); 0 when the tree path must decide (it also
 * words the errors). out->model is allocated from p. */
int llmgw_parse_request_text(apr_pool_t *p, const char *raw, apr_size_t len,
                             llmgw_endpoint_e ep, llmgw_parsed_t *out);

/* raw with the value of its top-level "model" replaced by model (a JSON
 * string is written); NULL when raw has no such member. */
char *llmgw_replace_model(apr_pool_t *p, const char *raw, apr_size_t len,
                          const char *model, apr_size_t *out_len);

/* Removes the gateway's own fields (LLMGW_GATEWAY_FIELDS); returns how many
 * were there. Copy what out borrowed first. */
int llmgw_strip_gateway_fields(json_t *body);

/* OpenAI `usage` of a chat.completion, chunk or embeddings response.
 * Returns 1 when a usage object was found. */
int llmgw_usage_from_json(const json_t *obj, llmgw_usage_t *u);

/* The last `"NAME": {...}` member of a JSON text (a key: inside a string
 * the quotes would be escaped), found from the end without parsing the
 * rest: 1 with *obj / *obj_len spanning the object. */
int llmgw_last_member_object(const char *buf, apr_size_t len,
                             const char *name, const char **obj,
                             apr_size_t *obj_len);

/* The same from a response's text without parsing all of it: the last
 * `"usage": {` (a key: inside a string the quotes would be escaped) is
 * parsed on its own. Returns 1 when found. */
int llmgw_usage_from_text(const char *buf, apr_size_t len, llmgw_usage_t *u);

/* One member of a `usage` object read into u as llmgw_usage_from_text
 * reads it (details: a member of its prompt_tokens_details), for readers
 * walking an answer in their own pass; then llmgw_usage_done fills what an
 * embeddings usage leaves out. */
void llmgw_usage_take(llmgw_usage_t *u, int details, const char *key,
                      apr_size_t klen, int key_escaped,
                      const llmgw_jspan_t *v);
void llmgw_usage_done(llmgw_usage_t *u);

#endif
