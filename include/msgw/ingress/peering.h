/*
 * The peering listener (docs/federation.md): a separate HTTPS port where
 * the gateways of other regions push envelopes, POST /v1/envelopes with
 * application/vnd.msgw.envelope+json.  Only certificates from the peers'
 * CAs pass the handshake; each must chain to the CA of the peer its
 * subject names.  The envelope is opened (signature, destination, hops)
 * and its record committed through ingest; an altered, misaddressed or
 * replayed envelope is refused with its rule (400, 403, 409) and audited.
 */
#ifndef MSGW_PEERING_H
#define MSGW_PEERING_H

#include <event2/event.h>

#include "msgw/store/audit.h"
#include "msgw/net/config.h"
#include "msgw/base/error.h"
#include "msgw/pipeline/ingest.h"
#include "msgw/base/metrics.h"
#include "msgw/pipeline/peer.h"

typedef struct msgw_peering msgw_peering;

/* Listens on cfg->peering_listen; borrows cfg, ingest, peers and audit. */
msgw_peering *msgw_peering_new(struct event_base *base, const msgw_config *cfg, msgw_ingest *ingest,
                               const msgw_peers *peers, msgw_audit *audit, msgw_errors *e);
void msgw_peering_destroy(msgw_peering **p);
/* Failed handshakes counted as msgw_tls_handshake_failures_total{listener="peering"}. */
void msgw_peering_set_metrics(msgw_peering *p, msgw_metrics *m);
/* SIGHUP: the new configuration and peers from now on; false (the TLS material kept) when the
 * peers' CAs cannot be loaded. */
bool msgw_peering_reconfigure(msgw_peering *p, const msgw_config *cfg, const msgw_peers *peers, msgw_errors *e);
/* The port actually bound (0 in tests). */
int msgw_peering_port(const msgw_peering *p);

#endif
