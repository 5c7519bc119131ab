/*
 * What the gateway's HTTPS listeners share (the departments' ingress, the
 * administrators' listener and the peering listener): the server TLS context — TLS 1.2 and 1.3
 * only, forward-secret AEAD suites, a client certificate from the gateway's CA required at the
 * handshake — the subject of a request's verified client certificate, TCP_NODELAY on a request's
 * connection, and the JSON answers the department and peer listeners give.
 */
#ifndef MSGW_TLS_H
#define MSGW_TLS_H

#include <event2/http.h>
#include <openssl/ssl.h>
#include <stdbool.h>

#include "msgw/net/config.h"
#include "msgw/base/date.h"
#include "msgw/base/error.h"
#include "msgw/base/metrics.h"

/* The server context from cfg's tls.{ca,crl,cert,key}: client certificates of tls.ca, checked
 * against tls.crl when it is set; NULL with an error naming the key and file that did not load. */
SSL_CTX *msgw_tls_server_context(const msgw_config *cfg, msgw_errors *e);
/* The administrators' listener's: the same, but a CRL past its nextUpdate does not refuse an
 * administrator it does not list (the dashboard and /metrics say it expired). */
SSL_CTX *msgw_tls_admin_context(const msgw_config *cfg, msgw_errors *e);
/* The peering listener's: client certificates from the peers' CAs only (never the gateway's own CA:
 * a department cannot pose as a peer, nor a peer as a department), each checked against its peer's
 * CRL (peers[].crl) when it has one. */
SSL_CTX *msgw_tls_peering_context(const msgw_config *cfg, msgw_errors *e);
/* The request's verified client certificate (a new reference), NULL when none. */
X509 *msgw_tls_peer_certificate(struct evhttp_request *req);
/* The verified client certificate's subject O and OU; false when there is none (or it did not verify). */
bool msgw_tls_peer_subject(struct evhttp_request *req, char *o, size_t olen, char *ou, size_t oulen);
/* Nagle off on the request's connection: evhttp writes headers and body as two TLS records. */
void msgw_tls_no_delay(struct evhttp_request *req);
/* Binds http to "host:port" (port 0: any); NULL when it cannot. */
struct evhttp_bound_socket *msgw_tls_listen(struct evhttp *http, const char *address);
/* The port a bound socket actually got; -1 on error. */
int msgw_tls_bound_port(struct evhttp_bound_socket *sock);
/* Where a listener counts failed handshakes: msgw_tls_handshake_failures_total{listener,reason}. */
typedef struct msgw_tls_failures {
    msgw_metric *family; /* NULL: not counted */
    const char *listener;
} msgw_tls_failures;
/* Counts in f (owned by the listener, outliving ctx's connections) each alert the server sends
 * before a handshake completes, with its reason: a revoked, expired or foreign client certificate,
 * an expired CRL, none, an old protocol, no common suite, too many connections.  Takes ctx's app
 * data. */
void msgw_tls_count_failures(SSL_CTX *ctx, msgw_tls_failures *f);
/* The family, registered in m (NULL: none). */
msgw_metric *msgw_tls_failures_family(msgw_metrics *m);
/* The reason phrase of an HTTP status the listeners answer. */
const char *msgw_http_reason(int status);
/* The request's body, NUL-terminated (malloc'd; the caller frees), its length in *len. */
char *msgw_http_body(struct evhttp_request *req, size_t *len);
/* A JSON answer (body may be NULL when len is 0); 503 and 429 carry Retry-After (retry_after
 * seconds, at least 1). */
void msgw_http_reply(struct evhttp_request *req, int status, const char *body, size_t len, unsigned retry_after);
/* {"status", "errors": [{"rule", "message"}]} as the answer. */
void msgw_http_error(struct evhttp_request *req, int status, const char *rule, const char *message);
/* The same document, appended to out (an answer given later, or inside another). */
void msgw_http_error_body(msgw_buf *out, int status, const char *rule, const char *message);

#endif
