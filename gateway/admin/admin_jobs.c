/*
 * Long administrators' requests done a step per turn of the event loop
 * (include/msgw/admin/admin_jobs.h).  The jobs take turns: one timer, a zero timeout, runs the
 * step of the job at the head of the queue and puts it at the tail, so a turn of the loop holds
 * one step whatever the number of jobs.  A timer rather than event_active: libevent polls the
 * sockets before it runs timers, so the ingress's connections are served between two steps.  The
 * request stays valid until it is answered, even when its client has gone (libevent detaches it
 * and frees it at the answer).
 */
#include <stdlib.h>

#include <event2/http.h>

#include "msgw/admin/admin_jobs.h"
#include "msgw/net/tls.h"

typedef struct job {
    struct job *next;
    struct evhttp_request *req;
    const msgw_admin_job_ops *ops;
    void *work;
} job;

struct msgw_admin_jobs {
    struct event_base *base;
    struct event *turn; /* the next step, of the head's job */
    size_t max, n;
    job *head, **tail;                  /* the queue of jobs, in turn */
    msgw_metric *m_running, *m_refused; /* NULL: not shown */
};

static void show_running(const msgw_admin_jobs *j)
{
    if (j->m_running) msgw_metrics_set(j->m_running, (double)j->n);
}

void msgw_admin_jobs_set_metrics(msgw_admin_jobs *j, msgw_metrics *m)
{
    j->m_running = msgw_metrics_gauge(
        m, "msgw_admin_jobs_running",
        "Long administrators' requests (audit verifications, disclosure reports) being worked "
        "through a step per turn of the event loop.",
        NULL);
    j->m_refused = msgw_metrics_counter(
        m, "msgw_admin_jobs_refused_total",
        "Long administrators' requests refused 503 admin.busy: as many were running as may.", NULL);
    show_running(j);
}

static void jobs_turn(evutil_socket_t fd, short what, void *arg);

msgw_admin_jobs *msgw_admin_jobs_new(struct event_base *base, size_t max)
{
    msgw_admin_jobs *j = calloc(1, sizeof *j);
    if (!j) abort();
    j->base = base;
    j->max = max;
    j->tail = &j->head;
    j->turn = evtimer_new(base, jobs_turn, j);
    if (!j->turn) abort();
    return j;
}

static void queue_push(msgw_admin_jobs *j, job *jb)
{
    jb->next = NULL;
    *j->tail = jb;
    j->tail = &jb->next;
}

static job *queue_pop(msgw_admin_jobs *j)
{
    job *jb = j->head;
    if (jb && !(j->head = jb->next)) j->tail = &j->head;
    return jb;
}

static void next_turn(msgw_admin_jobs *j)
{
    struct timeval now = {0, 0};
    if (j->head) evtimer_add(j->turn, &now);
}

/* Frees jb, out of the queue and its request answered. */
static void job_free(msgw_admin_jobs *j, job *jb)
{
    j->n--;
    show_running(j);
    jb->ops->destroy(jb->work);
    free(jb);
}

/* One step of the head's job: answered when it is done, else back in the queue. */
static void job_step(msgw_admin_jobs *j, job *jb)
{
    msgw_errors e;
    msgw_errors_init(&e);
    int more = jb->ops->step(jb->work, &e);
    if (more == 1) {
        queue_push(j, jb);
    } else {
        jb->ops->answer(jb->req, jb->work, more, &e);
        job_free(j, jb);
    }
    msgw_errors_clear(&e);
}

static void jobs_turn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    msgw_admin_jobs *j = arg;
    job *jb = queue_pop(j);
    if (jb) job_step(j, jb);
    next_turn(j);
}

void msgw_admin_jobs_start(msgw_admin_jobs *j, struct evhttp_request *req,
                           const msgw_admin_job_ops *ops, void *work)
{
    if (j->n >= j->max) {
        if (j->m_refused) msgw_metrics_inc(j->m_refused, 1);
        msgw_http_error(
            req, 503, "admin.busy", /* with Retry-After: 1, as every 503 */
            "as many long requests (reports, verifications) are running as may at once");
        ops->destroy(work);
        return;
    }
    job *jb = calloc(1, sizeof *jb);
    if (!jb) abort();
    *jb = (job){.req = req, .ops = ops, .work = work};
    j->n++;
    show_running(j);
    job_step(j, jb); /* the first step now: a short report may be answered at once */
    next_turn(j);
}

void msgw_admin_jobs_destroy(msgw_admin_jobs **jp)
{
    if (!jp || !*jp) return;
    msgw_admin_jobs *j = *jp;
    for (job *jb; (jb = queue_pop(j));) {
        msgw_http_error(jb->req, 503, "admin.stopping", "the gateway is stopping");
        job_free(j, jb);
    }
    event_free(j->turn);
    free(j);
    *jp = NULL;
}
