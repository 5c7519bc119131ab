/*
 * The HTTPS listener (include/msgw/ingress/listener.h; docs/ingress.md): libevent's HTTP server
 * over OpenSSL with mutual TLS.  TLS 1.2 and 1.3 only; a client without a certificate from the
 * configured CA is refused at the handshake; the certificate's subject (O = region, OU =
 * department) identifies the department.  Routes:
 *   POST /v1/records                   push records
 *   GET  /v1/persons/{id}/eligibility  a department's own services
 * libevent parses HTTP and enforces size and time limits; OpenSSL does TLS and checks the client
 * certificate; this file only maps a verified certificate to a department and a request to ingest.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "msgw/base/idnum.h"
#include "msgw/ingress/listener.h"
#include "msgw/net/conn_guard.h"
#include "msgw/net/http_routes.h"
#include "msgw/net/tls.h"

typedef struct msgw_https {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    SSL_CTX *ssl;
    SSL_CTX *next_ssl; /* prepared for a reload (SIGHUP), installed once it is decided */
    const msgw_config *cfg;
    msgw_ingest *ingest;
    msgw_conn_guard *guard; /* deadlines, caps and the count of open connections */
    msgw_tls_failures failures; /* counted through every context's app data */
    unsigned long long requests;
    char endpoint[16]; /* the port bound */
} msgw_https;

static void apply_limits(msgw_https *h);

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg)
{
    (void)base;
    msgw_https *h = arg;
    return msgw_conn_guard_accept(h->guard, h->ssl);
}

/* https.max_connections and max_connections_per_address: a handshake beyond them fails at once
 * with an alert. */
static int client_hello(SSL *ssl, int *alert, void *arg)
{
    msgw_https *h = arg;
    if (msgw_conn_guard_admit(h->guard, ssl)) return SSL_CLIENT_HELLO_SUCCESS;
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
}

/* The department the verified client certificate names (subject O and OU), or NULL. */
static const msgw_department *department_of(msgw_https *h, struct evhttp_request *req)
{
    char o[64], ou[64];
    return msgw_tls_peer_subject(req, o, sizeof o, ou, sizeof ou) ? msgw_config_department_for_cert(h->cfg, o, ou)
                                                                   : NULL;
}

/* The commit worker's answer to a queued request, on the loop thread. */
static void on_committed(void *ud, int status, const char *answer, size_t len)
{
    if (status) msgw_http_reply(ud, status, answer, len, 1);
}

static void post_records(msgw_ingest *ingest, struct evhttp_request *req, const msgw_department *dept)
{
    size_t len;
    char *body = msgw_http_body(req, &len);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    msgw_buf out;
    msgw_buf_init(&out);
    int status = msgw_ingest_submit(ingest, dept, ct, body, len, false, on_committed, req, &out);
    free(body);
    if (status) msgw_http_reply(req, status, out.data, out.len, msgw_ingest_retry_after(ingest));
    msgw_buf_free(&out);
}

/* GET /v1/persons/{id}/eligibility: the verdicts of the services that name this department. */
static void get_eligibility(msgw_ingest *ingest, struct evhttp_request *req, const msgw_department *dept,
                            const char *p)
{
    char id[32];
    const char *slash = strchr(p, '/');
    if (!slash || (size_t)(slash - p) >= sizeof id) {
        msgw_http_error(req, 404, "ingress.path", "no such resource");
        return;
    }
    snprintf(id, sizeof id, "%.*s", (int)(slash - p), p);
    char norm[19];
    if (msgw_idnum_normalize(id, strlen(id), norm, NULL, NULL) > MSGW_IDNUM_OK &&
        msgw_idnum_normalize(id, strlen(id), norm, NULL, NULL) != MSGW_IDNUM_CONVERTED) {
        msgw_http_error(req, 400, "gb11643", "not a valid resident ID number");
        return;
    }
    json_t *all = msgw_ingest_person_json(ingest, norm, msgw_date_today());
    json_t *mine = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(all, "eligible"), i, s) {
        size_t k;
        json_t *d;
        bool ours = false;
        json_array_foreach(json_object_get(s, "departments"), k, d) ours = ours || strcmp(json_string_value(d), dept->id) == 0;
        if (ours) json_array_append(mine, s); /* only the services this department is responsible for */
    }
    json_t *o = json_pack("{s:s,s:s,s:o}", "person", norm, "department", dept->id, "eligible", mine);
    json_decref(all);
    msgw_buf b;
    msgw_buf_init(&b);
    char *txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    msgw_buf_puts(&b, txt);
    free(txt);
    json_decref(o);
    msgw_http_reply(req, 200, b.data, b.len, 0);
    msgw_buf_free(&b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    msgw_https *h = arg;
    msgw_tls_no_delay(req);
    h->requests++;
    const msgw_department *dept = department_of(h, req);
    if (!msgw_conn_guard_request(h->guard, req, dept ? dept->id : NULL, dept ? dept->max_connections : 0)) {
        msgw_conn_guard_refuse(req, dept->id);
        return;
    }
    if (!dept) {
        msgw_http_error(req, 403, "ingress.certificate", "the client certificate names no configured department");
        return;
    }
    msgw_https_route(h->ingest, dept, req);
}

/* ---- the routes (docs/openapi.yaml; `msgw routes`) ---- */

/* What a route's handler is given: who asks, and where it goes. */
typedef struct ingress_request {
    msgw_ingest *ingest;
    const msgw_department *dept;
} ingress_request;

static void route_records(void *l, struct evhttp_request *req, const char *tail)
{
    (void)tail;
    ingress_request *r = l;
    post_records(r->ingest, req, r->dept);
}

static void route_eligibility(void *l, struct evhttp_request *req, const char *tail)
{
    ingress_request *r = l;
    get_eligibility(r->ingest, req, r->dept, tail);
}

static const msgw_http_route ingress_routes[] = {
    {EVHTTP_REQ_POST, "/v1/records", route_records},
    {EVHTTP_REQ_GET, "/v1/persons/{id}/eligibility", route_eligibility},
    {0, NULL, NULL},
};

void msgw_https_route(msgw_ingest *ingest, const msgw_department *dept, struct evhttp_request *req)
{
    struct evhttp_uri *u = evhttp_uri_parse(evhttp_request_get_uri(req));
    const char *tail = NULL;
    int status;
    const msgw_http_route *r = msgw_http_route_find(ingress_routes, evhttp_request_get_command(req),
                                                    u ? evhttp_uri_get_path(u) : NULL, &tail, &status);
    ingress_request ir = {.ingest = ingest, .dept = dept};
    if (r) r->handler(&ir, req, tail);
    else if (status == 405) msgw_http_error(req, 405, "ingress.method", "POST records to /v1/records; GET eligibility");
    else msgw_http_error(req, 404, "ingress.path", "no such resource");
    if (u) evhttp_uri_free(u);
}

static void https_stop(void **hp);

static void *https_start(const msgw_listener_env *env, msgw_errors *e)
{
    struct event_base *base = env->base;
    const msgw_config *cfg = env->cfg;
    msgw_ingest *ingest = env->ingest;
    msgw_https *h = calloc(1, sizeof *h);
    if (!h) abort();
    *h = (msgw_https){.base = base, .http = evhttp_new(base), .ssl = msgw_tls_server_context(cfg, e), .cfg = cfg, .ingest = ingest};
    if (!h->http || !h->ssl) {
        void *hp = h;
        https_stop(&hp);
        return NULL;
    }
    msgw_conn_limits limits = msgw_conn_limits_of(cfg);
    h->guard = msgw_conn_guard_new(base, "ingress", &limits, env->metrics);
    SSL_CTX_set_client_hello_cb(h->ssl, client_hello, h);
    h->failures.listener = "ingress";
    msgw_tls_count_failures(h->ssl, &h->failures);
    evhttp_set_bevcb(h->http, make_tls_bev, h);
    apply_limits(h);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(h->http, on_request, h);
    h->sock = msgw_tls_listen(h->http, cfg->https_listen);
    if (!h->sock) {
        msgw_error_add(e, -1, "/https/listen", "listen", "https.bind", "cannot listen on %s", cfg->https_listen);
        void *hp = h;
        https_stop(&hp);
        return NULL;
    }
    h->failures.family = msgw_tls_failures_family(env->metrics);
    snprintf(h->endpoint, sizeof h->endpoint, "%d", msgw_tls_bound_port(h->sock));
    return h;
}

static void apply_limits(msgw_https *h)
{
    evhttp_set_max_body_size(h->http, (ev_ssize_t)h->cfg->max_body_bytes);
    evhttp_set_max_headers_size(h->http, (ev_ssize_t)h->cfg->max_header_bytes);
    evhttp_set_timeout(h->http, (int)h->cfg->request_timeout_s);
    msgw_conn_limits limits = msgw_conn_limits_of(h->cfg);
    msgw_conn_guard_set_limits(h->guard, &limits);
}

/* SIGTERM: the listening socket closes; open connections are still served. */
static void https_pause(void *l)
{
    msgw_https *h = l;
    if (h->sock) evhttp_del_accept_socket(h->http, h->sock);
    h->sock = NULL;
}

/* The new TLS material is loaded before anything changes: a certificate that does not load
 * refuses the reload. */
static bool https_prepare(void *l, const msgw_listener_env *env, msgw_errors *e)
{
    msgw_https *h = l;
    if (h->next_ssl) SSL_CTX_free(h->next_ssl); /* of a reload refused since */
    h->next_ssl = msgw_tls_server_context(env->cfg, e);
    return h->next_ssl != NULL;
}

/* New TLS material and limits for new connections, department lookup from the new configuration;
 * open connections carry on. */
static bool https_reconfigure(void *l, const msgw_listener_env *env, msgw_errors *e)
{
    msgw_https *h = l;
    if (!h->next_ssl && !https_prepare(h, env, e)) return false;
    SSL_CTX_free(h->ssl); /* connections already open hold their own reference */
    h->ssl = h->next_ssl;
    h->next_ssl = NULL;
    SSL_CTX_set_client_hello_cb(h->ssl, client_hello, h);
    msgw_tls_count_failures(h->ssl, &h->failures);
    h->cfg = env->cfg;
    apply_limits(h);
    return true;
}

static void https_stop(void **hp)
{
    if (!hp || !*hp) return;
    msgw_https *h = *hp;
    if (h->http) evhttp_free(h->http); /* frees the connections: their slots still point at h */
    if (h->ssl) SSL_CTX_free(h->ssl);
    if (h->next_ssl) SSL_CTX_free(h->next_ssl);
    msgw_conn_guard_destroy(&h->guard);
    free(h);
    *hp = NULL;
}

static const char *https_endpoint(const void *l)
{
    return ((const msgw_https *)l)->endpoint;
}

static json_t *https_stats(const void *l)
{
    const msgw_https *h = l;
    json_t *o = msgw_conn_guard_stats(h->guard);
    json_object_set_new(o, "requests", json_integer((json_int_t)h->requests));
    return o;
}

static bool https_wanted(const msgw_config *cfg)
{
    return cfg->https_listen != NULL;
}

const msgw_listener_ops msgw_https_listener = {
    .name = "https",
    .port_file = "",
    .wanted = https_wanted,
    .start = https_start,
    .stop = https_stop,
    .pause = https_pause,
    .prepare = https_prepare,
    .reconfigure = https_reconfigure,
    .endpoint = https_endpoint,
    .stats = https_stats,
    .routes = ingress_routes,
};
