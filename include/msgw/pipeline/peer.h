/*
 * Envelopes between peer gateways (docs/federation.md): a record in
 * canonical form, sealed by the sending gateway with a detached signature
 * over the envelope header (origin, destination, message id, time, hops)
 * and the record, and opened by the receiver against the peer's CA.
 *
 *   {"envelope": {"version": 1, "origin": "12", "destination": "13",
 *                 "message_id": "cdpf:...", "time": "...", "hops": ["12"]},
 *    "record": { canonical record },
 *    "signature": {"algorithm": "SHA256", "certificate": BASE64 DER,
 *                  "value": BASE64}}
 *
 * The signed bytes are the compact JSON of {"envelope", "record"} with
 * sorted keys, so any change to the header or the record breaks the
 * signature.  The signer's certificate travels with the envelope: it must
 * chain to the configured CA of the peer that pushed it and name that peer
 * (subject O and OU), so an envelope is evidence on its own.
 */
#ifndef MSGW_PEER_H
#define MSGW_PEER_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>

#include "msgw/base/buf.h"
#include "msgw/net/config.h"
#include "msgw/base/date.h"
#include "msgw/base/error.h"

#define MSGW_ENVELOPE_MEDIA_TYPE "application/vnd.msgw.envelope+json"
#define MSGW_ENVELOPE_MAX_HOPS 8

/* The header of an envelope sealed or opened. */
typedef struct msgw_envelope {
    char origin[16], destination[16];
    char message_id[256];
    char time[40];
    char hops[MSGW_ENVELOPE_MAX_HOPS][16];
    size_t nhops;
    char digest[65];     /* SHA-256 (hex) of the signed bytes */
    char signature[600]; /* base64 */
} msgw_envelope;

/* The gateway's signing key and certificate, and each peer's CA. */
typedef struct msgw_peers msgw_peers;

msgw_peers *msgw_peers_new(const msgw_config *cfg, msgw_errors *e);
void msgw_peers_destroy(msgw_peers **p);

/*
 * Seals record (a canonical record object, borrowed) for peer `to`: hops are
 * the regions it passed through before this gateway (NULL/0 for a record
 * that started here), this gateway's region is appended.  Writes the
 * envelope to out and its header to hdr.  False when the key cannot sign.
 */
bool msgw_peers_seal(const msgw_peers *p, const msgw_department *to, json_t *record, const char *message_id,
                     const char (*hops)[16], size_t nhops, msgw_buf *out, msgw_envelope *hdr);

/*
 * Opens an envelope pushed by peer `from` over its TLS connection: the JSON
 * shape, the signature, the signer's certificate (chains to from's CA and
 * names from), the destination (this gateway's region) and the last hop
 * (from's region).  On success *record is the record (a new reference) and
 * hdr its header; otherwise errors name the rule: envelope.format,
 * envelope.signature, envelope.signer, envelope.destination, envelope.hops.
 */
bool msgw_peers_open(const msgw_peers *p, const msgw_department *from, const char *body, size_t len, json_t **record,
                     msgw_envelope *hdr, msgw_errors *e);
/* The same for an envelope already parsed (one item of a list: docs/federation.md, "Several
 * envelopes in one request"); doc is borrowed. */
bool msgw_peers_open_json(const msgw_peers *p, const msgw_department *from, json_t *doc, json_t **record,
                          msgw_envelope *hdr, msgw_errors *e);

/* An envelope's header, digest and signature as written, without checking it (the sender's own, for
 * its audit entry when delivered); false when it is not an envelope. */
bool msgw_envelope_read(const char *body, size_t len, msgw_envelope *hdr);
/* The peer a TLS client certificate belongs to: its subject names the peer and it chains to that
 * peer's CA (a CA of one peer cannot vouch for another); NULL otherwise. */
const msgw_department *msgw_peers_who(const msgw_peers *p, const msgw_config *cfg, X509 *cert);
/* The audit entry of an envelope (docs/federation.md, "Evidence"): what happened (sent, received,
 * replayed, rejected), the peer, the header (the message id scrubbed of ID numbers), the digest of
 * the signed bytes and the signature; rule: why it was rejected (may be NULL).  A new object. */
json_t *msgw_envelope_audit(const msgw_envelope *hdr, const char *action, const char *peer, const char *rule);

#endif
