/*
 * Loads the gateway configuration and checks it against the dictionary and
 * itself: record kinds exist, subscriptions name known departments and
 * dictionary fields, department ids and certificate identities are unique,
 * limits are sane.  Every problem is reported with its JSON pointer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/decode/decode.h"
#include "msgw/net/config.h"

typedef struct loader {
    msgw_config *c;
    const msgw_dict *d;
    msgw_errors *e;
} loader;

static void load_admin(loader *l, msgw_config *c, json_t *admin);

static void err(loader *l, const char *ptr, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* base + suffix into out, cut to fit: JSON pointers for error messages. */
static const char *join(char *out, size_t len, const char *base, const char *suffix)
{
    size_t a = strlen(base), b = strlen(suffix);
    if (a > len - 1) a = len - 1;
    if (b > len - 1 - a) b = len - 1 - a;
    memcpy(out, base, a);
    memcpy(out + a, suffix, b);
    out[a + b] = '\0';
    return out;
}

static void err(loader *l, const char *ptr, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msgw_errors_vadd(l->e, MSGW_SEV_ERROR, -1, ptr, field, "config", fmt, ap);
    va_end(ap);
}

static const char *str(loader *l, json_t *o, const char *key, const char *ptr, const char *dflt, bool required)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required) err(l, ptr, key, "%s is required", key);
        return dflt;
    }
    if (!json_is_string(v) || !json_string_length(v)) {
        err(l, ptr, key, "%s must be a non-empty string", key);
        return dflt;
    }
    return json_string_value(v);
}

static size_t num(loader *l, json_t *o, const char *key, const char *ptr, size_t dflt, size_t min, size_t max)
{
    json_t *v = json_object_get(o, key);
    if (!v) return dflt;
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min || json_integer_value(v) > (json_int_t)max) {
        err(l, ptr, key, "%s must be an integer in %zu..%zu", key, min, max);
        return dflt;
    }
    return (size_t)json_integer_value(v);
}

/* A JSON array of strings; each checked by `check` (may be NULL). */
static const char **strings(loader *l, json_t *arr, const char *ptr, size_t *n,
                            bool (*check)(loader *, const char *, const char *))
{
    *n = 0;
    if (!arr) return NULL;
    if (!json_is_array(arr)) {
        err(l, ptr, NULL, "must be an array of strings");
        return NULL;
    }
    const char **v = calloc(json_array_size(arr) + 1, sizeof *v);
    if (!v) abort();
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s) {
        char p[600];
        snprintf(p, sizeof p, "%s/%zu", ptr, i);
        if (!json_is_string(s)) {
            err(l, p, NULL, "must be a string");
            continue;
        }
        if (check && !check(l, json_string_value(s), p)) continue;
        v[(*n)++] = json_string_value(s);
    }
    return v;
}

static bool is_kind(loader *l, const char *k, const char *ptr)
{
    if (msgw_dict_record_kind(l->d, k)) return true;
    err(l, ptr, k, "unknown record kind %s (the dictionary's record_kinds)", k);
    return false;
}

static bool is_field(loader *l, const char *f, const char *ptr)
{
    if (msgw_dict_element(l->d, f)) return true;
    err(l, ptr, f, "unknown field %s (a dictionary element)", f);
    return false;
}

static void load_subscription(loader *l, msgw_subscription *s, json_t *sj, const char *ptr)
{
    char p[600];
    join(p, sizeof p, ptr, "/kinds");
    s->kinds = strings(l, json_object_get(sj, "kinds"), p, &s->nkinds, is_kind);
    if (!s->nkinds) err(l, ptr, "kinds", "a subscription names at least one record kind");
    join(p, sizeof p, ptr, "/from");
    s->from = strings(l, json_object_get(sj, "from"), p, &s->nfrom, NULL);
    join(p, sizeof p, ptr, "/fields");
    s->fields = strings(l, json_object_get(sj, "fields"), p, &s->nfields, is_field);
    if (!json_object_get(sj, "fields"))
        err(l, ptr, "fields", "a subscription lists the fields the recipient may see (data minimisation)");
}

static void load_delivery(loader *l, msgw_department *d, json_t *dj, const char *ptr)
{
    json_t *w = json_object_get(dj, "webhook"), *z = json_object_get(dj, "zmq");
    if (w && z) err(l, ptr, "deliver", "deliver by webhook or by zmq, not both");
    json_t *x = w ? w : z;
    if (!x) return;
    char p[600];
    join(p, sizeof p, ptr, w ? "/webhook" : "/zmq");
    d->deliver = w ? MSGW_DELIVER_WEBHOOK : MSGW_DELIVER_ZMQ;
    if (w) d->deliver_url = str(l, x, "url", p, NULL, true);
    if (z && !json_is_object(z)) err(l, p, NULL, "deliver.zmq is an object ({} or {\"media_type\": ...})");
    if (z && json_object_get(z, "endpoint"))
        err(l, p, "endpoint", "the department connects to the gateway's zmq.deliver_listen: remove endpoint");
    if (w && d->deliver_url && strncmp(d->deliver_url, "https://", 8) != 0)
        err(l, p, "url", "webhooks are delivered over HTTPS with mutual TLS: %s", d->deliver_url);
    d->deliver_ca = str(l, x, "ca", p, NULL, false);
    d->deliver_cert = str(l, x, "cert", p, NULL, false);
    d->deliver_key = str(l, x, "key", p, NULL, false);
    d->deliver_media_type = str(l, x, "media_type", p, NULL, false);
    d->notices_per_message = num(l, x, "notices_per_message", p, MSGW_NOTICES_PER_MESSAGE, 1, 1000);
    const msgw_adapter *ad = msgw_adapter_find(d->adapter);
    if (!d->deliver_media_type && ad) d->deliver_media_type = ad->media_types[0];
    if (d->deliver_media_type && ad && msgw_adapter_for_media_type(d->deliver_media_type) != ad)
        err(l, p, "media_type", "%s is not a media type of the %s format", d->deliver_media_type, ad->name);
}

static void load_department(loader *l, msgw_department *d, json_t *dj, const char *ptr)
{
    char p[600];
    d->id = str(l, dj, "id", ptr, NULL, true);
    d->name = str(l, dj, "name", ptr, d->id, false);
    d->adapter = str(l, dj, "format", ptr, d->id, false);
    if (d->adapter && !msgw_adapter_find(d->adapter))
        err(l, ptr, "format", "no adapter for format %s (see msgw adapters)", d->adapter);
    json_t *cert = json_object_get(dj, "certificate");
    join(p, sizeof p, ptr, "/certificate");
    d->cert_organization = str(l, cert, "organization", p, NULL, cert != NULL);
    d->cert_unit = str(l, cert, "unit", p, NULL, cert != NULL);
    d->curve_public = str(l, dj, "curve_public", ptr, NULL, false);
    if (d->curve_public && strlen(d->curve_public) != 40)
        err(l, ptr, "curve_public", "a CURVE public key is 40 Z85 characters");
    join(p, sizeof p, ptr, "/push");
    d->push = strings(l, json_object_get(dj, "push"), p, &d->npush, is_kind);
    json_t *subs = json_object_get(dj, "subscriptions");
    d->nsubs = json_array_size(subs);
    d->subs = calloc(d->nsubs + 1, sizeof *d->subs);
    if (!d->subs) abort();
    for (size_t i = 0; i < d->nsubs; i++) {
        char idx[40];
        snprintf(idx, sizeof idx, "/subscriptions/%zu", i);
        join(p, sizeof p, ptr, idx);
        load_subscription(l, &d->subs[i], json_array_get(subs, i), p);
    }
    d->eligibility = json_is_true(json_object_get(dj, "eligibility"));
    json_t *limit = json_object_get(dj, "limit");
    join(p, sizeof p, ptr, "/limit");
    d->rate_per_s = (unsigned)num(l, limit, "requests_per_s", p, 0, 1, 1000000);
    d->rate_burst = (unsigned)num(l, limit, "burst", p, d->rate_per_s ? d->rate_per_s : 1, 1, 1000000);
    d->max_connections = num(l, limit, "connections", p, 0, 1, 100000);
    if (limit && !d->rate_per_s && !d->max_connections)
        err(l, p, "requests_per_s", "a limit needs requests_per_s or connections");
    join(p, sizeof p, ptr, "/deliver");
    load_delivery(l, d, json_object_get(dj, "deliver"), p);
    if ((d->nsubs || d->eligibility) && d->deliver == MSGW_DELIVER_NONE)
        err(l, ptr, "deliver", "department %s receives messages but has no delivery", d->id ? d->id : "?");
    if (d->deliver == MSGW_DELIVER_ZMQ && !d->curve_public)
        err(l, ptr, "curve_public", "department %s is delivered over ZeroMQ: it needs its curve_public key",
            d->id ? d->id : "?");
    if (d->deliver == MSGW_DELIVER_ZMQ && !l->c->zmq_deliver_listen)
        err(l, ptr, "deliver", "department %s is delivered over ZeroMQ: zmq.deliver_listen must be set",
            d->id ? d->id : "?");
}

/* envelopes.  The agreement: what kinds may cross (both ways), which fields go (data minimisation). */
static void load_peer(loader *l, msgw_department *d, json_t *pj, const char *ptr)
{
    char p[600];
    msgw_config *c = l->c;
    d->id = str(l, pj, "id", ptr, NULL, true);
    d->name = str(l, pj, "name", ptr, d->id, false);
    d->adapter = "canonical";
    d->peer_region = str(l, pj, "region", ptr, NULL, true);
    if (d->peer_region && c->region && (strncmp(d->peer_region, c->region, strlen(c->region)) == 0 ||
                                        strncmp(c->region, d->peer_region, strlen(d->peer_region)) == 0))
        err(l, ptr, "region", "peer region %s overlaps the region served (%s)", d->peer_region, c->region);
    d->peer_ca = str(l, pj, "ca", ptr, NULL, true);
    d->peer_crl = str(l, pj, "crl", ptr, NULL, false);
    json_t *cert = json_object_get(pj, "certificate");
    join(p, sizeof p, ptr, "/certificate");
    d->cert_organization = str(l, cert, "organization", p, d->peer_region, false);
    d->cert_unit = str(l, cert, "unit", p, "gateway", false);
    d->relay = json_is_true(json_object_get(pj, "relay"));
    join(p, sizeof p, ptr, "/kinds");
    d->push = strings(l, json_object_get(pj, "kinds"), p, &d->npush, is_kind);
    if (!d->npush) err(l, ptr, "kinds", "a peer agreement names at least one record kind");
    d->nsubs = 1;
    d->subs = calloc(2, sizeof *d->subs);
    if (!d->subs) abort();
    d->subs[0].kinds = calloc(d->npush + 1, sizeof *d->subs[0].kinds); /* its own: freed with the subscription */
    if (!d->subs[0].kinds) abort();
    if (d->npush) memcpy(d->subs[0].kinds, d->push, d->npush * sizeof *d->push);
    d->subs[0].nkinds = d->npush;
    join(p, sizeof p, ptr, "/fields");
    d->subs[0].fields = strings(l, json_object_get(pj, "fields"), p, &d->subs[0].nfields, is_field);
    if (!json_object_get(pj, "fields"))
        err(l, ptr, "fields", "a peer agreement lists the fields that may cross (data minimisation)");
    d->deliver = MSGW_DELIVER_WEBHOOK;
    const char *url = str(l, pj, "url", ptr, NULL, true);
    if (url && strncmp(url, "https://", 8) != 0) err(l, ptr, "url", "peers are reached over HTTPS with mutual TLS: %s", url);
    if (url) {
        json_t *full = json_sprintf("%s/v1/envelopes", url);
        json_array_append_new(c->owned, full);
        d->deliver_url = json_string_value(full);
    }
    d->deliver_media_type = "application/vnd.msgw.envelope+json";
    d->notices_per_message = 1; /* a peer receives envelopes, never notices */
    d->envelopes_per_message = num(l, pj, "envelopes_per_message", ptr, MSGW_ENVELOPES_PER_MESSAGE, 1,
                                   MSGW_ENVELOPES_PER_REQUEST);
    d->deliver_ca = d->peer_ca;
    d->deliver_cert = c->tls_cert;
    d->deliver_key = c->tls_key;
}

/* Departments are unique by id and by certificate identity; subscriptions name known senders. */
static void cross_check(loader *l)
{
    msgw_config *c = l->c;
    for (size_t i = 0; i < c->ndepartments; i++) {
        const msgw_department *a = &c->departments[i];
        char p[64];
        snprintf(p, sizeof p, "/departments/%zu", i);
        for (size_t j = 0; j < i && a->id; j++) {
            const msgw_department *b = &c->departments[j];
            if (b->id && strcmp(a->id, b->id) == 0) err(l, p, "id", "department %s is defined twice", a->id);
            if (a->cert_unit && b->cert_unit && a->cert_organization && b->cert_organization &&
                strcmp(a->cert_unit, b->cert_unit) == 0 && strcmp(a->cert_organization, b->cert_organization) == 0)
                err(l, p, "certificate", "departments %s and %s have the same certificate identity", b->id, a->id);
        }
        for (size_t s = 0; s < a->nsubs; s++)
            for (size_t f = 0; f < a->subs[s].nfrom; f++)
                if (!msgw_config_department(c, a->subs[s].from[f])) {
                    char q[600], idx[64];
                    snprintf(idx, sizeof idx, "/subscriptions/%zu/from/%zu", s, f);
                    join(q, sizeof q, p, idx);
                    err(l, q, a->subs[s].from[f], "unknown department %s", a->subs[s].from[f]);
                }
    }
}

static msgw_config *load(json_t *doc, const msgw_dict *d, msgw_errors *e)
{
    msgw_config *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->doc = doc;
    loader l = {c, d, e};
    size_t before = e->nerrors;
    c->region = str(&l, doc, "region", "", NULL, true);
    c->catalogue = str(&l, doc, "catalogue", "", "tianjin", false);
    c->catalogue_overlay = str(&l, doc, "catalogue_overlay", "", NULL, false);
    c->data_dir = str(&l, doc, "data_dir", "", NULL, true);
    c->store = str(&l, doc, "store", "", NULL, false);
    json_t *tls = json_object_get(doc, "tls");
    c->tls_ca = str(&l, tls, "ca", "/tls", NULL, true);
    c->tls_cert = str(&l, tls, "cert", "/tls", NULL, true);
    c->tls_key = str(&l, tls, "key", "/tls", NULL, true);
    c->tls_crl = str(&l, tls, "crl", "/tls", NULL, false);
    json_t *https = json_object_get(doc, "https");
    c->https_listen = str(&l, https, "listen", "/https", "127.0.0.1:8443", false);
    c->max_body_bytes = num(&l, https, "max_body_bytes", "/https", 16u << 20, 1024, 256u << 20);
    c->max_header_bytes = num(&l, https, "max_header_bytes", "/https", 16384, 1024, 1u << 20);
    c->max_connections = num(&l, https, "max_connections", "/https", 1024, 1, 100000);
    c->request_timeout_s = (unsigned)num(&l, https, "timeout_s", "/https", 30, 1, 3600);
    c->header_timeout_s = (unsigned)num(&l, https, "header_timeout_s", "/https", 10, 1, 3600);
    c->body_timeout_s = (unsigned)num(&l, https, "body_timeout_s", "/https", 20, 1, 3600);
    c->body_min_rate = num(&l, https, "body_min_rate", "/https", 1024, 0, 1u << 30);
    c->max_connections_per_address = num(&l, https, "max_connections_per_address", "/https", 256, 1, 100000);
    json_t *zmq = json_object_get(doc, "zmq");
    c->zmq_listen = str(&l, zmq, "listen", "/zmq", NULL, false);
    c->zmq_deliver_listen = str(&l, zmq, "deliver_listen", "/zmq", NULL, false);
    c->zmq_deliver_window = num(&l, zmq, "deliver_window", "/zmq", 1000, 1, 100000);
    c->zmq_feed_listen = str(&l, zmq, "feed_listen", "/zmq", NULL, false);
    c->zmq_secret_file = str(&l, zmq, "curve_secret_file", "/zmq", NULL,
                             c->zmq_listen || c->zmq_deliver_listen || c->zmq_feed_listen);
    load_admin(&l, c, json_object_get(doc, "admin"));
    if (c->zmq_feed_listen && !c->nadmin_curve)
        err(&l, "/zmq", "feed_listen",
            "the feed admits administrators' CURVE keys only: list them in admin.curve_public");
    json_t *retention = json_object_get(doc, "retention");
    c->retention_delivered_days = (unsigned)num(&l, retention, "delivered_days", "/retention", 30, 0, 36500);
    c->retention_dead_days = (unsigned)num(&l, retention, "dead_days", "/retention", 180, 0, 36500);
    c->retention_transitions_days = (unsigned)num(&l, retention, "transitions_days", "/retention", 90, 0, 36500);
    c->retention_records_days = (unsigned)num(&l, retention, "records_days", "/retention", 365, 0, 36500);
    json_t *cluster = json_object_get(doc, "cluster");
    c->cluster_instance = str(&l, cluster, "instance", "/cluster", NULL, false);
    c->cluster_lease_ms = (unsigned)num(&l, cluster, "lease_ms", "/cluster", 10000, 1000, 300000);
    c->cluster_follow_ms = (unsigned)num(&l, cluster, "follow_ms", "/cluster", 200, 10, 10000);
    json_t *audit = json_object_get(doc, "audit");
    c->audit_dir = str(&l, audit, "dir", "/audit", NULL, false);
    c->audit_retention_days = (unsigned)num(&l, audit, "retention_days", "/audit", 365, 1, 36500);
    c->audit_checkpoint_every = num(&l, audit, "checkpoint_every", "/audit", 1000, 1, 1000000);
    c->audit_checkpoint_seconds = (unsigned)num(&l, audit, "checkpoint_seconds", "/audit", 60, 1, 86400);
    c->audit_held_max = num(&l, audit, "held_max", "/audit", 10000, 1, 1000000);
    json_t *queue = json_object_get(doc, "queue");
    c->queue_max_records = num(&l, queue, "max_records", "/queue", 20000, 1, 10000000);
    c->queue_max_bytes = num(&l, queue, "max_bytes", "/queue", 64u << 20, 1024, (size_t)1 << 34);
    c->queue_department_percent = (unsigned)num(&l, queue, "department_percent", "/queue", 50, 1, 100);
    c->queue_group_records = num(&l, queue, "group_records", "/queue", 4096, 1, 1000000);
    json_t *dl = json_object_get(doc, "delivery");
    c->delivery_max_attempts = (unsigned)num(&l, dl, "max_attempts", "/delivery", 10, 1, 1000);
    c->delivery_max_age_s = (unsigned)num(&l, dl, "max_age_s", "/delivery", 86400, 1, 30 * 86400);
    c->backoff_initial_ms = (unsigned)num(&l, dl, "backoff_initial_ms", "/delivery", 500, 1, 3600000);
    c->backoff_max_ms = (unsigned)num(&l, dl, "backoff_max_ms", "/delivery", 60000, 1, 86400000);
    c->webhook_parallel = (unsigned)num(&l, dl, "webhook_parallel", "/delivery", 1, 1, 16);
    c->delivery_ack_timeout_ms = (unsigned)num(&l, dl, "ack_timeout_ms", "/delivery", 30000, 10, 86400000);
    json_t *deps = json_object_get(doc, "departments"), *peers = json_object_get(doc, "peers");
    if (!json_is_array(deps) || !json_array_size(deps)) err(&l, "/departments", NULL, "at least one department is needed");
    if (peers && !json_is_array(peers)) err(&l, "/peers", NULL, "peers is an array of peer gateways");
    c->owned = json_array();
    size_t ndeps = json_array_size(deps);
    c->npeers = json_array_size(peers);
    c->ndepartments = ndeps + c->npeers;
    c->departments = calloc(c->ndepartments + 1, sizeof *c->departments);
    if (!c->departments) abort();
    for (size_t i = 0; i < ndeps; i++) {
        char p[64];
        snprintf(p, sizeof p, "/departments/%zu", i);
        load_department(&l, &c->departments[i], json_array_get(deps, i), p);
    }
    for (size_t i = 0; i < c->npeers; i++) {
        char p[64];
        snprintf(p, sizeof p, "/peers/%zu", i);
        load_peer(&l, &c->departments[ndeps + i], json_array_get(peers, i), p);
    }
    json_t *peering = json_object_get(doc, "peering");
    c->peering_listen = str(&l, peering, "listen", "/peering", NULL, c->npeers > 0);
    cross_check(&l);
    if (e->nerrors != before) msgw_config_destroy(&c);
    return c;
}

/* admin: the administrators' listener (off without admin.listen), who may use it, and when a
 * certificate's coming expiry makes /readyz fail. */
static void load_admin(loader *l, msgw_config *c, json_t *admin)
{
    c->admin_listen = str(l, admin, "listen", "/admin", NULL, false);
    c->admin_cert_warning_days = (unsigned)num(l, admin, "cert_warning_days", "/admin", 30, 1, 3650);
    json_t *certs = json_object_get(admin, "certificates");
    size_t n = json_is_array(certs) ? json_array_size(certs) : 0;
    c->admins = calloc(n + 1, sizeof *c->admins);
    if (!c->admins) abort();
    for (size_t i = 0; i < n; i++) {
        char ptr[64];
        snprintf(ptr, sizeof ptr, "/admin/certificates/%zu", i);
        json_t *one = json_array_get(certs, i);
        c->admins[i].organization = str(l, one, "organization", ptr, NULL, true);
        c->admins[i].unit = str(l, one, "unit", ptr, NULL, true);
    }
    c->nadmins = n;
    if (!n) { /* the development PKI's administrator: O = the region, OU = admin */
        c->admins[0].organization = c->region;
        c->admins[0].unit = "admin";
        c->nadmins = 1;
    }
    json_t *keys = json_object_get(admin, "curve_public");
    size_t k = json_is_array(keys) ? json_array_size(keys) : 0;
    if (keys && !json_is_array(keys)) err(l, "/admin", "curve_public", "curve_public is an array of Z85 public keys");
    c->admin_curve = calloc(k + 1, sizeof *c->admin_curve);
    if (!c->admin_curve) abort();
    for (size_t i = 0; i < k; i++) {
        const char *key = json_string_value(json_array_get(keys, i));
        if (!key || strlen(key) != 40) err(l, "/admin/curve_public", NULL, "key %zu: a CURVE public key is 40 Z85 characters", i);
        else c->admin_curve[c->nadmin_curve++] = key;
    }
}

msgw_config *msgw_config_parse(const char *text, size_t len, const msgw_dict *d, msgw_errors *e)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        char loc[64];
        snprintf(loc, sizeof loc, "line %d, column %d", je.line, je.column);
        msgw_error_add(e, -1, loc, NULL, "config.json", "%s", je.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        msgw_error_add(e, -1, "", NULL, "config", "the configuration is a JSON object");
        json_decref(doc);
        return NULL;
    }
    return load(doc, d, e);
}

msgw_config *msgw_config_load(const char *path, const msgw_dict *d, msgw_errors *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        msgw_error_add(e, -1, path, NULL, "config.file", "cannot read the configuration");
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0 && n < (64u << 20));
    fclose(f);
    msgw_config *c = msgw_config_parse(buf, n, d, e);
    free(buf);
    return c;
}

void msgw_config_destroy(msgw_config **cp)
{
    if (!cp || !*cp) return;
    msgw_config *c = *cp;
    free(c->admins);
    free(c->admin_curve);
    for (size_t i = 0; i < c->ndepartments; i++) {
        msgw_department *d = &c->departments[i];
        free(d->push);
        for (size_t s = 0; s < d->nsubs; s++) {
            free(d->subs[s].kinds);
            free(d->subs[s].from);
            free(d->subs[s].fields);
        }
        free(d->subs);
    }
    free(c->departments);
    json_decref(c->doc);
    json_decref(c->owned);
    free(c);
    *cp = NULL;
}

const msgw_department *msgw_config_department(const msgw_config *c, const char *id)
{
    for (size_t i = 0; i < c->ndepartments; i++)
        if (c->departments[i].id && strcmp(c->departments[i].id, id) == 0) return &c->departments[i];
    return NULL;
}

const msgw_department *msgw_config_department_for_cert(const msgw_config *c, const char *organization,
                                                       const char *unit)
{
    for (size_t i = 0; i < c->ndepartments; i++) {
        const msgw_department *d = &c->departments[i];
        if (d->cert_organization && d->cert_unit && organization && unit &&
            strcmp(d->cert_organization, organization) == 0 && strcmp(d->cert_unit, unit) == 0)
            return d;
    }
    return NULL;
}

bool msgw_department_may_push(const msgw_department *d, const char *kind)
{
    for (size_t i = 0; i < d->npush; i++)
        if (strcmp(d->push[i], kind) == 0) return true;
    return false;
}

void msgw_config_audit_dir(const msgw_config *c, char *buf, size_t len)
{
    if (c->audit_dir) snprintf(buf, len, "%s", c->audit_dir);
    else snprintf(buf, len, "%s/audit", c->data_dir);
}
