/* The engine's host (engine_host.h): rebuild from the store, sweeps, reconfiguration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_host.h"
#include "msgw/base/log.h"
#include "msgw/model/canon.h"
#include "msgw/store/cluster.h"

/* The days after `swept` through `through`, swept without notices: the notices of those days were
 * routed when they happened (a rebuild replays history). */
static void sweep_silently(engine_host *h, msgw_date through)
{
    msgw_errors e;
    msgw_errors_init(&e);
    for (msgw_date d = h->swept + 1; d <= through; d++) {
        msgw_transitions ignored;
        msgw_transitions_init(&ignored);
        msgw_elig_sweep(h->elig, d, &ignored, &e);
        msgw_transitions_clear(&ignored);
    }
    if (through > h->swept) h->swept = through;
    msgw_errors_clear(&e);
}

static void replay_record(engine_host *h, const char *canonical, msgw_time recorded_at, bool stored);

/* Replays one stored record into the engine (no transitions: they were routed when it arrived). */
static bool replay_one(void *ud, int64_t seq, const char *canonical, msgw_time recorded_at)
{
    (void)seq;
    engine_host *h = ud;
    replay_record(h, canonical, recorded_at, false);
    return true;
}

/* The same, at its place in the order of evaluation (several instances). */
static bool replay_at(void *ud, int64_t place, const char *canonical, msgw_time evaluated_at)
{
    engine_host *h = ud;
    replay_record(h, canonical, evaluated_at, true);
    h->evaluated_through = place;
    return true;
}

/* A stored record applied on the day it was evaluated, as it was then, after that day's sweep as it
 * happened then; stored: the engine asks no store whether it was applied (it was: following). */
static void replay_record(engine_host *h, const char *canonical, msgw_time recorded_at, bool stored)
{
    json_t *j = json_loads(canonical, 0, NULL);
    msgw_batch *b = msgw_batch_new();
    if (j) msgw_canon_decode(h->ctx->dict, j, b);
    if (b->nitems == 1 && b->items[0].record && !b->errors.nerrors) {
        msgw_record *r = b->items[0].record;
        r->recorded_at = recorded_at;
        msgw_transitions ignored;
        msgw_transitions_init(&ignored);
        /* evaluated on the day it arrived, as it was then, after that day's sweep as it happened
         * then — or on the day the state had reached, when the clock had been set back before it
         * (engine_host_today); the sweep brings the state to today */
        msgw_date day = msgw_date_at(recorded_at);
        if (h->swept == MSGW_DATE_NONE) h->swept = day;
        sweep_silently(h, day);
        day = h->swept;
        if (stored) msgw_elig_apply_stored(h->elig, r, day, &ignored, NULL);
        else msgw_elig_apply(h->elig, r, day, &ignored, NULL);
        msgw_transitions_clear(&ignored);
    }
    msgw_batch_destroy(&b);
    json_decref(j);
}

static bool restore_one_since(void *ud, const msgw_store_verdict *v)
{
    msgw_elig_restore_since(ud, v->person, v->service, v->since);
    return true;
}

/* Is a record with this message id stored: the engine asks when its filter cannot say no. */
static bool stored(void *ud, const char *message_id)
{
    engine_host *h = ud;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_metrics_inc(h->m_lookups, 1);
    int known = msgw_store_known(h->lookup, message_id, NULL, NULL, &e);
    if (known < 0) /* the commit's unique index still refuses a stored id: it is answered as one */
        msgw_log_errors(MSGW_LOG_ERROR, "a replay could not be looked up: the record is applied as new", &e);
    msgw_errors_clear(&e);
    return known == 1;
}

/*
 * The engine from the store: every record replayed on the day it was
 * recorded.  The state is then current up to the last of those days
 * (`swept`); the catch-up sweep (engine_host_sweep_to_today) re-evaluates the
 * days since — birthdays and facts that ended while the gateway was down
 * are notified then.  Days already swept before a restart give the same
 * event ids again, which the outbox does not queue twice.
 */
bool engine_host_rebuild(engine_host *h, msgw_errors *e)
{
    msgw_elig_destroy(&h->elig);
    h->elig = msgw_elig_new(h->cat);
    msgw_elig_serve(h->elig, h->cfg->region);
    h->swept = MSGW_DATE_NONE;
    h->rebuilds++;
    msgw_metrics_inc(h->m_rebuilds, 1);
    h->evaluated_through = 0;
    /* several instances: in the order they were evaluated, which other instances follow */
    bool ok = msgw_store_clustered(h->store) ? msgw_store_evaluated_after(h->store, 0, SIZE_MAX, replay_at, h, e)
                                             : msgw_store_each_record(h->store, replay_one, h, e);
    if (h->swept == MSGW_DATE_NONE) h->swept = msgw_date_today(); /* nothing stored yet */
    /* the days the daily sweep had reached were notified then, even days the clock has not reached
     * again (it was set back since: they are not swept twice); only those after are caught up */
    int64_t reached = 0;
    if (ok && msgw_store_meta_get(h->store, "swept", &reached, e))
        sweep_silently(h, (msgw_date)reached);
    if (h->lookup) msgw_elig_tell_replays_by(h->elig, stored, h);
    /* records forgotten by retention took the history of when verdicts began with them; the
     * notified dates are the truth */
    return ok && msgw_store_each_verdict(h->store, NULL, restore_one_since, h->elig, e);
}

void engine_host_follow_calendar(engine_host *h, msgw_errors *e)
{
    int64_t reached = 0;
    msgw_store *s = h->lookup ? h->lookup : h->store;
    if (!msgw_store_meta_get(s, "swept", &reached, e)) return;
    sweep_silently(h, (msgw_date)reached);
}

typedef struct following {
    engine_host *h;
    long applied;
} following;

static bool follow_one(void *ud, int64_t place, const char *canonical, msgw_time evaluated_at)
{
    following *f = ud;
    f->applied++;
    return replay_at(f->h, place, canonical, evaluated_at);
}

long engine_host_follow(engine_host *h, size_t max, msgw_errors *e)
{
    following f = {h, 0};
    msgw_store *s = h->lookup ? h->lookup : h->store;
    return msgw_store_evaluated_after(s, h->evaluated_through, max, follow_one, &f, e) ? f.applied : -1;
}

void engine_host_compact_if_due(engine_host *h)
{
    pthread_mutex_lock(&h->lock);
    bool due = msgw_elig_compaction_due(h->elig);
    pthread_mutex_unlock(&h->lock);
    if (!due) return;
    engine_host_exclusive(h);
    size_t before = msgw_elig_arena_bytes(h->elig);
    msgw_time t0 = msgw_time_now();
    if (msgw_elig_compact(h->elig)) {
        char from[24], to[24], ms[24];
        snprintf(from, sizeof from, "%zu", before);
        snprintf(to, sizeof to, "%zu", msgw_elig_arena_bytes(h->elig));
        snprintf(ms, sizeof ms, "%.1f", (double)(msgw_time_now() - t0) / 1e3);
        msgw_metrics_inc(h->m_compactions, 1);
        msgw_log(MSGW_LOG_INFO, "engine compacted", "bytes_before", from, "bytes_after", to, "ms", ms, NULL);
    }
    engine_host_release(h);
}

void engine_host_set_lookup(engine_host *h, msgw_store *lookup)
{
    engine_host_exclusive(h);
    h->lookup = lookup;
    if (lookup) msgw_elig_tell_replays_by(h->elig, stored, h);
    engine_host_release(h);
}

void engine_host_exclusive(engine_host *h)
{
    pthread_mutex_lock(&h->lock);
    h->quiescing++;
    while (h->inflight) pthread_cond_wait(&h->settled, &h->lock);
}

void engine_host_release(engine_host *h)
{
    h->quiescing--;
    pthread_cond_broadcast(&h->settled);
    pthread_mutex_unlock(&h->lock);
}

void engine_host_group_begin(engine_host *h)
{
    while (h->inflight >= MSGW_ELIG_SAVEPOINTS || h->quiescing) pthread_cond_wait(&h->settled, &h->lock);
    h->inflight++;
}

void engine_host_group_end(engine_host *h)
{
    h->inflight--;
    pthread_cond_broadcast(&h->settled);
}

msgw_date engine_host_today(const engine_host *h)
{
    msgw_date today = msgw_date_today();
    return today < h->swept ? h->swept : today;
}

/* The clock reading a day before the one swept (set back across midnight) is logged when it starts
 * and when the clock has caught up: records are evaluated on the day swept meanwhile. */
#define BEHIND "the clock reads a day before the last day swept: records are evaluated on that day"
static void note_clock(engine_host *h, msgw_date today, msgw_date swept)
{
    bool behind = today < swept;
    if (behind == h->clock_behind) return;
    h->clock_behind = behind;
    char clock[11], day[11];
    if (behind)
        msgw_log(MSGW_LOG_WARNING, BEHIND, "clock", msgw_date_format(today, clock), "swept",
                 msgw_date_format(swept, day), NULL);
    else
        msgw_log(MSGW_LOG_INFO, "the clock has caught up with the last day swept", "clock",
                 msgw_date_format(today, clock), NULL);
}

int engine_host_sweep_to_today(engine_host *h, engine_commit_fn commit, void *ud)
{
    pthread_mutex_lock(&h->lock);
    msgw_date today = msgw_date_today(), from = h->swept;
    note_clock(h, today, from);
    pthread_mutex_unlock(&h->lock);
    if (today <= from) return 0; /* the same day, or the clock was set back: nothing to repeat */
    msgw_errors e;
    msgw_errors_init(&e);
    engine_host_exclusive(h);
    bool ok = true;
    for (msgw_date d = h->swept + 1; d <= today && ok; d++) {
        msgw_transitions tr;
        msgw_transitions_init(&tr);
        msgw_elig_begin(h->elig);
        msgw_elig_sweep(h->elig, d, &tr, &e);
        ok = commit(ud, &tr, &e);
        if (ok) {
            msgw_elig_release(h->elig);
            h->swept = d;
        } else {
            /* the day's notices were not stored: undone, and swept again at the next try */
            msgw_elig_rollback(h->elig);
            msgw_log_errors(MSGW_LOG_ERROR, "the sweep's notices could not be stored: retried later", &e);
        }
        msgw_transitions_clear(&tr);
    }
    if (ok) msgw_store_meta_set(h->store, "swept", today, &e);
    engine_host_release(h);
    msgw_errors_clear(&e);
    return (int)(h->swept - from);
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
static bool apply_new_values(engine_host *h, msgw_catalogue *cur, const msgw_catalogue *newer, msgw_transitions *tr,
                             msgw_errors *e)
{
    msgw_date today = engine_host_today(h);
    for (size_t i = 0; i < newer->nparams; i++) {
        const msgw_param *p = &newer->params[i];
        for (size_t k = 0; k < p->nvalues; k++)
            if (!has_value(&cur->params[i], &p->values[k]) &&
                !msgw_elig_param_change(h->elig, cur, p->name, p->values[k].from, p->values[k].value,
                                        p->values[k].source, today, tr, e))
                return false;
    }
    return true;
}

msgw_reload engine_host_reconfigure(engine_host *h, const msgw_config *cfg, msgw_catalogue *cur,
                                    const msgw_catalogue *newer, engine_commit_fn commit, void *ud, msgw_errors *e)
{
    msgw_reload how = MSGW_RELOAD_REBUILT;
    engine_host_exclusive(h);
    h->cfg = cfg;
    if (cur == h->cat && same_rules(cur, newer)) {
        msgw_transitions tr;
        msgw_transitions_init(&tr);
        bool ok = apply_new_values(h, cur, newer, &tr, e) && commit(ud, &tr, e);
        msgw_transitions_clear(&tr);
        how = ok ? MSGW_RELOAD_PARAMETERS : MSGW_RELOAD_FAILED;
        if (!ok) engine_host_rebuild(h, e); /* the catalogue's values changed: the store is the truth */
    } else {
        h->cat = newer;
        if (!engine_host_rebuild(h, e)) how = MSGW_RELOAD_FAILED;
    }
    engine_host_release(h);
    return how;
}

void engine_host_set_metrics(engine_host *h, msgw_metrics *m)
{
    pthread_mutex_lock(&h->lock);
    h->m_rebuilds = msgw_metrics_counter(m, "msgw_engine_rebuilds_total",
                                         "Times the eligibility engine was rebuilt by replaying the store (the start, "
                                         "retention, new rules).",
                                         NULL);
    msgw_metrics_inc(h->m_rebuilds, (double)h->rebuilds);
    h->m_lookups = msgw_metrics_counter(m, "msgw_engine_replay_lookups_total",
                                        "Message ids the engine's filter could not tell from those of stored records, "
                                        "looked up in the store (docs/eligibility.md, \"Replays\").",
                                        NULL);
    h->m_compactions = msgw_metrics_counter(m, "msgw_engine_compactions_total",
                                            "Times the eligibility engine's memory was compacted: what its state holds "
                                            "copied, what was replaced since freed (docs/eligibility.md, \"Memory\").",
                                            NULL);
    pthread_mutex_unlock(&h->lock);
}

json_t *engine_host_person_json(engine_host *h, const char *person, msgw_date date)
{
    pthread_mutex_lock(&h->lock);
    json_t *j = msgw_elig_person_json(h->elig, person, date);
    pthread_mutex_unlock(&h->lock);
    return j;
}

engine_host *engine_host_new(const msgw_config *cfg, const msgw_adapter_ctx *ctx, msgw_store *store,
                             const msgw_catalogue *cat, msgw_errors *e)
{
    engine_host *h = calloc(1, sizeof *h);
    if (!h) abort();
    *h = (engine_host){.cfg = cfg, .ctx = ctx, .store = store, .cat = cat, .evaluating = true};
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->settled, NULL);
    if (!engine_host_rebuild(h, e)) engine_host_destroy(&h);
    return h;
}

void engine_host_destroy(engine_host **hp)
{
    if (!hp || !*hp) return;
    engine_host *h = *hp;
    msgw_elig_destroy(&h->elig);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->settled);
    free(h);
    *hp = NULL;
}
