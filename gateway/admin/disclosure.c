/*
 * A person's disclosure record (include/msgw/admin/disclosure.h; docs/disclosure.md).
 *
 * What each recipient received is read back from the bytes it was sent (the outbox keeps them):
 * a record in the recipient's format is decoded by that format's adapter and named in the
 * canonical form's terms, an envelope's record is read from the envelope, and a notice is
 * described by the members or elements it carries.  Only what concerns the person is listed: their
 * entry among the record's persons, the household when they are a member, the facts about them.
 */
#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>

#include "msgw/admin/disclosure.h"
#include "msgw/base/arena.h"
#include "msgw/base/idnum.h"
#include "msgw/base/xml.h"
#include "msgw/decode/decode.h"
#include "msgw/model/canon.h"
#include "msgw/pipeline/peer.h"
#include "msgw/store/audit.h"
#include "msgw/store/query.h"

#define MAX_ROWS 1000 /* records, transitions and disclosures listed; the report says when cut */

static json_t *time_or_null(msgw_time t)
{
    char buf[28];
    return t ? json_string(msgw_time_format(t, buf)) : json_null();
}

static json_t *date_or_null(msgw_date d)
{
    char buf[11];
    return d != MSGW_DATE_NONE ? json_string(msgw_date_format(d, buf)) : json_null();
}

static json_t *amount_or_null(int64_t fen)
{
    return fen != INT64_MIN ? json_integer(fen) : json_null();
}

/* Appends s to the array of strings a unless it is there already. */
static void add_unique(json_t *a, const char *s)
{
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) if (strcmp(json_string_value(x), s) == 0) return;
    json_array_append_new(a, json_string(s));
}

/* A field's name, "prefix.name" or "fact.type.name". */
static void add_field(json_t *a, const char *prefix, const char *type, const char *name)
{
    char buf[256];
    if (type)
        snprintf(buf, sizeof buf, "%s.%s.%s", prefix, type, name);
    else
        snprintf(buf, sizeof buf, "%s.%s", prefix, name);
    add_unique(a, buf);
}

/* ---- what a canonical record says of the person ---- */

static void person_fields(const json_t *record, const char *person, json_t *out)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(record, "persons"), i, p)
    {
        if (!json_is_string(json_object_get(p, "id_number")) ||
            strcmp(json_string_value(json_object_get(p, "id_number")), person) != 0)
            continue;
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v) add_field(out, "person", NULL, k);
    }
    json_t *h = json_object_get(record, "household");
    bool member = false;
    json_array_foreach(json_object_get(h, "members"), i, p)
    {
        const char *id = json_string_value(json_object_get(p, "id_number"));
        member = member || (id && strcmp(id, person) == 0);
    }
    if (member) {
        const char *k;
        json_t *v;
        json_object_foreach(h, k, v) add_field(out, "household", NULL, k);
    }
    json_array_foreach(json_object_get(record, "facts"), i, p)
    {
        const char *subject = json_string_value(json_object_get(p, "subject"));
        const char *type = json_string_value(json_object_get(p, "type"));
        if (!subject || !type || strcmp(subject, person) != 0) continue;
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v) if (strcmp(k, "attributes") != 0 && strcmp(k, "type") != 0 &&
                                         strcmp(k, "subject") != 0) add_field(out, "fact", type, k);
        json_object_foreach(json_object_get(p, "attributes"), k, v) add_field(out, "fact", type, k);
    }
}

/* ---- what a notice carries: its members or elements, by path ---- */

static void json_leaves(const json_t *j, const char *path, json_t *out)
{
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
            json_leaves(v, sub, out);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach((json_t *)j, i, v) json_leaves(v, path, out);
    } else if (*path) {
        add_unique(out, path);
    }
}

static void xml_leaves(xmlNodePtr n, const char *path, json_t *out)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) continue;
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "/" : "", (const char *)n->name);
        bool leaf = true;
        for (xmlNodePtr c = n->children; c; c = c->next)
            leaf = leaf && c->type != XML_ELEMENT_NODE;
        for (xmlAttrPtr a = n->properties; a; a = a->next) {
            char at[300];
            snprintf(at, sizeof at, "%s/@%s", sub, (const char *)a->name);
            add_unique(out, at);
        }
        if (leaf)
            add_unique(out, sub);
        else
            xml_leaves(n->children, sub, out);
    }
}

/* ---- what one message disclosed ---- */

/* The fields of the person a message disclosed; *how says how they were read (NULL: as records). */
static json_t *disclosed_fields(const msgw_adapter_ctx *ctx, const msgw_disclosure_row *d,
                                const char *person, const char **how)
{
    json_t *fields = json_array();
    *how = NULL;
    const char *mt = d->m.media_type ? d->m.media_type : "";
    if (strncmp(mt, MSGW_ENVELOPE_MEDIA_TYPE, strlen(MSGW_ENVELOPE_MEDIA_TYPE)) == 0) {
        json_t *env = json_loadb(d->body, d->len, 0, NULL);
        person_fields(json_object_get(env, "record"), person, fields);
        json_decref(env);
        return fields;
    }
    const msgw_adapter *ad =
        strcmp(d->m.kind, "record") == 0 ? msgw_adapter_for_media_type(mt) : NULL;
    if (ad && strcmp(ad->name, "canonical") == 0) {
        /* read as it is: a projection leaves out what a whole record must have (a household) */
        json_t *doc = json_loadb(d->body, d->len, 0, NULL);
        size_t i;
        json_t *r;
        if (json_is_object(doc)) person_fields(doc, person, fields);
        json_array_foreach(doc, i, r) person_fields(r, person, fields);
        json_decref(doc);
        return fields;
    }
    if (ad) {
        msgw_batch *b = msgw_batch_new();
        msgw_decode_as(ctx, ad, mt, NULL, d->body, d->len, b);
        bool read = false;
        for (size_t i = 0; i < b->nitems; i++) {
            if (!b->items[i].record) continue;
            json_t *c = msgw_canon_encode(b->items[i].record);
            person_fields(c, person, fields);
            json_decref(c);
            read = true;
        }
        msgw_batch_destroy(&b);
        if (read) return fields;
    }
    /* a notice (the gateway writes these and reads none back), or a projection its format's
     * adapter does not take whole: its members or elements are listed as sent */
    *how = "the members or elements of the document as sent";
    json_t *j = json_loadb(d->body, d->len, 0, NULL);
    if (j) {
        json_leaves(j, "", fields);
        json_decref(j);
        return fields;
    }
    msgw_errors e;
    msgw_errors_init(&e);
    xmlDocPtr doc = msgw_xml_parse(d->body, d->len, 64, &e);
    if (doc) xml_leaves(xmlDocGetRootElement(doc), "", fields);
    if (doc) xmlFreeDoc(doc);
    msgw_errors_clear(&e);
    return fields;
}

/* The rule a message went out on, explained with the configuration now in force. */
static json_t *basis_json(const msgw_config *cfg, const char *basis)
{
    if (!basis)
        return json_pack("{s:n,s:s}", "rule", "explanation",
                         "not recorded: sent before the gateway kept it");
    char who[64] = "";
    unsigned n = 0;
    json_t *o = json_pack("{s:s}", "rule", basis);
    if (sscanf(basis, "subscription %63[^/]/%u", who, &n) == 2) {
        const msgw_department *d = msgw_config_department(cfg, who);
        const msgw_subscription *s = d && n < d->nsubs ? &d->subs[n] : NULL;
        json_t *kinds = json_array(), *fields = json_array();
        for (size_t i = 0; s && i < s->nkinds; i++)
            json_array_append_new(kinds, json_string(s->kinds[i]));
        for (size_t i = 0; s && i < s->nfields; i++)
            json_array_append_new(fields, json_string(s->fields[i]));
        json_object_set_new(
            o, "explanation",
            json_string(s ? "a subscription of the recipient's in the gateway's configuration: the "
                            "record kinds it receives and the fields it may see"
                          : "a subscription the configuration no longer has"));
        json_object_set_new(o, "kinds", kinds);
        json_object_set_new(o, "fields", fields);
    } else if (sscanf(basis, "agreement %63s", who) == 1) {
        const msgw_department *d = msgw_config_department(cfg, who);
        json_t *fields = json_array();
        for (size_t i = 0; d && d->nsubs && i < d->subs[0].nfields; i++)
            json_array_append_new(fields, json_string(d->subs[0].fields[i]));
        json_object_set_new(
            o, "explanation",
            json_string(
                d ? "the agreement with a peer gateway of the region: a person of its region "
                    "is sent to it with the fields agreed"
                  : "an agreement the configuration no longer has"));
        json_object_set_new(o, "fields", fields);
    } else {
        json_object_set_new(
            o, "explanation",
            json_string("an eligibility notice to a department the service names as responsible"));
    }
    return o;
}

static const char *state_name(msgw_outbox_state s)
{
    return s == MSGW_OUTBOX_DELIVERED ? "delivered"
           : s == MSGW_OUTBOX_DEAD    ? "not delivered (dead letter)"
                                      : "pending";
}

static json_t *disclosure_json(const msgw_config *cfg, const msgw_adapter_ctx *ctx,
                               const msgw_disclosure_row *d, const char *person)
{
    const msgw_department *r = msgw_config_department(cfg, d->m.recipient);
    const char *how;
    json_t *fields = disclosed_fields(ctx, d, person, &how);
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s?,s:o,s:o,s:s,s:o,s:o,s:s}", "recipient", d->m.recipient, "recipient_type",
        r && r->peer_region ? "peer gateway" : "department", "what",
        strcmp(d->m.kind, "eligibility") == 0 ? "eligibility notice" : "record", "record",
        d->m.cause, "fields", fields, "basis", basis_json(cfg, d->basis), "state",
        state_name(d->m.state), "queued_at", time_or_null(d->m.created_at), "delivered_at",
        time_or_null(d->m.state == MSGW_OUTBOX_DELIVERED ? d->m.delivered_at : 0), "event_id",
        d->m.event_id);
    if (how) json_object_set_new(o, "fields_read_as", json_string(how));
    return o;
}

/* ---- the audit log's part ---- */

typedef struct audit_scan {
    const char *masked;  /* the person's number as the log writes it */
    json_t *by_event;    /* event id -> the disclosure it confirms */
    json_t *disclosures; /* where deliveries the outbox no longer holds are added */
    json_t *accesses;
} audit_scan;

static bool scan_entry(void *ud, json_t *entry)
{
    audit_scan *s = ud;
    const char *kind = json_string_value(json_object_get(entry, "kind"));
    json_t *f = json_object_get(entry, "fields");
    const char *person = json_string_value(json_object_get(f, "person"));
    if (!kind || !person || strcmp(person, s->masked) != 0) return true;
    json_t *at = json_object_get(entry, "time"), *seq = json_object_get(entry, "seq");
    if (strcmp(kind, "admin") == 0) {
        json_array_append_new(
            s->accesses, json_pack("{s:O,s:O,s:O,s:O}", "at", at, "by", json_object_get(f, "by"),
                                   "action", json_object_get(f, "action"), "audit_seq", seq));
    } else if (strcmp(kind, "delivery") == 0) {
        const char *outcome = json_string_value(json_object_get(f, "outcome"));
        const char *event = json_string_value(json_object_get(f, "event_id"));
        if (!outcome || !event || strcmp(outcome, "delivered") != 0) return true;
        json_t *d = json_object_get(s->by_event, event);
        json_t *confirm = json_pack("{s:O,s:O,s:O}", "seq", seq, "at", at, "transport",
                                    json_object_get(f, "transport"));
        if (d) {
            json_object_set_new(d, "audit", confirm);
        } else { /* the outbox message is gone (retention): the log still says who got what, when */
            const char *what = json_string_value(json_object_get(f, "kind"));
            json_t *cause = json_object_get(f, "cause");
            json_t *x = json_pack(
                "{s:O,s:s,s:O,s:n,s:s,s:O,s:s,s:o}", "recipient", json_object_get(f, "recipient"),
                "what", what && strcmp(what, "eligibility") == 0 ? "eligibility notice" : "record",
                "record", cause ? cause : json_null(), "fields", "state", "delivered",
                "delivered_at", at, "event_id", event, "audit", confirm);
            json_object_set_new(
                x, "fields_note",
                json_string(
                    "no longer held: the outbox message was removed by retention; the audit "
                    "log keeps that it was delivered"));
            json_array_append_new(s->disclosures, x);
            json_object_set(s->by_event, event, x);
        }
    }
    return true;
}

/* ---- the report ---- */

static json_t *records_held(msgw_store *store, const char *person, msgw_arena *a, msgw_errors *e)
{
    msgw_record_rows rows = {0};
    if (!msgw_store_person_records(store, person, MAX_ROWS, a, &rows, e)) return NULL;
    json_t *out = json_array();
    for (size_t i = 0; i < rows.n; i++)
        json_array_append_new(out,
                              json_pack("{s:s,s:s,s:s,s:o}", "message_id", rows.v[i].message_id,
                                        "department", rows.v[i].sender, "kind", rows.v[i].kind,
                                        "recorded_at", time_or_null(rows.v[i].recorded_at)));
    return out;
}

static json_t *verdicts(msgw_store *store, const char *person, msgw_arena *a, msgw_errors *e)
{
    msgw_person_page *p = NULL;
    if (!msgw_store_person(store, person, a, &p, e)) return NULL;
    json_t *out = json_array();
    for (size_t i = 0; p && i < p->verdicts.n; i++) {
        const msgw_store_verdict *v = &p->verdicts.v[i];
        json_array_append_new(out,
                              json_pack("{s:s,s:b,s:o,s:s?,s:o,s:o}", "service", v->service,
                                        "eligible", v->eligible, "since", date_or_null(v->since),
                                        "tier", v->tier, "amount_fen", amount_or_null(v->amount),
                                        "updated_at", time_or_null(v->updated_at)));
    }
    return out;
}

static json_t *transitions(msgw_store *store, const char *person, msgw_arena *a, msgw_errors *e)
{
    msgw_transition_rows rows = {0};
    if (!msgw_store_transitions(store, &(msgw_transition_filter){.person = person, .max = MAX_ROWS},
                                a, &rows, e))
        return NULL;
    json_t *out = json_array();
    for (size_t i = rows.n; i-- > 0;) { /* oldest first */
        const msgw_transition_row *t = &rows.v[i];
        json_array_append_new(out, json_pack("{s:o,s:s,s:s,s:b,s:s?,s:o,s:s?,s:s?}", "at",
                                             time_or_null(t->at), "service", t->service, "kind",
                                             t->kind, "eligible", t->eligible, "tier", t->tier,
                                             "amount_fen", amount_or_null(t->amount), "explanation",
                                             t->explanation, "cause", t->cause));
    }
    return out;
}

struct msgw_disclosure {
    msgw_audit_reader *reader; /* NULL: no audit log, or read to its end */
    char masked[19];
    char region[8];
    msgw_time now;
    json_t *held, *verdicts, *transitions;
    bool cut; /* a list reached MAX_ROWS */
    audit_scan scan;
};

void msgw_disclosure_destroy(msgw_disclosure **dp)
{
    if (!dp || !*dp) return;
    msgw_disclosure *d = *dp;
    msgw_audit_reader_destroy(&d->reader);
    json_decref(d->held);
    json_decref(d->verdicts);
    json_decref(d->transitions);
    json_decref(d->scan.by_event);
    json_decref(d->scan.disclosures);
    json_decref(d->scan.accesses);
    free(d);
    *dp = NULL;
}

/* What the store says: records, verdicts, transitions and the messages sent about the person. */
static bool from_store(msgw_disclosure *d, msgw_store *store, const msgw_config *cfg,
                       const msgw_adapter_ctx *ctx, const char *person, msgw_errors *e)
{
    msgw_arena *a = msgw_arena_new(0);
    d->held = records_held(store, person, a, e);
    d->verdicts = d->held ? verdicts(store, person, a, e) : NULL;
    d->transitions = d->verdicts ? transitions(store, person, a, e) : NULL;
    msgw_disclosure_rows rows = {0};
    bool ok = d->transitions && msgw_store_disclosures(store, person, MAX_ROWS, a, &rows, e);
    for (size_t i = 0; ok && i < rows.n; i++) {
        json_t *x = disclosure_json(cfg, ctx, &rows.v[i], person);
        json_array_append_new(d->scan.disclosures, x);
        json_object_set(d->scan.by_event, rows.v[i].m.event_id, x);
    }
    d->cut = ok && (json_array_size(d->held) >= MAX_ROWS ||
                    json_array_size(d->transitions) >= MAX_ROWS || rows.n >= MAX_ROWS);
    msgw_arena_destroy(&a);
    return ok;
}

msgw_disclosure *msgw_disclosure_new(msgw_store *store, const char *audit_dir,
                                     const msgw_config *cfg, const msgw_adapter_ctx *ctx,
                                     const char *person, msgw_time now, msgw_errors *e)
{
    msgw_disclosure *d = calloc(1, sizeof *d);
    if (!d) abort();
    msgw_idnum_mask(person, d->masked);
    snprintf(d->region, sizeof d->region, "%s", cfg->region ? cfg->region : "");
    d->now = now;
    d->scan = (audit_scan){.masked = d->masked,
                           .by_event = json_object(),
                           .disclosures = json_array(),
                           .accesses = json_array()};
    char needle[48]; /* an entry about the person names them so, in the log's canonical form */
    snprintf(needle, sizeof needle, "\"person\":\"%s\"", d->masked);
    if (!from_store(d, store, cfg, ctx, person, e) ||
        (audit_dir && !(d->reader = msgw_audit_reader_new(audit_dir, needle, e))))
        msgw_disclosure_destroy(&d);
    return d;
}

int msgw_disclosure_step(msgw_disclosure *d, msgw_errors *e)
{
    int more = d->reader ? msgw_audit_reader_next(d->reader, scan_entry, &d->scan, e) : 0;
    if (more == 0) msgw_audit_reader_destroy(&d->reader);
    return more;
}

json_t *msgw_disclosure_json(const msgw_disclosure *d)
{
    char at[28];
    json_t *out =
        json_pack("{s:s,s:s,s:s,s:O,s:O,s:O,s:O,s:O,s:b}", "person", d->masked, "gateway_region",
                  d->region, "generated_at", msgw_time_format(d->now, at), "records", d->held,
                  "verdicts", d->verdicts, "transitions", d->transitions, "disclosures",
                  d->scan.disclosures, "accesses", d->scan.accesses, "complete", !d->cut);
    if (!out) abort();
    return out;
}
