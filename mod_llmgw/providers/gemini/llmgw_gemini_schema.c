/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_gemini_schema.c — JSON Schema -> Gemini Schema (an OpenAPI
 * subset) for tool parameters and response formats: cleaning and local
 * `$ref` resolution.
 */
#include "llmgw_gemini_int.h"

/* The schema a local "$ref" ("#", "#/$defs/Name", any JSON pointer into
 * the root) names, or NULL. */
static const json_t *resolve_ref(apr_pool_t *p, const json_t *root,
                                 const char *ref)
{
    const json_t *cur = root;
    char *path, *tok, *last = NULL;

    if (ref == NULL || ref[0] != '#') {
        return NULL;
    }
    if (ref[1] == '\0') {
        return root;
    }
    if (ref[1] != '/') {
        return NULL;
    }
    path = apr_pstrdup(p, ref + 2);
    for (tok = apr_strtok(path, "/", &last); tok && cur;
         tok = apr_strtok(NULL, "/", &last)) {
        char *r = tok, *w = tok;
        while (*r) {                    /* ~1 is '/', ~0 is '~' */
            if (r[0] == '~' && (r[1] == '0' || r[1] == '1')) {
                *w++ = r[1] == '1' ? '/' : '~';
                r += 2;
            }
            else {
                *w++ = *r++;
            }
        }
        *w = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        }
        else if (json_is_array(cur) && apr_isdigit(*tok)) {
            cur = json_array_get(cur, (size_t)strtoul(tok, NULL, 10));
        }
        else {
            cur = NULL;
        }
    }
    return json_is_object(cur) ? cur : NULL;
}

static json_t *clean_schema_in(apr_pool_t *p, const json_t *root,
                               const json_t *s, int depth);

/* JSON Schema -> Gemini Schema (an OpenAPI subset): local `$ref`s are
 * resolved against the root (Gemini has no $defs), a one-element `allOf`
 * is merged, unknown keywords are dropped, ["T","null"] types become
 * nullable, empty `properties` go. */
json_t *gem_clean_schema(apr_pool_t *p, const json_t *s)
{
    return clean_schema_in(p, s, s, 0);
}

static json_t *clean_schema_in(apr_pool_t *p, const json_t *root,
                               const json_t *s, int depth)
{
    static const char *const copy[] = {
        "title", "description", "nullable", "enum", "maxItems", "minItems",
        "required", "minProperties", "maxProperties", "minLength",
        "maxLength", "pattern", "example", "propertyOrdering", "default",
        "minimum", "maximum", NULL
    };
    const char *key;
    json_t *val, *out;
    int i;

    if (!json_is_object(s) || depth > GEMINI_MAX_DEPTH) {
        return json_object();
    }
    if (json_is_string(json_object_get(s, "$ref"))) {
        const json_t *target = resolve_ref(p, root,
                                 json_string_value(json_object_get(s, "$ref")));
        json_t *rest = json_copy((json_t *)s), *sib;

        out = target ? clean_schema_in(p, root, target, depth + 1)
                     : json_object();
        json_object_del(rest, "$ref");
        sib = clean_schema_in(p, root, rest, depth + 1);
        json_object_update(out, sib);   /* description etc. next to it */
        json_decref(sib);
        json_decref(rest);
        return out;
    }
    out = json_object();
    json_object_foreach((json_t *)s, key, val) {
        if (!strcmp(key, "allOf") && json_is_array(val)) {
            size_t k;
            for (k = 0; k < json_array_size(val); k++) {
                json_t *one = clean_schema_in(p, root, json_array_get(val, k),
                                              depth + 1);
                json_object_update_missing(out, one);
                json_decref(one);
            }
        }
        else if (!strcmp(key, "type")) {
            if (json_is_string(val)) {
                json_object_set(out, "type", val);
            }
            else if (json_is_array(val)) {
                size_t k;
                for (k = 0; k < json_array_size(val); k++) {
                    const char *t = json_string_value(json_array_get(val, k));
                    if (t && !strcmp(t, "null")) {
                        json_object_set_new(out, "nullable", json_true());
                    }
                    else if (t && !json_object_get(out, "type")) {
                        json_object_set_new(out, "type", json_string(t));
                    }
                }
            }
        }
        else if (!strcmp(key, "format")) {
            const char *f = json_string_value(val);
            if (f && (!strcmp(f, "enum") || !strcmp(f, "date-time")
                      || !strcmp(f, "int32") || !strcmp(f, "int64")
                      || !strcmp(f, "float") || !strcmp(f, "double"))) {
                json_object_set(out, "format", val);
            }
        }
        else if (!strcmp(key, "properties") && json_is_object(val)) {
            const char *pk;
            json_t *pv, *props = json_object();
            json_object_foreach(val, pk, pv) {
                json_object_set_new(props, pk, clean_schema_in(p, root, pv, depth + 1));
            }
            if (json_object_size(props)) {
                json_object_set_new(out, "properties", props);
            }
            else {
                json_decref(props);
            }
        }
        else if (!strcmp(key, "items") && json_is_object(val)) {
            json_object_set_new(out, "items", clean_schema_in(p, root, val, depth + 1));
        }
        else if (!strcmp(key, "anyOf") && json_is_array(val)) {
            json_t *any = json_array();
            size_t k;
            for (k = 0; k < json_array_size(val); k++) {
                json_array_append_new(any, clean_schema_in(p, root,
                                                           json_array_get(val, k),
                                                           depth + 1));
            }
            json_object_set_new(out, "anyOf", any);
        }
        else if (!strcmp(key, "const") && json_is_string(val)) {
            json_object_set_new(out, "enum", json_pack("[O]", val));
        }
        else {
            for (i = 0; copy[i]; i++) {
                if (!strcmp(key, copy[i])) {
                    json_object_set_new(out, key, json_deep_copy(val));
                    break;
                }
            }
        }
    }
    return out;
}
