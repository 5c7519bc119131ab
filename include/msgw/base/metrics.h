/*
 * Prometheus metrics (docs/metrics.md): a registry of metric families —
 * counters, gauges and histograms with fixed buckets — each with a small
 * fixed set of label names.  A family's series (one per combination of
 * label values) are created on first use under the family's mutex; updating
 * an existing series is lock-free (C11 atomics), so the ingest worker, the
 * deliverers and the event loop share one registry.  msgw_metrics_write
 * renders the text exposition format 0.0.4 for GET /metrics.
 *
 * Every update function accepts a NULL family and does nothing: a module
 * given no registry (NULL) keeps NULL families and needs no other test.
 */
#ifndef MSGW_METRICS_H
#define MSGW_METRICS_H

#include <stddef.h>

#include "msgw/base/buf.h"

#define MSGW_METRICS_MAX_LABELS 3

typedef struct msgw_metrics msgw_metrics;
typedef struct msgw_metric msgw_metric; /* one family */

msgw_metrics *msgw_metrics_new(void);
void msgw_metrics_destroy(msgw_metrics **m);

/*
 * Registers a family (or returns the one already registered under name, so
 * a module re-created on SIGHUP finds its counters again).  The label names
 * follow help, at most MSGW_METRICS_MAX_LABELS, ended by NULL.  NULL when m
 * is NULL.
 */
msgw_metric *msgw_metrics_counter(msgw_metrics *m, const char *name, const char *help, ...)
    __attribute__((sentinel));
msgw_metric *msgw_metrics_gauge(msgw_metrics *m, const char *name, const char *help, ...)
    __attribute__((sentinel));
/* Upper bounds (seconds), ascending, +Inf implied; nbuckets <= 32. */
msgw_metric *msgw_metrics_histogram(msgw_metrics *m, const char *name, const char *help,
                                    const double *bounds, size_t nbuckets, ...)
    __attribute__((sentinel));

/* The label values follow value: exactly as many as the family has label names. */
void msgw_metrics_inc(msgw_metric *f, double value, ...);
void msgw_metrics_set(msgw_metric *f, double value, ...);
void msgw_metrics_observe(msgw_metric *f, double seconds, ...);
/* Every series of a gauge family is left out of the exposition (and of msgw_metrics_each) until it
 * is set again: a family set whole at each scrape (the certificates of the configuration in use)
 * loses the series of what a reload removed. */
void msgw_metrics_clear(msgw_metric *f);

/* The family registered under name, or NULL. */
msgw_metric *msgw_metrics_find(msgw_metrics *m, const char *name);
/* msgw_failures_total{component}: failures of the durable parts (store, audit, fsync), each also
 * logged; registered by whoever counts one first. */
msgw_metric *msgw_metrics_failures(msgw_metrics *m);
/* Calls cb with each series' label values and value (a histogram's: its sum; a cleared gauge's
 * series not), in no particular order; safe while other threads update (a series created meanwhile
 * may be missed). */
void msgw_metrics_each(msgw_metric *f, void (*cb)(void *ud, const char *const *labels, double value), void *ud);

/* Appends every family, in registration order, its series sorted by label values. */
void msgw_metrics_write(msgw_metrics *m, msgw_buf *out);

/* Latency buckets in seconds, 1 ms to 5 min, shared by the gateway's histograms. */
extern const double msgw_metrics_latency_buckets[];
extern const size_t msgw_metrics_latency_nbuckets;

#endif
