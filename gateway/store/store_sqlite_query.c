/*
 * The SQLite backend's query side (msgw/store/query.h): a message's trace,
 * the records about a person, the transition log, dead letters and their
 * replay, the delivery queues, counts and the size on disk.  Each answer is
 * typed rows in the caller's arena, as stored: masking, field names and time
 * formats are the presentation's (gateway/admin/present.c).  These statements
 * run on an administrator's request, not on the write path, so they are
 * prepared when used.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store_sqlite.h"

/* Prepares sql; false with the error named after what. */
static bool prepare(sqlite_store *s, const char *sql, sqlite3_stmt **st, msgw_errors *e,
                    const char *what)
{
    return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK || sqlite_fail(s, e, what);
}

/* Ends a query: st finalized; false, with the error, when the last step was not its end. */
static bool finish(sqlite_store *s, sqlite3_stmt *st, int rc, msgw_errors *e, const char *what)
{
    bool ok = rc == SQLITE_DONE || sqlite_fail(s, e, what);
    sqlite3_finalize(st);
    return ok;
}

/* Column i as a string in a; NULL for SQL NULL. */
static const char *text(msgw_arena *a, sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? msgw_arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

static bool is_null(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL;
}

static msgw_date date_col(sqlite3_stmt *st, int i)
{
    return is_null(st, i) ? MSGW_DATE_NONE : (msgw_date)sqlite3_column_int64(st, i);
}

static int64_t amount_col(sqlite3_stmt *st, int i)
{
    return is_null(st, i) ? INT64_MIN : sqlite3_column_int64(st, i);
}

/* Room for one more row in *v (n rows, *cap allocated), in a. */
#define GROW(a, v, n, cap) ((v) = msgw_arena_grow((a), (v), sizeof *(v), &(cap), (n) + 1))

/* ---- records, facts, verdicts, outbox messages: each read the same way wherever asked for ---- */

#define RECORD_COLUMNS "seq, message_id, kind, sender, source_message_id, body_digest, recorded_at"

static void record_row(msgw_arena *a, sqlite3_stmt *st, msgw_record_row *r)
{
    *r = (msgw_record_row){.seq = sqlite3_column_int64(st, 0),
                           .message_id = text(a, st, 1),
                           .kind = text(a, st, 2),
                           .sender = text(a, st, 3),
                           .source_message_id = text(a, st, 4),
                           .body_digest = text(a, st, 5),
                           .recorded_at = sqlite3_column_int64(st, 6)};
}

static bool read_records(sqlite_store *s, sqlite3_stmt *st, msgw_arena *a, msgw_record_rows *out,
                         msgw_errors *e)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        GROW(a, out->v, out->n, cap);
        record_row(a, st, &out->v[out->n++]);
    }
    return finish(s, st, rc, e, "read records");
}

static bool read_facts(sqlite_store *s, sqlite3_stmt *st, msgw_arena *a, msgw_fact_rows *out,
                       msgw_errors *e)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        GROW(a, out->v, out->n, cap);
        out->v[out->n++] = (msgw_fact_row){.subject = text(a, st, 0),
                                           .type = text(a, st, 1),
                                           .valid_from = date_col(st, 2),
                                           .valid_to = date_col(st, 3),
                                           .attributes = text(a, st, 4),
                                           .department = text(a, st, 5)};
    }
    return finish(s, st, rc, e, "read facts");
}

static bool read_verdicts(sqlite_store *s, sqlite3_stmt *st, msgw_arena *a, msgw_verdict_rows *out,
                          msgw_errors *e)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        GROW(a, out->v, out->n, cap);
        out->v[out->n++] = (msgw_store_verdict){.person = text(a, st, 0),
                                                .service = text(a, st, 1),
                                                .eligible = sqlite3_column_int(st, 2) != 0,
                                                .since = date_col(st, 3),
                                                .tier = text(a, st, 4),
                                                .amount = amount_col(st, 5),
                                                .updated_at = sqlite3_column_int64(st, 6)};
    }
    return finish(s, st, rc, e, "read verdicts");
}

#define OUTBOX_COLUMNS                                                                             \
    "id, event_id, recipient, kind, media_type, person, cause, state, attempts, created_at, "      \
    "next_at, delivered_at, last_error"

/* The current row's outbox columns (OUTBOX_COLUMNS, first). */
static void outbox_row(sqlite3_stmt *st, msgw_arena *a, msgw_outbox_row *x)
{
    const char *state = (const char *)sqlite3_column_text(st, 7);
    *x = (msgw_outbox_row){.id = sqlite3_column_int64(st, 0),
                           .event_id = text(a, st, 1),
                           .recipient = text(a, st, 2),
                           .kind = text(a, st, 3),
                           .media_type = text(a, st, 4),
                           .person = text(a, st, 5),
                           .cause = text(a, st, 6),
                           .state = state && strcmp(state, "delivered") == 0 ? MSGW_OUTBOX_DELIVERED
                                    : state && strcmp(state, "dead") == 0    ? MSGW_OUTBOX_DEAD
                                                                             : MSGW_OUTBOX_PENDING,
                           .attempts = sqlite3_column_int(st, 8),
                           .created_at = sqlite3_column_int64(st, 9),
                           .next_at = sqlite3_column_int64(st, 10),
                           .delivered_at = sqlite3_column_int64(st, 11),
                           .last_error = text(a, st, 12)};
}

static bool read_outbox(sqlite_store *s, sqlite3_stmt *st, msgw_arena *a, msgw_outbox_rows *out,
                        msgw_errors *e)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        GROW(a, out->v, out->n, cap);
        outbox_row(st, a, &out->v[out->n++]);
    }
    return finish(s, st, rc, e, "read outbox");
}

/* ---- message trace ---- */

/* The envelope kept with record seq, if it came from a peer gateway. */
static bool trace_envelope(sqlite_store *s, int64_t seq, msgw_arena *a, msgw_trace *t,
                           msgw_errors *e)
{
    sqlite3_stmt *st;
    if (!prepare(s,
                 "SELECT peer, digest, length(body), received_at FROM envelopes WHERE record_seq = "
                 "?1 AND direction = 'received' ORDER BY id LIMIT 1",
                 &st, e, "trace"))
        return false;
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        msgw_envelope_row *env = msgw_arena_alloc(a, sizeof *env);
        *env = (msgw_envelope_row){.peer = text(a, st, 0),
                                   .digest = text(a, st, 1),
                                   .bytes = sqlite3_column_int64(st, 2),
                                   .received_at = sqlite3_column_int64(st, 3)};
        t->envelope = env;
        rc = SQLITE_DONE;
    }
    return finish(s, st, rc, e, "trace");
}

/* sql prepared, with the record's sequence number bound to ?1 and its message id to ?2 if it has
 * one. */
static sqlite3_stmt *of_record(sqlite_store *s, const char *sql, const msgw_record_row *r,
                               msgw_errors *e)
{
    sqlite3_stmt *st;
    if (!prepare(s, sql, &st, e, "trace")) return NULL;
    sqlite3_bind_int64(st, 1, r->seq);
    if (sqlite3_bind_parameter_count(st) > 1) sqlite_bind_text(st, 2, r->message_id);
    return st;
}

static bool sqlite_trace(void *impl, const char *message_id, msgw_arena *a, msgw_trace **out,
                         msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (!prepare(s, "SELECT " RECORD_COLUMNS " FROM records WHERE message_id = ?1", &st, e,
                 "trace"))
        return false;
    sqlite_bind_text(st, 1, message_id);
    msgw_record_rows rec = {0};
    if (!read_records(s, st, a, &rec, e)) return false;
    if (rec.n == 0) return true; /* never stored, or forgotten */
    msgw_trace *t = msgw_arena_alloc(a, sizeof *t);
    t->record = rec.v[0];
    if (!(st = of_record(s,
                         "SELECT subject, type, valid_from, valid_to, attributes, department "
                         "FROM facts WHERE record_seq = ?1 ORDER BY id",
                         &t->record, e)) ||
        !read_facts(s, st, a, &t->facts, e))
        return false;
    if (!(st = of_record(s,
                         "SELECT person, service, eligible, since, tier, amount, updated_at FROM "
                         "eligibility WHERE record_seq = ?1 ORDER BY person, service",
                         &t->record, e)) ||
        !read_verdicts(s, st, a, &t->verdicts, e))
        return false;
    /* what it caused: written with it, or naming it as their cause */
    if (!(st = of_record(s,
                         "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE record_seq = ?1 OR cause = "
                         "?2 ORDER BY id",
                         &t->record, e)) ||
        !read_outbox(s, st, a, &t->messages, e))
        return false;
    if (!trace_envelope(s, t->record.seq, a, t, e)) return false;
    *out = t;
    return true;
}

/* ---- a person, the transition log ---- */

static bool sqlite_person_records(void *impl, const char *person, size_t max, msgw_arena *a,
                                  msgw_record_rows *out, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (!prepare(s,
                 "SELECT " RECORD_COLUMNS " FROM records WHERE seq IN (SELECT record_seq FROM "
                 "facts WHERE subject = ?1) ORDER BY seq DESC LIMIT ?2",
                 &st, e, "read records"))
        return false;
    sqlite_bind_text(st, 1, person);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    return read_records(s, st, a, out, e);
}

/* A person's disclosures: two index lookups (outbox_record, outbox_notices), joined. */
static bool sqlite_disclosures(void *impl, const char *person, size_t max, msgw_arena *a, msgw_disclosure_rows *out,
                               msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (!prepare(s,
                 "SELECT " OUTBOX_COLUMNS ", record_seq, basis, body FROM outbox WHERE kind <> 'eligibility' AND "
                 "record_seq IS NOT NULL AND record_seq IN (SELECT record_seq FROM facts WHERE subject = ?1) UNION SELECT " OUTBOX_COLUMNS
                 ", record_seq, basis, body FROM outbox WHERE kind = 'eligibility' AND person = ?1 ORDER BY 1 "
                 "LIMIT ?2",
                 &st, e, "read disclosures"))
        return false;
    sqlite_bind_text(st, 1, person);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        GROW(a, out->v, out->n, cap);
        msgw_disclosure_row *d = &out->v[out->n++];
        outbox_row(st, a, &d->m);
        d->record_seq = sqlite3_column_int64(st, 13);
        d->basis = text(a, st, 14);
        d->len = (size_t)sqlite3_column_bytes(st, 15);
        char *body = msgw_arena_alloc(a, d->len + 1);
        if (d->len) memcpy(body, sqlite3_column_blob(st, 15), d->len);
        body[d->len] = '\0';
        d->body = body;
    }
    return finish(s, st, rc, e, "read disclosures");
}

static bool sqlite_transitions(void *impl, const msgw_transition_filter *f, msgw_arena *a,
                               msgw_transition_rows *out, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (!prepare(s,
                 "SELECT id, at, person, service, kind, eligible, tier, amount, hukou_region, "
                 "residence_region, explanation, cause FROM transitions "
                 "WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR substr(hukou_region, 1, "
                 "length(?2)) = ?2 OR substr(residence_region, 1, length(?2)) = ?2) AND "
                 "(?3 IS NULL OR person = ?3) ORDER BY id DESC LIMIT ?4",
                 &st, e, "read transitions"))
        return false;
    sqlite_bind_text(st, 1, f->service);
    sqlite_bind_text(st, 2, f->district);
    sqlite_bind_text(st, 3, f->person);
    sqlite3_bind_int64(st, 4, (int64_t)f->max);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        GROW(a, out->v, out->n, cap);
        out->v[out->n++] = (msgw_transition_row){.id = sqlite3_column_int64(st, 0),
                                                 .at = sqlite3_column_int64(st, 1),
                                                 .person = text(a, st, 2),
                                                 .service = text(a, st, 3),
                                                 .kind = text(a, st, 4),
                                                 .eligible = sqlite3_column_int(st, 5) != 0,
                                                 .tier = text(a, st, 6),
                                                 .amount = amount_col(st, 7),
                                                 .hukou_region = text(a, st, 8),
                                                 .residence_region = text(a, st, 9),
                                                 .explanation = text(a, st, 10),
                                                 .cause = text(a, st, 11)};
    }
    return finish(s, st, rc, e, "read transitions");
}

/* ---- dead letters ---- */

static bool sqlite_dead_letters(void *impl, size_t max, msgw_arena *a, msgw_outbox_rows *out,
                                msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (!prepare(s,
                 "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE state = 'dead' ORDER BY id LIMIT ?1",
                 &st, e, "read dead letters"))
        return false;
    sqlite3_bind_int64(st, 1, (int64_t)max);
    return read_outbox(s, st, a, out, e);
}

static int sqlite_replay(void *impl, int64_t id, size_t limit, msgw_time now, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    if (!prepare(s,
                 "UPDATE outbox SET state = 'pending', attempts = 0, next_at = ?2, last_error = "
                 "NULL WHERE id IN (SELECT id FROM outbox WHERE state = 'dead' AND (?1 = 0 OR id = "
                 "?1) ORDER BY id LIMIT ?3)",
                 &st, e, "replay"))
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
    int rc = sqlite3_step(st);
    if (!finish(s, st, rc, e, "replay")) return -1;
    return sqlite3_changes(s->db);
}

/* ---- the delivery queues, counts, size ---- */

static bool sqlite_queues(void *impl, msgw_arena *a, msgw_queue_rows *out, msgw_errors *e)
{
    sqlite_store *s = impl;
    sqlite3_stmt *st;
    size_t cap = 0;
    int rc;
    /* ids grow with time: the smallest pending id is the oldest pending message */
    if (!prepare(s,
                 "SELECT q.recipient, q.n, o.created_at FROM (SELECT recipient, count(*) AS n, "
                 "min(id) AS first FROM outbox INDEXED BY outbox_queue WHERE state = 'pending' "
                 "GROUP BY recipient) q JOIN outbox o ON o.id = q.first",
                 &st, e, "read queues"))
        return false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        msgw_queue_row *q =
            msgw_store_queue_of(a, out, &cap, (const char *)sqlite3_column_text(st, 0));
        q->pending = sqlite3_column_int64(st, 1);
        q->oldest_pending = sqlite3_column_int64(st, 2);
    }
    if (!finish(s, st, rc, e, "read queues") ||
        !prepare(s,
                 "SELECT recipient, count(*) FROM outbox INDEXED BY outbox_dead WHERE state = "
                 "'dead' GROUP BY recipient",
                 &st, e, "read queues"))
        return false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        msgw_store_queue_of(a, out, &cap, (const char *)sqlite3_column_text(st, 0))->dead =
            sqlite3_column_int64(st, 1);
    return finish(s, st, rc, e, "read queues");
}

static int64_t scalar(sqlite_store *s, const char *sql, const char *department, bool *ok)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        *ok = false;
        return 0;
    }
    sqlite_bind_text(st, 1, department);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        *ok = false;
    sqlite3_finalize(st);
    return v;
}

static bool sqlite_stats(void *impl, const char *department, msgw_store_stats *out, msgw_errors *e)
{
    sqlite_store *s = impl;
    bool ok = true;
    out->records =
        scalar(s, "SELECT count(*) FROM records WHERE ?1 IS NULL OR sender = ?1", department, &ok);
    out->facts = scalar(s, "SELECT count(*) FROM facts WHERE ?1 IS NULL OR department = ?1",
                        department, &ok);
    out->pending = scalar(
        s, "SELECT count(*) FROM outbox WHERE state = 'pending' AND (?1 IS NULL OR recipient = ?1)",
        department, &ok);
    out->delivered = scalar(
        s,
        "SELECT count(*) FROM outbox WHERE state = 'delivered' AND (?1 IS NULL OR recipient = ?1)",
        department, &ok);
    out->dead = scalar(
        s, "SELECT count(*) FROM outbox WHERE state = 'dead' AND (?1 IS NULL OR recipient = ?1)",
        department, &ok);
    out->oldest_pending = scalar(s,
                                 "SELECT coalesce(min(created_at), 0) FROM outbox WHERE state = "
                                 "'pending' AND (?1 IS NULL OR recipient = ?1)",
                                 department, &ok);
    return ok || sqlite_fail(s, e, "statistics");
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
    if (path && stat(path, &st) == 0) *bytes += st.st_size;
    if (path && stat(wal, &st) == 0) *bytes += st.st_size;
    return true;
}

const msgw_store_query_ops msgw_sqlite_query = {
    .trace = sqlite_trace,
    .person_records = sqlite_person_records,
    .disclosures = sqlite_disclosures,
    .transitions = sqlite_transitions,
    .dead_letters = sqlite_dead_letters,
    .replay = sqlite_replay,
    .queues = sqlite_queues,
    .stats = sqlite_stats,
    .size = sqlite_size,
};
