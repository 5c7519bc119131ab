/*
 * The PostgreSQL store backend ("postgresql://..." or "postgres://...", a
 * libpq connection URI).  The same guarantees as SQLite's (docs/store.md):
 * a batch is one transaction, answered only once the server has made its
 * commit durable (synchronous_commit on for the writer's connection); a
 * message id is stored once, told by its unique index; a deliverer's
 * connection commits its delivery marks without waiting for the disk
 * (synchronous_commit off: a crash may forget the last marks, whose messages
 * are then sent again).  Values always travel as parameters of prepared or
 * parameterised statements, never spelt into the SQL.
 *
 * Several connections, and later several processes, may deliver from one
 * store: a deliverer's due claims its messages with FOR UPDATE SKIP LOCKED
 * in a transaction that stays open until the connection's next call — the
 * settlement of that pass, which commits in it — so a message is sent by one
 * connection at a time.  A connection lost mid-operation fails that
 * operation; the next one reconnects (pg_ready).  This file is the
 * connection and the write path; the queries are store_pg_query.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/buf.h"
#include "msgw/model/canon.h"
#include "schema.h"
#include "store_pg.h"

/* ---- parameters, statements, results ---- */

static int add_param(pg_params *p)
{
    if (p->n >= PG_MAX_PARAMS) abort(); /* a statement with more: raise PG_MAX_PARAMS */
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    return p->n++;
}

void pg_text(pg_params *p, const char *v)
{
    p->v[add_param(p)] = v;
}

void pg_int(pg_params *p, int64_t v)
{
    int i = add_param(p);
    snprintf(p->num[i], sizeof p->num[i], "%lld", (long long)v);
    p->v[i] = p->num[i];
}

void pg_int_or_null(pg_params *p, int64_t v, int64_t none)
{
    if (v == none)
        pg_text(p, NULL);
    else
        pg_int(p, v);
}

void pg_bytes(pg_params *p, const void *v, size_t len)
{
    int i = add_param(p);
    p->v[i] = v ? v : "";
    p->len[i] = (int)len;
    p->fmt[i] = 1;
}

/* s with its line breaks and tabs as spaces and without trailing blanks, into buf. */
static const char *one_line(const char *s, char *buf, size_t len)
{
    size_t n = 0;
    for (; s && *s && n + 1 < len; s++)
        buf[n++] = *s == '\n' || *s == '\t' || *s == '\r' ? ' ' : *s;
    while (n && buf[n - 1] == ' ')
        n--;
    buf[n] = '\0';
    return buf;
}

/*
 * Only the server's primary message is taken, never its DETAIL: a detail names the values of the
 * row that failed (a unique key, an ID number), which must not reach a log.
 */
bool pg_fail(pg_store *s, const PGresult *r, msgw_errors *e, const char *what)
{
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = primary                         ? primary
                      : r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
                                                      : PQerrorMessage(s->conn);
    char buf[512];
    msgw_error_add(e, -1, "store", NULL, "store.postgresql", "%s: %s%s%s%s", what,
                   one_line(msg, buf, sizeof buf), code ? " (SQLSTATE " : "", code ? code : "",
                   code ? ")" : "");
    return false;
}

PGresult *pg_run(pg_store *s, const char *sql, bool prepared, pg_params *p, const char *what,
                 msgw_errors *e)
{
    int n = p ? p->n : 0;
    const char *const *v = p ? p->v : NULL;
    const int *len = p ? p->len : NULL, *fmt = p ? p->fmt : NULL;
    PGresult *r = prepared ? PQexecPrepared(s->conn, sql, n, v, len, fmt, 0)
                           : PQexecParams(s->conn, sql, n, NULL, v, len, fmt, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return r;
    pg_fail(s, r, e, what);
    PQclear(r);
    return NULL;
}

bool pg_command(pg_store *s, const char *sql, pg_params *p, const char *what, msgw_errors *e)
{
    PGresult *r = pg_run(s, sql, false, p, what, e);
    PQclear(r);
    return r != NULL;
}

void pg_rollback(pg_store *s)
{
    PGTransactionStatusType t = PQtransactionStatus(s->conn);
    if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR) PQclear(PQexec(s->conn, "ROLLBACK"));
}

bool pg_each_row(pg_store *s, const char *sql, pg_params *p,
                 bool (*row)(void *ud, const PGresult *r, int i), void *ud, const char *what,
                 msgw_errors *e)
{
    if (!PQsendQueryParams(s->conn, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL,
                           p ? p->fmt : NULL, 0))
        return pg_fail(s, NULL, e, what);
    PQsetSingleRowMode(s->conn);
    bool ok = true, more = true;
    PGresult *r;
    while ((r = PQgetResult(s->conn))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && more)
            more = row(ud, r, 0);
        else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && ok)
            ok = pg_fail(s, r, e, what);
        PQclear(r);
    }
    return ok;
}

int64_t pg_num(const PGresult *r, int i, int col)
{
    return strtoll(PQgetvalue(r, i, col), NULL, 10);
}

int64_t pg_num_or(const PGresult *r, int i, int col, int64_t none)
{
    return PQgetisnull(r, i, col) ? none : pg_num(r, i, col);
}

bool pg_bool(const PGresult *r, int i, int col)
{
    return PQgetvalue(r, i, col)[0] == 't';
}

/* The number of rows a command wrote. */
static int64_t changed(const PGresult *r)
{
    return strtoll(PQcmdTuples((PGresult *)r), NULL, 10);
}

/* A command run for the rows it wrote (-1 on error). */
static int64_t pg_write(pg_store *s, const char *sql, bool prepared, pg_params *p, const char *what,
                        msgw_errors *e)
{
    PGresult *r = pg_run(s, sql, prepared, p, what, e);
    int64_t n = r ? changed(r) : -1;
    PQclear(r);
    return n;
}

/* ---- the write path's statements, prepared on each session ---- */

enum {
    W_FIND,
    W_RECORD,
    W_EVALUATE_SEQ,
    W_EVALUATE_ID,
    W_FENCE,
    W_FACT,
    W_OUTBOX,
    W_DUE_AMONG,
    W_DUE_ALL,
    W_RESCHEDULE,
    W_FINISH,
    W_FIND_EVENT,
    W_VERDICT,
    W_TRANSITION,
    W_ENVELOPE,
    W_COUNT
};

/* The columns of a due delivery (read_due). */
#define DUE_COLUMNS                                                                                \
    "o.id, o.event_id, o.recipient, o.kind, o.media_type, o.person, o.body, o.attempts, "          \
    "o.created_at, o.next_at, o.cause"
/* A pending message of o's recipient that is its person's oldest: the only one that may go. */
#define OLDEST_OF_PERSON                                                                           \
    "o.state = 'pending' AND o.id = (SELECT min(p.id) FROM outbox p WHERE p.state = 'pending' "    \
    "AND p.recipient = o.recipient AND p.person = o.person)"

static const struct {
    const char *name, *sql;
} statements[W_COUNT] = {
    [W_FIND] = {"msgw_find", "SELECT seq, recorded_at FROM records WHERE message_id = $1"},
    /* a known message id writes nothing and returns no row: the unique index tells duplicates */
    [W_RECORD] = {"msgw_record",
                  "INSERT INTO records(message_id, kind, sender, source_message_id, body_digest, "
                  "recorded_at, canonical, evaluated_seq, evaluated_at) VALUES ($1, $2, $3, $4, "
                  "$5, $6, $7, CASE WHEN $8::boolean THEN nextval('evaluation_seq') END, "
                  "CASE WHEN $8::boolean THEN $6::bigint END) "
                  "ON CONFLICT (message_id) DO NOTHING RETURNING seq, evaluated_seq"},
    /* a record stored for the evaluator, evaluated now: its place in the order of evaluation
     * (no row: evaluated before) */
    [W_EVALUATE_SEQ] = {"msgw_evaluate_seq",
                        "UPDATE records SET evaluated_seq = nextval('evaluation_seq'), "
                        "evaluated_at = $2 WHERE seq = $1 AND evaluated_seq IS NULL "
                        "RETURNING seq, evaluated_seq, recorded_at"},
    [W_EVALUATE_ID] = {"msgw_evaluate_id",
                       "UPDATE records SET evaluated_seq = nextval('evaluation_seq'), "
                       "evaluated_at = $2 WHERE message_id = $1 AND evaluated_seq IS NULL "
                       "RETURNING seq, evaluated_seq, recorded_at"},
    /* the fence, the commit's last statement: the lease still the committer's at its epoch, and
     * kept so until the commit ends (another instance's takeover waits for it) */
    [W_FENCE] = {"msgw_fence",
                 "SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 FOR SHARE"},
    [W_FACT] = {"msgw_fact",
                "INSERT INTO facts(record_seq, subject, type, valid_from, valid_to, attributes, "
                "department, message_id, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"},
    /* an event already queued for that recipient is not queued twice; any other violation fails */
    [W_OUTBOX] = {"msgw_outbox",
                  "INSERT INTO outbox(event_id, recipient, kind, media_type, person, body, "
                  "record_seq, created_at, next_at, cause, basis) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                  "$8, $8, $9, $10) ON CONFLICT (recipient, event_id) DO NOTHING"},
    /*
     * What is due to each recipient of $2 (a text array), each up to its limit in $3: a subquery
     * per recipient walks its pending messages in id order (outbox_queue), so one recipient's
     * backlog neither slows nor starves the others.  SKIP LOCKED passes over what another
     * connection has claimed; a person whose oldest message is claimed has nothing due (their
     * next one is not their oldest).
     */
    [W_DUE_AMONG] = {"msgw_due_among",
                     "SELECT d.* FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS "
                     "r(recipient, lim, ord) CROSS JOIN LATERAL (SELECT " DUE_COLUMNS
                     " FROM outbox o WHERE o.recipient = r.recipient AND o.next_at <= $1 AND "
                     "" OLDEST_OF_PERSON " ORDER BY o.id LIMIT r.lim FOR UPDATE OF o SKIP LOCKED) "
                     "d ORDER BY r.ord, d.id"},
    [W_DUE_ALL] = {"msgw_due_all",
                   "SELECT " DUE_COLUMNS " FROM outbox o WHERE o.next_at <= $1 AND "
                   "" OLDEST_OF_PERSON " ORDER BY o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED"},
    /* a message that stays pending (retry, in flight): $2 attempts to add, $3 next attempt, $4
     * error (NULL: kept) */
    [W_RESCHEDULE] = {"msgw_reschedule",
                      "UPDATE outbox SET attempts = attempts + $2, next_at = $3, "
                      "last_error = coalesce($4, last_error) WHERE id = $1 AND state = 'pending'"},
    /* a message settled for good: $2 'delivered' or 'dead', $3 attempts to add, $4 error (NULL:
     * kept), $5 now (when a delivered one was delivered) */
    [W_FINISH] = {"msgw_finish",
                  "UPDATE outbox SET state = $2, attempts = attempts + $3, "
                  "last_error = coalesce($4, last_error), delivered_at = CASE WHEN $2 = "
                  "'delivered' THEN $5::bigint END WHERE id = $1 AND state = 'pending'"},
    [W_FIND_EVENT] = {"msgw_find_event",
                      "SELECT id FROM outbox WHERE recipient = $1 AND event_id = $2"},
    [W_VERDICT] = {"msgw_verdict",
                   "INSERT INTO eligibility(person, service, eligible, since, tier, amount, "
                   "record_seq, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                   "ON CONFLICT (person, service) DO UPDATE SET eligible = excluded.eligible, "
                   "since = excluded.since, tier = excluded.tier, amount = excluded.amount, "
                   "record_seq = excluded.record_seq, updated_at = excluded.updated_at"},
    [W_TRANSITION] = {"msgw_transition",
                      "INSERT INTO transitions(at, person, service, kind, eligible, tier, amount, "
                      "hukou_region, residence_region, explanation, cause, record_seq) VALUES "
                      "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"},
    [W_ENVELOPE] = {"msgw_envelope",
                    "INSERT INTO envelopes(record_seq, peer, message_id, digest, body, "
                    "received_at, direction) VALUES ($1, $2, $3, $4, $5, $6, $7)"},
};

/* Runs write-path statement w. */
static PGresult *run(pg_store *s, int w, pg_params *p, const char *what, msgw_errors *e)
{
    return pg_run(s, statements[w].name, true, p, what, e);
}

static bool prepare_statements(pg_store *s, msgw_errors *e)
{
    for (int i = 0; i < W_COUNT; i++) {
        PGresult *r = PQprepare(s->conn, statements[i].name, statements[i].sql, 0, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || pg_fail(s, r, e, "prepare");
        PQclear(r);
        if (!ok) return false;
    }
    s->prepared = true;
    return true;
}

/* ---- the connection ---- */

/* The server's notices ("relation already exists, skipping") are not errors: not printed. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/*
 * A connection to uri, or to database dbname on the same server when dbname is not NULL.  The
 * defaults come before the URI, which may override them (libpq reads the arrays in order); the
 * client encoding comes after it: the gateway's text is UTF-8, whatever the URI says.
 */
static PGconn *connect_to(const char *uri, const char *dbname)
{
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname",
                          "dbname",          "client_encoding",           NULL};
    const char *values[] = {"10", "msgw", uri, dbname ? dbname : uri, "UTF8", NULL};
    if (!dbname) keys[3] = "fallback_application_name", values[3] = "msgw"; /* no second dbname */
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (!c) abort();
    PQsetNoticeProcessor(c, ignore_notice, NULL);
    return c;
}

/* The URI with its password, if it has one (user:PASSWORD@ or password=...), as "***": what an
 * error may show of it. */
static void redacted(const char *uri, msgw_buf *out)
{
    const char *host = strstr(uri, "://");
    host = host ? host + 3 : uri;
    size_t userinfo = strcspn(host, "@/?");
    const char *colon = host[userinfo] == '@' ? memchr(host, ':', userinfo) : NULL;
    for (const char *c = uri; *c;) {
        if (c == colon) {
            msgw_buf_puts(out, ":***");
            c = host + userinfo;
        } else if (strncmp(c, "password=", 9) == 0) {
            msgw_buf_puts(out, "password=***");
            c += 9 + strcspn(c + 9, "&");
        } else {
            msgw_buf_printf(out, "%c", *c++);
        }
    }
}

/* Runs sql on the maintenance connection m; true when it succeeded or failed only with code. */
static bool maintain(PGconn *m, const char *sql, int n, const char *const *values, const char *code,
                     bool *found)
{
    PGresult *r = PQexecParams(m, sql, n, NULL, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    const char *c = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || (code && c && !strcmp(c, code));
    if (found) *found = st == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    return ok;
}

/*
 * Creates the database the failed connection c named, as SQLite creates its file, when the
 * server does not have it: through the server's maintenance database, in UTF-8.  False when it
 * could not, or the database was there already (c failed for another reason, which c tells).
 */
static bool create_database(PGconn *c, const char *uri)
{
    const char *name = PQdb(c);
    if (!name || !*name) return false;
    PGconn *m = connect_to(uri, "postgres");
    if (PQstatus(m) != CONNECTION_OK) {
        PQfinish(m);
        m = connect_to(uri, "template1");
    }
    bool exists = true, created = false;
    if (PQstatus(m) == CONNECTION_OK &&
        maintain(m, "SELECT 1 FROM pg_database WHERE datname = $1", 1, &name, NULL, &exists) &&
        !exists) {
        char *id = PQescapeIdentifier(m, name, strlen(name));
        msgw_buf sql;
        msgw_buf_init(&sql);
        msgw_buf_printf(&sql, "CREATE DATABASE %s ENCODING 'UTF8' TEMPLATE template0",
                        id ? id : "\"\"");
        /* 42P04: another connection created it meanwhile */
        created = id && maintain(m, sql.data, 0, NULL, "42P04", NULL);
        msgw_buf_free(&sql);
        PQfreemem(id);
    }
    PQfinish(m);
    return created;
}

/* The session's settings: how durable a commit is before it returns (docs/store.md). */
static bool configure_session(pg_store *s, msgw_errors *e)
{
    return pg_command(s,
                      s->flags & MSGW_STORE_DELIVERY ? "SET synchronous_commit = off"
                                                     : "SET synchronous_commit = on",
                      NULL, "session settings", e);
}

static bool reconnect(pg_store *s, msgw_errors *e)
{
    s->claiming = false;
    s->prepared = false;
    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK) return pg_fail(s, NULL, e, "reconnect");
    return configure_session(s, e) && (s->flags & MSGW_STORE_AS_IS || prepare_statements(s, e));
}

bool pg_ready(pg_store *s, bool keep_claim, msgw_errors *e)
{
    if (PQstatus(s->conn) == CONNECTION_OK && s->claiming && !keep_claim)
        PQclear(PQexec(s->conn, "COMMIT")); /* the claim ends: its locks go, nothing was written */
    s->claiming = s->claiming && keep_claim;
    if (PQstatus(s->conn) == CONNECTION_OK && !s->claiming)
        pg_rollback(s); /* a failure's leftover */
    return PQstatus(s->conn) == CONNECTION_OK || reconnect(s, e);
}

static void pg_close(void *impl)
{
    pg_store *s = impl;
    if (!s) return;
    PQfinish(s->conn);
    free(s->fence_name);
    free(s->fence_holder);
    free(s);
}

/* ---- schema versions (schema.h) ---- */

/* The advisory lock two instances migrating one database at once take in turn (any number no
 * other program takes; advisory locks are per database). */
#define SCHEMA_LOCK "7236828517226435"

static int read_version(void *impl, msgw_errors *e)
{
    pg_store *s = impl;
    PGresult *r = pg_run(s, "SELECT to_regclass('schema_version') IS NOT NULL", false, NULL,
                         "schema version", e);
    bool versioned = r && pg_bool(r, 0, 0);
    PQclear(r);
    if (!r || !versioned) return r ? 0 : -1;
    r = pg_run(s, "SELECT coalesce(max(version), 0) FROM schema_version", false, NULL,
               "schema version", e);
    int v = r ? (int)pg_num(r, 0, 0) : -1;
    PQclear(r);
    return v;
}

static bool schema_begin(void *impl, msgw_errors *e)
{
    pg_store *s = impl;
    return pg_command(s, "BEGIN", NULL, "migrate", e) &&
           pg_command(s, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ")", NULL, "migrate", e) &&
           pg_command(s,
                      "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER PRIMARY KEY, "
                      "applied_at BIGINT NOT NULL)",
                      NULL, "migrate", e);
}

/* A step is several statements: the simple protocol runs them (it takes no parameters; a step has
 * none). */
static bool schema_apply(void *impl, int version, const char *sql, msgw_errors *e)
{
    pg_store *s = impl;
    PGresult *r = PQexec(s->conn, sql);
    char what[32];
    snprintf(what, sizeof what, "schema step %d", version);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || pg_fail(s, r, e, what);
    PQclear(r);
    pg_params p = {0};
    pg_int(&p, version);
    pg_int(&p, msgw_time_now());
    return ok && pg_command(s, "INSERT INTO schema_version(version, applied_at) VALUES ($1, $2)",
                            &p, what, e);
}

static bool schema_end(void *impl, bool ok, msgw_errors *e)
{
    pg_store *s = impl;
    if (ok && pg_command(s, "COMMIT", NULL, "migrate", e)) return true;
    pg_rollback(s);
    return false;
}

static const store_schema_ops pg_schema = {
    .backend = "postgresql",
    .version = read_version,
    .begin = schema_begin,
    .apply = schema_apply,
    .end = schema_end,
};

static int pg_schema_version(void *impl, msgw_errors *e)
{
    return pg_ready(impl, false, e) ? read_version(impl, e) : -1;
}

static bool pg_migrate(void *impl, int *before, int *after, msgw_errors *e)
{
    return pg_ready(impl, false, e) && store_schema_migrate(&pg_schema, impl, before, after, e);
}

static void *pg_open(const char *location, unsigned flags, msgw_errors *e)
{
    msgw_buf uri;
    msgw_buf_init(&uri);
    msgw_buf_printf(&uri, "postgresql:%s", location);
    pg_store *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->flags = flags;
    s->conn = connect_to(uri.data, NULL);
    if (PQstatus(s->conn) != CONNECTION_OK && create_database(s->conn, uri.data)) {
        PQfinish(s->conn);
        s->conn = connect_to(uri.data, NULL);
    }
    bool ok = PQstatus(s->conn) == CONNECTION_OK;
    if (!ok) {
        msgw_buf where;
        msgw_buf_init(&where);
        redacted(uri.data, &where);
        char msg[512];
        msgw_error_add(e, -1, where.data, NULL, "store.open", "cannot connect to the store: %s",
                       one_line(PQerrorMessage(s->conn), msg, sizeof msg));
        msgw_buf_free(&where);
    }
    msgw_buf_free(&uri);
    ok = ok && configure_session(s, e) &&
         (flags & MSGW_STORE_AS_IS ||
          (store_schema_migrate(&pg_schema, s, NULL, NULL, e) && prepare_statements(s, e)));
    if (ok) return s;
    pg_close(s);
    return NULL;
}

/* ---- commit ---- */

/* Is this message id stored already?  Fills the original outcome: 1, 0 not, -1 error. */
static int find_record(pg_store *s, msgw_store_item *it, msgw_errors *e)
{
    pg_params p = {0};
    pg_text(&p, it->record->message_id);
    PGresult *r = run(s, W_FIND, &p, "find record", e);
    if (!r) return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        it->duplicate = true;
        it->seq = pg_num(r, 0, 0);
        it->recorded_at = pg_num(r, 0, 1);
    }
    PQclear(r);
    return found;
}

static bool put_facts(pg_store *s, const msgw_record *r, int64_t seq, msgw_time now, msgw_errors *e)
{
    for (size_t i = 0; i < r->nfacts; i++) {
        const msgw_fact *f = &r->facts[i];
        char *attrs = msgw_store_fact_attributes(f);
        pg_params p = {0};
        pg_int(&p, seq);
        pg_text(&p, f->subject);
        pg_text(&p, f->type);
        pg_int_or_null(&p, f->valid_from, MSGW_DATE_NONE);
        pg_int_or_null(&p, f->valid_to, MSGW_DATE_NONE);
        pg_text(&p, attrs);
        pg_text(&p, r->source_department ? r->source_department : "");
        pg_text(&p, r->message_id);
        pg_int(&p, now);
        bool ok = pg_write(s, statements[W_FACT].name, true, &p, "store fact", e) >= 0;
        free(attrs);
        if (!ok) return false;
    }
    return true;
}

/* One envelope kept as evidence (record_seq: the record it carried; 0 none). */
static bool keep_envelope(pg_store *s, int64_t record_seq, const char *peer, const char *message_id,
                          const char *digest, const void *body, size_t len, const char *direction,
                          msgw_time now, msgw_errors *e)
{
    pg_params p = {0};
    pg_int_or_null(&p, record_seq, 0);
    pg_text(&p, peer);
    pg_text(&p, message_id ? message_id : "");
    pg_text(&p, digest);
    pg_bytes(&p, body, len);
    pg_int(&p, now);
    pg_text(&p, direction);
    return pg_write(s, statements[W_ENVELOPE].name, true, &p, "store envelope", e) >= 0;
}

static bool put_outbox(pg_store *s, const msgw_store_item *it, msgw_time now, msgw_errors *e)
{
    for (size_t i = 0; i < it->noutbox; i++) {
        const msgw_outbox_msg *m = &it->outbox[i];
        pg_params p = {0};
        pg_text(&p, m->event_id);
        pg_text(&p, m->recipient);
        pg_text(&p, m->kind);
        pg_text(&p, m->media_type);
        pg_text(&p, m->person ? m->person : "");
        pg_bytes(&p, m->body, m->len);
        /* caused by no record: the calendar, a parameter */
        pg_int_or_null(&p, it->record ? it->seq : 0, 0);
        pg_int(&p, now);
        pg_text(&p, m->cause);
        pg_text(&p, m->basis);
        int64_t queued =
            pg_write(s, statements[W_OUTBOX].name, true, &p, "store outbox message", e);
        if (queued < 0) return false;
        if (m->evidence && queued &&
            !keep_envelope(s, it->record ? it->seq : 0, m->recipient, m->cause, m->evidence,
                           m->body, m->len, "sent", now, e))
            return false;
    }
    return true;
}

static bool put_transition(pg_store *s, const msgw_store_item *it, const msgw_store_verdict *v,
                           msgw_time now, msgw_errors *e)
{
    pg_params p = {0};
    pg_int(&p, now);
    pg_text(&p, v->person);
    pg_text(&p, v->service);
    pg_text(&p, v->kind);
    pg_text(&p, v->eligible ? "true" : "false");
    pg_text(&p, v->tier);
    pg_int_or_null(&p, v->amount, INT64_MIN);
    pg_text(&p, v->hukou_region);
    pg_text(&p, v->residence_region);
    pg_text(&p, v->explanation);
    pg_text(&p, it->record ? it->record->message_id : NULL);
    pg_int_or_null(&p, it->record ? it->seq : 0, 0);
    return pg_write(s, statements[W_TRANSITION].name, true, &p, "store transition", e) >= 0;
}

static bool put_verdicts(pg_store *s, const msgw_store_item *it, msgw_time now, msgw_errors *e)
{
    for (size_t i = 0; i < it->nverdicts; i++) {
        const msgw_store_verdict *v = &it->verdicts[i];
        pg_params p = {0};
        pg_text(&p, v->person);
        pg_text(&p, v->service);
        pg_text(&p, v->eligible ? "true" : "false");
        pg_int_or_null(&p, v->eligible ? v->since : MSGW_DATE_NONE, MSGW_DATE_NONE);
        pg_text(&p, v->tier);
        pg_int_or_null(&p, v->amount, INT64_MIN);
        pg_int_or_null(&p, it->record ? it->seq : 0, 0);
        pg_int(&p, now);
        if (pg_write(s, statements[W_VERDICT].name, true, &p, "store verdict", e) < 0) return false;
        if (v->kind && !put_transition(s, it, v, now, e)) return false;
    }
    return true;
}

static bool put_envelope(pg_store *s, const msgw_store_item *it, msgw_time now, msgw_errors *e)
{
    return !it->envelope ||
           keep_envelope(s, it->seq, it->sender, it->record->message_id, it->envelope_digest,
                         it->envelope, it->envelope_len, "received", now, e);
}

/* The record itself: true and *fresh when it was written, true and !*fresh for a duplicate (its
 * original outcome filled). */
static bool put_record(pg_store *s, msgw_store_item *it, const msgw_record *copy, msgw_time now,
                       bool *fresh, msgw_errors *e)
{
    msgw_buf canonical;
    msgw_buf_init(&canonical);
    msgw_canon_write(copy, &canonical);
    pg_params p = {0};
    pg_text(&p, copy->message_id);
    pg_text(&p, copy->kind);
    pg_text(&p, it->sender ? it->sender : (copy->source_department ? copy->source_department : ""));
    pg_text(&p, copy->source_message_id);
    pg_text(&p, it->body_digest);
    pg_int(&p, now);
    pg_text(&p, canonical.data ? canonical.data : "{}");
    pg_text(&p, it->deferred ? "false" : "true");
    PGresult *r = run(s, W_RECORD, &p, "store record", e);
    msgw_buf_free(&canonical);
    if (!r) return false;
    *fresh = PQntuples(r) == 1;
    if (*fresh) {
        it->duplicate = false;
        it->seq = pg_num(r, 0, 0);
        it->evaluated = pg_num_or(r, 0, 1, 0);
        it->recorded_at = now;
    }
    PQclear(r);
    if (*fresh || find_record(s, it, e) > 0) return true;
    if (!e->nerrors) /* the conflicting row is committed before the insert gives way: unreachable */
        msgw_error_add(e, -1, "store", NULL, "store.postgresql",
                       "store record: a duplicate message id with no stored record");
    return false;
}

/*
 * Takes the next place in the order of evaluation for a record stored for the evaluator (by its
 * seq, or by message id when seq is 0): 1 when it took it (it->evaluated filled), 0 when the record
 * was evaluated before, -1 on error.
 */
static int evaluate_stored(pg_store *s, msgw_store_item *it, int64_t seq, msgw_time now,
                           msgw_errors *e)
{
    pg_params p = {0};
    if (seq > 0) pg_int(&p, seq);
    else pg_text(&p, it->record->message_id);
    pg_int(&p, now);
    PGresult *r = run(s, seq > 0 ? W_EVALUATE_SEQ : W_EVALUATE_ID, &p, "evaluate record", e);
    if (!r) return -1;
    int took = PQntuples(r) == 1;
    if (took) {
        it->seq = pg_num(r, 0, 0);
        it->evaluated = pg_num(r, 0, 1);
        it->recorded_at = pg_num(r, 0, 2);
    }
    PQclear(r);
    return took;
}

/* What a record caused: its messages and the verdicts after its transitions. */
static bool put_caused(pg_store *s, const msgw_store_item *it, msgw_time now, msgw_errors *e)
{
    return put_outbox(s, it, now, e) && put_verdicts(s, it, now, e);
}

static bool put_item(pg_store *s, msgw_store_item *it, msgw_time now, msgw_errors *e)
{
    it->evaluated = 0;
    if (!it->record) { /* what the calendar or a parameter caused: its messages and verdicts */
        it->seq = 0;
        return put_caused(s, it, now, e);
    }
    if (it->stored_seq > 0) { /* stored by another instance, evaluated here */
        int took = evaluate_stored(s, it, it->stored_seq, now, e);
        return took < 0 ? false : !took || put_caused(s, it, now, e);
    }
    msgw_record copy = *it->record;
    copy.recorded_at = now;
    bool fresh = false;
    if (!put_record(s, it, &copy, now, &fresh, e)) return false;
    if (fresh)
        return put_facts(s, &copy, it->seq, now, e) && put_caused(s, it, now, e) &&
               put_envelope(s, it, now, e);
    if (it->deferred) return true; /* a replay: the original outcome, nothing written */
    /* a replay, unless another instance stored it for the evaluator and this evaluates it */
    int took = evaluate_stored(s, it, 0, now, e);
    return took < 0 ? false : !took || put_caused(s, it, now, e);
}

/* The fence (msgw_store_fence): false, with store.fenced, when the lease is not the committer's. */
static bool check_fence(pg_store *s, msgw_errors *e)
{
    if (!s->fence_name) return true;
    pg_params p = {0};
    pg_text(&p, s->fence_name);
    pg_text(&p, s->fence_holder);
    pg_int(&p, s->fence_epoch);
    PGresult *r = run(s, W_FENCE, &p, "check the lease", e);
    if (!r) return false;
    bool held = PQntuples(r) == 1;
    PQclear(r);
    if (!held)
        msgw_error_add(e, -1, "store", NULL, "store.fenced",
                       "the lease %s is no longer %s's at epoch %lld: another instance holds it, "
                       "nothing committed",
                       s->fence_name, s->fence_holder, (long long)s->fence_epoch);
    return held;
}

/* One transaction; COMMIT returns once the server has made it durable (synchronous_commit on). */
static bool pg_commit(void *impl, msgw_store_item *items, size_t n, msgw_time now, msgw_errors *e)
{
    pg_store *s = impl;
    if (!pg_ready(s, false, e) || !pg_command(s, "BEGIN", NULL, "begin", e)) return false;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = put_item(s, &items[i], now, e);
    /* last, so the lease's row is locked only while the commit is made durable: a takeover waits
     * for this commit, or this commit finds the lease gone and writes nothing */
    if (ok) ok = check_fence(s, e);
    if (ok && pg_command(s, "COMMIT", NULL, "commit", e)) return true;
    pg_rollback(s);
    return false;
}

static int pg_known(void *impl, const char *message_id, int64_t *seq, msgw_time *recorded_at,
                    msgw_errors *e)
{
    if (!pg_ready(impl, false, e)) return -1;
    msgw_record r = {.message_id = message_id};
    msgw_store_item it = {.record = &r};
    int found = find_record(impl, &it, e);
    if (found > 0) {
        if (seq) *seq = it.seq;
        if (recorded_at) *recorded_at = it.recorded_at;
    }
    return found;
}

/* ---- delivery ---- */

static char *value_dup(const PGresult *r, int i, int col)
{
    char *v = strdup(PQgetvalue(r, i, col)); /* "" for NULL */
    if (!v) abort();
    return v;
}

/* The rows of a due query into out. */
static void read_due(const PGresult *r, msgw_store_deliveries *out)
{
    int n = PQntuples(r);
    out->v = calloc((size_t)n + 1, sizeof *out->v);
    if (!out->v) abort();
    for (int i = 0; i < n; i++) {
        msgw_delivery *d = &out->v[out->n++];
        d->id = pg_num(r, i, 0);
        d->event_id = value_dup(r, i, 1);
        d->recipient = value_dup(r, i, 2);
        d->kind = value_dup(r, i, 3);
        d->media_type = value_dup(r, i, 4);
        d->person = value_dup(r, i, 5);
        size_t len = 0;
        unsigned char *body = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 6), &len);
        if (!body) abort();
        d->len = len;
        d->body = malloc(len + 1);
        if (!d->body) abort();
        memcpy(d->body, body, len);
        ((char *)d->body)[len] = '\0';
        PQfreemem(body);
        d->attempts = (int)pg_num(r, i, 7);
        d->created_at = pg_num(r, i, 8);
        d->next_at = pg_num(r, i, 9);
        d->cause = value_dup(r, i, 10);
    }
}

/* A limit as the server's bigint. */
static int64_t limit_of(size_t max)
{
    return max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max;
}

/* A text array literal of n strings, each quoted, for a text[] parameter. */
static void text_array(msgw_buf *b, const char *const *v, size_t n)
{
    msgw_buf_puts(b, "{");
    for (size_t i = 0; i < n; i++) {
        msgw_buf_puts(b, i ? ",\"" : "\"");
        for (const char *c = v[i]; *c; c++)
            msgw_buf_printf(b, "%s%c", *c == '"' || *c == '\\' ? "\\" : "", *c);
        msgw_buf_puts(b, "\"");
    }
    msgw_buf_puts(b, "}");
}

/* The due query: for the recipients given, each up to its own limit, or for anyone. */
static PGresult *run_due(pg_store *s, const char *const *recipients, const size_t *max, size_t n,
                         msgw_time now, msgw_errors *e)
{
    pg_params p = {0};
    pg_int(&p, now);
    if (!recipients) {
        pg_int(&p, limit_of(max[0]));
        return run(s, W_DUE_ALL, &p, "claim due deliveries", e);
    }
    msgw_buf who, limits;
    msgw_buf_init(&who);
    msgw_buf_init(&limits);
    text_array(&who, recipients, n);
    msgw_buf_puts(&limits, "{");
    for (size_t i = 0; i < n; i++)
        msgw_buf_printf(&limits, "%s%lld", i ? "," : "", (long long)limit_of(max[i]));
    msgw_buf_puts(&limits, "}");
    pg_text(&p, who.data);
    pg_text(&p, limits.data);
    PGresult *r = run(s, W_DUE_AMONG, &p, "claim due deliveries", e);
    msgw_buf_free(&who);
    msgw_buf_free(&limits);
    return r;
}

/*
 * A deliverer's due is a claim: its transaction stays open with the rows it returned locked, and
 * other connections' due pass over them, until this connection's next call — its settlement,
 * which commits in the same transaction.  Another connection's due (the writer's, an
 * administrator's) only reads: it holds no lock past its statement, so it never keeps a
 * deliverer from settling.
 */
static bool pg_due(void *impl, const char *const *recipients, const size_t *max, size_t n,
                   msgw_time now, msgw_store_deliveries *out, msgw_errors *e)
{
    pg_store *s = impl;
    bool claim = s->flags & MSGW_STORE_DELIVERY;
    if (!pg_ready(s, false, e) || (claim && !pg_command(s, "BEGIN", NULL, "claim", e)))
        return false;
    PGresult *r = run_due(s, recipients, max, n, now, e);
    if (!r) {
        pg_rollback(s);
        return false;
    }
    read_due(r, out);
    PQclear(r);
    s->claiming = claim && out->n;
    if (!claim || out->n || pg_command(s, "COMMIT", NULL, "claim", e)) return true;
    msgw_store_deliveries_clear(out);
    return false;
}

/* The id of (recipient, event id): 0 when there is none, -1 on error. */
static int64_t find_event(void *impl, const char *recipient, const char *event_id, msgw_errors *e)
{
    pg_store *s = impl;
    pg_params p = {0};
    pg_text(&p, recipient);
    pg_text(&p, event_id);
    PGresult *r = run(s, W_FIND_EVENT, &p, "find delivery", e);
    if (!r) return -1;
    int64_t id = PQntuples(r) ? pg_num(r, 0, 0) : 0;
    PQclear(r);
    return id;
}

static bool settle_one(pg_store *s, msgw_settlement *x, msgw_time now, msgw_errors *e)
{
    msgw_settle_write w;
    int64_t id = msgw_store_settle_plan(s, x, find_event, &w, e);
    if (id <= 0) return id == 0; /* nothing to settle, or an error */
    pg_params p = {0};
    pg_int(&p, id);
    if (w.state) pg_text(&p, w.state);
    pg_int(&p, w.attempts);
    if (!w.state) pg_int(&p, x->next_at);
    pg_text(&p, w.error);
    if (w.state) pg_int(&p, now);
    int64_t n = pg_write(s, statements[w.state ? W_FINISH : W_RESCHEDULE].name, true, &p,
                         "settle delivery", e);
    x->applied = n == 1;
    return n >= 0;
}

static bool pg_settle(void *impl, msgw_settlement *v, size_t n, msgw_time now, msgw_errors *e)
{
    pg_store *s = impl;
    if (!pg_ready(s, true, e)) return false;
    bool ok = s->claiming || pg_command(s, "BEGIN", NULL, "begin", e);
    s->claiming = false;
    for (size_t i = 0; i < n && ok; i++)
        ok = settle_one(s, &v[i], now, e);
    if (ok && pg_command(s, "COMMIT", NULL, "commit", e)) return true;
    pg_rollback(s);
    for (size_t i = 0; i < n; i++)
        v[i].applied = false; /* nothing of the batch was written */
    return false;
}

/* ---- reading back: the engine's replay, verdicts, meta ---- */

typedef struct each_record_ctx {
    bool (*cb)(void *, int64_t, const char *, msgw_time);
    void *ud;
} each_record_ctx;

static bool record_row(void *ud, const PGresult *r, int i)
{
    each_record_ctx *c = ud;
    return c->cb(c->ud, pg_num(r, i, 0), PQgetvalue(r, i, 1), pg_num(r, i, 2));
}

static bool pg_each_record(void *impl, bool (*cb)(void *, int64_t, const char *, msgw_time),
                           void *ud, msgw_errors *e)
{
    each_record_ctx c = {cb, ud};
    return pg_ready(impl, false, e) &&
           pg_each_row(impl,
                       "SELECT seq, canonical, recorded_at FROM records WHERE evaluated_seq IS "
                       "NOT NULL ORDER BY evaluated_seq",
                       NULL,
                       record_row, &c, "read records", e);
}

typedef struct each_verdict_ctx {
    bool (*cb)(void *, const msgw_store_verdict *);
    void *ud;
} each_verdict_ctx;

static bool verdict_row(void *ud, const PGresult *r, int i)
{
    each_verdict_ctx *c = ud;
    msgw_store_verdict v = {.person = PQgetvalue(r, i, 0),
                            .service = PQgetvalue(r, i, 1),
                            .eligible = pg_bool(r, i, 2),
                            .since = (msgw_date)pg_num_or(r, i, 3, MSGW_DATE_NONE),
                            .tier = pg_value(r, i, 4),
                            .amount = pg_num_or(r, i, 5, INT64_MIN),
                            .updated_at = pg_num(r, i, 6)};
    return c->cb(c->ud, &v);
}

static bool pg_each_verdict(void *impl, const char *person,
                            bool (*cb)(void *, const msgw_store_verdict *), void *ud,
                            msgw_errors *e)
{
    each_verdict_ctx c = {cb, ud};
    pg_params p = {0};
    pg_text(&p, person);
    return pg_ready(impl, false, e) &&
           pg_each_row(impl,
                       "SELECT person, service, eligible, since, tier, amount, updated_at FROM "
                       "eligibility WHERE $1::text IS NULL OR person = $1 ORDER BY person, service",
                       &p, verdict_row, &c, "read verdicts", e);
}

static bool pg_meta_get(void *impl, const char *key, int64_t *value, msgw_errors *e)
{
    pg_params p = {0};
    pg_text(&p, key);
    PGresult *r = pg_ready(impl, false, e)
                      ? pg_run(impl, "SELECT value FROM meta WHERE key = $1", false, &p, "meta", e)
                      : NULL;
    bool found = r && PQntuples(r) > 0;
    if (found) *value = pg_num(r, 0, 0);
    PQclear(r);
    return found;
}

static bool pg_meta_set(void *impl, const char *key, int64_t value, msgw_errors *e)
{
    pg_params p = {0};
    pg_text(&p, key);
    pg_int(&p, value);
    return pg_ready(impl, false, e) &&
           pg_command(impl,
                      "INSERT INTO meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE "
                      "SET value = excluded.value",
                      &p, "meta", e);
}

/* ---- retention ---- */

static bool pg_prune(void *impl, const msgw_store_retention *r, int64_t *removed, msgw_errors *e)
{
    pg_store *s = impl;
    pg_params p = {0};
    pg_int(&p, r->delivered_before);
    pg_int(&p, r->dead_before);
    int64_t n = pg_ready(s, false, e)
                    ? pg_write(s,
                               "DELETE FROM outbox WHERE (state = 'delivered' AND $1::bigint > 0 "
                               "AND delivered_at < $1) OR (state = 'dead' AND $2::bigint > 0 AND "
                               "created_at < $2)",
                               false, &p, "prune", e)
                    : -1;
    if (n < 0) return false;
    *removed += n;
    pg_params q = {0};
    pg_int(&q, r->transitions_before);
    n = pg_write(s, "DELETE FROM transitions WHERE $1::bigint > 0 AND at < $1", false, &q, "prune",
                 e);
    if (n < 0) return false;
    *removed += n; /* the space is reused; autovacuum gives it back to the tables */
    return true;
}

/* The records retention may forget: old, and no longer needed by the state. */
typedef struct doomed {
    bool (*live)(void *, const char *);
    void *ud;
    int64_t *seq;
    size_t n, cap;
} doomed;

static bool choose_doomed(void *ud, const PGresult *r, int i)
{
    doomed *d = ud;
    if (d->live(d->ud, PQgetvalue(r, i, 1))) return true;
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 1024;
        d->seq = realloc(d->seq, d->cap * sizeof *d->seq);
        if (!d->seq) abort();
    }
    d->seq[d->n++] = pg_num(r, i, 0);
    return true;
}

/* How many records one round of deletes names (the array parameter's size). */
#define DOOMED_PER_ROUND 10000

/* Forgets the records d->seq[from, to): the links to them first, their facts, then them. */
static bool forget(pg_store *s, const doomed *d, size_t from, size_t to, int64_t *removed,
                   msgw_errors *e)
{
    static const char *const unlink[] = {
        "UPDATE eligibility SET record_seq = NULL WHERE record_seq = ANY($1::bigint[])",
        "UPDATE transitions SET record_seq = NULL WHERE record_seq = ANY($1::bigint[])",
        "DELETE FROM envelopes WHERE record_seq = ANY($1::bigint[])",
        "DELETE FROM facts WHERE record_seq = ANY($1::bigint[])",
    };
    msgw_buf seqs;
    msgw_buf_init(&seqs);
    msgw_buf_puts(&seqs, "{");
    for (size_t i = from; i < to; i++)
        msgw_buf_printf(&seqs, "%s%lld", i > from ? "," : "", (long long)d->seq[i]);
    msgw_buf_puts(&seqs, "}");
    pg_params p = {0};
    pg_text(&p, seqs.data);
    bool ok = true;
    for (size_t i = 0; i < sizeof unlink / sizeof unlink[0] && ok; i++)
        ok = pg_write(s, unlink[i], false, &p, "prune records", e) >= 0;
    int64_t n = ok ? pg_write(s, "DELETE FROM records WHERE seq = ANY($1::bigint[])", false, &p,
                              "prune records", e)
                   : -1;
    msgw_buf_free(&seqs);
    if (n >= 0) *removed += n;
    return n >= 0;
}

static bool pg_prune_records(void *impl, msgw_time before, bool (*live)(void *, const char *),
                             void *ud, int64_t *removed, msgw_errors *e)
{
    pg_store *s = impl;
    doomed d = {.live = live, .ud = ud};
    pg_params p = {0};
    pg_int(&p, before);
    bool ok = pg_ready(s, false, e) && pg_command(s, "BEGIN", NULL, "prune records", e) &&
              pg_each_row(s,
                          "SELECT seq, message_id FROM records r WHERE recorded_at < $1 AND NOT "
                          "EXISTS (SELECT 1 FROM outbox o WHERE o.record_seq = r.seq)",
                          &p, choose_doomed, &d, "prune records", e);
    for (size_t i = 0; ok && i < d.n; i += DOOMED_PER_ROUND)
        ok = forget(s, &d, i, i + DOOMED_PER_ROUND < d.n ? i + DOOMED_PER_ROUND : d.n, removed, e);
    free(d.seq);
    if (ok && pg_command(s, "COMMIT", NULL, "prune records", e)) return true;
    pg_rollback(s);
    *removed = 0;
    return false;
}

static const msgw_store_ops pg_ops = {
    .open = pg_open,
    .close = pg_close,
    .commit = pg_commit,
    .known = pg_known,
    .due = pg_due,
    .settle = pg_settle,
    .each_record = pg_each_record,
    .each_verdict = pg_each_verdict,
    .meta_get = pg_meta_get,
    .meta_set = pg_meta_set,
    .prune = pg_prune,
    .prune_records = pg_prune_records,
    .schema_version = pg_schema_version,
    .migrate = pg_migrate,
};

const msgw_store_backend msgw_store_postgresql = {
    .name = "postgresql",
    .alias = "postgres",
    .ops = &pg_ops,
    .query = &msgw_pg_query,
    .cluster = &msgw_pg_cluster,
};
