/*
 * Ingest: the receive side of the pipeline, shared by every transport.  A
 * transport hands over (authenticated department, media type, body).
 * Decoding, validation and the check that the department may push each
 * record kind happen at once, on the caller's (event-loop) thread; the good
 * records then wait in a bounded commit queue.  One worker thread takes many
 * queued requests at a time, evaluates eligibility, routes, and commits them
 * all in one transaction — records, facts and outbox together, one fsync for
 * the group (group commit) — and only then are the senders answered, back on
 * the event-loop thread, with a status code and a JSON body reporting each
 * record's outcome.  Nothing of a rejected record is stored.
 *
 * Back-pressure: when the queue holds queue.max_records records or
 * queue.max_bytes bytes, a request is answered 503; when one department
 * holds more than queue.department_percent of it, 429 — both with a
 * Retry-After estimated from the commit rate.  Memory stays bounded.
 */
#ifndef MSGW_INGEST_H
#define MSGW_INGEST_H

#include <event2/event.h>

#include "msgw/validate/adapter.h"
#include "msgw/base/buf.h"
#include "msgw/store/audit.h"
#include "msgw/net/config.h"
#include "msgw/pipeline/doorbell.h"
#include "msgw/engine/eligibility.h"
#include "msgw/pipeline/feed.h"
#include "msgw/base/metrics.h"
#include "msgw/pipeline/peer.h"
#include "msgw/pipeline/route.h"
#include "msgw/store/store.h"

typedef struct msgw_ingest msgw_ingest;

/*
 * Called on the event-loop thread with a request's answer: status (202,
 * 400, 403, 413, 415, 422, 429, 503) and the JSON body.  Status 0 means the
 * gateway is shutting down and no answer will be sent: release ud only.
 */
typedef void (*msgw_ingest_done_fn)(void *ud, int status, const char *answer, size_t len);

/*
 * Borrows cfg, ctx, store, cat and feed (they must outlive it; feed may be
 * NULL); owns the eligibility engine, which it rebuilds from the store's
 * records (the durable truth) before returning, and the worker thread, which
 * runs the daily sweep (within a second of midnight: birthdays, facts that end),
 * publishes what each group committed ("record", "transition") on the feed
 * and rings bell (may be NULL) when a group queued outbox messages.  Each
 * committed push is appended to audit (may be NULL), which it prunes daily.
 * Answers are handed back through an event on base.  It opens connections of
 * its own to store_address (the address store was opened at): the engine's,
 * which it asks about replays (docs/eligibility.md, "Replays"), and on a
 * shared store the membership's (several instances, docs/cluster.md).
 */
msgw_ingest *msgw_ingest_new(struct event_base *base, const msgw_config *cfg, const msgw_adapter_ctx *ctx,
                             msgw_store *store, const char *store_address, const msgw_catalogue *cat,
                             msgw_feed *feed, msgw_doorbell *bell, msgw_audit *audit, msgw_errors *e);
/* Commits what is queued, stops the worker, and releases unanswered requests (done with status 0). */
void msgw_ingest_destroy(msgw_ingest **ing);
typedef enum {
    MSGW_RELOAD_PARAMETERS, /* only parameter values changed: applied to cur; the caller frees newer */
    MSGW_RELOAD_REBUILT,    /* rules changed: the engine runs newer now; the caller frees cur */
    MSGW_RELOAD_FAILED      /* the engine was rebuilt from the store under newer; free cur */
} msgw_reload;

/*
 * Switches to a new configuration and catalogue (SIGHUP) between two commit
 * groups.  cur is the catalogue the engine runs (mutable: new parameter
 * values are added to it).  When newer differs from it only in parameter
 * values, each new dated value is applied as a parameter change: only the
 * persons it can affect are re-evaluated, and their transitions are routed
 * and committed like a record's (cause: the parameter).  When the rules
 * changed, the engine is rebuilt from the store under newer: verdicts the
 * new rules change take effect without notices (docs/ingress.md).
 */
msgw_reload msgw_ingest_reconfigure(msgw_ingest *ing, const msgw_config *cfg, msgw_catalogue *cur,
                                    const msgw_catalogue *newer, msgw_errors *e);

/*
 * Takes one request.  Returns 0 when it was queued: done(ud, ...) is called
 * later, on the event-loop thread, never from inside this call.  A request
 * answered at once (not decodable, forbidden kind, nothing valid, queue
 * full) returns its status with the JSON in out — unless `ordered`, for a
 * transport whose answers must keep the requests' order (ZeroMQ
 * pipelining): then every answer goes through done, in order, and the
 * return is 0.
 */
int msgw_ingest_submit(msgw_ingest *ing, const msgw_department *dept, const char *media_type, const char *body,
                       size_t len, bool ordered, msgw_ingest_done_fn done, void *ud, msgw_buf *out);
/*
 * A peer gateway's envelope, opened and verified (msgw_peers_open): its
 * record (canonical JSON) is screened like a push from `peer` (the
 * agreement's kinds), then committed with the envelope kept as evidence;
 * it is routed to this region's departments and to the peers that relay,
 * never back.  done gets 202, or 409 (envelope.replayed) when a record with
 * its message id was stored before: nothing is applied twice.  The commit
 * audits a "peer" entry (received or replayed) with the envelope's header,
 * digest and signature.  Returns an early status like msgw_ingest_submit.
 */
int msgw_ingest_submit_envelope(msgw_ingest *ing, const msgw_department *peer, const msgw_envelope *hdr,
                                const char *record, size_t record_len, const char *envelope, size_t envelope_len,
                                msgw_ingest_done_fn done, void *ud, msgw_buf *out);
/* The sealer for envelopes to peer gateways (borrowed; NULL: none), replaced on SIGHUP. */
void msgw_ingest_set_peers(msgw_ingest *ing, const msgw_peers *peers);
/* An administrator's re-evaluation of every person on today's date, for one service (its code) or
 * all (NULL), queued behind the requests already accepted and done in steps, each step behind the
 * requests that arrived meanwhile; their transitions are routed and committed.  Returns the
 * operation's id, for msgw_ingest_operation. */
int msgw_ingest_reevaluate(msgw_ingest *ing, const char *service);
/* An administrator's retention run now (docs/store.md, "Retention"), queued like a re-evaluation;
 * its operation's done and total count the rows removed.  Returns the operation's id. */
int msgw_ingest_retention(msgw_ingest *ing);
/* The operation's progress: {"id", "kind" (reevaluate, retention), "service", "state" (queued, running, done, failed,
 * interrupted), "done", "total" (persons), "transitions", "started", "finished"}, or NULL when
 * the id is unknown (only the latest 16 are kept).  The caller frees it. */
json_t *msgw_ingest_operation(msgw_ingest *ing, int id);
/* True when the queue is full: a transport that can wait (ZeroMQ) stops reading. */
bool msgw_ingest_saturated(const msgw_ingest *ing);
/* Called on the event-loop thread each time answers were handed back (the queue shrank). */
void msgw_ingest_on_progress(msgw_ingest *ing, void (*cb)(void *ud), void *ud);
/* Requests accepted and not yet answered (draining at SIGTERM waits for 0). */
size_t msgw_ingest_in_flight(const msgw_ingest *ing);
/* Seconds a refused sender should wait, from the queue's length and the measured commit rate. */
unsigned msgw_ingest_retry_after(const msgw_ingest *ing);

/* The cluster as this instance last read it (docs/cluster.md): {"instance", "instances",
 * "leases"}; NULL on a store one process owns.  The caller decrefs it. */
json_t *msgw_ingest_cluster(msgw_ingest *ing);
/* Registers the ingest metrics in m (NULL: none) — before the first request (docs/metrics.md). */
void msgw_ingest_set_metrics(msgw_ingest *ing, msgw_metrics *m);
/* NULL while commits succeed; else what is wrong with the store (/readyz). */
const char *msgw_ingest_store_problem(const msgw_ingest *ing);
/* A person's verdicts (msgw_elig_person_json), read safely while the worker commits. */
json_t *msgw_ingest_person_json(msgw_ingest *ing, const char *person, msgw_date date);

#endif
