/*
 * This instance's membership of a cluster (docs/cluster.md): several
 * gateway instances over one shared store.  A thread of its own, on a store
 * connection of its own, takes or renews the evaluator lease every third of
 * its period and writes the instance's row (its heartbeat: role, how far its
 * engine has followed); the commit worker reads whether it should evaluate
 * and at which epoch.  Private to the pipeline.
 */
#ifndef MSGW_PIPELINE_MEMBERSHIP_H
#define MSGW_PIPELINE_MEMBERSHIP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "msgw/base/metrics.h"
#include "msgw/net/config.h"
#include "msgw/store/audit.h"

typedef struct membership membership;

/* Opens its store connection (store_address must be a shared store); NULL with e otherwise.  The
 * lease taken or lost is appended to audit (borrowed; may be NULL) as an "admin" entry
 * (cluster.lease_taken with its epoch, cluster.lease_lost). */
membership *membership_new(const msgw_config *cfg, const char *store_address, msgw_audit *audit, msgw_errors *e);
bool membership_start(membership *m, msgw_errors *e);
/* Stops the thread, gives the lease up if held (another instance takes over at once) and marks
 * the instance's row stopped. */
void membership_destroy(membership **m);
const char *membership_name(const membership *m);
/* True when this instance holds the evaluator lease, as of its last renewal within the period;
 * *epoch: the lease's epoch then. */
bool membership_leading(membership *m, int64_t *epoch);
/* What the heartbeat reports: the engine's place in the order of evaluation, and whether it
 * evaluates now. */
void membership_progress(membership *m, int64_t evaluated_through, bool evaluating);
/* NULL while the last renewal reached the store, else what is wrong (/readyz). */
const char *membership_problem(membership *m);
/* A commit found the lease gone (store.fenced): not leading until the next renewal says so. */
void membership_lost(membership *m);
/* Every instance and lease as last read, with which this is: {"instance", "instances": [...],
 * "leases": [...]}; the caller decrefs it. */
json_t *membership_json(membership *m);
/* msgw_cluster_* gauges (docs/metrics.md), refreshed at each renewal. */
void membership_set_metrics(membership *m, msgw_metrics *metrics);

#endif
