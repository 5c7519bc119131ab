/*
 * The Bloom filter (include/msgw/base/bloom.h) the engine tells replays by: whatever was added is
 * "maybe", never "no"; ids never added are "no" but for the expected few false positives at the
 * size it was made for; an id added through its digest (as msgw_idset holds it) is the id added.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "msgw/base/bloom.h"
#include "msgw/base/idset.h"

static void id(char *buf, size_t len, int i)
{
    snprintf(buf, len, "hrss:CBDJ2026%08d", i);
}

static void test_no_false_negative(void **state)
{
    (void)state;
    enum { N = 200000 };
    msgw_bloom *b = msgw_bloom_new(N);
    assert_int_equal(msgw_bloom_bytes(b), (1u << 22) / 8); /* 16 bits an id, rounded up to 2^22 */
    char s[64];
    for (int i = 0; i < N; i++) {
        id(s, sizeof s, i);
        msgw_bloom_add(b, s);
    }
    assert_int_equal(msgw_bloom_count(b), N);
    int positives = 0;
    for (int i = 0; i < N; i++) {
        id(s, sizeof s, i);
        assert_true(msgw_bloom_maybe(b, s));
        id(s, sizeof s, N + i);
        positives += msgw_bloom_maybe(b, s);
    }
    /* at about 21 bits an id and 11 hashes: about 0.01 %; 0.2 % would be a broken hash */
    assert_true(positives < N / 500);
    msgw_bloom_destroy(&b);
    assert_null(b);
}

static void add_digest(void *ud, const unsigned char digest[16])
{
    msgw_bloom_add_digest(ud, digest);
}

static void test_digests_are_ids(void **state)
{
    (void)state;
    msgw_idset *set = msgw_idset_new();
    char s[64];
    for (int i = 0; i < 1000; i++) {
        id(s, sizeof s, i);
        msgw_idset_add(set, s);
    }
    msgw_bloom *b = msgw_bloom_new(1000);
    assert_int_equal(msgw_bloom_bytes(b), (1u << 20) / 8); /* the least */
    msgw_idset_each(set, add_digest, b);
    assert_int_equal(msgw_bloom_count(b), 1000);
    int positives = 0;
    for (int i = 0; i < 1000; i++) {
        id(s, sizeof s, i);
        assert_true(msgw_bloom_maybe(b, s));
        id(s, sizeof s, 5000 + i);
        positives += msgw_bloom_maybe(b, s);
    }
    assert_true(positives <= 1);
    msgw_bloom_destroy(&b);
    msgw_idset_destroy(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_false_negative),
        cmocka_unit_test(test_digests_are_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
