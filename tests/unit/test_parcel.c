/*
 * Parcels (include/msgw/deliver/parcel.h): how a delivery pass's messages are packed into what the
 * transports send.  Notices of one recipient and media type travel together up to its
 * notices_per_message, joined by their adapter; envelopes to a peer up to its
 * envelopes_per_message, as a JSON array; records and the notices of a recipient that said 1
 * alone; the order given is kept inside each parcel.
 */
#include <jansson.h>
#include <libxml/parser.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msgw/deliver/parcel.h"
#include "msgw/pipeline/peer.h"
#include "testutil.h"

static const char CONFIG[] =
    "{\"region\": \"12\", \"data_dir\": \"/nonexistent\","
    " \"tls\": {\"ca\": \"/nonexistent\", \"cert\": \"/nonexistent\", \"key\": \"/nonexistent\"},"
    " \"departments\": ["
    "  {\"id\": \"mca\", \"format\": \"mca\", \"eligibility\": true,"
    "   \"deliver\": {\"webhook\": {\"url\": \"https://localhost:1/mca\"}}},"
    "  {\"id\": \"cdpf\", \"format\": \"cdpf\", \"eligibility\": true,"
    "   \"deliver\": {\"webhook\": {\"url\": \"https://localhost:1/cdpf\", \"notices_per_message\": 2}}},"
    "  {\"id\": \"hrss\", \"format\": \"hrss\", \"eligibility\": true,"
    "   \"deliver\": {\"webhook\": {\"url\": \"https://localhost:1/hrss\", \"notices_per_message\": 1}}}],"
    " \"peering\": {\"listen\": \"127.0.0.1:0\"},"
    " \"peers\": [{\"id\": \"hebei\", \"region\": \"13\", \"url\": \"https://localhost:1\", \"ca\": \"/nonexistent\","
    "   \"kinds\": [\"disability_certificate\"], \"fields\": [\"hukou_region\"], \"envelopes_per_message\": 2}]}";

static msgw_config *config(void)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_config *c = msgw_config_parse(CONFIG, strlen(CONFIG), tu_ctx()->dict, &e);
    if (!c) tu_dump_errors(&(msgw_batch){.errors = e});
    assert_non_null(c);
    msgw_errors_clear(&e);
    return c;
}

/* A message of the pass (strings borrowed: the test never clears them). */
static msgw_delivery message(const char *id, const char *to, const char *kind, const char *type,
                             const char *body)
{
    return (msgw_delivery){.event_id = (char *)id, .recipient = (char *)to, .kind = (char *)kind,
                           .media_type = (char *)type, .body = (void *)body, .len = strlen(body)};
}

#define MCA_NOTICE "application/vnd.msgw.mca.notice+xml"
#define CDPF_NOTICE "application/vnd.msgw.cdpf.notice+xml"
#define HRSS_NOTICE "application/vnd.msgw.hrss.notice+json"
#define MCA_N(x) "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<EligibilityNotice version=\"1.0\"><Header><TZBH>" x "</TZBH></Header></EligibilityNotice>\n"
#define CDPF_N(x) "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<EligibilityNotice xmlns=\"urn:msgw:cdpf:notice:1\" version=\"1\"><NoticeId>" x "</NoticeId></EligibilityNotice>\n"

/* The children of an XML list document, by name, and its root. */
static size_t xml_items(const msgw_parcel *p, const char *root)
{
    xmlDocPtr doc = xmlReadMemory(p->body, (int)p->len, "list.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlNodePtr r = xmlDocGetRootElement(doc);
    assert_string_equal((const char *)r->name, root);
    size_t n = 0;
    for (xmlNodePtr c = r->children; c; c = c->next)
        n += c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, "EligibilityNotice") == 0;
    xmlFreeDoc(doc);
    return n;
}

static void test_parcels_pack(void **state)
{
    (void)state;
    msgw_config *cfg = config();
    msgw_delivery v[] = {
        message("e1", "hebei", "record", MSGW_ENVELOPE_MEDIA_TYPE, "{\"envelope\":1}"),
        message("m1", "mca", "eligibility", MCA_NOTICE, MCA_N("m1")),
        message("r1", "mca", "record", "application/vnd.msgw.mca.roster+xml", "<roster/>"),
        message("e2", "hebei", "record", MSGW_ENVELOPE_MEDIA_TYPE, "{\"envelope\":2}"),
        message("m2", "mca", "eligibility", MCA_NOTICE, MCA_N("m2")),
        message("c1", "cdpf", "eligibility", CDPF_NOTICE, CDPF_N("c1")),
        message("c2", "cdpf", "eligibility", CDPF_NOTICE, CDPF_N("c2")),
        message("c3", "cdpf", "eligibility", CDPF_NOTICE, CDPF_N("c3")),
        message("h1", "hrss", "eligibility", HRSS_NOTICE, "{\"noticeId\":\"h1\"}"),
        message("h2", "hrss", "eligibility", HRSS_NOTICE, "{\"noticeId\":\"h2\"}"),
        message("e3", "hebei", "record", MSGW_ENVELOPE_MEDIA_TYPE, "{\"envelope\":3}"),
        message("m3", "mca", "eligibility", MSGW_NOTICE_CANONICAL_MEDIA_TYPE, "{\"kind\":\"NEW\"}"),
    };
    size_t nv = sizeof v / sizeof v[0];
    msgw_delivery *all[sizeof v / sizeof v[0]];
    for (size_t i = 0; i < nv; i++)
        all[i] = &v[i];
    msgw_parcels *ps = msgw_parcels_new();
    size_t n = msgw_parcels_pack(ps, cfg, all, nv);
    /* envelopes e1 e2 | notices m1 m2 | record r1 | c1 c2 | c3 | h1 | h2 | e3 | m3 (canonical) */
    assert_int_equal(n, 9);
    const msgw_parcel *p = msgw_parcels_get(ps, 0);
    assert_int_equal(p->form, MSGW_PARCEL_ENVELOPES);
    assert_int_equal(p->n, 2);
    assert_ptr_equal(p->v[0], &v[0]);
    assert_ptr_equal(p->v[1], &v[3]);
    json_t *arr = json_loadb(p->body, p->len, 0, NULL);
    assert_int_equal(json_array_size(arr), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "envelope")), 2);
    json_decref(arr);

    p = msgw_parcels_get(ps, 1);
    assert_int_equal(p->form, MSGW_PARCEL_NOTICES);
    assert_int_equal(p->n, 2);
    assert_ptr_equal(p->v[1], &v[4]);
    assert_string_equal(p->media_type, MCA_NOTICE);
    assert_int_equal(xml_items(p, "EligibilityNotices"), 2);

    p = msgw_parcels_get(ps, 2); /* a record travels alone, its own body */
    assert_int_equal(p->form, MSGW_PARCEL_ONE);
    assert_int_equal(p->n, 1);
    assert_ptr_equal(p->body, v[2].body);

    p = msgw_parcels_get(ps, 3); /* cdpf takes two per message */
    assert_int_equal(p->form, MSGW_PARCEL_NOTICES);
    assert_int_equal(p->n, 2);
    assert_int_equal(xml_items(p, "EligibilityNotices"), 2);
    p = msgw_parcels_get(ps, 4);
    assert_int_equal(p->n, 1);
    assert_int_equal(p->form, MSGW_PARCEL_NOTICES); /* a list even of one */
    assert_ptr_equal(p->v[0], &v[7]);
    assert_int_equal(xml_items(p, "EligibilityNotices"), 1);

    for (size_t i = 5; i <= 6; i++) { /* hrss said one per message */
        p = msgw_parcels_get(ps, i);
        assert_int_equal(p->form, MSGW_PARCEL_ONE);
        assert_ptr_equal(p->body, v[3 + i].body);
    }
    p = msgw_parcels_get(ps, 7); /* the third envelope: hebei takes two per request */
    assert_int_equal(p->form, MSGW_PARCEL_ENVELOPES);
    assert_ptr_equal(p->v[0], &v[10]);

    p = msgw_parcels_get(ps, 8); /* the canonical notice mca's format could not carry: its own list */
    assert_int_equal(p->form, MSGW_PARCEL_NOTICES);
    assert_string_equal(p->media_type, MSGW_NOTICE_CANONICAL_MEDIA_TYPE);
    arr = json_loadb(p->body, p->len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "notice_id")), "m3");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(arr, 0), "notice"), "kind")),
        "NEW");
    json_decref(arr);
    assert_null(msgw_parcels_get(ps, 9));

    /* packed again: the parcels of the new pass only */
    assert_int_equal(msgw_parcels_pack(ps, cfg, all + 2, 1), 1);
    assert_ptr_equal(msgw_parcels_get(ps, 0)->v[0], &v[2]);
    msgw_parcels_destroy(&ps);
    assert_null(ps);
    msgw_config_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parcels_pack),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_ctx_free();
    return rc;
}
