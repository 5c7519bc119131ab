/*
 * A doorbell: how the commit worker (and an administrator's replay) tells
 * the delivery threads that new outbox messages are waiting, so a notice
 * leaves as soon as its record is committed instead of at the deliverers'
 * next look at the store.  One eventfd per deliverer, by index: however many
 * transports run, a ring wakes every one of them, and none is named here.
 * A deliverer polls its descriptor and clears it.  Ringing never blocks.
 */
#ifndef MSGW_DOORBELL_H
#define MSGW_DOORBELL_H

#include <stddef.h>

typedef struct msgw_doorbell msgw_doorbell;

/* count descriptors, one per deliverer; NULL when they cannot be made (the deliverers then only
 * look at the store every idle interval). */
msgw_doorbell *msgw_doorbell_new(size_t count);
void msgw_doorbell_destroy(msgw_doorbell **b);
/* Wakes every deliverer; any thread.  b may be NULL. */
void msgw_doorbell_ring(msgw_doorbell *b);
/* Deliverer i's descriptor, readable once rung; -1 when b is NULL or i is not below its count. */
int msgw_doorbell_fd(const msgw_doorbell *b, size_t i);
/* Clears fd (a msgw_doorbell_fd) after a poll said it is readable. */
void msgw_doorbell_clear(int fd);

#endif
