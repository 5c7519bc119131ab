/*
 * The commit worker (commit_worker.h): evaluate, route and commit groups of
 * requests, in two stages that overlap.  The worker thread takes a group
 * from the receive queue, applies it to the engine under a savepoint and
 * routes what it causes (the engine stage); the store thread commits it in
 * one transaction, then keeps or undoes the savepoint, publishes, audits and
 * answers (the store stage).  While one group is being committed and synced,
 * the next is evaluated: at most MSGW_ELIG_SAVEPOINTS groups are in flight.
 * Commits end in order, so a group whose commit fails takes the group
 * evaluated after it with it (both undone in the engine, both answered 503).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "commit_worker.h"
#include "membership.h"
#include "msgw/model/canon.h"
#include "msgw/store/cluster.h"
#include "msgw/base/idnum.h"
#include "msgw/base/log.h"
#include "msgw/pipeline/route.h"

struct commit_worker {
    receive_queue *queue;
    engine_host *host;
    operations *ops;
    const msgw_adapter_ctx *ctx;
    msgw_feed *feed;     /* NULL: no monitoring feed */
    msgw_feed_pub *pub;  /* the worker thread's publisher, made and closed by it */
    msgw_feed_pub *store_pub; /* the store thread's */
    msgw_doorbell *bell; /* rung when a commit queued outbox messages; may be NULL */
    msgw_audit *audit;   /* every push is audited once committed; may be NULL */
    const msgw_peers *peers; /* seals envelopes for peer gateways; NULL: no peers */
    membership *member;      /* several instances over one store; NULL: alone (docs/cluster.md) */
    int64_t epoch;           /* of the evaluator lease while evaluating */
    bool role_taken;         /* take_role has decided once (and logged it) */
    pthread_t thread;
    bool running;
    /* the hand-over to the store stage, under lock */
    pthread_t store_thread;
    bool store_running;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct group *head, *tail; /* evaluated, in order, not yet taken by the store thread */
    bool stop;
    /* under the host's lock */
    uint64_t evaluated;    /* groups begun so far: a group's generation */
    uint64_t void_through; /* groups up to this generation were undone with one whose commit failed */
    atomic_bool commit_failed; /* the last commit failed (/readyz) */
    size_t
        failed_commits; /* since the last that succeeded (store thread, or worker when exclusive) */
    /* docs/metrics.md; NULL families without a registry */
    msgw_metric *m_received, *m_transitions, *m_commit, *m_refused, *m_failures;
};

typedef struct group {
    struct group *next; /* in the hand-over */
    job *first;         /* the jobs as the receive queue gave them (receive_queue_done) */
    uint64_t gen;       /* its generation (commit_worker.evaluated when it began) */
    bool deferred;      /* stored for the evaluator only: this instance does not evaluate */
    /* records other instances stored, evaluated here first (items[0 .. npulled)) */
    msgw_batch *pulled;
    int64_t *pulled_seq;
    const char **pulled_sender;
    size_t npulled;
    job **jobs;
    size_t njobs, nitems; /* nitems: the jobs' records, after the pulled ones */
    msgw_store_item *items;
    msgw_outbox_list *boxes;
    size_t *ntransitions; /* per job */
    msgw_transitions tr;  /* all of the group's, published on the feed once committed */
    const char **causes;  /* the message id that caused each of tr */
    size_t ncauses;
} group;

/* The verdict after a transition, as the store keeps it, with the transition for its log. */
static void verdict_of(const msgw_elig *elig, const msgw_transition *t, msgw_arena *a, msgw_store_verdict *v)
{
    static const char *const kinds[] = {[MSGW_TR_NEW] = "new", [MSGW_TR_LOST] = "lost", [MSGW_TR_CHANGED] = "changed"};
    const msgw_verdict *after = &t->after;
    const msgw_service *svc = t->service;
    *v = (msgw_store_verdict){.person = msgw_arena_strdup(a, t->person),
                              .service = svc->code,
                              .eligible = after->eligible,
                              .since = after->eligible ? after->since : MSGW_DATE_NONE,
                              .tier = after->eligible && after->tier >= 0 && (size_t)after->tier < svc->ntiers
                                          ? svc->tiers[after->tier].name
                                          : NULL,
                              .amount = after->eligible ? after->amount : MSGW_ABSENT,
                              .kind = kinds[t->kind],
                              .explanation = t->text};
    msgw_elig_person_regions(elig, t->person, &v->hukou_region, &v->residence_region);
}

/* The transitions of tr from index `from` on, caused by record cause (NULL: the calendar, a
 * parameter): their notices into box, their verdicts onto the store item that commits them. */
static void route_transitions(commit_worker *w, const msgw_transitions *tr, size_t from, const msgw_record *cause,
                              msgw_arena *a, msgw_outbox_list *box, msgw_store_item *it)
{
    msgw_store_verdict *v = msgw_arena_alloc(a, (tr->n - from + 1) * sizeof *v);
    for (size_t t = from; t < tr->n; t++) {
        msgw_route_transition(w->host->cfg, w->ctx, &tr->v[t], cause, a, box);
        verdict_of(w->host->elig, &tr->v[t], a, &v[t - from]);
    }
    it->verdicts = v;
    it->nverdicts = tr->n - from;
}

static void person_regions(void *ud, const char *person, const char **hukou, const char **residence)
{
    msgw_elig_person_regions(ud, person, hukou, residence);
}

/* Evaluates and routes one new record: its messages go into box and its new verdicts into the
 * item, committed with it. */
static size_t evaluate(commit_worker *w, group *g, const char *dept, const msgw_envelope *envelope, msgw_arena *a,
                       msgw_record *r, bool stored, msgw_outbox_list *box, msgw_store_item *it)
{
    engine_host *h = w->host;
    size_t before = g->tr.n;
    if (stored)
        msgw_elig_apply_stored(h->elig, r, engine_host_today(h), &g->tr, NULL);
    else
        msgw_elig_apply(h->elig, r, engine_host_today(h), &g->tr, NULL);
    msgw_route_record(h->cfg, w->ctx, r, dept, a, box);
    msgw_route_env env = {.peers = w->peers, .regions = person_regions, .ud = h->elig};
    if (envelope) {
        env.from_peer = dept;
        env.hops = (const char(*)[16])envelope->hops;
        env.nhops = envelope->nhops;
    }
    msgw_route_peers(h->cfg, &env, r, a, box);
    size_t n = g->tr.n - before;
    route_transitions(w, &g->tr, before, r, a, box, it);
    if (g->tr.n > g->ncauses) {
        g->causes = realloc(g->causes, g->tr.n * sizeof *g->causes);
        if (!g->causes) abort();
    }
    for (size_t t = before; t < g->tr.n; t++) g->causes[t] = r->message_id;
    g->ncauses = g->tr.n;
    return n;
}

/* The records other instances stored, first: they were acknowledged before this group's. */
static void prepare_pulled(commit_worker *w, group *g)
{
    for (size_t k = 0; k < g->npulled; k++) {
        msgw_record *r = g->pulled->items[k].record;
        msgw_store_item *it = &g->items[k];
        *it = (msgw_store_item){.record = r, .sender = g->pulled_sender[k], .stored_seq = g->pulled_seq[k]};
        evaluate(w, g, g->pulled_sender[k], NULL, g->pulled->arena, r, true, &g->boxes[k], it);
        it->outbox = g->boxes[k].v;
        it->noutbox = g->boxes[k].n;
    }
}

static void prepare(commit_worker *w, group *g)
{
    prepare_pulled(w, g);
    size_t k = g->npulled;
    for (size_t x = 0; x < g->njobs; x++) {
        job *j = g->jobs[x];
        for (size_t i = 0; j->batch && i < j->batch->nitems; i++) {
            msgw_record *r = j->batch->items[i].record;
            if (!r) continue;
            msgw_store_item *it = &g->items[k];
            *it = (msgw_store_item){.record = r, .sender = j->dept, .body_digest = j->digest};
            if (j->envelope) {
                it->envelope = j->envelope_body;
                it->envelope_len = j->envelope_len;
                it->envelope_digest = j->envelope->digest;
            }
            /* a record the engine has applied (stored, in a group in flight, or earlier in this
             * one) is a replay: it causes nothing, and the commit answers it as a duplicate; one
             * stored only for the evaluator waits for its own turn (deferred: not evaluated here) */
            it->deferred = g->deferred || msgw_elig_seen(w->host->elig, r->message_id);
            if (!it->deferred) {
                g->ntransitions[x] += evaluate(w, g, j->dept, j->envelope, j->batch->arena, r, false, &g->boxes[k], it);
                it->outbox = g->boxes[k].v;
                it->noutbox = g->boxes[k].n;
            }
            k++;
        }
    }
}

static void answer_group(commit_worker *w, group *g, bool committed)
{
    size_t k = g->npulled;
    for (size_t x = 0; x < g->njobs; x++) {
        job *j = g->jobs[x];
        if (!j->batch) continue; /* answered at submit */
        size_t n = msgw_batch_count_ok(j->batch), messages = 0;
        for (size_t i = 0; i < n; i++) messages += g->boxes[k + i].n;
        if (committed && j->envelope && n == 1 && g->items[k].duplicate) {
            j->status = answer_refuse(&j->answer, 409, "envelope.replayed",
                                      "an envelope with this message id was received before: not applied again");
        } else if (committed) {
            j->status = answer_batch(j->batch, g->items + k, g->ntransitions[x], messages, g->deferred, &j->answer);
        } else {
            j->status = answer_refuse(&j->answer, 503, "store.unavailable", "the records could not be stored; retry later");
            msgw_metrics_inc(w->m_refused, 1, j->dept, "503");
        }
        k += n;
        msgw_batch_destroy(&j->batch); /* the answer is all that is left to send */
    }
}

/* What the group committed, on the monitoring feed: only after the commit, so no phantom events. */
static void publish(msgw_feed_pub *pub, const group *g)
{
    for (size_t i = 0; i < g->nitems; i++) {
        const msgw_store_item *it = &g->items[i];
        msgw_feed_publish(pub, "record", msgw_feed_record_event(it->record, it->sender, it->seq, it->duplicate));
    }
    for (size_t t = 0; t < g->tr.n; t++)
        msgw_feed_publish(pub, "transition", msgw_feed_transition_event(&g->tr.v[t], g->causes[t]));
}

/* New outbox messages: the deliverers need not wait for their next look at the store. */
static void wake_deliverers(commit_worker *w, const group *g)
{
    for (size_t i = 0; i < g->nitems; i++)
        if (g->boxes[i].n) {
            msgw_doorbell_ring(w->bell);
            return;
        }
}

/* One audit entry per committed request: who pushed what (the body's digest), and each record's
 * outcome — message ids scrubbed of ID numbers, no bodies. */
static void audit_group(commit_worker *w, const group *g)
{
    size_t k = g->npulled;
    for (size_t x = 0; x < g->njobs; x++) {
        const job *j = g->jobs[x];
        if (!j->batch) continue;
        size_t n = msgw_batch_count_ok(j->batch), stored = 0;
        json_t *ids = json_array();
        for (size_t i = 0; i < n; i++) {
            const msgw_store_item *it = &g->items[k + i];
            stored += !it->duplicate;
            char *id = strdup(it->record->message_id);
            if (!id) abort();
            msgw_idnum_scrub(id);
            if (i < 100) json_array_append_new(ids, json_string(id));
            free(id);
        }
        json_t *f = json_pack("{s:s,s:s,s:I,s:I,s:I,s:o}", "department", j->dept, "body_sha256", j->digest,
                              "stored", (json_int_t)stored, "duplicates", (json_int_t)(n - stored), "rejected",
                              (json_int_t)(j->batch->nitems - n), "message_ids", ids);
        msgw_errors e;
        msgw_errors_init(&e);
        if (j->envelope) {
            msgw_audit_append(w->audit, "peer",
                              msgw_envelope_audit(j->envelope, stored ? "received" : "replayed", j->dept, NULL), &e);
            json_decref(f);
        } else {
            msgw_audit_append(w->audit, "push", f, &e);
        }
        msgw_errors_clear(&e);
        k += n;
    }
}

static void count_transitions(commit_worker *w, const msgw_transitions *tr)
{
    for (size_t t = 0; t < tr->n; t++)
        msgw_metrics_inc(w->m_transitions, 1, tr->v[t].service->code, msgw_transition_kind_name(tr->v[t].kind));
}

/* The committed group's records (stored or duplicate), transitions and each request's latency. */
static void count_group(commit_worker *w, const group *g)
{
    size_t k = g->npulled;
    msgw_time now = msgw_time_now();
    for (size_t x = 0; x < g->njobs; x++) {
        const job *j = g->jobs[x];
        if (!j->batch) continue;
        size_t n = msgw_batch_count_ok(j->batch);
        for (size_t i = 0; i < n; i++) {
            const msgw_store_item *it = &g->items[k + i];
            msgw_metrics_inc(w->m_received, 1, j->dept, it->record->kind, it->duplicate ? "duplicate" : "stored");
        }
        msgw_metrics_observe(w->m_commit, (double)(now - j->submitted) / 1e6);
        k += n;
    }
    count_transitions(w, &g->tr);
}

static group *group_new(job *first, size_t njobs)
{
    group *g = calloc(1, sizeof *g);
    if (!g) abort();
    msgw_transitions_init(&g->tr);
    g->first = first;
    g->njobs = njobs;
    g->jobs = calloc(njobs + 1, sizeof *g->jobs);
    g->ntransitions = calloc(njobs + 1, sizeof *g->ntransitions);
    if (!g->jobs || !g->ntransitions) abort();
    size_t x = 0;
    for (job *j = first; j && x < njobs; j = j->next) {
        g->jobs[x++] = j;
        if (j->batch) g->nitems += msgw_batch_count_ok(j->batch);
    }
    return g;
}

/* Room for the items: the pulled records', then the jobs'. */
static void group_items(group *g)
{
    g->items = calloc(g->npulled + g->nitems + 1, sizeof *g->items);
    g->boxes = calloc(g->npulled + g->nitems + 1, sizeof *g->boxes);
    if (!g->items || !g->boxes) abort();
}

/* One record another instance stored, decoded from its canonical form; one that does not decode
 * (it did when it was stored) is evaluated as a record of nothing, so that it does not stay first
 * in line for ever. */
static bool pull_one(void *ud, int64_t seq, const char *canonical, msgw_time recorded_at, const char *sender)
{
    void **ctx = ud;
    group *g = ctx[0];
    const commit_worker *w = ctx[1];
    size_t before = g->pulled->nitems;
    json_t *j = json_loads(canonical, 0, NULL);
    if (j) msgw_canon_decode(w->ctx->dict, j, g->pulled);
    json_decref(j);
    if (g->pulled->nitems != before + 1 || !g->pulled->items[before].record) {
        g->pulled->nitems = before;
        msgw_record *r = msgw_arena_alloc(g->pulled->arena, sizeof *r);
        r->message_id = msgw_arena_printf(g->pulled->arena, "(record %lld, not decodable)", (long long)seq);
        msgw_batch_add(g->pulled, r, NULL);
        msgw_log(MSGW_LOG_ERROR, "a stored record does not decode: evaluated as nothing", "record", r->message_id,
                 NULL);
    }
    g->pulled->items[before].record->recorded_at = recorded_at;
    g->pulled_seq = realloc(g->pulled_seq, (g->npulled + 1) * sizeof *g->pulled_seq);
    g->pulled_sender = realloc(g->pulled_sender, (g->npulled + 1) * sizeof *g->pulled_sender);
    if (!g->pulled_seq || !g->pulled_sender) abort();
    g->pulled_seq[g->npulled] = seq;
    g->pulled_sender[g->npulled++] = msgw_arena_strdup(g->pulled->arena, sender);
    return true;
}

/* What other instances stored since the last group, up to a group's worth (the engine's own
 * connection; lock held). */
static void pull(commit_worker *w, group *g)
{
    g->pulled = msgw_batch_new();
    void *ctx[] = {g, w};
    msgw_errors e;
    msgw_errors_init(&e);
    if (!msgw_store_unevaluated(w->host->lookup, w->host->cfg->queue_group_records, pull_one, ctx, &e))
        msgw_log_errors(MSGW_LOG_WARNING, "the records other instances stored could not be read", &e);
    msgw_errors_clear(&e);
}

static void group_free(group *g)
{
    msgw_batch_destroy(&g->pulled);
    free(g->pulled_seq);
    free(g->pulled_sender);
    for (size_t i = 0; i < g->npulled + g->nitems; i++) free(g->boxes[i].v);
    free(g->boxes);
    free(g->items);
    free(g->ntransitions);
    free(g->jobs);
    msgw_transitions_clear(&g->tr);
    free(g->causes);
    free(g);
}

/* The engine stage, on the worker thread: the group applied under a savepoint of its own and
 * routed, once there is room for it in flight. */
static void evaluate_group(commit_worker *w, group *g)
{
    engine_host *h = w->host;
    pthread_mutex_lock(&h->lock);
    engine_host_group_begin(h);
    g->gen = ++w->evaluated;
    g->deferred = !h->evaluating;
    if (!g->deferred) msgw_elig_begin(h->elig);
    if (!g->deferred && w->member) pull(w, g);
    group_items(g);
    prepare(w, g);
    pthread_mutex_unlock(&h->lock);
}

static void hand_over(commit_worker *w, group *g)
{
    pthread_mutex_lock(&w->lock);
    if (w->tail) w->tail->next = g;
    else w->head = g;
    w->tail = g;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

/* The next evaluated group, in order; NULL once stopped with nothing left. */
static group *take_evaluated(commit_worker *w)
{
    pthread_mutex_lock(&w->lock);
    while (!w->head && !w->stop) pthread_cond_wait(&w->wake, &w->lock);
    group *g = w->head;
    if (g) {
        w->head = g->next;
        if (!w->head) w->tail = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    return g;
}

/* The commit failed because another instance took the evaluator lease over. */
static bool fenced(const msgw_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i].rule && strcmp(e->v[i].rule, "store.fenced") == 0) return true;
    return false;
}

/*
 * A commit's outcome for /readyz and the log: a failure is logged when the store stops committing,
 * not at every group refused meanwhile (a disk that is full fails every commit), and again when it
 * commits once more; every failure is counted.
 */
static void note_commit(commit_worker *w, bool ok, const msgw_errors *e)
{
    bool was_failing = atomic_exchange(&w->commit_failed, !ok);
    if (ok) {
        if (was_failing) {
            char n[24];
            snprintf(n, sizeof n, "%zu", w->failed_commits);
            msgw_log(MSGW_LOG_INFO, "the store commits again", "failed_commits", n, NULL);
        }
        w->failed_commits = 0;
        return;
    }
    w->failed_commits++;
    msgw_metrics_inc(w->m_failures, 1, "store");
    if (!was_failing)
        msgw_log_errors(MSGW_LOG_ERROR,
                        "a group of pushes could not be committed: answered 503, engine undone", e);
}

/* Commits the group unless an earlier failure undid it; keeps its savepoint, or undoes it with
 * every later group's.  True when committed. */
static bool commit_evaluated(commit_worker *w, group *g)
{
    engine_host *h = w->host;
    pthread_mutex_lock(&h->lock);
    bool undone = g->gen <= w->void_through;
    pthread_mutex_unlock(&h->lock);
    if (undone) return false; /* its savepoint went with the failed group's */
    msgw_errors serr;
    msgw_errors_init(&serr);
    size_t n = g->npulled + g->nitems;
    bool ok = n == 0 || msgw_store_commit(h->store, g->items, n, msgw_time_now(), &serr);
    pthread_mutex_lock(&h->lock);
    if (ok && !g->deferred) {
        msgw_elig_release(h->elig);
        for (size_t i = 0; i < n; i++)
            if (g->items[i].evaluated > h->evaluated_through) h->evaluated_through = g->items[i].evaluated;
    } else if (!ok && !g->deferred) {
        msgw_elig_rollback(h->elig); /* nothing was stored: the engine forgets this group and the next */
        w->void_through = w->evaluated;
    }
    int64_t through = h->evaluated_through;
    pthread_mutex_unlock(&h->lock);
    if (ok && !g->deferred && w->member) membership_progress(w->member, through, true);
    if (!ok && w->member && fenced(&serr)) membership_lost(w->member);
    if (n) note_commit(w, ok, &serr);
    msgw_errors_clear(&serr);
    return ok;
}

/* The store stage, on the store thread. */
static void store_group(commit_worker *w, group *g)
{
    bool ok = commit_evaluated(w, g);
    if (ok && w->store_pub) publish(w->store_pub, g);
    if (ok && w->audit) audit_group(w, g);
    if (ok) count_group(w, g);
    if (ok) wake_deliverers(w, g);
    answer_group(w, g, ok);
    receive_queue_done(w->queue, g->first, false);
    group_free(g);
    pthread_mutex_lock(&w->host->lock);
    engine_host_group_end(w->host); /* only now: what it published read the catalogue */
    pthread_mutex_unlock(&w->host->lock);
}

static void *store_stage(void *arg)
{
    commit_worker *w = arg;
    w->store_pub = msgw_feed_pub_new(w->feed); /* a ZeroMQ socket: made, used and closed here */
    for (group *g; (g = take_evaluated(w));) store_group(w, g);
    msgw_feed_pub_destroy(&w->store_pub);
    return NULL;
}

/* Transitions no record caused, routed and committed as one record-less store item; published on
 * the feed when the worker thread (the publisher's owner) commits them. */
static bool commit_unprompted(commit_worker *w, msgw_transitions *tr, bool on_worker, msgw_errors *e)
{
    if (!tr->n) return true;
    if (!w->host->evaluating) return true; /* the evaluator notifies them: here they only follow */
    msgw_arena *a = msgw_arena_new(0);
    msgw_outbox_list box = {0};
    msgw_store_item it = {.sender = "gateway"};
    route_transitions(w, tr, 0, NULL, a, &box, &it);
    it.outbox = box.v;
    it.noutbox = box.n;
    bool ok = msgw_store_commit(w->host->store, &it, 1, msgw_time_now(), e);
    note_commit(w, ok, e);
    if (ok) count_transitions(w, tr);
    if (ok && on_worker)
        for (size_t t = 0; t < tr->n; t++)
            msgw_feed_publish(w->pub, "transition", msgw_feed_transition_event(&tr->v[t], NULL));
    if (ok && box.n) msgw_doorbell_ring(w->bell);
    free(box.v);
    msgw_arena_destroy(&a);
    return ok;
}

bool commit_worker_commit_unprompted(void *w, msgw_transitions *tr, msgw_errors *e)
{
    return commit_unprompted(w, tr, true, e);
}

bool commit_worker_commit_from_loop(void *w, msgw_transitions *tr, msgw_errors *e)
{
    return commit_unprompted(w, tr, false, e);
}

/* Each new day: its sweep, then retention (once a day), both logged with the day reached. */
static void new_day(commit_worker *w)
{
    int days = engine_host_sweep_to_today(w->host, commit_worker_commit_unprompted, w);
    if (days <= 0) return; /* no new day, or its notices could not be stored yet */
    char day[11], n[24];
    pthread_mutex_lock(&w->host->lock);
    msgw_date_format(w->host->swept, day);
    pthread_mutex_unlock(&w->host->lock);
    snprintf(n, sizeof n, "%d", days);
    msgw_log(MSGW_LOG_INFO, "the daily sweep", "through", day, "days", n, NULL);
    msgw_errors e;
    msgw_errors_init(&e);
    int64_t removed = operations_retention(w->ops, &e);
    snprintf(n, sizeof n, "%lld", (long long)removed);
    if (e.n)
        msgw_log_errors(MSGW_LOG_WARNING, "the daily retention did not finish: retried tomorrow",
                        &e);
    msgw_log(MSGW_LOG_INFO, "the daily retention", "through", day, "removed", n, NULL);
    msgw_errors_clear(&e);
}

/*
 * While commits fail, the store is tried once a second with a small write of its own, so that
 * /readyz turns ready again as soon as the store can be written, without waiting for a push — a
 * balancer holds pushes back from a gateway that is not ready.
 */
static void probe_store(commit_worker *w)
{
    msgw_errors e;
    msgw_errors_init(&e);
    engine_host_exclusive(w->host); /* between groups the connection is the store thread's */
    bool ok = msgw_store_meta_set(w->host->store, "store_probe", msgw_time_now(), &e);
    note_commit(w, ok, &e);
    engine_host_release(w->host);
    msgw_errors_clear(&e);
}

/* The audit log tried every second when idle, so that it recovers by itself: while it cannot be
 * written pushes are refused and deliveries wait, so nothing else appends to it. */
static void try_audit(commit_worker *w)
{
    char why[320];
    if (w->audit) msgw_audit_problem(w->audit, why, sizeof why);
}

/*
 * Several instances: the role the evaluator lease gives.  Taking it, the engine first applies
 * everything the last evaluator committed (fenced out by now), then this instance's commits are
 * fenced by the lease's epoch; losing it, the instance only stores and follows.
 */
static void take_role(commit_worker *w)
{
    engine_host *h = w->host;
    int64_t epoch = 0;
    bool lead = membership_leading(w->member, &epoch);
    if (w->role_taken && lead == h->evaluating && (!lead || epoch == w->epoch)) return;
    msgw_errors e;
    msgw_errors_init(&e);
    engine_host_exclusive(h);
    long applied = 0;
    while (lead && (applied = engine_host_follow(h, 10000, &e)) > 0) {
    }
    bool ok = applied >= 0;
    if (ok) {
        msgw_store_fence(h->store, lead ? MSGW_LEASE_EVALUATOR : NULL, membership_name(w->member), epoch);
        h->evaluating = lead;
        w->epoch = lead ? epoch : 0;
    }
    membership_progress(w->member, h->evaluated_through, h->evaluating);
    engine_host_release(h);
    if (!ok) msgw_log_errors(MSGW_LOG_WARNING, "the evaluator's last commits could not be read: not evaluating yet", &e);
    msgw_errors_clear(&e);
    if (!ok) return;
    w->role_taken = true;
    char ep[24];
    snprintf(ep, sizeof ep, "%lld", (long long)epoch);
    msgw_log(MSGW_LOG_INFO, lead ? "evaluating" : "following the evaluator", "instance", membership_name(w->member),
             "epoch", lead ? ep : NULL, NULL);
    if (lead) new_day(w);
}

/* A follower's engine: what the evaluator committed since its last look. */
static void follow(commit_worker *w)
{
    engine_host *h = w->host;
    msgw_errors e;
    msgw_errors_init(&e);
    pthread_mutex_lock(&h->lock);
    long applied = engine_host_follow(h, 10000, &e);
    if (applied >= 0) engine_host_follow_calendar(h, &e);
    int64_t through = h->evaluated_through;
    pthread_mutex_unlock(&h->lock);
    if (applied < 0) msgw_log_errors(MSGW_LOG_WARNING, "the evaluator's commits could not be read", &e);
    membership_progress(w->member, through, false);
    msgw_errors_clear(&e);
}

/* The evaluator with no request waiting: what the others stored since. */
static void evaluate_pulled(commit_worker *w)
{
    group *gr = group_new(NULL, 0);
    evaluate_group(w, gr);
    hand_over(w, gr);
}

static void *work(void *arg)
{
    commit_worker *w = arg;
    w->pub = msgw_feed_pub_new(w->feed); /* a ZeroMQ socket: made, used and closed here */
    if (w->member) take_role(w);
    if (w->host->evaluating) new_day(w); /* the days since the last stored record */
    for (;;) {
        size_t n;
        bool idle;
        if (w->member) take_role(w);
        if (w->member && !w->host->evaluating) follow(w);
        /* the others' records within follow_ms; the calendar at least every second, and before each
         * group, so a new day is swept before the records that arrive on it, under load or not */
        int wait_ms = w->member ? (int)w->host->cfg->cluster_follow_ms : 1000;
        job *g = receive_queue_take(w->queue, wait_ms, &n, &idle);
        if ((idle || g) && w->host->evaluating) new_day(w);
        if (idle && atomic_load(&w->commit_failed)) probe_store(w);
        if (idle) try_audit(w);
        if (idle && w->host->evaluating && w->member) evaluate_pulled(w);
        if (idle) continue;
        if (!g) break; /* stopping, and everything queued is committed */
        if (g->operation && !w->host->evaluating) { /* the evaluator runs them, for the cluster */
            operations_refuse(w->ops, g, "this instance does not evaluate: run it on the evaluator");
            receive_queue_done(w->queue, g, false);
            continue;
        }
        if (g->operation) {
            bool again = operations_run(w->ops, g, commit_worker_commit_unprompted, w);
            receive_queue_done(w->queue, g, again);
            continue;
        }
        engine_host_compact_if_due(w->host);
        group *gr = group_new(g, n);
        evaluate_group(w, gr);
        hand_over(w, gr);
    }
    pthread_mutex_lock(&w->lock); /* everything queued was evaluated: the store stage ends with it */
    w->stop = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->store_thread, NULL);
    w->store_running = false;
    msgw_feed_pub_destroy(&w->pub);
    return NULL;
}

commit_worker *commit_worker_new(receive_queue *q, engine_host *host, operations *ops, const msgw_adapter_ctx *ctx,
                                 msgw_feed *feed, msgw_doorbell *bell, msgw_audit *audit)
{
    commit_worker *w = calloc(1, sizeof *w);
    if (!w) abort();
    w->queue = q;
    w->host = host;
    w->ops = ops;
    w->ctx = ctx;
    w->feed = feed;
    w->bell = bell;
    w->audit = audit;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    return w;
}

bool commit_worker_start(commit_worker *w, msgw_errors *e)
{
    w->store_running = pthread_create(&w->store_thread, NULL, store_stage, w) == 0;
    w->running = w->store_running && pthread_create(&w->thread, NULL, work, w) == 0;
    if (!w->running) msgw_error_add(e, -1, "ingest", NULL, "ingest.thread", "cannot start the commit threads");
    return w->running;
}

void commit_worker_destroy(commit_worker **wp)
{
    if (!wp || !*wp) return;
    commit_worker *w = *wp;
    if (w->running) pthread_join(w->thread, NULL); /* it commits what is queued first */
    if (w->store_running) { /* the worker never ran: the store stage has nothing to do */
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->store_thread, NULL);
    }
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
    *wp = NULL;
}

void commit_worker_set_membership(commit_worker *w, membership *m)
{
    w->member = m;
    w->host->evaluating = m == NULL; /* until the lease says otherwise */
}

void commit_worker_set_peers(commit_worker *w, const msgw_peers *peers)
{
    pthread_mutex_lock(&w->host->lock); /* the worker reads it while routing */
    w->peers = peers;
    pthread_mutex_unlock(&w->host->lock);
}

void commit_worker_set_metrics(commit_worker *w, msgw_metrics *m)
{
    w->m_received = msgw_metrics_find(m, "msgw_records_received_total");
    w->m_transitions = msgw_metrics_find(m, "msgw_eligibility_transitions_total");
    w->m_commit = msgw_metrics_find(m, "msgw_ingest_commit_seconds");
    w->m_refused = msgw_metrics_find(m, "msgw_requests_refused_total");
    w->m_failures = msgw_metrics_find(m, "msgw_failures_total");
}

const char *commit_worker_store_problem(const commit_worker *w)
{
    return atomic_load(&w->commit_failed) ? "the last commit failed: pushes are answered 503" : NULL;
}
