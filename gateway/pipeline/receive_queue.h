/*
 * The receive queue: where every transport's requests wait for the commit
 * worker.  On the event-loop thread a request is decoded, validated and
 * authorised (the department may push each record kind) and, with records
 * to commit, queued as a job; the worker takes jobs in groups and hands
 * them back answered, and the answers go out on the loop thread again.
 *
 * Bounded: when the queue holds queue.max_records records or
 * queue.max_bytes bytes a request is answered 503, when one department holds
 * more than queue.department_percent of it 429, both with a Retry-After
 * estimated from the measured commit rate.  The accounting (records, bytes,
 * per department) lives on the loop thread alone.  Fail closed: while the
 * audit log cannot be written, every request is refused 503 before it is
 * decoded — nothing is accepted that cannot be audited.
 */
#ifndef MSGW_PIPELINE_RECEIVE_QUEUE_H
#define MSGW_PIPELINE_RECEIVE_QUEUE_H

#include <event2/event.h>
#include <pthread.h>

#include "msgw/base/metrics.h"
#include "msgw/decode/decode.h"
#include "msgw/net/config.h"
#include "msgw/pipeline/ingest.h"
#include "msgw/pipeline/peer.h"

/* One request (or an administrator's operation step) on its way through the queue. */
typedef struct job {
    struct job *next;
    int operation;      /* an administrator's operation (operations.h): its id; 0 for records */
    bool retention;     /* which kind of operation: retention, else re-evaluation */
    size_t reevaluated; /* a re-evaluation's next person */
    char dept[64];
    msgw_batch *batch; /* NULL for a request answered at submit (ordered transports) */
    char digest[65];   /* SHA-256 of the bytes received */
    size_t nrecords, bytes;
    msgw_ingest_done_fn done;
    void *ud;
    int status;
    msgw_buf answer;
    msgw_time submitted;     /* for msgw_ingest_commit_seconds */
    msgw_envelope *envelope; /* a peer's envelope (its record is the batch's), NULL otherwise */
    char *envelope_body;     /* the envelope as received, kept as evidence */
    size_t envelope_len;
} job;

typedef struct receive_queue receive_queue;

/* audit (may be NULL): while it cannot be written, every request is refused 503 audit.unavailable.
 */
receive_queue *receive_queue_new(struct event_base *base, const msgw_config *cfg,
                                 const msgw_adapter_ctx *ctx, msgw_audit *audit, msgw_errors *e);
/* Releases the jobs still queued or answered (done with status 0): the worker must have stopped. */
void receive_queue_destroy(receive_queue **q);
void receive_queue_reconfigure(receive_queue *q, const msgw_config *cfg);
void receive_queue_set_metrics(receive_queue *q, msgw_metrics *m);

/* msgw_ingest_submit and msgw_ingest_submit_envelope (include/msgw/pipeline/ingest.h). */
int receive_queue_submit(receive_queue *q, const msgw_department *dept, const char *media_type, const char *body,
                         size_t len, bool ordered, msgw_ingest_done_fn done, void *ud, msgw_buf *out);
int receive_queue_submit_envelope(receive_queue *q, const msgw_department *peer, const msgw_envelope *hdr,
                                  const char *record, size_t record_len, const char *envelope, size_t envelope_len,
                                  msgw_ingest_done_fn done, void *ud, msgw_buf *out);
/* Queues a job made elsewhere (an administrator's operation), on the loop thread. */
void receive_queue_push(receive_queue *q, job *j);

/*
 * The worker's side.  take waits at most timeout_ms for queued jobs and takes a group: requests up to
 * queue.group_records records (at least one), or one operation alone.  NULL with *idle true: the
 * wait timed out; NULL with *idle false: stopping and nothing is left.  done hands a group back:
 * answered, or (again) queued behind the requests that arrived meanwhile.
 */
job *receive_queue_take(receive_queue *q, int timeout_ms, size_t *njobs, bool *idle);
void receive_queue_done(receive_queue *q, job *group, bool again);
/* Stops the worker's wait: take returns NULL once the queue is empty. */
void receive_queue_stop(receive_queue *q);
bool receive_queue_stopping(receive_queue *q);

bool receive_queue_saturated(const receive_queue *q);
size_t receive_queue_in_flight(const receive_queue *q);
unsigned receive_queue_retry_after(const receive_queue *q);
void receive_queue_on_progress(receive_queue *q, void (*cb)(void *ud), void *ud);

void job_free(job *j);

#endif
