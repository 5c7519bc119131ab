/*
 * A department's ZeroMQ delivery consumer, for the tests and the benchmark
 * (docs/zmq.md): connects a DEALER with CURVE keys to the gateway's
 * zmq.deliver_listen, says READY on every (re)connection, receives
 * ["EVENT", event_id, kind, media_type, cause, body], acknowledges with
 * ["ACK", id...] (batched), de-duplicates by event id and prints one line
 * per distinct event: "event_id cause kind media_type bytes" (cause "-"
 * when there is none).
 *
 * usage: zmq_consumer ENDPOINT SERVER_CURVE_FILE CLIENT_CURVE_FILE [options]
 *   --acks N|all        acknowledge only the first N distinct events (default all)
 *   --exit-after N      stop after N distinct events (their acks sent first); exit 1 on timeout
 *   --drop-first N      receive N events without acknowledging or printing them ("dropped ID" on
 *                       stderr), then disconnect and connect again (a consumer that crashed: the
 *                       gateway must redeliver them)
 *   --timeout S         give up after S seconds without a new event (default 30)
 *   --report-duplicates print each event received again on stderr ("duplicate ID")
 *   --quiet             print no event lines (benchmarks)
 * On exit, stderr gets "consumer: N events, D duplicates, S seconds".
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "zmq_client.h"

/* ---- the set of event ids seen (open addressing; ids are never removed) ---- */

typedef struct seen {
    char **v;
    size_t cap, n;
} seen;

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Adds id; returns its index in insertion order (a new one: n - 1), and *fresh. */
static bool seen_add(seen *s, const char *id)
{
    if ((s->n + 1) * 2 > s->cap) {
        char **old = s->v;
        size_t oc = s->cap;
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = calloc(s->cap, sizeof *s->v);
        if (!s->v) abort();
        for (size_t i = 0; i < oc; i++)
            if (old[i]) {
                size_t k = hash(old[i]) & (s->cap - 1);
                while (s->v[k])
                    k = (k + 1) & (s->cap - 1);
                s->v[k] = old[i];
            }
        free(old);
    }
    size_t k = hash(id) & (s->cap - 1);
    for (; s->v[k]; k = (k + 1) & (s->cap - 1))
        if (strcmp(s->v[k], id) == 0) return false;
    s->v[k] = strdup(id);
    s->n++;
    return true;
}

static bool seen_has(const seen *s, const char *id)
{
    if (!s->cap) return false;
    for (size_t k = hash(id) & (s->cap - 1); s->v[k]; k = (k + 1) & (s->cap - 1))
        if (strcmp(s->v[k], id) == 0) return true;
    return false;
}

static void seen_free(seen *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->v[i]);
    free(s->v);
}

/* ---- the connection ---- */

typedef struct conn {
    void *ctx, *sock, *mon;
    const char *endpoint;
    char server[41], pub[41], sec[41];
    int serial;
} conn;

static void conn_open(conn *c)
{
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    int ivl = 1000, timeout = 5000, linger = 5000, hwm = 100000;
    zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->server, 40);
    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->pub, 40);
    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->sec, 40);
    zmq_setsockopt(c->sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(c->sock, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof timeout);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger,
                   sizeof linger); /* acks reach the gateway before exit */
    zmq_setsockopt(c->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    char mon[64];
    snprintf(mon, sizeof mon, "inproc://consumer-monitor-%d", c->serial++);
    /* READY goes on every completed handshake: the first connection and each reconnection */
    zmq_socket_monitor(c->sock, mon, ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    c->mon = zmq_socket(c->ctx, ZMQ_PAIR);
    zmq_connect(c->mon, mon);
    zmq_connect(c->sock, c->endpoint);
}

static void conn_close(conn *c, bool flush)
{
    if (!flush) {
        int zero = 0;
        zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    }
    zmq_socket_monitor(c->sock, NULL, 0);
    zmq_close(c->sock);
    int zero = 0;
    zmq_setsockopt(c->mon, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(c->mon);
}

/* A monitor event: [16-bit event, 32-bit value][endpoint]. Returns the event, 0 when none. */
static int monitor_event(conn *c)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return 0;
    }
    uint16_t ev = 0;
    if (zmq_msg_size(&m) >= 2) memcpy(&ev, zmq_msg_data(&m), 2);
    int more = zmq_msg_more(&m);
    zmq_msg_close(&m);
    while (more) { /* the endpoint frame */
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->mon, 0) < 0) break;
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return ev;
}

/* ---- acknowledgements ---- */

typedef struct acks {
    char **v;
    size_t n, cap;
} acks;

static void ack_add(acks *a, const char *id)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->v = realloc(a->v, a->cap * sizeof *a->v);
        if (!a->v) abort();
    }
    a->v[a->n++] = strdup(id);
}

static void ack_flush(conn *c, acks *a)
{
    if (!a->n) return;
    zmq_send(c->sock, "ACK", 3, ZMQ_SNDMORE);
    for (size_t i = 0; i < a->n; i++) {
        zmq_send(c->sock, a->v[i], strlen(a->v[i]), i + 1 < a->n ? ZMQ_SNDMORE : 0);
        free(a->v[i]);
    }
    a->n = 0;
}

/* Reads one message into frames (at most 6 kept); returns the frame count, 0 when none. */
static int recv_event(conn *c, zmq_msg_t part[6])
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->sock, n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            for (int i = 0; i < n; i++)
                zmq_msg_close(&part[i]);
            return 0;
        }
        more = zmq_msg_more(&m);
        if (n < 6)
            part[n++] = m;
        else
            zmq_msg_close(&m);
    }
    return n;
}

static void frame_str(zmq_msg_t *m, char *out, size_t len)
{
    size_t n = zmq_msg_size(m) < len - 1 ? zmq_msg_size(m) : len - 1;
    memcpy(out, zmq_msg_data(m), n);
    out[n] = '\0';
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: zmq_consumer ENDPOINT SERVER_CURVE CLIENT_CURVE [--acks N|all] "
                        "[--exit-after N] "
                        "[--drop-first N] [--timeout S] [--report-duplicates] [--quiet]\n");
        return 2;
    }
    long ack_limit = -1, exit_after = -1, drop_first = 0;
    double timeout = 30;
    bool report = false, quiet = false;
    for (int i = 4; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--report-duplicates") == 0)
            report = true;
        else if (strcmp(a, "--quiet") == 0)
            quiet = true;
        else if (!v) {
            fprintf(stderr, "zmq_consumer: %s needs a value\n", a);
            return 2;
        } else if (strcmp(a, "--acks") == 0)
            ack_limit = strcmp(v, "all") == 0 ? -1 : atol(v), i++;
        else if (strcmp(a, "--exit-after") == 0)
            exit_after = atol(v), i++;
        else if (strcmp(a, "--drop-first") == 0)
            drop_first = atol(v), i++;
        else if (strcmp(a, "--timeout") == 0)
            timeout = atof(v), i++;
        else {
            fprintf(stderr, "zmq_consumer: unknown option %s\n", a);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    conn c = {.ctx = zmq_ctx_new(), .endpoint = argv[1]};
    zc_key(argv[2], "public=", c.server);
    zc_key(argv[3], "public=", c.pub);
    zc_key(argv[3], "secret=", c.sec);
    if (strlen(c.server) != 40 || strlen(c.pub) != 40 || strlen(c.sec) != 40) {
        fprintf(stderr, "zmq_consumer: no CURVE keys in %s / %s\n", argv[2], argv[3]);
        return 2;
    }
    conn_open(&c);
    seen all = {0}, acked = {0};
    acks pending = {0};
    long dropped = 0, duplicates = 0, readies = 0;
    double start = zc_now(), last = start;
    int rc = 0;
    while (exit_after < 0 || (long)all.n < exit_after) {
        if (zc_now() - last > timeout) {
            if (exit_after >= 0) {
                fprintf(stderr,
                        "zmq_consumer: timeout: %zu of %ld events after %.0f s without one\n",
                        all.n, exit_after, timeout);
                rc = 1;
            }
            break;
        }
        zmq_pollitem_t items[2] = {{.socket = c.sock, .events = ZMQ_POLLIN},
                                   {.socket = c.mon, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, 2, 100) < 0 && zmq_errno() != EINTR) break;
        int ev;
        while ((ev = monitor_event(&c)) != 0)
            if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
                zmq_send(c.sock, "READY", 5, 0);
                readies++;
            }
        zmq_msg_t part[6];
        int n;
        bool reconnect = false;
        while ((exit_after < 0 || (long)all.n < exit_after) && (n = recv_event(&c, part)) > 0) {
            if (n == 6 && zmq_msg_size(&part[0]) == 5 &&
                memcmp(zmq_msg_data(&part[0]), "EVENT", 5) == 0) {
                char id[160], kind[64], media[128], cause[512];
                frame_str(&part[1], id, sizeof id);
                frame_str(&part[2], kind, sizeof kind);
                frame_str(&part[3], media, sizeof media);
                frame_str(&part[4], cause, sizeof cause);
                last = zc_now();
                if (dropped < drop_first) {
                    /* "crash" before processing: no ack, nothing recorded */
                    fprintf(stderr, "dropped %s\n", id);
                    if (++dropped == drop_first) reconnect = true;
                } else {
                    if (seen_add(&all, id)) {
                        if (!quiet)
                            printf("%s %s %s %s %zu\n", id, *cause ? cause : "-", kind, media,
                                   zmq_msg_size(&part[5]));
                    } else {
                        duplicates++;
                        if (report) fprintf(stderr, "duplicate %s\n", id);
                    }
                    /* acknowledge what is within the limit, again if it is redelivered */
                    if (ack_limit < 0 || seen_has(&acked, id) || (long)acked.n < ack_limit) {
                        seen_add(&acked, id);
                        ack_add(&pending, id);
                    }
                }
            }
            for (int i = 0; i < n; i++)
                zmq_msg_close(&part[i]);
            if (pending.n >= 256) ack_flush(&c, &pending);
            if (reconnect) break;
        }
        ack_flush(&c, &pending); /* nothing more waiting: acknowledge what came */
        if (reconnect) {
            fprintf(stderr, "zmq_consumer: dropped %ld events unacknowledged; reconnecting\n",
                    dropped);
            conn_close(&c, false);
            conn_open(&c);
        }
    }
    ack_flush(&c, &pending);
    fprintf(stderr, "consumer: %zu events, %ld duplicates, %ld READY, %.2f seconds\n", all.n,
            duplicates, readies, zc_now() - start);
    conn_close(&c, true);
    zmq_ctx_term(c.ctx);
    seen_free(&all);
    seen_free(&acked);
    free(pending.v);
    return rc;
}
