/*
 * Eligibility notices in each department's own format (include/msgw/model/notice.h,
 * docs/eligibility.md).  Real canonical records go through the decode stage
 * into the real eligibility engine with the Tianjin catalogue; the
 * transitions it emits are routed (msgw_route_transition) with a
 * configuration in which civil affairs, human resources, health and the
 * disability federation take notices and medical security (no adapter of its
 * own) takes the canonical one.  Every body is parsed (libxml2, jansson),
 * validated against the notice schema generated for its format, and its
 * values checked: ID number, service, kind, dates, amounts in fen, the
 * provenance of the deciding facts, the cause, the event id.  The encoders
 * are also fed hostile names (XML specials, non-BMP and control characters)
 * and must never write a malformed document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "msgw/decode/decode.h"
#include "msgw/model/canon.h"
#include "msgw/engine/catalogue.h"
#include "msgw/net/config.h"
#include "msgw/engine/eligibility.h"
#include "msgw/validate/jsonschema.h"
#include "msgw/pipeline/route.h"
#include "msgw/engine/rules.h"
#include "msgw/base/text.h"
#include "testutil.h"

#define HOLDER "12010519700315001X"  /* Tianjin 和平区 hukou 120105, disability grade 2 */
#define HOLDER_NAME "张<&>\"'𠮷"     /* XML specials and a non-BMP character (U+20BB7) */
#define PATIENT "120104195803120016" /* resident of 南开区 120104, 68 in 2026 */
#define PATIENT_NAME "李𠀀秀"
#define CDPF_NS "urn:msgw:cdpf:notice:1"
#define FHIR_V2_0203 "http://terminology.hl7.org/CodeSystem/v2-0203"

static const char config_fmt[] =
    "{\"region\": \"12\", \"catalogue\": \"tianjin\", \"data_dir\": \"/nonexistent\","
    " \"tls\": {\"ca\": \"ca.crt\", \"cert\": \"gw.crt\", \"key\": \"gw.key\"},"
    " \"departments\": ["
    "  {\"id\": \"mca\", \"eligibility\": true,"
    "   \"subscriptions\": [{\"kinds\": [\"disability_certificate\"], \"from\": [\"cdpf\"],"
    "                      \"fields\": [\"disability_grade\", \"certificate_event\"]}],"
    "   \"deliver\": {\"webhook\": {\"url\": \"https://mca.test/inbox\"%s}}},"
    "  {\"id\": \"hrss\", \"eligibility\": true,"
    "   \"deliver\": {\"webhook\": {\"url\": \"https://hrss.test/inbox\"%s}}},"
    "  {\"id\": \"health\", \"eligibility\": true,"
    "   \"deliver\": {\"webhook\": {\"url\": \"https://health.test/fhir\"}}},"
    "  {\"id\": \"cdpf\", \"eligibility\": true,"
    "   \"deliver\": {\"webhook\": {\"url\": \"https://cdpf.test/inbox\"%s}}},"
    "  {\"id\": \"medical_security\", \"format\": \"canonical\", \"eligibility\": true,"
    "   \"deliver\": {\"webhook\": {\"url\": \"https://ybj.test/inbox\"}}}]}";

/* ---- the fixture: catalogue, engine, configuration, outbox ------------------------------- */

typedef struct fx {
    msgw_catalogue *cat;
    msgw_elig *elig;
    msgw_config *cfg;
    msgw_arena *arena;
    msgw_outbox_list out;
    size_t of[512]; /* the transition each outbox message came from */
    msgw_transitions tr;
} fx;

/* mca, hrss, cdpf delivery media type parameters (e.g. a charset), "" for none. */
static fx *fx_new(const char *mca_mt, const char *hrss_mt, const char *cdpf_mt)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    msgw_errors e;
    msgw_errors_init(&e);
    f->cat = msgw_catalogue_load(tu_ctx()->dict, "tianjin", &e);
    assert_non_null(f->cat);
    f->elig = msgw_elig_new(f->cat);
    char text[4096];
    snprintf(text, sizeof text, config_fmt, mca_mt, hrss_mt, cdpf_mt);
    f->cfg = msgw_config_parse(text, strlen(text), tu_ctx()->dict, &e);
    if (!f->cfg) tu_dump_errors(&(msgw_batch){.errors = e});
    assert_non_null(f->cfg);
    f->arena = msgw_arena_new(0);
    msgw_transitions_init(&f->tr);
    msgw_errors_clear(&e);
    return f;
}

static void fx_destroy(fx *f)
{
    free(f->out.v);
    msgw_transitions_clear(&f->tr);
    msgw_arena_destroy(&f->arena);
    msgw_config_destroy(&f->cfg);
    msgw_elig_destroy(&f->elig);
    msgw_catalogue_destroy(&f->cat);
    free(f);
}

static void route_new(fx *f, size_t from, const msgw_record *cause)
{
    for (size_t t = from; t < f->tr.n; t++) {
        size_t before = f->out.n;
        msgw_route_transition(f->cfg, tu_ctx(), &f->tr.v[t], cause, f->arena, &f->out);
        for (size_t k = before; k < f->out.n; k++) {
            assert_true(k < sizeof f->of / sizeof f->of[0]);
            f->of[k] = t;
        }
    }
}

/* Decodes canonical JSON (printf format) through the decode stage, applies and routes each record.
 */
static void apply(fx *f, const char *date, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void apply(fx *f, const char *date, const char *fmt, ...)
{
    char doc[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(doc, sizeof doc, fmt, ap);
    va_end(ap);
    msgw_batch *b = tu_decode("canonical", NULL, doc, strlen(doc));
    if (b->errors.nerrors) tu_dump_errors(b);
    assert_int_equal(b->errors.nerrors, 0);
    msgw_date day;
    assert_true(msgw_date_parse_iso(date, strlen(date), &day));
    for (size_t i = 0; i < b->nitems; i++) {
        msgw_errors e;
        msgw_errors_init(&e);
        size_t from = f->tr.n;
        msgw_elig_apply(f->elig, b->items[i].record, day, &f->tr, &e);
        assert_int_equal(e.nerrors, 0);
        route_new(f, from, b->items[i].record);
        msgw_errors_clear(&e);
    }
    msgw_batch_destroy(&b);
}

static const msgw_transition *transition_of(const fx *f, const msgw_outbox_msg *m)
{
    return &f->tr.v[f->of[m - f->out.v]];
}

/* The one message to recipient about service of this kind (fails when there is none or several). */
static const msgw_outbox_msg *find(const fx *f, const char *recipient, const char *service,
                                   msgw_transition_kind kind)
{
    const msgw_outbox_msg *found = NULL;
    for (size_t i = 0; i < f->out.n; i++) {
        const msgw_transition *t = &f->tr.v[f->of[i]];
        if (strcmp(f->out.v[i].recipient, recipient) != 0 ||
            strcmp(t->service->code, service) != 0 || t->kind != kind)
            continue;
        assert_null(found);
        found = &f->out.v[i];
    }
    if (!found)
        fail_msg("no %s notice of %s to %s", msgw_transition_kind_name(kind), service, recipient);
    return found;
}

/* The event id as routing has always computed it: receivers de-duplicate by it. */
static void expect_event_id(const msgw_outbox_msg *m, const char *service, const char *kind,
                            const char *cause_or_since)
{
    char text[512], hex[65];
    snprintf(text, sizeof text, "%s|%s|%s|%s|%s", m->recipient, m->person, service, kind,
             cause_or_since);
    msgw_sha256_hex(text, strlen(text), hex);
    assert_string_equal(m->event_id, hex);
}

/* ---- the causing records -------------------------------------------------------------------- */

static char *json_quoted(const char *s)
{
    json_t *j = json_string(s);
    char *q = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    return q;
}

static void disability(fx *f, const char *date, const char *msgid, const char *from, const char *to,
                       const char *event)
{
    char *name = json_quoted(HOLDER_NAME), validity[64] = "";
    if (to) snprintf(validity, sizeof validity, ", \"valid_to\": \"%s\"", to);
    apply(
        f, date,
        "{\"kind\": \"disability_certificate\", \"message_id\": \"cdpf:%s\","
        " \"source\": {\"department\": \"cdpf\", \"message_id\": \"%s\"},"
        " \"recorded_at\": \"%sT09:00:00Z\","
        " \"persons\": [{\"id_number\": \"" HOLDER "\", \"name\": %s, \"sex\": \"1\","
        "   \"birth_date\": \"1970-03-15\", \"hukou_region\": \"120105\", \"hukou_type\": \"1\"}],"
        " \"facts\": [{\"type\": \"disability\", \"subject\": \"" HOLDER
        "\", \"valid_from\": \"%s\"%s,"
        "   \"attributes\": {\"disability_certificate_no\": \"" HOLDER
        "42\", \"disability_category\": \"4\","
        "   \"disability_grade\": \"2\", \"certificate_event\": \"%s\"}}]}",
        msgid, msgid, date, name, from, validity, event);
    free(name);
}

/* The person enrols in the resident pension (human resources): a fact the pension subsidy reads. */
static void enrolment(fx *f)
{
    apply(f, "2026-11-01",
          "{\"kind\": \"insurance_enrolment\", \"message_id\": \"hrss:CBDJ202611010007\","
          " \"source\": {\"department\": \"hrss\", \"message_id\": \"CBDJ202611010007\"},"
          " \"recorded_at\": \"2026-11-01T10:15:00Z\", \"persons\": [{\"id_number\": \"" HOLDER
          "\"}],"
          " \"facts\": [{\"type\": \"insurance\", \"subject\": \"" HOLDER
          "\", \"valid_from\": \"2026-11-01\","
          "   \"attributes\": {\"insurance_type\": \"170\", \"contribution_status\": \"1\","
          "   \"insured_region\": \"120105\"}}]}");
}

/* ---- XML and JSON helpers ------------------------------------------------------------------- */

static xmlDocPtr parse_xml(const msgw_outbox_msg *m)
{
    xmlDocPtr doc =
        xmlReadMemory(m->body, (int)m->len, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    if (!doc)
        fail_msg("%s: not well-formed XML:\n%.*s", m->recipient, (int)m->len,
                 (const char *)m->body);
    return doc;
}

static void expect_xsd_valid(const char *xsd, xmlDocPtr doc)
{
    void *schema = msgw_schemas_xsd(tu_ctx()->schemas, xsd);
    assert_non_null(schema);
    xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(schema);
    int rc = xmlSchemaValidateDoc(v, doc);
    xmlSchemaFreeValidCtxt(v);
    if (rc != 0) {
        xmlDocDump(stderr, doc);
        fail_msg("the notice is not valid against %s", xsd);
    }
}

/* The text of the node an XPath names (prefix c: the cdpf notice namespace); NULL when absent. */
static char *xp(xmlDocPtr doc, const char *path)
{
    xmlXPathContextPtr c = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(c, BAD_CAST "c", BAD_CAST CDPF_NS);
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST path, c);
    char *out = NULL;
    if (r && r->nodesetval && r->nodesetval->nodeNr > 0)
        out = (char *)xmlNodeGetContent(r->nodesetval->nodeTab[0]);
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(c);
    return out;
}

static void expect_xp(xmlDocPtr doc, const char *path, const char *want)
{
    char *got = xp(doc, path);
    if (!want) {
        if (got) fail_msg("%s: expected nothing, found \"%s\"", path, got);
        return;
    }
    if (!got) fail_msg("%s: missing, expected \"%s\"", path, want);
    if (strcmp(got, want) != 0) fail_msg("%s: \"%s\", expected \"%s\"", path, got, want);
    xmlFree(got);
}

/* An amount in fen written as a plain integer. */
static void expect_xp_int(xmlDocPtr doc, const char *path, long long want)
{
    char *got = xp(doc, path), *end = NULL;
    if (!got) fail_msg("%s: missing, expected %lld", path, want);
    long long v = strtoll(got, &end, 10);
    if (*got == '\0' || *end != '\0' || v != want)
        fail_msg("%s: \"%s\", expected the integer %lld", path, got, want);
    xmlFree(got);
}

static json_t *parse_json(const void *body, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) fail_msg("not JSON (%s):\n%.*s", je.text, (int)len, (const char *)body);
    return j;
}

static void expect_json_valid(const char *schema, const json_t *j)
{
    const msgw_jsonschema *s = msgw_schemas_json(tu_ctx()->schemas, schema);
    assert_non_null(s);
    msgw_errors e;
    msgw_errors_init(&e);
    if (!msgw_jsonschema_validate(s, j, &e, 0)) {
        tu_dump_errors(&(msgw_batch){.errors = e});
        char *text = json_dumps(j, JSON_INDENT(1));
        fail_msg("not valid against %s:\n%s", schema, text);
    }
    msgw_errors_clear(&e);
}

static const char *js(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The first object of array whose key equals value. */
static const json_t *item_with(const json_t *array, const char *key, const char *value)
{
    size_t i;
    const json_t *x;
    json_array_foreach(array, i, x) if (js(x, key) && strcmp(js(x, key), value) == 0) return x;
    fail_msg("no item with %s = %s", key, value);
    return NULL;
}

/* ---- civil affairs and the disability federation: one story, NEW, CHANGED, LOST ------------ */

static void check_mca_new(fx *f)
{
    const msgw_outbox_msg *m = find(f, "mca", "TJ-D7-12", MSGW_TR_NEW);
    assert_string_equal(m->media_type, "application/vnd.msgw.mca.notice+xml");
    assert_string_equal(m->kind, "eligibility");
    assert_string_equal(m->person, HOLDER);
    assert_string_equal(m->cause, "cdpf:P1-2");
    expect_event_id(m, "TJ-D7-12", "NEW", "cdpf:P1-2");
    xmlDocPtr doc = parse_xml(m);
    expect_xsd_valid("mca-notice.xsd", doc);
    expect_xp(doc, "/EligibilityNotice/@version", "1.0");
    expect_xp(doc, "/EligibilityNotice/Header/TZBH", m->event_id);
    expect_xp(doc, "/EligibilityNotice/BDLX", "NEW");
    expect_xp(doc, "/EligibilityNotice/PDRQ", "2026-11-02");
    expect_xp(doc, "/EligibilityNotice/Service/FWBM", "TJ-D7-12");
    expect_xp(doc, "/EligibilityNotice/Service/FWMC",
              msgw_catalogue_service(f->cat, "TJ-D7-12")->name);
    expect_xp(doc, "/EligibilityNotice/Person/SFZH", HOLDER);
    expect_xp(doc, "/EligibilityNotice/Person/XM", HOLDER_NAME);
    expect_xp(doc, "/EligibilityNotice/Person/HJQH", "120105");
    expect_xp(doc, "/EligibilityNotice/Entitlement/KSRQ", "2026-11-02");
    expect_xp(doc, "/EligibilityNotice/Entitlement/JSRQ", NULL);
    expect_xp(doc, "/EligibilityNotice/Entitlement/DYDC", "care");
    expect_xp_int(doc, "/EligibilityNotice/Entitlement/DYJE", 20000);
    expect_xp(doc, "/EligibilityNotice/Entitlement/FFZQ", "per person per month");
    expect_xp(doc, "/EligibilityNotice/Entitlement/YDYJE", NULL);
    const char *fact = "/EligibilityNotice/Facts/Fact[SSLX='disability']";
    char path[256];
    snprintf(path, sizeof path, "%s/Attribute[SXMC='disability_grade']/SXZ", fact);
    expect_xp(doc, path, "2");
    snprintf(path, sizeof path, "%s/YXQQ", fact);
    expect_xp(doc, path, "2026-11-02");
    snprintf(path, sizeof path, "%s/LYBM", fact);
    expect_xp(doc, path, "cdpf");
    snprintf(path, sizeof path, "%s/XXBH", fact);
    expect_xp(doc, path, "cdpf:P1-2");
    snprintf(path, sizeof path, "%s/JLSJ", fact);
    expect_xp(doc, path, "2026-11-02T09:00:00.000000Z");
    const char *param = "/EligibilityNotice/Parameters/Parameter[CSMC='disability_care']";
    snprintf(path, sizeof path, "%s/CSZ", param);
    expect_xp_int(doc, path, 20000);
    snprintf(path, sizeof path, "%s/SXRQ", param);
    expect_xp(doc, path, "2021-12-06");
    snprintf(path, sizeof path, "%s/CSLY", param);
    char *source = xp(doc, path);
    assert_non_null(source);
    xmlFree(source);
    expect_xp(doc, "/EligibilityNotice/Cause/YYLX", "record");
    expect_xp(doc, "/EligibilityNotice/Cause/LYBM", "cdpf");
    expect_xp(doc, "/EligibilityNotice/Cause/XXBH", "cdpf:P1-2");
    expect_xp(doc, "/EligibilityNotice/Cause/Change[SXMC='disability_grade']/XZ", "2");
    expect_xp(doc, "/EligibilityNotice/Cause/Change[SXMC='disability_grade']/YZ", NULL);
    xmlFreeDoc(doc);
}

static void check_cdpf_new(fx *f)
{
    const msgw_outbox_msg *m = find(f, "cdpf", "TJ-D7-12", MSGW_TR_NEW);
    assert_string_equal(m->media_type, "application/vnd.msgw.cdpf.notice+xml");
    expect_event_id(m, "TJ-D7-12", "NEW", "cdpf:P1-2");
    xmlDocPtr doc = parse_xml(m);
    expect_xsd_valid("cdpf-notice.xsd", doc);
    expect_xp(doc, "/c:EligibilityNotice/c:NoticeId", m->event_id);
    expect_xp(doc, "/c:EligibilityNotice/c:NoticeType", "NEW");
    expect_xp(doc, "/c:EligibilityNotice/c:EvaluationDate", "2026-11-02");
    expect_xp(doc, "/c:EligibilityNotice/c:Service/c:Code", "TJ-D7-12");
    expect_xp(doc, "/c:EligibilityNotice/c:Person/c:IdNumber", HOLDER);
    expect_xp(doc, "/c:EligibilityNotice/c:Person/c:Name", HOLDER_NAME);
    expect_xp(doc, "/c:EligibilityNotice/c:Entitlement/c:Since", "2026-11-02");
    expect_xp(doc, "/c:EligibilityNotice/c:Entitlement/c:Tier", "care");
    expect_xp_int(doc, "/c:EligibilityNotice/c:Entitlement/c:AmountFen", 20000);
    expect_xp(doc, "/c:EligibilityNotice/c:Facts/c:Fact[c:Type='disability']/c:Source/c:MessageId",
              "cdpf:P1-2");
    expect_xp(doc, "/c:EligibilityNotice/c:Facts/c:Fact[c:Type='disability']/c:Source/c:Department",
              "cdpf");
    expect_xp(doc,
              "/c:EligibilityNotice/c:Facts/c:Fact/c:Attribute[c:Name='disability_certificate_no']/"
              "c:Value",
              HOLDER "42");
    expect_xp_int(doc,
                  "/c:EligibilityNotice/c:Parameters/c:Parameter[c:Name='disability_care']/c:Value",
                  20000);
    expect_xp(doc, "/c:EligibilityNotice/c:Cause/c:Type", "record");
    expect_xp(doc, "/c:EligibilityNotice/c:Cause/c:MessageId", "cdpf:P1-2");
    xmlFreeDoc(doc);
}

static void check_hrss_new(fx *f)
{
    const msgw_outbox_msg *m = find(f, "hrss", "TJ-D7-10", MSGW_TR_NEW);
    const msgw_transition *t = transition_of(f, m);
    assert_string_equal(m->media_type, "application/vnd.msgw.hrss.notice+json");
    expect_event_id(m, "TJ-D7-10", "NEW", "cdpf:P1-2");
    json_t *j = parse_json(m->body, m->len);
    expect_json_valid("hrss-notice.schema.json", j);
    assert_string_equal(js(j, "msgType"), "HRSS_ELIGIBILITY_NOTICE");
    assert_string_equal(js(j, "noticeId"), m->event_id);
    assert_string_equal(js(j, "changeType"), "NEW");
    assert_string_equal(js(j, "evalDate"), "2026-11-02");
    assert_string_equal(js(j, "serviceCode"), "TJ-D7-10");
    assert_string_equal(js(j, "AAC002"), HOLDER);
    assert_string_equal(js(j, "AAC003"), HOLDER_NAME);
    assert_string_equal(js(j, "AAC010"), "120105");
    char since[11];
    assert_string_equal(js(j, "AAE030"), msgw_date_format(t->after.since, since));
    assert_null(json_object_get(j, "AAE031"));
    if (t->after.amount == MSGW_ABSENT) {
        assert_null(json_object_get(j, "amountFen"));
    } else {
        assert_true(json_is_integer(json_object_get(j, "amountFen")));
        assert_int_equal(json_integer_value(json_object_get(j, "amountFen")), t->after.amount);
    }
    const json_t *fact = item_with(json_object_get(j, "facts"), "factType", "disability");
    assert_string_equal(js(fact, "sourceDept"), "cdpf");
    assert_string_equal(js(fact, "sourceMsgId"), "cdpf:P1-2");
    assert_string_equal(js(fact, "recordedAt"), "2026-11-02T09:00:00.000000Z");
    assert_string_equal(js(fact, "AAE030"), "2026-11-02");
    /* data minimisation: hrss subscribes to no disability field, so it learns that a cdpf
       certificate decided (type, provenance), never its grade or category */
    assert_null(json_object_get(json_object_get(fact, "attributes"), "disability_grade"));
    assert_null(json_object_get(json_object_get(fact, "attributes"), "disability_category"));
    /* attributes the sector has a field code for are written under it */
    fact = item_with(json_object_get(j, "facts"), "factType", "insurance");
    assert_string_equal(js(json_object_get(fact, "attributes"), "AAE140"), "170");
    assert_string_equal(js(json_object_get(fact, "attributes"), "AAC031"), "1");
    assert_null(json_object_get(json_object_get(fact, "attributes"), "insurance_type"));
    assert_string_equal(js(fact, "sourceMsgId"), "hrss:CBDJ202611010007");
    assert_string_equal(js(fact, "sourceDept"), "hrss");
    const json_t *cause = json_object_get(j, "cause");
    assert_string_equal(js(cause, "causeType"), "record");
    assert_string_equal(js(cause, "sourceMsgId"), "cdpf:P1-2");
    json_decref(j);
}

/* A department without a notice format of its own (medical security): the canonical notice. */
static void check_canonical_new(fx *f)
{
    const msgw_outbox_msg *m = find(f, "medical_security", "TJ-D7-09", MSGW_TR_NEW);
    const msgw_transition *t = transition_of(f, m);
    assert_string_equal(m->media_type, "application/vnd.msgw.eligibility+json");
    expect_event_id(m, "TJ-D7-09", "NEW", "cdpf:P1-2");
    /* the explanation itself, with other departments' attributes withheld (it subscribes to none) */
    json_t *want = msgw_explanation_json(&t->explanation);
    size_t i;
    json_t *fx_;
    json_array_foreach(json_object_get(want, "facts"), i, fx_) json_object_set_new(fx_, "attributes", json_object());
    json_array_clear(json_object_get(json_object_get(want, "cause"), "changes"));
    json_t *j = parse_json(m->body, m->len);
    assert_true(json_equal(j, want));
    json_decref(want);
    expect_json_valid("eligibility-notice.schema.json", j);
    assert_string_equal(js(j, "kind"), "NEW");
    assert_string_equal(js(j, "person"), HOLDER);
    json_decref(j);
}

static void check_mca_changed(fx *f)
{
    const msgw_outbox_msg *m = find(f, "mca", "TJ-D7-12", MSGW_TR_CHANGED);
    assert_null(m->cause); /* a parameter: no record caused it */
    expect_event_id(m, "TJ-D7-12", "CHANGED", "2026-11-20"); /* no cause: the evaluation date */
    xmlDocPtr doc = parse_xml(m);
    expect_xsd_valid("mca-notice.xsd", doc);
    expect_xp(doc, "/EligibilityNotice/BDLX", "CHANGED");
    expect_xp(doc, "/EligibilityNotice/PDRQ", "2026-11-20");
    expect_xp(doc, "/EligibilityNotice/Person/XM", NULL); /* no record named the person */
    expect_xp(doc, "/EligibilityNotice/Entitlement/KSRQ", "2026-11-02");
    expect_xp(doc, "/EligibilityNotice/Entitlement/DYDC", "care");
    expect_xp_int(doc, "/EligibilityNotice/Entitlement/DYJE", 25000);
    expect_xp(doc, "/EligibilityNotice/Entitlement/YDYDC", "care");
    expect_xp_int(doc, "/EligibilityNotice/Entitlement/YDYJE", 20000);
    expect_xp_int(doc, "/EligibilityNotice/Parameters/Parameter[CSMC='disability_care']/CSZ",
                  25000);
    expect_xp(doc, "/EligibilityNotice/Parameters/Parameter[CSMC='disability_care']/SXRQ",
              "2026-11-20");
    expect_xp(doc, "/EligibilityNotice/Cause/YYLX", "parameter");
    expect_xp(doc, "/EligibilityNotice/Cause/CSMC", "disability_care");
    expect_xp(doc, "/EligibilityNotice/Cause/SXRQ", "2026-11-20");
    expect_xp_int(doc, "/EligibilityNotice/Cause/CSYZ", 20000);
    expect_xp_int(doc, "/EligibilityNotice/Cause/CSXZ", 25000);
    expect_xp(doc, "/EligibilityNotice/Cause/XXBH", NULL);
    xmlFreeDoc(doc);
}

/* The care allowance goes up to 250 yuan on 20 November: a CHANGED for every holder. */
static void care_allowance_raised(fx *f)
{
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_date day = msgw_date_from_ymd(2026, 11, 20);
    size_t from = f->tr.n;
    assert_true(msgw_elig_param_change(f->elig, f->cat, "disability_care", day, 25000,
                                       "test: notice", day, &f->tr, &e));
    route_new(f, from, NULL);
    msgw_errors_clear(&e);
}

static void check_lost(fx *f)
{
    const msgw_outbox_msg *m = find(f, "mca", "TJ-D7-12", MSGW_TR_LOST);
    assert_string_equal(m->cause, "cdpf:P1-4");
    expect_event_id(m, "TJ-D7-12", "LOST", "cdpf:P1-4");
    xmlDocPtr doc = parse_xml(m);
    expect_xsd_valid("mca-notice.xsd", doc);
    expect_xp(doc, "/EligibilityNotice/BDLX", "LOST");
    expect_xp(doc, "/EligibilityNotice/PDRQ", "2026-12-05");
    expect_xp(doc, "/EligibilityNotice/Person/XM", HOLDER_NAME);
    expect_xp(doc, "/EligibilityNotice/Entitlement/KSRQ", "2026-11-02");
    /* revoked on 1 December, learnt on the 5th: the certificate held until the 1st */
    expect_xp(doc, "/EligibilityNotice/Entitlement/JSRQ", "2026-12-01");
    expect_xp(doc, "/EligibilityNotice/Entitlement/DYDC", NULL);
    expect_xp_int(doc, "/EligibilityNotice/Entitlement/DYJE", 0);
    expect_xp(doc, "/EligibilityNotice/Entitlement/YDYDC", "care");
    expect_xp_int(doc, "/EligibilityNotice/Entitlement/YDYJE", 25000);
    /* what decided: the revoked certificate, no longer current, from the record that revoked it */
    expect_xp(doc, "/EligibilityNotice/Facts/Fact[SSLX='disability']/XXBH", "cdpf:P1-4");
    expect_xp(doc, "/EligibilityNotice/Facts/Fact[SSLX='disability']/LYBM", "cdpf");
    expect_xp(doc, "/EligibilityNotice/Facts/Fact[SSLX='disability']/YXQZ", "2026-12-01");
    expect_xp(doc, "/EligibilityNotice/Facts/Fact/Attribute[SXMC='certificate_event']/SXZ",
              "revoke");
    expect_xp(doc, "/EligibilityNotice/Cause/Change[SXMC='certificate_event']/YZ", "issue");
    expect_xp(doc, "/EligibilityNotice/Cause/Change[SXMC='certificate_event']/XZ", "revoke");
    xmlFreeDoc(doc);
    m = find(f, "cdpf", "TJ-D7-12", MSGW_TR_LOST);
    doc = parse_xml(m);
    expect_xsd_valid("cdpf-notice.xsd", doc);
    expect_xp(doc, "/c:EligibilityNotice/c:NoticeType", "LOST");
    expect_xp(doc, "/c:EligibilityNotice/c:Entitlement/c:Until", "2026-12-01");
    expect_xp_int(doc, "/c:EligibilityNotice/c:Entitlement/c:PreviousAmountFen", 25000);
    xmlFreeDoc(doc);
    json_t *j = parse_json(find(f, "hrss", "TJ-D7-10", MSGW_TR_LOST)->body,
                           find(f, "hrss", "TJ-D7-10", MSGW_TR_LOST)->len);
    expect_json_valid("hrss-notice.schema.json", j);
    assert_string_equal(js(j, "changeType"), "LOST");
    assert_string_equal(js(j, "AAE031"), "2026-12-01");
    json_decref(j);
}

/* Every notice routed is valid against its format's schema, whatever the service. */
static void check_all_valid(fx *f)
{
    for (size_t i = 0; i < f->out.n; i++) {
        const msgw_outbox_msg *m = &f->out.v[i];
        if (strstr(m->media_type, "+xml")) {
            xmlDocPtr doc = parse_xml(m);
            expect_xsd_valid(strstr(m->media_type, "mca") ? "mca-notice.xsd" : "cdpf-notice.xsd",
                             doc);
            xmlFreeDoc(doc);
            continue;
        }
        json_t *j = parse_json(m->body, m->len);
        expect_json_valid(strstr(m->media_type, "hrss")   ? "hrss-notice.schema.json"
                          : strstr(m->media_type, "fhir") ? "health-notice.schema.json"
                                                          : "eligibility-notice.schema.json",
                          j);
        json_decref(j);
    }
}

static void test_disability_story(void **state)
{
    (void)state;
    fx *f = fx_new("", "", "");
    enrolment(f);
    disability(f, "2026-11-02", "P1-2", "2026-11-02", "2036-11-01", "issue");
    check_mca_new(f);
    check_cdpf_new(f);
    check_hrss_new(f);
    check_canonical_new(f);
    /* the care allowance goes up on 20 November: every recipient hears of its CHANGED */
    care_allowance_raised(f);
    check_mca_changed(f);
    disability(f, "2026-12-05", "P1-4", "2026-11-02", "2026-12-01", "revoke");
    check_lost(f);
    check_all_valid(f);
    fx_destroy(f);
}

/* The holder's hukou moves to Langfang (131082): the Tianjin services decided by hukou end, and
 * each department's notice says why — the deciding place is outside the region served. */
static void test_jurisdiction_lost(void **state)
{
    (void)state;
    fx *f = fx_new("", "", "");
    enrolment(f);
    disability(f, "2026-11-02", "P1-2", "2026-11-02", "2036-11-01", "issue");
    apply(f, "2026-12-10",
          "{\"kind\": \"person_registration\", \"message_id\": \"health:MOVE\","
          " \"source\": {\"department\": \"health\", \"message_id\": \"MOVE\"},"
          " \"recorded_at\": \"2026-12-10T09:00:00Z\","
          " \"persons\": [{\"id_number\": \"" HOLDER "\", \"hukou_region\": \"131082\","
          "   \"residence_region\": \"131082\"}], \"facts\": []}");
    const msgw_outbox_msg *m = find(f, "mca", "TJ-D7-12", MSGW_TR_LOST);
    assert_string_equal(m->cause, "health:MOVE");
    xmlDocPtr doc = parse_xml(m);
    expect_xsd_valid("mca-notice.xsd", doc);
    expect_xp(doc, "/EligibilityNotice/Cause/GX/YJ", "hukou");
    expect_xp(doc, "/EligibilityNotice/Cause/GX/QH", "131082");
    expect_xp(doc, "/EligibilityNotice/Cause/GX/FW", "12");
    xmlFreeDoc(doc);
    doc = parse_xml(find(f, "cdpf", "TJ-D7-12", MSGW_TR_LOST));
    expect_xsd_valid("cdpf-notice.xsd", doc);
    expect_xp(doc, "/c:EligibilityNotice/c:Cause/c:Jurisdiction/c:DecidedBy", "hukou");
    expect_xp(doc, "/c:EligibilityNotice/c:Cause/c:Jurisdiction/c:Region", "131082");
    xmlFreeDoc(doc);
    m = find(f, "hrss", "TJ-D7-10", MSGW_TR_LOST);
    json_t *j = parse_json(m->body, m->len);
    expect_json_valid("hrss-notice.schema.json", j);
    const json_t *jd = json_object_get(json_object_get(j, "cause"), "jurisdiction");
    assert_string_equal(js(jd, "decidedBy"), "hukou");
    assert_string_equal(js(jd, "served"), "12");
    json_decref(j);
    check_all_valid(f);
    fx_destroy(f);
}

/* ---- health: a FHIR R4 Flag ----------------------------------------------------------------- */

/* FHIR JSON rules a generic JSON Schema does not state: no empty strings, arrays or objects, and
 * every extension has a url and either one value[x] or sub-extensions. */
static void expect_fhir_json(const json_t *j, const char *where)
{
    if (json_is_string(j)) {
        if (!*json_string_value(j)) fail_msg("%s: an empty string", where);
        return;
    }
    if (json_is_array(j)) {
        if (!json_array_size(j)) fail_msg("%s: an empty array", where);
        size_t i;
        const json_t *x;
        json_array_foreach(j, i, x) expect_fhir_json(x, where);
        return;
    }
    if (!json_is_object(j)) return;
    if (!json_object_size(j)) fail_msg("%s: an empty object", where);
    const char *key;
    const json_t *v;
    const json_t *ext = json_object_get(j, "extension");
    size_t i;
    const json_t *x;
    json_array_foreach(ext, i, x)
    {
        if (!js(x, "url")) fail_msg("%s: an extension without url", where);
        size_t values = 0;
        const char *k;
        const json_t *kv;
        json_object_foreach((json_t *)x, k, kv) values += strncmp(k, "value", 5) == 0;
        bool nested = json_object_get(x, "extension") != NULL;
        if (values + nested != 1)
            fail_msg("%s: extension %s needs one value[x] or sub-extensions", where, js(x, "url"));
    }
    json_object_foreach((json_t *)j, key, v) expect_fhir_json(v, key);
}

/* The sub-extension url of a complex extension (the first one). */
static const json_t *sub(const json_t *ext, const char *url)
{
    return item_with(json_object_get(ext, "extension"), "url", url);
}

static void patient(fx *f)
{
    char *name = json_quoted(PATIENT_NAME);
    apply(f, "2026-11-02",
          "{\"kind\": \"person_registration\", \"message_id\": \"health:P1\","
          " \"source\": {\"department\": \"health\", \"message_id\": \"P1\"}, \"recorded_at\": "
          "\"2026-11-02T08:00:00Z\","
          " \"persons\": [{\"id_number\": \"" PATIENT "\", \"name\": %s, \"sex\": \"1\","
          "   \"birth_date\": \"1958-03-12\", \"residence_region\": \"120104\"}],"
          " \"facts\": [{\"type\": \"residence\", \"subject\": \"" PATIENT
          "\", \"valid_from\": \"2001-05-01\","
          "   \"attributes\": {\"residence_region\": \"120104\"}}]}",
          name);
    apply(f, "2026-11-02",
          "{\"kind\": \"condition\", \"message_id\": \"health:C1\","
          " \"source\": {\"department\": \"health\", \"message_id\": \"C1\"}, \"recorded_at\": "
          "\"2026-11-02T08:30:00Z\","
          " \"persons\": [{\"id_number\": \"" PATIENT "\", \"name\": %s}],"
          " \"facts\": [{\"type\": \"condition\", \"subject\": \"" PATIENT
          "\", \"valid_from\": \"2015-06-01\","
          "   \"attributes\": {\"condition_code\": \"I10\", \"condition_category\": \"1\","
          "   \"clinical_status\": \"active\"}}]}",
          name);
    free(name);
}

static void test_health_flag(void **state)
{
    (void)state;
    fx *f = fx_new("", "", "");
    tu_ctx()->fhir_id_system = "urn:oid:2.16.156.10011.1.1";
    patient(f);
    const msgw_outbox_msg *m = find(f, "health", "TJ-D4-05", MSGW_TR_NEW);
    assert_string_equal(m->media_type, "application/fhir+json; fhirVersion=4.0");
    expect_event_id(m, "TJ-D4-05", "NEW", "health:C1");
    json_t *j = parse_json(m->body, m->len);
    expect_json_valid("health-notice.schema.json", j);
    expect_json_valid("fhir.schema.json", j);
    expect_fhir_json(j, "/");
    assert_string_equal(js(j, "resourceType"), "Flag");
    assert_string_equal(js(j, "status"), "active");
    assert_string_equal(js(json_array_get(json_object_get(j, "identifier"), 0), "value"),
                        m->event_id);
    const json_t *coding = json_array_get(json_object_get(json_object_get(j, "code"), "coding"), 0);
    assert_string_equal(js(coding, "system"), MSGW_NOTICE_SERVICE_SYSTEM);
    assert_string_equal(js(coding, "code"), "TJ-D4-05");
    const json_t *subj = json_object_get(j, "subject");
    const json_t *ident = json_object_get(subj, "identifier");
    assert_string_equal(js(ident, "value"), PATIENT);
    assert_string_equal(js(ident, "system"), "urn:oid:2.16.156.10011.1.1");
    const json_t *type =
        json_array_get(json_object_get(json_object_get(ident, "type"), "coding"), 0);
    assert_string_equal(js(type, "system"), FHIR_V2_0203);
    assert_string_equal(js(type, "code"), "NI");
    assert_string_equal(js(subj, "display"), PATIENT_NAME);
    const msgw_transition *t = transition_of(f, m);
    char since[11];
    assert_string_equal(js(json_object_get(j, "period"), "start"),
                        msgw_date_format(t->after.since, since));
    assert_null(json_object_get(json_object_get(j, "period"), "end"));
    const json_t *ext = json_array_get(json_object_get(j, "extension"), 0);
    assert_string_equal(js(ext, "url"), "urn:msgw:fhir:eligibility-notice");
    assert_string_equal(js(sub(ext, "kind"), "valueCode"), "NEW");
    assert_string_equal(js(sub(ext, "evaluationDate"), "valueDate"), "2026-11-02");
    assert_string_equal(js(sub(ext, "tier"), "valueString"), "hypertension");
    const json_t *fact = sub(ext, "fact");
    assert_string_equal(js(sub(fact, "type"), "valueCode"), "condition");
    assert_string_equal(js(sub(fact, "messageId"), "valueString"), "health:C1");
    assert_string_equal(js(sub(fact, "department"), "valueCode"), "health");
    assert_string_equal(js(sub(fact, "recordedAt"), "valueInstant"), "2026-11-02T08:30:00.000000Z");
    const json_t *attr = sub(fact, "attribute");
    assert_string_equal(js(sub(attr, "name"), "valueCode"), "condition_code");
    assert_string_equal(js(sub(attr, "value"), "valueString"), "I10");
    assert_string_equal(js(sub(sub(ext, "cause"), "messageId"), "valueString"), "health:C1");
    assert_string_equal(js(json_object_get(j, "text"), "status"), "generated");
    json_decref(j);
    /* the health adapter reads it as FHIR: a resource it does not map, no error */
    msgw_batch *b = tu_decode("health", "application/fhir+json", m->body, m->len);
    assert_int_equal(b->errors.nerrors, 0);
    assert_int_equal(msgw_batch_count_ok(b), 0);
    assert_true(tu_has_error(b, "fhir.resource.skipped", NULL));
    msgw_batch_destroy(&b);
    /* a death on 1 December, recorded on the 3rd: the Flag becomes inactive, ending on the death */
    apply(f, "2026-12-03",
          "{\"kind\": \"death\", \"message_id\": \"health:D1\", \"source\": {\"department\": "
          "\"health\", \"message_id\": \"D1\"},"
          " \"persons\": [{\"id_number\": \"" PATIENT "\"}],"
          " \"facts\": [{\"type\": \"death\", \"subject\": \"" PATIENT
          "\", \"valid_from\": \"2026-12-01\","
          "   \"attributes\": {\"death_date\": \"2026-12-01\"}}]}");
    m = find(f, "health", "TJ-D4-05", MSGW_TR_LOST);
    j = parse_json(m->body, m->len);
    expect_json_valid("health-notice.schema.json", j);
    expect_fhir_json(j, "/");
    assert_string_equal(js(j, "status"), "inactive");
    assert_string_equal(js(json_object_get(j, "period"), "end"), "2026-12-01");
    ext = json_array_get(json_object_get(j, "extension"), 0);
    assert_string_equal(js(sub(ext, "kind"), "valueCode"), "LOST");
    assert_true(json_is_true(json_object_get(sub(sub(ext, "cause"), "death"), "valueBoolean")));
    assert_null(json_object_get(json_object_get(j, "subject"),
                                "display")); /* the death record names no one */
    json_decref(j);
    check_all_valid(f);
    tu_ctx()->fhir_id_system = NULL;
    fx_destroy(f);
}

/* ---- charsets and the fallback ----------------------------------------------------------------
 */

/* Departments whose records travel in GB18030 get their notices in GB18030 too. */
/*
 * "Since" is the day the person became eligible, in every format: a woman first heard of at 100
 * (born 1926-03-15, an address recorded in 2000) has had the centenarian allowance since her 100th
 * birthday (mca KSRQ); health management and the resident pension since long before the catalogue
 * was issued, so since its issue date (FHIR period.start, hrss AAE030).
 */
static void test_since_in_every_format(void **state)
{
    (void)state;
    fx *f = fx_new("", "", "");
    apply(f, "2026-11-25",
          "{\"kind\": \"person_registration\", \"message_id\": \"mca:C100\","
          " \"source\": {\"department\": \"mca\", \"message_id\": \"C100\"},"
          " \"recorded_at\": \"2026-11-25T09:00:00Z\","
          " \"persons\": [{\"id_number\": \"12010219260315002X\", \"sex\": \"2\","
          "   \"hukou_region\": \"120102\", \"hukou_type\": \"1\"}],"
          " \"facts\": [{\"type\": \"residence\", \"subject\": \"12010219260315002X\","
          "   \"valid_from\": \"2000-01-01\", \"attributes\": {\"residence_region\": \"120102\"}}]}");
    const msgw_outbox_msg *m = find(f, "mca", "TJ-D5-08", MSGW_TR_NEW);
    xmlDocPtr doc = parse_xml(m);
    expect_xp(doc, "/EligibilityNotice/Entitlement/KSRQ", "2026-03-15");
    xmlFreeDoc(doc);
    m = find(f, "health", "TJ-D5-01", MSGW_TR_NEW);
    json_t *j = parse_json(m->body, m->len);
    assert_string_equal(js(json_object_get(j, "period"), "start"), "2021-12-06");
    json_decref(j);
    m = find(f, "hrss", "TJ-D5-05", MSGW_TR_NEW);
    j = parse_json(m->body, m->len);
    assert_string_equal(js(j, "AAE030"), "2021-12-06");
    json_decref(j);
    check_all_valid(f);
    fx_destroy(f);
}

static void test_gb18030(void **state)
{
    (void)state;
#define GB(type) ", \"media_type\": \"application/vnd.msgw." type "; charset=GB18030\""
    fx *f = fx_new(GB("mca.roster+xml"), GB("hrss+json"), GB("cdpf.certificate+xml"));
#undef GB
    disability(f, "2026-11-02", "P1-2", "2026-11-02", NULL, "issue");
    const msgw_outbox_msg *m = find(f, "mca", "TJ-D7-12", MSGW_TR_NEW);
    assert_string_equal(m->media_type, "application/vnd.msgw.mca.notice+xml; charset=GB18030");
    assert_true(strncmp(m->body, "<?xml version=\"1.0\" encoding=\"GB18030\"?>", 40) == 0);
    assert_true(msgw_utf8_valid_prefix(m->body, m->len) < m->len); /* GB18030 bytes, not UTF-8 */
    xmlDocPtr doc = parse_xml(m);
    expect_xsd_valid("mca-notice.xsd", doc);
    expect_xp(doc, "/EligibilityNotice/Person/XM", HOLDER_NAME); /* 𠮷: four bytes in GB18030 */
    expect_xp(doc, "/EligibilityNotice/Service/FWMC",
              msgw_catalogue_service(f->cat, "TJ-D7-12")->name);
    xmlFreeDoc(doc);
    m = find(f, "cdpf", "TJ-D7-12", MSGW_TR_NEW);
    assert_string_equal(m->media_type, "application/vnd.msgw.cdpf.notice+xml; charset=GB18030");
    doc = parse_xml(m);
    expect_xsd_valid("cdpf-notice.xsd", doc);
    expect_xp(doc, "/c:EligibilityNotice/c:Person/c:Name", HOLDER_NAME);
    xmlFreeDoc(doc);
    m = find(f, "hrss", "TJ-D7-10", MSGW_TR_NEW);
    assert_string_equal(m->media_type, "application/vnd.msgw.hrss.notice+json; charset=GB18030");
    msgw_arena *a = msgw_arena_new(0);
    size_t n = 0, bad = 0;
    const char *utf8 = msgw_gb18030_to_utf8(m->body, m->len, a, &n, &bad);
    assert_non_null(utf8);
    json_t *j = parse_json(utf8, n);
    expect_json_valid("hrss-notice.schema.json", j);
    assert_string_equal(js(j, "AAC003"), HOLDER_NAME);
    json_decref(j);
    msgw_arena_destroy(&a);
    fx_destroy(f);
}

/* An adapter that cannot write the notice (here: a charset it does not write): the canonical one.
 */
static void test_fallback_when_encoder_fails(void **state)
{
    (void)state;
    fx *f = fx_new(", \"media_type\": \"application/vnd.msgw.mca.roster+xml; charset=ISO-8859-1\"",
                   "", "");
    disability(f, "2026-11-02", "P1-2", "2026-11-02", NULL, "issue");
    const msgw_outbox_msg *m = find(f, "mca", "TJ-D7-12", MSGW_TR_NEW);
    assert_string_equal(m->media_type, "application/vnd.msgw.eligibility+json");
    expect_event_id(m, "TJ-D7-12", "NEW", "cdpf:P1-2");
    json_t *j = parse_json(m->body, m->len);
    expect_json_valid("eligibility-notice.schema.json", j);
    assert_string_equal(js(j, "service"), "TJ-D7-12");
    json_decref(j);
    /* the other recipient of the same transition still gets its own format */
    assert_string_equal(find(f, "cdpf", "TJ-D7-12", MSGW_TR_NEW)->media_type,
                        "application/vnd.msgw.cdpf.notice+xml");
    fx_destroy(f);
}

/* ---- hostile text: every encoder writes well-formed documents or refuses ------------------- */

static void test_encoders_hostile_text(void **state)
{
    (void)state;
    static const char *const names[] = {
        "<&>\"'",         /* the five XML specials */
        "𠮷𠀀😀",          /* outside the BMP */
        "]]></XM><XM>",   /* markup-looking text */
        "a\001b",         /* a C0 control: XML 1.0 cannot carry it */
        "\xEF\xBF\xBF",   /* U+FFFF: not an XML character */
        " spaced  name ", /* not a FHIR code, a fine string */
        "",
    };
    static const char *const adapters[] = {"mca", "cdpf", "hrss", "health", "canonical"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        const char *s = names[k];
        bool xml_ok = !strchr(s, '\001') && !strstr(s, "\xEF\xBF\xBF");
        msgw_attr attrs[] = {{"observation_value", {.kind = MSGW_V_STRING, .u.s = s}},
                             {"benefit_monthly_fen", {.kind = MSGW_V_MONEY, .u.i = INT64_MAX}},
                             {"start_date", {.kind = MSGW_V_DATE, .u.d = 0}},
                             {"verified", {.kind = MSGW_V_BOOL, .u.b = true}}};
        msgw_notice_fact fact = {"observation", MSGW_DATE_NONE, 20000, attrs, 4, s, s, 1};
        msgw_notice_param param = {s, INT64_MIN + 1, 0, s};
        msgw_notice_change change = {s, s, NULL, s};
        /* the canonical notice writes the explanation: the same hostile text in every field */
        msgw_explanation x = {.kind = MSGW_TR_LOST, .service = "TJ-D4-05", .name = s, .person = PATIENT,
                              .date = 20000, .since = MSGW_DATE_NONE, .tier = s, .amount = 0,
                              .amount_period = s, .rule = s, .params = &param, .nparams = 1, .facts = &fact,
                              .nfacts = 1, .hukou_region = s, .age = -1,
                              .cause = {.kind = MSGW_CAUSE_RECORD, .department = s, .message_id = s,
                                        .changes = &change, .nchanges = 1, .jurisdiction_by = s,
                                        .jurisdiction_region = s, .jurisdiction_of = s,
                                        .jurisdiction_source = s, .jurisdiction_served = s}};
        msgw_notice n = {.event_id = "e1",
                         .kind = MSGW_TR_LOST,
                         .service_code = "TJ-D4-05",
                         .service_name = "慢性病患者健康管理",
                         .person = PATIENT,
                         .person_name = s,
                         .hukou_region = s,
                         .date = 20000,
                         .since = 19000,
                         .until = 19999,
                         .tier = s,
                         .amount = 0,
                         .previous_tier = s,
                         .previous_amount = INT64_MAX,
                         .amount_period = s,
                         .rule = s,
                         .facts = &fact,
                         .nfacts = 1,
                         .params = &param,
                         .nparams = 1,
                         .cause = {.kind = MSGW_CAUSE_PARAMETER,
                                   .parameter = s,
                                   .param_from = 1,
                                   .old_value = MSGW_ABSENT,
                                   .new_value = 5,
                                   .changes = &change,
                                   .nchanges = 1,
                                   .death = true},
                         .text = s,
                         .explanation = &x};
        for (size_t a = 0; a < sizeof adapters / sizeof *adapters; a++) {
            const msgw_adapter *ad = msgw_adapter_find(adapters[a]);
            msgw_buf b;
            msgw_buf_init(&b);
            msgw_errors e;
            msgw_errors_init(&e);
            const char *mt = NULL;
            bool ok = ad->encode_notice(tu_ctx(), NULL, &n, &b, &mt, &e);
            bool xml = strcmp(adapters[a], "mca") == 0 || strcmp(adapters[a], "cdpf") == 0;
            if (xml && !xml_ok) {
                assert_false(ok); /* refused, said why: routing then sends the canonical notice */
                assert_true(e.nerrors > 0);
            } else {
                if (!ok) fail_msg("%s refused the notice for name #%zu", adapters[a], k);
                assert_non_null(mt);
                msgw_outbox_msg m = {.recipient = adapters[a], .body = b.data, .len = b.len};
                if (xml) {
                    xmlDocPtr doc = parse_xml(&m);
                    expect_xp(doc,
                              strcmp(adapters[a], "mca") == 0
                                  ? "/EligibilityNotice/Person/XM"
                                  : "/c:EligibilityNotice/c:Person/c:Name",
                              s);
                    xmlFreeDoc(doc);
                } else {
                    json_t *j = parse_json(b.data, b.len);
                    if (strcmp(adapters[a], "health") == 0) {
                        expect_fhir_json(j, "/");
                        if (*s)
                            assert_string_equal(js(json_object_get(j, "subject"), "display"), s);
                    }
                    if (strcmp(adapters[a], "hrss") == 0) assert_string_equal(js(j, "AAC003"), s);
                    json_decref(j);
                }
            }
            msgw_buf_free(&b);
            msgw_errors_clear(&e);
        }
    }
}

/* ---- several notices in one message (docs/eligibility.md, "Several notices in one message") ---
 * A recipient taking more than one notice per message gets them joined by the adapter that wrote
 * them (msgw_adapter.join_notices) into one list document of its format: the list is valid against
 * the format's generated schema (its list form), holds exactly the notices joined, in order, each
 * equal to its single document, and is in the notices' own encoding. */

static bool same_node(xmlNodePtr a, xmlNodePtr b);

/* Two sibling lists with the same nodes (documents parsed without blanks). */
static bool same_children(xmlNodePtr a, xmlNodePtr b)
{
    for (; a && b; a = a->next, b = b->next)
        if (!same_node(a, b)) return false;
    return !a && !b;
}

/* The same element: name, namespace, attributes and content (text compared as characters). */
static bool same_node(xmlNodePtr a, xmlNodePtr b)
{
    if (a->type != b->type) return false;
    if (a->type == XML_TEXT_NODE || a->type == XML_CDATA_SECTION_NODE)
        return xmlStrEqual(a->content, b->content);
    if (a->type != XML_ELEMENT_NODE) return true;
    if (!xmlStrEqual(a->name, b->name) ||
        !xmlStrEqual(a->ns ? a->ns->href : NULL, b->ns ? b->ns->href : NULL))
        return false;
    size_t na = 0, nb = 0;
    for (xmlAttrPtr p = b->properties; p; p = p->next)
        nb++;
    for (xmlAttrPtr p = a->properties; p; p = p->next, na++) {
        xmlChar *va = xmlNodeGetContent((xmlNodePtr)p);
        xmlChar *vb = xmlGetNsProp(b, p->name, p->ns ? p->ns->href : NULL);
        bool same = vb && xmlStrEqual(va, vb);
        xmlFree(va);
        xmlFree(vb);
        if (!same) return false;
    }
    return na == nb && same_children(a->children, b->children);
}

/* A body as UTF-8 text: GB18030 bodies converted (into a). */
static const char *utf8_of(const void *body, size_t len, bool gb, msgw_arena *a, size_t *n)
{
    *n = len;
    if (!gb) return body;
    assert_true(msgw_utf8_valid_prefix(body, len) < len); /* GB18030 bytes, not UTF-8 */
    size_t bad = 0;
    const char *text = msgw_gb18030_to_utf8(body, len, a, n, &bad);
    assert_non_null(text);
    return text;
}

static void check_xml_list(const msgw_outbox_msg *list, const msgw_outbox_msg *const *msgs,
                           size_t n, bool mca, bool gb)
{
    if (gb) {
        assert_true(strncmp(list->body, "<?xml version=\"1.0\" encoding=\"GB18030\"?>", 40) == 0);
        assert_true(msgw_utf8_valid_prefix(list->body, list->len) < list->len);
    } else {
        assert_true(strncmp(list->body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 38) == 0);
    }
    xmlDocPtr doc = parse_xml(list);
    expect_xsd_valid(mca ? "mca-notice.xsd" : "cdpf-notice.xsd", doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_string_equal((const char *)root->name, "EligibilityNotices");
    if (mca)
        assert_null(root->ns);
    else
        assert_string_equal((const char *)root->ns->href, CDPF_NS);
    expect_xp(doc, mca ? "/EligibilityNotices/@version" : "/c:EligibilityNotices/@version",
              mca ? "1.0" : "1");
    size_t k = 0;
    for (xmlNodePtr c = root->children; c; c = c->next, k++) {
        assert_int_equal(c->type, XML_ELEMENT_NODE);
        if (k >= n) fail_msg("%s: more than the %zu notices joined", list->recipient, n);
        xmlDocPtr one = parse_xml(msgs[k]);
        if (!same_node(c, xmlDocGetRootElement(one))) {
            xmlDocDump(stderr, doc);
            fail_msg("%s: notice %zu of the list differs from its single document",
                     list->recipient, k + 1);
        }
        xmlFreeDoc(one);
        char path[128];
        snprintf(path, sizeof path,
                 mca ? "/EligibilityNotices/EligibilityNotice[%zu]/Header/TZBH"
                     : "/c:EligibilityNotices/c:EligibilityNotice[%zu]/c:NoticeId",
                 k + 1);
        expect_xp(doc, path, msgs[k]->event_id);
    }
    assert_int_equal(k, n);
    xmlFreeDoc(doc);
}

static void check_json_list(const msgw_outbox_msg *list, const msgw_outbox_msg *const *msgs,
                            size_t n, const char *adapter, bool gb)
{
    bool health = strcmp(adapter, "health") == 0, canonical = strcmp(adapter, "canonical") == 0;
    msgw_arena *a = msgw_arena_new(0);
    size_t len;
    const char *text = utf8_of(list->body, list->len, gb, a, &len);
    json_t *j = parse_json(text, len);
    expect_json_valid(health      ? "health-notice.schema.json"
                      : canonical ? "eligibility-notice.schema.json"
                                  : "hrss-notice.schema.json",
                      j);
    const json_t *items = j;
    if (health) {
        expect_fhir_json(j, "/");
        assert_int_equal(json_object_size(j), 3);
        assert_string_equal(js(j, "resourceType"), "Bundle");
        assert_string_equal(js(j, "type"), "collection");
        items = json_object_get(j, "entry");
        expect_json_valid("fhir.schema.json", j);
        /* the health adapter reads it as a FHIR Bundle of resources it does not map, no error */
        msgw_batch *b = tu_decode("health", "application/fhir+json", list->body, list->len);
        assert_int_equal(b->errors.nerrors, 0);
        assert_int_equal(msgw_batch_count_ok(b), 0);
        assert_true(tu_has_error(b, "fhir.resource.skipped", NULL));
        msgw_batch_destroy(&b);
    }
    assert_true(json_is_array(items));
    assert_int_equal(json_array_size(items), n);
    for (size_t k = 0; k < n; k++) {
        const json_t *item = json_array_get(items, k);
        if (health) {
            assert_int_equal(json_object_size(item), 1);
            item = json_object_get(item, "resource");
        } else if (canonical) { /* the explanation names no id: the list item does */
            assert_int_equal(json_object_size(item), 2);
            assert_string_equal(js(item, "notice_id"), msgs[k]->event_id);
            item = json_object_get(item, "notice");
        }
        const char *single = utf8_of(msgs[k]->body, msgs[k]->len, gb, a, &len);
        json_t *one = parse_json(single, len);
        if (!json_equal(item, one)) {
            char *got = json_dumps(item, JSON_INDENT(1));
            fail_msg("%s: notice %zu of the list differs from its single document:\n%s",
                     list->recipient, k + 1, got);
        }
        json_decref(one);
        if (health)
            assert_string_equal(js(json_array_get(json_object_get(item, "identifier"), 0), "value"),
                                msgs[k]->event_id);
        else if (!canonical)
            assert_string_equal(js(item, "noticeId"), msgs[k]->event_id);
    }
    json_decref(j);
    msgw_arena_destroy(&a);
}

/* Joins msgs[0..n) (one recipient's notices, one media type) with the adapter that wrote them,
 * found by the media type, and checks the list. */
static void check_list(const msgw_outbox_msg *const *msgs, size_t n, const char *adapter)
{
    const char *mt = msgs[0]->media_type;
    const msgw_adapter *ad = msgw_adapter_for_notice_type(mt);
    if (!ad) fail_msg("msgw_adapter_for_notice_type: no adapter writes notices of %s", mt);
    assert_string_equal(ad->name, adapter);
    assert_non_null(ad->join_notices);
    const char *ids[3], *bodies[3];
    size_t lens[3];
    assert_true(n >= 1 && n <= 3);
    for (size_t k = 0; k < n; k++) {
        assert_string_equal(msgs[k]->media_type, mt);
        ids[k] = msgs[k]->event_id;
        bodies[k] = msgs[k]->body;
        lens[k] = msgs[k]->len;
    }
    msgw_buf b;
    msgw_buf_init(&b);
    ad->join_notices(mt, ids, bodies, lens, n, &b);
    assert_true(b.len > 0);
    msgw_outbox_msg list = {.recipient = msgs[0]->recipient, .media_type = mt, .body = b.data,
                            .len = b.len};
    bool gb = strstr(mt, "charset=GB18030") != NULL;
    if (strstr(mt, "+xml"))
        check_xml_list(&list, msgs, n, strcmp(adapter, "mca") == 0, gb);
    else
        check_json_list(&list, msgs, n, adapter, gb);
    msgw_buf_free(&b);
}

/* Lists of 3 (or 2) different notices and of one, of the notices routed to recipient. */
static void check_lists_to(const fx *f, const char *recipient, const char *adapter)
{
    const msgw_outbox_msg *v[3];
    size_t n = 0;
    for (size_t i = 0; i < f->out.n && n < 3; i++)
        if (strcmp(f->out.v[i].recipient, recipient) == 0) v[n++] = &f->out.v[i];
    if (n < 2) fail_msg("%s: %zu notices routed, the test needs at least 2", recipient, n);
    for (size_t k = 1; k < n; k++)
        assert_string_not_equal(v[k]->event_id, v[k - 1]->event_id);
    check_list(v, n, adapter);
    check_list(v + 1, 1, adapter);
}

static void test_notice_lists(void **state)
{
    (void)state;
    fx *f = fx_new("", "", "");
    enrolment(f);
    disability(f, "2026-11-02", "P1-2", "2026-11-02", "2036-11-01", "issue");
    care_allowance_raised(f);
    disability(f, "2026-12-05", "P1-4", "2026-11-02", "2026-12-01", "revoke");
    patient(f);
    check_lists_to(f, "mca", "mca");
    check_lists_to(f, "cdpf", "cdpf");
    check_lists_to(f, "hrss", "hrss");
    check_lists_to(f, "health", "health");
    check_lists_to(f, "medical_security", "canonical");
    fx_destroy(f);
    /* the charset a notice type carries does not change its adapter; a record type has none */
    const msgw_adapter *gb =
        msgw_adapter_for_notice_type("application/vnd.msgw.hrss.notice+json; charset=GB18030");
    assert_non_null(gb);
    assert_string_equal(gb->name, "hrss");
    assert_null(msgw_adapter_for_notice_type("application/vnd.msgw.mca.roster+xml"));
    assert_null(msgw_adapter_for_notice_type("application/vnd.msgw.hrss+json"));
}

/* In GB18030 the list stays in GB18030: the first notice's declaration, the notices' bytes. */
static void test_notice_lists_gb18030(void **state)
{
    (void)state;
#define GB(type) ", \"media_type\": \"application/vnd.msgw." type "; charset=GB18030\""
    fx *f = fx_new(GB("mca.roster+xml"), GB("hrss+json"), GB("cdpf.certificate+xml"));
#undef GB
    enrolment(f);
    disability(f, "2026-11-02", "P1-2", "2026-11-02", "2036-11-01", "issue");
    disability(f, "2026-12-05", "P1-4", "2026-11-02", "2026-12-01", "revoke");
    for (size_t i = 0; i < f->out.n; i++) {
        const char *to = f->out.v[i].recipient;
        if (strcmp(to, "mca") == 0 || strcmp(to, "cdpf") == 0 || strcmp(to, "hrss") == 0)
            assert_non_null(strstr(f->out.v[i].media_type, "; charset=GB18030"));
    }
    check_lists_to(f, "mca", "mca");
    check_lists_to(f, "cdpf", "cdpf");
    check_lists_to(f, "hrss", "hrss");
    fx_destroy(f);
}

static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

/* The list forms of the schemas hold at least one notice, of their own format. */
static void test_notice_list_schemas(void **state)
{
    (void)state;
    static const char *const empty_xml[] = {
        "<EligibilityNotices version=\"1.0\"/>",
        "<EligibilityNotices xmlns=\"" CDPF_NS "\" version=\"1\"/>",
    };
    for (size_t i = 0; i < 2; i++) {
        xmlDocPtr doc = xmlReadMemory(empty_xml[i], (int)strlen(empty_xml[i]), NULL, NULL, 0);
        assert_non_null(doc);
        xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(
            msgw_schemas_xsd(tu_ctx()->schemas, i ? "cdpf-notice.xsd" : "mca-notice.xsd"));
        xmlSchemaSetValidErrors(v, quiet, quiet, NULL);
        assert_int_not_equal(xmlSchemaValidateDoc(v, doc), 0);
        xmlSchemaFreeValidCtxt(v);
        xmlFreeDoc(doc);
    }
    static const struct {
        const char *schema, *doc;
    } bad[] = {
        {"hrss-notice.schema.json", "[]"},
        {"hrss-notice.schema.json", "[{\"resourceType\": \"Flag\"}]"},
        {"eligibility-notice.schema.json", "[]"},
        {"eligibility-notice.schema.json", "[{\"notice_id\": \"e1\"}]"},
        {"health-notice.schema.json", "{\"resourceType\": \"Bundle\", \"type\": \"collection\", "
                                      "\"entry\": []}"},
        {"health-notice.schema.json",
         "{\"resourceType\": \"Bundle\", \"type\": \"collection\", "
         "\"entry\": [{\"resource\": {\"resourceType\": \"Patient\"}}]}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *j = parse_json(bad[i].doc, strlen(bad[i].doc));
        msgw_errors e;
        msgw_errors_init(&e);
        if (msgw_jsonschema_validate(msgw_schemas_json(tu_ctx()->schemas, bad[i].schema), j, &e, 0))
            fail_msg("%s accepts %s", bad[i].schema, bad[i].doc);
        msgw_errors_clear(&e);
        json_decref(j);
    }
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
        cmocka_unit_test(test_disability_story),
        cmocka_unit_test(test_jurisdiction_lost), cmocka_unit_test(test_health_flag),
        cmocka_unit_test(test_since_in_every_format), cmocka_unit_test(test_gb18030),          cmocka_unit_test(test_fallback_when_encoder_fails),
           cmocka_unit_test(test_encoders_hostile_text),
        cmocka_unit_test(test_notice_lists), cmocka_unit_test(test_notice_lists_gb18030),
        cmocka_unit_test(test_notice_list_schemas),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
