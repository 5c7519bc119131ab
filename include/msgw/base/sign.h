/*
 * Detached signatures with the gateway's key (SHA-256 with its EC or RSA
 * key, base64), shared by the audit log's checkpoints and the envelopes
 * exchanged with peer gateways, and the signer's certificate as both carry
 * it (DER, base64).
 */
#ifndef MSGW_SIGN_H
#define MSGW_SIGN_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

/* The base64 signature of msg[0..len) (malloc'd), or NULL when the key cannot sign. */
char *msgw_sign_b64(EVP_PKEY *key, const void *msg, size_t len);
/* True when b64 is a valid signature of msg[0..len) by pub. */
bool msgw_verify_b64(EVP_PKEY *pub, const void *msg, size_t len, const char *b64);
/* The certificate's DER in base64 (malloc'd), or NULL when it cannot be encoded. */
char *msgw_cert_b64(X509 *cert);
/* The certificate whose DER b64 holds (a new reference), or NULL when it holds none. */
X509 *msgw_cert_from_b64(const char *b64);

#endif
