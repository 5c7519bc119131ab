/*
 * Tests of the civil affairs (mca) roster adapter: exact canonical values of
 * the sample rosters (UTF-8 and GB18030), each error category with its rule
 * and location, limits, hostile documents, and decode -> encode -> decode
 * round trips in both encodings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "msgw/base/embedded.h"
#include "msgw/decode/decode.h"
#include "msgw/base/date.h"
#include "msgw/validate/schemas.h"
#include "testutil.h"

extern const msgw_adapter msgw_adapter_mca;

#define MT "application/vnd.msgw.mca.roster+xml"
#define DATA "tests/data/mca/"
#define GB_ZHAO "\xD5\xD4\xCA\xE7\xD5\xE4"  /* 赵淑珍 in GB18030 */
#define GB_ZHANG "\xD5\xC5\xBD\xA8\xB9\xFA" /* 张建国 in GB18030 */

/* ---- helpers ----------------------------------------------------------- */

/*
 * True once tools/gen_schemas.py has generated the roster XSD; the build's
 * placeholder (an empty xs:schema) would refuse every document, so until
 * then the tests run the adapter without schema validation.
 */
static bool have_schema(void)
{
    const msgw_embedded_file *f = msgw_embedded_find("generated/mca-roster.xsd");
    return f && memmem(f->data, f->len, "AssistanceRoster", 16) &&
           msgw_schemas_xsd(tu_ctx()->schemas, "mca-roster.xsd");
}

/* The shared test context, without the schemas while only a placeholder exists. */
static msgw_adapter_ctx test_ctx(void)
{
    msgw_adapter_ctx c = *tu_ctx();
    if (!have_schema()) c.schemas = NULL;
    return c;
}

/* The full decode stage (adapter + dictionary record rules + message ids). */
static msgw_batch *full_decode(const char *mt, const char *buf, size_t len)
{
    msgw_adapter_ctx c = test_ctx();
    msgw_batch *b = msgw_batch_new();
    msgw_decode(&c, &msgw_adapter_mca, mt, buf, len, b);
    return b;
}

/* The adapter alone, without the pipeline's record rules. */
static msgw_batch *adapter_decode(const msgw_adapter_ctx *ctx, const char *mt, const char *buf,
                                  size_t len)
{
    msgw_batch *b = msgw_batch_new();
    msgw_adapter_mca.decode(ctx, mt, buf, len, b);
    return b;
}

static msgw_batch *decode_file(const char *name, const char *mt)
{
    char rel[256];
    snprintf(rel, sizeof rel, DATA "%s", name);
    size_t len;
    char *buf = tu_read_file(rel, &len);
    msgw_batch *b = full_decode(mt, buf, len);
    free(buf);
    return b;
}

static msgw_date ymd(int y, int m, int d)
{
    return msgw_date_from_ymd(y, m, d);
}

static const msgw_fact *fact_of(const msgw_record *r, const char *type, const char *subject)
{
    for (size_t i = 0; i < r->nfacts; i++)
        if (strcmp(r->facts[i].type, type) == 0 && strcmp(r->facts[i].subject, subject) == 0)
            return &r->facts[i];
    return NULL;
}

static const char *code_attr(const msgw_fact *f, const char *name)
{
    assert_non_null(f);
    const msgw_attr *a = msgw_fact_attr(f, name);
    if (!a) return NULL;
    assert_int_equal(a->v.kind, MSGW_V_CODE);
    return a->v.u.s;
}

static int64_t money_attr(const msgw_fact *f, const char *name)
{
    assert_non_null(f);
    const msgw_attr *a = msgw_fact_attr(f, name);
    assert_non_null(a);
    assert_int_equal(a->v.kind, MSGW_V_MONEY);
    return a->v.u.i;
}

/* Asserts an error with exactly this rule, record and location prefix exists. */
static void assert_error(const msgw_batch *b, int record, const char *rule, const char *loc)
{
    for (size_t i = 0; i < b->errors.n; i++) {
        const msgw_error *e = &b->errors.v[i];
        if (e->severity == MSGW_SEV_ERROR && e->record == record && strcmp(e->rule, rule) == 0 &&
            (!loc || (e->location && strncmp(e->location, loc, strlen(loc)) == 0)))
            return;
    }
    fprintf(stderr, "expected error %s on record %d at %s; have:\n", rule, record,
            loc ? loc : "(any)");
    tu_dump_errors(b);
    fail();
}

static void assert_all_ok(const msgw_batch *b, size_t n)
{
    if (b->errors.nerrors) tu_dump_errors(b);
    assert_int_equal(b->errors.nerrors, 0);
    assert_int_equal(b->nitems, n);
    assert_int_equal(msgw_batch_count_ok(b), n);
}

/* ---- decoding the samples ---------------------------------------------- */

static void test_valid_roster_household_1(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("roster-valid.xml", MT);
    assert_all_ok(b, 3);
    const msgw_record *r = b->items[0].record;
    assert_string_equal(r->kind, "household_assistance_roster");
    assert_string_equal(r->source_message_id, "120101-202611-000017");
    assert_string_equal(r->message_id, "mca:120101-202611-000017");
    assert_string_equal(r->loc, "/AssistanceRoster/Household[1] (line 10)");
    const msgw_household *h = r->household;
    assert_non_null(h);
    assert_string_equal(h->id, "120101002003000123");
    assert_string_equal(h->region, "120101");
    assert_string_equal(h->hukou_type, "1");
    assert_int_equal(h->nmembers, 3);
    assert_string_equal(h->members[0].id_number, "120101195803120316");
    assert_string_equal(h->members[0].relationship, "02");
    assert_string_equal(h->members[1].relationship, "12");
    assert_string_equal(h->members[2].relationship, "20");

    assert_int_equal(r->npersons, 3);
    const msgw_person *p = &r->persons[1];
    assert_string_equal(p->id_number, "12010119600705042X");
    assert_string_equal(p->name, "李秀英");
    assert_string_equal(p->sex, "2");
    assert_int_equal(p->birth_date, ymd(1960, 7, 5));
    assert_string_equal(p->ethnic, "03");
    assert_string_equal(p->marital, "20");
    assert_string_equal(p->hukou_region, "120101");
    assert_string_equal(p->hukou_type, "1");
    assert_null(p->residence_region);

    /* assistance + income + employment for each of the three members */
    assert_int_equal(r->nfacts, 9);
    const msgw_fact *head = fact_of(r, "assistance", "120101195803120316");
    assert_string_equal(code_attr(head, "assistance_category"), "10");
    assert_int_equal(money_attr(head, "benefit_monthly_fen"), 324000);
    assert_int_equal(head->valid_from, ymd(2023, 1, 1));
    assert_int_equal(head->valid_to, MSGW_DATE_NONE);
    const msgw_fact *wife = fact_of(r, "assistance", "12010119600705042X");
    assert_string_equal(code_attr(wife, "assistance_category"), "10");
    assert_null(msgw_fact_attr(wife, "benefit_monthly_fen"));
    const msgw_fact *inc = fact_of(r, "income", "12010119600705042X");
    assert_int_equal(money_attr(inc, "income_monthly_fen"), 125000);
    assert_string_equal(code_attr(inc, "income_source"), "4");
    assert_int_equal(inc->valid_from, ymd(2023, 1, 1));
    const msgw_fact *job = fact_of(r, "employment", "12010119880921013X");
    assert_string_equal(code_attr(job, "employment_status"), "12");
    assert_int_equal(fact_of(r, "income", "12010119880921013X")->valid_to, MSGW_DATE_NONE);
    msgw_batch_destroy(&b);
}

static void test_valid_roster_households_2_3(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("roster-valid.xml", MT);
    assert_all_ok(b, 3);
    const msgw_record *r = b->items[1].record;
    assert_int_equal(r->nfacts, 3);
    const msgw_fact *care = fact_of(r, "care_assessment", "120116194502080269");
    assert_string_equal(code_attr(care, "care_level"), "3");
    assert_string_equal(code_attr(care, "ability_level"), "3");
    assert_int_equal(msgw_fact_attr(care, "assessment_date")->v.u.d, ymd(2025, 3, 15));
    assert_int_equal(care->valid_from, ymd(2025, 3, 15));
    assert_null(fact_of(r, "employment", "120116194502080269"));
    assert_string_equal(code_attr(fact_of(r, "assistance", "120116194502080269"),
                                  "assistance_category"), "22");
    assert_int_equal(r->persons[0].birth_date, ymd(1945, 2, 8));

    r = b->items[2].record;
    assert_int_equal(r->household->nmembers, 4);
    assert_int_equal(r->nfacts, 11);
    const msgw_fact *a = fact_of(r, "assistance", "131002197001110514");
    assert_string_equal(code_attr(a, "assistance_category"), "30");
    assert_null(msgw_fact_attr(a, "benefit_monthly_fen"));
    assert_int_equal(a->valid_from, ymd(2025, 1, 1));
    assert_int_equal(a->valid_to, ymd(2026, 12, 31));
    const msgw_fact *orphan = fact_of(r, "orphan", "131002201002280813");
    assert_string_equal(code_attr(orphan, "orphan_status"), "1");
    assert_string_equal(code_attr(orphan, "care_placement"), "2");
    assert_int_equal(orphan->valid_from, MSGW_DATE_NONE);
    assert_string_equal(r->household->members[3].relationship, "93");
    assert_string_equal(r->persons[3].loc, "/AssistanceRoster/Household[3]/Member[4] (line 120)");
    msgw_batch_destroy(&b);
}

static void check_gb18030_record(const msgw_batch *b)
{
    assert_all_ok(b, 1);
    const msgw_record *r = b->items[0].record;
    assert_string_equal(r->source_message_id, "NK-2026-0001");
    assert_string_equal(r->persons[0].name, "赵淑珍");
    assert_string_equal(r->persons[1].name, "李\xF0\xA0\xAE\xB7"); /* U+20BB7, four bytes in GB18030 */
    const msgw_fact *care = fact_of(r, "care_assessment", "120104193908160189");
    assert_string_equal(code_attr(care, "care_level"), "2");
    assert_null(msgw_fact_attr(care, "ability_level"));
    const msgw_fact *a = fact_of(r, "assistance", "120104193908160189");
    assert_string_equal(code_attr(a, "assistance_category"), "40");
    assert_int_equal(a->valid_to, ymd(2027, 5, 31));
}

static void test_gb18030_declared(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("roster-gb18030.xml", "application/xml");
    check_gb18030_record(b);
    msgw_batch_destroy(&b);
}

/* A GB18030 document without an XML declaration, its charset given by the media type only. */
static void test_gb18030_from_media_type(void **state)
{
    (void)state;
    size_t len;
    char *buf = tu_read_file(DATA "roster-gb18030.xml", &len);
    char *body = strstr(buf, "?>") + 2;
    msgw_batch *b = full_decode("application/xml; charset=GB18030", body,
                              len - (size_t)(body - buf));
    check_gb18030_record(b);
    msgw_batch_destroy(&b);
    free(buf);
}

/* ---- encodings --------------------------------------------------------- */

static void test_invalid_utf8_bytes(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("invalid-utf8-bytes.xml", MT);
    assert_int_equal(b->nitems, 0);
    assert_error(b, -1, "mca.encoding.invalid", "byte 1150 (line 43, column 11)");
    assert_non_null(strstr(b->errors.v[0].message, "invalid UTF-8 byte sequence at byte offset 1150: 0xC3 0x28"));
    msgw_batch_destroy(&b);
}

static void test_invalid_gb18030_bytes(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("invalid-gb18030-bytes.xml", MT);
    assert_int_equal(b->nitems, 0);
    assert_error(b, -1, "mca.encoding.invalid", "byte 550 (line 20, column 11)");
    assert_non_null(strstr(b->errors.v[0].message, "invalid GB18030 byte sequence at byte offset 550"));
    msgw_batch_destroy(&b);
}

static void test_charset_conflict_and_unsupported(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("roster-valid.xml", "application/xml;charset=GB18030");
    assert_int_equal(b->nitems, 0);
    assert_error(b, -1, "mca.encoding.conflict", "line 1");
    msgw_batch_destroy(&b);

    const char *latin = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><AssistanceRoster/>";
    b = full_decode(MT, latin, strlen(latin));
    assert_error(b, -1, "mca.encoding.unsupported", "line 1");
    msgw_batch_destroy(&b);

    const char *plain = "<AssistanceRoster/>";
    b = full_decode("application/xml; charset=\"ISO-8859-1\"", plain, strlen(plain));
    assert_error(b, -1, "mca.encoding.unsupported", NULL);
    msgw_batch_destroy(&b);
}

/* ---- record-level errors ----------------------------------------------- */

static void test_bad_records_do_not_stop_the_batch(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("invalid-records.xml", MT);
    assert_int_equal(b->nitems, 3);
    assert_non_null(b->items[0].record);
    assert_null(b->items[1].record);
    assert_null(b->items[2].record);
    assert_int_equal(msgw_errors_count_for(&b->errors, 0), 0);
    assert_error(b, 1, "gb11643.check_character", "/AssistanceRoster/Household[2]/Member/SFZH (line 63)");
    for (size_t i = 0; i < b->errors.n; i++)
        if (strcmp(b->errors.v[i].rule, "gb11643.check_character") == 0) {
            assert_string_equal(b->errors.v[i].field, "SFZH");
            assert_non_null(strstr(b->errors.v[i].message, "9"));
        }
    assert_error(b, 2, have_schema() ? "xsd.enumeration" : "code.member",
                 "/AssistanceRoster/Household[3]/JZLB (line 83)");
    msgw_batch_destroy(&b);
}

static void test_head_of_household(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("invalid-two-heads.xml", MT);
    assert_int_equal(b->nitems, 3);
    assert_null(b->items[0].record);
    assert_non_null(b->items[1].record);
    assert_error(b, 0, "mca.household.head", "/AssistanceRoster/Household[1] (line 10)");
    msgw_batch_destroy(&b);

    b = decode_file("invalid-no-head.xml", MT);
    assert_null(b->items[1].record);
    assert_non_null(b->items[0].record);
    assert_error(b, 1, "mca.household.head", "/AssistanceRoster/Household[2] (line 54)");
    msgw_batch_destroy(&b);
}

static void test_duplicate_record_id(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("invalid-duplicate-record-id.xml", MT);
    assert_int_equal(b->nitems, 3);
    assert_non_null(b->items[0].record);
    assert_null(b->items[1].record);
    assert_non_null(b->items[2].record);
    assert_error(b, 1, "mca.record_id.duplicate", "/AssistanceRoster/Household[2] (line 54)");
    msgw_batch_destroy(&b);
}

/* The household's period is checked once, at JSRQ, not once per member fact. */
static void test_end_before_start(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("invalid-end-before-start.xml", MT);
    assert_int_equal(b->nitems, 3);
    assert_int_equal(msgw_batch_count_ok(b), 2);
    assert_null(b->items[2].record);
    assert_error(b, 2, "period.order", "/AssistanceRoster/Household[3]/JSRQ (line 85)");
    assert_int_equal(msgw_errors_count_for(&b->errors, 2), 1);
    msgw_batch_destroy(&b);
}

/* A legacy 15-digit number is converted, with a warning that does not reject the record. */
static void test_legacy_id_number(void **state)
{
    (void)state;
    size_t len;
    char *buf = tu_read_file(DATA "agree/good/minimal.xml", &len);
    char *p = strstr(buf, "<SFZH>131002197001110514</SFZH>");
    memcpy(p, "<SFZH>131002700111051</SFZH>   ", 31);
    msgw_batch *b = full_decode(MT, buf, len);
    assert_int_equal(b->errors.nerrors, 0);
    assert_int_equal(b->errors.nwarnings, 1);
    assert_string_equal(b->errors.v[0].rule, "gb11643.legacy_converted");
    assert_string_equal(b->errors.v[0].location, "/AssistanceRoster/Household/Member/SFZH (line 18)");
    assert_non_null(b->items[0].record);
    assert_string_equal(b->items[0].record->persons[0].id_number, "131002197001110514");
    assert_string_equal(b->items[0].record->household->members[0].id_number, "131002197001110514");
    msgw_batch_destroy(&b);
    free(buf);
}

static void test_missing_leaf_without_schema(void **state)
{
    (void)state;
    msgw_adapter_ctx ctx = test_ctx();
    ctx.schemas = NULL;
    size_t len;
    char *buf = tu_read_file(DATA "agree/bad/bad-missing-name.xml", &len);
    msgw_batch *b = adapter_decode(&ctx, MT, buf, len);
    assert_int_equal(b->nitems, 1);
    assert_null(b->items[0].record);
    assert_error(b, 0, "mca.required", "/AssistanceRoster/Household/Member (line 17)");
    assert_string_equal(b->errors.v[0].field, "XM");
    msgw_batch_destroy(&b);
    free(buf);
}

static void test_schema_error_with_schema(void **state)
{
    (void)state;
    if (!have_schema()) skip();
    msgw_batch *b = decode_file("agree/bad/bad-name-too-long.xml", MT);
    assert_int_equal(b->nitems, 1);
    assert_null(b->items[0].record);
    assert_error(b, 0, "xsd.length", "/AssistanceRoster/Household/Member/XM (line 19)");
    msgw_batch_destroy(&b);
}

/* ---- document-level errors --------------------------------------------- */

static void test_header_errors_refuse_the_document(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("invalid-header-time.xml", MT);
    assert_int_equal(b->nitems, 0);
    assert_error(b, -1, "mca.header.time", "/AssistanceRoster/Header/SCSJ (line 8)");
    msgw_batch_destroy(&b);

    size_t len;
    char *buf = tu_read_file(DATA "roster-valid.xml", &len);
    char *p = strstr(buf, "<FSDWQH>120000");
    memcpy(p + 8, "999999", 6);
    b = full_decode(MT, buf, len);
    assert_int_equal(b->nitems, 0);
    assert_error(b, -1, "mca.header.region", "/AssistanceRoster/Header/FSDWQH (line 5)");
    msgw_batch_destroy(&b);

    p = strstr(buf, "version=\"1.0\">");
    memcpy(p, "version=\"2.0\">", 14);
    b = full_decode(MT, buf, len);
    assert_int_equal(b->nitems, 0);
    assert_error(b, -1, "mca.version", "/AssistanceRoster (line 3)");
    msgw_batch_destroy(&b);
    free(buf);
}

static void test_wrong_root(void **state)
{
    (void)state;
    const char *doc = "<?xml version=\"1.0\"?>\n<Roster version=\"1.0\"/>\n";
    msgw_adapter_ctx base = test_ctx();
    msgw_batch *b = adapter_decode(&base, MT, doc, strlen(doc));
    assert_int_equal(b->nitems, 0);
    assert_error(b, -1, "mca.root", "/Roster (line 2)");
    msgw_batch_destroy(&b);
}

static void test_truncated(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("invalid-truncated.xml", MT);
    assert_int_equal(b->nitems, 0);
    assert_error(b, -1, "xml.not_well_formed", "line ");
    msgw_batch_destroy(&b);
}

static double seconds_since(struct timespec t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static void test_hostile_documents(void **state)
{
    (void)state;
    const char *files[] = {"xxe.xml", "billion-laughs.xml"};
    for (size_t i = 0; i < 2; i++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        msgw_batch *b = decode_file(files[i], MT);
        assert_true(seconds_since(t0) < 1.0);
        assert_int_equal(b->nitems, 0);
        assert_error(b, -1, "xml.doctype", "line 2");
        msgw_batch_destroy(&b);
    }
}

static void test_limits(void **state)
{
    (void)state;
    size_t len;
    char *buf = tu_read_file(DATA "roster-valid.xml", &len);
    msgw_adapter_ctx ctx = test_ctx();

    ctx.max_document_bytes = len - 1;
    msgw_batch *b = adapter_decode(&ctx, MT, buf, len);
    assert_int_equal(b->nitems, 0);
    assert_error(b, -1, "mca.limits.size", NULL);
    msgw_batch_destroy(&b);

    ctx = test_ctx();
    ctx.max_records = 2;
    b = adapter_decode(&ctx, MT, buf, len);
    assert_int_equal(b->nitems, 0);
    assert_error(b, -1, "mca.limits.records", NULL);
    msgw_batch_destroy(&b);

    ctx = test_ctx();
    ctx.max_depth = 4; /* roster, household, member, care assessment, ZHDJ: 5 */
    b = adapter_decode(&ctx, MT, buf, len);
    assert_int_equal(b->nitems, 0);
    assert_error(b, -1, "xml.depth", NULL);
    msgw_batch_destroy(&b);
    free(buf);

    /* a document nested far beyond any roster is refused, not walked */
    msgw_buf deep;
    msgw_buf_init(&deep);
    msgw_buf_puts(&deep, "<AssistanceRoster version=\"1.0\">");
    for (int i = 0; i < 5000; i++) msgw_buf_puts(&deep, "<a>");
    for (int i = 0; i < 5000; i++) msgw_buf_puts(&deep, "</a>");
    msgw_buf_puts(&deep, "</AssistanceRoster>");
    ctx = test_ctx();
    b = adapter_decode(&ctx, MT, deep.data, deep.len);
    assert_int_equal(b->nitems, 0);
    assert_true(b->errors.nerrors > 0);
    assert_int_equal(b->errors.v[0].record, -1);
    msgw_batch_destroy(&b);
    msgw_buf_free(&deep);
}

/* ---- encoding and round trips ------------------------------------------ */

/* name: a name in the file, to find in the output as UTF-8 or, for GB18030, as name_gb. */
static void round_trip(const char *file, const char *mt_in, const char *mt_out, const char *name,
                       const char *name_gb)
{
    msgw_adapter_ctx c = test_ctx();
    msgw_batch *a = decode_file(file, mt_in);
    assert_true(a->nitems > 0);
    assert_int_equal(msgw_batch_count_ok(a), a->nitems);
    const msgw_record **recs = calloc(a->nitems, sizeof *recs);
    for (size_t i = 0; i < a->nitems; i++) recs[i] = a->items[i].record;
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    bool ok = msgw_adapter_mca.encode(&c, mt_out, recs, a->nitems, &out, &e);
    if (!ok)
        for (size_t i = 0; i < e.n; i++) {
            char line[512];
            fprintf(stderr, "%s\n", msgw_error_format(&e.v[i], line, sizeof line));
        }
    assert_true(ok);
    msgw_batch *b = full_decode(mt_out, out.data, out.len);
    assert_all_ok(b, a->nitems);
    for (size_t i = 0; i < a->nitems; i++)
        assert_true(msgw_record_equal(a->items[i].record, b->items[i].record));
    if (strcasestr(mt_out, "GB18030")) {
        assert_non_null(strstr(out.data, "encoding=\"GB18030\""));
        assert_null(strstr(out.data, name)); /* the UTF-8 bytes must not appear */
        assert_non_null(memmem(out.data, out.len, name_gb, strlen(name_gb)));
    } else {
        assert_non_null(strstr(out.data, "encoding=\"UTF-8\""));
        assert_non_null(strstr(out.data, name));
    }
    msgw_errors_clear(&e);
    msgw_buf_free(&out);
    free(recs);
    msgw_batch_destroy(&b);
    msgw_batch_destroy(&a);
}

static void test_round_trip_utf8(void **state)
{
    (void)state;
    round_trip("roster-valid.xml", MT, MT, "张建国", NULL);
    round_trip("roster-gb18030.xml", MT, "application/xml", "赵淑珍", NULL);
}

static void test_round_trip_gb18030(void **state)
{
    (void)state;
    round_trip("roster-gb18030.xml", MT, "application/xml;charset=GB18030", "赵淑珍", GB_ZHAO);
    round_trip("roster-valid.xml", MT, "application/vnd.msgw.mca.roster+xml; charset=gb18030",
               "张建国", GB_ZHANG);
}

static void expect_encode_error(const msgw_record *r, const char *mt, const char *rule,
                                const char *field)
{
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    const msgw_record *recs[1] = {r};
    msgw_adapter_ctx c = test_ctx();
    assert_false(msgw_adapter_mca.encode(&c, mt, recs, r ? 1 : 0, &out, &e));
    assert_true(e.n > 0);
    assert_string_equal(e.v[0].rule, rule);
    if (field) assert_string_equal(e.v[0].field, field);
    assert_int_equal(out.len, 0);
    msgw_errors_clear(&e);
    msgw_buf_free(&out);
}

static void test_encode_refusals(void **state)
{
    (void)state;
    msgw_batch *a = decode_file("roster-valid.xml", MT);
    assert_all_ok(a, 3);
    msgw_record *r = a->items[0].record;

    expect_encode_error(NULL, MT, "mca.encode.empty", NULL);
    expect_encode_error(r, "application/xml; charset=ISO-8859-1", "mca.encode.charset", "charset");

    msgw_record other = *r;
    other.kind = "insurance_enrolment";
    expect_encode_error(&other, MT, "mca.encode.kind", "kind");

    /* a member whose assistance category differs from the head's */
    msgw_record split = *r;
    msgw_fact *facts = msgw_arena_alloc(a->arena, r->nfacts * sizeof *facts);
    memcpy(facts, r->facts, r->nfacts * sizeof *facts);
    split.facts = facts;
    for (size_t i = 0; i < split.nfacts; i++)
        if (strcmp(facts[i].type, "assistance") == 0 &&
            strcmp(facts[i].subject, "12010119600705042X") == 0)
            facts[i].valid_to = ymd(2024, 1, 1);
    expect_encode_error(&split, MT, "mca.encode.assistance", "assistance");

    /* no income fact for a member: YSR is required */
    msgw_record noincome = *r;
    noincome.nfacts = 0;
    noincome.facts = NULL;
    msgw_fact *f = msgw_arena_alloc(a->arena, r->nfacts * sizeof *f);
    for (size_t i = 0; i < r->nfacts; i++)
        if (strcmp(r->facts[i].type, "income") != 0) f[noincome.nfacts++] = r->facts[i];
    noincome.facts = f;
    expect_encode_error(&noincome, MT, "mca.encode.missing", "income");

    msgw_batch_destroy(&a);
}

/* ---- the agreement set ------------------------------------------------- */

static void test_agreement_documents(void **state)
{
    (void)state;
    const char *good[] = {"minimal.xml", "max-values.xml", "roster-valid.xml"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "agree/good/%s", good[i]);
        msgw_batch *b = decode_file(name, MT);
        assert_true(b->nitems > 0);
        assert_all_ok(b, b->nitems);
        msgw_batch_destroy(&b);
    }
    const char *bad[] = {
        "bad-code-assistance-category.xml", "bad-date-syntax.xml", "bad-idnum-pattern.xml",
        "bad-impossible-date.xml", "bad-missing-household.xml", "bad-missing-name.xml",
        "bad-money-negative.xml", "bad-money-out-of-range.xml", "bad-name-too-long.xml",
        "bad-region.xml", "bad-relationship.xml", "bad-unknown-element.xml",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "agree/bad/%s", bad[i]);
        msgw_batch *b = decode_file(name, MT);
        if (msgw_batch_count_ok(b) != 0 || b->errors.nerrors == 0) {
            fprintf(stderr, "%s was accepted\n", name);
            fail();
        }
        msgw_batch_destroy(&b);
    }
}

static void test_registration(void **state)
{
    (void)state;
    assert_ptr_equal(msgw_adapter_find("minzheng"), &msgw_adapter_mca);
    assert_ptr_equal(msgw_adapter_find("civil-affairs"), &msgw_adapter_mca);
    assert_ptr_equal(msgw_adapter_for_media_type("application/vnd.msgw.mca.roster+xml; charset=GB18030"),
                     &msgw_adapter_mca);
}

static int teardown_all(void **state)
{
    (void)state;
    tu_ctx_free();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_roster_household_1),
        cmocka_unit_test(test_valid_roster_households_2_3),
        cmocka_unit_test(test_gb18030_declared),
        cmocka_unit_test(test_gb18030_from_media_type),
        cmocka_unit_test(test_invalid_utf8_bytes),
        cmocka_unit_test(test_invalid_gb18030_bytes),
        cmocka_unit_test(test_charset_conflict_and_unsupported),
        cmocka_unit_test(test_bad_records_do_not_stop_the_batch),
        cmocka_unit_test(test_head_of_household),
        cmocka_unit_test(test_duplicate_record_id),
        cmocka_unit_test(test_end_before_start),
        cmocka_unit_test(test_legacy_id_number),
        cmocka_unit_test(test_missing_leaf_without_schema),
        cmocka_unit_test(test_schema_error_with_schema),
        cmocka_unit_test(test_header_errors_refuse_the_document),
        cmocka_unit_test(test_wrong_root),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_hostile_documents),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_round_trip_utf8),
        cmocka_unit_test(test_round_trip_gb18030),
        cmocka_unit_test(test_encode_refusals),
        cmocka_unit_test(test_agreement_documents),
        cmocka_unit_test(test_registration),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
