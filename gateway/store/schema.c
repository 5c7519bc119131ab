/*
 * The store's schema versions (schema.h): the steps of a backend's schema
 * are the files migrations/BACKEND/NNNN_NAME.sql built into the binary
 * (tools/embed.py), step NNNN each; this file finds them and applies the
 * missing ones in order.  Kept as data rather than C strings so a step reads
 * as the SQL it is, and a reviewer sees a new version as a new file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/embedded.h"
#include "schema.h"

/* The step number of an embedded file of backend's steps ("migrations/BACKEND/0002_x.sql" -> 2);
 * 0 when the file is not one of them. */
static int step_of(const msgw_embedded_file *f, const char *backend)
{
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "migrations/%s/", backend);
    if (n < 0 || (size_t)n >= sizeof prefix || strncmp(f->name, prefix, (size_t)n) != 0) return 0;
    char *end;
    long v = strtol(f->name + n, &end, 10);
    return end > f->name + n && *end == '_' && v > 0 && v < 100000 ? (int)v : 0;
}

/* The SQL of step version of backend; NULL when there is none. */
static const char *step_sql(const char *backend, int version)
{
    for (const msgw_embedded_file *f = msgw_embedded_files(); f->name; f++)
        if (step_of(f, backend) == version) return f->data;
    return NULL;
}

int store_schema_known(const char *backend, msgw_errors *e)
{
    int highest = 0, count = 0;
    for (const msgw_embedded_file *f = msgw_embedded_files(); f->name; f++) {
        int v = step_of(f, backend);
        if (v > highest) highest = v;
        count += v > 0;
    }
    if (highest > 0 && count == highest) return highest; /* the numbers are 1..highest, once each */
    msgw_error_add(e, -1, backend, NULL, "store.schema",
                   "the %s schema's steps in this build are not numbered 1 to %d without a gap "
                   "(%d of them)",
                   backend, highest, count);
    return -1;
}

static bool refuse_newer(const char *backend, int found, int known, msgw_errors *e)
{
    msgw_error_add(e, -1, backend, NULL, "store.schema_newer",
                   "the %s store's schema is version %d, newer than this msgw knows (version %d): "
                   "run the msgw that migrated it, or a newer one",
                   backend, found, known);
    return false;
}

/* Under the lock: the version again, then each missing step. */
static bool apply_missing(const store_schema_ops *ops, void *impl, int known, int *now,
                          msgw_errors *e)
{
    int v = ops->version(impl, e);
    if (v < 0) return false;
    if (v > known) return refuse_newer(ops->backend, v, known, e);
    for (*now = v; *now < known; ++*now) {
        const char *sql = step_sql(ops->backend, *now + 1);
        if (!ops->apply(impl, *now + 1, sql, e)) return false;
    }
    return true;
}

bool store_schema_migrate(const store_schema_ops *ops, void *impl, int *before, int *after,
                          msgw_errors *e)
{
    int known = store_schema_known(ops->backend, e);
    int found = known < 0 ? -1 : ops->version(impl, e);
    if (found < 0) return false;
    if (before) *before = found;
    if (after) *after = found;
    if (found > known) return refuse_newer(ops->backend, found, known, e);
    if (found == known) return true; /* the usual open: one read, no lock */
    int now = found;
    if (!ops->begin(impl, e)) return false;
    bool ok = apply_missing(ops, impl, known, &now, e);
    if (!ops->end(impl, ok, e)) ok = false;
    if (ok && after) *after = now;
    return ok;
}
