/*
 * Administrators' operations: a re-evaluation of everyone (for one service
 * or all) and a retention run, queued like requests so that they never
 * overtake the pushes already accepted.  A re-evaluation runs in steps of
 * 2,000 persons, each step queued again behind the pushes that arrived
 * meanwhile; the latest 16 operations' progress can be read at any time.
 * Retention also runs once a day.
 */
#ifndef MSGW_PIPELINE_OPERATIONS_H
#define MSGW_PIPELINE_OPERATIONS_H

#include <jansson.h>

#include "engine_host.h"
#include "msgw/store/audit.h"
#include "receive_queue.h"

typedef struct operations operations;

operations *operations_new(receive_queue *q, engine_host *host, msgw_audit *audit);
void operations_destroy(operations **o);
/* Queues an operation ("reevaluate" for one service or all, "retention"); returns its id. */
int operations_start(operations *o, const char *kind, const char *service);
/* Runs the job's operation (the worker): a re-evaluation step, its transitions committed by commit,
 * or the retention run.  True when it must be queued again (a re-evaluation not finished). */
bool operations_run(operations *o, job *j, engine_commit_fn commit, void *ud);
/* The job's operation refused, for reason (a static string): an instance that does not evaluate
 * leaves them to the one that does (docs/cluster.md). */
void operations_refuse(operations *o, job *j, const char *reason);
/* Retention (docs/store.md): delivered messages, old dead letters, the transition log, records no
 * longer needed, audit segments.  Returns how many rows went. */
int64_t operations_retention(operations *o, msgw_errors *e);
/* msgw_ingest_operation's JSON, or NULL for an id no longer kept. */
json_t *operations_json(operations *o, int id);

#endif
