/*
 * The ZeroMQ hub: the one ZeroMQ context of the daemon and its ZAP handler.
 * Every CURVE socket the gateway binds (the ingress ROUTER, the delivery
 * ROUTER, the monitoring feed) shares it, so one handler admits only the
 * CURVE public keys the configuration gives departments and names the
 * department as the connection's User-Id (zmq_msg_gets "User-Id").  The ZAP
 * socket joins the libevent loop; sockets owned by other threads are
 * authenticated there too, because ZAP requests travel over inproc.
 */
#ifndef MSGW_ZMQ_HUB_H
#define MSGW_ZMQ_HUB_H

#include <event2/event.h>
#include <stdbool.h>

#include "msgw/net/config.h"
#include "msgw/base/error.h"

typedef struct msgw_zmq_hub msgw_zmq_hub;

/* Creates the context, reads the gateway's CURVE secret (cfg->zmq_secret_file; none configured:
 * only in-process sockets may be used) and starts ZAP. */
msgw_zmq_hub *msgw_zmq_hub_new(struct event_base *base, const msgw_config *cfg, msgw_errors *e);
/* Closes ZAP and terminates the context: every socket made from it must be closed first. */
void msgw_zmq_hub_destroy(msgw_zmq_hub **h);
/* New configuration (SIGHUP): the admitted keys change. */
void msgw_zmq_hub_reconfigure(msgw_zmq_hub *h, const msgw_config *cfg);
void *msgw_zmq_hub_context(msgw_zmq_hub *h);
/* Makes sock a CURVE server with the gateway's key, authenticated by the hub under the given ZAP domain. */
void msgw_zmq_hub_secure(msgw_zmq_hub *h, void *sock, const char *domain);
/* Answers the ZAP requests waiting (a socket's handler calls it: a handshake may be waiting). */
void msgw_zmq_hub_serve_zap(msgw_zmq_hub *h);
/* Watches a ZeroMQ socket's edge-triggered ZMQ_FD in the loop; the callback must drain the socket. */
struct event *msgw_zmq_hub_watch(struct event_base *base, void *sock, event_callback_fn cb, void *arg);

#endif
