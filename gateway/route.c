/*
 * Routing (include/msgw/route.h): subscriptions and projections for
 * records, the catalogue's departments for eligibility transitions.  Event
 * ids are digests of what the message is about and for whom, so the same
 * cause always yields the same id and receivers can de-duplicate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/canon.h"
#include "msgw/route.h"

static const char *event_id(msgw_arena *a, const char *a1, const char *a2, const char *a3, const char *a4)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s|%s|%s|%s", a1 ? a1 : "", a2 ? a2 : "", a3 ? a3 : "", a4 ? a4 : "");
    char *hex = msgw_arena_alloc(a, 65);
    msgw_sha256_hex(buf, (size_t)(n < 0 ? 0 : n), hex);
    return hex;
}

static void push(msgw_outbox_list *out, msgw_outbox_msg m)
{
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 8;
        out->v = realloc(out->v, out->cap * sizeof *out->v);
        if (!out->v) abort();
    }
    out->v[out->n++] = m;
}

static bool listed(const char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0) return true;
    return false;
}

static const char *keep_field(const msgw_subscription *s, const char *field, const char *value)
{
    return value && listed(s->fields, s->nfields, field) ? value : NULL;
}

msgw_record *msgw_route_project(const msgw_record *r, const msgw_subscription *s, msgw_arena *a)
{
    msgw_record *p = msgw_arena_alloc(a, sizeof *p);
    *p = *r;
    p->persons = msgw_arena_alloc(a, (r->npersons + 1) * sizeof *p->persons);
    for (size_t i = 0; i < r->npersons; i++) {
        const msgw_person *src = &r->persons[i];
        msgw_person *d = &p->persons[i];
        msgw_person_init(d);
        memcpy(d->id_number, src->id_number, sizeof d->id_number); /* the key always travels */
        d->name = keep_field(s, "name", src->name);
        d->sex = keep_field(s, "sex", src->sex);
        d->birth_date = listed(s->fields, s->nfields, "birth_date") ? src->birth_date : MSGW_DATE_NONE;
        d->ethnic = keep_field(s, "ethnic_group", src->ethnic);
        d->marital = keep_field(s, "marital_status", src->marital);
        d->hukou_region = keep_field(s, "hukou_region", src->hukou_region);
        d->hukou_type = keep_field(s, "hukou_type", src->hukou_type);
        d->residence_region = keep_field(s, "residence_region", src->residence_region);
    }
    if (r->household && !listed(s->fields, s->nfields, "family_relationship")) p->household = NULL;
    p->facts = msgw_arena_alloc(a, (r->nfacts + 1) * sizeof *p->facts);
    p->nfacts = 0;
    for (size_t i = 0; i < r->nfacts; i++) {
        msgw_fact f = r->facts[i];
        f.attrs = msgw_arena_alloc(a, (f.nattrs + 1) * sizeof *f.attrs);
        f.nattrs = 0;
        for (size_t k = 0; k < r->facts[i].nattrs; k++)
            if (listed(s->fields, s->nfields, r->facts[i].attrs[k].name)) f.attrs[f.nattrs++] = r->facts[i].attrs[k];
        if (f.nattrs) p->facts[p->nfacts++] = f; /* a fact with nothing the recipient may see is not sent */
    }
    return p;
}

/* The recipient's format, or the canonical form when its format cannot carry this record. */
static void encode_for(const msgw_adapter_ctx *ctx, const msgw_department *d, const msgw_record *r, msgw_arena *a,
                       const char **media_type, const void **body, size_t *len)
{
    const msgw_adapter *ad = msgw_adapter_find(d->adapter);
    msgw_buf b;
    msgw_buf_init(&b);
    msgw_errors e;
    msgw_errors_init(&e);
    const msgw_record *one[1] = {r};
    if (ad && ad->encode && d->deliver_media_type && ad->encode(ctx, d->deliver_media_type, one, 1, &b, &e)) {
        *media_type = d->deliver_media_type;
    } else {
        const msgw_adapter *canon = msgw_adapter_find("canonical");
        msgw_buf_reset(&b);
        msgw_errors_clear(&e);
        canon->encode(ctx, canon->media_types[0], one, 1, &b, &e);
        *media_type = canon->media_types[0];
    }
    *body = msgw_arena_strndup(a, b.data ? b.data : "", b.len);
    *len = b.len;
    msgw_buf_free(&b);
    msgw_errors_clear(&e);
}

void msgw_route_record(const msgw_config *cfg, const msgw_adapter_ctx *ctx, const msgw_record *r,
                       const char *sender, msgw_arena *a, msgw_outbox_list *out)
{
    for (size_t i = 0; i < cfg->ndepartments; i++) {
        const msgw_department *d = &cfg->departments[i];
        if (d->deliver == MSGW_DELIVER_NONE || (d->id && sender && strcmp(d->id, sender) == 0)) continue;
        for (size_t s = 0; s < d->nsubs; s++) {
            const msgw_subscription *sub = &d->subs[s];
            if (!listed(sub->kinds, sub->nkinds, r->kind) || (sub->nfrom && !listed(sub->from, sub->nfrom, sender)))
                continue;
            const msgw_record *p = msgw_route_project(r, sub, a);
            msgw_outbox_msg m = {event_id(a, d->id, "record", r->message_id, NULL), d->id, "record", NULL,
                                 r->npersons ? r->persons[0].id_number : "", NULL, 0, r->message_id};
            encode_for(ctx, d, p, a, &m.media_type, &m.body, &m.len);
            push(out, m);
            break; /* one copy per recipient, by its first matching subscription */
        }
    }
}

void msgw_route_transition(const msgw_config *cfg, const msgw_transition *t, const char *cause, msgw_arena *a,
                           msgw_outbox_list *out)
{
    static const char *const kinds[] = {"NEW", "LOST", "CHANGED"};
    char when[11];
    for (size_t i = 0; i < t->service->ndepartments; i++) {
        const msgw_department *d = msgw_config_department(cfg, t->service->departments[i]);
        if (!d || !d->eligibility || d->deliver == MSGW_DELIVER_NONE) continue;
        char *body = json_dumps(t->explanation, JSON_COMPACT | JSON_PRESERVE_ORDER);
        msgw_outbox_msg m = {event_id(a, d->id, t->person, t->service->code,
                                      msgw_arena_printf(a, "%s|%s", kinds[t->kind],
                                                        cause ? cause : msgw_date_format(t->after.since, when))),
                             d->id, "eligibility", "application/vnd.msgw.eligibility+json",
                             msgw_arena_strdup(a, t->person), msgw_arena_strdup(a, body), strlen(body),
                             cause ? msgw_arena_strdup(a, cause) : NULL};
        free(body);
        push(out, m);
    }
}
