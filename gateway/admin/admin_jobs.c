/*
 * Long administrators' requests done a step per turn of the event loop
 * (include/msgw/admin/admin_jobs.h).  A step is scheduled by a zero timer, not by
 * event_active: libevent polls the sockets before it runs timers, so the ingress's
 * connections are served between two steps.  The request stays valid until it is answered,
 * even when its client has gone (libevent detaches it and frees it at the answer).
 */
#include <stdlib.h>

#include <event2/http.h>

#include "msgw/admin/admin_jobs.h"
#include "msgw/net/tls.h"

typedef struct job {
    struct job *next;
    msgw_admin_jobs *owner;
    struct evhttp_request *req;
    const msgw_admin_job_ops *ops;
    void *work;
    struct event *turn;
} job;

struct msgw_admin_jobs {
    struct event_base *base;
    size_t max, n;
    job *running;
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

msgw_admin_jobs *msgw_admin_jobs_new(struct event_base *base, size_t max)
{
    msgw_admin_jobs *j = calloc(1, sizeof *j);
    if (!j) abort();
    j->base = base;
    j->max = max;
    return j;
}

/* Unlinks and frees jb, its request answered already. */
static void job_free(job *jb)
{
    job **p = &jb->owner->running;
    while (*p != jb)
        p = &(*p)->next;
    *p = jb->next;
    jb->owner->n--;
    show_running(jb->owner);
    event_free(jb->turn);
    jb->ops->destroy(jb->work);
    free(jb);
}

static void job_turn(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    job *jb = arg;
    msgw_errors e;
    msgw_errors_init(&e);
    int more = jb->ops->step(jb->work, &e);
    if (more == 1) {
        struct timeval now = {0, 0};
        evtimer_add(jb->turn, &now);
    } else {
        jb->ops->answer(jb->req, jb->work, more, &e);
        job_free(jb);
    }
    msgw_errors_clear(&e);
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
    *jb = (job){.next = j->running, .owner = j, .req = req, .ops = ops, .work = work};
    jb->turn = evtimer_new(j->base, job_turn, jb);
    j->running = jb;
    j->n++;
    show_running(j);
    job_turn(-1, 0, jb);
}

void msgw_admin_jobs_destroy(msgw_admin_jobs **jp)
{
    if (!jp || !*jp) return;
    msgw_admin_jobs *j = *jp;
    while (j->running) {
        msgw_http_error(j->running->req, 503, "admin.stopping", "the gateway is stopping");
        job_free(j->running);
    }
    free(j);
    *jp = NULL;
}
