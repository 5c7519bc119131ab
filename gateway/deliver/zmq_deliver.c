/*
 * ZeroMQ delivery (include/msgw/deliver/zmq_deliver.h).  At-least-once: a message
 * is marked delivered only when its consumer acknowledges it; until then it
 * is "in flight" (the store knows: attempts counted, not due before the ack
 * timeout) and the thread remembers it, to match acknowledgements and to
 * send it again at once when the consumer reconnects.  Consumers
 * de-duplicate by event id.
 *
 * Each pass: wait on the socket (zmq_poll, short timeout), read every
 * READY and ACK waiting, settle in one transaction what the previous pass
 * sent and what was just acknowledged (so the next query sees each
 * person's next message and none in flight), send again what a reconnected
 * consumer may have lost, then — when the idle interval is up, or when
 * acknowledgements freed room in a window that was full — ask the store
 * once for what is due to every connected department and send it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "msgw/store/store.h"
#include "msgw/store/audit.h"
#include "msgw/pipeline/doorbell.h"
#include "msgw/deliver/delivery_report.h"
#include "msgw/deliver/zmq_deliver.h"

enum {
    IDLE_US = 20000,  /* nothing due: look at the store again after 20 ms */
    QUERY_MAX = 1000, /* messages fetched per department and query */
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

typedef struct settlements {
    msgw_settlement *v;
    size_t n, cap;
} settlements;

struct msgw_zmq_deliverer {
    int wake_fd; /* the doorbell the commit worker rings, -1: none */
    msgw_zmq_hub *hub;
    const msgw_config *cfg;
    msgw_feed *feed;
    msgw_store *store;
    void *router;
    char endpoint[256];
    consumer *c;
    size_t nc;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    settlements out;
    char **strings; /* owned by pending settlements: freed when they are settled */
    size_t nstrings, capstrings;
    msgw_time next_query;
    bool full;  /* the last query filled a window: query again as soon as acks free room */
    bool acked; /* acknowledgements came since the last query */
    msgw_delivery_report report; /* outcomes to metrics, the feed and the audit log */
};

/* ---- the in-flight table ---- */

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static void delivery_free(msgw_delivery *d)
{
    free(d->event_id);
    free(d->recipient);
    free(d->kind);
    free(d->media_type);
    free(d->person);
    free(d->cause);
    free(d->body);
    memset(d, 0, sizeof *d);
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
        delivery_free(&f->d);
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
    delivery_free(&f->d);
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
        if (c->slots[i].used) delivery_free(&c->slots[i].d);
    free(c->slots);
    free(c->id);
    memset(c, 0, sizeof *c);
}

static consumer *consumer_for(msgw_zmq_deliverer *z, const char *dept)
{
    for (size_t i = 0; dept && i < z->nc; i++)
        if (z->c[i].id && strcmp(z->c[i].id, dept) == 0) return &z->c[i];
    return NULL;
}

/* The consumers of a configuration: one per zmq-delivered department, keeping what a consumer of
 * the same department had (its connection and its messages in flight). */
static void set_config(msgw_zmq_deliverer *z, const msgw_config *cfg)
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

/* ---- settlements ---- */

static msgw_settlement *settle_add(msgw_zmq_deliverer *z, msgw_settlement x)
{
    settlements *s = &z->out;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) abort();
    }
    s->v[s->n] = x;
    return &s->v[s->n++];
}

/* A copy that lives until the pending settlements are written. */
static const char *keep(msgw_zmq_deliverer *z, const char *s, size_t len)
{
    if (z->nstrings == z->capstrings) {
        z->capstrings = z->capstrings ? z->capstrings * 2 : 64;
        z->strings = realloc(z->strings, z->capstrings * sizeof *z->strings);
        if (!z->strings) abort();
    }
    char *c = strndup(s, len);
    if (!c) abort();
    return z->strings[z->nstrings++] = c;
}

/* Writes the pending settlements in one transaction.  Should the store refuse, nothing is marked:
 * the messages come due again and are sent again, which consumers de-duplicate. */
static void settle_all(msgw_zmq_deliverer *z)
{
    if (z->out.n) {
        msgw_errors e;
        msgw_errors_init(&e);
        msgw_store_settle(z->store, z->out.v, z->out.n, msgw_time_now(), &e);
        msgw_errors_clear(&e);
        z->out.n = 0;
    }
    for (size_t i = 0; i < z->nstrings; i++)
        free(z->strings[i]);
    z->nstrings = 0;
}

static void publish(msgw_zmq_deliverer *z, const msgw_delivery *d, const char *outcome,
                    int attempts, const char *error)
{
    msgw_delivery_report_outcome(&z->report, d, "zmq", outcome, attempts, error, msgw_time_now());
}

/* ---- sending ---- */

static int send_frame(void *sock, const void *data, size_t len, bool more)
{
    return zmq_send(sock, data, len, ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0));
}

/* Sends one EVENT.  0 sent; otherwise errno: EHOSTUNREACH (the consumer is gone), EAGAIN (its
 * queue is full). */
static int send_event(msgw_zmq_deliverer *z, consumer *c, const msgw_delivery *d)
{
    if (send_frame(z->router, c->rid, c->rid_len, true) < 0) return zmq_errno();
    /* past the routing frame the message goes whole: its pipe accepted the first part */
    send_frame(z->router, "EVENT", 5, true);
    send_frame(z->router, d->event_id, strlen(d->event_id), true);
    send_frame(z->router, d->kind, strlen(d->kind), true);
    send_frame(z->router, d->media_type, strlen(d->media_type), true);
    send_frame(z->router, d->cause ? d->cause : "", d->cause ? strlen(d->cause) : 0, true);
    send_frame(z->router, d->body, d->len, false);
    return 0;
}

static bool give_up(const msgw_zmq_deliverer *z, const msgw_delivery *d, msgw_time now, char *why,
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

/*
 * Sends a due message to its consumer (the table takes it over), or
 * dead-letters it.  Returns false, leaving d to the caller, when the
 * consumer cannot take it now.
 */
static bool dispatch(msgw_zmq_deliverer *z, consumer *c, msgw_delivery *d, msgw_time now,
                     const char *retry_why)
{
    char why[128];
    if (give_up(z, d, now, why, sizeof why)) {
        settle_add(z, (msgw_settlement){.id = d->id,
                                        .outcome = MSGW_SETTLE_DEAD,
                                        .error = keep(z, why, strlen(why))});
        publish(z, d, "dead", d->attempts, why);
        delivery_free(d);
        return true;
    }
    int err = send_event(z, c, d);
    if (err) {
        if (err == EHOSTUNREACH)
            c->connected = false; /* until it says READY again */
        else
            c->blocked = true;
        return false;
    }
    if (d->attempts > 0) publish(z, d, "retry", d->attempts + 1, retry_why);
    d->attempts++;
    settle_add(
        z, (msgw_settlement){.id = d->id,
                             .outcome = MSGW_SETTLE_INFLIGHT,
                             .next_at = now + (msgw_time)z->cfg->delivery_ack_timeout_ms * 1000});
    flight_put(c, d)->resend = false;
    return true;
}

/* After a READY: what was in flight to this department is sent again at once (the consumer may
 * have lost it).  The table is rebuilt: what is not sent now stays in it, still to resend. */
static void resend(msgw_zmq_deliverer *z, consumer *c, msgw_time now)
{
    flight *old = c->slots;
    size_t cap = c->cap;
    c->slots = NULL;
    c->cap = c->n = 0;
    c->resend = false;
    for (size_t i = 0; i < cap; i++) {
        flight *f = &old[i];
        if (!f->used) continue;
        if (f->resend && c->connected && !c->blocked &&
            dispatch(z, c, &f->d, now, "the consumer reconnected"))
            continue;
        bool again = f->resend;
        flight_put(c, &f->d)->resend = again;
        c->resend = c->resend || again;
    }
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
static void on_ack(msgw_zmq_deliverer *z, consumer *c, zmq_msg_t *m)
{
    char id[160];
    size_t len = zmq_msg_size(m);
    if (len == 0 || len >= sizeof id) return;
    memcpy(id, zmq_msg_data(m), len);
    id[len] = '\0';
    flight *f = flight_find(c, id);
    if (f) {
        settle_add(z, (msgw_settlement){.id = f->d.id, .outcome = MSGW_SETTLE_DELIVERED});
        publish(z, &f->d, "delivered", f->d.attempts, NULL);
        flight_remove(c, f);
    } else {
        /* sent before a restart, or acknowledged late: the store finds it by event id */
        settle_add(z, (msgw_settlement){.recipient = c->id,
                                        .event_id = keep(z, id, len),
                                        .outcome = MSGW_SETTLE_DELIVERED});
    }
    z->acked = true;
}

/* Reads one incoming message, [routing id, command, arguments...]; false when none was waiting.
 * The command frame names the department (User-Id, from the hub's ZAP handler). */
static bool receive_one(msgw_zmq_deliverer *z)
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
        if (ack) on_ack(z, c, &m);
        zmq_msg_close(&m);
    }
    if (ready) on_ready(c, &rid);
    zmq_msg_close(&cmd);
    zmq_msg_close(&rid);
    return true;
}

/* ---- the store ---- */

/* One query for every connected department with room in its window; sends what is due. */
static void deliver_due(msgw_zmq_deliverer *z, msgw_time now)
{
    const char **who = calloc(z->nc + 1, sizeof *who);
    size_t *room = calloc(z->nc + 1, sizeof *room), n = 0;
    if (!who || !room) abort();
    for (size_t i = 0; i < z->nc; i++) {
        consumer *c = &z->c[i];
        if (!c->connected || c->blocked || c->n >= z->cfg->zmq_deliver_window) continue;
        who[n] = c->id;
        room[n++] = z->cfg->zmq_deliver_window - c->n < QUERY_MAX
                        ? z->cfg->zmq_deliver_window - c->n
                        : QUERY_MAX;
    }
    msgw_store_deliveries due = {0};
    msgw_errors e;
    msgw_errors_init(&e);
    z->full = false;
    if (n && msgw_store_due_among(z->store, who, room, n, now, &due, &e)) {
        size_t *got = calloc(z->nc + 1, sizeof *got);
        if (!got) abort();
        for (size_t k = 0; k < due.n && !atomic_load(&z->stop); k++) {
            msgw_delivery *d = &due.v[k];
            consumer *c = consumer_for(z, d->recipient);
            if (!c) continue;
            got[c - z->c]++;
            flight *f = flight_find(c, d->event_id);
            if (f)
                flight_remove(c, f); /* its acknowledgement timed out: the store says due again */
            if (c->connected && !c->blocked) dispatch(z, c, d, now, "not acknowledged in time");
        }
        for (size_t i = 0; i < n; i++) {
            consumer *c = consumer_for(z, who[i]);
            if (c && got[c - z->c] >= room[i]) z->full = true; /* maybe more is due */
        }
        free(got);
    }
    msgw_store_deliveries_clear(&due);
    msgw_errors_clear(&e);
    free(who);
    free(room);
    z->acked = false;
    z->next_query = now + IDLE_US;
}

static void *run(void *arg)
{
    msgw_zmq_deliverer *z = arg;
    z->report.pub = msgw_feed_pub_new(z->feed); /* made, used and closed in this thread */
    z->next_query = 0;
    while (!atomic_load(&z->stop)) {
        msgw_time now = msgw_time_now();
        bool resending = false;
        for (size_t i = 0; i < z->nc; i++)
            resending = resending || (z->c[i].resend && z->c[i].connected);
        long wait_ms = 0;
        if (!resending && !(z->full && z->acked)) {
            wait_ms = z->next_query > now ? (long)((z->next_query - now + 999) / 1000) : 0;
            if (wait_ms > IDLE_US / 1000) wait_ms = IDLE_US / 1000;
        }
        zmq_pollitem_t items[2] = {{.socket = z->router, .events = ZMQ_POLLIN},
                                   {.fd = z->wake_fd, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, z->wake_fd >= 0 ? 2 : 1, wait_ms) < 0 && zmq_errno() != EINTR) break;
        if (z->wake_fd >= 0 && (items[1].revents & ZMQ_POLLIN)) {
            msgw_doorbell_clear(z->wake_fd);
            z->next_query = 0; /* new messages were committed: look now */
        }
        for (int k = 0; k < RECV_MAX && receive_one(z); k++) {
        }
        /* One transaction per pass: the acknowledgements just read, after the previous pass's
         * sends (a message sent then and acknowledged now is written once), before the query, so
         * that it sees each person's next message and none of the messages in flight. */
        settle_all(z);
        now = msgw_time_now();
        for (size_t i = 0; i < z->nc; i++) {
            z->c[i].blocked = false;
            if (z->c[i].resend && z->c[i].connected) resend(z, &z->c[i], now);
        }
        if (now >= z->next_query || (z->full && z->acked)) deliver_due(z, now);
    }
    settle_all(z);
    msgw_feed_pub_destroy(&z->report.pub);
    return NULL;
}

/* ---- life cycle ---- */

static bool start(msgw_zmq_deliverer *z, msgw_errors *e)
{
    atomic_store(&z->stop, false);
    if (pthread_create(&z->thread, NULL, run, z) != 0) {
        msgw_error_add(e, -1, "delivery", NULL, "deliver.thread",
                       "cannot start the ZeroMQ delivery thread");
        return false;
    }
    z->running = true;
    return true;
}

static void halt(msgw_zmq_deliverer *z)
{
    if (!z->running) return;
    atomic_store(&z->stop, true);
    pthread_join(z->thread, NULL);
    z->running = false;
}

msgw_zmq_deliverer *msgw_zmq_deliverer_new(msgw_zmq_hub *hub, const msgw_config *cfg,
                                           const char *store_spec, msgw_feed *feed, msgw_audit *audit,
                                           msgw_metrics *metrics, int wake_fd, msgw_errors *e)
{
    msgw_zmq_deliverer *z = calloc(1, sizeof *z);
    if (!z) abort();
    msgw_delivery_report_init(&z->report, audit, metrics);
    z->wake_fd = wake_fd;
    z->hub = hub;
    z->feed = feed;
    set_config(z, cfg);
    z->store = msgw_store_open(store_spec, MSGW_STORE_DELIVERY, e);
    if (!z->store) {
        msgw_zmq_deliverer_destroy(&z);
        return NULL;
    }
    z->router = zmq_socket(msgw_zmq_hub_context(hub), ZMQ_ROUTER);
    int one = 1, zero = 0, ivl = 2000, timeout = 10000, rcvhwm = 100000;
    int sndhwm =
        (int)(cfg->zmq_deliver_window * 2 + 64); /* the window, and a resend of it, always fit */
    msgw_zmq_hub_secure(hub, z->router, "deliver");
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
        msgw_zmq_deliverer_destroy(&z);
        return NULL;
    }
    size_t len = sizeof z->endpoint;
    zmq_getsockopt(z->router, ZMQ_LAST_ENDPOINT, z->endpoint, &len);
    if (!start(z, e)) msgw_zmq_deliverer_destroy(&z);
    return z;
}

void msgw_zmq_deliverer_reconfigure(msgw_zmq_deliverer *z, const msgw_config *cfg)
{
    halt(z);
    set_config(z, cfg);
    msgw_errors e;
    msgw_errors_init(&e);
    start(z, &e);
    msgw_errors_clear(&e);
}

void msgw_zmq_deliverer_destroy(msgw_zmq_deliverer **zp)
{
    if (!zp || !*zp) return;
    msgw_zmq_deliverer *z = *zp;
    halt(z);
    if (z->router) zmq_close(z->router);
    for (size_t i = 0; i < z->nc; i++)
        consumer_free(&z->c[i]);
    free(z->c);
    free(z->out.v);
    free(z->strings);
    msgw_store_close(&z->store);
    free(z);
    *zp = NULL;
}

const char *msgw_zmq_deliverer_endpoint(const msgw_zmq_deliverer *z)
{
    return z->endpoint;
}
