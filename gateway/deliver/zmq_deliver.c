/*
 * Delivery over ZeroMQ (a transport, include/msgw/deliver/transport.h; docs/zmq.md): the gateway
 * binds one ROUTER socket at zmq.deliver_listen, a CURVE server authenticated by the hub (ZAP
 * domain "deliver"), and each department configured with "deliver": {"zmq": {}} connects a DEALER
 * with its own CURVE key, which names it (User-Id).  The consumer says ["READY"] on every
 * (re)connection; the gateway sends ["EVENT", event_id, kind, media_type, cause, body], or for
 * notices that travel together (msgw/deliver/parcel.h) ["NOTICES", media_type, body, event_id,
 * cause, event_id, cause, ...], and the consumer answers ["ACK", event_id, ...].  At most zmq.deliver_window messages per department are
 * unacknowledged: that is its room.  One not acknowledged within delivery.ack_timeout_ms comes due
 * again and is sent again (an attempt counted), and is dead-lettered after delivery.max_attempts or
 * max_age_s, like a webhook.  On READY, whatever was in flight to that department is sent again at
 * once.  One person's messages go one at a time, in order.
 *
 * At-least-once: a message is marked delivered only when its consumer acknowledges it; until then
 * it is "in flight" (the store knows: attempts counted, not due before the ack timeout) and the
 * transport remembers it, to match acknowledgements and to send it again at once when the consumer
 * reconnects.  Consumers de-duplicate by event id.
 *
 * The driver's thread owns the socket once it runs: it waits on its ZMQ_FD, calls acknowledged to
 * read every READY and ACK waiting and to send again what a reconnected consumer may have lost,
 * and hands it the due messages of the connected departments with room in their windows.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "msgw/deliver/parcel.h"
#include "msgw/deliver/transport.h"

enum {
    QUERY_MAX = 1000, /* messages claimed per department and pass */
    RECV_MAX = 10000, /* incoming messages per pass before the store gets its turn */
};

/* A message sent and not yet acknowledged. */
typedef struct flight {
    msgw_delivery d; /* owned: what to send again; d.attempts counts this send */
    bool used, resend;
} flight;

/* One department delivered over ZeroMQ, and its consumer. */
typedef struct consumer {
    char *id;                    /* department id (owned: outlives a configuration) */
    const msgw_department *dept; /* in the current configuration */
    unsigned char rid[256];      /* the consumer's routing id, learnt from READY */
    size_t rid_len;
    bool connected, blocked; /* blocked: its queue was full this pass */
    bool resend;             /* a READY came: some flights are to be sent again */
    flight *slots;           /* open addressing by event id, capacity a power of two */
    size_t cap, n;
} consumer;

typedef struct zmq_deliverer {
    const msgw_config *cfg;
    void *router;
    char endpoint[256];
    consumer *c;
    size_t nc;
    msgw_parcels *parcels; /* a pass's sends */
    atomic_size_t connected, in_flight; /* for stats, published after each pass */
} zmq_deliverer;

/* ---- the in-flight table ---- */

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static flight *flight_find(consumer *c, const char *event_id)
{
    if (!c->cap) return NULL;
    for (size_t i = hash(event_id) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        if (!c->slots[i].used) return NULL;
        if (strcmp(c->slots[i].d.event_id, event_id) == 0) return &c->slots[i];
    }
}

static flight *flight_insert(consumer *c, flight f)
{
    size_t i = hash(f.d.event_id) & (c->cap - 1);
    while (c->slots[i].used)
        i = (i + 1) & (c->cap - 1);
    c->slots[i] = f;
    c->slots[i].used = true;
    return &c->slots[i];
}

/* Takes d over (its strings now belong to the table, d is emptied). */
static flight *flight_put(consumer *c, msgw_delivery *d)
{
    flight *f = flight_find(c, d->event_id);
    if (f) {
        msgw_delivery_clear(&f->d);
        f->d = *d;
    } else {
        if ((c->n + 1) * 2 > c->cap) {
            flight *prev = c->slots;
            size_t prev_cap = c->cap;
            c->cap = c->cap ? c->cap * 2 : 64;
            c->slots = calloc(c->cap, sizeof *c->slots);
            if (!c->slots) abort();
            for (size_t i = 0; i < prev_cap; i++)
                if (prev[i].used) flight_insert(c, prev[i]);
            free(prev);
        }
        f = flight_insert(c, (flight){.d = *d});
        c->n++;
    }
    memset(d, 0, sizeof *d);
    return f;
}

/* Removes a flight (linear probing: the entries after it move back to stay reachable). */
static void flight_remove(consumer *c, flight *f)
{
    msgw_delivery_clear(&f->d);
    f->used = false;
    c->n--;
    size_t hole = (size_t)(f - c->slots);
    for (size_t i = (hole + 1) & (c->cap - 1); c->slots[i].used; i = (i + 1) & (c->cap - 1)) {
        size_t home = hash(c->slots[i].d.event_id) & (c->cap - 1);
        /* the entry at i may fill the hole if its home is not cyclically within (hole, i] */
        bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays) continue;
        c->slots[hole] = c->slots[i];
        c->slots[i].used = false;
        memset(&c->slots[i].d, 0, sizeof c->slots[i].d);
        hole = i;
    }
}

static void consumer_free(consumer *c)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].used) msgw_delivery_clear(&c->slots[i].d);
    free(c->slots);
    free(c->id);
    memset(c, 0, sizeof *c);
}

static consumer *consumer_for(zmq_deliverer *z, const char *dept)
{
    for (size_t i = 0; dept && i < z->nc; i++)
        if (z->c[i].id && strcmp(z->c[i].id, dept) == 0) return &z->c[i];
    return NULL;
}

/* The consumers of a configuration: one per zmq-delivered department, keeping what a consumer of
 * the same department had (its connection and its messages in flight). */
static void set_config(zmq_deliverer *z, const msgw_config *cfg)
{
    consumer *next = calloc(cfg->ndepartments + 1, sizeof *next);
    if (!next) abort();
    size_t n = 0;
    for (size_t i = 0; i < cfg->ndepartments; i++) {
        const msgw_department *d = &cfg->departments[i];
        if (d->deliver != MSGW_DELIVER_ZMQ || !d->id) continue;
        consumer *old = consumer_for(z, d->id);
        if (old) {
            next[n] = *old;
            memset(old, 0, sizeof *old);
        } else {
            next[n].id = strdup(d->id);
            if (!next[n].id) abort();
        }
        next[n++].dept = d;
    }
    for (size_t i = 0; i < z->nc; i++)
        if (z->c[i].id) consumer_free(&z->c[i]); /* no longer delivered over ZeroMQ */
    free(z->c);
    z->c = next;
    z->nc = n;
    z->cfg = cfg;
}

/* ---- sending ---- */

static int send_frame(void *sock, const void *data, size_t len, bool more)
{
    return zmq_send(sock, data, len, ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0));
}

static int send_string(void *sock, const char *s, bool more)
{
    return send_frame(sock, s ? s : "", s ? strlen(s) : 0, more);
}

/* Sends one EVENT, or NOTICES for a list.  0 sent; otherwise errno: EHOSTUNREACH (the consumer is
 * gone), EAGAIN (its queue is full). */
static int send_parcel(zmq_deliverer *z, consumer *c, const msgw_parcel *m)
{
    if (send_frame(z->router, c->rid, c->rid_len, true) < 0) return zmq_errno();
    /* past the routing frame the message goes whole: its pipe accepted the first part */
    const msgw_delivery *d = m->v[0];
    if (m->form == MSGW_PARCEL_ONE) {
        send_string(z->router, "EVENT", true);
        send_string(z->router, d->event_id, true);
        send_string(z->router, d->kind, true);
        send_string(z->router, d->media_type, true);
        send_string(z->router, d->cause, true);
        send_frame(z->router, d->body, d->len, false);
        return 0;
    }
    send_string(z->router, "NOTICES", true);
    send_string(z->router, m->media_type, true);
    send_frame(z->router, m->body, m->len, true);
    for (size_t k = 0; k < m->n; k++) {
        send_string(z->router, m->v[k]->event_id, true);
        send_string(z->router, m->v[k]->cause, k + 1 < m->n);
    }
    return 0;
}

static bool give_up(const zmq_deliverer *z, const msgw_delivery *d, msgw_time now, char *why,
                    size_t len)
{
    if (d->attempts >= (int)z->cfg->delivery_max_attempts) {
        snprintf(why, len, "not acknowledged after %d attempts", d->attempts);
        return true;
    }
    if (d->attempts > 0 && now - d->created_at > (msgw_time)z->cfg->delivery_max_age_s * 1000000) {
        snprintf(why, len, "not acknowledged within %u s", z->cfg->delivery_max_age_s);
        return true;
    }
    return false;
}

/* Dead-letters d if it has had its attempts or its time; true when it did (d is emptied). */
static bool retire(const zmq_deliverer *z, msgw_delivery *d, msgw_pass *p, msgw_time now)
{
    char why[128];
    if (!give_up(z, d, now, why, sizeof why)) return false;
    msgw_pass_dead(p, d, why);
    msgw_delivery_clear(d);
    return true;
}

/*
 * Sends v[0..n) (due messages of connected consumers) packed into parcels.  Each message sent goes
 * in flight: the table takes it over and empties it.  What a consumer cannot take now (gone, its
 * queue full) is left to the caller.
 */
static void send_all(zmq_deliverer *z, msgw_delivery **v, size_t n, msgw_pass *p, msgw_time now,
                     const char *retry_why)
{
    size_t np = msgw_parcels_pack(z->parcels, z->cfg, v, n);
    msgw_time ack_by = now + (msgw_time)z->cfg->delivery_ack_timeout_ms * 1000;
    for (size_t i = 0; i < np && !msgw_pass_stopping(p); i++) {
        const msgw_parcel *m = msgw_parcels_get(z->parcels, i);
        consumer *c = consumer_for(z, m->v[0]->recipient);
        if (!c || !c->connected || c->blocked) continue;
        int err = send_parcel(z, c, m);
        if (err) {
            if (err == EHOSTUNREACH)
                c->connected = false; /* until it says READY again */
            else
                c->blocked = true;
            continue;
        }
        for (size_t k = 0; k < m->n; k++) {
            msgw_pass_sent(p, m->v[k], ack_by, retry_why);
            m->v[k]->attempts++;
        }
        for (size_t k = 0; k < m->n; k++) /* last: the parcel points at what this empties */
            flight_put(c, m->v[k])->resend = false;
    }
}

/* After a READY: what was in flight to this department is sent again at once (the consumer may
 * have lost it).  The table is rebuilt: what is not sent now stays in it, still to resend. */
static void resend(zmq_deliverer *z, consumer *c, msgw_pass *p, msgw_time now)
{
    flight *old = c->slots;
    size_t cap = c->cap, n = 0;
    msgw_delivery **again = calloc(c->n + 1, sizeof *again);
    if (!again) abort();
    c->slots = NULL;
    c->cap = c->n = 0;
    c->resend = false;
    for (size_t i = 0; i < cap; i++)
        if (old[i].used && old[i].resend && !retire(z, &old[i].d, p, now)) again[n++] = &old[i].d;
    send_all(z, again, n, p, now, "the consumer reconnected");
    for (size_t i = 0; i < cap; i++) { /* what was not sent, or not to be resent, stays */
        flight *f = &old[i];
        if (!f->used || !f->d.event_id) continue;
        bool still = f->resend;
        flight_put(c, &f->d)->resend = still;
        c->resend = c->resend || still;
    }
    free(again);
    free(old);
}

/* ---- receiving ---- */

static void on_ready(consumer *c, zmq_msg_t *rid)
{
    c->rid_len = zmq_msg_size(rid) < sizeof c->rid ? zmq_msg_size(rid) : sizeof c->rid;
    memcpy(c->rid, zmq_msg_data(rid), c->rid_len);
    c->connected = true;
    c->blocked = false;
    c->resend = c->n > 0;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i].used) c->slots[i].resend = true;
}

/* One acknowledged event id. */
static void on_ack(consumer *c, zmq_msg_t *m, msgw_pass *p)
{
    char id[160];
    size_t len = zmq_msg_size(m);
    if (len == 0 || len >= sizeof id) return;
    memcpy(id, zmq_msg_data(m), len);
    id[len] = '\0';
    flight *f = flight_find(c, id);
    if (f) {
        msgw_pass_delivered(p, &f->d, false);
        flight_remove(c, f);
    } else {
        /* sent before a restart, or acknowledged late: the store finds it by event id */
        msgw_pass_acknowledged(p, c->id, id);
    }
}

/* Reads one incoming message, [routing id, command, arguments...]; false when none was waiting.
 * The command frame names the department (User-Id, from the hub's ZAP handler). */
static bool receive_one(zmq_deliverer *z, msgw_pass *p)
{
    zmq_msg_t rid, cmd, m;
    zmq_msg_init(&rid);
    if (zmq_msg_recv(&rid, z->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&rid);
        return false;
    }
    zmq_msg_init(&cmd);
    bool more = zmq_msg_more(&rid) && zmq_msg_recv(&cmd, z->router, ZMQ_DONTWAIT) >= 0;
    consumer *c =
        more ? consumer_for(z, zmq_msg_gets(&cmd, "User-Id")) : NULL; /* others are ignored */
    size_t cl = zmq_msg_size(&cmd);
    bool ready = c && cl == 5 && memcmp(zmq_msg_data(&cmd), "READY", 5) == 0;
    bool ack = c && cl == 3 && memcmp(zmq_msg_data(&cmd), "ACK", 3) == 0;
    more = more && zmq_msg_more(&cmd);
    while (more) { /* the rest of a message is there once its first frame is */
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (ack) on_ack(c, &m, p);
        zmq_msg_close(&m);
    }
    if (ready) on_ready(c, &rid);
    zmq_msg_close(&cmd);
    zmq_msg_close(&rid);
    return true;
}

/* What stats shows, published by the driver's thread. */
static void publish_counts(zmq_deliverer *z)
{
    size_t connected = 0, in_flight = 0;
    for (size_t i = 0; i < z->nc; i++) {
        connected += z->c[i].connected;
        in_flight += z->c[i].n;
    }
    atomic_store(&z->connected, connected);
    atomic_store(&z->in_flight, in_flight);
}

/* ---- the transport's operations ---- */

/* Reads every READY and ACK waiting (at most RECV_MAX: then the store gets its turn), then sends
 * again what reconnected consumers may have lost. */
static void zmq_acknowledged(void *t, msgw_pass *p, msgw_time now)
{
    zmq_deliverer *z = t;
    for (int k = 0; k < RECV_MAX && receive_one(z, p); k++) {
    }
    for (size_t i = 0; i < z->nc; i++) {
        z->c[i].blocked = false; /* a full queue is tried again each pass */
        if (z->c[i].resend && z->c[i].connected) resend(z, &z->c[i], p, now);
    }
    publish_counts(z);
}

/* A connected consumer's free window (at most QUERY_MAX at a time). */
static size_t zmq_room(void *t, const msgw_department *dept)
{
    zmq_deliverer *z = t;
    consumer *c = consumer_for(z, dept->id);
    if (!c || !c->connected || c->blocked || c->n >= z->cfg->zmq_deliver_window) return 0;
    size_t room = z->cfg->zmq_deliver_window - c->n;
    return room < QUERY_MAX ? room : QUERY_MAX;
}

/* Sends each due message to its consumer; one still in flight (its acknowledgement timed out, so
 * the store says it is due again) is sent again, counted as a retry. */
static void zmq_deliver(void *t, msgw_delivery *v, size_t n, msgw_pass *p, msgw_time now)
{
    zmq_deliverer *z = t;
    msgw_delivery **due = calloc(n + 1, sizeof *due);
    if (!due) abort();
    size_t nd = 0;
    for (size_t k = 0; k < n; k++) {
        msgw_delivery *d = &v[k];
        consumer *c = consumer_for(z, d->recipient);
        if (!c) continue;
        flight *f = flight_find(c, d->event_id);
        if (f) flight_remove(c, f);
        if (c->connected && !retire(z, d, p, now)) due[nd++] = d;
    }
    send_all(z, due, nd, p, now, "not acknowledged in time");
    free(due);
    publish_counts(z);
}

/* ZeroMQ's descriptor is edge-triggered: it signals a change of ZMQ_EVENTS, not readability, so
 * what is already readable (or a resend still waiting) must be said here, or it would wait. */
static int zmq_descriptor(void *t, bool *ready)
{
    zmq_deliverer *z = t;
    int fd = -1, events = 0;
    size_t len = sizeof fd;
    zmq_getsockopt(z->router, ZMQ_FD, &fd, &len);
    len = sizeof events;
    zmq_getsockopt(z->router, ZMQ_EVENTS, &events, &len);
    *ready = events & ZMQ_POLLIN;
    for (size_t i = 0; i < z->nc && !*ready; i++)
        *ready = z->c[i].resend && z->c[i].connected;
    return fd;
}

static void zmq_close_transport(void **tp)
{
    if (!tp || !*tp) return;
    zmq_deliverer *z = *tp;
    if (z->router) zmq_close(z->router);
    msgw_parcels_destroy(&z->parcels);
    for (size_t i = 0; i < z->nc; i++)
        consumer_free(&z->c[i]);
    free(z->c);
    free(z);
    *tp = NULL;
}

static void *zmq_open(const msgw_transport_env *env, msgw_errors *e)
{
    const msgw_config *cfg = env->cfg;
    zmq_deliverer *z = calloc(1, sizeof *z);
    if (!z) abort();
    z->parcels = msgw_parcels_new();
    set_config(z, cfg);
    z->router = zmq_socket(msgw_zmq_hub_context(env->hub), ZMQ_ROUTER);
    int one = 1, zero = 0, ivl = 2000, timeout = 10000, rcvhwm = 100000;
    int sndhwm =
        (int)(cfg->zmq_deliver_window * 2 + 64); /* the window, and a resend of it, always fit */
    msgw_zmq_hub_secure(env->hub, z->router, "deliver");
    zmq_setsockopt(z->router, ZMQ_ROUTER_MANDATORY, &one,
                   sizeof one); /* a gone consumer: EHOSTUNREACH */
    zmq_setsockopt(z->router, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl); /* dead peers are noticed */
    zmq_setsockopt(z->router, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof timeout);
    zmq_setsockopt(z->router, ZMQ_HEARTBEAT_TTL, &timeout, sizeof timeout);
    zmq_setsockopt(z->router, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
    zmq_setsockopt(z->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt(z->router, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(z->router, cfg->zmq_deliver_listen) != 0) {
        msgw_error_add(e, -1, "/zmq/deliver_listen", "deliver_listen", "zmq.bind",
                       "cannot listen on %s: %s", cfg->zmq_deliver_listen,
                       zmq_strerror(zmq_errno()));
        void *tp = z;
        zmq_close_transport(&tp);
        return NULL;
    }
    size_t len = sizeof z->endpoint;
    zmq_getsockopt(z->router, ZMQ_LAST_ENDPOINT, z->endpoint, &len);
    return z;
}

/* The socket, the consumers' connections and the messages in flight stay. */
static void zmq_reconfigure(void *t, const msgw_config *cfg)
{
    set_config(t, cfg);
    publish_counts(t);
}

static const char *zmq_endpoint(const void *t)
{
    return ((const zmq_deliverer *)t)->endpoint;
}

static json_t *zmq_stats(const void *t)
{
    const zmq_deliverer *z = t;
    return json_pack("{s:I,s:I}", "consumers", (json_int_t)atomic_load(&z->connected), "in_flight",
                     (json_int_t)atomic_load(&z->in_flight));
}

static bool zmq_wanted(const msgw_config *cfg)
{
    return cfg->zmq_deliver_listen != NULL;
}

const msgw_transport_ops msgw_zmq_transport = {
    .name = "zmq",
    .kind = MSGW_DELIVER_ZMQ,
    .port_file = "zdeliver",
    .needs_hub = true,
    .idle_ms = 20,
    .wanted = zmq_wanted,
    .open = zmq_open,
    .close = zmq_close_transport,
    .room = zmq_room,
    .deliver = zmq_deliver,
    .acknowledged = zmq_acknowledged,
    .descriptor = zmq_descriptor,
    .endpoint = zmq_endpoint,
    .reconfigure = zmq_reconfigure,
    .stats = zmq_stats,
};
