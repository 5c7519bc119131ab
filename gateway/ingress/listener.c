/*
 * The listeners a daemon runs (include/msgw/ingress/listener.h): started from a table, then
 * drained, reloaded and stopped together, so that the daemon names none of them.
 */
#include <stdlib.h>

#include "msgw/ingress/listener.h"

typedef struct running {
    const msgw_listener_ops *ops;
    void *l;
} running;

struct msgw_listeners {
    running *v;
    size_t n;
};

bool msgw_listeners_need_hub(const msgw_listener_ops *const *table, const msgw_config *cfg)
{
    for (; table && *table; table++)
        if ((*table)->needs_hub && (*table)->wanted(cfg)) return true;
    return false;
}

msgw_listeners *msgw_listeners_start(const msgw_listener_ops *const *table,
                                     const msgw_listener_env *env, msgw_errors *e)
{
    msgw_listeners *s = calloc(1, sizeof *s);
    size_t n = 0;
    for (const msgw_listener_ops *const *t = table; t && *t; t++)
        n++;
    if (!s || !(s->v = calloc(n + 1, sizeof *s->v))) abort();
    for (; table && *table; table++) {
        if (!(*table)->wanted(env->cfg)) continue;
        void *l = (*table)->start(env, e);
        if (!l) {
            msgw_listeners_stop(&s);
            return NULL;
        }
        s->v[s->n++] = (running){.ops = *table, .l = l};
    }
    return s;
}

void msgw_listeners_stop(msgw_listeners **sp)
{
    if (!sp || !*sp) return;
    msgw_listeners *s = *sp;
    for (size_t i = s->n; i-- > 0;)
        s->v[i].ops->stop(&s->v[i].l);
    free(s->v);
    free(s);
    *sp = NULL;
}

void msgw_listeners_pause(msgw_listeners *s)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (s->v[i].ops->pause) s->v[i].ops->pause(s->v[i].l);
}

bool msgw_listeners_prepare(msgw_listeners *s, const msgw_listener_env *env, msgw_errors *e)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (s->v[i].ops->prepare && !s->v[i].ops->prepare(s->v[i].l, env, e)) return false;
    return true;
}

bool msgw_listeners_reconfigure(msgw_listeners *s, const msgw_listener_env *env, msgw_errors *e)
{
    bool ok = true;
    for (size_t i = 0; s && i < s->n; i++)
        if (s->v[i].ops->reconfigure) ok = s->v[i].ops->reconfigure(s->v[i].l, env, e) && ok;
    return ok;
}

size_t msgw_listeners_count(const msgw_listeners *s)
{
    return s ? s->n : 0;
}

const msgw_listener_ops *msgw_listeners_ops(const msgw_listeners *s, size_t i)
{
    return s && i < s->n ? s->v[i].ops : NULL;
}

const char *msgw_listeners_endpoint(const msgw_listeners *s, size_t i)
{
    return s && i < s->n ? s->v[i].ops->endpoint(s->v[i].l) : NULL;
}

json_t *msgw_listeners_stats(const msgw_listeners *s)
{
    json_t *all = json_array();
    for (size_t i = 0; s && i < s->n; i++) {
        json_t *o = json_pack("{s:s,s:s}", "name", s->v[i].ops->name, "endpoint",
                              s->v[i].ops->endpoint(s->v[i].l));
        if (s->v[i].ops->stats) {
            json_t *own = s->v[i].ops->stats(s->v[i].l);
            json_object_update_missing(o, own);
            json_decref(own);
        }
        json_array_append_new(all, o);
    }
    return all;
}
