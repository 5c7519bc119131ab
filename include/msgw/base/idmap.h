/*
 * A string -> int index (open addressing).  Keys are copied; used for the
 * engine's person, household and message-id indexes, which grow to millions.
 */
#ifndef MSGW_IDMAP_H
#define MSGW_IDMAP_H

#include <stddef.h>

typedef struct msgw_idmap msgw_idmap;

msgw_idmap *msgw_idmap_new(void);
void msgw_idmap_destroy(msgw_idmap **m);
/* Returns the value for key, or -1. */
long msgw_idmap_get(const msgw_idmap *m, const char *key);
/* Sets key to value (value >= 0). */
void msgw_idmap_put(msgw_idmap *m, const char *key, long value);
/* Removes key (nothing when absent). */
void msgw_idmap_del(msgw_idmap *m, const char *key);
size_t msgw_idmap_count(const msgw_idmap *m);

#endif
