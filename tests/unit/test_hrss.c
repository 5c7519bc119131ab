/*
 * The 人社 (hrss) adapter: decoding the sample documents to exact canonical
 * values, round trips, every error category with its rule id and location,
 * limits, and hostile JSON (duplicate keys, huge numbers, bad UTF-8,
 * truncation, deep nesting).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/base/embedded.h"
#include "msgw/decode/decode.h"
#include "msgw/base/date.h"
#include "msgw/model/model.h"
#include "msgw/validate/schemas.h"
#include "testutil.h"

extern const msgw_adapter msgw_adapter_hrss;

#define MT "application/vnd.msgw.hrss+json"
#define MT_GB "application/vnd.msgw.hrss+json; charset=gb18030"

/* Decodes with the adapter alone (no pipeline), so adapter behaviour is seen directly. */
static msgw_batch *decode_with(const msgw_adapter_ctx *ctx, const char *mt, const char *buf,
                               size_t len)
{
    msgw_batch *b = msgw_batch_new();
    msgw_adapter_hrss.decode(ctx, mt, buf, len, b);
    return b;
}

static msgw_batch *decode_str(const char *json)
{
    return decode_with(tu_ctx(), MT, json, strlen(json));
}

static msgw_batch *decode_file(const char *rel, const char *mt)
{
    size_t len;
    char *buf = tu_read_file(rel, &len);
    msgw_batch *b = decode_with(tu_ctx(), mt, buf, len);
    free(buf);
    return b;
}

/* The error with this rule, or NULL. */
static const msgw_error *find_error(const msgw_batch *b, const char *rule)
{
    for (size_t i = 0; i < b->errors.n; i++)
        if (b->errors.v[i].rule && strcmp(b->errors.v[i].rule, rule) == 0)
            return &b->errors.v[i];
    return NULL;
}

/* Asserts an error with exactly this rule, record, location and field exists. */
static void expect_error(const msgw_batch *b, const char *rule, int record, const char *loc,
                         const char *field)
{
    for (size_t i = 0; i < b->errors.n; i++) {
        const msgw_error *e = &b->errors.v[i];
        if (e->severity == MSGW_SEV_ERROR && e->rule && strcmp(e->rule, rule) == 0
            && e->record == record && (!loc || (e->location && strcmp(e->location, loc) == 0))
            && (!field || (e->field && strcmp(e->field, field) == 0)))
            return;
    }
    fprintf(stderr, "expected %s on record %d at %s (%s); have:\n", rule, record,
            loc ? loc : "*", field ? field : "*");
    tu_dump_errors(b);
    fail();
}

static void expect_document_error(const msgw_batch *b, const char *rule)
{
    expect_error(b, rule, -1, NULL, NULL);
    assert_int_equal(b->nitems, 0);
}

static const char *attr_s(const msgw_fact *f, const char *name)
{
    const msgw_attr *a = msgw_fact_attr(f, name);
    return a ? a->v.u.s : NULL;
}

static msgw_date ymd(int y, int m, int d)
{
    return msgw_date_from_ymd(y, m, d);
}

/*
 * Whether the build carries the generated hrss schema or the placeholder
 * "{}" that accepts anything: the expected rule ids differ (the schema's
 * jsonschema.* or the adapter's own), the verdicts do not.
 */
static bool schema_active(void)
{
    const msgw_embedded_file *f = msgw_embedded_find("generated/hrss.schema.json");
    return f && f->len > 8;
}

static const char *rule_for(const char *schema_rule, const char *c_rule)
{
    return schema_active() ? schema_rule : c_rule;
}

static void assert_no_errors(const msgw_batch *b)
{
    if (b->errors.nerrors) {
        tu_dump_errors(b);
        fail();
    }
}

/* ------------------------------------------------------------ good documents */

static void test_batch_values(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("tests/data/hrss/batch-valid.json", MT);
    assert_no_errors(b);
    assert_int_equal(b->nitems, 6);
    assert_int_equal(msgw_batch_count_ok(b), 6);

    const msgw_record *r = b->items[0].record;
    assert_string_equal(b->items[0].loc, "/records/0");
    assert_string_equal(r->kind, "insurance_enrolment");
    assert_string_equal(r->source_department, "hrss");
    assert_string_equal(r->source_message_id, "CBDJ202611250001");
    assert_null(r->message_id);
    assert_null(r->household);
    assert_int_equal(r->npersons, 1);
    const msgw_person *p = &r->persons[0];
    assert_string_equal(p->id_number, "120116196803150012");
    assert_string_equal(p->name, "王建国");
    assert_string_equal(p->sex, "1");
    assert_int_equal(p->birth_date, ymd(1968, 3, 15));
    assert_string_equal(p->ethnic, "01");
    assert_string_equal(p->hukou_region, "120116");
    assert_string_equal(p->hukou_type, "1");
    assert_null(p->marital);
    assert_null(p->residence_region);
    assert_int_equal(r->nfacts, 1);
    const msgw_fact *f = &r->facts[0];
    assert_string_equal(f->type, "insurance");
    assert_string_equal(f->subject, "120116196803150012");
    assert_int_equal(f->valid_from, ymd(2026, 11, 1));
    assert_int_equal(f->valid_to, MSGW_DATE_NONE);
    assert_int_equal(f->nattrs, 3);
    assert_string_equal(attr_s(f, "insurance_type"), "110");
    assert_string_equal(attr_s(f, "contribution_status"), "1");
    assert_string_equal(attr_s(f, "insured_region"), "120116");

    r = b->items[1].record; /* termination: period with an end */
    assert_string_equal(r->kind, "insurance_termination");
    f = &r->facts[0];
    assert_int_equal(f->valid_from, ymd(2015, 4, 1));
    assert_int_equal(f->valid_to, ymd(2026, 10, 31));
    assert_string_equal(attr_s(f, "insurance_type"), "210");
    assert_string_equal(attr_s(f, "contribution_status"), "3");
    assert_int_equal(r->persons[0].birth_date, ymd(1975, 8, 2));
    assert_null(r->persons[0].ethnic);

    r = b->items[2].record; /* unit employment */
    assert_string_equal(r->kind, "employment_registration");
    f = &r->facts[0];
    assert_string_equal(f->type, "employment");
    assert_int_equal(f->nattrs, 2);
    assert_string_equal(attr_s(f, "employment_status"), "11");
    assert_string_equal(attr_s(f, "employer_id"), "91120116MA05K8XXXL");
    assert_int_equal(f->valid_from, ymd(2026, 9, 1));
    assert_string_equal(r->persons[0].hukou_type, "2");
    assert_int_equal(r->persons[0].birth_date, MSGW_DATE_NONE);

    r = b->items[3].record;
    assert_string_equal(r->kind, "unemployment_registration");
    assert_string_equal(attr_s(&r->facts[0], "employment_status"), "20");
    assert_null(msgw_fact_attr(&r->facts[0], "employer_id"));
    assert_string_equal(r->persons[0].id_number, "11010519850131004X");

    r = b->items[4].record; /* retirement: status 30 from the retirement date */
    assert_string_equal(r->kind, "retirement");
    f = &r->facts[0];
    assert_string_equal(attr_s(f, "employment_status"), "30");
    assert_int_equal(f->valid_from, ymd(2023, 7, 1));
    assert_int_equal(f->valid_to, MSGW_DATE_NONE);

    r = b->items[5].record; /* flexible employment, a leap-day birth */
    assert_string_equal(attr_s(&r->facts[0], "employment_status"), "12");
    assert_int_equal(r->persons[0].birth_date, ymd(2000, 2, 29));
    assert_int_equal(r->facts[0].valid_to, ymd(2026, 12, 31));
    msgw_batch_destroy(&b);
}

static void test_pipeline_message_ids(void **state)
{
    (void)state;
    size_t len;
    char *buf = tu_read_file("tests/data/hrss/batch-valid.json", &len);
    msgw_batch *b = tu_decode("hrss", NULL, buf, len);
    free(buf);
    assert_no_errors(b);
    assert_int_equal(msgw_batch_count_ok(b), 6);
    assert_string_equal(b->items[0].record->message_id, "hrss:CBDJ202611250001");
    assert_string_equal(b->items[5].record->message_id, "hrss:JYDJ202611250006");
    msgw_batch_destroy(&b);
}

static void test_single_record(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("tests/data/hrss/single-record.json", "application/json");
    assert_no_errors(b);
    assert_int_equal(b->nitems, 1);
    const msgw_record *r = b->items[0].record;
    assert_non_null(r);
    assert_string_equal(b->items[0].loc, "");
    assert_string_equal(r->kind, "insurance_enrolment");
    assert_string_equal(r->persons[0].name, "孙丽");
    assert_string_equal(attr_s(&r->facts[0], "insurance_type"), "310");
    assert_string_equal(attr_s(&r->facts[0], "insured_region"), "131003");
    msgw_batch_destroy(&b);

    /* a bare record's errors are located from the document root */
    b = decode_str("{\"bizType\": \"retirement\", \"AAC002\": \"13108219630630005X\", "
                   "\"AAC003\": \"陈志强\", \"AAE030\": \"2023-02-30\"}");
    assert_int_equal(b->nitems, 1);
    assert_null(b->items[0].record);
    assert_true(b->errors.nerrors >= 1);
    const msgw_error *e = b->errors.v;
    assert_int_equal(e->record, 0);
    assert_string_equal(e->location, "/AAE030");
    assert_string_equal(e->field, "AAE030");
    msgw_batch_destroy(&b);
}

static void test_gb18030(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("tests/data/hrss/batch-gb18030.json", MT_GB);
    assert_no_errors(b);
    assert_int_equal(msgw_batch_count_ok(b), 1);
    assert_string_equal(b->items[0].record->persons[0].name, "孙丽");
    msgw_batch_destroy(&b);

    /* the same bytes without the charset are not UTF-8: a located error */
    b = decode_file("tests/data/hrss/batch-gb18030.json", MT);
    expect_document_error(b, "json.utf8");
    msgw_batch_destroy(&b);

    b = decode_with(tu_ctx(), "application/json; charset=latin1", "{}", 2);
    expect_document_error(b, "text.charset");
    msgw_batch_destroy(&b);
}

/* ---------------------------------------------------------------- round trip */

static void round_trip(const char *rel, const char *mt)
{
    msgw_batch *a = decode_file(rel, mt);
    assert_no_errors(a);
    const msgw_record **recs = calloc(a->nitems, sizeof *recs);
    for (size_t i = 0; i < a->nitems; i++)
        recs[i] = a->items[i].record;
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_true(msgw_adapter_hrss.encode(tu_ctx(), mt, recs, a->nitems, &out, &e));
    assert_int_equal(e.nerrors, 0);
    msgw_batch *b = decode_with(tu_ctx(), mt, out.data, out.len);
    assert_no_errors(b);
    assert_int_equal(b->nitems, a->nitems);
    for (size_t i = 0; i < a->nitems; i++)
        assert_true(msgw_record_equal(a->items[i].record, b->items[i].record));
    free(recs);
    msgw_buf_free(&out);
    msgw_errors_clear(&e);
    msgw_batch_destroy(&a);
    msgw_batch_destroy(&b);
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip("tests/data/hrss/batch-valid.json", MT);
    round_trip("tests/data/hrss/single-record.json", MT);
    round_trip("tests/data/hrss/batch-gb18030.json", MT_GB);
}

static void test_encode_text(void **state)
{
    (void)state;
    msgw_batch *a = decode_str("{\"bizType\": \"unemployment_registration\", \"AAC002\": "
                               "\"11010519850131004X\", \"AAC003\": \"刘芳\", \"AAE030\": "
                               "\"2026-11-20\"}");
    assert_no_errors(a);
    const msgw_record *r = a->items[0].record;
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_true(msgw_adapter_hrss.encode(tu_ctx(), MT, &r, 1, &out, &e));
    /* the implied status is written out, dates stay ISO, codes stay strings */
    assert_non_null(strstr(out.data, "\"msgType\": \"HRSS_RECORDS\""));
    assert_non_null(strstr(out.data, "\"recordCount\": 1"));
    assert_non_null(strstr(out.data, "\"AAC008\": \"20\""));
    assert_non_null(strstr(out.data, "\"AAE030\": \"2026-11-20\""));
    assert_null(strstr(out.data, "bizId"));
    msgw_buf_free(&out);
    msgw_errors_clear(&e);
    msgw_batch_destroy(&a);
}

static void test_encode_errors(void **state)
{
    (void)state;
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_false(msgw_adapter_hrss.encode(tu_ctx(), MT, NULL, 0, &out, &e));
    assert_string_equal(e.v[0].rule, "hrss.encode.empty");
    msgw_errors_clear(&e);

    msgw_arena *a = msgw_arena_new(0);
    msgw_record r;
    memset(&r, 0, sizeof r);
    r.kind = "household_assistance_roster";
    size_t pcap = 0;
    msgw_person *p = msgw_record_add_person(&r, a, &pcap);
    msgw_person_init(p);
    strcpy(p->id_number, "120116196803150012");
    const msgw_record *rp = &r;
    assert_false(msgw_adapter_hrss.encode(tu_ctx(), MT, &rp, 1, &out, &e));
    assert_string_equal(e.v[0].rule, "hrss.encode.kind");
    assert_int_equal(e.v[0].record, 0);
    assert_non_null(strstr(e.v[0].message, "household_assistance_roster"));
    msgw_errors_clear(&e);

    r.kind = "retirement"; /* a retirement without its employment fact */
    assert_false(msgw_adapter_hrss.encode(tu_ctx(), MT, &rp, 1, &out, &e));
    assert_string_equal(e.v[0].rule, "hrss.encode.shape");
    msgw_errors_clear(&e);

    size_t fcap = 0;
    msgw_record_add_fact(&r, a, &fcap, "insurance", p->id_number);
    assert_false(msgw_adapter_hrss.encode(tu_ctx(), MT, &rp, 1, &out, &e));
    assert_string_equal(e.v[0].rule, "hrss.encode.fact");
    msgw_errors_clear(&e);
    msgw_arena_destroy(&a);
    msgw_buf_free(&out);
}

/* ------------------------------------------------------ errors in records */

static void test_mixed_batch(void **state)
{
    (void)state;
    size_t len;
    char *buf = tu_read_file("tests/data/hrss/invalid-mixed.json", &len);
    msgw_batch *b = tu_decode("hrss", MT, buf, len);
    free(buf);
    assert_int_equal(b->nitems, 10);
    /* only the two clean records survive; each bad one is rejected on its own */
    assert_non_null(b->items[0].record);
    assert_non_null(b->items[6].record);
    assert_int_equal(msgw_batch_count_ok(b), 2);
    expect_error(b, "gb11643.check_character", 1, "/records/1/AAC002", "AAC002");
    const msgw_error *e = find_error(b, "gb11643.check_character");
    assert_string_equal(e->message, "check character should be 2, found 3");
    expect_error(b, rule_for("jsonschema.enum", "code.member"), 2, "/records/2/AAE140", "AAE140");
    expect_error(b, rule_for("jsonschema.required", "hrss.required"), 3,
                 schema_active() ? "/records/3" : "/records/3/AAC003", NULL);
    expect_error(b, rule_for("jsonschema.format", "date.calendar"), 4, "/records/4/AAE030",
                 "AAE030");
    expect_error(b, "hrss.status_for_biz", 5, "/records/5/AAC008", "AAC008");
    expect_error(b, "period.order", 7, "/records/7/AAE031", "AAE031");
    expect_error(b, "hrss.biz_type", 8, "/records/8/bizType", "bizType");
    expect_error(b, "hrss.duplicate_biz_id", 9, "/records/9/bizId", "bizId");
    e = find_error(b, "hrss.duplicate_biz_id");
    assert_non_null(strstr(e->message, "record 0"));
    msgw_batch_destroy(&b);
}

/* Without the schema, the C checks alone reject the same records (with their own rule ids). */
static void test_mixed_batch_without_schema(void **state)
{
    (void)state;
    msgw_adapter_ctx ctx = *tu_ctx();
    ctx.schemas = NULL;
    size_t len;
    char *buf = tu_read_file("tests/data/hrss/invalid-mixed.json", &len);
    msgw_batch *b = decode_with(&ctx, MT, buf, len);
    free(buf);
    assert_int_equal(b->nitems, 10);
    for (size_t i = 0; i < 10; i++)
        assert_true((b->items[i].record != NULL) == (i == 0 || i == 6));
    expect_error(b, "code.member", 2, "/records/2/AAE140", "AAE140");
    expect_error(b, "hrss.required", 3, "/records/3/AAC003", "AAC003");
    expect_error(b, "date.calendar", 4, "/records/4/AAE030", "AAE030");
    msgw_batch_destroy(&b);
}

static const char *REC_HEAD = "{\"msgType\": \"HRSS_RECORDS\", \"records\": [";

/* Decodes one record object wrapped in an envelope. */
static msgw_batch *decode_one(const char *record_json)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s%s]}", REC_HEAD, record_json);
    return decode_str(buf);
}

static void test_business_rules(void **state)
{
    (void)state;
    msgw_batch *b = decode_one("{\"bizType\": \"insurance_enrolment\", \"AAC002\": "
                               "\"120116196803150012\", \"AAC003\": \"王建国\", \"AAE140\": \"110\", "
                               "\"AAC031\": \"1\"}");
    expect_error(b, "hrss.required", 0, "/records/0/AAE030", "AAE030");
    assert_null(b->items[0].record);
    msgw_batch_destroy(&b);

    b = decode_one("{\"bizType\": \"insurance_termination\", \"AAC002\": \"120116196803150012\", "
                   "\"AAC003\": \"王建国\", \"AAE140\": \"110\", \"AAC031\": \"1\", \"AAE031\": "
                   "\"2026-10-31\"}");
    expect_error(b, "hrss.status_for_biz", 0, "/records/0/AAC031", "AAC031");
    assert_non_null(strstr(find_error(b, "hrss.status_for_biz")->message, "2 or 3"));
    msgw_batch_destroy(&b);

    /* a field of the other business is checked, then ignored with a warning */
    b = decode_one("{\"bizType\": \"insurance_enrolment\", \"AAC002\": \"120116196803150012\", "
                   "\"AAC003\": \"王建国\", \"AAE140\": \"110\", \"AAC031\": \"1\", \"AAE030\": "
                   "\"2026-11-01\", \"AAB001\": \"91120116MA05K8XXXL\"}");
    assert_no_errors(b);
    assert_int_equal(b->errors.nwarnings, 1);
    assert_string_equal(b->errors.v[0].rule, "hrss.field_ignored");
    assert_string_equal(b->errors.v[0].location, "/records/0/AAB001");
    assert_int_equal(b->items[0].record->facts[0].nattrs, 2);
    msgw_batch_destroy(&b);

    b = decode_one("{\"bizType\": \"employment_registration\", \"AAC002\": \"120116196803150012\", "
                   "\"AAC003\": \"王建国\", \"AAC008\": \"11\", \"AAE030\": \"2026-11-01\"}");
    expect_error(b, "hrss.employer_required", 0, "/records/0/AAB001", "AAB001");
    msgw_batch_destroy(&b);

    b = decode_one("{\"bizType\": \"retirement\", \"AAC002\": \"13108219630630005X\", \"AAC003\": "
                   "\"陈志强\", \"AAC008\": \"11\", \"AAE030\": \"2023-07-01\"}");
    expect_error(b, "hrss.status_for_biz", 0, "/records/0/AAC008", "AAC008");
    msgw_batch_destroy(&b);

    b = decode_one("{\"bizType\": \"retirement\", \"AAC002\": \"13108219630630005X\", \"AAC003\": "
                   "\"陈志强\", \"AAC004\": \"2\", \"AAC006\": \"1963-06-29\", \"AAE030\": "
                   "\"2023-07-01\"}");
    expect_error(b, "person.sex_agrees", 0, "/records/0/AAC004", "AAC004");
    expect_error(b, "person.birth_date_agrees", 0, "/records/0/AAC006", "AAC006");
    msgw_batch_destroy(&b);

    b = decode_one("{\"bizType\": \"retirement\", \"bizId\": \"\", \"AAC002\": "
                   "\"13108219630630005X\", \"AAC003\": \"陈志强\", \"AAE030\": \"2023-07-01\"}");
    expect_error(b, "hrss.biz_id", 0, "/records/0/bizId", "bizId");
    msgw_batch_destroy(&b);
}

static void test_legacy_id_converted(void **state)
{
    (void)state;
    /* 15-digit 131082630630005 -> 13108219630630005X, with a warning */
    msgw_batch *b = decode_one("{\"bizType\": \"retirement\", \"AAC002\": \"131082630630005\", "
                               "\"AAC003\": \"陈志强\", \"AAE030\": \"2023-07-01\"}");
    assert_no_errors(b);
    assert_string_equal(b->items[0].record->persons[0].id_number, "13108219630630005X");
    assert_non_null(find_error(b, "gb11643.legacy_converted"));
    msgw_batch_destroy(&b);
}

static void test_types_and_unknown_fields(void **state)
{
    (void)state;
    msgw_adapter_ctx ctx = *tu_ctx();
    ctx.schemas = NULL; /* the C checks on their own */
    const char *doc = "{\"msgType\": \"HRSS_RECORDS\", \"records\": [{\"bizType\": \"retirement\", "
                      "\"AAC002\": \"13108219630630005X\", \"AAC003\": \"陈志强\", \"AAC004\": 1, "
                      "\"AAC005\": null, \"AAE030\": \"2023-07-01\", \"AAC099\": \"x\"}, 42]}";
    msgw_batch *b = decode_with(&ctx, MT, doc, strlen(doc));
    expect_error(b, "hrss.type", 0, "/records/0/AAC004", "AAC004");
    expect_error(b, "hrss.type", 0, "/records/0/AAC005", "AAC005");
    expect_error(b, "hrss.unknown_field", 0, "/records/0/AAC099", "AAC099");
    expect_error(b, "hrss.type", 1, "/records/1", NULL);
    assert_int_equal(b->nitems, 2);
    assert_int_equal(msgw_batch_count_ok(b), 0);
    msgw_batch_destroy(&b);

    /* with the schema the same faults are the schema's */
    b = decode_str(doc);
    expect_error(b, rule_for("jsonschema.type", "hrss.type"), 0, "/records/0/AAC004", "AAC004");
    expect_error(b, rule_for("jsonschema.additionalProperties", "hrss.unknown_field"), 0, NULL,
                 NULL);
    expect_error(b, rule_for("jsonschema.type", "hrss.type"), 1, "/records/1", NULL);
    assert_int_equal(msgw_batch_count_ok(b), 0);
    msgw_batch_destroy(&b);
}

/* ------------------------------------------------------ document errors */

static void test_envelope(void **state)
{
    (void)state;
    msgw_batch *b = decode_str("{\"msgType\": \"HRSS_RECORDS\", \"recordCount\": 2, \"records\": "
                               "[{\"bizType\": \"retirement\", \"AAC002\": \"13108219630630005X\", "
                               "\"AAC003\": \"陈志强\", \"AAE030\": \"2023-07-01\"}]}");
    expect_document_error(b, "hrss.record_count");
    msgw_batch_destroy(&b);

    b = decode_str("{\"msgType\": \"HRSS_RECORDS\", \"sendTime\": \"2026-11-25 09:30\", \"records\": "
                   "[{\"bizType\": \"retirement\", \"AAC002\": \"13108219630630005X\", "
                   "\"AAC003\": \"陈志强\", \"AAE030\": \"2023-07-01\"}]}");
    expect_document_error(b, "hrss.send_time");
    expect_error(b, "hrss.send_time", -1, "/sendTime", "sendTime");
    msgw_batch_destroy(&b);

    b = decode_str("{\"msgType\": \"HRSS_OTHER\", \"records\": [{\"bizType\": \"retirement\", "
                   "\"AAC002\": \"1\"}]}");
    /* an envelope failure refuses the document: no items, all errors the document's */
    assert_int_equal(b->nitems, 0);
    expect_error(b, rule_for("jsonschema.const", "hrss.msg_type"), -1, "/msgType", NULL);
    for (size_t i = 0; i < b->errors.n; i++)
        assert_int_equal(b->errors.v[i].record, -1);
    msgw_batch_destroy(&b);

    msgw_adapter_ctx ctx = *tu_ctx();
    ctx.schemas = NULL;
    const char *doc = "{\"msgType\": \"HRSS_OTHER\", \"extra\": 1, \"records\": []}";
    b = decode_with(&ctx, MT, doc, strlen(doc));
    expect_error(b, "hrss.msg_type", -1, "/msgType", "msgType");
    expect_error(b, "hrss.unknown_field", -1, "/extra", "extra");
    expect_error(b, "hrss.records_empty", -1, "/records", "records");
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);

    b = decode_str("[1, 2]");
    expect_document_error(b, "hrss.structure");
    msgw_batch_destroy(&b);
}

static void test_duplicate_key(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("tests/data/hrss/duplicate-key.json", MT);
    expect_document_error(b, "json.duplicate_key");
    const msgw_error *e = find_error(b, "json.duplicate_key");
    assert_non_null(strstr(e->message, "AAE030"));
    assert_non_null(strstr(e->location, "line 1, column "));
    msgw_batch_destroy(&b);
}

static void test_truncated(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("tests/data/hrss/truncated.json", MT);
    expect_document_error(b, "json.truncated");
    msgw_batch_destroy(&b);
    b = decode_str("{\"msgType\": \"HRSS_RECORDS\", \"records\": [}");
    expect_document_error(b, "json.syntax");
    msgw_batch_destroy(&b);
    b = decode_str("");
    assert_int_equal(b->nitems, 0);
    assert_true(b->errors.nerrors >= 1);
    msgw_batch_destroy(&b);
}

static void test_number_range(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("tests/data/hrss/big-integer.json", MT);
    expect_document_error(b, "json.number_range");
    msgw_batch_destroy(&b);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    size_t len;
    char *buf = tu_read_file("tests/data/hrss/invalid-utf8.json", &len);
    const char *bad = strchr(buf, '\xb3');
    assert_non_null(bad);
    char loc[32];
    snprintf(loc, sizeof loc, "byte %zu", (size_t)(bad - buf));
    msgw_batch *b = decode_with(tu_ctx(), MT, buf, len);
    expect_error(b, "json.utf8", -1, loc, NULL);
    assert_int_equal(b->nitems, 0);
    assert_non_null(strstr(find_error(b, "json.utf8")->message, "0xB3"));
    msgw_batch_destroy(&b);
    free(buf);

    /* \u0000 inside a string is refused by the parser */
    b = decode_str("{\"bizType\": \"retire\\u0000ment\"}");
    expect_document_error(b, "json.nul");
    msgw_batch_destroy(&b);
}

static void test_limits(void **state)
{
    (void)state;
    msgw_batch *b = decode_file("tests/data/hrss/deep.json", MT);
    expect_document_error(b, "document.depth");
    msgw_batch_destroy(&b);

    /* brackets inside strings do not count */
    b = decode_one("{\"bizType\": \"retirement\", \"AAC002\": \"13108219630630005X\", \"AAC003\": "
                   "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\", \"AAE030\": \"2023-07-01\"}");
    assert_no_errors(b);
    msgw_batch_destroy(&b);

    /* a million '[' is refused before the parser sees it */
    size_t n = 1000000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    b = decode_with(tu_ctx(), MT, deep, n);
    expect_document_error(b, "document.depth");
    msgw_batch_destroy(&b);
    free(deep);

    msgw_adapter_ctx ctx = *tu_ctx();
    size_t len;
    char *buf = tu_read_file("tests/data/hrss/batch-valid.json", &len);
    ctx.max_document_bytes = len - 1;
    b = decode_with(&ctx, MT, buf, len);
    expect_document_error(b, "document.size");
    msgw_batch_destroy(&b);
    ctx.max_document_bytes = len;
    ctx.max_records = 5;
    b = decode_with(&ctx, MT, buf, len);
    expect_document_error(b, "document.records");
    msgw_batch_destroy(&b);
    free(buf);
}

/* ------------------------------------------------- agreement documents */

static void test_agreement_documents(void **state)
{
    (void)state;
    static const char *good[] = {"batch-six-kinds", "single-enrolment", "minimal-retirement"};
    static const char *bad[] = {
        "code-as-integer",   "code-insurance-type",     "code-region",  "date-format",
        "employer-too-long", "envelope-unknown-member", "id-pattern",   "impossible-date",
        "missing-biztype",   "missing-msgtype",         "missing-name", "msgtype",
        "name-too-long",     "records-empty",           "unknown-field",
    };
    char rel[256];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        snprintf(rel, sizeof rel, "tests/data/hrss/agree/good/%s.json", good[i]);
        msgw_batch *b = decode_file(rel, MT);
        assert_no_errors(b);
        msgw_batch_destroy(&b);
    }
    /* each bad document is refused with the schema, and also by the C checks alone */
    msgw_adapter_ctx noschema = *tu_ctx();
    noschema.schemas = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(rel, sizeof rel, "tests/data/hrss/agree/bad/%s.json", bad[i]);
        size_t len;
        char *buf = tu_read_file(rel, &len);
        msgw_batch *b = decode_with(tu_ctx(), MT, buf, len);
        if (b->errors.nerrors == 0)
            fail_msg("%s: accepted with the schema", rel);
        msgw_batch_destroy(&b);
        b = decode_with(&noschema, MT, buf, len);
        if (b->errors.nerrors == 0)
            fail_msg("%s: accepted by the C checks", rel);
        msgw_batch_destroy(&b);
        free(buf);
    }
}

static void test_registry(void **state)
{
    (void)state;
    assert_ptr_equal(msgw_adapter_find("hrss"), &msgw_adapter_hrss);
    assert_ptr_equal(msgw_adapter_find("renshe"), &msgw_adapter_hrss);
    assert_ptr_equal(msgw_adapter_find("HR"), &msgw_adapter_hrss);
    assert_ptr_equal(msgw_adapter_for_media_type("application/vnd.msgw.hrss+json; charset=utf-8"),
                     &msgw_adapter_hrss);
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
        cmocka_unit_test(test_batch_values),
        cmocka_unit_test(test_pipeline_message_ids),
        cmocka_unit_test(test_single_record),
        cmocka_unit_test(test_gb18030),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encode_text),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_mixed_batch),
        cmocka_unit_test(test_mixed_batch_without_schema),
        cmocka_unit_test(test_business_rules),
        cmocka_unit_test(test_legacy_id_converted),
        cmocka_unit_test(test_types_and_unknown_fields),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_number_range),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_agreement_documents),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_all);
}
