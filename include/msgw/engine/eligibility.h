/*
 * Per-person eligibility state: the facts the gateway knows about each
 * person and household, the current verdict for every (person, service),
 * and the transitions (NEW / LOST / CHANGED) that a new record, a calendar
 * day or a parameter change causes, each with its explanation.
 *
 * Only the rules that read what changed are re-evaluated, only for the
 * persons concerned (the subject and their household).
 *
 * Jurisdiction: a service is evaluated for a person only when the place that
 * decides it (the hukou region, or where the person lives, by the service's
 * decided_by) lies in the catalogue's region, or is not known at all; never
 * from the ID number's address code (docs/eligibility.md, "Jurisdiction").
 */
#ifndef MSGW_ELIGIBILITY_H
#define MSGW_ELIGIBILITY_H

#include <jansson.h>

#include "msgw/base/arena.h"
#include "msgw/engine/catalogue.h"
#include "msgw/model/explanation.h"
#include "msgw/model/model.h"

typedef struct msgw_verdict {
    bool eligible;
    bool error;      /* the rule could not be evaluated (e.g. a parameter without value) */
    int tier;        /* index into the service's tiers, -1 none */
    int64_t amount;  /* fen, MSGW_ABSENT when the tier has none */
    msgw_date since; /* eligible since */
} msgw_verdict;

typedef struct msgw_transition {
    msgw_transition_kind kind;
    char person[19];
    const msgw_service *service;
    msgw_verdict before, after;
    msgw_explanation explanation; /* the reasons as data (docs/eligibility.md) */
    const char *text;             /* the same, readable (ID number masked) */
} msgw_transition;

/* Transitions with their explanations, which live in the list's arena until it is cleared. */
typedef struct msgw_transitions {
    msgw_transition *v;
    size_t n, cap;
    msgw_arena *arena;
} msgw_transitions;

void msgw_transitions_init(msgw_transitions *t);
void msgw_transitions_clear(msgw_transitions *t);

typedef struct msgw_elig msgw_elig;

msgw_elig *msgw_elig_new(const msgw_catalogue *cat);
/* The region this gateway serves (its configuration's), before any record is applied: the
 * engine's jurisdiction is then this region, or the catalogue's when that one lies inside it (a
 * Hebei gateway running Langfang's catalogue); without it, the catalogue's region. */
void msgw_elig_serve(msgw_elig *e, const char *region);
void msgw_elig_destroy(msgw_elig **e);
/*
 * Savepoints: begin remembers the state; what is applied, swept or
 * re-evaluated after it can be undone by rollback (a group whose commit
 * failed: the engine is as before, without a replay of the store), or kept
 * by release.  Up to MSGW_ELIG_SAVEPOINTS are open at once, nested, as the
 * pipeline has them: a group is evaluated (begin) while the one before it is
 * being committed.  Commits end in order, so release keeps the oldest open
 * savepoint's changes, and rollback undoes every open one, newest first: a
 * group whose commit failed takes the groups evaluated after it with it.
 * begin with MSGW_ELIG_SAVEPOINTS open releases the oldest first.  Parameter
 * values (msgw_elig_param_change changes the catalogue) are not undone.
 */
#define MSGW_ELIG_SAVEPOINTS 2
void msgw_elig_begin(msgw_elig *e);
void msgw_elig_rollback(msgw_elig *e);
void msgw_elig_release(msgw_elig *e);
size_t msgw_elig_savepoints(const msgw_elig *e);
/* A record with this message id was applied (the engine's record of replays; with a store to ask,
 * the store is asked when the filter cannot say no). */
bool msgw_elig_seen(msgw_elig *e, const char *message_id);
/*
 * Replays told by the store from now on: the ids applied so far go into a Bloom filter (sized for
 * twice as many, at least a million), and the id of each record applied later leaves the engine's
 * exact set when its savepoint is released, its group committed.  An id the filter may hold is
 * looked up with known(ud, id) (true: stored).  Memory then stays the same however many records
 * arrive (docs/eligibility.md, "Replays").  Records applied after this are applied under a
 * savepoint (the pipeline's groups) or come from the store (msgw_elig_apply_stored, which never
 * asks); the caller calls it again after a rebuild.
 */
void msgw_elig_tell_replays_by(msgw_elig *e, bool (*known)(void *ud, const char *id), void *ud);
/*
 * Compaction (docs/eligibility.md, "Memory"): what the state holds copied into a fresh arena, each
 * distinct string once, and the old one freed — values replaced and provenance superseded since go
 * with it.  Only with no savepoint open (false otherwise); strings the engine handed out
 * (msgw_elig_person_regions) are not valid after it.  Due when the arena has doubled since the last
 * one and grown by more than MSGW_ELIG_COMPACT_SLACK bytes (whether savepoints are open or not):
 * copying is then paid for by what was appended since, and the arena stays within about twice
 * what the state needs.
 */
#define MSGW_ELIG_COMPACT_SLACK ((size_t)8 << 20)
bool msgw_elig_compaction_due(const msgw_elig *e);
bool msgw_elig_compact(msgw_elig *e);
size_t msgw_elig_arena_bytes(const msgw_elig *e);
/*
 * Applies a validated record on evaluation date `date`.  A record whose
 * message id was applied before changes nothing and emits nothing.
 */
void msgw_elig_apply(msgw_elig *e, const msgw_record *r, msgw_date date, msgw_transitions *out,
                     msgw_errors *err);
/* The same for a record the store has (several instances, docs/cluster.md: one stored by another
 * instance and not yet evaluated, or one another instance evaluated, followed here): applied
 * without asking the store whether it was; only one applied in an open savepoint (the same group)
 * counts as applied. */
void msgw_elig_apply_stored(msgw_elig *e, const msgw_record *r, msgw_date date, msgw_transitions *out,
                                 msgw_errors *err);
/* The daily sweep: persons whose birthday is on date are re-evaluated (age thresholds). */
void msgw_elig_sweep(msgw_elig *e, msgw_date date, msgw_transitions *out, msgw_errors *err);
/*
 * A new dated value of a catalogue parameter (the catalogue is updated):
 * re-evaluates only the persons it can affect, on date.
 */
bool msgw_elig_param_change(msgw_elig *e, msgw_catalogue *cat, const char *param, msgw_date from,
                            int64_t value, const char *source, msgw_date date,
                            msgw_transitions *out, msgw_errors *err);
/* Evaluation errors (a rule whose parameter has no value on the date) are added to err with
 * location "SERVICE / PERSON (masked)" and rule "eligibility.no_parameter": never a silent
 * "not eligible". */

/* Re-evaluates every person on date (a state loaded from disk, moved to a new date). */
void msgw_elig_reevaluate_all(msgw_elig *e, msgw_date date, msgw_transitions *out, msgw_errors *err);
/* Re-evaluates the persons numbered [from, to) (0 .. msgw_elig_count_persons) on date, for one
 * service (its code) or every service (NULL), so a long re-evaluation can be done in steps;
 * returns how many persons were evaluated (0 for a service without a machine rule). */
size_t msgw_elig_reevaluate_range(msgw_elig *e, msgw_date date, const char *service, size_t from, size_t to,
                                  msgw_transitions *out, msgw_errors *err);
/*
 * Calls cb with the message id of every record the state still needs on
 * today and later days (a message id may come more than once): the records
 * that gave a fact still current or still the latest of its type, a
 * person's demographic field or a household's roster, region or hukou type
 * as held now, and the first record that named each person (so everyone
 * known stays known: storage grows with the population, not the history).  Any other record can be forgotten: replaying the rest gives
 * the same state (docs/store.md, "Retention of records").
 */
void msgw_elig_each_live_record(const msgw_elig *e, msgw_date today, void (*cb)(void *ud, const char *message_id),
                                void *ud);
/* Sets the date an eligible verdict holds since (the notified one, read back from the store after a
 * rebuild from fewer records); no effect on a verdict that is not eligible. */
void msgw_elig_restore_since(msgw_elig *e, const char *person, const char *service, msgw_date since);
/* True when the gateway decides service by a machine rule. */
bool msgw_elig_has_rule(const msgw_elig *e, const char *service);

/* Current verdict, or NULL when the person is unknown or the service has no rule. */
const msgw_verdict *msgw_elig_verdict(const msgw_elig *e, const char *person, const char *service);
/* All verdicts of a person as JSON (eligible services with tier, amount, since). */
json_t *msgw_elig_person_json(const msgw_elig *e, const char *person, msgw_date date);
size_t msgw_elig_count_persons(const msgw_elig *e);
/* A person's hukou and residence regions (GB/T 2260; the household's when the person's own is not
 * known), NULL when unknown.  The strings live until e is compacted (msgw_elig_compact). */
void msgw_elig_person_regions(const msgw_elig *e, const char *person, const char **hukou, const char **residence);
/* Persons re-evaluated by the last operation (for tests and benchmarks of the indexes). */
size_t msgw_elig_last_evaluated(const msgw_elig *e);

#endif
