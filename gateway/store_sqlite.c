/*
 * The SQLite store backend, the embedded default.  Durability: WAL journal
 * with synchronous=FULL, so every commit is fsynced before it returns and an
 * acknowledged record survives power loss (docs/store.md).  One connection,
 * statements prepared once; the caller serialises access (the daemon's
 * single writer thread does group commit through msgw_store_commit).
 */
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/buf.h"
#include "msgw/canon.h"
#include "msgw/store.h"

enum {
    ST_FIND, ST_RECORD, ST_FACT, ST_OUTBOX, ST_DUE, ST_DUE_ALL, ST_DELIVERED, ST_RETRY, ST_DEAD,
    ST_COUNT
};

static const char *const sql_text[ST_COUNT] = {
    [ST_FIND] = "SELECT seq, recorded_at FROM records WHERE message_id = ?1",
    [ST_RECORD] = "INSERT INTO records(message_id, kind, sender, source_message_id, body_digest, "
                  "recorded_at, canonical) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_FACT] = "INSERT INTO facts(record_seq, subject, type, valid_from, valid_to, attributes, "
                "department, message_id, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* an event already queued for that recipient is not queued twice; any other violation fails */
    [ST_OUTBOX] = "INSERT INTO outbox(event_id, recipient, kind, media_type, person, body, "
                  "record_seq, created_at, next_at, cause) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9) "
                  "ON CONFLICT (recipient, event_id) DO NOTHING",
    /* the oldest pending message of each (recipient, person), if due */
    [ST_DUE] = "SELECT o.id, o.event_id, o.recipient, o.kind, o.media_type, o.person, o.body, "
               "o.attempts, o.created_at, o.next_at, o.cause FROM outbox o "
               "WHERE o.state = 'pending' AND o.recipient = ?1 AND o.next_at <= ?2 AND o.id = "
               "(SELECT min(p.id) FROM outbox p WHERE p.state = 'pending' AND p.recipient = o.recipient "
               "AND p.person = o.person) ORDER BY o.id LIMIT ?3",
    [ST_DUE_ALL] = "SELECT o.id, o.event_id, o.recipient, o.kind, o.media_type, o.person, o.body, "
                   "o.attempts, o.created_at, o.next_at, o.cause FROM outbox o "
                   "WHERE o.state = 'pending' AND o.next_at <= ?2 AND o.id = "
                   "(SELECT min(p.id) FROM outbox p WHERE p.state = 'pending' AND p.recipient = o.recipient "
                   "AND p.person = o.person) ORDER BY o.id LIMIT ?3",
    [ST_DELIVERED] = "UPDATE outbox SET state = 'delivered', delivered_at = ?2, attempts = attempts + 1 "
                     "WHERE id = ?1 AND state = 'pending'",
    [ST_RETRY] = "UPDATE outbox SET attempts = attempts + 1, next_at = ?2, last_error = ?3 "
                 "WHERE id = ?1 AND state = 'pending'",
    [ST_DEAD] = "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?2 "
                "WHERE id = ?1 AND state = 'pending'",
};

static const char schema_sql[] =
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
    "CREATE TABLE IF NOT EXISTS outbox("
    " id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, recipient TEXT NOT NULL, kind TEXT NOT NULL,"
    " media_type TEXT NOT NULL, person TEXT NOT NULL DEFAULT '', body BLOB NOT NULL,"
    " record_seq INTEGER REFERENCES records(seq),"
    " state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),"
    " attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, next_at INTEGER NOT NULL,"
    " delivered_at INTEGER, last_error TEXT, cause TEXT, UNIQUE (recipient, event_id));"
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(state, recipient, person, id);";

typedef struct sqlite_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
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
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
}

static void *sqlite_open(const char *path, msgw_errors *e)
{
    sqlite_store *s = calloc(1, sizeof *s);
    if (!s) abort();
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        msgw_error_add(e, -1, path, NULL, "store.open", "cannot open the store: %s",
                       s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sqlite_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(s->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        msgw_error_add(e, -1, path, NULL, "store.schema", "cannot prepare the store: %s", msg ? msg : "?");
        sqlite3_free(msg);
        sqlite_close(s);
        return NULL;
    }
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK) {
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
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

static void bind_date(sqlite3_stmt *st, int i, msgw_date d)
{
    if (d == MSGW_DATE_NONE) sqlite3_bind_null(st, i);
    else sqlite3_bind_int(st, i, d);
}

/* A fact's attributes as the JSON object they have in the canonical form. */
static char *attributes_json(const msgw_fact *f)
{
    json_t *o = json_object();
    for (size_t i = 0; i < f->nattrs; i++) json_object_set_new(o, f->attrs[i].name, msgw_canon_value(&f->attrs[i].v));
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

static bool put_facts(sqlite_store *s, const msgw_record *r, int64_t seq, msgw_time now, msgw_errors *e)
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
        sqlite3_bind_int64(st, 7, it->seq);
        sqlite3_bind_int64(st, 8, now);
        bind_text(st, 9, m->cause);
        if (!step_done(s, st, e, "store outbox message")) return false;
    }
    return true;
}

static bool put_item(sqlite_store *s, msgw_store_item *it, msgw_time now, msgw_errors *e)
{
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
    bind_text(st, 3, it->sender ? it->sender : (copy.source_department ? copy.source_department : ""));
    bind_text(st, 4, copy.source_message_id);
    bind_text(st, 5, it->body_digest);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_text(st, 7, canonical.data ? canonical.data : "{}", (int)canonical.len, SQLITE_TRANSIENT);
    msgw_buf_free(&canonical);
    if (!step_done(s, st, e, "store record")) return false;
    it->duplicate = false;
    it->seq = sqlite3_last_insert_rowid(s->db);
    it->recorded_at = now;
    return put_facts(s, &copy, it->seq, now, e) && put_outbox(s, it, now, e);
}

static bool sqlite_commit(void *impl, msgw_store_item *items, size_t n, msgw_time now, msgw_errors *e)
{
    sqlite_store *s = impl;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return fail(s, e, "begin");
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

static bool sqlite_due(void *impl, const char *recipient, msgw_time now, size_t max, msgw_store_deliveries *out,
                       msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st = s->st[recipient ? ST_DUE : ST_DUE_ALL];
    if (recipient) sqlite3_bind_text(st, 1, recipient, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    out->v = calloc(max + 1, sizeof *out->v);
    out->n = 0;
    if (!out->v) abort();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && out->n < max) {
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

static bool update(sqlite_store *s, int which, int64_t id, int64_t t, const char *text, msgw_errors *e)
{
    sqlite3_stmt *st = s->st[which];
    sqlite3_bind_int64(st, 1, id);
    if (which == ST_DEAD) bind_text(st, 2, text);
    else sqlite3_bind_int64(st, 2, t);
    if (which == ST_RETRY) bind_text(st, 3, text);
    if (!step_done(s, st, e, "update delivery")) return false;
    if (sqlite3_changes(s->db) == 1) return true;
    msgw_error_add(e, -1, "store", NULL, "store.delivery", "delivery %lld is not pending", (long long)id);
    return false;
}

static bool sqlite_delivered(void *impl, int64_t id, msgw_time now, msgw_errors *e)
{
    return update(impl, ST_DELIVERED, id, now, NULL, e);
}

static bool sqlite_retry(void *impl, int64_t id, msgw_time next_at, const char *error, msgw_errors *e)
{
    return update(impl, ST_RETRY, id, next_at, error, e);
}

static bool sqlite_dead(void *impl, int64_t id, const char *error, msgw_errors *e)
{
    return update(impl, ST_DEAD, id, 0, error, e);
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
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    else *ok = false;
    sqlite3_finalize(st);
    return v;
}

static bool sqlite_stats(void *impl, const char *recipient, msgw_store_stats *out, msgw_errors *e)
{
    sqlite_store *s = impl;
    bool ok = true;
    out->records = scalar(s, "SELECT count(*) FROM records WHERE ?1 IS NULL OR sender = ?1", recipient, &ok);
    out->facts = scalar(s, "SELECT count(*) FROM facts WHERE ?1 IS NULL OR department = ?1", recipient, &ok);
    out->pending = scalar(s, "SELECT count(*) FROM outbox WHERE state = 'pending' AND (?1 IS NULL OR recipient = ?1)",
                          recipient, &ok);
    out->delivered = scalar(s, "SELECT count(*) FROM outbox WHERE state = 'delivered' AND (?1 IS NULL OR recipient = ?1)",
                            recipient, &ok);
    out->dead = scalar(s, "SELECT count(*) FROM outbox WHERE state = 'dead' AND (?1 IS NULL OR recipient = ?1)",
                       recipient, &ok);
    out->oldest_pending = scalar(
        s, "SELECT coalesce(min(created_at), 0) FROM outbox WHERE state = 'pending' AND (?1 IS NULL OR recipient = ?1)",
        recipient, &ok);
    return ok || fail(s, e, "statistics");
}

static int sqlite_known(void *impl, const char *message_id, int64_t *seq, msgw_time *recorded_at, msgw_errors *e)
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

static bool sqlite_each_record(void *impl, bool (*cb)(void *, int64_t, const char *, msgw_time), void *ud,
                               msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT seq, canonical, recorded_at FROM records ORDER BY seq", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, e, "read records");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (!cb(ud, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2)))
            break;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE || fail(s, e, "read records");
}

const msgw_store_backend msgw_store_sqlite = {
    .known = sqlite_known,
    .each_record = sqlite_each_record,
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .commit = sqlite_commit,
    .due = sqlite_due,
    .delivered = sqlite_delivered,
    .retry = sqlite_retry,
    .dead_letter = sqlite_dead,
    .stats = sqlite_stats,
};
