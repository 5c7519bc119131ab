/*
 * The eligibility engine: per-person facts and verdicts, and transitions.
 *
 * A record adds facts to its persons; the persons concerned (the subjects
 * and every member of their households, since household aggregates read
 * everyone's facts) are re-evaluated, but only for the services whose rules
 * read a fact type the record changed.  Views are rebuilt from the stored
 * facts for the evaluation date, so a backdated fact simply takes its place
 * in valid time.  A change of verdict is a transition with its explanation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/idmap.h"
#include "msgw/base/bloom.h"
#include "msgw/base/idset.h"
#include "msgw/base/buf.h"
#include "msgw/model/canon.h"
#include "msgw/engine/eligibility.h"
#include "msgw/base/idnum.h"
#include "rules_internal.h"

#define BIT_PERSON ((uint64_t)1 << 63)
/* A person's hukou or residence region changed: every rule is about a place (jurisdiction). Fact
 * types use bits 0 .. MSGW_MAX_FACT_TYPES - 1, so bit 62 is free. */
#define BIT_REGION ((uint64_t)1 << 62)
#define ALL_BITS UINT64_MAX

typedef struct sfact {
    msgw_fact f; /* strings in the engine arena */
    const char *message_id, *department;
    msgw_time recorded_at;
} sfact;

/* The demographic fields a record may send, in person_update's order: each remembers the record
 * that last set it (msgw_elig_each_live_record). */
enum { F_NAME, F_SEX, F_ETHNIC, F_MARITAL, F_HUKOU_REGION, F_HUKOU_TYPE, F_RESIDENCE, F_COUNT };

typedef struct pstate {
    msgw_person p; /* id_number is the key */
    const char *src[F_COUNT]; /* message id of the record that set each field */
    const char *origin;       /* the record that first named the person: kept while they are known */
    long household;
    sfact *facts;
    size_t nfacts, cap;
    msgw_verdict *verdicts; /* one per rule service */
    long next_birthday;     /* next person with the same birthday */
    /* the day a record moved the hukou (or the registered residence) here from a region known
     * before: a verdict that the move made cannot hold from earlier */
    msgw_date hukou_moved, residence_moved;
    uint8_t saved; /* bit k: savepoint slot k holds this person's earlier state */
    uint32_t saved_at[MSGW_ELIG_SAVEPOINTS]; /* where in slot k's persons */
} pstate;

typedef struct hstate {
    const char *id, *region, *hukou_type;
    const char *roster_src, *region_src, *type_src; /* the records that set them */
    long *members;
    size_t n;
    uint8_t saved; /* as pstate's */
} hstate;

/* A day on which a stored fact starts or stops holding: the sweep re-evaluates its person then. */
typedef struct boundary {
    msgw_date day;
    long person;
    uint64_t bit;
} boundary;

/*
 * A savepoint (msgw_elig_begin): the state of every person and household the
 * changes since touched, as it was, so that msgw_elig_rollback can undo a
 * group whose commit failed without a full replay.  Facts are appended, so a
 * person's earlier facts are a count, unless a fact sent again exactly
 * supersedes the one it repeats (fact_store): then the person's facts are
 * copied first; verdicts and parameter-index keys change in place and are
 * copied.  Two can be open, in
 * two slots: the pipeline evaluates the next group while the one before is
 * being committed.  Only the newest saves; a person's `saved` bit per slot
 * says which slots hold a copy of them.
 */
typedef struct saved_person {
    long pi;
    pstate was;
    msgw_verdict *verdicts;
    int64_t *keyvals;
    sfact *facts; /* the facts as they were, when one was superseded since (else NULL) */
    size_t nfacts;
} saved_person;

typedef struct saved_household {
    long hi;
    hstate was;
    long *members;
} saved_household;

typedef struct savepoint {
    bool active;
    size_t n, nh; /* persons and households that existed */
    saved_person *persons;
    size_t npersons, cap;
    saved_household *households;
    size_t nhouseholds, caph;
    char **seen; /* message ids applied since */
    size_t nseen, capseen;
} savepoint;

/* What caused an evaluation, for the explanations. */
typedef struct cause {
    const char *kind; /* "record", "calendar", "parameter" */
    const msgw_record *record;
    const char *param;
    msgw_date param_from;
    int64_t param_old, param_new;
    const msgw_fact *const *previous; /* per fact of the record: the fact it replaces, or NULL */
} cause;

/* The parameters' values on a date, with the day each value took effect (for dating verdicts). */
typedef struct params_on {
    int64_t value[MSGW_MAX_PARAMS];
    msgw_date from[MSGW_MAX_PARAMS];
} params_on;

/* Slots and views for one household on one date, reused from person to person. */
typedef struct view_buf {
    int64_t *scratch;
    size_t scratch_cap;
    msgw_view *views;
    size_t views_cap;
} view_buf;

struct msgw_elig {
    const msgw_catalogue *cat;
    msgw_arena *arena;
    pstate *persons;
    size_t n, cap;
    hstate *households;
    size_t nh, caph;
    msgw_idmap *person_index, *household_index;
    /* Replays.  Without a store to ask, every id applied (digests, 16 bytes each); with one
     * (msgw_elig_tell_replays_by), only the ids of the open savepoints: the store holds the rest,
     * and the filter says which may be among them (docs/eligibility.md, "Replays"). */
    msgw_idset *seen;
    msgw_bloom *filter;                        /* NULL without a store to ask */
    bool (*known)(void *ud, const char *id);   /* is id stored */
    void *known_ud;
    size_t compacted; /* the arena's size after the last compaction (msgw_elig_compact) */
    const msgw_service **rules; /* services with machine rules */
    size_t nrules;
    uint64_t *deps; /* per rule: what re-evaluates it (its dependency mask, and the places that decide) */
    /* jurisdiction: the region this gateway serves (the catalogue's GB/T 2260 prefix), NULL for all */
    const char *served;
    size_t served_len;
    int residence_fact; /* fact index of "residence" (where the person lives, dated), -1 none */
    long birthdays[12 * 31];
    int death_fact; /* fact index of "death" */
    msgw_date in_force; /* the catalogue's date of issue: no one is eligible under it before */
    size_t last_evaluated;
    /* the parameter index: threshold keys, each person's key values, sorted lazily */
    msgw_threshold keys[16];
    size_t nkeys;
    int64_t *keyvals; /* n * nkeys */
    struct keyent {
        int64_t value;
        long person;
    } *keyindex[16];
    bool keys_dirty;
    msgw_time_threshold timers[32]; /* time thresholds of all rules, for the boundary index */
    size_t ntimers;
    long **eligible_lists; /* per rule: persons who became eligible (may include some no longer) */
    size_t *eligible_n, *eligible_cap;
    boundary *bounds; /* sorted by day when !bounds_dirty */
    size_t nbounds, capbounds;
    bool bounds_dirty;
    view_buf today;   /* a household's views on the evaluation date */
    view_buf at_death; /* and on a death's date, for the rules about the death */
    params_on at_death_params;
    int death_date_slot; /* death.death_date, -1 if the dictionary has none */
    savepoint sp[MSGW_ELIG_SAVEPOINTS]; /* the slots */
    int sp_order[MSGW_ELIG_SAVEPOINTS];  /* the open slots, oldest first */
    size_t nsp;                          /* how many are open */
};

static void savepoint_free(savepoint *sp);

void msgw_transitions_init(msgw_transitions *t)
{
    memset(t, 0, sizeof *t);
}

void msgw_transitions_clear(msgw_transitions *t)
{
    free(t->v);
    msgw_arena_destroy(&t->arena);
    msgw_transitions_init(t);
}

/* Registers the keys of a rule's thresholds (deduplicated) for the parameter index. */
static void collect_keys(msgw_elig *e, const msgw_rule *r)
{
    for (size_t i = 0; r && i < msgw_rule_count_thresholds(r); i++) {
        const msgw_threshold *t = msgw_rule_threshold(r, i);
        bool known = false;
        for (size_t k = 0; k < e->nkeys && !known; k++)
            known = e->keys[k].household == t->household && e->keys[k].key == t->key;
        if (!known && e->nkeys < sizeof e->keys / sizeof e->keys[0]) e->keys[e->nkeys++] = *t;
    }
}

static void collect_timers(msgw_elig *e, const msgw_rule *r)
{
    for (size_t i = 0; r && i < msgw_rule_count_time_thresholds(r); i++)
        if (e->ntimers < sizeof e->timers / sizeof e->timers[0]) e->timers[e->ntimers++] = *msgw_rule_time_threshold(r, i);
}

/*
 * Jurisdiction (docs/eligibility.md): this gateway serves the catalogue's region (or the gateway's,
 * msgw_elig_serve).  Every rule is then about a place, the hukou's or the residence's by the
 * service's decided_by, so a change of either region (BIT_REGION), and for residence-decided
 * services a residence fact, re-evaluates it.
 */
static void jurisdiction_init(msgw_elig *e, const char *served)
{
    const msgw_catalogue *cat = e->cat;
    e->served = served && served[0] ? served : NULL;
    e->served_len = e->served ? strlen(e->served) : 0;
    e->residence_fact = msgw_rule_env_fact_index(cat->env, "residence");
    free(e->deps);
    e->deps = calloc(e->nrules + 1, sizeof *e->deps);
    if (!e->deps) abort();
    for (size_t r = 0; r < e->nrules; r++) {
        const msgw_service *s = e->rules[r];
        e->deps[r] = s->depends;
        if (!e->served) continue;
        e->deps[r] |= BIT_REGION;
        if (s->decided_by == MSGW_BY_RESIDENCE && e->residence_fact >= 0)
            e->deps[r] |= (uint64_t)1 << e->residence_fact;
    }
}

void msgw_elig_serve(msgw_elig *e, const char *region)
{
    const char *cat = e->cat->region && e->cat->region[0] ? e->cat->region : NULL;
    if (!region || !region[0]) return;
    /* nested regions: the narrower one (a Hebei gateway running Langfang's catalogue serves Langfang) */
    bool cat_inside = cat && strncmp(cat, region, strlen(region)) == 0;
    jurisdiction_init(e, cat_inside ? cat : region);
}

/* The catalogue's source.issued, MSGW_DATE_NONE without one (a test catalogue). */
static msgw_date catalogue_issued(const msgw_catalogue *cat)
{
    const char *s = json_string_value(json_object_get(json_object_get(cat->doc, "source"), "issued"));
    msgw_date d = MSGW_DATE_NONE;
    if (!s || !msgw_date_parse_iso(s, strlen(s), &d)) return MSGW_DATE_NONE;
    return d;
}

msgw_elig *msgw_elig_new(const msgw_catalogue *cat)
{
    msgw_elig *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->cat = cat;
    e->arena = msgw_arena_new(1 << 20);
    e->person_index = msgw_idmap_new();
    e->household_index = msgw_idmap_new();
    e->seen = msgw_idset_new();
    e->rules = calloc(cat->nservices + 1, sizeof *e->rules);
    if (!e->rules) abort();
    for (size_t i = 0; i < cat->nservices; i++)
        if (cat->services[i].eligible) e->rules[e->nrules++] = &cat->services[i];
    jurisdiction_init(e, cat->region);
    for (size_t i = 0; i < sizeof e->birthdays / sizeof e->birthdays[0]; i++) e->birthdays[i] = -1;
    e->death_fact = msgw_rule_env_fact_index(cat->env, "death");
    e->death_date_slot = msgw_rule_env_slot(cat->env, "death", "death_date");
    e->in_force = catalogue_issued(cat);
    e->eligible_lists = calloc(e->nrules + 1, sizeof *e->eligible_lists);
    e->eligible_n = calloc(e->nrules + 1, sizeof *e->eligible_n);
    e->eligible_cap = calloc(e->nrules + 1, sizeof *e->eligible_cap);
    if (!e->eligible_lists || !e->eligible_n || !e->eligible_cap) abort();
    for (size_t r = 0; r < e->nrules; r++) {
        const msgw_service *s = e->rules[r];
        collect_keys(e, s->eligible);
        collect_timers(e, s->eligible);
        for (size_t t = 0; t < s->ntiers; t++) {
            collect_keys(e, s->tiers[t].when);
            collect_timers(e, s->tiers[t].when);
        }
    }
    return e;
}

void msgw_elig_destroy(msgw_elig **ep)
{
    if (!ep || !*ep) return;
    msgw_elig *e = *ep;
    for (size_t i = 0; i < e->n; i++) {
        free(e->persons[i].facts);
        free(e->persons[i].verdicts);
    }
    for (size_t i = 0; i < e->nh; i++) free(e->households[i].members);
    free(e->persons);
    free(e->households);
    free(e->rules);
    free(e->deps);
    free(e->today.scratch);
    free(e->today.views);
    free(e->at_death.scratch);
    free(e->at_death.views);
    free(e->bounds);
    free(e->keyvals);
    for (size_t k = 0; k < e->nkeys; k++) free(e->keyindex[k]);
    for (size_t r = 0; r < e->nrules; r++) free(e->eligible_lists[r]);
    free(e->eligible_lists);
    free(e->eligible_n);
    free(e->eligible_cap);
    msgw_idmap_destroy(&e->person_index);
    msgw_idmap_destroy(&e->household_index);
    msgw_idset_destroy(&e->seen);
    msgw_bloom_destroy(&e->filter);
    for (size_t k = 0; k < MSGW_ELIG_SAVEPOINTS; k++) savepoint_free(&e->sp[k]);
    msgw_arena_destroy(&e->arena);
    free(e);
    *ep = NULL;
}

static const char *keep(msgw_elig *e, const char *s)
{
    return s ? msgw_arena_strdup(e->arena, s) : NULL;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int birthday_bucket(msgw_date birth)
{
    int y, m, d;
    msgw_date_to_ymd(birth, &y, &m, &d);
    return (m - 1) * 31 + (d - 1);
}

/* ---- savepoints ---- */

static void *grow_to(void *v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return v;
    *cap = *cap ? *cap * 2 : 16;
    if (*cap < need) *cap = need;
    v = realloc(v, *cap * size);
    if (!v) abort();
    return v;
}

/* The newest open savepoint, with its slot's bit in `saved`; NULL when none is open. */
static savepoint *newest(msgw_elig *e, uint8_t *bit)
{
    *bit = 0;
    if (!e->nsp) return NULL;
    int k = e->sp_order[e->nsp - 1];
    *bit = (uint8_t)(1u << k);
    return &e->sp[k];
}

/* Before person pi changes: keep what it was, once per savepoint (persons made since need none). */
static void save_person(msgw_elig *e, long pi)
{
    uint8_t bit;
    savepoint *sp = newest(e, &bit);
    pstate *ps = &e->persons[pi];
    if (!sp || (size_t)pi >= sp->n || (ps->saved & bit)) return;
    ps->saved |= bit;
    ps->saved_at[e->sp_order[e->nsp - 1]] = (uint32_t)sp->npersons;
    sp->persons = grow_to(sp->persons, &sp->cap, sp->npersons + 1, sizeof *sp->persons);
    saved_person *s = &sp->persons[sp->npersons++];
    *s = (saved_person){.pi = pi, .was = *ps};
    s->verdicts = malloc((e->nrules + 1) * sizeof *s->verdicts);
    s->keyvals = malloc((e->nkeys + 1) * sizeof *s->keyvals);
    if (!s->verdicts || !s->keyvals) abort();
    memcpy(s->verdicts, ps->verdicts, e->nrules * sizeof *s->verdicts);
    if (e->nkeys) memcpy(s->keyvals, &e->keyvals[pi * (long)e->nkeys], e->nkeys * sizeof *s->keyvals);
}

/* Before a fact of person pi is superseded (its facts change in place, not only at the end): the
 * newest savepoint copies them, once (save_person has saved the person). */
static void save_facts(msgw_elig *e, long pi)
{
    uint8_t bit;
    savepoint *sp = newest(e, &bit);
    pstate *ps = &e->persons[pi];
    if (!sp || !(ps->saved & bit)) return; /* none open, or a person made since: dropped whole */
    saved_person *s = &sp->persons[ps->saved_at[e->sp_order[e->nsp - 1]]];
    if (s->facts) return;
    s->facts = malloc((ps->nfacts + 1) * sizeof *s->facts);
    if (!s->facts) abort();
    memcpy(s->facts, ps->facts, ps->nfacts * sizeof *s->facts);
    s->nfacts = ps->nfacts;
}

static void save_household(msgw_elig *e, long hi)
{
    uint8_t bit;
    savepoint *sp = newest(e, &bit);
    hstate *hs = &e->households[hi];
    if (!sp || (size_t)hi >= sp->nh || (hs->saved & bit)) return;
    hs->saved |= bit;
    sp->households = grow_to(sp->households, &sp->caph, sp->nhouseholds + 1, sizeof *sp->households);
    saved_household *s = &sp->households[sp->nhouseholds++];
    s->hi = hi;
    s->was = *hs;
    s->members = malloc((hs->n + 1) * sizeof *s->members);
    if (!s->members) abort();
    memcpy(s->members, hs->members, hs->n * sizeof *s->members);
}

static void save_seen(msgw_elig *e, const char *message_id)
{
    uint8_t bit;
    savepoint *sp = newest(e, &bit);
    if (!sp) return;
    sp->seen = grow_to(sp->seen, &sp->capseen, sp->nseen + 1, sizeof *sp->seen);
    sp->seen[sp->nseen] = strdup(message_id);
    if (!sp->seen[sp->nseen++]) abort();
}

static void savepoint_free(savepoint *sp)
{
    for (size_t i = 0; i < sp->npersons; i++) {
        free(sp->persons[i].verdicts);
        free(sp->persons[i].keyvals);
        free(sp->persons[i].facts);
    }
    for (size_t i = 0; i < sp->nhouseholds; i++) free(sp->households[i].members);
    for (size_t i = 0; i < sp->nseen; i++) free(sp->seen[i]);
    free(sp->persons);
    free(sp->households);
    free(sp->seen);
    memset(sp, 0, sizeof *sp);
}

void msgw_elig_begin(msgw_elig *e)
{
    if (e->nsp == MSGW_ELIG_SAVEPOINTS) msgw_elig_release(e);
    int k = 0;
    while (e->sp[k].active) k++; /* a free slot: fewer than MSGW_ELIG_SAVEPOINTS are open */
    e->sp[k] = (savepoint){.active = true, .n = e->n, .nh = e->nh};
    e->sp_order[e->nsp++] = k;
}

size_t msgw_elig_savepoints(const msgw_elig *e)
{
    return e->nsp;
}

void msgw_elig_release(msgw_elig *e)
{
    if (!e->nsp) return;
    int k = e->sp_order[0];
    savepoint *sp = &e->sp[k];
    uint8_t bit = (uint8_t)(1u << k);
    for (size_t i = 0; i < sp->npersons; i++) e->persons[sp->persons[i].pi].saved &= (uint8_t)~bit;
    for (size_t i = 0; i < sp->nhouseholds; i++) e->households[sp->households[i].hi].saved &= (uint8_t)~bit;
    if (e->filter) /* committed: the store has them now, and the filter says they may be there */
        for (size_t i = 0; i < sp->nseen; i++) msgw_idset_del(e->seen, sp->seen[i]);
    savepoint_free(sp);
    memmove(e->sp_order, e->sp_order + 1, (--e->nsp) * sizeof *e->sp_order);
}

/* Persons and households made since the savepoint go, with every index entry that names them. */
static void drop_new(msgw_elig *e, size_t n, size_t nh)
{
    for (size_t i = e->n; i-- > n;) {
        pstate *ps = &e->persons[i];
        int b = birthday_bucket(ps->p.birth_date); /* pushed at the head of their bucket: popped back */
        if (e->birthdays[b] == (long)i) e->birthdays[b] = ps->next_birthday;
        msgw_idmap_del(e->person_index, ps->p.id_number);
        free(ps->facts);
        free(ps->verdicts);
    }
    for (size_t i = e->nh; i-- > nh;) {
        msgw_idmap_del(e->household_index, e->households[i].id);
        free(e->households[i].members);
    }
    e->n = n;
    e->nh = nh;
    size_t k = 0;
    for (size_t i = 0; i < e->nbounds; i++)
        if ((size_t)e->bounds[i].person < n) e->bounds[k++] = e->bounds[i];
    e->nbounds = k; /* order kept: a sorted index stays sorted */
    for (size_t r = 0; r < e->nrules; r++) {
        k = 0;
        for (size_t i = 0; i < e->eligible_n[r]; i++)
            if ((size_t)e->eligible_lists[r][i] < n) e->eligible_lists[r][k++] = e->eligible_lists[r][i];
        e->eligible_n[r] = k;
    }
}

/* Undoes the newest open savepoint: each copy restored as it was when saved, what was made since
 * dropped. */
static void rollback_newest(msgw_elig *e)
{
    uint8_t bit;
    savepoint *sp = newest(e, &bit);
    for (size_t i = 0; i < sp->npersons; i++) {
        saved_person *s = &sp->persons[i];
        pstate *ps = &e->persons[s->pi];
        s->was.facts = ps->facts; /* the array may have moved; the facts added since are dropped */
        s->was.cap = ps->cap;
        if (s->facts) /* a fact was superseded since: the facts as they were (never fewer now) */
            memcpy(ps->facts, s->facts, s->nfacts * sizeof *ps->facts);
        s->was.verdicts = ps->verdicts;
        memcpy(ps->verdicts, s->verdicts, e->nrules * sizeof *ps->verdicts);
        if (e->nkeys) memcpy(&e->keyvals[s->pi * (long)e->nkeys], s->keyvals, e->nkeys * sizeof *s->keyvals);
        uint8_t saved = ps->saved; /* which slots hold a copy is now, not when the copy was made */
        *ps = s->was;
        ps->saved = saved & (uint8_t)~bit;
    }
    for (size_t i = 0; i < sp->nhouseholds; i++) {
        saved_household *s = &sp->households[i];
        hstate *hs = &e->households[s->hi];
        free(hs->members);
        uint8_t saved = hs->saved;
        *hs = s->was;
        hs->members = s->members;
        hs->saved = saved & (uint8_t)~bit;
        s->members = NULL;
    }
    for (size_t i = 0; i < sp->nseen; i++) msgw_idset_del(e->seen, sp->seen[i]);
    drop_new(e, sp->n, sp->nh);
    savepoint_free(sp);
    e->nsp--;
}

void msgw_elig_rollback(msgw_elig *e)
{
    if (!e->nsp) return;
    while (e->nsp) rollback_newest(e);
    e->keys_dirty = true; /* the parameter index is rebuilt from the restored keys */
}

bool msgw_elig_seen(msgw_elig *e, const char *message_id)
{
    if (msgw_idset_has(e->seen, message_id)) return true;
    if (!e->filter || !msgw_bloom_maybe(e->filter, message_id)) return false;
    return e->known(e->known_ud, message_id);
}

/* An id applied: in the exact set until its savepoint is released (a rollback forgets it), and in
 * the filter once there is a store to ask. */
static void remember(msgw_elig *e, const char *message_id)
{
    if (e->filter) msgw_bloom_add(e->filter, message_id);
    if (e->filter && !e->nsp) return; /* from the store (following another instance): it has it */
    msgw_idset_add(e->seen, message_id);
    save_seen(e, message_id);
}

static void into_filter(void *ud, const unsigned char digest[16])
{
    msgw_bloom_add_digest(ud, digest);
}

void msgw_elig_tell_replays_by(msgw_elig *e, bool (*known)(void *ud, const char *id), void *ud)
{
    uint64_t held = msgw_idset_count(e->seen);
    msgw_bloom_destroy(&e->filter);
    e->filter = msgw_bloom_new(held * 2 > held + (1u << 20) ? held * 2 : held + (1u << 20));
    msgw_idset_each(e->seen, into_filter, e->filter);
    msgw_idset_destroy(&e->seen); /* the ids of open savepoints stay exact: the store has not got them */
    e->seen = msgw_idset_new();
    for (size_t k = 0; k < e->nsp; k++) {
        const savepoint *sp = &e->sp[e->sp_order[k]];
        for (size_t i = 0; i < sp->nseen; i++) msgw_idset_add(e->seen, sp->seen[i]);
    }
    e->known = known;
    e->known_ud = ud;
}


static long person_get(msgw_elig *e, const char *id, bool create)
{
    long i = msgw_idmap_get(e->person_index, id);
    if (i >= 0 || !create) return i;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 64;
        e->persons = realloc(e->persons, e->cap * sizeof *e->persons);
        if (!e->persons) abort();
    }
    pstate *p = &e->persons[e->n];
    memset(p, 0, sizeof *p);
    msgw_person_init(&p->p);
    memcpy(p->p.id_number, id, 19);
    p->p.birth_date = msgw_idnum_birth_date(id);
    p->household = -1;
    p->hukou_moved = p->residence_moved = MSGW_DATE_NONE;
    p->verdicts = calloc(e->nrules + 1, sizeof *p->verdicts);
    if (!p->verdicts) abort();
    for (size_t r = 0; r < e->nrules; r++) {
        p->verdicts[r].tier = -1;
        p->verdicts[r].amount = MSGW_ABSENT;
        p->verdicts[r].since = MSGW_DATE_NONE;
    }
    if (e->nkeys) {
        e->keyvals = realloc(e->keyvals, e->cap * e->nkeys * sizeof *e->keyvals);
        if (!e->keyvals) abort();
        for (size_t k = 0; k < e->nkeys; k++) e->keyvals[e->n * e->nkeys + k] = MSGW_ABSENT;
    }
    int b = birthday_bucket(p->p.birth_date);
    p->next_birthday = e->birthdays[b];
    e->birthdays[b] = (long)e->n;
    msgw_idmap_put(e->person_index, id, (long)e->n);
    return (long)e->n++;
}

/* One demographic field: a value sent replaces the one held, and remembers where it came from (the
 * same value sent again is not kept twice: memory grows with what changes, not with each record). */
static void field_update(msgw_elig *e, const char **held, const char **src, const char *sent, const char *mid)
{
    if (!sent) return;
    if (!same_str(*held, sent)) *held = keep(e, sent);
    *src = mid;
}

/* Demographics: a value sent replaces the one held; a value not sent keeps it. */
static void person_update(msgw_elig *e, pstate *ps, const msgw_person *p, const char *mid)
{
    field_update(e, &ps->p.name, &ps->src[F_NAME], p->name, mid);
    field_update(e, &ps->p.sex, &ps->src[F_SEX], p->sex, mid);
    field_update(e, &ps->p.ethnic, &ps->src[F_ETHNIC], p->ethnic, mid);
    field_update(e, &ps->p.marital, &ps->src[F_MARITAL], p->marital, mid);
    field_update(e, &ps->p.hukou_region, &ps->src[F_HUKOU_REGION], p->hukou_region, mid);
    field_update(e, &ps->p.hukou_type, &ps->src[F_HUKOU_TYPE], p->hukou_type, mid);
    field_update(e, &ps->p.residence_region, &ps->src[F_RESIDENCE], p->residence_region, mid);
}

/* Persons a roster touched beyond its own members, each to be re-evaluated once. */
typedef struct touched {
    long *v;
    size_t n, cap;
} touched;

static void touched_add(touched *t, long pi)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i] == pi) return;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
        if (!t->v) abort();
    }
    t->v[t->n++] = pi;
}

/*
 * The roster is the household as of now.  Members not on it have left: they are on their own
 * now, and whoever stays behind in a household a member moved out of has one member fewer; both
 * are added to *left, since their household aggregates changed too.
 */
static void household_update(msgw_elig *e, const msgw_household *h, const char *mid, touched *left)
{
    if (!h->id) return;
    long hi = msgw_idmap_get(e->household_index, h->id);
    if (hi < 0) {
        if (e->nh == e->caph) {
            e->caph = e->caph ? e->caph * 2 : 64;
            e->households = realloc(e->households, e->caph * sizeof *e->households);
            if (!e->households) abort();
        }
        hi = (long)e->nh++;
        memset(&e->households[hi], 0, sizeof e->households[hi]);
        e->households[hi].id = keep(e, h->id);
        msgw_idmap_put(e->household_index, h->id, hi);
    }
    save_household(e, hi);
    hstate *hs = &e->households[hi];
    field_update(e, &hs->region, &hs->region_src, h->region, mid);
    field_update(e, &hs->hukou_type, &hs->type_src, h->hukou_type, mid);
    hs->roster_src = mid;
    for (size_t i = 0; i < hs->n; i++)
        if (e->persons[hs->members[i]].household == hi) {
            save_person(e, hs->members[i]);
            e->persons[hs->members[i]].household = -1;
            touched_add(left, hs->members[i]); /* dropped, unless the roster names them again */
        }
    free(hs->members);
    hs->members = calloc(h->nmembers + 1, sizeof *hs->members);
    if (!hs->members) abort();
    hs->n = 0;
    for (size_t i = 0; i < h->nmembers; i++) {
        long pi = person_get(e, h->members[i].id_number, true);
        save_person(e, pi);
        if (!e->persons[pi].origin) e->persons[pi].origin = mid;
        long old = e->persons[pi].household;
        if (old >= 0 && old != hi) { /* moved households: leave the old one */
            save_household(e, old);
            hstate *o = &e->households[old];
            for (size_t k = 0; k < o->n; k++)
                if (o->members[k] == pi) o->members[k--] = o->members[--o->n];
            for (size_t k = 0; k < o->n; k++) touched_add(left, o->members[k]);
        }
        e->persons[pi].household = hi;
        hs->members[hs->n++] = pi;
    }
    for (size_t i = 0; i < left->n; i++) /* named again: not dropped */
        if (e->persons[left->v[i]].household == hi) left->v[i--] = left->v[--left->n];
}

static void boundary_add(msgw_elig *e, msgw_date day, long person, uint64_t bit)
{
    if (e->nbounds == e->capbounds) {
        e->capbounds = e->capbounds ? e->capbounds * 2 : 256;
        e->bounds = realloc(e->bounds, e->capbounds * sizeof *e->bounds);
        if (!e->bounds) abort();
    }
    e->bounds[e->nbounds++] = (boundary){day, person, bit};
    e->bounds_dirty = true;
}

static int cmp_bound(const void *a, const void *b)
{
    const boundary *x = a, *y = b;
    if (x->day != y->day) return (x->day > y->day) - (x->day < y->day);
    return (x->person > y->person) - (x->person < y->person);
}

/* The date a time threshold counts from, as this fact gives it (MSGW_DATE_NONE if it does not). */
static msgw_date timer_origin(const msgw_elig *e, const msgw_time_threshold *t, const msgw_fact *f, int fi)
{
    const msgw_rule_env *env = e->cat->env;
    if (msgw_rule_env_slot_fact(env, t->slot) != fi) return MSGW_DATE_NONE;
    const fact_layout *fl = &env->facts[fi];
    if (t->slot == fl->valid_from) return f->valid_from;
    if (t->slot == fl->valid_to) return f->valid_to;
    for (size_t a = 0; a < fl->ft->nattrs; a++)
        if (fl->attr[a] == t->slot) {
            const msgw_attr *at = msgw_fact_attr(f, fl->ft->attrs[a]->id);
            return at && at->v.kind == MSGW_V_DATE ? at->v.u.d : MSGW_DATE_NONE;
        }
    return MSGW_DATE_NONE;
}

/*
 * `days_since(X) <= 42` flips 42 and 43 days after X; `years_since(X) >= 3`
 * on X's anniversaries: the sweep of those days re-evaluates the person.
 */
static void schedule_timers(msgw_elig *e, const msgw_fact *f, int fi, long pi, uint64_t bit)
{
    for (size_t i = 0; fi >= 0 && i < e->ntimers; i++) {
        msgw_date x = timer_origin(e, &e->timers[i], f, fi);
        if (x == MSGW_DATE_NONE) continue;
        msgw_date at = x + (msgw_date)e->timers[i].k;
        if (e->timers[i].years) {
            int y, m, d;
            msgw_date_to_ymd(x, &y, &m, &d);
            at = msgw_date_from_ymd(y + (int)e->timers[i].k, m, m == 2 && d == 29 ? 28 : d);
            if (at == MSGW_DATE_NONE) continue;
        }
        boundary_add(e, at, pi, bit | BIT_PERSON);
        boundary_add(e, at + 1, pi, bit | BIT_PERSON);
    }
}

/* Whether stored fact g says exactly what f says: type, validity and every attribute. */
static bool same_fact(const msgw_fact *g, const msgw_fact *f)
{
    if (strcmp(g->type, f->type) != 0 || g->valid_from != f->valid_from || g->valid_to != f->valid_to ||
        g->nattrs != f->nattrs)
        return false;
    for (size_t i = 0; i < f->nattrs; i++) {
        const msgw_attr *a = msgw_fact_attr(g, f->attrs[i].name);
        if (!a || !msgw_value_equal(&a->v, &f->attrs[i].v)) return false;
    }
    return true;
}

/*
 * A fact sent again exactly (a department re-sending what it holds, a monthly roster) supersedes
 * the one it repeats: it moves to the end, as the newest stored (what a new fact would be), with
 * the new record's provenance.  No view changes — the same values, the same days — and the
 * person's facts do not grow with every record that repeats them (memory stays bounded by what
 * is known, not by what was sent).  True when it did.
 */
static bool fact_supersede(msgw_elig *e, pstate *ps, const msgw_fact *f, const char *mid, const char *department,
                           msgw_time recorded_at)
{
    size_t i = ps->nfacts;
    while (i-- > 0)
        if (same_fact(&ps->facts[i].f, f)) break;
    if (i == (size_t)-1) return false;
    save_facts(e, ps - e->persons);
    sfact kept = ps->facts[i];
    memmove(&ps->facts[i], &ps->facts[i + 1], (ps->nfacts - i - 1) * sizeof *ps->facts);
    kept.message_id = mid;
    if (!same_str(kept.department, department)) kept.department = keep(e, department);
    kept.recorded_at = recorded_at;
    ps->facts[ps->nfacts - 1] = kept;
    return true;
}

/* Stores fact f of record r (mid: its message id, kept) for ps. */
static void fact_store(msgw_elig *e, pstate *ps, const msgw_fact *f, const msgw_record *r, const char *mid)
{
    long pi = ps - e->persons;
    save_person(e, pi);
    msgw_time recorded_at = r->recorded_at ? r->recorded_at : msgw_time_now();
    if (fact_supersede(e, ps, f, mid, r->source_department, recorded_at)) return;
    int fi = msgw_rule_env_fact_index(e->cat->env, f->type);
    uint64_t bit = fi >= 0 ? (uint64_t)1 << fi : 0;
    if (f->valid_from != MSGW_DATE_NONE) boundary_add(e, f->valid_from, pi, bit);
    if (f->valid_to != MSGW_DATE_NONE) boundary_add(e, f->valid_to + 1, pi, bit);
    schedule_timers(e, f, fi, pi, bit);
    if (ps->nfacts == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 8;
        ps->facts = realloc(ps->facts, ps->cap * sizeof *ps->facts);
        if (!ps->facts) abort();
    }
    sfact *sf = &ps->facts[ps->nfacts++];
    sf->f = *f;
    sf->f.type = keep(e, f->type);
    sf->f.loc = NULL;
    sf->f.attrs = msgw_arena_alloc(e->arena, (f->nattrs + 1) * sizeof *f->attrs);
    for (size_t i = 0; i < f->nattrs; i++) {
        sf->f.attrs[i].name = keep(e, f->attrs[i].name);
        sf->f.attrs[i].v = f->attrs[i].v;
        if (f->attrs[i].v.kind == MSGW_V_STRING || f->attrs[i].v.kind == MSGW_V_CODE)
            sf->f.attrs[i].v.u.s = keep(e, f->attrs[i].v.u.s);
    }
    sf->message_id = mid;
    sf->department = keep(e, r->source_department);
    sf->recorded_at = recorded_at;
}

/* The stored fact of a type that the view takes on date (latest started), or NULL. */
static const sfact *current_fact(const pstate *ps, const char *type, msgw_date date)
{
    const sfact *best = NULL;
    for (size_t i = 0; i < ps->nfacts; i++) {
        const sfact *sf = &ps->facts[i];
        if (strcmp(sf->f.type, type) != 0) continue;
        if (sf->f.valid_from != MSGW_DATE_NONE && sf->f.valid_from > date) continue;
        if (!best || (sf->f.valid_from == MSGW_DATE_NONE ? INT32_MIN : sf->f.valid_from) >=
                         (best->f.valid_from == MSGW_DATE_NONE ? INT32_MIN : best->f.valid_from))
            best = sf;
    }
    if (best && best->f.valid_to != MSGW_DATE_NONE && best->f.valid_to < date) return NULL;
    return best;
}

/* ---- jurisdiction ---- */

/* The person's hukou region: their own, else their household's; NULL when unknown.  Never the ID
 * number's address code, which says where the number was first issued. */
static const char *person_hukou(const msgw_elig *e, const pstate *ps)
{
    if (ps->p.hukou_region) return ps->p.hukou_region;
    return ps->household >= 0 ? e->households[ps->household].region : NULL;
}

/* The place that decides a service for a person. */
typedef struct place {
    const char *region; /* GB/T 2260 code, NULL when unknown altogether */
    const char *of;     /* "hukou" or "residence": whose region it is */
    const char *source; /* "person" (the registration), "household" (the roster), "residence_fact" */
} place;

/*
 * Hukou-decided: the hukou region.  Residence-decided: the current residence fact's region, else the
 * registration's residence region, else the hukou region (people live where they are registered
 * unless told otherwise).  has_residence says whether the view holds a current residence fact (it
 * spares the search among the person's facts when it does not).
 */
static place deciding_place(const msgw_elig *e, const pstate *ps, msgw_decided_by by, bool has_residence,
                            msgw_date date)
{
    if (by == MSGW_BY_RESIDENCE) {
        const sfact *rf = has_residence ? current_fact(ps, e->cat->env->facts[e->residence_fact].ft->id, date) : NULL;
        const msgw_attr *a = rf ? msgw_fact_attr(&rf->f, "residence_region") : NULL;
        if (a && (a->v.kind == MSGW_V_CODE || a->v.kind == MSGW_V_STRING) && a->v.u.s)
            return (place){a->v.u.s, "residence", "residence_fact"};
        if (ps->p.residence_region) return (place){ps->p.residence_region, "residence", "person"};
    }
    if (ps->p.hukou_region) return (place){ps->p.hukou_region, "hukou", "person"};
    if (ps->household >= 0 && e->households[ps->household].region)
        return (place){e->households[ps->household].region, "hukou", "household"};
    return (place){NULL, "hukou", NULL};
}

/* Whether the place lies in the region served: one prefix comparison.  Unknown cannot be told
 * apart, so it counts as within (records sent without regions are evaluated as they always were). */
static bool place_served(const msgw_elig *e, const place *pl)
{
    return !e->served || !pl->region || strncmp(pl->region, e->served, e->served_len) == 0;
}

/* ---- evaluation ---- */

static void build_view(msgw_elig *e, const pstate *ps, msgw_view *v, int64_t *slots, msgw_date date)
{
    msgw_view_init(e->cat->env, v, slots);
    msgw_view_set_person(e->cat->env, v, &ps->p);
    msgw_view_set_moves(e->cat->env, v, ps->hukou_moved, ps->residence_moved);
    for (size_t i = 0; i < ps->nfacts; i++) msgw_view_apply_fact(e->cat->env, v, &ps->facts[i].f, date);
}

static int64_t region_int(const char *s)
{
    return s ? strtoll(s, NULL, 10) : MSGW_ABSENT;
}

/* Builds the views of person pi's household (or of pi alone); returns pi's view. */
static const msgw_view *build_household(msgw_elig *e, view_buf *vb, long pi, msgw_date date, msgw_hview *h)
{
    const pstate *ps = &e->persons[pi];
    const hstate *hs = ps->household >= 0 ? &e->households[ps->household] : NULL;
    size_t n = hs ? hs->n : 1, nslots = msgw_rule_env_slots(e->cat->env);
    if (n * nslots > vb->scratch_cap) {
        vb->scratch_cap = n * nslots * 2;
        vb->scratch = realloc(vb->scratch, vb->scratch_cap * sizeof *vb->scratch);
        if (!vb->scratch) abort();
    }
    if (n > vb->views_cap) {
        vb->views_cap = n * 2;
        vb->views = realloc(vb->views, vb->views_cap * sizeof *vb->views);
        if (!vb->views) abort();
    }
    const msgw_view *self = &vb->views[0];
    for (size_t i = 0; i < n; i++) {
        long mi = hs ? hs->members[i] : pi;
        build_view(e, &e->persons[mi], &vb->views[i], vb->scratch + i * nslots, date);
        if (mi == pi) self = &vb->views[i];
    }
    h->members = vb->views;
    h->nmembers = n;
    msgw_hview_compute(e->cat->env, h);
    const msgw_view *head = self;
    h->region = region_int(hs && hs->region ? hs->region : ps->p.hukou_region);
    h->hukou_type = head->slots[P_HUKOU_TYPE];
    return self;
}

static msgw_verdict evaluate(msgw_elig *e, const msgw_service *s, const msgw_eval_ctx *ctx, bool dead,
                             uint64_t presence, int *bad_param)
{
    msgw_verdict v = {false, false, -1, MSGW_ABSENT, MSGW_DATE_NONE};
    int64_t ok = 0;
    *bad_param = -1;
    if (msgw_rule_required(s->eligible) & ~presence) return v; /* cannot be true without them */
    /* A death ends every service except those whose rules are about the death. */
    if (dead && !(s->depends & ((uint64_t)1 << e->death_fact))) return v;
    if (msgw_rule_eval(s->eligible, ctx, &ok, bad_param) != MSGW_EVAL_OK) {
        v.error = true;
        return v;
    }
    if (ok != 1) return v;
    v.eligible = true;
    for (size_t t = 0; t < s->ntiers; t++) {
        int64_t w = 0;
        if (msgw_rule_eval(s->tiers[t].when, ctx, &w, bad_param) != MSGW_EVAL_OK) {
            v.error = true;
            return v;
        }
        if (w != 1) continue;
        v.tier = (int)t;
        if (s->tiers[t].amount && msgw_rule_eval(s->tiers[t].amount, ctx, &v.amount, bad_param) != MSGW_EVAL_OK) {
            v.error = true;
            return v;
        }
        break;
    }
    return v;
}

/*
 * The day a person became eligible (a NEW verdict): the latest of the day
 * each deciding part of the rule began to hold (msgw_rule_eval_dated: the
 * start of every fact it read, the birthday an age threshold was crossed,
 * the day each parameter value took effect), over the eligibility, the tier
 * chosen and its amount, and the rule's own `since` when it has one.  Never
 * before the catalogue was issued (its rules hold from then), never after
 * the evaluation date; the evaluation date when nothing dates it.
 */
static msgw_date eligible_since(const msgw_elig *e, const msgw_service *s, const msgw_eval_ctx *ctx,
                                const msgw_verdict *v)
{
    msgw_date since = MSGW_DATE_NONE, d;
    int64_t value = 0;
    int bad = -1;
    msgw_rule_eval_dated(s->eligible, ctx, &value, &since, &bad);
    if (v->tier >= 0) {
        const msgw_tier *t = &s->tiers[v->tier];
        msgw_rule_eval_dated(t->when, ctx, &value, &d, &bad);
        if (d > since) since = d;
        if (t->amount) {
            msgw_rule_eval_dated(t->amount, ctx, &value, &d, &bad);
            if (d > since) since = d;
        }
    }
    if (s->since && msgw_rule_eval(s->since, ctx, &value, &bad) == MSGW_EVAL_OK && value != MSGW_ABSENT &&
        value > since)
        since = (msgw_date)value;
    if (since == MSGW_DATE_NONE || since > ctx->date) return ctx->date;
    return e->in_force != MSGW_DATE_NONE && since < e->in_force ? e->in_force : since;
}

static bool verdict_same(const msgw_verdict *a, const msgw_verdict *b)
{
    return a->eligible == b->eligible && (!a->eligible || (a->tier == b->tier && a->amount == b->amount));
}

/* A copy in the transitions' arena: explanations outlive the engine's state (a rebuild, a reload). */
static const char *tkeep(msgw_arena *a, const char *s)
{
    return s ? msgw_arena_strdup(a, s) : NULL;
}

static msgw_expl_fact explain_fact(msgw_arena *a, const sfact *sf)
{
    msgw_attr *attrs = msgw_arena_alloc(a, (sf->f.nattrs + 1) * sizeof *attrs);
    for (size_t i = 0; i < sf->f.nattrs; i++) {
        attrs[i] = sf->f.attrs[i];
        attrs[i].name = tkeep(a, attrs[i].name);
        if (attrs[i].v.kind == MSGW_V_CODE || attrs[i].v.kind == MSGW_V_STRING) attrs[i].v.u.s = tkeep(a, attrs[i].v.u.s);
    }
    return (msgw_expl_fact){.type = tkeep(a, sf->f.type),
                            .valid_from = sf->f.valid_from,
                            .valid_to = sf->f.valid_to,
                            .attrs = attrs,
                            .nattrs = sf->f.nattrs,
                            .department = tkeep(a, sf->department ? sf->department : ""),
                            .message_id = tkeep(a, sf->message_id ? sf->message_id : ""),
                            .recorded_at = sf->recorded_at};
}

static void money_text(char *buf, size_t len, int64_t fen)
{
    if (fen == MSGW_ABSENT) snprintf(buf, len, "-");
    else snprintf(buf, len, "%lld.%02lld yuan", (long long)(fen / 100), (long long)(llabs(fen) % 100));
}

static void value_text(const msgw_value *v, char *buf, size_t len)
{
    if (v->kind == MSGW_V_CODE) snprintf(buf, len, "%s", v->u.s);
    else snprintf(buf, len, "%lld", (long long)v->u.i);
}

/* The attributes the causing record changed for this person (codes and numbers), and the same as text. */
static void explain_changes(msgw_arena *a, const cause *c, const pstate *ps, msgw_expl_cause *xc, char *text,
                            size_t len)
{
    size_t used = strlen(text), n = 0, cap = 0;
    const msgw_record *r = c->record;
    for (size_t i = 0; r && i < r->nfacts; i++)
        if (strcmp(r->facts[i].subject, ps->p.id_number) == 0) cap += r->facts[i].nattrs;
    msgw_expl_change *v = msgw_arena_alloc(a, (cap + 1) * sizeof *v);
    for (size_t i = 0; r && i < r->nfacts; i++) {
        const msgw_fact *f = &r->facts[i];
        if (strcmp(f->subject, ps->p.id_number) != 0) continue;
        const msgw_fact *prev = c->previous ? c->previous[i] : NULL;
        for (size_t k = 0; k < f->nattrs; k++) {
            const msgw_attr *now = &f->attrs[k];
            const msgw_attr *was = prev ? msgw_fact_attr(prev, now->name) : NULL;
            if (was && msgw_value_equal(&was->v, &now->v)) continue;
            if (now->v.kind != MSGW_V_CODE && now->v.kind != MSGW_V_MONEY && now->v.kind != MSGW_V_INT) continue;
            char nb[64], wb[64] = "none";
            value_text(&now->v, nb, sizeof nb);
            if (was) value_text(&was->v, wb, sizeof wb);
            v[n++] = (msgw_expl_change){tkeep(a, f->type), tkeep(a, now->name), was ? tkeep(a, wb) : NULL, tkeep(a, nb)};
            if (used + 80 < len)
                used += (size_t)snprintf(text + used, len - used, "%s %s from %s to %s", used && text[used - 1] != ' ' ? ";" : "", now->name, wb, nb);
        }
    }
    xc->changes = v;
    xc->nchanges = n;
}

/* "hukou 131082 is outside the region served (12): decided where the hukou is", with the cause's fields. */
static void explain_jurisdiction(const msgw_elig *e, msgw_arena *a, const msgw_service *s, const place *pl,
                                 msgw_expl_cause *xc, msgw_buf *text)
{
    bool by_residence = s->decided_by == MSGW_BY_RESIDENCE;
    xc->jurisdiction_by = by_residence ? "residence" : "hukou";
    xc->jurisdiction_region = tkeep(a, pl->region);
    xc->jurisdiction_of = pl->of;
    xc->jurisdiction_source = pl->source;
    xc->jurisdiction_served = tkeep(a, e->served);
    bool stand_in = by_residence && strcmp(pl->of, "hukou") == 0; /* residence unknown */
    msgw_buf_printf(text, "%s%s %s%s is outside the region served (%s): decided where %s",
                    stand_in ? "residence unknown, " : "", pl->of, pl->region,
                    strcmp(pl->source, "household") == 0 ? " (the household's)" : "", e->served,
                    by_residence ? "the person lives" : "the hukou is");
}

/* The parameters the rule reads, with their values in force on the date decided. */
static void explain_params(const msgw_elig *e, msgw_arena *a, const msgw_service *s, msgw_date decided,
                           msgw_explanation *x)
{
    msgw_expl_param *v = msgw_arena_alloc(a, (e->cat->nparams + 1) * sizeof *v);
    size_t n = 0;
    for (size_t p = 0; p < e->cat->nparams; p++) {
        if (!((s->params >> p) & 1)) continue;
        const msgw_param_value *pv = msgw_param_at(&e->cat->params[p], decided);
        v[n++] = (msgw_expl_param){e->cat->params[p].name, pv ? pv->value : MSGW_ABSENT,
                                   pv ? pv->from : MSGW_DATE_NONE, pv ? pv->source : NULL};
    }
    x->params = v;
    x->nparams = n;
}

/* The facts that decided: the person's current facts of every type the rule reads. */
static void explain_facts(const msgw_elig *e, msgw_arena *a, const msgw_service *s, const pstate *ps,
                          msgw_date date, msgw_explanation *x)
{
    const msgw_rule_env *env = e->cat->env;
    msgw_expl_fact *v = msgw_arena_alloc(a, (env->nfacts + 1) * sizeof *v);
    size_t n = 0;
    for (size_t f = 0; f < env->nfacts; f++) {
        if (!((s->depends >> f) & 1)) continue;
        const sfact *sf = current_fact(ps, env->facts[f].ft->id, date);
        if (sf) v[n++] = explain_fact(a, sf);
    }
    x->facts = v;
    x->nfacts = n;
}

/* What caused the transition, and its readable form in ctext. */
static void explain_cause(msgw_arena *a, const cause *c, const pstate *ps, msgw_date date, msgw_expl_cause *xc,
                          char *ctext, size_t len)
{
    xc->param_from = MSGW_DATE_NONE; /* a parameter's: a record's notice names no parameter date */
    if (c->record) {
        xc->kind = MSGW_CAUSE_RECORD;
        xc->department = tkeep(a, c->record->source_department ? c->record->source_department : "");
        xc->message_id = tkeep(a, c->record->message_id ? c->record->message_id : "");
        char chg[384] = "";
        explain_changes(a, c, ps, xc, chg, sizeof chg);
        snprintf(ctext, len, "%s message %s%s%s", c->record->source_department ? c->record->source_department : "?",
                 c->record->message_id ? c->record->message_id : "?", chg[0] ? " changed" : "", chg);
    } else if (c->param) {
        char ob[48], nb[48], fb[11];
        money_text(ob, sizeof ob, c->param_old);
        money_text(nb, sizeof nb, c->param_new);
        xc->kind = MSGW_CAUSE_PARAMETER;
        xc->parameter = tkeep(a, c->param);
        xc->param_from = c->param_from;
        xc->old_value = c->param_old;
        xc->new_value = c->param_new;
        snprintf(ctext, len, "parameter $%s changed from %s to %s on %s", c->param, ob, nb,
                 msgw_date_format(c->param_from, fb));
    } else {
        char b[11];
        xc->kind = MSGW_CAUSE_CALENDAR;
        snprintf(ctext, len, "calendar: %s", msgw_date_format(date, b));
    }
}

static msgw_transition *transition_add(msgw_transitions *out)
{
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 16;
        out->v = realloc(out->v, out->cap * sizeof *out->v);
        if (!out->v) abort();
    }
    if (!out->arena) out->arena = msgw_arena_new(0);
    msgw_transition *t = &out->v[out->n++];
    memset(t, 0, sizeof *t);
    return t;
}

/* date: the evaluation date; decided: the date the rule was decided as of (the death's, for a rule
 * about a death), whose parameter values and facts the explanation shows. */
static void emit_transition(msgw_elig *e, const msgw_service *s, pstate *ps, const msgw_view *self,
                            const msgw_hview *h, const msgw_verdict *before, const msgw_verdict *after,
                            const cause *c, const place *outside, msgw_date date, msgw_date decided,
                            msgw_transitions *out)
{
    msgw_transition_kind kind = !before->eligible ? MSGW_TR_NEW : !after->eligible ? MSGW_TR_LOST : MSGW_TR_CHANGED;
    msgw_transition *t = transition_add(out);
    msgw_arena *a = out->arena;
    t->kind = kind;
    memcpy(t->person, ps->p.id_number, 19);
    t->service = s;
    t->before = *before;
    t->after = *after;
    msgw_explanation *x = &t->explanation;
    const msgw_verdict *v = after->eligible ? after : before;
    const char *tier = v->tier >= 0 ? s->tiers[v->tier].name : NULL;
    *x = (msgw_explanation){.kind = kind,
                            .service = s->code,
                            .name = s->name,
                            .person = tkeep(a, ps->p.id_number), /* not t->person: the list may move */
                            .date = date,
                            .since = after->eligible ? after->since : MSGW_DATE_NONE,
                            .tier = tier,
                            .amount = v->amount == MSGW_ABSENT ? MSGW_ABSENT : after->eligible ? after->amount : 0,
                            .has_previous = kind == MSGW_TR_CHANGED,
                            .previous_tier = before->tier >= 0 ? s->tiers[before->tier].name : NULL,
                            .previous_amount = before->amount,
                            .amount_period = s->amount_period,
                            .departments = s->departments,
                            .ndepartments = s->ndepartments,
                            .rule = msgw_rule_source(s->eligible),
                            .rule_source = s->source,
                            .hukou_region = tkeep(a, ps->p.hukou_region),
                            .residence_region = tkeep(a, ps->p.residence_region),
                            .age = self->slots[P_BIRTH] != MSGW_ABSENT ? msgw_date_age((msgw_date)self->slots[P_BIRTH], decided) : -1,
                            .household = (s->depends & BIT_PERSON) != 0,
                            .household_size = h->size,
                            .per_capita_income = h->per_capita_income};
    explain_params(e, a, s, decided, x);
    explain_facts(e, a, s, ps, decided, x);
    char ctext[512] = "";
    explain_cause(a, c, ps, date, &x->cause, ctext, sizeof ctext);
    const msgw_rule_env *env = e->cat->env;
    bool died = e->death_fact >= 0 && self->slots[env->facts[e->death_fact].present] == 1 && kind == MSGW_TR_LOST;
    x->cause.death = died;
    /* the place that decides is outside the region served (only ever a LOST: nothing is evaluated there) */
    msgw_buf jt;
    msgw_buf_init(&jt);
    if (outside && kind == MSGW_TR_LOST) explain_jurisdiction(e, a, s, outside, &x->cause, &jt);
    char amount[48], mask[19], since[11];
    money_text(amount, sizeof amount, after->eligible ? after->amount : before->amount);
    msgw_idnum_mask(ps->p.id_number, mask);
    msgw_buf tb;
    msgw_buf_init(&tb);
    msgw_buf_printf(&tb, "%s %s %s (%s) for %s", msgw_transition_kind_name(kind), s->code, s->name, e->cat->id, mask);
    if (after->eligible) msgw_buf_printf(&tb, " since %s", msgw_date_format(after->since, since));
    if (tier) msgw_buf_printf(&tb, ", tier %s", tier);
    if (v->amount != MSGW_ABSENT)
        msgw_buf_printf(&tb, ", %s%s%s", amount, s->amount_period ? " " : "", s->amount_period ? s->amount_period : "");
    msgw_buf_printf(&tb, ": %s%s", died ? "death recorded; " : "", ctext);
    if (jt.len) msgw_buf_printf(&tb, "; %s", jt.data);
    /* the person's hukou, unless the jurisdiction text has just named it */
    bool named = jt.len && outside->region == ps->p.hukou_region;
    if (ps->p.hukou_region && !named) msgw_buf_printf(&tb, "; hukou %s", ps->p.hukou_region);
    msgw_buf_free(&jt);
    t->text = tkeep(a, tb.data ? tb.data : "");
    msgw_buf_free(&tb);
}

static void report_error(msgw_elig *e, const msgw_service *s, const pstate *ps, int bad, msgw_date date, msgw_errors *err)
{
    if (!err) return;
    char loc[128], mask[19], b[11];
    snprintf(loc, sizeof loc, "%s / %s", s->code, msgw_idnum_mask(ps->p.id_number, mask));
    msgw_error_add(err, -1, loc, bad >= 0 ? e->cat->params[bad].name : NULL, "eligibility.no_parameter",
                   "cannot evaluate %s on %s: parameter $%s has no value for that date", s->name,
                   msgw_date_format(date, b), bad >= 0 ? e->cat->params[bad].name : "?");
}

static void eligible_list_add(msgw_elig *e, size_t r, long pi)
{
    if (e->eligible_n[r] == e->eligible_cap[r]) {
        e->eligible_cap[r] = e->eligible_cap[r] ? e->eligible_cap[r] * 2 : 64;
        e->eligible_lists[r] = realloc(e->eligible_lists[r], e->eligible_cap[r] * sizeof **e->eligible_lists);
        if (!e->eligible_lists[r]) abort();
    }
    e->eligible_lists[r][e->eligible_n[r]++] = pi;
}

static void params_on_date(const msgw_elig *e, msgw_date date, params_on *p)
{
    for (size_t i = 0; i < e->cat->nparams && i < MSGW_MAX_PARAMS; i++) {
        const msgw_param_value *v = msgw_param_at(&e->cat->params[i], date);
        p->value[i] = v ? v->value : MSGW_ABSENT;
        p->from[i] = v ? v->from : MSGW_DATE_NONE;
    }
}

/* A person and their household as of one date: what a rule is evaluated on. */
typedef struct as_of {
    msgw_hview h;
    msgw_eval_ctx ctx;
    uint64_t presence;
    bool dead;
} as_of;

/*
 * A rule that cannot hold without a death (the funeral subsidy) is about the death: it is decided as
 * of the death date, on the facts current that day (the pension scheme the deceased belonged to when
 * they died, not after a department closed it) and the parameter values then in force.  Returns the
 * context to decide s with: the evaluation date's, or the one on the death date, built once.
 */
static const as_of *decided_as_of(msgw_elig *e, const msgw_service *s, long pi, const as_of *today, as_of *death,
                                  bool *built)
{
    uint64_t death_bit = e->death_fact >= 0 ? (uint64_t)1 << e->death_fact : 0;
    if (!today->dead || !(msgw_rule_required(s->eligible) & death_bit)) return today;
    if (*built) return death->ctx.date == today->ctx.date ? today : death;
    *built = true;
    const msgw_view *self = today->ctx.person;
    int64_t day = e->death_date_slot >= 0 ? self->slots[e->death_date_slot] : MSGW_ABSENT;
    if (day == MSGW_ABSENT) day = self->slots[e->cat->env->facts[e->death_fact].valid_from];
    if (day == MSGW_ABSENT || day <= INT32_MIN + 1 || day >= today->ctx.date) {
        death->ctx.date = today->ctx.date;
        return today;
    }
    params_on_date(e, (msgw_date)day, &e->at_death_params);
    self = build_household(e, &e->at_death, pi, (msgw_date)day, &death->h);
    death->ctx = (msgw_eval_ctx){(msgw_date)day, e->at_death_params.value, self, &death->h, e->at_death_params.from};
    death->presence = msgw_view_presence(e->cat->env, self);
    death->dead = true;
    return death;
}

/* Evaluates the rules of person pi that read what mask names (only: that rule alone; -1 all). */
static void evaluate_person(msgw_elig *e, long pi, msgw_date date, uint64_t mask, long only, const params_on *params,
                            const cause *c, msgw_transitions *out, msgw_errors *err)
{
    save_person(e, pi); /* its verdicts and keys may change */
    msgw_hview h;
    const msgw_view *self = build_household(e, &e->today, pi, date, &h);
    msgw_eval_ctx ctx = {date, params->value, self, &h, params->from};
    pstate *ps = &e->persons[pi];
    for (size_t k = 0; k < e->nkeys; k++) {
        int64_t kv = msgw_threshold_key(&e->keys[k], self, &h);
        if (e->keyvals[pi * (long)e->nkeys + (long)k] != kv) {
            e->keyvals[pi * (long)e->nkeys + (long)k] = kv;
            e->keys_dirty = true;
        }
    }
    bool dead = e->death_fact >= 0 && self->slots[e->cat->env->facts[e->death_fact].present] == 1;
    uint64_t presence = msgw_view_presence(e->cat->env, self);
    uint64_t death_bit = e->death_fact >= 0 ? (uint64_t)1 << e->death_fact : 0;
    bool has_residence = e->residence_fact >= 0 && ((presence >> e->residence_fact) & 1);
    as_of today = {h, ctx, presence, dead}, at_death;
    today.ctx.household = &today.h;
    bool death_built = false;
    /* jurisdiction, per decided_by (hukou, residence): the place, found once per person when needed */
    place places[2] = {{NULL, NULL, NULL}, {NULL, NULL, NULL}};
    int within[2] = {-1, -1}; /* -1 not looked at yet */
    e->last_evaluated++;
    for (size_t r = 0; r < e->nrules; r++) {
        const msgw_service *s = e->rules[r];
        if (only >= 0 && (long)r != only) continue;
        if (!(e->deps[r] & mask) && !(dead && (mask & death_bit))) continue;
        int bad = -1, by = s->decided_by == MSGW_BY_RESIDENCE;
        if (e->served && within[by] < 0) {
            places[by] = deciding_place(e, ps, s->decided_by, has_residence, date);
            within[by] = place_served(e, &places[by]);
        }
        /* Outside the region served: not this gateway's case, whatever the rule would say. */
        msgw_verdict now = {false, false, -1, MSGW_ABSENT, MSGW_DATE_NONE};
        const as_of *on = decided_as_of(e, s, pi, &today, &at_death, &death_built);
        if (within[by] != 0) now = evaluate(e, s, &on->ctx, on->dead, on->presence, &bad);
        if (now.error) {
            report_error(e, s, ps, bad, on->ctx.date, err);
            ps->verdicts[r].error = true;
            continue;
        }
        msgw_verdict *before = &ps->verdicts[r];
        /* a CHANGED tier or amount keeps the day the eligibility began */
        if (now.eligible) now.since = before->eligible ? before->since : eligible_since(e, s, &on->ctx, &now);
        if (verdict_same(before, &now)) {
            before->error = false;
            continue;
        }
        msgw_verdict old = *before;
        *before = now;
        if (now.eligible && !old.eligible) eligible_list_add(e, r, pi);
        emit_transition(e, s, ps, on->ctx.person, on->ctx.household, &old, &now, c,
                        within[by] == 0 ? &places[by] : NULL, date, on->ctx.date, out);
    }
}

/*
 * Re-evaluates the persons of a record and everyone in their households:
 * household aggregates read every member's facts, so each member is
 * evaluated once with everything that changed in the household.
 */
static void evaluate_affected(msgw_elig *e, const long *persons, const uint64_t *masks, size_t n, msgw_date date,
                              const cause *c, msgw_transitions *out, msgw_errors *err)
{
    params_on params;
    params_on_date(e, date, &params);
    for (size_t i = 0; i < n; i++) {
        long pi = persons[i], hi = e->persons[pi].household;
        if (hi < 0) {
            evaluate_person(e, pi, date, masks[i], -1, &params, c, out, err);
            continue;
        }
        bool done = false;
        for (size_t j = 0; j < i && !done; j++) done = e->persons[persons[j]].household == hi;
        if (done) continue;
        uint64_t mask = BIT_PERSON;
        for (size_t j = i; j < n; j++)
            if (e->persons[persons[j]].household == hi) mask |= masks[j];
        const hstate *hs = &e->households[hi];
        for (size_t k = 0; k < hs->n; k++) evaluate_person(e, hs->members[k], date, mask, -1, &params, c, out, err);
    }
}

static void apply_record(msgw_elig *e, const msgw_record *r, msgw_date date, msgw_transitions *out,
                         msgw_errors *err);

void msgw_elig_apply(msgw_elig *e, const msgw_record *r, msgw_date date, msgw_transitions *out, msgw_errors *err)
{
    e->last_evaluated = 0;
    if (r->message_id && msgw_elig_seen(e, r->message_id)) return; /* replay: nothing new */
    apply_record(e, r, date, out, err);
}

void msgw_elig_apply_stored(msgw_elig *e, const msgw_record *r, msgw_date date, msgw_transitions *out,
                                 msgw_errors *err)
{
    e->last_evaluated = 0;
    if (r->message_id && msgw_idset_has(e->seen, r->message_id)) return; /* applied in this group */
    apply_record(e, r, date, out, err);
}

static void apply_record(msgw_elig *e, const msgw_record *r, msgw_date date, msgw_transitions *out,
                         msgw_errors *err)
{
    if (r->message_id) remember(e, r->message_id);
    const char *mid = r->message_id ? keep(e, r->message_id) : NULL;
    size_t n = r->npersons;
    long *persons = calloc(n + 1, sizeof *persons);
    uint64_t *masks = calloc(n + 1, sizeof *masks);
    const msgw_fact **previous = calloc(r->nfacts + 1, sizeof *previous);
    /* copies: fact_store may move the person's facts (realloc) while later facts are stored */
    msgw_fact *prevcopy = calloc(r->nfacts + 1, sizeof *prevcopy);
    /* each person's hukou and residence regions before the record, to see whether they moved */
    const char **regions = calloc(2 * n + 1, sizeof *regions);
    if (!persons || !masks || !previous || !prevcopy || !regions) abort();
    for (size_t i = 0; i < n; i++) {
        persons[i] = person_get(e, r->persons[i].id_number, true);
        save_person(e, persons[i]);
        pstate *ps = &e->persons[persons[i]];
        if (!ps->origin) ps->origin = mid;
        regions[2 * i] = person_hukou(e, ps);
        regions[2 * i + 1] = ps->p.residence_region;
        person_update(e, ps, &r->persons[i], mid);
        masks[i] = BIT_PERSON;
    }
    touched left = {NULL, 0, 0};
    if (r->household) household_update(e, r->household, mid, &left);
    /* A move (the person's own hukou or residence, or the household's region they take) re-evaluates
     * every service: each is decided by a place (jurisdiction).  evaluate_affected passes the bit on
     * to the whole household. */
    for (size_t i = 0; i < n; i++) {
        const pstate *ps = &e->persons[persons[i]];
        const char *hk = person_hukou(e, ps), *rs = ps->p.residence_region;
        if (!same_str(hk, regions[2 * i]) || !same_str(rs, regions[2 * i + 1])) masks[i] |= BIT_REGION;
        if (regions[2 * i] && !same_str(hk, regions[2 * i])) e->persons[persons[i]].hukou_moved = date; /* saved above */
        if (regions[2 * i + 1] && !same_str(rs, regions[2 * i + 1])) e->persons[persons[i]].residence_moved = date;
    }
    for (size_t f = 0; f < r->nfacts; f++) {
        const msgw_fact *fact = &r->facts[f];
        long pi = person_get(e, fact->subject, false);
        if (pi < 0) continue; /* validated records only name their own persons */
        const sfact *prev = current_fact(&e->persons[pi], fact->type, date);
        if (prev) {
            prevcopy[f] = prev->f;
            previous[f] = &prevcopy[f];
        }
        fact_store(e, &e->persons[pi], fact, r, mid);
        int fi = msgw_rule_env_fact_index(e->cat->env, fact->type);
        for (size_t i = 0; i < n; i++)
            if (persons[i] == pi && fi >= 0) masks[i] |= (uint64_t)1 << fi;
    }
    /* who left the household, or stayed behind in one a member left: their household changed */
    persons = realloc(persons, (n + left.n + 1) * sizeof *persons);
    masks = realloc(masks, (n + left.n + 1) * sizeof *masks);
    if (!persons || !masks) abort();
    for (size_t i = 0; i < left.n; i++) {
        persons[n] = left.v[i];
        masks[n++] = BIT_PERSON | BIT_REGION; /* the household's region may have been their hukou */
    }
    free(left.v);
    cause c = {"record", r, NULL, MSGW_DATE_NONE, 0, 0, previous};
    evaluate_affected(e, persons, masks, n, date, &c, out, err);
    free(persons);
    free(masks);
    free(previous);
    free(prevcopy);
    free(regions);
}

static void reevaluate_param(msgw_elig *e, int pi, int64_t oldv, int64_t newv, msgw_date from, msgw_date date,
                             msgw_transitions *out, msgw_errors *err);

/* Adds person pi with mask to the sweep's list, merging repeats. */
static void sweep_add(long **persons, uint64_t **masks, size_t *n, size_t *cap, long pi, uint64_t mask)
{
    for (size_t i = 0; i < *n; i++)
        if ((*persons)[i] == pi) {
            (*masks)[i] |= mask;
            return;
        }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *persons = realloc(*persons, *cap * sizeof **persons);
        *masks = realloc(*masks, *cap * sizeof **masks);
        if (!*persons || !*masks) abort();
    }
    (*persons)[*n] = pi;
    (*masks)[(*n)++] = mask;
}

/*
 * The daily sweep touches only the persons something happens to on date:
 * a birthday (the birth-date index) or a fact starting or ending (the
 * boundary index), never everyone.
 */
void msgw_elig_sweep(msgw_elig *e, msgw_date date, msgw_transitions *out, msgw_errors *err)
{
    int y, m, d;
    e->last_evaluated = 0;
    msgw_date_to_ymd(date, &y, &m, &d);
    /* parameter values announced earlier that take effect today */
    for (size_t p = 0; p < e->cat->nparams; p++) {
        const msgw_param *pp = &e->cat->params[p];
        for (size_t v = 0; v < pp->nvalues; v++) {
            if (pp->values[v].from != date) continue;
            const msgw_param_value *before = msgw_param_at(pp, date - 1);
            reevaluate_param(e, (int)p, before ? before->value : MSGW_ABSENT, pp->values[v].value, date, date, out, err);
        }
    }

    long *persons = NULL;
    uint64_t *masks = NULL;
    size_t n = 0, cap = 0;
    for (long pi = e->birthdays[(m - 1) * 31 + (d - 1)]; pi >= 0; pi = e->persons[pi].next_birthday)
        sweep_add(&persons, &masks, &n, &cap, pi, BIT_PERSON);
    /* Those born on 29 February have their birthday on 1 March in other years. */
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 3 && d == 1 && !leap)
        for (long pi = e->birthdays[31 + 28]; pi >= 0; pi = e->persons[pi].next_birthday)
            sweep_add(&persons, &masks, &n, &cap, pi, BIT_PERSON);
    if (e->bounds_dirty) {
        qsort(e->bounds, e->nbounds, sizeof *e->bounds, cmp_bound);
        e->bounds_dirty = false;
    }
    size_t lo = 0, hi = e->nbounds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (e->bounds[mid].day < date) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; i < e->nbounds && e->bounds[i].day == date; i++)
        sweep_add(&persons, &masks, &n, &cap, e->bounds[i].person, e->bounds[i].bit);
    cause c = {"calendar", NULL, NULL, MSGW_DATE_NONE, 0, 0, NULL};
    evaluate_affected(e, persons, masks, n, date, &c, out, err);
    free(persons);
    free(masks);
}

static int cmp_keyent(const void *a, const void *b)
{
    const struct keyent *x = a, *y = b;
    return (x->value > y->value) - (x->value < y->value);
}

static void rebuild_key_index(msgw_elig *e)
{
    for (size_t k = 0; k < e->nkeys; k++) {
        free(e->keyindex[k]);
        e->keyindex[k] = malloc((e->n + 1) * sizeof *e->keyindex[k]);
        if (!e->keyindex[k]) abort();
        for (size_t i = 0; i < e->n; i++)
            e->keyindex[k][i] = (struct keyent){e->keyvals[i * e->nkeys + k], (long)i};
        qsort(e->keyindex[k], e->n, sizeof *e->keyindex[k], cmp_keyent);
    }
    e->keys_dirty = false;
}

/* Marks the persons whose key value lies in [lo, hi] (binary search in the sorted index). */
static void pick_range(msgw_elig *e, size_t k, int64_t lo, int64_t hi, unsigned char *pick)
{
    const struct keyent *ix = e->keyindex[k];
    size_t a = 0, b = e->n;
    while (a < b) {
        size_t m = (a + b) / 2;
        if (ix[m].value < lo) a = m + 1;
        else b = m;
    }
    for (; a < e->n && ix[a].value <= hi; a++) pick[ix[a].person] = 1;
}

/*
 * The persons a rule's use of parameter pi can flip between the old and the
 * new value: for each threshold `KEY op f($p)`, those whose KEY lies between
 * f(old) and f(new).  A use outside a threshold cannot be indexed: then every
 * person is evaluated (and the catalogue's docs say which rules do that).
 */
static void pick_by_rule(msgw_elig *e, const msgw_rule *r, int pi, int64_t oldv, int64_t newv,
                         unsigned char *pick, bool *scan_all)
{
    if (!r || !((msgw_rule_params(r) >> pi) & 1)) return;
    if (!msgw_rule_param_indexed(r, pi) || oldv == MSGW_ABSENT) {
        *scan_all = true;
        return;
    }
    if (e->keys_dirty) rebuild_key_index(e);
    for (size_t i = 0; i < msgw_rule_count_thresholds(r); i++) {
        const msgw_threshold *t = msgw_rule_threshold(r, i);
        if (t->param != pi) continue;
        int64_t a = msgw_rule_threshold_value(r, i, oldv), b = msgw_rule_threshold_value(r, i, newv);
        for (size_t k = 0; k < e->nkeys; k++)
            if (e->keys[k].household == t->household && e->keys[k].key == t->key)
                pick_range(e, k, (a < b ? a : b) - 1, (a < b ? b : a) + 1, pick);
    }
}

/* Re-evaluates, on date, the persons parameter pi's change from oldv to newv can affect. */
static void reevaluate_param(msgw_elig *e, int pi, int64_t oldv, int64_t newv, msgw_date from, msgw_date date,
                             msgw_transitions *out, msgw_errors *err)
{
    if (oldv == newv) return; /* not in force yet, or the same value: nothing moves */
    params_on params;
    params_on_date(e, date, &params);
    cause c = {"parameter", NULL, e->cat->params[pi].name, from, oldv, newv, NULL};
    unsigned char *pick = calloc(e->n + 1, 1);
    if (!pick) abort();
    uint64_t mask = BIT_PERSON;
    /* A parameter that had no value left verdicts in error: supplying one must revisit them all. */
    bool scan_all = oldv == MSGW_ABSENT;
    for (size_t r = 0; r < e->nrules; r++) {
        const msgw_service *s = e->rules[r];
        if (!((s->params >> pi) & 1)) continue;
        mask |= s->depends;
        pick_by_rule(e, s->eligible, pi, oldv, newv, pick, &scan_all);
        for (size_t t = 0; t < s->ntiers; t++) {
            pick_by_rule(e, s->tiers[t].when, pi, oldv, newv, pick, &scan_all);
            /* an amount computed from the parameter changes for everyone receiving it */
            if (s->tiers[t].amount && ((msgw_rule_params(s->tiers[t].amount) >> pi) & 1))
                for (size_t k = 0; k < e->eligible_n[r]; k++) pick[e->eligible_lists[r][k]] = 1;
        }
    }
    for (size_t i = 0; i < e->n; i++)
        if (scan_all || pick[i]) evaluate_person(e, (long)i, date, mask, -1, &params, &c, out, err);
    free(pick);
}

bool msgw_elig_param_change(msgw_elig *e, msgw_catalogue *cat, const char *param, msgw_date from,
                            int64_t value, const char *source, msgw_date date, msgw_transitions *out,
                            msgw_errors *err)
{
    int pi = msgw_rule_env_param_find(cat->env, param);
    if (pi < 0) {
        msgw_error_add(err, -1, cat->id, param, "eligibility.parameter", "catalogue %s has no parameter $%s", cat->id, param);
        return false;
    }
    msgw_param *p = &cat->params[pi];
    const msgw_param_value *old = msgw_param_at(p, date);
    int64_t oldv = old ? old->value : MSGW_ABSENT;
    /* insert the dated value (replacing one with the same date) */
    size_t at = 0;
    while (at < p->nvalues && p->values[at].from < from) at++;
    if (at < p->nvalues && p->values[at].from == from) {
        p->values[at].value = value;
        p->values[at].source = source ? msgw_catalogue_keep(cat, source) : NULL;
    } else {
        p->values = realloc(p->values, (p->nvalues + 1) * sizeof *p->values);
        if (!p->values) abort();
        memmove(&p->values[at + 1], &p->values[at], (p->nvalues - at) * sizeof *p->values);
        p->values[at] = (msgw_param_value){from, value, source ? msgw_catalogue_keep(cat, source) : NULL};
        p->nvalues++;
    }
    e->last_evaluated = 0;
    const msgw_param_value *now = msgw_param_at(p, date);
    reevaluate_param(e, pi, oldv, now ? now->value : MSGW_ABSENT, from, date, out, err);
    return true;
}

/* The index of the machine rule of service code, -1 when none. */
static long rule_index(const msgw_elig *e, const char *code)
{
    for (size_t r = 0; r < e->nrules; r++)
        if (strcmp(e->rules[r]->code, code) == 0) return (long)r;
    return -1;
}

/*
 * Whether stored fact i of ps can never again change a view on today or a
 * later day (build_view, msgw_view_apply_fact): it has ended before today,
 * so it no longer adds to its type's sets, and a fact of its type that has
 * started by today outranks it (a later start, or the same start stored
 * after it), so it no longer gives the type's values either.  A fact still
 * current, or the latest of its type, stays: an ended latest fact is what
 * says "no longer".
 */
static bool fact_dead(const pstate *ps, size_t i, msgw_date today)
{
    const msgw_fact *f = &ps->facts[i].f;
    if (f->valid_to == MSGW_DATE_NONE || f->valid_to >= today) return false;
    int32_t from = f->valid_from == MSGW_DATE_NONE ? INT32_MIN + 1 : f->valid_from;
    for (size_t k = 0; k < ps->nfacts; k++) {
        const msgw_fact *g = &ps->facts[k].f;
        if (k == i || strcmp(g->type, f->type) != 0) continue;
        int32_t gfrom = g->valid_from == MSGW_DATE_NONE ? INT32_MIN + 1 : g->valid_from;
        if (gfrom <= today && (gfrom > from || (gfrom == from && k > i))) return true;
    }
    return false;
}

/*
 * Compaction.  The arena only grows: a value replaced, a fact superseded and the provenance of a
 * record no fact cites any more stay in it.  A compaction copies what the state holds into a fresh
 * arena — each distinct string once, so the dictionary's names and the codes many people share are
 * held once — and frees the old one.  Everything that points into the arena is in the persons'
 * and households' states (savepoints copy them, hence only with none open); explanations are
 * copied into their transitions' own arenas.
 */
typedef struct compactor {
    msgw_arena *a;
    msgw_idmap *index; /* string -> its copy's number in kept */
    const char **kept;
    size_t n, cap;
} compactor;

static const char *recopy(compactor *c, const char *s)
{
    if (!s) return NULL;
    long i = msgw_idmap_get(c->index, s);
    if (i >= 0) return c->kept[i];
    c->kept = grow_to(c->kept, &c->cap, c->n + 1, sizeof *c->kept);
    c->kept[c->n] = msgw_arena_strdup(c->a, s);
    msgw_idmap_put(c->index, s, (long)c->n);
    return c->kept[c->n++];
}

static void recopy_fact(compactor *c, sfact *sf)
{
    msgw_attr *attrs = msgw_arena_alloc(c->a, (sf->f.nattrs + 1) * sizeof *attrs);
    for (size_t i = 0; i < sf->f.nattrs; i++) {
        attrs[i] = sf->f.attrs[i];
        attrs[i].name = recopy(c, attrs[i].name);
        if (attrs[i].v.kind == MSGW_V_STRING || attrs[i].v.kind == MSGW_V_CODE) attrs[i].v.u.s = recopy(c, attrs[i].v.u.s);
    }
    sf->f.attrs = attrs;
    sf->f.type = recopy(c, sf->f.type);
    sf->message_id = recopy(c, sf->message_id);
    sf->department = recopy(c, sf->department);
}

static void recopy_person(compactor *c, pstate *ps)
{
    const char **fields[] = {&ps->p.name,         &ps->p.sex,        &ps->p.ethnic,          &ps->p.marital,
                             &ps->p.hukou_region, &ps->p.hukou_type, &ps->p.residence_region, &ps->p.loc,
                             &ps->origin};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) *fields[k] = recopy(c, *fields[k]);
    for (size_t f = 0; f < F_COUNT; f++) ps->src[f] = recopy(c, ps->src[f]);
    for (size_t i = 0; i < ps->nfacts; i++) recopy_fact(c, &ps->facts[i]);
}

static void recopy_household(compactor *c, hstate *hs)
{
    const char **fields[] = {&hs->id, &hs->region, &hs->hukou_type, &hs->roster_src, &hs->region_src, &hs->type_src};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) *fields[k] = recopy(c, *fields[k]);
}

bool msgw_elig_compaction_due(const msgw_elig *e)
{
    size_t used = msgw_arena_used(e->arena);
    return used > 2 * e->compacted && used - e->compacted > MSGW_ELIG_COMPACT_SLACK;
}

bool msgw_elig_compact(msgw_elig *e)
{
    if (e->nsp) return false;
    compactor c = {.a = msgw_arena_new(1 << 20), .index = msgw_idmap_new()};
    for (size_t p = 0; p < e->n; p++) recopy_person(&c, &e->persons[p]);
    for (size_t h = 0; h < e->nh; h++) recopy_household(&c, &e->households[h]);
    msgw_idmap_destroy(&c.index);
    free(c.kept);
    msgw_arena_destroy(&e->arena);
    e->arena = c.a;
    e->compacted = msgw_arena_used(e->arena);
    return true;
}

size_t msgw_elig_arena_bytes(const msgw_elig *e)
{
    return msgw_arena_used(e->arena);
}


void msgw_elig_each_live_record(const msgw_elig *e, msgw_date today, void (*cb)(void *ud, const char *message_id),
                                void *ud)
{
    for (size_t p = 0; p < e->n; p++) {
        const pstate *ps = &e->persons[p];
        for (size_t i = 0; i < ps->nfacts; i++)
            if (ps->facts[i].message_id && !fact_dead(ps, i, today)) cb(ud, ps->facts[i].message_id);
        for (size_t f = 0; f < F_COUNT; f++)
            if (ps->src[f]) cb(ud, ps->src[f]);
        if (ps->origin) cb(ud, ps->origin);
    }
    for (size_t h = 0; h < e->nh; h++) {
        const hstate *hs = &e->households[h];
        const char *srcs[] = {hs->roster_src, hs->region_src, hs->type_src};
        for (size_t k = 0; k < 3; k++)
            if (srcs[k]) cb(ud, srcs[k]);
    }
}

void msgw_elig_restore_since(msgw_elig *e, const char *person, const char *service, msgw_date since)
{
    long pi = msgw_idmap_get(e->person_index, person), r = rule_index(e, service);
    if (pi >= 0 && r >= 0 && e->persons[pi].verdicts[r].eligible && since != MSGW_DATE_NONE)
        e->persons[pi].verdicts[r].since = since;
}

void msgw_elig_reevaluate_all(msgw_elig *e, msgw_date date, msgw_transitions *out, msgw_errors *err)
{
    msgw_elig_reevaluate_range(e, date, NULL, 0, e->n, out, err);
}

bool msgw_elig_has_rule(const msgw_elig *e, const char *service)
{
    return rule_index(e, service) >= 0;
}

size_t msgw_elig_reevaluate_range(msgw_elig *e, msgw_date date, const char *service, size_t from, size_t to,
                                  msgw_transitions *out, msgw_errors *err)
{
    long only = service ? rule_index(e, service) : -1;
    e->last_evaluated = 0;
    if (service && only < 0) return 0;
    params_on params;
    params_on_date(e, date, &params);
    cause c = {"calendar", NULL, NULL, MSGW_DATE_NONE, 0, 0, NULL};
    if (to > e->n) to = e->n;
    for (size_t i = from; i < to; i++) evaluate_person(e, (long)i, date, ALL_BITS, only, &params, &c, out, err);
    return to > from ? to - from : 0;
}

const msgw_verdict *msgw_elig_verdict(const msgw_elig *e, const char *person, const char *service)
{
    long pi = msgw_idmap_get(e->person_index, person), r = rule_index(e, service);
    return pi < 0 || r < 0 ? NULL : &e->persons[pi].verdicts[r];
}

void msgw_elig_person_regions(const msgw_elig *e, const char *person, const char **hukou, const char **residence)
{
    *hukou = *residence = NULL;
    long pi = msgw_idmap_get(e->person_index, person);
    if (pi < 0) return;
    const pstate *p = &e->persons[pi];
    const hstate *h = p->household >= 0 ? &e->households[p->household] : NULL;
    *hukou = p->p.hukou_region ? p->p.hukou_region : h ? h->region : NULL;
    *residence = p->p.residence_region;
}

json_t *msgw_elig_person_json(const msgw_elig *e, const char *person, msgw_date date)
{
    long pi = msgw_idmap_get(e->person_index, person);
    if (pi < 0) return NULL;
    json_t *o = json_object(), *arr = json_array();
    char b[11];
    json_object_set_new(o, "person", json_string(person));
    json_object_set_new(o, "date", json_string(msgw_date_format(date, b)));
    for (size_t r = 0; r < e->nrules; r++) {
        const msgw_verdict *v = &e->persons[pi].verdicts[r];
        if (!v->eligible && !v->error) continue;
        json_t *s = json_object();
        json_object_set_new(s, "service", json_string(e->rules[r]->code));
        json_object_set_new(s, "name", json_string(e->rules[r]->name));
        json_t *deps = json_array();
        for (size_t d = 0; d < e->rules[r]->ndepartments; d++)
            json_array_append_new(deps, json_string(e->rules[r]->departments[d]));
        json_object_set_new(s, "departments", deps);
        if (v->error) json_object_set_new(s, "error", json_true());
        if (v->eligible) json_object_set_new(s, "since", json_string(msgw_date_format(v->since, b)));
        if (v->tier >= 0) json_object_set_new(s, "tier", json_string(e->rules[r]->tiers[v->tier].name));
        if (v->amount != MSGW_ABSENT) json_object_set_new(s, "amount_fen", json_integer(v->amount));
        json_array_append_new(arr, s);
    }
    json_object_set_new(o, "eligible", arr);
    json_object_set_new(o, "facts_held", json_integer((json_int_t)e->persons[pi].nfacts));
    return o;
}

size_t msgw_elig_count_persons(const msgw_elig *e)
{
    return e->n;
}

size_t msgw_elig_last_evaluated(const msgw_elig *e)
{
    return e->last_evaluated;
}
