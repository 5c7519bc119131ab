/*
 * Parcels (include/msgw/deliver/parcel.h): the claimed messages of a pass grouped into what the
 * transports send, the notices of one recipient and media type joined into list documents.
 */
#include <stdlib.h>
#include <string.h>

#include "msgw/base/buf.h"
#include "msgw/decode/decode.h"
#include "msgw/deliver/parcel.h"
#include "msgw/pipeline/peer.h"

struct msgw_parcels {
    msgw_parcel *v;
    size_t n, cap;
    msgw_delivery **order; /* the messages, grouped: each parcel's v points into it */
    size_t norder;
    msgw_buf *bodies; /* the lists' documents, one buffer per parcel, kept across packs */
    size_t nbodies;
    const char **scratch_ids, **scratch_bodies; /* join_notices' arguments */
    size_t *scratch_lens;
};

msgw_parcels *msgw_parcels_new(void)
{
    msgw_parcels *ps = calloc(1, sizeof *ps);
    if (!ps) abort();
    return ps;
}

void msgw_parcels_destroy(msgw_parcels **psp)
{
    if (!psp || !*psp) return;
    msgw_parcels *ps = *psp;
    for (size_t i = 0; i < ps->nbodies; i++)
        msgw_buf_free(&ps->bodies[i]);
    free(ps->bodies);
    free(ps->v);
    free(ps->order);
    free(ps->scratch_ids);
    free(ps->scratch_bodies);
    free(ps->scratch_lens);
    free(ps);
    *psp = NULL;
}

const msgw_parcel *msgw_parcels_get(const msgw_parcels *ps, size_t i)
{
    return ps && i < ps->n ? &ps->v[i] : NULL;
}

/* How a message travels, and how many may travel together (1: alone). */
static size_t per_message(const msgw_department *to, const msgw_delivery *m,
                          const msgw_adapter **ad, msgw_parcel_form *form)
{
    *form = MSGW_PARCEL_ONE;
    if (!to || !m->kind || !m->media_type) return 1;
    if (to->peer_region && strcmp(m->media_type, MSGW_ENVELOPE_MEDIA_TYPE) == 0) {
        if (to->envelopes_per_message <= 1) return 1;
        *form = MSGW_PARCEL_ENVELOPES;
        return to->envelopes_per_message;
    }
    if (to->notices_per_message <= 1 || strcmp(m->kind, MSGW_KIND_ELIGIBILITY) != 0) return 1;
    *ad = msgw_adapter_for_notice_type(m->media_type);
    if (!*ad || !(*ad)->join_notices) return 1;
    *form = MSGW_PARCEL_NOTICES;
    return to->notices_per_message;
}

static bool same_group(const msgw_delivery *a, const msgw_delivery *b)
{
    return strcmp(a->recipient, b->recipient) == 0 && strcmp(a->kind, b->kind) == 0 &&
           strcmp(a->media_type, b->media_type) == 0;
}

static msgw_buf *body_buffer(msgw_parcels *ps, size_t i)
{
    if (i >= ps->nbodies) {
        size_t cap = i + 8;
        ps->bodies = realloc(ps->bodies, cap * sizeof *ps->bodies);
        if (!ps->bodies) abort();
        for (size_t k = ps->nbodies; k < cap; k++)
            msgw_buf_init(&ps->bodies[k]);
        ps->nbodies = cap;
    }
    msgw_buf_reset(&ps->bodies[i]);
    return &ps->bodies[i];
}

/* Writes parcel i's list document (ad: the notices' adapter). */
static void join(msgw_parcels *ps, size_t i, const msgw_adapter *ad)
{
    msgw_parcel *p = &ps->v[i];
    for (size_t k = 0; k < p->n; k++) {
        ps->scratch_ids[k] = p->v[k]->event_id;
        ps->scratch_bodies[k] = p->v[k]->body;
        ps->scratch_lens[k] = p->v[k]->len;
    }
    msgw_buf *b = body_buffer(ps, i);
    if (p->form == MSGW_PARCEL_ENVELOPES)
        msgw_buf_json_array(b, ps->scratch_bodies, ps->scratch_lens, p->n);
    else
        ad->join_notices(p->media_type, ps->scratch_ids, ps->scratch_bodies, ps->scratch_lens, p->n,
                         b);
    p->body = b->data;
    p->len = b->len;
}

static void reserve(msgw_parcels *ps, size_t n)
{
    if (n <= ps->cap) return;
    ps->cap = n;
    ps->v = realloc(ps->v, n * sizeof *ps->v);
    ps->order = realloc(ps->order, n * sizeof *ps->order);
    ps->scratch_ids = realloc(ps->scratch_ids, n * sizeof *ps->scratch_ids);
    ps->scratch_bodies = realloc(ps->scratch_bodies, n * sizeof *ps->scratch_bodies);
    ps->scratch_lens = realloc(ps->scratch_lens, n * sizeof *ps->scratch_lens);
    if (!ps->v || !ps->order || !ps->scratch_ids || !ps->scratch_bodies || !ps->scratch_lens)
        abort();
}

size_t msgw_parcels_pack(msgw_parcels *ps, const msgw_config *cfg, msgw_delivery *const *v,
                         size_t n)
{
    reserve(ps, n + 1);
    ps->n = ps->norder = 0;
    bool *taken = calloc(n + 1, sizeof *taken);
    if (!taken) abort();
    for (size_t i = 0; i < n; i++) {
        if (taken[i]) continue;
        const msgw_department *to = msgw_config_department(cfg, v[i]->recipient);
        const msgw_adapter *ad = NULL;
        msgw_parcel_form form;
        size_t most = per_message(to, v[i], &ad, &form);
        msgw_parcel *p = &ps->v[ps->n];
        *p = (msgw_parcel){.v = &ps->order[ps->norder],
                           .to = to,
                           .form = form,
                           .kind = v[i]->kind,
                           .media_type = v[i]->media_type,
                           .body = v[i]->body,
                           .len = v[i]->len};
        /* the rest of the group follows in the order given (a claim comes recipient by recipient)
         */
        for (size_t k = i; k < n && p->n < most; k++)
            if (!taken[k] && (k == i || same_group(v[i], v[k]))) {
                taken[k] = true;
                ps->order[ps->norder++] = v[k];
                p->n++;
            }
        if (form != MSGW_PARCEL_ONE) join(ps, ps->n, ad);
        ps->n++;
    }
    free(taken);
    return ps->n;
}
