/*
 * Delivery outcomes reported to metrics, the feed and the audit log
 * (include/msgw/deliver/delivery_report.h).
 */
#include <string.h>

#include "msgw/deliver/delivery_report.h"
#include "msgw/pipeline/peer.h"

void msgw_delivery_report_init(msgw_delivery_report *r, msgw_audit *audit, msgw_metrics *metrics)
{
    r->audit = audit;
    r->pub = NULL;
    r->deliveries = msgw_metrics_counter(metrics, "msgw_deliveries_total",
                                         "Delivery attempts, by recipient, transport and outcome "
                                         "(delivered, retry, dead).",
                                         "recipient", "transport", "outcome", NULL);
    r->latency = msgw_metrics_histogram(metrics, "msgw_push_to_delivery_seconds",
                                        "Seconds from an outbox message's creation to its delivery.",
                                        msgw_metrics_latency_buckets, msgw_metrics_latency_nbuckets, "recipient",
                                        NULL);
}

void msgw_delivery_report_outcome(const msgw_delivery_report *r, const msgw_delivery *m, const char *transport,
                                  const char *outcome, int attempts, const char *error, msgw_time now)
{
    bool settled = strcmp(outcome, "sent") != 0; /* an outcome, not a send awaiting its ack */
    if (settled) msgw_metrics_inc(r->deliveries, 1, m->recipient, transport, outcome);
    if (strcmp(outcome, "delivered") == 0)
        msgw_metrics_observe(r->latency, (double)(now - m->created_at) / 1e6, m->recipient);
    bool audited = r->audit && settled;
    if (!r->pub && !audited) return;
    json_t *event = msgw_feed_delivery_event(m, transport, outcome, attempts, error);
    if (r->pub) msgw_feed_publish(r->pub, "delivery", audited ? json_incref(event) : event);
    if (audited) {
        msgw_errors e;
        msgw_errors_init(&e);
        msgw_audit_append(r->audit, "delivery", event, &e);
        msgw_envelope hdr; /* an envelope a peer now holds: the sender's evidence (docs/federation.md) */
        if (strcmp(outcome, "delivered") == 0 && m->media_type && strcmp(m->media_type, MSGW_ENVELOPE_MEDIA_TYPE) == 0 &&
            msgw_envelope_read(m->body, m->len, &hdr))
            msgw_audit_append(r->audit, "peer", msgw_envelope_audit(&hdr, "sent", m->recipient, NULL), &e);
        msgw_errors_clear(&e);
    }
}
