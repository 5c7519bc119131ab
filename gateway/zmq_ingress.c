/*
 * ZeroMQ ingress (include/msgw/zmq_ingress.h).  ZeroMQ's file descriptor is
 * edge-triggered: every wake-up drains the socket until ZMQ_EVENTS says
 * nothing is readable, or a message would be missed until the next one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "msgw/zmq_ingress.h"

struct msgw_zmq_ingress {
    const msgw_config *cfg;
    msgw_ingest *ingest;
    void *ctx, *router, *zap;
    struct event *router_ev, *zap_ev;
    uint8_t (*keys)[32]; /* departments' CURVE public keys, binary; parallel to cfg->departments */
    bool *has_key;
    char endpoint[256];
};

static bool read_secret(const char *path, char secret[41], msgw_errors *e)
{
    FILE *f = fopen(path, "r");
    char line[128];
    bool found = false;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "secret=", 7) == 0 && strlen(line) >= 47) {
            memcpy(secret, line + 7, 40);
            secret[40] = '\0';
            found = true;
        }
    if (f) fclose(f);
    if (!found)
        msgw_error_add(e, -1, "/zmq/curve_secret_file", NULL, "zmq.secret", "%s holds no secret= line (certs/dev-pki.sh)",
                       path);
    return found;
}

/* ZAP: admit a CURVE client only if its key is a department's; its User-Id is the department. */
static void serve_zap(msgw_zmq_ingress *z)
{
    for (;;) {
        zmq_msg_t part[7];
        int n = 0, more = 1;
        while (more && n < 7) {
            zmq_msg_init(&part[n]);
            if (zmq_msg_recv(&part[n], z->zap, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part[n]);
                for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
                return;
            }
            more = zmq_msg_more(&part[n]);
            n++;
        }
        const char *who = NULL;
        if (n >= 7 && zmq_msg_size(&part[5]) == 5 && memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 &&
            zmq_msg_size(&part[6]) == 32)
            for (size_t i = 0; i < z->cfg->ndepartments && !who; i++)
                if (z->has_key[i] && memcmp(z->keys[i], zmq_msg_data(&part[6]), 32) == 0) who = z->cfg->departments[i].id;
        zmq_send(z->zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(z->zap, n > 1 ? zmq_msg_data(&part[1]) : "", n > 1 ? zmq_msg_size(&part[1]) : 0, ZMQ_SNDMORE);
        zmq_send(z->zap, who ? "200" : "400", 3, ZMQ_SNDMORE);
        const char *text = who ? "OK" : "unknown CURVE key";
        zmq_send(z->zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(z->zap, who ? who : "", who ? strlen(who) : 0, ZMQ_SNDMORE);
        zmq_send(z->zap, "", 0, 0);
        for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
    }
}

static void reply(msgw_zmq_ingress *z, zmq_msg_t *identity, bool delimiter, const char *body, size_t len)
{
    zmq_msg_send(identity, z->router, ZMQ_SNDMORE);
    if (delimiter) zmq_send(z->router, "", 0, ZMQ_SNDMORE);
    zmq_send(z->router, body, len, 0);
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
    bool delimiter = n >= 2 && zmq_msg_size(&part[1]) == 0;
    int first = delimiter ? 2 : 1;
    msgw_buf out;
    msgw_buf_init(&out);
    const char *user = n > first ? zmq_msg_gets(&part[first], "User-Id") : NULL;
    const msgw_department *dept = user ? msgw_config_department(z->cfg, user) : NULL;
    if (!ok || n - first != 2 || !dept) {
        msgw_buf_puts(&out, "{\"status\":400,\"errors\":[{\"rule\":\"zmq.request\",\"message\":\"a request is "
                            "[media type, body] from an admitted department\"}]}");
    } else {
        char media[256];
        size_t ml = zmq_msg_size(&part[first]);
        snprintf(media, sizeof media, "%.*s", (int)(ml < sizeof media ? ml : sizeof media - 1),
                 (const char *)zmq_msg_data(&part[first]));
        if (zmq_msg_size(&part[first + 1]) > z->cfg->max_body_bytes)
            msgw_buf_puts(&out, "{\"status\":413,\"errors\":[{\"rule\":\"zmq.size\",\"message\":\"body too large\"}]}");
        else
            msgw_ingest_push(z->ingest, dept, media, zmq_msg_data(&part[first + 1]), zmq_msg_size(&part[first + 1]),
                             &out);
    }
    reply(z, &part[0], delimiter, out.data ? out.data : "", out.len);
    msgw_buf_free(&out);
    for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
    return true;
}

static void on_zap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    serve_zap(arg);
}

static void on_router(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    msgw_zmq_ingress *z = arg;
    serve_zap(z); /* a new client's handshake may be waiting on the ZAP socket */
    while (serve_one(z)) serve_zap(z);
}

static struct event *watch(struct event_base *base, void *sock, event_callback_fn cb, void *arg)
{
    int fd;
    size_t len = sizeof fd;
    zmq_getsockopt(sock, ZMQ_FD, &fd, &len);
    struct event *ev = event_new(base, fd, EV_READ | EV_PERSIST, cb, arg);
    event_add(ev, NULL);
    return ev;
}

static void load_keys(msgw_zmq_ingress *z, const msgw_config *cfg)
{
    free(z->keys);
    free(z->has_key);
    z->cfg = cfg;
    z->keys = calloc(cfg->ndepartments + 1, sizeof *z->keys);
    z->has_key = calloc(cfg->ndepartments + 1, sizeof *z->has_key);
    if (!z->keys || !z->has_key) abort();
    for (size_t i = 0; i < cfg->ndepartments; i++)
        z->has_key[i] = cfg->departments[i].curve_public && zmq_z85_decode(z->keys[i], cfg->departments[i].curve_public);
}

void msgw_zmq_ingress_reconfigure(msgw_zmq_ingress *z, const msgw_config *cfg)
{
    load_keys(z, cfg);
}

msgw_zmq_ingress *msgw_zmq_ingress_new(struct event_base *base, const msgw_config *cfg, msgw_ingest *ingest,
                                       msgw_errors *e)
{
    char secret[41];
    if (!cfg->zmq_listen || !read_secret(cfg->zmq_secret_file, secret, e)) return NULL;
    msgw_zmq_ingress *z = calloc(1, sizeof *z);
    if (!z) abort();
    z->cfg = cfg;
    z->ingest = ingest;
    load_keys(z, cfg);
    z->ctx = zmq_ctx_new();
    z->zap = zmq_socket(z->ctx, ZMQ_REP);
    if (zmq_bind(z->zap, "inproc://zeromq.zap.01") != 0) {
        msgw_error_add(e, -1, "/zmq", NULL, "zmq.zap", "cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
        msgw_zmq_ingress_destroy(&z);
        return NULL;
    }
    z->router = zmq_socket(z->ctx, ZMQ_ROUTER);
    int one = 1, hwm = (int)(cfg->queue_max_records < 1000000 ? cfg->queue_max_records : 1000000);
    zmq_setsockopt(z->router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(z->router, ZMQ_CURVE_SECRETKEY, secret, 40);
    zmq_setsockopt(z->router, ZMQ_ZAP_DOMAIN, "msgw", 4);
    zmq_setsockopt(z->router, ZMQ_RCVHWM, &hwm, sizeof hwm); /* back-pressure: senders block beyond it */
    zmq_setsockopt(z->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (zmq_bind(z->router, cfg->zmq_listen) != 0) {
        msgw_error_add(e, -1, "/zmq/listen", "listen", "zmq.bind", "cannot listen on %s: %s", cfg->zmq_listen,
                       zmq_strerror(zmq_errno()));
        msgw_zmq_ingress_destroy(&z);
        return NULL;
    }
    size_t len = sizeof z->endpoint;
    zmq_getsockopt(z->router, ZMQ_LAST_ENDPOINT, z->endpoint, &len);
    z->zap_ev = watch(base, z->zap, on_zap, z);
    z->router_ev = watch(base, z->router, on_router, z);
    return z;
}

void msgw_zmq_ingress_destroy(msgw_zmq_ingress **zp)
{
    if (!zp || !*zp) return;
    msgw_zmq_ingress *z = *zp;
    if (z->router_ev) event_free(z->router_ev);
    if (z->zap_ev) event_free(z->zap_ev);
    int zero = 0;
    if (z->router) {
        zmq_setsockopt(z->router, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(z->router);
    }
    if (z->zap) {
        zmq_setsockopt(z->zap, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(z->zap);
    }
    if (z->ctx) zmq_ctx_term(z->ctx);
    free(z->keys);
    free(z->has_key);
    free(z);
    *zp = NULL;
}

const char *msgw_zmq_ingress_endpoint(const msgw_zmq_ingress *z)
{
    return z->endpoint;
}
