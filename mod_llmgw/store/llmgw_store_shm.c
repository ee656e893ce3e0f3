/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/**
 * llmgw_store_shm.c — the embedded shared-memory store.
 *
 * One anonymous segment, created before fork and shared by every child, and
 * one global mutex (process + thread) around every operation. Under the
 * mutex only memory work happens.
 *
 * Layout:  [header][slots: open addressing, power of two][arena: a ring]
 *
 * - A slot is {hash, position}; 0 hash = empty. Linear probing, with
 *   backward-shift deletion, so there are no tombstones. At most 3/4 of the
 *   slots are live.
 * - The arena is a log written as a ring. Each record holds a header
 *   {total, slot, vlen, klen, expires}, the key and the value. Positions are
 *   64-bit and only grow (physical offset = position % arena size), so a
 *   position names one record forever. Live records all lie in
 *   [tail, head). A record that no longer fits before the end of the arena
 *   starts at offset 0; the gap is skipped (a SKIP record, or nothing when
 *   the gap is smaller than a header).
 * - Writing a record first frees room by consuming the oldest record at the
 *   tail: if its slot still points at it, the entry is evicted. Overwritten
 *   and deleted records are simply skipped; nothing is ever compacted.
 *   The same happens when the slots are 3/4 full.
 * - Expired entries read as absent and are deleted when met.
 * - Under pressure, an entry that is read or incremented while in the oldest
 *   quarter of the ring is written again at the head, so hot entries (quota
 *   counters) survive a flood of cold ones: FIFO with a second chance.
 * - A counter is stored as decimal text (as memcached does) with room for
 *   20 digits, and incremented in place.
 */
#include <string.h>
#include <unistd.h>

#include <apr_lib.h>
#include <apr_shm.h>
#include <apr_global_mutex.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "llmgw_store_backends.h"

#define SHM_MAGIC    0x4c474d53u        /* "LGMS" */
#define SLOT_SKIP    0xffffffffu
#define INCR_CAP     20                 /* digits of UINT64_MAX */
#define MAX_ITEM_CAP ((apr_size_t)1024 * 1024)
#define ALIGN8(x)    (((x) + 7) & ~(apr_uint64_t)7)
#define ALIGN64(x)   (((x) + 63) & ~(apr_size_t)63)

typedef struct {
    apr_uint32_t hash;          /* 0: empty */
    apr_uint32_t unused;
    apr_uint64_t pos;           /* position of the record in the ring */
} slot_t;

typedef struct {
    apr_uint32_t total;         /* bytes of the record, header included */
    apr_uint32_t slot;          /* owning slot, or SLOT_SKIP for a gap */
    apr_uint32_t vlen;
    apr_uint16_t klen;
    apr_uint16_t unused;
    apr_int64_t expires;        /* apr_time_t, 0: never */
} rec_t;                        /* followed by key, then value */

typedef struct {
    apr_uint32_t magic;
    apr_uint32_t nslots;
    apr_uint32_t maxlive;
    apr_uint32_t nlive;
    apr_uint64_t arena_size;
    apr_uint64_t head;
    apr_uint64_t tail;
    apr_uint64_t max_item;
    apr_uint64_t evictions;     /* live entries evicted for room */
    apr_uint64_t resets;        /* inconsistencies found (never expected) */
} hdr_t;

struct llmgw_shm {
    apr_shm_t *shm;
    apr_global_mutex_t *mutex;
    const char *lockfile;
    apr_size_t size;
    hdr_t *hdr;
    slot_t *slots;
    char *arena;
};

/* ---- memory work, all under the mutex -------------------------------- */

static apr_uint32_t key_hash(const char *key, apr_size_t klen)
{
    apr_uint32_t h = 2166136261u;
    apr_size_t i;

    for (i = 0; i < klen; i++) {
        h ^= (unsigned char)key[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    return h ? h : 1;
}

static rec_t *rec_at(llmgw_shm_t *s, apr_uint64_t pos)
{
    return (rec_t *)(s->arena + pos % s->hdr->arena_size);
}

static char *rec_key(rec_t *r)
{
    return (char *)(r + 1);
}

static char *rec_val(rec_t *r)
{
    return (char *)(r + 1) + r->klen;
}

static apr_size_t rec_cap(const rec_t *r)
{
    return r->total - sizeof(rec_t) - r->klen;
}

static void store_reset(llmgw_shm_t *s)
{
    memset(s->slots, 0, sizeof(slot_t) * s->hdr->nslots);
    s->hdr->nlive = 0;
    s->hdr->head = s->hdr->tail = 0;
}

/* Returns 1 and the slot of key, or 0 and the empty slot where it goes. */
static int slot_find(llmgw_shm_t *s, const char *key, apr_size_t klen,
                     apr_uint32_t h, apr_uint32_t *idx)
{
    apr_uint32_t mask = s->hdr->nslots - 1;
    apr_uint32_t i = h & mask;
    rec_t *r;

    for (;;) {
        slot_t *sl = &s->slots[i];
        if (sl->hash == 0) {
            *idx = i;
            return 0;
        }
        if (sl->hash == h) {
            r = rec_at(s, sl->pos);
            if (r->klen == klen && !memcmp(rec_key(r), key, klen)) {
                *idx = i;
                return 1;
            }
        }
        i = (i + 1) & mask;     /* terminates: at most 3/4 of slots live */
    }
}

/* Backward-shift deletion: later entries of the probe run move up, and
 * their records learn their new slot. */
static void slot_remove(llmgw_shm_t *s, apr_uint32_t i)
{
    apr_uint32_t mask = s->hdr->nslots - 1;
    apr_uint32_t j = i, k;

    for (;;) {
        j = (j + 1) & mask;
        if (s->slots[j].hash == 0)
            break;
        k = s->slots[j].hash & mask;
        /* Move j to i unless its home k lies cyclically in (i, j]. */
        if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        s->slots[i] = s->slots[j];
        rec_at(s, s->slots[i].pos)->slot = i;
        i = j;
    }
    s->slots[i].hash = 0;
    s->slots[i].pos = 0;
    s->hdr->nlive--;
}

/* Consumes the oldest record; its entry goes if still live. */
static void evict_tail(llmgw_shm_t *s)
{
    hdr_t *hd = s->hdr;
    apr_uint64_t A = hd->arena_size;
    apr_uint64_t phys = hd->tail % A;
    rec_t *r;

    if (A - phys < sizeof(rec_t)) {
        hd->tail += A - phys;
        return;
    }
    r = (rec_t *)(s->arena + phys);
    if (r->total < sizeof(rec_t) || (r->total & 7) || r->total > A - phys
        || r->total > hd->head - hd->tail) {
        hd->resets++;
        store_reset(s);
        return;
    }
    if (r->slot != SLOT_SKIP && r->slot < hd->nslots
        && s->slots[r->slot].hash != 0 && s->slots[r->slot].pos == hd->tail) {
        slot_remove(s, r->slot);
        hd->evictions++;
    }
    hd->tail += r->total;
}

/* Reserves `need` bytes at the head (need <= arena/2), evicting the oldest
 * records as needed; also leaves one slot free for an insertion. */
static apr_uint64_t ring_alloc(llmgw_shm_t *s, apr_uint64_t need)
{
    hdr_t *hd = s->hdr;
    apr_uint64_t A = hd->arena_size;
    apr_uint64_t phys, pad, pos;

    for (;;) {
        phys = hd->head % A;
        pad = (A - phys < need) ? A - phys : 0;
        if (hd->head + pad + need - hd->tail <= A && hd->nlive < hd->maxlive)
            break;
        /* Terminates: once the ring is empty, nlive is 0 and
         * pad + need < A. */
        evict_tail(s);
    }
    if (pad) {
        if (pad >= sizeof(rec_t)) {
            rec_t *gap = (rec_t *)(s->arena + phys);
            memset(gap, 0, sizeof(*gap));
            gap->total = (apr_uint32_t)pad;
            gap->slot = SLOT_SKIP;
        }
        hd->head += pad;
    }
    pos = hd->head;
    hd->head += need;
    return pos;
}

/* Writes key = val as a new record (room for cap >= vlen bytes of value). */
static void entry_put(llmgw_shm_t *s, const char *key, apr_size_t klen,
                      apr_uint32_t h, const char *val, apr_size_t vlen,
                      apr_size_t cap, apr_int64_t expires)
{
    apr_uint64_t need = ALIGN8(sizeof(rec_t) + klen + cap);
    apr_uint64_t pos = ring_alloc(s, need);
    apr_uint32_t i;
    rec_t *r;

    /* After ring_alloc: eviction may have moved or removed slots. */
    if (!slot_find(s, key, klen, h, &i)) {
        s->slots[i].hash = h;
        s->hdr->nlive++;
    }
    s->slots[i].pos = pos;
    r = rec_at(s, pos);
    r->total = (apr_uint32_t)need;
    r->slot = i;
    r->vlen = (apr_uint32_t)vlen;
    r->klen = (apr_uint16_t)klen;
    r->unused = 0;
    r->expires = expires;
    memcpy(rec_key(r), key, klen);
    if (vlen)
        memcpy(rec_val(r), val, vlen);
}

/* The live entry of key: deletes it and says absent when expired. */
static rec_t *entry_get(llmgw_shm_t *s, const char *key, apr_size_t klen,
                        apr_uint32_t h, apr_time_t now, apr_uint32_t *idx)
{
    rec_t *r;

    if (!slot_find(s, key, klen, h, idx))
        return NULL;
    r = rec_at(s, s->slots[*idx].pos);
    if (r->expires && now >= r->expires) {
        slot_remove(s, *idx);
        return NULL;
    }
    return r;
}

/* Whether an entry read now should be written again at the head: the
 * store is over half full (below that, no write can evict: an item is at
 * most 1/7 of the arena) and the entry is in the oldest quarter. */
static int entry_is_aging(llmgw_shm_t *s, apr_uint32_t idx)
{
    hdr_t *hd = s->hdr;
    apr_uint64_t used = hd->head - hd->tail;

    return (used > hd->arena_size / 2 || hd->nlive > hd->maxlive / 2)
           && s->slots[idx].pos - hd->tail < used / 4;
}

/* ---- the vtable ------------------------------------------------------ */

typedef struct {
    const char *key;
    apr_size_t klen;
    apr_uint32_t hash;
    char digest[LLMGW_STORE_DIGEST_BUF];
} shm_key_t;

static int key_prepare(const char *key, shm_key_t *k)
{
    if (!key || !*key)
        return 0;
    k->key = key;
    k->klen = strlen(key);
    if (k->klen > LLMGW_STORE_KEY_MAX)
        k->key = llmgw_store_key_digest(key, k->klen, k->digest, &k->klen);
    k->hash = key_hash(k->key, k->klen);
    return 1;
}

static apr_int64_t expires_at(apr_uint32_t ttl)
{
    return ttl ? apr_time_now() + apr_time_from_sec((apr_time_t)ttl) : 0;
}

static llmgw_store_status_e shm_get(llmgw_store_t *st, apr_pool_t *p,
                                    const char *key, char **val,
                                    apr_size_t *len)
{
    llmgw_shm_t *s = st->impl;
    shm_key_t k;
    apr_uint32_t idx;
    apr_int64_t expires;
    rec_t *r;
    char *v;

    *val = NULL;
    *len = 0;
    if (!key_prepare(key, &k))
        return LLMGW_STORE_ERROR;
    if (apr_global_mutex_lock(s->mutex) != APR_SUCCESS)
        return LLMGW_STORE_ERROR;
    r = entry_get(s, k.key, k.klen, k.hash, apr_time_now(), &idx);
    if (!r) {
        apr_global_mutex_unlock(s->mutex);
        return LLMGW_STORE_NOTFOUND;
    }
    v = apr_palloc(p, r->vlen + 1);
    memcpy(v, rec_val(r), r->vlen);
    v[r->vlen] = '\0';
    *len = r->vlen;
    if (entry_is_aging(s, idx)) {
        expires = r->expires;
        entry_put(s, k.key, k.klen, k.hash, v, *len, *len, expires);
    }
    apr_global_mutex_unlock(s->mutex);
    *val = v;
    return LLMGW_STORE_OK;
}

static llmgw_store_status_e shm_store(llmgw_store_t *st, const char *key,
                                      const char *val, apr_size_t len,
                                      apr_uint32_t ttl, int only_add)
{
    llmgw_shm_t *s = st->impl;
    shm_key_t k;
    apr_uint32_t idx;
    apr_int64_t expires;

    if (!key_prepare(key, &k) || (len && !val))
        return LLMGW_STORE_ERROR;
    if (len > s->hdr->max_item)
        return LLMGW_STORE_TOOBIG;
    expires = expires_at(ttl);
    if (apr_global_mutex_lock(s->mutex) != APR_SUCCESS)
        return LLMGW_STORE_ERROR;
    if (only_add && entry_get(s, k.key, k.klen, k.hash, apr_time_now(), &idx)) {
        apr_global_mutex_unlock(s->mutex);
        return LLMGW_STORE_EXISTS;
    }
    entry_put(s, k.key, k.klen, k.hash, val, len, len, expires);
    apr_global_mutex_unlock(s->mutex);
    return LLMGW_STORE_OK;
}

static llmgw_store_status_e shm_set(llmgw_store_t *st, const char *key,
                                    const char *val, apr_size_t len,
                                    apr_uint32_t ttl)
{
    return shm_store(st, key, val, len, ttl, 0);
}

static llmgw_store_status_e shm_add(llmgw_store_t *st, const char *key,
                                    const char *val, apr_size_t len,
                                    apr_uint32_t ttl)
{
    return shm_store(st, key, val, len, ttl, 1);
}

static llmgw_store_status_e shm_del(llmgw_store_t *st, const char *key)
{
    llmgw_shm_t *s = st->impl;
    shm_key_t k;
    apr_uint32_t idx;
    llmgw_store_status_e rc = LLMGW_STORE_NOTFOUND;

    if (!key_prepare(key, &k))
        return LLMGW_STORE_ERROR;
    if (apr_global_mutex_lock(s->mutex) != APR_SUCCESS)
        return LLMGW_STORE_ERROR;
    if (entry_get(s, k.key, k.klen, k.hash, apr_time_now(), &idx)) {
        slot_remove(s, idx);
        rc = LLMGW_STORE_OK;
    }
    apr_global_mutex_unlock(s->mutex);
    return rc;
}

/* Decimal text of a counter, as memcached keeps it: 1 to 20 digits. */
static int parse_counter(const char *v, apr_size_t len, apr_uint64_t *out)
{
    apr_uint64_t n = 0, d;
    apr_size_t i;

    if (len == 0 || len > INCR_CAP)
        return 0;
    for (i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        d = (apr_uint64_t)(v[i] - '0');
        if (n > (APR_UINT64_MAX - d) / 10)
            return 0;
        n = n * 10 + d;
    }
    *out = n;
    return 1;
}

static apr_size_t format_counter(apr_uint64_t n, char buf[INCR_CAP + 1])
{
    char tmp[INCR_CAP];
    apr_size_t i = 0, len;

    do {
        tmp[i++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    for (len = 0; len < i; len++)
        buf[len] = tmp[i - 1 - len];
    buf[len] = '\0';
    return len;
}

static llmgw_store_status_e shm_incr(llmgw_store_t *st, const char *key,
                                     apr_uint64_t delta, apr_uint64_t initial,
                                     apr_uint32_t ttl, apr_uint64_t *result)
{
    llmgw_shm_t *s = st->impl;
    shm_key_t k;
    apr_uint32_t idx;
    apr_uint64_t n;
    apr_int64_t expires = expires_at(ttl);
    char buf[INCR_CAP + 1];
    apr_size_t blen;
    rec_t *r;

    if (!key_prepare(key, &k))
        return LLMGW_STORE_ERROR;
    if (apr_global_mutex_lock(s->mutex) != APR_SUCCESS)
        return LLMGW_STORE_ERROR;
    r = entry_get(s, k.key, k.klen, k.hash, apr_time_now(), &idx);
    if (!r) {
        n = initial;
        blen = format_counter(n, buf);
        entry_put(s, k.key, k.klen, k.hash, buf, blen, INCR_CAP, expires);
    }
    else if (!parse_counter(rec_val(r), r->vlen, &n)) {
        apr_global_mutex_unlock(s->mutex);
        return LLMGW_STORE_ERROR;       /* not a counter, as in memcached */
    }
    else {
        n += delta;                     /* wraps at 2^64, as memcached */
        blen = format_counter(n, buf);
        if (blen <= rec_cap(r) && !entry_is_aging(s, idx)) {
            memcpy(rec_val(r), buf, blen);
            r->vlen = (apr_uint32_t)blen;
        }
        else {
            expires = r->expires;       /* an increment keeps the expiry */
            entry_put(s, k.key, k.klen, k.hash, buf, blen, INCR_CAP, expires);
        }
    }
    apr_global_mutex_unlock(s->mutex);
    if (result)
        *result = n;
    return LLMGW_STORE_OK;
}

static llmgw_store_status_e shm_decr(llmgw_store_t *st, const char *key,
                                     apr_uint64_t delta, apr_uint64_t *result)
{
    llmgw_shm_t *s = st->impl;
    shm_key_t k;
    apr_uint32_t idx;
    apr_uint64_t n;
    char buf[INCR_CAP + 1];
    apr_size_t blen;
    rec_t *r;

    if (!key_prepare(key, &k))
        return LLMGW_STORE_ERROR;
    if (apr_global_mutex_lock(s->mutex) != APR_SUCCESS)
        return LLMGW_STORE_ERROR;
    r = entry_get(s, k.key, k.klen, k.hash, apr_time_now(), &idx);
    if (!r) {
        apr_global_mutex_unlock(s->mutex);
        return LLMGW_STORE_NOTFOUND;
    }
    if (!parse_counter(rec_val(r), r->vlen, &n)) {
        apr_global_mutex_unlock(s->mutex);
        return LLMGW_STORE_ERROR;       /* not a counter, as in memcached */
    }
    n = n > delta ? n - delta : 0;      /* floored at 0, as memcached */
    blen = format_counter(n, buf);      /* never longer than before */
    if (!entry_is_aging(s, idx)) {
        memcpy(rec_val(r), buf, blen);
        r->vlen = (apr_uint32_t)blen;
    }
    else {
        entry_put(s, k.key, k.klen, k.hash, buf, blen, INCR_CAP, r->expires);
    }
    apr_global_mutex_unlock(s->mutex);
    if (result)
        *result = n;
    return LLMGW_STORE_OK;
}

static llmgw_store_status_e shm_health(llmgw_store_t *st, apr_pool_t *p,
                                       const char **detail)
{
    llmgw_shm_t *s = st->impl;

    (void)p;
    if (apr_global_mutex_lock(s->mutex) != APR_SUCCESS) {
        *detail = "error: cannot lock the shared-memory store";
        return LLMGW_STORE_ERROR;
    }
    apr_global_mutex_unlock(s->mutex);
    *detail = "ok";
    return LLMGW_STORE_OK;
}

/* ---- lifecycle ------------------------------------------------------- */

apr_status_t llmgw_shm_create(apr_pool_t *pconf, apr_size_t size,
                              const char *lock_file_base, llmgw_shm_t **out)
{
    llmgw_shm_t *s;
    apr_size_t slots_off, arena_off;
    apr_uint32_t nslots = 1024;
    apr_status_t rv;
    char *base;

    *out = NULL;
    if (size < LLMGW_STORE_SHM_MIN)
        return APR_EINVAL;
    while ((apr_size_t)nslots * 2 <= size / 256 && nslots < (1u << 30))
        nslots *= 2;

    s = apr_pcalloc(pconf, sizeof(*s));
    s->size = size;
    rv = apr_shm_create(&s->shm, size, NULL, pconf);
    if (rv != APR_SUCCESS)
        return rv;
    if (lock_file_base)
        s->lockfile = apr_psprintf(pconf, "%s.%" APR_PID_T_FMT ".shm",
                                   lock_file_base, getpid());
    /* A POSIX semaphore: uncontended it never enters the kernel, unlike
     * the default robust priority-inheritance mutex, which cost a cache hit
     * a third of its speed. What it guards is memory work only. */
    rv = apr_global_mutex_create(&s->mutex, s->lockfile, APR_LOCK_POSIXSEM,
                                 pconf);
    if (rv != APR_SUCCESS) {
        apr_shm_destroy(s->shm);
        return rv;
    }

    base = apr_shm_baseaddr_get(s->shm);
    slots_off = ALIGN64(sizeof(hdr_t));
    arena_off = ALIGN64(slots_off + sizeof(slot_t) * nslots);
    s->hdr = (hdr_t *)base;
    s->slots = (slot_t *)(base + slots_off);
    s->arena = base + arena_off;
    memset(s->hdr, 0, sizeof(hdr_t));
    s->hdr->magic = SHM_MAGIC;
    s->hdr->nslots = nslots;
    s->hdr->maxlive = nslots / 4 * 3;
    s->hdr->arena_size = (size - arena_off) & ~(apr_uint64_t)7;
    s->hdr->max_item = size / 8 < MAX_ITEM_CAP ? size / 8 : MAX_ITEM_CAP;
    store_reset(s);
    *out = s;
    return APR_SUCCESS;
}

apr_status_t llmgw_shm_child_init(llmgw_shm_t *s, apr_pool_t *pchild)
{
    return apr_global_mutex_child_init(&s->mutex, s->lockfile, pchild);
}

apr_size_t llmgw_shm_max_item(const llmgw_shm_t *s)
{
    return (apr_size_t)s->hdr->max_item;
}

llmgw_store_t *llmgw_shm_store(apr_pool_t *p, llmgw_shm_t *s)
{
    llmgw_store_t *st = apr_pcalloc(p, sizeof(*st));

    st->kind = "shm";
    st->impl = s;
    st->get = shm_get;
    st->set = shm_set;
    st->add = shm_add;
    st->del = shm_del;
    st->incr = shm_incr;
    st->decr = shm_decr;
    st->health = shm_health;
    return st;
}

/* ---- the backend ----------------------------------------------------- */

/* Upper bound of a segment, to keep size arithmetic far from overflow. */
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

/* "shm" or "shm:SIZE" */
static apr_status_t shm_parse(apr_pool_t *p, const char *arg, const char *rest,
                              const void **conf, const char **err)
{
    llmgw_shm_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)arg;
    *conf = c;
    if (!rest) {
        c->size = LLMGW_STORE_SHM_DEFAULT;
        return APR_SUCCESS;
    }
    return parse_size(p, rest, &c->size, err);
}

/* The segment and its mutex, before fork. */
static apr_status_t shm_backend_create(apr_pool_t *pconf, const void *conf,
                                       const llmgw_store_hints_t *hints,
                                       void **shared)
{
    const llmgw_shm_conf_t *c = conf;
    llmgw_shm_t *s;
    apr_status_t rv;

    rv = llmgw_shm_create(pconf, c->size, hints->lock_file_base, &s);
    *shared = s;
    return rv;
}

/* Each child attaches the mutex. */
static apr_status_t shm_backend_child_init(apr_pool_t *pchild,
                                           const void *conf, void *shared,
                                           const llmgw_store_hints_t *hints,
                                           llmgw_store_t **store)
{
    apr_status_t rv;

    (void)conf; (void)hints;
    *store = NULL;
    if (!shared)
        return APR_EINIT;
    rv = llmgw_shm_child_init(shared, pchild);
    if (rv == APR_SUCCESS)
        *store = llmgw_shm_store(pchild, shared);
    return rv;
}

const llmgw_store_backend_t llmgw_store_shm_backend = {
    "shm",
    "shm[:SIZE]",
    shm_parse,
    shm_backend_create,
    shm_backend_child_init,
};
