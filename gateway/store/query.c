/*
 * The store front, query side (msgw/store/query.h): defaults and empty
 * results are settled here once, and a person's page is composed from
 * operations every backend has (their verdicts, the records about them,
 * their transitions), so a backend answers only plain questions.
 */
#include <string.h>

#include "backend.h"

bool msgw_store_trace(msgw_store *s, const char *message_id, msgw_arena *a, msgw_trace **out,
                      msgw_errors *e)
{
    *out = NULL;
    return s->b->query->trace(s->impl, message_id, a, out, e);
}

bool msgw_store_transitions(msgw_store *s, const msgw_transition_filter *f, msgw_arena *a,
                            msgw_transition_rows *out, msgw_errors *e)
{
    *out = (msgw_transition_rows){0};
    msgw_transition_filter g = {
        .service = f->service && *f->service ? f->service : NULL,
        .district = f->district && *f->district ? f->district : NULL,
        .person = f->person,
        .max = f->max ? f->max : 100,
    };
    return s->b->query->transitions(s->impl, &g, a, out, e);
}

/* Each verdict, copied into the person's page. */
typedef struct verdicts_into {
    msgw_arena *a;
    msgw_verdict_rows *rows;
    size_t cap;
} verdicts_into;

static bool add_verdict(void *ud, const msgw_store_verdict *v)
{
    verdicts_into *c = ud;
    c->rows->v = msgw_arena_grow(c->a, c->rows->v, sizeof *c->rows->v, &c->cap, c->rows->n + 1);
    msgw_store_verdict *x = &c->rows->v[c->rows->n++];
    *x = (msgw_store_verdict){.person = msgw_arena_strdup(c->a, v->person),
                              .service = msgw_arena_strdup(c->a, v->service),
                              .eligible = v->eligible,
                              .since = v->since,
                              .tier = v->tier ? msgw_arena_strdup(c->a, v->tier) : NULL,
                              .amount = v->amount,
                              .updated_at = v->updated_at};
    return true;
}

bool msgw_store_person(msgw_store *s, const char *person, msgw_arena *a, msgw_person_page **out,
                       msgw_errors *e)
{
    *out = NULL;
    msgw_person_page *p = msgw_arena_alloc(a, sizeof *p);
    p->person = msgw_arena_strdup(a, person);
    verdicts_into c = {.a = a, .rows = &p->verdicts};
    if (!s->b->ops->each_verdict(s->impl, person, add_verdict, &c, e) ||
        !s->b->query->person_records(s->impl, person, 50, a, &p->records, e) ||
        !msgw_store_transitions(s, &(msgw_transition_filter){.person = person, .max = 50}, a,
                                &p->transitions, e))
        return false;
    if (p->verdicts.n || p->records.n || p->transitions.n) *out = p;
    return true;
}

bool msgw_store_person_records(msgw_store *s, const char *person, size_t max, msgw_arena *a, msgw_record_rows *out,
                               msgw_errors *e)
{
    *out = (msgw_record_rows){0};
    return s->b->query->person_records(s->impl, person, max, a, out, e);
}

bool msgw_store_disclosures(msgw_store *s, const char *person, size_t max, msgw_arena *a,
                            msgw_disclosure_rows *out, msgw_errors *e)
{
    *out = (msgw_disclosure_rows){0};
    return s->b->query->disclosures(s->impl, person, max, a, out, e);
}

bool msgw_store_dead_letters(msgw_store *s, size_t max, msgw_arena *a, msgw_outbox_rows *out,
                             msgw_errors *e)
{
    *out = (msgw_outbox_rows){0};
    return s->b->query->dead_letters(s->impl, max, a, out, e);
}

int msgw_store_replay(msgw_store *s, int64_t id, size_t limit, msgw_time now, msgw_errors *e)
{
    return s->b->query->replay(s->impl, id, limit, now, e);
}

bool msgw_store_queues(msgw_store *s, msgw_arena *a, msgw_queue_rows *out, msgw_errors *e)
{
    *out = (msgw_queue_rows){0};
    return s->b->query->queues(s->impl, a, out, e);
}

bool msgw_store_stats_get(msgw_store *s, const char *department, msgw_store_stats *out,
                          msgw_errors *e)
{
    memset(out, 0, sizeof *out);
    return s->b->query->stats(s->impl, department, out, e);
}

bool msgw_store_size(msgw_store *s, int64_t *bytes, msgw_errors *e)
{
    *bytes = 0;
    return s->b->query->size(s->impl, bytes, e);
}

msgw_queue_row *msgw_store_queue_of(msgw_arena *a, msgw_queue_rows *out, size_t *cap,
                                    const char *who)
{
    for (size_t i = 0; i < out->n; i++)
        if (strcmp(out->v[i].recipient, who) == 0) return &out->v[i];
    out->v = msgw_arena_grow(a, out->v, sizeof *out->v, cap, out->n + 1);
    out->v[out->n] = (msgw_queue_row){.recipient = msgw_arena_strdup(a, who)};
    return &out->v[out->n++];
}
