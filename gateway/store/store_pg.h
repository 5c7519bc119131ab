/*
 * What the PostgreSQL backend's two files share (private to gateway/store/):
 * the connection, how a statement's parameters are passed (always as
 * parameters, never spelt into the SQL), how a statement is run and its
 * failure reported, and how a result's values are read.  store_pg.c is the
 * connection and the write path, store_pg_query.c the query side.
 */
#ifndef MSGW_STORE_PG_H
#define MSGW_STORE_PG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "backend.h"

typedef struct pg_store {
    PGconn *conn;
    unsigned flags; /* as opened: MSGW_STORE_DELIVERY, MSGW_STORE_AS_IS */
    bool claiming;  /* a deliverer's claim is open: the transaction of its last due (pg_due) */
    bool prepared;  /* the write path's statements are prepared on this session */
    /* the fence its commits check (msgw_store_fence); fence_name NULL: none */
    char *fence_name, *fence_holder;
    int64_t fence_epoch;
} pg_store;

/* A statement's parameters: text (NULL for SQL NULL), numbers (written here as text) or bytes
 * (sent as binary).  Passed by pointer: the numbers' values point into it. */
enum { PG_MAX_PARAMS = 16 };
typedef struct pg_params {
    int n;
    const char *v[PG_MAX_PARAMS];
    int len[PG_MAX_PARAMS], fmt[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][24];
} pg_params;

void pg_text(pg_params *p, const char *v);
void pg_int(pg_params *p, int64_t v);
/* v, or NULL when v is none (INT64_MIN: no amount; MSGW_DATE_NONE: no date) */
void pg_int_or_null(pg_params *p, int64_t v, int64_t none);
void pg_bytes(pg_params *p, const void *v, size_t len);

/*
 * Makes the connection usable: reconnects one that was lost (PQreset, then the session's settings
 * and statements again) and ends a deliverer's claim unless keep_claim (the settlement that
 * consumes it).  Every operation begins here; false, with an error, when the server cannot be
 * reached.
 */
bool pg_ready(pg_store *s, bool keep_claim, msgw_errors *e);
/* Adds the server's message for what failed (store.postgresql); false, so callers can return it.
 * r may be NULL (the connection's own message then). */
bool pg_fail(pg_store *s, const PGresult *r, msgw_errors *e, const char *what);
/*
 * Runs sql (or the statement prepared under that name, when prepared) with p (may be NULL) and
 * returns its result when it succeeded (rows or a command), else NULL after pg_fail.  The caller
 * PQclears it.
 */
PGresult *pg_run(pg_store *s, const char *sql, bool prepared, pg_params *p, const char *what,
                 msgw_errors *e);
/* A command whose result is not read (BEGIN, COMMIT, an update); false after pg_fail. */
bool pg_command(pg_store *s, const char *sql, pg_params *p, const char *what, msgw_errors *e);
/* Rolls back the transaction the connection is in, if it is in one (after a failure). */
void pg_rollback(pg_store *s);
/*
 * Runs sql with p in single-row mode, calling row(ud, r, 0) for each row as it arrives, so a
 * table is never held in memory whole; row returns false to stop (the rest is read and dropped).
 * The connection is busy meanwhile: row must not use it.
 */
bool pg_each_row(pg_store *s, const char *sql, pg_params *p,
                 bool (*row)(void *ud, const PGresult *r, int i), void *ud, const char *what,
                 msgw_errors *e);

/* Values of row i: NULL for SQL NULL; numbers; whether a boolean is true. */
static inline const char *pg_value(const PGresult *r, int i, int col)
{
    return PQgetisnull(r, i, col) ? NULL : PQgetvalue(r, i, col);
}
int64_t pg_num(const PGresult *r, int i, int col);
/* col as a number, or none when it is NULL */
int64_t pg_num_or(const PGresult *r, int i, int col, int64_t none);
bool pg_bool(const PGresult *r, int i, int col);

extern const msgw_store_query_ops msgw_pg_query;
extern const msgw_store_cluster_ops msgw_pg_cluster;

#endif
