/*
 * Long requests of the administrators' listener (docs/admin.md): a disclosure report or an audit
 * verification reads a log that may hold millions of entries, and the listener shares its event
 * loop with the departments' ingress.  A job does its work in steps — a segment of the log each —
 * one per turn of the loop, so everything else is served between them, and answers its request
 * when done.
 */
#ifndef MSGW_ADMIN_JOBS_H
#define MSGW_ADMIN_JOBS_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>

#include "msgw/base/error.h"
#include "msgw/base/metrics.h"

typedef struct msgw_admin_jobs msgw_admin_jobs;

/* What a kind of job does with its work (the caller's object, owned by the job once started). */
typedef struct msgw_admin_job_ops {
    /* One step: 1 when more remain, 0 when done, -1 when it failed (why in e). */
    int (*step)(void *work, msgw_errors *e);
    /* Answers req: outcome is step's last (0 or -1, with e). */
    void (*answer)(struct evhttp_request *req, void *work, int outcome, const msgw_errors *e);
    void (*destroy)(void *work);
} msgw_admin_job_ops;

/* At most max jobs at once. */
msgw_admin_jobs *msgw_admin_jobs_new(struct event_base *base, size_t max);
/* Shows the jobs running in m (msgw_admin_jobs_running) and counts the refused in
 * msgw_admin_jobs_refused_total. */
void msgw_admin_jobs_set_metrics(msgw_admin_jobs *j, msgw_metrics *m);
/* Answers every unfinished request 503 admin.stopping, frees the jobs, NULLs *j. */
void msgw_admin_jobs_destroy(msgw_admin_jobs **j);
/* Starts work for req: its first step now, the others at later turns of the loop.  When max jobs
 * are running, answers 503 admin.busy with Retry-After and destroys work. */
void msgw_admin_jobs_start(msgw_admin_jobs *j, struct evhttp_request *req,
                           const msgw_admin_job_ops *ops, void *work);

#endif
