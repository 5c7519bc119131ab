/* The canonical model's builders and comparisons, batches, and the ID map (deletion included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/base/idmap.h"
#include "msgw/model/model.h"

static void test_record_builders(void **state)
{
    (void)state;
    msgw_arena *a = msgw_arena_new(0);
    msgw_record r = {0};
    size_t pcap = 0, fcap = 0;
    for (int i = 0; i < 20; i++) { /* grows past the first capacity */
        msgw_person *p = msgw_record_add_person(&r, a, &pcap);
        msgw_person_init(p);
        snprintf(p->id_number, sizeof p->id_number, "12010119500101%04d", i);
    }
    assert_int_equal(r.npersons, 20);
    assert_non_null(msgw_record_person(&r, "120101195001010007"));
    assert_null(msgw_record_person(&r, "120101195001010099"));
    assert_int_equal(r.persons[0].birth_date, MSGW_DATE_NONE); /* init: nothing known */
    msgw_fact *f = msgw_record_add_fact(&r, a, &fcap, "disability", "120101195001010007");
    assert_string_equal(f->subject, "120101195001010007");
    assert_int_equal(f->valid_from, MSGW_DATE_NONE);
    msgw_fact_add_attr(f, a, "disability_grade", (msgw_value){MSGW_V_CODE, {.s = "2"}});
    msgw_fact_add_attr(f, a, "benefit_monthly_fen", (msgw_value){MSGW_V_MONEY, {.i = 101000}});
    assert_string_equal(msgw_fact_attr(f, "disability_grade")->v.u.s, "2");
    assert_int_equal(msgw_fact_attr(f, "benefit_monthly_fen")->v.u.i, 101000);
    assert_null(msgw_fact_attr(f, "nothing"));
    msgw_arena_destroy(&a);
}

static void test_values(void **state)
{
    (void)state;
    msgw_value code2 = {MSGW_V_CODE, {.s = "2"}}, code2b = {MSGW_V_CODE, {.s = "2"}};
    msgw_value str2 = {MSGW_V_STRING, {.s = "2"}}, money = {MSGW_V_MONEY, {.i = 5}}, n5 = {MSGW_V_INT, {.i = 5}};
    assert_true(msgw_value_equal(&code2, &code2b));
    assert_false(msgw_value_equal(&code2, &str2)); /* a code is not the text that spells it */
    assert_false(msgw_value_equal(&money, &n5));   /* 5 fen is not the number 5 */
    char buf[MSGW_VALUE_TEXT_MAX];
    msgw_value date = {MSGW_V_DATE, {.d = msgw_date_from_ymd(2026, 12, 6)}};
    assert_string_equal(msgw_value_text(&date, buf), "2026-12-06");
    msgw_value big = {MSGW_V_MONEY, {.i = INT64_MIN}};
    assert_string_equal(msgw_value_text(&big, buf), "-9223372036854775808");
    msgw_value none = {MSGW_V_NONE, {0}};
    assert_null(msgw_value_text(&none, buf));
}

static void test_batch(void **state)
{
    (void)state;
    msgw_batch *b = msgw_batch_new();
    msgw_record *ok = msgw_arena_alloc(b->arena, sizeof *ok);
    memset(ok, 0, sizeof *ok);
    assert_int_equal(msgw_batch_add(b, ok, "line 1"), 0);
    assert_int_equal(msgw_batch_add(b, NULL, "line 9"), 1); /* a rejected record keeps its place */
    assert_int_equal(b->nitems, 2);
    assert_int_equal(msgw_batch_count_ok(b), 1);
    msgw_batch_destroy(&b);
    assert_null(b);
}

/* Deletion with linear probing keeps every other key findable, whatever the collisions. */
static void test_idmap(void **state)
{
    (void)state;
    msgw_idmap *m = msgw_idmap_new();
    char key[32];
    for (long i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%ld", i);
        msgw_idmap_put(m, key, i);
    }
    assert_int_equal(msgw_idmap_count(m), 5000);
    for (long i = 0; i < 5000; i += 3) {
        snprintf(key, sizeof key, "k%ld", i);
        msgw_idmap_del(m, key);
    }
    msgw_idmap_del(m, "never there");
    for (long i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%ld", i);
        assert_int_equal(msgw_idmap_get(m, key), i % 3 == 0 ? -1 : i);
    }
    assert_int_equal(msgw_idmap_count(m), 5000 - 1667);
    msgw_idmap_put(m, "k3", 33); /* a deleted key comes back */
    assert_int_equal(msgw_idmap_get(m, "k3"), 33);
    msgw_idmap_destroy(&m);
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_builders),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_idmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
