/*
 * Routing: who receives what.  A record goes to every department whose
 * subscription names its kind and sender, projected to the fields that
 * department is entitled to (data minimisation) and encoded in its own
 * format; an eligibility transition goes to the departments the catalogue
 * names for the service, if they take eligibility notices, as a notice
 * (include/msgw/model/notice.h) written by the recipient's adapter, or as the
 * canonical notice where its adapter writes none.  The result is outbox
 * messages, committed with the record that caused them.
 */
#ifndef MSGW_ROUTE_H
#define MSGW_ROUTE_H

#include "msgw/validate/adapter.h"
#include "msgw/net/config.h"
#include "msgw/engine/eligibility.h"
#include "msgw/model/notice.h"
#include "msgw/pipeline/peer.h"
#include "msgw/store/store.h"

typedef struct msgw_outbox_list {
    msgw_outbox_msg *v;
    size_t n, cap;
} msgw_outbox_list;

/* What routing to peer gateways needs besides the record. */
typedef struct msgw_route_env {
    const msgw_peers *peers; /* the sealer; NULL: no peers */
    const char *from_peer;   /* the peer the record came from, NULL: a department of this region */
    const char (*hops)[16];  /* the regions it passed through before this gateway (from a peer) */
    size_t nhops;
    /* a person's hukou and residence regions as the gateway knows them (either may be NULL) */
    void (*regions)(void *ud, const char *person, const char **hukou, const char **residence);
    void *ud;
} msgw_route_env;

/*
 * Envelopes for the peer gateways a record concerns (docs/federation.md): a
 * peer whose region holds the hukou or the residence of one of its persons
 * (the record's own regions first, then env->regions), when the agreement
 * names the record's kind.  The record is projected to the agreed fields and
 * sealed.  What came from a peer goes on only to peers that relay, never
 * back to the sender or a region it passed through.
 */
void msgw_route_peers(const msgw_config *cfg, const msgw_route_env *env, const msgw_record *r, msgw_arena *a,
                      msgw_outbox_list *out);
/* Messages for a record sent by `sender`; strings and bodies live in arena a (peers excluded). */
void msgw_route_record(const msgw_config *cfg, const msgw_adapter_ctx *ctx, const msgw_record *r,
                       const char *sender, msgw_arena *a, msgw_outbox_list *out);
/*
 * Messages for an eligibility transition caused by record `cause` (NULL: the
 * calendar or a parameter change): one notice per recipient, in its format.
 * The event id is a digest of recipient, person, service, kind and cause
 * message id (else the evaluation date); outbox `cause` is the cause's
 * message id.  The record also gives the person's name when it names the
 * person.  Each recipient sees the facts it sent itself in full, and of
 * others' facts only the fields its subscriptions entitle it to.
 */
void msgw_route_transition(const msgw_config *cfg, const msgw_adapter_ctx *ctx,
                               const msgw_transition *t, const msgw_record *cause, msgw_arena *a,
                               msgw_outbox_list *out);
/*
 * The notice a transition makes (event_id left NULL): typed from the transition and its
 * explanation, fact attributes typed by ctx->dict when there is one.  Arrays in arena a; strings
 * borrowed from t and cause, which must outlive it.
 */
void msgw_route_notice(const msgw_adapter_ctx *ctx, const msgw_transition *t,
                       const msgw_record *cause, msgw_arena *a, msgw_notice *n);
/* The record as the subscription lets its recipient see it (copy in arena a). */
msgw_record *msgw_route_project(const msgw_record *r, const msgw_subscription *s, msgw_arena *a);

#endif
