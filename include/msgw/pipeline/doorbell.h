/*
 * A doorbell: how the commit worker tells the delivery threads that new
 * outbox messages are waiting, so a notice leaves as soon as its record is
 * committed instead of at the deliverers' next look at the store.  One
 * eventfd per listener (a ring wakes every one of them); a listener polls
 * its descriptor (poll, zmq_poll) and clears it.  Ringing never blocks.
 */
#ifndef MSGW_DOORBELL_H
#define MSGW_DOORBELL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct msgw_doorbell msgw_doorbell;

/* NULL when the descriptors cannot be made (the deliverers then only poll the store). */
msgw_doorbell *msgw_doorbell_new(size_t listeners);
void msgw_doorbell_destroy(msgw_doorbell **b);
/* Wakes every listener; any thread.  b may be NULL. */
void msgw_doorbell_ring(msgw_doorbell *b);
/* Listener i's descriptor, readable once rung; -1 when b is NULL. */
int msgw_doorbell_fd(const msgw_doorbell *b, size_t listener);
/* Waits at most timeout_ms for a ring on fd (a doorbell_fd; -1: just sleeps), and clears it.
 * True when it was rung. */
bool msgw_doorbell_wait(int fd, int timeout_ms);
/* Clears fd after a poll said it is readable. */
void msgw_doorbell_clear(int fd);

#endif
