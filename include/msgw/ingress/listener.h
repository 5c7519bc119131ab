/*
 * A listener: one way records come in (HTTPS with mutual TLS, ZeroMQ with CURVE, peer gateways'
 * envelopes), behind one small table of operations, like an nginx module.  A listener runs on the
 * daemon's event loop, authenticates its sender and hands each request to msgw_ingest_submit (or
 * msgw_ingest_submit_envelope); it knows nothing of formats.  The listeners are registered in one
 * table, gateway/ingress/listeners.c; adding one is its own file in gateway/ingress/ and one line
 * there, and the daemon starts, drains, reloads and stops it with the others.
 *
 * The administrators' listener is not one of them: it belongs to the admin layer, above this one.
 */
#ifndef MSGW_LISTENER_H
#define MSGW_LISTENER_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>

#include "msgw/base/error.h"
#include "msgw/base/metrics.h"
#include "msgw/net/config.h"
#include "msgw/net/http_routes.h"
#include "msgw/net/zmq_hub.h"
#include "msgw/pipeline/ingest.h"
#include "msgw/pipeline/peer.h"
#include "msgw/store/audit.h"

/* What a listener may use, all borrowed; the same for every listener, at start and at reload. */
typedef struct msgw_listener_env {
    struct event_base *base;
    const msgw_config *cfg;
    msgw_ingest *ingest;
    msgw_zmq_hub *hub;       /* NULL unless a wanted part needs_hub */
    const msgw_peers *peers; /* NULL: no peer gateways configured */
    msgw_audit *audit;
    msgw_metrics *metrics; /* may be NULL */
} msgw_listener_env;

typedef struct msgw_listener_ops {
    const char *name;      /* "https", "zmq", "peering": logs, stats */
    const char *port_file; /* msgw serve --port-file FILE writes its endpoint to FILE.<port_file>,
                            * or to FILE itself for "" */
    bool needs_hub;        /* makes ZeroMQ sockets: the daemon starts the hub for it */
    /* Whether cfg asks for it (its listen address is set). */
    bool (*wanted)(const msgw_config *cfg);
    /* Binds and joins env->base's loop.  NULL, with an error, when it cannot. */
    void *(*start)(const msgw_listener_env *env, msgw_errors *e);
    /* Closes it, open connections too; nulls *l. */
    void (*stop)(void **l);
    /* Optional, SIGTERM: takes no new requests; those taken are still answered. */
    void (*pause)(void *l);
    /* Optional, SIGHUP, before anything changes: makes ready what env's configuration needs (its
     * TLS material).  False, with an error, refuses the whole reload: nothing changes anywhere. */
    bool (*prepare)(void *l, const msgw_listener_env *env, msgw_errors *e);
    /* Optional, SIGHUP, once the reload is decided: env from now on (the previous configuration
     * and peers are freed after).  False, with an error, when something could not be renewed; it
     * keeps what it had for that, and follows the new configuration in everything else. */
    bool (*reconfigure)(void *l, const msgw_listener_env *env, msgw_errors *e);
    /* The endpoint actually bound (a port, or a ZeroMQ endpoint with its wildcard port resolved):
     * the log line and --port-file.  Owned by l. */
    const char *(*endpoint)(const void *l);
    /* A small JSON object of what it knows (connections, requests).  New reference. */
    json_t *(*stats)(const void *l);
    /* An HTTP listener's routes (docs/openapi.yaml; `msgw routes`), ended by a NULL path; NULL
     * for one that speaks no HTTP. */
    const msgw_http_route *routes;
} msgw_listener_ops;

/* The HTTPS ingress's routes (POST /v1/records, GET /v1/persons/{id}/eligibility) for a request
 * whose department its certificate named: the listener's, and the HTTP fuzz harness's. */
void msgw_https_route(msgw_ingest *ingest, const msgw_department *dept, struct evhttp_request *req);

/* The registry (gateway/ingress/listeners.c), NULL-terminated, in the order listeners start. */
const msgw_listener_ops *const *msgw_listeners_registered(void);

/* The listeners a daemon runs. */
typedef struct msgw_listeners msgw_listeners;

/* Whether a listener of table (NULL-terminated) that cfg wants needs the ZeroMQ hub. */
bool msgw_listeners_need_hub(const msgw_listener_ops *const *table, const msgw_config *cfg);
/* Starts every listener of table that env->cfg wants, in order.  NULL, with an error, when one
 * cannot start (those started are stopped again). */
msgw_listeners *msgw_listeners_start(const msgw_listener_ops *const *table,
                                     const msgw_listener_env *env, msgw_errors *e);
/* Stops them, the last started first; nulls *s. */
void msgw_listeners_stop(msgw_listeners **s);
/* SIGTERM: none takes new requests. */
void msgw_listeners_pause(msgw_listeners *s);
/* SIGHUP: every listener prepares env; false, with the first refusal's error, refuses the reload.
 */
bool msgw_listeners_prepare(msgw_listeners *s, const msgw_listener_env *env, msgw_errors *e);
/* SIGHUP, the reload decided: every listener switches to env; false, with errors, for what one
 * could not renew. */
bool msgw_listeners_reconfigure(msgw_listeners *s, const msgw_listener_env *env, msgw_errors *e);

/* The running listeners, in start order: their operations and endpoints. */
size_t msgw_listeners_count(const msgw_listeners *s);
const msgw_listener_ops *msgw_listeners_ops(const msgw_listeners *s, size_t i);
const char *msgw_listeners_endpoint(const msgw_listeners *s, size_t i);
/* [{"name", "endpoint", ...its own stats}], on the loop's thread.  New reference. */
json_t *msgw_listeners_stats(const msgw_listeners *s);

#endif
