/*
 * The health adapter (HL7 FHIR R4 JSON): decoding the Chinese-ID samples to
 * exact canonical values, the real HL7 examples as they are (what is mapped,
 * skipped and why a Patient without a resident ID cannot be keyed), every
 * error category with its rule and JSON pointer, limits and hostile input,
 * and the decode -> encode -> decode round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "msgw/decode/decode.h"
#include "msgw/base/date.h"
#include "msgw/model/model.h"
#include "testutil.h"

#define FHIR "application/fhir+json"

static const msgw_adapter *health(void)
{
    const msgw_adapter *ad = msgw_adapter_find("health");
    assert_non_null(ad);
    return ad;
}

static msgw_batch *decode_file(const char *rel)
{
    size_t len;
    char *buf = tu_read_file(rel, &len);
    msgw_batch *b = tu_decode("health", FHIR, buf, len);
    free(buf);
    return b;
}

static msgw_batch *decode_text(const char *text)
{
    return tu_decode("health", FHIR, text, strlen(text));
}

static msgw_date ymd(int y, int m, int d)
{
    return msgw_date_from_ymd(y, m, d);
}

static const char *attr_s(const msgw_fact *f, const char *name)
{
    const msgw_attr *a = msgw_fact_attr(f, name);
    assert_non_null(a);
    return a->v.u.s;
}

static msgw_date attr_d(const msgw_fact *f, const char *name)
{
    const msgw_attr *a = msgw_fact_attr(f, name);
    assert_non_null(a);
    assert_int_equal(a->v.kind, MSGW_V_DATE);
    return a->v.u.d;
}

static const msgw_record *ok_record(const msgw_batch *b, size_t i, const char *kind)
{
    assert_true(i < b->nitems);
    if (!b->items[i].record) tu_dump_errors(b);
    assert_non_null(b->items[i].record);
    assert_string_equal(b->items[i].record->kind, kind);
    return b->items[i].record;
}

/* The error (or warning) with this rule, or NULL. */
static const msgw_error *find_rule(const msgw_batch *b, const char *rule)
{
    for (size_t i = 0; i < b->errors.n; i++)
        if (b->errors.v[i].rule && strcmp(b->errors.v[i].rule, rule) == 0) return &b->errors.v[i];
    return NULL;
}

static void assert_rule(const msgw_batch *b, const char *rule, const char *loc, int record,
                        const char *message_part)
{
    const msgw_error *e = NULL;
    for (size_t i = 0; i < b->errors.n && !e; i++) {
        const msgw_error *c = &b->errors.v[i];
        if (c->rule && strcmp(c->rule, rule) == 0 && (!loc || (c->location && strcmp(c->location, loc) == 0)))
            e = c;
    }
    if (!e) {
        fprintf(stderr, "no %s at %s\n", rule, loc ? loc : "(any)");
        tu_dump_errors(b);
    }
    assert_non_null(e);
    assert_int_equal(e->record, record);
    if (message_part) assert_non_null(strstr(e->message, message_part));
}

/* ---- the Chinese-ID samples ------------------------------------------- */

static void test_transaction_sample(void **state)
{
    msgw_batch *b = decode_file("tests/data/health/transaction-tianjin-langfang.json");
    assert_int_equal(b->nitems, 7);
    assert_int_equal(msgw_batch_count_ok(b), 7);
    assert_int_equal(b->errors.nerrors, 0);

    const msgw_record *r = ok_record(b, 0, "person_registration");
    assert_int_equal(r->npersons, 1);
    const msgw_person *p = &r->persons[0];
    assert_string_equal(p->id_number, "120104195803120016");
    assert_string_equal(p->name, "张伟");
    assert_string_equal(p->sex, "1");
    assert_int_equal(p->birth_date, ymd(1958, 3, 12));
    assert_string_equal(p->residence_region, "120104");
    assert_string_equal(r->loc, "/entry/0/resource");
    assert_null(r->source_message_id);
    assert_int_equal(r->nfacts, 1);
    assert_string_equal(r->facts[0].type, "residence");
    assert_string_equal(r->facts[0].subject, "120104195803120016");
    assert_int_equal(r->facts[0].valid_from, ymd(2001, 5, 1));
    assert_int_equal(r->facts[0].valid_to, MSGW_DATE_NONE);
    assert_string_equal(attr_s(&r->facts[0], "residence_region"), "120104");

    r = ok_record(b, 1, "death");
    assert_string_equal(r->persons[0].id_number, "120104195803120016");
    assert_string_equal(r->facts[0].type, "death");
    assert_int_equal(attr_d(&r->facts[0], "death_date"), ymd(2026, 9, 30));
    assert_string_equal(r->loc, "/entry/0/resource/deceasedDateTime");

    r = ok_record(b, 2, "person_registration");
    assert_string_equal(r->persons[0].id_number, "131002199607210025");
    assert_string_equal(r->persons[0].name, "李秀英");
    assert_string_equal(r->persons[0].sex, "2");
    assert_string_equal(r->persons[0].residence_region, "131002");

    r = ok_record(b, 3, "condition");
    assert_string_equal(r->facts[0].subject, "120104195803120016");
    assert_string_equal(attr_s(&r->facts[0], "condition_code"), "I10");
    assert_string_equal(attr_s(&r->facts[0], "condition_category"), "1");
    assert_string_equal(attr_s(&r->facts[0], "clinical_status"), "active");
    assert_int_equal(r->facts[0].valid_from, ymd(2015, 6, 1));
    assert_string_equal(r->persons[0].name, "张伟");

    r = ok_record(b, 4, "condition");
    assert_string_equal(attr_s(&r->facts[0], "condition_code"), "F20.0");
    assert_string_equal(attr_s(&r->facts[0], "condition_category"), "3");
    assert_string_equal(attr_s(&r->facts[0], "clinical_status"), "remission");
    assert_int_equal(r->facts[0].valid_from, ymd(2009, 4, 18));

    r = ok_record(b, 5, "observation");
    assert_string_equal(attr_s(&r->facts[0], "observation_code"), "8480-6");
    assert_string_equal(attr_s(&r->facts[0], "observation_value"), "152 mm[Hg]");
    assert_int_equal(r->facts[0].valid_from, ymd(2026, 8, 15));

    r = ok_record(b, 6, "pregnancy");
    assert_string_equal(r->facts[0].subject, "131002199607210025");
    assert_string_equal(attr_s(&r->facts[0], "pregnancy_status"), "1");
    assert_int_equal(attr_d(&r->facts[0], "expected_delivery_date"), ymd(2027, 2, 14));
    assert_int_equal(r->facts[0].valid_from, ymd(2026, 5, 10));

    assert_rule(b, "fhir.bundle.summary", "/", -1, "6 entries: 6 mapped, 0 rejected, 0 skipped");
    assert_rule(b, "fhir.element.skipped", "/entry/4/resource/category", -1, NULL);
    msgw_batch_destroy(&b);
}

static void test_collection_pregnancy_edd(void **state)
{
    msgw_batch *b = decode_file("tests/data/health/collection-pregnancy-edd.json");
    assert_int_equal(b->nitems, 4);
    assert_int_equal(msgw_batch_count_ok(b), 4);

    const msgw_record *r = ok_record(b, 0, "person_registration");
    const msgw_person *p = &r->persons[0];
    assert_string_equal(p->name, "马丽娜"); /* family + given without a space */
    assert_string_equal(p->ethnic, "03");
    assert_string_equal(p->marital, "20");
    assert_string_equal(p->hukou_region, "131082");
    assert_string_equal(p->residence_region, "120116");
    assert_int_equal(r->nfacts, 1); /* the hukou address is no residence */
    assert_int_equal(r->facts[0].valid_from, ymd(2024, 9, 1));

    /* Condition SNOMED 77386006 + Observation 11778-8 (which comes first) = one pregnancy */
    r = ok_record(b, 1, "pregnancy");
    assert_string_equal(r->loc, "/entry/2/resource");
    assert_string_equal(attr_s(&r->facts[0], "pregnancy_status"), "1");
    assert_int_equal(attr_d(&r->facts[0], "expected_delivery_date"), ymd(2026, 12, 5));
    assert_int_equal(r->facts[0].valid_from, ymd(2026, 3, 1));
    assert_rule(b, "fhir.observation.folded", "/entry/1/resource", -1, "11778-8");

    r = ok_record(b, 2, "observation");
    assert_string_equal(attr_s(&r->facts[0], "observation_value"), "62.5 kg");

    r = ok_record(b, 3, "condition");
    assert_string_equal(attr_s(&r->facts[0], "condition_code"), "A16.2");
    assert_string_equal(attr_s(&r->facts[0], "condition_category"), "4");
    assert_int_equal(r->facts[0].valid_from, MSGW_DATE_NONE); /* "2025-11": no day */
    assert_int_equal(r->facts[0].valid_to, ymd(2026, 5, 20));
    assert_rule(b, "fhir.date.partial", "/entry/4/resource/onsetDateTime", 3, "2025-11");
    msgw_batch_destroy(&b);
}

static void test_edge_cases(void **state)
{
    msgw_batch *b = decode_file("tests/data/health/collection-edge-cases.json");
    assert_int_equal(b->nitems, 10);
    assert_int_equal(msgw_batch_count_ok(b), 10);
    const msgw_record *r = ok_record(b, 0, "person_registration");
    const msgw_person *p = &r->persons[0];
    assert_string_equal(p->name, "王建国"); /* the official name, not the usual one listed first */
    assert_string_equal(p->marital, "90");
    assert_string_equal(p->hukou_type, "2");
    assert_string_equal(p->hukou_region, "120116");
    assert_string_equal(p->residence_region, "120116"); /* the first current address */
    assert_int_equal(r->nfacts, 4);
    assert_string_equal(attr_s(&r->facts[0], "residence_region"), "120101");
    assert_string_equal(attr_s(&r->facts[2], "residence_region"), "120104"); /* region-code extension */
    assert_int_equal(r->facts[3].valid_to, ymd(1999, 12, 31));

    r = ok_record(b, 2, "condition"); /* the msgw category coding wins over the derived one */
    assert_string_equal(attr_s(&r->facts[0], "condition_code"), "F31.1");
    assert_string_equal(attr_s(&r->facts[0], "condition_category"), "3");
    assert_int_equal(r->facts[0].valid_to, ymd(2012, 8, 9));
    r = ok_record(b, 3, "observation");
    assert_string_equal(attr_s(&r->facts[0], "observation_value"), "阴性");
    assert_int_equal(r->facts[0].valid_to, ymd(2022, 1, 6));
    r = ok_record(b, 4, "observation");
    assert_string_equal(attr_s(&r->facts[0], "observation_value"), "<0.5 mmol/L");
    r = ok_record(b, 5, "observation"); /* 11778-8 with no pregnancy of that person stays */
    assert_string_equal(attr_s(&r->facts[0], "observation_value"), "2023-09-09");

    r = ok_record(b, 7, "pregnancy"); /* Condition Z33, resolved: delivered */
    assert_string_equal(attr_s(&r->facts[0], "pregnancy_status"), "2");
    assert_int_equal(attr_d(&r->facts[0], "expected_delivery_date"), ymd(2024, 3, 2));
    r = ok_record(b, 8, "pregnancy"); /* EpisodeOfCare cancelled: terminated */
    assert_string_equal(attr_s(&r->facts[0], "pregnancy_status"), "3");
    r = ok_record(b, 9, "pregnancy"); /* the extension overrides "finished" */
    assert_string_equal(attr_s(&r->facts[0], "pregnancy_status"), "3");
    assert_null(r->persons[0].name);
    assert_rule(b, "fhir.resource.skipped", "/entry/9/resource", -1, "not of type pregnancy");
    msgw_batch_destroy(&b);
}

/* condition_category from schemas/codelists/icd10_category.json, at the range boundaries */
static void test_icd10_categories(void **state)
{
    static const struct {
        const char *icd, *category;
    } cases[] = {
        {"I10", "1"},   {"I15.0", "1"}, {"I16", "9"}, {"I09", "9"},   {"E11.9", "2"},
        {"E10", "9"},   {"F20.0", "3"}, {"F22", "3"}, {"F25.1", "3"}, {"F31.6", "3"},
        {"F06.8", "3"}, {"F70", "3"},   {"F79", "3"}, {"F32", "9"},   {"A15.0", "4"},
        {"A19.9", "4"}, {"A20", "9"},   {"J45", "9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char doc[1024];
        snprintf(doc, sizeof doc,
                 "{\"resourceType\":\"Condition\",\"code\":{\"coding\":[{\"system\":"
                 "\"http://hl7.org/fhir/sid/icd-10\",\"code\":\"%s\"}]},\"subject\":{"
                 "\"identifier\":{\"type\":{\"coding\":[{\"system\":"
                 "\"http://terminology.hl7.org/CodeSystem/v2-0203\",\"code\":\"NI\"}]},"
                 "\"value\":\"120104195803120016\"}}}",
                 cases[i].icd);
        msgw_batch *b = decode_text(doc);
        const msgw_record *r = ok_record(b, 0, "condition");
        if (strcmp(attr_s(&r->facts[0], "condition_category"), cases[i].category) != 0)
            fprintf(stderr, "%s: category %s, expected %s\n", cases[i].icd,
                    attr_s(&r->facts[0], "condition_category"), cases[i].category);
        assert_string_equal(attr_s(&r->facts[0], "condition_category"), cases[i].category);
        msgw_batch_destroy(&b);
    }
}

static void test_references(void **state)
{
    msgw_batch *b = decode_file("tests/data/health/batch-references.json");
    assert_int_equal(b->nitems, 4);

    const msgw_record *r = ok_record(b, 0, "condition"); /* contained Patient "#p1" */
    assert_string_equal(r->persons[0].id_number, "120104195803120016");
    assert_string_equal(r->persons[0].name, "张伟");
    assert_string_equal(attr_s(&r->facts[0], "condition_category"), "2");

    r = ok_record(b, 1, "observation"); /* logical identifier reference */
    assert_string_equal(r->persons[0].id_number, "131002199607210025");
    assert_null(r->persons[0].name);
    assert_string_equal(attr_s(&r->facts[0], "observation_value"), "6.8 %");

    assert_null(b->items[2].record);
    assert_rule(b, "fhir.subject.unresolved", "/entry/2/resource/subject/reference", 2, "Patient/999");
    assert_null(b->items[3].record);
    assert_rule(b, "fhir.subject.not_patient", "/entry/3/resource/subject/reference", 3, "Group/ward-3");
    assert_rule(b, "fhir.entry.delete", "/entry/4", -1, NULL);
    assert_rule(b, "fhir.resource.skipped", "/entry/5/resource", -1,
                "MedicationRequest skipped: msgw maps Patient, Condition, Observation, EpisodeOfCare");
    assert_rule(b, "fhir.bundle.summary", "/", -1, "2 mapped, 2 rejected, 2 skipped");
    msgw_batch_destroy(&b);
}

static void test_configured_identifier_system(void **state)
{
    msgw_batch *b = decode_file("tests/data/health/patient-configured-system.json");
    assert_null(b->items[0].record);
    assert_rule(b, "fhir.patient.no_resident_id", "/identifier", 0, "configure it as fhir_id_system");
    msgw_batch_destroy(&b);

    msgw_adapter_ctx *ctx = tu_ctx();
    ctx->fhir_id_system = "urn:oid:2.16.156.10011.1.1";
    b = decode_file("tests/data/health/patient-configured-system.json");
    ctx->fhir_id_system = NULL;
    const msgw_record *r = ok_record(b, 0, "person_registration");
    assert_string_equal(r->persons[0].id_number, "120116197511020130");
    assert_string_equal(r->persons[0].name, "王建国");
    assert_string_equal(r->loc, "/");
    msgw_batch_destroy(&b);
}

/* ---- the real HL7 examples, as they are -------------------------------- */

static void test_hl7_patient_example(void **state)
{
    msgw_batch *b = decode_file("tests/data/health/examples/patient-example.json");
    assert_int_equal(b->nitems, 1);
    assert_null(b->items[0].record);
    assert_rule(b, "fhir.patient.no_resident_id", "/identifier", 0,
                "Patient/example has no identifier of type NI");
    assert_rule(b, "fhir.patient.no_resident_id", "/identifier", 0,
                "msgw keys persons by the resident ID number (GB 11643) and will not guess one "
                "from MR 12345");
    assert_rule(b, "fhir.address.region", "/address/0/district", 0, "Rainbow");
    assert_rule(b, "fhir.element.skipped", "/telecom", -1, NULL);
    msgw_batch_destroy(&b);
}

static void test_hl7_condition_and_observation_examples(void **state)
{
    msgw_batch *b = decode_file("tests/data/health/examples/condition-example.json");
    assert_int_equal(b->nitems, 1);
    assert_null(b->items[0].record);
    assert_rule(b, "fhir.subject.unresolved", "/subject/reference", 0, "Patient/example");
    assert_rule(b, "fhir.condition.no_icd10", "/code", 0, "39065001 'Burn of ear'");
    msgw_batch_destroy(&b);

    b = decode_file("tests/data/health/examples/observation-example.json");
    assert_int_equal(b->nitems, 1);
    assert_null(b->items[0].record);
    assert_rule(b, "fhir.subject.unresolved", "/subject/reference", 0, NULL);
    msgw_batch_destroy(&b);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_hl7_bundle_small(void **state)
{
    size_t len;
    char *buf = tu_read_file("tests/data/health/examples/bundle-small.json", &len);
    tu_ctx();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    msgw_batch *b = tu_decode("health", FHIR, buf, len);
    double secs = seconds_since(&t0);
    fprintf(stderr, "bundle-small.json (%zu bytes, 435 entries): decoded in %.1f ms\n", len,
            secs * 1e3);
    assert_true(secs < 2.0); /* sanitizer build; a release build takes a fraction of this */

    /* 1 Patient + 4 Conditions + 340 Observations; the other 90 resources skipped */
    assert_int_equal(b->nitems, 345);
    assert_int_equal(msgw_batch_count_ok(b), 0);
    assert_rule(b, "fhir.patient.no_resident_id", "/entry/0/resource/identifier", 0,
                "will not guess one from identifier 10019917");
    assert_rule(b, "fhir.subject.unkeyable", "/entry/1/resource/subject/reference", 1,
                "cannot be keyed to a person because it has no resident ID number");
    assert_rule(b, "fhir.condition.no_icd10", "/entry/1/resource/code", 1, "diagnosis-icd9 53240");
    assert_rule(b, "fhir.resource.skipped", "/entry/17/resource", -1,
                "MedicationRequest skipped: msgw maps Patient, Condition, Observation, EpisodeOfCare");
    assert_rule(b, "fhir.observation.no_loinc", "/entry/85/resource/code", 5,
                "d-labitems 51222 'Hemoglobin'");
    const msgw_error *sum = find_rule(b, "fhir.bundle.summary");
    assert_non_null(sum);
    assert_non_null(strstr(sum->message, "Bundle searchset of 435 entries: 0 mapped, 345 rejected, "
                                         "90 skipped"));
    assert_non_null(strstr(sum->message, "MedicationAdministration 27"));
    assert_rule(b, "fhir.element.skipped", "/entry/85/resource/referenceRange", -1,
                "88 occurrences");
    msgw_batch_destroy(&b);
    free(buf);
}

/* ---- errors, limits, hostile input ------------------------------------ */

static void test_record_errors(void **state)
{
    msgw_batch *b = decode_file("tests/data/health/invalid/bad-check-character.json");
    assert_rule(b, "gb11643.check_character", "/identifier/0/value", 0, "should be 6, found 7");
    assert_null(b->items[0].record);
    msgw_batch_destroy(&b);

    b = decode_file("tests/data/health/invalid/bad-gender.json");
    assert_rule(b, "fhir.patient.gender", "/gender", 0, "'M'");
    msgw_batch_destroy(&b);

    b = decode_file("tests/data/health/agree/bad/birthdate-impossible.json");
    assert_rule(b, "date.calendar", "/birthDate", 0, NULL);
    msgw_batch_destroy(&b);

    b = decode_file("tests/data/health/agree/bad/missing-resourcetype.json");
    assert_non_null(b->items[0].record);
    assert_null(b->items[1].record);
    assert_rule(b, "fhir.resource.type", "/entry/1/resource", 1, NULL);
    msgw_batch_destroy(&b);

    b = decode_file("tests/data/health/agree/bad/gender-not-string.json");
    assert_rule(b, "fhir.type", "/gender", 0, "must be a string");
    msgw_batch_destroy(&b);

    b = decode_file("tests/data/health/invalid/icd9-only-condition.json");
    assert_int_equal(b->nitems, 2);
    assert_non_null(b->items[0].record);
    assert_rule(b, "fhir.condition.no_icd10", "/entry/1/resource/code", 1, "icd-9-cm 401.9");
    assert_rule(b, "fhir.condition.refuted", "/entry/2/resource/verificationStatus", -1, "refuted");
    msgw_batch_destroy(&b);
}

static void test_rejected_patient_rejects_dependents(void **state)
{
    const char *doc =
        "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
        "{\"fullUrl\":\"urn:uuid:1\",\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{"
        "\"type\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v2-0203\","
        "\"code\":\"NI\"}]},\"value\":\"120104195803120016\"}],\"gender\":\"x\"}},"
        "{\"resource\":{\"resourceType\":\"Condition\",\"code\":{\"coding\":[{\"system\":"
        "\"http://hl7.org/fhir/sid/icd-10\",\"code\":\"I10\"}]},\"subject\":{\"reference\":"
        "\"urn:uuid:1\"}}}]}";
    msgw_batch *b = decode_text(doc);
    assert_int_equal(b->nitems, 2);
    assert_null(b->items[1].record);
    assert_rule(b, "fhir.subject.rejected", "/entry/1/resource/subject/reference", 1,
                "which was rejected (see /entry/0/resource)");
    msgw_batch_destroy(&b);
}

/* A Patient entry: fullUrl (NULL: none), id, resident ID number. */
#define PATIENT_ENTRY(url, id, idn)                                                                 \
    "{" url "\"resource\":{\"resourceType\":\"Patient\",\"id\":\"" id "\",\"identifier\":[{"        \
    "\"type\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v2-0203\","        \
    "\"code\":\"NI\"}]},\"value\":\"" idn "\"}]}}"
#define CONDITION_ENTRY(url, ref)                                                                   \
    "{" url "\"resource\":{\"resourceType\":\"Condition\",\"code\":{\"coding\":[{\"system\":"   \
    "\"http://hl7.org/fhir/sid/icd-10\",\"code\":\"I10\"}]},\"subject\":{\"reference\":\"" ref     \
    "\"}}}"
#define BUNDLE(entries) "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[" entries "]}"

/*
 * References resolved as FHIR R4 resolves them in a Bundle: two Patients "example" under two
 * service bases; a relative reference from an entry with a RESTful fullUrl names the one under its
 * own base, one from an entry without a RESTful fullUrl names both and is refused; an absolute one
 * names its entry, version-specific or not.
 */
static void test_reference_bases(void **state)
{
    const char *doc = BUNDLE(
        PATIENT_ENTRY("\"fullUrl\":\"http://a.example/fhir/Patient/example\",", "example", "120104195803120016") ","
        PATIENT_ENTRY("\"fullUrl\":\"http://b.example/fhir/Patient/example\",", "example", "131002199607210025") ","
        CONDITION_ENTRY("\"fullUrl\":\"http://b.example/fhir/Condition/c1\",", "Patient/example") ","
        CONDITION_ENTRY("\"fullUrl\":\"urn:uuid:8f0c5a1e-0000-4000-8000-000000000001\",", "Patient/example") ","
        CONDITION_ENTRY("", "http://a.example/fhir/Patient/example/_history/3"));
    msgw_batch *b = decode_text(doc);
    assert_int_equal(b->nitems, 5);
    const msgw_record *r = ok_record(b, 2, "condition"); /* relative to http://b.example/fhir */
    assert_string_equal(r->persons[0].id_number, "131002199607210025");
    assert_null(b->items[3].record);
    assert_rule(b, "fhir.subject.ambiguous", "/entry/3/resource/subject/reference", 3, "several entries");
    r = ok_record(b, 4, "condition");
    assert_string_equal(r->persons[0].id_number, "120104195803120016");
    msgw_batch_destroy(&b);

    /* one Patient with that id: a relative reference from a urn entry names it */
    doc = BUNDLE(PATIENT_ENTRY("\"fullUrl\":\"urn:uuid:8f0c5a1e-0000-4000-8000-000000000002\",", "p7",
                               "120104195803120016") ","
                 CONDITION_ENTRY("", "Patient/p7"));
    b = decode_text(doc);
    assert_string_equal(ok_record(b, 1, "condition")->persons[0].id_number, "120104195803120016");
    msgw_batch_destroy(&b);
}

/* bdl-7: two entries with one fullUrl (and no different meta.versionId) make the Bundle refused. */
static void test_bundle_bdl7(void **state)
{
    const char *doc = BUNDLE(
        PATIENT_ENTRY("\"fullUrl\":\"urn:uuid:8f0c5a1e-0000-4000-8000-000000000003\",", "p1", "120104195803120016") ","
        PATIENT_ENTRY("\"fullUrl\":\"urn:uuid:8f0c5a1e-0000-4000-8000-000000000003\",", "p2", "131002199607210025") ","
        CONDITION_ENTRY("", "urn:uuid:8f0c5a1e-0000-4000-8000-000000000003"));
    msgw_batch *b = decode_text(doc);
    assert_int_equal(msgw_batch_count_ok(b), 0);
    assert_rule(b, "fhir.bundle.bdl-7", "/entry/1/fullUrl", -1, "entries 0 and 1 have the same fullUrl");
    msgw_batch_destroy(&b);
}

static void test_document_errors(void **state)
{
    static const struct {
        const char *file, *rule, *loc;
    } cases[] = {
        {"tests/data/health/invalid/duplicate-key.json", "fhir.json.duplicate_key",
         "line 5, column 11 (byte 209)"},
        {"tests/data/health/invalid/invalid-utf8.json", "fhir.json.utf8",
         "line 3, column 22 (byte 52)"},
        {"tests/data/health/invalid/number-overflow.json", "fhir.json.number_range", NULL},
        {"tests/data/health/invalid/truncated.json", "fhir.json.syntax", NULL},
        {"tests/data/health/invalid/history-bundle.json", "fhir.bundle.type", "/type"},
        {"tests/data/health/invalid/not-a-resource.json", "fhir.document.not_resource", "/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        msgw_batch *b = decode_file(cases[i].file);
        assert_int_equal(b->nitems, 0);
        assert_rule(b, cases[i].rule, cases[i].loc, -1, NULL);
        msgw_batch_destroy(&b);
    }
}

static void test_limits(void **state)
{
    /* size: refused before parsing, by the adapter itself as well as the pipeline */
    msgw_adapter_ctx ctx = *tu_ctx();
    ctx.max_document_bytes = 100;
    size_t len;
    char *buf = tu_read_file("tests/data/health/transaction-tianjin-langfang.json", &len);
    msgw_batch *b = msgw_batch_new();
    health()->decode(&ctx, FHIR, buf, len, b);
    assert_int_equal(b->nitems, 0);
    assert_rule(b, "fhir.document.too_large", NULL, -1, "the limit is 100");
    msgw_batch_destroy(&b);

    /* records per document */
    ctx = *tu_ctx();
    ctx.max_records = 3;
    b = msgw_batch_new();
    health()->decode(&ctx, FHIR, buf, len, b);
    assert_int_equal(b->nitems, 3);
    assert_rule(b, "fhir.document.too_many_records", NULL, -1, "more than 3 records");
    msgw_batch_destroy(&b);
    free(buf);

    /* depth: 100000 nested arrays are refused before jansson sees them */
    size_t n = 100000;
    char *deep = malloc(2 * n + 64);
    strcpy(deep, "{\"resourceType\":\"Patient\",\"x\":");
    size_t k = strlen(deep);
    memset(deep + k, '[', n);
    memset(deep + k + n, ']', n);
    strcpy(deep + k + 2 * n, "}");
    b = decode_text(deep);
    assert_int_equal(b->nitems, 0);
    assert_rule(b, "fhir.json.too_deep", NULL, -1, "deeper than 32 levels");
    msgw_batch_destroy(&b);
    free(deep);
}

static void test_media_type(void **state)
{
    msgw_batch *b = tu_decode("health", "application/xml", "{}", 2);
    assert_rule(b, "fhir.media_type", NULL, -1, "application/xml");
    msgw_batch_destroy(&b);
    b = tu_decode("health", "application/json+fhir; charset=utf-8",
                  "{\"resourceType\":\"Basic\"}", 24);
    assert_int_equal(b->nitems, 0);
    assert_int_equal(b->errors.nerrors, 0);
    assert_rule(b, "fhir.resource.skipped", "/", -1, "Basic skipped");
    msgw_batch_destroy(&b);
    /* a legacy GB18030 document is read when the media type says so, refused otherwise */
    size_t len;
    char *gb = tu_read_file("tests/data/health/patient-gb18030.json", &len);
    b = tu_decode("health", "application/fhir+json; charset=GB18030", gb, len);
    assert_string_equal(ok_record(b, 0, "person_registration")->persons[0].name, "李秀英");
    msgw_batch_destroy(&b);
    b = tu_decode("health", FHIR, gb, len);
    assert_rule(b, "fhir.json.utf8", "line 18, column 16 (byte 310)", -1, "charset=GB18030");
    msgw_batch_destroy(&b);
    free(gb);
    /* a UTF-8 byte order mark is tolerated */
    b = decode_text("\xEF\xBB\xBF{\"resourceType\":\"Basic\"}");
    assert_int_equal(b->errors.nerrors, 0);
    msgw_batch_destroy(&b);
    assert_ptr_equal(msgw_adapter_find("fhir"), health());
    assert_ptr_equal(msgw_adapter_find("weijian"), health());
}

/* ---- encode and round trip -------------------------------------------- */

static void round_trip(const char *rel, size_t expect_records)
{
    msgw_batch *b1 = decode_file(rel);
    const msgw_record **recs = calloc(b1->nitems + 1, sizeof *recs);
    size_t n = 0;
    for (size_t i = 0; i < b1->nitems; i++)
        if (b1->items[i].record) recs[n++] = b1->items[i].record;
    assert_int_equal(n, expect_records);

    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_true(health()->encode(tu_ctx(), FHIR, recs, n, &out, &e));
    assert_int_equal(e.nerrors, 0);
    msgw_batch *b2 = decode_text(out.data);
    if (msgw_batch_count_ok(b2) != n) {
        fprintf(stderr, "%s\n", out.data);
        tu_dump_errors(b2);
    }
    assert_int_equal(b2->nitems, n);
    assert_int_equal(msgw_batch_count_ok(b2), n);
    for (size_t i = 0; i < n; i++) {
        if (!msgw_record_equal(recs[i], b2->items[i].record)) fprintf(stderr, "%s\n", out.data);
        assert_true(msgw_record_equal(recs[i], b2->items[i].record));
    }
    assert_non_null(strstr(out.data, "\"type\": \"transaction\""));
    msgw_errors_clear(&e);
    msgw_buf_free(&out);
    msgw_batch_destroy(&b2);
    msgw_batch_destroy(&b1);
    free(recs);
}

static void test_round_trip(void **state)
{
    round_trip("tests/data/health/transaction-tianjin-langfang.json", 7);
    round_trip("tests/data/health/collection-pregnancy-edd.json", 4);
    round_trip("tests/data/health/batch-references.json", 2);
    round_trip("tests/data/health/collection-edge-cases.json", 10);
}

static void test_encode_shape(void **state)
{
    msgw_batch *b = decode_file("tests/data/health/transaction-tianjin-langfang.json");
    const msgw_record *recs[7];
    for (size_t i = 0; i < 7; i++) recs[i] = b->items[i].record;
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_true(health()->encode(tu_ctx(), NULL, recs, 7, &out, &e));
    /* one Patient per person, the death folded into it; references by urn:uuid */
    const char *s = out.data;
    size_t patients = 0;
    for (const char *q = s; (q = strstr(q, "\"resourceType\": \"Patient\"")); q++) patients++;
    assert_int_equal(patients, 2);
    assert_non_null(strstr(s, "\"deceasedDateTime\": \"2026-09-30\""));
    assert_non_null(strstr(s, "\"code\": \"NI\""));
    assert_non_null(strstr(s, "\"reference\": \"urn:uuid:6d736777-0000-4000-8000-000000000001\""));
    assert_non_null(strstr(s, "\"system\": \"http://hl7.org/fhir/sid/icd-10\""));
    assert_non_null(strstr(s, "\"resourceType\": \"EpisodeOfCare\""));
    assert_non_null(strstr(s, "\"valueDate\": \"2027-02-14\""));
    msgw_errors_clear(&e);
    msgw_buf_free(&out);
    msgw_batch_destroy(&b);
}

static void test_encode_refuses_other_kinds(void **state)
{
    msgw_record r = {.kind = "household_assistance_roster", .loc = "rec"};
    const msgw_record *recs[] = {&r};
    msgw_buf out;
    msgw_buf_init(&out);
    msgw_errors e;
    msgw_errors_init(&e);
    assert_false(health()->encode(tu_ctx(), FHIR, recs, 1, &out, &e));
    assert_int_equal(e.nerrors, 1);
    assert_string_equal(e.v[0].rule, "fhir.encode.kind");
    assert_int_equal(e.v[0].record, 0);
    assert_non_null(strstr(e.v[0].message, "household_assistance_roster"));
    assert_false(health()->encode(tu_ctx(), "text/csv", recs, 1, &out, &e));
    msgw_errors_clear(&e);
    msgw_buf_free(&out);
}

static int teardown_all(void **state)
{
    tu_ctx_free();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transaction_sample),
        cmocka_unit_test(test_collection_pregnancy_edd),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_icd10_categories),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_reference_bases),
        cmocka_unit_test(test_bundle_bdl7),
        cmocka_unit_test(test_configured_identifier_system),
        cmocka_unit_test(test_hl7_patient_example),
        cmocka_unit_test(test_hl7_condition_and_observation_examples),
        cmocka_unit_test(test_hl7_bundle_small),
        cmocka_unit_test(test_record_errors),
        cmocka_unit_test(test_rejected_patient_rejects_dependents),
        cmocka_unit_test(test_document_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_media_type),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encode_shape),
        cmocka_unit_test(test_encode_refuses_other_kinds),
    };
    return cmocka_run_group_tests_name("health", tests, NULL, teardown_all);
}
