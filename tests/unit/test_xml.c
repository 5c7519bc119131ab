/* Safe XML: entity bombs and external entities are refused fast; errors are located. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "msgw/base/xml.h"

static void expect_refused(const char *doc, const char *rule)
{
    msgw_errors e;
    msgw_errors_init(&e);
    clock_t t0 = clock();
    xmlDocPtr d = msgw_xml_parse(doc, strlen(doc), 32, &e);
    assert_null(d);
    assert_true((clock() - t0) < CLOCKS_PER_SEC); /* refused before any expansion happens */
    assert_int_equal(e.nerrors, 1);
    assert_string_equal(e.v[0].rule, rule);
    assert_int_equal(e.v[0].record, -1);
    msgw_errors_clear(&e);
}

static void test_billion_laughs(void **state)
{
    (void)state;
    expect_refused("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
                   " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
                   " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n"
                   "<lolz>&lol3;</lolz>",
                   "xml.doctype");
}

static void test_xxe(void **state)
{
    (void)state;
    expect_refused("<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                   "<r>&x;</r>",
                   "xml.doctype");
}

static void test_not_well_formed(void **state)
{
    (void)state;
    expect_refused("<a>\n<b>text</a>", "xml.not_well_formed");
    expect_refused("<a><b>trunc", "xml.not_well_formed");
    expect_refused("<a>\xC0\xAF</a>", "xml.not_well_formed"); /* invalid UTF-8 */
    expect_refused("<a>&undefined;</a>", "xml.not_well_formed");
}

static void test_depth_limit(void **state)
{
    (void)state;
    char doc[4096] = "";
    for (int i = 0; i < 40; i++) strcat(doc, "<a>");
    for (int i = 0; i < 40; i++) strcat(doc, "</a>");
    expect_refused(doc, "xml.depth");
    msgw_errors e;
    msgw_errors_init(&e);
    xmlDocPtr d = msgw_xml_parse(doc, strlen(doc), 64, &e);
    assert_non_null(d);
    xmlFreeDoc(d);
    msgw_errors_clear(&e);
}

static void test_gb18030_and_text(void **state)
{
    (void)state;
    const char doc[] = "<?xml version=\"1.0\" encoding=\"GB18030\"?>\n<r>\n  <XM> \xCD\xF5\xD0\xE3\xC0\xBC </XM>\n</r>";
    msgw_errors e;
    msgw_errors_init(&e);
    xmlDocPtr d = msgw_xml_parse(doc, sizeof doc - 1, 32, &e);
    assert_non_null(d);
    xmlNodePtr xm = msgw_xml_child(xmlDocGetRootElement(d), "XM");
    size_t n = 0;
    const char *t = msgw_xml_text(xm, &n);
    assert_int_equal(n, strlen("王秀兰"));
    assert_memory_equal(t, "王秀兰", n);
    char loc[128];
    assert_string_equal(msgw_xml_location(xm, loc, sizeof loc), "/r/XM (line 3)");
    xmlFreeDoc(d);
    msgw_errors_clear(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_billion_laughs), cmocka_unit_test(test_xxe),
        cmocka_unit_test(test_not_well_formed), cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_gb18030_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
