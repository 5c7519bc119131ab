/*
 * The store front for several instances (msgw/store/cluster.h): forwards to
 * the backend's cluster operations, and refuses them, naming the backend,
 * on a store one process owns (SQLite).
 */
#include <string.h>

#include "backend.h"

bool msgw_store_clustered(const msgw_store *s)
{
    return s && s->b->cluster;
}

/* False, with store.cluster, when the backend has no cluster operations. */
static bool clustered(const msgw_store *s, msgw_errors *e)
{
    if (s->b->cluster) return true;
    msgw_error_add(e, -1, "store", NULL, "store.cluster",
                   "the %s store belongs to one process: several instances need a shared store "
                   "(postgresql://...)",
                   s->b->name);
    return false;
}

int msgw_store_lease(msgw_store *s, const char *name, const char *holder, int64_t period_us,
                     int64_t *epoch, msgw_errors *e)
{
    *epoch = 0;
    return clustered(s, e) ? s->b->cluster->lease(s->impl, name, holder, period_us, epoch, e) : -1;
}

bool msgw_store_lease_release(msgw_store *s, const char *name, const char *holder, msgw_errors *e)
{
    return clustered(s, e) && s->b->cluster->lease_release(s->impl, name, holder, e);
}

void msgw_store_fence(msgw_store *s, const char *name, const char *holder, int64_t epoch)
{
    if (s->b->cluster) s->b->cluster->fence(s->impl, name, holder, epoch);
}

bool msgw_store_heartbeat(msgw_store *s, const msgw_instance_row *me, msgw_errors *e)
{
    return clustered(s, e) && s->b->cluster->heartbeat(s->impl, me, e);
}

bool msgw_store_cluster_view(msgw_store *s, msgw_arena *a, msgw_cluster_view *out, msgw_errors *e)
{
    memset(out, 0, sizeof *out);
    return clustered(s, e) && s->b->cluster->view(s->impl, a, out, e);
}

bool msgw_store_unevaluated(msgw_store *s, size_t max,
                            bool (*cb)(void *ud, int64_t seq, const char *canonical,
                                       msgw_time recorded_at, const char *sender),
                            void *ud, msgw_errors *e)
{
    return clustered(s, e) && s->b->cluster->unevaluated(s->impl, max, cb, ud, e);
}

bool msgw_store_evaluated_after(msgw_store *s, int64_t after, size_t max,
                                bool (*cb)(void *ud, int64_t place, const char *canonical,
                                           msgw_time evaluated_at),
                                void *ud, msgw_errors *e)
{
    return clustered(s, e) && s->b->cluster->evaluated_after(s->impl, after, max, cb, ud, e);
}
