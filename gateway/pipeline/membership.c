/*
 * This instance's membership of a cluster (membership.h).  The lease is
 * renewed every third of its period, so a renewal or two may fail (a slow
 * server, a lost connection) before it lapses; the instance counts itself the
 * evaluator only while its last successful renewal is younger than the
 * period minus a margin, so it stops before another instance can take over.
 * Its commits are fenced anyway (msgw_store_fence): this only keeps it from
 * evaluating what it could not commit.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "membership.h"
#include "msgw/base/clock.h"
#include "msgw/base/log.h"
#include "msgw/store/audit.h"
#include "msgw/store/cluster.h"

struct membership {
    msgw_store *store; /* its own connection */
    msgw_audit *audit; /* the lease changing hands is audited; may be NULL */
    char name[128], host[64];
    int64_t period_us; /* the lease's */
    msgw_time started_at;
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    /* under lock */
    int64_t epoch;     /* of the lease held, 0: not held */
    msgw_time renewed; /* monotonic time of the last successful renewal that held it */
    int64_t evaluated_through;
    bool evaluating;
    json_t *view; /* the cluster as last read */
    bool unreachable; /* the last renewal could not reach the store */
    msgw_metric *m_up, *m_evaluator, *m_evaluated, *m_epoch;
};

membership *membership_new(const msgw_config *cfg, const char *store_address, msgw_audit *audit, msgw_errors *e)
{
    msgw_store *s = msgw_store_open(store_address, MSGW_STORE_DELIVERY, e);
    if (!s) return NULL;
    if (!msgw_store_clustered(s)) {
        msgw_store_close(&s);
        msgw_error_add(e, -1, store_address, NULL, "store.cluster", "not a shared store");
        return NULL;
    }
    membership *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->store = s;
    m->audit = audit;
    if (gethostname(m->host, sizeof m->host - 1) != 0) strcpy(m->host, "localhost");
    if (cfg->cluster_instance)
        snprintf(m->name, sizeof m->name, "%s", cfg->cluster_instance);
    else
        snprintf(m->name, sizeof m->name, "%s-%d", m->host, (int)getpid());
    m->period_us = (int64_t)cfg->cluster_lease_ms * 1000;
    m->started_at = msgw_time_now();
    pthread_mutex_init(&m->lock, NULL);
    msgw_cond_init_monotonic(&m->wake); /* renewals keep their pace when the clock is set */
    return m;
}

const char *membership_name(const membership *m)
{
    return m->name;
}

bool membership_leading(membership *m, int64_t *epoch)
{
    pthread_mutex_lock(&m->lock);
    /* a margin of a tenth of the period: the clocks of this host and the server may drift apart */
    bool held = m->epoch && msgw_clock_monotonic() - m->renewed < m->period_us - m->period_us / 10;
    *epoch = held ? m->epoch : 0;
    pthread_mutex_unlock(&m->lock);
    return held;
}

void membership_progress(membership *m, int64_t evaluated_through, bool evaluating)
{
    pthread_mutex_lock(&m->lock);
    m->evaluated_through = evaluated_through;
    m->evaluating = evaluating;
    pthread_mutex_unlock(&m->lock);
}

const char *membership_problem(membership *m)
{
    pthread_mutex_lock(&m->lock);
    bool down = m->unreachable;
    pthread_mutex_unlock(&m->lock);
    return down ? "the shared store cannot be reached: pushes are answered 503 until it is back" : NULL;
}

void membership_lost(membership *m)
{
    pthread_mutex_lock(&m->lock);
    m->epoch = 0;
    pthread_mutex_unlock(&m->lock);
}

/* Whether the evaluator lease is valid and held by instance. */
static bool evaluates(const msgw_cluster_view *v, const char *instance)
{
    for (size_t i = 0; i < v->nleases; i++)
        if (strcmp(v->leases[i].name, MSGW_LEASE_EVALUATOR) == 0)
            return v->leases[i].holder && strcmp(v->leases[i].holder, instance) == 0 &&
                   v->leases[i].expires_at > v->now;
    return false;
}

static json_t *instance_json(const membership *m, const msgw_cluster_view *v,
                             const msgw_instance_row *r)
{
    bool alive = !r->stopped && v->now - r->heartbeat_at < m->period_us;
    return json_pack("{s:s,s:s,s:i,s:s,s:I,s:I,s:I,s:b,s:b,s:b}", "name", r->name, "host", r->host,
                     "pid", r->pid, "role", r->role, "started_at", (json_int_t)r->started_at,
                     "heartbeat_age_ms", (json_int_t)((v->now - r->heartbeat_at) / 1000),
                     "evaluated_through", (json_int_t)r->evaluated_through, "alive", alive,
                     "evaluator", evaluates(v, r->name), "self", strcmp(r->name, m->name) == 0);
}

/* The view as JSON, and the gauges from it. */
static json_t *view_json(membership *m, const msgw_cluster_view *v)
{
    json_t *instances = json_array(), *leases = json_array();
    for (size_t i = 0; i < v->ninstances; i++) {
        const msgw_instance_row *r = &v->instances[i];
        json_t *j = instance_json(m, v, r);
        json_array_append_new(instances, j);
        msgw_metrics_set(m->m_up, json_is_true(json_object_get(j, "alive")) ? 1 : 0, r->name);
        msgw_metrics_set(m->m_evaluator, json_is_true(json_object_get(j, "evaluator")) ? 1 : 0,
                         r->name);
        msgw_metrics_set(m->m_evaluated, (double)r->evaluated_through, r->name);
    }
    for (size_t i = 0; i < v->nleases; i++) {
        const msgw_lease_row *r = &v->leases[i];
        json_array_append_new(leases,
                              json_pack("{s:s,s:s?,s:I,s:I,s:b}", "name", r->name, "holder",
                                        r->holder, "epoch", (json_int_t)r->epoch, "expires_in_ms",
                                        (json_int_t)((r->expires_at - v->now) / 1000), "valid",
                                        r->holder && r->expires_at > v->now));
        msgw_metrics_set(m->m_epoch, (double)r->epoch, r->name);
    }
    return json_pack("{s:s,s:o,s:o}", "instance", m->name, "instances", instances, "leases",
                     leases);
}

/* The lease changing hands, in the audit log: who evaluated when is part of what happened. */
static void audit_lease(membership *m, const char *action, int64_t epoch)
{
    if (!m->audit) return;
    msgw_errors e;
    msgw_errors_init(&e);
    json_t *f = json_pack("{s:s,s:s,s:s,s:s}", "action", action, "lease", MSGW_LEASE_EVALUATOR, "instance", m->name,
                          "host", m->host);
    if (epoch) json_object_set_new(f, "epoch", json_integer((json_int_t)epoch));
    msgw_audit_append(m->audit, "admin", f, &e);
    msgw_errors_clear(&e);
}

/* One round: the lease, the heartbeat, the view. */
static void renew(membership *m)
{
    msgw_errors e;
    msgw_errors_init(&e);
    int64_t epoch = 0;
    msgw_time asked = msgw_clock_monotonic();
    int held = msgw_store_lease(m->store, MSGW_LEASE_EVALUATOR, m->name, m->period_us, &epoch, &e);
    pthread_mutex_lock(&m->lock);
    bool was = m->epoch != 0;
    if (held == 1) {
        m->epoch = epoch;
        m->renewed = asked; /* the period runs from before the server took it */
    } else if (held == 0) {
        m->epoch = 0;
    } /* an error: the last renewal stands until its period runs out (membership_leading) */
    m->unreachable = held < 0;
    msgw_instance_row me = {.name = m->name,
                            .host = m->host,
                            .pid = (int)getpid(),
                            .started_at = m->started_at,
                            .role = m->evaluating ? "evaluator" : "follower",
                            .evaluated_through = m->evaluated_through};
    pthread_mutex_unlock(&m->lock);
    if (held == 1 && !was) {
        msgw_log(MSGW_LOG_INFO, "evaluator lease taken", "instance", m->name, NULL);
        audit_lease(m, "cluster.lease_taken", epoch);
    } else if (held == 0 && was) {
        msgw_log(MSGW_LOG_WARNING, "evaluator lease lost", "instance", m->name, NULL);
        audit_lease(m, "cluster.lease_lost", 0);
    }
    if (held < 0) msgw_log_errors(MSGW_LOG_WARNING, "the evaluator lease could not be renewed", &e);
    msgw_errors_clear(&e);
    msgw_arena *a = msgw_arena_new(0);
    msgw_cluster_view v;
    if (msgw_store_heartbeat(m->store, &me, &e) && msgw_store_cluster_view(m->store, a, &v, &e)) {
        json_t *j = view_json(m, &v);
        pthread_mutex_lock(&m->lock);
        json_decref(m->view);
        m->view = j;
        pthread_mutex_unlock(&m->lock);
    }
    msgw_errors_clear(&e);
    msgw_arena_destroy(&a);
}

static void *run(void *arg)
{
    membership *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        pthread_mutex_unlock(&m->lock);
        renew(m);
        pthread_mutex_lock(&m->lock);
        struct timespec until = msgw_clock_deadline(m->period_us / 3);
        while (!m->stop && pthread_cond_timedwait(&m->wake, &m->lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

bool membership_start(membership *m, msgw_errors *e)
{
    renew(m); /* before the first request: an instance alone takes the lease at once */
    m->running = pthread_create(&m->thread, NULL, run, m) == 0;
    if (!m->running)
        msgw_error_add(e, -1, "cluster", NULL, "cluster.thread",
                       "cannot start the membership thread");
    return m->running;
}

void membership_destroy(membership **mp)
{
    if (!mp || !*mp) return;
    membership *m = *mp;
    if (m->running) {
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
    }
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_instance_row me = {.name = m->name,
                            .host = m->host,
                            .pid = (int)getpid(),
                            .started_at = m->started_at,
                            .role = "stopped",
                            .evaluated_through = m->evaluated_through,
                            .stopped = true};
    if (m->epoch) msgw_store_lease_release(m->store, MSGW_LEASE_EVALUATOR, m->name, &e);
    msgw_store_heartbeat(m->store, &me, &e);
    msgw_errors_clear(&e);
    msgw_store_close(&m->store);
    json_decref(m->view);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    free(m);
    *mp = NULL;
}

json_t *membership_json(membership *m)
{
    pthread_mutex_lock(&m->lock);
    json_t *j = m->view ? json_deep_copy(m->view) : json_pack("{s:s}", "instance", m->name);
    pthread_mutex_unlock(&m->lock);
    return j;
}

void membership_set_metrics(membership *m, msgw_metrics *metrics)
{
    pthread_mutex_lock(&m->lock);
    m->m_up = msgw_metrics_gauge(
        metrics, "msgw_cluster_instance_up",
        "Instances over the shared store: 1 while an instance's heartbeat is younger "
        "than the lease period and it has not stopped (docs/cluster.md).",
        "instance", NULL);
    m->m_evaluator = msgw_metrics_gauge(
        metrics, "msgw_cluster_evaluator",
        "1 for the instance that holds the evaluator lease, 0 for the others.", "instance", NULL);
    m->m_evaluated = msgw_metrics_gauge(
        metrics, "msgw_cluster_evaluated_through",
        "How far each instance's engine has followed the order of evaluation.", "instance", NULL);
    m->m_epoch = msgw_metrics_gauge(
        metrics, "msgw_cluster_lease_epoch",
        "Each lease's epoch: it grows each time the lease changes hands.", "lease", NULL);
    pthread_mutex_unlock(&m->lock);
}
