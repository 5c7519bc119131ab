/*
 * The SQLite store through its interface, on real files: batches commit
 * atomically, replays are answered from the store, the outbox keeps each
 * person's order, retries and dead letters, batched settlement (in flight,
 * acknowledged, late acknowledgements) through a deliverer's own
 * connection, a writer killed with SIGKILL loses no acknowledged record,
 * retention gives the file's space back, a store made before schema versions
 * opens as version 1 and one newer than this build is refused, and the admin
 * API's presentation of the transition log and a person
 * (gateway/admin/present.c).  What every
 * backend must do is test_store_conformance.c.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "msgw/admin/present.h"
#include "msgw/store/query.h"
#include "msgw/store/store.h"
#include "testutil.h"

typedef struct fx {
    char dir[64], path[128];
    msgw_store *s;
    msgw_batch *b; /* records from tests/data/canonical/roster.json */
    char *doc;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/msgw-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/store.db", f->dir);
    msgw_errors e;
    msgw_errors_init(&e);
    f->s = msgw_store_open(f->path, 0, &e);
    assert_non_null(f->s);
    msgw_errors_clear(&e);
    size_t len;
    f->doc = tu_read_file("tests/data/canonical/roster.json", &len);
    f->b = tu_decode("canonical", NULL, f->doc, len);
    assert_non_null(f->b->items[0].record);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    msgw_store_close(&f->s);
    msgw_batch_destroy(&f->b);
    free(f->doc);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static msgw_record *record_with_id(fx *f, const char *id)
{
    msgw_record *r = msgw_arena_alloc(f->b->arena, sizeof *r);
    *r = *f->b->items[0].record;
    r->message_id = msgw_arena_strdup(f->b->arena, id);
    return r;
}

static void stats(fx *f, msgw_store_stats *st)
{
    msgw_errors e;
    msgw_errors_init(&e);
    assert_true(msgw_store_stats_get(f->s, NULL, st, &e));
    msgw_errors_clear(&e);
}

static void test_commit_and_replay(void **state)
{
    fx *f = *state;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_outbox_msg m = {"ev-1", "cdpf", "record", "application/xml", "120101195603070027",
                         "<x/>", 4,      "mca:A", NULL, NULL};
    msgw_store_item items[2] = {
        {.record = record_with_id(f, "mca:A"), .sender = "mca", .outbox = &m, .noutbox = 1},
        {.record = record_with_id(f, "mca:B"), .sender = "mca"}};
    assert_true(msgw_store_commit(f->s, items, 2, 1000, &e));
    assert_false(items[0].duplicate);
    assert_true(items[1].seq > items[0].seq);
    msgw_store_stats st;
    stats(f, &st);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.facts, 4); /* two facts per record */
    assert_int_equal(st.pending, 1);
    /* pushing the same record again: the original outcome, nothing new */
    int64_t first = items[0].seq;
    msgw_store_item again = {
        .record = record_with_id(f, "mca:A"), .sender = "mca", .outbox = &m, .noutbox = 1};
    assert_true(msgw_store_commit(f->s, &again, 1, 2000, &e));
    assert_true(again.duplicate);
    assert_int_equal(again.seq, first);
    assert_int_equal(again.recorded_at, 1000);
    stats(f, &st);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.pending, 1);
    msgw_store_deliveries d = {0};
    assert_true(msgw_store_due(f->s, "cdpf", 3000, 10, &d, &e));
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].cause, "mca:A"); /* what caused it travels with it */
    msgw_store_deliveries_clear(&d);
    msgw_errors_clear(&e);
}

static void test_batch_is_atomic(void **state)
{
    fx *f = *state;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_outbox_msg bad = {"ev-x", NULL, "record", "application/xml",
                           "p",    "x",  1,        NULL, NULL, NULL}; /* no recipient */
    msgw_store_item items[2] = {
        {.record = record_with_id(f, "mca:C"), .sender = "mca"},
        {.record = record_with_id(f, "mca:D"), .sender = "mca", .outbox = &bad, .noutbox = 1}};
    assert_false(msgw_store_commit(f->s, items, 2, 1000, &e));
    assert_true(tu_has_error(&(msgw_batch){.errors = e}, "store.sqlite", NULL));
    msgw_store_stats st;
    stats(f, &st);
    assert_int_equal(st.records, 0); /* neither record: all or nothing */
    msgw_errors_clear(&e);
}

static void test_outbox_order_retry_dead(void **state)
{
    fx *f = *state;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_outbox_msg m[3] = {{"e1", "mca", "eligibility", "t", "P", "1", 1, NULL, NULL, NULL},
                            {"e2", "mca", "eligibility", "t", "P", "2", 1, NULL, NULL, NULL},
                            {"e3", "mca", "eligibility", "t", "Q", "3", 1, NULL, NULL, NULL}};
    msgw_store_item it = {
        .record = record_with_id(f, "x:1"), .sender = "x", .outbox = m, .noutbox = 3};
    assert_true(msgw_store_commit(f->s, &it, 1, 100, &e));
    msgw_store_deliveries d = {0};
    assert_true(msgw_store_due(f->s, "mca", 100, 10, &d, &e));
    assert_int_equal(d.n, 2); /* P's first and Q's: P's second waits for P's first */
    assert_string_equal(d.v[0].event_id, "e1");
    assert_string_equal(d.v[1].event_id, "e3");
    int64_t e1 = d.v[0].id, e3 = d.v[1].id;
    msgw_store_deliveries_clear(&d);
    /* e1 fails: retried later, and P's order holds meanwhile */
    assert_true(msgw_store_retry(f->s, e1, 500, "HTTP 503", &e));
    assert_true(msgw_store_due(f->s, "mca", 200, 10, &d, &e));
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].event_id, "e3");
    msgw_store_deliveries_clear(&d);
    assert_true(msgw_store_delivered(f->s, e3, 200, &e));
    assert_false(msgw_store_delivered(f->s, e3, 201, &e)); /* not twice */
    assert_true(msgw_store_due(f->s, "mca", 500, 10, &d, &e));
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].event_id, "e1");
    assert_int_equal(d.v[0].attempts, 1);
    msgw_store_deliveries_clear(&d);
    /* given up: dead-lettered, and P's next message moves up */
    assert_true(msgw_store_dead_letter(f->s, e1, "10 attempts", &e));
    assert_true(msgw_store_due(f->s, NULL, 500, 10, &d, &e));
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].event_id, "e2");
    assert_memory_equal(d.v[0].body, "2", 1);
    msgw_store_deliveries_clear(&d);
    msgw_store_stats st;
    stats(f, &st);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.pending, 1);
    msgw_arena *a = msgw_arena_new(0); /* the dashboard's queue figures agree */
    msgw_queue_rows q;
    assert_true(msgw_store_queues(f->s, a, &q, &e));
    assert_int_equal(q.n, 1);
    const msgw_queue_row *mca = &q.v[0];
    assert_string_equal(mca->recipient, "mca");
    assert_int_equal(mca->pending, 1);
    assert_int_equal(mca->dead, 1);
    assert_int_equal(mca->oldest_pending, 100);
    msgw_arena_destroy(&a);
    /* the same event id twice for one recipient is stored once */
    msgw_store_item dup = {
        .record = record_with_id(f, "x:2"), .sender = "x", .outbox = m, .noutbox = 1};
    assert_true(msgw_store_commit(f->s, &dup, 1, 600, &e));
    stats(f, &st);
    assert_int_equal(st.pending + st.delivered + st.dead, 3);
    msgw_errors_clear(&e);
}

/* Finds the due delivery with this event id in d, or NULL. */
static const msgw_delivery *find_due(const msgw_store_deliveries *d, const char *event_id)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].event_id, event_id) == 0) return &d->v[i];
    return NULL;
}

/*
 * The deliverers' bookkeeping: one query fetches what is due for several
 * recipients, each up to its own limit; many outcomes are settled in one
 * transaction; a message in flight is not due again (nor the person's next
 * one) until its acknowledgement times out; an acknowledgement may name the
 * event instead of the row; a late or repeated one is skipped, not an error.
 */
static void test_settle_batch(void **state)
{
    fx *f = *state;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_outbox_msg m[7] = {{"a1", "mca", "record", "t", "P", "1", 1, "x:1", NULL, NULL},
                            {"a2", "mca", "record", "t", "P", "2", 1, "x:1", NULL, NULL},
                            {"a3", "mca", "record", "t", "Q", "3", 1, "x:1", NULL, NULL},
                            {"a4", "mca", "record", "t", "R", "4", 1, "x:1", NULL, NULL},
                            {"b1", "hrss", "record", "t", "P", "5", 1, "x:1", NULL, NULL},
                            {"b2", "hrss", "record", "t", "S", "6", 1, "x:1", NULL, NULL},
                            {"c1", "cdpf", "record", "t", "P", "7", 1, "x:1", NULL, NULL}};
    msgw_store_item it = {
        .record = record_with_id(f, "x:1"), .sender = "x", .outbox = m, .noutbox = 7};
    assert_true(msgw_store_commit(f->s, &it, 1, 100, &e));
    msgw_store *dl =
        msgw_store_open(f->path, MSGW_STORE_DELIVERY, &e); /* a deliverer's own connection */
    assert_non_null(dl);

    /* one query, two recipients, each up to its own limit; cdpf is not asked for */
    const char *who[2] = {"mca", "hrss"};
    size_t max[2] = {2, 10};
    msgw_store_deliveries d = {0};
    assert_true(msgw_store_due_among(dl, who, max, 2, 100, &d, &e));
    assert_int_equal(d.n, 4); /* mca: a1, a3 (its limit); hrss: b1, b2 */
    assert_non_null(find_due(&d, "a1"));
    assert_non_null(find_due(&d, "a3"));
    assert_null(find_due(&d, "a2")); /* P's second waits for P's first */
    assert_null(find_due(&d, "a4")); /* beyond mca's limit */
    assert_non_null(find_due(&d, "b1"));
    assert_non_null(find_due(&d, "b2"));
    assert_null(find_due(&d, "c1"));
    assert_string_equal(find_due(&d, "b1")->cause, "x:1");
    int64_t a1 = find_due(&d, "a1")->id, a3 = find_due(&d, "a3")->id, b1 = find_due(&d, "b1")->id,
            b2 = find_due(&d, "b2")->id;
    msgw_store_deliveries_clear(&d);

    /* all outcomes of a pass in one transaction */
    msgw_settlement v[4] = {
        {.id = a1, .outcome = MSGW_SETTLE_INFLIGHT, .next_at = 1000},
        {.id = a3, .outcome = MSGW_SETTLE_DELIVERED, .attempt = true},
        {.id = b1,
         .outcome = MSGW_SETTLE_RETRY,
         .attempt = true,
         .next_at = 500,
         .error = "HTTP 503"},
        {.id = b2, .outcome = MSGW_SETTLE_DEAD, .attempt = true, .error = "no acknowledgement"},
    };
    assert_true(msgw_store_settle(dl, v, 4, 200, &e));
    for (int i = 0; i < 4; i++)
        assert_true(v[i].applied);
    msgw_store_stats st;
    stats(f, &st); /* the main connection sees the deliverer's marks */
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.pending, 5);

    /* a1 is in flight: neither it nor P's a2 is due before the ack timeout; R's a4 is */
    assert_true(msgw_store_due_among(dl, who, max, 2, 600, &d, &e));
    assert_int_equal(d.n, 2);
    assert_non_null(find_due(&d, "a4"));
    assert_non_null(find_due(&d, "b1")); /* its retry time has come */
    assert_int_equal(find_due(&d, "b1")->attempts, 1);
    msgw_store_deliveries_clear(&d);

    /* the ack timed out: a1 is due again, its attempt counted */
    assert_true(msgw_store_due_among(dl, who, max, 2, 1000, &d, &e));
    assert_non_null(find_due(&d, "a1"));
    assert_int_equal(find_due(&d, "a1")->attempts, 1);
    msgw_store_deliveries_clear(&d);

    /* sent again, then acknowledged by event id: delivered, the attempt not counted twice */
    msgw_settlement again = {.id = a1, .outcome = MSGW_SETTLE_INFLIGHT, .next_at = 5000};
    assert_true(msgw_store_settle(dl, &again, 1, 1000, &e));
    msgw_settlement ack[3] = {
        {.recipient = "mca", .event_id = "a1", .outcome = MSGW_SETTLE_DELIVERED},
        {.recipient = "mca", .event_id = "a1", .outcome = MSGW_SETTLE_DELIVERED}, /* repeated */
        {.recipient = "mca",
         .event_id = "nope",
         .outcome = MSGW_SETTLE_DELIVERED}, /* never queued */
    };
    assert_true(msgw_store_settle(dl, ack, 3, 1100, &e));
    assert_true(ack[0].applied);
    assert_false(ack[1].applied);
    assert_false(ack[2].applied);
    assert_int_equal(e.nerrors, 0); /* late and repeated acknowledgements are not errors */
    /* P's second message moves up, and the single-message forms still refuse a settled one */
    assert_true(msgw_store_due(dl, "mca", 1100, 10, &d, &e));
    assert_non_null(find_due(&d, "a2"));
    msgw_store_deliveries_clear(&d);
    assert_false(msgw_store_delivered(dl, a1, 1200, &e));
    assert_true(tu_has_error(&(msgw_batch){.errors = e}, "store.delivery", NULL));
    msgw_errors_clear(&e);
    msgw_errors_init(&e);
    msgw_store_close(&dl);

    /* what the deliverer wrote is in the file: attempts and states as settled */
    msgw_store_close(&f->s);
    f->s = msgw_store_open(f->path, 0, &e);
    assert_non_null(f->s);
    stats(f, &st);
    assert_int_equal(st.delivered, 2);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.pending, 4); /* a2, a4, b1, c1 */
    assert_true(msgw_store_due(f->s, "hrss", 10000, 10, &d, &e));
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].event_id, "b1");
    msgw_store_deliveries_clear(&d);
    msgw_errors_clear(&e);
}

/* An empty settlement list or recipient list is nothing to do, not an error. */
static void test_settle_nothing(void **state)
{
    fx *f = *state;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_store_deliveries d = {0};
    assert_true(msgw_store_settle(f->s, NULL, 0, 1, &e));
    assert_true(msgw_store_due_among(f->s, NULL, NULL, 0, 1, &d, &e));
    assert_int_equal(d.n, 0);
    msgw_store_deliveries_clear(&d);
    assert_int_equal(e.nerrors, 0);
    msgw_errors_clear(&e);
}

/*
 * A child commits records one by one, writing each acknowledged message id
 * to a pipe; it is killed with SIGKILL mid-stream.  Every id it acknowledged
 * must be in the store exactly once.
 */
static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void reopen(fx *f)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_store_close(&f->s); /* the last connection: the WAL is checkpointed into the file */
    f->s = msgw_store_open(f->path, 0, &e);
    assert_non_null(f->s);
    msgw_errors_clear(&e);
}

/* Retention: delivered messages past it are removed, and the file really shrinks; records stay. */
static void test_retention_returns_space(void **state)
{
    fx *f = *state;
    enum { N = 2000, BODY = 2048 };
    msgw_errors e;
    msgw_errors_init(&e);
    char *body = malloc(BODY), (*ev)[16] = calloc(N, 16);
    memset(body, 'x', BODY);
    msgw_outbox_msg *m = calloc(N, sizeof *m);
    msgw_store_item *it = calloc(N, sizeof *it);
    msgw_settlement *v = calloc(N, sizeof *v);
    for (int i = 0; i < N; i++) {
        snprintf(ev[i], 16, "ev%d", i);
        m[i] = (msgw_outbox_msg){ev[i], "mca", "record", "t", ev[i], body, BODY, NULL, NULL, NULL};
        it[i] = (msgw_store_item){.record = record_with_id(f, msgw_arena_printf(f->b->arena, "r:%d", i)),
                                  .sender = "x", .outbox = &m[i], .noutbox = 1};
    }
    assert_true(msgw_store_commit(f->s, it, N, 1000, &e));
    for (int i = 0; i < N; i++) v[i] = (msgw_settlement){.id = i + 1, .outcome = MSGW_SETTLE_DELIVERED, .attempt = true};
    assert_true(msgw_store_settle(f->s, v, N, 2000, &e));
    reopen(f);
    long before = file_size(f->path);
    int64_t removed = -1;
    assert_true(msgw_store_prune(f->s, &(msgw_store_retention){.delivered_before = 1500}, &removed, &e)); /* delivered at 2000: kept */
    assert_int_equal(removed, 0);
    assert_true(msgw_store_prune(f->s, &(msgw_store_retention){.delivered_before = 3000}, &removed, &e));
    assert_int_equal(removed, N);
    reopen(f);
    long after = file_size(f->path);
    assert_true(before > 0 && after > 0);
    assert_true(before - after > (long)N * BODY / 2); /* the bodies' pages went back to the file system */
    msgw_store_stats st;
    stats(f, &st);
    assert_int_equal(st.records, N);   /* the gateway's memory stays */
    assert_int_equal(st.delivered, 0);
    free(body);
    free(ev);
    free(m);
    free(it);
    free(v);
    msgw_errors_clear(&e);
}

/* The transition log as the admin API shows it (gateway/admin/present.c): filtered by service,
 * district (a prefix of either region) and person, newest first, ID numbers masked; a person's
 * page; retention prunes it. */
static void test_transition_log(void **state)
{
    fx *f = *state;
    msgw_errors e;
    msgw_errors_init(&e);
    const char *p1 = "120104195001011234", *p2 = "130982196002022345";
    msgw_store_verdict v1[] = {
        {.person = p1, .service = "S1", .eligible = true, .since = 20000, .amount = 12345, .kind = "new",
         .hukou_region = "120104", .residence_region = "120104", .explanation = "NEW because of " "120104195001011234"},
        {.person = p2, .service = "S2", .eligible = true, .since = 20000, .amount = INT64_MIN, .kind = "new",
         .hukou_region = "131082", .residence_region = "120101", .explanation = "x"}};
    msgw_store_verdict v2[] = {{.person = p1, .service = "S1", .eligible = false, .since = MSGW_DATE_NONE,
                                .amount = INT64_MIN, .kind = "lost", .hukou_region = "120104", .explanation = "y"}};
    msgw_store_item it[] = {{.record = record_with_id(f, "t:1"), .sender = "mca", .verdicts = v1, .nverdicts = 2},
                            {.sender = "gateway", .verdicts = v2, .nverdicts = 1}};
    assert_true(msgw_store_commit(f->s, &it[0], 1, 1000000, &e));
    assert_true(msgw_store_commit(f->s, &it[1], 1, 5000000, &e));
    json_t *out = NULL;
    assert_true(msgw_present_transitions(f->s, &(msgw_transition_filter){.max = 10}, &out, &e));
    assert_int_equal(json_array_size(out), 3);
    json_t *first = json_array_get(out, 0); /* newest first: the LOST */
    assert_string_equal(json_string_value(json_object_get(first, "kind")), "lost");
    assert_true(json_is_false(json_object_get(first, "eligible")));
    assert_true(json_is_null(json_object_get(first, "cause")));
    assert_string_equal(json_string_value(json_object_get(first, "at")), "1970-01-01T00:00:05.000Z");
    json_t *last = json_array_get(out, 2);
    assert_string_equal(json_string_value(json_object_get(last, "person")), "120104********1234");
    assert_string_equal(json_string_value(json_object_get(last, "cause")), "t:1");
    assert_int_equal(json_integer_value(json_object_get(last, "amount")), 12345);
    assert_null(strstr(json_string_value(json_object_get(last, "explanation")), p1)); /* scrubbed */
    json_decref(out);
    assert_true(msgw_present_transitions(
        f->s, &(msgw_transition_filter){.service = "S2", .max = 10}, &out, &e));
    assert_int_equal(json_array_size(out), 1);
    json_decref(out);
    /* a residence in Tianjin matches district 12 as well as a Tianjin hukou */
    assert_true(msgw_present_transitions(
        f->s, &(msgw_transition_filter){.district = "1201", .max = 10}, &out, &e));
    assert_int_equal(json_array_size(out), 3);
    json_decref(out);
    assert_true(msgw_present_transitions(
        f->s, &(msgw_transition_filter){.district = "1310", .max = 10}, &out, &e));
    assert_int_equal(json_array_size(out), 1);
    json_decref(out);
    assert_true(msgw_present_person(f->s, p1, &out, &e));
    assert_non_null(out);
    assert_string_equal(json_string_value(json_object_get(out, "person")), "120104********1234");
    assert_int_equal(json_array_size(json_object_get(out, "transitions")), 2);
    assert_int_equal(json_array_size(json_object_get(out, "verdicts")), 1);
    json_t *vv = json_array_get(json_object_get(out, "verdicts"), 0);
    assert_true(json_is_false(json_object_get(vv, "eligible")));
    char *dump = json_dumps(out, 0);
    assert_null(strstr(dump, p1));
    free(dump);
    json_decref(out);
    assert_true(msgw_present_person(f->s, "110101199001010000", &out, &e));
    assert_null(out); /* unknown */
    int64_t removed = 0;
    assert_true(msgw_store_prune(f->s, &(msgw_store_retention){.transitions_before = 2000000}, &removed, &e));
    assert_int_equal(removed, 2);
    assert_true(msgw_present_transitions(f->s, &(msgw_transition_filter){.max = 10}, &out, &e));
    assert_int_equal(json_array_size(out), 1);
    json_decref(out);
    msgw_errors_clear(&e);
}

static bool none_live(void *ud, const char *message_id)
{
    (void)ud;
    return strcmp(message_id, "p:live") == 0;
}

/* Retention of records: old records the state no longer needs go with their facts; one an outbox
 * message still refers to, one the state needs and a recent one stay; a verdict loses its link. */
static void test_prune_records(void **state)
{
    fx *f = *state;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_outbox_msg m = {"ev", "mca", "record", "t", "P", "x", 1, NULL, NULL, NULL};
    msgw_store_verdict v = {.person = "120101195603070027", .service = "S", .eligible = true, .since = 100,
                            .amount = INT64_MIN};
    msgw_store_item it[] = {{.record = record_with_id(f, "p:old"), .sender = "mca", .verdicts = &v, .nverdicts = 1},
                            {.record = record_with_id(f, "p:referred"), .sender = "mca", .outbox = &m, .noutbox = 1},
                            {.record = record_with_id(f, "p:live"), .sender = "mca"}};
    assert_true(msgw_store_commit(f->s, it, 3, 1000, &e));
    msgw_store_item recent = {.record = record_with_id(f, "p:recent"), .sender = "mca"};
    assert_true(msgw_store_commit(f->s, &recent, 1, 9000, &e));
    int64_t removed = -1;
    assert_true(msgw_store_prune_records(f->s, 5000, none_live, NULL, &removed, &e));
    assert_int_equal(removed, 1);
    assert_int_equal(msgw_store_known(f->s, "p:old", NULL, NULL, &e), 0);
    assert_int_equal(msgw_store_known(f->s, "p:referred", NULL, NULL, &e), 1);
    assert_int_equal(msgw_store_known(f->s, "p:live", NULL, NULL, &e), 1);
    assert_int_equal(msgw_store_known(f->s, "p:recent", NULL, NULL, &e), 1);
    msgw_store_stats st;
    stats(f, &st);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.facts, 3 * (int64_t)f->b->items[0].record->nfacts); /* the old one's went too */
    int64_t swept = 0;
    assert_false(msgw_store_meta_get(f->s, "swept", &swept, &e)); /* never set */
    assert_true(msgw_store_meta_set(f->s, "swept", 20000, &e));
    assert_true(msgw_store_meta_get(f->s, "swept", &swept, &e));
    assert_int_equal(swept, 20000);
    assert_int_equal(e.n, 0);
    msgw_errors_clear(&e);
}

/* Addresses: "sqlite:PATH" and a plain PATH open the same SQLite file; an unknown scheme and an
 * empty address are refused, naming the address; the daemon's default is msgw.db in its data
 * directory. */
static void test_address(void **state)
{
    fx *f = *state;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_store_item it = {.record = record_with_id(f, "a:1"), .sender = "mca"};
    assert_true(msgw_store_commit(f->s, &it, 1, 100, &e));
    char address[256];
    snprintf(address, sizeof address, "sqlite:%s", f->path);
    msgw_store *s = msgw_store_open(address, MSGW_STORE_DELIVERY, &e);
    assert_non_null(s);
    assert_string_equal(msgw_store_backend_name(s), "sqlite");
    assert_int_equal(msgw_store_known(s, "a:1", NULL, NULL, &e), 1);
    msgw_store_close(&s);
    assert_null(s);
    assert_null(msgw_store_open("mysql://localhost/msgw", 0, &e));
    assert_true(tu_has_error(&(msgw_batch){.errors = e}, "store.address", NULL));
    assert_string_equal(e.v[0].location, "mysql://localhost/msgw");
    msgw_errors_clear(&e);
    /* a server that cannot be reached is an error naming the address, never its password */
    msgw_errors_init(&e);
    assert_null(msgw_store_open("postgres://msgw:secret@127.0.0.1:1/msgw", 0, &e));
    assert_true(tu_has_error(&(msgw_batch){.errors = e}, "store.open", NULL));
    assert_string_equal(e.v[0].location, "postgresql://msgw:***@127.0.0.1:1/msgw");
    msgw_errors_clear(&e);
    msgw_errors_init(&e);
    assert_null(msgw_store_open("", 0, &e));
    assert_true(tu_has_error(&(msgw_batch){.errors = e}, "store.address", NULL));
    msgw_errors_clear(&e);
    msgw_errors_init(&e);
    assert_true(msgw_store_address(NULL, "/var/lib/msgw", address, sizeof address, &e));
    assert_string_equal(address, "sqlite:/var/lib/msgw/msgw.db");
    assert_true(msgw_store_address("sqlite:/x.db", "/var/lib/msgw", address, sizeof address, &e));
    assert_string_equal(address, "sqlite:/x.db");
    assert_false(msgw_store_address(NULL, "/var/lib/msgw", address, 8, &e));
    assert_true(tu_has_error(&(msgw_batch){.errors = e}, "store.address", NULL));
    msgw_errors_clear(&e);
}

/* Runs sql on the store's file beside the gateway's connection (what an older gateway, or a newer
 * one, would have left). */
static void sql_on_file(fx *f, const char *sql)
{
    sqlite3 *db;
    char *err = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", sql, err);
    sqlite3_close(db);
}

/* Schema versions: a new store is at this build's version; a store made before versions (its
 * tables, no schema_version) is version 1 and opens; one recorded as newer is refused, naming
 * both versions; opened as it is, an empty file is version 0 until migrated. */
static void test_schema_versions(void **state)
{
    fx *f = *state;
    msgw_errors e;
    msgw_errors_init(&e);
    int known = 0;
    assert_int_equal(msgw_store_schema_version(f->s, &known, &e), 2);
    assert_int_equal(known, 2);
    msgw_store_item it = {.record = record_with_id(f, "v:1"), .sender = "mca"};
    assert_true(msgw_store_commit(f->s, &it, 1, 100, &e));
    msgw_store_close(&f->s);

    /* as the gateway made it before versions: version 1's tables, no schema_version */
    sql_on_file(f, "DROP TABLE schema_version; DROP INDEX outbox_record; DROP INDEX outbox_notices; "
                   "ALTER TABLE outbox DROP COLUMN basis");
    assert_non_null(f->s = msgw_store_open(f->path, MSGW_STORE_AS_IS, &e));
    assert_int_equal(msgw_store_schema_version(f->s, NULL, &e), 1);
    int before = -1, after = -1;
    assert_true(msgw_store_migrate(f->s, &before, &after, &e));
    assert_int_equal(before, 1);
    assert_int_equal(after, 2); /* step 2 (0002_disclosure.sql) applied to version 1's tables */
    msgw_store_close(&f->s);
    assert_non_null(f->s = msgw_store_open(f->path, 0, &e));
    assert_int_equal(msgw_store_known(f->s, "v:1", NULL, NULL, &e), 1); /* its record kept */
    msgw_store_close(&f->s);

    sql_on_file(f, "DROP TABLE IF EXISTS schema_version; CREATE TABLE schema_version(version INTEGER PRIMARY "
                   "KEY, applied_at INTEGER NOT NULL); INSERT INTO schema_version VALUES (1, 0), (7, 0)");
    assert_null(msgw_store_open(f->path, MSGW_STORE_DELIVERY, &e));
    assert_true(tu_has_error(&(msgw_batch){.errors = e}, "store.schema_newer", NULL));
    assert_non_null(strstr(e.v[0].message, "version 7"));
    assert_non_null(strstr(e.v[0].message, "version 2"));
    msgw_errors_clear(&e);

    msgw_errors_init(&e);
    char fresh[160];
    snprintf(fresh, sizeof fresh, "sqlite:%s/fresh.db", f->dir);
    msgw_store *s = msgw_store_open(fresh, MSGW_STORE_AS_IS, &e);
    assert_non_null(s);
    assert_int_equal(msgw_store_schema_version(s, NULL, &e), 0);
    assert_true(msgw_store_migrate(s, &before, &after, &e));
    assert_int_equal(before, 0);
    assert_int_equal(after, 2);
    assert_int_equal(msgw_store_schema_version(s, NULL, &e), 2);
    msgw_store_close(&s);
    assert_int_equal(e.n, 0);
    msgw_errors_clear(&e);
}

static void test_kill_9_loses_nothing_acknowledged(void **state)
{
    fx *f = *state;
    msgw_store_close(&f->s);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        msgw_errors e;
        msgw_errors_init(&e);
        msgw_store *s = msgw_store_open(f->path, 0, &e);
        for (int i = 0;; i++) {
            char id[32];
            snprintf(id, sizeof id, "k:%d", i);
            msgw_store_item it = {.record = record_with_id(f, id), .sender = "k"};
            if (!msgw_store_commit(s, &it, 1, i, &e)) _exit(3);
            char line[40];
            int n = snprintf(line, sizeof line, "%s\n", id);
            if (write(fds[1], line, (size_t)n) != n) _exit(4);
        }
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    char line[64];
    int acked = 0;
    while (acked < 40 && fgets(line, sizeof line, in))
        acked++;
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    while (fgets(line, sizeof line, in))
        acked++; /* what it acknowledged before dying */
    fclose(in);
    msgw_errors e;
    msgw_errors_init(&e);
    f->s = msgw_store_open(f->path, 0, &e);
    assert_non_null(f->s);
    for (int i = 0; i < acked; i++) {
        char id[32];
        snprintf(id, sizeof id, "k:%d", i);
        msgw_store_item it = {.record = record_with_id(f, id), .sender = "k"};
        assert_true(msgw_store_commit(f->s, &it, 1, 99999, &e));
        if (!it.duplicate) fprintf(stderr, "acknowledged %s was lost\n", id);
        assert_true(it.duplicate);
        assert_int_equal(it.recorded_at, i);
    }
    msgw_errors_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_and_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_is_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_order_retry_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settle_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settle_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_9_loses_nothing_acknowledged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_returns_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transition_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_versions, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_ctx_free();
    return rc;
}
