/*
 * Envelopes between peer gateways (include/msgw/pipeline/peer.h): sealing with the
 * gateway's key, opening against the peer's CA.  OpenSSL checks the
 * signer's certificate chain and the signature; jansson gives the JSON and
 * the canonical (sorted, compact) bytes that are signed.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/idnum.h"
#include "msgw/pipeline/peer.h"
#include "msgw/base/sign.h"
#include "msgw/net/trust.h"

#define SIGNED_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

/* The last signer certificate a peer's envelope carried, verified: a peer signs every envelope
 * with the same certificate, so decoding and checking it once saves a fifth of the receiver's
 * work.  Used by the thread that opens envelopes (the event loop) only. */
typedef struct signer_cache {
    char *b64; /* as the envelope carried it */
    X509 *cert;
} signer_cache;

typedef struct peer_trust {
    char id[64], region[16], organization[64], unit[64];
    X509_STORE *store;    /* the peer's CA alone */
    signer_cache *signer; /* its pointee changes under a const msgw_peers */
} peer_trust;

struct msgw_peers {
    char region[16];
    EVP_PKEY *key;
    char *cert_b64; /* our certificate, DER in base64, sent with each envelope */
    peer_trust *peers;
    size_t npeers;
};

static X509 *read_cert(const char *path)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    X509 *c = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    return c;
}

static bool load_own(msgw_peers *p, const msgw_config *cfg, msgw_errors *e)
{
    FILE *f = fopen(cfg->tls_key, "r");
    p->key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    X509 *cert = read_cert(cfg->tls_cert);
    p->cert_b64 = cert ? msgw_cert_b64(cert) : NULL;
    X509_free(cert);
    if (p->key && p->cert_b64) return true;
    msgw_error_add(e, -1, "/tls", NULL, "peer.key", "cannot read the gateway's key or certificate to seal envelopes");
    return false;
}

/* The peer's CA, with its CRL when configured: a revoked peer certificate neither opens the
 * peering listener nor signs an envelope (one relayed by another peer too). */
static bool load_peer(peer_trust *t, const msgw_config *cfg, size_t i, msgw_errors *e)
{
    const msgw_department *d = &cfg->departments[i];
    snprintf(t->id, sizeof t->id, "%s", d->id);
    snprintf(t->region, sizeof t->region, "%s", d->peer_region);
    snprintf(t->organization, sizeof t->organization, "%s", d->cert_organization ? d->cert_organization : "");
    snprintf(t->unit, sizeof t->unit, "%s", d->cert_unit ? d->cert_unit : "");
    t->store = X509_STORE_new();
    t->signer = calloc(1, sizeof *t->signer);
    if (!t->store || !t->signer) abort();
    msgw_trust_keys k;
    msgw_trust_files f = msgw_trust_peer(cfg, i, &k);
    return msgw_trust_add(t->store, &f, e);
}

msgw_peers *msgw_peers_new(const msgw_config *cfg, msgw_errors *e)
{
    msgw_peers *p = calloc(1, sizeof *p);
    if (!p) abort();
    snprintf(p->region, sizeof p->region, "%s", cfg->region ? cfg->region : "");
    p->peers = calloc(cfg->npeers + 1, sizeof *p->peers);
    if (!p->peers) abort();
    bool ok = load_own(p, cfg, e);
    for (size_t i = 0; i < cfg->ndepartments; i++)
        if (cfg->departments[i].peer_region)
            ok = load_peer(&p->peers[p->npeers++], cfg, i, e) && ok;
    if (!ok) msgw_peers_destroy(&p);
    return p;
}

void msgw_peers_destroy(msgw_peers **pp)
{
    if (!pp || !*pp) return;
    msgw_peers *p = *pp;
    for (size_t i = 0; i < p->npeers; i++) {
        X509_STORE_free(p->peers[i].store);
        if (p->peers[i].signer) {
            free(p->peers[i].signer->b64);
            X509_free(p->peers[i].signer->cert);
            free(p->peers[i].signer);
        }
    }
    free(p->peers);
    EVP_PKEY_free(p->key);
    free(p->cert_b64);
    free(p);
    *pp = NULL;
}

static void sha256_hex(const char *s, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(s, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < len; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The bytes the signature covers: {"envelope", "record"}, keys sorted, compact. */
static char *signed_bytes(json_t *header, json_t *record)
{
    json_t *o = json_pack("{s:O,s:O}", "envelope", header, "record", record);
    char *s = o ? json_dumps(o, SIGNED_FLAGS) : NULL;
    json_decref(o);
    return s;
}

bool msgw_peers_seal(const msgw_peers *p, const msgw_department *to, json_t *record, const char *message_id,
                     const char (*hops)[16], size_t nhops, msgw_buf *out, msgw_envelope *hdr)
{
    memset(hdr, 0, sizeof *hdr);
    json_t *hj = json_array();
    for (size_t i = 0; i < nhops && i < MSGW_ENVELOPE_MAX_HOPS - 1; i++) {
        json_array_append_new(hj, json_string(hops[i]));
        snprintf(hdr->hops[hdr->nhops++], sizeof hdr->hops[0], "%s", hops[i]);
    }
    json_array_append_new(hj, json_string(p->region));
    snprintf(hdr->hops[hdr->nhops++], sizeof hdr->hops[0], "%s", p->region);
    snprintf(hdr->origin, sizeof hdr->origin, "%s", hdr->hops[0]);
    snprintf(hdr->destination, sizeof hdr->destination, "%s", to->peer_region);
    snprintf(hdr->message_id, sizeof hdr->message_id, "%s", message_id ? message_id : "");
    msgw_time_format(msgw_time_now(), hdr->time);
    json_t *header = json_pack("{s:i,s:s,s:s,s:s,s:s,s:o}", "version", 1, "origin", hdr->origin, "destination",
                               hdr->destination, "message_id", hdr->message_id, "time", hdr->time, "hops", hj);
    char *bytes = signed_bytes(header, record);
    char *sig = bytes ? msgw_sign_b64(p->key, bytes, strlen(bytes)) : NULL;
    bool ok = sig && strlen(sig) < sizeof hdr->signature;
    if (ok) {
        sha256_hex(bytes, strlen(bytes), hdr->digest);
        snprintf(hdr->signature, sizeof hdr->signature, "%s", sig);
        json_t *env = json_pack("{s:O,s:O,s:{s:s,s:s,s:s}}", "envelope", header, "record", record, "signature",
                                "algorithm", "SHA256", "certificate", p->cert_b64, "value", sig);
        char *text = json_dumps(env, JSON_COMPACT);
        msgw_buf_puts(out, text);
        free(text);
        json_decref(env);
    }
    free(sig);
    free(bytes);
    json_decref(header);
    return ok;
}

static const peer_trust *trust_of(const msgw_peers *p, const msgw_department *d)
{
    for (size_t i = 0; i < p->npeers; i++)
        if (strcmp(p->peers[i].id, d->id) == 0) return &p->peers[i];
    return NULL;
}

static bool refuse(msgw_errors *e, const char *field, const char *rule, const char *msg)
{
    msgw_error_add(e, -1, "envelope", field, rule, "%s", msg);
    return false;
}

/* The signer's certificate: it chains to the peer's CA and names the peer.  The one verified last
 * is taken again while it still holds (its validity is checked by the chain, so an expired one
 * is verified afresh each time the cache would be used after notAfter). */
static X509 *check_signer(const peer_trust *t, const char *b64, msgw_errors *e)
{
    signer_cache *c = t->signer;
    if (b64 && c->b64 && strcmp(c->b64, b64) == 0 && X509_cmp_current_time(X509_get0_notAfter(c->cert)) > 0) {
        X509_up_ref(c->cert);
        return c->cert;
    }
    size_t n = b64 ? strlen(b64) : 0;
    if (!n || n % 4 || n > 16384) return refuse(e, "certificate", "envelope.signer", "no signer certificate"), NULL;
    X509 *cert = msgw_cert_from_b64(b64);
    if (!cert) return refuse(e, "certificate", "envelope.signer", "the signer certificate is not DER"), NULL;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    bool chained = X509_STORE_CTX_init(ctx, t->store, cert, NULL) == 1 && X509_verify_cert(ctx) == 1;
    int why = chained ? X509_V_OK : X509_STORE_CTX_get_error(ctx); /* revoked, an expired CRL, … */
    X509_STORE_CTX_free(ctx);
    char o[64] = "", ou[64] = "";
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_get_text_by_NID(name, NID_organizationName, o, sizeof o);
    X509_NAME_get_text_by_NID(name, NID_organizationalUnitName, ou, sizeof ou);
    if (!chained || strcmp(o, t->organization) != 0 || strcmp(ou, t->unit) != 0) {
        char msg[320];
        snprintf(msg, sizeof msg,
                 "the signer (O=%s, OU=%s) is not peer %s's gateway certified by its CA%s%s%s", o,
                 ou, t->id, why ? " (" : "", why ? X509_verify_cert_error_string(why) : "",
                 why ? ")" : "");
        X509_free(cert);
        return refuse(e, "certificate", "envelope.signer", msg), NULL;
    }
    free(c->b64);
    X509_free(c->cert);
    c->b64 = strdup(b64);
    if (!c->b64) abort();
    X509_up_ref(cert);
    c->cert = cert;
    return cert;
}

const msgw_department *msgw_peers_who(const msgw_peers *p, const msgw_config *cfg, X509 *cert)
{
    char o[64] = "", ou[64] = "";
    X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
    if (!name) return NULL;
    X509_NAME_get_text_by_NID(name, NID_organizationName, o, sizeof o);
    X509_NAME_get_text_by_NID(name, NID_organizationalUnitName, ou, sizeof ou);
    for (size_t i = 0; i < p->npeers; i++) {
        const peer_trust *t = &p->peers[i];
        if (strcmp(o, t->organization) != 0 || strcmp(ou, t->unit) != 0) continue;
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        bool chained = X509_STORE_CTX_init(ctx, t->store, cert, NULL) == 1 && X509_verify_cert(ctx) == 1;
        X509_STORE_CTX_free(ctx);
        const msgw_department *d = chained ? msgw_config_department(cfg, t->id) : NULL;
        if (d && d->peer_region) return d;
    }
    return NULL;
}

/* The header's fields into hdr; false when a field is missing or malformed. */
static bool read_header(json_t *h, msgw_envelope *hdr, msgw_errors *e)
{
    const char *origin = json_string_value(json_object_get(h, "origin"));
    const char *dest = json_string_value(json_object_get(h, "destination"));
    const char *mid = json_string_value(json_object_get(h, "message_id"));
    const char *time = json_string_value(json_object_get(h, "time"));
    json_t *hops = json_object_get(h, "hops");
    if (json_integer_value(json_object_get(h, "version")) != 1 || !origin || !dest || !mid || !*mid || !time ||
        !json_is_array(hops) || !json_array_size(hops) || json_array_size(hops) > MSGW_ENVELOPE_MAX_HOPS ||
        strlen(origin) >= sizeof hdr->origin || strlen(dest) >= sizeof hdr->destination ||
        strlen(mid) >= sizeof hdr->message_id || strlen(time) >= sizeof hdr->time)
        return refuse(e, NULL, "envelope.format",
                      "the header needs version 1, origin, destination, message_id, time and 1 to 8 hops");
    snprintf(hdr->origin, sizeof hdr->origin, "%s", origin);
    snprintf(hdr->destination, sizeof hdr->destination, "%s", dest);
    snprintf(hdr->message_id, sizeof hdr->message_id, "%s", mid);
    snprintf(hdr->time, sizeof hdr->time, "%s", time);
    size_t i;
    json_t *x;
    json_array_foreach(hops, i, x) {
        const char *r = json_string_value(x);
        if (!r || strlen(r) >= sizeof hdr->hops[0]) return refuse(e, "hops", "envelope.format", "a hop is a region code");
        snprintf(hdr->hops[hdr->nhops++], sizeof hdr->hops[0], "%s", r);
    }
    return true;
}

bool msgw_envelope_read(const char *body, size_t len, msgw_envelope *hdr)
{
    memset(hdr, 0, sizeof *hdr);
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *h = json_object_get(doc, "envelope"), *r = json_object_get(doc, "record");
    const char *sig = json_string_value(json_object_get(json_object_get(doc, "signature"), "value"));
    msgw_errors e;
    msgw_errors_init(&e);
    bool ok = json_is_object(h) && json_is_object(r) && sig && read_header(h, hdr, &e);
    char *bytes = ok ? signed_bytes(h, r) : NULL;
    if (bytes) {
        sha256_hex(bytes, strlen(bytes), hdr->digest);
        snprintf(hdr->signature, sizeof hdr->signature, "%.*s", (int)sizeof hdr->signature - 1, sig);
    }
    free(bytes);
    msgw_errors_clear(&e);
    json_decref(doc);
    return ok;
}

/* Who may send what: the destination is this gateway, the last hop the peer that pushed it, the
 * origin the first hop, and this gateway not among the hops (a loop). */
static bool check_route(const msgw_peers *p, const peer_trust *t, const msgw_envelope *hdr, msgw_errors *e)
{
    char msg[200];
    if (strcmp(hdr->destination, p->region) != 0) {
        snprintf(msg, sizeof msg, "addressed to %s, not to this gateway (%s)", hdr->destination, p->region);
        return refuse(e, "destination", "envelope.destination", msg);
    }
    if (strcmp(hdr->hops[hdr->nhops - 1], t->region) != 0 || strcmp(hdr->origin, hdr->hops[0]) != 0) {
        snprintf(msg, sizeof msg, "the last hop %s is not the peer that sent it (%s), or the origin is not the first",
                 hdr->hops[hdr->nhops - 1], t->region);
        return refuse(e, "hops", "envelope.hops", msg);
    }
    for (size_t i = 0; i < hdr->nhops; i++)
        if (strcmp(hdr->hops[i], p->region) == 0)
            return refuse(e, "hops", "envelope.hops", "the envelope has passed through this gateway before (a loop)");
    return true;
}

bool msgw_peers_open(const msgw_peers *p, const msgw_department *from, const char *body, size_t len, json_t **record,
                     msgw_envelope *hdr, msgw_errors *e)
{
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    bool ok = msgw_peers_open_json(p, from, doc, record, hdr, e);
    json_decref(doc);
    return ok;
}

bool msgw_peers_open_json(const msgw_peers *p, const msgw_department *from, json_t *doc, json_t **record,
                          msgw_envelope *hdr, msgw_errors *e)
{
    *record = NULL;
    memset(hdr, 0, sizeof *hdr);
    const peer_trust *t = trust_of(p, from);
    if (!t) return refuse(e, NULL, "envelope.peer", "the sender is not a configured peer");
    json_t *h = json_object_get(doc, "envelope"), *r = json_object_get(doc, "record"),
           *s = json_object_get(doc, "signature");
    bool ok = json_is_object(h) && json_is_object(r) && json_is_object(s) && json_object_size(doc) == 3;
    if (!ok) refuse(e, NULL, "envelope.format", "an envelope is {\"envelope\", \"record\", \"signature\"}");
    ok = ok && read_header(h, hdr, e);
    X509 *signer = ok ? check_signer(t, json_string_value(json_object_get(s, "certificate")), e) : NULL;
    ok = ok && signer;
    char *bytes = ok ? signed_bytes(h, r) : NULL;
    const char *value = json_string_value(json_object_get(s, "value"));
    if (ok && !(value && msgw_verify_b64(X509_get0_pubkey(signer), bytes, strlen(bytes), value)))
        ok = refuse(e, "signature", "envelope.signature",
                    "the signature does not match the header and record: altered, or not signed by the peer");
    if (ok) {
        sha256_hex(bytes, strlen(bytes), hdr->digest);
        snprintf(hdr->signature, sizeof hdr->signature, "%.*s", (int)sizeof hdr->signature - 1, value);
    }
    ok = ok && check_route(p, t, hdr, e);
    if (ok) *record = json_incref(r);
    free(bytes);
    X509_free(signer);
    return ok;
}

json_t *msgw_envelope_audit(const msgw_envelope *hdr, const char *action, const char *peer, const char *rule)
{
    char mid[sizeof hdr->message_id];
    snprintf(mid, sizeof mid, "%s", hdr->message_id);
    msgw_idnum_scrub(mid);
    json_t *hops = json_array();
    for (size_t i = 0; i < hdr->nhops; i++) json_array_append_new(hops, json_string(hdr->hops[i]));
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s}", "action", action, "peer", peer ? peer : "",
                          "origin", hdr->origin, "destination", hdr->destination, "message_id", mid, "time",
                          hdr->time, "hops", hops, "digest", hdr->digest, "signature", hdr->signature);
    if (rule) json_object_set_new(o, "rule", json_string(rule));
    return o;
}
