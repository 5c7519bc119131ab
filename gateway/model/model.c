/*
 * Builders and comparisons for canonical records.  Arrays grow inside the
 * batch arena; callers keep the capacity beside the count they pass in.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/model/model.h"

void msgw_person_init(msgw_person *p)
{
    memset(p, 0, sizeof *p);
    p->birth_date = MSGW_DATE_NONE;
}

void msgw_fact_init(msgw_fact *f)
{
    memset(f, 0, sizeof *f);
    f->valid_from = f->valid_to = MSGW_DATE_NONE;
}

msgw_person *msgw_record_add_person(msgw_record *r, msgw_arena *a, size_t *cap)
{
    r->persons = msgw_arena_grow(a, r->persons, sizeof *r->persons, cap, r->npersons + 1);
    msgw_person *p = &r->persons[r->npersons++];
    msgw_person_init(p);
    return p;
}

msgw_fact *msgw_record_add_fact(msgw_record *r, msgw_arena *a, size_t *cap, const char *type,
                                const char *subject)
{
    r->facts = msgw_arena_grow(a, r->facts, sizeof *r->facts, cap, r->nfacts + 1);
    msgw_fact *f = &r->facts[r->nfacts++];
    msgw_fact_init(f);
    f->type = type;
    if (subject) {
        strncpy(f->subject, subject, sizeof f->subject - 1);
        f->subject[sizeof f->subject - 1] = '\0';
    }
    return f;
}

msgw_attr *msgw_fact_add_attr(msgw_fact *f, msgw_arena *a, const char *name, msgw_value v)
{
    /* Facts carry a handful of attributes: grow by exact copies, no capacity to track. */
    msgw_attr *n = msgw_arena_alloc(a, (f->nattrs + 1) * sizeof *n);
    if (f->nattrs) memcpy(n, f->attrs, f->nattrs * sizeof *n);
    f->attrs = n;
    msgw_attr *at = &f->attrs[f->nattrs++];
    at->name = name;
    at->v = v;
    return at;
}

const msgw_attr *msgw_fact_attr(const msgw_fact *f, const char *name)
{
    for (size_t i = 0; i < f->nattrs; i++)
        if (strcmp(f->attrs[i].name, name) == 0) return &f->attrs[i];
    return NULL;
}

const msgw_person *msgw_record_person(const msgw_record *r, const char *id)
{
    for (size_t i = 0; i < r->npersons; i++)
        if (strcmp(r->persons[i].id_number, id) == 0) return &r->persons[i];
    return NULL;
}

static bool str_eq(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

bool msgw_value_equal(const msgw_value *a, const msgw_value *b)
{
    if (a->kind != b->kind) return false;
    switch (a->kind) {
    case MSGW_V_NONE:
        return true;
    case MSGW_V_STRING:
    case MSGW_V_CODE:
        return str_eq(a->u.s, b->u.s);
    case MSGW_V_INT:
    case MSGW_V_MONEY:
        return a->u.i == b->u.i;
    case MSGW_V_DATE:
        return a->u.d == b->u.d;
    case MSGW_V_BOOL:
        return a->u.b == b->u.b;
    }
    return false;
}

const char *msgw_value_text(const msgw_value *v, char buf[MSGW_VALUE_TEXT_MAX])
{
    switch (v->kind) {
    case MSGW_V_STRING:
    case MSGW_V_CODE:
        return v->u.s;
    case MSGW_V_INT:
    case MSGW_V_MONEY:
        snprintf(buf, MSGW_VALUE_TEXT_MAX, "%" PRId64, v->u.i);
        return buf;
    case MSGW_V_DATE:
        return msgw_date_format(v->u.d, buf);
    case MSGW_V_BOOL:
        return v->u.b ? "true" : "false";
    case MSGW_V_NONE:
        break;
    }
    return NULL;
}

static bool person_equal(const msgw_person *a, const msgw_person *b)
{
    return strcmp(a->id_number, b->id_number) == 0 && str_eq(a->name, b->name) &&
           str_eq(a->sex, b->sex) && a->birth_date == b->birth_date &&
           str_eq(a->ethnic, b->ethnic) && str_eq(a->marital, b->marital) &&
           str_eq(a->hukou_region, b->hukou_region) && str_eq(a->hukou_type, b->hukou_type) &&
           str_eq(a->residence_region, b->residence_region);
}

static bool household_equal(const msgw_household *a, const msgw_household *b)
{
    if (!a || !b) return a == b;
    if (!str_eq(a->id, b->id) || !str_eq(a->region, b->region) ||
        !str_eq(a->hukou_type, b->hukou_type) || a->nmembers != b->nmembers)
        return false;
    for (size_t i = 0; i < a->nmembers; i++)
        if (strcmp(a->members[i].id_number, b->members[i].id_number) != 0 ||
            !str_eq(a->members[i].relationship, b->members[i].relationship))
            return false;
    return true;
}

/* Attributes compare as sets: formats may order them differently. */
static bool fact_equal(const msgw_fact *a, const msgw_fact *b)
{
    if (!str_eq(a->type, b->type) || strcmp(a->subject, b->subject) != 0 ||
        a->valid_from != b->valid_from || a->valid_to != b->valid_to || a->nattrs != b->nattrs)
        return false;
    for (size_t i = 0; i < a->nattrs; i++) {
        const msgw_attr *o = msgw_fact_attr(b, a->attrs[i].name);
        if (!o || !msgw_value_equal(&a->attrs[i].v, &o->v)) return false;
    }
    return true;
}

bool msgw_record_equal(const msgw_record *a, const msgw_record *b)
{
    if (!str_eq(a->kind, b->kind) || !str_eq(a->source_message_id, b->source_message_id) ||
        a->npersons != b->npersons || a->nfacts != b->nfacts ||
        !household_equal(a->household, b->household))
        return false;
    for (size_t i = 0; i < a->npersons; i++)
        if (!person_equal(&a->persons[i], &b->persons[i])) return false;
    for (size_t i = 0; i < a->nfacts; i++)
        if (!fact_equal(&a->facts[i], &b->facts[i])) return false;
    return true;
}

msgw_batch *msgw_batch_new(void)
{
    msgw_batch *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->arena = msgw_arena_new(0);
    msgw_errors_init(&b->errors);
    return b;
}

void msgw_batch_destroy(msgw_batch **bp)
{
    if (!bp || !*bp) return;
    msgw_batch *b = *bp;
    msgw_errors_clear(&b->errors);
    msgw_arena_destroy(&b->arena);
    free(b);
    *bp = NULL;
}

int msgw_batch_add(msgw_batch *b, msgw_record *r, const char *loc)
{
    b->items = msgw_arena_grow(b->arena, b->items, sizeof *b->items, &b->cap, b->nitems + 1);
    b->items[b->nitems].record = r;
    b->items[b->nitems].loc = loc;
    return (int)b->nitems++;
}

size_t msgw_batch_count_ok(const msgw_batch *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->nitems; i++)
        if (b->items[i].record) n++;
    return n;
}
