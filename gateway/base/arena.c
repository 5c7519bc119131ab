/*
 * Bump allocator for everything decoded from one document.  Chunks are
 * chained; a request larger than the chunk size gets a chunk of its own so
 * big strings never waste a whole standard chunk.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/arena.h"

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} chunk;

struct msgw_arena {
    chunk *head;
    size_t chunk_size;
    size_t total;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fputs("msgw: out of memory\n", stderr);
        abort();
    }
    return p;
}

msgw_arena *msgw_arena_new(size_t chunk_size)
{
    msgw_arena *a = xmalloc(sizeof *a);
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 16384;
    a->total = 0;
    return a;
}

void msgw_arena_destroy(msgw_arena **ap)
{
    if (!ap || !*ap) return;
    chunk *c = (*ap)->head;
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(*ap);
    *ap = NULL;
}

static chunk *chunk_new(size_t size)
{
    chunk *c = xmalloc(sizeof *c + size);
    c->size = size;
    c->used = 0;
    c->next = NULL;
    return c;
}

void *msgw_arena_alloc(msgw_arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        if (size > a->chunk_size / 4) {
            /* Oversized: a private chunk behind the current head keeps the head's free space. */
            chunk *big = chunk_new(size);
            big->used = size;
            if (c) {
                big->next = c->next;
                c->next = big;
            } else {
                a->head = big;
            }
            a->total += size;
            memset(big->data, 0, size);
            return big->data;
        }
        /* Chunks grow with the arena (to 1 MiB): a big document costs few mallocs, and
         * freeing it does not fragment the heap into thousands of 16 KiB pieces. */
        if (a->total > a->chunk_size * 4 && a->chunk_size < (1u << 20)) a->chunk_size *= 2;
        c = chunk_new(a->chunk_size);
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    a->total += size;
    memset(p, 0, size);
    return p;
}

char *msgw_arena_strndup(msgw_arena *a, const char *s, size_t len)
{
    char *p = msgw_arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *msgw_arena_strdup(msgw_arena *a, const char *s)
{
    return s ? msgw_arena_strndup(a, s, strlen(s)) : NULL;
}

char *msgw_arena_printf(msgw_arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    char probe[1];
    int n = vsnprintf(probe, sizeof probe, fmt, ap);
    va_end(ap);
    char *p = msgw_arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void *msgw_arena_grow(msgw_arena *a, void *arr, size_t elem_size, size_t *cap, size_t need)
{
    if (need <= *cap) return arr;
    size_t ncap = *cap ? *cap * 2 : 4;
    while (ncap < need) ncap *= 2;
    void *n = msgw_arena_alloc(a, ncap * elem_size);
    if (arr && *cap) memcpy(n, arr, *cap * elem_size);
    *cap = ncap;
    return n;
}

size_t msgw_arena_used(const msgw_arena *a)
{
    return a->total;
}
