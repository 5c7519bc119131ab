/*
 * The digest set (include/msgw/base/idset.h): linear probing over 16-byte digests, grown at 3/4
 * load; a deletion shifts the entries after it back so every entry stays reachable.  An all-zero
 * digest marks an empty slot (a real digest is zero with probability 2^-128).
 */
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/idset.h"

typedef struct digest {
    uint64_t a, b;
} digest;

struct msgw_idset {
    digest *v;
    size_t cap, n; /* cap: a power of two */
};

static digest digest_of(const char *id)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)id, strlen(id), h);
    digest d;
    memcpy(&d.a, h, 8);
    memcpy(&d.b, h + 8, 8);
    return d;
}

static bool empty(digest d)
{
    return !d.a && !d.b;
}

static bool same(digest x, digest y)
{
    return x.a == y.a && x.b == y.b;
}

msgw_idset *msgw_idset_new(void)
{
    msgw_idset *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->cap = 64;
    s->v = calloc(s->cap, sizeof *s->v);
    if (!s->v) abort();
    return s;
}

void msgw_idset_destroy(msgw_idset **sp)
{
    if (!sp || !*sp) return;
    free((*sp)->v);
    free(*sp);
    *sp = NULL;
}

/* The slot of d: where it is, or the empty one where it would go. */
static size_t slot_of(const digest *v, size_t cap, digest d)
{
    size_t i = (size_t)d.a & (cap - 1);
    while (!empty(v[i]) && !same(v[i], d))
        i = (i + 1) & (cap - 1);
    return i;
}

static void grow(msgw_idset *s)
{
    size_t cap = s->cap * 2;
    digest *v = calloc(cap, sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < s->cap; i++)
        if (!empty(s->v[i])) v[slot_of(v, cap, s->v[i])] = s->v[i];
    free(s->v);
    s->v = v;
    s->cap = cap;
}

bool msgw_idset_add(msgw_idset *s, const char *id)
{
    if ((s->n + 1) * 4 > s->cap * 3) grow(s);
    digest d = digest_of(id);
    size_t i = slot_of(s->v, s->cap, d);
    if (!empty(s->v[i])) return false;
    s->v[i] = d;
    s->n++;
    return true;
}

bool msgw_idset_has(const msgw_idset *s, const char *id)
{
    return !empty(s->v[slot_of(s->v, s->cap, digest_of(id))]);
}

void msgw_idset_del(msgw_idset *s, const char *id)
{
    size_t hole = slot_of(s->v, s->cap, digest_of(id));
    if (empty(s->v[hole])) return;
    s->v[hole] = (digest){0, 0};
    s->n--;
    for (size_t i = (hole + 1) & (s->cap - 1); !empty(s->v[i]); i = (i + 1) & (s->cap - 1)) {
        size_t home = (size_t)s->v[i].a & (s->cap - 1);
        /* the entry at i may fill the hole unless its home is cyclically within (hole, i] */
        bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays) continue;
        s->v[hole] = s->v[i];
        s->v[i] = (digest){0, 0};
        hole = i;
    }
}

size_t msgw_idset_count(const msgw_idset *s)
{
    return s->n;
}

size_t msgw_idset_bytes(const msgw_idset *s)
{
    return s->cap * sizeof *s->v;
}

void msgw_idset_each(const msgw_idset *s, void (*cb)(void *ud, const unsigned char digest[16]), void *ud)
{
    for (size_t i = 0; i < s->cap; i++) {
        if (empty(s->v[i])) continue;
        unsigned char d[16];
        memcpy(d, &s->v[i].a, 8);
        memcpy(d + 8, &s->v[i].b, 8);
        cb(ud, d);
    }
}
