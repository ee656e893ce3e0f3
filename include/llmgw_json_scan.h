/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_json_scan.h — a validating JSON scanner that builds nothing (pure).
 * The gateway's hot path needs a handful of top-level fields of a request
 * it otherwise relays byte for byte; building a jansson tree for that
 * costs more than the rest of the request. The scanner checks the whole
 * text (RFC 8259, UTF-8) and reports where each member's value is.
 */
#ifndef LLMGW_JSON_SCAN_H
#define LLMGW_JSON_SCAN_H

#include <apr.h>

typedef enum {
    LLMGW_JV_OBJECT, LLMGW_JV_ARRAY, LLMGW_JV_STRING, LLMGW_JV_NUMBER,
    LLMGW_JV_TRUE, LLMGW_JV_FALSE, LLMGW_JV_NULL
} llmgw_jv_type_e;

typedef struct llmgw_jspan {
    const char *p;                /* first byte of the value */
    apr_size_t len;               /* its length in the text */
    llmgw_jv_type_e type;
    int escaped;                  /* a string value containing escapes */
} llmgw_jspan_t;

#define LLMGW_JSON_MAX_DEPTH 256

/* 1 when buf[0..len) is one valid JSON value (surrounding white space
 * allowed), 0 otherwise. */
int llmgw_json_valid(const char *buf, apr_size_t len);

/* The span of a value that starts at buf (no leading white space); 0 when
 * it is not a value. For text already validated. */
int llmgw_json_span(const char *buf, apr_size_t len, llmgw_jspan_t *out);

/* Iterates the members of a validated object (span of type OBJECT) or the
 * elements of an array (key NULL). fn returns 0 to go on. Returns 0, or
 * fn's value. key/klen is the raw key text between the quotes. The text
 * is not checked again, only skipped (quotes, backslashes and brackets
 * looked at): given one not validated, the spans are within it but
 * otherwise unspecified. */
typedef int (*llmgw_json_member_fn)(void *baton, const char *key,
                                    apr_size_t klen, int key_escaped,
                                    const llmgw_jspan_t *value);
int llmgw_json_each(const llmgw_jspan_t *container, llmgw_json_member_fn fn,
                    void *baton);

/* A whole document that must be an object, validated and its members
 * iterated in one pass (what llmgw_json_valid, llmgw_json_span and
 * llmgw_json_each do in three): white space around it allowed, fn called
 * for each top-level member once its value is validated. Returns 1 when
 * the text is one valid object (*top its span) and fn returned 0 each
 * time; 0 when it is not (fn may have seen its first members); -1 when fn
 * returned non-zero (the scan stopped there, the rest unchecked). */
int llmgw_json_object_each(const char *buf, apr_size_t len,
                           llmgw_jspan_t *top, llmgw_json_member_fn fn,
                           void *baton);

/* llmgw_json_object_each reaching into nested objects in the same pass:
 * before an object-valued member's value is read, enter(baton, key...)
 * may return a baton for its members (NULL: the value is only validated);
 * that object's members are then reported to member(kid, ...) as they are
 * validated (and enter(kid, ...) asked in turn), then the member itself to
 * member(baton, ...) with the object's span. One read of every byte where
 * llmgw_json_each on a member would read its text again. Same returns as
 * llmgw_json_object_each (-1 when any member() returned non-zero).
 * Arrays likewise when enter_array is set: enter_array(baton, key...) may
 * return a baton for an array-valued member's elements (NULL: only
 * validated); each element is then reported to member(kid, NULL, 0, 0,
 * &span) once validated, an object element entered first with
 * enter(kid, NULL, 0, 0), an array element with enter_array(kid, NULL...).
 * The element batons see keys only in their own members. */
typedef struct llmgw_json_visitor {
    llmgw_json_member_fn member;
    void *(*enter)(void *baton, const char *key, apr_size_t klen,
                   int key_escaped);
    void *(*enter_array)(void *baton, const char *key, apr_size_t klen,
                         int key_escaped);
} llmgw_json_visitor_t;
int llmgw_json_object_visit(const char *buf, apr_size_t len,
                            llmgw_jspan_t *top,
                            const llmgw_json_visitor_t *v, void *baton);

/* Canonical text of the validated value at buf: white space removed,
 * every object's members sorted by their key bytes, scalars as written
 * but for a zero fraction ("1.0" is "1"); strings keep their escapes (an
 * escaped spelling is another key: a miss, never a wrong hit).
 * Top-level members named in drop (NULL-terminated, may be NULL) are left
 * out. Allocated from p; NULL when buf is not a value. Used for cache keys:
 * the same request sent with other member order or spacing maps to the
 * same text. */
#include <apr_pools.h>
char *llmgw_json_canonical(apr_pool_t *p, const char *buf, apr_size_t len,
                           const char *const *drop, apr_size_t *out_len);

/* The string a STRING span holds, unescaped: pool memory, NUL-terminated,
 * *len its length (it may hold NULs: "\u0000"); NULL when v is not a
 * string. For writers reading a validated text. */
char *llmgw_json_string_value(apr_pool_t *p, const llmgw_jspan_t *v,
                              apr_size_t *len);

/* json_loadb(buf, len, flags, error), faster: with flags JSON_ALLOW_NUL
 * (what the gateway's readers pass) a valid object or array is validated
 * by the scanner and its tree built from the spans (jansson's lexer reads
 * a byte at a time: ~5x the instructions); anything else, and any text the
 * scanner refuses, is jansson's, so results and errors are jansson's,
 * except that a text holding a raw NUL byte is refused (jansson 2.14
 * takes one after a number). */
#include <jansson.h>
json_t *llmgw_json_loadb(const char *buf, apr_size_t len, size_t flags,
                         json_error_t *error);

/* Writing JSON directly (the translators' writers): the one escaper of
 * llmgw_json_dumps, appending to a buffer. */
#include "llmgw_buf.h"

/* s[0..n) escaped as jansson escapes (no quotes around it). */
void llmgw_buf_json_escape(llmgw_buf_t *b, const char *s, apr_size_t n);
/* s[0..n) as a JSON string, quotes included. */
void llmgw_buf_json_string(llmgw_buf_t *b, const char *s, apr_size_t n);
/* v as a JSON real in its shortest round-trip form ("0.7", "1.0"). */
void llmgw_buf_json_real(llmgw_buf_t *b, double v);
/* j (any value) as llmgw_json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)
 * writes it; -1 (b unchanged) when it cannot. */
int llmgw_buf_json(llmgw_buf_t *b, const json_t *j);

/* A string literal, a C string as a JSON string, an integer. */
#define LLMGW_BUF_LIT(b, s) llmgw_buf_append((b), "" s, sizeof("" s) - 1)
void llmgw_buf_json_cstr(llmgw_buf_t *b, const char *s);
void llmgw_buf_int(llmgw_buf_t *b, apr_int64_t v);

/* Whether a member key as llmgw_json_each gives it (the raw text between
 * the quotes, escaped or not) is name. */
int llmgw_json_key_is(const char *key, apr_size_t klen, int escaped,
                      const char *name);

/* The members names[0..n) of obj into vals (absent: p NULL; the last of a
 * key given twice, as in jansson); 0 when obj is NULL, absent or not an
 * object (then every member is absent). */
int llmgw_json_pick(const llmgw_jspan_t *obj, const char *const *names,
                    llmgw_jspan_t *vals, int n);

/* ---- reading values of validated text ---- */

/* A string value's text (span of type STRING) unescaped into buf, which
 * holds at least v->len bytes (unescaping never grows); its length (NULs
 * kept), or -1 when v is not a string. */
long llmgw_json_unescape(const llmgw_jspan_t *v, char *buf);

/* An integer value as jansson reads one (no fraction, no exponent, within
 * 64 bits): 1 with *out, else 0. */
int llmgw_json_int(const llmgw_jspan_t *v, apr_int64_t *out);

/* Appends the validated value v to b without its white space (strings,
 * numbers and member order as written): compact JSON text. */
void llmgw_json_put_compact(llmgw_buf_t *b, const llmgw_jspan_t *v);

#endif
