/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_store.c — status names and the parser of the LLMGWStore argument.
 */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_sha1.h>

#include "llmgw_store_backends.h"
#include "llmgw_digest.h"

const char *llmgw_store_status_str(llmgw_store_status_e s)
{
    switch (s) {
    case LLMGW_STORE_OK:       return "ok";
    case LLMGW_STORE_NOTFOUND: return "not found";
    case LLMGW_STORE_EXISTS:   return "exists";
    case LLMGW_STORE_TOOBIG:   return "too big";
    case LLMGW_STORE_ERROR:    return "error";
    }
    return "unknown";
}

const char *llmgw_store_key_digest(const char *key, apr_size_t klen,
                                   char buf[LLMGW_STORE_DIGEST_BUF],
                                   apr_size_t *out_len)
{
    unsigned char md[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t ctx;

    apr_sha1_init(&ctx);
    apr_sha1_update_binary(&ctx, (const unsigned char *)key, (unsigned int)klen);
    apr_sha1_final(md, &ctx);
    memcpy(buf, "sha1:", 5);
    llmgw_hex(md, sizeof(md), buf + 5);
    *out_len = 5 + 2 * APR_SHA1_DIGESTSIZE;
    return buf;
}

/* Upper bound of an shm segment, to keep size arithmetic far from overflow. */
#define SHM_MAX ((apr_uint64_t)64 * 1024 * 1024 * 1024)

static apr_status_t parse_size(apr_pool_t *p, const char *s, apr_size_t *out,
                               const char **err)
{
    apr_uint64_t v = 0, mult = 1;
    const char *c = s;

    if (!apr_isdigit(*c)) {
        *err = apr_psprintf(p, "shm size '%s' is not a number", s);
        return APR_EINVAL;
    }
    for (; apr_isdigit(*c); c++) {
        v = v * 10 + (apr_uint64_t)(*c - '0');
        if (v > SHM_MAX) {
            *err = apr_psprintf(p, "shm size '%s' is too large (max 64G)", s);
            return APR_EINVAL;
        }
    }
    switch (*c) {
    case '\0':           break;
    case 'k': case 'K':  mult = 1024; c++; break;
    case 'm': case 'M':  mult = 1024 * 1024; c++; break;
    case 'g': case 'G':  mult = 1024 * 1024 * 1024; c++; break;
    default:             mult = 0; break;
    }
    if (mult == 0 || *c != '\0') {
        *err = apr_psprintf(p, "shm size '%s' must be a number of bytes "
                            "with an optional K, M or G suffix", s);
        return APR_EINVAL;
    }
    if (v * mult > SHM_MAX) {
        *err = apr_psprintf(p, "shm size '%s' is too large (max 64G)", s);
        return APR_EINVAL;
    }
    if (v * mult < LLMGW_STORE_SHM_MIN) {
        *err = apr_psprintf(p, "shm size '%s' is below the minimum of 1M", s);
        return APR_EINVAL;
    }
    *out = (apr_size_t)(v * mult);
    return APR_SUCCESS;
}

static int host_char_ok(char c, int bracketed)
{
    if (apr_isalnum(c) || c == '.' || c == '-' || c == '_')
        return 1;
    return bracketed && (c == ':' || c == '%');
}

/* One "HOST[:PORT]" or "[ADDR][:PORT]" of length len. */
static apr_status_t parse_server(apr_pool_t *p, const char *item,
                                 apr_size_t len, llmgw_store_server_t *srv,
                                 const char **err)
{
    const char *s = apr_pstrmemdup(p, item, len);
    const char *host, *hend, *port = NULL;
    const char *c;
    long pv;

    if (*s == '[') {
        host = s + 1;
        hend = strchr(host, ']');
        if (!hend) {
            *err = apr_psprintf(p, "memcached server '%s' lacks a closing ']'", s);
            return APR_EINVAL;
        }
        if (hend[1] == ':')
            port = hend + 2;
        else if (hend[1] != '\0') {
            *err = apr_psprintf(p, "memcached server '%s' is malformed", s);
            return APR_EINVAL;
        }
    }
    else {
        host = s;
        hend = strchr(s, ':');
        if (hend)
            port = hend + 1;
        else
            hend = s + len;
    }
    if (hend == host) {
        *err = apr_psprintf(p, "memcached server '%s' has an empty host", s);
        return APR_EINVAL;
    }
    for (c = host; c < hend; c++) {
        if (!host_char_ok(*c, *s == '[')) {
            *err = apr_psprintf(p, "memcached server '%s' has an invalid "
                                "character in its host", s);
            return APR_EINVAL;
        }
    }
    srv->host = apr_pstrmemdup(p, host, (apr_size_t)(hend - host));
    srv->port = LLMGW_STORE_DEFAULT_PORT;
    if (port) {
        pv = 0;
        for (c = port; *c; c++) {
            if (!apr_isdigit(*c) || pv > 65535)
                break;
            pv = pv * 10 + (*c - '0');
        }
        if (c == port || *c != '\0' || pv < 1 || pv > 65535) {
            *err = apr_psprintf(p, "memcached server '%s' has an invalid "
                                "port (1-65535)", s);
            return APR_EINVAL;
        }
        srv->port = (apr_port_t)pv;
    }
    return APR_SUCCESS;
}

apr_status_t llmgw_store_spec_parse(apr_pool_t *p, const char *spec,
                                    llmgw_store_spec_t *out, const char **err)
{
    static const char mc_scheme[] = "memcached://";
    const char *c, *end;
    apr_status_t rv;

    *err = NULL;
    memset(out, 0, sizeof(*out));
    if (!spec || !*spec) {
        *err = "the store is empty: use shm[:SIZE] or "
               "memcached://HOST:PORT[,HOST:PORT...]";
        return APR_EINVAL;
    }
    if (!strcasecmp(spec, "shm")) {
        out->kind = LLMGW_STORE_KIND_SHM;
        out->shm_size = LLMGW_STORE_SHM_DEFAULT;
        return APR_SUCCESS;
    }
    if (!strncasecmp(spec, "shm:", 4)) {
        out->kind = LLMGW_STORE_KIND_SHM;
        return parse_size(p, spec + 4, &out->shm_size, err);
    }
    if (strncasecmp(spec, mc_scheme, sizeof(mc_scheme) - 1)) {
        *err = apr_psprintf(p, "unknown store '%s': use shm[:SIZE] or "
                            "memcached://HOST:PORT[,HOST:PORT...]", spec);
        return APR_EINVAL;
    }
    out->kind = LLMGW_STORE_KIND_MEMCACHED;
    c = spec + sizeof(mc_scheme) - 1;
    for (;;) {
        end = strchr(c, ',');
        if (!end)
            end = c + strlen(c);
        if (end == c) {
            *err = apr_psprintf(p, "store '%s' has an empty server", spec);
            return APR_EINVAL;
        }
        if (out->nservers == LLMGW_STORE_MAX_SERVERS) {
            *err = apr_psprintf(p, "store '%s' lists more than %d servers",
                                spec, LLMGW_STORE_MAX_SERVERS);
            return APR_EINVAL;
        }
        rv = parse_server(p, c, (apr_size_t)(end - c),
                          &out->servers[out->nservers], err);
        if (rv != APR_SUCCESS)
            return rv;
        out->nservers++;
        if (*end == '\0')
            break;
        c = end + 1;
    }
    return APR_SUCCESS;
}
