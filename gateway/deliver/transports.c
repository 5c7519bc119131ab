/*
 * The delivery transports' registry.  Adding a transport is its own file in gateway/deliver/
 * (exporting a msgw_transport_ops named msgw_NAME_transport), its line in meson.build, and one
 * line here; the daemon starts every transport its configuration wants from this table
 * (msgw/deliver/driver.h), in this order.
 */
#include <stddef.h>

#include "msgw/deliver/transport.h"

/* One line per transport: X(NAME) registers msgw_NAME_transport. */
#define TRANSPORTS(X)                                                                              \
    X(webhook) /* HTTPS POSTs with mutual TLS: departments, peer gateways (docs/ingress.md) */     \
    X(zmq)     /* ZeroMQ consumers with CURVE, acknowledged (docs/zmq.md) */

#define DECLARE(name) extern const msgw_transport_ops msgw_##name##_transport;
#define ENTRY(name) &msgw_##name##_transport,
TRANSPORTS(DECLARE)

static const msgw_transport_ops *const registry[] = {TRANSPORTS(ENTRY) NULL};

const msgw_transport_ops *const *msgw_transports_registered(void)
{
    return registry;
}
