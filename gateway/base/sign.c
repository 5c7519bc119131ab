/*
 * Detached signatures (include/msgw/base/sign.h): OpenSSL's EVP digest-sign with
 * SHA-256, whatever the key type, encoded in base64.
 */
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

bool msgw_verify_b64(EVP_PKEY *pub, const void *msg, size_t len, const char *b64)
{
    size_t n = b64 ? strlen(b64) : 0;
    if (n == 0 || n % 4 != 0) return false;
    unsigned char *sig = malloc(n);
    if (!sig) abort();
    int siglen = EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)n);
    for (size_t i = n; siglen > 0 && i > 0 && b64[i - 1] == '='; i--) siglen--;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = siglen > 0 && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
              EVP_DigestVerify(ctx, sig, (size_t)siglen, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    free(sig);
    return ok;
}
