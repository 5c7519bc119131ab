/*
 * The disability federation (残联, "cdpf") adapter: certificate events as XML
 * and the monthly roster of certificate holders as CSV.  This file is the
 * adapter's face (names, media types, dispatch by media type) and the one
 * mapping between a certificate and the canonical record that both formats
 * share; the formats themselves live in cdpf_xml.c and cdpf_csv.c, the
 * eligibility notices it receives in cdpf_notice.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cdpf_internal.h"
#include "msgw/base/text.h"

#define MT_XML "application/vnd.msgw.cdpf.certificate+xml"
#define MT_CSV "application/vnd.msgw.cdpf.roster+csv"

typedef enum { FORMAT_UNKNOWN, FORMAT_XML, FORMAT_CSV } cdpf_format;

bool cdpf_elements_lookup(const msgw_dict *d, cdpf_elements *els, msgw_errors *e)
{
    static const struct {
        const char *id;
        size_t offset;
    } want[] = {
        {"id_number", offsetof(cdpf_elements, id_number)},
        {"name", offsetof(cdpf_elements, name)},
        {"sex", offsetof(cdpf_elements, sex)},
        {"birth_date", offsetof(cdpf_elements, birth_date)},
        {"hukou_region", offsetof(cdpf_elements, hukou_region)},
        {"hukou_type", offsetof(cdpf_elements, hukou_type)},
        {"disability_certificate_no", offsetof(cdpf_elements, certno)},
        {"disability_category", offsetof(cdpf_elements, category)},
        {"disability_grade", offsetof(cdpf_elements, grade)},
        {"certificate_event", offsetof(cdpf_elements, event)},
        {"start_date", offsetof(cdpf_elements, start_date)},
        {"end_date", offsetof(cdpf_elements, end_date)},
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const msgw_element *el = msgw_dict_element(d, want[i].id);
        *(const msgw_element **)((char *)els + want[i].offset) = el;
        if (!el) {
            msgw_error_add(e, -1, NULL, NULL, "dict.element",
                           "the data dictionary has no element '%s' (needed by cdpf)", want[i].id);
            ok = false;
        }
    }
    return ok;
}

void cdpf_cert_init(cdpf_cert *c)
{
    memset(c, 0, sizeof *c);
    c->valid_from = c->valid_to = MSGW_DATE_NONE;
    msgw_person_init(&c->holder);
}

msgw_record *cdpf_record_build(const cdpf_cert *c, msgw_arena *a)
{
    msgw_record *r = msgw_arena_alloc(a, sizeof *r);
    r->kind = CDPF_KIND;
    r->source_department = "cdpf";
    r->source_message_id = c->event_id;
    r->loc = c->loc;
    size_t pcap = 0, fcap = 0;
    msgw_person *p = msgw_record_add_person(r, a, &pcap);
    *p = c->holder;
    msgw_fact *f = msgw_record_add_fact(r, a, &fcap, CDPF_FACT, c->holder.id_number);
    f->valid_from = c->valid_from;
    f->valid_to = c->valid_to;
    f->loc = c->loc;
    /* Fixed attribute order, so records from XML and CSV compare equal. */
    msgw_fact_add_attr(f, a, "disability_certificate_no", c->certno);
    msgw_fact_add_attr(f, a, "disability_category", c->category);
    msgw_fact_add_attr(f, a, "disability_grade", c->grade);
    msgw_fact_add_attr(f, a, "certificate_event", c->event);
    return r;
}

static const msgw_fact *disability_fact(const msgw_record *r)
{
    for (size_t i = 0; i < r->nfacts; i++)
        if (r->facts[i].type && strcmp(r->facts[i].type, CDPF_FACT) == 0) return &r->facts[i];
    return NULL;
}

static bool copy_attr(const msgw_fact *f, const char *name, msgw_value *out, int i, msgw_errors *e)
{
    const msgw_attr *at = msgw_fact_attr(f, name);
    if (!at || (at->v.kind != MSGW_V_STRING && at->v.kind != MSGW_V_CODE) || !at->v.u.s) {
        char loc[32];
        snprintf(loc, sizeof loc, "record %d", i);
        msgw_error_add(e, i, loc, name, "encode.attribute",
                       "the disability fact has no %s, which the cdpf formats require", name);
        return false;
    }
    *out = at->v;
    return true;
}

bool cdpf_cert_from_record(const msgw_record *r, int i, cdpf_cert *c, msgw_errors *e)
{
    char loc[32];
    snprintf(loc, sizeof loc, "record %d", i);
    cdpf_cert_init(c);
    if (!r->kind || strcmp(r->kind, CDPF_KIND) != 0) {
        msgw_error_add(e, i, loc, "kind", "encode.kind",
                       "the cdpf formats carry only disability_certificate records, not '%s'",
                       r->kind ? r->kind : "(none)");
        return false;
    }
    const msgw_fact *f = disability_fact(r);
    if (!f) {
        msgw_error_add(e, i, loc, CDPF_FACT, "encode.fact",
                       "a disability_certificate record needs a disability fact");
        return false;
    }
    const msgw_person *p = msgw_record_person(r, f->subject);
    if (!p) {
        msgw_error_add(e, i, loc, "subject", "encode.person",
                       "the disability fact is about %s, who is not among the record's persons",
                       f->subject[0] ? f->subject : "nobody");
        return false;
    }
    bool ok = copy_attr(f, "disability_certificate_no", &c->certno, i, e);
    ok &= copy_attr(f, "disability_category", &c->category, i, e);
    ok &= copy_attr(f, "disability_grade", &c->grade, i, e);
    ok &= copy_attr(f, "certificate_event", &c->event, i, e);
    c->holder = *p;
    c->valid_from = f->valid_from;
    c->valid_to = f->valid_to;
    c->event_id = r->source_message_id ? r->source_message_id : r->message_id;
    c->loc = r->loc;
    return ok;
}

bool cdpf_check_size(const msgw_adapter_ctx *ctx, size_t len, msgw_errors *e)
{
    if (ctx->max_document_bytes && len > ctx->max_document_bytes) {
        msgw_error_add(e, -1, NULL, NULL, "document.size",
                       "document is %zu bytes, the limit is %zu", len, ctx->max_document_bytes);
        return false;
    }
    return true;
}

static size_t span_ws(const char *s, size_t i, size_t end)
{
    while (i < end && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

const char *cdpf_media_charset(const char *mt, size_t *len)
{
    *len = 0;
    if (!mt) return NULL;
    for (const char *p = strchr(mt, ';'); p; p = strchr(p + 1, ';')) {
        size_t n = strlen(p), i = span_ws(p, 1, n);
        if (n - i < 8 || strncasecmp(p + i, "charset=", 8) != 0) continue;
        const char *v = p + i + 8;
        size_t vl = strcspn(v, "; \t");
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
            v++;
            vl -= 2;
        }
        *len = vl;
        return v;
    }
    return NULL;
}

static bool base_is(const char *mt, const char *want)
{
    size_t n = strcspn(mt, ";");
    while (n && (mt[n - 1] == ' ' || mt[n - 1] == '\t'))
        n--;
    size_t i = span_ws(mt, 0, n);
    return n - i == strlen(want) && strncasecmp(mt + i, want, n - i) == 0;
}

/* Without a media type the first significant byte decides: XML starts with '<'. */
static cdpf_format sniff(const char *buf, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) i = 3;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    return i < len && buf[i] == '<' ? FORMAT_XML : FORMAT_CSV;
}

static cdpf_format format_of(const char *mt)
{
    if (base_is(mt, MT_XML) || base_is(mt, "application/xml") || base_is(mt, "text/xml"))
        return FORMAT_XML;
    if (base_is(mt, MT_CSV) || base_is(mt, "text/csv")) return FORMAT_CSV;
    return FORMAT_UNKNOWN;
}

static void cdpf_decode(const msgw_adapter_ctx *ctx, const char *mt, const char *buf, size_t len,
                        msgw_batch *out)
{
    cdpf_format f = mt && *mt ? format_of(mt) : sniff(buf, len);
    if (f == FORMAT_XML) {
        cdpf_xml_decode(ctx, buf, len, out);
    } else if (f == FORMAT_CSV) {
        cdpf_csv_decode(ctx, mt, buf, len, out);
    } else {
        msgw_error_add(&out->errors, -1, NULL, NULL, "adapter.media_type",
                       "cdpf does not read media type '%s' (use " MT_XML " or text/csv)", mt);
    }
}

static bool cdpf_encode(const msgw_adapter_ctx *ctx, const char *mt, const msgw_record *const *recs,
                        size_t n, msgw_buf *out, msgw_errors *e)
{
    cdpf_format f = mt && *mt ? format_of(mt) : FORMAT_XML;
    size_t cl;
    const char *cs = cdpf_media_charset(mt, &cl);
    bool gb = cs && msgw_charset_is_gb(cs, cl);
    if (cs && !gb && !(cl == 5 && strncasecmp(cs, "utf-8", 5) == 0)) {
        msgw_error_add(e, -1, NULL, NULL, "adapter.charset",
                       "cdpf writes UTF-8 or GB18030, not charset '%.*s'", (int)cl, cs);
        return false;
    }
    if (f == FORMAT_XML) return cdpf_xml_encode(ctx, gb, recs, n, out, e);
    if (f == FORMAT_CSV) return cdpf_csv_encode(ctx, gb, recs, n, out, e);
    msgw_error_add(e, -1, NULL, NULL, "adapter.media_type",
                   "cdpf does not write media type '%s' (use " MT_XML " or text/csv)", mt);
    return false;
}

static const char *const cdpf_aliases[] = {"disability", "canlian", NULL};
static const char *const cdpf_media_types[] = {MT_XML, MT_CSV, "text/csv", NULL};

const msgw_adapter msgw_adapter_cdpf = {
    .name = "cdpf",
    .department = "残联 disability federation",
    .aliases = cdpf_aliases,
    .media_types = cdpf_media_types,
    .decode = cdpf_decode,
    .encode = cdpf_encode,
    .encode_notice = cdpf_encode_notice,
    .notice_types = cdpf_notice_types,
    .join_notices = cdpf_join_notices,
};
