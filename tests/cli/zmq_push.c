/*
 * A department's ZeroMQ client for the tests: connects a DEALER with CURVE
 * keys, pipelines COUNT requests [media type, body of FILE], and prints each
 * reply (one JSON line per request).  MSGW_ZMQ_PUSH_TIMEOUT_MS bounds the wait
 * for each reply (default 10 s).
 * usage: zmq_push ENDPOINT SERVER_CURVE_FILE CLIENT_CURVE_FILE MEDIA_TYPE FILE [COUNT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "zmq_client.h"

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: zmq_push ENDPOINT SERVER_CURVE CLIENT_CURVE MEDIA_TYPE FILE [COUNT]\n");
        return 2;
    }
    int count = argc > 6 ? atoi(argv[6]) : 1;
    char server[41], pub[41], sec[41];
    zc_key(argv[2], "public=", server);
    zc_key(argv[3], "public=", pub);
    zc_key(argv[3], "secret=", sec);
    FILE *f = fopen(argv[5], "rb");
    if (!f) return 2;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *body = malloc((size_t)n + 1);
    if (!body || fread(body, 1, (size_t)n, f) != (size_t)n) return 2;
    fclose(f);
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    const char *t = getenv("MSGW_ZMQ_PUSH_TIMEOUT_MS");
    int timeout = t ? atoi(t) : 10000, zero = 0;
    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server, 40);
    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(s, argv[1]);
    for (int i = 0; i < count; i++) {
        zmq_send(s, argv[4], strlen(argv[4]), ZMQ_SNDMORE);
        zmq_send(s, body, (size_t)n, 0);
    }
    int rc = 0;
    for (int i = 0; i < count; i++) {
        zmq_msg_t reply;
        zmq_msg_init(&reply);
        if (zmq_msg_recv(&reply, s, 0) < 0) {
            zmq_msg_close(&reply);
            printf("{\"status\":0,\"error\":\"no reply\"}\n");
            rc = 1;
            break;
        }
        size_t len = zmq_msg_size(&reply);
        const char *text = zmq_msg_data(&reply);
        printf("%.*s%s", (int)len, text, len && text[len - 1] == '\n' ? "" : "\n");
        zmq_msg_close(&reply);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    free(body);
    return rc;
}
