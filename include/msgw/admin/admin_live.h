/*
 * The administrators' dashboard's live stream (docs/admin.md, "Dashboard"):
 * GET /v1/events answers with Server-Sent Events — a "hello" describing the
 * gateway, then the monitoring feed's events ("record", "transition",
 * "delivery") as they happen and a "stats" event of cumulative counters
 * every second.  Runs on the admin listener's event loop.
 */
#ifndef MSGW_ADMIN_LIVE_H
#define MSGW_ADMIN_LIVE_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>

typedef struct msgw_admin_live msgw_admin_live;

/* The stats event's content, built when it is sent (a new reference). */
typedef json_t *(*msgw_admin_stats_fn)(void *ud);

/* Reads the feed at feed_endpoint (msgw_feed_local_endpoint) through a SUB made from zmq_ctx; both
 * NULL: stats only. */
msgw_admin_live *msgw_admin_live_new(struct event_base *base, void *zmq_ctx, const char *feed_endpoint,
                                     msgw_admin_stats_fn stats, void *ud);
/* Closes the SUB (before the ZeroMQ context ends); open streams end with the listener. */
void msgw_admin_live_destroy(msgw_admin_live **l);
/* Answers req with the stream, starting with hello (stolen); false when too many dashboards are
 * open (the caller answers 503). */
bool msgw_admin_live_attach(msgw_admin_live *l, struct evhttp_request *req, json_t *hello);

#endif
