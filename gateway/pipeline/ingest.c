/*
 * Ingest (include/msgw/pipeline/ingest.h): the pipeline between the
 * transports and the store, assembled from its parts — the receive queue
 * (receive_queue.c: screen on the event loop, a bounded queue, answers
 * back on the loop), the commit worker (commit_worker.c: evaluate, route,
 * commit a group in one transaction), the engine's host (engine_host.c:
 * the engine rebuilt from the store, swept, reconfigured) and
 * administrators' operations (operations.c).  The commit comes before the
 * answer: a 202 means the records are on disk.
 *
 * Threads: the queue and its answered list are shared under the queue's
 * lock; the engine, the configuration the worker routes with and the
 * store connection are the worker's, under the host's lock (the loop takes
 * it only to read a person's verdicts or to reconfigure).
 */
#include <stdlib.h>

#include "commit_worker.h"
#include "engine_host.h"
#include "msgw/pipeline/ingest.h"
#include "membership.h"
#include "msgw/store/cluster.h"
#include "operations.h"
#include "receive_queue.h"

struct msgw_ingest {
    receive_queue *queue;
    engine_host *host;
    operations *ops;
    commit_worker *worker;
    msgw_store *lookup;    /* the engine's own connection (replays, following) */
    membership *member;    /* on a shared store; NULL alone */
};

msgw_ingest *msgw_ingest_new(struct event_base *base, const msgw_config *cfg, const msgw_adapter_ctx *ctx,
                             msgw_store *store, const char *store_address, const msgw_catalogue *cat,
                             msgw_feed *feed, msgw_doorbell *bell, msgw_audit *audit, msgw_errors *e)
{
    msgw_ingest *ing = calloc(1, sizeof *ing);
    if (!ing) abort();
    if (!(ing->queue = receive_queue_new(base, cfg, ctx, audit, e)) ||
        !(ing->lookup = msgw_store_open(store_address, MSGW_STORE_DELIVERY, e)) ||
        !(ing->host = engine_host_new(cfg, ctx, store, cat, e)) ||
        (msgw_store_clustered(store) &&
         !(ing->member = membership_new(cfg, store_address, audit, e)))) {
        msgw_ingest_destroy(&ing);
        return NULL;
    }
    engine_host_set_lookup(ing->host, ing->lookup);
    ing->ops = operations_new(ing->queue, ing->host, audit);
    ing->worker = commit_worker_new(ing->queue, ing->host, ing->ops, ctx, feed, bell, audit);
    commit_worker_set_membership(ing->worker, ing->member);
    if ((ing->member && !membership_start(ing->member, e)) || !commit_worker_start(ing->worker, e))
        msgw_ingest_destroy(&ing);
    return ing;
}

json_t *msgw_ingest_cluster(msgw_ingest *ing)
{
    return ing->member ? membership_json(ing->member) : NULL;
}

void msgw_ingest_destroy(msgw_ingest **ip)
{
    if (!ip || !*ip) return;
    msgw_ingest *ing = *ip;
    if (ing->queue) receive_queue_stop(ing->queue);
    commit_worker_destroy(&ing->worker); /* it commits what is queued first */
    membership_destroy(&ing->member);    /* gives the lease up: another instance takes over at once */
    operations_destroy(&ing->ops);
    receive_queue_destroy(&ing->queue); /* releases what was never answered */
    engine_host_destroy(&ing->host);
    msgw_store_close(&ing->lookup);
    free(ing);
    *ip = NULL;
}

msgw_reload msgw_ingest_reconfigure(msgw_ingest *ing, const msgw_config *cfg, msgw_catalogue *cur,
                                    const msgw_catalogue *newer, msgw_errors *e)
{
    msgw_reload how =
        engine_host_reconfigure(ing->host, cfg, cur, newer, commit_worker_commit_from_loop, ing->worker, e);
    receive_queue_reconfigure(ing->queue, cfg);
    return how;
}

int msgw_ingest_submit(msgw_ingest *ing, const msgw_department *dept, const char *media_type, const char *body,
                       size_t len, bool ordered, msgw_ingest_done_fn done, void *ud, msgw_buf *out)
{
    return receive_queue_submit(ing->queue, dept, media_type, body, len, ordered, done, ud, out);
}

int msgw_ingest_submit_envelope(msgw_ingest *ing, const msgw_department *peer, const msgw_envelope *hdr,
                                const char *record, size_t record_len, const char *envelope, size_t envelope_len,
                                msgw_ingest_done_fn done, void *ud, msgw_buf *out)
{
    return receive_queue_submit_envelope(ing->queue, peer, hdr, record, record_len, envelope, envelope_len, done,
                                         ud, out);
}

void msgw_ingest_set_peers(msgw_ingest *ing, const msgw_peers *peers)
{
    commit_worker_set_peers(ing->worker, peers);
}

int msgw_ingest_reevaluate(msgw_ingest *ing, const char *service)
{
    return operations_start(ing->ops, "reevaluate", service);
}

int msgw_ingest_retention(msgw_ingest *ing)
{
    return operations_start(ing->ops, "retention", NULL);
}

json_t *msgw_ingest_operation(msgw_ingest *ing, int id)
{
    return operations_json(ing->ops, id);
}

bool msgw_ingest_saturated(const msgw_ingest *ing)
{
    return receive_queue_saturated(ing->queue);
}

void msgw_ingest_on_progress(msgw_ingest *ing, void (*cb)(void *ud), void *ud)
{
    receive_queue_on_progress(ing->queue, cb, ud);
}

size_t msgw_ingest_in_flight(const msgw_ingest *ing)
{
    return receive_queue_in_flight(ing->queue);
}

unsigned msgw_ingest_retry_after(const msgw_ingest *ing)
{
    return receive_queue_retry_after(ing->queue);
}

void msgw_ingest_set_metrics(msgw_ingest *ing, msgw_metrics *m)
{
    msgw_metrics_counter(m, "msgw_records_received_total",
                         "Records received, by sending department, record kind and outcome "
                         "(stored, duplicate, rejected).",
                         "department", "kind", "outcome", NULL);
    msgw_metrics_counter(m, "msgw_validation_errors_total", "Errors found in received documents and records, by rule id.",
                         "rule", NULL);
    msgw_metrics_counter(m, "msgw_eligibility_transitions_total",
                         "Committed eligibility transitions, by service and kind (NEW, LOST, CHANGED).", "service",
                         "kind", NULL);
    msgw_metrics_histogram(m, "msgw_ingest_commit_seconds", "Seconds from a request's arrival to the commit of its records.",
                           msgw_metrics_latency_buckets, msgw_metrics_latency_nbuckets, NULL);
    msgw_metrics_counter(m, "msgw_requests_refused_total", "Push requests refused whole, by department and HTTP status.",
                         "department", "status", NULL);
    msgw_metrics_failures(m);
    engine_host_set_metrics(ing->host, m);
    if (ing->member) membership_set_metrics(ing->member, m);
    receive_queue_set_metrics(ing->queue, m);
    commit_worker_set_metrics(ing->worker, m);
}

const char *msgw_ingest_store_problem(const msgw_ingest *ing)
{
    const char *down = ing->member ? membership_problem(ing->member) : NULL;
    return down ? down : commit_worker_store_problem(ing->worker);
}

json_t *msgw_ingest_person_json(msgw_ingest *ing, const char *person, msgw_date date)
{
    return engine_host_person_json(ing->host, person, date);
}
