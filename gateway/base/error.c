/*
 * Error lists.  Bounded: a hostile document with a million bad values must
 * not turn into a million heap-allocated messages, so past the limit entries
 * are only counted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/error.h"

#define DEFAULT_LIMIT 1000

void msgw_errors_init(msgw_errors *e)
{
    memset(e, 0, sizeof *e);
}

static void error_free(msgw_error *err)
{
    free(err->location);
    free(err->field);
    free(err->rule);
    free(err->message);
}

void msgw_errors_clear(msgw_errors *e)
{
    for (size_t i = 0; i < e->n; i++) error_free(&e->v[i]);
    free(e->v);
    free(e->failed);
    size_t limit = e->limit;
    msgw_errors_init(e);
    e->limit = limit;
}

static void mark_failed(msgw_errors *e, int record)
{
    if (record < 0) {
        e->doc_failed = 1;
        return;
    }
    size_t r = (size_t)record;
    if (r >= e->nfailed) {
        size_t n = e->nfailed ? e->nfailed : 64;
        while (n <= r) n *= 2;
        unsigned char *f = realloc(e->failed, n);
        if (!f) abort();
        memset(f + e->nfailed, 0, n - e->nfailed);
        e->failed = f;
        e->nfailed = n;
    }
    e->failed[r] = 1;
}

int msgw_errors_record_failed(const msgw_errors *e, int record)
{
    if (record < 0) return e->doc_failed;
    return (size_t)record < e->nfailed && e->failed[record];
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static msgw_error *push(msgw_errors *e)
{
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 8;
        msgw_error *v = realloc(e->v, ncap * sizeof *v);
        if (!v) abort();
        e->v = v;
        e->cap = ncap;
    }
    return &e->v[e->n++];
}

void msgw_errors_vadd(msgw_errors *e, msgw_severity sev, int record, const char *location,
                      const char *field, const char *rule, const char *fmt, va_list ap)
{
    if (sev == MSGW_SEV_ERROR) {
        e->nerrors++;
        mark_failed(e, record);
    } else
        e->nwarnings++;
    if (e->n >= (e->limit ? e->limit : DEFAULT_LIMIT)) {
        e->dropped++;
        return;
    }
    msgw_error *err = push(e);
    err->severity = sev;
    err->record = record;
    err->location = dup_or_null(location);
    err->field = dup_or_null(field);
    err->rule = dup_or_null(rule);
    if (vasprintf(&err->message, fmt, ap) < 0) err->message = NULL;
}

void msgw_errors_add(msgw_errors *e, msgw_severity sev, int record, const char *location,
                     const char *field, const char *rule, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msgw_errors_vadd(e, sev, record, location, field, rule, fmt, ap);
    va_end(ap);
}

void msgw_errors_move(msgw_errors *dst, msgw_errors *src, int record)
{
    for (size_t i = 0; i < src->n; i++) {
        msgw_error *s = &src->v[i];
        if (dst->n >= (dst->limit ? dst->limit : DEFAULT_LIMIT)) {
            dst->dropped++;
            error_free(s);
            continue;
        }
        msgw_error *d = push(dst);
        *d = *s;
        if (record >= 0) d->record = record;
    }
    for (size_t r = 0; r < src->nfailed; r++)
        if (src->failed[r]) mark_failed(dst, record >= 0 ? record : (int)r);
    if (src->doc_failed) mark_failed(dst, record >= 0 ? record : -1);
    free(src->failed);
    dst->nerrors += src->nerrors;
    dst->nwarnings += src->nwarnings;
    dst->dropped += src->dropped;
    free(src->v);
    size_t limit = src->limit;
    msgw_errors_init(src);
    src->limit = limit;
}

size_t msgw_errors_count_for(const msgw_errors *e, int record)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i].record == record && e->v[i].severity == MSGW_SEV_ERROR) n++;
    return n;
}

char *msgw_error_format(const msgw_error *err, char *buf, size_t len)
{
    /* an empty JSON pointer is the document itself */
    const char *loc = err->location && !err->location[0] ? "(document)" : err->location;
    snprintf(buf, len, "%s%s%s%s%s [%s]", loc ? loc : "", loc ? ": " : "", err->field ? err->field : "", err->field ? ": " : "",
             err->message ? err->message : "", err->rule ? err->rule : "");
    return buf;
}

void msgw_errors_locate(msgw_errors *e, size_t from, const char *location)
{
    for (size_t i = from; i < e->n; i++)
        if (!e->v[i].location) e->v[i].location = dup_or_null(location);
}
