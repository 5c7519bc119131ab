/*
 * A delivery transport: one way outbox messages leave the gateway (webhooks, ZeroMQ consumers, and
 * through webhooks the peer gateways), behind one small table of operations, like an nginx module.
 * The transports are registered in one table, gateway/deliver/transports.c; adding one is its own
 * file in gateway/deliver/ and one line there.
 *
 * A transport only moves messages and says what became of each.  Everything the transports share is
 * the driver's (msgw/deliver/driver.h): its own thread and store connection, waiting on the
 * doorbell and on the transport's descriptor, claiming the due messages of the departments the
 * transport serves (one person's in order, as much as each recipient has room for), settling every
 * outcome of a pass in one store transaction, the retry policy (back-off, max attempts, max age),
 * and the report of each outcome to the metrics, the monitoring feed and the audit log.
 *
 * room, deliver, acknowledged and descriptor run on the driver's thread; open, reconfigure and
 * close on the daemon's while that thread is not running (before it starts, halted, stopped);
 * endpoint and stats on any thread.
 */
#ifndef MSGW_TRANSPORT_H
#define MSGW_TRANSPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "msgw/base/date.h"
#include "msgw/base/error.h"
#include "msgw/base/metrics.h"
#include "msgw/net/config.h"
#include "msgw/net/zmq_hub.h"
#include "msgw/pipeline/feed.h"
#include "msgw/store/audit.h"
#include "msgw/store/store.h"

/* What the deliverers are given, all borrowed: a transport uses cfg and hub; the driver the rest.
 */
typedef struct msgw_transport_env {
    const msgw_config *cfg;
    msgw_zmq_hub *hub;         /* NULL unless a wanted part needs_hub */
    const char *store_address; /* each driver opens its own connection (MSGW_STORE_DELIVERY) */
    msgw_feed *feed;           /* may be NULL; must outlive the deliverers */
    msgw_audit *audit;         /* may be NULL */
    msgw_metrics *metrics;     /* may be NULL */
} msgw_transport_env;

/*
 * The outcomes of one pass of a driver, settled together in one transaction.  A transport says what
 * became of each message it was handed (or of each acknowledgement it read) with the functions
 * below; each is also reported (metrics, feed, audit) under the transport's name.
 */
typedef struct msgw_pass msgw_pass;

/* m was delivered (a 2xx, an acknowledgement).  attempt: the attempt was made now (a webhook's
 * post, counted now); false when its send was counted already (ZeroMQ: sent, then acknowledged). */
void msgw_pass_delivered(msgw_pass *p, const msgw_delivery *m, bool attempt);
/* An attempt made now failed with error: m is retried after the back-off (delivery.backoff_*), or
 * dead-lettered once it has had delivery.max_attempts attempts or is older than max_age_s. */
void msgw_pass_failed(msgw_pass *p, const msgw_delivery *m, const char *error);
/* Given up without an attempt now (ZeroMQ: its last attempt was never acknowledged): dead, with
 * error kept for an administrator. */
void msgw_pass_dead(msgw_pass *p, const msgw_delivery *m, const char *error);
/* Sent, awaiting its acknowledgement: the attempt is counted and m is not due again before ack_by
 * (then it is sent again).  A message sent before (m->attempts > 0) is reported as a retry, why. */
void msgw_pass_sent(msgw_pass *p, const msgw_delivery *m, msgw_time ack_by, const char *why);
/* An acknowledgement of an event the transport no longer holds (sent before a restart, or
 * acknowledged late): delivered if the store has it pending, found by (recipient, event id). */
void msgw_pass_acknowledged(msgw_pass *p, const char *recipient, const char *event_id);
/* True once the daemon stops the driver: a long deliver returns, abandoning what is in flight (it
 * stays pending and is sent again). */
bool msgw_pass_stopping(const msgw_pass *p);

typedef struct msgw_transport_ops {
    const char *name;       /* "webhook", "zmq": the transport of metrics, feed and audit entries */
    msgw_deliver_kind kind; /* the departments it serves: departments[].deliver */
    const char *port_file; /* msgw serve --port-file FILE writes its endpoint to FILE.<port_file> */
    bool needs_hub;        /* makes ZeroMQ sockets: the daemon starts the hub for it */
    unsigned idle_ms;      /* nothing rang: the driver looks at the store again after this long */
    /* Whether cfg asks for it (a webhook deliverer always runs: a reload may add a recipient). */
    bool (*wanted)(const msgw_config *cfg);
    /* On the daemon's thread, before the driver starts: binds what it listens on.  NULL, with an
     * error, when it cannot. */
    void *(*open)(const msgw_transport_env *env, msgw_errors *e);
    /* After the driver stopped (its outcomes settled): closes it; nulls *t. */
    void (*close)(void **t);
    /* How many due messages recipient dept can take now (a consumer's free window; 0: none, it is
     * not asked for).  The driver claims at most that many, one per person, oldest first. */
    size_t (*room)(void *t, const msgw_department *dept);
    /* Delivers a batch: v[0..n) claimed for this pass, each recipient's oldest first.  Each is
     * either given an outcome (msgw_pass_*) or left alone (still due; the next pass finds it
     * again).  A transport may take a message's contents over, leaving it zeroed. */
    void (*deliver)(void *t, msgw_delivery *v, size_t n, msgw_pass *p, msgw_time now);
    /* Optional: reads what came back since the last pass (acknowledgements, consumers that
     * reconnected) and sends again what must be; their outcomes are settled before the next claim,
     * so that it sees each person's next message. */
    void (*acknowledged)(void *t, msgw_pass *p, msgw_time now);
    /* Optional: the descriptor the driver waits on besides the doorbell (a ZeroMQ socket's ZMQ_FD:
     * readable when acknowledged has something to read); *ready set when there is work already,
     * which an edge-triggered descriptor would not signal again.  -1: none. */
    int (*descriptor)(void *t, bool *ready);
    /* Optional: the endpoint it listens on, for the log and --port-file; owned by t. */
    const char *(*endpoint)(const void *t);
    /* Optional (SIGHUP, the driver's thread halted): cfg from now on; the old one is freed after.
     * What lives across (sockets, consumers, messages in flight) is kept. */
    void (*reconfigure)(void *t, const msgw_config *cfg);
    /* Optional: a small JSON object of what it knows now (consumers, posts in flight); called from
     * another thread (the admin listener's), so it reads only what the driver's thread publishes
     * atomically.  New reference. */
    json_t *(*stats)(const void *t);
} msgw_transport_ops;

/* The registry (gateway/deliver/transports.c), NULL-terminated, in the order the deliverers start.
 */
const msgw_transport_ops *const *msgw_transports_registered(void);

#endif
