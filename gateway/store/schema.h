/*
 * The store's schema versions, private to the store layer: each backend's
 * schema is numbered steps kept as SQL files (gateway/store/migrations/
 * BACKEND/NNNN_NAME.sql, built into the binary), and one runner applies the
 * pending ones for every backend.  A backend says how to read its version,
 * how to hold every other instance off while it migrates, and how to run a
 * step; the order, the refusal of a newer schema and the versions reported
 * are the runner's (docs/store.md, "Schema versions").
 */
#ifndef MSGW_STORE_SCHEMA_H
#define MSGW_STORE_SCHEMA_H

#include <stdbool.h>

#include "msgw/base/error.h"

/* What a backend does for the runner; impl is its connection. */
typedef struct store_schema_ops {
    const char *backend; /* its steps are migrations/BACKEND/ */
    /* the version applied (0: an empty store), -1 on error */
    int (*version)(void *impl, msgw_errors *e);
    /* takes the lock that keeps another instance from migrating at once, in a transaction */
    bool (*begin)(void *impl, msgw_errors *e);
    /* runs step version's sql and records the version as applied, in that transaction */
    bool (*apply)(void *impl, int version, const char *sql, msgw_errors *e);
    /* commits (ok) or rolls back the transaction, releasing the lock */
    bool (*end)(void *impl, bool ok, msgw_errors *e);
} store_schema_ops;

/* The highest version of backend's schema this build knows; -1, with an error, when its steps are
 * not numbered 1, 2, ... without a gap or a repeat. */
int store_schema_known(const char *backend, msgw_errors *e);

/*
 * Brings the store to the highest known version: refuses a store whose version is newer than this
 * build knows (store.schema_newer, naming both), else applies each missing step in order under
 * the backend's lock, reading the version again once the lock is held (another instance may have
 * migrated meanwhile).  *before and *after (may be NULL) get the versions found and left.
 */
bool store_schema_migrate(const store_schema_ops *ops, void *impl, int *before, int *after,
                          msgw_errors *e);

#endif
