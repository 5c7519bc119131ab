/*
 * The metrics registry (include/msgw/base/metrics.h).  A family keeps its series
 * in a fixed open-addressed table of atomic pointers: a reader probes it
 * without locking; a new series is inserted under the family's mutex and
 * published with a release store, never moved or freed before the registry
 * is destroyed.  Values are doubles kept as atomic 64-bit patterns and added
 * with compare-and-swap.  A histogram counts each observation in one bucket
 * only; the writer makes them cumulative, so +Inf always equals _count.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/metrics.h"

#define MAX_BUCKETS 32
#define SLOTS 1024 /* series per family; more are dropped (label sets are small and fixed) */

typedef enum { COUNTER, GAUGE, HISTOGRAM } kind;

typedef struct series {
    char *values[MSGW_METRICS_MAX_LABELS];
    _Atomic uint64_t value; /* a double's bits: counter, gauge, histogram sum */
    _Atomic uint64_t
        buckets[MAX_BUCKETS + 1]; /* histogram: per bucket (not cumulative), last = over */
    atomic_bool hidden;           /* cleared: not written until set again (msgw_metrics_clear) */
} series;

struct msgw_metric {
    struct msgw_metric *next;
    kind kind;
    char *name, *help;
    char *labels[MSGW_METRICS_MAX_LABELS];
    size_t nlabels;
    double bounds[MAX_BUCKETS];
    size_t nbuckets;
    pthread_mutex_t lock; /* insertion of series */
    _Atomic(series *) slot[SLOTS];
};

struct msgw_metrics {
    pthread_mutex_t lock; /* registration */
    msgw_metric *head, *tail;
};

const double msgw_metrics_latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                               0.5,   1,      2.5,   5,    10,    30,   60,  300};
const size_t msgw_metrics_latency_nbuckets =
    sizeof msgw_metrics_latency_buckets / sizeof *msgw_metrics_latency_buckets;

static char *dup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) abort();
    return d;
}

msgw_metrics *msgw_metrics_new(void)
{
    msgw_metrics *m = calloc(1, sizeof *m);
    if (!m) abort();
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void family_free(msgw_metric *f)
{
    for (size_t i = 0; i < SLOTS; i++) {
        series *s = atomic_load(&f->slot[i]);
        if (!s) continue;
        for (size_t l = 0; l < f->nlabels; l++)
            free(s->values[l]);
        free(s);
    }
    for (size_t l = 0; l < f->nlabels; l++)
        free(f->labels[l]);
    free(f->name);
    free(f->help);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void msgw_metrics_destroy(msgw_metrics **mp)
{
    if (!mp || !*mp) return;
    msgw_metrics *m = *mp;
    for (msgw_metric *f = m->head, *next; f; f = next) {
        next = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
    *mp = NULL;
}

static double load_double(_Atomic uint64_t *p)
{
    uint64_t bits = atomic_load_explicit(p, memory_order_relaxed);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static void add_double(_Atomic uint64_t *p, double v, bool replace)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed), new;
    do {
        double d;
        memcpy(&d, &old, sizeof d);
        d = replace ? v : d + v;
        memcpy(&new, &d, sizeof new);
    } while (!atomic_compare_exchange_weak_explicit(p, &old, new, memory_order_relaxed,
                                                    memory_order_relaxed));
}

static uint64_t hash_values(const char *const *v, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        for (const char *p = v[i]; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull; /* separator: ("ab","c") differs from ("a","bc") */
    }
    return h;
}

static bool same(const series *s, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], v[i]) != 0) return false;
    return true;
}

/* The series for these label values, created on first use; NULL when the table is full. */
static series *find(msgw_metric *f, const char *const *v)
{
    uint64_t h = hash_values(v, f->nlabels);
    size_t i = h & (SLOTS - 1);
    for (size_t k = 0; k < SLOTS; k++, i = (i + 1) & (SLOTS - 1)) {
        series *s = atomic_load_explicit(&f->slot[i], memory_order_acquire);
        if (!s) break;
        if (same(s, v, f->nlabels)) return s;
    }
    pthread_mutex_lock(&f->lock);
    series *found = NULL;
    i = h & (SLOTS - 1);
    for (size_t k = 0; k < SLOTS; k++, i = (i + 1) & (SLOTS - 1)) {
        series *s = atomic_load_explicit(&f->slot[i], memory_order_acquire);
        if (s && same(s, v, f->nlabels)) {
            found = s;
            break;
        }
        if (!s) {
            found = calloc(1, sizeof *found);
            if (!found) abort();
            for (size_t l = 0; l < f->nlabels; l++)
                found->values[l] = dup(v[l]);
            atomic_store_explicit(&f->slot[i], found, memory_order_release);
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return found;
}

static msgw_metric *reg(msgw_metrics *m, kind k, const char *name, const char *help,
                        const double *bounds, size_t nbuckets, va_list ap)
{
    if (!m) return NULL;
    pthread_mutex_lock(&m->lock);
    msgw_metric *f;
    for (f = m->head; f; f = f->next)
        if (strcmp(f->name, name) == 0) break;
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f) abort();
        f->kind = k;
        f->name = dup(name);
        f->help = dup(help);
        pthread_mutex_init(&f->lock, NULL);
        const char *l;
        while ((l = va_arg(ap, const char *)) && f->nlabels < MSGW_METRICS_MAX_LABELS)
            f->labels[f->nlabels++] = dup(l);
        f->nbuckets = nbuckets < MAX_BUCKETS ? nbuckets : MAX_BUCKETS;
        for (size_t i = 0; i < f->nbuckets; i++)
            f->bounds[i] = bounds[i];
        if (m->tail)
            m->tail->next = f;
        else
            m->head = f;
        m->tail = f;
        if (!f->nlabels) find(f, NULL); /* a family without labels shows 0 from the start */
    }
    pthread_mutex_unlock(&m->lock);
    return f;
}

msgw_metric *msgw_metrics_counter(msgw_metrics *m, const char *name, const char *help, ...)
{
    va_list ap;
    va_start(ap, help);
    msgw_metric *f = reg(m, COUNTER, name, help, NULL, 0, ap);
    va_end(ap);
    return f;
}

msgw_metric *msgw_metrics_gauge(msgw_metrics *m, const char *name, const char *help, ...)
{
    va_list ap;
    va_start(ap, help);
    msgw_metric *f = reg(m, GAUGE, name, help, NULL, 0, ap);
    va_end(ap);
    return f;
}

msgw_metric *msgw_metrics_histogram(msgw_metrics *m, const char *name, const char *help,
                                    const double *bounds, size_t nbuckets, ...)
{
    va_list ap;
    va_start(ap, nbuckets);
    msgw_metric *f = reg(m, HISTOGRAM, name, help, bounds, nbuckets, ap);
    va_end(ap);
    return f;
}

static series *series_of(msgw_metric *f, va_list ap)
{
    const char *v[MSGW_METRICS_MAX_LABELS];
    for (size_t i = 0; i < f->nlabels; i++) {
        v[i] = va_arg(ap, const char *);
        if (!v[i]) v[i] = "";
    }
    return find(f, v);
}

void msgw_metrics_inc(msgw_metric *f, double value, ...)
{
    if (!f) return;
    va_list ap;
    va_start(ap, value);
    series *s = series_of(f, ap);
    va_end(ap);
    if (s) add_double(&s->value, value, false);
}

void msgw_metrics_set(msgw_metric *f, double value, ...)
{
    if (!f) return;
    va_list ap;
    va_start(ap, value);
    series *s = series_of(f, ap);
    va_end(ap);
    if (!s) return;
    add_double(&s->value, value, true);
    atomic_store_explicit(&s->hidden, false, memory_order_release);
}

void msgw_metrics_clear(msgw_metric *f)
{
    for (size_t i = 0; f && i < SLOTS; i++) {
        series *s = atomic_load_explicit(&f->slot[i], memory_order_acquire);
        if (s) atomic_store_explicit(&s->hidden, true, memory_order_release);
    }
}

void msgw_metrics_observe(msgw_metric *f, double seconds, ...)
{
    if (!f || f->kind != HISTOGRAM) return;
    va_list ap;
    va_start(ap, seconds);
    series *s = series_of(f, ap);
    va_end(ap);
    if (!s) return;
    size_t b = 0;
    while (b < f->nbuckets && seconds > f->bounds[b])
        b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    add_double(&s->value, seconds, false);
}

/* ---- the text exposition format 0.0.4 ---- */

static void put_number(msgw_buf *out, double v)
{
    if (isnan(v))
        msgw_buf_puts(out, "NaN");
    else if (isinf(v))
        msgw_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else {
        char s[40];
        snprintf(s, sizeof s, "%.15g", v);
        if (strtod(s, NULL) != v) snprintf(s, sizeof s, "%.17g", v);
        msgw_buf_puts(out, s);
    }
}

/* HELP text escapes backslash and line feed; label values also the double quote. */
static void put_escaped(msgw_buf *out, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            msgw_buf_puts(out, "\\\\");
        else if (*s == '\n')
            msgw_buf_puts(out, "\\n");
        else if (*s == '"' && quote)
            msgw_buf_puts(out, "\\\"");
        else
            msgw_buf_append(out, s, 1);
    }
}

/* name{a="x",b="y"[,le="..."]} — the braces omitted when there is nothing in them. */
static void put_labels(msgw_buf *out, const msgw_metric *f, const series *s, const char *le)
{
    if (!f->nlabels && !le) return;
    msgw_buf_puts(out, "{");
    for (size_t i = 0; i < f->nlabels; i++) {
        msgw_buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_escaped(out, s->values[i], true);
        msgw_buf_puts(out, "\"");
    }
    if (le) msgw_buf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    msgw_buf_puts(out, "}");
}

static int by_values(const series *x, const series *y, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c) return c;
    }
    return 0;
}

static void write_family(msgw_buf *out, msgw_metric *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    msgw_buf_printf(out, "# HELP %s ", f->name);
    put_escaped(out, f->help, false);
    msgw_buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->kind]);
    series *v[SLOTS];
    size_t n = 0;
    for (size_t i = 0; i < SLOTS; i++) {
        series *s = atomic_load_explicit(&f->slot[i], memory_order_acquire);
        if (s && !atomic_load_explicit(&s->hidden, memory_order_acquire)) v[n++] = s;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: a family has few series */
        for (size_t j = i; j > 0 && by_values(v[j - 1], v[j], f->nlabels) > 0; j--) {
            series *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        const series *s = v[i];
        if (f->kind != HISTOGRAM) {
            msgw_buf_puts(out, f->name);
            put_labels(out, f, s, NULL);
            msgw_buf_puts(out, " ");
            put_number(out, load_double((_Atomic uint64_t *)&s->value));
            msgw_buf_puts(out, "\n");
            continue;
        }
        uint64_t cum = 0;
        for (size_t b = 0; b <= f->nbuckets; b++) {
            cum += atomic_load_explicit((_Atomic uint64_t *)&s->buckets[b], memory_order_relaxed);
            char le[40];
            if (b == f->nbuckets)
                snprintf(le, sizeof le, "+Inf");
            else {
                msgw_buf tmp;
                msgw_buf_init(&tmp);
                put_number(&tmp, f->bounds[b]);
                snprintf(le, sizeof le, "%s", tmp.data);
                msgw_buf_free(&tmp);
            }
            msgw_buf_printf(out, "%s_bucket", f->name);
            put_labels(out, f, s, le);
            msgw_buf_printf(out, " %llu\n", (unsigned long long)cum);
        }
        msgw_buf_printf(out, "%s_sum", f->name);
        put_labels(out, f, s, NULL);
        msgw_buf_puts(out, " ");
        put_number(out, load_double((_Atomic uint64_t *)&s->value));
        msgw_buf_printf(out, "\n%s_count", f->name);
        put_labels(out, f, s, NULL);
        msgw_buf_printf(out, " %llu\n", (unsigned long long)cum);
    }
}

msgw_metric *msgw_metrics_find(msgw_metrics *m, const char *name)
{
    if (!m) return NULL;
    pthread_mutex_lock(&m->lock);
    msgw_metric *f = m->head;
    while (f && strcmp(f->name, name) != 0) f = f->next;
    pthread_mutex_unlock(&m->lock);
    return f;
}

void msgw_metrics_each(msgw_metric *f, void (*cb)(void *ud, const char *const *labels, double value), void *ud)
{
    for (size_t i = 0; f && i < SLOTS; i++) {
        series *s = atomic_load_explicit(&f->slot[i], memory_order_acquire);
        if (s && !atomic_load_explicit(&s->hidden, memory_order_acquire))
            cb(ud, (const char *const *)s->values, load_double(&s->value));
    }
}

void msgw_metrics_write(msgw_metrics *m, msgw_buf *out)
{
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    for (msgw_metric *f = m->head; f; f = f->next)
        write_family(out, f);
    pthread_mutex_unlock(&m->lock);
}

msgw_metric *msgw_metrics_failures(msgw_metrics *m)
{
    return msgw_metrics_counter(m, "msgw_failures_total",
                                "Failures of the durable parts, by component (store, audit, fsync): each is logged too.",
                                "component", NULL);
}
