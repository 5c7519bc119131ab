/*
 * The store's query rows as the admin API's JSON (include/msgw/admin/present.h).
 * The field names and formats are the API's (docs/admin.md), the same since
 * the store wrote them itself: every ID number is masked, free text that may
 * embed one is scrubbed, and the times the dashboard reads are ISO 8601 to
 * the millisecond, rounded as SQLite's strftime rounded them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/admin/present.h"
#include "msgw/base/idnum.h"

/* s as a JSON string, or null for NULL. */
static json_t *str(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* An ID number, first 6 and last 4 characters shown. */
static json_t *masked(const char *id)
{
    char m[19];
    return id ? json_string(msgw_idnum_mask(id, m)) : json_null();
}

/* Free text (attribute values, senders' message ids, explanations) may embed an ID number (a
 * disability certificate number is one plus two digits): scrubbed like the logs. */
static json_t *scrub_values(json_t *v)
{
    if (json_is_string(v)) {
        char *c = strdup(json_string_value(v));
        if (!c) abort();
        msgw_idnum_scrub(c);
        json_decref(v);
        v = json_string(c);
        free(c);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) json_object_set_new(v, k, scrub_values(json_incref(x)));
    }
    return v;
}

static json_t *scrubbed(const char *s)
{
    return scrub_values(str(s));
}

/* Fen, or null for none. */
static json_t *amount(int64_t fen)
{
    return fen == INT64_MIN ? json_null() : json_integer(fen);
}

static json_t *day_number(msgw_date d)
{
    return d == MSGW_DATE_NONE ? json_null() : json_integer(d);
}

/* A fact's attributes, stored as the JSON object of the canonical form, values scrubbed (text
 * that is not JSON is shown as it is). */
static json_t *attributes(const char *text)
{
    json_t *parsed = text ? json_loads(text, 0, NULL) : NULL;
    return parsed ? scrub_values(parsed) : str(text);
}

/*
 * SQLite's julian-day arithmetic for seconds since 1970: what its date()
 * and strftime(..., 'unixepoch') wrote for the API before presentation left
 * the store — milliseconds rounded through a double, NULL outside years 0 to
 * 9999.  False when out of range; *ms since 1970 otherwise.
 */
static bool unix_ms(double seconds, int64_t *ms)
{
    double r = seconds * 1000.0 + 210866760000000.0;
    if (!(r >= 0.0 && r < 464269060800000.0)) return false;
    *ms = (int64_t)(r + 0.5) - 210866760000000LL;
    return true;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ", or null. */
static json_t *iso_time(msgw_time t)
{
    int64_t ms;
    if (!unix_ms((double)t / 1000000.0, &ms)) return json_null();
    int64_t day = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000, x = ms - day * 86400000;
    char date[11], buf[40];
    snprintf(buf, sizeof buf, "%sT%02d:%02d:%02d.%03dZ", msgw_date_format((msgw_date)day, date),
             (int)(x / 3600000), (int)(x / 60000 % 60), (int)(x / 1000 % 60), (int)(x % 1000));
    return json_string(buf);
}

/* "YYYY-MM-DD", or null for none. */
static json_t *iso_date(msgw_date d)
{
    int64_t ms;
    char buf[11];
    if (d == MSGW_DATE_NONE || !unix_ms((double)d * 86400.0, &ms)) return json_null();
    return json_string(msgw_date_format(d, buf));
}

static const char *state_name(msgw_outbox_state s)
{
    return s == MSGW_OUTBOX_DELIVERED ? "delivered" : s == MSGW_OUTBOX_DEAD ? "dead" : "pending";
}

/* Sets each (key, value) pair in o, stealing the values; a NULL value (text that is not UTF-8)
 * leaves its key out, as it always has. */
static json_t *fields(json_t *o, const char *const *keys, json_t **values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, keys[i], values[i]);
    return o;
}

/* An object of the names in the array keys and as many values; a value more or less does not
 * compile (a negative array size). */
#define COUNT(keys) (sizeof keys / sizeof *keys)
#define NVALUES(...) (sizeof((json_t *[]){__VA_ARGS__}) / sizeof(json_t *))
#define OBJECT(keys, ...)                                                                          \
    fields(json_object(), keys, (json_t *[]){__VA_ARGS__},                                         \
           sizeof(char[COUNT(keys) == NVALUES(__VA_ARGS__) ? 1 : -1]) * COUNT(keys))

/* ---- the trace ---- */

static json_t *trace_json(const msgw_trace *t)
{
    static const char *const record_keys[] = {
        "seq", "message_id", "kind", "sender", "source_message_id", "body_sha256", "recorded_at"};
    const msgw_record_row *r = &t->record;
    json_t *o = OBJECT(record_keys, json_integer(r->seq), scrubbed(r->message_id), str(r->kind),
                       str(r->sender), scrubbed(r->source_message_id), str(r->body_digest),
                       json_integer(r->recorded_at));
    if (t->envelope) { /* it came from a peer gateway: the evidence kept */
        static const char *const keys[] = {"peer", "signed_sha256", "bytes", "received_at"};
        json_object_set_new(o, "envelope",
                            OBJECT(keys, str(t->envelope->peer), str(t->envelope->digest),
                                   json_integer(t->envelope->bytes),
                                   json_integer(t->envelope->received_at)));
    }
    json_object_set_new(o, "outcome", json_string("stored: decoded, validated and committed"));
    json_t *facts = json_array(), *verdicts = json_array(), *messages = json_array();
    for (size_t i = 0; i < t->facts.n; i++) {
        static const char *const keys[] = {"subject",  "type",       "valid_from",
                                           "valid_to", "attributes", "department"};
        const msgw_fact_row *f = &t->facts.v[i];
        json_array_append_new(facts, OBJECT(keys, masked(f->subject), str(f->type),
                                            day_number(f->valid_from), day_number(f->valid_to),
                                            attributes(f->attributes), str(f->department)));
    }
    for (size_t i = 0; i < t->verdicts.n; i++) {
        static const char *const keys[] = {"person", "service", "eligible",  "since",
                                           "tier",   "amount",  "updated_at"};
        const msgw_store_verdict *v = &t->verdicts.v[i];
        json_array_append_new(verdicts,
                              OBJECT(keys, masked(v->person), str(v->service),
                                     json_boolean(v->eligible), day_number(v->since), str(v->tier),
                                     amount(v->amount), json_integer(v->updated_at)));
    }
    for (size_t i = 0; i < t->messages.n; i++) {
        static const char *const keys[] = {"event_id", "recipient",    "kind",      "media_type",
                                           "person",   "state",        "attempts",  "created_at",
                                           "next_at",  "delivered_at", "last_error"};
        const msgw_outbox_row *m = &t->messages.v[i];
        json_array_append_new(
            messages,
            OBJECT(keys, str(m->event_id), str(m->recipient), str(m->kind), str(m->media_type),
                   masked(m->person), json_string(state_name(m->state)), json_integer(m->attempts),
                   json_integer(m->created_at), json_integer(m->next_at),
                   m->state == MSGW_OUTBOX_DELIVERED ? json_integer(m->delivered_at) : json_null(),
                   str(m->last_error)));
    }
    json_object_set_new(o, "facts", facts);
    json_object_set_new(o, "verdicts", verdicts);
    json_object_set_new(o, "messages", messages);
    return o;
}

bool msgw_present_trace(msgw_store *s, const char *message_id, json_t **out, msgw_errors *e)
{
    msgw_arena *a = msgw_arena_new(0);
    msgw_trace *t = NULL;
    bool ok = msgw_store_trace(s, message_id, a, &t, e);
    *out = ok && t ? trace_json(t) : NULL;
    msgw_arena_destroy(&a);
    return ok;
}

/* ---- the transition log, a person ---- */

static json_t *transitions_json(const msgw_transition_rows *rows)
{
    static const char *const keys[] = {
        "id",   "at",     "person",       "service",          "kind",        "eligible",
        "tier", "amount", "hukou_region", "residence_region", "explanation", "cause"};
    json_t *list = json_array();
    for (size_t i = 0; i < rows->n; i++) {
        const msgw_transition_row *t = &rows->v[i];
        json_array_append_new(
            list, OBJECT(keys, json_integer(t->id), iso_time(t->at), masked(t->person),
                         str(t->service), str(t->kind), json_boolean(t->eligible), str(t->tier),
                         amount(t->amount), str(t->hukou_region), str(t->residence_region),
                         scrubbed(t->explanation), scrubbed(t->cause)));
    }
    return list;
}

bool msgw_present_transitions(msgw_store *s, const msgw_transition_filter *f, json_t **out,
                              msgw_errors *e)
{
    msgw_arena *a = msgw_arena_new(0);
    msgw_transition_rows rows;
    bool ok = msgw_store_transitions(s, f, a, &rows, e);
    *out = ok ? transitions_json(&rows) : NULL;
    msgw_arena_destroy(&a);
    return ok;
}

static json_t *person_json(const msgw_person_page *p)
{
    static const char *const verdict_keys[] = {"service", "eligible", "since",
                                               "tier",    "amount",   "updated_at"};
    static const char *const record_keys[] = {"message_id", "kind", "sender", "recorded_at"};
    json_t *verdicts = json_array(), *records = json_array();
    for (size_t i = 0; i < p->verdicts.n; i++) {
        const msgw_store_verdict *v = &p->verdicts.v[i];
        json_array_append_new(verdicts,
                              OBJECT(verdict_keys, str(v->service), json_boolean(v->eligible),
                                     iso_date(v->since), str(v->tier), amount(v->amount),
                                     iso_time(v->updated_at)));
    }
    for (size_t i = 0; i < p->records.n; i++) {
        const msgw_record_row *r = &p->records.v[i];
        json_array_append_new(records, OBJECT(record_keys, scrubbed(r->message_id), str(r->kind),
                                              str(r->sender), iso_time(r->recorded_at)));
    }
    char m[19];
    return json_pack("{s:s,s:o,s:o,s:o}", "person", msgw_idnum_mask(p->person, m), "verdicts",
                     verdicts, "records", records, "transitions",
                     transitions_json(&p->transitions));
}

bool msgw_present_person(msgw_store *s, const char *person, json_t **out, msgw_errors *e)
{
    msgw_arena *a = msgw_arena_new(0);
    msgw_person_page *p = NULL;
    bool ok = msgw_store_person(s, person, a, &p, e);
    *out = ok && p ? person_json(p) : NULL;
    msgw_arena_destroy(&a);
    return ok;
}

/* ---- dead letters ---- */

bool msgw_present_dead_letters(msgw_store *s, size_t max, json_t **out, msgw_errors *e)
{
    static const char *const keys[] = {
        "id",       "event_id",   "recipient",       "kind",      "person", "cause",
        "attempts", "created_at", "last_attempt_at", "last_error"};
    msgw_arena *a = msgw_arena_new(0);
    msgw_outbox_rows rows;
    bool ok = msgw_store_dead_letters(s, max, a, &rows, e);
    *out = ok ? json_array() : NULL;
    for (size_t i = 0; ok && i < rows.n; i++) {
        const msgw_outbox_row *d = &rows.v[i];
        json_array_append_new(*out,
                              OBJECT(keys, json_integer(d->id), str(d->event_id), str(d->recipient),
                                     str(d->kind), masked(d->person), scrubbed(d->cause),
                                     json_integer(d->attempts), json_integer(d->created_at),
                                     json_integer(d->next_at), str(d->last_error)));
    }
    msgw_arena_destroy(&a);
    return ok;
}
