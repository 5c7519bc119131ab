/*
 * The ZeroMQ listener (include/msgw/ingress/listener.h; docs/zmq.md): a ROUTER socket with CURVE
 * encryption, authenticated by the hub's ZAP handler, which admits only the CURVE public keys the
 * configuration gives departments; the key identifies the department.  A request is [media type,
 * body] (a REQ client's empty delimiter allowed); the reply, [status JSON], is sent after the
 * durable commit.  Clients may pipeline requests (DEALER); answers keep the requests' order.  A
 * full commit queue stops the reading, so senders block at the high-water mark.  The sockets join
 * the libevent loop through ZMQ_FD, so one thread serves HTTPS and ZeroMQ.
 *
 * ZeroMQ's file descriptor is edge-triggered: every wake-up drains the socket until ZMQ_EVENTS
 * says nothing is readable, or a message would be missed until the next one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "msgw/ingress/listener.h"

typedef struct msgw_zmq_ingress {
    const msgw_config *cfg;
    msgw_ingest *ingest;
    msgw_zmq_hub *hub;
    void *router;
    struct event *router_ev;
    bool paused; /* draining at shutdown: no new requests */
    unsigned long long requests;
    char endpoint[256];
} msgw_zmq_ingress;

/* Where an answer goes: the client's routing id, and whether it sent a REQ delimiter. */
typedef struct pending {
    msgw_zmq_ingress *z;
    zmq_msg_t identity;
    bool delimiter;
} pending;

static void on_answer(void *ud, int status, const char *body, size_t len)
{
    pending *p = ud;
    if (status) {
        /* a client gone since is no error: ROUTER_MANDATORY makes the send fail, nothing waits */
        if (zmq_msg_send(&p->identity, p->z->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) {
            if (p->delimiter) zmq_send(p->z->router, "", 0, ZMQ_SNDMORE);
            zmq_send(p->z->router, body, len, ZMQ_DONTWAIT);
        }
    }
    zmq_msg_close(&p->identity);
    free(p);
}

static void refuse_request(pending *p, const char *json)
{
    on_answer(p, 400, json, strlen(json));
}

/* One request: [identity, (empty), media type, body]. Returns false when nothing was waiting. */
static bool serve_one(msgw_zmq_ingress *z)
{
    zmq_msg_t part[4];
    int n = 0, more = 1;
    bool ok = true;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
            return false;
        }
        more = zmq_msg_more(&m);
        if (n < 4) part[n++] = m;
        else {
            zmq_msg_close(&m);
            ok = false; /* too many frames: answered as a bad request below */
        }
    }
    pending *p = calloc(1, sizeof *p);
    if (!p) abort();
    z->requests++;
    p->z = z;
    p->delimiter = n >= 2 && zmq_msg_size(&part[1]) == 0;
    zmq_msg_init(&p->identity);
    zmq_msg_move(&p->identity, &part[0]);
    int first = p->delimiter ? 2 : 1;
    const char *user = n > first ? zmq_msg_gets(&part[first], "User-Id") : NULL;
    const msgw_department *dept = user ? msgw_config_department(z->cfg, user) : NULL;
    if (!ok || n - first != 2 || !dept) {
        refuse_request(p, "{\"status\":400,\"errors\":[{\"rule\":\"zmq.request\",\"message\":\"a request is "
                          "[media type, body] from an admitted department\"}]}");
    } else if (zmq_msg_size(&part[first + 1]) > z->cfg->max_body_bytes) {
        const char *big = "{\"status\":413,\"errors\":[{\"rule\":\"zmq.size\",\"message\":\"body too large\"}]}";
        on_answer(p, 413, big, strlen(big));
    } else {
        char media[256];
        size_t ml = zmq_msg_size(&part[first]);
        snprintf(media, sizeof media, "%.*s", (int)(ml < sizeof media ? ml : sizeof media - 1),
                 (const char *)zmq_msg_data(&part[first]));
        /* ordered: a pipelining client gets its answers in the order of its requests */
        msgw_ingest_submit(z->ingest, dept, media, zmq_msg_data(&part[first + 1]), zmq_msg_size(&part[first + 1]), true,
                           on_answer, p, NULL);
    }
    for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
    return true;
}

/*
 * Reads requests until none is waiting or the commit queue is full.  A full
 * queue stops the reading (the clients' sends then block at the high-water
 * mark: ZeroMQ's own flow control); the worker's progress resumes it.
 */
static void drain(msgw_zmq_ingress *z)
{
    msgw_zmq_hub_serve_zap(z->hub); /* a new client's handshake may be waiting on the ZAP socket */
    while (!z->paused && !msgw_ingest_saturated(z->ingest) && serve_one(z)) msgw_zmq_hub_serve_zap(z->hub);
}

static void on_progress(void *arg)
{
    drain(arg);
}

static void on_router(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain(arg);
}

/* The admitted keys and departments change; the endpoint does not. */
static bool zmq_reconfigure(void *l, const msgw_listener_env *env, msgw_errors *e)
{
    (void)e;
    ((msgw_zmq_ingress *)l)->cfg = env->cfg;
    return true;
}

static void zmq_stop(void **zp)
{
    if (!zp || !*zp) return;
    msgw_zmq_ingress *z = *zp;
    if (z->router_ev) event_free(z->router_ev);
    if (z->router) {
        int zero = 0;
        zmq_setsockopt(z->router, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(z->router);
    }
    free(z);
    *zp = NULL;
}

/* Binds cfg->zmq_listen as a CURVE server authenticated by the hub (ZAP domain "msgw"). */
static void *zmq_start(const msgw_listener_env *env, msgw_errors *e)
{
    const msgw_config *cfg = env->cfg;
    msgw_zmq_ingress *z = calloc(1, sizeof *z);
    if (!z) abort();
    z->cfg = cfg;
    z->ingest = env->ingest;
    z->hub = env->hub;
    z->router = zmq_socket(msgw_zmq_hub_context(env->hub), ZMQ_ROUTER);
    int one = 1, hwm = (int)(cfg->queue_max_records < 1000000 ? cfg->queue_max_records : 1000000);
    msgw_zmq_hub_secure(env->hub, z->router, "msgw");
    zmq_setsockopt(z->router, ZMQ_RCVHWM, &hwm,
                   sizeof hwm); /* back-pressure: senders block beyond it */
    zmq_setsockopt(z->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (zmq_bind(z->router, cfg->zmq_listen) != 0) {
        msgw_error_add(e, -1, "/zmq/listen", "listen", "zmq.bind", "cannot listen on %s: %s",
                       cfg->zmq_listen, zmq_strerror(zmq_errno()));
        void *zp = z;
        zmq_stop(&zp);
        return NULL;
    }
    size_t len = sizeof z->endpoint;
    zmq_getsockopt(z->router, ZMQ_LAST_ENDPOINT, z->endpoint, &len);
    z->router_ev = msgw_zmq_hub_watch(env->base, z->router, on_router, z);
    msgw_ingest_on_progress(env->ingest, on_progress, z);
    return z;
}

/* SIGTERM: the requests taken are answered, the rest wait in ZeroMQ's queues. */
static void zmq_pause(void *l)
{
    ((msgw_zmq_ingress *)l)->paused = true;
}

static const char *zmq_endpoint(const void *l)
{
    return ((const msgw_zmq_ingress *)l)->endpoint;
}

static json_t *zmq_stats(const void *l)
{
    return json_pack("{s:I}", "requests", (json_int_t)((const msgw_zmq_ingress *)l)->requests);
}

static bool zmq_wanted(const msgw_config *cfg)
{
    return cfg->zmq_listen != NULL;
}

const msgw_listener_ops msgw_zmq_listener = {
    .name = "zmq",
    .port_file = "zmq",
    .needs_hub = true,
    .wanted = zmq_wanted,
    .start = zmq_start,
    .stop = zmq_stop,
    .pause = zmq_pause,
    .reconfigure = zmq_reconfigure,
    .endpoint = zmq_endpoint,
    .stats = zmq_stats,
};
