/*
 * Parcels: what a transport sends as one message.  Records travel alone; eligibility notices due
 * to the same recipient at the same time travel together, up to its
 * deliver.*.notices_per_message, joined into one list document of its format by the adapter that
 * wrote them (msgw_adapter.join_notices; docs/eligibility.md, "Several notices in one message");
 * envelopes due to the same peer, up to its envelopes_per_message, in a JSON array
 * (docs/federation.md, "Several envelopes in one request").
 *
 * Order per person is untouched: a claim holds at most one message per person, so the notices of
 * a parcel (or the envelopes) are all different persons'.  Each message keeps its own outcome in the store: a parcel
 * delivered settles each of its messages delivered, one that failed retries each on its own
 * schedule.
 *
 *     msgw_parcels *ps = msgw_parcels_new();
 *     size_t n = msgw_parcels_pack(ps, cfg, v, nv);      once per pass
 *     const msgw_parcel *p = msgw_parcels_get(ps, i);    borrowed until the next pack
 *     msgw_parcels_destroy(&ps);
 */
#ifndef MSGW_PARCEL_H
#define MSGW_PARCEL_H

#include <stdbool.h>
#include <stddef.h>

#include "msgw/net/config.h"
#include "msgw/store/store.h"

/* The outbox kind of an eligibility notice. */
#define MSGW_KIND_ELIGIBILITY "eligibility"

typedef enum msgw_parcel_form {
    MSGW_PARCEL_ONE,       /* one message, its own body */
    MSGW_PARCEL_NOTICES,   /* a list document of notices (one even of one notice) */
    MSGW_PARCEL_ENVELOPES, /* a JSON array of envelopes; the peer answers each */
} msgw_parcel_form;

typedef struct msgw_parcel {
    msgw_delivery *const *v; /* the messages it carries, n >= 1, in the order given */
    size_t n;
    const msgw_department *to; /* the recipient in cfg; NULL when cfg no longer has it */
    const char *kind, *media_type;
    const char *body; /* a list: the joined document; else v[0]'s own body */
    size_t len;
    msgw_parcel_form form;
} msgw_parcel;

typedef struct msgw_parcels msgw_parcels;

msgw_parcels *msgw_parcels_new(void);
void msgw_parcels_destroy(msgw_parcels **ps);
/* Packs v[0..n) into parcels and returns how many: the notices of one recipient and media type
 * together in order of their first, the rest alone.  The parcels borrow v's messages (the pointer
 * array is copied) until the next pack. */
size_t msgw_parcels_pack(msgw_parcels *ps, const msgw_config *cfg, msgw_delivery *const *v,
                         size_t n);
const msgw_parcel *msgw_parcels_get(const msgw_parcels *ps, size_t i);

#endif
