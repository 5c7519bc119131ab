/*
 * A bump allocator.  Everything decoded from one document (records, strings,
 * facts) lives in one arena and is freed together, so decoders cannot leak
 * half-built records on error paths and ownership is one pointer.
 */
#ifndef MSGW_ARENA_H
#define MSGW_ARENA_H

#include <stddef.h>

typedef struct msgw_arena msgw_arena;

msgw_arena *msgw_arena_new(size_t chunk_size); /* 0 = default (16 KiB) */
void msgw_arena_destroy(msgw_arena **a);
/* Zeroed, 16-byte aligned memory; aborts on out-of-memory like every allocation here. */
void *msgw_arena_alloc(msgw_arena *a, size_t size);
char *msgw_arena_strndup(msgw_arena *a, const char *s, size_t len);
char *msgw_arena_strdup(msgw_arena *a, const char *s);
char *msgw_arena_printf(msgw_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), nonnull(2)));
/* Grows an array of elem_size items from *cap to at least need; returns the (possibly moved) array. */
void *msgw_arena_grow(msgw_arena *a, void *arr, size_t elem_size, size_t *cap, size_t need);
size_t msgw_arena_used(const msgw_arena *a);

#endif
