/* Administrators' operations (operations.h): re-evaluation steps, retention runs, their progress. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/idmap.h"
#include "operations.h"

enum { REEVALUATE_STEP = 2000, MAX_OPERATIONS = 16 };

/* A long operation an administrator started, and how far it got. */
typedef struct operation {
    int id;            /* 0: a free slot */
    const char *kind;  /* "reevaluate", "retention" */
    char service[64];  /* empty: every service */
    const char *state; /* "queued", "running", "done", "failed", "interrupted", "refused" */
    const char *reason; /* why it was refused */
    size_t done, total, transitions;
    msgw_time started, finished;
} operation;

struct operations {
    receive_queue *queue;
    engine_host *host;
    msgw_audit *audit;
    pthread_mutex_t lock; /* the table: the loop reads it while the worker updates it */
    operation ops[MAX_OPERATIONS];
    int last;
};

/* The operation with this id (under lock), or NULL when it has been forgotten. */
static operation *operation_of(operations *o, int id)
{
    operation *op = &o->ops[id % MAX_OPERATIONS];
    return op->id == id ? op : NULL;
}

static void operation_finished(void *ud, int status, const char *answer, size_t len)
{
    (void)ud;
    (void)status;
    (void)answer;
    (void)len; /* progress and outcome are read with msgw_ingest_operation */
}

int operations_start(operations *o, const char *kind, const char *service)
{
    job *j = calloc(1, sizeof *j);
    if (!j) abort();
    snprintf(j->dept, sizeof j->dept, "(administrator)");
    j->done = operation_finished;
    msgw_buf_init(&j->answer);
    pthread_mutex_lock(&o->lock);
    int id = ++o->last;
    j->operation = id;
    j->retention = strcmp(kind, "retention") == 0;
    operation *op = &o->ops[id % MAX_OPERATIONS];
    *op = (operation){.id = id, .kind = j->retention ? "retention" : "reevaluate", .state = "queued"};
    snprintf(op->service, sizeof op->service, "%s", service ? service : "");
    pthread_mutex_unlock(&o->lock);
    receive_queue_push(o->queue, j);
    return id;
}

static void note_live(void *ud, const char *message_id)
{
    msgw_idmap_put(ud, message_id, 1);
}

static bool is_live(void *ud, const char *message_id)
{
    return msgw_idmap_get(ud, message_id) >= 0;
}

/*
 * Records past retention.records_days that the eligibility state no longer
 * needs are forgotten; the engine is then rebuilt from what remains, so its
 * memory is bounded by the state, not the history.  Returns how many.
 */
static int64_t prune_records(engine_host *h, msgw_time before, msgw_errors *e)
{
    msgw_idmap *live = msgw_idmap_new();
    msgw_elig_each_live_record(h->elig, engine_host_today(h), note_live, live);
    int64_t removed = 0;
    bool ok = msgw_store_prune_records(h->store, before, is_live, live, &removed, e);
    msgw_idmap_destroy(&live);
    if (ok && removed) engine_host_rebuild(h, e);
    return removed;
}

int64_t operations_retention(operations *o, msgw_errors *e)
{
    const msgw_time day = 86400LL * 1000000, now = msgw_time_now();
    engine_host *h = o->host;
    size_t audit_removed = 0;
    if (o->audit) msgw_audit_prune_expired(o->audit, &audit_removed, e);
    int64_t removed = 0;
    engine_host_exclusive(h); /* the store connection is the worker's */
    const msgw_config *c = h->cfg;
    msgw_store_retention r = {
        .delivered_before = now - (msgw_time)c->retention_delivered_days * day,
        .dead_before = c->retention_dead_days ? now - (msgw_time)c->retention_dead_days * day : 0,
        .transitions_before = c->retention_transitions_days ? now - (msgw_time)c->retention_transitions_days * day : 0};
    msgw_store_prune(h->store, &r, &removed, e);
    removed += prune_records(h, now - (msgw_time)c->retention_records_days * day, e);
    engine_host_release(h);
    return removed;
}

/*
 * One step of a re-evaluation: the next REEVALUATE_STEP persons on today's
 * date, their transitions committed like the sweep's (undone when that
 * fails).  Returns true when it is finished.
 */
static bool reevaluate_step(operations *o, job *j, engine_commit_fn commit, void *ud)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_transitions tr;
    msgw_transitions_init(&tr);
    pthread_mutex_lock(&o->lock);
    operation *op = operation_of(o, j->operation);
    char service[64];
    snprintf(service, sizeof service, "%s", op ? op->service : "");
    if (op && !op->started) op->started = msgw_time_now();
    if (op) op->state = "running";
    pthread_mutex_unlock(&o->lock);
    bool stopping = receive_queue_stopping(o->queue), ok = true;
    size_t total = 0;
    engine_host *h = o->host;
    if (!stopping) {
        engine_host_exclusive(h);
        total = msgw_elig_count_persons(h->elig);
        size_t to = j->reevaluated + REEVALUATE_STEP < total ? j->reevaluated + REEVALUATE_STEP : total;
        msgw_elig_begin(h->elig);
        msgw_elig_reevaluate_range(h->elig, engine_host_today(h), service[0] ? service : NULL,
                                   j->reevaluated, to, &tr, &e);
        ok = commit(ud, &tr, &e);
        if (ok) msgw_elig_release(h->elig);
        else msgw_elig_rollback(h->elig); /* the store is the truth */
        engine_host_release(h);
        j->reevaluated = to;
    }
    bool finished = stopping || !ok || j->reevaluated >= total;
    pthread_mutex_lock(&o->lock);
    if ((op = operation_of(o, j->operation))) {
        op->done = j->reevaluated;
        op->total = total;
        op->transitions += tr.n;
        op->state = stopping ? "interrupted" : !ok ? "failed" : finished ? "done" : "running";
        if (finished) op->finished = msgw_time_now();
    }
    pthread_mutex_unlock(&o->lock);
    msgw_transitions_clear(&tr);
    msgw_errors_clear(&e);
    return finished;
}

/* An administrator's retention run, now instead of at the day's end. */
static void retention_run(operations *o, job *j)
{
    msgw_errors e;
    msgw_errors_init(&e);
    pthread_mutex_lock(&o->lock);
    operation *op = operation_of(o, j->operation);
    if (op) {
        op->state = "running";
        op->started = msgw_time_now();
    }
    pthread_mutex_unlock(&o->lock);
    int64_t removed = operations_retention(o, &e);
    pthread_mutex_lock(&o->lock);
    if ((op = operation_of(o, j->operation))) {
        op->state = e.n ? "failed" : "done";
        op->done = op->total = (size_t)removed;
        op->finished = msgw_time_now();
    }
    pthread_mutex_unlock(&o->lock);
    msgw_errors_clear(&e);
}

bool operations_run(operations *o, job *j, engine_commit_fn commit, void *ud)
{
    if (j->retention) {
        retention_run(o, j);
        return false;
    }
    return !reevaluate_step(o, j, commit, ud);
}

void operations_refuse(operations *o, job *j, const char *reason)
{
    pthread_mutex_lock(&o->lock);
    operation *op = operation_of(o, j->operation);
    if (op) {
        op->state = "refused";
        op->reason = reason;
        op->finished = msgw_time_now();
    }
    pthread_mutex_unlock(&o->lock);
}

json_t *operations_json(operations *o, int id)
{
    char t1[40], t2[40];
    json_t *out = NULL;
    pthread_mutex_lock(&o->lock);
    operation *op = id > 0 ? operation_of(o, id) : NULL;
    if (op)
        out = json_pack("{s:i,s:s,s:s?,s:s,s:I,s:I,s:I,s:s?,s:s?,s:s?}", "id", op->id, "kind", op->kind, "service",
                        op->service[0] ? op->service : NULL, "state", op->state, "done", (json_int_t)op->done,
                        "total", (json_int_t)op->total, "transitions", (json_int_t)op->transitions, "started",
                        op->started ? msgw_time_format(op->started, t1) : NULL, "finished",
                        op->finished ? msgw_time_format(op->finished, t2) : NULL, "reason", op->reason);
    pthread_mutex_unlock(&o->lock);
    return out;
}

operations *operations_new(receive_queue *q, engine_host *host, msgw_audit *audit)
{
    operations *o = calloc(1, sizeof *o);
    if (!o) abort();
    o->queue = q;
    o->host = host;
    o->audit = audit;
    pthread_mutex_init(&o->lock, NULL);
    return o;
}

void operations_destroy(operations **op)
{
    if (!op || !*op) return;
    pthread_mutex_destroy(&(*op)->lock);
    free(*op);
    *op = NULL;
}
