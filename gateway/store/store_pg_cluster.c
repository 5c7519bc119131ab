/*
 * The PostgreSQL backend's side of several instances (msgw/store/cluster.h,
 * docs/cluster.md): leases on the server's clock, the fence its commits check
 * (store_pg.c), the instances' rows, and the two walks of the record log —
 * what is stored and not yet evaluated, and what was evaluated after a place.
 */
#include <stdlib.h>
#include <string.h>

#include "store_pg.h"

/* The server's clock in microseconds: leases are timed by one clock, whichever instance asks. */
#define NOW_US "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"

/* Takes the lease when it is free, expired or already the holder's; a new holder makes a new
 * epoch.  No row back: another holds it. */
static int pg_lease(void *impl, const char *name, const char *holder, int64_t period_us,
                    int64_t *epoch, msgw_errors *e)
{
    pg_store *s = impl;
    if (!pg_ready(s, false, e)) return -1;
    pg_params p = {0};
    pg_text(&p, name);
    pg_text(&p, holder);
    pg_int(&p, period_us);
    PGresult *r = pg_run(
        s,
        "INSERT INTO leases AS l (name, holder, epoch, expires_at, acquired_at) VALUES ($1, $2, "
        "1, " NOW_US " + $3, " NOW_US
        ") ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
        "epoch = CASE WHEN l.holder IS NOT DISTINCT FROM excluded.holder THEN l.epoch ELSE "
        "l.epoch + 1 END, acquired_at = CASE WHEN l.holder IS NOT DISTINCT FROM excluded.holder "
        "THEN l.acquired_at ELSE excluded.acquired_at END, expires_at = excluded.expires_at "
        "WHERE l.holder IS NOT DISTINCT FROM excluded.holder OR l.holder IS NULL OR "
        "l.expires_at < " NOW_US " RETURNING epoch",
        false, &p, "take the lease", e);
    if (!r) return -1;
    int held = PQntuples(r) == 1;
    if (held) *epoch = pg_num(r, 0, 0);
    PQclear(r);
    return held;
}

static bool pg_lease_release(void *impl, const char *name, const char *holder, msgw_errors *e)
{
    pg_store *s = impl;
    pg_params p = {0};
    pg_text(&p, name);
    pg_text(&p, holder);
    return pg_ready(s, false, e) &&
           pg_command(s, "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2", &p,
                      "give the lease up", e);
}

static char *dup_or_null(const char *v)
{
    if (!v) return NULL;
    char *c = strdup(v);
    if (!c) abort();
    return c;
}

static void pg_fence(void *impl, const char *name, const char *holder, int64_t epoch)
{
    pg_store *s = impl;
    free(s->fence_name);
    free(s->fence_holder);
    s->fence_name = dup_or_null(name);
    s->fence_holder = dup_or_null(name ? holder : NULL);
    s->fence_epoch = epoch;
}

static bool pg_heartbeat(void *impl, const msgw_instance_row *me, msgw_errors *e)
{
    pg_store *s = impl;
    pg_params p = {0};
    pg_text(&p, me->name);
    pg_text(&p, me->host);
    pg_int(&p, me->pid);
    pg_int(&p, me->started_at);
    pg_text(&p, me->role);
    pg_int(&p, me->evaluated_through);
    pg_text(&p, me->stopped ? "true" : "false");
    return pg_ready(s, false, e) &&
           pg_command(
               s,
               "INSERT INTO instances AS i (name, host, pid, started_at, heartbeat_at, role, "
               "evaluated_through, stopped) VALUES ($1, $2, $3, $4, " NOW_US
               ", $5, $6, $7::boolean) ON CONFLICT (name) DO UPDATE SET host = excluded.host, "
               "pid = excluded.pid, started_at = excluded.started_at, heartbeat_at = "
               "excluded.heartbeat_at, role = excluded.role, evaluated_through = "
               "excluded.evaluated_through, stopped = excluded.stopped",
               &p, "heartbeat", e);
}

static const char *arena_value(msgw_arena *a, const PGresult *r, int i, int col)
{
    const char *v = pg_value(r, i, col);
    return v ? msgw_arena_strdup(a, v) : NULL;
}

static bool read_instances(pg_store *s, msgw_arena *a, msgw_cluster_view *out, msgw_errors *e)
{
    PGresult *r =
        pg_run(s,
               "SELECT name, host, pid, started_at, heartbeat_at, role, evaluated_through, "
               "stopped, " NOW_US " FROM instances ORDER BY name",
               false, NULL, "read the instances", e);
    if (!r) return false;
    int n = PQntuples(r);
    out->instances = msgw_arena_alloc(a, ((size_t)n + 1) * sizeof *out->instances);
    for (int i = 0; i < n; i++)
        out->instances[i] = (msgw_instance_row){.name = arena_value(a, r, i, 0),
                                                .host = arena_value(a, r, i, 1),
                                                .pid = (int)pg_num(r, i, 2),
                                                .started_at = pg_num(r, i, 3),
                                                .heartbeat_at = pg_num(r, i, 4),
                                                .role = arena_value(a, r, i, 5),
                                                .evaluated_through = pg_num(r, i, 6),
                                                .stopped = pg_bool(r, i, 7)};
    out->ninstances = (size_t)n;
    out->now = n ? pg_num(r, 0, 8) : 0;
    PQclear(r);
    return true;
}

static bool read_leases(pg_store *s, msgw_arena *a, msgw_cluster_view *out, msgw_errors *e)
{
    PGresult *r = pg_run(s,
                         "SELECT name, holder, epoch, expires_at, coalesce(acquired_at, 0), " NOW_US
                         " FROM leases ORDER BY name",
                         false, NULL, "read the leases", e);
    if (!r) return false;
    int n = PQntuples(r);
    out->leases = msgw_arena_alloc(a, ((size_t)n + 1) * sizeof *out->leases);
    for (int i = 0; i < n; i++)
        out->leases[i] = (msgw_lease_row){.name = arena_value(a, r, i, 0),
                                          .holder = arena_value(a, r, i, 1),
                                          .epoch = pg_num(r, i, 2),
                                          .expires_at = pg_num(r, i, 3),
                                          .acquired_at = pg_num(r, i, 4)};
    out->nleases = (size_t)n;
    if (n) out->now = pg_num(r, 0, 5);
    PQclear(r);
    return true;
}

static bool pg_view(void *impl, msgw_arena *a, msgw_cluster_view *out, msgw_errors *e)
{
    pg_store *s = impl;
    return pg_ready(s, false, e) && read_instances(s, a, out, e) && read_leases(s, a, out, e);
}

typedef struct walk {
    bool (*stored)(void *, int64_t, const char *, msgw_time, const char *);
    bool (*evaluated)(void *, int64_t, const char *, msgw_time);
    void *ud;
} walk;

static bool stored_row(void *ud, const PGresult *r, int i)
{
    walk *w = ud;
    return w->stored(w->ud, pg_num(r, i, 0), PQgetvalue(r, i, 1), pg_num(r, i, 2),
                     PQgetvalue(r, i, 3));
}

static bool evaluated_row(void *ud, const PGresult *r, int i)
{
    walk *w = ud;
    return w->evaluated(w->ud, pg_num(r, i, 0), PQgetvalue(r, i, 1), pg_num(r, i, 2));
}

static int64_t limit_of(size_t max)
{
    return max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max;
}

static bool pg_unevaluated(void *impl, size_t max,
                           bool (*cb)(void *, int64_t, const char *, msgw_time, const char *),
                           void *ud, msgw_errors *e)
{
    pg_store *s = impl;
    walk w = {.stored = cb, .ud = ud};
    pg_params p = {0};
    pg_int(&p, limit_of(max));
    return pg_ready(s, false, e) &&
           pg_each_row(
               s,
               "SELECT seq, canonical, recorded_at, sender FROM records WHERE evaluated_seq "
               "IS NULL ORDER BY seq LIMIT $1",
               &p, stored_row, &w, "read the records not evaluated", e);
}

static bool pg_evaluated_after(void *impl, int64_t after, size_t max,
                               bool (*cb)(void *, int64_t, const char *, msgw_time), void *ud,
                               msgw_errors *e)
{
    pg_store *s = impl;
    walk w = {.evaluated = cb, .ud = ud};
    pg_params p = {0};
    pg_int(&p, after);
    pg_int(&p, limit_of(max));
    return pg_ready(s, false, e) &&
           pg_each_row(s,
                       "SELECT evaluated_seq, canonical, evaluated_at FROM records WHERE "
                       "evaluated_seq > $1 ORDER BY evaluated_seq LIMIT $2",
                       &p, evaluated_row, &w, "read the records evaluated", e);
}

const msgw_store_cluster_ops msgw_pg_cluster = {
    .lease = pg_lease,
    .lease_release = pg_lease_release,
    .fence = pg_fence,
    .heartbeat = pg_heartbeat,
    .view = pg_view,
    .unevaluated = pg_unevaluated,
    .evaluated_after = pg_evaluated_after,
};
