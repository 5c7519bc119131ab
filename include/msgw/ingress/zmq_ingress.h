/*
 * The ZeroMQ ingress (docs/zmq.md): a ROUTER socket with CURVE encryption,
 * and a ZAP handler that admits only the CURVE public keys the
 * configuration gives departments; the key identifies the department.  A
 * request is [media type, body] (a REQ client's empty delimiter allowed);
 * the reply, [status JSON], is sent after the durable commit.  Clients may
 * pipeline requests (DEALER); answers keep the requests' order.  A full
 * commit queue stops the reading, so senders block at the high-water mark.  Both sockets join the libevent loop through
 * ZMQ_FD, so one thread serves HTTPS and ZeroMQ.
 */
#ifndef MSGW_ZMQ_INGRESS_H
#define MSGW_ZMQ_INGRESS_H

#include <event2/event.h>

#include "msgw/net/config.h"
#include "msgw/base/error.h"
#include "msgw/pipeline/ingest.h"
#include "msgw/net/zmq_hub.h"

typedef struct msgw_zmq_ingress msgw_zmq_ingress;

/* Binds cfg->zmq_listen as a CURVE server authenticated by the hub (ZAP domain "msgw"). */
msgw_zmq_ingress *msgw_zmq_ingress_new(struct event_base *base, msgw_zmq_hub *hub, const msgw_config *cfg,
                                       msgw_ingest *ingest, msgw_errors *e);
void msgw_zmq_ingress_destroy(msgw_zmq_ingress **z);
/* New configuration (SIGHUP): the admitted keys and departments change; the endpoint does not. */
void msgw_zmq_ingress_reconfigure(msgw_zmq_ingress *z, const msgw_config *cfg);
/* Stops reading requests (SIGTERM: the ones taken are answered, the rest wait in ZeroMQ's queues). */
void msgw_zmq_ingress_pause(msgw_zmq_ingress *z);
/* The endpoint actually bound (tcp://127.0.0.1:PORT with a wildcard port), static buffer owned by z. */
const char *msgw_zmq_ingress_endpoint(const msgw_zmq_ingress *z);

#endif
