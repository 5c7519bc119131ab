/*
 * The administrators' listener (docs/admin.md): a separate HTTPS port for
 * operating the gateway.  The same TLS policy as the ingress, but only an
 * administrator's client certificate is admitted: its subject must match
 * one of admin.certificates (by default O = the region, OU = "admin");
 * department certificates get 403.  Today it answers /healthz (the process
 * is alive) and /readyz (the store accepts commits, the catalogue is
 * loaded, and the gateway's certificates stay valid for more than
 * admin.cert_warning_days, its CRLs are not overdue — each failing check named), /metrics (the
 * Prometheus text format, docs/metrics.md), message traces, dead letters and
 * their replay, re-evaluation, the transition log, a person's page, the
 * transports' counts, the certificates and when each expires, and the dashboard with its live
 * events (gateway/admin/admin_live.c).
 */
#ifndef MSGW_ADMIN_H
#define MSGW_ADMIN_H

#include <event2/event.h>

#include "msgw/engine/catalogue.h"
#include "msgw/store/audit.h"
#include "msgw/net/certificates.h"
#include "msgw/net/config.h"
#include "msgw/net/http_routes.h"
#include "msgw/pipeline/doorbell.h"
#include "msgw/base/error.h"
#include "msgw/pipeline/ingest.h"
#include "msgw/base/metrics.h"

typedef struct msgw_admin msgw_admin;

/* Listens on cfg->admin_listen; borrows cfg, cat and ingest (see msgw_admin_reconfigure). */
msgw_admin *msgw_admin_new(struct event_base *base, const msgw_config *cfg, const msgw_catalogue *cat,
                           msgw_ingest *ingest, msgw_errors *e);
void msgw_admin_destroy(msgw_admin **a);
/* SIGHUP: the new configuration and catalogue are used from now on; false (the TLS material kept)
 * when the new certificate, key, CA or CRL cannot be loaded. */
bool msgw_admin_reconfigure(msgw_admin *a, const msgw_config *cfg, const msgw_catalogue *cat, msgw_errors *e);
/* Serves GET /metrics from m (borrowed; NULL: 404), adding at each scrape the outbox gauges read
 * through its own connection to the store at store_spec, the store's size and the certificates'
 * expiry. */
void msgw_admin_set_metrics(msgw_admin *a, msgw_metrics *m, const char *store_spec);
/* Administrators' actions (dead-letter replays) are appended to audit; a replay rings bell. */
void msgw_admin_set_audit(msgw_admin *a, msgw_audit *audit, msgw_doorbell *bell);
/* The dashboard's live events (GET /v1/events) read the monitoring feed through a SUB on
 * feed_endpoint (msgw_feed_local_endpoint) made from zmq_ctx; without it only stats are sent. */
void msgw_admin_set_live(msgw_admin *a, void *zmq_ctx, const char *feed_endpoint);
/* The certificates and CRLs of the configuration in use (taken: freed with a or by the next call):
 * /readyz checks them, /metrics and GET /v1/certificates report when each expires. */
void msgw_admin_set_certificates(msgw_admin *a, msgw_certificates *certs);
/* GET /v1/transports answers what stats(ud) returns, a new JSON object (the daemon's listeners and
 * deliverers: this layer names none of them); without it, 404. */
void msgw_admin_set_transports(msgw_admin *a, json_t *(*stats)(void *ud), void *ud);
/* The port actually bound (a listen port of 0 in tests). */
int msgw_admin_port(const msgw_admin *a);
/* The adapters' context, with which a person's disclosure report reads back what each recipient
 * was sent (GET /v1/persons/{id}/disclosures; without it, 503). */
void msgw_admin_set_context(msgw_admin *a, const msgw_adapter_ctx *ctx);
/* The routes the administrators' listener answers (docs/openapi.yaml), ended by a NULL path. */
const msgw_http_route *msgw_admin_routes(void);

#endif
