/*
 * A person's disclosure record (docs/disclosure.md): China's Personal Information Protection Law
 * gives a person the right to know what is held about them and to whom it was given.  For one ID
 * number the report lists every record held (department, kind, date), every verdict and
 * transition with its explanation, every disclosure — which department or peer gateway received
 * which fields of which record or which eligibility notice, when, and on which routing rule or
 * agreement — and who has looked the person up.  It is built from the store (what is held, the
 * bytes each recipient was sent, the rule each went on) and the audit log (the deliveries, also
 * those whose outbox message retention has since removed, and the lookups), and written so that
 * a department can hand it to the person: their number masked, the fields named as the
 * dictionary names them.
 */
#ifndef MSGW_DISCLOSURE_H
#define MSGW_DISCLOSURE_H

#include <jansson.h>

#include "msgw/base/date.h"
#include "msgw/base/error.h"
#include "msgw/net/config.h"
#include "msgw/store/store.h"
#include "msgw/validate/adapter.h"

/*
 * The report on person (an 18-character ID number), built in steps for the admin listener's event
 * loop, which must go on serving while a year's audit log is read: _new reads the store (and uses
 * cfg and ctx only then: cfg explains the rules recorded, its subscriptions and agreements as now
 * configured; ctx reads back what each recipient was sent), each _step one segment of the audit
 * log (audit_dir; NULL: none kept) — 1: more to read, 0: done, -1: an error in e — and _json the
 * report, a new reference.  _new is NULL, with an error, when the store or the log cannot be read.
 */
typedef struct msgw_disclosure msgw_disclosure;
msgw_disclosure *msgw_disclosure_new(msgw_store *store, const char *audit_dir,
                                     const msgw_config *cfg, const msgw_adapter_ctx *ctx,
                                     const char *person, msgw_time now, msgw_errors *e);
int msgw_disclosure_step(msgw_disclosure *d, msgw_errors *e);
json_t *msgw_disclosure_json(const msgw_disclosure *d);
void msgw_disclosure_destroy(msgw_disclosure **d);

#endif
