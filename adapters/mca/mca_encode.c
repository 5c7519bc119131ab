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
#include <stdio.h>
#include <string.h>

#include "mca_internal.h"
#include "msgw/base/text.h"
#include "msgw/model/xmlwriter.h"

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

/* ---- checking what the roster can carry -------------------------------- */

static bool require_text(msgw_xmlw *w, const char *what, const char *field, const char *v)
{
    if (v && *v) return true;
    msgw_xmlw_refuse(w, field, "mca.encode.missing", "%s has no %s; the roster requires it", what,
                     field);
    return false;
}

/* The head's assistance fact: the household's category, period and benefit. */
static const msgw_fact *household_assistance(msgw_xmlw *w, const msgw_record *r, const char *head)
{
    const msgw_fact *f = find_fact(r, "assistance", head);
    if (!f || !attr(f, "assistance_category")) {
        msgw_xmlw_refuse(w, "assistance", "mca.encode.missing",
                         "the head of household has no assistance fact with assistance_category");
        return NULL;
    }
    if (f->valid_from == MSGW_DATE_NONE) {
        msgw_xmlw_refuse(w, "assistance.valid_from", "mca.encode.missing",
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
static void check_member_assistance(msgw_xmlw *w, const msgw_record *r, const char *id,
                                    bool is_head, const msgw_fact *household)
{
    if (is_head) return;
    const msgw_fact *f = find_fact(r, "assistance", id);
    if (!same_assistance(f, household))
        msgw_xmlw_refuse(
            w, "assistance", "mca.encode.assistance",
            "member %.6s****: the roster carries one assistance category and period per "
            "household; this member's assistance fact is missing or differs from the head's",
            id);
    else if (attr(f, "benefit_monthly_fen"))
        msgw_xmlw_refuse(
            w, "assistance.benefit_monthly_fen", "mca.encode.assistance",
            "member %.6s****: only the head's assistance fact may carry the household benefit", id);
}

static bool check_person(msgw_xmlw *w, const msgw_record *r, const msgw_person *p)
{
    const msgw_household *h = r->household;
    bool ok = require_text(w, "a member", "name", p->name);
    ok = require_text(w, "a member", "sex", p->sex) && ok;
    ok = require_text(w, "a member", "ethnic", p->ethnic) && ok;
    ok = require_text(w, "a member", "marital", p->marital) && ok;
    if (p->birth_date == MSGW_DATE_NONE) {
        msgw_xmlw_refuse(w, "birth_date", "mca.encode.missing", "a member has no birth_date");
        ok = false;
    }
    if ((p->hukou_region && !str_eq(p->hukou_region, h->region)) ||
        (p->hukou_type && !str_eq(p->hukou_type, h->hukou_type))) {
        msgw_xmlw_refuse(
            w, "hukou_region", "mca.encode.hukou",
            "member %.6s****: the roster records hukou per household; the member's differs",
            p->id_number);
        ok = false;
    }
    if (p->residence_region) {
        msgw_xmlw_refuse(w, "residence_region", "mca.encode.unsupported",
                         "member %.6s****: the roster has no field for a residence region",
                         p->id_number);
        ok = false;
    }
    return ok;
}

static bool check_household(msgw_xmlw *w, const msgw_record *r)
{
    if (!r->kind || strcmp(r->kind, MCA_KIND) != 0) {
        msgw_xmlw_refuse(w, "kind", "mca.encode.kind",
                         "record kind %s cannot be carried by a civil affairs roster (only %s)",
                         r->kind ? r->kind : "(none)", MCA_KIND);
        return false;
    }
    const msgw_household *h = r->household;
    if (!h || h->nmembers == 0) {
        msgw_xmlw_refuse(w, "household", "mca.encode.missing",
                         "the record has no household members");
        return false;
    }
    bool ok = require_text(w, "the household", "household.id", h->id);
    ok = require_text(w, "the household", "household.region", h->region) && ok;
    return require_text(w, "the household", "household.hukou_type", h->hukou_type) && ok;
}

static const char *find_head(msgw_xmlw *w, const msgw_household *h)
{
    const char *head = NULL;
    size_t heads = 0;
    for (size_t i = 0; i < h->nmembers; i++)
        if (mca_is_head(h->members[i].relationship)) {
            head = h->members[i].id_number;
            heads++;
        }
    if (heads == 1) return head;
    msgw_xmlw_refuse(w, "household.members", "mca.encode.head",
                     "a household has exactly one head (relationship 01 or 02), found %zu", heads);
    return NULL;
}

/* ---- writing a household ----------------------------------------------- */

/* An optional attribute of f (code, money, date) as an element, when f has it. */
static void put_attr(msgw_xmlw *w, const char *tag, const msgw_fact *f, const char *name)
{
    const msgw_value *v = attr(f, name);
    if (v) msgw_xmlw_value(w, tag, v);
}

static void put_care(msgw_xmlw *w, const msgw_fact *care)
{
    msgw_xmlw_open(w, MCA_CARE);
    put_attr(w, MCA_ZHDJ, care, "care_level");
    put_attr(w, MCA_NLDJ, care, "ability_level");
    put_attr(w, MCA_PGRQ, care, "assessment_date");
    msgw_xmlw_close(w, MCA_CARE);
}

static void put_orphan(msgw_xmlw *w, const msgw_fact *orphan)
{
    msgw_xmlw_open(w, MCA_ORPHAN);
    put_attr(w, MCA_GELB, orphan, "orphan_status");
    put_attr(w, MCA_GYFS, orphan, "care_placement");
    msgw_xmlw_close(w, MCA_ORPHAN);
}

/* Optional facts must be complete to be written; partial ones are refused, not trimmed. */
static bool check_optional_facts(msgw_xmlw *w, const msgw_fact *care, const msgw_fact *orphan)
{
    bool ok = true;
    if (care && (!attr(care, "care_level") || !attr(care, "assessment_date"))) {
        msgw_xmlw_refuse(w, "care_assessment", "mca.encode.missing",
                         "a care_assessment fact needs care_level and assessment_date");
        ok = false;
    }
    if (orphan && !attr(orphan, "orphan_status")) {
        msgw_xmlw_refuse(w, "orphan", "mca.encode.missing", "an orphan fact needs orphan_status");
        ok = false;
    }
    return ok;
}

static void put_member(msgw_xmlw *w, const msgw_record *r, const msgw_member *m, bool is_head,
                       const msgw_fact *household)
{
    const msgw_person *p = msgw_record_person(r, m->id_number);
    if (!p) {
        msgw_xmlw_refuse(w, "persons", "mca.encode.missing",
                         "household member %.6s**** is not among the record's persons",
                         m->id_number);
        return;
    }
    bool ok = check_person(w, r, p);
    check_member_assistance(w, r, m->id_number, is_head, household);
    const msgw_fact *income = find_fact(r, "income", m->id_number);
    if (!attr(income, "income_monthly_fen")) {
        msgw_xmlw_refuse(
            w, "income", "mca.encode.missing",
            "member %.6s****: no income fact with income_monthly_fen (YSR is required)",
            m->id_number);
        ok = false;
    }
    const msgw_fact *care = find_fact(r, "care_assessment", m->id_number);
    const msgw_fact *orphan = find_fact(r, "orphan", m->id_number);
    ok = check_optional_facts(w, care, orphan) && ok;
    ok = require_text(w, "a member", "relationship", m->relationship) && ok;
    if (!ok || !w->ok) return;
    msgw_xmlw_open(w, MCA_MEMBER);
    msgw_xmlw_text(w, MCA_SFZH, p->id_number);
    msgw_xmlw_text(w, MCA_XM, p->name);
    msgw_xmlw_text(w, MCA_XB, p->sex);
    msgw_xmlw_date(w, MCA_CSRQ, p->birth_date);
    msgw_xmlw_text(w, MCA_MZ, p->ethnic);
    msgw_xmlw_text(w, MCA_HYZK, p->marital);
    msgw_xmlw_text(w, MCA_YHZGX, m->relationship);
    put_attr(w, MCA_YSR, income, "income_monthly_fen");
    put_attr(w, MCA_SRLY, income, "income_source");
    put_attr(w, MCA_JYZK, find_fact(r, "employment", m->id_number), "employment_status");
    if (care) put_care(w, care);
    if (orphan) put_orphan(w, orphan);
    msgw_xmlw_close(w, MCA_MEMBER);
}

static const char *record_id(const msgw_record *r)
{
    return r->source_message_id ? r->source_message_id : r->message_id;
}

static void put_household(msgw_xmlw *w, const msgw_record *r)
{
    if (!check_household(w, r)) return;
    const msgw_household *h = r->household;
    const char *head = find_head(w, h);
    const msgw_fact *assist = head ? household_assistance(w, r, head) : NULL;
    const char *id = record_id(r);
    size_t id_chars = id ? msgw_utf8_strlen(id, strlen(id)) : 0;
    if (id_chars == 0 || id_chars > MCA_RECORD_ID_MAX)
        msgw_xmlw_refuse(
            w, "source_message_id", "mca.encode.record_id",
            "the record id (source message id, else message id) must be 1 to %d characters",
            MCA_RECORD_ID_MAX);
    if (!assist || id_chars == 0 || id_chars > MCA_RECORD_ID_MAX) return;
    msgw_xmlw_open(w, MCA_HOUSEHOLD);
    msgw_xmlw_text(w, MCA_JLBH, id);
    msgw_xmlw_text(w, MCA_HBH, h->id);
    msgw_xmlw_text(w, MCA_HJQH, h->region);
    msgw_xmlw_text(w, MCA_HKXZ, h->hukou_type);
    put_attr(w, MCA_JZLB, assist, "assistance_category");
    msgw_xmlw_date(w, MCA_KSRQ, assist->valid_from);
    msgw_xmlw_date(w, MCA_JSRQ, assist->valid_to);
    put_attr(w, MCA_YJZJE, assist, "benefit_monthly_fen");
    for (size_t i = 0; i < h->nmembers; i++)
        put_member(w, r, &h->members[i], strcmp(h->members[i].id_number, head) == 0, assist);
    msgw_xmlw_close(w, MCA_HOUSEHOLD);
}

/* ---- the document ------------------------------------------------------ */

/* FSDWQH wants the sending bureau's region; the gateway has none, so the first household's. */
static void put_header(msgw_xmlw *w, const msgw_record *first)
{
    char batch[32], now[28];
    msgw_time t = msgw_time_now();
    snprintf(batch, sizeof batch, "msgw-%" PRId64, t);
    msgw_xmlw_open(w, MCA_HEADER);
    w->rec = 0; /* a region XML cannot carry is the first record's fault */
    msgw_xmlw_text(w, MCA_FSDWQH, first->household ? first->household->region : NULL);
    msgw_xmlw_text(w, MCA_FSXT, "msgw");
    msgw_xmlw_text(w, MCA_PCH, batch);
    msgw_xmlw_text(w, MCA_SCSJ, msgw_time_format(t, now));
    msgw_xmlw_close(w, MCA_HEADER);
}

bool mca_encode(const msgw_adapter_ctx *ctx, const char *media_type, const msgw_record *const *recs,
                size_t n, msgw_buf *out, msgw_errors *e)
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
    msgw_xmlw w;
    msgw_xmlw_init(&w, e, cs == MCA_CS_GB);
    w.xml_char_rule = "mca.encode.xml_char";
    msgw_xmlw_open_attrs(&w, MCA_ROOT, "version", MCA_VERSION, NULL);
    put_header(&w, recs[0]);
    for (size_t i = 0; i < n; i++) {
        w.rec = (int)i;
        put_household(&w, recs[i]);
    }
    msgw_xmlw_close(&w, MCA_ROOT);
    bool ok = msgw_xmlw_finish(&w, out, "mca.encode.charset");
    msgw_xmlw_clear(&w);
    return ok;
}
