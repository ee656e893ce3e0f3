/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_chat_request.h — the OpenAI Chat Completions request, read once
 * (pure: APR + jansson only).
 *
 * llmgw_chat_request_read() walks the client's JSON once and gives the
 * translators a small typed structure: they only write their native body
 * from it, they never walk the OpenAI JSON themselves.
 *
 * Read from the request's text (llmgw_chat_request_read_text), with no
 * tree of it: the messages are read from the scanner's spans in the one
 * validating pass; the other top-level members (parameters, tools: few and
 * small) become jansson values. A caller holding a tree has it written out
 * and read the same way (llmgw_chat_request_read): one reader.
 *
 * Lifetime: everything lives in the pool given to the reader. Texts and
 * base64 data point into the request text when they hold no escape (no
 * copy: a data URL can be megabytes), else into a pool copy unescaped, so
 * the text must outlive the structure; they are not NUL-terminated. The
 * JSON values (parameters, tools, tool arguments) are owned by the
 * structure and released by a pool cleanup; writers take their own
 * reference (json_pack "O") or a copy.
 *
 * Rules (one for each ambiguity, the same for every provider):
 *  - Texts carry their length: "\u0000" is valid content and is never cut.
 *    Write them with json_stringn(), never through a C string.
 *  - A content is a string or an array of typed parts: text, image_url,
 *    input_audio, file. An unknown part type is an error.
 *  - Data URLs (RFC 2397): the "data:" scheme and the ";base64" marker are
 *    case-insensitive; the URL must be "data:MIME;base64,DATA" with a
 *    non-empty media type and nothing else between the media type and
 *    ";base64". It is split into mime (a pool copy) and base64 data.
 *  - A remote image URL is http://, https:// or gs:// (case-insensitive);
 *    anything else is an error. Writers refuse the schemes their provider
 *    cannot fetch.
 *  - Tool call arguments: absent, null, an empty or whitespace-only string
 *    are `{}`; a JSON object is taken as is; a string must parse to a JSON
 *    object; anything else is an error. A tool call's type is "function"
 *    when given; its function name is a non-empty string.
 *  - system / developer and tool messages may only hold text (a string or
 *    text parts); the parts are kept, each writer joins them as its API
 *    wants. A tool message needs a tool_call_id; the legacy role
 *    "function" uses its name as the call id.
 *  - Tools: type "function" when given, a non-empty function name,
 *    parameters a JSON object or absent/null.
 *  - Parameters are read only when the provider's table (the gate of
 *    llmgw_xlate_check_params, run first by the reader) says they are
 *    translated: a parameter the provider drops is never validated.
 *  - max_completion_tokens wins over max_tokens; both must be positive
 *    integers. Numbers (temperature, top_p, penalties) must be numbers and
 *    are kept as the client wrote them (1 stays an integer).
 */
#ifndef LLMGW_CHAT_REQUEST_H
#define LLMGW_CHAT_REQUEST_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include "llmgw_translate.h"
#include "llmgw_buf.h"

/* A text with its length, borrowed from the request text. plain: it was
 * a string of the request without any escape, so it holds no character
 * JSON escapes (no '"', '\\', control): its JSON form is s itself between
 * quotes (llmgw_chat_text_json). */
typedef struct llmgw_text {
    const char *s;
    apr_size_t len;
    int plain;
} llmgw_text_t;

/** t as a JSON string into b: copied when plain, else escaped. */
void llmgw_chat_text_json(llmgw_buf_t *b, const llmgw_text_t *t);

typedef enum {
    LLMGW_PART_TEXT = 1,
    LLMGW_PART_IMAGE,           /* image_url: data (mime + base64) or url */
    LLMGW_PART_AUDIO,           /* input_audio: mime "audio/FORMAT" + data */
    LLMGW_PART_FILE             /* file.file_data: a data URL */
} llmgw_part_e;

typedef struct llmgw_chat_part {
    llmgw_part_e type;
    llmgw_text_t text;          /* TEXT */
    const char *mime;           /* data URLs, audio: the media type */
    llmgw_text_t data;          /* data URLs, audio: the base64 data */
    const char *url;            /* IMAGE: a remote URL (mime is NULL) */
} llmgw_chat_part_t;

typedef struct llmgw_chat_call {
    const char *id;             /* NULL when the client gave none */
    const char *name;           /* non-empty */
    json_t *args;               /* a JSON object, owned (pool cleanup) */
    const char *thought_signature;  /* extra_content.google, or NULL */
} llmgw_chat_call_t;

typedef enum {
    LLMGW_ROLE_SYSTEM = 1,      /* system and developer */
    LLMGW_ROLE_USER,
    LLMGW_ROLE_ASSISTANT,
    LLMGW_ROLE_TOOL,
    LLMGW_ROLE_FUNCTION         /* legacy: call_id is the message's name */
} llmgw_role_e;

typedef struct llmgw_chat_msg {
    llmgw_role_e role;
    int content_is_string;      /* content was a plain string */
    int text_only;              /* every part is a text part */
    apr_array_header_t *parts;  /* llmgw_chat_part_t */
    apr_array_header_t *calls;  /* llmgw_chat_call_t (assistant) */
    const char *call_id;        /* TOOL; FUNCTION: its name, or NULL (the
                                 * writers that take the role refuse NULL) */
    const char *name;           /* the message's name, or NULL */
} llmgw_chat_msg_t;

typedef struct llmgw_chat_tool {
    const char *name;
    const json_t *description;  /* a JSON string, or NULL */
    const json_t *parameters;   /* a JSON object, or NULL */
} llmgw_chat_tool_t;

typedef enum {
    LLMGW_TC_UNSET = 0,
    LLMGW_TC_AUTO,
    LLMGW_TC_NONE,
    LLMGW_TC_REQUIRED,
    LLMGW_TC_FUNCTION           /* tool_choice_name */
} llmgw_tool_choice_e;

typedef enum {
    LLMGW_RF_UNSET = 0,         /* absent, null or "text" */
    LLMGW_RF_JSON_OBJECT,
    LLMGW_RF_JSON_SCHEMA
} llmgw_rf_e;

typedef struct llmgw_chat_request {
    const char *model;          /* the request's model, or NULL */
    apr_array_header_t *messages;   /* llmgw_chat_msg_t, never empty */
    apr_array_header_t *tools;      /* llmgw_chat_tool_t; NULL: none given */
    llmgw_tool_choice_e tool_choice;
    const char *tool_choice_name;
    int parallel_tool_calls_off;    /* parallel_tool_calls: false */

    apr_int64_t max_tokens;     /* 0: the client set none */
    const json_t *temperature;  /* numbers as given, or NULL */
    const json_t *top_p;
    const json_t *presence_penalty;
    const json_t *frequency_penalty;
    const json_t *top_k;        /* integers >= 1, or NULL */
    const json_t *n;
    const json_t *seed;         /* a 32-bit integer, or NULL */
    apr_array_header_t *stop;   /* const json_t * strings; NULL: none */
    int logprobs;               /* logprobs: true */
    const json_t *top_logprobs; /* integer >= 0, or NULL */

    llmgw_rf_e response_format;
    const json_t *rf_schema;    /* json_schema.schema (object) or NULL */
    const char *rf_description; /* json_schema.description or NULL */

    llmgw_xlate_reasoning_t reasoning;

    const json_t *metadata;     /* an object, or NULL */
    const char *user;
    const char *safety_identifier;

    int stream;                 /* stream: true */
    int include_usage;          /* stream_options.include_usage: true */
} llmgw_chat_request_t;

/**
 * Reads req (an OpenAI chat request) into *out, allocated from p.
 * First checks every member against the provider's parameter table
 * (llmgw_xlate_check_params, with provider_type naming it); only members
 * the table translates are read. Returns 0, or -1 with *err set to a
 * client-facing message (a 400; x->report->param is set when the cause is
 * an unsupported parameter).
 */
int llmgw_chat_request_read(apr_pool_t *p, const json_t *req,
                            const llmgw_xparam_t *table,
                            const char *provider_type,
                            const llmgw_xlate_ctx_t *x,
                            llmgw_chat_request_t **out, const char **err);

/**
 * The same from the request's text (JSON; the gateway's fields in it are
 * ignored like any member the table does not read). *err is "the request
 * body is not valid JSON" for text jansson would refuse.
 */
int llmgw_chat_request_read_text(apr_pool_t *p, const char *text,
                                 apr_size_t len, const llmgw_xparam_t *table,
                                 const char *provider_type,
                                 const llmgw_xlate_ctx_t *x,
                                 llmgw_chat_request_t **out,
                                 const char **err);

/**
 * The request in, as the writers' raw_request gets it: its tree when the
 * gateway holds one (a hook's, or the inbound adapter's: the truth), else
 * its text (read without a tree), else the tree built on demand.
 */
int llmgw_chat_request_read_in(apr_pool_t *p, const llmgw_xlate_in_t *in,
                               const llmgw_xparam_t *table,
                               const char *provider_type,
                               const llmgw_xlate_ctx_t *x,
                               llmgw_chat_request_t **out, const char **err);

/** The text parts of msg joined with sep, as a new JSON string (new
 * reference; "" when there are none). Non-text parts are skipped. */
json_t *llmgw_chat_msg_text(const llmgw_chat_msg_t *msg, const char *sep);

/** The same written into b: as a JSON string (quoted 1: escaped, quotes
 * around it), its escaped content without the quotes (quoted 2) or as the
 * text itself (quoted 0). */
void llmgw_chat_msg_text_write(llmgw_buf_t *b, const llmgw_chat_msg_t *msg,
                               const char *sep, int quoted);

/** Whether the table translates parameter name (LLMGW_XP_TRANSLATED). */
int llmgw_xlate_translates(const llmgw_xparam_t *table, const char *name);

#endif
