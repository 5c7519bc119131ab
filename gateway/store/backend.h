/*
 * What a store backend implements, private to the store layer: two tables of
 * functions.  msgw_store_ops is the write path the pipeline and the
 * deliverers run on (msgw/store/store.h); msgw_store_query_ops answers the
 * administrators and the trace (msgw/store/query.h) with typed rows, never
 * JSON: presentation is not a backend's business.  The front
 * (gateway/store/store.c, query.c) checks arguments, composes, and forwards,
 * so what is common to every backend is written once.  Each backend
 * registers one msgw_store_backend in store.c's table (docs/store.md,
 * "Adding a backend"); tests/unit/test_store_conformance.c is what it must
 * pass.
 */
#ifndef MSGW_STORE_BACKEND_H
#define MSGW_STORE_BACKEND_H

#include "msgw/store/cluster.h"
#include "msgw/store/query.h"
#include "msgw/store/store.h"

/* The write path.  impl is what open returned; one connection, used by one thread at a time. */
typedef struct msgw_store_ops {
    /* location: the address without its scheme; flags: 0 or MSGW_STORE_DELIVERY, and
     * MSGW_STORE_AS_IS.  Without MSGW_STORE_AS_IS it applies the pending schema steps (migrate)
     * and is ready for every operation; with it, only schema_version and migrate are used. */
    void *(*open)(const char *location, unsigned flags, msgw_errors *e);
    void (*close)(void *impl);
    /* all of a batch in one durable transaction: records, facts, outbox, verdicts, transitions,
     * envelopes; a known message id is a duplicate (its outcome filled, nothing written) */
    bool (*commit)(void *impl, msgw_store_item *items, size_t n, msgw_time now, msgw_errors *e);
    /* 1 known (seq and recorded_at filled when not NULL), 0 not, -1 error */
    int (*known)(void *impl, const char *message_id, int64_t *seq, msgw_time *recorded_at,
                 msgw_errors *e);
    /* what is due to n recipients, each up to max[i], one per (recipient, person), oldest first;
     * recipients NULL: to anyone, up to max[0] in all (n is 1).  out is empty on entry. */
    bool (*due)(void *impl, const char *const *recipients, const size_t *max, size_t n,
                msgw_time now, msgw_store_deliveries *out, msgw_errors *e);
    /* n outcomes in one transaction, each's applied filled (n > 0) */
    bool (*settle)(void *impl, msgw_settlement *v, size_t n, msgw_time now, msgw_errors *e);
    bool (*each_record)(void *impl,
                        bool (*cb)(void *ud, int64_t seq, const char *canonical,
                                   msgw_time recorded_at),
                        void *ud, msgw_errors *e);
    bool (*each_verdict)(void *impl, const char *person,
                         bool (*cb)(void *ud, const msgw_store_verdict *v), void *ud,
                         msgw_errors *e);
    /* true and *value filled when key is set; false without an error when it is not */
    bool (*meta_get)(void *impl, const char *key, int64_t *value, msgw_errors *e);
    bool (*meta_set)(void *impl, const char *key, int64_t value, msgw_errors *e);
    /* *removed is 0 on entry */
    bool (*prune)(void *impl, const msgw_store_retention *r, int64_t *removed, msgw_errors *e);
    bool (*prune_records)(void *impl, msgw_time before,
                          bool (*live)(void *ud, const char *message_id), void *ud,
                          int64_t *removed, msgw_errors *e);
    /* the schema version applied (0: an empty store), -1 on error */
    int (*schema_version)(void *impl, msgw_errors *e);
    /* applies the pending schema steps, refusing a newer schema (store.schema_newer); the
     * versions found and left in *before and *after (schema.h: store_schema_migrate) */
    bool (*migrate)(void *impl, int *before, int *after, msgw_errors *e);
} msgw_store_ops;

/* The query side.  Rows are allocated in a; outputs are zeroed on entry. */
typedef struct msgw_store_query_ops {
    /* *out stays NULL when no record has message_id */
    bool (*trace)(void *impl, const char *message_id, msgw_arena *a, msgw_trace **out,
                  msgw_errors *e);
    /* the latest max records that wrote facts about person, newest first */
    bool (*person_records)(void *impl, const char *person, size_t max, msgw_arena *a,
                           msgw_record_rows *out, msgw_errors *e);
    /* msgw_store_disclosures */
    bool (*disclosures)(void *impl, const char *person, size_t max, msgw_arena *a, msgw_disclosure_rows *out,
                        msgw_errors *e);
    /* f->max is not 0 and empty filters are NULL */
    bool (*transitions)(void *impl, const msgw_transition_filter *f, msgw_arena *a,
                        msgw_transition_rows *out, msgw_errors *e);
    bool (*dead_letters)(void *impl, size_t max, msgw_arena *a, msgw_outbox_rows *out,
                         msgw_errors *e);
    int (*replay)(void *impl, int64_t id, size_t limit, msgw_time now, msgw_errors *e);
    bool (*queues)(void *impl, msgw_arena *a, msgw_queue_rows *out, msgw_errors *e);
    bool (*stats)(void *impl, const char *department, msgw_store_stats *out, msgw_errors *e);
    bool (*size)(void *impl, int64_t *bytes, msgw_errors *e);
} msgw_store_query_ops;

/* Several instances over one store (msgw/store/cluster.h); NULL for a backend one process owns. */
typedef struct msgw_store_cluster_ops {
    int (*lease)(void *impl, const char *name, const char *holder, int64_t period_us, int64_t *epoch,
                 msgw_errors *e);
    bool (*lease_release)(void *impl, const char *name, const char *holder, msgw_errors *e);
    void (*fence)(void *impl, const char *name, const char *holder, int64_t epoch);
    bool (*heartbeat)(void *impl, const msgw_instance_row *me, msgw_errors *e);
    bool (*view)(void *impl, msgw_arena *a, msgw_cluster_view *out, msgw_errors *e);
    bool (*unevaluated)(void *impl, size_t max,
                        bool (*cb)(void *ud, int64_t seq, const char *canonical, msgw_time recorded_at,
                                   const char *sender),
                        void *ud, msgw_errors *e);
    bool (*evaluated_after)(void *impl, int64_t after, size_t max,
                            bool (*cb)(void *ud, int64_t place, const char *canonical, msgw_time evaluated_at),
                            void *ud, msgw_errors *e);
} msgw_store_cluster_ops;

typedef struct msgw_store_backend {
    const char *name;  /* also the scheme of its addresses: "sqlite" for "sqlite:PATH", and the
                        * folder of its schema steps (migrations/NAME/) */
    const char *alias; /* another scheme it answers to ("postgres"), or NULL */
    const msgw_store_ops *ops;
    const msgw_store_query_ops *query;
    const msgw_store_cluster_ops *cluster; /* NULL: one instance only */
} msgw_store_backend;

/* What the backends share: a fact's attributes as the JSON object they have in the canonical
 * form (malloc'd), stored with the fact. */
char *msgw_store_fact_attributes(const msgw_fact *f);

/* How a settlement is written, the same in every backend. */
typedef struct msgw_settle_write {
    const char *state; /* "delivered" or "dead": settled for good; NULL: stays pending, due again
                        * at the settlement's next_at */
    int attempts;      /* to add */
    const char *error; /* to keep; NULL: the previous one stays */
} msgw_settle_write;
/* Which message settlement x names and how it is written, the same in every backend: its id (by
 * (recipient, event id) through find when x->id is 0), with *w filled; 0 when there is nothing to
 * write (no such message, an outcome this build does not know), -1 on find's error.  x->applied
 * is set false: the backend sets it once the write has changed the message. */
int64_t msgw_store_settle_plan(void *impl, msgw_settlement *x,
                               int64_t (*find)(void *impl, const char *recipient,
                                               const char *event_id, msgw_errors *e),
                               msgw_settle_write *w, msgw_errors *e);

/* The row of recipient who in out (*cap rows allocated in a), added when it has none yet: how a
 * backend's queues answer gathers its pending and dead counts. */
msgw_queue_row *msgw_store_queue_of(msgw_arena *a, msgw_queue_rows *out, size_t *cap,
                                    const char *who);

/* An open store: its backend and the backend's connection. */
struct msgw_store {
    const msgw_store_backend *b;
    void *impl;
};

#endif
