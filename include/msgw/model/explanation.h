/*
 * Why a verdict changed, as data: what the eligibility engine hands routing
 * with every transition (include/msgw/engine/eligibility.h).  Everything is typed
 * (dates as msgw_date, money in fen, fact attributes typed by the
 * dictionary), so routing and the notice encoders read fields, never parse
 * text back; JSON is made from it once, where it is written out
 * (msgw_explanation_json: the canonical notice, `msgw eval --json`).
 *
 * Strings and arrays belong to the transitions list that holds the
 * transition (its arena); the rule's citation is borrowed from the catalogue.
 */
#ifndef MSGW_EXPLANATION_H
#define MSGW_EXPLANATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msgw/base/date.h"
#include "msgw/model/model.h"

typedef enum { MSGW_TR_NEW, MSGW_TR_LOST, MSGW_TR_CHANGED } msgw_transition_kind;

/* A fact that decided, with its provenance. */
typedef struct msgw_expl_fact {
    const char *type;               /* dictionary fact type */
    msgw_date valid_from, valid_to; /* MSGW_DATE_NONE: open */
    const msgw_attr *attrs;         /* typed by the dictionary (codes, money, dates, ...) */
    size_t nattrs;
    const char *department; /* who sent it */
    const char *message_id; /* the message that carried it */
    msgw_time recorded_at;  /* when the gateway recorded it; 0 unknown */
} msgw_expl_fact;

/* A catalogue parameter the rule used, with the value in force on the date decided. */
typedef struct msgw_expl_param {
    const char *name;
    int64_t value;      /* MSGW_ABSENT: no value on the date */
    msgw_date from;     /* the value's valid-from date, MSGW_DATE_NONE without a value */
    const char *source; /* citation, may be NULL */
} msgw_expl_param;

/* One attribute the causing record changed ("disability_grade from 3 to 2"), as text. */
typedef struct msgw_expl_change {
    const char *fact, *attribute;
    const char *from; /* NULL: the attribute was not known before */
    const char *to;
} msgw_expl_change;

typedef enum { MSGW_CAUSE_RECORD, MSGW_CAUSE_CALENDAR, MSGW_CAUSE_PARAMETER } msgw_cause_kind;

typedef struct msgw_expl_cause {
    msgw_cause_kind kind;
    const char *department, *message_id; /* RECORD */
    const msgw_expl_change *changes;     /* RECORD */
    size_t nchanges;
    const char *parameter; /* PARAMETER: its name, the date its new value applies from, */
    msgw_date param_from;  /* the old value (MSGW_ABSENT: none) and the new one */
    int64_t old_value, new_value;
    bool death; /* a LOST caused by a recorded death */
    /* a LOST because the deciding place is outside the region served (docs/eligibility.md,
     * "Jurisdiction"): whose place decides ("hukou", "residence"), its region, whose region that
     * is ("hukou", "residence"), where it was found ("person", "household", "residence_fact"), the
     * region served; all NULL otherwise */
    const char *jurisdiction_by, *jurisdiction_region, *jurisdiction_of, *jurisdiction_source,
        *jurisdiction_served;
} msgw_expl_cause;

typedef struct msgw_explanation {
    msgw_transition_kind kind;
    const char *service, *name; /* the service's code and name */
    const char *person;         /* the resident ID number (notices carry it; logs mask it) */
    msgw_date date;             /* the evaluation date */
    msgw_date since;            /* NEW, CHANGED: eligible since; else MSGW_DATE_NONE */
    const char *tier;           /* the tier now (LOST: the one that ended); NULL none */
    int64_t amount;             /* fen now (LOST: 0); MSGW_ABSENT: the service pays none */
    bool has_previous;          /* CHANGED: the tier and amount before */
    const char *previous_tier;
    int64_t previous_amount;
    const char *amount_period;
    const char *const *departments; /* the catalogue's, for this service */
    size_t ndepartments;
    const char *rule;             /* the rule's text */
    const json_t *rule_source;    /* its citation (borrowed from the catalogue), may be NULL */
    const msgw_expl_param *params; /* every parameter the rule reads */
    size_t nparams;
    const msgw_expl_fact *facts; /* the person's current facts of every type the rule reads */
    size_t nfacts;
    const char *hukou_region, *residence_region; /* the person's, NULL unknown */
    int age;                                     /* on the date decided; -1 unknown */
    bool household;                              /* the rule reads household fields: */
    int64_t household_size, per_capita_income;   /* (per-capita income MSGW_ABSENT unknown) */
    msgw_expl_cause cause;
} msgw_explanation;

/* "NEW", "LOST", "CHANGED": the names every notice format uses. */
static inline const char *msgw_transition_kind_name(msgw_transition_kind k)
{
    return k == MSGW_TR_NEW ? "NEW" : k == MSGW_TR_LOST ? "LOST" : "CHANGED";
}

/* "record", "calendar", "parameter". */
static inline const char *msgw_cause_kind_name(msgw_cause_kind k)
{
    return k == MSGW_CAUSE_RECORD ? "record" : k == MSGW_CAUSE_CALENDAR ? "calendar" : "parameter";
}

/* The explanation as JSON (docs/eligibility.md, "Explanations"); a new reference. */
json_t *msgw_explanation_json(const msgw_explanation *x);

#endif
