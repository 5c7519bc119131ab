/*
 * The SQLite store backend, the embedded default.  Durability: WAL journal
 * with synchronous=FULL, so every commit is fsynced before it returns and an
 * acknowledged record survives power loss (docs/store.md).  A deliverer's
 * connection (MSGW_STORE_DELIVERY) runs synchronous=NORMAL: its commits
 * reach the WAL without an fsync of their own, so a power loss may forget
 * the last delivery marks (the messages are sent again), never a record.
 * One connection, statements prepared once; the caller serialises access
 * (the daemon's single writer thread does group commit through
 * msgw_store_commit).
 */
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "msgw/base/buf.h"
#include "msgw/model/canon.h"
#include "msgw/base/idnum.h"
#include "msgw/store/store.h"

enum {
    ST_FIND,
    ST_RECORD,
    ST_FACT,
    ST_OUTBOX,
    ST_DUE,
    ST_DUE_ALL,
    ST_RESCHEDULE,
    ST_FINISH,
    ST_FIND_EVENT,
    ST_VERDICT,
    ST_TRANSITION,
    ST_ENVELOPE,
    ST_COUNT
};

static const char *const sql_text[ST_COUNT] = {
    [ST_VERDICT] = "INSERT INTO eligibility(person, service, eligible, since, tier, amount, record_seq, "
                   "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (person, service) DO "
                   "UPDATE SET eligible = ?3, since = ?4, tier = ?5, amount = ?6, record_seq = ?7, "
                   "updated_at = ?8",
    [ST_TRANSITION] = "INSERT INTO transitions(at, person, service, kind, eligible, tier, amount, hukou_region, "
                      "residence_region, explanation, cause, record_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                      "?10, ?11, ?12)",
    [ST_ENVELOPE] = "INSERT INTO envelopes(record_seq, peer, message_id, digest, body, received_at, direction) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_FIND] = "SELECT seq, recorded_at FROM records WHERE message_id = ?1",
    [ST_RECORD] = "INSERT INTO records(message_id, kind, sender, source_message_id, body_digest, "
                  "recorded_at, canonical) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_FACT] = "INSERT INTO facts(record_seq, subject, type, valid_from, valid_to, attributes, "
                "department, message_id, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* an event already queued for that recipient is not queued twice; any other violation fails */
    [ST_OUTBOX] =
        "INSERT INTO outbox(event_id, recipient, kind, media_type, person, body, "
        "record_seq, created_at, next_at, cause) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9) "
        "ON CONFLICT (recipient, event_id) DO NOTHING",
    /* the oldest pending message of each (recipient, person), if due */
    [ST_DUE] =
        "SELECT o.id, o.event_id, o.recipient, o.kind, o.media_type, o.person, o.body, "
        "o.attempts, o.created_at, o.next_at, o.cause FROM outbox o "
        "WHERE o.state = 'pending' AND o.recipient = ?1 AND o.next_at <= ?2 AND o.id = "
        "(SELECT min(p.id) FROM outbox p WHERE p.state = 'pending' AND p.recipient = o.recipient "
        "AND p.person = o.person) ORDER BY o.id LIMIT ?3",
    [ST_DUE_ALL] =
        "SELECT o.id, o.event_id, o.recipient, o.kind, o.media_type, o.person, o.body, "
        "o.attempts, o.created_at, o.next_at, o.cause FROM outbox o "
        "WHERE o.state = 'pending' AND o.next_at <= ?2 AND o.id = "
        "(SELECT min(p.id) FROM outbox p WHERE p.state = 'pending' AND p.recipient = o.recipient "
        "AND p.person = o.person) ORDER BY o.id LIMIT ?3",
    /* one outcome: ?2 new state, ?3 attempts to add, ?4 next attempt (NULL: kept), ?5 error (NULL:
     * kept), ?6 now (the delivery time of a delivered message) */
    /* a message that stays pending (retry, in flight): ?2 attempts to add, ?3 next attempt, ?4
     * error (NULL: kept).  Its state is not written, so the indexes on it are not touched. */
    [ST_RESCHEDULE] = "UPDATE outbox SET attempts = attempts + ?2, next_at = ?3, "
                      "last_error = coalesce(?4, last_error) WHERE id = ?1 AND state = 'pending'",
    /* a message settled for good: ?2 'delivered' or 'dead', ?3 attempts to add, ?4 error (NULL:
     * kept), ?5 now (when a delivered one was delivered) */
    [ST_FINISH] =
        "UPDATE outbox SET state = ?2, attempts = attempts + ?3, last_error = coalesce(?4, "
        "last_error), "
        "delivered_at = CASE WHEN ?2 = 'delivered' THEN ?5 END WHERE id = ?1 AND state = 'pending'",
    [ST_FIND_EVENT] = "SELECT id FROM outbox WHERE recipient = ?1 AND event_id = ?2",
};

static const char schema_sql[] =
    /* before the first table: freed pages can be returned to the file system (a store made before
     * this setting keeps its pages for reuse instead) */
    "PRAGMA auto_vacuum = INCREMENTAL;"
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = FULL;"
    "PRAGMA foreign_keys = ON;"
    "CREATE TABLE IF NOT EXISTS records("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " message_id TEXT NOT NULL UNIQUE,"
    " kind TEXT NOT NULL, sender TEXT NOT NULL, source_message_id TEXT, body_digest TEXT,"
    " recorded_at INTEGER NOT NULL, canonical TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS facts("
    " id INTEGER PRIMARY KEY, record_seq INTEGER NOT NULL REFERENCES records(seq),"
    " subject TEXT NOT NULL, type TEXT NOT NULL, valid_from INTEGER, valid_to INTEGER,"
    " attributes TEXT NOT NULL, department TEXT NOT NULL, message_id TEXT NOT NULL,"
    " recorded_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS facts_subject ON facts(subject, type);"
    "CREATE TABLE IF NOT EXISTS eligibility("
    " person TEXT NOT NULL, service TEXT NOT NULL, eligible INTEGER NOT NULL, since INTEGER,"
    " tier TEXT, amount INTEGER, record_seq INTEGER REFERENCES records(seq), updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (person, service)) WITHOUT ROWID;"
    /* envelopes exchanged with peer gateways, signature included, as sent or received: what this
     * gateway can show it sent and was sent */
    "CREATE TABLE IF NOT EXISTS envelopes(id INTEGER PRIMARY KEY, record_seq INTEGER, peer TEXT NOT NULL,"
    " message_id TEXT NOT NULL, digest TEXT NOT NULL, body BLOB NOT NULL, received_at INTEGER NOT NULL,"
    " direction TEXT NOT NULL DEFAULT 'received' CHECK (direction IN ('sent', 'received')));"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    /* The transition log the administrators read (recent transitions by service and district, a
     * person's history); retention.transitions_days prunes it. */
    "CREATE TABLE IF NOT EXISTS transitions("
    " id INTEGER PRIMARY KEY, at INTEGER NOT NULL, person TEXT NOT NULL, service TEXT NOT NULL,"
    " kind TEXT NOT NULL, eligible INTEGER NOT NULL, tier TEXT, amount INTEGER, hukou_region TEXT,"
    " residence_region TEXT, explanation TEXT, cause TEXT, record_seq INTEGER);"
    "CREATE INDEX IF NOT EXISTS transitions_person ON transitions(person);"
    "CREATE INDEX IF NOT EXISTS transitions_service ON transitions(service);"
    "CREATE INDEX IF NOT EXISTS transitions_at ON transitions(at);"
    "CREATE TABLE IF NOT EXISTS outbox("
    " id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, recipient TEXT NOT NULL, kind TEXT NOT NULL,"
    " media_type TEXT NOT NULL, person TEXT NOT NULL DEFAULT '', body BLOB NOT NULL,"
    " record_seq INTEGER REFERENCES records(seq),"
    " state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),"
    " attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, next_at INTEGER NOT NULL,"
    " delivered_at INTEGER, last_error TEXT, cause TEXT, UNIQUE (recipient, event_id));"
    /* Only pending messages are indexed, so delivering one removes index entries instead of moving
     * them, and the indexes stay as small as the backlog.  outbox_person: a person's oldest pending
     * message (ordering); outbox_queue: a recipient's pending messages in id order, so the due
     * queries stop at their limit instead of scanning every delivered message or sorting a long
     * backlog.  outbox_pending is what an older store had instead. */
    "DROP INDEX IF EXISTS outbox_pending;"
    "CREATE INDEX IF NOT EXISTS outbox_person ON outbox(recipient, person, state) WHERE state = "
    "'pending';"
    "CREATE INDEX IF NOT EXISTS outbox_queue ON outbox(recipient, id) WHERE state = 'pending';"
    /* the dead letters per recipient, counted every second by the dashboard */
    "CREATE INDEX IF NOT EXISTS outbox_dead ON outbox(recipient) WHERE state = 'dead';";

typedef struct sqlite_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    sqlite3_stmt **among; /* due queries for n recipients, by n, prepared when first used */
    size_t namong;
} sqlite_store;

static bool fail(sqlite_store *s, msgw_errors *e, const char *what)
{
    msgw_error_add(e, -1, "store", NULL, "store.sqlite", "%s: %s", what, sqlite3_errmsg(s->db));
    return false;
}

static void sqlite_close(void *impl)
{
    sqlite_store *s = impl;
    if (!s) return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    for (size_t i = 0; i < s->namong; i++)
        sqlite3_finalize(s->among[i]);
    free(s->among);
    sqlite3_close(s->db);
    free(s);
}

/* Before SQLite's first use: no memory statistics, whose global mutex every allocation of every
 * connection would take (the deliverers and the writer run at once). */
static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static void *sqlite_open(const char *path, unsigned flags, msgw_errors *e)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, configure_sqlite);
    sqlite_store *s = calloc(1, sizeof *s);
    if (!s) abort();
    /* a deliverer's connection is its thread's alone: no mutex around every call */
    int mutex = flags & MSGW_STORE_DELIVERY ? SQLITE_OPEN_NOMUTEX : SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | mutex, NULL) !=
        SQLITE_OK) {
        msgw_error_add(e, -1, path, NULL, "store.open", "cannot open the store: %s",
                       s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(s->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        msgw_error_add(e, -1, path, NULL, "store.schema", "cannot prepare the store: %s",
                       msg ? msg : "?");
        sqlite3_free(msg);
        sqlite_close(s);
        return NULL;
    }
    /*
     * A deliverer's marks reach the WAL without an fsync each (docs/store.md),
     * and its frequent small commits run the WAL checkpoints.  The writer
     * checkpoints only when the WAL has grown large, so the copy back into the
     * database stays off the path between a push and its answer; its cache
     * holds the indexes that random keys (message ids, ID numbers) touch.
     */
    const char *tuning = flags & MSGW_STORE_DELIVERY
                             ? "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768"
                             : "PRAGMA cache_size = -131072; PRAGMA wal_autocheckpoint = 32768";
    if (sqlite3_exec(s->db, tuning, NULL, NULL, NULL) != SQLITE_OK) {
        fail(s, e, "synchronous");
        sqlite_close(s);
        return NULL;
    }
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            fail(s, e, "prepare");
            sqlite_close(s);
            return NULL;
        }
    return s;
}

/* Runs a prepared statement to completion and resets it. */
static bool step_done(sqlite_store *s, sqlite3_stmt *st, msgw_errors *e, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || fail(s, e, what);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_date(sqlite3_stmt *st, int i, msgw_date d)
{
    if (d == MSGW_DATE_NONE)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int(st, i, d);
}

/* A fact's attributes as the JSON object they have in the canonical form. */
static char *attributes_json(const msgw_fact *f)
{
    json_t *o = json_object();
    for (size_t i = 0; i < f->nattrs; i++)
        json_object_set_new(o, f->attrs[i].name, msgw_canon_value(&f->attrs[i].v));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* Is this message id stored already?  Fills the original outcome. */
static int find_record(sqlite_store *s, msgw_store_item *it, msgw_errors *e)
{
    sqlite3_stmt *st = s->st[ST_FIND];
    sqlite3_bind_text(st, 1, it->record->message_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        it->duplicate = true;
        it->seq = sqlite3_column_int64(st, 0);
        it->recorded_at = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(s, e, "find record"), -1;
    return rc == SQLITE_ROW;
}

static bool put_facts(sqlite_store *s, const msgw_record *r, int64_t seq, msgw_time now,
                      msgw_errors *e)
{
    sqlite3_stmt *st = s->st[ST_FACT];
    for (size_t i = 0; i < r->nfacts; i++) {
        const msgw_fact *f = &r->facts[i];
        char *attrs = attributes_json(f);
        sqlite3_bind_int64(st, 1, seq);
        bind_text(st, 2, f->subject);
        bind_text(st, 3, f->type);
        bind_date(st, 4, f->valid_from);
        bind_date(st, 5, f->valid_to);
        sqlite3_bind_text(st, 6, attrs, -1, SQLITE_TRANSIENT);
        bind_text(st, 7, r->source_department ? r->source_department : "");
        bind_text(st, 8, r->message_id);
        sqlite3_bind_int64(st, 9, now);
        free(attrs);
        if (!step_done(s, st, e, "store fact")) return false;
    }
    return true;
}

/* One envelope kept as evidence (record_seq: the record it carried; 0 none). */
static bool keep_envelope(sqlite_store *s, int64_t record_seq, const char *peer, const char *message_id,
                          const char *digest, const void *body, size_t len, const char *direction, msgw_time now,
                          msgw_errors *e)
{
    sqlite3_stmt *st = s->st[ST_ENVELOPE];
    if (record_seq) sqlite3_bind_int64(st, 1, record_seq);
    else sqlite3_bind_null(st, 1);
    bind_text(st, 2, peer);
    bind_text(st, 3, message_id ? message_id : "");
    bind_text(st, 4, digest);
    sqlite3_bind_blob(st, 5, body, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now);
    bind_text(st, 7, direction);
    return step_done(s, st, e, "store envelope");
}

static bool put_outbox(sqlite_store *s, const msgw_store_item *it, msgw_time now, msgw_errors *e)
{
    sqlite3_stmt *st = s->st[ST_OUTBOX];
    for (size_t i = 0; i < it->noutbox; i++) {
        const msgw_outbox_msg *m = &it->outbox[i];
        bind_text(st, 1, m->event_id);
        bind_text(st, 2, m->recipient);
        bind_text(st, 3, m->kind);
        bind_text(st, 4, m->media_type);
        bind_text(st, 5, m->person ? m->person : "");
        sqlite3_bind_blob(st, 6, m->body ? m->body : "", (int)m->len, SQLITE_STATIC);
        if (it->record) sqlite3_bind_int64(st, 7, it->seq);
        else sqlite3_bind_null(st, 7); /* caused by no record: the calendar, a parameter */
        sqlite3_bind_int64(st, 8, now);
        bind_text(st, 9, m->cause);
        if (!step_done(s, st, e, "store outbox message")) return false;
        if (m->evidence && sqlite3_changes(s->db) &&
            !keep_envelope(s, it->record ? it->seq : 0, m->recipient, m->cause, m->evidence, m->body, m->len, "sent",
                           now, e))
            return false;
    }
    return true;
}

static bool put_transition(sqlite_store *s, const msgw_store_item *it, const msgw_store_verdict *v, msgw_time now,
                           msgw_errors *e)
{
    sqlite3_stmt *st = s->st[ST_TRANSITION];
    sqlite3_bind_int64(st, 1, now);
    bind_text(st, 2, v->person);
    bind_text(st, 3, v->service);
    bind_text(st, 4, v->kind);
    sqlite3_bind_int(st, 5, v->eligible);
    bind_text(st, 6, v->tier);
    if (v->amount == INT64_MIN) sqlite3_bind_null(st, 7);
    else sqlite3_bind_int64(st, 7, v->amount);
    bind_text(st, 8, v->hukou_region);
    bind_text(st, 9, v->residence_region);
    bind_text(st, 10, v->explanation);
    bind_text(st, 11, it->record ? it->record->message_id : NULL);
    if (it->record) sqlite3_bind_int64(st, 12, it->seq);
    else sqlite3_bind_null(st, 12);
    return step_done(s, st, e, "store transition");
}

static bool put_verdicts(sqlite_store *s, const msgw_store_item *it, msgw_time now, msgw_errors *e)
{
    sqlite3_stmt *st = s->st[ST_VERDICT];
    for (size_t i = 0; i < it->nverdicts; i++) {
        const msgw_store_verdict *v = &it->verdicts[i];
        bind_text(st, 1, v->person);
        bind_text(st, 2, v->service);
        sqlite3_bind_int(st, 3, v->eligible);
        bind_date(st, 4, v->eligible ? v->since : MSGW_DATE_NONE);
        bind_text(st, 5, v->tier);
        if (v->amount == INT64_MIN) sqlite3_bind_null(st, 6);
        else sqlite3_bind_int64(st, 6, v->amount);
        if (it->record) sqlite3_bind_int64(st, 7, it->seq);
        else sqlite3_bind_null(st, 7);
        sqlite3_bind_int64(st, 8, now);
        if (!step_done(s, st, e, "store verdict")) return false;
        if (v->kind && !put_transition(s, it, v, now, e)) return false;
    }
    return true;
}

static bool put_envelope(sqlite_store *s, const msgw_store_item *it, msgw_time now, msgw_errors *e)
{
    return !it->envelope || keep_envelope(s, it->seq, it->sender, it->record->message_id, it->envelope_digest,
                                          it->envelope, it->envelope_len, "received", now, e);
}

static bool put_item(sqlite_store *s, msgw_store_item *it, msgw_time now, msgw_errors *e)
{
    if (!it->record) { /* what the calendar or a parameter caused: its messages and verdicts */
        it->seq = 0;
        return put_outbox(s, it, now, e) && put_verdicts(s, it, now, e);
    }
    int found = find_record(s, it, e);
    if (found != 0) return found > 0; /* a replay: the original outcome, nothing written */
    msgw_record copy = *it->record;
    copy.recorded_at = now;
    msgw_buf canonical;
    msgw_buf_init(&canonical);
    msgw_canon_write(&copy, &canonical);
    sqlite3_stmt *st = s->st[ST_RECORD];
    bind_text(st, 1, copy.message_id);
    bind_text(st, 2, copy.kind);
    bind_text(st, 3,
              it->sender ? it->sender : (copy.source_department ? copy.source_department : ""));
    bind_text(st, 4, copy.source_message_id);
    bind_text(st, 5, it->body_digest);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_text(st, 7, canonical.data ? canonical.data : "{}", (int)canonical.len,
                      SQLITE_TRANSIENT);
    msgw_buf_free(&canonical);
    if (!step_done(s, st, e, "store record")) return false;
    it->duplicate = false;
    it->seq = sqlite3_last_insert_rowid(s->db);
    it->recorded_at = now;
    return put_facts(s, &copy, it->seq, now, e) && put_outbox(s, it, now, e) &&
           put_verdicts(s, it, now, e) && put_envelope(s, it, now, e);
}

static bool sqlite_commit(void *impl, msgw_store_item *items, size_t n, msgw_time now,
                          msgw_errors *e)
{
    sqlite_store *s = impl;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s, e, "begin");
    for (size_t i = 0; i < n; i++)
        if (!put_item(s, &items[i], now, e)) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return false;
        }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fail(s, e, "commit");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return false;
    }
    return true;
}

static char *column_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return strdup(t ? (const char *)t : "");
}

/* Reads up to max rows of a due query into out (allocated with room for max), then resets it. */
static bool read_due(sqlite_store *s, sqlite3_stmt *st, size_t max, msgw_store_deliveries *out,
                     msgw_errors *e)
{
    out->v = calloc(max + 1, sizeof *out->v);
    out->n = 0;
    if (!out->v) abort();
    int rc = SQLITE_DONE;
    while (out->n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        msgw_delivery *d = &out->v[out->n++];
        d->id = sqlite3_column_int64(st, 0);
        d->event_id = column_dup(st, 1);
        d->recipient = column_dup(st, 2);
        d->kind = column_dup(st, 3);
        d->media_type = column_dup(st, 4);
        d->person = column_dup(st, 5);
        d->len = (size_t)sqlite3_column_bytes(st, 6);
        d->body = malloc(d->len + 1);
        if (!d->body) abort();
        if (d->len) memcpy(d->body, sqlite3_column_blob(st, 6), d->len);
        ((char *)d->body)[d->len] = '\0';
        d->attempts = sqlite3_column_int(st, 7);
        d->created_at = sqlite3_column_int64(st, 8);
        d->next_at = sqlite3_column_int64(st, 9);
        d->cause = column_dup(st, 10);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE || fail(s, e, "read due deliveries");
}

static bool sqlite_due(void *impl, const char *recipient, msgw_time now, size_t max,
                       msgw_store_deliveries *out, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st = s->st[recipient ? ST_DUE : ST_DUE_ALL];
    if (recipient) sqlite3_bind_text(st, 1, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    return read_due(s, st, max, out, e);
}

/*
 * The due query for n recipients: one subquery per recipient, each walking
 * that recipient's pending messages in id order (the outbox_queue index) up
 * to its own limit, so a long backlog of one recipient neither slows nor
 * starves the others.  ?1 is now, ?(2+2i) recipient i, ?(3+2i) its limit.
 */
static sqlite3_stmt *among_statement(sqlite_store *s, size_t n, msgw_errors *e)
{
    if (n > s->namong) {
        s->among = realloc(s->among, n * sizeof *s->among);
        if (!s->among) abort();
        memset(s->among + s->namong, 0, (n - s->namong) * sizeof *s->among);
        s->namong = n;
    }
    if (s->among[n - 1]) return s->among[n - 1];
    msgw_buf sql;
    msgw_buf_init(&sql);
    for (size_t i = 0; i < n; i++) {
        char part[1024];
        snprintf(part, sizeof part,
                 "%sSELECT * FROM (SELECT o.id, o.event_id, o.recipient, o.kind, o.media_type, "
                 "o.person, o.body, "
                 "o.attempts, o.created_at, o.next_at, o.cause FROM outbox o "
                 "WHERE o.state = 'pending' AND o.recipient = ?%zu AND o.next_at <= ?1 AND o.id = "
                 "(SELECT min(p.id) FROM outbox p WHERE p.state = 'pending' AND p.recipient = "
                 "o.recipient "
                 "AND p.person = o.person) ORDER BY o.id LIMIT ?%zu)",
                 i ? " UNION ALL " : "", 2 + 2 * i, 3 + 2 * i);
        msgw_buf_puts(&sql, part);
    }
    int rc = sqlite3_prepare_v3(s->db, sql.data, (int)sql.len, SQLITE_PREPARE_PERSISTENT,
                                &s->among[n - 1], NULL);
    msgw_buf_free(&sql);
    if (rc != SQLITE_OK) {
        fail(s, e, "prepare due query");
        return NULL;
    }
    return s->among[n - 1];
}

static bool sqlite_due_among(void *impl, const char *const *recipients, const size_t *max, size_t n,
                             msgw_time now, msgw_store_deliveries *out, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st = among_statement(s, n, e);
    if (!st) return false;
    size_t total = 0;
    sqlite3_bind_int64(st, 1, now);
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, (int)(2 + 2 * i), recipients[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, (int)(3 + 2 * i), (sqlite3_int64)max[i]);
        total += max[i];
    }
    return read_due(s, st, total, out, e);
}

/* The id of (recipient, event id): 0 when there is none, -1 on error. */
static int64_t find_event(sqlite_store *s, const char *recipient, const char *event_id,
                          msgw_errors *e)
{
    sqlite3_stmt *st = s->st[ST_FIND_EVENT];
    bind_text(st, 1, recipient);
    bind_text(st, 2, event_id);
    int rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(s, e, "find delivery"), -1;
    return id;
}

static bool settle_one(sqlite_store *s, msgw_settlement *x, msgw_time now, msgw_errors *e)
{
    x->applied = false;
    int64_t id = x->id;
    if (id <= 0 && x->recipient && x->event_id &&
        (id = find_event(s, x->recipient, x->event_id, e)) < 0)
        return false;
    if (id <= 0 || (unsigned)x->outcome > MSGW_SETTLE_INFLIGHT) return true; /* nothing to settle */
    bool finish = x->outcome == MSGW_SETTLE_DELIVERED || x->outcome == MSGW_SETTLE_DEAD;
    bool has_error = x->outcome == MSGW_SETTLE_RETRY || x->outcome == MSGW_SETTLE_DEAD;
    int attempts = x->attempt || x->outcome == MSGW_SETTLE_INFLIGHT ? 1 : 0;
    sqlite3_stmt *st = s->st[finish ? ST_FINISH : ST_RESCHEDULE];
    sqlite3_bind_int64(st, 1, id);
    if (finish) {
        sqlite3_bind_text(st, 2, x->outcome == MSGW_SETTLE_DELIVERED ? "delivered" : "dead", -1,
                          SQLITE_STATIC);
        sqlite3_bind_int(st, 3, attempts);
        bind_text(st, 4, has_error ? x->error : NULL);
        sqlite3_bind_int64(st, 5, now);
    } else {
        sqlite3_bind_int(st, 2, attempts);
        sqlite3_bind_int64(st, 3, x->next_at);
        bind_text(st, 4, has_error ? x->error : NULL);
    }
    if (!step_done(s, st, e, "settle delivery")) return false;
    x->applied = sqlite3_changes(s->db) == 1;
    return true;
}

static bool sqlite_settle(void *impl, msgw_settlement *v, size_t n, msgw_time now, msgw_errors *e)
{
    sqlite_store *s = impl;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s, e, "begin");
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = settle_one(s, &v[i], now, e);
    if (ok && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        ok = fail(s, e, "commit");
    if (!ok) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        for (size_t i = 0; i < n; i++)
            v[i].applied = false; /* nothing of the batch was written */
    }
    return ok;
}

static int64_t scalar(sqlite_store *s, const char *sql, const char *recipient, bool *ok)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        *ok = false;
        return 0;
    }
    bind_text(st, 1, recipient);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        *ok = false;
    sqlite3_finalize(st);
    return v;
}

static bool sqlite_stats(void *impl, const char *recipient, msgw_store_stats *out, msgw_errors *e)
{
    sqlite_store *s = impl;
    bool ok = true;
    out->records =
        scalar(s, "SELECT count(*) FROM records WHERE ?1 IS NULL OR sender = ?1", recipient, &ok);
    out->facts =
        scalar(s, "SELECT count(*) FROM facts WHERE ?1 IS NULL OR department = ?1", recipient, &ok);
    out->pending = scalar(
        s, "SELECT count(*) FROM outbox WHERE state = 'pending' AND (?1 IS NULL OR recipient = ?1)",
        recipient, &ok);
    out->delivered = scalar(
        s,
        "SELECT count(*) FROM outbox WHERE state = 'delivered' AND (?1 IS NULL OR recipient = ?1)",
        recipient, &ok);
    out->dead = scalar(
        s, "SELECT count(*) FROM outbox WHERE state = 'dead' AND (?1 IS NULL OR recipient = ?1)",
        recipient, &ok);
    out->oldest_pending = scalar(s,
                                 "SELECT coalesce(min(created_at), 0) FROM outbox WHERE state = "
                                 "'pending' AND (?1 IS NULL OR recipient = ?1)",
                                 recipient, &ok);
    return ok || fail(s, e, "statistics");
}

/* The database file and its write-ahead log, as the file system counts them. */
static bool sqlite_size(void *impl, int64_t *bytes, msgw_errors *e)
{
    sqlite_store *s = impl;
    (void)e;
    const char *path = sqlite3_db_filename(s->db, "main");
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", path ? path : "");
    struct stat st;
    *bytes = 0;
    if (path && stat(path, &st) == 0) *bytes += st.st_size;
    if (path && stat(wal, &st) == 0) *bytes += st.st_size;
    return true;
}

static int sqlite_known(void *impl, const char *message_id, int64_t *seq, msgw_time *recorded_at,
                        msgw_errors *e)
{
    msgw_record r = {.message_id = message_id};
    msgw_store_item it = {.record = &r};
    int found = find_record(impl, &it, e);
    if (found > 0) {
        if (seq) *seq = it.seq;
        if (recorded_at) *recorded_at = it.recorded_at;
    }
    return found;
}

static bool sqlite_each_record(void *impl, bool (*cb)(void *, int64_t, const char *, msgw_time),
                               void *ud, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT seq, canonical, recorded_at FROM records ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, e, "read records");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (!cb(ud, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                sqlite3_column_int64(st, 2)))
            break;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE || fail(s, e, "read records");
}

/* ---- message trace ---- */

static json_t *column_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: return json_null();
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
    default: return json_string((const char *)sqlite3_column_text(st, i));
    }
}

/* Free text (attribute values, senders' message ids) may embed an ID number (a disability
 * certificate number is one plus two digits): scrubbed like the logs (msgw_idnum_scrub). */
static json_t *scrub_values(json_t *v)
{
    if (json_is_string(v)) {
        char *c = strdup(json_string_value(v));
        if (!c) abort();
        msgw_idnum_scrub(c);
        json_decref(v);
        v = json_string(c);
        free(c);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) json_object_set_new(v, k, scrub_values(json_incref(x)));
    }
    return v;
}

/* Each remaining row of st as an object of its columns, and st finalized.  The columns named in
 * `masked` hold ID numbers, shown as first 6 and last 4 characters; free text that may embed one
 * is scrubbed; "eligible" is a boolean. */
static json_t *rows_of(sqlite3_stmt *st, const char *masked)
{
    json_t *list = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *o = json_object();
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *name = sqlite3_column_name(st, i);
            json_t *v = column_json(st, i);
            if (strcmp(name, "attributes") == 0 && json_is_string(v)) { /* stored as JSON text */
                json_t *parsed = json_loads(json_string_value(v), 0, NULL);
                if (parsed) {
                    json_decref(v);
                    v = scrub_values(parsed);
                }
            }
            if ((strcmp(name, "message_id") == 0 || strcmp(name, "source_message_id") == 0 ||
                 strcmp(name, "cause") == 0 || strcmp(name, "explanation") == 0) &&
                json_is_string(v))
                v = scrub_values(v);
            if (strcmp(name, "eligible") == 0 && json_is_integer(v)) {
                json_t *b = json_boolean(json_integer_value(v) != 0);
                json_decref(v);
                v = b;
            }
            if (masked && strstr(masked, name) && json_is_string(v)) {
                char m[19];
                json_decref(v);
                v = json_string(msgw_idnum_mask((const char *)sqlite3_column_text(st, i), m));
            }
            json_object_set_new(o, name, v);
        }
        json_array_append_new(list, o);
    }
    sqlite3_finalize(st);
    return list;
}

/* Each row of sql (bound to one text and one integer), as rows_of. */
static json_t *rows(sqlite_store *s, const char *sql, const char *text, int64_t num, const char *masked, msgw_errors *e)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail(s, e, "trace");
        return NULL;
    }
    bind_text(st, 1, text);
    sqlite3_bind_int64(st, 2, num);
    return rows_of(st, masked);
}

static bool sqlite_trace(void *impl, const char *message_id, json_t **out, msgw_errors *e)
{
    sqlite_store *s = impl;
    json_t *rec = rows(s,
                       "SELECT seq, message_id, kind, sender, source_message_id, body_digest AS body_sha256, "
                       "recorded_at FROM records WHERE message_id = ?1 AND ?2 = ?2",
                       message_id, 0, NULL, e);
    if (!rec) return false;
    if (!json_array_size(rec)) {
        json_decref(rec);
        return true;
    }
    json_t *r = json_incref(json_array_get(rec, 0));
    json_decref(rec);
    int64_t seq = json_integer_value(json_object_get(r, "seq"));
    json_t *facts = rows(s,
                         "SELECT subject, type, valid_from, valid_to, attributes, department FROM facts "
                         "WHERE record_seq = ?2 AND ?1 IS ?1 ORDER BY id",
                         NULL, seq, "subject", e);
    json_t *verdicts = rows(s,
                            "SELECT person, service, eligible, since, tier, amount, updated_at FROM eligibility "
                            "WHERE record_seq = ?2 AND ?1 IS ?1 ORDER BY person, service",
                            NULL, seq, "person", e);
    json_t *messages = rows(s,
                            "SELECT event_id, recipient, kind, media_type, person, state, attempts, created_at, "
                            "next_at, delivered_at, last_error FROM outbox WHERE record_seq = ?2 OR cause = ?1 "
                            "ORDER BY id",
                            message_id, seq, "person", e);
    if (!facts || !verdicts || !messages) {
        json_decref(r);
        json_decref(facts);
        json_decref(verdicts);
        json_decref(messages);
        return false;
    }
    json_t *envelope = rows(s,
                            "SELECT peer, digest AS signed_sha256, length(body) AS bytes, received_at FROM envelopes "
                            "WHERE record_seq = ?2 AND direction = 'received' AND ?1 IS ?1",
                            NULL, seq, NULL, e);
    if (json_array_size(envelope)) /* it came from a peer gateway: the evidence kept */
        json_object_set(r, "envelope", json_array_get(envelope, 0));
    json_decref(envelope);
    json_object_set_new(r, "outcome", json_string("stored: decoded, validated and committed"));
    json_object_set_new(r, "facts", facts);
    json_object_set_new(r, "verdicts", verdicts);
    json_object_set_new(r, "messages", messages);
    *out = r;
    return true;
}

/* ---- the delivery queues ---- */

static bool queue_counts(sqlite_store *s, json_t *out, const char *sql, const char *count, const char *oldest,
                         msgw_errors *e)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, e, "read queues");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *who = (const char *)sqlite3_column_text(st, 0);
        json_t *q = json_object_get(out, who);
        if (!q) {
            q = json_pack("{s:i,s:i,s:i}", "pending", 0, "oldest_pending", 0, "dead", 0);
            json_object_set_new(out, who, q);
        }
        json_object_set_new(q, count, json_integer(sqlite3_column_int64(st, 1)));
        if (oldest) json_object_set_new(q, oldest, json_integer(sqlite3_column_int64(st, 2)));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || fail(s, e, "read queues");
}

static bool sqlite_queues(void *impl, json_t **out, msgw_errors *e)
{
    sqlite_store *s = impl;
    json_t *q = json_object();
    /* ids grow with time: the smallest pending id is the oldest pending message */
    bool ok = queue_counts(s, q,
                           "SELECT q.recipient, q.n, o.created_at FROM (SELECT recipient, count(*) AS n, min(id) AS "
                           "first FROM outbox INDEXED BY outbox_queue WHERE state = 'pending' GROUP BY recipient) q "
                           "JOIN outbox o ON o.id = q.first",
                           "pending", "oldest_pending", e) &&
              queue_counts(s, q,
                           "SELECT recipient, count(*) FROM outbox INDEXED BY outbox_dead WHERE state = 'dead' "
                           "GROUP BY recipient",
                           "dead", NULL, e);
    if (!ok) json_decref(q);
    else *out = q;
    return ok;
}

/* ---- the transition log ---- */

#define ISO_TIME(col) "strftime('%Y-%m-%dT%H:%M:%fZ', " col " / 1000000.0, 'unixepoch')"

static bool sqlite_transitions(void *impl, const msgw_transition_filter *f, json_t **out, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, " ISO_TIME("at") " AS at, person, service, kind, eligible, tier, amount, "
                           "hukou_region, residence_region, explanation, cause FROM transitions "
                           "WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR substr(hukou_region, 1, "
                           "length(?2)) = ?2 OR substr(residence_region, 1, length(?2)) = ?2) AND "
                           "(?3 IS NULL OR person = ?3) ORDER BY id DESC LIMIT ?4",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, e, "read transitions");
    bind_text(st, 1, f->service && *f->service ? f->service : NULL);
    bind_text(st, 2, f->district && *f->district ? f->district : NULL);
    bind_text(st, 3, f->person);
    sqlite3_bind_int64(st, 4, f->max ? (int64_t)f->max : 100);
    *out = rows_of(st, "person");
    return true;
}

static bool sqlite_person(void *impl, const char *person, json_t **out, msgw_errors *e)
{
    sqlite_store *s = impl;
    json_t *verdicts = rows(s,
                            "SELECT service, eligible, CASE WHEN since IS NULL THEN NULL ELSE date(since * 86400, "
                            "'unixepoch') END AS since, tier, amount, " ISO_TIME("updated_at") " AS updated_at "
                            "FROM eligibility WHERE person = ?1 AND ?2 = ?2 ORDER BY service",
                            person, 0, NULL, e);
    json_t *records = rows(s,
                           "SELECT r.message_id, r.kind, r.sender, " ISO_TIME("r.recorded_at") " AS recorded_at "
                           "FROM records r WHERE r.seq IN (SELECT record_seq FROM facts WHERE subject = ?1) "
                           "ORDER BY r.seq DESC LIMIT ?2",
                           person, 50, NULL, e);
    json_t *transitions = NULL;
    msgw_transition_filter f = {.person = person, .max = 50};
    bool ok = verdicts && records && sqlite_transitions(s, &f, &transitions, e);
    if (ok && (json_array_size(verdicts) || json_array_size(records) || json_array_size(transitions))) {
        char m[19];
        *out = json_pack("{s:s,s:O,s:O,s:O}", "person", msgw_idnum_mask(person, m), "verdicts", verdicts, "records",
                         records, "transitions", transitions);
    }
    json_decref(verdicts);
    json_decref(records);
    json_decref(transitions);
    return ok;
}

/* ---- dead letters ---- */

static bool sqlite_dead_letters(void *impl, size_t max, json_t **out, msgw_errors *e)
{
    sqlite_store *s = impl;
    *out = rows(s,
                "SELECT id, event_id, recipient, kind, person, cause, attempts, created_at, next_at AS last_attempt_at, "
                "last_error FROM outbox WHERE state = 'dead' AND ?1 IS ?1 ORDER BY id LIMIT ?2",
                NULL, (int64_t)max, "person", e);
    return *out != NULL;
}

static int sqlite_replay(void *impl, int64_t id, size_t limit, msgw_time now, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE outbox SET state = 'pending', attempts = 0, next_at = ?2, last_error = NULL "
                           "WHERE id IN (SELECT id FROM outbox WHERE state = 'dead' AND (?1 = 0 OR id = ?1) "
                           "ORDER BY id LIMIT ?3)",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, e, "replay"), -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(s, e, "replay"), -1;
    return sqlite3_changes(s->db);
}

/* ---- retention ---- */

static bool delete_before(sqlite_store *s, const char *sql, msgw_time t1, msgw_time t2, int64_t *removed,
                          msgw_errors *e)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, e, "prune");
    sqlite3_bind_int64(st, 1, t1);
    sqlite3_bind_int64(st, 2, t2);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(s, e, "prune");
    *removed += sqlite3_changes(s->db);
    return true;
}

static bool sqlite_prune(void *impl, const msgw_store_retention *r, int64_t *removed, msgw_errors *e)
{
    sqlite_store *s = impl;
    if (!delete_before(s,
                       "DELETE FROM outbox WHERE (state = 'delivered' AND ?1 > 0 AND delivered_at < ?1) OR "
                       "(state = 'dead' AND ?2 > 0 AND created_at < ?2)",
                       r->delivered_before, r->dead_before, removed, e) ||
        !delete_before(s, "DELETE FROM transitions WHERE ?1 > 0 AND at < ?1 AND ?2 = ?2", r->transitions_before, 0,
                       removed, e))
        return false;
    /* the freed pages back to the file system, a bounded amount at a time */
    if (*removed && sqlite3_exec(s->db, "PRAGMA incremental_vacuum(100000)", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s, e, "vacuum");
    return true;
}

/* The records to forget into temp table doomed: old, no longer needed by the state, and no outbox
 * message left that refers to them. */
static bool choose_doomed(sqlite_store *s, msgw_time before, bool (*live)(void *, const char *), void *ud,
                          msgw_errors *e)
{
    sqlite3_stmt *sel, *ins;
    if (sqlite3_exec(s->db,
                     "CREATE TEMP TABLE IF NOT EXISTS doomed(seq INTEGER PRIMARY KEY); DELETE FROM temp.doomed;"
                     "CREATE TEMP TABLE IF NOT EXISTS referred(seq INTEGER PRIMARY KEY); DELETE FROM temp.referred;"
                     "INSERT OR IGNORE INTO temp.referred SELECT record_seq FROM outbox WHERE record_seq IS NOT NULL",
                     NULL, NULL, NULL) != SQLITE_OK)
        return fail(s, e, "prune records");
    if (sqlite3_prepare_v2(s->db,
                           "SELECT seq, message_id FROM records WHERE recorded_at < ?1 AND seq NOT IN temp.referred",
                           -1, &sel, NULL) != SQLITE_OK)
        return fail(s, e, "prune records");
    if (sqlite3_prepare_v2(s->db, "INSERT INTO temp.doomed(seq) VALUES (?1)", -1, &ins, NULL) != SQLITE_OK) {
        sqlite3_finalize(sel);
        return fail(s, e, "prune records");
    }
    sqlite3_bind_int64(sel, 1, before);
    int rc;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        if (live(ud, (const char *)sqlite3_column_text(sel, 1))) continue;
        sqlite3_bind_int64(ins, 1, sqlite3_column_int64(sel, 0));
        if (sqlite3_step(ins) != SQLITE_DONE) break;
        sqlite3_reset(ins);
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    return rc == SQLITE_DONE || fail(s, e, "prune records");
}

static bool sqlite_prune_records(void *impl, msgw_time before, bool (*live)(void *, const char *), void *ud,
                                 int64_t *removed, msgw_errors *e)
{
    sqlite_store *s = impl;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return fail(s, e, "prune records");
    bool ok = choose_doomed(s, before, live, ud, e) &&
              sqlite3_exec(s->db,
                           "UPDATE eligibility SET record_seq = NULL WHERE record_seq IN temp.doomed;"
                           "UPDATE transitions SET record_seq = NULL WHERE record_seq IN temp.doomed;"
                           "DELETE FROM envelopes WHERE record_seq IN temp.doomed;"
                           "DELETE FROM facts WHERE record_seq IN temp.doomed;"
                           "DELETE FROM records WHERE seq IN temp.doomed;",
                           NULL, NULL, NULL) == SQLITE_OK;
    if (ok) *removed = sqlite3_changes(s->db);
    if (!ok) {
        fail(s, e, "prune records");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return false;
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return fail(s, e, "prune records");
    }
    if (*removed && sqlite3_exec(s->db, "PRAGMA incremental_vacuum(100000)", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s, e, "vacuum");
    return true;
}

static bool sqlite_meta(void *impl, const char *key, int64_t *value, bool set, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    const char *sql = set ? "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2"
                          : "SELECT value FROM meta WHERE key = ?1";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, e, "meta");
    bind_text(st, 1, key);
    if (set) sqlite3_bind_int64(st, 2, *value);
    int rc = sqlite3_step(st);
    bool found = rc == SQLITE_ROW;
    if (found) *value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(s, e, "meta");
    return set || found;
}

static bool sqlite_each_verdict(void *impl, const char *person,
                                bool (*cb)(void *, const msgw_store_verdict *), void *ud,
                                msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT person, service, eligible, since, tier, amount, updated_at FROM "
                           "eligibility WHERE ?1 IS NULL OR person = ?1 ORDER BY person, service",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, e, "read verdicts");
    bind_text(st, 1, person);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        msgw_store_verdict v = {
            .person = (const char *)sqlite3_column_text(st, 0),
            .service = (const char *)sqlite3_column_text(st, 1),
            .eligible = sqlite3_column_int(st, 2) != 0,
            .since = sqlite3_column_type(st, 3) == SQLITE_NULL ? MSGW_DATE_NONE
                                                                : (msgw_date)sqlite3_column_int64(st, 3),
            .tier = (const char *)sqlite3_column_text(st, 4),
            .amount = sqlite3_column_type(st, 5) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(st, 5),
            .updated_at = sqlite3_column_int64(st, 6)};
        if (!cb(ud, &v)) break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE || fail(s, e, "read verdicts");
}

const msgw_store_backend msgw_store_sqlite = {
    .each_verdict = sqlite_each_verdict,
    .transitions = sqlite_transitions,
    .person = sqlite_person,
    .queues = sqlite_queues,
    .meta = sqlite_meta,
    .prune_records = sqlite_prune_records,
    .trace = sqlite_trace,
    .dead_letters = sqlite_dead_letters,
    .replay = sqlite_replay,
    .prune = sqlite_prune,
    .known = sqlite_known,
    .each_record = sqlite_each_record,
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .commit = sqlite_commit,
    .due = sqlite_due,
    .due_among = sqlite_due_among,
    .settle = sqlite_settle,
    .stats = sqlite_stats,
    .size = sqlite_size,
};
