/*
 * An eligibility notice: one transition (include/msgw/eligibility.h) as it
 * is told to one department.  Routing (gateway/route.c) builds it from the
 * transition and its explanation; each department's adapter encodes it in
 * its own format (msgw_adapter.encode_notice), the canonical adapter as the
 * explanation itself (docs/eligibility.md, "Eligibility notices").
 *
 * Everything is typed here, so an encoder never re-parses the explanation:
 * dates are msgw_date, instants msgw_time, money integer fen.  Strings and
 * arrays are borrowed (from the transition's explanation or the routing
 * arena) and live as long as the routing call that made the notice.
 */
#ifndef MSGW_NOTICE_H
#define MSGW_NOTICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msgw/date.h"
#include "msgw/eligibility.h"
#include "msgw/model.h"

/* The media type of the canonical notice: the explanation JSON, unchanged. */
#define MSGW_NOTICE_CANONICAL_MEDIA_TYPE "application/vnd.msgw.eligibility+json"
/* Code system of the catalogues' service codes (TJ-D7-12, LF-052: the prefix says whose). */
#define MSGW_NOTICE_SERVICE_SYSTEM "urn:msgw:catalogue:service"

/* A fact that decided, with its provenance. */
typedef struct msgw_notice_fact {
    const char *type;               /* dictionary fact type */
    msgw_date valid_from, valid_to; /* MSGW_DATE_NONE: open */
    const msgw_attr *attrs;         /* typed by the dictionary (codes, money, dates, ...) */
    size_t nattrs;
    const char *department; /* who sent it */
    const char *message_id; /* the message that carried it */
    msgw_time recorded_at;  /* when the gateway recorded it; 0 unknown */
} msgw_notice_fact;

/* A catalogue parameter the rule used, with the value in force on the evaluation date. */
typedef struct msgw_notice_param {
    const char *name;
    int64_t value;      /* MSGW_ABSENT: no value on the date */
    msgw_date from;     /* the value's valid-from date, MSGW_DATE_NONE without a value */
    const char *source; /* citation, may be NULL */
} msgw_notice_param;

/* One attribute the causing record changed ("disability_grade from 3 to 2"). */
typedef struct msgw_notice_change {
    const char *fact, *attribute;
    const char *from; /* NULL: the attribute was not known before */
    const char *to;
} msgw_notice_change;

typedef enum { MSGW_CAUSE_RECORD, MSGW_CAUSE_CALENDAR, MSGW_CAUSE_PARAMETER } msgw_cause_kind;

typedef struct msgw_notice_cause {
    msgw_cause_kind kind;
    const char *department, *message_id; /* RECORD */
    const msgw_notice_change *changes;   /* RECORD */
    size_t nchanges;
    const char *parameter; /* PARAMETER: its name, the date its new value applies from, */
    msgw_date param_from;  /* the old value (MSGW_ABSENT: none) and the new one */
    int64_t old_value, new_value;
    bool death; /* a LOST caused by a recorded death */
    /* a LOST because the deciding place is outside the region served (docs/eligibility.md,
     * "Jurisdiction"): whose place decides ("hukou", "residence"), its region, the region served;
     * NULL otherwise */
    const char *jurisdiction_by, *jurisdiction_region, *jurisdiction_served;
} msgw_notice_cause;

typedef struct msgw_notice {
    const char *event_id; /* the outbox event id: receivers de-duplicate by it */
    msgw_transition_kind kind;
    const char *service_code, *service_name;
    const char *person;       /* the resident ID number, 18 characters */
    const char *person_name;  /* NULL when the causing record does not name the person */
    const char *hukou_region; /* GB/T 2260, NULL when not known */
    msgw_date date;           /* the evaluation date */
    msgw_date since;          /* first day of the entitlement (LOST: of the one that ended) */
    msgw_date until;          /* LOST: the last day it held as far as the gateway knows (the end
                                 the causing record gives a fact of the person, a death date, else
                                 the day before `date`; never before `since`); else NONE */
    /* The entitlement after the transition (LOST: no tier, amount 0) and before it (NEW: none). */
    const char *tier;              /* NULL: none */
    int64_t amount;                /* fen; MSGW_ABSENT: the service pays no amount (in kind) */
    const char *previous_tier;     /* CHANGED, LOST */
    int64_t previous_amount;       /* CHANGED, LOST: fen; MSGW_ABSENT: none */
    const char *amount_period;     /* "per person per month", NULL */
    const char *rule;              /* the rule's text */
    const msgw_notice_fact *facts; /* the person's current facts the rule reads; for a LOST also the
                                      causing record's facts about the person (a fact that stopped
                                      holding is no longer current, yet it decided) */
    size_t nfacts;
    const msgw_notice_param *params;
    size_t nparams;
    msgw_notice_cause cause;
    const char *text;          /* the readable line (ID number masked) */
    const json_t *explanation; /* the explanation as data (docs/eligibility.md) */
} msgw_notice;

/* "NEW", "LOST", "CHANGED": the names every notice format uses. */
static inline const char *msgw_notice_kind_name(msgw_transition_kind k)
{
    return k == MSGW_TR_NEW ? "NEW" : k == MSGW_TR_LOST ? "LOST" : "CHANGED";
}

/* "record", "calendar", "parameter". */
static inline const char *msgw_notice_cause_name(msgw_cause_kind k)
{
    return k == MSGW_CAUSE_RECORD ? "record" : k == MSGW_CAUSE_CALENDAR ? "calendar" : "parameter";
}

#endif
