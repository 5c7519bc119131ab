/*
 * The daemon benchmark's local receiver (make bench, docs/benchmarks.md), for
 * both ways the gateway delivers:
 *
 * - the departments' webhook: HTTPS with mutual TLS (libevent evhttp over
 *   bufferevent_openssl, the client certificate checked against the CA) that
 *   answers every delivery 200 (--status).  A POST is one message (headers
 *   X-Msgw-Event-Id, X-Msgw-Kind, X-Msgw-Cause) or, with X-Msgw-Notices: N, a
 *   list document of N eligibility notices (no event id or cause header: each
 *   notice names its own inside), read with libxml2 (mca, cdpf
 *   <EligibilityNotices>) or jansson (a JSON array of hrss notices or of
 *   canonical {"notice_id", "notice"}, a FHIR Bundle of Flags) for their ids
 *   and causes, without any schema (docs/eligibility.md, "Several notices in
 *   one message");
 * - ZeroMQ (docs/zmq.md, include/msgw/deliver/zmq_deliver.h): for each --zmq-key
 *   NAME=FILE, a DEALER with that department's CURVE key connected to the
 *   gateway's zmq.deliver_listen, which says READY on every completed
 *   handshake (so a restarted gateway on the same endpoint is served again),
 *   takes ["EVENT", event_id, kind, media_type, cause, body] and
 *   ["NOTICES", media_type, body, event_id_1, cause_1, event_id_2, cause_2, ...]
 *   (a list of notices, ids and causes in frames: its body is not read) and
 *   acknowledges every event id with ["ACK", event_id...] as soon as nothing
 *   more is waiting.
 *
 * Each delivery is logged when it arrives, one line per message and one per
 * notice of a list, so that the latency from a record's push to the delivery
 * of the notice it caused can be measured:
 *
 *     arrival_ns kind path cause event_id bytes
 *
 * arrival_ns is CLOCK_MONOTONIC (comparable with bench/loadgen's push times on
 * the same machine), kind is record / eligibility (X-Msgw-Kind), path names the
 * recipient (the webhook URL's path, or zmq:NAME), cause is the message id of
 * the record that caused the message (X-Msgw-Cause, or the notice's own in a
 * list; "-" for none).  A notice of a list is given its share of the list's
 * bytes (the body's length divided by N).  On SIGTERM / SIGINT it prints a
 * JSON line of counts; each notice of a list counts as one delivery.
 *
 * --match SENT_LOG RECEIVED_LOG joins loadgen's --sent-log with this log and
 * prints the push-to-delivery latency of every notice of --kind (eligibility)
 * whose cause was pushed in that run: count, p50, p90, p99, max.  With
 * --expected N (the messages the run's replies announced, every kind), the
 * messages not delivered yet count as later than any delivered one: a
 * percentile that falls among them is printed as null (not reached).
 *
 *   receiver --cert F --key F --ca F [--listen 127.0.0.1:0] [--port-file F] [--log F] [--status N]
 *            [--zmq-connect EP --zmq-server-key F --zmq-key NAME=FILE...]
 *   receiver --match SENT_LOG RECEIVED_LOG [--kind eligibility] [--expected N]
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <getopt.h>
#include <iconv.h>
#include <inttypes.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <zmq.h>

#include "notice_refs.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the webhook ------------------------------------------------------------------ */

typedef struct receiver {
    struct event_base *base;
    SSL_CTX *ssl;
    FILE *log;
    int status;
    size_t received, eligibility, records, bytes, zmq_events; /* a list's notices count one each */
    notice_refs refs;                                         /* a list's, reused */
} receiver;

static void record(receiver *rv, uint64_t t, const char *kind, const char *path, const char *cause,
                   const char *event, size_t len)
{
    rv->received++;
    rv->bytes += len;
    if (strcmp(kind, "eligibility") == 0)
        rv->eligibility++;
    else if (strcmp(kind, "record") == 0)
        rv->records++;
    if (rv->log) /* a field with a space in it would only break its own line's parse */
        fprintf(rv->log, "%" PRIu64 " %s %s %s %s %zu\n", t, kind, path, *cause ? cause : "-",
                *event ? event : "-", len);
}

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg)
{
    receiver *rv = arg;
    SSL *ssl = SSL_new(rv->ssl);
    return ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE)
               : NULL;
}

static const char *header(struct evhttp_request *req, const char *name)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    return v && *v ? v : "-";
}

/* Notice i's share of a list's len bytes among n: len / n, the remainder spread over the first
 * notices, so that the shares add up to the body's length. */
static size_t share(size_t len, size_t n, size_t i)
{
    return len / n + (i < len % n ? 1 : 0);
}

/*
 * A POST of n notices (X-Msgw-Notices): one line each, with the id and cause the body gives it.  A
 * body that does not read as the list its Content-Type names still counts n notices, logged with
 * "-" for both (and why on stderr); one that holds another number than n counts what it holds.
 */
static void record_list(receiver *rv, uint64_t t, struct evhttp_request *req, const char *path,
                        size_t n)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    const char *media = header(req, "Content-Type"), *kind = header(req, "X-Msgw-Kind");
    char why[512];
    if (!notice_refs_parse(media, body ? body : "", len, &rv->refs, why, sizeof why)) {
        fprintf(stderr, "receiver: %s: a list of %zu notices of %s: %s\n", path, n, media, why);
        for (size_t i = 0; i < n; i++)
            record(rv, t, kind, path, "", "", share(len, n, i));
        return;
    }
    if (rv->refs.n != n)
        fprintf(stderr, "receiver: %s: X-Msgw-Notices says %zu, the %s list holds %zu\n", path, n,
                media, rv->refs.n);
    for (size_t i = 0; i < rv->refs.n; i++) {
        const notice_ref *r = &rv->refs.v[i];
        record(rv, t, kind, path, r->cause ? r->cause : "", r->id ? r->id : "",
               share(len, rv->refs.n, i));
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    uint64_t t = now_ns();
    receiver *rv = arg;
    size_t len = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    const char *uri = evhttp_request_get_uri(req), *path = uri && *uri ? uri : "/";
    const char *notices =
        evhttp_find_header(evhttp_request_get_input_headers(req), "X-Msgw-Notices");
    long n = notices ? strtol(notices, NULL, 10) : 0;
    if (n > 0)
        record_list(rv, t, req, path, (size_t)n);
    else
        record(rv, t, header(req, "X-Msgw-Kind"), path, header(req, "X-Msgw-Cause"),
               header(req, "X-Msgw-Event-Id"), len);
    if (rv->log) fflush(rv->log); /* --match may read the log while this runs */
    evhttp_send_reply(req, rv->status, rv->status < 300 ? "OK" : "Unavailable", NULL);
}

/* ---- the ZeroMQ consumers --------------------------------------------------------- */

typedef struct zdept {
    receiver *rv;
    char name[64], path[80];
    void *sock, *mon;
    struct event *ev_sock, *ev_mon;
    zmq_msg_t *part; /* the message being read, all its frames (NOTICES has 3 + 2 per notice) */
    size_t cap;
} zdept;

static void read_key(const char *path, const char *which, char out[41])
{
    FILE *f = fopen(path, "r");
    char line[256];
    out[0] = '\0';
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, which, strlen(which)) == 0) {
            line[strcspn(line, "\r\n")] = '\0';
            if (strlen(line + strlen(which)) == 40)
                memcpy(out, line + strlen(which), 41); /* Z85 of 32 bytes */
        }
    if (f) fclose(f);
}

static bool readable(void *sock)
{
    uint32_t ev = 0;
    size_t sz = sizeof ev;
    return zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLIN);
}

static void frame_str(zmq_msg_t *m, char *out, size_t len)
{
    size_t n = zmq_msg_size(m) < len - 1 ? zmq_msg_size(m) : len - 1;
    memcpy(out, zmq_msg_data(m), n);
    out[n] = '\0';
}

static bool frame_is(zmq_msg_t *m, const char *s)
{
    return zmq_msg_size(m) == strlen(s) && memcmp(zmq_msg_data(m), s, strlen(s)) == 0;
}

/* Reads one whole message into z->part; returns its frame count, 0 when none is waiting. */
static size_t recv_message(zdept *z)
{
    size_t n = 0;
    int more = 1;
    while (more) {
        if (n == z->cap) {
            z->cap = z->cap ? z->cap * 2 : 16;
            z->part = realloc(z->part, z->cap * sizeof *z->part);
            if (!z->part) abort();
        }
        zmq_msg_init(&z->part[n]);
        if (zmq_msg_recv(&z->part[n], z->sock, n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&z->part[n]);
            break;
        }
        more = zmq_msg_more(&z->part[n]);
        n++;
    }
    return n;
}

/* ["ACK", id...] for the ids gathered in acks (each NUL-terminated, back to back). */
static void ack_flush(zdept *z, char *acks, size_t len, size_t n)
{
    if (!n) return;
    zmq_send(z->sock, "ACK", 3, ZMQ_SNDMORE);
    for (size_t i = 0, off = 0; i < n; i++) {
        size_t l = strlen(acks + off);
        zmq_send(z->sock, acks + off, l, i + 1 < n ? ZMQ_SNDMORE : 0);
        off += l + 1;
    }
    (void)len;
}

/*
 * ZeroMQ's descriptors are edge-triggered: every wake-up reads until neither
 * socket has anything, re-checking after each send (a send can consume the
 * edge that announced incoming messages).
 */
static void zdept_drain(zdept *z)
{
    enum { ACK_MAX = 256 };
    char acks[ACK_MAX * 160];
    size_t alen = 0, an = 0;
    do {
        zmq_msg_t m;
        zmq_msg_init(&m);
        while (zmq_msg_recv(&m, z->mon, ZMQ_DONTWAIT) >=
               0) { /* [event (16 bit), value][endpoint] */
            uint16_t ev = 0;
            if (zmq_msg_size(&m) >= 2) memcpy(&ev, zmq_msg_data(&m), 2);
            int more = zmq_msg_more(&m);
            while (more) {
                zmq_msg_close(&m);
                zmq_msg_init(&m);
                more = zmq_msg_recv(&m, z->mon, 0) >= 0 && zmq_msg_more(&m);
            }
            if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) zmq_send(z->sock, "READY", 5, ZMQ_DONTWAIT);
            zmq_msg_close(&m);
            zmq_msg_init(&m);
        }
        zmq_msg_close(&m);
        for (;;) {
            size_t n = recv_message(z);
            if (!n) break;
            zmq_msg_t *part = z->part;
            uint64_t t = now_ns();
            /* the event ids to log and acknowledge: one for an EVENT, each notice's for NOTICES */
            size_t count = 0, len = 0;
            char kind[64] = "eligibility";
            bool event = n == 6 && frame_is(&part[0], "EVENT");
            if (event) {
                frame_str(&part[2], kind, sizeof kind);
                count = 1, len = zmq_msg_size(&part[5]);
            } else if (n >= 5 && frame_is(&part[0], "NOTICES")) {
                count = (n - 3) / 2, len = zmq_msg_size(&part[2]);
            }
            for (size_t i = 0; i < count; i++) {
                /* EVENT: id, kind, media type, cause; NOTICES: (id, cause) pairs after the body */
                size_t at = event ? 1 : 3 + 2 * i;
                char id[160], cause[512];
                frame_str(&part[at], id, sizeof id);
                frame_str(&part[event ? 4 : at + 1], cause, sizeof cause);
                /* a notice of a list: its share of the body (len / count) */
                record(z->rv, t, *kind ? kind : "-", z->path, cause, id, share(len, count, i));
                z->rv->zmq_events++;
                size_t l = strlen(id);
                memcpy(acks + alen, id, l + 1);
                alen += l + 1;
                if (++an == ACK_MAX) {
                    ack_flush(z, acks, alen, an);
                    alen = an = 0;
                }
            }
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&part[i]);
        }
        ack_flush(z, acks, alen, an); /* nothing more waiting: acknowledge what came */
        alen = an = 0;
        if (z->rv->log) fflush(z->rv->log);
    } while (readable(z->sock) || readable(z->mon));
}

static void on_zmq(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    zdept_drain(arg);
}

/* NAME=FILE: a DEALER with the department's key, connected to the gateway's delivery endpoint. */
static zdept *zdept_new(receiver *rv, void *ctx, const char *endpoint, const char *server,
                        const char *spec, int serial)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec) return NULL;
    char pub[41], sec[41];
    read_key(eq + 1, "public=", pub);
    read_key(eq + 1, "secret=", sec);
    if (strlen(pub) != 40 || strlen(sec) != 40) return NULL;
    zdept *z = calloc(1, sizeof *z);
    if (!z) abort();
    z->rv = rv;
    snprintf(z->name, sizeof z->name, "%.*s", (int)(eq - spec), spec);
    snprintf(z->path, sizeof z->path, "zmq:%s", z->name);
    z->sock = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, hwm = 0, ivl = 1000, hb_timeout = 5000;
    zmq_setsockopt(z->sock, ZMQ_CURVE_SERVERKEY, server, 40);
    zmq_setsockopt(z->sock, ZMQ_CURVE_PUBLICKEY, pub, 40);
    zmq_setsockopt(z->sock, ZMQ_CURVE_SECRETKEY, sec, 40);
    zmq_setsockopt(z->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(z->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(z->sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(z->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout);
    char mon[64];
    snprintf(mon, sizeof mon, "inproc://receiver-monitor-%d", serial);
    zmq_socket_monitor(z->sock, mon, ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    z->mon = zmq_socket(ctx, ZMQ_PAIR);
    zmq_setsockopt(z->mon, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(z->mon, mon);
    zmq_connect(z->sock, endpoint);
    int sfd, mfd;
    size_t sz = sizeof sfd;
    zmq_getsockopt(z->sock, ZMQ_FD, &sfd, &sz);
    sz = sizeof mfd;
    zmq_getsockopt(z->mon, ZMQ_FD, &mfd, &sz);
    z->ev_sock = event_new(rv->base, sfd, EV_READ | EV_PERSIST, on_zmq, z);
    z->ev_mon = event_new(rv->base, mfd, EV_READ | EV_PERSIST, on_zmq, z);
    event_add(z->ev_sock, NULL);
    event_add(z->ev_mon, NULL);
    return z;
}

static void zdept_destroy(zdept *z)
{
    event_free(z->ev_sock);
    event_free(z->ev_mon);
    zmq_socket_monitor(z->sock, NULL, 0);
    zmq_close(z->sock);
    zmq_close(z->mon);
    free(z->part);
    free(z);
}

/* A safety net for the edge-triggered descriptors: look at every consumer every 50 ms. */
typedef struct zset {
    zdept **v;
    size_t n;
} zset;

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    zset *zs = arg;
    for (size_t i = 0; i < zs->n; i++)
        zdept_drain(zs->v[i]);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    receiver *rv = arg;
    event_base_loopexit(rv->base, NULL);
}

static SSL_CTX *server_tls(const char *cert, const char *key, const char *ca)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        ERR_print_errors_fp(stderr);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    /* as the gateway's listeners (gateway/net/tls.c): without it a resumed session is refused */
    static const unsigned char session_context[] = "msgw-bench-receiver";
    SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
    return ctx;
}

typedef struct zmq_opts {
    const char *connect, *server_key;
    const char **keys; /* NAME=FILE */
    size_t nkeys;
} zmq_opts;

static int serve(const char *listen, const char *port_file, const char *cert, const char *key,
                 const char *ca, const char *log, int status, const zmq_opts *zo)
{
    receiver rv = {.status = status};
    xmlInitParser();
    rv.ssl = server_tls(cert, key, ca);
    if (!rv.ssl) {
        fprintf(stderr, "receiver: cannot load %s, %s or %s\n", cert, key, ca);
        return 2;
    }
    if (log && !(rv.log = fopen(log, "a"))) {
        fprintf(stderr, "receiver: cannot write %s\n", log);
        return 2;
    }
    char host[256];
    snprintf(host, sizeof host, "%s", listen);
    char *colon = strrchr(host, ':');
    int port = colon ? atoi(colon + 1) : 0;
    if (colon) *colon = '\0';
    rv.base = event_base_new();
    struct evhttp *http = evhttp_new(rv.base);
    evhttp_set_bevcb(http, make_tls_bev, &rv);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_POST);
    evhttp_set_gencb(http, on_request, &rv);
    struct evhttp_bound_socket *sock =
        evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    if (!sock) {
        fprintf(stderr, "receiver: cannot listen on %s\n", listen);
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl);
    int bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f) return 2;
        fprintf(f, "%d\n", bound);
        fclose(f);
        rename(tmp, port_file); /* a reader never sees a half-written port */
    }
    void *zctx = NULL;
    zset zs = {0};
    struct event *sweep = NULL;
    if (zo->nkeys) {
        char server[41];
        read_key(zo->server_key, "public=", server);
        if (strlen(server) != 40) {
            fprintf(stderr, "receiver: no public= key in %s\n", zo->server_key);
            return 2;
        }
        zctx = zmq_ctx_new();
        zs.v = calloc(zo->nkeys, sizeof *zs.v);
        if (!zs.v) abort();
        for (size_t i = 0; i < zo->nkeys; i++) {
            zs.v[zs.n] = zdept_new(&rv, zctx, zo->connect, server, zo->keys[i], (int)i);
            if (!zs.v[zs.n]) {
                fprintf(stderr, "receiver: --zmq-key %s: NAME=FILE with public= and secret= keys\n",
                        zo->keys[i]);
                return 2;
            }
            zs.n++;
        }
        sweep = event_new(rv.base, -1, EV_PERSIST, on_sweep, &zs);
        struct timeval every = {0, 50000};
        event_add(sweep, &every);
    }
    struct event *term = evsignal_new(rv.base, SIGTERM, on_signal, &rv);
    struct event *intr = evsignal_new(rv.base, SIGINT, on_signal, &rv);
    event_add(term, NULL);
    event_add(intr, NULL);
    event_base_dispatch(rv.base);
    printf("{\"received\":%zu,\"eligibility\":%zu,\"record\":%zu,\"zmq\":%zu,\"bytes\":%zu}\n",
           rv.received, rv.eligibility, rv.records, rv.zmq_events, rv.bytes);
    event_free(term);
    event_free(intr);
    if (sweep) event_free(sweep);
    for (size_t i = 0; i < zs.n; i++)
        zdept_destroy(zs.v[i]);
    free(zs.v);
    if (zctx) zmq_ctx_term(zctx);
    evhttp_free(http);
    event_base_free(rv.base);
    SSL_CTX_free(rv.ssl);
    if (rv.log) fclose(rv.log);
    notice_refs_free(&rv.refs);
    xmlCleanupParser();
    return 0;
}

/* ---- --match: push time of each cause, arrival time of each notice ---------------------- */

typedef struct slot {
    char *id;
    uint64_t t;
} slot;

typedef struct table {
    slot *v;
    size_t cap, n;
} table;

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static slot *find(table *t, const char *id)
{
    size_t i = (size_t)hash(id) & (t->cap - 1);
    while (t->v[i].id && strcmp(t->v[i].id, id) != 0)
        i = (i + 1) & (t->cap - 1);
    return &t->v[i];
}

static void put(table *t, const char *id, uint64_t when)
{
    if ((t->n + 1) * 2 > t->cap) {
        table bigger = {calloc(t->cap ? t->cap * 2 : 1024, sizeof(slot)),
                        t->cap ? t->cap * 2 : 1024, 0};
        if (!bigger.v) abort();
        for (size_t i = 0; i < t->cap; i++)
            if (t->v[i].id) *find(&bigger, t->v[i].id) = t->v[i];
        bigger.n = t->n;
        free(t->v);
        *t = bigger;
    }
    slot *s = find(t, id);
    if (!s->id) {
        s->id = strdup(id);
        t->n++;
    }
    s->t = when;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Percentile q of n delivered latencies and `missing` not delivered (later than all): JSON number
 * or null. */
static void pct_ms(char *out, size_t len, const uint64_t *v, size_t n, size_t missing, double q)
{
    size_t total = n + missing;
    size_t i = total ? (size_t)(q * (double)(total - 1) + 0.5) : 0;
    if (!n || i >= n)
        snprintf(out, len, "null");
    else
        snprintf(out, len, "%.3f", (double)v[i] / 1e6);
}

static int match(const char *sent_path, const char *recv_path, const char *kind, size_t expected)
{
    FILE *f = fopen(sent_path, "r");
    if (!f) {
        fprintf(stderr, "receiver: cannot read %s\n", sent_path);
        return 2;
    }
    table t = {0};
    char line[2048], id[1024];
    uint64_t when;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%1023s %" SCNu64, id, &when) == 2) put(&t, id, when);
    fclose(f);
    f = fopen(recv_path, "r");
    if (!f) {
        fprintf(stderr, "receiver: cannot read %s\n", recv_path);
        return 2;
    }
    size_t cap = 1024, n = 0, other = 0, unmatched = 0, late = 0, ours = 0;
    uint64_t first = 0, last = 0;
    uint64_t *lat = malloc(cap * sizeof *lat);
    bool *via_zmq = malloc(cap * sizeof *via_zmq);
    if (!lat || !via_zmq) abort();
    char k[64], path[512], cause[1024], event[512];
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%" SCNu64 " %63s %511s %1023s %511s", &when, k, path, cause, event) != 5)
            continue;
        slot *s = t.cap ? find(&t, cause) : NULL;
        if (!s || !s->id) {
            unmatched++; /* caused by a record of another run */
            continue;
        }
        ours++; /* any kind: the delivery rate and what is still missing */
        if (!first || when < first) first = when;
        if (when > last) last = when;
        if (strcmp(k, kind) != 0) {
            other++;
            continue;
        }
        if (when < s->t) {
            late++; /* cannot happen with one clock: counted, not hidden */
            continue;
        }
        if (n == cap) {
            cap *= 2;
            lat = realloc(lat, cap * sizeof *lat);
            via_zmq = realloc(via_zmq, cap * sizeof *via_zmq);
            if (!lat || !via_zmq) abort();
        }
        via_zmq[n] = strncmp(path, "zmq:", 4) == 0;
        lat[n++] = when - s->t;
    }
    fclose(f);
    /* by transport, over what was delivered (the undelivered cannot be told apart) */
    uint64_t *by[2] = {malloc((n + 1) * sizeof *lat), malloc((n + 1) * sizeof *lat)};
    size_t nby[2] = {0, 0};
    if (!by[0] || !by[1]) abort();
    for (size_t i = 0; i < n; i++)
        by[via_zmq[i]][nby[via_zmq[i]]++] = lat[i];
    char tr[2][160];
    for (int w = 0; w < 2; w++) {
        qsort(by[w], nby[w], sizeof *lat, cmp_u64);
        char a[32], b[32];
        pct_ms(a, sizeof a, by[w], nby[w], 0, 0.5);
        pct_ms(b, sizeof b, by[w], nby[w], 0, 0.99);
        snprintf(tr[w], sizeof tr[w], "{\"notices\":%zu,\"p50\":%s,\"p99\":%s}", nby[w], a, b);
    }
    qsort(lat, n, sizeof *lat, cmp_u64);
    size_t missing = expected > ours ? expected - ours : 0;
    char p50[32], p90[32], p99[32];
    pct_ms(p50, sizeof p50, lat, n, missing, 0.5);
    pct_ms(p90, sizeof p90, lat, n, missing, 0.9);
    pct_ms(p99, sizeof p99, lat, n, missing, 0.99);
    double span = last > first ? (double)(last - first) / 1e9 : 0;
    printf("{\"kind\":\"%s\",\"pushed\":%zu,\"notices\":%zu,\"other_kinds\":%zu,\"unmatched\":%zu,"
           "\"before_push\":%zu,"
           "\"expected\":%zu,\"undelivered\":%zu,\"delivered_per_s\":%.1f,"
           "\"latency_ms\":{\"p50\":%s,\"p90\":%s,\"p99\":%s,\"max\":%.3f},\"webhook_ms\":%s,\"zmq_"
           "ms\":%s}\n",
           kind, t.n, n, other, unmatched, late, expected, missing,
           span > 0 ? (double)ours / span : 0, p50, p90, p99, n ? (double)lat[n - 1] / 1e6 : 0,
           tr[0], tr[1]);
    free(by[0]);
    free(by[1]);
    free(via_zmq);
    for (size_t i = 0; i < t.cap; i++)
        free(t.v[i].id);
    free(t.v);
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0", *port_file = NULL, *cert = NULL, *key = NULL, *ca = NULL,
               *log = NULL;
    const char *kind = "eligibility";
    size_t expected = 0;
    bool do_match = false;
    int status = 200;
    zmq_opts zo = {0};
    zo.keys = calloc((size_t)argc + 1, sizeof *zo.keys);
    if (!zo.keys) abort();
    static const struct option lo[] = {
        {"listen", required_argument, 0, 'l'},      {"port-file", required_argument, 0, 'p'},
        {"cert", required_argument, 0, 'c'},        {"key", required_argument, 0, 'k'},
        {"ca", required_argument, 0, 'a'},          {"log", required_argument, 0, 'o'},
        {"status", required_argument, 0, 's'},      {"match", no_argument, 0, 'm'},
        {"kind", required_argument, 0, 'K'},        {"expected", required_argument, 0, 'e'},
        {"zmq-connect", required_argument, 0, 'z'}, {"zmq-server-key", required_argument, 0, 'S'},
        {"zmq-key", required_argument, 0, 'Z'},     {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'p':
            port_file = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'a':
            ca = optarg;
            break;
        case 'o':
            log = optarg;
            break;
        case 's':
            status = atoi(optarg);
            break;
        case 'm':
            do_match = true;
            break;
        case 'K':
            kind = optarg;
            break;
        case 'e':
            expected = strtoul(optarg, NULL, 10);
            break;
        case 'z':
            zo.connect = optarg;
            break;
        case 'S':
            zo.server_key = optarg;
            break;
        case 'Z':
            zo.keys[zo.nkeys++] = optarg;
            break;
        default:
            goto usage;
        }
    }
    if (do_match) {
        if (argc - optind != 2) goto usage;
        free(zo.keys);
        return match(argv[optind], argv[optind + 1], kind, expected);
    }
    if (!cert || !key || !ca || optind != argc || (zo.nkeys && (!zo.connect || !zo.server_key)))
        goto usage;
    signal(SIGPIPE, SIG_IGN);
    int rc = serve(listen, port_file, cert, key, ca, log, status, &zo);
    free(zo.keys);
    return rc;
usage:
    free(zo.keys);
    fprintf(stderr,
            "usage: receiver --cert F --key F --ca F [--listen HOST:PORT] [--port-file F] [--log "
            "F] [--status N]\n"
            "                [--zmq-connect EP --zmq-server-key F --zmq-key NAME=FILE...]\n"
            "       receiver --match SENT_LOG RECEIVED_LOG [--kind eligibility] [--expected N]\n");
    return 2;
}
