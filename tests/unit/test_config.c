/* The configuration: the shipped example loads; every kind of mistake is named by its JSON pointer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/net/config.h"
#include "testutil.h"

static void test_example_loads(void **state)
{
    (void)state;
    char path[4096];
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_config *c = msgw_config_load(tu_path("deploy/msgw.json", path, sizeof path), tu_ctx()->dict, &e);
    if (!c) tu_dump_errors(&(msgw_batch){.errors = e});
    assert_non_null(c);
    assert_string_equal(c->region, "12");
    assert_int_equal(c->ndepartments, 4);
    const msgw_department *mca = msgw_config_department_for_cert(c, "12", "mca");
    assert_non_null(mca);
    assert_true(msgw_department_may_push(mca, "household_assistance_roster"));
    assert_false(msgw_department_may_push(mca, "disability_certificate"));
    assert_int_equal(mca->deliver, MSGW_DELIVER_WEBHOOK);
    assert_string_equal(mca->deliver_media_type, "application/vnd.msgw.mca.roster+xml");
    assert_int_equal(mca->subs[0].nfields, 7);
    assert_null(msgw_config_department_for_cert(c, "13", "mca")); /* Hebei's mca is not ours */
    assert_int_equal(msgw_config_department(c, "hrss")->deliver, MSGW_DELIVER_ZMQ);
    assert_non_null(msgw_config_department(c, "hrss")->curve_public); /* its key is how it connects */
    assert_string_equal(c->zmq_deliver_listen, "tcp://0.0.0.0:5556");
    assert_int_equal(c->zmq_deliver_window, 1000);
    assert_string_equal(c->zmq_feed_listen, "tcp://127.0.0.1:5557");
    assert_int_equal(c->nadmin_curve, 1);
    assert_int_equal(c->retention_records_days, 365);
    assert_int_equal(c->delivery_ack_timeout_ms, 30000);
    assert_int_equal(c->max_body_bytes, 16777216);
    assert_string_equal(c->tls_crl,
                        "/etc/msgw/tls/ca.crl"); /* department certificates checked against it */
    msgw_config_destroy(&c);
    assert_null(c);
    msgw_errors_clear(&e);
}

/* Parses the example with one substitution and expects a config error at ptr mentioning part. */
static void expect_error(const char *from, const char *to, const char *ptr, const char *part)
{
    size_t len;
    char *text = tu_read_file("deploy/msgw.json", &len);
    char *at = strstr(text, from);
    assert_non_null(at);
    size_t fl = strlen(from), tl = strlen(to);
    char *mod = malloc(len + tl + 1);
    memcpy(mod, text, (size_t)(at - text));
    memcpy(mod + (at - text), to, tl);
    strcpy(mod + (at - text) + tl, at + fl);
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_config *c = msgw_config_parse(mod, strlen(mod), tu_ctx()->dict, &e);
    assert_null(c);
    bool found = false;
    for (size_t i = 0; i < e.n && !found; i++)
        found = e.v[i].location && strcmp(e.v[i].location, ptr) == 0 && strstr(e.v[i].message, part);
    if (!found) {
        fprintf(stderr, "expected %s at %s\n", part, ptr);
        tu_dump_errors(&(msgw_batch){.errors = e});
    }
    assert_true(found);
    msgw_errors_clear(&e);
    free(mod);
    free(text);
}

static void test_mistakes_are_located(void **state)
{
    (void)state;
    expect_error("\"push\": [\"disability_certificate\"]", "\"push\": [\"disability_certficate\"]",
                 "/departments/3/push/0", "unknown record kind");
    expect_error("\"from\": [\"cdpf\"]", "\"from\": [\"cdfp\"]", "/departments/0/subscriptions/0/from/0",
                 "unknown department cdfp");
    expect_error("\"disability_grade\",", "\"diagnosis\",", "/departments/0/subscriptions/0/fields/5",
                 "unknown field diagnosis");
    expect_error("\"id\": \"hrss\"", "\"id\": \"mca\"", "/departments/1", "defined twice");
    expect_error("https://mca.example.gov.cn", "http://mca.example.gov.cn", "/departments/0/deliver/webhook",
                 "HTTPS with mutual TLS");
    expect_error("\"unit\": \"hrss\"", "\"unit\": \"mca\"", "/departments/1", "same certificate identity");
    expect_error("\"max_body_bytes\": 16777216", "\"max_body_bytes\": -5", "/https", "max_body_bytes must be");
    expect_error("\"media_type\": \"application/vnd.msgw.cdpf.certificate+xml\"", "\"media_type\": \"application/fhir+json\"",
                 "/departments/3/deliver/webhook", "not a media type of the cdpf format");
    expect_error("\"region\": \"12\",", "", "", "region is required");
    /* ZeroMQ delivery: the department connects to the gateway (no endpoint of its own), with its key */
    expect_error("\"zmq\": {}", "\"zmq\": { \"endpoint\": \"tcp://0.0.0.0:5561\" }", "/departments/1/deliver/zmq",
                 "remove endpoint");
    expect_error("\"curve_public\": \"zd]Cgb#!kn{$.g1OMnA=IgA2#[tZ6B{w+Pm<e%!c\",", "", "/departments/1",
                 "needs its curve_public key");
    expect_error("\"deliver_listen\": \"tcp://0.0.0.0:5556\",", "", "/departments/1", "zmq.deliver_listen must be set");
    /* the feed is the administrators': without their keys nobody could watch it */
    expect_error("\"curve_public\": [\"G^1NU@ZV<VG#w2CPyS#FS)60<t^Bznl2fr1EwWDR\"], ", "", "/zmq",
                 "admin.curve_public");
    expect_error("[\"G^1NU@ZV<VG#w2CPyS#FS)60<t^Bznl2fr1EwWDR\"]", "[\"short\"]", "/admin/curve_public",
                 "40 Z85 characters");
    expect_error("\"deliver_window\": 1000", "\"deliver_window\": 0", "/zmq", "deliver_window must be");
    expect_error("\"ack_timeout_ms\": 30000", "\"ack_timeout_ms\": \"30s\"", "/delivery", "ack_timeout_ms must be");
    expect_error("\"curve_secret_file\": \"/etc/msgw/tls/gateway.curve\"", "\"x\": 1", "/zmq",
                 "curve_secret_file is required");
    expect_error("\"crl\": \"/etc/msgw/tls/ca.crl\"", "\"crl\": \"\"", "/tls",
                 "crl must be a non-empty string");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_example_loads), cmocka_unit_test(test_mistakes_are_located)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_ctx_free();
    return rc;
}
