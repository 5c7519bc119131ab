/*
 * The engine's host: the eligibility engine, the catalogue it runs, and the
 * lock that lets the event loop read a person's verdicts while the commit
 * worker applies records.  The engine is rebuilt from the store (the durable
 * truth: every record replayed on the day it arrived), swept day by day,
 * and reconfigured on SIGHUP — new parameter values applied as parameter
 * changes, new rules by a rebuild.  Transitions that no record caused (a
 * sweep, a parameter value) are handed to a committer: routed and committed
 * like a record's, or undone when the commit fails.
 */
#ifndef MSGW_PIPELINE_ENGINE_HOST_H
#define MSGW_PIPELINE_ENGINE_HOST_H

#include <pthread.h>

#include "msgw/base/metrics.h"
#include "msgw/engine/eligibility.h"
#include "msgw/net/config.h"
#include "msgw/pipeline/ingest.h"
#include "msgw/store/store.h"

typedef struct engine_host {
    const msgw_config *cfg; /* the region served */
    const msgw_adapter_ctx *ctx;
    msgw_store *store;
    const msgw_catalogue *cat;
    msgw_elig *elig;
    pthread_mutex_t lock; /* the engine, cat, and the store connection are used under it */
    /* Groups in flight: evaluated by the commit worker, not yet finished by its store stage,
     * which commits them on the store connection without the lock.  Whoever else needs the store
     * connection or changes the engine wholesale quiesces them first (engine_host_exclusive). */
    pthread_cond_t settled; /* broadcast when inflight or quiescing drops */
    size_t inflight;
    unsigned quiescing; /* callers waiting for inflight to reach 0: no group begins meanwhile */
    msgw_date swept;    /* the state is current up to this day (the daily sweep) */
    bool clock_behind;  /* the clock reads a day before swept (logged when it starts and ends) */
    size_t rebuilds;      /* full replays of the store, */
    msgw_metric *m_rebuilds; /* counted in msgw_engine_rebuilds_total once registered */
    msgw_store *lookup;      /* the engine's own connection, asked about replays; NULL: none */
    /* several instances over one store (docs/cluster.md) */
    bool evaluating;           /* this instance evaluates (or is alone on a store one process owns) */
    int64_t evaluated_through; /* the engine's place in the order of evaluation */
    msgw_metric *m_lookups;  /* msgw_engine_replay_lookups_total */
    msgw_metric *m_compactions; /* msgw_engine_compactions_total */
} engine_host;

/* Commits transitions no record caused; false (with e) leaves them uncommitted. */
typedef bool (*engine_commit_fn)(void *ud, msgw_transitions *tr, msgw_errors *e);

/* The lock, with no group in flight and none beginning until engine_host_release: for the
 * sweep, reconfiguration, retention, re-evaluation, rebuilds — everything but the pipeline's
 * groups and plain reads of the engine, which take the lock alone. */
void engine_host_exclusive(engine_host *h);
void engine_host_release(engine_host *h);
/* The pipeline's side (lock held): wait for room for a group (at most MSGW_ELIG_SAVEPOINTS in
 * flight, none while another caller is exclusive) and count it in; count it out when it is
 * finished. */
void engine_host_group_begin(engine_host *h);
void engine_host_group_end(engine_host *h);
/* Rebuilds the engine from the store before returning (NULL with e when the store cannot be read). */
engine_host *engine_host_new(const msgw_config *cfg, const msgw_adapter_ctx *ctx, msgw_store *store,
                             const msgw_catalogue *cat, msgw_errors *e);
void engine_host_destroy(engine_host **h);
/* The engine from the store's records (lock held). */
bool engine_host_rebuild(engine_host *h, msgw_errors *e);
/* The daily sweep of every day since the last (a gateway that was down catches up), each day's
 * transitions committed by commit, or undone and retried at the next call when that fails.
 * Returns the number of days swept: none while the clock reads the last day swept or one before
 * it (set back: a day is never swept twice). */
int engine_host_sweep_to_today(engine_host *h, engine_commit_fn commit, void *ud);
/* The day records are evaluated on: today by the wall clock, but never a day before the last one
 * swept — the gateway's calendar does not go back when the clock is set back (lock held). */
msgw_date engine_host_today(const engine_host *h);
/* msgw_ingest_reconfigure, exclusive for its duration. */
msgw_reload engine_host_reconfigure(engine_host *h, const msgw_config *cfg, msgw_catalogue *cur,
                                    const msgw_catalogue *newer, engine_commit_fn commit, void *ud, msgw_errors *e);
/* Applies, silently, what another instance evaluated after the engine's place (its own connection,
 * lookup), at most max records; the number applied, -1 on error (e).  Lock held, no group in
 * flight that the engine evaluates. */
long engine_host_follow(engine_host *h, size_t max, msgw_errors *e);
/* A follower's engine through the days the evaluator has swept (the store's "swept"), silently:
 * its state is the evaluator's, and a takeover sweeps with notices only the days the evaluator had
 * not.  Lock held. */
void engine_host_follow_calendar(engine_host *h, msgw_errors *e);
/* Replays told by the store from now on, through lookup (its own connection, borrowed; the
 * engine's exact set of applied ids then holds only those of the groups in flight). */
void engine_host_set_lookup(engine_host *h, msgw_store *lookup);
/* Compacts the engine when it is due (msgw_elig_compaction_due), once the groups in flight are
 * committed: the pipeline's pause is the copy of what the state holds (lock not held). */
void engine_host_compact_if_due(engine_host *h);
/* Counts the rebuilds so far and every later one in m's msgw_engine_rebuilds_total. */
void engine_host_set_metrics(engine_host *h, msgw_metrics *m);
json_t *engine_host_person_json(engine_host *h, const char *person, msgw_date date);

#endif
