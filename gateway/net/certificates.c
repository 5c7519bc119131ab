/*
 * The certificates and CRLs of a configuration and their dates (include/msgw/net/certificates.h).
 * The files are read through trust.c, the same reader the TLS contexts use, so a file reported
 * here as unreadable is one the listeners refused too.
 */
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/log.h"
#include "msgw/net/certificates.h"
#include "msgw/net/trust.h"

#define DAY ((msgw_time)86400 * 1000000)

static char *dup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) abort();
    return d;
}

static msgw_certificate *push(msgw_certificates *c, const char *name, const char *key,
                              const char *file, bool crl)
{
    c->v = realloc(c->v, (c->n + 1) * sizeof *c->v);
    if (!c->v) abort();
    msgw_certificate *x = &c->v[c->n++];
    *x = (msgw_certificate){.name = dup(name), .key = dup(key), .file = dup(file), .crl = crl};
    return x;
}

static void fill_certificate(msgw_certificate *x, X509 *cert)
{
    x->subject = msgw_trust_name(X509_get_subject_name(cert));
    x->from = msgw_trust_time(X509_get0_notBefore(cert));
    x->until = msgw_trust_time(X509_get0_notAfter(cert));
}

static void fill_crl(msgw_certificate *x, X509_CRL *crl)
{
    x->subject = msgw_trust_name(X509_CRL_get_issuer(crl));
    x->from = msgw_trust_time(X509_CRL_get0_lastUpdate(crl));
    x->until = msgw_trust_time(X509_CRL_get0_nextUpdate(crl));
    int n = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));
    x->revoked = n > 0 ? n : 0;
}

/* Every certificate (crl false) or every CRL of a file, or one entry saying why it cannot be read.
 */
static void add_file(msgw_certificates *c, const char *name, const char *key, const char *file,
                     bool crl)
{
    msgw_errors e;
    msgw_errors_init(&e);
    STACK_OF(X509) *certs = crl ? NULL : msgw_trust_read_certs(file, key, "", &e);
    STACK_OF(X509_CRL) *crls = crl ? msgw_trust_read_crls(file, key, "", &e) : NULL;
    if (!certs && !crls)
        push(c, name, key, file, crl)->problem = dup(e.n ? e.v[0].message : "cannot be read");
    for (int i = 0; i < sk_X509_num(certs); i++)
        fill_certificate(push(c, name, key, file, false), sk_X509_value(certs, i));
    for (int i = 0; i < sk_X509_CRL_num(crls); i++)
        fill_crl(push(c, name, key, file, true), sk_X509_CRL_value(crls, i));
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    msgw_errors_clear(&e);
}

/* A department's delivery certificates, or a peer's CA and CRL. */
static void add_department(msgw_certificates *c, const msgw_department *d)
{
    char name[128], key[192];
    const char *how = d->deliver == MSGW_DELIVER_ZMQ ? "zmq" : "webhook";
    if (d->peer_region) {
        snprintf(name, sizeof name, "peer_ca.%s", d->id);
        snprintf(key, sizeof key, "peers[%s].ca", d->id);
        add_file(c, name, key, d->peer_ca, false);
        if (!d->peer_crl) return;
        snprintf(name, sizeof name, "peer_crl.%s", d->id);
        snprintf(key, sizeof key, "peers[%s].crl", d->id);
        add_file(c, name, key, d->peer_crl, true);
        return;
    }
    if (d->deliver_cert) {
        snprintf(name, sizeof name, "delivery.%s", d->id);
        snprintf(key, sizeof key, "departments[%s].deliver.%s.cert", d->id, how);
        add_file(c, name, key, d->deliver_cert, false);
    }
    if (d->deliver_ca) {
        snprintf(name, sizeof name, "delivery_ca.%s", d->id);
        snprintf(key, sizeof key, "departments[%s].deliver.%s.ca", d->id, how);
        add_file(c, name, key, d->deliver_ca, false);
    }
}

msgw_certificates *msgw_certificates_read(const msgw_config *cfg)
{
    msgw_certificates *c = calloc(1, sizeof *c);
    if (!c) abort();
    add_file(c, "gateway", "tls.cert", cfg->tls_cert, false);
    add_file(c, "ca", "tls.ca", cfg->tls_ca, false);
    if (cfg->tls_crl) add_file(c, "crl", "tls.crl", cfg->tls_crl, true);
    for (size_t i = 0; i < cfg->ndepartments; i++)
        add_department(c, &cfg->departments[i]);
    return c;
}

void msgw_certificates_destroy(msgw_certificates **cp)
{
    if (!cp || !*cp) return;
    msgw_certificates *c = *cp;
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].name);
        free(c->v[i].key);
        free(c->v[i].file);
        free(c->v[i].subject);
        free(c->v[i].problem);
    }
    free(c->v);
    free(c);
    *cp = NULL;
}

msgw_cert_state msgw_certificate_state(const msgw_certificate *c, msgw_time now,
                                       unsigned warning_days)
{
    if (!c->subject) return MSGW_CERT_UNREADABLE;
    if (!c->until) return MSGW_CERT_OK; /* a CRL without nextUpdate */
    if (c->until <= now) return MSGW_CERT_EXPIRED;
    /* a CRL is renewed every few days: warned of when its renewal is overdue, in the last quarter
     * of its period, not a month ahead like a certificate */
    msgw_time margin = c->crl ? (c->until - c->from) / 4 : (msgw_time)warning_days * DAY;
    return c->until - now <= margin ? MSGW_CERT_WARNING : MSGW_CERT_OK;
}

long msgw_certificate_days_left(const msgw_certificate *c, msgw_time now)
{
    msgw_time s = c->until - now;
    return (long)(s >= 0 ? s / DAY : -((-s + DAY - 1) / DAY));
}

/* "1 day", "824 days". */
static const char *days_text(long n, char *buf, size_t len)
{
    snprintf(buf, len, "%ld day%s", n, n == 1 || n == -1 ? "" : "s");
    return buf;
}

char *msgw_certificate_describe(const msgw_certificate *c, msgw_time now, unsigned warning_days,
                                char *buf, size_t len)
{
    char when[28], days[32];
    long left = msgw_certificate_days_left(c, now);
    msgw_cert_state st = msgw_certificate_state(c, now, warning_days);
    if (st == MSGW_CERT_UNREADABLE)
        snprintf(buf, len, "%s", c->problem ? c->problem : "cannot be read");
    else if (c->crl && !c->until)
        snprintf(buf, len, "%s: the CRL of %s (%ld revoked) has no nextUpdate", c->file, c->subject,
                 c->revoked);
    else if (c->crl && st == MSGW_CERT_EXPIRED)
        snprintf(buf, len,
                 "%s: the CRL of %s expired %s (nextUpdate, %s ago): the certificates of its CA "
                 "fail their "
                 "handshakes until a fresh CRL is written and SIGHUP sent",
                 c->file, c->subject, msgw_time_format(c->until, when),
                 days_text(-left - 1, days, sizeof days));
    else if (c->crl)
        snprintf(buf, len,
                 "%s: the CRL of %s (%ld revoked) is due %s (nextUpdate, in %s; warning in its "
                 "last quarter)",
                 c->file, c->subject, c->revoked, msgw_time_format(c->until, when),
                 days_text(left, days, sizeof days));
    else if (st == MSGW_CERT_EXPIRED)
        snprintf(buf, len, "%s: %s expired %s (%s ago)", c->file, c->subject,
                 msgw_time_format(c->until, when), days_text(-left - 1, days, sizeof days));
    else
        snprintf(buf, len, "%s: %s expires %s (in %s; warning at %u)", c->file, c->subject,
                 msgw_time_format(c->until, when), days_text(left, days, sizeof days),
                 warning_days);
    return buf;
}

static const char *const states[] = {"ok", "warning", "expired", "unreadable"};

static json_t *entry_json(const msgw_certificate *c, msgw_time now, unsigned warning_days)
{
    char when[28], detail[768];
    msgw_cert_state st = msgw_certificate_state(c, now, warning_days);
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", c->name, "key", c->key, "file", c->file,
                  "kind", c->crl ? "crl" : "certificate", "state", states[st], "detail",
                  msgw_certificate_describe(c, now, warning_days, detail, sizeof detail));
    if (c->subject) json_object_set_new(o, c->crl ? "issuer" : "subject", json_string(c->subject));
    if (c->from)
        json_object_set_new(o, c->crl ? "this_update" : "not_before",
                            json_string(msgw_time_format(c->from, when)));
    if (c->until) {
        json_object_set_new(o, c->crl ? "next_update" : "not_after",
                            json_string(msgw_time_format(c->until, when)));
        json_object_set_new(o, "seconds_left",
                            json_integer((json_int_t)((c->until - now) / 1000000)));
        json_object_set_new(o, "days_left", json_integer(msgw_certificate_days_left(c, now)));
    }
    if (c->crl && c->subject) json_object_set_new(o, "revoked", json_integer(c->revoked));
    return o;
}

json_t *msgw_certificates_json(const msgw_certificates *c, msgw_time now, unsigned warning_days)
{
    json_t *all = json_array();
    for (size_t i = 0; c && i < c->n; i++)
        json_array_append_new(all, entry_json(&c->v[i], now, warning_days));
    return json_pack("{s:i,s:o}", "warning_days", (int)warning_days, "certificates", all);
}

void msgw_certificates_log(const msgw_certificates *c, msgw_time now, unsigned warning_days)
{
    static const char *const what[] = {"", "certificate expires soon", "certificate expired",
                                       "certificate unreadable"};
    for (size_t i = 0; c && i < c->n; i++) {
        msgw_cert_state st = msgw_certificate_state(&c->v[i], now, warning_days);
        if (st == MSGW_CERT_OK) continue;
        char detail[768];
        msgw_log(MSGW_LOG_WARNING, what[st], "certificate", c->v[i].name, "detail",
                 msgw_certificate_describe(&c->v[i], now, warning_days, detail, sizeof detail),
                 NULL);
    }
}
