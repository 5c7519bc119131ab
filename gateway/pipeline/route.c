/*
 * Routing (include/msgw/pipeline/route.h): subscriptions and projections for
 * records, the catalogue's departments for eligibility transitions, each
 * encoded by the recipient's adapter.  Event ids are digests of what the
 * message is about and for whom, so the same cause always yields the same id
 * and receivers can de-duplicate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/decode/decode.h"
#include "msgw/model/canon.h"
#include "msgw/pipeline/route.h"

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
        if (d->peer_region) continue; /* peers receive by jurisdiction (msgw_route_peers) */
        for (size_t s = 0; s < d->nsubs; s++) {
            const msgw_subscription *sub = &d->subs[s];
            if (!listed(sub->kinds, sub->nkinds, r->kind) || (sub->nfrom && !listed(sub->from, sub->nfrom, sender)))
                continue;
            const msgw_record *p = msgw_route_project(r, sub, a);
            msgw_outbox_msg m = {event_id(a, d->id, "record", r->message_id, NULL), d->id, "record", NULL,
                                 r->npersons ? r->persons[0].id_number : "", NULL, 0, r->message_id, NULL,
                                 msgw_arena_printf(a, "subscription %s/%zu", d->id, s)};
            encode_for(ctx, d, p, a, &m.media_type, &m.body, &m.len);
            push(out, m);
            break; /* one copy per recipient, by its first matching subscription */
        }
    }
}

/* ---- peer gateways --------------------------------------------------------- */

static bool within(const char *code, const char *prefix)
{
    return code && prefix && strncmp(code, prefix, strlen(prefix)) == 0;
}

/* Whether a person of r lives or has their hukou in region: the record's own word first, then
 * what the gateway knows of them. */
static bool concerns(const msgw_record *r, const char *region, const msgw_route_env *env)
{
    for (size_t i = 0; i < r->npersons; i++) {
        const msgw_person *p = &r->persons[i];
        const char *hukou = p->hukou_region, *residence = p->residence_region;
        if (!hukou && r->household) hukou = r->household->region;
        if ((!hukou || !residence) && env->regions) {
            const char *h = NULL, *res = NULL;
            env->regions(env->ud, p->id_number, &h, &res);
            if (!hukou) hukou = h;
            if (!residence) residence = res;
        }
        if (within(hukou, region) || within(residence, region)) return true;
    }
    return false;
}

static bool passed_through(const msgw_route_env *env, const char *region)
{
    for (size_t i = 0; i < env->nhops; i++)
        if (strcmp(env->hops[i], region) == 0) return true;
    return false;
}

void msgw_route_peers(const msgw_config *cfg, const msgw_route_env *env, const msgw_record *r, msgw_arena *a,
                      msgw_outbox_list *out)
{
    for (size_t i = 0; env->peers && i < cfg->ndepartments; i++) {
        const msgw_department *d = &cfg->departments[i];
        if (!d->peer_region || !msgw_department_may_push(d, r->kind)) continue;
        /* what came from a peer goes on only where relaying is agreed, never back where it was */
        if (env->from_peer && (!d->relay || strcmp(env->from_peer, d->id) == 0 || passed_through(env, d->peer_region)))
            continue;
        if (!concerns(r, d->peer_region, env)) continue;
        json_t *canonical = msgw_canon_encode(msgw_route_project(r, &d->subs[0], a));
        msgw_buf b;
        msgw_buf_init(&b);
        msgw_envelope hdr;
        if (msgw_peers_seal(env->peers, d, canonical, r->message_id, env->hops, env->nhops, &b, &hdr)) {
            char *body = msgw_arena_alloc(a, b.len + 1);
            memcpy(body, b.data, b.len);
            body[b.len] = '\0';
            msgw_outbox_msg m = {event_id(a, d->id, "envelope", r->message_id, NULL), d->id, "record",
                                 MSGW_ENVELOPE_MEDIA_TYPE, r->npersons ? r->persons[0].id_number : "", body, b.len,
                                 r->message_id, msgw_arena_strdup(a, hdr.digest),
                                 msgw_arena_printf(a, "agreement %s", d->id)};
            push(out, m);
        }
        msgw_buf_free(&b);
        json_decref(canonical);
    }
}

/* ---- eligibility notices ------------------------------------------------ */

/*
 * The explanation's facts (the person's current facts the rule reads); for a LOST also the causing
 * record's facts about the person, since a fact that stopped holding (a revoked certificate) is no
 * longer current, yet it is what decided.
 */
static void notice_facts(const msgw_transition *t, const msgw_record *cause, msgw_arena *a, msgw_notice *n)
{
    const msgw_explanation *x = &t->explanation;
    size_t extra = t->kind == MSGW_TR_LOST && cause ? cause->nfacts : 0;
    msgw_notice_fact *v = msgw_arena_alloc(a, (x->nfacts + extra + 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < x->nfacts; i++) v[k++] = x->facts[i];
    size_t current = k;
    for (size_t i = 0; i < extra; i++) {
        const msgw_fact *f = &cause->facts[i];
        bool listed = strcmp(f->subject, t->person) != 0;
        for (size_t c = 0; c < current && !listed; c++)
            listed = v[c].type && v[c].message_id && strcmp(v[c].type, f->type) == 0 &&
                     strcmp(v[c].message_id, cause->message_id ? cause->message_id : "") == 0;
        if (listed) continue;
        v[k++] = (msgw_notice_fact){.type = f->type,
                                    .valid_from = f->valid_from,
                                    .valid_to = f->valid_to,
                                    .attrs = f->attrs,
                                    .nattrs = f->nattrs,
                                    .department = cause->source_department,
                                    .message_id = cause->message_id,
                                    .recorded_at = cause->recorded_at};
    }
    n->facts = v;
    n->nfacts = k;
}

static const char *tier_name(const msgw_service *s, const msgw_verdict *v)
{
    return v->tier >= 0 && (size_t)v->tier < s->ntiers ? s->tiers[v->tier].name : NULL;
}

/*
 * The last day a LOST entitlement held, as far as the gateway knows: the day the causing record
 * says one of the person's facts stopped holding (a revoked certificate's end, a death), else the
 * day before the evaluation date (the calendar sweep runs the day after a fact ends).
 */
static msgw_date lost_until(const msgw_transition *t, const msgw_record *cause, msgw_date date)
{
    msgw_date until = MSGW_DATE_NONE;
    for (size_t i = 0; cause && i < cause->nfacts; i++) {
        const msgw_fact *f = &cause->facts[i];
        if (strcmp(f->subject, t->person) != 0) continue;
        msgw_date end = f->type && strcmp(f->type, "death") == 0 ? f->valid_from : f->valid_to;
        if (end != MSGW_DATE_NONE && end < date && (until == MSGW_DATE_NONE || end > until))
            until = end;
    }
    return until != MSGW_DATE_NONE ? until : date - 1;
}

/* The entitlement before and after, and its period. */
static void notice_entitlement(const msgw_transition *t, const msgw_record *cause, msgw_notice *n)
{
    const msgw_service *s = t->service;
    n->since = t->after.eligible ? t->after.since : t->before.since;
    if (n->since == MSGW_DATE_NONE) n->since = n->date;
    n->until = MSGW_DATE_NONE;
    if (t->kind == MSGW_TR_LOST && n->date != MSGW_DATE_NONE) {
        n->until = lost_until(t, cause, n->date);
        if (n->until < n->since) n->until = n->since;
    }
    n->tier = t->after.eligible ? tier_name(s, &t->after) : NULL;
    n->amount = t->after.eligible                 ? t->after.amount
                : t->before.amount != MSGW_ABSENT ? 0
                                                  : MSGW_ABSENT;
    n->previous_tier = t->kind != MSGW_TR_NEW ? tier_name(s, &t->before) : NULL;
    n->previous_amount = t->kind != MSGW_TR_NEW ? t->before.amount : MSGW_ABSENT;
    n->amount_period = s->amount_period;
}

void msgw_route_notice(const msgw_adapter_ctx *ctx, const msgw_transition *t,
                       const msgw_record *cause, msgw_arena *a, msgw_notice *n)
{
    (void)ctx;
    const msgw_explanation *x = &t->explanation;
    const msgw_person *p = cause ? msgw_record_person(cause, t->person) : NULL;
    memset(n, 0, sizeof *n);
    n->kind = t->kind;
    n->service_code = t->service->code;
    n->service_name = t->service->name;
    n->person = t->person;
    n->person_name = p ? p->name : NULL;
    n->hukou_region = x->hukou_region;
    n->date = x->date;
    notice_entitlement(t, cause, n);
    n->rule = x->rule;
    notice_facts(t, cause, a, n);
    n->params = x->params;
    n->nparams = x->nparams;
    n->cause = x->cause;
    n->text = t->text;
    n->explanation = x;
}

/*
 * Data minimisation for notices: a recipient sees every attribute of the
 * facts it sent itself, and of other departments' facts only the fields its
 * subscriptions entitle it to (civil affairs learns a disability grade, never
 * a diagnosis code).  A fact it may not read stays in the notice with its
 * type and provenance, so the explanation can still be checked at its source.
 */
static bool entitled(const msgw_department *d, const char *sender, const char *field)
{
    if (sender && strcmp(sender, d->id) == 0) return true;
    for (size_t s = 0; s < d->nsubs; s++)
        if (listed(d->subs[s].fields, d->subs[s].nfields, field)) return true;
    return false;
}

static void project_fact(const msgw_department *d, msgw_notice_fact *f, msgw_arena *a)
{
    msgw_attr *kept = msgw_arena_alloc(a, (f->nattrs + 1) * sizeof *kept);
    size_t n = 0;
    for (size_t i = 0; i < f->nattrs; i++)
        if (entitled(d, f->department, f->attrs[i].name)) kept[n++] = f->attrs[i];
    f->attrs = kept;
    f->nattrs = n;
}

/* The notice as department d may see it (facts, changes and explanation projected). */
static void project_notice(const msgw_department *d, const msgw_notice *full, msgw_arena *a, msgw_notice *n)
{
    *n = *full;
    msgw_notice_fact *facts = msgw_arena_alloc(a, (full->nfacts + 1) * sizeof *facts);
    for (size_t i = 0; i < full->nfacts; i++) {
        facts[i] = full->facts[i];
        project_fact(d, &facts[i], a);
    }
    n->facts = facts;
    msgw_notice_change *changes = msgw_arena_alloc(a, (full->cause.nchanges + 1) * sizeof *changes);
    n->cause.nchanges = 0;
    for (size_t i = 0; i < full->cause.nchanges; i++)
        if (entitled(d, full->cause.department, full->cause.changes[i].attribute))
            changes[n->cause.nchanges++] = full->cause.changes[i];
    n->cause.changes = changes;
    /* the canonical notice is the explanation: projected the same way (its own facts, no extras) */
    msgw_explanation *x = msgw_arena_alloc(a, sizeof *x);
    *x = *full->explanation;
    msgw_notice_fact *xf = msgw_arena_alloc(a, (x->nfacts + 1) * sizeof *xf);
    for (size_t i = 0; i < x->nfacts; i++) {
        xf[i] = x->facts[i];
        project_fact(d, &xf[i], a);
    }
    x->facts = xf;
    x->cause = n->cause;
    n->explanation = x;
}

/* The recipient's format; the canonical notice when its adapter writes none or fails. */
static void encode_notice_for(const msgw_adapter_ctx *ctx, const msgw_department *d,
                              const msgw_notice *n, msgw_arena *a, const char **media_type,
                              const void **body, size_t *len)
{
    const msgw_adapter *ad = d->adapter ? msgw_adapter_find(d->adapter) : NULL;
    msgw_buf b;
    msgw_buf_init(&b);
    msgw_errors e;
    msgw_errors_init(&e);
    const char *mt = NULL;
    if (!(ad && ad->encode_notice &&
          ad->encode_notice(ctx, d->deliver_media_type, n, &b, &mt, &e) && mt)) {
        const msgw_adapter *canon = msgw_adapter_find("canonical");
        msgw_buf_reset(&b);
        msgw_errors_clear(&e);
        mt = MSGW_NOTICE_CANONICAL_MEDIA_TYPE;
        canon->encode_notice(ctx, NULL, n, &b, &mt, &e);
    }
    *media_type = mt;
    *body = msgw_arena_strndup(a, b.data ? b.data : "", b.len);
    *len = b.len;
    msgw_buf_free(&b);
    msgw_errors_clear(&e);
}

void msgw_route_transition(const msgw_config *cfg, const msgw_adapter_ctx *ctx,
                               const msgw_transition *t, const msgw_record *cause, msgw_arena *a,
                               msgw_outbox_list *out)
{
    const char *cause_id = cause ? cause->message_id : NULL;
    char when[11];
    msgw_notice full, n;
    bool built = false;
    for (size_t i = 0; i < t->service->ndepartments; i++) {
        const msgw_department *d = msgw_config_department(cfg, t->service->departments[i]);
        if (!d || !d->eligibility || d->deliver == MSGW_DELIVER_NONE) continue;
        if (!built) msgw_route_notice(ctx, t, cause, a, &full);
        built = true;
        project_notice(d, &full, a, &n);
        /* without a causing record, the evaluation date tells two calendar transitions apart */
        msgw_date day = full.date != MSGW_DATE_NONE ? full.date : t->after.since;
        n.event_id = event_id(a, d->id, t->person, t->service->code,
                              msgw_arena_printf(a, "%s|%s", msgw_transition_kind_name(t->kind),
                                                cause_id ? cause_id : msgw_date_format(day, when)));
        msgw_outbox_msg m = {.event_id = n.event_id,
                             .recipient = d->id,
                             .kind = "eligibility",
                             .person = msgw_arena_strdup(a, t->person),
                             .cause = cause_id ? msgw_arena_strdup(a, cause_id) : NULL,
                             .basis = msgw_arena_printf(a, "service %s", t->service->code)};
        encode_notice_for(ctx, d, &n, a, &m.media_type, &m.body, &m.len);
        push(out, m);
    }
}
