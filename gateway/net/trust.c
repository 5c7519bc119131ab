/*
 * Trust material from PEM files (include/msgw/net/trust.h).  OpenSSL parses the files and checks
 * the signatures; this file reads a file whole, so that a broken block is an error rather than
 * the end of the file, and checks that a CA bundle and its CRL file belong together before a
 * listener relies on them.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msgw/net/trust.h"

static void problem(msgw_errors *e, const char *key, const char *where, const char *path,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "tls.crl /etc/msgw/crl.pem: …", located at the key's JSON pointer. */
static void problem(msgw_errors *e, const char *key, const char *where, const char *path,
                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *field = strrchr(key, '.');
    msgw_error_add(e, -1, where, field ? field + 1 : key,
                   strstr(key, "crl") ? "tls.crl" : "tls.certificate", "%s %s: %s", key,
                   path ? path : "(none)", msg);
}

/* What OpenSSL said last, and its queue emptied: a later handshake reads the queue for its reason.
 */
static const char *openssl_says(char *buf, size_t len)
{
    unsigned long err = ERR_peek_last_error();
    if (err)
        ERR_error_string_n(err, buf, len);
    else
        snprintf(buf, len, "no PEM block");
    ERR_clear_error();
    return buf;
}

/* Every PEM block of the file; NULL, with an error, when it cannot be read or a block is broken. */
static STACK_OF(X509_INFO) *
    read_pem(const char *path, const char *key, const char *where, msgw_errors *e)
{
    BIO *b = path ? BIO_new_file(path, "r") : NULL;
    STACK_OF(X509_INFO) *v = b ? PEM_X509_INFO_read_bio(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    char why[256];
    if (!v) problem(e, key, where, path, "cannot be read: %s", openssl_says(why, sizeof why));
    ERR_clear_error();
    return v;
}

/* The certificates (crl false) or the CRLs of a PEM file, taken out of its blocks; NULL, with an
 * error, when it cannot be read or holds none. */
static OPENSSL_STACK *read_kind(const char *path, const char *key, const char *where, bool crl,
                                msgw_errors *e)
{
    STACK_OF(X509_INFO) *v = read_pem(path, key, where, e);
    OPENSSL_STACK *out = v ? OPENSSL_sk_new_null() : NULL;
    for (int i = 0; v && i < sk_X509_INFO_num(v); i++) {
        X509_INFO *x = sk_X509_INFO_value(v, i);
        void *item = crl ? (void *)x->crl : (void *)x->x509;
        if (!item || !OPENSSL_sk_push(out, item)) continue;
        if (crl) /* taken: X509_INFO_free leaves it */
            x->crl = NULL;
        else
            x->x509 = NULL;
    }
    sk_X509_INFO_pop_free(v, X509_INFO_free);
    if (out && !OPENSSL_sk_num(out)) {
        problem(e, key, where, path,
                crl ? "holds no CRL (a PEM \"X509 CRL\" block)"
                    : "holds no certificate (a PEM \"CERTIFICATE\" block)");
        OPENSSL_sk_free(out);
        out = NULL;
    }
    return out;
}

STACK_OF(X509) *
    msgw_trust_read_certs(const char *path, const char *key, const char *where, msgw_errors *e)
{
    return (STACK_OF(X509) *)read_kind(path, key, where, false, e);
}

STACK_OF(X509_CRL) *
    msgw_trust_read_crls(const char *path, const char *key, const char *where, msgw_errors *e)
{
    return (STACK_OF(X509_CRL) *)read_kind(path, key, where, true, e);
}

/* The index of the CA of cas that issued crl (its name, and its key verifies the signature); -1. */
static int issuer_of(STACK_OF(X509) * cas, X509_CRL *crl)
{
    for (int i = 0; i < sk_X509_num(cas); i++) {
        X509 *ca = sk_X509_value(cas, i);
        if (X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) == 0 &&
            X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
            return i;
    }
    ERR_clear_error();
    return -1;
}

/* Each CRL signed by a CA of the bundle, and each CA with its CRL: a CA without one would lock its
 * clients out (OpenSSL finds no CRL for them), a CRL nobody signed would be ignored. */
static bool belong_together(STACK_OF(X509) * cas, STACK_OF(X509_CRL) * crls,
                            const msgw_trust_files *f, msgw_errors *e)
{
    int n = sk_X509_num(cas);
    bool *covered = calloc((size_t)n + 1, sizeof *covered), ok = true;
    if (!covered) abort();
    for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(crls, i);
        int at = issuer_of(cas, crl);
        if (at >= 0) {
            covered[at] = true;
            continue;
        }
        char *issuer = msgw_trust_name(X509_CRL_get_issuer(crl));
        problem(e, f->crl_key, f->where, f->crl, "the CRL of %s is not signed by a CA of %s",
                issuer, f->ca_key);
        free(issuer);
        ok = false;
    }
    for (int i = 0; i < n; i++) {
        if (covered[i]) continue;
        char *ca = msgw_trust_name(X509_get_subject_name(sk_X509_value(cas, i)));
        problem(e, f->crl_key, f->where, f->crl,
                "holds no CRL of %s (a CA of %s): with %s set, each of its CAs needs its CRL", ca,
                f->ca_key, f->crl_key);
        free(ca);
        ok = false;
    }
    free(covered);
    return ok;
}

bool msgw_trust_add(X509_STORE *store, const msgw_trust_files *f, msgw_errors *e)
{
    STACK_OF(X509) *cas = msgw_trust_read_certs(f->ca, f->ca_key, f->where, e);
    STACK_OF(X509_CRL) *crls =
        cas && f->crl ? msgw_trust_read_crls(f->crl, f->crl_key, f->where, e) : NULL;
    bool ok = cas && (!f->crl || (crls && belong_together(cas, crls, f, e)));
    for (int i = 0; ok && i < sk_X509_num(cas); i++)
        ok = X509_STORE_add_cert(store, sk_X509_value(cas, i)) == 1;
    for (int i = 0; ok && i < sk_X509_CRL_num(crls); i++)
        ok = X509_STORE_add_crl(store, sk_X509_CRL_value(crls, i)) == 1;
    if (ok && crls) X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    sk_X509_pop_free(cas, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    ERR_clear_error();
    return ok;
}

msgw_trust_files msgw_trust_peer(const msgw_config *cfg, size_t i, msgw_trust_keys *k)
{
    const msgw_department *d = &cfg->departments[i];
    snprintf(k->ca, sizeof k->ca, "peers[%s].ca", d->id);
    snprintf(k->crl, sizeof k->crl, "peers[%s].crl", d->id);
    snprintf(k->where, sizeof k->where, "/peers/%zu", i - (cfg->ndepartments - cfg->npeers));
    return (msgw_trust_files){.ca = d->peer_ca,
                              .crl = d->peer_crl,
                              .ca_key = k->ca,
                              .crl_key = k->crl,
                              .where = k->where};
}

msgw_time msgw_trust_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
    return (msgw_time)timegm(&tm) * 1000000;
}

char *msgw_trust_name(const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (!b) abort();
    /* RFC 2253, UTF-8 kept as it is (a Chinese organisation name stays readable) */
    X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)(len > 0 ? len : 0) + 1);
    if (!s) abort();
    if (len > 0) memcpy(s, data, (size_t)len);
    s[len > 0 ? len : 0] = '\0';
    BIO_free(b);
    return s;
}
