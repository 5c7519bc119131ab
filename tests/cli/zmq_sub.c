/*
 * A subscriber to the gateway's monitoring feed, for the tests
 * (docs/zmq.md): connects a SUB with CURVE keys to zmq.feed_listen,
 * subscribes to the given topics (all when none) and prints one line per
 * message: "TOPIC JSON".
 *
 * usage: zmq_sub ENDPOINT SERVER_CURVE_FILE CLIENT_CURVE_FILE [options]
 *   --topic T          subscribe to T (repeatable; default: everything)
 *   --until T=N        stop once N messages of topic T came (repeatable: all must be met)
 *   --ready-file F     write F once the connection is up (its handshake done)
 *   --timeout S        stop after S seconds in all (default 60); exit 1 if an --until is unmet
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "zmq_client.h"

typedef struct until {
    char topic[64];
    long want, got;
} until;

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr,
                "usage: zmq_sub ENDPOINT SERVER_CURVE CLIENT_CURVE [--topic T]... [--until T=N]... "
                "[--ready-file F] [--timeout S]\n");
        return 2;
    }
    char server[41], pub[41], sec[41];
    zc_key(argv[2], "public=", server);
    zc_key(argv[3], "public=", pub);
    zc_key(argv[3], "secret=", sec);
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_SUB), *mon = zmq_socket(ctx, ZMQ_PAIR);
    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server, 40);
    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
    until u[16];
    int nu = 0, ntopics = 0;
    const char *ready_file = NULL;
    double timeout = 60;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--topic") == 0) {
            zmq_setsockopt(s, ZMQ_SUBSCRIBE, argv[i + 1], strlen(argv[i + 1]));
            ntopics++;
        } else if (strcmp(argv[i], "--until") == 0 && nu < 16) {
            const char *eq = strchr(argv[i + 1], '=');
            if (!eq) return 2;
            snprintf(u[nu].topic, sizeof u[nu].topic, "%.*s", (int)(eq - argv[i + 1]), argv[i + 1]);
            u[nu].want = atol(eq + 1);
            u[nu++].got = 0;
        } else if (strcmp(argv[i], "--ready-file") == 0) {
            ready_file = argv[i + 1];
        } else if (strcmp(argv[i], "--timeout") == 0) {
            timeout = atof(argv[i + 1]);
        } else {
            fprintf(stderr, "zmq_sub: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!ntopics) zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    zmq_socket_monitor(s, "inproc://sub-monitor", ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    zmq_connect(mon, "inproc://sub-monitor");
    zmq_connect(s, argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    double start = zc_now();
    int rc = 0;
    for (;;) {
        bool met = nu > 0;
        for (int i = 0; i < nu; i++)
            met = met && u[i].got >= u[i].want;
        if (met) break;
        if (zc_now() - start > timeout) {
            for (int i = 0; i < nu; i++)
                if (u[i].got < u[i].want) {
                    fprintf(stderr, "zmq_sub: %ld of %ld %s messages in %.0f s\n", u[i].got,
                            u[i].want, u[i].topic, timeout);
                    rc = 1;
                }
            break;
        }
        zmq_pollitem_t items[2] = {{.socket = s, .events = ZMQ_POLLIN},
                                   {.socket = mon, .events = ZMQ_POLLIN}};
        zmq_poll(items, 2, 100);
        zmq_msg_t m;
        zmq_msg_init(&m);
        while (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) >= 0) {
            uint16_t ev = 0;
            if (zmq_msg_size(&m) >= 2) memcpy(&ev, zmq_msg_data(&m), 2);
            if (zmq_msg_more(&m)) zmq_msg_recv(&m, mon, 0);
            if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED && ready_file) {
                FILE *f = fopen(ready_file, "w");
                if (f) fclose(f);
            }
        }
        char topic[64], body[65536];
        int tl;
        while ((tl = zmq_recv(s, topic, sizeof topic - 1, ZMQ_DONTWAIT)) >= 0) {
            topic[tl < (int)sizeof topic - 1 ? tl : (int)sizeof topic - 1] = '\0';
            int bl = zmq_recv(s, body, sizeof body - 1, 0);
            if (bl < 0) break;
            body[bl < (int)sizeof body - 1 ? bl : (int)sizeof body - 1] = '\0';
            printf("%s %s\n", topic, body);
            for (int i = 0; i < nu; i++)
                if (strcmp(u[i].topic, topic) == 0) u[i].got++;
        }
        zmq_msg_close(&m);
    }
    zmq_socket_monitor(s, NULL, 0);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(s);
    zmq_close(mon);
    zmq_ctx_term(ctx);
    return rc;
}
