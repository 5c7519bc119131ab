/*
 * The delivery driver (include/msgw/deliver/driver.h): the loop every transport shares, on a
 * thread of its own per transport, and the outcomes of its passes (msgw_pass,
 * include/msgw/deliver/transport.h) settled in one store transaction each.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msgw/base/clock.h"
#include "msgw/base/log.h"
#include "msgw/deliver/delivery_report.h"
#include "msgw/deliver/driver.h"

/* The outcomes decided since the last settlement, and the strings they need until then. */
struct msgw_pass {
    struct driver *d;
    msgw_settlement *v;
    size_t n, cap;
    char **strings;
    size_t nstrings, capstrings;
    size_t final; /* outcomes that ended an attempt (delivered, retry, dead): persons move on */
};

typedef struct driver {
    const msgw_transport_ops *ops;
    void *t;
    const msgw_config *cfg; /* switched only while the thread is halted */
    msgw_store *store;
    msgw_feed *feed;
    int wake_fd; /* the doorbell's descriptor, -1: none */
    msgw_delivery_report report;
    msgw_metric *failures; /* msgw_failures_total{component} */
    bool broken;  /* the store refused the last settlement or claim: logged until it works */
    bool waiting; /* for the audit log, which cannot be written: no claims meanwhile */
    uint64_t rng; /* the back-off's jitter */
    msgw_wall_clock clock; /* wall_now's */
    msgw_pass pass;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    /* for msgw_deliverers_stats, read from other threads */
    atomic_ullong delivered, retried, dead, sent, store_failures;
} driver;

struct msgw_deliverers {
    driver **v;
    size_t n;
};

/*
 * The wall-clock time the outbox is read and written with (due times, delivery times), which never
 * runs back: a clock set back would otherwise leave every message that was due, or was to be
 * retried soon, waiting until the clock caught up (due times are stored as wall-clock times).  Set
 * forward, the waiting retries are due at once.  Only the driver's thread calls it.
 */
static msgw_time wall_now(driver *d)
{
    return msgw_wall_clock_now(&d->clock);
}

/* ---- outcomes ---- */

/* A copy that lives until the pass is settled. */
static const char *keep(msgw_pass *p, const char *s)
{
    if (!s) return NULL;
    if (p->nstrings == p->capstrings) {
        p->capstrings = p->capstrings ? p->capstrings * 2 : 64;
        p->strings = realloc(p->strings, p->capstrings * sizeof *p->strings);
        if (!p->strings) abort();
    }
    char *c = strdup(s);
    if (!c) abort();
    return p->strings[p->nstrings++] = c;
}

static void add(msgw_pass *p, msgw_settlement x)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->v = realloc(p->v, p->cap * sizeof *p->v);
        if (!p->v) abort();
    }
    x.error = keep(p, x.error);
    x.recipient = keep(p, x.recipient);
    x.event_id = keep(p, x.event_id);
    p->v[p->n++] = x;
}

static void report(msgw_pass *p, const msgw_delivery *m, const char *outcome, int attempts,
                   const char *error)
{
    msgw_delivery_report_outcome(&p->d->report, m, p->d->ops->name, outcome, attempts, error,
                                 wall_now(p->d));
}

/* Exponential back-off with full jitter, in microseconds. */
static msgw_time backoff(driver *d, int attempts)
{
    uint64_t cap = (uint64_t)d->cfg->backoff_max_ms * 1000,
             base = (uint64_t)d->cfg->backoff_initial_ms * 1000;
    uint64_t t = base << (attempts < 20 ? attempts : 20);
    if (t > cap || t == 0) t = cap;
    d->rng ^= d->rng << 13;
    d->rng ^= d->rng >> 7;
    d->rng ^= d->rng << 17;
    return (msgw_time)(t / 2 + d->rng % (t / 2 + 1));
}

void msgw_pass_delivered(msgw_pass *p, const msgw_delivery *m, bool attempt)
{
    add(p, (msgw_settlement){.id = m->id, .outcome = MSGW_SETTLE_DELIVERED, .attempt = attempt});
    report(p, m, "delivered", m->attempts + attempt, NULL);
    p->final++;
    atomic_fetch_add(&p->d->delivered, 1);
}

void msgw_pass_failed(msgw_pass *p, const msgw_delivery *m, const char *error)
{
    driver *d = p->d;
    msgw_time now = wall_now(d);
    msgw_settlement x = {.id = m->id, .attempt = true, .error = error};
    bool too_old = now - m->created_at > (msgw_time)d->cfg->delivery_max_age_s * 1000000;
    if (m->attempts + 1 >= (int)d->cfg->delivery_max_attempts || too_old) {
        x.outcome = MSGW_SETTLE_DEAD;
        atomic_fetch_add(&d->dead, 1);
    } else {
        x.outcome = MSGW_SETTLE_RETRY;
        x.next_at = now + backoff(d, m->attempts);
        atomic_fetch_add(&d->retried, 1);
    }
    add(p, x);
    report(p, m, x.outcome == MSGW_SETTLE_DEAD ? "dead" : "retry", m->attempts + 1, error);
    p->final++;
}

void msgw_pass_dead(msgw_pass *p, const msgw_delivery *m, const char *error)
{
    add(p, (msgw_settlement){.id = m->id, .outcome = MSGW_SETTLE_DEAD, .error = error});
    report(p, m, "dead", m->attempts, error);
    p->final++;
    atomic_fetch_add(&p->d->dead, 1);
}

void msgw_pass_sent(msgw_pass *p, const msgw_delivery *m, msgw_time ack_by, const char *why)
{
    if (m->attempts > 0) {
        report(p, m, "retry", m->attempts + 1, why);
        atomic_fetch_add(&p->d->retried, 1);
    }
    add(p, (msgw_settlement){.id = m->id, .outcome = MSGW_SETTLE_INFLIGHT, .next_at = ack_by});
    atomic_fetch_add(&p->d->sent, 1);
}

void msgw_pass_acknowledged(msgw_pass *p, const char *recipient, const char *event_id)
{
    add(p, (msgw_settlement){
               .recipient = recipient, .event_id = event_id, .outcome = MSGW_SETTLE_DELIVERED});
    p->final++;
    atomic_fetch_add(&p->d->delivered, 1);
}

bool msgw_pass_stopping(const msgw_pass *p)
{
    return atomic_load(&p->d->stop);
}

/* ---- the store ---- */

/* A failure of the store: counted every time, logged when it begins (not once per pass). */
static void store_failed(driver *d, const char *what, const msgw_errors *e)
{
    atomic_fetch_add(&d->store_failures, 1);
    msgw_metrics_inc(d->failures, 1, "store");
    if (!d->broken)
        msgw_log(MSGW_LOG_ERROR, what, "transport", d->ops->name, "detail",
                 e->n && e->v[0].message ? e->v[0].message : "", NULL);
    d->broken = true;
}

static void store_worked(driver *d)
{
    if (d->broken)
        msgw_log(MSGW_LOG_INFO, "the store takes the deliverer's outcomes again", "transport",
                 d->ops->name, NULL);
    d->broken = false;
}

/* Writes the pass's outcomes in one transaction.  Should the store refuse, nothing is marked: the
 * messages come due again and are sent again, which receivers de-duplicate. */
static void settle(driver *d)
{
    msgw_pass *p = &d->pass;
    if (p->n) {
        msgw_errors e;
        msgw_errors_init(&e);
        if (msgw_store_settle(d->store, p->v, p->n, wall_now(d), &e))
            store_worked(d);
        else
            store_failed(
                d, "delivery outcomes could not be settled: the messages will be sent again", &e);
        msgw_errors_clear(&e);
        p->n = 0;
    }
    for (size_t i = 0; i < p->nstrings; i++)
        free(p->strings[i]);
    p->nstrings = 0;
}

/* The index of recipient in who[0..n), trying hint first (a batch comes recipient by recipient). */
static size_t recipient_index(const char *const *who, size_t n, const char *recipient, size_t hint)
{
    if (hint < n && strcmp(who[hint], recipient) == 0) return hint;
    for (size_t i = 0; i < n; i++)
        if (strcmp(who[i], recipient) == 0) return i;
    return n;
}

/* Asks the transport how much each of its recipients can take, claims that much in one query and
 * hands it over.  True when some recipient got all it had room for (more may be due). */
static bool claim(driver *d, msgw_time now)
{
    const msgw_config *cfg = d->cfg;
    const char **who = calloc(cfg->ndepartments + 1, sizeof *who);
    size_t *room = calloc(cfg->ndepartments + 1, sizeof *room), n = 0;
    if (!who || !room) abort();
    for (size_t i = 0; i < cfg->ndepartments; i++) {
        const msgw_department *dept = &cfg->departments[i];
        if (dept->deliver != d->ops->kind || !dept->id) continue;
        size_t r = d->ops->room(d->t, dept);
        if (r) {
            who[n] = dept->id;
            room[n++] = r;
        }
    }
    bool full = false;
    msgw_store_deliveries due = {0};
    msgw_errors e;
    msgw_errors_init(&e);
    if (!msgw_store_due_among(d->store, who, room, n, now, &due, &e)) {
        store_failed(d, "due messages could not be read from the store", &e);
    } else if (due.n) {
        size_t *got = calloc(n + 1, sizeof *got), k = 0;
        if (!got) abort();
        for (size_t j = 0; j < due.n; j++)
            if ((k = recipient_index(who, n, due.v[j].recipient, k)) < n) got[k]++;
        for (size_t i = 0; i < n; i++)
            full = full || got[i] >= room[i];
        free(got);
        d->ops->deliver(d->t, due.v, due.n, &d->pass, now);
    }
    msgw_store_deliveries_clear(&due);
    msgw_errors_clear(&e);
    free(who);
    free(room);
    return full;
}

/* ---- the loop ---- */

/*
 * Deliveries wait while the audit log cannot be written (docs/audit.md): a delivery it could not
 * record is not made; the outcomes of what was sent before are held by the log.  Logged when they
 * stop and when they go on.
 */
static bool audit_wait(driver *d)
{
    char why[320];
    bool wait = d->report.audit && msgw_audit_problem(d->report.audit, why, sizeof why);
    if (wait && !d->waiting)
        msgw_log(MSGW_LOG_WARNING, "deliveries wait: the audit log cannot be written", "transport",
                 d->ops->name, "detail", why, NULL);
    else if (!wait && d->waiting)
        msgw_log(MSGW_LOG_INFO, "deliveries go on: the audit log is writable again", "transport",
                 d->ops->name, NULL);
    return d->waiting = wait;
}

/* Waits at most timeout_ms for the doorbell or the transport's descriptor; true when rung. */
static bool wait_for_work(driver *d, int tfd, int timeout_ms)
{
    struct pollfd fds[2];
    nfds_t n = 0;
    if (d->wake_fd >= 0) fds[n++] = (struct pollfd){.fd = d->wake_fd, .events = POLLIN};
    if (tfd >= 0) fds[n++] = (struct pollfd){.fd = tfd, .events = POLLIN};
    if (poll(fds, n, timeout_ms) <= 0) return false; /* EINTR: as a timeout */
    bool rung = d->wake_fd >= 0 && (fds[0].revents & POLLIN);
    if (rung) msgw_doorbell_clear(d->wake_fd);
    return rung;
}

/* After an acknowledgement ends a message, the same person's next one may be due: the driver claims
 * again this soon after its last claim, not only at the transport's idle interval (which made a
 * person's second notice wait for it: the p99 of the notices at a low rate). */
#define CLAIM_GAP_US 1000

/* The loop's own pace (when to claim, how long to wait) is measured on the monotonic clock; the
 * store is asked with the wall clock (wall_now). */
static void *run(void *arg)
{
    driver *d = arg;
    d->report.pub = msgw_feed_pub_new(d->feed); /* made, used and closed in this thread */
    msgw_time next_claim = 0, last_claim = 0, idle = (msgw_time)d->ops->idle_ms * 1000;
    bool again = false, full = false, owed = false;
    while (!atomic_load(&d->stop)) {
        bool ready = false;
        int tfd = d->ops->descriptor ? d->ops->descriptor(d->t, &ready) : -1;
        msgw_time now = msgw_clock_monotonic(), wake_at = next_claim;
        if (owed && last_claim + CLAIM_GAP_US < wake_at) wake_at = last_claim + CLAIM_GAP_US;
        int wait_ms = 0;
        if (!again && !ready && wake_at > now) wait_ms = (int)((wake_at - now + 999) / 1000);
        if (wait_for_work(d, tfd, wait_ms)) next_claim = 0; /* new messages: look now */
        size_t ended = d->pass.final;
        if (d->ops->acknowledged) d->ops->acknowledged(d->t, &d->pass, wall_now(d));
        bool freed = d->pass.final > ended;
        owed = owed || freed;
        settle(d);
        now = msgw_clock_monotonic();
        /* Acknowledgements make a claim at most every CLAIM_GAP_US (a steady stream of them would
         * make one per pass), at once when they free room the last claim filled. */
        if (again || now >= next_claim || (full && freed) || (owed && now >= last_claim + CLAIM_GAP_US)) {
            ended = d->pass.final;
            full = !audit_wait(d) && claim(d, wall_now(d));
            again = d->pass.final > ended; /* attempts ended: persons' next messages may be due */
            next_claim = now + idle;
            last_claim = now;
            owed = false;
        } else {
            again = false;
        }
    }
    settle(d);
    msgw_feed_pub_destroy(&d->report.pub);
    return NULL;
}

static bool start_thread(driver *d, msgw_errors *e)
{
    atomic_store(&d->stop, false);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        msgw_error_add(e, -1, "delivery", NULL, "deliver.thread",
                       "cannot start the %s delivery thread", d->ops->name);
        return false;
    }
    d->running = true;
    return true;
}

static void halt(driver *d)
{
    if (!d->running) return;
    atomic_store(&d->stop, true);
    uint64_t one = 1; /* rung: the thread sees stop now, not after its wait (the transport's idle) */
    if (d->wake_fd >= 0 && write(d->wake_fd, &one, sizeof one) < 0) {
    }
    pthread_join(d->thread, NULL);
    d->running = false;
}

static void driver_destroy(driver **dp)
{
    if (!dp || !*dp) return;
    driver *d = *dp;
    halt(d);
    if (d->t) d->ops->close(&d->t);
    msgw_store_close(&d->store);
    free(d->pass.v);
    free(d->pass.strings);
    free(d);
    *dp = NULL;
}

static driver *driver_new(const msgw_transport_ops *ops, const msgw_transport_env *env, int wake_fd,
                          msgw_errors *e)
{
    driver *d = calloc(1, sizeof *d);
    if (!d) abort();
    d->ops = ops;
    d->cfg = env->cfg;
    d->feed = env->feed;
    d->wake_fd = wake_fd;
    d->pass.d = d;
    d->rng = (uint64_t)msgw_time_now() | 1;
    msgw_delivery_report_init(&d->report, env->audit, env->metrics);
    d->failures = msgw_metrics_failures(env->metrics);
    if (!(d->store = msgw_store_open(env->store_address, MSGW_STORE_DELIVERY, e)) ||
        !(d->t = ops->open(env, e)) || !start_thread(d, e))
        driver_destroy(&d);
    return d;
}

/* ---- the set ---- */

size_t msgw_deliverers_wanted(const msgw_transport_ops *const *table, const msgw_config *cfg)
{
    size_t n = 0;
    for (; table && *table; table++)
        n += (*table)->wanted(cfg);
    return n;
}

bool msgw_deliverers_need_hub(const msgw_transport_ops *const *table, const msgw_config *cfg)
{
    for (; table && *table; table++)
        if ((*table)->needs_hub && (*table)->wanted(cfg)) return true;
    return false;
}

msgw_deliverers *msgw_deliverers_start(const msgw_transport_ops *const *table,
                                       const msgw_transport_env *env, const msgw_doorbell *bell,
                                       msgw_errors *e)
{
    msgw_deliverers *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->v = calloc(msgw_deliverers_wanted(table, env->cfg) + 1, sizeof *s->v);
    if (!s->v) abort();
    for (; table && *table; table++) {
        if (!(*table)->wanted(env->cfg)) continue;
        if (!(s->v[s->n] = driver_new(*table, env, msgw_doorbell_fd(bell, s->n), e))) {
            msgw_deliverers_stop(&s);
            return NULL;
        }
        s->n++;
    }
    return s;
}

bool msgw_deliverers_reconfigure(msgw_deliverers *s, const msgw_config *cfg, msgw_errors *e)
{
    bool ok = true;
    for (size_t i = 0; s && i < s->n; i++) {
        driver *d = s->v[i];
        halt(d);
        if (d->ops->reconfigure) d->ops->reconfigure(d->t, cfg);
        d->cfg = cfg;
        ok = start_thread(d, e) && ok;
    }
    return ok;
}

void msgw_deliverers_stop(msgw_deliverers **sp)
{
    if (!sp || !*sp) return;
    msgw_deliverers *s = *sp;
    for (size_t i = s->n; i-- > 0;)
        driver_destroy(&s->v[i]);
    free(s->v);
    free(s);
    *sp = NULL;
}

size_t msgw_deliverers_count(const msgw_deliverers *s)
{
    return s ? s->n : 0;
}

const msgw_transport_ops *msgw_deliverers_ops(const msgw_deliverers *s, size_t i)
{
    return s && i < s->n ? s->v[i]->ops : NULL;
}

const char *msgw_deliverers_endpoint(const msgw_deliverers *s, size_t i)
{
    if (!s || i >= s->n || !s->v[i]->ops->endpoint) return NULL;
    return s->v[i]->ops->endpoint(s->v[i]->t);
}

json_t *msgw_deliverers_stats(const msgw_deliverers *s)
{
    json_t *all = json_array();
    for (size_t i = 0; s && i < s->n; i++) {
        const driver *d = s->v[i];
        const char *endpoint = msgw_deliverers_endpoint(s, i);
        json_t *o =
            json_pack("{s:s,s:s*,s:I,s:I,s:I,s:I,s:I}", "name", d->ops->name, "endpoint", endpoint,
                      "delivered", (json_int_t)atomic_load(&d->delivered), "retried",
                      (json_int_t)atomic_load(&d->retried), "dead",
                      (json_int_t)atomic_load(&d->dead), "sent", (json_int_t)atomic_load(&d->sent),
                      "store_failures", (json_int_t)atomic_load(&d->store_failures));
        if (d->ops->stats) {
            json_t *own = d->ops->stats(d->t);
            json_object_update_missing(o, own);
            json_decref(own);
        }
        json_array_append_new(all, o);
    }
    return all;
}
