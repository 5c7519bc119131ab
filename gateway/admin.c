/*
 * The administrators' listener (include/msgw/admin.h).  libevent parses
 * HTTP, OpenSSL checks the client certificate (gateway/tls.c); this file maps
 * the certificate to the administrator role and answers the operational
 * endpoints.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msgw/admin.h"
#include "msgw/audit.h"
#include "msgw/doorbell.h"
#include "msgw/tls.h"

struct msgw_admin {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    SSL_CTX *ssl;
    const msgw_config *cfg;
    const msgw_catalogue *cat;
    msgw_ingest *ingest;
    msgw_metrics *metrics; /* NULL: no /metrics */
    char *store_spec;
    msgw_store *store; /* opened at the first scrape, for the outbox gauges */
    msgw_metric *m_pending, *m_oldest, *m_dead, *m_size, *m_expiry;
    msgw_tls_failures failures; /* counted through every context's app data */
    msgw_audit *audit;          /* administrators' actions are audited */
    msgw_doorbell *bell;        /* a replay wakes the deliverers */
};

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg)
{
    msgw_admin *a = arg;
    SSL *ssl = SSL_new(a->ssl);
    if (!ssl) abort(); /* evhttp would fall back to plain TCP on NULL */
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static bool is_admin(const msgw_admin *a, struct evhttp_request *req)
{
    char o[64], ou[64];
    if (!msgw_tls_peer_subject(req, o, sizeof o, ou, sizeof ou)) return false;
    for (size_t i = 0; i < a->cfg->nadmins; i++)
        if (strcmp(a->cfg->admins[i].organization, o) == 0 && strcmp(a->cfg->admins[i].unit, ou) == 0) return true;
    return false;
}

static void reply_json(struct evhttp_request *req, int status, const char *reason, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "%s\n", s);
    free(s);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, reason, b);
    evbuffer_free(b);
}

static json_t *check(const char *name, bool ok, const char *detail)
{
    return json_pack("{s:s,s:b,s:s}", "name", name, "ok", ok, "detail", detail);
}

/* A certificate that expires within the warning period (or cannot be read) fails the check. */
static json_t *check_cert(const msgw_admin *a, const char *name, const char *path)
{
    char detail[256], when[40];
    msgw_time exp = msgw_tls_cert_expiry(path), now = msgw_time_now();
    msgw_time warn = (msgw_time)a->cfg->admin_cert_warning_days * 86400 * 1000000;
    if (!exp) {
        snprintf(detail, sizeof detail, "%s: no certificate could be read", path);
        return check(name, false, detail);
    }
    long days = (long)((exp - now) / (86400LL * 1000000));
    snprintf(detail, sizeof detail, "%s expires %s (in %ld days; warning at %u)", path, msgw_time_format(exp, when),
             days, a->cfg->admin_cert_warning_days);
    return check(name, exp - now > warn, detail);
}

/* GET /readyz: every check, named; 200 when all pass, else 503. */
static void readyz(msgw_admin *a, struct evhttp_request *req)
{
    json_t *checks = json_array();
    char detail[256];
    const char *store_problem = msgw_ingest_store_problem(a->ingest);
    bool writable = access(a->cfg->data_dir, W_OK) == 0;
    snprintf(detail, sizeof detail, "%s", store_problem ? store_problem
                                          : writable    ? "commits succeed; the data directory is writable"
                                                        : "the data directory is not writable");
    json_array_append_new(checks, check("store", !store_problem && writable, detail));
    snprintf(detail, sizeof detail, "%s: %zu services", a->cat ? a->cat->id : "(none)", a->cat ? a->cat->nservices : 0);
    json_array_append_new(checks, check("catalogue", a->cat && a->cat->nservices > 0, detail));
    json_array_append_new(checks, check_cert(a, "certificate.gateway", a->cfg->tls_cert));
    json_array_append_new(checks, check_cert(a, "certificate.ca", a->cfg->tls_ca));
    for (size_t i = 0; i < a->cfg->ndepartments; i++) {
        const msgw_department *d = &a->cfg->departments[i];
        if (!d->deliver_cert) continue;
        char name[96];
        snprintf(name, sizeof name, "certificate.delivery.%s", d->id);
        json_array_append_new(checks, check_cert(a, name, d->deliver_cert));
    }
    bool ready = true;
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c) ready = ready && json_is_true(json_object_get(c, "ok"));
    reply_json(req, ready ? 200 : 503, ready ? "OK" : "Service Unavailable",
               json_pack("{s:b,s:o}", "ready", ready, "checks", checks));
}

/* The store file's size with its write-ahead log: "sqlite:PATH" or PATH. */
static double store_bytes(const char *spec)
{
    const char *path = strncmp(spec, "sqlite:", 7) == 0 ? spec + 7 : spec;
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct stat st;
    double n = 0;
    if (stat(path, &st) == 0) n += (double)st.st_size;
    if (stat(wal, &st) == 0) n += (double)st.st_size;
    return n;
}

static void cert_expiry(msgw_admin *a, const char *name, const char *path, msgw_time now)
{
    msgw_time exp = path ? msgw_tls_cert_expiry(path) : 0;
    if (exp) msgw_metrics_set(a->m_expiry, (double)(exp - now) / 1e6, name);
}

/* GET /metrics: what is counted as it happens, and the gauges read now. */
static void metrics(msgw_admin *a, struct evhttp_request *req)
{
    msgw_time now = msgw_time_now();
    msgw_errors e;
    msgw_errors_init(&e);
    if (!a->store) a->store = msgw_store_open_delivery(a->store_spec, &e);
    for (size_t i = 0; a->store && i < a->cfg->ndepartments; i++) {
        const char *id = a->cfg->departments[i].id;
        msgw_store_stats st;
        if (!msgw_store_stats_get(a->store, id, &st, &e)) continue;
        msgw_metrics_set(a->m_pending, (double)st.pending, id);
        msgw_metrics_set(a->m_oldest, st.oldest_pending ? (double)(now - st.oldest_pending) / 1e6 : 0, id);
        msgw_metrics_set(a->m_dead, (double)st.dead, id);
    }
    msgw_errors_clear(&e);
    msgw_metrics_set(a->m_size, store_bytes(a->store_spec));
    cert_expiry(a, "gateway", a->cfg->tls_cert, now);
    cert_expiry(a, "ca", a->cfg->tls_ca, now);
    for (size_t i = 0; i < a->cfg->ndepartments; i++) {
        const msgw_department *d = &a->cfg->departments[i];
        char name[96];
        snprintf(name, sizeof name, "delivery.%s", d->id);
        if (d->deliver_cert) cert_expiry(a, name, d->deliver_cert, now);
    }
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_metrics_write(a->metrics, &out);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, out.data ? out.data : "", out.len);
    msgw_buf_free(&out);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

void msgw_admin_set_metrics(msgw_admin *a, msgw_metrics *m, const char *store_spec)
{
    a->metrics = m;
    free(a->store_spec);
    a->store_spec = strdup(store_spec);
    if (!a->store_spec) abort();
    a->failures.family = msgw_tls_failures_family(m);
    a->m_pending = msgw_metrics_gauge(m, "msgw_outbox_pending", "Outbox messages waiting for delivery, by recipient.",
                                      "recipient", NULL);
    a->m_oldest = msgw_metrics_gauge(m, "msgw_outbox_oldest_pending_seconds",
                                     "Age of the oldest message waiting for delivery, by recipient (0: none).",
                                     "recipient", NULL);
    a->m_dead = msgw_metrics_gauge(m, "msgw_outbox_dead", "Dead-lettered outbox messages, by recipient.", "recipient",
                                   NULL);
    a->m_size = msgw_metrics_gauge(m, "msgw_store_size_bytes", "Size of the store's database file and its WAL.", NULL);
    a->m_expiry = msgw_metrics_gauge(m, "msgw_certificate_expiry_seconds",
                                     "Seconds until each certificate the gateway presents or trusts expires.",
                                     "certificate", NULL);
}

/* The admin module's own store connection, opened at first use. */
static msgw_store *admin_store(msgw_admin *a, msgw_errors *e)
{
    if (!a->store && a->store_spec) a->store = msgw_store_open_delivery(a->store_spec, e);
    return a->store;
}

/* GET /v1/messages/{id}: the message end to end (msgw_store_trace; docs/admin.md). */
static void message_trace(msgw_admin *a, struct evhttp_request *req, const char *escaped)
{
    char *id = evhttp_uridecode(escaped, 0, NULL);
    msgw_errors e;
    msgw_errors_init(&e);
    json_t *t = NULL;
    if (!admin_store(a, &e) || !msgw_store_trace(a->store, id ? id : "", &t, &e))
        reply_json(req, 503, "Service Unavailable",
                   json_pack("{s:i,s:[{s:s,s:s}]}", "status", 503, "errors", "rule", "store.unavailable", "message",
                             e.n && e.v[0].message ? e.v[0].message : "the store cannot be read"));
    else if (!t)
        reply_json(req, 404, "Not Found",
                   json_pack("{s:i,s:[{s:s,s:s}]}", "status", 404, "errors", "rule", "trace.unknown", "message",
                             "no stored record has this message id (a rejected record is never stored)"));
    else
        reply_json(req, 200, "OK", t);
    msgw_errors_clear(&e);
    free(id);
}

static void store_unavailable(struct evhttp_request *req, const msgw_errors *e)
{
    reply_json(req, 503, "Service Unavailable",
               json_pack("{s:i,s:[{s:s,s:s}]}", "status", 503, "errors", "rule", "store.unavailable", "message",
                         e->n && e->v[0].message ? e->v[0].message : "the store cannot be read"));
}

/* GET /v1/deadletters: the dead letters, oldest first (at most 1,000). */
static void dead_letters(msgw_admin *a, struct evhttp_request *req)
{
    msgw_errors e;
    msgw_errors_init(&e);
    json_t *list = NULL;
    if (!admin_store(a, &e) || !msgw_store_dead_letters(a->store, 1000, &list, &e)) store_unavailable(req, &e);
    else reply_json(req, 200, "OK", json_pack("{s:o}", "dead_letters", list));
    msgw_errors_clear(&e);
}

/* POST /v1/deadletters/{id}/replay, POST /v1/deadletters/replay (all): pending again, due now;
 * audited with the administrator who asked. */
static void replay(msgw_admin *a, struct evhttp_request *req, const char *rest)
{
    int64_t id = 0;
    if (strcmp(rest, "replay") != 0) {
        char *end = NULL;
        id = strtoll(rest, &end, 10);
        if (id <= 0 || !end || strcmp(end, "/replay") != 0) {
            reply_json(req, 404, "Not Found", json_pack("{s:i}", "status", 404));
            return;
        }
    }
    msgw_errors e;
    msgw_errors_init(&e);
    int n = admin_store(a, &e) ? msgw_store_replay(a->store, id, msgw_time_now(), &e) : -1;
    if (n < 0) {
        store_unavailable(req, &e);
    } else if (n == 0 && id) {
        reply_json(req, 404, "Not Found",
                   json_pack("{s:i,s:[{s:s,s:s}]}", "status", 404, "errors", "rule", "deadletter.unknown", "message",
                             "no dead letter has this id"));
    } else {
        char o[64] = "", ou[64] = "";
        msgw_tls_peer_subject(req, o, sizeof o, ou, sizeof ou);
        msgw_errors ae;
        msgw_errors_init(&ae);
        if (a->audit)
            msgw_audit_append(a->audit, "admin",
                              json_pack("{s:s,s:I,s:i,s:s}", "action", "deadletter.replay", "id", (json_int_t)id,
                                        "replayed", n, "by", ou[0] ? ou : "?"),
                              &ae);
        msgw_errors_clear(&ae);
        msgw_doorbell_ring(a->bell);
        reply_json(req, 200, "OK", json_pack("{s:i}", "replayed", n));
    }
    msgw_errors_clear(&e);
}

/* The worker's answer to a re-evaluation, on the loop thread (status 0: shutting down). */
static void on_reevaluated(void *ud, int status, const char *answer, size_t len)
{
    struct evhttp_request *req = ud;
    if (!status) return;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, answer, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Service Unavailable", b); /* frees req if gone */
    evbuffer_free(b);
}

/* POST /v1/reevaluate: everyone re-evaluated on today's date, behind the pushes already queued. */
static void reevaluate(msgw_admin *a, struct evhttp_request *req)
{
    char o[64] = "", ou[64] = "";
    msgw_tls_peer_subject(req, o, sizeof o, ou, sizeof ou);
    msgw_errors ae;
    msgw_errors_init(&ae);
    if (a->audit)
        msgw_audit_append(a->audit, "admin", json_pack("{s:s,s:s}", "action", "reevaluate", "by", ou[0] ? ou : "?"),
                          &ae);
    msgw_errors_clear(&ae);
    msgw_ingest_reevaluate(a->ingest, on_reevaluated, req);
}

void msgw_admin_set_audit(msgw_admin *a, msgw_audit *audit, msgw_doorbell *bell)
{
    a->audit = audit;
    a->bell = bell;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    msgw_admin *a = arg;
    msgw_tls_no_delay(req);
    if (!is_admin(a, req)) {
        reply_json(req, 403, "Forbidden",
                   json_pack("{s:i,s:[{s:s,s:s}]}", "status", 403, "errors", "rule", "admin.role", "message",
                             "the administrators' listener admits administrator certificates only"));
        return;
    }
    const char *uri = evhttp_request_get_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_POST && strncmp(uri, "/v1/deadletters/", 16) == 0) {
        replay(a, req, uri + 16);
    } else if (cmd == EVHTTP_REQ_POST && strcmp(uri, "/v1/reevaluate") == 0) {
        reevaluate(a, req);
    } else if (cmd != EVHTTP_REQ_GET) {
        reply_json(req, 405, "Method Not Allowed", json_pack("{s:i}", "status", 405));
    } else if (strcmp(uri, "/v1/deadletters") == 0) {
        dead_letters(a, req);
    } else if (strcmp(uri, "/healthz") == 0) {
        reply_json(req, 200, "OK", json_pack("{s:s}", "status", "alive"));
    } else if (strcmp(uri, "/readyz") == 0) {
        readyz(a, req);
    } else if (strcmp(uri, "/metrics") == 0 && a->metrics) {
        metrics(a, req);
    } else if (strncmp(uri, "/v1/messages/", 13) == 0) {
        message_trace(a, req, uri + 13);
    } else {
        reply_json(req, 404, "Not Found", json_pack("{s:i}", "status", 404));
    }
}

msgw_admin *msgw_admin_new(struct event_base *base, const msgw_config *cfg, const msgw_catalogue *cat,
                           msgw_ingest *ingest, msgw_errors *e)
{
    msgw_admin *a = calloc(1, sizeof *a);
    if (!a) abort();
    *a = (msgw_admin){
        .http = evhttp_new(base), .ssl = msgw_tls_server_context(cfg, e), .cfg = cfg, .cat = cat, .ingest = ingest};
    if (!a->http || !a->ssl) {
        msgw_admin_destroy(&a);
        return NULL;
    }
    a->failures.listener = "admin";
    msgw_tls_count_failures(a->ssl, &a->failures);
    evhttp_set_bevcb(a->http, make_tls_bev, a);
    evhttp_set_timeout(a->http, (int)cfg->request_timeout_s);
    evhttp_set_max_body_size(a->http, 65536);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(a->http, on_request, a);
    a->sock = msgw_tls_listen(a->http, cfg->admin_listen);
    if (!a->sock) {
        msgw_error_add(e, -1, "/admin/listen", "listen", "admin.bind", "cannot listen on %s", cfg->admin_listen);
        msgw_admin_destroy(&a);
    }
    return a;
}

bool msgw_admin_reconfigure(msgw_admin *a, const msgw_config *cfg, const msgw_catalogue *cat, msgw_errors *e)
{
    a->cfg = cfg; /* the previous configuration is freed after this call, whatever happens */
    a->cat = cat;
    evhttp_set_timeout(a->http, (int)cfg->request_timeout_s);
    SSL_CTX *ssl = msgw_tls_server_context(cfg, e);
    if (!ssl) return false;
    SSL_CTX_free(a->ssl); /* open connections hold their own reference */
    a->ssl = ssl;
    msgw_tls_count_failures(a->ssl, &a->failures);
    return true;
}

void msgw_admin_destroy(msgw_admin **ap)
{
    if (!ap || !*ap) return;
    msgw_admin *a = *ap;
    if (a->http) evhttp_free(a->http);
    if (a->ssl) SSL_CTX_free(a->ssl);
    msgw_store_close(&a->store);
    free(a->store_spec);
    free(a);
    *ap = NULL;
}

int msgw_admin_port(const msgw_admin *a)
{
    return msgw_tls_bound_port(a->sock);
}
