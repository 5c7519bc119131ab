/*
 * msgw-curve-keygen: prints a new CURVE key pair (Z85) for ZeroMQ, as
 * "public=..." and "secret=..." lines.  certs/dev-pki.sh uses it for the
 * gateway's ZeroMQ ingress and each department's client; operators make the
 * gateway's zmq.curve_secret_file with it (docs/zmq.md, docs/package.md).
 */
#include <stdio.h>
#include <string.h>
#include <zmq.h>

static const char help[] =
    "Usage: msgw-curve-keygen [--help | --version]\n"
    "\n"
    "Prints a new CURVE key pair for ZeroMQ in Z85, as two lines \"public=...\" and\n"
    "\"secret=...\".  Redirected to a file, it is what the configuration's\n"
    "zmq.curve_secret_file names (keep it readable by the msgw group alone); the public\n"
    "line is what the gateway's ZeroMQ clients are given.\n"
    "\n"
    "Exit status: 0 printed, 1 this libzmq has no CURVE support, 2 usage.\n";

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        fputs(help, stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("msgw-curve-keygen %s\n", MSGW_VERSION);
        return 0;
    }
    if (argc > 1) {
        fputs(help, stderr);
        return 2;
    }
    char public_key[41], secret_key[41];
    if (zmq_curve_keypair(public_key, secret_key) != 0) {
        fprintf(stderr, "msgw-curve-keygen: this libzmq has no CURVE support (%s)\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    printf("public=%s\nsecret=%s\n", public_key, secret_key);
    return 0;
}
