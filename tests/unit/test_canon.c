/* Canonical JSON: decode, encode, round trip, digests, and located errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/decode/decode.h"
#include "msgw/model/canon.h"
#include "testutil.h"

static void test_decode_sample(void **state)
{
    (void)state;
    size_t len;
    char *doc = tu_read_file("tests/data/canonical/roster.json", &len);
    msgw_batch *b = tu_decode("canonical", NULL, doc, len);
    tu_dump_errors(b);
    assert_int_equal(b->nitems, 1);
    const msgw_record *r = b->items[0].record;
    assert_non_null(r);
    assert_string_equal(r->kind, "household_assistance_roster");
    assert_string_equal(r->message_id, "mca:TJ-HP-2024-000123");
    assert_int_equal(r->npersons, 2);
    assert_string_equal(r->persons[0].name, "王秀兰");
    assert_int_equal(r->persons[0].birth_date, msgw_date_from_ymd(1956, 3, 7));
    assert_non_null(r->household);
    assert_int_equal(r->household->nmembers, 2);
    assert_string_equal(r->household->members[0].relationship, "02");
    const msgw_attr *benefit = msgw_fact_attr(&r->facts[0], "benefit_monthly_fen");
    assert_int_equal(benefit->v.kind, MSGW_V_MONEY);
    assert_int_equal(benefit->v.u.i, 101000);
    assert_int_equal(r->facts[0].valid_from, msgw_date_from_ymd(2024, 1, 1));
    assert_int_equal(r->facts[0].valid_to, MSGW_DATE_NONE);
    msgw_batch_destroy(&b);
    free(doc);
}

static void test_round_trip_and_digest(void **state)
{
    (void)state;
    size_t len;
    char *doc = tu_read_file("tests/data/canonical/roster.json", &len);
    msgw_batch *b = tu_decode("canonical", NULL, doc, len);
    const msgw_record *r = b->items[0].record;
    msgw_buf out;
    msgw_buf_init(&out);
    const msgw_adapter *ad = msgw_adapter_find("canonical");
    assert_true(ad->encode(tu_ctx(), ad->media_types[0], &r, 1, &out, &b->errors));
    msgw_batch *b2 = tu_decode("canonical", NULL, out.data, out.len);
    assert_non_null(b2->items[0].record);
    assert_true(msgw_record_equal(r, b2->items[0].record));
    char d1[65], d2[65];
    msgw_canon_digest(r, d1);
    msgw_canon_digest(b2->items[0].record, d2);
    assert_string_equal(d1, d2);
    /* one changed fen changes the digest */
    ((msgw_attr *)msgw_fact_attr(&b2->items[0].record->facts[0], "benefit_monthly_fen"))->v.u.i++;
    msgw_canon_digest(b2->items[0].record, d2);
    assert_string_not_equal(d1, d2);
    msgw_buf_free(&out);
    msgw_batch_destroy(&b2);
    msgw_batch_destroy(&b);
    free(doc);
}

/* The direct writer (digests, normalize) and jansson's dump give the same bytes. */
static void test_direct_writer_matches_jansson(void **state)
{
    (void)state;
    size_t len;
    char *doc = tu_read_file("tests/data/canonical/roster.json", &len);
    msgw_batch *b = tu_decode("canonical", NULL, doc, len);
    msgw_record *r = b->items[0].record;
    r->recorded_at = 1764000000123456LL;
    r->persons[0].name = "王\t\"秀\\兰\x01";
    msgw_buf x, y;
    msgw_buf_init(&x);
    msgw_buf_init(&y);
    msgw_canon_write(r, &x);
    msgw_canon_write_jansson(r, &y);
    assert_string_equal(x.data, y.data);
    r->household = NULL;
    r->source_department = NULL;
    msgw_buf_reset(&x);
    msgw_buf_reset(&y);
    msgw_canon_write(r, &x);
    msgw_canon_write_jansson(r, &y);
    assert_string_equal(x.data, y.data);
    msgw_buf_free(&x);
    msgw_buf_free(&y);
    msgw_batch_destroy(&b);
    free(doc);
}

static void test_digest_message_id(void **state)
{
    (void)state;
    const char doc[] = "{\"kind\":\"death\",\"source\":{\"department\":\"health\"},"
                       "\"persons\":[{\"id_number\":\"11010519491231002X\"}],"
                       "\"facts\":[{\"type\":\"death\",\"subject\":\"11010519491231002X\","
                       "\"attributes\":{\"death_date\":\"2024-05-01\"}}]}";
    msgw_batch *b = tu_decode("canonical", NULL, doc, sizeof doc - 1);
    assert_non_null(b->items[0].record);
    assert_int_equal(strncmp(b->items[0].record->message_id, "health:sha256:", 14), 0);
    assert_int_equal(strlen(b->items[0].record->message_id), 14 + 64);
    msgw_batch_destroy(&b);
}

static void test_errors_located(void **state)
{
    (void)state;
    const char doc[] =
        "[{\"kind\":\"death\",\"source\":{\"department\":\"health\"},"
        "\"persons\":[{\"id_number\":\"110105194912310023\"}],\"facts\":[]},"
        "{\"kind\":\"death\",\"source\":{\"department\":\"health\"},"
        "\"persons\":[{\"id_number\":\"11010519491231002X\"}],"
        "\"facts\":[{\"type\":\"death\",\"subject\":\"11010519491231002X\","
        "\"attributes\":{\"death_date\":\"1999-02-30\"}}]},"
        "{\"kind\":\"death\",\"source\":{\"department\":\"health\"},"
        "\"persons\":[{\"id_number\":\"11010519491231002X\"}],"
        "\"facts\":[{\"type\":\"death\",\"subject\":\"11010519491231002X\","
        "\"attributes\":{\"death_date\":\"2020-02-29\"}}]}]";
    msgw_batch *b = tu_decode("canonical", NULL, doc, sizeof doc - 1);
    assert_int_equal(b->nitems, 3);
    assert_null(b->items[0].record);
    assert_null(b->items[1].record);
    assert_non_null(b->items[2].record); /* a batch reports each record's own outcome */
    assert_true(tu_has_error(b, "gb11643.check_character", "/0/persons/0/id_number"));
    assert_true(tu_has_error(b, "date.calendar", "/1/facts/0/attributes/death_date"));
    msgw_batch_destroy(&b);
}

static void test_bad_json(void **state)
{
    (void)state;
    const char dup[] = "{\"kind\":\"death\",\"kind\":\"death\"}";
    msgw_batch *b = tu_decode("canonical", NULL, dup, sizeof dup - 1);
    assert_true(tu_has_error(b, "json.syntax", NULL));
    assert_int_equal(b->nitems, 0);
    msgw_batch_destroy(&b);
    const char money[] = "{\"kind\":\"household_assistance_roster\",\"persons\":[],"
                         "\"facts\":[{\"type\":\"income\",\"attributes\":{\"income_monthly_fen\":10.5}}]}";
    b = tu_decode("canonical", NULL, money, sizeof money - 1);
    assert_true(tu_has_error(b, "canonical.type", "income_monthly_fen"));
    assert_null(b->items[0].record);
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
        cmocka_unit_test(test_decode_sample), cmocka_unit_test(test_round_trip_and_digest),
        cmocka_unit_test(test_digest_message_id), cmocka_unit_test(test_errors_located),
        cmocka_unit_test(test_direct_writer_matches_jansson),
        cmocka_unit_test(test_bad_json),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
