/*
 * Tests of the disability federation (cdpf) adapter: certificate events XML
 * and the monthly CSV roster, UTF-8 and GB18030, decoded through the whole
 * decode stage (msgw_decode) so the dictionary's record rules run too;
 * exact canonical values, round trips, every error with its rule and
 * location, limits and hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "msgw/decode/decode.h"
#include "msgw/base/text.h"
#include "testutil.h"

#define MT_XML "application/vnd.msgw.cdpf.certificate+xml"
#define MT_CSV "text/csv"

static const msgw_adapter *cdpf(void)
{
    const msgw_adapter *ad = msgw_adapter_find("cdpf");
    assert_non_null(ad);
    return ad;
}

/* Dictionary, generated schemas and default limits: documents are validated against the XSD. */
static const msgw_adapter_ctx *ctx(void)
{
    return tu_ctx();
}

static msgw_batch *decode_with(const msgw_adapter_ctx *ctx, const char *mt, const char *buf,
                               size_t len)
{
    msgw_batch *b = msgw_batch_new();
    msgw_decode(ctx, cdpf(), mt, buf, len, b);
    return b;
}

static msgw_batch *decode_str(const char *mt, const char *s)
{
    return decode_with(ctx(), mt, s, strlen(s));
}

static msgw_batch *decode_file(const char *mt, const char *rel)
{
    size_t len;
    char *buf = tu_read_file(rel, &len);
    msgw_batch *b = decode_with(ctx(), mt, buf, len);
    free(buf);
    return b;
}

/* The one entry with this rule; fails unless there is exactly one. */
static const msgw_error *only_error(const msgw_batch *b, const char *rule)
{
    const msgw_error *found = NULL;
    for (size_t i = 0; i < b->errors.n; i++) {
        if (strcmp(b->errors.v[i].rule, rule) != 0) continue;
        if (found) {
            tu_dump_errors(b);
            fail_msg("more than one %s", rule);
        }
        found = &b->errors.v[i];
    }
    if (!found) {
        tu_dump_errors(b);
        fail_msg("no %s error", rule);
    }
    return found;
}

static void assert_error(const msgw_batch *b, const char *rule, int rec, const char *loc,
                         const char *field)
{
    const msgw_error *e = only_error(b, rule);
    assert_int_equal(e->record, rec);
    if (loc) assert_string_equal(e->location, loc);
    if (field)
        assert_string_equal(e->field, field);
    else
        assert_null(e->field);
}

static void assert_no_errors(const msgw_batch *b)
{
    if (b->errors.nerrors) tu_dump_errors(b);
    assert_int_equal(b->errors.nerrors, 0);
}

static msgw_date ymd(int y, int m, int d)
{
    return msgw_date_from_ymd(y, m, d);
}

static const char *attr_s(const msgw_fact *f, const char *name)
{
    const msgw_attr *a = msgw_fact_attr(f, name);
    assert_non_null(a);
    return a->v.u.s;
}

static void assert_cert(const msgw_record *r, const char *id, const char *certno,
                        const char *category, const char *grade, const char *event, msgw_date from,
                        msgw_date to)
{
    assert_string_equal(r->kind, "disability_certificate");
    assert_int_equal(r->npersons, 1);
    assert_int_equal(r->nfacts, 1);
    assert_null(r->household);
    assert_string_equal(r->persons[0].id_number, id);
    const msgw_fact *f = &r->facts[0];
    assert_string_equal(f->type, "disability");
    assert_string_equal(f->subject, id);
    assert_int_equal(f->nattrs, 4);
    assert_string_equal(attr_s(f, "disability_certificate_no"), certno);
    assert_int_equal(msgw_fact_attr(f, "disability_certificate_no")->v.kind, MSGW_V_STRING);
    assert_string_equal(attr_s(f, "disability_category"), category);
    assert_int_equal(msgw_fact_attr(f, "disability_category")->v.kind, MSGW_V_CODE);
    assert_string_equal(attr_s(f, "disability_grade"), grade);
    assert_string_equal(attr_s(f, "certificate_event"), event);
    assert_int_equal(f->valid_from, from);
    assert_int_equal(f->valid_to, to);
}

/* ---- XML certificate events ---- */

static void xml_sample_decodes_exactly(void **state)
{
    msgw_batch *b = decode_file(MT_XML, "tests/data/cdpf/certificate-events.xml");
    assert_no_errors(b);
    assert_int_equal(b->nitems, 4);
    assert_int_equal(msgw_batch_count_ok(b), 4);

    const msgw_record *r = b->items[0].record;
    assert_cert(r, "120101196803121233", "12010119680312123312", "1", "2", "issue",
                ymd(2026, 10, 15), ymd(2036, 10, 14));
    assert_string_equal(r->source_message_id, "120101-2026-00311");
    assert_string_equal(r->message_id, "cdpf:120101-2026-00311");
    assert_string_equal(r->source_department, "cdpf");
    const msgw_person *p = &r->persons[0];
    assert_string_equal(p->name, "王建国");
    assert_string_equal(p->sex, "1");
    assert_int_equal(p->birth_date, ymd(1968, 3, 12));
    assert_string_equal(p->hukou_region, "120101");
    assert_string_equal(p->hukou_type, "1");
    assert_non_null(strstr(b->items[0].loc, "(line 10)"));

    r = b->items[1].record; /* regrade: ID number ending in X */
    assert_cert(r, "12010119751102046X", "12010119751102046X42", "4", "2", "regrade",
                ymd(2026, 10, 20), ymd(2036, 10, 19));
    assert_string_equal(r->persons[0].name, "李秀英");

    r = b->items[2].record; /* revoke: held from IssueDate until the event date */
    assert_cert(r, "131082199007210154", "13108219900721015424", "2", "4", "revoke",
                ymd(2019, 5, 6), ymd(2026, 10, 28));
    assert_string_equal(r->persons[0].hukou_type, "2");

    r = b->items[3].record; /* no HukouType sent */
    assert_cert(r, "110105195901300883", "11010519590130088361", "6", "1", "issue",
                ymd(2026, 10, 30), ymd(2036, 10, 29));
    assert_null(r->persons[0].hukou_type);
    msgw_batch_destroy(&b);
}

static void xml_gb18030_document_decodes(void **state)
{
    size_t len;
    char *buf = tu_read_file("tests/data/cdpf/certificate-events-gb18030.xml", &len);
    assert_true(msgw_utf8_valid_prefix(buf, len) < len); /* really GB18030 bytes */
    msgw_batch *b = decode_with(ctx(), MT_XML, buf, len);
    free(buf);
    assert_no_errors(b);
    assert_int_equal(msgw_batch_count_ok(b), 2);
    assert_cert(b->items[0].record, "131003201205090311", "13100320120509031152", "5", "2", "issue",
                ymd(2026, 10, 9), ymd(2031, 10, 8));
    assert_string_equal(b->items[0].record->persons[0].name, "陈小明");
    assert_string_equal(b->items[1].record->persons[0].name, "阿依古丽·买买提");
    msgw_batch_destroy(&b);
}

static void xml_bad_events_are_rejected_one_by_one(void **state)
{
    msgw_batch *b = decode_file(MT_XML, "tests/data/cdpf/certificate-events-invalid.xml");
    assert_int_equal(b->nitems, 5);
    assert_non_null(b->items[0].record);
    for (int i = 1; i < 5; i++)
        assert_null(b->items[i].record);

    const msgw_error *e = only_error(b, "gb11643.check_character");
    assert_int_equal(e->record, 1);
    assert_string_equal(e->field, "IdNumber");
    assert_non_null(strstr(e->location, "(line 35)"));
    assert_string_equal(e->message, "check character should be 3, found 4");

    e = only_error(b, "certificate.agrees");
    assert_int_equal(e->record, 2);
    assert_string_equal(e->field, "disability_category");
    assert_non_null(strstr(e->location, "(line 43)"));

    /* category 8: the generated schema's enumeration rejects it before any mapping */
    e = only_error(b, "xsd.enumeration");
    assert_int_equal(e->record, 3);
    assert_string_equal(e->field, "Category");
    assert_non_null(strstr(e->location, "(line 65)"));
    assert_int_equal(msgw_errors_count_for(&b->errors, 3), 1);

    e = only_error(b, "cdpf.valid_until");
    assert_int_equal(e->record, 4);
    assert_string_equal(e->field, "ValidUntil");
    assert_non_null(strstr(e->location, "(line 77)"));
    msgw_batch_destroy(&b);
}

static const char *event_doc(const char *event_body)
{
    static char doc[4096];
    snprintf(doc, sizeof doc,
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<CertificateEvents xmlns=\"urn:msgw:cdpf:certificate:1\" version=\"1\">\n"
             "<Header><BatchId>B</BatchId><SenderCode>120101</SenderCode>"
             "<EventCount>1</EventCount></Header>\n"
             "<Event><EventId>E1</EventId>%s</Event>\n"
             "</CertificateEvents>\n",
             event_body);
    return doc;
}

#define HOLDER_WANG "<Holder><IdNumber>120101196803121233</IdNumber><Name>王建国</Name></Holder>"

static void xml_issue_date_on_issue_is_warned(void **state)
{
    msgw_batch *b =
        decode_str(MT_XML, event_doc("<EventType>issue</EventType>"
                                     "<EventDate>2026-10-15</EventDate>"
                                     "<CertificateNo>12010119680312123312</CertificateNo>"
                                     "<Category>1</Category><Grade>2</Grade>"
                                     "<IssueDate>2020-01-01</IssueDate>"
                                     "<ValidUntil>2036-10-14</ValidUntil>" HOLDER_WANG));
    assert_no_errors(b);
    const msgw_error *w = only_error(b, "cdpf.issue_date");
    assert_int_equal(w->severity, MSGW_SEV_WARNING);
    assert_string_equal(w->field, "IssueDate");
    assert_int_equal(b->items[0].record->facts[0].valid_from, ymd(2026, 10, 15));
    msgw_batch_destroy(&b);
}

static void xml_revoke_without_issue_date(void **state)
{
    msgw_batch *b =
        decode_str(MT_XML, event_doc("<EventType>revoke</EventType>"
                                     "<EventDate>2026-11-02</EventDate>"
                                     "<CertificateNo>12010119680312123312</CertificateNo>"
                                     "<Category>1</Category><Grade>2</Grade>" HOLDER_WANG));
    assert_no_errors(b);
    const msgw_fact *f = &b->items[0].record->facts[0];
    assert_int_equal(f->valid_from, ymd(2026, 11, 2));
    assert_int_equal(f->valid_to, ymd(2026, 11, 2));
    assert_null(b->items[0].record->persons[0].sex);
    assert_int_equal(b->items[0].record->persons[0].birth_date, MSGW_DATE_NONE);
    msgw_batch_destroy(&b);
}

static void xml_event_count_mismatch_warns(void **state)
{
    char *doc = strdup(event_doc("<EventType>revoke</EventType><EventDate>2026-11-02</EventDate>"
                                 "<CertificateNo>12010119680312123312</CertificateNo>"
                                 "<Category>1</Category><Grade>2</Grade>" HOLDER_WANG));
    char *c = strstr(doc, "<EventCount>1<");
    c[12] = '3';
    msgw_batch *b = decode_str(MT_XML, doc);
    free(doc);
    assert_no_errors(b);
    assert_int_equal(msgw_batch_count_ok(b), 1);
    const msgw_error *w = only_error(b, "cdpf.event_count");
    assert_int_equal(w->severity, MSGW_SEV_WARNING);
    assert_int_equal(w->record, -1);
    assert_string_equal(w->field, "EventCount");
    msgw_batch_destroy(&b);
}

#define EVENT(id, cat)                                                                             \
    "<Event><EventId>" id                                                                          \
    "</EventId><EventType>issue</EventType><EventDate>2026-10-15</EventDate>"                      \
    "<CertificateNo>12010119680312123312</CertificateNo><Category>" cat "</Category>"              \
    "<Grade>2</Grade><ValidUntil>2036-10-14</ValidUntil>" HOLDER_WANG "</Event>\n"

/* Schema errors land on the event they are in; the events between them still decode. */
static void xml_schema_errors_map_to_their_event(void **state)
{
    msgw_batch *b = decode_str(
        MT_XML, "<CertificateEvents xmlns=\"urn:msgw:cdpf:certificate:1\" version=\"1\">\n"
                "<Header><BatchId>B</BatchId><SenderCode>1</SenderCode>"
                "<EventCount>4</EventCount></Header>\n" EVENT("A", "9") EVENT("B", "1")
                    EVENT("C", "0") EVENT("D", "1") "</CertificateEvents>\n");
    assert_int_equal(b->nitems, 4);
    assert_null(b->items[0].record);
    assert_non_null(b->items[1].record);
    assert_null(b->items[2].record);
    assert_non_null(b->items[3].record);
    assert_string_equal(b->items[3].record->source_message_id, "D");
    assert_int_equal(msgw_errors_count_for(&b->errors, 0), 1);
    assert_int_equal(msgw_errors_count_for(&b->errors, 2), 1);
    assert_int_equal(b->errors.nerrors, 2);
    msgw_batch_destroy(&b);
}

/* A schema error outside every event (here the required version attribute) rejects the document. */
static void xml_schema_document_error(void **state)
{
    msgw_batch *b = decode_str(
        MT_XML, "<CertificateEvents xmlns=\"urn:msgw:cdpf:certificate:1\">\n"
                "<Header><BatchId>B</BatchId><SenderCode>1</SenderCode>"
                "<EventCount>1</EventCount></Header>\n" EVENT("A", "1") "</CertificateEvents>\n");
    const msgw_error *e = only_error(b, "xsd.required_attribute");
    assert_int_equal(e->record, -1);
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
}

static void xml_wrong_root_or_namespace(void **state)
{
    msgw_batch *b = decode_str(MT_XML, "<CertificateEvents><Event/></CertificateEvents>");
    assert_error(b, "cdpf.root", -1, "/CertificateEvents (line 1)", "CertificateEvents");
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
    b = decode_str(MT_XML, "<Roster xmlns=\"urn:msgw:cdpf:certificate:1\"/>");
    only_error(b, "cdpf.root");
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
}

static void xml_hostile_documents_are_refused(void **state)
{
    const char *laughs =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
        "<!ENTITY lol9 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n]>\n"
        "<CertificateEvents xmlns=\"urn:msgw:cdpf:certificate:1\">&lol9;</CertificateEvents>\n";
    msgw_batch *b = decode_str(MT_XML, laughs);
    assert_error(b, "xml.doctype", -1, "line 2", NULL);
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);

    const char *xxe =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
        "<CertificateEvents xmlns=\"urn:msgw:cdpf:certificate:1\">&x;</CertificateEvents>";
    b = decode_str(MT_XML, xxe);
    only_error(b, "xml.doctype");
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);

    /* truncated in the middle of an event */
    size_t len;
    char *buf = tu_read_file("tests/data/cdpf/certificate-events.xml", &len);
    b = decode_with(ctx(), MT_XML, buf, len / 2);
    only_error(b, "xml.not_well_formed");
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);

    /* a byte that is not UTF-8 in a document that says UTF-8 */
    char *bad = strdup(event_doc("<EventType>issue</EventType>"));
    bad[strlen(bad) - 30] = (char)0xFF;
    b = decode_str(MT_XML, bad);
    free(bad);
    only_error(b, "xml.not_well_formed");
    msgw_batch_destroy(&b);
    free(buf);
}

static void xml_too_deep_is_refused(void **state)
{
    char doc[2048] = "<CertificateEvents xmlns=\"urn:msgw:cdpf:certificate:1\"><Event>";
    for (int i = 0; i < 40; i++)
        strcat(doc, "<a>");
    for (int i = 0; i < 40; i++)
        strcat(doc, "</a>");
    strcat(doc, "</Event></CertificateEvents>");
    msgw_batch *b = decode_str(MT_XML, doc);
    only_error(b, "xml.depth");
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
}

/* ---- limits, both formats ---- */

static void oversize_documents_are_refused_before_parsing(void **state)
{
    msgw_adapter_ctx lim = *ctx();
    lim.max_document_bytes = 100;
    size_t len;
    char *buf = tu_read_file("tests/data/cdpf/certificate-events.xml", &len);
    msgw_batch *b = msgw_batch_new();
    cdpf()->decode(&lim, MT_XML, buf, len, b); /* the adapter itself, not only the pipeline */
    assert_error(b, "document.size", -1, NULL, NULL);
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
    free(buf);

    buf = tu_read_file("tests/data/cdpf/roster-202610.csv", &len);
    b = msgw_batch_new();
    cdpf()->decode(&lim, MT_CSV, buf, len, b);
    only_error(b, "document.size");
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
    free(buf);
}

static void too_many_records_are_refused(void **state)
{
    msgw_adapter_ctx lim = *ctx();
    lim.max_records = 2;
    size_t len;
    char *buf = tu_read_file("tests/data/cdpf/certificate-events.xml", &len);
    msgw_batch *b = msgw_batch_new();
    cdpf()->decode(&lim, MT_XML, buf, len, b);
    assert_error(b, "document.records", -1, NULL, "Event");
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
    free(buf);

    buf = tu_read_file("tests/data/cdpf/roster-202610.csv", &len);
    b = msgw_batch_new();
    cdpf()->decode(&lim, MT_CSV, buf, len, b);
    assert_error(b, "document.records", -1, NULL, NULL);
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
    free(buf);
}

/* ---- CSV roster ---- */

static void csv_roster_utf8_bom_decodes_exactly(void **state)
{
    msgw_batch *b = decode_file(MT_CSV, "tests/data/cdpf/roster-202610.csv");
    assert_no_errors(b);
    assert_int_equal(msgw_batch_count_ok(b), 4);
    assert_error(b, "csv.unknown_column", -1, "line 1, column 12", "备注");
    assert_int_equal(b->errors.v[0].severity, MSGW_SEV_WARNING);

    const msgw_record *r = b->items[0].record;
    assert_cert(r, "120101196803121233", "12010119680312123312", "1", "2", "issue",
                ymd(2026, 10, 15), ymd(2036, 10, 14));
    assert_null(r->source_message_id);
    assert_non_null(strstr(r->message_id, "cdpf:sha256:"));
    assert_string_equal(b->items[0].loc, "line 2");
    assert_string_equal(r->persons[0].name, "王建国");
    assert_string_equal(r->persons[0].sex, "1");
    assert_int_equal(r->persons[0].birth_date, ymd(1968, 3, 12));
    assert_string_equal(r->persons[0].hukou_region, "120101");
    assert_string_equal(r->persons[0].hukou_type, "1");

    assert_cert(b->items[1].record, "12010119751102046X", "12010119751102046X42", "4", "2", "issue",
                ymd(2026, 10, 20), ymd(2036, 10, 19));
    /* the empty 户口性质 cell is "not sent"; the quoted multi-line remark spans lines 4-5 */
    assert_null(b->items[2].record->persons[0].hukou_type);
    assert_string_equal(b->items[2].loc, "line 4");
    assert_string_equal(b->items[3].loc, "line 6");
    assert_cert(b->items[3].record, "131002197709090248", "13100219770909024843", "4", "3", "issue",
                ymd(2021, 3, 18), ymd(2031, 3, 17));
    msgw_batch_destroy(&b);
}

/* A roster row and the XML issue event of the same certificate are the same canonical record. */
static void csv_row_equals_xml_issue_event(void **state)
{
    msgw_batch *x = decode_file(MT_XML, "tests/data/cdpf/certificate-events.xml");
    msgw_batch *c = decode_file(MT_CSV, "tests/data/cdpf/roster-202610.csv");
    msgw_record ev = *x->items[0].record;
    ev.source_message_id = NULL;
    assert_true(msgw_record_equal(&ev, c->items[0].record));
    msgw_batch_destroy(&x);
    msgw_batch_destroy(&c);
}

static void check_gb_roster(msgw_batch *b)
{
    assert_no_errors(b);
    assert_int_equal(msgw_batch_count_ok(b), 3);
    assert_cert(b->items[0].record, "131003201205090311", "13100320120509031152", "5", "2", "issue",
                ymd(2026, 10, 9), ymd(2031, 10, 8));
    assert_string_equal(b->items[0].record->persons[0].name, "陈小明");
    assert_string_equal(b->items[1].record->persons[0].name, "阿依古丽·买买提");
    assert_string_equal(b->items[1].record->persons[0].hukou_region, "131003");
    assert_null(b->items[1].record->persons[0].hukou_type); /* no such column */
    assert_int_equal(b->items[2].record->persons[0].birth_date, ymd(1977, 9, 9));
}

static void csv_roster_gb18030_detected(void **state)
{
    size_t len;
    char *buf = tu_read_file("tests/data/cdpf/roster-202610-gb18030.csv", &len);
    assert_true(msgw_utf8_valid_prefix(buf, len) < len);
    free(buf);
    msgw_batch *b = decode_file(MT_CSV, "tests/data/cdpf/roster-202610-gb18030.csv");
    check_gb_roster(b);
    msgw_batch_destroy(&b);
}

static void csv_roster_gb18030_declared(void **state)
{
    msgw_batch *b =
        decode_file("text/csv; charset=GB18030", "tests/data/cdpf/roster-202610-gb18030.csv");
    check_gb_roster(b);
    msgw_batch_destroy(&b);
    b = decode_file("application/vnd.msgw.cdpf.roster+csv;charset=\"gbk\"",
                    "tests/data/cdpf/roster-202610-gb18030.csv");
    check_gb_roster(b);
    msgw_batch_destroy(&b);
}

static void csv_gb18030_bytes_declared_utf8_are_errors(void **state)
{
    msgw_batch *b =
        decode_file("text/csv;charset=utf-8", "tests/data/cdpf/roster-202610-gb18030.csv");
    /* the header's names are GB18030: a document error, located */
    assert_true(tu_has_error(b, "text.utf8", "line 1, column 1"));
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
}

static void csv_neither_utf8_nor_gb18030(void **state)
{
    /* not UTF-8, so read as GB18030, where a lone 0x80 is invalid too */
    size_t len;
    char *gb = tu_read_file("tests/data/cdpf/roster-202610-gb18030.csv", &len);
    const char row[] = "131003201205090311,\x80,13100320120509031152,5,2,1,2012-05-09,131003,"
                       "2026-10-09,2031-10-08\n";
    gb = realloc(gb, len + sizeof row);
    memcpy(gb + len, row, sizeof row);
    msgw_batch *b = decode_with(ctx(), MT_CSV, gb, len + sizeof row - 1);
    free(gb);
    assert_int_equal(msgw_batch_count_ok(b), 3);
    assert_error(b, "text.encoding", 3, "line 5, column 2", "姓名");
    assert_null(b->items[3].record);
    msgw_batch_destroy(&b);
}

static void csv_invalid_rows_each_located(void **state)
{
    msgw_batch *b = decode_file(MT_CSV, "tests/data/cdpf/roster-invalid.csv");
    assert_int_equal(b->nitems, 8);
    assert_non_null(b->items[0].record);
    for (int i = 1; i < 7; i++)
        assert_null(b->items[i].record);
    assert_non_null(b->items[7].record);

    /* the same bad ID number makes both the ID column and the certificate number fail */
    const msgw_error *e = NULL;
    for (size_t i = 0; i < b->errors.n; i++)
        if (strcmp(b->errors.v[i].rule, "gb11643.check_character") == 0) e = &b->errors.v[i];
    assert_non_null(e);
    assert_int_equal(e->record, 1);
    assert_string_equal(e->location, "line 3, column 5");
    assert_string_equal(e->field, "身份证号");
    assert_true(tu_has_error(b, "certificate.format", "line 3, column 1"));

    assert_error(b, "csv.field_count", 2, "line 4, column 9", NULL);
    assert_string_equal(only_error(b, "csv.field_count")->message,
                        "the row has 8 fields, the header has 11");
    assert_error(b, "date.calendar", 3, "line 5, column 4", "出生日期");
    assert_error(b, "csv.required", 4, "line 6, column 2", "姓名");
    assert_error(b, "certificate.agrees", 5, "line 7", "disability_category");
    assert_error(b, "code.member", 6, "line 8, column 6", "残疾类别");
    msgw_batch_destroy(&b);
}

/* A roster cut off in the middle of a row: the rows before it stand, the cut row is rejected. */
static void csv_truncated_roster(void **state)
{
    size_t len;
    char *buf = tu_read_file("tests/data/cdpf/roster-202610.csv", &len);
    const char *cut = strstr(buf, "\r\n12010119751102046X42,李秀英,2,");
    assert_non_null(cut);
    msgw_batch *b = decode_with(ctx(), MT_CSV, buf, (size_t)(cut - buf) + 40);
    free(buf);
    assert_int_equal(b->nitems, 2);
    assert_non_null(b->items[0].record);
    assert_error(b, "csv.field_count", 1, "line 3, column 5", NULL); /* the first missing field */
    msgw_batch_destroy(&b);
}

static void csv_unterminated_quote_rejects_document(void **state)
{
    msgw_batch *b = decode_file(MT_CSV, "tests/data/cdpf/roster-unterminated.csv");
    assert_error(b, "csv.unterminated_quote", -1, "line 3, column 2", NULL);
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
}

static void csv_missing_column_rejects_document(void **state)
{
    msgw_batch *b = decode_file(MT_CSV, "tests/data/cdpf/roster-missing-column.csv");
    assert_error(b, "csv.missing_column", -1, "line 1", "身份证号");
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
}

#define HDR "残疾人证号,姓名,身份证号,残疾类别,残疾等级,发证日期,有效期至"
#define ROW_WANG "12010119680312123312,王建国,120101196803121233,1,2,2026-10-15,2036-10-14"

static void csv_reader_rfc4180(void **state)
{
    /* quoted fields, doubled quotes, CR-only and LF endings, blank lines, no final newline */
    msgw_batch *b =
        decode_str(MT_CSV, HDR ",备注\r\n"
                               "\"12010119680312123312\",\"王建国\",120101196803121233,1,2,"
                               "2026-10-15,2036-10-14,\"a \"\"b\"\"\nc\r\nd\"\r\n"
                               "\r\n\n" ROW_WANG ",x\r" ROW_WANG ",\"\"");
    assert_int_equal(b->errors.nerrors, 0);
    assert_int_equal(b->nitems, 3);
    assert_string_equal(b->items[0].loc, "line 2");
    assert_string_equal(b->items[0].record->persons[0].name, "王建国");
    assert_string_equal(b->items[1].loc, "line 7");
    assert_string_equal(b->items[2].loc, "line 8");
    msgw_batch_destroy(&b);
}

static void csv_quote_errors_reject_the_row(void **state)
{
    msgw_batch *b = decode_str(
        MT_CSV, HDR
        "\n"
        "12010119680312123312,王\"建国,120101196803121233,1,2,2026-10-15,2036-10-14\n"
        "12010119680312123312,\"王建国\"x,120101196803121233,1,2,2026-10-15,2036-10-14\n" ROW_WANG
        "\n");
    assert_int_equal(b->nitems, 3);
    assert_int_equal(msgw_errors_count_for(&b->errors, 0), 1);
    assert_int_equal(msgw_errors_count_for(&b->errors, 1), 1);
    assert_true(tu_has_error(b, "csv.quote", "line 2, column 2"));
    assert_true(tu_has_error(b, "csv.quote", "line 3, column 2"));
    for (size_t i = 0; i < b->errors.n; i++)
        assert_string_equal(b->errors.v[i].field, "姓名");
    assert_null(b->items[0].record);
    assert_null(b->items[1].record);
    assert_non_null(b->items[2].record);
    msgw_batch_destroy(&b);
}

static void csv_header_any_order_and_trimmed(void **state)
{
    msgw_batch *b = decode_str(
        MT_CSV, " 有效期至 ,发证日期,残疾等级,残疾类别,身份证号,姓名,残疾人证号\n"
                "2036-10-14, 2026-10-15 ,2,1,120101196803121233,王建国,12010119680312123312\n");
    assert_no_errors(b);
    assert_cert(b->items[0].record, "120101196803121233", "12010119680312123312", "1", "2", "issue",
                ymd(2026, 10, 15), ymd(2036, 10, 14));
    assert_null(b->items[0].record->persons[0].sex);
    msgw_batch_destroy(&b);
}

static void csv_header_problems(void **state)
{
    msgw_batch *b = decode_str(MT_CSV, HDR ",姓名\n" ROW_WANG ",王建国\n");
    assert_error(b, "csv.duplicate_column", -1, "line 1, column 8", "姓名");
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);

    b = decode_str(MT_CSV, "");
    assert_error(b, "csv.empty", -1, NULL, NULL);
    msgw_batch_destroy(&b);

    b = decode_str(MT_CSV, "\r\n\r\n");
    only_error(b, "csv.empty");
    msgw_batch_destroy(&b);

    b = decode_str(MT_CSV, HDR "\r\n");
    assert_int_equal(b->errors.nerrors, 0);
    assert_int_equal(only_error(b, "csv.no_rows")->severity, MSGW_SEV_WARNING);
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
}

static void csv_charset_problems(void **state)
{
    msgw_batch *b = decode_str("text/csv; charset=latin1", HDR "\n" ROW_WANG "\n");
    assert_error(b, "text.charset", -1, NULL, NULL);
    msgw_batch_destroy(&b);

    b = decode_str("text/csv;charset=GB18030", "\xEF\xBB\xBF" HDR "\n" ROW_WANG "\n");
    assert_error(b, "text.bom", -1, "line 1", NULL);
    msgw_batch_destroy(&b);

    const char nul[] =
        HDR "\n12010119680312123312,王\0国,120101196803121233,1,2,2026-10-15,2036-10-14\n";
    b = decode_with(ctx(), MT_CSV, nul, sizeof nul - 1);
    assert_error(b, "text.nul", 0, "line 2, column 2", "姓名");
    msgw_batch_destroy(&b);
}

/* The C column table follows schemas/messages/cdpf-roster.json: names, order, mandatory ones. */
static void csv_columns_follow_the_spec(void **state)
{
    char path[4096];
    json_error_t je;
    json_t *spec =
        json_load_file(tu_path("schemas/messages/cdpf-roster.json", path, sizeof path), 0, &je);
    assert_non_null(spec);
    assert_string_equal(json_string_value(json_object_get(spec, "id")), "cdpf-roster");
    assert_string_equal(json_string_value(json_object_get(spec, "format")), "csv");
    json_t *cols = json_object_get(json_object_get(spec, "root"), "children");

    /* the header the encoder writes is the spec's columns in order */
    msgw_batch *b = decode_file(MT_CSV, "tests/data/cdpf/roster-202610.csv");
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    const msgw_record *r = b->items[0].record;
    assert_true(cdpf()->encode(ctx(), MT_CSV, &r, 1, &out, &e));
    msgw_buf want;
    msgw_buf_init(&want);
    for (size_t i = 0; i < json_array_size(cols); i++) {
        if (i) msgw_buf_puts(&want, ",");
        msgw_buf_puts(&want, json_string_value(json_object_get(json_array_get(cols, i), "name")));
    }
    msgw_buf_puts(&want, "\r\n");
    assert_int_equal(strncmp(out.data, want.data, want.len), 0);

    /* every column without "min": 0 is mandatory: leaving it out rejects the roster */
    for (size_t i = 0; i < json_array_size(cols); i++) {
        json_t *c = json_array_get(cols, i);
        json_t *min = json_object_get(c, "min");
        const char *name = json_string_value(json_object_get(c, "name"));
        msgw_buf doc;
        msgw_buf_init(&doc);
        for (size_t j = 0; j < json_array_size(cols); j++) {
            if (j == i) continue;
            if (doc.len) msgw_buf_puts(&doc, ",");
            msgw_buf_puts(&doc,
                          json_string_value(json_object_get(json_array_get(cols, j), "name")));
        }
        msgw_buf_puts(&doc, "\n");
        msgw_batch *hb = decode_str(MT_CSV, doc.data);
        bool missing = tu_has_error(hb, "csv.missing_column", "line 1");
        assert_int_equal(missing, !(min && json_integer_value(min) == 0));
        if (missing) assert_string_equal(only_error(hb, "csv.missing_column")->field, name);
        msgw_batch_destroy(&hb);
        msgw_buf_free(&doc);
    }
    msgw_buf_free(&want);
    msgw_buf_free(&out);
    msgw_errors_clear(&e);
    msgw_batch_destroy(&b);
    json_decref(spec);
}

/* ---- encode and round trips ---- */

/* decode -> encode (mt_out) -> decode: every record equal. Returns the encoded bytes. */
static char *round_trip(const char *mt_in, const char *file, const char *mt_out, size_t *len_out)
{
    msgw_batch *a = decode_file(mt_in, file);
    assert_no_errors(a);
    const msgw_record *recs[16];
    size_t n = 0;
    for (size_t i = 0; i < a->nitems; i++)
        recs[n++] = a->items[i].record;
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_true(cdpf()->encode(ctx(), mt_out, recs, n, &out, &e));
    assert_int_equal(e.n, 0);
    msgw_batch *b = decode_with(ctx(), mt_out, out.data, out.len);
    assert_no_errors(b);
    assert_int_equal(b->nitems, n);
    for (size_t i = 0; i < n; i++)
        assert_true(msgw_record_equal(recs[i], b->items[i].record));
    msgw_batch_destroy(&a);
    msgw_batch_destroy(&b);
    msgw_errors_clear(&e);
    *len_out = out.len;
    return out.data;
}

static void xml_round_trip(void **state)
{
    size_t len;
    char *doc = round_trip(MT_XML, "tests/data/cdpf/certificate-events.xml", MT_XML, &len);
    assert_non_null(strstr(doc, "<EventCount>4</EventCount>"));
    assert_non_null(strstr(doc, "<IssueDate>2019-05-06</IssueDate>"));
    free(doc);
    doc = round_trip(MT_XML, "tests/data/cdpf/certificate-events-gb18030.xml", MT_XML, &len);
    free(doc);
}

static void xml_round_trip_gb18030_output(void **state)
{
    size_t len;
    char *doc = round_trip(MT_XML, "tests/data/cdpf/certificate-events.xml",
                           MT_XML "; charset=GB18030", &len);
    assert_non_null(strstr(doc, "encoding=\"GB18030\""));
    assert_non_null(memmem(doc, len, "\xcd\xf5\xbd\xa8\xb9\xfa", 6)); /* 王建国 in GB18030 */
    assert_true(msgw_utf8_valid_prefix(doc, len) < len);
    free(doc);
}

static void csv_round_trip(void **state)
{
    size_t len;
    char *doc = round_trip(MT_CSV, "tests/data/cdpf/roster-202610.csv", MT_CSV, &len);
    assert_non_null(strstr(doc,
                           "\r\n12010119680312123312,王建国,1,1968-03-12,120101196803121233,1,2,"
                           "120101,1,2026-10-15,2036-10-14\r\n"));
    free(doc);
    doc = round_trip(MT_CSV, "tests/data/cdpf/roster-202610-gb18030.csv", MT_CSV, &len);
    free(doc);
}

static void csv_round_trip_gb18030_output(void **state)
{
    size_t len;
    char *doc =
        round_trip(MT_CSV, "tests/data/cdpf/roster-202610.csv", "text/csv;charset=GB18030", &len);
    assert_true(msgw_utf8_valid_prefix(doc, len) < len);
    assert_non_null(memmem(doc, len, "\xcd\xf5\xbd\xa8\xb9\xfa", 6));
    /* 阿依古丽·买买提 from the GB roster goes out as the same GB18030 bytes it came in as */
    free(doc);
    doc = round_trip(MT_CSV, "tests/data/cdpf/roster-202610-gb18030.csv",
                     "text/csv;charset=GB18030", &len);
    assert_non_null(
        memmem(doc, len, "\xb0\xa2\xd2\xc0\xb9\xc5\xc0\xf6\xa1\xa4\xc2\xf2\xc2\xf2\xcc\xe1", 16));
    free(doc);
}

/* A roster row carries only a valid certificate: regrade and revoke events have no row form. */
static void csv_encode_refuses_non_issue_events(void **state)
{
    msgw_batch *a = decode_file(MT_XML, "tests/data/cdpf/certificate-events.xml");
    const msgw_record *recs[4];
    for (int i = 0; i < 4; i++)
        recs[i] = a->items[i].record;
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_false(cdpf()->encode(ctx(), MT_CSV, recs, 4, &out, &e));
    assert_int_equal(e.nerrors, 2);
    assert_string_equal(e.v[0].rule, "encode.roster_event");
    assert_int_equal(e.v[0].record, 1);
    assert_int_equal(e.v[1].record, 2);
    assert_null(out.data);
    msgw_errors_clear(&e);
    msgw_batch_destroy(&a);
}

static void encode_refuses_other_kinds(void **state)
{
    msgw_record r;
    memset(&r, 0, sizeof r);
    r.kind = "death";
    const msgw_record *recs[1] = {&r};
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_false(cdpf()->encode(ctx(), MT_XML, recs, 1, &out, &e));
    assert_string_equal(e.v[0].rule, "encode.kind");
    assert_non_null(strstr(e.v[0].message, "death"));
    msgw_errors_clear(&e);
    assert_false(cdpf()->encode(ctx(), MT_CSV, recs, 1, &out, &e));
    assert_string_equal(e.v[0].rule, "encode.kind");
    msgw_errors_clear(&e);
    assert_false(cdpf()->encode(ctx(), MT_XML, recs, 0, &out, &e));
    assert_string_equal(e.v[0].rule, "encode.empty");
    msgw_errors_clear(&e);
    assert_false(cdpf()->encode(ctx(), "application/json", recs, 1, &out, &e));
    assert_string_equal(e.v[0].rule, "adapter.media_type");
    msgw_errors_clear(&e);
    msgw_buf_free(&out);
}

/* A roster-decoded record has no sender id; the XML event then carries its content digest. */
static void csv_to_xml_uses_the_message_id(void **state)
{
    msgw_batch *a = decode_file(MT_CSV, "tests/data/cdpf/roster-202610.csv");
    const msgw_record *r = a->items[0].record;
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_true(cdpf()->encode(ctx(), MT_XML, &r, 1, &out, &e));
    msgw_batch *b = decode_str(MT_XML, out.data);
    assert_no_errors(b);
    assert_string_equal(b->items[0].record->source_message_id, r->message_id);
    msgw_record copy = *b->items[0].record;
    copy.source_message_id = NULL;
    assert_true(msgw_record_equal(&copy, r));
    msgw_batch_destroy(&b);
    msgw_batch_destroy(&a);
    msgw_buf_free(&out);
    msgw_errors_clear(&e);
}

/* ---- the adapter's face ---- */

static void adapter_names_and_media_types(void **state)
{
    assert_ptr_equal(msgw_adapter_find("disability"), cdpf());
    assert_ptr_equal(msgw_adapter_find("CanLian"), cdpf());
    assert_ptr_equal(msgw_adapter_for_media_type(MT_XML), cdpf());
    assert_ptr_equal(msgw_adapter_for_media_type("text/csv;charset=GB18030"), cdpf());
    assert_ptr_equal(msgw_adapter_for_media_type("application/vnd.msgw.cdpf.roster+csv"), cdpf());

    msgw_batch *b = decode_str("application/pdf", "%PDF");
    assert_error(b, "adapter.media_type", -1, NULL, NULL);
    msgw_batch_destroy(&b);

    /* no media type: the content decides */
    size_t len;
    char *buf = tu_read_file("tests/data/cdpf/certificate-events.xml", &len);
    b = decode_with(ctx(), NULL, buf, len);
    assert_int_equal(msgw_batch_count_ok(b), 4);
    msgw_batch_destroy(&b);
    free(buf);
    buf = tu_read_file("tests/data/cdpf/roster-202610.csv", &len);
    b = decode_with(ctx(), NULL, buf, len);
    assert_int_equal(msgw_batch_count_ok(b), 4);
    msgw_batch_destroy(&b);
    free(buf);
}

static int teardown(void **state)
{
    tu_ctx_free();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(xml_sample_decodes_exactly),
        cmocka_unit_test(xml_gb18030_document_decodes),
        cmocka_unit_test(xml_bad_events_are_rejected_one_by_one),
        cmocka_unit_test(xml_issue_date_on_issue_is_warned),
        cmocka_unit_test(xml_revoke_without_issue_date),
        cmocka_unit_test(xml_event_count_mismatch_warns),
        cmocka_unit_test(xml_schema_errors_map_to_their_event),
        cmocka_unit_test(xml_schema_document_error),
        cmocka_unit_test(xml_wrong_root_or_namespace),
        cmocka_unit_test(xml_hostile_documents_are_refused),
        cmocka_unit_test(xml_too_deep_is_refused),
        cmocka_unit_test(oversize_documents_are_refused_before_parsing),
        cmocka_unit_test(too_many_records_are_refused),
        cmocka_unit_test(csv_roster_utf8_bom_decodes_exactly),
        cmocka_unit_test(csv_row_equals_xml_issue_event),
        cmocka_unit_test(csv_roster_gb18030_detected),
        cmocka_unit_test(csv_roster_gb18030_declared),
        cmocka_unit_test(csv_gb18030_bytes_declared_utf8_are_errors),
        cmocka_unit_test(csv_neither_utf8_nor_gb18030),
        cmocka_unit_test(csv_invalid_rows_each_located),
        cmocka_unit_test(csv_truncated_roster),
        cmocka_unit_test(csv_unterminated_quote_rejects_document),
        cmocka_unit_test(csv_missing_column_rejects_document),
        cmocka_unit_test(csv_reader_rfc4180),
        cmocka_unit_test(csv_quote_errors_reject_the_row),
        cmocka_unit_test(csv_header_any_order_and_trimmed),
        cmocka_unit_test(csv_header_problems),
        cmocka_unit_test(csv_charset_problems),
        cmocka_unit_test(csv_columns_follow_the_spec),
        cmocka_unit_test(xml_round_trip),
        cmocka_unit_test(xml_round_trip_gb18030_output),
        cmocka_unit_test(csv_round_trip),
        cmocka_unit_test(csv_round_trip_gb18030_output),
        cmocka_unit_test(csv_encode_refuses_non_issue_events),
        cmocka_unit_test(encode_refuses_other_kinds),
        cmocka_unit_test(csv_to_xml_uses_the_message_id),
        cmocka_unit_test(adapter_names_and_media_types),
    };
    return cmocka_run_group_tests_name("cdpf", tests, NULL, teardown);
}
