/*
 * The transports' interfaces (msgw/ingress/listener.h, msgw/deliver/transport.h,
 * msgw/deliver/driver.h): the registries hold the transports the daemon runs; a listener in a
 * table is started when the configuration wants it, paused, reloaded and stopped with the others;
 * a transport in a table gets a driver that claims its recipients' due messages (one person's in
 * order, no more than its room), settles what it says in the store, reads its acknowledgements,
 * wakes on the doorbell, reports each outcome, and counts and logs a settlement the store refuses.
 * The fake transports here are registered in tables of the tests' own, as a new transport would
 * be in gateway/ingress/listeners.c or gateway/deliver/transports.c; the stores are real.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>

#include "msgw/base/log.h"
#include "msgw/deliver/driver.h"
#include "msgw/ingress/listener.h"
#include "msgw/store/query.h"
#include "testutil.h"

/* ---- the registries ---- */

static void test_registries(void **state)
{
    (void)state;
    const char *listeners[] = {"https", "peering", "zmq"}, *transports[] = {"webhook", "zmq"};
    const msgw_listener_ops *const *l = msgw_listeners_registered();
    for (size_t i = 0; i < 3; i++) {
        assert_non_null(l[i]);
        assert_string_equal(l[i]->name, listeners[i]);
        assert_true(l[i]->wanted && l[i]->start && l[i]->stop && l[i]->endpoint && l[i]->port_file);
    }
    assert_null(l[3]);
    const msgw_transport_ops *const *t = msgw_transports_registered();
    for (size_t i = 0; i < 2; i++) {
        assert_non_null(t[i]);
        assert_string_equal(t[i]->name, transports[i]);
        assert_true(t[i]->wanted && t[i]->open && t[i]->close && t[i]->room && t[i]->deliver);
        assert_true(t[i]->idle_ms > 0);
    }
    assert_null(t[2]);
    assert_int_equal(t[0]->kind, MSGW_DELIVER_WEBHOOK);
    assert_int_equal(t[1]->kind, MSGW_DELIVER_ZMQ);

    /* what a configuration wants of them: the webhook deliverer always, the rest by their address
     */
    msgw_config cfg = {.https_listen = "127.0.0.1:0"};
    assert_false(msgw_listeners_need_hub(l, &cfg));
    assert_int_equal(msgw_deliverers_wanted(t, &cfg), 1);
    assert_false(msgw_deliverers_need_hub(t, &cfg));
    cfg.zmq_listen = "tcp://127.0.0.1:*";
    assert_true(msgw_listeners_need_hub(l, &cfg));
    cfg.zmq_deliver_listen = "tcp://127.0.0.1:*";
    assert_int_equal(msgw_deliverers_wanted(t, &cfg), 2);
    assert_true(msgw_deliverers_need_hub(t, &cfg));
}

/* ---- listeners from a table ---- */

/* What the fake listeners were asked, in order (the event loop's thread only). */
static struct {
    char calls[512];
} listened;

__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
    size_t n = strlen(listened.calls);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(listened.calls + n, sizeof listened.calls - n, fmt, ap);
    va_end(ap);
}

typedef struct fake_listener {
    const char *name, *endpoint;
    const msgw_config *cfg;
} fake_listener;

/* A listener is wanted when the configuration's region names it (a stand-in for an address). */
#define FAKE_LISTENER(NAME, ENDPOINT)                                                              \
    static bool NAME##_wanted(const msgw_config *cfg)                                              \
    {                                                                                              \
        return cfg->region && strstr(cfg->region, #NAME);                                          \
    }                                                                                              \
    static void *NAME##_start(const msgw_listener_env *env, msgw_errors *e)                        \
    {                                                                                              \
        note("start " #NAME ";");                                                                  \
        if (strstr(env->cfg->region, "broken-" #NAME)) {                                           \
            msgw_error_add(e, -1, #NAME, NULL, "fake.bind", "cannot listen");                      \
            return NULL;                                                                           \
        }                                                                                          \
        fake_listener *l = calloc(1, sizeof *l);                                                   \
        *l = (fake_listener){.name = #NAME, .endpoint = ENDPOINT, .cfg = env->cfg};                \
        return l;                                                                                  \
    }

FAKE_LISTENER(alpha, "1111")
FAKE_LISTENER(beta, "tcp://127.0.0.1:2222")
FAKE_LISTENER(gamma, "3333")

static void fake_stop(void **l)
{
    note("stop %s;", ((fake_listener *)*l)->name);
    free(*l);
    *l = NULL;
}

static void fake_pause(void *l)
{
    note("pause %s;", ((fake_listener *)l)->name);
}

static bool fake_prepare(void *l, const msgw_listener_env *env, msgw_errors *e)
{
    note("prepare %s;", ((fake_listener *)l)->name);
    if (strstr(env->cfg->region, "refused")) {
        msgw_error_add(e, -1, "tls", NULL, "fake.tls", "the certificate does not load");
        return false;
    }
    return true;
}

static bool fake_reconfigure(void *l, const msgw_listener_env *env, msgw_errors *e)
{
    (void)e;
    ((fake_listener *)l)->cfg = env->cfg;
    note("reconfigure %s;", ((fake_listener *)l)->name);
    return true;
}

static const char *fake_endpoint(const void *l)
{
    return ((const fake_listener *)l)->endpoint;
}

static json_t *fake_stats(const void *l)
{
    return json_pack("{s:i,s:s}", "requests", 7, "name", ((const fake_listener *)l)->name);
}

static const msgw_listener_ops alpha_ops = {.name = "alpha",
                                            .port_file = "",
                                            .wanted = alpha_wanted,
                                            .start = alpha_start,
                                            .stop = fake_stop,
                                            .pause = fake_pause,
                                            .prepare = fake_prepare,
                                            .reconfigure = fake_reconfigure,
                                            .endpoint = fake_endpoint,
                                            .stats = fake_stats};
/* only the operations a listener must have */
static const msgw_listener_ops beta_ops = {.name = "beta",
                                           .port_file = "beta",
                                           .needs_hub = true,
                                           .wanted = beta_wanted,
                                           .start = beta_start,
                                           .stop = fake_stop,
                                           .endpoint = fake_endpoint};
static const msgw_listener_ops gamma_ops = {.name = "gamma",
                                            .port_file = "gamma",
                                            .wanted = gamma_wanted,
                                            .start = gamma_start,
                                            .stop = fake_stop,
                                            .reconfigure = fake_reconfigure,
                                            .endpoint = fake_endpoint};
static const msgw_listener_ops *const listener_table[] = {&alpha_ops, &beta_ops, &gamma_ops, NULL};

static void test_listeners_from_a_table(void **state)
{
    (void)state;
    msgw_errors e;
    msgw_errors_init(&e);
    listened.calls[0] = '\0';
    msgw_config cfg = {.region = "alpha gamma"}, next = {.region = "alpha gamma refused"};
    msgw_listener_env env = {.cfg = &cfg};
    assert_false(msgw_listeners_need_hub(listener_table, &cfg));
    msgw_listeners *s = msgw_listeners_start(listener_table, &env, &e);
    assert_non_null(s);
    assert_string_equal(listened.calls, "start alpha;start gamma;"); /* beta is not wanted */
    assert_int_equal(msgw_listeners_count(s), 2);
    assert_ptr_equal(msgw_listeners_ops(s, 1), &gamma_ops);
    assert_string_equal(msgw_listeners_endpoint(s, 0), "1111");
    assert_null(msgw_listeners_ops(s, 2));

    json_t *stats = msgw_listeners_stats(s); /* name and endpoint first; its own added */
    char *text = json_dumps(stats, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(text, "[{\"name\":\"alpha\",\"endpoint\":\"1111\",\"requests\":7},"
                              "{\"name\":\"gamma\",\"endpoint\":\"3333\"}]");
    free(text);
    json_decref(stats);

    /* a reload one listener refuses changes nothing; an accepted one reaches every listener */
    listened.calls[0] = '\0';
    env.cfg = &next;
    assert_false(msgw_listeners_prepare(s, &env, &e));
    assert_string_equal(e.v[0].rule, "fake.tls");
    msgw_errors_clear(&e);
    next.region = "alpha gamma";
    assert_true(msgw_listeners_prepare(s, &env, &e));
    assert_true(msgw_listeners_reconfigure(s, &env, &e));
    assert_string_equal(listened.calls,
                        "prepare alpha;prepare alpha;reconfigure alpha;reconfigure gamma;");

    listened.calls[0] = '\0';
    msgw_listeners_pause(s); /* gamma has no pause */
    msgw_listeners_stop(&s);
    assert_null(s);
    assert_string_equal(listened.calls, "pause alpha;stop gamma;stop alpha;");

    /* one that cannot start: those started are stopped again, the error says why */
    listened.calls[0] = '\0';
    cfg.region = "alpha beta broken-beta gamma";
    env.cfg = &cfg;
    assert_true(msgw_listeners_need_hub(listener_table, &cfg));
    assert_null(msgw_listeners_start(listener_table, &env, &e));
    assert_string_equal(listened.calls, "start alpha;start beta;stop alpha;");
    assert_string_equal(e.v[0].rule, "fake.bind");
    msgw_errors_clear(&e);
}

/* ---- deliverers from a table ---- */

/* What the fake transports were handed, from their driver threads. */
static struct {
    pthread_mutex_t lock;
    char seen[1024];    /* the event ids delivered, in order */
    size_t calls, most; /* deliver calls, and the largest batch */
    size_t room;        /* what each recipient may take per pass */
    bool acknowledging; /* the second transport: sends, and acknowledges on the next pass */
    bool hold, holding; /* the first deliver waits for the test (which locks the store) */
    pthread_cond_t changed;
} handed = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

typedef struct fake_transport {
    const msgw_config *cfg;
    int ack_fd; /* readable while messages sent wait for their acknowledgement */
    msgw_delivery sent[16]; /* taken over from the batch until acknowledged */
    size_t nsent;
} fake_transport;

static void *fake_open(const msgw_transport_env *env, msgw_errors *e)
{
    (void)e;
    fake_transport *t = calloc(1, sizeof *t);
    t->cfg = env->cfg;
    t->ack_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return t;
}

static void fake_close(void **t)
{
    fake_transport *f = *t;
    for (size_t i = 0; i < f->nsent; i++) {
        msgw_delivery_clear(&f->sent[i]);
    }
    close(f->ack_fd);
    free(f);
    *t = NULL;
}

static size_t fake_room(void *t, const msgw_department *dept)
{
    (void)t;
    (void)dept;
    return handed.room;
}

/* Delivers each message, or fails the ones whose body says so; the acknowledging transport sends
 * them and keeps them (taken over from the batch) for its next pass. */
static void fake_deliver(void *tp, msgw_delivery *v, size_t n, msgw_pass *p, msgw_time now)
{
    fake_transport *t = tp;
    pthread_mutex_lock(&handed.lock);
    handed.calls++;
    handed.most = n > handed.most ? n : handed.most;
    if (handed.hold) { /* says it is holding, and waits to be let go */
        handed.holding = true;
        pthread_cond_broadcast(&handed.changed);
        while (handed.hold)
            pthread_cond_wait(&handed.changed, &handed.lock);
        handed.holding = false;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(handed.seen);
        snprintf(handed.seen + len, sizeof handed.seen - len, "%s%s", len ? " " : "",
                 v[i].event_id);
        if (handed.acknowledging && t->nsent < 16) {
            msgw_pass_sent(p, &v[i], now + 60000000, NULL);
            t->sent[t->nsent] = v[i];
            t->sent[t->nsent++].attempts++;
            memset(&v[i], 0, sizeof v[i]);
            uint64_t one = 1;
            if (write(t->ack_fd, &one, sizeof one) < 0) fail(); /* its acknowledgement is there */
        } else if (strcmp((char *)v[i].body, "fail") == 0) {
            msgw_pass_failed(p, &v[i], "HTTP 503");
        } else {
            msgw_pass_delivered(p, &v[i], true);
        }
    }
    pthread_mutex_unlock(&handed.lock);
}

/* The first is acknowledged by event id alone (as after a restart), the others as held. */
static void fake_acknowledged(void *tp, msgw_pass *p, msgw_time now)
{
    (void)now;
    fake_transport *t = tp;
    uint64_t n;
    if (read(t->ack_fd, &n, sizeof n) < 0) { /* nothing was waiting */
    }
    for (size_t i = 0; i < t->nsent; i++) {
        if (i == 0)
            msgw_pass_acknowledged(p, t->sent[i].recipient, t->sent[i].event_id);
        else
            msgw_pass_delivered(p, &t->sent[i], false);
        msgw_delivery_clear(&t->sent[i]);
    }
    t->nsent = 0;
}

static json_t *fake_transport_stats(const void *t)
{
    (void)t;
    return json_pack("{s:s}", "own", "yes");
}

static bool fake_wanted(const msgw_config *cfg)
{
    (void)cfg;
    return true;
}

/* The fake's table, with the idle interval and descriptor each test transport wants. */
#define FAKE_OPS(idle, describe)                                                                   \
    {.name = "fake",                                                                               \
     .kind = MSGW_DELIVER_WEBHOOK,                                                                 \
     .idle_ms = (idle),                                                                            \
     .wanted = fake_wanted,                                                                        \
     .open = fake_open,                                                                            \
     .close = fake_close,                                                                          \
     .room = fake_room,                                                                            \
     .deliver = fake_deliver,                                                                      \
     .acknowledged = fake_acknowledged,                                                            \
     .descriptor = (describe),                                                                     \
     .stats = fake_transport_stats}

static const msgw_transport_ops fake_ops = FAKE_OPS(20, NULL);
static const msgw_transport_ops *const transport_table[] = {&fake_ops, NULL};
/* The same transport with an idle interval longer than any test waits, and a descriptor that
 * wakes its driver when acknowledgements are there (as the ZeroMQ ROUTER's): what it is handed
 * after the first pass came from a doorbell or an acknowledgement, never from the interval. */
static int fake_descriptor(void *tp, bool *ready)
{
    *ready = false;
    return ((fake_transport *)tp)->ack_fd;
}

static const msgw_transport_ops fake_patient_ops = FAKE_OPS(3600000, fake_descriptor);
static const msgw_transport_ops *const patient_table[] = {&fake_patient_ops, NULL};

typedef struct fx {
    char dir[64], address[128];
    msgw_store *s;
    msgw_department dept[2];
    msgw_config cfg;
    msgw_metrics *metrics;
    msgw_doorbell *bell;
    msgw_transport_env env;
    msgw_errors e;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/msgw-transports-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->address, sizeof f->address, "sqlite:%s/msgw.db", f->dir);
    msgw_errors_init(&f->e);
    f->s = msgw_store_open(f->address, 0, &f->e);
    assert_non_null(f->s);
    /* "a" is the fake transport's kind, "b" another's: the fake is never handed b's messages */
    f->dept[0] = (msgw_department){.id = "a", .deliver = MSGW_DELIVER_WEBHOOK};
    f->dept[1] = (msgw_department){.id = "b", .deliver = MSGW_DELIVER_ZMQ};
    f->cfg = (msgw_config){.departments = f->dept,
                           .ndepartments = 2,
                           .delivery_max_attempts = 1, /* a failure is dead at once */
                           .delivery_max_age_s = 86400,
                           .backoff_initial_ms = 10,
                           .backoff_max_ms = 100};
    f->metrics = msgw_metrics_new();
    f->bell = msgw_doorbell_new(1);
    f->env =
        (msgw_transport_env){.cfg = &f->cfg, .store_address = f->address, .metrics = f->metrics};
    pthread_mutex_lock(&handed.lock);
    handed.seen[0] = '\0';
    handed.calls = handed.most = 0;
    handed.room = 64;
    handed.acknowledging = false;
    handed.hold = handed.holding = false;
    pthread_mutex_unlock(&handed.lock);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    msgw_store_close(&f->s);
    msgw_doorbell_destroy(&f->bell);
    msgw_metrics_destroy(&f->metrics);
    msgw_errors_clear(&f->e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Commits one outbox message (no record caused it). */
static void queue(fx *f, const char *event_id, const char *recipient, const char *person,
                  const char *body)
{
    msgw_outbox_msg m = {event_id, recipient,    "record", "t", person,
                         body,     strlen(body), NULL,     NULL, NULL};
    msgw_store_item it = {.sender = "gateway", .outbox = &m, .noutbox = 1};
    assert_true(msgw_store_commit(f->s, &it, 1, msgw_time_now(), &f->e));
}

/* Waits (at most 20 s) until the fake transports were handed what the store shows as want. */
static bool wait_seen(const char *want)
{
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&handed.lock);
        bool done = strcmp(handed.seen, want) == 0;
        pthread_mutex_unlock(&handed.lock);
        if (done) return true;
        usleep(10000);
    }
    fprintf(stderr, "handed: '%s', expected '%s'\n", handed.seen, want);
    return false;
}

static msgw_store_stats stats_of(fx *f, const char *department)
{
    msgw_store_stats st;
    assert_true(msgw_store_stats_get(f->s, department, &st, &f->e));
    return st;
}

static bool metric_line(fx *f, const char *line)
{
    msgw_buf b;
    msgw_buf_init(&b);
    msgw_metrics_write(f->metrics, &b);
    msgw_buf_append(&b, "", 1);
    bool found = strstr(b.data, line) != NULL;
    if (!found) fprintf(stderr, "no '%s' in:\n%s", line, b.data);
    msgw_buf_free(&b);
    return found;
}

/*
 * A transport registered in a table gets a driver: it is handed its own recipients' due messages
 * only, one person's in order, no more than its room per pass; what it says is settled (delivered,
 * dead after the last attempt) and reported; the doorbell brings the next commit at once.
 */
static void test_driver_delivers(void **state)
{
    fx *f = *state;
    queue(f, "e1", "a", "P1", "ok");
    queue(f, "e2", "a", "P1", "ok");   /* P1's second: only after e1 */
    queue(f, "e3", "a", "P2", "fail"); /* dead: one attempt allowed */
    queue(f, "e4", "b", "P3", "ok");   /* another transport's recipient */
    handed.room = 1;
    msgw_deliverers *s = msgw_deliverers_start(transport_table, &f->env, f->bell, &f->e);
    assert_non_null(s);
    assert_int_equal(msgw_deliverers_count(s), 1);
    assert_ptr_equal(msgw_deliverers_ops(s, 0), &fake_ops);
    assert_null(msgw_deliverers_endpoint(s, 0));
    assert_true(wait_seen("e1 e2 e3"));
    queue(f, "e5", "a", "P4", "ok");
    msgw_doorbell_ring(f->bell);
    assert_true(wait_seen("e1 e2 e3 e5"));
    msgw_deliverers_stop(&s); /* what the last pass decided is settled */
    assert_null(s);
    assert_int_equal(handed.most, 1); /* never more than its room */
    msgw_store_stats a = stats_of(f, "a"), b = stats_of(f, "b");
    assert_int_equal(a.delivered, 3);
    assert_int_equal(a.dead, 1);
    assert_int_equal(a.pending, 0);
    assert_int_equal(b.pending, 1);
    assert_true(metric_line(
        f, "msgw_deliveries_total{recipient=\"a\",transport=\"fake\",outcome=\"delivered\"} 3"));
    assert_true(metric_line(
        f, "msgw_deliveries_total{recipient=\"a\",transport=\"fake\",outcome=\"dead\"} 1"));
    msgw_arena *ar = msgw_arena_new(0);
    msgw_outbox_rows dead;
    assert_true(msgw_store_dead_letters(f->s, 10, ar, &dead, &f->e));
    assert_int_equal(dead.n, 1);
    assert_string_equal(dead.v[0].event_id, "e3");
    assert_string_equal(dead.v[0].last_error, "HTTP 503");
    msgw_arena_destroy(&ar);
}

/* Sends that wait for their acknowledgement are settled in flight, then delivered when the
 * transport reads the acknowledgements, by the message it holds or by event id alone; the
 * statistics count them. */
static void test_driver_acknowledged(void **state)
{
    fx *f = *state;
    handed.acknowledging = true;
    queue(f, "k1", "a", "P1", "ok");
    queue(f, "k2", "a", "P2", "ok");
    queue(f, "k3", "a", "P1", "ok"); /* P1's second: after k1's acknowledgement */
    msgw_deliverers *s = msgw_deliverers_start(transport_table, &f->env, NULL, &f->e);
    assert_non_null(s);
    assert_true(wait_seen("k1 k2 k3"));
    for (int i = 0; i < 500 && stats_of(f, "a").delivered < 3; i++)
        usleep(10000);
    json_t *st = msgw_deliverers_stats(s);
    msgw_deliverers_stop(&s);
    msgw_store_stats a = stats_of(f, "a");
    assert_int_equal(a.delivered, 3);
    assert_int_equal(a.pending, 0);
    json_t *x = json_array_get(st, 0);
    assert_string_equal(json_string_value(json_object_get(x, "name")), "fake");
    assert_int_equal(json_integer_value(json_object_get(x, "sent")), 3);
    assert_int_equal(json_integer_value(json_object_get(x, "delivered")), 3);
    assert_int_equal(json_integer_value(json_object_get(x, "store_failures")), 0);
    assert_null(json_object_get(x, "endpoint"));
    assert_string_equal(json_string_value(json_object_get(x, "own")), "yes");
    json_decref(st);
}

/* A person's next message is claimed as soon as the acknowledgement of the one before ends it,
 * not at the transport's next idle look at the store (an hour here): that wait was the p99 of the
 * notices at a low rate, a person's second notice waiting out ZeroMQ's 20 ms interval. */
static void test_driver_next_after_acknowledgement(void **state)
{
    fx *f = *state;
    handed.acknowledging = true;
    queue(f, "m1", "a", "P1", "ok");
    queue(f, "m2", "a", "P1", "ok");
    queue(f, "m3", "a", "P1", "ok");
    msgw_deliverers *s = msgw_deliverers_start(patient_table, &f->env, f->bell, &f->e); /* rung to stop */
    assert_non_null(s);
    assert_true(wait_seen("m1 m2 m3")); /* each after the one before was acknowledged */
    for (int i = 0; i < 500 && stats_of(f, "a").delivered < 3; i++)
        usleep(10000);
    msgw_deliverers_stop(&s);
    assert_int_equal(stats_of(f, "a").delivered, 3);
}

/* A settlement the store refuses (another connection holds its write lock past the busy timeout)
 * is counted and logged, not dropped: the message comes due again, is handed over again and
 * settled once the store takes writes again, which is logged too. */
static void test_driver_settlement_refused(void **state)
{
    fx *f = *state;
    char path[128], line[4096];
    snprintf(path, sizeof path, "%s/msgw.db", f->dir);
    queue(f, "r1", "a", "P1", "ok");
    FILE *log = tmpfile();
    msgw_log_setup(log, MSGW_LOG_INFO);
    handed.hold = true; /* the driver is handed r1 and waits while the store is locked */
    msgw_deliverers *s = msgw_deliverers_start(transport_table, &f->env, NULL, &f->e);
    assert_non_null(s);
    pthread_mutex_lock(&handed.lock);
    while (!handed.holding)
        pthread_cond_wait(&handed.changed, &handed.lock);
    pthread_mutex_unlock(&handed.lock);
    sqlite3 *lock;
    assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
    assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    pthread_mutex_lock(&handed.lock);
    handed.hold = false;
    pthread_cond_broadcast(&handed.changed);
    pthread_mutex_unlock(&handed.lock);
    bool counted = false; /* after the busy timeout (5 s) */
    for (int i = 0; i < 1500 && !counted; i++) {
        json_t *st = msgw_deliverers_stats(s);
        counted = json_integer_value(json_object_get(json_array_get(st, 0), "store_failures")) > 0;
        json_decref(st);
        if (!counted) usleep(10000);
    }
    assert_true(counted);
    assert_true(metric_line(f, "msgw_failures_total{component=\"store\"} "));
    assert_int_equal(stats_of(f, "a").delivered, 0);
    assert_int_equal(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(lock);
    for (int i = 0; i < 1000 && stats_of(f, "a").delivered < 1; i++)
        usleep(10000);
    msgw_deliverers_stop(&s);
    msgw_log_setup(stderr, MSGW_LOG_INFO);
    assert_int_equal(stats_of(f, "a").delivered, 1);
    pthread_mutex_lock(&handed.lock);
    assert_true(strncmp(handed.seen, "r1 r1", 5) == 0); /* handed over again: at least once */
    pthread_mutex_unlock(&handed.lock);
    rewind(log);
    int failed = 0, again = 0;
    while (fgets(line, sizeof line, log)) {
        failed += strstr(line, "\"msg\":\"delivery outcomes could not be settled") != NULL &&
                  strstr(line, "\"transport\":\"fake\"") != NULL;
        again += strstr(line, "\"msg\":\"the store takes the deliverer's outcomes again\"") != NULL;
    }
    fclose(log);
    assert_int_equal(failed, 1); /* when it began, not at every pass */
    assert_int_equal(again, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registries),
        cmocka_unit_test(test_listeners_from_a_table),
        cmocka_unit_test_setup_teardown(test_driver_delivers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_acknowledged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_next_after_acknowledgement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_settlement_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
