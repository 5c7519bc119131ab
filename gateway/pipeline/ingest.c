/*
 * Ingest (include/msgw/pipeline/ingest.h): decode and authorise on the event loop,
 * then a bounded queue, then one worker thread that evaluates, routes and
 * commits many requests in one transaction, then the answers back on the
 * loop.  The commit comes before the answer: a 202 means the records are on
 * disk.
 *
 * Threads: the queue and the list of answered requests are shared under
 * `lock`; the eligibility engine, the configuration the worker routes with
 * and the store connection are the worker's, under `engine_lock` (the loop
 * takes it only to read a person's verdicts or to reconfigure).  The
 * queue's accounting (records, bytes, per department) lives on the loop
 * thread alone: it grows in submit and shrinks when the answers come back.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "msgw/decode/decode.h"
#include "msgw/base/idmap.h"
#include "msgw/store/audit.h"
#include "msgw/model/canon.h"
#include "msgw/pipeline/doorbell.h"
#include "msgw/pipeline/feed.h"
#include "msgw/base/idnum.h"
#include "msgw/pipeline/ingest.h"
#include "msgw/base/log.h"
#include "msgw/base/metrics.h"
#include "msgw/pipeline/peer.h"
#include "msgw/pipeline/route.h"

enum { REEVALUATE_STEP = 2000, MAX_OPERATIONS = 16 };

/* A long operation an administrator started (a re-evaluation), and how far it got. */
typedef struct operation {
    int id; /* 0: a free slot */
    const char *kind; /* "reevaluate", "retention" */
    char service[64]; /* empty: every service */
    const char *state; /* "queued", "running", "done", "failed", "interrupted" */
    size_t done, total, transitions;
    msgw_time started, finished;
} operation;

typedef struct job {
    struct job *next;
    int reevaluate; /* the operation id of an administrator's re-evaluation (not records), 0: records */
    int retention;  /* the operation id of an administrator's retention run */
    size_t reevaluated; /* the re-evaluation's next person */
    char dept[64];
    msgw_batch *batch; /* NULL for a request answered at submit (ordered transports) */
    char digest[65];   /* SHA-256 of the bytes received */
    size_t nrecords, bytes;
    msgw_ingest_done_fn done;
    void *ud;
    int status;
    msgw_buf answer;
    msgw_time submitted; /* for msgw_ingest_commit_seconds */
    msgw_envelope *envelope; /* a peer's envelope (its record is the batch's), NULL otherwise */
    char *envelope_body;     /* the envelope as received, kept as evidence */
    size_t envelope_len;
} job;

typedef struct job_list {
    job *head, *tail;
} job_list;

typedef struct dept_load {
    char id[64];
    size_t records;
} dept_load;

struct msgw_ingest {
    const msgw_config *cfg;
    const msgw_adapter_ctx *ctx;
    msgw_store *store;
    const msgw_catalogue *cat;
    msgw_elig *elig;
    pthread_mutex_t engine_lock;
    msgw_feed *feed;     /* NULL: no monitoring feed */
    msgw_doorbell *bell; /* rung when a commit queued outbox messages; may be NULL */
    msgw_date swept;     /* the engine's state is current up to this day (the daily sweep) */
    atomic_bool commit_failed; /* the last commit failed (/readyz) */
    msgw_audit *audit;         /* every push is audited once committed; may be NULL */
    const msgw_peers *peers;   /* seals envelopes for peer gateways; NULL: no peers */
    msgw_feed_pub *pub;  /* the worker's publisher, made and closed by the worker */
    /* docs/metrics.md; NULL families without a registry */
    msgw_metric *m_received, *m_errors, *m_transitions, *m_commit, *m_refused;

    pthread_t worker;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job_list queue, answered;
    size_t group_records; /* copied from the configuration under lock: the worker reads it there */
    bool stop;
    operation ops[MAX_OPERATIONS]; /* the latest, under lock */
    int last_op;

    int notify_fd; /* eventfd: the worker's "answers are ready" */
    struct event *notify_ev;
    void (*progress)(void *);
    void *progress_ud;

    /* loop-thread accounting */
    size_t in_flight, queued_records, queued_bytes;
    dept_load *loads;
    size_t nloads;
    msgw_time rate_since;
    size_t rate_count;
    double rate; /* records answered per second, last full window */
};

static void list_push(job_list *l, job *j)
{
    j->next = NULL;
    if (l->tail) l->tail->next = j;
    else l->head = j;
    l->tail = j;
}

static job *list_take_all(job_list *l)
{
    job *h = l->head;
    l->head = l->tail = NULL;
    return h;
}

static void job_free(job *j)
{
    free(j->envelope);
    free(j->envelope_body);
    msgw_batch_destroy(&j->batch);
    msgw_buf_free(&j->answer);
    free(j);
}

/* ---- answers ---------------------------------------------------------- */

static json_t *error_json(const msgw_error *e)
{
    json_t *o = json_object();
    if (e->location) json_object_set_new(o, "location", json_string(e->location));
    if (e->field) json_object_set_new(o, "field", json_string(e->field));
    json_object_set_new(o, "rule", json_string(e->rule ? e->rule : ""));
    json_object_set_new(o, "message", json_string(e->message ? e->message : ""));
    return o;
}

static int answer(msgw_buf *out, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    msgw_buf_puts(out, s);
    msgw_buf_puts(out, "\n");
    free(s);
    json_decref(body);
    return status;
}

static int refuse(msgw_buf *out, int status, const char *rule, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int refuse(msgw_buf *out, int status, const char *rule, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *b = json_object();
    json_object_set_new(b, "status", json_integer(status));
    json_t *errs = json_array();
    json_t *e = json_object();
    json_object_set_new(e, "rule", json_string(rule));
    json_object_set_new(e, "message", json_string(msg));
    json_array_append_new(errs, e);
    json_object_set_new(b, "errors", errs);
    return answer(out, status, b);
}

/* Each record's outcome; items are the committed ones, in batch order. */
static json_t *outcomes_json(const msgw_batch *b, const msgw_store_item *items)
{
    json_t *recs = json_array();
    size_t k = 0;
    for (size_t i = 0; i < b->nitems; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "index", json_integer((json_int_t)i));
        if (b->items[i].loc) json_object_set_new(o, "location", json_string(b->items[i].loc));
        if (b->items[i].record && items) {
            const msgw_store_item *it = &items[k++];
            json_object_set_new(o, "message_id", json_string(it->record->message_id));
            json_object_set_new(o, "outcome", json_string(it->duplicate ? "duplicate" : "stored"));
            json_object_set_new(o, "seq", json_integer(it->seq));
        } else {
            json_object_set_new(o, "outcome", json_string("rejected"));
        }
        /* errors rejected the record; warnings (a retired region code ...) did not */
        json_t *errs = json_array(), *warns = json_array();
        for (size_t x = 0; x < b->errors.n; x++)
            if (b->errors.v[x].record == (int)i)
                json_array_append_new(b->errors.v[x].severity == MSGW_SEV_ERROR ? errs : warns,
                                      error_json(&b->errors.v[x]));
        if (json_array_size(errs)) json_object_set_new(o, "errors", errs);
        else json_decref(errs);
        if (json_array_size(warns)) json_object_set_new(o, "warnings", warns);
        else json_decref(warns);
        json_array_append_new(recs, o);
    }
    return recs;
}

/* The answer to a request: 202 when any record was stored, else 400 / 422 with every error. */
static int batch_answer(const msgw_batch *b, const msgw_store_item *items, size_t transitions, size_t messages,
                        msgw_buf *out)
{
    size_t nok = items ? msgw_batch_count_ok(b) : 0;
    int status = nok ? 202 : (b->errors.doc_failed || b->nitems == 0 ? 400 : 422);
    json_t *res = json_object();
    json_object_set_new(res, "status", json_integer(status));
    json_object_set_new(res, "records", outcomes_json(b, items));
    json_t *doc_errs = json_array(), *doc_warns = json_array();
    for (size_t x = 0; x < b->errors.n; x++)
        if (b->errors.v[x].record < 0)
            json_array_append_new(b->errors.v[x].severity == MSGW_SEV_ERROR ? doc_errs : doc_warns,
                                  error_json(&b->errors.v[x]));
    if (json_array_size(doc_errs)) json_object_set_new(res, "errors", doc_errs);
    else json_decref(doc_errs);
    if (json_array_size(doc_warns)) json_object_set_new(res, "warnings", doc_warns);
    else json_decref(doc_warns);
    json_object_set_new(res, "transitions", json_integer((json_int_t)transitions));
    json_object_set_new(res, "messages", json_integer((json_int_t)messages));
    return answer(out, status, res);
}

/* ---- the engine ------------------------------------------------------- */

/* The days after `swept` through `through`, swept without notices: the notices of those days were
 * routed when they happened (a rebuild replays history). */
static void sweep_silently(msgw_ingest *ing, msgw_date through)
{
    msgw_errors e;
    msgw_errors_init(&e);
    for (msgw_date d = ing->swept + 1; d <= through; d++) {
        msgw_transitions ignored;
        msgw_transitions_init(&ignored);
        msgw_elig_sweep(ing->elig, d, &ignored, &e);
        msgw_transitions_clear(&ignored);
    }
    if (through > ing->swept) ing->swept = through;
    msgw_errors_clear(&e);
}

/* Replays one stored record into the engine (no transitions: they were routed when it arrived). */
static bool replay_one(void *ud, int64_t seq, const char *canonical, msgw_time recorded_at)
{
    (void)seq;
    msgw_ingest *ing = ud;
    json_t *j = json_loads(canonical, 0, NULL);
    msgw_batch *b = msgw_batch_new();
    if (j) msgw_canon_decode(ing->ctx->dict, j, b);
    if (b->nitems == 1 && b->items[0].record && !b->errors.nerrors) {
        msgw_record *r = b->items[0].record;
        r->recorded_at = recorded_at;
        msgw_transitions ignored;
        msgw_transitions_init(&ignored);
        /* evaluated on the day it arrived, as it was then, after that day's sweep as it happened
         * then; the sweep brings the state to today */
        msgw_date day = msgw_date_at(recorded_at), today = msgw_date_today();
        if (day > today) day = today;
        if (ing->swept == MSGW_DATE_NONE) ing->swept = day;
        sweep_silently(ing, day);
        msgw_elig_apply(ing->elig, r, day, &ignored, NULL);
        msgw_transitions_clear(&ignored);
    }
    msgw_batch_destroy(&b);
    json_decref(j);
    return true;
}

/*
 * The engine from the store: every record replayed on the day it was
 * recorded.  The state is then current up to the last of those days
 * (`swept`); the worker's catch-up sweep (sweep_to_today) re-evaluates the
 * days since — birthdays and facts that ended while the gateway was down
 * are notified then.  Days already swept before a restart give the same
 * event ids again, which the outbox does not queue twice.
 */
static bool restore_one_since(void *ud, const msgw_store_verdict *v)
{
    msgw_elig_restore_since(ud, v->person, v->service, v->since);
    return true;
}

static bool rebuild_engine(msgw_ingest *ing, msgw_errors *e)
{
    msgw_elig_destroy(&ing->elig);
    ing->elig = msgw_elig_new(ing->cat);
    msgw_elig_serve(ing->elig, ing->cfg->region);
    ing->swept = MSGW_DATE_NONE;
    bool ok = msgw_store_each_record(ing->store, replay_one, ing, e);
    msgw_date today = msgw_date_today();
    if (ing->swept == MSGW_DATE_NONE) ing->swept = today; /* nothing stored yet */
    /* the days the daily sweep had reached were notified then; only those after are caught up */
    int64_t reached = 0;
    if (ok && msgw_store_meta_get(ing->store, "swept", &reached, e))
        sweep_silently(ing, reached < today ? (msgw_date)reached : today);
    /* records forgotten by retention took the history of when verdicts began with them; the
     * notified dates are the truth */
    return ok && msgw_store_each_verdict(ing->store, NULL, restore_one_since, ing->elig, e);
}

/* ---- the worker: evaluate, route, commit a group ---------------------- */

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
    size_t *ntransitions;  /* per job */
    msgw_transitions tr;   /* all of the group's, published on the feed once committed */
    const char **causes;   /* the message id that caused each of tr */
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
static void route_transitions(msgw_ingest *ing, const msgw_transitions *tr, size_t from, const msgw_record *cause,
                              msgw_arena *a, msgw_outbox_list *box, msgw_store_item *it)
{
    msgw_store_verdict *v = msgw_arena_alloc(a, (tr->n - from + 1) * sizeof *v);
    for (size_t t = from; t < tr->n; t++) {
        msgw_route_transition(ing->cfg, ing->ctx, &tr->v[t], cause, a, box);
        verdict_of(ing->elig, &tr->v[t], a, &v[t - from]);
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
static size_t evaluate(msgw_ingest *ing, group *g, job *j, msgw_record *r, msgw_outbox_list *box,
                       msgw_store_item *it)
{
    size_t before = g->tr.n;
    msgw_elig_apply(ing->elig, r, msgw_date_today(), &g->tr, NULL);
    msgw_route_record(ing->cfg, ing->ctx, r, j->dept, j->batch->arena, box);
    msgw_route_env env = {.peers = ing->peers, .regions = person_regions, .ud = ing->elig};
    if (j->envelope) {
        env.from_peer = j->dept;
        env.hops = (const char(*)[16])j->envelope->hops;
        env.nhops = j->envelope->nhops;
    }
    msgw_route_peers(ing->cfg, &env, r, j->batch->arena, box);
    size_t n = g->tr.n - before;
    route_transitions(ing, &g->tr, before, r, j->batch->arena, box, it);
    if (g->tr.n > g->ncauses) {
        g->causes = realloc(g->causes, g->tr.n * sizeof *g->causes);
        if (!g->causes) abort();
    }
    for (size_t t = before; t < g->tr.n; t++) g->causes[t] = r->message_id;
    g->ncauses = g->tr.n;
    return n;
}

static void prepare(msgw_ingest *ing, group *g)
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
            if (id_set_add(&seen, r->message_id) && msgw_store_known(ing->store, r->message_id, NULL, NULL, &serr) == 0) {
                g->ntransitions[x] += evaluate(ing, g, j, r, &g->boxes[k], it);
                it->outbox = g->boxes[k].v;
                it->noutbox = g->boxes[k].n;
            }
            k++;
        }
    }
    msgw_errors_clear(&serr);
    free(seen.slot);
}

static void answer_group(msgw_ingest *ing, group *g, bool committed)
{
    size_t k = 0;
    for (size_t x = 0; x < g->njobs; x++) {
        job *j = g->jobs[x];
        if (!j->batch) continue; /* answered at submit */
        size_t n = msgw_batch_count_ok(j->batch), messages = 0;
        for (size_t i = 0; i < n; i++) messages += g->boxes[k + i].n;
        if (committed && j->envelope && n == 1 && g->items[k].duplicate) {
            j->status = refuse(&j->answer, 409, "envelope.replayed",
                               "an envelope with this message id was received before: not applied again");
        } else if (committed) {
            j->status = batch_answer(j->batch, g->items + k, g->ntransitions[x], messages, &j->answer);
        } else {
            j->status = refuse(&j->answer, 503, "store.unavailable", "the records could not be stored; retry later");
            msgw_metrics_inc(ing->m_refused, 1, j->dept, "503");
        }
        k += n;
        msgw_batch_destroy(&j->batch); /* the answer is all that is left to send */
    }
}

/* What the group committed, on the monitoring feed: only after the commit, so no phantom events. */
static void publish(msgw_ingest *ing, const group *g)
{
    for (size_t i = 0; i < g->nitems; i++) {
        const msgw_store_item *it = &g->items[i];
        msgw_feed_publish(ing->pub, "record",
                          msgw_feed_record_event(it->record, it->sender, it->seq, it->duplicate));
    }
    for (size_t t = 0; t < g->tr.n; t++)
        msgw_feed_publish(ing->pub, "transition", msgw_feed_transition_event(&g->tr.v[t], g->causes[t]));
}

/* New outbox messages: the deliverers need not wait for their next look at the store. */
static void wake_deliverers(msgw_ingest *ing, const group *g)
{
    for (size_t i = 0; i < g->nitems; i++)
        if (g->boxes[i].n) {
            msgw_doorbell_ring(ing->bell);
            return;
        }
}

/* One audit entry per committed request: who pushed what (the body's digest), and each record's
 * outcome — message ids scrubbed of ID numbers, no bodies. */
static void audit_group(msgw_ingest *ing, const group *g)
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
            msgw_audit_append(ing->audit, "peer",
                              msgw_envelope_audit(j->envelope, stored ? "received" : "replayed", j->dept, NULL), &e);
            json_decref(f);
        } else {
            msgw_audit_append(ing->audit, "push", f, &e);
        }
        msgw_errors_clear(&e);
        k += n;
    }
}

static const char *transition_kind(msgw_transition_kind k)
{
    return k == MSGW_TR_NEW ? "NEW" : k == MSGW_TR_LOST ? "LOST" : "CHANGED";
}

static void count_transitions(msgw_ingest *ing, const msgw_transitions *tr)
{
    for (size_t t = 0; t < tr->n; t++)
        msgw_metrics_inc(ing->m_transitions, 1, tr->v[t].service->code, transition_kind(tr->v[t].kind));
}

/* The committed group's records (stored or duplicate), transitions and each request's latency. */
static void count_group(msgw_ingest *ing, const group *g)
{
    size_t k = 0;
    msgw_time now = msgw_time_now();
    for (size_t x = 0; x < g->njobs; x++) {
        const job *j = g->jobs[x];
        if (!j->batch) continue;
        size_t n = msgw_batch_count_ok(j->batch);
        for (size_t i = 0; i < n; i++) {
            const msgw_store_item *it = &g->items[k + i];
            msgw_metrics_inc(ing->m_received, 1, j->dept, it->record->kind, it->duplicate ? "duplicate" : "stored");
        }
        msgw_metrics_observe(ing->m_commit, (double)(now - j->submitted) / 1e6);
        k += n;
    }
    count_transitions(ing, &g->tr);
}

static void commit_group(msgw_ingest *ing, job *first, size_t njobs)
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
    pthread_mutex_lock(&ing->engine_lock);
    msgw_elig_begin(ing->elig);
    prepare(ing, &g);
    msgw_errors serr;
    msgw_errors_init(&serr);
    bool ok = g.nitems == 0 || msgw_store_commit(ing->store, g.items, g.nitems, msgw_time_now(), &serr);
    if (g.nitems) atomic_store(&ing->commit_failed, !ok);
    if (ok) msgw_elig_release(ing->elig);
    else msgw_elig_rollback(ing->elig); /* nothing was stored: the engine forgets what it applied */
    pthread_mutex_unlock(&ing->engine_lock);
    msgw_errors_clear(&serr);
    if (ok && ing->pub) publish(ing, &g);
    if (ok && ing->audit) audit_group(ing, &g);
    if (ok) count_group(ing, &g);
    if (ok) wake_deliverers(ing, &g);
    answer_group(ing, &g, ok);
    for (size_t i = 0; i < g.nitems; i++) free(g.boxes[i].v);
    free(g.boxes);
    free(g.items);
    free(g.ntransitions);
    free(g.jobs);
    msgw_transitions_clear(&g.tr);
    free(g.causes);
}

/* Takes queued requests up to queue.group_records records (at least one request). */
/*
 * Transitions no record caused — the daily sweep (birthdays, facts that
 * end), a new parameter value — are routed and committed like a record's,
 * as one record-less store item, with the engine lock held.  On the worker
 * thread they are also published on the feed.
 */
static bool commit_unprompted(msgw_ingest *ing, msgw_transitions *tr, bool on_worker, msgw_errors *e)
{
    if (!tr->n) return true;
    msgw_arena *a = msgw_arena_new(0);
    msgw_outbox_list box = {0};
    msgw_store_item it = {.sender = "gateway"};
    route_transitions(ing, tr, 0, NULL, a, &box, &it);
    it.outbox = box.v;
    it.noutbox = box.n;
    bool ok = msgw_store_commit(ing->store, &it, 1, msgw_time_now(), e);
    if (ok) count_transitions(ing, tr);
    if (ok && on_worker)
        for (size_t t = 0; t < tr->n; t++)
            msgw_feed_publish(ing->pub, "transition", msgw_feed_transition_event(&tr->v[t], NULL));
    if (ok && box.n) msgw_doorbell_ring(ing->bell);
    free(box.v);
    msgw_arena_destroy(&a);
    return ok;
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
static int64_t prune_records(msgw_ingest *ing, msgw_time before, msgw_errors *e)
{
    msgw_idmap *live = msgw_idmap_new();
    msgw_elig_each_live_record(ing->elig, msgw_date_today(), note_live, live);
    int64_t removed = 0;
    bool ok = msgw_store_prune_records(ing->store, before, is_live, live, &removed, e);
    msgw_idmap_destroy(&live);
    if (ok && removed) rebuild_engine(ing, e);
    return removed;
}

/*
 * Retention (docs/store.md): delivered messages, old dead letters, the
 * transition log, records no longer needed, audit segments; the space goes
 * back to the file system.  Once a day, and when an administrator asks.
 * Returns how many rows went.
 */
static int64_t apply_retention(msgw_ingest *ing, msgw_errors *e)
{
    const msgw_time day = 86400LL * 1000000, now = msgw_time_now();
    const msgw_config *c = ing->cfg;
    size_t audit_removed = 0;
    if (ing->audit) msgw_audit_prune_expired(ing->audit, &audit_removed, e);
    int64_t removed = 0;
    pthread_mutex_lock(&ing->engine_lock); /* the store connection is the worker's */
    msgw_store_retention r = {
        .delivered_before = now - (msgw_time)c->retention_delivered_days * day,
        .dead_before = c->retention_dead_days ? now - (msgw_time)c->retention_dead_days * day : 0,
        .transitions_before = c->retention_transitions_days ? now - (msgw_time)c->retention_transitions_days * day : 0};
    msgw_store_prune(ing->store, &r, &removed, e);
    removed += prune_records(ing, now - (msgw_time)c->retention_records_days * day, e);
    pthread_mutex_unlock(&ing->engine_lock);
    return removed;
}

/* The daily sweep, for every day since the last one (a gateway that was down catches up). */
static void sweep_to_today(msgw_ingest *ing)
{
    msgw_date today = msgw_date_today();
    if (today <= ing->swept) return;
    msgw_errors e;
    msgw_errors_init(&e);
    pthread_mutex_lock(&ing->engine_lock);
    bool ok = true;
    for (msgw_date d = ing->swept + 1; d <= today && ok; d++) {
        msgw_transitions tr;
        msgw_transitions_init(&tr);
        msgw_elig_begin(ing->elig);
        msgw_elig_sweep(ing->elig, d, &tr, &e);
        ok = commit_unprompted(ing, &tr, true, &e);
        if (ok) {
            msgw_elig_release(ing->elig);
            ing->swept = d;
        } else {
            /* the day's notices were not stored: undone, and swept again at the next try */
            msgw_elig_rollback(ing->elig);
            msgw_log_errors(MSGW_LOG_ERROR, "the sweep's notices could not be stored: retried later", &e);
        }
        msgw_transitions_clear(&tr);
    }
    if (ok) msgw_store_meta_set(ing->store, "swept", today, &e);
    pthread_mutex_unlock(&ing->engine_lock);
    apply_retention(ing, &e); /* once a day */
    msgw_errors_clear(&e);
}

/* The operation with this id (under lock), or NULL when it has been forgotten. */
static operation *operation_of(msgw_ingest *ing, int id)
{
    operation *o = &ing->ops[id % MAX_OPERATIONS];
    return o->id == id ? o : NULL;
}

/*
 * One step of an administrator's re-evaluation: the next REEVALUATE_STEP
 * persons on today's date, their transitions routed and committed like the
 * sweep's.  Steps are queued behind the pushes that arrived meanwhile, so a
 * long re-evaluation never holds the pushes back; its progress is readable
 * at any time (msgw_ingest_operation).  Returns true when it is finished.
 */
static bool reevaluate_step(msgw_ingest *ing, job *j)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_transitions tr;
    msgw_transitions_init(&tr);
    pthread_mutex_lock(&ing->lock);
    operation *o = operation_of(ing, j->reevaluate);
    char service[64];
    snprintf(service, sizeof service, "%s", o ? o->service : "");
    bool stopping = ing->stop;
    if (o && !o->started) o->started = msgw_time_now();
    if (o) o->state = "running";
    pthread_mutex_unlock(&ing->lock);
    bool ok = true;
    size_t total = 0;
    if (!stopping) {
        pthread_mutex_lock(&ing->engine_lock);
        total = msgw_elig_count_persons(ing->elig);
        size_t to = j->reevaluated + REEVALUATE_STEP < total ? j->reevaluated + REEVALUATE_STEP : total;
        msgw_elig_begin(ing->elig);
        msgw_elig_reevaluate_range(ing->elig, msgw_date_today(), service[0] ? service : NULL, j->reevaluated, to, &tr,
                                   &e);
        ok = commit_unprompted(ing, &tr, true, &e);
        if (ok) msgw_elig_release(ing->elig);
        else msgw_elig_rollback(ing->elig); /* the store is the truth */
        pthread_mutex_unlock(&ing->engine_lock);
        j->reevaluated = to;
    }
    bool finished = stopping || !ok || j->reevaluated >= total;
    pthread_mutex_lock(&ing->lock);
    if ((o = operation_of(ing, j->reevaluate))) {
        o->done = j->reevaluated;
        o->total = total;
        o->transitions += tr.n;
        o->state = stopping ? "interrupted" : !ok ? "failed" : finished ? "done" : "running";
        if (finished) o->finished = msgw_time_now();
    }
    pthread_mutex_unlock(&ing->lock);
    msgw_transitions_clear(&tr);
    msgw_errors_clear(&e);
    return finished;
}

/* An administrator's retention run, now instead of at the day's end. */
static void retention_run(msgw_ingest *ing, job *j)
{
    msgw_errors e;
    msgw_errors_init(&e);
    pthread_mutex_lock(&ing->lock);
    operation *o = operation_of(ing, j->retention);
    if (o) {
        o->state = "running";
        o->started = msgw_time_now();
    }
    pthread_mutex_unlock(&ing->lock);
    int64_t removed = apply_retention(ing, &e);
    pthread_mutex_lock(&ing->lock);
    if ((o = operation_of(ing, j->retention))) {
        o->state = e.n ? "failed" : "done";
        o->done = o->total = (size_t)removed;
        o->finished = msgw_time_now();
    }
    pthread_mutex_unlock(&ing->lock);
    msgw_errors_clear(&e);
}

static job *take_group(msgw_ingest *ing, size_t *njobs)
{
    job *first = ing->queue.head, *last = NULL;
    size_t records = 0, n = 0;
    for (job *j = first; j; j = j->next) {
        if (n && (j->reevaluate || first->reevaluate || j->retention || first->retention))
            break; /* an administrator's operation runs alone */
        if (n && records + j->nrecords > ing->group_records) break;
        records += j->nrecords;
        last = j;
        n++;
    }
    ing->queue.head = last->next;
    if (!ing->queue.head) ing->queue.tail = NULL;
    last->next = NULL;
    *njobs = n;
    return first;
}

static void *work(void *arg)
{
    msgw_ingest *ing = arg;
    ing->pub = msgw_feed_pub_new(ing->feed); /* a ZeroMQ socket: made, used and closed here */
    sweep_to_today(ing);                     /* the days since the last stored record */
    pthread_mutex_lock(&ing->lock);
    for (;;) {
        while (!ing->queue.head && !ing->stop) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 30; /* a new day is noticed within 30 s */
            if (pthread_cond_timedwait(&ing->wake, &ing->lock, &until) != 0) {
                pthread_mutex_unlock(&ing->lock);
                sweep_to_today(ing);
                pthread_mutex_lock(&ing->lock);
            }
        }
        if (!ing->queue.head) break; /* stopping, and everything queued is committed */
        size_t n;
        job *g = take_group(ing, &n);
        pthread_mutex_unlock(&ing->lock);
        bool again = g->reevaluate && !reevaluate_step(ing, g);
        if (g->retention) retention_run(ing, g);
        else if (!g->reevaluate) commit_group(ing, g, n);
        pthread_mutex_lock(&ing->lock);
        for (job *j = g, *next; j; j = next) {
            next = j->next;
            list_push(again ? &ing->queue : &ing->answered, j); /* a step done: the rest behind the pushes */
        }
        uint64_t one = 1;
        if (write(ing->notify_fd, &one, sizeof one) < 0) { /* the counter cannot overflow in practice */
        }
    }
    pthread_mutex_unlock(&ing->lock);
    msgw_feed_pub_destroy(&ing->pub);
    return NULL;
}

/* ---- the loop side ---------------------------------------------------- */

static dept_load *load_of(msgw_ingest *ing, const char *dept)
{
    for (size_t i = 0; i < ing->nloads; i++)
        if (strcmp(ing->loads[i].id, dept) == 0) return &ing->loads[i];
    ing->loads = realloc(ing->loads, (ing->nloads + 1) * sizeof *ing->loads);
    if (!ing->loads) abort();
    dept_load *l = &ing->loads[ing->nloads++];
    snprintf(l->id, sizeof l->id, "%s", dept);
    l->records = 0;
    return l;
}

static void account(msgw_ingest *ing, const job *j, int sign)
{
    dept_load *l = load_of(ing, j->dept);
    if (sign > 0) {
        ing->in_flight++;
        ing->queued_records += j->nrecords;
        ing->queued_bytes += j->bytes;
        l->records += j->nrecords;
    } else {
        ing->in_flight--;
        ing->queued_records -= j->nrecords;
        ing->queued_bytes -= j->bytes;
        l->records -= j->nrecords;
        ing->rate_count += j->nrecords;
    }
}

static void measure_rate(msgw_ingest *ing)
{
    msgw_time now = msgw_time_now();
    if (now - ing->rate_since < 1000000) return;
    ing->rate = (double)ing->rate_count * 1e6 / (double)(now - ing->rate_since);
    ing->rate_since = now;
    ing->rate_count = 0;
}

static void on_answers(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    msgw_ingest *ing = arg;
    uint64_t n;
    if (read(fd, &n, sizeof n) < 0) { /* EAGAIN: another wake-up already took them */
    }
    pthread_mutex_lock(&ing->lock);
    job *done = list_take_all(&ing->answered);
    pthread_mutex_unlock(&ing->lock);
    for (job *j = done, *next; j; j = next) {
        next = j->next;
        account(ing, j, -1);
        j->done(j->ud, j->status, j->answer.data ? j->answer.data : "", j->answer.len);
        job_free(j);
    }
    measure_rate(ing);
    if (ing->progress) ing->progress(ing->progress_ud);
}

unsigned msgw_ingest_retry_after(const msgw_ingest *ing)
{
    double s = ing->rate > 0 ? (double)ing->queued_records / ing->rate : 1;
    return s < 1 ? 1 : s > 60 ? 60 : (unsigned)(s + 0.999);
}

bool msgw_ingest_saturated(const msgw_ingest *ing)
{
    return ing->queued_records >= ing->cfg->queue_max_records || ing->queued_bytes >= ing->cfg->queue_max_bytes;
}

size_t msgw_ingest_in_flight(const msgw_ingest *ing)
{
    return ing->in_flight;
}

void msgw_ingest_on_progress(msgw_ingest *ing, void (*cb)(void *ud), void *ud)
{
    ing->progress = cb;
    ing->progress_ud = ud;
}

/* 429 or 503 when this request would overfill the queue, else 0. */
static int overload(msgw_ingest *ing, const char *dept, size_t records, size_t bytes, msgw_buf *out)
{
    const msgw_config *c = ing->cfg;
    if (ing->queued_records && (ing->queued_records + records > c->queue_max_records ||
                                ing->queued_bytes + bytes > c->queue_max_bytes))
        return refuse(out, 503, "ingress.saturated",
                      "the gateway is saturated (%zu records waiting to be committed); retry after %u s",
                      ing->queued_records, msgw_ingest_retry_after(ing));
    size_t share = c->queue_max_records * c->queue_department_percent / 100, mine = load_of(ing, dept)->records;
    if (mine && mine + records > (share ? share : 1))
        return refuse(out, 429, "ingress.department_share",
                      "department %s already has %zu records waiting (its share is %zu); retry after %u s", dept,
                      mine, share, msgw_ingest_retry_after(ing));
    return 0;
}

/* Decodes and authorises: 0 when the batch has records to commit, else the status answered in out. */
static int screen(msgw_ingest *ing, const msgw_department *dept, const char *media_type, const char *body, size_t len,
                  msgw_batch *b, msgw_buf *out)
{
    const msgw_adapter *ad = media_type ? msgw_adapter_for_media_type(media_type) : NULL;
    if (!ad)
        return refuse(out, 415, "ingress.media_type", "media type %s is not one the gateway reads (see msgw adapters)",
                      media_type ? media_type : "(none)");
    if (msgw_ingest_saturated(ing))
        return overload(ing, dept->id, ing->cfg->queue_max_records, ing->cfg->queue_max_bytes, out);
    /* a department speaks for itself; a peer's records keep the origin region's departments */
    msgw_decode_as(ing->ctx, ad, media_type, dept->peer_region ? NULL : dept->id, body, len, b);
    for (size_t i = 0; i < b->nitems; i++) {
        const msgw_record *r = b->items[i].record;
        if (r && !msgw_department_may_push(dept, r->kind))
            return refuse(out, 403, "ingress.kind", "department %s may not push %s records (record %zu)", dept->id,
                          r->kind, i + 1);
    }
    if (msgw_batch_count_ok(b) == 0) return batch_answer(b, NULL, 0, 0, out);
    return overload(ing, dept->id, msgw_batch_count_ok(b), len + msgw_arena_used(b->arena), out);
}

/* At submit, on the loop thread: the records rejected, the errors by rule, a request refused. */
static void count_screened(msgw_ingest *ing, const char *dept, const msgw_batch *b, int status)
{
    if (status == 403 || status == 413 || status == 415 || status == 429 || status == 503) {
        char code[8];
        snprintf(code, sizeof code, "%d", status);
        msgw_metrics_inc(ing->m_refused, 1, dept, code);
        return; /* its records were never judged */
    }
    for (size_t x = 0; x < b->errors.n; x++)
        if (b->errors.v[x].severity == MSGW_SEV_ERROR)
            msgw_metrics_inc(ing->m_errors, 1, b->errors.v[x].rule ? b->errors.v[x].rule : "");
    for (size_t i = 0; i < b->nitems; i++)
        if (!b->items[i].record) msgw_metrics_inc(ing->m_received, 1, dept, "unknown", "rejected");
}

static void enqueue(msgw_ingest *ing, job *j)
{
    account(ing, j, +1);
    pthread_mutex_lock(&ing->lock);
    list_push(&ing->queue, j);
    pthread_cond_signal(&ing->wake);
    pthread_mutex_unlock(&ing->lock);
}

int msgw_ingest_submit(msgw_ingest *ing, const msgw_department *dept, const char *media_type, const char *body,
                       size_t len, bool ordered, msgw_ingest_done_fn done, void *ud, msgw_buf *out)
{
    job *j = calloc(1, sizeof *j);
    if (!j) abort();
    snprintf(j->dept, sizeof j->dept, "%s", dept->id);
    j->done = done;
    j->ud = ud;
    msgw_buf_init(&j->answer);
    j->batch = msgw_batch_new();
    j->submitted = msgw_time_now();
    int status = screen(ing, dept, media_type, body, len, j->batch, ordered ? &j->answer : out);
    count_screened(ing, dept->id, j->batch, status);
    if (status) {
        msgw_batch_destroy(&j->batch);
        if (!ordered) {
            job_free(j);
            return status;
        }
        j->status = status; /* travels through the queue so it keeps its place in the order */
    } else {
        msgw_sha256_hex(body, len, j->digest);
        j->nrecords = msgw_batch_count_ok(j->batch);
        j->bytes = len + msgw_arena_used(j->batch->arena);
    }
    enqueue(ing, j);
    return 0;
}

int msgw_ingest_submit_envelope(msgw_ingest *ing, const msgw_department *peer, const msgw_envelope *hdr,
                                const char *record, size_t record_len, const char *envelope, size_t envelope_len,
                                msgw_ingest_done_fn done, void *ud, msgw_buf *out)
{
    job *j = calloc(1, sizeof *j);
    if (!j) abort();
    snprintf(j->dept, sizeof j->dept, "%s", peer->id);
    j->done = done;
    j->ud = ud;
    msgw_buf_init(&j->answer);
    j->batch = msgw_batch_new();
    j->submitted = msgw_time_now();
    int status = screen(ing, peer, "application/vnd.msgw.canonical+json", record, record_len, j->batch, out);
    count_screened(ing, peer->id, j->batch, status);
    if (!status && msgw_batch_count_ok(j->batch) != 1)
        status = refuse(out, 422, "envelope.record", "an envelope carries exactly one valid record");
    if (status) {
        msgw_batch_destroy(&j->batch);
        job_free(j);
        return status;
    }
    j->envelope = malloc(sizeof *j->envelope);
    j->envelope_body = malloc(envelope_len + 1);
    if (!j->envelope || !j->envelope_body) abort();
    *j->envelope = *hdr;
    memcpy(j->envelope_body, envelope, envelope_len);
    j->envelope_body[envelope_len] = '\0';
    j->envelope_len = envelope_len;
    msgw_sha256_hex(envelope, envelope_len, j->digest);
    j->nrecords = 1;
    j->bytes = envelope_len + msgw_arena_used(j->batch->arena);
    enqueue(ing, j);
    return 0;
}

void msgw_ingest_set_peers(msgw_ingest *ing, const msgw_peers *peers)
{
    pthread_mutex_lock(&ing->engine_lock); /* the worker reads it while routing */
    ing->peers = peers;
    pthread_mutex_unlock(&ing->engine_lock);
}

static void operation_finished(void *ud, int status, const char *answer, size_t len)
{
    (void)ud;
    (void)status;
    (void)answer;
    (void)len; /* progress and outcome are read with msgw_ingest_operation */
}

/* A job for an administrator's operation of this kind, queued; returns its id. */
static int start_operation(msgw_ingest *ing, const char *kind, const char *service)
{
    job *j = calloc(1, sizeof *j);
    if (!j) abort();
    snprintf(j->dept, sizeof j->dept, "(administrator)");
    j->done = operation_finished;
    msgw_buf_init(&j->answer);
    pthread_mutex_lock(&ing->lock);
    int id = ++ing->last_op;
    if (strcmp(kind, "retention") == 0) j->retention = id;
    else j->reevaluate = id;
    operation *o = &ing->ops[id % MAX_OPERATIONS];
    *o = (operation){.id = id, .kind = kind, .state = "queued"};
    snprintf(o->service, sizeof o->service, "%s", service ? service : "");
    pthread_mutex_unlock(&ing->lock);
    enqueue(ing, j);
    return id;
}

int msgw_ingest_reevaluate(msgw_ingest *ing, const char *service)
{
    return start_operation(ing, "reevaluate", service);
}

int msgw_ingest_retention(msgw_ingest *ing)
{
    return start_operation(ing, "retention", NULL);
}

json_t *msgw_ingest_operation(msgw_ingest *ing, int id)
{
    char t1[40], t2[40];
    json_t *out = NULL;
    pthread_mutex_lock(&ing->lock);
    operation *o = id > 0 ? operation_of(ing, id) : NULL;
    if (o)
        out = json_pack("{s:i,s:s,s:s?,s:s,s:I,s:I,s:I,s:s?,s:s?}", "id", o->id, "kind", o->kind, "service",
                        o->service[0] ? o->service : NULL, "state", o->state, "done", (json_int_t)o->done, "total",
                        (json_int_t)o->total, "transitions", (json_int_t)o->transitions, "started",
                        o->started ? msgw_time_format(o->started, t1) : NULL, "finished",
                        o->finished ? msgw_time_format(o->finished, t2) : NULL);
    pthread_mutex_unlock(&ing->lock);
    return out;
}

/* ---- life cycle ------------------------------------------------------- */

msgw_ingest *msgw_ingest_new(struct event_base *base, const msgw_config *cfg, const msgw_adapter_ctx *ctx,
                             msgw_store *store, const msgw_catalogue *cat, msgw_feed *feed,
                             msgw_doorbell *bell, msgw_audit *audit, msgw_errors *e)
{
    msgw_ingest *ing = calloc(1, sizeof *ing);
    if (!ing) abort();
    ing->audit = audit;
    ing->feed = feed;
    ing->bell = bell;
    ing->cfg = cfg;
    ing->ctx = ctx;
    ing->store = store;
    ing->cat = cat;
    ing->rate_since = msgw_time_now();
    ing->group_records = cfg->queue_group_records;
    pthread_mutex_init(&ing->engine_lock, NULL);
    pthread_mutex_init(&ing->lock, NULL);
    pthread_cond_init(&ing->wake, NULL);
    ing->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ing->notify_fd < 0 || !rebuild_engine(ing, e)) {
        if (ing->notify_fd < 0) msgw_error_add(e, -1, "ingest", NULL, "ingest.eventfd", "cannot create an eventfd");
        msgw_ingest_destroy(&ing);
        return NULL;
    }
    ing->notify_ev = event_new(base, ing->notify_fd, EV_READ | EV_PERSIST, on_answers, ing);
    event_add(ing->notify_ev, NULL);
    if (pthread_create(&ing->worker, NULL, work, ing) != 0) {
        msgw_error_add(e, -1, "ingest", NULL, "ingest.thread", "cannot start the commit thread");
        ing->stop = true; /* no thread to join */
        msgw_ingest_destroy(&ing);
    }
    return ing;
}

/* The catalogues differ in parameter values at most: same services, rules and parameters. */
static bool same_rules(const msgw_catalogue *a, const msgw_catalogue *b)
{
    if (a->nparams != b->nparams || a->nservices != b->nservices) return false;
    for (size_t i = 0; i < a->nparams; i++)
        if (strcmp(a->params[i].name, b->params[i].name) != 0 || a->params[i].type != b->params[i].type) return false;
    json_t *x = json_deep_copy(a->doc), *y = json_deep_copy(b->doc);
    const char *values[] = {"parameters", "_overlays", "_kept"}; /* where the values live */
    for (size_t i = 0; i < 3; i++) {
        json_object_del(x, values[i]);
        json_object_del(y, values[i]);
    }
    bool same = json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

static bool has_value(const msgw_param *p, const msgw_param_value *v)
{
    for (size_t i = 0; i < p->nvalues; i++)
        if (p->values[i].from == v->from && p->values[i].value == v->value) return true;
    return false;
}

/* Each dated value the new catalogue has and the current one lacks, applied as a parameter change
 * to the current catalogue: only the persons it can affect are re-evaluated. */
static bool apply_new_values(msgw_ingest *ing, const msgw_catalogue *newer, msgw_transitions *tr, msgw_errors *e)
{
    msgw_catalogue *cur = (msgw_catalogue *)ing->cat; /* the engine's: the caller gave it mutable */
    msgw_date today = msgw_date_today();
    for (size_t i = 0; i < newer->nparams; i++) {
        const msgw_param *p = &newer->params[i];
        for (size_t k = 0; k < p->nvalues; k++)
            if (!has_value(&cur->params[i], &p->values[k]) &&
                !msgw_elig_param_change(ing->elig, cur, p->name, p->values[k].from, p->values[k].value,
                                        p->values[k].source, today, tr, e))
                return false;
    }
    return true;
}

msgw_reload msgw_ingest_reconfigure(msgw_ingest *ing, const msgw_config *cfg, msgw_catalogue *cur,
                                    const msgw_catalogue *newer, msgw_errors *e)
{
    msgw_reload how = MSGW_RELOAD_REBUILT;
    pthread_mutex_lock(&ing->engine_lock);
    ing->cfg = cfg;
    if (cur == ing->cat && same_rules(cur, newer)) {
        msgw_transitions tr;
        msgw_transitions_init(&tr);
        bool ok = apply_new_values(ing, newer, &tr, e) && commit_unprompted(ing, &tr, false, e);
        msgw_transitions_clear(&tr);
        how = ok ? MSGW_RELOAD_PARAMETERS : MSGW_RELOAD_FAILED;
        if (!ok) rebuild_engine(ing, e); /* nothing half-applied survives: the store is the truth */
    } else {
        ing->cat = newer;
        if (!rebuild_engine(ing, e)) how = MSGW_RELOAD_FAILED;
    }
    pthread_mutex_unlock(&ing->engine_lock);
    pthread_mutex_lock(&ing->lock);
    ing->group_records = cfg->queue_group_records;
    pthread_mutex_unlock(&ing->lock);
    return how;
}

void msgw_ingest_set_metrics(msgw_ingest *ing, msgw_metrics *m)
{
    ing->m_received = msgw_metrics_counter(m, "msgw_records_received_total",
                                           "Records received, by sending department, record kind and outcome "
                                           "(stored, duplicate, rejected).",
                                           "department", "kind", "outcome", NULL);
    ing->m_errors = msgw_metrics_counter(m, "msgw_validation_errors_total",
                                         "Errors found in received documents and records, by rule id.", "rule", NULL);
    ing->m_transitions = msgw_metrics_counter(m, "msgw_eligibility_transitions_total",
                                              "Committed eligibility transitions, by service and kind "
                                              "(NEW, LOST, CHANGED).",
                                              "service", "kind", NULL);
    ing->m_commit = msgw_metrics_histogram(m, "msgw_ingest_commit_seconds",
                                           "Seconds from a request's arrival to the commit of its records.",
                                           msgw_metrics_latency_buckets, msgw_metrics_latency_nbuckets, NULL);
    ing->m_refused = msgw_metrics_counter(m, "msgw_requests_refused_total",
                                          "Push requests refused whole, by department and HTTP status.", "department",
                                          "status", NULL);
}

const char *msgw_ingest_store_problem(const msgw_ingest *ing)
{
    return atomic_load(&ing->commit_failed) ? "the last commit failed: pushes are answered 503" : NULL;
}

json_t *msgw_ingest_person_json(msgw_ingest *ing, const char *person, msgw_date date)
{
    pthread_mutex_lock(&ing->engine_lock);
    json_t *j = msgw_elig_person_json(ing->elig, person, date);
    pthread_mutex_unlock(&ing->engine_lock);
    return j;
}

static void release_all(job *j)
{
    for (job *next; j; j = next) {
        next = j->next;
        j->done(j->ud, 0, "", 0);
        job_free(j);
    }
}

void msgw_ingest_destroy(msgw_ingest **ip)
{
    if (!ip || !*ip) return;
    msgw_ingest *ing = *ip;
    if (ing->notify_ev) {
        pthread_mutex_lock(&ing->lock);
        bool running = !ing->stop;
        ing->stop = true;
        pthread_cond_signal(&ing->wake);
        pthread_mutex_unlock(&ing->lock);
        if (running) pthread_join(ing->worker, NULL); /* it commits what is queued first */
        event_free(ing->notify_ev);
    }
    release_all(list_take_all(&ing->answered));
    release_all(list_take_all(&ing->queue));
    if (ing->notify_fd >= 0) close(ing->notify_fd);
    msgw_elig_destroy(&ing->elig);
    pthread_mutex_destroy(&ing->engine_lock);
    pthread_mutex_destroy(&ing->lock);
    pthread_cond_destroy(&ing->wake);
    free(ing->loads);
    free(ing);
    *ip = NULL;
}
