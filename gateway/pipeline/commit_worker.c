/* The commit worker (commit_worker.h): evaluate, route and commit groups of requests. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "commit_worker.h"
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
    msgw_doorbell *bell; /* rung when a commit queued outbox messages; may be NULL */
    msgw_audit *audit;   /* every push is audited once committed; may be NULL */
    const msgw_peers *peers; /* seals envelopes for peer gateways; NULL: no peers */
    pthread_t thread;
    bool running;
    atomic_bool commit_failed; /* the last commit failed (/readyz) */
    /* docs/metrics.md; NULL families without a registry */
    msgw_metric *m_received, *m_transitions, *m_commit, *m_refused, *m_failures;
};

/* Message ids seen in the group being committed: a record pushed twice in one group is evaluated once. */
typedef struct id_set {
    const char **slot;
    size_t cap;
} id_set;

static bool id_set_add(id_set *s, const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slot[i]) {
            s->slot[i] = id;
            return true;
        }
        if (strcmp(s->slot[i], id) == 0) return false;
    }
}

typedef struct group {
    job **jobs;
    size_t njobs, nitems;
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
static size_t evaluate(commit_worker *w, group *g, job *j, msgw_record *r, msgw_outbox_list *box,
                       msgw_store_item *it)
{
    engine_host *h = w->host;
    size_t before = g->tr.n;
    msgw_elig_apply(h->elig, r, msgw_date_today(), &g->tr, NULL);
    msgw_route_record(h->cfg, w->ctx, r, j->dept, j->batch->arena, box);
    msgw_route_env env = {.peers = w->peers, .regions = person_regions, .ud = h->elig};
    if (j->envelope) {
        env.from_peer = j->dept;
        env.hops = (const char(*)[16])j->envelope->hops;
        env.nhops = j->envelope->nhops;
    }
    msgw_route_peers(h->cfg, &env, r, j->batch->arena, box);
    size_t n = g->tr.n - before;
    route_transitions(w, &g->tr, before, r, j->batch->arena, box, it);
    if (g->tr.n > g->ncauses) {
        g->causes = realloc(g->causes, g->tr.n * sizeof *g->causes);
        if (!g->causes) abort();
    }
    for (size_t t = before; t < g->tr.n; t++) g->causes[t] = r->message_id;
    g->ncauses = g->tr.n;
    return n;
}

static void prepare(commit_worker *w, group *g)
{
    id_set seen = {NULL, 16};
    while (seen.cap < 2 * g->nitems + 2) seen.cap *= 2;
    seen.slot = calloc(seen.cap, sizeof *seen.slot);
    if (!seen.slot) abort();
    msgw_errors serr;
    msgw_errors_init(&serr);
    size_t k = 0;
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
            /* a record already stored, or earlier in this group, is a replay: it causes nothing */
            if (id_set_add(&seen, r->message_id) &&
                msgw_store_known(w->host->store, r->message_id, NULL, NULL, &serr) == 0) {
                g->ntransitions[x] += evaluate(w, g, j, r, &g->boxes[k], it);
                it->outbox = g->boxes[k].v;
                it->noutbox = g->boxes[k].n;
            }
            k++;
        }
    }
    msgw_errors_clear(&serr);
    free(seen.slot);
}

static void answer_group(commit_worker *w, group *g, bool committed)
{
    size_t k = 0;
    for (size_t x = 0; x < g->njobs; x++) {
        job *j = g->jobs[x];
        if (!j->batch) continue; /* answered at submit */
        size_t n = msgw_batch_count_ok(j->batch), messages = 0;
        for (size_t i = 0; i < n; i++) messages += g->boxes[k + i].n;
        if (committed && j->envelope && n == 1 && g->items[k].duplicate) {
            j->status = answer_refuse(&j->answer, 409, "envelope.replayed",
                                      "an envelope with this message id was received before: not applied again");
        } else if (committed) {
            j->status = answer_batch(j->batch, g->items + k, g->ntransitions[x], messages, &j->answer);
        } else {
            j->status = answer_refuse(&j->answer, 503, "store.unavailable", "the records could not be stored; retry later");
            msgw_metrics_inc(w->m_refused, 1, j->dept, "503");
        }
        k += n;
        msgw_batch_destroy(&j->batch); /* the answer is all that is left to send */
    }
}

/* What the group committed, on the monitoring feed: only after the commit, so no phantom events. */
static void publish(commit_worker *w, const group *g)
{
    for (size_t i = 0; i < g->nitems; i++) {
        const msgw_store_item *it = &g->items[i];
        msgw_feed_publish(w->pub, "record", msgw_feed_record_event(it->record, it->sender, it->seq, it->duplicate));
    }
    for (size_t t = 0; t < g->tr.n; t++)
        msgw_feed_publish(w->pub, "transition", msgw_feed_transition_event(&g->tr.v[t], g->causes[t]));
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
    size_t k = 0;
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
    size_t k = 0;
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

static void commit_group(commit_worker *w, job *first, size_t njobs)
{
    group g = {0};
    msgw_transitions_init(&g.tr);
    g.njobs = njobs;
    g.jobs = calloc(njobs + 1, sizeof *g.jobs);
    g.ntransitions = calloc(njobs + 1, sizeof *g.ntransitions);
    if (!g.jobs || !g.ntransitions) abort();
    size_t x = 0;
    for (job *j = first; j && x < njobs; j = j->next) {
        g.jobs[x++] = j;
        if (j->batch) g.nitems += msgw_batch_count_ok(j->batch);
    }
    g.items = calloc(g.nitems + 1, sizeof *g.items);
    g.boxes = calloc(g.nitems + 1, sizeof *g.boxes);
    if (!g.items || !g.boxes) abort();
    engine_host *h = w->host;
    pthread_mutex_lock(&h->lock);
    msgw_elig_begin(h->elig);
    prepare(w, &g);
    msgw_errors serr;
    msgw_errors_init(&serr);
    bool ok = g.nitems == 0 || msgw_store_commit(h->store, g.items, g.nitems, msgw_time_now(), &serr);
    if (g.nitems) atomic_store(&w->commit_failed, !ok);
    if (ok) {
        msgw_elig_release(h->elig);
    } else {
        msgw_elig_rollback(h->elig); /* nothing was stored: the engine forgets what it applied */
        msgw_metrics_inc(w->m_failures, 1, "store");
        msgw_log_errors(MSGW_LOG_ERROR, "a group of pushes could not be committed: answered 503, engine undone", &serr);
    }
    pthread_mutex_unlock(&h->lock);
    msgw_errors_clear(&serr);
    if (ok && w->pub) publish(w, &g);
    if (ok && w->audit) audit_group(w, &g);
    if (ok) count_group(w, &g);
    if (ok) wake_deliverers(w, &g);
    answer_group(w, &g, ok);
    for (size_t i = 0; i < g.nitems; i++) free(g.boxes[i].v);
    free(g.boxes);
    free(g.items);
    free(g.ntransitions);
    free(g.jobs);
    msgw_transitions_clear(&g.tr);
    free(g.causes);
}

/* Transitions no record caused, routed and committed as one record-less store item; published on
 * the feed when the worker thread (the publisher's owner) commits them. */
static bool commit_unprompted(commit_worker *w, msgw_transitions *tr, bool on_worker, msgw_errors *e)
{
    if (!tr->n) return true;
    msgw_arena *a = msgw_arena_new(0);
    msgw_outbox_list box = {0};
    msgw_store_item it = {.sender = "gateway"};
    route_transitions(w, tr, 0, NULL, a, &box, &it);
    it.outbox = box.v;
    it.noutbox = box.n;
    bool ok = msgw_store_commit(w->host->store, &it, 1, msgw_time_now(), e);
    if (ok) count_transitions(w, tr);
    else msgw_metrics_inc(w->m_failures, 1, "store");
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

/* Each new day: its sweep, then retention (once a day). */
static void new_day(commit_worker *w)
{
    msgw_date before = w->host->swept;
    engine_host_sweep_to_today(w->host, commit_worker_commit_unprompted, w);
    if (w->host->swept == before) return; /* no new day, or its notices could not be stored yet */
    msgw_errors e;
    msgw_errors_init(&e);
    operations_retention(w->ops, &e);
    msgw_errors_clear(&e);
}

static void *work(void *arg)
{
    commit_worker *w = arg;
    w->pub = msgw_feed_pub_new(w->feed); /* a ZeroMQ socket: made, used and closed here */
    new_day(w);                          /* the days since the last stored record */
    for (;;) {
        size_t n;
        bool idle;
        job *g = receive_queue_take(w->queue, 30, &n, &idle); /* a new day is noticed within 30 s */
        if (idle) {
            new_day(w);
            continue;
        }
        if (!g) break; /* stopping, and everything queued is committed */
        bool again = false;
        if (g->operation) again = operations_run(w->ops, g, commit_worker_commit_unprompted, w);
        else commit_group(w, g, n);
        receive_queue_done(w->queue, g, again);
    }
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
    return w;
}

bool commit_worker_start(commit_worker *w, msgw_errors *e)
{
    w->running = pthread_create(&w->thread, NULL, work, w) == 0;
    if (!w->running) msgw_error_add(e, -1, "ingest", NULL, "ingest.thread", "cannot start the commit thread");
    return w->running;
}

void commit_worker_destroy(commit_worker **wp)
{
    if (!wp || !*wp) return;
    commit_worker *w = *wp;
    if (w->running) pthread_join(w->thread, NULL); /* it commits what is queued first */
    free(w);
    *wp = NULL;
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
