/*
 * An eligibility notice: one transition (include/msgw/engine/eligibility.h) as it
 * is told to one department.  Routing (gateway/pipeline/route.c) builds it from the
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

#include "msgw/base/buf.h"
#include "msgw/base/date.h"
#include "msgw/model/explanation.h"
#include "msgw/model/model.h"

/* The media type of the canonical notice: the explanation JSON, unchanged. */
#define MSGW_NOTICE_CANONICAL_MEDIA_TYPE "application/vnd.msgw.eligibility+json"
/* Code system of the catalogues' service codes (TJ-D7-12, LF-052: the prefix says whose). */
#define MSGW_NOTICE_SERVICE_SYSTEM "urn:msgw:catalogue:service"

/* The explanation's parts, as the notice encoders know them (include/msgw/model/explanation.h). */
typedef msgw_expl_fact msgw_notice_fact;
typedef msgw_expl_param msgw_notice_param;
typedef msgw_expl_change msgw_notice_change;
typedef msgw_expl_cause msgw_notice_cause;

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
    const char *text;                    /* the readable line (ID number masked) */
    const msgw_explanation *explanation; /* the explanation, projected for the recipient like the
                                            facts and changes above (the canonical notice) */
} msgw_notice;

/*
 * Several notices in one message (gateway/model/notice_list.c): the list documents that carry n
 * notices an adapter wrote (bodies[i] of lens[i] bytes, all of one media type) to one recipient in
 * one delivery, each notice unchanged inside.  Bodies are the gateway's own documents, never a
 * sender's: they are joined, not parsed.  docs/eligibility.md, "Several notices in one message".
 * A JSON format's list is an array: msgw_buf_json_array (msgw/base/buf.h).
 */
/* <root xmlns="ns" version="version"> (ns NULL: no namespace) holding each notice's root element,
 * under the first notice's XML declaration (so the list is in the notices' own encoding). */
void msgw_notice_list_xml(msgw_buf *out, const char *root, const char *ns, const char *version,
                          const char *const *bodies, const size_t *lens, size_t n);

#endif
