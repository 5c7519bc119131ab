/*
 * The peering listener (include/msgw/ingress/listener.h; docs/federation.md): a separate HTTPS
 * port where the gateways of other regions push envelopes, POST /v1/envelopes with
 * application/vnd.msgw.envelope+json.  libevent parses HTTP; OpenSSL admits only certificates of
 * the peers' CAs (gateway/net/tls.c), and each must chain to the CA of the peer its subject names.
 * This file maps the certificate to a peer, opens the envelope (signature, destination, hops:
 * gateway/pipeline/peer.c) and hands its record to ingest.  An altered, misaddressed or replayed
 * envelope is refused with its rule (400, 403, 409) and audited.  A peer may send several envelopes
 * in one request (a JSON array, X-Msgw-Envelopes: N): each is opened and submitted exactly as if it
 * had come alone, and the answer, once each has its outcome, is 200 with each one's status in order
 * (docs/federation.md, "Several envelopes in one request").
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/ingress/listener.h"
#include "msgw/net/conn_guard.h"
#include "msgw/net/http_routes.h"
#include "msgw/net/tls.h"

typedef struct msgw_peering {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    SSL_CTX *ssl;
    const msgw_config *cfg;
    msgw_ingest *ingest;
    const msgw_peers *peers;
    msgw_audit *audit;
    msgw_tls_failures failures;
    msgw_conn_guard *guard; /* deadlines and caps of its connections */
    unsigned long long requests;
    char endpoint[16]; /* the port bound */
} msgw_peering;

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg)
{
    (void)base;
    msgw_peering *p = arg;
    return msgw_conn_guard_accept(p->guard, p->ssl);
}

static int client_hello(SSL *ssl, int *alert, void *arg)
{
    msgw_peering *p = arg;
    if (msgw_conn_guard_admit(p->guard, ssl)) return SSL_CLIENT_HELLO_SUCCESS;
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
}

static void on_committed(void *ud, int status, const char *answer, size_t len)
{
    if (status) msgw_http_reply(ud, status, answer, len, 1);
}

/* A refused envelope: what the header said (when it could be read), the peer and the rule. */
static void audit_refusal(msgw_peering *p, const msgw_department *peer, const msgw_envelope *hdr, const char *rule)
{
    if (!p->audit) return;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit_append(p->audit, "peer", msgw_envelope_audit(hdr, "rejected", peer ? peer->id : "", rule), &e);
    msgw_errors_clear(&e);
}

/* 403 for who sent it or where it goes, 400 for what it is. */
static int status_of(const char *rule)
{
    return strcmp(rule, "envelope.format") == 0 ? 400 : 403;
}

/* The answer of a refused envelope, as its own request would have had it. */
static int refused(msgw_buf *out, const msgw_errors *e)
{
    const char *rule = e->n && e->v[0].rule ? e->v[0].rule : "envelope.format";
    int status = status_of(rule);
    msgw_http_error_body(out, status, rule, e->n && e->v[0].message ? e->v[0].message : "refused");
    return status;
}

/*
 * Opens one envelope (doc, raw: its bytes as sent) and submits its record: 0 when submitted (done
 * answers it once committed), else its status now, with its answer in out.
 */
static int open_and_submit(msgw_peering *p, const msgw_department *peer, json_t *doc, const char *raw, size_t rawlen,
                           msgw_ingest_done_fn done, void *ud, msgw_buf *out)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_envelope hdr;
    json_t *record = NULL;
    int status;
    if (!msgw_peers_open_json(p->peers, peer, doc, &record, &hdr, &e)) {
        status = refused(out, &e);
        audit_refusal(p, peer, &hdr, e.n && e.v[0].rule ? e.v[0].rule : "envelope.format");
    } else {
        char *text = json_dumps(record, JSON_COMPACT);
        status = msgw_ingest_submit_envelope(p->ingest, peer, &hdr, text, strlen(text), raw, rawlen, done, ud, out);
        if (status) audit_refusal(p, peer, &hdr, "envelope.record");
        free(text);
    }
    json_decref(record);
    msgw_errors_clear(&e);
    return status;
}

static void post_envelope(msgw_peering *p, struct evhttp_request *req, const msgw_department *peer)
{
    size_t len;
    char *body = msgw_http_body(req, &len);
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    msgw_buf out;
    msgw_buf_init(&out);
    int status = open_and_submit(p, peer, doc, body, len, on_committed, req, &out);
    if (status) msgw_http_reply(req, status, out.data, out.len, 1);
    msgw_buf_free(&out);
    json_decref(doc);
    free(body);
}

/* ---- several envelopes in one request ---- */

typedef struct list_answer list_answer;

typedef struct list_item {
    list_answer *list;
    size_t at;
} list_item;

struct list_answer {
    struct evhttp_request *req;
    size_t pending;
    bool abandoned; /* the gateway stops: no answer (the request goes with its connection) */
    json_t *results; /* each envelope's {"status", "answer"}, in order */
    list_item items[];
};

/* One outcome less to wait for; the last answers the request. */
static void list_release(list_answer *l)
{
    if (--l->pending) return;
    if (l->abandoned) {
        json_decref(l->results);
        free(l);
        return;
    }
    json_t *o = json_pack("{s:o}", "results", l->results);
    char *text = json_dumps(o, JSON_COMPACT);
    msgw_http_reply(l->req, 200, text, strlen(text), 1);
    free(text);
    json_decref(o);
    free(l);
}

/* One envelope's outcome (status 0: the gateway stopped before it was committed; the sender sends
 * it again). */
static void item_answered(list_answer *l, size_t at, int status, const char *answer, size_t len)
{
    l->abandoned = l->abandoned || !status;
    json_t *r = json_pack("{s:i}", "status", status);
    json_t *a = len ? json_loadb(answer, len, 0, NULL) : NULL;
    if (a) json_object_set_new(r, "answer", a);
    json_array_set_new(l->results, at, r);
    list_release(l);
}

static void on_item_committed(void *ud, int status, const char *answer, size_t len)
{
    list_item *it = ud;
    item_answered(it->list, it->at, status, answer, len);
}

static void post_envelopes(msgw_peering *p, struct evhttp_request *req, const msgw_department *peer,
                           const char *count)
{
    size_t len;
    char *body = msgw_http_body(req, &len);
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    size_t n = json_array_size(doc);
    char *end = NULL;
    unsigned long said = strtoul(count, &end, 10);
    if (!json_is_array(doc) || !n || n > MSGW_ENVELOPES_PER_REQUEST || *end || said != n) {
        msgw_http_error(req, 400, "envelope.list",
                        "X-Msgw-Envelopes: N comes with a JSON array of N envelopes (1 to 1000)");
    } else {
        list_answer *l = calloc(1, sizeof *l + n * sizeof l->items[0]);
        if (!l) abort();
        l->req = req;
        l->results = json_array();
        l->pending = n + 1; /* held until every one is submitted */
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(l->results, json_null());
            l->items[i] = (list_item){l, i};
        }
        for (size_t i = 0; i < n; i++) {
            json_t *x = json_array_get(doc, i);
            char *raw = json_dumps(x, JSON_COMPACT); /* what is kept: the signature covers the content */
            msgw_buf out;
            msgw_buf_init(&out);
            int status = raw ? open_and_submit(p, peer, x, raw, strlen(raw), on_item_committed, &l->items[i], &out)
                             : 400;
            if (status) item_answered(l, i, status, out.data ? out.data : "", out.len);
            msgw_buf_free(&out);
            free(raw);
        }
        list_release(l); /* the hold */
    }
    json_decref(doc);
    free(body);
}

/* ---- the routes (docs/openapi.yaml; `msgw routes`) ---- */

/* What a route's handler is given: the listener and the peer its certificate named. */
typedef struct peer_request {
    msgw_peering *p;
    const msgw_department *peer;
} peer_request;

static void route_envelopes(void *l, struct evhttp_request *req, const char *tail)
{
    (void)tail;
    peer_request *r = l;
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    const char *n = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Msgw-Envelopes");
    if (!ct || strncmp(ct, MSGW_ENVELOPE_MEDIA_TYPE, strlen(MSGW_ENVELOPE_MEDIA_TYPE)) != 0)
        msgw_http_error(req, 415, "peer.media_type", "an envelope is " MSGW_ENVELOPE_MEDIA_TYPE);
    else if (n)
        post_envelopes(r->p, req, r->peer, n);
    else
        post_envelope(r->p, req, r->peer);
}

static const msgw_http_route peering_routes[] = {
    {EVHTTP_REQ_POST, "/v1/envelopes", route_envelopes},
    {0, NULL, NULL},
};

static void on_request(struct evhttp_request *req, void *arg)
{
    msgw_peering *p = arg;
    msgw_tls_no_delay(req);
    p->requests++;
    X509 *cert = msgw_tls_peer_certificate(req);
    const msgw_department *peer = p->peers ? msgw_peers_who(p->peers, p->cfg, cert) : NULL;
    X509_free(cert);
    if (!msgw_conn_guard_request(p->guard, req, peer ? peer->id : NULL, peer ? peer->max_connections : 0)) {
        msgw_conn_guard_refuse(req, peer->id);
        return;
    }
    if (!peer) {
        msgw_http_error(req, 403, "peer.certificate", "the client certificate names no configured peer gateway");
        return;
    }
    const char *tail = NULL;
    int status;
    const msgw_http_route *r = msgw_http_route_find(peering_routes, evhttp_request_get_command(req),
                                                    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req)), &tail,
                                                    &status);
    peer_request pr = {.p = p, .peer = peer};
    if (r) r->handler(&pr, req, tail);
    else if (status == 405) msgw_http_error(req, 405, "peer.method", "peers push to POST /v1/envelopes");
    else msgw_http_error(req, 404, "peer.path", "peers push to POST /v1/envelopes");
}

static void peering_stop(void **pp);

/* Listens on cfg->peering_listen. */
static void *peering_start(const msgw_listener_env *env, msgw_errors *e)
{
    const msgw_config *cfg = env->cfg;
    msgw_peering *p = calloc(1, sizeof *p);
    if (!p) abort();
    *p = (msgw_peering){.http = evhttp_new(env->base),
                        .ssl = msgw_tls_peering_context(cfg, e),
                        .cfg = cfg,
                        .ingest = env->ingest,
                        .peers = env->peers,
                        .audit = env->audit};
    void *pp = p;
    if (!p->http || !p->ssl) {
        peering_stop(&pp);
        return NULL;
    }
    p->failures.listener = "peering";
    msgw_tls_count_failures(p->ssl, &p->failures);
    SSL_CTX_set_client_hello_cb(p->ssl, client_hello, p);
    msgw_conn_limits limits = msgw_conn_limits_of(cfg);
    p->guard = msgw_conn_guard_new(env->base, "peering", &limits, env->metrics);
    evhttp_set_bevcb(p->http, make_tls_bev, p);
    evhttp_set_timeout(p->http, (int)cfg->request_timeout_s);
    evhttp_set_max_body_size(p->http, (ev_ssize_t)cfg->max_body_bytes);
    evhttp_set_allowed_methods(p->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(p->http, on_request, p);
    p->sock = msgw_tls_listen(p->http, cfg->peering_listen);
    if (!p->sock) {
        msgw_error_add(e, -1, "/peering/listen", "listen", "peering.bind", "cannot listen on %s",
                       cfg->peering_listen);
        peering_stop(&pp);
        return NULL;
    }
    p->failures.family = msgw_tls_failures_family(env->metrics);
    snprintf(p->endpoint, sizeof p->endpoint, "%d", msgw_tls_bound_port(p->sock));
    return p;
}

/* The new configuration and peers from now on; false (the TLS material kept) when the peers' CAs
 * cannot be loaded.  Such a failure does not refuse the reload (no prepare): the peers already
 * trusted stay trusted. */
static bool peering_reconfigure(void *l, const msgw_listener_env *env, msgw_errors *e)
{
    msgw_peering *p = l;
    p->cfg = env->cfg;
    p->peers = env->peers;
    evhttp_set_timeout(p->http, (int)env->cfg->request_timeout_s);
    msgw_conn_limits limits = msgw_conn_limits_of(env->cfg);
    msgw_conn_guard_set_limits(p->guard, &limits);
    SSL_CTX *ssl = msgw_tls_peering_context(env->cfg, e);
    if (!ssl) return false;
    SSL_CTX_free(p->ssl); /* open connections hold their own reference */
    p->ssl = ssl;
    msgw_tls_count_failures(p->ssl, &p->failures);
    SSL_CTX_set_client_hello_cb(p->ssl, client_hello, p);
    return true;
}

static void peering_stop(void **pp)
{
    if (!pp || !*pp) return;
    msgw_peering *p = *pp;
    if (p->http) evhttp_free(p->http);
    msgw_conn_guard_destroy(&p->guard);
    if (p->ssl) SSL_CTX_free(p->ssl);
    free(p);
    *pp = NULL;
}

static const char *peering_endpoint(const void *l)
{
    return ((const msgw_peering *)l)->endpoint;
}

static json_t *peering_stats(const void *l)
{
    const msgw_peering *p = l;
    json_t *o = msgw_conn_guard_stats(p->guard);
    json_object_set_new(o, "requests", json_integer((json_int_t)p->requests));
    return o;
}

static bool peering_wanted(const msgw_config *cfg)
{
    return cfg->peering_listen != NULL;
}

const msgw_listener_ops msgw_peering_listener = {
    .name = "peering",
    .port_file = "peering",
    .wanted = peering_wanted,
    .start = peering_start,
    .stop = peering_stop,
    .reconfigure = peering_reconfigure,
    .endpoint = peering_endpoint,
    .stats = peering_stats,
    .routes = peering_routes,
};
