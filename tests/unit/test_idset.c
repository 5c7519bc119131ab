/*
 * The digest set (include/msgw/base/idset.h) the engine tells replays by: what is added is found,
 * nothing else is, a deletion keeps every other entry reachable (the probe chains it sat in are
 * shifted back), and the table grows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "msgw/base/idset.h"

static void id(char *buf, size_t len, int i)
{
    snprintf(buf, len, "hrss:CBDJ2026%08d", i);
}

static void test_idset(void **state)
{
    (void)state;
    msgw_idset *s = msgw_idset_new();
    char b[64];
    enum { N = 20000 };
    for (int i = 0; i < N; i++) {
        id(b, sizeof b, i);
        assert_true(msgw_idset_add(s, b));
    }
    id(b, sizeof b, 17);
    assert_false(msgw_idset_add(s, b)); /* already there */
    assert_int_equal(msgw_idset_count(s), N);
    assert_true(msgw_idset_bytes(s) >= N * 16 && msgw_idset_bytes(s) <= N * 16 * 4);
    for (int i = 0; i < N; i++) {
        id(b, sizeof b, i);
        assert_true(msgw_idset_has(s, b));
        id(b, sizeof b, N + i);
        assert_false(msgw_idset_has(s, b));
    }
    for (int i = 0; i < N; i += 2) { /* every other one, so deletions fall inside probe chains */
        id(b, sizeof b, i);
        msgw_idset_del(s, b);
    }
    id(b, sizeof b, N + 1);
    msgw_idset_del(s, b); /* not there: nothing happens */
    assert_int_equal(msgw_idset_count(s), N / 2);
    for (int i = 0; i < N; i++) {
        id(b, sizeof b, i);
        assert_int_equal(msgw_idset_has(s, b), i % 2 == 1);
    }
    id(b, sizeof b, 0);
    assert_true(msgw_idset_add(s, b)); /* deleted: new again */
    msgw_idset_destroy(&s);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
