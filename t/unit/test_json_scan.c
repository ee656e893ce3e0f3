/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The text fast path against jansson: the scanner accepts exactly what
 * jansson accepts, and the text parse agrees with the tree parse. */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <apr_file_info.h>
#include <apr_strings.h>
#include "llmgw_test.h"
#include "llmgw_json_scan.h"
#include "llmgw_num.h"
#include "llmgw_parse.h"

static int jansson_ok(const char *s, apr_size_t n)
{
    json_t *j = json_loadb(s, n, JSON_ALLOW_NUL, NULL); /* object or array at the top */
    if (j) {
        json_decref(j);
    }
    return j != NULL;
}

/* the scanner takes any top-level value; compare on containers only */
static int scanner_ok(const char *s, apr_size_t n)
{
    apr_size_t i = 0;
    while (i < n && strchr(" \t\r\n", s[i]) && s[i]) {
        i++;
    }
    if (i == n || (s[i] != '{' && s[i] != '[')) {
        return 0;
    }
    return llmgw_json_valid(s, n);
}

static const char *const corpus[] = {
    "{}", "[]", " {\"a\":1} ", "{\"a\":[1,2,{\"b\":null}]}", "[true,false,null]",
    "{\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\n\\t\\\\\\\"\\/\"}", "[1e5,-0,0.5,-1.25E-3]",
    "{\"u\":\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"}", "[\"a\\u0000b\"]",
    /* invalid */
    "", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[01]", "[1.]",
    "[.5]", "[1e]", "[-]", "[+1]", "[tru]", "[nul]", "{a:1}", "{'a':1}",
    "[\"\\x\"]", "[\"\\u12\"]", "[\"\\ud800\"]", "[\"\\udc00\"]",
    "[\"\\ud800\\u0041\"]", "[\"a\nb\"]", "[\"\xc0\xaf\"]", "[\"\xed\xa0\x80\"]",
    "[\"\xf4\x90\x80\x80\"]", "[\"\xe2\x82\"]", "[\"\x80\"]", "{} {}", "[1] x",
    "{\"a\":1 \"b\":2}", "[1 2]", "[\"unterminated]", "{\"a\":[}", "[[[[[]]]]",
    NULL
};

START_TEST(valid_agrees_with_jansson)
{
    int i;
    for (i = 0; corpus[i]; i++) {
        apr_size_t n = strlen(corpus[i]);
        ck_assert_msg(scanner_ok(corpus[i], n) == jansson_ok(corpus[i], n),
                      "disagree on <%s>", corpus[i]);
    }
}
END_TEST

/* Every fixture JSON file, then every prefix and every one-byte mutation
 * of a request-sized document. */
START_TEST(valid_agrees_on_fixtures_and_mutations)
{
    const char *globs[] = { "gemini/googleai/*.json*",
                            "gemini/vertexai/*.json*", NULL };
    const char *doc = "{\"model\":\"mock/echo\",\"messages\":[{\"role\":\"user\","
                      "\"content\":\"h\xc3\xa9 \\u00e9\"}],\"stream\":true,"
                      "\"max_tokens\":12,\"temperature\":0.5e1}";
    static const char subst[] = "{}[]\",:\\ -0.eEtn\x80\xc3";
    apr_size_t n = strlen(doc), i, k;
    int d, files = 0;
    char *buf = malloc(n + 1);

    for (d = 0; globs[d]; d++) {
        apr_array_header_t *paths = ut_fixture_glob(globs[d], 1);
        int f;
        for (f = 0; f < paths->nelts; f++) {
            const char *path = APR_ARRAY_IDX(paths, f, const char *);
            apr_size_t len;
            char *txt = ut_slurp(path, &len);
            ck_assert_msg(scanner_ok(txt, len) == jansson_ok(txt, len), "%s",
                          path);
            files++;
        }
    }
    ck_assert_int_ge(files, 40);

    for (i = 0; i <= n; i++) {
        ck_assert_msg(scanner_ok(doc, i) == jansson_ok(doc, i), "prefix %zu", i);
    }
    for (i = 0; i < n; i++) {
        for (k = 0; k < sizeof(subst) - 1; k++) {
            memcpy(buf, doc, n + 1);
            buf[i] = subst[k];
            ck_assert_msg(scanner_ok(buf, n) == jansson_ok(buf, n),
                          "mutation at %zu to 0x%02x: <%s>", i,
                          (unsigned char)subst[k], buf);
        }
    }
    free(buf);
}
END_TEST

static int count_member(void *baton, const char *key, apr_size_t klen,
                        int key_escaped, const llmgw_jspan_t *v)
{
    (void)key; (void)klen; (void)key_escaped; (void)v;
    return ++*(int *)baton == 1000;     /* stops at the 1000th */
}

/* llmgw_json_object_each: the one-pass validation and member walk takes
 * exactly the objects jansson takes, sees every member, stops when asked. */
START_TEST(object_each_agrees_with_jansson)
{
    const char *doc = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],"
                      "\"stream\":true,\"n\":-1.5e3,\"x\":null}";
    apr_size_t n = strlen(doc), i;
    llmgw_jspan_t top;
    int k, count;

    for (k = 0; corpus[k]; k++) {
        apr_size_t len = strlen(corpus[k]);
        json_t *j = json_loadb(corpus[k], len, JSON_ALLOW_NUL, NULL);
        count = 0;
        ck_assert_msg((llmgw_json_object_each(corpus[k], len, &top,
                                              count_member, &count) == 1)
                      == json_is_object(j), "disagree on <%s>", corpus[k]);
        if (json_is_object(j)) {
            ck_assert_int_eq(count, (int)json_object_size(j));
            ck_assert_int_eq(top.type, LLMGW_JV_OBJECT);
            ck_assert(top.p[0] == '{' && top.p[top.len - 1] == '}');
        }
        json_decref(j);
    }
    for (i = 0; i <= n; i++) {              /* every prefix: only the whole */
        count = 0;
        ck_assert_int_eq(llmgw_json_object_each(doc, i, &top, count_member,
                                                &count) == 1, i == n);
    }
    ck_assert_int_eq(count, 5);
    count = 998;                            /* the 2nd member stops it */
    ck_assert_int_eq(llmgw_json_object_each(doc, n, &top, count_member,
                                            &count), -1);
    ck_assert_int_eq(count, 1000);
}
END_TEST

static void same_tree(const char *s, apr_size_t n)
{
    json_error_t e1, e2;
    json_t *a = llmgw_json_loadb(s, n, JSON_ALLOW_NUL, &e1);
    json_t *b = memchr(s, '\0', n) ? NULL        /* refused: see below */
                : json_loadb(s, n, JSON_ALLOW_NUL, &e2);
    ck_assert_msg(!a == !b, "loads differ on <%.*s>", (int)n, s);
    if (a) {
        char *x = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
        char *y = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
        ck_assert_msg(json_equal(a, b) && !strcmp(x, y), "trees differ on "
                      "<%.*s>: %s / %s", (int)n, s, x, y);
        free(x);
        free(y);
    }
    json_decref(a);
    json_decref(b);
}

/* llmgw_json_loadb builds exactly jansson's tree (order, numbers,
 * escapes), or is jansson. */
START_TEST(loadb_same_as_jansson)
{
    static const char *const more[] = {
        "{\"a\":1,\"a\":2,\"b\":[1,-0,2.5,1e3,-1.5E-2,9223372036854775807]}",
        "[9223372036854775808]", "[1e400]", "[1e-400]", "{\"k\\u00e9y\":\"\\ud83d\\ude00\\t\"}",
        "{\"\\u0000\":1}", "[\"a\\u0000b\",\"\\/\\b\\f\\n\\r\"]", " [ {} , [] ] ", "\"top\"", "12",
        NULL
    };
    const char *globs[] = { "gemini/googleai/*.json*",
                            "gemini/vertexai/*.json*", NULL };
    const char *doc = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                      "\"content\":\"h\xc3\xa9 \\u00e9\\n\"}],\"n\":-12,\"t\":0.5e1}";
    static const char subst[] = "{}[]\",:\\ -0.eEtn\x80\xc3";
    char buf[256];
    apr_size_t n = strlen(doc), k, m;
    int i, d;
    for (k = 0; k <= n; k++) {
        same_tree(doc, k);
    }
    for (k = 0; k < n; k++) {
        for (m = 0; m < sizeof(subst) - 1; m++) {
            memcpy(buf, doc, n + 1);
            buf[k] = subst[m];
            same_tree(buf, n);
        }
    }
    for (i = 0; corpus[i]; i++) {
        same_tree(corpus[i], strlen(corpus[i]));
    }
    for (i = 0; more[i]; i++) {
        same_tree(more[i], strlen(more[i]));
    }
    for (d = 0; globs[d]; d++) {
        apr_array_header_t *paths = ut_fixture_glob(globs[d], 1);
        int f;
        for (f = 0; f < paths->nelts; f++) {
            apr_size_t len;
            char *txt = ut_slurp(APR_ARRAY_IDX(paths, f, const char *), &len);
            same_tree(txt, len);
        }
    }
}
END_TEST

/* A raw NUL byte is never JSON: refused wherever it is, though jansson
 * 2.14 takes it after a number; the scanner agrees. */
START_TEST(loadb_refuses_raw_nul)
{
    static const char *const texts[] = { "{\"p\":0.2\0}", "[1\0]",
        "{\"a\":\"x\0y\"}", "{}\0", "\0{}", "12\0", NULL };
    static const apr_size_t lens[] = { 10, 4, 11, 3, 3, 3 };
    int i;
    for (i = 0; texts[i]; i++) {
        json_error_t e;
        ck_assert_msg(llmgw_json_loadb(texts[i], lens[i], JSON_ALLOW_NUL, &e)
                      == NULL, "text %d taken", i);
        ck_assert_str_eq(e.text, "raw NUL byte in JSON text");
        ck_assert_ptr_null(llmgw_json_loadb(texts[i], lens[i], 0, NULL));
        ck_assert_int_eq(llmgw_json_valid(texts[i], lens[i]), 0);
    }
}
END_TEST

/* llmgw_json_dumps' compact writer: json_dumps' bytes exactly */
static void same_dump(json_t *j)
{
    int prec = llmgw_json_precision(j);
    char *a = llmgw_json_dump_compact(j, prec);
    char *b = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(prec));
    ck_assert_msg(a && b && !strcmp(a, b), "dumps differ:\n%s\n%s", a, b);
    free(a);
    free(b);
}

START_TEST(dump_same_as_jansson)
{
    const char *globs[] = { "gemini/googleai/*.json*",
                            "gemini/vertexai/*.json*", NULL };
    const double reals[] = { 0.1, 1e21, 1e-7, 3.0, -0.0, 5.6e-05, 1.5e300,
                             123456789.125, 0.30000000000000004, -2.5 };
    static const char odd[] = "a\0b\x01\x1f\"\\/\b\f\n\r\t\x7f"
                              "\xc3\xa9\xe2\x80\xa8";
    json_t *j = json_object(), *a = json_array();
    int d, i;

    for (i = 0; i < (int)(sizeof(reals) / sizeof(reals[0])); i++) {
        json_t *one = json_pack("[f]", reals[i]);
        same_dump(one);
        json_decref(one);
        json_array_append_new(a, json_real(reals[i]));
    }
    json_array_append_new(a, json_integer(-9223372036854775807LL - 1));
    json_array_append_new(a, json_stringn(odd, sizeof(odd) - 1));
    json_object_set_new(j, "z", a);
    json_object_set_new(j, "a\tkey", json_true());
    json_object_set_new(j, "n", json_null());
    json_object_set_new(j, "f", json_false());
    json_object_set_new(j, "e", json_object());
    json_object_set_new(j, "ea", json_array());
    json_object_setn_new(j, "k\0nul", 5, json_integer(7));
    same_dump(j);
    json_decref(j);
    for (d = 0; globs[d]; d++) {
        apr_array_header_t *paths = ut_fixture_glob(globs[d], 1);
        int f;
        for (f = 0; f < paths->nelts; f++) {
            apr_size_t len;
            char *txt = ut_slurp(APR_ARRAY_IDX(paths, f, const char *), &len);
            json_t *t = json_loadb(txt, len, JSON_ALLOW_NUL, NULL);
            if (t) {
                same_dump(t);
                json_decref(t);
            }
        }
    }
}
END_TEST

static void both(const char *body, llmgw_endpoint_e ep, int want_fast)
{
    llmgw_parsed_t a, b;
    const char *err, *param;
    json_t *j;
    int fast = llmgw_parse_request_text(tp, body, strlen(body), ep, &a);
    ck_assert_msg(fast == want_fast, "fast path %d for <%s>", fast, body);
    if (!fast) {
        return;
    }
    j = ut_json(body);
    ck_assert_int_eq(llmgw_parse_request(j, ep, strlen(body), &b, &err,
                                         &param), 0);
    ck_assert_str_eq(a.model, b.model);
    ck_assert_int_eq(a.stream, b.stream);
    ck_assert_int_eq(a.include_usage, b.include_usage);
    ck_assert_int_eq(a.max_tokens, b.max_tokens);
    ck_assert_int_eq(a.prompt_estimate, b.prompt_estimate);
    if (b.models) {
        json_decref(b.models);
    }
    json_decref(j);
}

/* The direct writers (llmgw_buf_json*): the bytes llmgw_json_dumps writes
 * for the same value; keys matched escaped or not. */
START_TEST(buf_writers_same_as_dumps)
{
    static const char *const docs[] = {
        "[\"plain\"]", "[\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u0001 \\u001f\"]",
        "[\"nul \\u0000 in\"]",
        "[\"0123456789abcdefg\\\"hijklmnopqrstu\\u001fvwxyz0123456789\\\\ABCDEFGH\\u00e9IJKLMNOPQ\\nRSTUVWXYZ_tail\"]", "[\"\\u00e9t\\u00e9 \\ud83d\\ude00\"]",
        "[0.7]", "[1.0]", "[1e300]", "[-2.5e-7]", "[0.1]", "[123456789.123]",
        "{\"a\":[1,2.5,{\"b\":null}],\"c\":true,\"d\":\"x\\ny\"}",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_t *j = ut_json(docs[i]), *v = json_array_get(j, 0);
        char *want = llmgw_json_dumps(j, JSON_COMPACT);
        llmgw_buf_t b;

        llmgw_buf_init(&b, tp, 0);
        ck_assert_int_eq(llmgw_buf_json(&b, j), 0);
        ck_assert_str_eq(b.data, want);
        if (json_is_string(v)) {
            b.len = 0;
            llmgw_buf_append(&b, "[", 1);
            llmgw_buf_json_string(&b, json_string_value(v),
                                  json_string_length(v));
            llmgw_buf_append(&b, "]", 1);
            ck_assert_str_eq(b.data, want);
        }
        if (json_is_real(v)) {
            json_t *one = json_real(json_real_value(v));
            char *w1 = llmgw_json_dumps(one, JSON_COMPACT | JSON_ENCODE_ANY);
            b.len = 0;
            llmgw_buf_json_real(&b, json_real_value(v));
            b.data[b.len] = '\0';
            ck_assert_str_eq(b.data, w1);
            free(w1);
            json_decref(one);
        }
        free(want);
        json_decref(j);
    }
    ck_assert(llmgw_json_key_is("content", 7, 0, "content"));
    ck_assert(!llmgw_json_key_is("content", 7, 0, "conten"));
    ck_assert(llmgw_json_key_is("cont\\u0065nt", 12, 1, "content"));
    ck_assert(!llmgw_json_key_is("cont\\u0065nx", 12, 1, "content"));
    ck_assert(!llmgw_json_key_is("a\\u0000", 7, 1, "a"));
}
END_TEST

/* The writers' short paths (a real with at most two decimals, an integer
 * without snprintf): the bytes of llmgw_json_dumps for a sweep of values
 * around them (negative, -0, .x5, past two decimals, large, extremes). */
START_TEST(buf_real_int_short_paths)
{
    static const double extra[] = {
        -0.0, 0.0, 0.1 + 0.2, 1e12, 99999999999.99, 1e13, -1e13, 1e15,
        123456789012.34, 0.005, 0.015, 1.005, 2.675, -1.05, 1e-7, 5e-324,
        1.7976931348623157e308, 0.29, 0.57, 1.15, 4.35
    };
    static const apr_int64_t ints[] = {
        0, 1, -1, 9, 10, -10, 1234567890, APR_INT64_MAX, APR_INT64_MIN,
        APR_INT64_MIN + 1
    };
    llmgw_buf_t b;
    int k;
    apr_size_t i;

    llmgw_buf_init(&b, tp, 0);
    for (k = -3000; k <= 3000; k++) {
        double vs[3] = { k / 100.0, k / 1000.0, k * 0.01 };
        for (i = 0; i < 3; i++) {
            json_t *one = json_real(vs[i]);
            char *want = llmgw_json_dumps(one, JSON_COMPACT | JSON_ENCODE_ANY);
            b.len = 0;
            llmgw_buf_json_real(&b, vs[i]);
            b.data[b.len] = '\0';
            ck_assert_str_eq(b.data, want);
            free(want);
            json_decref(one);
        }
    }
    for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        json_t *one = json_real(extra[i]);
        char *want = llmgw_json_dumps(one, JSON_COMPACT | JSON_ENCODE_ANY);
        b.len = 0;
        llmgw_buf_json_real(&b, extra[i]);
        b.data[b.len] = '\0';
        ck_assert_str_eq(b.data, want);
        free(want);
        json_decref(one);
    }
    for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        char want[32];
        snprintf(want, sizeof(want), "%" APR_INT64_T_FMT, ints[i]);
        b.len = 0;
        llmgw_buf_int(&b, ints[i]);
        b.data[b.len] = '\0';
        ck_assert_str_eq(b.data, want);
    }
}
END_TEST

START_TEST(text_parse_agrees_with_tree)
{
    both("{\"model\":\"mock/echo\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         LLMGW_EP_CHAT, 1);
    both("{\"messages\":[{\"role\":\"user\"}],\"model\":\"m\",\"stream\":true,"
         "\"stream_options\":{\"include_usage\":true},\"max_tokens\":7,"
         "\"max_completion_tokens\":9}", LLMGW_EP_CHAT, 1);
    both("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"stream\":null,"
         "\"stream_options\":null,\"max_completion_tokens\":null,\"max_tokens\":3}",
         LLMGW_EP_CHAT, 1);
    both("{\"model\":\"m\",\"input\":\"hello\"}", LLMGW_EP_EMBEDDINGS, 1);
    both("{\"model\":\"m\",\"input\":[\"a\"]}", LLMGW_EP_EMBEDDINGS, 1);
    both("{\"model\":\"m\",\"prompt\":\"a cat\"}", LLMGW_EP_IMAGES, 1);
    /* left to the tree path */
    both("{\"model\":\"m\",\"provider\":\"p\",\"messages\":[{\"role\":\"u\"}]}", LLMGW_EP_CHAT, 0);
    both("{\"model\":\"m\",\"provider_key\":\"k\",\"messages\":[{\"role\":\"u\"}]}", LLMGW_EP_CHAT, 0);
    both("{\"models\":[\"m\"],\"messages\":[{\"role\":\"u\"}]}", LLMGW_EP_CHAT, 0);
    both("{\"model\":\"m\\u0065\",\"messages\":[{\"role\":\"u\"}]}", LLMGW_EP_CHAT, 0);
    both("{\"mod\\u0065l\":\"m\",\"messages\":[{\"role\":\"u\"}]}", LLMGW_EP_CHAT, 0);
    both("{\"model\":\"a\",\"model\":\"b\",\"messages\":[{\"role\":\"u\"}]}", LLMGW_EP_CHAT, 0);
    both("{\"model\":\"m\",\"messages\":[]}", LLMGW_EP_CHAT, 0);
    both("{\"model\":\"m\",\"messages\":[{\"role\":5}]}", LLMGW_EP_CHAT, 0);
    both("{\"model\":\"m\",\"messages\":[{\"role\":\"u\",\"role\":5}]}", LLMGW_EP_CHAT, 0);
    both("{\"model\":\"m\",\"messages\":[1]}", LLMGW_EP_CHAT, 0);
    both("{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"stream\":\"yes\"}", LLMGW_EP_CHAT, 0);
    both("{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"max_tokens\":-1}", LLMGW_EP_CHAT, 0);
    both("{\"model\":\"m\",\"messages\":[{\"role\":\"u\"}],\"max_tokens\":1.5}", LLMGW_EP_CHAT, 0);
    both("{\"model\":5,\"messages\":[{\"role\":\"u\"}]}", LLMGW_EP_CHAT, 0);
    both("[{\"model\":\"m\"}]", LLMGW_EP_CHAT, 0);
    both("{\"model\":\"m\",\"input\":[]}", LLMGW_EP_EMBEDDINGS, 0);
    both("{\"model\":\"m\",\"prompt\":3}", LLMGW_EP_IMAGES, 0);
}
END_TEST

START_TEST(replace_model)
{
    const char *raw = " {\"a\":{\"model\":\"inner\"},\"model\" : \"mock/echo\",\"z\":1}";
    apr_size_t n;
    char *out = llmgw_replace_model(tp, raw, strlen(raw), "echo", &n);
    ck_assert_str_eq(out, " {\"a\":{\"model\":\"inner\"},\"model\" : \"echo\",\"z\":1}");
    ck_assert_uint_eq(n, strlen(out));
    out = llmgw_replace_model(tp, raw, strlen(raw), "a\"b\\c", &n);
    {
        json_t *j = ut_json(out);
        ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "a\"b\\c");
        json_decref(j);
    }
    ck_assert_ptr_null(llmgw_replace_model(tp, "{\"x\":1}", 7, "m", &n));
}
END_TEST

/* Member order and white space do not change the canonical text; nested
 * objects are sorted too, arrays keep their order, only top-level members
 * are dropped; it matches jansson's sorted compact dump on plain text. */
START_TEST(canonical_form)
{
    static const char *const drop[] = { "model", "stream", NULL };
    const char *a = "{ \"model\":\"x\", \"messages\" : [ {\"role\":\"user\", "
                    "\"content\":\"hi there\"}, {\"content\":\"b\",\"role\":\"a\"} ],"
                    " \"temperature\": 0.5, \"stream\": true, \"z\":{\"b\":[3,2,1],"
                    "\"a\":{\"model\":null}} }";
    const char *b = "{\"z\":{\"a\":{\"model\":null},\"b\":[3,2,1]},\"temperature\":0.5,"
                    "\"messages\":[{\"content\":\"hi there\",\"role\":\"user\"},"
                    "{\"role\":\"a\",\"content\":\"b\"}],\"model\":\"y\"}";
    const char *c = "{\"messages\":[{\"content\":\"b\",\"role\":\"a\"},"
                    "{\"content\":\"hi there\",\"role\":\"user\"}]}";
    apr_size_t n;
    char *ca = llmgw_json_canonical(tp, a, strlen(a), drop, &n);
    char *cb = llmgw_json_canonical(tp, b, strlen(b), drop, NULL);
    char *cc = llmgw_json_canonical(tp, c, strlen(c), drop, NULL);
    json_t *j;
    char *ref;

    ck_assert_ptr_nonnull(ca);
    ck_assert_uint_eq(n, strlen(ca));
    ck_assert_str_eq(ca, cb);
    ck_assert_str_ne(ca, cc);                 /* message order matters */
    ck_assert_ptr_null(strstr(ca, "\"stream\""));
    ck_assert_ptr_nonnull(strstr(ca, "{\"model\":null}"));   /* nested kept */
    j = ut_json(b);
    json_object_del(j, "model");
    ref = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(cb, ref);
    free(ref);
    json_decref(j);
    ck_assert_ptr_null(llmgw_json_canonical(tp, "", 0, NULL, NULL));
    /* canonical text is its own canonical form */
    ck_assert_str_eq(llmgw_json_canonical(tp, ca, strlen(ca), NULL, NULL), ca);
    /* duplicates keep their order; escapes and numbers stay as written */
    {
        const char *dup = "{\"b\":1,\"a\":\"\\u00e9\",\"b\":2.50}";
        ck_assert_str_eq(llmgw_json_canonical(tp, dup, strlen(dup), NULL, NULL),
                         "{\"a\":\"\\u00e9\",\"b\":1,\"b\":2.50}");
    }
}
END_TEST

/* The readers and writers the stream translators use on validated text:
 * unescaped strings, keys, integers as jansson reads them, strings
 * escaped as jansson writes them, compact text of a span. */
START_TEST(span_values_and_writers)
{
    static const char *const strs[] = {
        "plain", "a\"b\\c/d", "\n\t\r\b\f\x01\x1f", "caf\xc3\xa9 \xf0\x9f\x98\x80", ""
    };
    llmgw_jspan_t v;
    llmgw_buf_t b;
    char buf[64];
    apr_int64_t n;
    size_t i;

    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        json_t *j = json_string(strs[i]);
        char *want = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        llmgw_buf_init(&b, tp, 0);
        llmgw_buf_json_string(&b, strs[i], strlen(strs[i]));
        ck_assert_str_eq(b.data, want);
        /* and back */
        ck_assert(llmgw_json_span(b.data, b.len, &v));
        ck_assert_int_eq(llmgw_json_unescape(&v, buf), (long)strlen(strs[i]));
        ck_assert(!memcmp(buf, strs[i], strlen(strs[i])));
        free(want);
        json_decref(j);
    }
    ck_assert(llmgw_json_span("\"a\\u0000b\\ud83d\\ude00\"", 24, &v));
    ck_assert_int_eq(llmgw_json_unescape(&v, buf), 7);
    ck_assert(!memcmp(buf, "a\0b\xf0\x9f\x98\x80", 7));
    ck_assert(llmgw_json_span("12", 2, &v));
    ck_assert_int_eq(llmgw_json_unescape(&v, buf), -1);

    ck_assert(llmgw_json_key_is("type", 4, 0, "type"));
    ck_assert(!llmgw_json_key_is("typ", 3, 0, "type"));
    ck_assert(llmgw_json_key_is("\\u0074ype", 9, 1, "type"));
    ck_assert(!llmgw_json_key_is("\\u0074yp", 8, 1, "type"));

    ck_assert(llmgw_json_span("-42", 3, &v) && llmgw_json_int(&v, &n));
    ck_assert_int_eq(n, -42);
    ck_assert(llmgw_json_span("4.0", 3, &v) && !llmgw_json_int(&v, &n));
    ck_assert(llmgw_json_span("1e3", 3, &v) && !llmgw_json_int(&v, &n));
    ck_assert(llmgw_json_span("99999999999999999999", 20, &v)
              && !llmgw_json_int(&v, &n));
    ck_assert(llmgw_json_span("\"1\"", 3, &v) && !llmgw_json_int(&v, &n));
    /* the digits-only path and strtoll's agree, at the bounds of each */
    {
        static const char *const nums[] = {
            "0", "-0", "7", "-7", "123456789012345678",
            "-123456789012345678", "999999999999999999",
            "1234567890123456789", "9223372036854775807",
            "-9223372036854775808", "9223372036854775808",
            "-9223372036854775809", "0.5", "-0.5", "10e2", "1E+2", "-1e-2",
            "123456789012345678.5", "1234567890123456789e1", NULL
        };
        int i;
        for (i = 0; nums[i]; i++) {
            const char *t = nums[i];
            char *e;
            long long want;
            int ok;
            errno = 0;
            want = strtoll(t, &e, 10);
            ok = !errno && !*e;
            ck_assert(llmgw_json_span(t, strlen(t), &v));
            ck_assert_msg(llmgw_json_int(&v, &n) == ok, "%s: %d", t, !ok);
            if (ok) {
                ck_assert_msg(n == want, "%s read as %lld", t, (long long)n);
            }
        }
    }

    {
        const char *t = "{ \"a\" : [ 1 , 2.50 ],\n \"b\\\" c\": \" x y \" }";
        llmgw_buf_init(&b, tp, 0);
        ck_assert(llmgw_json_span(t, strlen(t), &v));
        llmgw_json_put_compact(&b, &v);
        ck_assert_str_eq(b.data, "{\"a\":[1,2.50],\"b\\\" c\":\" x y \"}");
    }
}
END_TEST

/* llmgw_json_object_visit: members of the objects it is let into are
 * reported in the same pass (a nested object's members before the member
 * itself), validity is exactly llmgw_json_object_each's (and so jansson's),
 * a member callback's stop anywhere stops it. */
typedef struct {
    llmgw_buf_t log;
    const char *skip;       /* enter refuses this key */
    int stop_at;            /* member() stops at this call (1-based) */
    int calls;
} visit_log_t;

static int visit_member(void *baton, const char *key, apr_size_t klen,
                        int key_escaped, const llmgw_jspan_t *v)
{
    visit_log_t *l = baton;
    (void)key_escaped;
    llmgw_buf_append(&l->log, key ? key : "", klen);
    llmgw_buf_append(&l->log, "=", 1);
    llmgw_buf_append(&l->log, v->p, v->len);
    llmgw_buf_append(&l->log, ";", 1);
    return ++l->calls == l->stop_at;
}

static void *visit_enter(void *baton, const char *key, apr_size_t klen,
                         int key_escaped)
{
    visit_log_t *l = baton;
    (void)key_escaped;
    if (l->skip && strlen(l->skip) == klen && !memcmp(key, l->skip, klen)) {
        return NULL;
    }
    llmgw_buf_append(&l->log, "<", 1);
    llmgw_buf_append(&l->log, key ? key : "", klen);
    llmgw_buf_append(&l->log, ">", 1);
    return l;
}

static const char *visit(const char *doc, apr_size_t n, const char *skip,
                         int stop_at, int *rv)
{
    static const llmgw_json_visitor_t vis = { visit_member, visit_enter,
                                              NULL };
    visit_log_t l;
    llmgw_jspan_t top;

    memset(&l, 0, sizeof(l));
    llmgw_buf_init(&l.log, tp, 0);
    l.skip = skip;
    l.stop_at = stop_at;
    *rv = llmgw_json_object_visit(doc, n, &top, &vis, &l);
    if (*rv == 1) {
        ck_assert_int_eq(top.type, LLMGW_JV_OBJECT);
        ck_assert(top.p[0] == '{' && top.p + top.len <= doc + n
                  && top.p[top.len - 1] == '}');
    }
    return apr_pstrmemdup(tp, l.log.data ? l.log.data : "", l.log.len);
}

static void *visit_enter_array(void *baton, const char *key,
                               apr_size_t klen, int key_escaped)
{
    visit_log_t *l = baton;
    (void)key_escaped;
    llmgw_buf_append(&l->log, "[", 1);
    llmgw_buf_append(&l->log, key ? key : "#", key ? klen : 1);
    llmgw_buf_append(&l->log, "]", 1);
    return l;
}

/* Arrays entered: their elements reported (key NULL, logged as an empty
 * key) in the same pass, object and array elements entered in turn; the
 * validity as llmgw_json_object_each's on every one-byte mutation. */
START_TEST(object_visit_arrays)
{
    static const llmgw_json_visitor_t vis = {
        visit_member, visit_enter, visit_enter_array
    };
    const char *doc = "{\"a\":[1, {\"b\":[true]} ,[\"x\"],[]],\"c\":{}}";
    static const char subst[] = "{}[]\",:\\ 0x";
    apr_size_t n = strlen(doc), i, k;
    char *buf = malloc(n + 1);
    visit_log_t l;
    llmgw_jspan_t top;
    int rv;

    memset(&l, 0, sizeof(l));
    llmgw_buf_init(&l.log, tp, 0);
    ck_assert_int_eq(llmgw_json_object_visit(doc, n, &top, &vis, &l), 1);
    llmgw_buf_append(&l.log, "", 1);
    ck_assert_str_eq(l.log.data,
                     "[a]=1;<>[b]=true;b=[true];={\"b\":[true]};[#]=\"x\";"
                     "=[\"x\"];[#]=[];a=[1, {\"b\":[true]} ,[\"x\"],[]];"
                     "<c>c={};");
    for (i = 0; i < n; i++) {
        for (k = 0; k < sizeof(subst) - 1; k++) {
            int c = 0;
            memcpy(buf, doc, n + 1);
            buf[i] = subst[k];
            memset(&l, 0, sizeof(l));
            llmgw_buf_init(&l.log, tp, 0);
            rv = llmgw_json_object_visit(buf, n, &top, &vis, &l);
            ck_assert_int_eq(rv, llmgw_json_object_each(buf, n, &top,
                                                        count_member, &c));
        }
    }
    free(buf);
}
END_TEST

START_TEST(object_visit_nested_one_pass)
{
    const char *doc = " {\"type\":\"d\", \"delta\" : { \"text\":\"a\\\"}\","
                      "\"o\":{\"k\":[1,{\"z\":2}]} },\"arr\":[{\"q\":1}],"
                      "\"e\":{}, \"s\":{\"x\":1}} ";
    apr_size_t n = strlen(doc), i, k;
    static const char subst[] = "{}[]\",:\\ 0x";
    char *buf = malloc(n + 1);
    int rv, rv2, d;
    llmgw_jspan_t top;

    ck_assert_str_eq(visit(doc, n, "s", 0, &rv),
                     "type=\"d\";<delta>text=\"a\\\"}\";<o>"
                     "k=[1,{\"z\":2}];o={\"k\":[1,{\"z\":2}]};"
                     "delta={ \"text\":\"a\\\"}\",\"o\":{\"k\":[1,{\"z\":2}]} };"
                     "arr=[{\"q\":1}];<e>e={};s={\"x\":1};");
    ck_assert_int_eq(rv, 1);
    /* a stop in a nested object stops the whole walk */
    visit(doc, n, NULL, 2, &rv);
    ck_assert_int_eq(rv, -1);
    /* validity: the same as llmgw_json_object_each on the corpus, every
     * prefix and every one-byte mutation */
    for (k = 0; corpus[k]; k++) {
        apr_size_t len = strlen(corpus[k]);
        int c = 0;
        visit(corpus[k], len, NULL, 0, &rv);
        ck_assert_msg(rv == llmgw_json_object_each(corpus[k], len, &top,
                                                   count_member, &c),
                      "disagree on <%s>", corpus[k]);
    }
    for (i = 0; i <= n; i++) {              /* the whole (and its ws) */
        visit(doc, i, NULL, 0, &rv);
        ck_assert_int_eq(rv == 1, i >= n - 1);
    }
    for (i = 0; i < n; i++) {
        for (k = 0; k < sizeof(subst) - 1; k++) {
            int c = 0;
            memcpy(buf, doc, n + 1);
            buf[i] = subst[k];
            visit(buf, n, NULL, 0, &rv);
            rv2 = llmgw_json_object_each(buf, n, &top, count_member, &c);
            ck_assert_msg((rv == 1) == (rv2 == 1), "mutation at %zu: <%s>",
                          i, buf);
        }
    }
    free(buf);
    /* nesting: the same depth limit whether entered or scanned */
    for (d = LLMGW_JSON_MAX_DEPTH - 3; d <= LLMGW_JSON_MAX_DEPTH + 3; d++) {
        llmgw_buf_t b;
        int c = 0;
        llmgw_buf_init(&b, tp, 0);
        for (k = 0; k < (apr_size_t)d; k++) {
            llmgw_buf_append(&b, "{\"a\":", 5);
        }
        llmgw_buf_append(&b, "1", 1);
        for (k = 0; k < (apr_size_t)d; k++) {
            llmgw_buf_append(&b, "}", 1);
        }
        visit(b.data, b.len, NULL, 0, &rv);
        rv2 = llmgw_json_object_each(b.data, b.len, &top, count_member, &c);
        ck_assert_msg(rv == rv2, "depth %d: %d / %d", d, rv, rv2);
    }
}
END_TEST

/* llmgw_json_each skips what was validated: every member's span (type,
 * length, escaped) is the one the validating scan gives at its start, at
 * every level, over the unit tests' JSON texts (t/fuzz/corpus/unit). */
static int each_checks(void *baton, const char *k, apr_size_t kl, int esc,
                       const llmgw_jspan_t *v)
{
    llmgw_jspan_t want;
    const char *end = baton;
    (void)kl;
    if (k) {
        int kesc = memchr(k, '\\', kl) != NULL;
        ck_assert_int_eq(esc, kesc);
    }
    ck_assert_msg(llmgw_json_span(v->p, (apr_size_t)(end - v->p), &want),
                  "no value at %.20s", v->p);
    ck_assert_int_eq(v->type, want.type);
    ck_assert_uint_eq(v->len, want.len);
    ck_assert_int_eq(v->escaped, want.escaped);
    if (v->type == LLMGW_JV_OBJECT || v->type == LLMGW_JV_ARRAY) {
        ck_assert_int_eq(llmgw_json_each(v, each_checks, baton), 0);
    }
    return 0;
}

START_TEST(each_spans_as_validated)
{
    const char *slash = strrchr(__FILE__, '/');
    const char *dir = apr_pstrcat(ut_pool(), slash ? apr_pstrndup(ut_pool(),
                                  __FILE__, slash - __FILE__) : ".",
                                  "/../fuzz/corpus/unit", NULL);
    apr_dir_t *d;
    apr_finfo_t fi;
    int n = 0;

    ck_assert_int_eq(apr_dir_open(&d, dir, ut_pool()), APR_SUCCESS);
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        apr_size_t len;
        char *txt;
        llmgw_jspan_t top;
        if (fi.filetype != APR_REG) {
            continue;
        }
        txt = ut_slurp(apr_pstrcat(ut_pool(), dir, "/", fi.name, NULL), &len);
        while (len && strchr(" \t\r\n", *txt)) {
            txt++;
            len--;
        }
        if (!txt || !llmgw_json_valid(txt, len)
            || !llmgw_json_span(txt, len, &top)) {
            continue;
        }
        ck_assert_int_eq(llmgw_json_each(&top, each_checks,
                                         (void *)(txt + len)), 0);
        n++;
    }
    apr_dir_close(d);
    ck_assert_int_gt(n, 100);
}
END_TEST

static Suite *json_scan_suite(void)
{
Suite *s = suite_create("json_scan");
    TCase *tc = ut_tcase(s, "scan", 60);
    tcase_add_test(tc, valid_agrees_with_jansson);
    tcase_add_test(tc, valid_agrees_on_fixtures_and_mutations);
    tcase_add_test(tc, object_each_agrees_with_jansson);
    tcase_add_test(tc, loadb_same_as_jansson);
    tcase_add_test(tc, loadb_refuses_raw_nul);
    tcase_add_test(tc, dump_same_as_jansson);
    tcase_add_test(tc, buf_writers_same_as_dumps);
    tcase_add_test(tc, buf_real_int_short_paths);
    tcase_add_test(tc, text_parse_agrees_with_tree);
    tcase_add_test(tc, replace_model);
    tcase_add_test(tc, canonical_form);
    tcase_add_test(tc, span_values_and_writers);
    tcase_add_test(tc, object_visit_nested_one_pass);
    tcase_add_test(tc, each_spans_as_validated);
    tcase_add_test(tc, object_visit_arrays);
    return s;
}

UT_MAIN(json_scan_suite)
