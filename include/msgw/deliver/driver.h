/*
 * The deliverers: for every transport the configuration wants (msgw/deliver/transport.h), a driver
 * thread with its own store connection (MSGW_STORE_DELIVERY) that runs the delivery loop all
 * transports share.  A pass:
 *
 *   1. waits for the doorbell (new messages were committed), the transport's descriptor (an
 *      acknowledgement came), or the idle interval (retries come due);
 *   2. lets the transport read what came back (acknowledged);
 *   3. settles every outcome decided since the last settlement in one transaction: the previous
 *      pass's deliveries and this pass's acknowledgements, before the claim, so that it sees each
 *      person's next message and none of the messages in flight;
 *   4. when rung, when the idle interval is up, when the last pass ended attempts (a person's next
 *      message may be due), or when acknowledgements freed room that the last claim filled: asks
 *      the transport how much each of its recipients can take, claims that much in one query (one
 *      message per person, the oldest pending) and hands the batch to the transport.
 *
 * A store that refuses a settlement (a full disk) loses nothing but the marks: the messages come
 * due again and are sent again, which receivers de-duplicate by event id.  The failure is counted
 * (msgw_failures_total{component="store"}) and logged when it begins and when it ends.
 */
#ifndef MSGW_DRIVER_H
#define MSGW_DRIVER_H

#include <jansson.h>

#include "msgw/base/error.h"
#include "msgw/deliver/transport.h"
#include "msgw/pipeline/doorbell.h"

typedef struct msgw_deliverers msgw_deliverers;

/* How many transports of table (NULL-terminated) cfg wants: the doorbell's size. */
size_t msgw_deliverers_wanted(const msgw_transport_ops *const *table, const msgw_config *cfg);
/* Whether a transport of table that cfg wants needs the ZeroMQ hub. */
bool msgw_deliverers_need_hub(const msgw_transport_ops *const *table, const msgw_config *cfg);
/* Opens every transport of table that env->cfg wants, in order, and starts its driver; the k-th
 * started waits on the doorbell's k-th descriptor (bell may be NULL: the drivers then only look at
 * the store every idle interval).  NULL, with an error, when one cannot start (the others are
 * stopped again).  env's members must outlive the deliverers; env->cfg until the next
 * msgw_deliverers_reconfigure. */
msgw_deliverers *msgw_deliverers_start(const msgw_transport_ops *const *table,
                                       const msgw_transport_env *env, const msgw_doorbell *bell,
                                       msgw_errors *e);
/* SIGHUP: each driver halted (what it decided settled), its transport switched to cfg, started
 * again; the old cfg may be freed after.  False, with an error, for a driver that could not be
 * started again. */
bool msgw_deliverers_reconfigure(msgw_deliverers *s, const msgw_config *cfg, msgw_errors *e);
/* Stops every driver after the pass in progress, settles what they decided, closes the transports
 * and the store connections; nulls *s. */
void msgw_deliverers_stop(msgw_deliverers **s);

/* The running deliverers, in start order: their transport and endpoint (NULL: none). */
size_t msgw_deliverers_count(const msgw_deliverers *s);
const msgw_transport_ops *msgw_deliverers_ops(const msgw_deliverers *s, size_t i);
const char *msgw_deliverers_endpoint(const msgw_deliverers *s, size_t i);
/* [{"name", "endpoint", "delivered", "retried", "dead", "sent", "store_failures", ...the
 * transport's own}], counted since the daemon started; any thread.  New reference. */
json_t *msgw_deliverers_stats(const msgw_deliverers *s);

#endif
