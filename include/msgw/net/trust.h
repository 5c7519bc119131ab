/*
 * Trust material from PEM files: every certificate of a file (a CA bundle, a certificate chain),
 * every revocation list of a CRL file, and a CA bundle put into an X509_STORE with its CRLs once
 * they are checked against each other.  A CRL file that does not load, a CRL that no CA of its
 * bundle signed, or a CA of the bundle without a CRL is an error naming the configuration key and
 * the file, so the start or the reload is refused before a listener uses it — rather than every
 * department being locked out at its next handshake.  A CRL past its nextUpdate loads: what a
 * handshake does with it is the listener's policy (docs/ingress.md, "Revocation").
 */
#ifndef MSGW_TRUST_H
#define MSGW_TRUST_H

#include <openssl/x509.h>
#include <stdbool.h>

#include "msgw/base/date.h"
#include "msgw/base/error.h"
#include "msgw/net/config.h"

/* A CA bundle and its optional CRL file, with the configuration keys that name them (errors). */
typedef struct msgw_trust_files {
    const char *ca, *crl;         /* paths; crl NULL: no revocation checking */
    const char *ca_key, *crl_key; /* "tls.ca", "tls.crl"; "peers[hebei].ca", "peers[hebei].crl" */
    const char *where;            /* the JSON pointer of the keys: "/tls", "/peers/0" */
} msgw_trust_files;

/* The names of a peer's CA and CRL in errors: "peers[hebei].ca", "peers[hebei].crl", "/peers/0". */
typedef struct msgw_trust_keys {
    char ca[96], crl[96], where[32];
} msgw_trust_keys;

/* The peer cfg->departments[i] (peers[].ca and peers[].crl) as trust files; k keeps their names. */
msgw_trust_files msgw_trust_peer(const msgw_config *cfg, size_t i, msgw_trust_keys *k);

/* Every certificate of a PEM file, in order; NULL, with an error naming key and path, when the
 * file cannot be read, holds a broken PEM block, or holds no certificate. */
STACK_OF(X509) *
    msgw_trust_read_certs(const char *path, const char *key, const char *where, msgw_errors *e);
/* Every CRL of a PEM file, the same way. */
STACK_OF(X509_CRL) *
    msgw_trust_read_crls(const char *path, const char *key, const char *where, msgw_errors *e);
/* Adds f's CAs to store, and its CRLs when f->crl is set, with revocation checking of leaf
 * certificates (X509_V_FLAG_CRL_CHECK).  Each CRL must be signed by a CA of the bundle and each
 * CA must have a CRL; false, with an error, otherwise (store may then hold part of it). */
bool msgw_trust_add(X509_STORE *store, const msgw_trust_files *f, msgw_errors *e);
/* An ASN.1 time as msgw_time; 0 for NULL (a CRL without nextUpdate) or one that cannot be read. */
msgw_time msgw_trust_time(const ASN1_TIME *t);
/* A name as one line of RFC 2253 text ("CN=gateway.12.msgw.local,OU=gateway,O=12"); malloc'd. */
char *msgw_trust_name(const X509_NAME *name);

#endif
