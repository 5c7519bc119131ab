/*
 * The peering listener (include/msgw/ingress/listener.h; docs/federation.md): a separate HTTPS
 * port where the gateways of other regions push envelopes, POST /v1/envelopes with
 * application/vnd.msgw.envelope+json.  libevent parses HTTP; OpenSSL admits only certificates of
 * the peers' CAs (gateway/net/tls.c), and each must chain to the CA of the peer its subject names.
 * This file maps the certificate to a peer, opens the envelope (signature, destination, hops:
 * gateway/pipeline/peer.c) and hands its record to ingest.  An altered, misaddressed or replayed
 * envelope is refused with its rule (400, 403, 409) and audited.
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
    unsigned long long requests;
    char endpoint[16]; /* the port bound */
} msgw_peering;

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg)
{
    msgw_peering *p = arg;
    SSL *ssl = SSL_new(p->ssl);
    if (!ssl) abort(); /* evhttp would fall back to plain TCP on NULL */
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
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

static void post_envelope(msgw_peering *p, struct evhttp_request *req, const msgw_department *peer)
{
    size_t len;
    char *body = msgw_http_body(req, &len);
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_envelope hdr;
    json_t *record = NULL;
    if (!msgw_peers_open(p->peers, peer, body, len, &record, &hdr, &e)) {
        const char *rule = e.n && e.v[0].rule ? e.v[0].rule : "envelope.format";
        audit_refusal(p, peer, &hdr, rule);
        msgw_http_error(req, status_of(rule), rule, e.n && e.v[0].message ? e.v[0].message : "refused");
    } else {
        char *text = json_dumps(record, JSON_COMPACT);
        msgw_buf out;
        msgw_buf_init(&out);
        int status = msgw_ingest_submit_envelope(p->ingest, peer, &hdr, text, strlen(text), body, len, on_committed,
                                                 req, &out);
        if (status) {
            audit_refusal(p, peer, &hdr, "envelope.record");
            msgw_http_reply(req, status, out.data, out.len, 1);
        }
        msgw_buf_free(&out);
        free(text);
    }
    json_decref(record);
    msgw_errors_clear(&e);
    free(body);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    msgw_peering *p = arg;
    msgw_tls_no_delay(req);
    p->requests++;
    X509 *cert = msgw_tls_peer_certificate(req);
    const msgw_department *peer = p->peers ? msgw_peers_who(p->peers, p->cfg, cert) : NULL;
    X509_free(cert);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (!peer) {
        msgw_http_error(req, 403, "peer.certificate", "the client certificate names no configured peer gateway");
    } else if (!path || strcmp(path, "/v1/envelopes") != 0) {
        msgw_http_error(req, 404, "peer.path", "peers push to POST /v1/envelopes");
    } else if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        msgw_http_error(req, 404, "peer.path", "peers push to POST /v1/envelopes");
    } else if (!ct || strncmp(ct, MSGW_ENVELOPE_MEDIA_TYPE, strlen(MSGW_ENVELOPE_MEDIA_TYPE)) != 0) {
        msgw_http_error(req, 415, "peer.media_type", "an envelope is " MSGW_ENVELOPE_MEDIA_TYPE);
    } else {
        post_envelope(p, req, peer);
    }
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
    SSL_CTX *ssl = msgw_tls_peering_context(env->cfg, e);
    if (!ssl) return false;
    SSL_CTX_free(p->ssl); /* open connections hold their own reference */
    p->ssl = ssl;
    msgw_tls_count_failures(p->ssl, &p->failures);
    return true;
}

static void peering_stop(void **pp)
{
    if (!pp || !*pp) return;
    msgw_peering *p = *pp;
    if (p->http) evhttp_free(p->http);
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
    return json_pack("{s:I}", "requests", (json_int_t)((const msgw_peering *)l)->requests);
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
};
