/*
 * Delivery over ZeroMQ (docs/zmq.md): the gateway binds one ROUTER socket
 * at zmq.deliver_listen, a CURVE server authenticated by the hub (ZAP
 * domain "deliver"), and each department configured with
 * "deliver": {"zmq": {}} connects a DEALER with its own CURVE key, which
 * names it (User-Id).  The consumer says ["READY"] on every (re)connection;
 * the gateway sends ["EVENT", event_id, kind, media_type, cause, body] and
 * the consumer answers ["ACK", event_id, ...].  At most zmq.deliver_window
 * messages per department are unacknowledged; one not acknowledged within
 * delivery.ack_timeout_ms is sent again (an attempt counted) and
 * dead-lettered after delivery.max_attempts or max_age_s, like a webhook.
 * On READY, whatever was in flight to that department is sent again at
 * once.  One person's messages go one at a time, in order.
 *
 * A thread with its own store connection (MSGW_STORE_DELIVERY) and
 * its own socket does it all: zmq_poll interleaves acknowledgements with
 * one store query for every connected department; each pass's outcomes are
 * settled in one transaction, and published on the feed ("delivery").
 */
#ifndef MSGW_ZMQ_DELIVER_H
#define MSGW_ZMQ_DELIVER_H

#include "msgw/store/audit.h"
#include "msgw/net/config.h"
#include "msgw/base/error.h"
#include "msgw/pipeline/feed.h"
#include "msgw/base/metrics.h"
#include "msgw/net/zmq_hub.h"

typedef struct msgw_zmq_deliverer msgw_zmq_deliverer;

/* Binds cfg->zmq_deliver_listen and starts the delivery thread on its own connection to the store
 * at store_spec; feed may be NULL.  hub, cfg and feed must outlive it.  wake_fd (a doorbell
 * listener's, -1: none) makes it look at the store at once when new messages are committed.
 * Delivery outcomes are appended to audit (may be NULL) and counted in metrics (may be NULL). */
msgw_zmq_deliverer *msgw_zmq_deliverer_new(msgw_zmq_hub *hub, const msgw_config *cfg,
                                           const char *store_spec, msgw_feed *feed, msgw_audit *audit,
                                           msgw_metrics *metrics, int wake_fd, msgw_errors *e);
/* New configuration (SIGHUP): the thread is stopped, switched over and started again; the socket,
 * the consumers' connections and the messages in flight stay.  The old cfg may be freed after. */
void msgw_zmq_deliverer_reconfigure(msgw_zmq_deliverer *z, const msgw_config *cfg);
/* Stops the thread (what it decided is settled first), closes the socket and the store. */
void msgw_zmq_deliverer_destroy(msgw_zmq_deliverer **z);
/* The endpoint actually bound (a wildcard port resolved), owned by z. */
const char *msgw_zmq_deliverer_endpoint(const msgw_zmq_deliverer *z);

#endif
