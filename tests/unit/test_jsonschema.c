/*
 * Unit tests of gateway/validate/jsonschema.c beyond the official suite: what the
 * gateway's error reports look like (JSON pointer locations, field, rule
 * "jsonschema.<keyword>", message, record index), compile errors for what the
 * validator refuses, the ECMA-to-POSIX pattern translation on Chinese text,
 * and the error limit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "msgw/base/error.h"
#include "msgw/validate/jsonschema.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j)
        fail_msg("bad test JSON: %s: %s", jerr.text, text);
    return j;
}

static msgw_jsonschema *compile(const char *schema_text)
{
    json_t *schema = parse(schema_text);
    msgw_errors err;
    msgw_errors_init(&err);
    msgw_jsonschema *s = msgw_jsonschema_new(schema, NULL, NULL, &err);
    json_decref(schema); /* the validator keeps its own copy */
    if (!s) {
        char line[512];
        for (size_t i = 0; i < err.n; i++)
            print_message("%s\n", msgw_error_format(&err.v[i], line, sizeof line));
        fail_msg("schema does not compile: %s", schema_text);
    }
    msgw_errors_clear(&err);
    return s;
}

/* Validates instance_text, returns the verdict and leaves errors in err. */
static bool check(const msgw_jsonschema *s, const char *instance_text, msgw_errors *err,
                  int record)
{
    json_t *instance = parse(instance_text);
    bool ok = msgw_jsonschema_validate(s, instance, err, record);
    bool quiet = msgw_jsonschema_validate(s, instance, NULL, record);
    assert_int_equal(ok, quiet);
    json_decref(instance);
    return ok;
}

static bool valid(const msgw_jsonschema *s, const char *instance_text)
{
    msgw_errors err;
    msgw_errors_init(&err);
    bool ok = check(s, instance_text, &err, 0);
    assert_int_equal(err.n, ok ? 0 : err.n);
    msgw_errors_clear(&err);
    return ok;
}

/* The one error that instance_text produces. */
static void expect_error(const char *schema_text, const char *instance_text, const char *location,
                         const char *field, const char *rule, const char *message_part)
{
    msgw_jsonschema *s = compile(schema_text);
    msgw_errors err;
    msgw_errors_init(&err);
    assert_false(check(s, instance_text, &err, 0));
    assert_int_equal(err.n, 1);
    assert_string_equal(err.v[0].location, location);
    if (field)
        assert_string_equal(err.v[0].field, field);
    else
        assert_null(err.v[0].field);
    assert_string_equal(err.v[0].rule, rule);
    if (!strstr(err.v[0].message, message_part))
        fail_msg("message \"%s\" lacks \"%s\"", err.v[0].message, message_part);
    msgw_errors_clear(&err);
    msgw_jsonschema_destroy(&s);
    assert_null(s);
}

/* The schema must not compile, with a first error of this rule whose message names part. */
static void expect_compile_error(const char *schema_text, const char *rule, const char *location,
                                 const char *message_part)
{
    json_t *schema = parse(schema_text);
    msgw_errors err;
    msgw_errors_init(&err);
    msgw_jsonschema *s = msgw_jsonschema_new(schema, NULL, NULL, &err);
    json_decref(schema);
    assert_null(s);
    assert_true(err.n >= 1);
    assert_string_equal(err.v[0].rule, rule);
    assert_int_equal(err.v[0].record, -1);
    if (location)
        assert_string_equal(err.v[0].location, location);
    if (!strstr(err.v[0].message, message_part))
        fail_msg("message \"%s\" lacks \"%s\"", err.v[0].message, message_part);
    msgw_errors_clear(&err);
}

static void test_location_is_escaped_json_pointer(void **state)
{
    (void)state;
    expect_error("{\"properties\":{\"a/b\":{\"properties\":{\"m~n\":{\"type\":\"integer\"}}}}}",
                 "{\"a/b\":{\"m~n\":\"x\"}}", "/a~1b/m~0n", "m~n", "jsonschema.type",
                 "expected integer, found a string");
}

static void test_location_through_arrays(void **state)
{
    (void)state;
    const char *schema = "{\"properties\":{\"Household\":{\"type\":\"array\",\"items\":{"
                         "\"properties\":{\"SFZH\":{\"type\":\"string\","
                         "\"pattern\":\"^\\\\d{17}[\\\\dX]$\"}}}}}}";
    expect_error(schema, "{\"Household\":[{\"SFZH\":\"11010519491231002X\"},{\"SFZH\":\"1101\"}]}",
                 "/Household/1/SFZH", "SFZH", "jsonschema.pattern", "\"1101\" does not match");
    /* An array item itself: field is the nearest property name. */
    expect_error("{\"properties\":{\"Codes\":{\"items\":{\"type\":\"string\"}}}}",
                 "{\"Codes\":[\"a\",2]}", "/Codes/1", "Codes", "jsonschema.type", "found an integer");
    /* The document root: empty pointer, no field. */
    expect_error("{\"type\":\"object\"}", "[]", "", NULL, "jsonschema.type", "expected object");
}

static void test_required_names_missing_property(void **state)
{
    (void)state;
    expect_error("{\"properties\":{\"Person\":{\"required\":[\"AAC001\",\"AAC002\"]}}}",
                 "{\"Person\":{\"AAC001\":\"x\"}}", "/Person", "AAC002", "jsonschema.required",
                 "missing required property \"AAC002\"");
    expect_error("{\"dependentRequired\":{\"end\":[\"start\"]}}", "{\"end\":1}", "", "start",
                 "jsonschema.dependentRequired", "required when \"end\" is present");
}

static void test_enum_and_const_messages(void **state)
{
    (void)state;
    expect_error("{\"properties\":{\"AAC004\":{\"enum\":[\"1\",\"2\"]}}}", "{\"AAC004\":\"9\"}",
                 "/AAC004", "AAC004", "jsonschema.enum",
                 "value \"9\" is not one of the allowed values (\"1\", \"2\")");
    expect_error("{\"enum\":[1,2,3,4,5,6,7,8,9,10,11,12]}", "13", "", NULL, "jsonschema.enum",
                 "value 13 is not one of the 12 allowed codes");
    expect_error("{\"const\":\"1.0\"}", "1", "", NULL, "jsonschema.const",
                 "value 1 should be \"1.0\"");
}

static void test_other_rules(void **state)
{
    (void)state;
    expect_error("{\"additionalProperties\":false,\"properties\":{\"a\":true}}",
                 "{\"a\":1,\"extra\":2}", "/extra", "extra", "jsonschema.additionalProperties",
                 "property \"extra\" is not allowed");
    expect_error("{\"maxLength\":2}", "\"张三丰\"", "", NULL, "jsonschema.maxLength",
                 "3 characters long, at most 2");
    expect_error("{\"minimum\":0}", "-1", "", NULL, "jsonschema.minimum", "less than the minimum");
    expect_error("{\"items\":{\"type\":\"integer\"},\"uniqueItems\":true}", "[1,2,1.0]", "/2",
                 NULL, "jsonschema.uniqueItems", "item 2 repeats item 0");
    expect_error("{\"prefixItems\":[true],\"items\":false}", "[1,2]", "/1", NULL,
                 "jsonschema.items", "item 1 is not allowed");
    expect_error("{\"not\":{\"type\":\"null\"}}", "null", "", NULL, "jsonschema.not",
                 "must not match");
    expect_error("{\"contains\":{\"const\":1},\"maxContains\":1}", "[1,1]", "", NULL,
                 "jsonschema.maxContains", "2 items match");
    expect_error("{\"propertyNames\":{\"maxLength\":3}}", "{\"abcd\":1}", "/abcd", "abcd",
                 "jsonschema.propertyNames", "\"abcd\" is not allowed");
}

static void test_one_of_explains_alternatives(void **state)
{
    (void)state;
    const char *schema = "{\"oneOf\":[{\"required\":[\"SFZH\"]},{\"required\":[\"HZH\"]}]}";
    expect_error(schema, "{}", "", NULL, "jsonschema.oneOf",
                 "matches none of the 2 alternatives: (1) missing required property \"SFZH\"; "
                 "(2) missing required property \"HZH\"");
    expect_error(schema, "{\"SFZH\":1,\"HZH\":2}", "", NULL, "jsonschema.oneOf",
                 "matches alternatives 1 and 2");
    expect_error("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "true", "", NULL,
                 "jsonschema.anyOf", "(1) expected string, found a boolean");
}

static void test_tagged_union_reports_the_intended_alternative(void **state)
{
    (void)state;
    /* Like the canonical facts: the "type" const picks the alternative. */
    const char *schema =
        "{\"oneOf\":[{\"properties\":{\"type\":{\"const\":\"death\"},"
        "\"date\":{\"format\":\"date\"}},\"required\":[\"type\",\"date\"]},"
        "{\"properties\":{\"type\":{\"const\":\"income\"},"
        "\"fen\":{\"type\":\"integer\"}},\"required\":[\"type\",\"fen\"]}]}";
    expect_error(schema, "{\"type\":\"income\",\"fen\":\"12.5\"}", "/fen", "fen",
                 "jsonschema.type", "expected integer");
    expect_error(schema, "{\"type\":\"death\",\"date\":\"2023-02-29\"}", "/date", "date",
                 "jsonschema.format", "not a calendar date");
    /* No alternative's tag matches: one error on the tag, naming the tags. */
    expect_error(schema, "{\"type\":\"birth\"}", "/type", "type", "jsonschema.oneOf",
                 "value \"birth\" matches none of the 2 alternatives (\"death\", \"income\")");
    /* Two alternatives with the right tag: one summary error. */
    expect_error("{\"anyOf\":[{\"properties\":{\"t\":{\"const\":1}},\"required\":[\"a\"]},"
                 "{\"properties\":{\"t\":{\"const\":1}},\"required\":[\"b\"]}]}",
                 "{\"t\":1}", "", NULL, "jsonschema.anyOf",
                 "(1) missing required property \"a\"; (2) missing required property \"b\"");
}

static void test_errors_are_all_collected_with_record(void **state)
{
    (void)state;
    msgw_jsonschema *s = compile("{\"type\":\"object\",\"required\":[\"a\",\"b\"],"
                                 "\"properties\":{\"c\":{\"type\":\"string\"},"
                                 "\"d\":{\"format\":\"date\"}}}");
    msgw_errors err;
    msgw_errors_init(&err);
    assert_false(check(s, "{\"c\":1,\"d\":\"2023-02-29\"}", &err, 42));
    assert_int_equal(err.n, 4);
    for (size_t i = 0; i < err.n; i++) {
        assert_int_equal(err.v[i].record, 42);
        assert_int_equal(err.v[i].severity, MSGW_SEV_ERROR);
    }
    assert_string_equal(err.v[0].field, "a");
    assert_string_equal(err.v[1].field, "b");
    assert_string_equal(err.v[2].location, "/c");
    assert_string_equal(err.v[3].rule, "jsonschema.format");
    assert_non_null(strstr(err.v[3].message, "not a calendar date"));
    msgw_errors_clear(&err);
    msgw_jsonschema_destroy(&s);
}

static void test_error_limit_bounds_work(void **state)
{
    (void)state;
    msgw_jsonschema *s = compile("{\"items\":{\"type\":\"string\"}}");
    msgw_errors err;
    msgw_errors_init(&err);
    err.limit = 3;
    assert_false(check(s, "[1,2,3,4,5,6,7,8,9,10]", &err, 0));
    assert_int_equal(err.n, 3);
    assert_true(err.dropped >= 1);
    assert_true(err.dropped <= 2); /* validation stops once the list is full */
    /* A full list must not make a later document look valid. */
    assert_false(check(s, "[true]", &err, 1));
    assert_true(check(s, "[\"ok\"]", &err, 2));
    msgw_errors_clear(&err);
    msgw_jsonschema_destroy(&s);
}

static void test_integers_and_reals(void **state)
{
    (void)state;
    msgw_jsonschema *s = compile("{\"type\":\"integer\",\"enum\":[1,3]}");
    assert_true(valid(s, "1"));
    assert_true(valid(s, "1.0"));
    assert_false(valid(s, "1.5"));
    assert_false(valid(s, "2"));
    msgw_jsonschema_destroy(&s);
    s = compile("{\"maximum\":9007199254740992,\"multipleOf\":2}");
    assert_true(valid(s, "9007199254740992"));
    assert_false(valid(s, "9007199254740993"));
    assert_true(valid(s, "4.0"));
    assert_false(valid(s, "3.0"));
    msgw_jsonschema_destroy(&s);
}

static void test_code_points_not_bytes(void **state)
{
    (void)state;
    msgw_jsonschema *s = compile("{\"minLength\":2,\"maxLength\":2}");
    assert_true(valid(s, "\"张三\""));
    assert_false(valid(s, "\"张\""));
    assert_true(valid(s, "\"ab\""));
    msgw_jsonschema_destroy(&s);
}

static void test_pattern_translation(void **state)
{
    (void)state;
    msgw_jsonschema *s = compile("{\"pattern\":\"^[\\u4e00-\\u9fa5]{2,4}$\"}");
    assert_true(valid(s, "\"张三\""));
    assert_false(valid(s, "\"张\""));
    assert_false(valid(s, "\"Zhang\""));
    msgw_jsonschema_destroy(&s);
    s = compile("{\"pattern\":\"^.{2}$\"}"); /* "." is one character, not one byte */
    assert_true(valid(s, "\"张三\""));
    assert_false(valid(s, "\"a\\n\""));
    msgw_jsonschema_destroy(&s);
    s = compile("{\"pattern\":\"^\\\\w+\\\\s\\\\d{2}(?:\\\\.[0-9A-Z]{1,4})?$\"}");
    assert_true(valid(s, "\"ab_1 42.X1\""));
    assert_true(valid(s, "\"a 42\""));
    assert_false(valid(s, "\"a 4\""));
    assert_false(valid(s, "\"a-b 42\""));
    msgw_jsonschema_destroy(&s);
    s = compile("{\"pattern\":\"[\\\\]\\\\-^.]\"}"); /* ECMA escapes inside a class */
    assert_true(valid(s, "\"]\""));
    assert_true(valid(s, "\"-\""));
    assert_true(valid(s, "\"^\""));
    assert_true(valid(s, "\".\""));
    assert_false(valid(s, "\"a\""));
    msgw_jsonschema_destroy(&s);
    s = compile("{\"pattern\":\"a{,2}b*?\"}"); /* "{" without a quantifier is literal */
    assert_true(valid(s, "\"a{,2}\""));
    assert_false(valid(s, "\"aa\""));
    msgw_jsonschema_destroy(&s);
}

static void test_format_date(void **state)
{
    (void)state;
    msgw_jsonschema *s = compile("{\"format\":\"date\"}");
    assert_true(valid(s, "\"2024-02-29\""));
    assert_false(valid(s, "\"2023-02-29\""));
    assert_false(valid(s, "\"2024-2-9\""));
    assert_false(valid(s, "\"20240229\""));
    assert_true(valid(s, "20240229")); /* formats only constrain strings */
    msgw_jsonschema_destroy(&s);
    s = compile("{\"format\":\"date-time\"}");
    assert_true(valid(s, "\"2024-02-29T08:30:00+08:00\""));
    assert_true(valid(s, "\"2016-12-31T23:59:60Z\""));
    assert_false(valid(s, "\"2024-02-29 08:30:00\""));
    msgw_jsonschema_destroy(&s);
    s = compile("{\"format\":\"email\"}"); /* other formats are annotations */
    assert_true(valid(s, "\"not an email\""));
    msgw_jsonschema_destroy(&s);
}

static void test_refs_and_anchors(void **state)
{
    (void)state;
    msgw_jsonschema *s = compile(
        "{\"$id\":\"https://msgw.example/root.json\","
        "\"$defs\":{\"code\":{\"$anchor\":\"code\",\"type\":\"string\",\"maxLength\":2},"
        "\"other\":{\"$id\":\"other.json\",\"$defs\":{\"n\":{\"type\":\"integer\"}}}},"
        "\"properties\":{\"a\":{\"$ref\":\"#/$defs/code\"},\"b\":{\"$ref\":\"#code\"},"
        "\"c\":{\"$ref\":\"other.json#/$defs/n\"},\"d\":{\"$ref\":\"#\"}}}");
    assert_true(valid(s, "{\"a\":\"x\",\"b\":\"yz\",\"c\":3,\"d\":{\"a\":\"q\"}}"));
    msgw_errors err;
    msgw_errors_init(&err);
    assert_false(check(s, "{\"a\":\"xyz\",\"b\":1,\"c\":\"3\",\"d\":{\"c\":1.5}}", &err, 0));
    assert_int_equal(err.n, 4);
    assert_string_equal(err.v[0].rule, "jsonschema.maxLength");
    assert_string_equal(err.v[1].location, "/b");
    assert_string_equal(err.v[2].location, "/c");
    assert_string_equal(err.v[3].location, "/d/c");
    msgw_errors_clear(&err);
    msgw_jsonschema_destroy(&s);
}

static json_t *resolve_remote(const char *uri, void *ud)
{
    int *calls = ud;
    (*calls)++;
    if (strcmp(uri, "https://msgw.example/codes.json") == 0)
        return json_pack("{s:{s:{s:[s,s]}}}", "$defs", "sex", "enum", "1", "2");
    return NULL;
}

static void test_resolver_supplies_remote_documents(void **state)
{
    (void)state;
    json_t *schema = parse("{\"$ref\":\"https://msgw.example/codes.json#/$defs/sex\"}");
    int calls = 0;
    msgw_errors err;
    msgw_errors_init(&err);
    msgw_jsonschema *s = msgw_jsonschema_new(schema, resolve_remote, &calls, &err);
    json_decref(schema);
    assert_non_null(s);
    assert_int_equal(calls, 1);
    assert_true(valid(s, "\"1\""));
    assert_false(valid(s, "\"3\""));
    msgw_jsonschema_destroy(&s);
    msgw_errors_clear(&err);
}

static void test_compile_errors(void **state)
{
    (void)state;
    expect_compile_error("{\"properties\":{\"a\":{\"$recursiveRef\":\"#\"}}}",
                         "jsonschema.$recursiveRef", "/properties/a", "not supported");
    expect_compile_error("{\"dependencies\":{\"a\":[\"b\"]}}", "jsonschema.dependencies", "",
                         "not supported");
    expect_compile_error("{\"$dynamicRef\":\"#nowhere\"}", "jsonschema.$dynamicRef", "",
                         "cannot resolve");
    expect_compile_error("{\"pattern\":\"^(?=a)b\"}", "jsonschema.pattern", "",
                         "\"^(?=a)b\": lookahead");
    expect_compile_error("{\"patternProperties\":{\"\\\\bX\":true}}", "jsonschema.patternProperties",
                         "/patternProperties/\\bX", "word boundary");
    expect_compile_error("{\"pattern\":\"(a)\\\\1\"}", "jsonschema.pattern", "", "backreference");
    expect_compile_error("{\"properties\":{\"a\":{\"$ref\":\"#/$defs/nope\"}}}", "jsonschema.$ref",
                         "/properties/a", "cannot resolve $ref \"#/$defs/nope\"");
    expect_compile_error("{\"$ref\":\"https://elsewhere.example/x.json\"}", "jsonschema.$ref", "",
                         "cannot resolve");
    expect_compile_error("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"allOf\":[{\"$ref\":"
                         "\"#/$defs/a\"}]}},\"$ref\":\"#/$defs/a\"}",
                         "jsonschema.$ref", NULL, "infinite $ref loop");
    expect_compile_error("{\"type\":\"text\"}", "jsonschema.type", "", "unknown type");
    expect_compile_error("{\"minLength\":-1}", "jsonschema.minLength", "", "non-negative");
    expect_compile_error("{\"additionalItems\":false}", "jsonschema.additionalItems", "",
                         "not supported");
    expect_compile_error("3", "jsonschema.schema", "", "object or a boolean");
}

static void test_unevaluated_properties(void **state)
{
    (void)state;
    /* A closed record assembled from parts: only the parts' members are allowed. */
    const char *schema = "{\"$defs\":{\"person\":{\"properties\":{\"SFZH\":true,\"XM\":true}}},"
                         "\"allOf\":[{\"$ref\":\"#/$defs/person\"}],"
                         "\"anyOf\":[{\"properties\":{\"HZH\":true},\"required\":[\"HZH\"]},"
                         "{\"properties\":{\"DH\":true}}],"
                         "\"unevaluatedProperties\":false}";
    msgw_jsonschema *s = compile(schema);
    assert_true(valid(s, "{\"SFZH\":1,\"XM\":2,\"HZH\":3}"));
    assert_true(valid(s, "{\"SFZH\":1,\"DH\":2}"));
    msgw_jsonschema_destroy(&s);
    expect_error(schema, "{\"SFZH\":1,\"XB\":2}", "/XB", "XB", "jsonschema.unevaluatedProperties",
                 "property \"XB\" is not allowed");
    expect_error("{\"prefixItems\":[true],\"unevaluatedItems\":{\"type\":\"string\"}}",
                 "[1,\"a\",2]", "/2", NULL, "jsonschema.type", "expected string");
}

static void test_dynamic_ref_follows_dynamic_scope(void **state)
{
    (void)state;
    /* A generic list whose item type the outer schema chooses via $dynamicAnchor. */
    msgw_jsonschema *s = compile(
        "{\"$id\":\"https://msgw.example/codes\",\"$ref\":\"list\","
        "\"$defs\":{\"code\":{\"$dynamicAnchor\":\"item\",\"type\":\"string\"},"
        "\"list\":{\"$id\":\"list\",\"type\":\"array\",\"items\":{\"$dynamicRef\":\"#item\"},"
        "\"$defs\":{\"any\":{\"$dynamicAnchor\":\"item\"}}}}}");
    assert_true(valid(s, "[\"a\",\"b\"]"));
    assert_false(valid(s, "[\"a\",1]"));
    msgw_jsonschema_destroy(&s);
}

static void test_recursion_through_data_is_fine(void **state)
{
    (void)state;
    /* A tree: the $ref cycle consumes one level of the instance each time. */
    msgw_jsonschema *s = compile("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{"
                                 "\"children\":{\"items\":{\"$ref\":\"#/$defs/node\"}}},"
                                 "\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}");
    assert_true(valid(s, "{\"children\":[{\"children\":[{}]},{}]}"));
    msgw_errors err;
    msgw_errors_init(&err);
    assert_false(check(s, "{\"children\":[{\"children\":[{\"x\":1}]}]}", &err, 0));
    assert_int_equal(err.n, 1);
    assert_string_equal(err.v[0].location, "/children/0/children/0/x");
    msgw_errors_clear(&err);
    msgw_jsonschema_destroy(&s);
}

static void test_annotations_and_unknown_keywords_ignored(void **state)
{
    (void)state;
    msgw_jsonschema *s = compile(
        "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"title\":\"t\","
        "\"description\":\"d\",\"$comment\":\"c\",\"default\":1,\"examples\":[1],"
        "\"deprecated\":false,\"readOnly\":true,\"writeOnly\":false,\"x-msgw-element\":\"sex\","
        "\"type\":\"integer\"}");
    assert_true(valid(s, "5"));
    assert_false(valid(s, "\"5\""));
    msgw_jsonschema_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_location_is_escaped_json_pointer),
        cmocka_unit_test(test_location_through_arrays),
        cmocka_unit_test(test_required_names_missing_property),
        cmocka_unit_test(test_enum_and_const_messages),
        cmocka_unit_test(test_other_rules),
        cmocka_unit_test(test_one_of_explains_alternatives),
        cmocka_unit_test(test_tagged_union_reports_the_intended_alternative),
        cmocka_unit_test(test_errors_are_all_collected_with_record),
        cmocka_unit_test(test_error_limit_bounds_work),
        cmocka_unit_test(test_integers_and_reals),
        cmocka_unit_test(test_code_points_not_bytes),
        cmocka_unit_test(test_pattern_translation),
        cmocka_unit_test(test_format_date),
        cmocka_unit_test(test_refs_and_anchors),
        cmocka_unit_test(test_resolver_supplies_remote_documents),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_unevaluated_properties),
        cmocka_unit_test(test_dynamic_ref_follows_dynamic_scope),
        cmocka_unit_test(test_recursion_through_data_is_fine),
        cmocka_unit_test(test_annotations_and_unknown_keywords_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
