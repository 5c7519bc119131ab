/*
 * A Bloom filter of strings: a fixed number of bits, whatever how many are added.  "Not there" is
 * certain; "maybe" is wrong with a probability that grows with the count (about 0.05 % at 16 bits
 * an id, 1 % at 10, 10 % at 5).  The engine tells replays by one: an id it says is not there is
 * new without asking the store, one it says may be there is looked up (docs/eligibility.md,
 * "Replays").  Nothing is ever removed: a removed id would be a false "maybe", which only costs a
 * lookup.
 */
#ifndef MSGW_BLOOM_H
#define MSGW_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct msgw_bloom msgw_bloom;

/* Room for about `expected` ids at 16 bits each (a power of two, at least 2^20 bits). */
msgw_bloom *msgw_bloom_new(uint64_t expected);
void msgw_bloom_destroy(msgw_bloom **b);
void msgw_bloom_add(msgw_bloom *b, const char *id);
/* Adds the id whose digest (the first 16 bytes of its SHA-256, as msgw_idset keeps) this is. */
void msgw_bloom_add_digest(msgw_bloom *b, const unsigned char digest[16]);
/* False: id was never added.  True: it may have been. */
bool msgw_bloom_maybe(const msgw_bloom *b, const char *id);
/* Ids added so far (counted with repeats), and the bytes of its bits. */
uint64_t msgw_bloom_count(const msgw_bloom *b);
size_t msgw_bloom_bytes(const msgw_bloom *b);

#endif
