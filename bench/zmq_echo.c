/*
 * The raw libzmq baseline of the daemon benchmark (make bench,
 * docs/benchmarks.md): a ROUTER with the same CURVE encryption as the
 * gateway's ZeroMQ ingress that answers each request [media type, body] at
 * once with one frame of --reply-bytes bytes (a {"status":202,...} JSON padded
 * to the size of the gateway's reply), and does nothing else.  bench/loadgen
 * drives it exactly as it drives the gateway: the same bodies, the same window,
 * so the ratio of the two throughputs is what the gateway's work costs.
 *
 *   zmq_echo --bind tcp://127.0.0.1:* --secret-file gateway.curve [--reply-bytes N]
 * [--endpoint-file F]
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    const char *bind = "tcp://127.0.0.1:*", *secret_file = NULL, *endpoint_file = NULL;
    size_t reply_bytes = 160;
    static const struct option lo[] = {{"bind", required_argument, 0, 'b'},
                                       {"secret-file", required_argument, 0, 's'},
                                       {"reply-bytes", required_argument, 0, 'r'},
                                       {"endpoint-file", required_argument, 0, 'e'},
                                       {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'b':
            bind = optarg;
            break;
        case 's':
            secret_file = optarg;
            break;
        case 'r':
            reply_bytes = strtoul(optarg, NULL, 10);
            break;
        case 'e':
            endpoint_file = optarg;
            break;
        default:
            secret_file = NULL;
            optind = argc + 1;
            break;
        }
    }
    if (!secret_file || optind != argc) {
        fprintf(stderr, "usage: zmq_echo --secret-file FILE [--bind EP] [--reply-bytes N] "
                        "[--endpoint-file F]\n");
        return 2;
    }
    char secret[41] = "", line[256];
    FILE *f = fopen(secret_file, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "secret=", 7) == 0) {
            line[strcspn(line, "\r\n")] = '\0';
            if (strlen(line + 7) == 40) memcpy(secret, line + 7, 41); /* Z85 of 32 bytes */
        }
    if (f) fclose(f);
    if (strlen(secret) != 40) {
        fprintf(stderr, "zmq_echo: no secret= key in %s\n", secret_file);
        return 2;
    }
    /* the reply: valid JSON with status 202, padded to the gateway's reply size */
    const char *head = "{\"status\":202,\"pad\":\"", *tail = "\"}";
    size_t min = strlen(head) + strlen(tail);
    if (reply_bytes < min) reply_bytes = min;
    char *reply = malloc(reply_bytes + 1);
    if (!reply) return 2;
    memset(reply, 'x', reply_bytes);
    memcpy(reply, head, strlen(head));
    memcpy(reply + reply_bytes - strlen(tail), tail, strlen(tail));

    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, zero = 0;
    zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret, 40);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(s, bind) != 0) {
        fprintf(stderr, "zmq_echo: cannot bind %s: %s\n", bind, zmq_strerror(zmq_errno()));
        return 2;
    }
    char ep[256];
    size_t eplen = sizeof ep;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &eplen);
    if (endpoint_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", endpoint_file);
        FILE *out = fopen(tmp, "w");
        if (!out) return 2;
        fprintf(out, "%s\n", ep);
        fclose(out);
        rename(tmp, endpoint_file);
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    unsigned long served = 0;
    while (!stop) {
        zmq_msg_t id;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, s, 0) < 0) { /* EINTR on a signal */
            zmq_msg_close(&id);
            continue;
        }
        int more = zmq_msg_more(&id);
        while (more) { /* [media type, body]: read and dropped */
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s, 0) < 0)
                more = 0;
            else
                more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        zmq_msg_send(&id, s, ZMQ_SNDMORE);
        zmq_send(s, reply, reply_bytes, 0);
        zmq_msg_close(&id);
        served++;
    }
    fprintf(stderr, "zmq_echo: %lu requests answered\n", served);
    zmq_close(s);
    zmq_ctx_term(ctx);
    free(reply);
    return 0;
}
