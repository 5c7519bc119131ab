/*
 * What every store backend must do, through the store's interfaces only
 * (msgw/store/store.h, msgw/store/query.h): commits with their outbox in one
 * transaction, duplicates by message id, due / settle / retry / dead letter /
 * replay, one person's messages in order, verdicts and the transition log
 * written and read back, meta, retention, the trace and the other queries.
 * No file, no SQL, no presentation: a new backend runs this same binary.
 *
 * Each test opens a fresh, empty store.  The address comes from
 * MSGW_STORE_TEST_ADDRESS, in which "{test}" is replaced by a name unique to
 * the test (for example "postgresql://localhost/msgw_{test}", a database the
 * backend creates when it opens); without it, a SQLite file in a temporary
 * directory.  docs/store.md, "Adding a backend".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "msgw/store/query.h"
#include "msgw/store/store.h"
#include "testutil.h"

/* The suite's context: where the stores are made. */
static struct {
    const char *address_template; /* with "{test}" */
    char dir[64];                 /* the temporary directory of the default template */
    char default_template[128];
    unsigned serial; /* makes each test's name unique */
} suite;

typedef struct fx {
    char address[512];
    msgw_store *s;
    msgw_batch *b; /* records from tests/data/canonical/roster.json */
    char *doc;
    msgw_arena *a; /* the queries' rows */
    msgw_errors e;
} fx;

/* Person A (an assistance fact about them) and person B (an income fact) of every record. */
#define PERSON_A "120101195603070027"
#define PERSON_B "120101198807150014"

static int suite_setup(void **state)
{
    (void)state;
    suite.address_template = getenv("MSGW_STORE_TEST_ADDRESS");
    if (!suite.address_template) {
        strcpy(suite.dir, "/tmp/msgw-conformance-XXXXXX");
        if (!mkdtemp(suite.dir)) return -1;
        snprintf(suite.default_template, sizeof suite.default_template, "sqlite:%s/{test}.db",
                 suite.dir);
        suite.address_template = suite.default_template;
    }
    if (!strstr(suite.address_template, "{test}")) {
        fprintf(stderr, "MSGW_STORE_TEST_ADDRESS must contain {test}: every test needs a store of "
                        "its own\n");
        return -1;
    }
    return 0;
}

static int suite_teardown(void **state)
{
    (void)state;
    if (suite.dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", suite.dir);
        if (system(cmd) != 0) return -1;
    }
    tu_ctx_free();
    return 0;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char name[64];
    snprintf(name, sizeof name, "conformance_%ld_%u", (long)getpid(), ++suite.serial);
    const char *at = strstr(suite.address_template, "{test}");
    snprintf(f->address, sizeof f->address, "%.*s%s%s", (int)(at - suite.address_template),
             suite.address_template, name, at + strlen("{test}"));
    msgw_errors_init(&f->e);
    f->s = msgw_store_open(f->address, 0, &f->e);
    if (!f->s) tu_dump_errors(&(msgw_batch){.errors = f->e});
    assert_non_null(f->s);
    size_t len;
    f->doc = tu_read_file("tests/data/canonical/roster.json", &len);
    f->b = tu_decode("canonical", NULL, f->doc, len);
    assert_non_null(f->b->items[0].record);
    assert_int_equal(f->b->items[0].record->nfacts, 2);
    f->a = msgw_arena_new(0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    msgw_store_close(&f->s);
    assert_null(f->s);
    msgw_batch_destroy(&f->b);
    msgw_arena_destroy(&f->a);
    msgw_errors_clear(&f->e);
    free(f->doc);
    free(f);
    return 0;
}

/* A record of the roster under another message id. */
static msgw_record *record(fx *f, const char *message_id)
{
    msgw_record *r = msgw_arena_alloc(f->b->arena, sizeof *r);
    *r = *f->b->items[0].record;
    r->message_id = msgw_arena_strdup(f->b->arena, message_id);
    return r;
}

static msgw_store_stats stats(fx *f, const char *department)
{
    msgw_store_stats st;
    assert_true(msgw_store_stats_get(f->s, department, &st, &f->e));
    return st;
}

/* The due delivery with this event id in d, or NULL. */
static const msgw_delivery *find_due(const msgw_store_deliveries *d, const char *event_id)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].event_id, event_id) == 0) return &d->v[i];
    return NULL;
}

/* The event ids of what is due to recipient at now (NULL: to anyone), in order, space-separated. */
static const char *due_ids(fx *f, const char *recipient, msgw_time now, size_t max)
{
    msgw_store_deliveries d;
    assert_true(msgw_store_due(f->s, recipient, now, max, &d, &f->e));
    char *ids = msgw_arena_strdup(f->a, "");
    for (size_t i = 0; i < d.n; i++)
        ids = msgw_arena_printf(f->a, "%s%s%s", ids, i ? " " : "", d.v[i].event_id);
    msgw_store_deliveries_clear(&d);
    assert_null(d.v);
    return ids;
}

/* The id of the due delivery with this event id (it must be due). */
static int64_t due_id(fx *f, const char *recipient, msgw_time now, const char *event_id)
{
    msgw_store_deliveries d;
    assert_true(msgw_store_due(f->s, recipient, now, 100, &d, &f->e));
    const msgw_delivery *x = find_due(&d, event_id);
    assert_non_null(x);
    int64_t id = x->id;
    msgw_store_deliveries_clear(&d);
    return id;
}

static const msgw_queue_row *queue(const msgw_queue_rows *q, const char *recipient)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->v[i].recipient, recipient) == 0) return &q->v[i];
    return NULL;
}

/* ---- the address ---- */

static void test_open(void **state)
{
    fx *f = *state;
    assert_non_null(msgw_store_backend_name(f->s));
    assert_true(strlen(msgw_store_backend_name(f->s)) > 0);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_null(msgw_store_open("nosuchbackend:somewhere", 0, &e));
    assert_true(
        tu_has_error(&(msgw_batch){.errors = e}, "store.address", "nosuchbackend:somewhere"));
    msgw_errors_clear(&e);
    /* a second connection to the same store, as a deliverer opens it, sees what the first wrote */
    msgw_store_item it = {.record = record(f, "o:1"), .sender = "mca"};
    assert_true(msgw_store_commit(f->s, &it, 1, 100, &f->e));
    msgw_store *other = msgw_store_open(f->address, MSGW_STORE_DELIVERY, &f->e);
    assert_non_null(other);
    assert_int_equal(msgw_store_known(other, "o:1", NULL, NULL, &f->e), 1);
    msgw_store_close(&other);
    assert_null(other);
    assert_int_equal(f->e.n, 0);
}

/* ---- the write path ---- */

/* A batch is one transaction: records, facts and outbox messages together, or nothing. */
static void test_commit_with_outbox(void **state)
{
    fx *f = *state;
    msgw_outbox_msg m = {"ev-1", "cdpf",  "record", "application/xml", PERSON_A, "<x/>",
                         4,      "mca:A", NULL, NULL};
    msgw_store_item items[2] = {{.record = record(f, "mca:A"),
                                 .sender = "mca",
                                 .body_digest = "d1",
                                 .outbox = &m,
                                 .noutbox = 1},
                                {.record = record(f, "mca:B"), .sender = "mca"}};
    assert_true(msgw_store_commit(f->s, items, 2, 1000, &f->e));
    assert_false(items[0].duplicate);
    assert_false(items[1].duplicate);
    assert_true(items[0].seq > 0);
    assert_true(items[1].seq > items[0].seq); /* commit order */
    assert_int_equal(items[0].recorded_at, 1000);
    msgw_store_stats st = stats(f, NULL);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.facts, 4);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.oldest_pending, 1000);
    int64_t seq = 0;
    msgw_time at = 0;
    assert_int_equal(msgw_store_known(f->s, "mca:B", &seq, &at, &f->e), 1);
    assert_int_equal(seq, items[1].seq);
    assert_int_equal(at, 1000);
    assert_int_equal(msgw_store_known(f->s, "mca:C", &seq, &at, &f->e), 0);
    /* what was committed is what is due, body and all */
    msgw_store_deliveries d;
    assert_true(msgw_store_due(f->s, "cdpf", 1000, 10, &d, &f->e));
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].event_id, "ev-1");
    assert_string_equal(d.v[0].recipient, "cdpf");
    assert_string_equal(d.v[0].kind, "record");
    assert_string_equal(d.v[0].media_type, "application/xml");
    assert_string_equal(d.v[0].person, PERSON_A);
    assert_string_equal(d.v[0].cause, "mca:A");
    assert_int_equal(d.v[0].len, 4);
    assert_memory_equal(d.v[0].body, "<x/>", 4);
    assert_int_equal(d.v[0].attempts, 0);
    assert_int_equal(d.v[0].created_at, 1000);
    msgw_store_deliveries_clear(&d);
    assert_string_equal(due_ids(f, "cdpf", 999, 10), ""); /* not before it was created */

    /* a message without a recipient fails the batch: neither record is written, nor any message */
    msgw_outbox_msg bad = {"ev-x", NULL, "record", "t", "P", "x", 1, NULL, NULL, NULL};
    msgw_outbox_msg good = {"ev-y", "cdpf", "record", "t", "P", "y", 1, NULL, NULL, NULL};
    msgw_store_item failing[2] = {
        {.record = record(f, "mca:C"), .sender = "mca", .outbox = &good, .noutbox = 1},
        {.record = record(f, "mca:D"), .sender = "mca", .outbox = &bad, .noutbox = 1}};
    msgw_errors e;
    msgw_errors_init(&e);
    assert_false(msgw_store_commit(f->s, failing, 2, 2000, &e));
    assert_true(e.nerrors > 0);
    msgw_errors_clear(&e);
    st = stats(f, NULL);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.facts, 4);
    assert_int_equal(st.pending, 1);
    assert_int_equal(msgw_store_known(f->s, "mca:C", NULL, NULL, &f->e), 0);
    assert_int_equal(f->e.n, 0);
}

/* A message id stored before is a duplicate: its original outcome, nothing written again; an event
 * id queued for a recipient before is not queued twice. */
static void test_duplicates(void **state)
{
    fx *f = *state;
    msgw_outbox_msg m[2] = {{"ev-1", "mca", "record", "t", "P", "1", 1, NULL, NULL, NULL},
                            {"ev-2", "mca", "record", "t", "Q", "2", 1, NULL, NULL, NULL}};
    msgw_store_item first = {
        .record = record(f, "d:1"), .sender = "mca", .outbox = m, .noutbox = 1};
    assert_true(msgw_store_commit(f->s, &first, 1, 1000, &f->e));
    msgw_store_item again = {
        .record = record(f, "d:1"), .sender = "mca", .outbox = m, .noutbox = 2};
    assert_true(msgw_store_commit(f->s, &again, 1, 2000, &f->e));
    assert_true(again.duplicate);
    assert_int_equal(again.seq, first.seq);
    assert_int_equal(again.recorded_at, 1000);
    msgw_store_stats st = stats(f, NULL);
    assert_int_equal(st.records, 1);
    assert_int_equal(st.facts, 2);
    assert_int_equal(st.pending, 1); /* ev-2 came with the duplicate: not written */
    /* twice in one batch: the second is a duplicate of the first */
    msgw_store_item pair[2] = {{.record = record(f, "d:2"), .sender = "mca"},
                               {.record = record(f, "d:2"), .sender = "mca"}};
    assert_true(msgw_store_commit(f->s, pair, 2, 3000, &f->e));
    assert_false(pair[0].duplicate);
    assert_true(pair[1].duplicate);
    assert_int_equal(pair[1].seq, pair[0].seq);
    /* a new record that queues ev-1 to mca again: stored, its message not */
    msgw_store_item third = {
        .record = record(f, "d:3"), .sender = "mca", .outbox = m, .noutbox = 2};
    assert_true(msgw_store_commit(f->s, &third, 1, 4000, &f->e));
    st = stats(f, NULL);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.pending, 2); /* ev-1 once, ev-2 */
    assert_string_equal(due_ids(f, "mca", 5000, 10), "ev-1 ev-2");
    assert_int_equal(f->e.n, 0);
}

/* One message per (recipient, person) at a time, the oldest; retries and dead letters; replay. */
static void test_due_order_retry_dead_replay(void **state)
{
    fx *f = *state;
    msgw_outbox_msg m[4] = {{"e1", "mca", "eligibility", "t", "P", "1", 1, "x:1", NULL, NULL},
                            {"e2", "mca", "eligibility", "t", "P", "2", 1, "x:1", NULL, NULL},
                            {"e3", "mca", "eligibility", "t", "Q", "3", 1, "x:1", NULL, NULL},
                            {"e4", "hrss", "eligibility", "t", "P", "4", 1, "x:1", NULL, NULL}};
    msgw_store_item it = {.record = record(f, "x:1"), .sender = "x", .outbox = m, .noutbox = 4};
    assert_true(msgw_store_commit(f->s, &it, 1, 100, &f->e));
    /* P's second message waits for P's first; another recipient's P does not */
    assert_string_equal(due_ids(f, "mca", 100, 10), "e1 e3");
    assert_string_equal(due_ids(f, "hrss", 100, 10), "e4");
    assert_string_equal(due_ids(f, NULL, 100, 10), "e1 e3 e4");
    assert_string_equal(due_ids(f, "mca", 100, 1), "e1"); /* at most max, oldest first */
    assert_string_equal(due_ids(f, "cdpf", 100, 10), "");
    int64_t e1 = due_id(f, "mca", 100, "e1"), e3 = due_id(f, "mca", 100, "e3");

    /* e1 fails: counted, not due before its next attempt, and P's order holds meanwhile */
    assert_true(msgw_store_retry(f->s, e1, 500, "HTTP 503", &f->e));
    assert_string_equal(due_ids(f, "mca", 200, 10), "e3");
    assert_true(msgw_store_delivered(f->s, e3, 200, &f->e));
    msgw_errors e;
    msgw_errors_init(&e);
    assert_false(msgw_store_delivered(f->s, e3, 201, &e)); /* not twice */
    assert_true(tu_has_error(&(msgw_batch){.errors = e}, "store.delivery", NULL));
    msgw_errors_clear(&e);
    msgw_store_deliveries d;
    assert_true(msgw_store_due(f->s, "mca", 500, 10, &d, &f->e));
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].event_id, "e1");
    assert_int_equal(d.v[0].attempts, 1);
    assert_int_equal(d.v[0].next_at, 500);
    msgw_store_deliveries_clear(&d);

    /* given up: a dead letter with its last error, and P's next message moves up */
    assert_true(msgw_store_dead_letter(f->s, e1, "10 attempts", &f->e));
    assert_string_equal(due_ids(f, "mca", 500, 10), "e2");
    msgw_store_stats st = stats(f, "mca");
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.dead, 1);
    msgw_outbox_rows dead;
    assert_true(msgw_store_dead_letters(f->s, 10, f->a, &dead, &f->e));
    assert_int_equal(dead.n, 1);
    assert_int_equal(dead.v[0].id, e1);
    assert_string_equal(dead.v[0].event_id, "e1");
    assert_string_equal(dead.v[0].recipient, "mca");
    assert_string_equal(dead.v[0].kind, "eligibility");
    assert_string_equal(dead.v[0].person, "P");
    assert_string_equal(dead.v[0].cause, "x:1");
    assert_int_equal(dead.v[0].state, MSGW_OUTBOX_DEAD);
    assert_int_equal(dead.v[0].attempts, 2);
    assert_int_equal(dead.v[0].created_at, 100);
    assert_string_equal(dead.v[0].last_error, "10 attempts");
    assert_true(msgw_store_dead_letters(f->s, 0, f->a, &dead, &f->e));
    assert_int_equal(dead.n, 0);
    msgw_queue_rows q;
    assert_true(msgw_store_queues(f->s, f->a, &q, &f->e));
    assert_int_equal(q.n, 2);
    assert_int_equal(queue(&q, "mca")->pending, 1);
    assert_int_equal(queue(&q, "mca")->dead, 1);
    assert_int_equal(queue(&q, "mca")->oldest_pending, 100);
    assert_int_equal(queue(&q, "hrss")->pending, 1);
    assert_int_equal(queue(&q, "hrss")->dead, 0);

    /* replayed: pending again, due now, attempts reset, and before P's later message again */
    assert_int_equal(msgw_store_replay(f->s, e1 + 1000, 0, 600, &f->e), 0); /* no such one */
    assert_int_equal(msgw_store_replay(f->s, e1, 0, 600, &f->e), 1);
    assert_int_equal(msgw_store_replay(f->s, e1, 0, 600, &f->e), 0); /* not dead any more */
    assert_true(msgw_store_due(f->s, "mca", 600, 10, &d, &f->e));
    assert_int_equal(d.n, 1);
    assert_string_equal(d.v[0].event_id, "e1");
    assert_int_equal(d.v[0].attempts, 0);
    msgw_store_deliveries_clear(&d);
    assert_string_equal(due_ids(f, "mca", 599, 10), "");
    assert_true(msgw_store_queues(f->s, f->a, &q, &f->e));
    assert_int_equal(queue(&q, "mca")->pending, 2);
    assert_int_equal(queue(&q, "mca")->dead, 0);

    /* replay of every dead letter, the oldest limit of them */
    assert_true(msgw_store_dead_letter(f->s, e1, "again", &f->e));
    assert_true(msgw_store_dead_letter(f->s, due_id(f, "hrss", 600, "e4"), "gone", &f->e));
    assert_int_equal(msgw_store_replay(f->s, 0, 1, 700, &f->e), 1);
    assert_true(msgw_store_dead_letters(f->s, 10, f->a, &dead, &f->e));
    assert_int_equal(dead.n, 1);
    assert_string_equal(dead.v[0].event_id, "e4"); /* the oldest went first */
    assert_int_equal(msgw_store_replay(f->s, 0, 0, 700, &f->e), 1);
    assert_true(msgw_store_dead_letters(f->s, 10, f->a, &dead, &f->e));
    assert_int_equal(dead.n, 0);
    assert_int_equal(f->e.n, 0);
}

/*
 * The deliverers' bookkeeping: what is due to several recipients at once,
 * each up to its own limit; many outcomes in one call; a message in flight
 * holds its person's queue until its acknowledgement times out; an
 * acknowledgement may name the event; late and repeated ones are skipped.
 */
static void test_settle_batch(void **state)
{
    fx *f = *state;
    msgw_outbox_msg m[6] = {{"a1", "mca", "record", "t", "P", "1", 1, NULL, NULL, NULL},
                            {"a2", "mca", "record", "t", "P", "2", 1, NULL, NULL, NULL},
                            {"a3", "mca", "record", "t", "Q", "3", 1, NULL, NULL, NULL},
                            {"a4", "mca", "record", "t", "R", "4", 1, NULL, NULL, NULL},
                            {"b1", "hrss", "record", "t", "P", "5", 1, NULL, NULL, NULL},
                            {"c1", "cdpf", "record", "t", "P", "6", 1, NULL, NULL, NULL}};
    msgw_store_item it = {.record = record(f, "s:1"), .sender = "x", .outbox = m, .noutbox = 6};
    assert_true(msgw_store_commit(f->s, &it, 1, 100, &f->e));
    const char *who[2] = {"mca", "hrss"};
    size_t max[2] = {2, 10};
    msgw_store_deliveries d;
    assert_true(msgw_store_due_among(f->s, who, max, 2, 100, &d, &f->e));
    assert_int_equal(d.n, 3); /* mca: a1, a3 (its limit); hrss: b1; cdpf not asked */
    assert_non_null(find_due(&d, "a1"));
    assert_non_null(find_due(&d, "a3"));
    assert_non_null(find_due(&d, "b1"));
    int64_t a1 = find_due(&d, "a1")->id, a3 = find_due(&d, "a3")->id, b1 = find_due(&d, "b1")->id;
    msgw_store_deliveries_clear(&d);
    assert_true(msgw_store_due_among(f->s, NULL, NULL, 0, 100, &d, &f->e)); /* nobody asked */
    assert_int_equal(d.n, 0);
    msgw_store_deliveries_clear(&d);

    msgw_settlement v[3] = {
        {.id = a1, .outcome = MSGW_SETTLE_INFLIGHT, .next_at = 1000},
        {.id = a3, .outcome = MSGW_SETTLE_DELIVERED, .attempt = true},
        {.id = b1, .outcome = MSGW_SETTLE_RETRY, .attempt = true, .next_at = 500, .error = "503"},
    };
    assert_true(msgw_store_settle(f->s, v, 3, 200, &f->e));
    for (int i = 0; i < 3; i++)
        assert_true(v[i].applied);
    assert_true(msgw_store_settle(f->s, NULL, 0, 200, &f->e)); /* nothing to do */
    /* in flight: neither a1 nor P's a2 before the acknowledgement times out */
    assert_string_equal(due_ids(f, "mca", 600, 10), "a4");
    assert_string_equal(due_ids(f, "mca", 1000, 10), "a1 a4");
    assert_int_equal(due_id(f, "mca", 1000, "a1") == a1, 1);
    assert_true(msgw_store_due(f->s, "hrss", 500, 10, &d, &f->e));
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].attempts, 1);
    msgw_store_deliveries_clear(&d);

    /* acknowledged by (recipient, event id); repeated and unknown acknowledgements are skipped */
    msgw_settlement ack[3] = {
        {.recipient = "mca", .event_id = "a1", .outcome = MSGW_SETTLE_DELIVERED},
        {.recipient = "mca", .event_id = "a1", .outcome = MSGW_SETTLE_DELIVERED},
        {.recipient = "mca", .event_id = "never", .outcome = MSGW_SETTLE_DELIVERED},
    };
    assert_true(msgw_store_settle(f->s, ack, 3, 1100, &f->e));
    assert_true(ack[0].applied);
    assert_false(ack[1].applied);
    assert_false(ack[2].applied);
    assert_int_equal(f->e.n, 0);
    assert_string_equal(due_ids(f, "mca", 1100, 10), "a2 a4");
    msgw_store_stats st = stats(f, "mca");
    assert_int_equal(st.delivered, 2);
    assert_int_equal(st.pending, 2);

    /* a deliverer's own connection settles; the writer's sees it */
    msgw_store *dl = msgw_store_open(f->address, MSGW_STORE_DELIVERY, &f->e);
    assert_non_null(dl);
    msgw_settlement dead = {.id = due_id(f, "cdpf", 1100, "c1"),
                            .outcome = MSGW_SETTLE_DEAD,
                            .attempt = true,
                            .error = "no"};
    assert_true(msgw_store_settle(dl, &dead, 1, 1200, &f->e));
    assert_true(dead.applied);
    msgw_store_close(&dl);
    assert_int_equal(stats(f, "cdpf").dead, 1);
    assert_int_equal(f->e.n, 0);
}

/* ---- verdicts and the transition log ---- */

typedef struct collected {
    msgw_arena *a;
    msgw_verdict_rows rows;
    size_t cap, stop_after; /* 0: never stop */
} collected;

static bool collect_verdict(void *ud, const msgw_store_verdict *v)
{
    collected *c = ud;
    c->rows.v = msgw_arena_grow(c->a, c->rows.v, sizeof *c->rows.v, &c->cap, c->rows.n + 1);
    msgw_store_verdict *x = &c->rows.v[c->rows.n++];
    *x = *v;
    x->person = msgw_arena_strdup(c->a, v->person);
    x->service = msgw_arena_strdup(c->a, v->service);
    x->tier = v->tier ? msgw_arena_strdup(c->a, v->tier) : NULL;
    return c->stop_after == 0 || c->rows.n < c->stop_after;
}

static msgw_verdict_rows verdicts_of(fx *f, const char *person)
{
    collected c = {.a = f->a};
    assert_true(msgw_store_each_verdict(f->s, person, collect_verdict, &c, &f->e));
    return c.rows;
}

/* Verdicts are written with the commit that changed them and read back as written; the logged
 * transitions are listed newest first, by service, district (a prefix of either region) and
 * person, as written: nothing masked, nothing formatted. */
static void test_verdicts_and_transitions(void **state)
{
    fx *f = *state;
    const char *p1 = "120104195001011234", *p2 = "130982196002022345";
    msgw_store_verdict v1[] = {{.person = p1,
                                .service = "S1",
                                .eligible = true,
                                .since = 20000,
                                .tier = "care",
                                .amount = 12345,
                                .kind = "new",
                                .hukou_region = "120104",
                                .residence_region = "120104",
                                .explanation = "NEW because of 120104195001011234"},
                               {.person = p2,
                                .service = "S2",
                                .eligible = true,
                                .since = 20001,
                                .amount = INT64_MIN,
                                .kind = "new",
                                .hukou_region = "131082",
                                .residence_region = "120101",
                                .explanation = "x"},
                               {.person = p2,
                                .service = "S3",
                                .eligible = true,
                                .since = 20002,
                                .amount = 5}}; /* no log */
    msgw_store_verdict v2[] = {{.person = p1,
                                .service = "S1",
                                .eligible = false,
                                .since = MSGW_DATE_NONE,
                                .amount = INT64_MIN,
                                .kind = "lost",
                                .hukou_region = "120104",
                                .explanation = "y"}};
    msgw_store_item it[] = {
        {.record = record(f, "t:1"), .sender = "mca", .verdicts = v1, .nverdicts = 3},
        {.sender = "gateway", .verdicts = v2, .nverdicts = 1}}; /* a sweep */
    assert_true(msgw_store_commit(f->s, &it[0], 1, 1000000, &f->e));
    assert_true(msgw_store_commit(f->s, &it[1], 1, 5000000, &f->e));
    assert_int_equal(stats(f, NULL).records, 1); /* the sweep wrote no record */

    msgw_verdict_rows all = verdicts_of(f, NULL);
    assert_int_equal(all.n, 3); /* by person, then service */
    assert_string_equal(all.v[0].person, p1);
    assert_string_equal(all.v[0].service, "S1");
    assert_false(all.v[0].eligible); /* the later commit's */
    assert_int_equal(all.v[0].since, MSGW_DATE_NONE);
    assert_null(all.v[0].tier);
    assert_int_equal(all.v[0].amount, INT64_MIN);
    assert_int_equal(all.v[0].updated_at, 5000000);
    assert_string_equal(all.v[1].service, "S2");
    assert_true(all.v[1].eligible);
    assert_int_equal(all.v[1].since, 20001);
    assert_int_equal(all.v[1].amount, INT64_MIN);
    assert_int_equal(all.v[1].updated_at, 1000000);
    assert_string_equal(all.v[2].service, "S3");
    assert_int_equal(all.v[2].amount, 5);
    msgw_verdict_rows one = verdicts_of(f, p2);
    assert_int_equal(one.n, 2);
    assert_string_equal(one.v[0].person, p2);
    assert_int_equal(verdicts_of(f, "110101199001010000").n, 0);
    collected first = {.a = f->a, .stop_after = 1}; /* the callback stops the walk */
    assert_true(msgw_store_each_verdict(f->s, NULL, collect_verdict, &first, &f->e));
    assert_int_equal(first.rows.n, 1);

    msgw_transition_rows t;
    assert_true(msgw_store_transitions(f->s, &(msgw_transition_filter){0}, f->a, &t, &f->e));
    assert_int_equal(t.n, 3);                 /* S3 was written without a transition */
    assert_string_equal(t.v[0].kind, "lost"); /* newest first */
    assert_string_equal(t.v[0].person, p1);
    assert_false(t.v[0].eligible);
    assert_null(t.v[0].cause); /* the calendar */
    assert_int_equal(t.v[0].at, 5000000);
    assert_int_equal(t.v[0].amount, INT64_MIN);
    assert_null(t.v[0].residence_region);
    assert_true(t.v[0].id > t.v[1].id);
    const msgw_transition_row *last = &t.v[2];
    assert_string_equal(last->person, p1);
    assert_string_equal(last->service, "S1");
    assert_string_equal(last->kind, "new");
    assert_true(last->eligible);
    assert_string_equal(last->tier, "care");
    assert_int_equal(last->amount, 12345);
    assert_string_equal(last->hukou_region, "120104");
    assert_string_equal(last->explanation, "NEW because of 120104195001011234"); /* unmasked */
    assert_string_equal(last->cause, "t:1");
    assert_int_equal(last->at, 1000000);
    assert_true(msgw_store_transitions(
        f->s, &(msgw_transition_filter){.service = "S2", .district = ""}, f->a, &t, &f->e));
    assert_int_equal(t.n, 1);
    assert_string_equal(t.v[0].person, p2);
    /* a residence in Tianjin matches district 12 as well as a Tianjin hukou */
    assert_true(msgw_store_transitions(f->s, &(msgw_transition_filter){.district = "1201"}, f->a,
                                       &t, &f->e));
    assert_int_equal(t.n, 3);
    assert_true(msgw_store_transitions(f->s, &(msgw_transition_filter){.district = "1310"}, f->a,
                                       &t, &f->e));
    assert_int_equal(t.n, 1);
    assert_true(
        msgw_store_transitions(f->s, &(msgw_transition_filter){.person = p1}, f->a, &t, &f->e));
    assert_int_equal(t.n, 2);
    assert_true(msgw_store_transitions(f->s, &(msgw_transition_filter){.max = 1}, f->a, &t, &f->e));
    assert_int_equal(t.n, 1);
    assert_string_equal(t.v[0].kind, "lost");
    assert_int_equal(f->e.n, 0);
}

/* A person's page: their verdicts, the records with facts about them, their transitions. */
static void test_person(void **state)
{
    fx *f = *state;
    msgw_store_verdict v = {.person = PERSON_A,
                            .service = "S",
                            .eligible = true,
                            .since = 100,
                            .amount = INT64_MIN,
                            .kind = "new",
                            .hukou_region = "120101"};
    msgw_store_item it[] = {
        {.record = record(f, "p:1"), .sender = "mca", .verdicts = &v, .nverdicts = 1},
        {.record = record(f, "p:2"), .sender = "mca"}};
    assert_true(msgw_store_commit(f->s, it, 2, 1000, &f->e));
    msgw_person_page *p = NULL;
    assert_true(msgw_store_person(f->s, PERSON_A, f->a, &p, &f->e));
    assert_non_null(p);
    assert_string_equal(p->person, PERSON_A);
    assert_int_equal(p->verdicts.n, 1);
    assert_string_equal(p->verdicts.v[0].service, "S");
    assert_int_equal(p->verdicts.v[0].since, 100);
    assert_int_equal(p->records.n, 2);
    assert_string_equal(p->records.v[0].message_id, "p:2"); /* newest first */
    assert_string_equal(p->records.v[0].sender, "mca");
    assert_string_equal(p->records.v[0].kind, "household_assistance_roster");
    assert_int_equal(p->records.v[0].recorded_at, 1000);
    assert_int_equal(p->transitions.n, 1);
    /* person B has facts but no verdict: known all the same */
    assert_true(msgw_store_person(f->s, PERSON_B, f->a, &p, &f->e));
    assert_non_null(p);
    assert_int_equal(p->verdicts.n, 0);
    assert_int_equal(p->records.n, 2);
    assert_int_equal(p->transitions.n, 0);
    assert_true(msgw_store_person(f->s, "110101199001010000", f->a, &p, &f->e));
    assert_null(p);
    assert_int_equal(f->e.n, 0);
}

/* A person's disclosures: what records about them caused (routed, sealed for a peer) and their
 * eligibility notices, each with the bytes sent and the rule it went on; nobody else's. */
static void test_disclosures(void **state)
{
    fx *f = *state;
    msgw_outbox_msg routed[] = {
        {"r1", "hrss", "record", "application/json", PERSON_A, "{\"a\":1}", 7, "d:1", NULL, "subscription hrss/0"},
        {"r2", "beijing", "record", "application/vnd.msgw.envelope+json", PERSON_A, "{}", 2, "d:1", NULL,
         "agreement beijing"}};
    msgw_outbox_msg notice[] = {{"n1", "mca", "eligibility", "application/xml", PERSON_A, "<n/>", 4, NULL, NULL,
                                 "service TJ-D7-12"}};
    msgw_outbox_msg other[] = {{"n2", "mca", "eligibility", "application/xml", "110101199001010000", "<m/>", 4, NULL,
                                NULL, "service TJ-D7-12"}};
    /* a notice about someone else that the same record caused is theirs, not A's */
    msgw_outbox_msg routed3[] = {routed[0], routed[1],
                                 {"n3", "mca", "eligibility", "application/xml", PERSON_B, "<b/>", 4, "d:1", NULL,
                                  "service TJ-D7-04"}};
    msgw_store_item it[] = {{.record = record(f, "d:1"), .sender = "mca", .outbox = routed3, .noutbox = 3},
                            {.outbox = notice, .noutbox = 1},
                            {.outbox = other, .noutbox = 1}};
    assert_true(msgw_store_commit(f->s, it, 3, 1000, &f->e));
    msgw_disclosure_rows d;
    assert_true(msgw_store_disclosures(f->s, PERSON_A, 100, f->a, &d, &f->e));
    assert_int_equal(d.n, 3);
    assert_string_equal(d.v[0].m.event_id, "r1");
    assert_string_equal(d.v[0].basis, "subscription hrss/0");
    assert_int_equal(d.v[0].len, 7);
    assert_string_equal(d.v[0].body, "{\"a\":1}");
    assert_true(d.v[0].record_seq > 0);
    assert_string_equal(d.v[1].m.recipient, "beijing");
    assert_string_equal(d.v[1].basis, "agreement beijing");
    assert_string_equal(d.v[2].m.kind, "eligibility");
    assert_string_equal(d.v[2].basis, "service TJ-D7-12");
    assert_string_equal(d.v[2].body, "<n/>");
    assert_int_equal(d.v[2].record_seq, 0); /* the calendar's */
    assert_true(msgw_store_disclosures(f->s, PERSON_A, 1, f->a, &d, &f->e));
    assert_int_equal(d.n, 1); /* at most max, oldest first */
    assert_string_equal(d.v[0].m.event_id, "r1");
    assert_true(msgw_store_disclosures(f->s, "110101199001010001", 100, f->a, &d, &f->e));
    assert_int_equal(d.n, 0);
    assert_int_equal(f->e.n, 0);
}

/* ---- the trace ---- */

static void test_trace(void **state)
{
    fx *f = *state;
    msgw_outbox_msg m[2] = {
        {"ev-1", "cdpf", "record", "application/xml", PERSON_A, "<x/>", 4, "tr:1", NULL, NULL},
        {"ev-2", "hrss", "eligibility", "application/json", PERSON_B, "{}", 2, "tr:1", NULL, NULL}};
    msgw_store_verdict v = {.person = PERSON_A,
                            .service = "S",
                            .eligible = true,
                            .since = 100,
                            .tier = "t",
                            .amount = 7,
                            .kind = "new"};
    msgw_store_item it = {.record = record(f, "tr:1"),
                          .sender = "mca",
                          .body_digest = "abc123",
                          .outbox = m,
                          .noutbox = 2,
                          .verdicts = &v,
                          .nverdicts = 1,
                          .envelope = "signed envelope",
                          .envelope_len = 15,
                          .envelope_digest = "e5"};
    assert_true(msgw_store_commit(f->s, &it, 1, 1000, &f->e));
    /* a later message that names it as its cause, written by no record (a re-evaluation) */
    msgw_outbox_msg later = {"ev-3", "cdpf", "eligibility", "t", PERSON_A, "z", 1, "tr:1", NULL, NULL};
    msgw_store_item sweep = {.sender = "gateway", .outbox = &later, .noutbox = 1};
    assert_true(msgw_store_commit(f->s, &sweep, 1, 2000, &f->e));
    assert_true(msgw_store_delivered(f->s, due_id(f, "cdpf", 2000, "ev-1"), 3000, &f->e));
    assert_true(msgw_store_retry(f->s, due_id(f, "hrss", 2000, "ev-2"), 9000, "HTTP 500", &f->e));

    msgw_trace *t = NULL;
    assert_true(msgw_store_trace(f->s, "tr:1", f->a, &t, &f->e));
    assert_non_null(t);
    assert_int_equal(t->record.seq, it.seq);
    assert_string_equal(t->record.message_id, "tr:1");
    assert_string_equal(t->record.kind, "household_assistance_roster");
    assert_string_equal(t->record.sender, "mca");
    assert_string_equal(t->record.source_message_id, "TJ-HP-2024-000123");
    assert_string_equal(t->record.body_digest, "abc123");
    assert_int_equal(t->record.recorded_at, 1000);
    assert_non_null(t->envelope);
    assert_string_equal(t->envelope->peer, "mca");
    assert_string_equal(t->envelope->digest, "e5");
    assert_int_equal(t->envelope->bytes, 15);
    assert_int_equal(t->envelope->received_at, 1000);
    assert_int_equal(t->facts.n, 2); /* in the order written, ID numbers in full */
    assert_string_equal(t->facts.v[0].subject, PERSON_A);
    assert_string_equal(t->facts.v[0].type, "assistance");
    assert_int_equal(t->facts.v[0].valid_from, 19723); /* 2024-01-01 */
    assert_int_equal(t->facts.v[0].valid_to, MSGW_DATE_NONE);
    assert_string_equal(t->facts.v[0].department, "mca");
    assert_non_null(strstr(t->facts.v[0].attributes, "\"benefit_monthly_fen\":101000"));
    assert_string_equal(t->facts.v[1].subject, PERSON_B);
    assert_int_equal(t->verdicts.n, 1);
    assert_string_equal(t->verdicts.v[0].person, PERSON_A);
    assert_string_equal(t->verdicts.v[0].tier, "t");
    assert_int_equal(t->verdicts.v[0].amount, 7);
    assert_int_equal(t->messages.n, 3); /* oldest first */
    const msgw_outbox_row *ev1 = &t->messages.v[0], *ev2 = &t->messages.v[1],
                          *ev3 = &t->messages.v[2];
    assert_string_equal(ev1->event_id, "ev-1");
    assert_string_equal(ev1->recipient, "cdpf");
    assert_string_equal(ev1->media_type, "application/xml");
    assert_string_equal(ev1->person, PERSON_A);
    assert_int_equal(ev1->state, MSGW_OUTBOX_DELIVERED);
    assert_int_equal(ev1->attempts, 1);
    assert_int_equal(ev1->created_at, 1000);
    assert_int_equal(ev1->delivered_at, 3000);
    assert_null(ev1->last_error);
    assert_string_equal(ev2->event_id, "ev-2");
    assert_int_equal(ev2->state, MSGW_OUTBOX_PENDING);
    assert_int_equal(ev2->next_at, 9000);
    assert_string_equal(ev2->last_error, "HTTP 500");
    assert_string_equal(ev3->event_id, "ev-3");
    assert_string_equal(ev3->cause, "tr:1");
    assert_int_equal(ev3->created_at, 2000);

    /* a record without an envelope, and one never stored */
    msgw_store_item plain = {.record = record(f, "tr:2"), .sender = "mca"};
    assert_true(msgw_store_commit(f->s, &plain, 1, 4000, &f->e));
    assert_true(msgw_store_trace(f->s, "tr:2", f->a, &t, &f->e));
    assert_non_null(t);
    assert_null(t->envelope);
    assert_null(t->record.body_digest);
    assert_int_equal(t->verdicts.n, 0);
    assert_int_equal(t->messages.n, 0);
    assert_true(msgw_store_trace(f->s, "tr:nope", f->a, &t, &f->e));
    assert_null(t);
    assert_int_equal(f->e.n, 0);
}

/* ---- the engine's replay, meta ---- */

typedef struct replayed {
    int64_t seq[8];
    msgw_time at[8];
    size_t n, stop_after;
    bool canonical; /* every one had its canonical JSON */
} replayed;

static bool collect_record(void *ud, int64_t seq, const char *canonical, msgw_time recorded_at)
{
    replayed *r = ud;
    if (r->n < 8) {
        r->seq[r->n] = seq;
        r->at[r->n] = recorded_at;
    }
    r->n++;
    r->canonical = r->canonical && canonical && strstr(canonical, PERSON_A);
    return r->stop_after == 0 || r->n < r->stop_after;
}

static void test_each_record_and_meta(void **state)
{
    fx *f = *state;
    msgw_store_item it[3] = {{.record = record(f, "r:1"), .sender = "mca"},
                             {.record = record(f, "r:2"), .sender = "mca"},
                             {.record = record(f, "r:3"), .sender = "mca"}};
    assert_true(msgw_store_commit(f->s, &it[0], 2, 100, &f->e));
    assert_true(msgw_store_commit(f->s, &it[2], 1, 200, &f->e));
    replayed r = {.canonical = true};
    assert_true(msgw_store_each_record(f->s, collect_record, &r, &f->e));
    assert_int_equal(r.n, 3); /* in commit order, each with its canonical form */
    assert_true(r.canonical);
    assert_int_equal(r.seq[0], it[0].seq);
    assert_int_equal(r.seq[1], it[1].seq);
    assert_int_equal(r.seq[2], it[2].seq);
    assert_int_equal(r.at[2], 200);
    replayed two = {.canonical = true, .stop_after = 2}; /* the callback stops the walk */
    assert_true(msgw_store_each_record(f->s, collect_record, &two, &f->e));
    assert_int_equal(two.n, 2);

    int64_t value = 42;
    msgw_errors e;
    msgw_errors_init(&e);
    assert_false(msgw_store_meta_get(f->s, "swept", &value, &e)); /* never set: no error */
    assert_int_equal(e.n, 0);
    assert_int_equal(value, 42);
    assert_true(msgw_store_meta_set(f->s, "swept", 20000, &e));
    assert_true(msgw_store_meta_get(f->s, "swept", &value, &e));
    assert_int_equal(value, 20000);
    assert_true(msgw_store_meta_set(f->s, "swept", -3, &e)); /* overwritten */
    assert_true(msgw_store_meta_get(f->s, "swept", &value, &e));
    assert_int_equal(value, -3);
    assert_false(msgw_store_meta_get(f->s, "other", &value, &e));
    assert_int_equal(e.n, 0);
    msgw_errors_clear(&e);
}

/* ---- retention ---- */

/* Delivered messages by delivery time, dead letters by creation time, the transition log by time;
 * a time of 0 keeps its kind; records and verdicts stay. */
static void test_prune(void **state)
{
    fx *f = *state;
    msgw_outbox_msg m[3] = {{"ok", "mca", "record", "t", "P", "1", 1, NULL, NULL, NULL},
                            {"dead", "mca", "record", "t", "Q", "2", 1, NULL, NULL, NULL},
                            {"wait", "mca", "record", "t", "R", "3", 1, NULL, NULL, NULL}};
    msgw_store_verdict v = {.person = PERSON_A,
                            .service = "S",
                            .eligible = true,
                            .since = 1,
                            .amount = INT64_MIN,
                            .kind = "new"};
    msgw_store_item it = {.record = record(f, "pr:1"),
                          .sender = "x",
                          .outbox = m,
                          .noutbox = 3,
                          .verdicts = &v,
                          .nverdicts = 1};
    assert_true(msgw_store_commit(f->s, &it, 1, 1000, &f->e));
    assert_true(msgw_store_delivered(f->s, due_id(f, "mca", 1000, "ok"), 2000, &f->e));
    assert_true(msgw_store_dead_letter(f->s, due_id(f, "mca", 1000, "dead"), "no", &f->e));
    int64_t removed = -1;
    assert_true(msgw_store_prune(f->s, &(msgw_store_retention){0}, &removed, &f->e));
    assert_int_equal(removed, 0); /* all kept */
    assert_true(msgw_store_prune(f->s,
                                 &(msgw_store_retention){.delivered_before = 2000,
                                                         .dead_before = 1000,
                                                         .transitions_before = 1000},
                                 &removed, &f->e));
    assert_int_equal(removed, 0); /* each at its limit, not before it */
    assert_true(msgw_store_prune(f->s,
                                 &(msgw_store_retention){.delivered_before = 2001,
                                                         .dead_before = 1001,
                                                         .transitions_before = 1001},
                                 &removed, &f->e));
    assert_int_equal(removed, 3); /* one delivered, one dead, one transition */
    msgw_store_stats st = stats(f, NULL);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.dead, 0);
    assert_int_equal(st.pending, 1); /* never pruned */
    assert_int_equal(st.records, 1);
    assert_int_equal(verdicts_of(f, NULL).n, 1);
    msgw_transition_rows t;
    assert_true(msgw_store_transitions(f->s, &(msgw_transition_filter){0}, f->a, &t, &f->e));
    assert_int_equal(t.n, 0);
    int64_t bytes = 0;
    assert_true(msgw_store_size(f->s, &bytes, &f->e));
    assert_true(bytes > 0);
    assert_int_equal(f->e.n, 0);
}

static bool only_live(void *ud, const char *message_id)
{
    (void)ud;
    return strcmp(message_id, "rr:live") == 0;
}

/* Records the state no longer needs, older than the limit and referred to by no outbox message,
 * go with their facts; their verdicts and transitions stay; their message ids are forgotten. */
static void test_prune_records(void **state)
{
    fx *f = *state;
    msgw_outbox_msg m = {"ev", "mca", "record", "t", "P", "x", 1, NULL, NULL, NULL};
    msgw_store_verdict v = {.person = PERSON_A,
                            .service = "S",
                            .eligible = true,
                            .since = 100,
                            .amount = INT64_MIN,
                            .kind = "new"};
    msgw_store_item it[] = {
        {.record = record(f, "rr:old"), .sender = "mca", .verdicts = &v, .nverdicts = 1},
        {.record = record(f, "rr:referred"), .sender = "mca", .outbox = &m, .noutbox = 1},
        {.record = record(f, "rr:live"), .sender = "mca"}};
    assert_true(msgw_store_commit(f->s, it, 3, 1000, &f->e));
    msgw_store_item recent = {.record = record(f, "rr:recent"), .sender = "mca"};
    assert_true(msgw_store_commit(f->s, &recent, 1, 9000, &f->e));
    int64_t removed = -1;
    assert_true(msgw_store_prune_records(f->s, 5000, only_live, NULL, &removed, &f->e));
    assert_int_equal(removed, 1);
    assert_int_equal(msgw_store_known(f->s, "rr:old", NULL, NULL, &f->e), 0);
    assert_int_equal(msgw_store_known(f->s, "rr:referred", NULL, NULL, &f->e), 1);
    assert_int_equal(msgw_store_known(f->s, "rr:live", NULL, NULL, &f->e), 1);
    assert_int_equal(msgw_store_known(f->s, "rr:recent", NULL, NULL, &f->e), 1);
    msgw_store_stats st = stats(f, NULL);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.facts, 6);
    msgw_trace *t = NULL;
    assert_true(msgw_store_trace(f->s, "rr:old", f->a, &t, &f->e));
    assert_null(t); /* forgotten */
    msgw_verdict_rows verdicts = verdicts_of(f, PERSON_A);
    assert_int_equal(verdicts.n, 1); /* kept, without its record */
    assert_true(verdicts.v[0].eligible);
    msgw_transition_rows tr;
    assert_true(msgw_store_transitions(f->s, &(msgw_transition_filter){0}, f->a, &tr, &f->e));
    assert_int_equal(tr.n, 1);
    assert_string_equal(tr.v[0].cause, "rr:old"); /* what caused it is still named */
    /* forgotten: the same message id is a new record again */
    msgw_store_item again = {.record = record(f, "rr:old"), .sender = "mca"};
    assert_true(msgw_store_commit(f->s, &again, 1, 10000, &f->e));
    assert_false(again.duplicate);
    assert_int_equal(f->e.n, 0);
}

/* Counts per department: the records it sent and their facts, the messages to it by state. */
static void test_stats(void **state)
{
    fx *f = *state;
    msgw_outbox_msg m[2] = {{"a", "hrss", "record", "t", "P", "1", 1, NULL, NULL, NULL},
                            {"b", "cdpf", "record", "t", "P", "2", 1, NULL, NULL, NULL}};
    msgw_store_item it[2] = {
        {.record = record(f, "st:1"), .sender = "mca", .outbox = m, .noutbox = 2},
        {.record = record(f, "st:2"), .sender = "health"}};
    assert_true(msgw_store_commit(f->s, it, 2, 700, &f->e));
    msgw_store_stats st = stats(f, "mca");
    assert_int_equal(st.records, 1);
    assert_int_equal(st.facts, 4); /* both records' facts name mca as their source department */
    assert_int_equal(st.pending, 0);
    st = stats(f, "hrss");
    assert_int_equal(st.records, 0);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.oldest_pending, 700);
    st = stats(f, NULL);
    assert_int_equal(st.records, 2);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.delivered + st.dead, 0);
    assert_int_equal(stats(f, "nobody").oldest_pending, 0);
    assert_int_equal(f->e.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_with_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_due_order_retry_dead_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settle_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verdicts_and_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_person, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disclosures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_record_and_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
