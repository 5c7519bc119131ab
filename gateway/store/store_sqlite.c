/*
 * The SQLite store backend, the embedded default.  Durability: WAL journal
 * with synchronous=FULL, so every commit is fsynced before it returns and an
 * acknowledged record survives power loss (docs/store.md).  A deliverer's
 * connection (MSGW_STORE_DELIVERY) runs synchronous=NORMAL: its commits
 * reach the WAL without an fsync of their own, so a power loss may forget
 * the last delivery marks (the messages are sent again), never a record.
 * One connection, statements prepared once; the caller serialises access
 * (the daemon's single writer thread does group commit through
 * msgw_store_commit).  This file is the connection and the write path; the
 * administrators' and the trace's queries are store_sqlite_query.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msgw/base/buf.h"
#include "msgw/base/clock.h"
#include "msgw/model/canon.h"
#include "schema.h"
#include "store_sqlite.h"

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
        "record_seq, created_at, next_at, cause, basis) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10) "
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

/* What every connection sets before anything else; the tables are the schema's steps
 * (migrations/sqlite/, applied by sqlite_migrate). */
static const char connection_sql[] =
    /* before the first table: freed pages can be returned to the file system (a store made before
     * this setting keeps its pages for reuse instead) */
    "PRAGMA auto_vacuum = INCREMENTAL;"
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = FULL;"
    "PRAGMA foreign_keys = ON;";

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

/* How long a connection waits for another's write lock before the store reports it busy. */
#define BUSY_TIMEOUT_US 5000000

/*
 * Waiting for the write lock.  SQLite's own busy timeout sleeps 1, 2, 5, 10, 15, 20, 25, 25 ms
 * ... between tries; the lock is mostly the writer's commit, an fsync of a few milliseconds, so a
 * deliverer's settlement that met one slept far past its end (the notices' latency at load was
 * made of such sleeps).  Here the pause starts short and doubles to a few hundred microseconds
 * (the writer: it carries every push) or 2 ms (a deliverer: its settlements are many and small,
 * and the writer should find the lock free first).
 */
static int busy_wait(void *arg, int count)
{
    sqlite_store *s = arg;
    msgw_time now = msgw_clock_monotonic(); /* a clock set back must not stretch the wait */
    if (count == 0) s->busy_since = now;
    if (now - s->busy_since > BUSY_TIMEOUT_US) return 0;
    unsigned us = count < 8 ? s->busy_first_us << count : s->busy_max_us;
    usleep(us < s->busy_max_us ? us : s->busy_max_us);
    return 1;
}

/* ---- schema versions (schema.h) ---- */

/* 1 when the table name exists, 0 when not, -1 on error. */
static int has_table(sqlite_store *s, const char *name, msgw_errors *e)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(s, e, "schema version"), -1;
    sqlite_bind_text(st, 1, name);
    int rc = sqlite3_step(st), n = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (n < 0) sqlite_fail(s, e, "schema version");
    return n < 0 ? -1 : n > 0;
}

/* The highest recorded version; a store made before versions (its tables, no schema_version) is
 * version 1, whose step is what made it. */
static int sqlite_schema_version(void *impl, msgw_errors *e)
{
    sqlite_store *s = impl;
    int versioned = has_table(s, "schema_version", e);
    if (versioned <= 0) return versioned < 0 ? -1 : has_table(s, "records", e);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &st,
                           NULL) != SQLITE_OK)
        return sqlite_fail(s, e, "schema version"), -1;
    int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (v < 0) sqlite_fail(s, e, "schema version");
    return v;
}

/* The write lock (BEGIN IMMEDIATE) keeps another connection from migrating at once. */
static bool schema_begin(void *impl, msgw_errors *e)
{
    sqlite_store *s = impl;
    return sqlite3_exec(s->db,
                        "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS schema_version("
                        "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                        NULL, NULL, NULL) == SQLITE_OK ||
           sqlite_fail(s, e, "migrate");
}

static bool schema_apply(void *impl, int version, const char *sql, msgw_errors *e)
{
    sqlite_store *s = impl;
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        msgw_error_add(e, -1, "store", NULL, "store.schema", "schema step %d: %s", version,
                       msg ? msg : "?");
        sqlite3_free(msg);
        return false;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO schema_version(version, applied_at) VALUES (?1, ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(s, e, "migrate");
    sqlite3_bind_int(st, 1, version);
    sqlite3_bind_int64(st, 2, msgw_time_now());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || sqlite_fail(s, e, "migrate");
}

static bool schema_end(void *impl, bool ok, msgw_errors *e)
{
    sqlite_store *s = impl;
    if (ok && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) return true;
    if (ok) sqlite_fail(s, e, "migrate");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return false;
}

static const store_schema_ops sqlite_schema = {
    .backend = "sqlite",
    .version = sqlite_schema_version,
    .begin = schema_begin,
    .apply = schema_apply,
    .end = schema_end,
};

static bool sqlite_migrate(void *impl, int *before, int *after, msgw_errors *e)
{
    return store_schema_migrate(&sqlite_schema, impl, before, after, e);
}

/* The schema brought to this build's version, then the write path's statements prepared. */
static bool sqlite_ready(sqlite_store *s, msgw_errors *e)
{
    if (!sqlite_migrate(s, NULL, NULL, e)) return false;
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK)
            return sqlite_fail(s, e, "prepare");
    return true;
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
    bool deliverer = flags & MSGW_STORE_DELIVERY;
    s->busy_first_us = deliverer ? 250 : 50;
    s->busy_max_us = deliverer ? 2000 : 400;
    sqlite3_busy_handler(s->db, busy_wait, s);
    char *msg = NULL;
    if (sqlite3_exec(s->db, connection_sql, NULL, NULL, &msg) != SQLITE_OK) {
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
        sqlite_fail(s, e, "synchronous");
        sqlite_close(s);
        return NULL;
    }
    /* as it is: only its schema version is read or migrated (msgw store) */
    if (!(flags & MSGW_STORE_AS_IS) && !sqlite_ready(s, e)) {
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
    return rc == SQLITE_DONE || sqlite_fail(s, e, what);
}

static void bind_date(sqlite3_stmt *st, int i, msgw_date d)
{
    if (d == MSGW_DATE_NONE)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int(st, i, d);
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
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_fail(s, e, "find record"), -1;
    return rc == SQLITE_ROW;
}

static bool put_facts(sqlite_store *s, const msgw_record *r, int64_t seq, msgw_time now,
                      msgw_errors *e)
{
    sqlite3_stmt *st = s->st[ST_FACT];
    for (size_t i = 0; i < r->nfacts; i++) {
        const msgw_fact *f = &r->facts[i];
        char *attrs = msgw_store_fact_attributes(f);
        sqlite3_bind_int64(st, 1, seq);
        sqlite_bind_text(st, 2, f->subject);
        sqlite_bind_text(st, 3, f->type);
        bind_date(st, 4, f->valid_from);
        bind_date(st, 5, f->valid_to);
        sqlite3_bind_text(st, 6, attrs, -1, SQLITE_TRANSIENT);
        sqlite_bind_text(st, 7, r->source_department ? r->source_department : "");
        sqlite_bind_text(st, 8, r->message_id);
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
    sqlite_bind_text(st, 2, peer);
    sqlite_bind_text(st, 3, message_id ? message_id : "");
    sqlite_bind_text(st, 4, digest);
    sqlite3_bind_blob(st, 5, body, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now);
    sqlite_bind_text(st, 7, direction);
    return step_done(s, st, e, "store envelope");
}

static bool put_outbox(sqlite_store *s, const msgw_store_item *it, msgw_time now, msgw_errors *e)
{
    sqlite3_stmt *st = s->st[ST_OUTBOX];
    for (size_t i = 0; i < it->noutbox; i++) {
        const msgw_outbox_msg *m = &it->outbox[i];
        sqlite_bind_text(st, 1, m->event_id);
        sqlite_bind_text(st, 2, m->recipient);
        sqlite_bind_text(st, 3, m->kind);
        sqlite_bind_text(st, 4, m->media_type);
        sqlite_bind_text(st, 5, m->person ? m->person : "");
        sqlite3_bind_blob(st, 6, m->body ? m->body : "", (int)m->len, SQLITE_STATIC);
        if (it->record) sqlite3_bind_int64(st, 7, it->seq);
        else sqlite3_bind_null(st, 7); /* caused by no record: the calendar, a parameter */
        sqlite3_bind_int64(st, 8, now);
        sqlite_bind_text(st, 9, m->cause);
        sqlite_bind_text(st, 10, m->basis);
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
    sqlite_bind_text(st, 2, v->person);
    sqlite_bind_text(st, 3, v->service);
    sqlite_bind_text(st, 4, v->kind);
    sqlite3_bind_int(st, 5, v->eligible);
    sqlite_bind_text(st, 6, v->tier);
    if (v->amount == INT64_MIN) sqlite3_bind_null(st, 7);
    else sqlite3_bind_int64(st, 7, v->amount);
    sqlite_bind_text(st, 8, v->hukou_region);
    sqlite_bind_text(st, 9, v->residence_region);
    sqlite_bind_text(st, 10, v->explanation);
    sqlite_bind_text(st, 11, it->record ? it->record->message_id : NULL);
    if (it->record) sqlite3_bind_int64(st, 12, it->seq);
    else sqlite3_bind_null(st, 12);
    return step_done(s, st, e, "store transition");
}

static bool put_verdicts(sqlite_store *s, const msgw_store_item *it, msgw_time now, msgw_errors *e)
{
    sqlite3_stmt *st = s->st[ST_VERDICT];
    for (size_t i = 0; i < it->nverdicts; i++) {
        const msgw_store_verdict *v = &it->verdicts[i];
        sqlite_bind_text(st, 1, v->person);
        sqlite_bind_text(st, 2, v->service);
        sqlite3_bind_int(st, 3, v->eligible);
        bind_date(st, 4, v->eligible ? v->since : MSGW_DATE_NONE);
        sqlite_bind_text(st, 5, v->tier);
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
    sqlite_bind_text(st, 1, copy.message_id);
    sqlite_bind_text(st, 2, copy.kind);
    sqlite_bind_text(
        st, 3, it->sender ? it->sender : (copy.source_department ? copy.source_department : ""));
    sqlite_bind_text(st, 4, copy.source_message_id);
    sqlite_bind_text(st, 5, it->body_digest);
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
        return sqlite_fail(s, e, "begin");
    for (size_t i = 0; i < n; i++)
        if (!put_item(s, &items[i], now, e)) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return false;
        }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite_fail(s, e, "commit");
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
    return rc == SQLITE_ROW || rc == SQLITE_DONE || sqlite_fail(s, e, "read due deliveries");
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
        sqlite_fail(s, e, "prepare due query");
        return NULL;
    }
    return s->among[n - 1];
}

/* One statement per call: the prepared query for every recipient (the default, for one and for all)
 * or the one made for n of them. */
static bool sqlite_due(void *impl, const char *const *recipients, const size_t *max, size_t n,
                       msgw_time now, msgw_store_deliveries *out, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    size_t total = 0;
    if (!recipients || n == 1) {
        st = s->st[recipients ? ST_DUE : ST_DUE_ALL];
        if (recipients) sqlite3_bind_text(st, 1, recipients[0], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)max[0]);
        return read_due(s, st, max[0], out, e);
    }
    if (!(st = among_statement(s, n, e))) return false;
    sqlite3_bind_int64(st, 1, now);
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, (int)(2 + 2 * i), recipients[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, (int)(3 + 2 * i), (sqlite3_int64)max[i]);
        total += max[i];
    }
    return read_due(s, st, total, out, e);
}

/* The id of (recipient, event id): 0 when there is none, -1 on error. */
static int64_t find_event(void *impl, const char *recipient, const char *event_id,
                          msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st = s->st[ST_FIND_EVENT];
    sqlite_bind_text(st, 1, recipient);
    sqlite_bind_text(st, 2, event_id);
    int rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_fail(s, e, "find delivery"), -1;
    return id;
}

static bool settle_one(sqlite_store *s, msgw_settlement *x, msgw_time now, msgw_errors *e)
{
    msgw_settle_write w;
    int64_t id = msgw_store_settle_plan(s, x, find_event, &w, e);
    if (id <= 0) return id == 0; /* nothing to settle, or an error */
    sqlite3_stmt *st = s->st[w.state ? ST_FINISH : ST_RESCHEDULE];
    sqlite3_bind_int64(st, 1, id);
    if (w.state) {
        sqlite3_bind_text(st, 2, w.state, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, w.attempts);
        sqlite_bind_text(st, 4, w.error);
        sqlite3_bind_int64(st, 5, now);
    } else {
        sqlite3_bind_int(st, 2, w.attempts);
        sqlite3_bind_int64(st, 3, x->next_at);
        sqlite_bind_text(st, 4, w.error);
    }
    if (!step_done(s, st, e, "settle delivery")) return false;
    x->applied = sqlite3_changes(s->db) == 1;
    return true;
}

static bool sqlite_settle(void *impl, msgw_settlement *v, size_t n, msgw_time now, msgw_errors *e)
{
    sqlite_store *s = impl;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sqlite_fail(s, e, "begin");
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = settle_one(s, &v[i], now, e);
    if (ok && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        ok = sqlite_fail(s, e, "commit");
    if (!ok) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        for (size_t i = 0; i < n; i++)
            v[i].applied = false; /* nothing of the batch was written */
    }
    return ok;
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
        return sqlite_fail(s, e, "read records");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (!cb(ud, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                sqlite3_column_int64(st, 2)))
            break;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE || sqlite_fail(s, e, "read records");
}

/* ---- retention ---- */

static bool delete_before(sqlite_store *s, const char *sql, msgw_time t1, msgw_time t2, int64_t *removed,
                          msgw_errors *e)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(s, e, "prune");
    sqlite3_bind_int64(st, 1, t1);
    sqlite3_bind_int64(st, 2, t2);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sqlite_fail(s, e, "prune");
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
        return sqlite_fail(s, e, "vacuum");
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
        return sqlite_fail(s, e, "prune records");
    if (sqlite3_prepare_v2(s->db,
                           "SELECT seq, message_id FROM records WHERE recorded_at < ?1 AND seq NOT IN temp.referred",
                           -1, &sel, NULL) != SQLITE_OK)
        return sqlite_fail(s, e, "prune records");
    if (sqlite3_prepare_v2(s->db, "INSERT INTO temp.doomed(seq) VALUES (?1)", -1, &ins, NULL) != SQLITE_OK) {
        sqlite3_finalize(sel);
        return sqlite_fail(s, e, "prune records");
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
    return rc == SQLITE_DONE || sqlite_fail(s, e, "prune records");
}

static bool sqlite_prune_records(void *impl, msgw_time before, bool (*live)(void *, const char *), void *ud,
                                 int64_t *removed, msgw_errors *e)
{
    sqlite_store *s = impl;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sqlite_fail(s, e, "prune records");
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
        sqlite_fail(s, e, "prune records");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return false;
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return sqlite_fail(s, e, "prune records");
    }
    if (*removed && sqlite3_exec(s->db, "PRAGMA incremental_vacuum(100000)", NULL, NULL, NULL) != SQLITE_OK)
        return sqlite_fail(s, e, "vacuum");
    return true;
}

static bool sqlite_meta_get(void *impl, const char *key, int64_t *value, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return sqlite_fail(s, e, "meta");
    sqlite_bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_fail(s, e, "meta");
    return rc == SQLITE_ROW;
}

static bool sqlite_meta_set(void *impl, const char *key, int64_t value, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT (key) DO "
                           "UPDATE SET value = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return sqlite_fail(s, e, "meta");
    sqlite_bind_text(st, 1, key);
    sqlite3_bind_int64(st, 2, value);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || sqlite_fail(s, e, "meta");
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
        return sqlite_fail(s, e, "read verdicts");
    sqlite_bind_text(st, 1, person);
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
    return rc == SQLITE_ROW || rc == SQLITE_DONE || sqlite_fail(s, e, "read verdicts");
}

static const msgw_store_ops sqlite_ops = {
    .open = sqlite_open,
    .close = sqlite_close,
    .commit = sqlite_commit,
    .known = sqlite_known,
    .due = sqlite_due,
    .settle = sqlite_settle,
    .each_record = sqlite_each_record,
    .each_verdict = sqlite_each_verdict,
    .meta_get = sqlite_meta_get,
    .meta_set = sqlite_meta_set,
    .prune = sqlite_prune,
    .prune_records = sqlite_prune_records,
    .schema_version = sqlite_schema_version,
    .migrate = sqlite_migrate,
};

const msgw_store_backend msgw_store_sqlite = {
    .name = "sqlite",
    .ops = &sqlite_ops,
    .query = &msgw_sqlite_query,
};
