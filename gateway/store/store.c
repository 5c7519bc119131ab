/*
 * The store front, write path: reads the address, picks the backend its
 * scheme names, and forwards to the backend's write operations
 * (gateway/store/backend.h); the query side's front is query.c.  Adding a
 * backend is its own file and one line in `backends`, as PostgreSQL's.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "msgw/model/canon.h"
#include "schema.h"

/* The backends, by the scheme of their addresses ("sqlite:PATH"); the first is the default for an
 * address without a scheme. */
extern const msgw_store_backend msgw_store_sqlite;
extern const msgw_store_backend msgw_store_postgresql;
static const msgw_store_backend *const backends[] = {
    &msgw_store_sqlite,
    &msgw_store_postgresql,
};

/* The length of address's scheme (RFC 3986: a letter, then letters, digits, "+", "-", "."), up to
 * the colon; 0 when it has none (a plain path). */
static size_t scheme_length(const char *address)
{
    static const char more[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.";
    if (!((*address >= 'a' && *address <= 'z') || (*address >= 'A' && *address <= 'Z'))) return 0;
    size_t n = strspn(address, more);
    return address[n] == ':' ? n : 0;
}

/* Does the scheme of n bytes at address name b? */
static bool is_scheme(const msgw_store_backend *b, const char *address, size_t n)
{
    return (strlen(b->name) == n && strncmp(address, b->name, n) == 0) ||
           (b->alias && strlen(b->alias) == n && strncmp(address, b->alias, n) == 0);
}

/* The backend address names, and the location it is given (what follows the scheme). */
static const msgw_store_backend *backend_of(const char *address, const char **location,
                                            msgw_errors *e)
{
    size_t n = scheme_length(address);
    if (n == 0 && *address) { /* a plain path: the embedded default, as before addresses */
        *location = address;
        return backends[0];
    }
    for (size_t i = 0; n && i < sizeof backends / sizeof backends[0]; i++)
        if (is_scheme(backends[i], address, n)) {
            *location = address + n + 1;
            return backends[i];
        }
    char known[128] = "";
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s:...", i ? ", " : "",
                 backends[i]->name);
    if (n)
        msgw_error_add(e, -1, address, NULL, "store.address",
                       "unknown store address: no backend has the scheme '%.*s' (known: %s)",
                       (int)n, address, known);
    else
        msgw_error_add(e, -1, address, NULL, "store.address", "empty store address (known: %s)",
                       known);
    return NULL;
}

msgw_store *msgw_store_open(const char *address, unsigned flags, msgw_errors *e)
{
    const char *location = NULL;
    const msgw_store_backend *b = backend_of(address ? address : "", &location, e);
    if (!b) return NULL;
    void *impl = b->ops->open(location, flags, e);
    if (!impl) return NULL;
    msgw_store *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->b = b;
    s->impl = impl;
    return s;
}

bool msgw_store_address(const char *configured, const char *data_dir, char *out, size_t len,
                        msgw_errors *e)
{
    int n = configured ? snprintf(out, len, "%s", configured)
                       : snprintf(out, len, "%s:%s/msgw.db", backends[0]->name, data_dir);
    if (n >= 0 && (size_t)n < len) return true;
    msgw_error_add(e, -1, configured ? configured : data_dir, NULL, "store.address",
                   "the store's address is longer than %zu bytes", len - 1);
    return false;
}

void msgw_store_close(msgw_store **sp)
{
    if (!sp || !*sp) return;
    (*sp)->b->ops->close((*sp)->impl);
    free(*sp);
    *sp = NULL;
}

const char *msgw_store_backend_name(const msgw_store *s)
{
    return s->b->name;
}

int msgw_store_schema_version(msgw_store *s, int *known, msgw_errors *e)
{
    if (known && (*known = store_schema_known(s->b->name, e)) < 0) return -1;
    return s->b->ops->schema_version(s->impl, e);
}

bool msgw_store_migrate(msgw_store *s, int *before, int *after, msgw_errors *e)
{
    return s->b->ops->migrate(s->impl, before, after, e);
}

bool msgw_store_commit(msgw_store *s, msgw_store_item *items, size_t n, msgw_time now,
                       msgw_errors *e)
{
    return s->b->ops->commit(s->impl, items, n, now, e);
}

int msgw_store_known(msgw_store *s, const char *message_id, int64_t *seq, msgw_time *recorded_at,
                     msgw_errors *e)
{
    return s->b->ops->known(s->impl, message_id, seq, recorded_at, e);
}

bool msgw_store_due(msgw_store *s, const char *recipient, msgw_time now, size_t max,
                    msgw_store_deliveries *out, msgw_errors *e)
{
    out->v = NULL;
    out->n = 0;
    return s->b->ops->due(s->impl, recipient ? &recipient : NULL, &max, 1, now, out, e);
}

bool msgw_store_due_among(msgw_store *s, const char *const *recipients, const size_t *max, size_t n,
                          msgw_time now, msgw_store_deliveries *out, msgw_errors *e)
{
    out->v = NULL;
    out->n = 0;
    return n == 0 || s->b->ops->due(s->impl, recipients, max, n, now, out, e);
}

void msgw_delivery_clear(msgw_delivery *x)
{
    free(x->event_id);
    free(x->recipient);
    free(x->kind);
    free(x->media_type);
    free(x->person);
    free(x->cause);
    free(x->body);
    memset(x, 0, sizeof *x);
}

void msgw_store_deliveries_clear(msgw_store_deliveries *d)
{
    for (size_t i = 0; i < d->n; i++) msgw_delivery_clear(&d->v[i]);
    free(d->v);
    d->v = NULL;
    d->n = 0;
}

bool msgw_store_settle(msgw_store *s, msgw_settlement *v, size_t n, msgw_time now, msgw_errors *e)
{
    return n == 0 || s->b->ops->settle(s->impl, v, n, now, e);
}

/* One settlement; a message that was not pending is an error for the single-message forms. */
static bool settle_one(msgw_store *s, msgw_settlement x, msgw_time now, msgw_errors *e)
{
    if (!msgw_store_settle(s, &x, 1, now, e)) return false;
    if (x.applied) return true;
    msgw_error_add(e, -1, "store", NULL, "store.delivery", "delivery %lld is not pending",
                   (long long)x.id);
    return false;
}

bool msgw_store_delivered(msgw_store *s, int64_t id, msgw_time now, msgw_errors *e)
{
    return settle_one(
        s, (msgw_settlement){.id = id, .outcome = MSGW_SETTLE_DELIVERED, .attempt = true}, now, e);
}

bool msgw_store_retry(msgw_store *s, int64_t id, msgw_time next_at, const char *error,
                      msgw_errors *e)
{
    return settle_one(s,
                      (msgw_settlement){.id = id,
                                        .outcome = MSGW_SETTLE_RETRY,
                                        .attempt = true,
                                        .next_at = next_at,
                                        .error = error},
                      0, e);
}

bool msgw_store_dead_letter(msgw_store *s, int64_t id, const char *error, msgw_errors *e)
{
    return settle_one(
        s,
        (msgw_settlement){.id = id, .outcome = MSGW_SETTLE_DEAD, .attempt = true, .error = error},
        0, e);
}

bool msgw_store_each_record(msgw_store *s,
                            bool (*cb)(void *ud, int64_t seq, const char *canonical,
                                       msgw_time recorded_at),
                            void *ud, msgw_errors *e)
{
    return s->b->ops->each_record(s->impl, cb, ud, e);
}

bool msgw_store_each_verdict(msgw_store *s, const char *person,
                             bool (*cb)(void *ud, const msgw_store_verdict *v), void *ud,
                             msgw_errors *e)
{
    return s->b->ops->each_verdict(s->impl, person, cb, ud, e);
}

bool msgw_store_meta_get(msgw_store *s, const char *key, int64_t *value, msgw_errors *e)
{
    return s->b->ops->meta_get(s->impl, key, value, e);
}

bool msgw_store_meta_set(msgw_store *s, const char *key, int64_t value, msgw_errors *e)
{
    return s->b->ops->meta_set(s->impl, key, value, e);
}

bool msgw_store_prune_records(msgw_store *s, msgw_time before,
                              bool (*live)(void *ud, const char *message_id), void *ud,
                              int64_t *removed, msgw_errors *e)
{
    *removed = 0;
    return s->b->ops->prune_records(s->impl, before, live, ud, removed, e);
}

bool msgw_store_prune(msgw_store *s, const msgw_store_retention *r, int64_t *removed,
                      msgw_errors *e)
{
    *removed = 0;
    return s->b->ops->prune(s->impl, r, removed, e);
}

char *msgw_store_fact_attributes(const msgw_fact *f)
{
    json_t *o = json_object();
    for (size_t i = 0; i < f->nattrs; i++)
        json_object_set_new(o, f->attrs[i].name, msgw_canon_value(&f->attrs[i].v));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

int64_t msgw_store_settle_plan(void *impl, msgw_settlement *x,
                               int64_t (*find)(void *, const char *, const char *, msgw_errors *),
                               msgw_settle_write *w, msgw_errors *e)
{
    x->applied = false;
    int64_t id = x->id;
    if (id <= 0 && x->recipient && x->event_id &&
        (id = find(impl, x->recipient, x->event_id, e)) < 0)
        return -1;
    if (id <= 0 || (unsigned)x->outcome > MSGW_SETTLE_INFLIGHT) return 0;
    bool finish = x->outcome == MSGW_SETTLE_DELIVERED || x->outcome == MSGW_SETTLE_DEAD;
    bool has_error = x->outcome == MSGW_SETTLE_RETRY || x->outcome == MSGW_SETTLE_DEAD;
    *w = (msgw_settle_write){.state = !finish                               ? NULL
                                      : x->outcome == MSGW_SETTLE_DELIVERED ? "delivered"
                                                                            : "dead",
                             .attempts = x->attempt || x->outcome == MSGW_SETTLE_INFLIGHT ? 1 : 0,
                             .error = has_error ? x->error : NULL};
    return id;
}
