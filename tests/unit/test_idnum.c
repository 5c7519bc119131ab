/* GB 11643: check characters (including X), the standard's worked example, dates, legacy numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/base/idnum.h"

static msgw_idnum_status norm(const char *s, char out[19], char *want, char *found)
{
    return msgw_idnum_normalize(s, strlen(s), out, want, found);
}

static void test_worked_example(void **state)
{
    (void)state;
    char out[19];
    assert_int_equal(msgw_idnum_check_char("11010519491231002"), 'X');
    assert_int_equal(norm("11010519491231002X", out, NULL, NULL), MSGW_IDNUM_OK);
    assert_string_equal(out, "11010519491231002X");
    /* lower-case x is accepted and normalised */
    assert_int_equal(norm("11010519491231002x", out, NULL, NULL), MSGW_IDNUM_OK);
    assert_string_equal(out, "11010519491231002X");
}

static void test_check_character(void **state)
{
    (void)state;
    char out[19], want = 0, found = 0;
    assert_int_equal(norm("110105194912310023", out, &want, &found), MSGW_IDNUM_CHECK);
    assert_int_equal(want, 'X');
    assert_int_equal(found, '3');
    /* every check value 0..10 maps through 1 0 X 9 8 7 6 5 4 3 2 */
    const char *map = "10X98765432";
    char d[18] = "12010119800101001";
    for (int seq = 0; seq < 200; seq++) {
        d[14] = (char)('0' + seq / 100);
        d[15] = (char)('0' + seq / 10 % 10);
        d[16] = (char)('0' + seq % 10);
        char c = msgw_idnum_check_char(d);
        assert_non_null(strchr(map, c));
        char full[19];
        memcpy(full, d, 17);
        full[17] = c;
        full[18] = '\0';
        assert_int_equal(norm(full, out, NULL, NULL), MSGW_IDNUM_OK);
    }
}

static void test_bad_structure(void **state)
{
    (void)state;
    char out[19];
    assert_int_equal(norm("1101051949123100", out, NULL, NULL), MSGW_IDNUM_LENGTH);
    assert_int_equal(norm("11010519491231002XX", out, NULL, NULL), MSGW_IDNUM_LENGTH);
    assert_int_equal(norm("1101051949123100AX", out, NULL, NULL), MSGW_IDNUM_SYNTAX);
    assert_int_equal(norm("01010519491231002X", out, NULL, NULL), MSGW_IDNUM_SYNTAX);
    /* 1999-02-30 is not a date, whatever the check character says */
    char bad[19] = "11010519990230001";
    bad[17] = msgw_idnum_check_char(bad);
    bad[18] = '\0';
    assert_int_equal(norm(bad, out, NULL, NULL), MSGW_IDNUM_DATE);
    char future[19] = "11010521990101001";
    future[17] = msgw_idnum_check_char(future);
    future[18] = '\0';
    assert_int_equal(norm(future, out, NULL, NULL), MSGW_IDNUM_FUTURE);
}

static void test_legacy(void **state)
{
    (void)state;
    char out[19];
    assert_int_equal(norm("110105491231002", out, NULL, NULL), MSGW_IDNUM_CONVERTED);
    assert_string_equal(out, "11010519491231002X");
    assert_int_equal(norm("110105490230002", out, NULL, NULL), MSGW_IDNUM_DATE);
}

static void test_birth_sex_mask(void **state)
{
    (void)state;
    char m[19];
    assert_int_equal(msgw_idnum_birth_date("11010519491231002X"), msgw_date_from_ymd(1949, 12, 31));
    assert_int_equal(msgw_idnum_sex("11010519491231002X"), 2);
    assert_int_equal(msgw_idnum_sex("11010519491231001X"), 1);
    assert_string_equal(msgw_idnum_mask("11010519491231002X", m), "110105********002X");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_example), cmocka_unit_test(test_check_character),
        cmocka_unit_test(test_bad_structure),  cmocka_unit_test(test_legacy),
        cmocka_unit_test(test_birth_sex_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
