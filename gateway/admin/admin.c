/*
 * The administrators' listener (include/msgw/admin/admin.h).  libevent parses
 * HTTP, OpenSSL checks the client certificate (gateway/net/tls.c); this file maps
 * the certificate to the administrator role and answers the operational
 * endpoints.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msgw/admin/admin.h"
#include "msgw/admin/admin_jobs.h"
#include "msgw/admin/admin_live.h"
#include "msgw/admin/disclosure.h"
#include "msgw/admin/present.h"
#include "msgw/store/audit.h"
#include "msgw/base/embedded.h"
#include "msgw/pipeline/doorbell.h"
#include "msgw/base/idnum.h"
#include "msgw/net/certificates.h"
#include "msgw/net/conn_guard.h"
#include "msgw/net/http_routes.h"
#include "msgw/net/tls.h"
#include "msgw/store/query.h"

struct msgw_admin {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    SSL_CTX *ssl;
    const msgw_config *cfg;
    const msgw_catalogue *cat;
    msgw_ingest *ingest;
    msgw_metrics *metrics; /* NULL: no /metrics */
    char *store_spec;
    msgw_store *store; /* opened at the first scrape, for the outbox gauges */
    msgw_metric *m_pending, *m_oldest, *m_dead, *m_size, *m_expiry, *m_crl, *m_rss;
    msgw_certificates *certs; /* of the configuration in use: /readyz, /metrics, /v1/certificates */
    msgw_tls_failures failures; /* counted through every context's app data */
    msgw_conn_guard *guard;     /* deadlines and caps of its connections */
    const msgw_adapter_ctx *ctx; /* reads back what recipients were sent (disclosure reports) */
    msgw_audit *audit;          /* administrators' actions are audited */
    msgw_doorbell *bell;        /* a replay wakes the deliverers */
    msgw_admin_live *live;      /* the dashboard's event streams */
    msgw_admin_jobs *jobs;      /* reports and verifications, a step per turn of the loop */
    json_t *(*transports)(void *ud); /* GET /v1/transports, the daemon's; NULL: 404 */
    void *transports_ud;
};

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg)
{
    (void)base;
    msgw_admin *a = arg;
    return msgw_conn_guard_accept(a->guard, a->ssl);
}

static int client_hello(SSL *ssl, int *alert, void *arg)
{
    msgw_admin *a = arg;
    if (msgw_conn_guard_admit(a->guard, ssl)) return SSL_CLIENT_HELLO_SUCCESS;
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
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

/* Each certificate and CRL in use: one that expires within its warning period (a CRL: the last
 * quarter of its period), has expired or cannot be read fails its check. */
static void check_certificates(const msgw_admin *a, json_t *checks, msgw_time now)
{
    for (size_t i = 0; a->certs && i < a->certs->n; i++) {
        const msgw_certificate *c = &a->certs->v[i];
        char name[160], detail[768];
        snprintf(name, sizeof name, "certificate.%s", c->name);
        msgw_certificate_describe(c, now, a->cfg->admin_cert_warning_days, detail, sizeof detail);
        json_array_append_new(
            checks,
            check(name,
                  msgw_certificate_state(c, now, a->cfg->admin_cert_warning_days) == MSGW_CERT_OK,
                  detail));
    }
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
    check_certificates(a, checks, msgw_time_now());
    if (a->audit) { /* every push and administrator's action must leave its trace */
        const char *audit_problem = msgw_audit_problem(a->audit, detail, sizeof detail);
        json_array_append_new(checks, check("audit", !audit_problem,
                                            audit_problem ? audit_problem : "appends are written and synced"));
    }
    bool ready = true;
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c) ready = ready && json_is_true(json_object_get(c, "ok"));
    reply_json(req, ready ? 200 : 503, ready ? "OK" : "Service Unavailable",
               json_pack("{s:b,s:o}", "ready", ready, "checks", checks));
}

/* Seconds left until each certificate's notAfter and each CRL's nextUpdate, of the files in use:
 * what a reload removed is gone from the exposition. */
static void certificate_gauges(msgw_admin *a, msgw_time now)
{
    msgw_metrics_clear(a->m_expiry);
    msgw_metrics_clear(a->m_crl);
    for (size_t i = 0; a->certs && i < a->certs->n; i++) {
        const msgw_certificate *c = &a->certs->v[i];
        if (c->subject && c->until)
            msgw_metrics_set(c->crl ? a->m_crl : a->m_expiry, (double)(c->until - now) / 1e6,
                             c->name, c->subject);
    }
}

/* The queue of recipient in q; an empty one when it has neither pending nor dead messages. */
static msgw_queue_row queue_of(const msgw_queue_rows *q, const char *recipient)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->v[i].recipient, recipient) == 0) return q->v[i];
    return (msgw_queue_row){.recipient = recipient};
}

/* The process's resident set, as /proc/self/statm counts it in pages (0 where it cannot be read). */
static long long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, resident = 0;
    if (!f) return 0;
    if (fscanf(f, "%lld %lld", &size, &resident) != 2) resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* GET /metrics: what is counted as it happens, and the gauges read now. */
static void metrics(msgw_admin *a, struct evhttp_request *req)
{
    msgw_time now = msgw_time_now();
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_arena *arena = msgw_arena_new(0);
    msgw_queue_rows queues = {0};
    bool read = false;
    int64_t bytes = 0;
    if (!a->store) a->store = msgw_store_open(a->store_spec, MSGW_STORE_DELIVERY, &e);
    if (a->store) read = msgw_store_queues(a->store, arena, &queues, &e);
    if (a->store) msgw_store_size(a->store, &bytes, &e);
    for (size_t i = 0; read && i < a->cfg->ndepartments; i++) {
        const char *id = a->cfg->departments[i].id;
        msgw_queue_row q = queue_of(&queues, id);
        msgw_metrics_set(a->m_pending, (double)q.pending, id);
        msgw_metrics_set(a->m_oldest, q.oldest_pending ? (double)(now - q.oldest_pending) / 1e6 : 0,
                         id);
        msgw_metrics_set(a->m_dead, (double)q.dead, id);
    }
    msgw_arena_destroy(&arena);
    msgw_errors_clear(&e);
    msgw_metrics_set(a->m_size, (double)bytes);
    msgw_metrics_set(a->m_rss, (double)resident_bytes());
    certificate_gauges(a, now);
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
    msgw_conn_guard_set_metrics(a->guard, m);
    msgw_admin_jobs_set_metrics(a->jobs, m);
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
    a->m_rss = msgw_metrics_gauge(m, "process_resident_memory_bytes", "Resident memory size in bytes.", NULL);
    a->m_expiry = msgw_metrics_gauge(
        m, "msgw_certificate_expiry_seconds",
        "Seconds until each certificate the gateway presents or trusts expires (notAfter; "
        "negative once expired), by its configuration name and subject.",
        "certificate", "subject", NULL);
    a->m_crl = msgw_metrics_gauge(
        m, "msgw_crl_next_update_seconds",
        "Seconds until each CRL the gateway checks certificates against is due (nextUpdate; "
        "negative once passed: its CA's certificates fail their handshakes), by its "
        "configuration name and issuer.",
        "crl", "issuer", NULL);
}

/* The admin module's own store connection, opened at first use. */
static msgw_store *admin_store(msgw_admin *a, msgw_errors *e)
{
    if (!a->store && a->store_spec)
        a->store = msgw_store_open(a->store_spec, MSGW_STORE_DELIVERY, e);
    return a->store;
}

static void store_unavailable(struct evhttp_request *req, const msgw_errors *e)
{
    msgw_http_error(req, 503, "store.unavailable", e->n && e->v[0].message ? e->v[0].message : "the store cannot be read");
}

/* One thing looked up by the key at the end of the path: found (200), unknown (404), or 503. */
static void lookup(msgw_admin *a, struct evhttp_request *req, const char *escaped,
                   bool (*find)(msgw_store *, const char *, json_t **, msgw_errors *), const char *rule,
                   const char *unknown)
{
    char *key = evhttp_uridecode(escaped, 0, NULL);
    msgw_errors e;
    msgw_errors_init(&e);
    json_t *t = NULL;
    if (!admin_store(a, &e) || !find(a->store, key ? key : "", &t, &e)) store_unavailable(req, &e);
    else if (!t) msgw_http_error(req, 404, rule, unknown);
    else reply_json(req, 200, "OK", t);
    msgw_errors_clear(&e);
    free(key);
}

/* GET /v1/messages/{id}: the message end to end (msgw_present_trace; docs/admin.md). */
static void message_trace(msgw_admin *a, struct evhttp_request *req, const char *escaped)
{
    lookup(a, req, escaped, msgw_present_trace, "trace.unknown",
           "no stored record has this message id (a rejected record is never stored)");
}

/* The query parameter name of req's URI, or NULL; *q must be cleared by the caller. */
static const char *query_param(struct evhttp_request *req, struct evkeyvalq *q, const char *name)
{
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (query && !q->tqh_first) evhttp_parse_query_str(query, q);
    return evhttp_find_header(q, name);
}

/* How many dead letters the store holds (-1: it cannot be read). */
static json_int_t dead_total(msgw_admin *a, msgw_errors *e)
{
    msgw_arena *arena = msgw_arena_new(0);
    msgw_queue_rows queues = {0};
    bool read = admin_store(a, e) && msgw_store_queues(a->store, arena, &queues, e);
    json_int_t n = 0;
    for (size_t i = 0; i < queues.n; i++)
        n += queues.v[i].dead;
    msgw_arena_destroy(&arena);
    return read ? n : -1;
}

/* GET /v1/deadletters: the dead letters, oldest first (at most 1,000), and how many there are. */
static void dead_letters(msgw_admin *a, struct evhttp_request *req)
{
    msgw_errors e;
    msgw_errors_init(&e);
    json_t *list = NULL;
    json_int_t total = dead_total(a, &e);
    if (total < 0 || !msgw_present_dead_letters(a->store, 1000, &list, &e))
        store_unavailable(req, &e);
    else reply_json(req, 200, "OK", json_pack("{s:o,s:I}", "dead_letters", list, "total", total));
    msgw_errors_clear(&e);
}

/* POST /v1/deadletters/{id}/replay, POST /v1/deadletters/replay[?limit=N] (all, or the oldest N):
 * pending again, due now; audited with the administrator who asked.  The answer says how many
 * were replayed and how many dead letters remain (a client replaying many in steps shows
 * progress). */
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
    struct evkeyvalq q = {0};
    const char *limit = id ? NULL : query_param(req, &q, "limit");
    long max = limit ? strtol(limit, NULL, 10) : 0;
    evhttp_clear_headers(&q);
    msgw_errors e;
    msgw_errors_init(&e);
    int n = admin_store(a, &e) ? msgw_store_replay(a->store, id, max > 0 ? (size_t)max : 0, msgw_time_now(), &e) : -1;
    json_int_t remaining = n >= 0 ? dead_total(a, &e) : -1;
    if (n < 0 || remaining < 0) {
        store_unavailable(req, &e);
    } else if (n == 0 && id) {
        msgw_http_error(req, 404, "deadletter.unknown", "no dead letter has this id");
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
        reply_json(req, 200, "OK", json_pack("{s:i,s:I}", "replayed", n, "remaining", remaining));
    }
    msgw_errors_clear(&e);
}

/* The catalogue's service with this code, if the gateway decides it by a machine rule. */
static const msgw_service *decided_service(const msgw_admin *a, const char *code)
{
    for (size_t i = 0; a->cat && i < a->cat->nservices; i++)
        if (strcmp(a->cat->services[i].code, code) == 0) return &a->cat->services[i];
    return NULL;
}

/* POST /v1/reevaluate[?service=CODE]: everyone (for one service, or all) re-evaluated on today's
 * date in steps behind the queued pushes; answers 202 with the operation to follow. */
static void reevaluate(msgw_admin *a, struct evhttp_request *req)
{
    struct evkeyvalq q = {0};
    const char *service = query_param(req, &q, "service");
    const msgw_service *sv = service ? decided_service(a, service) : NULL;
    if (service && (!sv || !sv->eligible)) {
        char msg[160];
        snprintf(msg, sizeof msg, "%.64s: %s", service,
                 sv ? "the gateway does not decide this service (no machine rule)" : "no such service in the catalogue");
        msgw_http_error(req, 404, "service.unknown", msg);
        evhttp_clear_headers(&q);
        return;
    }
    char o[64] = "", ou[64] = "";
    msgw_tls_peer_subject(req, o, sizeof o, ou, sizeof ou);
    int id = msgw_ingest_reevaluate(a->ingest, service);
    msgw_errors ae;
    msgw_errors_init(&ae);
    if (a->audit)
        msgw_audit_append(a->audit, "admin",
                          json_pack("{s:s,s:s?,s:i,s:s}", "action", "reevaluate", "service", service, "operation", id,
                                    "by", ou[0] ? ou : "?"),
                          &ae);
    msgw_errors_clear(&ae);
    char href[64];
    snprintf(href, sizeof href, "/v1/operations/%d", id);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", href);
    reply_json(req, 202, "Accepted", json_pack("{s:i,s:s}", "operation", id, "href", href));
    evhttp_clear_headers(&q);
}

/* GET /v1/audit/verify: the gateway checks its own audit log (docs/audit.md) as a job, about a
 * millisecond per turn of the loop, while it goes on writing it; 200 when it verifies, 409 when
 * the chain is broken (the first problem named), 503 when it cannot be read. */
static int verify_step(void *work, msgw_errors *e)
{
    return msgw_audit_verifier_step(work, e);
}

static void verify_answer(struct evhttp_request *req, void *work, int outcome, const msgw_errors *e)
{
    (void)outcome;
    const msgw_audit_report *r = msgw_audit_verifier_report(work);
    static const char *const states[] = {"ok", "broken", "unreadable"};
    json_t *o =
        json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "status", states[r->status], "segments",
                  (json_int_t)r->segments, "entries", (json_int_t)r->entries, "checkpoints",
                  (json_int_t)r->checkpoints, "first_seq", (json_int_t)r->first_seq, "last_seq",
                  (json_int_t)r->last_seq, "last_checkpoint", (json_int_t)r->last_checkpoint,
                  "after_last_checkpoint", (json_int_t)r->after_last_checkpoint);
    json_object_set_new(o, "signed_by",
                        json_pack("{s:s,s:I}", "cert_sha256", r->last_cert_sha256, "key_changes",
                                  (json_int_t)r->key_changes));
    if (r->status == MSGW_AUDIT_BROKEN)
        json_object_set_new(o, "problem",
                            json_pack("{s:s,s:s,s:I,s:I}", "message", r->problem, "file", r->file,
                                      "line", (json_int_t)r->line, "seq", (json_int_t)r->seq));
    if (r->status == MSGW_AUDIT_IOERROR)
        json_object_set_new(
            o, "problem",
            json_pack("{s:s}", "message", e->n && e->v[0].message ? e->v[0].message : "?"));
    int status = r->status == MSGW_AUDIT_OK ? 200 : r->status == MSGW_AUDIT_BROKEN ? 409 : 503;
    reply_json(req, status,
               status == 200   ? "OK"
               : status == 409 ? "Conflict"
                               : "Service Unavailable",
               o);
}

static void verify_destroy(void *work)
{
    msgw_audit_verifier *v = work;
    msgw_audit_verifier_destroy(&v);
}

static const msgw_admin_job_ops verify_job = {verify_step, verify_answer, verify_destroy};

static void audit_verify(msgw_admin *a, struct evhttp_request *req)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_audit_verifier *v =
        a->audit ? msgw_audit_verifier_own(a->audit, a->cfg->tls_cert, &e) : NULL;
    if (v)
        msgw_admin_jobs_start(a->jobs, req, &verify_job, v);
    else if (!a->audit)
        msgw_http_error(req, 503, "audit.unavailable", "this gateway keeps no audit log");
    else
        reply_json(req, 503, "Service Unavailable",
                   json_pack("{s:s,s:{s:s}}", "status", "unreadable", "problem", "message",
                             e.n && e.v[0].message ? e.v[0].message : "?"));
    msgw_errors_clear(&e);
}

/* POST /v1/retention: retention applied now (what the gateway does once a day); audited. */
static void retention(msgw_admin *a, struct evhttp_request *req)
{
    char o[64] = "", ou[64] = "", href[64];
    msgw_tls_peer_subject(req, o, sizeof o, ou, sizeof ou);
    int id = msgw_ingest_retention(a->ingest);
    msgw_errors ae;
    msgw_errors_init(&ae);
    if (a->audit)
        msgw_audit_append(a->audit, "admin",
                          json_pack("{s:s,s:i,s:s}", "action", "retention", "operation", id, "by", ou[0] ? ou : "?"),
                          &ae);
    msgw_errors_clear(&ae);
    snprintf(href, sizeof href, "/v1/operations/%d", id);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", href);
    reply_json(req, 202, "Accepted", json_pack("{s:i,s:s}", "operation", id, "href", href));
}

/* GET /v1/operations/{id}: a long operation's progress. */
static void operation(msgw_admin *a, struct evhttp_request *req, const char *rest)
{
    char *end = NULL;
    long id = strtol(rest, &end, 10);
    json_t *op = end && !*end && id > 0 && id < INT32_MAX ? msgw_ingest_operation(a->ingest, (int)id) : NULL;
    if (op) reply_json(req, 200, "OK", op);
    else msgw_http_error(req, 404, "operation.unknown", "no such operation (only the latest 16 are kept)");
}

void msgw_admin_set_audit(msgw_admin *a, msgw_audit *audit, msgw_doorbell *bell)
{
    a->audit = audit;
    a->bell = bell;
}

/* ---- the dashboard (docs/admin.md, "Dashboard") ---- */

/* The page and its script and style, from the binary (tools/embed.py). */
static bool serve_asset(struct evhttp_request *req, const char *uri)
{
    static const struct {
        const char *uri, *file, *type;
    } assets[] = {{"/", "dashboard/index.html", "text/html; charset=utf-8"},
                  {"/openapi.yaml", "openapi.yaml", "application/yaml; charset=utf-8"},
                  {"/dashboard.js", "dashboard/dashboard.js", "text/javascript; charset=utf-8"},
                  {"/dashboard.css", "dashboard/dashboard.css", "text/css; charset=utf-8"}};
    for (size_t i = 0; i < sizeof assets / sizeof *assets; i++) {
        const msgw_embedded_file *f = strcmp(uri, assets[i].uri) == 0 ? msgw_embedded_find(assets[i].file) : NULL;
        if (!f) continue;
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "Content-Type", assets[i].type);
        /* no script but our own, no framing by another site */
        evhttp_add_header(h, "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
        evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
        evhttp_add_header(h, "Cache-Control", "no-cache");
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, f->data, f->len);
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
        return true;
    }
    return false;
}

/* The sum of a counter family's series by one label (and a second one under it, when wanted). */
typedef struct sum_by {
    json_t *out;
    size_t key, sub; /* label indexes; sub SIZE_MAX: none */
    const char *field; /* with no sub label: the field to add to */
} sum_by;

static void add_series(void *ud, const char *const *labels, double value)
{
    sum_by *s = ud;
    json_t *o = json_object_get(s->out, labels[s->key]);
    if (!o) json_object_set_new(s->out, labels[s->key], o = json_object());
    const char *field = s->sub == SIZE_MAX ? s->field : labels[s->sub];
    json_object_set_new(o, field, json_integer(json_integer_value(json_object_get(o, field)) + (json_int_t)value));
}

static void sum_counter(msgw_metrics *m, const char *name, json_t *out, size_t key, size_t sub, const char *field)
{
    sum_by s = {out, key, sub, field};
    msgw_metrics_each(msgw_metrics_find(m, name), add_series, &s);
}

static void add_transition(void *ud, const char *const *labels, double value)
{
    json_t *o = ud;
    const char *kind = strcmp(labels[1], "NEW") == 0 ? "new" : strcmp(labels[1], "LOST") == 0 ? "lost" : "changed";
    json_object_set_new(o, kind, json_integer(json_integer_value(json_object_get(o, kind)) + (json_int_t)value));
}

/* The stats event: cumulative counts since the start, and the queues now. */
static json_t *live_stats(void *ud)
{
    msgw_admin *a = ud;
    char when[40];
    msgw_time now = msgw_time_now();
    json_t *received = json_object(), *deliveries = json_object(), *outbox = json_object(),
           *transitions = json_pack("{s:i,s:i,s:i}", "new", 0, "lost", 0, "changed", 0);
    sum_counter(a->metrics, "msgw_records_received_total", received, 0, 2, NULL);
    sum_counter(a->metrics, "msgw_requests_refused_total", received, 0, SIZE_MAX, "refused");
    sum_counter(a->metrics, "msgw_deliveries_total", deliveries, 0, 2, NULL);
    msgw_metrics_each(msgw_metrics_find(a->metrics, "msgw_eligibility_transitions_total"), add_transition, transitions);
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_arena *arena = msgw_arena_new(0);
    msgw_queue_rows queues = {0};
    if (admin_store(a, &e)) msgw_store_queues(a->store, arena, &queues, &e);
    msgw_errors_clear(&e);
    for (size_t i = 0; i < queues.n; i++) {
        const msgw_queue_row *q = &queues.v[i];
        json_object_set_new(
            outbox, q->recipient,
            json_pack("{s:I,s:f,s:I}", "pending", (json_int_t)q->pending, "oldest_seconds",
                      q->oldest_pending ? (double)(now - q->oldest_pending) / 1e6 : 0.0, "dead",
                      (json_int_t)q->dead));
    }
    msgw_arena_destroy(&arena);
    return json_pack("{s:s,s:o,s:o,s:o,s:o}", "time", msgw_time_format(now, when), "received", received, "deliveries",
                     deliveries, "outbox", outbox, "transitions", transitions);
}

/* The hello event: what the page draws (the departments, the services for its filter). */
static json_t *live_hello(const msgw_admin *a)
{
    static const char *const transports[] = {[MSGW_DELIVER_NONE] = "none", [MSGW_DELIVER_WEBHOOK] = "webhook",
                                             [MSGW_DELIVER_ZMQ] = "zmq"};
    json_t *depts = json_array(), *peers = json_array(), *services = json_array();
    for (size_t i = 0; i < a->cfg->ndepartments; i++) {
        const msgw_department *d = &a->cfg->departments[i];
        json_t *push = json_array();
        for (size_t k = 0; k < d->npush; k++) json_array_append_new(push, json_string(d->push[k]));
        if (d->peer_region) { /* a peer gateway: a region on the flow picture */
            json_array_append_new(peers, json_pack("{s:s,s:s,s:o,s:b}", "id", d->id, "region", d->peer_region, "kinds",
                                                   push, "relay", d->relay));
            continue;
        }
        json_array_append_new(depts, json_pack("{s:s,s:o,s:s}", "id", d->id, "push", push, "deliver",
                                               (unsigned)d->deliver <= MSGW_DELIVER_ZMQ ? transports[d->deliver] : "?"));
    }
    for (size_t i = 0; a->cat && i < a->cat->nservices; i++) {
        const msgw_service *sv = &a->cat->services[i];
        if (!sv->eligible) continue; /* only services the gateway decides have transitions */
        json_array_append_new(services,
                              json_pack("{s:s,s:s,s:s}", "code", sv->code, "name", sv->name ? sv->name : "",
                                        "department", sv->ndepartments ? sv->departments[0] : ""));
    }
    return json_pack("{s:s,s:s,s:o,s:o,s:o}", "region", a->cfg->region ? a->cfg->region : "", "catalogue",
                     a->cat && a->cat->id ? a->cat->id : "", "departments", depts, "peers", peers, "services",
                     services);
}

static void events(msgw_admin *a, struct evhttp_request *req)
{
    if (!a->live || !msgw_admin_live_attach(a->live, req, live_hello(a)))
        msgw_http_error(req, 503, "admin.streams", "too many dashboards are open");
}

/* GET /v1/transitions?service=CODE&district=PREFIX&limit=N */
static void transitions(msgw_admin *a, struct evhttp_request *req)
{
    struct evkeyvalq q = {0};
    const char *limit = query_param(req, &q, "limit");
    long n = limit ? strtol(limit, NULL, 10) : 100;
    msgw_transition_filter f = {.service = query_param(req, &q, "service"),
                                .district = query_param(req, &q, "district"),
                                .max = n > 0 && n <= 1000 ? (size_t)n : 100};
    msgw_errors e;
    msgw_errors_init(&e);
    json_t *list = NULL;
    if (!admin_store(a, &e) || !msgw_present_transitions(a->store, &f, &list, &e))
        store_unavailable(req, &e);
    else reply_json(req, 200, "OK", json_pack("{s:o}", "transitions", list));
    evhttp_clear_headers(&q);
    msgw_errors_clear(&e);
}

/* GET /v1/persons/{ID number}: the person's verdicts, records and transitions, the number masked. */
static void person(msgw_admin *a, struct evhttp_request *req, const char *escaped)
{
    /* who looked whom up is itself personal-data access: audited, the number masked */
    char *id = evhttp_uridecode(escaped, 0, NULL), m[19], o[64] = "", ou[64] = "";
    msgw_tls_peer_subject(req, o, sizeof o, ou, sizeof ou);
    msgw_errors ae;
    msgw_errors_init(&ae);
    if (a->audit)
        msgw_audit_append(a->audit, "admin",
                          json_pack("{s:s,s:s,s:s}", "action", "person.lookup", "person",
                                    msgw_idnum_mask(id ? id : "", m), "by", ou[0] ? ou : "?"),
                          &ae);
    msgw_errors_clear(&ae);
    free(id);
    lookup(a, req, escaped, msgw_present_person, "person.unknown",
           "the gateway holds no facts, verdicts or transitions of this person");
}

/* The instances over the shared store and who holds the evaluator lease (docs/cluster.md); 404
 * on a store one process owns. */
static void cluster(msgw_admin *a, struct evhttp_request *req)
{
    json_t *j = msgw_ingest_cluster(a->ingest);
    if (j) reply_json(req, 200, "OK", j);
    else msgw_http_error(req, 404, "cluster.none", "this gateway runs alone on a store one process owns (SQLite)");
}

/* A browser sends Origin with a POST: one from another site (a page making the administrator's
 * browser post with their certificate) is refused. */
static bool same_origin(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *origin = evhttp_find_header(h, "Origin"), *host = evhttp_find_header(h, "Host");
    if (!origin) return true; /* not a browser: the certificate is the whole story */
    return host && strncmp(origin, "https://", 8) == 0 && strcmp(origin + 8, host) == 0;
}

void msgw_admin_set_live(msgw_admin *a, void *zmq_ctx, const char *feed_endpoint)
{
    msgw_admin_live_destroy(&a->live);
    a->live = msgw_admin_live_new(a->base, zmq_ctx, feed_endpoint, live_stats, a);
}

/* A disclosure report as a job: the store read at once, the audit log a segment per step. */
static int report_step(void *work, msgw_errors *e)
{
    return msgw_disclosure_step(work, e);
}

static void report_answer(struct evhttp_request *req, void *work, int outcome, const msgw_errors *e)
{
    if (outcome == 0)
        reply_json(req, 200, "OK", msgw_disclosure_json(work));
    else
        msgw_http_error(req, 503, "audit.unreadable",
                        e->n && e->v[0].message ? e->v[0].message : "the audit log cannot be read");
}

static void report_destroy(void *work)
{
    msgw_disclosure *d = work;
    msgw_disclosure_destroy(&d);
}

static const msgw_admin_job_ops report_job = {report_step, report_answer, report_destroy};

/* GET /v1/persons/{id}/disclosures: the person's disclosure record (docs/disclosure.md).  Asking
 * is audited first, with who asked: the record of who saw what includes who asked. */
static void disclosures(msgw_admin *a, struct evhttp_request *req, const char *tail)
{
    char raw[32], id[19], m[19], o[64] = "", ou[64] = "";
    const char *slash = strchr(tail, '/');
    msgw_idnum_status st = MSGW_IDNUM_LENGTH;
    if (slash && (size_t)(slash - tail) < sizeof raw) {
        snprintf(raw, sizeof raw, "%.*s", (int)(slash - tail), tail);
        st = msgw_idnum_normalize(raw, strlen(raw), id, NULL, NULL);
    }
    if (st != MSGW_IDNUM_OK && st != MSGW_IDNUM_CONVERTED) {
        msgw_http_error(req, 400, "gb11643", "not a valid resident ID number");
        return;
    }
    msgw_tls_peer_subject(req, o, sizeof o, ou, sizeof ou);
    msgw_errors e;
    msgw_errors_init(&e);
    if (a->audit)
        msgw_audit_append(a->audit, "admin",
                          json_pack("{s:s,s:s,s:s}", "action", "person.disclosures", "person", msgw_idnum_mask(id, m),
                                    "by", ou[0] ? ou : "?"),
                          &e);
    msgw_errors_clear(&e);
    char dir[4096];
    msgw_config_audit_dir(a->cfg, dir, sizeof dir);
    msgw_disclosure *d = admin_store(a, &e) && a->ctx
                             ? msgw_disclosure_new(a->store, a->audit ? dir : NULL, a->cfg, a->ctx,
                                                   id, msgw_time_now(), &e)
                             : NULL;
    if (!d) {
        store_unavailable(req, &e);
        msgw_errors_clear(&e);
        return;
    }
    msgw_admin_jobs_start(a->jobs, req, &report_job, d);
}

void msgw_admin_set_context(msgw_admin *a, const msgw_adapter_ctx *ctx)
{
    a->ctx = ctx;
}

/* ---- the routes (docs/openapi.yaml; `msgw routes`) ---- */

/* A route's handler calling the function that does the work. */
#define ROUTE(name, call)                                                                                    \
    static void name(void *l, struct evhttp_request *req, const char *tail)                                \
    {                                                                                                      \
        msgw_admin *a = l;                                                                                 \
        (void)a, (void)tail;                                                                               \
        call;                                                                                              \
    }

static void not_found(struct evhttp_request *req)
{
    reply_json(req, 404, "Not Found", json_pack("{s:i}", "status", 404));
}

ROUTE(route_healthz, reply_json(req, 200, "OK", json_pack("{s:s}", "status", "alive")))
ROUTE(route_readyz, readyz(a, req))
ROUTE(route_metrics, a->metrics ? metrics(a, req) : not_found(req))
ROUTE(route_certificates,
      reply_json(req, 200, "OK", msgw_certificates_json(a->certs, msgw_time_now(), a->cfg->admin_cert_warning_days)))
ROUTE(route_dead_letters, dead_letters(a, req))
ROUTE(route_replay_all, replay(a, req, "replay"))
ROUTE(route_replay_one, replay(a, req, tail))
ROUTE(route_retention, retention(a, req))
ROUTE(route_reevaluate, reevaluate(a, req))
ROUTE(route_message, message_trace(a, req, tail))
ROUTE(route_audit_verify, audit_verify(a, req))
ROUTE(route_operation, operation(a, req, tail))
ROUTE(route_transitions, transitions(a, req))
ROUTE(route_person, person(a, req, tail))
ROUTE(route_disclosures, disclosures(a, req, tail))
ROUTE(route_transports, a->transports ? reply_json(req, 200, "OK", a->transports(a->transports_ud)) : not_found(req))
ROUTE(route_cluster, cluster(a, req))
ROUTE(route_events, events(a, req))
/* GET /schemas/generated/{name}: a schema the gateway publishes, as compiled into the binary (what
 * docs/openapi.yaml's request bodies refer to, relative to /openapi.yaml). */
static void published_schema(struct evhttp_request *req, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "generated/%s", name);
    const msgw_embedded_file *f = strchr(name, '/') ? NULL : msgw_embedded_find(path);
    if (!f) {
        msgw_http_error(req, 404, "schema.unknown", "the gateway publishes no schema of this name");
        return;
    }
    size_t n = strlen(name);
    bool xml = n > 4 && strcmp(name + n - 4, ".xsd") == 0;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      xml ? "application/xml" : "application/schema+json");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, f->data, f->len);
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

ROUTE(route_schema, published_schema(req, tail))
ROUTE(route_asset, serve_asset(req, evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req))) ? (void)0 : not_found(req))

static const msgw_http_route admin_routes[] = {
    {EVHTTP_REQ_GET, "/healthz", route_healthz},
    {EVHTTP_REQ_GET, "/readyz", route_readyz},
    {EVHTTP_REQ_GET, "/metrics", route_metrics},
    {EVHTTP_REQ_GET, "/v1/certificates", route_certificates},
    {EVHTTP_REQ_GET, "/v1/deadletters", route_dead_letters},
    {EVHTTP_REQ_POST, "/v1/deadletters/replay", route_replay_all},
    {EVHTTP_REQ_POST, "/v1/deadletters/{id}/replay", route_replay_one},
    {EVHTTP_REQ_POST, "/v1/retention", route_retention},
    {EVHTTP_REQ_POST, "/v1/reevaluate", route_reevaluate},
    {EVHTTP_REQ_GET, "/v1/messages/{id}", route_message},
    {EVHTTP_REQ_GET, "/v1/audit/verify", route_audit_verify},
    {EVHTTP_REQ_GET, "/v1/operations/{id}", route_operation},
    {EVHTTP_REQ_GET, "/v1/transitions", route_transitions},
    {EVHTTP_REQ_GET, "/v1/persons/{id}/disclosures", route_disclosures}, /* before the next: its {id} takes the rest */
    {EVHTTP_REQ_GET, "/v1/persons/{id}", route_person},
    {EVHTTP_REQ_GET, "/v1/transports", route_transports},
    {EVHTTP_REQ_GET, "/v1/cluster", route_cluster},
    {EVHTTP_REQ_GET, "/v1/events", route_events},
    {EVHTTP_REQ_GET, "/", route_asset},
    {EVHTTP_REQ_GET, "/dashboard.js", route_asset},
    {EVHTTP_REQ_GET, "/dashboard.css", route_asset},
    {EVHTTP_REQ_GET, "/openapi.yaml", route_asset},
    {EVHTTP_REQ_GET, "/schemas/generated/{name}", route_schema},
    {0, NULL, NULL},
};

const msgw_http_route *msgw_admin_routes(void)
{
    return admin_routes;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    msgw_admin *a = arg;
    msgw_tls_no_delay(req);
    msgw_conn_guard_request(a->guard, req, NULL, 0);
    if (!is_admin(a, req)) {
        msgw_http_error(req, 403, "admin.role", "the administrators' listener admits administrator certificates only");
        return;
    }
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_POST && !same_origin(req)) {
        msgw_http_error(req, 403, "admin.origin", "a request from a page of another site is refused");
        return;
    }
    const char *tail = NULL;
    int status;
    const msgw_http_route *r =
        msgw_http_route_find(admin_routes, cmd, evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req)), &tail, &status);
    if (r) r->handler(a, req, tail);
    else if (status == 405) reply_json(req, 405, "Method Not Allowed", json_pack("{s:i}", "status", 405));
    else not_found(req);
}

msgw_admin *msgw_admin_new(struct event_base *base, const msgw_config *cfg, const msgw_catalogue *cat,
                           msgw_ingest *ingest, msgw_errors *e)
{
    msgw_admin *a = calloc(1, sizeof *a);
    if (!a) abort();
    *a = (msgw_admin){.base = base,
                      .http = evhttp_new(base),
                      .ssl = msgw_tls_admin_context(cfg, e),
                      .cfg = cfg,
                      .cat = cat,
                      .ingest = ingest,
                      .jobs = msgw_admin_jobs_new(base, 4)};
    if (!a->http || !a->ssl) {
        msgw_admin_destroy(&a);
        return NULL;
    }
    a->failures.listener = "admin";
    msgw_tls_count_failures(a->ssl, &a->failures);
    SSL_CTX_set_client_hello_cb(a->ssl, client_hello, a);
    msgw_conn_limits limits = msgw_conn_limits_of(cfg);
    a->guard = msgw_conn_guard_new(base, "admin", &limits, NULL);
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
    msgw_conn_limits limits = msgw_conn_limits_of(cfg);
    msgw_conn_guard_set_limits(a->guard, &limits);
    SSL_CTX *ssl = msgw_tls_admin_context(cfg, e);
    if (!ssl) return false;
    SSL_CTX_free(a->ssl); /* open connections hold their own reference */
    a->ssl = ssl;
    msgw_tls_count_failures(a->ssl, &a->failures);
    SSL_CTX_set_client_hello_cb(a->ssl, client_hello, a);
    return true;
}

void msgw_admin_destroy(msgw_admin **ap)
{
    if (!ap || !*ap) return;
    msgw_admin *a = *ap;
    msgw_admin_jobs_destroy(&a->jobs); /* before the requests go with the listener */
    if (a->http) evhttp_free(a->http); /* closes the event streams */
    msgw_conn_guard_destroy(&a->guard);
    msgw_admin_live_destroy(&a->live);
    if (a->ssl) SSL_CTX_free(a->ssl);
    msgw_store_close(&a->store);
    msgw_certificates_destroy(&a->certs);
    free(a->store_spec);
    free(a);
    *ap = NULL;
}

void msgw_admin_set_certificates(msgw_admin *a, msgw_certificates *certs)
{
    msgw_certificates_destroy(&a->certs);
    a->certs = certs;
}

void msgw_admin_set_transports(msgw_admin *a, json_t *(*stats)(void *ud), void *ud)
{
    a->transports = stats;
    a->transports_ud = ud;
}

int msgw_admin_port(const msgw_admin *a)
{
    return msgw_tls_bound_port(a->sock);
}
