/*
 * What the SQLite backend's two files share (private to gateway/store/): the
 * connection and its prepared write-path statements, and how errors and
 * optional text are bound.  store_sqlite.c is the connection and the write
 * path, store_sqlite_query.c the query side.
 */
#ifndef MSGW_STORE_SQLITE_H
#define MSGW_STORE_SQLITE_H

#include <sqlite3.h>

#include "backend.h"

/* The write path's statements, prepared once when the connection opens. */
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

typedef struct sqlite_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    sqlite3_stmt **among; /* due queries for n recipients, by n, prepared when first used */
    size_t namong;
    msgw_time busy_since;          /* when the wait for the write lock began (busy_wait) */
    unsigned busy_first_us, busy_max_us; /* its first pause, and the longest */
} sqlite_store;

/* Adds SQLite's own message for what failed; false, so callers can return it. */
static inline bool sqlite_fail(sqlite_store *s, msgw_errors *e, const char *what)
{
    msgw_error_add(e, -1, "store", NULL, "store.sqlite", "%s: %s", what, sqlite3_errmsg(s->db));
    return false;
}

/* v, or NULL for a NULL v. */
static inline void sqlite_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

extern const msgw_store_query_ops msgw_sqlite_query;

#endif
