/*
 * Ingest: the receive side of the pipeline, shared by every transport.  A
 * transport hands over (authenticated department, media type, body); ingest
 * decodes and validates with the department's adapter, checks the
 * department may push each record kind, commits the good records durably
 * (records, facts and outbox together), evaluates eligibility, and answers
 * with a status code and a JSON body reporting each record's outcome.
 * Nothing of a rejected record is stored.
 */
#ifndef MSGW_INGEST_H
#define MSGW_INGEST_H

#include "msgw/adapter.h"
#include "msgw/buf.h"
#include "msgw/config.h"
#include "msgw/eligibility.h"
#include "msgw/route.h"
#include "msgw/store.h"

typedef struct msgw_ingest msgw_ingest;

/*
 * Borrows cfg, ctx, store and cat (they must outlive it); owns the
 * eligibility engine, which it rebuilds from the store's records (the
 * durable truth) before returning.
 */
msgw_ingest *msgw_ingest_new(const msgw_config *cfg, const msgw_adapter_ctx *ctx, msgw_store *store,
                             const msgw_catalogue *cat, msgw_errors *e);
msgw_elig *msgw_ingest_elig(msgw_ingest *ing);
/* Switches to a new configuration and catalogue (SIGHUP): the engine is rebuilt from the store
 * under the new catalogue's rules and parameter values. */
bool msgw_ingest_reconfigure(msgw_ingest *ing, const msgw_config *cfg, const msgw_catalogue *cat, msgw_errors *e);
void msgw_ingest_destroy(msgw_ingest **ing);

/*
 * Processes one request.  Returns the HTTP-style status (202, 400, 403, 413,
 * 415, 422, 503) and writes the JSON answer to out (docs/ingress.md).
 */
int msgw_ingest_push(msgw_ingest *ing, const msgw_department *dept, const char *media_type, const char *body,
                     size_t len, msgw_buf *out);

#endif
