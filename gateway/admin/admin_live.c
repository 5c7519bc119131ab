/*
 * The dashboard's live stream (include/msgw/admin/admin_live.h): Server-Sent
 * Events to every open dashboard, on the admin listener's event loop.
 *
 * Two sources feed it.  The monitoring feed (gateway/pipeline/feed.c) is read
 * through a SUB on its in-process endpoint and each event is passed on as
 * is — it carries nothing personal but masked ID numbers.  Once a second a
 * "stats" event carries the cumulative counters the page turns into rates.
 * Both are lossy towards a slow browser: a client whose unsent output
 * exceeds MAX_BACKLOG skips events until it catches up, so one stalled tab
 * never holds the gateway's memory.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "msgw/admin/admin_live.h"
#include "msgw/net/zmq_hub.h"

enum {
    MAX_CLIENTS = 32,           /* open dashboards; more get 503 */
    MAX_BACKLOG = 1024 * 1024, /* unsent bytes per client before events are skipped */
};

typedef struct client {
    struct msgw_admin_live *live;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct client *next;
} client;

struct msgw_admin_live {
    struct event_base *base;
    void *sub;               /* the feed, in process */
    struct event *sub_ev;    /* its ZMQ_FD */
    struct event *tick;      /* the stats, once a second while someone watches */
    client *clients;
    size_t nclients;
    msgw_admin_stats_fn stats;
    void *ud;
};

static bool backlogged(const client *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
    return bev && evbuffer_get_length(bufferevent_get_output(bev)) > MAX_BACKLOG;
}

/* "event: TYPE\ndata: JSON\n\n" to one client (compact JSON holds no raw newline). */
static void send_event(client *c, const char *type, size_t tlen, const char *data, size_t dlen)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "event: ", 7);
    evbuffer_add(b, type, tlen);
    evbuffer_add(b, "\ndata: ", 7);
    evbuffer_add(b, data, dlen);
    evbuffer_add(b, "\n\n", 2);
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
}

static void send_json(client *c, const char *type, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (s) send_event(c, type, strlen(type), s, strlen(s));
    free(s);
}

static void broadcast(msgw_admin_live *l, const char *type, size_t tlen, const char *data, size_t dlen)
{
    for (client *c = l->clients; c; c = c->next)
        if (!backlogged(c)) send_event(c, type, tlen, data, dlen);
}

static void broadcast_json(msgw_admin_live *l, const char *type, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (s) broadcast(l, type, strlen(type), s, strlen(s));
    free(s);
}

/* Everything waiting on the feed, passed on: [topic, JSON] pairs. */
static void drain_feed(msgw_admin_live *l)
{
    for (;;) {
        zmq_msg_t topic, body;
        zmq_msg_init(&topic);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&topic, l->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&topic);
            zmq_msg_close(&body);
            return;
        }
        if (zmq_msg_more(&topic) && zmq_msg_recv(&body, l->sub, 0) >= 0 && zmq_msg_size(&topic) < 32 &&
            !memchr(zmq_msg_data(&body), '\n', zmq_msg_size(&body)))
            broadcast(l, zmq_msg_data(&topic), zmq_msg_size(&topic), zmq_msg_data(&body), zmq_msg_size(&body));
        zmq_msg_close(&topic);
        zmq_msg_close(&body);
    }
}

static void on_feed(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain_feed(arg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    msgw_admin_live *l = arg;
    drain_feed(l); /* ZMQ_FD is edge-triggered: never leave a message behind for long */
    if (l->clients) broadcast_json(l, "stats", l->stats(l->ud));
}

static void remove_client(msgw_admin_live *l, client *gone)
{
    for (client **p = &l->clients; *p; p = &(*p)->next)
        if (*p == gone) {
            *p = gone->next;
            l->nclients--;
            free(gone);
            break;
        }
    if (!l->clients) event_del(l->tick);
}

/*
 * The stream's connection is going.  When the browser went away libevent has
 * already detached the unfinished request and leaves it to us: ending the
 * reply frees it.  When the listener itself closes (shutdown) the request is
 * still attached and libevent frees it with the connection.
 */
static void on_close(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    client *c = arg;
    struct evhttp_request *req = c->req;
    remove_client(c->live, c);
    if (!evhttp_request_get_connection(req)) evhttp_send_reply_end(req);
}

bool msgw_admin_live_attach(msgw_admin_live *l, struct evhttp_request *req, json_t *hello)
{
    if (l->nclients >= MAX_CLIENTS) {
        json_decref(hello);
        return false;
    }
    client *c = calloc(1, sizeof *c);
    if (!c) abort();
    *c = (client){.live = l, .req = req, .conn = evhttp_request_get_connection(req), .next = l->clients};
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(c->conn, on_close, c);
    l->clients = c;
    l->nclients++;
    if (!evtimer_pending(l->tick, NULL)) event_add(l->tick, &(struct timeval){1, 0});
    /* the page reconnects by itself after a drop (EventSource); tell it how soon */
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "retry: 2000\n\n");
    evhttp_send_reply_chunk(req, b);
    evbuffer_free(b);
    send_json(c, "hello", hello);
    send_json(c, "stats", l->stats(l->ud));
    return true;
}

msgw_admin_live *msgw_admin_live_new(struct event_base *base, void *zmq_ctx, const char *feed_endpoint,
                                     msgw_admin_stats_fn stats, void *ud)
{
    msgw_admin_live *l = calloc(1, sizeof *l);
    if (!l) abort();
    *l = (msgw_admin_live){.base = base, .stats = stats, .ud = ud};
    l->tick = event_new(base, -1, EV_PERSIST, on_tick, l);
    if (zmq_ctx && feed_endpoint) {
        l->sub = zmq_socket(zmq_ctx, ZMQ_SUB);
        int zero = 0, hwm = 10000;
        zmq_setsockopt(l->sub, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(l->sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(l->sub, ZMQ_SUBSCRIBE, "", 0);
        zmq_connect(l->sub, feed_endpoint);
        l->sub_ev = msgw_zmq_hub_watch(base, l->sub, on_feed, l);
    }
    return l;
}

void msgw_admin_live_destroy(msgw_admin_live **lp)
{
    if (!lp || !*lp) return;
    msgw_admin_live *l = *lp;
    while (l->clients) {
        client *c = l->clients;
        l->clients = c->next;
        evhttp_connection_set_closecb(c->conn, NULL, NULL);
        free(c);
    }
    if (l->sub_ev) event_free(l->sub_ev);
    if (l->sub) zmq_close(l->sub);
    if (l->tick) event_free(l->tick);
    free(l);
    *lp = NULL;
}
