/*
 * The durable store: everything the gateway must not lose — the records it
 * acknowledged (with their outcome, so a replay is answered from the store),
 * their facts with provenance, and the outbox of messages to deliver with
 * their delivery state.  This header is its write path, the part the
 * pipeline and the deliverers use; what the administrators and the trace
 * read is msgw/store/query.h.  Both are served by a backend chosen by the
 * store's address (gateway/store/store.c); SQLite is the embedded default
 * (gateway/store/store_sqlite.c).  Nothing backend-specific leaks out.
 *
 * Writes are batched: msgw_store_commit runs one transaction for many
 * records (group commit: one fsync for all of them) and writes each record's
 * outbox messages in the same transaction, so there is never a stored record
 * without its notifications or a notification without its record.  Only
 * after it returns true may the senders be acknowledged.
 *
 * Delivery bookkeeping is batched too: msgw_store_settle records the
 * outcomes of many delivery attempts in one transaction.  The deliverers
 * open their own connections (msgw_store_open with MSGW_STORE_DELIVERY), whose commits
 * may be lost on power loss (never on a crash of the process): a lost
 * delivery mark only makes the message be sent again, which at-least-once
 * delivery allows (docs/store.md).
 */
#ifndef MSGW_STORE_H
#define MSGW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msgw/base/date.h"
#include "msgw/base/error.h"
#include "msgw/model/model.h"

/* A message to deliver, written to the outbox with the record that caused it. */
typedef struct msgw_outbox_msg {
    const char *event_id;   /* deterministic; receivers de-duplicate by it */
    const char *recipient;  /* department id */
    const char *kind;       /* "record" | "eligibility" */
    const char *media_type; /* the recipient's format */
    const char *person;     /* ordering key: one person's messages are delivered in order */
    const void *body;
    size_t len;
    const char *cause; /* message id of the record that caused it (traces, latency), may be NULL */
    const char *evidence; /* an envelope to a peer gateway: the SHA-256 of its signed bytes; the
                           * envelope is then also kept as evidence (docs/federation.md) */
    /* The rule it goes out on, for the person's disclosure report (docs/disclosure.md):
     * "subscription DEPT/N", "agreement PEER" or "service CODE"; NULL: none recorded. */
    const char *basis;
} msgw_outbox_msg;

/* A person's verdict on a service, written with the commit that changed it: the eligibility state
 * the gateway has told the departments about (the engine's in-memory state is rebuilt from the
 * records; this is what was notified, queryable without it). */
typedef struct msgw_store_verdict {
    const char *person, *service;
    bool eligible;
    msgw_date since;  /* MSGW_DATE_NONE when not eligible */
    const char *tier; /* NULL: none */
    int64_t amount;   /* fen; INT64_MIN (the engine's MSGW_ABSENT): none */
    msgw_time updated_at; /* filled when read back */
    /* The transition that led to it, logged for the administrators (docs/admin.md, "Recent
     * transitions") and pruned by retention; kind NULL: not logged.  Not filled when read back. */
    const char *kind;                           /* "new", "lost", "changed" */
    const char *hukou_region, *residence_region; /* the person's, for the district filter */
    const char *explanation;                    /* readable, with its provenance */
} msgw_store_verdict;

/* What retention removes (msgw_store_prune); a time of 0 keeps that kind of row. */
typedef struct msgw_store_retention {
    msgw_time delivered_before;   /* delivered outbox messages, by delivery time */
    msgw_time dead_before;        /* dead letters, by creation time */
    msgw_time transitions_before; /* the transition log */
} msgw_store_retention;

/* One record of a batch to commit, and its outcome.  record may be NULL for what no record
 * caused (the daily sweep, a parameter change): then only its outbox and verdicts are written. */
typedef struct msgw_store_item {
    const msgw_record *record; /* validated; message_id set */
    const char *sender;        /* the department that pushed it */
    const char *body_digest;   /* SHA-256 hex of the bytes received (traces) */
    const msgw_outbox_msg *outbox;
    size_t noutbox;
    const msgw_store_verdict *verdicts; /* the transitions it caused, as the verdicts after them */
    size_t nverdicts;
    /* a peer's envelope that carried the record (evidence, docs/federation.md), or NULL */
    const char *envelope;
    size_t envelope_len;
    const char *envelope_digest; /* SHA-256 of its signed bytes */
    /* Several instances over one store (msgw/store/cluster.h, docs/cluster.md); both false/0 on
     * a single node, where every record is evaluated as it is stored. */
    bool deferred;      /* stored for the evaluator, not evaluated here (no outbox, no verdicts) */
    int64_t stored_seq; /* > 0: the record is stored already, not yet evaluated (another instance
                         * took it): this item evaluates it, and only what it caused is written */
    /* filled by msgw_store_commit */
    bool duplicate; /* its message id was committed before: nothing new written (but what it caused
                     * when the earlier one was stored for the evaluator and this evaluates it) */
    int64_t seq;    /* the record's sequence number (the original one for a duplicate) */
    int64_t evaluated; /* its place in the order of evaluation; 0: not evaluated by this commit */
    msgw_time recorded_at;
} msgw_store_item;

/* A pending delivery, read back from the outbox. Strings and body are owned by the caller's
 * msgw_store_deliveries and freed by msgw_store_deliveries_clear. */
typedef struct msgw_delivery {
    int64_t id;
    char *event_id, *recipient, *kind, *media_type, *person, *cause;
    void *body;
    size_t len;
    int attempts;
    msgw_time created_at, next_at;
} msgw_delivery;

typedef struct msgw_store_deliveries {
    msgw_delivery *v;
    size_t n;
} msgw_store_deliveries;

/* What happened to a delivery (msgw_store_settle). */
typedef enum msgw_settle_outcome {
    MSGW_SETTLE_DELIVERED, /* delivered (acknowledged): done */
    MSGW_SETTLE_RETRY,     /* failed: due again at next_at, error kept */
    MSGW_SETTLE_DEAD,      /* given up: kept with its error for an administrator */
    MSGW_SETTLE_INFLIGHT,  /* sent, awaiting an acknowledgement: not due again before next_at (the
                            * ack timeout), so the person's later messages keep waiting; always an
                            * attempt */
} msgw_settle_outcome;

/* One delivery's outcome, for msgw_store_settle. */
typedef struct msgw_settlement {
    int64_t id;                       /* the delivery's id; 0: find it by (recipient, event_id) */
    const char *recipient, *event_id; /* only read when id is 0 */
    msgw_settle_outcome outcome;
    bool attempt;      /* this reports an attempt made now: attempts + 1 (INFLIGHT always counts) */
    msgw_time next_at; /* RETRY, INFLIGHT */
    const char *error; /* RETRY, DEAD: the last error (NULL keeps the previous one) */
    bool applied;      /* filled: false when the message was not pending any more (settled before:
                        * a late or repeated acknowledgement) or does not exist */
} msgw_settlement;

/*
 * How a connection is opened (the backend's open flags).  MSGW_STORE_DELIVERY:
 * a deliverer's connection, used by one thread, whose commits are not forced
 * to disk one by one (a mark lost on power loss only re-sends the message);
 * records stay fully durable.  MSGW_STORE_AS_IS: the schema is left as it is
 * found, and only msgw_store_schema_version and msgw_store_migrate may be
 * called (`msgw store`); any other open applies the pending schema steps
 * first and refuses a schema newer than this build knows (store.schema_newer).
 */
enum { MSGW_STORE_DELIVERY = 1, MSGW_STORE_AS_IS = 2 };

typedef struct msgw_store msgw_store;

/*
 * Opens the store at address, the only place an address is read: "sqlite:PATH" (a path without a
 * scheme is taken as a SQLite file too) or "postgresql://..." (a libpq connection URI; also
 * "postgres://...").  flags: 0 for the writer's connection, or
 * MSGW_STORE_DELIVERY.  An address whose scheme names no backend is refused with an error
 * (store.address) that names it.
 */
msgw_store *msgw_store_open(const char *address, unsigned flags, msgw_errors *e);
void msgw_store_close(msgw_store **s);
/*
 * The daemon's store address into out (len bytes): the configured one (the configuration's
 * "store"; NULL: none), else the SQLite file msgw.db in data_dir.  False, with an error, when it
 * does not fit.
 */
bool msgw_store_address(const char *configured, const char *data_dir, char *out, size_t len,
                        msgw_errors *e);
const char *msgw_store_backend_name(const msgw_store *s);

/* The store's schema version (0: an empty store; -1 on error), and in *known (may be NULL) the
 * highest this build knows (docs/store.md, "Schema versions"). */
int msgw_store_schema_version(msgw_store *s, int *known, msgw_errors *e);
/* Applies the pending schema steps in order, each under a lock that keeps another instance from
 * migrating at once; refuses a schema newer than known (store.schema_newer).  *before and *after
 * (may be NULL): the versions found and left. */
bool msgw_store_migrate(msgw_store *s, int *before, int *after, msgw_errors *e);

/* Commits a batch atomically (all or nothing) and durably; fills each item's outcome. */
bool msgw_store_commit(msgw_store *s, msgw_store_item *items, size_t n, msgw_time now,
                       msgw_errors *e);

/*
 * Deliveries due at now for a recipient (NULL: all), oldest first, at most
 * max — and at most one per (recipient, person), the oldest pending one, so
 * a person's messages are delivered in the order they were caused.
 */
bool msgw_store_due(msgw_store *s, const char *recipient, msgw_time now, size_t max,
                    msgw_store_deliveries *out, msgw_errors *e);
/* The same for n recipients in one query: at most max[i] for recipients[i], each recipient's
 * oldest first. */
bool msgw_store_due_among(msgw_store *s, const char *const *recipients, const size_t *max, size_t n,
                          msgw_time now, msgw_store_deliveries *out, msgw_errors *e);
void msgw_store_deliveries_clear(msgw_store_deliveries *d);
/* Frees one delivery's strings and body and zeroes it (a transport that took it over from its batch). */
void msgw_delivery_clear(msgw_delivery *d);
/*
 * Records n delivery outcomes in one transaction (all or nothing on a
 * store error).  A settlement of a message that is not pending any more is
 * not an error: it is skipped, with applied = false.
 */
bool msgw_store_settle(msgw_store *s, msgw_settlement *v, size_t n, msgw_time now, msgw_errors *e);
/* Single-message forms of msgw_store_settle (each an attempt made now); false, with an error, when
 * the message is not pending. */
bool msgw_store_delivered(msgw_store *s, int64_t id, msgw_time now, msgw_errors *e);
/* A failed attempt: counted, and not due again before next_at. */
bool msgw_store_retry(msgw_store *s, int64_t id, msgw_time next_at, const char *error,
                      msgw_errors *e);
/* Given up: kept with its last error for an administrator to replay. */
bool msgw_store_dead_letter(msgw_store *s, int64_t id, const char *error, msgw_errors *e);
/* 1 when a record with this message id is stored (its seq and recorded time filled), 0 when not,
 * -1 on error. */
int msgw_store_known(msgw_store *s, const char *message_id, int64_t *seq, msgw_time *recorded_at,
                     msgw_errors *e);
/* Calls cb for every stored record in commit order (canonical JSON); cb returns false to stop.
 * How the daemon rebuilds its in-memory eligibility state at start. */
bool msgw_store_each_record(msgw_store *s,
                            bool (*cb)(void *ud, int64_t seq, const char *canonical,
                                       msgw_time recorded_at),
                            void *ud, msgw_errors *e);

/* Calls cb for each stored verdict of person (NULL: everyone), by person and service. */
bool msgw_store_each_verdict(msgw_store *s, const char *person,
                             bool (*cb)(void *ud, const msgw_store_verdict *v), void *ud,
                             msgw_errors *e);

/* A number the gateway keeps about itself under key (the day the daily sweep has reached):
 * msgw_store_meta_get fills *value (false, no error, when it was never set). */
bool msgw_store_meta_get(msgw_store *s, const char *key, int64_t *value, msgw_errors *e);
bool msgw_store_meta_set(msgw_store *s, const char *key, int64_t value, msgw_errors *e);

/*
 * Retention of records: removes the records recorded before `before` that
 * the eligibility state no longer needs (live returns false for their
 * message id; msgw_elig_each_live_record) and that no outbox message still
 * refers to, with their facts; verdicts and logged transitions they caused
 * keep their content and lose the link.  A sender's message id is then
 * forgotten too: the store de-duplicates within this retention only.
 */
bool msgw_store_prune_records(msgw_store *s, msgw_time before, bool (*live)(void *ud, const char *message_id),
                              void *ud, int64_t *removed, msgw_errors *e);

/* Retention (r): removes what it names and gives the space back to the file system.
 * Records, facts and verdicts stay: they are the gateway's memory (docs/store.md). */
bool msgw_store_prune(msgw_store *s, const msgw_store_retention *r, int64_t *removed, msgw_errors *e);

#endif
