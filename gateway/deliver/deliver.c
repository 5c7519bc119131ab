/*
 * Webhook delivery (include/msgw/deliver/deliver.h).  At-least-once: a message is
 * marked delivered only after the recipient answered 2xx, so a crash between
 * the two re-sends it after the restart, and the recipient de-duplicates by
 * the X-Msgw-Event-Id header.  The outcomes of one pass are settled in one
 * store transaction on the deliverer's own connection (msgw_store_settle),
 * not one fsync per message.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msgw/store/audit.h"
#include "msgw/deliver/deliver.h"
#include "msgw/deliver/delivery_report.h"
#include "msgw/pipeline/doorbell.h"
#include "msgw/store/store.h"

/*
 * Up to delivery.webhook_parallel posts to one recipient at a time, each on
 * its own kept-alive connection.  Order per person still holds: a pass takes
 * at most one message per person (msgw_store_due), the oldest pending one.
 */
enum { MAX_PARALLEL = 16, PER_PASS = 64 };

/* One post in flight. */
typedef struct transfer {
    const msgw_department *dept;
    const msgw_delivery *m;
    struct curl_slist *hdr;
    char why[CURL_ERROR_SIZE];
} transfer;

/* The outcomes of one pass, settled together. */
typedef struct pass {
    msgw_settlement *v;
    size_t n, cap;
} pass;

struct msgw_deliverer {
    int wake_fd; /* the doorbell the commit worker rings, -1: none */
    const msgw_config *cfg;
    msgw_store *store;
    msgw_feed *feed;
    CURLM *multi;       /* the transfers of a wave run side by side */
    size_t par;         /* delivery.webhook_parallel */
    CURL **handles;     /* par per department, reused: keep-alive connections */
    pthread_t thread;
    atomic_bool stop;
    uint64_t rng;
    msgw_delivery_report report; /* outcomes to metrics, the feed and the audit log */
};

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* Exponential back-off with full jitter, in microseconds. */
static msgw_time backoff(msgw_deliverer *d, int attempts)
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

/* Prepares handle h to post message m of transfer t (headers in t, freed when it completes). */
static void prepare(msgw_deliverer *d, CURL *h, transfer *t)
{
    const msgw_config *c = d->cfg;
    const msgw_department *dept = t->dept;
    const msgw_delivery *m = t->m;
    char line[256];
    snprintf(line, sizeof line, "Content-Type: %s", m->media_type);
    t->hdr = curl_slist_append(NULL, line);
    snprintf(line, sizeof line, "X-Msgw-Event-Id: %s", m->event_id);
    t->hdr = curl_slist_append(t->hdr, line);
    snprintf(line, sizeof line, "X-Msgw-Kind: %s", m->kind);
    t->hdr = curl_slist_append(t->hdr, line);
    if (m->cause && *m->cause) {
        snprintf(line, sizeof line, "X-Msgw-Cause: %s", m->cause);
        t->hdr = curl_slist_append(t->hdr, line);
    }
    t->why[0] = '\0';
    curl_easy_setopt(h, CURLOPT_PRIVATE, t);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t->why);
    curl_easy_setopt(h, CURLOPT_URL, dept->deliver_url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, t->hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, m->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)m->len);
    curl_easy_setopt(h, CURLOPT_CAINFO, dept->deliver_ca ? dept->deliver_ca : c->tls_ca);
    curl_easy_setopt(h, CURLOPT_SSLCERT, dept->deliver_cert ? dept->deliver_cert : c->tls_cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, dept->deliver_key ? dept->deliver_key : c->tls_key);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
}

/* Decides a message's outcome; what the store must remember is added to the pass. */
static void settle(msgw_deliverer *d, pass *ps, const msgw_delivery *m, long status,
                   const char *why, msgw_time now)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 64;
        ps->v = realloc(ps->v, ps->cap * sizeof *ps->v);
        if (!ps->v) abort();
    }
    msgw_settlement *x = &ps->v[ps->n++];
    *x = (msgw_settlement){.id = m->id, .attempt = true};
    char err[300] = "";
    /* a peer answers 409 to an envelope it holds already (an answer lost, the envelope sent again) */
    const msgw_department *to = msgw_config_department(d->cfg, m->recipient);
    if ((status >= 200 && status < 300) || (status == 409 && to && to->peer_region)) {
        x->outcome = MSGW_SETTLE_DELIVERED;
    } else {
        if (status)
            snprintf(err, sizeof err, "HTTP %ld", status);
        else
            snprintf(err, sizeof err, "%s", why);
        x->error = strdup(err);
        if (!x->error) abort();
        bool too_old = now - m->created_at > (msgw_time)d->cfg->delivery_max_age_s * 1000000;
        if (m->attempts + 1 >= (int)d->cfg->delivery_max_attempts || too_old) {
            x->outcome = MSGW_SETTLE_DEAD;
        } else {
            x->outcome = MSGW_SETTLE_RETRY;
            x->next_at = now + backoff(d, m->attempts);
        }
    }
    static const char *const names[] = {[MSGW_SETTLE_DELIVERED] = "delivered",
                                        [MSGW_SETTLE_RETRY] = "retry",
                                        [MSGW_SETTLE_DEAD] = "dead",
                                        [MSGW_SETTLE_INFLIGHT] = "sent"};
    msgw_delivery_report_outcome(&d->report, m, "webhook", names[x->outcome], m->attempts + 1, x->error, now);
}

/* Writes the pass's outcomes in one transaction.  Should the store refuse, nothing is marked and
 * the messages are simply due again: sent twice at worst, which receivers de-duplicate. */
static void settle_pass(msgw_deliverer *d, pass *ps)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_store_settle(d->store, ps->v, ps->n, msgw_time_now(), &e);
    msgw_errors_clear(&e);
    for (size_t i = 0; i < ps->n; i++)
        free((char *)ps->v[i].error);
    ps->n = 0;
}

/* A recipient's due messages and how far its posts have got. */
typedef struct queue {
    msgw_store_deliveries due;
    size_t next; /* the first message not yet posted */
} queue;

/* Starts the next message of recipient i on handle slot (i, j), if one is left. */
static bool start_next(msgw_deliverer *d, queue *q, transfer *t, size_t i, size_t j)
{
    if (q[i].next >= q[i].due.n) return false;
    transfer *x = &t[i * d->par + j];
    *x = (transfer){.dept = &d->cfg->departments[i], .m = &q[i].due.v[q[i].next++]};
    prepare(d, d->handles[i * d->par + j], x);
    curl_multi_add_handle(d->multi, d->handles[i * d->par + j]);
    return true;
}

/* Runs the posts until every due message has had its attempt: a handle that finishes settles its
 * message and takes the recipient's next one at once. */
static size_t run_posts(msgw_deliverer *d, queue *q, transfer *t, pass *ps)
{
    size_t nd = d->cfg->ndepartments, attempted = 0;
    for (size_t i = 0; i < nd; i++)
        for (size_t j = 0; j < d->par; j++) attempted += start_next(d, q, t, i, j);
    int running = 1;
    while (running && !atomic_load(&d->stop)) {
        curl_multi_perform(d->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(d->multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *h = msg->easy_handle;
            CURLcode result = msg->data.result;
            transfer *x = NULL;
            long status = 0;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&x);
            if (result == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            else if (!x->why[0]) snprintf(x->why, sizeof x->why, "%s", curl_easy_strerror(result));
            settle(d, ps, x->m, status, x->why, msgw_time_now());
            curl_multi_remove_handle(d->multi, h);
            curl_slist_free_all(x->hdr);
            x->hdr = NULL;
            size_t slot = (size_t)(x - t);
            if (start_next(d, q, t, slot / d->par, slot % d->par)) {
                attempted++;
                running = 1;
            }
        }
        if (running) curl_multi_poll(d->multi, NULL, 0, 1000, NULL);
    }
    for (size_t k = 0; k < nd * d->par; k++) /* stopping: abandon what is still in flight */
        if (t[k].hdr) {
            curl_multi_remove_handle(d->multi, d->handles[k]);
            curl_slist_free_all(t[k].hdr);
        }
    return attempted;
}

/* One pass over the webhook recipients; returns how many messages were attempted. */
static size_t deliver_due(msgw_deliverer *d, pass *ps)
{
    size_t nd = d->cfg->ndepartments;
    queue *q = calloc(nd + 1, sizeof *q);
    transfer *t = calloc(nd * d->par + 1, sizeof *t);
    if (!q || !t) abort();
    msgw_errors e;
    msgw_errors_init(&e);
    for (size_t i = 0; i < nd; i++)
        if (d->cfg->departments[i].deliver == MSGW_DELIVER_WEBHOOK)
            msgw_store_due(d->store, d->cfg->departments[i].id, msgw_time_now(), PER_PASS, &q[i].due, &e);
    msgw_errors_clear(&e);
    size_t attempted = run_posts(d, q, t, ps);
    settle_pass(d, ps);
    for (size_t i = 0; i < nd; i++) msgw_store_deliveries_clear(&q[i].due);
    free(q);
    free(t);
    return attempted;
}

static void *run(void *arg)
{
    msgw_deliverer *d = arg;
    pass ps = {0};
    d->report.pub = msgw_feed_pub_new(d->feed); /* made, used and closed in this thread */
    /* idle: wait for the commit worker's ring, or look again after 50 ms (retries come due) */
    while (!atomic_load(&d->stop))
        if (deliver_due(d, &ps) == 0) msgw_doorbell_wait(d->wake_fd, 50);
    msgw_feed_pub_destroy(&d->report.pub);
    free(ps.v);
    return NULL;
}

msgw_deliverer *msgw_deliverer_new(const msgw_config *cfg, const char *store_spec, msgw_feed *feed,
                                   msgw_audit *audit, msgw_metrics *metrics, int wake_fd, msgw_errors *e)
{
    msgw_store *store = msgw_store_open(store_spec, MSGW_STORE_DELIVERY, e);
    if (!store) return NULL;
    msgw_deliverer *d = calloc(1, sizeof *d);
    if (!d) abort();
    d->cfg = cfg;
    d->store = store;
    d->feed = feed;
    d->wake_fd = wake_fd;
    msgw_delivery_report_init(&d->report, audit, metrics);
    d->rng = (uint64_t)msgw_time_now() | 1;
    d->multi = curl_multi_init();
    d->par = cfg->webhook_parallel < MAX_PARALLEL ? cfg->webhook_parallel : MAX_PARALLEL;
    if (d->par == 0) d->par = 1;
    d->handles = calloc(cfg->ndepartments * d->par + 1, sizeof *d->handles);
    if (!d->handles || !d->multi) abort();
    for (size_t i = 0; i < cfg->ndepartments * d->par; i++)
        d->handles[i] = curl_easy_init();
    atomic_init(&d->stop, false);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        msgw_error_add(e, -1, "delivery", NULL, "deliver.thread",
                       "cannot start the delivery thread");
        for (size_t i = 0; i < cfg->ndepartments * d->par; i++)
            curl_easy_cleanup(d->handles[i]);
        free(d->handles);
        curl_multi_cleanup(d->multi);
        msgw_store_close(&d->store);
        free(d);
        return NULL;
    }
    return d;
}

void msgw_deliverer_destroy(msgw_deliverer **dp)
{
    if (!dp || !*dp) return;
    msgw_deliverer *d = *dp;
    atomic_store(&d->stop, true);
    pthread_join(d->thread, NULL);
    for (size_t i = 0; i < d->cfg->ndepartments * d->par; i++)
        curl_easy_cleanup(d->handles[i]);
    free(d->handles);
    curl_multi_cleanup(d->multi);
    msgw_store_close(&d->store);
    free(d);
    *dp = NULL;
}
