/* The dictionary's C validators: value rules and record rules, with their error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/model/dict.h"
#include "msgw/base/idnum.h"
#include "testutil.h"

static const msgw_dict *dict(void)
{
    return tu_ctx()->dict;
}

/* Parses text as element id; returns the error list for inspection. */
static bool parse(const char *el, const char *text, msgw_value *v, msgw_errors *e, msgw_arena *a)
{
    const msgw_element *elem = msgw_dict_element(dict(), el);
    assert_non_null(elem);
    return msgw_dict_parse(dict(), elem, text, strlen(text), v, a, e, 0, "/doc/x", "FIELD");
}

static void expect_error(const char *el, const char *text, const char *rule, const char *msg_part)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_arena *a = msgw_arena_new(0);
    msgw_value v;
    assert_false(parse(el, text, &v, &e, a));
    assert_int_equal(e.nerrors, 1);
    assert_string_equal(e.v[0].rule, rule);
    assert_string_equal(e.v[0].field, "FIELD");
    assert_string_equal(e.v[0].location, "/doc/x");
    if (msg_part && !strstr(e.v[0].message, msg_part)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", e.v[0].message, msg_part);
        fail();
    }
    msgw_errors_clear(&e);
    msgw_arena_destroy(&a);
}

static void expect_ok(const char *el, const char *text, msgw_value *out, size_t warnings)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_arena *a = msgw_arena_new(0);
    bool ok = parse(el, text, out, &e, a);
    if (!ok) tu_dump_errors(&(msgw_batch){.errors = e});
    assert_true(ok);
    assert_int_equal(e.nwarnings, warnings);
    msgw_errors_clear(&e);
    msgw_arena_destroy(&a);
}

static void test_id_number(void **state)
{
    (void)state;
    msgw_value v;
    expect_ok("id_number", "11010519491231002X", &v, 0);
    expect_error("id_number", "110105194912310023", "gb11643.check_character",
                 "check character should be X, found 3");
    expect_error("id_number", "11010519990230001X", "gb11643.birth_date", "19990230");
    expect_error("id_number", "1101051949", "gb11643.length", "found 10");
    expect_ok("id_number", "110105491231002", &v, 1); /* legacy: converted with a warning */
    /* an address code under no province of GB/T 2260 (30, 80, 90): refused; a lower-case x is
     * an X; a county code since retired (Beijing's 110104 宣武区, merged in 2010) keeps passing;
     * 83: the residence permits of Taiwan residents */
    expect_error("id_number", "300101199003070017", "gb11643.province", "30 is not a province-level code");
    expect_error("id_number", "800101199003070015", "gb11643.province", NULL);
    expect_error("id_number", "900101199003070019", "gb11643.province", NULL);
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_arena *a = msgw_arena_new(0);
    assert_true(parse("id_number", "11010519491231002x", &v, &e, a));
    assert_string_equal(v.u.s, "11010519491231002X");
    msgw_errors_clear(&e);
    msgw_arena_destroy(&a);
    expect_ok("id_number", "110104199003070010", &v, 0);
    expect_ok("id_number", "830000199003070019", &v, 0);
}

static void test_code_lists(void **state)
{
    (void)state;
    msgw_value v;
    expect_ok("sex", "2", &v, 0);
    assert_int_equal(v.kind, MSGW_V_CODE);
    expect_error("sex", "3", "code.member", "GB/T 2261.1");
    expect_ok("ethnic_group", "01", &v, 0);
    expect_ok("ethnic_group", "56", &v, 0);
    expect_error("ethnic_group", "57", "code.member", NULL);
    expect_ok("family_relationship", "02", &v, 0);
    expect_error("family_relationship", "98", "code.member", NULL);
    expect_ok("disability_category", "7", &v, 0);
    expect_error("disability_grade", "5", "code.member", NULL);
    expect_ok("insurance_type", "110", &v, 0);
    expect_error("contribution_status", "4", "code.member", NULL);
    expect_ok("marital_status", "21", &v, 0);
}

/* Accepted with exactly one warning, of rule `rule`, whose message contains msg_part. */
static void expect_warning(const char *el, const char *text, const char *rule, const char *msg_part)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_arena *a = msgw_arena_new(0);
    msgw_value v;
    assert_true(parse(el, text, &v, &e, a));
    assert_int_equal(e.nerrors, 0);
    assert_int_equal(e.nwarnings, 1);
    assert_int_equal(e.v[0].severity, MSGW_SEV_WARNING);
    assert_string_equal(e.v[0].rule, rule);
    assert_string_equal(e.v[0].field, "FIELD");
    if (!strstr(e.v[0].message, msg_part)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", e.v[0].message, msg_part);
        fail();
    }
    assert_string_equal(v.u.s, text);
    msgw_errors_clear(&e);
    msgw_arena_destroy(&a);
}

static void test_regions(void **state)
{
    (void)state;
    msgw_value v;
    expect_ok("hukou_region", "120101", &v, 0); /* Heping, Tianjin */
    expect_ok("hukou_region", "110105", &v, 0); /* Chaoyang, Beijing */
    expect_ok("hukou_region", "131082", &v, 0); /* Sanhe, Langfang */
    /* every province: Zhengzhou, Shanghai, Guangzhou, Urumqi, and Dongguan, a prefecture-level
     * city without counties whose own code is the place of registration */
    expect_ok("hukou_region", "410105", &v, 0);
    expect_ok("hukou_region", "310101", &v, 0);
    expect_ok("residence_region", "440106", &v, 0);
    expect_ok("hukou_region", "650102", &v, 0);
    expect_ok("hukou_region", "441900", &v, 0);
    /* retired codes stay on ID cards and in old records: accepted, with a warning naming them */
    expect_warning("hukou_region", "320103", "code.warning",
                   "320103 is a retired GB/T 2260 code (白下区, last listed in GB/T 2260 revision "
                   "2012-10)");
    expect_warning("residence_region", "130621", "code.warning",
                   "130621 is a retired GB/T 2260 code (满城县");
    expect_warning("hukou_region", "131001", "code.warning", "(廊坊市 市辖区, last listed");
    expect_warning("hukou_region", "140471", "code.warning",
                   "140471 is a retired statistics-bureau code");
    expect_warning("insured_region", "139001", "code.warning",
                   "139001 is a retired GB/T 2260 code (定州市");
    expect_warning("hukou_region", "131071", "code.warning", "131071 is a statistics-bureau code");
    expect_error("hukou_region", "120199", "code.member", NULL);
    expect_error("hukou_region", "999999", "code.member", "\"999999\" is not a code of region");
    expect_error("hukou_region", "120000", "code.level", "province");
    expect_error("residence_region", "410100", "code.level", "prefecture");
    /* GB/T 2260 lists Taiwan, Hong Kong and Macao at province level only */
    expect_error("hukou_region", "810000", "code.level", "province");
    expect_ok("insured_region", "810000", &v, 0);
    expect_ok("insured_region", "310000", &v, 0);
}

static void test_dates_money_strings(void **state)
{
    (void)state;
    msgw_value v;
    expect_ok("birth_date", "1949-12-31", &v, 0);
    assert_int_equal(v.u.d, msgw_date_from_ymd(1949, 12, 31));
    expect_error("birth_date", "1999-02-30", "date.calendar", "not a real calendar date");
    expect_error("birth_date", "19990228", "date.format", NULL);
    expect_ok("income_monthly_fen", "101000", &v, 0);
    assert_int_equal(v.kind, MSGW_V_MONEY);
    assert_int_equal(v.u.i, 101000);
    expect_error("income_monthly_fen", "-1", "range", "fen");
    expect_error("income_monthly_fen", "1010.00", "money.format", NULL);
    expect_error("benefit_monthly_fen", "99999999999", "range", NULL);
    expect_ok("name", "张三", &v, 0);
    expect_error("name", "", "length", NULL);
    expect_error("condition_code", "HT10", "pattern", NULL);
    expect_ok("condition_code", "I10.x00x002", &v, 0); /* national clinical version */
    expect_ok("condition_code", "I10", &v, 0);
    expect_ok("condition_code", "F20.0", &v, 0);
}

static void test_certificate_number(void **state)
{
    (void)state;
    msgw_value v;
    expect_ok("disability_certificate_no", "11010519491231002X42", &v, 0);
    expect_error("disability_certificate_no", "11010519491231002X4", "certificate.format", "20");
    expect_error("disability_certificate_no", "11010519491231002X82", "certificate.format", NULL);
    expect_error("disability_certificate_no", "11010519491231002342", "certificate.format",
                 "check character");
}

/* A minimal disability record built by hand, then checked by the record rules. */
static msgw_record *disability_record(msgw_arena *a, const char *certno, const char *cat,
                                      const char *grade)
{
    msgw_record *r = msgw_arena_alloc(a, sizeof *r);
    size_t pc = 0, fc = 0;
    r->kind = "disability_certificate";
    msgw_person *p = msgw_record_add_person(r, a, &pc);
    strcpy(p->id_number, "11010519491231002X");
    msgw_fact *f = msgw_record_add_fact(r, a, &fc, "disability", "11010519491231002X");
    msgw_fact_add_attr(f, a, "disability_certificate_no", (msgw_value){MSGW_V_STRING, {.s = certno}});
    msgw_fact_add_attr(f, a, "disability_category", (msgw_value){MSGW_V_CODE, {.s = cat}});
    msgw_fact_add_attr(f, a, "disability_grade", (msgw_value){MSGW_V_CODE, {.s = grade}});
    msgw_fact_add_attr(f, a, "certificate_event", (msgw_value){MSGW_V_CODE, {.s = "issue"}});
    return r;
}

static void test_record_rules(void **state)
{
    (void)state;
    msgw_arena *a = msgw_arena_new(0);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_true(msgw_dict_check_record(dict(), disability_record(a, "11010519491231002X42", "4", "2"), &e, 0));
    assert_false(msgw_dict_check_record(dict(), disability_record(a, "11010519491231002X12", "4", "2"), &e, 0));
    assert_string_equal(e.v[0].rule, "certificate.agrees");
    assert_non_null(strstr(e.v[0].message, "category 1"));
    msgw_errors_clear(&e);
    /* another person's certificate number */
    assert_false(msgw_dict_check_record(dict(), disability_record(a, "12010119800101001542", "4", "2"), &e, 0));
    assert_string_equal(e.v[0].rule, "certificate.agrees");
    msgw_errors_clear(&e);
    /* period ending before it starts; an attribute the fact type does not have */
    msgw_record *r = disability_record(a, "11010519491231002X42", "4", "2");
    r->facts[0].valid_from = msgw_date_from_ymd(2024, 5, 1);
    r->facts[0].valid_to = msgw_date_from_ymd(2024, 4, 1);
    msgw_fact_add_attr(&r->facts[0], a, "care_level", (msgw_value){MSGW_V_CODE, {.s = "1"}});
    r->persons[0].birth_date = msgw_date_from_ymd(1949, 12, 30);
    assert_false(msgw_dict_check_record(dict(), r, &e, 3));
    assert_true(tu_has_error(&(msgw_batch){.errors = e}, "period.order", NULL));
    assert_true(tu_has_error(&(msgw_batch){.errors = e}, "fact.attribute", NULL));
    assert_true(tu_has_error(&(msgw_batch){.errors = e}, "person.birth_date_agrees", NULL));
    assert_true(msgw_errors_record_failed(&e, 3));
    assert_false(msgw_errors_record_failed(&e, 2));
    msgw_errors_clear(&e);
    msgw_arena_destroy(&a);
}

static void test_error_limit(void **state)
{
    (void)state;
    msgw_errors e;
    msgw_errors_init(&e);
    e.limit = 10;
    for (int i = 0; i < 100000; i++) msgw_error_add(&e, i, NULL, NULL, "r", "bad %d", i);
    assert_int_equal(e.n, 10);
    assert_int_equal(e.dropped, 100000 - 10);
    /* a record whose error was dropped is still known to have failed */
    assert_true(msgw_errors_record_failed(&e, 99999));
    msgw_errors_clear(&e);
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
        cmocka_unit_test(test_id_number),   cmocka_unit_test(test_code_lists),
        cmocka_unit_test(test_regions),     cmocka_unit_test(test_dates_money_strings),
        cmocka_unit_test(test_certificate_number), cmocka_unit_test(test_record_rules),
        cmocka_unit_test(test_error_limit),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
