/*
 * What the ZeroMQ test clients (zmq_push, zmq_consumer, zmq_sub) share:
 * reading a CURVE key pair file written by certs/dev-pki.sh
 * ("public=" / "secret=" lines, Z85) and a monotonic clock.
 */
#ifndef MSGW_TESTS_ZMQ_CLIENT_H
#define MSGW_TESTS_ZMQ_CLIENT_H

/* The Z85 key on the line starting with `which` ("public=" or "secret="); "" when none. */
void zc_key(const char *path, const char *which, char out[41]);
/* Seconds on the monotonic clock. */
double zc_now(void);

#endif
