/*
 * What the delivery driver reports about each message's fate, whatever its
 * transport (msgw/deliver/driver.h), in one place: the delivery counters and the push-to-delivery
 * latency (metrics), the "delivery" event on the monitoring feed, and the
 * audit entry.  One event is built per outcome and shared by the feed and
 * the audit log; a mere send ("sent", awaiting its acknowledgement) goes to
 * the feed only.
 */
#ifndef MSGW_DELIVERY_REPORT_H
#define MSGW_DELIVERY_REPORT_H

#include "msgw/store/audit.h"
#include "msgw/pipeline/feed.h"
#include "msgw/base/metrics.h"
#include "msgw/store/store.h"

typedef struct msgw_delivery_report {
    msgw_audit *audit;    /* may be NULL */
    msgw_feed_pub *pub;   /* the delivery thread's own publisher, may be NULL */
    msgw_metric *deliveries, *latency; /* NULL: no metrics */
} msgw_delivery_report;

/* Registers the delivery metrics in metrics (NULL: none); pub is set by the thread itself. */
void msgw_delivery_report_init(msgw_delivery_report *r, msgw_audit *audit, msgw_metrics *metrics);
/* Reports message m's outcome ("delivered", "retry", "dead", or "sent") on transport at now. */
void msgw_delivery_report_outcome(const msgw_delivery_report *r, const msgw_delivery *m, const char *transport,
                                  const char *outcome, int attempts, const char *error, msgw_time now);

#endif
