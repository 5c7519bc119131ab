/* UTF-8 validation and GB18030 conversion at the edge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/base/text.h"

static void test_utf8(void **state)
{
    (void)state;
    const char ok[] = "王秀兰 abc 𠀀";
    assert_int_equal(msgw_utf8_valid_prefix(ok, strlen(ok)), strlen(ok));
    assert_int_equal(msgw_utf8_strlen("王秀兰", strlen("王秀兰")), 3);
    assert_int_equal(msgw_utf8_valid_prefix("ab\xC0\xAF", 4), 2);         /* overlong '/' */
    assert_int_equal(msgw_utf8_valid_prefix("ab\xED\xA0\x80", 5), 2);     /* surrogate */
    assert_int_equal(msgw_utf8_valid_prefix("ab\xF4\x90\x80\x80", 6), 2); /* > U+10FFFF */
    assert_int_equal(msgw_utf8_valid_prefix("ab\xE7\x8E", 4), 2);         /* truncated */
    assert_int_equal(msgw_utf8_valid_prefix("\xFF", 1), 0);
}

static void test_gb18030(void **state)
{
    (void)state;
    msgw_arena *a = msgw_arena_new(0);
    /* 王秀兰 in GB18030 (two-byte GBK range) and U+20000 in the four-byte range */
    const char gb[] = "\xCD\xF5\xD0\xE3\xC0\xBC" "\x95\x32\x82\x36";
    size_t n = 0, bad = 99;
    char *u = msgw_gb18030_to_utf8(gb, sizeof gb - 1, a, &n, &bad);
    assert_non_null(u);
    assert_string_equal(u, "王秀兰𠀀");
    size_t m = 0;
    char *back = msgw_utf8_to_gb18030(u, n, a, &m);
    assert_int_equal(m, sizeof gb - 1);
    assert_memory_equal(back, gb, m);
    /* an invalid sequence and a truncated one are located */
    assert_null(msgw_gb18030_to_utf8("ab\xCD", 3, a, &n, &bad));
    assert_int_equal(bad, 2);
    assert_null(msgw_gb18030_to_utf8("abc\xFF\xFF", 5, a, &n, &bad));
    assert_int_equal(bad, 3);
    assert_true(msgw_charset_is_gb("GB18030", 7));
    assert_true(msgw_charset_is_gb("gbk", 3));
    assert_false(msgw_charset_is_gb("utf-8", 5));
    msgw_arena_destroy(&a);
    assert_null(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_utf8), cmocka_unit_test(test_gb18030)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
