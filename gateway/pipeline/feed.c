/*
 * The monitoring feed (include/msgw/pipeline/feed.h).  zmq_proxy_steerable runs the
 * XSUB -> XPUB forwarding in its own thread; destroy sends TERMINATE on the
 * control socket and joins it, so the proxy never outlives its sockets and
 * the context can be terminated afterwards.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "msgw/pipeline/feed.h"
#include "msgw/base/idnum.h"

enum { FEED_HWM = 10000 }; /* messages queued per subscriber (and per producer) before drops */

struct msgw_feed {
    void *ctx;
    void *xsub, *xpub, *control, *steer; /* control: the proxy's end; steer: ours */
    pthread_t thread;
    bool running;
    char inproc[64], control_ep[64], local[64], endpoint[256];
};

struct msgw_feed_pub {
    void *sock;
};

static void *proxy(void *arg)
{
    msgw_feed *f = arg;
    zmq_proxy_steerable(f->xsub, f->xpub, NULL, f->control);
    return NULL;
}

static void close_socket(void **s)
{
    if (!*s) return;
    int zero = 0;
    zmq_setsockopt(*s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(*s);
    *s = NULL;
}

msgw_feed *msgw_feed_new(msgw_zmq_hub *hub, const char *endpoint, msgw_errors *e)
{
    static atomic_uint serial;
    msgw_feed *f = calloc(1, sizeof *f);
    if (!f) abort();
    unsigned n = atomic_fetch_add(&serial, 1);
    snprintf(f->inproc, sizeof f->inproc, "inproc://msgw-feed-%u", n);
    snprintf(f->control_ep, sizeof f->control_ep, "inproc://msgw-feed-control-%u", n);
    snprintf(f->local, sizeof f->local, "inproc://msgw-feed-local-%u", n);
    f->ctx = msgw_zmq_hub_context(hub);
    f->xsub = zmq_socket(f->ctx, ZMQ_XSUB);
    f->xpub = zmq_socket(f->ctx, ZMQ_XPUB);
    f->control = zmq_socket(f->ctx, ZMQ_PAIR);
    f->steer = zmq_socket(f->ctx, ZMQ_PAIR);
    int hwm = FEED_HWM, ivl = 2000, timeout = 10000;
    zmq_setsockopt(f->xsub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(f->xpub, ZMQ_SNDHWM, &hwm,
                   sizeof hwm); /* beyond it a subscriber's messages drop */
    zmq_setsockopt(f->xpub, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(f->xpub, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof timeout);
    if (endpoint) msgw_zmq_hub_secure(hub, f->xpub, "feed");
    const char *what = "feed";
    if (zmq_bind(f->xsub, f->inproc) != 0 || zmq_bind(f->control, f->control_ep) != 0 ||
        zmq_connect(f->steer, f->control_ep) != 0 || zmq_bind(f->xpub, f->local) != 0 ||
        (endpoint && (what = endpoint, zmq_bind(f->xpub, endpoint) != 0))) {
        msgw_error_add(e, -1, "/zmq/feed_listen", "feed_listen", "zmq.bind",
                       "cannot start the feed on %s: %s", what, zmq_strerror(zmq_errno()));
        msgw_feed_destroy(&f);
        return NULL;
    }
    size_t len = sizeof f->endpoint;
    if (endpoint) zmq_getsockopt(f->xpub, ZMQ_LAST_ENDPOINT, f->endpoint, &len);
    if (pthread_create(&f->thread, NULL, proxy, f) != 0) {
        msgw_error_add(e, -1, "/zmq/feed_listen", NULL, "feed.thread",
                       "cannot start the feed's proxy thread");
        msgw_feed_destroy(&f);
        return NULL;
    }
    f->running = true;
    return f;
}

void msgw_feed_destroy(msgw_feed **fp)
{
    if (!fp || !*fp) return;
    msgw_feed *f = *fp;
    if (f->running) {
        zmq_send(f->steer, "TERMINATE", 9,
                 0); /* the proxy returns; then its sockets are ours again */
        pthread_join(f->thread, NULL);
    }
    close_socket(&f->steer);
    close_socket(&f->control);
    close_socket(&f->xpub);
    close_socket(&f->xsub);
    free(f);
    *fp = NULL;
}

const char *msgw_feed_endpoint(const msgw_feed *f)
{
    return f->endpoint[0] ? f->endpoint : NULL;
}

const char *msgw_feed_local_endpoint(const msgw_feed *f)
{
    return f->local;
}

msgw_feed_pub *msgw_feed_pub_new(msgw_feed *f)
{
    if (!f) return NULL;
    msgw_feed_pub *p = calloc(1, sizeof *p);
    if (!p) abort();
    p->sock = zmq_socket(f->ctx, ZMQ_PUB);
    int hwm = FEED_HWM, zero = 0;
    zmq_setsockopt(p->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(p->sock, f->inproc);
    return p;
}

void msgw_feed_pub_destroy(msgw_feed_pub **pp)
{
    if (!pp || !*pp) return;
    close_socket(&(*pp)->sock);
    free(*pp);
    *pp = NULL;
}

void msgw_feed_publish(msgw_feed_pub *p, const char *topic, json_t *event)
{
    if (p && event) {
        char *text = json_dumps(event, JSON_COMPACT);
        /* a PUB drops what it cannot queue: publishing never waits for a subscriber */
        if (text && zmq_send(p->sock, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
            zmq_send(p->sock, text, strlen(text), ZMQ_DONTWAIT);
        free(text);
    }
    json_decref(event);
}

static json_t *feed_event_new(void)
{
    char t[28];
    return json_pack("{s:s}", "time", msgw_time_format(msgw_time_now(), t));
}

static json_t *masked(const char *id)
{
    char m[19];
    return json_string(msgw_idnum_mask(id ? id : "", m));
}

/*
 * A sender's message id (or a cause, which is one) is the sender's own
 * choice of text and may embed an ID number (a disability certificate
 * number is one plus two digits): any run of 15 or more digits (an X may
 * close it) keeps its first 6 and last 4 characters only.
 */
static json_t *scrubbed(const char *s)
{
    if (!s) return json_string("");
    char *c = strdup(s);
    if (!c) abort();
    msgw_idnum_scrub(c);
    json_t *v = json_string(c);
    free(c);
    return v;
}

json_t *msgw_feed_record_event(const msgw_record *r, const char *sender, int64_t seq,
                               bool duplicate)
{
    json_t *o = feed_event_new(), *persons = json_array();
    json_object_set_new(o, "message_id", scrubbed(r->message_id));
    json_object_set_new(o, "kind", json_string(r->kind ? r->kind : ""));
    json_object_set_new(o, "sender", json_string(sender ? sender : ""));
    json_object_set_new(o, "seq", json_integer(seq));
    json_object_set_new(o, "duplicate", json_boolean(duplicate));
    for (size_t i = 0; i < r->npersons; i++)
        json_array_append_new(persons, masked(r->persons[i].id_number));
    json_object_set_new(o, "persons", persons);
    json_object_set_new(o, "facts", json_integer((json_int_t)r->nfacts));
    return o;
}

json_t *msgw_feed_transition_event(const msgw_transition *t, const char *cause)
{
    static const char *const kinds[] = {
        [MSGW_TR_NEW] = "new", [MSGW_TR_LOST] = "lost", [MSGW_TR_CHANGED] = "changed"};
    json_t *o = feed_event_new();
    json_object_set_new(o, "kind",
                        json_string((unsigned)t->kind <= MSGW_TR_CHANGED ? kinds[t->kind] : "?"));
    json_object_set_new(o, "service",
                        json_string(t->service && t->service->code ? t->service->code : ""));
    json_object_set_new(o, "person", masked(t->person));
    json_object_set_new(o, "eligible_before", json_boolean(t->before.eligible));
    json_object_set_new(o, "eligible_after", json_boolean(t->after.eligible));
    if (cause) json_object_set_new(o, "cause", scrubbed(cause));
    return o;
}

json_t *msgw_feed_delivery_event(const msgw_delivery *d, const char *transport, const char *outcome,
                                 int attempts, const char *error)
{
    json_t *o = feed_event_new();
    json_object_set_new(o, "event_id", json_string(d->event_id ? d->event_id : ""));
    json_object_set_new(o, "recipient", json_string(d->recipient ? d->recipient : ""));
    json_object_set_new(o, "kind", json_string(d->kind ? d->kind : ""));
    json_object_set_new(o, "person", masked(d->person));
    if (d->cause && *d->cause) json_object_set_new(o, "cause", scrubbed(d->cause));
    json_object_set_new(o, "transport", json_string(transport));
    json_object_set_new(o, "outcome", json_string(outcome));
    json_object_set_new(o, "attempts", json_integer(attempts));
    if (error) json_object_set_new(o, "error", json_string(error));
    return o;
}
