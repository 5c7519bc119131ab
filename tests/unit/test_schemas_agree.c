/*
 * The generated schemas and the gateway must say the same thing.
 *
 * - Agreement: for every tests/data/<dept>/agree/{good,bad}/ document, the
 *   generated schema named in tests/data/<dept>/agree/schema (libxml2 XSD
 *   validation for .xml, the gateway's JSON Schema validator for .json) and
 *   the gateway's decode stage (msgw_decode with adapter <dept>) both accept
 *   every good document and both reject every bad one.  A department engineer
 *   who validates against the published schema then gets no surprise from
 *   the gateway, except for the rules listed in docs/dictionary.md that only
 *   the C validators can express.
 * - Generated files: the committed schemas/generated/ copies equal the build's
 *   output and the embedded copies, so nobody edits one without the other.
 * - References: every dictionary element a message spec names exists, and
 *   every code element has its code list (gen_schemas.py checks this too).
 * - The canonical schema (generated from fact types and record kinds) accepts
 *   a canonical record and rejects the typical mistakes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/base/embedded.h"
#include "msgw/decode/decode.h"
#include "msgw/model/dict.h"
#include "msgw/validate/jsonschema.h"
#include "msgw/validate/schemas.h"
#include "testutil.h"

#define GENERATED_PREFIX "generated/"

/* libxml2 2.12 made the structured error argument const. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_arg;
#else
typedef xmlErrorPtr xml_error_arg;
#endif

/* ---- small file helpers ---------------------------------------------------------------- */

static char *read_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static void join_path(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    assert_true(n > 0 && (size_t)n < cap);
}

static const char *source_root(void)
{
    const char *root = getenv("MSGW_SOURCE_ROOT");
    return root ? root : ".";
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_directory(const char *path)
{
    DIR *d = opendir(path);
    if (d)
        closedir(d);
    return d != NULL;
}

/* Directory entries (files or directories as asked), sorted so reports are stable. */
static int list_dir(const char *dir, bool want_dirs, char ***out)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    *out = NULL;
    if (n < 0)
        return 0;
    char **names = calloc((size_t)n + 1, sizeof *names);
    assert_non_null(names);
    int k = 0;
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char path[4096];
        join_path(path, sizeof path, dir, name);
        if (name[0] != '.' && is_directory(path) == want_dirs)
            names[k++] = strdup(name);
        free(ents[i]);
    }
    free(ents);
    *out = names;
    return k;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- verdicts ------------------------------------------------------------------------------ */

typedef struct verdict {
    bool accepted;
    char why[512]; /* first reason for a rejection */
} verdict;

static void reject(verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reject(verdict *v, const char *fmt, ...)
{
    if (!v->accepted)
        return; /* keep the first reason */
    v->accepted = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof v->why, fmt, ap);
    va_end(ap);
    v->why[strcspn(v->why, "\n")] = '\0';
}

static void on_validity_error(void *ud, xml_error_arg e)
{
    if (e->level != XML_ERR_WARNING)
        reject(ud, "line %d: %s", e->line, e->message ? e->message : "?");
}

static verdict xsd_verdict(void *schema, const char *buf, size_t len, const char *name)
{
    verdict v = {true, ""};
    xmlParserCtxtPtr pc = xmlNewParserCtxt();
    assert_non_null(pc);
    xmlDocPtr doc = xmlCtxtReadMemory(pc, buf, (int)len, name, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        xml_error_arg e = xmlCtxtGetLastError(pc);
        reject(&v, "not well-formed: %s", e && e->message ? e->message : "?");
        xmlFreeParserCtxt(pc);
        return v;
    }
    xmlFreeParserCtxt(pc);
    xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
    assert_non_null(vc);
    xmlSchemaSetValidStructuredErrors(vc, on_validity_error, &v);
    if (xmlSchemaValidateDoc(vc, doc) != 0)
        reject(&v, "invalid against the XSD");
    xmlSchemaFreeValidCtxt(vc);
    xmlFreeDoc(doc);
    return v;
}

static verdict json_schema_verdict(const msgw_jsonschema *schema, const char *buf, size_t len)
{
    verdict v = {true, ""};
    json_error_t je;
    json_t *doc = json_loadb(buf, len, 0, &je);
    if (!doc) {
        reject(&v, "not JSON: line %d: %s", je.line, je.text);
        return v;
    }
    msgw_errors err;
    msgw_errors_init(&err);
    if (!msgw_jsonschema_validate(schema, doc, &err, 0)) {
        char line[512];
        if (err.n > 0)
            reject(&v, "%s", msgw_error_format(&err.v[0], line, sizeof line));
        else
            reject(&v, "invalid against the JSON Schema");
    }
    msgw_errors_clear(&err);
    json_decref(doc);
    return v;
}

static const char *media_type_for(const msgw_adapter *ad, const char *file)
{
    const char *want = has_suffix(file, ".xml") ? "xml" : "json";
    for (const char *const *mt = ad->media_types; mt && *mt; mt++)
        if (strstr(*mt, want))
            return *mt;
    return ad->media_types ? ad->media_types[0] : NULL;
}

static verdict gateway_verdict(const char *dept, const char *file, const char *buf, size_t len)
{
    verdict v = {true, ""};
    const msgw_adapter *ad = msgw_adapter_find(dept);
    msgw_batch *b = msgw_batch_new();
    assert_non_null(b);
    msgw_decode(tu_ctx(), ad, media_type_for(ad, file), buf, len, b);
    for (size_t i = 0; i < b->errors.n; i++) {
        if (b->errors.v[i].severity == MSGW_SEV_ERROR) {
            char line[512];
            reject(&v, "%s", msgw_error_format(&b->errors.v[i], line, sizeof line));
        }
    }
    if (b->errors.nerrors > 0)
        reject(&v, "%zu errors", b->errors.nerrors);
    if (b->nitems == 0)
        reject(&v, "no records decoded");
    msgw_batch_destroy(&b);
    return v;
}

/* ---- the agreement test -------------------------------------------------------------------- */

typedef struct agree_report {
    size_t checked;
    size_t mismatches;
} agree_report;

static char *read_schema_name(const char *agree_dir)
{
    char path[4096];
    size_t len;
    join_path(path, sizeof path, agree_dir, "schema");
    char *name = read_path(path, &len);
    if (!name)
        fail_msg("%s: missing (one line naming the generated schema, e.g. mca-roster.xsd)", path);
    name[strcspn(name, " \t\r\n")] = '\0';
    return name;
}

static verdict schema_verdict(const char *schema_name, const char *file, const char *buf,
                              size_t len)
{
    const msgw_schemas *schemas = tu_ctx()->schemas;
    if (has_suffix(file, ".xml")) {
        void *xsd = msgw_schemas_xsd(schemas, schema_name);
        if (!xsd)
            fail_msg("%s: %s is not a compiled XSD", file, schema_name);
        return xsd_verdict(xsd, buf, len, file);
    }
    const msgw_jsonschema *js = msgw_schemas_json(schemas, schema_name);
    if (!js)
        fail_msg("%s: %s is not a compiled JSON Schema", file, schema_name);
    return json_schema_verdict(js, buf, len);
}

static void check_one(const char *dept, const char *schema_name, const char *dir,
                      const char *file, bool want_accept, agree_report *rep)
{
    char path[4096];
    size_t len;
    join_path(path, sizeof path, dir, file);
    char *buf = read_path(path, &len);
    assert_non_null(buf);
    verdict sv = schema_verdict(schema_name, path, buf, len);
    verdict gv = gateway_verdict(dept, file, buf, len);
    rep->checked++;
    if (sv.accepted != want_accept || gv.accepted != want_accept) {
        rep->mismatches++;
        print_message("MISMATCH %s: expected %s; schema %s%s%s; gateway %s%s%s\n", path,
                      want_accept ? "accept" : "reject", sv.accepted ? "accepts" : "rejects",
                      sv.accepted ? "" : ": ", sv.why, gv.accepted ? "accepts" : "rejects",
                      gv.accepted ? "" : ": ", gv.why);
    }
    free(buf);
}

static void check_verdict_dir(const char *dept, const char *schema_name, const char *agree_dir,
                              const char *sub, agree_report *rep)
{
    char dir[4096];
    join_path(dir, sizeof dir, agree_dir, sub);
    char **files;
    int n = list_dir(dir, false, &files);
    for (int i = 0; i < n; i++)
        if (has_suffix(files[i], ".xml") || has_suffix(files[i], ".json"))
            check_one(dept, schema_name, dir, files[i], strcmp(sub, "good") == 0, rep);
    free_list(files, n);
}

static void test_schema_and_gateway_agree(void **state)
{
    char data[4096];
    join_path(data, sizeof data, source_root(), "tests/data");
    char **depts;
    int n = list_dir(data, true, &depts);
    agree_report rep = {0, 0};
    for (int i = 0; i < n; i++) {
        char dept_dir[4096], agree_dir[4096];
        join_path(dept_dir, sizeof dept_dir, data, depts[i]);
        join_path(agree_dir, sizeof agree_dir, dept_dir, "agree");
        if (!is_directory(agree_dir))
            continue;
        if (!msgw_adapter_find(depts[i]))
            fail_msg("tests/data/%s/agree: no adapter named %s", depts[i], depts[i]);
        char *schema_name = read_schema_name(agree_dir);
        size_t before = rep.checked;
        check_verdict_dir(depts[i], schema_name, agree_dir, "good", &rep);
        check_verdict_dir(depts[i], schema_name, agree_dir, "bad", &rep);
        print_message("agree %s (%s): %zu documents\n", depts[i], schema_name,
                      rep.checked - before);
        free(schema_name);
    }
    free_list(depts, n);
    if (rep.mismatches)
        fail_msg("%zu of %zu documents: the generated schema and the gateway disagree",
                 rep.mismatches, rep.checked);
}

/* ---- generated files ----------------------------------------------------------------------- */

/* Compares one generated file: committed copy, build output and embedded copy. */
static size_t count_stale(const char *build, const msgw_embedded_file *f, const char *name)
{
    char committed_path[4096], built_path[4096], rel[512];
    snprintf(rel, sizeof rel, "schemas/generated/%s", name);
    join_path(committed_path, sizeof committed_path, source_root(), rel);
    join_path(built_path, sizeof built_path, build, name);
    size_t clen = 0, blen = 0, stale = 0;
    char *committed = read_path(committed_path, &clen);
    char *built = read_path(built_path, &blen);
    if (!built)
        fail_msg("%s: not built", built_path);
    if (!committed || clen != blen || memcmp(committed, built, blen) != 0) {
        stale++;
        print_message("%s differs from the build's %s\n", committed_path, built_path);
    }
    if (blen != f->len || memcmp(built, f->data, blen) != 0) {
        stale++;
        print_message("embedded %s differs from %s\n", f->name, built_path);
    }
    free(committed);
    free(built);
    return stale;
}

static void test_committed_generated_files_match_build(void **state)
{
    const char *build = getenv("MSGW_GENERATED");
    if (!build) {
        print_message("MSGW_GENERATED not set (run through meson test): skipped\n");
        skip();
    }
    size_t stale = 0, seen = 0;
    for (const msgw_embedded_file *f = msgw_embedded_files(); f->name; f++) {
        if (strncmp(f->name, GENERATED_PREFIX, strlen(GENERATED_PREFIX)) != 0)
            continue;
        stale += count_stale(build, f, f->name + strlen(GENERATED_PREFIX));
        seen++;
    }
    assert_true(seen >= 6);
    if (stale)
        fail_msg("schemas/generated/ is stale: run python3 tools/gen_schemas.py --schemas schemas "
                 "--out schemas/generated --doc docs/dictionary.md");
}

static void test_embedded_schemas_compile(void **state)
{
    msgw_errors err;
    msgw_errors_init(&err);
    msgw_schemas *s = msgw_schemas_new(&err);
    for (size_t i = 0; i < err.n; i++) {
        char line[1024];
        print_message("%s\n", msgw_error_format(&err.v[i], line, sizeof line));
    }
    assert_non_null(s);
    assert_int_equal(err.nerrors, 0);
    const char *xsds[] = {"mca-roster.xsd", "cdpf-certificate.xsd"};
    const char *jsons[] = {"hrss.schema.json", "fhir.schema.json", "canonical.schema.json"};
    for (size_t i = 0; i < sizeof xsds / sizeof *xsds; i++)
        assert_non_null(msgw_schemas_xsd(s, xsds[i]));
    for (size_t i = 0; i < sizeof jsons / sizeof *jsons; i++)
        assert_non_null(msgw_schemas_json(s, jsons[i]));
    assert_null(msgw_schemas_xsd(s, "hrss.schema.json"));
    assert_null(msgw_schemas_json(s, "mca-roster.xsd"));
    assert_null(msgw_schemas_xsd(s, "nonexistent.xsd"));
    msgw_schemas_destroy(&s);
    assert_null(s);
    msgw_errors_clear(&err);

    const msgw_embedded_file *dict = msgw_embedded_find("dictionary.json");
    assert_non_null(dict);
    assert_true(dict->len > 0);
    assert_non_null(msgw_embedded_find("codelists/region.json"));
    assert_non_null(msgw_embedded_find("generated/cdpf-roster.csvw.json"));
    assert_null(msgw_embedded_find("generated/nope.xsd"));
    assert_null(msgw_embedded_find(NULL));
}

/* ---- references ---------------------------------------------------------------------------- */

static size_t check_node_refs(const msgw_dict *d, const json_t *node, const char *spec)
{
    size_t bad = 0;
    const char *eid = json_string_value(json_object_get(node, "element"));
    if (eid) {
        const msgw_element *el = msgw_dict_element(d, eid);
        if (!el) {
            print_message("%s: %s names unknown element %s\n", spec,
                          json_string_value(json_object_get(node, "name")), eid);
            bad++;
        } else if (el->type == MSGW_TY_CODE && !el->codes) {
            print_message("%s: element %s has no code list\n", spec, eid);
            bad++;
        }
    }
    size_t i;
    const json_t *child;
    json_array_foreach(json_object_get(node, "children"), i, child)
        bad += check_node_refs(d, child, spec);
    return bad;
}

static void test_specs_reference_the_dictionary(void **state)
{
    const msgw_dict *d = tu_ctx()->dict;
    size_t specs = 0, bad = 0;
    for (const msgw_embedded_file *f = msgw_embedded_files(); f->name; f++) {
        if (strncmp(f->name, "messages/", 9) != 0)
            continue;
        json_error_t je;
        json_t *spec = json_loadb(f->data, f->len, 0, &je);
        if (!spec)
            fail_msg("%s: line %d: %s", f->name, je.line, je.text);
        bad += check_node_refs(d, json_object_get(spec, "root"), f->name);
        json_decref(spec);
        specs++;
    }
    for (size_t i = 0; i < msgw_dict_count_elements(d); i++) {
        const msgw_element *el = msgw_dict_element_at(d, i);
        if (el->type == MSGW_TY_CODE && (!el->codes || el->codes->ncodes == 0)) {
            print_message("dictionary element %s: empty or missing code list\n", el->id);
            bad++;
        }
    }
    print_message("%zu message specs checked\n", specs);
    assert_int_equal(bad, 0);
}

/* ---- the canonical schema ------------------------------------------------------------------ */

static const char canonical_good[] =
    "{\"kind\": \"household_assistance_roster\", \"message_id\": \"mca:1\","
    " \"source\": {\"department\": \"mca\", \"message_id\": \"1\"},"
    " \"recorded_at\": \"2026-11-01T08:30:00Z\","
    " \"persons\": [{\"id_number\": \"11010519491231002X\", \"name\": \"张三\", \"sex\": \"1\","
    "   \"birth_date\": \"1949-12-31\", \"hukou_region\": \"131071\"}],"
    " \"household\": {\"household_id\": \"H1\", \"region\": \"131002\","
    "   \"members\": [{\"id_number\": \"11010519491231002X\", \"family_relationship\": \"02\"}]},"
    " \"facts\": [{\"type\": \"assistance\", \"subject\": \"11010519491231002X\","
    "   \"valid_from\": \"2024-02-29\","
    "   \"attributes\": {\"assistance_category\": \"10\", \"benefit_monthly_fen\": 324000}}]}";

/* Replaces the first `from` in the good record by `to` and returns the schema's verdict. */
static bool canonical_accepts_edit(const msgw_jsonschema *js, const char *from, const char *to)
{
    char buf[sizeof canonical_good + 256];
    const char *at = strstr(canonical_good, from);
    assert_non_null(at);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - canonical_good), canonical_good, to,
             at + strlen(from));
    return json_schema_verdict(js, buf, strlen(buf)).accepted;
}

static void test_canonical_schema(void **state)
{
    const msgw_jsonschema *js = msgw_schemas_json(tu_ctx()->schemas, "canonical.schema.json");
    assert_non_null(js);
    /* 131071 is a statistics-bureau code: in the code list (the C validator warns) */
    assert_true(json_schema_verdict(js, canonical_good, strlen(canonical_good)).accepted);
    assert_false(canonical_accepts_edit(js, "2024-02-29", "2023-02-29"));
    assert_false(canonical_accepts_edit(js, "\"131002\"", "\"139999\""));
    /* an ID number under no province of GB/T 2260, as the gateway refuses it (gb11643.province);
     * the residence permit of a Taiwan resident (83) passes both */
    assert_false(canonical_accepts_edit(js, "11010519491231002X", "300101199003070017"));
    assert_true(canonical_accepts_edit(js, "11010519491231002X", "830000199003070019"));
    /* a prefecture is not a place of household registration */
    assert_false(canonical_accepts_edit(js, "\"131071\"", "\"131000\""));
    assert_false(canonical_accepts_edit(js, "\"assistance\"", "\"unknown_fact\""));
    assert_false(canonical_accepts_edit(js, "\"assistance_category\": \"10\", ", ""));
    assert_false(canonical_accepts_edit(js, "324000", "-1"));
    assert_false(canonical_accepts_edit(js, "324000", "\"3240.00\""));
    assert_false(canonical_accepts_edit(js, "\"sex\": \"1\"", "\"sex\": \"3\""));
    assert_false(canonical_accepts_edit(js, "\"household_assistance_roster\"", "\"retirement\""));
    assert_false(canonical_accepts_edit(js, "\"name\": \"张三\", ", "\"nickname\": \"x\", "));
    /* a household roster needs its household */
    const char *hh = strstr(canonical_good, " \"household\"");
    const char *facts = strstr(canonical_good, " \"facts\"");
    char without[sizeof canonical_good];
    snprintf(without, sizeof without, "%.*s%s", (int)(hh - canonical_good), canonical_good, facts);
    assert_false(json_schema_verdict(js, without, strlen(without)).accepted);
}

static int teardown_ctx(void **state)
{
    tu_ctx_free();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_schemas_compile),
        cmocka_unit_test(test_committed_generated_files_match_build),
        cmocka_unit_test(test_specs_reference_the_dictionary),
        cmocka_unit_test(test_canonical_schema),
        cmocka_unit_test(test_schema_and_gateway_agree),
    };
    return cmocka_run_group_tests(tests, NULL, teardown_ctx);
}
