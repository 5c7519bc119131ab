/*
 * The listeners' registry.  Adding a listener is its own file in gateway/ingress/ (exporting a
 * msgw_listener_ops named msgw_NAME_listener), its line in meson.build, and one line here; the
 * daemon starts every listener its configuration wants from this table (msgw/ingress/listener.h),
 * in this order, and writes their endpoints for --port-file in this order too: the ZeroMQ
 * listener's file last, which scripts wait for (bench/federation.sh).
 */
#include <stddef.h>

#include "msgw/ingress/listener.h"

/* One line per listener: X(NAME) registers msgw_NAME_listener. */
#define LISTENERS(X)                                                                               \
    X(https)   /* records over HTTPS with mutual TLS (docs/ingress.md) */                          \
    X(peering) /* peer gateways' signed envelopes (docs/federation.md) */                          \
    X(zmq)     /* records over ZeroMQ with CURVE (docs/zmq.md) */

#define DECLARE(name) extern const msgw_listener_ops msgw_##name##_listener;
#define ENTRY(name) &msgw_##name##_listener,
LISTENERS(DECLARE)

static const msgw_listener_ops *const registry[] = {LISTENERS(ENTRY) NULL};

const msgw_listener_ops *const *msgw_listeners_registered(void)
{
    return registry;
}
