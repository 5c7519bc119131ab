/*
 * The disability federation's certificate events as XML
 * (application/vnd.msgw.cdpf.certificate+xml, docs/formats/cdpf.md): a header
 * and one Event per issue (核发), regrade (换证/等级变更) or revoke (注销) of a
 * second-generation disability certificate.  Each Event becomes one
 * disability_certificate record; the generated XSD (cdpf-certificate.xsd)
 * checks the shape first, the dictionary checks every value.
 */
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdpf_internal.h"
#include "msgw/model/canon.h"
#include "msgw/base/text.h"
#include "msgw/base/xml.h"
#include "msgw/model/xmlwriter.h"

#define CDPF_NS "urn:msgw:cdpf:certificate:1"
#define CDPF_ROOT "CertificateEvents"
#define CDPF_XSD "cdpf-certificate.xsd"
#define EVENT_ID_MAX 100 /* characters; long enough for a SHA-256 digest in hex */

typedef struct xml_decoder {
    const msgw_adapter_ctx *ctx;
    cdpf_elements els;
    msgw_batch *out;
    xmlNodePtr root;
    int base;           /* batch index of the first Event */
    int nevents;        /* Events in the document */
    int rec;            /* record being mapped */
    xmlNodePtr last_ev; /* record_of cache: schema errors arrive in document order */
    int last_idx;
} xml_decoder;

static bool is_event(xmlNodePtr n)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "Event") == 0;
}

static int count_events(xmlNodePtr root)
{
    int n = 0;
    for (xmlNodePtr c = root->children; c; c = c->next)
        n += is_event(c);
    return n;
}

/* Ordinal of ev among the root's Events, counting on from the last answer when possible. */
static int event_ordinal(xml_decoder *d, xmlNodePtr ev)
{
    xmlNodePtr from = d->root->children;
    int idx = 0;
    if (d->last_ev) {
        for (xmlNodePtr c = d->last_ev; c; c = c->next)
            if (c == ev) {
                from = d->last_ev;
                idx = d->last_idx;
                break;
            }
    }
    for (xmlNodePtr c = from; c && c != ev; c = c->next)
        idx += is_event(c);
    d->last_ev = ev;
    d->last_idx = idx;
    return idx;
}

/* Which record a schema error belongs to: the Event the node sits in, or -1 (the document). */
static int record_of(xmlNodePtr node, void *ud)
{
    xml_decoder *d = ud;
    xmlNodePtr ev = node;
    while (ev && ev->parent != d->root)
        ev = ev->parent;
    if (!is_event(ev)) return -1;
    return d->base + event_ordinal(d, ev);
}

/*
 * The location of the Event being mapped, or of its child `child` (NULL: the Event), spelt as
 * msgw_xml_location spells it ("/CertificateEvents/Event[3]/Holder (line 40)") but from the
 * Event's ordinal: every record has a location, and the generic spelling would index the siblings
 * of the whole document for it.
 */
static char *event_location(xml_decoder *d, xmlNodePtr ev, xmlNodePtr child)
{
    char idx[24] = "";
    if (d->nevents > 1) snprintf(idx, sizeof idx, "[%d]", d->rec - d->base + 1);
    xmlNodePtr at = child ? child : ev;
    return msgw_arena_printf(d->out->arena, "/%s/%s%s%s%s (line %ld)", (const char *)d->root->name,
                             (const char *)ev->name, idx, child ? "/" : "",
                             child ? (const char *)child->name : "", xmlGetLineNo(at));
}

static void error_at(xml_decoder *d, xmlNodePtr n, const char *field, const char *rule,
                     const char *msg)
{
    char buf[512];
    msgw_error_add(&d->out->errors, d->rec, msgw_xml_location(n, buf, sizeof buf), field, rule,
                   "%s", msg);
}

/*
 * Parses child `name` of parent as element el.  An absent optional child
 * leaves *present false and is no error; an absent required one is.
 */
static bool leaf(xml_decoder *d, xmlNodePtr parent, const char *name, const msgw_element *el,
                 bool required, msgw_value *v, bool *present)
{
    xmlNodePtr c = msgw_xml_child(parent, name);
    if (present) *present = c != NULL;
    if (!c) {
        if (!required) return true;
        char msg[128];
        snprintf(msg, sizeof msg, "%s is required here", name);
        error_at(d, parent, name, "cdpf.required", msg);
        return false;
    }
    size_t len = 0, from = d->out->errors.n;
    const char *text = msgw_xml_text(c, &len);
    bool ok = msgw_dict_parse(d->ctx->dict, el, text ? text : "", text ? len : 0, v, d->out->arena,
                              &d->out->errors, d->rec, NULL, name);
    if (d->out->errors.n > from) { /* spelt only when found: a location costs more than a check */
        char buf[512];
        msgw_errors_locate(&d->out->errors, from, msgw_xml_location(c, buf, sizeof buf));
    }
    return ok;
}

static bool event_id(xml_decoder *d, xmlNodePtr ev, cdpf_cert *c)
{
    xmlNodePtr n = msgw_xml_child(ev, "EventId");
    if (!n) {
        error_at(d, ev, "EventId", "cdpf.required", "EventId is required here");
        return false;
    }
    size_t len = 0;
    const char *s = msgw_xml_text(n, &len);
    bool printable = s && len > 0;
    for (size_t i = 0; printable && i < len; i++)
        printable = (unsigned char)s[i] > 0x20;
    if (!printable || msgw_utf8_strlen(s, len) > EVENT_ID_MAX) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "EventId must be 1 to %d characters without spaces or control characters",
                 EVENT_ID_MAX);
        error_at(d, n, "EventId", "cdpf.event_id", msg);
        return false;
    }
    c->event_id = msgw_arena_strndup(d->out->arena, s, len);
    return true;
}

static bool holder(xml_decoder *d, xmlNodePtr ev, msgw_person *p)
{
    xmlNodePtr h = msgw_xml_child(ev, "Holder");
    if (!h) {
        error_at(d, ev, "Holder", "cdpf.required", "Holder is required here");
        return false;
    }
    const cdpf_elements *E = &d->els;
    msgw_value id = {0}, name = {0}, sex = {0}, birth = {0}, region = {0}, type = {0};
    bool has_sex, has_birth, has_region, has_type;
    bool ok = leaf(d, h, "IdNumber", E->id_number, true, &id, NULL);
    ok &= leaf(d, h, "Name", E->name, true, &name, NULL);
    ok &= leaf(d, h, "Sex", E->sex, false, &sex, &has_sex);
    ok &= leaf(d, h, "BirthDate", E->birth_date, false, &birth, &has_birth);
    ok &= leaf(d, h, "HukouRegion", E->hukou_region, false, &region, &has_region);
    ok &= leaf(d, h, "HukouType", E->hukou_type, false, &type, &has_type);
    if (!ok) return false;
    snprintf(p->id_number, sizeof p->id_number, "%s", id.u.s);
    p->name = name.u.s;
    p->sex = has_sex ? sex.u.s : NULL;
    p->birth_date = has_birth ? birth.u.d : MSGW_DATE_NONE;
    p->hukou_region = has_region ? region.u.s : NULL;
    p->hukou_type = has_type ? type.u.s : NULL;
    p->loc = event_location(d, ev, h);
    return true;
}

/*
 * The fact's period.  Issue and regrade start a certificate: it holds from
 * the event date to ValidUntil.  A revoke ends one: it held from IssueDate
 * (or, when not sent, is known only from the event date) to the event date.
 */
static bool period(xml_decoder *d, xmlNodePtr ev, cdpf_cert *c, msgw_date date, msgw_date issued,
                   msgw_date until)
{
    if (strcmp(c->event.u.s, "revoke") == 0) {
        c->valid_from = issued != MSGW_DATE_NONE ? issued : date;
        c->valid_to = date;
        return true;
    }
    if (until == MSGW_DATE_NONE) {
        error_at(d, ev, "ValidUntil", "cdpf.valid_until",
                 "issue and regrade events need ValidUntil, the certificate's expiry date");
        return false;
    }
    if (issued != MSGW_DATE_NONE && issued != date) {
        char buf[512];
        msgw_warning_add(&d->out->errors, d->rec,
                         msgw_xml_location(msgw_xml_child(ev, "IssueDate"), buf, sizeof buf),
                         "IssueDate", "cdpf.issue_date",
                         "IssueDate is read only for revoke events; a %s event's certificate "
                         "is issued on its EventDate",
                         c->event.u.s);
    }
    c->valid_from = date;
    c->valid_to = until;
    return true;
}

static msgw_record *map_event(xml_decoder *d, xmlNodePtr ev, const char *loc)
{
    const cdpf_elements *E = &d->els;
    cdpf_cert c;
    cdpf_cert_init(&c);
    c.loc = loc;
    msgw_value date = {0}, issued = {0}, until = {0};
    bool has_issued, has_until;
    bool ok = event_id(d, ev, &c);
    ok &= leaf(d, ev, "EventType", E->event, true, &c.event, NULL);
    ok &= leaf(d, ev, "EventDate", E->start_date, true, &date, NULL);
    ok &= leaf(d, ev, "CertificateNo", E->certno, true, &c.certno, NULL);
    ok &= leaf(d, ev, "Category", E->category, true, &c.category, NULL);
    ok &= leaf(d, ev, "Grade", E->grade, true, &c.grade, NULL);
    ok &= leaf(d, ev, "IssueDate", E->start_date, false, &issued, &has_issued);
    ok &= leaf(d, ev, "ValidUntil", E->end_date, false, &until, &has_until);
    ok &= holder(d, ev, &c.holder);
    if (!ok) return NULL;
    if (!period(d, ev, &c, date.u.d, has_issued ? issued.u.d : MSGW_DATE_NONE,
                has_until ? until.u.d : MSGW_DATE_NONE))
        return NULL;
    return cdpf_record_build(&c, d->out->arena);
}

/* EventCount guards against a truncated transfer; a mismatch is reported, not fatal. */
static void check_event_count(xml_decoder *d, int nevents)
{
    xmlNodePtr n = msgw_xml_child(msgw_xml_child(d->root, "Header"), "EventCount");
    if (!n) return;
    size_t len = 0;
    const char *s = msgw_xml_text(n, &len);
    char buf[512], *end = NULL;
    long v = s ? strtol(s, &end, 10) : -1;
    if (!s || end != s + len || v != nevents)
        msgw_warning_add(&d->out->errors, -1, msgw_xml_location(n, buf, sizeof buf), "EventCount",
                         "cdpf.event_count",
                         "header says %.*s events, the document holds %d: events may be missing",
                         (int)(s ? len : 0), s ? s : "", nevents);
}

static bool check_root(xml_decoder *d)
{
    xmlNodePtr r = d->root;
    if (r && strcmp((const char *)r->name, CDPF_ROOT) == 0 && r->ns && r->ns->href &&
        strcmp((const char *)r->ns->href, CDPF_NS) == 0)
        return true;
    char buf[512];
    msgw_error_add(&d->out->errors, -1, r ? msgw_xml_location(r, buf, sizeof buf) : NULL,
                   r ? (const char *)r->name : NULL, "cdpf.root",
                   "expected root element " CDPF_ROOT " in namespace " CDPF_NS);
    return false;
}

/* Schema errors inside an Event reject that event only; any other rejects the document. */
static bool validate(xml_decoder *d, xmlDocPtr doc)
{
    void *xsd = d->ctx->schemas ? msgw_schemas_xsd(d->ctx->schemas, CDPF_XSD) : NULL;
    if (xsd) msgw_xml_validate(xsd, doc, &d->out->errors, record_of, d);
    return !msgw_errors_record_failed(&d->out->errors, -1);
}

static void map_events(xml_decoder *d)
{
    for (xmlNodePtr ev = d->root->children; ev; ev = ev->next) {
        if (!is_event(ev)) continue;
        d->rec = (int)d->out->nitems;
        const char *loc = event_location(d, ev, NULL);
        msgw_record *r = NULL;
        if (!msgw_errors_record_failed(&d->out->errors, d->rec)) r = map_event(d, ev, loc);
        if (r && msgw_errors_record_failed(&d->out->errors, d->rec)) r = NULL;
        msgw_batch_add(d->out, r, loc);
    }
}

void cdpf_xml_decode(const msgw_adapter_ctx *ctx, const char *buf, size_t len, msgw_batch *out)
{
    if (!cdpf_check_size(ctx, len, &out->errors)) return;
    xml_decoder d = {.ctx = ctx, .out = out, .base = (int)out->nitems};
    if (!cdpf_elements_lookup(ctx->dict, &d.els, &out->errors)) return;
    xmlDocPtr doc = msgw_xml_parse(buf, len, ctx->max_depth, &out->errors);
    if (!doc) return;
    d.root = xmlDocGetRootElement(doc);
    if (check_root(&d)) {
        int n = d.nevents = count_events(d.root); /* before the schema: a flood costs nothing */
        if (ctx->max_records && (size_t)n > ctx->max_records) {
            msgw_error_add(&out->errors, -1, NULL, "Event", "document.records",
                           "document holds %d events, the limit is %zu", n, ctx->max_records);
        } else if (validate(&d, doc)) {
            check_event_count(&d, n);
            map_events(&d);
        }
    }
    xmlFreeDoc(doc);
}

/* ---- encoding ---- */

static void put_date(msgw_xmlw *w, const char *tag, msgw_date d, bool required)
{
    if (d == MSGW_DATE_NONE && required)
        msgw_xmlw_refuse(w, tag, "encode.date",
                         "the disability fact has no date for %s, which this event needs", tag);
    msgw_xmlw_date(w, tag, d);
}

static void put_holder(msgw_xmlw *w, const msgw_person *p)
{
    if (!p->name) {
        msgw_xmlw_refuse(w, "Name", "encode.person", "the holder %s has no name", p->id_number);
        return;
    }
    msgw_xmlw_open(w, "Holder");
    msgw_xmlw_text(w, "IdNumber", p->id_number);
    msgw_xmlw_text(w, "Name", p->name);
    msgw_xmlw_text(w, "Sex", p->sex);
    msgw_xmlw_date(w, "BirthDate", p->birth_date);
    msgw_xmlw_text(w, "HukouRegion", p->hukou_region);
    msgw_xmlw_text(w, "HukouType", p->hukou_type);
    msgw_xmlw_close(w, "Holder");
}

/* False when record i is no certificate event; what else it lacks is refused in w. */
static bool put_event(msgw_xmlw *w, const msgw_record *r, int i)
{
    cdpf_cert c;
    w->rec = i;
    if (!cdpf_cert_from_record(r, i, &c, w->e)) return false;
    char hex[65];
    if (!c.event_id) {
        msgw_canon_digest(r, hex); /* a record the sender gave no id: its content names it */
        c.event_id = hex;
    }
    bool revoke = strcmp(c.event.u.s, "revoke") == 0;
    msgw_xmlw_open(w, "Event");
    msgw_xmlw_text(w, "EventId", c.event_id);
    msgw_xmlw_text(w, "EventType", c.event.u.s);
    put_date(w, "EventDate", revoke ? c.valid_to : c.valid_from, true);
    msgw_xmlw_text(w, "CertificateNo", c.certno.u.s);
    msgw_xmlw_text(w, "Category", c.category.u.s);
    msgw_xmlw_text(w, "Grade", c.grade.u.s);
    if (revoke)
        put_date(w, "IssueDate", c.valid_from, false);
    else
        put_date(w, "ValidUntil", c.valid_to, true);
    put_holder(w, &c.holder);
    msgw_xmlw_close(w, "Event");
    return true;
}

static void put_header(msgw_xmlw *w, size_t nevents)
{
    msgw_xmlw_open(w, "Header");
    msgw_xmlw_text(w, "BatchId", "msgw-export");
    msgw_xmlw_text(w, "SenderCode", "msgw");
    msgw_xmlw_int(w, "EventCount", (int64_t)nevents);
    msgw_xmlw_close(w, "Header");
}

bool cdpf_xml_encode(const msgw_adapter_ctx *ctx, bool gb18030, const msgw_record *const *recs,
                     size_t n, msgw_buf *out, msgw_errors *e)
{
    if (n == 0) {
        msgw_error_add(e, -1, NULL, NULL, "encode.empty",
                       "a certificate event document holds at least one event");
        return false;
    }
    msgw_xmlw w;
    msgw_xmlw_init(&w, e, gb18030);
    msgw_xmlw_open_attrs(&w, CDPF_ROOT, "xmlns", CDPF_NS, "version", "1", NULL);
    put_header(&w, n);
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        ok &= put_event(&w, recs[i], (int)i);
    msgw_xmlw_close(&w, CDPF_ROOT);
    ok = ok && msgw_xmlw_finish(&w, out, "encode.charset");
    msgw_xmlw_clear(&w);
    return ok;
}
