/*
 * TLS helpers of the HTTPS listeners (include/msgw/net/tls.h).  OpenSSL does the
 * protocol; this file only configures it the same way for every listener.
 */
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "msgw/base/buf.h"
#include "msgw/net/tls.h"
#include "msgw/net/trust.h"

static SSL *ssl_of(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    return bev ? bufferevent_openssl_get_ssl(bev) : NULL;
}

/* The gateway's certificate chain and key; false, with an error naming tls.cert and tls.key. */
static bool use_own_certificate(SSL_CTX *ctx, const msgw_config *cfg, msgw_errors *e)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) == 1 &&
        SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) == 1 &&
        SSL_CTX_check_private_key(ctx) == 1)
        return true;
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    ERR_clear_error();
    msgw_error_add(e, -1, "/tls", NULL, "tls.config",
                   "cannot load the gateway's certificate (tls.cert %s) or key (tls.key %s): %s",
                   cfg->tls_cert, cfg->tls_key, buf);
    return false;
}

/*
 * A listener's context: the gateway's certificate, and client certificates required from the CAs
 * of trust, checked against their CRLs where given; verify (NULL: none) may overrule a verdict of
 * OpenSSL's.  A context is built whole at the start and at each SIGHUP, so new connections get the
 * files as they are now, while open ones keep the context they were accepted with.
 */
static SSL_CTX *server_context(const msgw_config *cfg, const msgw_trust_files *trust, size_t ntrust,
                               SSL_verify_cb verify, msgw_errors *e)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* TLS 1.2: forward-secret AEAD suites only; TLS 1.3 suites are all modern */
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    bool ok = use_own_certificate(ctx, cfg, e);
    for (size_t i = 0; ok && i < ntrust; i++)
        ok = msgw_trust_add(SSL_CTX_get_cert_store(ctx), &trust[i], e);
    if (ok && !ntrust)
        msgw_error_add(e, -1, "/peers", NULL, "tls.config",
                       "no CA to admit clients by (peering.listen without peers)");
    if (!ok || !ntrust) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify);
    SSL_CTX_set_verify_depth(ctx, 4);
    /* Clients resume sessions (a browser's parallel connections do): with peer verification on,
     * OpenSSL refuses a resumption unless the context names the sessions it issued.  A resumed
     * session keeps the verified client certificate, so the role checks still hold.  Sessions and
     * tickets belong to one context: after a reload every client verifies again, against the new
     * CAs and CRLs. */
    static const unsigned char session_context[] = "msgw";
    SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
    return ctx;
}

/* tls.ca with tls.crl. */
static msgw_trust_files own_trust(const msgw_config *cfg)
{
    return (msgw_trust_files){.ca = cfg->tls_ca,
                              .crl = cfg->tls_crl,
                              .ca_key = "tls.ca",
                              .crl_key = "tls.crl",
                              .where = "/tls"};
}

SSL_CTX *msgw_tls_server_context(const msgw_config *cfg, msgw_errors *e)
{
    msgw_trust_files t = own_trust(cfg);
    return server_context(cfg, &t, 1, NULL, e);
}

/* The administrators' listener: a CRL past its nextUpdate still refuses what it lists, but does not
 * lock the administrators out of the dashboard and /metrics that say it has expired. */
static int admit_stale_crl(int ok, X509_STORE_CTX *x)
{
    if (ok || X509_STORE_CTX_get_error(x) != X509_V_ERR_CRL_HAS_EXPIRED) return ok;
    X509_STORE_CTX_set_error(x, X509_V_OK); /* else the handshake's verify result keeps the error */
    return 1;
}

SSL_CTX *msgw_tls_admin_context(const msgw_config *cfg, msgw_errors *e)
{
    msgw_trust_files t = own_trust(cfg);
    return server_context(cfg, &t, 1, admit_stale_crl, e);
}

/* The peering listener: a peer configured without a CRL is not checked against one, while the CRLs
 * of the others are in the same store (each CRL was checked to be its own peer's CA's). */
static int admit_peer_without_crl(int ok, X509_STORE_CTX *x)
{
    if (ok || X509_STORE_CTX_get_error(x) != X509_V_ERR_UNABLE_TO_GET_CRL) return ok;
    X509_STORE_CTX_set_error(x, X509_V_OK);
    return 1;
}

SSL_CTX *msgw_tls_peering_context(const msgw_config *cfg, msgw_errors *e)
{
    msgw_trust_files *t = calloc(cfg->npeers + 1, sizeof *t);
    msgw_trust_keys *k = calloc(cfg->npeers + 1, sizeof *k);
    if (!t || !k) abort();
    size_t n = 0;
    for (size_t i = 0; i < cfg->ndepartments; i++)
        if (cfg->departments[i].peer_region) {
            t[n] = msgw_trust_peer(cfg, i, &k[n]);
            n++;
        }
    SSL_CTX *ctx = server_context(cfg, t, n, admit_peer_without_crl, e);
    free(t);
    free(k);
    return ctx;
}

X509 *msgw_tls_peer_certificate(struct evhttp_request *req)
{
    SSL *ssl = ssl_of(req);
    X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    if (cert && SSL_get_verify_result(ssl) != X509_V_OK) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}


bool msgw_tls_peer_subject(struct evhttp_request *req, char *o, size_t olen, char *ou, size_t oulen)
{
    SSL *ssl = ssl_of(req);
    X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) {
        X509_free(cert);
        return false;
    }
    o[0] = ou[0] = '\0';
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_get_text_by_NID(name, NID_organizationName, o, (int)olen);
    X509_NAME_get_text_by_NID(name, NID_organizationalUnitName, ou, (int)oulen);
    X509_free(cert);
    return true;
}

void msgw_tls_no_delay(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    int one = 1;
    if (bev) setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

struct evhttp_bound_socket *msgw_tls_listen(struct evhttp *http, const char *address)
{
    char host[256];
    snprintf(host, sizeof host, "%s", address);
    char *colon = strrchr(host, ':');
    if (!colon) return NULL;
    *colon = '\0';
    return evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)atoi(colon + 1));
}

int msgw_tls_bound_port(struct evhttp_bound_socket *sock)
{
    evutil_socket_t fd = evhttp_bound_socket_get_fd(sock);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * Why a handshake failed, for the reason label: what verifying the client certificate found —
 * revoked, a CRL past its nextUpdate (every certificate of its CA fails alike), another CRL
 * problem, an expired certificate, any other (an unknown CA) — else whether it sent one at all;
 * "handshake" is the rest (protocol, suites, https.max_connections).  OpenSSL raised the error
 * just before it wrote the alert.
 */
static const char *failure_reason(const SSL *ssl)
{
    switch (SSL_get_verify_result(ssl)) {
    case X509_V_OK:
        break;
    case X509_V_ERR_CERT_REVOKED:
        return "revoked";
    case X509_V_ERR_CRL_HAS_EXPIRED:
        return "crl_expired";
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
        return "crl";
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return "expired";
    default:
        return "untrusted";
    }
    return ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE
               ? "no_certificate"
               : "handshake";
}

/* An alert written while the handshake is unfinished is a failed handshake, whoever caused it. */
static void on_tls_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if (!(where & SSL_CB_ALERT) || !(where & SSL_CB_WRITE) || SSL_is_init_finished(ssl)) return;
    const msgw_tls_failures *f = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (f) msgw_metrics_inc(f->family, 1, f->listener, failure_reason(ssl));
}

void msgw_tls_count_failures(SSL_CTX *ctx, msgw_tls_failures *f)
{
    SSL_CTX_set_app_data(ctx, f);
    SSL_CTX_set_info_callback(ctx, on_tls_info);
}

msgw_metric *msgw_tls_failures_family(msgw_metrics *m)
{
    return msgw_metrics_counter(
        m, "msgw_tls_handshake_failures_total",
        "TLS handshakes the gateway ended with an alert, by listener (ingress, admin, peering) and "
        "reason (revoked, crl_expired, crl, expired, untrusted, no_certificate, handshake).",
        "listener", "reason", NULL);
}

const char *msgw_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

char *msgw_http_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    char *body = malloc(*len + 1);
    if (!body) abort();
    evbuffer_copyout(in, body, *len);
    body[*len] = '\0';
    return body;
}

void msgw_http_reply(struct evhttp_request *req, int status, const char *body, size_t len, unsigned retry_after)
{
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, "Content-Type", "application/json");
    if (status == 503 || status == 429) {
        char secs[16];
        snprintf(secs, sizeof secs, "%u", retry_after ? retry_after : 1);
        evhttp_add_header(hdr, "Retry-After", secs);
    }
    struct evbuffer *b = evbuffer_new();
    if (len) evbuffer_add(b, body, len);
    evhttp_send_reply(req, status, msgw_http_reason(status), b); /* frees req when its client has gone */
    evbuffer_free(b);
}

void msgw_http_error_body(msgw_buf *out, int status, const char *rule, const char *message)
{
    json_t *o = json_pack("{s:i,s:[{s:s,s:s}]}", "status", status, "errors", "rule", rule, "message", message);
    char *s = json_dumps(o, JSON_COMPACT);
    msgw_buf_puts(out, s);
    msgw_buf_puts(out, "\n");
    free(s);
    json_decref(o);
}

void msgw_http_error(struct evhttp_request *req, int status, const char *rule, const char *message)
{
    msgw_buf b;
    msgw_buf_init(&b);
    msgw_http_error_body(&b, status, rule, message);
    msgw_http_reply(req, status, b.data, b.len, 1);
    msgw_buf_free(&b);
}
