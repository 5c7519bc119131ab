/*
 * Delivery from the outbox: a thread with its own store connection takes
 * the messages that are due (one per person at a time, in order) and posts
 * them to their recipients' webhooks over HTTPS with mutual TLS (libcurl
 * multi: all recipients at once, delivery.webhook_parallel posts to each
 * side by side, each on a kept-alive connection).  A 2xx marks a message delivered;
 * anything else is retried with exponential back-off and jitter, and after
 * the configured number of attempts or age it is dead-lettered, kept with
 * its last error.  Each request carries the event id for de-duplication.
 * The outcomes of a pass are settled in one store transaction, and each is
 * published on the monitoring feed ("delivery") when there is one.
 */
#ifndef MSGW_DELIVER_H
#define MSGW_DELIVER_H

#include "msgw/store/audit.h"
#include "msgw/net/config.h"
#include "msgw/base/error.h"
#include "msgw/pipeline/feed.h"
#include "msgw/base/metrics.h"

typedef struct msgw_deliverer msgw_deliverer;

/* Starts the delivery thread on its own connection to the store at store_spec; feed may be NULL.
 * The feed must outlive the deliverer.  wake_fd (a doorbell listener's, -1: none) wakes the idle
 * thread when new messages are committed.  Each outcome is appended to audit (may be NULL) and
 * counted in metrics (may be NULL; docs/metrics.md). */
msgw_deliverer *msgw_deliverer_new(const msgw_config *cfg, const char *store_spec, msgw_feed *feed,
                                   msgw_audit *audit, msgw_metrics *metrics, int wake_fd, msgw_errors *e);
/* Stops the thread after the attempt in progress and joins it. */
void msgw_deliverer_destroy(msgw_deliverer **d);

#endif
