/*
 * The Bloom filter (include/msgw/base/bloom.h).  An id's SHA-256 gives two independent 64-bit
 * hashes, and its K positions are h1 + i * h2 (Kirsch and Mitzenmacher: as good as K hashes);
 * K = 11 is the best count at 16 bits an id.  SHA-256 rather than a fast hash because senders
 * choose their ids: none can aim them at one region of the bits.
 */
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/bloom.h"

enum { K = 11, MIN_BITS_LOG2 = 20, MAX_BITS_LOG2 = 36 };

struct msgw_bloom {
    uint64_t *words;
    uint64_t mask; /* bits - 1 */
    uint64_t count;
};

msgw_bloom *msgw_bloom_new(uint64_t expected)
{
    unsigned log2 = MIN_BITS_LOG2;
    while (log2 < MAX_BITS_LOG2 && ((uint64_t)1 << log2) < expected * 16)
        log2++;
    msgw_bloom *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->mask = ((uint64_t)1 << log2) - 1;
    b->words = calloc(((uint64_t)1 << log2) / 64, sizeof *b->words);
    if (!b->words) abort();
    return b;
}

void msgw_bloom_destroy(msgw_bloom **bp)
{
    if (!bp || !*bp) return;
    free((*bp)->words);
    free(*bp);
    *bp = NULL;
}

static void hashes_of(const unsigned char *digest, uint64_t *h1, uint64_t *h2)
{
    memcpy(h1, digest, 8);
    memcpy(h2, digest + 8, 8);
    *h2 |= 1; /* odd: the K positions are distinct modulo a power of two */
}

static void hashes(const char *id, uint64_t *h1, uint64_t *h2)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)id, strlen(id), h);
    hashes_of(h, h1, h2);
}

static void set_bits(msgw_bloom *b, uint64_t h1, uint64_t h2)
{
    for (uint64_t i = 0; i < K; i++) {
        uint64_t bit = (h1 + i * h2) & b->mask;
        b->words[bit >> 6] |= (uint64_t)1 << (bit & 63);
    }
    b->count++;
}

void msgw_bloom_add(msgw_bloom *b, const char *id)
{
    uint64_t h1, h2;
    hashes(id, &h1, &h2);
    set_bits(b, h1, h2);
}

void msgw_bloom_add_digest(msgw_bloom *b, const unsigned char digest[16])
{
    uint64_t h1, h2;
    hashes_of(digest, &h1, &h2);
    set_bits(b, h1, h2);
}

bool msgw_bloom_maybe(const msgw_bloom *b, const char *id)
{
    uint64_t h1, h2;
    hashes(id, &h1, &h2);
    for (uint64_t i = 0; i < K; i++) {
        uint64_t bit = (h1 + i * h2) & b->mask;
        if (!(b->words[bit >> 6] & ((uint64_t)1 << (bit & 63)))) return false;
    }
    return true;
}

uint64_t msgw_bloom_count(const msgw_bloom *b)
{
    return b->count;
}

size_t msgw_bloom_bytes(const msgw_bloom *b)
{
    return (size_t)((b->mask + 1) / 8);
}
