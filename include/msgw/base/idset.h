/*
 * A set of strings kept as 128-bit digests (SHA-256, truncated), open addressing: 16 bytes an
 * entry whatever the string's length.  For the engine's applied message ids, one per record ever
 * applied, where a copy of each id was most of the memory a record cost.  A digest's collision is
 * as likely as SHA-256's on 128 bits: never, in practice, even for ids a sender chose to collide.
 */
#ifndef MSGW_IDSET_H
#define MSGW_IDSET_H

#include <stdbool.h>
#include <stddef.h>

typedef struct msgw_idset msgw_idset;

msgw_idset *msgw_idset_new(void);
void msgw_idset_destroy(msgw_idset **s);
/* True when it was not there (and is now). */
bool msgw_idset_add(msgw_idset *s, const char *id);
bool msgw_idset_has(const msgw_idset *s, const char *id);
void msgw_idset_del(msgw_idset *s, const char *id);
size_t msgw_idset_count(const msgw_idset *s);
/* Calls cb with each digest held (the first 16 bytes of the id's SHA-256), in no order. */
void msgw_idset_each(const msgw_idset *s, void (*cb)(void *ud, const unsigned char digest[16]), void *ud);
/* Bytes it holds (its table). */
size_t msgw_idset_bytes(const msgw_idset *s);

#endif
