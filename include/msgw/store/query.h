/*
 * The store's query side: what the administrators and `msgw trace` read
 * (docs/admin.md) — a message end to end, the dead letters and their replay,
 * the delivery queues, the transition log, what is known of a person, and
 * counts.  Apart from the write path (msgw/store/store.h) so a backend's
 * hot path stays small and the queries can change without touching it.
 *
 * Rows are plain typed values as the store holds them: ID numbers in full,
 * times as msgw_time, absent values as NULL, MSGW_DATE_NONE or INT64_MIN.
 * Presenting them — masking, the admin API's field names, time formats — is
 * the job of the layer that shows them (gateway/admin/present.c).  Strings and
 * arrays of a result live in the arena the caller passes, and are freed with
 * it.
 */
#ifndef MSGW_STORE_QUERY_H
#define MSGW_STORE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msgw/base/arena.h"
#include "msgw/base/date.h"
#include "msgw/base/error.h"
#include "msgw/store/store.h"

/* A stored record, as received. */
typedef struct msgw_record_row {
    int64_t seq;
    const char *message_id, *kind, *sender;
    const char *source_message_id; /* the sender's own id; NULL: none */
    const char *body_digest;       /* SHA-256 hex of the bytes received; NULL: none */
    msgw_time recorded_at;
} msgw_record_row;

/* A fact a record wrote, with its provenance. */
typedef struct msgw_fact_row {
    const char *subject, *type;
    msgw_date valid_from, valid_to; /* MSGW_DATE_NONE: open */
    const char *attributes;         /* a JSON object, as in the canonical form */
    const char *department;
} msgw_fact_row;

/* A peer gateway's signed envelope that carried a record (docs/federation.md). */
typedef struct msgw_envelope_row {
    const char *peer;
    const char *digest; /* SHA-256 hex of its signed bytes */
    int64_t bytes;
    msgw_time received_at;
} msgw_envelope_row;

typedef enum msgw_outbox_state {
    MSGW_OUTBOX_PENDING,
    MSGW_OUTBOX_DELIVERED,
    MSGW_OUTBOX_DEAD,
} msgw_outbox_state;

/* An outbox message and its delivery state (the body is not read). */
typedef struct msgw_outbox_row {
    int64_t id;
    const char *event_id, *recipient, *kind, *media_type, *person;
    const char *cause; /* message id of the record that caused it; NULL: none */
    msgw_outbox_state state;
    int attempts;
    msgw_time created_at;
    msgw_time next_at;      /* pending: due then; dead: when it was last scheduled */
    msgw_time delivered_at; /* MSGW_OUTBOX_DELIVERED only */
    const char *last_error; /* NULL: none */
} msgw_outbox_row;

/* An outbox message that disclosed something of a person (msgw_store_disclosures), with what it
 * carried and the rule it went out on (docs/disclosure.md). */
typedef struct msgw_disclosure_row {
    msgw_outbox_row m;
    int64_t record_seq; /* the record that caused it; 0: none (the calendar, a parameter) */
    const char *basis;  /* "subscription DEPT/N", "agreement PEER", "service CODE"; NULL: not kept */
    const char *body;   /* the bytes sent, NUL-terminated */
    size_t len;
} msgw_disclosure_row;

/* A logged transition (msgw_store_verdict's kind, when it was written). */
typedef struct msgw_transition_row {
    int64_t id;
    msgw_time at;
    const char *person, *service, *kind; /* kind: "new", "lost", "changed" */
    bool eligible;
    const char *tier;                            /* NULL: none */
    int64_t amount;                              /* fen; INT64_MIN: none */
    const char *hukou_region, *residence_region; /* NULL: unknown */
    const char *explanation;                     /* NULL: none */
    const char
        *cause; /* message id of the record that caused it; NULL: the calendar, a parameter */
} msgw_transition_row;

/* A recipient's delivery queue. */
typedef struct msgw_queue_row {
    const char *recipient;
    int64_t pending;
    msgw_time oldest_pending; /* created_at of its oldest pending message; 0: none */
    int64_t dead;
} msgw_queue_row;

typedef struct msgw_record_rows {
    msgw_record_row *v;
    size_t n;
} msgw_record_rows;
typedef struct msgw_fact_rows {
    msgw_fact_row *v;
    size_t n;
} msgw_fact_rows;
typedef struct msgw_verdict_rows {
    msgw_store_verdict *v; /* as read back: updated_at filled, the transition fields not */
    size_t n;
} msgw_verdict_rows;
typedef struct msgw_outbox_rows {
    msgw_outbox_row *v;
    size_t n;
} msgw_outbox_rows;
typedef struct msgw_disclosure_rows {
    msgw_disclosure_row *v;
    size_t n;
} msgw_disclosure_rows;
typedef struct msgw_transition_rows {
    msgw_transition_row *v;
    size_t n;
} msgw_transition_rows;
typedef struct msgw_queue_rows {
    msgw_queue_row *v;
    size_t n;
} msgw_queue_rows;

/* Everything the store knows of one message (docs/admin.md, "Message trace"). */
typedef struct msgw_trace {
    msgw_record_row record;
    const msgw_envelope_row *envelope; /* the peer's envelope that carried it; NULL: none */
    msgw_fact_rows facts;              /* in the order written */
    msgw_verdict_rows verdicts;        /* the verdicts it changed last, by person and service */
    msgw_outbox_rows messages;         /* every outbox message it caused, oldest first */
} msgw_trace;

/* What the store knows of one person. */
typedef struct msgw_person_page {
    const char *person;
    msgw_verdict_rows verdicts;       /* by service */
    msgw_record_rows records;         /* the latest 50 that wrote facts about them, newest first */
    msgw_transition_rows transitions; /* the latest 50, newest first */
} msgw_person_page;

/* Which logged transitions to list (msgw_store_transitions); NULL or empty fields do not
 * filter. */
typedef struct msgw_transition_filter {
    const char *service;  /* a service code */
    const char *district; /* a GB/T 2260 prefix, matched against the hukou and residence regions */
    const char *person;   /* an ID number */
    size_t max;           /* at most this many, newest first (0: 100) */
} msgw_transition_filter;

typedef struct msgw_store_stats {
    int64_t records, facts, pending, delivered, dead;
    msgw_time oldest_pending; /* 0 when none */
} msgw_store_stats;

/*
 * The record with this message id and what it caused: its facts, the
 * verdicts it changed last, every outbox message it caused with its delivery
 * state, and the envelope that carried it.  *out is NULL when no record has
 * that message id (a rejected record is never stored; retention forgets old
 * ones).
 */
bool msgw_store_trace(msgw_store *s, const char *message_id, msgw_arena *a, msgw_trace **out,
                      msgw_errors *e);
/* What the store knows of person: *out NULL when it holds no verdict, record or transition of
 * them. */
bool msgw_store_person(msgw_store *s, const char *person, msgw_arena *a, msgw_person_page **out,
                       msgw_errors *e);
/* Logged transitions matching f, newest first. */
/* The latest max records that wrote facts about person, newest first. */
bool msgw_store_person_records(msgw_store *s, const char *person, size_t max, msgw_arena *a, msgw_record_rows *out,
                               msgw_errors *e);
/* The outbox messages that disclosed something of person, oldest first, at most max: those caused
 * by a record that wrote facts about them (a record routed to a department or sealed for a peer)
 * and the eligibility notices about them (not those the same record caused about others).  Delivered messages pruned by retention are gone from here; the
 * audit log still has their delivery. */
bool msgw_store_disclosures(msgw_store *s, const char *person, size_t max, msgw_arena *a,
                            msgw_disclosure_rows *out, msgw_errors *e);
bool msgw_store_transitions(msgw_store *s, const msgw_transition_filter *f, msgw_arena *a,
                            msgw_transition_rows *out, msgw_errors *e);

/* Dead letters, oldest first, at most max. */
bool msgw_store_dead_letters(msgw_store *s, size_t max, msgw_arena *a, msgw_outbox_rows *out,
                             msgw_errors *e);
/* An administrator's replay: dead letter id (0: every one, the oldest limit of them when limit is
 * not 0) is pending again, due now, with its attempts reset.  Returns how many were replayed (0:
 * no such dead letter), -1 on error. */
int msgw_store_replay(msgw_store *s, int64_t id, size_t limit, msgw_time now, msgw_errors *e);

/* The delivery queues: one row for each recipient with a pending or a dead message, read from the
 * indexes of those only (cheap enough every second). */
bool msgw_store_queues(msgw_store *s, msgw_arena *a, msgw_queue_rows *out, msgw_errors *e);
/* Counts of the records a department sent and the facts they carried, and of the outbox messages
 * to it by state; department NULL: all. */
bool msgw_store_stats_get(msgw_store *s, const char *department, msgw_store_stats *out,
                          msgw_errors *e);
/* The bytes the store takes on disk (for SQLite, the database file and its write-ahead log). */
bool msgw_store_size(msgw_store *s, int64_t *bytes, msgw_errors *e);

#endif
