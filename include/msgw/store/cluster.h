/*
 * Several gateway instances over one store (docs/cluster.md): what a store
 * that can be shared offers them, beyond msgw/store/store.h.  PostgreSQL
 * offers it; SQLite, one process's file, does not (msgw_store_clustered).
 *
 * Every instance stores what is pushed to it.  One at a time evaluates: the
 * holder of the lease MSGW_LEASE_EVALUATOR, taken for a period and renewed
 * before it ends, on the server's clock.  Its commits are fenced: they check
 * inside their transaction that the lease is still theirs at the epoch they
 * took, so an instance that lost it (paused, cut off) cannot commit what it
 * evaluated after another took over.  The records it did not store itself
 * it finds with msgw_store_unevaluated and evaluates in its next commit
 * (msgw_store_item.stored_seq).  Every evaluation takes its place in one
 * order (msgw_store_item.evaluated), which the other instances follow
 * (msgw_store_evaluated_after) so that each holds the engine's state, ready
 * to take the lease over.
 */
#ifndef MSGW_STORE_CLUSTER_H
#define MSGW_STORE_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "msgw/base/arena.h"
#include "msgw/store/store.h"

#define MSGW_LEASE_EVALUATOR "evaluator"

/* True when the store can be shared by several instances. */
bool msgw_store_clustered(const msgw_store *s);

/* An instance as it last said (msgw_store_heartbeat). */
typedef struct msgw_instance_row {
    const char *name, *host, *role;
    int pid;
    msgw_time started_at, heartbeat_at;
    int64_t evaluated_through; /* how far its engine has followed the order of evaluation */
    bool stopped;              /* it stopped cleanly */
} msgw_instance_row;

/* A lease as the store holds it. */
typedef struct msgw_lease_row {
    const char *name, *holder; /* holder NULL: never taken */
    int64_t epoch;
    msgw_time expires_at, acquired_at;
} msgw_lease_row;

typedef struct msgw_cluster_view {
    msgw_instance_row *instances;
    size_t ninstances;
    msgw_lease_row *leases;
    size_t nleases;
    msgw_time now; /* the server's clock when read */
} msgw_cluster_view;

/*
 * Takes lease name for holder, or keeps it, until period_us from now on the server's clock:
 * 1 when holder has it (*epoch: the epoch, the same while holder keeps it, greater each time it
 * changes hands), 0 when another holds it and it has not expired, -1 on error.
 */
int msgw_store_lease(msgw_store *s, const char *name, const char *holder, int64_t period_us,
                     int64_t *epoch, msgw_errors *e);
/* Gives lease name up at once if holder has it (a clean stop: another takes it over without
 * waiting for it to expire). */
bool msgw_store_lease_release(msgw_store *s, const char *name, const char *holder, msgw_errors *e);
/* From now on every commit on this connection first checks that holder has lease name at epoch,
 * and fails with store.fenced, writing nothing, when it has not; name NULL: no check. */
void msgw_store_fence(msgw_store *s, const char *name, const char *holder, int64_t epoch);
/* This instance's row, written with the server's time as its heartbeat. */
bool msgw_store_heartbeat(msgw_store *s, const msgw_instance_row *me, msgw_errors *e);
/* Every instance and lease (strings in a). */
bool msgw_store_cluster_view(msgw_store *s, msgw_arena *a, msgw_cluster_view *out, msgw_errors *e);
/* Records stored and not yet evaluated, oldest first, at most max: cb(ud, seq, canonical,
 * recorded_at, sender) for each; cb returns false to stop. */
bool msgw_store_unevaluated(msgw_store *s, size_t max,
                            bool (*cb)(void *ud, int64_t seq, const char *canonical,
                                       msgw_time recorded_at, const char *sender),
                            void *ud, msgw_errors *e);
/* Records evaluated after place `after` in the order of evaluation, in that order, at most max:
 * cb(ud, place, canonical, evaluated_at). */
bool msgw_store_evaluated_after(msgw_store *s, int64_t after, size_t max,
                                bool (*cb)(void *ud, int64_t place, const char *canonical,
                                           msgw_time evaluated_at),
                                void *ud, msgw_errors *e);

#endif
