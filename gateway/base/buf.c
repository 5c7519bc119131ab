/* Growable byte buffer used by the encoders. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/buf.h"

void msgw_buf_init(msgw_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void msgw_buf_free(msgw_buf *b)
{
    free(b->data);
    msgw_buf_init(b);
}

void msgw_buf_reset(msgw_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

static void reserve(msgw_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra + 1) ncap *= 2;
    char *n = realloc(b->data, ncap);
    if (!n) {
        fputs("msgw: out of memory\n", stderr);
        abort();
    }
    b->data = n;
    b->cap = ncap;
}

void msgw_buf_append(msgw_buf *b, const void *p, size_t n)
{
    reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void msgw_buf_puts(msgw_buf *b, const char *s)
{
    msgw_buf_append(b, s, strlen(s));
}

void msgw_buf_printf(msgw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof tmp) {
        msgw_buf_append(b, tmp, (size_t)n);
    } else {
        reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void msgw_buf_xml_escape(msgw_buf *b, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '&': rep = "&amp;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        default: continue;
        }
        msgw_buf_append(b, run, (size_t)(s - run));
        msgw_buf_puts(b, rep);
        run = s + 1;
    }
    msgw_buf_append(b, run, (size_t)(s - run));
}

void msgw_buf_csv_field(msgw_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        msgw_buf_puts(b, s);
        return;
    }
    msgw_buf_append(b, "\"", 1);
    for (const char *q = s; *q; q++) {
        if (*q == '"') msgw_buf_append(b, "\"", 1);
        msgw_buf_append(b, q, 1);
    }
    msgw_buf_append(b, "\"", 1);
}

size_t msgw_buf_trimmed(const char *doc, size_t len)
{
    while (len && (doc[len - 1] == '\n' || doc[len - 1] == ' ' || doc[len - 1] == '\r'))
        len--;
    return len;
}

void msgw_buf_json_array(msgw_buf *b, const char *const *docs, const size_t *lens, size_t n)
{
    msgw_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) msgw_buf_puts(b, ",\n");
        msgw_buf_append(b, docs[i], msgw_buf_trimmed(docs[i], lens[i]));
    }
    msgw_buf_puts(b, "]\n");
}
