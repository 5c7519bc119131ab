/*
 * The PostgreSQL backend's query side (msgw/store/query.h): a message's
 * trace, the records about a person, the transition log, dead letters and
 * their replay, the delivery queues, counts and the size of the database.
 * The same questions as store_sqlite_query.c asks, answered as typed rows in
 * the caller's arena, as stored.  They run on an administrator's request, not
 * on the write path: each is a parameterised statement, not a prepared one.
 */
#include <stdlib.h>
#include <string.h>

#include "store_pg.h"

/* Column col of row i as a string in a; NULL for SQL NULL. */
static const char *text(msgw_arena *a, const PGresult *r, int i, int col)
{
    const char *v = pg_value(r, i, col);
    return v ? msgw_arena_strndup(a, v, (size_t)PQgetlength(r, i, col)) : NULL;
}

/* Room for one more row in *v (n rows, *cap allocated), in a. */
#define GROW(a, v, n, cap) ((v) = msgw_arena_grow((a), (v), sizeof *(v), &(cap), (n) + 1))

/* sql's rows, each read into out by row(a, r, i, out) (a rows type with v and n). */
#define READ_ROWS(s, sql, p, a, out, row, what, e)                                                 \
    do {                                                                                           \
        PGresult *r_ = pg_run((s), (sql), false, (p), (what), (e));                                \
        if (!r_) return false;                                                                     \
        size_t cap_ = 0;                                                                           \
        for (int i_ = 0; i_ < PQntuples(r_); i_++) {                                               \
            GROW((a), (out)->v, (out)->n, cap_);                                                   \
            row((a), r_, i_, &(out)->v[(out)->n++]);                                               \
        }                                                                                          \
        PQclear(r_);                                                                               \
    } while (0)

/* ---- records, facts, verdicts, outbox messages: each read the same way wherever asked for ---- */

#define RECORD_COLUMNS "seq, message_id, kind, sender, source_message_id, body_digest, recorded_at"

static void record_row(msgw_arena *a, const PGresult *r, int i, msgw_record_row *x)
{
    *x = (msgw_record_row){.seq = pg_num(r, i, 0),
                           .message_id = text(a, r, i, 1),
                           .kind = text(a, r, i, 2),
                           .sender = text(a, r, i, 3),
                           .source_message_id = text(a, r, i, 4),
                           .body_digest = text(a, r, i, 5),
                           .recorded_at = pg_num(r, i, 6)};
}

static void fact_row(msgw_arena *a, const PGresult *r, int i, msgw_fact_row *x)
{
    *x = (msgw_fact_row){.subject = text(a, r, i, 0),
                         .type = text(a, r, i, 1),
                         .valid_from = (msgw_date)pg_num_or(r, i, 2, MSGW_DATE_NONE),
                         .valid_to = (msgw_date)pg_num_or(r, i, 3, MSGW_DATE_NONE),
                         .attributes = text(a, r, i, 4),
                         .department = text(a, r, i, 5)};
}

static void verdict_row(msgw_arena *a, const PGresult *r, int i, msgw_store_verdict *x)
{
    *x = (msgw_store_verdict){.person = text(a, r, i, 0),
                              .service = text(a, r, i, 1),
                              .eligible = pg_bool(r, i, 2),
                              .since = (msgw_date)pg_num_or(r, i, 3, MSGW_DATE_NONE),
                              .tier = text(a, r, i, 4),
                              .amount = pg_num_or(r, i, 5, INT64_MIN),
                              .updated_at = pg_num(r, i, 6)};
}

#define OUTBOX_COLUMNS                                                                             \
    "id, event_id, recipient, kind, media_type, person, cause, state, attempts, created_at, "      \
    "next_at, delivered_at, last_error"

static void outbox_row(msgw_arena *a, const PGresult *r, int i, msgw_outbox_row *x)
{
    const char *state = PQgetvalue(r, i, 7);
    *x = (msgw_outbox_row){.id = pg_num(r, i, 0),
                           .event_id = text(a, r, i, 1),
                           .recipient = text(a, r, i, 2),
                           .kind = text(a, r, i, 3),
                           .media_type = text(a, r, i, 4),
                           .person = text(a, r, i, 5),
                           .cause = text(a, r, i, 6),
                           .state = strcmp(state, "delivered") == 0 ? MSGW_OUTBOX_DELIVERED
                                    : strcmp(state, "dead") == 0    ? MSGW_OUTBOX_DEAD
                                                                    : MSGW_OUTBOX_PENDING,
                           .attempts = (int)pg_num(r, i, 8),
                           .created_at = pg_num(r, i, 9),
                           .next_at = pg_num(r, i, 10),
                           .delivered_at = pg_num_or(r, i, 11, 0),
                           .last_error = text(a, r, i, 12)};
}

/* ---- message trace ---- */

/* The envelope kept with record seq, if it came from a peer gateway. */
static bool trace_envelope(pg_store *s, pg_params *p, msgw_arena *a, msgw_trace *t, msgw_errors *e)
{
    PGresult *r = pg_run(s,
                         "SELECT peer, digest, octet_length(body), received_at FROM envelopes "
                         "WHERE record_seq = $1 AND direction = 'received' ORDER BY id LIMIT 1",
                         false, p, "trace", e);
    if (!r) return false;
    if (PQntuples(r)) {
        msgw_envelope_row *env = msgw_arena_alloc(a, sizeof *env);
        *env = (msgw_envelope_row){.peer = text(a, r, 0, 0),
                                   .digest = text(a, r, 0, 1),
                                   .bytes = pg_num(r, 0, 2),
                                   .received_at = pg_num(r, 0, 3)};
        t->envelope = env;
    }
    PQclear(r);
    return true;
}

/* What record t->record wrote and caused: facts, verdicts, outbox messages, its envelope. */
static bool trace_effects(pg_store *s, msgw_arena *a, msgw_trace *t, msgw_errors *e)
{
    pg_params p = {0}; /* $1 the record's sequence number */
    pg_int(&p, t->record.seq);
    READ_ROWS(s,
              "SELECT subject, type, valid_from, valid_to, attributes, department FROM facts "
              "WHERE record_seq = $1 ORDER BY id",
              &p, a, &t->facts, fact_row, "trace", e);
    READ_ROWS(s,
              "SELECT person, service, eligible, since, tier, amount, updated_at FROM "
              "eligibility WHERE record_seq = $1 ORDER BY person, service",
              &p, a, &t->verdicts, verdict_row, "trace", e);
    pg_params q = {0}; /* and $2 its message id: written with it, or naming it as their cause */
    pg_int(&q, t->record.seq);
    pg_text(&q, t->record.message_id);
    READ_ROWS(s,
              "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE record_seq = $1 OR cause = $2 "
              "ORDER BY id",
              &q, a, &t->messages, outbox_row, "trace", e);
    return trace_envelope(s, &p, a, t, e);
}

static bool pg_trace(void *impl, const char *message_id, msgw_arena *a, msgw_trace **out,
                     msgw_errors *e)
{
    pg_store *s = impl;
    if (!pg_ready(s, false, e)) return false;
    pg_params p = {0};
    pg_text(&p, message_id);
    msgw_record_rows rec = {0};
    READ_ROWS(s, "SELECT " RECORD_COLUMNS " FROM records WHERE message_id = $1", &p, a, &rec,
              record_row, "trace", e);
    if (rec.n == 0) return true; /* never stored, or forgotten */
    msgw_trace *t = msgw_arena_alloc(a, sizeof *t);
    t->record = rec.v[0];
    if (!trace_effects(s, a, t, e)) return false;
    *out = t;
    return true;
}

/* ---- a person, the transition log ---- */

static bool pg_person_records(void *impl, const char *person, size_t max, msgw_arena *a,
                              msgw_record_rows *out, msgw_errors *e)
{
    pg_store *s = impl;
    pg_params p = {0};
    pg_text(&p, person);
    pg_int(&p, (int64_t)max);
    if (!pg_ready(s, false, e)) return false;
    READ_ROWS(s,
              "SELECT " RECORD_COLUMNS " FROM records WHERE seq IN (SELECT record_seq FROM facts "
              "WHERE subject = $1) ORDER BY seq DESC LIMIT $2",
              &p, a, out, record_row, "read records", e);
    return true;
}

static void disclosure_row(msgw_arena *a, const PGresult *r, int i, msgw_disclosure_row *x)
{
    outbox_row(a, r, i, &x->m);
    x->record_seq = pg_num_or(r, i, 13, 0);
    x->basis = text(a, r, i, 14);
    size_t len = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 15), &len);
    char *body = msgw_arena_alloc(a, len + 1);
    if (raw && len) memcpy(body, raw, len);
    body[raw ? len : 0] = '\0';
    x->len = raw ? len : 0;
    x->body = body;
    PQfreemem(raw);
}

/* A person's disclosures: two index lookups (outbox_record, outbox_notices), joined. */
static bool pg_disclosures(void *impl, const char *person, size_t max, msgw_arena *a, msgw_disclosure_rows *out,
                           msgw_errors *e)
{
    pg_store *s = impl;
    pg_params p = {0};
    pg_text(&p, person);
    pg_int(&p, (int64_t)max);
    if (!pg_ready(s, false, e)) return false;
    READ_ROWS(s,
              "SELECT " OUTBOX_COLUMNS ", record_seq, basis, body FROM outbox WHERE kind <> 'eligibility' AND "
              "record_seq IS NOT NULL AND record_seq IN (SELECT record_seq FROM facts WHERE subject = $1) UNION SELECT " OUTBOX_COLUMNS
              ", record_seq, basis, body FROM outbox WHERE kind = 'eligibility' AND person = $1 ORDER BY 1 LIMIT $2",
              &p, a, out, disclosure_row, "read disclosures", e);
    return true;
}

static void transition_row(msgw_arena *a, const PGresult *r, int i, msgw_transition_row *x)
{
    *x = (msgw_transition_row){.id = pg_num(r, i, 0),
                               .at = pg_num(r, i, 1),
                               .person = text(a, r, i, 2),
                               .service = text(a, r, i, 3),
                               .kind = text(a, r, i, 4),
                               .eligible = pg_bool(r, i, 5),
                               .tier = text(a, r, i, 6),
                               .amount = pg_num_or(r, i, 7, INT64_MIN),
                               .hukou_region = text(a, r, i, 8),
                               .residence_region = text(a, r, i, 9),
                               .explanation = text(a, r, i, 10),
                               .cause = text(a, r, i, 11)};
}

static bool pg_transitions(void *impl, const msgw_transition_filter *f, msgw_arena *a,
                           msgw_transition_rows *out, msgw_errors *e)
{
    pg_store *s = impl;
    pg_params p = {0};
    pg_text(&p, f->service);
    pg_text(&p, f->district);
    pg_text(&p, f->person);
    pg_int(&p, (int64_t)f->max);
    if (!pg_ready(s, false, e)) return false;
    READ_ROWS(s,
              "SELECT id, at, person, service, kind, eligible, tier, amount, hukou_region, "
              "residence_region, explanation, cause FROM transitions "
              "WHERE ($1::text IS NULL OR service = $1) AND ($2::text IS NULL OR "
              "substr(hukou_region, 1, length($2)) = $2 OR "
              "substr(residence_region, 1, length($2)) = $2) AND "
              "($3::text IS NULL OR person = $3) ORDER BY id DESC LIMIT $4",
              &p, a, out, transition_row, "read transitions", e);
    return true;
}

/* ---- dead letters ---- */

static bool pg_dead_letters(void *impl, size_t max, msgw_arena *a, msgw_outbox_rows *out,
                            msgw_errors *e)
{
    pg_store *s = impl;
    pg_params p = {0};
    pg_int(&p, (int64_t)max);
    if (!pg_ready(s, false, e)) return false;
    READ_ROWS(s, "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE state = 'dead' ORDER BY id LIMIT $1",
              &p, a, out, outbox_row, "read dead letters", e);
    return true;
}

static int pg_replay(void *impl, int64_t id, size_t limit, msgw_time now, msgw_errors *e)
{
    pg_store *s = impl;
    pg_params p = {0};
    pg_int(&p, id);
    pg_int(&p, now);
    pg_int_or_null(&p, (int64_t)limit, 0); /* LIMIT NULL: all of them */
    PGresult *r = pg_ready(s, false, e)
                      ? pg_run(s,
                               "UPDATE outbox SET state = 'pending', attempts = 0, next_at = $2, "
                               "last_error = NULL WHERE id IN (SELECT id FROM outbox WHERE state "
                               "= 'dead' AND ($1::bigint = 0 OR id = $1) ORDER BY id LIMIT $3)",
                               false, &p, "replay", e)
                      : NULL;
    int n = r ? atoi(PQcmdTuples(r)) : -1;
    PQclear(r);
    return n;
}

/* ---- the delivery queues, counts, size ---- */

static bool pg_queues(void *impl, msgw_arena *a, msgw_queue_rows *out, msgw_errors *e)
{
    pg_store *s = impl;
    size_t cap = 0;
    /* ids grow with time: the smallest pending id is the oldest pending message */
    PGresult *r = pg_ready(s, false, e)
                      ? pg_run(s,
                               "SELECT q.recipient, q.n, o.created_at FROM (SELECT recipient, "
                               "count(*) AS n, min(id) AS first FROM outbox WHERE state = "
                               "'pending' GROUP BY recipient) q JOIN outbox o ON o.id = q.first",
                               false, NULL, "read queues", e)
                      : NULL;
    if (!r) return false;
    for (int i = 0; i < PQntuples(r); i++) {
        msgw_queue_row *q = msgw_store_queue_of(a, out, &cap, PQgetvalue(r, i, 0));
        q->pending = pg_num(r, i, 1);
        q->oldest_pending = pg_num(r, i, 2);
    }
    PQclear(r);
    r = pg_run(s, "SELECT recipient, count(*) FROM outbox WHERE state = 'dead' GROUP BY recipient",
               false, NULL, "read queues", e);
    if (!r) return false;
    for (int i = 0; i < PQntuples(r); i++)
        msgw_store_queue_of(a, out, &cap, PQgetvalue(r, i, 0))->dead = pg_num(r, i, 1);
    PQclear(r);
    return true;
}

static bool pg_stats(void *impl, const char *department, msgw_store_stats *out, msgw_errors *e)
{
    pg_store *s = impl;
    pg_params p = {0};
    pg_text(&p, department);
    PGresult *r =
        pg_ready(s, false, e)
            ? pg_run(s,
                     "SELECT (SELECT count(*) FROM records WHERE $1::text IS NULL OR sender = $1), "
                     "(SELECT count(*) FROM facts WHERE $1::text IS NULL OR department = $1), "
                     "(SELECT count(*) FILTER (WHERE state = 'pending') FROM outbox "
                     "WHERE $1::text IS NULL OR recipient = $1), "
                     "(SELECT count(*) FILTER (WHERE state = 'delivered') FROM outbox "
                     "WHERE $1::text IS NULL OR recipient = $1), "
                     "(SELECT count(*) FILTER (WHERE state = 'dead') FROM outbox "
                     "WHERE $1::text IS NULL OR recipient = $1), "
                     "(SELECT coalesce(min(created_at), 0) FROM outbox WHERE state = 'pending' "
                     "AND ($1::text IS NULL OR recipient = $1))",
                     false, &p, "statistics", e)
            : NULL;
    if (!r) return false;
    *out = (msgw_store_stats){.records = pg_num(r, 0, 0),
                              .facts = pg_num(r, 0, 1),
                              .pending = pg_num(r, 0, 2),
                              .delivered = pg_num(r, 0, 3),
                              .dead = pg_num(r, 0, 4),
                              .oldest_pending = pg_num(r, 0, 5)};
    PQclear(r);
    return true;
}

/* The database, as the server counts it (its files, the indexes included). */
static bool pg_size(void *impl, int64_t *bytes, msgw_errors *e)
{
    pg_store *s = impl;
    PGresult *r = pg_ready(s, false, e) ? pg_run(s, "SELECT pg_database_size(current_database())",
                                                 false, NULL, "size", e)
                                        : NULL;
    if (!r) return false;
    *bytes = pg_num(r, 0, 0);
    PQclear(r);
    return true;
}

const msgw_store_query_ops msgw_pg_query = {
    .trace = pg_trace,
    .person_records = pg_person_records,
    .disclosures = pg_disclosures,
    .transitions = pg_transitions,
    .dead_letters = pg_dead_letters,
    .replay = pg_replay,
    .queues = pg_queues,
    .stats = pg_stats,
    .size = pg_size,
};
