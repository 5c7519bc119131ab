/* The rule language: compile errors at load, typed evaluation on views, absent values, households. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/engine/rules.h"
#include "testutil.h"

typedef struct fixture {
    msgw_rule_env *env;
    int64_t params[4];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->env = msgw_rule_env_new(tu_ctx()->dict);
    assert_int_equal(msgw_rule_env_param(f->env, "dibao_standard", MSGW_RT_MONEY), 0);
    assert_int_equal(msgw_rule_env_param(f->env, "care_subsidy", MSGW_RT_MONEY), 1);
    f->params[0] = 101000;
    f->params[1] = MSGW_ABSENT; /* no value on the evaluation date */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    msgw_rule_env_destroy(&f->env);
    free(f);
    tu_ctx_free();
    return 0;
}

static void expect_compile_error(fixture *f, const char *src, msgw_rtype want, const char *part)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_rule *r = msgw_rule_compile(f->env, src, want, "tianjin.json: TJ-X", &e);
    assert_null(r);
    assert_int_equal(e.nerrors, 1);
    assert_string_equal(e.v[0].rule, "rule.compile");
    assert_non_null(strstr(e.v[0].location, "tianjin.json: TJ-X, column "));
    if (!strstr(e.v[0].message, part)) {
        fprintf(stderr, "'%s' lacks '%s'\n", e.v[0].message, part);
        fail();
    }
    msgw_errors_clear(&e);
}

static void test_compile_errors(void **state)
{
    fixture *f = *state;
    expect_compile_error(f, "person.shoe_size > 3", MSGW_RT_BOOL, "person has no field shoe_size");
    expect_compile_error(f, "disability.colour == \"1\"", MSGW_RT_BOOL, "no attribute colour");
    expect_compile_error(f, "unicorn.horn == \"1\"", MSGW_RT_BOOL, "unknown fact type");
    expect_compile_error(f, "person.age > 1010yuan", MSGW_RT_BOOL, "cannot compare int with money");
    expect_compile_error(f, "disability.disability_grade <= \"5\"", MSGW_RT_BOOL, "\"5\" is not a code of disability_grade");
    expect_compile_error(f, "household.per_capita_income < $undefined", MSGW_RT_BOOL, "undefined parameter $undefined");
    expect_compile_error(f, "person.age + 1", MSGW_RT_BOOL, "the rule is a int, it must be a bool");
    expect_compile_error(f, "person.age > 10.5", MSGW_RT_BOOL, "never with decimals");
    expect_compile_error(f, "person.age > 60 and", MSGW_RT_BOOL, "expected a value");
    expect_compile_error(f, "person.birth_date > 1999-02-30", MSGW_RT_BOOL, "not a real calendar date");
    expect_compile_error(f, "person.hukou_region within \"1\"", MSGW_RT_BOOL, "2, 4 or 6 digits");
}

/* A person with facts, as views are built from canonical records. */
static void person_view(fixture *f, msgw_view *v, int64_t *slots, const char *birth, const char *region,
                        const char *grade, const char *revoked_on, msgw_date date)
{
    msgw_arena *a = msgw_arena_new(0);
    msgw_view_init(f->env, v, slots);
    msgw_person p;
    msgw_person_init(&p);
    msgw_date_parse_iso(birth, 10, &p.birth_date);
    p.hukou_region = region;
    msgw_view_set_person(f->env, v, &p);
    if (grade) {
        msgw_fact fact;
        msgw_fact_init(&fact);
        fact.type = "disability";
        fact.valid_from = msgw_date_from_ymd(2020, 1, 1);
        msgw_fact_add_attr(&fact, a, "disability_grade", (msgw_value){MSGW_V_CODE, {.s = grade}});
        msgw_fact_add_attr(&fact, a, "disability_category", (msgw_value){MSGW_V_CODE, {.s = "4"}});
        msgw_view_apply_fact(f->env, v, &fact, date);
        if (revoked_on) {
            msgw_fact rev;
            msgw_fact_init(&rev);
            rev.type = "disability";
            msgw_date_parse_iso(revoked_on, 10, &rev.valid_from);
            rev.valid_to = rev.valid_from;
            msgw_view_apply_fact(f->env, v, &rev, date);
        }
    }
    msgw_arena_destroy(&a);
}

static int64_t eval(fixture *f, const char *src, msgw_rtype t, const msgw_view *v, const msgw_hview *h,
                    msgw_date date, msgw_eval_status *st)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_rule *r = msgw_rule_compile(f->env, src, t, "test", &e);
    if (!r) tu_dump_errors(&(msgw_batch){.errors = e});
    assert_non_null(r);
    msgw_eval_ctx ctx = {date, f->params, v, h, NULL};
    int64_t out = 0;
    int bad = -1;
    msgw_eval_status s = msgw_rule_eval(r, &ctx, &out, &bad);
    if (st) *st = s;
    else assert_int_equal(s, MSGW_EVAL_OK);
    msgw_rule_destroy(&r);
    msgw_errors_clear(&e);
    return out;
}

static void test_severe_disability_care(void **state)
{
    fixture *f = *state;
    const char *rule = "person.hukou_region within \"12\" and disability.disability_grade <= \"2\"";
    int64_t *slots = calloc(msgw_rule_env_slots(f->env), sizeof *slots);
    msgw_view v;
    msgw_date d = msgw_date_from_ymd(2026, 11, 2);
    person_view(f, &v, slots, "1950-05-05", "120116", "2", NULL, d);
    assert_int_equal(eval(f, rule, MSGW_RT_BOOL, &v, NULL, d, NULL), 1);
    person_view(f, &v, slots, "1950-05-05", "120116", "3", NULL, d); /* grade 3 is not severe */
    assert_int_equal(eval(f, rule, MSGW_RT_BOOL, &v, NULL, d, NULL), 0);
    person_view(f, &v, slots, "1950-05-05", "131082", "1", NULL, d); /* Langfang hukou */
    assert_int_equal(eval(f, rule, MSGW_RT_BOOL, &v, NULL, d, NULL), 0);
    person_view(f, &v, slots, "1950-05-05", "120116", "1", "2026-10-01", d); /* revoked */
    assert_int_equal(eval(f, rule, MSGW_RT_BOOL, &v, NULL, d, NULL), 0);
    assert_int_equal(eval(f, "has(disability)", MSGW_RT_BOOL, &v, NULL, d, NULL), 0);
    /* before the revocation it was current */
    msgw_date before = msgw_date_from_ymd(2026, 9, 30);
    person_view(f, &v, slots, "1950-05-05", "120116", "1", "2026-10-01", before);
    assert_int_equal(eval(f, rule, MSGW_RT_BOOL, &v, NULL, before, NULL), 1);
    /* no certificate at all: absent grade compares false, and not() makes it true */
    person_view(f, &v, slots, "1950-05-05", "120116", NULL, NULL, d);
    assert_int_equal(eval(f, rule, MSGW_RT_BOOL, &v, NULL, d, NULL), 0);
    assert_int_equal(eval(f, "not (disability.disability_grade <= \"2\")", MSGW_RT_BOOL, &v, NULL, d, NULL), 1);
    free(slots);
}

static void test_age_boundaries(void **state)
{
    fixture *f = *state;
    int64_t *slots = calloc(msgw_rule_env_slots(f->env), sizeof *slots);
    msgw_view v;
    msgw_date d = msgw_date_from_ymd(2026, 11, 25);
    person_view(f, &v, slots, "1946-11-25", "120101", NULL, NULL, d);
    assert_int_equal(eval(f, "person.age >= 80", MSGW_RT_BOOL, &v, NULL, d, NULL), 1);
    person_view(f, &v, slots, "1946-11-26", "120101", NULL, NULL, d); /* 80 tomorrow */
    assert_int_equal(eval(f, "person.age >= 80", MSGW_RT_BOOL, &v, NULL, d, NULL), 0);
    assert_int_equal(eval(f, "person.age", MSGW_RT_INT, &v, NULL, d, NULL), 79);
    assert_int_equal(eval(f, "years_since(person.birth_date) == person.age", MSGW_RT_BOOL, &v, NULL, d, NULL), 1);
    free(slots);
}

/* person.residence_place: the residence fact, else the registered residence, else the hukou, else the household. */
static void test_residence_place(void **state)
{
    fixture *f = *state;
    int64_t *slots = calloc(msgw_rule_env_slots(f->env), sizeof *slots);
    msgw_view v;
    msgw_date d = msgw_date_from_ymd(2026, 11, 25);
    const char *in_tj = "person.residence_place within \"12\"";
    person_view(f, &v, slots, "1950-01-01", "410105", NULL, NULL, d); /* hukou in Zhengzhou only */
    assert_int_equal(eval(f, in_tj, MSGW_RT_BOOL, &v, NULL, d, NULL), 0);
    assert_int_equal(eval(f, "person.residence_place within \"41\"", MSGW_RT_BOOL, &v, NULL, d, NULL), 1);
    v.slots[msgw_rule_env_slot(f->env, NULL, "residence_region")] = 120104; /* registered in Tianjin */
    assert_int_equal(eval(f, in_tj, MSGW_RT_BOOL, &v, NULL, d, NULL), 1);
    msgw_fact moved;
    msgw_fact_init(&moved);
    moved.type = "residence";
    moved.valid_from = msgw_date_from_ymd(2026, 6, 1);
    msgw_arena *a = msgw_arena_new(0);
    msgw_fact_add_attr(&moved, a, "residence_region", (msgw_value){MSGW_V_CODE, {.s = "110105"}});
    msgw_view_apply_fact(f->env, &v, &moved, d); /* a residence fact in Beijing outranks the registration */
    assert_int_equal(eval(f, in_tj, MSGW_RT_BOOL, &v, NULL, d, NULL), 0);
    assert_int_equal(eval(f, "person.residence_place within \"11\"", MSGW_RT_BOOL, &v, NULL, d, NULL), 1);
    /* no region of the person at all: the household's */
    person_view(f, &v, slots, "1950-01-01", NULL, NULL, NULL, d);
    msgw_hview h = {&v, 1, 1, MSGW_ABSENT, 120116, MSGW_ABSENT};
    assert_int_equal(eval(f, in_tj, MSGW_RT_BOOL, &v, &h, d, NULL), 1);
    assert_int_equal(eval(f, in_tj, MSGW_RT_BOOL, &v, NULL, d, NULL), 0);
    msgw_arena_destroy(&a);
    free(slots);
}

static msgw_date dated(fixture *f, const char *src, const msgw_view *v, const msgw_hview *h, msgw_date date,
                        const msgw_date *param_from, int64_t want)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_rule *r = msgw_rule_compile(f->env, src, MSGW_RT_BOOL, "test", &e);
    assert_non_null(r);
    msgw_eval_ctx ctx = {date, f->params, v, h, param_from};
    int64_t out = -1;
    msgw_date since = 0;
    int bad = -1;
    msgw_rule_eval_dated(r, &ctx, &out, &since, &bad);
    assert_int_equal(out, want);
    int64_t plain = -1;
    msgw_rule_eval(r, &ctx, &plain, &bad); /* dating never changes the value */
    assert_int_equal(plain, out);
    msgw_rule_destroy(&r);
    msgw_errors_clear(&e);
    return since;
}

static msgw_date ymd(int y, int m, int d)
{
    return msgw_date_from_ymd(y, m, d);
}

/*
 * Dating a rule's value: the latest start of the facts that decide it, the birthday on which an
 * age comparison turned, the day a parameter value took effect; of an `or`, the side that decided.
 */
static void test_dated(void **state)
{
    fixture *f = *state;
    int64_t *slots = calloc(msgw_rule_env_slots(f->env), sizeof *slots);
    msgw_view v;
    msgw_date d = ymd(2026, 11, 25);
    person_view(f, &v, slots, "1961-11-25", "120101", "2", NULL, d); /* grade 2 since 2020-01-01 */
    assert_int_equal(dated(f, "person.age >= 65", &v, NULL, d, NULL, 1), ymd(2026, 11, 25));
    assert_int_equal(dated(f, "person.age >= 60", &v, NULL, d, NULL, 1), ymd(2021, 11, 25));
    assert_int_equal(dated(f, "person.age < 60", &v, NULL, d, NULL, 0), ymd(2021, 11, 25));
    assert_int_equal(dated(f, "person.age < 70", &v, NULL, d, NULL, 1), ymd(1961, 11, 25)); /* since birth */
    assert_int_equal(dated(f, "80 > person.age", &v, NULL, d, NULL, 1), ymd(1961, 11, 25));
    assert_int_equal(dated(f, "64 < person.age", &v, NULL, d, NULL, 1), ymd(2026, 11, 25));
    assert_int_equal(dated(f, "person.age <= 6", &v, NULL, d, NULL, 0), ymd(1968, 11, 25));
    assert_int_equal(dated(f, "has(disability)", &v, NULL, d, NULL, 1), ymd(2020, 1, 1));
    assert_int_equal(dated(f, "not has(death)", &v, NULL, d, NULL, 1), MSGW_DATE_NONE);
    assert_int_equal(dated(f, "person.hukou_region within \"12\" and not has(death) and has(disability)", &v, NULL, d,
                           NULL, 1),
                     ymd(2020, 1, 1));
    /* and: the later of both sides */
    assert_int_equal(dated(f, "disability.disability_grade in [\"1\", \"2\"] and person.age >= 60", &v, NULL, d, NULL, 1),
                     ymd(2021, 11, 25));
    /* or: the side that decided */
    assert_int_equal(dated(f, "person.age >= 100 or person.age >= 60", &v, NULL, d, NULL, 1), ymd(2021, 11, 25));
    assert_int_equal(dated(f, "has(disability) or person.age >= 60", &v, NULL, d, NULL, 1), ymd(2020, 1, 1));
    /* a parameter value counts from the day it took effect */
    msgw_date from[4] = {ymd(2027, 1, 1), MSGW_DATE_NONE, MSGW_DATE_NONE, MSGW_DATE_NONE};
    assert_int_equal(dated(f, "has(disability) and 100yuan < $dibao_standard", &v, NULL, d, from, 1), ymd(2027, 1, 1));
    /* a 29 February birthday is crossed on 1 March in other years */
    person_view(f, &v, slots, "1960-02-29", "120101", NULL, NULL, d);
    assert_int_equal(dated(f, "person.age >= 65", &v, NULL, d, NULL, 1), ymd(2025, 3, 1));
    assert_int_equal(dated(f, "person.age >= 64", &v, NULL, d, NULL, 1), ymd(2024, 2, 29));
    /* includes reads every current fact of the type: dated from the latest start */
    msgw_fact ins;
    msgw_fact_init(&ins);
    ins.type = "insurance";
    ins.valid_from = ymd(2019, 5, 1);
    msgw_arena *a = msgw_arena_new(0);
    msgw_fact_add_attr(&ins, a, "insurance_type", (msgw_value){MSGW_V_CODE, {.s = "310"}});
    msgw_view_apply_fact(f->env, &v, &ins, d);
    assert_int_equal(dated(f, "insurance.insurance_type includes \"310\"", &v, NULL, d, NULL, 1), ymd(2019, 5, 1));
    msgw_arena_destroy(&a);
    /* a revoked certificate: "no certificate" holds from the day after it ended */
    person_view(f, &v, slots, "1961-11-25", "120101", "2", "2026-03-01", d);
    assert_int_equal(dated(f, "not has(disability)", &v, NULL, d, NULL, 1), ymd(2026, 3, 2));
    free(slots);
}

static void test_household_money(void **state)
{
    fixture *f = *state;
    size_t n = msgw_rule_env_slots(f->env);
    int64_t *slots = calloc(3 * n, sizeof *slots);
    msgw_view m[3];
    msgw_date d = msgw_date_from_ymd(2026, 11, 25);
    msgw_arena *a = msgw_arena_new(0);
    const int64_t incomes[3] = {202999, 100000, 0}; /* per capita: 302999 / 3 = 100999 fen */
    for (int i = 0; i < 3; i++) {
        person_view(f, &m[i], slots + i * n, "1980-01-01", "120101", i == 2 ? "1" : NULL, NULL, d);
        msgw_fact inc;
        msgw_fact_init(&inc);
        inc.type = "income";
        msgw_fact_add_attr(&inc, a, "income_monthly_fen", (msgw_value){MSGW_V_MONEY, {.i = incomes[i]}});
        msgw_view_apply_fact(f->env, &m[i], &inc, d);
    }
    msgw_hview h = {m, 3, 0, 0, 120101, MSGW_ABSENT};
    msgw_hview_compute(f->env, &h);
    assert_int_equal(h.per_capita_income, 100999);
    assert_int_equal(eval(f, "household.per_capita_income < $dibao_standard", MSGW_RT_BOOL, &m[0], &h, d, NULL), 1);
    /* exactly at the standard is not below it */
    m[0].slots[msgw_rule_env_slots(f->env) - 1] += 0;
    assert_int_equal(eval(f, "101000fen < $dibao_standard", MSGW_RT_BOOL, &m[0], &h, d, NULL), 0);
    assert_int_equal(eval(f, "$dibao_standard * 150 / 100", MSGW_RT_MONEY, &m[0], &h, d, NULL), 151500);
    assert_int_equal(eval(f, "$dibao_standard - household.per_capita_income", MSGW_RT_MONEY, &m[0], &h, d, NULL), 1);
    assert_int_equal(eval(f, "count_members(has(disability))", MSGW_RT_INT, &m[0], &h, d, NULL), 1);
    assert_int_equal(eval(f, "any_member(disability.disability_grade == \"1\")", MSGW_RT_BOOL, &m[0], &h, d, NULL), 1);
    assert_int_equal(eval(f, "all_members(person.age >= 18)", MSGW_RT_BOOL, &m[0], &h, d, NULL), 1);
    assert_int_equal(eval(f, "sum_members(income.income_monthly_fen)", MSGW_RT_MONEY, &m[0], &h, d, NULL), 302999);
    /* a parameter with no value on the date is an error, not "not eligible" */
    msgw_eval_status st;
    eval(f, "$care_subsidy > 0fen", MSGW_RT_BOOL, &m[0], &h, d, &st);
    assert_int_equal(st, MSGW_EVAL_NO_PARAM);
    msgw_arena_destroy(&a);
    free(slots);
}

static uint64_t required(fixture *f, const char *src)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_rule *r = msgw_rule_compile(f->env, src, MSGW_RT_BOOL, "test", &e);
    assert_non_null(r);
    uint64_t m = msgw_rule_required(r);
    msgw_rule_destroy(&r);
    msgw_errors_clear(&e);
    return m;
}

/* The facts without which a rule cannot be true: the engine skips such rules outright. */
static void test_required_facts(void **state)
{
    fixture *f = *state;
    uint64_t dis = (uint64_t)1 << msgw_rule_env_fact_index(f->env, "disability");
    uint64_t orph = (uint64_t)1 << msgw_rule_env_fact_index(f->env, "orphan");
    assert_int_equal(required(f, "has(disability) and person.age > 3"), dis);
    assert_int_equal(required(f, "disability.disability_grade <= \"2\" and orphan.orphan_status == \"1\""), dis | orph);
    assert_int_equal(required(f, "has(disability) or has(orphan)"), 0);
    assert_int_equal(required(f, "(has(disability) and has(orphan)) or has(disability)"), dis);
    assert_int_equal(required(f, "not has(death) and person.age >= 80"), 0);
    assert_int_equal(required(f, "not (disability.disability_grade <= \"2\")"), 0);
    assert_int_equal(required(f, "any_member(has(disability))"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_severe_disability_care),
        cmocka_unit_test(test_age_boundaries),
        cmocka_unit_test(test_residence_place),
        cmocka_unit_test(test_dated),
        cmocka_unit_test(test_household_money),
        cmocka_unit_test(test_required_facts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
