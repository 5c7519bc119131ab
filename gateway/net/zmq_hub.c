/*
 * The ZeroMQ hub (include/msgw/net/zmq_hub.h): one context, the gateway's CURVE
 * secret and the ZAP handler that maps a client's public key to its
 * department.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "msgw/net/zmq_hub.h"

struct msgw_zmq_hub {
    const msgw_config *cfg;
    void *ctx, *zap;
    struct event *zap_ev;
    uint8_t (*keys)[32]; /* departments' CURVE public keys, binary; parallel to cfg->departments */
    bool *has_key;
    uint8_t (*admin_keys)[32]; /* administrators' (cfg->admin_curve), binary */
    size_t nadmin_keys;
    char secret[41];
};

static bool read_secret(const char *path, char secret[41], msgw_errors *e)
{
    FILE *f = path ? fopen(path, "r") : NULL;
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
                       path ? path : "(no file configured)");
    return found;
}

static void load_keys(msgw_zmq_hub *h, const msgw_config *cfg)
{
    free(h->keys);
    free(h->has_key);
    h->cfg = cfg;
    h->keys = calloc(cfg->ndepartments + 1, sizeof *h->keys);
    h->has_key = calloc(cfg->ndepartments + 1, sizeof *h->has_key);
    if (!h->keys || !h->has_key) abort();
    for (size_t i = 0; i < cfg->ndepartments; i++)
        h->has_key[i] = cfg->departments[i].curve_public && zmq_z85_decode(h->keys[i], cfg->departments[i].curve_public);
    free(h->admin_keys);
    h->admin_keys = calloc(cfg->nadmin_curve + 1, sizeof *h->admin_keys);
    if (!h->admin_keys) abort();
    h->nadmin_keys = 0;
    for (size_t i = 0; i < cfg->nadmin_curve; i++)
        if (zmq_z85_decode(h->admin_keys[h->nadmin_keys], cfg->admin_curve[i])) h->nadmin_keys++;
}

static bool is_admin_key(const msgw_zmq_hub *h, const void *key)
{
    for (size_t i = 0; i < h->nadmin_keys; i++)
        if (memcmp(h->admin_keys[i], key, 32) == 0) return true;
    return false;
}

/* The department whose key this is, or NULL. */
static const char *department_for_key(const msgw_zmq_hub *h, const void *key)
{
    for (size_t i = 0; i < h->cfg->ndepartments; i++)
        if (h->has_key[i] && memcmp(h->keys[i], key, 32) == 0) return h->cfg->departments[i].id;
    return NULL;
}

void msgw_zmq_hub_serve_zap(msgw_zmq_hub *h)
{
    for (;;) {
        zmq_msg_t part[7];
        int n = 0, more = 1;
        while (more && n < 7) {
            zmq_msg_init(&part[n]);
            if (zmq_msg_recv(&part[n], h->zap, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part[n]);
                for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
                return;
            }
            more = zmq_msg_more(&part[n]);
            n++;
        }
        const char *who = NULL;
        /* the monitoring feed is the administrators' (domain "feed"); the rest the departments' */
        bool feed = n >= 3 && zmq_msg_size(&part[2]) == 4 && memcmp(zmq_msg_data(&part[2]), "feed", 4) == 0;
        if (n >= 7 && zmq_msg_size(&part[5]) == 5 && memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 &&
            zmq_msg_size(&part[6]) == 32)
            who = feed ? (is_admin_key(h, zmq_msg_data(&part[6])) ? "admin" : NULL)
                       : department_for_key(h, zmq_msg_data(&part[6]));
        zmq_send(h->zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(h->zap, n > 1 ? zmq_msg_data(&part[1]) : "", n > 1 ? zmq_msg_size(&part[1]) : 0, ZMQ_SNDMORE);
        zmq_send(h->zap, who ? "200" : "400", 3, ZMQ_SNDMORE);
        const char *text = who ? "OK" : "unknown CURVE key";
        zmq_send(h->zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(h->zap, who ? who : "", who ? strlen(who) : 0, ZMQ_SNDMORE);
        zmq_send(h->zap, "", 0, 0);
        for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
    }
}

static void on_zap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    msgw_zmq_hub_serve_zap(arg);
}

struct event *msgw_zmq_hub_watch(struct event_base *base, void *sock, event_callback_fn cb, void *arg)
{
    int fd;
    size_t len = sizeof fd;
    zmq_getsockopt(sock, ZMQ_FD, &fd, &len);
    struct event *ev = event_new(base, fd, EV_READ | EV_PERSIST, cb, arg);
    event_add(ev, NULL);
    return ev;
}

msgw_zmq_hub *msgw_zmq_hub_new(struct event_base *base, const msgw_config *cfg, msgw_errors *e)
{
    msgw_zmq_hub *h = calloc(1, sizeof *h);
    if (!h) abort();
    /* without a CURVE listener (only the admin dashboard's in-process feed) no secret is needed */
    if (cfg->zmq_secret_file && !read_secret(cfg->zmq_secret_file, h->secret, e)) {
        free(h);
        return NULL;
    }
    load_keys(h, cfg);
    h->ctx = zmq_ctx_new();
    h->zap = zmq_socket(h->ctx, ZMQ_REP);
    if (zmq_bind(h->zap, "inproc://zeromq.zap.01") != 0) {
        msgw_error_add(e, -1, "/zmq", NULL, "zmq.zap", "cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
        msgw_zmq_hub_destroy(&h);
        return NULL;
    }
    h->zap_ev = msgw_zmq_hub_watch(base, h->zap, on_zap, h);
    return h;
}

void msgw_zmq_hub_secure(msgw_zmq_hub *h, void *sock, const char *domain)
{
    int one = 1;
    zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, h->secret, 40);
    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain));
}

void msgw_zmq_hub_reconfigure(msgw_zmq_hub *h, const msgw_config *cfg)
{
    load_keys(h, cfg);
}

void *msgw_zmq_hub_context(msgw_zmq_hub *h)
{
    return h->ctx;
}

void msgw_zmq_hub_destroy(msgw_zmq_hub **hp)
{
    if (!hp || !*hp) return;
    msgw_zmq_hub *h = *hp;
    if (h->zap_ev) event_free(h->zap_ev);
    if (h->zap) {
        int zero = 0;
        zmq_setsockopt(h->zap, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(h->zap);
    }
    if (h->ctx) zmq_ctx_term(h->ctx);
    free(h->keys);
    free(h->has_key);
    free(h->admin_keys);
    memset(h->secret, 0, sizeof h->secret);
    free(h);
    *hp = NULL;
}
