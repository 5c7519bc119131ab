/*
 * Text encodings at the edge.  UTF-8 is checked strictly (no overlongs, no
 * surrogates, nothing above U+10FFFF) because everything downstream trusts
 * it; GB18030 goes through glibc's iconv, which knows the full four-byte
 * range, not just GBK.
 */
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "msgw/base/text.h"

size_t msgw_utf8_valid_prefix(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return i;
        }
        if (i + n >= len) return i; /* truncated sequence */
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
        i += n + 1;
    }
    return i;
}

size_t msgw_utf8_strlen(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

static char *convert(const char *to, const char *from, const char *s, size_t len, msgw_arena *a,
                     size_t *out_len, size_t *bad_offset)
{
    iconv_t cd = iconv_open(to, from);
    if (cd == (iconv_t)-1) {
        if (bad_offset) *bad_offset = 0;
        return NULL;
    }
    size_t cap = len * 2 + 16; /* GB18030 -> UTF-8 grows at most 2x (2 bytes -> 3, 4 -> 4) */
    char *out = msgw_arena_alloc(a, cap);
    char *in = (char *)s, *op = out;
    size_t inleft = len, outleft = cap - 1;
    size_t r = iconv(cd, &in, &inleft, &op, &outleft);
    if (r != (size_t)-1) r = iconv(cd, NULL, NULL, &op, &outleft);
    iconv_close(cd);
    if (r == (size_t)-1 || inleft) {
        if (bad_offset) *bad_offset = (size_t)(in - s);
        return NULL;
    }
    *op = '\0';
    if (out_len) *out_len = (size_t)(op - out);
    return out;
}

char *msgw_gb18030_to_utf8(const char *s, size_t len, msgw_arena *a, size_t *out_len,
                           size_t *bad_offset)
{
    return convert("UTF-8", "GB18030", s, len, a, out_len, bad_offset);
}

char *msgw_utf8_to_gb18030(const char *s, size_t len, msgw_arena *a, size_t *out_len)
{
    return convert("GB18030", "UTF-8", s, len, a, out_len, NULL);
}

bool msgw_charset_is_gb(const char *cs, size_t len)
{
    return (len == 7 && strncasecmp(cs, "gb18030", 7) == 0) ||
           (len == 3 && strncasecmp(cs, "gbk", 3) == 0) ||
           (len == 6 && strncasecmp(cs, "gb2312", 6) == 0);
}
