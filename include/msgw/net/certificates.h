/*
 * The certificates and CRLs the configuration names, read when it is loaded (at the start and at
 * each SIGHUP) with the dates that end their validity: what /metrics
 * (msgw_certificate_expiry_seconds, msgw_crl_next_update_seconds), GET /v1/certificates, the
 * dashboard's certificates panel and /readyz report, and what the daemon warns of in its log.  The
 * dates are those of the files as the configuration was loaded: a file replaced without a SIGHUP
 * is not what the gateway uses, and is not reported either.
 */
#ifndef MSGW_CERTIFICATES_H
#define MSGW_CERTIFICATES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "msgw/base/date.h"
#include "msgw/net/config.h"

typedef struct msgw_certificate {
    char *name; /* gateway, ca, crl, delivery.<department>, delivery_ca.<department>,
                 * peer_ca.<peer>, peer_crl.<peer>: the same for every certificate of a bundle */
    char *key;  /* the configuration key: tls.cert, departments[mca].deliver.webhook.cert, … */
    char *file;
    bool crl;
    char *subject; /* a certificate's subject, a CRL's issuer (RFC 2253); NULL: unreadable */
    char *problem; /* why it could not be read */
    msgw_time from, until; /* notBefore and notAfter, or thisUpdate and nextUpdate (0: none) */
    long revoked;          /* a CRL: how many certificates it lists */
} msgw_certificate;

typedef struct msgw_certificates {
    msgw_certificate *v;
    size_t n;
} msgw_certificates;

typedef enum {
    MSGW_CERT_OK,
    MSGW_CERT_WARNING, /* a certificate within admin.cert_warning_days of notAfter; a CRL in the
                        * last quarter of its period (thisUpdate to nextUpdate) */
    MSGW_CERT_EXPIRED, /* past notAfter or nextUpdate */
    MSGW_CERT_UNREADABLE
} msgw_cert_state;

/* Every certificate and CRL cfg names, each file read whole (one entry per certificate or CRL of
 * a bundle; one entry with its problem for a file that cannot be read). */
msgw_certificates *msgw_certificates_read(const msgw_config *cfg);
void msgw_certificates_destroy(msgw_certificates **c);
msgw_cert_state msgw_certificate_state(const msgw_certificate *c, msgw_time now,
                                       unsigned warning_days);
/* Whole days left until notAfter or nextUpdate, rounded down (-1: expired less than a day ago). */
long msgw_certificate_days_left(const msgw_certificate *c, msgw_time now);
/* One line for people: "FILE: SUBJECT expires 2028-… (in 824 days; warning at 30)". */
char *msgw_certificate_describe(const msgw_certificate *c, msgw_time now, unsigned warning_days,
                                char *buf, size_t len);
/* {"warning_days", "certificates": [{"name", "key", "file", "kind", "subject" or "issuer", "state",
 * "days_left", …}]} (docs/admin.md, GET /v1/certificates).  New reference. */
json_t *msgw_certificates_json(const msgw_certificates *c, msgw_time now, unsigned warning_days);
/* A warning in the log for each one expired, expiring or unreadable. */
void msgw_certificates_log(const msgw_certificates *c, msgw_time now, unsigned warning_days);

#endif
