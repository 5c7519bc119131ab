/*
 * People from every province, through every department format (issue 12, item 1).
 *
 * Millions of Tianjin's residents have their household registration elsewhere: their records
 * carry Henan's, Shanghai's, Guangdong's codes, and old records carry codes retired since.  Each
 * format's real decode stage (generated schema, dictionary, record rules) must accept them, keep
 * the codes as sent, warn about a retired code naming it, and still reject a code that is in no
 * table with an error that names the record, the field and the rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/validate/adapter.h"
#include "testutil.h"

#define MT_HRSS "application/vnd.msgw.hrss+json"
#define MT_MCA "application/vnd.msgw.mca.roster+xml"
#define MT_CDPF_XML "application/vnd.msgw.cdpf.certificate+xml"
#define MT_CDPF_CSV "text/csv"
#define MT_FHIR "application/fhir+json"

/* The document at relpath with the first `from` replaced by `to` (from NULL: unchanged). */
static char *document(const char *relpath, const char *from, const char *to, size_t *len)
{
    size_t n;
    char *buf = tu_read_file(relpath, &n);
    if (!from) {
        *len = n;
        return buf;
    }
    char *at = strstr(buf, from);
    assert_non_null(at);
    size_t head = (size_t)(at - buf), fl = strlen(from), tl = strlen(to);
    char *out = malloc(n - fl + tl + 1);
    assert_non_null(out);
    memcpy(out, buf, head);
    memcpy(out + head, to, tl);
    memcpy(out + head + tl, at + fl, n - head - fl + 1);
    free(buf);
    *len = n - fl + tl;
    return out;
}

static msgw_batch *decode(const char *adapter, const char *mt, const char *relpath,
                          const char *from, const char *to)
{
    size_t len;
    char *buf = document(relpath, from, to, &len);
    msgw_batch *b = tu_decode(adapter, mt, buf, len);
    free(buf);
    return b;
}

/* The one entry of this severity and rule; fails when there is none or more than one. */
static const msgw_error *only(const msgw_batch *b, msgw_severity sev, const char *rule)
{
    const msgw_error *found = NULL;
    for (size_t i = 0; i < b->errors.n; i++) {
        const msgw_error *e = &b->errors.v[i];
        if (e->severity != sev || strcmp(e->rule, rule) != 0) continue;
        if (found) {
            tu_dump_errors(b);
            fail_msg("more than one %s", rule);
        }
        found = e;
    }
    if (!found) {
        tu_dump_errors(b);
        fail_msg("no %s", rule);
    }
    return found;
}

static void contains(const char *text, const char *part)
{
    if (!text || !strstr(text, part)) fail_msg("'%s' lacks '%s'", text ? text : "(null)", part);
}

/* Every record accepted, the only warning a code.warning naming `retired` on record rec. */
static void all_accepted_retired_warned(const msgw_batch *b, size_t nitems, int rec,
                                        const char *field, const char *retired)
{
    if (b->errors.nerrors) tu_dump_errors(b);
    assert_int_equal(b->errors.nerrors, 0);
    assert_int_equal(b->nitems, nitems);
    assert_int_equal(msgw_batch_count_ok(b), nitems);
    assert_int_equal(b->errors.nwarnings, 1);
    const msgw_error *w = only(b, MSGW_SEV_WARNING, "code.warning");
    assert_int_equal(w->record, rec);
    assert_string_equal(w->field, field);
    char want[64];
    snprintf(want, sizeof want, "%s is a retired GB/T 2260 code", retired);
    contains(w->message, want);
}

static const char *hukou_of(const msgw_batch *b, size_t item)
{
    const msgw_record *r = b->items[item].record;
    assert_non_null(r);
    assert_true(r->npersons > 0);
    return r->persons[0].hukou_region;
}

static void test_hrss(void **state)
{
    (void)state;
    msgw_batch *b =
        decode("hrss", MT_HRSS, "tests/data/hrss/agree/good/other-provinces.json", NULL, NULL);
    all_accepted_retired_warned(b, 4, 3, "AAC010", "320103");
    assert_string_equal(hukou_of(b, 0), "410105"); /* 郑州 金水区 */
    assert_string_equal(hukou_of(b, 1), "310101"); /* 上海 黄浦区 */
    assert_string_equal(hukou_of(b, 2), "440106"); /* 广州 天河区 */
    assert_string_equal(hukou_of(b, 3), "320103"); /* 南京 白下区, retired in 2013 */
    msgw_batch_destroy(&b);

    /* a code in no table: that record alone is refused, by the schema's enum */
    b = decode("hrss", MT_HRSS, "tests/data/hrss/agree/good/other-provinces.json",
               "\"AAC010\": \"310101\"", "\"AAC010\": \"999999\"");
    assert_int_equal(msgw_batch_count_ok(b), 3);
    assert_null(b->items[1].record);
    const msgw_error *e = only(b, MSGW_SEV_ERROR, "jsonschema.enum");
    assert_int_equal(e->record, 1);
    assert_string_equal(e->field, "AAC010");
    assert_string_equal(e->location, "/records/1/AAC010");
    contains(e->message, "\"999999\"");
    msgw_batch_destroy(&b);
}

static void test_mca(void **state)
{
    (void)state;
    msgw_batch *b =
        decode("mca", MT_MCA, "tests/data/mca/agree/good/other-provinces.xml", NULL, NULL);
    all_accepted_retired_warned(b, 2, 1, "HJQH", "130621");
    assert_string_equal(b->items[0].record->household->region, "410105");
    assert_string_equal(hukou_of(b, 0), "410105");
    assert_string_equal(hukou_of(b, 1), "130621");
    msgw_batch_destroy(&b);

    /* the XSD's pattern rejects it; the error says so instead of quoting the pattern */
    b = decode("mca", MT_MCA, "tests/data/mca/agree/good/other-provinces.xml",
               "<HJQH>130621</HJQH>", "<HJQH>999999</HJQH>");
    assert_int_equal(msgw_batch_count_ok(b), 1);
    assert_non_null(b->items[0].record);
    assert_null(b->items[1].record);
    const msgw_error *e = only(b, MSGW_SEV_ERROR, "xsd.pattern");
    assert_int_equal(e->record, 1);
    assert_string_equal(e->field, "HJQH");
    contains(e->location, "/AssistanceRoster/Household[2]/HJQH");
    contains(e->message, "'999999' is not a code of this field's code list");
    assert_null(strstr(e->message, "[0-9]"));
    msgw_batch_destroy(&b);
}

static void test_cdpf_xml(void **state)
{
    (void)state;
    msgw_batch *b =
        decode("cdpf", MT_CDPF_XML, "tests/data/cdpf/agree/good/other-provinces.xml", NULL, NULL);
    all_accepted_retired_warned(b, 2, 1, "HukouRegion", "320103");
    assert_string_equal(hukou_of(b, 0), "440106");
    assert_string_equal(hukou_of(b, 1), "320103");
    msgw_batch_destroy(&b);

    b = decode("cdpf", MT_CDPF_XML, "tests/data/cdpf/agree/good/other-provinces.xml",
               "<HukouRegion>440106</HukouRegion>", "<HukouRegion>999999</HukouRegion>");
    assert_null(b->items[0].record);
    assert_non_null(b->items[1].record);
    const msgw_error *e = only(b, MSGW_SEV_ERROR, "xsd.pattern");
    assert_int_equal(e->record, 0);
    assert_string_equal(e->field, "HukouRegion");
    contains(e->location, "/Holder/HukouRegion");
    contains(e->message, "'999999' is not a code of this field's code list");
    msgw_batch_destroy(&b);
}

static void test_cdpf_csv(void **state)
{
    (void)state;
    msgw_batch *b = decode("cdpf", MT_CDPF_CSV, "tests/data/cdpf/roster-provinces.csv", NULL, NULL);
    all_accepted_retired_warned(b, 4, 2, "户籍地行政区划", "130621");
    assert_string_equal(hukou_of(b, 0), "440106");
    assert_string_equal(hukou_of(b, 1), "410105");
    assert_string_equal(hukou_of(b, 3), "220102"); /* 长春 南关区 */
    msgw_batch_destroy(&b);

    /* no schema for CSV: the dictionary's validator names the code list */
    b = decode("cdpf", MT_CDPF_CSV, "tests/data/cdpf/roster-provinces.csv", ",220102,", ",999999,");
    assert_int_equal(msgw_batch_count_ok(b), 3);
    assert_null(b->items[3].record);
    const msgw_error *e = only(b, MSGW_SEV_ERROR, "code.member");
    assert_int_equal(e->record, 3);
    assert_string_equal(e->field, "户籍地行政区划");
    assert_string_equal(e->location, "line 5, column 8");
    contains(e->message, "\"999999\" is not a code of region");
    msgw_batch_destroy(&b);
}

static void test_fhir(void **state)
{
    (void)state;
    msgw_batch *b = decode("health", MT_FHIR,
                           "tests/data/health/agree/good/patient-other-province.json", NULL, NULL);
    /* hukou in Chengdu, living in Tianjin; the former address (Mancheng, before it became a
     * district) keeps its retired code */
    all_accepted_retired_warned(b, 1, 0, "Patient.address.district", "130621");
    const msgw_record *r = b->items[0].record;
    assert_string_equal(r->persons[0].hukou_region, "510104");
    assert_string_equal(r->persons[0].residence_region, "120104");
    size_t residences = 0;
    bool retired_kept = false;
    for (size_t i = 0; i < r->nfacts; i++) {
        if (strcmp(r->facts[i].type, "residence") != 0) continue;
        residences++;
        const msgw_attr *a = msgw_fact_attr(&r->facts[i], "residence_region");
        assert_non_null(a);
        retired_kept = retired_kept || strcmp(a->v.u.s, "130621") == 0;
    }
    assert_int_equal(residences, 2);
    assert_true(retired_kept);
    msgw_batch_destroy(&b);

    b = decode("health", MT_FHIR, "tests/data/health/agree/good/patient-other-province.json",
               "\"district\": \"510104\"", "\"district\": \"999999\"");
    assert_int_equal(msgw_batch_count_ok(b), 0);
    const msgw_error *e = only(b, MSGW_SEV_ERROR, "code.member");
    assert_int_equal(e->record, 0);
    assert_string_equal(e->field, "Patient.address.district");
    assert_string_equal(e->location, "/address/0");
    contains(e->message, "\"999999\" is not a code of region");
    msgw_batch_destroy(&b);
}

static int teardown(void **state)
{
    (void)state;
    tu_ctx_free();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hrss),     cmocka_unit_test(test_mca),
        cmocka_unit_test(test_cdpf_xml), cmocka_unit_test(test_cdpf_csv),
        cmocka_unit_test(test_fhir),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
