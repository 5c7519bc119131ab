/*
 * The receive queue (receive_queue.h): screening on the loop thread, the
 * bounded queue under its lock, and the answers handed back through an
 * eventfd that wakes the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "msgw/base/clock.h"
#include "msgw/model/canon.h"
#include "receive_queue.h"

typedef struct job_list {
    job *head, *tail;
} job_list;

typedef struct dept_load {
    char id[64];
    size_t records;
    /* its token bucket (the department's "limit"): thousandths of a request, and when last filled */
    int64_t tokens_milli;
    int64_t filled_us; /* monotonic; 0: never (the bucket starts full) */
} dept_load;

struct receive_queue {
    const msgw_config *cfg;
    const msgw_adapter_ctx *ctx;
    msgw_audit *audit; /* NULL: none */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    job_list queue, answered; /* under lock */
    size_t group_records;     /* copied from the configuration under lock: the worker reads it there */
    bool stop;
    int notify_fd; /* eventfd: the worker's "answers are ready" */
    struct event *notify_ev;
    void (*progress)(void *);
    void *progress_ud;
    /* loop-thread accounting */
    size_t in_flight, queued_records, queued_bytes;
    dept_load *loads;
    size_t nloads;
    msgw_time rate_since;
    size_t rate_count;
    double rate; /* records answered per second, last full window */
    unsigned limit_wait_s; /* the last request refused for its department's limit: when to retry */
    msgw_metric *m_received, *m_errors, *m_refused, *m_limited; /* docs/metrics.md; NULL without a registry */
};

static void list_push(job_list *l, job *j)
{
    j->next = NULL;
    if (l->tail) l->tail->next = j;
    else l->head = j;
    l->tail = j;
}

static job *list_take_all(job_list *l)
{
    job *h = l->head;
    l->head = l->tail = NULL;
    return h;
}

void job_free(job *j)
{
    free(j->envelope);
    free(j->envelope_body);
    msgw_batch_destroy(&j->batch);
    msgw_buf_free(&j->answer);
    free(j);
}

/* ---- accounting, on the loop thread ---- */

static dept_load *load_of(receive_queue *q, const char *dept)
{
    for (size_t i = 0; i < q->nloads; i++)
        if (strcmp(q->loads[i].id, dept) == 0) return &q->loads[i];
    q->loads = realloc(q->loads, (q->nloads + 1) * sizeof *q->loads);
    if (!q->loads) abort();
    dept_load *l = &q->loads[q->nloads++];
    snprintf(l->id, sizeof l->id, "%s", dept);
    l->records = 0;
    l->tokens_milli = 0;
    l->filled_us = 0;
    return l;
}

static void account(receive_queue *q, const job *j, int sign)
{
    dept_load *l = load_of(q, j->dept);
    if (sign > 0) {
        q->in_flight++;
        q->queued_records += j->nrecords;
        q->queued_bytes += j->bytes;
        l->records += j->nrecords;
    } else {
        q->in_flight--;
        q->queued_records -= j->nrecords;
        q->queued_bytes -= j->bytes;
        l->records -= j->nrecords;
        q->rate_count += j->nrecords;
    }
}

static void measure_rate(receive_queue *q)
{
    msgw_time now = msgw_clock_monotonic();
    if (now - q->rate_since < 1000000) return;
    q->rate = (double)q->rate_count * 1e6 / (double)(now - q->rate_since);
    q->rate_since = now;
    q->rate_count = 0;
}

static void on_answers(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    receive_queue *q = arg;
    uint64_t n;
    if (read(fd, &n, sizeof n) < 0) { /* EAGAIN: another wake-up already took them */
    }
    pthread_mutex_lock(&q->lock);
    job *done = list_take_all(&q->answered);
    pthread_mutex_unlock(&q->lock);
    for (job *j = done, *next; j; j = next) {
        next = j->next;
        account(q, j, -1);
        j->done(j->ud, j->status, j->answer.data ? j->answer.data : "", j->answer.len);
        job_free(j);
    }
    measure_rate(q);
    if (q->progress) q->progress(q->progress_ud);
}

unsigned receive_queue_retry_after(const receive_queue *q)
{
    double s = q->rate > 0 ? (double)q->queued_records / q->rate : 1;
    unsigned queue = s < 1 ? 1 : s > 60 ? 60 : (unsigned)(s + 0.999);
    return q->limit_wait_s > queue ? q->limit_wait_s : queue; /* the last refusal's, for a limit */
}

bool receive_queue_saturated(const receive_queue *q)
{
    return q->queued_records >= q->cfg->queue_max_records || q->queued_bytes >= q->cfg->queue_max_bytes;
}

size_t receive_queue_in_flight(const receive_queue *q)
{
    return q->in_flight;
}

void receive_queue_on_progress(receive_queue *q, void (*cb)(void *ud), void *ud)
{
    q->progress = cb;
    q->progress_ud = ud;
}

/* ---- screening, on the loop thread ---- */

/*
 * The department's token bucket (docs/ingress.md, "Limits per department"): rate_burst requests,
 * refilled at rate_per_s a second, one taken per request.  False, with *wait_s the seconds until a
 * token is back, when it is empty.  Counted before decoding: a flooding department costs the
 * others no decoding.
 */
static bool take_token(receive_queue *q, const msgw_department *dept, unsigned *wait_s)
{
    if (!dept->rate_per_s) return true;
    dept_load *l = load_of(q, dept->id);
    int64_t now = msgw_clock_monotonic(), cap = (int64_t)dept->rate_burst * 1000;
    if (!l->filled_us) l->tokens_milli = cap;
    else l->tokens_milli += (now - l->filled_us) * dept->rate_per_s / 1000;
    if (l->tokens_milli > cap) l->tokens_milli = cap;
    l->filled_us = now;
    if (l->tokens_milli >= 1000) {
        l->tokens_milli -= 1000;
        return true;
    }
    int64_t missing_us = (1000 - l->tokens_milli) * 1000 / dept->rate_per_s;
    *wait_s = (unsigned)(missing_us / 1000000 + 1);
    return false;
}

/* 429 or 503 when this request would overfill the queue, else 0. */
static int overload(receive_queue *q, const char *dept, size_t records, size_t bytes, msgw_buf *out)
{
    const msgw_config *c = q->cfg;
    if (q->queued_records && (q->queued_records + records > c->queue_max_records ||
                              q->queued_bytes + bytes > c->queue_max_bytes))
        return answer_refuse(out, 503, "ingress.saturated",
                             "the gateway is saturated (%zu records waiting to be committed); retry after %u s",
                             q->queued_records, receive_queue_retry_after(q));
    size_t share = c->queue_max_records * c->queue_department_percent / 100, mine = load_of(q, dept)->records;
    if (mine && mine + records > (share ? share : 1))
        return answer_refuse(out, 429, "ingress.department_share",
                             "department %s already has %zu records waiting (its share is %zu); retry after %u s",
                             dept, mine, share, receive_queue_retry_after(q));
    return 0;
}

/* Decodes and authorises: 0 when the batch has records to commit, else the status answered in out. */
static int screen(receive_queue *q, const msgw_department *dept, const char *media_type, const char *body,
                  size_t len, msgw_batch *b, msgw_buf *out)
{
    const msgw_adapter *ad = media_type ? msgw_adapter_for_media_type(media_type) : NULL;
    q->limit_wait_s = 0;
    if (!ad)
        return answer_refuse(out, 415, "ingress.media_type",
                             "media type %s is not one the gateway reads (see msgw adapters)",
                             media_type ? media_type : "(none)");
    char why[256];
    if (q->audit && msgw_audit_refusing(q->audit, why, sizeof why))
        return answer_refuse(
            out, 503, "audit.unavailable",
            "the audit log cannot be written (%s): nothing is accepted that cannot be audited; "
            "retry later",
            why);
    unsigned wait_s = 0;
    if (!take_token(q, dept, &wait_s)) {
        q->limit_wait_s = wait_s;
        msgw_metrics_inc(q->m_limited, 1, dept->id);
        return answer_refuse(out, 429, "ingress.rate",
                             "department %s is over its limit of %u requests a second (burst %u); retry "
                             "after %u s",
                             dept->id, dept->rate_per_s, dept->rate_burst, wait_s);
    }
    if (receive_queue_saturated(q))
        return overload(q, dept->id, q->cfg->queue_max_records, q->cfg->queue_max_bytes, out);
    /* a department speaks for itself; a peer's records keep the origin region's departments */
    msgw_decode_as(q->ctx, ad, media_type, dept->peer_region ? NULL : dept->id, body, len, b);
    for (size_t i = 0; i < b->nitems; i++) {
        const msgw_record *r = b->items[i].record;
        if (r && !msgw_department_may_push(dept, r->kind))
            return answer_refuse(out, 403, "ingress.kind", "department %s may not push %s records (record %zu)",
                                 dept->id, r->kind, i + 1);
    }
    if (msgw_batch_count_ok(b) == 0) return answer_batch(b, NULL, 0, 0, false, out);
    return overload(q, dept->id, msgw_batch_count_ok(b), len + msgw_arena_used(b->arena), out);
}

/* At submit: the records rejected, the errors by rule, a request refused. */
static void count_screened(receive_queue *q, const char *dept, const msgw_batch *b, int status)
{
    if (status == 403 || status == 413 || status == 415 || status == 429 || status == 503) {
        char code[8];
        snprintf(code, sizeof code, "%d", status);
        msgw_metrics_inc(q->m_refused, 1, dept, code);
        return; /* its records were never judged */
    }
    for (size_t x = 0; x < b->errors.n; x++)
        if (b->errors.v[x].severity == MSGW_SEV_ERROR)
            msgw_metrics_inc(q->m_errors, 1, b->errors.v[x].rule ? b->errors.v[x].rule : "");
    for (size_t i = 0; i < b->nitems; i++)
        if (!b->items[i].record) msgw_metrics_inc(q->m_received, 1, dept, "unknown", "rejected");
}

void receive_queue_push(receive_queue *q, job *j)
{
    account(q, j, +1);
    pthread_mutex_lock(&q->lock);
    list_push(&q->queue, j);
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
}

static job *job_new(const char *dept, msgw_ingest_done_fn done, void *ud)
{
    job *j = calloc(1, sizeof *j);
    if (!j) abort();
    snprintf(j->dept, sizeof j->dept, "%s", dept);
    j->done = done;
    j->ud = ud;
    msgw_buf_init(&j->answer);
    j->batch = msgw_batch_new();
    j->submitted = msgw_time_now();
    return j;
}

int receive_queue_submit(receive_queue *q, const msgw_department *dept, const char *media_type, const char *body,
                         size_t len, bool ordered, msgw_ingest_done_fn done, void *ud, msgw_buf *out)
{
    job *j = job_new(dept->id, done, ud);
    int status = screen(q, dept, media_type, body, len, j->batch, ordered ? &j->answer : out);
    count_screened(q, dept->id, j->batch, status);
    if (status) {
        msgw_batch_destroy(&j->batch);
        if (!ordered) {
            job_free(j);
            return status;
        }
        j->status = status; /* travels through the queue so it keeps its place in the order */
    } else {
        msgw_sha256_hex(body, len, j->digest);
        j->nrecords = msgw_batch_count_ok(j->batch);
        j->bytes = len + msgw_arena_used(j->batch->arena);
    }
    receive_queue_push(q, j);
    return 0;
}

int receive_queue_submit_envelope(receive_queue *q, const msgw_department *peer, const msgw_envelope *hdr,
                                  const char *record, size_t record_len, const char *envelope, size_t envelope_len,
                                  msgw_ingest_done_fn done, void *ud, msgw_buf *out)
{
    job *j = job_new(peer->id, done, ud);
    int status = screen(q, peer, "application/vnd.msgw.canonical+json", record, record_len, j->batch, out);
    count_screened(q, peer->id, j->batch, status);
    if (!status && msgw_batch_count_ok(j->batch) != 1)
        status = answer_refuse(out, 422, "envelope.record", "an envelope carries exactly one valid record");
    if (status) {
        job_free(j);
        return status;
    }
    j->envelope = malloc(sizeof *j->envelope);
    j->envelope_body = malloc(envelope_len + 1);
    if (!j->envelope || !j->envelope_body) abort();
    *j->envelope = *hdr;
    memcpy(j->envelope_body, envelope, envelope_len);
    j->envelope_body[envelope_len] = '\0';
    j->envelope_len = envelope_len;
    msgw_sha256_hex(envelope, envelope_len, j->digest);
    j->nrecords = 1;
    j->bytes = envelope_len + msgw_arena_used(j->batch->arena);
    receive_queue_push(q, j);
    return 0;
}

/* ---- the worker's side ---- */

static job *take_group(receive_queue *q, size_t *njobs)
{
    job *first = q->queue.head, *last = NULL;
    size_t records = 0, n = 0;
    for (job *j = first; j; j = j->next) {
        if (n && (j->operation || first->operation)) break; /* an administrator's operation runs alone */
        if (n && records + j->nrecords > q->group_records) break;
        records += j->nrecords;
        last = j;
        n++;
    }
    q->queue.head = last->next;
    if (!q->queue.head) q->queue.tail = NULL;
    last->next = NULL;
    *njobs = n;
    return first;
}

job *receive_queue_take(receive_queue *q, int timeout_ms, size_t *njobs, bool *idle)
{
    *idle = false;
    pthread_mutex_lock(&q->lock);
    while (!q->queue.head && !q->stop) {
        struct timespec until = msgw_clock_deadline((msgw_time)timeout_ms * 1000);
        if (pthread_cond_timedwait(&q->wake, &q->lock, &until) != 0) {
            pthread_mutex_unlock(&q->lock);
            *idle = true;
            return NULL;
        }
    }
    job *g = q->queue.head ? take_group(q, njobs) : NULL; /* NULL: stopping, everything committed */
    pthread_mutex_unlock(&q->lock);
    return g;
}

void receive_queue_done(receive_queue *q, job *g, bool again)
{
    pthread_mutex_lock(&q->lock);
    for (job *j = g, *next; j; j = next) {
        next = j->next;
        list_push(again ? &q->queue : &q->answered, j); /* an operation's step: the rest behind the pushes */
    }
    pthread_mutex_unlock(&q->lock);
    uint64_t one = 1;
    if (write(q->notify_fd, &one, sizeof one) < 0) { /* the counter cannot overflow in practice */
    }
}

void receive_queue_stop(receive_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
}

bool receive_queue_stopping(receive_queue *q)
{
    pthread_mutex_lock(&q->lock);
    bool stop = q->stop;
    pthread_mutex_unlock(&q->lock);
    return stop;
}

/* ---- life cycle ---- */

receive_queue *receive_queue_new(struct event_base *base, const msgw_config *cfg,
                                 const msgw_adapter_ctx *ctx, msgw_audit *audit, msgw_errors *e)
{
    receive_queue *q = calloc(1, sizeof *q);
    if (!q) abort();
    q->cfg = cfg;
    q->audit = audit;
    q->ctx = ctx;
    q->group_records = cfg->queue_group_records;
    q->rate_since = msgw_clock_monotonic();
    pthread_mutex_init(&q->lock, NULL);
    msgw_cond_init_monotonic(&q->wake); /* setting the clock back must not stretch the wait */
    q->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->notify_fd < 0) {
        msgw_error_add(e, -1, "ingest", NULL, "ingest.eventfd", "cannot create an eventfd");
        receive_queue_destroy(&q);
        return NULL;
    }
    q->notify_ev = event_new(base, q->notify_fd, EV_READ | EV_PERSIST, on_answers, q);
    event_add(q->notify_ev, NULL);
    return q;
}

void receive_queue_reconfigure(receive_queue *q, const msgw_config *cfg)
{
    q->cfg = cfg; /* loop thread: the screening reads it there */
    pthread_mutex_lock(&q->lock);
    q->group_records = cfg->queue_group_records;
    pthread_mutex_unlock(&q->lock);
}

void receive_queue_set_metrics(receive_queue *q, msgw_metrics *m)
{
    q->m_received = msgw_metrics_find(m, "msgw_records_received_total");
    q->m_errors = msgw_metrics_find(m, "msgw_validation_errors_total");
    q->m_refused = msgw_metrics_find(m, "msgw_requests_refused_total");
    q->m_limited = msgw_metrics_counter(m, "msgw_requests_limited_total",
                                        "Push requests refused 429 for their department's limit "
                                        "(departments[].limit, docs/ingress.md).",
                                        "department", NULL);
}

static void release_all(job *j)
{
    for (job *next; j; j = next) {
        next = j->next;
        j->done(j->ud, 0, "", 0);
        job_free(j);
    }
}

void receive_queue_destroy(receive_queue **qp)
{
    if (!qp || !*qp) return;
    receive_queue *q = *qp;
    if (q->notify_ev) event_free(q->notify_ev);
    release_all(list_take_all(&q->answered));
    release_all(list_take_all(&q->queue));
    if (q->notify_fd >= 0) close(q->notify_fd);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->wake);
    free(q->loads);
    free(q);
    *qp = NULL;
}
