/*
 * The commit worker: takes groups of queued requests, applies their records
 * to the engine, routes what they cause (records to subscribers, notices to
 * the departments, envelopes to peers), and commits it all in one
 * transaction — records, facts, verdicts and outbox together, one fsync for
 * the group — before any sender is answered.  Two threads, two stages: the
 * worker thread evaluates and routes the next group while the store thread
 * commits the one before.  A group whose commit fails is undone in the
 * engine (a savepoint) and answered 503, and so is the group evaluated after
 * it.  Once committed, a group is published on the monitoring feed, audited,
 * counted, and the deliverers are woken.  Between groups the worker thread
 * sweeps each new day and runs administrators' operations, with no group in
 * flight (engine_host_exclusive).
 */
#ifndef MSGW_PIPELINE_COMMIT_WORKER_H
#define MSGW_PIPELINE_COMMIT_WORKER_H

#include <stdatomic.h>

#include "engine_host.h"
#include "membership.h"
#include "msgw/base/metrics.h"
#include "msgw/pipeline/doorbell.h"
#include "msgw/pipeline/feed.h"
#include "msgw/pipeline/peer.h"
#include "msgw/store/audit.h"
#include "operations.h"
#include "receive_queue.h"

typedef struct commit_worker commit_worker;

commit_worker *commit_worker_new(receive_queue *q, engine_host *host, operations *ops, const msgw_adapter_ctx *ctx,
                                 msgw_feed *feed, msgw_doorbell *bell, msgw_audit *audit);
/* Several instances over one store (docs/cluster.md): the membership (borrowed) whose evaluator
 * lease says whether this instance evaluates or stores and follows; before commit_worker_start. */
void commit_worker_set_membership(commit_worker *w, membership *m);
/* Starts the thread (it first catches up with the days since the last sweep). */
bool commit_worker_start(commit_worker *w, msgw_errors *e);
/* Commits what is queued, then stops the thread (the queue must have been told to stop). */
void commit_worker_destroy(commit_worker **w);
/* The sealer for envelopes to peer gateways (borrowed), replaced on SIGHUP: under the host's lock. */
void commit_worker_set_peers(commit_worker *w, const msgw_peers *peers);
void commit_worker_set_metrics(commit_worker *w, msgw_metrics *m);
/* Route and commit transitions no record caused (engine_commit_fn; the host's lock held by the
 * caller; ud: the worker): on the worker thread, also published on the feed; from the loop (a
 * reload's parameter values), not. */
bool commit_worker_commit_unprompted(void *w, msgw_transitions *tr, msgw_errors *e);
bool commit_worker_commit_from_loop(void *w, msgw_transitions *tr, msgw_errors *e);
/* NULL while commits succeed, else what is wrong with the store (/readyz). */
const char *commit_worker_store_problem(const commit_worker *w);

#endif
