/*
 * Routing: who receives what.  A record goes to every department whose
 * subscription names its kind and sender, projected to the fields that
 * department is entitled to (data minimisation) and encoded in its own
 * format; an eligibility transition goes to the departments the catalogue
 * names for the service, if they take eligibility notices.  The result is
 * outbox messages, committed with the record that caused them.
 */
#ifndef MSGW_ROUTE_H
#define MSGW_ROUTE_H

#include "msgw/adapter.h"
#include "msgw/config.h"
#include "msgw/eligibility.h"
#include "msgw/store.h"

typedef struct msgw_outbox_list {
    msgw_outbox_msg *v;
    size_t n, cap;
} msgw_outbox_list;

/* Messages for a record sent by `sender`; strings and bodies live in arena a. */
void msgw_route_record(const msgw_config *cfg, const msgw_adapter_ctx *ctx, const msgw_record *r,
                       const char *sender, msgw_arena *a, msgw_outbox_list *out);
/* Messages for an eligibility transition caused by message_id (NULL: calendar or parameter). */
void msgw_route_transition(const msgw_config *cfg, const msgw_transition *t, const char *cause, msgw_arena *a,
                           msgw_outbox_list *out);
/* The record as the subscription lets its recipient see it (copy in arena a). */
msgw_record *msgw_route_project(const msgw_record *r, const msgw_subscription *s, msgw_arena *a);

#endif
