/*
 * Detached signatures (include/msgw/base/sign.h): OpenSSL's EVP digest-sign with
 * SHA-256, whatever the key type, encoded in base64; and certificates in base64 DER.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/sign.h"

char *msgw_sign_b64(EVP_PKEY *key, const void *msg, size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = 0;
    unsigned char *sig = NULL;
    char *b64 = NULL;
    if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestSign(ctx, NULL, &siglen, msg, len) == 1 && (sig = malloc(siglen)) &&
        EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1) {
        if (!(b64 = malloc(4 * ((siglen + 2) / 3) + 1))) abort();
        EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
    }
    free(sig);
    EVP_MD_CTX_free(ctx);
    return b64;
}

/* base64 decoded into a new buffer (*len its bytes, -1: not base64); the padding is not data. */
static unsigned char *unb64(const char *b64, int *len)
{
    size_t n = b64 ? strlen(b64) : 0;
    *len = -1;
    if (n == 0 || n % 4 != 0 || n > INT_MAX) return NULL;
    unsigned char *out = malloc(n);
    if (!out) abort();
    *len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n);
    for (size_t i = n; *len > 0 && i > 0 && b64[i - 1] == '='; i--)
        (*len)--;
    return out;
}

bool msgw_verify_b64(EVP_PKEY *pub, const void *msg, size_t len, const char *b64)
{
    int siglen;
    unsigned char *sig = unb64(b64, &siglen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = siglen > 0 && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
              EVP_DigestVerify(ctx, sig, (size_t)siglen, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    free(sig);
    return ok;
}

char *msgw_cert_b64(X509 *cert)
{
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    if (n <= 0) return NULL;
    char *b64 = malloc(4 * (((size_t)n + 2) / 3) + 1);
    if (!b64) abort();
    EVP_EncodeBlock((unsigned char *)b64, der, n);
    OPENSSL_free(der);
    return b64;
}

X509 *msgw_cert_from_b64(const char *b64)
{
    int len;
    unsigned char *der = unb64(b64, &len);
    const unsigned char *q = der;
    X509 *cert = len > 0 ? d2i_X509(NULL, &q, len) : NULL;
    free(der);
    return cert;
}
