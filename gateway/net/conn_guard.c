/*
 * Connection deadlines and caps of the HTTPS listeners (include/msgw/net/conn_guard.h).
 *
 * libevent 2.1 restarts a connection's timeout on every byte and offers no hook when a request
 * starts or when its headers end (evhttp_set_newreqcb came in 2.2).  So each connection is followed
 * from outside evhttp: a callback on its bufferevent's input (the decrypted bytes evhttp reads)
 * sees a request's first byte and the empty line that ends its header block — evhttp still parses
 * everything; this only tells the phases apart — and the listener's request callback says when a
 * request was read whole.  A connection past its deadline is shut down at the socket: evhttp sees
 * the end of the stream and frees the connection as it does for a client that went away.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "msgw/base/idmap.h"
#include "msgw/base/log.h"
#include "msgw/net/conn_guard.h"
#include "msgw/net/tls.h"

/* Why a connection ended: the reason label of msgw_connections_closed_total. */
typedef enum {
    CLOSED_BY_PEER, /* the client closed it, or an error did (evhttp's 400, 413) */
    CLOSED_HANDSHAKE,
    CLOSED_MAX_CONNECTIONS,
    CLOSED_ADDRESS_LIMIT,
    CLOSED_DEPARTMENT_LIMIT,
    CLOSED_HEADER_TIMEOUT,
    CLOSED_BODY_TIMEOUT,
    CLOSED_IDLE_TIMEOUT,
    CLOSED_REASONS
} closed_reason;

static const char *const reason_names[CLOSED_REASONS] = {
    "closed",           "handshake",      "max_connections", "address_limit",
    "department_limit", "header_timeout", "body_timeout",    "idle_timeout",
};

/* Where a connection is: reading a request's headers, its body, the gateway answering it, or
 * waiting for the next request. */
typedef enum { PHASE_HEADERS, PHASE_BODY, PHASE_WORKING, PHASE_IDLE } phase;

struct msgw_conn_guard {
    struct event_base *base;
    char listener[16];
    msgw_conn_limits lim;
    int index; /* the SSL ex_data slot of each connection's state */
    size_t open;
    bool destroyed;             /* freed when its last connection is */
    msgw_idmap *per_address;    /* open connections by client address */
    msgw_idmap *per_department; /* by department, once its first request named it */
    unsigned long long closed[CLOSED_REASONS];
    msgw_metric *m_closed, *m_open;
};

typedef struct conn {
    msgw_conn_guard *g;
    struct bufferevent *bev;
    struct event *timer;
    struct evbuffer_cb_entry *watch;
    phase phase;
    double start;         /* the phase's start (monotonic seconds) */
    double last_activity; /* a byte received or an answer sent */
    size_t body_bytes;    /* received since the body began */
    bool line_empty;      /* the header line read so far holds nothing but CR */
    closed_reason reason;
    char address[INET6_ADDRSTRLEN]; /* counted in per_address; "" until the ClientHello */
    char *department;               /* counted in per_department; NULL until its first request */
} conn;

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void arm(conn *c, double seconds)
{
    if (seconds < 0) seconds = 0;
    struct timeval tv = {.tv_sec = (time_t)seconds,
                         .tv_usec = (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    evtimer_add(c->timer, &tv);
}

static void count_down(msgw_idmap *m, const char *key)
{
    long n = msgw_idmap_get(m, key);
    if (n > 1)
        msgw_idmap_put(m, key, n - 1);
    else
        msgw_idmap_del(m, key);
}

/* The client's address, "?" when the socket has none. */
static void peer_address(int fd, char out[INET6_ADDRSTRLEN])
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    snprintf(out, INET6_ADDRSTRLEN, "?");
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) return;
    if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, INET6_ADDRSTRLEN);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, INET6_ADDRSTRLEN);
}

/* The connection is cut at the socket; evhttp frees it at the end of stream it then reads. */
static void cut(conn *c, closed_reason why, const char *message)
{
    c->reason = why;
    evtimer_del(c->timer);
    int fd = bufferevent_getfd(c->bev);
    char client[INET6_ADDRSTRLEN]; /* a handshake not yet at its ClientHello has no address counted
                                    */
    if (c->address[0])
        snprintf(client, sizeof client, "%s", c->address);
    else
        peer_address(fd, client);
    msgw_log(MSGW_LOG_WARNING, message, "listener", c->g->listener, "client", client, "department",
             c->department, "rule", reason_names[why], NULL);
    shutdown(fd, SHUT_RDWR);
}

static void begin_headers(conn *c, double start)
{
    c->phase = PHASE_HEADERS;
    c->start = start;
    c->line_empty = false;
    arm(c, start + c->g->lim.header_timeout_s - monotonic_now());
}

static void begin_body(conn *c, double now, size_t already)
{
    c->phase = PHASE_BODY;
    c->start = now;
    c->body_bytes = already;
    arm(c, c->g->lim.body_timeout_s);
}

/* The body's deadline: its grace, and a second more for every body_min_rate bytes received. */
static double body_deadline(const conn *c)
{
    const msgw_conn_limits *l = &c->g->lim;
    return c->start + l->body_timeout_s +
           (l->body_min_rate ? (double)c->body_bytes / (double)l->body_min_rate : 0);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    conn *c = arg;
    if (c->phase == PHASE_HEADERS) {
        cut(c, CLOSED_HEADER_TIMEOUT, "connection closed: no whole request headers in time");
    } else if (c->phase == PHASE_BODY) {
        double left = body_deadline(c) - monotonic_now();
        if (left > 0.001)
            arm(c, left); /* the body came fast enough so far */
        else
            cut(c, CLOSED_BODY_TIMEOUT, "connection closed: the request body came too slowly");
    }
}

/*
 * Looks for the empty line that ends the header block in the n bytes from offset: true when
 * found, with *rest the bytes after it (the body's start).
 */
static bool find_header_end(conn *c, struct evbuffer *buf, size_t offset, size_t n, size_t *rest)
{
    struct evbuffer_ptr pos;
    if (evbuffer_ptr_set(buf, &pos, offset, EVBUFFER_PTR_SET) != 0) return false;
    size_t seen = 0;
    while (seen < n) {
        struct evbuffer_iovec v[4];
        int nv = evbuffer_peek(buf, (ev_ssize_t)(n - seen), &pos, v, 4);
        if (nv <= 0) return false;
        size_t chunk = 0;
        for (int i = 0; i < nv && i < 4 && seen + chunk < n; i++) {
            const unsigned char *p = v[i].iov_base;
            size_t len = v[i].iov_len < n - seen - chunk ? v[i].iov_len : n - seen - chunk;
            for (size_t k = 0; k < len; k++) {
                if (p[k] == '\n') {
                    if (c->line_empty) {
                        *rest = n - (seen + chunk + k + 1);
                        return true;
                    }
                    c->line_empty = true;
                } else if (p[k] != '\r') {
                    c->line_empty = false;
                }
            }
            chunk += len;
        }
        seen += chunk;
        if (evbuffer_ptr_set(buf, &pos, chunk, EVBUFFER_PTR_ADD) != 0) break;
    }
    return false;
}

/* Bytes arrived (or evhttp drained some): moves the connection through its request's phases. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    conn *c = arg;
    if (info->n_added == 0) return;
    double now = monotonic_now();
    c->last_activity = now;
    size_t len = evbuffer_get_length(buf);
    size_t offset = len >= info->n_added ? len - info->n_added : 0, rest = 0;
    switch (c->phase) {
    case PHASE_IDLE: /* these bytes start the next request: its headers */
        begin_headers(c, now);
        __attribute__((fallthrough));
    case PHASE_HEADERS:
        if (find_header_end(c, buf, offset, len - offset, &rest)) begin_body(c, now, rest);
        break;
    case PHASE_BODY:
        c->body_bytes += info->n_added;
        break;
    case PHASE_WORKING:
        break; /* a pipelined request: looked at once this one is answered */
    }
}

/* The answer was written: the connection waits for its next request.  Bytes of one already sent
 * (pipelined) start its header deadline now. */
static void on_answered(struct evhttp_request *req, void *arg)
{
    (void)req;
    conn *c = arg;
    double now = monotonic_now();
    c->last_activity = now;
    c->phase = PHASE_IDLE;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len = evbuffer_get_length(in), rest;
    if (len == 0) return;
    begin_headers(c, now);
    if (find_header_end(c, in, 0, len, &rest)) begin_body(c, now, rest);
}

static void publish_open(msgw_conn_guard *g)
{
    msgw_metrics_set(g->m_open, (double)g->open, g->listener);
}

static void guard_free(msgw_conn_guard *g)
{
    if (g->index >= 0) CRYPTO_free_ex_index(CRYPTO_EX_INDEX_SSL, g->index);
    msgw_idmap_destroy(&g->per_address);
    msgw_idmap_destroy(&g->per_department);
    free(g);
}

/* OpenSSL frees the connection's SSL object: the connection is gone, whichever way. */
static void conn_freed(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)ad, (void)idx, (void)argl, (void)argp;
    conn *c = ptr;
    if (!c) return;
    msgw_conn_guard *g = c->g;
    closed_reason why = c->reason;
    if (why == CLOSED_BY_PEER && !SSL_is_init_finished(parent)) why = CLOSED_HANDSHAKE;
    if (why == CLOSED_BY_PEER && c->phase == PHASE_IDLE && g->lim.idle_timeout_s &&
        monotonic_now() - c->last_activity >= g->lim.idle_timeout_s - 0.5)
        why = CLOSED_IDLE_TIMEOUT;
    g->closed[why]++;
    msgw_metrics_inc(g->m_closed, 1, g->listener, reason_names[why]);
    g->open--;
    publish_open(g);
    if (c->address[0]) count_down(g->per_address, c->address);
    if (c->department) count_down(g->per_department, c->department);
    free(c->department);
    if (c->watch) evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
    event_free(c->timer);
    free(c);
    if (g->destroyed && g->open == 0) guard_free(g);
}

msgw_conn_limits msgw_conn_limits_of(const msgw_config *cfg)
{
    return (msgw_conn_limits){.max_connections = cfg->max_connections,
                              .per_address = cfg->max_connections_per_address,
                              .header_timeout_s = cfg->header_timeout_s,
                              .body_timeout_s = cfg->body_timeout_s,
                              .body_min_rate = cfg->body_min_rate,
                              .idle_timeout_s = cfg->request_timeout_s};
}

msgw_conn_guard *msgw_conn_guard_new(struct event_base *base, const char *listener,
                                     const msgw_conn_limits *limits, msgw_metrics *m)
{
    msgw_conn_guard *g = calloc(1, sizeof *g);
    if (!g) abort();
    g->base = base;
    snprintf(g->listener, sizeof g->listener, "%s", listener);
    g->lim = *limits;
    g->index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_freed);
    g->per_address = msgw_idmap_new();
    g->per_department = msgw_idmap_new();
    msgw_conn_guard_set_metrics(g, m);
    return g;
}

void msgw_conn_guard_set_metrics(msgw_conn_guard *g, msgw_metrics *m)
{
    g->m_closed = msgw_metrics_counter(
        m, "msgw_connections_closed_total",
        "Connections of an HTTPS listener closed, by why (docs/ingress.md, Connections).",
        "listener", "reason", NULL);
    g->m_open = msgw_metrics_gauge(m, "msgw_connections_open",
                                   "Open connections of an HTTPS listener.", "listener", NULL);
    publish_open(g);
}

void msgw_conn_guard_destroy(msgw_conn_guard **gp)
{
    if (!gp || !*gp) return;
    msgw_conn_guard *g = *gp;
    *gp = NULL;
    /* libevent 2.1 frees a bufferevent (and so its SSL) in a finalizer that runs later on the
     * loop, or when the event base is freed: the connections still open free the guard */
    g->destroyed = true;
    if (g->open == 0) guard_free(g);
}

void msgw_conn_guard_set_limits(msgw_conn_guard *g, const msgw_conn_limits *limits)
{
    g->lim = *limits;
}

struct bufferevent *msgw_conn_guard_accept(msgw_conn_guard *g, SSL_CTX *ctx)
{
    SSL *ssl = SSL_new(ctx);
    conn *c = calloc(1, sizeof *c);
    /* evhttp would fall back to plain TCP on NULL: never return it */
    if (!ssl || !c) abort();
    c->g = g;
    c->timer = evtimer_new(g->base, on_deadline, c);
    if (!c->timer) abort();
    SSL_set_ex_data(ssl, g->index, c);
    g->open++;
    publish_open(g);
    c->bev = bufferevent_openssl_socket_new(g->base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) abort();
    c->watch = evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c);
    double now = monotonic_now();
    c->last_activity = now;
    begin_headers(c, now); /* the first request's headers, the handshake included */
    return c->bev;
}

bool msgw_conn_guard_admit(msgw_conn_guard *g, SSL *ssl)
{
    conn *c = SSL_get_ex_data(ssl, g->index);
    if (!c || c->address[0])
        return true; /* a second ClientHello (HelloRetryRequest): admitted already */
    if (g->open > g->lim.max_connections) {
        c->reason = CLOSED_MAX_CONNECTIONS;
        return false;
    }
    char addr[INET6_ADDRSTRLEN];
    peer_address(SSL_get_fd(ssl), addr);
    long n = msgw_idmap_get(g->per_address, addr);
    if (n < 0) n = 0;
    if (g->lim.per_address && (size_t)n >= g->lim.per_address) {
        c->reason = CLOSED_ADDRESS_LIMIT;
        return false;
    }
    msgw_idmap_put(g->per_address, addr, n + 1);
    snprintf(c->address, sizeof c->address, "%s", addr);
    return true;
}

static conn *conn_of(msgw_conn_guard *g, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl ? SSL_get_ex_data(ssl, g->index) : NULL;
}

bool msgw_conn_guard_request(msgw_conn_guard *g, struct evhttp_request *req, const char *department,
                             size_t cap)
{
    conn *c = conn_of(g, req);
    if (!c) return true;
    evtimer_del(c->timer);
    c->phase = PHASE_WORKING;
    evhttp_request_set_on_complete_cb(req, on_answered, c);
    if (!department || c->department) return true;
    long n = msgw_idmap_get(g->per_department, department);
    if (n < 0) n = 0;
    if (cap && (size_t)n >= cap) {
        c->reason = CLOSED_DEPARTMENT_LIMIT;
        return false;
    }
    msgw_idmap_put(g->per_department, department, n + 1);
    c->department = strdup(department);
    if (!c->department) abort();
    return true;
}

void msgw_conn_guard_refuse(struct evhttp_request *req, const char *department)
{
    char msg[160];
    snprintf(msg, sizeof msg,
             "department %s has as many connections open as it may (limit.connections)",
             department);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    msgw_http_error(req, 503, "ingress.connections", msg);
}

size_t msgw_conn_guard_open(const msgw_conn_guard *g)
{
    return g->open;
}

json_t *msgw_conn_guard_stats(const msgw_conn_guard *g)
{
    json_t *closed = json_object();
    for (int i = 0; i < CLOSED_REASONS; i++)
        if (g->closed[i])
            json_object_set_new(closed, reason_names[i], json_integer((json_int_t)g->closed[i]));
    return json_pack("{s:I,s:o}", "connections", (json_int_t)g->open, "closed", closed);
}
