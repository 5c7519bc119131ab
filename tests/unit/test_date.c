/* Dates are day numbers: calendar validity, round trips, ages, RFC 3339 instants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/base/date.h"

static void test_calendar(void **state)
{
    (void)state;
    msgw_date d;
    assert_true(msgw_date_parse_iso("2024-02-29", 10, &d));
    assert_false(msgw_date_parse_iso("2023-02-29", 10, &d));
    assert_false(msgw_date_parse_iso("1999-02-30", 10, &d));
    assert_false(msgw_date_parse_iso("1900-02-29", 10, &d));
    assert_true(msgw_date_parse_iso("2000-02-29", 10, &d));
    assert_false(msgw_date_parse_iso("2024-13-01", 10, &d));
    assert_false(msgw_date_parse_iso("2024-1-01", 9, &d));
    assert_false(msgw_date_parse_iso("2024/01/01", 10, &d));
    assert_false(msgw_date_parse_iso("2024-01-01Z", 11, &d));
    assert_true(msgw_date_parse_compact("19491231", 8, &d));
    assert_false(msgw_date_parse_compact("19490230", 8, &d));
}

static void test_roundtrip(void **state)
{
    (void)state;
    char buf[11];
    assert_int_equal(msgw_date_from_ymd(1970, 1, 1), 0);
    assert_int_equal(msgw_date_from_ymd(1969, 12, 31), -1);
    for (msgw_date d = msgw_date_from_ymd(1800, 1, 1); d < msgw_date_from_ymd(2100, 1, 1); d += 7) {
        msgw_date back;
        assert_true(msgw_date_parse_iso(msgw_date_format(d, buf), 10, &back));
        assert_int_equal(back, d);
    }
    assert_string_equal(msgw_date_format(msgw_date_from_ymd(1949, 12, 31), buf), "1949-12-31");
}

static void test_age(void **state)
{
    (void)state;
    msgw_date b = msgw_date_from_ymd(1960, 6, 15);
    assert_int_equal(msgw_date_age(b, msgw_date_from_ymd(2020, 6, 14)), 59);
    assert_int_equal(msgw_date_age(b, msgw_date_from_ymd(2020, 6, 15)), 60);
    msgw_date leap = msgw_date_from_ymd(2000, 2, 29);
    assert_int_equal(msgw_date_age(leap, msgw_date_from_ymd(2001, 2, 28)), 0);
    assert_int_equal(msgw_date_age(leap, msgw_date_from_ymd(2001, 3, 1)), 1);
}

static void test_time(void **state)
{
    (void)state;
    msgw_time t;
    char buf[28];
    assert_true(msgw_time_parse("2026-11-25T08:30:00+08:00", &t));
    assert_string_equal(msgw_time_format(t, buf), "2026-11-25T00:30:00.000000Z");
    assert_true(msgw_time_parse("2026-11-25T00:30:00.5Z", &t));
    assert_string_equal(msgw_time_format(t, buf), "2026-11-25T00:30:00.500000Z");
    assert_false(msgw_time_parse("2026-11-25T25:00:00Z", &t));
    assert_false(msgw_time_parse("2026-02-30T00:00:00Z", &t));
    assert_false(msgw_time_parse("2026-11-25T00:00:00", &t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
