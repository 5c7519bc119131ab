/*
 * Detached signatures with the gateway's key (SHA-256 with its EC or RSA
 * key, base64), shared by the audit log's checkpoints and the envelopes
 * exchanged with peer gateways.
 */
#ifndef MSGW_SIGN_H
#define MSGW_SIGN_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

/* The base64 signature of msg[0..len) (malloc'd), or NULL when the key cannot sign. */
char *msgw_sign_b64(EVP_PKEY *key, const void *msg, size_t len);
/* True when b64 is a valid signature of msg[0..len) by pub. */
bool msgw_verify_b64(EVP_PKEY *pub, const void *msg, size_t len, const char *b64);

#endif
