/*
 * Encoding canonical household_assistance_roster records as a civil affairs
 * roster.  The roster is narrower than the canonical model (one assistance
 * category and period per household, the benefit on the head), so every
 * record is checked first and anything the roster cannot carry is an error
 * naming the record and the field: a silently dropped fact would be a wrong
 * roster in a benefit office.  UTF-8 by default; GB18030 when the media type
 * asks for it (";charset=GB18030", also GBK / GB2312, which it contains).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mca_internal.h"
#include "msgw/text.h"

typedef struct encoder {
    msgw_errors *e;
    msgw_buf body; /* the <Household> elements */
    size_t rec;    /* index of the record being encoded */
    bool ok;
} encoder;

static void refuse(encoder *en, const char *field, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void refuse(encoder *en, const char *field, const char *rule, const char *fmt, ...)
{
    char loc[48];
    snprintf(loc, sizeof loc, "record %zu", en->rec);
    va_list ap;
    va_start(ap, fmt);
    msgw_errors_vadd(en->e, MSGW_SEV_ERROR, (int)en->rec, loc, field, rule, fmt, ap);
    va_end(ap);
    en->ok = false;
}

static const msgw_fact *find_fact(const msgw_record *r, const char *type, const char *subject)
{
    for (size_t i = 0; i < r->nfacts; i++)
        if (strcmp(r->facts[i].type, type) == 0 && strcmp(r->facts[i].subject, subject) == 0)
            return &r->facts[i];
    return NULL;
}

static const msgw_value *attr(const msgw_fact *f, const char *name)
{
    const msgw_attr *a = f ? msgw_fact_attr(f, name) : NULL;
    return a && a->v.kind != MSGW_V_NONE ? &a->v : NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* ---- writing leaves ---------------------------------------------------- */

static void indent(msgw_buf *b, int depth)
{
    for (int i = 0; i < depth; i++) msgw_buf_puts(b, "  ");
}

static void put_text(msgw_buf *b, int depth, const char *tag, const char *text)
{
    indent(b, depth);
    msgw_buf_printf(b, "<%s>", tag);
    msgw_buf_xml_escape(b, text);
    msgw_buf_printf(b, "</%s>\n", tag);
}

static void put_date(msgw_buf *b, int depth, const char *tag, msgw_date d)
{
    char s[11];
    put_text(b, depth, tag, msgw_date_format(d, s));
}

static void put_money(msgw_buf *b, int depth, const char *tag, int64_t fen)
{
    indent(b, depth);
    msgw_buf_printf(b, "<%s>%" PRId64 "</%s>\n", tag, fen, tag);
}

/* Writes an optional attribute value of f (code or money) when present. */
static void put_attr(msgw_buf *b, int depth, const char *tag, const msgw_fact *f, const char *name)
{
    const msgw_value *v = attr(f, name);
    if (!v) return;
    if (v->kind == MSGW_V_MONEY || v->kind == MSGW_V_INT)
        put_money(b, depth, tag, v->u.i);
    else if (v->kind == MSGW_V_DATE)
        put_date(b, depth, tag, v->u.d);
    else if (v->u.s)
        put_text(b, depth, tag, v->u.s);
}

static void open_tag(msgw_buf *b, int depth, const char *tag)
{
    indent(b, depth);
    msgw_buf_printf(b, "<%s>\n", tag);
}

static void close_tag(msgw_buf *b, int depth, const char *tag)
{
    indent(b, depth);
    msgw_buf_printf(b, "</%s>\n", tag);
}

/* ---- checking what the roster can carry -------------------------------- */

static bool require_text(encoder *en, const char *what, const char *field, const char *v)
{
    if (v && *v) return true;
    refuse(en, field, "mca.encode.missing", "%s has no %s; the roster requires it", what, field);
    return false;
}

/* The head's assistance fact: the household's category, period and benefit. */
static const msgw_fact *household_assistance(encoder *en, const msgw_record *r, const char *head)
{
    const msgw_fact *f = find_fact(r, "assistance", head);
    if (!f || !attr(f, "assistance_category")) {
        refuse(en, "assistance", "mca.encode.missing",
               "the head of household has no assistance fact with assistance_category");
        return NULL;
    }
    if (f->valid_from == MSGW_DATE_NONE) {
        refuse(en, "assistance.valid_from", "mca.encode.missing",
               "the assistance fact has no start date (KSRQ is required)");
        return NULL;
    }
    return f;
}

static bool same_assistance(const msgw_fact *a, const msgw_fact *head)
{
    return a && a->valid_from == head->valid_from && a->valid_to == head->valid_to &&
           msgw_value_equal(attr(a, "assistance_category"), attr(head, "assistance_category"));
}

/* A member's assistance fact must repeat the household's; only the head carries the benefit. */
static void check_member_assistance(encoder *en, const msgw_record *r, const char *id,
                                    bool is_head, const msgw_fact *household)
{
    if (is_head) return;
    const msgw_fact *f = find_fact(r, "assistance", id);
    if (!same_assistance(f, household))
        refuse(en, "assistance", "mca.encode.assistance",
               "member %.6s****: the roster carries one assistance category and period per "
               "household; this member's assistance fact is missing or differs from the head's",
               id);
    else if (attr(f, "benefit_monthly_fen"))
        refuse(en, "assistance.benefit_monthly_fen", "mca.encode.assistance",
               "member %.6s****: only the head's assistance fact may carry the household benefit",
               id);
}

static bool check_person(encoder *en, const msgw_record *r, const msgw_person *p)
{
    const msgw_household *h = r->household;
    bool ok = require_text(en, "a member", "name", p->name);
    ok = require_text(en, "a member", "sex", p->sex) && ok;
    ok = require_text(en, "a member", "ethnic", p->ethnic) && ok;
    ok = require_text(en, "a member", "marital", p->marital) && ok;
    if (p->birth_date == MSGW_DATE_NONE) {
        refuse(en, "birth_date", "mca.encode.missing", "a member has no birth_date");
        ok = false;
    }
    if ((p->hukou_region && !str_eq(p->hukou_region, h->region)) ||
        (p->hukou_type && !str_eq(p->hukou_type, h->hukou_type))) {
        refuse(en, "hukou_region", "mca.encode.hukou",
               "member %.6s****: the roster records hukou per household; the member's differs",
               p->id_number);
        ok = false;
    }
    if (p->residence_region) {
        refuse(en, "residence_region", "mca.encode.unsupported",
               "member %.6s****: the roster has no field for a residence region", p->id_number);
        ok = false;
    }
    return ok;
}

static bool check_household(encoder *en, const msgw_record *r)
{
    if (!r->kind || strcmp(r->kind, MCA_KIND) != 0) {
        refuse(en, "kind", "mca.encode.kind",
               "record kind %s cannot be carried by a civil affairs roster (only %s)",
               r->kind ? r->kind : "(none)", MCA_KIND);
        return false;
    }
    const msgw_household *h = r->household;
    if (!h || h->nmembers == 0) {
        refuse(en, "household", "mca.encode.missing", "the record has no household members");
        return false;
    }
    bool ok = require_text(en, "the household", "household.id", h->id);
    ok = require_text(en, "the household", "household.region", h->region) && ok;
    return require_text(en, "the household", "household.hukou_type", h->hukou_type) && ok;
}

static const char *find_head(encoder *en, const msgw_household *h)
{
    const char *head = NULL;
    size_t heads = 0;
    for (size_t i = 0; i < h->nmembers; i++)
        if (mca_is_head(h->members[i].relationship)) {
            head = h->members[i].id_number;
            heads++;
        }
    if (heads == 1) return head;
    refuse(en, "household.members", "mca.encode.head",
           "a household has exactly one head (relationship 01 or 02), found %zu", heads);
    return NULL;
}

/* ---- writing a household ----------------------------------------------- */

static void put_care(msgw_buf *b, const msgw_fact *care)
{
    open_tag(b, 3, MCA_CARE);
    put_attr(b, 4, MCA_ZHDJ, care, "care_level");
    put_attr(b, 4, MCA_NLDJ, care, "ability_level");
    put_attr(b, 4, MCA_PGRQ, care, "assessment_date");
    close_tag(b, 3, MCA_CARE);
}

static void put_orphan(msgw_buf *b, const msgw_fact *orphan)
{
    open_tag(b, 3, MCA_ORPHAN);
    put_attr(b, 4, MCA_GELB, orphan, "orphan_status");
    put_attr(b, 4, MCA_GYFS, orphan, "care_placement");
    close_tag(b, 3, MCA_ORPHAN);
}

/* Optional facts must be complete to be written; partial ones are refused, not trimmed. */
static bool check_optional_facts(encoder *en, const msgw_fact *care, const msgw_fact *orphan)
{
    bool ok = true;
    if (care && (!attr(care, "care_level") || !attr(care, "assessment_date"))) {
        refuse(en, "care_assessment", "mca.encode.missing",
               "a care_assessment fact needs care_level and assessment_date");
        ok = false;
    }
    if (orphan && !attr(orphan, "orphan_status")) {
        refuse(en, "orphan", "mca.encode.missing", "an orphan fact needs orphan_status");
        ok = false;
    }
    return ok;
}

static void put_member(encoder *en, const msgw_record *r, const msgw_member *m, bool is_head,
                       const msgw_fact *household)
{
    const msgw_person *p = msgw_record_person(r, m->id_number);
    if (!p) {
        refuse(en, "persons", "mca.encode.missing",
               "household member %.6s**** is not among the record's persons", m->id_number);
        return;
    }
    bool ok = check_person(en, r, p);
    check_member_assistance(en, r, m->id_number, is_head, household);
    const msgw_fact *income = find_fact(r, "income", m->id_number);
    if (!attr(income, "income_monthly_fen")) {
        refuse(en, "income", "mca.encode.missing",
               "member %.6s****: no income fact with income_monthly_fen (YSR is required)",
               m->id_number);
        ok = false;
    }
    const msgw_fact *care = find_fact(r, "care_assessment", m->id_number);
    const msgw_fact *orphan = find_fact(r, "orphan", m->id_number);
    ok = check_optional_facts(en, care, orphan) && ok;
    ok = require_text(en, "a member", "relationship", m->relationship) && ok;
    if (!ok || !en->ok) return;
    msgw_buf *b = &en->body;
    open_tag(b, 2, MCA_MEMBER);
    put_text(b, 3, MCA_SFZH, p->id_number);
    put_text(b, 3, MCA_XM, p->name);
    put_text(b, 3, MCA_XB, p->sex);
    put_date(b, 3, MCA_CSRQ, p->birth_date);
    put_text(b, 3, MCA_MZ, p->ethnic);
    put_text(b, 3, MCA_HYZK, p->marital);
    put_text(b, 3, MCA_YHZGX, m->relationship);
    put_attr(b, 3, MCA_YSR, income, "income_monthly_fen");
    put_attr(b, 3, MCA_SRLY, income, "income_source");
    put_attr(b, 3, MCA_JYZK, find_fact(r, "employment", m->id_number), "employment_status");
    if (care) put_care(b, care);
    if (orphan) put_orphan(b, orphan);
    close_tag(b, 2, MCA_MEMBER);
}

static const char *record_id(const msgw_record *r)
{
    return r->source_message_id ? r->source_message_id : r->message_id;
}

static void put_household(encoder *en, const msgw_record *r)
{
    if (!check_household(en, r)) return;
    const msgw_household *h = r->household;
    const char *head = find_head(en, h);
    const msgw_fact *assist = head ? household_assistance(en, r, head) : NULL;
    const char *id = record_id(r);
    size_t id_chars = id ? msgw_utf8_strlen(id, strlen(id)) : 0;
    if (id_chars == 0 || id_chars > MCA_RECORD_ID_MAX)
        refuse(en, "source_message_id", "mca.encode.record_id",
               "the record id (source message id, else message id) must be 1 to %d characters",
               MCA_RECORD_ID_MAX);
    if (!assist || id_chars == 0 || id_chars > MCA_RECORD_ID_MAX) return;
    msgw_buf *b = &en->body;
    open_tag(b, 1, MCA_HOUSEHOLD);
    put_text(b, 2, MCA_JLBH, id);
    put_text(b, 2, MCA_HBH, h->id);
    put_text(b, 2, MCA_HJQH, h->region);
    put_text(b, 2, MCA_HKXZ, h->hukou_type);
    put_attr(b, 2, MCA_JZLB, assist, "assistance_category");
    put_date(b, 2, MCA_KSRQ, assist->valid_from);
    if (assist->valid_to != MSGW_DATE_NONE) put_date(b, 2, MCA_JSRQ, assist->valid_to);
    put_attr(b, 2, MCA_YJZJE, assist, "benefit_monthly_fen");
    for (size_t i = 0; i < h->nmembers; i++)
        put_member(en, r, &h->members[i], strcmp(h->members[i].id_number, head) == 0, assist);
    close_tag(b, 1, MCA_HOUSEHOLD);
}

/* ---- the document ------------------------------------------------------ */

static void put_document(msgw_buf *doc, const char *encoding, const msgw_record *first,
                         const msgw_buf *body)
{
    char now[28];
    msgw_time t = msgw_time_now();
    msgw_time_format(t, now);
    msgw_buf_printf(doc, "<?xml version=\"1.0\" encoding=\"%s\"?>\n", encoding);
    msgw_buf_puts(doc, "<" MCA_ROOT " version=\"" MCA_VERSION "\">\n");
    open_tag(doc, 1, MCA_HEADER);
    put_text(doc, 2, MCA_FSDWQH, first->household->region);
    put_text(doc, 2, MCA_FSXT, "msgw");
    indent(doc, 2);
    msgw_buf_printf(doc, "<%s>msgw-%" PRId64 "</%s>\n", MCA_PCH, t, MCA_PCH);
    put_text(doc, 2, MCA_SCSJ, now);
    close_tag(doc, 1, MCA_HEADER);
    msgw_buf_append(doc, body->data, body->len);
    msgw_buf_puts(doc, "</" MCA_ROOT ">\n");
}

/* Appends doc to out, converted to GB18030 when asked. */
static bool emit(msgw_buf *out, const msgw_buf *doc, bool gb, msgw_errors *e)
{
    if (!gb) {
        msgw_buf_append(out, doc->data, doc->len);
        return true;
    }
    msgw_arena *a = msgw_arena_new(0);
    size_t n = 0;
    char *s = msgw_utf8_to_gb18030(doc->data, doc->len, a, &n);
    if (s)
        msgw_buf_append(out, s, n);
    else
        msgw_error_add(e, -1, NULL, NULL, "mca.encode.charset",
                       "the roster could not be converted to GB18030");
    msgw_arena_destroy(&a);
    return s != NULL;
}

bool mca_encode(const msgw_adapter_ctx *ctx, const char *media_type,
                const msgw_record *const *recs, size_t n, msgw_buf *out, msgw_errors *e)
{
    (void)ctx;
    mca_charset cs = mca_media_charset(media_type);
    if (cs == MCA_CS_OTHER) {
        msgw_error_add(e, -1, NULL, "charset", "mca.encode.charset",
                       "media type %s: rosters are written in UTF-8 or GB18030", media_type);
        return false;
    }
    if (n == 0) {
        msgw_error_add(e, -1, NULL, NULL, "mca.encode.empty",
                       "a roster carries at least one household; no records were given");
        return false;
    }
    encoder en = {.e = e, .ok = true};
    msgw_buf_init(&en.body);
    for (size_t i = 0; i < n; i++) {
        en.rec = i;
        put_household(&en, recs[i]);
    }
    bool ok = en.ok;
    if (ok) {
        msgw_buf doc;
        msgw_buf_init(&doc);
        put_document(&doc, cs == MCA_CS_GB ? "GB18030" : "UTF-8", recs[0], &en.body);
        ok = emit(out, &doc, cs == MCA_CS_GB, e);
        msgw_buf_free(&doc);
    }
    msgw_buf_free(&en.body);
    return ok;
}
