/*
 * A department's ZeroMQ client for the tests: connects a DEALER with CURVE
 * keys, pipelines COUNT requests [media type, body of FILE], and prints each
 * reply (one JSON line per request).
 * usage: zmq_push ENDPOINT SERVER_CURVE_FILE CLIENT_CURVE_FILE MEDIA_TYPE FILE [COUNT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void key(const char *path, const char *which, char out[41])
{
    FILE *f = fopen(path, "r");
    char line[128];
    out[0] = '\0';
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, which, strlen(which)) == 0) snprintf(out, 41, "%s", line + strlen(which));
    if (f) fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: zmq_push ENDPOINT SERVER_CURVE CLIENT_CURVE MEDIA_TYPE FILE [COUNT]\n");
        return 2;
    }
    int count = argc > 6 ? atoi(argv[6]) : 1;
    char server[41], pub[41], sec[41];
    key(argv[2], "public=", server);
    key(argv[3], "public=", pub);
    key(argv[3], "secret=", sec);
    FILE *f = fopen(argv[5], "rb");
    if (!f) return 2;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *body = malloc((size_t)n + 1);
    if (!body || fread(body, 1, (size_t)n, f) != (size_t)n) return 2;
    fclose(f);
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    int timeout = 3000, zero = 0;
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
        char reply[65536];
        int len = zmq_recv(s, reply, sizeof reply - 1, 0);
        if (len < 0) {
            printf("{\"status\":0,\"error\":\"no reply\"}\n");
            rc = 1;
            break;
        }
        reply[len < (int)sizeof reply - 1 ? len : (int)sizeof reply - 1] = '\0';
        printf("%s%s", reply, len && reply[len - 1] == '\n' ? "" : "\n");
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    free(body);
    return rc;
}
