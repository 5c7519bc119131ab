/*
 * The monitoring feed (docs/zmq.md): live events of the gateway on a
 * ZeroMQ XPUB socket, for dashboards and operators.  Lossy by design: a
 * slow subscriber's messages are dropped, nothing is queued for it or
 * retried, and publishing never blocks the thread that publishes.  The
 * durable truth is the store; the feed only shows what happens.
 *
 * Each message is two frames, [topic, JSON]: "record" (a record was
 * stored), "transition" (an eligibility verdict changed), "delivery" (an
 * outbox message was delivered, will be retried, or was dead-lettered).
 * Events carry no personal data beyond ID numbers masked as first 6 + last 4
 * characters, and never a record's body.
 *
 * Producing threads each own a msgw_feed_pub: a PUB connected over inproc
 * to an XSUB, which a proxy thread forwards to the XPUB bound at
 * zmq.feed_listen.  The XPUB is a CURVE server authenticated by the hub
 * (ZAP domain "feed").  Subscriptions travel upstream to the PUBs, so with
 * no subscriber nothing is sent at all.
 */
#ifndef MSGW_FEED_H
#define MSGW_FEED_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "msgw/engine/eligibility.h"
#include "msgw/base/error.h"
#include "msgw/model/model.h"
#include "msgw/store/store.h"
#include "msgw/net/zmq_hub.h"

/* XSUB on inproc://msgw-feed-N <-> XPUB bound at endpoint, in a proxy thread. */
typedef struct msgw_feed msgw_feed;

/* endpoint NULL: in process only (the admin dashboard's SUB), nothing bound outside. */
msgw_feed *msgw_feed_new(msgw_zmq_hub *hub, const char *endpoint, msgw_errors *e);
/* Stops the proxy and closes its sockets; every msgw_feed_pub must be destroyed first. */
void msgw_feed_destroy(msgw_feed **f);
/* The endpoint actually bound (a wildcard port resolved), owned by f; NULL when none. */
const char *msgw_feed_endpoint(const msgw_feed *f);
/* The in-process endpoint the XPUB also binds, for a SUB made from the hub's context in this
 * process (the admin listener's live events); no CURVE there. */
const char *msgw_feed_local_endpoint(const msgw_feed *f);

/* One per producing thread (ZeroMQ sockets are not thread-safe): a PUB connected to the feed.
 * Create, use and destroy it in that thread. */
typedef struct msgw_feed_pub msgw_feed_pub;

msgw_feed_pub *msgw_feed_pub_new(msgw_feed *f); /* f NULL -> returns NULL */
void msgw_feed_pub_destroy(msgw_feed_pub **p);
/* Publishes [topic, event as compact JSON]; steals event.  p NULL: just decref.  Never blocks. */
void msgw_feed_publish(msgw_feed_pub *p, const char *topic, json_t *event);

/*
 * The events, built so that nothing personal slips in: ID numbers masked,
 * no bodies.  Each has "time" (now, ISO 8601).  Build them only when there
 * is a pub to publish on.
 */
/* "record": message_id, kind, sender, seq, duplicate, persons (masked), facts (count). */
json_t *msgw_feed_record_event(const msgw_record *r, const char *sender, int64_t seq,
                               bool duplicate);
/* "transition": kind (new, lost, changed), service, person (masked), eligible before/after, cause.
 */
json_t *msgw_feed_transition_event(const msgw_transition *t, const char *cause);
/* "delivery": event_id, recipient, kind, person (masked), cause, outcome ("delivered", "retry",
 * "dead"), attempts (counted so far, this one included), transport ("webhook", "zmq"), error. */
json_t *msgw_feed_delivery_event(const msgw_delivery *d, const char *transport, const char *outcome,
                                 int attempts, const char *error);

#endif
