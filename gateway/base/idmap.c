/* String -> int index with linear probing; grows at 50% load so probes stay short. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/idmap.h"

struct msgw_idmap {
    char **keys;
    long *vals;
    size_t cap, n;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ^ (h >> 29);
}

msgw_idmap *msgw_idmap_new(void)
{
    msgw_idmap *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->cap = 64;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->vals = calloc(m->cap, sizeof *m->vals);
    if (!m->keys || !m->vals) abort();
    return m;
}

void msgw_idmap_destroy(msgw_idmap **mp)
{
    if (!mp || !*mp) return;
    for (size_t i = 0; i < (*mp)->cap; i++) free((*mp)->keys[i]);
    free((*mp)->keys);
    free((*mp)->vals);
    free(*mp);
    *mp = NULL;
}

static size_t slot_of(char *const *keys, size_t cap, const char *key)
{
    size_t i = hash(key) & (cap - 1);
    while (keys[i] && strcmp(keys[i], key) != 0) i = (i + 1) & (cap - 1);
    return i;
}

long msgw_idmap_get(const msgw_idmap *m, const char *key)
{
    size_t i = slot_of(m->keys, m->cap, key);
    return m->keys[i] ? m->vals[i] : -1;
}

static void grow(msgw_idmap *m)
{
    size_t ncap = m->cap * 2;
    char **keys = calloc(ncap, sizeof *keys);
    long *vals = calloc(ncap, sizeof *vals);
    if (!keys || !vals) abort();
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t j = slot_of(keys, ncap, m->keys[i]);
            keys[j] = m->keys[i];
            vals[j] = m->vals[i];
        }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = ncap;
}

void msgw_idmap_put(msgw_idmap *m, const char *key, long value)
{
    if ((m->n + 1) * 2 > m->cap) grow(m);
    size_t i = slot_of(m->keys, m->cap, key);
    if (!m->keys[i]) {
        m->keys[i] = strdup(key);
        if (!m->keys[i]) abort();
        m->n++;
    }
    m->vals[i] = value;
}

/* Linear probing without tombstones: the keys after the hole that would no longer be found from
 * their home slot move back into it (Knuth's algorithm R). */
void msgw_idmap_del(msgw_idmap *m, const char *key)
{
    size_t mask = m->cap - 1, i = slot_of(m->keys, m->cap, key);
    if (!m->keys[i]) return;
    free(m->keys[i]);
    m->keys[i] = NULL;
    m->n--;
    for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t home = hash(m->keys[j]) & mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        m->keys[j] = NULL;
        i = j;
    }
}

size_t msgw_idmap_count(const msgw_idmap *m)
{
    return m->n;
}
