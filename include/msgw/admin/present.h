/*
 * What the administrators see of the store (docs/admin.md): the store's
 * query rows (msgw/store/query.h) as the admin API's JSON — its field names,
 * ID numbers masked (msgw_idnum_mask), free text that may embed one scrubbed
 * (msgw_idnum_scrub), times as the API has always written them.  The admin
 * listener answers with these, and `msgw trace` prints the same trace, so the
 * two cannot drift apart; no store backend presents anything.
 *
 * Each reads the store and returns false, with the error, when it cannot; the
 * caller frees *out.
 */
#ifndef MSGW_ADMIN_PRESENT_H
#define MSGW_ADMIN_PRESENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "msgw/base/error.h"
#include "msgw/store/query.h"

/* GET /v1/messages/{id}: {seq, message_id, kind, sender, source_message_id, body_sha256,
 * recorded_at, [envelope], outcome, facts, verdicts, messages}; *out NULL when no record has that
 * message id. */
bool msgw_present_trace(msgw_store *s, const char *message_id, json_t **out, msgw_errors *e);
/* GET /v1/persons/{ID number}: {person, verdicts, records, transitions}; *out NULL when the store
 * knows nothing of them. */
bool msgw_present_person(msgw_store *s, const char *person, json_t **out, msgw_errors *e);
/* GET /v1/transitions: an array, newest first. */
bool msgw_present_transitions(msgw_store *s, const msgw_transition_filter *f, json_t **out,
                              msgw_errors *e);
/* GET /v1/deadletters: an array, oldest first, at most max. */
bool msgw_present_dead_letters(msgw_store *s, size_t max, json_t **out, msgw_errors *e);

#endif
