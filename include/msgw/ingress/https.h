/*
 * The HTTPS ingress: libevent's HTTP server over OpenSSL with mutual TLS.
 * TLS 1.2 and 1.3 only; a client without a certificate from the
 * configured CA is refused at the handshake; the certificate's subject
 * (O = region, OU = department) identifies the department.  Routes:
 *   POST /v1/records                 push records (docs/ingress.md)
 *   GET  /v1/persons/{id}/eligibility  a department's own services
 */
#ifndef MSGW_HTTPS_H
#define MSGW_HTTPS_H

#include <event2/event.h>

#include "msgw/net/config.h"
#include "msgw/base/error.h"
#include "msgw/pipeline/ingest.h"

typedef struct msgw_https msgw_https;

/* Counts failed handshakes in m (NULL: none; docs/metrics.md). */
void msgw_https_set_metrics(msgw_https *h, msgw_metrics *m);
msgw_https *msgw_https_new(struct event_base *base, const msgw_config *cfg, msgw_ingest *ingest,
                           msgw_errors *e);
void msgw_https_destroy(msgw_https **h);
/*
 * Switches to a new configuration (SIGHUP): new TLS material and limits for
 * new connections, department lookup from cfg; open connections carry on.
 * On failure nothing changes.
 */
bool msgw_https_reconfigure(msgw_https *h, const msgw_config *cfg, msgw_errors *e);
/* Closes the listening socket (SIGTERM drain); open connections are still served. */
void msgw_https_stop_accepting(msgw_https *h);
/* The port actually bound (useful with port 0 in tests). */
int msgw_https_port(const msgw_https *h);

#endif
