/*
 * What keeps slow or greedy clients from holding an HTTPS listener's connections (docs/ingress.md,
 * "Connections"): every connection a listener accepts is made here and watched until it is freed.
 *
 *  - a deadline for a request's headers, from its first byte (the first request's from the
 *    accept, so a trickled handshake counts too), and one for its body: body_timeout_s, extended by
 *    a second for every body_min_rate bytes received (Apache's mod_reqtimeout
 * "body=20,MinRate=500"); a connection past either is closed.  While the gateway works on a request
 * nothing runs: the wait is the gateway's, not the client's; between requests the listener's idle
 * timeout applies;
 *  - at most max_connections open, at most per_address from one client address (both refused at the
 *    TLS ClientHello with an alert), and at most a department's own cap (its first request is
 *    answered 503 with Retry-After and the connection closed);
 *  - every closed connection counted by why: msgw_connections_closed_total{listener,reason}.
 *
 * One guard per listener, on the listener's event loop thread; it takes one SSL ex_data slot, so a
 * connection's state is freed exactly when OpenSSL frees the connection's SSL object.
 */
#ifndef MSGW_CONN_GUARD_H
#define MSGW_CONN_GUARD_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "msgw/base/metrics.h"
#include "msgw/net/config.h"

typedef struct msgw_conn_limits {
    size_t max_connections; /* open connections of the listener */
    size_t per_address;     /* open connections from one client address */
    unsigned header_timeout_s;
    unsigned body_timeout_s;
    size_t body_min_rate; /* bytes a second that extend the body's deadline by one second */
    unsigned
        idle_timeout_s; /* the listener's own idle timeout (evhttp_set_timeout): to tell it apart */
} msgw_conn_limits;

/* The limits cfg's https section gives (every HTTPS listener takes the same). */
msgw_conn_limits msgw_conn_limits_of(const msgw_config *cfg);

typedef struct msgw_conn_guard msgw_conn_guard;

/* listener names the metric series ("ingress", "peering", "admin"); m may be NULL. */
msgw_conn_guard *msgw_conn_guard_new(struct event_base *base, const char *listener,
                                     const msgw_conn_limits *limits, msgw_metrics *m);
/* Counts in m from now on (NULL: not counted). */
void msgw_conn_guard_set_metrics(msgw_conn_guard *g, msgw_metrics *m);
/* Closes nothing: call it after the listener's evhttp is freed.  libevent frees the connections
 * later (in finalizers on the loop, at the latest when the event base is freed): the guard lives
 * on until the last of them is, counting in the metrics it was given, which must outlive the base.
 */
void msgw_conn_guard_destroy(msgw_conn_guard **g);
/* New limits (SIGHUP) for the deadlines armed from now on and the connections admitted from now on.
 */
void msgw_conn_guard_set_limits(msgw_conn_guard *g, const msgw_conn_limits *limits);

/* A new server connection on ctx, watched (the body of an evhttp_set_bevcb callback). */
struct bufferevent *msgw_conn_guard_accept(msgw_conn_guard *g, SSL_CTX *ctx);
/* At the ClientHello: whether the connection may go on (max_connections, per_address). */
bool msgw_conn_guard_admit(msgw_conn_guard *g, SSL *ssl);
/* The request has been read whole (call first thing in the listener's request callback): its
 * deadlines stop until it is answered.  department (NULL: none) with its cap (0: none): false when
 * the department already has cap other connections open — the caller answers with
 * msgw_conn_guard_refuse. */
bool msgw_conn_guard_request(msgw_conn_guard *g, struct evhttp_request *req, const char *department,
                             size_t cap);
/* 503 with Retry-After and Connection: close, rule ingress.connections. */
void msgw_conn_guard_refuse(struct evhttp_request *req, const char *department);

/* Open connections. */
size_t msgw_conn_guard_open(const msgw_conn_guard *g);
/* {"connections": N, "closed": {reason: count}}.  New reference. */
json_t *msgw_conn_guard_stats(const msgw_conn_guard *g);

#endif
