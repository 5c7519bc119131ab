/*
 * msgw-curve-keygen: prints a new CURVE key pair (Z85) for ZeroMQ, as
 * "public=..." and "secret=..." lines.  certs/dev-pki.sh uses it for the
 * gateway's ZeroMQ ingress and each department's client.
 */
#include <stdio.h>
#include <zmq.h>

int main(void)
{
    char public_key[41], secret_key[41];
    if (zmq_curve_keypair(public_key, secret_key) != 0) {
        fprintf(stderr, "msgw-curve-keygen: this libzmq has no CURVE support (%s)\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    printf("public=%s\nsecret=%s\n", public_key, secret_key);
    return 0;
}
